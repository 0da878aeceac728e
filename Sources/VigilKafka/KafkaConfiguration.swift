import CRdKafka

/// Where a Kafka cluster is and how to talk to it: the bootstrap servers and any librdkafka
/// properties (https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md).
///
/// Each client sets its own defaults first (docs/kafka.md lists them); `properties` override
/// them, so anything Vigil chooses can be changed by a user.
public struct KafkaConfiguration: Sendable, Equatable {
    /// `host:port[,host:port…]` (librdkafka's `bootstrap.servers`).
    public var bootstrapServers: String
    /// Extra librdkafka properties, applied after the client's defaults.
    public var properties: [String: String]

    public init(bootstrapServers: String, properties: [String: String] = [:]) {
        self.bootstrapServers = bootstrapServers
        self.properties = properties
    }

    /// Checks every property with librdkafka (unknown names, bad values) without connecting.
    public func validate() throws(KafkaError) {
        rd_kafka_conf_destroy(try makeConf(defaults: []))
    }

    /// A new `rd_kafka_conf_t`: `defaults`, then `bootstrap.servers`, then `properties` (sorted,
    /// so the first bad property reported is always the same one). The caller owns the result.
    func makeConf(defaults: [(String, String)]) throws(KafkaError) -> OpaquePointer {
        guard let conf = rd_kafka_conf_new() else {
            throw KafkaError(code: RD_KAFKA_RESP_ERR__FAIL.rawValue, message: "cannot allocate a Kafka configuration")
        }
        do throws(KafkaError) {
            guard !bootstrapServers.isEmpty else {
                throw KafkaError(code: KafkaError.invalidArgument,
                                 message: "no Kafka bootstrap servers: set host:port[,host:port…]")
            }
            for (name, value) in defaults { try Self.set(conf, name, value, origin: "Vigil's default") }
            try Self.set(conf, "bootstrap.servers", bootstrapServers, origin: "bootstrap servers")
            for name in properties.keys.sorted() { try Self.set(conf, name, properties[name]!, origin: "Kafka property") }
        } catch {
            rd_kafka_conf_destroy(conf)
            throw error
        }
        return conf
    }

    @inline(never)
    static func set(_ conf: OpaquePointer, _ name: String, _ value: String, origin: String) throws(KafkaError) {
        var errstr = [CChar](repeating: 0, count: 512)
        let result = rd_kafka_conf_set(conf, name, value, &errstr, errstr.count)
        guard result != RD_KAFKA_CONF_OK else { return }
        let reason = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let what = result == RD_KAFKA_CONF_UNKNOWN
            ? "unknown \(origin) '\(name)' (see librdkafka's CONFIGURATION.md for the property names)"
            : "invalid value for \(origin) '\(name)'"
        throw KafkaError(code: KafkaError.invalidArgument, message: "\(what): \(reason)")
    }
}

/// The one owner of an `rd_kafka_t`: destroyed (after a consumer close, when it is one) in
/// `deinit`. Keeps the object its callbacks receive as `opaque` alive until then.
final class KafkaHandle {
    let pointer: OpaquePointer
    /// The callbacks' `opaque`: retained here so it outlives every callback.
    private let context: AnyObject?

    /// Creates a client from `conf`, which it consumes (even when it throws).
    init(type: rd_kafka_type_t, conf: OpaquePointer, context: AnyObject?, what: String) throws(KafkaError) {
        if let context { rd_kafka_conf_set_opaque(conf, Unmanaged.passUnretained(context).toOpaque()) }
        var errstr = [CChar](repeating: 0, count: 512)
        guard let rk = rd_kafka_new(type, conf, &errstr, errstr.count) else {
            rd_kafka_conf_destroy(conf)
            let reason = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw KafkaError(code: KafkaError.invalidArgument, message: "cannot create the Kafka \(what): \(reason)")
        }
        pointer = rk
        self.context = context
    }

    deinit { rd_kafka_destroy(pointer) }

    /// The client's fatal error, if one was raised.
    func fatalError() -> KafkaError? {
        var errstr = [CChar](repeating: 0, count: 512)
        let err = rd_kafka_fatal_error(pointer, &errstr, errstr.count)
        guard err != RD_KAFKA_RESP_ERR_NO_ERROR else { return nil }
        let reason = String(decoding: errstr.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        return KafkaError(code: err.rawValue, message: "fatal Kafka client error: \(reason)", isFatal: true)
    }

    /// Partition count of `topic` from a metadata request; nil when the broker does not know it.
    func partitionCount(topic: String, timeout: Duration) throws(KafkaError) -> Int? {
        guard let rkt = rd_kafka_topic_new(pointer, topic, nil) else {
            throw KafkaError(rd_kafka_last_error(), "cannot open topic '\(topic)'")
        }
        defer { rd_kafka_topic_destroy(rkt) }
        var metadata: UnsafePointer<rd_kafka_metadata>?
        let err = rd_kafka_metadata(pointer, 0, rkt, &metadata, milliseconds(timeout))
        guard err == RD_KAFKA_RESP_ERR_NO_ERROR, let metadata else {
            throw KafkaError(err, "cannot read the metadata of topic '\(topic)'")
        }
        defer { rd_kafka_metadata_destroy(metadata) }
        for i in 0..<Int(metadata.pointee.topic_cnt) {
            let t = metadata.pointee.topics[i]
            guard String(cString: t.topic) == topic else { continue }
            if t.err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || t.partition_cnt == 0 { return nil }
            guard t.err == RD_KAFKA_RESP_ERR_NO_ERROR else { throw KafkaError(t.err, "metadata of topic '\(topic)'") }
            return Int(t.partition_cnt)
        }
        return nil
    }
}

/// `duration` in whole milliseconds for librdkafka's `int timeout_ms`, clamped to `Int32`.
func milliseconds(_ duration: Duration) -> Int32 {
    let (seconds, attoseconds) = duration.components
    let ms = seconds.multipliedReportingOverflow(by: 1000)
    if ms.overflow { return seconds < 0 ? 0 : Int32.max }
    return Int32(clamping: max(0, ms.partialValue + attoseconds / 1_000_000_000_000_000))
}

/// A Swift string from a C string that may be NULL.
func string(_ c: UnsafePointer<CChar>?) -> String { c.map { String(cString: $0) } ?? "" }
