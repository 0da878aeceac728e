import Testing
import VigilSketch

/// A Zipf(s = 1.1) stream over `keys` keys: the key of each update.
func zipfStream(keys: Int, length: Int, seed: UInt64) -> [Int] {
    var cdf: [Double] = []
    var sum = 0.0
    for k in 1...keys {
        sum += 1 / Double(k).squareRoot() / Double(k).squareRoot() / pow11(k)
        cdf.append(sum)
    }
    var r = SketchRandom(seed: seed)
    return (0..<length).map { _ in
        let u = r.nextUnit() * sum
        var lo = 0, hi = keys - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cdf[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}

/// k^0.1 without Foundation.
private func pow11(_ k: Int) -> Double {
    var x = 1.0, lo = 1.0, hi = Double(k)
    // Bisection for x^10 = k.
    for _ in 0..<60 {
        x = (lo + hi) / 2
        var y = 1.0
        for _ in 0..<10 { y *= x }
        if y < Double(k) { lo = x } else { hi = x }
    }
    return x
}

@Suite struct CountMinTests {
    @Test func dimensions() {
        let cms = CountMinSketch(epsilon: 0.001, delta: 0.01)
        #expect(cms.width == 2719)
        #expect(cms.depth == 5)
    }

    @Test func zipfStreamWithinBounds() throws {
        let stream = zipfStream(keys: 20_000, length: 200_000, seed: 1)
        var truth = [Int: UInt64]()
        let epsilon = 0.001, delta = 0.01
        var cms = CountMinSketch(epsilon: epsilon, delta: delta, seed: 4)
        var top = HeavyHitters(capacity: 10, epsilon: epsilon, delta: delta, seed: 4)
        for key in stream {
            truth[key, default: 0] += 1
            cms.add(UInt64(key))
            top.add("key-\(key)")
        }
        #expect(cms.total == UInt64(stream.count))
        let bound = epsilon * Double(cms.total)
        var within = 0
        for key in 0..<20_000 {
            let t = truth[key] ?? 0, e = cms.estimate(UInt64(key))
            #expect(e >= t)
            if Double(e - t) <= bound { within += 1 }
        }
        #expect(Double(within) >= (1 - delta) * 20_000)

        // The true top 10 (Zipf head: well separated counts).
        let trueTop = truth.sorted { $0.value > $1.value }.prefix(10).map { "key-\($0.key)" }
        let found = top.top
        #expect(found.count == 10)
        #expect(Set(found.map(\.string)) == Set(trueTop))
        #expect(found.first?.string == "key-0")
        for item in found { #expect(item.estimate >= truth[Int(item.string.dropFirst(4))!]!) }
    }

    @Test func mergeAddsCounts() throws {
        var a = CountMinSketch(width: 100, depth: 4), b = a, both = a
        for i in 0..<1000 as Range<UInt64> { a.add(i % 37, count: 2); both.add(i % 37, count: 2) }
        for i in 0..<500 as Range<UInt64> { b.add(i % 11); both.add(i % 11) }
        try a.merge(b)
        #expect(a == both)
        #expect(a.total == 2500)
        #expect(throws: SketchError.self) { try a.merge(CountMinSketch(width: 101, depth: 4)) }
        let decoded = try CountMinSketch(serialized: a.serialized())
        #expect(decoded == a)
    }

    @Test func heavyHittersMergeAndRoundTrip() throws {
        let stream = zipfStream(keys: 2000, length: 40_000, seed: 9)
        var left = HeavyHitters(capacity: 5, epsilon: 0.002, delta: 0.01)
        var right = left, whole = left
        for (i, key) in stream.enumerated() {
            if i % 2 == 0 { left.add("k\(key)") } else { right.add("k\(key)") }
            whole.add("k\(key)")
        }
        try left.merge(right)
        #expect(left.sketch == whole.sketch)
        #expect(Set(left.top.map(\.key)) == Set(whole.top.map(\.key)))
        #expect(left.top.map(\.estimate) == whole.top.map(\.estimate))
        let decoded = try HeavyHitters(serialized: left.serialized())
        #expect(decoded.top == left.top)
        #expect(decoded.serialized() == left.serialized() || decoded.top == left.top)
        #expect(throws: SketchError.self) { try left.merge(HeavyHitters(capacity: 6, epsilon: 0.002, delta: 0.01)) }
    }

    @Test func heavyHittersEvictAndReadmit() {
        // More distinct keys than capacity, with evictions and re-admissions: the table's
        // deletions must keep every tracked key findable, and the top must be the true top.
        var hh = HeavyHitters(capacity: 8, sketch: CountMinSketch(width: 4096, depth: 4))
        var truth = [UInt64: UInt64]()
        var r = SketchRandom(seed: 2)
        for _ in 0..<20_000 {
            let key = r.next(below: 64)
            let count = (key + 1) * (key + 1)
            hh.add([UInt8(key)], count: count)
            truth[key, default: 0] += count
        }
        let top = hh.top
        #expect(top.count == 8)
        let trueTop = truth.sorted { $0.value > $1.value }.prefix(8).map { [UInt8($0.key)] }
        #expect(Set(top.map(\.key)) == Set(trueTop))
        // Re-adding every tracked key (count 0) finds it rather than inserting a twin.
        for item in top { hh.add(item.key, count: 0) }
        #expect(hh.top == top)
    }
}
