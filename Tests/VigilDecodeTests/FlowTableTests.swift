import Testing
import VigilCore
@testable import VigilDecode

/// Builds packets directly (the flow table only reads header fields).
struct PacketMaker {
    var client = IPAddress("10.0.0.1")!
    var server = IPAddress("10.0.0.2")!
    var clientPort: UInt16 = 40000
    var serverPort: UInt16 = 80

    func tcp(_ fromClient: Bool, _ flags: UInt8, seq: UInt32, ack: UInt32 = 0, len: Int = 0, at ms: Int64) -> Packet {
        var p = Packet(timestamp: ms * 1_000_000)
        p.source = fromClient ? client : server
        p.destination = fromClient ? server : client
        p.sourcePort = fromClient ? clientPort : serverPort
        p.destinationPort = fromClient ? serverPort : clientPort
        p.transport = 6
        p.tcpFlags = flags
        p.tcpSequence = seq
        p.tcpAcknowledgement = ack
        p.tcpWindow = 1000
        p.payloadLength = len
        p.ipLength = 40 + len
        return p
    }

    func udp(_ fromClient: Bool, len: Int, at ms: Int64) -> Packet {
        var p = tcp(fromClient, 0, seq: 0, at: ms)
        p.transport = 17
        p.payloadLength = len
        p.ipLength = 28 + len
        return p
    }
}

func run(_ packets: [Packet], _ configuration: FlowConfiguration = .init()) -> [ConnRecord] {
    var table = FlowTable(configuration: configuration)
    var out: [ConnRecord] = []
    for var p in packets {
        _ = table.add(&p)
        table.expire(now: p.timestamp) { out.append($0) }
    }
    table.flush { out.append($0) }
    return out
}

@Suite struct FlowTableTests {
    let m = PacketMaker()
    let S = TCPFlag.syn, A = TCPFlag.ack, F = TCPFlag.fin, R = TCPFlag.rst, P = TCPFlag.psh

    @Test func fullConnection() throws {
        let records = run([
            m.tcp(true, S, seq: 100, at: 0), m.tcp(false, S | A, seq: 500, ack: 101, at: 1),
            m.tcp(true, A, seq: 101, ack: 501, at: 2), m.tcp(true, P | A, seq: 101, ack: 501, len: 10, at: 3),
            m.tcp(false, A, seq: 501, ack: 111, at: 4), m.tcp(false, P | A, seq: 501, ack: 111, len: 20, at: 5),
            m.tcp(true, F | A, seq: 111, ack: 521, at: 6), m.tcp(false, F | A, seq: 521, ack: 112, at: 7),
            m.tcp(true, A, seq: 112, ack: 522, at: 900),
        ])
        let r = try #require(records.first)
        #expect(records.count == 1)
        #expect(r.state == .sf && r.history == "ShADadFf")
        #expect(r.originatorBytes == 10 && r.responderBytes == 20)
        #expect(r.originatorPackets == 5 && r.responderPackets == 4)
        #expect(r.duration == 7_000_000)               // the ACK after both FINs does not extend it
        #expect(r.originator == m.client && r.responderPort == 80 && r.uid.hasPrefix("C"))
    }

