import Testing
import VigilCore
@testable import VigilDecode

/// Hand-built frames.
enum Frames {
    static func be16(_ v: Int) -> [UInt8] { [UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }
    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func udp(_ sport: Int, _ dport: Int, payload: [UInt8]) -> [UInt8] {
        be16(sport) + be16(dport) + be16(8 + payload.count) + [0, 0] + payload
    }

    static func tcp(_ sport: Int, _ dport: Int, seq: UInt32, ack: UInt32 = 0, flags: UInt8, window: Int = 1024,
                    options: [UInt8] = [], payload: [UInt8] = []) -> [UInt8] {
        let offset = (20 + options.count) / 4
        return be16(sport) + be16(dport) + be32(seq) + be32(ack) + [UInt8(offset << 4), flags] + be16(window) + [0, 0, 0, 0]
            + options + payload
    }

    static func ipv4(_ src: UInt32, _ dst: UInt32, proto: UInt8, _ body: [UInt8], id: Int = 1, fragment: Int = 0,
                     options: [UInt8] = [], ttl: UInt8 = 64) -> [UInt8] {
        let ihl = (20 + options.count) / 4
        return [UInt8(0x40 | ihl), 0] + be16(ihl * 4 + body.count) + be16(id) + be16(fragment) + [ttl, proto, 0, 0]
            + be32(src) + be32(dst) + options + body
    }

    static func v6(_ last: UInt8) -> [UInt8] { [0x20, 0x01, 0x0d, 0xb8] + [UInt8](repeating: 0, count: 11) + [last] }

    static func ipv6(_ src: UInt8, _ dst: UInt8, next: UInt8, _ body: [UInt8], hopLimit: UInt8 = 64) -> [UInt8] {
        [0x60, 0, 0, 0] + be16(body.count) + [next, hopLimit] + v6(src) + v6(dst) + body
    }

    static func ethernet(_ type: Int, _ body: [UInt8], tags: [(Int, Int)] = []) -> [UInt8] {
        var frame = [UInt8](repeating: 0xAA, count: 6) + [UInt8](repeating: 0xBB, count: 6)
        for (tpid, id) in tags { frame += be16(tpid) + be16(id) }
        return frame + be16(type) + body
    }
}

/// Decodes `frame` and returns the packet fields (payload copied out of the closure).
func decodeOne(_ decoder: inout PacketDecoder, _ frame: [UInt8], at ts: Int64 = 1_000_000_000)
    -> (packet: Packet, payload: [UInt8])? {
    var result: (Packet, [UInt8])?
    frame.withUnsafeBytes { raw in
        decoder.decode(raw, timestamp: ts) { p in
            var copy = p
            let bytes = Array(p.payload)
            copy.payload = UnsafeRawBufferPointer(start: nil, count: 0)
            result = (copy, bytes)
        }
    }
    return result
}

@Suite struct PacketDecoderTests {
    let udpV4 = Frames.ipv4(0x0A00_0001, 0x0A00_0002, proto: 17, Frames.udp(1234, 53, payload: [1, 2, 3, 4]))

    @Test func ethernetUDP() throws {
        var d = PacketDecoder(linkType: .ethernet)
        let (p, payload) = try #require(decodeOne(&d, Frames.ethernet(0x0800, udpV4)))
        #expect(p.ipVersion == 4 && p.transport == 17)
        #expect(p.source == IPAddress("10.0.0.1") && p.destination == IPAddress("10.0.0.2"))
        #expect(p.sourcePort == 1234 && p.destinationPort == 53)
        #expect(p.ipLength == 32 && p.payloadLength == 4 && payload == [1, 2, 3, 4] && p.ttl == 64)
        #expect(p.vlan == nil && p.innerVlan == nil)
        #expect(d.counters.decoded == 1 && d.counters.packets == 1)
    }

    @Test func vlanAndQinQ() throws {
        var d = PacketDecoder(linkType: .ethernet)
        let one = try #require(decodeOne(&d, Frames.ethernet(0x0800, udpV4, tags: [(0x8100, 0x2000 | 13)])))
        #expect(one.packet.vlan == 13 && one.packet.innerVlan == nil)
        for outer in [0x88A8, 0x9100, 0x8100] {
            let two = try #require(decodeOne(&d, Frames.ethernet(0x0800, udpV4, tags: [(outer, 13), (0x8100, 10)])))
            #expect(two.packet.vlan == 13 && two.packet.innerVlan == 10)
        }
    }

