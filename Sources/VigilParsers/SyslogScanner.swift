#if canImport(Glibc)
import Glibc
#endif
import VigilCore

/// A bounds-checked text scanner over one line's bytes, shared by the syslog parser and its
/// program sub-parsers (sshd, sudo, su, cron, iptables, apache_error).
///
/// Built on `ByteCursor`'s contract: nothing traps on any input; `read*`/`skip*` consume only on
/// success (returning nil/false and leaving the position unchanged otherwise); `peek*`/`has*` never
/// consume. Slices it returns borrow the line and are valid only in the parser's scope.
struct SyslogScanner {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    /// One past the last byte this scanner may read (callers narrow it to drop suffixes).
    var end: Int
    /// Whether all of `bytes` is well-formed UTF-8 (checked once, when asked for at creation).
    /// Slices the parsers cut next to ASCII delimiters are then well-formed too, so their text
    /// is stored without checking each field again.
    let isValidUTF8: Bool

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
        self.isValidUTF8 = false
    }

    /// A scanner that checks once whether the line is well-formed UTF-8 (see `isValidUTF8`),
    /// unless the context says it is (`ParseContext.lineIsValidUTF8`).
    init(validating bytes: UnsafeRawBufferPointer, context: ParseContext) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
        self.isValidUTF8 = context.lineIsValidUTF8 || UTF8Validation.isValid(bytes)
    }

    var isAtEnd: Bool { position >= end }
    var remaining: Int { max(0, end - position) }

    @inline(__always)
    func peek(_ offset: Int = 0) -> UInt8? {
        let i = position + offset
        return i >= 0 && i < end ? bytes[i] : nil
    }

    /// The unread bytes.
    var rest: UnsafeRawBufferPointer { slice(position, end) }

    @inline(__always)
    func slice(_ from: Int, _ to: Int) -> UnsafeRawBufferPointer {
        let a = max(0, min(from, bytes.count)), b = max(a, min(to, bytes.count))
        return UnsafeRawBufferPointer(rebasing: bytes[a..<b])
    }

    /// Calls `body` with the UTF-8 bytes of `literal` (a literal of one character may be stored
    /// as a scalar rather than as a pointer to its bytes).
    @inline(__always)
    static func withLiteral<R>(_ literal: StaticString, _ body: (UnsafePointer<UInt8>, Int) -> R) -> R {
        if literal.hasPointerRepresentation { return body(literal.utf8Start, literal.utf8CodeUnitCount) }
        return literal.withUTF8Buffer { body($0.baseAddress!, $0.count) }
    }

    /// Whether `bytes[at..<at + n]` equals `p[0..<n]` (the caller checked the bounds).
    @inline(__always)
    private func matches(at: Int, _ p: UnsafePointer<UInt8>, _ n: Int) -> Bool {
        var k = 0
        while k < n, bytes[at + k] == p[k] { k += 1 }
        return k == n
    }

    /// Whether the unread bytes start with `literal`.
    @inline(__always)
    func has(_ literal: StaticString) -> Bool {
        Self.withLiteral(literal) { p, n in remaining >= n && matches(at: position, p, n) }
    }

    /// Consumes `literal` when the unread bytes start with it.
    @inline(__always)
    mutating func skip(_ literal: StaticString) -> Bool {
        let n = Self.withLiteral(literal) { p, n in remaining >= n && matches(at: position, p, n) ? n : -1 }
        guard n >= 0 else { return false }
        position += n
        return true
    }

    @inline(__always)
    mutating func skip(byte: UInt8) -> Bool {
        guard position < end, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// Consumes spaces (and tabs); returns how many.
    @discardableResult @inline(__always)
    mutating func skipSpaces() -> Int {
        let start = position
        while position < end, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
        return position - start
    }

    /// Consumes bytes up to (not including) the first `byte`; nil when `byte` does not occur.
    @inline(__always)
    mutating func read(upTo byte: UInt8) -> UnsafeRawBufferPointer? {
        var i = position
        while i < end, bytes[i] != byte { i += 1 }
        guard i < end else { return nil }
        defer { position = i }
        return slice(position, i)
    }

    /// Consumes a run of non-space bytes (possibly empty).
    @inline(__always)
    mutating func readToken() -> UnsafeRawBufferPointer {
        let start = position
        if start >= 0, let base = bytes.baseAddress {
            // Eight bytes at a time while no space is among them (long tokens: fingerprints).
            let spaces: UInt64 = 0x2020_2020_2020_2020, ones: UInt64 = 0x0101_0101_0101_0101
            while end - position >= 8 {
                let w = base.loadUnaligned(fromByteOffset: position, as: UInt64.self) ^ spaces
                if (w &- ones) & ~w & 0x8080_8080_8080_8080 != 0 { break }
                position += 8
            }
        }
        while position < end, bytes[position] != 0x20 { position += 1 }
        return slice(start, position)
    }

    /// Consumes everything left.
    mutating func readRest() -> UnsafeRawBufferPointer {
        defer { position = end }
        return rest
    }

    /// Consumes 1–18 decimal digits.
    @inline(__always)
    mutating func readInt() -> Int64? {
        var i = position, v: Int64 = 0
        let limit = min(end, position + 18)
        while i < limit {
            let d = bytes[i] &- 0x30
            guard d <= 9 else { break }
            v = v &* 10 &+ Int64(d)
            i += 1
        }
        guard i > position else { return nil }
        position = i
        return v
    }

    /// The offset of the first occurrence of `literal` at or after `from` (before `end`).
    func find(_ literal: StaticString, from: Int? = nil) -> Int? {
        Self.withLiteral(literal) { p, n in
            var i = max(0, from ?? position)
            guard n > 0 else { return i <= end ? i : nil }
            guard i + n <= end, let base = bytes.baseAddress else { return nil }
            // Candidates are found by the literal's second byte (its first is often a space,
            // frequent in text) with `memchr`.
            let anchor = n > 1 ? 1 : 0
            while i + n <= end {
                let from = i + anchor, count = end - n + 1 - i
                guard let hit = memchr(base + from, Int32(p[anchor]), count) else { return nil }
                let candidate = base.distance(to: UnsafeRawPointer(hit)) - anchor
                if matches(at: candidate, p, n) { return candidate }
                i = candidate + 1
            }
            return nil
        }
    }

    /// The offset of the last occurrence of `literal` in the unread bytes.
    func findLast(_ literal: StaticString) -> Int? {
        Self.withLiteral(literal) { p, n in
            var i = end - n
            guard n > 0 else { return i >= position && i >= 0 ? i : nil }
            let low = max(position, 0)
            guard i >= low, let base = bytes.baseAddress else { return nil }
            // As in `find`, candidates by the second byte.
            let anchor = n > 1 ? 1 : 0
            let a = p[anchor]
            let bytes = base.assumingMemoryBound(to: UInt8.self)
            let pattern = UInt64(a) &* 0x0101_0101_0101_0101
            let low7: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
            // Eight candidates at once (starts i - 7 ... i, their anchor bytes in one word): the
            // exact set of bytes equal to the anchor, tried from the last one down.
            while i - 7 >= low {
                let w = UnsafeRawPointer(bytes + (i - 7 + anchor)).loadUnaligned(as: UInt64.self) ^ pattern
                var hits = ~(((w & low7) &+ low7) | w | low7)
                while hits != 0 {
                    let byte = (63 - hits.leadingZeroBitCount) >> 3
                    let candidate = i - 7 + byte
                    if matches(at: candidate, p, n) { return candidate }
                    hits &= ~(0x80 << UInt64(byte << 3))
                }
                i -= 8
            }
            while i >= low {
                if bytes[i + anchor] == a && matches(at: i, p, n) { return i }
                i -= 1
            }
            return nil
        }
    }

    /// Whether the unread bytes end with `literal`.
    @inline(__always)
    func hasSuffix(_ literal: StaticString) -> Bool {
        Self.withLiteral(literal) { p, n in remaining >= n && matches(at: end - n, p, n) }
    }

    /// Drops `literal` from the end of the readable range when present.
    @inline(__always)
    mutating func dropSuffix(_ literal: StaticString) -> Bool {
        let n = Self.withLiteral(literal) { p, n in remaining >= n && matches(at: end - n, p, n) ? n : -1 }
        guard n >= 0 else { return false }
        end -= n
        return true
    }

    /// Drops trailing spaces, tabs, CR and LF from the readable range.
    mutating func trimTrailingSpace() {
        while end > position, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 || bytes[end - 1] == 0x0D || bytes[end - 1] == 0x0A { end -= 1 }
    }
}

