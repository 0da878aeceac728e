import Foundation
import VigilCore

/// Reads an alert row straight from an event's binary encoding (EventBinaryCodec), without
/// building the ``Event``: the indexer's fast path for the block layout.
///
/// It checks the whole encoding as ``EventBinaryCodec/decode(_:)-(UnsafeRawBufferPointer)``
/// does (version, counts, known tags, value types, nesting, UTF-8, key order, trailing bytes),
/// so it accepts exactly what decode accepts; it makes values only for the fields a row needs.
/// On any problem it returns nil, and the caller decodes the event to learn the error.
enum AlertRecordReader {
    /// The fields a row reads, by name.
    static let wanted = ["@timestamp", "vigil.alert.id", "rule.id", "rule.name", "rule.description", "tags", "event.severity",
                         "vigil.alert.severity", "event.risk_score", "vigil.alert.count", "source.ip", "destination.ip", "user.name",
                         "vigil.alert.key", "vigil.alert.sample"]

    /// Schema names as one stable buffer: tag → (offset, length); and tag → wanted index + 1.
    struct Names: @unchecked Sendable {
        // @unchecked: written once at initialization, read-only afterwards.
        let bytes: UnsafeMutableRawBufferPointer
        let ranges: [(Int, Int)]
        let wantedByTag: [Int]
        /// Per wanted name, its length and ``head(_:)``: a custom key is compared whole only with
        /// the names whose both match (``wantedSlot(_:_:)``).
        let wantedHeads: [(count: Int, head: UInt64)]
        /// Per ``bucket(_:)`` of a name, the index + 1 of the one wanted name in it (0: none);
        /// nil when two wanted names share a bucket (then every name is tried).
        let wantedByBucket: [Int]?
        /// The wanted names' bytes.
        let wantedBytes: [[UInt8]]
    }

