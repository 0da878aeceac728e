import VigilCore
import VigilYAML

/// `type: sshd`: OpenSSH server messages (the text after the syslog header), as ECS
/// authentication events. No options.
///
/// Recognized (each sets `event.action`; `[preauth]` gives `sshd.preauth: true`; `error: ` and
/// `fatal: ` prefixes set `log.level`; `message repeated N times: [ … ]` parses the inner message
/// and sets `sshd.repeated: N`):
///
/// | message | `event.action` | outcome |
/// |---|---|---|
/// | `Accepted|Failed METHOD for [invalid user ]USER from IP port N ssh2[: KEYTYPE FP]` | `ssh_login` | success/failure |
/// | `Postponed|Partial METHOD for USER from IP port N ssh2` | `ssh_login_postponed` | — |
/// | `Invalid user USER from IP [port N]`, `input_userauth_request: invalid user USER` | `ssh_invalid_user` | failure |
/// | `Connection closed|reset by [invalid|authenticating user USER ]IP [port N]`, `Disconnected from …`, `Received disconnect from IP[ port N]:CODE: REASON` | `ssh_disconnect` | — |
/// | `Disconnecting: Too many authentication failures for USER`, `Disconnecting [invalid\|authenticating] user USER IP port N: REASON` | `ssh_too_many_failures` / `ssh_disconnecting` | failure / — |
/// | `maximum authentication attempts exceeded for [invalid user ]USER from IP port N ssh2` | `ssh_max_auth_exceeded` | failure |
/// | `reverse mapping checking getaddrinfo for HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!`, `Address IP maps to HOST, but …` | `ssh_reverse_mapping_failed` | — |
/// | `Did not receive identification string from IP [port N]` | `ssh_no_identification` | failure |
/// | `Unable to negotiate with IP port N: …`, `Bad protocol version identification '…' from IP port N`, `Timeout before authentication for IP port N` | `ssh_negotiation_failed`, `ssh_bad_protocol_version`, `ssh_auth_timeout` | failure |
/// | `Connection from IP port N on IP port N` | `ssh_connection` | — |
/// | `Server listening on IP port N.`, `Received signal N; terminating.` | `ssh_server_listen`, `ssh_server_stop` | — |
/// | PAM: `[pam_unix(sshd:auth): ]authentication failure; … rhost=H user=U`, `check pass; user unknown`, `PAM N more authentication failures; …`, `PAM service(sshd) ignoring max retries; N > M`, `session opened/closed for user U` | `ssh_auth_failure`, `ssh_user_unknown`, `ssh_auth_failures`, `ssh_max_retries`, `ssh_session_open`/`_close` | |
/// | any other `error: …` / `fatal: …` | `ssh_error` / `ssh_fatal` | — |
///
/// Fields: `user.name`, `source.ip` (or `source.address` when a host name stands in its place),
/// `source.port`, `sshd.auth_method` (`password`, `publickey`, `keyboard-interactive`, `none`, …),
/// `sshd.key_type`, `sshd.key_fingerprint`, `sshd.invalid_user`, `sshd.disconnect_code`,
/// `event.reason`, `pam.*`. Anything else fails with "unknown sshd message".
public struct SshdParser: LineParser {
    public init() {}

    public static let build: ParserBuilder = { context throws(YAMLError) in
        _ = try context.options(allowedKeys: [])
        return SshdParser()
    }

    static let pamActions = SyslogPAM.Actions(prefix: "ssh")
    /// What each recognized message sets besides its own fields, grouped once per kind of message
    /// (`event.action`, `event.category`, `event.type`, and `event.outcome` when known).
    private let groups = Groups.shared

    /// `event.action`, `event.category`, `event.type` and `event.outcome` of each recognized
    /// message, as preset groups: a line stores its three or four with one call.
    final class Groups: Sendable {
        static let shared = Groups()

        let loginSuccess, loginFailure, loginPostponed, invalidUser, disconnect, disconnecting, tooMany, maxAuth,
            reverseMapping, noIdentification, negotiation, badProtocol, authTimeout, connection, listen, stop, error,
            fatal: Event.PresetGroup

