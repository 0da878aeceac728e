import VigilCore

/// SplitMix64: a tiny, fast, seedable PRNG (Steele, Lea & Flood 2014). Deterministic for a seed,
/// so a failing property test can be replayed from the seed it prints.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Random ``Event``s for property tests: known fields with values of their declared types, and
/// custom fields with nested arrays and objects, awkward strings, extreme numbers, IPv4/IPv6
/// addresses and timestamps across 1970–2200 with random nanoseconds.
///
/// With `jsonSafe` (the default) every event lies within ``EventJSON``'s round-trip guarantee:
/// custom fields hold only strings, ints, finite floats, bools, nulls, arrays and objects in
/// arrays. Without it, custom fields may also hold timestamps, IP addresses, NaN and infinities
/// (the binary codec round-trips those exactly).
public struct RandomEventGenerator {
    public let seed: UInt64
    public var rng: SplitMix64
    public var jsonSafe: Bool
    /// The most known fields per event.
    public var maximumKnownFields = 14
    /// The most custom fields per event.
    public var maximumCustomFields = 8
    /// The deepest nesting of custom values.
    public var maximumDepth = 4

    public init(seed: UInt64, jsonSafe: Bool = true) {
        self.seed = seed
        self.rng = SplitMix64(seed: seed)
        self.jsonSafe = jsonSafe
    }

    // MARK: Primitives

