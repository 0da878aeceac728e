import VigilCore
import VigilYAML

/// `type: csv`: one delimited record per line (RFC 4180 quoting), columns named by the
/// configuration.
///
/// ```yaml
/// options:
///   columns: [ts, source.ip, source.port, "-", user.name]   # field per column; "-" or "" skips the column
///   separator: ","          # one character (default ","); "\t" or "tab" for tabs
///   quote: '"'              # the quote character (default "); "" turns quoting off
///   trim: false             # strip spaces and tabs around unquoted values (default false)
///   strict_columns: true    # the number of columns must equal `columns` (default true); when false,
///                           # extra columns are ignored and missing ones are absent
/// ```
/// A quoted value may hold separators and doubled quotes (`"a ""b"", c"` → `a "b", c`). Empty
/// values are dropped (an empty column means "no value"). Values are strings; known fields get
/// their schema types (`source.port` → int). A quote that is not closed, or text between a closing
/// quote and the next separator, fails the line.
public struct CSVParser: LineParser {
    /// Field name per column; nil skips the column.
    public let columns: [String?]
    public let separator: UInt8
    public let quote: UInt8?
    public let trim: Bool
    public let strictColumns: Bool

    public init(columns: [String?], separator: UInt8 = 0x2C, quote: UInt8? = 0x22, trim: Bool = false, strictColumns: Bool = true) {
        self.columns = columns
        self.separator = separator
        self.quote = quote
        self.trim = trim
        self.strictColumns = strictColumns
    }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        guard let o = try context.options(allowedKeys: ["columns", "separator", "quote", "trim", "strict_columns"]) else {
            throw context.definition.error("type csv needs options.columns (a list of field names)")
        }
        let columnsNode = try o.required("columns")
        var columns: [String?] = []
        for item in try columnsNode.sequence() {
            let name = item.isNull ? "" : try item.string()
            columns.append(name.isEmpty || name == "-" ? nil : name)
        }
        guard !columns.isEmpty else { throw columnsNode.error("columns must name at least one column") }
        var separator: UInt8 = 0x2C
        if let node = o.optional("separator") {
            let s = try node.string()
            if s == "\t" || s == "tab" || s == "\\t" { separator = FormatBytes.tab }
            else if s.utf8.count == 1, let c = s.utf8.first, c < 0x80, c != 0x0A, c != 0x0D { separator = c }
            else { throw node.error("separator must be one ASCII character (or \"tab\")") }
        }
        var quote: UInt8? = 0x22
        if let node = o.optional("quote") {
            let s = node.isNull ? "" : try node.string()
            if s.isEmpty { quote = nil }
            else if s.utf8.count == 1, let c = s.utf8.first, c < 0x80 { quote = c }
            else { throw node.error("quote must be one ASCII character, or \"\" for none") }
        }
        if let quote, quote == separator { throw (o.optional("quote") ?? columnsNode).error("quote and separator must differ") }
        return CSVParser(columns: columns, separator: separator, quote: quote,
                         trim: try o.optional("trim")?.bool() ?? false,
                         strictColumns: try o.optional("strict_columns")?.bool() ?? true)
    }

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        let b = line
        var i = 0
        var column = 0
        while true {
            // One column starting at i.
            var text: String? = nil
            if trim, quote != nil {
                var k = i
                while k < b.count, b[k] != separator, FormatBytes.isBlank(b[k]) { k += 1 }
                if k < b.count, b[k] == quote { i = k }
            }
            if let quote, i < b.count, b[i] == quote {
                var j = i + 1
                var doubled = false
                while true {
                    guard j < b.count else { throw ParseFailure("column \(column + 1): quote not closed") }
                    if b[j] == quote {
                        if j + 1 < b.count, b[j + 1] == quote { doubled = true; j += 2; continue }
                        break
                    }
                    j += 1
                }
                if column < columns.count, columns[column] != nil, j > i + 1 {
                    if doubled {
                        var out: [UInt8] = []
                        out.reserveCapacity(j - i)
                        var k = i + 1
                        while k < j { out.append(b[k]); k += b[k] == quote ? 2 : 1 }
                        text = String(decoding: out, as: UTF8.self)
                    } else {
                        text = FormatBytes.string(b, (i + 1)..<j)
                    }
                }
                i = j + 1
                if trim { while i < b.count, b[i] != separator, FormatBytes.isBlank(b[i]) { i += 1 } }
                guard i == b.count || b[i] == separator else { throw ParseFailure("column \(column + 1): text after the closing quote") }
            } else {
                let start = i
                while i < b.count, b[i] != separator { i += 1 }
                let r = trim ? FormatBytes.trimmed(b, start..<i) : start..<i
                if column < columns.count, columns[column] != nil, !r.isEmpty { text = FormatBytes.string(b, r) }
            }
            if column < columns.count, let name = columns[column], let text { event[name] = .string(text) }
            column += 1
            if i >= b.count { break }
            i += 1  // the separator
        }
        if strictColumns && column != columns.count {
            throw ParseFailure("expected \(columns.count) columns, found \(column)")
        }
    }
}
