#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A Count-Min sketch (Cormode–Muthukrishnan): approximate frequencies of keys in a stream of
/// (key, count) updates, with depth d rows of width w 64-bit counters. Each row's column is derived
/// from one 64-bit hash by double hashing.
///
/// Sized from ε and δ: w = ⌈e/ε⌉, d = ⌈ln(1/δ)⌉.
///
/// - Error bound: `estimate` never underestimates, and with probability at least 1 − δ it
///   overestimates by at most ε·N, where N is `total` (the sum of all counts).
/// - Complexity: `add` and `estimate` are O(d); `merge` is O(w·d). Memory: 8·w·d bytes.
public struct CountMinSketch: Sendable, Equatable {
    /// w: counters per row.
    public let width: Int
    /// d: rows.
    public let depth: Int
    /// The hash used by the convenience overloads (its seed must match to merge).
    public let hasher: Hash64
    /// N: the sum of every count added.
    public var total: UInt64 { storedTotal }
    @usableFromInline var storedTotal: UInt64 = 0
    @usableFromInline var counters: [UInt64]

    /// The width and depth for error ε (relative to N) with failure probability δ.
    public static func dimensions(epsilon: Double, delta: Double) -> (width: Int, depth: Int) {
        precondition(epsilon > 0 && epsilon < 1, "epsilon must be in (0, 1)")
        precondition(delta > 0 && delta < 1, "delta must be in (0, 1)")
        let w = (2.718_281_828_459_045 / epsilon).rounded(.up)
        let d = log(1 / delta).rounded(.up)
        precondition(w * max(1, d) < Double(1 << 32), "Count-Min sketch too large")
        return (Int(w), max(1, Int(d)))
    }

    /// A sketch whose estimates are within ε·N of the truth with probability 1 − δ.
    public init(epsilon: Double, delta: Double, seed: UInt64 = 0) {
        let (w, d) = Self.dimensions(epsilon: epsilon, delta: delta)
        self.init(width: w, depth: d, seed: seed)
    }

    /// A sketch of `depth` (1…64) rows of `width` counters.
    public init(width: Int, depth: Int, seed: UInt64 = 0) {
        precondition(width >= 1 && width < 1 << 32, "width must be in 1..<2^32")
        precondition((1...64).contains(depth), "depth must be in 1…64")
        precondition(width * depth < 1 << 32, "Count-Min sketch too large")
        self.width = width
        self.depth = depth
        self.hasher = Hash64(seed: seed)
        self.counters = [UInt64](repeating: 0, count: width * depth)
    }

    /// ε = e/w: the error bound relative to N that this width gives.
    public var epsilon: Double { 2.718_281_828_459_045 / Double(width) }
    /// δ = e^(−d): the probability that an estimate exceeds the bound.
    public var delta: Double { exp(-Double(depth)) }

    @inlinable @inline(__always)
    static func step(_ h: UInt64) -> UInt64 { (h.rotatedLeft(32) &* 0x9E37_79B9_7F4A_7C15) | 1 }

    /// Adds `count` occurrences of the key with this hash. Counts saturate at 2^64 − 1.
    ///
    /// - Complexity: O(d).
    @inlinable
    public mutating func add(hash h: UInt64, count: UInt64 = 1) {
        let w = UInt64(truncatingIfNeeded: width), d = depth, width = self.width
        let step = Self.step(h)
        let (sum, overflow) = storedTotal.addingReportingOverflow(count)
        storedTotal = overflow ? .max : sum
        counters.withUnsafeMutableBufferPointer { c in
            var g = h
            for row in 0..<d {
                let i = row &* width &+ Int(truncatingIfNeeded: g.multipliedFullWidth(by: w).high)
                let (v, o) = c[i].addingReportingOverflow(count)
                c[i] = o ? .max : v
                g &+= step
            }
        }
    }

    /// The estimated count of the key with this hash: the minimum of its d counters.
    ///
    /// - Error bound: ≥ the true count; ≤ true + ε·N with probability ≥ 1 − δ.
    /// - Complexity: O(d).
    @inlinable
    public func estimate(hash h: UInt64) -> UInt64 {
        let w = UInt64(truncatingIfNeeded: width), d = depth, width = self.width
        let step = Self.step(h)
        return counters.withUnsafeBufferPointer { c in
            var g = h
            var least = UInt64.max
            for row in 0..<d {
                least = min(least, c[row &* width &+ Int(truncatingIfNeeded: g.multipliedFullWidth(by: w).high)])
                g &+= step
            }
            return least
        }
    }

