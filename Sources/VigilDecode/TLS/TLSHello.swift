import VigilCore

/// How JA4 names the transport a ClientHello travelled on (its first character).
public enum TLSTransport: Sendable, Hashable {
    /// TLS over TCP (`t`).
    case tcp
    /// TLS inside QUIC CRYPTO frames (`q`).
    case quic
    /// DTLS (`d`).
    case dtls

    var ja4Byte: UInt8 {
        switch self {
        case .tcp: UInt8(ascii: "t")
        case .quic: UInt8(ascii: "q")
        case .dtls: UInt8(ascii: "d")
        }
    }
}

/// TLS extension type numbers the hello parsers read.
enum TLSExtension {
    static let serverName: UInt16 = 0x0000
    static let supportedGroups: UInt16 = 0x000a
    static let ecPointFormats: UInt16 = 0x000b
    static let signatureAlgorithms: UInt16 = 0x000d
    static let alpn: UInt16 = 0x0010
    static let supportedVersions: UInt16 = 0x002b
}

/// The metadata of a ClientHello, with its JA3 and JA4 fingerprints.
///
/// Lists hold values as sent, GREASE values included; the fingerprints drop GREASE as their
/// specifications say.
public struct TLSClientHello: Sendable, Hashable {
    /// `legacy_version` (`client_version` before TLS 1.3), e.g. 0x0303.
    public var legacyVersion: UInt16
    /// The supported_versions extension's list (empty when absent).
    public var supportedVersions: [UInt16]
    /// Offered cipher suites, in order.
    public var cipherSuites: [UInt16]
    /// Extension types, in order.
    public var extensions: [UInt16]
    /// The first host_name of the server_name extension, non-printable bytes escaped as `\xNN`.
    public var serverName: String?
    /// The ALPN protocol names offered, in order (escaped like ``serverName``).
    public var alpn: [String]
    /// The supported_groups (elliptic_curves) extension's list.
    public var supportedGroups: [UInt16]
    /// The ec_point_formats extension's list.
    public var ecPointFormats: [UInt8]
    /// The signature_algorithms extension's list, in order.
    public var signatureAlgorithms: [UInt16]
    /// The JA3 string: `version,ciphers,extensions,groups,point formats`.
    public var ja3: String
    /// The lowercase hex MD5 of ``ja3``.
    public var ja3Hash: String
    /// The JA4 fingerprint (FoxIO), e.g. `t13d1516h2_8daaf6152771_e5627efa2ab1`.
    public var ja4: String

    /// Parses a ClientHello handshake body (after the 4-byte handshake header).
    ///
    /// - Parameter transport: the transport JA4 names (`t`, `q` or `d`).
    /// - Throws: ``TLSStopReason/malformedHello`` when a length runs past the message.
    /// - Complexity: O(*n*) in the body's length.
    public init(handshakeBody body: UnsafeRawBufferPointer, transport: TLSTransport = .tcp) throws(TLSStopReason) {
        var c = ByteCursor(body)
        guard let version = c.readU16(), c.readBytes(32) != nil,
              let sessionIDLength = c.readByte(), c.readBytes(Int(sessionIDLength)) != nil,
              let suites = c.readU16Vector(), suites.count % 2 == 0,
              let compressionLength = c.readByte(), c.readBytes(Int(compressionLength)) != nil
        else { throw .malformedHello }

        legacyVersion = version
        cipherSuites = TLSWire.u16List(suites)
        supportedVersions = []
        extensions = []
        serverName = nil
        alpn = []
        supportedGroups = []
        ecPointFormats = []
        signatureAlgorithms = []
        var hasServerName = false
        var firstALPN: UnsafeRawBufferPointer?

        if !c.isAtEnd {
            guard let block = c.readU16Vector() else { throw .malformedHello }
            var e = ByteCursor(block)
            while !e.isAtEnd {
                guard let type = e.readU16(), let data = e.readU16Vector() else { throw .malformedHello }
                extensions.append(type)
                // Malformed contents of one extension leave its fields empty; its type still
                // counts for the fingerprints, as in JA3/JA4 implementations.
                var d = ByteCursor(data)
                switch type {
                case TLSExtension.serverName:
                    hasServerName = true
                    if let list = d.readU16Vector() {
                        var l = ByteCursor(list)
                        while let nameType = l.readByte(), let name = l.readU16Vector() {
                            if nameType == 0 { serverName = TLSWire.text(name); break }
                        }
                    }
                case TLSExtension.alpn:
                    if let list = d.readU16Vector() {
                        var l = ByteCursor(list)
                        while let length = l.readByte(), let name = l.readBytes(Int(length)) {
                            if alpn.isEmpty { firstALPN = name }
                            alpn.append(TLSWire.text(name))
                        }
                    }
                case TLSExtension.supportedGroups:
                    if let list = d.readU16Vector() { supportedGroups = TLSWire.u16List(list) }
                case TLSExtension.ecPointFormats:
                    if let length = d.readByte(), let list = d.readBytes(Int(length)) { ecPointFormats = Array(list) }
                case TLSExtension.signatureAlgorithms:
                    if let list = d.readU16Vector() { signatureAlgorithms = TLSWire.u16List(list) }
                case TLSExtension.supportedVersions:
                    if let length = d.readByte(), let list = d.readBytes(Int(length)) {
                        supportedVersions = TLSWire.u16List(list)
                    }
                default:
                    break
                }
            }
        }

        ja3 = TLSFingerprint.ja3(version: legacyVersion, ciphers: cipherSuites, extensions: extensions,
                                 groups: supportedGroups, pointFormats: ecPointFormats)
        ja3Hash = TLSFingerprint.md5Hex(ja3)
        ja4 = TLSFingerprint.ja4(transport: transport, legacyVersion: legacyVersion,
                                 supportedVersions: supportedVersions, hasServerName: hasServerName,
                                 firstALPN: firstALPN, ciphers: cipherSuites, extensions: extensions,
                                 signatureAlgorithms: signatureAlgorithms)
    }

