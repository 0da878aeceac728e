import Foundation
import VigilBroker
import VigilCore
import VigilParsers

/// A ready `SyslogMessageSink`: parses each message with a `CompiledParser` on the event loop
/// that received it, encodes the event, and queues it for one producer thread that appends the
/// queued records to a topic and acknowledges them in batches (one `flush` per batch: group
/// commit).
///
/// Each event gets `vigil.sensor`, `event.ingested`, `@timestamp` when the parser set none,
/// `log.source.address` (`ip:port` of the sender) and `vigil.peer` (the sender's IP);
/// `source.ip` is left to the parser (the address inside the message, not the relay's). The
/// record key is `keyField`'s value, or the sender's IP when the event lacks it, so one host's
/// messages stay in order in one partition.
///
/// **Backpressure.** The queue holds at most `queueCapacity` messages or `queueBytes` bytes;
/// when it reaches either, `receive` answers `.full` and TCP/TLS connections pause until the
/// producer thread takes the queue; UDP datagrams that find it full are dropped (`.dropped`,
/// counted). Memory stays bounded by the queue, the batch being produced (at most one queue's
/// worth) and the messages of one socket read per paused connection.
///
/// Failures (parse errors and the listener's rejections) travel through the same queue and are
/// passed to `onFailure` on the producer thread, in order with the events.
///
/// The producer thread runs until `close()`, which the owner must call (it keeps the sink alive).
///
/// `@unchecked Sendable`: everything mutable is guarded by `condition`, except `producer`, which
/// only the producer thread touches after `init`.
public final class ParsingSink: SyslogMessageSink, @unchecked Sendable {
    /// Settings of a `ParsingSink`, with their defaults.
    public struct Configuration: Sendable {
        /// `vigil.sensor` of every event and failure.
        public var sensorName: String
        /// The field whose value keys the record. Default `host.name`; nil keys by sender only.
        public var keyField: String?
        /// Messages queued before the sink pushes back. Default 8192.
        public var queueCapacity: Int
        /// Encoded bytes queued before the sink pushes back. Default 16 MiB.
        public var queueBytes: Int
        /// Whether to store each message in `event.original`. Default false.
        public var keepOriginal: Bool

        public init(sensorName: String, keyField: String? = "host.name", queueCapacity: Int = 8192,
                    queueBytes: Int = 16 << 20, keepOriginal: Bool = false) {
            self.sensorName = sensorName
            self.keyField = keyField
            self.queueCapacity = queueCapacity
            self.queueBytes = queueBytes
            self.keepOriginal = keepOriginal
        }
    }

    /// Input that did not become an event, for the error topic.
    public struct Failure: Sendable {
        public enum Stage: String, Sendable {
            /// The listener rejected the bytes before parsing (too long, unframeable stream).
            case listener
            /// The parser rejected the message.
            case parser
        }
        public var stage: Stage
        /// A short reason without the input itself.
        public var reason: String
        /// The input (for the listener's rejections, at most `max_message_bytes` of it).
        public var original: [UInt8]
        /// The sink's parser (also for the listener's rejections, which no parser saw).
        public var parser: String
        public var sensor: String
        public var peer: SyslogPeer
    }

    public let configuration: Configuration
    public let parser: CompiledParser
    public let metrics: SyslogListenerMetrics
    private let producer: TopicProducer
    private let onFailure: @Sendable (Failure) -> Void
    private let onBatch: @Sendable (Int) -> Void
    private let onProducerError: @Sendable (BrokerError) -> Void

    private struct Record {
        var keyStart: Int
        var valueStart: Int
        var end: Int
        var hasKey: Bool
        var timestamp: Int64
    }

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var arena: [UInt8] = []
    private var records: [Record] = []
    private var failures: [Failure] = []
    private var isFull = false
    private var waiters: [@Sendable () -> Void] = []
    private var stopping = false
    private var finished = false
    private var peak = 0

    /// - Parameters:
    ///   - producer: used only by the sink's producer thread from now on; the caller closes it
    ///     after `close()`.
    ///   - onFailure: each failure, on the producer thread (e.g. `ErrorPublisher.reject`).
    ///   - onBatch: after each acknowledged batch, with its event count, on the producer thread
    ///     (e.g. to flush the error publisher).
    ///   - onProducerError: a failed append or flush; that batch's events are counted as
    ///     `produceFailures` and the sink carries on.
    public init(parser: CompiledParser, producer: TopicProducer, configuration: Configuration,
                metrics: SyslogListenerMetrics,
                onFailure: @escaping @Sendable (Failure) -> Void,
                onBatch: @escaping @Sendable (Int) -> Void = { _ in },
                onProducerError: @escaping @Sendable (BrokerError) -> Void = { _ in }) {
        precondition(configuration.queueCapacity >= 1 && configuration.queueBytes >= 1)
        self.parser = parser
        self.producer = producer
        self.configuration = configuration
        self.metrics = metrics
        self.onFailure = onFailure
        self.onBatch = onBatch
        self.onProducerError = onProducerError
        let thread = Thread { [self] in
            nameCurrentThread("vigil-syslog-out")
            produceLoop()
        }
        thread.name = "vigil-syslog-producer"
        thread.start()
    }

    /// The most messages (events and failures) the queue held at once.
    public var peakQueued: Int { condition.withLock { peak } }

    /// Messages queued now.
    public var queued: Int { condition.withLock { records.count + failures.count } }

    // MARK: - SyslogMessageSink (event loops)

