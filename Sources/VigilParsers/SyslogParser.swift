import VigilCore
import VigilYAML

/// `type: syslog`: RFC 3164 (BSD) and RFC 5424 syslog lines, as received on the wire (`<PRI>…`)
/// or as written to `/var/log` files (no `<PRI>`), with each program's message handed to its own
/// sub-parser.
///
/// ```yaml
/// options:
///   format: auto              # auto (default) | rfc3164 | rfc5424
///   timezone: UTC             # zone of RFC 3164 timestamps, which carry none (default UTC)
///   programs:                 # program name → parser applied to the message, fields merged
///     sshd: sshd
///     CRON: cron
///   default_program_parser: generic   # for every other line (default: none)
/// ```
///
/// **RFC 3164** — `[<PRI>]TIMESTAMP HOSTNAME TAG[[PID]]: MSG`. The timestamp is `Mmm dd hh:mm:ss`
/// (optionally with a fraction, or `Mmm dd yyyy hh:mm:ss`) completed with the year rule of
/// `TimestampFormat` (the reference year, or the year before when that lands more than 7 days in
/// the future) in the `timezone` option; an RFC 3339 timestamp (rsyslog's high-precision file
/// format) is also accepted. The hostname is absent when the word after the timestamp is already
/// the tag (`sshd[12]:`). A tag is a run of printable bytes without spaces, `:` or brackets, not
/// starting with `%`, followed by an optional `[PID]` and a `:`; without one the whole rest is the
/// message (Cisco's `%ASA-6-302014: …`). `prog(module)` tags (`sshd(pam_unix)`) give
/// `process.name: sshd` and `log.syslog.module: pam_unix`.
///
/// **RFC 5424** — `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD [MSG]` with `-` for absent
/// values (such fields are not emitted), structured data as
/// `log.syslog.structured_data.<SD-ID>.<PARAM>` (escapes `\"`, `\\`, `\]` undone; a repeated
/// parameter becomes a list) and a leading UTF-8 BOM dropped from MSG. `format: auto` picks RFC
/// 5424 when `<PRI>` is followed by a version number and a space.
///
/// Fields: `@timestamp`, `log.syslog.priority`, `log.syslog.facility.code`/`.name`,
/// `log.syslog.severity.code`/`.name`, `log.syslog.hostname` and `host.hostname`,
/// `log.syslog.appname` and `process.name`, `log.syslog.procid` and `process.pid` (when numeric),
/// `log.syslog.msgid`, `log.syslog.version`, `message` (trailing spaces, CR and LF removed).
///
/// Sub-parsers see only the message bytes and add their fields to the same event; a sub-parser
/// failure fails the line unless that parser says `on_failure: keep`.
public struct SyslogParser: LineParser {
    public enum Format: String, Sendable, CaseIterable {
        case auto, rfc3164, rfc5424
    }

    public let format: Format
    public let zone: TimeZoneRule
    let programs: [String: ParserReference]
    /// `programs`, looked up with the program name's bytes (no SipHash per line). Unretained:
    /// `programs` keeps the references alive as long as the parser, so a line's lookup and call
    /// need no reference counting.
    private let programTable: ByteKeyedTable<Unmanaged<ParserReference>>
    let defaultProgramParser: ParserReference?
    private let monthDayTime: TimestampFormat
    private let monthDayYearTime: TimestampFormat

    init(format: Format = .auto, zone: TimeZoneRule = .utc, programs: [String: ParserReference] = [:],
         defaultProgramParser: ParserReference? = nil) {
        self.format = format
        self.zone = zone
        self.programs = programs
        self.programTable = ByteKeyedTable(programs.mapValues { Unmanaged.passUnretained($0) })
        self.defaultProgramParser = defaultProgramParser
        // Constant patterns, which always compile.
        self.monthDayTime = try! TimestampFormat("%b %e %H:%M:%S")
        self.monthDayYearTime = try! TimestampFormat("%b %e %Y %H:%M:%S")
    }

