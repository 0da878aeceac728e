import Foundation
import Glibc
import GRDB
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// Readers with their own ``AlertIndex`` on the file a writer is filling (as `vigil bench e2e`,
/// `vigil alerts` and the API server read while `vigil run` indexes): once the writer is done,
/// every reader counts every alert, and every block written is readable.
///
/// The block layout once stored freed memory as a block's columns (the writer bound them to the
/// insert as SQLITE_STATIC, and an optimized build freed the array before the step); from then on
/// every query that read the block failed, which the e2e bench saw as a reader stuck below the
/// alerts the indexer had written. Debug builds keep the array alive to the end of its scope, so
/// only an optimized build (`swift test -c release`) could fail here; glibc's `M_PERTURB`, set
/// while the test runs, fills freed memory at once so that such a build fails every time.
@Suite(.serialized) struct ConcurrentReadersTests {
    /// What a reader saw (written by its thread only, read after `done`).
    final class ReaderLog: @unchecked Sendable {
        var counts: [Int] = []
        var totals: [Int] = []
        var errors: [String] = []
        let done = DispatchSemaphore(value: 0)
    }

    /// A counter shared between the writer and the readers.
    final class Commits: @unchecked Sendable {
        // Guarded by `lock`.
        private var n = 0
        private var finished = false
        private let lock = NSLock()
        var value: Int { lock.withLock { n } }
        var isFinished: Bool { lock.withLock { finished } }
        func add() { lock.withLock { n += 1 } }
        func finish() { lock.withLock { finished = true } }
    }

    /// Batches of 1…6 e2e-like alerts: one rule for most (each attacker once, about one in seven
    /// updated later to a higher count, as suppression merges do), another now and then.
    static func batches(seed: UInt64, attackers: Int) -> [[Event]] {
        var random = SplitMix64(seed: seed)
        var batches: [[Event]] = []
        var batch: [Event] = []
        var next = 0, updates = 0
        while next < attackers {
            if next > 3, random.next() % 7 == 0 {
                let i = Int(random.next() % UInt64(next))
                updates += 1
                batch.append(makeAlert(id: "bf\(i)", rule: "ssh-brute", time: base + Int64(i) * 1_000_000, count: 1 + Int64(updates),
                                       source: "172.16.0.\(i)", key: "172.16.0.\(i)"))
            } else {
                batch.append(makeAlert(id: "bf\(next)", rule: "ssh-brute", time: base + Int64(next) * 1_000_000,
                                       source: "172.16.0.\(next)", key: "172.16.0.\(next)"))
                if next % 10 == 0 {
                    batch.append(makeAlert(id: "ps\(next)", rule: "port-scan", time: base + Int64(next) * 1_000_000, source: "10.1.0.\(next)"))
                }
                next += 1
            }
            if batch.count >= 1 + Int(random.next() % 6) {
                batches.append(batch)
                batch = []
            }
        }
        if !batch.isEmpty { batches.append(batch) }
        return batches
    }

    /// One run; returns what went wrong.
    static func run(layout: AlertIndexLayout, iteration: Int) throws -> [String] {
        let dir = try TemporaryDirectory("vigil-readers"); defer { dir.remove() }
        var config = AlertIndexConfiguration(path: dir.file("alerts.db"))
        config.layout = layout
        let writer = try AlertIndex(configuration: config)
        defer { writer.close() }
        let path = config.path
        let attackers = 60, expectedTotal = 66
        let batches = Self.batches(seed: UInt64(iteration) &+ 1, attackers: attackers)
        let commits = Commits()
        // Readers opened before the first commit, after it, and a third of the way.
        let openAfter = [0, 1, batches.count / 3]
        let logs = openAfter.map { _ in ReaderLog() }
        for (r, after) in openAfter.enumerated() {
            let log = logs[r]
            let seed = UInt64(iteration * 16 + r)
            Thread {
                defer { log.done.signal() }
                var random = SplitMix64(seed: seed)
                while commits.value < after { usleep(100) }
                let index: AlertIndex
                do { index = try AlertIndex(configuration: AlertIndexConfiguration(path: path, mustExist: true)) } catch {
                    log.errors.append("open: \(error)")
                    return
                }
                defer { index.close() }
                var f = AlertFilter()
                f.rules = ["ssh-brute"]
                // While the writer writes, then until the counts are complete or a second has passed.
                var deadline: Date?
                while true {
                    let finished = commits.isFinished
                    do {
                        log.counts.append(try index.count(f))
                        log.totals.append(try index.totalAlerts())
                    } catch {
                        log.errors.append("read: \(error)")
                    }
                    if finished {
                        if log.counts.last == attackers && log.totals.last == expectedTotal { break }
                        if deadline == nil { deadline = Date().addingTimeInterval(1) }
                        if Date() > deadline! { break }
                    }
                    usleep(UInt32(random.next() % 300))
                }
            }.start()
        }
        for b in batches {
            // As the indexer reads records: rows from the events' stored bytes.
            try writer.write(try b.map { e in try EventBinaryCodec.encode(e).withUnsafeBytes { p throws(AlertIndexError) in try AlertRow(encoded: p) } })
            commits.add()
            usleep(200)
        }
        commits.finish()
        for log in logs { log.done.wait() }

        var problems: [String] = []
        let fresh = try AlertIndex(configuration: AlertIndexConfiguration(path: path, mustExist: true))
        defer { fresh.close() }
        var f = AlertFilter()
        f.rules = ["ssh-brute"]
        do {
            let count = try fresh.count(f), total = try fresh.totalAlerts()
            if count != attackers || total != expectedTotal {
                problems.append("iteration \(iteration): an index opened afterwards counts \(count) of the rule, \(total) in all, not \(attackers), \(expectedTotal)")
            }
            let integrity = try fresh.integrityProblems()
            if !integrity.isEmpty { problems.append("iteration \(iteration): \(integrity.prefix(3))") }
        } catch {
            problems.append("iteration \(iteration): an index opened afterwards fails: \(error)")
        }
        for (r, log) in logs.enumerated() {
            if !log.errors.isEmpty { problems.append("iteration \(iteration), reader \(r): \(log.errors.count) failed reads, first \(log.errors[0])") }
            if log.counts.last != attackers || log.totals.last != expectedTotal {
                problems.append("iteration \(iteration), reader \(r) (opened after \(openAfter[r]) commits) ends at \(log.counts.last ?? -1) of the rule, \(log.totals.last ?? -1) in all, after \(log.counts.count) reads")
            }
        }
        return problems
    }

    /// glibc's `mallopt(M_PERTURB, byte)` (malloc.h is not in the Glibc module); 0 turns it off.
    static func perturbFreedMemory(_ byte: Int32) {
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let symbol = dlsym(nil, "mallopt") else { return }
        let mPerturb: Int32 = -6
        _ = unsafeBitCast(symbol, to: Mallopt.self)(mPerturb, byte)
    }

    @Test(arguments: AlertIndexLayout.allCases) func everyReaderCountsEveryAlertOnceTheWriterIsDone(layout: AlertIndexLayout) throws {
        // Freed memory is filled with 0x5A at once (and new memory with 0xA5): a write that reads
        // memory after freeing it stores the filler.
        Self.perturbFreedMemory(0xA5)
        defer { Self.perturbFreedMemory(0) }
        var problems: [String] = []
        for i in 0..<8 { problems += try Self.run(layout: layout, iteration: i) }
        #expect(problems.isEmpty, "\(problems.prefix(10).joined(separator: "\n"))")
    }
}
