import Foundation
import Testing
import VigilDecode
import VigilTestSupport

// MARK: - A minimal classic-pcap reader: Ethernet (802.1Q/QinQ), IPv4, IPv6, TCP → per-direction payload

/// One TCP connection's payload per direction, reassembled in sequence order (test-only).
struct TCPConnection {
    var originatorAddress: [UInt8]
    var originatorPort: UInt16
    var responderAddress: [UInt8]
    var responderPort: UInt16
    /// [originator → responder, responder → originator] segments (sequence number, payload).
    var segments: [[(seq: UInt32, payload: [UInt8])]] = [[], []]
    /// The first payload sequence number per direction, from the SYN when seen.
    var initialSequence: [UInt32?] = [nil, nil]

    var clientStream: [UInt8] { reassemble(0) }
    var serverStream: [UInt8] { reassemble(1) }

    /// The in-order bytes from the first sequence number up to the first gap; retransmitted and
    /// overlapping bytes are taken once.
    func reassemble(_ direction: Int) -> [UInt8] {
        let segs = segments[direction]
        guard let base = initialSequence[direction] ?? segs.map(\.seq).min(by: { Int32(bitPattern: $0 &- $1) < 0 }) else {
            return []
        }
        let ordered = segs.compactMap { s -> (Int, [UInt8])? in
            let offset = Int(Int32(bitPattern: s.seq &- base))
            return offset >= 0 ? (offset, s.payload) : nil
        }.sorted { $0.0 < $1.0 }
        var out: [UInt8] = []
        for (offset, payload) in ordered {
            if offset > out.count { break }
            let skip = out.count - offset
            if skip < payload.count { out.append(contentsOf: payload[skip...]) }
        }
        return out
    }

    var tupleDescription: String {
        "\(PcapTestReader.addressString(originatorAddress)):\(originatorPort) → \(PcapTestReader.addressString(responderAddress)):\(responderPort)"
    }
}

enum PcapTestReader {
    struct Skip: Error, CustomStringConvertible { let description: String }

    /// The TCP connections in a classic pcap file with Ethernet framing, in order of first packet.
    static func connections(path: String) throws -> [TCPConnection] {
        guard let data = FileManager.default.contents(atPath: path) else { throw Skip(description: "unreadable") }
        let bytes = [UInt8](data)
        guard bytes.count >= 24 else { throw Skip(description: "too short for a pcap header") }
        let magic = UInt32(bytes[0]) << 24 | UInt32(bytes[1]) << 16 | UInt32(bytes[2]) << 8 | UInt32(bytes[3])
        let littleEndian: Bool
        switch magic {
        case 0xa1b2c3d4, 0xa1b23c4d: littleEndian = false
        case 0xd4c3b2a1, 0x4d3cb2a1: littleEndian = true
        case 0x0a0d0d0a: throw Skip(description: "pcapng, not classic pcap")
        default:
            if bytes[0] == 0x1f && bytes[1] == 0x8b { throw Skip(description: "gzip-compressed") }
            throw Skip(description: "unknown magic")
        }
        func u32(_ i: Int) -> UInt32 {
            let b = (UInt32(bytes[i]), UInt32(bytes[i + 1]), UInt32(bytes[i + 2]), UInt32(bytes[i + 3]))
            return littleEndian ? b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24 : b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3
        }
        let linkType = u32(20) & 0x0fff_ffff
        guard [1, 101, 228, 229].contains(linkType) else { throw Skip(description: "link type \(linkType), not Ethernet or raw IP") }

        var order: [[UInt8]] = []
        var table: [[UInt8]: TCPConnection] = [:]
        var i = 24
        while i + 16 <= bytes.count {
            let captured = Int(u32(i + 8))
            let start = i + 16
            guard start + captured <= bytes.count else { break }
            i = start + captured
            guard let seg = tcpSegment(Array(bytes[start..<(start + captured)]), ethernet: linkType == 1) else { continue }
            let forward = seg.src.lexicographicallyPrecedes(seg.dst) || (seg.src == seg.dst && seg.sport <= seg.dport)
            let key = forward ? seg.src + seg.dst + [UInt8(seg.sport >> 8), UInt8(seg.sport & 0xff), UInt8(seg.dport >> 8), UInt8(seg.dport & 0xff)]
                : seg.dst + seg.src + [UInt8(seg.dport >> 8), UInt8(seg.dport & 0xff), UInt8(seg.sport >> 8), UInt8(seg.sport & 0xff)]
            if table[key] == nil {
                // The originator sent the first packet, unless that is a SYN-ACK (then the other side).
                let synAck = seg.flags & 0x12 == 0x12
                table[key] = synAck
                    ? TCPConnection(originatorAddress: seg.dst, originatorPort: seg.dport, responderAddress: seg.src, responderPort: seg.sport)
                    : TCPConnection(originatorAddress: seg.src, originatorPort: seg.sport, responderAddress: seg.dst, responderPort: seg.dport)
                order.append(key)
            }
            guard var conn = table[key] else { continue }
            let dir = (seg.src == conn.originatorAddress && seg.sport == conn.originatorPort) ? 0 : 1
            if seg.flags & 0x02 != 0 { conn.initialSequence[dir] = seg.seq &+ 1 }
            if !seg.payload.isEmpty { conn.segments[dir].append((seg.seq, seg.payload)) }
            table[key] = conn
        }
        return order.compactMap { table[$0] }
    }

