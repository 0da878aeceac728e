import COpenSSL

/// The ClientHello of a QUIC connection, read from the client's Initial packets (RFC 9000,
/// RFC 9001 §5): Initial packets are protected with keys derived from the Destination Connection
/// ID alone, so an observer can remove the header protection, decrypt the payload (AES-128-GCM)
/// and put the CRYPTO frames back in order. The ClientHello they carry gives SNI, ALPN and JA4
/// (with the `q` prefix).
///
/// QUIC v1 and v2 (RFC 9369) and draft 29 are read; other versions are ignored. Bounded: at most
/// 16 KiB of CRYPTO data is gathered.
public struct QUICClientHelloReader: Sendable {
    /// The CRYPTO stream's bytes, by offset (a datagram may carry them out of order).
    private var crypto: [(offset: Int, bytes: [UInt8])] = []
    public private(set) var finished = false
    /// Whether any datagram decrypted as a QUIC Initial (the flow speaks QUIC).
    public private(set) var sawInitial = false
    /// The keys of the last Destination Connection ID (the client's Initials share it).
    private var keys: QUICInitial.Keys?

    static let maximumCrypto = 16_384

    public init() {}

    /// One UDP datagram from the client; the ClientHello once its bytes are complete.
    public mutating func add(datagram: UnsafeRawBufferPointer) -> TLSClientHello? {
        guard !finished else { return nil }
        var rest = datagram
        // A datagram may coalesce several packets; Initial ones come first.
        while rest.count >= 7, rest[0] & 0xC0 == 0xC0 {
            guard let (consumed, frames) = QUICInitial.open(rest, keys: &keys) else { break }
            sawInitial = true
            for f in frames { addCrypto(f.offset, f.bytes) }
            rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
        }
        return assemble()
    }

    private mutating func addCrypto(_ offset: Int, _ bytes: [UInt8]) {
        guard offset >= 0, offset + bytes.count <= Self.maximumCrypto else { return }
        crypto.append((offset, bytes))
    }

    /// The ClientHello when the CRYPTO bytes from offset 0 hold the whole handshake message.
    private mutating func assemble() -> TLSClientHello? {
        guard !crypto.isEmpty else { return nil }
        var stream: [UInt8] = []
        var progress = true
        while progress {
            progress = false
            for c in crypto where c.offset <= stream.count && c.offset + c.bytes.count > stream.count {
                stream += c.bytes[(stream.count - c.offset)...]
                progress = true
            }
        }
        guard stream.count >= 4, stream[0] == 1 else { return nil }
        let length = Int(stream[1]) << 16 | Int(stream[2]) << 8 | Int(stream[3])
        guard stream.count >= 4 + length else { return nil }
        finished = true
        return stream.withUnsafeBytes { b in
            try? TLSClientHello(handshakeBody: UnsafeRawBufferPointer(rebasing: b[4..<(4 + length)]), transport: .quic)
        }
    }
}

/// QUIC Initial packet protection (RFC 9001 §5), with OpenSSL's HMAC-SHA256 and AES.
enum QUICInitial {
    static let saltV1: [UInt8] = [0x38, 0x76, 0x2C, 0xF7, 0xF5, 0x59, 0x34, 0xB3, 0x4D, 0x17, 0x9A, 0xE6, 0xA4, 0xC8, 0x0C, 0xAD,
                                  0xCC, 0xBB, 0x7F, 0x0A]
    static let saltV2: [UInt8] = [0x0D, 0xED, 0xE3, 0xDE, 0xF7, 0x00, 0xA6, 0xDB, 0x81, 0x93, 0x81, 0xBE, 0x6E, 0x26, 0x9D, 0xCB,
                                  0xF9, 0xBD, 0x2E, 0xD9]
    static let saltDraft29: [UInt8] = [0xAF, 0xBF, 0xEC, 0x28, 0x99, 0x93, 0xD2, 0x4C, 0x9E, 0x97, 0x86, 0xF1, 0x9C, 0x61, 0x11, 0xE0,
                                       0x43, 0x90, 0xA8, 0x99]

    /// The client's Initial keys for one Destination Connection ID and version.
    struct Keys: Sendable {
        var dcid: [UInt8]
        var version: UInt32
        var key: [UInt8]
        var iv: [UInt8]
        var hp: [UInt8]
    }

