import VigilCore
import VigilYAML

/// `type: sudo`: sudo's syslog messages (the text after the header). No options.
///
/// - `alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; [GROUP=… ; ][ENV=… ; ]COMMAND=/bin/ls -l` →
///   `sudo_command`, outcome success.
/// - `alice : 3 incorrect password attempts ; TTY=… ; COMMAND=…` → `sudo_auth_failure`
///   (`sudo.attempts: 3`); `user NOT in sudoers ; …` → `sudo_not_in_sudoers`;
///   `command not allowed ; …` → `sudo_command_not_allowed`; any other reason before the
///   `TTY=` list → `sudo_failure` with `event.reason`. All with outcome failure.
/// - PAM: `pam_unix(sudo:session): session opened for user root(uid=0) by alice(uid=1000)`,
///   `session closed …`, `pam_unix(sudo:auth): authentication failure; … user=alice` →
///   `sudo_session_open`, `sudo_session_close`, `sudo_auth_failure`…
///
/// Fields: `user.name` (who ran sudo), `user.effective.name` (`USER=`), `sudo.tty`, `sudo.pwd`,
/// `sudo.group`, `sudo.env`, `sudo.command` (everything after `COMMAND=`, even with ` ; ` in it).
/// Anything else fails with "unknown sudo message".
public struct SudoParser: LineParser {
    public init() {}

    public static let build: ParserBuilder = { context throws(YAMLError) in
        _ = try context.options(allowedKeys: [])
        return SudoParser()
    }

    static let pamActions = SyslogPAM.Actions(prefix: "sudo")
    private static let command: FieldValue = "sudo_command"
    private static let authFailure: FieldValue = "sudo_auth_failure"
    private static let notInSudoers: FieldValue = "sudo_not_in_sudoers"
    private static let notAllowed: FieldValue = "sudo_command_not_allowed"
    private static let failure: FieldValue = "sudo_failure"

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        var s = SyslogScanner(line)
        s.trimTrailingSpace()
        s.skipSpaces()
        if SyslogPAM.parse(&s, into: &event, actions: Self.pamActions) { return }
        guard let colon = s.find(" : ") else { throw ParseFailure("unknown sudo message") }
        let user = SyslogText.trimmed(s.slice(s.position, colon))
        guard !user.isEmpty, !user.contains(0x20) else { throw ParseFailure("unknown sudo message") }
        s.position = colon + 3
        var reason: UnsafeRawBufferPointer?
        var sawKey = false
        while !s.isAtEnd {
            s.skipSpaces()
            if s.skip("COMMAND=") {
                event["sudo.command"] = SyslogText.string(s.readRest())
                sawKey = true
                break
            }
            let segmentEnd = s.find(" ; ") ?? s.end
            let segment = s.slice(s.position, segmentEnd)
            s.position = min(segmentEnd + 3, s.end)
            guard let eq = segment.firstIndex(of: 0x3D) else {
                if !sawKey, reason == nil { reason = segment; continue }
                throw ParseFailure("unknown sudo message")
            }
            let key = UnsafeRawBufferPointer(rebasing: segment[..<eq])
            let value = UnsafeRawBufferPointer(rebasing: segment[(eq + 1)...])
            if SyslogText.equals(key, "TTY") { event["sudo.tty"] = SyslogText.string(value) }
            else if SyslogText.equals(key, "PWD") { event["sudo.pwd"] = SyslogText.string(value) }
            else if SyslogText.equals(key, "USER") { event["user.effective.name"] = SyslogText.string(value) }
            else if SyslogText.equals(key, "GROUP") { event["sudo.group"] = SyslogText.string(value) }
            else if SyslogText.equals(key, "ENV") { event["sudo.env"] = SyslogText.string(value) }
            else if SyslogText.equals(key, "TSID") { event["sudo.tsid"] = SyslogText.string(value) }
            else if !sawKey, reason == nil { reason = segment; continue }
            sawKey = true
        }
        guard sawKey else { throw ParseFailure("unknown sudo message") }
        event["user.name"] = SyslogText.string(user)
        guard let reason else {
            event["event.action"] = Self.command
            event["event.category"] = SyslogValues.process
            event["event.type"] = SyslogValues.start
            event["event.outcome"] = SyslogValues.success
            return
        }
        event["event.category"] = SyslogValues.authentication
        event["event.type"] = SyslogValues.info
        event["event.outcome"] = SyslogValues.failure
        var r = SyslogScanner(reason)
        if let n = r.readInt(), r.skip(" incorrect password attempt") {
            event["sudo.attempts"] = .int(n)
            event["event.action"] = Self.authFailure
        } else if SyslogText.containsIgnoringCase(reason, "NOT in sudoers") {
            event["event.action"] = Self.notInSudoers
        } else if SyslogText.containsIgnoringCase(reason, "command not allowed") {
            event["event.action"] = Self.notAllowed
        } else {
            event["event.action"] = Self.failure
            event["event.reason"] = SyslogText.string(reason)
        }
    }
}
