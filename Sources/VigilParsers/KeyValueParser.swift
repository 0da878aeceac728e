import VigilCore
import VigilYAML

/// `type: kv`: generic `key=value` lines (firewall and appliance logs such as
/// `date=2024-05-01 srcip=10.0.0.1 action="accept" msg="a b c"`).
///
/// ```yaml
/// options:
///   pair_separator: whitespace   # between pairs: `whitespace` (runs of spaces/tabs, the default) or a literal string (", ", "|", ";")
///   kv_separator: "="            # between key and value (default "="; may be longer, e.g. "=>" or ": ")
///   quotes: "\"'"                # characters that may quote a value (default " and '); a backslash escapes the quote inside
///   mapping: { srcip: source.ip, dstport: destination.port }   # renames; values of known fields are typed by the schema
///   prefix: fw.                  # put before every key not in `mapping` (default: none)
///   include: [srcip, dstport]    # only these keys (original names); default: all
///   exclude: [devid]             # drop these keys (original names)
/// ```
/// Text without a separator between pairs is skipped; a key repeated later in the line wins.
/// Empty values are dropped. A line without a single pair fails (`no key=value pairs`), as does a
/// quoted value with no closing quote.
public struct KeyValueParser: LineParser {
    public let pairSeparator: [UInt8]?   // nil: whitespace
    public let kvSeparator: [UInt8]
    public let quotes: [UInt8]
    public let mapping: [String: String]
    public let prefix: String
    public let include: Set<String>?
    public let exclude: Set<String>

    public init(pairSeparator: String? = nil, kvSeparator: String = "=", quotes: String = "\"'", mapping: [String: String] = [:],
                prefix: String = "", include: Set<String>? = nil, exclude: Set<String> = []) {
        self.pairSeparator = pairSeparator.map { Array($0.utf8) }
        self.kvSeparator = Array(kvSeparator.utf8)
        self.quotes = Array(quotes.utf8)
        self.mapping = mapping
        self.prefix = prefix
        self.include = include
        self.exclude = exclude
    }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let o = try context.options(allowedKeys: ["pair_separator", "kv_separator", "quotes", "mapping", "prefix", "include", "exclude"])
        var pairSeparator: String?
        if let node = o?.optional("pair_separator") {
            let s = try node.string()
            guard !s.isEmpty else { throw node.error("pair_separator must not be empty (use 'whitespace' for runs of spaces)") }
            pairSeparator = s == "whitespace" ? nil : s
        }
        let kvNode = o?.optional("kv_separator")
        let kv = try kvNode?.string() ?? "="
        if kv.isEmpty, let kvNode { throw kvNode.error("kv_separator must not be empty") }
        let quotesNode = o?.optional("quotes")
        let quotes = try quotesNode?.string() ?? "\"'"
        if let quotesNode, !quotes.utf8.allSatisfy({ $0 < 0x80 }) { throw quotesNode.error("quotes must be ASCII characters") }
        var mapping: [String: String] = [:]
        if let m = o?.optional("mapping") { for e in try m.mapping().entries { mapping[e.key] = try e.value.string() } }
        let include = try o?.optional("include").map { node throws(YAMLError) in Set(try PostStep.stringList(node)) }
        let exclude = try o?.optional("exclude").map { node throws(YAMLError) in Set(try PostStep.stringList(node)) } ?? []
        return KeyValueParser(pairSeparator: pairSeparator, kvSeparator: kv, quotes: quotes, mapping: mapping,
                              prefix: try o?.optional("prefix")?.string() ?? "", include: include, exclude: exclude)
    }

    @inline(__always) private func matches(_ b: UnsafeRawBufferPointer, _ at: Int, _ literal: [UInt8]) -> Bool {
        guard at + literal.count <= b.count else { return false }
        for k in 0..<literal.count where b[at + k] != literal[k] { return false }
        return true
    }

    /// The length of the pair separator at `at`, or 0.
    @inline(__always) private func separatorLength(_ b: UnsafeRawBufferPointer, _ at: Int) -> Int {
        if let pairSeparator { return matches(b, at, pairSeparator) ? pairSeparator.count : 0 }
        var n = 0
        while at + n < b.count, FormatBytes.isBlank(b[at + n]) { n += 1 }
        return n
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        let b = line
        var i = 0
        var pairs = 0
        while i < b.count {
            // Skip separators.
            let s = separatorLength(b, i)
            if s > 0 { i += s; continue }
            // Key: up to the kv separator, or to the next pair separator (then it is not a pair).
            let keyStart = i
            var isPair = false
            while i < b.count {
                if matches(b, i, kvSeparator) { isPair = true; break }
                if separatorLength(b, i) > 0 { break }
                i += 1
            }
            guard isPair else { continue }
            let key = FormatBytes.trimmed(b, keyStart..<i)
            i += kvSeparator.count
            if pairSeparator != nil {
                while i < b.count, FormatBytes.isBlank(b[i]), separatorLength(b, i) == 0 { i += 1 }
            }
            // Value: quoted, or up to the next pair separator.
            var value: Range<Int>
            var hasEscapes = false
            var quote: UInt8 = 0
            if i < b.count, quotes.contains(b[i]) {
                quote = b[i]
                let start = i + 1
                var j = start
                while j < b.count, b[j] != quote {
                    if b[j] == FormatBytes.backslash { hasEscapes = true; j += 1 }
                    j += 1
                }
                guard j < b.count else { throw ParseFailure("unterminated quoted value") }
                value = start..<j
                i = j + 1
            } else {
                let start = i
                while i < b.count, separatorLength(b, i) == 0 { i += 1 }
                value = start..<i
                if pairSeparator != nil { value = FormatBytes.trimmed(b, value) }
            }
            guard !key.isEmpty else { continue }
            pairs += 1
            if value.isEmpty { continue }
            let name = FormatBytes.string(b, key)
            if let include, !include.contains(name) { continue }
            if exclude.contains(name) { continue }
            let text: String
            if hasEscapes {
                var out: [UInt8] = []
                var j = value.lowerBound
                while j < value.upperBound {
                    if b[j] == FormatBytes.backslash, j + 1 < value.upperBound, b[j + 1] == quote || b[j + 1] == FormatBytes.backslash { j += 1 }
                    out.append(b[j])
                    j += 1
                }
                text = String(decoding: out, as: UTF8.self)
            } else {
                text = FormatBytes.string(b, value)
            }
            event[mapping[name] ?? (prefix.isEmpty ? name : prefix + name)] = .string(text)
        }
        guard pairs > 0 else { throw ParseFailure("no key\(String(decoding: kvSeparator, as: UTF8.self))value pairs") }
    }
}
