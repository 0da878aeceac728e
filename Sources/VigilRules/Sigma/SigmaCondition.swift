/// A parsed Sigma `condition`: search identifiers combined with `and`, `or`, `not`, parentheses,
/// `1 of PATTERN`, `all of PATTERN` (`them`: every identifier not starting with `_`), with
/// precedence `not` > `and` > `or`; and, for old Sigma, an aggregation after `|`.
indirect enum SigmaCondition: Equatable {
    case identifier(String, offset: Int)
    case oneOf(String, offset: Int)
    case allOf(String, offset: Int)
    case and([SigmaCondition])
    case or([SigmaCondition])
    case not(SigmaCondition)
}

/// Old Sigma's `| count(field) by group > n`.
struct SigmaConditionAggregation: Equatable {
    /// `count`; other functions (`near`, `sum`, `min`, …) are kept by name and reported unsupported.
    var function = "count"
    var field: String?
    var groupBy: [String]
    /// `>`, `>=`, `<`, `<=`, `=` / `==`.
    var comparison: String
    var value: Int64
    var offset: Int
}

/// A syntax error in a condition at a scalar offset in its text.
struct SigmaConditionError: Error, Equatable {
    var offset: Int
    var message: String
}

/// The recursive-descent parser of conditions.
struct SigmaConditionParser {
    enum Token: Equatable {
        case open, close
        case word(String)
    }

    private var tokens: [(token: Token, offset: Int)] = []
    private var position = 0
    private let end: Int

    /// Parses `text`; the aggregation is the part after a top-level `|`, if any.
    static func parse(_ text: String) throws(SigmaConditionError) -> (SigmaCondition, SigmaConditionAggregation?) {
        let scalars = Array(text.unicodeScalars)
        var pipe: Int? = nil
        if let index = scalars.firstIndex(of: "|") { pipe = index }
        var parser = SigmaConditionParser(scalars: Array(scalars[..<(pipe ?? scalars.count)]))
        try parser.tokenize(Array(scalars[..<(pipe ?? scalars.count)]))
        let condition = try parser.parseOr()
        if parser.position < parser.tokens.count {
            let (token, offset) = parser.tokens[parser.position]
            throw SigmaConditionError(offset: offset, message: "unexpected \(describe(token)) in condition")
        }
        var aggregation: SigmaConditionAggregation? = nil
        if let pipe { aggregation = try parseAggregation(Array(scalars[(pipe + 1)...]), base: pipe + 1) }
        return (condition, aggregation)
    }

    private init(scalars: [Unicode.Scalar]) { end = scalars.count }

    private static func describe(_ token: Token) -> String {
        switch token {
        case .open: "'('"
        case .close: "')'"
        case .word(let w): "'\(w)'"
        }
    }

    private static func isWordScalar(_ s: Unicode.Scalar) -> Bool {
        !(s == "(" || s == ")" || s == " " || s == "\t" || s == "\n" || s == "\r")
    }

    private mutating func tokenize(_ scalars: [Unicode.Scalar]) throws(SigmaConditionError) {
        var index = 0
        while index < scalars.count {
            let s = scalars[index]
            if s == " " || s == "\t" || s == "\n" || s == "\r" { index += 1; continue }
            if s == "(" { tokens.append((.open, index)); index += 1; continue }
            if s == ")" { tokens.append((.close, index)); index += 1; continue }
            let start = index
            while index < scalars.count, Self.isWordScalar(scalars[index]) { index += 1 }
            var word = String.UnicodeScalarView()
            word.append(contentsOf: scalars[start..<index])
            tokens.append((.word(String(word)), start))
        }
    }

    private var current: (token: Token, offset: Int)? { position < tokens.count ? tokens[position] : nil }

    private func isKeyword(_ keyword: String) -> Bool {
        if case .word(let w)? = current?.token { return w.lowercased() == keyword }
        return false
    }

    private mutating func parseOr() throws(SigmaConditionError) -> SigmaCondition {
        var parts = [try parseAnd()]
        while isKeyword("or") {
            position += 1
            parts.append(try parseAnd())
        }
        return parts.count == 1 ? parts[0] : .or(parts)
    }

    private mutating func parseAnd() throws(SigmaConditionError) -> SigmaCondition {
        var parts = [try parseNot()]
        while isKeyword("and") {
            position += 1
            parts.append(try parseNot())
        }
        return parts.count == 1 ? parts[0] : .and(parts)
    }

    private mutating func parseNot() throws(SigmaConditionError) -> SigmaCondition {
        if isKeyword("not") {
            position += 1
            return .not(try parseNot())
        }
        return try parsePrimary()
    }

