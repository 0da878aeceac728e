import VigilCore

/// What a window accumulates: a count, a sketch, running moments. Mergeable (session windows
/// merge when an event bridges them) and serializable (checkpoints).
public protocol WindowAggregate: Sendable {
    associatedtype Input
    mutating func add(_ input: Input)
    mutating func merge(_ other: Self)
    func encode(into writer: inout StateWriter)
    init(decoding reader: inout StateReader) throws(StreamError)
}

/// What happens to an event whose window has already fired its final result.
public enum LatePolicy: Sendable, Equatable {
    /// Not applied: the caller sends it to the error topic with the reason. Counted.
    case reject
    /// Applied, and the window's result is sent again (a late update), while the window is kept:
    /// up to `retention` of event time after its end. Later still: rejected.
    case update(retention: Int64)
}

/// Why a result was emitted.
public enum Firing: UInt8, Sendable, Equatable, CustomStringConvertible {
    /// A recurring (early) result of a window that is still open.
    case early = 0
    /// The watermark passed the window's end: the complete result.
    case final = 1
    /// A late event changed a window after its final result.
    case lateUpdate = 2

    public var description: String {
        switch self {
        case .early: "early"
        case .final: "final"
        case .lateUpdate: "late_update"
        }
    }
}

/// One emitted window result.
public struct WindowResult<Value> {
    public var key: String
    public var bounds: WindowBounds
    public var value: Value
    public var firing: Firing
    /// Early results: how many early results of this window came before this one. Final and
    /// late updates: 0 for the final result, then 1, 2, … for each late update. Final results
    /// and late updates are therefore numbered the same in every run over the same events,
    /// whatever early results processing time produced.
    public var sequence: Int
}

/// Settings of a windowed aggregation.
public struct WindowOptions: Sendable, Equatable {
    public var kind: WindowKind
    /// The watermark trails the largest event time seen by this much: events up to this late
    /// still count in their window's final result.
    public var allowedLateness: Int64
    public var late: LatePolicy

    public init(kind: WindowKind, allowedLateness: Int64 = 0, late: LatePolicy = .reject) {
        self.kind = kind
        self.allowedLateness = allowedLateness
        self.late = late
    }
}

/// Keyed event-time windows over one partition's events: assigns each event to its windows,
/// keeps a watermark (largest event time minus the allowed lateness), fires each window's final
/// result once the watermark passes its end, fires early results on request, and handles late
/// events by the ``LatePolicy``. A pure value: no clocks, no I/O; checkpointed with
/// ``encode(into:)`` and ``restore(from:make:)``.
///
/// - Complexity: adding an event is O(w·log n) for w windows per event (1 for tumbling and
///   sessions) and n open windows; firing is O(log n) per window.
public struct WindowOperator<A: WindowAggregate> {
    public let options: WindowOptions
    private let make: () -> A

    struct Slot: Hashable {
        var key: String
        var bounds: WindowBounds
    }

    struct Entry {
        var value: A
        /// Changed since its last result (early results go out for changed windows only).
        var dirty: Bool
        /// Early results emitted for this window.
        var early: Int
        /// Late updates emitted after the final result.
        var updates: Int
    }

    private var open: [Slot: Entry] = [:]
    /// Open windows by end (lazily cleaned: a popped slot that is no longer open is skipped).
    private var ends = MinHeap<Slot>()
    /// Sessions: the open session windows of each key.
    private var sessions: [String: [WindowBounds]] = [:]
    /// Windows kept after their final result for late updates, and when each expires.
    private var retained: [Slot: Entry] = [:]
    private var expiries = MinHeap<Slot>()

    /// The largest event time added so far (`Int64.min` before any).
    public private(set) var maxEventTime = Int64.min
    /// Windows ending at or before this have fired (`Int64.min` before any event).
    public private(set) var watermark = Int64.min

    /// Events added to at least one window.
    public private(set) var eventsAdded: Int64 = 0
    /// Events that were late for at least one of their windows.
    public private(set) var lateEvents: Int64 = 0
    /// Late events applied as updates (``LatePolicy/update(retention:)``).
    public private(set) var lateUpdates: Int64 = 0

    public init(options: WindowOptions, make: @escaping () -> A) {
        self.options = options
        self.make = make
    }

    /// Open windows.
    public var openWindowCount: Int { open.count }

    /// The current value of an open window (nil when it is not open).
    public func value(key: String, bounds: WindowBounds) -> A? { open[Slot(key: key, bounds: bounds)]?.value }

    /// The open session window of `key` that contains `time`, if any.
    public func session(key: String, containing time: Int64) -> WindowBounds? {
        sessions[key]?.first { $0.start <= time && time < $0.end }
    }

