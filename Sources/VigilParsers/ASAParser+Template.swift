import VigilCore

/// A message layout for one Cisco ASA message id, matched against the text after
/// `%ASA-n-nnnnnn: ` with a byte cursor (a tiny, anchored-at-start grok written for ASA texts).
///
/// Layout syntax: literal text; a space matches one or more spaces; `[?…?]` is optional;
/// captures are `{kind:field}` where kind is
/// - `ip`: an IPv4/IPv6 address (the longest prefix of `[0-9A-Fa-f:.]` that is one, so
///   `1.2.3.4:500` gives `1.2.3.4`),
/// - `int`: decimal digits,
/// - `word`/`lword`: non-space text up to the next literal character (lowercased for `lword`),
/// - `text`/`ltext`: the shortest text (possibly with spaces) after which the rest matches,
/// - `rest`: everything to the end.
/// Text after the last token is allowed (newer ASA versions append fields).
struct ASALayout: Sendable {
    enum Kind: UInt8, Sendable { case ip, int, word, lowerWord, text, lowerText, rest }

    enum Token: Sendable {
        case literal([UInt8])
        case spaces
        /// `stop`: the first byte of the following literal, where a word ends.
        case capture(Kind, field: Int, stop: UInt8?)
        /// `[?`: the index after the matching `?]`.
        case optionalStart(skipTo: Int)
        case optionalEnd
    }

    let tokens: [Token]

    /// Compiles `spec`, interning field names into `fields`. Layouts are written in code, so a
    /// malformed one is a programmer error.
    init(_ spec: String, fields: inout [String]) {
        let s = Array(spec.utf8)
        var tokens: [Token] = []
        var openGroups: [Int] = []
        var literal: [UInt8] = []
        func flush() { if !literal.isEmpty { tokens.append(.literal(literal)); literal = [] } }
        var i = 0
        while i < s.count {
            let c = s[i]
            if c == 0x20 {
                flush()
                if case .spaces? = tokens.last {} else { tokens.append(.spaces) }
                while i < s.count, s[i] == 0x20 { i += 1 }
                continue
            }
            if c == UInt8(ascii: "["), i + 1 < s.count, s[i + 1] == UInt8(ascii: "?") {
                flush()
                openGroups.append(tokens.count)
                tokens.append(.optionalStart(skipTo: -1))
                i += 2
                continue
            }
            if c == UInt8(ascii: "?"), i + 1 < s.count, s[i + 1] == UInt8(ascii: "]") {
                flush()
                guard let open = openGroups.popLast() else { preconditionFailure("ASA layout '\(spec)': ?] without [?") }
                tokens.append(.optionalEnd)
                tokens[open] = .optionalStart(skipTo: tokens.count)
                i += 2
                continue
            }
            if c == UInt8(ascii: "{") {
                flush()
                guard let close = s[i...].firstIndex(of: UInt8(ascii: "}")), let colon = s[i..<close].firstIndex(of: UInt8(ascii: ":")) else {
                    preconditionFailure("ASA layout '\(spec)': malformed capture")
                }
                let kindName = String(decoding: s[(i + 1)..<colon], as: UTF8.self)
                let field = String(decoding: s[(colon + 1)..<close], as: UTF8.self)
                let kind: Kind
                switch kindName {
                case "ip": kind = .ip
                case "int": kind = .int
                case "word": kind = .word
                case "lword": kind = .lowerWord
                case "text": kind = .text
                case "ltext": kind = .lowerText
                case "rest": kind = .rest
                default: preconditionFailure("ASA layout '\(spec)': unknown capture kind \(kindName)")
                }
                let index: Int
                if let existing = fields.firstIndex(of: field) { index = existing } else { index = fields.count; fields.append(field) }
                tokens.append(.capture(kind, field: index, stop: nil))
                i = close + 1
                continue
            }
            literal.append(c)
            i += 1
        }
        flush()
        precondition(openGroups.isEmpty, "ASA layout '\(spec)': [? without ?]")
        // Words stop at the first byte of a literal that follows them.
        for k in tokens.indices {
            if case .capture(let kind, let field, _) = tokens[k], k + 1 < tokens.count, case .literal(let l) = tokens[k + 1] {
                tokens[k] = .capture(kind, field: field, stop: l.first)
            }
        }
        self.tokens = tokens
    }

