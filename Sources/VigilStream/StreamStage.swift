import Foundation
import VigilBroker
import VigilCore
import VigilEnrich

/// Settings of the stream stage (the `stream` section of vigil.yaml).
public struct StreamStageConfiguration: Sendable {
    /// Consumer group of the workers; also names the checkpoint directory.
    public var group = "vigil-stream"
    /// Worker threads; each owns a share of the input partitions.
    public var workers = 2
    /// Processing time between checkpoints, ns.
    public var checkpointInterval: Int64 = 10_000_000_000
    /// Processing time a partition must have no input before its watermark follows the wall
    /// clock (so idle partitions still close their windows), ns.
    public var idleTimeout: Int64 = 5_000_000_000
    public var inputTopic = "events"
    /// Where profile results go (created with the input's partition count: partition p's
    /// results go to output partition p, written only by p's owner).
    public var outputTopic = "profiles"
    public var profiles: [ProfileDefinition] = []
    /// Extensions with per-partition state of their own (the detection rules), each with its
    /// output topic.
    public var plugins: [any StreamPlugin] = []
    /// Where checkpoints are kept.
    public var checkpointDirectory: String
    /// Where records the stage cannot process (not a valid event, too late for its windows) go,
    /// as error events: input partition p's to partition p, written only by p's owner (so several
    /// stream processes never share a writer). nil: only `onError` hears of them.
    public var errorTopic: String?

    public init(checkpointDirectory: String) { self.checkpointDirectory = checkpointDirectory }

    /// The output topics: profiles first, then each plugin's.
    public var outputTopics: [String] { [outputTopic] + plugins.map(\.outputTopic) }
}

/// The stream stage: worker threads that consume the input topic as members of one consumer
/// group, enrich each event, add it to the profiles' windows, and produce window results; each
/// partition's windows and offsets are checkpointed together, and results a restart repeats are
/// recognized by their ids and not produced twice.
public final class StreamStage: @unchecked Sendable {
    // Safe: the configuration and hooks are immutable; counters are atomic-by-lock (`lock`).
    public let configuration: StreamStageConfiguration
    /// The broker the stage consumes from and produces to.
    public let broker: any StageBroker
    /// Enrichments applied to every event before the profiles (nil: none).
    let enrichment: EnrichmentSet?
    let onEvent: (@Sendable (Event, RecordView) -> Void)?
    let onError: @Sendable (_ reason: String, _ record: RecordView) -> Void
    let onReport: @Sendable (String) -> Void
    let onBatch: (@Sendable () -> Void)?
    /// Every result written to an output topic (its index in `configuration.outputTopics`); not
    /// results a restart repeated and that were recognized and left out.
    let onResult: (@Sendable (_ output: Int, _ result: Event) -> Void)?

    /// Totals over the workers.
    public struct Counters: Sendable, Equatable {
        public var eventsProcessed: Int64 = 0
        public var recordsUndecodable: Int64 = 0
        public var lateRejected: Int64 = 0
        public var resultsProduced: Int64 = 0
        public var resultsDeduplicated: Int64 = 0
        public var checkpoints: Int64 = 0
        public var statesRestored: Int64 = 0
        public var enrichmentReloadErrors: Int64 = 0
        public init() {}
    }

    private let lock = NSLock()
    private var totals = Counters()
    private var failure: Error?

    public var counters: Counters { lock.withLock { totals } }

    /// - Parameters:
    ///   - enrichment: applied to every event before the profiles see it. Worker 0 reloads its
    ///     changed files and feeds its changelog and indicator topics.
    ///   - onEvent: receives every processed (enriched) event and its record, from the worker threads.
    ///   - onError: a record that is not a valid event, or an event too late for its windows.
    ///   - onBatch: after each batch of records a worker processed (a printer flushes there).
    ///   - onResult: every result written to an output topic, from the worker threads (metrics
    ///     count alerts by rule there).
    public convenience init(log: EmbeddedLog, configuration: StreamStageConfiguration,
                            enrichment: EnrichmentSet? = nil, onEvent: (@Sendable (Event, RecordView) -> Void)? = nil,
                            onError: @escaping @Sendable (_ reason: String, _ record: RecordView) -> Void,
                            onReport: @escaping @Sendable (String) -> Void = { _ in },
                            onBatch: (@Sendable () -> Void)? = nil,
                            onResult: (@Sendable (_ output: Int, _ result: Event) -> Void)? = nil) throws {
        try self.init(broker: log, configuration: configuration, enrichment: enrichment, onEvent: onEvent, onError: onError,
                      onReport: onReport, onBatch: onBatch, onResult: onResult)
    }

