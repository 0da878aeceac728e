import Foundation
import Testing
import VigilCore
import VigilParsers
import VigilTestSupport
import VigilYAML

/// The cef, leef, kv, csv, json (query/wrap_in) and asa parser types.
@Suite struct FormatParsersTests {
    static let reference = Timestamp(year: 2026, month: 3, day: 20, hour: 12)!
    static let context = ParseContext(referenceTime: reference)

    static func parser(_ type: String, _ options: String = "") throws -> CompiledParser {
        let text = "type: \(type)\n" + (options.isEmpty ? "" : "options:\n" + options.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n")
        return try #require(try ParserRegistry.load(texts: [("p.yaml", text)]).parser(named: "p"))
    }

    static func fields(_ event: Event) -> [String: String] {
        Dictionary(uniqueKeysWithValues: event.fields.map { ($0.key, $0.value.plainText) })
    }

    /// Every example in this helper's parser files passes (`vigil parsers test` runs the same).
    @Test(arguments: ["cef", "leef", "kv", "csv", "json", "jsonMapQuery", "jsonMapWrappedQuery", "asa"])
    func parserFileExamples(name: String) throws {
        let registry = try ParserRegistry.load(directory: repositoryRoot() + "/parsers")
        let parser = try #require(registry.parser(named: name))
        #expect(parser.examples.count >= 2)
        for example in parser.examples {
            if let error = example.error {
                let failure = #expect(throws: ParseFailure.self, "\(example.origin)") { try parser.parseEvents(example.line, context: Self.context) }
                #expect(failure?.reason.contains(error) == true, "\(example.origin): \(failure?.reason ?? "")")
                continue
            }
            let events = try parser.parseEvents(example.line, context: Self.context)
            let event = try #require(events.first, "\(example.origin)")
            for (key, value) in example.fields {
                #expect(event[key]?.plainText == value, "\(example.origin): \(key) = \(event[key]?.plainText ?? "nil")")
            }
        }
    }

    // MARK: cef

    @Test func cefHeaderEscapesAndExtensions() throws {
        let p = try Self.parser("cef")
        let e = try p.parse(#"CEF:0|Sec\|urity|threat\\manager|1.0|100|detected a \| in packet|Very-High|src=10.0.0.1 act=blocked a \\ dst=1.1.1.1 spt=1232 dpt=443 proto=TCP in=100 out=2000 smac=00:11:22:33:44:55 requestMethod=GET cnt=3"#, context: Self.context)
        #expect(e["cef.device.vendor"] == .string("Sec|urity"))
        #expect(e["cef.device.product"] == .string(#"threat\manager"#))
        #expect(e["cef.name"] == .string("detected a | in packet"))
        #expect(e["event.severity"] == .int(10))
        #expect(e["cef.severity"] == .string("Very-High"))
        #expect(e["event.action"] == .string(#"blocked a \"#))
        #expect(e["source.ip"] == .ip(IPAddress("10.0.0.1")!))
        #expect(e["destination.ip"] == .ip(IPAddress("1.1.1.1")!))
        #expect(e["source.port"] == .int(1232))
        #expect(e["destination.port"] == .int(443))
        #expect(e["network.transport"] == .string("tcp"))
        #expect(e["source.bytes"] == .int(100))
        #expect(e["destination.bytes"] == .int(2000))
        #expect(e["source.mac"] == .string("00:11:22:33:44:55"))
        #expect(e["http.request.method"] == .string("GET"))
        #expect(e["cef.extensions.baseEventCount"] == .int(3))
        #expect(e["cef.version"] == .int(0))
    }

    /// Long extensions (the pairs are counted eight bytes at a time, in batches) keep every pair,
    /// and typed values read from the bytes equal those read from text.
    @Test(arguments: [1, 7, 31, 32, 33, 250, 600])
    func cefLongExtensionsKeepEveryPair(pairs: Int) throws {
        let p = try Self.parser("cef")
        var line = "CEF:0|V|P|1|sig|name|5|"
        for k in 0..<pairs { line += "k\(k)=v=\(k) " }
        line += "spt=+80 dpt=65536 proto=TcP cnt=-12 rt=1773479527000"
        let f = Self.fields(try p.parse(line, context: Self.context))
        for k in 0..<pairs { #expect(f["cef.extensions.k\(k)"] == "v=\(k)", "pair \(k) of \(pairs)") }
        #expect(f["source.port"] == "80")
        #expect(f["destination.port"] == nil && f["cef.extensions.destinationPort"] == "65536")
        #expect(f["network.transport"] == "tcp")
        #expect(f["cef.extensions.baseEventCount"] == "-12")
        #expect(f["@timestamp"] == "2026-03-14T09:12:07Z")
    }

    @Test func cefCustomLabelsTimesAndFallbacks() throws {
        let p = try Self.parser("cef")
        let line = "CEF:0|TestVendor|TestProduct|TestVersion|TestEventClassID|TestName|Low|rt=Feb 09 2015 00:27:43 UTC cn3Label=Test Long "
            + "cn3=9223372036854775807 cfp1=1.234 cfp1Label=Test FP Number smac=00:00:0c:07:ac:00 c6a3=2001:cdba::3257:9652 c6a3Label=Test IPv6 "
            + "cs1Label=Test String cs1=test test test chocolate destinationTranslatedAddress=123.123.123.123 deviceCustomDate1=Feb 06 2015 13:27:43 "
            + "dpt=1234 agt=123.123.0.124 dlat=40.366633 start=1462109351356 end=May 1 2016 09:29:11.356 -0400 src=not-an-ip custom=Text with space "
            + "customLabel=Label with space cs2Label=JSON payload cs2={\"a\": \"b = c\"}"
        let e = try p.parse(line, context: Self.context)
        #expect(e["@timestamp"] == .timestamp(Timestamp(rfc3339: "2015-02-09T00:27:43Z")!))
        #expect(e["event.severity"] == .int(2))
        #expect(e["cef.extensions.Test Long"] == .int(9_223_372_036_854_775_807))
        #expect(e["cef.extensions.Test FP Number"] == .float(1.234))
        #expect(e["cef.extensions.Test IPv6"] == .string("2001:cdba::3257:9652"))
        #expect(e["cef.extensions.Test String"] == .string("test test test chocolate"))
        #expect(e["destination.nat.ip"] == .ip(IPAddress("123.123.123.123")!))
        #expect(e["cef.extensions.deviceCustomDate1"] == .string("Feb 06 2015 13:27:43"))
        #expect(e["destination.port"] == .int(1234))
        #expect(e["destination.geo.location.lat"] == .float(40.366633))
        #expect(e["event.start"] == .timestamp(Timestamp(rfc3339: "2016-05-01T13:29:11.356Z")!))
        #expect(e["event.end"] == .timestamp(Timestamp(rfc3339: "2016-05-01T13:29:11.356Z")!))
        #expect(e["source.ip"] == nil)
        #expect(e["cef.extensions.sourceAddress"] == .string("not-an-ip"))
        #expect(e["cef.extensions.Label with space"] == .string("Text with space"))
        #expect(e["cef.extensions.JSON payload"] == .string("{\"a\": \"b = c\"}"))
        #expect(e["cef.extensions.cs1Label"] == nil)
    }

    @Test func cefSyslogPrefixes() throws {
        let p = try Self.parser("cef")
        let a = try p.parse("2016-04-01T09:29:11.356-0400 CEF:0|Adallom|Adallom|1.0|56fe|ALERT|0|msg=hi suser=a@example.com", context: Self.context)
        #expect(a["@timestamp"] == .timestamp(Timestamp(rfc3339: "2016-04-01T13:29:11.356Z")!))
        #expect(a["user.name"] == .string("a@example.com"))
        let b = try p.parse("<14>CEF:0|Imperva Inc.|SecureSphere|10.0|ABC||High|act=alert dst=17.43.200.42 rt=31 March 2016 13:04:55 cs1= cs1Label=Policy", context: Self.context)
        #expect(b["cef.name"] == .string(""))
        #expect(b["log.syslog.priority"] == .int(14))
        #expect(b["log.syslog.facility.name"] == .string("user"))
        #expect(b["@timestamp"] == .timestamp(Timestamp(rfc3339: "2016-03-31T13:04:55Z")!))
        #expect(b["cef.extensions.Policy"] == nil)
        let c = try p.parse("Mar 21 14:05:02 HHHPVATN1 CEF:0|Cyber-Ark|Vault|7.20|295|Retrieve password|5|fname=Root\\ABC phobos3 - COMP dhost= duser= msg=x", context: Self.context)
        #expect(c["@timestamp"] == .timestamp(Timestamp(rfc3339: "2026-03-21T14:05:02Z")!))
        #expect(c["log.syslog.hostname"] == .string("HHHPVATN1"))
        #expect(c["file.name"] == .string("Root\\ABC phobos3 - COMP"))
        #expect(c["destination.domain"] == nil)
        #expect(throws: ParseFailure.self) { try p.parse("CEF:x|a|b|c|d|e|f|", context: Self.context) }
        #expect(throws: ParseFailure.self) { try p.parse("test test test nonsense", context: Self.context) }
    }

    // MARK: leef

    @Test func leefVersionsAndDelimiters() throws {
        let p = try Self.parser("leef")
        let v1 = try p.parse("<13>Jan 18 11:07:53 host LEEF:1.0|IBM|QRadar|1.0|1|src=10.0.0.1\tdstPort=80\tsrcMAC=00:11:22:33:44:55\tproto=TCP\tdevTime=1558136889428", context: Self.context)
        #expect(v1["leef.version"] == .string("1.0"))
        #expect(v1["source.ip"] == .ip(IPAddress("10.0.0.1")!))
        #expect(v1["destination.port"] == .int(80))
        #expect(v1["network.transport"] == .string("tcp"))
        #expect(v1["@timestamp"] == .timestamp(Timestamp(rfc3339: "2019-05-17T23:48:09.428Z")!))
        #expect(v1["log.syslog.hostname"] == .string("host"))
        let hex = try p.parse("LEEF:2.0|V|P|1|E|x7C|src=10.0.0.2|usrName=bob|sev=11|dst=bad", context: Self.context)
        #expect(hex["source.ip"] == .ip(IPAddress("10.0.0.2")!))
        #expect(hex["user.name"] == .string("bob"))
        #expect(hex["event.severity"] == nil)
        #expect(hex["leef.attributes.sev"] == .string("11"))
        #expect(hex["leef.attributes.dst"] == .string("bad"))
        let caret = try p.parse("LEEF:2.0|V|P|1|E|^|a=1^b=x\\^y^devTime=2024-01-02 03:04:05^devTimeFormat=yyyy-MM-dd HH:mm:ss", context: Self.context)
        #expect(caret["leef.attributes.a"] == .string("1"))
        #expect(caret["leef.attributes.b"] == .string("x\\^y"))
        #expect(caret["@timestamp"] == .timestamp(Timestamp(rfc3339: "2024-01-02T03:04:05Z")!))
        let badTime = try p.parse("LEEF:1.0|V|P|1|E|devTime=yesterday", context: Self.context)
        #expect(badTime["leef.attributes.devTime"] == .string("yesterday"))
        let unsplit = try Self.parser("leef", "split_spaced_pairs: false").parse("LEEF:2.0|V|P|1|E|sev=8 cn1=37", context: Self.context)
        #expect(unsplit["leef.attributes.sev"] == .string("8 cn1=37"))
        #expect(throws: ParseFailure.self) { try p.parse("LEEF:x.y|V|P|1|E|", context: Self.context) }
    }

    // MARK: kv

    @Test func keyValueOptions() throws {
        let p = try Self.parser("kv", """
            pair_separator: ", "
            kv_separator: ":"
            mapping: { ip: source.ip }
            prefix: app.
            include: [ip, user, note]
            """)
        let e = try p.parse("ip:10.0.0.9, user: 'al ice', note:\"a, \\\"b\\\"\", skipped:1", context: Self.context)
        #expect(e["source.ip"] == .ip(IPAddress("10.0.0.9")!))
        #expect(e["app.user"] == .string("al ice"))
        #expect(e["app.note"] == .string("a, \"b\""))
        #expect(e["app.skipped"] == nil)
        let plain = try Self.parser("kv")
        let f = try plain.parse("a=1  b=two\tc= d=\"\" lonely e==x", context: Self.context)
        #expect(Self.fields(f) == ["a": "1", "b": "two", "e": "=x"])
        #expect(throws: ParseFailure.self) { try plain.parse("", context: Self.context) }
        #expect(throws: YAMLError.self) { try Self.parser("kv", "kv_separator: \"\"") }
        #expect(throws: YAMLError.self) { try Self.parser("kv", "separator: x") }
    }

    // MARK: csv

    @Test func csvQuotingAndColumns() throws {
        let p = try Self.parser("csv", "columns: [a, \"-\", b, \"\", c]")
        let e = try p.parse(#"1,skip,"x ""quoted"", y",,"#, context: Self.context)
        #expect(Self.fields(e) == ["a": "1", "b": "x \"quoted\", y"])
        #expect(throws: ParseFailure.self) { try p.parse("1,2,3", context: Self.context) }
        #expect(throws: ParseFailure.self) { try p.parse(#"1,2,"3"x,4,5"#, context: Self.context) }
        let loose = try Self.parser("csv", "columns: [a, b]\nstrict_columns: false\nseparator: tab\ntrim: true\nquote: \"'\"")
        #expect(Self.fields(try loose.parse(" 1 \t 'two\t2' \textra", context: Self.context)) == ["a": "1", "b": "two\t2"])
        #expect(Self.fields(try loose.parse("only", context: Self.context)) == ["a": "only"])
        #expect(throws: YAMLError.self) { try Self.parser("csv", "separator: \",\"") }
        #expect(throws: YAMLError.self) { try Self.parser("csv", "columns: [a]\nseparator: ab") }
    }

    // MARK: json query / wrap_in

    @Test func jsonQueriesSplitDocuments() throws {
        let p = try Self.parser("json", "query: \"$.result.items[*]\"\nmapping: { ip: source.ip }")
        let events = try p.parseEvents(#"{"meta":{"n":"x]}"},"result":{"items":[{"ip":"10.0.0.1","n":1},{"ip":"10.0.0.2","n":{"deep":2}}]}}"#, context: Self.context)
        #expect(events.count == 2)
        #expect(events[0]["source.ip"] == .ip(IPAddress("10.0.0.1")!))
        #expect(events[1]["n.deep"] == .int(2))
        // One record through the single-event API; several are refused rather than dropped.
        #expect(try p.parse(#"{"result":{"items":[{"n":1}]}}"#, context: Self.context)["n"] == .int(1))
        let many = #expect(throws: ParseFailure.self) { try p.parse(#"{"result":{"items":[{"n":1},{"n":2}]}}"#, context: Self.context) }
        #expect(many?.reason.contains("2 records") == true)
        #expect(try p.parseEvents(#"{"other":1}"#, context: Self.context).isEmpty)
        let index = try Self.parser("json", "query: \"$['a b'][-1]\"")
        #expect(try index.parseEvents(#"{"a b":[{"k":1},{"k":2}]}"#, context: Self.context).map { $0["k"] } == [.int(2)])
        let wrapped = try Self.parser("json", "wrap_in: records")
        #expect(try wrapped.parseEvents(#" {"k":1} , {"k":2},"#, context: Self.context).count == 2)
        #expect(throws: ParseFailure.self) { try wrapped.parseEvents(#"{"k":1},[1]"#, context: Self.context) }
        #expect(throws: YAMLError.self) { try Self.parser("json", "query: \"foo\"") }
        #expect(throws: YAMLError.self) { try Self.parser("json", "wrap_in: m\nquery: \"$.other\"") }
        // Plain parsers keep working through parseEvents too.
        #expect(try Self.parser("json").parseEvents(#"{"k":1}"#, context: Self.context).count == 1)
        #expect(try Self.parser("kv").parseEvents("k=1", context: Self.context).count == 1)
    }

    // MARK: asa

    @Test func asaLayouts() throws {
        let p = try Self.parser("asa")
        let icmp = try p.parse("<166>Jan  5 08:52:35 10.22.8.216 %ASA-6-302021: Teardown ICMP connection for faddr 10.22.8.74/0(LOCAL\\user.name) gaddr 10.22.8.205/0 laddr 10.22.8.205/0", context: Self.context)
        #expect(icmp["event.action"] == .string("teardown"))
        #expect(icmp["network.transport"] == .string("icmp"))
        #expect(icmp["source.ip"] == .ip(IPAddress("10.22.8.205")!))
        #expect(icmp["destination.ip"] == .ip(IPAddress("10.22.8.74")!))
        #expect(icmp["cisco.asa.destination_username"] == .string("LOCAL\\user.name"))
        let gre = try p.parse("<163>Aug 05 2016 20:21:04: %ASA-3-106010: Deny inbound protocol 47 src Outside:14.169.120.66 dst Outside:172.18.105.105", context: Self.context)
        #expect(gre["network.transport"] == .string("gre"))
        #expect(gre["network.iana_number"] == .string("47"))
        #expect(gre["@timestamp"] == .timestamp(Timestamp(rfc3339: "2016-08-05T20:21:04Z")!))
        #expect(gre["log.level"] == .string("errors"))
        let ike = try p.parse("%ASA-4-713903: IKE Receiver: Runt ISAKMP packet discarded on Port 500 from 172.30.106.180:57380", context: Self.context)
        #expect(ike["source.ip"] == .ip(IPAddress("172.30.106.180")!))
        #expect(ike["source.port"] == .int(57380))
        let vpn = try p.parse("%ASA-5-713259: Group = 192.168.140.20, IP = 192.168.140.20, Session is being torn down. Reason: Lost Service", context: Self.context)
        #expect(vpn["cisco.asa.group"] == .string("192.168.140.20"))
        #expect(vpn["source.ip"] == .ip(IPAddress("192.168.140.20")!))
        let v6 = try p.parse("%FTD-6-302014: Teardown TCP connection 9 for outside:2001:db8::1/443 to inside:fe80::2/51000 duration 0:00:01 bytes 10 TCP FINs", context: Self.context)
        #expect(v6["observer.product"] == .string("FTD"))
        #expect(v6["source.ip"] == .ip(IPAddress("2001:db8::1")!))
        #expect(v6["destination.port"] == .int(51000))
        #expect(v6["network.bytes"] == .int(10))
        #expect(v6["event.reason"] == .string("TCP FINs"))
        let unknown = try p.parse("%ASA-5-999999: Something new happened", context: Self.context)
        #expect(unknown["message"] == .string("Something new happened"))
        #expect(unknown["event.code"] == .string("999999"))
        let broken = try p.parse("%ASA-6-302014: Teardown TCP connection 488030393 for DMZ-Inside:[10.22.8.10/57109 to Inside-Trunk:10.22.8.128/443 duration 0:05:04 bytes 13541 TCP Reset-O", context: Self.context)
        #expect(broken["source.ip"] == nil)
        #expect(broken["event.code"] == .string("302014"))
    }

    /// Every message id in Metron's ASA sample is covered by a layout (or the IKE layout), and
    /// every sample line yields at least one layout field, except the ones whose text has none.
    @Test func asaSampleCoverage() throws {
        guard let shared = sharedDataDirectory() else { print("skipped asa coverage: no shared data"); return }
        let p = try Self.parser("asa")
        let lines = try MetronParity.lines(shared + "/metron/integration-sample-data/asa/raw/asa_raw")
        var withFields = 0
        var withoutFields: [String] = []
        let headerOnly: Set<String> = ["observer.vendor", "observer.product", "observer.type", "event.code", "log.level", "message", "@timestamp"]
        for line in lines {
            let e = try p.parse(line, context: Self.context)
            if e.fields.contains(where: { !headerOnly.contains($0.key) && !$0.key.hasPrefix("log.syslog.") }) { withFields += 1 }
            else { withoutFields.append(e["event.code"]?.plainText ?? "?") }
        }
        print("asa sample: \(withFields)/\(lines.count) lines with message fields; without: \(withoutFields.sorted())")
        // 752xxx tunnel-manager texts and 713905 hold no addresses; 302014 line 93 is damaged ("DMZ-Inside:[10.22.8.10").
        #expect(Set(withoutFields).isSubset(of: ["752004", "752010", "752012", "752015", "713905", "302014"]))
        #expect(withoutFields.filter { $0 == "302014" }.count <= 1)
    }
}
