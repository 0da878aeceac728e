import Testing
import VigilCore
import VigilParsers

@Suite struct WebAccessParserTests {
    let apache = WebAccessParser(dataset: "apache.access")

    @Test func combinedLogFormat() throws {
        let e = try LogFormatSupport.parse(apache, #"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#)
        #expect(e["source.ip"] == .ip(IPAddress("127.0.0.1")!))
        #expect(e["user.name"] == .string("frank"))
        #expect(e["@timestamp"] == .timestamp(Timestamp(rfc3339: "2000-10-10T20:55:36Z")!))
        #expect(e["http.request.method"] == .string("GET"))
        #expect(e["url.original"] == .string("/apache_pb.gif"))
        #expect(e["url.path"] == .string("/apache_pb.gif"))
        #expect(e["url.query"] == nil)
        #expect(e["http.version"] == .string("1.0"))
        #expect(e["http.response.status_code"] == .int(200))
        #expect(e["http.response.body.bytes"] == .int(2326))
        #expect(e["http.request.referrer"] == .string("http://www.example.com/start.html"))
        #expect(e["user_agent.original"] == .string("Mozilla/4.08 [en] (Win98; I ;Nav)"))
        #expect(e["event.category"] == .array(["web"]))
        #expect(e["event.dataset"] == .string("apache.access"))
    }

    @Test func commonLogFormatWithDashes() throws {
        let e = try LogFormatSupport.parse(apache, #"10.0.0.9 - - [14/Mar/2026:09:12:07 +0000] "HEAD / HTTP/1.1" 304 -"#)
        #expect(e["user.name"] == nil)
        #expect(e["http.response.body.bytes"] == nil)
        #expect(e["http.request.referrer"] == nil)
        #expect(e["http.response.status_code"] == .int(304))
        #expect(e["url.path"] == .string("/"))
    }

    @Test func ipv6HostnamesAndEscapedQuotes() throws {
        let e = try LogFormatSupport.parse(apache, #"2001:db8::1 - "bob smith" [14/Mar/2026:09:12:07 +0200] "GET /q?a=\"x\" HTTP/1.1" 200 5 "-" "agent \"with\" quotes""#)
        #expect(e["source.ip"] == .ip(IPAddress("2001:db8::1")!))
        #expect(e["user.name"] == .string("bob smith"))
        #expect(e["url.original"] == .string(#"/q?a="x""#))
        #expect(e["url.query"] == .string(#"a="x""#))
        #expect(e["user_agent.original"] == .string(#"agent "with" quotes"#))
        #expect(e["@timestamp"] == .timestamp(Timestamp(rfc3339: "2026-03-14T07:12:07Z")!))
        let h = try LogFormatSupport.parse(apache, #"client-7.example.net - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" 200 5"#)
        #expect(h["source.domain"] == .string("client-7.example.net"))
        #expect(h["source.ip"] == nil)
        // A stray unescaped quote inside the user agent (old Apache): the closing quote is the one
        // followed by the end of the line.
        let s = try LogFormatSupport.parse(apache, #"1.2.3.4 - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" 200 5 "-" "evil"agent""#)
        #expect(s["user_agent.original"] == .string(#"evil"agent"#))
    }

    @Test(arguments: [
        #""\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" 400 157 "-" "-""#,
        #""GET" 400 0 "-" "-""#,
        #""GET /a b c HTTP/1.1" 400 0 "-" "-""#,
        #""get / HTTP/1.1" 400 0 "-" "-""#,
    ])
    func malformedRequestLinesAreKept(tail: String) throws {
        let e = try LogFormatSupport.parse(apache, #"203.0.113.5 - - [14/Mar/2026:09:12:07 +0000] "# + tail)
        #expect(e["http.request.method"] == nil)
        #expect(e["url.original"] == nil)
        #expect(e["http.request.raw"] != nil)
        #expect(e["tags"] == .array(["malformed_request"]))
        #expect(e["http.response.status_code"] == .int(400))
    }

    @Test func http09AndAbsoluteTargets() throws {
        let e = try LogFormatSupport.parse(apache, #"1.2.3.4 - - [14/Mar/2026:09:12:07 +0000] "GET /old" 200 5"#)
        #expect(e["http.request.method"] == .string("GET"))
        #expect(e["http.version"] == nil)
        let c = try LogFormatSupport.parse(apache, #"1.2.3.4 - - [14/Mar/2026:09:12:07 +0000] "CONNECT example.com:443 HTTP/1.1" 200 5"#)
        #expect(c["url.original"] == .string("example.com:443"))
        #expect(c["url.path"] == nil)
    }

    @Test func nginxExtraFields() throws {
        let nginx = WebAccessParser(dataset: "nginx.access", extraFields: [
            .init(name: "nginx.request_time", type: .float), .init(name: "nginx.upstream", type: .string), .init(name: "nginx.conn", type: .int),
        ])
        let e = try LogFormatSupport.parse(nginx, #"192.0.2.1 - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8" 0.004 "0.003, 0.001" 17"#)
        #expect(e["nginx.request_time"] == .float(0.004))
        #expect(e["nginx.upstream"] == .string("0.003, 0.001"))
        #expect(e["nginx.conn"] == .int(17))
        #expect(e["event.dataset"] == .string("nginx.access"))
        let missing = try LogFormatSupport.parse(nginx, #"192.0.2.1 - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8" - "-""#)
        #expect(missing["nginx.request_time"] == nil)
        #expect(missing["nginx.upstream"] == nil)
        #expect(throws: ParseFailure.self) {
            try LogFormatSupport.parse(nginx, #"192.0.2.1 - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" 200 612 "-" "curl/8" fast"#)
        }
    }

    @Test(arguments: [
        "", "-", "1.2.3.4", "1.2.3.4 - -", "1.2.3.4 - - [bad time] \"GET / HTTP/1.1\" 200 1",
        #"1.2.3.4 - - [14/Mar/2026:09:12:07 +0000] GET / HTTP/1.1 200 1"#,
        #"1.2.3.4 - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" abc 1"#,
        #"1.2.3.4 - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" 200 1 referrer-unquoted"#,
        #"1.2.3.4 - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1 200 1"#,
        #"bad<host> - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" 200 1"#,
    ])
    func failures(line: String) {
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(apache, line) }
    }

    @Test func throughput() throws {
        let line = Array(#"192.0.2.10 - - [14/Mar/2026:09:12:07 +0100] "GET /api/v1/items?page=2 HTTP/1.1" 200 5120 "https://shop.example/" "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36""#.utf8)
        let n = 10_000
        let clock = ContinuousClock()
        var ok = 0
        let elapsed = clock.measure {
            line.withUnsafeBytes { b in
                for _ in 0..<n {
                    var e = Event()
                    if (try? apache.parse(b, into: &e, context: LogFormatSupport.context)) != nil { ok += 1 }
                }
            }
        }
        #expect(ok == n)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("apache_access: \(Int(Double(n) / seconds)) lines/s (debug build unless -c release)")
    }
}