    /// Opens the first packet of `bytes` when it is a client Initial: the bytes it took and its
    /// CRYPTO frames. Nil when it is not an Initial of a known version or does not decrypt.
    /// `keys` keeps the derived keys for the next packet with the same connection id.
    static func open(_ b: UnsafeRawBufferPointer, keys cached: inout Keys?) -> (Int, [(offset: Int, bytes: [UInt8])])? {
        let first = b[0]
        let version = UInt32(b[1]) << 24 | UInt32(b[2]) << 16 | UInt32(b[3]) << 8 | UInt32(b[4])
        let salt: HMACKey, labels: Labels, initialType: UInt8
        switch version {
        case 0x0000_0001: (salt, labels, initialType) = (Derivation.saltV1, Derivation.labelsV1, 0)
        case 0x6B33_43CF: (salt, labels, initialType) = (Derivation.saltV2, Derivation.labelsV2, 1)
        case 0xFF00_001D: (salt, labels, initialType) = (Derivation.saltDraft29, Derivation.labelsV1, 0)
        default: return nil
        }
        guard (first >> 4) & 0x03 == initialType else { return nil }
        var p = 5
        guard p < b.count else { return nil }
        let dcidLength = Int(b[p]); p += 1
        guard dcidLength <= 20, p + dcidLength < b.count else { return nil }
        let dcid = Array(b[p..<(p + dcidLength)]); p += dcidLength
        let scidLength = Int(b[p]); p += 1
        guard scidLength <= 20, p + scidLength <= b.count else { return nil }
        p += scidLength
        guard let (tokenLength, t) = varint(b, p), tokenLength <= UInt64(b.count) else { return nil }
        p = t + Int(tokenLength)
        guard let (payloadLength, l) = varint(b, p), payloadLength <= UInt64(b.count) else { return nil }
        p = l
        let pnOffset = p
        let end = pnOffset + Int(payloadLength)
        guard end <= b.count, pnOffset + 4 + 16 <= end else { return nil }
        // Keys from the client's Destination Connection ID (derived once per id).
        let keys: Keys
        if let c = cached, c.dcid == dcid, c.version == version {
            keys = c
        } else {
            let initialSecret = salt.mac(dcid)
            let clientSecret = HMACKey(initialSecret).mac(Derivation.clientIn)
            // Three expansions under one secret: its padded key blocks are hashed once.
            let client = HMACKey(clientSecret)
            keys = Keys(dcid: dcid, version: version, key: Array(client.mac(labels.key).prefix(16)),
                        iv: Array(client.mac(labels.iv).prefix(12)), hp: Array(client.mac(labels.hp).prefix(16)))
            cached = keys
        }
        let key = keys.key, iv = keys.iv, hp = keys.hp
        // Header protection: a mask from the sample 4 bytes past the packet number's start.
        guard let mask = aesECB(key: hp, block: Array(b[(pnOffset + 4)..<(pnOffset + 20)])) else { return nil }
        let unprotectedFirst = first ^ (mask[0] & 0x0F)
        let pnLength = Int(unprotectedFirst & 0x03) + 1
        var header = Array(b[0..<(pnOffset + pnLength)])
        header[0] = unprotectedFirst
        var packetNumber: UInt64 = 0
        for k in 0..<pnLength {
            header[pnOffset + k] ^= mask[1 + k]
            packetNumber = packetNumber << 8 | UInt64(header[pnOffset + k])
        }
        var nonce = iv
        for k in 0..<8 { nonce[11 - k] ^= UInt8(truncatingIfNeeded: packetNumber >> (8 * UInt64(k))) }
        let payloadStart = pnOffset + pnLength
        guard end - payloadStart > 16 else { return nil }
        let ciphertext = Array(b[payloadStart..<(end - 16)]), tag = Array(b[(end - 16)..<end])
        guard let plaintext = aesGCMOpen(key: key, nonce: nonce, aad: header, ciphertext: ciphertext, tag: tag) else { return nil }
        return (end, cryptoFrames(plaintext))
    }

