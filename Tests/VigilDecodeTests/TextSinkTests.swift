import Testing
import VigilTestSupport
@testable import VigilDecode

@Suite struct TextSinkTests {
    /// Zeek's escaping, one byte at a time: the reference the bulk path must match.
    static func reference(_ bytes: [UInt8]) -> String {
        var s = ""
        for b in bytes {
            if b >= 0x20 && b < 0x7F {
                s.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                s += "\\x" + String(b >> 4, radix: 16) + String(b & 0xF, radix: 16)
            }
        }
        return s
    }

    @Test func bulkEscapingMatchesTheBytewiseRule() {
        var rng = SplitMix64(seed: 7)
        // Mostly printable runs of every length around the 8-byte steps, with bytes at the edges
        // of the printable range (0x1F, 0x20, 0x7E, 0x7F, 0x80, 0xFF) put in at random places.
        let edges: [UInt8] = [0x00, 0x1F, 0x20, 0x21, 0x7E, 0x7F, 0x80, 0xFE, 0xFF, 0x5C]
        for _ in 0..<5_000 {
            let n = Int(rng.next() % 40)
            var bytes = (0..<n).map { _ in UInt8(0x20 + rng.next() % 0x5F) }
            for _ in 0..<Int(rng.next() % 3) where n > 0 {
                bytes[Int(rng.next() % UInt64(n))] = edges[Int(rng.next() % UInt64(edges.count))]
            }
            let text = bytes.withUnsafeBytes { raw in TextSink.makeString { $0.appendEscaped(raw) } }
            #expect(text == Self.reference(bytes), "\(bytes)")
        }
    }
}
