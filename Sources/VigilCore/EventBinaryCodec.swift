/// The compact, versioned binary encoding of an ``Event`` used by the broker.
///
/// Layout (all varints unsigned LEB128; see `docs/schema.md` for the byte-by-byte description):
/// ```
/// event   = version:u8(=1) fieldCount:varint field*
/// field   = tag:varint [keyLength:varint keyUTF8]   -- key only when tag == 0 (custom field)
///           value
/// value   = type:u8 payload
/// ```
/// Known fields use their ``Schema`` id as tag; custom fields use tag 0 followed by their key.
/// Fields appear in the event's key order. Value types:
///
/// | type | value        | payload                                             |
/// |------|--------------|-----------------------------------------------------|
/// | 0    | null         | none                                                |
/// | 1    | bool false   | none                                                |
/// | 2    | bool true    | none                                                |
/// | 3    | int          | zigzag varint                                       |
/// | 4    | float        | 8 bytes, IEEE 754 bit pattern, little-endian        |
/// | 5    | string       | length varint + UTF-8                               |
/// | 6    | timestamp    | zigzag varint of nanoseconds since the epoch        |
/// | 7    | IPv4         | 4 bytes, network order                              |
/// | 8    | IPv6         | 16 bytes, network order                             |
/// | 9    | array        | count varint + count values                         |
/// | 10   | object       | count varint + count × (key length varint, UTF-8 key, value) |
///
/// The round trip is exact — `decode(encode(e)) == e`, float bit patterns included — for every
/// event whose values nest at most ``FieldValue/maximumNestingDepth`` levels.
public enum EventBinaryCodec {
    /// The format version written in the first byte, and the only one ``decode(_:)-(UnsafeRawBufferPointer)`` reads.
    public static let formatVersion: UInt8 = 1

    /// The tag that introduces a custom (non-schema) field; schema ids start at 1.
    public static let customFieldTag: UInt64 = 0

    /// Value type bytes.
    package enum ValueType: UInt8 {
        case null = 0, boolFalse = 1, boolTrue = 2, int = 3, float = 4, string = 5, timestamp = 6
        case ipv4 = 7, ipv6 = 8, array = 9, object = 10
    }

    // MARK: Encoding

