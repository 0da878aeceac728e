#if canImport(Glibc)
import Glibc
#endif
import VigilBroker
import VigilCapture
import VigilCore
import VigilDecode
import VigilLogs

/// Where the network sensor's events go.
public enum NetworkEventOutput {
    /// One JSON object per line, to `write` (the CLI's `--stdout`).
    case jsonLines((UnsafeRawBufferPointer) -> Void)
    /// The broker: binary events keyed by `keyField`, with the pipeline fields stamped.
    case broker(TopicProducer, sensor: String, keyField: String)
    /// Each event, in-process (`vigil rules test --pcap`: the rules without the broker).
    case events((inout Event) -> Void)
}

/// The network sensor: a ``PacketConsumer`` that runs each packet through a
/// ``NetworkAnalyzer`` and sends the records it completes to an output.
public struct NetworkSensor: PacketConsumer {
    public private(set) var analyzer: NetworkAnalyzer
    /// A reference, so that the analyzer's callback can send while the analyzer itself changes.
    private let sender: NetworkEventSender

    /// Records sent.
    public var produced: Int64 { sender.produced }

    /// Reads ``produced`` while the sensor is lent to a capture loop; call it on the capture thread only.
    public var producedReader: () -> Int64 {
        let sender = self.sender
        return { sender.produced }
    }

    public init(configuration: NetworkAnalyzer.Configuration, output: NetworkEventOutput) {
        analyzer = NetworkAnalyzer(linkType: .ethernet, configuration: configuration)
        sender = NetworkEventSender(output: output)
    }

    /// A replay that resumes (`vigil run`, ``ReplayProgress``): records carry their ordinal;
    /// those below `skipBelow` or in `present` are not sent again; `acknowledge(through,
    /// complete)` runs every `every` records or `interval`, and at the end.
    init(configuration: NetworkAnalyzer.Configuration, output: NetworkEventOutput, resume: ReplayResume) {
        self.init(configuration: configuration, output: output)
        sender.resume = resume
        sender.acknowledged = resume.skipBelow
    }

    private var packetsSinceClock = 0
    private var lastAcknowledgement = CaptureRunner.monotonicClock()

    /// Records left out because the topic already held them (a resumed replay).
    public var skipped: Int64 { sender.skipped }

    private mutating func acknowledgeIfDue() throws {
        // Not while records found past the old marks lie ahead: new marks would pass them, and
        // a second crash would no longer see that the topic holds them.
        guard let r = sender.resume, sender.ordinal > sender.acknowledged, sender.ordinal >= r.presentEnd else { return }
        if sender.ordinal - sender.acknowledged < r.every {
            // Or once a second: the clock is read every 1,024 packets.
            packetsSinceClock += 1
            guard packetsSinceClock >= 1024 else { return }
            packetsSinceClock = 0
            guard CaptureRunner.monotonicClock() - lastAcknowledgement >= r.interval else { return }
        }
        lastAcknowledgement = CaptureRunner.monotonicClock()
        try r.acknowledge(sender.ordinal, false)
        sender.acknowledged = sender.ordinal
    }

    public mutating func begin(source: String, linkType: Int32) {
        analyzer.setLinkType(LinkType(rawValue: linkType))
    }

    public mutating func consume(_ info: PcapSource.PacketInfo, _ bytes: UnsafeRawBufferPointer) throws {
        let sender = self.sender
        analyzer.packet(bytes, timestamp: info.timestamp) { sender.send(&$0) }
        if let failure = sender.failure { throw failure }
        if sender.resume != nil { try acknowledgeIfDue() }
    }

    public mutating func idle(now: Int64) throws {
        let sender = self.sender
        analyzer.idle(now: now) { sender.send(&$0) }
        if let failure = sender.failure { throw failure }
    }

    /// End of input: reports every open flow and pending transaction, then flushes the output.
    public mutating func finish() throws {
        let sender = self.sender
        analyzer.finish { sender.send(&$0) }
        if let failure = sender.failure { throw failure }
        if case .broker(let producer, _, _) = sender.output { try producer.flush() }
        if let r = sender.resume { try r.acknowledge(sender.ordinal, true) }
    }
}

/// How a resumed replay sends and acknowledges (see ``NetworkSensor/init(configuration:output:resume:)``).
struct ReplayResume {
    var skipBelow: Int64
    var present: Set<Int64>
    /// One past the largest of `present` (0 when empty).
    var presentEnd: Int64
    var every: Int64
    /// Or after this long (ns, monotonic) with records to acknowledge.
    var interval: Int64 = 1_000_000_000
    var acknowledge: (_ through: Int64, _ complete: Bool) throws -> Void
}

