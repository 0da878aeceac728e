import Foundation
import VigilBroker
import VigilCapture
import VigilDecode
import VigilLogs
import VigilCore
import VigilParsers

/// `vigil run`: the sensors named in the configuration produce into the embedded log, and a
/// stream-stage consumer (for now, one that prints) reads the events topic as a member of the
/// configured consumer group.
///
/// Without following sensors the run ends once every sensor reached the end of its input and the
/// group has committed everything they produced; otherwise it runs until `shouldStop` is true.
public final class Pipeline {
    public let configuration: VigilConfiguration
    public let metrics = PipelineMetrics()

    public struct Summary: Sendable {
        public var linesRead: Int64
        public var eventsProduced: Int64
        public var eventsRejected: Int64
        public var eventsConsumed: Int64
        public var recordsUndecodable: Int64
        public var recoveries: [RecoveryReport]
    }

    public init(configuration: VigilConfiguration) {
        self.configuration = configuration
    }

    /// Opens the embedded log with the configured settings and creates the configured topics.
    public func openLog() throws -> EmbeddedLog {
        guard configuration.broker.kind == .embedded else {
            throw PipelineError("broker.type kafka is not available in this build yet; use broker.type embedded")
        }
        let log = try EmbeddedLog(dataDirectory: configuration.dataDirectory, configuration: configuration.broker.embedded)
        for topic in configuration.topics { try log.createTopic(topic.name, partitions: topic.partitions) }
        return log
    }

