/// `RegexNode` → `RegexProgram`: Thompson's construction into a flat instruction array, with the
/// limits that keep matching cost bounded, and the prefilter facts (anchoring, first bytes, a
/// required literal).
enum RegexCompiler {
    /// Compiled programs above this many instructions are refused (`too large`).
    static let maxInstructions = 20_000
    /// All classes together may hold at most this many ranges above ASCII.
    static let maxClassRanges = 100_000

    static func compile(_ node: RegexNode) throws(RegexError) -> RegexProgram {
        let size = estimate(node)
        guard size < maxInstructions else {
            throw RegexError(kind: .tooLarge, construct: "too large", offset: 0,
                             message: "the compiled pattern would exceed \(maxInstructions) instructions")
        }
        var emitter = Emitter()
        try emitter.emit(node)
        _ = emitter.append(RegexInstruction.match, 0, 0)
        let code = emitter.code
        let literal = requiredLiteral(node)
        return RegexProgram(instructions: code, start: 0, classes: emitter.classes,
                            anchoredStart: isAnchoredAtStart(code), firstBytes: firstBytes(code, classes: emitter.classes),
                            required: literal.best, requiredIsPrefix: literal.bestIsPrefix, requiredIsWhole: literal.whole)
    }

    /// The number of instructions `node` compiles to, saturating just above the limit.
    static func estimate(_ node: RegexNode) -> Int {
        let cap = maxInstructions + 1
        switch node {
        case .empty: return 0
        case .literal, .set, .any, .assertion: return 1
        case .concat(let items):
            var total = 0
            for item in items { total = min(cap, total + estimate(item)) }
            return total
        case .alternation(let branches):
            var total = 2 * (branches.count - 1)
            for branch in branches { total = min(cap, total + estimate(branch)) }
            return min(cap, total)
        case .repetition(let body, let lo, let hi):
            let size = estimate(body)
            if let hi { return min(cap, lo * size + (hi - lo) * (size + 1)) }
            return lo == 0 ? min(cap, size + 2) : min(cap, lo * size + 1)
        }
    }

    private struct Emitter {
        var code: [RegexInstruction] = []
        var classes: [CodePointSet] = []
        var classIndex: [CodePointSet: Int32] = [:]
        var rangeCount = 0

        /// The index of the instruction after the one about to be appended.
        var following: Int32 { Int32(code.count + 1) }

        mutating func append(_ op: UInt8, _ x: Int32, _ y: Int32) -> Int {
            code.append(RegexInstruction(op: op, x: x, y: y))
            return code.count - 1
        }

        mutating func emitSet(_ set: CodePointSet) throws(RegexError) {
            let index: Int32
            if let known = classIndex[set] {
                index = known
            } else {
                rangeCount += set.ranges.count
                guard rangeCount <= RegexCompiler.maxClassRanges else {
                    throw RegexError(kind: .tooLarge, construct: "too large", offset: 0,
                                     message: "the pattern's classes are too large")
                }
                index = Int32(classes.count)
                classes.append(set)
                classIndex[set] = index
            }
            _ = append(RegexInstruction.set, index, following)
        }

        mutating func emit(_ node: RegexNode) throws(RegexError) {
            switch node {
            case .empty:
                break
            case .literal(let c, let caseless):
                let orbit = caseless ? RegexCaseFolding.orbit(of: c) : [c]
                if orbit.count == 1 {
                    _ = append(RegexInstruction.char, Int32(bitPattern: c), following)
                } else {
                    try emitSet(CodePointSet(orbit.map { $0...$0 }))
                }
            case .set(let set):
                try emitSet(set)
            case .any(let dotAll):
                _ = append(dotAll ? RegexInstruction.any : RegexInstruction.anyButNewline, 0, following)
            case .assertion(let kind):
                _ = append(RegexInstruction.assert, kind.rawValue, following)
            case .concat(let items):
                for item in items { try emit(item) }
            case .alternation(let branches):
                var jumps: [Int] = []
                for (k, branch) in branches.enumerated() {
                    if k == branches.count - 1 {
                        try emit(branch)
                    } else {
                        let split = append(RegexInstruction.split, following, 0)
                        try emit(branch)
                        jumps.append(append(RegexInstruction.jump, 0, 0))
                        code[split].y = Int32(code.count)
                    }
                }
                for jump in jumps { code[jump].x = Int32(code.count) }
            case .repetition(let body, let lo, let hi):
                if let hi {
                    for _ in 0..<lo { try emit(body) }
                    var splits: [Int] = []
                    for _ in lo..<hi {
                        splits.append(append(RegexInstruction.split, following, 0))
                        try emit(body)
                    }
                    for split in splits { code[split].y = Int32(code.count) }
                } else if lo == 0 {
                    let split = append(RegexInstruction.split, following, 0)
                    try emit(body)
                    _ = append(RegexInstruction.jump, Int32(split), 0)
                    code[split].y = Int32(code.count)
                } else {
                    for _ in 0..<(lo - 1) { try emit(body) }
                    let loop = Int32(code.count)
                    try emit(body)
                    _ = append(RegexInstruction.split, loop, following)
                }
            }
        }
    }

    // MARK: Prefilter facts

