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

        /// The bytes as they are.
        @inline(__always) mutating func raw(_ bytes: UnsafeBufferPointer<UInt8>) {
            if let source = bytes.baseAddress, bytes.count > 0 { copyBytes(base + count, source, bytes.count) }
            count += bytes.count
        }

        /// A varint length and the bytes.
        @inline(__always) mutating func counted(_ bytes: UnsafeBufferPointer<UInt8>) {
            varint(UInt64(bytes.count))
            if let source = bytes.baseAddress, bytes.count > 0 { copyBytes(base + count, source, bytes.count) }
            count += bytes.count
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
        var decoder = Decoder(cursor: ByteCursor(bytes))
        return try decoder.event()
    }

    /// Decodes one event that occupies all of `bytes`; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public static func decode(_ bytes: [UInt8]) throws(EventCodecError) -> Event {
        // `withUnsafeBytes` is `rethrows` (untyped); carry the typed error out in a `Result`.
        try bytes.withUnsafeBytes { raw in Result { () throws(EventCodecError) in try decode(raw) } }.get()
    }

    struct Decoder {
        var cursor: ByteCursor

        mutating func event() throws(EventCodecError) -> Event {
            guard let version = cursor.readByte() else { throw Self.error(.truncated, "empty input", at: 0) }
            guard version == EventBinaryCodec.formatVersion else {
                throw Self.error(.unsupportedVersion,
                                 "format version \(version); this build reads version \(EventBinaryCodec.formatVersion)", at: 0)
            }
            // Each field takes at least two bytes: a tag and a value type.
            let count = try count(elementSize: 2, what: "field")
            var fields: [Event.Field] = []
            fields.reserveCapacity(Swift.min(count, 256))
            let names = Schema.namesByID
            for index in 0..<count {
                let tagOffset = cursor.position
                let tag = try varint()
                let key: String
                let id: UInt16
                if tag == EventBinaryCodec.customFieldTag {
                    key = try string(what: "field key")
                    id = Schema.id(named: key)      // a writer may not have known this field yet
                } else if tag < UInt64(names.count), !names[Int(tag)].isEmpty {
                    key = names[Int(tag)]
                    id = UInt16(tag)
                } else {
                    throw Self.error(.unknownTag, "field \(index) has unknown tag \(tag)", at: tagOffset)
                }
                let valueOffset = cursor.position
                let value = try value(depth: 0)
                if case .object = value {
                    throw Self.error(.invalidValue, "field \(index) holds an object directly; objects must be flattened", at: valueOffset)
                }
                if let previous = fields.last {
                    var a = previous.key, b = key
                    let ordered = a.withUTF8 { pa in
                        b.withUTF8 { pb in Event.compareKeys(pa, pb) < 0 && !Event.isDottedPrefix(pa, of: pb) }
                    }
                    if !ordered {
                        throw Self.error(.conflictingFields,
                                         "field \(index) repeats, precedes or is nested under field \(index - 1)", at: tagOffset)
                    }
                }
                fields.append(Event.Field(key: key, value: value, schemaID: id))
            }
            guard cursor.isAtEnd else {
                throw Self.error(.trailingBytes, "\(cursor.remaining) bytes after the last field", at: cursor.position)
            }
            return Event(validatedSortedFields: fields)
        }

        mutating func varint() throws(EventCodecError) -> UInt64 {
            switch cursor.readVarint() {
            case .value(let v): return v
            case .truncated: throw Self.error(.truncated, "input ends inside a varint", at: cursor.position)
            case .overflow: throw Self.error(.malformedVarint, "varint exceeds 64 bits", at: cursor.position)
            }
        }

        /// A count whose items take at least `elementSize` bytes each.
        mutating func count(elementSize: Int, what: StaticString) throws(EventCodecError) -> Int {
            let offset = cursor.position
            let n = try varint()
            guard n <= UInt64(cursor.remaining / elementSize) else {
                throw Self.error(.countTooLarge, "\(what) count \(n) exceeds the remaining \(cursor.remaining) bytes", at: offset)
            }
            return Int(n)
        }

        mutating func string(what: StaticString) throws(EventCodecError) -> String {
            let offset = cursor.position
            let length = try count(elementSize: 1, what: what)
            guard let raw = cursor.readBytes(length) else {
                throw Self.error(.truncated, "input ends inside a \(what)", at: offset)
            }
            guard UTF8Validation.isValid(raw) else {
                throw Self.error(.invalidUTF8, "\(what) is not valid UTF-8", at: offset)
            }
            return JSONReader.makeString(raw)
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
