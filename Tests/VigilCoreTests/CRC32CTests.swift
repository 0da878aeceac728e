import Testing
import VigilCore

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
    }

    /// Bit by bit, as the polynomial defines it.
    static func reference(_ bytes: ArraySlice<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = c & 1 == 1 ? (c >> 1) ^ 0x82F6_3B78 : c >> 1 }
        }
        return ~c
    }

    /// Every length class of the fast paths (three chains over blocks of 8,192 and of 256 bytes,
    /// then words, then bytes) from every alignment gives the polynomial's checksum.
    @Test func longAndOddInputsMatchTheDefinition() {
        var state: UInt64 = 0x1234_5678
        let bytes = (0..<(3 * 8192 * 2 + 3 * 256 + 100)).map { _ -> UInt8 in
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 56)
        }
        for length in [0, 1, 7, 8, 31, 32, 255, 767, 768, 769, 1000, 3 * 8192 - 1, 3 * 8192, 3 * 8192 + 777, 6 * 8192 + 3 * 256 + 9] {
            for start in 0..<3 where start + length <= bytes.count {
                let slice = bytes[start..<(start + length)]
                #expect(CRC32C.checksum(slice) == Self.reference(slice), "length \(length) from \(start)")
            }
        }
        #expect(CRC32C.checksum(bytes[5...], continuing: CRC32C.checksum(bytes[..<5])) == Self.reference(bytes[...]))
    }

    @Test func incrementalEqualsWhole() {
        var bytes = [UInt8]()
        for i in 0..<1000 { bytes.append(UInt8(truncatingIfNeeded: i &* 31 &+ 7)) }
        let whole = CRC32C.checksum(bytes)
        for split in [0, 1, 7, 8, 9, 31, 500, 999, 1000] {
            let a = CRC32C.checksum(bytes[0..<split])
            #expect(CRC32C.checksum(bytes[split...], continuing: a) == whole)
        }
    }
}
