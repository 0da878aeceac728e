import Foundation
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilDecode

// MARK: - A minimal classic-pcap reader for the protocol tests (DNS, HTTP, SSH)

/// One UDP datagram or TCP segment from a trace, with its payload.
struct ProtoTracePacket {
    var source: String
    var destination: String
    var sourcePort: UInt16
    var destinationPort: UInt16
    var isTCP: Bool
    var sequence: UInt32 = 0
    var tcpFlags: UInt8 = 0
    var payload: [UInt8]
}

/// Reads classic pcap (either byte order, micro- or nanosecond) with Ethernet (802.1Q/QinQ),
/// raw IP, null/loop and Linux SLL link types, IPv4 and IPv6 (skipping fragments), UDP and TCP.
/// Written for the tests only: the sensor's own decoder is elsewhere.
enum ProtoTrace {
    struct Result {
        var packets: [ProtoTracePacket] = []
        /// Packets skipped, by reason.
        var skipped: [String: Int] = [:]
    }

    /// The packets of `path`, or nil (with the reason printed) when it is not classic pcap.
    /// With `verifyIPv4Checksums`, packets whose IPv4 header checksum is wrong are skipped, as
    /// Zeek does unless run with `-C`.
    static func read(_ path: String, verifyIPv4Checksums: Bool = false) -> Result? {
        guard let data = FileManager.default.contents(atPath: path) else {
            print("skip: cannot read \(path)")
            return nil
        }
        let bytes = [UInt8](data)
        guard bytes.count >= 24 else { print("skip: \(path) is too short for pcap"); return nil }
        let magic = UInt32(bytes[0]) | UInt32(bytes[1]) << 8 | UInt32(bytes[2]) << 16 | UInt32(bytes[3]) << 24
        let littleEndian: Bool
        switch magic {
        case 0xA1B2C3D4, 0xA1B23C4D: littleEndian = true
        case 0xD4C3B2A1, 0x4D3CB2A1: littleEndian = false
        default:
            print("skip: \(path) is not classic pcap (pcapng or compressed)")
            return nil
        }
        func u32(_ o: Int) -> UInt32 {
            let v = UInt32(bytes[o]) | UInt32(bytes[o + 1]) << 8 | UInt32(bytes[o + 2]) << 16 | UInt32(bytes[o + 3]) << 24
            return littleEndian ? v : v.byteSwapped
        }
        let linkType = u32(20) & 0xFFFF
        var result = Result()
        var offset = 24
        while offset + 16 <= bytes.count {
            let captured = Int(u32(offset + 8))
            let start = offset + 16
            guard captured <= bytes.count - start else { result.skipped["truncated file", default: 0] += 1; break }
            offset = start + captured
            let frame = Array(bytes[start..<(start + captured)])
            switch decodeLink(frame, linkType: linkType, verify: verifyIPv4Checksums) {
            case .packet(let p): result.packets.append(p)
            case .skip(let reason): result.skipped[reason, default: 0] += 1
            }
        }
        return result
    }

    enum Decoded {
        case packet(ProtoTracePacket)
        case skip(String)
    }

    static func be16(_ b: [UInt8], _ o: Int) -> Int { Int(b[o]) << 8 | Int(b[o + 1]) }

    static func decodeLink(_ f: [UInt8], linkType: UInt32, verify: Bool) -> Decoded {
        switch linkType {
        case 1:
            guard f.count >= 14 else { return .skip("short ethernet") }
            var o = 12
            var type = be16(f, o)
            while type == 0x8100 || type == 0x88A8 {
                guard f.count >= o + 6 else { return .skip("short vlan") }
                o += 4
                type = be16(f, o)
            }
            return decodeIP(Array(f[(o + 2)...]), etherType: type, verify: verify)
        case 12, 101, 228, 229:
            guard let first = f.first else { return .skip("empty") }
            return decodeIP(f, etherType: first >> 4 == 6 ? 0x86DD : 0x0800, verify: verify)
        case 0, 108:
            guard f.count >= 5 else { return .skip("short loopback") }
            return decodeIP(Array(f[4...]), etherType: f[4] >> 4 == 6 ? 0x86DD : 0x0800, verify: verify)
        case 113:
            guard f.count >= 16 else { return .skip("short sll") }
            return decodeIP(Array(f[16...]), etherType: be16(f, 14), verify: verify)
        default:
            return .skip("link type \(linkType)")
        }
    }