    /// The stage on any broker (the embedded log, or Kafka through VigilKafka). Enrichment
    /// tables fed by topics need the embedded log.
    public init(broker: any StageBroker, configuration: StreamStageConfiguration,
                enrichment: EnrichmentSet? = nil, onEvent: (@Sendable (Event, RecordView) -> Void)? = nil,
                onError: @escaping @Sendable (_ reason: String, _ record: RecordView) -> Void,
                onReport: @escaping @Sendable (String) -> Void = { _ in },
                onBatch: (@Sendable () -> Void)? = nil,
                onResult: (@Sendable (_ output: Int, _ result: Event) -> Void)? = nil) throws {
        self.onBatch = onBatch
        self.onResult = onResult
        self.broker = broker
        self.configuration = configuration
        self.enrichment = enrichment
        self.onEvent = onEvent
        self.onError = onError
        self.onReport = onReport
        if let enrichment, !enrichment.topics.isEmpty, broker.embeddedLog == nil {
            throw BrokerError(.invalidArgument, "enrichment tables fed by topics (\(enrichment.topics.sorted().joined(separator: ", "))) need the embedded broker; on \(broker.kind) load them from files")
        }
        let input = try broker.createTopic(configuration.inputTopic, partitions: nil)
        for topic in configuration.outputTopics + (configuration.errorTopic.map { [$0] } ?? []) {
            try broker.createTopic(topic, partitions: input.partitions)
        }
    }

    /// How a run ends.
    public enum Stop: Sendable {
        /// When `shouldStop` says so (a service).
        case whenAsked
        /// Once the input is consumed to its end and `inputFinished` says no more will come:
        /// then every window is closed (the watermark goes to the end of time) and checkpointed.
        case drain
        /// Once the input is consumed and `inputFinished`: windows stay open in the checkpoint.
        case whenCaughtUp
    }

    /// Runs the workers until they stop; rethrows the first worker failure.
    public func run(stop: Stop, inputFinished: @escaping @Sendable () -> Bool = { true },
                    shouldStop: @escaping @Sendable () -> Bool) throws -> Counters {
        let group = DispatchGroup()
        let anyFailed: @Sendable () -> Bool = { [self] in lock.withLock { failure != nil } }
        for w in 0..<configuration.workers {
            group.enter()
            let thread = Thread { [self] in
                nameCurrentThread("vigil-stream-\(w)")
                defer { group.leave() }
                do {
                    let worker = try StreamWorker(stage: self, index: w)
                    try worker.run(stop: stop, inputFinished: inputFinished, shouldStop: { shouldStop() || anyFailed() })
                } catch {
                    lock.withLock { if failure == nil { failure = error } }
                }
            }
            thread.name = "vigil-stream-\(w)"
            thread.start()
        }
        group.wait()
        if let failure = lock.withLock({ failure }) { throw failure }
        return counters
    }

    func add(_ delta: Counters) {
        lock.withLock {
            totals.eventsProcessed += delta.eventsProcessed
            totals.recordsUndecodable += delta.recordsUndecodable
            totals.lateRejected += delta.lateRejected
            totals.resultsProduced += delta.resultsProduced
            totals.resultsDeduplicated += delta.resultsDeduplicated
            totals.checkpoints += delta.checkpoints
            totals.statesRestored += delta.statesRestored
            totals.enrichmentReloadErrors += delta.enrichmentReloadErrors
        }
    }
}

