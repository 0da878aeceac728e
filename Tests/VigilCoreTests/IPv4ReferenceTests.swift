import Testing
@testable import VigilCore
import VigilTestSupport

/// The dotted-quad reader against a plain reference reading of the grammar (four dot-separated
/// parts of 1–3 digits, each ≤ 255, no leading zero unless the part is `0`), over random strings of
/// digits, dots and a few other bytes.
@Suite struct IPv4ReferenceTests {
    static func reference(_ text: String) -> UInt32? {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var value: UInt32 = 0
        for part in parts {
            guard (1...3).contains(part.count), part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            if part.count > 1 && part.first == "0" { return nil }
            guard let v = UInt32(part), v <= 255 else { return nil }
            value = value << 8 | v
        }
        return value
    }

    @Test func randomStringsAgreeWithTheReference() {
        var random = SplitMix64(seed: 0x1D0_4A11)
        let alphabet: [Character] = ["0", "1", "2", "5", "9", ".", ".", ".", "6", "3", ":", "a", " "]
        var accepted = 0
        for _ in 0..<200_000 {
            let text: String
            if random.next() % 2 == 0 {
                // Four parts of 1–4 digits (often valid, with leading zeros and overflows).
                let digits: [Character] = ["0", "1", "2", "5", "9", "6"]
                text = (0..<4).map { _ in String((0..<(1 + Int(random.next() % 4))).map { _ in digits[Int(random.next() % 6)] }) }
                    .joined(separator: ".")
            } else {
                let length = Int(random.next() % 17)
                text = String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            }
            let want = Self.reference(text)
            let got = IPAddress(text)
            if let want {
                accepted += 1
                #expect(got == IPAddress(v4: want), "\(text)")
            } else if !text.contains(":") {
                #expect(got == nil, "\(text)")
            }
        }
        #expect(accepted > 1_000)
    }
}