    @inlinable public mutating func add(_ bytes: UnsafeRawBufferPointer, count: UInt64 = 1) { add(hash: hasher.hash(bytes), count: count) }
    @inlinable public mutating func add(_ string: String, count: UInt64 = 1) { add(hash: hasher.hash(string), count: count) }
    @inlinable public mutating func add(_ value: UInt64, count: UInt64 = 1) { add(hash: hasher.hash(value), count: count) }
    @inlinable public func estimate(_ bytes: UnsafeRawBufferPointer) -> UInt64 { estimate(hash: hasher.hash(bytes)) }
    @inlinable public func estimate(_ string: String) -> UInt64 { estimate(hash: hasher.hash(string)) }
    @inlinable public func estimate(_ value: UInt64) -> UInt64 { estimate(hash: hasher.hash(value)) }

    /// Adds every count of `other` (the sketch of both streams).
    ///
    /// - Throws: `.incompatible` when the dimensions or seeds differ; `.overflow` when N would
    ///   exceed 2^64 − 1 (the sketch is then unchanged).
    /// - Complexity: O(w·d).
    public mutating func merge(_ other: CountMinSketch) throws(SketchError) {
        guard width == other.width, depth == other.depth else {
            throw SketchError(.incompatible, "cannot merge Count-Min sketches of \(width)×\(depth) and \(other.width)×\(other.depth)")
        }
        guard hasher.seed == other.hasher.seed else { throw SketchError(.incompatible, "cannot merge Count-Min sketches with different hash seeds") }
        let (sum, overflow) = total.addingReportingOverflow(other.total)
        guard !overflow else { throw SketchError(.overflow, "the merged Count-Min total would exceed 2^64 − 1") }
        storedTotal = sum
        counters.withUnsafeMutableBufferPointer { c in
            other.counters.withUnsafeBufferPointer { o in
                for i in 0..<c.count {
                    let (v, o) = c[i].addingReportingOverflow(o[i])
                    c[i] = o ? .max : v
                }
            }
        }
    }

    /// The sketch in the versioned little-endian format: magic 'V', type 3, version 1, seed (8),
    /// width (4), depth (1), N (8), then the w·d counters row by row (8 bytes each).
    ///
    /// - Complexity: O(w·d).
    public func serialized() -> [UInt8] {
        var w = ByteWriter(type: .countMin, capacity: 24 + 8 * counters.count)
        encode(into: &w)
        return w.bytes
    }

    func encode(into w: inout ByteWriter) {
        w.u64(hasher.seed)
        w.u32(UInt32(width))
        w.u8(UInt8(depth))
        w.u64(total)
        for c in counters { w.u64(c) }
    }

    /// Decodes `serialized()` output, validating the dimensions, the length, and that every row
    /// sums to N (no counter can then exceed N, so later merges cannot overflow a counter unnoticed).
    ///
    /// - Throws: `SketchError` for truncated, mistyped or inconsistent bytes.
    public init(serialized bytes: UnsafeRawBufferPointer) throws(SketchError) {
        var r = ByteReader(bytes)
        _ = try r.header(.countMin)
        try self.init(reading: &r)
        try r.end()
    }

    init(reading r: inout ByteReader) throws(SketchError) {
        let seed = try r.u64()
        let width = Int(try r.u32())
        let depth = Int(try r.u8())
        guard width >= 1, (1...64).contains(depth) else {
            throw SketchError(.invalidParameter, "Count-Min dimensions \(width)×\(depth) are out of range")
        }
        let total = try r.u64()
        guard width * depth <= (r.remaining / 8) else { throw SketchError(.truncated, "the Count-Min counters end early") }
        self.init(width: width, depth: depth, seed: seed)
        self.storedTotal = total
        let raw = try r.take(8 * width * depth)
        for row in 0..<depth {
            var sum: UInt64 = 0
            for col in 0..<width {
                let i = row * width + col
                let v = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * i, as: UInt64.self))
                let (s, o) = sum.addingReportingOverflow(v)
                guard !o else { throw SketchError(.invalidParameter, "Count-Min row \(row) overflows") }
                sum = s
                counters[i] = v
            }
            guard sum == total || total == .max else { throw SketchError(.invalidParameter, "Count-Min row \(row) does not sum to the total") }
        }
    }

    /// Decodes `serialized()` output from any byte collection.
    public init(serialized bytes: some Collection<UInt8>) throws(SketchError) {
        self = try withContiguousBytes(bytes) { raw throws(SketchError) in try CountMinSketch(serialized: raw) }
    }
}
