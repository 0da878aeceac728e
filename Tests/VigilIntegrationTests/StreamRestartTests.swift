import Foundation
import Glibc
import Testing
import VigilTestSupport

/// The stream stage is killed with SIGKILL at random moments 10 times while it works through a
/// backlog of out-of-order events, restarted each time, then drained: every final window result
/// and late update (counts, HyperLogLog distinct counts, Welford moments) equals that of one
/// uninterrupted run over a copy of the same log, and none is
/// produced twice (windows, sketches and offsets are checkpointed together; results a restart
/// repeats are recognized by their ids).
@Suite(.serialized) struct StreamRestartTests {
    let vigil = productsDirectory() + "/vigil"
    static let events = 60_000

    static let config = """
    data_dir: data
    broker:
      embedded:
        fsync: { policy: interval, interval: 10ms }
    topics:
      events: { partitions: 4 }
    stream:
      workers: 2
      checkpoint_interval: 50ms
      idle_timeout: 1s
      allowed_lateness: 5s
      profiles:
        - name: per_source
          group_by: [source.ip]
          window: { type: tumbling, size: 10s }
        - name: failures_per_user
          where: { event.outcome: failure }
          group_by: [user.name]
          window: { type: session, gap: 20s }
        - name: users_per_source
          group_by: [source.ip]
          window: { type: tumbling, size: 30s }
          aggregate: { distinct: user.name, precision: 10 }
        - name: port_stats_per_user
          group_by: [user.name]
          window: { type: tumbling, size: 20s }
          aggregate: { stats: destination.port }
        - name: per_port
          group_by: [destination.port]
          window: { type: hopping, size: 1m, advance: 20s }
          allowed_lateness: 0s
          late: { update: 2m }
          early: 100ms
    """

    /// Events every 50 ms of event time, up to 8 s out of order (some beyond the lateness).
    static func input() -> String {
        var random = SplitMix64(seed: 0x5EED)
        func next() -> UInt64 { random.next() }
        let base: Int64 = 1_773_480_000_000  // ms
        var out = ""
        out.reserveCapacity(events * 160)
        for i in 0..<events {
            let jitter = Int64(next() % 8000)
            let ms = base + Int64(i) * 50 - jitter
            let ts = ISO8601.format(milliseconds: ms)
            let outcome = next() % 4 == 0 ? "failure" : "success"
            out += #"{"@timestamp":"\#(ts)","source":{"ip":"10.0.\#(next() % 4).\#(next() % 25)"},"user":{"name":"u\#(next() % 20)"},"destination":{"port":\#(next() % 10)},"event":{"outcome":"\#(outcome)"}}"# + "\n"
        }
        return out
    }

    /// Final results and late updates by event.id, and how often each id occurs.
    func results(_ data: String) throws -> (values: [String: String], counts: [String: Int], early: Int) {
        let tail = try runCommand(vigil, ["topics", "tail", "profiles", "--data", data])
        #expect(tail.status == 0, "\(tail.stderr)")
        var values: [String: String] = [:]
        var counts: [String: Int] = [:]
        var early = 0
        for line in tail.lines {
            guard let record = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let value = record["value"] as? [String: Any],
                  let id = (value["event"] as? [String: Any])?["id"] as? String,
                  let profile = (value["vigil"] as? [String: Any])?["profile"] as? [String: Any] else {
                Issue.record("not a profile result: \(line.prefix(200))")
                continue
            }
            if profile["firing"] as? String == "early" {
                early += 1
                continue
            }
            values[id] = "\(profile["name"] ?? "") \(profile["key"] ?? "") \(profile["firing"] ?? "")#\(profile["sequence"] ?? "") count=\(profile["count"] ?? "") distinct=\(profile["distinct"] ?? "-") mean=\(profile["mean"] ?? "-") sd=\(profile["stddev"] ?? "-")"
            counts[id, default: 0] += 1
        }
        return (values, counts, early)
    }

    @Test func killNineTenTimesGivesTheSameResultsAsOneRun() throws {
        let root = try TemporaryDirectory("vigil-stream-restart"); defer { root.remove() }
        let interrupted = root.file("interrupted"), reference = root.file("reference")
        try FileManager.default.createDirectory(atPath: interrupted, withIntermediateDirectories: true)
        try Self.config.write(toFile: interrupted + "/vigil.yaml", atomically: true, encoding: .utf8)
        let produce = try runCommand(vigil, ["topics", "produce", "events", "--data", interrupted + "/data"], input: Self.input())
        #expect(produce.status == 0, "\(produce.stderr)")
        #expect(try runCommand("/bin/cp", ["-a", interrupted, reference]).status == 0)

        // One uninterrupted run.
        let whole = try runCommand(vigil, ["stream", "--config", reference + "/vigil.yaml", "--drain"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let expected = try results(reference + "/data")
        #expect(expected.values.count > 100)
        #expect(expected.counts.values.allSatisfy { $0 == 1 })
        #expect(expected.values.values.contains { $0.contains("late_update") }, "the input should produce late updates")
        #expect(expected.values.values.contains { $0.contains("users_per_source") && !$0.contains("distinct=-") })
        #expect(expected.values.values.contains { $0.contains("port_stats_per_user") && !$0.contains("mean=-") })

        // Ten runs killed at random moments, then one that drains.
        // Each run is killed at a random moment after its first checkpoint that made progress, so
        // every kill lands mid-stream with work done since the last checkpoint.
        var generator = SystemRandomNumberGenerator()
        func lag() throws -> Int {
            let out = try runCommand(vigil, ["topics", "lag", "--group", "vigil-stream", "events", "--format", "json",
                                             "--data", interrupted + "/data"])
            return out.lines.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
                .reduce(0) { $0 + ($1["lag"] as? Int ?? 0) }
        }
        var lags: [Int] = []
        for _ in 1...10 {
            let before = try lag()
            let child = try ChildProcess(vigil, ["stream", "--config", interrupted + "/vigil.yaml"])
            let deadline = Date().addingTimeInterval(60)
            while try lag() == before, Date() < deadline { usleep(20_000) }
            usleep(UInt32.random(in: 0...150_000, using: &generator))
            child.kill(SIGKILL)
            _ = child.wait()
            lags.append(try lag())
        }
        print("stream restart: lag after each of the 10 kills: \(lags)")
        #expect(lags.last! > 0, "the input should outlast the ten runs (make it longer)")
        let last = try runCommand(vigil, ["stream", "--config", interrupted + "/vigil.yaml", "--drain"])
        #expect(last.status == 0, "\(last.stderr)")
        print("stream restart: last run: \(last.stderr.trimmingCharacters(in: .whitespacesAndNewlines))")
        let got = try results(interrupted + "/data")

        let repeated = got.counts.filter { $0.value > 1 }
        #expect(repeated.isEmpty, "results produced more than once: \(repeated.prefix(5))")
        let missing = expected.values.filter { got.values[$0.key] != $0.value }
        let extra = got.values.filter { expected.values[$0.key] == nil }
        #expect(missing.isEmpty, "\(missing.count) results differ or are missing: \(missing.prefix(5).map { "\($0.key): expected \($0.value), got \(got.values[$0.key] ?? "nothing")" })")
        #expect(extra.isEmpty, "\(extra.count) results not in the uninterrupted run, e.g. \(extra.prefix(3))")
        print("stream restart: \(got.values.count) final results and late updates equal the uninterrupted run's; \(got.early) early results (processing-time, not compared)")
    }
}

enum ISO8601 {
    /// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since the epoch.
    static func format(milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000, ms = milliseconds % 1000
        var t = time_t(seconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1,
                      Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec), Int(ms))
    }
}