extension Event {
    /// Sets `key` to the text of `slice`, a slice of `scanner`'s line cut next to ASCII
    /// delimiters (or at the line's ends): without a UTF-8 check when the line was found valid,
    /// else with the repairing `setString(_:utf8:)`.
    @inline(__always)
    mutating func setString(_ key: Key, _ slice: UnsafeRawBufferPointer, of scanner: SyslogScanner) {
        if scanner.isValidUTF8 { setString(key, validUTF8: slice) } else { setString(key, utf8: slice) }
    }

    /// Sets `key` and `other` to the text of `slice` (as ``setString(_:_:of:)``), storing the
    /// bytes once when the line was found valid.
    @inline(__always)
    mutating func setString(_ key: Key, _ other: Key, _ slice: UnsafeRawBufferPointer, of scanner: SyslogScanner) {
        if scanner.isValidUTF8 {
            setString(key, other, validUTF8: slice)
        } else {
            setString(key, utf8: slice)
            setString(other, utf8: slice)
        }
    }
}

extension Event.Writer {
    /// Sets `key` to the text of `slice`, a slice of `scanner`'s line cut next to ASCII
    /// delimiters (or at the line's ends), as ``Event/setString(_:_:of:)`` does.
    ///
    /// `@_transparent` (as the two-key variant): always inlined, even into the large functions
    /// of the header and message parsers, where `@inline(__always)` gives way to the
    /// optimizer's size limits; inlined, the key's rank and schema checks are constants.
    @_transparent
    func setString(_ key: Event.Key, _ slice: UnsafeRawBufferPointer, of scanner: SyslogScanner) {
        if scanner.isValidUTF8 { setString(key, validUTF8: slice) } else { setString(key, utf8: slice) }
    }

