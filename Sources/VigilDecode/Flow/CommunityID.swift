import COpenSSL
import VigilCore

/// SHA-1 through libcrypto's low-level functions (which use the CPU's SHA instructions where it
/// has them).
enum SHA1 {
    /// The 20-byte digest of `bytes` into `out`.
    @inline(__always)
    static func digest(_ bytes: UnsafeRawBufferPointer, into out: UnsafeMutableRawBufferPointer) {
        precondition(out.count >= 20)
        vigil_SHA1(bytes.baseAddress, bytes.count, out.baseAddress!.assumingMemoryBound(to: UInt8.self))
    }

    static func hash(_ bytes: [UInt8]) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: 20) { out, count in
            bytes.withUnsafeBytes { digest($0, into: UnsafeMutableRawBufferPointer(out)) }
            count = 20
        }
    }
}

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
        var digest = (UInt64(0), UInt64(0), UInt64(0))
        withUnsafeBytes(of: &input) { i in
            withUnsafeMutableBytes(of: &digest) { SHA1.digest(UnsafeRawBufferPointer(rebasing: i[0..<count]), into: $0) }
        }
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
