/// Running count, mean, variance, standard deviation, minimum and maximum of a stream of numbers
/// (Welford's online algorithm), mergeable with Chan, Golub and LeVeque's parallel formula, so
/// partial moments from several workers combine into those of the whole stream.
///
/// - Error bound: numerically stable: the accumulated rounding error of the variance is
///   O(n·ε·variance) rather than the catastrophic cancellation of the sum-of-squares formula.
/// - Complexity: `add`, `merge` and every statistic are O(1); memory is 40 bytes.
public struct RunningMoments: Sendable, Equatable {
    /// The number of values added.
    public private(set) var count: UInt64 = 0
    /// The mean (0 when empty).
    public private(set) var mean: Double = 0
    /// The sum of squared differences from the mean (M₂).
    public private(set) var sumOfSquaredDeviations: Double = 0
    /// The smallest value (+∞ when empty).
    public private(set) var min: Double = .infinity
    /// The largest value (−∞ when empty).
    public private(set) var max: Double = -.infinity

    public init() {}

    /// Adds one value. (Moments of 2^64 − 1 values ignore further ones.)
    ///
    /// - Complexity: O(1).
    public mutating func add(_ x: Double) {
        guard count < .max else { return }
        count += 1
        let delta = x - mean
        mean += delta / Double(count)
        sumOfSquaredDeviations += delta * (x - mean)
        if x < min { min = x }
        if x > max { max = x }
    }

    /// The sample variance M₂/(n − 1) (0 for fewer than two values).
    public var variance: Double { count > 1 ? sumOfSquaredDeviations / Double(count - 1) : 0 }
    /// The population variance M₂/n (0 when empty).
    public var populationVariance: Double { count > 0 ? sumOfSquaredDeviations / Double(count) : 0 }
    /// The sample standard deviation √variance.
    public var standardDeviation: Double { variance.squareRoot() }

    /// How many sample standard deviations `x` lies from the mean; nil with fewer than two values
    /// or no spread.
    ///
    /// - Complexity: O(1).
    public func zScore(of x: Double) -> Double? {
        let s = standardDeviation
        guard count > 1, s > 0, s.isFinite else { return nil }
        return (x - mean) / s
    }

    /// Combines the moments of another stream (Chan et al.): the result is that of both streams.
    ///
    /// - Throws: `.overflow` when the combined count would exceed 2^64 − 1.
    /// - Complexity: O(1).
    public mutating func merge(_ other: RunningMoments) throws(SketchError) {
        guard other.count > 0 else { return }
        guard count > 0 else { self = other; return }
        let (n, overflow) = count.addingReportingOverflow(other.count)
        guard !overflow else { throw SketchError(.overflow, "the merged count would exceed 2^64 − 1") }
        let na = Double(count), nb = Double(other.count), nd = Double(n)
        let delta = other.mean - mean
        mean += delta * nb / nd
        sumOfSquaredDeviations += other.sumOfSquaredDeviations + delta * delta * na * nb / nd
        count = n
        min = Swift.min(min, other.min)
        max = Swift.max(max, other.max)
    }

    /// The moments in the versioned little-endian format: magic 'V', type 5, version 1, count (8),
    /// mean, M₂, min, max (IEEE 754 binary64, 8 bytes each).
    public func serialized() -> [UInt8] {
        var w = ByteWriter(type: .welford, capacity: 43)
        w.u64(count)
        w.f64(mean)
        w.f64(sumOfSquaredDeviations)
        w.f64(min)
        w.f64(max)
        return w.bytes
    }

    /// Decodes `serialized()` output: an empty state must be exactly the initial one, and M₂ must
    /// not be negative.
    ///
    /// - Throws: `SketchError` for truncated, mistyped or inconsistent bytes.
    public init(serialized bytes: UnsafeRawBufferPointer) throws(SketchError) {
        var r = ByteReader(bytes)
        _ = try r.header(.welford)
        count = try r.u64()
        mean = try r.f64()
        sumOfSquaredDeviations = try r.f64()
        min = try r.f64()
        max = try r.f64()
        try r.end()
        if count == 0 {
            guard mean == 0, sumOfSquaredDeviations == 0, min == .infinity, max == -.infinity else {
                throw SketchError(.invalidParameter, "empty running moments carry values")
            }
        } else {
            guard !(sumOfSquaredDeviations < 0) else { throw SketchError(.invalidParameter, "negative sum of squared deviations") }
            guard !(min > max) else { throw SketchError(.invalidParameter, "minimum exceeds maximum") }
        }
    }

    /// Decodes `serialized()` output from any byte collection.
    public init(serialized bytes: some Collection<UInt8>) throws(SketchError) {
        self = try withContiguousBytes(bytes) { raw throws(SketchError) in try RunningMoments(serialized: raw) }
    }
}
