import Yams

/// A read-only cursor over one node of a parsed YAML document: the node, the file it came from and
/// its key path (`broker.embedded.segment_bytes`, `sensors[0].name`), so every accessor can throw a
/// ``YAMLError`` that says where the problem is.
///
/// Typical use, from the top of a document:
/// ```swift
/// let root = try YAMLValue.parse(yaml: text, file: "vigil.yaml")
/// let top = try root.mapping(allowedKeys: ["data_dir", "broker"])
/// let dataDirectory = try top.optional("data_dir")?.string() ?? "/var/lib/vigil"
/// ```
///
/// ## The dialect
/// - Plain scalars follow the YAML 1.2 core schema: `true`/`false` (also `True`, `TRUE`, …) are
///   booleans, `null`, `~` and nothing at all are null, `12`, `-3`, `0x1F`, `0o17` are integers.
///   YAML 1.1's `yes`/`no`/`on`/`off` are **strings**, so `bool()` rejects them.
/// - Quoted and block (`|`, `>`) scalars, and scalars tagged `!!str`, are always strings: `"5"` is
///   not an integer. `!!int`, `!!float`, `!!bool` and `!!null` are honoured; other tags are rejected.
/// - Keys are compared as text; the same key twice in one mapping is an error.
/// - Anchors and aliases are resolved (by Yams). A node reached through an alias reports the
///   position of the anchored node. Merge keys (`<<`) are not supported and are reported as such.
/// - A document must be a single one: an empty file or a second `---` document is an error.
public struct YAMLValue {
    /// The underlying Yams node, for readers that need something this type does not offer.
    public let node: Node
    /// The file name used in errors.
    public let file: String
    /// The key path from the document root: `""` for the root, `a.b`, `a[2].c`, `a["x.y"]`.
    public let path: String

    /// Wraps `node`. Prefer ``parse(yaml:file:)``, which also checks syntax and duplicate keys.
    public init(node: Node, file: String, path: String = "") {
        self.node = node
        self.file = file
        self.path = path
    }

    /// 1-based line of the node (of the anchored node, if reached through an alias).
    public var line: Int { node.mark?.line ?? 0 }
    /// 1-based column of the node, in Unicode scalars.
    public var column: Int { node.mark?.column ?? 0 }

    /// Whether the node is a null scalar (`null`, `~`, or an empty value such as `key:`).
    public var isNull: Bool {
        if case .null = scalarValue { return true }
        return false
    }

    /// An error positioned at this node whose message starts with its path: `path: message`.
    /// Use it for cross-field rules that the typed accessors cannot check.
    public func error(_ message: String, code: YAMLError.Code = .invalidValue) -> YAMLError {
        positionedError(path.isEmpty ? message : "\(path): \(message)", code: code)
    }

    /// An error positioned at this node with `message` as is (no path prefix).
    public func positionedError(_ message: String, code: YAMLError.Code = .invalidValue) -> YAMLError {
        YAMLError(file: file, line: line, column: column, message: message, code: code)
    }

    /// `in broker.embedded` or `at the top level`, for messages about keys of this mapping.
    var location: String { path.isEmpty ? "at the top level" : "in \(path)" }

    func child(key: String, node: Node) -> YAMLValue {
        YAMLValue(node: node, file: file, path: Self.join(path, key: key))
    }

    func element(_ index: Int, node: Node) -> YAMLValue {
        YAMLValue(node: node, file: file, path: "\(path)[\(index)]")
    }

    static func join(_ path: String, key: String) -> String {
        let simple = !key.isEmpty && key.unicodeScalars.allSatisfy {
            ("a"..."z").contains($0) || ("A"..."Z").contains($0) || ("0"..."9").contains($0) || $0 == "_" || $0 == "-"
        }
        if !simple { return "\(path)[\(key.debugDescription)]" }
        return path.isEmpty ? key : "\(path).\(key)"
    }

    func typeMismatch(expected: String, hint: String? = nil) -> YAMLError {
        var message = "expected \(expected), found \(foundDescription)"
        if let hint { message += " (\(hint))" }
        return error(message, code: .typeMismatch)
    }

    /// How the node is described after "found": `string "four"`, `integer 4`, `a mapping`.
    var foundDescription: String {
        switch node {
        case .mapping: return "a mapping"
        case .sequence: return "a sequence"
        case .alias: return "an alias"
        case .scalar:
            switch scalarValue {
            case .null: return "null"
            case .bool(let value): return "boolean \(value)"
            case .integer(let text, _): return "integer \(text)"
            case .float(let text, _): return "number \(text)"
            case .string(let text): return "string \(Self.quote(text))"
            case .invalid(let reason): return reason
            case .none: return "a scalar"
            }
        }
    }

    /// `"text"` with escapes, shortened to 60 characters so that a huge value cannot flood a terminal.
    static func quote(_ text: String) -> String {
        let limit = 60
        if text.count <= limit { return text.debugDescription }
        return String(text.prefix(limit)).debugDescription.dropLast() + "…\""
    }
}

