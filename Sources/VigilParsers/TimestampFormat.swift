import Foundation
import VigilCore

/// How a text timestamp without its own offset is placed in time.
public enum TimeZoneRule: Sendable, Equatable {
    case utc
    /// A fixed offset east of UTC, in seconds.
    case fixed(seconds: Int)
    /// A named IANA zone (`Europe/Berlin`), with its daylight-saving rules from the system tzdata
    /// (loaded once, when the rule is made).
    case named(String, TimeZone)

    /// Parses `UTC`, `Z`, `+02:00`, `-0530` or an IANA name; nil if the name is unknown.
    public init?(_ text: String) {
        if text == "UTC" || text == "Z" || text == "GMT" { self = .utc; return }
        if let offset = Self.parseOffset(Array(text.utf8)[...]) { self = .fixed(seconds: offset); return }
        guard let zone = TimeZone(identifier: text) else { return nil }
        self = .named(text, zone)
    }

    static func parseOffset(_ b: ArraySlice<UInt8>) -> Int? {
        let a = Array(b)
        guard a.count == 5 || a.count == 6, a[0] == 0x2B || a[0] == 0x2D else { return nil }
        let digits = a.count == 6 ? (a[3] == 0x3A ? [a[1], a[2], a[4], a[5]] : []) : [a[1], a[2], a[3], a[4]]
        guard digits.count == 4, digits.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return nil }
        let h = Int(digits[0] - 0x30) * 10 + Int(digits[1] - 0x30)
        let m = Int(digits[2] - 0x30) * 10 + Int(digits[3] - 0x30)
        guard h <= 23, m <= 59 else { return nil }
        return (a[0] == 0x2D ? -1 : 1) * (h * 3600 + m * 60)
    }

    /// The offset of a zone without daylight saving (`utc`, `fixed`); nil for a named zone.
    @inline(__always)
    var fixedOffset: Int? {
        switch self {
        case .utc: return 0
        case .fixed(let s): return s
        case .named: return nil
        }
    }

    /// Seconds east of UTC in force at the civil time `localSeconds` (seconds since the epoch as if
    /// the local wall clock were UTC).
    func offset(atLocal localSeconds: Int64) -> Int {
        switch self {
        case .utc: return 0
        case .fixed(let s): return s
        case .named(_, let zone):
            // Two passes find the offset valid at the resulting instant (DST edges resolve forward).
            var offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localSeconds)))
            offset = zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(localSeconds - Int64(offset))))
            return offset
        }
    }
}

/// A timestamp layout: a named one (`rfc3339`, `rfc3164`, `unix`, `unix_ms`, `unix_us`, `unix_ns`)
/// or a strftime-style pattern.
///
/// Pattern directives: `%Y` year, `%y` two-digit year (69–99 → 19xx), `%m` month, `%d`/`%e` day,
/// `%H` hour, `%I` 12-hour hour with `%p` AM/PM, `%M` minute, `%S` second, `%f` fraction of 1–9
/// digits (also accepted right after `%S` as `.fff`/`,fff` when the pattern has no `%f`),
/// `%b`/`%h` month abbreviation, `%B` month name, `%a`/`%A` weekday name (checked for shape,
/// ignored), `%z` offset (`Z`, `+hh:mm`, `+hhmm`), `%Z` a zone name of letters (UTC/GMT honoured;
/// others use the parser's zone), `%s` epoch seconds, `%T` = `%H:%M:%S`, `%%` a percent sign.
/// A space matches one or more spaces; any other character matches itself.
///
/// **Lines without a year** (RFC 3164, `%b %e %H:%M:%S`): the year is the reference time's year,
/// unless that puts the timestamp more than 7 days after the reference time, in which case it is
/// the year before (a December line read in January). The reference time is the time of ingest
/// (`ParseContext.referenceTime`). **Lines without an offset** are in the parser's `timezone`
/// (default UTC).
public struct TimestampFormat: Sendable, Equatable {
    enum Token: Sendable, Equatable {
        case literal(UInt8), spaces
        case year4, year2, month, day, hour24, hour12, ampm, minute, second, fraction
        case monthAbbreviation, monthName, weekdayName, offset, zoneName, epochSeconds
    }

