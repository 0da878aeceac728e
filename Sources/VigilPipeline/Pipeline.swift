import Foundation
import VigilBroker
import VigilCapture
import VigilDecode
import VigilEnrich
import VigilIndex
import VigilKafka
import VigilLogs
import VigilCore
import VigilParsers
import VigilRules
import VigilStream

/// Which stages one `vigil run` process runs (`--role`).
public enum PipelineRole: String, CaseIterable, Sendable {
    /// Sensors and the stream stage in one process (the default).
    case all
    /// Only the sensors: they produce into the broker; stream processes consume elsewhere.
    case sensor
    /// Only the stream stage: a member of the stream consumer group (as `vigil stream`).
    case stream
    /// The alert indexer.
    case indexer
}

/// `vigil run`: the sensors named in the configuration produce into the broker (the embedded log,
/// or Kafka with `broker.type: kafka`), and the stream stage consumes the events topic as a
/// member of the configured consumer group. `role` runs one of them alone, so one configuration
/// runs as several processes sharing the data directory, or on several hosts through Kafka.
///
/// Without following sensors the run ends once every sensor reached the end of its input and the
/// group has committed everything they produced; otherwise it runs until `shouldStop` is true.
public final class Pipeline {
    public let configuration: VigilConfiguration
    public let metrics = PipelineMetrics()
    /// Whether the stream stage hands each processed event to `emit` as a JSON line. False
    /// (`vigil run --quiet`) skips encoding them. Default true.
    public var printsEvents = true

    public struct Summary: Sendable {
        public var linesRead: Int64
        public var eventsProduced: Int64
        public var eventsRejected: Int64
        public var eventsConsumed: Int64
        public var recordsUndecodable: Int64
        public var recoveries: [RecoveryReport]
        public var stream: StreamStage.Counters
        /// The indexer's counters (nil when `index.enabled` is false).
        public var index: Indexer.Counters? = nil
    }

    public init(configuration: VigilConfiguration) {
        self.configuration = configuration
    }

    /// Opens the embedded log with the configured settings and creates the configured topics.
    public func openLog() throws -> EmbeddedLog {
        guard configuration.broker.kind == .embedded else {
            throw PipelineError("this command reads the embedded log, but broker.type is kafka: use Kafka's own tools for its topics")
        }
        let log = try EmbeddedLog(dataDirectory: configuration.dataDirectory, configuration: configuration.broker.embedded)
        try Self.createTopics(of: configuration, in: log)
        return log
    }

    /// The configured broker, with the configured topics created unless `createTopics` is false:
    /// the embedded log, or a Kafka cluster (`broker.kafka`; `client_id` becomes librdkafka's
    /// `client.id` unless `properties` sets it).
    public func openBroker(createTopics: Bool = true) throws -> any StageBroker {
        switch configuration.broker.kind {
        case .embedded:
            return createTopics ? try openLog() : try EmbeddedLog(readingFrom: configuration.dataDirectory)
        case .kafka:
            guard let kafka = configuration.broker.kafka else { throw PipelineError("broker.type kafka needs a broker.kafka section") }
            var properties = kafka.properties
            if properties["client.id"] == nil { properties["client.id"] = kafka.clientID }
            let broker: KafkaStageBroker
            do {
                broker = try KafkaStageBroker(
                    configuration: KafkaConfiguration(bootstrapServers: kafka.bootstrapServers.joined(separator: ","), properties: properties),
                    defaultPartitions: configuration.broker.embedded.defaultPartitions,
                    replicationFactor: kafka.replicationFactor, topicPrefix: kafka.topicPrefix)
            } catch {
                throw PipelineError("broker.kafka: \(error)")
            }
            if createTopics { try Self.createTopics(of: configuration, in: broker) }
            return broker
        }
    }

