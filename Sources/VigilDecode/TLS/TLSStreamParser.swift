/// Which side of a TCP connection a byte stream comes from.
public enum TLSDirection: Sendable, Hashable {
    /// The originator's bytes: the parser looks for a ClientHello.
    case client
    /// The responder's bytes: the parser looks for a ServerHello.
    case server
}

/// What one ``TLSStreamParser/feed(_:)`` call found.
public enum TLSParseProgress: Sendable, Hashable {
    /// No hello yet; feed the next bytes of the stream.
    case needMoreData
    /// The client direction's ClientHello. Reported once; the parser is then finished.
    case clientHello(TLSClientHello)
    /// The server direction's ServerHello (or HelloRetryRequest). Reported once.
    case serverHello(TLSServerHello)
    /// The stream is not a TLS handshake this parser reads. Reported once.
    case stopped(TLSStopReason)
    /// A hello or a stop was already reported; the bytes were ignored.
    case finished
}

/// Reads one direction of a TLS connection (the in-order TCP payload) up to its first hello.
///
/// A pure state machine: records (content type 22) may be split across ``feed(_:)`` calls at any
/// byte, and the hello may span several records. The parser reports the ClientHello (client
/// direction) or ServerHello (server direction) once, then ignores everything after it. When the
/// hello sits whole inside one fed buffer it is parsed in place without copying; otherwise its
/// bytes are gathered in a buffer bounded by ``maximumHelloLength`` plus its 4-byte header.
///
/// Nothing traps on any input: hostile lengths stop the parser with a ``TLSStopReason``.
public struct TLSStreamParser: Sendable {
    /// The longest hello body gathered across records or feeds (bytes); longer ones stop the
    /// parser with ``TLSStopReason/helloTooLong``. Real ClientHellos, post-quantum key shares and
    /// Encrypted ClientHello included, stay well below it.
    public static let maximumHelloLength = 32 * 1024
    /// The longest record TLS allows (2^14 + 2048, RFC 5246 §6.2.3).
    public static let maximumRecordLength = 16_384 + 2_048

    /// The direction this parser reads.
    public let direction: TLSDirection
    /// How JA4 names the transport (`t` for TLS over TCP).
    public let transport: TLSTransport

    private var finished = false
    /// Whether any record header has been completed (the first one decides TLS or not).
    private var sawRecord = false
    /// Bytes of the record header read so far (big-endian, low `headerCount` bytes).
    private var header: UInt64 = 0
    private var headerCount = 0
    /// Body bytes left in the current handshake record (0: a header comes next).
    private var recordRemaining = 0
    /// The hello's bytes gathered across records or feeds (header included).
    private var message: [UInt8] = []

    /// A parser for one direction of a connection.
    public init(direction: TLSDirection, transport: TLSTransport = .tcp) {
        self.direction = direction
        self.transport = transport
    }

    /// Whether the parser has reported its hello or a stop and ignores further bytes.
    public var isFinished: Bool { finished }

