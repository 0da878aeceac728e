import VigilCore
import VigilYAML

/// `type: zeek`: Zeek logs, in the TSV form (`#fields` headers) and the JSON form (one object per
/// line, `ts` as epoch seconds or an ISO 8601 string), mapped to the same ECS fields Vigil's own
/// network sensor emits.
///
/// ```yaml
/// options:
///   log: auto          # conn | dns | http | ssl | ssh | files | notice | … | auto (default)
///   fields: [ts, uid, id.orig_h, …]   # TSV columns when no #fields header is seen (default: the
///                                     # standard columns of `log`, as current Zeek writes them)
/// ```
///
/// **Header lines and state.** A Zeek TSV file is stateful: its `#separator`, `#set_separator`,
/// `#empty_field`, `#unset_field`, `#path` and `#fields` lines define how the data lines that
/// follow are read. `LineParser` instances are immutable and shared, so the state lives outside the
/// parser, in a ``ZeekLogState`` value the reader of one file owns (create it with
/// ``makeState()``, one per file, and reset it when the file is rotated):
///
/// ```swift
/// var state = zeek.makeState()
/// for line in file {
///     switch try zeek.parse(line, state: &state, into: &event, context: context) {
///     case .header: continue          // consumed: no event, not an error
///     case .event: emit(event)
///     }
/// }
/// ```
///
/// Through the plain `LineParser.parse` (no state): JSON lines parse fully (they describe
/// themselves); TSV data lines use the columns from `fields`, or the standard columns of `log`;
/// header lines (any line starting with `#`) throw a failure whose reason is
/// ``headerLineReason``, and ``isHeaderLine(_:)`` lets a reader skip them without counting an
/// error. With `log: auto`, TSV lines need the stateful reader (the header says what they are).
///
/// **Values.** `-` (the unset field) leaves a field unset; `(empty)` is an empty list or string.
/// `\xHH` escapes in TSV strings are decoded (invalid UTF-8 is repaired with U+FFFD). Times become
/// timestamps, intervals become nanoseconds (`event.duration`). A `ts` of the form
/// `XXXXXXXXXX.XXXXXX` — how Zeek's test baselines mask times — leaves `@timestamp` unset instead of
/// failing the line; any other `ts` that is not a number fails it.
///
/// **Mapping** (every log): `@timestamp` ← ts, `zeek.session_id` ← uid, `source.ip`/`source.port` ←
/// id.orig_h/p, `destination.ip`/`destination.port` ← id.resp_h/p, `network.community_id` ←
/// community_id, `event.dataset` = `zeek.<path>`, `event.kind` = `event` (`alert` for notice).
/// - conn: network.transport ← proto, network.protocol ← service, event.duration (ns) ← duration,
///   source/destination.bytes ← orig/resp_bytes, source/destination.packets ← orig/resp_pkts,
///   zeek.conn.state/history/missed_bytes/local_orig/local_resp.
/// - dns: dns.question.name/type/class ← query/qtype_name/qclass_name, dns.response_code ←
///   rcode_name, dns.id ← trans_id (text), dns.op_code ← opcode_name (upper case),
///   dns.header_flags ← AA/TC/RD/RA, dns.type (`answer` when there is an rcode, else `query`),
///   dns.answers ← answers + TTLs as `{name, type, ttl, data}` (name is the question name; type is
///   `A`/`AAAA` when the data is an address and omitted otherwise: Zeek does not log answer types),
///   dns.resolved_ip ← the answers that are addresses, network.transport ← proto.
/// - http: http.request.method, url.original ← uri (+ url.path, url.query), url.domain ← host,
///   http.version, http.request.referrer, http.response.status_code, user_agent.original,
///   http.request.body.bytes ← request_body_len, http.response.body.bytes ← response_body_len,
///   user.name ← username.
/// - ssl: tls.version (`1.2`) and tls.version_protocol (`tls`) ← version (`TLSv12`), tls.cipher,
///   tls.curve, tls.client.server_name ← server_name, tls.established, tls.resumed,
///   tls.next_protocol, tls.client.ja3 ← ja3, tls.server.ja3s ← ja3s, tls.client.ja4 ← ja4,
///   tls.server.subject/issuer (older Zeek).
/// - ssh: ssh.client/ssh.server ← client/server banners, event.outcome ← auth_success,
///   zeek.ssh.{version, auth_attempts, direction, cipher_alg, mac_alg, compression_alg, kex_alg,
///   host_key_alg, host_key}.
/// - files: file.mime_type, file.name, file.size ← total_bytes, file.hash.md5/sha1/sha256,
///   zeek.files.fuid/source/seen_bytes/is_orig.
/// - notice: rule.name ← note, message ← msg, zeek.notice.sub/actions, source.ip ← src,
///   destination.ip ← dst, destination.port ← p (when the id fields are absent).
/// - any other log (weird, x509, ftp, tunnel, …): the common fields, and every other column as a
///   string under `zeek.<path>.<column>`.
public struct ZeekParser: LineParser {
    public let log: String
    /// Columns for TSV lines read without a `#fields` header (nil: none configured).
    let defaultLayout: ZeekLayout?

