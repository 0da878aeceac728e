import CRdKafka
import Foundation
import VigilBroker

/// Vigil's stages on a Kafka cluster: the `StageBroker` of VigilBroker over `KafkaAdmin`,
/// `KafkaProducer` and `KafkaGroupConsumer`, so sensors and stream workers run unchanged on Kafka.
///
/// Topics are created explicitly with the configured partition counts (never auto-created);
/// producers use `acks=all` and idempotence; stream workers form a consumer group with
/// cooperative rebalancing and commit offsets only with their checkpoints. Kafka errors reach
/// the stages as `BrokerError`s (code `.io`, or `.invalidArgument` for bad settings) whose message
/// carries librdkafka's error name.
///
/// `Sendable`: immutable; every client it makes is used by one thread.
public final class KafkaStageBroker: StageBroker {
    public let configuration: KafkaConfiguration
    /// Partitions of a topic created without a count.
    public let defaultPartitions: Int
    public let replicationFactor: Int
    /// Put before every topic name in Kafka (Vigil's `events` is Kafka's `<prefix>events`), so
    /// several pipelines share a cluster. The stages see Vigil's names.
    public let topicPrefix: String

    /// Checks the configuration (property names and values) without connecting.
    public init(configuration: KafkaConfiguration, defaultPartitions: Int, replicationFactor: Int = 1,
                topicPrefix: String = "") throws(BrokerError) {
        self.configuration = configuration
        self.defaultPartitions = defaultPartitions
        self.replicationFactor = replicationFactor
        self.topicPrefix = topicPrefix
        try Self.bridge("checking the Kafka settings") { () throws(KafkaError) in try configuration.validate() }
    }

    public var kind: String { "kafka" }
    public var startWithoutCheckpoint: StartPosition? { .earliest }
    public var embeddedLog: EmbeddedLog? { nil }

    /// Runs `body`, turning a `KafkaError` into a `BrokerError` that keeps its text and name.
    static func bridge<T>(_ what: String, _ body: () throws(KafkaError) -> T) throws(BrokerError) -> T {
        do {
            return try body()
        } catch {
            throw BrokerError(error.code == KafkaError.invalidArgument ? .invalidArgument : .io, "kafka: \(what): \(error)")
        }
    }

    // MARK: Topics

    public func createTopic(_ vigilName: String, partitions: Int?) throws(BrokerError) -> TopicMetadata {
        try EmbeddedLog.validateTopicName(vigilName)
        let name = topicPrefix + vigilName
        let admin = try Self.bridge("connecting the admin client") { () throws(KafkaError) in try KafkaAdmin(configuration: configuration) }
        return try Self.bridge("creating topic \(name)") { () throws(KafkaError) -> TopicMetadata in
            if let existing = try admin.partitionCount(topic: name) {
                if let partitions, partitions != existing {
                    throw KafkaError(code: KafkaError.invalidArgument,
                                     message: "topic \(name) exists with \(existing) partitions, not \(partitions): topics and partitions map one to one, so size the Kafka topic as configured (or change topics.\(name).partitions)")
                }
                return TopicMetadata(name: vigilName, partitions: existing)
            }
            let count = partitions ?? defaultPartitions
            try admin.createTopic(name, partitions: count, replicationFactor: replicationFactor)
            // The metadata may lag the creation a little.
            let deadline = ContinuousClock.now.advanced(by: .seconds(10))
            while ContinuousClock.now < deadline {
                if let n = try admin.partitionCount(topic: name) {
                    if let partitions, n != partitions {
                        throw KafkaError(code: KafkaError.invalidArgument, message: "topic \(name) was created with \(n) partitions, not \(partitions)")
                    }
                    return TopicMetadata(name: vigilName, partitions: n)
                }
                usleep(50_000)
            }
            throw KafkaError(code: KafkaError.timedOut, message: "topic \(name) was created but does not appear in the metadata")
        }
    }

    public func describeTopic(_ name: String) throws(BrokerError) -> TopicMetadata? {
        let admin = try Self.bridge("connecting the admin client") { () throws(KafkaError) in try KafkaAdmin(configuration: configuration) }
        return try Self.bridge("reading topic \(topicPrefix + name)") { () throws(KafkaError) in
            try admin.partitionCount(topic: topicPrefix + name).map { TopicMetadata(name: name, partitions: $0) }
        }
    }

    // MARK: Producers

    public func producer(topic: String) throws(BrokerError) -> TopicProducer {
        TopicProducer(forwardingTo: try KafkaRecordProducer(configuration: configuration, topic: topic, prefix: topicPrefix))
    }

    public func appenderSession() throws(BrokerError) -> any AppenderSession {
        try KafkaAppenderSession(configuration: configuration, prefix: topicPrefix)
    }