    enum Kind: Sendable, Equatable {
        case rfc3339
        case epoch(divisor: Int64)  // 1 = seconds, 1000 = ms, …
        case pattern([Token], hasYear: Bool, hasFraction: Bool)
        /// `%b %e %H:%M:%S` and `%b %e %Y %H:%M:%S` (RFC 3164): the same rules as the token
        /// loop, read by straight-line code because every syslog line has one.
        case bsd(hasYear: Bool)
    }

    let kind: Kind
    public let spec: String

    public init(_ spec: String) throws(ParseFailure) {
        try self.init(spec, specialize: true)
    }

    /// `specialize: false` keeps the general token loop even for the RFC 3164 patterns (tests
    /// compare the two).
    package init(_ spec: String, specialize: Bool) throws(ParseFailure) {
        self.spec = spec
        switch spec {
        case "rfc3339", "iso8601": kind = .rfc3339; return
        case "unix": kind = .epoch(divisor: 1); return
        case "unix_ms": kind = .epoch(divisor: 1_000); return
        case "unix_us": kind = .epoch(divisor: 1_000_000); return
        case "unix_ns": kind = .epoch(divisor: 1_000_000_000); return
        case "rfc3164": kind = Self.compile("%b %e %H:%M:%S", spec: spec); return
        default: break
        }
        var tokens: [Token] = []
        var bytes = Array(spec.utf8)[...]
        while let c = bytes.popFirst() {
            if c == 0x25 {  // %
                guard let d = bytes.popFirst() else { throw ParseFailure("timestamp format '\(spec)' ends with a lone %") }
                switch d {
                case UInt8(ascii: "Y"): tokens.append(.year4)
                case UInt8(ascii: "y"): tokens.append(.year2)
                case UInt8(ascii: "m"): tokens.append(.month)
                case UInt8(ascii: "d"), UInt8(ascii: "e"): tokens.append(.day)
                case UInt8(ascii: "H"): tokens.append(.hour24)
                case UInt8(ascii: "I"): tokens.append(.hour12)
                case UInt8(ascii: "p"): tokens.append(.ampm)
                case UInt8(ascii: "M"): tokens.append(.minute)
                case UInt8(ascii: "S"): tokens.append(.second)
                case UInt8(ascii: "f"): tokens.append(.fraction)
                case UInt8(ascii: "b"), UInt8(ascii: "h"): tokens.append(.monthAbbreviation)
                case UInt8(ascii: "B"): tokens.append(.monthName)
                case UInt8(ascii: "a"), UInt8(ascii: "A"): tokens.append(.weekdayName)
                case UInt8(ascii: "z"): tokens.append(.offset)
                case UInt8(ascii: "Z"): tokens.append(.zoneName)
                case UInt8(ascii: "s"): tokens.append(.epochSeconds)
                case UInt8(ascii: "T"): tokens += [.hour24, .literal(0x3A), .minute, .literal(0x3A), .second]
                case UInt8(ascii: "%"): tokens.append(.literal(0x25))
                default: throw ParseFailure("timestamp format '\(spec)': unknown directive %\(Character(UnicodeScalar(d)))")
                }
            } else if c == 0x20 {
                if tokens.last != .spaces { tokens.append(.spaces) }
            } else {
                tokens.append(.literal(c))
            }
        }
        if specialize && tokens == Self.bsdTokens {
            kind = .bsd(hasYear: false)
        } else if specialize && tokens == Self.bsdYearTokens {
            kind = .bsd(hasYear: true)
        } else {
            kind = .pattern(tokens, hasYear: tokens.contains(.year4) || tokens.contains(.year2) || tokens.contains(.epochSeconds),
                            hasFraction: tokens.contains(.fraction))
        }
    }

    private static let bsdTokens: [Token] = [.monthAbbreviation, .spaces, .day, .spaces, .hour24, .literal(0x3A), .minute, .literal(0x3A), .second]
    private static let bsdYearTokens: [Token] = [.monthAbbreviation, .spaces, .day, .spaces, .year4, .spaces, .hour24, .literal(0x3A),
                                                 .minute, .literal(0x3A), .second]

    private static func compile(_ pattern: String, spec: String) -> Kind {
        // Only called with built-in patterns, which always compile.
        let f = try! TimestampFormat(pattern)
        return f.kind
    }

