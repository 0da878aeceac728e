import Foundation
import VigilBroker
import VigilCore

/// Sends input that could not be turned into an event to the error topic, as an event carrying
/// the reason, the sensor and parser, and the original bytes, and counts it.
///
/// `@unchecked Sendable`: sensors on several threads share it; `lock` serializes every use of the
/// (single-threaded) producer.
public final class ErrorPublisher: @unchecked Sendable {
    private let lock = NSLock()
    let producer: TopicProducer
    let rejected: Counter
    /// Called for every rejection (the CLI prints a line to stderr).
    public var onReject: ((String, String) -> Void)?
    /// Rejections by sensor, then parser; guarded by `lock`.
    private var counts: [String: [String: Int64]] = [:]

    public init(producer: TopicProducer, rejected: Counter) {
        self.producer = producer
        self.rejected = rejected
    }

    public func reject(original: UnsafeRawBufferPointer, sensor: String, parser: String, reason: String) throws {
        var event = Event()
        event["@timestamp"] = .timestamp(.now())
        event["event.kind"] = .string("pipeline_error")
        event["error.message"] = .string(reason)
        event["vigil.sensor"] = .string(sensor)
        event["vigil.parser"] = .string(parser)
        if let text = String(validating: original, as: UTF8.self) {
            event["event.original"] = .string(text)
        } else {
            event["vigil.original_base64"] = .string(Data(original).base64EncodedString())
        }
        let bytes = EventBinaryCodec.encode(event)
        try lock.withLock {
            _ = try producer.send(key: Array(sensor.utf8), value: bytes, timestamp: Timestamp.now().nanoseconds)
            counts[sensor, default: [:]][parser, default: 0] += 1
        }
        rejected.add()
        onReject?(sensor, reason)
    }

    /// Input sent to the error topic so far, by sensor and parser (the stream stage's records
    /// under sensor and parser `stream`).
    public var rejections: [(sensor: String, parser: String, count: Int64)] {
        lock.withLock { counts.flatMap { sensor, byParser in byParser.map { (sensor, $0.key, $0.value) } } }
    }

    public func flush() throws { try lock.withLock { _ = try producer.flush() } }

    /// Appends buffered rejects without waiting for durability (see `TopicProducer.appendBuffered`).
    public func appendBuffered() throws { try lock.withLock { try producer.appendBuffered() } }
}

