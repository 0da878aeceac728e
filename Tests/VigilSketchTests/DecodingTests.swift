import Testing
import VigilSketch

/// Decodes every kind of sketch from arbitrary bytes; when one decodes, merges it with itself and
/// serializes it again (what the fuzz target does). Returns how many kinds decoded.
@discardableResult
func decodeEverything(_ bytes: [UInt8]) -> Int {
    var decoded = 0
    if var s = try? HyperLogLog(serialized: bytes) { try? s.merge(s); _ = s.serialized(); _ = s.estimate(); decoded += 1 }
    if var s = try? BloomFilter(serialized: bytes) { try? s.merge(s); _ = s.serialized(); _ = s.approximateCount; decoded += 1 }
    if var s = try? CountMinSketch(serialized: bytes) { try? s.merge(s); _ = s.serialized(); _ = s.estimate(1); decoded += 1 }
    if var s = try? HeavyHitters(serialized: bytes) { try? s.merge(s); _ = s.serialized(); s.add("x"); _ = s.top; decoded += 1 }
    if var s = try? RunningMoments(serialized: bytes) { try? s.merge(s); _ = s.serialized(); _ = s.zScore(of: 1); decoded += 1 }
    if var s = try? ReservoirSample<[UInt8]>(serialized: bytes) { try? s.merge(s); _ = s.serialized(); s.add([1]); decoded += 1 }
    if var s = try? ReservoirSample<String>(serialized: bytes) { try? s.merge(s); _ = s.serialized(); decoded += 1 }
    return decoded
}

@Suite struct DecodingTests {
    /// Small valid encodings of every kind.
    static func samples() -> [[UInt8]] {
        var out: [[UInt8]] = []
        var sparse = HyperLogLog(precision: 8, seed: 1)
        for i in 0..<20 as Range<UInt64> { sparse.insert(i) }
        out.append(sparse.serialized())
        var dense = HyperLogLog(precision: 4)
        for i in 0..<100 as Range<UInt64> { dense.insert(i) }
        out.append(dense.serialized())
        var bloom = BloomFilter(bitCount: 256, hashCount: 3)
        bloom.insert("a")
        out.append(bloom.serialized())
        var cms = CountMinSketch(width: 8, depth: 3)
        cms.add("a", count: 3)
        cms.add("b")
        out.append(cms.serialized())
        var hh = HeavyHitters(capacity: 3, sketch: CountMinSketch(width: 8, depth: 2))
        for s in ["a", "b", "a", "c", "d"] { hh.add(s) }
        out.append(hh.serialized())
        var moments = RunningMoments()
        moments.add(1); moments.add(2)
        out.append(moments.serialized())
        var reservoir = ReservoirSample<[UInt8]>(capacity: 3, seed: 1)
        for i in 0..<5 { reservoir.add([UInt8(i)]) }
        out.append(reservoir.serialized())
        return out
    }

    @Test func samplesDecode() {
        for s in Self.samples() { #expect(decodeEverything(s) >= 1) }
    }

    @Test func truncatedBytesThrow() {
        for s in Self.samples() {
            for n in 0..<s.count { #expect(decodeEverything(Array(s[..<n])) == 0, "prefix \(n) of \(s.count)") }
            #expect(decodeEverything(s + [0]) == 0)
        }
    }

    @Test func mutatedBytesNeverTrap() {
        var r = SketchRandom(seed: 12)
        let samples = Self.samples()
        var decodedSome = 0
        for _ in 0..<6000 {
            var bytes = samples[Int(r.next(below: UInt64(samples.count)))]
            for _ in 0...r.next(below: 4) {
                let i = Int(r.next(below: UInt64(bytes.count)))
                switch r.next(below: 5) {
                case 0: bytes[i] ^= 1 << UInt8(r.next(below: 8))
                case 1: bytes[i] = UInt8(truncatingIfNeeded: r.next())
                case 2: bytes[i] = [0, 0x7F, 0x80, 0xFF][Int(r.next(below: 4))]
                case 3: bytes.remove(at: i)
                default: bytes.insert(UInt8(truncatingIfNeeded: r.next()), at: i)
                }
                if bytes.isEmpty { break }
            }
            decodedSome += decodeEverything(bytes)
        }
        // Some mutations (a flipped register or counter bit that stays consistent) still decode.
        #expect(decodedSome > 0)
        // Random bytes behind a valid header.
        for type: UInt8 in 1...6 {
            for _ in 0..<300 {
                let body = (0..<Int(r.next(below: 64))).map { _ in UInt8(truncatingIfNeeded: r.next()) }
                decodeEverything([0x56, type, 1] + body)
            }
        }
    }

    @Test func errorsSayWhat() {
        #expect(throws: SketchError(.truncated, "the bytes end early")) { try HyperLogLog(serialized: [0x56, 1]) }
        do {
            _ = try BloomFilter(serialized: HyperLogLog().serialized())
            Issue.record("decoded a HyperLogLog as a Bloom filter")
        } catch {
            #expect(error.code == .wrongType)
        }
    }
}

@Suite struct FuzzFindingsTests {
    /// A reservoir that has seen 2^64 − 1 elements: merging with itself overflows (throws), and a
    /// further element used to wrap the count to 0 and trap drawing below 0.
    @Test func saturatedReservoir() throws {
        let crash: [UInt8] = [0x56, 0x06, 0x01, 0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x62, 0x00, 0x00, 0x00, 0x00,
                              0x80, 0x40, 0x33, 0x00, 0x00, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                              0x00, 0xcf, 0x00, 0x23, 0x00, 0x00, 0x42, 0x00, 0x01, 0x01, 0x04]
        var s = try ReservoirSample<[UInt8]>(serialized: crash)
        #expect(throws: SketchError.self) { try s.merge(s) }
        s.add([1, 2, 3])
        #expect(s.seen == .max && s.elements == [[4]])
        #expect(decodeEverything(crash) == 2) // as a reservoir of byte arrays and of strings
    }
}
