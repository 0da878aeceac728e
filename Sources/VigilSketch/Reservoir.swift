/// An element a `ReservoirSample` can serialize: it writes itself as bytes and reads itself back,
/// throwing on malformed input.
public protocol SketchElement {
    /// Appends the element's bytes.
    func append(to bytes: inout [UInt8])
    /// Reads one element from the front of `bytes`, returning it and how many bytes it took.
    static func read(from bytes: UnsafeRawBufferPointer) throws(SketchError) -> (Self, Int)
}

extension SketchElement {
    static func varint(_ v: Int, into bytes: inout [UInt8]) {
        var v = UInt64(v)
        while v >= 0x80 { bytes.append(UInt8(truncatingIfNeeded: v) | 0x80); v >>= 7 }
        bytes.append(UInt8(v))
    }

    static func lengthPrefixed(_ bytes: UnsafeRawBufferPointer) throws(SketchError) -> (UnsafeRawBufferPointer, Int) {
        var r = ByteReader(bytes)
        let n = try r.count(max: r.remaining, "element length")
        let body = try r.take(n)
        return (body, r.offset)
    }
}

extension Array: SketchElement where Element == UInt8 {
    public func append(to bytes: inout [UInt8]) {
        Self.varint(count, into: &bytes)
        bytes.append(contentsOf: self)
    }

    public static func read(from bytes: UnsafeRawBufferPointer) throws(SketchError) -> ([UInt8], Int) {
        let (body, used) = try lengthPrefixed(bytes)
        return (Array(body), used)
    }
}

extension String: SketchElement {
    public func append(to bytes: inout [UInt8]) {
        Self.varint(utf8.count, into: &bytes)
        bytes.append(contentsOf: utf8)
    }

    public static func read(from bytes: UnsafeRawBufferPointer) throws(SketchError) -> (String, Int) {
        let (body, used) = try lengthPrefixed(bytes)
        return (String(decoding: body, as: UTF8.self), used)
    }
}

extension UInt64: SketchElement {
    public func append(to bytes: inout [UInt8]) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: self >> (8 * UInt64(i)))) }
    }

    public static func read(from bytes: UnsafeRawBufferPointer) throws(SketchError) -> (UInt64, Int) {
        var r = ByteReader(bytes)
        return (try r.u64(), 8)
    }
}

extension Double: SketchElement {
    public func append(to bytes: inout [UInt8]) { bitPattern.append(to: &bytes) }

    public static func read(from bytes: UnsafeRawBufferPointer) throws(SketchError) -> (Double, Int) {
        let (bits, used) = try UInt64.read(from: bytes)
        return (Double(bitPattern: bits), used)
    }
}

/// A uniform random sample of k elements from a stream of unknown length (Vitter's Algorithm R),
/// with a seedable generator (`SketchRandom`), so a run is reproducible.
///
/// - Error bound: exact: after n elements, each subset of min(k, n) of them is equally likely to
///   be the sample (each element is in it with probability k/n).
/// - Complexity: `add` is O(1) (one random number once the reservoir is full); `merge` is O(k).
///   Memory: k elements.
public struct ReservoirSample<Element>: Sendable where Element: Sendable {
    /// k: the sample size.
    public let capacity: Int
    /// n: the number of elements offered so far.
    public private(set) var seen: UInt64 = 0
    /// The sample: min(k, n) elements, in no meaningful order.
    public private(set) var elements: [Element] = []
    var random: SketchRandom

    /// An empty reservoir of `capacity` elements (≥ 1) whose choices follow `seed`.
    public init(capacity: Int, seed: UInt64 = 0) {
        precondition(capacity >= 1, "capacity must be at least 1")
        self.capacity = capacity
        self.random = SketchRandom(seed: seed)
    }

    /// Offers one element: kept with probability k/n, replacing a uniformly chosen one. (A
    /// reservoir that has seen 2^64 − 1 elements ignores further ones.)
    ///
    /// - Complexity: O(1).
    public mutating func add(_ element: Element) {
        guard seen < .max else { return }
        seen += 1
        if elements.count < capacity {
            elements.append(element)
        } else {
            let j = random.next(below: seen)
            if j < UInt64(capacity) { elements[Int(j)] = element }
        }
    }

