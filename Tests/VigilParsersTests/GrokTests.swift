import Foundation
import Testing
import VigilCore
import VigilParsers
import VigilTestSupport
import VigilYAML

@Suite struct GrokTests {
    static func library() throws -> GrokPatternLibrary {
        try GrokPatternLibrary.load(directory: repositoryRoot() + "/parsers/patterns")
    }

    @Test func everyLibraryPatternCompiles() throws {
        let library = try Self.library()
        #expect(library.patterns.count >= 60)
        for name in library.patterns.keys.sorted() {
            #expect(throws: Never.self, "\(name)") { _ = try GrokParser(patterns: ["%{\(name)}"], library: library) }
        }
    }

    @Test(arguments: [
        ("WORD", "hello_1", true), ("WORD", "two words", false),
        ("NOTSPACE", "a/b?c=d", true), ("INT", "-42", true), ("INT", "4.2", false),
        ("NUMBER", "3.1415", true), ("NUMBER", ".5", true), ("POSINT", "17", true), ("POSINT", "0", false),
        ("NONNEGINT", "0", true), ("BASE10NUM", "+12.", true),
        ("QUOTEDSTRING", "\"a \\\"b\\\" c\"", true), ("QUOTEDSTRING", "'single'", true),
        ("IPV4", "192.168.0.1", true), ("IPV4", "256.1.1.1", false), ("IPV4", "1.2.3", false),
        ("IPV6", "2001:db8::1", true), ("IPV6", "::1", true), ("IPV6", "::", true), ("IPV6", "fe80::217:f2ff:fed7:cf65", true),
        ("IPV6", "::ffff:10.0.0.1", true), ("IPV6", "2001:0db8:0000:0000:0000:ff00:0042:8329", true), ("IPV6", "1:2:3:4:5:6:7:8:9", false),
        ("IP", "10.0.0.1", true), ("IP", "2001:db8:0:1::5", true),
        ("HOSTNAME", "www.example.com", true), ("HOSTNAME", "host-1.example.", true), ("HOSTNAME", "-bad", false),
        ("IPORHOST", "db01", true), ("HOSTPORT", "example.com:8443", true), ("HOSTPORT", "10.0.0.1:22", true),
        ("USER", "john.doe-1", true), ("USERNAME", "svc_backup", true), ("EMAILADDRESS", "a.b+c@example.org", true),
        ("URIPATH", "/a/b.c/d", true), ("URIPARAM", "?x=1&y=%20", true), ("URIPATHPARAM", "/search?q=vigil", true),
        ("URI", "https://user@example.com:8443/a/b?c=d", true), ("URI", "ftp://10.0.0.1/pub", true),
        ("MONTH", "Mar", true), ("MONTH", "September", true), ("MONTH", "Foo", false), ("MONTHNUM", "12", true), ("MONTHNUM", "13", false),
        ("MONTHDAY", "31", true), ("MONTHDAY", "32", false), ("DAY", "Tuesday", true), ("YEAR", "2026", true),
        ("HOUR", "23", true), ("HOUR", "24", false), ("MINUTE", "59", true), ("SECOND", "59.123", true), ("TIME", "09:12:07", true),
        ("DATE_US", "03/14/2026", true), ("DATE_EU", "14.03.2026", true), ("ISO8601_TIMEZONE", "+05:30", true), ("ISO8601_TIMEZONE", "Z", true),
        ("TIMESTAMP_ISO8601", "2026-03-14T09:12:07.123456+00:00", true), ("TIMESTAMP_ISO8601", "2026-03-14 09:12:07", true),
        ("HTTPDATE", "10/Oct/2000:13:55:36 -0700", true), ("SYSLOGTIMESTAMP", "Mar  4 09:12:07", true),
        ("SYSLOGHOST", "mail01", true), ("SYSLOGPROG", "sshd[1234]", true), ("SYSLOGPROG", "cron", true),
        ("LOGLEVEL", "WARNING", true), ("LOGLEVEL", "verbose", false), ("LOGLEVEL", "Error", true),
        ("MAC", "00:1a:2b:3c:4d:5e", true), ("MAC", "001a.2b3c.4d5e", true), ("MAC", "00-1A-2B-3C-4D-5E", true),
        ("UUID", "123e4567-e89b-12d3-a456-426614174000", true), ("UUID", "123e4567-e89b-12d3-a456", false),
        ("PATH", "/var/log/syslog", true), ("PATH", "C:\\Windows\\System32", true),
        ("DATA", "", true), ("GREEDYDATA", "anything at all", true), ("SPACE", "   ", true),
    ] as [(String, String, Bool)])
    func patternsMatch(name: String, text: String, matches: Bool) throws {
        let parser = try GrokParser(patterns: ["%{\(name):x}"], library: Self.library(), anchor: .full)
        let result = Result { () throws(ParseFailure) in try LogFormatSupport.parse(parser, text) }
        switch result {
        case .success(let event):
            #expect(matches, "\(name) should not match '\(text)'")
            if !text.isEmpty { #expect(event["x"] == .string(text)) }
        case .failure:
            #expect(!matches, "\(name) should match '\(text)'")
        }
    }

    @Test func capturesTypesAndFirstMatchWins() throws {
        let parser = try GrokParser(patterns: [
            "%{IP:source.ip} %{WORD:http.request.method} %{URIPATHPARAM:url.original} %{NUMBER:http.response.body.bytes:int} %{NUMBER:duration:float}",
            "%{IP:source.ip} %{GREEDYDATA:message}",
        ], library: Self.library())
        let e = try LogFormatSupport.parse(parser, "55.3.244.1 GET /index.html 15824 0.043")
        #expect(e["source.ip"] == .string("55.3.244.1"))
        #expect(e["http.request.method"] == .string("GET"))
        #expect(e["url.original"] == .string("/index.html"))
        #expect(e["http.response.body.bytes"] == .int(15824))
        #expect(e["duration"] == .float(0.043))
        #expect(e["message"] == nil)
        let f = try LogFormatSupport.parse(parser, "55.3.244.1 something else")
        #expect(f["message"] == .string("something else"))
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(parser, "nope") }
    }

