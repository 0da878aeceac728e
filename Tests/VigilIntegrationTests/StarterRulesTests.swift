import Foundation
import Testing
import VigilTestSupport

/// The starter rules on real samples, end to end: `vigil ingest` parses the loghub logs into the
/// broker, `vigil stream --drain` runs the rules, `vigil topics tail alerts` reads what they
/// raised. The OpenSSH and Linux logs hold real SSH brute-force attacks; the Apache error log
/// holds none.
@Suite(.serialized) struct StarterRulesTests {
    let vigil = productsDirectory() + "/vigil"

    /// Alerts raised on `log` (parsed by `parser`): rule id → the keys alerted.
    func alerts(_ log: String, parser: String) throws -> [String: Set<String>] {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("enrichment"), withIntermediateDirectories: true)
        let root = repositoryRoot()
        try """
        data_dir: data
        topics:
          events: { partitions: 2 }
        enrichment: { dir: enrichment }
        rules: { dir: \(root)/rules }
        parsers: { dir: \(root)/parsers }
        """.write(toFile: dir.file("vigil.yaml"), atomically: true, encoding: .utf8)
        let config = dir.file("vigil.yaml")
        let ingest = try runCommand(vigil, ["ingest", "--parser", parser, "--config", config, log])
        #expect(ingest.status == 0, "\(ingest.stderr)")
        let stream = try runCommand(vigil, ["stream", "--config", config, "--drain"])
        #expect(stream.status == 0, "\(stream.stderr)")
        let tail = try runCommand(vigil, ["topics", "tail", "alerts", "--config", config])
        var out: [String: Set<String>] = [:]
        for line in tail.lines {
            guard let r = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  let v = r["value"] as? [String: Any], let rule = (v["rule"] as? [String: Any])?["id"] as? String,
                  let key = ((v["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["key"] as? String else { continue }
            out[rule, default: []].insert(key)
        }
        return out
    }

    /// Failed SSH attempts per address in the raw log (the lines the sshd parser marks as failures).
    func failures(_ log: String) throws -> [String: Int] {
        var count: [String: Int] = [:]
        for line in try String(contentsOfFile: log, encoding: .utf8).split(whereSeparator: \.isNewline) {
            guard line.contains("sshd"), line.contains("Failed password") || line.contains("Invalid user")
                    || line.contains("authentication failure") else { continue }
            // The address: after "from " or "rhost=".
            for marker in ["from ", "rhost="] {
                guard let r = line.range(of: marker) else { continue }
                let ip = line[r.upperBound...].prefix { $0.isNumber || $0 == "." || $0 == ":" }
                if !ip.isEmpty { count[String(ip), default: 0] += 1; break }
            }
        }
        return count
    }

    @Test func sshAttacksInTheLoghubLogsRaiseTheSSHAlerts() throws {
        guard let shared = sharedDataDirectory() else {
            print("skipped: ../shared/data is absent")
            return
        }
        for name in ["OpenSSH/OpenSSH_2k.log", "Linux/Linux_2k.log"] {
            let log = shared + "/logs/loghub/" + name
            let raised = try alerts(log, parser: "syslog")
            let failed = try failures(log)
            let brute = raised["vigil.ssh.brute_force"] ?? []
            print("starter rules on \(name): \(raised.mapValues(\.count).sorted { $0.key < $1.key })")
            #expect(!brute.isEmpty, "\(name): no brute-force alert")
            // Every address alerted failed at least 10 times; the busiest attacker is alerted.
            for ip in brute { #expect(failed[ip, default: 0] >= 10, "\(name): \(ip) alerted with \(failed[ip, default: 0]) failures") }
            let busiest = failed.max { $0.value < $1.value }!.key
            #expect(brute.contains(busiest), "\(name): the busiest attacker \(busiest) was not alerted")
            for ip in raised["vigil.ssh.password_spraying"] ?? [] { #expect(brute.contains(ip) || failed[ip, default: 0] >= 5) }
        }
    }

    @Test func theApacheErrorLogRaisesNoSSHAlert() throws {
        guard let shared = sharedDataDirectory() else {
            print("skipped: ../shared/data is absent")
            return
        }
        let raised = try alerts(shared + "/logs/loghub/Apache/Apache_2k.log", parser: "apache_error")
        #expect(raised.keys.filter { $0.hasPrefix("vigil.ssh.") }.isEmpty, "\(raised)")
    }
}
