import VigilCore

// Byte helpers and the optional syslog header shared by the cef, leef, kv, csv and asa parsers.
// Everything works on borrowed bytes with explicit, bounds-checked indices; nothing traps.

/// Byte-level helpers for the text formats (cef, leef, kv, csv, asa).
enum FormatBytes {
    static let space: UInt8 = 0x20, tab: UInt8 = 0x09, backslash: UInt8 = 0x5C, pipe: UInt8 = 0x7C
    static let equals: UInt8 = 0x3D, colon: UInt8 = 0x3A, quote: UInt8 = 0x22, lessThan: UInt8 = 0x3C, greaterThan: UInt8 = 0x3E

    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    @inline(__always) static func isLetter(_ c: UInt8) -> Bool { (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7A }
    @inline(__always) static func isBlank(_ c: UInt8) -> Bool { c == space || c == tab }
    /// Characters of an extension/attribute key: letters, digits, `_`, `.`, `-`.
    @inline(__always) static func isKeyByte(_ c: UInt8) -> Bool { isLetter(c) || isDigit(c) || c == 0x5F || c == 0x2E || c == 0x2D }

    /// The bytes of `range` as a `String` (invalid UTF-8 is repaired with U+FFFD).
    @inline(__always) static func string(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: b[range]), as: UTF8.self)
    }

    /// Bit 7 of each byte of the result is set where `w` has a zero byte (exact: no false
    /// positives, unlike the shorter borrow trick).
    @inline(__always) static func zeroBytes(_ w: UInt64) -> UInt64 {
        let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        return ~(((w & low7) &+ low7) | w | low7)
    }

    /// How many bytes of `b[range]` equal `byte` (eight at a time).
    static func count(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, _ byte: UInt8) -> Int {
        guard let base = b.baseAddress, range.lowerBound >= 0, range.upperBound <= b.count else { return 0 }
        let pattern = UInt64(byte) &* 0x0101_0101_0101_0101
        var i = range.lowerBound, n = 0
        while range.upperBound - i >= 8 {
            // Per-byte counts (0 or 1 per word) summed in the byte lanes, then added up across
            // the lanes into the top byte: at most 31 words at a time, so that the total (at
            // most 8 × 31 = 248) fits a byte.
            var lanes: UInt64 = 0
            var words = 0
            while words < 31, range.upperBound - i >= 8 {
                lanes &+= zeroBytes(base.loadUnaligned(fromByteOffset: i, as: UInt64.self) ^ pattern) >> 7
                i += 8
                words += 1
            }
            n += Int((lanes &* 0x0101_0101_0101_0101) >> 56)
        }
        while i < range.upperBound {
            if b[i] == byte { n += 1 }
            i += 1
        }
        return n
    }

    /// The first index in `range` of a byte equal to `x` or `y`, or `range.upperBound`.
    @inline(__always)
    static func firstIndex(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, _ x: UInt8, _ y: UInt8) -> Int {
        guard let base = b.baseAddress, range.lowerBound >= 0, range.upperBound <= b.count else { return range.upperBound }
        let px = UInt64(x) &* 0x0101_0101_0101_0101, py = UInt64(y) &* 0x0101_0101_0101_0101
        var i = range.lowerBound
        while range.upperBound - i >= 8 {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let hits = zeroBytes(w ^ px) | zeroBytes(w ^ py)
            if hits != 0 { return i + hits.trailingZeroBitCount >> 3 }
            i += 8
        }
        while i < range.upperBound {
            if b[i] == x || b[i] == y { return i }
            i += 1
        }
        return range.upperBound
    }

    /// Whether `b[range]` holds `byte`.
    @inline(__always) static func contains(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, _ byte: UInt8) -> Bool {
        for i in range where b[i] == byte { return true }
        return false
    }

    /// `range` without leading and trailing spaces and tabs.
    static func trimmed(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Range<Int> {
        var lo = range.lowerBound, hi = range.upperBound
        while lo < hi, isBlank(b[lo]) { lo += 1 }
        while hi > lo, isBlank(b[hi - 1]) { hi -= 1 }
        return lo..<hi
    }

    /// A decimal integer filling `range` exactly (optional leading `-` or `+`); nil on overflow.
    static func int(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        var i = range.lowerBound
        var negative = false
        if i < range.upperBound, b[i] == 0x2D || b[i] == 0x2B { negative = b[i] == 0x2D; i += 1 }
        guard i < range.upperBound else { return nil }
        var value: Int64 = 0
        while i < range.upperBound {
            let c = b[i]
            guard isDigit(c) else { return nil }
            let (m, o1) = value.multipliedReportingOverflow(by: 10)
            let (a, o2) = m.addingReportingOverflow(Int64(c - 0x30))
            if o1 || o2 { return nil }
            value = a
            i += 1
        }
        return negative ? -value : value
    }

    /// A port number (0…65535) filling `range` exactly.
    static func port(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> Int64? {
        guard range.count <= 5, let v = int(b, range), v >= 0, v <= 65535, b[range.lowerBound] != 0x2D, b[range.lowerBound] != 0x2B else { return nil }
        return v
    }

    /// An IP address filling `range` exactly.
    @inline(__always) static func ip(_ b: UnsafeRawBufferPointer, _ range: Range<Int>) -> IPAddress? {
        guard !range.isEmpty, range.count <= 45 else { return nil }
        return IPAddress(parsing: UnsafeRawBufferPointer(rebasing: b[range]))
    }

    /// Whether `b[at...]` starts with `literal`.
    @inline(__always) static func hasPrefix(_ b: UnsafeRawBufferPointer, at: Int, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard at >= 0, at + n <= b.count else { return false }
        let p = literal.utf8Start
        for k in 0..<n where b[at + k] != p[k] { return false }
        return true
    }

    /// The first position at or after `from` (and before `end`) where `literal` starts.
    static func find(_ b: UnsafeRawBufferPointer, _ literal: StaticString, from: Int, end: Int) -> Int? {
        let n = literal.utf8CodeUnitCount
        guard n > 0 else { return from }
        let first = literal.utf8Start[0]
        var i = from
        while i + n <= end {
            if b[i] == first && hasPrefix(b, at: i, literal) { return i }
            i += 1
        }
        return nil
    }

    /// The text of `range` with backslash escapes decoded: `\\` and every character in
    /// `simple` stand for themselves, `\n` and `\r` (when `controls`) for LF and CR; any other
    /// backslash is kept as written.
    static func unescaped(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, simple: StaticString, controls: Bool) -> String {
        var hasBackslash = false
        for i in range where b[i] == backslash { hasBackslash = true; break }
        if !hasBackslash { return string(b, range) }
        var out: [UInt8] = []
        out.reserveCapacity(range.count)
        var i = range.lowerBound
        let s = simple.utf8Start, sn = simple.utf8CodeUnitCount
        while i < range.upperBound {
            let c = b[i]
            if c == backslash, i + 1 < range.upperBound {
                let d = b[i + 1]
                var handled = true
                if d == backslash { out.append(backslash) }
                else if controls && d == 0x6E { out.append(0x0A) }
                else if controls && d == 0x72 { out.append(0x0D) }
                else {
                    handled = false
                    for k in 0..<sn where s[k] == d { out.append(d); handled = true; break }
                }
                if handled { i += 2; continue }
            }
            out.append(c)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// The syslog header some senders put before a CEF, LEEF or ASA message: an optional `<PRI>`,
/// an optional timestamp (RFC 3164 `Mmm dd HH:mm:ss`, the Cisco form with a year
/// `Mmm dd yyyy HH:mm:ss`, either followed by an optional `:`, or an RFC 3339 instant) and an
/// optional host name. Text it does not recognize is ignored.
struct EmbeddedSyslogPrefix {
    var priority: Int?
    var timestamp: Timestamp?
    var hostname: Range<Int>?

    private static let withYear = try? TimestampFormat("%b %e %Y %H:%M:%S")
    private static let withoutYear = try? TimestampFormat("%b %e %H:%M:%S")

    /// Reads the header from `b[range]` (the bytes before the payload marker).
    static func parse(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, zone: TimeZoneRule, reference: Timestamp) -> EmbeddedSyslogPrefix {
        var prefix = EmbeddedSyslogPrefix()
        var i = range.lowerBound
        let end = range.upperBound
        if i < end, b[i] == FormatBytes.lessThan {
            var j = i + 1, value = 0
            while j < end, j - i <= 4, FormatBytes.isDigit(b[j]) { value = value * 10 + Int(b[j] - 0x30); j += 1 }
            if j < end, b[j] == FormatBytes.greaterThan, j > i + 1, value <= 191 {
                prefix.priority = value
                i = j + 1
            }
        }
        while i < end, FormatBytes.isBlank(b[i]) { i += 1 }
        guard i < end else { return prefix }
        if FormatBytes.isDigit(b[i]) {
            // RFC 3339 / ISO 8601 instant up to the next space.
            var j = i
            while j < end, b[j] != FormatBytes.space { j += 1 }
            var k = j
            if k > i, b[k - 1] == FormatBytes.colon { k -= 1 }
            if let t = Timestamp(rfc3339: UnsafeRawBufferPointer(rebasing: b[i..<k])) {
                prefix.timestamp = t
                i = j
            } else {
                return prefix
            }
        } else if FormatBytes.isLetter(b[i]), let (stamp, next) = rfc3164Time(b, i, end, zone: zone, reference: reference) {
            prefix.timestamp = stamp
            i = next
        }
        while i < end, FormatBytes.isBlank(b[i]) { i += 1 }
        var j = i
        while j < end, !FormatBytes.isBlank(b[j]) { j += 1 }
        var hostEnd = j
        if hostEnd > i, b[hostEnd - 1] == FormatBytes.colon { hostEnd -= 1 }
        if hostEnd > i { prefix.hostname = i..<hostEnd }
        return prefix
    }

    /// `Mmm dd [yyyy ]HH:mm:ss[.fff][:]` starting at `i`: the instant and the index after it.
    private static func rfc3164Time(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int, zone: TimeZoneRule,
                                    reference: Timestamp) -> (Timestamp, Int)? {
        var i = start
        func skipSpaces() { while i < end, b[i] == FormatBytes.space { i += 1 } }
        func digits(max: Int) -> Int {
            let s = i
            while i < end, i - s < max, FormatBytes.isDigit(b[i]) { i += 1 }
            return i - s
        }
        guard i + 3 <= end, FormatBytes.isLetter(b[i]), FormatBytes.isLetter(b[i + 1]), FormatBytes.isLetter(b[i + 2]) else { return nil }
        i += 3
        skipSpaces()
        guard digits(max: 2) > 0 else { return nil }
        skipSpaces()
        var hasYear = false
        let afterDay = i
        if digits(max: 4) == 4, i < end, b[i] == FormatBytes.space { hasYear = true; skipSpaces() } else { i = afterDay }
        guard digits(max: 2) > 0, i < end, b[i] == FormatBytes.colon else { return nil }
        i += 1
        guard digits(max: 2) == 2, i < end, b[i] == FormatBytes.colon else { return nil }
        i += 1
        guard digits(max: 2) == 2 else { return nil }
        if i + 1 < end, b[i] == 0x2E, FormatBytes.isDigit(b[i + 1]) { i += 1; _ = digits(max: 9) }
        let text = UnsafeRawBufferPointer(rebasing: b[start..<i])
        guard let format = hasYear ? withYear : withoutYear, let t = format.parse(text, zone: zone, reference: reference) else { return nil }
        if i < end, b[i] == FormatBytes.colon { i += 1 }
        return (t, i)
    }

    static let facilityNames = ["kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv",
                                "ftp", "ntp", "security", "console", "solaris-cron",
                                "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"]
    static let severityNames = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"]

    /// Sets `log.syslog.priority`, `log.syslog.facility.*`, `log.syslog.severity.*`,
    /// `log.syslog.hostname` and, when `timestamp` is true and the event has none, `@timestamp`.
    func apply(to event: inout Event, _ b: UnsafeRawBufferPointer, timestamp setTimestamp: Bool = true) {
        if let priority {
            let facility = priority >> 3, severity = priority & 7
            event["log.syslog.priority"] = .int(Int64(priority))
            event["log.syslog.facility.code"] = .int(Int64(facility))
            event["log.syslog.facility.name"] = .string(Self.facilityNames[min(facility, Self.facilityNames.count - 1)])
            event["log.syslog.severity.code"] = .int(Int64(severity))
            event["log.syslog.severity.name"] = .string(Self.severityNames[severity])
        }
        if let hostname { event["log.syslog.hostname"] = .string(FormatBytes.string(b, hostname)) }
        if setTimestamp, let timestamp, event["@timestamp"] == nil { event["@timestamp"] = .timestamp(timestamp) }
    }
}