        private init() {
            typealias P = SyslogPresets
            func group(_ action: String, type: Event.Preset = P.typeInfo, outcome: Event.Preset? = nil,
                       category: Event.Preset = P.categoryAuthentication) -> Event.PresetGroup {
                // The order of `Event.set(_:_:_:_:)`: action, category, type, outcome.
                Event.PresetGroup([Event.Preset(.eventAction, .string(action)), category, type] + (outcome.map { [$0] } ?? []))
            }
            loginSuccess = group("ssh_login", type: P.typeStart, outcome: P.outcomeSuccess, category: P.categoryAuthenticationSession)
            loginFailure = group("ssh_login", outcome: P.outcomeFailure)
            loginPostponed = group("ssh_login_postponed")
            invalidUser = group("ssh_invalid_user", outcome: P.outcomeFailure)
            disconnect = group("ssh_disconnect", type: P.typeEnd)
            disconnecting = group("ssh_disconnecting", type: P.typeEnd)
            tooMany = group("ssh_too_many_failures", outcome: P.outcomeFailure)
            maxAuth = group("ssh_max_auth_exceeded", outcome: P.outcomeFailure)
            reverseMapping = group("ssh_reverse_mapping_failed")
            noIdentification = group("ssh_no_identification", outcome: P.outcomeFailure)
            negotiation = group("ssh_negotiation_failed", outcome: P.outcomeFailure)
            badProtocol = group("ssh_bad_protocol_version", outcome: P.outcomeFailure)
            authTimeout = group("ssh_auth_timeout", outcome: P.outcomeFailure)
            connection = group("ssh_connection", type: P.typeStart, category: P.categoryAuthenticationSession)
            listen = group("ssh_server_listen", type: P.typeStart, category: P.categoryProcess)
            stop = group("ssh_server_stop", type: P.typeEnd, category: P.categoryProcess)
            error = group("ssh_error")
            fatal = group("ssh_fatal")
        }
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        var s = SyslogScanner(validating: line, context: context)
        s.trimTrailingSpace()
        let fields = event.writer()
        if s.skip("message repeated ") {
            guard let n = s.readInt(), s.skip(" times: [") else { throw ParseFailure("bad 'message repeated' message") }
            _ = s.dropSuffix("]")
            s.skipSpaces()
            s.trimTrailingSpace()
            fields.setInt(.sshdRepeated, n)
        }
        let preauth = s.dropSuffix(" [preauth]") || s.dropSuffix("[preauth]")
        s.trimTrailingSpace()
        var level: FieldValue?
        if s.skip("error: ") { level = "error" } else if s.skip("fatal: ") { level = "fatal" }
        if let level { event[.logLevel] = level }
        guard Self.parseBody(&s, into: &event, fields, groups) else {
            guard let level else { throw ParseFailure("unknown sshd message") }
            fields.set(level == "error" ? groups.error : groups.fatal)
            fields.setBool(.sshdPreauth, preauth)
            return
        }
        fields.setBool(.sshdPreauth, preauth)
    }

