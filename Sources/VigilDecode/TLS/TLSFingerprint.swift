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
        var s = String(version)
        s += ","
        appendDecimal(ciphers, to: &s)
        s += ","
        appendDecimal(extensions, to: &s)
        s += ","
        appendDecimal(groups, to: &s)
        s += ","
        var first = true
        for p in pointFormats {
            if !first { s += "-" }
            first = false
            s += String(p)
        }
        return s
    }

    static func ja3s(version: UInt16, cipher: UInt16, extensions: [UInt16]) -> String {
        var s = String(version)
        s += ","
        s += String(cipher)
        s += ","
        appendDecimal(extensions, to: &s)
        return s
    }

    /// Non-GREASE values in decimal, joined by `-`.
    private static func appendDecimal(_ values: [UInt16], to s: inout String) {
        var first = true
        for v in values where !isGREASE(v) {
            if !first { s += "-" }
            first = false
            s += String(v)
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
    static func ja4Version(_ v: UInt16) -> String {
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
        var a = String(transport.ja4Character)
        a += ja4Version(highestVersion(legacy: legacyVersion, supported: supportedVersions))
        a += hasServerName ? "d" : "i"
        var suites = ciphers.filter { !isGREASE($0) }
        var exts = extensions.filter { !isGREASE($0) }
        appendTwoDigits(min(suites.count, 99), to: &a)
        appendTwoDigits(min(exts.count, 99), to: &a)
        a += ja4ALPN(firstALPN)

        suites.sort()
        let b = suites.isEmpty ? "000000000000" : truncatedSHA256(hexList(suites))

        exts.removeAll { $0 == TLSExtension.serverName || $0 == TLSExtension.alpn }
        exts.sort()
        let c: String
        if exts.isEmpty {
            c = "000000000000"
        } else {
            var text = hexList(exts)
            let algorithms = signatureAlgorithms.filter { !isGREASE($0) }
            if !algorithms.isEmpty {
                text += "_"
                text += hexList(algorithms)
            }
            c = truncatedSHA256(text)
        }
        return a + "_" + b + "_" + c
    }

    /// The first and last characters of the first ALPN value, or of its hex form when either
    /// is not an ASCII letter or digit; `00` without one.
    private static func ja4ALPN(_ value: UnsafeRawBufferPointer?) -> String {
        guard let value, let first = value.first, let last = value.last else { return "00" }
        func alphanumeric(_ b: UInt8) -> Bool {
            (0x30...0x39).contains(b) || (0x41...0x5a).contains(b) || (0x61...0x7a).contains(b)
        }
        var s = ""
        if alphanumeric(first) && alphanumeric(last) {
            s.unicodeScalars.append(Unicode.Scalar(first))
            s.unicodeScalars.append(Unicode.Scalar(last))
        } else {
            s.unicodeScalars.append(hexDigit(first >> 4))
            s.unicodeScalars.append(hexDigit(last & 0xf))
        }
        return s
    }

    private static func appendTwoDigits(_ n: Int, to s: inout String) {
        s.unicodeScalars.append(Unicode.Scalar(UInt8(48 + n / 10)))
        s.unicodeScalars.append(Unicode.Scalar(UInt8(48 + n % 10)))
    }

    /// Values as 4-digit lowercase hex, joined by `,`.
    private static func hexList(_ values: [UInt16]) -> String {
        var s = ""
        s.reserveCapacity(values.count * 5)
        for (k, v) in values.enumerated() {
            if k > 0 { s += "," }
            for shift in stride(from: 12, through: 0, by: -4) {
                s.unicodeScalars.append(hexDigit(UInt8(truncatingIfNeeded: v >> UInt16(shift)) & 0xf))
            }
        }
        return s
    }

    static func hexDigit(_ nibble: UInt8) -> Unicode.Scalar {
        Unicode.Scalar(nibble < 10 ? 48 + nibble : 87 + nibble)
    }

    /// The lowercase hex MD5 of `text`'s UTF-8 bytes.
    public static func md5Hex(_ text: String) -> String {
        digestHex(text, EVP_md5(), hexDigits: 32)
    }

    /// The first 12 lowercase hex digits of the SHA-256 of `text`'s UTF-8 bytes.
    public static func truncatedSHA256(_ text: String) -> String {
        digestHex(text, EVP_sha256(), hexDigits: 12)
    }

    private static func digestHex(_ text: String, _ md: OpaquePointer?, hexDigits: Int) -> String {
        var text = text
        var out = [UInt8](repeating: 0, count: 64)  // EVP_MAX_MD_SIZE
        var size: UInt32 = 0
        let ok = text.withUTF8 { utf8 in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(utf8.baseAddress, utf8.count, o.baseAddress, &size, md, nil)
            }
        }
        // EVP_Digest fails only when OpenSSL cannot allocate or lacks the algorithm.
        guard ok == 1 else { return "" }
        var s = ""
        s.reserveCapacity(hexDigits)
        for k in 0..<min(hexDigits, 2 * Int(size)) {
            let b = out[k / 2]
            s.unicodeScalars.append(hexDigit(k % 2 == 0 ? b >> 4 : b & 0xf))
        }
        return s
    }
}
