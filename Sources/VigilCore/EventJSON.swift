/// The JSON form of an ``Event``: one compact object per event, nested the ECS way.
///
/// **Output.** `{"@timestamp":"2024-05-01T12:00:00Z","source":{"ip":"10.0.0.1","port":22}}`:
/// dotted keys become nested objects, members in key order at every level (see
/// ``Event/keyPrecedes(_:_:)``). Strings are escaped per RFC 8259 (`\"`, `\\`, `\b \f \n \r \t`,
/// other control characters as `\u00XX`; everything else raw UTF-8). Ints are decimal. Floats use
/// the shortest digits that read back exactly and always carry a fraction or exponent (`1.0`,
/// `1e+16`, `-0.0`); NaN and infinities have no JSON form and are written as `null`. Timestamps
/// are RFC 3339 strings, IP addresses their canonical text. Objects inside arrays keep their
/// member order.
///
/// **Input.** A JSON object (UTF-8, optional surrounding whitespace). Nested objects flatten into
/// dotted keys and dotted member names are accepted as they are, so `{"source":{"ip":…}}` and
/// `{"source.ip":…}` are the same event. Two members that flatten to the same key, or where one
/// key is a dotted prefix of another (`"a":1` with `"a.b":2`), are rejected
/// (`.conflictingFields`). Values of known ``Schema`` fields are converted to the declared type:
/// strings to timestamps and IP addresses, integer literals to floats, integral numbers to ints;
/// `null` fits every field; any other mismatch is a `.typeMismatch` error naming the field.
/// Custom fields are typed from the JSON: an integer literal is an int (a float if it does not fit
/// `Int64`), a literal with a fraction or exponent a float, then string, bool, null, array, and
/// objects inside arrays. Parsing is hand-written and bounds-checked: nesting is limited
/// (``maximumObjectDepth`` event-level objects, ``FieldValue/maximumNestingDepth`` levels of
/// arrays and objects within a value), `\u` escapes (including surrogate pairs) are decoded,
/// invalid UTF-8, unpaired surrogates and trailing bytes are errors, and errors give a byte offset.
///
/// **Round trip.** `EventJSON.decode(EventJSON.encode(e)) == e` holds, with float bit patterns
/// preserved, for every event `e` such that:
/// - each known field holds a value of its declared type, or `.null`;
/// - each custom field holds a string, int, finite float, bool, null, or an array (of such
///   values, arrays and objects), never a timestamp or IP address (those come back as strings);
/// - no float anywhere is NaN or infinite (they come back as `null`);
/// - no key has more than ``maximumObjectDepth`` dotted segments and no value nests deeper than
///   ``FieldValue/maximumNestingDepth``.
/// Inside arrays, values of known array fields follow the element type (`dns.resolved_ip` holds
/// IPs), and objects' members follow the custom-field rules above.
public enum EventJSON {
    /// The deepest nesting of event-level objects (dotted key segments) accepted on input.
    public static let maximumObjectDepth = 64

    // MARK: Encoding

    /// Appends `event` as one compact JSON object (no trailing newline) to `buffer`.
    /// - Complexity: O(total size of the event); no allocation besides `buffer`'s growth
    ///   (and rare long float texts).
    public static func encode(_ event: Event, into buffer: inout [UInt8]) {
        JSONWriter.writeEvent(event, to: &buffer)
    }

    /// `event` as UTF-8 JSON bytes.
    public static func encode(_ event: Event) -> [UInt8] {
        var buffer: [UInt8] = []
        JSONWriter.writeEvent(event, to: &buffer)
        return buffer
    }

    /// `event` as a JSON `String`.
    public static func encodeString(_ event: Event) -> String {
        String(decoding: encode(event), as: UTF8.self)
    }

    /// Appends a single value as JSON (objects as objects, arrays as arrays) to `buffer`.
    public static func encode(_ value: FieldValue, into buffer: inout [UInt8]) {
        JSONWriter.writeValue(value, to: &buffer)
    }