    /// Parses `text` entirely; nil when it does not match.
    public func parse(_ text: UnsafeRawBufferPointer, zone: TimeZoneRule, reference: Timestamp) -> Timestamp? {
        parse(text, zone: zone, reference: reference, referenceYear: nil)
    }

    /// `parse(_:zone:reference:)` with the reference time's civil year (and the day its January 1
    /// falls on, `Timestamp.daysFromCivil`) already known: the context computes them once, not
    /// per line.
    package func parse(_ text: UnsafeRawBufferPointer, zone: TimeZoneRule, reference: Timestamp, referenceYear: Int?,
                       referenceYearStartDays: Int64? = nil) -> Timestamp? {
        switch kind {
        case .rfc3339:
            return Timestamp(rfc3339: text)
        case .epoch(let divisor):
            return Self.parseEpoch(text, divisor: divisor)
        case .pattern(let tokens, let hasYear, let hasFraction):
            return parsePattern(text, tokens: tokens, hasYear: hasYear, hasFraction: hasFraction, zone: zone, reference: reference,
                                referenceYear: referenceYear)
        case .bsd(let hasYear):
            return parseBSD(text, hasYear: hasYear, zone: zone, reference: reference, referenceYear: referenceYear,
                            referenceYearStartDays: referenceYearStartDays)
        }
    }

