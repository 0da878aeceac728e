import Foundation
import VigilCore
import VigilParsers
import VigilTestSupport

/// Helpers shared by the grok, web access, Zeek and EVE parser tests.
enum LogFormatSupport {
    static let reference = Timestamp(year: 2026, month: 3, day: 20, hour: 12, minute: 0, second: 0, nanosecond: 0)!
    static var context: ParseContext { ParseContext(referenceTime: reference) }

    /// The repository's parsers/ directory, loaded once.
    static let registry: Result<ParserRegistry, Error> = Result { try ParserRegistry.load(directory: repositoryRoot() + "/parsers") }

    /// Runs a base `LineParser` (no post steps, no normalization) over `line`.
    static func parse(_ parser: some LineParser, _ line: String) throws(ParseFailure) -> Event {
        var event = Event()
        var bytes = Array(line.utf8)
        let result: Result<Void, ParseFailure> = bytes.withUnsafeMutableBytes { b in
            do throws(ParseFailure) { try parser.parse(UnsafeRawBufferPointer(b), into: &event, context: context); return .success(()) }
            catch { return .failure(error) }
        }
        try result.get()
        return event
    }

    /// Runs a base parser over raw bytes, returning whether it succeeded (for robustness tests).
    static func survives(_ parser: some LineParser, _ bytes: inout [UInt8]) -> Bool {
        var event = Event()
        return bytes.withUnsafeMutableBytes { b in
            do throws(ParseFailure) { try parser.parse(UnsafeRawBufferPointer(b), into: &event, context: context); return true }
            catch { return false }
        }
    }
}

/// A small deterministic generator (SplitMix64) for seeded mutation tests.
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Mutator {
    static let interesting: [UInt8] = Array(" \t\"\\[]{}:,-.#/0123456789Xx\u{0}\r\n".utf8) + [0x80, 0xC3, 0xFF, 0xE2]

    /// A mutation of `seed`: flipped, inserted, deleted, duplicated or truncated bytes, or splices
    /// of interesting bytes.
    static func mutate(_ seed: [UInt8], _ g: inout SeededGenerator) -> [UInt8] {
        var b = seed
        let rounds = Int.random(in: 1...4, using: &g)
        for _ in 0..<rounds {
            switch Int.random(in: 0..<7, using: &g) {
            case 0 where !b.isEmpty:
                b[Int.random(in: 0..<b.count, using: &g)] = UInt8.random(in: 0...255, using: &g)
            case 1:
                b.insert(interesting.randomElement(using: &g)!, at: Int.random(in: 0...b.count, using: &g))
            case 2 where !b.isEmpty:
                b.remove(at: Int.random(in: 0..<b.count, using: &g))
            case 3 where !b.isEmpty:
                b = Array(b.prefix(Int.random(in: 0..<b.count, using: &g)))
            case 4 where !b.isEmpty:
                let start = Int.random(in: 0..<b.count, using: &g)
                let end = min(b.count, start + Int.random(in: 1...16, using: &g))
                b.insert(contentsOf: b[start..<end], at: Int.random(in: 0...b.count, using: &g))
            case 5 where !b.isEmpty:
                b[Int.random(in: 0..<b.count, using: &g)] = interesting.randomElement(using: &g)!
            default:
                if b.count > 2 {
                    let i = Int.random(in: 0..<b.count, using: &g)
                    b.removeSubrange(i..<min(b.count, i + Int.random(in: 1...8, using: &g)))
                }
            }
        }
        return b
    }
}
