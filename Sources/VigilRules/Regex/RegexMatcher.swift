#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The marker for a byte that does not start a valid UTF-8 sequence at its position: above every
/// code point, so only classes that match invalid bytes (`.`, negated classes) accept it.
let invalidByteMarker: UInt32 = 0x110000

/// Decodes the code point at `i` (`i < n`): (value, length); an invalid byte is
/// (`invalidByteMarker`, 1). Overlong forms, surrogates and values above U+10FFFF are invalid.
@inline(__always)
func decodeUTF8(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (UInt32, Int) {
    let b0 = p[i]
    if b0 < 0x80 { return (UInt32(b0), 1) }
    return decodeUTF8Multibyte(p, i, n)
}

@inline(never)
func decodeUTF8Multibyte(_ p: UnsafePointer<UInt8>, _ i: Int, _ n: Int) -> (UInt32, Int) {
    let b0 = p[i]
    @inline(__always) func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xBF) -> UInt32? {
        guard i + k < n else { return nil }
        let b = p[i + k]
        return b >= lo && b <= hi ? UInt32(b & 0x3F) : nil
    }
    switch b0 {
    case 0xC2...0xDF:
        if let c1 = cont(1) { return (UInt32(b0 & 0x1F) << 6 | c1, 2) }
    case 0xE0...0xEF:
        let lo: UInt8 = b0 == 0xE0 ? 0xA0 : 0x80, hi: UInt8 = b0 == 0xED ? 0x9F : 0xBF
        if let c1 = cont(1, lo, hi), let c2 = cont(2) { return (UInt32(b0 & 0x0F) << 12 | c1 << 6 | c2, 3) }
    case 0xF0...0xF4:
        let lo: UInt8 = b0 == 0xF0 ? 0x90 : 0x80, hi: UInt8 = b0 == 0xF4 ? 0x8F : 0xBF
        if let c1 = cont(1, lo, hi), let c2 = cont(2), let c3 = cont(3) {
            return (UInt32(b0 & 0x07) << 18 | c1 << 12 | c2 << 6 | c3, 4)
        }
    default:
        break
    }
    return (invalidByteMarker, 1)
}

@inline(__always)
private func isWordByte(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x5F
}

extension RegexProgram {
    /// Searches `input`; `steps` is increased by the NFA work done (thread insertions plus thread
    /// steps), at most 2·m per input position plus m, for m instructions.
    func run(_ input: UnsafeRawBufferPointer, usePrefilter: Bool, steps: inout Int) -> Bool {
        let n = input.count
        guard n > 0, let raw = input.baseAddress else {
            var zero: UInt8 = 0
            return withUnsafeMutablePointer(to: &zero) { search(UnsafePointer($0), 0, usePrefilter, &steps) }
        }
        return search(raw.assumingMemoryBound(to: UInt8.self), n, usePrefilter, &steps)
    }

    private func search(_ p: UnsafePointer<UInt8>, _ n: Int, _ usePrefilter: Bool, _ steps: inout Int) -> Bool {
        guard usePrefilter, let required else {
            return simulate(p, n, from: 0, usePrefilter: usePrefilter, skipLiteral: nil, &steps)
        }
        return required.bytes.withUnsafeBufferPointer { literal in
            guard let at = Self.find(literal, caseless: required.caseless, in: p, n, from: 0) else { return false }
            if requiredIsWhole { return true }
            if requiredIsPrefix { return simulate(p, n, from: at, usePrefilter: true, skipLiteral: literal, &steps) }
            return simulate(p, n, from: 0, usePrefilter: true, skipLiteral: nil, &steps)
        }
    }

