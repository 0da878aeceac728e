import VigilCore
import VigilSketch
import VigilStream

/// The distinct values of one rule window: exact (sorted 64-bit hashes) while there are at most
/// ``exactLimit`` of them, then a HyperLogLog++ sketch. Thresholds of distinct rules are mostly
/// small (ports of a scan, users of a spraying source), so the common case is an exact count
/// read in O(1); past the limit the sketch bounds memory and its estimate is recomputed only as
/// often as it can have reached the rule's minimum.
struct DistinctValues: Equatable {
    static let exactLimit = 256
    static let precision = 12

    /// The exact values: the first four inline (most windows see few values), then an
    /// open-addressing set of hashes (0 marks an empty slot; a zero hash is kept in `hasZero`),
    /// capacity a power of two at most half full.
    private var inline: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    private var slots: [UInt64] = []
    private var hasZero = false
    private(set) var sketch: HyperLogLog?
    /// The current distinct count (exact, or the sketch's last estimate).
    private(set) var estimate: Int64 = 0
    private var inserts: Int64 = 0
    private var nextEstimate: Int64 = 0

    init() {}

    /// The exact values, sorted (empty once sketched).
    var exact: [UInt64] {
        var out = slots.isEmpty ? [inline.0, inline.1, inline.2, inline.3].filter { $0 != 0 } : slots.filter { $0 != 0 }
        if hasZero { out.append(0) }
        return out.sorted()
    }

    static func == (a: DistinctValues, b: DistinctValues) -> Bool {
        a.exact == b.exact && a.sketch == b.sketch && a.estimate == b.estimate
    }

    /// Adds `hash` to the exact set; false when it was there.
    private mutating func insertExact(_ hash: UInt64) -> Bool {
        if hash == 0 {
            if hasZero { return false }
            hasZero = true
            return true
        }
        if slots.isEmpty {
            if inline.0 == hash || inline.1 == hash || inline.2 == hash || inline.3 == hash { return false }
            if inline.0 == 0 { inline.0 = hash; return true }
            if inline.1 == 0 { inline.1 = hash; return true }
            if inline.2 == 0 { inline.2 = hash; return true }
            if inline.3 == 0 { inline.3 = hash; return true }
            // A fifth value: the set takes over.
            slots = [UInt64](repeating: 0, count: 16)
            for v in [inline.0, inline.1, inline.2, inline.3] { _ = insertExact(v) }
            inline = (0, 0, 0, 0)
        }
        let inserted = slots.withUnsafeMutableBufferPointer { t -> Bool in
            let mask = t.count - 1
            var i = Int(truncatingIfNeeded: hash) & mask
            while true {
                let v = t[i]
                if v == hash { return false }
                if v == 0 {
                    t[i] = hash
                    return true
                }
                i = (i &+ 1) & mask
            }
        }
        guard inserted else { return false }
        let count = Int(estimate) + 1
        if count * 2 > slots.count {
            // Grow to keep probes short.
            let old = slots
            slots = [UInt64](repeating: 0, count: old.count * 2)
            for v in old where v != 0 { _ = insertExact(v) }
        }
        return true
    }

    /// Adds a value by its hash; `minimum` paces the sketch's estimates.
    mutating func insert(hash: UInt64, minimum: Int64) {
        if sketch == nil {
            guard insertExact(hash) else { return }
            if estimate < Int64(Self.exactLimit) {
                estimate += 1
                return
            }
            // Past the limit: the values so far (this one included) go into a sketch.
            var h = HyperLogLog(precision: Self.precision, seed: ProfileValueSeed.seed)
            for e in exact { h.insert(hash: e) }
            slots = []
            hasZero = false
            sketch = h
            inserts = estimate + 1
            estimate = Int64(h.estimate().rounded())
            nextEstimate = inserts + min(4096, max(1, (minimum - estimate) / 2))
            return
        }
        sketch!.insert(hash: hash)
        inserts += 1
        if inserts >= nextEstimate {
            estimate = Int64(sketch!.estimate().rounded())
            // The count grows by at most one per insert: no need to look again before it could
            // reach the minimum (and at least every 4,096 inserts, for the alert's figure).
            nextEstimate = inserts + min(4096, max(1, (minimum - estimate) / 2))
        }
    }

