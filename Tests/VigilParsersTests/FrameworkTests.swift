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

    /// The straight-line RFC 3164 reader agrees with the general token loop on valid text, on
    /// every truncation and on single-byte changes of it, in three zones and near a new year.
    @Test func rfc3164FastPathMatchesTheTokenLoop() throws {
        let samples = ["Mar 14 09:12:07", "Dec 31 23:59:60", "jan  1 00:00:00", "Feb 29 12:00:00", "Feb 30 12:00:00",
                       "Mar  4 9:05:07.123456", "Mar 14 09:12:07,5", "Mar 14 09:12:07.", "Mar 14 2024 09:12:07", "Apr 31 01:02:03",
                       "Mar  14 09:12:07", "Mar 14  09:12:07", "Mar 14 24:00:00", "Mar 14 09:60:00", "Mar 0 09:12:07"]
        let zones = [TimeZoneRule.utc, TimeZoneRule("+05:30")!, TimeZoneRule("America/New_York")!]
        // Also around leap days, since the reader with the context's year start computes the day
        // itself.
        let references = [reference, Timestamp(rfc3339: "2027-01-02T00:00:00Z")!, Timestamp(rfc3339: "2024-02-25T00:00:00Z")!,
                          Timestamp(rfc3339: "2025-02-27T00:00:00Z")!, Timestamp(rfc3339: "2100-03-01T00:00:00Z")!]
        for (fastSpec, withYear) in [("%b %e %H:%M:%S", false), ("%b %e %Y %H:%M:%S", true)] {
            let fast = try TimestampFormat(fastSpec)
            let slow = try TimestampFormat(fastSpec, specialize: false)
            var inputs: [String] = []
            for sample in samples {
                let bytes = Array(sample.utf8)
                inputs.append(sample)
                for n in 0..<bytes.count { inputs.append(String(decoding: bytes[..<n], as: UTF8.self)) }
                for k in bytes.indices {
                    for b: UInt8 in [0x20, 0x30, 0x39, 0x3A, 0x2E, 0x41] {
                        var m = bytes
                        m[k] = b
                        inputs.append(String(decoding: m, as: UTF8.self))
                    }
                }
            }
            var parsed = 0
            for text in inputs {
                for zone in zones {
                    for r in references {
                        let a = fast.parse(text, zone: zone, reference: r), b = slow.parse(text, zone: zone, reference: r)
                        #expect(a == b, "\(fastSpec) '\(text)' \(zone): \(String(describing: a)) vs \(String(describing: b))")
                        // As the syslog parser reads it: with the context's reference year and its start.
                        let context = ParseContext(referenceTime: r)
                        var bytes = Array(text.utf8)
                        let c = bytes.withUnsafeMutableBytes {
                            fast.parse(UnsafeRawBufferPointer($0), zone: zone, reference: r, referenceYear: context.referenceYear,
                                       referenceYearStartDays: context.referenceYearStartDays)
                        }
                        #expect(c == b, "\(fastSpec) '\(text)' \(zone) with the context's year: \(String(describing: c)) vs \(String(describing: b))")
                        if a != nil { parsed += 1 }
                    }
                }
            }
            #expect(parsed > (withYear ? 10 : 100))
        }
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
