import VigilCore
import VigilYAML

/// `type: iptables`: netfilter `LOG`/`NFLOG` kernel lines (iptables, ufw, firewalld, nftables
/// `log prefix`), the text after the syslog header.
///
/// ```yaml
/// options:
///   require_netfilter: true   # false: a line without IN= passes untouched (for `kernel` messages
///                             # that are not netfilter lines); true (default): it fails
/// ```
///
/// `[ 1234.5678] [UFW BLOCK] IN=eth0 OUT= MAC=… SRC=1.2.3.4 DST=5.6.7.8 LEN=60 … PROTO=TCP SPT=1234 DPT=22 … SYN URGP=0`:
/// the text before `IN=` (without the kernel's uptime stamp) is `iptables.prefix`; a prefix
/// naming BLOCK, DROP, DENY or REJECT gives `event.action: block` and `event.type:
/// [connection, denied]`, ALLOW or ACCEPT gives `allow` and `[connection, allowed]`, anything
/// else `log`. Fields: `observer.ingress.interface.name` (IN), `observer.egress.interface.name`
/// (OUT), `destination.mac`/`source.mac` (from MAC, ECS form `AA-BB-…`), `source.ip`/
/// `destination.ip` (SRC/DST; an unparsable address fails the line), `network.transport`
/// (PROTO in lower case, ICMPv6 → `ipv6-icmp`; a numeric PROTO goes to `network.iana_number`),
/// `network.type` (ipv4/ipv6), `source.port`/`destination.port` (SPT/DPT), `iptables.length`,
/// `iptables.ttl`, `iptables.id`, `iptables.icmp.type`/`.code`, `iptables.tcp.flags` (bare words
/// after PROTO), `iptables.ip_flags` (bare words before it, e.g. DF), and `iptables.<key>` for
/// every other `KEY=VALUE` (integers typed). A bracketed inner packet (ICMP errors quote the
/// offending packet) is skipped.
public struct IptablesParser: LineParser {
    public let requireNetfilter: Bool

