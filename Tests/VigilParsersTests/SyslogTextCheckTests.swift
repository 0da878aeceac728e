import Testing
import VigilCore
import VigilParsers
import VigilTestSupport

/// The syslog parser checks a line's UTF-8 once and tells its sub-parser (sshd) so; fields cut
/// from a valid line are stored as they are, fields of an invalid line are repaired per field
/// (U+FFFD) exactly as `String(decoding:as:)` repairs them. The context's reference year follows
/// its reference time.
@Suite struct SyslogTextCheckTests {
    static func parse(_ bytes: [UInt8], context: ParseContext) throws -> Event {
        let parser = try #require(try ParserRegistry.load(directory: repositoryRoot() + "/parsers").parser(named: "syslog"))
        var event = Event()
        try bytes.withUnsafeBytes { try parser.parse($0, into: &event, context: context) }
        return event
    }

    static let context = ParseContext(referenceTime: Timestamp(year: 2026, month: 3, day: 20)!)

    @Test func multibyteTextInAValidLineIsKeptAsIs() throws {
        let line = "Mar  1 10:00:00 hôte sshd[12]: Failed password for invalid user jösé€ from 10.0.0.1 port 22 ssh2"
        let event = try Self.parse(Array(line.utf8), context: Self.context)
        #expect(event["host.hostname"] == .string("hôte"))
        #expect(event["user.name"] == .string("jösé€"))
        #expect(event["message"] == .string("Failed password for invalid user jösé€ from 10.0.0.1 port 22 ssh2"))
        #expect(event["source.port"] == .int(22))
        #expect(event["event.outcome"] == .string("failure"))
    }

    @Test func invalidBytesAreRepairedPerField() throws {
        // A truncated 3-byte sequence in the host name, a stray 0xFF in the user name.
        let head: [UInt8] = Array("Mar  1 10:00:00 h".utf8) + [0xE2, 0x82] + Array(" sshd[12]: Failed password for u".utf8)
        let line = head + [0xFF] + Array("x from 10.0.0.1 port 22 ssh2".utf8)
        let event = try Self.parse(line, context: Self.context)
        #expect(event["host.hostname"] == .string("h\u{FFFD}"))
        #expect(event["user.name"] == .string("u\u{FFFD}x"))
        #expect(event["message"] == .string("Failed password for u\u{FFFD}x from 10.0.0.1 port 22 ssh2"))
        #expect(event["source.ip"] == .ip(IPAddress("10.0.0.1")!))
    }

    @Test func theReferenceYearFollowsTheReferenceTime() throws {
        var context = Self.context
        let line = Array("Mar  1 10:00:00 host sshd[12]: Invalid user a from 10.0.0.1".utf8)
        #expect(try Self.parse(line, context: context)["@timestamp"] == .timestamp(Timestamp(year: 2026, month: 3, day: 1, hour: 10)!))
        context.referenceTime = Timestamp(year: 2019, month: 6, day: 1)!
        #expect(try Self.parse(line, context: context)["@timestamp"] == .timestamp(Timestamp(year: 2019, month: 3, day: 1, hour: 10)!))
        // December read in early January belongs to the year before.
        context.referenceTime = Timestamp(year: 2020, month: 1, day: 2)!
        let december = Array("Dec 31 23:00:00 host sshd[12]: Invalid user a from 10.0.0.1".utf8)
        #expect(try Self.parse(december, context: context)["@timestamp"] == .timestamp(Timestamp(year: 2019, month: 12, day: 31, hour: 23)!))
    }
}

/// RFC 3164 timestamps in the fixed 15-byte layout take a shortcut; it must accept and reject
/// exactly what the general reader does.
@Suite struct RFC3164TimestampLayoutTests {
    static let format = try! TimestampFormat("%b %e %H:%M:%S")
    static let reference = Timestamp(year: 2026, month: 6, day: 15, hour: 12)!

    @Test(arguments: [
        ("Mar  5 09:05:07", Timestamp(year: 2026, month: 3, day: 5, hour: 9, minute: 5, second: 7)),
        ("MAR 05 23:59:59", Timestamp(year: 2026, month: 3, day: 5, hour: 23, minute: 59, second: 59)),
        ("mar 05 23:59:60", Timestamp(year: 2026, month: 3, day: 5, hour: 23, minute: 59, second: 59)),
        ("Dec 31 23:59:59", Timestamp(year: 2025, month: 12, day: 31, hour: 23, minute: 59, second: 59)),
        ("Jun 22 00:00:00", Timestamp(year: 2026, month: 6, day: 22)),
        ("Jun 23 00:00:00", Timestamp(year: 2025, month: 6, day: 23)),
        ("Mar 5 09:05:07", Timestamp(year: 2026, month: 3, day: 5, hour: 9, minute: 5, second: 7)),
        ("Mar  5 09:05:07.25", Timestamp(year: 2026, month: 3, day: 5, hour: 9, minute: 5, second: 7, nanosecond: 250_000_000)),
        ("Feb 30 10:00:00", nil), ("Mar 00 10:00:00", nil), ("Mar  0 10:00:00", nil), ("Mar 1x 10:00:00", nil),
        ("Mar 05 24:00:00", nil), ("Mar 05 23:60:00", nil), ("Mar 32 10:00:00", nil), ("Xyz 05 09:05:07", nil),
        ("Mar 05 0a:00:00", nil), ("Mar 05 00:00:0a", nil), ("Mar\t05 00:00:00", nil),
    ] as [(String, Timestamp?)])
    func layout(text: String, expected: Timestamp?) {
        #expect(Self.format.parse(text, zone: .utc, reference: Self.reference) == expected, "\(text)")
    }
}
