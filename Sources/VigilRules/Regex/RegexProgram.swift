/// One instruction of a compiled pattern (Thompson construction). `x`/`y` by opcode:
/// `char`: code point, next; `set`: class index, next; `any`/`anyButNewline`: –, next;
/// `split`: both targets; `jump`: target; `assert`: `RegexAssertion` raw value, next; `match`: –.
struct RegexInstruction: Sendable {
    var op: UInt8
    var x: Int32
    var y: Int32

    static let char: UInt8 = 0
    static let set: UInt8 = 1
    static let any: UInt8 = 2
    static let anyButNewline: UInt8 = 3
    static let split: UInt8 = 4
    static let jump: UInt8 = 5
    static let assert: UInt8 = 6
    static let match: UInt8 = 7
}

/// A literal every match contains (the prefilter): bytes, compared ignoring ASCII case when
/// `caseless` (the literal's letters are then lower case).
struct RequiredLiteral: Sendable {
    var bytes: [UInt8]
    var caseless: Bool
}

/// A compiled pattern: instructions, the classes they test, and what the prefilters know.
final class RegexProgram: Sendable {
    let instructions: [RegexInstruction]
    let start: Int32
    /// Per class: two words of ASCII membership bits.
    let classASCII: [UInt64]
    /// Per class k: its ranges above ASCII are `classRanges[2·classRangeStart[k] ..< 2·classRangeStart[k+1]]`
    /// as (low, high) pairs, ascending.
    let classRangeStart: [Int32]
    let classRanges: [UInt32]
    let classMatchesInvalid: [Bool]
    /// Every match starts at offset 0 (`\A`, `^` without multiline on every path).
    let anchoredStart: Bool
    /// The bytes a match can start with (256 flags), when that excludes some bytes and no
    /// continuation byte (so every candidate is a code point boundary); empty when unknown.
    let firstBytes: [Bool]
    /// A literal every match contains, when one was found.
    let required: RequiredLiteral?
    /// `required` starts every match: the search can jump to its next occurrence.
    let requiredIsPrefix: Bool
    /// The whole pattern is `required`: finding it is the answer.
    let requiredIsWhole: Bool

    init(instructions: [RegexInstruction], start: Int32, classes: [CodePointSet], anchoredStart: Bool,
         firstBytes: [Bool], required: RequiredLiteral?, requiredIsPrefix: Bool, requiredIsWhole: Bool) {
        self.instructions = instructions
        self.start = start
        var ascii: [UInt64] = []
        var rangeStart: [Int32] = [0]
        var ranges: [UInt32] = []
        var invalid: [Bool] = []
        for set in classes {
            var lo: UInt64 = 0, hi: UInt64 = 0
            for r in set.ranges where r.lowerBound < 128 {
                for c in r.lowerBound...min(r.upperBound, 127) {
                    if c < 64 { lo |= 1 << UInt64(c) } else { hi |= 1 << UInt64(c - 64) }
                }
            }
            ascii += [lo, hi]
            for r in set.ranges where r.upperBound >= 128 {
                ranges += [max(r.lowerBound, 128), r.upperBound]
            }
            rangeStart.append(Int32(ranges.count / 2))
            invalid.append(set.matchesInvalid)
        }
        classASCII = ascii
        classRangeStart = rangeStart
        classRanges = ranges
        classMatchesInvalid = invalid
        self.anchoredStart = anchoredStart
        self.firstBytes = firstBytes
        self.required = required
        self.requiredIsPrefix = requiredIsPrefix
        self.requiredIsWhole = requiredIsWhole
    }
}