    // MARK: Decoding

    /// Decodes one event from a JSON object occupying all of `bytes`.
    /// - Throws: ``EventCodecError`` with a byte offset; never traps on any input.
    /// - Complexity: O(n) for input in key order (such as this type's output), O(n log n) otherwise.
    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(EventCodecError) -> Event {
        var reader = JSONReader(bytes)
        reader.skipWhitespace()
        guard reader.peek() == UInt8(ascii: "{") else {
            if reader.peek() == nil { throw JSONReader.error(.truncated, "empty input; expected a JSON object", at: reader.position) }
            throw JSONReader.error(.notAnObject, "an event must be a JSON object", at: reader.position)
        }
        var builder = EventBuilder()
        try builder.readObject(&reader, level: 0)
        guard reader.isAtEndIgnoringWhitespace() else {
            throw JSONReader.error(.trailingBytes, "unexpected bytes after the event object", at: reader.position)
        }
        return try builder.finish()
    }

    /// Decodes one event from JSON bytes; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public static func decode(_ bytes: [UInt8]) throws(EventCodecError) -> Event {
        // `withUnsafeBytes` is `rethrows` (untyped); carry the typed error out in a `Result`.
        try bytes.withUnsafeBytes { raw in Result { () throws(EventCodecError) in try decode(raw) } }.get()
    }

    /// Decodes one event from JSON text; see ``decode(_:)-(UnsafeRawBufferPointer)``.
    public static func decode(_ text: String) throws(EventCodecError) -> Event {
        var text = text
        return try text.withUTF8 { utf8 in
            Result { () throws(EventCodecError) in try decode(UnsafeRawBufferPointer(utf8)) }
        }.get()
    }

    /// Decodes any single JSON value, typed as for custom fields (objects stay objects).
    public static func decodeValue(_ bytes: UnsafeRawBufferPointer) throws(EventCodecError) -> FieldValue {
        var reader = JSONReader(bytes)
        reader.skipWhitespace()
        let value = try reader.readValue(expected: nil, fieldID: 0, depth: 0)
        guard reader.isAtEndIgnoringWhitespace() else {
            throw JSONReader.error(.trailingBytes, "unexpected bytes after the value", at: reader.position)
        }
        return value
    }

    /// Collects flattened fields while reading, then sorts and validates them.
    struct EventBuilder {
        var fields: [Event.Field] = []
        /// The byte offset of each field's member name, for error messages.
        var offsets: [Int] = []
        /// The dotted key of the member being read.
        var path: [UInt8] = []

        init() {
            fields.reserveCapacity(16)
            offsets.reserveCapacity(16)
            path.reserveCapacity(64)
        }

        /// Reads an event-level object at `reader` (which is at `{`), flattening into `fields`.
        mutating func readObject(_ reader: inout JSONReader, level: Int) throws(EventCodecError) {
            guard level < EventJSON.maximumObjectDepth else {
                throw JSONReader.error(.depthLimitExceeded,
                                       "event objects nest deeper than \(EventJSON.maximumObjectDepth) levels", at: reader.position)
            }
            try reader.expect(UInt8(ascii: "{"), "'{'")
            reader.skipWhitespace()
            if reader.peek() == UInt8(ascii: "}") {
                try reader.expect(UInt8(ascii: "}"), "'}'")
                return
            }
            while true {
                reader.skipWhitespace()
                guard reader.peek() == UInt8(ascii: "\"") else { throw reader.unexpected("a member name") }
                let keyOffset = reader.position
                let saved = path.count
                if level > 0 { path.append(UInt8(ascii: ".")) }
                try reader.readString(appendingTo: &path)
                reader.skipWhitespace()
                try reader.expect(UInt8(ascii: ":"), "':' after member name")
                reader.skipWhitespace()
                if reader.peek() == UInt8(ascii: "{") {
                    try readObject(&reader, level: level + 1)
                } else {
                    let id = path.withUnsafeBytes { Schema.id(utf8: $0) }
                    let key: String
                    let value: FieldValue
                    if id != 0 {
                        key = Schema.namesByID[Int(id)]
                        value = try reader.readValue(expected: Schema.typesByID[Int(id)], fieldID: id, depth: 0)
                    } else {
                        key = String(decoding: path, as: UTF8.self)
                        value = try reader.readValue(expected: nil, fieldID: 0, depth: 0)
                    }
                    fields.append(Event.Field(key: key, value: value, schemaID: id))
                    offsets.append(keyOffset)
                }
                path.removeLast(path.count - saved)
                reader.skipWhitespace()
                if reader.peek() == UInt8(ascii: ",") {
                    try reader.expect(UInt8(ascii: ","), "','")
                    continue
                }
                try reader.expect(UInt8(ascii: "}"), "',' or '}' in object")
                return
            }
        }

        /// Whether `a` and `b` (with `a` first in key order) may coexist: not equal, not nested.
        static func compatible(_ a: Event.Field, _ b: Event.Field) -> (ordered: Bool, duplicate: Bool, nested: Bool) {
            let order = Event.compareKeys(a, b)
            return (order < 0, order == 0, order < 0 && Event.isDottedPrefix(a, of: b))
        }

        @inline(never)
        static func conflict(_ a: Event.Field, _ b: Event.Field, duplicate: Bool, at offset: Int) -> EventCodecError {
            let message = duplicate
                ? "field '\(displayKey(b.key))' appears twice"
                : "field '\(displayKey(a.key))' conflicts with '\(displayKey(b.key))': a key cannot be both a value and an object"
            return JSONReader.error(.conflictingFields, message, at: offset)
        }

        /// The event when every field is known, the schema is prefix-free and no field
        /// repeats: the fields sorted by their ranks as plain integers (no key comparisons, no
        /// field copies per comparison). Nil otherwise, leaving the general path to sort and to
        /// report conflicts.
        func sortedKnownFields() -> Event? {
            let schema = Schema.index
            guard schema.prefixFree else { return nil }
            var order: [UInt64] = []
            order.reserveCapacity(fields.count)
            for (index, field) in fields.enumerated() {
                guard field.schemaID != 0 else { return nil }
                order.append(UInt64(schema.rank(field.schemaID)) << 32 | UInt64(index))
            }
            order.sort()
            for k in order.indices.dropFirst() where order[k] >> 32 == order[k - 1] >> 32 { return nil }
            return Event(validatedSortedFields: order.map { fields[Int(truncatingIfNeeded: $0 & 0xFFFF_FFFF)] })
        }

        consuming func finish() throws(EventCodecError) -> Event {
            var sorted = true
            for k in fields.indices.dropFirst() {
                let (ordered, duplicate, nested) = Self.compatible(fields[k - 1], fields[k])
                if duplicate || nested { throw Self.conflict(fields[k - 1], fields[k], duplicate: duplicate, at: offsets[k]) }
                if !ordered { sorted = false; break }
            }
            if sorted { return Event(validatedSortedFields: fields) }
            if let event = sortedKnownFields() { return event }

            let fields = self.fields
            var order = Array(fields.indices)
            order.sort { Event.compareKeys(fields[$0], fields[$1]) < 0 }
            for k in order.indices.dropFirst() {
                let (i, j) = (order[k - 1], order[k])
                let (_, duplicate, nested) = Self.compatible(fields[i], fields[j])
                if duplicate || nested {
                    let (first, second) = i < j ? (i, j) : (j, i)
                    throw Self.conflict(fields[first], fields[second], duplicate: duplicate, at: offsets[second])
                }
            }
            return Event(validatedSortedFields: order.map { fields[$0] })
        }
    }
}