    private mutating func parsePrimary() throws(SigmaConditionError) -> SigmaCondition {
        guard let (token, offset) = current else {
            throw SigmaConditionError(offset: end, message: "the condition ends where a search identifier was expected")
        }
        switch token {
        case .open:
            position += 1
            let inner = try parseOr()
            guard current?.token == .close else {
                throw SigmaConditionError(offset: current?.offset ?? end, message: "missing ')' for the '(' at offset \(offset)")
            }
            position += 1
            return inner
        case .close:
            throw SigmaConditionError(offset: offset, message: "unexpected ')' in condition")
        case .word(let word):
            let lower = word.lowercased()
            if ["and", "or", "of", "them"].contains(lower) {
                throw SigmaConditionError(offset: offset, message: "unexpected '\(word)' where a search identifier was expected")
            }
            let next = position + 1 < tokens.count ? tokens[position + 1].token : nil
            if next == .word("of") || next == .word("OF") || next == .word("Of") {
                guard lower == "1" || lower == "all" || lower == "any" else {
                    throw SigmaConditionError(offset: offset, message: "'\(word) of' is not Sigma (use '1 of' or 'all of')")
                }
                position += 2
                guard case .word(let pattern)? = current?.token, let patternOffset = current?.offset else {
                    throw SigmaConditionError(offset: current?.offset ?? end, message: "'\(word) of' needs a pattern or 'them'")
                }
                position += 1
                let target = pattern.lowercased() == "them" ? "them" : pattern
                return lower == "all" ? .allOf(target, offset: patternOffset) : .oneOf(target, offset: patternOffset)
            }
            position += 1
            return .identifier(word, offset: offset)
        }
    }

    /// `count() by a, b > 5`, `count(field) by a >= 10`, `count() > 3`.
    private static func parseAggregation(_ scalars: [Unicode.Scalar], base: Int) throws(SigmaConditionError)
        -> SigmaConditionAggregation
    {
        var text = String.UnicodeScalarView()
        text.append(contentsOf: scalars)
        let source = String(text)
        let trimmed = source.drop { $0 == " " }
        let lead = source.count - trimmed.count
        guard trimmed.lowercased().hasPrefix("count(") else {
            let name = String(trimmed.prefix { $0 != "(" && $0 != " " }).lowercased()
            if name.isEmpty { throw SigmaConditionError(offset: base + lead, message: "'|' is not followed by an aggregation") }
            return SigmaConditionAggregation(function: name, field: nil, groupBy: [], comparison: "", value: 0, offset: base + lead)
        }
        guard let close = trimmed.firstIndex(of: ")") else {
            throw SigmaConditionError(offset: base + lead, message: "missing ')' after count(")
        }
        let inside = trimmed[trimmed.index(trimmed.startIndex, offsetBy: 6)..<close].trimmingSpaces()
        var rest = String(trimmed[trimmed.index(after: close)...]).trimmingSpaces()
        var groupBy: [String] = []
        if rest.lowercased().hasPrefix("by ") {
            rest = String(rest.dropFirst(3))
            guard let comparisonStart = rest.firstIndex(where: { "<>=".contains($0) }) else {
                throw SigmaConditionError(offset: base + lead, message: "an aggregation needs a comparison such as '> 5'")
            }
            groupBy = rest[..<comparisonStart].split(separator: ",").map { String($0).trimmingSpaces() }.filter { !$0.isEmpty }
            rest = String(rest[comparisonStart...])
        }
        let comparison = String(rest.prefix { "<>=".contains($0) })
        let number = rest.dropFirst(comparison.count).trimmingSpaces()
        guard ["<", "<=", ">", ">=", "=", "=="].contains(comparison), let value = Int64(number) else {
            throw SigmaConditionError(offset: base + lead, message: "an aggregation ends with a comparison with a whole number, such as '> 5'")
        }
        return SigmaConditionAggregation(field: inside.isEmpty ? nil : inside, groupBy: groupBy, comparison: comparison,
                                         value: value, offset: base + lead)
    }
}

extension StringProtocol {
    func trimmingSpaces() -> String {
        String(drop { $0 == " " || $0 == "\t" }.reversed().drop { $0 == " " || $0 == "\t" }.reversed())
    }
}

/// Sigma's identifier patterns (`selection_*`): `*` is any run of characters, `?` one character.
enum SigmaGlob {
    static func matches(_ pattern: String, _ name: String) -> Bool {
        let p = Array(pattern.unicodeScalars), n = Array(name.unicodeScalars)
        var pi = 0, ni = 0, star = -1, mark = 0
        while ni < n.count {
            if pi < p.count, p[pi] == "?" || p[pi] == n[ni] {
                pi += 1; ni += 1
            } else if pi < p.count, p[pi] == "*" {
                star = pi; mark = ni; pi += 1
            } else if star >= 0 {
                pi = star + 1; mark += 1; ni = mark
            } else {
                return false
            }
        }
        while pi < p.count, p[pi] == "*" { pi += 1 }
        return pi == p.count
    }
}
