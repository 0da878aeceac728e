/// A normalized security event: a record of values keyed by flat dotted ECS names
/// (`@timestamp`, `source.ip`, `dns.question.name`).
///
/// Fields are kept sorted in *key order* (see ``Event/keyPrecedes(_:_:)``), so two events with
/// the same fields are equal whatever order the fields were set in, and a lookup is a binary
/// search.
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
///
/// **Storage.** An event is built once per line on hot paths, so it holds no object per field:
/// fields are plain 32-byte entries (key order class, schema id, kind, payload); the UTF-8 bytes
/// of string values and custom keys sit in one byte arena, and only arrays are kept as
/// ``FieldValue``s on the side. Setting a field copies bytes and moves entries, with no
/// reference counting; clearing an event for the next line keeps every buffer. Values are
/// materialized as ``FieldValue`` when read.
public struct Event: Sendable, Hashable {
    /// One field as a key and a value (a materialized view of a stored field).
    public struct Field: Sendable, Hashable {
        /// The flat dotted key.
        public let key: String
        /// The value; never `.object`.
        public let value: FieldValue
        /// The key's ``Schema`` id, or 0 for a custom field.
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

    /// One stored field. Plain data: copying or dropping it involves no reference counting.
    @usableFromInline
    package struct Entry: Sendable {
        /// The key's place in key order: `2 × rank` for a known key (``Schema/Index/rank(_:)``),
        /// `2 × floor + 1` for a custom key, `floor` being how many known names sort before it.
        /// Fields compare by `order`; only two custom keys in the same gap compare bytes.
        @usableFromInline package var order: UInt32
        /// The schema id, or 0 for a custom key.
        @usableFromInline package var id: UInt16
        /// The value's case.
        @usableFromInline package var kind: FieldValue.Kind
        /// `.bool`: 1 for true. `.ip`: the family's raw value.
        @usableFromInline package var flag: UInt8
        /// `.int`, `.timestamp`: the bits of the Int64. `.float`: the Double's bits.
        /// `.string`: the byte range (`offset << 32 | length`). `.ip`: the high word.
        /// `.array`: the index in `boxed` (flag 0), or the address of a preset's array value
        /// (flag 1, see ``Event/Preset``).
        @usableFromInline package var a: UInt64
        /// `.ip`: the low word. `.array` with `flag` 1: the address of the preset's binary
        /// encoding of an array of scalars (a 32-bit length, then the bytes; ``EventBinaryCodec``),
        /// made once; 0 for an array holding arrays.
        @usableFromInline package var b: UInt64
        /// A custom key's byte range (`offset << 32 | length`); 0 for a known key.
        @usableFromInline package var keyRange: UInt64

        @inline(__always)
        var isCustom: Bool { order & 1 == 1 }

        /// The address an `.ip` entry holds; nil for other kinds.
        @inlinable @inline(__always)
        public var ipValue: IPAddress? {
            guard kind == .ip else { return nil }
            return flag == IPAddress.Family.v4.rawValue ? IPAddress(v4: UInt32(truncatingIfNeeded: b)) : IPAddress(v6High: a, low: b)
        }

        @inlinable @inline(__always)
        init(order: UInt32, id: UInt16, kind: FieldValue.Kind, flag: UInt8, a: UInt64, b: UInt64, keyRange: UInt64) {
            self.order = order
            self.id = id
            self.kind = kind
            self.flag = flag
            self.a = a
            self.b = b
            self.keyRange = keyRange
        }
    }

    /// The fields and their bytes; nil while the event has never held a field. Shared between
    /// copies until one of them changes (copy on write).
    @usableFromInline
    var storage: EventStorage?

    /// An event with no fields.
    @inlinable
    public init() { storage = nil }

    /// An event with the given fields, assigned in order through the subscript.
    public init(_ fields: KeyValuePairs<String, FieldValue>) {
        self.init()
        for (key, value) in fields { self[key] = value }
    }

    /// An event from fields already in strictly increasing key order, free of prefix conflicts
    /// and of top-level objects. Decoders validate these invariants before calling this.
    package init(validatedSortedFields fields: [Field]) {
        self.init()
        let schema = Schema.index
        let s = unique().buffers
        for field in fields {
            let p = s.pointee.payload(field.value)
            if field.schemaID != 0 {
                s.pointee.assignKnown(id: field.schemaID, rank: schema.rank(field.schemaID), p)
            } else {
                var key = field.key
                key.withUTF8 { k in s.pointee.appendCustomInOrder(k, order: Event.customOrder(k, schema), p) }
            }
        }
    }

    /// The storage, made unique to this event (allocated or copied when needed).
    @inlinable @inline(__always)
    mutating func unique() -> EventStorage {
        if !isKnownUniquelyReferenced(&storage) {  // false for nil as well
            makeUnique()
        }
        return storage.unsafelyUnwrapped
    }

    /// Allocates or copies the storage (kept out of line so that setters stay small).
    @usableFromInline @inline(never)
    mutating func makeUnique() {
        storage = storage?.copy() ?? EventStorage()
    }

    /// The fields in key order.
    /// - Complexity: O(n); each string value is materialized.
    public var fields: [Field] {
        guard let s = storage?.buffers else { return [] }
        var out: [Field] = []
        out.reserveCapacity(s.pointee.count)
        s.pointee.forEachInOrder { e in
            out.append(Field(key: e.isCustom ? s.pointee.string(e.keyRange) : Schema.namesByID[Int(e.id)],
                             value: s.pointee.value(of: e), schemaID: e.id))
        }
        return out
    }

    /// The number of fields.
    @inlinable
    public var count: Int { storage?.buffers.pointee.count ?? 0 }

    /// Whether the event has no fields.
    @inlinable
    public var isEmpty: Bool { count == 0 }

