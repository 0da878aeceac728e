import Yams

/// A scalar interpreted under the YAML 1.2 core schema (see ``YAMLValue``'s dialect notes).
enum ScalarValue {
    case null
    case bool(Bool)
    /// `value` is nil when the integer does not fit in `Int`.
    case integer(text: String, value: Int?)
    case float(text: String, value: Double)
    case string(String)
    /// A tagged scalar whose text does not fit its tag, or an unsupported tag; the reason reads after "found".
    case invalid(String)

    /// The tag Yams resolves every implicit (plain, untagged) scalar to, given the resolver
    /// ``YAMLValue/resolver``. It lets us tell `12` from `!!str 12` after parsing.
    static let plainTag = Tag.Name(rawValue: "tag:vigil.invalid,2026:plain")

    init(_ scalar: Node.Scalar) {
        let text = scalar.string
        switch scalar.tag.description {
        case Self.plainTag.rawValue, "":
            self = Self.core(text)
        case Tag.Name.str.rawValue, "!":
            self = .string(text)
        case Tag.Name.null.rawValue:
            self = Self.tagged(text, "!!null") { if case .null = $0 { true } else { false } }
        case Tag.Name.bool.rawValue:
            self = Self.tagged(text, "!!bool") { if case .bool = $0 { true } else { false } }
        case Tag.Name.int.rawValue:
            self = Self.tagged(text, "!!int") { if case .integer = $0 { true } else { false } }
        case Tag.Name.float.rawValue:
            self = Self.tagged(text, "!!float") {
                switch $0 {
                case .float, .integer: true
                default: false
                }
            }
        case let other:
            self = .invalid("a scalar with unsupported tag '\(other)'")
        }
    }

    private static func tagged(_ text: String, _ tag: String, accepts: (ScalarValue) -> Bool) -> ScalarValue {
        let value = core(text)
        if accepts(value) {
            if tag == "!!float", case .integer(let text, let integer) = value {
                return .float(text: text, value: Double(integer ?? 0))
            }
            return value
        }
        return .invalid("\(tag) \(YAMLValue.quote(text)), which is not a valid \(tag)")
    }

    /// The YAML 1.2.2 core schema for plain scalars.
    static func core(_ text: String) -> ScalarValue {
        switch text {
        case "", "~", "null", "Null", "NULL": return .null
        case "true", "True", "TRUE": return .bool(true)
        case "false", "False", "FALSE": return .bool(false)
        case ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF": return .float(text: text, value: .infinity)
        case "-.inf", "-.Inf", "-.INF": return .float(text: text, value: -.infinity)
        case ".nan", ".NaN", ".NAN": return .float(text: text, value: .nan)
        default: break
        }
        let utf8 = Array(text.utf8)
        switch parseInteger(utf8) {
        case .value(let value): return .integer(text: text, value: value)
        case .overflow: return .integer(text: text, value: nil)
        case .notInteger: break
        }
        if isFloat(utf8), let value = Double(text) { return .float(text: text, value: value) }
        return .string(text)
    }

    private enum ParsedInteger {
        case value(Int)
        case overflow
        case notInteger
    }

    /// `[-+]?[0-9]+ | 0o[0-7]+ | 0x[0-9a-fA-F]+`
    private static func parseInteger(_ bytes: [UInt8]) -> ParsedInteger {
        var digits = bytes[...]
        var radix = 10
        var negative = false
        if digits.count > 2, digits.first == UInt8(ascii: "0"), digits.dropFirst().first == UInt8(ascii: "x") {
            radix = 16
            digits = digits.dropFirst(2)
        } else if digits.count > 2, digits.first == UInt8(ascii: "0"), digits.dropFirst().first == UInt8(ascii: "o") {
            radix = 8
            digits = digits.dropFirst(2)
        } else if let sign = digits.first, sign == UInt8(ascii: "-") || sign == UInt8(ascii: "+") {
            negative = sign == UInt8(ascii: "-")
            digits = digits.dropFirst()
        }
        guard !digits.isEmpty else { return .notInteger }
        var value = 0
        var overflow = false
        for byte in digits {
            let digit: Int
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = Int(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f") where radix == 16: digit = Int(byte - UInt8(ascii: "a")) + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F") where radix == 16: digit = Int(byte - UInt8(ascii: "A")) + 10
            default: return .notInteger
            }
            guard digit < radix else { return .notInteger }
            if overflow { continue }
            let (shifted, o1) = value.multipliedReportingOverflow(by: radix)
            let (next, o2) = negative ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
            overflow = o1 || o2
            value = next
        }
        return overflow ? .overflow : .value(value)
    }

    /// `[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?`
    private static func isFloat(_ bytes: [UInt8]) -> Bool {
        var index = 0
        func digits() -> Int {
            let start = index
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            return index - start
        }
        func take(_ characters: String) -> Bool {
            guard index < bytes.count, characters.utf8.contains(bytes[index]) else { return false }
            index += 1
            return true
        }
        _ = take("+-")
        if take(".") {
            guard digits() > 0 else { return false }
        } else {
            guard digits() > 0 else { return false }
            if take(".") { _ = digits() }
        }
        if take("eE") {
            _ = take("+-")
            guard digits() > 0 else { return false }
        }
        return index == bytes.count
    }
}

