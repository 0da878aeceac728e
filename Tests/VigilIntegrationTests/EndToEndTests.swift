import Foundation
import Testing
import VigilTestSupport

/// Issue 8's end-to-end acceptance on the embedded broker: one `vigil run` replays a capture with
/// a port scan (and a host sweep, a beacon and benign traffic) and tails a log with an SSH brute
/// force; the starter rules raise alerts, the indexer puts them in the alert index, and
/// `vigil alerts` shows exactly the expected ones — no more, none twice.
@Suite(.serialized) struct EndToEndTests {
    let vigil = productsDirectory() + "/vigil"
    let root = repositoryRoot()

    /// 14 failed passwords for root from 203.0.113.5 within 3 minutes (brute force: ≥ 10 in 5
    /// minutes), and ordinary logins from other hosts that must raise nothing.
    static func authLog() -> String {
        var lines: [String] = []
        for k in 0..<14 {
            let s = 10 + k * 12
            lines.append(String(format: "Sep 21 14:%02d:%02d bastion sshd[%d]: Failed password for root from 203.0.113.5 port %d ssh2",
                                s / 60, s % 60, 4100 + k, 51_000 + k))
        }
        for (k, ip) in ["10.20.0.20", "10.20.0.21", "10.20.0.22"].enumerated() {
            lines.append("Sep 21 14:1\(k):00 bastion sshd[52\(k)]: Accepted publickey for deploy from \(ip) port 4022\(k) ssh2: RSA SHA256:abc")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Whether `process` ends within `seconds` (killed otherwise, so the test never hangs).
    static func exits(_ process: ChildProcess, within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while process.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.1) }
        if process.process.isRunning {
            process.kill(SIGKILL)
            return false
        }
        return true
    }

    func alerts(_ stdout: String) -> [[String: Any]] {
        stdout.split(separator: "\n").compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
    }

    func ruleID(_ a: [String: Any]) -> String { ((a["rule"] as? [String: Any])?["id"] as? String) ?? "" }
    func key(_ a: [String: Any]) -> String { (((a["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["key"] as? String) ?? "" }
    func alertID(_ a: [String: Any]) -> String { (((a["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["id"] as? String) ?? "" }

    @Test func aCaptureAndALogThroughVigilRunGiveExactlyTheExpectedAlerts() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let pcap = dir.file("scan.pcap")
        try Data(RulesToolsTests.generatedCapture()).write(to: URL(fileURLWithPath: pcap))
        try FileManager.default.createDirectory(atPath: dir.file("logs"), withIntermediateDirectories: true)
        try Self.authLog().write(toFile: dir.file("logs/auth.log"), atomically: true, encoding: .utf8)
        try """
        data_dir: data
        metrics: { listen: off }
        broker: { embedded: { default_partitions: 4 } }
        rules: { dir: \(root)/rules }
        parsers: { dir: \(root)/parsers }
        enrichment: { dir: \(root)/enrichment }
        # The capture is from September: keep its alerts (the default retention is 30 days).
        index: { retention: null }
        sensors:
          - { name: capture, type: network, files: [scan.pcap] }
          - { name: auth, type: file, paths: [logs/auth.log], parser: syslog }
        """.write(toFile: dir.file("vigil.yaml"), atomically: true, encoding: .utf8)
        let config = dir.file("vigil.yaml")

        // The file sensor tails until asked to stop: run until the index holds the alerts and
        // stays unchanged, then SIGTERM (a clean stop drains and indexes what is left).
        let run = try ChildProcess(vigil, ["run", "--config", config, "--quiet"])
        defer { if run.process.isRunning { run.kill() } }
        var last = "", stableSince = Date()
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline {
            Thread.sleep(forTimeInterval: 0.5)
            let r = try runCommand(vigil, ["alerts", "list", "--config", config, "--format", "json", "--limit", "1000"])
            if r.status != 0 || r.stdout != last {
                last = r.stdout
                stableSince = Date()
                continue
            }
            if !alerts(last).isEmpty && Date().timeIntervalSince(stableSince) > 3 { break }
        }
        run.kill(SIGTERM)
        #expect(Self.exits(run, within: 60), "vigil run did not stop on SIGTERM: \(run.standardError.suffix(3000))")
        #expect(run.wait() == 0, "vigil run: \(run.standardError.suffix(3000))")

        let listed = try runCommand(vigil, ["alerts", "list", "--config", config, "--format", "json", "--limit", "1000"])
        #expect(listed.status == 0, "\(listed.stderr)")
        let found = alerts(listed.stdout)
        var byRule: [String: [String]] = [:]
        for a in found { byRule[ruleID(a), default: []].append(key(a)) }
        // Exactly these alerts, each once (one alert id per rule and key).
        #expect(byRule.mapValues { $0.sorted() } == [
            "vigil.net.port_scan": ["10.0.0.66"],
            "vigil.net.host_sweep": ["10.0.0.77"],
            "vigil.net.beaconing": ["10.0.0.88\u{1F}10.0.3.30\u{1F}8443"],
            "vigil.ssh.brute_force": ["203.0.113.5"],
        ], "\(byRule)\n\(run.standardError)")
        #expect(Set(found.map(alertID)).count == found.count, "an alert id listed twice")

        // The table and the stats agree; `show` prints the triggering event.
        let stats = try runCommand(vigil, ["alerts", "stats", "--config", config])
        #expect(stats.status == 0 && stats.stdout.contains("vigil.ssh.brute_force") && stats.stdout.contains("vigil.net.port_scan"), "\(stats.stdout)\(stats.stderr)")
        if let brute = found.first(where: { ruleID($0) == "vigil.ssh.brute_force" }) {
            let show = try runCommand(vigil, ["alerts", "show", alertID(brute), "--config", config])
            #expect(show.status == 0 && show.stdout.contains("203.0.113.5"), "\(show.stdout)\(show.stderr)")
        }

        // A restart over the same data directory (the log tail resumes at its stored position;
        // a capture file is a one-shot input, so the restart runs without it) indexes nothing new
        // and repeats nothing.
        let restart = dir.file("restart.yaml")
        try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "  - { name: capture, type: network, files: [scan.pcap] }\n", with: "")
            .write(toFile: restart, atomically: true, encoding: .utf8)
        let again = try ChildProcess(vigil, ["run", "--config", restart, "--quiet"])
        defer { if again.process.isRunning { again.kill() } }
        Thread.sleep(forTimeInterval: 4)
        again.kill(SIGTERM)
        #expect(Self.exits(again, within: 60), "the second vigil run did not stop on SIGTERM")
        _ = again.wait()
        let relisted = try runCommand(vigil, ["alerts", "list", "--config", config, "--format", "json", "--limit", "1000"])
        #expect(Set(alerts(relisted.stdout).map(alertID)) == Set(found.map(alertID)), "\(relisted.stdout)")
    }
}