/// One worker thread: a group member, its partitions' states and output writers.
final class StreamWorker {
    let stage: StreamStage
    let configuration: StreamStageConfiguration
    let store: CheckpointStore
    let index: Int

    /// A class, so that the per-record path reaches a partition's state with one dictionary
    /// lookup and no copy of it.
    final class Owned {
        /// Behind a pointer the object owns: the per-record path reads and changes the state
        /// without the runtime exclusivity checks of a class property (one worker thread uses it).
        var state: PartitionState {
            _read { yield statePointer.pointee }
            _modify { yield &statePointer.pointee }
        }
        private let statePointer: UnsafeMutablePointer<PartitionState>
        /// Per output topic (profiles, then each plugin's).
        let writers: [any PartitionAppender]
        /// The partition of `errorTopic`.
        let errors: (any PartitionAppender)?
        /// Outputs already produced after the checkpoint this state was restored from, as
        /// `topic index|event.id` (the replay repeats them): not produced again. Until the input passes
        /// `producedUntil` (the last input offset they came from), the partition is not
        /// checkpointed, so another crash finds them again.
        var produced: Set<String> = []
        var producedUntil: Int64 = -1
        /// Processing time since which the partition has had nothing to read.
        var idleSince: Int64?

        init(state: PartitionState, writers: [any PartitionAppender], errors: (any PartitionAppender)?) {
            statePointer = .allocate(capacity: 1)
            statePointer.initialize(to: state)
            self.writers = writers
            self.errors = errors
        }

        deinit {
            statePointer.deinitialize(count: 1)
            statePointer.deallocate()
        }
    }

    var owned: [Int: Owned] = [:]
    /// What the per-record path changes on every record, behind a pointer the worker owns: no
    /// runtime exclusivity check of a class property per access (the worker is one thread, and
    /// no two of these accesses overlap).
    struct Hot {
        var delta = StreamStage.Counters()
        var enricher: Enricher?
        /// The event records are decoded into, kept from one record to the next.
        var event = Event()
        var lateReasons: [String] = []
        /// Results emitted while a partition's state changes, produced once the change is done
        /// (the state lives in `owned`, which producing also changes).
        var pending: [(Int, Int, Event)] = []
    }

    private let hot: UnsafeMutablePointer<Hot> = {
        let p = UnsafeMutablePointer<Hot>.allocate(capacity: 1)
        p.initialize(to: Hot())
        return p
    }()

    deinit {
        hot.deinitialize(count: 1)
        hot.deallocate()
    }

    var delta: StreamStage.Counters {
        _read { yield hot.pointee.delta }
        _modify { yield &hot.pointee.delta }
    }
    var enricher: Enricher? {
        _read { yield hot.pointee.enricher }
        _modify { yield &hot.pointee.enricher }
    }
    private var lateReasons: [String] {
        _read { yield hot.pointee.lateReasons }
        _modify { yield &hot.pointee.lateReasons }
    }
    private var pending: [(Int, Int, Event)] {
        _read { yield hot.pointee.pending }
        _modify { yield &hot.pointee.pending }
    }
    /// Worker 0 keeps the enrichment data current: reloads changed files, feeds topic tables.
    var feeder: TopicFeeder?
    var lastMaintenance: Int64 = 0
    private var consumer: (any RecordGroupConsumer)?
    private var session: (any AppenderSession)?
    private var encodeBuffer: [UInt8] = []

    init(stage: StreamStage, index: Int) throws {
        self.stage = stage
        self.configuration = stage.configuration
        self.index = index
        store = try CheckpointStore(directory: configuration.checkpointDirectory)
        enricher = stage.enrichment?.makeEnricher()
        if index == 0, let set = stage.enrichment, !set.topics.isEmpty, let log = stage.broker.embeddedLog {
            feeder = TopicFeeder(set: set, log: log)
            // Tables fed by topics are complete before the first event is enriched.
            try feeder!.catchUp()
        }
    }

