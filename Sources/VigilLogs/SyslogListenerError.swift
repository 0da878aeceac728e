/// Why a syslog listener could not start or run: a code, a message that says what to do next,
/// and the underlying cause when there is one (an errno text, an OpenSSL error string).
public struct SyslogListenerError: Error, Sendable, CustomStringConvertible {
    public enum Code: String, Sendable {
        /// A configuration value the listener cannot use.
        case invalidConfiguration
        /// The address could not be bound (in use, not local, no permission).
        case bindFailed
        /// The TLS certificate, key or CA could not be loaded.
        case tlsSetup
        /// `start()` called twice, or after `stop()`.
        case invalidState
    }

    public var code: Code
    public var message: String
    public var cause: String?

    public init(_ code: Code, _ message: String, cause: String? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    public var description: String {
        if let cause { return "\(message): \(cause)" }
        return message
    }
}
