import VigilCore
import VigilYAML

/// Compiles Sigma search identifiers (selections and keyword lists) to ``Expression``s, mapping
/// field names through a logsource's resolution. Constructs Vigil cannot run are collected in
/// ``unsupported`` (the expression returned for them is `false`); malformed input throws.
struct SigmaDetectionCompiler {
    var rule: String
    var resolution: SigmaLogsourceResolution
    var unsupported: [Unsupported] = []

    init(rule: String, resolution: SigmaLogsourceResolution) {
        self.rule = rule
        self.resolution = resolution
    }

    mutating func report(_ at: YAMLValue, _ construct: String, _ detail: String) {
        let unsupported = Unsupported(rule: rule, origin: Origin(file: at.file, line: at.line, column: at.column),
                                      construct: construct, detail: detail)
        if !self.unsupported.contains(unsupported) { self.unsupported.append(unsupported) }
    }

    /// A search identifier's value: a map (all of its fields), a list (any of its elements: maps,
    /// or keywords), or a single keyword.
    mutating func selection(_ value: YAMLValue) throws(SigmaError) -> Expression {
        if let map = try? value.mapping() {
            var parts: [Expression] = []
            for entry in map.entries {
                parts.append(try field(key: entry.key, keyValue: entry.keyValue, value: entry.value))
            }
            return Expression.allOf(parts)
        }
        if let list = try? value.sequence() {
            if list.isEmpty { throw SigmaError(at: value, "a search identifier's list is empty") }
            var keywords: [YAMLValue] = []
            var maps: [Expression] = []
            for element in list {
                if (try? element.mapping()) != nil {
                    maps.append(try selection(element))
                } else if (try? element.sequence()) != nil {
                    throw SigmaError(at: element, "a list inside a search identifier's list is not Sigma")
                } else {
                    keywords.append(element)
                }
            }
            if !keywords.isEmpty { maps.append(try match(fieldName: "", modifiers: [], at: value, values: keywords)) }
            return Expression.anyOf(maps)
        }
        return try match(fieldName: "", modifiers: [], at: value, values: [value])
    }

    /// One `field|modifier|…: value(s)` entry.
    mutating func field(key: String, keyValue: YAMLValue, value: YAMLValue) throws(SigmaError) -> Expression {
        let parts = key.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        let values: [YAMLValue]
        if let list = try? value.sequence() {
            values = list
            if list.isEmpty { throw SigmaError(at: value, "'\(key)' has an empty list of values") }
        } else if (try? value.mapping()) != nil {
            throw SigmaError(at: value, "'\(key)' has a mapping as its value (expected a value or a list of values)")
        } else {
            values = [value]
        }
        for element in values where (try? element.mapping()) != nil || (try? element.sequence()) != nil {
            throw SigmaError(at: element, "'\(key)' lists a mapping or a list (expected plain values)")
        }
        return try match(fieldName: parts[0], modifiers: Array(parts.dropFirst()), at: keyValue, values: values)
    }

    /// A scalar as Sigma reads it.
    enum Scalar {
        case string(String)
        case number(Double, String)
        case bool(Bool)
        case null
    }

    static func scalar(_ value: YAMLValue) -> Scalar {
        if value.isNull { return .null }
        if let b = try? value.bool() { return .bool(b) }
        if let i = try? value.int() { return .number(Double(i), String(i)) }
        if let d = try? value.double() { return .number(d, (try? value.string()) ?? String(d)) }
        return .string((try? value.string()) ?? "")
    }

    /// The text of a scalar for string operators.
    static func text(_ scalar: Scalar) -> String? {
        switch scalar {
        case .string(let s): s
        case .number(_, let text): text
        case .bool(let b): b ? "true" : "false"
        case .null: nil
        }
    }

    /// One alternative a value compiles to.
    private struct Alternative {
        var op: Operator
        var value: Value?
        /// `false`: the field must be absent or null (`field: null`).
        var negatedExists = false
        var caseInsensitive: Bool
    }

    private enum StringOperator: String {
        case contains, startswith, endswith
    }