    @Test func libraryPatternsCanCaptureThemselves() throws {
        let parser = try GrokParser(patterns: ["%{SYSLOGBASE} %{GREEDYDATA:message}"], library: Self.library())
        let e = try LogFormatSupport.parse(parser, "Mar 14 09:12:07 bastion sshd[4711]: Accepted publickey for root")
        #expect(e["host.hostname"] == .string("bastion"))
        #expect(e["process.name"] == .string("sshd"))
        #expect(e["process.pid"] == .int(4711))
        #expect(e["message"] == .string("Accepted publickey for root"))
        #expect(e["timestamp"] == .string("Mar 14 09:12:07"))
    }

    @Test func inlineNamedCapturesAndBracketFields() throws {
        let parser = try GrokParser(patterns: [#"(?<user.name>[a-z]+) from %{IP:[source][ip]}"#], library: Self.library())
        let e = try LogFormatSupport.parse(parser, "alice from 10.0.0.1")
        #expect(e["user.name"] == .string("alice"))
        #expect(e["source.ip"] == .string("10.0.0.1"))
    }

    @Test func anchors() throws {
        let lib = try Self.library()
        let line = "prefix 10.0.0.1 suffix"
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(try GrokParser(patterns: ["%{IP:ip}"], library: lib, anchor: .full), line) }
        #expect(throws: ParseFailure.self) { try LogFormatSupport.parse(try GrokParser(patterns: ["%{IP:ip}"], library: lib, anchor: .start), line) }
        let e = try LogFormatSupport.parse(try GrokParser(patterns: ["%{IP:ip}"], library: lib, anchor: .none), line)
        #expect(e["ip"] == .string("10.0.0.1"))
        let s = try LogFormatSupport.parse(try GrokParser(patterns: ["%{WORD:w}"], library: lib, anchor: .start), line)
        #expect(s["w"] == .string("prefix"))
    }

    @Test func longLinesAreRefusedBeforeMatching() throws {
        // (a+)+$ backtracks exponentially on "aaaa…b"; the line bound keeps the cost fixed.
        let parser = try GrokParser(patterns: ["(?:a+)+$"], library: Self.library(), anchor: .none, maxLineBytes: 64)
        let failure = #expect(throws: ParseFailure.self) {
            try LogFormatSupport.parse(parser, String(repeating: "a", count: 100) + "b")
        }
        #expect(failure?.reason.contains("max_line_bytes") == true)
    }