    /// The failure reason for a header line read through the stateless `parse`.
    public static let headerLineReason = "zeek header line (not an event)"

    public init(log: String = "auto", fields: [String]? = nil) {
        self.log = log
        if let fields {
            defaultLayout = ZeekLayout(path: log == "auto" ? nil : log, fields: fields)
        } else if let standard = ZeekLayout.standardFields[log] {
            defaultLayout = ZeekLayout(path: log, fields: standard)
        } else {
            defaultLayout = nil
        }
    }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["log", "fields"])
        let log = try options?.optional("log")?.string() ?? "auto"
        guard !log.isEmpty, log.utf8.allSatisfy({ ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) || ($0 >= 0x30 && $0 <= 0x39) || $0 == 0x5F || $0 == 0x2D }) else {
            throw (options?.optional("log") ?? context.definition).error("log is a Zeek log path such as conn, dns, http or auto")
        }
        var fields: [String]? = nil
        if let node = options?.optional("fields") {
            fields = []
            for f in try node.sequence() { fields?.append(try f.string()) }
            if fields?.isEmpty == true { throw node.error("fields needs at least one column name") }
        }
        return ZeekParser(log: log, fields: fields)
    }

    /// Whether `line` is a header or comment line (starts with `#`).
    public static func isHeaderLine(_ line: UnsafeRawBufferPointer) -> Bool { line.first == UInt8(ascii: "#") }

    /// A fresh per-file state: the parser's default columns, Zeek's default separators.
    public func makeState() -> ZeekLogState { ZeekLogState(layout: defaultLayout) }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        if line.first == UInt8(ascii: "#") { throw ParseFailure(Self.headerLineReason) }
        var state = ZeekLogState(layout: defaultLayout)
        _ = try parse(line, state: &state, into: &event, context: context)
    }

    /// What a line was.
    public enum LineKind: Sendable, Equatable {
        /// A header or comment line, consumed into the state; no event.
        case header
        /// A data line, parsed into the event.
        case event
    }

    /// Parses one line of a file whose reading state is `state`: header lines update it and return
    /// `.header`; data lines (TSV or JSON) fill `event` and return `.event`.
    public func parse(_ line: UnsafeRawBufferPointer, state: inout ZeekLogState, into event: inout Event,
                      context: ParseContext) throws(ParseFailure) -> LineKind {
        var end = line.count
        if end > 0, line[end - 1] == 0x0D { end -= 1 }
        let body = UnsafeRawBufferPointer(rebasing: line[0..<end])
        if body.first == UInt8(ascii: "#") {
            try state.consumeHeader(body)
            return .header
        }
        var start = 0
        while start < body.count, body[start] == 0x20 { start += 1 }
        if start < body.count, body[start] == UInt8(ascii: "{") {
            try parseJSON(body, into: &event)
            return .event
        }
        guard let layout = state.layout else {
            throw ParseFailure("TSV line before a #fields header (configure options.log or fields for headerless files)")
        }
        let record = try ZeekTSVRecord(line: body, layout: layout, state: state)
        try ZeekMapper.map(record, path: layout.path ?? log, into: &event)
        return .event
    }

    private func parseJSON(_ line: UnsafeRawBufferPointer, into event: inout Event) throws(ParseFailure) {
        let value: FieldValue
        do { value = try EventJSON.decodeValue(line) } catch { throw ParseFailure("invalid JSON: \(error.message)") }
        guard case .object(let object) = value else { throw ParseFailure("a Zeek JSON line must be an object") }
        let record = ZeekJSONRecord(object)
        var path = log
        if let p = record.pathMember { path = p } else if path == "auto" { path = record.inferredPath }
        try ZeekMapper.map(record, path: path, into: &event)
    }
}

/// The reading state of one Zeek TSV file: separators and columns from its header lines.
public struct ZeekLogState: Sendable {
    public internal(set) var separator: UInt8 = 0x09
    public internal(set) var setSeparator: [UInt8] = [UInt8(ascii: ",")]
    public internal(set) var emptyField: [UInt8] = Array("(empty)".utf8)
    public internal(set) var unsetField: [UInt8] = [UInt8(ascii: "-")]
    public internal(set) var path: String?
    var layout: ZeekLayout?

    init(layout: ZeekLayout?) {
        self.layout = layout
        self.path = layout?.path
    }

    /// The columns in force (from `#fields`, or the parser's defaults).
    public var fields: [String]? { layout?.names }

