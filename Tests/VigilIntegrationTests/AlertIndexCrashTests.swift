import Foundation
import Glibc
import Testing
import VigilTestSupport

/// `vigil index` is killed with SIGKILL at random moments 10 times while it indexes a topic of
/// alerts (with suppression updates: the same ids with rising counts), restarted each time, then
/// drained: the index holds exactly the distinct alerts, each at its latest count, with the text
/// index and hourly counts consistent, and its offsets at the end of every partition.
@Suite(.serialized) struct AlertIndexCrashTests {
    let vigil = productsDirectory() + "/vigil"
    static let distinct = 40_000
    static let updates = 8_000

    @Test func killNineTenTimesLosesAndDuplicatesNothing() throws {
        let dir = try TemporaryDirectory("vigil-index-crash"); defer { dir.remove() }
        let config = dir.file("vigil.yaml")
        try """
        data_dir: data
        broker:
          embedded:
            fsync: { policy: interval, interval: 10ms }
        topics:
          alerts: { partitions: 4 }
        index:
          batch_size: 300
          retention: null
        """.write(toFile: config, atomically: true, encoding: .utf8)
        var random = SplitMix64(seed: 0xA1E7)
        var lines: [String] = []
        var expectedCount: [String: Int] = [:]
        // Updates (later versions of earlier alerts: the same key, so the same partition, later)
        // are interleaved with new alerts, so kills land among both.
        var updates = 0
        for i in 0..<Self.distinct {
            let id = "crash-\(i)"
            lines.append(alertLine(id: id, rule: "r\(random.next() % 9)", time: String(format: "2026-03-14T%02d:%02d:%02dZ", i / 3600 % 24, i / 60 % 60, i % 60),
                                   severity: Int(random.next() % 5), source: "10.\(random.next() % 4).\(random.next() % 256).\(random.next() % 256)",
                                   user: "u\(random.next() % 100)"))
            expectedCount[id] = 1
            while updates < Self.updates && random.next() % 5 == 0 {
                let j = Int(random.next() % UInt64(i + 1))
                let id = "crash-\(j)"
                let count = expectedCount[id]! + 1
                expectedCount[id] = count
                lines.append(alertLine(id: id, rule: "r\(j % 9)", time: String(format: "2026-03-14T%02d:%02d:%02dZ", 23, j / 60 % 60, j % 60),
                                       severity: 2, count: count, source: "10.9.\(j % 256).1", user: "u\(j % 100)"))
                updates += 1
            }
        }
        let produce = try runCommand(vigil, ["topics", "produce", "alerts", "--config", config, "--key-field", "vigil.alert.id"],
                                     input: lines.joined(separator: "\n") + "\n")
        #expect(produce.status == 0, "\(produce.stderr)")

        // The group's lag (committed right after each transaction): each run is killed at a random
        // moment after its first transaction, so every kill lands mid-topic with work done.
        func lag() throws -> Int {
            let out = try runCommand(vigil, ["topics", "lag", "--group", "vigil-index", "alerts", "--format", "json", "--config", config])
            return out.lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
                .reduce(0) { $0 + ($1["lag"] as? Int ?? 0) }
        }
        var generator = SystemRandomNumberGenerator()
        var lags: [Int] = []
        for _ in 1...10 {
            let before = try lag()
            let child = try ChildProcess(vigil, ["index", "--config", config])
            let deadline = Date().addingTimeInterval(60)
            while try lag() == before, Date() < deadline { usleep(10_000) }
            usleep(UInt32.random(in: 0...200_000, using: &generator))
            child.kill(SIGKILL)
            _ = child.wait()
            lags.append(try lag())
        }
        print("index crash: lag after each of the 10 kills: \(lags)")
        #expect(lags.last! > 0, "the input should outlast the ten runs (make it longer)")
        let last = try runCommand(vigil, ["index", "--config", config, "--drain"])
        #expect(last.status == 0, "\(last.stderr)")
        print("index crash: last run: \(last.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        // Resuming at the offsets stored with the rows replays nothing (resuming at the group's
        // offsets, committed after each transaction, would replay what a kill cut off).
        #expect(last.stderr.contains(", 0 already indexed"), "\(last.stderr)")

        let check = try runCommand(vigil, ["alerts", "check", "--config", config])
        #expect(check.status == 0, "\(check.stdout) \(check.stderr)")
        #expect(check.stdout.hasPrefix("\(Self.distinct) alerts"), "\(check.stdout)")
        // The offsets recorded with the rows are the ends of the partitions.
        let lag = try runCommand(vigil, ["topics", "lag", "--group", "vigil-index", "alerts", "--format", "json", "--config", config])
        var ends: [String] = []
        for l in lag.lines {
            guard let o = (try? JSONSerialization.jsonObject(with: Data(l.utf8))) as? [String: Any],
                  let p = o["partition"] as? Int, let end = o["end_offset"] as? Int else { continue }
            ends.append("alerts/\(p)@\(end)")
        }
        #expect(ends.count == 4)
        for e in ends { #expect(check.stdout.contains(e), "\(e) in \(check.stdout)") }
        // Every alert once, at its latest count.
        let all = try runCommand(vigil, ["alerts", "--config", config, "--format", "csv", "--limit", "1000000"])
        var got: [String: Int] = [:]
        var rows = 0
        for line in all.lines.dropFirst() {
            let f = line.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == 9, let c = Int(f[3]) else { continue }
            if got[String(f[8])] != nil { Issue.record("duplicate row for \(f[8])") }
            got[String(f[8])] = c
            rows += 1
        }
        #expect(rows == Self.distinct)
        let wrong = expectedCount.filter { got[$0.key] != $0.value }
        #expect(wrong.isEmpty, "\(wrong.count) alerts missing or at a stale count, e.g. \(wrong.prefix(3).map { "\($0.key): expected \($0.value), got \(got[$0.key].map(String.init) ?? "nothing")" })")
        // The text index agrees with the rows.
        let user = try runCommand(vigil, ["alerts", "--config", config, "--format", "csv", "--limit", "1000000", "--text", "u42"])
        let byField = try runCommand(vigil, ["alerts", "--config", config, "--format", "csv", "--limit", "1000000", "--where", "user.name=u42"])
        #expect(user.lines.count == byField.lines.count && user.lines.count > 1)
    }
}