    /// The value of `key`, or `nil`. Setting `nil` removes exactly that key; setting a value
    /// applies the flattening and conflict rules described on ``Event``. No schema check.
    /// - Complexity: O(1) to read or write a known field; O(log n) to read a custom field and
    ///   O(n) to add one.
    public subscript(key: String) -> FieldValue? {
        get {
            guard let s = storage?.buffers else { return nil }
            var key = key
            let schema = Schema.index
            return key.withUTF8 { k in
                let id = schema.id(UnsafeRawBufferPointer(k))
                let e = id != 0 ? s.pointee.known(rank: schema.rank(id)) : s.pointee.custom(k, order: Event.customOrder(k, schema))
                return e.map { s.pointee.value(of: $0) }
            }
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
    /// event as keys, so that setting a field skips the lookup: `event[.userName] = …` for the
    /// known fields (`Schema+Keys.swift`), `static let tty = Event.Key("sudo.tty")` for custom
    /// ones.
    public struct Key: Sendable, Hashable, CustomStringConvertible {
        /// The name of a custom field; nil for a known one.
        @usableFromInline
        let customName: String?
        /// The name's ``Schema`` id, or 0 for a custom field.
        @usableFromInline
        package let schemaID: UInt16
        /// The key's place in key order (``Entry/order``).
        @usableFromInline
        let order: UInt32

        /// The key for `name` (any string, as for the `String` subscript).
        public init(_ name: String) {
            let schema = Schema.index
            var name = name
            let id = name.withUTF8 { schema.id(UnsafeRawBufferPointer($0)) }
            schemaID = id
            if id != 0 {
                customName = nil
                order = UInt32(schema.rank(id)) << 1
            } else {
                customName = name
                order = name.withUTF8 { Event.customOrder($0, schema) }
            }
        }

        /// The key of known field `id`, whose rank in key order is `rank` (generated constants).
        @inlinable @inline(__always)
        @usableFromInline package init(schemaID: UInt16, rank: UInt16) {
            self.customName = nil
            self.schemaID = schemaID
            self.order = UInt32(rank) << 1
        }

        /// The flat dotted name.
        public var name: String { customName ?? Schema.namesByID[Int(schemaID)] }

        public var description: String { name }

        @inlinable @inline(__always)
        var rank: UInt16 { UInt16(truncatingIfNeeded: order >> 1) }

        /// Calls `body` with the name's UTF-8 bytes.
        @inline(__always)
        func withName<R>(_ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
            if var custom = customName { return custom.withUTF8(body) }
            return body(Schema.index.name(schemaID))
        }
    }

    /// The value of `key`: the same as `self[key.name]`, without the schema lookup.
    /// - Complexity: O(1) for a known field.
    public subscript(key: Key) -> FieldValue? {
        get {
            guard let s = storage?.buffers else { return nil }
            let e = key.order & 1 == 0 ? s.pointee.known(rank: key.rank) : key.withName { s.pointee.custom($0, order: key.order) }
            return e.map { s.pointee.value(of: $0) }
        }
        set {
            guard let newValue else {
                removeValue(forKey: key.name)
                return
            }
            if case .object = newValue {
                assign(key.name, newValue)
                return
            }
            let s = unique().buffers
            let payload = s.pointee.payload(newValue)
            store(payload, key, s)
        }
    }

    @inlinable @inline(__always)
    func store(_ payload: EventBuffers.Payload, _ key: Key, _ s: UnsafeMutablePointer<EventBuffers>) {
        if key.order & 1 == 0 {
            s.pointee.assignKnown(id: key.schemaID, rank: key.rank, payload)
        } else {
            Event.storeCustom(payload, key, s)
        }
    }

    @usableFromInline @inline(never)
    static func storeCustom(_ payload: EventBuffers.Payload, _ key: Key, _ s: UnsafeMutablePointer<EventBuffers>) {
        key.withName { _ = s.pointee.assignCustom($0, order: key.order, payload, rejectConflicts: false) }
    }

    /// Sets `key` to the string whose UTF-8 bytes are `utf8`, without creating a `String`: the
    /// same as `self[key] = .string(String(decoding: utf8, as: UTF8.self))` (ill-formed
    /// sequences become U+FFFD).
    public mutating func setString(_ key: Key, utf8 bytes: UnsafeRawBufferPointer) {
        guard EventBuffers.isASCII(bytes) || EventBuffers.isValidUTF8(bytes) else {
            self[key] = .string(String(decoding: bytes, as: UTF8.self))
            return
        }
        let s = unique().buffers
        let range = s.pointee.appendBytes(UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count))
        store(EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0), key, s)
    }