    mutating func consumeHeader(_ line: UnsafeRawBufferPointer) throws(ParseFailure) {
        // "#separator \x09" uses a space; the others use the separator itself.
        if line.starts(with: "#separator ".utf8) {
            let value = Self.unescape(UnsafeRawBufferPointer(rebasing: line[11...]))
            guard value.count == 1 else { throw ParseFailure("#separator must be a single byte") }
            separator = value[0]
            return
        }
        guard let tab = line.firstIndex(of: separator) else { return }   // "#close" without value, "### comments"
        let name = String(decoding: UnsafeRawBufferPointer(rebasing: line[1..<tab]), as: UTF8.self)
        let value = UnsafeRawBufferPointer(rebasing: line[(tab + 1)...])
        switch name {
        case "set_separator": setSeparator = Self.unescape(value)
        case "empty_field": emptyField = Array(value)
        case "unset_field": unsetField = Array(value)
        case "path":
            path = String(decoding: value, as: UTF8.self)
            if let layout { self.layout = ZeekLayout(path: path, fields: layout.names) }
        case "fields":
            let names = value.split(separator: separator, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard !names.isEmpty, names.count <= 1024 else { throw ParseFailure("#fields has no columns") }
            layout = ZeekLayout(path: path, fields: names)
        default: break   // #open, #close, #types, comments
        }
    }

    /// Decodes `\xHH` escapes (used in header values such as `\x09`).
    static func unescape(_ b: UnsafeRawBufferPointer) -> [UInt8] {
        var out: [UInt8] = []
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count + 0, b[i + 1] == UInt8(ascii: "x"),
               let h = hexValue(b[i + 2]), let l = hexValue(b[i + 3]) {
                out.append(h << 4 | l)
                i += 4
                continue
            }
            out.append(b[i])
            i += 1
        }
        return out
    }

    static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x61...0x66: return b - 0x61 + 10
        case 0x41...0x46: return b - 0x41 + 10
        default: return nil
        }
    }
}

/// The Zeek columns Vigil maps, resolved to column indexes once per `#fields` header.
enum ZeekKey: String, CaseIterable {
    case ts, uid, origH = "id.orig_h", origP = "id.orig_p", respH = "id.resp_h", respP = "id.resp_p", communityID = "community_id"
    case path = "_path"
    // conn
    case proto, service, duration, origBytes = "orig_bytes", respBytes = "resp_bytes", connState = "conn_state"
    case localOrig = "local_orig", localResp = "local_resp", missedBytes = "missed_bytes", history
    case origPkts = "orig_pkts", respPkts = "resp_pkts"
    // dns
    case transID = "trans_id", query, qclassName = "qclass_name", qtypeName = "qtype_name", rcodeName = "rcode_name"
    case aa = "AA", tc = "TC", rd = "RD", ra = "RA", answers, ttls = "TTLs", opcodeName = "opcode_name"
    // http
    case method, host, uri, referrer, version, userAgent = "user_agent", requestBodyLen = "request_body_len"
    case responseBodyLen = "response_body_len", statusCode = "status_code", username
    // ssl
    case cipher, curve, serverName = "server_name", resumed, established, nextProtocol = "next_protocol"
    case ja3, ja3s, ja4, subject, issuer
    // ssh
    case authSuccess = "auth_success", authAttempts = "auth_attempts", direction, client, server
    case cipherAlg = "cipher_alg", macAlg = "mac_alg", compressionAlg = "compression_alg", kexAlg = "kex_alg"
    case hostKeyAlg = "host_key_alg", hostKey = "host_key", hostKeyFingerprint = "host_key_fingerprint"
    // files
    case fuid, source, mimeType = "mime_type", filename, totalBytes = "total_bytes", seenBytes = "seen_bytes"
    case isOrig = "is_orig", md5, sha1, sha256
    // notice
    case note, msg, sub, src, dst, p, actions

    static let byName: [String: ZeekKey] = Dictionary(uniqueKeysWithValues: allCases.map { ($0.rawValue, $0) })
    static let count = allCases.count
    var index: Int { Self.indexes[self]! }
    private static let indexes: [ZeekKey: Int] = Dictionary(uniqueKeysWithValues: allCases.enumerated().map { ($1, $0) })
}

/// Column names of a TSV file and, for each `ZeekKey`, its column (or -1).
struct ZeekLayout: Sendable {
    let path: String?
    let names: [String]
    let slots: [Int]

    init(path: String?, fields: [String]) {
        self.path = path
        self.names = fields
        var slots = [Int](repeating: -1, count: ZeekKey.count)
        for (column, name) in fields.enumerated() {
            if let key = ZeekKey.byName[name], slots[key.index] < 0 { slots[key.index] = column }
        }
        self.slots = slots
    }

