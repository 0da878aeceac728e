import CRdKafka

/// Everything that can go wrong talking to Kafka: librdkafka's error code and name (for example
/// `_QUEUE_FULL`, `TOPIC_ALREADY_EXISTS`, `_INVALID_ARG`) and a message saying what Vigil was doing,
/// followed by librdkafka's own text. Payload bytes never appear in a description.
public struct KafkaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// librdkafka's `rd_kafka_resp_err_t`: negative for client-side errors, positive for errors
    /// the broker returned.
    public var code: Int32
    /// librdkafka's name of `code` (`rd_kafka_err2name`), e.g. `_TIMED_OUT`.
    public var name: String
    /// What failed, and why.
    public var message: String
    /// The error is fatal for the client (an idempotent producer lost its guarantees, or the
    /// consumer was fenced): the client must be closed and a new one created.
    public var isFatal: Bool

    public init(code: Int32, message: String, isFatal: Bool = false) {
        self.code = code
        self.name = String(cString: rd_kafka_err2name(rd_kafka_resp_err_t(code)))
        self.message = message
        self.isFatal = isFatal
    }

    /// `what` followed by librdkafka's description of `err`.
    @inline(never)
    init(_ err: rd_kafka_resp_err_t, _ what: String, isFatal: Bool = false) {
        self.init(code: err.rawValue, message: "\(what): \(String(cString: rd_kafka_err2str(err)))", isFatal: isFatal)
    }

    /// Takes (and destroys) an `rd_kafka_error_t`.
    @inline(never)
    init(consuming error: OpaquePointer, _ what: String) {
        let code = rd_kafka_error_code(error)
        let text = String(cString: rd_kafka_error_string(error))
        let fatal = rd_kafka_error_is_fatal(error) != 0
        rd_kafka_error_destroy(error)
        self.init(code: code.rawValue, message: "\(what): \(text)", isFatal: fatal)
    }

    public var description: String { "\(message) [\(name)]" }

    public static let invalidArgument = RD_KAFKA_RESP_ERR__INVALID_ARG.rawValue
    public static let timedOut = RD_KAFKA_RESP_ERR__TIMED_OUT.rawValue
    public static let queueFull = RD_KAFKA_RESP_ERR__QUEUE_FULL.rawValue
    public static let topicAlreadyExists = RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS.rawValue
    public static let unknownTopicOrPartition = RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART.rawValue
    public static let state = RD_KAFKA_RESP_ERR__STATE.rawValue
    public static let fatal = RD_KAFKA_RESP_ERR__FATAL.rawValue
    /// Used by Vigil for a client used after `close()`.
    public static let destroyed = RD_KAFKA_RESP_ERR__DESTROY.rawValue
}
