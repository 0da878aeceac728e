// A small RFC 8259 JSON writer and reader over raw bytes, used by EventJSON. No Foundation.

// MARK: - Writer

/// Writes compact JSON text into `[UInt8]` buffers.
package enum JSONWriter {
    /// Appends `string` as a JSON string literal.
    ///
    /// `"` and `\` are escaped, `\b \f \n \r \t` use their short escapes, every other control
    /// character (U+0000–U+001F) is written as `\u00XX`; everything else is copied as UTF-8.
    @inlinable
    public static func writeString(_ string: String, to out: inout [UInt8]) {
        var string = string
        string.withUTF8 { writeString(utf8: $0, to: &out) }
    }

    /// `string` as a JSON string literal (quotes included); see ``writeString(_:to:)``.
    package static func quoted(_ string: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(string.utf8.count + 2)
        writeString(string, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends UTF-8 bytes as a JSON string literal; see ``writeString(_:to:)``.
    @usableFromInline
    package static func writeString(utf8 bytes: UnsafeBufferPointer<UInt8>, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var runStart = 0
        for i in 0..<bytes.count {
            let b = bytes[i]
            if b >= 0x20 && b != UInt8(ascii: "\"") && b != UInt8(ascii: "\\") { continue }
            if runStart < i { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
            runStart = i + 1
            out.append(UInt8(ascii: "\\"))
            switch b {
            case UInt8(ascii: "\""): out.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): out.append(UInt8(ascii: "\\"))
            case 0x08: out.append(UInt8(ascii: "b"))
            case 0x0C: out.append(UInt8(ascii: "f"))
            case 0x0A: out.append(UInt8(ascii: "n"))
            case 0x0D: out.append(UInt8(ascii: "r"))
            case 0x09: out.append(UInt8(ascii: "t"))
            default:
                let hex: StaticString = "0123456789abcdef"
                out.append(UInt8(ascii: "u"))
                out.append(UInt8(ascii: "0"))
                out.append(UInt8(ascii: "0"))
                out.append(hex.utf8Start[Int(b >> 4)])
                out.append(hex.utf8Start[Int(b & 0xF)])
            }
        }
        if runStart < bytes.count { out.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        out.append(UInt8(ascii: "\""))
    }

    /// Appends the decimal digits of `value`.
    package static func writeInt(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 { out.append(UInt8(ascii: "-")) }
        var magnitude = value.magnitude
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 20) { digits in
            var k = 20
            repeat {
                k -= 1
                digits[k] = UInt8(truncatingIfNeeded: 48 + magnitude % 10)
                magnitude /= 10
            } while magnitude != 0
            out.append(contentsOf: UnsafeBufferPointer(rebasing: digits[k...]))
        }
    }

    /// Appends a finite double with the shortest digits that read back exactly, always with a
    /// fraction or an exponent (`1.0`, `1e+16`, `-0.0`) so it reads back as a float.
    /// Non-finite values have no JSON form and are written as `null`.
    package static func writeDouble(_ value: Double, to out: inout [UInt8]) {
        guard value.isFinite else {
            out.append(contentsOf: "null".utf8)
            return
        }
        var text = value.description      // Swift prints shortest round-trip digits, e.g. "1.0", "5e-324"
        text.withUTF8 { out.append(contentsOf: $0) }
    }

    /// Appends a value. Objects keep their member order; timestamps are RFC 3339 strings and IP
    /// addresses their text form.
    package static func writeValue(_ value: FieldValue, to out: inout [UInt8]) {
        switch value {
        case .string(let s):
            writeString(s, to: &out)
        case .int(let v):
            writeInt(v, to: &out)
        case .float(let d):
            writeDouble(d, to: &out)
        case .bool(let b):
            out.append(contentsOf: b ? "true".utf8 : "false".utf8)
        case .timestamp(let t):
            out.append(UInt8(ascii: "\""))
            t.appendRFC3339(to: &out)
            out.append(UInt8(ascii: "\""))
        case .ip(let address):
            out.append(UInt8(ascii: "\""))
            address.appendText(to: &out)
            out.append(UInt8(ascii: "\""))
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            var first = true
            for e in elements {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeValue(e, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            var first = true
            for m in object.members {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                writeString(m.key, to: &out)
                out.append(UInt8(ascii: ":"))
                writeValue(m.value, to: &out)
            }
            out.append(UInt8(ascii: "}"))
        case .null:
            out.append(contentsOf: "null".utf8)
        }
    }

    /// Appends `event` as one JSON object, nesting dotted keys (`a.b` becomes `{"a":{"b":…}}`).
    ///
    /// Fields are visited in key order, which sorts by dotted segments, so every object's members
    /// come out sorted and each key's parents are still open when it is reached.
    package static func writeEvent(_ event: Event, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        var openObjects = 0
        var needComma = false
        var previous: UnsafeBufferPointer<UInt8>? = nil
        event.forEachField { k, _, value in
            // Segments shared with the previous key's parents: the dots in the common prefix.
            var common = 0
            if let p = previous {
                let n = min(p.count, k.count)
                var i = 0
                while i < n && p[i] == k[i] {
                    if k[i] == UInt8(ascii: ".") { common += 1 }
                    i += 1
                }
            }
            while openObjects > common {
                out.append(UInt8(ascii: "}"))
                openObjects -= 1
                needComma = true
            }
            // Skip the `common` shared segments, open the rest, then write the leaf.
            var segmentStart = 0
            var skipped = 0
            var i = 0
            while i < k.count {
                if k[i] == UInt8(ascii: ".") {
                    if skipped < common {
                        skipped += 1
                    } else {
                        if needComma { out.append(UInt8(ascii: ",")) }
                        writeString(utf8: UnsafeBufferPointer(rebasing: k[segmentStart..<i]), to: &out)
                        out.append(UInt8(ascii: ":"))
                        out.append(UInt8(ascii: "{"))
                        openObjects += 1
                        needComma = false
                    }
                    segmentStart = i + 1
                }
                i += 1
            }
            if needComma { out.append(UInt8(ascii: ",")) }
            writeString(utf8: UnsafeBufferPointer(rebasing: k[segmentStart...]), to: &out)
            out.append(UInt8(ascii: ":"))
            switch value {
            case .string(let bytes): writeString(utf8: bytes, to: &out)
            case .other(let v): writeValue(v, to: &out)
            }
            needComma = true
            previous = k
        }
        while openObjects > 0 {
            out.append(UInt8(ascii: "}"))
            openObjects -= 1
        }
        out.append(UInt8(ascii: "}"))
    }
}

// MARK: - Reader

/// A bounds-checked RFC 8259 reader over borrowed bytes.
///
/// Rejects invalid UTF-8, unpaired surrogate escapes, control characters in strings, leading
/// zeros, `NaN`/`Infinity`, comments and trailing commas. Every error carries a byte offset.
package struct JSONReader {
    let p: UnsafeRawBufferPointer
    /// The offset of the next unread byte.
    package private(set) var position: Int = 0
    /// Decoded text of strings with escapes.
    private var scratch: [UInt8] = []

    package init(_ bytes: UnsafeRawBufferPointer) { p = bytes }

    // MARK: Errors

    @inline(never)
    static func error(_ code: EventCodecError.Code, _ message: String, at offset: Int) -> EventCodecError {
        EventCodecError(code: code, message: message, offset: offset)
    }

    @inline(never)
    func unexpected(_ expectation: StaticString) -> EventCodecError {
        if position >= p.count {
            return Self.error(.truncated, "input ends; expected \(expectation)", at: position)
        }
        let b = p[position]
        let found = b >= 0x21 && b < 0x7F ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
        return Self.error(.syntax, "expected \(expectation), found \(found)", at: position)
    }

    @inline(never)
    static func mismatch(_ fieldID: UInt16, at offset: Int, _ detail: StaticString) -> EventCodecError {
        let field = Schema.field(id: fieldID)
        let name = field?.name ?? "?"
        let type = field.map { "\($0.type)" } ?? "?"
        return error(.typeMismatch, "field '\(name)' expects \(type); \(detail)", at: offset)
    }

    // MARK: Tokens

    /// Whether all input has been read (ignoring whitespace).
    package mutating func isAtEndIgnoringWhitespace() -> Bool {
        skipWhitespace()
        return position >= p.count
    }

    @inline(__always)
    package mutating func skipWhitespace() {
        while position < p.count {
            switch p[position] {
            case 0x20, 0x09, 0x0A, 0x0D: position += 1
            default: return
            }
        }
    }

    @inline(__always)
    package func peek() -> UInt8? { position < p.count ? p[position] : nil }

    @inline(__always)
    mutating func expect(_ byte: UInt8, _ expectation: StaticString) throws(EventCodecError) {
        guard position < p.count, p[position] == byte else { throw unexpected(expectation) }
        position += 1
    }

    mutating func literal(_ text: StaticString) throws(EventCodecError) {
        let start = position
        let count = text.utf8CodeUnitCount
        guard p.count - position >= count else { throw Self.error(.truncated, "input ends inside a literal", at: start) }
        for k in 0..<count where p[position + k] != text.utf8Start[k] {
            throw Self.error(.syntax, "invalid literal", at: start)
        }
        position += count
    }

    // MARK: Strings

    /// Scans a string literal starting at `"`; returns the byte range between the quotes and
    /// whether it contains escapes. Validates UTF-8 and rejects raw control characters.
    mutating func scanString() throws(EventCodecError) -> (start: Int, end: Int, escaped: Bool) {
        let open = position
        try expect(UInt8(ascii: "\""), "'\"'")
        let start = position
        var escaped = false
        var i = position
        let ones: UInt64 = 0x0101_0101_0101_0101, high: UInt64 = 0x8080_8080_8080_8080
        while true {
            // Eight bytes at a time up to the first quote, backslash, control character or
            // non-ASCII byte, which is then handled below one byte at a time, as before. (The
            // lowest flagged byte of a word is exact: borrows only flag bytes above a match.)
            while i + 8 <= p.count {
                let x = p.loadUnaligned(fromByteOffset: i, as: UInt64.self)
                let quote = x ^ 0x2222_2222_2222_2222, backslash = x ^ 0x5C5C_5C5C_5C5C_5C5C
                let special = (((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((x &- 0x2020_2020_2020_2020) & ~x) | x) & high
                if special != 0 {
                    i += special.trailingZeroBitCount >> 3
                    break
                }
                i += 8
            }
            guard i < p.count else { throw Self.error(.truncated, "unterminated string", at: open) }
            let b = p[i]
            if b == UInt8(ascii: "\"") {
                position = i + 1
                return (start, i, escaped)
            }
            if b == UInt8(ascii: "\\") {
                escaped = true
                i += 2            // the escape's validity is checked when decoding
                continue
            }
            if b < 0x20 { throw Self.error(.syntax, "unescaped control character in string", at: i) }
            if b < 0x80 { i += 1; continue }
            let length = UTF8Validation.sequenceLength(p, at: i)
            guard length > 0 else { throw Self.error(.invalidUTF8, "string is not valid UTF-8", at: i) }
            i += length
        }
    }

    @inline(__always)
    private static func hex4(_ p: UnsafeRawBufferPointer, _ at: Int) -> UInt32? {
        var v: UInt32 = 0
        for k in at..<(at + 4) {
            let b = p[k]
            let d: UInt32
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - 48)
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - 87)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - 55)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }

    /// Appends the decoded text of the string body `p[start..<end]` (escapes resolved) to `out`.
    static func decodeEscapes(_ p: UnsafeRawBufferPointer, _ start: Int, _ end: Int, into out: inout [UInt8]) throws(EventCodecError) {
        var k = start
        var runStart = start
        while k < end {
            guard p[k] == UInt8(ascii: "\\") else { k += 1; continue }
            if runStart < k { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[runStart..<k])) }
            guard k + 1 < end else { throw error(.invalidEscape, "incomplete escape", at: k) }
            var next = k + 2
            switch p[k + 1] {
            case UInt8(ascii: "\""): out.append(0x22)
            case UInt8(ascii: "\\"): out.append(0x5C)
            case UInt8(ascii: "/"): out.append(0x2F)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard end - k >= 6, let unit = hex4(p, k + 2) else {
                    throw error(.invalidEscape, "\\u must be followed by four hex digits", at: k)
                }
                next = k + 6
                var scalar = unit
                if unit >= 0xD800 && unit <= 0xDBFF {
                    guard end - next >= 6, p[next] == UInt8(ascii: "\\"), p[next + 1] == UInt8(ascii: "u"),
                          let low = hex4(p, next + 2), low >= 0xDC00, low <= 0xDFFF
                    else { throw error(.invalidUTF8, "high surrogate escape without a low surrogate", at: k) }
                    scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
                    next += 6
                } else if unit >= 0xDC00 && unit <= 0xDFFF {
                    throw error(.invalidUTF8, "low surrogate escape without a high surrogate", at: k)
                }
                appendUTF8(scalar, to: &out)
            default:
                throw error(.invalidEscape, "unknown escape", at: k)
            }
            k = next
            runStart = next
        }
        if runStart < end { out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[runStart..<end])) }
    }

    @inline(__always)
    static func appendUTF8(_ scalar: UInt32, to out: inout [UInt8]) {
        switch scalar {
        case 0..<0x80:
            out.append(UInt8(scalar))
        case 0x80..<0x800:
            out.append(UInt8(0xC0 | scalar >> 6))
            out.append(UInt8(0x80 | scalar & 0x3F))
        case 0x800..<0x10000:
            out.append(UInt8(0xE0 | scalar >> 12))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        default:
            out.append(UInt8(0xF0 | scalar >> 18))
            out.append(UInt8(0x80 | scalar >> 12 & 0x3F))
            out.append(UInt8(0x80 | scalar >> 6 & 0x3F))
            out.append(UInt8(0x80 | scalar & 0x3F))
        }
    }

    /// Reads a string literal and appends its decoded UTF-8 to `out`.
    package mutating func readString(appendingTo out: inout [UInt8]) throws(EventCodecError) {
        let (start, end, escaped) = try scanString()
        if escaped {
            try Self.decodeEscapes(p, start, end, into: &out)
        } else {
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: p[start..<end]))
        }
    }

    /// Reads a string literal.
    package mutating func readString() throws(EventCodecError) -> String {
        let (start, end, escaped) = try scanString()
        if !escaped { return Self.makeString(UnsafeRawBufferPointer(rebasing: p[start..<end])) }
        scratch.removeAll(keepingCapacity: true)
        try Self.decodeEscapes(p, start, end, into: &scratch)
        return scratch.withUnsafeBytes { Self.makeString($0) }
    }

    /// Reads a string literal and hands its decoded bytes to `body` without building a `String`.
    mutating func withStringBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) throws(EventCodecError) -> R {
        let (start, end, escaped) = try scanString()
        if !escaped { return body(UnsafeRawBufferPointer(rebasing: p[start..<end])) }
        scratch.removeAll(keepingCapacity: true)
        try Self.decodeEscapes(p, start, end, into: &scratch)
        return scratch.withUnsafeBytes { body($0) }
    }

    /// A `String` from bytes already checked to be valid UTF-8.
    @inline(__always)
    static func makeString(_ bytes: UnsafeRawBufferPointer) -> String {
        String(decoding: UnsafeBufferPointer(start: bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), count: bytes.count),
               as: UTF8.self)
    }

    // MARK: Numbers

    /// The result of scanning a number literal.
    enum Number {
        case int(Int64)
        /// An integer literal outside `Int64`, or a literal with a fraction or exponent.
        case float(Double, isIntegerLiteral: Bool)
    }

    mutating func readNumber() throws(EventCodecError) -> Number {
        let start = position
        var i = position
        let negative = p[i] == UInt8(ascii: "-")
        if negative { i += 1 }
        let intStart = i
        var magnitude: UInt64 = 0
        var overflow = false
        while i < p.count, p[i] &- 48 < 10 {
            let (m1, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (m2, o2) = m1.addingReportingOverflow(UInt64(p[i] &- 48))
            overflow = overflow || o1 || o2
            magnitude = m2
            i += 1
        }
        let intDigits = i - intStart
        guard intDigits > 0 else {
            throw Self.error(i >= p.count ? .truncated : .invalidNumber, "a number needs digits", at: i)
        }
        if intDigits > 1 && p[intStart] == UInt8(ascii: "0") {
            throw Self.error(.invalidNumber, "leading zeros are not allowed", at: intStart)
        }
        var isInteger = true
        if i < p.count, p[i] == UInt8(ascii: ".") {
            isInteger = false
            i += 1
            let fracStart = i
            while i < p.count, p[i] &- 48 < 10 { i += 1 }
            guard i > fracStart else { throw Self.error(.invalidNumber, "a fraction needs digits", at: i) }
        }
        if i < p.count, p[i] | 0x20 == UInt8(ascii: "e") {
            isInteger = false
            i += 1
            if i < p.count, p[i] == UInt8(ascii: "+") || p[i] == UInt8(ascii: "-") { i += 1 }
            let expStart = i
            while i < p.count, p[i] &- 48 < 10 { i += 1 }
            guard i > expStart else { throw Self.error(.invalidNumber, "an exponent needs digits", at: i) }
        }
        position = i
        if isInteger && !overflow {
            if !negative && magnitude <= UInt64(Int64.max) { return .int(Int64(magnitude)) }
            if negative && magnitude <= UInt64(Int64.max) + 1 { return .int(Int64(truncatingIfNeeded: 0 &- magnitude)) }
        }
        let text = Self.makeString(UnsafeRawBufferPointer(rebasing: p[start..<i]))
        guard let value = Double(text), value.isFinite else {
            throw Self.error(.invalidNumber, "number is outside the range of a double", at: start)
        }
        return .float(value, isIntegerLiteral: isInteger)
    }

    // MARK: Values

    /// Reads any value. With `expected` (a known field's type), converts to it: strings to
    /// timestamps and IP addresses, integer literals to floats, integral floats to ints; other
    /// mismatches throw `.typeMismatch` naming the field `fieldID`. Without, types come from the JSON:
    /// integer literal → int (float if outside `Int64`), fraction/exponent → float.
    /// - Parameter depth: arrays/objects already open around this value (at most
    ///   ``FieldValue/maximumNestingDepth``).
    package mutating func readValue(expected: Schema.FieldType?, fieldID: UInt16, depth: Int) throws(EventCodecError) -> FieldValue {
        guard let b = peek() else { throw unexpected("a value") }
        let start = position
        switch b {
        case UInt8(ascii: "\""):
            switch expected {
            case nil, .string?:
                return .string(try readString())
            case .timestamp?:
                guard let t = try withStringBytes({ Timestamp.parse($0) }) else {
                    throw Self.mismatch(fieldID, at: start, "got a string that is not an RFC 3339 timestamp")
                }
                return .timestamp(Timestamp(nanoseconds: t))
            case .ip?:
                guard let address = try withStringBytes({ IPAddress.parse($0) }) else {
                    throw Self.mismatch(fieldID, at: start, "got a string that is not an IP address")
                }
                return .ip(address)
            default:
                throw Self.mismatch(fieldID, at: start, "got a string")
            }
        case UInt8(ascii: "["):
            let elementType: Schema.FieldType?
            switch expected {
            case nil: elementType = nil
            case .array(let t)?: elementType = t
            default: throw Self.mismatch(fieldID, at: start, "got an array")
            }
            guard depth < FieldValue.maximumNestingDepth else { throw Self.depthError(at: start) }
            position += 1
            var elements: [FieldValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try readValue(expected: elementType, fieldID: fieldID, depth: depth + 1))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") { position += 1; continue }
                try expect(UInt8(ascii: "]"), "',' or ']' in array")
                return .array(elements)
            }
        case UInt8(ascii: "{"):
            guard expected == nil || expected == .object else { throw Self.mismatch(fieldID, at: start, "got an object") }
            guard depth < FieldValue.maximumNestingDepth else { throw Self.depthError(at: start) }
            position += 1
            var members: [FieldObject.Member] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "}") {
                position += 1
                return .object(FieldObject(members))
            }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw unexpected("a member name") }
                let key = try readString()
                skipWhitespace()
                try expect(UInt8(ascii: ":"), "':' after member name")
                skipWhitespace()
                members.append(FieldObject.Member(key, try readValue(expected: nil, fieldID: 0, depth: depth + 1)))
                skipWhitespace()
                if peek() == UInt8(ascii: ",") { position += 1; continue }
                try expect(UInt8(ascii: "}"), "',' or '}' in object")
                return .object(FieldObject(members))
            }
        case UInt8(ascii: "t"), UInt8(ascii: "f"):
            guard expected == nil || expected == .bool else { throw Self.mismatch(fieldID, at: start, "got a boolean") }
            if b == UInt8(ascii: "t") {
                try literal("true")
                return .bool(true)
            }
            try literal("false")
            return .bool(false)
        case UInt8(ascii: "n"):
            try literal("null")
            return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let number = try readNumber()
            switch (expected, number) {
            case (nil, .int(let v)), (.int?, .int(let v)):
                return .int(v)
            case (nil, .float(let d, _)), (.float?, .float(let d, _)):
                return .float(d)
            case (.float?, .int(let v)):
                return .float(Double(v))
            case (.int?, .float(let d, let isIntegerLiteral)):
                guard !isIntegerLiteral, let v = Int64(exactly: d) else {
                    throw Self.mismatch(fieldID, at: start, "got a number that is not an integer in range")
                }
                return .int(v)
            default:
                throw Self.mismatch(fieldID, at: start, "got a number")
            }
        default:
            throw unexpected("a value")
        }
    }

    @inline(never)
    static func depthError(at offset: Int) -> EventCodecError {
        error(.depthLimitExceeded, "arrays and objects nest deeper than \(FieldValue.maximumNestingDepth) levels", at: offset)
    }
}
