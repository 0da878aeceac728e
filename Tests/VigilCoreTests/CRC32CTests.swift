import Testing
import VigilCore

@Suite struct CRC32CTests {
    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
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