    /// Sets `key` and `other` to the text of `slice`, as ``Event/setString(_:_:_:of:)`` does.
    @_transparent
    func setString(_ key: Event.Key, _ other: Event.Key, _ slice: UnsafeRawBufferPointer, of scanner: SyslogScanner) {
        if scanner.isValidUTF8 {
            setString(key, other, validUTF8: slice)
        } else {
            setString(key, utf8: slice)
            setString(other, utf8: slice)
        }
    }
}

/// Helpers for turning slices into field values.
enum SyslogText {
    @inline(__always)
    static func string(_ b: UnsafeRawBufferPointer) -> FieldValue { .string(String(decoding: b, as: UTF8.self)) }

    /// Parses decimal digits only (1–18 of them).
    @inline(__always)
    static func int(_ b: UnsafeRawBufferPointer) -> Int64? {
        let n = b.count
        guard n > 0, n <= 18, let p = b.baseAddress?.assumingMemoryBound(to: UInt8.self) else { return nil }
        var v: Int64 = 0
        for k in 0..<n {
            let d = p[k] &- 0x30
            guard d <= 9 else { return nil }
            v = v &* 10 &+ Int64(d)  // at most 18 digits: no overflow
        }
        return v
    }

    static func equals(_ b: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { p in
            guard b.count == p.count else { return false }
            for k in 0..<b.count where b[k] != p[k] { return false }
            return true
        }
    }

    /// Trims spaces/tabs/CR/LF at both ends.
    static func trimmed(_ b: UnsafeRawBufferPointer) -> UnsafeRawBufferPointer {
        var s = 0, e = b.count
        func space(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0D || c == 0x0A }
        while s < e, space(b[s]) { s += 1 }
        while e > s, space(b[e - 1]) { e -= 1 }
        return UnsafeRawBufferPointer(rebasing: b[s..<e])
    }

    /// Sets `ipKey` when `b` is an IP address, else `domainKey` (a host name) when non-empty.
    static func setAddress(_ b: UnsafeRawBufferPointer, ipKey: Event.Key, domainKey: Event.Key?, in event: inout Event) {
        guard !b.isEmpty else { return }
        if let ip = IPAddress(parsing: b) { event.setIP(ipKey, ip) }
        else if let domainKey { event[domainKey] = string(b) }
    }

    /// Sets `ipKey` when `b` is an IP address, else `domainKey` (a host name) when non-empty.
    static func setAddress(_ b: UnsafeRawBufferPointer, ipKey: Event.Key, domainKey: Event.Key?, in fields: Event.Writer) {
        guard !b.isEmpty else { return }
        if let ip = IPAddress(parsing: b) { fields.setIP(ipKey, ip) }
        else if let domainKey { fields.setString(domainKey, utf8: b) }
    }

    /// Whether `b` starts with `literal`.
    @inline(__always)
    static func hasPrefix(_ b: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        let n = literal.utf8CodeUnitCount
        guard b.count >= n else { return false }
        let p = literal.utf8Start
        for k in 0..<n where b[k] != p[k] { return false }
        return true
    }

    static func lowercased(_ b: UnsafeRawBufferPointer) -> String {
        String(unsafeUninitializedCapacity: b.count) { out in
            for (k, c) in b.enumerated() { out[k] = c >= 0x41 && c <= 0x5A ? c + 0x20 : c }
            return b.count
        }
    }