    /// Once a second on worker 0: the plugins' housekeeping (rule reloads), then changed
    /// enrichment files and new records of the enrichment topics.
    func maintain(now: Int64) {
        guard index == 0, now - lastMaintenance >= 1_000_000_000 else { return }
        lastMaintenance = now
        for plugin in configuration.plugins { plugin.maintain(report: stage.onReport) }
        guard let set = stage.enrichment else { return }
        for error in set.reloadIfChanged() {
            delta.enrichmentReloadErrors += 1
            stage.onReport("enrichment reload failed, the previous data stays in use: \(error)")
        }
        do {
            try feeder?.poll()
        } catch {
            stage.onReport("enrichment topics: \(error)")
        }
    }

    static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    func run(stop: StreamStage.Stop, inputFinished: @Sendable () -> Bool, shouldStop: () -> Bool) throws {
        session = try stage.broker.appenderSession()
        defer { try? session?.close() }
        let consumer = try stage.broker.groupConsumer(
            group: configuration.group, topics: [configuration.inputTopic], resetPosition: .earliest,
            onAssign: { [unowned self] tp throws(BrokerError) in try self.assign(tp) },
            onRevoke: { [unowned self] tp, _ throws(BrokerError) in try self.revoke(tp) })
        self.consumer = consumer
        defer { try? consumer.close() }
        var lastCheckpoint = Self.now()
        while !shouldStop() {
            let n = try consumer.poll(maxRecords: 2048) { _, record in self.handle(record) }
            if n > 0 { stage.onBatch?() }
            let now = Self.now()
            var caughtUp = true
            for p in owned.keys.sorted() {
                let tp = TopicPartition(configuration.inputTopic, p)
                let atEnd = (try consumer.endOffset(tp)).map { $0 <= owned[p]!.state.offset } ?? true
                if !atEnd { caughtUp = false }
                if atEnd { owned[p]!.idleSince = owned[p]!.idleSince ?? now } else { owned[p]!.idleSince = nil }
                let idle = owned[p]!.idleSince.map { now - $0 }.flatMap { $0 >= configuration.idleTimeout ? $0 : nil }
                owned[p]!.state.tick(now: now, idleFor: idle) { produce(p, $0, $1) }
                drainPending()
            }
            try flushOutputs()
            maintain(now: now)
            if now - lastCheckpoint >= configuration.checkpointInterval {
                try checkpointAll()
                lastCheckpoint = now
            }
            if n == 0 {
                if stop != .whenAsked && caughtUp && inputFinished() {
                    // The group's lag is zero only once every member checkpointed its end.
                    if stop == .drain {
                        for p in owned.keys.sorted() { owned[p]!.state.closeAll { produce(p, $0, $1) } }
                        drainPending()
                        try flushOutputs()
                    }
                    try checkpointAll()
                    let lag = try stage.broker.groupLag(group: configuration.group, topics: [configuration.inputTopic])
                    // At most 0: a broker whose ListOffsets answer falls short of the end (Tansu) reports less than 0.
                    if lag.allSatisfy({ $0.lag <= 0 }) { break }
                }
                usleep(10_000)
            }
        }
        try checkpointAll()
        enricher?.flushMetrics()
        stage.add(delta)
        delta = StreamStage.Counters()
    }

    func handle(_ record: RecordView) {
        let p = record.partition
        guard let o = owned[p] else { return }
        if record.offset < o.state.offset { return }  // processed before the checkpoint
        // Decoded into the event of the previous record, whose storage is reused when nothing
        // kept it (`onEvent` may keep it: then the decoder allocates a new one).
        var event = Event()
        swap(&event, &hot.pointee.event)
        defer { swap(&event, &hot.pointee.event) }
        do {
            try EventBinaryCodec.decode(record.value, into: &event, arrays: arrays)
        } catch {
            delta.recordsUndecodable += 1
            reject("not a valid event: \(error)", record)
            o.state.offset = record.offset + 1
            return
        }
        enricher?.enrich(&event)
        let time = event.entry(.timestamp).flatMap { $0.kind == .timestamp ? Int64(bitPattern: $0.a) : nil } ?? record.timestamp
        o.state.process(event, time: time, offset: record.offset, emit: { produce(p, $0, $1) }, late: { reason in
            delta.lateRejected += 1
            lateReasons.append(reason)  // rejected once the state is no longer being changed
        })
        if !lateReasons.isEmpty {
            for reason in lateReasons { reject(reason, record) }
            lateReasons.removeAll(keepingCapacity: true)
        }
        o.state.offset = record.offset + 1
        if !pending.isEmpty { drainPending() }
        if !o.produced.isEmpty && o.state.offset > o.producedUntil {
            // Everything the replay could repeat has been seen; what is left was not repeated
            // (a changed profile, say).
            o.produced.removeAll()
        }
        delta.eventsProcessed += 1
        stage.onEvent?(event, record)
    }

