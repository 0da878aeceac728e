import Synchronization
import VigilCore

/// The pipeline's counters, one instance per process. Every event that enters is counted as
/// produced, rejected (to the error topic) or failed; nothing leaves uncounted.
public final class PipelineMetrics: Sendable {
    public let linesRead = Counter("vigil_sensor_lines_total", help: "Lines read by sensors")
    public let eventsProduced = Counter("vigil_events_produced_total", help: "Events appended to the events topic")
    public let eventsRejected = Counter("vigil_events_rejected_total", help: "Input sent to the error topic, with its reason")
    public let eventsConsumed = Counter("vigil_events_consumed_total", help: "Events read by the stream stage")
    public let recordsUndecodable = Counter("vigil_records_undecodable_total", help: "Broker records whose value is not a valid event")
    /// Per-sensor probes, stream results and alerts by rule, late events (docs/observability.md).
    public let observables = PipelineObservables()
    /// The memory limit's governor while `vigil run` enforces `limits.memory`.
    public let memoryGovernor = Mutex<MemoryGovernor?>(nil)

    public init() {}

    public var all: [Counter] { [linesRead, eventsProduced, eventsRejected, eventsConsumed, recordsUndecodable] }
}
