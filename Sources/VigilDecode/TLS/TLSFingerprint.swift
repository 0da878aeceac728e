import COpenSSL

/// JA3, JA3S and JA4 fingerprints, and the digests behind them (OpenSSL's EVP).
///
/// JA3/JA3S follow Salesforce's definition: decimal values joined by `-`, fields by `,`,
/// GREASE values (RFC 8701) left out, MD5 in lowercase hex. JA4 follows FoxIO's definition:
/// `a_b_c` with the prefix, the SHA-256 (first 12 hex digits) of the sorted cipher suites, and
/// that of the sorted extensions (without SNI and ALPN) followed by the signature algorithms.
public enum TLSFingerprint {
    /// Whether `value` is a GREASE value (0x0a0a, 0x1a1a, …, 0xfafa; RFC 8701).
    @inlinable
    public static func isGREASE(_ value: UInt16) -> Bool {
        value & 0x0f0f == 0x0a0a && value >> 8 == value & 0xff
    }

    static func ja3(version: UInt16, ciphers: [UInt16], extensions: [UInt16], groups: [UInt16],
                    pointFormats: [UInt8]) -> String {
        var s = ASCIIText(capacity: 16 + 6 * (ciphers.count + extensions.count + groups.count) + 4 * pointFormats.count)
        s.appendDecimal(version)
        s.append(",")
        appendDecimal(ciphers, to: &s)
        s.append(",")
        appendDecimal(extensions, to: &s)
        s.append(",")
        appendDecimal(groups, to: &s)
        s.append(",")
        var first = true
        for p in pointFormats {
            if !first { s.append("-") }
            first = false
            s.appendDecimal(UInt16(p))
        }
        return s.string
    }

    static func ja3s(version: UInt16, cipher: UInt16, extensions: [UInt16]) -> String {
        var s = ASCIIText(capacity: 16 + 6 * extensions.count)
        s.appendDecimal(version)
        s.append(",")
        s.appendDecimal(cipher)
        s.append(",")
        appendDecimal(extensions, to: &s)
        return s.string
    }

    /// Non-GREASE values in decimal, joined by `-`.
    private static func appendDecimal(_ values: [UInt16], to s: inout ASCIIText) {
        var first = true
        for v in values where !isGREASE(v) {
            if !first { s.append("-") }
            first = false
            s.appendDecimal(v)
        }
    }

    static func highestVersion(legacy: UInt16, supported: [UInt16]) -> UInt16 {
        var best: UInt16?
        for v in supported where !isGREASE(v) {
            if best.map({ v > $0 }) ?? true { best = v }
        }
        return best ?? legacy
    }

    /// JA4's two-character version.
    static func ja4Version(_ v: UInt16) -> StaticString {
        switch v {
        case 0x0304: "13"
        case 0x0303: "12"
        case 0x0302: "11"
        case 0x0301: "10"
        case 0x0300: "s3"
        case 0x0002: "s2"
        case 0xfeff: "d1"
        case 0xfefd: "d2"
        case 0xfefc: "d3"
        default: "00"
        }
    }

    static func ja4(transport: TLSTransport, legacyVersion: UInt16, supportedVersions: [UInt16],
                    hasServerName: Bool, firstALPN: UnsafeRawBufferPointer?, ciphers: [UInt16],
                    extensions: [UInt16], signatureAlgorithms: [UInt16]) -> String {
        var a = ASCIIText(capacity: 36)
        a.append(transport.ja4Byte)
        a.append(ja4Version(highestVersion(legacy: legacyVersion, supported: supportedVersions)))
        a.append(hasServerName ? "d" : "i")
        var suites = ciphers.filter { !isGREASE($0) }
        var exts = extensions.filter { !isGREASE($0) }
        a.appendTwoDigits(min(suites.count, 99))
        a.appendTwoDigits(min(exts.count, 99))
        appendALPN(firstALPN, to: &a)
        a.append("_")

        suites.sort()
        if suites.isEmpty {
            a.append("000000000000")
        } else {
            var text = ASCIIText(capacity: 5 * suites.count)
            text.appendHexList(suites)
            a.appendDigestHex(of: text, Digest.sha256, hexDigits: 12)
        }
        a.append("_")

        exts.removeAll { $0 == TLSExtension.serverName || $0 == TLSExtension.alpn }
        exts.sort()
        if exts.isEmpty {
            a.append("000000000000")
        } else {
            var text = ASCIIText(capacity: 5 * (exts.count + signatureAlgorithms.count) + 1)
            text.appendHexList(exts)
            let algorithms = signatureAlgorithms.filter { !isGREASE($0) }
            if !algorithms.isEmpty {
                text.append("_")
                text.appendHexList(algorithms)
            }
            a.appendDigestHex(of: text, Digest.sha256, hexDigits: 12)
        }
        return a.string
    }

