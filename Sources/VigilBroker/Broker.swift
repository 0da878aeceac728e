import VigilCore

// What the pipeline's stages need from a broker, so the same stage code runs on the embedded log
// (this module) or on Kafka (VigilKafka implements these protocols; this module does not depend
// on it). The embedded types conform directly, so the embedded path keeps its concrete types:
// sensors hold a `TopicProducer` (which forwards to another `RecordProducer` only when built
// with ``TopicProducer/init(forwardingTo:)``), and the stream stage calls its consumer once per
// batch of records, not per record.

/// Creates and describes topics.
public protocol TopicAdmin: AnyObject {
    /// Creates `name` with `partitions` partitions (nil: the broker's default), or returns the
    /// existing topic; an existing topic with another partition count is an error.
    @discardableResult
    func createTopic(_ name: String, partitions: Int?) throws(BrokerError) -> TopicMetadata
    /// The topic's metadata; nil when it does not exist.
    func describeTopic(_ name: String) throws(BrokerError) -> TopicMetadata?
}

/// Sends keyed records to the partitions of one topic.
///
/// `send` may buffer; `flush` returns once every record sent so far is acknowledged (durable
/// under the embedded log's fsync policy, or acknowledged by all in-sync Kafka replicas).
/// Not thread-safe: one producer per thread.
public protocol RecordProducer: AnyObject {
    var topic: TopicMetadata { get }
    /// Buffers one record; returns its partition (keyed: murmur2 of the key, as Kafka; unkeyed:
    /// round-robin).
    @discardableResult
    func send(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestamp: Int64) throws(BrokerError) -> Int
    /// Hands buffered records to the broker without waiting for their acknowledgement.
    func appendBuffered() throws(BrokerError)
    /// Waits until every record sent is acknowledged; returns the end offset of each partition
    /// written since the last flush.
    @discardableResult
    func flush() throws(BrokerError) -> [Int: Int64]
    /// A lower bound of one past the last acknowledged offset of partition `p`: every record
    /// this producer had acknowledged is before it.
    func writerDurableEnd(_ p: Int) -> Int64
    /// Torn tails the embedded log repaired when the producer opened its partitions.
    var recoveries: [RecoveryReport] { get }
    /// Flushes and releases the producer.
    func close() throws(BrokerError)
}

/// A member of a consumer group (the embedded ``GroupConsumer`` or a Kafka consumer group).
///
/// The assignment hooks are given when the member is made (``StageBroker/groupConsumer(group:topics:resetPosition:onAssign:onRevoke:)``)
/// and run inside `poll` and `close`. Not thread-safe: one consumer per thread.
public protocol RecordGroupConsumer: AnyObject {
    /// Delivers up to `maxRecords` records (topic and record view, valid only inside `body`).
    /// Returns 0 when nothing is available now (after a short wait on a remote broker).
    @discardableResult
    func poll(maxRecords: Int, _ body: (String, RecordView) throws -> Void) throws -> Int
    /// Commits the position of every owned partition (everything delivered so far).
    func commit() throws(BrokerError)
    /// The partitions this member owns now.
    func currentAssignment() throws(BrokerError) -> [TopicPartition]
    /// The next offset to deliver of each owned partition.
    var positions: [TopicPartition: Int64] { get }
    /// One past the last record of an owned partition; nil when not owned. A remote broker that
    /// has not fetched the partition yet answers `Int64.max` (not at the end).
    func endOffset(_ tp: TopicPartition) throws(BrokerError) -> Int64?
    /// Records not yet delivered, per owned partition.
    func lag() throws(BrokerError) -> [TopicPartition: Int64]
    /// Gives the partitions up (running the revoke hook and committing) and leaves the group.
    func close() throws(BrokerError)
    /// Whether the pages of the topics' files that were read are dropped from the page cache
    /// (``PartitionReader/dropsReadPages``), when the broker reads local files; for a consumer
    /// that is its topics' only reader. A remote broker ignores it.
    var dropsReadPages: Bool { get set }
}

/// Reads a range of one partition: what a stage wrote to its outputs after its checkpoint.
public protocol PartitionRangeReading: AnyObject {
    /// Delivers the records of `topic`/`partition` from `offset` (from the earliest one kept
    /// when retention deleted it) to the end of the partition as of the call. Returns how many
    /// were delivered.
    @discardableResult
    func readRange(topic: String, partition: Int, from offset: Int64, _ body: (RecordView) throws -> Void) throws -> Int
}

/// Appends records to one partition that one stage owner writes (a stream worker's outputs for
/// the input partition it owns). Not thread-safe.
public protocol PartitionAppender: AnyObject {
    var topic: String { get }
    var partition: Int { get }
    /// Buffers one record.
    func append(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestamp: Int64) throws(BrokerError)
    /// Hands buffered records to the broker without waiting.
    func appendBuffered() throws(BrokerError)
    /// Waits until every appended record is acknowledged.
    func sync() throws(BrokerError)
    /// One past the last acknowledged record: after ``sync()``, everything appended is before it.
    var endOffset: Int64 { get }
    /// Syncs and lets the partition go.
    func close() throws(BrokerError)
}

/// Makes a thread's ``PartitionAppender``s (on Kafka they share one producer). Not thread-safe.
public protocol AppenderSession: AnyObject {
    func appender(topic: String, partition: Int) throws(BrokerError) -> any PartitionAppender
    /// Releases what the session holds (after its appenders are closed).
    func close() throws(BrokerError)
}