    /// Sets `key` to the string whose UTF-8 bytes are `bytes`, which the caller has checked to be
    /// well-formed UTF-8 (e.g. a slice, cut at ASCII delimiters, of a line validated once): the
    /// same as ``setString(_:utf8:)`` without the per-field check.
    @inlinable @inline(__always)
    public mutating func setString(_ key: Key, validUTF8 bytes: UnsafeRawBufferPointer) {
        let s = unique().buffers
        let range = s.pointee.appendBytes(UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count))
        store(EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0), key, s)
    }

    /// Sets both `key` and `other` to the string whose UTF-8 bytes are `bytes` (checked by the
    /// caller, as for ``setString(_:validUTF8:)``), storing the bytes once: the same as two calls
    /// of ``setString(_:validUTF8:)`` (`log.syslog.hostname` and `host.hostname`).
    @inlinable @inline(__always)
    public mutating func setString(_ key: Key, _ other: Key, validUTF8 bytes: UnsafeRawBufferPointer) {
        let s = unique().buffers
        let range = s.pointee.appendBytes(UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count))
        store(EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0), key, s)
        store(EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0), other, s)
    }

    /// Sets `key` to the string value of the known field `source`, sharing its stored bytes: the
    /// same as `self[key] = self[source]` when that is a string (`host.hostname` copied from
    /// `log.syslog.hostname`). Sets nothing and returns false when `source` is absent, custom or
    /// not a string.
    @discardableResult
    package mutating func setString(_ key: Key, sameAs source: Key) -> Bool {
        guard source.order & 1 == 0, let e = storage?.buffers.pointee.known(rank: source.rank), e.kind == .string else { return false }
        // A copy made by `unique()` has the same bytes at the same offsets.
        store(EventBuffers.Payload(kind: .string, flag: 0, a: e.a, b: 0), key, unique().buffers)
        return true
    }

    /// Sets `key` to the text of a string literal: the same as `self[key] = .string(value)`.
    public mutating func setString(_ key: Key, _ value: StaticString) {
        value.withUTF8Buffer { setString(key, validUTF8: UnsafeRawBufferPointer($0)) }
    }

    /// Sets `key` to `.int(value)` without building a ``FieldValue``.
    /// - Complexity: O(1) for a known field.
    @inlinable @inline(__always)
    public mutating func setInt(_ key: Key, _ value: Int64) {
        storeScalar(EventBuffers.Payload(kind: .int, flag: 0, a: UInt64(bitPattern: value), b: 0), key)
    }

    /// Sets `key` to `.bool(value)` without building a ``FieldValue``.
    @inlinable @inline(__always)
    public mutating func setBool(_ key: Key, _ value: Bool) {
        storeScalar(EventBuffers.Payload(kind: .bool, flag: value ? 1 : 0, a: 0, b: 0), key)
    }

    /// Sets `key` to `.timestamp(value)` without building a ``FieldValue``.
    @inlinable @inline(__always)
    public mutating func setTimestamp(_ key: Key, _ value: Timestamp) {
        storeScalar(EventBuffers.Payload(kind: .timestamp, flag: 0, a: UInt64(bitPattern: value.nanoseconds), b: 0), key)
    }

    /// Sets `key` to `.ip(value)` without building a ``FieldValue``.
    @inlinable @inline(__always)
    public mutating func setIP(_ key: Key, _ value: IPAddress) {
        storeScalar(EventBuffers.Payload(kind: .ip, flag: value.family.rawValue, a: value.high, b: value.low), key)
    }

    @inlinable @inline(__always)
    mutating func storeScalar(_ payload: EventBuffers.Payload, _ key: Key) {
        let s = unique().buffers
        store(payload, key, s)
    }

    /// A key and a value set on many events (a parser's `event.category: [authentication]`),
    /// checked against ``Schema`` once instead of on every ``Event/set(_:)``.
    public struct Preset: Sendable {
        /// Everything behind one reference, so that passing a preset around costs one retain.
        fileprivate let box: Box

        /// `@unchecked Sendable`: every property is a constant, and the memory behind the two
        /// pointers is written only in `init` and only read afterwards.
        fileprivate final class Box: @unchecked Sendable {
            let key: Key
            let value: FieldValue
            /// Whether `value` fits the declared type of a known `key` (always true for a custom
            /// one).
            let fitsSchema: Bool
            /// The value's bytes for a string (copied into the event without going through
            /// `String`); empty otherwise.
            let utf8: [UInt8]
            /// The stored form of a scalar or array value (not a string). An array is stored as
            /// the address of `arrayValue` (flag 1), so setting the preset neither copies nor
            /// retains it.
            let scalar: EventBuffers.Payload?
            /// A string value: a copy of `utf8`'s bytes (owned by the box), copied into events
            /// without touching the array.
            let utf8Start: UnsafeMutablePointer<UInt8>?
            /// An array value, kept at a fixed address for the life of the process: events refer
            /// to it by address, and an event may outlive the preset that set it, so it is never
            /// freed (presets are made once per parser, as `static let`s, not per event).
            let arrayValue: UnsafeMutablePointer<FieldValue>?

            init(_ key: Key, _ value: FieldValue) {
                self.key = key
                self.value = value
                fitsSchema = key.schemaID == 0 || Schema.index.accepts(key.schemaID, value)
                var bytes: UnsafeMutablePointer<UInt8>?
                switch value {
                case .string(let text):
                    let u = Array(text.utf8)
                    utf8 = u
                    scalar = nil
                    arrayValue = nil
                    if !u.isEmpty {
                        let copy = UnsafeMutablePointer<UInt8>.allocate(capacity: u.count)
                        copy.initialize(from: u, count: u.count)
                        bytes = copy
                    }
                case .array(let elements):
                    utf8 = []
                    let stored = UnsafeMutablePointer<FieldValue>.allocate(capacity: 1)
                    stored.initialize(to: value)
                    arrayValue = stored
                    // An array of scalars also keeps its binary encoding (a 32-bit length, then
                    // the bytes), likewise never freed: the encoder copies it as it is instead of
                    // walking the value.
                    var encoded: UInt64 = 0
                    if elements.allSatisfy({ if case .array = $0 { false } else if case .object = $0 { false } else { true } }) {
                        let bytes = EventBinaryCodec.encodeValue(value)
                        let buffer = UnsafeMutableRawPointer.allocate(byteCount: 4 + bytes.count, alignment: 4)
                        buffer.storeBytes(of: UInt32(bytes.count), as: UInt32.self)
                        bytes.withUnsafeBytes { (buffer + 4).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                        encoded = UInt64(UInt(bitPattern: buffer))
                    }
                    scalar = EventBuffers.Payload(kind: .array, flag: 1, a: UInt64(UInt(bitPattern: stored)), b: encoded)
                default:
                    // Scalars store no bytes and no boxed value: their payload is fixed.
                    var scratch = EventBuffers()
                    utf8 = []
                    scalar = scratch.payload(value)
                    scratch.deallocate()
                    arrayValue = nil
                }
                utf8Start = bytes
            }

            deinit { utf8Start?.deallocate() }
        }

        /// The field.
        public var key: Key { box.key }
        /// The value; never `.object`.
        public var value: FieldValue { box.value }

        /// A preset of `value` for `key`. `value` must not be an object (flatten it into several
        /// presets instead).
        public init(_ key: Key, _ value: FieldValue) {
            if case .object = value { preconditionFailure("a preset value cannot be an object") }
            box = Box(key, value)
        }

        /// Stores the value in `s` under the key.
        @inline(__always)
        func store(into s: UnsafeMutablePointer<EventBuffers>) {
            let b = box
            let payload: EventBuffers.Payload
            if let scalar = b.scalar {
                payload = scalar
            } else {
                let range = s.pointee.appendBytes(UnsafeBufferPointer(start: b.utf8Start, count: b.utf8.count))
                payload = EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0)
            }
            let order = b.key.order
            if order & 1 == 0 {
                if !b.fitsSchema { s.pointee.maybeMismatched = true }
                s.pointee.placeKnown(id: b.key.schemaID, rank: UInt16(truncatingIfNeeded: order >> 1), payload)
            } else {
                b.key.withName { _ = s.pointee.assignCustom($0, order: order, payload, rejectConflicts: false) }
            }
        }
    }

    /// Presets set together, in order (a parser's action, category, type and outcome for one
    /// kind of message), their stored forms laid out side by side once: setting them is one
    /// call and a loop over plain records, without a reference or a check per preset.
    public struct PresetGroup: Sendable {
        private let box: Box

        /// One preset's stored form.
        private struct Item {
            /// The key's rank, for a known key.
            var rank: UInt16
            var id: UInt16
            /// Whether the key is custom (stored through the preset itself).
            var isCustom: Bool
            var fitsSchema: Bool
            /// The payload of a scalar or array; for a string only its kind (`.string`).
            var payload: EventBuffers.Payload
            /// A string's bytes (owned by the preset).
            var bytes: UnsafePointer<UInt8>?
            var count: Int
        }

        /// `@unchecked Sendable`: written only in `init`, only read afterwards.
        private final class Box: @unchecked Sendable {
            /// Keeps the presets, and so the bytes the items point to, alive.
            let presets: [Preset]
            let items: UnsafeMutablePointer<Item>

            init(_ presets: [Preset]) {
                self.presets = presets
                items = .allocate(capacity: max(presets.count, 1))
                for (k, preset) in presets.enumerated() {
                    let b = preset.box
                    let order = b.key.order
                    let payload = b.scalar ?? EventBuffers.Payload(kind: .string, flag: 0, a: 0, b: 0)
                    (items + k).initialize(to: Item(rank: UInt16(truncatingIfNeeded: order >> 1), id: b.key.schemaID,
                                                    isCustom: order & 1 == 1, fitsSchema: b.fitsSchema, payload: payload,
                                                    bytes: UnsafePointer(b.utf8Start), count: b.utf8.count))
                }
            }

            deinit { items.deallocate() }
        }

        /// The presets, in the order they are set.
        public var presets: [Preset] { box.presets }

        /// A group setting `presets` in order.
        public init(_ presets: [Preset]) {
            box = Box(presets)
        }

        /// Stores the presets in `s`, in order.
        func store(into s: UnsafeMutablePointer<EventBuffers>) {
            let b = box
            let items = b.items
            for k in 0..<b.presets.count {
                let item = items[k]
                if item.isCustom {
                    b.presets[k].store(into: s)
                    continue
                }
                var payload = item.payload
                if payload.kind == .string {
                    payload.a = s.pointee.appendBytes(UnsafeBufferPointer(start: item.bytes, count: item.count))
                }
                if !item.fitsSchema { s.pointee.maybeMismatched = true }
                s.pointee.placeKnown(id: item.id, rank: item.rank, payload)
            }
        }
    }

    /// Sets the presets of `group` in order: the same as one ``set(_:)`` each.
    public mutating func set(_ group: PresetGroup) {
        group.store(into: unique().buffers)
    }

    /// Sets `preset.key` to `preset.value`: the same as `self[preset.key] = preset.value`,
    /// without checking the value's type against the schema again.
    public mutating func set(_ preset: Preset) {
        preset.store(into: unique().buffers)
    }

    /// Sets the presets in order (the same as one ``set(_:)`` each, with one uniqueness check:
    /// a parser's action, category, type and outcome).
    public mutating func set(_ first: Preset, _ second: Preset, _ third: Preset, _ fourth: Preset? = nil) {
        let s = unique().buffers
        first.store(into: s)
        second.store(into: s)
        third.store(into: s)
        fourth?.store(into: s)
    }

    /// Calls `body` with the UTF-8 bytes of `key`'s value when it is a string, without creating a
    /// `String` (lookups of domains, hashes and names in enrichment tables); `nil` when the field
    /// is absent or not a string. The bytes are valid only inside `body`.
    /// - Complexity: O(1) for a known field, O(log n) for a custom one.
    @inlinable @inline(__always)
    public func withStringValue<R>(_ key: Key, _ body: (UnsafeRawBufferPointer) -> R) -> R? {
        guard let e = entry(key), e.kind == .string else { return nil }
        return body(UnsafeRawBufferPointer(storage.unsafelyUnwrapped.buffers.pointee.slice(e.a)))
    }

    /// Calls `body` with the UTF-8 bytes of the string value of `e`, an entry of this event of
    /// kind `.string` (from ``entry(_:)``, with no change to the event since). The bytes are valid
    /// only inside `body`.
    @inlinable @inline(__always)
    package func withStringBytes<R>(of e: Entry, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        precondition(e.kind == .string, "not a string entry")
        return body(UnsafeRawBufferPointer(storage.unsafelyUnwrapped.buffers.pointee.slice(e.a)))
    }

    /// The stored entry of `key` (its kind and payload) without building a ``FieldValue``:
    /// numbers, times and addresses are read in place (prefilters of the rule engine, enrichment
    /// lookups); nil when the field is absent.
    /// - Complexity: O(1) for a known field, O(log n) for a custom one.
    @inlinable @inline(__always)
    package func entry(_ key: Key) -> Entry? {
        guard let s = storage?.buffers else { return nil }
        return key.order & 1 == 0 ? s.pointee.known(rank: key.rank) : Event.customEntry(key, s)
    }

    @usableFromInline
    static func customEntry(_ key: Key, _ s: UnsafeMutablePointer<EventBuffers>) -> Entry? {
        key.withName { s.pointee.custom($0, order: key.order) }
    }

    /// Whether `key` has a value.
    /// - Complexity: O(1) for a known field, O(log n) for a custom one.
    public func contains(key: String) -> Bool { self[key] != nil }

    /// Removes `key` and returns its value, if it had one.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> FieldValue? {
        guard let value = self[key] else { return nil }
        let s = unique().buffers
        var key = key
        let schema = Schema.index
        key.withUTF8 { k in
            let id = schema.id(UnsafeRawBufferPointer(k))
            if id != 0 {
                s.pointee.removeKnown(rank: schema.rank(id))
            } else {
                s.pointee.removeCustom(k, order: Event.customOrder(k, schema))
            }
        }
        return value
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

    /// Removes every field, keeping the storage for reuse (one event per line, no allocation).
    public mutating func removeAll(keepingCapacity: Bool = true) {
        guard keepingCapacity, isKnownUniquelyReferenced(&storage) else {
            storage = nil
            return
        }
        storage.unsafelyUnwrapped.buffers.pointee.removeAll()
    }

    /// Assigns `value` (possibly an object) to `key`.
    mutating func assign(_ key: String, _ value: FieldValue) {
        if case .object(let object) = value {
            removeSubtree(key)
            for member in object.members { assign(key + "." + member.key, member.value) }
            return
        }
        let s = unique().buffers
        let payload = s.pointee.payload(value)
        var key = key
        let schema = Schema.index
        key.withUTF8 { k in
            let id = schema.id(UnsafeRawBufferPointer(k))
            if id != 0 {
                s.pointee.assignKnown(id: id, rank: schema.rank(id), payload)
            } else {
                _ = s.pointee.assignCustom(k, order: Event.customOrder(k, schema), payload, rejectConflicts: false)
            }
        }
    }

    /// Removes `key` and every `key.*` field.
    private mutating func removeSubtree(_ key: String) {
        guard storage != nil else { return }
        let s = unique().buffers
        var key = key
        let schema = Schema.index
        key.withUTF8 { k in
            let id = schema.id(UnsafeRawBufferPointer(k))
            let order = id != 0 ? UInt32(schema.rank(id)) << 1 : Event.customOrder(k, schema)
            s.pointee.removeSubtree(k, order: order)
        }
    }

    /// The order class of custom key `k`: after the known names that sort before it.
    package static func customOrder(_ k: UnsafeBufferPointer<UInt8>, _ schema: Schema.Index) -> UInt32 {
        UInt32(schema.knownNamesPreceding(k)) << 1 | 1
    }

    /// A stored value as encoders read it: string bytes in place, anything else as a value
    /// (which for scalars allocates nothing).
    package enum ValueView {
        case string(UnsafeBufferPointer<UInt8>)
        case other(FieldValue)
    }

    /// Calls `body` with each field in key order: its key's UTF-8 bytes, schema id and value.
    /// The buffers are valid only during the call.
    package func forEachField(_ body: (UnsafeBufferPointer<UInt8>, UInt16, ValueView) -> Void) {
        guard let s = storage?.buffers else { return }
        let schema = Schema.index
        s.pointee.forEachInOrder { e in
            let key = e.isCustom ? s.pointee.slice(e.keyRange) : schema.name(e.id)
            if e.kind == .string {
                body(key, e.id, .string(s.pointee.slice(e.a)))
            } else {
                body(key, e.id, .other(s.pointee.value(of: e)))
            }
        }
    }
}

