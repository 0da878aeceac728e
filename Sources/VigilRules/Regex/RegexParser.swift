/// Pattern text → `RegexNode`, PCRE syntax (the subset in docs/regex.md). Constructs a linear-time
/// engine cannot run throw a `RegexError` naming them; malformed patterns throw `syntax`.
struct RegexParser {
    struct Flags {
        var caseless = false
        var dotAll = false
        var multiline = false
        var extended = false
    }

    /// Groups nested deeper than this are refused (`too large`): parsing and compiling recurse.
    static let maxNesting = 200
    /// `{n,m}` bounds above this are refused (`too large`).
    static let maxRepeat = 1000

    private let s: [UInt32]
    private var i = 0
    private var flags: Flags
    private var depth = 0

    init(_ pattern: String, flags: Flags) {
        s = pattern.unicodeScalars.map(\.value)
        self.flags = flags
    }

    mutating func parse() throws(RegexError) -> RegexNode {
        let node = try parseAlternation()
        if i < s.count { throw syntax("unmatched )", at: i) }
        return node
    }

    // MARK: Errors

    private func syntax(_ message: String, at offset: Int) -> RegexError {
        RegexError(kind: .syntax, construct: "syntax", offset: offset, message: message)
    }
    private func unsupported(_ construct: String, at offset: Int, _ message: String) -> RegexError {
        RegexError(kind: .unsupported, construct: construct, offset: offset, message: message)
    }

    // MARK: Scanning

    private func peek(_ k: Int = 0) -> UInt32? { i + k < s.count ? s[i + k] : nil }
    private func peekIs(_ c: Character, _ k: Int = 0) -> Bool {
        guard let v = peek(k), let a = c.asciiValue else { return false }
        return v == UInt32(a)
    }

    /// In extended mode: skips white space and `#` comments up to the end of the line.
    private mutating func skipExtended() {
        guard flags.extended else { return }
        while let c = peek() {
            if c == 0x20 || (0x09...0x0D).contains(c) {
                i += 1
            } else if c == 0x23 {
                while let d = peek(), d != 0x0A { _ = d; i += 1 }
            } else {
                return
            }
        }
    }

    // MARK: Structure

