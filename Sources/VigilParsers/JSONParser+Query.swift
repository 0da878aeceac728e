import VigilCore

/// A JSONPath subset selecting the records inside a JSON document: `$`, `.name`, `['name']` /
/// `["name"]`, `[*]` / `.*` (every element or member value) and `[n]` (an element; negative
/// counts from the end).
///
/// The result is a list of values; an object is one record, an array contributes each of its
/// elements (which must be objects). This is what Apache Metron's `jsonpQuery` yields for the
/// list-of-maps queries it supports.
public struct JSONRecordQuery: Sendable, Equatable, CustomStringConvertible {
    public enum Step: Sendable, Equatable {
        case member(String)
        case wildcard
        case index(Int)
    }

    public let steps: [Step]
    public let description: String

    public init(steps: [Step], description: String) {
        self.steps = steps
        self.description = description
    }

    /// Compiles `text`; the failure says what is wrong (for a positioned config error).
    public init(_ text: String) throws(ParseFailure) {
        let b = Array(text.utf8)
        guard b.first == UInt8(ascii: "$") else { throw ParseFailure("a query starts with $") }
        var i = 1
        var steps: [Step] = []
        func isNameByte(_ c: UInt8) -> Bool { FormatBytes.isKeyByte(c) && c != 0x2E || c == 0x40 || c == 0x24 || c >= 0x80 }
        while i < b.count {
            if b[i] == UInt8(ascii: ".") {
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "*") { steps.append(.wildcard); i += 1; continue }
                let s = i
                while i < b.count, isNameByte(b[i]) { i += 1 }
                guard i > s else { throw ParseFailure("a member name must follow '.' at offset \(s)") }
                steps.append(.member(String(decoding: b[s..<i], as: UTF8.self)))
            } else if b[i] == UInt8(ascii: "[") {
                i += 1
                guard i < b.count else { throw ParseFailure("unclosed [") }
                if b[i] == UInt8(ascii: "*") {
                    i += 1
                    steps.append(.wildcard)
                } else if b[i] == UInt8(ascii: "'") || b[i] == UInt8(ascii: "\"") {
                    let q = b[i]
                    i += 1
                    let s = i
                    while i < b.count, b[i] != q { i += 1 }
                    guard i < b.count else { throw ParseFailure("unclosed quoted name") }
                    steps.append(.member(String(decoding: b[s..<i], as: UTF8.self)))
                    i += 1
                } else {
                    var negative = false
                    if b[i] == UInt8(ascii: "-") { negative = true; i += 1 }
                    let s = i
                    var n = 0
                    while i < b.count, FormatBytes.isDigit(b[i]), i - s < 9 { n = n * 10 + Int(b[i] - 0x30); i += 1 }
                    guard i > s else { throw ParseFailure("expected *, a quoted name or an index after [") }
                    steps.append(.index(negative ? -n : n))
                }
                guard i < b.count, b[i] == UInt8(ascii: "]") else { throw ParseFailure("expected ] at offset \(i)") }
                i += 1
            } else {
                throw ParseFailure("unexpected character at offset \(i) (supported: $, .name, ['name'], [*], .*, [n])")
            }
        }
        self.steps = steps
        self.description = text
    }
}

/// Structural navigation over JSON bytes without building values: finds byte ranges of values
/// so that only the selected records are decoded (by `EventJSON`, which validates them fully).
/// Text outside the selected records is only checked for structure (brackets, strings).
enum JSONSkim {
    static let maximumDepth = 64

    static func skipSpace(_ b: UnsafeRawBufferPointer, _ i: inout Int, _ end: Int) {
        while i < end, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
    }

