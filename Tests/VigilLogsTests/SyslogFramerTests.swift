import Testing
import VigilCore
import VigilLogs

/// What the framer produced, as text (oversize lengths are checked separately: whether the whole
/// line was already seen depends on how the input was split).
enum Framed: Equatable, CustomStringConvertible {
    case message(String)
    case oversize(String)
    case invalid(String)

    var description: String {
        switch self {
        case .message(let s): "message(\(s.debugDescription))"
        case .oversize(let s): "oversize(\(s.count) bytes)"
        case .invalid(let r): "invalid(\(r))"
        }
    }
}

/// Drives a framer as the NIO decoder does: keeps the unconsumed bytes, appends each chunk and
/// applies every step; calls `finish` at the end of input.
func frame(_ input: [UInt8], chunk: Int, framing: SyslogFraming, max: Int = 1024) -> [Framed] {
    var framer = SyslogFramer(framing: framing, maxMessageBytes: max)
    var pending: [UInt8] = []
    var out: [Framed] = []
    func text(_ r: Range<Int>) -> String { String(decoding: pending[r], as: UTF8.self) }
    func drain(finishing: Bool) {
        while true {
            let step = pending.withUnsafeBytes { finishing ? framer.finish($0) : framer.next($0) }
            switch step {
            case .needMore(let discard):
                pending.removeFirst(discard)
                return
            case .message(let r, let consumed):
                out.append(.message(text(r)))
                pending.removeFirst(consumed)
            case .oversize(let prefix, let consumed, _):
                #expect(prefix.count == max)
                out.append(.oversize(text(prefix)))
                pending.removeFirst(consumed)
            case .invalid(let reason, let evidence):
                #expect(evidence.count <= max)
                out.append(.invalid(reason))
                pending.removeAll()
                return
            }
            if finishing { return }
        }
    }
    var i = 0
    while i < input.count {
        let end = min(input.count, i + chunk)
        pending += input[i..<end]
        drain(finishing: false)
        i = end
    }
    drain(finishing: true)
    return out
}

func octet(_ s: String) -> String { "\(s.utf8.count) \(s)" }

@Suite struct SyslogFramerTests {
    static let chunkSizes = [1, 2, 3, 7, 64, 100_000]

    @Test(arguments: [
        // (framing, input, expected)
        (SyslogFraming.newline, "<13>a\n<14>b c\r\n\n\r\n<15>last", [Framed.message("<13>a"), .message("<14>b c"), .message("<15>last")]),
        (.newline, "12 not a count\n", [.message("12 not a count")]),
        (.octetCounted, octet("<13>a") + octet("<14>b c") + "\n" + octet("<15>x\ny\r\n") + "\r\n" + octet("<16>z"),
         [.message("<13>a"), .message("<14>b c"), .message("<15>x\ny"), .message("<16>z")]),
        (.auto, octet("<13>x y") + "<14>line\n" + octet("<15>z\nw") + "123abc\n" + octet("<16>end"),
         [.message("<13>x y"), .message("<14>line"), .message("<15>z\nw"), .message("123abc"), .message("<16>end")]),
        (.auto, "12345678901 eleven digits is a line\n", [.message("12345678901 eleven digits is a line")]),
        (.auto, "unterminated at the end", [.message("unterminated at the end")]),
        (.octetCounted, "<13>no count\n", [.invalid("expected an octet count (RFC 6587 octet-counted framing)")]),
        (.octetCounted, "05 hello", [.invalid("octet count with a leading zero")]),
        (.auto, "0 x", [.invalid("octet count of zero")]),
        (.octetCounted, "12x<13>abc", [.invalid("octet count not followed by a space")]),
        (.octetCounted, "12345678901 x", [.invalid("octet count longer than 10 digits")]),
        (.octetCounted, octet("<13>ok") + "10 <13>ab", [.message("<13>ok"), .invalid("connection closed inside an octet-counted frame (6 of 10 bytes)")]),
        (.octetCounted, octet("<13>ok") + "12", [.message("<13>ok"), .invalid("connection closed inside an octet count")]),
        (.octetCounted, octet("<13>ok") + "bogus" + octet("<14>never"), [.message("<13>ok"), .invalid("expected an octet count (RFC 6587 octet-counted framing)")]),
    ])
    func framesAlikeHoweverSplit(framing: SyslogFraming, input: String, expected: [Framed]) {
        for chunk in Self.chunkSizes {
            #expect(frame(Array(input.utf8), chunk: chunk, framing: framing) == expected, "chunk \(chunk)")
        }
    }

