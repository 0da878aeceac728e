import Foundation
import Testing
import VigilCore
import VigilParsers
import VigilTestSupport

@Suite struct ZeekParserTests {
    /// Reads a whole Zeek TSV file through the stateful API: header lines are consumed, every data
    /// line must parse, and every event must already have its schema types.
    static func readFile(_ path: String, parser: ZeekParser = ZeekParser()) throws -> (events: [Event], headers: Int) {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var state = parser.makeState()
        var events: [Event] = []
        var headers = 0
        for (number, line) in text.split(separator: "\n").enumerated() {
            var event = Event()
            var bytes = Array(line.utf8)
            let result: Result<ZeekParser.LineKind, ParseFailure> = bytes.withUnsafeMutableBytes { b in
                Result { () throws(ParseFailure) in try parser.parse(UnsafeRawBufferPointer(b), state: &state, into: &event, context: LogFormatSupport.context) }
            }
            switch result {
            case .success(.header): headers += 1
            case .success(.event):
                let before = event
                try SchemaNormalizer.normalize(&event, context: LogFormatSupport.context)
                #expect(event == before, "\(path):\(number + 1): fields not of their schema types")
                events.append(event)
            case .failure(let f):
                Issue.record("\(path):\(number + 1): \(f.reason)")
            }
        }
        return (events, headers)
    }

