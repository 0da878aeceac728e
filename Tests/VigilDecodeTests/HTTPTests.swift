import Foundation
import Testing
import VigilTestSupport
@testable import VigilDecode

/// Feeds `bytes` to a fresh parser in pieces of the given sizes (cycled), then finishes it.
func httpEvents(_ direction: HTTPStreamParser.Direction, _ bytes: [UInt8], pieces: [Int] = [],
                limits: HTTPStreamParser.Limits = .init(), expecting requests: [HTTPRequestHead] = []) -> [HTTPMessageEvent] {
    var parser = HTTPStreamParser(direction: direction, limits: limits)
    for r in requests { parser.expectResponse(to: r) }
    var events: [HTTPMessageEvent] = []
    bytes.withUnsafeBytes { all in
        if pieces.isEmpty {
            parser.feed(all) { events.append($0) }
        } else {
            var i = 0, k = 0
            while i < all.count {
                let n = min(max(pieces[k % pieces.count], 0), all.count - i)
                parser.feed(UnsafeRawBufferPointer(rebasing: all[i..<(i + n)])) { events.append($0) }
                i += n
                k += 1
            }
        }
    }
    parser.finish { events.append($0) }
    return events
}

/// ByteToMessageDecoderVerifier-style: whole, byte by byte, and in odd pieces give the same events.
func verifiedHTTPEvents(_ direction: HTTPStreamParser.Direction, _ text: String,
                        expecting requests: [HTTPRequestHead] = []) -> [HTTPMessageEvent] {
    let bytes = Array(text.utf8)
    let whole = httpEvents(direction, bytes, expecting: requests)
    #expect(httpEvents(direction, bytes, pieces: [1], expecting: requests) == whole)
    #expect(httpEvents(direction, bytes, pieces: [2, 3, 5, 7, 0, 11], expecting: requests) == whole)
    #expect(httpEvents(direction, bytes, pieces: [bytes.count / 2 + 1], expecting: requests) == whole)
    return whole
}

extension HTTPMessageEvent {
    var request: HTTPRequestHead? { if case .requestHead(let h) = self { h } else { nil } }
    var response: HTTPResponseHead? { if case .responseHead(let h) = self { h } else { nil } }
    var end: HTTPMessageEnd? { if case .messageEnd(let e) = self { e } else { nil } }
    var failure: HTTPParseError? { if case .error(let e) = self { e } else { nil } }
}

@Suite struct HTTPTests {
    @Test func pipelinedRequestsWithBodies() throws {
        let events = verifiedHTTPEvents(.request, """
        \r\nGET /a?x=1 HTTP/1.1\r\nHost: example.com:8080\r\nUser-Agent:  curl/8.0 \r\nReferer: http://r/\r\n\r\n\
        POST /upload HTTP/1.1\r\nhost: h\r\ncontent-length: 5\r\nContent-Type: text/plain\r\n\r\nhello\
        PUT /c HTTP/1.0\r\nTransfer-Encoding: gzip, chunked\r\n\r\n4;ext=1\r\nabcd\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n\
        GET /last HTTP/1.1\r\n\r\n
        """)
        let heads = events.compactMap(\.request)
        #expect(heads.map(\.method) == ["GET", "POST", "PUT", "GET"])
        #expect(heads.map(\.uri) == ["/a?x=1", "/upload", "/c", "/last"])
        #expect(heads.map(\.version) == ["1.1", "1.1", "1.0", "1.1"])
        #expect(heads[0].host == "example.com:8080" && heads[0].userAgent == "curl/8.0" && heads[0].referrer == "http://r/")
        #expect(heads[1].contentType == "text/plain" && heads[1].contentLength == 5 && heads[1].host == "h")
        #expect(heads[2].isChunked)
        let ends = events.compactMap(\.end)
        #expect(ends.map(\.bodyLength) == [0, 5, 14, 0])
        #expect(ends.map(\.framing) == [.none, .contentLength, .chunked, .none])
        #expect(events.compactMap(\.failure).isEmpty)
    }

    @Test func responseFramingFollowsRFC9112() {
        let get = HTTPRequestHead(method: "GET", uri: "/", version: "1.1")
        let head = HTTPRequestHead(method: "HEAD", uri: "/", version: "1.1")
        let events = verifiedHTTPEvents(.response, """
        HTTP/1.1 100 Continue\r\n\r\n\
        HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/html\r\n\r\nabc\
        HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n\
        HTTP/1.1 204 No Content\r\n\r\n\
        HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n\
        HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nxyz\r\n0\r\n\r\n\
        HTTP/1.0 200 OK\r\nServer: s\r\n\r\nuntil close
        """, expecting: [get, head, get, get, get, get])
        let heads = events.compactMap(\.response)
        #expect(heads.map(\.statusCode) == [100, 200, 200, 204, 304, 200, 200])
        #expect(heads.map(\.reason) == ["Continue", "OK", "OK", "No Content", "Not Modified", "OK", "OK"])
        #expect(heads[0].isInformational && heads[1].contentType == "text/html" && heads[6].server == "s")
        let ends = events.compactMap(\.end)
        #expect(ends.map(\.bodyLength) == [0, 3, 0, 0, 0, 3, 11])
        #expect(ends.map(\.framing) == [.none, .contentLength, .none, .none, .none, .chunked, .closeDelimited])
    }