    public func parse(_ text: String, zone: TimeZoneRule = .utc, reference: Timestamp = .now()) -> Timestamp? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { parse(UnsafeRawBufferPointer($0), zone: zone, reference: reference) }
    }

    static func parseEpoch(_ text: UnsafeRawBufferPointer, divisor: Int64) -> Timestamp? {
        var i = 0
        var negative = false
        if i < text.count && text[i] == 0x2D { negative = true; i += 1 }
        var whole: Int64 = 0
        var digits = 0
        while i < text.count, text[i] >= 0x30, text[i] <= 0x39 {
            let (m, o1) = whole.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(text[i] - 0x30))
            if o1 || o2 { return nil }
            whole = a; i += 1; digits += 1
        }
        guard digits > 0 else { return nil }
        var fractionNanos: Int64 = 0
        if i < text.count && text[i] == 0x2E {
            i += 1
            var scale: Int64 = 1_000_000_000 / divisor
            var any = false
            while i < text.count, text[i] >= 0x30, text[i] <= 0x39 {
                scale /= 10
                fractionNanos += Int64(text[i] - 0x30) * scale
                i += 1; any = true
            }
            if !any { return nil }
        }
        guard i == text.count else { return nil }
        let perUnit = 1_000_000_000 / divisor
        let (ns, overflow) = whole.multipliedReportingOverflow(by: perUnit)
        if overflow { return nil }
        let total = ns + fractionNanos
        return Timestamp(nanoseconds: negative ? -total : total)
    }

    private static let monthNames: [[UInt8]] = ["january", "february", "march", "april", "may", "june", "july", "august",
                                                "september", "october", "november", "december"].map { Array($0.utf8) }

    /// A cursor over the timestamp text (a struct, so the per-token reads are plain code rather
    /// than closures capturing the position).
    private struct Cursor {
        let t: UnsafeRawBufferPointer
        var i = 0

        init(_ t: UnsafeRawBufferPointer) { self.t = t }

        /// One or more spaces (the `spaces` token).
        @inline(__always)
        mutating func spaces() -> Bool {
            guard i < t.count, t[i] == 0x20 else { return false }
            while i < t.count, t[i] == 0x20 { i += 1 }
            return true
        }

        /// The byte `b`.
        @inline(__always)
        mutating func literal(_ b: UInt8) -> Bool {
            guard i < t.count, t[i] == b else { return false }
            i += 1
            return true
        }

        /// `min`…`max` decimal digits.
        mutating func number(min: Int, max: Int) -> Int? {
            var n = 0, count = 0
            while i < t.count, count < max, t[i] >= 0x30, t[i] <= 0x39 { n = n * 10 + Int(t[i] - 0x30); i += 1; count += 1 }
            return count >= min ? n : nil
        }

        /// A fraction of a second as nanoseconds (digits past the ninth are read and ignored).
        mutating func fraction() -> Int? {
            var n = 0, count = 0
            while i < t.count, t[i] >= 0x30, t[i] <= 0x39 {
                if count < 9 { n = n * 10 + Int(t[i] - 0x30) }
                i += 1; count += 1
            }
            guard count > 0 else { return nil }
            if count < 9 { for _ in count..<9 { n *= 10 } }
            return n
        }

        /// The month (1–12) whose three-letter abbreviation the text continues with (ASCII
        /// case-insensitively), consuming it.
        @inline(__always)
        mutating func monthAbbreviation() -> Int? {
            guard i + 3 <= t.count else { return nil }
            let key = UInt32(Cursor.lower(t[i])) << 16 | UInt32(Cursor.lower(t[i + 1])) << 8 | UInt32(Cursor.lower(t[i + 2]))
            let month: Int
            switch key {
            case 0x6A_616E: month = 1   // jan
            case 0x66_6562: month = 2   // feb
            case 0x6D_6172: month = 3   // mar
            case 0x61_7072: month = 4   // apr
            case 0x6D_6179: month = 5   // may
            case 0x6A_756E: month = 6   // jun
            case 0x6A_756C: month = 7   // jul
            case 0x61_7567: month = 8   // aug
            case 0x73_6570: month = 9   // sep
            case 0x6F_6374: month = 10  // oct
            case 0x6E_6F76: month = 11  // nov
            case 0x64_6563: month = 12  // dec
            default: return nil
            }
            i += 3
            return month
        }

        @inline(__always)
        static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b + 0x20 : b }
    }

    private func parsePattern(_ t: UnsafeRawBufferPointer, tokens: [Token], hasYear: Bool, hasFraction: Bool,
                              zone: TimeZoneRule, reference: Timestamp, referenceYear: Int?) -> Timestamp? {
        var c = Cursor(t)
        var year = 0, month = 1, day = 1, hour = 0, minute = 0, second = 0, nanos = 0
        var pm: Bool? = nil
        var offset: Int? = nil
        var epoch: Int64? = nil

        for token in tokens {
            switch token {
            case .literal(let b):
                guard c.i < t.count, t[c.i] == b else { return nil }
                c.i += 1
            case .spaces:
                guard c.i < t.count, t[c.i] == 0x20 else { return nil }
                while c.i < t.count, t[c.i] == 0x20 { c.i += 1 }
            case .year4: guard let v = c.number(min: 4, max: 4) else { return nil }; year = v
            case .year2: guard let v = c.number(min: 2, max: 2) else { return nil }; year = v < 69 ? 2000 + v : 1900 + v
            case .month: guard let v = c.number(min: 1, max: 2), (1...12).contains(v) else { return nil }; month = v
            case .day:
                if c.i < t.count, t[c.i] == 0x20 { c.i += 1 }  // %e: space-padded
                guard let v = c.number(min: 1, max: 2), (1...31).contains(v) else { return nil }; day = v
            case .hour24: guard let v = c.number(min: 1, max: 2), v <= 23 else { return nil }; hour = v
            case .hour12: guard let v = c.number(min: 1, max: 2), (1...12).contains(v) else { return nil }; hour = v
            case .minute: guard let v = c.number(min: 2, max: 2), v <= 59 else { return nil }; minute = v
            case .second:
                guard let v = c.number(min: 2, max: 2), v <= 60 else { return nil }
                second = min(v, 59)
                if !hasFraction, c.i + 1 < t.count, t[c.i] == 0x2E || t[c.i] == 0x2C, t[c.i + 1] >= 0x30, t[c.i + 1] <= 0x39 {
                    c.i += 1
                    guard let f = c.fraction() else { return nil }
                    nanos = f
                }
            case .fraction: guard let f = c.fraction() else { return nil }; nanos = f
            case .monthAbbreviation:
                guard let m = c.monthAbbreviation() else { return nil }
                month = m
            case .monthName:
                guard let m = c.monthAbbreviation() else { return nil }
                // The rest of the full name (`uary` of January); `may` is complete already.
                let rest = Self.monthNames[m - 1].dropFirst(3)
                guard c.i + rest.count <= t.count else { return nil }
                for b in rest {
                    guard Cursor.lower(t[c.i]) == b else { return nil }
                    c.i += 1
                }
                month = m
            case .weekdayName:
                let start = c.i
                while c.i < t.count, (t[c.i] | 0x20) >= 0x61, (t[c.i] | 0x20) <= 0x7A { c.i += 1 }
                guard c.i - start >= 3 else { return nil }
            case .ampm:
                guard c.i + 2 <= t.count else { return nil }
                let a = Cursor.lower(t[c.i]), m = Cursor.lower(t[c.i + 1])
                guard m == 0x6D, a == 0x61 || a == 0x70 else { return nil }
                pm = a == 0x70; c.i += 2
            case .offset:
                guard c.i < t.count else { return nil }
                if t[c.i] == 0x5A { offset = 0; c.i += 1; break }
                let start = c.i
                c.i += 1
                while c.i < t.count, (t[c.i] >= 0x30 && t[c.i] <= 0x39) || t[c.i] == 0x3A { c.i += 1 }
                guard let o = TimeZoneRule.parseOffset(Array(UnsafeRawBufferPointer(rebasing: t[start..<c.i]))[...]) else { return nil }
                offset = o
            case .zoneName:
                let start = c.i
                while c.i < t.count, (t[c.i] | 0x20) >= 0x61, (t[c.i] | 0x20) <= 0x7A { c.i += 1 }
                guard c.i > start else { return nil }
                let name = String(decoding: UnsafeRawBufferPointer(rebasing: t[start..<c.i]), as: UTF8.self)
                if name == "UTC" || name == "GMT" || name == "Z" { offset = 0 }
            case .epochSeconds:
                guard let v = c.number(min: 1, max: 12) else { return nil }
                epoch = Int64(v)
            }
        }
        guard c.i == t.count else { return nil }
        if let epoch { return Timestamp(nanoseconds: epoch * 1_000_000_000 + Int64(nanos)) }
        if let pm {
            if hour == 12 { hour = pm ? 12 : 0 } else if pm { hour += 12 }
        }
        let civil = Civil(month: month, day: day, hour: hour, minute: minute, second: second, nanosecond: nanos)
        return civil.instant(year: hasYear ? year : nil, offset: offset, zone: zone, reference: reference, referenceYear: referenceYear)
    }

    /// `Mmm[ d]d [yyyy ]hh:mm:ss[.fff]` exactly as the token loop reads `%b %e [%Y ]%H:%M:%S`.
    private func parseBSD(_ t: UnsafeRawBufferPointer, hasYear: Bool, zone: TimeZoneRule, reference: Timestamp,
                          referenceYear: Int?, referenceYearStartDays: Int64? = nil) -> Timestamp? {
        if !hasYear, let civil = Self.fixedBSD(t) {
            if let referenceYear, let referenceYearStartDays, let shift = zone.fixedOffset,
               let candidate = civil.instant(inYear: referenceYear, startingOnDay: referenceYearStartDays, shift: shift),
               candidate.nanoseconds <= reference.nanoseconds + 7 * 86_400 * 1_000_000_000 {
                // The common case: the reference year, in a zone without daylight saving.
                return candidate
            }
            return civil.instant(year: nil, offset: nil, zone: zone, reference: reference, referenceYear: referenceYear)
        }
        var c = Cursor(t)
        guard let month = c.monthAbbreviation(), c.spaces(),
              let day = c.number(min: 1, max: 2), day >= 1, day <= 31, c.spaces() else { return nil }
        var year: Int?
        if hasYear {
            guard let y = c.number(min: 4, max: 4), c.spaces() else { return nil }
            year = y
        }
        guard let hour = c.number(min: 1, max: 2), hour <= 23, c.literal(0x3A),
              let minute = c.number(min: 2, max: 2), minute <= 59, c.literal(0x3A),
              let second = c.number(min: 2, max: 2), second <= 60 else { return nil }
        var nanos = 0
        if c.i + 1 < t.count, t[c.i] == 0x2E || t[c.i] == 0x2C, t[c.i + 1] >= 0x30, t[c.i + 1] <= 0x39 {
            c.i += 1
            guard let f = c.fraction() else { return nil }
            nanos = f
        }
        guard c.i == t.count else { return nil }
        let civil = Civil(month: month, day: day, hour: hour, minute: minute, second: min(second, 59), nanosecond: nanos)
        return civil.instant(year: year, offset: nil, zone: zone, reference: reference, referenceYear: referenceYear)
    }

    /// The usual RFC 3164 layout read at fixed offsets: exactly `Mmm dd hh:mm:ss` or
    /// `Mmm  d hh:mm:ss` (15 bytes, two-digit hour). Anything else is nil and goes through the
    /// general reader, which gives the same result for these texts.
    @inline(__always)
    private static func fixedBSD(_ t: UnsafeRawBufferPointer) -> Civil? {
        guard t.count == 15, t[3] == 0x20, t[6] == 0x20, t[9] == 0x3A, t[12] == 0x3A else { return nil }
        @inline(__always) func digit(_ k: Int) -> Int? {
            let d = t[k] &- 0x30
            return d < 10 ? Int(d) : nil
        }
        var c = Cursor(t)
        guard let month = c.monthAbbreviation(), let d1 = digit(5), let h0 = digit(7), let h1 = digit(8),
              let m0 = digit(10), let m1 = digit(11), let s0 = digit(13), let s1 = digit(14) else { return nil }
        let day: Int
        if t[4] == 0x20 {
            day = d1
        } else {
            guard let d0 = digit(4) else { return nil }
            day = d0 * 10 + d1
        }
        let hour = h0 * 10 + h1, minute = m0 * 10 + m1, second = s0 * 10 + s1
        guard day >= 1, day <= 31, hour <= 23, minute <= 59, second <= 60 else { return nil }
        return Civil(month: month, day: day, hour: hour, minute: minute, second: min(second, 59), nanosecond: 0)
    }

    /// A parsed date and time without its year.
    private struct Civil {
        let month: Int, day: Int, hour: Int, minute: Int, second: Int, nanosecond: Int

        /// The instant in `year`, at `offset` seconds east of UTC or else in `zone`; nil when
        /// the date does not exist (February 30).
        /// The instant in `year`, or when nil, in the reference year, or the one before when
        /// that lands over 7 days after the reference time.
        func instant(year: Int?, offset: Int?, zone: TimeZoneRule, reference: Timestamp, referenceYear: Int?) -> Timestamp? {
            if let year { return instant(year: year, offset: offset, zone: zone) }
            let referenceYear = referenceYear ?? reference.civil.year
            if let candidate = instant(year: referenceYear, offset: offset, zone: zone),
               candidate.nanoseconds <= reference.nanoseconds + 7 * 86_400 * 1_000_000_000 {
                return candidate
            }
            return instant(year: referenceYear - 1, offset: offset, zone: zone)
                ?? instant(year: referenceYear, offset: offset, zone: zone)
        }

        /// `instant(year:offset:zone:)` for a zone `shift` seconds east of UTC, with the day of
        /// January 1 of `year` known: the same result (nil for a date that does not exist).
        @inline(__always)
        func instant(inYear year: Int, startingOnDay startDays: Int64, shift: Int) -> Timestamp? {
            guard year >= 1, year <= 9999, month >= 1, month <= 12, day >= 1, hour >= 0, hour <= 23, minute >= 0,
                  minute <= 59, second >= 0, second <= 59, nanosecond >= 0, nanosecond < 1_000_000_000 else { return nil }
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            let m = Int64(month)
            // Days before the month in a year whose February had 30 days, then corrected.
            var before = (367 * m - 362) / 12
            if m > 2 { before -= leap ? 1 : 2 }
            let monthDays: Int64 = m == 2 ? (leap ? 29 : 28) : (m == 4 || m == 6 || m == 9 || m == 11 ? 30 : 31)
            guard Int64(day) <= monthDays else { return nil }
            let days = startDays + before + Int64(day) - 1
            guard let utc = Timestamp.combine(seconds: days * 86_400 + Int64(hour * 3600 + minute * 60 + second),
                                              nanosecond: Int64(nanosecond)) else { return nil }
            return Timestamp(nanoseconds: utc - Int64(shift) * 1_000_000_000)
        }

        func instant(year: Int, offset: Int?, zone: TimeZoneRule) -> Timestamp? {
            guard let utc = Timestamp(year: year, month: month, day: day, hour: hour, minute: minute, second: second,
                                      nanosecond: nanosecond) else { return nil }
            let shift = offset ?? zone.offset(atLocal: utc.nanoseconds / 1_000_000_000)
            return Timestamp(nanoseconds: utc.nanoseconds - Int64(shift) * 1_000_000_000)
        }
    }
}
