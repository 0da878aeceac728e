import VigilCore
import VigilYAML

/// `type: apache_access` and `type: nginx_access`: web server access logs in the Common and
/// Combined Log Formats, parsed by a hand-written byte scanner (no regex).
///
/// ```
/// 1.2.3.4 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)"
/// ```
///
/// ```yaml
/// options:
///   dataset: nginx.access              # event.dataset (default apache.access / nginx.access)
///   extra_fields:                      # fields after the user agent, in order; ":int"/":float" convert
///     - nginx.request_time:float
///     - nginx.upstream_response_time:float
/// ```
///
/// Fields: `source.ip` (or `source.domain` when the client is a host name), `user.name`,
/// `@timestamp`, `http.request.method`, `url.original`, `url.path`, `url.query`, `http.version`,
/// `http.response.status_code`, `http.response.body.bytes`, `http.request.referrer`,
/// `user_agent.original`, `event.category` `[web]`, `event.type` `[access]`, `event.dataset`.
///
/// Rules:
/// - `-` means "no value" in every position; the field is left unset.
/// - Quoted fields end at a `"` followed by a space or the end of the line, so both escaped quotes
///   (`\"`, Apache) and stray unescaped quotes inside a value are tolerated. `\"` and `\\` are
///   decoded; other escapes (`\xHH`, which both servers write for non-printable bytes) are kept as
///   written, so values stay valid, printable text.
/// - A request line that is not `METHOD target [HTTP/x.y]` (TLS handshakes sent to a plain-HTTP
///   port, `\x16\x03\x01…`, scanners' junk) is kept: `http.request.method` and `url.*` stay unset,
///   the raw text goes to `http.request.raw` and `tags` gets `malformed_request`. Such lines are
///   real traffic worth alerting on, so they are not parse failures.
/// - `url.path`/`url.query` are set for origin-form targets (`/path?query`); absolute-form
///   (`http://host/…`) and authority-form (`CONNECT host:443`) targets set only `url.original`.
/// - Unquoted extra fields end at a space: quote variables that can hold spaces in `log_format`
///   (nginx writes several upstream times as `0.001, 0.002`). Missing trailing fields are left
///   unset; anything after the configured fields is ignored.
public struct WebAccessParser: LineParser {
    /// One configured extra field.
    public struct ExtraField: Sendable, Equatable {
        public let name: String
        public let type: GrokValueType
        public init(name: String, type: GrokValueType = .string) {
            self.name = name
            self.type = type
        }
    }

    public let dataset: String
    public let extraFields: [ExtraField]

    public init(dataset: String, extraFields: [ExtraField] = []) {
        self.dataset = dataset
        self.extraFields = extraFields
    }

    public static let buildApache: ParserBuilder = { context throws(YAMLError) in try build(context, defaultDataset: "apache.access") }
    public static let buildNginx: ParserBuilder = { context throws(YAMLError) in try build(context, defaultDataset: "nginx.access") }

    static func build(_ context: ParserBuildContext, defaultDataset: String) throws(YAMLError) -> any LineParser {
        let options = try context.options(allowedKeys: ["dataset", "extra_fields"])
        var extras: [ExtraField] = []
        if let list = options?.optional("extra_fields") {
            for node in try list.sequence() {
                let spec = try node.string()
                let parts = spec.split(separator: ":", omittingEmptySubsequences: false)
                guard parts.count <= 2, !parts[0].isEmpty else { throw node.error("an extra field is NAME or NAME:int|float|string") }
                var type = GrokValueType.string
                if parts.count == 2 {
                    guard let t = GrokValueType(rawValue: String(parts[1])) else {
                        throw node.error("unknown type '\(parts[1])' (use int, float or string)")
                    }
                    type = t
                }
                extras.append(ExtraField(name: String(parts[0]), type: type))
            }
        }
        return WebAccessParser(dataset: try options?.optional("dataset")?.string() ?? defaultDataset, extraFields: extras)
    }