    // MARK: Consumers

    public func groupConsumer(group: String, topics: [String], resetPosition: StartPosition,
                              onAssign: @escaping GroupConsumer.AssignHandler,
                              onRevoke: @escaping GroupConsumer.RevokeHandler) throws(BrokerError) -> any RecordGroupConsumer {
        let prefix = topicPrefix
        let vigil: @Sendable (TopicPartition) -> TopicPartition = { TopicPartition(String($0.topic.dropFirst(prefix.count)), $0.partition) }
        // Group ids carry the prefix too: installations sharing a cluster under different
        // prefixes must not share (and rebalance) their groups.
        return try Self.bridge("joining group \(prefix + group)") { () throws(KafkaError) in
            KafkaGroupRecordConsumer(consumer: try KafkaGroupConsumer(
                configuration: configuration, group: prefix + group, topics: topics.map { prefix + $0 }, strategy: .cooperativeSticky,
                resetPosition: resetPosition, commitOnRevoke: true,
                onAssign: { tp in try onAssign(vigil(tp)) }, onRevoke: { tp, next in try onRevoke(vigil(tp), next) }),
                prefix: prefix)
        }
    }

    /// Committed offsets of `group` (asked without joining it) against the partitions' high
    /// watermarks.
    public func groupLag(group: String, topics: [String]) throws(BrokerError) -> [PartitionLag] {
        try Self.bridge("reading the offsets of group \(topicPrefix + group)") { () throws(KafkaError) -> [PartitionLag] in
            let conf = try configuration.makeConf(defaults: [("group.id", topicPrefix + group), ("enable.auto.commit", "false"),
                                                             ("allow.auto.create.topics", "false")])
            let handle = try KafkaHandle(type: RD_KAFKA_CONSUMER, conf: conf, context: nil, what: "offset reader")
            defer { rd_kafka_consumer_close(handle.pointer) }
            var partitions: [TopicPartition] = []
            for topic in topics.map({ topicPrefix + $0 }) {
                guard let n = try handle.partitionCount(topic: topic, timeout: .seconds(10)) else { continue }
                for p in 0..<n { partitions.append(TopicPartition(topic, p)) }
            }
            guard !partitions.isEmpty else { return [] }
            let list = rd_kafka_topic_partition_list_new(Int32(partitions.count))!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            for tp in partitions { rd_kafka_topic_partition_list_add(list, tp.topic, Int32(tp.partition)) }
            let err = rd_kafka_committed(handle.pointer, list, 10_000)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot read the committed offsets") }
            var result: [PartitionLag] = []
            for i in 0..<Int(list.pointee.cnt) {
                let e = list.pointee.elems[i]
                let tp = TopicPartition(String(cString: e.topic), Int(e.partition))
                var low: Int64 = 0, high: Int64 = 0
                let w = rd_kafka_query_watermark_offsets(handle.pointer, tp.topic, Int32(tp.partition), &low, &high, 10_000)
                guard w == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(w, "cannot read the offsets of \(tp)") }
                result.append(PartitionLag(topicPartition: TopicPartition(String(tp.topic.dropFirst(topicPrefix.count)), tp.partition),
                                           committed: e.offset >= 0 ? e.offset : nil, start: low, end: high))
            }
            return result
        }
    }

    // MARK: Reading a range

    /// Reads `topic`/`partition` from `offset` to the end with a plain assigned consumer (no
    /// group): the end is the high watermark of the fetch responses (librdkafka's partition EOF),
    /// exact even where a broker's ListOffsets answer is not.
    public func readRange(topic vigilTopic: String, partition: Int, from offset: Int64, _ body: (RecordView) throws -> Void) throws -> Int {
        let topic = topicPrefix + vigilTopic
        let what = "reading \(topic)/\(partition) from offset \(offset)"
        let handle = try Self.bridge(what) { () throws(KafkaError) -> KafkaHandle in
            let conf = try configuration.makeConf(defaults: [
                ("group.id", "vigil-range-reader"), ("enable.auto.commit", "false"), ("enable.auto.offset.store", "false"),
                ("enable.partition.eof", "true"), ("auto.offset.reset", "earliest"), ("allow.auto.create.topics", "false"),
            ])
            let handle = try KafkaHandle(type: RD_KAFKA_CONSUMER, conf: conf, context: nil, what: "range reader")
            rd_kafka_poll_set_consumer(handle.pointer)
            return handle
        }
        defer { rd_kafka_consumer_close(handle.pointer) }
        try Self.bridge(what) { () throws(KafkaError) in
            var low: Int64 = 0, high: Int64 = 0
            let w = rd_kafka_query_watermark_offsets(handle.pointer, topic, Int32(partition), &low, &high, 10_000)
            guard w == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(w, "cannot read the offsets") }
            let list = rd_kafka_topic_partition_list_new(1)!
            defer { rd_kafka_topic_partition_list_destroy(list) }
            rd_kafka_topic_partition_list_add(list, topic, Int32(partition)).pointee.offset = max(offset, low)
            let err = rd_kafka_assign(handle.pointer, list)
            guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot assign the partition") }
        }
        var delivered = 0
        var quiet = ContinuousClock.now
        while true {
            guard let message = rd_kafka_consumer_poll(handle.pointer, 200) else {
                if ContinuousClock.now - quiet > .seconds(30) {
                    throw BrokerError(.io, "kafka: \(what): no record and no end of partition within 30 s (is the broker reachable?)")
                }
                continue
            }
            defer { rd_kafka_message_destroy(message) }
            quiet = ContinuousClock.now
            let m = message.pointee
            if m.err == RD_KAFKA_RESP_ERR__PARTITION_EOF { return delivered }
            guard m.err == RD_KAFKA_RESP_ERR_NO_ERROR else {
                throw BrokerError(.io, "kafka: \(what): \(KafkaError(m.err, "fetch failed"))")
            }
            var type = RD_KAFKA_TIMESTAMP_NOT_AVAILABLE
            let ms = rd_kafka_message_timestamp(message, &type)
            let key = m.key.map { UnsafeRawBufferPointer(start: $0, count: m.key_len) }
            let value = UnsafeRawBufferPointer(start: m.payload, count: m.payload == nil ? 0 : m.len)
            try body(RecordView(partition: Int(m.partition), offset: m.offset, timestamp: ms >= 0 ? ms * 1_000_000 : -1,
                                key: key, value: value))
            delivered += 1
        }
    }
}