    static func containsIgnoringCase(_ b: UnsafeRawBufferPointer, _ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { p in
            let n = p.count
            guard n <= b.count else { return false }
            var i = 0
            while i + n <= b.count {
                var k = 0
                while k < n, (b[i + k] | 0x20) == (p[k] | 0x20) { k += 1 }
                if k == n { return true }
                i += 1
            }
            return false
        }
    }
}

/// `event.category`, `event.type` and `event.outcome` values shared by the sub-parsers, checked
/// against the schema once (`Event.Preset`).
enum SyslogPresets {
    static let categoryAuthentication = Event.Preset(.eventCategory, SyslogValues.authentication)
    static let categoryAuthenticationSession = Event.Preset(.eventCategory, SyslogValues.authenticationSession)
    static let categoryProcess = Event.Preset(.eventCategory, SyslogValues.process)
    static let typeInfo = Event.Preset(.eventType, SyslogValues.info)
    static let typeStart = Event.Preset(.eventType, SyslogValues.start)
    static let typeEnd = Event.Preset(.eventType, SyslogValues.end)
    static let outcomeSuccess = Event.Preset(.eventOutcome, SyslogValues.success)
    static let outcomeFailure = Event.Preset(.eventOutcome, SyslogValues.failure)
}

/// Field values shared by the sub-parsers, created once.
enum SyslogValues {
    static let authentication: FieldValue = .array([.string("authentication")])
    static let authenticationSession: FieldValue = .array([.string("authentication"), .string("session")])
    static let process: FieldValue = .array([.string("process")])
    static let network: FieldValue = .array([.string("network")])
    static let start: FieldValue = .array([.string("start")])
    static let end: FieldValue = .array([.string("end")])
    static let info: FieldValue = .array([.string("info")])
    static let connectionDenied: FieldValue = .array([.string("connection"), .string("denied")])
    static let connectionAllowed: FieldValue = .array([.string("connection"), .string("allowed")])
    static let connection: FieldValue = .array([.string("connection")])
    static let success: FieldValue = .string("success")
    static let failure: FieldValue = .string("failure")
}

/// Linux-PAM messages as logged by `pam_unix` for any service (sshd, su, sudo, cron, login…),
/// with or without the `pam_unix(service:type): ` prefix (older systems put the module in the
/// syslog tag instead: `sshd(pam_unix)[123]: session opened for user …`).
enum SyslogPAM {
    /// Action names for one program, e.g. `ssh_session_open`.
    struct Actions: Sendable {
        let sessionOpen, sessionClose, authFailure, userUnknown, moreFailures, maxRetries, other: FieldValue
        init(prefix: String) {
            sessionOpen = .string("\(prefix)_session_open")
            sessionClose = .string("\(prefix)_session_close")
            authFailure = .string("\(prefix)_auth_failure")
            userUnknown = .string("\(prefix)_user_unknown")
            moreFailures = .string("\(prefix)_auth_failures")
            maxRetries = .string("\(prefix)_max_retries")
            other = .string("\(prefix)_pam")
        }
    }

    /// Parses a PAM message at the scanner's position; false (nothing consumed or set) when it is
    /// not one. Sets `pam.module`/`pam.service`/`pam.type` when the prefix is present.
    static func parse(_ s: inout SyslogScanner, into event: inout Event, actions: Actions) -> Bool {
        var c = s
        if c.has("pam_") {
            // pam_unix(sshd:auth): …
            guard let module = c.read(upTo: 0x28) else { return false }  // (
            _ = c.skip(byte: 0x28)
            guard let service = c.read(upTo: 0x3A) else { return false }  // :
            _ = c.skip(byte: 0x3A)
            guard let type = c.read(upTo: 0x29), c.skip("): ") else { return false }
            event.setString(.pamModule, utf8: module)
            event.setString(.pamService, utf8: service)
            event.setString(.pamType, utf8: type)
            if !parseBody(&c, into: &event, actions: actions) {
                // A PAM module message we do not know in detail: still a PAM event.
                event[.eventAction] = actions.other
                event[.eventCategory] = SyslogValues.authentication
                event[.eventType] = SyslogValues.info
            }
            s = c
            return true
        }
        guard parseBody(&c, into: &event, actions: actions) else { return false }
        s = c
        return true
    }

