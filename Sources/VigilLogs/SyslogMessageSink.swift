import NIOCore
import VigilCore

/// Who sent a message: the peer of a TCP/TLS connection or of a UDP datagram.
public struct SyslogPeer: Sendable, Hashable {
    /// The sender's address; nil when the socket had none (never for IP sockets).
    public var ip: IPAddress?
    /// The sender's port (0 when unknown).
    public var port: Int
    public var transport: SyslogTransport
    /// `ip:port`, or `[ip]:port` for IPv6; what `ParsingSink` stores in `log.source.address`.
    public var address: String

    public init(ip: IPAddress?, port: Int, transport: SyslogTransport) {
        self.ip = ip
        self.port = port
        self.transport = transport
        if let ip {
            address = ip.isV4 ? "\(ip):\(port)" : "[\(ip)]:\(port)"
        } else {
            address = "unknown"
        }
    }

    /// The peer of a NIO socket address (IPv4-mapped IPv6 senders on a dual-stack socket are
    /// reported as IPv4).
    public init(_ socketAddress: SocketAddress?, transport: SyslogTransport) {
        switch socketAddress {
        case .v4(let a)?:
            let ip = IPAddress(v4: UInt32(bigEndian: a.address.sin_addr.s_addr))
            self.init(ip: ip, port: Int(UInt16(bigEndian: a.address.sin_port)), transport: transport)
        case .v6(let a)?:
            var raw = a.address.sin6_addr
            let ip = withUnsafeBytes(of: &raw) { IPAddress(bytes: $0) }
            self.init(ip: ip?.unmappingIPv4, port: Int(UInt16(bigEndian: a.address.sin6_port)), transport: transport)
        default:
            self.init(ip: nil, port: 0, transport: transport)
        }
    }
}

/// What a sink did with a message.
public enum SyslogSinkVerdict: Sendable, Equatable {
    /// Taken; keep sending.
    case accepted
    /// Taken, but the sink is now full: a TCP/TLS connection stops reading until the sink calls
    /// the callback given to `whenReady(_:)`. (A few more messages already read from the socket
    /// may still arrive; the sink must take them.)
    case full
    /// Not taken because the sink is full. Only for UDP datagrams, which cannot be pushed back:
    /// the listener counts them as dropped.
    case dropped
}

/// Where the listener hands every message. Called on NIO event-loop threads, concurrently from
/// several connections: implementations must be thread-safe and must not block.
public protocol SyslogMessageSink: AnyObject, Sendable {
    /// One message, its framing removed. `message` is valid only during the call.
    func receive(_ message: UnsafeRawBufferPointer, from peer: SyslogPeer) -> SyslogSinkVerdict

    /// Input the listener rejected before parsing (too long, or a stream that cannot be framed),
    /// with a short reason. `original` holds at most `max_message_bytes` of it, valid only
    /// during the call. Already counted as rejected.
    func reject(_ original: UnsafeRawBufferPointer, reason: String, from peer: SyslogPeer)

    /// Calls `resume` once the sink accepts messages again after returning `.full` (at once if it
    /// already does). Called on an event loop; `resume` may be called on any thread.
    func whenReady(_ resume: @escaping @Sendable () -> Void)
}

/// A sink made of closures that never pushes back: for tools, tests and callers that queue
/// messages themselves.
public final class SyslogClosureSink: SyslogMessageSink {
    public typealias Receive = @Sendable (UnsafeRawBufferPointer, SyslogPeer) -> Void
    public typealias Reject = @Sendable (UnsafeRawBufferPointer, String, SyslogPeer) -> Void
    private let onReceive: Receive
    private let onReject: Reject

    public init(receive: @escaping Receive, reject: @escaping Reject = { _, _, _ in }) {
        onReceive = receive
        onReject = reject
    }

    public func receive(_ message: UnsafeRawBufferPointer, from peer: SyslogPeer) -> SyslogSinkVerdict {
        onReceive(message, peer)
        return .accepted
    }

    public func reject(_ original: UnsafeRawBufferPointer, reason: String, from peer: SyslogPeer) {
        onReject(original, reason, peer)
    }

    public func whenReady(_ resume: @escaping @Sendable () -> Void) { resume() }
}