    /// The columns current Zeek writes for each log, for TSV read without a header.
    static let standardFields: [String: [String]] = [
        "conn": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto service duration orig_bytes resp_bytes conn_state local_orig local_resp missed_bytes history orig_pkts orig_ip_bytes resp_pkts resp_ip_bytes tunnel_parents ip_proto",
        "dns": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p proto trans_id rtt query qclass qclass_name qtype qtype_name rcode rcode_name AA TC RD RA Z answers TTLs rejected",
        "http": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p trans_depth method host uri referrer version user_agent origin request_body_len response_body_len status_code status_msg info_code info_msg tags username password proxied orig_fuids orig_filenames orig_mime_types resp_fuids resp_filenames resp_mime_types",
        "ssl": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version cipher curve server_name resumed last_alert next_protocol established ssl_history cert_chain_fps client_cert_chain_fps sni_matches_cert",
        "ssh": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p version auth_success auth_attempts direction client server cipher_alg mac_alg compression_alg kex_alg host_key_alg host_key",
        "files": "ts fuid uid id.orig_h id.orig_p id.resp_h id.resp_p source depth analyzers mime_type filename duration local_orig is_orig seen_bytes total_bytes missing_bytes overflow_bytes timedout parent_fuid md5 sha1 sha256 extracted extracted_cutoff extracted_size",
        "notice": "ts uid id.orig_h id.orig_p id.resp_h id.resp_p fuid file_mime_type file_desc proto note msg sub src dst p n peer_descr actions email_dest suppress_for remote_location.country_code remote_location.region remote_location.city remote_location.latitude remote_location.longitude",
    ].mapValues { $0.split(separator: " ").map(String.init) }
}

/// Typed access to one Zeek record's values by `ZeekKey`, whatever its form. Accessors return nil
/// for absent and unset values and throw for values of the wrong shape.
protocol ZeekRecord {
    func has(_ key: ZeekKey) -> Bool
    func string(_ key: ZeekKey) throws(ParseFailure) -> String?
    func int(_ key: ZeekKey) throws(ParseFailure) -> Int64?
    /// Seconds (a time or an interval) as nanoseconds; `masked` when the value is Zeek's btest mask.
    func nanoseconds(_ key: ZeekKey) throws(ParseFailure) -> Int64?
    func bool(_ key: ZeekKey) throws(ParseFailure) -> Bool?
    func ip(_ key: ZeekKey) throws(ParseFailure) -> IPAddress?
    func strings(_ key: ZeekKey) throws(ParseFailure) -> [String]?
    /// Every column that is not a mapped `ZeekKey`, as text (for logs without a dedicated mapping).
    func forEachUnmapped(_ body: (String, String) -> Void)
}

/// One TSV data line split by the state's separator.
struct ZeekTSVRecord: ZeekRecord {
    let line: UnsafeRawBufferPointer
    let layout: ZeekLayout
    let columns: [Range<Int>]
    let setSeparator: [UInt8]
    let emptyField: [UInt8]
    let unsetField: [UInt8]

    init(line: UnsafeRawBufferPointer, layout: ZeekLayout, state: ZeekLogState) throws(ParseFailure) {
        var columns: [Range<Int>] = []
        columns.reserveCapacity(layout.names.count)
        var start = 0
        for i in 0..<line.count where line[i] == state.separator {
            columns.append(start..<i)
            start = i + 1
        }
        columns.append(start..<line.count)
        guard columns.count == layout.names.count else {
            throw ParseFailure("line has \(columns.count) columns; the #fields header has \(layout.names.count)")
        }
        self.line = line
        self.layout = layout
        self.columns = columns
        self.setSeparator = state.setSeparator
        self.emptyField = state.emptyField
        self.unsetField = state.unsetField
    }

    private func equals(_ r: Range<Int>, _ bytes: [UInt8]) -> Bool {
        r.count == bytes.count && zip(r, bytes).allSatisfy { line[$0] == $1 }
    }

    /// The raw range of `key`, nil when absent or unset.
    private func raw(_ key: ZeekKey) -> Range<Int>? {
        let slot = layout.slots[key.index]
        guard slot >= 0, slot < columns.count else { return nil }
        let r = columns[slot]
        return equals(r, unsetField) ? nil : r
    }

    func has(_ key: ZeekKey) -> Bool { layout.slots[key.index] >= 0 }

    func string(_ key: ZeekKey) throws(ParseFailure) -> String? {
        guard let r = raw(key) else { return nil }
        if equals(r, emptyField) { return "" }
        return Self.decode(line, r)
    }

    func int(_ key: ZeekKey) throws(ParseFailure) -> Int64? {
        guard let r = raw(key) else { return nil }
        guard let v = line.decimal(r) else { throw ParseFailure("\(key.rawValue) is not a count") }
        return v
    }

    func nanoseconds(_ key: ZeekKey) throws(ParseFailure) -> Int64? {
        guard let r = raw(key) else { return nil }
        return try ZeekMapper.nanoseconds(line.slice(r), key: key)
    }

    func bool(_ key: ZeekKey) throws(ParseFailure) -> Bool? {
        guard let r = raw(key) else { return nil }
        guard r.count == 1 else { throw ParseFailure("\(key.rawValue) is not T or F") }
        switch line[r.lowerBound] {
        case UInt8(ascii: "T"): return true
        case UInt8(ascii: "F"): return false
        default: throw ParseFailure("\(key.rawValue) is not T or F")
        }
    }

