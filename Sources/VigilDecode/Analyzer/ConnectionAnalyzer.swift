/// The application protocols the network sensor analyzes, named as Zeek's `service` column
/// names them.
public enum AppProtocol: String, Sendable, CaseIterable, Hashable {
    case dns, http, ssl, ssh
    /// QUIC, analyzed with TLS (its ClientHello, from the client's Initial packets).
    case quic

    /// The configuration names (`tls` for `ssl`).
    public init?(configurationName: String) {
        switch configurationName {
        case "dns": self = .dns
        case "http": self = .http
        case "tls", "ssl": self = .ssl
        case "ssh": self = .ssh
        default: return nil
        }
    }
}

/// A DNS query and its reply (either may be missing), as Zeek's dns.log pairs them.
public struct DNSTransaction: Sendable {
    public var query: DNSMessage?
    public var reply: DNSMessage?
    /// When the query was seen (or the reply, for a reply without query), ns.
    public var time: Int64
    /// Reply time minus query time, ns; nil without both.
    public var roundTrip: Int64?
}

/// An HTTP request and its response (the response may be missing).
public struct HTTPTransaction: Sendable {
    public var time: Int64
    public var request: HTTPRequestHead?
    public var response: HTTPResponseHead?
    /// 1xx status before the final response (Zeek's info_code).
    public var informationalCode: Int?
    public var requestBodyLength: Int64 = 0
    public var responseBodyLength: Int64 = 0
}

/// The two hellos of a TLS connection (either may be missing).
public struct TLSHandshake: Sendable {
    public var time: Int64
    public var client: TLSClientHello?
    public var server: TLSServerHello?
}

/// The two SSH identification strings (either may be missing).
public struct SSHHandshake: Sendable {
    public var time: Int64
    public var client: SSHBanner?
    public var server: SSHBanner?
}

/// What a connection's application-layer analysis reports.
public enum AppRecord: Sendable {
    case dns(DNSTransaction)
    case http(HTTPTransaction)
    case tls(TLSHandshake)
    case ssh(SSHHandshake)
}

/// Counters of the application analyzers, by protocol and outcome.
public struct AppCounters: Sendable, Equatable {
    public var dnsMessages: Int64 = 0
    public var dnsErrors: Int64 = 0
    public var httpRequests: Int64 = 0
    public var httpResponses: Int64 = 0
    public var httpErrors: Int64 = 0
    public var tlsHellos: Int64 = 0
    public var tlsStopped: Int64 = 0
    public var sshBanners: Int64 = 0
    public var tcpGaps: Int64 = 0

    public init() {}
}

/// The application-layer analysis of one connection: picks the protocol by port and by the first
/// bytes of each direction, puts TCP streams back in order, runs the DNS, HTTP, TLS and SSH
/// parsers and pairs their messages into transactions. A pure value: the flow table owns one per
/// connection and calls it with each packet's payload.
public struct ConnectionAnalyzer: Sendable {
    /// The protocol this connection turned out to speak (nil: undecided or none).
    public private(set) var service: AppProtocol?
    /// Whether the analysis still wants payload (false once every parser is done or gave up).
    public private(set) var wantsPayload: Bool

    /// The protocols analyzed, as a mask (no set to hash or retain per connection).
    private let enabled: AppProtocolMask
    private let transport: UInt8
    private let responderPort: UInt16
    private let originatorPort: UInt16