    struct Segment { var src: [UInt8]; var dst: [UInt8]; var sport: UInt16; var dport: UInt16; var seq: UInt32; var flags: UInt8; var payload: [UInt8] }

    /// The TCP segment in an Ethernet frame (802.1Q/QinQ tags skipped) or a raw IP packet.
    static func tcpSegment(_ f: [UInt8], ethernet: Bool) -> Segment? {
        func u16(_ i: Int) -> Int { Int(f[i]) << 8 | Int(f[i + 1]) }
        var off = 0
        var etherType: Int
        if ethernet {
            guard f.count >= 14 else { return nil }
            off = 12
            etherType = u16(off)
            while etherType == 0x8100 || etherType == 0x88a8 {
                guard f.count >= off + 6 else { return nil }
                off += 4
                etherType = u16(off)
            }
            off += 2
        } else {
            guard let first = f.first else { return nil }
            etherType = first >> 4 == 6 ? 0x86dd : 0x0800
        }
        var src: [UInt8], dst: [UInt8]
        var tcpStart: Int, tcpEnd: Int
        if etherType == 0x0800 {
            guard f.count >= off + 20, f[off] >> 4 == 4 else { return nil }
            let ihl = Int(f[off] & 0x0f) * 4
            let total = u16(off + 2)
            guard f[off + 9] == 6, u16(off + 6) & 0x3fff == 0, ihl >= 20, total >= ihl else { return nil }
            src = Array(f[(off + 12)..<(off + 16)])
            dst = Array(f[(off + 16)..<(off + 20)])
            tcpStart = off + ihl
            tcpEnd = min(f.count, off + total)
        } else if etherType == 0x86dd {
            guard f.count >= off + 40 else { return nil }
            src = Array(f[(off + 8)..<(off + 24)])
            dst = Array(f[(off + 24)..<(off + 40)])
            var next = f[off + 6]
            var p = off + 40
            tcpEnd = min(f.count, off + 40 + u16(off + 4))
            while next == 0 || next == 43 || next == 60 {
                guard tcpEnd >= p + 8 else { return nil }
                next = f[p]
                p += (Int(f[p + 1]) + 1) * 8
            }
            guard next == 6 else { return nil }
            tcpStart = p
        } else {
            return nil
        }
        guard tcpEnd >= tcpStart + 20 else { return nil }
        let dataOffset = Int(f[tcpStart + 12] >> 4) * 4
        guard dataOffset >= 20, tcpStart + dataOffset <= tcpEnd else { return nil }
        let seq = UInt32(f[tcpStart + 4]) << 24 | UInt32(f[tcpStart + 5]) << 16 | UInt32(f[tcpStart + 6]) << 8 | UInt32(f[tcpStart + 7])
        return Segment(src: src, dst: dst, sport: UInt16(u16(tcpStart)), dport: UInt16(u16(tcpStart + 2)), seq: seq,
                       flags: f[tcpStart + 13], payload: Array(f[(tcpStart + dataOffset)..<tcpEnd]))
    }

    static func addressString(_ a: [UInt8]) -> String {
        if a.count == 4 { return a.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: a.count, by: 2).map { String(Int(a[$0]) << 8 | Int(a[$0 + 1]), radix: 16) }.joined(separator: ":")
    }
}