    /// Runs sensors and the consumer. `emit` receives each consumed event as one JSON line, and
    /// `flush` is called after each batch (before its offsets are committed);
    /// `report` receives progress and error lines for people.
    public func run(emit: (String) -> Void, flush: () -> Void = {}, report: @escaping @Sendable (String) -> Void,
                    shouldStop: @escaping @Sendable () -> Bool) throws -> Summary {
        let log = try openLog()
        defer { log.close() }
        let errorProducer = try log.producer(topic: "errors")
        let errors = ErrorPublisher(producer: errorProducer, rejected: metrics.eventsRejected)
        errors.onReject = { sensor, reason in report("sensor \(sensor): rejected a line: \(reason)") }

        // Parsers, compiled once, when a sensor names one.
        let needsParsers = configuration.sensors.contains { if case .jsonLines = $0 { false } else { true } }
        let registry = needsParsers ? try ParserRegistry.load(directory: configuration.parsers.directory) : nil

        // Sensors: readers of finite input on their own threads; listeners on event loops.
        var producers: [TopicProducer] = []
        var listeners: [(SyslogListener<ParsingSink>, ParsingSink, TopicProducer)] = []
        // Finite: jsonl files read once. Endless: followed files, listeners, tailers.
        let finite = configuration.sensors.filter {
            switch $0 {
            case .jsonLines(let c): !c.follow
            case .network(let c): if case .files = c.source { true } else { false }
            default: false
            }
        }.count
        let endless = configuration.sensors.count - finite
        let done = SensorCompletion(count: configuration.sensors.count - endless)
        // Every sensor thread, joined before the run returns so their final counts are in.
        let sensorThreads = DispatchGroup()
        var recoveries = errorProducer.recoveries
        for sensor in configuration.sensors {
            switch sensor {
            case .jsonLines(let c):
                let producer = try log.producer(topic: c.topic)
                recoveries += producer.recoveries
                producers.append(producer)
                let source = JSONLinesSensor(configuration: c, producer: producer, errors: errors, metrics: metrics)
                let box = UncheckedBox(source)
                sensorThreads.enter()
                let thread = Thread {
                    defer { sensorThreads.leave() }
                    do {
                        try box.value.run(shouldStop: shouldStop)
                    } catch {
                        report("sensor \(c.name) stopped: \(error)")
                        done.fail(error)
                    }
                    done.finish()
                }
                thread.name = "vigil-sensor-\(c.name)"
                thread.start()
            case .syslog(let c):
                let parser: CompiledParser
                do { parser = try registry!.require(c.parser) } catch { throw PipelineError("sensor \(c.name): \(error)") }
                let producer = try log.producer(topic: c.topic)
                recoveries += producer.recoveries
                let sink = ParsingSink(
                    parser: parser, producer: producer,
                    configuration: ParsingSink.Configuration(sensorName: c.name, keyField: c.keyField),
                    metrics: SyslogListenerMetrics(),
                    onFailure: { failure in
                        failure.original.withUnsafeBytes { original in
                            try? errors.reject(original: original, sensor: failure.sensor, parser: failure.parser,
                                               reason: "\(failure.stage.rawValue): \(failure.reason)")
                        }
                    },
                    onBatch: { [metrics] count in
                        metrics.eventsProduced.add(Int64(count))
                        try? errors.flush()
                    },
                    onProducerError: { error in report("sensor \(c.name): append failed: \(error)") })
                let listener = SyslogListener(configurations: c.listen, sink: sink, log: { report("sensor \(c.name): \($0)") })
                do { try listener.start() } catch {
                    sink.close()
                    throw PipelineError("sensor \(c.name): \(error)")
                }
                report("sensor \(c.name): listening on " + zip(c.listen, listener.boundPorts).map { "\($0.transport.rawValue)://\($0.host):\($1)" }.joined(separator: ", "))
                listeners.append((listener, sink, producer))
            case .file(let c):
                let parser: CompiledParser
                do { parser = try registry!.require(c.parser) } catch { throw PipelineError("sensor \(c.tail.name): \(error)") }
                let producer = try log.producer(topic: c.topic)
                recoveries += producer.recoveries
                producers.append(producer)
                let processor = ParsingFileTailProcessor(
                    sensor: c.tail.name, parser: parser, log: log, producer: producer, keyField: c.keyField,
                    onError: { reason, original, parserName, _ in
                        try errors.reject(original: original, sensor: c.tail.name, parser: parserName, reason: reason)
                    },
                    beforeAcknowledge: { try errors.flush() })
                let tailer = try FileTailer(configuration: c.tail,
                                            stateDirectory: FileTailerConfiguration.stateDirectory(dataDirectory: configuration.dataDirectory, sensor: c.tail.name),
                                            processor: processor)
                let box = UncheckedBox(tailer)
                let name = c.tail.name
                sensorThreads.enter()
                let thread = Thread { [metrics] in
                    defer { sensorThreads.leave() }
                    do {
                        try box.value.run(shouldStop: shouldStop)
                    } catch {
                        report("sensor \(name) stopped: \(error)")
                        done.fail(error)
                    }
                    metrics.linesRead.add(box.value.metrics.linesRead)
                    box.value.withProcessor { metrics.eventsProduced.add($0.eventsProduced) }
                }
                thread.name = "vigil-sensor-\(name)"
                thread.start()
            case .network(let c):
                let producer = try log.producer(topic: c.topic)
                recoveries += producer.recoveries
                producers.append(producer)
                let box = UncheckedBox(producer)
                sensorThreads.enter()
                let thread = Thread { [metrics] in
                    defer { sensorThreads.leave() }
                    var sensor = NetworkSensor(configuration: NetworkAnalyzer.Configuration(c),
                                               output: .broker(box.value, sensor: c.name, keyField: c.keyField))
                    do {
                        let summary: CaptureSummary
                        switch c.source {
                        case .files(let files):
                            summary = try CaptureRunner.replay(files: files, into: &sensor)
                        case .interface(let name):
                            summary = try CaptureRunner.capture(interface: name, options: c.liveOptions, user: c.user,
                                                                shouldStop: shouldStop, into: &sensor) { _ in
                                report("sensor \(c.name): capturing on \(name)" + (c.user.map { " as \($0)" } ?? ""))
                            }
                        }
                        try sensor.finish()
                        metrics.eventsProduced.add(sensor.produced)
                        report("sensor \(c.name): " + sensor.analyzer.counters.summary(capture: summary).replacingOccurrences(of: "\n", with: "; "))
                    } catch {
                        report("sensor \(c.name) stopped: \(error)")
                        done.fail(error)
                    }
                    if case .files = c.source { done.finish() }
                }
                thread.name = "vigil-sensor-\(c.name)"
                thread.start()
            }
        }
        defer {
            for (listener, sink, producer) in listeners {
                listener.stop()
                sink.close()
                try? producer.close()
            }
        }
        for r in recoveries { report(r.description) }

        // The consumer: the events topic, as a member of the stream group.
        let consumer = try GroupConsumer(log: log, group: configuration.stream.group, topics: ["events"])
        defer { try? consumer.close() }
        var line: [UInt8] = []
        while !shouldStop() {
            let n = try consumer.poll(maxRecords: 4096) { topic, record in
                do {
                    var event = try EventBinaryCodec.decode(record.value)
                    event["vigil.topic"] = .string(topic)
                    event["vigil.partition"] = .int(Int64(record.partition))
                    event["vigil.offset"] = .int(record.offset)
                    line.removeAll(keepingCapacity: true)
                    EventJSON.encode(event, into: &line)
                    emit(String(decoding: line, as: UTF8.self))
                    metrics.eventsConsumed.add()
                } catch {
                    metrics.recordsUndecodable.add()
                    report("\(topic)/\(record.partition)@\(record.offset): not a valid event: \(error)")
                }
            }
            flush()
            try consumer.commit()
            if n == 0 {
                // A sensor that failed stops the run (its reason was reported).
                if let failure = done.failure { throw failure }
                if done.isFinished && endless == 0 {
                    // Everything the sensors produced is committed: the run is complete.
                    let lag = try log.lag(group: configuration.stream.group, topics: ["events"])
                    if lag.allSatisfy({ $0.lag == 0 }) { break }
                }
                usleep(20_000)
            }
        }
        sensorThreads.wait()
        for p in producers { try p.close() }
        try errorProducer.close()
        return Summary(linesRead: metrics.linesRead.count, eventsProduced: metrics.eventsProduced.count,
                       eventsRejected: metrics.eventsRejected.count, eventsConsumed: metrics.eventsConsumed.count,
                       recordsUndecodable: metrics.recordsUndecodable.count, recoveries: recoveries)
    }
}

/// Counts finished sensor threads.
final class SensorCompletion: @unchecked Sendable {
    // `remaining` and `failure` are guarded by `lock`.
    private let lock = NSLock()
    private var remaining: Int
    private var firstFailure: Error?
    init(count: Int) { remaining = count }
    func finish() { lock.withLock { remaining -= 1 } }
    func fail(_ error: Error) { lock.withLock { if firstFailure == nil { firstFailure = error } } }
    var isFinished: Bool { lock.withLock { remaining <= 0 } }
    var failure: Error? { lock.withLock { firstFailure } }
}

/// Moves a non-Sendable sensor onto the one thread that uses it from then on.
struct UncheckedBox<T>: @unchecked Sendable {
    // Safe: the value is handed to exactly one thread and not touched by the creator afterwards.
    let value: T
    init(_ value: T) { self.value = value }
}