/// A Kafka producer for one topic, behind `TopicProducer` (sensors, the error publisher).
final class KafkaRecordProducer: RecordProducer {
    let topic: TopicMetadata
    let producer: KafkaProducer
    /// End offsets when the producer started (a lower bound: some brokers answer short).
    private var initialEnds: [Int64]

    /// The topic's name in Kafka.
    let kafkaTopic: String

    init(configuration: KafkaConfiguration, topic name: String, prefix: String) throws(BrokerError) {
        let kafkaTopic = prefix + name
        self.kafkaTopic = kafkaTopic
        (producer, topic, initialEnds) = try KafkaStageBroker.bridge("opening a producer for \(kafkaTopic)") { () throws(KafkaError) in
            let producer = try KafkaProducer(configuration: configuration)
            let n = try producer.partitionCount(topic: kafkaTopic)
            var ends: [Int64] = []
            for p in 0..<n { ends.append(try producer.watermarks(TopicPartition(kafkaTopic, p)).high) }
            return (producer, TopicMetadata(name: name, partitions: n), ends)
        }
    }

    var recoveries: [RecoveryReport] { [] }

    func send(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestamp: Int64) throws(BrokerError) -> Int {
        do {
            return try producer.produce(topic: kafkaTopic, key: key, value: value, timestamp: timestamp)
        } catch {
            throw BrokerError(.io, "kafka: producing to \(kafkaTopic): \(error)")
        }
    }

    func appendBuffered() throws(BrokerError) { producer.poll() }

    func flush() throws(BrokerError) -> [Int: Int64] {
        try KafkaStageBroker.bridge("flushing \(kafkaTopic)") { () throws(KafkaError) in try producer.flush() }
        var ends: [Int: Int64] = [:]
        for p in 0..<topic.partitions { ends[p] = writerDurableEnd(p) }
        return ends
    }

    func writerDurableEnd(_ p: Int) -> Int64 {
        max(producer.deliveredEnd(topic: kafkaTopic, partition: p) ?? 0, initialEnds[p])
    }

    func close() throws(BrokerError) { _ = try flush() }
}

/// One producer shared by a stream worker's output partitions.
final class KafkaAppenderSession: AppenderSession {
    let producer: KafkaProducer
    let prefix: String

    init(configuration: KafkaConfiguration, prefix: String) throws(BrokerError) {
        self.prefix = prefix
        producer = try KafkaStageBroker.bridge("opening the output producer") { () throws(KafkaError) in
            try KafkaProducer(configuration: configuration)
        }
    }

    func appender(topic vigilTopic: String, partition: Int) throws(BrokerError) -> any PartitionAppender {
        let topic = prefix + vigilTopic
        let start = try KafkaStageBroker.bridge("opening \(topic)/\(partition)") { () throws(KafkaError) in
            try producer.watermarks(TopicPartition(topic, partition)).high
        }
        return KafkaPartitionAppender(session: self, topic: topic, partition: partition, start: start)
    }

