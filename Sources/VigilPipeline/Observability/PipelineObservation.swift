import Foundation
import VigilBroker
import VigilLogs

/// Everything that makes a running pipeline observable from outside: the collector that turns
/// its counters into metrics, the `/metrics` endpoint (`metrics.listen`), and the run-state file
/// `vigil status` finds it by. Started by ``Pipeline/run(emit:flush:report:shouldStop:)`` and
/// ``Pipeline/runStream(drain:emit:flush:report:shouldStop:)``; ``stop()`` undoes it.
public final class PipelineObservation: @unchecked Sendable {
    // Safe: `stopped` is guarded by `lock`; the rest is immutable.
    public let endpoint: MetricsEndpoint?
    let runState: RunStateFile?
    let token: MetricsExporter.Token
    private let lock = NSLock()
    private var stopped = false

    init(endpoint: MetricsEndpoint?, runState: RunStateFile?, token: MetricsExporter.Token) {
        self.endpoint = endpoint
        self.runState = runState
        self.token = token
    }

    /// Stops the endpoint, removes the run-state file and the collector (its totals stay in the counters).
    public func stop() {
        guard lock.withLock({ () -> Bool in defer { stopped = true }; return !stopped }) else { return }
        endpoint?.stop()
        runState?.remove()
        MetricsExporter.shared.remove(token)
    }
}

extension Pipeline {
    /// Registers this pipeline's collector, starts the endpoint and writes the run-state file.
    ///
    /// An endpoint that cannot bind (the address is in use) is reported and left out: the
    /// pipeline runs on without it.
    func startObservation(role: String, broker: any StageBroker, errors: ErrorPublisher?,
                          report: @escaping @Sendable (String) -> Void) -> PipelineObservation {
        let token = MetricsExporter.shared.add(PipelineCollector(pipeline: self, log: broker.embeddedLog, errors: errors).collect)
        var endpoint: MetricsEndpoint?
        if let listen = configuration.metrics.listen {
            do {
                endpoint = try MetricsEndpoint(listen: listen)
                report("metrics: serving http://\(endpoint!.boundAddress)/metrics")
            } catch {
                report("metrics endpoint failed: \(error); running without it")
            }
        }
        var runState: RunStateFile?
        do {
            runState = try RunStateFile(dataDirectory: configuration.dataDirectory, contents: .init(
                pid: getpid(), role: role, started: Date().timeIntervalSince1970, metrics: endpoint?.boundAddress,
                group: configuration.stream.group))
        } catch {
            report("run state failed: \(error); vigil status will not see this process")
        }
        return PipelineObservation(endpoint: endpoint, runState: runState, token: token)
    }
}

/// Reads a running pipeline's counters at scrape time.
struct PipelineCollector: Sendable {
    let pipeline: PipelineReference
    /// The embedded log, for the group's lag (nil on Kafka: its own tools show consumer lag).
    let log: EmbeddedLog?
    /// The sensors' error publisher (nil in a stream-only process).
    let errors: ErrorPublisher?
    let inspector: DataDirectoryInspector
    let group: String
    let inputTopic: String

    init(pipeline: Pipeline, log: EmbeddedLog?, errors: ErrorPublisher?) {
        self.pipeline = PipelineReference(metrics: pipeline.metrics)
        self.log = log
        self.errors = errors
        inspector = DataDirectoryInspector(dataDirectory: pipeline.configuration.dataDirectory)
        group = pipeline.configuration.stream.group
        inputTopic = pipeline.streamStageConfiguration.inputTopic
    }