    @Test func tunnelsAndHTTP09() {
        let connect = HTTPRequestHead(method: "CONNECT", uri: "h:443", version: "1.1")
        let events = verifiedHTTPEvents(.response, "HTTP/1.1 200 Connection established\r\n\r\n\u{16}\u{3}\u{1}binary",
                                        expecting: [connect])
        #expect(events.compactMap(\.end).map(\.framing) == [.tunnel])
        #expect(events.compactMap(\.failure).isEmpty)

        let requests = verifiedHTTPEvents(.request, "GET /HTTP/1.1\r\nHost: www.google.com\r\n\r\n")
        let r = requests.compactMap(\.request)
        #expect(r.first?.uri == "/HTTP/1.1" && r.first?.version == "0.9" && r.first?.isHTTP09 == true)
        #expect(r.first?.host == "www.google.com")
        let reply = verifiedHTTPEvents(.response, "HTTP/1.0 400 Bad Request\r\n\r\n<html>", expecting: r)
        #expect(reply.compactMap(\.response).map(\.statusCode) == [0])
        #expect(reply.compactMap(\.end).map(\.bodyLength) == [34])

        let options = verifiedHTTPEvents(.request, "OPTIONS * HTTP/1.1\r\n\r\nOPTIONS HTTP/1.1\r\n\r\nGET /a b HTTP/1.1\r\n\r\n")
        #expect(options.compactMap(\.request).map(\.uri) == ["*", "", "/a b"])
    }

    @Test func malformedInputStopsTheDirection() {
        func firstError(_ d: HTTPStreamParser.Direction, _ s: String, limits: HTTPStreamParser.Limits = .init()) -> HTTPParseError.Reason? {
            let bytes = Array(s.utf8)
            let whole = httpEvents(d, bytes, limits: limits)
            #expect(httpEvents(d, bytes, pieces: [1], limits: limits) == whole)
            #expect(whole.filter { $0.failure != nil }.count <= 1)
            #expect(whole.last?.failure != nil || whole.allSatisfy { $0.failure == nil })
            return whole.compactMap(\.failure).first?.reason
        }
        #expect(firstError(.request, "GET/ HTTP/1.1\r\n\r\n") == .badRequestLine)
        #expect(firstError(.request, "OPTIONSHTTP/1.1\r\n\r\n") == .badRequestLine)
        #expect(firstError(.request, "\u{1}\u{2} / HTTP/1.1\r\n\r\n") == .badRequestLine)
        #expect(firstError(.request, "GET / HTTP/1\r\n\r\n") == .badVersion)
        #expect(firstError(.request, "POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n") == .badContentLength)
        #expect(firstError(.request, "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n") == .badContentLength)
        #expect(firstError(.request, "POST / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n") == .badContentLength)
        #expect(firstError(.request, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n") == .badTransferEncoding)
        #expect(firstError(.request, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n") == .badChunk)
        #expect(firstError(.request, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n") == .badChunk)
        #expect(firstError(.request, "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\n") == .badChunk)
        #expect(firstError(.response, "SSH-2.0-x\r\n\r\n") == .badStatusLine)
        #expect(firstError(.response, "HTTP/1.1 2x0 OK\r\n\r\n") == .badStatusLine)
        let small = HTTPStreamParser.Limits(maximumHeadLength: 64, maximumHeaderCount: 2)
        #expect(firstError(.request, "GET / HTTP/1.1\r\nA: b\r\nC: d\r\nE: f\r\n\r\n", limits: small) == .tooManyHeaders)
        #expect(firstError(.request, "GET /" + String(repeating: "a", count: 100) + " HTTP/1.1\r\n\r\n", limits: small) == .headTooLong)
        // Nothing is reported after the error, even when more valid requests follow.
        let after = httpEvents(.request, Array("BAD\r\n\r\nGET / HTTP/1.1\r\n\r\n".utf8))
        #expect(after.count == 1 && after.first?.failure?.reason == .badRequestLine)
    }

    @Test func randomBytesNeverTrap() {
        var rng = SystemRandomNumberGenerator()
        let alphabet = Array("GET HTTP/1.1 200\r\n:0123456789abcdef;chunked Content-Length Transfer-Encoding".utf8) + [0, 0xFF]
        for _ in 0..<300 {
            let bytes = (0..<Int.random(in: 0..<400, using: &rng)).map { _ in alphabet.randomElement(using: &rng)! }
            for d in [HTTPStreamParser.Direction.request, .response] {
                let whole = httpEvents(d, bytes)
                #expect(httpEvents(d, bytes, pieces: [1, 4, 9]) == whole)
            }
        }
    }