// MARK: - Driving the parser

/// The first non-`needMoreData` progress of feeding `stream` in the given chunks.
func parse(_ stream: [UInt8], direction: TLSDirection, cuts: [Int] = []) -> TLSParseProgress {
    var parser = TLSStreamParser(direction: direction)
    var start = 0
    var result = TLSParseProgress.needMoreData
    for end in cuts + [stream.count] where end >= start {
        let p = stream[start..<end].withUnsafeBytes { parser.feed($0) }
        if case .needMoreData = result { result = p } else if p != .finished && p != .needMoreData {
            Issue.record("a second report after \(result): \(p)")
        }
        start = end
    }
    return result
}

struct HelloPair {
    var connection: TCPConnection
    var client: TLSParseProgress
    var server: TLSParseProgress
    var clientHello: TLSClientHello? { if case .clientHello(let h) = client { h } else { nil } }
    var serverHello: TLSServerHello? { if case .serverHello(let h) = server { h } else { nil } }
}

func hellos(in path: String) throws -> [HelloPair] {
    try PcapTestReader.connections(path: path).map { c in
        HelloPair(connection: c, client: parse(c.clientStream, direction: .client),
                  server: parse(c.serverStream, direction: .server))
    }
}

/// Suricata's eve `tls.version` text for a ServerHello (test-only mapping; drafts before 16
/// put 0x0304 itself in the legacy version field).
func suricataVersion(_ h: TLSServerHello) -> String {
    if h.legacyVersion == 0x0304 { return "TLS 1.3 draft-<16" }
    let v = h.selectedVersion
    switch v {
    case 0x0300: return "SSLv3"
    case 0x0301: return "TLS 1.0"
    case 0x0302: return "TLS 1.1"
    case 0x0303: return "TLS 1.2"
    case 0x0304: return "TLS 1.3"
    default:
        if v >> 8 == 0x7f { return v & 0xff < 16 ? "TLS 1.3 draft-<16" : "TLS 1.3 draft-\(v & 0xff)" }
        return "unknown"
    }
}

/// Match counts per field.
struct FieldTally {
    var counts: [String: (match: Int, total: Int)] = [:]
    var misses: [String] = []
    mutating func check(_ field: String, _ expected: String, _ actual: String?, _ context: String) {
        var c = counts[field] ?? (0, 0)
        c.total += 1
        if actual == expected { c.match += 1 } else { misses.append("\(context) \(field): expected \(expected), got \(actual ?? "nil")") }
        counts[field] = c
    }
    func report(_ title: String) {
        for (field, c) in counts.sorted(by: { $0.key < $1.key }) {
            let rate = c.total == 0 ? 0 : 100.0 * Double(c.match) / Double(c.total)
            print("\(title) \(field): \(c.match)/\(c.total) (\(String(format: "%.1f", rate))%)")
        }
        for m in misses { print("\(title) miss: \(m)") }
    }
    var allMatch: Bool { misses.isEmpty }
}

// MARK: - Fixtures built in the test

enum TLSFixture {
    static func u16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xff), UInt8(v & 0xff)] }

    /// A ClientHello handshake message (header included) with the given lists.
    static func clientHello(version: Int = 0x0303, ciphers: [Int], extensions: [(Int, [UInt8])]) -> [UInt8] {
        var body = u16(version) + [UInt8](repeating: 7, count: 32) + [0]
        body += u16(ciphers.count * 2) + ciphers.flatMap(u16) + [1, 0]
        if !extensions.isEmpty {
            let ext = extensions.flatMap { u16($0.0) + u16($0.1.count) + $0.1 }
            body += u16(ext.count) + ext
        }
        return [1, UInt8(body.count >> 16), UInt8(body.count >> 8 & 0xff), UInt8(body.count & 0xff)] + body
    }

    /// `message` cut into handshake records of at most `fragment` bytes.
    static func records(_ message: [UInt8], fragment: Int) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < message.count {
            let n = min(fragment, message.count - i)
            out += [22, 3, 1] + u16(n) + message[i..<(i + n)]
            i += n
        }
        return out
    }

    static func sni(_ name: String) -> [UInt8] {
        let n = Array(name.utf8)
        return u16(n.count + 3) + [0] + u16(n.count) + n
    }

    static func alpn(_ names: [String]) -> [UInt8] {
        let list = names.flatMap { [UInt8($0.utf8.count)] + Array($0.utf8) }
        return u16(list.count) + list
    }

    static func u16List(_ values: [Int]) -> [UInt8] { u16(values.count * 2) + values.flatMap(u16) }

    /// A Chrome-like ClientHello with GREASE in ciphers, extensions, groups and versions.
    static let greaseHello: [UInt8] = clientHello(
        ciphers: [0x0a0a, 0x1301, 0x1302, 0xc02b, 0x002f],
        extensions: [
            (0x3a3a, []),
            (0x0000, sni("example.com")),
            (0x0010, alpn(["h2", "http/1.1"])),
            (0x000a, u16List([0x2a2a, 0x001d, 0x0017])),
            (0x000b, [1, 0]),
            (0x000d, u16List([0x0403, 0x0804, 0x0401])),
            (0x002b, [6] + u16(0x5a5a) + u16(0x0304) + u16(0x0303)),
            (0x0017, []),
            (0xfafa, [0]),
        ])
}