    static func decodeIP(_ p: [UInt8], etherType: Int, verify: Bool) -> Decoded {
        if etherType == 0x0800 {
            guard p.count >= 20, p[0] >> 4 == 4 else { return .skip("short ipv4") }
            let ihl = Int(p[0] & 0xF) * 4
            let total = min(be16(p, 2), p.count)
            guard ihl >= 20, total >= ihl else { return .skip("bad ipv4 header") }
            let fragment = be16(p, 6)
            if fragment & 0x3FFF != 0 { return .skip("ipv4 fragment (not reassembled here)") }
            if verify {
                var sum = 0
                for k in stride(from: 0, to: ihl, by: 2) { sum += be16(p, k) }
                while sum > 0xFFFF { sum = (sum & 0xFFFF) + (sum >> 16) }
                if sum != 0xFFFF { return .skip("bad ipv4 header checksum (Zeek without -C drops it)") }
            }
            let src = IPAddress(bytes: p[12..<16])!.description
            let dst = IPAddress(bytes: p[16..<20])!.description
            return decodeTransport(Array(p[ihl..<total]), protocol: p[9], src: src, dst: dst)
        } else if etherType == 0x86DD {
            guard p.count >= 40 else { return .skip("short ipv6") }
            let src = IPAddress(bytes: p[8..<24])!.description
            let dst = IPAddress(bytes: p[24..<40])!.description
            var next = p[6]
            var o = 40
            let end = min(40 + be16(p, 4), p.count)
            while [0, 43, 60].contains(next) {
                guard o + 8 <= end else { return .skip("short ipv6 extension") }
                next = p[o]
                o += (Int(p[o + 1]) + 1) * 8
            }
            if next == 44 { return .skip("ipv6 fragment (not reassembled here)") }
            guard o <= end else { return .skip("short ipv6 extension") }
            return decodeTransport(Array(p[o..<end]), protocol: next, src: src, dst: dst)
        }
        return .skip("ethertype \(etherType)")
    }

    static func decodeTransport(_ t: [UInt8], protocol proto: UInt8, src: String, dst: String) -> Decoded {
        switch proto {
        case 17:
            guard t.count >= 8 else { return .skip("short udp") }
            let length = min(max(be16(t, 4), 8), t.count)
            return .packet(ProtoTracePacket(source: src, destination: dst, sourcePort: UInt16(be16(t, 0)),
                                            destinationPort: UInt16(be16(t, 2)), isTCP: false,
                                            payload: Array(t[8..<length])))
        case 6:
            guard t.count >= 20 else { return .skip("short tcp") }
            let dataOffset = Int(t[12] >> 4) * 4
            guard dataOffset >= 20, dataOffset <= t.count else { return .skip("bad tcp header") }
            let seq = UInt32(be16(t, 4)) << 16 | UInt32(be16(t, 6))
            return .packet(ProtoTracePacket(source: src, destination: dst, sourcePort: UInt16(be16(t, 0)),
                                            destinationPort: UInt16(be16(t, 2)), isTCP: true, sequence: seq,
                                            tcpFlags: t[13], payload: Array(t[dataOffset...])))
        default:
            return .skip("ip protocol \(proto)")
        }
    }