    private static func parseBody(_ c: inout SyslogScanner, into event: inout Event, actions: Actions) -> Bool {
        if c.skip("session opened for user ") {
            // "root by (uid=0)", "root(uid=0) by alice(uid=1000)", "root by LOGIN(uid=0)"
            guard let byAt = c.findLast(" by ") else { return false }
            var user = c.slice(c.position, byAt)
            if let paren = user.firstIndex(of: 0x28) { user = UnsafeRawBufferPointer(rebasing: user[..<paren]) }
            event.setString(.userName, utf8: user)
            c.position = byAt + 4
            let by = c.readRest()
            var byUser = by
            if let paren = by.firstIndex(of: 0x28) {
                byUser = UnsafeRawBufferPointer(rebasing: by[..<paren])
                var u = SyslogScanner(UnsafeRawBufferPointer(rebasing: by[paren...]))
                if u.skip("(uid="), let uid = u.read(upTo: 0x29) { event.setString(.pamByUid, utf8: uid) }
            }
            if !byUser.isEmpty { event.setString(.pamByUser, utf8: byUser) }
            event[.eventAction] = actions.sessionOpen
            event[.eventCategory] = SyslogValues.authenticationSession
            event[.eventType] = SyslogValues.start
            event[.eventOutcome] = SyslogValues.success
            return true
        }
        if c.skip("session closed for user ") {
            event.setString(.userName, utf8: SyslogText.trimmed(c.readRest()))
            event[.eventAction] = actions.sessionClose
            event[.eventCategory] = SyslogValues.authenticationSession
            event[.eventType] = SyslogValues.end
            return true
        }
        if c.skip("authentication failure; ") {
            parseKeyValues(&c, into: &event)
            event[.eventAction] = actions.authFailure
            event[.eventCategory] = SyslogValues.authentication
            event[.eventType] = SyslogValues.info
            event[.eventOutcome] = SyslogValues.failure
            return true
        }
        if c.skip("check pass; user unknown") {
            event[.eventAction] = actions.userUnknown
            event[.eventCategory] = SyslogValues.authentication
            event[.eventType] = SyslogValues.info
            event[.eventOutcome] = SyslogValues.failure
            return true
        }
        if c.skip("PAM ") {
            var d = c
            if let n = d.readInt(), d.skip(" more authentication failure") {
                _ = d.skip(byte: 0x73)  // s
                _ = d.skip("; ")
                event[.pamFailures] = .int(n)
                parseKeyValues(&d, into: &event)
                event[.eventAction] = actions.moreFailures
                event[.eventCategory] = SyslogValues.authentication
                event[.eventType] = SyslogValues.info
                event[.eventOutcome] = SyslogValues.failure
                c = d
                return true
            }
            if c.skip("service("), let service = c.read(upTo: 0x29), c.skip(") ignoring max retries; ") {
                event.setString(.pamService, utf8: service)
                if let n = c.readInt() { event[.pamRetries] = .int(n) }
                _ = c.skip(" > ")
                if let n = c.readInt() { event[.pamMaxRetries] = .int(n) }
                event[.eventAction] = actions.maxRetries
                event[.eventCategory] = SyslogValues.authentication
                event[.eventType] = SyslogValues.info
                event[.eventOutcome] = SyslogValues.failure
                return true
            }
            return false
        }
        return false
    }

    /// `logname= uid=0 euid=0 tty=ssh ruser= rhost=1.2.3.4  user=root`: rhost → source.ip (or
    /// source.domain), user → user.name, ruser → pam.ruser, tty → pam.tty, logname → pam.logname.
    static func parseKeyValues(_ c: inout SyslogScanner, into event: inout Event) {
        while !c.isAtEnd {
            c.skipSpaces()
            let tokenStart = c.position
            let token = c.readToken()
            guard let eq = token.firstIndex(of: 0x3D) else { continue }  // =
            let key = UnsafeRawBufferPointer(rebasing: token[..<eq])
            let value = UnsafeRawBufferPointer(rebasing: token[(eq + 1)...])
            _ = tokenStart
            if value.isEmpty { continue }
            if SyslogText.equals(key, "rhost") {
                SyslogText.setAddress(value, ipKey: .sourceIP, domainKey: .sourceDomain, in: &event)
            } else if SyslogText.equals(key, "user") {
                event.setString(.userName, utf8: value)
            } else if SyslogText.equals(key, "ruser") {
                event.setString(.pamRuser, utf8: value)
            } else if SyslogText.equals(key, "tty") {
                event.setString(.pamTty, utf8: value)
            } else if SyslogText.equals(key, "logname") {
                event.setString(.pamLogname, utf8: value)
            } else if SyslogText.equals(key, "uid") {
                event.setString(.pamUid, utf8: value)
            } else if SyslogText.equals(key, "euid") {
                event.setString(.pamEuid, utf8: value)
            }
        }
    }
}
