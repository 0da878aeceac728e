import Testing
import VigilCore
import VigilParsers
import VigilYAML

@Suite struct FrameworkTests {
    let reference = Timestamp(year: 2026, month: 3, day: 20, hour: 12, minute: 0, second: 0, nanosecond: 0)!

    @Test func jsonParserWithPostStepsAndExamples() throws {
        let registry = try ParserRegistry.load(texts: [("app.yaml", """
            type: json
            options: { mapping: { src: source.ip, port: source.port } }
            post:
              - set: { field: event.dataset, value: app.log }
              - timestamp: { field: when, formats: ["%d/%b/%Y:%H:%M:%S %z", rfc3339] }
              - remove: [junk]
            examples:
              - line: '{"src":"10.0.0.1","port":"22","when":"14/Mar/2026:09:12:07 +0100","junk":1}'
                fields: { source.ip: 10.0.0.1, source.port: 22, "@timestamp": "2026-03-14T08:12:07Z", event.dataset: app.log }
            """)])
        let parser = try #require(registry.parser(named: "app"))
        let example = try #require(parser.examples.first)
        let event = try parser.parse(example.line, context: ParseContext(referenceTime: reference))
        #expect(event["source.ip"] == .ip(IPAddress("10.0.0.1")!))
        #expect(event["source.port"] == .int(22))
        #expect(event["junk"] == nil)
        #expect(event["when"] == nil)
        for (key, value) in example.fields { #expect(event[key]?.plainText == value, "\(key)") }
        #expect(throws: ParseFailure.self) { try parser.parse("{\"src\":\"nope\"}") }
        #expect(throws: ParseFailure.self) { try parser.parse("not json") }
    }

    @Test(arguments: [
        ("type: jsn\n", "p.yaml:1:7: type: unknown parser type 'jsn' (did you mean 'json'?)"),
        ("type: json\npost:\n  - renme: { from: a, to: b }\n", "p.yaml:3:12: post[0].renme: unknown post step 'renme' (did you mean 'rename'?)"),
        ("type: json\nflavour: x\n", "p.yaml:2:1: unknown key 'flavour' at the top level"),
        ("type: json\npost:\n  - timestamp: { field: t, format: \"%Q\" }\n", "unknown directive %Q"),
        ("type: json\npost:\n  - timestamp: { field: t, format: rfc3339, timezone: Mars/Olympus }\n", "unknown time zone 'Mars/Olympus'"),
    ])
    func definitionErrorsArePositioned(text: String, expected: String) throws {
        let error = #expect(throws: YAMLError.self) { try ParserRegistry.load(texts: [("p.yaml", text)]) }
        #expect(error?.description.contains(expected) == true, "\(error?.description ?? "")")
    }

    @Test(arguments: [
        ("%b %e %H:%M:%S", "Mar 14 09:12:07", "2026-03-14T09:12:07Z"),
        ("rfc3164", "Mar  4 09:12:07", "2026-03-04T09:12:07Z"),
        ("rfc3164", "Dec 31 23:59:59", "2025-12-31T23:59:59Z"),     // over 7 days ahead: the year before
        ("rfc3164", "Mar 25 10:00:00", "2026-03-25T10:00:00Z"),     // within 7 days ahead: this year
        ("%d/%b/%Y:%H:%M:%S %z", "14/Mar/2026:09:12:07 -0700", "2026-03-14T16:12:07Z"),
        ("%Y-%m-%d %H:%M:%S", "2026-03-14 09:12:07.250", "2026-03-14T09:12:07.250Z"),
        ("%Y-%m-%dT%H:%M:%S%z", "2026-03-14T09:12:07+05:30", "2026-03-14T03:42:07Z"),
        ("%a %b %d %H:%M:%S %Y", "Sun Dec 04 04:47:44 2005", "2005-12-04T04:47:44Z"),
        ("%m/%d/%Y %I:%M:%S %p", "03/14/2026 09:12:07 PM", "2026-03-14T21:12:07Z"),
        ("unix", "1773479527.5", "2026-03-14T09:12:07.500Z"),
        ("unix_ms", "1773479527250", "2026-03-14T09:12:07.250Z"),
        ("rfc3339", "2026-03-14T09:12:07.123456789Z", "2026-03-14T09:12:07.123456789Z"),
        // Found by libFuzzer (apache_access): a fraction longer than 9 digits trapped; extra digits are dropped.
        ("%Y-%m-%d %H:%M:%S", "2026-03-14 09:12:07.1160200112", "2026-03-14T09:12:07.116020011Z"),
    ])
    func timestampFormats(format: String, text: String, expected: String) throws {
        let f = try TimestampFormat(format)
        #expect(f.parse(text, zone: .utc, reference: reference)?.rfc3339 == expected)
    }

    @Test func timeZonesApplyToLinesWithoutOffsets() throws {
        let f = try TimestampFormat("%Y-%m-%d %H:%M:%S")
        #expect(f.parse("2026-01-14 09:00:00", zone: TimeZoneRule("Europe/Berlin")!, reference: reference)?.rfc3339 == "2026-01-14T08:00:00Z")
        #expect(f.parse("2026-07-14 09:00:00", zone: TimeZoneRule("Europe/Berlin")!, reference: reference)?.rfc3339 == "2026-07-14T07:00:00Z")
        #expect(f.parse("2026-07-14 09:00:00", zone: TimeZoneRule("-05:00")!, reference: reference)?.rfc3339 == "2026-07-14T14:00:00Z")
        #expect(f.parse("2026-02-30 09:00:00", zone: .utc, reference: reference) == nil)
        #expect(f.parse("2026-01-14 09:00:00 trailing", zone: .utc, reference: reference) == nil)
    }
}
