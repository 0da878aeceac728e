/// Hashing of lookup keys: fast, seeded-by-nothing mixing for in-memory tables built by Vigil
/// itself (not exposed to hash flooding through a network peer: table keys come from files the
/// operator controls, and lookups only probe).
enum KeyHash {
    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h = h &* 0xFF51_AFD7_ED55_8CCD
        h ^= h >> 33
        h = h &* 0xC4CE_B9FE_1A85_EC53
        h ^= h >> 33
        return h
    }

    /// A 64-bit hash of an address's bits under a length code (see ``PrefixTable``).
    @inline(__always)
    static func address(_ high: UInt64, _ low: UInt64, _ code: UInt8) -> UInt64 {
        mix((high &* 0x9E37_79B9_7F4A_7C15) ^ low ^ (UInt64(code) << 56 | UInt64(code)))
    }

    /// A 64-bit hash of `bytes`, eight at a time.
    @inline(__always)
    static func bytes(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let n = bytes.count
        var h: UInt64 = 0x243F_6A88_85A3_08D3 ^ (UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15)
        guard let base = bytes.baseAddress else { return mix(h) }
        var i = 0
        while i + 8 <= n {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            h = (h ^ (w &* 0x87C3_7B91_1142_53D5)) &* 0x4CF5_AD43_2745_937F
            h = (h << 31) | (h >> 33)
            i += 8
        }
        if i < n {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(base.load(fromByteOffset: i, as: UInt8.self)) << shift
                shift += 8
                i += 1
            }
            h = (h ^ (tail &* 0x87C3_7B91_1142_53D5)) &* 0x4CF5_AD43_2745_937F
        }
        return mix(h)
    }
}

/// How string keys are compared.
public enum KeyFolding: Sendable, Equatable {
    /// Byte for byte.
    case exact
    /// ASCII letters folded to lowercase (user names, host names).
    case caseInsensitive
    /// Domain names: ASCII lowercase and one trailing `.` removed (`WWW.Example.COM.` → `www.example.com`).
    case domain

    /// Calls `body` with `bytes` normalized (on the stack for keys up to 256 bytes; longer keys
    /// are copied to the heap). `.exact` passes the bytes through.
    @inline(__always)
    func withNormalized<R>(_ bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        var count = bytes.count
        if self == .domain, count > 0, bytes[count - 1] == UInt8(ascii: ".") { count -= 1 }
        if self == .exact { return body(bytes) }
        var needsFolding = false
        for i in 0..<count where bytes[i] &- UInt8(ascii: "A") < 26 { needsFolding = true; break }
        if !needsFolding { return body(UnsafeRawBufferPointer(rebasing: bytes[0..<count])) }
        return withUnsafeTemporaryAllocation(byteCount: count, alignment: 1) { buffer in
            for i in 0..<count {
                let b = bytes[i]
                buffer[i] = b &- UInt8(ascii: "A") < 26 ? b | 0x20 : b
            }
            return body(UnsafeRawBufferPointer(buffer))
        }
    }

    /// The normalized form of `text`, for building tables.
    func normalize(_ text: String) -> [UInt8] {
        var text = text
        return text.withUTF8 { utf8 in withNormalized(UnsafeRawBufferPointer(utf8)) { Array($0) } }
    }
}
