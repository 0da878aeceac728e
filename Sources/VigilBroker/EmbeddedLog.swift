import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A topic's name and partition count.
public struct TopicMetadata: Sendable, Equatable {
    public var name: String
    public var partitions: Int
    public init(name: String, partitions: Int) { self.name = name; self.partitions = partitions }
}

/// The embedded broker: topics of N partitions under one data directory.
///
/// ```
/// <data>/topics/<topic>/topic.meta            partition count
/// <data>/topics/<topic>/<p>/<base>.log        segments, with .index and .timeindex
/// <data>/topics/<topic>/<p>/writer.lock       flock of the partition's single writer
/// <data>/groups/<group>/…                     consumer group members, owners, offsets
/// ```
///
/// Under the `.interval` fsync policy a flusher thread syncs every open writer each interval and
/// applies retention every 30 s.
///
/// `@unchecked Sendable`: `writers` is guarded by `lock`; everything else is immutable.
public final class EmbeddedLog: @unchecked Sendable {
    public let dataDirectory: String
    public let configuration: LogConfiguration
    private let lock = NSLock()
    private var writers: [PartitionWriter] = []
    private var flusher: Thread?
    private var stopping = false
    /// Recovery reports of the writers opened so far.
    public private(set) var recoveries: [RecoveryReport] = []

    /// Opens the data directory, creating it (mode 0700) if missing; fails clearly when it cannot
    /// be created or written.
    public init(dataDirectory: String, configuration: LogConfiguration = LogConfiguration()) throws(BrokerError) {
        self.dataDirectory = dataDirectory
        self.configuration = configuration
        if FileSystem.exists(dataDirectory) && !FileSystem.isDirectory(dataDirectory) {
            throw BrokerError(.invalidArgument, "data directory \(dataDirectory) exists and is not a directory")
        }
        try FileSystem.makeDirectories("\(dataDirectory)/topics")
        if access(dataDirectory, W_OK) != 0 || access("\(dataDirectory)/topics", W_OK) != 0 {
            throw BrokerError.posix("data directory is not writable:", path: dataDirectory)
        }
        if case .interval(let ms) = configuration.fsync {
            let thread = Thread { [weak self] in self?.flushLoop(milliseconds: ms) }
            thread.name = "vigil-log-flusher"
            flusher = thread
            thread.start()
        }
    }

    /// Opens an existing data directory read-only (no directories are created).
    public init(readingFrom dataDirectory: String) throws(BrokerError) {
        self.dataDirectory = dataDirectory
        self.configuration = LogConfiguration()
        guard FileSystem.isDirectory("\(dataDirectory)/topics") else {
            throw BrokerError(.notFound, "no Vigil data in \(dataDirectory) (missing topics/)")
        }
    }

    deinit { close() }

    /// Stops the flusher and closes every writer this log opened (flushing them).
    public func close() {
        let open: [PartitionWriter] = lock.withLock {
            stopping = true
            defer { writers.removeAll(); shared.removeAll() }
            return writers
        }
        for writer in open { try? writer.close() }
    }

    private func flushLoop(milliseconds: Int) {
        var lastRetention = PartitionWriter.nowNanoseconds()
        while true {
            usleep(useconds_t(max(1, milliseconds) * 1000))
            let (stop, open) = lock.withLock { (stopping, writers) }
            if stop { return }
            for writer in open { try? writer.sync() }
            let now = PartitionWriter.nowNanoseconds()
            if now - lastRetention > 30_000_000_000 {
                lastRetention = now
                for writer in open { try? writer.applyRetention(now: now) }
            }
        }
    }

    // MARK: Topics

