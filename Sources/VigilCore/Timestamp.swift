#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A point in time as nanoseconds since the Unix epoch (1970-01-01T00:00:00Z), in UTC.
///
/// The calendar is the proleptic Gregorian calendar without leap seconds (POSIX time). The
/// representable range is the range of `Int64` nanoseconds:
/// `1677-09-21T00:12:43.145224192Z` through `2262-04-11T23:47:16.854775807Z`.
///
/// Text form is RFC 3339 in UTC (`2024-05-01T12:00:00.250Z`); see ``rfc3339`` and
/// ``init(rfc3339:)-(UnsafeRawBufferPointer)``. No Foundation is involved.
public struct Timestamp: Sendable, Hashable, Comparable {
    /// Nanoseconds since 1970-01-01T00:00:00Z; negative before the epoch.
    public var nanoseconds: Int64

    /// The timestamp `nanoseconds` after the Unix epoch.
    @inlinable
    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// The timestamp `seconds` (and `nanosecond` of that second) after the Unix epoch.
    ///
    /// - Precondition: the result fits the representable range and `0 <= nanosecond < 1_000_000_000`.
    public init(secondsSinceEpoch seconds: Int64, nanosecond: Int64 = 0) {
        precondition(nanosecond >= 0 && nanosecond < 1_000_000_000, "nanosecond out of range")
        guard let total = Timestamp.combine(seconds: seconds, nanosecond: nanosecond) else {
            preconditionFailure("timestamp out of range")
        }
        self.nanoseconds = total
    }

    /// The timestamp of the given UTC civil time, or `nil` when a component is out of range
    /// (month 13, February 30, hour 24, second 60, …) or the time is not representable.
    public init?(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0, nanosecond: Int = 0) {
        guard (1...9999).contains(year), (1...12).contains(month),
              day >= 1, day <= Int(Timestamp.daysInMonth(year: Int64(year), month: Int64(month))),
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second),
              (0..<1_000_000_000).contains(nanosecond)
        else { return nil }
        let days = Timestamp.daysFromCivil(year: Int64(year), month: Int64(month), day: Int64(day))
        let seconds = days * 86_400 + Int64(hour * 3600 + minute * 60 + second)
        guard let ns = Timestamp.combine(seconds: seconds, nanosecond: Int64(nanosecond)) else { return nil }
        self.nanoseconds = ns
    }

    @inlinable
    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.nanoseconds < rhs.nanoseconds }

    /// The current wall-clock time (`clock_gettime(CLOCK_REALTIME)`).
    public static func now() -> Timestamp {
        var ts = timespec()
        _ = clock_gettime(CLOCK_REALTIME, &ts)
        return Timestamp(nanoseconds: Int64(ts.tv_sec) &* 1_000_000_000 &+ Int64(ts.tv_nsec))
    }

    /// Whole seconds since the epoch, rounded toward negative infinity.
    @inlinable
    public var secondsSinceEpoch: Int64 { split.seconds }

    /// The nanosecond within the second, `0..<1_000_000_000`.
    @inlinable
    public var nanosecondOfSecond: Int64 { split.nanosecond }

    /// `nanoseconds` split into floor seconds and a non-negative nanosecond remainder.
    @inlinable
    var split: (seconds: Int64, nanosecond: Int64) {
        let q = nanoseconds / 1_000_000_000
        let r = nanoseconds % 1_000_000_000
        return r < 0 ? (q - 1, r + 1_000_000_000) : (q, r)
    }

    /// The UTC civil date and time of this timestamp.
    public var civil: (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int) {
        let (seconds, nanosecond) = split
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 { days -= 1; secondOfDay += 86_400 }
        let (y, m, d) = Timestamp.civilFromDays(days)
        return (Int(y), Int(m), Int(d), Int(secondOfDay / 3600), Int(secondOfDay / 60 % 60), Int(secondOfDay % 60), Int(nanosecond))
    }
}

// MARK: - Civil calendar (Howard Hinnant, "chrono-Compatible Low-Level Date Algorithms")

