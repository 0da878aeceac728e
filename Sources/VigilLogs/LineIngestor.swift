import VigilBroker
import VigilCore
import VigilParsers

/// Counts of one ingest path (a sensor, `vigil ingest`): lines in, events out, lines rejected.
public struct IngestCounters: Sendable {
    public let lines: Counter
    public let produced: Counter
    public let rejected: Counter

    public init(lines: Counter = Counter("lines", help: "Lines read"),
                produced: Counter = Counter("produced", help: "Events produced"),
                rejected: Counter = Counter("rejected", help: "Lines sent to the errors topic")) {
        self.lines = lines
        self.produced = produced
        self.rejected = rejected
    }
}

/// The step every log sensor shares: one line → its parser → a normalized event, keyed by a field
/// and appended to a topic; a line the parser rejects goes to the errors topic with the parser's
/// name, the reason and the original bytes. Nothing is dropped silently.
///
/// Not thread-safe (it owns a `TopicProducer`); one ingestor per sensor thread.
public final class LineIngestor {
    public let parser: CompiledParser
    public let sensor: String
    public let keyField: String
    let producer: TopicProducer
    public let errors: ErrorPublisher
    public let counters: IngestCounters
    /// "Now" for timestamps without a year; refreshed on every `flush`.
    public var context = ParseContext()
    private var writer = EventRecordWriter()
    private let sensorValue: FieldValue
    private let parserValue: FieldValue
    private let recordKeyField: Event.Key
    private static let parserKey = Event.Key("vigil.parser")
    /// The session of the default source; sensors reading several sources pass their own.
    public let session: ParserSession

    public init(parser: CompiledParser, sensor: String, keyField: String, producer: TopicProducer,
                errors: ErrorPublisher, counters: IngestCounters) {
        self.parser = parser
        self.sensor = sensor
        self.keyField = keyField
        self.producer = producer
        self.errors = errors
        self.counters = counters
        sensorValue = .string(sensor)
        parserValue = .string(parser.name)
        recordKeyField = Event.Key(keyField)
        session = ParserSession(parser: parser)
    }

    /// A session for another source read by this ingestor (one per file or connection), so
    /// stateful formats keep each source's state apart.
    public func makeSession() -> ParserSession { ParserSession(parser: parser) }

    /// Parses and sends one line; `decorate` adds sensor-specific fields (file path, peer) to the
    /// parsed event before it is encoded.
    public func ingest(_ line: UnsafeRawBufferPointer, session: ParserSession? = nil,
                       decorate: (inout Event) -> Void = { _ in }) throws {
        counters.lines.add()
        if line.isEmpty { return }
        do {
            try (session ?? self.session).parse(line, context: context) { event in try send(&event, decorate: decorate) }
        } catch let failure as ParseFailure {
            try errors.reject(original: line, sensor: sensor, parser: parser.name, reason: failure.reason)
        }
    }

    /// Encodes and sends an event built elsewhere (multi-event parsers), adding pipeline fields.
    public func send(_ event: inout Event, decorate: (inout Event) -> Void = { _ in }) throws {
        event[Self.parserKey] = parserValue
        PipelineFields.stamp(&event, sensor: sensorValue, now: Timestamp.now())
        decorate(&event)
        try writer.send(event, key: event[recordKeyField], to: producer)
        counters.produced.add()
    }

    /// Appends what is buffered to the log without waiting for the acknowledgement (which the
    /// next ``flush()`` waits for): parsing goes on while the log syncs.
    public func appendBuffered() throws {
        try producer.appendBuffered()
        try errors.appendBuffered()
    }

    /// Appends what is buffered and waits for the broker's acknowledgement.
    @discardableResult
    public func flush() throws -> [Int: Int64] {
        let ends = try producer.flush()
        try errors.flush()
        context = ParseContext()
        return ends
    }
}

/// The fields every sensor adds to the events it produces, and the record timestamp taken from
/// them: one definition for the line ingestor, the syslog sink and the file tailer.
public enum PipelineFields {
    static let sensorKey = Event.Key("vigil.sensor")
    static let ingestedKey = Event.Key("event.ingested")
    static let timestampKey = Event.Key("@timestamp")

    /// Sets `vigil.sensor`, `event.ingested` (`now`) and, when the parser set none, `@timestamp`.
    public static func stamp(_ event: inout Event, sensor: FieldValue, now: Timestamp) {
        event[sensorKey] = sensor
        event[ingestedKey] = .timestamp(now)
        if event[timestampKey] == nil { event[timestampKey] = .timestamp(now) }
    }

    /// The broker record's timestamp: the event's `@timestamp` (set by `stamp` if missing).
    public static func recordTimestamp(_ event: Event) -> Int64 {
        event[timestampKey]?.timestampValue?.nanoseconds ?? 0
    }
}

/// Encodes events as broker records and sends them: the binary event as the value, the text of a
/// field as the key (``RecordKey``), the event's `@timestamp` as the record time. One per sensor
/// thread; its buffers are reused from record to record.
public struct EventRecordWriter {
    private var value: [UInt8] = []
    private var key: [UInt8] = []

    public init() {}

    /// Sends `event` to `producer`, keyed by the text of `keyValue` (no key when nil or not a
    /// scalar: the producer spreads such records round-robin).
    public mutating func send(_ event: Event, key keyValue: FieldValue?, to producer: TopicProducer) throws {
        let timestamp = PipelineFields.recordTimestamp(event)
        value.removeAll(keepingCapacity: true)
        EventBinaryCodec.encode(event, into: &value)
        key.removeAll(keepingCapacity: true)
        let hasKey = keyValue.map { RecordKey.append($0, to: &key) } ?? false
        try value.withUnsafeBytes { v in
            if hasKey {
                try key.withUnsafeBytes { k in _ = try producer.send(key: k, value: v, timestamp: timestamp) }
            } else {
                _ = try producer.send(key: nil, value: v, timestamp: timestamp)
            }
        }
    }
}

/// Record keys of field values: the value's text (an IP in canonical form), so the same key hashes
/// to the same partition in the embedded log and in Kafka.
public enum RecordKey {
    public static func bytes(_ value: FieldValue) -> [UInt8]? {
        var bytes: [UInt8] = []
        return append(value, to: &bytes) ? bytes : nil
    }

    /// Appends the key text of `value` to `buffer`; false (nothing appended) for `.null`.
    public static func append(_ value: FieldValue, to buffer: inout [UInt8]) -> Bool {
        switch value {
        case .string(let s): buffer.append(contentsOf: s.utf8)
        case .ip(let ip): ip.appendText(to: &buffer)
        case .int(let i): buffer.append(contentsOf: String(i).utf8)
        case .null: return false
        default: buffer.append(contentsOf: value.plainText.utf8)
        }
        return true
    }
}