    /// The array values of the input (categories, types), each decoded once.
    private let arrays = EventBinaryCodec.ArrayCache()

    /// Tells `onError` and writes an error event to the partition of `errorTopic`.
    @inline(never)
    func reject(_ reason: String, _ record: RecordView) {
        stage.onError(reason, record)
        guard let errors = owned[record.partition]?.errors else { return }
        let event = StreamErrors.event(reason: "\(configuration.inputTopic)/\(record.partition)@\(record.offset): \(reason)",
                                       original: record.value)
        encodeBuffer.removeAll(keepingCapacity: true)
        EventBinaryCodec.encode(event, into: &encodeBuffer)
        do {
            try encodeBuffer.withUnsafeBytes { v in try errors.append(key: nil, value: v, timestamp: record.timestamp) }
        } catch {
            stage.onReport("\(configuration.inputTopic)/\(record.partition)@\(record.offset): \(reason); the error topic refused it: \(error)")
        }
    }


    func produce(_ p: Int, _ output: Int, _ result: Event) { pending.append((p, output, result)) }

    func drainPending() {
        for (p, output, result) in pending { write(p, output, result) }
        pending.removeAll(keepingCapacity: true)
    }

    private func write(_ p: Int, _ output: Int, _ result: Event) {
        let id = result[.eventId]?.stringValue ?? ""
        if !owned[p]!.produced.isEmpty, owned[p]!.produced.remove("\(output)|\(id)") != nil {
            delta.resultsDeduplicated += 1
            return
        }
        encodeBuffer.removeAll(keepingCapacity: true)
        EventBinaryCodec.encode(result, into: &encodeBuffer)
        let key = (result[ProfileFields.key]?.stringValue ?? result[.eventId]?.stringValue).map { Array($0.utf8) }
        let time = result[.timestamp]?.timestampValue?.nanoseconds ?? 0
        let writer = owned[p]!.writers[output]
        do {
            try encodeBuffer.withUnsafeBytes { v in
                if let key {
                    try key.withUnsafeBytes { k in try writer.append(key: k, value: v, timestamp: time) }
                } else {
                    try writer.append(key: nil, value: v, timestamp: time)
                }
            }
        } catch {
            // Only a remote broker's producer fails here; the next flush or checkpoint fails too.
            pendingFailure = pendingFailure ?? (error as? BrokerError ?? BrokerError(.io, "\(error)"))
            return
        }
        delta.resultsProduced += 1
        stage.onResult?(output, result)
    }

    /// The first failure to hand a result to the broker, thrown by the next flush.
    private var pendingFailure: BrokerError?

    func flushOutputs() throws {
        if let failure = pendingFailure { throw failure }
        for p in owned.keys {
            for w in owned[p]!.writers { try w.appendBuffered() }
            try owned[p]!.errors?.appendBuffered()
        }
    }

    /// Results durable first, then the state that produced them with the input and output offsets.
    func checkpoint(_ p: Int) throws(BrokerError) {
        guard owned[p] != nil else { return }
        if let failure = pendingFailure { throw failure }
        for w in owned[p]!.writers { try w.sync() }
        try owned[p]!.errors?.sync()
        // Still replaying what a crash cut short: the checkpoint it restored stays the latest.
        guard owned[p]!.produced.isEmpty else { return }
        for t in owned[p]!.writers.indices { owned[p]!.state.outputOffsets[t] = owned[p]!.writers[t].endOffset }
        do {
            try store.save(owned[p]!.state.encoded(), topic: configuration.inputTopic, partition: p)
        } catch {
            throw BrokerError(.io, error.message)
        }
        delta.checkpoints += 1
    }

