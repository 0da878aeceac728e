/// The top-k heavy hitters of a stream: a Count-Min sketch for the frequencies plus the k keys with
/// the largest estimates seen so far, kept in a min-heap keyed by estimate with an open-addressing
/// key → entry table (probed by the key's hash, so updating a tracked key does not allocate; a key
/// entering the top k is copied once).
///
/// - Error bound: each reported estimate is the Count-Min estimate (≥ truth, ≤ truth + ε·N with
///   probability ≥ 1 − δ). A key whose true count exceeds the k-th largest estimate by more than
///   ε·N is reported (with the same probability); keys are admitted on arrival, so a key is
///   missed only if its count when last seen did not beat the heap's minimum.
/// - Complexity: `add` is O(d + log k) (d the sketch depth); `top` is O(k log k + k·d);
///   `merge` is O(w·d + k log k).
public struct HeavyHitters: Sendable {
    /// One tracked key and its current estimate.
    public struct Item: Sendable, Equatable {
        public var key: [UInt8]
        public var estimate: UInt64
        /// The key decoded as UTF-8 (invalid sequences replaced).
        public var string: String { String(decoding: key, as: UTF8.self) }
    }

    /// k: how many keys are tracked.
    public let capacity: Int
    /// The frequency sketch (every key's count, tracked or not).
    public private(set) var sketch: CountMinSketch

    // Entries by id.
    var keys: [[UInt8]] = []
    var hashes: [UInt64] = []
    var estimates: [UInt64] = []
    var heapPosition: [Int] = []
    /// Entry ids in min-heap order of `estimates`.
    var heap: [Int] = []
    /// Open addressing on the key hash: entry id, or −1 for an empty slot.
    var table: [Int32] = [Int32](repeating: -1, count: 8)

    /// Tracks the `capacity` (1…1,048,576) most frequent keys with a Count-Min sketch of error
    /// ε·N and failure probability δ.
    public init(capacity: Int, epsilon: Double = 0.001, delta: Double = 0.001, seed: UInt64 = 0) {
        self.init(capacity: capacity, sketch: CountMinSketch(epsilon: epsilon, delta: delta, seed: seed))
    }

    /// Tracks the `capacity` most frequent keys counted by `sketch` (which should be empty).
    public init(capacity: Int, sketch: CountMinSketch) {
        precondition((1...(1 << 20)).contains(capacity), "capacity must be in 1…1,048,576")
        self.capacity = capacity
        self.sketch = sketch
    }

    /// The number of keys tracked (≤ k).
    public var count: Int { heap.count }

    /// Adds `count` occurrences of the key with these bytes.
    ///
    /// - Complexity: O(d + log k); allocates only when the key enters the top k.
    public mutating func add(_ key: UnsafeRawBufferPointer, count: UInt64 = 1) {
        let h = sketch.hasher.hash(key)
        sketch.add(hash: h, count: count)
        let estimate = sketch.estimate(hash: h)
        if let id = find(key, hash: h) {
            estimates[id] = estimate
            siftDown(heapPosition[id])
        } else if heap.count < capacity {
            let id = keys.count
            keys.append(Array(key))
            hashes.append(h)
            estimates.append(estimate)
            heapPosition.append(heap.count)
            heap.append(id)
            insertInTable(id)
            siftUp(heap.count - 1)
        } else if estimate > estimates[heap[0]] {
            let id = heap[0]
            removeFromTable(id)
            keys[id] = Array(key)
            hashes[id] = h
            estimates[id] = estimate
            insertInTable(id)
            siftDown(0)
        }
    }

    /// Adds `count` occurrences of a string key (by its UTF-8 bytes).
    public mutating func add(_ key: String, count: UInt64 = 1) {
        var key = key
        key.withUTF8 { add(UnsafeRawBufferPointer($0), count: count) }
    }

    /// Adds `count` occurrences of a byte-array key.
    public mutating func add(_ key: [UInt8], count: UInt64 = 1) {
        key.withUnsafeBytes { add($0, count: count) }
    }

    /// The tracked keys with their current estimates, largest first (ties by key bytes).
    ///
    /// - Complexity: O(k·d + k log k).
    public var top: [Item] {
        var items = heap.map { Item(key: keys[$0], estimate: sketch.estimate(hash: hashes[$0])) }
        items.sort { $0.estimate != $1.estimate ? $0.estimate > $1.estimate : $0.key.lexicographicallyPrecedes($1.key) }
        return items
    }

    // MARK: Table and heap

    func find(_ key: UnsafeRawBufferPointer, hash h: UInt64) -> Int? {
        let mask = table.count - 1
        var slot = Int(truncatingIfNeeded: h) & mask
        while true {
            let id = Int(table[slot])
            if id < 0 { return nil }
            if hashes[id] == h && keys[id].withUnsafeBytes({ $0.elementsEqual(key) }) { return id }
            slot = (slot + 1) & mask
        }
    }

    mutating func insertInTable(_ id: Int) {
        if 2 * (heap.count + 1) > table.count {
            table = [Int32](repeating: -1, count: table.count * 2)
            for other in heap where other != id { place(other) }
        }
        place(id)
    }

    private mutating func place(_ id: Int) {
        let mask = table.count - 1
        var slot = Int(truncatingIfNeeded: hashes[id]) & mask
        while table[slot] >= 0 { slot = (slot + 1) & mask }
        table[slot] = Int32(id)
    }

