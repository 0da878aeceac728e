import Foundation
import GRDB
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// The sorted runs (id hashes and addresses → sequence numbers): small segments merged into one,
/// and the integrity check that reads them.
@Suite struct RunMergeTests {
    /// The one-pass merge of sorted runs gives what sorting their concatenation gives: keys in
    /// order, equal keys (within and across runs) by sequence number.
    @Test(arguments: [1, 2, 3, 8, 13])
    func mergingSortedRunsEqualsSortingThemAll(runs: Int) {
        var r = SplitMix64(seed: UInt64(runs))
        var input: [RunEntry] = [], starts: [Int] = []
        var seq: Int64 = 0
        for i in 0..<runs {
            starts.append(input.count)
            // Some runs empty; keys from a small range, so that equal keys occur within and across runs.
            let n = i % 4 == 3 ? 0 : Int(r.next() % 500)
            var run: [RunEntry] = []
            for _ in 0..<n {
                run.append(RunEntry(k0: r.next() % 64, k1: r.next() % 3, k2: UInt8(r.next() % 2), seq: seq))
                seq += 1
            }
            AlertIndex.radixSort(&run)
            input += run
        }
        starts.append(input.count)
        var expected = input
        AlertIndex.radixSort(&expected)
        var merged: [RunEntry] = [RunEntry(k0: 99, seq: 99)]  // a reused buffer: emptied first
        input.withUnsafeBufferPointer { AlertIndex.mergeRuns($0, starts: starts, into: &merged) }
        #expect(merged.count == expected.count)
        #expect(zip(merged, expected).allSatisfy { $0.k0 == $1.k0 && $0.k1 == $1.k1 && $0.k2 == $1.k2 && $0.seq == $1.seq })
    }

    /// Many small transactions: their segments are merged (more than once), every id and address
    /// stays findable, and after a restart (no versions remembered in memory) a later version of
    /// an alert from a merged segment replaces it rather than adding a second row.
    @Test func mergedSegmentsKeepEveryAlertFindable() throws {
        let dir = try TemporaryDirectory("vigil-run-merge")
        defer { dir.remove() }
        var r = SplitMix64(seed: 5)
        func source(_ k: Int) -> String { "10.1.\(k % 7).\(k % 200)" }
        var created: [Int] = []
        do {
            let index = try openIndex(dir)
            defer { index.close() }
            for b in 0..<20 {
                var events: [Event] = []
                for i in 0..<150 {
                    let n = b * 150 + i
                    // Repeats of earlier ids with a higher count (updates), in the same runs.
                    let k = b > 0 && r.next() % 6 == 0 ? created[Int(r.next() % UInt64(created.count))] : n
                    if k == n { created.append(n) }
                    events.append(makeAlert(id: "m\(k)", time: base + Int64(n) * 1_000_000_000, count: k == n ? 1 : Int64(2 + b), source: source(k)))
                }
                _ = try index.write(rows(events))
            }
            let segments = try index.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM alert_segments") ?? 0 }
            #expect(segments < 8, "20 small segments were merged")
            #expect(try index.integrityProblems() == [])
            #expect(try index.count(AlertFilter()) == created.count)
        }
        let index = try openIndex(dir)
        defer { index.close() }
        // An update of the oldest alerts, looked up on disk through the merged id runs.
        let moved = Array(created.prefix(50))
        let updates = moved.map { makeAlert(id: "m\($0)", time: base + Int64($0) * 1_000_000_000, count: 100, source: "10.9.9.9") }
        let result = try index.write(rows(updates))
        #expect(result.updated == 50 && result.inserted == 0)
        #expect(try index.count(AlertFilter()) == created.count)
        var f = AlertFilter()
        f.sources = [IPNetwork("10.9.9.9/32")!]
        #expect(try index.count(f) == 50)
        // Source lookups through the merged address runs (the moved alerts no longer count).
        for k in stride(from: 0, to: 200, by: 13) {
            f.sources = [IPNetwork(source(k) + "/32")!]
            let expected = created.filter { source($0) == source(k) && !moved.contains($0) }.count
            #expect(try index.count(f) == expected, "source \(source(k))")
        }
        #expect(try index.integrityProblems() == [])
    }

    /// The integrity check sees runs that are out of order or miss a live alert.
    @Test func theIntegrityCheckReadsTheRuns() throws {
        let dir = try TemporaryDirectory("vigil-run-check")
        defer { dir.remove() }
        let index = try openIndex(dir)
        defer { index.close() }
        _ = try index.write(rows((0..<300).map { makeAlert(id: "c\($0)", time: base + Int64($0) * 1_000_000_000, source: "10.2.0.\($0 % 250)") }))
        #expect(try index.integrityProblems() == [])
        // Swap two entries of an address chunk: out of key order.
        try index.pool.write { db in
            let row = try Row.fetchOne(db, sql: "SELECT segment, last_key, chunk, entries FROM alert_runs WHERE kind = 1 LIMIT 1")!
            var entries = [UInt8]((row[3] as Data))
            let w = RunKind.source.entryWidth
            let first = Array(entries[0..<w]), last = Array(entries[(entries.count - w)...])
            entries.replaceSubrange(0..<w, with: last)
            entries.replaceSubrange((entries.count - w)..., with: first)
            try db.execute(sql: "UPDATE alert_runs SET entries = ? WHERE kind = 1 AND segment = ? AND last_key = ? AND chunk = ?",
                           arguments: [Data(entries), row[0], row[1], row[2]])
        }
        let problems = try index.integrityProblems()
        #expect(problems.contains { $0.contains("out of key order") })
        #expect(problems.contains { $0.contains("first or last key") })
        // Drop an id chunk: its alerts are missing from the id runs.
        try index.pool.write { db in
            try db.execute(sql: "DELETE FROM alert_runs WHERE kind = 0 AND chunk = 0")
        }
        #expect(try index.integrityProblems().contains { $0.contains("live alerts have no entry in the id runs") })
    }
}
