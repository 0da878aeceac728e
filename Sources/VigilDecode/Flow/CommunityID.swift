import VigilCore

/// SHA-1 (FIPS 180-4), small and allocation-free, for Community ID hashing.
struct SHA1 {
    private var h: (UInt32, UInt32, UInt32, UInt32, UInt32) = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0)
    private var block = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
    private var blockCount = 0
    private var length: UInt64 = 0

    init() {}

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var k = 0
        // Whole pieces up to the end of the block are copied at once.
        while k < bytes.count {
            let n = min(64 - blockCount, bytes.count - k)
            withUnsafeMutableBytes(of: &block) { p in
                UnsafeMutableRawBufferPointer(rebasing: p[blockCount..<(blockCount + n)])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: bytes[k..<(k + n)]))
            }
            blockCount += n
            k += n
            if blockCount == 64 {
                compress()
                blockCount = 0
            }
        }
        length &+= UInt64(bytes.count)
    }

    @inline(__always)
    private mutating func append(_ byte: UInt8) {
        withUnsafeMutableBytes(of: &block) { $0[blockCount] = byte }
        blockCount += 1
        if blockCount == 64 {
            compress()
            blockCount = 0
        }
    }

    private mutating func compress() {
        // The whole 80-word message schedule on the stack, then the rounds on plain locals (no
        // ring indexing, no nested functions capturing the working variables).
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: 80) { w in
            withUnsafeBytes(of: &block) { p in
                for t in 0..<16 { w[t] = UInt32(bigEndian: p.loadUnaligned(fromByteOffset: 4 * t, as: UInt32.self)) }
            }
            for t in 16..<80 {
                let x = w[t - 3] ^ w[t - 8] ^ w[t - 14] ^ w[t - 16]
                w[t] = x << 1 | x >> 31
            }
            var (a, b, c, d, e) = h
            for t in 0..<20 {
                let temp = (a << 5 | a >> 27) &+ ((b & c) | (~b & d)) &+ e &+ 0x5A827999 &+ w[t]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, temp)
            }
            for t in 20..<40 {
                let temp = (a << 5 | a >> 27) &+ (b ^ c ^ d) &+ e &+ 0x6ED9EBA1 &+ w[t]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, temp)
            }
            for t in 40..<60 {
                let temp = (a << 5 | a >> 27) &+ ((b & c) | (b & d) | (c & d)) &+ e &+ 0x8F1BBCDC &+ w[t]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, temp)
            }
            for t in 60..<80 {
                let temp = (a << 5 | a >> 27) &+ (b ^ c ^ d) &+ e &+ 0xCA62C1D6 &+ w[t]
                (e, d, c, b, a) = (d, c, b << 30 | b >> 2, a, temp)
            }
            h = (h.0 &+ a, h.1 &+ b, h.2 &+ c, h.3 &+ d, h.4 &+ e)
        }
    }

    /// Pads and compresses the last block; the digest is then in `h`.
    private mutating func pad() {
        let bits = length &* 8
        if blockCount < 56 {
            // Room for the marker and the length in this block: written at once.
            withUnsafeMutableBytes(of: &block) { p in
                p[blockCount] = 0x80
                for k in (blockCount + 1)..<56 { p[k] = 0 }
                p.storeBytes(of: bits.bigEndian, toByteOffset: 56, as: UInt64.self)
            }
            compress()
            blockCount = 0
            return
        }
        append(0x80)
        while blockCount != 56 { append(0) }
        for k in (0..<8).reversed() { append(UInt8(truncatingIfNeeded: bits >> UInt64(8 * k))) }
    }

    /// The 20-byte digest, written to `out` (at least 20 bytes).
    mutating func finalize(into out: UnsafeMutableRawBufferPointer) {
        pad()
        out.storeBytes(of: h.0.bigEndian, toByteOffset: 0, as: UInt32.self)
        out.storeBytes(of: h.1.bigEndian, toByteOffset: 4, as: UInt32.self)
        out.storeBytes(of: h.2.bigEndian, toByteOffset: 8, as: UInt32.self)
        out.storeBytes(of: h.3.bigEndian, toByteOffset: 12, as: UInt32.self)
        out.storeBytes(of: h.4.bigEndian, toByteOffset: 16, as: UInt32.self)
    }

    /// The 20-byte digest.
    mutating func finalize() -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 20) { buffer, count in
            finalize(into: UnsafeMutableRawBufferPointer(buffer))
            count = 20
        }
    }

    /// SHA-1 of `bytes`.
    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        var s = SHA1()
        bytes.withUnsafeBytes { s.update($0) }
        return s.finalize()
    }
}