    /// The first and last characters of the first ALPN value, or of its hex form when either
    /// is not an ASCII letter or digit; `00` without one.
    private static func appendALPN(_ value: UnsafeRawBufferPointer?, to s: inout ASCIIText) {
        guard let value, let first = value.first, let last = value.last else { return s.append("00") }
        func alphanumeric(_ b: UInt8) -> Bool {
            (0x30...0x39).contains(b) || (0x41...0x5a).contains(b) || (0x61...0x7a).contains(b)
        }
        if alphanumeric(first) && alphanumeric(last) {
            s.append(first)
            s.append(last)
        } else {
            s.append(ASCIIText.hexDigit(first >> 4))
            s.append(ASCIIText.hexDigit(last & 0xf))
        }
    }

    /// The lowercase hex MD5 of `text`'s UTF-8 bytes.
    public static func md5Hex(_ text: String) -> String {
        var s = ASCIIText(capacity: 32)
        var text = text
        text.withUTF8 { s.appendDigestHex(of: UnsafeRawBufferPointer($0), Digest.md5, hexDigits: 32) }
        return s.string
    }

    /// The first 12 lowercase hex digits of the SHA-256 of `text`'s UTF-8 bytes.
    public static func truncatedSHA256(_ text: String) -> String {
        var s = ASCIIText(capacity: 12)
        var text = text
        text.withUTF8 { s.appendDigestHex(of: UnsafeRawBufferPointer($0), Digest.sha256, hexDigits: 12) }
        return s.string
    }

    /// Digest implementations fetched from OpenSSL's default provider once (an implicit fetch per
    /// call costs a lookup under a lock).
    struct Digest: @unchecked Sendable {  // an EVP_MD is immutable and shared by OpenSSL across threads
        let md: OpaquePointer?
        static let md5 = Digest(md: EVP_MD_fetch(nil, "MD5", nil) ?? EVP_md5())
        static let sha256 = Digest(md: EVP_MD_fetch(nil, "SHA256", nil) ?? EVP_sha256())
    }
}

/// ASCII text built as bytes, turned into one `String` at the end.
struct ASCIIText {
    var bytes: [UInt8] = []

    init(capacity: Int) { bytes.reserveCapacity(capacity) }

    var string: String { String(decoding: bytes, as: UTF8.self) }

    @inline(__always) mutating func append(_ byte: UInt8) { bytes.append(byte) }

    mutating func append(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func appendDecimal(_ v: UInt16) {
        if v >= 10 { appendDecimal(v / 10) }
        bytes.append(48 + UInt8(v % 10))
    }

    mutating func appendTwoDigits(_ n: Int) {
        bytes.append(UInt8(48 + n / 10))
        bytes.append(UInt8(48 + n % 10))
    }

    /// Values as 4-digit lowercase hex, joined by `,`.
    mutating func appendHexList(_ values: [UInt16]) {
        for (k, v) in values.enumerated() {
            if k > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(Self.hexDigit(UInt8(truncatingIfNeeded: v >> 12) & 0xf))
            bytes.append(Self.hexDigit(UInt8(truncatingIfNeeded: v >> 8) & 0xf))
            bytes.append(Self.hexDigit(UInt8(truncatingIfNeeded: v >> 4) & 0xf))
            bytes.append(Self.hexDigit(UInt8(truncatingIfNeeded: v) & 0xf))
        }
    }

    @inline(__always)
    static func hexDigit(_ nibble: UInt8) -> UInt8 { nibble < 10 ? 48 + nibble : 87 + nibble }

    /// The first `hexDigits` lowercase hex digits of the digest of `text`.
    mutating func appendDigestHex(of text: ASCIIText, _ digest: TLSFingerprint.Digest, hexDigits: Int) {
        text.bytes.withUnsafeBytes { appendDigestHex(of: $0, digest, hexDigits: hexDigits) }
    }

    mutating func appendDigestHex(of data: UnsafeRawBufferPointer, _ digest: TLSFingerprint.Digest, hexDigits: Int) {
        var out = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))  // EVP_MAX_MD_SIZE
        var size: UInt32 = 0
        let ok = withUnsafeMutableBytes(of: &out) { o in
            EVP_Digest(data.baseAddress, data.count, o.baseAddress?.assumingMemoryBound(to: UInt8.self), &size, digest.md, nil)
        }
        // EVP_Digest fails only when OpenSSL cannot allocate or lacks the algorithm.
        guard ok == 1 else { return }
        withUnsafeBytes(of: &out) { o in
            for k in 0..<min(hexDigits, 2 * Int(size)) {
                let b = o[k / 2]
                bytes.append(Self.hexDigit(k % 2 == 0 ? b >> 4 : b & 0xf))
            }
        }
    }
}
