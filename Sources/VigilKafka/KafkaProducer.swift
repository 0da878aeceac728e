import CRdKafka
import VigilBroker

/// Produces records to Kafka with `acks=all` and idempotence (no duplicates or reordering on
/// retries), putting keyed records on the partition Vigil's embedded broker would choose.
///
/// Records are copied into librdkafka's bounded local queue and sent in batches by its threads.
/// When the queue is full, `produce` serves delivery reports and waits (backpressure) instead of
/// dropping; it gives up with `_QUEUE_FULL` only after `blockTimeout`. Every record ends up in
/// `statistics` as delivered or failed (with librdkafka's reason), and `flush` throws when any
/// record failed since the last flush.
///
/// Not thread-safe: use one producer per thread. Call `flush` before dropping a producer:
/// records still queued then are not delivered.
public final class KafkaProducer {
    /// Delivery outcomes since the producer was created.
    public struct Statistics: Sendable, Equatable {
        /// Records the brokers acknowledged (by all in-sync replicas).
        public var delivered = 0
        /// Records that failed for good (librdkafka retried them until `delivery.timeout.ms`).
        public var failed = 0
        /// Failed records by librdkafka's error name.
        public var failuresByReason: [String: Int] = [:]
        /// The most recent failure.
        public var lastFailure: KafkaError?
        /// Times `produce` found the local queue full and waited for deliveries.
        public var queueFullWaits = 0
    }

    /// Vigil's producer defaults; `KafkaConfiguration.properties` override them.
    public static let defaults: [(String, String)] = [
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("linger.ms", "5"),
        // The bounded in-flight queue: produce blocks (backpressure) when it is full.
        ("queue.buffering.max.messages", "100000"),
        ("queue.buffering.max.kbytes", "65536"),
        // Topics are created explicitly (KafkaAdmin) with the partition count Vigil expects.
        ("allow.auto.create.topics", "false"),
    ]

    /// Delivery reports, written by the delivery callback. The callback runs only inside
    /// `rd_kafka_poll`/`rd_kafka_flush`, which this producer calls on its own thread.
    final class Reports {
        struct PartitionKey: Hashable {
            let topic: UInt
            let partition: Int32
        }
        var statistics = Statistics()
        var failedAtLastFlush = 0
        /// One past the highest acknowledged offset, by topic handle and partition.
        var deliveredEnds: [PartitionKey: Int64] = [:]
    }

    private struct TopicEntry {
        let name: String
        let rkt: OpaquePointer
        let partitions: Int
        var nextUnkeyed = 0
    }

    public let configuration: KafkaConfiguration
    /// How long `produce` waits for room in a full queue before throwing `_QUEUE_FULL`.
    public var blockTimeout: Duration = .seconds(60)
    private let handle: KafkaHandle
    private let reports: Reports
    private var topics: [TopicEntry] = []
    private var lastTopic = -1
    private var sinceServe = 0
    private let vus: UnsafeMutablePointer<rd_kafka_vu_t>

    public init(configuration: KafkaConfiguration) throws(KafkaError) {
        self.configuration = configuration
        let conf = try configuration.makeConf(defaults: Self.defaults)
        rd_kafka_conf_set_dr_msg_cb(conf) { _, message, opaque in
            guard let message, let opaque else { return }
            let reports = Unmanaged<Reports>.fromOpaque(opaque).takeUnretainedValue()
            let err = message.pointee.err
            if err == RD_KAFKA_RESP_ERR_NO_ERROR {
                reports.statistics.delivered += 1
                // The per-message opaque is the producer's topic index + 1 (no string per record).
                let key = Reports.PartitionKey(topic: UInt(bitPattern: message.pointee._private), partition: message.pointee.partition)
                let end = message.pointee.offset + 1
                if end > reports.deliveredEnds[key, default: 0] { reports.deliveredEnds[key] = end }
            } else {
                reports.statistics.failed += 1
                let e = KafkaError(err, "delivery to \(string(rd_kafka_topic_name(message.pointee.rkt)))/\(message.pointee.partition) failed")
                reports.statistics.failuresByReason[e.name, default: 0] += 1
                reports.statistics.lastFailure = e
            }
        }
        let reports = Reports()
        self.reports = reports
        handle = try KafkaHandle(type: RD_KAFKA_PRODUCER, conf: conf, context: reports, what: "producer")
        vus = .allocate(capacity: 7)
        vus.initialize(repeating: rd_kafka_vu_t(), count: 7)
    }

