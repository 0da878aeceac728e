/// How events are grouped in time: fixed adjacent windows, overlapping windows that advance by a
/// step, or sessions that close after a gap without events. Times are nanoseconds of event time.
public enum WindowKind: Sendable, Equatable, CustomStringConvertible {
    /// Adjacent windows `[k·size, (k+1)·size)`.
    case tumbling(size: Int64)
    /// Windows of `size` starting every `advance` (`advance` ≤ `size`); an event is in
    /// `size / advance` of them.
    case hopping(size: Int64, advance: Int64)
    /// Per key: events closer than `gap` to each other form one window `[first, last + gap)`.
    case session(gap: Int64)

    public var description: String {
        switch self {
        case .tumbling(let size): "tumbling \(Duration.nanoseconds(size))"
        case .hopping(let size, let advance): "hopping \(Duration.nanoseconds(size)) every \(Duration.nanoseconds(advance))"
        case .session(let gap): "session with gap \(Duration.nanoseconds(gap))"
        }
    }

    /// Calls `body` with each fixed window that contains `time`, earliest first. Sessions have no
    /// fixed windows: for them `body` receives `[time, time + gap)`, the window a lone event opens.
    @inline(__always)
    public func forEachWindow(containing time: Int64, _ body: (WindowBounds) -> Void) {
        switch self {
        case .tumbling(let size):
            let start = Self.floor(time, size)
            body(WindowBounds(start: start, end: start &+ size))
        case .hopping(let size, let advance):
            // The latest start at or before `time`, then earlier ones while the window still
            // reaches past `time`.
            let last = Self.floor(time, advance)
            var start = last
            while start > time &- size { start &-= advance }
            start &+= advance
            while start <= last {
                body(WindowBounds(start: start, end: start &+ size))
                start &+= advance
            }
        case .session(let gap):
            body(WindowBounds(start: time, end: time &+ gap))
        }
    }

    /// The largest multiple of `step` not above `value` (also for negative values).
    @inline(__always)
    static func floor(_ value: Int64, _ step: Int64) -> Int64 {
        let q = value / step
        return (value % step != 0 && value < 0) ? (q - 1) * step : q * step
    }
}

/// A window's extent in event time: `[start, end)`, nanoseconds.
public struct WindowBounds: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var start: Int64
    public var end: Int64

    public init(start: Int64, end: Int64) {
        self.start = start
        self.end = end
    }

    public func contains(_ time: Int64) -> Bool { time >= start && time < end }

    public static func < (a: WindowBounds, b: WindowBounds) -> Bool {
        (a.end, a.start) < (b.end, b.start)
    }

    public var description: String { "[\(start), \(end))" }
}