    /// Creates the configuration's topics in `broker` (existing ones must have the configured
    /// partition count). The stream stage writes partition p's alerts to partition p of
    /// `alerts` (one writer per partition): unless sized explicitly, it has as many partitions as
    /// `events`.
    public static func createTopics(of configuration: VigilConfiguration, in broker: any TopicAdmin) throws {
        let events = configuration.topics.first { $0.name == "events" }?.partitions ?? configuration.broker.embedded.defaultPartitions
        for topic in configuration.topics {
            let partitions = topic.partitions ?? (topic.name == "alerts" ? events : nil)
            if topic.name == "alerts", let existing = try? broker.describeTopic("alerts"), let partitions, existing.partitions != partitions {
                throw PipelineError("topic alerts exists with \(existing.partitions) partitions, not \(partitions): the stream stage needs alerts and events to have the same partition count; size them alike under topics:, or remove the old alerts topic from \(configuration.dataDirectory)")
            }
            try broker.createTopic(topic.name, partitions: partitions)
        }
    }

    /// The topic the stream stage writes the records it cannot process to (partition p's to
    /// partition p, written by p's owner): not `errors`, which the sensors write, so stream and
    /// sensor processes sharing a data directory never contend for a partition's writer.
    public static let streamErrorTopic = "stream-errors"