// MARK: - Storage

/// The fields of an ``Event``.
///
/// - A known field is found by its rank: a bitmap says which ranks are present, a table gives
///   each one's entry. Setting, reading and removing it take constant time, and walking the
///   bitmap visits known fields in key order without sorting.
/// - Custom fields are kept as a list of entry indices in key order, merged into the walk.
/// - Entries are plain 32-byte records appended as fields are stored; the UTF-8 bytes of string
///   values and custom keys go to one byte buffer; arrays are kept as ``FieldValue``s on the
///   side. Replaced or removed fields leave their entry and bytes behind until the event is
///   cleared, which keeps every buffer for the next use.
///
/// The buffers live behind a pointer owned by ``EventStorage``, the object copies of an event
/// share: working through the pointer needs neither reference counting nor the runtime
/// exclusivity checks of class properties.
///
/// `@unchecked Sendable`: an `EventStorage` is only mutated through an ``Event`` that holds the
/// sole reference to it (copy on write), so a shared storage is never written.
@usableFromInline
final class EventStorage: @unchecked Sendable {
    @usableFromInline let buffers: UnsafeMutablePointer<EventBuffers>

    init() {
        buffers = .allocate(capacity: 1)
        buffers.initialize(to: EventBuffers())
    }

    private init(copying source: UnsafeMutablePointer<EventBuffers>) {
        buffers = .allocate(capacity: 1)
        buffers.initialize(to: source.pointee.copy())
    }

