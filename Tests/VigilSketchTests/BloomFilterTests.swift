import Testing
import VigilSketch

@Suite struct BloomFilterTests {
    @Test func sizing() {
        let (m, k) = BloomFilter.parameters(expectedItems: 1_000_000, falsePositiveRate: 0.01)
        #expect(m >= 9_585_058 && m < 9_585_058 + 64 && m % 64 == 0)
        #expect(k == 7)
        #expect(BloomFilter.parameters(expectedItems: 1000, falsePositiveRate: 0.001).hashCount == 10)
    }

    @Test(arguments: [0.01, 0.001])
    func falsePositiveRateAndNoFalseNegatives(p: Double) {
        let n = 50_000
        var filter = BloomFilter(expectedItems: n, falsePositiveRate: p, seed: 5)
        for i in 0..<UInt64(n) { filter.insert(i) }
        for i in 0..<UInt64(n) { #expect(filter.mayContain(i), "false negative") }
        var positives = 0
        let absent = 200_000
        for i in UInt64(1 << 40)..<UInt64(1 << 40 + absent) where filter.mayContain(i) { positives += 1 }
        let measured = Double(positives) / Double(absent)
        print("Bloom p=\(p): measured FPR \(measured), expected \(filter.expectedFalsePositiveRate)")
        #expect(measured <= 1.5 * p)
        #expect(abs(filter.expectedFalsePositiveRate - p) < 0.3 * p)
        #expect(abs(filter.approximateCount / Double(n) - 1) < 0.02)
    }

    @Test func stringsAndBytes() {
        var filter = BloomFilter(expectedItems: 100, falsePositiveRate: 0.01)
        filter.insert("10.0.0.1")
        #expect(filter.mayContain("10.0.0.1"))
        #expect(Array("10.0.0.1".utf8).withUnsafeBytes { filter.mayContain($0) })
        #expect(!filter.mayContain("10.0.0.2") || filter.expectedFalsePositiveRate > 0)
        #expect(BloomFilter(expectedItems: 10, falsePositiveRate: 0.1).approximateCount == 0)
    }

    @Test func unionIsTheFilterOfBothSets() throws {
        var a = BloomFilter(expectedItems: 10_000, falsePositiveRate: 0.01)
        var b = a, both = a
        for i in 0..<5000 as Range<UInt64> { a.insert(i); both.insert(i) }
        for i in 3000..<9000 as Range<UInt64> { b.insert(i); both.insert(i) }
        try a.merge(b)
        #expect(a == both)
        #expect(throws: SketchError.self) { try a.merge(BloomFilter(expectedItems: 20_000, falsePositiveRate: 0.01)) }
        #expect(throws: SketchError.self) { try a.merge(BloomFilter(expectedItems: 10_000, falsePositiveRate: 0.01, seed: 1)) }
    }

    @Test func serializationRoundTrip() throws {
        var filter = BloomFilter(expectedItems: 1000, falsePositiveRate: 0.02, seed: 77)
        for i in 0..<700 as Range<UInt64> { filter.insert(i) }
        let decoded = try BloomFilter(serialized: filter.serialized())
        #expect(decoded == filter)
        #expect(decoded.mayContain(5))
    }
}
