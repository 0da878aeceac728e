import VigilCore
import VigilYAML

/// `type: cron`: cron daemon messages (Debian `CRON`, RHEL `crond`), the text after the header.
/// No options.
///
/// - `(root) CMD (run-parts /etc/cron.hourly)` → `cron_command`, `cron.command`.
/// - `(USER) KEYWORD (DETAIL)` for the other keywords (`RELOAD`, `BEGIN EDIT`, `REPLACE`,
///   `STARTUP`, `info`, …) → `cron_<keyword in lower case, spaces as _>`, `cron.detail`.
/// - PAM: `pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)`, `session
///   closed for user root` → `cron_session_open`, `cron_session_close`.
///
/// Fields: `user.name` (not for the pseudo users `CRON` and `*system*`), `cron.user`,
/// `cron.keyword`. Anything else fails with "unknown cron message".
public struct CronParser: LineParser {
    public init() {}

    public static let build: ParserBuilder = { context throws(YAMLError) in
        _ = try context.options(allowedKeys: [])
        return CronParser()
    }

    static let pamActions = SyslogPAM.Actions(prefix: "cron")
    private static let command: FieldValue = "cron_command"

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        var s = SyslogScanner(line)
        s.trimTrailingSpace()
        s.skipSpaces()
        if SyslogPAM.parse(&s, into: &event, actions: Self.pamActions) { return }
        guard s.skip(byte: 0x28), let user = s.read(upTo: 0x29), s.skip(") ") else { throw ParseFailure("unknown cron message") }
        let openAt = s.find(" (") ?? s.end
        let keyword = s.slice(s.position, openAt)
        guard !keyword.isEmpty else { throw ParseFailure("unknown cron message") }
        var detail: UnsafeRawBufferPointer?
        if openAt < s.end {
            var d = s.slice(openAt + 2, s.end)
            if d.last == 0x29 { d = UnsafeRawBufferPointer(rebasing: d[..<(d.count - 1)]) }
            detail = d
        }
        event["cron.user"] = SyslogText.string(user)
        let pseudo = SyslogText.equals(user, "CRON") || user.first == 0x2A  // *system*
        if !pseudo, !user.isEmpty { event["user.name"] = SyslogText.string(user) }
        event["cron.keyword"] = SyslogText.string(keyword)
        if SyslogText.equals(keyword, "CMD") {
            if let detail { event["cron.command"] = SyslogText.string(detail) }
            event["event.action"] = Self.command
            event["event.category"] = SyslogValues.process
            event["event.type"] = SyslogValues.start
            return
        }
        var action = "cron_" + SyslogText.lowercased(keyword)
        action = String(action.map { $0 == " " ? "_" : $0 })
        event["event.action"] = .string(action)
        if let detail { event["cron.detail"] = SyslogText.string(detail) }
        event["event.category"] = SyslogValues.process
        event["event.type"] = SyslogValues.info
    }
}
