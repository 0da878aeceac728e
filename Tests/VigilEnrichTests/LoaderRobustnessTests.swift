import Testing
@testable import VigilEnrich
import VigilTestSupport

/// The fuzz target's loaders over random and mutated inputs: they throw, never trap.
@Suite struct LoaderRobustnessTests {
    static let seeds: [String] = [
        "kind: table\nfile: a.csv\nkey: ip\nlookups: [{field: source.ip, target: s}]\n",
        "a,b\n10.0.0.1,\"x\"\"y\"\n10.0.0.0/8,z\n",
        "{\"a\":\"k\",\"b\":1}\n[{\"a\":\"k\"}]\n",
        "1.2.3.4 # c\n10.0.0.0/8\nevil.example.\nE3B0C442\n",
        "10.0.0.1\n{\"hostname\":\"x\"}",
        "{\"type\":\"domain\",\"value\":\"Bad.Example\"}",
    ]

    @Test func randomAndMutatedInputsNeverTrap() {
        var rng = SplitMix64(seed: 99)
        for round in 0..<4000 {
            var bytes: [UInt8] = [UInt8(truncatingIfNeeded: rng.next())]
            if round % 2 == 0 {
                bytes += Array(Self.seeds[Int(rng.next() % UInt64(Self.seeds.count))].utf8)
                for _ in 0..<Int(rng.next() % 4) where bytes.count > 1 {
                    bytes[1 + Int(rng.next() % UInt64(bytes.count - 1))] = UInt8(truncatingIfNeeded: rng.next())
                }
            } else {
                for _ in 0..<Int(rng.next() % 64) { bytes.append([UInt8(ascii: ","), 0x22, 0x0A, 0x0D, 0x31, 0x2E, 0x3A, 0x2F, 0x7B, 0x7D, 0xFF][Int(rng.next() % 11)]) }
            }
            bytes.withUnsafeBytes { EnrichmentFuzzing.run($0) }
        }
    }
}