    deinit {
        buffers.pointee.deallocate()
        buffers.deinitialize(count: 1)
        buffers.deallocate()
    }

    func copy() -> EventStorage { EventStorage(copying: buffers) }
}

/// See ``EventStorage``.
@usableFromInline
struct EventBuffers {
    /// Every entry stored since the event was last cleared, live or not.
    @usableFromInline
    var entries: UnsafeMutablePointer<Event.Entry>
    @usableFromInline
    var entryCount = 0
    @usableFromInline
    var entryCapacity: Int
    /// Bit `rank` is set when the known field of that rank is present.
    @usableFromInline
    let present: UnsafeMutablePointer<UInt64>
    let presentWords: Int
    /// By rank: the entry index of a present known field.
    @usableFromInline
    let slots: UnsafeMutablePointer<UInt32>
    @usableFromInline
    var knownCount = 0
    /// Entry indices of the custom fields, in key order.
    var customs: UnsafeMutablePointer<UInt32>
    @usableFromInline
    var customCount = 0
    var customCapacity: Int
    @usableFromInline
    var bytes: UnsafeMutablePointer<UInt8>
    @usableFromInline
    var byteCount = 0
    @usableFromInline
    var byteCapacity: Int
    /// Array values, by the index an `.array` entry holds.
    var boxed = BoxedValues()
    /// Whether a known field may hold a value of another type than the schema declares: set when
    /// such a value is stored (or might have been), cleared only when the event is cleared.
    /// Schema normalization looks at the fields only when it is set.
    @usableFromInline
    var maybeMismatched = false
    /// The schema's declared types by id, read on every store of a known field.
    @usableFromInline
    let checks: UnsafeBufferPointer<Schema.TypeCheck>

    init(entryCapacity: Int = 16, customCapacity: Int = 4, byteCapacity: Int = 256) {
        let schema = Schema.index
        checks = schema.checks
        presentWords = (schema.rankCount >> 6) + 1
        present = .allocate(capacity: presentWords)
        present.initialize(repeating: 0, count: presentWords)
        slots = .allocate(capacity: presentWords << 6)
        self.entryCapacity = max(entryCapacity, 1)
        self.customCapacity = max(customCapacity, 1)
        self.byteCapacity = max(byteCapacity, 1)
        entries = .allocate(capacity: self.entryCapacity)
        customs = .allocate(capacity: self.customCapacity)
        bytes = .allocate(capacity: self.byteCapacity)
    }

    func copy() -> EventBuffers {
        var c = EventBuffers(entryCapacity: entryCapacity, customCapacity: customCapacity, byteCapacity: byteCapacity)
        c.entries.initialize(from: entries, count: entryCount)
        c.entryCount = entryCount
        c.present.update(from: present, count: presentWords)
        c.slots.initialize(from: slots, count: presentWords << 6)
        c.knownCount = knownCount
        c.customs.initialize(from: customs, count: customCount)
        c.customCount = customCount
        c.bytes.initialize(from: bytes, count: byteCount)
        c.byteCount = byteCount
        c.boxed = boxed.copy()
        c.maybeMismatched = maybeMismatched
        return c
    }

    mutating func deallocate() {
        entries.deallocate()
        present.deallocate()
        slots.deallocate()
        customs.deallocate()
        bytes.deallocate()
        boxed.deallocate()
    }

    @usableFromInline
    var count: Int { knownCount + customCount }

    @inline(__always)
    mutating func removeAll() {
        if knownCount > 0 { present.update(repeating: 0, count: presentWords) }
        entryCount = 0
        knownCount = 0
        customCount = 0
        byteCount = 0
        maybeMismatched = false
        boxed.removeAll()
    }

    // MARK: Walking in key order

    /// Calls `body` with every field in key order.
    @inline(__always)
    func forEachInOrder(_ body: (Event.Entry) throws -> Void) rethrows {
        var c = 0
        for w in 0..<presentWords {
            var word = present[w]
            while word != 0 {
                let rank = w << 6 | word.trailingZeroBitCount
                word &= word - 1
                let e = entries[Int(slots[rank])]
                while c < customCount, entries[Int(customs[c])].order < e.order {
                    try body(entries[Int(customs[c])])
                    c += 1
                }
                try body(e)
            }
        }
        while c < customCount {
            try body(entries[Int(customs[c])])
            c += 1
        }
    }

    // MARK: Bytes

    /// Appends `source` to the byte buffer and returns its range (`offset << 32 | length`).
    @inlinable @inline(__always)
    mutating func appendBytes(_ source: UnsafeBufferPointer<UInt8>) -> UInt64 {
        let n = source.count
        // The capacity never exceeds 4 GiB (`growBytes`), so neither do offsets and lengths
        // that fit in it: the arithmetic below cannot overflow.
        if byteCount &+ n > byteCapacity { growBytes(byteCount &+ n) }
        // Inline loads and stores instead of a call to memmove for short texts (most fields).
        if n > 0 { copyBytes(bytes + byteCount, UnsafeRawPointer(source.baseAddress.unsafelyUnwrapped), n) }
        let range = UInt64(truncatingIfNeeded: byteCount) << 32 | UInt64(truncatingIfNeeded: n)
        byteCount &+= n
        return range
    }

    /// `appendBytes(_:)` for raw bytes.
    @inlinable @inline(__always)
    mutating func appendBytes(raw source: UnsafeRawBufferPointer) -> UInt64 {
        let n = source.count
        if byteCount &+ n > byteCapacity { growBytes(byteCount &+ n) }
        if n > 0 { copyBytes(bytes + byteCount, source.baseAddress.unsafelyUnwrapped, n) }
        let range = UInt64(truncatingIfNeeded: byteCount) << 32 | UInt64(truncatingIfNeeded: n)
        byteCount &+= n
        return range
    }

    /// Grows the byte buffer to hold `needed` bytes (at most 4 GiB: offsets and lengths are
    /// stored in 32 bits).
    @usableFromInline @inline(never)
    mutating func growBytes(_ needed: Int) {
        precondition(needed >= 0 && needed <= Int(UInt32.max), "an event's text exceeds 4 GiB")
        var newCapacity = byteCapacity * 2
        while newCapacity < needed { newCapacity *= 2 }
        newCapacity = min(newCapacity, Int(UInt32.max))
        let b = UnsafeMutablePointer<UInt8>.allocate(capacity: newCapacity)
        b.initialize(from: bytes, count: byteCount)
        bytes.deallocate()
        bytes = b
        byteCapacity = newCapacity
    }

