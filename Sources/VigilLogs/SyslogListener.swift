import NIOCore
import NIOPosix
import Synchronization

/// Receives syslog over UDP (RFC 5426), TCP (RFC 6587, newline or octet-counted framing) and TLS
/// (RFC 5425, OpenSSL, TLS 1.2 or later) on one or more endpoints, and hands each message to a
/// `SyslogMessageSink` on the NIO event loops.
///
/// ```swift
/// let listener = SyslogListener(configurations: [.init(transport: .udp, port: 514),
///                                                .init(transport: .tcp, port: 601)],
///                               sink: sink, metrics: metrics, log: { print($0) })
/// try listener.start()
/// print(listener.boundPorts)   // [514, 601]; with port 0 the ports the system chose
/// …
/// listener.stop()
/// ```
///
/// - Backpressure: when the sink answers `.full`, a TCP/TLS connection stops reading until the
///   sink calls back; unread bytes stay in the kernel and TCP flow control slows the sender.
///   UDP has no backpressure: the sink drops datagrams it cannot queue and they are counted.
/// - Limits: messages longer than `maxMessageBytes` go to `sink.reject` (counted); connections
///   over `maxConnections` are closed at once (counted); a stream whose framing breaks (a bad
///   octet count) is closed (counted as a framing error).
/// - Threads: `start()` and `stop()` block and must not be called on an event loop. Call
///   `stop()` before dropping a started listener: its event loops run until then.
public final class SyslogListener<Sink: SyslogMessageSink>: Sendable {
    public let configurations: [SyslogListenerConfiguration]
    public let sink: Sink
    public let metrics: SyslogListenerMetrics
    private let providedGroup: (any EventLoopGroup)?
    private let log: @Sendable (String) -> Void
    private let state = Mutex(State())

    private enum Phase { case idle, running, stopped }

    private struct State {
        var phase = Phase.idle
        /// The loops `start()` created (when none were provided), shut down by `stop()`.
        var ownedGroup: MultiThreadedEventLoopGroup?
        var servers: [any Channel] = []
        var ports: [Int] = []
        var connections: [ObjectIdentifier: any Channel] = [:]
    }

    /// - Parameters:
    ///   - eventLoopGroup: the loops to run on (left running by `stop()`); nil: `start()` creates
    ///     one thread per core and `stop()` shuts them down.
    ///   - log: receives one line per notable connection event (handshake failures, closed
    ///     connections with their reason); called on event loops.
    public init(configurations: [SyslogListenerConfiguration], sink: Sink, metrics: SyslogListenerMetrics = SyslogListenerMetrics(),
                eventLoopGroup: (any EventLoopGroup)? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.configurations = configurations
        self.sink = sink
        self.metrics = metrics
        self.log = log
        providedGroup = eventLoopGroup
    }

