/// An incremental HTTP/1.x parser (RFC 9112) for one direction of one connection.
///
/// Feed it the direction's bytes in order, split anywhere; it reports heads, message ends with
/// body lengths (Content-Length, chunked, read-until-close) and pipelined messages through the
/// `emit` closure. A pure state machine: no I/O; it keeps a head only while the head is split
/// across feeds (one reused buffer, bounded by ``Limits/maximumHeadLength``), and allocates
/// nothing else but the `String`s of the heads it emits.
///
/// Pairing requests with responses is the caller's job, but a response parser must know what it
/// answers: call ``expectResponse(to:)`` with each request head, so that responses to HEAD carry
/// no body, a 2xx to CONNECT turns into a tunnel, and a response to an HTTP/0.9 request is read
/// as raw body. Without expectations a response is read as the answer to a GET.
///
/// Malformed input yields one `.error` event; the direction is then ignored.
public struct HTTPStreamParser: Sendable {
    /// Which side of the connection this parser reads.
    public enum Direction: Sendable, Hashable {
        case request
        case response
    }

    /// Bounds on what one direction may make the parser hold.
    public struct Limits: Sendable, Hashable {
        /// The longest head (start line and fields, with line ends), and the longest trailers.
        public var maximumHeadLength: Int
        /// The most header fields in one head.
        public var maximumHeaderCount: Int

        public init(maximumHeadLength: Int = 64 * 1024, maximumHeaderCount: Int = 256) {
            self.maximumHeadLength = maximumHeadLength
            self.maximumHeaderCount = maximumHeaderCount
        }
    }

    private enum State: Sendable {
        /// Reading a head; `lineEmpty` says the current line has only had CRs so far.
        case head(lineEmpty: Bool)
        case fixedBody(remaining: Int64)
        case chunkSize(value: UInt64, digits: Int, inExtension: Bool, lineLength: Int)
        case chunkData(remaining: UInt64)
        /// After chunk data: `sawCR` once its CR is read.
        case chunkDataEnd(sawCR: Bool)
        case trailers(lineEmpty: Bool, length: Int)
        case untilClose
        case tunnel
        case stopped
    }

    public let direction: Direction
    public let limits: Limits
    private var state: State = .head(lineEmpty: true)
    /// The part of a head seen in earlier feeds.
    private var headBuffer: [UInt8] = []
    /// Bytes of the current head so far (buffered or not), and where it began.
    private var headLength = 0
    private var headStart: Int64 = 0
    /// Bytes consumed in this direction.
    public private(set) var streamOffset: Int64 = 0
    private var bodyLength: Int64 = 0
    private var framing: HTTPBodyFraming = .none

    /// Expected responses, oldest in bit 0 (responses only).
    private var pendingHEAD: UInt64 = 0
    private var pendingCONNECT: UInt64 = 0
    private var pendingHTTP09: UInt64 = 0
    private var pendingCount = 0
    /// Expectations dropped because more than 64 requests were outstanding.
    public private(set) var droppedExpectations = 0
    /// Messages whose head has been reported.
    public private(set) var messageCount = 0

    /// A parser for one direction.
    public init(direction: Direction, limits: Limits = Limits()) {
        self.direction = direction
        self.limits = limits
    }

    /// Whether the parser has stopped (after an error, or on a tunnel).
    public var isStopped: Bool {
        switch state {
        case .stopped, .tunnel: true
        default: false
        }
    }

    /// Tells a response parser about the next request it will see a response to (in order).
    /// Up to 64 outstanding requests are remembered; more are counted in ``droppedExpectations``.
    public mutating func expectResponse(to request: HTTPRequestHead) {
        guard pendingCount < 64 else { droppedExpectations += 1; return }
        let bit: UInt64 = 1 << UInt64(pendingCount)
        if request.method == "HEAD" { pendingHEAD |= bit }
        if request.method == "CONNECT" { pendingCONNECT |= bit }
        if request.isHTTP09 { pendingHTTP09 |= bit }
        pendingCount += 1
    }