    static let names: Names = {
        let all = Schema.namesByID
        let total = all.reduce(0) { $0 + $1.utf8.count }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, total), alignment: 1)
        var ranges: [(Int, Int)] = []
        var wantedByTag: [Int] = []
        var at = 0
        for name in all {
            let u = Array(name.utf8)
            for (i, c) in u.enumerated() { buffer[at + i] = c }
            ranges.append((at, u.count))
            at += u.count
            wantedByTag.append((wanted.firstIndex(of: name) ?? -1) + 1)
        }
        let heads = wanted.map { w -> (count: Int, head: UInt64) in
            let u = Array(w.utf8)
            return (u.count, u.withUnsafeBytes { head($0) })
        }
        var buckets: [Int]? = [Int](repeating: 0, count: 256)
        for (i, w) in wanted.enumerated() {
            let b = Array(w.utf8).withUnsafeBytes { bucket($0) }
            if buckets![b] != 0 { buckets = nil; break }
            buckets![b] = i + 1
        }
        return Names(bytes: buffer, ranges: ranges, wantedByTag: wantedByTag, wantedHeads: heads, wantedByBucket: buckets,
                     wantedBytes: wanted.map { Array($0.utf8) })
    }()

    /// A name's bucket of 256: from its length and its first and last eight bytes.
    @inline(__always)
    static func bucket(_ name: UnsafeRawBufferPointer) -> Int {
        let n = name.count
        let tail = n >= 8 ? UInt64(littleEndian: name.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)) : 0
        return Int(truncatingIfNeeded: ((head(name) ^ tail &* 0xC2B2_AE3D_27D4_EB4F ^ UInt64(n)) &* 0x9E37_79B9_7F4A_7C15) >> 56)
    }

    /// The index + 1 in ``wanted`` of a custom field's name (0: not wanted), without making a
    /// String: only a wanted name of the same length and the same first eight bytes is compared
    /// whole (most custom keys differ from every wanted name in one or the other).
    @inline(__always)
    static func wantedSlot(_ name: UnsafeRawBufferPointer, _ names: Names) -> Int {
        let h = head(name)
        @inline(__always) func matches(_ i: Int) -> Bool {
            let w = names.wantedHeads[i]
            return w.count == name.count && w.head == h
                && (name.count <= 8 || names.wantedBytes[i].withUnsafeBytes({ memcmp($0.baseAddress!, name.baseAddress!, name.count) }) == 0)
        }
        if let buckets = names.wantedByBucket {
            // The one wanted name that may match.
            let i = buckets[bucket(name)]
            return i > 0 && matches(i - 1) ? i : 0
        }
        for i in names.wantedHeads.indices where matches(i) { return i + 1 }
        return 0
    }

    /// The first eight bytes of `name` as a little-endian integer (zero-padded when shorter).
    @inline(__always)
    static func head(_ name: UnsafeRawBufferPointer) -> UInt64 {
        if name.count >= 8 { return UInt64(littleEndian: name.loadUnaligned(as: UInt64.self)) }
        var h: UInt64 = 0
        for i in 0..<name.count { h |= UInt64(name[i]) << UInt64(8 * i) }
        return h
    }

    struct Invalid: Error {}

    /// Index in ``wanted`` of `vigil.alert.sample`, and of `tags`.
    static let sampleSlot = 14
    static let tagsSlot = 5
    /// Index in ``wanted`` of `vigil.alert.id`, `user.name` and `vigil.alert.key`.
    static let idSlot = 1, userSlot = 12, keySlot = 13
    /// Which wanted fields repeat across a rule's alerts (rule id, name, description, tags,
    /// severity name): their values are made once and shared (``Cache``).
    static let shared: [Bool] = wanted.indices.map { [2, 3, 4, 5, 7].contains($0) }
    /// Which wanted fields a cached read keeps as their bytes when they are strings (sample, id,
    /// user name, key).
    static let byBytes: [Bool] = wanted.indices.map { [sampleSlot, idSlot, userSlot, keySlot].contains($0) }

    /// A reading thread's reusable state: the values' array, and the values of repeated fields
    /// by their encoded bytes, so that an alert of a known rule allocates none of them and
    /// retains one object (its ``AlertRuleText``) rather than each of its texts.
    final class Cache {
        // exclusivity(unchecked): used by one thread, in no overlapping accesses.
        @exclusivity(unchecked) var values = [FieldValue?](repeating: nil, count: AlertRecordReader.wanted.count)
        /// A repeated field's encoded bytes, the value made from them, and (for `tags`) its strings.
        struct Entry {
            var raw: [UInt8]
            var value: FieldValue
            var strings: [String]
        }
        @exclusivity(unchecked) var entries: [Entry] = []
        /// Hash of (slot, encoded value) → index in ``entries``.
        @exclusivity(unchecked) var index = SlotTable(capacity: Cache.sharedLimit)
        /// Per wanted slot, the index in ``entries`` of the repeated field just read (-1: none);
        /// those slots of ``values`` stay nil.
        @exclusivity(unchecked) var entryOfSlot = [Int](repeating: -1, count: AlertRecordReader.wanted.count)
        /// The rule texts, their keys (the entries of `rule.id`, `rule.name`,
        /// `rule.description` and `tags`, 16 bits each) and a table of them by key; forgotten
        /// every ``sharedLimit`` rules.
        @exclusivity(unchecked) var rules: [AlertRuleText] = []
        @exclusivity(unchecked) var ruleKeys: [UInt64] = []
        @exclusivity(unchecked) var ruleIndex = SlotTable(capacity: Cache.sharedLimit)
        /// The UTF-8 bytes in the record just read (valid while its bytes are) of the sample,
        /// the id, the user name and the key, when they are strings (their slots of ``values``
        /// stay nil then).
        @exclusivity(unchecked) var sample: UnsafeRawBufferPointer?
        @exclusivity(unchecked) var id: UnsafeRawBufferPointer?
        @exclusivity(unchecked) var user: UnsafeRawBufferPointer?
        @exclusivity(unchecked) var key: UnsafeRawBufferPointer?
        static let sharedLimit = 4096
        init() {}

        /// The value of the repeated field in `slot` of the record just read.
        func sharedValue(_ slot: Int) -> FieldValue? {
            let e = entryOfSlot[slot]
            return e < 0 ? nil : entries[e].value
        }

        /// The rule texts of the record just read; nil when it has no `rule.id` string, or an
        /// empty one.
        func rule() -> AlertRuleText? {
            let e = entryOfSlot
            let key = UInt64(e[2] + 1) << 48 | UInt64(e[3] + 1) << 32 | UInt64(e[4] + 1) << 16 | UInt64(e[5] + 1)
            let h = SlotTable.mix(key)
            if let i = ruleKeys.withUnsafeBufferPointer({ keys in ruleIndex.find(h, { keys[$0] == key }) }) { return rules[i] }
            guard e[2] >= 0, let id = entries[e[2]].value.stringValue, !id.isEmpty else { return nil }
            let rule = AlertRuleText(id: id, name: sharedValue(3)?.stringValue ?? id, description: sharedValue(4)?.stringValue ?? "",
                                     tags: e[5] >= 0 ? entries[e[5]].strings : [])
            if rules.count >= Cache.sharedLimit { forgetRules() }
            ruleIndex.insert(h, rules.count)
            rules.append(rule)
            ruleKeys.append(key)
            return rule
        }

        func forgetRules() {
            rules.removeAll(keepingCapacity: true)
            ruleKeys.removeAll(keepingCapacity: true)
            ruleIndex.removeAll()
        }
    }

    /// The wanted fields' values (by index in ``wanted``), or nil when the bytes are not a valid event.
    static func read(_ bytes: UnsafeRawBufferPointer) -> [FieldValue?]? {
        var cursor = ByteCursor(bytes)
        var values = [FieldValue?](repeating: nil, count: wanted.count)
        do throws(Invalid) {
            try walk(&cursor, &values, cache: noCache, cached: false)
        } catch {
            return nil
        }
        return values
    }

    /// Reads the wanted fields into `cache`: repeated ones as ``Cache/entryOfSlot`` (their slots
    /// of `cache.values` stay nil), the sample, id, user name and key, when strings, only as
    /// their bytes (`cache.sample`, `id`, `user`, `key`); false when the bytes are not a valid event.
    static func read(_ bytes: UnsafeRawBufferPointer, into cache: Cache) -> Bool {
        var cursor = ByteCursor(bytes)
        cache.values.withUnsafeMutableBufferPointer { values in
            for i in values.indices where values[i] != nil { values[i] = nil }
        }
        cache.entryOfSlot.withUnsafeMutableBufferPointer { $0.update(repeating: -1) }
        cache.sample = nil
        cache.id = nil
        cache.user = nil
        cache.key = nil
        do throws(Invalid) {
            try walk(&cursor, &cache.values, cache: cache, cached: true)
        } catch {
            return false
        }
        // The cache was emptied while this record was read (-2): read it again.
        if cache.entryOfSlot.contains(-2) { return read(bytes, into: cache) }
        return true
    }

    /// The index in the cache's entries of a repeated field's value (made when these bytes are
    /// new).
    private static func sharedEntry(_ c: inout ByteCursor, slot: Int, cache: Cache) throws(Invalid) -> Int {
        let start = c.position
        // Only the value's extent here: bytes the cache holds were checked when they were new,
        // and new ones are checked as they are read (`value`). A string, the usual case, inline.
        if c.peekByte() == EventBinaryCodec.ValueType.string.rawValue {
            _ = c.readByte()
            let n = try count(&c, elementSize: 1)
            guard c.readBytes(n) != nil else { throw Invalid() }
        } else {
            try skip(&c, depth: 0, validating: false)
        }
        let raw = UnsafeRawBufferPointer(rebasing: c.bytes[start..<c.position])
        let h = StableHash.fingerprint(raw) ^ UInt64(slot) &* 0x9E37_79B9_7F4A_7C15
        let known = cache.entries.withUnsafeBufferPointer { entries in
            cache.index.find(h) { i in
                entries[i].raw.count == raw.count && entries[i].raw.withUnsafeBytes { memcmp($0.baseAddress!, raw.baseAddress!, raw.count) == 0 }
            }
        }
        if let known { return known }
        var again = ByteCursor(raw)
        let v = try value(&again, depth: 0)
        guard again.isAtEnd else { throw Invalid() }
        if cache.entries.count >= Cache.sharedLimit {
            // Forget them all, and the rule texts made from them; the record's earlier slots
            // are read again (their indices would name entries that are gone).
            cache.entries.removeAll(keepingCapacity: true)
            cache.index.removeAll()
            cache.forgetRules()
            for s in cache.entryOfSlot.indices where cache.entryOfSlot[s] >= 0 { cache.entryOfSlot[s] = -2 }
        }
        let strings = slot == tagsSlot ? v.arrayValue?.compactMap(\.stringValue) ?? [] : []
        cache.index.insert(h, cache.entries.count)
        cache.entries.append(Cache.Entry(raw: Array(raw), value: v, strings: strings))
        return cache.entries.count - 1
    }

    /// A cache that ``walk(_:_:cache:cached:)`` is given, and never touches, when it reads without one.
    private nonisolated(unsafe) static let noCache = Cache()

    /// Reads the wanted fields of a record into `values`, and with `cached` the repeated ones into
    /// `cache` (a cache passed whether used or not: binding an optional one retained and
    /// released it once per wanted field).
    private static func walk(_ cursor: inout ByteCursor, _ values: inout [FieldValue?], cache: Cache, cached: Bool) throws(Invalid) {
        guard cursor.readByte() == EventBinaryCodec.formatVersion else { throw Invalid() }
        let count = try Self.count(&cursor, elementSize: 2)
        let names = Self.names
        let schema = Schema.index
        let shared = Self.shared
        let byBytes = Self.byBytes
        let base = UnsafeRawPointer(names.bytes.baseAddress!)
        var previous = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
        var previousTag: UInt64 = 0
        for index in 0..<count {
            let tag = try varint(&cursor)
            let key: UnsafeBufferPointer<UInt8>
            var slot = 0
            if tag == EventBinaryCodec.customFieldTag {
                let raw = try string(&cursor)
                key = raw.bindMemory(to: UInt8.self)
                slot = Self.wantedSlot(raw, names)
            } else if tag < UInt64(names.ranges.count), names.ranges[Int(tag)].1 > 0 {
                let (o, n) = names.ranges[Int(tag)]
                key = UnsafeBufferPointer(start: (base + o).assumingMemoryBound(to: UInt8.self), count: n)
                slot = names.wantedByTag[Int(tag)]
            } else {
                throw Invalid()
            }
            let isObject = cursor.peekByte() == EventBinaryCodec.ValueType.object.rawValue
            if isObject { throw Invalid() }
            if slot > 0 {
                if cached {
                    if shared[slot - 1] {
                        cache.entryOfSlot[slot - 1] = try sharedEntry(&cursor, slot: slot - 1, cache: cache)
                    } else if byBytes[slot - 1] && cursor.peekByte() == EventBinaryCodec.ValueType.string.rawValue {
                        _ = cursor.readByte()
                        let s = try string(&cursor)
                        switch slot - 1 {
                        case sampleSlot: cache.sample = s
                        case idSlot: cache.id = s
                        case userSlot: cache.user = s
                        default: cache.key = s
                        }
                    } else {
                        values[slot - 1] = try value(&cursor, depth: 0)
                    }
                } else {
                    values[slot - 1] = try value(&cursor, depth: 0)
                }
            } else {
                try skip(&cursor, depth: 0)
            }
            if index > 0 {
                if previousTag != EventBinaryCodec.customFieldTag && tag != EventBinaryCodec.customFieldTag {
                    // Two known fields, as EventBinaryCodec's decoder checks them: the schema is
                    // prefix-free, and its ranks are its key order.
                    guard schema.rank(UInt16(truncatingIfNeeded: previousTag)) < schema.rank(UInt16(truncatingIfNeeded: tag)) else { throw Invalid() }
                } else {
                    guard Event.compareKeys(previous, key) < 0 && !Event.isDottedPrefix(previous, of: key) else { throw Invalid() }
                }
            }
            previous = key
            previousTag = tag
        }
        guard cursor.isAtEnd else { throw Invalid() }
    }

    @inline(__always) private static func varint(_ c: inout ByteCursor) throws(Invalid) -> UInt64 {
        // One byte, the usual case (tags, types' lengths), without the call.
        if let b = c.peekByte(), b < 0x80 {
            _ = c.readByte()
            return UInt64(b)
        }
        if case .value(let v) = c.readVarint() { return v }
        throw Invalid()
    }

    @inline(__always) private static func count(_ c: inout ByteCursor, elementSize: Int) throws(Invalid) -> Int {
        let n = try varint(&c)
        guard n <= UInt64(c.remaining / elementSize) else { throw Invalid() }
        return Int(n)
    }

    @inline(__always) private static func string(_ c: inout ByteCursor) throws(Invalid) -> UnsafeRawBufferPointer {
        let n = try count(&c, elementSize: 1)
        guard let raw = c.readBytes(n), UTF8Validation.isValid(raw) else { throw Invalid() }
        return raw
    }

    private static func value(_ c: inout ByteCursor, depth: Int) throws(Invalid) -> FieldValue {
        guard let typeByte = c.readByte(), let type = EventBinaryCodec.ValueType(rawValue: typeByte) else { throw Invalid() }
        switch type {
        case .null: return .null
        case .boolFalse: return .bool(false)
        case .boolTrue: return .bool(true)
        case .int: return .int(ByteWriter.unzigzag(try varint(&c)))
        case .float:
            guard let bits = c.readUInt64LE() else { throw Invalid() }
            return .float(Double(bitPattern: bits))
        case .string: return .string(String(decoding: try string(&c), as: UTF8.self))
        case .timestamp: return .timestamp(Timestamp(nanoseconds: ByteWriter.unzigzag(try varint(&c))))
        case .ipv4:
            guard let v = c.readUInt32BE() else { throw Invalid() }
            return .ip(IPAddress(v4: v))
        case .ipv6:
            guard let hi = c.readUInt64BE(), let lo = c.readUInt64BE() else { throw Invalid() }
            return .ip(IPAddress(v6High: hi, low: lo))
        case .array:
            guard depth < FieldValue.maximumNestingDepth else { throw Invalid() }
            let n = try count(&c, elementSize: 1)
            var elements: [FieldValue] = []
            elements.reserveCapacity(Swift.min(n, 4096))
            for _ in 0..<n { elements.append(try value(&c, depth: depth + 1)) }
            return .array(elements)
        case .object:
            guard depth < FieldValue.maximumNestingDepth else { throw Invalid() }
            let n = try count(&c, elementSize: 2)
            var members: [FieldObject.Member] = []
            for _ in 0..<n {
                let key = String(decoding: try string(&c), as: UTF8.self)
                members.append(FieldObject.Member(key, try value(&c, depth: depth + 1)))
            }
            return .object(FieldObject(members))
        }
    }

    /// Checks a value as ``value(_:depth:)`` does, making nothing.
    /// Without `validating`, only the value's extent: its strings are not checked as UTF-8.
    private static func skip(_ c: inout ByteCursor, depth: Int, validating: Bool = true) throws(Invalid) {
        guard let typeByte = c.readByte(), let type = EventBinaryCodec.ValueType(rawValue: typeByte) else { throw Invalid() }
        @inline(__always) func skipString() throws(Invalid) {
            if validating {
                _ = try string(&c)
            } else {
                let n = try count(&c, elementSize: 1)
                guard c.readBytes(n) != nil else { throw Invalid() }
            }
        }
        switch type {
        case .null, .boolFalse, .boolTrue: return
        case .int, .timestamp: _ = try varint(&c)
        case .float: guard c.readUInt64LE() != nil else { throw Invalid() }
        case .string: try skipString()
        case .ipv4: guard c.readUInt32BE() != nil else { throw Invalid() }
        case .ipv6: guard c.readUInt64BE() != nil, c.readUInt64BE() != nil else { throw Invalid() }
        case .array:
            guard depth < FieldValue.maximumNestingDepth else { throw Invalid() }
            let n = try count(&c, elementSize: 1)
            for _ in 0..<n { try skip(&c, depth: depth + 1, validating: validating) }
        case .object:
            guard depth < FieldValue.maximumNestingDepth else { throw Invalid() }
            let n = try count(&c, elementSize: 2)
            for _ in 0..<n {
                try skipString()
                try skip(&c, depth: depth + 1, validating: validating)
            }
        }
    }
}

