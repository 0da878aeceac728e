import VigilCore

/// An immutable snapshot of a keyed table: rows of field values found by a string key, an IP
/// address, or (for network zones) the longest network containing an address.
///
/// `Sendable`: every stored property is an immutable value, so one snapshot is shared by every
/// worker thread; a reload builds a new snapshot and swaps it in (``EnrichmentSet``).
public final class ReferenceTable: Sendable {
    /// How rows are found.
    public enum Keys: Sendable {
        case strings(KeyFolding)
        case addresses
        case networks
    }

    public let keys: Keys
    /// Output column names (each written as `target.column`).
    public let columns: [String]
    /// Row-major values: `values[row * columns.count + column]`; nil where a row has no value.
    let values: [FieldValue?]
    let strings: ByteTable
    let prefixes: PrefixTable
    /// Number of distinct keys.
    public let count: Int

    init(keys: Keys, columns: [String], values: [FieldValue?], strings: ByteTable, prefixes: PrefixTable) {
        self.keys = keys
        self.columns = columns
        self.values = values
        self.strings = strings
        self.prefixes = prefixes
        if case .strings = keys { count = strings.count } else { count = prefixes.count }
    }

    /// An empty table with these columns.
    static func empty(keys: Keys, columns: [String]) -> ReferenceTable {
        ReferenceTable(keys: keys, columns: columns, values: [], strings: ByteTable(capacity: 0), prefixes: PrefixTable())
    }

    /// The row of string key `bytes` (folded as the table says), or nil.
    @inline(__always)
    func row(bytes: UnsafeRawBufferPointer) -> Int32? {
        switch keys {
        case .strings(let folding):
            return folding.withNormalized(bytes) { strings.row($0) }
        case .addresses, .networks:
            guard let ip = IPAddress(parsing: bytes) else { return nil }
            return row(ip: ip)
        }
    }

    /// The row of address `ip` (the longest network containing it, for network tables), or nil.
    @inline(__always)
    func row(ip: IPAddress) -> Int32? {
        switch keys {
        case .addresses, .networks: return prefixes.longestMatch(ip)
        case .strings: return nil
        }
    }

    /// The row of the event's value of `key` (an IP value or a string), or nil.
    @inline(__always)
    func row(of event: borrowing Event, _ key: Event.Key) -> Int32? {
        switch keys {
        case .strings:
            return event.withStringValue(key) { row(bytes: $0) } ?? nil
        case .addresses, .networks:
            if case .ip(let ip)? = event[key] { return row(ip: ip) }
            return event.withStringValue(key) { row(bytes: $0) } ?? nil
        }
    }

    /// The values of row `row`, by column; nil where the row has none.
    public func values(row: Int32) -> ArraySlice<FieldValue?> {
        let start = Int(row) * columns.count
        return values[start..<start + columns.count]
    }

    /// Looks up `key` as text (an address, a string) and returns the row as (column, value) pairs.
    public func lookup(_ key: String) -> [(String, FieldValue)]? {
        var key = key
        let row: Int32? = key.withUTF8 { self.row(bytes: UnsafeRawBufferPointer($0)) }
        guard let row else { return nil }
        return zip(columns, values(row: row)).compactMap { c, v in v.map { (c, $0) } }
    }

    /// Looks up an address and returns the row as (column, value) pairs.
    public func lookup(_ ip: IPAddress) -> [(String, FieldValue)]? {
        guard let row = row(ip: ip) else { return nil }
        return zip(columns, values(row: row)).compactMap { c, v in v.map { (c, $0) } }
    }
}

/// Builds a ``ReferenceTable`` row by row; a key seen again replaces the earlier row (the last
/// one wins).
struct ReferenceTableBuilder {
    let keys: ReferenceTable.Keys
    let columns: [String]
    private var values: [FieldValue?] = []
    private var strings: ByteTable
    private var prefixes: PrefixTable
    private(set) var duplicates = 0

    init(keys: ReferenceTable.Keys, columns: [String], capacity: Int) {
        self.keys = keys
        self.columns = columns
        strings = ByteTable(capacity: { if case .strings = keys { return capacity } else { return 0 } }())
        prefixes = PrefixTable(capacity: { if case .strings = keys { return 0 } else { return capacity } }())
        values.reserveCapacity(capacity * columns.count)
    }