    /// The highest non-GREASE version offered: from supported_versions when present, else
    /// ``legacyVersion``.
    public var highestVersion: UInt16 {
        TLSFingerprint.highestVersion(legacy: legacyVersion, supported: supportedVersions)
    }
}

/// The metadata of a ServerHello (or HelloRetryRequest), with its JA3S fingerprint.
public struct TLSServerHello: Sendable, Hashable {
    /// `legacy_version` (`server_version` before TLS 1.3), e.g. 0x0303.
    public var legacyVersion: UInt16
    /// The negotiated version: supported_versions' value when present, else ``legacyVersion``.
    public var selectedVersion: UInt16
    /// The chosen cipher suite.
    public var cipherSuite: UInt16
    /// Extension types, in order.
    public var extensions: [UInt16]
    /// The ALPN protocol the server chose (escaped like ``TLSClientHello/serverName``).
    public var alpn: String?
    /// The JA3S string: `version,cipher,extensions`.
    public var ja3s: String
    /// The lowercase hex MD5 of ``ja3s``.
    public var ja3sHash: String

    /// Parses a ServerHello handshake body (after the 4-byte handshake header).
    ///
    /// TLS 1.3 drafts before 22 (versions 0x7f00–0x7f15, and 0x0304 itself, which early drafts
    /// sent and final TLS 1.3 never puts in `legacy_version`) omit the session id and compression
    /// method; they are read in that layout.
    /// - Throws: ``TLSStopReason/malformedHello`` when a length runs past the message.
    /// - Complexity: O(*n*) in the body's length.
    public init(handshakeBody body: UnsafeRawBufferPointer) throws(TLSStopReason) {
        var c = ByteCursor(body)
        guard let version = c.readU16(), c.readBytes(32) != nil else { throw .malformedHello }
        let draftLayout = (version >= 0x7f00 && version < 0x7f16) || version == 0x0304
        if !draftLayout {
            guard let sessionIDLength = c.readByte(), c.readBytes(Int(sessionIDLength)) != nil else {
                throw .malformedHello
            }
        }
        guard let suite = c.readU16() else { throw .malformedHello }
        if !draftLayout {
            guard c.readByte() != nil else { throw .malformedHello }
        }
        legacyVersion = version
        selectedVersion = version
        cipherSuite = suite
        extensions = []
        alpn = nil
        if !c.isAtEnd {
            guard let block = c.readU16Vector() else { throw .malformedHello }
            var e = ByteCursor(block)
            while !e.isAtEnd {
                guard let type = e.readU16(), let data = e.readU16Vector() else { throw .malformedHello }
                extensions.append(type)
                var d = ByteCursor(data)
                switch type {
                case TLSExtension.supportedVersions:
                    if let v = d.readU16() { selectedVersion = v }
                case TLSExtension.alpn:
                    if let list = d.readU16Vector() {
                        var l = ByteCursor(list)
                        if let length = l.readByte(), let name = l.readBytes(Int(length)) { alpn = TLSWire.text(name) }
                    }
                default:
                    break
                }
            }
        }
        ja3s = TLSFingerprint.ja3s(version: legacyVersion, cipher: cipherSuite, extensions: extensions)
        ja3sHash = TLSFingerprint.md5Hex(ja3s)
    }

    /// ``selectedVersion`` as Zeek's ssl.log prints it (`TLSv12`, `TLSv13`, …).
    public var versionName: String { TLSNames.version(selectedVersion) }
    /// ``cipherSuite`` as Zeek's ssl.log prints it (`TLS_AES_128_GCM_SHA256`, …).
    public var cipherName: String { TLSNames.cipherSuite(cipherSuite) }
}

/// Small readers over TLS wire lists.
enum TLSWire {
    /// Big-endian 16-bit values of `bytes` (a trailing odd byte is ignored).
    static func u16List(_ bytes: UnsafeRawBufferPointer) -> [UInt16] {
        var out: [UInt16] = []
        out.reserveCapacity(bytes.count / 2)
        var i = 0
        while i + 1 < bytes.count {
            out.append(UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
            i += 2
        }
        return out
    }

    /// Bytes as a String: printable ASCII kept, every other byte and `\` written as `\xNN`.
    static func text(_ bytes: UnsafeRawBufferPointer) -> String {
        if bytes.allSatisfy({ $0 >= 0x20 && $0 < 0x7f && $0 != 0x5c }) {
            return String(decoding: bytes, as: UTF8.self)
        }
        var out = ASCIIText(capacity: bytes.count * 2)
        for b in bytes {
            if b >= 0x20 && b < 0x7f && b != 0x5c {
                out.append(b)
            } else {
                out.append("\\x")
                out.append(ASCIIText.hexDigit(b >> 4))
                out.append(ASCIIText.hexDigit(b & 0xf))
            }
        }
        return out.string
    }
}

extension ByteCursor {
    /// Consumes a big-endian `UInt16`.
    fileprivate mutating func readU16() -> UInt16? {
        guard let b = readBytes(2) else { return nil }
        return UInt16(b[0]) << 8 | UInt16(b[1])
    }

    /// Consumes a vector with a 16-bit length prefix and returns its contents.
    fileprivate mutating func readU16Vector() -> UnsafeRawBufferPointer? {
        let start = position
        guard let length = readU16() else { return nil }
        guard let body = readBytes(Int(length)) else {
            self = ByteCursor(bytes, position: start)
            return nil
        }
        return body
    }
}