    mutating func match(fieldName: String, modifiers: [String], at place: YAMLValue, values: [YAMLValue]) throws(SigmaError)
        -> Expression
    {
        let keyword = fieldName.isEmpty
        let targets: [String]
        if keyword {
            targets = resolution.keywordFields
        } else if let mapped = resolution.vigilFields(fieldName) {
            targets = mapped
        } else {
            report(place, "field \(fieldName)",
                   "the Sigma field '\(fieldName)' has no Vigil field in the mapping for \(resolution.description)")
            return .constant(false)
        }

        var stringOp: StringOperator? = keyword ? .contains : nil
        var explicitOp: String? = nil
        var matchAll = false
        var cased = false
        var regexFlags = ""
        var transforms: [String] = []
        var supported = true
        for raw in modifiers {
            let modifier = raw.lowercased()
            switch modifier {
            case "contains", "startswith", "endswith":
                if explicitOp != nil { throw SigmaError(at: place, "modifier '\(raw)' combined with '\(explicitOp!)'") }
                explicitOp = modifier
                stringOp = StringOperator(rawValue: modifier)
            case "re", "cidr", "lt", "lte", "gt", "gte", "exists":
                if explicitOp != nil { throw SigmaError(at: place, "modifier '\(raw)' combined with '\(explicitOp!)'") }
                explicitOp = modifier
                stringOp = nil
            case "all":
                matchAll = true
            case "cased":
                cased = true
            case "i", "m", "s":
                guard explicitOp == "re" else { throw SigmaError(at: place, "modifier '\(raw)' only follows 're'") }
                regexFlags.append(modifier)
            case "base64", "base64offset", "windash":
                transforms.append(modifier)
            case "utf16le", "utf16be", "utf16", "wide":
                report(place, "modifier \(modifier)",
                       "UTF-16 encodings occur in Windows binary data; Vigil's events hold UTF-8 text")
                supported = false
            case "expand":
                report(place, "modifier expand", "placeholders (%name%) need a placeholder table, which Vigil does not have")
                supported = false
            case "fieldref":
                report(place, "modifier fieldref", "comparing two fields of one event is not in Vigil's predicate model")
                supported = false
            default:
                report(place, "modifier \(modifier)", "unknown Sigma modifier")
                supported = false
            }
        }
        if !supported { return .constant(false) }
        if transforms.contains("base64offset") && stringOp != .contains {
            throw SigmaError(at: place, "base64offset needs the contains modifier")
        }

        // Each original value gives one or more alternatives (windash, base64offset variants).
        var perValue: [[Alternative]] = []
        for value in values {
            let scalar = Self.scalar(value)
            var alternatives: [Alternative] = []
            switch explicitOp {
            case "exists":
                guard case .bool(let present) = scalar else { throw SigmaError(at: value, "exists takes true or false") }
                alternatives = [Alternative(op: .exists, value: nil, negatedExists: !present, caseInsensitive: false)]
            case "lt", "lte", "gt", "gte":
                let number: Double
                switch scalar {
                case .number(let n, _): number = n
                case .string(let s) where Double(s) != nil: number = Double(s) ?? 0
                default: throw SigmaError(at: value, "'\(explicitOp!)' compares with a number")
                }
                let op: Operator = switch explicitOp {
                case "lt": .lessThan
                case "lte": .lessOrEqual
                case "gt": .greaterThan
                default: .greaterOrEqual
                }
                alternatives = [Alternative(op: op, value: .number(number), caseInsensitive: false)]
            case "cidr":
                guard case .string(let text) = scalar, IPNetwork(text) != nil else {
                    throw SigmaError(at: value, "'cidr' needs a network such as 10.0.0.0/8")
                }
                alternatives = [Alternative(op: .cidr, value: .string(text), caseInsensitive: false)]
            case "re":
                guard let pattern = Self.text(scalar) else { throw SigmaError(at: value, "'re' needs a pattern") }
                let inline = regexFlags.filter { $0 != "i" }
                alternatives = [Alternative(op: .regex, value: .string(inline.isEmpty ? pattern : "(?\(inline))" + pattern),
                                            caseInsensitive: regexFlags.contains("i"))]
            default:
                // Plain values and string operators.
                if stringOp == nil && transforms.isEmpty {
                    switch scalar {
                    case .null:
                        alternatives = [Alternative(op: .exists, value: nil, negatedExists: true, caseInsensitive: false)]
                    case .number(let n, _):
                        alternatives = [Alternative(op: .equals, value: .number(n), caseInsensitive: false)]
                    case .bool(let b):
                        alternatives = [Alternative(op: .equals, value: .bool(b), caseInsensitive: false)]
                    case .string:
                        break
                    }
                    if !alternatives.isEmpty { break }
                }
                guard let text = Self.text(scalar) else {
                    throw SigmaError(at: value, "null cannot be combined with a modifier")
                }
                var patterns = [SigmaPattern(sigma: text)]
                for transform in transforms {
                    switch transform {
                    case "windash":
                        var out: [SigmaPattern] = []
                        for pattern in patterns {
                            for dash in SigmaTransform.dashes {
                                let variant = pattern.mapText { t in Self.replaceDashes(t, with: dash) }
                                if !out.contains(variant) { out.append(variant) }
                            }
                        }
                        patterns = out
                    default:
                        var out: [SigmaPattern] = []
                        for pattern in patterns {
                            guard let literal = pattern.literal else {
                                report(value, "modifier \(transform) with wildcards",
                                       "a value with wildcards has no single Base64 form")
                                return .constant(false)
                            }
                            if transform == "base64" {
                                out.append(SigmaPattern(literal: SigmaTransform.base64(Array(literal.utf8))))
                            } else {
                                out += SigmaTransform.base64Offsets(literal).map { SigmaPattern(literal: $0) }
                            }
                        }
                        patterns = out
                    }
                }
                for pattern in patterns {
                    let shaped: SigmaPattern = switch stringOp {
                    case .contains?: pattern.contained()
                    case .startswith?: pattern.prefixed()
                    case .endswith?: pattern.suffixed()
                    case nil: pattern
                    }
                    let (op, compiled) = shaped.compiled()
                    alternatives.append(Alternative(op: op, value: op == .exists ? nil : .string(compiled),
                                                    caseInsensitive: op == .exists ? false : !cased))
                }
            }
            perValue.append(alternatives)
        }

        var perTarget: [Expression] = []
        for target in targets {
            perTarget.append(Self.combine(field: target, perValue: perValue, matchAll: matchAll))
        }
        return Expression.anyOf(perTarget)
    }