    /// The bytes at `range`.
    @inlinable @inline(__always)
    func slice(_ range: UInt64) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: bytes + Int(range >> 32), count: Int(range & 0xFFFF_FFFF))
    }

    @inline(__always)
    func string(_ range: UInt64) -> String { String(decoding: slice(range), as: UTF8.self) }

    /// Calls `body` with the UTF-8 bytes of the key of `e`.
    @inline(__always)
    func withKeyBytes<R>(_ e: Event.Entry, _ body: (UnsafeBufferPointer<UInt8>) -> R) -> R {
        e.isCustom ? body(slice(e.keyRange)) : body(Schema.index.name(e.id))
    }

    // MARK: Values

    /// A value as stored in an entry.
    @usableFromInline
    struct Payload: Sendable {
        @usableFromInline var kind: FieldValue.Kind
        @usableFromInline var flag: UInt8
        @usableFromInline var a: UInt64
        @usableFromInline var b: UInt64

        @inlinable @inline(__always)
        init(kind: FieldValue.Kind, flag: UInt8, a: UInt64, b: UInt64) {
            self.kind = kind
            self.flag = flag
            self.a = a
            self.b = b
        }
    }

    /// The payload of `value` (not `.object`), its bytes or array stored.
    @inline(__always)
    mutating func payload(_ value: FieldValue) -> Payload {
        switch value {
        case .string(var s):
            let range = s.withUTF8 { appendBytes($0) }
            return Payload(kind: .string, flag: 0, a: range, b: 0)
        case .int(let v):
            return Payload(kind: .int, flag: 0, a: UInt64(bitPattern: v), b: 0)
        case .float(let d):
            return Payload(kind: .float, flag: 0, a: d.bitPattern, b: 0)
        case .bool(let v):
            return Payload(kind: .bool, flag: v ? 1 : 0, a: 0, b: 0)
        case .timestamp(let t):
            return Payload(kind: .timestamp, flag: 0, a: UInt64(bitPattern: t.nanoseconds), b: 0)
        case .ip(let ip):
            return Payload(kind: .ip, flag: ip.family.rawValue, a: ip.high, b: ip.low)
        case .array:
            return Payload(kind: .array, flag: 0, a: UInt64(boxed.append(value)), b: 0)
        case .null:
            return Payload(kind: .null, flag: 0, a: 0, b: 0)
        case .object:
            preconditionFailure("objects are flattened before they are stored")
        }
    }

    /// The value an entry holds.
    func value(of e: Event.Entry) -> FieldValue {
        switch e.kind {
        case .string: return .string(string(e.a))
        case .int: return .int(Int64(bitPattern: e.a))
        case .float: return .float(Double(bitPattern: e.a))
        case .bool: return .bool(e.flag != 0)
        case .timestamp: return .timestamp(Timestamp(nanoseconds: Int64(bitPattern: e.a)))
        case .ip: return .ip(e.flag == IPAddress.Family.v4.rawValue ? IPAddress(v4: UInt32(truncatingIfNeeded: e.b)) : IPAddress(v6High: e.a, low: e.b))
        case .array: return array(e.a, flag: e.flag)
        case .null: return .null
        case .object: preconditionFailure("objects are never stored")
        }
    }

    /// The array value of an `.array` entry or payload: `boxed[a]`, or a preset's value at
    /// address `a` when `flag` is 1.
    @inline(__always)
    func array(_ a: UInt64, flag: UInt8) -> FieldValue {
        if flag == 1 { return UnsafePointer<FieldValue>(bitPattern: UInt(a)).unsafelyUnwrapped.pointee }
        return boxed[Int(a)]
    }

    /// Notes a value of another type than the schema declares for known field `id`.
    @inlinable @inline(__always)
    mutating func noteType(_ id: UInt16, _ p: Payload) {
        let check = checks[Int(id)]
        if p.kind == check.kind {
            if p.kind == .array && !elementsFit(check, p.a, flag: p.flag) { maybeMismatched = true }
        } else if p.kind != .null {
            maybeMismatched = true
        }
    }

    /// Whether the elements of array `array(a, flag:)` have the declared element kind (false
    /// when the declared type is an array of arrays: the full check decides).
    @usableFromInline
    func elementsFit(_ check: Schema.TypeCheck, _ a: UInt64, flag: UInt8) -> Bool {
        guard let element = check.element, case .array(let values) = array(a, flag: flag) else { return false }
        for v in values {
            let k = v.kind
            if k != element && k != .null { return false }
        }
        return true
    }

    // MARK: Entries

    /// Appends an entry and returns its index.
    @inlinable @inline(__always)
    mutating func appendEntry(_ e: Event.Entry) -> UInt32 {
        if entryCount == entryCapacity { growEntries() }
        // Below the capacity, which never exceeds UInt32.max (`growEntries`).
        let index = entryCount
        entries[index] = e
        entryCount = index &+ 1
        return UInt32(truncatingIfNeeded: index)
    }

    /// Doubles the entry buffer (to at most UInt32.max entries: indices are stored in 32 bits).
    @usableFromInline @inline(never)
    mutating func growEntries() {
        precondition(entryCapacity < Int(UInt32.max), "too many fields")
        let newCapacity = min(entryCapacity * 2, Int(UInt32.max))
        let e = UnsafeMutablePointer<Event.Entry>.allocate(capacity: newCapacity)
        e.initialize(from: entries, count: entryCount)
        entries.deallocate()
        entries = e
        entryCapacity = newCapacity
    }

    @inlinable @inline(__always)
    mutating func setPayload(_ p: Payload, at index: Int) {
        entries[index].kind = p.kind
        entries[index].flag = p.flag
        entries[index].a = p.a
        entries[index].b = p.b
    }

    @inlinable @inline(__always)
    func isPresent(rank: Int) -> Bool { present[rank >> 6] & (1 << UInt64(rank & 63)) != 0 }

    /// The known field of `rank`, if present.
    @inlinable @inline(__always)
    func known(rank: UInt16) -> Event.Entry? {
        isPresent(rank: Int(rank)) ? entries[Int(slots[Int(rank)])] : nil
    }

    /// The custom field whose key is `k` (of order `order`), if present.
    func custom(_ k: UnsafeBufferPointer<UInt8>, order: UInt32) -> Event.Entry? {
        let (found, index) = customPosition(k, order: order)
        return found ? entries[Int(customs[index])] : nil
    }

    mutating func removeKnown(rank: UInt16) {
        let r = Int(rank)
        guard isPresent(rank: r) else { return }
        present[r >> 6] &= ~(1 << UInt64(r & 63))
        knownCount -= 1
    }

    mutating func removeCustom(_ k: UnsafeBufferPointer<UInt8>, order: UInt32) {
        let (found, index) = customPosition(k, order: order)
        if found { removeCustoms(index..<(index + 1)) }
    }

    /// Removes the custom fields at positions `range` of the custom list.
    mutating func removeCustoms(_ range: Range<Int>) {
        let n = range.count
        guard n > 0 else { return }
        var k = range.lowerBound
        while k + n < customCount {
            customs[k] = customs[k + n]
            k += 1
        }
        customCount -= n
    }

    /// Inserts entry index `entry` at position `at` of the custom list.
    mutating func insertCustom(_ entry: UInt32, at index: Int) {
        if customCount == customCapacity {
            let newCapacity = customCapacity * 2
            let c = UnsafeMutablePointer<UInt32>.allocate(capacity: newCapacity)
            c.initialize(from: customs, count: customCount)
            customs.deallocate()
            customs = c
            customCapacity = newCapacity
        }
        var k = customCount
        while k > index {
            customs[k] = customs[k - 1]
            k -= 1
        }
        customs[index] = entry
        customCount += 1
    }

    /// Binary search of the custom list: whether `k` is there, and its position or insertion
    /// point.
    func customPosition(_ k: UnsafeBufferPointer<UInt8>, order: UInt32) -> (found: Bool, index: Int) {
        var lo = 0, hi = customCount
        while lo < hi {
            let mid = (lo + hi) >> 1
            let e = entries[Int(customs[mid])]
            let c = e.order != order ? (e.order < order ? -1 : 1) : Event.compareKeys(slice(e.keyRange), k)
            if c < 0 { lo = mid + 1 } else if c > 0 { hi = mid } else { return (true, mid) }
        }
        return (false, lo)
    }

    /// The position in the custom list of the first custom field after order `order`.
    func customPosition(after order: UInt32) -> Int {
        var lo = 0, hi = customCount
        while lo < hi {
            let mid = (lo + hi) >> 1
            if entries[Int(customs[mid])].order <= order { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    // MARK: Assignment

    /// Stores a payload under a known key, after removing the custom fields it conflicts with
    /// (a custom dotted prefix of it, or custom fields under it).
    @inlinable @inline(__always)
    mutating func assignKnown(id: UInt16, rank: UInt16, _ p: Payload) {
        noteType(id, p)
        placeKnown(id: id, rank: rank, p)
    }

    /// `assignKnown` without the type note (the caller has noted or ruled out a mismatch).
    @inlinable @inline(__always)
    mutating func placeKnown(id: UInt16, rank: UInt16, _ p: Payload) {
        let r = Int(rank)
        if isPresent(rank: r) {
            setPayload(p, at: Int(slots[r]))
            return
        }
        if customCount > 0 { _ = resolveKnownConflicts(id: id, rank: rank, reject: false) }
        slots[r] = appendEntry(Event.Entry(order: UInt32(rank) << 1, id: id, kind: p.kind, flag: p.flag, a: p.a, b: p.b, keyRange: 0))
        present[r >> 6] |= 1 << UInt64(r & 63)
        knownCount &+= 1  // at most the number of ranks
    }

    /// Stores a known field under the rules of a decoder: a repeated or conflicting key is
    /// reported (the field already present is returned) and nothing is stored.
    mutating func addKnown(id: UInt16, rank: UInt16, _ p: Payload) -> Event.Entry? {
        if let existing = known(rank: rank) { return existing }
        if customCount > 0, let other = resolveKnownConflicts(id: id, rank: rank, reject: true) { return other }
        assignKnown(id: id, rank: rank, p)
        return nil
    }

    /// Custom fields that conflict with known key `id`: removed, or the first returned when
    /// `reject`.
    @usableFromInline
    mutating func resolveKnownConflicts(id: UInt16, rank: UInt16, reject: Bool) -> Event.Entry? {
        let k = Schema.index.name(id)
        let position = customPosition(after: UInt32(rank) << 1)
        // A present dotted prefix sorts right before the key; fields under it right after it.
        if position > 0 {
            let before = entries[Int(customs[position - 1])]
            if Event.isDottedPrefix(slice(before.keyRange), of: k) {
                if reject { return before }
                removeCustoms((position - 1)..<position)
                return resolveKnownConflicts(id: id, rank: rank, reject: reject)
            }
        }
        var end = position
        while end < customCount, Event.isDottedPrefix(k, of: slice(entries[Int(customs[end])].keyRange)) { end += 1 }
        if end > position {
            if reject { return entries[Int(customs[position])] }
            removeCustoms(position..<end)
        }
        return nil
    }

    /// Stores a payload under custom key `k` (of order `order`), after removing the fields it
    /// conflicts with; with `rejectConflicts`, a repeated or conflicting key is reported instead
    /// (the field already present is returned) and nothing is stored.
    @usableFromInline
    mutating func assignCustom(_ k: UnsafeBufferPointer<UInt8>, order: UInt32, _ p: Payload, rejectConflicts: Bool) -> Event.Entry? {
        let (found, position) = customPosition(k, order: order)
        if found {
            let index = Int(customs[position])
            if rejectConflicts { return entries[index] }
            setPayload(p, at: index)
            return nil
        }
        var at = position
        // Custom neighbours: a dotted prefix right before, fields under the key right after.
        if at > 0 {
            let before = entries[Int(customs[at - 1])]
            if Event.isDottedPrefix(slice(before.keyRange), of: k) {
                if rejectConflicts { return before }
                removeCustoms((at - 1)..<at)
                at -= 1
            }
        }
        var end = at
        while end < customCount, Event.isDottedPrefix(k, of: slice(entries[Int(customs[end])].keyRange)) { end += 1 }
        if end > at {
            if rejectConflicts { return entries[Int(customs[at])] }
            removeCustoms(at..<end)
        }
        // Known neighbours: the known name right before the key (rank `floor`) when it is a
        // dotted prefix of it, and the known names under the key, which follow it. The schema
        // is prefix-free, so no other known name can be either.
        if knownCount > 0 {
            let schema = Schema.index
            let floor = Int(order >> 1)
            if floor >= 1, isPresent(rank: floor), Event.isDottedPrefix(schema.name(schema.id(rank: floor)), of: k) {
                if rejectConflicts { return entries[Int(slots[floor])] }
                removeKnown(rank: UInt16(floor))
            }
            var rank = floor + 1
            while rank <= schema.rankCount, Event.isDottedPrefix(k, of: schema.name(schema.id(rank: rank))) {
                if isPresent(rank: rank) {
                    if rejectConflicts { return entries[Int(slots[rank])] }
                    removeKnown(rank: UInt16(rank))
                }
                rank += 1
            }
        }
        let keyRange = appendBytes(k)
        let index = appendEntry(Event.Entry(order: order, id: 0, kind: p.kind, flag: p.flag, a: p.a, b: p.b, keyRange: keyRange))
        insertCustom(index, at: at)
        return nil
    }

    /// Stores a known field known to be absent and to conflict with nothing (decoders of
    /// validated, sorted input); the caller notes its type.
    @inline(__always)
    mutating func appendKnownInOrder(id: UInt16, rank: UInt16, _ p: Payload) {
        let r = Int(rank)
        slots[r] = appendEntry(Event.Entry(order: UInt32(rank) << 1, id: id, kind: p.kind, flag: p.flag, a: p.a, b: p.b, keyRange: 0))
        present[r >> 6] |= 1 << UInt64(r & 63)
        knownCount += 1
    }

    /// Appends a custom field known to sort after every custom field present and to conflict
    /// with nothing (decoders of validated, sorted input).
    mutating func appendCustomInOrder(_ k: UnsafeBufferPointer<UInt8>, order: UInt32, _ p: Payload) {
        let keyRange = appendBytes(k)
        let index = appendEntry(Event.Entry(order: order, id: 0, kind: p.kind, flag: p.flag, a: p.a, b: p.b, keyRange: keyRange))
        insertCustom(index, at: customCount)
    }

    /// Removes the field `k` (of order `order`) and every field under it (`k.*`).
    mutating func removeSubtree(_ k: UnsafeBufferPointer<UInt8>, order: UInt32) {
        let schema = Schema.index
        if order & 1 == 0 {
            removeKnown(rank: UInt16(order >> 1))
        } else {
            removeCustom(k, order: order)
        }
        // Custom fields under the key follow it in key order.
        let start = order & 1 == 0 ? customPosition(after: order) : customPosition(k, order: order).index
        var end = start
        while end < customCount, Event.isDottedPrefix(k, of: slice(entries[Int(customs[end])].keyRange)) { end += 1 }
        removeCustoms(start..<end)
        // Known names under a custom key follow its place among the known names.
        if order & 1 == 1 {
            var rank = Int(order >> 1) + 1
            while rank <= schema.rankCount, Event.isDottedPrefix(k, of: schema.name(schema.id(rank: rank))) {
                removeKnown(rank: UInt16(rank))
                rank += 1
            }
        }
    }

    // MARK: Text checks

    /// Whether all bytes are ASCII (eight at a time).
    @inline(__always)
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var i = 0
        let n = bytes.count
        while i + 8 <= n {
            if bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self) & 0x8080_8080_8080_8080 != 0 { return false }
            i += 8
        }
        while i < n {
            if bytes[i] >= 0x80 { return false }
            i += 1
        }
        return true
    }

    /// Whether `bytes` are well-formed UTF-8.
    static func isValidUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue: continue
            case .emptyInput: return true
            case .error: return false
            }
        }
    }
}