    @Test func pppoeSession() throws {
        var d = PacketDecoder(linkType: .ethernet)
        let pppoe: [UInt8] = [0x11, 0x00, 0x00, 0x01] + Frames.be16(udpV4.count + 2) + [0x00, 0x21]
        #expect(try #require(decodeOne(&d, Frames.ethernet(0x8864, pppoe + udpV4))).packet.destinationPort == 53)
        let v6 = Frames.ipv6(1, 2, next: 17, Frames.udp(546, 547, payload: [9]))
        let pppoe6: [UInt8] = [0x11, 0x00, 0x00, 0x01] + Frames.be16(v6.count + 2) + [0x00, 0x57]
        #expect(try #require(decodeOne(&d, Frames.ethernet(0x8864, pppoe6 + v6))).packet.ipVersion == 6)
        #expect(decodeOne(&d, Frames.ethernet(0x8863, [0x11, 0x09, 0, 0, 0, 0])) == nil)   // discovery
        #expect(d.counters.notIP == 1)
    }

    @Test func everyLinkType() throws {
        let sll: [UInt8] = [0, 0, 0, 1, 0, 6] + [UInt8](repeating: 1, count: 8) + [0x08, 0x00]
        let sll2: [UInt8] = [0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6] + [UInt8](repeating: 1, count: 8)
        let v6 = Frames.ipv6(1, 2, next: 17, Frames.udp(1, 2, payload: []))
        let cases: [(LinkType, [UInt8], UInt8)] = [
            (.linuxSLL, sll + udpV4, 4), (.linuxSLL2, sll2 + udpV4, 4),
            (.raw, udpV4, 4), (.raw, v6, 6), (.linktypeRaw, v6, 6), (.ipv4, udpV4, 4), (.ipv6, v6, 6),
            (.null, [2, 0, 0, 0] + udpV4, 4), (.null, [0, 0, 0, 2] + udpV4, 4), (.null, [30, 0, 0, 0] + v6, 6),
            (.null, [10, 0, 0, 0] + v6, 6), (.loop, [0, 0, 0, 2] + udpV4, 4), (.loop, [0, 0, 0, 24] + v6, 6),
        ]
        for (link, frame, version) in cases {
            var d = PacketDecoder(linkType: link)
            let p = try #require(decodeOne(&d, frame), "\(link)")
            #expect(p.packet.ipVersion == version, "\(link)")
        }
        var d = PacketDecoder(linkType: LinkType(rawValue: 147))
        #expect(decodeOne(&d, udpV4) == nil && d.counters.notIP == 1)
    }

    @Test func ipv4OptionsAndPaddingTrimmed() throws {
        var d = PacketDecoder(linkType: .ethernet)
        let ip = Frames.ipv4(1, 2, proto: 6, Frames.tcp(80, 5000, seq: 7, ack: 9, flags: 0x18, window: 0,
                                                        options: [1, 1, 1, 0], payload: [0x41, 0x42]),
                             options: [0x94, 0x04, 0, 0])                 // router alert
        let (p, payload) = try #require(decodeOne(&d, Frames.ethernet(0x0800, ip + [0, 0, 0, 0, 0, 0])))
        #expect(p.ipLength == ip.count && p.transport == 6 && p.tcpFlags == 0x18)
        #expect(p.tcpSequence == 7 && p.tcpAcknowledgement == 9 && p.tcpWindow == 0)
        #expect(payload == [0x41, 0x42] && p.payloadLength == 2)
    }