    /// The CRYPTO frames of a decrypted Initial payload (PADDING, PING, ACK and CONNECTION_CLOSE
    /// are stepped over; anything else ends the reading).
    static func cryptoFrames(_ payload: [UInt8]) -> [(offset: Int, bytes: [UInt8])] {
        var out: [(offset: Int, bytes: [UInt8])] = []
        payload.withUnsafeBytes { b in
            var p = 0
            while p < b.count {
                let type = b[p]
                switch type {
                case 0x00, 0x01: p += 1
                case 0x06:
                    guard let (offset, a) = varint(b, p + 1), let (length, c) = varint(b, a),
                          offset < 1 << 20, length <= UInt64(b.count - c) else { return }
                    out.append((Int(offset), Array(b[c..<(c + Int(length))])))
                    p = c + Int(length)
                case 0x02, 0x03:
                    // ACK: largest, delay, range count, first range, ranges (gap, length)…, ECN counts.
                    guard var (_, q) = varint(b, p + 1) else { return }
                    guard let (_, q1) = varint(b, q), let (count, q2) = varint(b, q1), let (_, q3) = varint(b, q2) else { return }
                    q = q3
                    guard count < 256 else { return }
                    for _ in 0..<count {
                        guard let (_, g) = varint(b, q), let (_, r) = varint(b, g) else { return }
                        q = r
                    }
                    if type == 0x03 {
                        for _ in 0..<3 { guard let (_, e) = varint(b, q) else { return }; q = e }
                    }
                    p = q
                default:
                    return
                }
            }
        }
        return out
    }

    /// A QUIC variable-length integer at `p`: its value and the offset after it.
    static func varint(_ b: UnsafeRawBufferPointer, _ p: Int) -> (UInt64, Int)? {
        guard p < b.count else { return nil }
        let length = 1 << Int(b[p] >> 6)
        guard p + length <= b.count else { return nil }
        var v = UInt64(b[p] & 0x3F)
        for k in 1..<length { v = v << 8 | UInt64(b[p + k]) }
        return (v, p + length)
    }

    /// HMAC-SHA256 (RFC 2104) over OpenSSL's SHA-256, fetched once: `HMAC()` fetches the MAC
    /// and the digest by name on every call, which cost more than the hashing itself.
    static func hmacSHA256(key: [UInt8], data: [UInt8]) -> [UInt8] {
        HMACKey(key).mac(data)
    }

    /// The HKDF-Expand-Label inputs of one version's packet protection keys.
    struct Labels: Sendable {
        let key: [UInt8], iv: [UInt8], hp: [UInt8]
    }

    /// What the key derivation of every connection shares, made once: the salts as HMAC keys
    /// (their padded blocks hashed) and the expansion inputs of the labels.
    enum Derivation {
        static let saltV1 = HMACKey(QUICInitial.saltV1)
        static let saltV2 = HMACKey(QUICInitial.saltV2)
        static let saltDraft29 = HMACKey(QUICInitial.saltDraft29)
        static let clientIn = expandInfo("client in", 32)
        static let labelsV1 = Labels(key: expandInfo("quic key", 16), iv: expandInfo("quic iv", 12), hp: expandInfo("quic hp", 16))
        static let labelsV2 = Labels(key: expandInfo("quicv2 key", 16), iv: expandInfo("quicv2 iv", 12),
                                     hp: expandInfo("quicv2 hp", 16))
    }

    /// An HMAC-SHA256 key with its two padded blocks already hashed (RFC 2104): each MAC under it
    /// starts from copies of those digest states (plain `SHA256_CTX` values) instead of hashing
    /// the pads again, two SHA-256 blocks fewer per MAC after the first.
    struct HMACKey: @unchecked Sendable {  // two SHA256_CTX values: plain data, no pointers
        private let inner: SHA256_CTX
        private let outer: SHA256_CTX

        init(_ key: [UInt8]) {
            var k = key.count > 64 ? QUICInitial.sha256(key) : key
            k += repeatElement(0, count: 64 - k.count)
            let innerPad = k.map { $0 ^ 0x36 }, outerPad = k.map { $0 ^ 0x5C }
            var i = SHA256_CTX(), o = SHA256_CTX()
            vigil_SHA256_Init(&i)
            vigil_SHA256_Init(&o)
            innerPad.withUnsafeBytes { _ = vigil_SHA256_Update(&i, $0.baseAddress, $0.count) }
            outerPad.withUnsafeBytes { _ = vigil_SHA256_Update(&o, $0.baseAddress, $0.count) }
            inner = i
            outer = o
        }