    @Test(arguments: [
        ("options: { patterns: [\"%{IPP:x}\"] }", "p.yaml:2:23: options.patterns[0]: unknown grok pattern 'IPP' (did you mean 'IP'?)"),
        ("options:\n  patterns: [\"%{A:x}\"]\n  pattern_definitions: { A: \"%{B}\", B: \"x%{A}\" }", "p.yaml:4:40: options.pattern_definitions.B: grok patterns refer to each other in a cycle: A → B → A"),
        ("options: { patterns: [\"%{WORD:x:bool}\"] }", "unknown capture type 'bool'"),
        ("options: { patterns: [\"(unclosed\"] }", "p.yaml:2:23: options.patterns[0]: invalid regex"),
        ("options: { patterns: [\"%{WORD\"] }", "'%{' without a closing '}'"),
        ("options: { patterns: [x], anchor: middle }", "p.yaml:2:35"),
        ("options: { patterns: [x], max_line_byte: 1 }", "unknown key 'max_line_byte'"),
        ("options: { patterns: [] }", "at least one pattern"),
    ])
    func loadErrorsArePositioned(options: String, expected: String) throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.path + "/patterns", withIntermediateDirectories: true)
        try "IP [0-9.]+\nWORD \\w+\n".write(toFile: dir.path + "/patterns/base", atomically: true, encoding: .utf8)
        let error = #expect(throws: YAMLError.self) {
            try ParserRegistry.load(texts: [("p.yaml", "type: grok\n" + options + "\n")], directory: dir.path)
        }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "no error")")
    }

    @Test func patternFileErrors() throws {
        var lib = GrokPatternLibrary()
        #expect(throws: YAMLError.self) { try lib.add(text: "GOOD x\nbad-name y\n", file: "f") }
        let dup = #expect(throws: YAMLError.self) { try lib.add(text: "A x\n# c\n\nA y\n", file: "f") }
        #expect(dup?.description == "f:4:1: grok pattern A is already defined at f:1")
    }

    /// Every example in the configs this branch ships (grok, web, Zeek, EVE) parses as documented.
    @Test(arguments: ["grok_example", "apache_access", "nginx_access", "zeek", "zeek_conn", "eve"])
    func shippedExamples(name: String) throws {
        let registry = try LogFormatSupport.registry.get()
        let parser = try #require(registry.parser(named: name))
        #expect(!parser.examples.isEmpty)
        for example in parser.examples {
            if let expected = example.error {
                let failure = #expect(throws: ParseFailure.self, "\(example.origin)") { try parser.parse(example.line, context: LogFormatSupport.context) }
                #expect(failure?.reason.contains(expected) == true, "\(example.origin): \(failure?.reason ?? "")")
                continue
            }
            let event = try parser.parse(example.line, context: LogFormatSupport.context)
            for (key, value) in example.fields {
                #expect(event[key]?.plainText == value, "\(example.origin) \(key): \(event[key]?.plainText ?? "missing")")
            }
        }
    }
}

extension GrokTests {
    @Test func throughput() throws {
        let parser = try GrokParser(patterns: ["%{IPORHOST:source.address} %{USER:ident} %{USER:user.name} \\[%{HTTPDATE:ts}\\] \"%{WORD:m} %{URIPATHPARAM:u} HTTP/%{NUMBER:v}\" %{INT:s:int} %{NUMBER:b:int}"],
                                    library: Self.library(), anchor: .full)
        let line = Array(#"10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a/b/c?d=1 HTTP/1.1" 200 2326"#.utf8)
        let n = 2_000
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
        print("grok (common log pattern): \(Int(Double(n) / seconds)) lines/s")
    }
}