    /// Whether every path from the start passes `\A` (or `^` without multiline) before consuming.
    static func isAnchoredAtStart(_ code: [RegexInstruction]) -> Bool {
        var seen = [Bool](repeating: false, count: code.count)
        var stack: [Int32] = [0]
        while let pc = stack.popLast() {
            let p = Int(pc)
            if seen[p] { continue }
            seen[p] = true
            let inst = code[p]
            switch inst.op {
            case RegexInstruction.split: stack += [inst.x, inst.y]
            case RegexInstruction.jump: stack.append(inst.x)
            case RegexInstruction.assert:
                if inst.x != RegexAssertion.textStart.rawValue { stack.append(inst.y) }
            default: return false
            }
        }
        return true
    }

    /// The first UTF-8 byte of the encoding of `c`.
    static func leadByte(_ c: UInt32) -> Int {
        switch c {
        case ..<0x80: Int(c)
        case ..<0x800: 0xC0 | Int(c >> 6)
        case ..<0x10000: 0xE0 | Int(c >> 12)
        default: 0xF0 | Int(min(c, CodePointSet.maxCodePoint) >> 18)
        }
    }

    /// The bytes a match can start with, or `[]` when a match can be empty (assertions are
    /// passed over), can start with a continuation byte, or can start with any byte.
    static func firstBytes(_ code: [RegexInstruction], classes: [CodePointSet]) -> [Bool] {
        var bytes = [Bool](repeating: false, count: 256)
        var seen = [Bool](repeating: false, count: code.count)
        var stack: [Int32] = [0]
        while let pc = stack.popLast() {
            let p = Int(pc)
            if seen[p] { continue }
            seen[p] = true
            let inst = code[p]
            switch inst.op {
            case RegexInstruction.split: stack += [inst.x, inst.y]
            case RegexInstruction.jump: stack.append(inst.x)
            case RegexInstruction.assert: stack.append(inst.y)
            case RegexInstruction.char: bytes[leadByte(UInt32(bitPattern: inst.x))] = true
            case RegexInstruction.set:
                let set = classes[Int(inst.x)]
                if set.matchesInvalid { return [] }
                for r in set.ranges {
                    for b in leadByte(r.lowerBound)...leadByte(r.upperBound) { bytes[b] = true }
                }
            default: return []   // any, match
            }
        }
        if bytes[0x80...0xBF].contains(true) || !bytes.contains(false) { return [] }
        return bytes
    }

    struct LiteralFacts {
        var best: RequiredLiteral?
        var bestIsPrefix = false
        var whole = false
    }

    /// A literal every match must contain: the longest run of consecutive literal characters in
    /// the top-level sequence (or inside a repeated-at-least-once element). Case-insensitive
    /// characters join a run only when they are ASCII letters whose other cases are ASCII (not
    /// `k`/`s`, which also match U+212A and U+017F).
    static func requiredLiteral(_ node: RegexNode) -> LiteralFacts {
        var elements: [RegexNode] = []
        func flatten(_ n: RegexNode) {
            if case .concat(let items) = n { items.forEach(flatten) } else { elements.append(n) }
        }
        flatten(node)

        var facts = LiteralFacts()
        var run: [UInt8] = []
        var runCaseless = false, runExactLetter = false
        var runIsPrefix = true          // no consuming element before the current run
        var consumedBefore = false      // a consuming element was seen before the current position
        var everythingInRun = true      // every element so far is a literal of the current run
        var runCount = 0
        func consider(_ lit: RequiredLiteral, prefix: Bool) {
            if lit.bytes.count > facts.best?.bytes.count ?? 0 {
                facts.best = lit
                facts.bestIsPrefix = prefix
            }
        }
        func endRun() {
            if !run.isEmpty {
                consider(RequiredLiteral(bytes: run, caseless: runCaseless), prefix: runIsPrefix)
                runCount += 1
            }
            run = []
            runCaseless = false
            runExactLetter = false
        }
        for element in elements {
            switch element {
            case .literal(let c, let caseless):
                let isLetter = (0x41...0x5A).contains(c) || (0x61...0x7A).contains(c)
                let lower = isLetter ? c | 0x20 : c
                if caseless && (c >= 0x80 || lower == 0x6B || lower == 0x73) {
                    endRun()
                    everythingInRun = false
                    consumedBefore = true
                    continue
                }
                if run.isEmpty { runIsPrefix = !consumedBefore }
                if caseless {
                    runCaseless = true
                    run.append(UInt8(lower))
                } else {
                    if isLetter { runExactLetter = true }
                    guard let scalar = Unicode.Scalar(c) else { continue }
                    run += Array(String(Character(scalar)).utf8)
                }
                consumedBefore = true
            case .assertion:
                everythingInRun = false
            case .empty:
                break
            default:
                endRun()
                everythingInRun = false
                consumedBefore = true
                if case .repetition(let body, let lo, _) = element, lo >= 1, let inner = requiredLiteral(body).best {
                    consider(inner, prefix: false)
                }
            }
        }
        let exactLetterInCaselessRun = runCaseless && runExactLetter
        endRun()
        facts.whole = everythingInRun && runCount == 1 && !exactLetterInCaselessRun && facts.best != nil
        if let best = facts.best, best.caseless {
            // Compare case-insensitively: lower-case every ASCII letter of the literal.
            facts.best = RequiredLiteral(bytes: best.bytes.map { (0x41...0x5A).contains($0) ? $0 | 0x20 : $0 }, caseless: true)
        }
        return facts
    }
}