    func sync() throws(BrokerError) {
        try KafkaStageBroker.bridge("flushing the outputs") { () throws(KafkaError) in try producer.flush() }
    }

    func close() throws(BrokerError) { try sync() }
}

/// Produces to one partition through the session's producer.
final class KafkaPartitionAppender: PartitionAppender {
    let session: KafkaAppenderSession
    let topic: String
    let partition: Int
    /// The partition's end when it was opened (a lower bound).
    let start: Int64

    init(session: KafkaAppenderSession, topic: String, partition: Int, start: Int64) {
        self.session = session
        self.topic = topic
        self.partition = partition
        self.start = start
    }

    func append(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestamp: Int64) throws(BrokerError) {
        do {
            try session.producer.produce(topic: topic, partition: partition, key: key, value: value, timestamp: timestamp)
        } catch {
            throw BrokerError(.io, "kafka: producing to \(topic)/\(partition): \(error)")
        }
    }

    func appendBuffered() throws(BrokerError) { session.producer.poll() }

    func sync() throws(BrokerError) { try session.sync() }

    var endOffset: Int64 { max(start, session.producer.deliveredEnd(topic: topic, partition: partition) ?? 0) }

    func close() throws(BrokerError) { try sync() }
}

/// `KafkaGroupConsumer` as a stage's group consumer.
final class KafkaGroupRecordConsumer: RecordGroupConsumer {
    let consumer: KafkaGroupConsumer
    /// The topic prefix, taken off the names the stage sees.
    let prefix: String
    /// How long `poll` waits for a first record.
    var pollTimeout: Duration = .milliseconds(100)
    /// The records come over the network: no local pages to drop.
    var dropsReadPages: Bool {
        get { false }
        set {}
    }

    init(consumer: KafkaGroupConsumer, prefix: String) {
        self.consumer = consumer
        self.prefix = prefix
    }

    private func vigil(_ tp: TopicPartition) -> TopicPartition {
        TopicPartition(String(tp.topic.dropFirst(prefix.count)), tp.partition)
    }

    func poll(maxRecords: Int, _ body: (String, RecordView) throws -> Void) throws -> Int {
        try consumer.poll(maxRecords: maxRecords, timeout: pollTimeout) { r in
            try body(prefix.isEmpty ? r.topic : String(r.topic.dropFirst(prefix.count)), RecordView(partition: r.partition, offset: r.offset, timestamp: r.timestamp, key: r.key, value: r.value))
        }
    }

    func commit() throws(BrokerError) {
        try KafkaStageBroker.bridge("committing the offsets of group \(consumer.group)") { () throws(KafkaError) in
            do throws(KafkaError) {
                try consumer.commit()
            } catch {
                // The group is rebalancing (this member's generation is over): its partitions move
                // to other members, which resume at the offsets saved with the stage's
                // checkpoints, so a group commit refused now loses nothing.
                let rebalancing: [rd_kafka_resp_err_t] = [RD_KAFKA_RESP_ERR_ILLEGAL_GENERATION, RD_KAFKA_RESP_ERR_REBALANCE_IN_PROGRESS,
                                                         RD_KAFKA_RESP_ERR_UNKNOWN_MEMBER_ID, RD_KAFKA_RESP_ERR__STATE]
                if rebalancing.contains(where: { $0.rawValue == error.code }) { return }
                throw error
            }
        }
    }

    func currentAssignment() throws(BrokerError) -> [TopicPartition] {
        try KafkaStageBroker.bridge("reading the assignment") { () throws(KafkaError) in try consumer.assignment.map(vigil) }
    }

    var positions: [TopicPartition: Int64] {
        Dictionary(uniqueKeysWithValues: consumer.positions.map { (vigil($0.key), $0.value) })
    }

    /// The high watermark of the last fetch response; `Int64.max` (not at the end) while no
    /// fetch has returned yet, because some brokers' ListOffsets answers fall short of the end.
    func endOffset(_ tp: TopicPartition) throws(BrokerError) -> Int64? {
        var low: Int64 = -1, high: Int64 = -1
        let err = rd_kafka_get_watermark_offsets(consumer.handle.pointer, prefix + tp.topic, Int32(tp.partition), &low, &high)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, high >= 0 else { return Int64.max }
        return high
    }

    func lag() throws(BrokerError) -> [TopicPartition: Int64] {
        try KafkaStageBroker.bridge("reading the lag") { () throws(KafkaError) in
            Dictionary(uniqueKeysWithValues: try consumer.lag().map { (vigil($0.key), $0.value) })
        }
    }

    func close() throws(BrokerError) {
        do { try consumer.close() } catch {
            throw BrokerError(.io, "kafka: leaving group \(consumer.group): \(error)")
        }
    }
}
