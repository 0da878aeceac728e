import Testing
import VigilSketch

@Suite struct RunningMomentsTests {
    func values(_ n: Int, seed: UInt64) -> [Double] {
        var r = SketchRandom(seed: seed)
        return (0..<n).map { _ in 1e6 + (r.nextUnit() - 0.5) * 20 + Double(r.next(below: 3)) }
    }

    func twoPass(_ xs: [Double]) -> (mean: Double, variance: Double) {
        let mean = xs.reduce(0, +) / Double(xs.count)
        let ss = xs.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (mean, ss / Double(xs.count - 1))
    }

    @Test func matchesTwoPass() {
        let xs = values(10_000, seed: 1)
        var m = RunningMoments()
        for x in xs { m.add(x) }
        let (mean, variance) = twoPass(xs)
        #expect(m.count == 10_000)
        #expect(abs(m.mean - mean) <= 1e-9 * abs(mean))
        #expect(abs(m.variance - variance) <= 1e-9 * variance)
        #expect(abs(m.standardDeviation - variance.squareRoot()) <= 1e-9 * variance.squareRoot())
        #expect(m.min == xs.min())
        #expect(m.max == xs.max())
        #expect(abs(m.populationVariance - variance * 9999 / 10_000) <= 1e-9 * variance)
        let z = m.zScore(of: mean + 2 * variance.squareRoot())!
        #expect(abs(z - 2) < 1e-6)
    }

    @Test func mergeOfHalvesEqualsTheWhole() throws {
        let xs = values(5001, seed: 2)
        var whole = RunningMoments(), a = RunningMoments(), b = RunningMoments()
        for x in xs { whole.add(x) }
        for x in xs[..<1234] { a.add(x) }
        for x in xs[1234...] { b.add(x) }
        try a.merge(b)
        #expect(a.count == whole.count)
        #expect(abs(a.mean - whole.mean) <= 1e-12 * abs(whole.mean))
        #expect(abs(a.variance - whole.variance) <= 1e-9 * whole.variance)
        #expect(a.min == whole.min && a.max == whole.max)
        var empty = RunningMoments()
        try empty.merge(whole)
        #expect(empty == whole)
        try empty.merge(RunningMoments())
        #expect(empty == whole)
    }

    @Test func edgeCasesAndRoundTrip() throws {
        var m = RunningMoments()
        #expect(m.zScore(of: 1) == nil)
        m.add(3)
        #expect(m.variance == 0 && m.zScore(of: 1) == nil)
        m.add(5)
        #expect(m.mean == 4 && m.variance == 2)
        #expect(try RunningMoments(serialized: m.serialized()) == m)
        #expect(try RunningMoments(serialized: RunningMoments().serialized()) == RunningMoments())
    }
}
