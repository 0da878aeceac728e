import Foundation
import Testing
import VigilTestSupport

/// `vigil bench e2e` at a small scale: the real pipeline (`vigil run` children) must index exactly
/// the expected alerts, print the documented keys on its last line, and measure latency for every
/// planted attacker. Through Kafka when `VIGIL_KAFKA_BOOTSTRAP` names a broker (the alerts on
/// Kafka's alerts topic must then be exactly the expected ones too); otherwise the Kafka figure
/// is null with the reason.
@Suite(.serialized) struct EndToEndBenchTests {
    let vigil = productsDirectory() + "/vigil"
    let root = repositoryRoot()

    @Test func benchE2EIndexesExactlyTheExpectedAlertsAndPrintsItsKeys() throws {
        let dir = try TemporaryDirectory("vigil-bench-e2e"); defer { dir.remove() }
        let bootstrap = ProcessInfo.processInfo.environment["VIGIL_KAFKA_BOOTSTRAP"].flatMap { $0.isEmpty ? nil : $0 }
        var arguments = ["bench", "e2e", "--events", "30000", "--attackers", "25", "--kafka-events", "20000",
                         "--latency-rate", "4000", "--latency-seconds", "4", "--latency-alerts", "8",
                         "--rules", root + "/rules", "--parsers", root + "/parsers", "--enrichment", root + "/enrichment",
                         "--timeout", "240", "--dir", dir.file("b"), "--json"]
        arguments += bootstrap.map { ["--kafka-bootstrap", $0] } ?? ["--no-kafka"]
        let r = try runCommand(vigil, arguments)
        #expect(r.status == 0, "\(r.stderr.suffix(3000))")
        let last = (try? JSONSerialization.jsonObject(with: Data((r.lines.last ?? "").utf8))) as? [String: Any] ?? [:]
        for key in ["events_per_s", "kafka_events_per_s", "latency_p50_ms", "latency_p99_ms", "cores", "alerts_expected",
                    "alerts_indexed", "alerts_unexpected", "bottleneck", "sensor_done_s", "stream_done_s", "kafka_note"] {
            #expect(last.keys.contains(key), "\(key) in \(r.lines.last ?? "")")
        }
        func number(_ key: String) -> Double? { (last[key] as? NSNumber)?.doubleValue }
        #expect(number("events") == 30000)
        #expect(number("alerts_expected") == 25)
        #expect(number("alerts_indexed") == 25, "\(r.stdout)\n\(r.stderr.suffix(2000))")
        #expect(number("alerts_unexpected") == 0, "\(r.stdout)")
        #expect((number("events_per_s") ?? 0) > 0)
        #expect(["sensor", "stream", "indexer"].contains(last["bottleneck"] as? String ?? ""))
        // Every planted attacker's alert was seen, and the latencies are ordered.
        #expect(number("latency_alerts_expected") == 8)
        #expect(number("latency_alerts_seen") == 8, "\(r.stdout)")
        if let p50 = number("latency_p50_ms"), let p99 = number("latency_p99_ms") {
            #expect(p50 >= 0 && p50 <= p99)
        } else {
            Issue.record("no latency figures: \(r.lines.last ?? "")")
        }
        if bootstrap != nil {
            #expect((number("kafka_events_per_s") ?? 0) > 0, "\(r.stdout)")
            #expect(number("kafka_alerts_indexed") == 25, "\(r.stdout)")
            #expect(number("kafka_alerts_unexpected") == 0, "\(r.stdout)")
        } else {
            #expect(last["kafka_events_per_s"] is NSNull)
            #expect((last["kafka_note"] as? String)?.isEmpty == false)
        }
        #expect(!FileManager.default.fileExists(atPath: dir.file("b")), "the bench removes its directory")
    }

    /// `--layout blocks`: the runs' index stores alerts in blocks and holds every expected alert.
    @Test func benchE2EOnTheBlockLayout() throws {
        let dir = try TemporaryDirectory("vigil-bench-e2e"); defer { dir.remove() }
        let r = try runCommand(vigil, ["bench", "e2e", "--events", "20000", "--attackers", "20", "--no-kafka", "--no-latency",
                                       "--rules", root + "/rules", "--parsers", root + "/parsers", "--enrichment", "none",
                                       "--layout", "blocks", "--timeout", "240", "--dir", dir.file("b"), "--keep", "--json"])
        #expect(r.status == 0, "\(r.stderr.suffix(3000))")
        let last = (try? JSONSerialization.jsonObject(with: Data((r.lines.last ?? "").utf8))) as? [String: Any] ?? [:]
        #expect((last["alerts_indexed"] as? NSNumber)?.intValue == 20, "\(r.stdout)\n\(r.stderr.suffix(2000))")
        let check = try runCommand(vigil, ["alerts", "check", "--db", dir.file("b/embedded/data/alerts.db")])
        #expect(check.status == 0 && check.stdout.contains("21 alerts (blocks layout)") && check.stdout.contains("; ok"), "\(check.stdout) \(check.stderr)")
        let bad = try runCommand(vigil, ["bench", "e2e", "--layout", "columns"])
        #expect(bad.status != 0 && bad.stderr.contains("--layout"), "\(bad.stderr)")
    }
}