/// Community ID flow hashing, version 1 (https://github.com/corelight/community-id-spec).
public enum CommunityID {
    /// `"1:" + base64(SHA1(seed ‖ saddr ‖ daddr ‖ proto ‖ 0 ‖ sport ‖ dport))` with the endpoints
    /// ordered (smaller address, then smaller port, first) unless the flow is one-way ICMP.
    /// For ICMP/ICMPv6 pass the message type and code as the ports; they are mapped to Zeek's
    /// and the spec's port equivalents here.
    public static func hash(source: IPAddress, sourcePort: UInt16, destination: IPAddress, destinationPort: UInt16,
                            transport: UInt8, seed: UInt16 = 0) -> InlineText {
        var sa = source, da = destination, sp = sourcePort, dp = destinationPort
        var oneWay = false
        if transport == IPProtocol.icmp || transport == IPProtocol.icmpv6 {
            let (counterpart, isOneWay) = icmpCounterpart(type: UInt8(truncatingIfNeeded: sp),
                                                          code: UInt8(truncatingIfNeeded: dp),
                                                          v6: transport == IPProtocol.icmpv6)
            dp = counterpart
            oneWay = isOneWay
        }
        let ordered = oneWay || sa < da || (sa == da && sp <= dp)
        if !ordered {
            swap(&sa, &da)
            swap(&sp, &dp)
        }
        // seed ‖ saddr ‖ daddr ‖ proto ‖ 0 ‖ sport ‖ dport: at most 40 bytes, on the stack.
        var input = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        let count = withUnsafeMutableBytes(of: &input) { p -> Int in
            p.storeBytes(of: seed.bigEndian, toByteOffset: 0, as: UInt16.self)
            var n = 2
            func put(_ address: IPAddress) {
                address.withUnsafeBytes { a in
                    UnsafeMutableRawBufferPointer(rebasing: p[n..<(n + a.count)]).copyMemory(from: a)
                    n += a.count
                }
            }
            put(sa)
            put(da)
            p[n] = transport
            p[n + 1] = 0
            n += 2
            switch transport {
            case IPProtocol.tcp, IPProtocol.udp, IPProtocol.icmp, IPProtocol.icmpv6, 132:
                p.storeBytes(of: sp.bigEndian, toByteOffset: n, as: UInt16.self)
                p.storeBytes(of: dp.bigEndian, toByteOffset: n + 2, as: UInt16.self)
                n += 4
            default:
                break
            }
            return n
        }
        var sha = SHA1()
        withUnsafeBytes(of: &input) { sha.update(UnsafeRawBufferPointer(rebasing: $0[0..<count])) }
        var digest = (UInt64(0), UInt64(0), UInt64(0))
        withUnsafeMutableBytes(of: &digest) { sha.finalize(into: $0) }
        // "1:" and 28 base64 characters.
        return InlineText { out in
            out[0] = UInt8(ascii: "1")
            out[1] = UInt8(ascii: ":")
            withUnsafeBytes(of: &digest) { base64(UnsafeRawBufferPointer(rebasing: $0[0..<20]), into: UnsafeMutableRawBufferPointer(rebasing: out[2..<32])) }
            return 30
        }
    }

    private static let alphabet: StaticString = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

    /// Standard base64 with padding of `bytes` into `out` (at least 4·⌈count/3⌉ bytes).
    static func base64(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        alphabet.withUTF8Buffer { alphabet in
            var i = 0, o = 0
            while i < bytes.count {
                let b0 = bytes[i], b1 = i + 1 < bytes.count ? bytes[i + 1] : 0, b2 = i + 2 < bytes.count ? bytes[i + 2] : 0
                out[o] = alphabet[Int(b0 >> 2)]
                out[o + 1] = alphabet[Int((b0 & 3) << 4 | b1 >> 4)]
                out[o + 2] = i + 1 < bytes.count ? alphabet[Int((b1 & 0xF) << 2 | b2 >> 6)] : UInt8(ascii: "=")
                out[o + 3] = i + 2 < bytes.count ? alphabet[Int(b2 & 0x3F)] : UInt8(ascii: "=")
                i += 3
                o += 4
            }
        }
    }
}

/// Zeek's (and Community ID's) ICMP "port" for the responder: the counterpart message type of a
/// request/reply pair, else the code, with `oneWay` set.
@inline(__always)
func icmpCounterpart(type: UInt8, code: UInt8, v6: Bool) -> (UInt16, oneWay: Bool) {
    if v6 {
        switch type {
        case 128: return (129, false)
        case 129: return (128, false)
        case 133: return (134, false)
        case 134: return (133, false)
        case 135: return (136, false)
        case 136: return (135, false)
        case 130: return (131, false)
        case 131: return (130, false)
        case 139: return (140, false)
        case 140: return (139, false)
        case 144: return (145, false)
        case 145: return (144, false)
        default: return (UInt16(code), true)
        }
    }
    switch type {
    case 8: return (0, false)
    case 0: return (8, false)
    case 13: return (14, false)
    case 14: return (13, false)
    case 15: return (16, false)
    case 16: return (15, false)
    case 10: return (9, false)
    case 9: return (10, false)
    case 17: return (18, false)
    case 18: return (17, false)
    default: return (UInt16(code), true)
    }
}
