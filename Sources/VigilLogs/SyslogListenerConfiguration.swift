/// The transport a syslog endpoint listens on.
public enum SyslogTransport: String, Sendable, CaseIterable {
    /// RFC 5426: one message per datagram. UDP has no backpressure: datagrams that arrive while
    /// the sink is full are dropped and counted.
    case udp
    /// RFC 6587: a byte stream of frames (newline-terminated or octet-counted).
    case tcp
    /// RFC 5425: TCP framing inside TLS (1.2 or later).
    case tls
}

/// How a byte stream (TCP or TLS) is cut into messages.
public enum SyslogFraming: String, Sendable, CaseIterable {
    /// Decided per frame: a frame that starts with digits followed by a space is octet-counted,
    /// anything else is newline-terminated (what rsyslog and syslog-ng accept).
    case auto
    /// Non-transparent framing: each message ends at LF (a CR before it is removed).
    case newline
    /// RFC 6587 octet counting (the only framing RFC 5425 allows): `MSG-LEN SP MSG`.
    case octetCounted = "octet_counted"
}

/// Whether a TLS endpoint with a `ca` asks clients for a certificate.
public enum SyslogClientAuthentication: String, Sendable, CaseIterable {
    /// Clients must present a certificate that verifies against `ca`; others fail the handshake.
    case required
    /// A client certificate is verified when presented; clients without one are accepted.
    case optional
}

/// The server side of TLS: PEM files read when the listener starts.
public struct SyslogTLSConfiguration: Sendable, Equatable {
    /// The server certificate (PEM; intermediates may follow it in the same file).
    public var certificate: String
    /// The private key of `certificate` (PEM, unencrypted).
    public var key: String
    /// CA certificates (PEM) that client certificates must chain to; nil: no client authentication.
    public var ca: String?
    /// With `ca` set: whether a client certificate is required (the default) or optional.
    public var clientAuthentication: SyslogClientAuthentication
    /// Seconds a client has to complete the handshake before the connection is closed (and
    /// counted as a handshake failure). Default 10.
    public var handshakeTimeoutSeconds: Double

    public init(certificate: String, key: String, ca: String? = nil,
                clientAuthentication: SyslogClientAuthentication = .required, handshakeTimeoutSeconds: Double = 10) {
        self.certificate = certificate
        self.key = key
        self.ca = ca
        self.clientAuthentication = clientAuthentication
        self.handshakeTimeoutSeconds = handshakeTimeoutSeconds
    }
}

/// One syslog endpoint: a transport on an address.
///
/// | key | default | meaning |
/// |---|---|---|
/// | `protocol` | — | `udp`, `tcp` or `tls` |
/// | `host` | `0.0.0.0` | address to bind (`::` for every IPv6 address) |
/// | `port` | — | port to bind; `0` picks a free port (see `SyslogListener.boundPorts`) |
/// | `framing` | `auto` | `auto`, `newline` or `octet_counted` (TCP and TLS only) |
/// | `max_message_bytes` | 65536 | longer messages go to the error path, counted as rejected |
/// | `max_connections` | 1024 | further TCP/TLS connections are closed at once and counted |
/// | `tls` | — | `{ certificate, key, ca?, client_authentication? }`, required for `tls` only |
public struct SyslogListenerConfiguration: Sendable, Equatable {
    public static let defaultMaxMessageBytes = 64 * 1024
    public static let defaultMaxConnections = 1024

    public var transport: SyslogTransport
    public var host: String
    public var port: Int
    public var framing: SyslogFraming
    /// The longest message accepted, in bytes (without its framing). At most 1 GiB.
    public var maxMessageBytes: Int
    /// Open stream connections allowed at once on this endpoint.
    public var maxConnections: Int
    public var tls: SyslogTLSConfiguration?

    public init(transport: SyslogTransport, host: String = "0.0.0.0", port: Int, framing: SyslogFraming = .auto,
                maxMessageBytes: Int = Self.defaultMaxMessageBytes, maxConnections: Int = Self.defaultMaxConnections,
                tls: SyslogTLSConfiguration? = nil) {
        self.transport = transport
        self.host = host
        self.port = port
        self.framing = framing
        self.maxMessageBytes = maxMessageBytes
        self.maxConnections = maxConnections
        self.tls = tls
    }

    /// `udp://host:port`, `tcp://…`, `tls://…` (for logs and errors).
    public var endpointDescription: String {
        let h = host.contains(":") ? "[\(host)]" : host
        return "\(transport.rawValue)://\(h):\(port)"
    }

    /// Checks values that the listener cannot work with.
    public func validate() throws(SyslogListenerError) {
        guard (0...65535).contains(port) else {
            throw SyslogListenerError(.invalidConfiguration, "\(endpointDescription): port must be between 0 and 65535")
        }
        guard (1...(1 << 30)).contains(maxMessageBytes) else {
            throw SyslogListenerError(.invalidConfiguration, "\(endpointDescription): max_message_bytes must be between 1 and 1073741824")
        }
        guard maxConnections >= 1 else {
            throw SyslogListenerError(.invalidConfiguration, "\(endpointDescription): max_connections must be at least 1")
        }
        switch transport {
        case .tls:
            guard let tls else {
                throw SyslogListenerError(.invalidConfiguration, "\(endpointDescription): protocol tls needs tls: { certificate: PATH, key: PATH }")
            }
            guard tls.handshakeTimeoutSeconds > 0 else {
                throw SyslogListenerError(.invalidConfiguration, "\(endpointDescription): the TLS handshake timeout must be positive")
            }
        case .udp, .tcp:
            guard tls == nil else {
                throw SyslogListenerError(.invalidConfiguration, "\(endpointDescription): tls: is only valid with protocol tls")
            }
        }
    }
}