    // MARK: Zeek traces

    @Test(arguments: ["http-get", "http-methods", "http-basic-auth"])
    func agreesWithZeekHTTPLog(_ name: String) throws {
        guard let shared = sharedDataDirectory() else { print("skip: no shared data directory"); return }
        let dir = shared + "/pcap/zeek/" + name
        guard let rows = zeekLogRows(dir + "/http.log") else { print("skip: \(name): no http.log"); return }
        guard let trace = ProtoTrace.read(dir + "/trace.pcap") else { print("skip: \(name): no classic pcap"); return }
        let streams = ProtoTrace.tcpStreams(trace.packets)
        let fields = ["method", "host", "uri", "version", "user_agent", "status_code", "request_body_len", "response_body_len"]
        var matched = 0, perField: [String: Int] = [:]
        // Rows by connection, in trans_depth order.
        var rowsByConnection: [String: [[String: String]]] = [:]
        for row in rows {
            rowsByConnection["\(row["id.orig_h"]!) \(row["id.orig_p"]!) \(row["id.resp_h"]!) \(row["id.resp_p"]!)", default: []].append(row)
        }
        for (connection, expected) in rowsByConnection.sorted(by: { $0.key < $1.key }) {
            let parts = connection.split(separator: " ")
            let reverse = "\(parts[2]) \(parts[3]) \(parts[0]) \(parts[1])"
            let requestBytes = streams[connection] ?? [], responseBytes = streams[reverse] ?? []
            // Request side: whole and byte by byte must agree.
            let requestEvents = httpEvents(.request, requestBytes)
            #expect(httpEvents(.request, requestBytes, pieces: [1]) == requestEvents)
            let requests = requestEvents.compactMap(\.request)
            let responseEvents = httpEvents(.response, responseBytes, expecting: requests)
            #expect(httpEvents(.response, responseBytes, pieces: [1], expecting: requests) == responseEvents)
            let pairs = Self.transactions(requestEvents, responseEvents)
            for (index, row) in expected.enumerated() {
                var got: [String: String] = [:]
                if index < pairs.count {
                    let (request, requestEnd, response, responseEnd) = pairs[index]
                    got["method"] = request?.method ?? "-"
                    got["host"] = request?.host ?? "-"
                    got["uri"] = request.map { $0.uri.isEmpty ? "(empty)" : $0.uri } ?? "-"
                    got["version"] = response?.version ?? request?.version ?? "-"
                    got["user_agent"] = request?.userAgent ?? "-"
                    got["status_code"] = response.map { String($0.statusCode) } ?? "-"
                    got["request_body_len"] = String(requestEnd?.bodyLength ?? 0)
                    got["response_body_len"] = String(responseEnd?.bodyLength ?? 0)
                }
                var all = true
                for f in fields {
                    if got[f] == row[f] { perField[f, default: 0] += 1 } else {
                        all = false
                        print("\(name) \(connection) #\(index + 1) \(f): zeek \(row[f]!) vigil \(got[f] ?? "(none)")")
                    }
                }
                if all { matched += 1 }
            }
        }
        for f in fields { print("\(name) http field \(f): \(perField[f, default: 0])/\(rows.count)") }
        print("HTTP vs Zeek \(name): \(matched)/\(rows.count) http.log rows match on every compared field")
        #expect(matched * 10 >= rows.count * 9)
    }

    /// Request and response messages paired in order; interim (1xx) responses are skipped.
    static func transactions(_ requests: [HTTPMessageEvent], _ responses: [HTTPMessageEvent])
        -> [(HTTPRequestHead?, HTTPMessageEnd?, HTTPResponseHead?, HTTPMessageEnd?)] {
        var reqs: [(HTTPRequestHead, HTTPMessageEnd?)] = []
        for e in requests {
            if let h = e.request { reqs.append((h, nil)) }
            if let end = e.end, !reqs.isEmpty { reqs[reqs.count - 1].1 = end }
        }
        var resps: [(HTTPResponseHead, HTTPMessageEnd?)] = []
        var skipping = false
        for e in responses {
            if let h = e.response { skipping = h.isInformational; if !skipping { resps.append((h, nil)) } }
            if let end = e.end, !skipping, !resps.isEmpty { resps[resps.count - 1].1 = end }
        }
        return (0..<max(reqs.count, resps.count)).map { i in
            (i < reqs.count ? reqs[i].0 : nil, i < reqs.count ? reqs[i].1 : nil,
             i < resps.count ? resps[i].0 : nil, i < resps.count ? resps[i].1 : nil)
        }
    }
}
