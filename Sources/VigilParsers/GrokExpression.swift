import VigilYAML

/// How a grok capture's text becomes a field value: `%{NUMBER:bytes:int}`.
public enum GrokValueType: String, Sendable, CaseIterable {
    case string, int, float
}

/// One named capture of an expanded grok expression: the regex group that holds it, the event
/// field it sets and the type it is converted to.
public struct GrokCapture: Sendable, Equatable {
    /// The generated group name in the expanded regex (`g0`, `g1`, …): field names such as
    /// `source.ip` are not valid regex group names.
    public let group: String
    /// The event field (dotted ECS name; Logstash's `[a][b]` form is accepted and becomes `a.b`).
    public let field: String
    public let type: GrokValueType
}

/// Why a grok expression could not be expanded. `definedIn` names the pattern whose text holds the
/// mistake (nil when it is the expression itself), so callers can point at the right place.
public struct GrokExpansionError: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public let definedIn: String?
    public var description: String { message }
}

/// Expands `%{NAME}`, `%{NAME:field}`, `%{NAME:field:type}` references and `(?<field>…)` named
/// groups into one regex string with generated group names, recursively, detecting unknown names,
/// reference cycles and runaway growth.
///
/// Every reference is wrapped in a group (`(?:…)` or `(?<gN>…)`), so an alternation inside a
/// pattern never leaks into the expression around it. Backslash escapes are copied as they are
/// (`\%{` is not a reference).
public struct GrokExpander {
    /// The longest expanded regex accepted, in bytes: a pattern that refers to another many times
    /// at many levels grows exponentially, and such a regex would be unusable anyway.
    public static let maximumExpandedBytes = 256 * 1024

    let definitions: [String: String]
    private(set) var captures: [GrokCapture] = []
    private var stack: [String] = []
    private var output: [UInt8] = []

    public init(definitions: [String: String]) { self.definitions = definitions }

    /// Expands `expression`; returns the regex text and its captures in group order.
    public static func expand(_ expression: String, definitions: [String: String]) throws(GrokExpansionError) -> (regex: String, captures: [GrokCapture]) {
        var expander = GrokExpander(definitions: definitions)
        try expander.append(Array(expression.utf8))
        return (String(decoding: expander.output, as: UTF8.self), expander.captures)
    }

    private func fail(_ message: String) -> GrokExpansionError {
        GrokExpansionError(message: message, definedIn: stack.last)
    }

    private static func isNameByte(_ b: UInt8) -> Bool {
        (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
    }

    /// `[a][b]` → `a.b`; anything else unchanged.
    static func fieldName(_ raw: String) -> String {
        guard raw.hasPrefix("["), raw.hasSuffix("]") else { return raw }
        return raw.dropFirst().dropLast().split(separator: "][", omittingEmptySubsequences: false).joined(separator: ".")
    }

    private mutating func addCapture(field rawField: String, type: GrokValueType) throws(GrokExpansionError) -> String {
        let field = Self.fieldName(rawField)
        guard !field.isEmpty else { throw fail("a capture needs a field name") }
        let group = "g\(captures.count)"
        captures.append(GrokCapture(group: group, field: field, type: type))
        return group
    }

    private mutating func append(_ p: [UInt8]) throws(GrokExpansionError) {
        var i = 0
        while i < p.count {
            let b = p[i]
            if b == UInt8(ascii: "\\") {
                output.append(b)
                if i + 1 < p.count { output.append(p[i + 1]) }
                i += 2
                continue
            }
            if b == UInt8(ascii: "%"), i + 1 < p.count, p[i + 1] == UInt8(ascii: "{") {
                guard let close = p[(i + 2)...].firstIndex(of: UInt8(ascii: "}")) else {
                    throw fail("'%{' without a closing '}'")
                }
                try reference(p[(i + 2)..<close])
                i = close + 1
                continue
            }
            if b == UInt8(ascii: "("), i + 3 < p.count, p[i + 1] == UInt8(ascii: "?"), p[i + 2] == UInt8(ascii: "<"),
               p[i + 3] != UInt8(ascii: "="), p[i + 3] != UInt8(ascii: "!") {
                // An inline named capture, Oniguruma style: (?<source.ip>…) or (?<[source][ip]>…).
                guard let close = p[(i + 3)...].firstIndex(of: UInt8(ascii: ">")) else { throw fail("'(?<' without a closing '>'") }
                let field = String(decoding: p[(i + 3)..<close], as: UTF8.self)
                let group = try addCapture(field: field, type: .string)
                output += Array("(?<\(group)>".utf8)
                i = close + 1
                continue
            }
            output.append(b)
            i += 1
        }
        if output.count > Self.maximumExpandedBytes {
            throw fail("the expanded regex exceeds \(Self.maximumExpandedBytes / 1024) KiB (a pattern refers to others too many times)")
        }
    }

    private mutating func reference(_ body: ArraySlice<UInt8>) throws(GrokExpansionError) {
        let parts = body.split(separator: UInt8(ascii: ":"), maxSplits: 2, omittingEmptySubsequences: false)
        let name = String(decoding: parts[0], as: UTF8.self)
        guard !parts[0].isEmpty, parts[0].allSatisfy(Self.isNameByte) else {
            throw fail("'%{\(String(decoding: body, as: UTF8.self))}' is not a pattern reference (%{NAME}, %{NAME:field} or %{NAME:field:int|float})")
        }
        guard let definition = definitions[name] else {
            let hint = Suggestion.closest(to: name, in: Array(definitions.keys)).map { " (did you mean '\($0)'?)" } ?? ""
            throw fail("unknown grok pattern '\(name)'\(hint)")
        }
        if let start = stack.firstIndex(of: name) {
            throw fail("grok patterns refer to each other in a cycle: \((stack[start...] + [name]).joined(separator: " → "))")
        }
        var type = GrokValueType.string
        if parts.count == 3 {
            let typeName = String(decoding: parts[2], as: UTF8.self)
            guard let t = GrokValueType(rawValue: typeName) else {
                throw fail("unknown capture type '\(typeName)' in %{\(String(decoding: body, as: UTF8.self))} (use int, float or string)")
            }
            type = t
        }
        if parts.count >= 2 && !parts[1].isEmpty {
            let group = try addCapture(field: String(decoding: parts[1], as: UTF8.self), type: type)
            output += Array("(?<\(group)>".utf8)
        } else {
            output += Array("(?:".utf8)
        }
        stack.append(name)
        try append(Array(definition.utf8))
        stack.removeLast()
        output.append(UInt8(ascii: ")"))
    }
}