    public mutating func below(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
    public mutating func chance(_ percent: Int) -> Bool { below(100) < percent }

    /// Strings mixing ASCII, quotes, backslashes, control characters, combining marks, CJK,
    /// emoji (including ZWJ sequences) and other non-ASCII scalars.
    public mutating func string() -> String {
        let pieces = [
            "a", "Zq", "hello world", "\"", "\\", "\\\"", "/", "\n", "\r\n", "\t", "\u{0}", "\u{1}", "\u{8}",
            "\u{c}", "\u{1f}", "\u{7f}", "é", "e\u{301}", "日本語", "😀", "👩‍👩‍👧", "\u{2028}", "\u{FEFF}",
            "\u{10FFFF}", "{", "}", "[", "]", ":", ",", ".", "null", "true", "-0", "1e5", "\u{80}", "ß",
        ]
        var s = ""
        for _ in 0..<below(6) { s += pieces[below(pieces.count)] }
        return s
    }

    public mutating func int() -> Int64 {
        switch below(8) {
        case 0: return [Int64.min, Int64.max, 0, -1, 1, Int64.min + 1, Int64.max - 1][below(7)]
        case 1: return Int64(bitPattern: rng.next())
        case 2: return Int64(below(65_536))
        case 3: return -Int64(below(1_000_000))
        case 4: return Int64(1) << Int64(below(63))
        default: return Int64(below(1000))
        }
    }

    /// Finite doubles: signed zeros, subnormals, extremes, integral values and random bit patterns.
    public mutating func float() -> Double {
        switch below(9) {
        case 0: return [0.0, -0.0, 1.0, -1.0, 0.1, 1e16, -1e-7, 123456789.125][below(8)]
        case 1: return [Double.leastNonzeroMagnitude, -Double.leastNonzeroMagnitude, Double.leastNormalMagnitude,
                        Double.greatestFiniteMagnitude, -Double.greatestFiniteMagnitude, Double.ulpOfOne][below(6)]
        case 2, 3:
            while true {
                let d = Double(bitPattern: rng.next())
                if d.isFinite { return d }
            }
        case 4: return Double(int())
        case 5: return Double(below(2_000_001) - 1_000_000) / 1024
        default: return Double(below(1_000_000)) / 1000 - 500
        }
    }

    /// A double that may also be NaN (with a payload) or infinite.
    public mutating func anyFloat() -> Double {
        switch below(6) {
        case 0: return .nan
        case 1: return Double(bitPattern: 0x7FF8_0000_0000_0000 | rng.next() & 0x000F_FFFF_FFFF_FFFF | 1)
        case 2: return [Double.infinity, -.infinity, -Double.nan][below(3)]
        default: return float()
        }
    }

    /// 1970-01-01 through 2200-12-31 with random nanoseconds; occasionally the extremes.
    public mutating func timestamp() -> Timestamp {
        if chance(3) { return Timestamp(nanoseconds: [Int64.min, Int64.max, 0, -1][below(4)]) }
        let end: UInt64 = 7_289_654_400_000_000_000          // 2201-01-01T00:00:00Z, exclusive
        var ns = rng.next() % end
        switch below(4) {
        case 0: ns -= ns % 1_000_000_000                     // whole seconds
        case 1: ns -= ns % 1_000_000                         // milliseconds
        case 2: ns -= ns % 1000                              // microseconds
        default: break
        }
        return Timestamp(nanoseconds: Int64(ns))
    }

    public mutating func ip() -> IPAddress {
        switch below(5) {
        case 0, 1:
            return IPAddress(v4: UInt32(truncatingIfNeeded: rng.next()))
        case 2:
            return IPAddress(v6High: 0, low: 0xFFFF_0000_0000 | UInt64(UInt32(truncatingIfNeeded: rng.next())))
        default:
            // Zero out random groups so `::` compression is exercised.
            var hi = rng.next(), lo = rng.next()
            for k in 0..<4 where chance(40) { hi &= ~(UInt64(0xFFFF) << UInt64(16 * k)) }
            for k in 0..<4 where chance(40) { lo &= ~(UInt64(0xFFFF) << UInt64(16 * k)) }
            return IPAddress(v6High: hi, low: lo)
        }
    }

    // MARK: Values

    /// A value of a known field's declared type (sometimes `.null`).
    public mutating func value(of type: Schema.FieldType) -> FieldValue {
        if chance(3) { return .null }
        switch type {
        case .string: return .string(string())
        case .int: return .int(int())
        case .float: return .float(float())
        case .bool: return .bool(chance(50))
        case .timestamp: return .timestamp(timestamp())
        case .ip: return .ip(ip())
        case .object: return object(depth: 1)
        case .array(.object):
            return .array((0..<below(4)).map { _ in
                chance(60)
                    ? .object(["name": .string(string()), "type": "A", "class": "IN", "ttl": .int(int()), "data": .string(string())])
                    : object(depth: 1)
            })
        case .array(let element):
            return .array((0..<below(5)).map { _ in value(of: element) })
        }
    }

    /// A custom-field value nested at `depth` (objects appear only inside arrays).
    public mutating func customValue(depth: Int = 0, inArray: Bool = false) -> FieldValue {
        let composite = depth < maximumDepth
        switch below(composite ? 12 : 9) {
        case 0, 1: return .string(string())
        case 2: return .int(int())
        case 3: return .float(jsonSafe ? float() : anyFloat())
        case 4: return .bool(chance(50))
        case 5: return .null
        case 6: return jsonSafe ? .string(string()) : .timestamp(timestamp())
        case 7: return jsonSafe ? .int(int()) : .ip(ip())
        case 8: return .string("")
        case 9, 10: return .array((0..<below(5)).map { _ in customValue(depth: depth + 1, inArray: true) })
        default: return inArray ? object(depth: depth + 1) : .array([object(depth: depth + 1)])
        }
    }

    /// An object with custom members (keys may repeat and contain dots).
    public mutating func object(depth: Int) -> FieldValue {
        var members: [FieldObject.Member] = []
        for _ in 0..<below(4) {
            members.append(FieldObject.Member(chance(20) ? customKey() : string(), customValue(depth: depth, inArray: true)))
        }
        return .object(FieldObject(members))
    }

    /// A dotted key that is not a known field name; segments may be empty or non-ASCII.
    public mutating func customKey() -> String {
        let segments = ["x", "custom", "a", "b", "ü", "日本", "😀", "sp ace", "q\"t", "b\\s", "c\u{1}", "", "source",
                        "geo", "123", "a-b", "a_b", "@x", "labels", "Zeek", "é", "e\u{301}"]
        while true {
            var key = segments[below(segments.count)]
            for _ in 0..<below(4) { key += "." + segments[below(segments.count)] }
            if Schema.field(named: key) == nil { return key }
        }
    }

    // MARK: Events

    /// A random event. Later assignments may displace earlier ones through prefix conflicts.
    public mutating func event() -> Event {
        var event = Event()
        for _ in 0..<below(maximumKnownFields + 1) {
            let field = Schema.fields[below(Schema.fields.count)]
            event[field.name] = value(of: field.type)
        }
        for _ in 0..<below(maximumCustomFields + 1) {
            event[customKey()] = customValue()
        }
        return event
    }
}

// MARK: - Bitwise comparison

/// Whether two values are identical, comparing floats by bit pattern (so `-0.0` differs from
/// `0.0` and NaN equals the same NaN).
public func identical(_ a: FieldValue, _ b: FieldValue) -> Bool {
    switch (a, b) {
    case (.float(let x), .float(let y)): return x.bitPattern == y.bitPattern
    case (.array(let xs), .array(let ys)):
        return xs.count == ys.count && zip(xs, ys).allSatisfy { identical($0, $1) }
    case (.object(let x), .object(let y)):
        return x.count == y.count && zip(x.members, y.members).allSatisfy { $0.key == $1.key && identical($0.value, $1.value) }
    case (.float, _), (_, .float), (.array, _), (.object, _): return false
    default: return a == b
    }
}

/// Whether two events have the same keys (byte for byte) and identical values.
public func identical(_ a: Event, _ b: Event) -> Bool {
    a.count == b.count && zip(a.fields, b.fields).allSatisfy {
        Array($0.key.utf8) == Array($1.key.utf8) && identical($0.value, $1.value)
    }
}

// MARK: - Fuzzing

extension RandomEventGenerator {
    /// `bytes` with one to four random mutations: bit flips, byte overwrites (often with
    /// interesting values), truncation, insertion, deletion and duplication of slices.
    public mutating func mutate(_ bytes: [UInt8]) -> [UInt8] {
        var b = bytes
        let interesting: [UInt8] = [0x00, 0x01, 0x02, 0x7F, 0x80, 0xFF, 0xC0, 0xED, 0xF4, 0x22, 0x5C, 0x7B, 0x7D,
                                    0x5B, 0x5D, 0x3A, 0x2C, 0x2E, 0x30, 0x39, 0x2D, 0x65, 0x75, 0x09, 0x0A]
        for _ in 0..<(1 + below(4)) {
            switch below(7) {
            case 0 where !b.isEmpty:
                b[below(b.count)] ^= UInt8(1) << UInt8(below(8))
            case 1 where !b.isEmpty:
                b[below(b.count)] = chance(50) ? interesting[below(interesting.count)] : UInt8(truncatingIfNeeded: rng.next())
            case 2 where !b.isEmpty:
                b.removeLast(below(b.count) + 1)
            case 3:
                let at = below(b.count + 1)
                b.insert(contentsOf: (0..<(1 + below(4))).map { _ in interesting[below(interesting.count)] }, at: at)
            case 4 where !b.isEmpty:
                let start = below(b.count)
                b.removeSubrange(start..<min(b.count, start + 1 + below(8)))
            case 5 where !b.isEmpty:
                let start = below(b.count)
                let slice = b[start..<min(b.count, start + 1 + below(16))]
                b.insert(contentsOf: Array(slice), at: below(b.count + 1))
            default:
                b.append(UInt8(truncatingIfNeeded: rng.next()))
            }
        }
        return b
    }

    /// Random bytes of length `0..<maximumLength`, drawn from `alphabet` when given.
    public mutating func bytes(maximumLength: Int, alphabet: [UInt8]? = nil) -> [UInt8] {
        (0..<below(maximumLength)).map { _ in
            if let alphabet { return alphabet[below(alphabet.count)] }
            return UInt8(truncatingIfNeeded: rng.next())
        }
    }
}
