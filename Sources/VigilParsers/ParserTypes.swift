/// The parser types a `parsers/*.yaml` file may name in `type:`. One line per type: each builder
/// reads its own `options:` (rejecting unknown keys) and returns the compiled parser.
public enum ParserTypes {
    public static let builders: [String: ParserBuilder] = [
        "json": JSONParser.build,
        "grok": GrokParser.build,
        "apache_access": WebAccessParser.buildApache,
        "nginx_access": WebAccessParser.buildNginx,
        "zeek": ZeekParser.build,
        "eve": EVEParser.build,
        "cef": CEFParser.build,
        "leef": LEEFParser.build,
        "kv": KeyValueParser.build,
        "csv": CSVParser.build,
        "asa": ASAParser.build,
        "syslog": SyslogParser.build,
        "sshd": SshdParser.build,
        "sudo": SudoParser.build,
        "su": SuParser.build,
        "cron": CronParser.build,
        "iptables": IptablesParser.build,
        "apache_error": ApacheErrorParser.build,
    ]
}
