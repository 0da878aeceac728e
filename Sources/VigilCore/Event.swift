/// A normalized security event: a record of values keyed by flat dotted ECS names
/// (`@timestamp`, `source.ip`, `dns.question.name`).
///
/// Fields are kept in one contiguous array sorted in *key order* (see ``Event/keyPrecedes(_:_:)``),
/// so two events with the same fields are equal whatever order the fields were set in, and a
/// lookup is a binary search.
///
/// Three rules keep the flat model equivalent to ECS's nested JSON documents:
/// - **Objects flatten.** Assigning `.object` to a key assigns each member under
///   `key.member` (recursively) after removing `key` and every `key.*` field. An object therefore
///   never sits directly under an event key; objects survive only nested inside arrays.
/// - **Prefix conflicts.** A key that is a strict dotted prefix of another (`a` and `a.b`,
///   `source.geo` and `source.geo.city_name`) cannot coexist with it: in nested JSON one would be
///   a value and an object at once. Assigning a non-nil value to a key removes every field that
///   conflicts with it, so the last write wins.
/// - **Unchecked subscript.** The subscript stores whatever it is given (fast path for
///   parsers). ``set(_:_:)`` additionally checks known fields against ``Schema``.
///
/// Keys compare by their UTF-8 bytes (not Unicode canonical equivalence). Any string is a valid
/// key, including the empty string and keys with empty dotted segments.
public struct Event: Sendable, Hashable {
    /// One field: a flat dotted key and its value.
    public struct Field: Sendable, Hashable {
        /// The flat dotted key.
        public let key: String
        /// The value; never `.object`.
        public let value: FieldValue
        /// The key's ``Schema`` id, or 0 for a custom field; cached so encoders need no lookup.
        package let schemaID: UInt16

        /// A field; looks the key up in ``Schema``.
        public init(key: String, value: FieldValue) {
            self.key = key
            self.value = value
            self.schemaID = Schema.id(named: key)
        }

        /// A field whose schema id the caller already knows (decoders).
        package init(key: String, value: FieldValue, schemaID: UInt16) {
            self.key = key
            self.value = value
            self.schemaID = schemaID
        }
    }

    @usableFromInline
    var storage: [Field]

    /// An event with no fields.
    @inlinable
    public init() { storage = [] }

    /// An event with the given fields, assigned in order through the subscript.
    public init(_ fields: KeyValuePairs<String, FieldValue>) {
        storage = []
        storage.reserveCapacity(fields.count)
        for (key, value) in fields { self[key] = value }
    }

    /// An event from fields already in strictly increasing key order, free of prefix conflicts
    /// and of top-level objects. Decoders validate these invariants before calling this.
    package init(validatedSortedFields fields: [Field]) {
        storage = fields
    }

    /// The fields in key order.
    /// - Complexity: O(1)
    @inlinable
    public var fields: [Field] { storage }

    /// The number of fields.
    @inlinable
    public var count: Int { storage.count }

    /// Whether the event has no fields.
    @inlinable
    public var isEmpty: Bool { storage.isEmpty }