    // TCP
    private var streams = DirectionPair(TCPReassembler(limit: 32_768), TCPReassembler(limit: 32_768))
    private var undecided = true
    /// The directions (bit 0 originator, bit 1 responder) whose first bytes matched no protocol
    /// while the other had not spoken yet.
    private var unrecognized: UInt8 = 0
    // HTTP
    private var httpRequests: HTTPStreamParser?
    private var httpResponses: HTTPStreamParser?
    private var httpPending: [HTTPTransaction] = []
    private var httpAnswered = 0
    // TLS
    private var tlsClient: TLSStreamParser?
    private var tlsServer: TLSStreamParser?
    private var tls: TLSHandshake?
    private var tlsReported = false
    private var tlsServerHelloSeen = false
    // SSH
    private var sshBuffers = DirectionPair([UInt8](), [UInt8]())
    private var ssh: SSHHandshake?
    private var sshReported = false
    /// Bit 0: the client's banner was seen; bit 1: the server's.
    private var sshBannerSeen: UInt8 = 0
    // DNS (UDP, and TCP with length framing)
    private var dnsPending: [DNSTransaction] = []
    // QUIC (UDP 443)
    private var quic: QUICClientHelloReader? = nil
    private var quicDatagrams = 0
    private var dnsSeen = false
    /// Set when the first DNS message came from the originator and was a reply: the flow
    /// table should swap the roles, as Zeek does.
    private var flipRequested = false
    private var dnsTCP = DirectionPair([UInt8](), [UInt8]())

    public init(transport: UInt8, originatorPort: UInt16, responderPort: UInt16, enabled: Set<AppProtocol> = Set(AppProtocol.allCases)) {
        self.init(transport: transport, originatorPort: originatorPort, responderPort: responderPort,
                  enabled: AppProtocolMask(enabled))
    }

    /// An analysis with the enabled protocols given as a mask (made once by the caller).
    init(transport: UInt8, originatorPort: UInt16, responderPort: UInt16, enabled: AppProtocolMask) {
        self.transport = transport
        self.originatorPort = originatorPort
        self.responderPort = responderPort
        self.enabled = enabled
        // Each stored property set once, from values decided first.
        if Self.isQUICCandidate(transport: transport, originatorPort: originatorPort, responderPort: responderPort, enabled: enabled) {
            // QUIC: the client's Initial packets carry the TLS ClientHello.
            quic = QUICClientHelloReader()
        }
        wantsPayload = Self.wantsPayload(transport: transport, originatorPort: originatorPort, responderPort: responderPort, enabled: enabled)
    }

    @inline(__always)
    static func isQUICCandidate(transport: UInt8, originatorPort: UInt16, responderPort: UInt16, enabled: AppProtocolMask) -> Bool {
        transport == 17 && enabled.contains(.ssl) && (responderPort == 443 || originatorPort == 443)
    }

    /// Whether a new analysis of such a connection wants its payload: every TCP connection (the
    /// protocol is found from its bytes), UDP on a DNS port or QUIC's; nothing else. A
    /// connection that does not is never analyzed (the caller need not build an analysis).
    @inline(__always)
    static func wantsPayload(transport: UInt8, originatorPort: UInt16, responderPort: UInt16, enabled: AppProtocolMask) -> Bool {
        switch transport {
        case 6: true
        case 17: isQUICCandidate(transport: transport, originatorPort: originatorPort, responderPort: responderPort, enabled: enabled)
            || (enabled.contains(.dns) && isDNSPort(responderPort, originatorPort))
        default: false
        }
    }

    /// Unanswered DNS queries kept per connection (Zeek's `DNS::max_pending_msgs`).
    static let maximumPendingQueries = 50

    static func isDNSPort(_ a: UInt16, _ b: UInt16) -> Bool {
        @inline(__always) func dns(_ p: UInt16) -> Bool { p == 53 || p == 137 || p == 5353 || p == 5355 }
        return dns(a) || dns(b)
    }

    // MARK: UDP

    /// A UDP datagram's payload.
    public mutating func udp(fromOriginator: Bool, time: Int64, payload: UnsafeRawBufferPointer,
                             counters: inout AppCounters, emit: (AppRecord) -> Void) {
        guard wantsPayload else { return }
        if quic != nil {
            quicDatagram(fromOriginator: fromOriginator, time: time, payload, counters: &counters, emit: emit)
            return
        }
        let first = !dnsSeen
        if let isResponse = dnsMessage(payload, time: time, counters: &counters, emit: emit), first {
            dnsSeen = true
            if isResponse && fromOriginator { flipRequested = true }
        }
    }