    /// Combines with the sample of another stream: the result is a uniform sample of k elements of
    /// the union of both streams. Each slot is drawn from this reservoir with probability
    /// (elements of this stream not yet drawn)/(elements of both not yet drawn), without
    /// replacement, so the number taken from each side follows the hypergeometric law of a
    /// uniform sample of the union.
    ///
    /// - Throws: `.incompatible` when the capacities differ; `.overflow` when the combined count
    ///   would exceed 2^64 − 1.
    /// - Complexity: O(k).
    public mutating func merge(_ other: ReservoirSample<Element>) throws(SketchError) {
        guard capacity == other.capacity else {
            throw SketchError(.incompatible, "cannot merge reservoirs of capacity \(capacity) and \(other.capacity)")
        }
        let (total, overflow) = seen.addingReportingOverflow(other.seen)
        guard !overflow else { throw SketchError(.overflow, "the merged count would exceed 2^64 − 1") }
        var a = elements, b = other.elements
        var restA = seen, restB = other.seen
        var takenA = 0, takenB = 0
        var merged: [Element] = []
        let size = Int(Swift.min(UInt64(capacity), total))
        merged.reserveCapacity(size)
        while merged.count < size {
            if random.next(below: restA + restB) < restA {
                // A uniformly chosen element of this sample not drawn yet (partial Fisher–Yates).
                let j = takenA + Int(random.next(below: UInt64(a.count - takenA)))
                a.swapAt(takenA, j)
                merged.append(a[takenA])
                takenA += 1
                restA -= 1
            } else {
                let j = takenB + Int(random.next(below: UInt64(b.count - takenB)))
                b.swapAt(takenB, j)
                merged.append(b[takenB])
                takenB += 1
                restB -= 1
            }
        }
        elements = merged
        seen = total
    }
}

extension ReservoirSample where Element: SketchElement {
    /// The reservoir in the versioned little-endian format: magic 'V', type 6, version 1, k
    /// (varint), n (8), the generator state (4 × 8), the element count (varint), then each
    /// element as it writes itself (`SketchElement`).
    public func serialized() -> [UInt8] {
        var w = ByteWriter(type: .reservoir, capacity: 64)
        w.varint(UInt64(capacity))
        w.u64(seen)
        let s = random.state
        w.u64(s.0); w.u64(s.1); w.u64(s.2); w.u64(s.3)
        w.varint(UInt64(elements.count))
        var bytes = w.bytes
        for e in elements { e.append(to: &bytes) }
        return bytes
    }

    /// Decodes `serialized()` output, validating that the element count is min(k, n) and the
    /// generator state is not all zero.
    ///
    /// - Throws: `SketchError` for truncated, mistyped or inconsistent bytes.
    public init(serialized bytes: UnsafeRawBufferPointer) throws(SketchError) {
        var r = ByteReader(bytes)
        _ = try r.header(.reservoir)
        let k = try r.count(max: Int.max, "reservoir capacity")
        guard k >= 1 else { throw SketchError(.invalidParameter, "reservoir capacity must be at least 1") }
        let seen = try r.u64()
        let state = (try r.u64(), try r.u64(), try r.u64(), try r.u64())
        guard let random = SketchRandom(state: state) else { throw SketchError(.invalidParameter, "reservoir generator state is zero") }
        let n = try r.count(max: r.remaining, "reservoir element count")
        guard UInt64(n) == Swift.min(UInt64(k), seen) else {
            throw SketchError(.invalidParameter, "reservoir holds \(n) elements, expected min(capacity, seen)")
        }
        var elements: [Element] = []
        elements.reserveCapacity(n)
        for _ in 0..<n {
            let (e, used) = try Element.read(from: UnsafeRawBufferPointer(rebasing: bytes[r.offset...]))
            _ = try r.take(used)
            elements.append(e)
        }
        try r.end()
        self.capacity = k
        self.seen = seen
        self.elements = elements
        self.random = random
    }

    /// Decodes `serialized()` output from any byte collection.
    public init(serialized bytes: some Collection<UInt8>) throws(SketchError) {
        self = try withContiguousBytes(bytes) { raw throws(SketchError) in try ReservoirSample(serialized: raw) }
    }
}

extension ReservoirSample: Equatable where Element: Equatable {}
