import VigilCore

/// Errors of rule loading and compilation.
public struct RuleError: Error, Sendable, CustomStringConvertible {
    public let origin: Origin?
    public let message: String

    public init(_ message: String, at origin: Origin? = nil) {
        self.origin = origin
        self.message = message
    }

    public var description: String { origin.map { "\($0): \(message)" } ?? message }
}

/// Named lists for `inList` predicates (threat-intel sets, list files): exact membership.
public protocol RuleLists: Sendable {
    /// Whether the list exists.
    func hasList(_ name: String) -> Bool
    /// Whether `value` is in the list `name` (exactly, never on a probabilistic positive alone).
    func contains(_ name: String, _ value: FieldValue) -> Bool
}

/// An ``Expression`` compiled for evaluation: fields resolved to keys, string values prepared as
/// (case-folded) bytes, numbers, addresses and networks parsed once.
///
/// Evaluation reads strings straight from the event's bytes (no `String` per field), and
/// stops at the first deciding operand.
public struct CompiledExpression: Sendable {
    /// A flat program: nodes refer to their operands by index, so evaluation walks arrays
    /// without copying (or reference counting) a tree.
    final class Program: Sendable {
        enum Node: Sendable {
            case test(Int)
            /// Operands are `operands[start ..< start + count]`.
            case all(start: Int, count: Int)
            case any(start: Int, count: Int)
            case not(Int)
            case constant(Bool)
        }
        let nodes: [Node]
        let operands: [Int]
        let tests: [Test]
        /// The same tests without reference counting on each call (`tests` owns them).
        let unmanaged: [Unmanaged<Test>]
        let root: Int
        /// The program is the constant true (nothing to evaluate).
        var isAlwaysTrue: Bool { if case .constant(true) = nodes[root] { true } else { false } }

        init(nodes: [Node], operands: [Int], tests: [Test], root: Int) {
            self.nodes = nodes
            self.operands = operands
            self.tests = tests
            self.unmanaged = tests.map { Unmanaged.passUnretained($0) }
            self.root = root
        }

        func evaluate(_ event: Event) -> Bool { evaluate(event, shared: nil, memo: nil) }

        /// Evaluates with the results of tests shared between programs kept for one event:
        /// `shared[t]` is test `t`'s slot in `memo` (−1: a test of this program only), and a slot
        /// already filled for `memo.epoch` is not evaluated again.
        func evaluate(_ event: Event, shared: UnsafePointer<Int32>?, memo: TestMemo?) -> Bool {
            // A program of one test (most rules after the dataset index) skips the tree walk.
            if case .test(let t) = nodes[root] {
                return unmanaged.withUnsafeBufferPointer { Self.test(t, event, $0, shared, memo) }
            }
            return nodes.withUnsafeBufferPointer { nodes in
                operands.withUnsafeBufferPointer { operands in
                    unmanaged.withUnsafeBufferPointer { tests in
                        Self.evaluate(root, event, nodes, operands, tests, shared, memo)
                    }
                }
            }
        }

        @inline(__always)
        static func test(_ t: Int, _ event: Event, _ tests: UnsafeBufferPointer<Unmanaged<Test>>,
                         _ shared: UnsafePointer<Int32>?, _ memo: TestMemo?) -> Bool {
            guard let shared, let memo, case let slot = Int(shared[t]), slot >= 0 else {
                return tests[t]._withUnsafeGuaranteedRef { $0.evaluate(event) }
            }
            if memo.epochs[slot] == memo.epoch { return memo.results[slot] }
            let result = tests[t]._withUnsafeGuaranteedRef { $0.evaluate(event) }
            memo.epochs[slot] = memo.epoch
            memo.results[slot] = result
            return result
        }

