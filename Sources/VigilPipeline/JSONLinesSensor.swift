import Foundation
import VigilBroker
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// The `jsonl` sensor: JSON objects, one per line, from a file or stdin, decoded into events,
/// keyed by a field and appended to a topic. A line that is not a valid event goes to the error
/// topic with the reason and the original bytes, and is counted.
public final class JSONLinesSensor {
    public let configuration: JSONLinesSensorConfiguration
    let producer: TopicProducer
    let errors: ErrorPublisher
    let metrics: PipelineMetrics
    /// Acknowledge (flush) after this many lines.
    public var batchLines = 4096

    public init(configuration: JSONLinesSensorConfiguration, producer: TopicProducer, errors: ErrorPublisher, metrics: PipelineMetrics) {
        self.configuration = configuration
        self.producer = producer
        self.errors = errors
        self.metrics = metrics
    }

    /// Reads until end of input (or, when following, until `shouldStop` returns true).
    public func run(shouldStop: () -> Bool) throws {
        let fd: Int32
        switch configuration.input {
        case .standardInput: fd = 0
        case .file(let path):
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw PipelineError("sensor \(configuration.name): cannot open \(path): \(String(cString: strerror(errno)))") }
        }
        defer { if fd != 0 { close(fd) } }
        var reader = LineReader(fd: fd)
        var scratch: [UInt8] = []
        var pending = 0
        while !shouldStop() {
            let result = try reader.readLines(flushPartial: !configuration.follow) { line, truncated in
                try self.ingest(line, truncated: truncated, scratch: &scratch)
                pending += 1
            }
            if pending >= batchLines { try flush(); pending = 0 }
            if case .endOfInput = result {
                try flush(); pending = 0
                if !configuration.follow { break }
                usleep(200_000)
            }
        }
        try flush()
    }

    private func flush() throws {
        try producer.flush()
        try errors.flush()
    }

    /// Decodes one line into an event and sends it, or sends the line to the error topic.
    func ingest(_ line: UnsafeRawBufferPointer, truncated: Bool, scratch: inout [UInt8]) throws {
        metrics.linesRead.add()
        if line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { return }  // blank lines carry nothing
        if truncated {
            try errors.reject(original: line, sensor: configuration.name, parser: "jsonl",
                              reason: "line longer than \(line.count) bytes (truncated)")
            return
        }
        var event: Event
        do {
            event = try EventJSON.decode(line)
        } catch {
            try errors.reject(original: line, sensor: configuration.name, parser: "jsonl", reason: error.description)
            return
        }
        event["vigil.sensor"] = .string(configuration.name)
        let now = Timestamp.now()
        event["event.ingested"] = .timestamp(now)
        if event["@timestamp"] == nil { event["@timestamp"] = .timestamp(now) }
        let timestamp = event.timestamp?.nanoseconds ?? now.nanoseconds
        scratch.removeAll(keepingCapacity: true)
        EventBinaryCodec.encode(event, into: &scratch)
        let key = event[configuration.keyField].flatMap(Self.keyBytes)
        try scratch.withUnsafeBytes { value in
            if let key {
                try key.withUnsafeBytes { k in _ = try producer.send(key: k, value: value, timestamp: timestamp) }
            } else {
                _ = try producer.send(key: nil, value: value, timestamp: timestamp)
            }
        }
        metrics.eventsProduced.add()
    }

    /// The record key of a field value: its text (an IP in canonical form), so the same key hashes
    /// to the same partition in the embedded log and in Kafka.
    static func keyBytes(_ value: FieldValue) -> [UInt8]? {
        switch value {
        case .string(let s): return Array(s.utf8)
        case .ip(let ip): return Array(ip.description.utf8)
        case .int(let i): return Array(String(i).utf8)
        case .null: return nil
        default: return Array(value.description.utf8)
        }
    }
}

/// Sends input that could not be turned into an event to the error topic, as an event carrying
/// the reason, the sensor and parser, and the original bytes, and counts it.
///
/// `@unchecked Sendable`: sensors on several threads share it; `lock` serializes every use of the
/// (single-threaded) producer.
public final class ErrorPublisher: @unchecked Sendable {
    private let lock = NSLock()
    let producer: TopicProducer
    let metrics: PipelineMetrics
    /// Called for every rejection (the CLI prints a line to stderr).
    public var onReject: ((String, String) -> Void)?

    public init(producer: TopicProducer, metrics: PipelineMetrics) {
        self.producer = producer
        self.metrics = metrics
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
        }
        metrics.eventsRejected.add()
        onReject?(sensor, reason)
    }

    public func flush() throws { try lock.withLock { _ = try producer.flush() } }
}

/// A pipeline failure a user can act on.
public struct PipelineError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