    private static func parseBody(_ s: inout SyslogScanner, into event: inout Event, _ fields: Event.Writer, _ groups: Groups) -> Bool {
        switch s.peek() {
        case UInt8(ascii: "A"):
            if s.skip("Accepted ") {
                guard login(&s, into: fields) else { return false }
                fields.set(groups.loginSuccess)
                return true
            }
            if s.skip("Address ") {
                guard let mapsAt = s.find(" maps to ") else { return false }
                SyslogText.setAddress(s.slice(s.position, mapsAt), ipKey: .sourceIP, domainKey: .sourceAddress, in: fields)
                s.position = mapsAt + 9
                if let comma = s.find(", ") { fields.setString(.sourceDomain, s.slice(s.position, comma), of: s) }
                fields.setBool(.sshdPossibleBreakIn, true)
                fields.set(groups.reverseMapping)
                return true
            }
        case UInt8(ascii: "F"):
            if s.skip("Failed ") {
                guard login(&s, into: fields) else { return false }
                fields.set(groups.loginFailure)
                return true
            }
        case UInt8(ascii: "P"):
            if s.skip("Postponed ") || s.skip("Partial ") {
                guard login(&s, into: fields) else { return false }
                fields.set(groups.loginPostponed)
                return true
            }
        case UInt8(ascii: "I"):
            if s.skip("Invalid user ") {
                guard userFrom(&s, into: fields) else { return false }
                fields.set(groups.invalidUser)
                fields.setBool(.sshdInvalidUser, true)
                return true
            }
        case UInt8(ascii: "i"):
            if s.skip("input_userauth_request: invalid user ") {
                let user = s.readRest()
                if !user.isEmpty { fields.setString(.userName, user, of: s) }
                fields.set(groups.invalidUser)
                fields.setBool(.sshdInvalidUser, true)
                return true
            }
        case UInt8(ascii: "C"):
            if s.skip("Connection closed by ") || s.skip("Connection reset by ") {
                userAddressPort(&s, into: fields)
                fields.set(groups.disconnect)
                return true
            }
            if s.skip("Connection from ") {
                addressPort(&s, into: fields)
                if s.skip(" on ") {
                    let ip = s.readToken()
                    SyslogText.setAddress(ip, ipKey: .destinationIP, domainKey: .destinationAddress, in: fields)
                    if s.skip(" port "), let p = s.readInt() { fields.setInt(.destinationPort, p) }
                }
                fields.set(groups.connection)
                return true
            }
        case UInt8(ascii: "D"):
            if s.skip("Disconnected from ") {
                userAddressPort(&s, into: fields)
                fields.set(groups.disconnect)
                return true
            }
            if s.skip("Disconnecting: ") {
                let reason = s.rest
                if s.skip("Too many authentication failures") {
                    if s.skip(" for ") {
                        var user = s.readRest()
                        if SyslogText.hasPrefix(user, "invalid user ") {
                            user = UnsafeRawBufferPointer(rebasing: user[13...])
                            fields.setBool(.sshdInvalidUser, true)
                        }
                        if !user.isEmpty { fields.setString(.userName, user, of: s) }
                    }
                    fields.set(groups.tooMany)
                } else {
                    fields.setString(.eventReason, reason, of: s)
                    fields.set(groups.disconnecting)
                }
                return true
            }
            if s.skip("Disconnecting ") {
                // Disconnecting invalid user X 1.2.3.4 port 22: Too many authentication failures
                guard let colon = s.findLast(": ") else { return false }
                var head = s
                head.end = colon
                userAddressPort(&head, into: fields)
                s.position = colon + 2
                let reason = s.readRest()
                if SyslogText.containsIgnoringCase(reason, "Too many authentication failures") {
                    fields.set(groups.tooMany)
                } else {
                    fields.setString(.eventReason, reason, of: s)
                    fields.set(groups.disconnecting)
                }
                return true
            }
            if s.skip("Did not receive identification string from ") {
                addressPort(&s, into: fields)
                fields.set(groups.noIdentification)
                return true
            }
        case UInt8(ascii: "R"):
            if s.skip("Received disconnect from ") {
                // old: "IP: 11: Bye Bye"; new: "IP port N:11: Bye Bye"
                if let portAt = s.find(" port ") {
                    SyslogText.setAddress(s.slice(s.position, portAt), ipKey: .sourceIP, domainKey: .sourceAddress, in: fields)
                    s.position = portAt + 6
                    if let p = s.readInt() { fields.setInt(.sourcePort, p) }
                } else {
                    guard let colon = s.find(": ") else { return false }
                    SyslogText.setAddress(s.slice(s.position, colon), ipKey: .sourceIP, domainKey: .sourceAddress, in: fields)
                    s.position = colon
                }
                guard s.skip(byte: 0x3A) else { return false }
                s.skipSpaces()
                if let code = s.readInt() { fields.setInt(.sshdDisconnectCode, code) }
                _ = s.skip(byte: 0x3A)
                s.skipSpaces()
                let reason = s.readRest()
                if !reason.isEmpty { fields.setString(.eventReason, reason, of: s) }
                fields.set(groups.disconnect)
                return true
            }
            if s.skip("Received signal ") {
                if let n = s.readInt() { fields.setInt(.sshdSignal, n) }
                fields.set(groups.stop)
                return true
            }
        case UInt8(ascii: "r"):
            if s.skip("reverse mapping checking getaddrinfo for ") {
                guard let open = s.find(" ["), let close = s.find("]", from: open) else { return false }
                fields.setString(.sourceDomain, s.slice(s.position, open), of: s)
                SyslogText.setAddress(s.slice(open + 2, close), ipKey: .sourceIP, domainKey: .sourceAddress, in: fields)
                fields.setBool(.sshdPossibleBreakIn, s.find("POSSIBLE BREAK-IN ATTEMPT") != nil)
                fields.set(groups.reverseMapping)
                return true
            }
        case UInt8(ascii: "m"):
            if s.skip("maximum authentication attempts exceeded for ") {
                guard userFrom(&s, into: fields) else { return false }
                fields.set(groups.maxAuth)
                return true
            }
        case UInt8(ascii: "U"):
            if s.skip("Unable to negotiate with ") {
                guard let colon = s.find(": ") else { return false }
                var head = s
                head.end = colon
                addressPort(&head, into: fields)
                s.position = colon + 2
                fields.setString(.eventReason, s.readRest(), of: s)
                fields.set(groups.negotiation)
                return true
            }
        case UInt8(ascii: "B"):
            if s.skip("Bad protocol version identification ") {
                guard let from = s.findLast(" from ") else { return false }
                s.position = from + 6
                addressPort(&s, into: fields)
                fields.set(groups.badProtocol)
                return true
            }
        case UInt8(ascii: "T"):
            if s.skip("Timeout before authentication for ") {
                addressPort(&s, into: fields)
                fields.set(groups.authTimeout)
                return true
            }
        case UInt8(ascii: "S"):
            if s.skip("Server listening on ") {
                let ip = s.readToken()
                SyslogText.setAddress(ip, ipKey: .serverIP, domainKey: nil, in: fields)
                if s.skip(" port "), let p = s.readInt() { fields.setInt(.serverPort, p) }
                fields.set(groups.listen)
                return true
            }
        default:
            break
        }
        return SyslogPAM.parse(&s, into: &event, actions: pamActions)
    }