    /// Reads the next bytes of the stream, in order.
    ///
    /// - Returns: ``TLSParseProgress/needMoreData`` until the hello is complete, then the hello
    ///   or a stop reason once, then ``TLSParseProgress/finished``.
    /// - Complexity: O(*n*) in `bytes.count`; copies only bytes of a hello split across calls
    ///   or records.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer) -> TLSParseProgress {
        if finished { return .finished }
        var i = 0
        let count = bytes.count
        while i < count {
            if recordRemaining == 0 {
                header = header << 8 | UInt64(bytes[i])
                headerCount += 1
                i += 1
                if headerCount == 5, let stop = beginRecord() {
                    return finish(.stopped(stop))
                }
                continue
            }
            let n = min(recordRemaining, count - i)
            recordRemaining -= n
            let chunk = UnsafeRawBufferPointer(rebasing: bytes[i..<(i + n)])
            i += n
            if let done = consumeHandshake(chunk) { return finish(done) }
        }
        return .needMoreData
    }

    private mutating func finish(_ progress: TLSParseProgress) -> TLSParseProgress {
        finished = true
        message = []
        return progress
    }

    /// Checks a complete 5-byte record header; nil to go on.
    private mutating func beginRecord() -> TLSStopReason? {
        let b0 = UInt8(truncatingIfNeeded: header >> 32)
        let b1 = UInt8(truncatingIfNeeded: header >> 24)
        let b2 = UInt8(truncatingIfNeeded: header >> 16)
        let b3 = UInt8(truncatingIfNeeded: header >> 8)
        let b4 = UInt8(truncatingIfNeeded: header)
        headerCount = 0
        header = 0
        let first = !sawRecord
        sawRecord = true
        // SSLv2 record header (high bit set, 2-byte length) carrying CLIENT-HELLO (1) with a
        // version of SSL 2.0 (0x0002) or SSL 3.0 and later (0x03xx).
        if first, b0 & 0x80 != 0, b2 == 1, b3 == 3 || (b3 == 0 && b4 == 2) {
            return .sslv2ClientHello
        }
        let length = Int(b3) << 8 | Int(b4)
        guard (20...24).contains(b0), b1 == 3, b2 <= 4 else { return .notTLS }
        guard length <= Self.maximumRecordLength else { return first ? .notTLS : .recordTooLong }
        switch b0 {
        case 22: recordRemaining = length
        case 21: return .alertBeforeHello
        default: return .unexpectedContentType
        }
        return nil
    }

    /// Takes handshake-record bytes; returns the result once the hello is complete or refused.
    private mutating func consumeHandshake(_ bytes: UnsafeRawBufferPointer) -> TLSParseProgress? {
        var rest = bytes
        while !rest.isEmpty {
            if message.isEmpty, rest.count >= 4 {
                // Fast path: the message header is here; parse in place when the body is too.
                switch checkHeader(rest[rest.startIndex], UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + 1)...])) {
                case .stop(let reason): return .stopped(reason)
                case .skip:
                    rest = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + 4)...])
                    continue
                case .hello(let length):
                    if rest.count - 4 >= length {
                        let body = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + 4)..<(rest.startIndex + 4 + length)])
                        return parseHello(body)
                    }
                }
            }
            if message.isEmpty {
                // The first byte is the message type: refuse the wrong one before buffering.
                let type = rest[rest.startIndex]
                if type != expectedType && type != 0 { return .stopped(.unexpectedHandshakeType) }
                message.reserveCapacity(64)
            }
            let needed: Int
            if message.count < 4 {
                needed = 4 - message.count
            } else {
                needed = 4 + Self.length24(message[1], message[2], message[3]) - message.count
            }
            let take = min(needed, rest.count)
            message.append(contentsOf: UnsafeRawBufferPointer(rebasing: rest[rest.startIndex..<(rest.startIndex + take)]))
            rest = UnsafeRawBufferPointer(rebasing: rest[(rest.startIndex + take)...])
            guard message.count >= 4 else { continue }
            if message.count == 4 {
                let step = message.withUnsafeBytes { m in
                    checkHeader(m[0], UnsafeRawBufferPointer(rebasing: m[1...]))
                }
                switch step {
                case .stop(let reason): return .stopped(reason)
                case .skip:
                    message.removeAll(keepingCapacity: true)
                    continue
                case .hello(let length):
                    if length > 0 { message.reserveCapacity(4 + length); continue }
                }
            }
            if message.count == 4 + Self.length24(message[1], message[2], message[3]) {
                return message.withUnsafeBytes { m in parseHello(UnsafeRawBufferPointer(rebasing: m[4...])) }
            }
        }
        return nil
    }

    private enum HeaderStep { case hello(Int), skip, stop(TLSStopReason) }

    private var expectedType: UInt8 { direction == .client ? 1 : 2 }

    /// Judges a handshake message header: `type` and the 3 length bytes that follow.
    private func checkHeader(_ type: UInt8, _ lengthBytes: UnsafeRawBufferPointer) -> HeaderStep {
        let length = Self.length24(lengthBytes[lengthBytes.startIndex], lengthBytes[lengthBytes.startIndex + 1],
                                   lengthBytes[lengthBytes.startIndex + 2])
        // HelloRequest (type 0, empty) may precede a renegotiation's hello; it carries nothing.
        if type == 0 && length == 0 { return .skip }
        guard type == expectedType else { return .stop(.unexpectedHandshakeType) }
        guard length <= Self.maximumHelloLength else { return .stop(.helloTooLong) }
        return .hello(length)
    }

    private static func length24(_ a: UInt8, _ b: UInt8, _ c: UInt8) -> Int {
        Int(a) << 16 | Int(b) << 8 | Int(c)
    }

    private func parseHello(_ body: UnsafeRawBufferPointer) -> TLSParseProgress {
        switch direction {
        case .client:
            do { return .clientHello(try TLSClientHello(handshakeBody: body, transport: transport)) } catch {
                return .stopped(error)
            }
        case .server:
            do { return .serverHello(try TLSServerHello(handshakeBody: body)) } catch {
                return .stopped(error)
            }
        }
    }
}