extension Timestamp {
    /// Days since 1970-01-01 of the proleptic Gregorian date `year-month-day` (`days_from_civil`).
    ///
    /// Valid for any date whose day count fits `Int64` comfortably (|year| < 10^15).
    package static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400                                   // [0, 399]
        let mp = month > 2 ? month - 3 : month + 9                // March = 0
        let doy = (153 * mp + 2) / 5 + day - 1                    // [0, 365]
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy           // [0, 146096]
        return era * 146_097 + doe - 719_468
    }

    /// The proleptic Gregorian date of `days` since 1970-01-01 (`civil_from_days`).
    package static func civilFromDays(_ days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097                                          // [0, 146096]
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365    // [0, 399]
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)                    // [0, 365]
        let mp = (5 * doy + 2) / 153                                         // [0, 11]
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// Whether `year` is a Gregorian leap year.
    package static func isLeapYear(_ year: Int64) -> Bool {
        year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    }

    /// The number of days in `month` (1–12) of `year`.
    package static func daysInMonth(year: Int64, month: Int64) -> Int64 {
        switch month {
        case 2: return isLeapYear(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `seconds * 10^9 + nanosecond` (`0 <= nanosecond < 10^9`), or `nil` on overflow.
    package static func combine(seconds: Int64, nanosecond: Int64) -> Int64? {
        // Near the lower end `seconds * 10^9` alone can overflow although the sum fits, so
        // borrow one second first: (s + 1) * 10^9 + (ns - 10^9).
        let (s, ns) = seconds < 0 && nanosecond > 0 ? (seconds + 1, nanosecond - 1_000_000_000) : (seconds, nanosecond)
        let (scaled, o1) = s.multipliedReportingOverflow(by: 1_000_000_000)
        let (total, o2) = scaled.addingReportingOverflow(ns)
        return o1 || o2 ? nil : total
    }
}

// MARK: - RFC 3339 formatting

extension Timestamp: CustomStringConvertible, LosslessStringConvertible {
    /// The longest RFC 3339 text this type writes: `2262-04-11T23:47:16.854775807Z`.
    package static let maximumTextLength = 30

    /// RFC 3339 text in UTC with a `Z` suffix, e.g. `2024-05-01T12:00:00.250Z`.
    ///
    /// The fraction has 0, 3, 6 or 9 digits: the shortest of those that is exact.
    public var rfc3339: String {
        String(unsafeUninitializedCapacity: Timestamp.maximumTextLength) { buffer in
            writeRFC3339(to: buffer.baseAddress!)
        }
    }

    /// Same as ``rfc3339``.
    public var description: String { rfc3339 }

    /// Parses RFC 3339 text; same as ``init(rfc3339:)-(String)``.
    public init?(_ description: String) { self.init(rfc3339: description) }

    /// Appends ``rfc3339`` as UTF-8 to `buffer`, without an intermediate `String`.
    package func appendRFC3339(to buffer: inout [UInt8]) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: Timestamp.maximumTextLength) { scratch in
            let count = writeRFC3339(to: scratch.baseAddress!)
            buffer.append(contentsOf: UnsafeBufferPointer(rebasing: scratch[..<count]))
        }
    }

    /// Writes RFC 3339 text to `out`, which has room for ``maximumTextLength`` bytes; returns the length.
    func writeRFC3339(to out: UnsafeMutablePointer<UInt8>) -> Int {
        let c = civil
        var i = 0
        @inline(__always) func put(_ byte: UInt8) { out[i] = byte; i += 1 }
        @inline(__always) func two(_ v: Int) { put(UInt8(truncatingIfNeeded: 48 + v / 10)); put(UInt8(truncatingIfNeeded: 48 + v % 10)) }
        two(c.year / 100); two(c.year % 100)
        put(UInt8(ascii: "-")); two(c.month)
        put(UInt8(ascii: "-")); two(c.day)
        put(UInt8(ascii: "T")); two(c.hour)
        put(UInt8(ascii: ":")); two(c.minute)
        put(UInt8(ascii: ":")); two(c.second)
        var fraction = c.nanosecond
        if fraction != 0 {
            var digits = 9
            if fraction % 1_000_000 == 0 { fraction /= 1_000_000; digits = 3 }
            else if fraction % 1000 == 0 { fraction /= 1000; digits = 6 }
            put(UInt8(ascii: "."))
            var k = i + digits - 1
            while k >= i { out[k] = UInt8(truncatingIfNeeded: 48 + fraction % 10); fraction /= 10; k -= 1 }
            i += digits
        }
        put(UInt8(ascii: "Z"))
        return i
    }
}

