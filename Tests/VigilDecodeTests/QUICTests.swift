import Testing
@testable import VigilDecode

@Suite struct QUICTests {
    private func hex(_ s: String) -> [UInt8] {
        var out: [UInt8] = []
        var it = s.makeIterator()
        while let a = it.next(), let b = it.next() { out.append(UInt8(String([a, b]), radix: 16)!) }
        return out
    }

    /// RFC 9001 Appendix A.1: the client's Initial keys from Destination Connection ID
    /// 0x8394c8f03e515708.
    @Test func initialKeysFollowRFC9001() {
        let initial = QUICInitial.hmacSHA256(key: QUICInitial.saltV1, data: hex("8394c8f03e515708"))
        let client = QUICInitial.expandLabel(initial, "client in", 32)
        #expect(client == hex("c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"))
        #expect(QUICInitial.expandLabel(client, "quic key", 16) == hex("1f369613dd76d5467730efcbe3b1a22d"))
        #expect(QUICInitial.expandLabel(client, "quic iv", 12) == hex("fa044b2f42a3fd3b46fb255c"))
        #expect(QUICInitial.expandLabel(client, "quic hp", 16) == hex("9f50449e04a0e810283a1e9933adedd2"))
    }

    /// Garbage and truncated long headers are declined without a crash.
    @Test func anythingElseIsDeclined() {
        var g = UInt64(7)
        for n in 0..<400 {
            var bytes = [UInt8](repeating: 0, count: n % 1300)
            for k in bytes.indices {
                g = g &* 6364136223846793005 &+ 1442695040888963407
                bytes[k] = UInt8(truncatingIfNeeded: g >> 33)
            }
            if !bytes.isEmpty { bytes[0] |= 0xC0 }
            if bytes.count > 5 { bytes[1] = 0; bytes[2] = 0; bytes[3] = 0; bytes[4] = 1 }  // version 1
            var reader = QUICClientHelloReader()
            #expect(bytes.withUnsafeBytes { reader.add(datagram: $0) } == nil)
        }
    }
}
