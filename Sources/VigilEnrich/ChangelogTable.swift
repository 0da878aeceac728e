import VigilCore

/// A table fed by a changelog: the last value per key wins, as in a compacted topic, and an
/// empty or `null` value (a tombstone) deletes the key.
///
/// Values are JSON objects whose fields (flattened to dotted names) become the row's columns.
/// Not thread-safe: one feeder applies records; readers use the ``ReferenceTable`` snapshots
/// ``snapshot()`` builds.
public struct ChangelogTable: Sendable {
    public let keyType: EnrichmentDefinition.KeyType
    public let caseInsensitive: Bool
    /// Configured columns (source → output); empty: every field of the values.
    public let columns: [EnrichmentDefinition.Column]
    /// Rows by normalized key text (an address's canonical text for `ip` keys).
    private var rows: [String: [Event.Field]] = [:]
    /// Records applied, tombstones among them, and records rejected (bad key or value).
    public private(set) var applied = 0
    public private(set) var deletes = 0
    public private(set) var rejected = 0

    public init(keyType: EnrichmentDefinition.KeyType = .string, caseInsensitive: Bool = false,
                columns: [EnrichmentDefinition.Column] = []) {
        self.keyType = keyType
        self.caseInsensitive = caseInsensitive
        self.columns = columns
    }

    /// Number of keys present.
    public var count: Int { rows.count }

    /// Why a record was rejected.
    public enum Rejection: Error, Sendable, Equatable, CustomStringConvertible {
        case missingKey
        case invalidKey
        case invalidValue(String)

        public var description: String {
            switch self {
            case .missingKey: return "the record has no key"
            case .invalidKey: return "the key is not an IP address"
            case .invalidValue(let reason): return "the value is not a JSON object (\(reason))"
            }
        }
    }

    private func normalizedKey(_ key: UnsafeRawBufferPointer) throws(Rejection) -> String {
        switch keyType {
        case .ip:
            let text = String(decoding: key, as: UTF8.self).trimmingSpaces
            guard let ip = IPAddress(text) else { throw .invalidKey }
            return ip.description
        case .string:
            guard !key.isEmpty else { throw .missingKey }
            let folding: KeyFolding = caseInsensitive ? .caseInsensitive : .exact
            return folding.withNormalized(key) { String(decoding: $0, as: UTF8.self) }
        }
    }

    /// Applies one record: `value` nil, empty or `null` deletes `key`; a JSON object replaces
    /// the row. A rejected record changes nothing.
    public mutating func apply(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer?) throws(Rejection) {
        guard let key, !key.isEmpty else {
            rejected += 1
            throw .missingKey
        }
        let k: String
        do { k = try normalizedKey(key) } catch {
            rejected += 1
            throw error
        }
        if let value, !Self.isTombstone(value) {
            do {
                let event = try Self.decodeValue(value)
                rows[k] = event.fields
                applied += 1
            } catch {
                rejected += 1
                throw .invalidValue(error.message)
            }
        } else {
            rows[k] = nil
            applied += 1
            deletes += 1
        }
    }

    /// Applies a record given as text (`value` nil deletes).
    public mutating func apply(key: String, value: String?) throws(Rejection) {
        var key = key
        let r: Result<Void, Rejection> = key.withUTF8 { k in
            guard var v = value else { return Result { () throws(Rejection) in try apply(key: UnsafeRawBufferPointer(k), value: nil) } }
            return v.withUTF8 { v in
                Result { () throws(Rejection) in try apply(key: UnsafeRawBufferPointer(k), value: UnsafeRawBufferPointer(v)) }
            }
        }
        try r.get()
    }

    /// A record value as an event: a JSON object, or an event in the broker's binary encoding
    /// (what `vigil topics produce` appends).
    static func decodeValue(_ value: UnsafeRawBufferPointer) throws(EventCodecError) -> Event {
        if value.first == EventBinaryCodec.formatVersion, let event = try? EventBinaryCodec.decode(value) { return event }
        return try EventJSON.decode(value)
    }

    static func isTombstone(_ value: UnsafeRawBufferPointer) -> Bool {
        var i = 0, j = value.count
        while i < j, value[i] == 0x20 || value[i] == 0x09 || value[i] == 0x0A || value[i] == 0x0D { i += 1 }
        while j > i, value[j - 1] == 0x20 || value[j - 1] == 0x09 || value[j - 1] == 0x0A || value[j - 1] == 0x0D { j -= 1 }
        if i == j { return true }
        return j - i == 4 && value[i] == UInt8(ascii: "n") && value[i + 1] == UInt8(ascii: "u") && value[i + 2] == UInt8(ascii: "l")
            && value[i + 3] == UInt8(ascii: "l")
    }

    /// The row of `key` now, as fields (for tests and the CLI).
    public func row(_ key: String) -> [Event.Field]? {
        var key = key
        guard let k = key.withUTF8({ try? normalizedKey(UnsafeRawBufferPointer($0)) }) else { return nil }
        return rows[k]
    }

    /// An immutable snapshot for lookups. Columns are the configured ones, or the union of the
    /// values' fields in key order.
    /// - Complexity: O(*n* · *c*) for *n* keys and *c* columns.
    public func snapshot() -> ReferenceTable {
        var columns = self.columns
        if columns.isEmpty {
            var names = Set<String>()
            for fields in rows.values { for f in fields { names.insert(f.key) } }
            columns = names.sorted().map { EnrichmentDefinition.Column(source: $0, output: $0, type: .string) }
        }
        let keys: ReferenceTable.Keys = keyType == .ip ? .addresses : .strings(caseInsensitive ? .caseInsensitive : .exact)
        var builder = ReferenceTableBuilder(keys: keys, columns: columns.map(\.output), capacity: rows.count)
        var index: [String: Int] = [:]
        for (i, c) in columns.enumerated() { index[c.source] = i }
        var row: [FieldValue?] = Array(repeating: nil, count: columns.count)
        for (key, fields) in rows {
            for i in row.indices { row[i] = nil }
            for f in fields { if let i = index[f.key] { row[i] = f.value } }
            switch keyType {
            case .ip: if let ip = IPAddress(key) { builder.add(address: ip, row: row) }
            case .string: builder.add(stringKey: key, row: row)
            }
        }
        return builder.finish()
    }
}
