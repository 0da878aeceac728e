import Foundation
import Testing
import VigilTestSupport

/// The `vigil` executable end to end: run, topics, errors, bad configuration, bench.
@Suite struct CLITests {
    let vigil = productsDirectory() + "/vigil"

    func json(_ line: String) -> [String: Any]? {
        (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
    }

    /// A configuration in a temporary directory reading `input`.
    func writeConfig(_ dir: TemporaryDirectory, input: String, extra: String = "") throws -> String {
        let path = dir.file("vigil.yaml")
        try """
        data_dir: data
        broker:
          embedded:
            fsync: { policy: every_batch }
        topics:
          events: { partitions: 3 }
        sensors:
          - name: sample
            type: jsonl
            path: \(input)
            key_field: source.ip
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func versionAndHelp() throws {
        let v = try runCommand(vigil, ["--version"])
        #expect(v.status == 0)
        #expect(v.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "0.1.0")
        for args in [["--help"], ["topics", "--help"], ["topics", "tail", "--help"], ["run", "--help"], ["bench", "broker", "--help"]] {
            let h = try runCommand(vigil, args)
            #expect(h.status == 0)
            #expect(h.stdout.contains("USAGE"), "\(args)")
        }
    }

    @Test func runsTheSampleThroughTheLogAndPrintsEvents() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let sample = repositoryRoot() + "/deploy/sample/events.jsonl"
        let expected = try String(contentsOfFile: sample, encoding: .utf8).split(separator: "\n").count
        let config = try writeConfig(dir, input: sample)
        let first = try runCommand(vigil, ["run", "--config", config])
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.lines.count == expected)
        #expect(first.stderr.contains("\(expected) events produced, 0 rejected to errors, \(expected) events consumed"))
        // Every line is an event with its place in the log; a source IP always maps to one partition.
        var partitionOf: [String: Int] = [:]
        var places = Set<String>()
        for line in first.lines {
            let event = try #require(json(line))
            let v = try #require(event["vigil"] as? [String: Any])
            #expect(v["topic"] as? String == "events")
            let p = try #require(v["partition"] as? Int), o = try #require(v["offset"] as? Int)
            #expect((0..<3).contains(p))
            places.insert("\(p)/\(o)")
            if let ip = (event["source"] as? [String: Any])?["ip"] as? String {
                #expect(partitionOf[ip, default: p] == p, "\(ip) on two partitions")
                partitionOf[ip] = p
            }
        }
        #expect(places.count == expected)
        // A second run consumes only what it produced: the group resumed at its committed offsets.
        let second = try runCommand(vigil, ["run", "--config", config, "--quiet"])
        #expect(second.status == 0)
        #expect(second.stdout.isEmpty)
        #expect(second.stderr.contains("\(expected) events consumed"))
        let lag = try runCommand(vigil, ["topics", "lag", "--group", "vigil-stream", "events", "--config", config, "--format", "json"])
        #expect(lag.lines.count == 3)
        #expect(lag.lines.compactMap(json).allSatisfy { $0["lag"] as? Int == 0 })
        let list = try runCommand(vigil, ["topics", "list", "--config", config, "--format", "json"])
        let events = list.lines.compactMap(json).first { $0["topic"] as? String == "events" }
        #expect(events?["records"] as? Int == 2 * expected)
        #expect(events?["partitions"] as? Int == 3)
    }

    @Test func badLinesGoToTheErrorTopicWithTheirReason() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let data = dir.file("data")
        let input = """
        {"source":{"ip":"10.1.1.1"},"message":"good"}
        this is not json
        {"source":{"ip":"300.1.1.1"}}
        {"@timestamp":"yesterday"}
        {"source":{"ip":"10.1.1.2"},"message":"also good"}

        """
        let produce = try runCommand(vigil, ["topics", "produce", "events", "--data", data], input: input)
        #expect(produce.status == 1)
        #expect(produce.stdout.contains("produced 2 events to events; 3 lines rejected to errors"))
        #expect(produce.stderr.contains("source.ip"))
        let errors = try runCommand(vigil, ["topics", "tail", "errors", "--data", data])
        #expect(errors.status == 0)
        let records = errors.lines.compactMap(json)
        #expect(records.count == 3)
        let originals = Set(records.compactMap { (($0["value"] as? [String: Any])?["event"] as? [String: Any])?["original"] as? String })
        #expect(originals == ["this is not json", #"{"source":{"ip":"300.1.1.1"}}"#, #"{"@timestamp":"yesterday"}"#])
        for r in records {
            let message = ((r["value"] as? [String: Any])?["error"] as? [String: Any])?["message"] as? String
            #expect(message?.isEmpty == false)
        }
        let events = try runCommand(vigil, ["topics", "tail", "events", "--data", data])
        #expect(events.lines.count == 2)
    }

    @Test func tailSelectsPartitionOffsetTimeAndLimit() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let data = dir.file("data")
        #expect(try runCommand(vigil, ["topics", "create", "t", "--partitions", "1", "--data", data]).status == 0)
        var input = ""
        for i in 0..<100 {
            input += #"{"@timestamp":"2026-01-01T00:00:\#(String(format: "%02d", i % 60)).\#(String(format: "%03d", i))Z","message":"m\#(i)"}"# + "\n"
        }
        let produce = try runCommand(vigil, ["topics", "produce", "t", "--data", data], input: input)
        #expect(produce.status == 0, "\(produce.stderr)")
        let fromOffset = try runCommand(vigil, ["topics", "tail", "t", "--from", "42", "--limit", "3", "--data", data])
        #expect(fromOffset.lines.compactMap(json).map { $0["offset"] as? Int } == [42, 43, 44])
        // Records 0…59 carry second i; 60…99 carry second i-60: the first at or after :59 is 59.
        let fromTime = try runCommand(vigil, ["topics", "tail", "t", "--from", "2026-01-01T00:00:59Z", "--limit", "1", "--data", data])
        #expect(fromTime.lines.compactMap(json).first?["offset"] as? Int == 59)
        let latest = try runCommand(vigil, ["topics", "tail", "t", "--from", "latest", "--data", data])
        #expect(latest.stdout.isEmpty)
        let bad = try runCommand(vigil, ["topics", "tail", "t", "--from", "sometime", "--data", data])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--from must be"))
        let describe = try runCommand(vigil, ["topics", "describe", "t", "--format", "json", "--data", data])
        let row = try #require(describe.lines.compactMap(json).first)
        #expect(row["end_offset"] as? Int == 100)
        #expect(row["start_offset"] as? Int == 0)
    }

    @Test func configurationErrorsNameFileLineAndColumn() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let path = dir.file("vigil.yaml")
        try "data_dir: data\nbroker:\n  embeded: {}\n".write(toFile: path, atomically: true, encoding: .utf8)
        let result = try runCommand(vigil, ["run", "--config", path])
        #expect(result.status != 0)
        #expect(result.stderr.contains("\(path):3:3: unknown key 'embeded' in broker (did you mean 'embedded'?)"), "\(result.stderr)")
        let missing = try runCommand(vigil, ["run", "--config", dir.file("nope.yaml")])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains("nope.yaml"))
    }

    @Test func unusableDataDirectoryIsAClearError() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let list = try runCommand(vigil, ["topics", "list", "--data", dir.file("missing")])
        #expect(list.status != 0)
        #expect(list.stderr.contains("no Vigil data in"))
        try "x".write(toFile: dir.file("file"), atomically: true, encoding: .utf8)
        let create = try runCommand(vigil, ["topics", "create", "t", "--data", dir.file("file")])
        #expect(create.status != 0)
        #expect(create.stderr.contains("not a directory"))
    }

    @Test func benchPrintsTheKeysOnItsLastLine() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let result = try runCommand(vigil, ["bench", "broker", "--records", "20000", "--large-bytes", "4194304",
                                            "--dir", dir.file("bench"), "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let last = try #require(json(result.lines.last ?? ""))
        for key in ["append_records_per_s", "read_records_per_s", "large_mb_per_s", "dd_mb_per_s", "dd_ratio", "cores"] {
            #expect((last[key] as? Double).map { $0 > 0 } == true, "\(key)")
        }
    }

    @Test func sketchBenchPrintsTheKeysOnItsLastLine() throws {
        // A tiny run of Vigil's side only (the DataSketches peer is null when skipped).
        let result = try runCommand(vigil, ["bench", "sketch", "--seeds", "2", "--max-exponent", "4", "--operations", "20000",
                                            "--repeats", "1", "--bloom-items", "20000", "--no-peer", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let last = try #require(json(result.lines.last ?? ""))
        for key in ["hll_update_ns", "bloom_insert_ns", "bloom_lookup_ns", "hll_max_rel_error", "bloom_fpr", "bloom_target_fpr", "cores"] {
            #expect((last[key] as? Double).map { $0 > 0 } == true, "\(key)")
        }
        for key in ["datasketches_hll_update_ns", "datasketches_hll_max_rel_error"] {
            #expect(last[key] is NSNull, "\(key)")
        }
        #expect((last["hll_max_rel_error"] as? Double).map { $0 < 0.03 } == true)
    }
}

extension CLITests {
    @Test func rulesCheckCompilesTheStarterRulesAndCountsSigmaConstructs() throws {
        let root = repositoryRoot()
        let own = try runCommand(vigil, ["rules", "check", "--rules", root + "/rules"])
        #expect(own.status == 0, "\(own.stderr)")
        #expect(own.stdout.contains("Vigil rules compiled"))
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        try "rules:\n  - id: x\n    title: t\n    match: { a|sometimes: 1 }\n".write(toFile: dir.file("bad.yaml"), atomically: true, encoding: .utf8)
        let bad = try runCommand(vigil, ["rules", "check", "--rules", dir.path])
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("bad.yaml:4:"), "\(bad.stderr)")
        guard let shared = sharedDataDirectory() else {
            print("skipped the Sigma part: ../shared/data is absent")
            return
        }
        let sigma = try runCommand(vigil, ["rules", "check", "--rules", root + "/rules", "--sigma", shared + "/sigma/rules",
                                           "--sigma", shared + "/sigma/rules-emerging-threats", "--sigma", shared + "/sigma/rules-threat-hunting"])
        #expect(sigma.status == 0, "\(sigma.stderr)")
        print("rules check: \(sigma.stdout.split(separator: "\n").prefix(2).joined(separator: " | "))")
        #expect(sigma.stdout.contains("303 files, 270 rules compiled, 33 need constructs Vigil cannot run, 0 do not compile yet, 0 errors"))
    }
}

extension CLITests {
    @Test func rulesTestRunsTheExamplesInTheRuleFiles() throws {
        let shipped = try runCommand(vigil, ["rules", "test", "--rules", repositoryRoot() + "/rules"])
        #expect(shipped.status == 0, "\(shipped.stdout)\(shipped.stderr)")
        #expect(shipped.stdout.contains("0 failed"))
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        try """
        rules:
          - id: t.admin
            title: Admin
            match: { user.name: admin }
            examples:
              - raises: 1
                events: [ { user: { name: admin } } ]
              - raises: 1
                events: [ { user: { name: alice } } ]
        """.write(toFile: dir.file("t.yaml"), atomically: true, encoding: .utf8)
        let r = try runCommand(vigil, ["rules", "test", "--rules", dir.path])
        #expect(r.status == 1)
        #expect(r.stdout.contains("t.yaml:8:") && r.stdout.contains("t.admin: FAILED: expected 1 alerts, raised 0"), "\(r.stdout)")
        #expect(r.stdout.contains("1 passed, 1 failed"))
    }
}