        static func evaluate(_ i: Int, _ event: Event, _ nodes: UnsafeBufferPointer<Node>, _ operands: UnsafeBufferPointer<Int>,
                             _ tests: UnsafeBufferPointer<Unmanaged<Test>>, _ shared: UnsafePointer<Int32>?, _ memo: TestMemo?) -> Bool {
            switch nodes[i] {
            case .test(let t): return test(t, event, tests, shared, memo)
            case .all(let start, let count):
                for k in start..<(start + count) where !evaluate(operands[k], event, nodes, operands, tests, shared, memo) { return false }
                return true
            case .any(let start, let count):
                for k in start..<(start + count) where evaluate(operands[k], event, nodes, operands, tests, shared, memo) { return true }
                return false
            case .not(let n): return !evaluate(n, event, nodes, operands, tests, shared, memo)
            case .constant(let b): return b
            }
        }
    }

    let program: Program

    /// - Throws: ``RuleError`` for a value the operator cannot use (a bad CIDR, a number that is
    ///   not one, an unknown list, a regular expression it cannot run).
    public init(_ expression: Expression, lists: (any RuleLists)? = nil, origin: Origin? = nil) throws(RuleError) {
        var nodes: [Program.Node] = [], operands: [Int] = [], tests: [Test] = []
        func compile(_ e: Expression) throws(RuleError) -> Int {
            switch e {
            case .all(let items), .any(let items):
                var children: [Int] = []
                for item in items { children.append(try compile(item)) }
                if children.count == 1 { return children[0] }
                let start = operands.count
                operands.append(contentsOf: children)
                if case .all = e { nodes.append(.all(start: start, count: children.count)) } else { nodes.append(.any(start: start, count: children.count)) }
            case .not(let inner):
                let child = try compile(inner)
                nodes.append(.not(child))
            case .constant(let b):
                nodes.append(.constant(b))
            case .predicate(let p):
                tests.append(try Test(p, lists: lists, origin: origin))
                nodes.append(.test(tests.count - 1))
            }
            return nodes.count - 1
        }
        let root = try compile(expression)
        program = Program(nodes: nodes, operands: operands, tests: tests, root: root)
    }

    /// Whether `event` satisfies the expression.
    @inline(__always)
    public func matches(_ event: Event) -> Bool { program.evaluate(event) }
}

/// Results of tests shared between rules for the event being matched (``RulesState``): per slot,
/// the epoch of the event it was evaluated for and the result. Raw memory of one partition's
/// state, used by one thread.
struct TestMemo {
    var epochs: UnsafeMutablePointer<UInt32>
    var results: UnsafeMutablePointer<Bool>
    var epoch: UInt32

    init(epochs: UnsafeMutablePointer<UInt32>, results: UnsafeMutablePointer<Bool>, epoch: UInt32) {
        self.epochs = epochs
        self.results = results
        self.epoch = epoch
    }
}

/// A test's identity for sharing its result between rules: tests with equal keys give the same
/// result on the same event (`inList` tests are not shared: their lists belong to the rule).
struct SharedTestKey: Hashable {
    let field: String
    let op: String
    let values: [Value]
    let matchAll: Bool
    let caseInsensitive: Bool

    init?(_ p: Predicate) {
        guard p.op != .inList else { return nil }
        field = p.field
        op = p.op.rawValue
        values = p.values
        matchAll = p.matchAll
        caseInsensitive = p.caseInsensitive
    }
}

/// One compiled predicate. A class: evaluation reads it through one reference instead of
/// copying (and retaining) its arrays. Immutable after init (its raw buffers too): safe to share.
final class Test: @unchecked Sendable {
    /// The predicate it was compiled from.
    let predicate: Predicate
    let key: Event.Key
    let field: String
    let op: Operator
    let matchAll: Bool
    let caseInsensitive: Bool
    /// String values as bytes (ASCII-lowercased when case-insensitive), with their original text.
    let strings: [[UInt8]]
    let texts: [String]
    /// The values that are numbers (or strings holding numbers), for numeric fields.
    let numbers: [Double?]
    /// The values that are addresses (equals) or networks (cidr).
    let addresses: [IPAddress?]
    let networks: [(IPAddress, Int)]
    let booleans: [Bool?]
    /// `equals null`: the field is absent or null.
    let wantsNull: [Bool]
    /// Whether the test holds for an event without the field: only `equals null` does (its
    /// negations are left to `not`).
    let absentMatches: Bool
    let lists: (any RuleLists)?
    let listNames: [String]
    /// `regex`: the compiled patterns (unanchored searches; `caseInsensitive` applies).
    let regexes: [LinearRegex]
    /// `strings`, all in one buffer this test owns: value `i` is `flat[offsets[i] ..< offsets[i + 1]]`.
    /// Comparisons read it without retaining arrays.
    private let flat: UnsafeMutablePointer<UInt8>
    private let offsets: UnsafeMutablePointer<Int>
    private let valueCount: Int