    /// A datagram of a QUIC candidate: the client's Initials until the ClientHello is whole.
    private mutating func quicDatagram(fromOriginator: Bool, time: Int64, _ payload: UnsafeRawBufferPointer,
                                       counters: inout AppCounters, emit: (AppRecord) -> Void) {
        guard fromOriginator, quic != nil else { return }
        quicDatagrams += 1
        // A short header means the handshake is over; a ClientHello takes a few Initials at most.
        if payload.first.map({ $0 & 0x80 == 0 }) ?? true || quicDatagrams > 8 {
            wantsPayload = false
            return
        }
        // Read in place: a copy taken out and written back made its CRYPTO buffer shared, so the
        // next append copied it.
        let hello = quic!.add(datagram: payload)
        let sawInitial = quic!.sawInitial
        if sawInitial { service = .quic }
        if let hello {
            counters.tlsHellos += 1
            emit(.tls(TLSHandshake(time: time, client: hello, server: nil)))
            wantsPayload = false
        } else if !sawInitial {
            wantsPayload = false  // not QUIC
        }
    }

    /// Whether the flow's roles should be swapped (asked once).
    public mutating func takeFlipRequest() -> Bool {
        defer { flipRequested = false }
        return flipRequested
    }

    /// Parses and pairs one DNS message; returns whether it was a response (nil: not DNS).
    @discardableResult
    private mutating func dnsMessage(_ bytes: UnsafeRawBufferPointer, time: Int64, counters: inout AppCounters,
                                     emit: (AppRecord) -> Void) -> Bool? {
        let message: DNSMessage
        do { message = try DNSParser.parse(bytes) } catch {
            counters.dnsErrors += 1
            return nil
        }
        counters.dnsMessages += 1
        service = .dns
        if !message.isResponse {
            // A repeated id (a retransmission) waits behind the earlier query: a reply answers
            // the oldest query of its id, as Zeek pairs them. At most `maximumPendingQueries` wait.
            if dnsPending.count >= Self.maximumPendingQueries { emit(.dns(dnsPending.removeFirst())) }
            dnsPending.append(DNSTransaction(query: message, reply: nil, time: time, roundTrip: nil))
        } else if let k = dnsPending.firstIndex(where: { $0.query?.id == message.id }) {
            var t = dnsPending.remove(at: k)
            t.reply = message
            t.roundTrip = time - t.time
            emit(.dns(t))
        } else {
            emit(.dns(DNSTransaction(query: nil, reply: message, time: time, roundTrip: nil)))
        }
        return message.isResponse
    }

    // MARK: TCP

    /// A TCP segment: its sequence number, flags and payload.
    public mutating func tcp(fromOriginator: Bool, time: Int64, sequence: UInt32, flags: UInt8,
                             payload: UnsafeRawBufferPointer, counters: inout AppCounters, emit: (AppRecord) -> Void) {
        guard wantsPayload else { return }
        let d = fromOriginator ? 0 : 1
        let syn = flags & 0x02 != 0, fin = flags & 0x01 != 0
        // Most segments: in order (or empty), delivered without moving the reassembler.
        if !syn, let fresh = streams[d].segmentInOrder(seq: sequence, fin: fin, payload: payload) {
            if !fresh.isEmpty { stream(fromOriginator: fromOriginator, time: time, fresh, counters: &counters, emit: emit) }
            return
        }
        // Taken out while it delivers, since delivery changes the rest of the analyzer.
        var reassembler = streams[d]
        streams[d] = TCPReassembler(limit: 0)
        let gapsBefore = reassembler.gaps
        reassembler.segment(seq: sequence, syn: syn, fin: fin, payload: payload) { bytes in
            self.stream(fromOriginator: fromOriginator, time: time, bytes, counters: &counters, emit: emit)
        }
        if reassembler.gaps > gapsBefore { counters.tcpGaps += Int64(reassembler.gaps - gapsBefore) }
        streams[d] = reassembler
    }

