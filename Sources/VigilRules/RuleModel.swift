import VigilStream

/// A detection rule as loaded from a rule file under `rules/` or compiled from a Sigma rule: what
/// it matches, what it aggregates, and how its alerts are scored and suppressed.
public struct Rule: Sendable, Equatable {
    /// Unique across all loaded rules (a Sigma rule's `id` or `name`).
    public var id: String
    public var title: String
    public var description: String
    public var severity: Severity
    /// 0…100: the alert's score; an event's threat score aggregates the scores of the rules it matched.
    public var score: Int
    /// MITRE ATT&CK ids (`attack.t1110.001`) and free tags.
    public var tags: [String]
    /// What a single event must satisfy.
    public var match: Expression
    /// At most one aggregation: without one, every matching event raises an alert.
    public var aggregation: Aggregation?
    /// Alerts with the same rule and key within this window (ns) are merged with a count.
    public var suppression: Int64?
    /// Where the rule was defined, for messages.
    public var origin: Origin
    /// Per-rule group-by (and counted) fields of a Sigma correlation whose `aliases` map to
    /// different fields in its referenced rules (empty otherwise): see ``KeyAlias``.
    public var keyAliases: [KeyAlias] = []

    public init(id: String, title: String, description: String = "", severity: Severity = .medium, score: Int = 50,
                tags: [String] = [], match: Expression, aggregation: Aggregation? = nil, suppression: Int64? = nil,
                origin: Origin = Origin(file: "", line: 0, column: 0)) {
        self.id = id
        self.title = title
        self.description = description
        self.severity = severity
        self.score = score
        self.tags = tags
        self.match = match
        self.aggregation = aggregation
        self.suppression = suppression
        self.origin = origin
    }
}

/// A place in a rule file.
public struct Origin: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var column: Int
    public init(file: String, line: Int, column: Int) {
        self.file = file
        self.line = line
        self.column = column
    }
    public var description: String { "\(file):\(line):\(column)" }
}

/// Alert severity, ordered (Sigma's levels).
public enum Severity: Int, Sendable, Equatable, Comparable, CaseIterable, CustomStringConvertible {
    case informational = 0, low, medium, high, critical

    public init?(name: String) {
        guard let s = Self.allCases.first(where: { $0.description == name.lowercased() }) else { return nil }
        self = s
    }

    public var description: String {
        switch self {
        case .informational: "informational"
        case .low: "low"
        case .medium: "medium"
        case .high: "high"
        case .critical: "critical"
        }
    }

    public static func < (a: Severity, b: Severity) -> Bool { a.rawValue < b.rawValue }
}

/// A boolean expression over one event's fields.
public indirect enum Expression: Sendable, Equatable {
    /// Every one holds (an empty list holds).
    case all([Expression])
    /// At least one holds (an empty list does not).
    case any([Expression])
    case not(Expression)
    case predicate(Predicate)
    case constant(Bool)
}

/// A test of one field. With several values the predicate holds when any value matches, or, with
/// `matchAll`, when every value matches. A field holding an array matches when any element does.
public struct Predicate: Sendable, Equatable {
    /// A dotted field name (enrichment fields included).
    public var field: String
    public var op: Operator
    public var values: [Value]
    public var matchAll: Bool
    /// String operators compare ignoring case (ASCII and Unicode simple case folding).
    public var caseInsensitive: Bool

    public init(field: String, op: Operator, values: [Value] = [], matchAll: Bool = false, caseInsensitive: Bool = false) {
        self.field = field
        self.op = op
        self.values = values
        self.matchAll = matchAll
        self.caseInsensitive = caseInsensitive
    }
}