    private mutating func appendRow(_ row: [FieldValue?]) -> Int32 {
        precondition(row.count == columns.count)
        let index = Int32(values.count / max(columns.count, 1))
        values.append(contentsOf: row)
        return columns.isEmpty ? Int32(nextEmptyRow()) : index
    }

    private var emptyRows = 0
    private mutating func nextEmptyRow() -> Int { defer { emptyRows += 1 }; return emptyRows }

    mutating func add(stringKey: String, row: [FieldValue?]) {
        guard case .strings(let folding) = keys else { return }
        let index = appendRow(row)
        let normalized = folding.normalize(stringKey)
        if !normalized.withUnsafeBytes({ strings.insert($0, row: index) }) { duplicates += 1 }
    }

    mutating func add(address: IPAddress, row: [FieldValue?]) {
        let index = appendRow(row)
        if !prefixes.insert(address: address, value: index) { duplicates += 1 }
    }

    mutating func add(network: IPNetwork, row: [FieldValue?]) {
        let index = appendRow(row)
        if !prefixes.insert(network, value: index) { duplicates += 1 }
    }

    func finish() -> ReferenceTable {
        ReferenceTable(keys: keys, columns: columns, values: values, strings: strings, prefixes: prefixes)
    }
}

extension ReferenceTable {
    /// Loads a table file as `source` describes.
    /// - Throws: ``EnrichmentError`` naming the file and line of the first bad row.
    static func load(_ source: EnrichmentDefinition.TableSource, networks: Bool) throws(EnrichmentError) -> ReferenceTable {
        let bytes = try DataFiles.read(source.path)
        return try bytes.withBytes { raw throws(EnrichmentError) in try parse(raw, source, networks: networks) }
    }

    static func keysFor(_ source: EnrichmentDefinition.TableSource, networks: Bool) -> Keys {
        if networks { return .networks }
        if source.keyType == .ip { return .addresses }
        return .strings(source.caseInsensitive ? .caseInsensitive : .exact)
    }

    /// Parses table bytes (exposed for the fuzzer and tests).
    static func parse(_ raw: UnsafeRawBufferPointer, _ source: EnrichmentDefinition.TableSource,
                      networks: Bool) throws(EnrichmentError) -> ReferenceTable {
        let file = source.path
        let keys = keysFor(source, networks: networks)
        switch source.format {
        case .csv:
            let records = try DelimitedReader.records(raw, delimiter: source.delimiter, file: file)
            guard let header = records.first else {
                throw EnrichmentError(.data, file: file, "the file is empty (expected a header line naming the columns)")
            }
            func index(_ name: String) -> Int? { header.fields.firstIndex(of: name) }
            guard let keyIndex = index(source.keyColumn) else {
                throw EnrichmentError(.data, file: file, line: header.line,
                                      "no key column '\(source.keyColumn)' in the header (columns: \(header.fields.joined(separator: ", ")))")
            }
            let columns = source.columns.isEmpty
                ? header.fields.enumerated().filter { $0.offset != keyIndex }.map {
                    EnrichmentDefinition.Column(source: $0.element, output: $0.element, type: .string)
                }
                : source.columns
            var indexes: [Int] = []
            for c in columns {
                guard let i = index(c.source) else {
                    throw EnrichmentError(.data, file: file, line: header.line,
                                          "no column '\(c.source)' in the header (columns: \(header.fields.joined(separator: ", ")))")
                }
                indexes.append(i)
            }
            var builder = ReferenceTableBuilder(keys: keys, columns: columns.map(\.output), capacity: records.count)
            var row: [FieldValue?] = Array(repeating: nil, count: columns.count)
            for record in records.dropFirst() {
                guard record.fields.count == header.fields.count else {
                    throw EnrichmentError(.data, file: file, line: record.line,
                                          "expected \(header.fields.count) fields as in the header, found \(record.fields.count)")
                }
                for (k, i) in indexes.enumerated() {
                    row[k] = try convert(record.fields[i], columns[k], file: file, line: record.line)
                }
                try add(&builder, key: record.fields[keyIndex], keys: keys, row: row, column: source.keyColumn, file: file, line: record.line)
            }
            return builder.finish()
        case .json:
            let rows = try JSONRows.rows(raw, file: file)
            var columns = source.columns
            if columns.isEmpty {
                var seen = Set<String>()
                for r in rows {
                    for f in r.fields where f.key != source.keyColumn && seen.insert(f.key).inserted {
                        columns.append(EnrichmentDefinition.Column(source: f.key, output: f.key, type: .string))
                    }
                }
                columns.sort { $0.source < $1.source }
            }
            var builder = ReferenceTableBuilder(keys: keys, columns: columns.map(\.output), capacity: rows.count)
            var row: [FieldValue?] = Array(repeating: nil, count: columns.count)
            for (n, r) in rows.enumerated() {
                let line = r.line == 0 ? n + 1 : r.line
                let where_ = r.line == 0 ? "element" : "line"
                var key: FieldValue?
                for k in row.indices { row[k] = nil }
                for f in r.fields {
                    if f.key == source.keyColumn { key = f.value; continue }
                    if let k = columns.firstIndex(where: { $0.source == f.key }) {
                        row[k] = try convert(json: f.value, columns[k], file: file, line: line)
                    }
                }
                let text: String
                switch key {
                case .string(let s)?: text = s
                case .ip(let ip)?: text = ip.description
                case .int(let i)?: text = String(i)
                default:
                    throw EnrichmentError(.data, file: file, line: r.line,
                                          "\(where_) \(line): no key '\(source.keyColumn)' (a string) in this row")
                }
                try add(&builder, key: text, keys: keys, row: row, column: source.keyColumn, file: file, line: r.line)
            }
            return builder.finish()
        }
    }