    func collect(_ s: inout MetricsSample) {
        let metrics = pipeline.metrics
        for c in [metrics.eventsRejected, metrics.eventsConsumed, metrics.recordsUndecodable] { s.counter(c.name, c.help, [:], c.count) }

        // Sensors and the sensor stage.
        var sensorIn: Int64 = 0, sensorOut: Int64 = 0
        for probe in metrics.observables.sensors {
            let t = probe.totals
            sensorIn += t.input
            sensorOut += t.produced
            s.counter("vigil_sensor_input_total", "Lines, messages or packets a sensor read", ["sensor": probe.name, "type": probe.type], t.input)
            s.counter("vigil_sensor_events_total", "Events a sensor appended to its topic", ["sensor": probe.name, "type": probe.type], t.produced)
            let losses = probe.losses
            for (reason, count) in losses.drops {
                s.counter("vigil_sensor_dropped_total", "Input a sensor lost: queue_full (UDP datagrams that found the queue full), memory_limit (UDP datagrams refused over limits.memory), socket (UDP datagrams the kernel dropped)",
                          ["sensor": probe.name, "type": probe.type, "reason": reason], count)
            }
            if let queued = losses.queued {
                s.gauge("vigil_sensor_queued_messages", "Messages received and waiting in the sensor's queue for the broker", ["sensor": probe.name, "type": probe.type], Double(queued))
            }
            if let unread = losses.unreadBytes {
                s.gauge("vigil_file_unread_bytes", "Bytes of the tailed files not read yet (delayed, not dropped)", ["sensor": probe.name], Double(unread))
            }
            if let c = t.capture {
                s.counter("vigil_capture_packets_received_total", "Packets the kernel's filter accepted (libpcap ps_recv)",
                          ["sensor": probe.name], Int64(c.received))
                s.counter("vigil_capture_packets_dropped_total", "Packets dropped before Vigil read them (libpcap ps_drop, ps_ifdrop)",
                          ["sensor": probe.name, "by": "kernel"], Int64(c.droppedByKernel))
                s.counter("vigil_capture_packets_dropped_total", "Packets dropped before Vigil read them (libpcap ps_drop, ps_ifdrop)",
                          ["sensor": probe.name, "by": "interface"], Int64(c.droppedByInterface))
            }
        }
        let stageIn = "Events (lines, messages, packets, records) into a stage"
        let stageOut = "Events out of a stage (sensor: produced; stream: results written; rules: alerts)"
        s.counter("vigil_stage_events_in_total", stageIn, ["stage": "sensor"], sensorIn)
        s.counter("vigil_stage_events_out_total", stageOut, ["stage": "sensor"], sensorOut)

        // The stream stage and its rules.
        let results = metrics.observables.results.snapshot
        s.counter("vigil_stage_events_in_total", stageIn, ["stage": "stream"], metrics.eventsConsumed.count + metrics.recordsUndecodable.count)
        s.counter("vigil_stage_events_out_total", stageOut, ["stage": "stream"], results.values.reduce(0, +))
        s.counter("vigil_stage_events_in_total", stageIn, ["stage": "rules"], metrics.eventsConsumed.count)
        s.counter("vigil_stage_events_out_total", stageOut, ["stage": "rules"], results["alerts"] ?? 0)
        for (name, counters) in metrics.observables.stages {
            s.counter("vigil_stage_events_in_total", stageIn, ["stage": name], counters.input.count)
            s.counter("vigil_stage_events_out_total", stageOut, ["stage": name], counters.output.count)
        }

        // Parse errors: what sensors sent to the error topic, by parser.
        for r in errors?.rejections ?? [] where r.sensor != "stream" {
            s.counter("vigil_parse_errors_total", "Input a parser could not turn into an event (sent to the errors topic)",
                      ["sensor": r.sensor, "parser": r.parser], r.count)
        }

        // The stream group's lag and checkpoints.
        if let lags = try? log?.lag(group: group, topics: [inputTopic]) {
            for l in lags {
                let partition = String(l.topicPartition.partition)
                s.gauge("vigil_broker_consumer_lag", "Records of a partition the consumer group has not committed",
                        ["group": group, "topic": l.topicPartition.topic, "partition": partition], Double(l.lag))
                s.gauge("vigil_broker_end_offset", "End offset of a partition", ["topic": l.topicPartition.topic, "partition": partition], Double(l.end))
            }
        }
        for c in inspector.checkpoints(group: group) {
            s.gauge("vigil_stream_checkpoint_age_seconds", "Seconds since the stream stage last checkpointed a partition",
                    ["group": group, "topic": c.topic, "partition": String(c.partition)], c.ageSeconds)
        }
        if let rss = DataDirectoryInspector.residentMemoryBytes() {
            s.gauge("vigil_process_resident_memory_bytes", "Resident set size of the process", [:], Double(rss))
        }
        if let governor = metrics.memoryGovernor.withLock({ $0 }) {
            s.gauge("vigil_memory_limit_bytes", "limits.memory: resident memory above which readers pause", [:], Double(governor.limit))
            s.gauge("vigil_memory_limit_paused", "1 while readers are paused for limits.memory", [:], governor.admits ? 0 : 1)
            s.counter("vigil_memory_limit_pauses_total", "Times readers were paused for limits.memory", [:], governor.pauseCount)
        }
    }
}

/// The pipeline's counters, held without the pipeline itself.
struct PipelineReference: Sendable {
    let metrics: PipelineMetrics
}