/// How a predicate compares a field with its values.
public enum Operator: String, Sendable, Equatable, CaseIterable {
    /// Equal: strings as text (`caseInsensitive` applies), numbers numerically, IPs as addresses,
    /// booleans, `null` for an explicit null.
    case equals
    case prefix, suffix, contains
    /// A regular expression (the linear-time engine; the pattern is the value's string).
    case regex
    /// The field is an IP address inside one of the CIDR values (`10.0.0.0/8`, `fe80::/10`).
    case cidr
    /// Numeric comparisons (the field is an int or float, or a string holding a number).
    case lessThan, lessOrEqual, greaterThan, greaterOrEqual
    /// The field is present and not null (values unused).
    case exists
    /// The field's value is in the named list (a threat-intel set or a list file; values: one
    /// string, the list's name). Confirmed exactly, never on a Bloom positive alone.
    case inList
}

/// A value in a predicate.
public enum Value: Sendable, Equatable, Hashable, CustomStringConvertible {
    case string(String)
    case number(Double)
    case bool(Bool)
    case null

    public var description: String {
        switch self {
        case .string(let s): s
        case .number(let n): n == n.rounded() && abs(n) < 1e15 ? String(Int64(n)) : String(n)
        case .bool(let b): b ? "true" : "false"
        case .null: "null"
        }
    }
}

/// What a rule counts over time before it raises an alert.
public enum Aggregation: Sendable, Equatable {
    /// The number of matching events per `groupBy` key within a window reaches `minimum`.
    case threshold(groupBy: [String], window: WindowKind, minimum: Int64)
    /// The number of distinct values of `field` (HyperLogLog) per key within a window reaches
    /// `minimum` (port scans, many sources to one target, password spraying).
    case distinct(field: String, groupBy: [String], window: WindowKind, minimum: Int64)
    /// Steps correlated by key within `within` (ns): each step's expression must match at least
    /// `minimum` events; `ordered`: in the order given (many failures, then a success).
    case sequence(steps: [SequenceStep], groupBy: [String], within: Int64, ordered: Bool)
    /// The first time a value of `field` is seen for a key within `lookback` (ns).
    case newValue(field: String, groupBy: [String], lookback: Int64)
    /// The numeric `field` deviates from its per-key mean by at least `zScore` standard deviations
    /// (Welford), once `minimumSamples` values were seen.
    case anomaly(field: String, groupBy: [String], zScore: Double, minimumSamples: Int)
    /// Matching events of one key at regular intervals (command-and-control beacons): at least
    /// `minimumConnections` events whose inter-arrival times have a coefficient of variation
    /// (standard deviation / mean, Welford over the intervals) of at most `maximumJitter`. A key
    /// without an event for longer than `window` (ns) starts afresh (``BeaconTable``).
    case beacon(groupBy: [String], minimumConnections: Int, maximumJitter: Double, window: Int64)
}

/// One referenced rule of a Sigma correlation whose rules name the same thing with different
/// fields (`aliases`): an event matching `match` is grouped by `groupBy` and, for `distinct`,
/// counts `field`, instead of the aggregation's fields. An event matching several referenced rules
/// is grouped by the first one's fields.
public struct KeyAlias: Sendable, Equatable {
    public var match: Expression
    public var groupBy: [String]
    public var field: String?

    public init(match: Expression, groupBy: [String], field: String? = nil) {
        self.match = match
        self.groupBy = groupBy
        self.field = field
    }
}

/// One step of a sequence.
public struct SequenceStep: Sendable, Equatable {
    public var name: String
    public var match: Expression
    public var minimum: Int64

    public init(name: String, match: Expression, minimum: Int64 = 1) {
        self.name = name
        self.match = match
        self.minimum = minimum
    }
}

/// A construct a rule uses that Vigil cannot run: reported per rule at load, never ignored.
public struct Unsupported: Sendable, Equatable, CustomStringConvertible {
    public var rule: String
    public var origin: Origin
    /// The construct, e.g. `modifier utf16le`, `regex lookbehind`, `condition near`.
    public var construct: String
    public var detail: String

    public init(rule: String, origin: Origin, construct: String, detail: String) {
        self.rule = rule
        self.origin = origin
        self.construct = construct
        self.detail = detail
    }

    public var description: String { "\(origin): rule \(rule): \(construct) is not supported: \(detail)" }
}