    mutating func merge(_ other: DistinctValues, minimum: Int64) {
        if other.sketch == nil {
            for e in other.exact { insert(hash: e, minimum: minimum) }
            return
        }
        if sketch == nil {
            var h = HyperLogLog(precision: Self.precision, seed: ProfileValueSeed.seed)
            for e in exact { h.insert(hash: e) }
            slots = []
            hasZero = false
            sketch = h
        }
        try? sketch!.merge(other.sketch!)
        estimate = Int64(sketch!.estimate().rounded())
        nextEstimate = inserts
    }

    func encode(into w: inout StateWriter) {
        if let sketch {
            w.varint(1)
            w.int(estimate)
            w.bytes(sketch.serialized())
        } else {
            let values = exact
            w.varint(0)
            w.varint(UInt64(values.count))
            for e in values { w.uint64(e) }
        }
    }

    init(decoding r: inout StateReader) throws(StreamError) {
        switch try r.varint() {
        case 0:
            let n = try r.count(limit: Self.exactLimit)
            var previous: UInt64? = nil
            for _ in 0..<n {
                let e = try r.uint64()
                if let previous, e <= previous { throw r.corrupt("distinct values out of order") }
                _ = insertExact(e)
                estimate += 1
                previous = e
            }
        case 1:
            estimate = try r.int()
            let bytes = try r.bytes()
            do { sketch = try HyperLogLog(serialized: bytes) } catch { throw r.corrupt("sketch: \(error)") }
        case let tag:
            throw r.corrupt("unknown distinct values \(tag)")
        }
    }
}

/// One aggregated rule's event-time windows, per group key: a count of matching events (and their
/// distinct values for `distinct` rules) in each window, and whether the window has alerted.
///
/// Built for the rule engine's one question, "has this key's window just reached the minimum?",
/// rather than for emitting window results: each window is a small record in its key's list, an
/// event touches only its key's windows, and a window alerts at most once. The watermark is the
/// largest event time seen (rules allow no lateness): an event for a window that has already
/// closed is late, rejected with a reason. Closed windows are dropped in sweeps, at most every
/// quarter window, so memory is bounded by the keys active in the last window or two.
struct RuleWindows {
    struct Window: Equatable {
        var start: Int64
        var end: Int64
        var count: Int64
        var values: DistinctValues?
        var alerted: Bool
    }

    /// What an event did to a window that has now reached the minimum for the first time.
    struct Reached {
        var bounds: WindowBounds
        var count: Int64
        var distinct: Int64
    }

    let kind: WindowKind
    let distinct: Bool
    let minimum: Int64
    /// Hopping and session windows: each key's open (and not yet swept) windows.
    private var keys: [RuleKey: [Window]] = [:]
    /// Tumbling windows: each key's latest window (windows of a key never overlap, and an event
    /// for a later one closes the earlier).
    private var single: [RuleKey: Window] = [:]
    /// The largest event time added (`Int64.min` before any).
    private(set) var maxEventTime = Int64.min
    /// Windows ending at or before this are closed.
    private(set) var watermark = Int64.min
    /// No window closes before this: the next sweep.
    private var nextSweep = Int64.max
    private let sweepInterval: Int64

    init(kind: WindowKind, distinct: Bool, minimum: Int64) {
        self.kind = kind
        self.distinct = distinct
        self.minimum = minimum
        switch kind {
        case .tumbling(let size): sweepInterval = max(1, size / 4)
        case .hopping(_, let advance): sweepInterval = max(1, advance / 4)
        case .session(let gap): sweepInterval = max(1, gap / 4)
        }
    }

    /// Open windows (for tests and metrics).
    var openWindowCount: Int {
        keys.values.reduce(0) { $0 + $1.count { $0.end > watermark } } + single.values.count { $0.end > watermark }
    }

    /// The windows kept for `key` (open, or closed and not swept yet).
    func windows(of key: RuleKey) -> [Window] { single[key].map { [$0] } ?? keys[key] ?? [] }

