import CRdKafka

/// Apache Kafka through librdkafka: `KafkaAdmin`, `KafkaProducer`, `KafkaGroupConsumer`
/// (docs/kafka.md).
public enum Kafka {
    /// The version of the librdkafka library loaded at run time.
    public static var libraryVersion: String { String(cString: rd_kafka_version_str()) }
}