/// Encodes and sends the sensor's events (JSON lines or the broker). Used from the capture
/// thread only.
final class NetworkEventSender {
    let output: NetworkEventOutput
    private var buffer: [UInt8] = []
    private var writer = EventRecordWriter()
    private let sensorValue: FieldValue
    private let keyField: String
    private(set) var produced: Int64 = 0
    /// The first output failure (the sensor stops on it).
    private(set) var failure: Error?
    /// Set for a replay that resumes: ordinals, skipping, acknowledgements.
    var resume: ReplayResume?
    /// Records the analyzer completed (sent or skipped): the next record's ordinal.
    private(set) var ordinal: Int64 = 0
    /// Records known durable (acknowledged through).
    var acknowledged: Int64 = 0
    private(set) var skipped: Int64 = 0
    /// Where a replayed record carries its ordinal.
    static let ordinalKey = Event.Key("vigil.replay.record")

    init(output: NetworkEventOutput) {
        self.output = output
        switch output {
        case .jsonLines, .events:
            sensorValue = .null
            keyField = ""
        case .broker(_, let sensor, let keyField):
            sensorValue = .string(sensor)
            self.keyField = keyField
        }
    }

    func send(_ event: inout Event) {
        guard failure == nil else { return }
        if let r = resume {
            let k = ordinal
            ordinal += 1
            if k < r.skipBelow || r.present.contains(k) {
                skipped += 1
                return
            }
            event[Self.ordinalKey] = .int(k)
        }
        produced += 1
        switch output {
        case .jsonLines(let write):
            buffer.removeAll(keepingCapacity: true)
            EventJSON.encode(event, into: &buffer)
            buffer.append(0x0A)
            buffer.withUnsafeBytes { write($0) }
        case .events(let handle):
            handle(&event)
        case .broker(let producer, _, _):
            PipelineFields.stamp(&event, sensor: sensorValue, now: Timestamp.now())
            do {
                try writer.send(event, key: event[keyField], to: producer)
            } catch {
                failure = error
            }
        }
    }
}

extension NetworkSensorConfiguration {
    /// The settings that shape a replay's records, as text (part of ``ReplayProgress``'s fingerprint).
    var replaySettings: String {
        "tcp=\(tcpIdleSeconds) udp=\(udpIdleSeconds) icmp=\(icmpIdleSeconds) active=\(activeSeconds) flows=\(maxFlows) "
            + "protocols=\(protocols.sorted().joined(separator: ",")) key=\(keyField) filter=\(filter ?? "")"
    }
}

extension NetworkAnalyzer.Configuration {
    /// The analyzer settings of a `type: network` sensor.
    public init(_ sensor: NetworkSensorConfiguration) {
        self.init()
        flows.tcpInactivityTimeout = Int64(sensor.tcpIdleSeconds) * 1_000_000_000
        flows.udpInactivityTimeout = Int64(sensor.udpIdleSeconds) * 1_000_000_000
        flows.icmpInactivityTimeout = Int64(sensor.icmpIdleSeconds) * 1_000_000_000
        flows.activeTimeout = Int64(sensor.activeSeconds) * 1_000_000_000
        flows.maxFlows = sensor.maxFlows
        protocols = Set(sensor.protocols.compactMap(AppProtocol.init(configurationName:)))
    }
}

extension NetworkAnalyzer.Counters {
    /// A one-paragraph summary: packets, flows, records by type, malformed packets by reason.
    public func summary(capture: CaptureSummary) -> String {
        var lines: [String] = []
        lines.append("packets: \(capture.packets) read, \(decode.decoded) decoded, \(decode.notIP) not IP, \(decode.malformedTotal) malformed"
            + (capture.truncated > 0 ? ", \(capture.truncated) cut by the snaplen" : ""))
        if decode.malformedTotal > 0 {
            let reasons = decode.malformedByReason.filter { $0.1 > 0 }.map { "\($0.0)=\($0.1)" }.joined(separator: " ")
            lines.append("malformed by reason: \(reasons)")
        }
        lines.append("fragments: \(decode.fragments) seen, \(decode.reassembled) datagrams reassembled, \(decode.fragmentOverlaps) overlaps, \(decode.fragmentTimeouts) timed out")
        lines.append("flows: \(flows.flowsCreated) created, \(flows.evictions) evicted under memory pressure")
        lines.append("records: \(records) (\(connections) conn, \(dns) dns, \(http) http, \(tls) tls, \(ssh) ssh)")
        if let s = capture.statistics {
            lines.append("capture: \(s.received) received by the filter, \(s.droppedByKernel) dropped by the kernel, \(s.droppedByInterface) dropped by the interface")
        }
        return lines.joined(separator: "\n")
    }
}
