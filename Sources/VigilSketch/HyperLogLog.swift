/// A HyperLogLog++ distinct-count sketch (Heule, Nunkesser, Hall 2013) over 64-bit hashes, with
/// Ertl's improved raw estimator ("New cardinality estimation algorithms for HyperLogLog
/// sketches", 2017) in place of empirical bias tables.
///
/// With precision `p` (4…18) the sketch has m = 2^p registers. It starts **sparse**: a sorted list
/// of (25-bit index, rank) pairs at precision p′ = 25, fed through a small unsorted buffer, which
/// costs 4 bytes per distinct register touched and estimates as a 2^25-register sketch (nearly
/// exact while small). When the list would take more bytes than the dense registers (m/4 entries)
/// the sketch converts to **dense**: m one-byte registers.
///
/// - Error bound: the relative standard error of `estimate()` is about 1.04/√m in dense mode
///   (p = 14: 0.81 %), and about 1.04/√(2^25) ≈ 0.018 % or better in sparse mode; the estimator
///   has no bias correction tables and is nearly unbiased over the whole range.
/// - Complexity: `insert(hash:)` is O(1) dense and amortized O(log b) sparse (b the buffer size);
///   `estimate()` is O(m) dense and O(s) sparse (s the list length); `merge` is O(m + s).
///   Memory: m bytes dense, at most about 1.25·m bytes sparse.
public struct HyperLogLog: Sendable {
    /// The sparse precision p′: indexes of 25 bits.
    public static let sparsePrecision = 25
    /// The supported precisions.
    public static let precisionRange = 4...18

    /// The precision p: the sketch has 2^p dense registers.
    public let precision: Int
    /// The hash used by the convenience `insert` overloads (and its seed, which must match to merge).
    public let hasher: Hash64

    /// Dense registers, one byte each; empty while the sketch is sparse.
    @usableFromInline var registers: [UInt8]
    /// Sparse entries `index′ << 6 | rank′`, sorted and unique by index′.
    @usableFromInline var sparseList: [UInt32]
    /// Sparse entries not yet merged into `sparseList`.
    @usableFromInline var buffer: [UInt32]

    /// A new, empty sketch.
    ///
    /// - Parameters:
    ///   - precision: p in 4…18 (m = 2^p registers; p = 14 gives 0.81 % standard error in 16 KiB).
    ///   - seed: the seed of the hash used by `insert(_:)` for bytes, strings and integers.
    ///   - sparse: start in the sparse representation (the default); `false` starts dense.
    public init(precision: Int = 14, seed: UInt64 = 0, sparse: Bool = true) {
        precondition(Self.precisionRange.contains(precision), "HyperLogLog precision must be in 4…18")
        self.precision = precision
        self.hasher = Hash64(seed: seed)
        self.registers = sparse ? [] : [UInt8](repeating: 0, count: 1 << precision)
        self.sparseList = []
        self.buffer = []
    }

    /// The number of dense registers, m = 2^p.
    public var registerCount: Int { 1 << precision }

    /// Whether the sketch is in the sparse representation.
    public var isSparse: Bool { registers.isEmpty }

    /// The relative standard error of a dense sketch of precision `p`: 1.04/√(2^p).
    public static func standardError(precision p: Int) -> Double { 1.04 / Double(1 << p).squareRoot() }

    /// Sparse entries kept before converting to dense (their 4 bytes each then match m bytes).
    @usableFromInline var sparseLimit: Int { max(1, (1 << precision) / 4) }
    @usableFromInline var bufferLimit: Int { max(4, (1 << precision) / 16) }

    // MARK: Insertion

    /// Adds an element by its 64-bit hash (from `hasher` or any well-mixed 64-bit hash used
    /// consistently by every sketch that will be merged).
    ///
    /// - Complexity: O(1) dense; amortized O(log b) sparse.
    @inlinable
    public mutating func insert(hash h: UInt64) {
        if !registers.isEmpty {
            let p = UInt64(truncatingIfNeeded: precision)
            let index = Int(truncatingIfNeeded: h >> (64 - p))
            let rank = UInt8(truncatingIfNeeded: ((h << p) | (1 << (p - 1))).leadingZeroBitCount + 1)
            registers.withUnsafeMutableBufferPointer { r in
                if r[index] < rank { r[index] = rank }
            }
        } else {
            insertSparse(hash: h)
        }
    }

