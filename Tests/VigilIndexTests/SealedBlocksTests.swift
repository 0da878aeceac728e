import Foundation
import GRDB
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// The block writer seals a batch's blocks before its transaction begins, and writes what it
/// sealed (replaced versions, rule texts, blocks and their bodies) once it has begun; a batch of
/// more blocks than it seals first writes the rest inside the transaction.
@Suite struct SealedBlocksTests {
    /// Two batches: 3,000 alerts, then 5,000 rows of new alerts, updates of earlier ones, a new
    /// rule and a renamed one, both before and after the point where the transaction begins.
    func batches() -> [[Event]] {
        var first: [Event] = []
        for i in 0..<3000 {
            first.append(makeAlert(id: "u\(i)", rule: "r1", name: "Rule one", time: base + Int64(i) * 1_000_000, user: "user\(i % 50)"))
        }
        var second: [Event] = []
        for i in 0..<5000 {
            let t = base + hour + Int64(i) * 1_000_000
            switch i {
            case 10..<110:
                // Updates of earlier alerts while the first block is being made.
                second.append(makeAlert(id: "u\(i - 10)", rule: "r1", name: "Rule one", time: t, count: 2, user: "user\(i % 50)"))
            case 150:
                second.append(makeAlert(id: "n\(i)", rule: "r2", name: "Rule two", time: t, severity: 4, user: "eve"))
            case 4000..<4100:
                // Updates after the transaction began (the third block).
                second.append(makeAlert(id: "u\(i - 3900)", rule: "r1", name: "Rule one", time: t, count: 3, user: "user\(i % 50)"))
            case 4500:
                second.append(makeAlert(id: "n\(i)", rule: "r3", name: "Rule three", time: t, severity: 3, user: "mallory"))
            case 4600:
                second.append(makeAlert(id: "n\(i)", rule: "r1", name: "Rule one, renamed", time: t, user: "trent"))
            default:
                second.append(makeAlert(id: "n\(i)", rule: "r1", name: i > 4600 ? "Rule one, renamed" : "Rule one", time: t, user: "user\(i % 50)"))
            }
        }
        return [first, second]
    }

    struct Outcome: Equatable {
        var results: [[Int]]
        var stats: AlertStats
        var counts: [String: Int64]
        var byRule: [String: Set<String>]
        var byText: Set<String>
        var ruleNames: [String: String]
    }

    func write(limit: Int) throws -> Outcome {
        let dir = try TemporaryDirectory("vigil-sealed"); defer { dir.remove() }
        let index = try openIndex(dir); defer { index.close() }
        index.sealedBlockLimit = limit
        var results: [[Int]] = []
        for batch in batches() {
            let r = try index.write(rows(batch))
            results.append([r.inserted, r.updated, r.unchanged])
        }
        #expect(try index.integrityProblems() == [])
        var counts: [String: Int64] = [:]
        for id in ["u0", "u99", "u100", "u199", "u200", "n150", "n4600"] { counts[id] = try index.alert(id: id).alert.count }
        var byRule: [String: Set<String>] = [:]
        for rule in ["r2", "r3"] {
            var f = AlertFilter()
            f.rules = [rule]
            byRule[rule] = try ids(index, f)
        }
        var f = AlertFilter()
        f.text = try FullTextQuery("mallory OR eve OR trent", filter: "text")
        let byText = try ids(index, f)
        let ruleNames = try index.pool.read { db in
            Dictionary(uniqueKeysWithValues: try Row.fetchAll(db, sql: "SELECT id, name FROM rules").map { ($0[0] as String, $0[1] as String) })
        }
        return Outcome(results: results, stats: try index.stats(AlertFilter()), counts: counts, byRule: byRule, byText: byText, ruleNames: ruleNames)
    }

    @Test func aBatchLargerThanWhatIsSealedFirstIndexesTheSame() throws {
        // Every block of the batch sealed before the transaction, and only the first one.
        let whole = try write(limit: 48)
        let split = try write(limit: 1)
        #expect(whole == split)
        #expect(whole.results == [[3000, 0, 0], [4800, 200, 0]])
        #expect(whole.stats.total == 7800)
        #expect(whole.counts == ["u0": 2, "u99": 2, "u100": 3, "u199": 3, "u200": 1, "n150": 1, "n4600": 1])
        #expect(whole.byRule == ["r2": ["n150"], "r3": ["n4500"]])
        #expect(whole.byText == ["n150", "n4500", "n4600"])
        #expect(whole.ruleNames == ["r1": "Rule one, renamed", "r2": "Rule two", "r3": "Rule three"])
    }
}
