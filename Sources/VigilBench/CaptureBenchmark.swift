import Foundation
import VigilCapture
import VigilCore
import VigilDecode

/// `vigil bench capture`: packets per second from a pcap of ≥ 1 M mixed packets to records, on one
/// thread, with full metadata (flows, DNS, HTTP, TLS, SSH) and with flows only; next to tcpdump's
/// raw read, tshark printing the same fields and softflowd's flows, on the same file in the same
/// run.
public struct CaptureBenchmark {
    public struct Options: Sendable {
        public var directory: String
        public var tracesDirectory: String
        public var packets = 1_000_000
        public var skipPeers = false
        /// An existing pcap to measure instead of the generated mix (kept afterwards).
        public var input: String?
        /// Measure only full metadata (`full`) or only flows (`flows`), for profiling.
        public var only: String?
        public init(directory: String, tracesDirectory: String) {
            self.directory = directory
            self.tracesDirectory = tracesDirectory
        }
    }

    public struct Result: Sendable {
        public var packets: Int
        public var bytes: Int64
        public var traces: Int
        /// Full metadata: packets/s, records.
        public var packetsPerSecond: Double
        public var records: Int64
        public var flowsOnlyPacketsPerSecond: Double
        public var flowRecords: Int64
        public var peers: [CapturePeers.Measurement]
        public var cores: Int

        public func peerRate(_ tool: String) -> Double? {
            peers.first { $0.tool == tool }?.seconds.map { Double(packets) / $0 }
        }
    }

    let options: Options
    let progress: (String) -> Void

    public init(options: Options, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    public func run() throws -> Result {
        try? FileManager.default.removeItem(atPath: options.directory)
        try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: options.directory) }
        let file: String, packets: Int, traces: [String]
        if let input = options.input {
            file = input
            progress("counting the packets of \(input)…")
            var counter = PacketCounter()
            _ = try CaptureRunner.replay(files: [input], into: &counter)
            (packets, traces) = (counter.packets, [input])
        } else {
            file = options.directory + "/mix.pcap"
            progress("writing \(options.packets) packets from the traces under \(options.tracesDirectory)…")
            (packets, traces) = try CaptureInput.build(path: file, tracesDirectory: options.tracesDirectory, packets: options.packets)
        }
        let bytes = (try? FileManager.default.attributesOfItem(atPath: file)[.size] as? Int64) ?? 0
        // Read once so that every run finds the file in the page cache.
        _ = CapturePeers.tcpdump(file)

        var (full, records) = (Double.nan, Int64(0))
        if options.only != "flows" {
            progress("vigil: flows, DNS, HTTP, TLS, SSH…")
            (full, records) = try time(file, protocols: Set(AppProtocol.allCases))
        }
        var (flowsOnly, flowRecords) = (Double.nan, Int64(0))
        if options.only != "full" {
            progress("vigil: flows only…")
            (flowsOnly, flowRecords) = try time(file, protocols: [])
        }
        var peers: [CapturePeers.Measurement] = []
        if !options.skipPeers {
            progress("tcpdump -r FILE -w /dev/null…")
            peers.append(CapturePeers.tcpdump(file))
            progress("tshark -T fields (\(CapturePeers.tsharkFields.count) fields)…")
            peers.append(CapturePeers.tshark(file))
            progress("softflowd -r FILE…")
            peers.append(CapturePeers.softflowd(file))
        }
        return Result(packets: packets, bytes: bytes, traces: traces.count, packetsPerSecond: Double(packets) / full,
                      records: records, flowsOnlyPacketsPerSecond: Double(packets) / flowsOnly, flowRecords: flowRecords,
                      peers: peers, cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    /// Seconds to turn every packet of `file` into records (events built and binary-encoded, as
    /// the sensor does before appending them), and the record count.
    private func time(_ file: String, protocols: Set<AppProtocol>) throws -> (Double, Int64) {
        var configuration = NetworkAnalyzer.Configuration()
        configuration.protocols = protocols
        var consumer = EncodingConsumer(analyzer: NetworkAnalyzer(linkType: .ethernet, configuration: configuration))
        let t = BenchClock.now()
        _ = try CaptureRunner.replay(files: [file], into: &consumer)
        consumer.finish()
        let seconds = BenchClock.now() - t
        return (seconds, consumer.records)
    }
}

/// Counts the packets of a file.
struct PacketCounter: PacketConsumer {
    var packets = 0
    mutating func begin(source: String, linkType: Int32) {}
    mutating func consume(_ info: PcapSource.PacketInfo, _ bytes: UnsafeRawBufferPointer) throws { packets += 1 }
    mutating func idle(now: Int64) throws {}
}

/// Runs the analyzer and encodes each record as the broker would store it.
struct EncodingConsumer: PacketConsumer {
    var analyzer: NetworkAnalyzer
    /// A reference, so the analyzer's callback can use it while the analyzer itself changes.
    let encoder = RecordEncoder()
    var records: Int64 { encoder.records }

    init(analyzer: NetworkAnalyzer) { self.analyzer = analyzer }

    mutating func begin(source: String, linkType: Int32) { analyzer.setLinkType(LinkType(rawValue: linkType)) }

    mutating func consume(_ info: PcapSource.PacketInfo, _ bytes: UnsafeRawBufferPointer) throws {
        let encoder = self.encoder
        analyzer.packet(bytes, timestamp: info.timestamp) { encoder.encode(&$0) }
    }

    mutating func idle(now: Int64) throws {}

    mutating func finish() {
        let encoder = self.encoder
        analyzer.finish { encoder.encode(&$0) }
    }
}

final class RecordEncoder {
    // Unchecked exclusivity: only `encode` touches them, and it calls nothing that could.
    @exclusivity(unchecked) var buffer: [UInt8] = []
    @exclusivity(unchecked) var records: Int64 = 0

    func encode(_ event: inout Event) {
        buffer.removeAll(keepingCapacity: true)
        EventBinaryCodec.encode(event, into: &buffer)
        records += 1
    }
}