    /// The end of the value starting at `i` (after leading whitespace).
    static func valueEnd(_ b: UnsafeRawBufferPointer, _ start: Int, _ end: Int) throws(ParseFailure) -> Int {
        var i = start
        var depth = 0
        repeat {
            guard i < end else { throw ParseFailure("JSON ends inside a value") }
            let c = b[i]
            switch c {
            case 0x7B, 0x5B:  // { [
                depth += 1
                guard depth <= maximumDepth else { throw ParseFailure("JSON nests deeper than \(maximumDepth) levels") }
                i += 1
            case 0x7D, 0x5D:  // } ]
                guard depth > 0 else { throw ParseFailure("unbalanced JSON brackets") }
                depth -= 1
                i += 1
            case 0x22:
                i += 1
                while i < end, b[i] != 0x22 { i += b[i] == 0x5C ? 2 : 1 }
                guard i < end else { throw ParseFailure("unterminated JSON string") }
                i += 1
            default:
                if depth == 0 {
                    // A scalar: up to a delimiter.
                    while i < end, b[i] != 0x2C, b[i] != 0x7D, b[i] != 0x5D, b[i] != 0x20, b[i] != 0x09, b[i] != 0x0A, b[i] != 0x0D { i += 1 }
                    guard i > start else { throw ParseFailure("expected a JSON value") }
                    return i
                }
                i += 1
            }
        } while depth > 0
        return i
    }

    /// Calls `body` with the range of each element of the array at `r` (which starts with `[`).
    /// Returns false when `r` is not an array.
    static func forEachElement(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ body: (Range<Int>) throws(ParseFailure) -> Void) throws(ParseFailure) -> Bool {
        guard !r.isEmpty, b[r.lowerBound] == 0x5B else { return false }
        var i = r.lowerBound + 1
        let end = r.upperBound - 1
        skipSpace(b, &i, end)
        if i == end { return true }
        while true {
            skipSpace(b, &i, end)
            let e = try valueEnd(b, i, end)
            try body(i..<e)
            i = e
            skipSpace(b, &i, end)
            if i == end { return true }
            guard b[i] == 0x2C else { throw ParseFailure("expected , between JSON array elements") }
            i += 1
        }
    }

    /// Calls `body` with each member's name range (inside the quotes) and value range of the
    /// object at `r`. Returns false when `r` is not an object.
    static func forEachMember(_ b: UnsafeRawBufferPointer, _ r: Range<Int>,
                              _ body: (Range<Int>, Range<Int>) throws(ParseFailure) -> Void) throws(ParseFailure) -> Bool {
        guard !r.isEmpty, b[r.lowerBound] == 0x7B else { return false }
        var i = r.lowerBound + 1
        let end = r.upperBound - 1
        skipSpace(b, &i, end)
        if i == end { return true }
        while true {
            skipSpace(b, &i, end)
            guard i < end, b[i] == 0x22 else { throw ParseFailure("expected a JSON member name") }
            let nameEnd = try valueEnd(b, i, end)
            let name = (i + 1)..<(nameEnd - 1)
            i = nameEnd
            skipSpace(b, &i, end)
            guard i < end, b[i] == 0x3A else { throw ParseFailure("expected : after a JSON member name") }
            i += 1
            skipSpace(b, &i, end)
            let e = try valueEnd(b, i, end)
            try body(name, i..<e)
            i = e
            skipSpace(b, &i, end)
            if i == end { return true }
            guard b[i] == 0x2C else { throw ParseFailure("expected , between JSON members") }
            i += 1
        }
    }

    /// Whether the member name at `name` (raw, still escaped) equals `wanted`.
    static func nameEquals(_ b: UnsafeRawBufferPointer, _ name: Range<Int>, _ wanted: [UInt8]) -> Bool {
        guard name.count == wanted.count else {
            // Escaped names are compared after decoding.
            guard name.contains(where: { b[$0] == 0x5C }) else { return false }
            var bytes = Array(UnsafeRawBufferPointer(rebasing: b[(name.lowerBound - 1)..<(name.upperBound + 1)]))
            let decoded = bytes.withUnsafeMutableBytes { try? EventJSON.decodeValue(UnsafeRawBufferPointer($0)) }
            return decoded == .string(String(decoding: wanted, as: UTF8.self))
        }
        for k in 0..<wanted.count where b[name.lowerBound + k] != wanted[k] { return false }
        return true
    }
}