// MARK: - Tests

@Suite struct TLSTests {
    static var suricataDirectory: String? { sharedDataDirectory().map { $0 + "/pcap/suricata-verify" } }
    static var zeekDirectory: String? { sharedDataDirectory().map { $0 + "/pcap/zeek" } }

    @Test func greaseIsRecognized() {
        #expect(TLSFingerprint.isGREASE(0x0a0a))
        #expect(TLSFingerprint.isGREASE(0xfafa))
        #expect(!TLSFingerprint.isGREASE(0x0a1a))
        #expect(!TLSFingerprint.isGREASE(0x0017))
        #expect(!TLSFingerprint.isGREASE(0xff01))
    }

    @Test func digestsAreOpenSSLs() {
        #expect(TLSFingerprint.md5Hex("") == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(TLSFingerprint.md5Hex("abc") == "900150983cd24fb0d6963f7d28e17f72")
        #expect(TLSFingerprint.truncatedSHA256("abc") == "ba7816bf8f01")
    }

    @Test func namesFollowZeek() {
        #expect(TLSNames.version(0x0301) == "TLSv10")
        #expect(TLSNames.version(0x0303) == "TLSv12")
        #expect(TLSNames.version(0x0304) == "TLSv13")
        #expect(TLSNames.version(0x0300) == "SSLv3")
        #expect(TLSNames.version(0xfefd) == "DTLSv12")
        #expect(TLSNames.version(0x7f12) == "TLSv13-draft18")
        #expect(TLSNames.version(0x1234) == "unknown-4660")
        #expect(TLSNames.cipherSuite(0xc011) == "TLS_ECDHE_RSA_WITH_RC4_128_SHA")
        #expect(TLSNames.cipherSuite(0x1301) == "TLS_AES_128_GCM_SHA256")
        #expect(TLSNames.cipherSuite(0xcca8) == "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256")
        #expect(TLSNames.cipherSuite(0xfeee) == "unknown-65262")
    }

    @Test func greaseHelloFingerprints() throws {
        guard case .clientHello(let h) = parse(TLSFixture.records(TLSFixture.greaseHello, fragment: 1000), direction: .client) else {
            Issue.record("no ClientHello")
            return
        }
        #expect(h.serverName == "example.com")
        #expect(h.alpn == ["h2", "http/1.1"])
        #expect(h.cipherSuites == [0x0a0a, 0x1301, 0x1302, 0xc02b, 0x002f])
        #expect(h.extensions == [0x3a3a, 0, 0x10, 0x0a, 0x0b, 0x0d, 0x2b, 0x17, 0xfafa])
        #expect(h.supportedVersions == [0x5a5a, 0x0304, 0x0303])
        #expect(h.highestVersion == 0x0304)
        #expect(h.ecPointFormats == [0])
        #expect(h.signatureAlgorithms == [0x0403, 0x0804, 0x0401])
        #expect(h.ja3 == "771,4865-4866-49195-47,0-16-10-11-13-43-23,29-23,0")
        #expect(h.ja3Hash == TLSFingerprint.md5Hex(h.ja3))
        // a: t, 13, d, 4 ciphers, 7 extensions, ALPN "h2"; b: sorted ciphers; c: sorted
        // extensions without SNI/ALPN, then signature algorithms in order.
        let b = TLSFingerprint.truncatedSHA256("002f,1301,1302,c02b")
        let c = TLSFingerprint.truncatedSHA256("000a,000b,000d,0017,002b_0403,0804,0401")
        #expect(h.ja4 == "t13d0407h2_\(b)_\(c)")
    }

