import Foundation
import Synchronization
import VigilCapture
import VigilCore
import VigilLogs

/// What one sensor has read and produced, readable from any thread while the sensor runs.
///
/// Each sensor publishes into its probe where it already counts: the `jsonl` sensor's ingest
/// counters are the probe's (relaxed atomics, as before), the file sensor's tailer counts lines
/// itself and the probe mirrors its produced count at every acknowledgement, a syslog sensor's
/// listener metrics are read as they are, and the network sensor's capture thread publishes its
/// totals about once a second.
public final class SensorProbe: Sendable {
    public let name: String
    /// `jsonl`, `syslog`, `file`, `network`.
    public let type: String
    /// Lines, messages or packets read (the jsonl sensor's ingest counter).
    public let input: Counter
    /// Events appended to the sensor's topic (the jsonl sensor's ingest counter).
    public let produced: Counter
    private let published = Mutex(Published())
    private let live = Mutex<Live?>(nil)

    struct Published: Sendable {
        var input: Int64 = 0
        var produced: Int64 = 0
        var capture: PcapSource.Statistics?
    }

    /// Live sources read at scrape time.
    enum Live: Sendable {
        case syslog(SyslogListenerMetrics)
        case file(FileTailMetrics)
    }

    public init(name: String, type: String) {
        self.name = name
        self.type = type
        input = Counter("vigil_sensor_input_total", help: "Lines, messages or packets read")
        produced = Counter("vigil_sensor_events_total", help: "Events produced")
    }

    /// A syslog sensor's kernel drops and queue, read at scrape time.
    private let syslogExtras = Mutex<SyslogExtras?>(nil)

    struct SyslogExtras: Sendable {
        var socketDrops: @Sendable () -> Int
        var queued: @Sendable () -> Int
    }

    /// The syslog listener's metrics, read at scrape time.
    public func observe(syslog metrics: SyslogListenerMetrics) { live.withLock { $0 = .syslog(metrics) } }
    /// A syslog sensor's datagrams dropped by the kernel (socket receive buffer full) and the
    /// messages in its sink's queue, read at scrape time.
    public func observe(socketDrops: @escaping @Sendable () -> Int, queued: @escaping @Sendable () -> Int) {
        syslogExtras.withLock { $0 = SyslogExtras(socketDrops: socketDrops, queued: queued) }
    }

    /// Input lost by reason (`queue_full`: UDP datagrams that found the syslog sink's queue full;
    /// `memory_limit`: UDP datagrams refused while over `limits.memory`; `socket`: UDP datagrams
    /// the kernel dropped), messages waiting in the sensor's queue, and
    /// bytes of tailed files not read yet: what was dropped and what is only delayed.
    public var losses: (drops: [(reason: String, count: Int64)], queued: Int64?, unreadBytes: Int64?) {
        switch live.withLock({ $0 }) {
        case .syslog(let m):
            let extras = syslogExtras.withLock { $0 }
            let overMemory = m.droppedOverMemory
            var drops: [(reason: String, count: Int64)] = [("queue_full", Int64(m.dropped - overMemory)), ("memory_limit", Int64(overMemory))]
            if let extras { drops.append(("socket", Int64(extras.socketDrops()))) }
            return (drops, extras.map { Int64($0.queued()) }, nil)
        case .file(let m):
            return ([], nil, m.unreadBytes)
        case nil:
            return ([], nil, nil)
        }
    }
    /// The file tailer's metrics (lines read), read at scrape time.
    public func observe(fileTail metrics: FileTailMetrics) { live.withLock { $0 = .file(metrics) } }

    /// Publishes totals counted by the sensor's own thread (file: events produced; network:
    /// packets, events and the kernel's capture statistics).
    public func publish(input: Int64? = nil, produced: Int64? = nil, capture: PcapSource.Statistics? = nil) {
        published.withLock { p in
            if let input { p.input = input }
            if let produced { p.produced = produced }
            if let capture { p.capture = capture }
        }
    }

