import VigilCore
import VigilYAML

/// `type: su`: su's syslog messages (the text after the header). No options.
///
/// - `(to root) alice on pts/0` → `su_switch`, success; `FAILED SU (to root) alice on pts/0` →
///   `su_failure`, failure (util-linux su).
/// - `Successful su for root by alice` / `FAILED su for root by alice` → `su_switch` / `su_failure`.
/// - `+ pts/0 alice:root` / `- pts/0 alice:root` (shadow-utils su) → `su_switch` / `su_failure`.
/// - PAM: `pam_unix(su:session): session opened for user root by alice(uid=1000)`,
///   `session closed for user root` (also without the `pam_unix(…)` prefix, as logged under a
///   `su(pam_unix)` tag), `pam_unix(su:auth): authentication failure; … user=root` →
///   `su_session_open`, `su_session_close`, `su_auth_failure`…
///
/// Fields: `user.name` (who ran su; for PAM session messages, the session's user as PAM logs it,
/// with the caller in `pam.by_user`), `user.effective.name` (the target user), `su.tty`.
/// Anything else fails with "unknown su message".
public struct SuParser: LineParser {
    public init() {}

    public static let build: ParserBuilder = { context throws(YAMLError) in
        _ = try context.options(allowedKeys: [])
        return SuParser()
    }

    static let pamActions = SyslogPAM.Actions(prefix: "su")
    private static let switched: FieldValue = "su_switch"
    private static let failed: FieldValue = "su_failure"

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        var s = SyslogScanner(line)
        s.trimTrailingSpace()
        s.skipSpaces()
        if SyslogPAM.parse(&s, into: &event, actions: Self.pamActions) { return }
        var success = true
        var toForm = s.has("(to ")
        if !toForm, s.skip("FAILED SU ") { success = false; toForm = true }
        var forForm = false
        if !toForm {
            if s.skip("Successful su for ") { forForm = true } else if s.skip("FAILED su for ") { forForm = true; success = false }
        }
        if toForm {
            // (to root) alice on pts/0
            guard s.skip("(to "), let target = s.read(upTo: 0x29), s.skip(") ") else { throw ParseFailure("unknown su message") }
            let onAt = s.findLast(" on ") ?? s.end
            let user = s.slice(s.position, onAt)
            guard !user.isEmpty else { throw ParseFailure("unknown su message") }
            event["user.effective.name"] = SyslogText.string(target)
            event["user.name"] = SyslogText.string(user)
            if onAt < s.end { event["su.tty"] = SyslogText.string(s.slice(onAt + 4, s.end)) }
        } else if forForm {
            guard let byAt = s.findLast(" by ") else { throw ParseFailure("unknown su message") }
            event["user.effective.name"] = SyslogText.string(s.slice(s.position, byAt))
            event["user.name"] = SyslogText.string(s.slice(byAt + 4, s.end))
        } else if s.has("+ ") || s.has("- ") {
            // + pts/0 alice:root
            success = s.peek() == 0x2B
            s.position += 2
            let tty = s.readToken()
            guard s.skip(byte: 0x20), let colon = s.read(upTo: 0x3A) else { throw ParseFailure("unknown su message") }
            _ = s.skip(byte: 0x3A)
            event["su.tty"] = SyslogText.string(tty)
            event["user.name"] = SyslogText.string(colon)
            event["user.effective.name"] = SyslogText.string(s.readRest())
        } else {
            throw ParseFailure("unknown su message")
        }
        event["event.action"] = success ? Self.switched : Self.failed
        event["event.category"] = SyslogValues.authentication
        event["event.type"] = success ? SyslogValues.start : SyslogValues.info
        event["event.outcome"] = success ? SyslogValues.success : SyslogValues.failure
    }
}