    /// While this answers false, UDP datagrams are dropped (counted as `droppedOverMemory`) before
    /// they are parsed: the pipeline's memory limit. TCP and TLS are bounded by the queue alone.
    /// Set before the listener starts.
    public var udpAdmission: (@Sendable () -> Bool)?

    public func receive(_ message: UnsafeRawBufferPointer, from peer: SyslogPeer) -> SyslogSinkVerdict {
        if condition.withLock({ stopping || (isFull && peer.transport == .udp) }) { return .dropped }
        if peer.transport == .udp, let udpAdmission, !udpAdmission() {
            metrics._droppedOverMemory.bump()
            return .dropped
        }
        let now = Timestamp.now()
        var event = Event()
        do {
            try parser.parse(message, into: &event, context: ParseContext(referenceTime: now))
        } catch {
            metrics._rejected.bump()
            return enqueue(Failure(stage: .parser, reason: error.reason, original: Array(message), parser: parser.name,
                                   sensor: configuration.sensorName, peer: peer))
        }
        metrics._parsed.bump()
        PipelineFields.stamp(&event, sensor: .string(configuration.sensorName), now: now)
        event["log.source.address"] = .string(peer.address)
        if let ip = peer.ip { event["vigil.peer"] = .ip(ip) }
        if configuration.keepOriginal { event["event.original"] = .string(String(decoding: message, as: UTF8.self)) }
        let timestamp = PipelineFields.recordTimestamp(event)
        var key = configuration.keyField.flatMap { event[$0] }
        if key == nil || key == .null { key = peer.ip.map { FieldValue.ip($0) } }
        return enqueue(event, key: key, timestamp: timestamp)
    }

    public func reject(_ original: UnsafeRawBufferPointer, reason: String, from peer: SyslogPeer) {
        _ = enqueue(Failure(stage: .listener, reason: reason, original: Array(original), parser: parser.name,
                            sensor: configuration.sensorName, peer: peer))
    }

    public func whenReady(_ resume: @escaping @Sendable () -> Void) {
        let now = condition.withLock {
            if isFull && !stopping { waiters.append(resume); return false }
            return true
        }
        if now { resume() }
    }

    private func enqueue(_ event: Event, key: FieldValue?, timestamp: Int64) -> SyslogSinkVerdict {
        condition.withLock {
            let wasEmpty = records.isEmpty && failures.isEmpty
            let keyStart = arena.count
            if let key { _ = RecordKey.append(key, to: &arena) }
            let valueStart = arena.count
            EventBinaryCodec.encode(event, into: &arena)
            records.append(Record(keyStart: keyStart, valueStart: valueStart, end: arena.count, hasKey: key != nil, timestamp: timestamp))
            return afterEnqueue(wasEmpty: wasEmpty)
        }
    }

    private func enqueue(_ failure: Failure) -> SyslogSinkVerdict {
        condition.withLock {
            let wasEmpty = records.isEmpty && failures.isEmpty
            failures.append(failure)
            return afterEnqueue(wasEmpty: wasEmpty)
        }
    }

    /// Under the lock.
    private func afterEnqueue(wasEmpty: Bool) -> SyslogSinkVerdict {
        let count = records.count + failures.count
        peak = max(peak, count)
        if wasEmpty { condition.signal() }
        if count >= configuration.queueCapacity || arena.count >= configuration.queueBytes { isFull = true }
        return isFull ? .full : .accepted
    }

    /// The key bytes of a field value: its text (an IP in canonical form), so a key hashes to the
    /// same partition in the embedded log and in Kafka.
    // MARK: - Producer thread

    private func produceLoop() {
        var batchArena: [UInt8] = []
        var batchRecords: [Record] = []
        var batchFailures: [Failure] = []
        while true {
            condition.lock()
            while records.isEmpty && failures.isEmpty && !stopping { condition.wait() }
            if records.isEmpty && failures.isEmpty {
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            swap(&arena, &batchArena)
            swap(&records, &batchRecords)
            swap(&failures, &batchFailures)
            isFull = false
            let resume = waiters
            waiters.removeAll(keepingCapacity: true)
            condition.unlock()
            for callback in resume { callback() }

            produce(batchRecords, from: batchArena)
            for failure in batchFailures { onFailure(failure) }
            onBatch(batchRecords.count)
            batchArena.removeAll(keepingCapacity: true)
            batchRecords.removeAll(keepingCapacity: true)
            batchFailures.removeAll(keepingCapacity: true)
        }
    }

    private func produce(_ batch: [Record], from bytes: [UInt8]) {
        guard !batch.isEmpty else { return }
        do {
            try bytes.withUnsafeBytes { all in
                for record in batch {
                    let value = UnsafeRawBufferPointer(rebasing: all[record.valueStart..<record.end])
                    let key = record.hasKey ? UnsafeRawBufferPointer(rebasing: all[record.keyStart..<record.valueStart]) : nil
                    try producer.send(key: key, value: value, timestamp: record.timestamp)
                }
            }
            try producer.flush()
            metrics._produced.bump(batch.count)
        } catch {
            metrics._produceFailures.bump(batch.count)
            onProducerError(error as? BrokerError ?? BrokerError(.io, "\(error)"))
        }
    }

    /// Produces everything queued, then stops the producer thread. Stop the listener first;
    /// messages arriving afterwards are dropped (counted). Idempotent.
    public func close() {
        condition.withLock {
            stopping = true
            condition.broadcast()
            while !finished { condition.wait() }
        }
        let resume = condition.withLock { () -> [@Sendable () -> Void] in
            defer { waiters.removeAll() }
            return waiters
        }
        for callback in resume { callback() }
    }
}