    /// The Pike VM without captures: the set of live instructions advances one code point at a
    /// time; a new thread starts at every position unless anchored.
    private func simulate(_ p: UnsafePointer<UInt8>, _ n: Int, from begin: Int, usePrefilter: Bool,
                          skipLiteral: UnsafeBufferPointer<UInt8>?, _ steps: inout Int) -> Bool {
        let m = instructions.count
        let caseless = required?.caseless ?? false
        let useFirstBytes = usePrefilter && !firstBytes.isEmpty
        return instructions.withUnsafeBufferPointer { code in
        classASCII.withUnsafeBufferPointer { ascii in
        classRangeStart.withUnsafeBufferPointer { rangeStart in
        classRanges.withUnsafeBufferPointer { ranges in
        classMatchesInvalid.withUnsafeBufferPointer { invalid in
        firstBytes.withUnsafeBufferPointer { first in
        withUnsafeTemporaryAllocation(of: Int32.self, capacity: 5 * m) { buffer -> Bool in
            guard let base = buffer.baseAddress else { return false }
            // Two sparse sets (sparse index, dense list) and the closure stack.
            let sparseA = base, denseA = base + m, sparseB = base + 2 * m, denseB = base + 3 * m, stack = base + 4 * m
            sparseA.initialize(repeating: 0, count: m)
            sparseB.initialize(repeating: 0, count: m)
            var current = (sparse: sparseA, dense: denseA, count: 0)
            var next = (sparse: sparseB, dense: denseB, count: 0)
            var work = 0

            /// Adds `pc` and what it reaches without consuming at position `at`; true on a match.
            @inline(__always)
            func addClosure(_ set: inout (sparse: UnsafeMutablePointer<Int32>, dense: UnsafeMutablePointer<Int32>, count: Int),
                            _ pc0: Int32, at pos: Int) -> Bool {
                @inline(__always) func push(_ pc: Int32, _ depth: inout Int) {
                    let s = Int(set.sparse[Int(pc)])
                    if s < set.count && set.dense[s] == pc { return }
                    set.sparse[Int(pc)] = Int32(set.count)
                    set.dense[set.count] = pc
                    set.count += 1
                    stack[depth] = pc
                    depth += 1
                }
                var depth = 0
                push(pc0, &depth)
                while depth > 0 {
                    depth -= 1
                    let pc = Int(stack[depth])
                    work += 1
                    let inst = code[pc]
                    switch inst.op {
                    case RegexInstruction.split:
                        push(inst.x, &depth)
                        push(inst.y, &depth)
                    case RegexInstruction.jump:
                        push(inst.x, &depth)
                    case RegexInstruction.assert:
                        let holds: Bool
                        switch inst.x {
                        case 0: holds = pos == 0
                        case 1: holds = pos == 0 || (p[pos - 1] == 0x0A && pos < n)
                        case 2: holds = pos == n
                        case 3: holds = pos == n || (pos == n - 1 && p[pos] == 0x0A)
                        case 4: holds = pos == n || p[pos] == 0x0A
                        default:
                            let before = pos > 0 && isWordByte(p[pos - 1])
                            let after = pos < n && isWordByte(p[pos])
                            holds = (before != after) == (inst.x == RegexAssertion.wordBoundary.rawValue)
                        }
                        if holds { push(inst.y, &depth) }
                    case RegexInstruction.match:
                        return true
                    default:
                        break
                    }
                }
                return false
            }

            @inline(__always)
            func classContains(_ k: Int, _ c: UInt32) -> Bool {
                if c < 128 {
                    return ascii[2 * k + Int(c >> 6)] >> UInt64(c & 63) & 1 == 1
                }
                if c == invalidByteMarker { return invalid[k] }
                var lo = Int(rangeStart[k]), hi = Int(rangeStart[k + 1])
                while lo < hi {
                    let mid = (lo + hi) >> 1
                    if ranges[2 * mid + 1] < c { lo = mid + 1 } else { hi = mid }
                }
                return lo < Int(rangeStart[k + 1]) && ranges[2 * lo] <= c
            }

            /// The next position ≥ `i` where a match can start, or nil.
            @inline(__always)
            func skip(_ i: Int) -> Int? {
                if let lit = skipLiteral { return Self.find(lit, caseless: caseless, in: p, n, from: i) }
                if useFirstBytes {
                    var j = i
                    while j < n, !first[Int(p[j])] { j += 1 }
                    return j < n ? j : nil
                }
                return i
            }

            var i = begin
            if addClosure(&current, start, at: i) { steps += work; return true }
            while i < n {
                let (c, length) = decodeUTF8(p, i, n)
                let after = i + length
                next.count = 0
                for k in 0..<current.count {
                    let inst = code[Int(current.dense[k])]
                    work += 1
                    let advance: Bool
                    switch inst.op {
                    case RegexInstruction.char: advance = UInt32(bitPattern: inst.x) == c
                    case RegexInstruction.set: advance = classContains(Int(inst.x), c)
                    case RegexInstruction.any: advance = true
                    case RegexInstruction.anyButNewline: advance = c != 0x0A
                    default: advance = false
                    }
                    if advance, addClosure(&next, inst.y, at: after) { steps += work; return true }
                }
                i = after
                if !anchoredStart {
                    if next.count == 0 {
                        guard let j = skip(i) else { break }
                        i = j
                    }
                    if addClosure(&next, start, at: i) { steps += work; return true }
                } else if next.count == 0 {
                    break
                }
                swap(&current, &next)
            }
            steps += work
            return false
        }
        }
        }
        }
        }
        }
        }
    }