/// A value selected by a query: a range of the line, or the virtual array of records a
/// `wrap_in` line holds (`{…},{…},`).
enum JSONSelection {
    case range(Range<Int>)
    case wrapped(Range<Int>)
}

extension JSONRecordQuery {
    /// Calls `record` with the range of every object the query selects in `b[document]`.
    func records(_ b: UnsafeRawBufferPointer, _ start: JSONSelection, _ record: (Range<Int>) throws(ParseFailure) -> Void) throws(ParseFailure) {
        try select(b, start, steps[...], record)
    }

    private func select(_ b: UnsafeRawBufferPointer, _ value: JSONSelection, _ rest: ArraySlice<Step>,
                        _ record: (Range<Int>) throws(ParseFailure) -> Void) throws(ParseFailure) {
        guard let step = rest.first else {
            switch value {
            case .wrapped(let r):
                try Self.forEachWrapped(b, r) { (e: Range<Int>) throws(ParseFailure) in try Self.emitRecord(b, e, record) }
            case .range(let r):
                if b[r.lowerBound] == 0x7B { try record(r); return }
                let isArray = try JSONSkim.forEachElement(b, r) { (e: Range<Int>) throws(ParseFailure) in try Self.emitRecord(b, e, record) }
                guard isArray else { throw ParseFailure("query '\(description)' selected a value that is not an object or an array of objects") }
            }
            return
        }
        let next = rest.dropFirst()
        switch (step, value) {
        case (.member, .wrapped):
            return  // a list has no members
        case (.member(let name), .range(let r)):
            let wanted = Array(name.utf8)
            var found: Range<Int>?
            _ = try JSONSkim.forEachMember(b, r) { (n: Range<Int>, v: Range<Int>) throws(ParseFailure) in
                if JSONSkim.nameEquals(b, n, wanted) { found = v }
            }
            if let found { try select(b, .range(found), next, record) }
        case (.wildcard, .wrapped(let r)):
            try Self.forEachWrapped(b, r) { (e: Range<Int>) throws(ParseFailure) in try select(b, .range(e), next, record) }
        case (.wildcard, .range(let r)):
            let isArray = try JSONSkim.forEachElement(b, r) { (e: Range<Int>) throws(ParseFailure) in try select(b, .range(e), next, record) }
            if !isArray {
                _ = try JSONSkim.forEachMember(b, r) { (_: Range<Int>, v: Range<Int>) throws(ParseFailure) in try select(b, .range(v), next, record) }
            }
        case (.index(let n), _):
            var elements: [Range<Int>] = []
            switch value {
            case .wrapped(let r): try Self.forEachWrapped(b, r) { (e: Range<Int>) throws(ParseFailure) in elements.append(e) }
            case .range(let r): _ = try JSONSkim.forEachElement(b, r) { (e: Range<Int>) throws(ParseFailure) in elements.append(e) }
            }
            let k = n < 0 ? elements.count + n : n
            if k >= 0 && k < elements.count { try select(b, .range(elements[k]), next, record) }
        }
    }

    private static func emitRecord(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ record: (Range<Int>) throws(ParseFailure) -> Void) throws(ParseFailure) {
        guard !r.isEmpty, b[r.lowerBound] == 0x7B else { throw ParseFailure("a selected array element is not an object") }
        try record(r)
    }

    /// The elements of a `wrap_in` line: JSON values separated by commas, with an optional
    /// trailing comma (Metron's `wrapInEntityArray` form).
    static func forEachWrapped(_ b: UnsafeRawBufferPointer, _ r: Range<Int>, _ body: (Range<Int>) throws(ParseFailure) -> Void) throws(ParseFailure) {
        var i = r.lowerBound
        let end = r.upperBound
        JSONSkim.skipSpace(b, &i, end)
        while i < end {
            let e = try JSONSkim.valueEnd(b, i, end)
            try body(i..<e)
            i = e
            JSONSkim.skipSpace(b, &i, end)
            guard i < end else { return }
            guard b[i] == 0x2C else { throw ParseFailure("expected , between wrapped JSON records") }
            i += 1
            JSONSkim.skipSpace(b, &i, end)
        }
    }
}
