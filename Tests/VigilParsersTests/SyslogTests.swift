import Foundation
import Testing
import VigilCore
import VigilParsers
import VigilTestSupport

/// The syslog parser, its program sub-parsers (sshd, sudo, su, cron, iptables) and apache_error:
/// one case per message kind, the examples in `parsers/`, and random mutations of real lines.
@Suite struct SyslogTests {
    static let reference = Timestamp(year: 2026, month: 3, day: 20, hour: 12, minute: 0, second: 0, nanosecond: 0)!
    static let context = ParseContext(referenceTime: reference)
    static let mine = ["syslog", "sshd", "sudo", "su", "cron", "iptables", "apache_error"]

    /// The repository's parsers (loaded once per test; cheap).
    static func registry() throws -> ParserRegistry {
        try ParserRegistry.load(directory: repositoryRoot() + "/parsers")
    }

    static func expect(_ event: Event, _ fields: [String: String], _ line: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for (key, want) in fields.sorted(by: { $0.key < $1.key }) {
            let got = event[key]?.plainText ?? "(missing)"
            #expect(got == want, "\(key) in \(line)", sourceLocation: sourceLocation)
        }
    }

    // MARK: Examples in parsers/*.yaml

    @Test func parserExamplesPass() throws {
        let registry = try Self.registry()
        var checked = 0
        for name in Self.mine {
            let parser = try #require(registry.parser(named: name), "parsers/\(name).yaml")
            #expect(parser.examples.count >= 4, "\(name) has few examples")
            #expect(parser.examples.contains { $0.error != nil || $0.fields.contains { $0.0 == "vigil.errors" } },
                    "\(name) needs a failing example")
            for example in parser.examples {
                checked += 1
                do {
                    // Examples avoid RFC 3164 timestamps, so any reference time gives the same fields.
                    let event = try parser.parse(example.line, context: Self.context)
                    #expect(example.error == nil, "\(example.origin): expected failure '\(example.error ?? "")'")
                    for (key, want) in example.fields {
                        #expect(event[key]?.plainText ?? "(missing)" == want, "\(example.origin): \(key)")
                    }
                } catch {
                    let expected = try #require(example.error, "\(example.origin): rejected: \(error.reason)")
                    #expect(error.reason.contains(expected), "\(example.origin): \(error.reason)")
                }
            }
        }
        print("parser examples checked: \(checked)")
    }

    /// Array values set from presets (`event.category`) are stored by reference to the preset:
    /// they read back, survive a copy, the binary and JSON codecs and the session's reuse of its
    /// event, and equal the same values stored by the subscript.
    @Test func presetArraysSurviveCopiesCodecsAndReuse() throws {
        let registry = try Self.registry()
        let session = ParserSession(parser: try #require(registry.parser(named: "syslog")))
        let lines = ["Mar 14 09:12:07 bastion sshd[42]: Accepted publickey for alice from 10.0.0.1 port 50122 ssh2",
                     "Mar 14 09:12:08 bastion sshd[43]: Failed password for bob from 10.0.0.2 port 50123 ssh2",
                     "Mar 14 09:12:09 bastion sshd[44]: Received signal 15; terminating."]
        let expected: [(String, String)] = [("[\"authentication\",\"session\"]", "[\"start\"]"),
                                            ("[\"authentication\"]", "[\"info\"]"), ("[\"process\"]", "[\"end\"]")]
        var kept: [Event] = []
        for (line, (category, type)) in zip(lines, expected) {
            var bytes = Array(line.utf8)
            try bytes.withUnsafeMutableBytes { b in
                try session.parse(UnsafeRawBufferPointer(b), context: Self.context) { event in
                    #expect(event["event.category"]?.description == category, "\(line)")
                    #expect(event["event.type"]?.description == type, "\(line)")
                    var rebuilt = Event()
                    for field in event.fields { rebuilt[field.key] = field.value }
                    #expect(rebuilt == event)
                    let decoded = try EventBinaryCodec.decode(EventBinaryCodec.encode(event))
                    #expect(decoded == event)
                    #expect(EventJSON.encodeString(event).contains("\"category\":\(category)"))
                    kept.append(event)
                }
            }
        }
        // Copies taken before the session reused its event keep their own values.
        for (event, (category, _)) in zip(kept, expected) { #expect(event["event.category"]?.description == category) }
        var copy = kept[0]
        copy["event.category"] = .array([.string("network")])
        #expect(kept[0]["event.category"]?.description == expected[0].0)
        #expect(copy["event.category"]?.description == "[\"network\"]")
    }

    // MARK: Syslog headers

    @Test(arguments: [
        // RFC 3164 from a file (no PRI), day padded with a space, year from the reference rule
        ("Jun  4 15:16:01 combo sshd(pam_unix)[19939]: check pass; user unknown",
         ["@timestamp": "2025-06-04T15:16:01Z", "log.syslog.hostname": "combo", "host.hostname": "combo",
          "log.syslog.appname": "sshd(pam_unix)", "process.name": "sshd", "log.syslog.module": "pam_unix",
          "process.pid": "19939", "message": "check pass; user unknown", "log.syslog.priority": "(missing)"]),
        // PRI, single-digit day with one space, a fraction
        ("<38>Mar 5 09:12:07.250 host1 app: hello",
         ["@timestamp": "2026-03-05T09:12:07.250Z", "log.syslog.priority": "38", "log.syslog.facility.code": "4",
          "log.syslog.facility.name": "auth", "log.syslog.severity.code": "6", "log.syslog.severity.name": "informational",
          "process.name": "app", "process.pid": "(missing)", "message": "hello"]),
        // no hostname (sent to /dev/log), within 7 days ahead of the reference: this year
        ("<13>Mar 25 10:00:00 myprog[77]: x y z",
         ["@timestamp": "2026-03-25T10:00:00Z", "log.syslog.hostname": "(missing)", "process.name": "myprog", "process.pid": "77",
          "message": "x y z"]),
        // a year in the header; a non-numeric procid
        ("Dec 31 2025 23:59:59 h prog[worker-1]: m",
         ["@timestamp": "2025-12-31T23:59:59Z", "log.syslog.procid": "worker-1", "process.pid": "(missing)", "message": "m"]),
        // rsyslog high-precision file format
        ("2026-03-14T09:12:07.123456+01:00 web01 CRON[4242]: (root) CMD (run-parts /etc/cron.hourly)",
         ["@timestamp": "2026-03-14T08:12:07.123456Z", "process.name": "CRON", "event.action": "cron_command",
          "user.name": "root", "cron.command": "run-parts /etc/cron.hourly"]),
        // Cisco ASA: no tag, the whole text is the message
        ("<166>Jan  5 08:52:35 10.22.8.216 %ASA-6-302021: Teardown ICMP",
         ["log.syslog.hostname": "10.22.8.216", "log.syslog.appname": "(missing)", "message": "%ASA-6-302021: Teardown ICMP"]),
        // sysklogd's own tag holds a space: not a tag, kept in the message
        ("Jun 19 04:09:11 combo syslogd 1.4.1: restart.",
         ["log.syslog.hostname": "combo", "process.name": "(missing)", "message": "syslogd 1.4.1: restart."]),
        // CRLF and trailing spaces are dropped from the message
        ("Jun 14 15:16:02 combo ftpd[1]: connection from 1.2.3.4  \r",
         ["message": "connection from 1.2.3.4"]),
        // a tag with nothing after it
        ("Mar 14 09:12:07 host prog:", ["process.name": "prog", "message": "(missing)"]),
        // the fixed 15-byte layout and its neighbours (read without the scan, or with it)
        ("Mar  4 09:12:07 h p: m", ["@timestamp": "2026-03-04T09:12:07Z", "log.syslog.hostname": "h", "message": "m"]),
        ("Mar 14 09:12:07", ["@timestamp": "2026-03-14T09:12:07Z", "log.syslog.hostname": "(missing)", "message": "(missing)"]),
        ("Mar 14 09:12:07.5 h p: m", ["@timestamp": "2026-03-14T09:12:07.500Z", "log.syslog.hostname": "h"]),
        ("mar 14 09:12:07 h p[1]: m", ["@timestamp": "2026-03-14T09:12:07Z", "process.pid": "1"]),
        ("Mar 14 09:12:07 h1:x p: m", ["log.syslog.hostname": "h1:x", "process.name": "p"]),
        ("Mar 14 09:12:07 p[2]: m", ["log.syslog.hostname": "(missing)", "process.name": "p", "process.pid": "2"]),
        // RFC 5424, all NILVALUEs
        ("<165>1 - - - - - -", ["log.syslog.version": "1", "@timestamp": "(missing)", "log.syslog.hostname": "(missing)",
                                "process.name": "(missing)", "log.syslog.msgid": "(missing)", "message": "(missing)"]),
        // RFC 5424 with a BOM, fraction and offset
        ("<34>1 2003-10-11T22:14:15.003-07:00 mymachine.example.com su 123 ID47 - \u{FEFF}'su root' failed for lonvick on /dev/pts/8",
         ["@timestamp": "2003-10-12T05:14:15.003Z", "log.syslog.facility.code": "4", "log.syslog.severity.code": "2",
          "log.syslog.severity.name": "critical", "host.hostname": "mymachine.example.com", "process.name": "su",
          "process.pid": "123", "log.syslog.msgid": "ID47", "message": "'su root' failed for lonvick on /dev/pts/8"]),
        // RFC 5424 structured data: escapes, several elements, a repeated parameter, no MSG
        (#"<165>1 2003-10-11T22:14:15Z h app - ID1 [exampleSDID@32473 iut="3" eventSource="App \"x\" \\ \] y"][origin ip="192.0.2.1" ip="192.0.2.2"]"#,
         ["log.syslog.structured_data.exampleSDID@32473.iut": "3",
          "log.syslog.structured_data.exampleSDID@32473.eventSource": #"App "x" \ ] y"#,
          "log.syslog.structured_data.origin.ip": #"["192.0.2.1","192.0.2.2"]"#, "message": "(missing)",
          "process.pid": "(missing)"]),
        // RFC 5424 program with a sub-parser
        ("<86>1 2026-03-14T09:12:07Z bastion sshd 991 - - Accepted password for bob from 192.0.2.5 port 2222 ssh2",
         ["process.name": "sshd", "event.action": "ssh_login", "user.name": "bob", "source.port": "2222"]),
    ])
    func syslogHeaders(line: String, expected: [String: String]) throws {
        let parser = try #require(try Self.registry().parser(named: "syslog"))
        let event = try parser.parse(line, context: Self.context)
        Self.expect(event, expected, line)
    }

    @Test(arguments: [
        ("", "no timestamp"),
        ("Feb 29 10:00:00 h p: m", "bad timestamp"),
        ("Mar 14 09:12:07\th p: m", "bad timestamp"),
        ("<13", "bad <PRI> header"),
        ("<1234>Mar 14 09:12:07 h p: m", "bad <PRI> header"),
        ("<192>Mar 14 09:12:07 h p: m", "priority over 191"),
        ("Foo 14 09:12:07 h p: m", "bad timestamp"),
        ("Mar 14 25:12:07 h p: m", "bad timestamp"),
        ("<13>1 2003-13-11T22:14:15Z h a p m -", "bad RFC 5424 timestamp"),
        ("<13>1 2003-10-11T22:14:15Z h a p", "RFC 5424 header ends before MSGID"),
        ("<13>1 2003-10-11T22:14:15Z h a p m x", "neither '-' nor '['"),
        (#"<13>1 - h a p m [id k="v""#, "unterminated RFC 5424 SD-ELEMENT"),
        (#"<13>1 - h a p m [id k="v]"#, "unterminated RFC 5424 PARAM-VALUE"),
        (#"<13>1 - h a p m [id k=v]"#, "bad RFC 5424 SD-PARAM"),
        (#"<13>1 - h a p m [id k="v"]x"#, "no space before MSG"),
    ])
    func syslogFailures(line: String, reason: String) throws {
        let parser = SyslogParser()
        var event = Event()
        var bytes = Array(line.utf8)
        let error = bytes.withUnsafeMutableBytes { b -> ParseFailure? in
            do throws(ParseFailure) { try parser.parse(UnsafeRawBufferPointer(b), into: &event, context: Self.context); return nil }
            catch { return error }
        }
        #expect(error?.reason.contains(reason) == true, "\(line): \(error?.reason ?? "parsed")")
    }

    @Test func formatOptionForcesTheVariant() throws {
        let registry = try ParserRegistry.load(texts: [
            ("a.yaml", "type: syslog\noptions: { format: rfc3164, timezone: Europe/Berlin }\n"),
            ("b.yaml", "type: syslog\noptions: { format: rfc5424 }\n"),
        ])
        let a = try #require(registry.parser(named: "a")), b = try #require(registry.parser(named: "b"))
        // Forced RFC 3164: "1" is then not a version; the zone applies (CET in January).
        #expect(throws: ParseFailure.self) { try a.parse("<13>1 2003-10-11T22:14:15Z h a p m - x", context: Self.context) }
        let e = try a.parse("<13>Jan 14 09:00:00 h p: m", context: Self.context)
        #expect(e["@timestamp"]?.plainText == "2026-01-14T08:00:00Z")
        #expect(throws: ParseFailure.self) { try b.parse("Jan 14 09:00:00 h p: m", context: Self.context) }
        // Unknown options and references are configuration errors.
        #expect(throws: (any Error).self) { try ParserRegistry.load(texts: [("c.yaml", "type: syslog\noptions: { fromat: auto }\n")]) }
        #expect(throws: (any Error).self) { try ParserRegistry.load(texts: [("c.yaml", "type: syslog\noptions: { programs: { sshd: nope } }\n")]) }
    }

    @Test func subParserFailurePolicy() throws {
        // A rejecting sub-parser rejects the line; a keeping one keeps it with the reason.
        let strict = try ParserRegistry.load(texts: [
            ("syslog.yaml", "type: syslog\noptions: { programs: { sshd: sshd }, default_program_parser: cron }\n"),
            ("sshd.yaml", "type: sshd\n"), ("cron.yaml", "type: cron\non_failure: keep\n"),
        ])
        let p = try #require(strict.parser(named: "syslog"))
        let error = #expect(throws: ParseFailure.self) { try p.parse("Mar 14 09:12:07 h sshd[1]: Starting session: shell", context: Self.context) }
        #expect(error?.reason == "syslog: sshd: unknown sshd message")
        // default_program_parser handles every other program.
        let kept = try p.parse("Mar 14 09:12:07 h other[1]: something else", context: Self.context)
        #expect(kept.vigilErrors == ["cron: unknown cron message"])
        #expect(kept.message == "something else")
        let cron = try p.parse("Mar 14 09:12:07 h anything[1]: (root) CMD (true)", context: Self.context)
        #expect(cron["cron.command"]?.plainText == "true")
    }

    // MARK: Sub-parsers, one case per message kind

    @Test(arguments: [
        ("Accepted password for fztu from 119.137.62.142 port 49116 ssh2",
         ["event.action": "ssh_login", "event.outcome": "success", "event.type": #"["start"]"#, "user.name": "fztu",
          "source.ip": "119.137.62.142", "source.port": "49116", "sshd.auth_method": "password", "sshd.protocol": "ssh2",
          "sshd.preauth": "false"]),
        ("Accepted publickey for alice from 10.0.4.21 port 50122 ssh2: ED25519 SHA256:AbCd+/x",
         ["sshd.auth_method": "publickey", "sshd.key_type": "ED25519", "sshd.key_fingerprint": "SHA256:AbCd+/x"]),
        ("Accepted keyboard-interactive/pam for carol from 2001:db8::5 port 5000 ssh2",
         ["sshd.auth_method": "keyboard-interactive", "source.ip": "2001:db8::5", "user.name": "carol"]),
        ("Failed password for root from 5.36.59.76 port 42393 ssh2",
         ["event.action": "ssh_login", "event.outcome": "failure", "user.name": "root", "sshd.invalid_user": "(missing)"]),
        ("Failed none for invalid user 0 from 5.188.10.180 port 49811 ssh2",
         ["sshd.auth_method": "none", "user.name": "0", "sshd.invalid_user": "true"]),
        ("Failed password for invalid user  from 10.0.0.9 port 1 ssh2", ["user.name": "(missing)", "sshd.invalid_user": "true"]),
        ("Failed password for root from host.example.com port 22 ssh2", ["source.ip": "(missing)", "source.address": "host.example.com"]),
        ("Postponed keyboard-interactive for bob from 10.0.0.1 port 22 ssh2 [preauth]",
         ["event.action": "ssh_login_postponed", "sshd.preauth": "true"]),
        ("Invalid user webmaster from 173.234.31.186", ["event.action": "ssh_invalid_user", "user.name": "webmaster", "source.port": "(missing)"]),
        ("Invalid user test from 10.0.0.2 port 40000", ["source.port": "40000"]),
        ("input_userauth_request: invalid user webmaster [preauth]", ["event.action": "ssh_invalid_user", "user.name": "webmaster", "sshd.preauth": "true"]),
        ("Connection closed by 173.234.31.186 [preauth]", ["event.action": "ssh_disconnect", "source.ip": "173.234.31.186", "event.type": #"["end"]"#]),
        ("Connection closed by invalid user admin 10.0.0.3 port 5555 [preauth]",
         ["user.name": "admin", "sshd.invalid_user": "true", "source.ip": "10.0.0.3", "source.port": "5555"]),
        ("Connection reset by 10.0.0.4 port 1 [preauth]", ["event.action": "ssh_disconnect", "source.port": "1"]),
        ("Disconnected from user alice 10.0.0.5 port 6000", ["event.action": "ssh_disconnect", "user.name": "alice", "source.ip": "10.0.0.5"]),
        ("Disconnected from 10.0.0.6 port 6001 [preauth]", ["source.ip": "10.0.0.6", "user.name": "(missing)"]),
        ("Received disconnect from 52.80.34.196: 11: Bye Bye [preauth]",
         ["sshd.disconnect_code": "11", "event.reason": "Bye Bye", "source.ip": "52.80.34.196"]),
        ("Received disconnect from 10.0.0.7 port 7000:11: disconnected by user",
         ["sshd.disconnect_code": "11", "event.reason": "disconnected by user", "source.port": "7000", "sshd.preauth": "false"]),
        ("error: Received disconnect from 103.99.0.122: 14: No more user authentication methods available. [preauth]",
         ["log.level": "error", "event.action": "ssh_disconnect", "sshd.disconnect_code": "14"]),
        ("Disconnecting: Too many authentication failures for admin [preauth]",
         ["event.action": "ssh_too_many_failures", "user.name": "admin", "event.outcome": "failure"]),
        ("Disconnecting invalid user test 10.0.0.8 port 8000: Too many authentication failures [preauth]",
         ["event.action": "ssh_too_many_failures", "user.name": "test", "source.ip": "10.0.0.8"]),
        ("error: maximum authentication attempts exceeded for invalid user oracle from 10.0.0.9 port 9000 ssh2 [preauth]",
         ["event.action": "ssh_max_auth_exceeded", "user.name": "oracle", "sshd.invalid_user": "true"]),
        ("reverse mapping checking getaddrinfo for ns.example.com [173.234.31.186] failed - POSSIBLE BREAK-IN ATTEMPT!",
         ["event.action": "ssh_reverse_mapping_failed", "source.domain": "ns.example.com", "sshd.possible_break_in": "true"]),
        ("Address 10.0.0.10 maps to x.example.com, but this does not map back to the address - POSSIBLE BREAK-IN ATTEMPT!",
         ["event.action": "ssh_reverse_mapping_failed", "source.ip": "10.0.0.10", "source.domain": "x.example.com"]),
        ("Did not receive identification string from 123.235.32.19", ["event.action": "ssh_no_identification", "source.ip": "123.235.32.19"]),
        ("Unable to negotiate with 10.0.0.11 port 1100: no matching key exchange method found. Their offer: diffie-hellman-group1-sha1",
         ["event.action": "ssh_negotiation_failed", "source.port": "1100"]),
        ("Bad protocol version identification 'GET / HTTP/1.1' from 10.0.0.12 port 1200", ["event.action": "ssh_bad_protocol_version", "source.ip": "10.0.0.12"]),
        ("Timeout before authentication for 10.0.0.13 port 1300", ["event.action": "ssh_auth_timeout"]),
        ("Connection from 10.0.0.14 port 1400 on 10.0.0.1 port 22", ["event.action": "ssh_connection", "destination.port": "22"]),
        ("Server listening on 0.0.0.0 port 22.", ["event.action": "ssh_server_listen", "server.port": "22"]),
        ("Received signal 15; terminating.", ["event.action": "ssh_server_stop", "sshd.signal": "15"]),
        ("pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=173.234.31.186",
         ["event.action": "ssh_auth_failure", "source.ip": "173.234.31.186", "user.name": "(missing)", "pam.tty": "ssh", "pam.uid": "0"]),
        ("pam_unix(sshd:auth): check pass; user unknown", ["event.action": "ssh_user_unknown"]),
        ("PAM 1 more authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=5.188.10.180",
         ["event.action": "ssh_auth_failures", "pam.failures": "1"]),
        ("PAM 5 more authentication failures; logname= uid=0 euid=0 tty=ssh ruser= rhost=106.5.5.195  user=root",
         ["pam.failures": "5", "user.name": "root"]),
        ("PAM service(sshd) ignoring max retries; 6 > 3", ["event.action": "ssh_max_retries", "pam.retries": "6", "pam.max_retries": "3"]),
        ("pam_unix(sshd:session): session opened for user fztu by (uid=0)",
         ["event.action": "ssh_session_open", "user.name": "fztu", "pam.by_uid": "0", "event.category": #"["authentication","session"]"#]),
        ("pam_unix(sshd:session): session closed for user fztu", ["event.action": "ssh_session_close", "user.name": "fztu"]),
        ("message repeated 5 times: [ Failed password for root from 5.36.59.76 port 42393 ssh2]",
         ["sshd.repeated": "5", "event.action": "ssh_login", "source.port": "42393"]),
        ("fatal: Write failed: Connection reset by peer [preauth]", ["event.action": "ssh_fatal", "log.level": "fatal", "sshd.preauth": "true"]),
    ])
    func sshdMessages(line: String, expected: [String: String]) throws {
        let event = try CompiledParser(name: "sshd", type: "sshd", base: SshdParser()).parse(line, context: Self.context)
        Self.expect(event, expected, line)
        #expect(event["event.category"] != nil)
    }

    @Test(arguments: [
        ("sudo", "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/ls",
         ["event.action": "sudo_command", "user.name": "alice", "user.effective.name": "root", "sudo.command": "/bin/ls"]),
        ("sudo", "alice : TTY=pts/0 ; PWD=/ ; USER=root ; ENV=A=1 ; COMMAND=/bin/sh -c 'a ; b'",
         ["sudo.env": "A=1", "sudo.command": "/bin/sh -c 'a ; b'"]),
        ("sudo", "alice : 1 incorrect password attempt ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls",
         ["event.action": "sudo_auth_failure", "sudo.attempts": "1", "event.outcome": "failure"]),
        ("sudo", "bob : command not allowed ; TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/sbin/reboot",
         ["event.action": "sudo_command_not_allowed"]),
        ("sudo", "bob : a password is required ; TTY=pts/2 ; PWD=/ ; USER=root ; COMMAND=/bin/true",
         ["event.action": "sudo_failure", "event.reason": "a password is required"]),
        ("sudo", "pam_unix(sudo:auth): authentication failure; logname=alice uid=1000 euid=0 tty=/dev/pts/0 ruser=alice rhost=  user=alice",
         ["event.action": "sudo_auth_failure", "user.name": "alice", "pam.ruser": "alice", "source.ip": "(missing)"]),
        ("sudo", "pam_unix(sudo:session): session closed for user root", ["event.action": "sudo_session_close", "user.name": "root"]),
        ("su", "(to root) alice on pts/0", ["event.action": "su_switch", "user.name": "alice", "user.effective.name": "root", "su.tty": "pts/0"]),
        ("su", "FAILED SU (to root) alice on pts/1", ["event.action": "su_failure", "event.outcome": "failure", "su.tty": "pts/1"]),
        ("su", "FAILED su for root by alice", ["event.action": "su_failure", "user.name": "alice", "user.effective.name": "root"]),
        ("su", "Successful su for root by alice", ["event.action": "su_switch", "event.outcome": "success"]),
        ("su", "+ pts/0 alice:root", ["event.action": "su_switch", "su.tty": "pts/0", "user.name": "alice", "user.effective.name": "root"]),
        ("su", "- pts/0 alice:root", ["event.action": "su_failure"]),
        ("su", "session opened for user cyrus by (uid=0)", ["event.action": "su_session_open", "user.name": "cyrus"]),
        ("su", "pam_unix(su:auth): authentication failure; logname=alice uid=1000 euid=0 tty=pts/0 ruser=alice rhost=  user=root",
         ["event.action": "su_auth_failure", "user.name": "root"]),
        ("cron", "(root) CMD (run-parts /etc/cron.hourly)", ["event.action": "cron_command", "user.name": "root", "cron.command": "run-parts /etc/cron.hourly"]),
        ("cron", "(CRON) info (No MTA installed, discarding output)",
         ["event.action": "cron_info", "user.name": "(missing)", "cron.user": "CRON", "cron.detail": "No MTA installed, discarding output"]),
        ("cron", "(alice) BEGIN EDIT (alice)", ["event.action": "cron_begin_edit", "user.name": "alice"]),
        ("cron", "pam_unix(cron:session): session opened for user root(uid=0) by (uid=0)", ["event.action": "cron_session_open", "user.name": "root"]),
        ("iptables", "IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=52 PROTO=47",
         ["event.action": "log", "network.iana_number": "47", "network.transport": "(missing)", "event.type": #"["connection"]"#]),
        ("iptables", "[ 12.5] DROP: IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 PROTO=ICMPv6 TYPE=128 CODE=0",
         ["iptables.prefix": "DROP:", "network.transport": "ipv6-icmp", "event.action": "block"]),
        ("iptables", "FW ACCEPT IN=eth0 OUT= SRC=10.0.0.1 DST=10.0.0.2 LEN=56 PROTO=ICMP TYPE=3 CODE=3 [SRC=10.0.0.2 DST=10.0.0.9 LEN=28 PROTO=UDP SPT=53 DPT=9999 LEN=8 ] MTU=1500",
         ["event.action": "allow", "destination.ip": "10.0.0.2", "source.port": "(missing)", "iptables.mtu": "1500", "iptables.mac": "(missing)"]),
        ("iptables", "IN=br0 OUT=eth1 PHYSIN=veth1 MAC=zz SRC=10.0.0.1 DST=10.0.0.2 PROTO=UDP SPT=1 DPT=2 MARK=0x1",
         ["iptables.mac": "zz", "iptables.physin": "veth1", "iptables.mark": "0x1", "observer.egress.interface.name": "eth1"]),
        ("apache_error", "[Sun Dec 04 04:51:08 2005] [notice] jk2_init() Found child 6725 in scoreboard slot 10",
         ["@timestamp": "2005-12-04T04:51:08Z", "log.level": "notice", "message": "jk2_init() Found child 6725 in scoreboard slot 10"]),
        ("apache_error", "[Thu Jun 27 06:58:09.169510 2019] [php7:warn] [pid 12:tid 34] [client 2001:db8::1] PHP Warning: x",
         ["apache.error.module": "php7", "log.level": "warn", "process.pid": "12", "source.ip": "2001:db8::1", "message": "PHP Warning: x"]),
    ])
    func subParserMessages(type: String, line: String, expected: [String: String]) throws {
        let base: any LineParser = switch type {
        case "sudo": SudoParser()
        case "su": SuParser()
        case "cron": CronParser()
        case "iptables": IptablesParser()
        default: ApacheErrorParser()
        }
        let event = try CompiledParser(name: type, type: type, base: base).parse(line, context: Self.context)
        Self.expect(event, expected, line)
    }

    @Test(arguments: [
        ("sshd", "Starting session: shell on pts/0", "unknown sshd message"),
        ("sshd", "message repeated x times: [ a]", "bad 'message repeated' message"),
        ("sudo", "alice TTY=pts/0", "unknown sudo message"),
        ("sudo", "alice : no keys here", "unknown sudo message"),
        ("su", "(to root alice on pts/0", "unknown su message"),
        ("cron", "root CMD (x)", "unknown cron message"),
        ("iptables", "usb 1-1: new device", "no netfilter IN= field"),
        ("iptables", "IN=eth0 SRC=1.2.3.4 DST=x", "DST is not an IP address"),
        ("iptables", "IN=eth0 SRC=1.2.3.4 DST=1.2.3.5 PROTO=TCP SPT=70000 DPT=1", "SPT is not a port"),
        ("apache_error", "[Sun Dec 04 04:51:08 2005] notice x", "no [level]"),
        ("apache_error", "[Sun Dec 34 04:51:08 2005] [notice] x", "bad timestamp"),
    ])
    func subParserFailures(type: String, line: String, reason: String) throws {
        let base: any LineParser = switch type {
        case "sshd": SshdParser()
        case "sudo": SudoParser()
        case "su": SuParser()
        case "cron": CronParser()
        case "iptables": IptablesParser()
        default: ApacheErrorParser()
        }
        let error = #expect(throws: ParseFailure.self) { try CompiledParser(name: type, type: type, base: base).parse(line, context: Self.context) }
        #expect(error?.reason == "\(type): \(reason)", "\(line)")
    }

    // MARK: Robustness

    /// SplitMix64: a tiny seeded generator so failures reproduce.
    struct SeededRandom: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    static func mutate(_ line: [UInt8], _ rng: inout SeededRandom) -> [UInt8] {
        var b = line
        let interesting: [UInt8] = [0x00, 0x20, 0x3A, 0x3C, 0x3E, 0x5B, 0x5D, 0x28, 0x29, 0x3D, 0x22, 0x5C, 0x2D, 0x0D, 0x0A, 0xFF, 0xC3, 0xEF, 0x30, 0x39]
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<7, using: &rng) {
            case 0 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 1 where !b.isEmpty: b[Int.random(in: 0..<b.count, using: &rng)] = interesting.randomElement(using: &rng)!
            case 2: b.insert(interesting.randomElement(using: &rng)!, at: Int.random(in: 0...b.count, using: &rng))
            case 3 where !b.isEmpty: b.remove(at: Int.random(in: 0..<b.count, using: &rng))
            case 4 where !b.isEmpty: b.removeLast(Int.random(in: 0...b.count, using: &rng))  // truncate
            case 5 where b.count > 2:
                let i = Int.random(in: 0..<b.count, using: &rng), j = Int.random(in: i..<b.count, using: &rng)
                b.insert(contentsOf: b[i...j], at: Int.random(in: 0...b.count, using: &rng))  // duplicate a run
            case 6 where !b.isEmpty: b.removeFirst(Int.random(in: 0...min(b.count, 20), using: &rng))
            default: b.append(UInt8.random(in: 0...255, using: &rng))
            }
        }
        return b
    }

    @Test func mutatedRealLinesNeverCrash() throws {
        let registry = try Self.registry()
        var corpora: [(String, [[UInt8]])] = []
        for name in Self.mine {
            let parser = try #require(registry.parser(named: name))
            corpora.append((name, parser.examples.map { Array($0.line.utf8) }))
        }
        if let data = sharedDataDirectory() {
            func lines(_ file: String) throws -> [[UInt8]] {
                try Data(contentsOf: URL(fileURLWithPath: "\(data)/\(file)")).split(separator: 0x0A).map { Array($0) }
            }
            for file in ["logs/loghub/OpenSSH/OpenSSH_2k.log", "logs/loghub/Linux/Linux_2k.log",
                         "metron/integration-sample-data/syslog3164/raw/Syslog3164Output",
                         "metron/integration-sample-data/syslog5424/raw/Syslog5424Output"] {
                corpora[0].1 += try lines(file)
            }
            corpora[6].1 += try lines("logs/loghub/Apache/Apache_2k.log")
            // sshd alone sees the messages of the OpenSSH sample (the text after "]: ").
            for line in try lines("logs/loghub/OpenSSH/OpenSSH_2k.log") {
                if let k = (0..<max(0, line.count - 2)).first(where: { line[$0] == 0x5D && line[$0 + 1] == 0x3A && line[$0 + 2] == 0x20 }) {
                    corpora[1].1.append(Array(line[(k + 3)...]))
                }
            }
        } else {
            print("skipped real-sample corpora: no shared data directory")
        }
        var rng = SeededRandom(state: 0x5EED_0F_5157_106)
        var total = 0
        for (name, lines) in corpora {
            let parser = try #require(registry.parser(named: name))
            let rounds = name == "syslog" ? 40_000 : 4_000
            var parsed = 0, rejected = 0, kept = 0
            for k in 0..<rounds {
                let mutated = Self.mutate(lines[k % lines.count], &rng)
                var event = Event()
                let ok = mutated.withUnsafeBytes { b -> Bool in
                    do throws(ParseFailure) { try parser.parse(b, into: &event, context: Self.context); return true }
                    catch { return false }
                }
                if ok { parsed += 1 } else { rejected += 1 }
                if ok && !event.vigilErrors.isEmpty { kept += 1 }
            }
            total += rounds
            print("mutations \(name): \(rounds) lines, \(parsed) parsed (\(kept) kept with an error), \(rejected) rejected")
        }
        print("mutations total: \(total)")
        #expect(total >= 50_000)
    }
}
