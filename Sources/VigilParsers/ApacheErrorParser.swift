import VigilCore
import VigilYAML

/// `type: apache_error`: Apache httpd error log lines, 2.2 and 2.4 styles.
///
/// ```yaml
/// options:
///   timezone: UTC   # zone of the timestamps, which carry none (default UTC)
/// ```
///
/// `[Sun Dec 04 04:47:44 2005] [notice] workerEnv.init() ok /etc/httpd/conf/workers2.properties`
/// `[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 1234:tid 5678] [client 1.2.3.4:5678] AH00123: text`
///
/// Fields: `@timestamp`, `log.level`, `apache.error.module` (2.4), `process.pid`,
/// `process.thread.id`, `source.ip`/`source.port` (from `[client …]`; `source.address` when not
/// an IP), `error.code` (`AH01234`), `message` (the text after the bracketed prefixes, starting
/// with the error code when there is one).
public struct ApacheErrorParser: LineParser {
    public let zone: TimeZoneRule
    private let format: TimestampFormat

    public init(zone: TimeZoneRule = .utc) {
        self.zone = zone
        format = try! TimestampFormat("%a %b %d %H:%M:%S %Y")  // a constant pattern
    }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["timezone"])
        return ApacheErrorParser(zone: try PostStep.zoneRule(options?.optional("timezone")))
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        var s = SyslogScanner(line)
        s.trimTrailingSpace()
        guard s.skip(byte: 0x5B), let text = s.read(upTo: 0x5D), s.skip(byte: 0x5D) else { throw ParseFailure("no [timestamp]") }
        guard let t = format.parse(text, zone: zone, reference: context.referenceTime) else { throw ParseFailure("bad timestamp") }
        event["@timestamp"] = .timestamp(t)
        s.skipSpaces()
        guard s.skip(byte: 0x5B), let level = s.read(upTo: 0x5D), s.skip(byte: 0x5D), !level.isEmpty else { throw ParseFailure("no [level]") }
        if let colon = level.firstIndex(of: 0x3A) {
            event["apache.error.module"] = SyslogText.string(UnsafeRawBufferPointer(rebasing: level[..<colon]))
            event["log.level"] = SyslogText.string(UnsafeRawBufferPointer(rebasing: level[(colon + 1)...]))
        } else {
            event["log.level"] = SyslogText.string(level)
        }
        while true {
            s.skipSpaces()
            if s.skip("[pid ") {
                guard let body = s.read(upTo: 0x5D) else { throw ParseFailure("unterminated [pid …]") }
                _ = s.skip(byte: 0x5D)
                var b = SyslogScanner(body)
                if let pid = b.readInt() { event["process.pid"] = .int(pid) }
                if b.skip(":tid "), let tid = b.readInt() { event["process.thread.id"] = .int(tid) }
            } else if s.skip("[client ") || s.skip("[remote ") {
                guard let body = s.read(upTo: 0x5D) else { throw ParseFailure("unterminated [client …]") }
                _ = s.skip(byte: 0x5D)
                Self.setClient(body, in: &event)
            } else {
                break
            }
        }
        let message = s.rest
        if message.count >= 9, message[0] == 0x41, message[1] == 0x48,  // AHnnnnn:
           (2..<7).allSatisfy({ message[$0] >= 0x30 && message[$0] <= 0x39 }), message[7] == 0x3A {
            event["error.code"] = SyslogText.string(UnsafeRawBufferPointer(rebasing: message[..<7]))
        }
        event["message"] = SyslogText.string(message)
    }

    /// `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `2001:db8::1:5678` (2.4 appends the port).
    private static func setClient(_ b: UnsafeRawBufferPointer, in event: inout Event) {
        if let ip = IPAddress(parsing: b) {
            // 2.4 appends ":port", which makes IPv6 ambiguous: text that is a whole address is
            // taken as the address.
            event["source.ip"] = .ip(ip)
            return
        }
        if let colon = b.lastIndex(of: 0x3A), let port = SyslogText.int(UnsafeRawBufferPointer(rebasing: b[(colon + 1)...])),
           let ip = IPAddress(parsing: UnsafeRawBufferPointer(rebasing: b[..<colon])) {
            event["source.ip"] = .ip(ip)
            event["source.port"] = .int(port)
            return
        }
        if !b.isEmpty { event["source.address"] = SyslogText.string(b) }
    }
}