    @Test func ja4EdgeCases() throws {
        // No SNI, no ALPN, no extensions at all: TLS 1.0 style hello.
        let bare = TLSFixture.clientHello(version: 0x0301, ciphers: [0x0005, 0x0004], extensions: [])
        guard case .clientHello(let h) = parse(TLSFixture.records(bare, fragment: 500), direction: .client) else {
            Issue.record("no ClientHello")
            return
        }
        #expect(h.ja3 == "769,5-4,,,")
        #expect(h.ja4 == "t10i020000_\(TLSFingerprint.truncatedSHA256("0004,0005"))_000000000000")
        // Non-alphanumeric ALPN bytes: first and last hex digits; a one-byte value repeats.
        let odd = TLSFixture.clientHello(ciphers: [0x1301], extensions: [(0x0010, [0, 3, 2, 0xab, 0xcd])])
        guard case .clientHello(let o) = parse(TLSFixture.records(odd, fragment: 500), direction: .client) else {
            Issue.record("no ClientHello")
            return
        }
        #expect(o.ja4.hasPrefix("t12i0101ad_"))
        #expect(o.alpn == ["\\xab\\xcd"])
        let one = TLSFixture.clientHello(ciphers: [0x1301], extensions: [(0x0010, TLSFixture.alpn(["h"]))])
        guard case .clientHello(let q) = parse(TLSFixture.records(one, fragment: 9), direction: .client) else {
            Issue.record("no ClientHello")
            return
        }
        #expect(q.ja4.hasPrefix("t12i0101hh_"))
        // A bare handshake message (no record header) is not TLS on the wire.
        #expect(parse(one, direction: .client) == .stopped(.notTLS))
    }

