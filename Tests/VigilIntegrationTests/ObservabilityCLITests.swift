import Foundation
import Testing
import VigilTestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `vigil run`'s /metrics endpoint, its structured logs and `vigil status`, through the binary.
@Suite(.serialized) struct ObservabilityCLITests {
    let vigil = productsDirectory() + "/vigil"
    let sample = repositoryRoot() + "/deploy/sample/events.jsonl"
    let authLog = repositoryRoot() + "/deploy/sample/auth.log"

    /// A configuration with a followed jsonl file, a file sensor over the sample auth log, the
    /// repository's rules and parsers, and the endpoint on a free port.
    func writeConfig(_ dir: TemporaryDirectory, checkpointInterval: String = "1s", extra: String = "") throws -> String {
        let path = dir.file("vigil.yaml")
        try """
        data_dir: data
        metrics: { listen: 127.0.0.1:0 }
        broker: { embedded: { fsync: { policy: every_batch } } }
        topics: { events: { partitions: 3 } }
        stream: { checkpoint_interval: \(checkpointInterval), workers: 2 }
        rules: { dir: \(repositoryRoot())/rules }
        parsers: { dir: \(repositoryRoot())/parsers }
        enrichment: { dir: \(dir.path)/no-enrichment }
        sensors:
          - { name: sample, type: jsonl, path: in.jsonl, follow: true }
          - { name: auth, type: file, paths: [\(authLog)], parser: syslog, start_at: beginning }
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// The live run-state file's metrics address (waits for it).
    func metricsAddress(_ dir: TemporaryDirectory, timeout: Double = 30) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            let runDir = dir.file("data/run")
            for name in (try? FileManager.default.contentsOfDirectory(atPath: runDir)) ?? [] where name.hasSuffix(".json") {
                if let data = FileManager.default.contents(atPath: "\(runDir)/\(name)"),
                   let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any], let address = object["metrics"] as? String {
                    return address
                }
            }
            usleep(50_000)
        }
        throw TestFailure("no run-state file with a metrics address in \(dir.path)/data/run")
    }

    /// Scrapes until `predicate` holds for the parsed samples (or time runs out).
    fileprivate func scrape(_ address: String, timeout: Double = 30, until predicate: ([Sample]) -> Bool) throws -> (String, [Sample]) {
        let deadline = Date().addingTimeInterval(timeout)
        var last = ("", [Sample]())
        repeat {
            let text = try httpGet(address, "/metrics")
            last = (text, try parseExposition(text))
            if predicate(last.1) { return last }
            usleep(100_000)
        } while Date() < deadline
        return last
    }

    @Test func metricsMoveWithTheInputAndStatusReportsHealth() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let lines = try String(contentsOfFile: sample, encoding: .utf8).split(separator: "\n")
        // 50 events and one line that is not JSON.
        try (lines.joined(separator: "\n") + "\nnot json\n").write(toFile: dir.file("in.jsonl"), atomically: true, encoding: .utf8)
        let config = try writeConfig(dir)
        let run = try ChildProcess(vigil, ["run", "--config", config, "--quiet"])
        defer { if run.process.isRunning { run.kill() } }
        let address = try metricsAddress(dir)

        let authLines = try String(contentsOfFile: authLog, encoding: .utf8).split(separator: "\n").count
        let (text, samples) = try scrape(address) { s in
            value(s, "vigil_sensor_input_total", ["sensor": "sample", "type": "jsonl"]) == 51
                && value(s, "vigil_sensor_events_total", ["sensor": "auth", "type": "file"]) ?? 0 > 0
                && value(s, "vigil_stage_events_in_total", ["stage": "stream"]) == value(s, "vigil_stage_events_out_total", ["stage": "sensor"])
                && !s.filter { $0.name == "vigil_stream_checkpoint_age_seconds" }.isEmpty
        }
        try checkExposition(text)
        #expect(value(samples, "vigil_sensor_input_total", ["sensor": "sample", "type": "jsonl"]) == 51)
        #expect(value(samples, "vigil_sensor_events_total", ["sensor": "sample", "type": "jsonl"]) == 50)
        #expect(value(samples, "vigil_sensor_input_total", ["sensor": "auth", "type": "file"]) == Double(authLines))
        let authEvents = try #require(value(samples, "vigil_sensor_events_total", ["sensor": "auth", "type": "file"]))
        #expect(value(samples, "vigil_parse_errors_total", ["sensor": "sample", "parser": "jsonl"]) == 1)
        // Every auth line is an event or a parse error.
        #expect(authEvents + (value(samples, "vigil_parse_errors_total", ["sensor": "auth", "parser": "syslog"]) ?? 0) == Double(authLines))
        #expect(value(samples, "vigil_stage_events_out_total", ["stage": "sensor"]) == 50 + authEvents)
        #expect(value(samples, "vigil_stage_events_in_total", ["stage": "stream"]) == 50 + authEvents)
        // Alerts by rule: the sample holds a web scanner; the rules stage's output is the alerts.
        let alerts = samples.filter { $0.name == "vigil_alerts_total" }
        #expect(alerts.contains { $0.labels["rule"] == "vigil.web.scanner_user_agent" && $0.value > 0 })
        #expect(alerts.reduce(0) { $0 + $1.value } == value(samples, "vigil_stage_events_out_total", ["stage": "rules"]))
        #expect(value(samples, "vigil_stream_results_total", ["topic": "alerts"]) == value(samples, "vigil_stage_events_out_total", ["stage": "rules"]))
        // Lag and checkpoints per partition of the group; late events and memory exported.
        for p in 0..<3 {
            #expect(value(samples, "vigil_broker_consumer_lag", ["group": "vigil-stream", "topic": "events", "partition": "\(p)"]) != nil)
            #expect(value(samples, "vigil_broker_end_offset", ["topic": "events", "partition": "\(p)"]) != nil)
        }
        #expect(value(samples, "vigil_stream_late_events_total", ["by": "profile"]) != nil)
        #expect(value(samples, "vigil_process_resident_memory_bytes") ?? 0 > 1_000_000)

        // More input: the counters move.
        let handle = try #require(FileHandle(forWritingAtPath: dir.file("in.jsonl")))
        handle.seekToEndOfFile()
        handle.write(Data((lines.prefix(10).joined(separator: "\n") + "\n").utf8))
        try handle.close()
        let (_, after) = try scrape(address) { s in
            value(s, "vigil_sensor_input_total", ["sensor": "sample", "type": "jsonl"]) == 61
                && value(s, "vigil_stage_events_in_total", ["stage": "stream"]) == 60 + authEvents
        }
        #expect(value(after, "vigil_sensor_events_total", ["sensor": "sample", "type": "jsonl"]) == 60)
        #expect(value(after, "vigil_stage_events_in_total", ["stage": "stream"]) == 60 + authEvents)
        #expect(value(after, "vigil_events_consumed_total") == 60 + authEvents)

        // vigil status: healthy while it runs, with the endpoint's figures.
        let status = try runCommand(vigil, ["status", "--config", config])
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
        #expect(status.stdout.hasPrefix("vigil status: HEALTHY"))
        #expect(status.stdout.contains("pipeline: run pid \(run.pid)"))
        #expect(status.stdout.contains("parse errors: "))
        #expect(status.stdout.contains("jsonl (sample) 1"))
        // The indexer stage writes the alert index while the pipeline runs.
        #expect(status.stdout.contains("alert index: ") && status.stdout.contains("alerts.db"))
        let json = try runCommand(vigil, ["status", "--config", config, "--format", "json", "--interval", "0"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect(object["healthy"] as? Bool == true)
        #expect((object["lag"] as? [Any])?.count == 3)
        #expect((object["checkpoints"] as? [Any])?.count == 3)
        #expect((object["parse_errors"] as? [String: Double])?["jsonl"] == 1)

        // Stopped: the run-state file goes, status says so and exits 1.
        run.kill(SIGTERM)
        #expect(run.wait() == 0)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: dir.file("data/run"))) ?? []).isEmpty)
        let stopped = try runCommand(vigil, ["status", "--config", config, "--interval", "0"])
        #expect(stopped.status == 1)
        #expect(stopped.stdout.contains("problem: the pipeline is not running"))
        // The topics table: events with 3 partitions (columns are as wide as the longest name).
        #expect(stopped.stdout.split(separator: "\n").contains { $0.split(separator: " ").prefix(2) == ["events", "3"] }, "\(stopped.stdout)")
    }

    @Test func staleCheckpointsAndAKilledProcessAreUnhealthy() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        try String(contentsOfFile: sample, encoding: .utf8).write(toFile: dir.file("in.jsonl"), atomically: true, encoding: .utf8)
        // A stream stage that checkpoints once an hour: the checkpoints written at start go stale.
        let config = try writeConfig(dir, checkpointInterval: "1h")
        let run = try ChildProcess(vigil, ["run", "--config", config, "--quiet"])
        defer { if run.process.isRunning { run.kill() } }
        let address = try metricsAddress(dir)
        _ = try scrape(address) { s in value(s, "vigil_stage_events_in_total", ["stage": "stream"]) ?? 0 >= 50 }
        // Before the limit passes: healthy.
        let fresh = try runCommand(vigil, ["status", "--config", config, "--interval", "0", "--max-checkpoint-age", "30"])
        #expect(fresh.status == 0, "\(fresh.stdout)")
        sleep(3)
        let stale = try runCommand(vigil, ["status", "--config", config, "--interval", "0", "--max-checkpoint-age", "2"])
        #expect(stale.status == 1)
        #expect(stale.stdout.contains("vigil status: UNHEALTHY"))
        // The first periodic checkpoint is due in an hour: partitions checkpointed only when the
        // second worker's join moved them, or never.
        let problems = stale.stdout.split(separator: "\n").filter { $0.hasPrefix("problem: ") }
        #expect(problems.count == 3, "\(stale.stdout)")
        #expect(problems.allSatisfy { ($0.contains("problem: checkpoint events/") || $0.contains("problem: no checkpoint of events/"))
                    && $0.hasSuffix("the stream stage is stuck or not checkpointing") }, "\(stale.stdout)")
        // kill -9: the lock dies with the process; status no longer counts it as running.
        run.kill(SIGKILL)
        run.wait()
        let killed = try runCommand(vigil, ["status", "--config", config, "--interval", "0"])
        #expect(killed.status == 1)
        #expect(killed.stdout.contains("problem: the pipeline is not running"))
        // A data directory that was never created.
        let other = try TemporaryDirectory(); defer { other.remove() }
        let missing = try runCommand(vigil, ["status", "--config", try writeConfig(other)])
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("does not exist"))
    }

    @Test func logRecordsAreLogfmtOrJSONOneALine() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        try (String(contentsOfFile: sample, encoding: .utf8) + "not json\n").write(toFile: dir.file("in.jsonl"), atomically: true, encoding: .utf8)
        let path = dir.file("finite.yaml")
        try """
        data_dir: data
        metrics: { listen: off }
        rules: { dir: \(dir.path)/none }
        sensors: [ { name: sample, type: jsonl, path: in.jsonl } ]
        """.write(toFile: path, atomically: true, encoding: .utf8)

        let logfmt = try runCommand(vigil, ["run", "--config", path, "--quiet"])
        #expect(logfmt.status == 0, "\(logfmt.stderr)")
        let logfmtLines = logfmt.stderr.split(separator: "\n")
        #expect(!logfmtLines.isEmpty)
        for line in logfmtLines {
            #expect(line.hasPrefix("ts=") && line.contains(" level=") && line.contains(" msg="), "\(line)")
        }
        #expect(logfmt.stderr.contains(#"level=warning logger=vigil.run msg="sensor sample: rejected a line"#))
        #expect(logfmt.stderr.contains("level=notice logger=vigil.run msg=\"vigil run: 51 lines read, 50 events produced, 1 rejected to errors"))
        #expect(logfmt.stderr.contains("events_produced=50"))

        let json = try runCommand(vigil, ["run", "--config", path, "--quiet", "--log-format", "json"])
        #expect(json.status == 0)
        var levels: [String] = []
        for line in json.stderr.split(separator: "\n") {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String], "\(line)")
            #expect(object["ts"] != nil && object["logger"] == "vigil.run" && object["msg"] != nil)
            levels.append(object["level"] ?? "")
        }
        #expect(levels.contains("notice") && levels.contains("warning"))

        // The level: warnings and above only; the config's log.format applies without the flag.
        try (try String(contentsOfFile: path, encoding: .utf8) + "\nlog: { format: json, level: error }\n")
            .write(toFile: path, atomically: true, encoding: .utf8)
        let quiet = try runCommand(vigil, ["run", "--config", path, "--quiet"])
        #expect(quiet.status == 0)
        #expect(quiet.stderr.isEmpty, "\(quiet.stderr)")
        let warn = try runCommand(vigil, ["run", "--config", path, "--quiet", "--log-level", "warning"])
        #expect(warn.stderr.split(separator: "\n").allSatisfy { $0.contains(#""level":"warning""#) })
        #expect(!warn.stderr.isEmpty)
        let bad = try runCommand(vigil, ["run", "--config", path, "--log-format", "text"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("--log-format"))
    }
}

// MARK: Helpers

fileprivate struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

fileprivate struct Sample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

fileprivate func value(_ samples: [Sample], _ name: String, _ labels: [String: String] = [:]) -> Double? {
    samples.first { $0.name == name && $0.labels == labels }?.value
}

/// Parses the Prometheus text format strictly enough to catch malformed output.
fileprivate func parseExposition(_ text: String) throws -> [Sample] {
    let pattern = try NSRegularExpression(pattern: #"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (-?[0-9.eE+-]+|NaN|\+Inf|-Inf)( -?[0-9]+)?$"#)
    let labelPattern = try NSRegularExpression(pattern: #"([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?"#)
    var samples: [Sample] = []
    for line in text.split(separator: "\n").map(String.init) where !line.hasPrefix("#") {
        let range = NSRange(line.startIndex..., in: line)
        guard let m = pattern.firstMatch(in: line, range: range) else { throw TestFailure("not exposition format: \(line)") }
        let name = String(line[Range(m.range(at: 1), in: line)!])
        var labels: [String: String] = [:]
        if let r = Range(m.range(at: 3), in: line) {
            let body = String(line[r])
            var consumed = 0
            for lm in labelPattern.matches(in: body, range: NSRange(body.startIndex..., in: body)) {
                labels[String(body[Range(lm.range(at: 1), in: body)!])] = String(body[Range(lm.range(at: 2), in: body)!])
                consumed += lm.range.length
            }
            guard consumed == body.utf16.count else { throw TestFailure("bad labels: \(line)") }
        }
        guard let v = Double(String(line[Range(m.range(at: 4), in: line)!])) else { throw TestFailure("bad value: \(line)") }
        samples.append(Sample(name: name, labels: labels, value: v))
    }
    return samples
}

/// Every sample's family has one TYPE line before it, names are vigil_*, no series repeats.
fileprivate func checkExposition(_ text: String) throws {
    var types: [String: String] = [:]
    var seen = Set<String>()
    for line in text.split(separator: "\n").map(String.init) {
        if line.hasPrefix("# TYPE ") {
            let parts = line.split(separator: " ")
            #expect(parts.count == 4 && ["counter", "gauge", "histogram", "summary", "untyped"].contains(String(parts[3])), "\(line)")
            #expect(types[String(parts[2])] == nil, "two TYPE lines for \(parts[2])")
            types[String(parts[2])] = String(parts[3])
        } else if !line.hasPrefix("#") {
            let name = String(line.prefix { $0 != "{" && $0 != " " })
            #expect(types[name] != nil, "no TYPE before \(line)")
            #expect(name.hasPrefix("vigil_"), "\(name)")
            if types[name] == "counter" { #expect(name.hasSuffix("_total"), "\(name)") }
            let series = String(line[..<line.lastIndex(of: " ")!])
            #expect(seen.insert(series).inserted, "series repeated: \(series)")
        }
    }
}

/// A blocking HTTP GET (the endpoint speaks HTTP/1.1).
fileprivate func httpGet(_ address: String, _ path: String) throws -> String {
    let colon = address.lastIndex(of: ":")!
    let port = UInt16(address[address.index(after: colon)...])!
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw TestFailure("socket") }
    defer { close(fd) }
    var tv = timeval(tv_sec: 10, tv_usec: 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = port.bigEndian
    inet_pton(AF_INET, String(address[..<colon]), &addr.sin_addr)
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { throw TestFailure("cannot connect to \(address)") }
    let request = Array("GET \(path) HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
    var response: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { break }
        response += chunk[0..<n]
    }
    let text = String(decoding: response, as: UTF8.self)
    guard text.hasPrefix("HTTP/1.1 200"), let split = text.range(of: "\r\n\r\n") else { throw TestFailure("bad response: \(text.prefix(200))") }
    #expect(text[..<split.lowerBound].lowercased().contains("content-type: text/plain; version=0.0.4"))
    return String(text[split.upperBound...])
}

/// Live capture's kernel counters through `vigil run` (root only: opening a packet socket).
@Suite struct CaptureMetricsCLITests {
    let vigil = productsDirectory() + "/vigil"

    @Test(.enabled(if: getuid() == 0)) func captureCountersComeFromTheKernel() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        let port = Int.random(in: 20_000...40_000)
        let config = dir.file("vigil.yaml")
        try """
        data_dir: data
        metrics: { listen: 127.0.0.1:0 }
        rules: { dir: \(dir.path)/none }
        parsers: { dir: \(repositoryRoot())/parsers }
        sensors:
          - { name: wire, type: network, interface: lo, filter: "udp port \(port)", timeout: 100ms }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let run = try ChildProcess(vigil, ["run", "--config", config, "--quiet"])
        defer { if run.process.isRunning { run.kill() } }
        let address = try ObservabilityCLITests().metricsAddress(dir)
        // Datagrams to a port nobody listens on, until 50 were captured (the capture opens a
        // little after the endpoint): the filter passes them, the kernel counts them.
        let fd = socket(AF_INET, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(port).bigEndian
        inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr)
        var sent = 0
        let (text, samples) = try ObservabilityCLITests().scrape(address) { s in
            for _ in 0..<10 {
                let payload = Array("datagram \(sent)".utf8)
                sent += 1
                _ = withUnsafePointer(to: &addr) { a in
                    a.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, payload, payload.count, 0, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            return value(s, "vigil_capture_packets_received_total", ["sensor": "wire"]) ?? 0 >= 50
                && value(s, "vigil_sensor_input_total", ["sensor": "wire", "type": "network"]) ?? 0 >= 50
        }
        try checkExposition(text)
        let received = try #require(value(samples, "vigil_capture_packets_received_total", ["sensor": "wire"]))
        // On lo a packet socket sees every datagram twice (out and in).
        #expect(received >= 50 && received <= Double(2 * sent), "\(text)")
        #expect(value(samples, "vigil_sensor_input_total", ["sensor": "wire", "type": "network"]) ?? 0 >= 50)
        #expect(value(samples, "vigil_capture_packets_dropped_total", ["sensor": "wire", "by": "kernel"]) == 0)
        #expect(value(samples, "vigil_capture_packets_dropped_total", ["sensor": "wire", "by": "interface"]) != nil)
        run.kill(SIGTERM)
        #expect(run.wait() == 0)
    }
}