    func ip(_ key: ZeekKey) throws(ParseFailure) -> IPAddress? {
        guard let r = raw(key) else { return nil }
        guard let ip = IPAddress(parsing: line.slice(r)) else { throw ParseFailure("\(key.rawValue) is not an IP address") }
        return ip
    }

    func strings(_ key: ZeekKey) throws(ParseFailure) -> [String]? {
        guard let r = raw(key) else { return nil }
        if equals(r, emptyField) { return [] }
        var out: [String] = []
        var start = r.lowerBound
        var i = r.lowerBound
        let sep = setSeparator
        while i < r.upperBound {
            if !sep.isEmpty, i + sep.count <= r.upperBound, sep.indices.allSatisfy({ line[i + $0] == sep[$0] }) {
                out.append(Self.decode(line, start..<i))
                i += sep.count
                start = i
                continue
            }
            i += 1
        }
        out.append(Self.decode(line, start..<r.upperBound))
        return out
    }

    func forEachUnmapped(_ body: (String, String) -> Void) {
        for (column, name) in layout.names.enumerated() where ZeekKey.byName[name] == nil {
            let r = columns[column]
            if equals(r, unsetField) || equals(r, emptyField) { continue }
            body(name, Self.decode(line, r))
        }
    }

    /// Text with `\xHH` escapes decoded.
    static func decode(_ line: UnsafeRawBufferPointer, _ r: Range<Int>) -> String {
        var escaped = false
        for i in r where line[i] == UInt8(ascii: "\\") { escaped = true; break }
        guard escaped else { return line.text(r) }
        return String(decoding: ZeekLogState.unescape(line.slice(r)), as: UTF8.self)
    }
}

/// One JSON object (Zeek's JSON writer: flat members with dotted names; nested objects are
/// flattened too).
struct ZeekJSONRecord: ZeekRecord {
    var members: [(String, FieldValue)] = []
    var slots: [Int]

    init(_ object: FieldObject) {
        slots = [Int](repeating: -1, count: ZeekKey.count)
        flatten(object, prefix: "")
    }

    private mutating func flatten(_ object: FieldObject, prefix: String) {
        for member in object {
            let key = prefix.isEmpty ? member.key : "\(prefix).\(member.key)"
            if case .object(let inner) = member.value, prefix.isEmpty {
                flatten(inner, prefix: key)
                continue
            }
            if let k = ZeekKey.byName[key], slots[k.index] < 0 { slots[k.index] = members.count }
            members.append((key, member.value))
        }
    }

    var pathMember: String? {
        let slot = slots[ZeekKey.path.index]
        guard slot >= 0, case .string(let s) = members[slot].1 else { return nil }
        return s
    }

    /// The log a record without `_path` comes from, judged by its characteristic columns.
    var inferredPath: String {
        if has(.connState) || has(.origPkts) { return "conn" }
        if has(.query) || has(.qtypeName) || has(.transID) { return "dns" }
        if has(.method) || has(.statusCode) || has(.uri) { return "http" }
        if has(.cipher) || has(.serverName) || has(.established) { return "ssl" }
        if has(.authSuccess) || has(.kexAlg) || (has(.client) && has(.server)) { return "ssh" }
        if has(.fuid) && (has(.mimeType) || has(.seenBytes)) { return "files" }
        if has(.note) { return "notice" }
        return "unknown"
    }

    private func value(_ key: ZeekKey) -> FieldValue? {
        let slot = slots[key.index]
        guard slot >= 0 else { return nil }
        let v = members[slot].1
        return v.isNull ? nil : v
    }

    func has(_ key: ZeekKey) -> Bool { slots[key.index] >= 0 }

    func string(_ key: ZeekKey) throws(ParseFailure) -> String? {
        guard let v = value(key) else { return nil }
        switch v {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .float(let d): return String(d)
        case .bool(let b): return b ? "true" : "false"
        case .array(let items): return items.map(\.plainText).joined(separator: ",")
        default: throw ParseFailure("\(key.rawValue) is not text")
        }
    }

