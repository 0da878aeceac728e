import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import VigilCore

/// Settings of the read-only HTTP API.
public struct AlertAPIConfiguration: Sendable, Equatable {
    /// Address to bind. Default `127.0.0.1`.
    public var host = "127.0.0.1"
    /// Port; 0 picks a free one. Default 8089.
    public var port = 8089
    /// When set, every request must carry `Authorization: Bearer TOKEN`. Required to bind a
    /// non-loopback address.
    public var token: String?

    public init(host: String = "127.0.0.1", port: Int = 8089, token: String? = nil) {
        self.host = host
        self.port = port
        self.token = token
    }

    /// Parses `HOST:PORT` (`[v6]:PORT` for IPv6).
    public static func parseListen(_ text: String, filter: String) throws(AlertIndexError) -> (host: String, port: Int) {
        guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]), (0...65535).contains(port) else {
            throw .badFilter(filter, "expected HOST:PORT such as 127.0.0.1:8089, got '\(text.prefix(80))'")
        }
        var host = String(text[..<colon])
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { throw .badFilter(filter, "expected HOST:PORT, the host is missing in '\(text.prefix(80))'") }
        return (host, port)
    }

    /// Whether `host` is a loopback address (or `localhost`).
    public static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        guard let a = IPAddress(host) else { return false }
        return a.unmappingIPv4.isLoopback
    }

    /// Refuses settings that would expose alerts: a non-loopback address without a token.
    public func validate() throws(AlertIndexError) {
        if let token, token.isEmpty || token.contains(where: { $0.isWhitespace }) {
            throw AlertIndexError(.configuration, "the API token must be non-empty and without spaces")
        }
        if !Self.isLoopback(host) && token == nil {
            throw AlertIndexError(.configuration, "refusing to serve alerts on \(host), which is not a loopback address, without a token: set a token (--token or index.http.token), or listen on 127.0.0.1")
        }
    }
}

/// The read-only HTTP API over an ``AlertIndex`` (SwiftNIO, HTTP/1.1):
///
/// - `GET /api/alerts?since=1h&rule=R&min_severity=high&source=CIDR&destination=CIDR&where=f=v&q=TEXT&status=open&sort=time&order=desc&limit=100&offset=0`
///   → `{"alerts":[…],"count":N}`
/// - `GET /api/alerts/ID` → `{"alert":{…},"history":[…]}` (404 when unknown)
/// - `GET /api/stats?…` (the same filters) → counts by rule, severity, top sources, histogram
///
/// Other methods get 405, other paths 404, bad filters 400 with `{"error":"…"}` naming the
/// parameter. With a token, requests without `Authorization: Bearer TOKEN` get 401. Queries run
/// on a thread pool, off the event loop.
///
/// `@unchecked Sendable`: `running` is guarded by `lock`; the rest is immutable.
public final class AlertAPIServer: @unchecked Sendable {
    public let configuration: AlertAPIConfiguration
    let index: AlertIndex
    private let lock = NSLock()
    private var running: (group: MultiThreadedEventLoopGroup?, pool: NIOThreadPool?, channel: (any Channel)?) = (nil, nil, nil)

    public init(index: AlertIndex, configuration: AlertAPIConfiguration) throws(AlertIndexError) {
        try configuration.validate()
        self.index = index
        self.configuration = configuration
    }