    @Test func refusesWhatIsNotAHello() {
        func stop(_ bytes: [UInt8], _ direction: TLSDirection = .client) -> TLSParseProgress { parse(bytes, direction: direction) }
        #expect(stop(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)) == .stopped(.notTLS))
        #expect(stop(Array("SSH-2.0-OpenSSH_9.6\r\n".utf8)) == .stopped(.notTLS))
        // SSLv2-compatible ClientHello: 2-byte header with the high bit, CLIENT-HELLO, version 3.1.
        #expect(stop([0x80, 0x2e, 0x01, 0x03, 0x01, 0x00, 0x15]) == .stopped(.sslv2ClientHello))
        // An alert before the ServerHello (handshake_failure).
        #expect(stop([21, 3, 3, 0, 2, 2, 40], .server) == .stopped(.alertBeforeHello))
        #expect(stop([23, 3, 3, 0, 1, 0]) == .stopped(.unexpectedContentType))
        // A ServerHello where a ClientHello belongs, and the reverse.
        #expect(stop([22, 3, 1, 0, 4, 2, 0, 0, 0]) == .stopped(.unexpectedHandshakeType))
        #expect(stop([22, 3, 1, 0, 4, 1, 0, 0, 0], .server) == .stopped(.unexpectedHandshakeType))
        // A hello announcing 16 MB: refused before buffering.
        #expect(stop([22, 3, 1, 0, 4, 1, 0xff, 0xff, 0xff]) == .stopped(.helloTooLong))
        // A record past 2^14 + 2048 after a first good one.
        #expect(stop([22, 3, 1, 0, 0, 22, 3, 1, 0xff, 0xff]) == .stopped(.recordTooLong))
        // A hello whose cipher list runs past its end.
        #expect(stop(TLSFixture.records([1, 0, 0, 37] + [3, 3] + [UInt8](repeating: 0, count: 32) + [0, 0xff, 0xff], fragment: 100))
                == .stopped(.malformedHello))
        // An empty HelloRequest before the ServerHello is skipped, not refused.
        let empty = parse([22, 3, 3, 0, 4, 0, 0, 0, 0], direction: .server)
        #expect(empty == .needMoreData)
        // After the report, bytes are ignored.
        var p = TLSStreamParser(direction: .client)
        _ = [UInt8]("GET".utf8).withUnsafeBytes { p.feed($0) }
        _ = [UInt8](" / HTTP".utf8).withUnsafeBytes { p.feed($0) }
        #expect(p.isFinished)
        #expect([UInt8]("x".utf8).withUnsafeBytes { p.feed($0) } == .finished)
    }

    /// Hellos larger than one record are gathered across records; the bound refuses larger ones.
    @Test func bufferingIsBounded() {
        func padded(_ size: Int) -> [UInt8] {
            TLSFixture.clientHello(ciphers: [0x1301], extensions: [(0x0000, TLSFixture.sni("big.example")), (0x0015, [UInt8](repeating: 0, count: size))])
        }
        let big = padded(30_000)
        #expect(big.count - 4 <= TLSStreamParser.maximumHelloLength)
        let records = TLSFixture.records(big, fragment: 16_384)
        for cuts in [[], [1], [5, 6, 7], Array(stride(from: 1000, to: records.count, by: 1000))] {
            guard case .clientHello(let h) = parse(records, direction: .client, cuts: cuts) else {
                Issue.record("no ClientHello for cuts \(cuts)")
                continue
            }
            #expect(h.serverName == "big.example")
            #expect(h.extensions == [0, 21])
            #expect(h.ja3 == "771,4865,0-21,,")
        }
        let huge = padded(TLSStreamParser.maximumHelloLength)
        #expect(parse(TLSFixture.records(huge, fragment: 16_384), direction: .client) == .stopped(.helloTooLong))
    }

    /// Every ClientHello and ServerHello in the shared traces: fed whole, split at every
    /// position, byte by byte, truncated at every byte, and re-cut into records of 1…N bytes.
    @Test func splitsAndTruncationsGiveTheSameResult() throws {
        guard let dir = Self.suricataDirectory, let zeek = Self.zeekDirectory else {
            print("skip: no shared data directory")
            return
        }
        var paths = try FileManager.default.contentsOfDirectory(atPath: dir).sorted().map { "\(dir)/\($0)/input.pcap" }
        paths += ["tls-sni-gstatic", "tls12-no-sni", "tls13-ech"].map { "\(zeek)/\($0)/trace.pcap" }
        var streams = 0, splits = 0
        for path in paths where FileManager.default.fileExists(atPath: path) {
            for pair in try hellos(in: path) {
                for (direction, stream, whole) in [(TLSDirection.client, pair.connection.clientStream, pair.client),
                                                   (.server, pair.connection.serverStream, pair.server)] {
                    guard !stream.isEmpty else { continue }
                    switch whole {
                    case .clientHello, .serverHello: break
                    default: continue
                    }
                    // Where the hello ends: the shortest prefix that reports it.
                    var end = 0
                    var parser = TLSStreamParser(direction: direction)
                    for (k, b) in stream.enumerated() {
                        if [b].withUnsafeBytes({ parser.feed($0) }) != .needMoreData { end = k + 1; break }
                    }
                    #expect(end > 0)
                    let prefix = Array(stream[..<end])
                    streams += 1
                    #expect(parse(prefix, direction: direction) == whole)
                    for k in 0...prefix.count {
                        #expect(parse(prefix, direction: direction, cuts: [k]) == whole)
                        if k < prefix.count { #expect(parse(Array(prefix[..<k]), direction: direction) == .needMoreData) }
                        splits += 1
                    }
                    #expect(parse(prefix, direction: direction, cuts: Array(1..<prefix.count)) == whole)
                    // The hello re-cut into records of every size up to 600, split every 7 bytes.
                    if let message = Self.firstHandshakeMessage(prefix) {
                        for fragment in 1...min(message.count, 600) {
                            let recut = TLSFixture.records(message, fragment: fragment)
                            #expect(parse(recut, direction: direction) == whole)
                            #expect(parse(recut, direction: direction, cuts: Array(stride(from: 3, to: recut.count, by: 7))) == whole)
                        }
                    }
                }
            }
        }
        print("TLS split/truncation: \(streams) hello streams, \(splits) split positions, all agree")
        #expect(streams >= 20)
    }

    /// The first handshake message of a stream of records (header included), or nil.
    static func firstHandshakeMessage(_ records: [UInt8]) -> [UInt8]? {
        var payload: [UInt8] = []
        var i = 0
        while i + 5 <= records.count {
            let n = Int(records[i + 3]) << 8 | Int(records[i + 4])
            guard records[i] == 22, i + 5 + n <= records.count else { break }
            payload += records[(i + 5)..<(i + 5 + n)]
            i += 5 + n
        }
        guard payload.count >= 4 else { return nil }
        let length = Int(payload[1]) << 16 | Int(payload[2]) << 8 | Int(payload[3])
        return payload.count >= 4 + length ? Array(payload[..<(4 + length)]) : nil
    }

    /// Mutated hellos and random bytes: never a trap, always a single report or nothing.
    @Test func hostileBytesNeverTrap() throws {
        var rng = SystemRandomNumberGenerator()
        var seeds: [[UInt8]] = [TLSFixture.records(TLSFixture.greaseHello, fragment: 50)]
        if let dir = Self.suricataDirectory {
            for name in ["tls13-quic-ja4-alpn", "tls-cert-chain-alerts-ja3s", "tls12-ja4-cert-metadata"] {
                for pair in (try? hellos(in: "\(dir)/\(name)/input.pcap")) ?? [] {
                    seeds.append(Array(pair.connection.clientStream.prefix(2048)))
                    seeds.append(Array(pair.connection.serverStream.prefix(2048)))
                }
            }
        }
        seeds.removeAll { $0.isEmpty }
        var reports: [String: Int] = [:]
        for round in 0..<20_000 {
            var bytes = seeds[round % seeds.count]
            if round % 10 == 9 {
                bytes = (0..<Int.random(in: 0..<300, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            } else {
                for _ in 0..<Int.random(in: 1...8, using: &rng) where !bytes.isEmpty {
                    let k = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes[k] = UInt8.random(in: 0...255, using: &rng)
                }
            }
            let direction: TLSDirection = round % 2 == 0 ? .client : .server
            let cuts = (0..<3).map { _ in Int.random(in: 0...bytes.count, using: &rng) }.sorted()
            let result = parse(bytes, direction: direction, cuts: cuts)
            let label: String
            switch result {
            case .clientHello: label = "clientHello"
            case .serverHello: label = "serverHello"
            case .stopped(let r): label = r.rawValue
            case .needMoreData: label = "needMoreData"
            case .finished: label = "finished"
            }
            reports[label, default: 0] += 1
        }
        print("TLS hostile bytes: \(reports.sorted { $0.key < $1.key })")
        #expect(reports["finished"] == nil)
    }

    /// JA3, JA3S, JA4, SNI, ALPN and version against suricata-verify's expected eve records.
    @Test func suricataVerifyExpectations() throws {
        guard let dir = Self.suricataDirectory, FileManager.default.fileExists(atPath: dir) else {
            print("skip: no suricata-verify data")
            return
        }
        var tally = FieldTally()
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
            let caseDir = "\(dir)/\(name)"
            guard FileManager.default.fileExists(atPath: "\(caseDir)/input.pcap") else { continue }
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: caseDir)) ?? []).filter { $0.hasSuffix("test.yaml") }
            var expected: [(String, String)] = []
            for file in files.sorted() {
                guard let text = try? String(contentsOfFile: "\(caseDir)/\(file)", encoding: .utf8) else { continue }
                for line in text.split(separator: "\n") {
                    let t = line.trimmingCharacters(in: .whitespaces)
                    guard t.hasPrefix("tls."), let colon = t.firstIndex(of: ":") else { continue }
                    let key = String(t[..<colon])
                    var value = t[t.index(after: colon)...].trimmingCharacters(in: .whitespaces)
                    if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                    if value.hasPrefix("'"), value.hasSuffix("'"), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
                    expected.append((key, value))
                }
            }
            let interesting = expected.filter { ["tls.ja3.hash", "tls.ja3.string", "tls.ja3s.hash", "tls.ja3s.string", "tls.ja4",
                                                 "tls.sni", "tls.version"].contains($0.0) || $0.0.hasPrefix("tls.client_alpns[") }
            if interesting.isEmpty {
                print("suricata-verify \(name): no TLS handshake expectations (\(Set(expected.map(\.0)).sorted()); QUIC JA4 is out of this area)")
                continue
            }
            let pairs = try hellos(in: "\(caseDir)/input.pcap").filter { $0.clientHello != nil || $0.serverHello != nil }
            for (key, value) in interesting {
                // The connection carrying the value, else the first TLS one (to show the miss).
                let values = pairs.map { p -> String? in
                    let c = p.clientHello, s = p.serverHello
                    switch key {
                    case "tls.ja3.hash": return c?.ja3Hash
                    case "tls.ja3.string": return c?.ja3
                    case "tls.ja3s.hash": return s?.ja3sHash
                    case "tls.ja3s.string": return s?.ja3s
                    case "tls.ja4": return c?.ja4
                    case "tls.sni": return c?.serverName
                    case "tls.version": return s.map(suricataVersion)
                    default:
                        let digits = key.dropFirst("tls.client_alpns[".count).prefix { $0.isNumber }
                        guard let c, let k = Int(digits), k < c.alpn.count else { return nil }
                        return c.alpn[k]
                    }
                }
                tally.check(key, value, values.first { $0 == value } ?? values.first ?? nil, name)
            }
        }
        tally.report("suricata-verify")
        #expect(tally.allMatch)
    }

    /// Version, cipher and server_name against the ssl.log Zeek wrote for its TLS traces.
    @Test func zeekSSLLogAgreement() throws {
        guard let dir = Self.zeekDirectory, FileManager.default.fileExists(atPath: dir) else {
            print("skip: no Zeek data")
            return
        }
        var tally = FieldTally()
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
            let log = "\(dir)/\(name)/ssl.log"
            guard let text = try? String(contentsOfFile: log, encoding: .utf8) else { continue }
            let trace = ["trace.pcap", "trace.pcapng", "trace.pcap.gz"].map { "\(dir)/\(name)/\($0)" }
                .first { FileManager.default.fileExists(atPath: $0) }
            guard let trace else { continue }
            let pairs: [HelloPair]
            do { pairs = try hellos(in: trace) } catch {
                print("skip: zeek \(name): \(error)")
                continue
            }
            var fields: [String] = []
            for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
                let cols = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                if cols.first == "#fields" { fields = Array(cols.dropFirst()); continue }
                guard !line.hasPrefix("#"), cols.count == fields.count else { continue }
                func col(_ f: String) -> String { fields.firstIndex(of: f).map { cols[$0] } ?? "-" }
                let tuple = "\(col("id.orig_h")):\(col("id.orig_p")) → \(col("id.resp_h")):\(col("id.resp_p"))"
                let pair = pairs.first { $0.connection.tupleDescription == tuple }
                let context = "\(name) \(tuple)"
                tally.check("connection", "found", pair == nil ? nil : "found", context)
                tally.check("version", col("version"), pair?.serverHello?.versionName, context)
                tally.check("cipher", col("cipher"), pair?.serverHello?.cipherName, context)
                tally.check("server_name", col("server_name"), pair.map { $0.clientHello?.serverName ?? "-" }, context)
            }
        }
        tally.report("zeek ssl.log")
        #expect(tally.allMatch)
        #expect((tally.counts["version"]?.total ?? 0) >= 4)
    }

    /// Every TCP stream of every shared Zeek trace (DNS, HTTP, SSH, FTP…): no trap, and each
    /// non-TLS stream stops with a reason.
    @Test func everySharedTCPStreamEndsCleanly() throws {
        guard let dir = Self.zeekDirectory, FileManager.default.fileExists(atPath: dir) else {
            print("skip: no Zeek data")
            return
        }
        var outcomes: [String: Int] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir).sorted() {
            guard let trace = ["trace.pcap", "trace.pcapng", "trace.pcap.gz"].map({ "\(dir)/\(name)/\($0)" })
                .first(where: { FileManager.default.fileExists(atPath: $0) }) else { continue }
            let pairs: [HelloPair]
            do { pairs = try hellos(in: trace) } catch {
                print("skip: zeek \(name): \(error)")
                continue
            }
            for p in pairs {
                for r in [p.client, p.server] {
                    switch r {
                    case .clientHello, .serverHello: outcomes["hello", default: 0] += 1
                    case .stopped(let reason):
                        outcomes[reason.rawValue, default: 0] += 1
                        if reason != .notTLS { print("TLS stop in zeek \(name) \(p.connection.tupleDescription): \(reason)") }
                    case .needMoreData: outcomes["needMoreData", default: 0] += 1
                    case .finished: outcomes["finished", default: 0] += 1
                    }
                }
            }
        }
        print("TLS over all Zeek TCP streams: \(outcomes.sorted { $0.key < $1.key })")
        #expect(outcomes["finished"] == nil)
    }
}