    /// Runs sensors and the consumer. `emit` receives each consumed event as one JSON line, and
    /// `flush` is called after each batch (before its offsets are committed);
    /// `report` receives progress and error lines for people.
    public func run(role: PipelineRole = .all, emit: (String) -> Void, flush: () -> Void = {},
                    report: @escaping @Sendable (String) -> Void,
                    shouldStop: @escaping @Sendable () -> Bool) throws -> Summary {
        switch role {
        case .indexer:
            // The indexer alone: the alerts topic into the alert index until asked to stop.
            let counters = try runIndexer(drain: false, report: report, shouldStop: shouldStop)
            var summary = Summary(linesRead: 0, eventsProduced: 0, eventsRejected: metrics.eventsRejected.count,
                                  eventsConsumed: 0, recordsUndecodable: 0, recoveries: [], stream: StreamStage.Counters())
            summary.index = counters
            return summary
        case .stream:
            let counters = try runStream(drain: false, role: "stream", emit: emit, flush: flush, report: report, shouldStop: shouldStop)
            return Summary(linesRead: 0, eventsProduced: 0, eventsRejected: metrics.eventsRejected.count,
                           eventsConsumed: metrics.eventsConsumed.count, recordsUndecodable: metrics.recordsUndecodable.count,
                           recoveries: [], stream: counters)
        case .all, .sensor:
            break
        }
        let broker = try openBroker()
        defer { broker.embeddedLog?.close() }
        let errorProducer = try broker.producer(topic: "errors")
        let errors = ErrorPublisher(producer: errorProducer, rejected: metrics.eventsRejected)
        errors.onReject = { sensor, reason in report("sensor \(sensor): rejected a line: \(reason)") }
        let observation = startObservation(role: role == .all ? "run" : role.rawValue, broker: broker, errors: errors, report: report)
        defer { observation.stop() }
        // limits.memory: readers pause while the resident set is over the limit.
        let governor = configuration.limits.memory.map { MemoryGovernor(limit: $0, report: report) }
        metrics.memoryGovernor.withLock { $0 = governor }
        defer { governor?.stop() }
        var readGate: (@Sendable () -> Bool)? = nil
        if let governor { readGate = { governor.admits } }

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
                let producer = try broker.producer(topic: c.topic)
                recoveries += producer.recoveries
                producers.append(producer)
                let probe = metrics.observables.sensor(c.name, type: "jsonl")
                let source = JSONLinesSensor(configuration: c, producer: producer, errors: errors, metrics: metrics, probe: probe)
                let box = UncheckedBox(source)
                sensorThreads.enter()
                let thread = Thread { [metrics] in
                    nameCurrentThread("vigil-s-\(c.name)")
                    defer { sensorThreads.leave() }
                    defer { metrics.linesRead.add(probe.input.count); metrics.eventsProduced.add(probe.produced.count) }
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
                let producer = try broker.producer(topic: c.topic)
                recoveries += producer.recoveries
                let probe = metrics.observables.sensor(c.name, type: "syslog")
                let sink = ParsingSink(
                    parser: parser, producer: producer,
                    configuration: ParsingSink.Configuration(sensorName: c.name, keyField: c.keyField,
                                                             queueCapacity: c.queueMessages, queueBytes: c.queueBytes),
                    metrics: probe.observingSyslog(),
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
                sink.udpAdmission = readGate
                let listener = SyslogListener(configurations: c.listen, sink: sink, metrics: sink.metrics, log: { report("sensor \(c.name): \($0)") })
                probe.observe(socketDrops: { [listener] in listener.udpSocketDrops }, queued: { [sink] in sink.queued })
                do { try listener.start() } catch {
                    sink.close()
                    throw PipelineError("sensor \(c.name): \(error)")
                }
                report("sensor \(c.name): listening on " + zip(c.listen, listener.boundPorts).map { "\($0.transport.rawValue)://\($0.host):\($1)" }.joined(separator: ", "))
                listeners.append((listener, sink, producer))
            case .file(let c):
                let parser: CompiledParser
                do { parser = try registry!.require(c.parser) } catch { throw PipelineError("sensor \(c.tail.name): \(error)") }
                let producer = try broker.producer(topic: c.topic)
                recoveries += producer.recoveries
                producers.append(producer)
                let mirror = ProducedMirror(probe: metrics.observables.sensor(c.tail.name, type: "file"))
                let processor = ParsingFileTailProcessor(
                    sensor: c.tail.name, parser: parser, log: broker, producer: producer, keyField: c.keyField,
                    onError: { reason, original, parserName, _ in
                        try errors.reject(original: original, sensor: c.tail.name, parser: parserName, reason: reason)
                    },
                    beforeAcknowledge: { try errors.flush(); mirror.publish() })
                mirror.processor = processor
                let tailer = try FileTailer(configuration: c.tail,
                                            stateDirectory: FileTailerConfiguration.stateDirectory(dataDirectory: configuration.dataDirectory, sensor: c.tail.name),
                                            processor: processor)
                mirror.probe.observe(fileTail: tailer.metrics)
                tailer.readGate = readGate
                let box = UncheckedBox(tailer)
                let name = c.tail.name
                sensorThreads.enter()
                let thread = Thread { [metrics] in
                    nameCurrentThread("vigil-s-\(name)")
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
                let producer = try broker.producer(topic: c.topic)
                recoveries += producer.recoveries
                producers.append(producer)
                // A replay resumes where the broker's acknowledgements left it (ReplayProgress).
                var resume: ReplayResume?
                if case .files(let files) = c.source {
                    let progressPath = ReplayProgress.path(dataDirectory: configuration.dataDirectory, sensor: c.name)
                    let set = try ReplayProgress.fingerprint(files: files, settings: c.replaySettings)
                    var skipBelow: Int64 = 0
                    var present = Set<Int64>()
                    let saved = try ReplayProgress.load(progressPath)
                    if saved == nil || saved?.set != set {
                        // Before the first record: the topic's ends now, so that a crash before
                        // the first acknowledgement still finds what this replay produced.
                        try producer.flush()
                        let marks = (0..<producer.topic.partitions).map { producer.writerDurableEnd($0) }
                        try ReplayProgress(set: set, acknowledged: 0, complete: false, marks: marks).save(progressPath)
                    }
                    if let saved {
                        if saved.set != set {
                            report("sensor \(c.name): its files or settings changed since the last replay: replaying from the start")
                        } else if saved.complete {
                            report("sensor \(c.name): \(files.count) file(s) already replayed (\(saved.acknowledged) records); delete \(progressPath) to replay them again")
                            done.finish()
                            continue
                        } else {
                            skipBelow = saved.acknowledged
                            present = try ReplayProgress.recover(sensor: c.name, topic: producer.topic.name, partitions: producer.topic.partitions,
                                                                 marks: saved.marks, from: broker)
                            report("sensor \(c.name): resuming the replay after record \(skipBelow) (\(present.count) more already in \(c.topic))")
                        }
                    }
                    let producerRef = UncheckedBox(producer)
                    resume = ReplayResume(skipBelow: skipBelow, present: present, presentEnd: (present.max() ?? -1) + 1, every: 20_000) { through, complete in
                        let p = producerRef.value
                        try p.flush()
                        let marks = (0..<p.topic.partitions).map { p.writerDurableEnd($0) }
                        try ReplayProgress(set: set, acknowledged: through, complete: complete, marks: marks).save(progressPath)
                    }
                }
                let box = UncheckedBox(producer)
                let resumeBox = UncheckedBox(resume)
                let probe = metrics.observables.sensor(c.name, type: "network")
                sensorThreads.enter()
                let thread = Thread { [metrics] in
                    nameCurrentThread("vigil-s-\(c.name)")
                    defer { sensorThreads.leave() }
                    let output = NetworkEventOutput.broker(box.value, sensor: c.name, keyField: c.keyField)
                    var sensor = resumeBox.value.map { NetworkSensor(configuration: NetworkAnalyzer.Configuration(c), output: output, resume: $0) }
                        ?? NetworkSensor(configuration: NetworkAnalyzer.Configuration(c), output: output)
                    let produced = sensor.producedReader
                    do {
                        let summary: CaptureSummary
                        switch c.source {
                        case .files(let files):
                            summary = try CaptureRunner.replay(files: files, into: &sensor)
                        case .interface(let name):
                            summary = try CaptureRunner.capture(interface: name, options: c.liveOptions, user: c.user,
                                                                shouldStop: shouldStop, into: &sensor) { _ in
                                report("sensor \(c.name): capturing on \(name)" + (c.user.map { " as \($0)" } ?? ""))
                            } progress: { probe.publish(input: $0.packets, produced: produced(), capture: $0.statistics) }
                        }
                        try sensor.finish()
                        probe.publish(input: summary.packets, produced: sensor.produced, capture: summary.statistics)
                        metrics.eventsProduced.add(sensor.produced)
                        report("sensor \(c.name): " + sensor.analyzer.counters.summary(capture: summary).replacingOccurrences(of: "\n", with: "; ")
                               + (sensor.skipped > 0 ? "; \(sensor.skipped) records not sent again (produced before a restart)" : ""))
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

        // The indexer: alerts into the index, exactly once, on its own thread; it drains the
        // alerts topic once the stream stage is done.
        let stopIndexer = StopFlag()
        var indexer: IndexerThread?
        var apiServer: AlertAPIServer?
        var alertIndex: AlertIndex?
        // In one process (role all); with split roles, `--role indexer` indexes.
        if configuration.index.enabled, role == .all {
            let index = try AlertIndex(configuration: alertIndexConfiguration)
            alertIndex = index
            apiServer = try startAPI(index: index, report: report)
            indexer = IndexerThread(pipeline: self, broker: broker, index: index, errors: errors, report: report,
                                    shouldStop: { shouldStop() || stopIndexer.isSet })
        }
        defer {
            if let indexer {
                stopIndexer.set()
                _ = try? indexer.wait()
            }
            apiServer?.stop()
            alertIndex?.close()
        }

        // The stream stage: workers consume the events topic as the stream group, run the
        // profiles' windows and produce their results; each processed event goes to `emit`.
        var streamCounters = StreamStage.Counters()
        if role == .all {
            streamCounters = try runStreamStage(
                broker: broker, stop: endless == 0 ? .whenCaughtUp : .whenAsked, emit: emit, flush: flush,
                report: report, inputFinished: { done.isFinished }, shouldStop: { shouldStop() || done.failure != nil })
        } else {
            // The sensor role: until every finite sensor is done, or until asked when one follows its input.
            while done.failure == nil && !shouldStop() && !(endless == 0 && done.isFinished) { usleep(20_000) }
        }
        if let failure = done.failure { throw failure }
        indexer?.inputFinished()
        let indexCounters = try indexer?.wait()
        indexer = nil
        sensorThreads.wait()
        for p in producers { try p.close() }
        try errorProducer.close()
        return Summary(linesRead: metrics.linesRead.count, eventsProduced: metrics.eventsProduced.count,
                       eventsRejected: metrics.eventsRejected.count, eventsConsumed: metrics.eventsConsumed.count,
                       recordsUndecodable: metrics.recordsUndecodable.count, recoveries: recoveries, stream: streamCounters,
                       index: indexCounters)
    }
}

extension Pipeline {
    /// The detection rules of `rules.dir` (Vigil rule files), compiled; none when the directory
    /// does not exist.
    ///
    /// Sigma rules (`*.yml` under `rules.dir/sigma/`, mapped by `sigma/mapping.yaml`) are compiled
    /// too; those that need a construct Vigil cannot run are left out with a line naming it.
    public func loadRules(report: (String) -> Void = { _ in }) throws -> [CompiledRule] {
        try Self.loadRules(directory: configuration.rules.directory, report: report)
    }

    /// The rules of `directory`, as ``loadRules(report:)`` reads them.
    public static func loadRules(directory: String, report: (String) -> Void = { _ in }) throws -> [CompiledRule] {
        guard FileManager.default.fileExists(atPath: directory) else { return [] }
        var rules: [CompiledRule]
        do { rules = try RuleDirectory.load(directory) } catch { throw PipelineError("rules: \(error)") }
        let sigma = directory + "/sigma"
        let mappingPath = sigma + "/mapping.yaml"
        guard FileManager.default.fileExists(atPath: mappingPath) else { return rules }
        let mapping: SigmaFieldMapping
        do { mapping = try SigmaFieldMapping.load(path: mappingPath) } catch { throw PipelineError("rules: \(error)") }
        // Sigma rules are the *.yml files under sigma/ (the mapping is .yaml).
        var files: [String] = []
        if let walker = FileManager.default.enumerator(atPath: sigma) {
            for case let path as String in walker where path.hasSuffix(".yml") { files.append(sigma + "/" + path) }
        }
        let result = SigmaLoader(mapping: mapping).load(files: files.sorted())
        if let first = result.errors.first { throw PipelineError("rules: \(first)") }
        let unsupported = Set(result.unsupportedRuleIDs)
        for u in result.unsupported { report("rules: \(u)") }
        var ids = Set(rules.map(\.rule.id))
        for rule in result.alertingRules where !unsupported.contains(rule.id) {
            guard ids.insert(rule.id).inserted else { throw PipelineError("rules: a second rule with id \(rule.id) at \(rule.origin)") }
            do { rules.append(try CompiledRule(rule)) } catch { report("rules: \(error)") }
        }
        return rules
    }

    /// The stream stage's settings from the configuration.
    public var streamStageConfiguration: StreamStageConfiguration {
        var stream = StreamStageConfiguration(checkpointDirectory: "\(configuration.dataDirectory)/stream/\(configuration.stream.group)")
        stream.group = configuration.stream.group
        stream.workers = configuration.stream.workers
        stream.checkpointInterval = configuration.stream.checkpointInterval.nanosecondsClamped
        stream.idleTimeout = configuration.stream.idleTimeout.nanosecondsClamped
        stream.outputTopic = configuration.stream.outputTopic
        stream.profiles = configuration.stream.profiles
        return stream
    }

    /// Runs the stream stage on `log` until `stop` says: every processed event goes to `emit` as a
    /// JSON line (with its topic, partition and offset under `vigil.`), undecodable records and
    /// rejected late events to the error topic.
    func runStreamStage(broker: any StageBroker, stop: StreamStage.Stop, emit: (String) -> Void,
                        flush: () -> Void, report: @escaping @Sendable (String) -> Void,
                        inputFinished: @escaping @Sendable () -> Bool,
                        shouldStop: @escaping @Sendable () -> Bool) throws -> StreamStage.Counters {
        var stream = streamStageConfiguration
        // The rules, reloaded (within about a second) when a file of rules.dir changes: a broken
        // file is reported and the previous rules stay in force.
        let rulesDirectory = configuration.rules.directory
        let rules = try loadRules(report: report)
        let book = RuleBook(rules: rules, directory: FileManager.default.fileExists(atPath: rulesDirectory) ? rulesDirectory : nil,
                            loader: { try Pipeline.loadRules(directory: rulesDirectory, report: report) })
        var plugin = RulesPlugin(book: book)
        plugin.triage = configuration.rules.triage
        stream.plugins = [plugin]
        stream.errorTopic = Self.streamErrorTopic
        let inputTopic = stream.inputTopic
        let enrichment = try loadEnrichment(report: report)
        let consumed = metrics.eventsConsumed, undecodable = metrics.recordsUndecodable
        // The printer holds `emit` and `flush` only while the stage runs.
        return try withoutActuallyEscaping(emit) { emit in
            try withoutActuallyEscaping(flush) { flush in
                let printer = EventPrinter(emit: emit, flush: flush)
                let prints = printsEvents
                let stage = try StreamStage(
                    broker: broker, configuration: stream, enrichment: enrichment,
                    onEvent: { event, record in
                        consumed.add()
                        guard prints else { return }
                        var event = event
                        event["vigil.topic"] = .string(inputTopic)
                        event["vigil.partition"] = .int(Int64(record.partition))
                        event["vigil.offset"] = .int(record.offset)
                        printer.print(event)
                    },
                    onError: { [observables = metrics.observables, rejected = metrics.eventsRejected] reason, record in
                        // The stage writes it to the stream error topic.
                        observables.recordStreamError(reason)
                        rejected.add()
                        if reason.hasPrefix("not a valid event") { undecodable.add() }
                        report("stream: rejected \(inputTopic)/\(record.partition)@\(record.offset): \(reason)")
                    },
                    onReport: report,
                    onBatch: { printer.flushNow() },
                    onResult: { [observables = metrics.observables, topics = stream.outputTopics] output, result in
                        observables.recordResult(topic: topics[output], result)
                    })
                defer { printer.detach() }
                return try stage.run(stop: stop, inputFinished: inputFinished, shouldStop: shouldStop)
            }
        }
    }

    /// The enrichments in `enrichment.dir` (none when the directory does not exist). Optional ones
    /// whose data is missing are left out with a line saying so.
    public func loadEnrichment(report: (String) -> Void) throws -> EnrichmentSet? {
        let directory = configuration.enrichment.directory
        guard FileManager.default.fileExists(atPath: directory) else { return nil }
        let set: EnrichmentSet
        do { set = try EnrichmentSet.load(path: directory) } catch {
            throw PipelineError("enrichment: \(error)")
        }
        for warning in set.warnings { report("enrichment: \(warning)") }
        return set.definitions.isEmpty ? nil : set
    }

    /// `vigil stream`: the stream stage alone, on the data directory's log (another process runs
    /// the sensors). With `drain`, it stops once the input is consumed, closing every window.
    public func runStream(drain: Bool, role: String = "stream", emit: (String) -> Void, flush: () -> Void = {},
                          report: @escaping @Sendable (String) -> Void,
                          shouldStop: @escaping @Sendable () -> Bool) throws -> StreamStage.Counters {
        let broker = try openBroker()
        defer { broker.embeddedLog?.close() }
        let observation = startObservation(role: role, broker: broker, errors: nil, report: report)
        defer { observation.stop() }
        return try runStreamStage(broker: broker, stop: drain ? .drain : .whenAsked, emit: emit, flush: flush,
                                  report: report, inputFinished: { true }, shouldStop: shouldStop)
    }
}

/// Turns processed events into JSON lines for the caller's `emit`, from the stream workers'
/// threads one at a time, flushing after every 256 lines.
///
/// `@unchecked Sendable`: `lock` serializes every call of the caller's closures.
final class EventPrinter: @unchecked Sendable {
    private let lock = NSLock()
    private var emit: ((String) -> Void)?
    private var flush: (() -> Void)?
    private var line: [UInt8] = []
    private var pending = 0

    init(emit: @escaping (String) -> Void, flush: @escaping () -> Void) {
        self.emit = emit
        self.flush = flush
    }

    func print(_ event: Event) {
        lock.withLock {
            line.removeAll(keepingCapacity: true)
            EventJSON.encode(event, into: &line)
            emit?(String(decoding: line, as: UTF8.self))
            pending += 1
            if pending >= 256 {
                flush?()
                pending = 0
            }
        }
    }

    func flushNow() { lock.withLock { flush?() } }

    /// Flushes and lets go of the caller's closures (the stage's threads may outlive the run
    /// briefly while the caller's closures may not).
    func detach() {
        lock.withLock {
            flush?()
            emit = nil
            flush = nil
        }
    }
}

/// A flag set once, read from any thread.
final class StopFlag: @unchecked Sendable {
    // `value` is guarded by `lock`.
    private let lock = NSLock()
    private var value = false
    func set() { lock.withLock { value = true } }
    var isSet: Bool { lock.withLock { value } }
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