    public init(requireNetfilter: Bool = true) { self.requireNetfilter = requireNetfilter }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["require_netfilter"])
        return IptablesParser(requireNetfilter: try options?.optional("require_netfilter")?.bool() ?? true)
    }

    private static let block: FieldValue = "block"
    private static let allow: FieldValue = "allow"
    private static let log: FieldValue = "log"

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        var s = SyslogScanner(line)
        s.trimTrailingSpace()
        var inAt = s.find("IN=")
        while let at = inAt, at > s.position, s.bytes[at - 1] != 0x20 { inAt = s.find("IN=", from: at + 1) }
        guard let start = inAt else {
            if requireNetfilter { throw ParseFailure("no netfilter IN= field") }
            return
        }
        // Prefix: drop the kernel's "[ 1234.5678] " uptime stamp.
        var p = SyslogScanner(s.slice(s.position, start))
        p.skipSpaces()
        if p.peek() == 0x5B, let close = p.find("]") {
            let inner = p.slice(p.position + 1, close)
            if !inner.isEmpty, inner.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x2E || $0 == 0x20 }) { p.position = close + 1 }
        }
        let prefix = SyslogText.trimmed(p.rest)
        var action = Self.log, type = SyslogValues.connection
        if !prefix.isEmpty {
            event["iptables.prefix"] = SyslogText.string(prefix)
            if SyslogText.containsIgnoringCase(prefix, "BLOCK") || SyslogText.containsIgnoringCase(prefix, "DROP")
                || SyslogText.containsIgnoringCase(prefix, "DENY") || SyslogText.containsIgnoringCase(prefix, "DENIED")
                || SyslogText.containsIgnoringCase(prefix, "REJECT") {
                action = Self.block; type = SyslogValues.connectionDenied
            } else if SyslogText.containsIgnoringCase(prefix, "ALLOW") || SyslogText.containsIgnoringCase(prefix, "ACCEPT") {
                action = Self.allow; type = SyslogValues.connectionAllowed
            }
        }
        s.position = start
        var sawProto = false
        var tcpFlags: [FieldValue] = [], ipFlags: [FieldValue] = []
        var sawLength = false
        while !s.isAtEnd {
            s.skipSpaces()
            if s.peek() == 0x5B {  // [SRC=… inner packet …]
                guard let close = s.find("]") else { break }
                s.position = close + 1
                continue
            }
            let token = s.readToken()
            if token.isEmpty { continue }
            guard let eq = token.firstIndex(of: 0x3D) else {
                if sawProto { tcpFlags.append(SyslogText.string(token)) } else { ipFlags.append(SyslogText.string(token)) }
                continue
            }
            let key = UnsafeRawBufferPointer(rebasing: token[..<eq])
            let value = UnsafeRawBufferPointer(rebasing: token[(eq + 1)...])
            if SyslogText.equals(key, "IN") {
                if !value.isEmpty { event["observer.ingress.interface.name"] = SyslogText.string(value) }
            } else if SyslogText.equals(key, "OUT") {
                if !value.isEmpty { event["observer.egress.interface.name"] = SyslogText.string(value) }
            } else if SyslogText.equals(key, "MAC") {
                Self.setMACs(value, in: &event)
            } else if SyslogText.equals(key, "SRC") {
                guard let ip = IPAddress(parsing: value) else { throw ParseFailure("SRC is not an IP address") }
                event["source.ip"] = .ip(ip)
                event["network.type"] = ip.isV4 ? "ipv4" : "ipv6"
            } else if SyslogText.equals(key, "DST") {
                guard let ip = IPAddress(parsing: value) else { throw ParseFailure("DST is not an IP address") }
                event["destination.ip"] = .ip(ip)
            } else if SyslogText.equals(key, "PROTO") {
                sawProto = true
                if let n = SyslogText.int(value) { event["network.iana_number"] = .string(String(n)) }
                else if SyslogText.equals(value, "ICMPv6") { event["network.transport"] = "ipv6-icmp" }
                else { event["network.transport"] = .string(SyslogText.lowercased(value)) }
            } else if SyslogText.equals(key, "SPT") {
                guard let n = SyslogText.int(value), n <= 65535 else { throw ParseFailure("SPT is not a port") }
                event["source.port"] = .int(n)
            } else if SyslogText.equals(key, "DPT") {
                guard let n = SyslogText.int(value), n <= 65535 else { throw ParseFailure("DPT is not a port") }
                event["destination.port"] = .int(n)
            } else if SyslogText.equals(key, "LEN") {
                let v: FieldValue = SyslogText.int(value).map { .int($0) } ?? SyslogText.string(value)
                if !sawLength { event["iptables.length"] = v; sawLength = true } else { event["iptables.transport_length"] = v }
            } else if SyslogText.equals(key, "TYPE") {
                event["iptables.icmp.type"] = SyslogText.int(value).map { .int($0) } ?? SyslogText.string(value)
            } else if SyslogText.equals(key, "CODE") {
                event["iptables.icmp.code"] = SyslogText.int(value).map { .int($0) } ?? SyslogText.string(value)
            } else if !key.isEmpty {
                let name = "iptables." + SyslogText.lowercased(key)
                event[name] = SyslogText.int(value).map { .int($0) } ?? SyslogText.string(value)
            }
        }
        if !tcpFlags.isEmpty { event["iptables.tcp.flags"] = .array(tcpFlags) }
        if !ipFlags.isEmpty { event["iptables.ip_flags"] = .array(ipFlags) }
        event["event.action"] = action
        event["event.category"] = SyslogValues.network
        event["event.type"] = type
    }

    /// `dd:dd:dd:dd:dd:dd:ss:ss:ss:ss:ss:ss:tt:tt` → destination.mac, source.mac (ECS form);
    /// anything else is kept as `iptables.mac`.
    private static func setMACs(_ value: UnsafeRawBufferPointer, in event: inout Event) {
        guard !value.isEmpty else { return }
        guard value.count >= 35, (0..<12).allSatisfy({ k in
            let i = k * 3
            return i + 2 <= value.count && isHex(value[i]) && isHex(value[i + 1]) && (i + 2 == value.count || value[i + 2] == 0x3A)
        }) else {
            event["iptables.mac"] = SyslogText.string(value)
            return
        }
        func mac(_ from: Int) -> FieldValue {
            var out: [UInt8] = []
            out.reserveCapacity(17)
            for k in 0..<6 {
                if k > 0 { out.append(0x2D) }
                out.append(upper(value[from + k * 3]))
                out.append(upper(value[from + k * 3 + 1]))
            }
            return .string(String(decoding: out, as: UTF8.self))
        }
        event["destination.mac"] = mac(0)
        event["source.mac"] = mac(18)
    }

    private static func isHex(_ c: UInt8) -> Bool { (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x66) }
    private static func upper(_ c: UInt8) -> UInt8 { c >= 0x61 && c <= 0x7A ? c - 0x20 : c }
}
