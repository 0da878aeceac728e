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
        return builder.finish()
    }

    /// Decodes one event from a JSON object occupying all of `bytes` into `event`, replacing its
    /// fields and reusing its storage (a parser decoding one line after another into the same
    /// event). On failure `event` is left empty.
    package static func decode(_ bytes: UnsafeRawBufferPointer, reusing event: inout Event) throws(EventCodecError) {
        var builder = EventBuilder()
        swap(&builder.event, &event)
        builder.event.removeAll(keepingCapacity: true)
        do throws(EventCodecError) {
            var reader = JSONReader(bytes)
            reader.skipWhitespace()
            guard reader.peek() == UInt8(ascii: "{") else {
                if reader.peek() == nil { throw JSONReader.error(.truncated, "empty input; expected a JSON object", at: reader.position) }
                throw JSONReader.error(.notAnObject, "an event must be a JSON object", at: reader.position)
            }
            try builder.readObject(&reader, level: 0)
            guard reader.isAtEndIgnoringWhitespace() else {
                throw JSONReader.error(.trailingBytes, "unexpected bytes after the event object", at: reader.position)
            }
        } catch {
            swap(&builder.event, &event)
            event.removeAll(keepingCapacity: true)
            throw error
        }
        event = builder.finish()
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

    /// Stores flattened fields straight into an event while reading (string values go from the
    /// input to the event's bytes without a `String`), then sorts and validates them.
    struct EventBuilder {
        var event = Event()
        /// The dotted key of the member being read is `path[0..<pathLength]`: the array only
        /// grows, so leaving a member changes a length instead of removing array elements.
        var path = [UInt8](repeating: 0, count: 64)
        var pathLength = 0

        init() {}

        /// Appends `bytes` to the key being read.
        @inline(__always)
        mutating func appendToPath(_ bytes: UnsafeRawBufferPointer) {
            let n = bytes.count
            guard n > 0 else { return }
            if pathLength + n > path.count { path.append(contentsOf: repeatElement(0, count: max(pathLength + n - path.count, path.count))) }
            let at = pathLength
            path.withUnsafeMutableBytes { $0.baseAddress!.advanced(by: at).copyMemory(from: bytes.baseAddress!, byteCount: n) }
            pathLength += n
        }

        /// Reads an event-level object at `reader` (which is at `{`), flattening into `event`.
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
                let saved = pathLength
                if level > 0 {
                    var dot = UInt8(ascii: ".")
                    withUnsafeBytes(of: &dot) { appendToPath($0) }
                }
                try reader.withStringBytes { appendToPath($0) }
                reader.skipWhitespace()
                try reader.expect(UInt8(ascii: ":"), "':' after member name")
                reader.skipWhitespace()
                if reader.peek() == UInt8(ascii: "{") {
                    try readObject(&reader, level: level + 1)
                } else {
                    try readLeaf(&reader, keyOffset: keyOffset)
                }
                pathLength = saved
                reader.skipWhitespace()
                if reader.peek() == UInt8(ascii: ",") {
                    try reader.expect(UInt8(ascii: ","), "','")
                    continue
                }
                try reader.expect(UInt8(ascii: "}"), "',' or '}' in object")
                return
            }
        }

        /// Reads the value of the member at `path` and stores it, unsorted, after the others.
        private mutating func readLeaf(_ reader: inout JSONReader, keyOffset: Int) throws(EventCodecError) {
            let schema = Schema.index
            let length = pathLength
            let id = path.withUnsafeBytes { schema.id(UnsafeRawBufferPointer(rebasing: $0[..<length])) }
            let expected: Schema.FieldType? = id != 0 ? Schema.typesByID[Int(id)] : nil
            let s = event.unique().buffers
            let payload: EventBuffers.Payload
            if reader.peek() == UInt8(ascii: "\""), expected == nil || expected == .string {
                let range = try reader.withStringBytes { (raw: UnsafeRawBufferPointer) -> UInt64 in
                    s.pointee.appendBytes(UnsafeBufferPointer(start: raw.baseAddress?.assumingMemoryBound(to: UInt8.self), count: raw.count))
                }
                payload = EventBuffers.Payload(kind: .string, flag: 0, a: range, b: 0)
            } else {
                payload = s.pointee.payload(try reader.readValue(expected: expected, fieldID: id, depth: 0))
            }
            let conflict: Event.Entry?
            if id != 0 {
                conflict = s.pointee.addKnown(id: id, rank: schema.rank(id), payload)
            } else {
                conflict = path.withUnsafeBufferPointer { (whole: UnsafeBufferPointer<UInt8>) in
                    let p = UnsafeBufferPointer(rebasing: whole[..<length])
                    return s.pointee.assignCustom(p, order: Event.customOrder(p, schema), payload, rejectConflicts: true)
                }
            }
            if let conflict {
                let key = String(decoding: path[..<length], as: UTF8.self)
                let other = s.pointee.withKeyBytes(conflict) { String(decoding: $0, as: UTF8.self) }
                let message = other == key
                    ? "field '\(displayKey(key))' appears twice"
                    : "field '\(displayKey(other))' conflicts with '\(displayKey(key))': a key cannot be both a value and an object"
                throw JSONReader.error(.conflictingFields, message, at: keyOffset)
            }
        }

        consuming func finish() -> Event { event }
    }
}