    // swiftlint:disable:next force_try
    private static let timeFormat = try! TimestampFormat("%d/%b/%Y:%H:%M:%S %z")

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        var end = line.count
        while end > 0, line[end - 1] == 0x0D || line[end - 1] == 0x20 { end -= 1 }
        var s = WebScanner(bytes: line, position: 0, end: end)

        // client
        guard let client = s.readToken(), client.count > 0 else { throw ParseFailure("no client address") }
        if let ip = IPAddress(parsing: line.slice(client)) {
            event["source.ip"] = .ip(ip)
        } else if !s.isDash(client) {
            guard client.allSatisfy({ WebScanner.isHostByte(line[$0]) }) else { throw ParseFailure("client is neither an IP address nor a host name") }
            event["source.domain"] = .string(line.text(client))
        }
        // ident (RFC 1413), ignored
        guard s.readSpace(), s.readToken() != nil, s.readSpace() else { throw ParseFailure("missing ident field") }
        // user: quoted or a token up to " [" (user names may contain spaces in some setups)
        guard let user = s.readUser() else { throw ParseFailure("missing user field") }
        if !s.isDash(user) && !user.isEmpty { event["user.name"] = .string(line.text(user)) }
        // [time]
        guard s.readSpace(), s.readByte(UInt8(ascii: "[")), let time = s.readUntil(UInt8(ascii: "]")) else {
            throw ParseFailure("missing [time] field")
        }
        guard let timestamp = Self.timeFormat.parse(line.slice(time), zone: .utc, reference: context.referenceTime) else {
            throw ParseFailure("time is not dd/Mon/yyyy:hh:mm:ss +zzzz")
        }
        event["@timestamp"] = .timestamp(timestamp)
        // "request"
        guard s.readSpace(), let request = s.readQuoted() else { throw ParseFailure("missing quoted request line") }
        parseRequest(line, request, into: &event)
        // status
        guard s.readSpace(), let status = s.readToken() else { throw ParseFailure("missing status code") }
        if !s.isDash(status) {
            guard let code = line.decimal(status), code <= 999 else { throw ParseFailure("status code is not a number") }
            event["http.response.status_code"] = .int(code)
        }
        // bytes
        guard s.readSpace(), let bytes = s.readToken() else { throw ParseFailure("missing response size") }
        if !s.isDash(bytes) {
            guard let n = line.decimal(bytes) else { throw ParseFailure("response size is not a number") }
            event["http.response.body.bytes"] = .int(n)
        }
        event["event.category"] = .array([.string("web")])
        event["event.type"] = .array([.string("access")])
        event["event.dataset"] = .string(dataset)
        // Combined: "referrer" "user agent"
        guard s.readSpace() else {
            guard s.atEnd else { throw ParseFailure("unexpected text after the response size") }
            return
        }
        guard let referrer = s.readQuoted() else { throw ParseFailure("referrer is not quoted") }
        if !s.isDash(referrer) && !referrer.isEmpty { event["http.request.referrer"] = .string(line.unescaped(referrer)) }
        guard s.readSpace(), let agent = s.readQuoted() else { throw ParseFailure("missing quoted user agent") }
        if !s.isDash(agent) && !agent.isEmpty { event["user_agent.original"] = .string(line.unescaped(agent)) }
        // extra fields
        for field in extraFields {
            guard s.readSpace() else { break }
            let value: Range<Int>
            if s.peek() == UInt8(ascii: "\"") {
                guard let q = s.readQuoted() else { throw ParseFailure("unterminated quote in \(field.name)") }
                value = q
            } else {
                guard let t = s.readToken() else { break }
                value = t
            }
            if s.isDash(value) || value.isEmpty { continue }
            switch field.type {
            case .string: event[field.name] = .string(line.unescaped(value))
            case .int:
                guard let v = line.decimal(value) else { throw ParseFailure("\(field.name) is not an integer") }
                event[field.name] = .int(v)
            case .float:
                guard let v = line.double(value) else { throw ParseFailure("\(field.name) is not a number") }
                event[field.name] = .float(v)
            }
        }
    }

    private func parseRequest(_ line: UnsafeRawBufferPointer, _ r: Range<Int>, into event: inout Event) {
        if r.isEmpty || (r.count == 1 && line[r.lowerBound] == UInt8(ascii: "-")) { return }
        // METHOD SP target [SP HTTP/x.y]
        var i = r.lowerBound
        while i < r.upperBound, WebScanner.isMethodByte(line[i]) { i += 1 }
        let methodEnd = i
        var wellFormed = methodEnd > r.lowerBound && methodEnd - r.lowerBound <= 24 && i < r.upperBound && line[i] == 0x20
        var target = 0..<0
        var version: Range<Int>? = nil
        if wellFormed {
            i += 1
            let targetStart = i
            while i < r.upperBound, line[i] != 0x20 { i += 1 }
            target = targetStart..<i
            if i < r.upperBound {
                // " HTTP/x.y" must be the rest
                let v = (i + 1)..<r.upperBound
                if v.count > 5, line[v.lowerBound] == UInt8(ascii: "H"), line[v.lowerBound + 1] == UInt8(ascii: "T"),
                   line[v.lowerBound + 2] == UInt8(ascii: "T"), line[v.lowerBound + 3] == UInt8(ascii: "P"),
                   line[v.lowerBound + 4] == UInt8(ascii: "/"),
                   v.dropFirst(5).allSatisfy({ (line[$0] >= 0x30 && line[$0] <= 0x39) || line[$0] == UInt8(ascii: ".") }) {
                    version = (v.lowerBound + 5)..<v.upperBound
                } else {
                    wellFormed = false
                }
            }
            if target.isEmpty || !target.allSatisfy({ line[$0] > 0x20 && line[$0] < 0x7F || line[$0] >= 0x80 }) { wellFormed = false }
        }
        guard wellFormed else {
            event["http.request.raw"] = .string(line.unescaped(r))
            let tag = FieldValue.string("malformed_request")
            if case .array(var tags)? = event["tags"] { tags.append(tag); event["tags"] = .array(tags) } else { event["tags"] = .array([tag]) }
            return
        }
        event["http.request.method"] = .string(line.text(r.lowerBound..<methodEnd))
        event["url.original"] = .string(line.unescaped(target))
        if line[target.lowerBound] == UInt8(ascii: "/") {
            var q = target.lowerBound
            while q < target.upperBound, line[q] != UInt8(ascii: "?") { q += 1 }
            event["url.path"] = .string(line.unescaped(target.lowerBound..<q))
            if q + 1 < target.upperBound { event["url.query"] = .string(line.unescaped((q + 1)..<target.upperBound)) }
        }
        if let version, !version.isEmpty { event["http.version"] = .string(line.text(version)) }
    }
}

