import Foundation
import Testing
import VigilTestSupport

/// Issue 8, "kill -9 of any role": a sensor process replaying a capture inside `vigil run` is
/// killed at random moments and restarted; the events topic ends with every record of one
/// uninterrupted replay exactly once (docs/sensors-network.md, "Replays that resume").
@Suite(.serialized) struct ReplayResumeTests {
    let vigil = productsDirectory() + "/vigil"

    /// 10,000 DNS exchanges (query, answer 20 ms later) from 3,000 clients, one every 2 ms:
    /// 20,000 packets, giving a DNS record per answer and a conn record per flow.
    static func capture() -> [UInt8] {
        var w = PcapWriter()
        var t = 1_790_000_000.0
        for k in 0..<10_000 {
            let client = "10.1.\(k % 3000 / 250).\(k % 250 + 1)"
            let port = 20_000 + k % 40_000
            w.udp(t, client, port, "10.9.0.53", 53, payload: PcapWriter.dnsQuery(id: k & 0xFFFF, name: "host\(k % 997).example.org", answer: nil))
            w.udp(t + 0.02, "10.9.0.53", 53, client, port,
                  payload: PcapWriter.dnsQuery(id: k & 0xFFFF, name: "host\(k % 997).example.org", answer: "10.9.\(k % 200).\(k % 250 + 1)"))
            t += 0.002
        }
        return w.file()
    }

    /// Bytes in the events topic's segment files under a data directory.
    static func topicBytes(_ dataDirectory: String) -> Int64 {
        let root = dataDirectory + "/topics/events"
        var total: Int64 = 0
        for p in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            for f in (try? FileManager.default.contentsOfDirectory(atPath: "\(root)/\(p)")) ?? [] where f.hasSuffix(".log") {
                total += ((try? FileManager.default.attributesOfItem(atPath: "\(root)/\(p)/\(f)"))?[.size] as? Int64) ?? 0
            }
        }
        return total
    }

    func config(_ dir: TemporaryDirectory) throws -> String {
        try """
        data_dir: data
        metrics: { listen: off }
        broker: { embedded: { default_partitions: 4 } }
        rules: { dir: \(repositoryRoot())/rules }
        parsers: { dir: \(repositoryRoot())/parsers }
        enrichment: { dir: \(repositoryRoot())/enrichment }
        sensors:
          - { name: capture, type: network, files: [dns.pcap] }
        """.write(toFile: dir.file("vigil.yaml"), atomically: true, encoding: .utf8)
        return dir.file("vigil.yaml")
    }

    /// The events topic: ordinal (`vigil.replay.record`) → the record without `event.ingested`
    /// (the wall clock of its production), and how many records carried each ordinal.
    func records(_ config: String) throws -> (byOrdinal: [Int: String], copies: [Int: Int], total: Int) {
        let tail = try runCommand(vigil, ["topics", "tail", "events", "--config", config])
        #expect(tail.status == 0, "\(tail.stderr)")
        var byOrdinal: [Int: String] = [:], copies: [Int: Int] = [:]
        var total = 0
        for line in tail.lines {
            guard let r = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any],
                  var v = r["value"] as? [String: Any] else { continue }
            total += 1
            guard let ordinal = ((v["vigil"] as? [String: Any])?["replay"] as? [String: Any])?["record"] as? Int else { continue }
            if var event = v["event"] as? [String: Any] {
                event["ingested"] = nil
                v["event"] = event
            }
            let text = String(decoding: try JSONSerialization.data(withJSONObject: v, options: [.sortedKeys]), as: UTF8.self)
            byOrdinal[ordinal] = text
            copies[ordinal, default: 0] += 1
        }
        return (byOrdinal, copies, total)
    }

    @Test func aReplayKilledAtRandomMomentsProducesEachRecordOnce() throws {
        let pcap = Self.capture()
        // One uninterrupted replay.
        let reference = try TemporaryDirectory("vigil-replay-ref"); defer { reference.remove() }
        try Data(pcap).write(to: URL(fileURLWithPath: reference.file("dns.pcap")))
        let refConfig = try config(reference)
        let single = try runCommand(vigil, ["run", "--role", "sensor", "--config", refConfig])
        #expect(single.status == 0, "\(single.stderr)")
        let expected = try records(refConfig)
        #expect(expected.total == 20_000 && expected.byOrdinal.count == expected.total, "reference: \(expected.total) records")

        // The same, killed with SIGKILL at random moments and restarted until it finishes.
        let dir = try TemporaryDirectory("vigil-replay-kill"); defer { dir.remove() }
        try Data(pcap).write(to: URL(fileURLWithPath: dir.file("dns.pcap")))
        let cfg = try config(dir)
        var rng = SplitMix64(seed: 8)
        var kills = 0, resumed = 0
        var finished = false
        var stderr = ""
        // Kills land by progress, not time (a run's speed varies with the machine's load): once
        // the topic's files have grown past a random point of the reference replay's bytes,
        // rising each time, the process gets SIGKILL.
        let referenceBytes = Self.topicBytes(reference.file("data"))
        var threshold = 0.0
        for attempt in 0..<8 {
            let child = try ChildProcess(vigil, ["run", "--role", "sensor", "--config", cfg])
            let killAt: Int64? = attempt < 5 ? {
                threshold = min(0.9, threshold + 0.08 + 0.1 * Double(rng.next() % 1000) / 1000)
                return Int64(Double(referenceBytes) * threshold)
            }() : nil
            let deadline = Date().addingTimeInterval(600)
            while child.process.isRunning && Date() < deadline {
                if let killAt, Self.topicBytes(dir.file("data")) >= killAt { break }
                usleep(2_000)
            }
            if child.process.isRunning {
                child.kill(SIGKILL)
                _ = child.wait()
                if child.standardError.contains("resuming the replay") { resumed += 1 }
                kills += 1
                continue
            }
            let status = child.wait()
            stderr = child.standardError
            #expect(status == 0, "\(stderr.suffix(1500))")
            if stderr.contains("resuming the replay") { resumed += 1 }
            finished = true
            break
        }
        #expect(finished, "the replay never finished")
        #expect(kills >= 2, "only \(kills) kills landed mid-replay")
        #expect(resumed >= 1, "no restart resumed a replay")
        let got = try records(cfg)
        let repeated = got.copies.filter { $0.value > 1 }
        let missing = Set(expected.byOrdinal.keys).subtracting(got.byOrdinal.keys)
        #expect(repeated.isEmpty, "\(repeated.count) records produced more than once, e.g. \(Array(repeated.keys.sorted().prefix(3)))")
        #expect(missing.isEmpty, "\(missing.count) records missing, e.g. \(Array(missing.sorted().prefix(3)))")
        #expect(got.total == expected.total, "\(got.total) records, \(expected.total) expected")
        let differing = expected.byOrdinal.keys.filter { got.byOrdinal[$0] != nil && got.byOrdinal[$0] != expected.byOrdinal[$0] }
        #expect(differing.isEmpty, "\(differing.count) records differ from the uninterrupted replay, e.g. ordinal \(differing.min() ?? -1)")
        print("replay kill -9: \(kills) kills, \(resumed) resumed, \(got.total) records (\(expected.total) expected), \(repeated.count) repeated, \(missing.count) missing")

        // Once finished, a restart replays nothing again.
        let again = try runCommand(vigil, ["run", "--role", "sensor", "--config", cfg])
        #expect(again.status == 0 && again.stderr.contains("already replayed"), "\(again.stderr.suffix(1500))")
        #expect(try records(cfg).total == expected.total)
    }
}