    private static func add(_ builder: inout ReferenceTableBuilder, key: String, keys: Keys, row: [FieldValue?], column: String,
                            file: String, line: Int) throws(EnrichmentError) {
        switch keys {
        case .strings:
            guard !key.isEmpty else { throw EnrichmentError(.data, file: file, line: line, "the key column '\(column)' is empty") }
            builder.add(stringKey: key, row: row)
        case .addresses:
            guard let ip = IPAddress(key.trimmingSpaces) else {
                throw EnrichmentError(.data, file: file, line: line, "the key column '\(column)' is not an IP address")
            }
            builder.add(address: ip, row: row)
        case .networks:
            guard let network = IPNetwork(key.trimmingSpaces) else {
                throw EnrichmentError(.data, file: file, line: line, "the key column '\(column)' is not a network (CIDR such as 10.0.0.0/8)")
            }
            builder.add(network: network, row: row)
        }
    }

    static func convert(_ text: String, _ column: EnrichmentDefinition.Column, file: String, line: Int) throws(EnrichmentError) -> FieldValue? {
        if text.isEmpty { return nil }
        func bad(_ what: String) -> EnrichmentError {
            EnrichmentError(.data, file: file, line: line, "column '\(column.source)' is not \(what)")
        }
        switch column.type {
        case .string: return .string(text)
        case .int:
            guard let v = Int64(text.trimmingSpaces) else { throw bad("an integer") }
            return .int(v)
        case .float:
            guard let v = Double(text.trimmingSpaces), v.isFinite else { throw bad("a number") }
            return .float(v)
        case .bool:
            switch text.trimmingSpaces.lowercased() {
            case "true": return .bool(true)
            case "false": return .bool(false)
            default: throw bad("true or false")
            }
        case .ip:
            guard let ip = IPAddress(text.trimmingSpaces) else { throw bad("an IP address") }
            return .ip(ip)
        }
    }

    static func convert(json value: FieldValue, _ column: EnrichmentDefinition.Column, file: String, line: Int) throws(EnrichmentError) -> FieldValue? {
        if case .null = value { return nil }
        if case .string(let s) = value, column.type != .string { return try convert(s, column, file: file, line: line) }
        if case .int(let i) = value, column.type == .float { return .float(Double(i)) }
        return value
    }
}

extension String {
    /// Without leading and trailing spaces and tabs.
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return s.count == count ? self : String(s)
    }
}
