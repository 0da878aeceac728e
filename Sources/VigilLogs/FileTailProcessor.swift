import VigilBroker
import VigilCore
import VigilParsers

/// One line of a tailed file, lent to a processor for the duration of the call.
public struct FileTailLine {
    /// The line without its `\n` or `\r\n` (cut to `max_line_bytes` when `truncated`).
    public let bytes: UnsafeRawBufferPointer
    /// The path the file was opened under (`log.file.path`).
    public let path: String
    public let identity: FileIdentity
    /// Byte offset of the line's first byte in the file (`log.offset`).
    public let offset: Int64
    /// The line was longer than `max_line_bytes`; `bytes` holds its head.
    public let truncated: Bool
}

/// A line the broker holds: file identity and the line's offset.
public struct FileTailLineID: Hashable, Sendable {
    public var identity: FileIdentity
    public var offset: Int64
    public init(identity: FileIdentity, offset: Int64) { self.identity = identity; self.offset = offset }
}

/// Turns lines into durable records: the seam between the tailer and the parser and broker.
///
/// The tailer calls `process` for each line, then `acknowledge` (everything processed must be
/// durable when it returns) before it stores its positions with the returned marks. After a
/// crash it calls `recover(after:)` with the marks of the last stored positions: the processor
/// returns which lines after those marks the broker already holds, and the tailer does not hand
/// those lines over again. This makes delivery exactly-once; a processor that returns an empty
/// set gets at-least-once (lines since the last acknowledgement repeat after a crash).
public protocol FileTailProcessor {
    /// Handles one line (parse, encode, buffer for sending). Throwing stops the tailer.
    mutating func process(_ line: FileTailLine) throws
    /// Makes everything processed so far durable and returns marks to store with the positions
    /// (for a broker: the end offset of every partition).
    mutating func acknowledge() throws -> [Int64]
    /// Hands what was processed to the broker without waiting for it to be durable, so the next
    /// batch is parsed while the broker syncs this one (the tailer calls it between
    /// acknowledgements). Default: nothing.
    mutating func append() throws
    /// The lines written after `marks` (stored by the last completed acknowledgement) that the
    /// broker holds durably now.
    mutating func recover(after marks: [Int64]) throws -> Set<FileTailLineID>
}

extension FileTailProcessor {
    public mutating func append() throws {}
}

/// The ready processor: parses each line with a `CompiledParser`, adds the sensor and the line's
/// origin, and sends the event to a topic; lines that do not parse go to `onError`.
///
/// Each event gets `vigil.sensor`, `log.file.path`, `log.offset` (byte offset of the line),
/// `log.file.device` and `log.file.inode` (custom fields; they let a restart find which lines the
/// topic already holds), `event.ingested`, and `@timestamp` when the parser set none. The record
/// key is the text of `keyField` (as the `jsonl` sensor does); without it the record has no key.
///
/// Not thread-safe: it owns its producer, used only from the tailer's thread.
public final class ParsingFileTailProcessor: FileTailProcessor {
    /// Receives a line that could not be turned into an event: the reason, the original bytes,
    /// the parser's name and the line (for its path and offset).
    public typealias ErrorHandler = (_ reason: String, _ original: UnsafeRawBufferPointer, _ parser: String, _ line: FileTailLine) throws -> Void

    public let sensor: String
    public let parser: CompiledParser
    public let producer: TopicProducer
    public let keyField: String
    let log: any PartitionRangeReading
    let onError: ErrorHandler
    let beforeAcknowledge: () throws -> Void
    private var context = ParseContext()
    private var writer = EventRecordWriter()
    private let sensorValue: FieldValue
    /// `keyField` looked up in the schema once.
    private let recordKey: Event.Key
    /// The event lines are parsed into, kept from one line to the next (its buffers are reused).
    private var reusable = Event()
    private static let pathKey = Event.Key("log.file.path")
    private static let offsetKey = Event.Key("log.offset")
    private static let deviceKey = Event.Key("log.file.device")
    private static let inodeKey = Event.Key("log.file.inode")

    /// Events sent to the topic.
    public private(set) var eventsProduced: Int64 = 0
    /// Lines handed to `onError`.
    public private(set) var linesRejected: Int64 = 0
    /// Blank lines, skipped.
    public private(set) var blankLines: Int64 = 0

    /// - Parameters:
    ///   - log: the broker holding `producer`'s topic (read back after a crash): the embedded log
    ///     or a Kafka cluster.
    ///   - beforeAcknowledge: runs first in every acknowledgement; flush the error path here so
    ///     rejected lines are durable when their positions are stored.
    public init(sensor: String, parser: CompiledParser, log: any PartitionRangeReading, producer: TopicProducer,
                keyField: String = "source.ip", onError: @escaping ErrorHandler,
                beforeAcknowledge: @escaping () throws -> Void = {}) {
        self.sensor = sensor
        self.parser = parser
        self.log = log
        self.producer = producer
        self.keyField = keyField
        self.onError = onError
        self.beforeAcknowledge = beforeAcknowledge
        sensorValue = .string(sensor)
        recordKey = Event.Key(keyField)
    }

    public func process(_ line: FileTailLine) throws {
        if line.bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { blankLines += 1; return }
        if line.truncated {
            linesRejected += 1
            try onError("line longer than \(line.bytes.count) bytes (truncated)", line.bytes, parser.name, line)
            return
        }
        var event = Event()
        swap(&event, &reusable)
        defer { swap(&event, &reusable) }
        event.removeAll(keepingCapacity: true)
        do {
            try parser.parse(line.bytes, into: &event, context: context)
        } catch {
            linesRejected += 1
            try onError(error.reason, line.bytes, parser.name, line)
            return
        }
        event[Self.pathKey] = .string(line.path)
        event[Self.offsetKey] = .int(line.offset)
        event[Self.deviceKey] = .int(Int64(bitPattern: line.identity.device))
        event[Self.inodeKey] = .int(Int64(bitPattern: line.identity.inode))
        PipelineFields.stamp(&event, sensor: sensorValue, now: context.referenceTime)
        try writer.send(event, key: event[recordKey], to: producer)
        eventsProduced += 1
    }

    public func append() throws {
        try producer.appendBuffered()
    }

    public func acknowledge() throws -> [Int64] {
        try beforeAcknowledge()
        try producer.flush()
        context = ParseContext()  // the clock for the next batch
        return (0..<producer.topic.partitions).map { producer.writerDurableEnd($0) }
    }

    /// Reads every partition from its mark to its end and collects the lines of this sensor.
    public func recover(after marks: [Int64]) throws -> Set<FileTailLineID> {
        var present = Set<FileTailLineID>()
        guard !marks.isEmpty else { return present }
        for p in 0..<producer.topic.partitions {
            try log.readRange(topic: producer.topic.name, partition: p, from: p < marks.count ? marks[p] : 0) { record in
                guard let event = try? EventBinaryCodec.decode(record.value),
                      event["vigil.sensor"] == sensorValue,
                      case .int(let device)? = event["log.file.device"],
                      case .int(let inode)? = event["log.file.inode"],
                      case .int(let offset)? = event["log.offset"] else { return }
                present.insert(FileTailLineID(identity: FileIdentity(device: UInt64(bitPattern: device), inode: UInt64(bitPattern: inode)),
                                              offset: offset))
            }
        }
        return present
    }
}
