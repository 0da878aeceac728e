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

    init(_ bytes: UnsafeRawBufferPointer) {
        self.bytes = bytes
        self.position = 0
        self.end = bytes.count
    }

    var isAtEnd: Bool { position >= end }
    var remaining: Int { max(0, end - position) }

    func peek(_ offset: Int = 0) -> UInt8? {
        let i = position + offset
        return i >= 0 && i < end ? bytes[i] : nil
    }

    /// The unread bytes.
    var rest: UnsafeRawBufferPointer { slice(position, end) }

    func slice(_ from: Int, _ to: Int) -> UnsafeRawBufferPointer {
        let a = max(0, min(from, bytes.count)), b = max(a, min(to, bytes.count))
        return UnsafeRawBufferPointer(rebasing: bytes[a..<b])
    }

    /// Whether the unread bytes start with `literal`.
    func has(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { p in
            guard remaining >= p.count else { return false }
            for k in 0..<p.count where bytes[position + k] != p[k] { return false }
            return true
        }
    }

    /// Consumes `literal` when the unread bytes start with it.
    mutating func skip(_ literal: StaticString) -> Bool {
        guard has(literal) else { return false }
        position += literal.withUTF8Buffer { $0.count }
        return true
    }

    mutating func skip(byte: UInt8) -> Bool {
        guard position < end, bytes[position] == byte else { return false }
        position += 1
        return true
    }

    /// Consumes spaces (and tabs); returns how many.
    @discardableResult
    mutating func skipSpaces() -> Int {
        let start = position
        while position < end, bytes[position] == 0x20 || bytes[position] == 0x09 { position += 1 }
        return position - start
    }

    /// Consumes bytes up to (not including) the first `byte`; nil when `byte` does not occur.
    mutating func read(upTo byte: UInt8) -> UnsafeRawBufferPointer? {
        var i = position
        while i < end, bytes[i] != byte { i += 1 }
        guard i < end else { return nil }
        defer { position = i }
        return slice(position, i)
    }

    /// Consumes a run of non-space bytes (possibly empty).
    mutating func readToken() -> UnsafeRawBufferPointer {
        let start = position
        while position < end, bytes[position] != 0x20 { position += 1 }
        return slice(start, position)
    }

    /// Consumes everything left.
    mutating func readRest() -> UnsafeRawBufferPointer {
        defer { position = end }
        return rest
    }

    /// Consumes 1–18 decimal digits.
    mutating func readInt() -> Int64? {
        var i = position, v: Int64 = 0
        while i < end, i - position < 18, bytes[i] >= 0x30, bytes[i] <= 0x39 {
            v = v * 10 + Int64(bytes[i] - 0x30)
            i += 1
        }
        guard i > position else { return nil }
        position = i
        return v
    }

    /// The offset of the first occurrence of `literal` at or after `from` (before `end`).
    func find(_ literal: StaticString, from: Int? = nil) -> Int? {
        literal.withUTF8Buffer { p in
            let n = p.count
            var i = max(0, from ?? position)
            while i + n <= end {
                var k = 0
                while k < n, bytes[i + k] == p[k] { k += 1 }
                if k == n { return i }
                i += 1
            }
            return nil
        }
    }

    /// The offset of the last occurrence of `literal` in the unread bytes.
    func findLast(_ literal: StaticString) -> Int? {
        literal.withUTF8Buffer { p in
            let n = p.count
            var i = end - n
            while i >= position, i >= 0 {
                var k = 0
                while k < n, bytes[i + k] == p[k] { k += 1 }
                if k == n { return i }
                i -= 1
            }
            return nil
        }
    }

    /// Whether the unread bytes end with `literal`.
    func hasSuffix(_ literal: StaticString) -> Bool {
        literal.withUTF8Buffer { p in
            let n = p.count
            guard remaining >= n else { return false }
            for k in 0..<n where bytes[end - n + k] != p[k] { return false }
            return true
        }
    }

    /// Drops `literal` from the end of the readable range when present.
    mutating func dropSuffix(_ literal: StaticString) -> Bool {
        guard hasSuffix(literal) else { return false }
        end -= literal.withUTF8Buffer { $0.count }
        return true
    }

    /// Drops trailing spaces, tabs, CR and LF from the readable range.
    mutating func trimTrailingSpace() {
        while end > position, bytes[end - 1] == 0x20 || bytes[end - 1] == 0x09 || bytes[end - 1] == 0x0D || bytes[end - 1] == 0x0A { end -= 1 }
    }
}

/// Helpers for turning slices into field values.
enum SyslogText {
    @inline(__always)
    static func string(_ b: UnsafeRawBufferPointer) -> FieldValue { .string(String(decoding: b, as: UTF8.self)) }

    /// Parses decimal digits only (1–18 of them).
    static func int(_ b: UnsafeRawBufferPointer) -> Int64? {
        guard !b.isEmpty, b.count <= 18 else { return nil }
        var v: Int64 = 0
        for c in b {
            guard c >= 0x30, c <= 0x39 else { return nil }
            v = v * 10 + Int64(c - 0x30)
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
        if let ip = IPAddress(parsing: b) { event[ipKey] = .ip(ip) }
        else if let domainKey { event[domainKey] = string(b) }
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