    struct Capture {
        var field: Int
        var kind: Kind
        var range: Range<Int>
    }

    /// Matches `b[range]`; on success the captures are in `captures[0..<count]`.
    func match(_ b: UnsafeRawBufferPointer, _ range: Range<Int>, captures: UnsafeMutableBufferPointer<Capture>, count: inout Int) -> Bool {
        var matcher = Matcher(b: b, end: range.upperBound, tokens: tokens, captures: captures, count: 0, budget: 20_000)
        guard matcher.match(0, range.lowerBound) else { return false }
        count = matcher.count
        return true
    }

    private struct Matcher {
        let b: UnsafeRawBufferPointer
        let end: Int
        let tokens: [Token]
        let captures: UnsafeMutableBufferPointer<Capture>
        var count: Int
        /// Bounds backtracking work on hostile input.
        var budget: Int

        mutating func record(_ field: Int, _ kind: Kind, _ r: Range<Int>) -> Bool {
            guard count < captures.count else { return false }
            captures[count] = Capture(field: field, kind: kind, range: r)
            count += 1
            return true
        }

        mutating func match(_ pc: Int, _ i: Int) -> Bool {
            budget -= 1
            guard budget > 0 else { return false }
            guard pc < tokens.count else { return true }
            switch tokens[pc] {
            case .literal(let l):
                guard i + l.count <= end else { return false }
                for k in 0..<l.count where b[i + k] != l[k] { return false }
                return match(pc + 1, i + l.count)
            case .spaces:
                var j = i
                while j < end, b[j] == 0x20 { j += 1 }
                return j > i && match(pc + 1, j)
            case .optionalStart(let skipTo):
                let saved = count
                if match(pc + 1, i) { return true }
                count = saved
                return match(skipTo, i)
            case .optionalEnd:
                return match(pc + 1, i)
            case .capture(let kind, let field, let stop):
                let saved = count
                switch kind {
                case .int:
                    var j = i
                    while j < end, j - i < 19, FormatBytes.isDigit(b[j]) { j += 1 }
                    guard j > i, record(field, kind, i..<j) else { return false }
                    if match(pc + 1, j) { return true }
                case .word, .lowerWord:
                    var j = i
                    while j < end, b[j] != 0x20, b[j] != stop { j += 1 }
                    guard j > i, record(field, kind, i..<j) else { return false }
                    if match(pc + 1, j) { return true }
                case .rest:
                    guard end > i, record(field, kind, i..<end) else { return false }
                    if match(pc + 1, end) { return true }
                case .text, .lowerText:
                    var j = i + 1
                    while j <= end {
                        if stop == nil || j == end || b[j] == stop {
                            count = saved
                            guard record(field, kind, i..<j) else { return false }
                            if match(pc + 1, j) { return true }
                        }
                        j += 1
                    }
                case .ip:
                    var j = i
                    while j < end, j - i < 45, FormatBytes.isDigit(b[j]) || (b[j] | 0x20 >= 0x61 && b[j] | 0x20 <= 0x66) || b[j] == 0x3A || b[j] == 0x2E { j += 1 }
                    // Longest candidate first, then shorter ones ending before a ':'.
                    var e = j
                    while e > i {
                        if FormatBytes.ip(b, i..<e) != nil {
                            count = saved
                            guard record(field, kind, i..<e) else { return false }
                            if match(pc + 1, e) { return true }
                        }
                        e -= 1
                        while e > i, b[e] != 0x3A { e -= 1 }
                    }
                }
                count = saved
                return false
            }
        }
    }
}
