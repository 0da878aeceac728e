import NIOCore
import Synchronization

/// Hands the frames of one TCP/TLS connection to the sink, and stops reading from the socket
/// while the sink is full (it holds the `read()` that NIO issues after each read when the sink
/// says `.full`, and lets it through when the sink calls back).
final class SyslogStreamHandler<Sink: SyslogMessageSink>: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let sink: Sink
    private let peer: SyslogPeer
    private let metrics: SyslogListenerMetrics
    private let maxMessageBytes: Int
    private let log: @Sendable (String) -> Void
    private var paused = false
    private var readPending = false

    init(sink: Sink, peer: SyslogPeer, metrics: SyslogListenerMetrics, maxMessageBytes: Int, log: @escaping @Sendable (String) -> Void) {
        self.sink = sink
        self.peer = peer
        self.metrics = metrics
        self.maxMessageBytes = maxMessageBytes
        self.log = log
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let message = unwrapInboundIn(data)
        metrics._received.bump()
        metrics._bytes.bump(message.readableBytes)
        let verdict = message.withUnsafeReadableBytes { sink.receive($0, from: peer) }
        switch verdict {
        case .accepted: break
        case .full: pause(context: context)
        case .dropped: metrics._dropped.bump()
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case SyslogFramingEvent.oversize(let prefix, let length):
            metrics._received.bump()
            metrics._rejected.bump()
            let size = length.map { "\($0) bytes" } ?? "more than \(maxMessageBytes) bytes"
            let reason = "message of \(size) exceeds max_message_bytes (\(maxMessageBytes))"
            metrics._bytes.bump(length ?? prefix.readableBytes)
            prefix.withUnsafeReadableBytes { sink.reject($0, reason: reason, from: peer) }
        case SyslogFramingEvent.invalid(let reason, let evidence):
            metrics._framingErrors.bump()
            metrics._rejected.bump()
            evidence.withUnsafeReadableBytes { sink.reject($0, reason: reason, from: peer) }
            log("syslog \(peer.transport.rawValue) connection from \(peer.address) closed: \(reason)")
            context.close(promise: nil)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func read(context: ChannelHandlerContext) {
        if paused {
            readPending = true
        } else {
            context.read()
        }
    }

    private func pause(context: ChannelHandlerContext) {
        guard !paused else { return }
        paused = true
        metrics._readPauses.bump()
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        sink.whenReady {
            bound.eventLoop.execute {
                let (handler, context) = bound.value
                handler.resume(context: context)
            }
        }
    }

    private func resume(context: ChannelHandlerContext) {
        guard paused else { return }
        paused = false
        if readPending {
            readPending = false
            context.read()
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // Resets and the like: nothing to report beyond closing.
        context.close(promise: nil)
    }
}

/// Counts one endpoint's open connections; closes those over `max_connections`.
///
/// Installed first in every accepted channel's pipeline: `handlerAdded` runs when the channel is
/// set up and `handlerRemoved` when it is torn down, exactly once each.
final class SyslogConnectionCounter: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    /// The endpoint's open connection count, shared by its channels.
    final class Gauge: Sendable {
        let open = Atomic<Int>(0)
        let limit: Int
        init(limit: Int) { self.limit = limit }
    }

    private let gauge: Gauge
    private let metrics: SyslogListenerMetrics
    private var counted = false

    init(gauge: Gauge, metrics: SyslogListenerMetrics) {
        self.gauge = gauge
        self.metrics = metrics
    }

    /// Takes a place for a new connection; false when the endpoint is full (counted as refused).
    static func admit(_ gauge: Gauge, metrics: SyslogListenerMetrics) -> Bool {
        let now = gauge.open.wrappingAdd(1, ordering: .relaxed).newValue
        if now > gauge.limit {
            gauge.open.wrappingSubtract(1, ordering: .relaxed)
            metrics._connectionsRefused.bump()
            return false
        }
        metrics._connectionsOpened.bump()
        metrics._connectionsActive.bump()
        return true
    }

    /// Called once `admit` succeeded and the handler is in the pipeline: it now owns the place.
    func handlerAdded(context: ChannelHandlerContext) { counted = true }

    func handlerRemoved(context: ChannelHandlerContext) {
        guard counted else { return }
        counted = false
        gauge.open.wrappingSubtract(1, ordering: .relaxed)
        metrics._connectionsActive.bump(-1)
    }
}

/// Hands each UDP datagram to the sink as one message (a trailing LF, CR or NUL removed).
/// UDP cannot be pushed back: datagrams the sink refuses are dropped and counted.
final class SyslogDatagramHandler<Sink: SyslogMessageSink>: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>

    private let sink: Sink
    private let metrics: SyslogListenerMetrics
    private let maxMessageBytes: Int
    /// The last sender, to build its `SyslogPeer` once per run of datagrams from it.
    private var lastAddress: SocketAddress?
    private var lastPeer = SyslogPeer(ip: nil, port: 0, transport: .udp)

    init(sink: Sink, metrics: SyslogListenerMetrics, maxMessageBytes: Int) {
        self.sink = sink
        self.metrics = metrics
        self.maxMessageBytes = maxMessageBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let envelope = unwrapInboundIn(data)
        if envelope.remoteAddress != lastAddress {
            lastAddress = envelope.remoteAddress
            lastPeer = SyslogPeer(envelope.remoteAddress, transport: .udp)
        }
        envelope.data.withUnsafeReadableBytes { raw in
            var end = raw.count
            while end > 0, raw[end - 1] == 0x0A || raw[end - 1] == 0x0D || raw[end - 1] == 0 { end -= 1 }
            guard end > 0 else { return }
            metrics._received.bump()
            metrics._bytes.bump(end)
            if end > maxMessageBytes {
                metrics._rejected.bump()
                // The receive buffer holds maxMessageBytes + 1 bytes, so longer datagrams arrive truncated.
                let reason = "datagram of more than \(maxMessageBytes) bytes exceeds max_message_bytes"
                sink.reject(UnsafeRawBufferPointer(rebasing: raw[0..<maxMessageBytes]), reason: reason, from: lastPeer)
                return
            }
            if sink.receive(UnsafeRawBufferPointer(rebasing: raw[0..<end]), from: lastPeer) == .dropped {
                metrics._dropped.bump()
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        // ICMP errors surface here on some systems; a listening UDP socket carries on.
    }
}
