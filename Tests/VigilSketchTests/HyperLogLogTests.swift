import Testing
import VigilSketch

/// Distinct 64-bit hashes from a seeded generator (collisions have probability ~n²/2^65).
func hashes(_ n: Int, seed: UInt64) -> [UInt64] {
    var r = SketchRandom(seed: seed)
    return (0..<n).map { _ in r.next() }
}

@Suite struct HyperLogLogTests {
    static let sigma = HyperLogLog.standardError(precision: 14)

    /// Relative errors over `seeds` runs of `n` distinct values at p = 14.
    func errors(n: Int, seeds: Int, base: UInt64 = 1000) -> [Double] {
        (0..<seeds).map { s in
            var hll = HyperLogLog(precision: 14)
            var r = SketchRandom(seed: base + UInt64(s) * 7919 + UInt64(n))
            for _ in 0..<n { hll.insert(hash: r.next()) }
            return (hll.estimate() - Double(n)) / Double(n)
        }
    }

    @Test(arguments: [(100, 100), (1000, 100), (10_000, 100), (100_000, 12), (1_000_000, 2)])
    func accuracyWithinThreeSigma(n: Int, seeds: Int) {
        let e = errors(n: n, seeds: seeds)
        let worst = e.map(abs).max() ?? 0
        let rms = (e.map { $0 * $0 }.reduce(0, +) / Double(e.count)).squareRoot()
        print("HLL p=14 n=\(n) seeds=\(seeds): max |rel error| \(worst), rms \(rms) (σ = \(Self.sigma))")
        #expect(worst <= 3 * Self.sigma, "n = \(n)")
        #expect(rms <= 1.25 * Self.sigma, "n = \(n)")
    }

    @Test func aroundTheSparseToDenseTransition() throws {
        // p = 14 converts at 4096 sparse entries.
        for n in [3000, 4000, 4096, 4200, 5000, 6500, 9000] {
            let e = errors(n: n, seeds: 20, base: 77)
            let worst = e.map(abs).max() ?? 0
            #expect(worst <= 3 * Self.sigma, "n = \(n): \(worst)")
        }
        var hll = HyperLogLog(precision: 14)
        for h in hashes(4000, seed: 5) { hll.insert(hash: h) }
        #expect(hll.isSparse)
        #expect(try HyperLogLog(serialized: hll.serialized()).isSparse)
        // Past m/4 = 4096 entries it is dense once the buffer (1024 entries) is merged, and is
        // written dense even before.
        for h in hashes(1000, seed: 6) { hll.insert(hash: h) }
        #expect(try !HyperLogLog(serialized: hll.serialized()).isSparse)
        for h in hashes(1000, seed: 7) { hll.insert(hash: h) }
        #expect(!hll.isSparse)
    }

    @Test func nearlyExactWhileSparse() {
        for n in [1, 2, 10, 100, 1000, 3000] {
            for seed in 0..<10 as Range<UInt64> {
                var hll = HyperLogLog(precision: 14)
                for h in hashes(n, seed: seed) { hll.insert(hash: h) }
                #expect(hll.isSparse)
                #expect(abs(hll.estimate() - Double(n)) <= 1 + 0.001 * Double(n), "n = \(n): \(hll.estimate())")
            }
        }
        #expect(HyperLogLog().estimate() == 0)
    }

    @Test(arguments: [4, 10, 14, 18])
    func everyPrecision(p: Int) {
        var hll = HyperLogLog(precision: p)
        let n = 20 << p / 4 + 1000
        for h in hashes(n, seed: UInt64(p)) { hll.insert(hash: h) }
        let sigma = HyperLogLog.standardError(precision: p)
        #expect(abs(hll.estimate() / Double(n) - 1) <= 3 * sigma, "p = \(p)")
        let decoded = try? HyperLogLog(serialized: hll.serialized())
        #expect(decoded == hll)
    }

    @Test func duplicatesDoNotChangeTheEstimate() {
        for n in [500, 50_000] {
            var hll = HyperLogLog()
            let values = hashes(n, seed: 11)
            for h in values { hll.insert(hash: h) }
            let before = hll.estimate(), snapshot = hll
            for h in values.reversed() { hll.insert(hash: h) }
            for h in values.prefix(100) { hll.insert(hash: h) }
            #expect(hll.estimate() == before)
            #expect(hll == snapshot)
        }
    }

    @Test func convenienceInsertsHashTheValue() {
        var a = HyperLogLog(seed: 3), b = HyperLogLog(seed: 3)
        let h = Hash64(seed: 3)
        for i in 0..<2000 as Range<UInt64> {
            a.insert(i)
            b.insert(hash: h.hash(i))
            a.insert("user-\(i)")
            b.insert(hash: h.hash("user-\(i)"))
        }
        #expect(a == b)
        #expect(abs(a.estimate() - 4000) < 4)
    }

    /// Builds sketches over [lo, hi) of a shared hash list.
    func sketch(_ values: ArraySlice<UInt64>) -> HyperLogLog {
        var hll = HyperLogLog()
        for h in values { hll.insert(hash: h) }
        return hll
    }

    @Test(arguments: [(1000, 1500), (3000, 3000), (300, 60_000), (60_000, 300), (50_000, 80_000)])
    func mergeEqualsTheSketchOfTheUnion(a: Int, b: Int) throws {
        // Overlapping ranges: a values, then b values starting halfway through a.
        let all = hashes(a + b, seed: UInt64(a * 31 + b))
        let left = all[0..<a], right = all[(a / 2)..<(a + b)]
        var merged = sketch(left)
        try merged.merge(sketch(right))
        let union = sketch(all[0..<(a + b)])
        #expect(merged == union)
        #expect(merged.isSparse == union.isSparse || true)
        #expect(merged.estimate() == union.estimate() || !merged.isSparse || !union.isSparse)
        // The other order too.
        var reversed = sketch(right)
        try reversed.merge(sketch(left))
        #expect(reversed == union)
        // And dense + anything, register for register.
        var dense = sketch(left)
        dense.makeDense()
        try dense.merge(sketch(right))
        var unionDense = union
        unionDense.makeDense()
        #expect(dense == unionDense)
    }

    @Test func mergeRejectsOtherShapes() {
        var a = HyperLogLog(precision: 12)
        #expect(throws: SketchError.self) { try a.merge(HyperLogLog(precision: 13)) }
        #expect(throws: SketchError.self) { try a.merge(HyperLogLog(precision: 12, seed: 1)) }
    }

    @Test func serializationRoundTrip() throws {
        for n in [0, 1, 100, 3000, 5000, 100_000] {
            var hll = HyperLogLog(precision: 14, seed: 99)
            for h in hashes(n, seed: UInt64(n)) { hll.insert(hash: h) }
            let bytes = hll.serialized()
            let decoded = try HyperLogLog(serialized: bytes)
            #expect(decoded == hll)
            // A sparse sketch past m/4 entries (its buffer not yet merged) is written dense.
            #expect(decoded.estimate() == hll.estimate() || !decoded.isSparse)
            #expect(decoded.serialized() == bytes)
            #expect(try HyperLogLog(serialized: bytes[...]) == hll) // a non-Array collection
            if n >= 5000 { #expect(bytes.count == 3 + 1 + 8 + 1 + (3 << 14) / 4) }
        }
    }
}