    /// What ``add(key:time:_:emit:)`` did with an event.
    public enum Outcome: Equatable, Sendable {
        /// Counted in every window it belongs to.
        case added
        /// Counted, but some of its windows had fired already and got a late update.
        case updatedLate
        /// Too late for (some of) its windows: not counted there. The reason is for the error topic.
        case rejectedLate(reason: String)
    }

    /// Adds one event of `key` at event time `time` (ns), then advances the watermark, emitting
    /// the results that became final.
    @discardableResult
    public mutating func add(key: String, time: Int64, _ input: A.Input, emit: (WindowResult<A>) -> Void) -> Outcome {
        var late = false, rejected = false, updated = false
        if case .session(let gap) = options.kind {
            let bounds = WindowBounds(start: time, end: time &+ gap)
            if bounds.end <= watermark {
                late = true
                if lateUpdate(Slot(key: key, bounds: bounds), input, emit: emit) { updated = true } else { rejected = true }
            } else {
                addToSession(key: key, bounds: bounds, input)
            }
        } else {
            options.kind.forEachWindow(containing: time) { bounds in
                let slot = Slot(key: key, bounds: bounds)
                if bounds.end <= watermark {
                    late = true
                    if lateUpdate(slot, input, emit: emit) { updated = true } else { rejected = true }
                    return
                }
                if open[slot] == nil {
                    open[slot] = Entry(value: make(), dirty: true, early: 0, updates: 0)
                    ends.push(bounds.end, slot)
                }
                open[slot]!.value.add(input)
                open[slot]!.dirty = true
            }
        }
        if late { lateEvents += 1 }
        if updated { lateUpdates += 1 }
        if !rejected || updated { eventsAdded += 1 }
        if time > maxEventTime {
            maxEventTime = time
            advanceWatermark(to: time &- options.allowedLateness, emit: emit)
        }
        if rejected {
            return .rejectedLate(reason: "late event: its time \(Timestamp(nanoseconds: time).rfc3339) is behind the watermark \(Timestamp(nanoseconds: watermark).rfc3339) for its \(options.kind) window")
        }
        return updated ? .updatedLate : .added
    }

    /// Merges the new session window with the key's sessions it overlaps or touches.
    private mutating func addToSession(key: String, bounds: WindowBounds, _ input: A.Input) {
        var merged = bounds
        var value = make()
        value.add(input)
        var early = 0
        var kept: [WindowBounds] = []
        for b in sessions[key] ?? [] {
            if b.start <= merged.end && merged.start <= b.end {
                merged = WindowBounds(start: min(b.start, merged.start), end: max(b.end, merged.end))
                if let old = open.removeValue(forKey: Slot(key: key, bounds: b)) {
                    value.merge(old.value)
                    early = max(early, old.early)
                }
            } else {
                kept.append(b)
            }
        }
        kept.append(merged)
        sessions[key] = kept
        let slot = Slot(key: key, bounds: merged)
        open[slot] = Entry(value: value, dirty: true, early: early, updates: 0)
        ends.push(merged.end, slot)
    }

    /// Applies a late event to a retained window (or a retained session it overlaps).
    private mutating func lateUpdate(_ slot: Slot, _ input: A.Input, emit: (WindowResult<A>) -> Void) -> Bool {
        guard case .update = options.late else { return false }
        var target = slot
        if case .session = options.kind {
            guard let found = retained.keys.first(where: {
                $0.key == slot.key && $0.bounds.start <= slot.bounds.end && slot.bounds.start <= $0.bounds.end
            }) else { return false }
            target = found
        }
        guard var entry = retained[target] else { return false }
        entry.value.add(input)
        entry.updates += 1
        emit(WindowResult(key: target.key, bounds: target.bounds, value: entry.value, firing: .lateUpdate, sequence: entry.updates))
        retained[target] = entry
        return true
    }

    /// Moves the watermark forward to `time` (never back) and emits the final result of every
    /// window that ends at or before it, in order of end. Used by event time (``add``) and by
    /// processing time when a partition is idle.
    public mutating func advanceWatermark(to time: Int64, emit: (WindowResult<A>) -> Void) {
        guard time > watermark else { return }
        watermark = time
        // Due windows in a fixed order (end, start, key), whatever order the heap holds them in,
        // so that a restored operator emits exactly what an uninterrupted one does.
        var due: [(Slot, Entry)] = []
        while let (end, slot) = ends.peek(), end <= watermark {
            ends.pop()
            guard let entry = open.removeValue(forKey: slot) else { continue }  // merged away
            due.append((slot, entry))
        }
        due.sort { ($0.0.bounds, $0.0.key) < ($1.0.bounds, $1.0.key) }
        for (slot, entry) in due {
            if case .session = options.kind {
                sessions[slot.key]?.removeAll { $0 == slot.bounds }
                if sessions[slot.key]?.isEmpty == true { sessions[slot.key] = nil }
            }
            emit(WindowResult(key: slot.key, bounds: slot.bounds, value: entry.value, firing: .final, sequence: 0))
            if case .update(let retention) = options.late {
                retained[slot] = Entry(value: entry.value, dirty: false, early: entry.early, updates: 0)
                expiries.push(slot.bounds.end &+ retention, slot)
            }
        }
        while let (expiry, slot) = expiries.peek(), expiry <= watermark {
            expiries.pop()
            retained[slot] = nil
        }
    }