    public static func validateTopicName(_ name: String) throws(BrokerError) {
        let ok = !name.isEmpty && name.utf8.count <= 200 && name != "." && name != ".."
            && name.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2E || $0 == 0x5F || $0 == 0x2D }
        if !ok { throw BrokerError(.invalidArgument, "invalid topic name '\(name)': use 1–200 of A–Z a–z 0–9 . _ -") }
    }

    func topicDirectory(_ name: String) -> String { "\(dataDirectory)/topics/\(name)" }

    public func partitionDirectory(topic: String, partition: Int) -> String { "\(topicDirectory(topic))/\(partition)" }

    /// Creates a topic, or returns the existing one. Asking for a different partition count than
    /// an existing topic has is an error (partitions are never re-keyed silently).
    @discardableResult
    public func createTopic(_ name: String, partitions: Int? = nil) throws(BrokerError) -> TopicMetadata {
        try Self.validateTopicName(name)
        if let existing = try? topic(name) {
            if let partitions, partitions != existing.partitions {
                throw BrokerError(.alreadyExists, "topic \(name) exists with \(existing.partitions) partitions, not \(partitions)")
            }
            return existing
        }
        let count = partitions ?? configuration.defaultPartitions
        guard (1...4096).contains(count) else {
            throw BrokerError(.invalidArgument, "topic \(name): partitions must be 1…4096, not \(count)")
        }
        let dir = topicDirectory(name)
        try FileSystem.makeDirectories(dir)
        for p in 0..<count {
            try FileSystem.makeDirectories("\(dir)/\(p)")
            // An empty first segment, so readers find the partition before any writer opens it.
            _ = try FileDescriptor(path: SegmentFiles.log("\(dir)/\(p)", 0), flags: O_WRONLY | O_CREAT)
            try FileSystem.syncDirectory("\(dir)/\(p)")
        }
        try FileSystem.writeAtomically(Array("version=1\npartitions=\(count)\n".utf8), to: "\(dir)/topic.meta")
        try FileSystem.syncDirectory("\(dataDirectory)/topics")
        return TopicMetadata(name: name, partitions: count)
    }

    public func topic(_ name: String) throws(BrokerError) -> TopicMetadata {
        try Self.validateTopicName(name)
        let path = "\(topicDirectory(name))/topic.meta"
        guard FileSystem.exists(path) else { throw BrokerError(.notFound, "no topic named \(name) in \(dataDirectory)") }
        let text = String(decoding: try FileSystem.readAll(path), as: UTF8.self)
        for line in text.split(separator: "\n") where line.hasPrefix("partitions=") {
            if let n = Int(line.dropFirst("partitions=".count)), n > 0 { return TopicMetadata(name: name, partitions: n) }
        }
        throw BrokerError(.corrupt, "topic metadata \(path) is damaged (no partitions= line)")
    }

    public func topics() throws(BrokerError) -> [TopicMetadata] {
        var result: [TopicMetadata] = []
        for name in try FileSystem.list("\(dataDirectory)/topics").sorted() {
            if let t = try? topic(name) { result.append(t) }
        }
        return result
    }

    // MARK: Writers and readers

    /// Opens the single writer of a partition (fails if another process holds it).
    public func openWriter(topic: String, partition: Int, repair: Bool = false) throws(BrokerError) -> PartitionWriter {
        let meta = try self.topic(topic)
        guard (0..<meta.partitions).contains(partition) else {
            throw BrokerError(.invalidArgument, "topic \(topic) has partitions 0…\(meta.partitions - 1), not \(partition)")
        }
        let writer = try PartitionWriter(topic: topic, partition: partition,
                                         directory: partitionDirectory(topic: topic, partition: partition),
                                         configuration: configuration, repair: repair)
        lock.withLock {
            writers.append(writer)
            if let r = writer.recovery { recoveries.append(r) }
        }
        return writer
    }

    /// Producers of this process on a partition, sharing its one writer (the writer serializes
    /// their appends), keyed by "topic/partition".
    private var shared: [String: (writer: PartitionWriter, users: Int)] = [:]

    /// The partition's writer shared by this process's producers: opened on first use, closed
    /// when the last producer using it closes.
    func sharedWriter(topic: String, partition: Int) throws(BrokerError) -> PartitionWriter {
        let key = "\(topic)/\(partition)"
        if let writer = lock.withLock({ () -> PartitionWriter? in
            guard let entry = shared[key] else { return nil }
            shared[key] = (entry.writer, entry.users + 1)
            return entry.writer
        }) { return writer }
        let writer = try openWriter(topic: topic, partition: partition)
        lock.withLock { shared[key] = (writer, 1) }
        return writer
    }

    /// Gives back a writer a producer used; closes it when no producer uses it any more.
    func release(_ writer: PartitionWriter) throws(BrokerError) {
        let key = "\(writer.topic)/\(writer.partition)"
        let last: Bool = lock.withLock {
            guard let entry = shared[key], entry.writer === writer else { return true }
            if entry.users > 1 { shared[key] = (writer, entry.users - 1); return false }
            shared[key] = nil
            return true
        }
        guard last else { return }
        try writer.close()
        lock.withLock { writers.removeAll { $0 === writer } }
    }

    public func openReader(topic: String, partition: Int) throws(BrokerError) -> PartitionReader {
        let meta = try self.topic(topic)
        guard (0..<meta.partitions).contains(partition) else {
            throw BrokerError(.invalidArgument, "topic \(topic) has partitions 0…\(meta.partitions - 1), not \(partition)")
        }
        return try PartitionReader(topic: topic, partition: partition,
                                   directory: partitionDirectory(topic: topic, partition: partition))
    }

    /// A producer for every partition of `topic` (creating the topic with the default count).
    /// Producers of one process share each partition's writer, so several sensors can feed one
    /// topic; another process writing the topic makes this fail with `.locked`.
    public func producer(topic: String) throws(BrokerError) -> TopicProducer {
        let meta = try createTopic(topic)
        var writers: [PartitionWriter] = []
        for p in 0..<meta.partitions { writers.append(try sharedWriter(topic: topic, partition: p)) }
        return TopicProducer(log: self, topic: meta, writers: writers)
    }
}