/// A position in a web log line (up to `end`, trailing CR/spaces excluded).
struct WebScanner {
    let bytes: UnsafeRawBufferPointer
    var position: Int
    let end: Int

    var atEnd: Bool { position >= end }
    func peek() -> UInt8? { position < end ? bytes[position] : nil }

    static func isMethodByte(_ b: UInt8) -> Bool { (b >= 0x41 && b <= 0x5A) || b == 0x5F || b == 0x2D }
    static func isHostByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b | 0x20 >= 0x61 && b | 0x20 <= 0x7A) || b == 0x2E || b == 0x2D || b == 0x5F || b == 0x3A
    }

    func isDash(_ r: Range<Int>) -> Bool { r.count == 1 && bytes[r.lowerBound] == UInt8(ascii: "-") }

    mutating func readByte(_ b: UInt8) -> Bool {
        guard position < end, bytes[position] == b else { return false }
        position += 1
        return true
    }

    /// One or more spaces.
    mutating func readSpace() -> Bool {
        guard position < end, bytes[position] == 0x20 else { return false }
        while position < end, bytes[position] == 0x20 { position += 1 }
        return true
    }

    /// Bytes up to the next space or the end (possibly empty).
    mutating func readToken() -> Range<Int>? {
        guard position < end else { return nil }
        let start = position
        while position < end, bytes[position] != 0x20 { position += 1 }
        return start..<position
    }

    /// The user field: quoted, or everything up to the last ` [` that starts the time field.
    mutating func readUser() -> Range<Int>? {
        if peek() == UInt8(ascii: "\"") { return readQuoted() }
        let start = position
        var i = position
        while i < end, bytes[i] != 0x20 { i += 1 }
        // Common case: a token followed by " [".
        if i + 1 < end, bytes[i + 1] == UInt8(ascii: "[") { position = i; return start..<i }
        // A user name with spaces: up to the first " [" that is followed by a digit.
        var k = i
        while k + 2 < end {
            if bytes[k] == 0x20, bytes[k + 1] == UInt8(ascii: "["), bytes[k + 2] >= 0x30, bytes[k + 2] <= 0x39 {
                position = k
                return start..<k
            }
            k += 1
        }
        position = i
        return start..<i
    }

    /// Bytes up to `terminator` (consumed, not included).
    mutating func readUntil(_ terminator: UInt8) -> Range<Int>? {
        let start = position
        var i = position
        while i < end, bytes[i] != terminator { i += 1 }
        guard i < end else { return nil }
        position = i + 1
        return start..<i
    }

    /// A quoted value: returns the range inside the quotes. The closing quote is a `"` not preceded
    /// by a backslash escape and followed by a space or the end of the line.
    mutating func readQuoted() -> Range<Int>? {
        guard position < end, bytes[position] == UInt8(ascii: "\"") else { return nil }
        let start = position + 1
        var i = start
        while i < end {
            let b = bytes[i]
            if b == UInt8(ascii: "\\") { i += 2; continue }
            if b == UInt8(ascii: "\""), i + 1 == end || bytes[i + 1] == 0x20 {
                position = i + 1
                return start..<i
            }
            i += 1
        }
        return nil
    }
}