    /// A syslog parser without sub-parsers (tools and tests).
    public init(format: Format = .auto, zone: TimeZoneRule = .utc) {
        self.init(format: format, zone: zone, programs: [:], defaultProgramParser: nil)
    }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["format", "timezone", "programs", "default_program_parser"])
        let format = try options?.optional("format")?.oneOf(Format.self) ?? .auto
        let zone = try PostStep.zoneRule(options?.optional("timezone"))
        var programs: [String: ParserReference] = [:]
        if let node = options?.optional("programs") {
            for entry in try node.mapping().entries {
                programs[entry.key] = context.reference(try entry.value.string(), at: entry.value)
            }
        }
        var fallback: ParserReference?
        if let node = options?.optional("default_program_parser") {
            fallback = context.reference(try node.string(), at: node)
        }
        return SyslogParser(format: format, zone: zone, programs: programs, defaultProgramParser: fallback)
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        var s = SyslogScanner(validating: line, context: context)
        s.trimTrailingSpace()
        let fields = event.writer()
        var priority: Int64?
        if s.skip(byte: 0x3C) {  // <
            guard let p = s.readInt(), s.position <= 4, s.skip(byte: 0x3E) else { throw ParseFailure("bad <PRI> header") }
            guard p <= 191 else { throw ParseFailure("priority over 191") }
            priority = p
        }
        let is5424: Bool
        switch format {
        case .rfc3164: is5424 = false
        case .rfc5424:
            guard priority != nil else { throw ParseFailure("RFC 5424 line without <PRI>") }
            is5424 = true
        case .auto:
            is5424 = priority != nil && Self.startsWithVersion(s)
        }
        if let priority {
            let facility = Int(priority >> 3), severity = Int(priority & 7)
            fields.setInt(.logSyslogPriority, priority)
            fields.setInt(.logSyslogFacilityCode, Int64(facility))
            event[.logSyslogFacilityName] = Self.facilityNames[facility]
            fields.setInt(.logSyslogSeverityCode, Int64(severity))
            event[.logSyslogSeverityName] = Self.severityNames[severity]
        }
        let program: UnsafeRawBufferPointer?
        if is5424 {
            program = try parse5424(&s, into: &event)
        } else {
            program = try parse3164(&s, into: fields, context: context)
        }
        let message = s.rest
        if !message.isEmpty { fields.setString(.message, message, of: s) }
        // The message is a slice of the line cut next to ASCII bytes: valid when the line is.
        var subContext = context
        subContext.lineIsValidUTF8 = s.isValidUTF8
        if let program, let sub = programTable.value(for: program) {
            try sub.withGuaranteedRef { reference throws(ParseFailure) in try reference.parse(message, into: &event, context: subContext) }
        } else if let sub = defaultProgramParser {
            try sub.parse(message, into: &event, context: subContext)
        }
    }

    /// `1 ` (a version of 1–2 digits, not starting with 0, and a space).
    private static func startsWithVersion(_ s: SyslogScanner) -> Bool {
        guard let a = s.peek(), a >= 0x31, a <= 0x39 else { return false }
        if s.peek(1) == 0x20 { return true }
        guard let b = s.peek(1), b >= 0x30, b <= 0x39 else { return false }
        return s.peek(2) == 0x20
    }

    // MARK: RFC 3164

    private func parse3164(_ s: inout SyslogScanner, into fields: Event.Writer, context: ParseContext) throws(ParseFailure) -> UnsafeRawBufferPointer? {
        guard let first = s.peek() else { throw ParseFailure("no timestamp") }
        var timestamp: Timestamp?
        if first >= 0x30 && first <= 0x39 {
            timestamp = Timestamp(rfc3339: s.readToken())
        } else if let fixed = Self.fixedTimestamp(s) {
            // `Mmm dd hh:mm:ss` (or `Mmm  d …`) then a space or the end: the text the scan below
            // would find, read by the format's fixed-offset reader without scanning first.
            timestamp = monthDayTime.parse(fixed, zone: zone, reference: context.referenceTime, referenceYear: context.referenceYear,
                                           referenceYearStartDays: context.referenceYearStartDays)
            if timestamp != nil { s.position += 15 } else { timestamp = try readTimestamp(&s, context: context) }
        } else {
            timestamp = try readTimestamp(&s, context: context)
        }
        guard let timestamp else { throw ParseFailure("bad timestamp") }
        fields.setTimestamp(.timestamp, timestamp)
        guard s.skip(byte: 0x20) else { return nil }  // a timestamp alone: empty message
        s.skipSpaces()

        // HOSTNAME, unless the next word is already the tag. A tag's name runs up to a `:` or
        // `[`, so a word holding neither is not one (the common case: no second scan).
        var afterWord = s
        let word = afterWord.readToken()
        var probe = s
        if Self.mayHoldTag(word), let tag = Self.readTag(&probe) {
            s = probe
            return emitTag(tag, of: s, in: fields)
        }
        s = afterWord
        if !word.isEmpty { fields.setString(.logSyslogHostname, .hostHostname, word, of: s) }
        guard s.skip(byte: 0x20) else { return nil }
        s.skipSpaces()
        var t = s
        guard let tag = Self.readTag(&t) else { return nil }
        s = t
        return emitTag(tag, of: s, in: fields)
    }

    /// The 15 bytes at the scanner's position when they have the usual RFC 3164 layout
    /// (`Mmm dd hh:mm:ss` or `Mmm  d hh:mm:ss`: spaces and colons in place, digits around them)
    /// and a space or the end follows; nil otherwise.
    @inline(__always)
    private static func fixedTimestamp(_ s: SyslogScanner) -> UnsafeRawBufferPointer? {
        let p = s.position
        guard p >= 0, s.end - p >= 15, let base = s.bytes.baseAddress else { return nil }
        // Read through a pointer at the position: offsets below 16 need no overflow checks.
        let b = (base + p).assumingMemoryBound(to: UInt8.self)
        guard s.end - p == 15 || b[15] == 0x20 else { return nil }
        @inline(__always) func digit(_ k: Int) -> Bool { b[k] &- 0x30 < 10 }
        guard b[3] == 0x20, b[6] == 0x20, b[9] == 0x3A, b[12] == 0x3A, digit(5), digit(7), digit(8),
              digit(10), digit(11), digit(13), digit(14), b[4] == 0x20 || digit(4) else { return nil }
        return UnsafeRawBufferPointer(start: b, count: 15)
    }

    /// `Mmm dd [yyyy ]hh:mm:ss[.fff]` at the scanner's position, any layout; consumes it.
    private func readTimestamp(_ s: inout SyslogScanner, context: ParseContext) throws(ParseFailure) -> Timestamp? {
        let start = s.position
        guard s.skipLetters(3) else { throw ParseFailure("no timestamp") }
        guard s.skipSpaces() > 0, s.readInt() != nil, s.skipSpaces() > 0 else { throw ParseFailure("no timestamp") }
        var token = s.readToken()
        var withYear = false
        if token.count == 4, !token.contains(0x3A) {  // Mmm dd yyyy hh:mm:ss
            withYear = true
            guard s.skip(byte: 0x20) else { throw ParseFailure("no timestamp") }
            token = s.readToken()
        }
        guard token.count >= 8 else { throw ParseFailure("no timestamp") }
        let text = s.slice(start, s.position)
        return (withYear ? monthDayYearTime : monthDayTime).parse(text, zone: zone, reference: context.referenceTime,
                                                                          referenceYear: context.referenceYear,
                                                                          referenceYearStartDays: context.referenceYearStartDays)
    }

    /// A parsed tag: the name, and the slice between `[` and `]` when present.
    private struct Tag {
        var name: UnsafeRawBufferPointer
        var pid: UnsafeRawBufferPointer?
    }

    /// Whether `word` (a run of non-space bytes) holds a `:` or `[`, without which `readTag`
    /// cannot succeed at its start: a tag name is followed by one of them, and its bytes are not
    /// spaces.
    @inline(__always)
    private static func mayHoldTag(_ word: UnsafeRawBufferPointer) -> Bool {
        guard let base = word.baseAddress else { return false }
        let n = word.count
        var i = 0
        // Eight bytes at a time: whether any is `:` or `[` (host names run 8–30 bytes).
        let ones: UInt64 = 0x0101_0101_0101_0101, highs: UInt64 = 0x8080_8080_8080_8080
        while n - i >= 8 {
            let w = base.loadUnaligned(fromByteOffset: i, as: UInt64.self)
            let colon = w ^ (0x3A &* ones), bracket = w ^ (0x5B &* ones)
            if ((colon &- ones) & ~colon | (bracket &- ones) & ~bracket) & highs != 0 { return true }
            i += 8
        }
        while i < n {
            let c = word[i]
            if c == 0x3A || c == 0x5B { return true }
            i += 1
        }
        return false
    }

    /// `name[pid]: ` or `name: ` (the colon may end the line); leaves `s` at the message.
    private static func readTag(_ s: inout SyslogScanner) -> Tag? {
        let start = s.position, end = s.end
        guard start >= 0, start < end, let b = s.bytes.baseAddress?.assumingMemoryBound(to: UInt8.self),
              b[start] != 0x25 else { return nil }  // %
        var i = start
        while i < end, isTagByte(b[i]) { i += 1 }
        let length = i - start
        guard length > 0, length <= 128 else { return nil }
        let name = s.slice(start, i)
        var pid: UnsafeRawBufferPointer?
        if i < end, b[i] == 0x5B {  // [
            var j = i + 1
            while j < end, b[j] != 0x5D { j += 1 }  // ]
            guard j < end, j - (i + 1) <= 128 else { return nil }
            pid = s.slice(i + 1, j)
            i = j + 1
        }
        guard i < end, b[i] == 0x3A else { return nil }  // :
        i += 1
        if i < end {
            guard b[i] == 0x20 else { return nil }
            i += 1
        }
        s.position = i
        return Tag(name: name, pid: pid)
    }

    /// Whether a tag name may hold `c`: printable ASCII except space, `:`, `[` and `]` (a bit
    /// per byte value below 128).
    @inline(__always)
    static func isTagByte(_ c: UInt8) -> Bool {
        let low: UInt64 = 0xFBFF_FFFE_0000_0000   // 0x21–0x3F without 0x3A
        let high: UInt64 = 0x7FFF_FFFF_D7FF_FFFF  // 0x40–0x7E without 0x5B and 0x5D
        return c < 64 ? (low >> UInt64(c)) & 1 == 1 : c < 128 && (high >> UInt64(c &- 64)) & 1 == 1
    }

    /// Sets the tag's fields; returns the program name's bytes.
    private func emitTag(_ tag: Tag, of s: SyslogScanner, in fields: Event.Writer) -> UnsafeRawBufferPointer {
        var program = tag.name
        // sshd(pam_unix) → sshd + module pam_unix
        if tag.name.count > 2, tag.name[tag.name.count - 1] == 0x29, let open = tag.name.firstIndex(of: 0x28), open > 0 {
            fields.setString(.logSyslogAppname, tag.name, of: s)
            program = UnsafeRawBufferPointer(rebasing: tag.name[..<open])
            fields.setString(.logSyslogModule, UnsafeRawBufferPointer(rebasing: tag.name[(open + 1)..<(tag.name.count - 1)]), of: s)
            fields.setString(.processName, program, of: s)
        } else {
            fields.setString(.logSyslogAppname, .processName, tag.name, of: s)
        }
        if let pid = tag.pid {
            fields.setString(.logSyslogProcid, pid, of: s)
            if let n = SyslogText.int(pid) { fields.setInt(.processPid, n) }
        }
        return program
    }

    // MARK: RFC 5424

    private func parse5424(_ s: inout SyslogScanner, into event: inout Event) throws(ParseFailure) -> UnsafeRawBufferPointer? {
        let version = s.readToken()
        event.setString(.logSyslogVersion, version, of: s)
        func field(_ s: inout SyslogScanner, _ what: String) throws(ParseFailure) -> UnsafeRawBufferPointer? {
            guard s.skip(byte: 0x20) else { throw ParseFailure("RFC 5424 header ends before \(what)") }
            let token = s.readToken()
            guard !token.isEmpty else { throw ParseFailure("RFC 5424 header: empty \(what)") }
            return SyslogText.equals(token, "-") ? nil : token
        }
        if let ts = try field(&s, "TIMESTAMP") {
            guard let t = Timestamp(rfc3339: ts) else { throw ParseFailure("bad RFC 5424 timestamp") }
            event.setTimestamp(.timestamp, t)
        }
        if let host = try field(&s, "HOSTNAME") {
            event.setString(.logSyslogHostname, .hostHostname, host, of: s)
        }
        var program: UnsafeRawBufferPointer?
        if let app = try field(&s, "APP-NAME") {
            event.setString(.logSyslogAppname, .processName, app, of: s)
            program = app
        }
        if let procid = try field(&s, "PROCID") {
            event.setString(.logSyslogProcid, procid, of: s)
            if let n = SyslogText.int(procid) { event.setInt(.processPid, n) }
        }
        if let msgid = try field(&s, "MSGID") { event.setString(.logSyslogMsgid, msgid, of: s) }
        guard s.skip(byte: 0x20) else { throw ParseFailure("RFC 5424 header ends before STRUCTURED-DATA") }
        if !s.skip(byte: 0x2D) {
            guard s.peek() == 0x5B else { throw ParseFailure("RFC 5424 STRUCTURED-DATA is neither '-' nor '['") }
            while s.skip(byte: 0x5B) { try parseElement(&s, into: &event) }
        }
        if !s.isAtEnd {
            guard s.skip(byte: 0x20) else { throw ParseFailure("RFC 5424: no space before MSG") }
            _ = s.skip("\u{FEFF}")  // BOM
        }
        return program
    }

    /// One SD-ELEMENT after its `[`: `SD-ID *(SP PARAM="VALUE")]`.
    private func parseElement(_ s: inout SyslogScanner, into event: inout Event) throws(ParseFailure) {
        let idStart = s.position
        while let c = s.peek(), c > 0x20, c < 0x7F, c != 0x3D, c != 0x5D, c != 0x22 { _ = s.skip(byte: c) }
        let id = s.slice(idStart, s.position)
        guard !id.isEmpty else { throw ParseFailure("RFC 5424 SD-ELEMENT without SD-ID") }
        let prefix = "log.syslog.structured_data." + String(decoding: id, as: UTF8.self) + "."
        while true {
            let spaces = s.skipSpaces()
            if s.skip(byte: 0x5D) { return }
            guard spaces > 0, s.peek() != nil else { throw ParseFailure("unterminated RFC 5424 SD-ELEMENT") }
            let nameStart = s.position
            while let c = s.peek(), c > 0x20, c < 0x7F, c != 0x3D, c != 0x5D, c != 0x22 { _ = s.skip(byte: c) }
            let name = s.slice(nameStart, s.position)
            guard !name.isEmpty, s.skip("=\"") else { throw ParseFailure("bad RFC 5424 SD-PARAM") }
            var escaped = false
            let valueStart = s.position
            var closed = false
            while let c = s.peek() {
                _ = s.skip(byte: c)
                if c == 0x5C {
                    escaped = true
                    if let n = s.peek() { _ = s.skip(byte: n) }
                    continue
                }
                if c == 0x22 { closed = true; break }
            }
            guard closed else { throw ParseFailure("unterminated RFC 5424 PARAM-VALUE") }
            let raw = s.slice(valueStart, s.position - 1)
            let value: FieldValue = escaped ? .string(Self.unescape(raw)) : SyslogText.string(raw)
            let key = prefix + String(decoding: name, as: UTF8.self)
            switch event[key] {
            case .array(var items)?: items.append(value); event[key] = .array(items)
            case let previous?: event[key] = .array([previous, value])
            case nil: event[key] = value
            }
        }
    }

    /// Undoes `\"`, `\\` and `\]`; any other backslash stays (RFC 5424 §6.3.3).
    static func unescape(_ raw: UnsafeRawBufferPointer) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        while i < raw.count {
            let c = raw[i]
            if c == 0x5C, i + 1 < raw.count, raw[i + 1] == 0x22 || raw[i + 1] == 0x5C || raw[i + 1] == 0x5D {
                out.append(raw[i + 1]); i += 2
            } else {
                out.append(c); i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static let severityNames: [FieldValue] = ["emergency", "alert", "critical", "error", "warning", "notice", "informational", "debug"]
        .map { .string($0) }
    static let facilityNames: [FieldValue] = [
        "kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron", "authpriv", "ftp", "ntp",
        "security", "console", "solaris-cron", "local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7",
    ].map { .string($0) }
}

extension SyslogScanner {
    /// Consumes `count` ASCII letters (nothing when fewer follow).
    mutating func skipLetters(_ count: Int) -> Bool {
        guard remaining >= count else { return false }
        for k in 0..<count {
            let c = bytes[position + k] | 0x20
            guard c >= 0x61, c <= 0x7A else { return false }
        }
        position += count
        return true
    }
}