    /// Adds one event of `key` at `time` (`hash`: its distinct value's hash, for distinct rules).
    /// Calls `reached` for each window that reached the minimum with this event; returns the
    /// reason when the event was late for some of its windows.
    mutating func add(key: RuleKey, time: Int64, hash: UInt64, reached: (Reached) -> Void) -> String? {
        var lateFor: WindowBounds? = nil
        let watermark = self.watermark
        if case .session(let gap) = kind {
            let bounds = WindowBounds(start: time, end: time &+ gap)
            if bounds.end <= watermark {
                lateFor = bounds
            } else {
                addToSession(key: key, bounds: bounds, hash: hash, reached: reached)
            }
        } else if case .tumbling(let size) = kind {
            let start = Self.floor(time, size)
            let bounds = WindowBounds(start: start, end: start &+ size)
            if bounds.end <= watermark { lateFor = bounds } else { addTumbling(key: key, bounds: bounds, hash: hash, reached: reached) }
        } else if case .hopping(let size, let step) = kind {
            // The latest start at or before `time`, back to the earliest window still reaching past it.
            let last = Self.floor(time, step)
            var start = last
            while start > time &- size { start &-= step }
            start &+= step
            while start <= last {
                let bounds = WindowBounds(start: start, end: start &+ size)
                if bounds.end <= watermark { lateFor = bounds } else { addFixed(key: key, bounds: bounds, hash: hash, reached: reached) }
                start &+= step
            }
        }
        if time > maxEventTime {
            maxEventTime = time
            advance(to: time)
        }
        guard let lateFor else { return nil }
        return "late event: its time \(Timestamp(nanoseconds: time).rfc3339) is behind the watermark \(Timestamp(nanoseconds: watermark).rfc3339) for its \(kind) window \(lateFor)"
    }

    /// The largest multiple of `step` not above `value` (also for negative values).
    @inline(__always)
    static func floor(_ value: Int64, _ step: Int64) -> Int64 {
        let q = value / step
        return (value % step != 0 && value < 0) ? (q - 1) * step : q * step
    }

    /// Counts the event in the key's tumbling window `bounds`, replacing an earlier window of the
    /// key: that one has closed (it ends at or before this event's time, which is now the
    /// largest seen; an event for an even earlier window was late).
    @inline(__always)
    private mutating func addTumbling(key: RuleKey, bounds: WindowBounds, hash: UInt64, reached: (Reached) -> Void) {
        let minimum = self.minimum, distinct = self.distinct
        let r: Reached?
        if let at = single.index(forKey: key) {
            // In place: the window is changed through the dictionary's storage, not copied.
            if single.values[at].start != bounds.start {
                single.values[at] = Window(start: bounds.start, end: bounds.end, count: 0, values: distinct ? DistinctValues() : nil, alerted: false)
                if bounds.end < nextSweep { nextSweep = bounds.end }
            }
            r = Self.update(&single.values[at], hash: hash, minimum: minimum, distinct: distinct)
        } else {
            var w = Window(start: bounds.start, end: bounds.end, count: 0, values: distinct ? DistinctValues() : nil, alerted: false)
            r = Self.update(&w, hash: hash, minimum: minimum, distinct: distinct)
            single[key] = w
            if bounds.end < nextSweep { nextSweep = bounds.end }
        }
        if let r { reached(r) }
    }

    /// Counts the event in the key's fixed window `bounds` (opening it).
    @inline(__always)
    private mutating func addFixed(key: RuleKey, bounds: WindowBounds, hash: UInt64, reached: (Reached) -> Void) {
        let minimum = self.minimum, distinct = self.distinct
        var fresh = false
        let changed: Reached? = keys[key, default: []].withUnsafeMutableBufferPointer { list -> Reached? in
            for j in list.indices where list[j].start == bounds.start && list[j].end == bounds.end {
                return Self.update(&list[j], hash: hash, minimum: minimum, distinct: distinct)
            }
            fresh = true
            return nil
        }
        if fresh {
            var w = Window(start: bounds.start, end: bounds.end, count: 0, values: distinct ? DistinctValues() : nil, alerted: false)
            let r = Self.update(&w, hash: hash, minimum: minimum, distinct: distinct)
            keys[key]!.append(w)
            if bounds.end < nextSweep { nextSweep = bounds.end }
            if let r { reached(r) }
        } else if let changed {
            reached(changed)
        }
    }

    @inline(__always)
    private static func update(_ w: inout Window, hash: UInt64, minimum: Int64, distinct: Bool) -> Reached? {
        w.count += 1
        if distinct { w.values!.insert(hash: hash, minimum: minimum) }
        guard !w.alerted else { return nil }
        let measure = distinct ? w.values!.estimate : w.count
        guard measure >= minimum else { return nil }
        w.alerted = true
        return Reached(bounds: WindowBounds(start: w.start, end: w.end), count: w.count, distinct: w.values?.estimate ?? 0)
    }

