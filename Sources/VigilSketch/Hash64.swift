/// A seedable 64-bit hash for bytes, strings and integers, written for the sketches: a
/// wyhash-style design (one 64×64→128-bit multiply folded to 64 bits per 16 bytes of input, three
/// independent lanes for long inputs), implemented here from the published description of the
/// algorithm. It is fast and well mixed (every input bit affects every output bit), not
/// cryptographic: an adversary who knows the seed can make collisions.
///
/// Hash once and feed the hash to several sketches with their `insert(hash:)`/`add(hash:)`: every
/// sketch of a given seed uses the same function.
///
/// - Complexity: O(n) in the input length; inputs up to 16 bytes take two multiplies.
public struct Hash64: Sendable, Hashable {
    /// The seed the hash was created with.
    public let seed: UInt64
    /// The seed after one round of mixing (what the rounds start from).
    @usableFromInline let start: UInt64

    @usableFromInline static let s0: UInt64 = 0xa076_1d64_78bd_642f
    @usableFromInline static let s1: UInt64 = 0xe703_7ed1_a0b4_28db
    @usableFromInline static let s2: UInt64 = 0x8ebc_6af0_9c88_d6e3
    @usableFromInline static let s3: UInt64 = 0x5899_65cc_7537_4cc3

    /// A hash with this seed (the sketches default to 0).
    public init(seed: UInt64 = 0) {
        self.seed = seed
        self.start = seed ^ Hash64.mix(seed ^ Hash64.s0, Hash64.s1)
    }

    /// The 128-bit product of `a` and `b` folded to 64 bits (high xor low).
    @inlinable @inline(__always)
    static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let r = a.multipliedFullWidth(by: b)
        return r.high ^ r.low
    }

    @inlinable @inline(__always)
    static func read8(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    @inlinable @inline(__always)
    static func read4(_ p: UnsafeRawPointer, _ offset: Int) -> UInt64 {
        UInt64(UInt32(littleEndian: p.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
    }

    /// The final rounds over the two last words `a`, `b` of an input of `length` bytes.
    @inlinable @inline(__always)
    func finish(_ a: UInt64, _ b: UInt64, state: UInt64, length: Int) -> UInt64 {
        let r = (a ^ Hash64.s1).multipliedFullWidth(by: b ^ state)
        return Hash64.mix(r.low ^ Hash64.s0 ^ UInt64(truncatingIfNeeded: length), r.high ^ Hash64.s1)
    }

    /// The hash of `bytes`.
    ///
    /// - Complexity: O(n).
    @inlinable
    public func hash(_ bytes: UnsafeRawBufferPointer) -> UInt64 {
        let n = bytes.count
        guard let p = bytes.baseAddress, n > 0 else { return finish(0, 0, state: start, length: 0) }
        var state = start
        let a: UInt64, b: UInt64
        if n <= 16 {
            if n >= 4 {
                let shift = (n >> 3) << 2
                a = (Hash64.read4(p, 0) << 32) | Hash64.read4(p, shift)
                b = (Hash64.read4(p, n - 4) << 32) | Hash64.read4(p, n - 4 - shift)
            } else {
                a = UInt64(bytes[0]) << 16 | UInt64(bytes[n >> 1]) << 8 | UInt64(bytes[n - 1])
                b = 0
            }
        } else {
            var i = n
            var offset = 0
            if i > 48 {
                var lane1 = state, lane2 = state
                repeat {
                    state = Hash64.mix(Hash64.read8(p, offset) ^ Hash64.s1, Hash64.read8(p, offset + 8) ^ state)
                    lane1 = Hash64.mix(Hash64.read8(p, offset + 16) ^ Hash64.s2, Hash64.read8(p, offset + 24) ^ lane1)
                    lane2 = Hash64.mix(Hash64.read8(p, offset + 32) ^ Hash64.s3, Hash64.read8(p, offset + 40) ^ lane2)
                    offset += 48
                    i -= 48
                } while i > 48
                state ^= lane1 ^ lane2
            }
            while i > 16 {
                state = Hash64.mix(Hash64.read8(p, offset) ^ Hash64.s1, Hash64.read8(p, offset + 8) ^ state)
                offset += 16
                i -= 16
            }
            a = Hash64.read8(p, offset + i - 16)
            b = Hash64.read8(p, offset + i - 8)
        }
        return finish(a, b, state: state, length: n)
    }

    /// The hash of a string's UTF-8 bytes (no allocation for native strings).
    ///
    /// - Complexity: O(n) in the UTF-8 length.
    @inlinable
    public func hash(_ string: String) -> UInt64 {
        if let h = string.utf8.withContiguousStorageIfAvailable({ hash(UnsafeRawBufferPointer($0)) }) { return h }
        var copy = string
        return copy.withUTF8 { hash(UnsafeRawBufferPointer($0)) }
    }

    /// The hash of a byte array.
    ///
    /// - Complexity: O(n).
    @inlinable
    public func hash(_ bytes: [UInt8]) -> UInt64 {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The hash of an integer: the same as the hash of its 8 little-endian bytes, computed without
    /// touching memory.
    ///
    /// - Complexity: O(1).
    @inlinable
    public func hash(_ value: UInt64) -> UInt64 {
        let lo = value & 0xFFFF_FFFF, hi = value >> 32
        return finish(lo << 32 | hi, hi << 32 | lo, state: start, length: 8)
    }

    /// The hash of a signed integer (its two's-complement bits).
    @inlinable
    public func hash(_ value: Int64) -> UInt64 { hash(UInt64(bitPattern: value)) }
}

/// A small, fast, seedable pseudo-random generator for the sketches (xoshiro256**, seeded through
/// SplitMix64), written here from the published descriptions. Not cryptographic.
public struct SketchRandom: RandomNumberGenerator, Sendable, Hashable {
    @usableFromInline var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// A generator whose whole sequence is determined by `seed`.
    public init(seed: UInt64) {
        var x = seed
        func splitMix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitMix(); s1 = splitMix(); s2 = splitMix(); s3 = splitMix()
    }

    /// The state words (for serialization); never all zero.
    var state: (UInt64, UInt64, UInt64, UInt64) { (s0, s1, s2, s3) }

    init?(state: (UInt64, UInt64, UInt64, UInt64)) {
        guard state.0 | state.1 | state.2 | state.3 != 0 else { return nil }
        (s0, s1, s2, s3) = state
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = (s1 &* 5).rotatedLeft(7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = s3.rotatedLeft(45)
        return result
    }

    /// A uniform integer in `0..<bound` (bound > 0), without modulo bias (Lemire's method).
    @inlinable
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "bound must be positive")
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// A uniform double in [0, 1).
    @inlinable
    public mutating func nextUnit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

extension UInt64 {
    @inlinable @inline(__always)
    func rotatedLeft(_ n: UInt64) -> UInt64 { (self << n) | (self >> (64 - n)) }
}
