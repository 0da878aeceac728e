import VigilCore
import VigilYAML

/// `type: eve`: Suricata's EVE JSON (one object per line), mapped to the same ECS fields as the
/// Zeek parser and Vigil's network sensor.
///
/// ```yaml
/// options:
///   keep_unmapped: false    # true: members not mapped below are kept under suricata.<event_type>.*
/// ```
///
/// Every event: `@timestamp` ← timestamp (`2026-03-14T09:12:07.123456+0000`), `source.ip`/`port` ←
/// src_ip/src_port, `destination.ip`/`port` ← dest_ip/dest_port, `network.transport` ← proto (lower
/// case), `network.protocol` ← app_proto, `network.community_id` ← community_id,
/// `suricata.flow_id` ← flow_id, `suricata.event_type` ← event_type,
/// `observer.ingress.interface.name` ← in_iface, `event.dataset` = `suricata.eve`,
/// `event.module` = `suricata`.
/// - alert: `event.kind` = alert, rule.name ← alert.signature, rule.id ← alert.signature_id (text),
///   rule.category ← alert.category, event.severity ← alert.severity, event.action ← alert.action,
///   suricata.alert.gid/rev.
/// - dns (EVE v1/v2 and v3 `queries`): dns.question.name/type ← rrname/rrtype, dns.response_code ←
///   rcode, dns.id ← id (text), dns.type (`query`/`answer`; v3 request/response are mapped to these),
///   dns.header_flags ← aa/tc/rd/ra, dns.answers ← answers `{name, type, ttl, data}`,
///   dns.resolved_ip ← A/AAAA answers (detailed or `grouped`).
/// - http: url.domain ← hostname, url.original ← url (+ url.path, url.query),
///   http.request.method ← http_method, http.response.status_code ← status, user_agent.original ←
///   http_user_agent, http.request.referrer ← http_refer, http.version ← protocol (`HTTP/1.1` →
///   `1.1`), http.response.body.bytes ← length, http.response.mime_type ← http_content_type.
/// - tls: tls.client.server_name ← sni, tls.version/version_protocol ← version (`TLS 1.2` → `1.2`,
///   `tls`), tls.client.ja3 ← ja3.hash, tls.server.ja3s ← ja3s.hash, tls.client.ja4 ← ja4,
///   tls.server.subject ← subject, tls.server.issuer ← issuerdn, tls.server.not_before/not_after
///   (UTC), tls.server.hash.sha1 ← fingerprint (upper-case hex, no colons),
///   tls.server.x509.serial_number ← serial.
/// - flow: source/destination.bytes ← flow.bytes_toserver/toclient, source/destination.packets ←
///   flow.pkts_toserver/toclient, event.start/end ← flow.start/end, event.duration (ns),
///   suricata.flow.state/reason/alerted/age.
/// - ssh: ssh.client/ssh.server ← `SSH-<proto_version>-<software_version>` of client/server (the
///   banner, as Zeek logs it).
/// - fileinfo: file.name, file.size, file.hash.md5/sha1/sha256, suricata.fileinfo.magic/state/stored.
/// - anomaly: message ← anomaly.event, suricata.anomaly.type/event/layer.
///
/// A line that is not a JSON object, lacks `event_type`, or has a member of the wrong type for its
/// mapped field (`src_port: "x"`) fails.
public struct EVEParser: LineParser {
    public let keepUnmapped: Bool