    @Test func ipv6ExtensionHeaders() throws {
        var d = PacketDecoder(linkType: .raw)
        let udp = Frames.udp(5353, 5353, payload: [7, 7, 7])
        let hopByHop: [UInt8] = [60, 0, 5, 2, 0, 0, 1, 0]               // → destination options
        let destination: [UInt8] = [51, 0, 1, 4, 0, 0, 0, 0]            // → AH
        let ah: [UInt8] = [17, 4] + [UInt8](repeating: 0, count: 22)    // (4 + 2) * 4 = 24 bytes → UDP
        let (p, payload) = try #require(decodeOne(&d, Frames.ipv6(1, 2, next: 0, hopByHop + destination + ah + udp)))
        #expect(p.transport == 17 && p.sourcePort == 5353 && payload == [7, 7, 7])
        #expect(p.ipLength == 40 + 8 + 8 + 24 + udp.count)
        let icmp: [UInt8] = [128, 0, 0, 0, 0, 1, 0, 1, 0xEE]
        let echo = try #require(decodeOne(&d, Frames.ipv6(1, 2, next: 58, icmp)))
        #expect(echo.packet.sourcePort == 128 && echo.packet.destinationPort == 0 && echo.packet.payloadLength == 1)
    }

    // MARK: - Fragments

    func v4Fragments(id: Int = 77) -> (whole: [UInt8], parts: [[UInt8]]) {
        let payload = (0..<40).map { UInt8($0) }
        let udp = Frames.udp(1000, 2000, payload: payload)                // 48 bytes
        let parts = [
            Frames.ipv4(1, 2, proto: 17, Array(udp[0..<16]), id: id, fragment: 0x2000 | 0),
            Frames.ipv4(1, 2, proto: 17, Array(udp[16..<32]), id: id, fragment: 0x2000 | 2),
            Frames.ipv4(1, 2, proto: 17, Array(udp[32..<48]), id: id, fragment: 4),
        ]
        return (udp, parts)
    }

    @Test(arguments: [[0, 1, 2], [2, 0, 1], [1, 2, 0], [2, 1, 0]])
    func ipv4FragmentsInAnyOrder(_ order: [Int]) throws {
        var d = PacketDecoder(linkType: .raw)
        let (udp, parts) = v4Fragments()
        var got: [(Packet, [UInt8])] = []
        for k in order { if let p = decodeOne(&d, parts[k]) { got.append(p) } }
        #expect(got.count == 1)
        let (p, payload) = try #require(got.first)
        #expect(p.wasReassembled && p.ipLength == 20 + udp.count && p.destinationPort == 2000)
        #expect(payload == Array(udp[8...]))
        #expect(d.counters.fragments == 3 && d.counters.reassembled == 1 && d.fragmentsInFlight == 0)
    }

    @Test func overlappingFragmentsCountedFirstWins() throws {
        var d = PacketDecoder(linkType: .raw)
        let (udp, parts) = v4Fragments()
        var changed = udp
        changed[20] = 0xFF
        let overlap = Frames.ipv4(1, 2, proto: 17, Array(changed[8..<24]), id: 77, fragment: 0x2000 | 1)
        #expect(decodeOne(&d, parts[0]) == nil)
        #expect(decodeOne(&d, parts[1]) == nil)
        #expect(decodeOne(&d, overlap) == nil)
        let (_, payload) = try #require(decodeOne(&d, parts[2]))
        #expect(payload == Array(udp[8...]))
        #expect(d.counters.fragmentOverlaps == 1 && d.counters.fragmentInconsistencies == 1)
    }

    @Test func fragmentTimeoutAndEviction() {
        var d = PacketDecoder(linkType: .raw, configuration: .init(maxFragmentedDatagrams: 2, fragmentTimeout: 1_000))
        let (_, parts) = v4Fragments()
        #expect(decodeOne(&d, parts[0], at: 0) == nil)
        #expect(decodeOne(&d, parts[1], at: 5_000) == nil)                 // first datagram timed out
        #expect(d.counters.fragmentTimeouts == 1)
        #expect(decodeOne(&d, v4Fragments(id: 1).parts[0], at: 5_001) == nil)
        #expect(decodeOne(&d, v4Fragments(id: 2).parts[0], at: 5_002) == nil)  // over capacity
        #expect(d.counters.fragmentEvictions == 1 && d.fragmentsInFlight == 2)
        d.expireFragments(now: 10_000_000)
        #expect(d.fragmentsInFlight == 0)
    }