/// An open-addressing table from 64-bit hashes to indices into the caller's arrays, for at most
/// `capacity` of them (twice as many slots: never more than half full), emptied as a whole. Several
/// indices may share a hash: a lookup offers each to `matches`. The reading cache's indexes: a
/// `Dictionary` hashed every key again with SipHash, once per repeated field of every record.
struct SlotTable {
    private var hashes: [UInt64]
    /// Index + 1; 0: an empty slot.
    private var slots: [Int32]
    private let mask: Int
    let capacity: Int
    private(set) var count = 0

    init(capacity: Int) {
        var size = 16
        while size < 2 * capacity { size <<= 1 }
        hashes = [UInt64](repeating: 0, count: size)
        slots = [Int32](repeating: 0, count: size)
        mask = size - 1
        self.capacity = capacity
    }

    /// A finalizer for keys that are not hashes already (SplitMix64's).
    @inline(__always)
    static func mix(_ key: UInt64) -> UInt64 {
        var h = key ^ (key >> 30)
        h = h &* 0xBF58_476D_1CE4_E5B9
        h ^= h >> 27
        h = h &* 0x94D0_49BB_1331_11EB
        return h ^ (h >> 31)
    }

    /// The first index stored under `h` that `matches` accepts.
    @inline(__always)
    func find(_ h: UInt64, _ matches: (Int) -> Bool) -> Int? {
        hashes.withUnsafeBufferPointer { hashes in
            slots.withUnsafeBufferPointer { slots in
                var s = Int(truncatingIfNeeded: h) & mask
                while true {
                    let i = Int(slots[s])
                    if i == 0 { return nil }
                    if hashes[s] == h && matches(i - 1) { return i - 1 }
                    s = (s + 1) & mask
                }
            }
        }
    }

    /// Stores `index` under `h`; the table must hold fewer than `capacity`.
    mutating func insert(_ h: UInt64, _ index: Int) {
        precondition(count < capacity, "SlotTable: more than its capacity")
        var s = Int(truncatingIfNeeded: h) & mask
        while slots[s] != 0 { s = (s + 1) & mask }
        hashes[s] = h
        slots[s] = Int32(index + 1)
        count += 1
    }

    mutating func removeAll() {
        guard count > 0 else { return }
        for i in slots.indices { slots[i] = 0 }
        count = 0
    }
}