    /// Binds and starts serving; returns the bound port.
    @discardableResult
    public func start() throws(AlertIndexError) -> Int {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let pool = NIOThreadPool(numberOfThreads: 2)
        pool.start()
        let index = self.index, token = configuration.token
        do {
            let channel = try ServerBootstrap(group: group)
                .serverChannelOption(ChannelOptions.backlog, value: 64)
                .serverChannelOption(ChannelOptions.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(APIHandler(index: index, token: token, pool: pool))
                    }
                }
                .bind(host: configuration.host, port: configuration.port).wait()
            lock.withLock { running = (group, pool, channel) }
            return channel.localAddress?.port ?? configuration.port
        } catch {
            try? group.syncShutdownGracefully()
            try? pool.syncShutdownGracefully()
            throw AlertIndexError(.configuration, "cannot listen on \(configuration.host):\(configuration.port)", cause: "\(error)")
        }
    }

    /// Stops serving.
    public func stop() {
        let (group, pool, channel) = lock.withLock {
            let v = running
            running = (nil, nil, nil)
            return v
        }
        try? channel?.close().wait()
        try? group?.syncShutdownGracefully()
        try? pool?.syncShutdownGracefully()
    }

    /// Answers one request: status and JSON body. Pure apart from reading the index.
    static func respond(index: AlertIndex, token: String?, method: HTTPMethod, uri: String,
                        authorization: String?) -> (HTTPResponseStatus, String) {
        if let token {
            let expected = Array("Bearer \(token)".utf8), given = Array((authorization ?? "").utf8)
            // Constant time in the token's length.
            var diff = UInt8(expected.count == given.count ? 0 : 1)
            for i in expected.indices { diff |= expected[i] ^ (i < given.count ? given[i] : 0) }
            if diff != 0 { return (.unauthorized, #"{"error":"missing or wrong bearer token"}"#) }
        }
        guard method == .GET else { return (.methodNotAllowed, #"{"error":"the API is read-only: use GET"}"#) }
        let (path, params) = parseURI(uri)
        do {
            var request = AlertRequest()
            var after: Int64?
            for (k, v) in params {
                switch k {
                case "since": request.since = v
                case "from": request.from = v
                case "to": request.to = v
                case "rule": request.rules.append(v)
                case "min_severity": request.minSeverity = v
                case "source": request.sources.append(v)
                case "destination": request.destinations.append(v)
                case "where": request.fields.append(v)
                case "q": request.text = v
                case "status": request.status = v
                case "sort": request.sort = v
                case "order":
                    guard v == "asc" || v == "desc" else { throw AlertIndexError.badFilter("order", "expected asc or desc") }
                    request.ascending = v == "asc"
                case "limit": request.limit = v
                case "offset": request.offset = v
                case "after":
                    guard let n = Int64(v), n >= 0 else { throw AlertIndexError.badFilter("after", "expected a sequence number") }
                    after = n
                default: throw AlertIndexError.badFilter(k.isEmpty ? "(empty)" : String(k.prefix(40)), "unknown parameter; known: since, from, to, rule, min_severity, source, destination, where, q, status, sort, order, limit, offset, after")
                }
            }
            let name: (String) -> String = { $0 == "text" ? "q" : $0 }
            switch path {
            case "/api/alerts":
                var q = try request.query(maxLimit: 10_000, name: name)
                q.afterSequence = after
                let alerts = try index.alerts(q)
                let last = alerts.map(\.sequence).max() ?? after ?? 0
                return (.ok, #"{"alerts":[\#(alerts.map(\.json).joined(separator: ","))],"count":\#(alerts.count),"last_sequence":\#(last)}"#)
            case "/api/stats":
                let q = try request.query(name: name)
                return (.ok, AlertRendering.statsJSON(try index.stats(q.filter)))
            case _ where path.hasPrefix("/api/alerts/"):
                let id = String(path.dropFirst("/api/alerts/".count))
                let (alert, history) = try index.alert(id: id)
                return (.ok, #"{"alert":\#(alert.json),"history":\#(AlertRendering.historyJSON(history))}"#)
            default:
                return (.notFound, #"{"error":"no such endpoint; try /api/alerts, /api/alerts/ID or /api/stats"}"#)
            }
        } catch {
            let error = error as? AlertIndexError ?? AlertIndexError(.database, "\(error)")
            let status: HTTPResponseStatus
            switch error.code {
            case .badFilter: status = .badRequest
            case .notFound: status = .notFound
            default: status = .internalServerError
            }
            return (status, #"{"error":\#(AlertRendering.quote(error.description))}"#)
        }
    }

    static func parseURI(_ uri: String) -> (String, [(String, String)]) {
        let parts = uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)
        let path = String(parts[0]).removingPercentEncoding ?? String(parts[0])
        var params: [(String, String)] = []
        if parts.count > 1 {
            for pair in parts[1].split(separator: "&") {
                let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                func decode(_ s: Substring) -> String {
                    let plus = s.replacingOccurrences(of: "+", with: " ")
                    return plus.removingPercentEncoding ?? plus
                }
                params.append((decode(kv[0]), kv.count > 1 ? decode(kv[1]) : ""))
            }
        }
        return (path, params)
    }
}

/// One connection: collects a request, answers it from the thread pool.
final class APIHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    let index: AlertIndex
    let token: String?
    let pool: NIOThreadPool
    private var head: HTTPRequestHead?

    init(index: AlertIndex, token: String?, pool: NIOThreadPool) {
        self.index = index
        self.token = token
        self.pool = pool
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h): head = h
        case .body: break
        case .end:
            guard let head else { return }
            self.head = nil
            let index = self.index, token = self.token
            let method = head.method, uri = head.uri, auth = head.headers.first(name: "authorization")
            let keepAlive = head.isKeepAlive
            let version = head.version
            let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
            pool.runIfActive(eventLoop: context.eventLoop) {
                AlertAPIServer.respond(index: index, token: token, method: method, uri: uri, authorization: auth)
            }.whenComplete { result in
                let (handler, context) = bound.value
                let (status, body) = (try? result.get()) ?? (.internalServerError, #"{"error":"internal error"}"#)
                handler.send(context: context, status: status, body: body, version: version, keepAlive: keepAlive)
            }
        }
    }

    func send(context: ChannelHandlerContext, status: HTTPResponseStatus, body: String, version: HTTPVersion, keepAlive: Bool) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Content-Length", value: String(body.utf8.count + 1))
        if status == .unauthorized { headers.add(name: "WWW-Authenticate", value: "Bearer") }
        if !keepAlive { headers.add(name: "Connection", value: "close") }
        context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: status, headers: headers))), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: body.utf8.count + 1)
        buffer.writeString(body)
        buffer.writeString("\n")
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        let done = context.writeAndFlush(wrapOutboundOut(.end(nil)))
        if !keepAlive {
            let channel = context.channel
            done.whenComplete { _ in channel.close(promise: nil) }
        }
    }
}
