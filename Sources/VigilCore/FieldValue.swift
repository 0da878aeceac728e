/// The value of one event field.
///
/// Equality follows the payloads' own `==`: in particular `.float(0.0) == .float(-0.0)` and
/// `.float(.nan) != .float(.nan)`, as for `Double`. `.int(1)` and `.float(1)` are different values.
///
/// `.object` values live only inside arrays: an object assigned to an ``Event`` key is flattened
/// into dotted keys (see ``Event/subscript(_:)``).
public enum FieldValue: Sendable, Hashable {
    /// UTF-8 text (ECS `keyword`, `text`, `wildcard`).
    case string(String)
    /// A signed 64-bit integer (ECS `long`, `integer`, `short`, `byte`).
    case int(Int64)
    /// A binary64 floating-point number (ECS `double`, `float`, `scaled_float`).
    case float(Double)
    /// `true` or `false`.
    case bool(Bool)
    /// An instant (ECS `date`).
    case timestamp(Timestamp)
    /// An IPv4 or IPv6 address (ECS `ip`).
    case ip(IPAddress)
    /// An ordered list of values, possibly of mixed types.
    case array([FieldValue])
    /// An ordered set of named values; only inside arrays.
    case object(FieldObject)
    /// An explicit null.
    case null

    /// The deepest nesting of arrays and objects the codecs accept: a scalar has depth 0,
    /// `[1]` depth 1, `[[1]]` depth 2. Deeper values are rejected when decoding.
    public static let maximumNestingDepth = 32

    /// The name of this value's type: `string`, `int`, `float`, `bool`, `timestamp`, `ip`,
    /// `array`, `object` or `null`.
    public var typeName: String {
        switch self {
        case .string: "string"
        case .int: "int"
        case .float: "float"
        case .bool: "bool"
        case .timestamp: "timestamp"
        case .ip: "ip"
        case .array: "array"
        case .object: "object"
        case .null: "null"
        }
    }

    /// The case of a value without its payload.
    @usableFromInline
    package enum Kind: UInt8, Sendable {
        case string, int, float, bool, timestamp, ip, array, object, null
    }

    /// This value's case, without its payload (no reference counting).
    package var kind: Kind {
        switch self {
        case .string: .string
        case .int: .int
        case .float: .float
        case .bool: .bool
        case .timestamp: .timestamp
        case .ip: .ip
        case .array: .array
        case .object: .object
        case .null: .null
        }
    }

    /// The nesting depth of arrays and objects in this value (0 for scalars).
    /// - Complexity: O(n) in the number of nested values.
    public var nestingDepth: Int {
        switch self {
        case .array(let elements):
            var deepest = 0
            for e in elements { deepest = max(deepest, e.nestingDepth) }
            return deepest + 1
        case .object(let object):
            var deepest = 0
            for m in object.members { deepest = max(deepest, m.value.nestingDepth) }
            return deepest + 1
        default:
            return 0
        }
    }
}

// MARK: - Typed access

extension FieldValue {
    /// The payload of `.string`, else `nil`.
    @inlinable public var stringValue: String? { if case .string(let v) = self { v } else { nil } }
    /// The payload of `.int`, else `nil`.
    @inlinable public var intValue: Int64? { if case .int(let v) = self { v } else { nil } }
    /// The payload of `.float`, else `nil`.
    @inlinable public var floatValue: Double? { if case .float(let v) = self { v } else { nil } }
    /// The payload of `.bool`, else `nil`.
    @inlinable public var boolValue: Bool? { if case .bool(let v) = self { v } else { nil } }
    /// The payload of `.timestamp`, else `nil`.
    @inlinable public var timestampValue: Timestamp? { if case .timestamp(let v) = self { v } else { nil } }
    /// The payload of `.ip`, else `nil`.
    @inlinable public var ipValue: IPAddress? { if case .ip(let v) = self { v } else { nil } }
    /// The payload of `.array`, else `nil`.
    @inlinable public var arrayValue: [FieldValue]? { if case .array(let v) = self { v } else { nil } }
    /// The payload of `.object`, else `nil`.
    @inlinable public var objectValue: FieldObject? { if case .object(let v) = self { v } else { nil } }
    /// Whether this is `.null`.
    @inlinable public var isNull: Bool { if case .null = self { true } else { false } }
}

// MARK: - Literals

extension FieldValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral {
    @inlinable public init(stringLiteral value: String) { self = .string(value) }
    @inlinable public init(integerLiteral value: Int64) { self = .int(value) }
    @inlinable public init(floatLiteral value: Double) { self = .float(value) }
    @inlinable public init(booleanLiteral value: Bool) { self = .bool(value) }
    @inlinable public init(arrayLiteral elements: FieldValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, FieldValue)...) {
        self = .object(FieldObject(elements.map { FieldObject.Member($0.0, $0.1) }))
    }
}

extension FieldValue {
    /// A scalar value as text (IPs in their usual form, timestamps in RFC 3339); nil for null,
    /// arrays and objects. What profiles and rules group by and compare as text.
    package var scalarText: String? {
        switch self {
        case .string(let s): s
        case .int(let v): String(v)
        case .float(let v): String(v)
        case .bool(let v): v ? "true" : "false"
        case .ip(let a): a.description
        case .timestamp(let t): t.rfc3339
        case .null, .array, .object: nil
        }
    }
}

extension FieldValue: CustomStringConvertible {
    /// The value as compact JSON text (see ``EventJSON``).
    public var description: String {
        var bytes: [UInt8] = []
        JSONWriter.writeValue(self, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

// MARK: - FieldObject

/// An ordered list of named values: the payload of ``FieldValue/object(_:)``.
///
/// Member order is significant (two objects with the same members in different orders are not
/// equal) and is kept by both codecs. Keys need not be unique, as in JSON text; the key
/// subscript reads the first match. Keys are stored as given: a dot in a member key has no
/// special meaning inside an object.
public struct FieldObject: Sendable, Hashable, RandomAccessCollection, ExpressibleByDictionaryLiteral {
    /// One named value.
    public struct Member: Sendable, Hashable {
        /// The member name; a dot in it has no special meaning.
        public var key: String
        /// The member value.
        public var value: FieldValue
        /// A member.
        @inlinable public init(_ key: String, _ value: FieldValue) {
            self.key = key
            self.value = value
        }
    }

    /// The members, in order.
    public var members: [Member]

    /// An empty object.
    @inlinable public init() { members = [] }

    /// An object with the given members, in order.
    @inlinable public init(_ members: [Member]) { self.members = members }

    public init(dictionaryLiteral elements: (String, FieldValue)...) {
        members = elements.map { Member($0.0, $0.1) }
    }

    @inlinable public var startIndex: Int { members.startIndex }
    @inlinable public var endIndex: Int { members.endIndex }
    @inlinable public subscript(position: Int) -> Member { members[position] }

    /// The value of the first member named `key`. Setting replaces the first such member (or
    /// appends one) and removes any later duplicates; setting `nil` removes every such member.
    /// - Complexity: O(n)
    public subscript(key: String) -> FieldValue? {
        get {
            for m in members where m.key == key { return m.value }
            return nil
        }
        set {
            guard let first = members.firstIndex(where: { $0.key == key }) else {
                if let newValue { members.append(Member(key, newValue)) }
                return
            }
            if let newValue {
                members[first].value = newValue
                var k = members.count - 1
                while k > first {
                    if members[k].key == key { members.remove(at: k) }
                    k -= 1
                }
            } else {
                members.removeAll { $0.key == key }
            }
        }
    }
}