    func int(_ key: ZeekKey) throws(ParseFailure) -> Int64? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i): return i
        case .float(let d) where d.rounded() == d && abs(d) < 9e18: return Int64(d)
        default: throw ParseFailure("\(key.rawValue) is not a count")
        }
    }

    func nanoseconds(_ key: ZeekKey) throws(ParseFailure) -> Int64? {
        guard let v = value(key) else { return nil }
        switch v {
        case .int(let i):
            let (ns, overflow) = i.multipliedReportingOverflow(by: 1_000_000_000)
            guard !overflow else { throw ParseFailure("\(key.rawValue) is out of range") }
            return ns
        case .float(let d):
            let ns = (d * 1e9).rounded()
            guard ns.isFinite, abs(ns) < 9.2e18 else { throw ParseFailure("\(key.rawValue) is out of range") }
            return Int64(ns)
        case .string(let s):
            // LogAscii::json_timestamps = JSON::TS_ISO8601, or the btest mask.
            if let t = Timestamp(rfc3339: s) { return t.nanoseconds }
            return try ZeekMapper.nanoseconds(text: s, key: key)
        default: throw ParseFailure("\(key.rawValue) is not a time")
        }
    }

    func bool(_ key: ZeekKey) throws(ParseFailure) -> Bool? {
        guard let v = value(key) else { return nil }
        guard case .bool(let b) = v else { throw ParseFailure("\(key.rawValue) is not a boolean") }
        return b
    }

    func ip(_ key: ZeekKey) throws(ParseFailure) -> IPAddress? {
        guard let v = value(key) else { return nil }
        guard case .string(let s) = v, let ip = IPAddress(s) else { throw ParseFailure("\(key.rawValue) is not an IP address") }
        return ip
    }

    func strings(_ key: ZeekKey) throws(ParseFailure) -> [String]? {
        guard let v = value(key) else { return nil }
        if case .array(let items) = v { return items.map(\.plainText) }
        return [v.plainText]
    }

    func forEachUnmapped(_ body: (String, String) -> Void) {
        for (key, value) in members where ZeekKey.byName[key] == nil && !value.isNull {
            body(key, value.plainText)
        }
    }
}

/// Zeek records → ECS fields.
enum ZeekMapper {
    /// Decimal seconds (`1300475167.096535`, `-0.5`) as nanoseconds; the btest mask
    /// (`XXXXXXXXXX.XXXXXX`) as nil.
    static func nanoseconds(_ b: UnsafeRawBufferPointer, key: ZeekKey) throws(ParseFailure) -> Int64? {
        if !b.isEmpty, b.allSatisfy({ $0 == UInt8(ascii: "X") || $0 == UInt8(ascii: ".") }) { return nil }
        var i = 0
        var negative = false
        if i < b.count, b[i] == UInt8(ascii: "-") { negative = true; i += 1 }
        var whole: Int64 = 0
        var digits = 0
        while i < b.count, b[i] &- 0x30 < 10 {
            guard digits < 12 else { throw ParseFailure("\(key.rawValue) is out of range") }
            whole = whole * 10 + Int64(b[i] &- 0x30)
            i += 1
            digits += 1
        }
        var nanos: Int64 = 0
        var scale: Int64 = 100_000_000
        if i < b.count, b[i] == UInt8(ascii: ".") {
            i += 1
            while i < b.count, b[i] &- 0x30 < 10 {
                nanos += Int64(b[i] &- 0x30) * scale
                scale /= 10
                i += 1
            }
        }
        guard digits > 0, i == b.count else { throw ParseFailure("\(key.rawValue) is not a number of seconds") }
        let (scaled, overflow) = whole.multipliedReportingOverflow(by: 1_000_000_000)
        guard !overflow, scaled <= Int64.max - nanos else { throw ParseFailure("\(key.rawValue) is out of range") }
        let total = scaled + nanos
        return negative ? -total : total
    }

    static func nanoseconds(text: String, key: ZeekKey) throws(ParseFailure) -> Int64? {
        var bytes = Array(text.utf8)
        return try bytes.withUnsafeMutableBytes { b in
            Result { () throws(ParseFailure) in try nanoseconds(UnsafeRawBufferPointer(b), key: key) }
        }.get()
    }

    static func map<R: ZeekRecord>(_ r: R, path: String, into event: inout Event) throws(ParseFailure) {
        if let ns = try r.nanoseconds(.ts) { event["@timestamp"] = .timestamp(Timestamp(nanoseconds: ns)) }
        if let uid = try r.string(.uid) { event["zeek.session_id"] = .string(uid) }
        if let ip = try r.ip(.origH) { event["source.ip"] = .ip(ip) }
        if let p = try r.int(.origP) { event["source.port"] = .int(p) }
        if let ip = try r.ip(.respH) {
            event["destination.ip"] = .ip(ip)
            event["network.type"] = .string(ip.isV4 ? "ipv4" : "ipv6")
        }
        if let p = try r.int(.respP) { event["destination.port"] = .int(p) }
        if let c = try r.string(.communityID) { event["network.community_id"] = .string(c) }
        event["event.kind"] = .string(path == "notice" ? "alert" : "event")
        event["event.dataset"] = .string("zeek.\(path)")
        switch path {
        case "conn": try conn(r, into: &event)
        case "dns": try dns(r, into: &event)
        case "http": try http(r, into: &event)
        case "ssl": try ssl(r, into: &event)
        case "ssh": try ssh(r, into: &event)
        case "files": try files(r, into: &event)
        case "notice": try notice(r, into: &event)
        default:
            r.forEachUnmapped { key, value in event["zeek.\(path).\(key)"] = .string(value) }
        }
    }

