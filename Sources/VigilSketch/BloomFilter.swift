#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Bloom filter: a set membership test with no false negatives and a bounded false-positive
/// rate, sized from the expected number of items n and the target false-positive rate p:
/// m = −n·ln p / (ln 2)² bits (rounded up to whole 64-bit words) and k = round(m/n · ln 2) probes,
/// derived from one 64-bit hash by double hashing (Kirsch–Mitzenmacher: probe i is
/// h₁ + i·h₂, mapped onto m bits by a multiply-shift).
///
/// - Error bound: after n insertions the false-positive rate is about (1 − e^(−k·n/m))^k ≈ p;
///   `expectedFalsePositiveRate` gives the current value from the bits actually set.
/// - Complexity: `insert` and `mayContain` are O(k); `merge`, `approximateCount` and
///   `expectedFalsePositiveRate` are O(m/64). Memory: m/8 bytes.
public struct BloomFilter: Sendable, Equatable {
    /// m: the number of bits (a multiple of 64).
    public let bitCount: Int
    /// k: the number of bits set per item.
    public let hashCount: Int
    /// The hash used by the convenience overloads (its seed must match to merge).
    public let hasher: Hash64
    @usableFromInline var words: [UInt64]

    /// The bit and probe counts for `n` expected items at false-positive rate `p`:
    /// m = ⌈−n·ln p/(ln 2)²⌉ rounded up to a multiple of 64, k = max(1, round(m/n·ln 2)).
    public static func parameters(expectedItems n: Int, falsePositiveRate p: Double) -> (bitCount: Int, hashCount: Int) {
        precondition(n > 0, "expectedItems must be positive")
        precondition(p > 0 && p < 1, "falsePositiveRate must be in (0, 1)")
        let ln2 = 0.693_147_180_559_945_3
        let bits = (-Double(n) * log(p) / (ln2 * ln2)).rounded(.up)
        precondition(bits < Double(1 << 40), "Bloom filter too large")
        let m = max(64, (Int(bits) + 63) / 64 * 64)
        let k = max(1, min(64, Int((Double(m) / Double(n) * ln2).rounded())))
        return (m, k)
    }

    /// A filter for `expectedItems` items at `falsePositiveRate` (for example 0.01).
    public init(expectedItems: Int, falsePositiveRate: Double, seed: UInt64 = 0) {
        let (m, k) = Self.parameters(expectedItems: expectedItems, falsePositiveRate: falsePositiveRate)
        self.init(bitCount: m, hashCount: k, seed: seed)
    }

    /// A filter of `bitCount` bits (rounded up to a multiple of 64) and `hashCount` probes (1…64).
    public init(bitCount: Int, hashCount: Int, seed: UInt64 = 0) {
        precondition(bitCount > 0 && bitCount < 1 << 40, "bitCount must be in 1..<2^40")
        precondition((1...64).contains(hashCount), "hashCount must be in 1…64")
        self.bitCount = (bitCount + 63) / 64 * 64
        self.hashCount = hashCount
        self.hasher = Hash64(seed: seed)
        self.words = [UInt64](repeating: 0, count: self.bitCount / 64)
    }

    /// The second hash of the double-hashing scheme, derived from the first (odd, so that the
    /// probes of one item differ).
    @inlinable @inline(__always)
    static func step(_ h: UInt64) -> UInt64 { (h.rotatedLeft(32) &* 0x9E37_79B9_7F4A_7C15) | 1 }

    /// Adds an item by its 64-bit hash.
    ///
    /// - Complexity: O(k).
    @inlinable
    public mutating func insert(hash h: UInt64) {
        let m = UInt64(truncatingIfNeeded: bitCount), k = hashCount
        let step = Self.step(h)
        words.withUnsafeMutableBufferPointer { w in
            var g = h
            for _ in 0..<k {
                let bit = Int(truncatingIfNeeded: g.multipliedFullWidth(by: m).high)
                w[bit >> 6] |= 1 << UInt64(bit & 63)
                g &+= step
            }
        }
    }

    /// Whether an item with this hash may have been inserted: false means certainly not.
    ///
    /// - Error bound: true for an absent item with probability `expectedFalsePositiveRate`.
    /// - Complexity: O(k).
    @inlinable
    public func mayContain(hash h: UInt64) -> Bool {
        let m = UInt64(truncatingIfNeeded: bitCount), k = hashCount
        let step = Self.step(h)
        return words.withUnsafeBufferPointer { w in
            // Probes in groups of four without branches (their cache misses overlap), a test
            // after each group: an absent item usually fails in the first group, on a branch the
            // CPU predicts, where a test per probe mispredicts about every other lookup.
            var g = h
            var i = 0
            while i < k {
                var all: UInt64 = 1
                let end = Swift.min(k, i &+ 4)
                while i < end {
                    let bit = Int(truncatingIfNeeded: g.multipliedFullWidth(by: m).high)
                    all &= w[bit >> 6] >> UInt64(bit & 63)
                    g &+= step
                    i &+= 1
                }
                if all & 1 == 0 { return false }
            }
            return true
        }
    }