    /// (input, produced, capture statistics) now.
    public var totals: (input: Int64, produced: Int64, capture: PcapSource.Statistics?) {
        let p = published.withLock { $0 }
        switch live.withLock({ $0 }) {
        case .syslog(let m):
            return (Int64(m.received), Int64(m.produced), nil)
        case .file(let m):
            return (m.linesRead, p.produced, nil)
        case nil:
            return (p.input + input.count, p.produced + produced.count, p.capture)
        }
    }
}

/// Input and output counts of a stage that counts for itself (the indexer: alerts read, alerts
/// indexed), exported as `vigil_stage_events_in_total{stage}` / `_out_total`.
public final class StageCounters: Sendable {
    public let input: Counter
    public let output: Counter
    init(stage: String) {
        input = Counter("vigil_stage_events_in_total", help: "Events into \(stage)")
        output = Counter("vigil_stage_events_out_total", help: "Events out of \(stage)")
    }
}

/// The pipeline's observable parts beyond ``PipelineMetrics``' totals: sensor probes, the stream
/// stage's results by topic and alerts by rule, late events, and stages that count for
/// themselves.
public final class PipelineObservables: Sendable {
    private let sensorList = Mutex<[SensorProbe]>([])
    private let stageList = Mutex<[(String, StageCounters)]>([])
    /// Results the stream stage wrote, by output topic (`profiles`, `alerts`).
    public let results = LabeledCounters(label: "vigil_stream_results_total", dimension: "topic")
    /// Alerts the stream stage wrote to the alerts topic, by `rule.id`.
    public let alerts = LabeledCounters(label: "vigil_alerts_total", dimension: "rule")
    /// Events too late for a window, sent to the error topic, by what rejected them (`profile`, `rule`).
    public let lateEvents = LabeledCounters(label: "vigil_stream_late_events_total", dimension: "by")

    public init() {
        // Exported from the start, at zero.
        lateEvents.increment("profile", by: 0)
        lateEvents.increment("rule", by: 0)
    }

    /// A new probe for sensor `name`.
    public func sensor(_ name: String, type: String) -> SensorProbe {
        let probe = SensorProbe(name: name, type: type)
        sensorList.withLock { $0.append(probe) }
        return probe
    }

    public var sensors: [SensorProbe] { sensorList.withLock { $0 } }

    /// The counters of stage `name` (created on first use), such as `indexer`.
    public func stage(_ name: String) -> StageCounters {
        stageList.withLock { list in
            if let existing = list.first(where: { $0.0 == name }) { return existing.1 }
            let counters = StageCounters(stage: name)
            list.append((name, counters))
            return counters
        }
    }

    public var stages: [(name: String, counters: StageCounters)] { stageList.withLock { $0.map { ($0.0, $0.1) } } }

    /// Counts one result the stream stage wrote to `topic`; an alert also by its rule.
    public func recordResult(topic: String, _ result: Event) {
        results.increment(topic)
        if topic == "alerts" { alerts.increment(result[.ruleId]?.stringValue ?? "unknown") }
    }

    /// Counts what the stream stage sent to the error topic: late events (the rest are
    /// undecodable records, counted by ``PipelineMetrics/recordsUndecodable``).
    public func recordStreamError(_ reason: String) {
        if reason.hasPrefix("not a valid event") { return }
        lateEvents.increment(reason.hasPrefix("rule ") ? "rule" : "profile")
    }
}

extension SensorProbe {
    /// New syslog listener metrics that this probe reads.
    public func observingSyslog() -> SyslogListenerMetrics {
        let metrics = SyslogListenerMetrics()
        observe(syslog: metrics)
        return metrics
    }
}

/// Publishes a file sensor's produced count into its probe at every acknowledgement, on the
/// tailer's thread (the processor's counter is not atomic).
///
/// `@unchecked Sendable`: `processor` is set once before the tailer starts and then read only
/// on the tailer's thread.
final class ProducedMirror: @unchecked Sendable {
    let probe: SensorProbe
    weak var processor: ParsingFileTailProcessor?

    init(probe: SensorProbe) { self.probe = probe }

    func publish() {
        if let processor { probe.publish(produced: processor.eventsProduced) }
    }
}
