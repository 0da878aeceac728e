import VigilCore
import VigilSketch
import VigilStream
import VigilYAML

/// One key's events as a beacon rule sees them: when they began, the last one, and the running
/// moments (Welford) of the intervals between them, in seconds.
struct BeaconTrack: Equatable {
    var first: Int64
    var last: Int64
    /// Events counted (intervals + 1).
    var connections: Int64
    var intervals: RunningMoments
    /// The track already raised its alert (once per track: a key that goes idle for longer than
    /// the window starts a new track, which may alert again).
    var alerted: Bool

    init(time: Int64) {
        first = time
        last = time
        connections = 1
        intervals = RunningMoments()
        alerted = false
    }

    /// The coefficient of variation of the intervals (sample standard deviation / mean); nil
    /// before two intervals or when the mean is not positive.
    var jitter: Double? {
        guard intervals.count >= 2, intervals.mean > 0 else { return nil }
        return intervals.standardDeviation / intervals.mean
    }
}

/// A beacon rule's state: per key, its ``BeaconTrack``. A pure state machine (no I/O): each
/// matching event goes through ``add(key:time:minimumConnections:maximumJitter:window:)``, which
/// says whether the key alerts now.
///
/// An event not later than its key's last event (out of order, or at the same instant) is not
/// an interval and is skipped. A key without an event for longer than `window` starts afresh;
/// keys idle for longer than `window` are dropped whenever the table has doubled since its last
/// sweep, so the table holds at most about twice the keys active within one window.
struct BeaconTable: Equatable {
    var tracks: [RuleKey: BeaconTrack] = [:]
    /// The latest event time seen (the sweep's "now").
    var latest: Int64 = .min
    /// Sweep when the table grows past this many keys.
    var sweepAt = BeaconTable.minimumSweep

    static let minimumSweep = 4096

    /// Adds one event of `key` at `time`; the track when it alerts with this event.
    /// - Complexity: O(1) amortized (a sweep is O(keys), once per doubling).
    mutating func add(key: RuleKey, time: Int64, minimumConnections: Int, maximumJitter: Double, window: Int64) -> BeaconTrack? {
        latest = max(latest, time)
        var track: BeaconTrack
        if let existing = tracks[key] {
            track = existing
            if time &- track.last > window {
                track = BeaconTrack(time: time)
            } else if time <= track.last {
                return nil
            } else {
                track.intervals.add(Double(time &- track.last) / 1e9)
                track.last = time
                track.connections += 1
            }
        } else {
            track = BeaconTrack(time: time)
        }
        var alerts = false
        if !track.alerted, track.connections >= Int64(minimumConnections), let jitter = track.jitter, jitter <= maximumJitter {
            track.alerted = true
            alerts = true
        }
        tracks[key] = track
        if tracks.count > sweepAt { sweep(window: window) }
        return alerts ? track : nil
    }

    /// Drops the keys idle for longer than `window` before the latest event.
    mutating func sweep(window: Int64) {
        let horizon = latest &- window
        tracks = tracks.filter { $0.value.last >= horizon }
        sweepAt = max(Self.minimumSweep, tracks.count * 2)
    }

    func encode(into w: inout StateWriter) {
        w.int(latest)
        w.varint(UInt64(tracks.count))
        for (key, t) in tracks.sorted(by: { $0.key < $1.key }) {
            w.string(key.text)
            w.int(t.first)
            w.int(t.last)
            w.int(t.connections)
            w.bool(t.alerted)
            w.bytes(t.intervals.serialized())
        }
    }

    init() {}

    init(decoding r: inout StateReader) throws(StreamError) {
        latest = try r.int()
        for _ in 0..<(try r.count()) {
            let key = RuleKey(try r.string())
            var t = BeaconTrack(time: try r.int())
            t.last = try r.int()
            t.connections = try r.int()
            t.alerted = try r.bool()
            let bytes = try r.bytes()
            do { t.intervals = try RunningMoments(serialized: bytes) } catch { throw r.corrupt("beacon intervals: \(error)") }
            guard t.last >= t.first, t.connections >= 1 else { throw r.corrupt("beacon track \(key)") }
            tracks[key] = t
        }
        sweepAt = max(Self.minimumSweep, tracks.count * 2)
    }

    /// `beacon: { group_by, min_connections, max_jitter, window }` of a rule file.
    static func aggregation(_ v: YAMLValue) throws(YAMLError) -> Aggregation {
        let m = try v.mapping(allowedKeys: ["group_by", "min_connections", "max_jitter", "window"])
        let jitterValue = try m.required("max_jitter")
        let jitter: Double
        if let i = try? jitterValue.int() { jitter = Double(i) } else { jitter = try jitterValue.double() }
        guard jitter >= 0, jitter.isFinite else { throw jitterValue.error("max_jitter is a coefficient of variation, 0 or more (0.1: intervals within about 10% of their mean)") }
        return .beacon(groupBy: try m.optional("group_by").map { v throws(YAMLError) in try RuleFile.fields(v) } ?? [],
                       minimumConnections: try m.required("min_connections").int(range: 3...1_000_000),
                       maximumJitter: jitter,
                       window: try m.required("window").duration(range: 1_000_000...Int64.max / 4))
    }
}

extension RulesState {
    /// A matching event of beacon rule `i`: its key's track advances, and alerts once the
    /// intervals are regular enough (`vigil.alert.interval_s`: their mean, `vigil.alert.jitter`:
    /// their coefficient of variation, `vigil.alert.connections`: the events of the track).
    mutating func beacon(_ i: Int, key: RuleKey, time: Int64, event: Event, offset: Int64, emit: (Event) -> Void) {
        guard case .beacon(_, let minimum, let jitter, let window)? = rules[i].rule.aggregation else { return }
        guard let track = beacons[i].add(key: key, time: time, minimumConnections: minimum, maximumJitter: jitter, window: window) else { return }
        alert(i, key: key, time: time, bounds: WindowBounds(start: track.first, end: time &+ 1), count: track.connections,
              distinct: nil, event: event, offset: offset, emit: emit,
              extra: [("vigil.alert.interval_s", .float(track.intervals.mean)), ("vigil.alert.jitter", .float(track.jitter ?? 0)),
                      ("vigil.alert.connections", .int(track.connections))])
    }
}