    init(_ p: Predicate, lists: (any RuleLists)?, origin: Origin?) throws(RuleError) {
        predicate = p
        field = p.field
        key = Event.Key(p.field)
        op = p.op
        matchAll = p.matchAll
        caseInsensitive = p.caseInsensitive
        self.lists = lists
        var strings: [[UInt8]] = [], texts: [String] = [], numbers: [Double?] = [], addresses: [IPAddress?] = []
        var networks: [(IPAddress, Int)] = [], booleans: [Bool?] = [], wantsNull: [Bool] = [], listNames: [String] = []
        var regexes: [LinearRegex] = []
        for v in p.values {
            let text = v.description
            texts.append(text)
            strings.append(p.caseInsensitive ? Self.foldASCII(Array(text.utf8)) : Array(text.utf8))
            switch v {
            case .number(let n): numbers.append(n)
            case .string(let s): numbers.append(Double(s.trimmingASCIISpaces()))
            case .bool, .null: numbers.append(nil)
            }
            addresses.append(IPAddress(text))
            switch v {
            case .bool(let b): booleans.append(b)
            case .string(let s) where s.lowercased() == "true" || s.lowercased() == "false": booleans.append(s.lowercased() == "true")
            default: booleans.append(nil)
            }
            wantsNull.append(v == .null)
            switch p.op {
            case .cidr:
                guard let n = Self.network(text) else { throw RuleError("\(p.field): \(text) is not a CIDR network (10.0.0.0/8, fe80::/10)", at: origin) }
                networks.append(n)
            case .lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual:
                guard numbers.last! != nil else { throw RuleError("\(p.field): \(text) is not a number", at: origin) }
            case .inList:
                guard let lists else { throw RuleError("\(p.field): no lists are loaded (in_list \(text))", at: origin) }
                guard lists.hasList(text) else { throw RuleError("\(p.field): unknown list \(text)", at: origin) }
                listNames.append(text)
            case .regex:
                do {
                    regexes.append(try LinearRegex(text, caseInsensitive: p.caseInsensitive))
                } catch {
                    throw RuleError("\(p.field): regular expression \(text): \(error)", at: origin)
                }
            default:
                break
            }
        }
        if p.values.isEmpty && p.op != .exists { throw RuleError("\(p.field): \(p.op.rawValue) needs at least one value", at: origin) }
        self.strings = strings
        self.texts = texts
        self.numbers = numbers
        self.addresses = addresses
        self.networks = networks
        self.booleans = booleans
        self.wantsNull = wantsNull
        absentMatches = p.op == .equals && (p.matchAll ? wantsNull.allSatisfy { $0 } : wantsNull.contains(true))
        self.listNames = listNames
        self.regexes = regexes
        valueCount = strings.count
        let total = strings.reduce(0) { $0 + $1.count }
        flat = .allocate(capacity: max(total, 1))
        offsets = .allocate(capacity: strings.count + 1)
        var at = 0
        for (i, v) in strings.enumerated() {
            offsets[i] = at
            for b in v {
                flat[at] = b
                at += 1
            }
        }
        offsets[strings.count] = at
    }

    deinit {
        flat.deallocate()
        offsets.deallocate()
    }

