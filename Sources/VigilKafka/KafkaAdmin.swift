import CRdKafka
import VigilBroker

/// Topic administration: creating topics with a partition count and reading it back.
///
/// Not thread-safe: use one admin client per thread.
public final class KafkaAdmin {
    public let configuration: KafkaConfiguration
    private let handle: KafkaHandle

    public init(configuration: KafkaConfiguration) throws(KafkaError) {
        self.configuration = configuration
        // Reading a topic's metadata must not create it.
        let conf = try configuration.makeConf(defaults: [("allow.auto.create.topics", "false")])
        handle = try KafkaHandle(type: RD_KAFKA_PRODUCER, conf: conf, context: nil, what: "admin client")
    }

    /// Creates `topic` with `partitions` partitions. Returns false when it already existed
    /// (whatever its partition count: check it with `partitionCount(topic:)`).
    @discardableResult
    public func createTopic(_ topic: String, partitions: Int, replicationFactor: Int = 1,
                            timeout: Duration = .seconds(30)) throws(KafkaError) -> Bool {
        try createTopics([topic], partitions: partitions, replicationFactor: replicationFactor, timeout: timeout)[topic]!
    }

    /// Creates `topics`, each with `partitions` partitions, in one request. Returns, per topic,
    /// whether it was created (false: it already existed).
    public func createTopics(_ topics: [String], partitions: Int, replicationFactor: Int = 1,
                             timeout: Duration = .seconds(30)) throws(KafkaError) -> [String: Bool] {
        guard partitions > 0, replicationFactor > 0 else {
            throw KafkaError(code: KafkaError.invalidArgument,
                             message: "a topic needs at least one partition and one replica (got \(partitions) and \(replicationFactor))")
        }
        var errstr = [CChar](repeating: 0, count: 512)
        var newTopics: [OpaquePointer?] = []
        defer { for t in newTopics { rd_kafka_NewTopic_destroy(t) } }
        for topic in topics {
            guard let t = rd_kafka_NewTopic_new(topic, Int32(clamping: partitions), Int32(clamping: replicationFactor),
                                                &errstr, errstr.count) else {
                throw KafkaError(code: KafkaError.invalidArgument, message: "cannot create topic '\(topic)': \(string(errstr))")
            }
            newTopics.append(t)
        }
        let options = rd_kafka_AdminOptions_new(handle.pointer, RD_KAFKA_ADMIN_OP_CREATETOPICS)
        defer { rd_kafka_AdminOptions_destroy(options) }
        _ = rd_kafka_AdminOptions_set_operation_timeout(options, milliseconds(timeout), &errstr, errstr.count)
        _ = rd_kafka_AdminOptions_set_request_timeout(options, milliseconds(timeout), &errstr, errstr.count)
        let queue = rd_kafka_queue_new(handle.pointer)
        defer { rd_kafka_queue_destroy(queue) }
        newTopics.withUnsafeMutableBufferPointer {
            rd_kafka_CreateTopics(handle.pointer, $0.baseAddress, $0.count, options, queue)
        }
        // The result arrives on `queue`; allow a little more than the request's own timeout.
        guard let event = rd_kafka_queue_poll(queue, milliseconds(timeout) &+ 1000) else {
            throw KafkaError(RD_KAFKA_RESP_ERR__TIMED_OUT, "creating topics \(topics.joined(separator: ", "))")
        }
        defer { rd_kafka_event_destroy(event) }
        let err = rd_kafka_event_error(event)
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else {
            throw KafkaError(code: err.rawValue, message: "creating topics \(topics.joined(separator: ", ")): \(string(rd_kafka_event_error_string(event)))")
        }
        guard let result = rd_kafka_event_CreateTopics_result(event) else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__FAIL.rawValue, message: "creating topics: unexpected event \(string(rd_kafka_event_name(event)))")
        }
        var count = 0
        let results = rd_kafka_CreateTopics_result_topics(result, &count)
        var created: [String: Bool] = [:]
        for i in 0..<count {
            guard let r = results?[i] else { continue }
            let name = string(rd_kafka_topic_result_name(r))
            let e = rd_kafka_topic_result_error(r)
            switch e {
            case RD_KAFKA_RESP_ERR_NO_ERROR: created[name] = true
            case RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS: created[name] = false
            default:
                let text = rd_kafka_topic_result_error_string(r).map { String(cString: $0) } ?? String(cString: rd_kafka_err2str(e))
                throw KafkaError(code: e.rawValue, message: "cannot create topic '\(name)': \(text)")
            }
        }
        for topic in topics where created[topic] == nil {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__FAIL.rawValue, message: "the broker returned no result for topic '\(topic)'")
        }
        return created
    }

    /// The number of partitions of `topic` from the cluster's metadata, nil when it does not exist.
    public func partitionCount(topic: String, timeout: Duration = .seconds(10)) throws(KafkaError) -> Int? {
        try handle.partitionCount(topic: topic, timeout: timeout)
    }

    /// The low (first kept) and high (one past the last) offsets of a partition, from the broker.
    public func watermarks(_ tp: TopicPartition, timeout: Duration = .seconds(10)) throws(KafkaError) -> (low: Int64, high: Int64) {
        var low: Int64 = 0, high: Int64 = 0
        let err = rd_kafka_query_watermark_offsets(handle.pointer, tp.topic, Int32(tp.partition), &low, &high, milliseconds(timeout))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(err, "cannot read the offsets of \(tp)") }
        return (low, high)
    }
}