    /// Removes `id` by backward-shift deletion (no tombstones).
    mutating func removeFromTable(_ id: Int) {
        let mask = table.count - 1
        var i = Int(truncatingIfNeeded: hashes[id]) & mask
        while Int(table[i]) != id { i = (i + 1) & mask }
        var j = i
        while true {
            j = (j + 1) & mask
            let other = Int(table[j])
            if other < 0 { break }
            let ideal = Int(truncatingIfNeeded: hashes[other]) & mask
            if (j - ideal) & mask >= (j - i) & mask {
                table[i] = table[j]
                i = j
            }
        }
        table[i] = -1
    }

    private mutating func swapHeap(_ a: Int, _ b: Int) {
        heap.swapAt(a, b)
        heapPosition[heap[a]] = a
        heapPosition[heap[b]] = b
    }

    private mutating func siftUp(_ position: Int) {
        var i = position
        while i > 0 {
            let parent = (i - 1) / 2
            guard estimates[heap[i]] < estimates[heap[parent]] else { return }
            swapHeap(i, parent)
            i = parent
        }
    }

    private mutating func siftDown(_ position: Int) {
        var i = position
        while true {
            let l = 2 * i + 1, r = l + 1
            var least = i
            if l < heap.count && estimates[heap[l]] < estimates[heap[least]] { least = l }
            if r < heap.count && estimates[heap[r]] < estimates[heap[least]] { least = r }
            if least == i { return }
            swapHeap(i, least)
            i = least
        }
    }

    private mutating func rebuild(from items: [Item]) {
        keys = []; hashes = []; estimates = []; heapPosition = []; heap = []
        table = [Int32](repeating: -1, count: 8)
        for item in items.prefix(capacity) {
            let id = keys.count
            keys.append(item.key)
            hashes.append(sketch.hasher.hash(item.key))
            estimates.append(item.estimate)
            heapPosition.append(heap.count)
            heap.append(id)
            insertInTable(id)
            siftUp(heap.count - 1)
        }
    }

    // MARK: Merge and serialization

    /// Merges the sketches and keeps the k keys of both with the largest merged estimates.
    ///
    /// - Throws: `.incompatible` when the capacities, sketch dimensions or seeds differ;
    ///   `.overflow` when the total would overflow.
    /// - Complexity: O(w·d + k·d + k log k).
    public mutating func merge(_ other: HeavyHitters) throws(SketchError) {
        guard capacity == other.capacity else {
            throw SketchError(.incompatible, "cannot merge heavy hitters of capacity \(capacity) and \(other.capacity)")
        }
        try sketch.merge(other.sketch)
        var candidates: [Item] = []
        var seen = Set<[UInt8]>()
        for id in heap where seen.insert(keys[id]).inserted { candidates.append(Item(key: keys[id], estimate: 0)) }
        for id in other.heap where seen.insert(other.keys[id]).inserted { candidates.append(Item(key: other.keys[id], estimate: 0)) }
        for i in candidates.indices { candidates[i].estimate = sketch.estimate(hash: sketch.hasher.hash(candidates[i].key)) }
        candidates.sort { $0.estimate != $1.estimate ? $0.estimate > $1.estimate : $0.key.lexicographicallyPrecedes($1.key) }
        rebuild(from: candidates)
    }

    /// The state in the versioned little-endian format: magic 'V', type 4, version 1, k (varint),
    /// the Count-Min sketch's fields (as in its own format after the header), the key count
    /// (varint), then each key as a varint length and its bytes. Estimates are not stored: they
    /// are read back from the sketch.
    public func serialized() -> [UInt8] {
        var w = ByteWriter(type: .heavyHitters, capacity: 32 + 8 * sketch.counters.count + keys.reduce(0) { $0 + 2 + $1.count })
        w.varint(UInt64(capacity))
        sketch.encode(into: &w)
        w.varint(UInt64(heap.count))
        for id in heap {
            w.varint(UInt64(keys[id].count))
            w.append(keys[id])
        }
        return w.bytes
    }

    /// Decodes `serialized()` output, validating the capacity, the sketch, the key count (≤ k)
    /// and lengths, and that no key repeats.
    ///
    /// - Throws: `SketchError` for truncated, mistyped or inconsistent bytes.
    public init(serialized bytes: UnsafeRawBufferPointer) throws(SketchError) {
        var r = ByteReader(bytes)
        _ = try r.header(.heavyHitters)
        let k = try r.count(max: 1 << 20, "heavy-hitter capacity")
        guard k >= 1 else { throw SketchError(.invalidParameter, "heavy-hitter capacity must be at least 1") }
        let sketch = try CountMinSketch(reading: &r)
        self.init(capacity: k, sketch: sketch)
        let n = try r.count(max: min(k, r.remaining), "heavy-hitter key count")
        var items: [Item] = []
        items.reserveCapacity(n)
        var seen = Set<[UInt8]>()
        for _ in 0..<n {
            let length = try r.count(max: r.remaining, "heavy-hitter key length")
            let key = Array(try r.take(length))
            guard seen.insert(key).inserted else { throw SketchError(.invalidParameter, "a heavy-hitter key repeats") }
            items.append(Item(key: key, estimate: sketch.estimate(hash: sketch.hasher.hash(key))))
        }
        try r.end()
        rebuild(from: items)
    }

    /// Decodes `serialized()` output from any byte collection.
    public init(serialized bytes: some Collection<UInt8>) throws(SketchError) {
        self = try withContiguousBytes(bytes) { raw throws(SketchError) in try HeavyHitters(serialized: raw) }
    }
}