// MARK: - RFC 3339 / ISO 8601 parsing

extension Timestamp {
    /// Parses an RFC 3339 timestamp (or the ISO 8601 profile below) from UTF-8 bytes.
    ///
    /// Accepted: `YYYY-MM-DD`, then `T`, `t` or a space, then `hh:mm:ss`, an optional fraction
    /// `.` followed by 1–9 digits, and a zone: `Z`, `z`, `±hh:mm` or `±hhmm`. A zone is required.
    /// Returns `nil` for anything else, for impossible dates and times (month 13, February 30,
    /// hour 24, minute 60, second 60 — leap seconds are not representable) and for instants
    /// outside the representable range.
    /// - Complexity: O(n), no allocation.
    public init?(rfc3339 bytes: UnsafeRawBufferPointer) {
        guard let ns = Timestamp.parse(bytes) else { return nil }
        self.nanoseconds = ns
    }

    /// Parses RFC 3339 text; see ``init(rfc3339:)-(UnsafeRawBufferPointer)``.
    public init?(rfc3339 text: String) {
        var text = text
        guard let ns = text.withUTF8({ Timestamp.parse(UnsafeRawBufferPointer($0)) }) else { return nil }
        self.nanoseconds = ns
    }

    /// Up to `count` decimal digits at `index`, or `nil` if any is not a digit.
    @inline(__always)
    private static func digits(_ p: UnsafeRawBufferPointer, _ index: Int, _ count: Int) -> Int64? {
        var value: Int64 = 0
        for k in index..<(index + count) {
            let d = p[k] &- 48
            guard d < 10 else { return nil }
            value = value * 10 + Int64(d)
        }
        return value
    }

    static func parse(_ p: UnsafeRawBufferPointer) -> Int64? {
        let n = p.count
        // Shortest form: YYYY-MM-DDThh:mm:ssZ (20 bytes).
        guard n >= 20, n <= 40 else { return nil }
        guard let year = digits(p, 0, 4), p[4] == UInt8(ascii: "-"),
              let month = digits(p, 5, 2), p[7] == UInt8(ascii: "-"),
              let day = digits(p, 8, 2)
        else { return nil }
        let separator = p[10]
        guard separator == UInt8(ascii: "T") || separator == UInt8(ascii: "t") || separator == UInt8(ascii: " "),
              let hour = digits(p, 11, 2), p[13] == UInt8(ascii: ":"),
              let minute = digits(p, 14, 2), p[16] == UInt8(ascii: ":"),
              let second = digits(p, 17, 2)
        else { return nil }
        guard year >= 1, month >= 1, month <= 12, day >= 1, day <= daysInMonth(year: year, month: month),
              hour <= 23, minute <= 59, second <= 59
        else { return nil }

        var i = 19
        var fraction: Int64 = 0
        if p[i] == UInt8(ascii: ".") {
            i += 1
            var count = 0
            while i < n, p[i] &- 48 < 10 {
                guard count < 9 else { return nil }
                fraction = fraction * 10 + Int64(p[i] &- 48)
                count += 1
                i += 1
            }
            guard count > 0 else { return nil }
            for _ in count..<9 { fraction *= 10 }
        }
        guard i < n else { return nil }

        var offsetSeconds: Int64 = 0
        let zone = p[i]
        if zone == UInt8(ascii: "Z") || zone == UInt8(ascii: "z") {
            i += 1
        } else if zone == UInt8(ascii: "+") || zone == UInt8(ascii: "-") {
            let sign: Int64 = zone == UInt8(ascii: "+") ? 1 : -1
            i += 1
            guard n - i >= 4, let oh = digits(p, i, 2) else { return nil }
            i += 2
            if p[i] == UInt8(ascii: ":") { i += 1 }
            guard n - i >= 2, let om = digits(p, i, 2), oh <= 23, om <= 59 else { return nil }
            i += 2
            offsetSeconds = sign * (oh * 3600 + om * 60)
        } else {
            return nil
        }
        guard i == n else { return nil }

        let days = daysFromCivil(year: year, month: month, day: day)
        let seconds = days * 86_400 + hour * 3600 + minute * 60 + second - offsetSeconds
        return combine(seconds: seconds, nanosecond: fraction)
    }
}