    /// Merges the event's session `[time, time + gap)` with the key's open sessions it overlaps
    /// or touches.
    private mutating func addToSession(key: RuleKey, bounds: WindowBounds, hash: UInt64, reached: (Reached) -> Void) {
        var merged = Window(start: bounds.start, end: bounds.end, count: 0, values: distinct ? DistinctValues() : nil, alerted: false)
        var kept: [Window] = []
        for w in keys[key] ?? [] {
            if w.end > watermark && w.start <= merged.end && merged.start <= w.end {
                merged.start = min(merged.start, w.start)
                merged.end = max(merged.end, w.end)
                merged.count += w.count
                merged.alerted = merged.alerted || w.alerted
                if let values = w.values { merged.values!.merge(values, minimum: minimum) }
            } else {
                kept.append(w)
            }
        }
        if let r = Self.update(&merged, hash: hash, minimum: minimum, distinct: distinct) { reached(r) }
        kept.append(merged)
        keys[key] = kept
        if merged.end < nextSweep { nextSweep = merged.end }
    }

    /// Moves the watermark forward (never back): windows ending at or before it close, and are
    /// dropped at the next sweep. Used by event time, by idle partitions and at the end of a drain.
    mutating func advance(to time: Int64) {
        guard time > watermark else { return }
        watermark = time
        guard watermark >= nextSweep else { return }
        var earliest = Int64.max
        let wm = watermark
        if !keys.isEmpty {
            keys = keys.compactMapValues { list in
                let open = list.filter { $0.end > wm }
                for w in open where w.end < earliest { earliest = w.end }
                return open.isEmpty ? nil : open
            }
        }
        if !single.isEmpty {
            // Removed in place: the table keeps its capacity for the next window's keys.
            var closed: [RuleKey] = []
            for (k, w) in single {
                if w.end <= wm { closed.append(k) } else if w.end < earliest { earliest = w.end }
            }
            for k in closed { single.removeValue(forKey: k) }
        }
        nextSweep = earliest == .max ? .max : max(earliest, wm &+ sweepInterval)
    }

    // MARK: Checkpoints

    func encode(into w: inout StateWriter) {
        w.int(maxEventTime)
        w.int(watermark)
        var all = keys
        for (key, window) in single { all[key] = [window] }
        w.varint(UInt64(all.count))
        for (key, list) in all.sorted(by: { $0.key < $1.key }) {
            w.string(key.text)
            w.varint(UInt64(list.count))
            for window in list {
                w.int(window.start)
                w.int(window.end)
                w.int(window.count)
                w.bool(window.alerted)
                if let values = window.values { values.encode(into: &w) }
            }
        }
    }

    mutating func restore(from r: inout StateReader) throws(StreamError) {
        maxEventTime = try r.int()
        watermark = try r.int()
        var earliest = Int64.max
        for _ in 0..<(try r.count()) {
            let key = RuleKey(try r.string())
            var list: [Window] = []
            for _ in 0..<(try r.count()) {
                var w = Window(start: try r.int(), end: try r.int(), count: try r.int(), values: nil, alerted: try r.bool())
                guard w.start < w.end, w.count >= 0 else { throw r.corrupt("rule window bounds or count") }
                if distinct { w.values = try DistinctValues(decoding: &r) }
                earliest = min(earliest, w.end)
                list.append(w)
            }
            if case .tumbling = kind {
                guard list.count <= 1 else { throw r.corrupt("several tumbling windows of one key") }
                single[key] = list.first
            } else {
                keys[key] = list
            }
        }
        nextSweep = earliest
    }
}

/// A group key (the rule's group-by values joined) with a 64-bit hash of its text computed once:
/// the per-key state of every rule is keyed by it, so a lookup hashes nothing and compares texts
/// only when the hashes agree.
struct RuleKey: Hashable, Comparable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    let text: String
    let hash: UInt64

    init(stringLiteral text: String) { self.init(text) }

    init(_ text: String) {
        self.text = text
        hash = RuleInput.hasher.hash(text)
    }

    static func == (a: RuleKey, b: RuleKey) -> Bool { a.hash == b.hash && a.text == b.text }
    static func < (a: RuleKey, b: RuleKey) -> Bool { a.text < b.text }

    func hash(into hasher: inout Hasher) { hasher.combine(hash) }

    /// Dictionaries take the bucket from this: the well-mixed hash, seeded, without running
    /// SipHash over it again.
    func _rawHashValue(seed: Int) -> Int { Int(truncatingIfNeeded: hash ^ UInt64(bitPattern: Int64(seed)) &* 0x9E37_79B9_7F4A_7C15) }

    var description: String { text }
}
