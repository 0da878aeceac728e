import Testing
import VigilSketch

@Suite struct ReservoirTests {
    /// Pearson's chi-square statistic of observed counts against a uniform expectation.
    func chiSquare(_ counts: [Int]) -> Double {
        let expected = Double(counts.reduce(0, +)) / Double(counts.count)
        return counts.reduce(0) { $0 + (Double($1) - expected) * (Double($1) - expected) / expected }
    }

    @Test func uniform() {
        let n = 100, k = 10, runs = 3000
        var counts = [Int](repeating: 0, count: n)
        for run in 0..<runs {
            var r = ReservoirSample<UInt64>(capacity: k, seed: UInt64(run))
            for i in 0..<UInt64(n) { r.add(i) }
            #expect(r.elements.count == k && r.seen == UInt64(n))
            for e in r.elements { counts[Int(e)] += 1 }
        }
        // 99 degrees of freedom: mean 99, standard deviation 14.
        let x2 = chiSquare(counts)
        #expect(x2 < 99 + 5 * 14, "chi-square \(x2)")
        #expect(x2 > 99 - 5 * 14, "chi-square \(x2) (too regular)")
    }

    @Test func smallStreamsKeepEverything() throws {
        var a = ReservoirSample<String>(capacity: 10, seed: 1)
        for s in ["a", "b", "c"] { a.add(s) }
        #expect(a.elements == ["a", "b", "c"])
        var b = ReservoirSample<String>(capacity: 10, seed: 2)
        for s in ["d", "e", "f", "g"] { b.add(s) }
        try a.merge(b)
        #expect(Set(a.elements) == Set(["a", "b", "c", "d", "e", "f", "g"]))
        #expect(a.seen == 7)
    }

    @Test func mergeDrawsInProportionToCounts() throws {
        // A saw 0..<300, B saw 300..<400: a merged sample of 20 is uniform over 0..<400.
        let k = 20, runs = 2000
        var counts = [Int](repeating: 0, count: 400)
        var fromA = 0
        for run in 0..<runs {
            var a = ReservoirSample<UInt64>(capacity: k, seed: UInt64(2 * run))
            var b = ReservoirSample<UInt64>(capacity: k, seed: UInt64(2 * run + 1))
            for i in 0..<300 as Range<UInt64> { a.add(i) }
            for i in 300..<400 as Range<UInt64> { b.add(i) }
            try a.merge(b)
            #expect(a.elements.count == k && a.seen == 400)
            #expect(Set(a.elements).count == k)
            for e in a.elements {
                counts[Int(e)] += 1
                if e < 300 { fromA += 1 }
            }
        }
        let share = Double(fromA) / Double(runs * k)
        #expect(abs(share - 0.75) < 0.01, "share from A \(share)")
        // 399 degrees of freedom: mean 399, standard deviation 28.
        let x2 = chiSquare(counts)
        #expect(x2 < 399 + 5 * 28, "chi-square \(x2)")
        #expect(throws: SketchError.self) {
            var a = ReservoirSample<UInt64>(capacity: 3)
            try a.merge(ReservoirSample<UInt64>(capacity: 4))
        }
    }

    @Test func roundTripContinuesTheSameWay() throws {
        var a = ReservoirSample<[UInt8]>(capacity: 5, seed: 8)
        for i in 0..<50 { a.add([UInt8(i), 1, 2]) }
        var b = try ReservoirSample<[UInt8]>(serialized: a.serialized())
        #expect(b == a)
        for i in 50..<90 { a.add([UInt8(i)]); b.add([UInt8(i)]) }
        #expect(b == a)
        let s = ReservoirSample<String>(capacity: 2, seed: 1)
        #expect(try ReservoirSample<String>(serialized: s.serialized()) == s)
    }
}