    /// `METHOD for USER from ADDR port N PROTO[: KEYTYPE FINGERPRINT…]`.
    private static func login(_ s: inout SyslogScanner, into fields: Event.Writer) -> Bool {
        guard let forAt = s.find(" for ") else { return false }
        let method = s.slice(s.position, forAt)
        guard !method.isEmpty else { return false }
        let slash = method.firstIndex(of: 0x2F) ?? method.count  // keyboard-interactive/pam
        fields.setString(.sshdAuthMethod, UnsafeRawBufferPointer(rebasing: method[..<slash]), of: s)
        s.position = forAt + 5
        guard userFrom(&s, into: fields) else { return false }
        s.skipSpaces()
        var proto = s.readToken()
        var hasKey = false
        if proto.last == 0x3A { proto = UnsafeRawBufferPointer(rebasing: proto[..<(proto.count - 1)]); hasKey = true }
        if !proto.isEmpty { fields.setString(.sshdProtocol, proto, of: s) }
        if hasKey {
            s.skipSpaces()
            let keyType = s.readToken()
            s.skipSpaces()
            let fingerprint = s.readToken()
            if !keyType.isEmpty { fields.setString(.sshdKeyType, keyType, of: s) }
            if !fingerprint.isEmpty { fields.setString(.sshdKeyFingerprint, fingerprint, of: s) }
        }
        return true
    }

    /// `[invalid user ]USER from ADDR[ port N]` (USER may be empty or hold spaces: the last
    /// ` from ` separates it).
    private static func userFrom(_ s: inout SyslogScanner, into fields: Event.Writer) -> Bool {
        guard let fromAt = s.findLast(" from ") else { return false }
        var user = s.slice(s.position, fromAt)
        if SyslogText.hasPrefix(user, "invalid user ") {
            user = UnsafeRawBufferPointer(rebasing: user[13...])
            fields.setBool(.sshdInvalidUser, true)
        }
        if !user.isEmpty { fields.setString(.userName, user, of: s) }
        s.position = fromAt + 6
        addressPort(&s, into: fields)
        return true
    }

    /// `ADDR[ port N]`.
    private static func addressPort(_ s: inout SyslogScanner, into fields: Event.Writer) {
        let address = s.readToken()
        SyslogText.setAddress(address, ipKey: .sourceIP, domainKey: .sourceAddress, in: fields)
        if s.skip(" port "), let p = s.readInt() { fields.setInt(.sourcePort, p) }
    }

    /// `[invalid user USER |authenticating user USER |user USER ]ADDR[ port N]`.
    private static func userAddressPort(_ s: inout SyslogScanner, into fields: Event.Writer) {
        var hasUser = false
        if s.skip("invalid user ") { hasUser = true; fields.setBool(.sshdInvalidUser, true) }
        else if s.skip("authenticating user ") || s.skip("user ") { hasUser = true }
        if hasUser {
            // USER ADDR port N: the address is the word before the last " port " (or the last word).
            let portAt = s.findLast(" port ") ?? s.end
            var space = portAt - 1
            while space >= s.position, s.bytes[space] != 0x20 { space -= 1 }
            if space >= s.position {
                let user = s.slice(s.position, space)
                if !user.isEmpty { fields.setString(.userName, user, of: s) }
                s.position = space + 1
            }
        }
        addressPort(&s, into: fields)
    }
}