    /// The bytes one side of each TCP connection sent, in sequence order, duplicates dropped,
    /// keyed by "src sport dst dport". Good enough for the small test traces.
    static func tcpStreams(_ packets: [ProtoTracePacket]) -> [String: [UInt8]] {
        var segments: [String: [(UInt32, [UInt8])]] = [:]
        var isn: [String: UInt32] = [:]
        for p in packets where p.isTCP {
            let key = "\(p.source) \(p.sourcePort) \(p.destination) \(p.destinationPort)"
            if p.tcpFlags & 0x02 != 0 { isn[key] = p.sequence &+ 1 }
            if !p.payload.isEmpty { segments[key, default: []].append((p.sequence, p.payload)) }
        }
        var streams: [String: [UInt8]] = [:]
        for (key, list) in segments {
            let base = isn[key] ?? list.map(\.0).min() ?? 0
            let ordered = list.sorted { ($0.0 &- base) < ($1.0 &- base) }
            var out: [UInt8] = []
            var next: UInt32 = 0
            for (seq, data) in ordered {
                let rel = seq &- base
                if rel > next { break } // a gap: stop at what is contiguous
                let skip = Int(next - rel)
                if skip < data.count { out.append(contentsOf: data[skip...]); next = rel &+ UInt32(data.count) }
            }
            streams[key] = out
        }
        return streams
    }
}

/// Rows of a Zeek ASCII log as [column: value]; nil when the log is missing.
func zeekLogRows(_ path: String) -> [[String: String]]? {
    FileManager.default.fileExists(atPath: path) ? readZeekLog(path) : nil
}

// MARK: - DNS

/// Builds DNS messages for tests.
struct DNSBuilder {
    var bytes: [UInt8] = []
    init(id: UInt16 = 0x1234, flags: UInt16 = 0x8180, qd: Int = 1, an: Int = 0, ns: Int = 0, ar: Int = 0) {
        for v in [Int(id), Int(flags), qd, an, ns, ar] { u16(v) }
    }
    mutating func u16(_ v: Int) { bytes.append(UInt8(v >> 8 & 0xFF)); bytes.append(UInt8(v & 0xFF)) }
    mutating func u32(_ v: UInt32) { u16(Int(v >> 16)); u16(Int(v & 0xFFFF)) }
    mutating func name(_ dotted: String) {
        for label in dotted.split(separator: ".") { bytes.append(UInt8(label.utf8.count)); bytes.append(contentsOf: label.utf8) }
        bytes.append(0)
    }
    mutating func pointer(_ offset: Int) { bytes.append(UInt8(0xC0 | offset >> 8)); bytes.append(UInt8(offset & 0xFF)) }
    mutating func question(_ n: String, type: Int = 1) { name(n); u16(type); u16(1) }
    /// A record whose owner is a pointer to `owner` and whose RDATA is `rdata`.
    mutating func record(owner: Int, type: Int, ttl: UInt32 = 300, rdata: [UInt8]) {
        pointer(owner); u16(type); u16(1); u32(ttl); u16(rdata.count); bytes.append(contentsOf: rdata)
    }
}

func parseDNS(_ bytes: [UInt8]) throws(DNSError) -> DNSMessage {
    let result: Result<DNSMessage, DNSError> = bytes.withUnsafeBytes { b in
        do throws(DNSError) { return .success(try DNSParser.parse(b)) } catch { return .failure(error) }
    }
    return try result.get()
}

@Suite struct DNSTests {
    @Test func decodesHeaderQuestionAndCompressedAnswers() throws {
        var b = DNSBuilder(id: 0xBEEF, flags: 0x8580, an: 4)
        b.question("www.Example.com")
        // CNAME www → cdn.example.com (pointer into the question's "example.com" at offset 16)
        let cname: [UInt8] = [3] + Array("cdn".utf8) + [0xC0, 16]
        b.record(owner: 12, type: 5, ttl: 60, rdata: cname)
        let cnameStart = b.bytes.count - cname.count
        b.record(owner: cnameStart, type: 1, ttl: 30, rdata: [192, 0, 2, 7])
        b.record(owner: 12, type: 28, rdata: [0x20, 0x01, 0x0d, 0xb8] + Array(repeating: 0, count: 11) + [1])
        b.record(owner: 12, type: 15, rdata: [0, 10, 0xC0, UInt8(cnameStart)])
        let m = try parseDNS(b.bytes)
        #expect(m.id == 0xBEEF && m.isResponse && m.authoritative && m.recursionDesired && m.recursionAvailable)
        #expect(!m.truncated && m.opcode == 0 && m.rcode == 0 && m.z == 0)
        // Names are lower-cased, as Zeek logs them.
        #expect(m.questions == [DNSQuestion(name: "www.example.com", type: 1, class: 1)])
        #expect(m.answers.map(\.rendered) == ["cdn.example.com", "192.0.2.7", "2001:db8::1", "cdn.example.com"])
        #expect(m.answers.map(\.name) == ["www.example.com", "cdn.example.com", "www.example.com", "www.example.com"])
        #expect(m.answers.map(\.ttl) == [60, 30, 300, 300])
        #expect(m.answerError == nil)
    }