    /// Replaces the dashes `windash` varies (a `-` or `/` starting the text or after a space).
    static func replaceDashes(_ text: String, with dash: String) -> String {
        var out = ""
        var previous: Unicode.Scalar? = nil
        for scalar in text.unicodeScalars {
            if (scalar == "-" || scalar == "/") && (previous == nil || previous == " ") {
                out += dash
            } else {
                out.unicodeScalars.append(scalar)
            }
            previous = scalar
        }
        return out
    }

    /// The alternatives of all values on one field: any value (or, with `all`, every value), each
    /// value matching any of its alternatives. Values sharing an operator share a predicate.
    private static func combine(field: String, perValue: [[Alternative]], matchAll: Bool) -> Expression {
        func predicates(_ alternatives: [Alternative], all: Bool) -> [Expression] {
            var groups: [(key: String, predicate: Predicate)] = []
            var extra: [Expression] = []
            for alternative in alternatives {
                if alternative.negatedExists {
                    extra.append(.not(.predicate(Predicate(field: field, op: .exists))))
                    continue
                }
                let key = "\(alternative.op.rawValue)|\(alternative.caseInsensitive)"
                if let index = groups.firstIndex(where: { $0.key == key }) {
                    if let value = alternative.value, !groups[index].predicate.values.contains(value) {
                        groups[index].predicate.values.append(value)
                    }
                } else {
                    groups.append((key, Predicate(field: field, op: alternative.op, values: alternative.value.map { [$0] } ?? [],
                                                  matchAll: all && alternative.op != .exists,
                                                  caseInsensitive: alternative.caseInsensitive)))
                }
            }
            return groups.map { .predicate($0.predicate) } + extra
        }
        if !matchAll || perValue.count == 1 {
            return Expression.anyOf(predicates(perValue.flatMap { $0 }, all: false))
        }
        if perValue.allSatisfy({ $0.count == 1 }) {
            return Expression.allOf(predicates(perValue.map { $0[0] }, all: true))
        }
        return Expression.allOf(perValue.map { Expression.anyOf(predicates($0, all: false)) })
    }
}

extension Expression {
    /// `all` of `parts`, flattened: nested `all`s are merged, a single part is itself, `true`s dropped.
    static func allOf(_ parts: [Expression]) -> Expression {
        var flat: [Expression] = []
        for part in parts {
            switch part {
            case .all(let inner): flat += inner
            case .constant(true): continue
            default: flat.append(part)
            }
        }
        return flat.count == 1 ? flat[0] : .all(flat)
    }

    /// `any` of `parts`, flattened likewise (`false`s dropped).
    static func anyOf(_ parts: [Expression]) -> Expression {
        var flat: [Expression] = []
        for part in parts {
            switch part {
            case .any(let inner): flat += inner
            case .constant(false): continue
            default: flat.append(part)
            }
        }
        return flat.count == 1 ? flat[0] : .any(flat)
    }
}