    /// In-order bytes of one direction.
    private mutating func stream(fromOriginator: Bool, time: Int64, _ bytes: UnsafeRawBufferPointer,
                                 counters: inout AppCounters, emit: (AppRecord) -> Void) {
        if undecided { decide(fromOriginator: fromOriginator, first: bytes) }
        switch service {
        case .http?: httpBytes(fromOriginator: fromOriginator, time: time, bytes, counters: &counters, emit: emit)
        case .ssl?: tlsBytes(fromOriginator: fromOriginator, time: time, bytes, counters: &counters, emit: emit)
        case .ssh?: sshBytes(fromOriginator: fromOriginator, time: time, bytes, counters: &counters, emit: emit)
        case .dns?: dnsTCPBytes(fromOriginator: fromOriginator, time: time, bytes, counters: &counters, emit: emit)
        case .quic?, nil: break
        }
    }

    /// Picks the protocol from the first bytes of a direction, then the ports. When they match
    /// nothing, the other direction's first bytes get their turn (a server answering
    /// `HTTP/1.0 400` to a garbled request line is still HTTP, as Zeek logs it); later bytes of a
    /// direction that already spoke are no first bytes and are skipped.
    private mutating func decide(fromOriginator: Bool, first bytes: UnsafeRawBufferPointer) {
        guard !bytes.isEmpty else { return }
        let bit: UInt8 = fromOriginator ? 1 : 2
        guard unrecognized & bit == 0 else { return }
        undecided = false
        if enabled.contains(.ssh), Self.startsWith(bytes, "SSH-") {
            service = .ssh
        } else if enabled.contains(.ssl), bytes.count >= 2, bytes[0] == 0x16, bytes[1] == 0x03 {
            service = .ssl
        } else if enabled.contains(.http), fromOriginator, Self.looksLikeHTTPRequest(bytes) {
            service = .http
        } else if enabled.contains(.http), !fromOriginator, Self.startsWith(bytes, "HTTP/") {
            service = .http
        } else if enabled.contains(.dns), responderPort == 53 || originatorPort == 53 {
            service = .dns
        } else if unrecognized == 0 {
            unrecognized = bit
            undecided = true
            return
        } else {
            service = nil
            wantsPayload = false
            return
        }
        switch service {
        case .http?:
            // Without the request's beginning, only responses can be parsed.
            httpRequests = unrecognized == 1 ? nil : HTTPStreamParser(direction: .request)
            httpResponses = HTTPStreamParser(direction: .response)
        case .ssl?:
            tlsClient = TLSStreamParser(direction: .client)
            tlsServer = TLSStreamParser(direction: .server)
        default:
            break
        }
    }

    static func startsWith(_ bytes: UnsafeRawBufferPointer, _ prefix: StaticString) -> Bool {
        prefix.withUTF8Buffer { p in
            guard bytes.count >= p.count else { return false }
            for k in 0..<p.count where bytes[k] != p[k] { return false }
            return true
        }
    }

    /// The request methods of HTTP and WebDAV that Zeek's HTTP signature names.
    static let httpMethods: [StaticString] = [
        "GET", "POST", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE", "CONNECT", "PATCH", "PROPFIND", "PROPPATCH",
        "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "POLL", "REPORT", "SUBSCRIBE", "BMOVE", "SEARCH",
    ]

