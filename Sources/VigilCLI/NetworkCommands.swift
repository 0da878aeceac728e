import ArgumentParser
import Foundation
import VigilBroker
import VigilCapture
import VigilCore
import VigilDecode
import VigilPipeline

/// What both network commands take: the analyzers to run and where records go.
struct NetworkOutputOptions: ParsableArguments {
    @Flag(help: "Print the records as JSON lines on stdout instead of producing them to the broker.")
    var stdout = false

    @Option(help: "The topic to produce to.") var topic: String = "events"
    @Option(help: "The event field whose value keys each record.") var keyField: String = "source.ip"

    @Option(help: ArgumentHelp("Application protocols to analyze, comma-separated (dns,http,tls,ssh), or 'none' for flows only.",
                               valueName: "LIST"))
    var protocols: String = "dns,http,tls,ssh"

    func analyzerConfiguration() throws -> NetworkAnalyzer.Configuration {
        try Self.analyzerConfiguration(protocols: protocols)
    }

    /// The analyzer settings for `--protocols LIST`.
    static func analyzerConfiguration(protocols: String) throws -> NetworkAnalyzer.Configuration {
        var c = NetworkAnalyzer.Configuration()
        if protocols == "none" {
            c.protocols = []
        } else {
            c.protocols = []
            for name in protocols.split(separator: ",") {
                guard let p = AppProtocol(configurationName: String(name)) else {
                    throw ValidationError("--protocols: unknown protocol '\(name)' (dns, http, tls, ssh, or none)")
                }
                c.protocols.insert(p)
            }
        }
        return c
    }
}

/// Writes to stdout through one buffer (records are many and small).
final class StandardOutput {
    private var buffer: [UInt8] = []
    func write(_ bytes: UnsafeRawBufferPointer) {
        buffer.append(contentsOf: bytes)
        if buffer.count >= 1 << 16 { flush() }
    }
    func flush() {
        guard !buffer.isEmpty else { return }
        buffer.withUnsafeBytes { b in
            var offset = 0
            while offset < b.count {
                let n = Foundation.write(1, b.baseAddress! + offset, b.count - offset)
                if n <= 0 { if errno == EINTR { continue }; break }
                offset += n
            }
        }
        buffer.removeAll(keepingCapacity: true)
    }
}

/// Runs a capture or a replay into the network sensor, to stdout or the broker.
private func runNetworkSensor(_ output: NetworkOutputOptions, data: DataOptions, name: String,
                              _ body: (inout NetworkSensor) throws -> CaptureSummary) throws {
    let configuration = try output.analyzerConfiguration()
    let out = StandardOutput()
    var sensor: NetworkSensor
    var producer: TopicProducerBox?
    if output.stdout {
        sensor = NetworkSensor(configuration: configuration, output: .jsonLines { out.write($0) })
    } else {
        let log = try data.open()
        let p = try log.producer(topic: output.topic)
        producer = TopicProducerBox(producer: p)
        sensor = NetworkSensor(configuration: configuration, output: .broker(p, sensor: name, keyField: output.keyField))
    }
    let summary = try body(&sensor)
    try sensor.finish()
    out.flush()
    try producer?.producer.close()
    printError(sensor.analyzer.counters.summary(capture: summary))
    if !output.stdout { printError("\(sensor.produced) records produced to \(output.topic)") }
}

struct TopicProducerBox {
    let producer: TopicProducer
}

struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Run the network sensor over pcap or pcapng files: flow, DNS, HTTP, TLS and SSH records.",
        discussion: "Records go to the broker (the data directory of --data or --config), or with --stdout to stdout as JSON lines. A progress bar shows on a terminal; a summary (packets, flows, records, malformed packets by reason) ends the run.")
    @OptionGroup var data: DataOptions
    @OptionGroup var output: NetworkOutputOptions
    @Argument(help: "The capture files, read in order.") var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one pcap file") }
        _ = try output.analyzerConfiguration()
    }

    func run() throws {
        let showProgress = isatty(2) == 1
        try runNetworkSensor(output, data: data, name: "replay") { sensor in
            let summary = try CaptureRunner.replay(files: files, into: &sensor) { done, total in
                guard showProgress, total > 0 else { return }
                let fraction = Double(done) / Double(total)
                let width = 30, filled = Int(fraction * Double(width))
                let bar = String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled)
                FileHandle.standardError.write(Data(String(format: "\r[%@] %3.0f%% ", bar, fraction * 100).utf8))
            }
            if showProgress { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
            return summary
        }
    }
}

