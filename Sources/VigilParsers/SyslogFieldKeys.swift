import VigilCore

/// Field names the syslog-family parsers (syslog, sshd, PAM, su, sudo) set on most lines,
/// looked up in the schema once (see `Event.Key`).
extension Event.Key {
    static let logSyslogModule = Event.Key("log.syslog.module")
    static let logSyslogPriority = Event.Key("log.syslog.priority")
    static let logSyslogVersion = Event.Key("log.syslog.version")
    static let pamByUid = Event.Key("pam.by_uid")
    static let pamByUser = Event.Key("pam.by_user")
    static let pamEuid = Event.Key("pam.euid")
    static let pamFailures = Event.Key("pam.failures")
    static let pamLogname = Event.Key("pam.logname")
    static let pamMaxRetries = Event.Key("pam.max_retries")
    static let pamModule = Event.Key("pam.module")
    static let pamRetries = Event.Key("pam.retries")
    static let pamRuser = Event.Key("pam.ruser")
    static let pamService = Event.Key("pam.service")
    static let pamTty = Event.Key("pam.tty")
    static let pamType = Event.Key("pam.type")
    static let pamUid = Event.Key("pam.uid")
}
