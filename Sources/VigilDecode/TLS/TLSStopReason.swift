/// Why a ``TLSStreamParser`` stopped without producing a hello: the TLS area's one error type.
///
/// Every case is a small, payload-free reason a sensor counts (``rawValue`` is a stable metric
/// label). None of them means the sensor misbehaved: they describe the bytes it was given.
public enum TLSStopReason: String, Error, CaseIterable, Sendable, Hashable, CustomStringConvertible {
    /// The first bytes are not a TLS record header (unknown content type, version or length).
    case notTLS = "not_tls"
    /// An SSLv2-compatible ClientHello (a 2-byte SSLv2 record header); not fingerprinted.
    case sslv2ClientHello = "sslv2_client_hello"
    /// A record header announced more than 2^14 + 2048 bytes, the most TLS allows.
    case recordTooLong = "record_too_long"
    /// An alert record came before the hello (for example a server refusing the handshake).
    case alertBeforeHello = "alert_before_hello"
    /// A change_cipher_spec, application_data or heartbeat record came before the hello.
    case unexpectedContentType = "unexpected_content_type"
    /// The first handshake message is not the hello this direction sends.
    case unexpectedHandshakeType = "unexpected_handshake_type"
    /// The hello announced more bytes than ``TLSStreamParser/maximumHelloLength``.
    case helloTooLong = "hello_too_long"
    /// The hello's fields do not fit inside the message (lengths past its end, odd lists).
    case malformedHello = "malformed_hello"

    public var description: String {
        switch self {
        case .notTLS: "not a TLS record"
        case .sslv2ClientHello: "SSLv2-compatible ClientHello (ignored)"
        case .recordTooLong: "TLS record longer than 18432 bytes"
        case .alertBeforeHello: "alert before the hello"
        case .unexpectedContentType: "non-handshake record before the hello"
        case .unexpectedHandshakeType: "first handshake message is not the expected hello"
        case .helloTooLong: "hello longer than the buffering bound"
        case .malformedHello: "malformed hello"
        }
    }
}