    deinit {
        for t in topics { rd_kafka_topic_destroy(t.rkt) }
        vus.deallocate()
    }

    /// Delivery outcomes so far (served by `produce`, `poll` and `flush`).
    public var statistics: Statistics { reports.statistics }

    /// One past the highest offset the broker acknowledged for a record of this producer on
    /// `topic`/`partition`; nil when none was (delivery reports are served by `produce`, `poll`
    /// and `flush`).
    public func deliveredEnd(topic: String, partition: Int) -> Int64? {
        guard let t = topics.firstIndex(where: { $0.name == topic }) else { return nil }
        return reports.deliveredEnds[Reports.PartitionKey(topic: UInt(t + 1), partition: Int32(partition))]
    }

    /// The low and high watermarks of a partition, asked of the broker.
    public func watermarks(_ tp: TopicPartition, timeout: Duration = .seconds(10)) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0, high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle.pointer, tp.topic, Int32(tp.partition), &low, &high, milliseconds(timeout))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot read the offsets of \(tp)") }
        return (low, high)
    }

    /// Records produced but not yet acknowledged or failed.
    public var inFlight: Int { Int(rd_kafka_outq_len(handle.pointer)) }

    /// The partition count of `topic` as this producer uses it (read once from the metadata).
    public func partitionCount(topic: String) throws(KafkaError) -> Int {
        topics[try entry(topic)].partitions
    }

    /// The partition a keyed record of `topic` goes to: Kafka's murmur2, as in the embedded broker.
    public func partition(for key: UnsafeRawBufferPointer, topic: String) throws(KafkaError) -> Int {
        Partitioner.partition(for: key, count: try partitionCount(topic: topic))
    }

    private func entry(_ topic: String) throws(KafkaError) -> Int {
        if lastTopic >= 0, topics[lastTopic].name == topic { return lastTopic }
        if let i = topics.firstIndex(where: { $0.name == topic }) { lastTopic = i; return i }
        return try openTopic(topic)
    }

    @inline(never)
    private func openTopic(_ topic: String) throws(KafkaError) -> Int {
        guard let count = try handle.partitionCount(topic: topic, timeout: .seconds(10)) else {
            throw KafkaError(code: KafkaError.unknownTopicOrPartition,
                             message: "topic '\(topic)' does not exist: create it first (KafkaAdmin.createTopic)")
        }
        guard let rkt = rd_kafka_topic_new(handle.pointer, topic, nil) else {
            throw KafkaError(rd_kafka_last_error(), "cannot open topic '\(topic)'")
        }
        topics.append(TopicEntry(name: topic, rkt: rkt, partitions: count))
        lastTopic = topics.count - 1
        return lastTopic
    }

    /// Queues one record; returns its partition. `partition` nil puts a keyed record where the
    /// embedded broker would (murmur2 of the key) and spreads unkeyed records round-robin.
    /// `timestamp` is in nanoseconds since the epoch (Kafka keeps milliseconds); nil is now.
    ///
    /// Key and value are copied: the buffers may be reused as soon as this returns.
    @discardableResult
    public func produce(topic: String, partition: Int? = nil, key: UnsafeRawBufferPointer?,
                        value: UnsafeRawBufferPointer, timestamp: Int64? = nil) throws(KafkaError) -> Int {
        let t = try entry(topic)
        let p: Int
        if let partition {
            guard partition >= 0, partition < topics[t].partitions else {
                throw KafkaError(code: RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION.rawValue,
                                 message: "topic '\(topic)' has no partition \(partition) (it has \(topics[t].partitions))")
            }
            p = partition
        } else if let key {
            p = Partitioner.partition(for: key, count: topics[t].partitions)
        } else {
            p = topics[t].nextUnkeyed
            topics[t].nextUnkeyed = (p + 1) % topics[t].partitions
        }
        var n = 0
        vus[n].vtype = RD_KAFKA_VTYPE_RKT; vus[n].u.rkt = topics[t].rkt; n += 1
        vus[n].vtype = RD_KAFKA_VTYPE_PARTITION; vus[n].u.i32 = Int32(p); n += 1
        vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS; vus[n].u.i = RD_KAFKA_MSG_F_COPY; n += 1
        vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE; vus[n].u.ptr = UnsafeMutableRawPointer(bitPattern: UInt(t + 1)); n += 1
        vus[n].vtype = RD_KAFKA_VTYPE_VALUE
        vus[n].u.mem.ptr = UnsafeMutableRawPointer(mutating: value.baseAddress); vus[n].u.mem.size = value.count; n += 1
        if let key {
            vus[n].vtype = RD_KAFKA_VTYPE_KEY
            vus[n].u.mem.ptr = UnsafeMutableRawPointer(mutating: key.baseAddress); vus[n].u.mem.size = key.count; n += 1
        }
        if let timestamp {
            vus[n].vtype = RD_KAFKA_VTYPE_TIMESTAMP; vus[n].u.i64 = timestamp / 1_000_000; n += 1
        }
        if let error = rd_kafka_produceva(handle.pointer, vus, n) {
            try retry(error, count: n, topic: topic, partition: p)
        }
        sinceServe += 1
        if sinceServe >= 512 {
            sinceServe = 0
            rd_kafka_poll(handle.pointer, 0)  // delivery reports
        }
        return p
    }

    /// Queue full: serve delivery reports (which frees room) and try again until `blockTimeout`.
    @inline(never)
    private func retry(_ first: OpaquePointer, count n: Int, topic: String, partition: Int) throws(KafkaError) {
        var error: OpaquePointer? = first
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: blockTimeout)
        while let e = error {
            guard rd_kafka_error_code(e) == RD_KAFKA_RESP_ERR__QUEUE_FULL else {
                if let fatal = handle.fatalError() { rd_kafka_error_destroy(e); throw fatal }
                throw KafkaError(consuming: e, "cannot produce to \(topic)/\(partition)")
            }
            rd_kafka_error_destroy(e)
            guard clock.now < deadline else {
                throw KafkaError(code: KafkaError.queueFull,
                                 message: "cannot produce to \(topic)/\(partition): the local queue stayed full for \(blockTimeout) (\(inFlight) records in flight; is the broker reachable?)")
            }
            reports.statistics.queueFullWaits += 1
            rd_kafka_poll(handle.pointer, 10)
            error = rd_kafka_produceva(handle.pointer, vus, n)
        }
    }

    /// `produce` with arrays.
    @discardableResult
    public func produce(topic: String, partition: Int? = nil, key: [UInt8]?, value: [UInt8],
                        timestamp: Int64? = nil) throws(KafkaError) -> Int {
        var result: Result<Int, KafkaError> = .success(0)
        value.withUnsafeBytes { v in
            guard let key else {
                result = Result { () throws(KafkaError) in try produce(topic: topic, partition: partition, key: nil, value: v, timestamp: timestamp) }
                return
            }
            key.withUnsafeBytes { k in
                result = Result { () throws(KafkaError) in try produce(topic: topic, partition: partition, key: k, value: v, timestamp: timestamp) }
            }
        }
        return try result.get()
    }

    /// Serves delivery reports, waiting up to `timeout` for one. Returns the number served.
    @discardableResult
    public func poll(timeout: Duration = .zero) -> Int {
        Int(rd_kafka_poll(handle.pointer, milliseconds(timeout)))
    }

    /// Waits until every queued record is delivered or failed. Throws `_TIMED_OUT` when records
    /// are still in flight after `timeout`, and the last failure when any record failed since
    /// the previous flush (counts in `statistics`).
    public func flush(timeout: Duration = .seconds(30)) throws(KafkaError) {
        let err = rd_kafka_flush(handle.pointer, milliseconds(timeout))
        if err == RD_KAFKA_RESP_ERR__TIMED_OUT {
            throw KafkaError(code: KafkaError.timedOut,
                             message: "\(inFlight) records still not delivered after \(timeout) (is the broker reachable?)")
        } else if err != RD_KAFKA_RESP_ERR_NO_ERROR {
            throw KafkaError(err, "cannot flush the producer")
        }
        let failed = reports.statistics.failed - reports.failedAtLastFlush
        reports.failedAtLastFlush = reports.statistics.failed
        if failed > 0, var last = reports.statistics.lastFailure {
            last.message = "\(failed) records failed since the last flush; last: \(last.message)"
            throw last
        }
    }
}
