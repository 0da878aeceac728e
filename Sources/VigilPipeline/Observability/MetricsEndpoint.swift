import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The Prometheus endpoint: a small HTTP/1.1 server answering `GET /metrics` with the text
/// exposition format (version 0.0.4) of ``MetricsExporter/shared``, and `GET /healthz` with `ok`.
///
/// One event-loop thread accepts and answers; the scrape itself (collectors read files such as
/// consumer-group offsets and checkpoints) runs on a dispatch queue, off the event loop.
public final class MetricsEndpoint: Sendable {
    /// The address the server is bound to (the actual port when 0 was asked for).
    public let boundAddress: String
    private let group: MultiThreadedEventLoopGroup
    private let channel: any Channel

    /// Binds `listen` (`host:port`, `[v6]:port`).
    ///
    /// - Throws: ``PipelineError`` naming the address when it is invalid or cannot be bound.
    public init(listen: String, exporter: MetricsExporter = .shared) throws {
        guard let colon = listen.lastIndex(of: ":"), let port = Int(listen[listen.index(after: colon)...]) else {
            throw PipelineError("metrics.listen: invalid address '\(listen)' (expected host:port)")
        }
        var host = String(listen[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let queue = DispatchQueue(label: "vigil-metrics-scrape")
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(MetricsHTTPHandler(exporter: exporter, queue: queue))
                }
            }
        do {
            channel = try bootstrap.bind(host: host, port: port).wait()
        } catch {
            try? group.syncShutdownGracefully()
            throw PipelineError("metrics.listen: cannot listen on \(listen): \(error) (set metrics.listen to a free address, or off)")
        }
        self.group = group
        let actual = channel.localAddress?.port ?? port
        boundAddress = host.contains(":") ? "[\(host)]:\(actual)" : "\(host):\(actual)"
    }

    /// Stops listening and shuts the event loop down.
    public func stop() {
        try? channel.close().wait()
        try? group.syncShutdownGracefully()
    }
}

/// Answers one request at a time per connection (keep-alive is honoured).
final class MetricsHTTPHandler: ChannelInboundHandler, @unchecked Sendable {
    // Safe: every stored property is immutable or used on the channel's event loop only.
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let exporter: MetricsExporter
    let queue: DispatchQueue
    private var head: HTTPRequestHead?

    init(exporter: MetricsExporter, queue: DispatchQueue) {
        self.exporter = exporter
        self.queue = queue
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            respond(to: head, context: context)
        }
    }

    private func respond(to head: HTTPRequestHead, context: ChannelHandlerContext) {
        let path = head.uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? head.uri
        let keepAlive = head.isKeepAlive
        let version = head.version
        guard head.method == .GET || head.method == .HEAD else {
            write(context: context, version: version, status: .methodNotAllowed, type: "text/plain", body: Array("use GET\n".utf8),
                  keepAlive: keepAlive, headOnly: false, extra: [("Allow", "GET, HEAD")])
            return
        }
        let headOnly = head.method == .HEAD
        switch path {
        case "/metrics":
            let loop = context.eventLoop
            let bound = NIOLoopBound((self, context), eventLoop: loop)
            queue.async { [exporter] in
                var body: [UInt8] = []
                body.reserveCapacity(16 << 10)
                exporter.scrape(into: &body)
                let result = body
                loop.execute {
                    let (handler, context) = bound.value
                    handler.write(context: context, version: version, status: .ok, type: "text/plain; version=0.0.4; charset=utf-8",
                                  body: result, keepAlive: keepAlive, headOnly: headOnly)
                }
            }
        case "/healthz", "/":
            write(context: context, version: version, status: .ok, type: "text/plain", body: Array("ok\n".utf8),
                  keepAlive: keepAlive, headOnly: headOnly)
        default:
            write(context: context, version: version, status: .notFound, type: "text/plain", body: Array("not found; try /metrics\n".utf8),
                  keepAlive: keepAlive, headOnly: headOnly)
        }
    }

    private func write(context: ChannelHandlerContext, version: HTTPVersion, status: HTTPResponseStatus, type: String,
                       body: [UInt8], keepAlive: Bool, headOnly: Bool, extra: [(String, String)] = []) {
        var headers = HTTPHeaders([("Content-Type", type), ("Content-Length", "\(body.count)")] + extra)
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        if !headOnly {
            var buffer = context.channel.allocator.buffer(capacity: body.count)
            buffer.writeBytes(body)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