    public init(keepUnmapped: Bool = false) { self.keepUnmapped = keepUnmapped }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["keep_unmapped"])
        return EVEParser(keepUnmapped: try options?.optional("keep_unmapped")?.bool() ?? false)
    }

    private static let handled: Set<String> = [
        "timestamp", "flow_id", "event_type", "src_ip", "src_port", "dest_ip", "dest_port", "proto", "app_proto",
        "community_id", "in_iface",
    ]

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        let value: FieldValue
        do { value = try EventJSON.decodeValue(line) } catch { throw ParseFailure("invalid JSON: \(error.message)") }
        guard case .object(let root) = value else { throw ParseFailure("an EVE line must be a JSON object") }
        guard case .string(let type)? = root["event_type"] else { throw ParseFailure("no event_type") }

        if let t = root["timestamp"] {
            guard case .string(let text) = t, let ts = Timestamp(rfc3339: text) else { throw ParseFailure("timestamp is not RFC 3339") }
            event["@timestamp"] = .timestamp(ts)
        }
        event["event.dataset"] = .string("suricata.eve")
        event["event.module"] = .string("suricata")
        event["event.kind"] = .string(type == "alert" ? "alert" : "event")
        event["suricata.event_type"] = .string(type)
        if let v = try Self.int(root["flow_id"], "flow_id") { event["suricata.flow_id"] = .int(v) }
        if let v = try Self.ip(root["src_ip"], "src_ip") { event["source.ip"] = .ip(v) }
        if let v = try Self.int(root["src_port"], "src_port") { event["source.port"] = .int(v) }
        if let v = try Self.ip(root["dest_ip"], "dest_ip") {
            event["destination.ip"] = .ip(v)
            event["network.type"] = .string(v.isV4 ? "ipv4" : "ipv6")
        }
        if let v = try Self.int(root["dest_port"], "dest_port") { event["destination.port"] = .int(v) }
        if let v = try Self.string(root["proto"], "proto") { event["network.transport"] = .string(v.lowercased()) }
        if let v = try Self.string(root["app_proto"], "app_proto"), v != "failed", v != "unknown" { event["network.protocol"] = .string(v) }
        if let v = try Self.string(root["community_id"], "community_id") { event["network.community_id"] = .string(v) }
        if let v = try Self.string(root["in_iface"], "in_iface") { event["observer.ingress.interface.name"] = .string(v) }

        let section = root[type]?.objectValue ?? FieldObject()
        switch type {
        case "alert": try alert(section, into: &event)
        case "dns": try dns(section, into: &event)
        case "http": try http(section, into: &event)
        case "tls": try tls(section, into: &event)
        case "flow", "netflow": try flow(section, into: &event)
        case "ssh": try ssh(section, into: &event)
        case "fileinfo": try fileinfo(section, into: &event)
        case "anomaly": try anomaly(section, into: &event)
        default: break
        }
        // An alert carries its protocol's section too (alert + http/tls/dns metadata).
        if type == "alert" {
            if let h = root["http"]?.objectValue { try http(h, into: &event, categorize: false) }
            if let t = root["tls"]?.objectValue { try tls(t, into: &event, categorize: false) }
            if let d = root["dns"]?.objectValue { try dns(d, into: &event, categorize: false) }
            if let f = root["flow"]?.objectValue { try flow(f, into: &event, categorize: false) }
        }
        if keepUnmapped {
            for member in root where !Self.handled.contains(member.key) && member.key != type {
                Self.keep(member.value, at: "suricata.\(member.key)", into: &event)
            }
        }
    }

    static func keep(_ value: FieldValue, at key: String, into event: inout Event) {
        if case .object(let o) = value {
            for m in o { keep(m.value, at: "\(key).\(m.key)", into: &event) }
        } else if !value.isNull {
            event[key] = value
        }
    }

    // MARK: Typed member access

    static func string(_ v: FieldValue?, _ name: String) throws(ParseFailure) -> String? {
        guard let v, !v.isNull else { return nil }
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        default: throw ParseFailure("\(name) is not text")
        }
    }

    static func int(_ v: FieldValue?, _ name: String) throws(ParseFailure) -> Int64? {
        guard let v, !v.isNull else { return nil }
        switch v {
        case .int(let i): return i
        case .float(let d) where d.rounded() == d && abs(d) < 9e18: return Int64(d)
        case .string(let s):
            guard let i = Int64(s) else { throw ParseFailure("\(name) is not an integer") }
            return i
        default: throw ParseFailure("\(name) is not an integer")
        }
    }

    static func bool(_ v: FieldValue?, _ name: String) throws(ParseFailure) -> Bool? {
        guard let v, !v.isNull else { return nil }
        guard case .bool(let b) = v else { throw ParseFailure("\(name) is not a boolean") }
        return b
    }

    static func ip(_ v: FieldValue?, _ name: String) throws(ParseFailure) -> IPAddress? {
        guard let v, !v.isNull else { return nil }
        guard case .string(let s) = v, let ip = IPAddress(s) else { throw ParseFailure("\(name) is not an IP address") }
        return ip
    }

    /// RFC 3339, or Suricata's certificate times without a zone (`2020-05-13T12:00:00`, UTC).
    static func time(_ v: FieldValue?, _ name: String) throws(ParseFailure) -> Timestamp? {
        guard let text = try string(v, name) else { return nil }
        if let t = Timestamp(rfc3339: text) ?? Timestamp(rfc3339: text + "Z") { return t }
        throw ParseFailure("\(name) is not a timestamp")
    }

    // MARK: Sections

    func alert(_ a: FieldObject, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["intrusion_detection"])
        if let v = try Self.string(a["signature"], "alert.signature") { event["rule.name"] = .string(v) }
        if let v = try Self.int(a["signature_id"], "alert.signature_id") { event["rule.id"] = .string(String(v)) }
        if let v = try Self.string(a["category"], "alert.category"), !v.isEmpty { event["rule.category"] = .string(v) }
        if let v = try Self.int(a["severity"], "alert.severity") { event["event.severity"] = .int(v) }
        if let v = try Self.string(a["action"], "alert.action") { event["event.action"] = .string(v) }
        if let v = try Self.int(a["gid"], "alert.gid") { event["suricata.alert.gid"] = .int(v) }
        if let v = try Self.int(a["rev"], "alert.rev") { event["suricata.alert.rev"] = .int(v) }
    }

    func dns(_ d: FieldObject, into event: inout Event, categorize: Bool = true) throws(ParseFailure) {
        if categorize { event["event.category"] = .array(["network"]) }
        var question = d
        if case .array(let queries)? = d["queries"], let first = queries.first?.objectValue { question = first }
        let name = try Self.string(question["rrname"], "dns.rrname")
        if let name { event["dns.question.name"] = .string(name) }
        if let v = try Self.string(question["rrtype"], "dns.rrtype") { event["dns.question.type"] = .string(v) }
        if let v = try Self.string(d["rcode"], "dns.rcode") { event["dns.response_code"] = .string(v) }
        if let v = try Self.int(d["id"], "dns.id") { event["dns.id"] = .string(String(v)) }
        if let v = try Self.string(d["type"], "dns.type") {
            event["dns.type"] = .string(v == "request" ? "query" : v == "response" ? "answer" : v)
        }
        var flags: [FieldValue] = []
        for flag in ["aa", "tc", "rd", "ra"] where try Self.bool(d[flag], "dns.\(flag)") == true { flags.append(.string(flag.uppercased())) }
        if !flags.isEmpty { event["dns.header_flags"] = .array(flags) }
        var resolved: [FieldValue] = []
        if case .array(let answers)? = d["answers"] {
            var out: [FieldValue] = []
            for item in answers {
                guard let a = item.objectValue else { throw ParseFailure("dns.answers holds a non-object") }
                var members: [FieldObject.Member] = []
                if let v = try Self.string(a["rrname"], "dns.answers.rrname") { members.append(.init("name", .string(v))) }
                let rrtype = try Self.string(a["rrtype"], "dns.answers.rrtype")
                if let rrtype { members.append(.init("type", .string(rrtype))) }
                if let v = try Self.int(a["ttl"], "dns.answers.ttl") { members.append(.init("ttl", .int(v))) }
                if let v = try Self.string(a["rdata"], "dns.answers.rdata") {
                    members.append(.init("data", .string(v)))
                    if rrtype == "A" || rrtype == "AAAA", let ip = IPAddress(v) { resolved.append(.ip(ip)) }
                }
                out.append(.object(FieldObject(members)))
            }
            event["dns.answers"] = .array(out)
        }
        if resolved.isEmpty, case .object(let grouped)? = d["grouped"] {
            for key in ["A", "AAAA"] {
                if case .array(let items)? = grouped[key] {
                    for item in items { if case .string(let s) = item, let ip = IPAddress(s) { resolved.append(.ip(ip)) } }
                }
            }
        }
        if !resolved.isEmpty { event["dns.resolved_ip"] = .array(resolved) }
    }

    func http(_ h: FieldObject, into event: inout Event, categorize: Bool = true) throws(ParseFailure) {
        if categorize { event["event.category"] = .array(["network", "web"]) }
        if let v = try Self.string(h["hostname"], "http.hostname") { event["url.domain"] = .string(v) }
        if let v = try Self.string(h["url"], "http.url") { event.setURL(original: v) }
        if let v = try Self.string(h["http_method"], "http.http_method") { event["http.request.method"] = .string(v) }
        if let v = try Self.int(h["status"], "http.status") { event["http.response.status_code"] = .int(v) }
        if let v = try Self.string(h["http_user_agent"], "http.http_user_agent") { event["user_agent.original"] = .string(v) }
        if let v = try Self.string(h["http_refer"], "http.http_refer") { event["http.request.referrer"] = .string(v) }
        if let v = try Self.string(h["protocol"], "http.protocol") {
            event["http.version"] = .string(v.hasPrefix("HTTP/") ? String(v.dropFirst(5)) : v)
        }
        if let v = try Self.int(h["length"], "http.length") { event["http.response.body.bytes"] = .int(v) }
        if let v = try Self.string(h["http_content_type"], "http.http_content_type") { event["http.response.mime_type"] = .string(v) }
    }

    func tls(_ t: FieldObject, into event: inout Event, categorize: Bool = true) throws(ParseFailure) {
        if categorize { event["event.category"] = .array(["network"]) }
        if let v = try Self.string(t["sni"], "tls.sni") { event["tls.client.server_name"] = .string(v) }
        if let v = try Self.string(t["version"], "tls.version") {
            let (version, proto) = ZeekMapper.tlsVersion(v)
            event["tls.version"] = .string(version)
            if let proto { event["tls.version_protocol"] = .string(proto) }
        }
        if let v = try Self.string(t["ja3"]?.objectValue?["hash"], "tls.ja3.hash") { event["tls.client.ja3"] = .string(v) }
        if let v = try Self.string(t["ja3s"]?.objectValue?["hash"], "tls.ja3s.hash") { event["tls.server.ja3s"] = .string(v) }
        if let v = try Self.string(t["ja4"], "tls.ja4") { event["tls.client.ja4"] = .string(v) }
        if let v = try Self.string(t["subject"], "tls.subject") { event["tls.server.subject"] = .string(v) }
        if let v = try Self.string(t["issuerdn"], "tls.issuerdn") { event["tls.server.issuer"] = .string(v) }
        if let v = try Self.time(t["notbefore"], "tls.notbefore") { event["tls.server.not_before"] = .timestamp(v) }
        if let v = try Self.time(t["notafter"], "tls.notafter") { event["tls.server.not_after"] = .timestamp(v) }
        if let v = try Self.string(t["fingerprint"], "tls.fingerprint") {
            event["tls.server.hash.sha1"] = .string(v.filter { $0 != ":" }.uppercased())
        }
        if let v = try Self.string(t["serial"], "tls.serial") { event["tls.server.x509.serial_number"] = .string(v) }
    }

    func flow(_ f: FieldObject, into event: inout Event, categorize: Bool = true) throws(ParseFailure) {
        if categorize { event["event.category"] = .array(["network"]) }
        if let v = try Self.int(f["bytes_toserver"], "flow.bytes_toserver") { event["source.bytes"] = .int(v) }
        if let v = try Self.int(f["bytes_toclient"], "flow.bytes_toclient") { event["destination.bytes"] = .int(v) }
        if let v = try Self.int(f["pkts_toserver"], "flow.pkts_toserver") { event["source.packets"] = .int(v) }
        if let v = try Self.int(f["pkts_toclient"], "flow.pkts_toclient") { event["destination.packets"] = .int(v) }
        let start = try Self.time(f["start"], "flow.start")
        let end = try Self.time(f["end"], "flow.end")
        if let start { event["event.start"] = .timestamp(start) }
        if let end { event["event.end"] = .timestamp(end) }
        if let start, let end, end >= start { event["event.duration"] = .int(end.nanoseconds - start.nanoseconds) }
        if let v = try Self.string(f["state"], "flow.state") { event["suricata.flow.state"] = .string(v) }
        if let v = try Self.string(f["reason"], "flow.reason") { event["suricata.flow.reason"] = .string(v) }
        if let v = try Self.bool(f["alerted"], "flow.alerted") { event["suricata.flow.alerted"] = .bool(v) }
        if let v = try Self.int(f["age"], "flow.age") { event["suricata.flow.age"] = .int(v) }
    }

    func ssh(_ s: FieldObject, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["network"])
        for side in ["client", "server"] {
            guard let o = s[side]?.objectValue else { continue }
            let proto = try Self.string(o["proto_version"], "ssh.\(side).proto_version")
            let software = try Self.string(o["software_version"], "ssh.\(side).software_version")
            if proto != nil || software != nil {
                event["ssh.\(side)"] = .string("SSH-\(proto ?? "")-\(software ?? "")")
            }
        }
    }

    func fileinfo(_ f: FieldObject, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["file"])
        if let v = try Self.string(f["filename"], "fileinfo.filename") { event["file.name"] = .string(v) }
        if let v = try Self.int(f["size"], "fileinfo.size") { event["file.size"] = .int(v) }
        for hash in ["md5", "sha1", "sha256"] {
            if let v = try Self.string(f[hash], "fileinfo.\(hash)") { event["file.hash.\(hash)"] = .string(v) }
        }
        if let v = try Self.string(f["magic"], "fileinfo.magic") { event["suricata.fileinfo.magic"] = .string(v) }
        if let v = try Self.string(f["state"], "fileinfo.state") { event["suricata.fileinfo.state"] = .string(v) }
        if let v = try Self.bool(f["stored"], "fileinfo.stored") { event["suricata.fileinfo.stored"] = .bool(v) }
    }

    func anomaly(_ a: FieldObject, into event: inout Event) throws(ParseFailure) {
        if let v = try Self.string(a["type"], "anomaly.type") { event["suricata.anomaly.type"] = .string(v) }
        if let v = try Self.string(a["event"], "anomaly.event") {
            event["suricata.anomaly.event"] = .string(v)
            event["message"] = .string(v)
        }
        if let v = try Self.string(a["layer"], "anomaly.layer") { event["suricata.anomaly.layer"] = .string(v) }
    }
}