    @Test func rendersRecordTypesAsZeek() throws {
        var b = DNSBuilder(an: 9)
        b.question("example.org", type: 16)
        b.record(owner: 12, type: 16, rdata: [5] + Array("hello".utf8) + [3, 0x61, 0x09, 0xFF])
        b.record(owner: 12, type: 99, rdata: [6] + Array("v=spf1".utf8))
        // RRSIG covering A, signer example.org (pointer)
        b.record(owner: 12, type: 46, rdata: [0, 1, 8, 2] + Array(repeating: 0, count: 14) + [0xC0, 12] + [1, 2, 3])
        b.record(owner: 12, type: 46, rdata: [0, 5, 8, 2] + Array(repeating: 0, count: 14) + [0])
        b.record(owner: 12, type: 48, rdata: [1, 0, 3, 8, 0xAA])
        b.record(owner: 12, type: 43, rdata: [0x12, 0x34, 8, 2, 0xAB])
        b.record(owner: 12, type: 47, rdata: [1, 0x61, 0xC0, 12, 0, 1, 0x40])
        b.record(owner: 12, type: 33, rdata: [0, 1, 0, 2, 0x01, 0xBB, 0xC0, 12])
        b.record(owner: 12, type: 4242, rdata: [1, 2, 3])
        let m = try parseDNS(b.bytes)
        #expect(m.answers.map(\.rendered) == [
            "TXT 5 hello TXT 3 a\\x09\\xff", "SPF 6 v=spf1", "RRSIG 1 example.org", "RRSIG 5 <Root>",
            "DNSKEY 8", "DS 8 2", "NSEC example.org a.example.org", "example.org", "<unknown type=4242>",
        ])
    }

    @Test func escapesNonPrintableLabelBytes() throws {
        var b = DNSBuilder(flags: 0x0100)
        b.bytes += [3, 0x61, 0x00, 0x7F, 2, 0xC3, 0xA9, 0]
        b.u16(1); b.u16(1)
        #expect(try parseDNS(b.bytes).questions.first?.name == "a\\x00\\x7f.\\xc3\\xa9")
    }

    @Test func rejectsPointerLoopsAndForwardPointers() {
        var selfLoop = DNSBuilder(flags: 0x0100)
        selfLoop.pointer(12); selfLoop.u16(1); selfLoop.u16(1)
        #expect(throws: DNSError.badPointer) { try parseDNS(selfLoop.bytes) }

        var forward = DNSBuilder(flags: 0x0100)
        forward.pointer(14); forward.bytes += [1, 0x61, 0]; forward.u16(1); forward.u16(1)
        #expect(throws: DNSError.badPointer) { try parseDNS(forward.bytes) }

        // a → pointer back to the start of the same name: a loop through a label.
        var labelLoop = DNSBuilder(flags: 0x0100)
        labelLoop.bytes += [1, 0x61]; labelLoop.pointer(12); labelLoop.u16(1); labelLoop.u16(1)
        #expect(throws: DNSError.badPointer) { try parseDNS(labelLoop.bytes) }

        // Two answers pointing at each other's names.
        var mutual = DNSBuilder(qd: 0, an: 2)
        mutual.pointer(24); mutual.u16(1); mutual.u16(1); mutual.u32(1); mutual.u16(0)
        mutual.pointer(12); mutual.u16(1); mutual.u16(1); mutual.u32(1); mutual.u16(0)
        let m = try? parseDNS(mutual.bytes)
        #expect(m?.answers.isEmpty == true && m?.answerError == .badPointer)
    }

    @Test func enforcesLabelRulesAndNameLength() {
        var reserved = DNSBuilder(flags: 0x0100)
        reserved.bytes += [0x41, 0]; reserved.u16(1); reserved.u16(1)
        #expect(throws: DNSError.badLabelType) { try parseDNS(reserved.bytes) }

        var long = DNSBuilder(flags: 0x0100)
        for _ in 0..<5 { long.bytes.append(63); long.bytes += Array(repeating: 0x61, count: 63) }
        long.bytes.append(0); long.u16(1); long.u16(1)
        #expect(throws: DNSError.nameTooLong) { try parseDNS(long.bytes) }

        // 255 octets exactly is allowed: 3 × 64 + 62 + root.
        var limit = DNSBuilder(flags: 0x0100)
        for _ in 0..<3 { limit.bytes.append(63); limit.bytes += Array(repeating: 0x62, count: 63) }
        limit.bytes.append(61); limit.bytes += Array(repeating: 0x63, count: 61)
        limit.bytes.append(0); limit.u16(1); limit.u16(1)
        #expect((try? parseDNS(limit.bytes))?.questions.first?.name.utf8.count == 253)

        #expect(throws: DNSError.truncatedHeader) { try parseDNS([1, 2, 3]) }
    }

    @Test func hugeCountsAreBoundedByTheInput() throws {
        var b = DNSBuilder(flags: 0x8180, qd: 1, an: 0xFFFF, ns: 0xFFFF, ar: 0xFFFF)
        b.question("a.b")
        b.record(owner: 12, type: 1, rdata: [10, 0, 0, 1])
        let m = try parseDNS(b.bytes)
        #expect(m.answers.count == 1 && m.answerError == .truncatedName)
        #expect(m.authorityCount == 0xFFFF && m.additionalCount == 0xFFFF)

        var q = DNSBuilder(flags: 0x0100, qd: 0xFFFF)
        q.question("a.b")
        #expect(throws: DNSError.truncatedName) { try parseDNS(q.bytes) }
    }

    @Test func truncationAtEveryByteNeverTraps() throws {
        var b = DNSBuilder(an: 3)
        b.question("mail.example.net", type: 15)
        b.record(owner: 12, type: 15, rdata: [0, 5, 2, 0x6D, 0x78, 0xC0, 17])
        b.record(owner: 12, type: 16, rdata: [4] + Array("text".utf8))
        b.record(owner: 12, type: 6, rdata: [2, 0x6E, 0x73, 0xC0, 17] + [0xC0, 17] + Array(repeating: 0, count: 20))
        let full = try parseDNS(b.bytes)
        #expect(full.answers.map(\.rendered) == ["mx.example.net", "TXT 4 text", "ns.example.net"])
        for cut in 0..<b.bytes.count {
            _ = try? parseDNS(Array(b.bytes[..<cut]))
        }
        // Every single-byte corruption, too.
        for index in 0..<b.bytes.count {
            for value: UInt8 in [0, 0x3F, 0x40, 0xC0, 0xFF] {
                var corrupt = b.bytes
                corrupt[index] = value
                _ = try? parseDNS(corrupt)
            }
        }
    }

    @Test func tcpFraming() throws {
        var b = DNSBuilder(flags: 0x0100)
        b.question("a.example")
        var stream = [UInt8(b.bytes.count >> 8), UInt8(b.bytes.count & 0xFF)] + b.bytes
        stream += [0, 3, 1]
        try stream.withUnsafeBytes { s in
            #expect(DNSParser.nextTCPFrame(UnsafeRawBufferPointer(rebasing: s[..<5])) == nil)
            let frame = try #require(DNSParser.nextTCPFrame(s))
            #expect(frame.consumed == b.bytes.count + 2)
            #expect(try DNSParser.parse(frame.message).questions.first?.name == "a.example")
            #expect(DNSParser.nextTCPFrame(UnsafeRawBufferPointer(rebasing: s[frame.consumed...])) == nil)
        }
    }

    @Test func zeekNames() {
        #expect(DNSNames.qtypeName(1) == "A" && DNSNames.qtypeName(28) == "AAAA" && DNSNames.qtypeName(32) == "NIMLOC")
        #expect(DNSNames.qtypeName(255) == "*" && DNSNames.qtypeName(9999) == "query-9999")
        #expect(DNSNames.rcodeName(3) == "NXDOMAIN" && DNSNames.rcodeName(0) == "NOERROR" && DNSNames.rcodeName(12) == "rcode-12")
        #expect(DNSNames.opcodeName(0, netbios: true) == "netbios-query" && DNSNames.opcodeName(0) == "query")
        #expect(DNSNames.decodeNetBIOSName("FHEPFCELEHFCEPFFFACACACACACACABO") == "WORKGROUP")
        #expect(DNSNames.decodeNetBIOSName("not-netbios") == "not-netbios")
    }

    // MARK: Zeek traces

    /// Pairs each trace's DNS messages into transactions and compares them with its dns.log.
    @Test func agreesWithZeekDNSLogs() throws {
        guard let shared = sharedDataDirectory() else { print("skip: no shared data directory"); return }
        let root = shared + "/pcap/zeek"
        guard let cases = try? FileManager.default.contentsOfDirectory(atPath: root) else {
            print("skip: no Zeek traces at \(root)"); return
        }
        let fieldNames = ["query", "qclass", "qtype_name", "rcode_name", "AA", "TC", "RD", "RA", "Z", "answers", "TTLs", "opcode_name"]
        var totalRows = 0, totalMatched = 0
        var fieldTotals: [String: (Int, Int)] = [:]
        for name in cases.sorted() {
            let dir = root + "/" + name
            guard FileManager.default.fileExists(atPath: dir + "/dns.log") else { continue }
            guard let rows = zeekLogRows(dir + "/dns.log") else { print("skip: \(name): unreadable dns.log"); continue }
            let verify = !Self.zeekCommand(root, name).contains(" -C ")
            guard let trace = ProtoTrace.read(dir + "/trace.pcap", verifyIPv4Checksums: verify) else {
                print("skip: \(name): no classic pcap trace"); continue
            }
            for (reason, n) in trace.skipped.sorted(by: { $0.key < $1.key }) where !reason.hasPrefix("ip protocol") {
                print("\(name): skipped \(n) packets: \(reason)")
            }
            // Transactions per (orig_h, orig_p, resp_h, resp_p, trans_id), in packet order.
            var rowsByKey: [String: [[String: String]]] = [:]
            for row in rows where row["proto"] == "udp" {
                let key = [row["id.orig_h"]!, row["id.orig_p"]!, row["id.resp_h"]!, row["id.resp_p"]!, row["trans_id"]!].joined(separator: " ")
                rowsByKey[key, default: []].append(row)
            }
            var transactions: [String: [(query: DNSMessage?, reply: DNSMessage?)]] = [:]
            var parseFailures = 0
            for p in trace.packets where !p.isTCP {
                guard let m = try? parseDNS(p.payload) else { parseFailures += 1; continue }
                let forward = "\(p.source) \(p.sourcePort) \(p.destination) \(p.destinationPort) \(m.id)"
                let reverse = "\(p.destination) \(p.destinationPort) \(p.source) \(p.sourcePort) \(m.id)"
                let key = rowsByKey[forward] != nil ? forward : reverse
                guard rowsByKey[key] != nil else { continue }
                var list = transactions[key, default: []]
                if m.isResponse, let open = list.lastIndex(where: { $0.reply == nil }) {
                    list[open].reply = m
                } else if m.isResponse {
                    list.append((nil, m))
                } else {
                    list.append((m, nil))
                }
                transactions[key] = list
            }
            var matched = 0
            for (key, expectedRows) in rowsByKey.sorted(by: { $0.key < $1.key }) {
                let found = transactions[key] ?? []
                for (index, row) in expectedRows.enumerated() {
                    totalRows += 1
                    let got: [String: String] = index < found.count ? Self.zeekView(found[index], netbios: row["id.resp_p"] == "137") : [:]
                    var allMatch = true
                    for field in fieldNames {
                        let ok = got[field] == row[field]
                        fieldTotals[field, default: (0, 0)].0 += ok ? 1 : 0
                        fieldTotals[field, default: (0, 0)].1 += 1
                        if !ok {
                            allMatch = false
                            print("\(name) \(key) #\(index) \(field): zeek \(row[field] ?? "?") vigil \(got[field] ?? "(none)")")
                        }
                    }
                    if allMatch { matched += 1 }
                }
            }
            totalMatched += matched
            let rowsHere = rowsByKey.values.reduce(0) { $0 + $1.count }
            print("\(name): \(matched)/\(rowsHere) dns.log rows match (\(parseFailures) DNS payloads failed to parse)")
        }
        for (field, (ok, n)) in fieldTotals.sorted(by: { $0.key < $1.key }) { print("dns field \(field): \(ok)/\(n)") }
        print("DNS vs Zeek: \(totalMatched)/\(totalRows) rows match on every compared field")
        #expect(totalRows > 0)
        #expect(totalMatched * 10 >= totalRows * 9)
    }

    /// The `zeek` command line index.tsv gives for a case ("" when unknown).
    static func zeekCommand(_ root: String, _ name: String) -> String {
        guard let index = try? String(contentsOfFile: root + "/index.tsv", encoding: .utf8) else { return "" }
        for line in index.split(separator: "\n") {
            let columns = line.split(separator: "\t", omittingEmptySubsequences: false)
            if columns.count > 4, columns[0] == name { return String(columns[4]) }
        }
        return ""
    }

    /// A transaction as Zeek's dns.log would show the compared columns.
    static func zeekView(_ t: (query: DNSMessage?, reply: DNSMessage?), netbios: Bool) -> [String: String] {
        func flag(_ b: Bool) -> String { b ? "T" : "F" }
        var v: [String: String] = [:]
        let q = t.query, r = t.reply
        var query = q?.questions.first?.name ?? r?.questions.first?.name ?? r?.answers.first?.name
        if netbios, let n = query { query = DNSNames.decodeNetBIOSName(n) }
        v["query"] = query.map { $0.isEmpty ? "(empty)" : $0 } ?? "-"
        v["qclass"] = q?.questions.first.map { String($0.class) } ?? "-"
        v["qtype_name"] = q?.questions.first.map { DNSNames.qtypeName($0.type) } ?? "-"
        v["rcode_name"] = r.map { DNSNames.rcodeName($0.rcode) } ?? "-"
        // Zeek sets AA and RA from a reply only while logging its answers.
        let answered = r.map { !$0.answers.isEmpty } ?? false
        v["AA"] = flag(answered && r?.authoritative == true)
        v["RA"] = flag(answered && r?.recursionAvailable == true)
        v["TC"] = flag((q?.truncated ?? false) || (r?.truncated ?? false))
        v["RD"] = flag(q?.recursionDesired ?? false) // Zeek takes RD from the query only
        v["Z"] = String((q ?? r)?.z ?? 0)
        v["opcode_name"] = DNSNames.opcodeName((q ?? r)?.opcode ?? 0, netbios: netbios)
        let answers = r?.answers ?? []
        v["answers"] = answers.isEmpty ? "-" : answers.map(\.rendered).joined(separator: ",")
        v["TTLs"] = answers.isEmpty ? "-" : answers.map { String(format: "%.6f", Double($0.ttl)) }.joined(separator: ",")
        return v
    }
}