    /// A method token (letters, digits, `_`, `-`) followed by a space, where the token is a known
    /// method or the first line goes on to `HTTP/` (so `USER anonymous` or a directory listing
    /// `drwxr-xr-x 2 …` is not taken for a request, while `CCM_POST / HTTP/1.1` is).
    static func looksLikeHTTPRequest(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var k = 0
        while k < bytes.count, k < 32 {
            let c = bytes[k]
            if c == 0x20 { break }
            let ok = (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || (c >= 0x30 && c <= 0x39) || c == 0x5F || c == 0x2D
            if !ok { return false }
            k += 1
        }
        guard k > 0, k < bytes.count, bytes[k] == 0x20 else { return false }
        let token = UnsafeRawBufferPointer(rebasing: bytes[0..<k])
        for method in httpMethods where method.utf8CodeUnitCount == k && startsWith(token, method) { return true }
        // `HTTP/` before the end of the first line.
        var j = k + 1
        let end = min(bytes.count, 4096)
        while j + 5 <= end {
            let c = bytes[j]
            if c == 0x0D || c == 0x0A { return false }
            if c == 0x48, bytes[j + 1] == 0x54, bytes[j + 2] == 0x54, bytes[j + 3] == 0x50, bytes[j + 4] == 0x2F { return true }
            j += 1
        }
        return false
    }

    // MARK: HTTP

    private mutating func httpBytes(fromOriginator: Bool, time: Int64, _ bytes: UnsafeRawBufferPointer,
                                    counters: inout AppCounters, emit: (AppRecord) -> Void) {
        // The parser is taken out while it runs, so that each message goes straight to
        // `httpEvent` (which changes the rest of the analysis) without an array in between.
        // A request head tells the response parser what to expect: only the request parser is
        // out then.
        if fromOriginator {
            if var parser = httpRequests.take() {
                parser.feed(bytes) { httpEvent($0, fromOriginator: true, time: time, counters: &counters, emit: emit) }
                httpRequests = parser
            }
        } else {
            if var parser = httpResponses.take() {
                parser.feed(bytes) { httpEvent($0, fromOriginator: false, time: time, counters: &counters, emit: emit) }
                httpResponses = parser
            }
        }
        if httpRequests?.isStopped == true && httpResponses?.isStopped == true { wantsPayload = false }
    }

    private mutating func httpEvent(_ event: HTTPMessageEvent, fromOriginator: Bool, time: Int64,
                                    counters: inout AppCounters, emit: (AppRecord) -> Void) {
        switch event {
        case .requestHead(let head):
            counters.httpRequests += 1
            httpPending.append(HTTPTransaction(time: time, request: head))
            httpResponses?.expectResponse(to: head)
        case .responseHead(let head):
            counters.httpResponses += 1
            if head.isInformational {
                if httpAnswered < httpPending.count { httpPending[httpAnswered].informationalCode = head.statusCode }
                return
            }
            if httpAnswered < httpPending.count {
                httpPending[httpAnswered].response = head
            } else {
                // A response without a request seen (picked up mid-connection).
                httpPending.append(HTTPTransaction(time: time, request: nil, response: head))
            }
        case .messageEnd(let end):
            if fromOriginator {
                // The request whose head came last.
                // (`case .some` reads the head in place; `!= nil` copied the transaction's strings.)
                if let k = httpPending.indices.last(where: { if case .some = httpPending[$0].request { true } else { false } }) {
                    httpPending[k].requestBodyLength = end.bodyLength
                }
            } else if httpAnswered < httpPending.count, case .some = httpPending[httpAnswered].response {
                httpPending[httpAnswered].responseBodyLength = end.bodyLength
                // Transactions complete in order: report everything answered so far.
                httpAnswered += 1
                while httpAnswered > 0, !httpPending.isEmpty, case .some = httpPending[0].response {
                    emit(.http(httpPending.removeFirst()))
                    httpAnswered -= 1
                }
            }
        case .error:
            counters.httpErrors += 1
        }
    }

    // MARK: TLS

    private mutating func tlsBytes(fromOriginator: Bool, time: Int64, _ bytes: UnsafeRawBufferPointer,
                                   counters: inout AppCounters, emit: (AppRecord) -> Void) {
        let progress = fromOriginator ? tlsClient?.feed(bytes) : tlsServer?.feed(bytes)
        switch progress {
        case .clientHello(let hello)?:
            counters.tlsHellos += 1
            if tls == nil { tls = TLSHandshake(time: time) }
            tls?.client = hello
        case .serverHello(let hello)?:
            counters.tlsHellos += 1
            if tls == nil { tls = TLSHandshake(time: time) }
            tls?.server = hello
            tlsServerHelloSeen = true
        case .stopped?:
            counters.tlsStopped += 1
        default:
            break
        }
        let clientDone = tlsClient?.isFinished ?? true, serverDone = tlsServer?.isFinished ?? true
        // A flag, not `tls?.server != nil`: that copied the server hello on every packet.
        if tlsServerHelloSeen, !tlsReported, let t = tls {
            tlsReported = true
            emit(.tls(t))
        }
        if clientDone && serverDone { wantsPayload = false }
    }

    // MARK: SSH

    private mutating func sshBytes(fromOriginator: Bool, time: Int64, _ bytes: UnsafeRawBufferPointer,
                                   counters: inout AppCounters, emit: (AppRecord) -> Void) {
        let d = fromOriginator ? 0 : 1
        // Flags, not `ssh?.client != nil`: that copied the handshake's banners on every packet.
        guard sshBannerSeen & (fromOriginator ? 1 : 2) == 0 else { return }
        let limit = SSHBanner.maximumLinesBefore * SSHBanner.maximumLineLength
        guard sshBuffers[d].count < limit else { return }
        sshBuffers[d].append(contentsOf: bytes.prefix(limit - sshBuffers[d].count))
        guard let banner = sshBuffers[d].withUnsafeBytes({ parseSSHBanner($0) }) else { return }
        counters.sshBanners += 1
        sshBuffers[d] = []
        if ssh == nil { ssh = SSHHandshake(time: time) }
        if fromOriginator { ssh?.client = banner } else { ssh?.server = banner }
        sshBannerSeen |= fromOriginator ? 1 : 2
        if sshBannerSeen == 3, !sshReported, let s = ssh {
            sshReported = true
            emit(.ssh(s))
            wantsPayload = false
        }
    }

    // MARK: DNS over TCP

    private mutating func dnsTCPBytes(fromOriginator: Bool, time: Int64, _ bytes: UnsafeRawBufferPointer,
                                      counters: inout AppCounters, emit: (AppRecord) -> Void) {
        let d = fromOriginator ? 0 : 1
        guard dnsTCP[d].count + bytes.count <= 70_000 else {
            wantsPayload = false
            return
        }
        dnsTCP[d].append(contentsOf: bytes)
        var consumedTotal = 0
        var frames: [[UInt8]] = []
        dnsTCP[d].withUnsafeBytes { all in
            var rest = all
            while let (message, consumed) = DNSParser.nextTCPFrame(rest), consumed > 0 {
                frames.append(Array(message))
                consumedTotal += consumed
                rest = UnsafeRawBufferPointer(rebasing: rest[consumed...])
            }
        }
        if consumedTotal > 0 { dnsTCP[d].removeFirst(consumedTotal) }
        for f in frames { f.withUnsafeBytes { dnsMessage($0, time: time, counters: &counters, emit: emit) } }
    }

    // MARK: End

    /// The connection ended: reports what is still pending (unanswered queries and requests,
    /// half-seen handshakes).
    public mutating func finish(counters: inout AppCounters, emit: (AppRecord) -> Void) {
        for t in dnsPending { emit(.dns(t)) }
        dnsPending.removeAll()
        if service == .http {
            var events: [HTTPMessageEvent] = []
            httpResponses?.finish { events.append($0) }
            for e in events { httpEvent(e, fromOriginator: false, time: 0, counters: &counters, emit: emit) }
            for t in httpPending { emit(.http(t)) }
            httpPending.removeAll()
            httpAnswered = 0
        }
        if let t = tls, !tlsReported {
            tlsReported = true
            emit(.tls(t))
        }
        if let s = ssh, !sshReported {
            sshReported = true
            emit(.ssh(s))
        }
        wantsPayload = false
    }
}

/// Two values, one per direction (0: originator, 1: responder), stored inline rather than in an
/// array that every connection would allocate.
struct DirectionPair<T: Sendable>: Sendable {
    var first: T
    var second: T

    init(_ first: T, _ second: T) {
        self.first = first
        self.second = second
    }

    subscript(direction: Int) -> T {
        get { direction == 0 ? first : second }
        _modify {
            if direction == 0 { yield &first } else { yield &second }
        }
    }
}

/// A set of ``AppProtocol``s as bits.
struct AppProtocolMask: Sendable {
    var bits: UInt8 = 0

    init(_ protocols: Set<AppProtocol>) {
        for p in protocols { bits |= Self.bit(p) }
    }

    @inline(__always)
    static func bit(_ p: AppProtocol) -> UInt8 {
        switch p {
        case .dns: 1
        case .http: 2
        case .ssl: 4
        case .ssh: 8
        case .quic: 16
        }
    }

    @inline(__always)
    func contains(_ p: AppProtocol) -> Bool { bits & Self.bit(p) != 0 }
}