    @Test func ipv6Fragments() throws {
        var d = PacketDecoder(linkType: .raw)
        let udp = Frames.udp(53, 4000, payload: (0..<24).map { UInt8($0) })   // 32 bytes
        func fragment(_ offset: Int, _ more: Bool, _ data: ArraySlice<UInt8>) -> [UInt8] {
            let header: [UInt8] = [17, 0] + Frames.be16(offset | (more ? 1 : 0)) + Frames.be32(0xABCD)
            return Frames.ipv6(1, 2, next: 0, [44, 0, 1, 4, 0, 0, 0, 0] + header + Array(data))
        }
        #expect(decodeOne(&d, fragment(16, false, udp[16...])) == nil)
        let (p, payload) = try #require(decodeOne(&d, fragment(0, true, udp[0..<16])))
        #expect(p.transport == 17 && p.sourcePort == 53 && payload == Array(udp[8...]))
        #expect(p.ipLength == 40 + 8 + udp.count)                           // hop-by-hop kept, fragment header gone
    }

    // MARK: - Robustness

    @Test func truncatedAtEveryLengthNeverTraps() {
        let tcp = Frames.ipv4(1, 2, proto: 6, Frames.tcp(1, 2, seq: 1, flags: 2, options: [2, 4, 5, 0xB4]))
        let v6 = Frames.ipv6(1, 2, next: 0, [17, 0, 1, 4, 0, 0, 0, 0] + Frames.udp(1, 2, payload: [1, 2]))
        let pppoe = Frames.ethernet(0x8864, [0x11, 0, 0, 1, 0, 30, 0, 0x21] + udpV4, tags: [(0x88A8, 1), (0x8100, 2)])
        let frames: [(LinkType, [UInt8])] = [
            (.ethernet, Frames.ethernet(0x0800, tcp, tags: [(0x8100, 5)])), (.ethernet, pppoe),
            (.ethernet, Frames.ethernet(0x86DD, v6)), (.linuxSLL, [UInt8](repeating: 0, count: 14) + [0x86, 0xDD] + v6),
            (.linuxSLL2, [0x08, 0] + [UInt8](repeating: 0, count: 18) + tcp), (.null, [2, 0, 0, 0] + tcp),
            (.raw, v4Fragments().parts[0]), (.ethernet, Frames.ethernet(0x8847, [0, 0, 1, 64] + tcp)),
        ]
        for (link, frame) in frames {
            var d = PacketDecoder(linkType: link)
            for n in 0..<frame.count {
                let cut = Array(frame[0..<n])
                cut.withUnsafeBytes { raw in d.decode(raw, timestamp: 0) { _ in } }
            }
            #expect(d.counters.packets == UInt64(frame.count))
            #expect(d.counters.malformedTotal > 0)
        }
        // Random bytes and random header mutations.
        var rng = SystemRandomNumberGenerator()
        for link in [LinkType.ethernet, .raw, .linuxSLL, .linuxSLL2, .null, .loop] {
            var d = PacketDecoder(linkType: link)
            for _ in 0..<3000 {
                var frame = Frames.ethernet(0x0800, tcp)
                if link != .ethernet { frame = Array(frame[10...]) }
                for _ in 0..<Int.random(in: 1...6, using: &rng) {
                    frame[Int.random(in: 0..<frame.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
                }
                frame = Array(frame[0..<Int.random(in: 0...frame.count, using: &rng)])
                frame.withUnsafeBytes { raw in d.decode(raw, timestamp: Int64.random(in: 0...1 << 40, using: &rng)) { _ in } }
            }
        }
    }

    @Test func malformedReasonsHaveStableNames() {
        var d = PacketDecoder(linkType: .raw)
        _ = decodeOne(&d, [0x45, 0, 0])
        _ = decodeOne(&d, Frames.ipv4(1, 2, proto: 6, [0, 1, 0, 2]))
        #expect(d.counters.malformed(.truncatedIPv4Header) == 1)
        #expect(d.counters.malformed(.truncatedTCPHeader) == 1)
        #expect(MalformedReason.truncatedTCPHeader.rawValue == "truncated_tcp_header")
        #expect(Set(MalformedReason.allCases.map(\.rawValue)).count == MalformedReason.allCases.count)
    }
}