struct CaptureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "capture",
        abstract: "Capture on a network interface with libpcap and run the network sensor until interrupted.",
        discussion: """
            Needs root, or the capabilities cap_net_raw,cap_net_admin on the binary \
            (setcap cap_net_raw,cap_net_admin+eip vigil). With --user, a root process switches to that \
            user once the interface is open; capabilities are dropped either way. Stops on SIGINT or \
            SIGTERM, or after --count packets or --duration.
            """)
    @OptionGroup var data: DataOptions
    @OptionGroup var output: NetworkOutputOptions
    @Option(help: "The interface to capture on.") var interface: String
    @Option(help: "A BPF filter (tcpdump syntax).") var filter: String?
    @Option(help: "Bytes kept of each packet.") var snaplen: Int = 65_535
    @Flag(inversion: .prefixedNo, help: "Promiscuous mode.") var promiscuous = true
    @Option(help: "Kernel capture buffer in bytes.") var bufferSize: Int = 16 << 20
    @Flag(help: "Deliver packets as they arrive rather than in batches.") var immediate = false
    @Option(help: "Read timeout in milliseconds.") var timeout: Int = 100
    @Option(help: "Switch to this user once the interface is open (when started as root).") var user: String?
    @Option(help: "Stop after this many packets.") var count: Int64?
    @Option(help: "Stop after this many seconds.") var duration: Double?

    func validate() throws {
        guard (64...262_144).contains(snaplen) else { throw ValidationError("--snaplen must be 64…262144") }
        guard timeout >= 1 else { throw ValidationError("--timeout must be at least 1 ms") }
        _ = try output.analyzerConfiguration()
    }

    func run() throws {
        let options = PcapSource.LiveOptions(snaplen: Int32(snaplen), promiscuous: promiscuous, bufferSize: Int32(clamping: bufferSize),
                                             immediate: immediate, timeoutMilliseconds: Int32(timeout), filter: filter)
        installStopHandlers()
        let deadline = duration.map { Date().addingTimeInterval($0) }
        let seen = PacketCount()
        let limit = count
        try runNetworkSensor(output, data: data, name: "capture") { sensor in
            var counted = CountingConsumer(inner: sensor, seen: seen)
            let summary = try CaptureRunner.capture(interface: interface, options: options, user: user, shouldStop: {
                stopRequested() || (limit.map { seen.value >= $0 } ?? false) || (deadline.map { Date() >= $0 } ?? false)
            }, into: &counted) { source in
                let me = Privileges.current()
                printError("capturing on \(source.name) (\(LinkType(rawValue: source.linkType))) as uid \(me.uid), gid \(me.gid), capabilities 0x\(String(me.effectiveCapabilities, radix: 16))")
            }
            sensor = counted.inner
            return summary
        }
    }
}

/// Packets seen so far (read by the stop check while the consumer counts).
final class PacketCount {
    var value: Int64 = 0
}

/// Counts packets on their way to the sensor (for `--count`).
struct CountingConsumer: PacketConsumer {
    var inner: NetworkSensor
    let seen: PacketCount
    mutating func begin(source: String, linkType: Int32) { inner.begin(source: source, linkType: linkType) }
    mutating func consume(_ info: PcapSource.PacketInfo, _ bytes: UnsafeRawBufferPointer) throws {
        seen.value += 1
        try inner.consume(info, bytes)
    }
    mutating func idle(now: Int64) throws { try inner.idle(now: now) }
}