    static func conn<R: ZeekRecord>(_ r: R, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["network"])
        if let v = try r.string(.proto) { event["network.transport"] = .string(v) }
        if let v = try r.string(.service), !v.isEmpty { event["network.protocol"] = .string(v) }
        if let v = try r.nanoseconds(.duration) { event["event.duration"] = .int(v) }
        if let v = try r.int(.origBytes) { event["source.bytes"] = .int(v) }
        if let v = try r.int(.respBytes) { event["destination.bytes"] = .int(v) }
        if let v = try r.int(.origPkts) { event["source.packets"] = .int(v) }
        if let v = try r.int(.respPkts) { event["destination.packets"] = .int(v) }
        if let v = try r.string(.connState) { event["zeek.conn.state"] = .string(v) }
        if let v = try r.string(.history), !v.isEmpty { event["zeek.conn.history"] = .string(v) }
        if let v = try r.int(.missedBytes) { event["zeek.conn.missed_bytes"] = .int(v) }
        if let v = try r.bool(.localOrig) { event["zeek.conn.local_orig"] = .bool(v) }
        if let v = try r.bool(.localResp) { event["zeek.conn.local_resp"] = .bool(v) }
    }

    static func dns<R: ZeekRecord>(_ r: R, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["network"])
        if let v = try r.string(.proto) { event["network.transport"] = .string(v) }
        event["network.protocol"] = .string("dns")
        let query = try r.string(.query)
        if let query { event["dns.question.name"] = .string(query) }
        if let v = try r.string(.qtypeName) { event["dns.question.type"] = .string(v) }
        if let v = try r.string(.qclassName) { event["dns.question.class"] = .string(v) }
        let rcode = try r.string(.rcodeName)
        if let rcode { event["dns.response_code"] = .string(rcode) }
        if let v = try r.int(.transID) { event["dns.id"] = .string(String(v)) }
        if let v = try r.string(.opcodeName) { event["dns.op_code"] = .string(v.uppercased()) }
        var flags: [FieldValue] = []
        for (key, name) in [(ZeekKey.aa, "AA"), (.tc, "TC"), (.rd, "RD"), (.ra, "RA")] where try r.bool(key) == true {
            flags.append(.string(name))
        }
        if !flags.isEmpty { event["dns.header_flags"] = .array(flags) }
        let answers = try r.strings(.answers) ?? []
        event["dns.type"] = .string(rcode != nil || !answers.isEmpty ? "answer" : "query")
        if !answers.isEmpty {
            let ttls = try r.strings(.ttls) ?? []
            var objects: [FieldValue] = []
            var resolved: [FieldValue] = []
            for (k, data) in answers.enumerated() {
                var members: [FieldObject.Member] = []
                if let query { members.append(.init("name", .string(query))) }
                let ip = IPAddress(data)
                if let ip {
                    members.append(.init("type", .string(ip.isV4 ? "A" : "AAAA")))
                    resolved.append(.ip(ip))
                }
                if k < ttls.count {
                    let ns = try nanoseconds(text: ttls[k], key: .ttls)
                    if let ns { members.append(.init("ttl", .int(ns / 1_000_000_000))) }
                }
                members.append(.init("data", .string(data)))
                objects.append(.object(FieldObject(members)))
            }
            event["dns.answers"] = .array(objects)
            if !resolved.isEmpty { event["dns.resolved_ip"] = .array(resolved) }
        }
    }

    static func http<R: ZeekRecord>(_ r: R, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["network", "web"])
        event["network.protocol"] = .string("http")
        if let v = try r.string(.method) { event["http.request.method"] = .string(v) }
        if let v = try r.string(.uri) { event.setURL(original: v) }
        if let v = try r.string(.host), !v.isEmpty { event["url.domain"] = .string(v) }
        if let v = try r.string(.version), !v.isEmpty { event["http.version"] = .string(v) }
        if let v = try r.string(.referrer), !v.isEmpty { event["http.request.referrer"] = .string(v) }
        if let v = try r.string(.userAgent), !v.isEmpty { event["user_agent.original"] = .string(v) }
        if let v = try r.int(.statusCode) { event["http.response.status_code"] = .int(v) }
        if let v = try r.int(.requestBodyLen) { event["http.request.body.bytes"] = .int(v) }
        if let v = try r.int(.responseBodyLen) { event["http.response.body.bytes"] = .int(v) }
        if let v = try r.string(.username), !v.isEmpty { event["user.name"] = .string(v) }
    }

    /// `TLSv12` → (`1.2`, `tls`); `SSLv3` → (`3.0`, `ssl`); `DTLSv12` → (`1.2`, `dtls`);
    /// `TLS 1.3` (Suricata) → (`1.3`, `tls`). Unknown forms → (text, nil).
    static func tlsVersion(_ text: String) -> (String, String?) {
        var s = Substring(text)
        let proto: String
        if s.hasPrefix("DTLS") { proto = "dtls"; s = s.dropFirst(4) }
        else if s.hasPrefix("TLS") { proto = "tls"; s = s.dropFirst(3) }
        else if s.hasPrefix("SSL") { proto = "ssl"; s = s.dropFirst(3) }
        else { return (text, nil) }
        if s.hasPrefix("v") || s.hasPrefix(" ") { s = s.dropFirst() }
        let digits = s.filter { $0 != "." }
        guard !digits.isEmpty, digits.count <= 2, digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return (text, proto) }
        let major = digits.first!
        let minor = digits.count == 2 ? digits.last! : "0"
        return ("\(major).\(minor)", proto)
    }

    static func ssl<R: ZeekRecord>(_ r: R, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["network"])
        event["network.protocol"] = .string("tls")
        if let v = try r.string(.version) {
            let (version, proto) = tlsVersion(v)
            event["tls.version"] = .string(version)
            if let proto { event["tls.version_protocol"] = .string(proto) }
        }
        if let v = try r.string(.cipher) { event["tls.cipher"] = .string(v) }
        if let v = try r.string(.curve) { event["tls.curve"] = .string(v) }
        if let v = try r.string(.serverName), !v.isEmpty { event["tls.client.server_name"] = .string(v) }
        if let v = try r.bool(.established) { event["tls.established"] = .bool(v) }
        if let v = try r.bool(.resumed) { event["tls.resumed"] = .bool(v) }
        if let v = try r.string(.nextProtocol), !v.isEmpty { event["tls.next_protocol"] = .string(v) }
        if let v = try r.string(.ja3), !v.isEmpty { event["tls.client.ja3"] = .string(v) }
        if let v = try r.string(.ja3s), !v.isEmpty { event["tls.server.ja3s"] = .string(v) }
        if let v = try r.string(.ja4), !v.isEmpty { event["tls.client.ja4"] = .string(v) }
        if let v = try r.string(.subject), !v.isEmpty { event["tls.server.subject"] = .string(v) }
        if let v = try r.string(.issuer), !v.isEmpty { event["tls.server.issuer"] = .string(v) }
    }

    static func ssh<R: ZeekRecord>(_ r: R, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["network"])
        event["network.protocol"] = .string("ssh")
        if let v = try r.string(.client) { event["ssh.client"] = .string(v) }
        if let v = try r.string(.server) { event["ssh.server"] = .string(v) }
        if let v = try r.bool(.authSuccess) { event["event.outcome"] = .string(v ? "success" : "failure") }
        if let v = try r.int(.version) { event["zeek.ssh.version"] = .int(v) }
        if let v = try r.int(.authAttempts) { event["zeek.ssh.auth_attempts"] = .int(v) }
        for (key, name) in [(ZeekKey.direction, "direction"), (.cipherAlg, "cipher_alg"), (.macAlg, "mac_alg"),
                            (.compressionAlg, "compression_alg"), (.kexAlg, "kex_alg"), (.hostKeyAlg, "host_key_alg"),
                            (.hostKey, "host_key"), (.hostKeyFingerprint, "host_key")] {
            if let v = try r.string(key), !v.isEmpty { event["zeek.ssh.\(name)"] = .string(v) }
        }
    }

    static func files<R: ZeekRecord>(_ r: R, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["file"])
        if let v = try r.string(.fuid) { event["zeek.files.fuid"] = .string(v) }
        if let v = try r.string(.source) { event["zeek.files.source"] = .string(v) }
        if let v = try r.string(.mimeType) { event["file.mime_type"] = .string(v) }
        if let v = try r.string(.filename), !v.isEmpty { event["file.name"] = .string(v) }
        if let v = try r.int(.totalBytes) { event["file.size"] = .int(v) }
        if let v = try r.int(.seenBytes) { event["zeek.files.seen_bytes"] = .int(v) }
        if let v = try r.bool(.isOrig) { event["zeek.files.is_orig"] = .bool(v) }
        if let v = try r.string(.md5) { event["file.hash.md5"] = .string(v) }
        if let v = try r.string(.sha1) { event["file.hash.sha1"] = .string(v) }
        if let v = try r.string(.sha256) { event["file.hash.sha256"] = .string(v) }
    }

    static func notice<R: ZeekRecord>(_ r: R, into event: inout Event) throws(ParseFailure) {
        event["event.category"] = .array(["intrusion_detection"])
        if let v = try r.string(.note) { event["rule.name"] = .string(v) }
        if let v = try r.string(.msg) { event["message"] = .string(v) }
        if let v = try r.string(.sub) { event["zeek.notice.sub"] = .string(v) }
        if let v = try r.strings(.actions), !v.isEmpty { event["zeek.notice.actions"] = .array(v.map(FieldValue.string)) }
        if event["source.ip"] == nil, let ip = try r.ip(.src) { event["source.ip"] = .ip(ip) }
        if event["destination.ip"] == nil, let ip = try r.ip(.dst) { event["destination.ip"] = .ip(ip) }
        if event["destination.port"] == nil, let p = try r.int(.p) { event["destination.port"] = .int(p) }
        if let v = try r.string(.proto), event["network.transport"] == nil { event["network.transport"] = .string(v) }
    }
}