    /// Adds the element with these bytes.
    ///
    /// - Complexity: O(n) to hash, then as `insert(hash:)`.
    @inlinable
    public mutating func insert(_ bytes: UnsafeRawBufferPointer) { insert(hash: hasher.hash(bytes)) }

    /// Adds a string (by its UTF-8 bytes; no allocation).
    @inlinable
    public mutating func insert(_ string: String) { insert(hash: hasher.hash(string)) }

    /// Adds an integer (as its 8 little-endian bytes).
    @inlinable
    public mutating func insert(_ value: UInt64) { insert(hash: hasher.hash(value)) }

    /// The sparse entry for a hash: the top 25 bits and the rank of the remaining 39 (1…40).
    @inlinable @inline(__always)
    static func sparseEntry(_ h: UInt64) -> UInt32 {
        let index = UInt32(truncatingIfNeeded: h >> 39)
        let rank = UInt32(truncatingIfNeeded: ((h << 25) | (1 << 24)).leadingZeroBitCount + 1)
        return index << 6 | rank
    }

    @usableFromInline
    mutating func insertSparse(hash h: UInt64) {
        if buffer.isEmpty { buffer.reserveCapacity(bufferLimit) }
        buffer.append(Self.sparseEntry(h))
        if buffer.count >= bufferLimit { flushBuffer() }
    }

    /// Sorts the buffer into the list; converts to dense when the list grows past the limit.
    @usableFromInline
    mutating func flushBuffer() {
        guard !buffer.isEmpty else { return }
        buffer.sort()
        sparseList = Self.mergeSorted(sparseList, buffer)
        buffer.removeAll(keepingCapacity: true)
        if sparseList.count > sparseLimit { convertToDense() }
    }

    /// Merges two lists sorted by entry into one sorted list unique by index′, keeping the larger
    /// rank of each index′ (inputs may repeat an index′; the largest rank of a run is its last).
    static func mergeSorted(_ a: [UInt32], _ b: [UInt32]) -> [UInt32] {
        var out: [UInt32] = []
        out.reserveCapacity(a.count + b.count)
        var i = 0, j = 0
        while i < a.count || j < b.count {
            let e: UInt32
            if j >= b.count || (i < a.count && a[i] <= b[j]) {
                e = a[i]; i += 1
            } else {
                e = b[j]; j += 1
            }
            if let last = out.last, last >> 6 == e >> 6 {
                out[out.count - 1] = max(last, e)
            } else {
                out.append(e)
            }
        }
        return out
    }

    /// The sparse entries with the buffer merged in (sorted, unique by index′).
    func normalizedSparse() -> [UInt32] {
        if buffer.isEmpty { return sparseList }
        return Self.mergeSorted(sparseList, buffer.sorted())
    }

    /// The dense register and rank a sparse entry stands for.
    @inline(__always)
    func denseRegister(of entry: UInt32) -> (index: Int, rank: UInt8) {
        let extra = UInt32(Self.sparsePrecision - precision)
        let index25 = entry >> 6
        let low = index25 & ((1 << extra) - 1)
        let rank: UInt32 = low != 0 ? UInt32(low.leadingZeroBitCount) - (32 - extra) + 1 : extra + (entry & 63)
        return (Int(index25 >> extra), UInt8(truncatingIfNeeded: rank))
    }

    mutating func convertToDense() {
        var dense = [UInt8](repeating: 0, count: 1 << precision)
        for e in sparseList { apply(e, to: &dense) }
        for e in buffer { apply(e, to: &dense) }
        registers = dense
        sparseList = []
        buffer = []
    }

    @inline(__always)
    func apply(_ entry: UInt32, to dense: inout [UInt8]) {
        let (index, rank) = denseRegister(of: entry)
        if dense[index] < rank { dense[index] = rank }
    }

    /// Converts a sparse sketch to the dense representation (the estimate's error becomes
    /// 1.04/√m); does nothing to a dense one.
    ///
    /// - Complexity: O(m + s).
    public mutating func makeDense() {
        if isSparse { convertToDense() }
    }

    // MARK: Estimation

