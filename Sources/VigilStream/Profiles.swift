import VigilCore
import VigilSketch

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
    /// The number of distinct values of `field` (HyperLogLog++ with 2^precision registers; exact
    /// while sparse, then within about 1.04/√(2^precision) relative error).
    case distinct(field: String, precision: Int)
    /// Count, mean, standard deviation, minimum and maximum of the numeric `field` (Welford).
    case stats(field: String)

    public var description: String {
        switch self {
        case .count: "count"
        case .distinct(let field, let p): "distinct(\(field),p=\(p))"
        case .stats(let field): "stats(\(field))"
        }
    }

    /// The field the aggregate reads, if any.
    var field: String? {
        switch self {
        case .count: nil
        case .distinct(let field, _), .stats(let field): field
        }
    }
}

/// What one event contributes to a window: its value's hash (distinct) or number (stats).
public struct ProfileInput: Sendable {
    public var hash: UInt64 = 0
    public var number: Double = 0
}

/// A profile's per-window value.
public enum ProfileValue: WindowAggregate {
    case count(CountAggregate)
    case distinct(count: Int64, sketch: HyperLogLog)
    case stats(RunningMoments)

    /// The seed of the distinct-value hash: fixed, so sketches of every run and host merge.
    static let hashSeed: UInt64 = 0x5649_4749_4C00_0001
    static let hasher = Hash64(seed: hashSeed)

    public static func empty(_ kind: AggregateKind) -> ProfileValue {
        switch kind {
        case .count: .count(CountAggregate())
        case .distinct(_, let p): .distinct(count: 0, sketch: HyperLogLog(precision: p, seed: hashSeed))
        case .stats: .stats(RunningMoments())
        }
    }

    public typealias Input = ProfileInput

    public mutating func add(_ input: ProfileInput) {
        switch self {
        case .count(var c):
            c.add(())
            self = .count(c)
        case .distinct(let n, var h):
            self = .count(CountAggregate())  // no second reference while the sketch changes
            h.insert(hash: input.hash)
            self = .distinct(count: n + 1, sketch: h)
        case .stats(var m):
            m.add(input.number)
            self = .stats(m)
        }
    }

    public mutating func merge(_ other: ProfileValue) {
        switch (self, other) {
        case (.count(var a), .count(let b)):
            a.merge(b)
            self = .count(a)
        case (.distinct(let n, var a), .distinct(let m, let b)):
            // Same precision and seed by construction (one profile's windows).
            try? a.merge(b)
            self = .distinct(count: n + m, sketch: a)
        case (.stats(var a), .stats(let b)):
            try? a.merge(b)
            self = .stats(a)
        default:
            preconditionFailure("windows of one profile hold one kind of value")
        }
    }

    public func encode(into writer: inout StateWriter) {
        switch self {
        case .count(let c):
            writer.varint(0)
            c.encode(into: &writer)
        case .distinct(let n, let h):
            writer.varint(1)
            writer.int(n)
            writer.bytes(h.serialized())
        case .stats(let m):
            writer.varint(2)
            writer.bytes(m.serialized())
        }
    }

    public init(decoding reader: inout StateReader) throws(StreamError) {
        switch try reader.varint() {
        case 0:
            self = .count(try CountAggregate(decoding: &reader))
        case 1:
            let n = try reader.int()
            let bytes = try reader.bytes()
            do { self = .distinct(count: n, sketch: try HyperLogLog(serialized: bytes)) } catch {
                throw reader.corrupt("distinct sketch: \(error)")
            }
        case 2:
            let bytes = try reader.bytes()
            do { self = .stats(try RunningMoments(serialized: bytes)) } catch {
                throw reader.corrupt("moments: \(error)")
            }
        case let tag:
            throw reader.corrupt("unknown aggregate \(tag)")
        }
    }

    /// Writes the value's fields into a result event.
    func write(into event: inout Event) {
        switch self {
        case .count(let c):
            event[ProfileFields.count] = .int(c.count)
        case .distinct(let n, let h):
            event[ProfileFields.count] = .int(n)
            event[ProfileFields.distinct] = .int(Int64(h.estimate().rounded()))
        case .stats(let m):
            event[ProfileFields.count] = .int(Int64(m.count))
            if m.count > 0 {
                event[ProfileFields.mean] = .float(m.mean)
                event[ProfileFields.stddev] = .float(m.standardDeviation)
                event[ProfileFields.min] = .float(m.min)
                event[ProfileFields.max] = .float(m.max)
            }
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
    static let distinct = Event.Key("vigil.profile.distinct")
    static let mean = Event.Key("vigil.profile.mean")
    static let stddev = Event.Key("vigil.profile.stddev")
    static let min = Event.Key("vigil.profile.min")
    static let max = Event.Key("vigil.profile.max")
    static let partition = Event.Key("vigil.profile.partition")
    /// The input offset of the event that completed the result (or the next one to read, for
    /// results of processing time).
    static let inputOffset = Event.Key("vigil.profile.input_offset")
}

extension ProfileDefinition {
    /// The key of `event` for this profile, or nil when the event does not match or lacks a
    /// group-by field.
    func key(of event: Event) -> String? {
        for condition in conditions {
            guard let value = event[condition.field], let text = value.scalarText, condition.values.contains(text) else { return nil }
        }
        var key = ""
        for (i, field) in groupBy.enumerated() {
            guard let value = event[field], let text = value.scalarText else { return nil }
            if i > 0 { key += "\u{1F}" }
            key += text
        }
        return key
    }

    /// What `event` contributes to the aggregate; nil when it lacks the aggregate's field (or, for
    /// stats, the field is not a number): such events are not counted.
    func input(of event: Event) -> ProfileInput? {
        switch aggregate {
        case .count:
            return ProfileInput()
        case .distinct(let field, _):
            guard let value = event[field], let text = value.scalarText else { return nil }
            return ProfileInput(hash: ProfileValue.hasher.hash(text), number: 0)
        case .stats(let field):
            switch event[field] {
            case .int(let v)?: return ProfileInput(hash: 0, number: Double(v))
            case .float(let v)? where v.isFinite: return ProfileInput(hash: 0, number: v)
            case .string(let s)?: return Double(s).flatMap { $0.isFinite ? ProfileInput(hash: 0, number: $0) : nil }
            default: return nil
            }
        }
    }

    /// The result event of one window: `@timestamp` at the window's end, the group-by fields
    /// with their values, the window, the firing and the value; `event.id` is the same for the
    /// same result in every run (final results and late updates never depend on processing time).
    func resultEvent(_ r: WindowResult<ProfileValue>, partition: Int, inputOffset: Int64) -> Event {
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
        e[ProfileFields.inputOffset] = .int(inputOffset)
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
        StableID.hex([name, String(partition), r.key, String(r.bounds.start), String(r.bounds.end), r.firing.description,
                      String(r.sequence)])
    }
}

/// Ids that are the same for the same output in every run: the parts, each followed by a 0xFF
/// separator, hashed with FNV-1a 64 into 16 lowercase hex digits.
package enum StableID {
    package static func hex(_ parts: [String]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for b in part.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
            h = (h ^ 0xFF) &* 0x0000_0100_0000_01B3
        }
        let hex = String(h, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
