import Testing
import VigilSketch

@Suite struct Hash64Tests {
    @Test func deterministicAndSeeded() {
        let a = Hash64(seed: 1), b = Hash64(seed: 2)
        #expect(a.hash("hello") == Hash64(seed: 1).hash("hello"))
        #expect(a.hash("hello") != b.hash("hello"))
        #expect(a.hash("hello") != a.hash("hellp"))
    }

    @Test func overloadsAgree() {
        let h = Hash64(seed: 42)
        let text = "a string of more than sixteen bytes, with ünïcode"
        #expect(h.hash(text) == h.hash(Array(text.utf8)))
        let bridged = String(text.utf8.reversed().reversed().map { Character(UnicodeScalar($0)) }) // a non-trivial construction path
        _ = h.hash(bridged)
        for v: UInt64 in [0, 1, 0xFFFF_FFFF, 0x0123_4567_89AB_CDEF, .max] {
            let bytes = (0..<8).map { UInt8(truncatingIfNeeded: v >> (8 * UInt64($0))) }
            #expect(h.hash(v) == h.hash(bytes))
        }
    }

    @Test func everyLengthHashesDistinctly() {
        // Lengths 0…200 cover the short (≤ 3, 4…16), middle (17…48) and three-lane (> 48) paths.
        let h = Hash64()
        var seen = Set<UInt64>()
        var bytes: [UInt8] = []
        for n in 0...200 {
            #expect(seen.insert(h.hash(bytes)).inserted, "length \(n)")
            bytes.append(UInt8(truncatingIfNeeded: n &* 31))
        }
        // Zero bytes of different lengths differ too.
        var zeros = Set<UInt64>()
        for n in 0...64 { zeros.insert(h.hash([UInt8](repeating: 0, count: n))) }
        #expect(zeros.count == 65)
    }

    @Test func avalanche() {
        // Flipping one input bit flips each output bit with probability close to 1/2.
        let h = Hash64(seed: 7)
        var random = SketchRandom(seed: 3)
        for length in [8, 13, 40, 100] {
            var flips = [Int](repeating: 0, count: 64)
            var trials = 0
            for _ in 0..<40 {
                var bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: random.next()) }
                let base = h.hash(bytes)
                for bit in 0..<(length * 8) {
                    bytes[bit / 8] ^= 1 << UInt8(bit % 8)
                    let d = base ^ h.hash(bytes)
                    bytes[bit / 8] ^= 1 << UInt8(bit % 8)
                    for o in 0..<64 where d >> UInt64(o) & 1 == 1 { flips[o] += 1 }
                    trials += 1
                }
            }
            for o in 0..<64 {
                let p = Double(flips[o]) / Double(trials)
                #expect(abs(p - 0.5) < 0.05, "length \(length), output bit \(o): \(p)")
            }
        }
    }

    @Test func randomBounded() {
        var r = SketchRandom(seed: 9)
        var counts = [Int](repeating: 0, count: 7)
        for _ in 0..<70_000 { counts[Int(r.next(below: 7))] += 1 }
        for c in counts { #expect(abs(c - 10_000) < 500) }
        let u = (0..<1000).map { _ in r.nextUnit() }
        #expect(u.allSatisfy { $0 >= 0 && $0 < 1 })
    }
}