        /// HMAC-SHA256 of `data` under this key (32 bytes).
        func mac(_ data: [UInt8]) -> [UInt8] {
            var c = inner
            var innerHash = [UInt8](repeating: 0, count: 32)
            data.withUnsafeBytes { _ = vigil_SHA256_Update(&c, $0.baseAddress, $0.count) }
            vigil_SHA256_Final(&innerHash, &c)
            c = outer
            var out = [UInt8](repeating: 0, count: 32)
            vigil_SHA256_Update(&c, innerHash, 32)
            vigil_SHA256_Final(&out, &c)
            return out
        }
    }

    static func sha256(_ bytes: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var size: UInt32 = 0
        bytes.withUnsafeBytes { b in
            out.withUnsafeMutableBufferPointer { o in
                _ = EVP_Digest(b.baseAddress, b.count, o.baseAddress, &size, TLSFingerprint.Digest.sha256.md, nil)
            }
        }
        return out
    }

    /// HKDF-Expand-Label (RFC 8446 §7.1) with an empty context, for outputs up to 32 bytes.
    static func expandLabel(_ secret: [UInt8], _ label: String, _ length: Int) -> [UInt8] {
        Array(HMACKey(secret).mac(expandInfo(label, length)).prefix(length))
    }

    /// The HMAC input of HKDF-Expand-Label's single block: the HkdfLabel structure with an empty
    /// context, then the block counter 1.
    static func expandInfo(_ label: String, _ length: Int) -> [UInt8] {
        let full = Array("tls13 \(label)".utf8)
        var info: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xFF), UInt8(full.count)] + full + [0]
        info.append(1)  // HKDF-Expand's first (and only) block counter
        return info
    }

    static func aesECB(key: [UInt8], block: [UInt8]) -> [UInt8]? {
        guard let ctx = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: 32)
        var n: Int32 = 0
        let ok = key.withUnsafeBufferPointer { k in
            EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), nil, k.baseAddress, nil) == 1
                && EVP_CIPHER_CTX_set_padding(ctx, 0) == 1
                && out.withUnsafeMutableBufferPointer { o in
                    block.withUnsafeBufferPointer { i in EVP_EncryptUpdate(ctx, o.baseAddress, &n, i.baseAddress, Int32(i.count)) == 1 }
                }
        }
        return ok && n >= 16 ? Array(out.prefix(16)) : nil
    }

    static func aesGCMOpen(key: [UInt8], nonce: [UInt8], aad: [UInt8], ciphertext: [UInt8], tag: [UInt8]) -> [UInt8]? {
        guard let ctx = EVP_CIPHER_CTX_new() else { return nil }
        defer { EVP_CIPHER_CTX_free(ctx) }
        var out = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var n: Int32 = 0, final: Int32 = 0
        var tag = tag
        guard EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), nil, nil, nil) == 1,
              EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1,
              key.withUnsafeBufferPointer({ k in nonce.withUnsafeBufferPointer { v in EVP_DecryptInit_ex(ctx, nil, nil, k.baseAddress, v.baseAddress) } }) == 1,
              aad.withUnsafeBufferPointer({ a in EVP_DecryptUpdate(ctx, nil, &n, a.baseAddress, Int32(a.count)) }) == 1,
              out.withUnsafeMutableBufferPointer({ o in ciphertext.withUnsafeBufferPointer { c in EVP_DecryptUpdate(ctx, o.baseAddress, &n, c.baseAddress, Int32(c.count)) } }) == 1,
              tag.withUnsafeMutableBytes({ t in EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, t.baseAddress) }) == 1
        else { return nil }
        let plain = Int(n)
        let ok = out.withUnsafeMutableBufferPointer { o in EVP_DecryptFinal_ex(ctx, o.baseAddress! + plain, &final) }
        return ok == 1 ? Array(out.prefix(plain)) : nil
    }
}