    @Test func oversizeLinesAreRejectedAndTheStreamResyncs() {
        let long = String(repeating: "x", count: 25)
        let input = "<13>short\n" + long + "\n<14>after\n" + "abcdefghij\n" + "abcdefghijk\n" + "<15>end\n"
        for chunk in Self.chunkSizes {
            #expect(frame(Array(input.utf8), chunk: chunk, framing: .newline, max: 10) == [
                .message("<13>short"), .oversize(String(repeating: "x", count: 10)), .message("<14>after"),
                .message("abcdefghij"), .oversize("abcdefghij"), .message("<15>end"),
            ], "chunk \(chunk)")
        }
    }

    @Test func oversizeOctetFramesAreSkippedByTheirCount() {
        let input = octet("<13>ok") + octet(String(repeating: "y", count: 30)) + octet("<14>ok\n") + octet(String(repeating: "z", count: 11))
        for framing in [SyslogFraming.octetCounted, .auto] {
            for chunk in Self.chunkSizes {
                #expect(frame(Array(input.utf8), chunk: chunk, framing: framing, max: 10) == [
                    .message("<13>ok"), .oversize(String(repeating: "y", count: 10)), .message("<14>ok"),
                    .oversize(String(repeating: "z", count: 10)),
                ], "\(framing) chunk \(chunk)")
            }
        }
    }

    @Test func oversizeReportsTheLengthWhenKnown() {
        var framer = SyslogFramer(framing: .newline, maxMessageBytes: 4)
        let line = Array("abcdefgh\nrest".utf8)
        #expect(line.withUnsafeBytes { framer.next($0) } == .oversize(prefix: 0..<4, consumed: 9, length: 8))
        var octets = SyslogFramer(framing: .octetCounted, maxMessageBytes: 4)
        let frame = Array("9 abcdefghi".utf8)
        #expect(frame.withUnsafeBytes { octets.next($0) } == .oversize(prefix: 2..<6, consumed: 6, length: 9))
    }

    /// Random mixes of frames in `auto`, split at random points, come out intact and in order.
    @Test(arguments: 1...20)
    func randomStreams(seed: UInt64) {
        var random = SplitMix(seed: seed)
        var input: [UInt8] = []
        var expected: [Framed] = []
        for _ in 0..<50 {
            let length = Int(random.next() % 40) + 1
            var body = "<\(random.next() % 192)>"
            while body.utf8.count < length { body.append(Character(Unicode.Scalar(UInt8(0x61 + random.next() % 26)))) }
            switch random.next() % 3 {
            case 0: input += Array((body + "\n").utf8)
            case 1: input += Array((body + "\r\n").utf8)
            default: input += Array(octet(body).utf8)
            }
            expected.append(.message(body))
        }
        var i = 0
        var framer = SyslogFramer(framing: .auto, maxMessageBytes: 64)
        var pending: [UInt8] = []
        var out: [Framed] = []
        while i < input.count {
            let n = min(input.count - i, Int(random.next() % 17) + 1)
            pending += input[i..<(i + n)]
            i += n
            loop: while true {
                switch pending.withUnsafeBytes({ framer.next($0) }) {
                case .needMore(let d): pending.removeFirst(d); break loop
                case .message(let r, let c): out.append(.message(String(decoding: pending[r], as: UTF8.self))); pending.removeFirst(c)
                default: Issue.record("unexpected step"); return
                }
            }
        }
        #expect(out == expected)
        #expect(pending.isEmpty)
    }
}

/// A small deterministic generator for test inputs.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct SyslogPeerTests {
    @Test func addressesAreIPAndPort() throws {
        #expect(SyslogPeer(ip: IPAddress("192.0.2.7"), port: 514, transport: .udp).address == "192.0.2.7:514")
        #expect(SyslogPeer(ip: IPAddress("2001:db8::1"), port: 6514, transport: .tls).address == "[2001:db8::1]:6514")
        #expect(SyslogPeer(ip: nil, port: 0, transport: .tcp).address == "unknown")
    }

    @Test func configurationValidation() {
        #expect(throws: SyslogListenerError.self) { try SyslogListenerConfiguration(transport: .tcp, port: 70_000).validate() }
        #expect(throws: SyslogListenerError.self) { try SyslogListenerConfiguration(transport: .tcp, port: 1, maxMessageBytes: 0).validate() }
        #expect(throws: SyslogListenerError.self) { try SyslogListenerConfiguration(transport: .tcp, port: 1, maxConnections: 0).validate() }
        #expect(throws: SyslogListenerError.self) {
            try SyslogListenerConfiguration(transport: .udp, port: 1, tls: .init(certificate: "c", key: "k")).validate()
        }
        #expect(SyslogFraming(rawValue: "octet_counted") == .octetCounted)
        #expect(SyslogListenerConfiguration(transport: .tls, host: "::", port: 6514).endpointDescription == "tls://[::]:6514")
    }
}