    /// Emits the current result of every open window changed since its last result (a
    /// recurring trigger, driven by processing time), ordered by end then key.
    public mutating func fireEarly(emit: (WindowResult<A>) -> Void) {
        let changed = open.filter { $0.value.dirty }.keys.sorted { ($0.bounds, $0.key) < ($1.bounds, $1.key) }
        for slot in changed {
            let entry = open[slot]!
            emit(WindowResult(key: slot.key, bounds: slot.bounds, value: entry.value, firing: .early, sequence: entry.early))
            open[slot]!.dirty = false
            open[slot]!.early += 1
        }
    }

    // MARK: Checkpoints

    /// Writes the whole state (windows, watermark, counters).
    public func encode(into w: inout StateWriter) {
        w.int(maxEventTime)
        w.int(watermark)
        w.int(eventsAdded)
        w.int(lateEvents)
        w.int(lateUpdates)
        for table in [open, retained] {
            w.varint(UInt64(table.count))
            // Sorted, so that equal states encode to equal bytes.
            for (slot, entry) in table.sorted(by: { ($0.key.bounds, $0.key.key) < ($1.key.bounds, $1.key.key) }) {
                w.string(slot.key)
                w.int(slot.bounds.start)
                w.int(slot.bounds.end)
                w.bool(entry.dirty)
                w.varint(UInt64(entry.early))
                w.varint(UInt64(entry.updates))
                entry.value.encode(into: &w)
            }
        }
    }

    /// The operator as ``encode(into:)`` wrote it.
    public static func restore(options: WindowOptions, from r: inout StateReader, make: @escaping () -> A) throws(StreamError) -> Self {
        var op = Self(options: options, make: make)
        op.maxEventTime = try r.int()
        op.watermark = try r.int()
        op.eventsAdded = try r.int()
        op.lateEvents = try r.int()
        op.lateUpdates = try r.int()
        for table in 0..<2 {
            let n = try r.count()
            for _ in 0..<n {
                let key = try r.string()
                let bounds = WindowBounds(start: try r.int(), end: try r.int())
                guard bounds.start <= bounds.end else { throw r.corrupt("window ends before it starts") }
                let dirty = try r.bool()
                let early = Int(truncatingIfNeeded: try r.varint())
                let updates = Int(truncatingIfNeeded: try r.varint())
                let value = try A(decoding: &r)
                let slot = Slot(key: key, bounds: bounds)
                let entry = Entry(value: value, dirty: dirty, early: early, updates: updates)
                if table == 0 {
                    op.open[slot] = entry
                    op.ends.push(bounds.end, slot)
                    if case .session = options.kind { op.sessions[key, default: []].append(bounds) }
                } else {
                    op.retained[slot] = entry
                    if case .update(let retention) = options.late { op.expiries.push(bounds.end &+ retention, slot) }
                }
            }
        }
        return op
    }
}

/// A binary min-heap of values by an `Int64` priority.
struct MinHeap<Element> {
    private var items: [(Int64, Element)] = []

    var count: Int { items.count }

    func peek() -> (Int64, Element)? { items.first }

    mutating func push(_ priority: Int64, _ element: Element) {
        items.append((priority, element))
        var i = items.count - 1
        while i > 0 {
            let parent = (i - 1) / 2
            guard items[i].0 < items[parent].0 else { break }
            items.swapAt(i, parent)
            i = parent
        }
    }

    @discardableResult
    mutating func pop() -> (Int64, Element)? {
        guard !items.isEmpty else { return nil }
        items.swapAt(0, items.count - 1)
        let top = items.removeLast()
        var i = 0
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < items.count && items[l].0 < items[m].0 { m = l }
            if r < items.count && items[r].0 < items[m].0 { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return top
    }
}

/// A count of events.
public struct CountAggregate: WindowAggregate, Equatable {
    public private(set) var count: Int64 = 0
    public init() {}
    public mutating func add(_ input: Void) { count += 1 }
    public mutating func merge(_ other: CountAggregate) { count += other.count }
    public func encode(into writer: inout StateWriter) { writer.int(count) }
    public init(decoding reader: inout StateReader) throws(StreamError) {
        count = try reader.int()
        guard count >= 0 else { throw reader.corrupt("negative count") }
    }
}