    /// The value of `key`, or `nil`. Setting `nil` removes exactly that key; setting a value
    /// applies the flattening and conflict rules described on ``Event``. No schema check.
    /// - Complexity: O(log n) to read; O(n) to insert or remove.
    public subscript(key: String) -> FieldValue? {
        get {
            let (found, index) = position(of: key)
            return found ? storage[index].value : nil
        }
        set {
            if let newValue {
                assign(key, newValue)
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// A field name looked up in ``Schema`` once. Parsers keep the names they set on every
    /// event as static keys, so that setting a field skips the lookup:
    /// `static let userName = Event.Key("user.name")`, then `event[Self.userName] = …`.
    public struct Key: Sendable, Hashable, CustomStringConvertible {
        /// The flat dotted name.
        public let name: String
        /// The name's ``Schema`` id, or 0 for a custom field.
        package let schemaID: UInt16

        /// The key for `name` (any string, as for the `String` subscript).
        public init(_ name: String) {
            self.name = name
            self.schemaID = Schema.id(named: name)
        }

        public var description: String { name }
    }

    /// The value of `key`: the same as `self[key.name]`, without the schema lookup.
    /// - Complexity: O(log n) to read; O(n) to insert or remove.
    public subscript(key: Key) -> FieldValue? {
        get {
            let schema = Schema.index
            let (found, index): (Bool, Int)
            if key.schemaID != 0 {
                (found, index) = position(of: schema.name(key.schemaID), id: key.schemaID, schema)
            } else {
                var name = key.name
                (found, index) = name.withUTF8 { position(of: $0, id: 0, schema) }
            }
            return found ? storage[index].value : nil
        }
        set {
            if let newValue {
                if case .object = newValue { assign(key.name, newValue) } else { assign(key.name, id: key.schemaID, newValue) }
            } else {
                removeValue(forKey: key.name)
            }
        }
    }

    /// Whether `key` has a value.
    /// - Complexity: O(log n)
    public func contains(key: String) -> Bool { position(of: key).found }

    /// Removes `key` and returns its value, if it had one.
    /// - Complexity: O(n)
    @discardableResult
    public mutating func removeValue(forKey key: String) -> FieldValue? {
        let (found, index) = position(of: key)
        guard found else { return nil }
        return storage.remove(at: index).value
    }

    /// Assigns `value` to `key` like the subscript, after checking every resulting field against
    /// ``Schema``: a known field must receive a value of its declared type (or `.null`).
    ///
    /// Nothing is changed when the check fails.
    /// - Throws: ``EventError`` with code `.typeMismatch`, naming the field and expected type.
    public mutating func set(_ key: String, _ value: FieldValue) throws(EventError) {
        try Event.check(key, value)
        assign(key, value)
    }

    private static func check(_ key: String, _ value: FieldValue) throws(EventError) {
        if case .object(let object) = value {
            for member in object.members { try check(key + "." + member.key, member.value) }
            return
        }
        if let field = Schema.field(named: key), !field.type.accepts(value) {
            throw EventError.typeMismatch(key: key, expected: field.type, got: value)
        }
    }

    // MARK: Storage

    /// Binary search: whether `key` is present, and its index or insertion point.
    @usableFromInline
    func position(of key: String) -> (found: Bool, index: Int) {
        var key = key
        let schema = Schema.index
        return key.withUTF8 { k in position(of: k, id: schema.id(UnsafeRawBufferPointer(k)), schema) }
    }

    /// Binary search for the key `k` whose schema id is `id`. Two known keys compare by their
    /// ranks in key order; only a custom key on either side compares bytes.
    /// - Complexity: O(log n) comparisons.
    @inline(__always)
    private func position(of k: UnsafeBufferPointer<UInt8>, id: UInt16, _ schema: Schema.Index) -> (found: Bool, index: Int) {
        storage.withUnsafeBufferPointer { fields in
            let rank = schema.rank(id)
            var lo = 0, hi = fields.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                let other = fields[mid].schemaID
                let order: Int
                if id != 0 && other != 0 {
                    let r = schema.rank(other)
                    order = r < rank ? -1 : (r > rank ? 1 : 0)
                } else {
                    order = Event.withKeyBytes(fields[mid], schema) { Event.compareKeys($0, k) }
                }
                if order < 0 { lo = mid + 1 } else if order > 0 { hi = mid } else { return (true, mid) }
            }
            return (false, lo)
        }
    }

    /// Calls `body` with the UTF-8 bytes of `field`'s key: a known field's from the schema's
    /// name table, a custom field's from its string.
    @inline(__always)
    private static func withKeyBytes<R>(_ field: Field, _ schema: Schema.Index, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        if field.schemaID != 0 { return body(schema.name(field.schemaID)) }
        var key = field.key
        return key.withUTF8(body)
    }

    /// Whether the key of `field` is a dotted prefix of `k` (whose id is `id`), or the reverse
    /// when `reversed`. Two known keys never are when the schema is prefix-free.
    @inline(__always)
    private static func dottedPrefix(_ field: Field, _ k: UnsafeBufferPointer<UInt8>, id: UInt16, reversed: Bool,
                                     _ schema: Schema.Index) -> Bool {
        if id != 0 && field.schemaID != 0 && schema.prefixFree { return false }
        return withKeyBytes(field, schema) { f in reversed ? isDottedPrefix(k, of: f) : isDottedPrefix(f, of: k) }
    }

    private mutating func assign(_ key: String, _ value: FieldValue) {
        if case .object(let object) = value {
            removeSubtree(key)
            for member in object.members { assign(key + "." + member.key, member.value) }
            return
        }
        assign(key, id: nil, value)
    }

    /// Assigns a value that is not an object to `key`, whose schema id is `id` when known
    /// (nil: looked up here).
    @inline(__always)
    private mutating func assign(_ key: String, id knownID: UInt16?, _ value: FieldValue) {
        let schema = Schema.index
        // A known key's bytes come from the schema's name table, without touching the string.
        if let knownID, knownID != 0 {
            assign(key, id: knownID, bytes: schema.name(knownID), value, schema)
            return
        }
        var bytes = key
        bytes.withUTF8 { k in assign(key, id: knownID ?? schema.id(UnsafeRawBufferPointer(k)), bytes: k, value, schema) }
    }

    /// Assigns a value that is not an object to `key`, whose UTF-8 bytes are `k` and schema id `id`.
    @inline(__always)
    private mutating func assign(_ key: String, id: UInt16, bytes k: UnsafeBufferPointer<UInt8>, _ value: FieldValue,
                                 _ schema: Schema.Index) {
        let (found, index) = position(of: k, id: id, schema)
        if found {
            storage[index] = Field(key: key, value: value, schemaID: id)
            return
        }
        var insertAt = index
        // Only the immediate neighbours can conflict: a present prefix of `key` sorts right
        // before it, and `key.*` fields sort right after it (see `compareKeys`).
        if insertAt > 0 && Event.dottedPrefix(storage[insertAt - 1], k, id: id, reversed: false, schema) {
            storage.remove(at: insertAt - 1)
            insertAt -= 1
        }
        var end = insertAt
        while end < storage.count && Event.dottedPrefix(storage[end], k, id: id, reversed: true, schema) { end += 1 }
        if end > insertAt {
            storage[insertAt] = Field(key: key, value: value, schemaID: id)
            storage.removeSubrange((insertAt + 1)..<end)
        } else {
            insert(Field(key: key, value: value, schemaID: id), at: insertAt)
        }
    }

    /// `storage.insert(_:at:)` without its generic `replaceSubrange` path: append, then move
    /// the tail up by one slot with a single memmove.
    @inline(__always)
    private mutating func insert(_ field: Field, at index: Int) {
        storage.append(field)
        let last = storage.count - 1
        guard index < last else { return }
        storage.withUnsafeMutableBufferPointer { buffer in
            let base = buffer.baseAddress!
            let moved = (base + last).move()
            (base + index + 1).moveInitialize(from: base + index, count: last - index)
            (base + index).initialize(to: moved)
        }
    }

    /// Removes `key` and every `key.*` field.
    private mutating func removeSubtree(_ key: String) {
        let (found, index) = position(of: key)
        if found { storage.remove(at: index); return }
        var end = index
        while end < storage.count && Event.isDottedPrefix(key, of: storage[end].key) { end += 1 }
        storage.removeSubrange(index..<end)
    }
}

// MARK: - Key order

extension Event {
    /// The canonical key order: UTF-8 bytes compared lexicographically, except that `.` sorts
    /// before every other byte. This equals comparing the lists of dotted segments, so every
    /// `key.*` field directly follows `key`, and JSON output nests in sorted order at every level.
    public static func keyPrecedes(_ a: String, _ b: String) -> Bool {
        var a = a, b = b
        return a.withUTF8 { pa in b.withUTF8 { pb in compareKeys(pa, pb) < 0 } }
    }

    /// -1, 0 or 1 as `a` sorts before, equal to or after `b` in key order.
    @inline(__always)
    package static func compareKeys(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Int {
        let n = min(a.count, b.count)
        var i = 0
        while i < n {
            let x = a[i], y = b[i]
            if x != y {
                // '.' (0x2E) ranks below every other byte.
                let rx = x == 0x2E ? 0 : Int(x) + 1
                let ry = y == 0x2E ? 0 : Int(y) + 1
                return rx < ry ? -1 : 1
            }
            i += 1
        }
        return a.count < b.count ? -1 : (a.count > b.count ? 1 : 0)
    }

    /// -1, 0 or 1 as the key of `a` sorts before, equal to or after the key of `b`; two known
    /// fields compare by their ranks in the schema, without reading their names.
    package static func compareKeys(_ a: Field, _ b: Field) -> Int {
        let schema = Schema.index
        if a.schemaID != 0 && b.schemaID != 0 {
            let ra = schema.rank(a.schemaID), rb = schema.rank(b.schemaID)
            return ra < rb ? -1 : (ra > rb ? 1 : 0)
        }
        return withKeyBytes(a, schema) { pa in withKeyBytes(b, schema) { pb in compareKeys(pa, pb) } }
    }

    /// Whether the key of `a` is a dotted prefix of the key of `b`.
    package static func isDottedPrefix(_ a: Field, of b: Field) -> Bool {
        let schema = Schema.index
        if a.schemaID != 0 && b.schemaID != 0 && schema.prefixFree { return false }
        return withKeyBytes(a, schema) { pa in withKeyBytes(b, schema) { pb in isDottedPrefix(pa, of: pb) } }
    }

    /// Whether `prefix + "."` is a prefix of `key` (`a` of `a.b`, but not of `ab` or `a`).
    package static func isDottedPrefix(_ prefix: String, of key: String) -> Bool {
        var prefix = prefix, key = key
        return prefix.withUTF8 { p in key.withUTF8 { k in isDottedPrefix(p, of: k) } }
    }

    @inline(__always)
    package static func isDottedPrefix(_ p: UnsafeBufferPointer<UInt8>, of k: UnsafeBufferPointer<UInt8>) -> Bool {
        guard k.count > p.count, k[p.count] == 0x2E else { return false }
        for i in 0..<p.count where p[i] != k[i] { return false }
        return true
    }
}

// MARK: - Typed accessors

extension Event {
    /// `@timestamp`.
    public var timestamp: Timestamp? {
        get { self["@timestamp"]?.timestampValue }
        set { self["@timestamp"] = newValue.map { .timestamp($0) } }
    }

    /// `message`.
    public var message: String? {
        get { self["message"]?.stringValue }
        set { self["message"] = newValue.map { .string($0) } }
    }

    /// `source.ip`.
    public var sourceIP: IPAddress? {
        get { self["source.ip"]?.ipValue }
        set { self["source.ip"] = newValue.map { .ip($0) } }
    }

    /// `source.port`.
    public var sourcePort: Int64? {
        get { self["source.port"]?.intValue }
        set { self["source.port"] = newValue.map { .int($0) } }
    }

    /// `destination.ip`.
    public var destinationIP: IPAddress? {
        get { self["destination.ip"]?.ipValue }
        set { self["destination.ip"] = newValue.map { .ip($0) } }
    }

    /// `destination.port`.
    public var destinationPort: Int64? {
        get { self["destination.port"]?.intValue }
        set { self["destination.port"] = newValue.map { .int($0) } }
    }

    /// `network.transport` (`tcp`, `udp`, …).
    public var networkTransport: String? {
        get { self["network.transport"]?.stringValue }
        set { self["network.transport"] = newValue.map { .string($0) } }
    }

    /// `event.kind` (`event`, `alert`, …).
    public var eventKind: String? {
        get { self["event.kind"]?.stringValue }
        set { self["event.kind"] = newValue.map { .string($0) } }
    }

    /// `event.dataset` (`zeek.conn`, `syslog`, …).
    public var eventDataset: String? {
        get { self["event.dataset"]?.stringValue }
        set { self["event.dataset"] = newValue.map { .string($0) } }
    }

    /// `vigil.sensor`: the sensor that produced the event.
    public var vigilSensor: String? {
        get { self["vigil.sensor"]?.stringValue }
        set { self["vigil.sensor"] = newValue.map { .string($0) } }
    }

    /// `vigil.topic`: the broker topic the event was read from.
    public var vigilTopic: String? {
        get { self["vigil.topic"]?.stringValue }
        set { self["vigil.topic"] = newValue.map { .string($0) } }
    }

    /// `vigil.partition`: the broker partition the event was read from.
    public var vigilPartition: Int64? {
        get { self["vigil.partition"]?.intValue }
        set { self["vigil.partition"] = newValue.map { .int($0) } }
    }

    /// `vigil.offset`: the event's offset in its partition.
    public var vigilOffset: Int64? {
        get { self["vigil.offset"]?.intValue }
        set { self["vigil.offset"] = newValue.map { .int($0) } }
    }

    /// `vigil.errors`: the string elements of the processing-error list (empty if none).
    public var vigilErrors: [String] {
        guard case .array(let values)? = self["vigil.errors"] else { return [] }
        return values.compactMap(\.stringValue)
    }

    /// Appends `message` to `vigil.errors`, creating the array if needed.
    /// Removes every field, keeping the storage for reuse (one event per line, no allocation).
    public mutating func removeAll(keepingCapacity: Bool = true) {
        storage.removeAll(keepingCapacity: keepingCapacity)
    }

    public mutating func appendVigilError(_ message: String) {
        let (found, index) = position(of: "vigil.errors")
        if found, case .array(var values) = storage[index].value {
            let id = storage[index].schemaID
            storage[index] = Field(key: "vigil.errors", value: .null, schemaID: id)   // drop the reference before mutating
            values.append(.string(message))
            storage[index] = Field(key: "vigil.errors", value: .array(values), schemaID: id)
        } else {
            self["vigil.errors"] = .array([.string(message)])
        }
    }
}

// MARK: - Schema checks

extension Event {
    /// The index of the first field at or after `start` whose value does not fit the declared
    /// type of its known field (``Schema/FieldType/accepts(_:)``), or nil.
    /// - Complexity: O(n), no allocation.
    package func firstSchemaMismatch(from start: Int = 0) -> Int? {
        let schema = Schema.index
        return storage.withUnsafeBufferPointer { fields in
            var i = start
            while i < fields.count {
                let id = fields[i].schemaID
                if id != 0 && !schema.accepts(id, fields[i].value) { return i }
                i += 1
            }
            return nil
        }
    }
}

extension Event: CustomStringConvertible {
    /// The event as compact JSON (see ``EventJSON``).
    public var description: String { EventJSON.encodeString(self) }
}

// MARK: - Errors

/// A rejected change to an ``Event``.
public struct EventError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Hashable {
        /// A known field was given a value of the wrong type.
        case typeMismatch
    }

    /// What went wrong.
    public let code: Code
    /// The field concerned.
    public let key: String
    /// A human-readable explanation (no field values).
    public let message: String

    /// `code: message`.
    public var description: String { "\(code.rawValue): \(message)" }

    @inline(never)
    static func typeMismatch(key: String, expected: Schema.FieldType, got value: FieldValue) -> EventError {
        EventError(code: .typeMismatch, key: key,
                   message: "field '\(displayKey(key))' expects \(expected), got \(value.typeName); "
                       + "convert the value or use a custom field name")
    }
}

/// A key made safe for an error message: control characters escaped, at most 80 characters.
package func displayKey(_ key: String) -> String {
    var out = ""
    var count = 0
    for scalar in key.unicodeScalars {
        if count == 80 { out += "…"; break }
        if scalar.value < 0x20 || scalar.value == 0x7F {
            out += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
        count += 1
    }
    return out
}