    private mutating func parseAlternation() throws(RegexError) -> RegexNode {
        var branches = [try parseConcat()]
        while peekIs("|") {
            i += 1
            branches.append(try parseConcat())
        }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseConcat() throws(RegexError) -> RegexNode {
        var items: [RegexNode] = []
        while true {
            skipExtended()
            guard let c = peek(), c != 0x7C, c != 0x29 else { break }   // | )
            guard let atom = try parseAtom(into: &items) else { continue }
            items.append(try parseQuantifiers(atom))
        }
        return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
    }

    /// A quantifier after an atom: `*`, `+`, `?`, `{n}`, `{n,}`, `{n,m}`, each optionally lazy (`?`;
    /// same result here). Possessive (`+`) is unsupported; a second quantifier is a syntax error.
    private mutating func parseQuantifiers(_ atom: RegexNode) throws(RegexError) -> RegexNode {
        skipExtended()
        guard let (lo, hi) = try parseQuantifier() else { return atom }
        if peekIs("?") {
            i += 1
        } else if peekIs("+") {
            throw unsupported("possessive quantifier", at: i, "possessive quantifiers (`*+`, `++`, `?+`, `{n}+`) are not supported")
        }
        skipExtended()
        let after = i
        if try parseQuantifier() != nil {
            throw syntax("a quantifier cannot follow another quantifier", at: after)
        }
        return .repetition(atom, min: lo, max: hi)
    }

    /// Reads a quantifier at the cursor, or returns nil (cursor unchanged) when there is none; `{`
    /// not forming `{n}`, `{n,}` or `{n,m}` is a literal, as in PCRE.
    private mutating func parseQuantifier() throws(RegexError) -> (Int, Int?)? {
        guard let c = peek() else { return nil }
        switch c {
        case 0x2A: i += 1; return (0, nil)
        case 0x2B: i += 1; return (1, nil)
        case 0x3F: i += 1; return (0, 1)
        case 0x7B:
            let start = i
            var j = i + 1
            func number(_ j: inout Int) -> Int? {
                var value = 0, digits = 0
                while j < s.count, (0x30...0x39).contains(s[j]) {
                    value = min(value * 10 + Int(s[j] - 0x30), 1_000_000)
                    digits += 1
                    j += 1
                }
                return digits > 0 ? value : nil
            }
            guard let lo = number(&j) else { return nil }
            var hi: Int? = lo
            if j < s.count, s[j] == 0x2C {
                j += 1
                hi = number(&j)
            }
            guard j < s.count, s[j] == 0x7D else { return nil }
            i = j + 1
            if lo > Self.maxRepeat || (hi ?? 0) > Self.maxRepeat {
                throw RegexError(kind: .tooLarge, construct: "too large", offset: start,
                                 message: "repetition counts above \(Self.maxRepeat) are not supported")
            }
            if let hi, hi < lo { throw syntax("numbers out of order in {} quantifier", at: start) }
            return (lo, hi)
        default:
            return nil
        }
    }

    /// One atom, or nil for what matches nothing by itself (an option setting, a comment, an
    /// empty `\Q\E`). `\Q…\E` appends all but its last character to `items`.
    private mutating func parseAtom(into items: inout [RegexNode]) throws(RegexError) -> RegexNode? {
        guard let c = peek() else { return nil }
        let start = i
        switch c {
        case 0x28: return try parseGroup()
        case 0x5B: return try parseClass()
        case 0x2E:
            i += 1
            return .any(dotAll: flags.dotAll)
        case 0x5E:
            i += 1
            return .assertion(flags.multiline ? .lineStart : .textStart)
        case 0x24:
            i += 1
            return .assertion(flags.multiline ? .lineEnd : .textEndOrFinalNewline)
        case 0x5C:
            return try parseEscape(into: &items)
        case 0x2A, 0x2B, 0x3F:
            throw syntax("quantifier does not follow a repeatable item", at: start)
        case 0x7B:
            if try parseQuantifier() != nil {
                throw syntax("quantifier does not follow a repeatable item", at: start)
            }
            i += 1
            return literal(c)
        default:
            i += 1
            return literal(c)
        }
    }

    private func literal(_ c: UInt32) -> RegexNode {
        .literal(c, caseless: flags.caseless && RegexCaseFolding.orbits[c] != nil)
    }

    // MARK: Groups

    private mutating func parseGroup() throws(RegexError) -> RegexNode? {
        let start = i
        i += 1   // (
        if peekIs("*") {
            throw unsupported("backtracking verb", at: start, "backtracking control verbs like (*SKIP) and (*UTF) are not supported")
        }
        var inner = flags
        if peekIs("?") {
            i += 1
            guard let c = peek() else { throw syntax("missing ) after (?", at: start) }
            switch c {
            case 0x3A:   // (?:
                i += 1
            case 0x23:   // (?# comment )
                while let d = peek(), d != 0x29 { _ = d; i += 1 }
                guard peekIs(")") else { throw syntax("missing ) after comment", at: start) }
                i += 1
                return nil
            case 0x3D, 0x21:   // (?= (?!
                throw unsupported("lookahead", at: start, "lookahead assertions (?= and (?! are not supported")
            case 0x3C:   // (?<= (?<! (?<name>
                if peekIs("=", 1) || peekIs("!", 1) {
                    throw unsupported("lookbehind", at: start, "lookbehind assertions (?<= and (?<! are not supported")
                }
                i += 1
                try parseGroupName(close: 0x3E, groupStart: start)
            case 0x27:   // (?'name'
                i += 1
                try parseGroupName(close: 0x27, groupStart: start)
            case 0x50:   // (?P<name> (?P=name) (?P>name)
                if peekIs("<", 1) {
                    i += 2
                    try parseGroupName(close: 0x3E, groupStart: start)
                } else if peekIs("=", 1) {
                    throw unsupported("backreference", at: start, "backreferences like (?P=name) are not supported")
                } else if peekIs(">", 1) {
                    throw unsupported("recursion", at: start, "recursion and subroutine calls like (?P>name) are not supported")
                } else {
                    throw syntax("unknown group type after (?P", at: start)
                }
            case 0x3E:
                throw unsupported("atomic group", at: start, "atomic groups (?> are not supported")
            case 0x7C:
                throw unsupported("branch reset", at: start, "branch reset groups (?| are not supported")
            case 0x28:
                throw unsupported("conditional", at: start, "conditional groups (?(…) are not supported")
            case 0x52, 0x26, 0x30...0x39:
                throw unsupported("recursion", at: start, "recursion and subroutine calls like (?R) and (?1) are not supported")
            case 0x2B where peek(1).map({ (0x30...0x39).contains($0) }) == true,
                 0x2D where peek(1).map({ (0x30...0x39).contains($0) }) == true:
                throw unsupported("recursion", at: start, "relative subroutine calls like (?-1) are not supported")
            case 0x43:
                throw unsupported("callout", at: start, "callouts (?C are not supported")
            default:
                // Option setting: (?flags) for the rest of the enclosing group, or (?flags:…).
                var on = true
                var changed = flags
                loop: while let d = peek() {
                    switch d {
                    case 0x69: changed.caseless = on
                    case 0x73: changed.dotAll = on
                    case 0x6D: changed.multiline = on
                    case 0x78: changed.extended = on
                    case 0x6E, 0x55, 0x4A: break   // no auto-capture, ungreedy, duplicate names: no effect on the result
                    case 0x2D:
                        guard on else { throw syntax("option letters after a second -", at: i) }
                        on = false
                    case 0x5E:
                        guard i == start + 2 else { throw syntax("(?^ must come first", at: i) }
                        changed.caseless = false; changed.dotAll = false
                        changed.multiline = false; changed.extended = false
                    case 0x29, 0x3A: break loop
                    default:
                        throw syntax("unknown option or group type after (?", at: i)
                    }
                    i += 1
                }
                guard let end = peek() else { throw syntax("missing ) after options", at: start) }
                i += 1
                if end == 0x29 {
                    flags = changed
                    return nil
                }
                inner = changed
            }
        }
        depth += 1
        if depth > Self.maxNesting {
            throw RegexError(kind: .tooLarge, construct: "too large", offset: start,
                             message: "groups nested deeper than \(Self.maxNesting) are not supported")
        }
        let outer = flags
        flags = inner
        let body = try parseAlternation()
        flags = outer
        depth -= 1
        guard peekIs(")") else { throw syntax("missing )", at: start) }
        i += 1
        return body
    }

    private mutating func parseGroupName(close: UInt32, groupStart: Int) throws(RegexError) {
        let nameStart = i
        while let c = peek(), c == 0x5F || (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c) {
            if i == nameStart, (0x30...0x39).contains(c) { throw syntax("group name must not start with a digit", at: i) }
            i += 1
        }
        guard i > nameStart, peek() == close else { throw syntax("malformed group name", at: groupStart) }
        i += 1
    }

    // MARK: Escapes

    private enum EscapeValue {
        case char(UInt32)
        case set(CodePointSet)
    }

    private mutating func parseEscape(into items: inout [RegexNode]) throws(RegexError) -> RegexNode? {
        let start = i
        i += 1
        guard let c = peek() else { throw syntax("\\ at end of pattern", at: start) }
        switch c {
        case 0x62: i += 1; return .assertion(.wordBoundary)            // \b
        case 0x42: i += 1; return .assertion(.notWordBoundary)         // \B
        case 0x41: i += 1; return .assertion(.textStart)               // \A
        case 0x7A: i += 1; return .assertion(.textEnd)                 // \z
        case 0x5A: i += 1; return .assertion(.textEndOrFinalNewline)   // \Z
        case 0x47: throw unsupported("\\G", at: start, "\\G (the end of the previous match) is not supported")
        case 0x4B: i += 1; return nil   // \K: resets the reported start; no effect on whether it matches
        case 0x45: i += 1; return nil   // \E without \Q
        case 0x51:   // \Q…\E
            i += 1
            var chars: [UInt32] = []
            while let d = peek() {
                if d == 0x5C, peekIs("E", 1) { i += 2; break }
                chars.append(d)
                i += 1
            }
            guard let last = chars.popLast() else { return nil }
            for d in chars { items.append(literal(d)) }
            return literal(last)
        case 0x4E:   // \N: any but newline
            i += 1
            if peekIs("{") { throw unsupported("\\N{name}", at: start, "named characters \\N{…} are not supported") }
            return .set(CodePointSet.newline.inverted())
        case 0x52:   // \R: a line break
            i += 1
            let crlf = RegexNode.concat([.literal(0x0D, caseless: false), .literal(0x0A, caseless: false)])
            return .alternation([crlf, .set(CodePointSet([0x0A...0x0D, 0x85...0x85, 0x2028...0x2029]))])
        case 0x58: throw unsupported("\\X", at: start, "\\X (extended grapheme cluster) is not supported")
        case 0x43: throw unsupported("\\C", at: start, "\\C (one code unit) is not supported")
        case 0x31...0x39:
            throw unsupported("backreference", at: start, "backreferences like \\1 are not supported")
        case 0x67:   // \g
            if peekIs("<", 1) || peekIs("'", 1) {
                throw unsupported("recursion", at: start, "subroutine calls like \\g<name> are not supported")
            }
            throw unsupported("backreference", at: start, "backreferences like \\g1 and \\g{name} are not supported")
        case 0x6B:   // \k
            throw unsupported("backreference", at: start, "named backreferences like \\k<name> are not supported")
        default:
            switch try parseCharEscape(start: start, inClass: false) {
            case .char(let v): return literal(v)
            case .set(let set): return .set(set)
            }
        }
    }

    /// Escapes valid both inside and outside brackets; the cursor is after the `\`.
    private mutating func parseCharEscape(start: Int, inClass: Bool) throws(RegexError) -> EscapeValue {
        guard let c = peek() else { throw syntax("\\ at end of pattern", at: start) }
        i += 1
        switch c {
        case 0x64: return .set(.digit)                                   // \d
        case 0x44: return .set(CodePointSet.digit.inverted())            // \D
        case 0x77: return .set(.word)                                    // \w
        case 0x57: return .set(CodePointSet.word.inverted())             // \W
        case 0x73: return .set(.space)                                   // \s
        case 0x53: return .set(CodePointSet.space.inverted())            // \S
        case 0x68: return .set(.horizontalSpace)                         // \h
        case 0x48: return .set(CodePointSet.horizontalSpace.inverted())  // \H
        case 0x70, 0x50:
            throw unsupported("unicode property", at: start, "Unicode properties \\p{…} and \\P{…} are not supported")
        case 0x74: return .char(0x09)
        case 0x6E: return .char(0x0A)
        case 0x72: return .char(0x0D)
        case 0x66: return .char(0x0C)
        case 0x76: return .char(0x0B)
        case 0x61: return .char(0x07)
        case 0x65: return .char(0x1B)
        case 0x30:   // \0, \0o, \0oo
            var v: UInt32 = 0
            var k = 0
            while k < 2, let d = peek(), (0x30...0x37).contains(d) { v = v * 8 + (d - 0x30); i += 1; k += 1 }
            return .char(v)
        case 0x31...0x37 where inClass:   // octal inside brackets
            var v: UInt32 = c - 0x30
            var k = 0
            while k < 2, let d = peek(), (0x30...0x37).contains(d) { v = v * 8 + (d - 0x30); i += 1; k += 1 }
            return .char(v)
        case 0x6F:   // \o{…}
            guard peekIs("{") else { throw syntax("\\o must be followed by {", at: start) }
            i += 1
            return .char(try bracedNumber(radix: 8, start: start))
        case 0x78:   // \xHH, \x{H…}
            if peekIs("{") {
                i += 1
                return .char(try bracedNumber(radix: 16, start: start))
            }
            var v: UInt32 = 0
            var k = 0
            while k < 2, let d = peek(), let h = hexValue(d) { v = v * 16 + h; i += 1; k += 1 }
            return .char(v)
        case 0x75:   // \uHHHH
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let d = peek(), let h = hexValue(d) else { throw syntax("\\u needs four hex digits", at: start) }
                v = v * 16 + h
                i += 1
            }
            guard v < 0xD800 || v > 0xDFFF else { throw syntax("\\u names a surrogate", at: start) }
            return .char(v)
        case 0x63:   // \cX
            guard let d = peek(), (0x20...0x7E).contains(d) else { throw syntax("\\c must be followed by a printable ASCII character", at: start) }
            i += 1
            let upper = (0x61...0x7A).contains(d) ? d - 0x20 : d
            return .char(upper ^ 0x40)
        case 0x62 where inClass: return .char(0x08)   // [\b] is backspace
        default:
            let isAlnum = (0x30...0x39).contains(c) || (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
            if isAlnum { throw syntax("unrecognized escape \\\(Character(Unicode.Scalar(UInt8(c))))", at: start) }
            return .char(c)
        }
    }

    private func hexValue(_ d: UInt32) -> UInt32? {
        switch d {
        case 0x30...0x39: d - 0x30
        case 0x41...0x46: d - 0x41 + 10
        case 0x61...0x66: d - 0x61 + 10
        default: nil
        }
    }

    private mutating func bracedNumber(radix: UInt32, start: Int) throws(RegexError) -> UInt32 {
        var v: UInt32 = 0
        var digits = 0
        while let d = peek(), d != 0x7D {
            guard let h = hexValue(d), h < radix else { throw syntax("invalid digit in escape", at: i) }
            v = v * radix + h
            digits += 1
            guard v <= CodePointSet.maxCodePoint else { throw syntax("character value above U+10FFFF", at: start) }
            i += 1
        }
        guard digits > 0, peekIs("}") else { throw syntax("malformed character escape", at: start) }
        i += 1
        guard v < 0xD800 || v > 0xDFFF else { throw syntax("escape names a surrogate", at: start) }
        return v
    }

    // MARK: Bracket expressions

    private mutating func parseClass() throws(RegexError) -> RegexNode {
        let start = i
        i += 1
        var negated = false
        if peekIs("^") {
            negated = true
            i += 1
        }
        var set = CodePointSet()
        var escapes = CodePointSet()
        var first = true
        while true {
            guard let c = peek() else { throw syntax("missing ] for bracket expression", at: start) }
            if c == 0x5D, !first {
                i += 1
                break
            }
            first = false
            if c == 0x5B, let posix = try parsePosixClass() {
                set.formUnion(posix)
                continue
            }
            let low = try parseClassAtom()
            // A range: `a-z`; `-` first, last or after a class escape is a literal.
            if case .char(let lo) = low, peekIs("-"), let next = peek(1), next != 0x5D {
                let rangeAt = i
                i += 1
                if peekIs("["), peekIs(":", 1) { throw syntax("invalid range in bracket expression", at: rangeAt) }
                guard case .char(let hi) = try parseClassAtom() else {
                    throw syntax("invalid range in bracket expression", at: rangeAt)
                }
                guard lo <= hi else { throw syntax("range out of order in bracket expression", at: rangeAt) }
                set.insert(lo...hi)
                continue
            }
            switch low {
            case .char(let v): set.insert(v)
            case .set(let other): escapes.formUnion(other)
            }
        }
        // Characters, ranges and POSIX names take every case; class escapes (`\w`, `\D`, …) do not.
        if flags.caseless { set = set.caseFolded() }
        set.formUnion(escapes)
        if negated { set = set.inverted() }
        return .set(set)
    }

    private mutating func parseClassAtom() throws(RegexError) -> EscapeValue {
        guard let c = peek() else { throw syntax("missing ] for bracket expression", at: i) }
        guard c == 0x5C else {
            i += 1
            return .char(c)
        }
        let start = i
        i += 1
        guard let d = peek() else { throw syntax("\\ at end of pattern", at: start) }
        switch d {
        case 0x51, 0x45:
            throw unsupported("\\Q in brackets", at: start, "\\Q…\\E inside a bracket expression is not supported")
        case 0x4E, 0x52, 0x58, 0x42:
            throw syntax("escape not valid in a bracket expression", at: start)
        default:
            return try parseCharEscape(start: start, inClass: true)
        }
    }

    /// `[:name:]` or `[:^name:]` at the cursor; nil (cursor unchanged) when the text is not one.
    private mutating func parsePosixClass() throws(RegexError) -> CodePointSet? {
        guard let open = peek(1), open == 0x3A || open == 0x2E || open == 0x3D else { return nil }
        var j = i + 2
        while j + 1 < s.count, !(s[j] == open && s[j + 1] == 0x5D) {
            if s[j] == 0x5D { return nil }
            j += 1
        }
        guard j + 1 < s.count else { return nil }
        if open != 0x3A {
            throw unsupported("collating element", at: i, "POSIX collating elements [. .] and [= =] are not supported")
        }
        var nameStart = i + 2
        let negated = nameStart < j && s[nameStart] == 0x5E
        if negated { nameStart += 1 }
        let name = String(String.UnicodeScalarView(s[nameStart..<j].compactMap(Unicode.Scalar.init)))
        guard let set = CodePointSet.posix(name) else { throw syntax("unknown POSIX class name", at: i) }
        i = j + 2
        return negated ? set.inverted() : set
    }
}