    @Test func retransmissionAndRepeatedSYN() throws {
        let r = try #require(run([
            m.tcp(true, S, seq: 100, at: 0), m.tcp(true, S, seq: 100, at: 1000), m.tcp(true, S, seq: 900, at: 2000),
            m.tcp(false, S | A, seq: 500, ack: 901, at: 2001), m.tcp(true, A, seq: 901, ack: 501, at: 2002),
            m.tcp(true, A, seq: 901, ack: 501, len: 5, at: 2003), m.tcp(true, A, seq: 901, ack: 501, len: 5, at: 2004),
        ]).first)
        // The third SYN moves the start sequence (Zeek re-initializes on a SYN jump), so its relative
        // sequence is 0 again and no second S is written; the repeated data is a retransmission.
        #expect(r.history == "ShADT" && r.state == .s1 && r.originatorBytes == 5)
    }

    @Test func rejectedAndResets() {
        #expect(run([m.tcp(true, S, seq: 1, at: 0), m.tcp(false, R | A, seq: 0, ack: 2, at: 1)]).map(\.state) == [.rej])
        #expect(run([m.tcp(true, S, seq: 1, at: 0), m.tcp(true, R, seq: 2, at: 1)]).map(\.state) == [.rstos0])
        #expect(run([m.tcp(true, R, seq: 2, at: 1)]).map { "\($0.history) \($0.state.rawValue)" } == ["R OTH"])
        let rstr = run([m.tcp(true, S, seq: 1, at: 0), m.tcp(false, S | A, seq: 9, ack: 2, at: 1),
                        m.tcp(true, A, seq: 2, ack: 10, at: 2), m.tcp(false, R, seq: 10, at: 3)])
        #expect(rstr.map(\.state) == [.rstr] && rstr.map(\.history) == ["ShAr"])
    }

    @Test func synAckFirstFromServerPortFlips() throws {
        let r = try #require(run([m.tcp(false, S | A, seq: 500, ack: 101, at: 0)]).first)
        #expect(r.originator == m.client && r.originatorPort == 40000 && r.history == "^h" && r.state == .oth)
        #expect(r.originatorPackets == 0 && r.responderPackets == 1)
    }

    @Test func udpReplyFirstFromServerPortFlips() throws {
        var dns = m
        dns.serverPort = 53
        let r = try #require(run([dns.udp(false, len: 30, at: 0), dns.udp(true, len: 10, at: 5)]).first)
        #expect(r.originatorPort == 40000 && r.responderPort == 53)
        #expect(r.history == "^dD" && r.state == .sf && r.originatorBytes == 10 && r.responderBytes == 30)
    }

    @Test func icmpEchoIsOneFlow() throws {
        func icmp(_ request: Bool, at ms: Int64) -> Packet {
            var p = m.udp(request, len: 56, at: ms)
            p.transport = 1
            p.sourcePort = request ? 8 : 0
            p.destinationPort = 0
            return p
        }
        let records = run([icmp(true, at: 0), icmp(false, at: 1), icmp(true, at: 1000), icmp(false, at: 1001)])
        #expect(records.count == 1)
        let r = try #require(records.first)
        #expect(r.originatorPort == 8 && r.responderPort == 0 && r.state == .oth && r.history.isEmpty)
        #expect(r.originatorBytes == 112 && r.responderPackets == 2)
    }

    @Test func timeoutsSplitFlows() {
        // UDP idle timeout: 1 minute.
        let udp = run([m.udp(true, len: 1, at: 0), m.udp(true, len: 1, at: 61_000)])
        #expect(udp.count == 2)
        // An unanswered SYN ends 5 s later; the data after it is a new, partial connection.
        let attempt = run([m.tcp(true, S, seq: 1, at: 0), m.tcp(true, A, seq: 2, ack: 9, len: 3, at: 1000),
                           m.tcp(true, A, seq: 5, ack: 9, len: 3, at: 6000), m.tcp(true, F | A, seq: 8, ack: 9, at: 6001)])
        #expect(attempt.map { "\($0.history) \($0.state.rawValue)" } == ["SD S0", "DF SH"])
        // A new SYN on a closed connection starts a new one.
        let reuse = run([m.tcp(true, S, seq: 1, at: 0), m.tcp(false, R | A, seq: 0, ack: 2, at: 1),
                         m.tcp(true, S, seq: 7777, at: 2)])
        #expect(reuse.map(\.state) == [.rej, .s0])
    }

    @Test func expireEmitsIdleFlowsAndEvictsWhenFull() {
        var configuration = FlowConfiguration()
        configuration.maxFlows = 3
        var table = FlowTable(configuration: configuration)
        var out: [ConnRecord] = []
        for k in 0..<5 {
            var p = m.udp(true, len: 1, at: Int64(k))
            p.sourcePort = UInt16(1000 + k)
            _ = table.add(&p)
        }
        #expect(table.counters.evictions == 2 && table.count == 3)
        table.expire(now: 10_000_000) { out.append($0) }
        #expect(out.count == 2)                        // the evicted ones
        table.expire(now: 120_000_000_000) { out.append($0) }
        #expect(out.count == 5 && table.count == 0 && table.counters.idleTimeouts == 3)
    }

    @Test func handlesServicesAndDirection() throws {
        var table = FlowTable()
        var a = m.tcp(true, S, seq: 1, at: 0), b = m.tcp(false, S | A, seq: 9, ack: 2, at: 1)
        let h1 = table.add(&a), h2 = table.add(&b)
        #expect(h1.index == h2.index && h1.isOriginator && !h2.isOriginator)
        table.addService(h1, "http")
        var out: [ConnRecord] = []
        table.flush { out.append($0) }
        #expect(out.first?.services == ["http"])
        table.addService(h1, "stale")                  // ended flow: ignored
    }

    @Test func manyFlowsInsertAndRemove() {
        var table = FlowTable()
        var rng = SystemRandomNumberGenerator()
        var emitted = 0
        for k in 0..<20_000 {
            var p = m.udp(Bool.random(using: &rng), len: 1, at: Int64(k))
            p.sourcePort = UInt16.random(in: 1...2000, using: &rng)
            _ = table.add(&p)
            if k % 1000 == 0 { table.expire(now: p.timestamp + 59_990_000_000) { _ in emitted += 1 } }
        }
        table.flush { _ in emitted += 1 }
        #expect(UInt64(emitted) == table.counters.flowsCreated && table.count == 0)
    }

    @Test func communityIDSpecExample() {
        let id = CommunityID.hash(source: IPAddress("128.232.110.120")!, sourcePort: 34855,
                                  destination: IPAddress("66.35.250.204")!, destinationPort: 80, transport: 6)
        #expect(id == "1:LQU9qZlK+B5F3KDmev6m5PMibrg=")
        // Direction does not matter.
        #expect(id == CommunityID.hash(source: IPAddress("66.35.250.204")!, sourcePort: 80,
                                       destination: IPAddress("128.232.110.120")!, destinationPort: 34855, transport: 6))
        #expect(SHA1.hash(Array("abc".utf8)) == [0xa9, 0x99, 0x3e, 0x36, 0x47, 0x06, 0x81, 0x6a, 0xba, 0x3e, 0x25, 0x71,
                                                  0x78, 0x50, 0xc2, 0x6c, 0x9c, 0xd0, 0xd8, 0x9d])
        // FIPS 180 examples across block boundaries (two blocks; 1,000,000 bytes).
        func hex(_ d: [UInt8]) -> String { d.map { String($0, radix: 16).count == 1 ? "0" + String($0, radix: 16) : String($0, radix: 16) }.joined() }
        #expect(hex(SHA1.hash(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))) == "84983e441c3bd26ebaae4aa1f95129e5e54670f1")
        #expect(hex(SHA1.hash([UInt8](repeating: 0x61, count: 1_000_000))) == "34aa973cd4c4daa4f61eeb2bdbad27316534016f")
        #expect(hex(SHA1.hash([])) == "da39a3ee5e6b4b0d3255bfef95601890afd80709")
    }

    /// Decode + flow update per packet stays in the few-hundred-ns range (debug builds are slower;
    /// this prints the figure and asserts only a generous bound).
    @Test func throughput() {
        let frames: [[UInt8]] = (0..<256).map { k in
            Frames.ethernet(0x0800, Frames.ipv4(0x0A00_0000 | UInt32(k), 0x0A01_0001, proto: 6,
                                                 Frames.tcp(10000 + k, 443, seq: UInt32(k), ack: 1, flags: 0x10, payload: [1, 2, 3])))
        }
        var decoder = PacketDecoder(linkType: .ethernet)
        var table = FlowTable()
        let n = 200_000
        let clock = ContinuousClock()
        let elapsed = clock.measure {
            for k in 0..<n {
                frames[k & 255].withUnsafeBytes { raw in
                    decoder.decode(raw, timestamp: Int64(k) * 1000) { p in _ = table.add(&p) }
                }
            }
        }
        let ns = Double(elapsed.components.seconds) * 1e9 + Double(elapsed.components.attoseconds) / 1e9
        print("decode+flow: \(Int(ns / Double(n))) ns/packet (\(Int(Double(n) / ns * 1e9)) packets/s)")
        #expect(table.count == 256)
    }
}
