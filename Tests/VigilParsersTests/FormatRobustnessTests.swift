import Foundation
import Testing
import VigilCore
import VigilParsers
import VigilTestSupport

/// Seeded random mutations of valid lines: every parser type either throws `ParseFailure` or
/// returns events, on every input, never traps.
@Suite struct FormatRobustnessTests {
    static let mutationsPerType = 50_000

    static func seeds(for type: String, parser: CompiledParser) -> [[UInt8]] {
        var lines = parser.examples.map(\.line)
        let metron = sharedDataDirectory().map { $0 + "/metron" }
        func add(_ path: String) { if let m = metron, let l = try? MetronParity.lines(m + path) { lines += l.prefix(40) } }
        switch type {
        case "cef": for s in ["adallom", "cyberark", "palo", "waf"] { add("/parser-test-resources/cef/\(s).cef") }
        case "leef": add("/integration-sample-data/leef/raw/leefOutput")
        case "asa": add("/integration-sample-data/asa/raw/asa_raw")
        case "json", "jsonMapQuery": add("/integration-sample-data/jsonMapQuery/raw/jsonMapExampleOutput"); add("/integration-sample-data/jsonMap/raw/jsonMapExampleOutput")
        case "jsonMapWrappedQuery": add("/integration-sample-data/jsonMapWrappedQuery/raw/jsonMapExampleOutput")
        default: break
        }
        return lines.map { Array($0.utf8) }
    }

    static let interesting: [UInt8] = Array("=|\\\"',{}[]%:/ \t-0123456789.xLabelCEF:LEEF:ASA".utf8) + [0x00, 0x0A, 0x80, 0xC3, 0xFF]

    static func mutate(_ input: [UInt8], _ other: [UInt8], _ rng: inout SplitMix64) -> [UInt8] {
        var b = input
        let rounds = 1 + Int(rng.next() % 4)
        for _ in 0..<rounds {
            let r = rng.next()
            let at = b.isEmpty ? 0 : Int(r >> 8 % UInt64(max(b.count, 1))) % max(b.count, 1)
            switch r % 7 {
            case 0 where !b.isEmpty: b[at] = UInt8(truncatingIfNeeded: rng.next())
            case 1: b.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: min(at, b.count))
            case 2 where !b.isEmpty: b.remove(at: at)
            case 3: b = Array(b.prefix(at))
            case 4 where !b.isEmpty:
                let end = min(b.count, at + 1 + Int(rng.next() % 16))
                b.insert(contentsOf: b[at..<end], at: end)
            case 5 where !other.isEmpty:
                let cut = Int(rng.next() % UInt64(other.count))
                b = Array(b.prefix(at)) + other[cut...]
            default:
                b.insert(interesting[Int(rng.next() % UInt64(interesting.count))], at: b.isEmpty ? 0 : b.count - (at % b.count))
            }
        }
        return b
    }

    @Test(arguments: ["cef", "leef", "kv", "csv", "json", "jsonMapQuery", "jsonMapWrappedQuery", "asa"])
    func mutatedLinesNeverCrash(name: String) throws {
        let registry = try ParserRegistry.load(directory: repositoryRoot() + "/parsers")
        let parser = try #require(registry.parser(named: name))
        let seeds = Self.seeds(for: name, parser: parser)
        #expect(!seeds.isEmpty)
        var rng = SplitMix64(seed: 0x5EED_F00D ^ UInt64(name.utf8.reduce(0) { $0 &* 31 &+ Int($1) } & 0xFFFF))
        let context = ParseContext(referenceTime: Timestamp(year: 2026, month: 3, day: 20)!)
        var ok = 0, failed = 0, events = 0
        let count = name.hasPrefix("jsonMap") ? Self.mutationsPerType / 2 : Self.mutationsPerType
        for _ in 0..<count {
            let seed = seeds[Int(rng.next() % UInt64(seeds.count))]
            let other = seeds[Int(rng.next() % UInt64(seeds.count))]
            var input = Self.mutate(seed, other, &rng)
            let result: Result<[Event], ParseFailure> = input.withUnsafeMutableBytes { b in
                do throws(ParseFailure) { return .success(try parser.parseEvents(UnsafeRawBufferPointer(b), context: context)) }
                catch { return .failure(error) }
            }
            switch result {
            case .success(let e): ok += 1; events += e.count
            case .failure(let f):
                failed += 1
                #expect(!f.reason.isEmpty)
            }
        }
        print("robustness \(name): \(count) mutated lines from \(seeds.count) seeds, \(ok) parsed (\(events) events), \(failed) rejected")
        #expect(ok + failed == count)
    }
}