/// Sends keyed records to a topic's partitions in batches, one writer per partition.
///
/// `send` only buffers; `flush` appends one batch per partition and returns when every record is
/// acknowledged, that is durable under the log's fsync policy.
///
/// A producer made with ``init(forwardingTo:)`` hands every call to another ``RecordProducer``
/// (a Kafka producer), so sensors hold this one type whatever the broker; on the embedded log the
/// only cost is one test of an optional per call.
///
/// Not thread-safe: one producer per thread.
public final class TopicProducer {
    public let topic: TopicMetadata
    let log: EmbeddedLog?
    let writers: [PartitionWriter]
    /// Set when another broker carries the records.
    let remote: (any RecordProducer)?
    private var builders: [BatchBuilder]
    private var roundRobin = 0
    /// End offsets appended but not yet waited for, by partition.
    private var unacknowledged: [Int: Int64] = [:]
    /// Flush automatically when a partition's batch grows past this many bytes.
    public var batchBytes = 1 << 20

    init(log: EmbeddedLog, topic: TopicMetadata, writers: [PartitionWriter]) {
        self.log = log
        self.topic = topic
        self.writers = writers
        remote = nil
        builders = Array(repeating: BatchBuilder(capacity: 0), count: writers.count)
    }

    /// A producer that forwards every call to `remote`.
    public init(forwardingTo remote: any RecordProducer) {
        self.remote = remote
        topic = remote.topic
        log = nil
        writers = []
        builders = []
    }

    /// Recovery reports of this topic's partitions.
    public var recoveries: [RecoveryReport] { remote?.recoveries ?? writers.compactMap(\.recovery) }

    /// The partition a key goes to; records without a key are spread round-robin.
    @inlinable public func partition(for key: UnsafeRawBufferPointer?) -> Int {
        guard let key else { return -1 }
        return Partitioner.partition(for: key, count: topic.partitions)
    }

    /// Buffers one record; returns its partition.
    @discardableResult
    public func send(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestamp: Int64) throws(BrokerError) -> Int {
        if let remote { return try remote.send(key: key, value: value, timestamp: timestamp) }
        var p = partition(for: key)
        if p < 0 {
            p = roundRobin
            roundRobin = (roundRobin + 1) % topic.partitions
        }
        builders[p].append(key: key, value: value, timestamp: timestamp)
        if builders[p].byteCount >= batchBytes {
            unacknowledged[p] = try writers[p].append(&builders[p]).lastOffset + 1
        }
        return p
    }

    @discardableResult
    public func send(key: [UInt8]?, value: [UInt8], timestamp: Int64) throws(BrokerError) -> Int {
        let result: Result<Int, BrokerError> = value.withUnsafeBytes { v in
            if let key {
                return key.withUnsafeBytes { k in Result { () throws(BrokerError) in try send(key: k, value: v, timestamp: timestamp) } }
            }
            return Result { () throws(BrokerError) in try send(key: nil, value: v, timestamp: timestamp) }
        }
        return try result.get()
    }

    /// Appends every buffered record to its partition without waiting for durability, so the
    /// caller can go on producing while the log's fsync runs; the next ``flush()`` waits for
    /// these records too.
    public func appendBuffered() throws(BrokerError) {
        if let remote { return try remote.appendBuffered() }
        for p in builders.indices where !builders[p].isEmpty {
            unacknowledged[p] = try writers[p].append(&builders[p]).lastOffset + 1
        }
    }

    /// Appends every buffered record and waits until all are acknowledged (durable under the
    /// fsync policy). Returns the end offset of each partition written.
    @discardableResult
    public func flush() throws(BrokerError) -> [Int: Int64] {
        if let remote { return try remote.flush() }
        try appendBuffered()
        let ends = unacknowledged
        for (p, end) in ends { try writers[p].waitDurable(end) }
        unacknowledged.removeAll(keepingCapacity: true)
        return ends
    }

    /// One past the last durable offset of partition `p`.
    public func writerDurableEnd(_ p: Int) -> Int64 { remote?.writerDurableEnd(p) ?? writers[p].durableEndOffset }

    /// Flushes, then closes the partition writers.
    public func close() throws(BrokerError) {
        if let remote { return try remote.close() }
        try flush()
        for w in writers { try log!.release(w) }
    }
}
