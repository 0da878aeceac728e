// libFuzzer entry point for Vigil's parsers and decoders. Build and run with scripts/fuzz.sh.
//
// VIGIL_FUZZ_TARGET selects what is fed: a parser name from parsers/ (VIGIL_FUZZ_PARSERS, default
// ./parsers), one of the built-in decoders (event-binary, event-json), or a network analyzer (dns,
// dns-tcp, http-request, http-response, tls-client, tls-server, ssh-banner, quic), or the packet decoder
// and flow table (packet: the input is one frame per link type; packets: a sequence of frames,
// each prefixed by a 2-byte length), or the sketches' decoders (sketch: the input is fed to every
// sketch's init(serialized:); what decodes is merged with itself and serialized again), or the
// enrichment loaders (enrich-config), or the regex engine (regex: pattern, 0x00, subject).
import Foundation
import VigilCore
import VigilDecode
import VigilEnrich
import VigilParsers
import VigilRules
import VigilSketch

enum FuzzTarget {
    case parser(CompiledParser)
    case binary
    case json
    case dns
    case dnsTCP
    case http(HTTPStreamParser.Direction)
    case tls(TLSDirection)
    case sshBanner
    case quic
    case packet
    case packets
    case sketch
    case enrichConfig
    case regex
}

/// The packet targets keep their analyzer across inputs, like a sensor (flows, fragments held).
nonisolated(unsafe) private var packetAnalyzer = NetworkAnalyzer(linkType: .ethernet)
nonisolated(unsafe) private var fuzzClock: Int64 = 1_700_000_000_000_000_000


nonisolated(unsafe) private var target: FuzzTarget? = nil

private func setUp() -> FuzzTarget {
    if let target { return target }
    let env = ProcessInfo.processInfo.environment
    let name = env["VIGIL_FUZZ_TARGET"] ?? "event-json"
    let made: FuzzTarget
    switch name {
    case "event-binary": made = .binary
    case "event-json": made = .json
    case "dns": made = .dns
    case "dns-tcp": made = .dnsTCP
    case "http-request": made = .http(.request)
    case "http-response": made = .http(.response)
    case "tls-client": made = .tls(.client)
    case "tls-server": made = .tls(.server)
    case "ssh-banner": made = .sshBanner
    case "quic": made = .quic
    case "packet": made = .packet
    case "packets": made = .packets
    case "sketch": made = .sketch
    case "enrich-config": made = .enrichConfig
    case "regex": made = .regex
    default:
        do {
            let registry = try ParserRegistry.load(directory: env["VIGIL_FUZZ_PARSERS"] ?? "parsers")
            made = .parser(try registry.require(name))
        } catch {
            FileHandle.standardError.write(Data("VigilFuzz: \(error)\n".utf8))
            exit(2)
        }
    }
    target = made
    return made
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    let context = ParseContext(referenceTime: Timestamp(nanoseconds: 1_773_000_000_000_000_000))
    switch setUp() {
    case .parser(let parser):
        var event = Event()
        _ = try? parser.parse(bytes, into: &event, context: context)
        if !event.isEmpty { _ = EventBinaryCodec.encode(event) }
    case .binary:
        _ = try? EventBinaryCodec.decode(bytes)
    case .json:
        if let e = try? EventJSON.decode(bytes) { _ = EventJSON.encode(e) }
    case .dns:
        _ = try? DNSParser.parse(bytes)
    case .dnsTCP:
        var rest = bytes
        while let (message, consumed) = DNSParser.nextTCPFrame(rest), consumed > 0 {
            _ = try? DNSParser.parse(message)
            rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
        }
    case .http(let direction):
        // The stream in three feeds split at input-derived points, then the connection's end.
        var parser = HTTPStreamParser(direction: direction)
        let a = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1), b = min(bytes.count, a + (bytes.count - a) / 2)
        for range in [0..<a, a..<b, b..<bytes.count] {
            parser.feed(UnsafeRawBufferPointer(rebasing: bytes[range])) { _ in }
        }
        parser.finish { _ in }
    case .tls(let direction):
        var parser = TLSStreamParser(direction: direction)
        let a = bytes.isEmpty ? 0 : Int(bytes[0]) % (bytes.count + 1)
        _ = parser.feed(UnsafeRawBufferPointer(rebasing: bytes[..<a]))
        _ = parser.feed(UnsafeRawBufferPointer(rebasing: bytes[a...]))
    case .sshBanner:
        _ = parseSSHBanner(bytes)
    case .quic:
        var reader = QUICClientHelloReader()
        _ = reader.add(datagram: bytes)
    case .packet:
        // The first byte picks the link type; the rest is the frame.
        guard let first = bytes.first else { return 0 }
        let types: [LinkType] = [.ethernet, .linuxSLL, .linuxSLL2, .raw, .null, .loop, .ipv4, .ipv6]
        packetAnalyzer.setLinkType(types[Int(first) % types.count])
        fuzzClock += 1_000_000
        packetAnalyzer.packet(UnsafeRawBufferPointer(rebasing: bytes[1...]), timestamp: fuzzClock) { _ in }
    case .packets:
        // Frames of one Ethernet connection's worth of packets, 2-byte length prefixed, with time
        // moving on by the low byte of each length (so flows time out too).
        packetAnalyzer.setLinkType(.ethernet)
        var rest = bytes
        while rest.count >= 2 {
            let n = Int(rest[0]) << 8 | Int(rest[1])
            let frame = UnsafeRawBufferPointer(rebasing: rest[2..<min(rest.count, 2 + n)])
            fuzzClock += Int64(rest[1]) * 1_000_000_000
            packetAnalyzer.packet(frame, timestamp: fuzzClock) { _ in }
            rest = UnsafeRawBufferPointer(rebasing: rest[min(rest.count, 2 + n)...])
        }
        packetAnalyzer.idle(now: fuzzClock + 3_600_000_000_000) { _ in }
    case .sketch:
        fuzzSketches(bytes)
    case .enrichConfig:
        // Enrichment YAML, CSV/JSON tables, feeds, changelog and indicator records (first byte picks).
        EnrichmentFuzzing.run(bytes)
    case .regex:
        fuzzRegex(bytes)
    }
    return 0
}

