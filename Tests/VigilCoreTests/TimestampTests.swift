import Testing
@testable import VigilCore
import VigilTestSupport

@Suite struct TimestampTests {
    @Test(arguments: [
        (Int64(0), "1970-01-01T00:00:00Z"),
        (1, "1970-01-01T00:00:00.000000001Z"),
        (1000, "1970-01-01T00:00:00.000001Z"),
        (1_000_000, "1970-01-01T00:00:00.001Z"),
        (1_500_000_000, "1970-01-01T00:00:01.500Z"),
        (1_000_100_000, "1970-01-01T00:00:01.000100Z"),
        (1_123_456_789, "1970-01-01T00:00:01.123456789Z"),
        (-1, "1969-12-31T23:59:59.999999999Z"),
        (-1_000_000_000, "1969-12-31T23:59:59Z"),
        (951_782_400_000_000_000, "2000-02-29T00:00:00Z"),
        (1_714_564_800_250_000_000, "2024-05-01T12:00:00.250Z"),
        (4_102_444_799_000_000_000, "2099-12-31T23:59:59Z"),
        (Int64.max, "2262-04-11T23:47:16.854775807Z"),
        (Int64.min, "1677-09-21T00:12:43.145224192Z"),
    ])
    func formatsAndParsesBack(nanoseconds: Int64, text: String) {
        let t = Timestamp(nanoseconds: nanoseconds)
        #expect(t.rfc3339 == text)
        #expect(t.description == text)
        #expect(Timestamp(rfc3339: text) == t)
        var bytes: [UInt8] = []
        t.appendRFC3339(to: &bytes)
        #expect(bytes == Array(text.utf8))
    }

