import Foundation
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// A writer that commits back to back never leaves the passive checkpointer time to copy the
/// whole write-ahead log, so SQLite never starts the log again: in a 10,000,000-alert bench it
/// grew to 5 GB. Past ``AlertIndexConfiguration/logRestartBytes`` the writer now waits between
/// transactions for a RESTART checkpoint, and the log stays near that size.
@Suite struct LogRestartTests {
    @Test func theLogStaysBoundedUnderBackToBackWrites() throws {
        let dir = try TemporaryDirectory()
        var c = AlertIndexConfiguration(path: dir.file("alerts.db"))
        c.logRestartBytes = 1 << 20
        let index = try AlertIndex(configuration: c)
        defer { index.close() }
        var r = SplitMix64(seed: 5)
        var sizes: [Int64] = []
        var written = 0
        for batch in 0..<8 {
            let events = (0..<1_500).map { AlertRowReadingTests.randomAlert(&r, batch * 1_500 + $0) }
            let result = try index.write(try rows(events))
            written += result.inserted
            let size = try FileManager.default.attributesOfItem(atPath: dir.file("alerts.db") + "-wal")[.size] as? Int64
            sizes.append(size ?? 0)
        }
        // Each batch logs far more than the limit: every write after the first waits for a
        // restart, and the log file stays within a batch or two (without restarts, and with
        // passive checkpoints that never catch up, it would hold all eight).
        #expect(index.logRestarts >= 6)
        #expect(sizes.max()! <= 3 * sizes[0], "log file sizes \(sizes)")
        var q = AlertQuery(filter: AlertFilter())
        q.limit = 100_000
        #expect(try index.alerts(q).count == written)
        #expect(try index.integrityProblems().isEmpty)
    }
}