extension UnsafeRawBufferPointer {
    /// The bytes in `r` as a buffer of their own (no copy).
    @inline(__always)
    func slice(_ r: Range<Int>) -> UnsafeRawBufferPointer { UnsafeRawBufferPointer(rebasing: self[r]) }

    /// The bytes in `r` as text (invalid UTF-8 repaired with U+FFFD).
    @inline(__always)
    func text(_ r: Range<Int>) -> String { String(decoding: slice(r), as: UTF8.self) }

    /// The bytes in `r` as text with `\"` and `\\` decoded (other escapes kept as written).
    func unescaped(_ r: Range<Int>) -> String {
        var hasEscape = false
        for i in r where self[i] == UInt8(ascii: "\\") { hasEscape = true; break }
        guard hasEscape else { return text(r) }
        var out: [UInt8] = []
        out.reserveCapacity(r.count)
        var i = r.lowerBound
        while i < r.upperBound {
            let b = self[i]
            if b == UInt8(ascii: "\\"), i + 1 < r.upperBound, self[i + 1] == UInt8(ascii: "\"") || self[i + 1] == UInt8(ascii: "\\") {
                out.append(self[i + 1])
                i += 2
                continue
            }
            out.append(b)
            i += 1
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A non-negative decimal integer filling `r` (at most 18 digits), or nil.
    func decimal(_ r: Range<Int>) -> Int64? {
        guard !r.isEmpty, r.count <= 18 else { return nil }
        var v: Int64 = 0
        for i in r {
            let d = self[i] &- 0x30
            guard d < 10 else { return nil }
            v = v * 10 + Int64(d)
        }
        return v
    }

    /// A finite decimal number (`12`, `0.250`, `-1.5e3`) filling `r`, or nil.
    func double(_ r: Range<Int>) -> Double? {
        guard !r.isEmpty, r.count <= 64 else { return nil }
        for i in r {
            let b = self[i]
            guard (b >= 0x30 && b <= 0x39) || b == 0x2E || b == 0x2D || b == 0x2B || b | 0x20 == 0x65 else { return nil }
        }
        guard let v = Double(text(r)), v.isFinite else { return nil }
        return v
    }
}
