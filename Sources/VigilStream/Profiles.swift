import VigilCore

/// A windowed aggregation the stream stage keeps per key, like Metron's Profiler: the events that
/// match `where`, grouped by the values of `groupBy`, counted (or sketched) per window. Each
/// window's results become events on the profiles topic.
public struct ProfileDefinition: Sendable, Equatable {
    public var name: String
    /// Every listed field must have one of the listed values (compared as text). Empty: all events.
    public var conditions: [(field: String, values: [String])]
    /// The fields whose values form the key; events without one of them are not counted.
    public var groupBy: [String]
    public var window: WindowOptions
    public var aggregate: AggregateKind
    /// Processing time between early results of open windows; nil: final results only.
    public var earlyInterval: Int64?

    public init(name: String, conditions: [(field: String, values: [String])] = [], groupBy: [String],
                window: WindowOptions, aggregate: AggregateKind = .count, earlyInterval: Int64? = nil) {
        self.name = name
        self.conditions = conditions
        self.groupBy = groupBy
        self.window = window
        self.aggregate = aggregate
        self.earlyInterval = earlyInterval
    }

    public static func == (a: ProfileDefinition, b: ProfileDefinition) -> Bool { a.fingerprint == b.fingerprint }

    /// A canonical text of everything that shapes the state: a restored state is used only when
    /// the definition it was built by has the same fingerprint.
    public var fingerprint: String {
        let c = conditions.map { "\($0.field)=\($0.values.joined(separator: ","))" }.joined(separator: ";")
        let late: String
        switch window.late {
        case .reject: late = "reject"
        case .update(let r): late = "update:\(r)"
        }
        return "v1|\(name)|\(c)|\(groupBy.joined(separator: ","))|\(window.kind)|\(window.allowedLateness)|\(late)|\(aggregate)"
    }
}

/// What a profile computes per window.
public enum AggregateKind: Sendable, Equatable, CustomStringConvertible {
    /// The number of matching events.
    case count

    public var description: String {
        switch self {
        case .count: "count"
        }
    }
}

/// A profile's per-window value.
public enum ProfileValue: WindowAggregate {
    case count(CountAggregate)

    public static func empty(_ kind: AggregateKind) -> ProfileValue {
        switch kind {
        case .count: .count(CountAggregate())
        }
    }

    /// The event the value is computed from.
    public typealias Input = Event

    public mutating func add(_ input: Event) {
        switch self {
        case .count(var c):
            c.add(())
            self = .count(c)
        }
    }

    public mutating func merge(_ other: ProfileValue) {
        switch (self, other) {
        case (.count(var a), .count(let b)):
            a.merge(b)
            self = .count(a)
        }
    }

    public func encode(into writer: inout StateWriter) {
        switch self {
        case .count(let c):
            writer.varint(0)
            c.encode(into: &writer)
        }
    }

    public init(decoding reader: inout StateReader) throws(StreamError) {
        switch try reader.varint() {
        case 0: self = .count(try CountAggregate(decoding: &reader))
        case let tag: throw reader.corrupt("unknown aggregate \(tag)")
        }
    }

    /// Writes the value's fields into a result event.
    func write(into event: inout Event) {
        switch self {
        case .count(let c):
            event[ProfileFields.count] = .int(c.count)
        }
    }
}

/// The fields of profile result events.
enum ProfileFields {
    static let name = Event.Key("vigil.profile.name")
    static let key = Event.Key("vigil.profile.key")
    static let firing = Event.Key("vigil.profile.firing")
    static let sequence = Event.Key("vigil.profile.sequence")
    static let count = Event.Key("vigil.profile.count")
    static let partition = Event.Key("vigil.profile.partition")
}

extension ProfileDefinition {
    /// The key of `event` for this profile, or nil when the event does not match or lacks a
    /// group-by field.
    func key(of event: Event) -> String? {
        for condition in conditions {
            guard let value = event[condition.field], let text = Self.text(value), condition.values.contains(text) else { return nil }
        }
        var key = ""
        for (i, field) in groupBy.enumerated() {
            guard let value = event[field], let text = Self.text(value) else { return nil }
            if i > 0 { key += "\u{1F}" }
            key += text
        }
        return key
    }

    /// A scalar value as text; nil for null, arrays and objects.
    static func text(_ value: FieldValue) -> String? {
        switch value {
        case .string(let s): s
        case .int(let v): String(v)
        case .float(let v): String(v)
        case .bool(let v): v ? "true" : "false"
        case .ip(let a): a.description
        case .timestamp(let t): t.rfc3339
        case .null, .array, .object: nil
        }
    }

    /// The result event of one window: `@timestamp` at the window's end, the group-by fields
    /// with their values, the window, the firing and the value; `event.id` is the same for the
    /// same result in every run (final results and late updates never depend on processing time).
    func resultEvent(_ r: WindowResult<ProfileValue>, partition: Int) -> Event {
        var e = Event()
        e[.timestamp] = .timestamp(Timestamp(nanoseconds: r.bounds.end))
        e[.eventKind] = "metric"
        e[.eventModule] = "vigil"
        e[.eventDataset] = "vigil.profile"
        e[.eventStart] = .timestamp(Timestamp(nanoseconds: r.bounds.start))
        e[.eventEnd] = .timestamp(Timestamp(nanoseconds: r.bounds.end))
        e[ProfileFields.name] = .string(name)
        e[ProfileFields.key] = .string(r.key)
        e[ProfileFields.firing] = .string(r.firing.description)
        e[ProfileFields.sequence] = .int(Int64(r.sequence))
        e[ProfileFields.partition] = .int(Int64(partition))
        let parts = r.key.split(separator: "\u{1F}", omittingEmptySubsequences: false)
        for (field, part) in zip(groupBy, parts) {
            let text = String(part)
            if Schema.field(named: field)?.type == .ip, let ip = IPAddress(text) {
                e[field] = .ip(ip)
            } else if Schema.field(named: field)?.type == .int, let v = Int64(text) {
                e[field] = .int(v)
            } else {
                e[field] = .string(text)
            }
        }
        r.value.write(into: &e)
        e[.eventId] = .string(resultID(r, partition: partition))
        return e
    }

    /// `profile/partition/key/start/end/firing/sequence`, hashed to 16 hex digits (FNV-1a 64).
    /// Windows are kept per input partition, so the partition is part of a result's identity.
    func resultID(_ r: WindowResult<ProfileValue>, partition: Int) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        func mix(_ s: String) {
            for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            h = (h ^ 0xFF) &* 0x0000_0100_0000_01B3
        }
        mix(name)
        mix(String(partition))
        mix(r.key)
        mix(String(r.bounds.start))
        mix(String(r.bounds.end))
        mix(r.firing.description)
        mix(String(r.sequence))
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