    /// Switches this direction to tunnel mode (after an upgrade the caller saw): nothing more is
    /// parsed.
    public mutating func enterTunnel() {
        state = .tunnel
    }

    /// Reads the next bytes of this direction.
    /// - Complexity: O(n) in `bytes.count`, plus O(h) for each head of length h completed.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, _ emit: (HTTPMessageEvent) -> Void) {
        var i = 0
        let n = bytes.count
        while i < n {
            switch state {
            case .stopped, .tunnel:
                streamOffset += Int64(n - i)
                return
            case .head(var lineEmpty):
                if headLength == 0 {
                    // A new message. Empty lines before a request line are ignored (RFC 9112 §2.2).
                    if direction == .response, pendingHTTP09 & 1 != 0, pendingCount > 0 {
                        popExpectation()
                        messageCount += 1
                        emit(.responseHead(HTTPResponseHead(version: "0.9", statusCode: 0, reason: "")))
                        bodyLength = 0
                        framing = .closeDelimited
                        state = .untilClose
                        continue
                    }
                    if bytes[i] == 0x0D || bytes[i] == 0x0A {
                        i += 1
                        streamOffset += 1
                        continue
                    }
                    headStart = streamOffset
                }
                var k = i
                var end = -1
                while k < n {
                    let b = bytes[k]
                    if b == 0x0A {
                        if lineEmpty { end = k; break }
                        lineEmpty = true
                    } else if b != 0x0D {
                        lineEmpty = false
                    }
                    k += 1
                }
                let taken = (end >= 0 ? end + 1 : n) - i
                guard headLength + taken <= limits.maximumHeadLength else {
                    fail(.headTooLong, emit)
                    return
                }
                let chunk = UnsafeRawBufferPointer(rebasing: bytes[i..<(i + taken)])
                headLength += taken
                streamOffset += Int64(taken)
                i += taken
                if end < 0 {
                    headBuffer.append(contentsOf: chunk)
                    state = .head(lineEmpty: lineEmpty)
                    continue
                }
                if headBuffer.isEmpty {
                    completeHead(chunk, emit)
                } else {
                    headBuffer.append(contentsOf: chunk)
                    // Move the buffer out (no copy) so the head can be parsed while self mutates.
                    var buffered: [UInt8] = []
                    swap(&buffered, &headBuffer)
                    buffered.withUnsafeBytes { completeHead($0, emit) }
                    buffered.removeAll(keepingCapacity: true)
                    if !isStopped { headBuffer = buffered }
                }
                headLength = 0
            case .fixedBody(let remaining):
                let take = min(remaining, Int64(n - i))
                i += Int(take)
                streamOffset += take
                bodyLength += take
                if take == remaining { endMessage(emit) } else { state = .fixedBody(remaining: remaining - take) }
            case .chunkData(let remaining):
                let take = min(remaining, UInt64(n - i))
                i += Int(take)
                streamOffset += Int64(take)
                bodyLength += Int64(take)
                state = take == remaining ? .chunkDataEnd(sawCR: false) : .chunkData(remaining: remaining - take)
            case .chunkDataEnd(let sawCR):
                let b = bytes[i]
                i += 1
                streamOffset += 1
                if b == 0x0D && !sawCR {
                    state = .chunkDataEnd(sawCR: true)
                } else if b == 0x0A {
                    state = .chunkSize(value: 0, digits: 0, inExtension: false, lineLength: 0)
                } else {
                    fail(.badChunk, emit)
                    return
                }
            case .chunkSize(var value, var digits, var inExtension, var lineLength):
                let b = bytes[i]
                i += 1
                streamOffset += 1
                lineLength += 1
                guard lineLength <= limits.maximumHeadLength else { fail(.badChunk, emit); return }
                if b == 0x0A {
                    guard digits > 0 else { fail(.badChunk, emit); return }
                    if value == 0 {
                        state = .trailers(lineEmpty: true, length: 0)
                    } else {
                        state = .chunkData(remaining: value)
                    }
                    continue
                }
                if !inExtension, let h = HTTPStreamParser.hexValue(b) {
                    digits += 1
                    guard digits <= 15 else { fail(.badChunk, emit); return }
                    value = value << 4 | UInt64(h)
                } else if b == 0x3B || b == 0x20 || b == 0x09 || b == 0x0D {
                    inExtension = true
                } else if !inExtension {
                    fail(.badChunk, emit)
                    return
                }
                state = .chunkSize(value: value, digits: digits, inExtension: inExtension, lineLength: lineLength)
            case .trailers(var lineEmpty, var length):
                let b = bytes[i]
                i += 1
                streamOffset += 1
                length += 1
                guard length <= limits.maximumHeadLength else { fail(.trailersTooLong, emit); return }
                if b == 0x0A {
                    if lineEmpty { endMessage(emit); continue }
                    lineEmpty = true
                } else if b != 0x0D {
                    lineEmpty = false
                }
                state = .trailers(lineEmpty: lineEmpty, length: length)
            case .untilClose:
                bodyLength += Int64(n - i)
                streamOffset += Int64(n - i)
                i = n
            }
        }
    }

    /// Tells the parser the connection closed in this direction: ends a body read until close
    /// (and reports a body cut short as incomplete).
    public mutating func finish(_ emit: (HTTPMessageEvent) -> Void) {
        switch state {
        case .untilClose:
            emit(.messageEnd(HTTPMessageEnd(bodyLength: bodyLength, framing: .closeDelimited)))
        case .fixedBody, .chunkData, .chunkDataEnd, .chunkSize, .trailers:
            emit(.messageEnd(HTTPMessageEnd(bodyLength: bodyLength, framing: framing, isComplete: false)))
        case .head, .stopped, .tunnel:
            break
        }
        state = .stopped
    }

    // MARK: - Heads

    private mutating func fail(_ reason: HTTPParseError.Reason, _ emit: (HTTPMessageEvent) -> Void) {
        let offset = (reason == .headTooLong || reason == .tooManyHeaders) ? headStart : streamOffset
        state = .stopped
        headBuffer = []
        emit(.error(HTTPParseError(reason: reason, streamOffset: offset)))
    }

    private mutating func popExpectation() {
        guard pendingCount > 0 else { return }
        pendingHEAD >>= 1
        pendingCONNECT >>= 1
        pendingHTTP09 >>= 1
        pendingCount -= 1
    }

    private mutating func endMessage(_ emit: (HTTPMessageEvent) -> Void) {
        emit(.messageEnd(HTTPMessageEnd(bodyLength: bodyLength, framing: framing)))
        bodyLength = 0
        state = .head(lineEmpty: true)
    }

    /// Parses a complete head (through its final LF) and sets up the body.
    private mutating func completeHead(_ head: UnsafeRawBufferPointer, _ emit: (HTTPMessageEvent) -> Void) {
        var fields = HeaderFields()
        // The start line.
        var lineEnd = 0
        while lineEnd < head.count, head[lineEnd] != 0x0A { lineEnd += 1 }
        let startLine = HTTPStreamParser.trimLine(head, 0, lineEnd)
        var p = lineEnd + 1
        // Header fields.
        var count = 0
        while p < head.count {
            var e = p
            while e < head.count, head[e] != 0x0A { e += 1 }
            let line = HTTPStreamParser.trimLine(head, p, e)
            p = e + 1
            if line.isEmpty { break }
            if head[line.lowerBound] == 0x20 || head[line.lowerBound] == 0x09 { continue } // obs-fold
            count += 1
            guard count <= limits.maximumHeaderCount else { fail(.tooManyHeaders, emit); return }
            guard let reason = fields.add(head, line) else { continue }
            fail(reason, emit)
            return
        }
        fields.count = count
        bodyLength = 0
        switch direction {
        case .request: completeRequest(head, startLine, fields, emit)
        case .response: completeResponse(head, startLine, fields, emit)
        }
    }

    private mutating func completeRequest(_ head: UnsafeRawBufferPointer, _ line: Range<Int>,
                                          _ fields: HeaderFields, _ emit: (HTTPMessageEvent) -> Void) {
        // method SP request-target SP HTTP-version, read the way Zeek reads it: the target runs to
        // the last whitespace before `HTTP/`; no `HTTP/` means HTTP/0.9.
        var p = line.lowerBound
        while p < line.upperBound, HTTPStreamParser.isTokenByte(head[p]) { p += 1 }
        guard p > line.lowerBound, p < line.upperBound, head[p] == 0x20 || head[p] == 0x09 else {
            fail(.badRequestLine, emit)
            return
        }
        let method = line.lowerBound..<p
        while p < line.upperBound, head[p] == 0x20 || head[p] == 0x09 { p += 1 }
        let targetStart = p
        var uriRun = p
        while uriRun < line.upperBound, head[uriRun] > 0x20, head[uriRun] != 0x7F { uriRun += 1 }
        var uriEnd = line.upperBound
        var versionStart = -1
        if uriRun == line.upperBound, HTTPStreamParser.hasHTTPPrefix(head, targetStart, line.upperBound) {
            uriEnd = targetStart
            versionStart = targetStart
        } else {
            var v = uriRun
            while v < line.upperBound {
                var w = v
                while w < line.upperBound, head[w] == 0x20 || head[w] == 0x09 { w += 1 }
                if w > v, HTTPStreamParser.hasHTTPPrefix(head, w, line.upperBound) {
                    uriEnd = v
                    versionStart = w
                    break
                }
                v = max(v + 1, w) // every position in the whitespace run reaches the same w
            }
        }
        var request = HTTPRequestHead(method: HTTPStreamParser.text(head, method),
                                      uri: HTTPStreamParser.text(head, targetStart..<uriEnd), version: "0.9")
        if versionStart >= 0 {
            // Zeek accepts a short version such as `HTTP/1.` (logged by the response's version).
            guard line.upperBound - versionStart >= 7 else { fail(.badVersion, emit); return }
            request.version = HTTPStreamParser.text(head, (versionStart + 5)..<line.upperBound)
        } else {
            request.isHTTP09 = true
        }
        request.host = fields.host.map { HTTPStreamParser.text(head, $0) }
        request.userAgent = fields.userAgent.map { HTTPStreamParser.text(head, $0) }
        request.referrer = fields.referer.map { HTTPStreamParser.text(head, $0) }
        request.origin = fields.origin.map { HTTPStreamParser.text(head, $0) }
        request.contentType = fields.contentType.map { HTTPStreamParser.text(head, $0) }
        request.authorization = fields.authorization.map { HTTPStreamParser.text(head, $0) }
        request.contentLength = fields.contentLength
        request.isChunked = fields.transferEncoding == .chunked
        request.headerCount = fields.count
        messageCount += 1
        emit(.requestHead(request))

        if method.count == 7, HTTPStreamParser.equalsIgnoringCase(head, method, "CONNECT") {
            framing = .tunnel
            emit(.messageEnd(HTTPMessageEnd(bodyLength: 0, framing: .tunnel)))
            state = .tunnel
            return
        }
        switch fields.transferEncoding {
        case .chunked: startChunked()
        case .other: fail(.badTransferEncoding, emit)
        case .absent:
            if let length = fields.contentLength, length > 0 {
                framing = .contentLength
                state = .fixedBody(remaining: length)
            } else {
                framing = fields.contentLength == nil ? .none : .contentLength
                endMessage(emit)
            }
        }
    }

    private mutating func completeResponse(_ head: UnsafeRawBufferPointer, _ line: Range<Int>,
                                           _ fields: HeaderFields, _ emit: (HTTPMessageEvent) -> Void) {
        // HTTP/x.y SP 3DIGIT [SP reason]
        let s = line.lowerBound, e = line.upperBound
        guard HTTPStreamParser.hasHTTPPrefix(head, s, e) else { fail(.badStatusLine, emit); return }
        var p = s + 5
        while p < e, head[p] != 0x20, head[p] != 0x09 { p += 1 }
        let version = (s + 5)..<p
        guard version.count >= 3 else { fail(.badVersion, emit); return }
        while p < e, head[p] == 0x20 || head[p] == 0x09 { p += 1 }
        guard e - p >= 3 else { fail(.badStatusLine, emit); return }
        var status = 0
        for k in p..<(p + 3) {
            let d = head[k] &- 0x30
            guard d < 10 else { fail(.badStatusLine, emit); return }
            status = status * 10 + Int(d)
        }
        p += 3
        guard p == e || head[p] == 0x20 || head[p] == 0x09 else { fail(.badStatusLine, emit); return }
        while p < e, head[p] == 0x20 || head[p] == 0x09 { p += 1 }
        var response = HTTPResponseHead(version: HTTPStreamParser.text(head, version), statusCode: status,
                                        reason: HTTPStreamParser.text(head, p..<e))
        response.contentType = fields.contentType.map { HTTPStreamParser.text(head, $0) }
        response.server = fields.server.map { HTTPStreamParser.text(head, $0) }
        response.location = fields.location.map { HTTPStreamParser.text(head, $0) }
        response.contentLength = fields.contentLength
        response.isChunked = fields.transferEncoding == .chunked
        response.headerCount = fields.count
        messageCount += 1
        emit(.responseHead(response))

        // RFC 9112 §6.3, in order.
        let isHEAD = pendingCount > 0 && pendingHEAD & 1 != 0
        let isCONNECT = pendingCount > 0 && pendingCONNECT & 1 != 0
        if status == 101 || (isCONNECT && status >= 200 && status < 300) {
            popExpectation()
            framing = .tunnel
            emit(.messageEnd(HTTPMessageEnd(bodyLength: 0, framing: .tunnel)))
            state = .tunnel
            return
        }
        if status >= 100 && status < 200 { // interim: the final response follows
            framing = .none
            endMessage(emit)
            return
        }
        popExpectation()
        if isHEAD || status == 204 || status == 304 {
            framing = .none
            endMessage(emit)
            return
        }
        switch fields.transferEncoding {
        case .chunked: startChunked()
        case .other:
            framing = .closeDelimited
            state = .untilClose
        case .absent:
            if let length = fields.contentLength {
                framing = .contentLength
                if length > 0 { state = .fixedBody(remaining: length) } else { endMessage(emit) }
            } else {
                framing = .closeDelimited
                state = .untilClose
            }
        }
    }

    private mutating func startChunked() {
        framing = .chunked
        state = .chunkSize(value: 0, digits: 0, inExtension: false, lineLength: 0)
    }

    // MARK: - Header fields

    /// The fields of one head that the parser uses, as ranges into the head.
    private struct HeaderFields {
        enum TransferEncoding { case absent, chunked, other }
        var host: Range<Int>?
        var userAgent: Range<Int>?
        var referer: Range<Int>?
        var origin: Range<Int>?
        var contentType: Range<Int>?
        var authorization: Range<Int>?
        var server: Range<Int>?
        var location: Range<Int>?
        var contentLength: Int64?
        var transferEncoding = TransferEncoding.absent
        var count = 0

        /// Records one `name: value` line; returns a reason when it is fatal.
        mutating func add(_ h: UnsafeRawBufferPointer, _ line: Range<Int>) -> HTTPParseError.Reason? {
            var colon = line.lowerBound
            while colon < line.upperBound, h[colon] != 0x3A { colon += 1 }
            guard colon < line.upperBound else { return nil } // not a field line: ignored, as Zeek does
            var nameEnd = colon
            while nameEnd > line.lowerBound, h[nameEnd - 1] == 0x20 || h[nameEnd - 1] == 0x09 { nameEnd -= 1 }
            let name = line.lowerBound..<nameEnd
            var v = colon + 1, ve = line.upperBound
            while v < ve, h[v] == 0x20 || h[v] == 0x09 { v += 1 }
            while ve > v, h[ve - 1] == 0x20 || h[ve - 1] == 0x09 { ve -= 1 }
            let value = v..<ve
            func named(_ s: StaticString) -> Bool { HTTPStreamParser.equalsIgnoringCase(h, name, s) }
            switch name.count {
            case 4 where named("host"): if host == nil { host = value }
            case 6 where named("origin"): origin = value
            case 6 where named("server"): server = value
            case 7 where named("referer"): referer = value
            case 8 where named("location"): location = value
            case 10 where named("user-agent"): userAgent = value
            case 12 where named("content-type"): contentType = value
            case 13 where named("authorization"): authorization = value
            case 14 where named("content-length"):
                guard let length = HTTPStreamParser.contentLength(h, value) else { return .badContentLength }
                if let previous = contentLength, previous != length { return .badContentLength }
                contentLength = length
            case 17 where named("transfer-encoding"):
                // The final coding decides (RFC 9112 §6.3); later fields extend earlier ones.
                var last = value.upperBound
                var first = value.upperBound
                while first > value.lowerBound, h[first - 1] != 0x2C { first -= 1 }
                while first < last, h[first] == 0x20 || h[first] == 0x09 { first += 1 }
                while last > first, h[last - 1] == 0x20 || h[last - 1] == 0x09 { last -= 1 }
                if first == last, value.isEmpty { break }
                transferEncoding = (last - first == 7 && HTTPStreamParser.equalsIgnoringCase(h, first..<last, "chunked"))
                    ? .chunked : .other
            default: break
            }
            return nil
        }
    }

    // MARK: - Byte helpers

    /// A decimal Content-Length (a list of equal values, `5, 5`, is accepted).
    static func contentLength(_ h: UnsafeRawBufferPointer, _ value: Range<Int>) -> Int64? {
        var result: Int64? = nil
        var current: Int64 = 0
        var digits = 0
        var k = value.lowerBound
        while true {
            let atEnd = k == value.upperBound
            let b: UInt8 = atEnd ? 0x2C : h[k]
            if b >= 0x30 && b <= 0x39 {
                digits += 1
                guard digits <= 18 else { return nil }
                current = current * 10 + Int64(b - 0x30)
            } else if b == 0x2C {
                guard digits > 0 else { return nil }
                if let r = result, r != current { return nil }
                result = current
                current = 0
                digits = 0
                if atEnd { return result }
            } else if b == 0x20 || b == 0x09 {
                // whitespace around list elements
            } else {
                return nil
            }
            k += 1
        }
    }

    @inline(__always)
    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: b - 0x30
        case 0x41...0x46: b - 0x37
        case 0x61...0x66: b - 0x57
        default: nil
        }
    }

    /// RFC 9110 `tchar`.
    @inline(__always)
    static func isTokenByte(_ b: UInt8) -> Bool {
        switch b {
        case 0x30...0x39, 0x41...0x5A, 0x61...0x7A: true
        case 0x21, 0x23, 0x24, 0x25, 0x26, 0x27, 0x2A, 0x2B, 0x2D, 0x2E, 0x5E, 0x5F, 0x60, 0x7C, 0x7E: true
        default: false
        }
    }

    static func hasHTTPPrefix(_ h: UnsafeRawBufferPointer, _ at: Int, _ end: Int) -> Bool {
        end - at >= 5 && h[at] == 0x48 && h[at + 1] == 0x54 && h[at + 2] == 0x54 && h[at + 3] == 0x50 && h[at + 4] == 0x2F
    }

    static func equalsIgnoringCase(_ h: UnsafeRawBufferPointer, _ range: Range<Int>, _ lower: StaticString) -> Bool {
        guard range.count == lower.utf8CodeUnitCount else { return false }
        let p = lower.utf8Start
        for (k, i) in range.enumerated() {
            var b = h[i]
            if b >= 0x41 && b <= 0x5A { b |= 0x20 }
            guard b == p[k] else { return false }
        }
        return true
    }

    /// The line `start..<lf` without a trailing CR.
    static func trimLine(_ h: UnsafeRawBufferPointer, _ start: Int, _ lf: Int) -> Range<Int> {
        var e = min(lf, h.count)
        if e > start, h[e - 1] == 0x0D { e -= 1 }
        return start..<max(start, e)
    }

    static func text(_ h: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        TextSink.escapedString(UnsafeRawBufferPointer(rebasing: h[range]))
    }
}