    /// Binds every endpoint, in order. On failure nothing stays bound and the error says which
    /// endpoint failed and why.
    public func start() throws(SyslogListenerError) {
        for configuration in configurations { try configuration.validate() }
        let group: any EventLoopGroup = try state.withLock { (s: inout State) throws(SyslogListenerError) in
            guard s.phase == .idle else { throw SyslogListenerError(.invalidState, "the syslog listener was already started") }
            s.phase = .running
            if let providedGroup { return providedGroup }
            let owned = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)
            s.ownedGroup = owned
            return owned
        }
        var servers: [any Channel] = []
        do throws(SyslogListenerError) {
            for configuration in configurations { servers.append(try bind(configuration, on: group)) }
        } catch {
            for channel in servers { try? channel.close().wait() }
            stop()
            throw error
        }
        let ports = servers.map { $0.localAddress?.port ?? 0 }
        let kept = state.withLock { s -> Bool in
            guard s.phase == .running else { return false }  // stop() ran meanwhile
            s.servers = servers
            s.ports = ports
            return true
        }
        if !kept { for channel in servers { try? channel.close().wait() } }
    }

    /// The port each endpoint is bound to, in configuration order (the chosen port for port 0);
    /// empty before `start()`.
    public var boundPorts: [Int] { state.withLock { $0.ports } }

    /// Datagrams the kernel dropped because a UDP endpoint's socket receive buffer was full
    /// (the `drops` column of `/proc/self/net/udp` and `udp6` for the bound UDP ports): input lost
    /// before Vigil could read it, when the event loop falls behind. 0 where `/proc` has no such
    /// table.
    public var udpSocketDrops: Int {
        let ports = Set(zip(configurations, boundPorts).filter { $0.0.transport == .udp }.map { $0.1 })
        guard !ports.isEmpty else { return 0 }
        var total = 0
        for table in ["/proc/self/net/udp", "/proc/self/net/udp6"] {
            guard let text = try? String(contentsOfFile: table, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ref pointer drops
                let fields = line.split(separator: " ", omittingEmptySubsequences: true)
                guard fields.count >= 13, let colon = fields[1].lastIndex(of: ":"),
                      let port = Int(fields[1][fields[1].index(after: colon)...], radix: 16), ports.contains(port),
                      let drops = Int(fields[12]) else { continue }
                total += drops
            }
        }
        return total
    }

    /// Stops accepting, closes every open connection (a last unterminated line is still
    /// delivered) and, when the listener created its event loops, shuts them down. Idempotent.
    /// The sink is left to its owner (close it after this).
    public func stop() {
        let (servers, connections, group) = state.withLock { s -> ([any Channel], [any Channel], MultiThreadedEventLoopGroup?) in
            s.phase = .stopped
            defer { s.servers.removeAll(); s.connections.removeAll(); s.ownedGroup = nil }
            return (s.servers, Array(s.connections.values), s.ownedGroup)
        }
        for channel in servers { try? channel.close().wait() }
        for channel in connections { try? channel.close().wait() }
        try? group?.syncShutdownGracefully()
    }

    // MARK: - Binding

    private func bind(_ configuration: SyslogListenerConfiguration, on group: any EventLoopGroup) throws(SyslogListenerError) -> any Channel {
        let future: EventLoopFuture<any Channel>
        switch configuration.transport {
        case .udp:
            future = bindUDP(configuration, on: group)
        case .tcp, .tls:
            var tls: TLSServerContext?
            if let settings = configuration.tls { tls = try TLSServerContext(settings) }
            future = bindStream(configuration, tls: tls, on: group)
        }
        do {
            return try future.wait()
        } catch {
            throw SyslogListenerError(.bindFailed, "cannot listen on \(configuration.endpointDescription)", cause: "\(error)")
        }
    }

    private func bindUDP(_ configuration: SyslogListenerConfiguration, on group: any EventLoopGroup) -> EventLoopFuture<any Channel> {
        let sink = sink, metrics = metrics, limit = configuration.maxMessageBytes
        // One byte over the limit, so a datagram that is too long shows as such (UDP carries at most 65,507).
        let receiveBytes = min(limit, 65_535) + 1
        return DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelOption(.socketOption(.so_rcvbuf), value: 4 << 20)
            .channelOption(.recvAllocator, value: FixedSizeRecvByteBufferAllocator(capacity: receiveBytes))
            .channelOption(.maxMessagesPerRead, value: 64)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        SyslogDatagramHandler(sink: sink, metrics: metrics, maxMessageBytes: limit))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
    }

    private func bindStream(_ configuration: SyslogListenerConfiguration, tls: TLSServerContext?,
                            on group: any EventLoopGroup) -> EventLoopFuture<any Channel> {
        let sink = sink, metrics = metrics, log = log
        let gauge = SyslogConnectionCounter.Gauge(limit: configuration.maxConnections)
        let transport = configuration.transport
        let framing = configuration.framing, limit = configuration.maxMessageBytes
        let handshakeTimeout = TimeAmount.nanoseconds(Int64((configuration.tls?.handshakeTimeoutSeconds ?? 10) * 1e9))
        return ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            // One read per wake-up: a paused connection delivers at most one read buffer (64 KiB) past `.full`.
            .childChannelOption(.maxMessagesPerRead, value: 1)
            .childChannelOption(.recvAllocator, value: AdaptiveRecvByteBufferAllocator(minimum: 512, initial: 4096, maximum: 64 * 1024))
            .childChannelInitializer { [weak self] channel in
                guard SyslogConnectionCounter.admit(gauge, metrics: metrics) else {
                    log("syslog \(transport.rawValue) connection from \(SyslogPeer(channel.remoteAddress, transport: transport).address) refused: max_connections (\(gauge.limit)) reached")
                    return channel.eventLoop.makeFailedFuture(ChannelError.inappropriateOperationForState)
                }
                self?.track(channel)
                let peer = SyslogPeer(channel.remoteAddress, transport: transport)
                return channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    try pipeline.addHandler(SyslogConnectionCounter(gauge: gauge, metrics: metrics))
                    if let tls {
                        try pipeline.addHandler(OpenSSLServerHandler(session: try TLSSession(context: tls), peer: peer, metrics: metrics,
                                                                     handshakeTimeout: handshakeTimeout, log: log))
                    }
                    try pipeline.addHandler(ByteToMessageHandler(SyslogFrameDecoder(framing: framing, maxMessageBytes: limit)))
                    try pipeline.addHandler(SyslogStreamHandler(sink: sink, peer: peer, metrics: metrics, maxMessageBytes: limit, log: log))
                }
            }
            .bind(host: configuration.host, port: configuration.port)
    }

    /// Remembers an accepted connection until it closes, so `stop()` can close it.
    private func track(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let accepted = state.withLock { s -> Bool in
            guard s.phase == .running else { return false }
            s.connections[id] = channel
            return true
        }
        if !accepted {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLock { $0.connections.removeValue(forKey: id) }
        }
    }
}