    @inlinable public mutating func insert(_ bytes: UnsafeRawBufferPointer) { insert(hash: hasher.hash(bytes)) }
    @inlinable public mutating func insert(_ string: String) { insert(hash: hasher.hash(string)) }
    @inlinable public mutating func insert(_ value: UInt64) { insert(hash: hasher.hash(value)) }
    @inlinable public func mayContain(_ bytes: UnsafeRawBufferPointer) -> Bool { mayContain(hash: hasher.hash(bytes)) }
    @inlinable public func mayContain(_ string: String) -> Bool { mayContain(hash: hasher.hash(string)) }
    @inlinable public func mayContain(_ value: UInt64) -> Bool { mayContain(hash: hasher.hash(value)) }

    /// The number of bits set.
    ///
    /// - Complexity: O(m/64).
    public var setBitCount: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

    /// The approximate number of distinct items inserted, from the fraction of bits set
    /// (Swamidass–Baldi): n ≈ −(m/k)·ln(1 − X/m); infinite when every bit is set.
    ///
    /// - Error bound: within a few percent while the filter is not overfilled (n ≲ 2× its design).
    /// - Complexity: O(m/64).
    public var approximateCount: Double {
        let x = Double(setBitCount), m = Double(bitCount)
        if x >= m { return .infinity }
        return -(m / Double(hashCount)) * log(1 - x / m)
    }

    /// The current probability that `mayContain` answers true for an absent item: (X/m)^k.
    ///
    /// - Complexity: O(m/64).
    public var expectedFalsePositiveRate: Double { pow(Double(setBitCount) / Double(bitCount), Double(hashCount)) }

    /// Adds every item of `other` (bitwise or: the filter of the union).
    ///
    /// - Throws: `.incompatible` when the sizes, probe counts or hash seeds differ.
    /// - Complexity: O(m/64).
    public mutating func merge(_ other: BloomFilter) throws(SketchError) {
        guard bitCount == other.bitCount, hashCount == other.hashCount else {
            throw SketchError(.incompatible, "cannot merge Bloom filters of \(bitCount) bits × \(hashCount) probes and \(other.bitCount) × \(other.hashCount)")
        }
        guard hasher.seed == other.hasher.seed else { throw SketchError(.incompatible, "cannot merge Bloom filters with different hash seeds") }
        words.withUnsafeMutableBufferPointer { w in
            other.words.withUnsafeBufferPointer { o in
                for i in 0..<w.count { w[i] |= o[i] }
            }
        }
    }

    /// The filter in the versioned little-endian format: magic 'V', type 2, version 1, seed (8),
    /// k (1), word count (8), then the words (8 bytes each).
    ///
    /// - Complexity: O(m/64).
    public func serialized() -> [UInt8] {
        var w = ByteWriter(type: .bloom, capacity: 20 + bitCount / 8)
        w.u64(hasher.seed)
        w.u8(UInt8(hashCount))
        w.u64(UInt64(words.count))
        words.withUnsafeBytes { raw in
            #if _endian(little)
            w.append(raw)
            #else
            for word in words { w.u64(word) }
            #endif
        }
        return w.bytes
    }

    /// Decodes `serialized()` output, validating the probe count and that the length matches.
    ///
    /// - Throws: `SketchError` for truncated, mistyped or inconsistent bytes.
    public init(serialized bytes: UnsafeRawBufferPointer) throws(SketchError) {
        var r = ByteReader(bytes)
        _ = try r.header(.bloom)
        let seed = try r.u64()
        let k = Int(try r.u8())
        guard (1...64).contains(k) else { throw SketchError(.invalidParameter, "Bloom filter probe count \(k) is not in 1…64") }
        let n = try r.u64()
        guard n >= 1, n <= UInt64(r.remaining / 8), n < 1 << 34 else {
            throw SketchError(n == 0 ? .invalidParameter : .truncated, "Bloom filter word count \(n) does not match the bytes")
        }
        self.init(bitCount: Int(n) * 64, hashCount: k, seed: seed)
        let raw = try r.take(Int(n) * 8)
        for i in 0..<Int(n) { words[i] = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self)) }
        try r.end()
    }

    /// Decodes `serialized()` output from any byte collection.
    public init(serialized bytes: some Collection<UInt8>) throws(SketchError) {
        self = try withContiguousBytes(bytes) { raw throws(SketchError) in try BloomFilter(serialized: raw) }
    }
}