/// The regex engine: the input up to the first 0x00 is the pattern, the rest the subject; the
/// pattern is compiled plain and case-insensitive, and matching must stay within its step bound
/// and agree with and without the prefilters.
private func fuzzRegex(_ bytes: UnsafeRawBufferPointer) {
    let cut = bytes.firstIndex(of: 0) ?? bytes.count
    let pattern = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[..<cut]), as: UTF8.self)
    let subject = UnsafeRawBufferPointer(rebasing: bytes[min(cut + 1, bytes.count)...])
    for caseless in [false, true] {
        guard let re = try? LinearRegex(pattern, caseInsensitive: caseless) else { continue }
        let (matched, steps) = re.matchCountingSteps(subject, prefilter: false)
        guard steps <= 2 * re.instructionCount * (subject.count + 1) else { fatalError("regex step bound exceeded") }
        guard re.matches(subject) == matched else { fatalError("regex prefilter changed the result") }
    }
}

/// Every sketch's decoder over the same bytes; a sketch that decodes is merged with itself,
/// queried and serialized again, and must decode from its own serialization.
private func fuzzSketches(_ bytes: UnsafeRawBufferPointer) {
    if var s = try? HyperLogLog(serialized: bytes) {
        let copy = s
        try? s.merge(copy)
        _ = s.estimate()
        guard (try? HyperLogLog(serialized: s.serialized())) == s else { fatalError("HyperLogLog round trip") }
    }
    if var s = try? BloomFilter(serialized: bytes) {
        try? s.merge(s)
        _ = s.approximateCount
        _ = s.mayContain(42)
        guard (try? BloomFilter(serialized: s.serialized())) == s else { fatalError("Bloom round trip") }
    }
    if var s = try? CountMinSketch(serialized: bytes) {
        try? s.merge(s)
        s.add(7)
        _ = s.estimate(7)
        guard (try? CountMinSketch(serialized: s.serialized())) != nil || s.total == .max else { fatalError("Count-Min round trip") }
    }
    if var s = try? HeavyHitters(serialized: bytes) {
        try? s.merge(s)
        s.add("fuzz")
        _ = s.top
        _ = try? HeavyHitters(serialized: s.serialized())
    }
    if var s = try? RunningMoments(serialized: bytes) {
        try? s.merge(s)
        _ = s.zScore(of: 1)
        _ = try? RunningMoments(serialized: s.serialized())
    }
    if var s = try? ReservoirSample<[UInt8]>(serialized: bytes) {
        try? s.merge(s)
        s.add([1, 2, 3])
        guard (try? ReservoirSample<[UInt8]>(serialized: s.serialized())) == s else { fatalError("reservoir round trip") }
    }
    if var s = try? ReservoirSample<String>(serialized: bytes) {
        try? s.merge(s)
        _ = s.serialized()
    }
}

// SwiftPM links executables with `main` bound to `<module>_main`. Built for fuzzing
// (scripts/fuzz.sh passes -DVIGIL_FUZZ with -sanitize=fuzzer), it starts libFuzzer's driver (whose
// own `main` is then not linked); otherwise it replays the files named on the command line.
#if VIGIL_FUZZ
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
                         _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt) -> CInt

@_cdecl("VigilFuzz_main")
public func vigilFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var argc = argc
    var argv = argv
    return LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzz(data, size) }
}
#else
@_cdecl("VigilFuzz_main")
public func vigilFuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    for path in CommandLine.arguments.dropFirst() {
        guard let data = FileManager.default.contents(atPath: path) else { continue }
        let bytes = [UInt8](data)
        _ = bytes.withUnsafeBufferPointer { fuzz($0.baseAddress ?? UnsafePointer(bitPattern: 1)!, $0.count) }
        print("replayed \(path)")
    }
    return 0
}
#endif