/// A broker a stage runs on: the embedded log or a Kafka cluster.
public protocol StageBroker: TopicAdmin, PartitionRangeReading, Sendable {
    /// `embedded` or `kafka`, for messages.
    var kind: String { get }
    /// A producer for every partition of `topic`.
    func producer(topic: String) throws(BrokerError) -> TopicProducer
    /// Joins `group` for `topics`. `onAssign` says where a newly owned partition starts (nil: the
    /// group's committed offset, else `resetPosition`); `onRevoke` hears the next offset before
    /// a partition is given up.
    func groupConsumer(group: String, topics: [String], resetPosition: StartPosition,
                       onAssign: @escaping GroupConsumer.AssignHandler,
                       onRevoke: @escaping GroupConsumer.RevokeHandler) throws(BrokerError) -> any RecordGroupConsumer
    /// Appenders for one thread.
    func appenderSession() throws(BrokerError) -> any AppenderSession
    /// Committed against end offsets for every partition of `topics`.
    func groupLag(group: String, topics: [String]) throws(BrokerError) -> [PartitionLag]
    /// Where a stream worker starts a partition for which it has no checkpoint: nil = the group's
    /// committed offset (the embedded log keeps checkpoints and offsets in one data directory);
    /// `.earliest` on Kafka, whose committed offsets may come from a checkpoint on another host.
    var startWithoutCheckpoint: StartPosition? { get }
    /// The embedded log itself, when this is one (enrichment topic feeds read it directly).
    var embeddedLog: EmbeddedLog? { get }
}

// MARK: The embedded log's conformances

extension EmbeddedLog: StageBroker {
    public var kind: String { "embedded" }

    public func describeTopic(_ name: String) throws(BrokerError) -> TopicMetadata? {
        do { return try topic(name) } catch where error.code == .notFound { return nil }
    }

    public func groupConsumer(group: String, topics: [String], resetPosition: StartPosition,
                              onAssign: @escaping GroupConsumer.AssignHandler,
                              onRevoke: @escaping GroupConsumer.RevokeHandler) throws(BrokerError) -> any RecordGroupConsumer {
        try GroupConsumer(log: self, group: group, topics: topics, resetPosition: resetPosition, onAssign: onAssign, onRevoke: onRevoke)
    }

    public func appenderSession() throws(BrokerError) -> any AppenderSession { EmbeddedAppenderSession(log: self) }

    public func groupLag(group: String, topics: [String]) throws(BrokerError) -> [PartitionLag] {
        try lag(group: group, topics: topics)
    }

    /// Positions `reader` at `offset`: at the earliest record when retention deleted it, at the
    /// end when `offset` is past it.
    static func seek(_ reader: PartitionReader, to offset: Int64) throws(BrokerError) {
        var outOfRange = false
        do {
            try reader.seek(.offset(offset))
        } catch {
            guard error.code == .offsetOutOfRange else { throw error }
            outOfRange = true
        }
        guard outOfRange else { return }
        try reader.seek(.earliest)
        if reader.position < offset { try reader.seek(.latest) }
    }

    public var startWithoutCheckpoint: StartPosition? { nil }
    public var embeddedLog: EmbeddedLog? { self }

    public func readRange(topic: String, partition: Int, from offset: Int64, _ body: (RecordView) throws -> Void) throws -> Int {
        let reader = try openReader(topic: topic, partition: partition)
        try Self.seek(reader, to: offset)
        var total = 0
        while true {
            let n = try reader.read(maxRecords: 4096, body)
            if n == 0 { return total }
            total += n
        }
    }
}

extension GroupConsumer: RecordGroupConsumer {
    public func currentAssignment() throws(BrokerError) -> [TopicPartition] { assignment }

    public func lag() throws(BrokerError) -> [TopicPartition: Int64] {
        var result: [TopicPartition: Int64] = [:]
        for (tp, position) in positions { result[tp] = max(0, (try endOffset(tp) ?? position) - position) }
        return result
    }
}

extension TopicProducer: RecordProducer {}

/// The embedded log's appenders: a partition writer and a batch per partition.
final class EmbeddedAppenderSession: AppenderSession {
    let log: EmbeddedLog
    init(log: EmbeddedLog) { self.log = log }
    func appender(topic: String, partition: Int) throws(BrokerError) -> any PartitionAppender {
        EmbeddedPartitionAppender(writer: try log.openWriter(topic: topic, partition: partition))
    }
    func close() throws(BrokerError) {}
}

/// Buffers records in a batch and appends it to the partition's single writer.
public final class EmbeddedPartitionAppender: PartitionAppender {
    public let writer: PartitionWriter
    private var batch = BatchBuilder(capacity: 16 << 10)

    public init(writer: PartitionWriter) { self.writer = writer }

    public var topic: String { writer.topic }
    public var partition: Int { writer.partition }

    public func append(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestamp: Int64) throws(BrokerError) {
        batch.append(key: key, value: value, timestamp: timestamp)
    }

    public func appendBuffered() throws(BrokerError) {
        if !batch.isEmpty { try writer.append(&batch) }
    }

    public func sync() throws(BrokerError) {
        try appendBuffered()
        try writer.sync()
    }

    public var endOffset: Int64 { writer.endOffset }

    public func close() throws(BrokerError) {
        try sync()
        try writer.close()
    }
}