    /// The first offset ≥ `from` where `literal` occurs (ignoring ASCII case when `caseless`; the
    /// literal's letters are then lower case). memchr finds candidates for the literal's rarest
    /// byte (by a fixed guess of byte frequencies in logs); each candidate is then verified.
    static func find(_ literal: UnsafeBufferPointer<UInt8>, caseless: Bool, in p: UnsafePointer<UInt8>, _ n: Int, from: Int) -> Int? {
        let k = literal.count
        guard let lit = literal.baseAddress, k > 0, from >= 0, n - from >= k else { return nil }
        @inline(__always) func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
        @inline(__always) func equal(at s: Int) -> Bool {
            if caseless {
                for j in 0..<k where lower(p[s + j]) != lit[j] { return false }
            } else {
                for j in 0..<k where p[s + j] != lit[j] { return false }
            }
            return true
        }
        // The anchor: the rarest byte that has no other case to look for.
        var anchor = -1
        var best = Int.max
        for j in 0..<k {
            let b = lit[j]
            if caseless, b >= 0x61 && b <= 0x7A { continue }
            let score = Self.byteFrequency(b)
            if score < best { best = score; anchor = j }
        }
        if anchor >= 0 {
            var s = from
            while s + k <= n {
                guard let hit = memchr(p + s + anchor, Int32(lit[anchor]), n - k - s + 1) else { return nil }
                let start = UnsafeRawPointer(hit) - UnsafeRawPointer(p) - anchor
                if equal(at: start) { return start }
                s = start + 1
            }
            return nil
        }
        let first = lit[0]
        var s = from
        while s + k <= n {
            if lower(p[s]) == first && equal(at: s) { return s }
            s += 1
        }
        return nil
    }

    /// A rough rank of how common a byte is in log text (higher: more common).
    @inline(__always)
    static func byteFrequency(_ b: UInt8) -> Int {
        switch b {
        case 0x20: 255
        case 0x65, 0x74, 0x61, 0x6F, 0x69, 0x6E, 0x73, 0x72: 240   // e t a o i n s r
        case 0x68, 0x6C, 0x64, 0x63, 0x75, 0x6D, 0x70: 220         // h l d c u m p
        case 0x61...0x7A: 180
        case 0x30...0x39: 170
        case 0x2E, 0x2D, 0x2F, 0x3A, 0x3D, 0x5F, 0x2C, 0x22: 160    // . - / : = _ , "
        case 0x41...0x5A: 120
        case 0x00...0x7F: 80
        default: 40
        }
    }
}
