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

    public mutating func begin(source: String, linkType: Int32) {
        analyzer.setLinkType(LinkType(rawValue: linkType))
    }

    public mutating func consume(_ info: PcapSource.PacketInfo, _ bytes: UnsafeRawBufferPointer) throws {
        let sender = self.sender
        analyzer.packet(bytes, timestamp: info.timestamp) { sender.send(&$0) }
        if let failure = sender.failure { throw failure }
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
    }
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