    /// The estimated number of distinct elements inserted (Ertl's improved raw estimator over the
    /// register-value histogram; the sparse list counts as 2^25 registers).
    ///
    /// - Error bound: relative standard error ≈ 1.04/√m dense, ≈ 0.018 % or less sparse.
    /// - Complexity: O(m) dense, O(s + b log b) sparse.
    public func estimate() -> Double {
        var histogram = [Int](repeating: 0, count: 66)
        if isSparse {
            let entries = normalizedSparse()
            for e in entries { histogram[Int(e & 63)] += 1 }
            let m = 1 << Self.sparsePrecision
            histogram[0] = m - entries.count
            return Self.estimate(histogram: histogram, m: m, q: 64 - Self.sparsePrecision)
        }
        registers.withUnsafeBufferPointer { r in
            histogram.withUnsafeMutableBufferPointer { c in
                for v in r { c[Int(v)] += 1 }
            }
        }
        return Self.estimate(histogram: histogram, m: 1 << precision, q: 64 - precision)
    }

    /// Ertl's improved raw estimator from the histogram C₀…C_{q+1} of m registers of q+1 possible
    /// non-zero values.
    static func estimate(histogram c: [Int], m: Int, q: Int) -> Double {
        if c[0] == m { return 0 }
        let md = Double(m)
        var z = md * tau(1 - Double(c[q + 1]) / md)
        for k in stride(from: q, through: 1, by: -1) { z = 0.5 * (z + Double(c[k])) }
        z += md * sigma(Double(c[0]) / md)
        return (md * md / z) / (2 * 0.693_147_180_559_945_3)
    }

    /// σ(x) = x + Σ_{k≥1} x^(2^k)·2^(k−1), for x in [0, 1).
    static func sigma(_ x: Double) -> Double {
        if x == 1 { return .infinity }
        var x = x, y = 1.0, z = x
        while true {
            x *= x
            let previous = z
            z += x * y
            y += y
            if z == previous { return z }
        }
    }

    /// τ(x) = (1 − x − Σ_{k≥1} (1 − x^(2^−k))²·2^−k) / 3, for x in [0, 1].
    static func tau(_ x: Double) -> Double {
        if x == 0 || x == 1 { return 0 }
        var x = x, y = 1.0, z = 1 - x
        while true {
            x = x.squareRoot()
            let previous = z
            y *= 0.5
            z -= (1 - x) * (1 - x) * y
            if z == previous { return z / 3 }
        }
    }

    // MARK: Merge

    /// Adds every element of `other` (the sketch of the union of both streams). Sparse and dense
    /// sketches merge in any combination; the result equals, register for register, the sketch of
    /// the union.
    ///
    /// - Throws: `.incompatible` when the precisions or hash seeds differ.
    /// - Complexity: O(m + s).
    public mutating func merge(_ other: HyperLogLog) throws(SketchError) {
        guard precision == other.precision else {
            throw SketchError(.incompatible, "cannot merge HyperLogLog sketches of precision \(precision) and \(other.precision)")
        }
        guard hasher.seed == other.hasher.seed else {
            throw SketchError(.incompatible, "cannot merge HyperLogLog sketches with different hash seeds")
        }
        if other.isSparse {
            let entries = other.normalizedSparse()
            if isSparse {
                flushBuffer()
                if isSparse {
                    sparseList = Self.mergeSorted(sparseList, entries)
                    if sparseList.count > sparseLimit { convertToDense() }
                    return
                }
            }
            var dense = registers
            registers = []
            for e in entries { apply(e, to: &dense) }
            registers = dense
        } else {
            if isSparse { convertToDense() }
            registers.withUnsafeMutableBufferPointer { r in
                other.registers.withUnsafeBufferPointer { o in
                    for i in 0..<r.count where r[i] < o[i] { r[i] = o[i] }
                }
            }
        }
    }

    // MARK: Serialization

    /// The sketch in the versioned little-endian format (docs/sketches.md): magic 'V', type 1,
    /// version 1, p, seed (8 bytes), mode; sparse: entry count then delta-encoded varint entries;
    /// dense: m 6-bit registers packed 4 to 3 bytes.
    ///
    /// - Complexity: O(m) dense, O(s) sparse.
    public func serialized() -> [UInt8] {
        var w = ByteWriter(type: .hyperLogLog, capacity: 16 + (isSparse ? 3 * sparseList.count : (3 << precision) / 4))
        w.u8(UInt8(precision))
        w.u64(hasher.seed)
        switch canonical() {
        case .sparse(let entries):
            w.u8(0)
            w.varint(UInt64(entries.count))
            var previous: UInt32 = 0
            for e in entries {
                w.varint(UInt64(e - previous))
                previous = e
            }
        case .dense(let dense):
            w.u8(1)
            var i = 0
            while i < dense.count {
                let v = UInt32(dense[i]) | UInt32(dense[i + 1]) << 6 | UInt32(dense[i + 2]) << 12 | UInt32(dense[i + 3]) << 18
                w.u8(UInt8(truncatingIfNeeded: v)); w.u8(UInt8(truncatingIfNeeded: v >> 8)); w.u8(UInt8(truncatingIfNeeded: v >> 16))
                i += 4
            }
        }
        return w.bytes
    }