    func checkpointAll() throws {
        for p in owned.keys.sorted() { try checkpoint(p) }
        try consumer?.commit()
        stage.add(delta)
        delta = StreamStage.Counters()
    }

    // MARK: Partition hand-over

    func assign(_ tp: TopicPartition) throws(BrokerError) -> StartPosition? {
        let p = tp.partition
        var state = PartitionState(partition: p, profiles: configuration.profiles, plugins: configuration.plugins)
        var restored = false
        let context = store.path(topic: tp.topic, partition: p)
        do {
            if let bytes = try store.load(topic: tp.topic, partition: p) {
                var dropped: [String] = []
                state = try PartitionState.decode(bytes, partition: p, profiles: configuration.profiles, plugins: configuration.plugins,
                                                  context: context, dropped: &dropped, report: { stage.onReport("\(tp): \($0)") })
                restored = true
                for name in dropped { stage.onReport("\(tp): profile \(name) changed or was removed: its windows start afresh") }
            }
        } catch {
            throw BrokerError(.corrupt, "\(error.message); move the file aside to start partition \(tp) without state")
        }
        guard let session else { throw BrokerError(.closed, "stream worker \(index) has no appender session") }
        var writers: [any PartitionAppender] = []
        for topic in configuration.outputTopics { writers.append(try session.appender(topic: topic, partition: p)) }
        let errors = try configuration.errorTopic.map { topic throws(BrokerError) in try session.appender(topic: topic, partition: p) }
        let owned = Owned(state: state, writers: writers, errors: errors)
        // Outputs produced after the checkpoint (before a crash) are in the output topics already;
        // without a checkpoint, everything in them came from a run that never checkpointed this
        // partition (killed before its first checkpoint), and the replay repeats it.
        do {
            var ids: Set<String> = []
            var until: Int64 = -1
            // Read on every assignment: a remote broker's end offset is only known by reading.
            for (t, topic) in configuration.outputTopics.enumerated() {
                do {
                    try stage.broker.readRange(topic: topic, partition: p, from: state.outputOffsets[t]) { r in
                        // Early results depend on processing time: the replay does not repeat them.
                        guard let e = try? EventBinaryCodec.decode(r.value), let id = e[.eventId]?.stringValue,
                              e[ProfileFields.firing]?.stringValue != Firing.early.description else { return }
                        ids.insert("\(t)|\(id)")
                        until = max(until, e[ProfileFields.inputOffset]?.intValue ?? Int64.max - 1)
                    }
                } catch {
                    throw BrokerError(.io, "cannot read \(topic)/\(p) after its checkpoint: \(error)")
                }
            }
            owned.produced = ids
            owned.producedUntil = until
        }
        self.owned[p] = owned
        if restored { delta.statesRestored += 1 }
        return restored ? .offset(state.offset) : stage.broker.startWithoutCheckpoint
    }

    func revoke(_ tp: TopicPartition) throws(BrokerError) {
        try checkpoint(tp.partition)
        for w in owned[tp.partition]?.writers ?? [] { try w.close() }
        try owned[tp.partition]?.errors?.close()
        owned[tp.partition] = nil
    }
}

/// The error events the stream stage writes to its error topic: the same fields as the sensors'
/// (docs/configuration.md, `errors`), with sensor and parser `stream`.
public enum StreamErrors {
    public static func event(reason: String, original: UnsafeRawBufferPointer) -> Event {
        var event = Event()
        event["@timestamp"] = .timestamp(.now())
        event["event.kind"] = .string("pipeline_error")
        event["error.message"] = .string(reason)
        event["vigil.sensor"] = .string("stream")
        event["vigil.parser"] = .string("stream")
        if let text = String(validating: original, as: UTF8.self) {
            event["event.original"] = .string(text)
        } else {
            event["vigil.original_base64"] = .string(Data(original).base64EncodedString())
        }
        return event
    }
}