    /// Value `i`'s (prepared) bytes.
    @inline(__always)
    func valueBytes(_ i: Int) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: flat + offsets[i], count: offsets[i + 1] - offsets[i])
    }

    static func network(_ text: String) -> (IPAddress, Int)? {
        let parts = text.split(separator: "/", maxSplits: 1)
        guard let address = IPAddress(String(parts[0])) else { return nil }
        let maximum = address.isV4 ? 32 : 128
        guard parts.count == 2 else { return (address, maximum) }
        guard let bits = Int(parts[1]), (0...maximum).contains(bits) else { return nil }
        return (address, bits)
    }

    static func foldASCII(_ bytes: [UInt8]) -> [UInt8] { bytes.map { $0 >= 0x41 && $0 <= 0x5A ? $0 | 0x20 : $0 } }

    func evaluate(_ event: Event) -> Bool {
        // The field is found once; strings are read straight from the event's bytes.
        guard let e = event.entry(key) else { return absentMatches }
        if op == .exists { return e.kind != .null }
        if e.kind == .string { return event.withStringBytes(of: e) { evaluateString($0) } }
        guard let value = event[key] else { return absentMatches }
        return evaluate(value)
    }

    func evaluate(_ value: FieldValue) -> Bool {
        switch value {
        case .array(let elements):
            return elements.contains { evaluate($0) }
        case .null:
            return op == .equals && (matchAll ? wantsNull.allSatisfy { $0 } : wantsNull.contains(true))
        case .string(let s):
            var s = s
            return s.withUTF8 { evaluateString(UnsafeRawBufferPointer($0)) }
        default:
            return combine { i in evaluateScalar(value, i) }
        }
    }

    @inline(__always)
    func combine(_ test: (Int) -> Bool) -> Bool {
        if matchAll {
            for i in 0..<texts.count where !test(i) { return false }
            return true
        }
        for i in 0..<texts.count where test(i) { return true }
        return false
    }

    func evaluateString(_ bytes: UnsafeRawBufferPointer) -> Bool {
        switch op {
        case .equals, .prefix, .suffix, .contains:
            if caseInsensitive && !Self.isASCII(bytes) {
                // Non-ASCII text: compare full Unicode lowercase forms.
                let lowered = Array(String(decoding: bytes, as: UTF8.self).lowercased().utf8)
                return lowered.withUnsafeBytes { l in combine { i in Self.compare(op, l, strings[i], fold: false, unicodeValue: texts[i]) } }
            }
            let fold = caseInsensitive
            if matchAll {
                for i in 0..<valueCount where !Self.compare(op, bytes, valueBytes(i), fold: fold) { return false }
                return true
            }
            for i in 0..<valueCount where Self.compare(op, bytes, valueBytes(i), fold: fold) { return true }
            return false
        case .lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual:
            guard let n = Double(String(decoding: bytes, as: UTF8.self).trimmingASCIISpaces()) else { return false }
            return combine { i in Self.compareNumber(op, n, numbers[i]!) }
        case .cidr:
            guard let a = IPAddress(String(decoding: bytes, as: UTF8.self)) else { return false }
            return combine { i in a.isIn(networks[i]) }
        case .inList:
            let v = FieldValue.string(String(decoding: bytes, as: UTF8.self))
            return combine { i in lists?.contains(listNames[i], v) ?? false }
        case .regex:
            return combine { i in regexes[i].matches(bytes) }
        case .exists:
            return false
        }
    }

    func evaluateScalar(_ value: FieldValue, _ i: Int) -> Bool {
        switch op {
        case .equals:
            switch value {
            case .int(let v): return numbers[i].map { Double(v) == $0 } ?? false
            case .float(let v): return numbers[i].map { v == $0 } ?? false
            case .bool(let b): return booleans[i] == b
            case .ip(let a): return addresses[i] == a
            case .timestamp(let t): return texts[i] == t.rfc3339
            default: return false
            }
        case .lessThan, .lessOrEqual, .greaterThan, .greaterOrEqual:
            let n: Double
            switch value {
            case .int(let v): n = Double(v)
            case .float(let v): n = v
            case .timestamp(let t): n = Double(t.nanoseconds)
            default: return false
            }
            return Self.compareNumber(op, n, numbers[i]!)
        case .cidr:
            guard case .ip(let a) = value else { return false }
            return a.isIn(networks[i])
        case .prefix, .suffix, .contains:
            // Text operators on a number or address compare its text.
            var text = value.scalarText ?? value.description
            return text.withUTF8 { Self.compare(op, UnsafeRawBufferPointer($0), valueBytes(i), fold: caseInsensitive) }
        case .inList:
            return lists?.contains(listNames[i], value) ?? false
        case .regex:
            var text = value.scalarText ?? value.description
            return text.withUTF8 { regexes[i].matches(UnsafeRawBufferPointer($0)) }
        case .exists:
            return false
        }
    }

    @inline(__always)
    static func compareNumber(_ op: Operator, _ a: Double, _ b: Double) -> Bool {
        switch op {
        case .lessThan: a < b
        case .lessOrEqual: a <= b
        case .greaterThan: a > b
        case .greaterOrEqual: a >= b
        default: false
        }
    }

    @inline(__always)
    static func isASCII(_ bytes: UnsafeRawBufferPointer) -> Bool {
        for b in bytes where b >= 0x80 { return false }
        return true
    }

    /// `op` of `subject` against `value` (already folded when `fold`); `fold` lowers ASCII
    /// letters of the subject on the fly. `unicodeValue`: the value's text, lowered here, when the
    /// subject was lowered as Unicode.
    static func compare(_ op: Operator, _ subject: UnsafeRawBufferPointer, _ value: [UInt8], fold: Bool, unicodeValue: String?) -> Bool {
        if let unicodeValue {
            let v = Array(unicodeValue.lowercased().utf8)
            return v.withUnsafeBytes { compare(op, subject, $0, fold: false) }
        }
        return value.withUnsafeBytes { compare(op, subject, $0, fold: fold) }
    }

    @inline(__always)
    static func compare(_ op: Operator, _ s: UnsafeRawBufferPointer, _ v: UnsafeRawBufferPointer, fold: Bool) -> Bool {
        @inline(__always) func byte(_ i: Int) -> UInt8 {
            let b = s[i]
            return fold && b >= 0x41 && b <= 0x5A ? b | 0x20 : b
        }
        @inline(__always) func equalAt(_ start: Int) -> Bool {
            if !fold {
                // Eight bytes at a time.
                var k = 0
                let n = v.count
                while k + 8 <= n {
                    if s.loadUnaligned(fromByteOffset: start + k, as: UInt64.self) != v.loadUnaligned(fromByteOffset: k, as: UInt64.self) { return false }
                    k += 8
                }
                while k < n {
                    if s[start + k] != v[k] { return false }
                    k += 1
                }
                return true
            }
            for k in 0..<v.count where byte(start + k) != v[k] { return false }
            return true
        }
        switch op {
        case .equals: return s.count == v.count && equalAt(0)
        case .prefix: return s.count >= v.count && equalAt(0)
        case .suffix: return s.count >= v.count && equalAt(s.count - v.count)
        case .contains:
            if v.isEmpty { return true }
            guard s.count >= v.count else { return false }
            let first = v[0]
            var i = 0
            let last = s.count - v.count
            while i <= last {
                if byte(i) == first && equalAt(i) { return true }
                i += 1
            }
            return false
        default:
            return false
        }
    }
}

extension IPAddress {
    /// Whether the address is inside `network` (same family, first `bits` bits equal).
    func isIn(_ network: (IPAddress, Int)) -> Bool {
        let (base, bits) = network
        guard isV4 == base.isV4 else { return false }
        if isV4 {
            guard bits > 0 else { return true }
            let mask: UInt64 = bits >= 32 ? 0xFFFF_FFFF : (0xFFFF_FFFF << UInt64(32 - bits)) & 0xFFFF_FFFF
            return (low & mask) == (base.low & mask)
        }
        if bits <= 64 {
            let mask: UInt64 = bits == 0 ? 0 : ~UInt64(0) << UInt64(64 - bits)
            return (high & mask) == (base.high & mask)
        }
        let mask: UInt64 = bits >= 128 ? ~0 : ~UInt64(0) << UInt64(128 - bits)
        return high == base.high && (low & mask) == (base.low & mask)
    }
}

extension String {
    func trimmingASCIISpaces() -> String {
        var s = Substring(self)
        while s.first == " " || s.first == "\t" { s.removeFirst() }
        while s.last == " " || s.last == "\t" { s.removeLast() }
        return String(s)
    }
}