    @Test func everySharedZeekLogParses() throws {
        guard let data = sharedDataDirectory() else { print("skipped everySharedZeekLogParses: no shared data"); return }
        let root = data + "/pcap/zeek"
        let cases = try FileManager.default.contentsOfDirectory(atPath: root).sorted()
        var files = 0, events = 0
        for c in cases {
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(c)") else { continue }
            for name in names.sorted() where name.hasSuffix(".log") {
                let (e, headers) = try Self.readFile("\(root)/\(c)/\(name)")
                #expect(headers >= 7, "\(c)/\(name)")
                #expect(!e.isEmpty, "\(c)/\(name)")
                let path = String(name.dropLast(4))
                for event in e { #expect(event["event.dataset"] == .string("zeek.\(path)")) }
                files += 1
                events += e.count
            }
        }
        #expect(files >= 25)
        print("zeek: \(files) shared log files, \(events) events, all lines parsed")
    }

    @Test func connSpotChecks() throws {
        guard let data = sharedDataDirectory() else { print("skipped connSpotChecks: no shared data"); return }
        let (events, _) = try Self.readFile(data + "/pcap/zeek/wikipedia-default/conn.log")
        let first = try #require(events.first)
        #expect(first["@timestamp"] == nil)   // masked ts in the baseline
        #expect(first["zeek.session_id"] == .string("CHhAvVGS1DHFjwGM9"))
        #expect(first["source.ip"] == .ip(IPAddress("141.142.220.202")!))
        #expect(first["source.port"] == .int(5353))
        #expect(first["destination.ip"] == .ip(IPAddress("224.0.0.251")!))
        #expect(first["network.transport"] == .string("udp"))
        #expect(first["network.protocol"] == .string("dns"))
        #expect(first["zeek.conn.state"] == .string("S0"))
        #expect(first["zeek.conn.history"] == .string("D"))
        #expect(first["zeek.conn.local_orig"] == .bool(false))
        #expect(first["zeek.conn.local_resp"] == .bool(true))
        #expect(first["source.packets"] == .int(1))
        #expect(first["destination.packets"] == .int(0))
        #expect(first["event.duration"] == nil)
        #expect(first["source.bytes"] == nil)
        let v6 = events[1]
        #expect(v6["source.ip"] == .ip(IPAddress("fe80::217:f2ff:fed7:cf65")!))
        #expect(v6["network.type"] == .string("ipv6"))
        // Some connection has a duration and byte counts.
        #expect(events.contains { if case .int(let d)? = $0["event.duration"] { d > 0 } else { false } })
        #expect(events.contains { $0["source.bytes"] != nil && $0["destination.bytes"] != nil })
    }

    @Test func dnsHttpSslSshSpotChecks() throws {
        guard let data = sharedDataDirectory() else { print("skipped dnsHttpSslSshSpotChecks: no shared data"); return }
        let root = data + "/pcap/zeek"
        let spf = try #require(Self.readFile(root + "/dns-spf-txt/dns.log").events.last)
        #expect(spf["dns.question.name"] == .string("mail.vladg.net"))
        #expect(spf["dns.response_code"] == .string("NOERROR"))
        #expect(spf["dns.id"] == .string("64161"))
        #expect(spf["dns.header_flags"] == .array(["RA"]))
        #expect(spf["dns.answers"] == .array([
            ["name": "mail.vladg.net", "ttl": 300, "data": "SPF 19 v=spf1 mx -all test"],
            ["name": "mail.vladg.net", "ttl": 300, "data": "SPF 14 v=spf1 mx -all"],
        ]))
        #expect(spf["dns.resolved_ip"] == nil)
        let wiki = try Self.readFile(root + "/wikipedia-default/dns.log").events
        #expect(wiki[1]["dns.answers"] == .array([["name": "gemini._sftp-ssh._tcp.local", "ttl": 120, "data": "gemini.local"]]))
        #expect(wiki[0]["dns.question.type"] == .string("SRV"))
        #expect(wiki[0]["dns.type"] == .string("query"))
        #expect(wiki.contains { $0["dns.resolved_ip"] != nil })

        let http = try #require(Self.readFile(root + "/wikipedia-default/http.log").events.first)
        #expect(http["http.request.method"] == .string("GET"))
        #expect(http["url.domain"] == .string("bits.wikimedia.org"))
        #expect(http["url.original"] == .string("/skins-1.5/monobook/main.css"))
        #expect(http["http.request.referrer"] == .string("http://www.wikipedia.org/"))
        #expect(http["http.version"] == .string("1.1"))
        #expect(http["http.response.status_code"] == .int(304))
        #expect(http["http.request.body.bytes"] == .int(0))
        #expect(http["user_agent.original"]?.plainText.hasPrefix("Mozilla/5.0 (X11; U; Linux x86_64") == true)

        let ssl = try #require(Self.readFile(root + "/tls-sni-gstatic/ssl.log").events.first)
        #expect(ssl["tls.version"] == .string("1.0"))
        #expect(ssl["tls.version_protocol"] == .string("tls"))
        #expect(ssl["tls.cipher"] == .string("TLS_ECDHE_RSA_WITH_RC4_128_SHA"))
        #expect(ssl["tls.curve"] == .string("secp256r1"))
        #expect(ssl["tls.client.server_name"] == .string("ssl.gstatic.com"))
        #expect(ssl["tls.established"] == .bool(true))
        #expect(ssl["tls.resumed"] == .bool(false))
        let ech = try #require(Self.readFile(root + "/tls13-ech/ssl.log").events.first)
        #expect(ech["tls.version"] == .string("1.3"))
        #expect(ech["tls.curve"] == .string("x25519"))

        let ssh = try Self.readFile(root + "/ssh-basic/ssh.log").events
        #expect(ssh.first?["ssh.client"] == .string("SSH-2.0-OpenSSH_5.9"))
        #expect(ssh.first?["ssh.server"] == .string("SSH-2.0-OpenSSH_5.8"))
        #expect(ssh.first?["zeek.ssh.kex_alg"] == .string("ecdh-sha2-nistp256"))
        #expect(ssh.last?["event.outcome"] == .string("success"))

        let weird = try #require(Self.readFile(root + "/http-methods/weird.log").events.first)
        #expect(weird["zeek.weird.name"] != nil)
    }

    @Test func headerStateChangesSeparatorsAndColumns() throws {
        let parser = ZeekParser()
        var state = parser.makeState()
        let lines = [
            "#separator \\x7c", "#set_separator|;", "#empty_field|EMPTY", "#unset_field|NIL", "#path|dns",
            "#fields|ts|query|answers|TTLs|rcode_name", "#types|time|string|vector[string]|vector[interval]|string",
            "1773479527.5|example.com|1.2.3.4;2001:db8::1|60.0;61.5|NIL",
            "1773479528|x\\x7cy|EMPTY|EMPTY|NXDOMAIN",
        ]
        var events: [Event] = []
        for line in lines {
            var event = Event()
            var bytes = Array(line.utf8)
            let kind = try bytes.withUnsafeMutableBytes { b in
                try Result { () throws(ParseFailure) in try parser.parse(UnsafeRawBufferPointer(b), state: &state, into: &event, context: LogFormatSupport.context) }.get()
            }
            if kind == .event { events.append(event) }
        }
        #expect(state.separator == UInt8(ascii: "|"))
        #expect(state.fields == ["ts", "query", "answers", "TTLs", "rcode_name"])
        #expect(events.count == 2)
        #expect(events[0]["dns.resolved_ip"] == .array([.ip(IPAddress("1.2.3.4")!), .ip(IPAddress("2001:db8::1")!)]))
        #expect(events[0]["dns.response_code"] == nil)
        #expect(events[0]["dns.answers"] == .array([
            ["name": "example.com", "type": "A", "ttl": 60, "data": "1.2.3.4"],
            ["name": "example.com", "type": "AAAA", "ttl": 61, "data": "2001:db8::1"],
        ]))
        #expect(events[0]["@timestamp"] == .timestamp(Timestamp(rfc3339: "2026-03-14T09:12:07.5Z")!))
        #expect(events[1]["dns.question.name"] == .string("x|y"))
        #expect(events[1]["dns.answers"] == nil)
        #expect(events[1]["dns.type"] == .string("answer"))
    }

    @Test func statelessPathAndJSON() throws {
        let auto = ZeekParser()
        let header = #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(auto, "#fields\tts") }
        #expect(header?.reason == ZeekParser.headerLineReason)
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(auto, "1.0\tCx") }
        let ssl = try LogFormatSupport.parse(auto, #"{"ts":"2026-03-14T09:12:07.25Z","uid":"C1","id.orig_h":"10.0.0.2","id.orig_p":5555,"id.resp_h":"10.0.0.3","id.resp_p":443,"version":"TLSv12","cipher":"TLS_AES_128_GCM_SHA256","server_name":"a.example","resumed":false,"established":true,"ja3":"aaa","ja3s":"bbb"}"#)
        #expect(ssl["event.dataset"] == .string("zeek.ssl"))
        #expect(ssl["tls.version"] == .string("1.2"))
        #expect(ssl["tls.client.ja3"] == .string("aaa"))
        #expect(ssl["tls.server.ja3s"] == .string("bbb"))
        #expect(ssl["@timestamp"] == .timestamp(Timestamp(rfc3339: "2026-03-14T09:12:07.25Z")!))
        let path = try LogFormatSupport.parse(auto, #"{"_path":"notice","ts":1773479527.0,"note":"SSH::Password_Guessing","msg":"10.0.0.9 appears to be guessing SSH passwords","src":"10.0.0.9","actions":["Notice::ACTION_LOG"]}"#)
        #expect(path["event.kind"] == .string("alert"))
        #expect(path["rule.name"] == .string("SSH::Password_Guessing"))
        #expect(path["source.ip"] == .ip(IPAddress("10.0.0.9")!))
        let nested = try LogFormatSupport.parse(auto, #"{"ts":1.5,"id":{"orig_h":"10.0.0.1","orig_p":1,"resp_h":"10.0.0.2","resp_p":2},"proto":"tcp","conn_state":"REJ"}"#)
        #expect(nested["source.ip"] == .ip(IPAddress("10.0.0.1")!))
        #expect(nested["zeek.conn.state"] == .string("REJ"))
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(auto, #"{"ts":"soon","conn_state":"S0"}"#) }
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(auto, #"{"id.orig_p":"http","conn_state":"S0"}"#) }
        let conn = ZeekParser(log: "conn")
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(conn, "1.0\tC\tnot-an-ip\t1\t10.0.0.1\t2\ttcp\t-\t-\t-\t-\tS0\tF\tF\t0\tS\t1\t40\t0\t0\t-\t6") }
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(conn, "soon\tC\t10.0.0.1\t1\t10.0.0.1\t2\ttcp\t-\t-\t-\t-\tS0\tF\tF\t0\tS\t1\t40\t0\t0\t-\t6") }
        let ok = try LogFormatSupport.parse(conn, "1.0\tC\t10.0.0.1\t1\t10.0.0.1\t2\ttcp\t-\t0.000123\t-\t-\tS0\tF\tF\t0\tS\t1\t40\t0\t0\t-\t6")
        #expect(ok["event.duration"] == .int(123_000))
    }

    @Test func throughput() throws {
        let parser = ZeekParser(log: "conn")
        let line = Array("1773479527.123456\tCHhAvVGS1DHFjwGM9\t141.142.220.202\t5353\t224.0.0.251\t5353\tudp\tdns\t0.001234\t100\t200\tSF\tF\tT\t0\tDd\t1\t73\t1\t90\t-\t17".utf8)
        let n = 10_000
        var ok = 0
        let elapsed = ContinuousClock().measure {
            line.withUnsafeBytes { b in
                for _ in 0..<n {
                    var e = Event()
                    if (try? parser.parse(b, into: &e, context: LogFormatSupport.context)) != nil { ok += 1 }
                }
            }
        }
        #expect(ok == n)
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        print("zeek conn TSV: \(Int(Double(n) / seconds)) lines/s")
    }
}