/// The array values of an event, kept apart from the plain entries: a buffer of
/// ``FieldValue``s that clearing empties without giving up its capacity (one release per array,
/// no generic array code on the per-line path).
struct BoxedValues {
    private var base: UnsafeMutablePointer<FieldValue>?
    private(set) var count = 0
    private var capacity = 0

    init() {}

    var isEmpty: Bool { count == 0 }

    @inline(__always)
    subscript(index: Int) -> FieldValue {
        precondition(index >= 0 && index < count, "array value index out of range")
        return base.unsafelyUnwrapped[index]
    }

    /// Appends `value` and returns its index.
    @inline(__always)
    mutating func append(_ value: FieldValue) -> Int {
        if count == capacity { grow() }
        (base.unsafelyUnwrapped + count).initialize(to: value)
        count += 1
        return count - 1
    }

    @inline(never)
    private mutating func grow() {
        let newCapacity = max(4, capacity * 2)
        let b = UnsafeMutablePointer<FieldValue>.allocate(capacity: newCapacity)
        if let base {
            b.moveInitialize(from: base, count: count)
            base.deallocate()
        }
        base = b
        capacity = newCapacity
    }

    /// Removes every value, keeping the capacity.
    @inline(__always)
    mutating func removeAll() {
        guard count > 0 else { return }
        base.unsafelyUnwrapped.deinitialize(count: count)
        count = 0
    }