extension YAMLValue {
    /// The resolver to compose documents with: it resolves every plain scalar to a private tag so that
    /// ``ScalarValue`` can apply the YAML 1.2 core schema itself instead of Yams' YAML 1.1 rules.
    static let resolver: Resolver = {
        // The pattern "^" matches every string, so no plain scalar keeps Yams' 1.1 interpretation.
        guard let rule = try? Resolver.Rule(ScalarValue.plainTag, "^") else {
            preconditionFailure("the pattern ^ is a valid regular expression")
        }
        return Resolver.basic.appending(rule)
    }()

    /// The scalar's core-schema value, or nil for collections.
    var scalarValue: ScalarValue? {
        guard case .scalar(let scalar) = node else { return nil }
        return ScalarValue(scalar)
    }

    /// Whether the node is a plain (unquoted, untagged) scalar.
    var isPlain: Bool {
        guard case .scalar(let scalar) = node else { return false }
        return scalar.tag.description == ScalarValue.plainTag.rawValue || scalar.tag.description.isEmpty
    }

    /// The node as a string. Quoted, block and `!!str` scalars are strings; so are plain scalars that
    /// are not null, booleans or numbers. `12`, `true` and `null` are rejected with a hint to quote them.
    public func string() throws(YAMLError) -> String {
        switch scalarValue {
        case .string(let text):
            return text
        case .integer(let text, _), .float(let text, _):
            throw typeMismatch(expected: "a string", hint: "quote it if you mean the string \"\(text)\"")
        case .bool(let value):
            throw typeMismatch(expected: "a string", hint: "quote it if you mean the string \"\(value)\"")
        case .null, .invalid, .none:
            throw typeMismatch(expected: "a string")
        }
    }

    /// The node as an integer within `range` (decimal, `0x` hexadecimal or `0o` octal; never a quoted string).
    public func int(range: ClosedRange<Int> = Int.min...Int.max) throws(YAMLError) -> Int {
        guard case .integer(let text, let value) = scalarValue else { throw typeMismatch(expected: "an integer") }
        guard let value else { throw error("integer \(text) is too large") }
        guard range.contains(value) else { throw outOfRange(text, range.lowerBound, range.upperBound, Int.min, Int.max) }
        return value
    }

    /// The node as a boolean: `true` or `false` (also `True`/`TRUE`/`False`/`FALSE`) only.
    /// `yes`, `no`, `on` and `off` are strings, not booleans, and are rejected.
    public func bool() throws(YAMLError) -> Bool {
        guard case .bool(let value) = scalarValue else {
            throw typeMismatch(expected: "a boolean (true or false)")
        }
        return value
    }

    /// The node as a finite number within `range`; integers are accepted. `.inf` and `.nan` are rejected.
    public func double(range: ClosedRange<Double> = -Double.greatestFiniteMagnitude...Double.greatestFiniteMagnitude)
        throws(YAMLError) -> Double
    {
        let text: String
        let value: Double
        switch scalarValue {
        case .float(let t, let v): (text, value) = (t, v)
        case .integer(let t, let v): (text, value) = (t, v.map(Double.init) ?? Double(t) ?? .infinity)
        default: throw typeMismatch(expected: "a number")
        }
        guard value.isFinite else { throw error("expected a finite number, found \(text)") }
        guard range.contains(value) else {
            throw outOfRange(text, range.lowerBound, range.upperBound,
                             -Double.greatestFiniteMagnitude, Double.greatestFiniteMagnitude)
        }
        return value
    }

    /// The node as one of `choices` (compared exactly); otherwise throws
    /// `invalid value 'kafak' (did you mean 'kafka'?)` or lists the choices.
    public func oneOf(_ choices: [String]) throws(YAMLError) -> String {
        let text: String
        do { text = try string() } catch {
            throw typeMismatch(expected: "one of \(choices.joined(separator: ", "))")
        }
        guard choices.contains(text) else {
            if let suggestion = Suggestion.closest(to: text, in: choices) {
                throw self.error("invalid value '\(text)' (did you mean '\(suggestion)'?)")
            }
            throw self.error("invalid value '\(text)' (expected one of: \(choices.joined(separator: ", ")))")
        }
        return text
    }

    /// The node as a case of a string-backed enum, by raw value, with the same errors as the `[String]` overload.
    public func oneOf<Choice: CaseIterable & RawRepresentable>(_ type: Choice.Type) throws(YAMLError) -> Choice
        where Choice.RawValue == String
    {
        let text = try oneOf(type.allCases.map(\.rawValue))
        guard let choice = Choice(rawValue: text) else { preconditionFailure("\(text) is a raw value of \(type)") }
        return choice
    }

    func outOfRange<T: Comparable>(_ text: String, _ lower: T, _ upper: T, _ minimum: T, _ maximum: T,
                                   format: (T) -> String = { "\($0)" }) -> YAMLError {
        if upper == maximum { return error("\(text) is below the minimum of \(format(lower))") }
        if lower == minimum { return error("\(text) is above the maximum of \(format(upper))") }
        return error("\(text) is out of range \(format(lower))...\(format(upper))")
    }
}