    /// Appends the encoding of `event` to `buffer`.
    ///
    /// Writes straight into `buffer`; the only allocations are `buffer`'s own growth.
    /// - Complexity: O(total size of the event)
    public static func encode(_ event: Event, into buffer: inout [UInt8]) {
        guard let storage = event.storage?.buffers else {
            buffer.append(formatVersion)
            buffer.append(0)
            return
        }
        // The entries in key order (the walk of `EventBuffers.forEachInOrder`), listed once on
        // the stack, so that sizing and writing are plain loops rather than a closure per field.
        let count = storage.pointee.count
        let entries = storage.pointee.entries
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: max(count, 1)) { order in
            // The bound on the encoding's size is summed in the same walk.
            // Written into scratch memory sized from that upper bound (on the stack when small),
            // then appended at once: no capacity or uniqueness check per byte.
            // The bound counts each field's text (not the byte buffer's size: fields may share
            // bytes, as `host.hostname` does `log.syslog.hostname`'s, and replaced values leave
            // theirs behind), and each field's most bytes by kind: a tag of at most 3 bytes
            // (schema ids are 16 bits) or a custom key (tag, length varint of at most 5 bytes and
            // its bytes), a type byte and at most 16 payload bytes or a length varint. Tight
            // enough that most events fit the 1 KiB `withUnsafeTemporaryAllocation` takes from the
            // stack (no heap allocation).
            var n = 0
            var bound = 11
            let present = storage.pointee.present, slots = storage.pointee.slots
            let customs = storage.pointee.customs, customCount = storage.pointee.customCount
            var c = 0
            for w in 0..<storage.pointee.presentWords {
                var word = present[w]
                while word != 0 {
                    let rank = w << 6 | word.trailingZeroBitCount
                    word &= word - 1
                    let index = slots[rank]
                    if c < customCount {
                        let entryOrder = entries[Int(index)].order
                        while c < customCount, entries[Int(customs[c])].order < entryOrder {
                            take(customs[c], order, &n, &bound, storage)
                            c += 1
                        }
                    }
                    take(index, order, &n, &bound, storage)
                }
            }
            while c < customCount {
                take(customs[c], order, &n, &bound, storage)
                c += 1
            }
            let bytes = storage.pointee.bytes
            @inline(__always) func slice(_ range: UInt64) -> UnsafeBufferPointer<UInt8> {
                UnsafeBufferPointer(start: bytes + Int(range >> 32), count: Int(range & 0xFFFF_FFFF))
            }
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: bound) { scratch in
                var out = RawSink(scratch.baseAddress!)
                out.byte(formatVersion)
                out.varint(UInt64(count))
                // Straight from the stored entries: string bytes are copied from the event's byte
                // buffer, scalars from the entry; only arrays go through `FieldValue`.
                for k in 0..<n {
                    let e = entries[Int(order[k])]
                    if e.id != 0 {
                        out.varint(UInt64(e.id))
                    } else {
                        out.varint(customFieldTag)
                        out.counted(slice(e.keyRange))
                    }
                    switch e.kind {
                    case .string:
                        out.byte(ValueType.string.rawValue)
                        out.counted(slice(e.a))
                    case .int:
                        out.byte(ValueType.int.rawValue)
                        out.varint(ByteWriter.zigzag(Int64(bitPattern: e.a)))
                    case .float:
                        out.byte(ValueType.float.rawValue)
                        out.store(e.a.littleEndian)
                    case .bool:
                        out.byte(e.flag != 0 ? ValueType.boolTrue.rawValue : ValueType.boolFalse.rawValue)
                    case .timestamp:
                        out.byte(ValueType.timestamp.rawValue)
                        out.varint(ByteWriter.zigzag(Int64(bitPattern: e.a)))
                    case .ip:
                        if e.flag == IPAddress.Family.v4.rawValue {
                            out.byte(ValueType.ipv4.rawValue)
                            out.store(UInt32(truncatingIfNeeded: e.b).bigEndian)
                        } else {
                            out.byte(ValueType.ipv6.rawValue)
                            out.store(e.a.bigEndian)
                            out.store(e.b.bigEndian)
                        }
                    case .array:
                        if let pre = presetEncoding(e) { out.raw(pre) } else {
                            encodeValue(storage.pointee.array(e.a, flag: e.flag), into: &out)
                        }
                    case .null:
                        out.byte(ValueType.null.rawValue)
                    case .object:
                        preconditionFailure("objects are never stored")
                    }
                }
                precondition(out.count <= bound, "event encoding exceeded its bound")
                buffer.append(contentsOf: UnsafeBufferPointer(start: scratch.baseAddress, count: out.count))
            }
        }
    }

    /// Puts entry `index` next in `order` and adds its most bytes to `bound` (a static function
    /// with its state passed in: a nested function capturing the counters made them boxed
    /// variables with dynamic exclusivity checks).
    @inline(__always)
    private static func take(_ index: UInt32, _ order: UnsafeMutableBufferPointer<UInt32>, _ n: inout Int, _ bound: inout Int,
                             _ storage: UnsafeMutablePointer<EventBuffers>) {
        order[n] = index
        n += 1
        let e = storage.pointee.entries + Int(index)
        bound += e.pointee.id == 0 ? 6 + Int(truncatingIfNeeded: e.pointee.keyRange & 0xFFFF_FFFF) : 3
        switch e.pointee.kind {
        case .string: bound += 6 + Int(truncatingIfNeeded: e.pointee.a & 0xFFFF_FFFF)
        case .array:
            if let pre = presetEncoding(e.pointee) { bound += pre.count } else {
                bound += maximumSize(storage.pointee.array(e.pointee.a, flag: e.pointee.flag))
            }
        default: bound += 17
        }
    }

    /// The encoding a preset made once for its array of scalars (``Event/Preset``), if the entry has one.
    @inline(__always)
    static func presetEncoding(_ e: Event.Entry) -> UnsafeBufferPointer<UInt8>? {
        guard e.flag == 1, e.b != 0, let p = UnsafeRawPointer(bitPattern: UInt(e.b)) else { return nil }
        return UnsafeBufferPointer(start: (p + 4).assumingMemoryBound(to: UInt8.self), count: Int(p.load(as: UInt32.self)))
    }

    /// The encoding of `event` in a new array.
    public static func encode(_ event: Event) -> [UInt8] {
        var buffer: [UInt8] = []
        encode(event, into: &buffer)
        return buffer
    }

    /// The most bytes ``encodeValue(_:into:)`` writes for `value`.
    static func maximumSize(_ value: FieldValue) -> Int {
        switch value {
        case .null, .bool: 1
        case .int, .timestamp: 11
        case .float: 9
        case .ip: 17
        case .string(let s): 11 + s.utf8.count
        case .array(let elements): elements.reduce(11) { $0 + maximumSize($1) }
        case .object(let object): object.members.reduce(11) { $0 + 11 + $1.key.utf8.count + maximumSize($1.value) }
        }
    }

    static func encodeValue(_ value: FieldValue, into out: inout RawSink) {
        switch value {
        case .null:
            out.byte(ValueType.null.rawValue)
        case .bool(let b):
            out.byte(b ? ValueType.boolTrue.rawValue : ValueType.boolFalse.rawValue)
        case .int(let v):
            out.byte(ValueType.int.rawValue)
            out.varint(ByteWriter.zigzag(v))
        case .float(let d):
            out.byte(ValueType.float.rawValue)
            out.store(d.bitPattern.littleEndian)
        case .string(let s):
            out.byte(ValueType.string.rawValue)
            out.counted(s)
        case .timestamp(let t):
            out.byte(ValueType.timestamp.rawValue)
            out.varint(ByteWriter.zigzag(t.nanoseconds))
        case .ip(let address):
            if address.isV4 {
                out.byte(ValueType.ipv4.rawValue)
                out.store(UInt32(truncatingIfNeeded: address.low).bigEndian)
            } else {
                out.byte(ValueType.ipv6.rawValue)
                out.store(address.high.bigEndian)
                out.store(address.low.bigEndian)
            }
        case .array(let elements):
            out.byte(ValueType.array.rawValue)
            out.varint(UInt64(elements.count))
            for element in elements { encodeValue(element, into: &out) }
        case .object(let object):
            out.byte(ValueType.object.rawValue)
            out.varint(UInt64(object.members.count))
            for member in object.members {
                out.counted(member.key)
                encodeValue(member.value, into: &out)
            }
        }
    }

    /// The encoding of one value (type byte and payload) in a new array: the stored form of a
    /// preset array (``Event/Preset``).
    static func encodeValue(_ value: FieldValue) -> [UInt8] {
        [UInt8](unsafeUninitializedCapacity: maximumSize(value)) { buffer, initialized in
            var out = RawSink(buffer.baseAddress!)
            encodeValue(value, into: &out)
            initialized = out.count
        }
    }

    /// Writes into memory the caller sized from an upper bound: no checks per byte.
    struct RawSink {
        let base: UnsafeMutablePointer<UInt8>
        private(set) var count = 0

        init(_ base: UnsafeMutablePointer<UInt8>) { self.base = base }

        @inline(__always) mutating func byte(_ b: UInt8) {
            base[count] = b
            count += 1
        }

        @inline(__always) mutating func varint(_ value: UInt64) {
            var v = value
            while v >= 0x80 {
                base[count] = UInt8(truncatingIfNeeded: v) | 0x80
                count += 1
                v >>= 7
            }
            base[count] = UInt8(truncatingIfNeeded: v)
            count += 1
        }

        /// The value's bytes as they are in memory (pass `.bigEndian`/`.littleEndian`).
        @inline(__always) mutating func store<T: FixedWidthInteger>(_ value: T) {
            UnsafeMutableRawPointer(base + count).storeBytes(of: value, as: T.self)
            count += MemoryLayout<T>.size
        }

        /// The bytes as they are; short ones (most field values) with inline loads and stores
        /// (``copyBytes(_:_:_:)``) instead of a call to memmove.
        @inline(__always) mutating func raw(_ bytes: UnsafeBufferPointer<UInt8>) {
            if let source = bytes.baseAddress, bytes.count > 0 { copyBytes(base + count, source, bytes.count) }
            count += bytes.count
        }

        /// A varint length and the bytes.
        @inline(__always) mutating func counted(_ bytes: UnsafeBufferPointer<UInt8>) {
            varint(UInt64(bytes.count))
            raw(bytes)
        }

        mutating func counted(_ string: String) {
            var string = string
            string.withUTF8 { counted($0) }
        }
    }

    // MARK: Decoding

    /// Decodes one event that occupies all of `bytes`.
    ///
    /// Never traps on any input: every read is bounds-checked, element counts are bounded by the
    /// remaining input, nesting is limited to ``FieldValue/maximumNestingDepth``, text must be
    /// well-formed UTF-8, and fields must be in strictly increasing key order without prefix
    /// conflicts (as ``encode(_:into:)`` writes them).
    /// - Throws: ``EventCodecError``; the message never contains payload bytes.
    /// - Complexity: O(n)
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(EventCodecError) -> Event {
        var event = Event()
        try decode(bytes, into: &event)
        return event
    }

    /// Decodes one event that occupies all of `bytes` into `event`, replacing its fields and
    /// reusing its storage when `event` holds it alone (a consumer decoding record after record
    /// into one event allocates nothing per record but array values). The same checks and errors
    /// as ``decode(_:)-(UnsafeRawBufferPointer)``; after an error `event` holds an unspecified
    /// part of the input's fields.
    ///
    /// String values and custom keys are copied from `bytes` into the event's byte buffer once,
    /// without building `String`s; scalars are stored as they are read.
    /// - Complexity: O(n)
    ///
    /// With `arrays`, an array value whose bytes the cache has seen decoded before is taken from
    /// it (one reference more to the same immutable array) instead of being decoded again: the
    /// same event as without it.
    public static func decode(_ bytes: UnsafeRawBufferPointer, into event: inout Event,
                              arrays: ArrayCache? = nil) throws(EventCodecError) {
        event.removeAll(keepingCapacity: true)
        let s = event.unique().buffers
        var decoder = Decoder(cursor: ByteCursor(bytes), arrays: arrays)
        try decoder.event(into: s)
    }

    /// Array values a decoder met, by their encoded bytes (events of one source repeat the same
    /// few arrays: `event.category: [authentication]`), so that ``decode(_:into:arrays:)`` builds
    /// each only once. Only arrays of scalars of at most ``maximumBytes`` encoded bytes are kept,
    /// in a fixed number of slots (a newer array replaces an older one in its slot): memory is
    /// bounded. A value is kept only after it decoded without error from exactly the bytes it is
    /// kept under, so taking it from the cache is the same as decoding those bytes.
    ///
    /// Not thread-safe: one per decoding thread. The values handed out are ordinary immutable
    /// arrays, safe to send to other threads with the events holding them.
    public final class ArrayCache {
        /// The most encoded bytes of an array the cache keeps.
        public static let maximumBytes = 256

        struct Slot {
            var hash: UInt64 = 0
            var bytes: [UInt8] = []
            var value: FieldValue = .null
        }

        private var slots: [Slot]
        private let mask: Int
        /// Arrays taken from the cache, and arrays decoded (and kept) because they were not in it.
        public private(set) var hits = 0
        public private(set) var misses = 0

        /// A cache of `slots` slots (rounded up to a power of two).
        public init(slots: Int = 256) {
            var n = 1
            while n < max(slots, 1) { n <<= 1 }
            self.slots = Array(repeating: Slot(), count: n)
            mask = n - 1
        }

        /// The value kept for `bytes` (hashed to `hash`), if any.
        @inline(__always)
        func value(_ bytes: UnsafeRawBufferPointer, hash: UInt64) -> FieldValue? {
            let i = Int(truncatingIfNeeded: hash) & mask
            let found: FieldValue? = slots.withUnsafeBufferPointer { slots in
                guard slots[i].hash == hash, slots[i].bytes.count == bytes.count else { return nil }
                let equal = slots[i].bytes.withUnsafeBytes { kept in Self.equal(kept, bytes) }
                return equal ? slots[i].value : nil
            }
            if found != nil { hits &+= 1 }
            return found
        }

        func insert(_ bytes: UnsafeRawBufferPointer, hash: UInt64, _ value: FieldValue) {
            misses &+= 1
            slots[Int(truncatingIfNeeded: hash) & mask] = Slot(hash: hash, bytes: Array(bytes), value: value)
        }

        /// Whether two buffers of the same length hold the same bytes (eight at a time).
        @inline(__always)
        static func equal(_ a: UnsafeRawBufferPointer, _ b: UnsafeRawBufferPointer) -> Bool {
            let n = a.count
            var i = 0
            while i + 8 <= n {
                if a.loadUnaligned(fromByteOffset: i, as: UInt64.self) != b.loadUnaligned(fromByteOffset: i, as: UInt64.self) { return false }
                i += 8
            }
            while i < n {
                if a[i] != b[i] { return false }
                i += 1
            }
            return true
        }

        /// A hash of `bytes` (eight at a time).
        @inline(__always)
        static func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
            var h: UInt64 = 0x9E37_79B9_7F4A_7C15 ^ UInt64(bytes.count)
            var i = 0
            let n = bytes.count
            while i + 8 <= n {
                h = (h ^ bytes.loadUnaligned(fromByteOffset: i, as: UInt64.self)) &* 0xFF51_AFD7_ED55_8CCD
                h ^= h >> 32
                i += 8
            }
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while i < n {
                tail |= UInt64(bytes[i]) << shift
                shift += 8
                i += 1
            }
            h = (h ^ tail) &* 0xC4CE_B9FE_1A85_EC53
            return h ^ (h >> 29)
        }
    }

    /// Decodes one event that occupies all of `bytes`; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public static func decode(_ bytes: [UInt8]) throws(EventCodecError) -> Event {
        // `withUnsafeBytes` is `rethrows` (untyped); carry the typed error out in a `Result`.
        try bytes.withUnsafeBytes { raw in Result { () throws(EventCodecError) in try decode(raw) } }.get()
    }

    struct Decoder {
        var cursor: ByteCursor
        var arrays: ArrayCache? = nil

        /// Reads the fields straight into `s` (emptied by the caller): each key is checked against
        /// the previous one by schema rank (two known keys) or by their bytes (a custom key: the
        /// name in the schema's table or the key's bytes in the input), never as `String`s.
        mutating func event(into s: UnsafeMutablePointer<EventBuffers>) throws(EventCodecError) {
            guard let version = cursor.readByte() else { throw Self.error(.truncated, "empty input", at: 0) }
            guard version == EventBinaryCodec.formatVersion else {
                throw Self.error(.unsupportedVersion,
                                 "format version \(version); this build reads version \(EventBinaryCodec.formatVersion)", at: 0)
            }
            // Each field takes at least two bytes: a tag and a value type.
            let count = try count(elementSize: 2, what: "field")
            let schema = Schema.index
            let names = Schema.namesByID
            var previousID: UInt16 = 0
            var previousKey = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
            for index in 0..<count {
                let tagOffset = cursor.position
                let tag = try varint()
                let key: UnsafeBufferPointer<UInt8>
                let id: UInt16
                if tag == EventBinaryCodec.customFieldTag {
                    let raw = try stringBytes(what: "field key")
                    key = UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count)
                    id = schema.id(raw)      // a writer may not have known this field yet
                } else if tag < UInt64(names.count), !names[Int(tag)].isEmpty {
                    id = UInt16(tag)
                    key = schema.name(id)
                } else {
                    throw Self.error(.unknownTag, "field \(index) has unknown tag \(tag)", at: tagOffset)
                }
                let valueOffset = cursor.position
                let payload = try payload(into: s)
                if payload.kind == .object {
                    throw Self.error(.invalidValue, "field \(index) holds an object directly; objects must be flattened", at: valueOffset)
                }
                if index > 0 {
                    let ordered: Bool
                    if previousID != 0 && id != 0 {
                        // The schema is prefix-free, and its ranks are its key order.
                        ordered = schema.rank(previousID) < schema.rank(id)
                    } else {
                        ordered = Event.compareKeys(previousKey, key) < 0 && !Event.isDottedPrefix(previousKey, of: key)
                    }
                    if !ordered {
                        throw Self.error(.conflictingFields,
                                         "field \(index) repeats, precedes or is nested under field \(index - 1)", at: tagOffset)
                    }
                }
                if id != 0 {
                    // Ordered and checked against its neighbour: neither present already nor in
                    // conflict with a custom field (a conflicting field would sort right next to it).
                    s.pointee.noteType(id, payload)
                    s.pointee.appendKnownInOrder(id: id, rank: schema.rank(id), payload)
                } else {
                    s.pointee.appendCustomInOrder(key, order: Event.customOrder(key, schema), payload)
                }
                previousID = id
                previousKey = key
            }
            guard cursor.isAtEnd else {
                throw Self.error(.trailingBytes, "\(cursor.remaining) bytes after the last field", at: cursor.position)
            }
        }

        /// One top-level value as stored in `s`: string bytes appended to its byte buffer,
        /// scalars in the payload, arrays (and objects, which the caller rejects) through
        /// ``value(depth:)``. An object comes back as a payload of kind `.object`, not stored.
        @inline(__always)
        mutating func payload(into s: UnsafeMutablePointer<EventBuffers>) throws(EventCodecError) -> EventBuffers.Payload {
            let offset = cursor.position
            guard let typeByte = cursor.peekByte() else { throw Self.error(.truncated, "input ends before a value", at: offset) }
            switch ValueType(rawValue: typeByte) {
            case .string?:
                _ = cursor.readByte()
                let raw = try stringBytes(what: "string")
                let range = s.pointee.appendBytes(UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
                return EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0)
            case .int?:
                _ = cursor.readByte()
                return EventBuffers.Payload(kind: .int, flag: 0, a: UInt64(bitPattern: ByteWriter.unzigzag(try varint())), b: 0)
            case .timestamp?:
                _ = cursor.readByte()
                return EventBuffers.Payload(kind: .timestamp, flag: 0, a: UInt64(bitPattern: ByteWriter.unzigzag(try varint())), b: 0)
            case .ipv4?:
                _ = cursor.readByte()
                guard let v = cursor.readUInt32BE() else { throw Self.error(.truncated, "input ends inside an IPv4 address", at: offset) }
                let ip = IPAddress(v4: v)
                return EventBuffers.Payload(kind: .ip, flag: ip.family.rawValue, a: ip.high, b: ip.low)
            case .array?:
                if let arrays, let span = arraySpan() {
                    let hash = ArrayCache.hash(span)
                    if let kept = arrays.value(span, hash: hash) {
                        _ = cursor.readBytes(span.count)
                        return s.pointee.payload(kept)
                    }
                    let value = try value(depth: 0)
                    arrays.insert(span, hash: hash, value)
                    return s.pointee.payload(value)
                }
                return s.pointee.payload(try value(depth: 0))
            case .object?:
                _ = try value(depth: 0)
                return EventBuffers.Payload(kind: .object, flag: 0, a: 0, b: 0)
            default:
                // Scalars: no allocation in `value(depth:)` or `payload(_:)`.
                return s.pointee.payload(try value(depth: 0))
            }
        }

        /// The encoded bytes of the array of scalars at the cursor, found without decoding or
        /// checking them and without consuming them: nil when the array holds arrays or objects, is
        /// longer than ``ArrayCache/maximumBytes`` or is cut short (the full decode then says why).
        func arraySpan() -> UnsafeRawBufferPointer? {
            let bytes = cursor.bytes
            let start = cursor.position
            let end = min(bytes.count, start + ArrayCache.maximumBytes)
            var i = start + 1  // the type byte
            @inline(__always) func varint() -> UInt64? {
                var v: UInt64 = 0, shift: UInt64 = 0
                while i < end, shift < 64 {
                    let b = bytes[i]
                    i += 1
                    v |= UInt64(b & 0x7F) << shift
                    if b < 0x80 { return v }
                    shift += 7
                }
                return nil
            }
            guard let n = varint(), n <= UInt64(end - i) else { return nil }
            for _ in 0..<n {
                guard i < end, let type = ValueType(rawValue: bytes[i]) else { return nil }
                i += 1
                switch type {
                case .null, .boolFalse, .boolTrue: break
                case .int, .timestamp: guard varint() != nil else { return nil }
                case .float: i += 8
                case .ipv4: i += 4
                case .ipv6: i += 16
                case .string:
                    guard let length = varint(), length <= UInt64(end - i) else { return nil }
                    i += Int(length)
                case .array, .object: return nil
                }
                guard i <= end else { return nil }
            }
            return UnsafeRawBufferPointer(rebasing: bytes[start..<i])
        }

        /// The bytes of a length-prefixed string, checked to be well-formed UTF-8; valid while the
        /// input is.
        @inline(__always)
        mutating func stringBytes(what: StaticString) throws(EventCodecError) -> UnsafeRawBufferPointer {
            let offset = cursor.position
            let length = try count(elementSize: 1, what: what)
            guard let raw = cursor.readBytes(length) else {
                throw Self.error(.truncated, "input ends inside a \(what)", at: offset)
            }
            // Mostly ASCII: eight bytes at a time, the full check only for other text.
            guard EventBuffers.isASCII(raw) || UTF8Validation.isValid(raw) else {
                throw Self.error(.invalidUTF8, "\(what) is not valid UTF-8", at: offset)
            }
            return raw
        }

        @inline(__always)
        mutating func varint() throws(EventCodecError) -> UInt64 {
            // Most varints here (tags, lengths, counts) are one byte.
            if let b = cursor.peekByte(), b < 0x80 {
                _ = cursor.readByte()
                return UInt64(b)
            }
            return try longVarint()
        }

        @inline(never)
        mutating func longVarint() throws(EventCodecError) -> UInt64 {
            // Ten bytes left (the longest varint): no bounds check per byte.
            let bytes = cursor.bytes
            var i = cursor.position
            if bytes.count - i >= 10 {
                var result: UInt64 = 0
                var shift: UInt64 = 0
                while shift < 63 {
                    let b = bytes[i]
                    i += 1
                    result |= UInt64(b & 0x7F) << shift
                    if b < 0x80 {
                        cursor = ByteCursor(bytes, position: i)
                        return result
                    }
                    shift += 7
                }
                // The tenth byte holds the top bit only.
                let b = bytes[i]
                guard b <= 1 else { throw Self.error(.malformedVarint, "varint exceeds 64 bits", at: cursor.position) }
                cursor = ByteCursor(bytes, position: i + 1)
                return result | UInt64(b) << 63
            }
            switch cursor.readVarint() {
            case .value(let v): return v
            case .truncated: throw Self.error(.truncated, "input ends inside a varint", at: cursor.position)
            case .overflow: throw Self.error(.malformedVarint, "varint exceeds 64 bits", at: cursor.position)
            }
        }

        /// A count whose items take at least `elementSize` bytes each.
        @inline(__always)
        mutating func count(elementSize: Int, what: StaticString) throws(EventCodecError) -> Int {
            let offset = cursor.position
            let n = try varint()
            guard n <= UInt64(cursor.remaining / elementSize) else {
                throw Self.error(.countTooLarge, "\(what) count \(n) exceeds the remaining \(cursor.remaining) bytes", at: offset)
            }
            return Int(n)
        }

        mutating func string(what: StaticString) throws(EventCodecError) -> String {
            JSONReader.makeString(try stringBytes(what: what))
        }

        mutating func value(depth: Int) throws(EventCodecError) -> FieldValue {
            let offset = cursor.position
            guard let typeByte = cursor.readByte() else { throw Self.error(.truncated, "input ends before a value", at: offset) }
            guard let type = ValueType(rawValue: typeByte) else {
                throw Self.error(.unknownValueType, "unknown value type \(typeByte)", at: offset)
            }
            switch type {
            case .null: return .null
            case .boolFalse: return .bool(false)
            case .boolTrue: return .bool(true)
            case .int: return .int(ByteWriter.unzigzag(try varint()))
            case .float:
                guard let bits = cursor.readUInt64LE() else { throw Self.error(.truncated, "input ends inside a float", at: offset) }
                return .float(Double(bitPattern: bits))
            case .string: return .string(try string(what: "string"))
            case .timestamp: return .timestamp(Timestamp(nanoseconds: ByteWriter.unzigzag(try varint())))
            case .ipv4:
                guard let v = cursor.readUInt32BE() else { throw Self.error(.truncated, "input ends inside an IPv4 address", at: offset) }
                return .ip(IPAddress(v4: v))
            case .ipv6:
                guard let hi = cursor.readUInt64BE(), let lo = cursor.readUInt64BE() else {
                    throw Self.error(.truncated, "input ends inside an IPv6 address", at: offset)
                }
                return .ip(IPAddress(v6High: hi, low: lo))
            case .array:
                guard depth < FieldValue.maximumNestingDepth else { throw Self.depthError(at: offset) }
                let n = try count(elementSize: 1, what: "array element")
                var elements: [FieldValue] = []
                elements.reserveCapacity(Swift.min(n, 4096))
                for _ in 0..<n { elements.append(try value(depth: depth + 1)) }
                return .array(elements)
            case .object:
                guard depth < FieldValue.maximumNestingDepth else { throw Self.depthError(at: offset) }
                let n = try count(elementSize: 2, what: "object member")
                var members: [FieldObject.Member] = []
                members.reserveCapacity(Swift.min(n, 4096))
                for _ in 0..<n {
                    let key = try string(what: "object key")
                    members.append(FieldObject.Member(key, try value(depth: depth + 1)))
                }
                return .object(FieldObject(members))
            }
        }

        @inline(never)
        static func error(_ code: EventCodecError.Code, _ message: String, at offset: Int) -> EventCodecError {
            EventCodecError(code: code, message: message, offset: offset)
        }

        @inline(never)
        static func depthError(at offset: Int) -> EventCodecError {
            EventCodecError(code: .depthLimitExceeded,
                            message: "values nest deeper than \(FieldValue.maximumNestingDepth) levels", offset: offset)
        }
    }
}