    /// An independent copy (values are copied, i.e. retained).
    func copy() -> BoxedValues {
        var c = BoxedValues()
        guard count > 0, let base else { return c }
        c.base = .allocate(capacity: count)
        c.base.unsafelyUnwrapped.initialize(from: base, count: count)
        c.count = count
        c.capacity = count
        return c
    }

    /// Releases the values and the buffer (the owner's deinit).
    mutating func deallocate() {
        removeAll()
        base?.deallocate()
        base = nil
        capacity = 0
    }
}

// MARK: - Equality

extension Event {
    /// The stored fields in key order (for comparisons).
    private var orderedEntries: [Entry] {
        guard let s = storage?.buffers else { return [] }
        var out: [Entry] = []
        out.reserveCapacity(s.pointee.count)
        s.pointee.forEachInOrder { out.append($0) }
        return out
    }

    /// Two events are equal when they hold the same keys with equal values.
    public static func == (lhs: Event, rhs: Event) -> Bool {
        guard lhs.count == rhs.count else { return false }
        guard let l = lhs.storage?.buffers, let r = rhs.storage?.buffers else { return true }
        let a = lhs.orderedEntries, b = rhs.orderedEntries
        for i in a.indices {
            guard a[i].order == b[i].order, a[i].id == b[i].id else { return false }
            if a[i].isCustom {
                guard l.pointee.slice(a[i].keyRange).elementsEqual(r.pointee.slice(b[i].keyRange)) else { return false }
            }
            guard l.pointee.value(of: a[i]) == r.pointee.value(of: b[i]) else { return false }
        }
        return true
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(count)
        guard let s = storage?.buffers else { return }
        s.pointee.forEachInOrder { e in
            s.pointee.withKeyBytes(e) { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
            hasher.combine(s.pointee.value(of: e))
        }
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
        // Eight bytes at a time to the first difference (keys often share a long prefix).
        if n >= 8 {
            let pa = UnsafeRawPointer(a.baseAddress!), pb = UnsafeRawPointer(b.baseAddress!)
            while i + 8 <= n {
                let x = UInt64(littleEndian: pa.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                    ^ UInt64(littleEndian: pb.loadUnaligned(fromByteOffset: i, as: UInt64.self))
                if x != 0 {
                    i += x.trailingZeroBitCount >> 3
                    break
                }
                i += 8
            }
        }
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
        var ka = a.key, kb = b.key
        return ka.withUTF8 { pa in kb.withUTF8 { pb in compareKeys(pa, pb) } }
    }

    /// Whether the key of `a` is a dotted prefix of the key of `b`.
    package static func isDottedPrefix(_ a: Field, of b: Field) -> Bool {
        if a.schemaID != 0 && b.schemaID != 0 { return false }  // the schema is prefix-free
        var ka = a.key, kb = b.key
        return ka.withUTF8 { pa in kb.withUTF8 { pb in isDottedPrefix(pa, of: pb) } }
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
    public mutating func appendVigilError(_ message: String) {
        if case .array(var values)? = self["vigil.errors"] {
            values.append(.string(message))
            self["vigil.errors"] = .array(values)
        } else {
            self["vigil.errors"] = .array([.string(message)])
        }
    }
}

// MARK: - Schema checks

extension Event {
    /// Whether a known field may hold a value of another type than the schema declares (false
    /// means every known field fits its type: schema normalization has nothing to do).
    @inlinable
    public var mayMismatchSchema: Bool { storage?.buffers.pointee.maybeMismatched ?? false }
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