// MARK: - Collections

extension YAMLValue {
    /// The node as a mapping whose keys must all be in `allowedKeys`.
    ///
    /// Throws at the first key (in document order) that is not allowed, suggesting the closest allowed
    /// key: `unknown key 'segmnet_bytes' in broker.embedded (did you mean 'segment_bytes'?)`.
    /// - Complexity: O(*n* · *k*) for *n* keys and *k* allowed keys, plus the suggestion for an unknown key.
    public func mapping(allowedKeys: [String]) throws(YAMLError) -> YAMLMapping {
        let mapping = try self.mapping()
        for entry in mapping.entries where !allowedKeys.contains(entry.key) {
            var message = "unknown key '\(entry.key)' \(location)"
            if let suggestion = Suggestion.closest(to: entry.key, in: allowedKeys) {
                message += " (did you mean '\(suggestion)'?)"
            } else if allowedKeys.isEmpty {
                message += " (no keys are allowed here)"
            } else {
                message += " (expected one of: \(allowedKeys.joined(separator: ", ")))"
            }
            throw entry.keyValue.positionedError(message, code: .unknownKey)
        }
        return mapping
    }

    /// The node as a mapping with any scalar keys (for maps whose keys are data, such as topic names).
    /// Keys must be unique and may not be merge keys (`<<`).
    public func mapping() throws(YAMLError) -> YAMLMapping {
        guard case .mapping(let mapping) = node else { throw typeMismatch(expected: "a mapping") }
        var entries: [YAMLMapping.Entry] = []
        entries.reserveCapacity(mapping.count)
        var firstByKey: [String: YAMLValue] = [:]
        for (keyNode, valueNode) in mapping {
            let keyValue = YAMLValue(node: keyNode, file: file, path: path)
            guard case .scalar(let scalar) = keyNode else {
                throw keyValue.positionedError("mapping keys \(location) must be scalars, found \(keyValue.foundDescription)",
                                               code: .typeMismatch)
            }
            let key = scalar.string
            if key == "<<" && keyValue.isPlain {
                throw keyValue.positionedError("merge keys ('<<') are not supported \(location); write the keys out",
                                               code: .unknownKey)
            }
            if let first = firstByKey[key] {
                throw keyValue.positionedError(
                    "duplicate key '\(key)' \(location) (first defined at \(first.line):\(first.column))",
                    code: .duplicateKey)
            }
            let keyAtPath = YAMLValue(node: keyNode, file: file, path: Self.join(path, key: key))
            firstByKey[key] = keyAtPath
            entries.append(YAMLMapping.Entry(key: key, keyValue: keyAtPath, value: child(key: key, node: valueNode)))
        }
        return YAMLMapping(value: self, entries: entries)
    }

    /// The node as a sequence; elements have paths `path[0]`, `path[1]`, ….
    public func sequence() throws(YAMLError) -> [YAMLValue] {
        guard case .sequence(let sequence) = node else { throw typeMismatch(expected: "a sequence") }
        return sequence.enumerated().map { element($0.offset, node: $0.element) }
    }

    /// The node as a mapping from strings to strings (`{ "linger.ms": "5" }`). Values must be strings:
    /// `5` is rejected with a hint to quote it, so that nothing is silently reformatted.
    public func stringMap() throws(YAMLError) -> [String: String] {
        let mapping = try self.mapping()
        var result: [String: String] = [:]
        for entry in mapping.entries {
            result[entry.key] = try entry.value.string()
        }
        return result
    }
}

/// The entries of a mapping node, in document order, with typed lookups. Obtained from
/// ``YAMLValue/mapping(allowedKeys:)`` or ``YAMLValue/mapping()``.
public struct YAMLMapping {
    /// One key/value pair.
    public struct Entry {
        /// The key as text.
        public let key: String
        /// The key node (for errors about the key itself, such as an invalid name); its path is the value's path.
        public let keyValue: YAMLValue
        /// The value node.
        public let value: YAMLValue
    }

    /// The mapping node itself (for errors about the mapping as a whole).
    public let value: YAMLValue
    /// The entries in document order.
    public let entries: [Entry]

    /// The keys in document order.
    public var keys: [String] { entries.map(\.key) }

    /// The value for `key`, including an explicit null; `nil` only when the key is absent.
    public subscript(key: String) -> YAMLValue? {
        entries.first { $0.key == key }?.value
    }

    /// The value for `key`, or `nil` when the key is absent **or its value is null**, so that a
    /// section whose children are all commented out (`stream:`) means "use the defaults".
    public func optional(_ key: String) -> YAMLValue? {
        guard let value = self[key], !value.isNull else { return nil }
        return value
    }

    /// The value for `key`; throws `missing required key 'key' in path` at the mapping when absent.
    /// A present but null value is returned, and then rejected by the typed accessor.
    public func required(_ key: String) throws(YAMLError) -> YAMLValue {
        guard let value = self[key] else {
            throw value.positionedError("missing required key '\(key)' \(value.location)", code: .missingKey)
        }
        return value
    }
}