    @Test(arguments: [
        ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00Z"),
        ("2024-05-01t12:00:00z", "2024-05-01T12:00:00Z"),
        ("2024-05-01 12:00:00Z", "2024-05-01T12:00:00Z"),
        ("2024-05-01T14:30:00+02:30", "2024-05-01T12:00:00Z"),
        ("2024-05-01T14:30:00+0230", "2024-05-01T12:00:00Z"),
        ("2024-05-01T07:00:00-05:00", "2024-05-01T12:00:00Z"),
        ("2024-05-01T00:30:00+01:00", "2024-04-30T23:30:00Z"),
        ("2024-12-31T23:30:00-01:00", "2025-01-01T00:30:00Z"),
        ("2024-05-01T12:00:00.5Z", "2024-05-01T12:00:00.500Z"),
        ("2024-05-01T12:00:00.12Z", "2024-05-01T12:00:00.120Z"),
        ("2024-05-01T12:00:00.1234Z", "2024-05-01T12:00:00.123400Z"),
        ("2024-05-01T12:00:00.000000001Z", "2024-05-01T12:00:00.000000001Z"),
        ("2024-05-01T12:00:00.000Z", "2024-05-01T12:00:00Z"),
        ("2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
        ("2000-02-29T23:59:59.999999999+00:00", "2000-02-29T23:59:59.999999999Z"),
        ("1969-07-20T20:17:40Z", "1969-07-20T20:17:40Z"),
        ("1677-09-21T00:12:43.145224192Z", "1677-09-21T00:12:43.145224192Z"),
        ("2262-04-11T23:47:16.854775807Z", "2262-04-11T23:47:16.854775807Z"),
        ("2262-04-12T01:47:16.854775807+02:00", "2262-04-11T23:47:16.854775807Z"),
    ])
    func parses(text: String, canonical: String) {
        let t = Timestamp(rfc3339: text)
        #expect(t?.rfc3339 == canonical)
        #expect(Timestamp(text) == t)
    }

    @Test(arguments: [
        "", "2024-05-01", "2024-05-01T12:00:00", "2024-05-01T12:00Z", "2024-5-01T12:00:00Z",
        "2023-02-29T00:00:00Z", "2024-02-30T00:00:00Z", "2024-04-31T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-00-01T00:00:00Z", "2024-01-00T00:00:00Z", "2024-01-32T00:00:00Z", "2100-02-29T00:00:00Z",
        "2024-05-01T24:00:00Z", "2024-05-01T23:60:00Z", "2024-05-01T23:59:60Z",
        "2024-05-01T12:00:00.Z", "2024-05-01T12:00:00.1234567890Z", "2024-05-01T12:00:00+24:00",
        "2024-05-01T12:00:00+05:60", "2024-05-01T12:00:00+5:00", "2024-05-01T12:00:00+05:0",
        "2024-05-01T12:00:00+05", "2024-05-01T12:00:00ZZ", "2024-05-01T12:00:00Z ", " 2024-05-01T12:00:00Z",
        "2024-05-01X12:00:00Z", "2024/05/01T12:00:00Z", "2024-05-01T12:00:00,5Z", "0000-01-01T00:00:00Z",
        "2262-04-11T23:47:16.854775808Z", "1677-09-21T00:12:43.145224191Z", "9999-12-31T23:59:59Z",
        "1000-01-01T00:00:00Z", "2024-05-01T12:00:00+05:00:00", "２０24-05-01T12:00:00Z",
    ])
    func rejects(text: String) {
        #expect(Timestamp(rfc3339: text) == nil)
    }

    @Test func civilAlgorithmsAgreeWithCounting() {
        // Walk every day from 1600-01-01 to 2400-12-31 and compare with the closed forms.
        var days = Timestamp.daysFromCivil(year: 1600, month: 1, day: 1)
        for year in Int64(1600)...2400 {
            for month in Int64(1)...12 {
                for day in 1...Timestamp.daysInMonth(year: year, month: month) {
                    #expect(Timestamp.daysFromCivil(year: year, month: month, day: day) == days)
                    let civil = Timestamp.civilFromDays(days)
                    if civil != (year, month, day) {
                        Issue.record("civilFromDays(\(days)) = \(civil), expected \(year)-\(month)-\(day)")
                        return
                    }
                    days += 1
                }
            }
        }
        #expect(Timestamp.daysFromCivil(year: 1970, month: 1, day: 1) == 0)
        #expect(Timestamp.daysFromCivil(year: 2000, month: 3, day: 1) == 11_017)
    }

    @Test func civilComponentsAndInit() {
        let t = Timestamp(year: 2024, month: 2, day: 29, hour: 13, minute: 14, second: 15, nanosecond: 16)
        #expect(t?.rfc3339 == "2024-02-29T13:14:15.000000016Z")
        let c = t!.civil
        #expect(c.year == 2024 && c.month == 2 && c.day == 29 && c.hour == 13 && c.minute == 14 && c.second == 15 && c.nanosecond == 16)
        #expect(Timestamp(year: 2023, month: 2, day: 29) == nil)
        #expect(Timestamp(year: 2024, month: 1, day: 1, hour: 24) == nil)
        #expect(Timestamp(year: 3000, month: 1, day: 1) == nil)
        #expect(Timestamp(secondsSinceEpoch: -1, nanosecond: 5).nanoseconds == -999_999_995)
        #expect(Timestamp(nanoseconds: -1).secondsSinceEpoch == -1)
        #expect(Timestamp(nanoseconds: -1).nanosecondOfSecond == 999_999_999)
        #expect(Timestamp(nanoseconds: 1) > Timestamp(nanoseconds: 0))
    }

    @Test func nowIsPlausible() {
        let a = Timestamp.now()
        let b = Timestamp.now()
        #expect(a <= b)
        #expect(a > Timestamp(year: 2020, month: 1, day: 1)!)
        #expect(a < Timestamp(year: 2200, month: 1, day: 1)!)
    }

    @Test func randomRoundTrip() {
        let seed: UInt64 = 0x7157_0001
        var g = RandomEventGenerator(seed: seed)
        for _ in 0..<20_000 {
            let t = g.timestamp()
            let text = t.rfc3339
            guard Timestamp(rfc3339: text) == t else {
                Issue.record("seed \(seed): \(t.nanoseconds) formatted as \(text) does not parse back")
                return
            }
            // Every timestamp also survives a non-UTC offset.
            let c = t.civil
            if c.year > 1677 && c.year < 2262 {
                var shifted = Array(text.utf8.dropLast())
                let local = Timestamp(nanoseconds: t.nanoseconds + 5 * 3_600_000_000_000 + 30 * 60_000_000_000)
                shifted = Array(local.rfc3339.utf8.dropLast()) + Array("+05:30".utf8)
                let parsed = shifted.withUnsafeBytes { Timestamp(rfc3339: $0) }
                #expect(parsed == t)
            }
        }
    }
}