    /// Decodes `serialized()` output, validating every field.
    ///
    /// - Throws: `SketchError` for bytes that are truncated, of another type or version, or out of
    ///   range (precision, entry order, ranks, register values), or followed by extra bytes.
    public init(serialized bytes: UnsafeRawBufferPointer) throws(SketchError) {
        var r = ByteReader(bytes)
        _ = try r.header(.hyperLogLog)
        let p = Int(try r.u8())
        guard Self.precisionRange.contains(p) else { throw SketchError(.invalidParameter, "HyperLogLog precision \(p) is not in 4…18") }
        let seed = try r.u64()
        self.init(precision: p, seed: seed)
        let mode = try r.u8()
        switch mode {
        case 0:
            let n = try r.count(max: min(sparseLimit, r.remaining), "HyperLogLog sparse entry count")
            var list: [UInt32] = []
            list.reserveCapacity(n)
            var previous: UInt64 = 0
            for i in 0..<n {
                let delta = try r.varint()
                guard i == 0 || delta > 0, delta < 1 << 31 else { throw SketchError(.invalidParameter, "HyperLogLog sparse entries are not in order") }
                let e = previous + delta
                guard e < 1 << 31 else { throw SketchError(.invalidParameter, "HyperLogLog sparse entry out of range") }
                let rank = e & 63
                guard rank >= 1 && rank <= 40 else { throw SketchError(.invalidParameter, "HyperLogLog sparse rank \(rank) is not in 1…40") }
                if i > 0 && e >> 6 == previous >> 6 { throw SketchError(.invalidParameter, "HyperLogLog sparse index repeated") }
                list.append(UInt32(e))
                previous = e
            }
            sparseList = list
        case 1:
            let m = 1 << p
            let raw = try r.take(m / 4 * 3)
            let maxRank = UInt32(65 - p)
            var dense = [UInt8](repeating: 0, count: m)
            var i = 0, j = 0
            while i < m {
                let v = UInt32(raw[j]) | UInt32(raw[j + 1]) << 8 | UInt32(raw[j + 2]) << 16
                for k in 0..<4 {
                    let x = (v >> (6 * UInt32(k))) & 63
                    guard x <= maxRank else { throw SketchError(.invalidParameter, "HyperLogLog register value \(x) exceeds \(maxRank)") }
                    dense[i + k] = UInt8(x)
                }
                i += 4; j += 3
            }
            registers = dense
        default:
            throw SketchError(.invalidParameter, "HyperLogLog mode \(mode) is neither sparse (0) nor dense (1)")
        }
        try r.end()
    }

    /// Decodes `serialized()` output from any byte collection.
    public init(serialized bytes: some Collection<UInt8>) throws(SketchError) {
        self = try withContiguousBytes(bytes) { raw throws(SketchError) in try HyperLogLog(serialized: raw) }
    }
}

extension HyperLogLog: Equatable {
    /// Equal when the parameters match and so do the canonical states: the sparse entries (with
    /// the buffer merged in) while they number at most m/4, else the dense registers — the form
    /// `serialized()` writes, so a sketch equals its merge-built or decoded twin whatever the
    /// order of insertions.
    public static func == (a: HyperLogLog, b: HyperLogLog) -> Bool {
        guard a.precision == b.precision, a.hasher == b.hasher else { return false }
        switch (a.canonical(), b.canonical()) {
        case (.sparse(let x), .sparse(let y)): return x == y
        case (.dense(let x), .dense(let y)): return x == y
        default: return false
        }
    }

    enum Canonical {
        case sparse([UInt32])
        case dense([UInt8])
    }

    func canonical() -> Canonical {
        guard isSparse else { return .dense(registers) }
        let entries = normalizedSparse()
        if entries.count <= sparseLimit { return .sparse(entries) }
        var dense = [UInt8](repeating: 0, count: 1 << precision)
        for e in entries { apply(e, to: &dense) }
        return .dense(dense)
    }
}

extension HyperLogLog: CustomStringConvertible {
    public var description: String {
        "HyperLogLog(p: \(precision), \(isSparse ? "sparse" : "dense"), estimate: \(Int(estimate().rounded())))"
    }
}
