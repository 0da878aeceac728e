import Foundation
import Glibc
import Testing
import VigilTestSupport

/// An alert as a JSON line for `vigil topics produce alerts`, shaped like the rule engine's.
func alertLine(id: String, rule: String, time: String, severity: Int, count: Int = 1, source: String?, destination: String? = nil,
               user: String?, extra: String = "") -> String {
    let names = ["informational", "low", "medium", "high", "critical"]
    var parts = [#""@timestamp":"\#(time)""#,
                 #""event":{"kind":"alert","id":"\#(id)-\#(count)","severity":\#(severity),"risk_score":\#(Double(severity * 20))}"#,
                 #""rule":{"id":"\#(rule)","name":"Rule \#(rule)","description":"Detects \#(rule)"}"#,
                 #""tags":["attack.t1110"]"#]
    var vigil = #""alert":{"id":"\#(id)","count":\#(count),"key":"\#(source ?? "-")","severity":"\#(names[severity])","sample":"{\"message\":\"sample for \#(user ?? "nobody") \#(id)\",\"host\":{\"geo\":{\"country_iso_code\":\"NL\"}}}"}"#
    vigil = #""vigil":{\#(vigil)}"#
    parts.append(vigil)
    if let source { parts.append(#""source":{"ip":"\#(source)"}"#) }
    if let destination { parts.append(#""destination":{"ip":"\#(destination)"}"#) }
    if let user { parts.append(#""user":{"name":"\#(user)"}"#) }
    if !extra.isEmpty { parts.append(extra) }
    return "{" + parts.joined(separator: ",") + "}"
}

/// A minimal HTTP/1.1 GET over a socket: status and body.
func httpGet(port: Int, path: String, token: String? = nil, method: String = "GET") throws -> (Int, String) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.EIO) }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_port = in_port_t(UInt16(port).bigEndian)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    let rc = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
    guard rc == 0 else { throw POSIXError(.ECONNREFUSED) }
    var request = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    if let token { request += "Authorization: Bearer \(token)\r\n" }
    request += "\r\n"
    _ = request.withCString { send(fd, $0, strlen($0), 0) }
    var data = [UInt8]()
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = recv(fd, &buffer, buffer.count, 0)
        if n <= 0 { break }
        data += buffer[0..<n]
    }
    let text = String(decoding: data, as: UTF8.self)
    let status = Int(text.split(separator: " ").dropFirst().first ?? "") ?? 0
    let body = text.components(separatedBy: "\r\n\r\n").dropFirst().joined(separator: "\r\n\r\n")
    return (status, body)
}

/// `vigil index`, `vigil alerts …` and the HTTP API end to end, with the built binary.
@Suite(.serialized) struct AlertIndexCLITests {
    /// The built binary; `VIGIL_EXECUTABLE` runs these tests against another build (a release
    /// one: some memory bugs show only once the optimizer shortens lifetimes).
    let vigil = ProcessInfo.processInfo.environment["VIGIL_EXECUTABLE"] ?? productsDirectory() + "/vigil"

    func json(_ line: String) -> [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] }
    func alertID(_ line: String) -> String? { ((json(line)?["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["id"] as? String }

    /// A configuration with an alerts topic of `partitions` and a small batch size.
    func setUp(_ dir: TemporaryDirectory, partitions: Int = 2, batch: Int = 1000, layout: String = "blocks", extra: String = "") throws -> String {
        let path = dir.file("vigil.yaml")
        try """
        data_dir: data
        broker:
          embedded:
            fsync: { policy: interval, interval: 10ms }
        topics:
          events: { partitions: \(partitions) }
          alerts: { partitions: \(partitions) }
        index:
          batch_size: \(batch)
          layout: \(layout)
          retention: null
        \(extra)
        """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func produce(_ config: String, _ dir: TemporaryDirectory, _ lines: [String]) throws {
        let r = try runCommand(vigil, ["topics", "produce", "alerts", "--config", config, "--key-field", "vigil.alert.id"],
                               input: lines.joined(separator: "\n") + "\n")
        #expect(r.status == 0, "\(r.stderr)")
    }

    func index(_ config: String) throws {
        let r = try runCommand(vigil, ["index", "--config", config, "--drain"])
        #expect(r.status == 0, "\(r.stderr)")
    }

    func list(_ config: String, _ args: [String]) throws -> [String] {
        let r = try runCommand(vigil, ["alerts", "--config", config, "--format", "json", "--limit", "1000"] + args)
        #expect(r.status == 0, "\(args): \(r.stderr)")
        return r.lines.compactMap(alertID).sorted()
    }

    static let corpus = [
        alertLine(id: "a1", rule: "ssh-brute", time: "2026-03-14T10:00:00Z", severity: 2, source: "10.0.0.1", destination: "192.168.1.10", user: "alice",
                  extra: #""destination.port":22"#),
        alertLine(id: "a2", rule: "ssh-brute", time: "2026-03-14T11:00:00Z", severity: 3, source: "10.0.1.7", destination: "192.168.1.11", user: "bob"),
        alertLine(id: "a3", rule: "dns-tunnel", time: "2026-03-14T12:00:00Z", severity: 4, source: "172.16.5.5", destination: "8.8.8.8", user: nil),
        alertLine(id: "a4", rule: "port-scan", time: "2026-03-14T13:00:00Z", severity: 1, source: "2001:db8::5", user: "carol"),
        alertLine(id: "a5", rule: "port-scan", time: "2026-03-14T14:00:00Z", severity: 0, source: nil, user: "o'reilly"),
    ]

    @Test(arguments: ["blocks", "rows"]) func filtersFormatsAndErrors(layout: String) throws {
        let dir = try TemporaryDirectory("vigil-alerts-cli"); defer { dir.remove() }
        let config = try setUp(dir, layout: layout)
        try produce(config, dir, Self.corpus + [#"{"message":"an event, not an alert"}"#])
        let idx = try runCommand(vigil, ["index", "--config", config, "--drain"])
        #expect(idx.status == 0, "\(idx.stderr)")
        #expect(idx.stderr.contains("5 alerts indexed"), "\(idx.stderr)")
        #expect(try list(config, []) == ["a1", "a2", "a3", "a4", "a5"])
        #expect(try list(config, ["--from", "2026-03-14T11:00:00Z", "--to", "2026-03-14T13:00:00Z"]) == ["a2", "a3"])
        #expect(try list(config, ["--since", "10000d"]) == ["a1", "a2", "a3", "a4", "a5"])
        #expect(try list(config, ["--since", "1h"]) == [])
        #expect(try list(config, ["--rule", "port-scan", "--rule", "dns-tunnel"]) == ["a3", "a4", "a5"])
        #expect(try list(config, ["--min-severity", "high"]) == ["a2", "a3"])
        #expect(try list(config, ["--source", "10.0.0.0/16"]) == ["a1", "a2"])
        #expect(try list(config, ["--source", "2001:db8::/32"]) == ["a4"])
        #expect(try list(config, ["--destination", "8.8.8.8"]) == ["a3"])
        #expect(try list(config, ["--where", "destination.port=22"]) == ["a1"])
        #expect(try list(config, ["--where", "user.name=o'reilly"]) == ["a5"])
        #expect(try list(config, ["--where", "user.name=' OR '1'='1"]) == [])
        #expect(try list(config, ["--rule", "x' OR 1=1; DROP TABLE alerts; --"]) == [])
        #expect(try list(config, ["--text", "bob"]) == ["a2"])
        #expect(try list(config, ["--text", "'; DROP TABLE alerts; --"]) == [])
        #expect(try list(config, ["--text", "10.0.1.7"]) == ["a2"])
        #expect(try list(config, ["--status", "open"]).count == 5)
        // Sort, limit, offset.
        let sorted = try runCommand(vigil, ["alerts", "--config", config, "--format", "json", "--sort", "severity", "--limit", "2", "--offset", "1"])
        #expect(sorted.lines.compactMap(alertID) == ["a2", "a1"])
        // CSV and table (not a terminal: no colours).
        let csv = try runCommand(vigil, ["alerts", "--config", config, "--format", "csv", "--rule", "ssh-brute"])
        #expect(csv.lines.first == "time,severity,rule,count,source,destination,user,status,id")
        #expect(csv.lines.count == 3)
        #expect(csv.lines[1].hasSuffix(",open,a2"))
        let table = try runCommand(vigil, ["alerts", "--config", config])
        #expect(table.lines.first?.hasPrefix("TIME") == true)
        #expect(table.lines.count == 6)
        #expect(!table.stdout.contains("\u{1B}"))
        let widths = Set(table.lines.map { $0.range(of: "  ssh-brute")?.lowerBound.utf16Offset(in: $0) }.compactMap { $0 })
        #expect(widths.count == 1, "columns line up")
        // The database file directly.
        let db = try runCommand(vigil, ["alerts", "--db", dir.file("data/alerts.db"), "--format", "json", "--rule", "dns-tunnel"])
        #expect(db.lines.compactMap(alertID) == ["a3"])
        // Bad filters: usage errors naming the filter.
        for (args, name) in [(["--since", "yesterday"], "--since"), (["--source", "10.0.0.300"], "--source"),
                             (["--where", "bad field=1"], "--where"), (["--text", "\"unterminated"], "--text"),
                             (["--min-severity", "urgent"], "--min-severity"), (["--from", "2026-13-01"], "--from"),
                             (["--sort", "size"], "--sort")] {
            let r = try runCommand(vigil, ["alerts", "--config", config] + args)
            #expect(r.status != 0, "\(args)")
            #expect(r.stderr.contains(name), "\(args): \(r.stderr)")
        }
        let missing = try runCommand(vigil, ["alerts", "--db", dir.file("nope.db")])
        #expect(missing.status != 0 && missing.stderr.contains("no alert index"), "\(missing.stderr)")
        // The record that was not an alert went to the indexer's error topic.
        let errors = try runCommand(vigil, ["topics", "tail", "index-errors", "--config", config])
        #expect(errors.stdout.contains("index"), "\(errors.stdout)")
        let check = try runCommand(vigil, ["alerts", "check", "--config", config])
        #expect(check.status == 0 && check.stdout.contains("5 alerts (\(layout) layout)"), "\(check.stdout) \(check.stderr)")
    }

    @Test func convertsARowIndexToBlocks() throws {
        let dir = try TemporaryDirectory("vigil-alerts-cli"); defer { dir.remove() }
        let config = try setUp(dir, layout: "rows")
        try produce(config, dir, Self.corpus)
        try index(config)
        let ack = try runCommand(vigil, ["alerts", "ack", "a3", "--config", config, "--by", "ana"])
        #expect(ack.status == 0, "\(ack.stderr)")
        let before = try runCommand(vigil, ["alerts", "--config", config, "--format", "json"])
        let rowsCheck = try runCommand(vigil, ["alerts", "check", "--config", config])
        #expect(rowsCheck.stdout.contains("5 alerts (rows layout)"), "\(rowsCheck.stdout)")
        let target = dir.file("blocks.db")
        let convert = try runCommand(vigil, ["alerts", "convert", "--config", config, "--to", target])
        #expect(convert.status == 0 && convert.stdout.contains("converted 5 alerts"), "\(convert.stdout) \(convert.stderr)")
        let after = try runCommand(vigil, ["alerts", "--db", target, "--format", "json"])
        #expect(after.lines.compactMap(alertID) == before.lines.compactMap(alertID))
        #expect(after.lines == before.lines, "the same alerts, with their triage status")
        let check = try runCommand(vigil, ["alerts", "check", "--db", target])
        let offsets = rowsCheck.stdout.components(separatedBy: "offsets: ").last?.components(separatedBy: ";").first ?? "?"
        #expect(check.status == 0 && check.stdout.contains("5 alerts (blocks layout)") && check.stdout.contains("offsets: \(offsets);"),
                "\(check.stdout) \(check.stderr)")
        let show = try runCommand(vigil, ["alerts", "show", "a3", "--db", target])
        #expect(show.stdout.contains("acknowledged") && show.stdout.contains("ana"), "\(show.stdout)")
        let again = try runCommand(vigil, ["alerts", "convert", "--db", target, "--to", dir.file("again.db")])
        #expect(again.status != 0 && again.stderr.contains("already"), "\(again.stderr)")
    }

    @Test func showStatsAndTriage() throws {
        let dir = try TemporaryDirectory("vigil-alerts-cli"); defer { dir.remove() }
        let config = try setUp(dir)
        try produce(config, dir, Self.corpus)
        try index(config)
        let show = try runCommand(vigil, ["alerts", "show", "a3", "--config", config])
        #expect(show.status == 0, "\(show.stderr)")
        #expect(show.stdout.contains("dns-tunnel") && show.stdout.contains("TRIGGERING EVENT"))
        #expect(show.stdout.contains("sample for nobody a3"))
        #expect(show.stdout.contains("ENRICHMENT") && show.stdout.contains("host.geo.country_iso_code"))
        let ack = try runCommand(vigil, ["alerts", "ack", "a3", "--config", config, "--by", "ana", "--comment", "checking the resolver"])
        #expect(ack.status == 0, "\(ack.stderr)")
        let close = try runCommand(vigil, ["alerts", "close", "a3-1", "--config", config], environment: ["USER": "ben"])
        #expect(close.status == 0, "\(close.stderr)")
        let shown = try runCommand(vigil, ["alerts", "show", "a3", "--config", config, "--format", "json"])
        let obj = json(shown.stdout)
        let history = obj?["history"] as? [[String: Any]] ?? []
        #expect(history.map { $0["status"] as? String } == ["acknowledged", "closed"])
        #expect(history.map { $0["by"] as? String } == ["ana", "ben"])
        #expect(history.first?["comment"] as? String == "checking the resolver")
        #expect(try list(config, ["--status", "closed"]) == ["a3"])
        #expect(try list(config, ["--status", "open"]) == ["a1", "a2", "a4", "a5"])
        let unknown = try runCommand(vigil, ["alerts", "ack", "zzz", "--config", config])
        #expect(unknown.status != 0 && unknown.stderr.contains("no alert with id zzz"))
        let stats = try runCommand(vigil, ["alerts", "stats", "--config", config, "--format", "json"])
        let s = json(stats.stdout)
        #expect(s?["total"] as? Int == 5)
        let byRule = (s?["by_rule"] as? [[String: Any]])?.map { "\($0["rule"]!)=\($0["alerts"]!)" }
        #expect(byRule == ["port-scan=2", "ssh-brute=2", "dns-tunnel=1"])
        let top = (s?["top_sources"] as? [[String: Any]])?.count
        #expect(top == 4)
        let hist = (s?["histogram"] as? [[String: Any]])?.reduce(0) { $0 + ($1["alerts"] as? Int ?? 0) }
        #expect(hist == 5)
        let text = try runCommand(vigil, ["alerts", "stats", "--config", config, "--min-severity", "medium"])
        #expect(text.stdout.contains("3 alerts") && text.stdout.contains("BY RULE") && text.stdout.contains("OVER TIME") && text.stdout.contains("#"))
        // Vacuum with retention deletes everything from 2026-03 (long ago by now).
        let vacuum = try runCommand(vigil, ["alerts", "vacuum", "--config", config, "--retention", "1d"])
        #expect(vacuum.status == 0 && vacuum.stdout.contains("5 alerts deleted by age"), "\(vacuum.stdout) \(vacuum.stderr)")
        #expect(try list(config, []) == [])
    }

    @Test func followStreamsNewAndUpdatedAlerts() throws {
        let dir = try TemporaryDirectory("vigil-alerts-cli"); defer { dir.remove() }
        let config = try setUp(dir)
        try produce(config, dir, Array(Self.corpus.prefix(2)))
        try index(config)
        let follow = try ChildProcess(vigil, ["alerts", "--config", config, "--format", "json", "--follow", "--interval", "50", "--rule", "ssh-brute"])
        defer { follow.kill(SIGTERM); _ = follow.wait() }
        #expect(follow.waitForLine(timeout: 20) { alertID($0) == "a2" })
        try produce(config, dir, [
            alertLine(id: "f1", rule: "ssh-brute", time: "2026-03-14T15:00:00Z", severity: 2, source: "10.9.9.9", user: "dave"),
            alertLine(id: "f2", rule: "other", time: "2026-03-14T15:00:01Z", severity: 2, source: "10.9.9.9", user: "dave"),
            alertLine(id: "a1", rule: "ssh-brute", time: "2026-03-14T15:30:00Z", severity: 2, count: 4, source: "10.0.0.1", user: "alice"),
        ])
        try index(config)
        #expect(follow.waitForLine(timeout: 20) { alertID($0) == "f1" })
        #expect(follow.waitForLine(timeout: 20) { line in
            alertID(line) == "a1" && ((json(line)?["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["count"] as? Int == 4
        })
        follow.kill(SIGTERM)
        _ = follow.wait()
        #expect(!follow.output.contains { alertID($0) == "f2" }, "filters apply to followed alerts")
        #expect(follow.output.filter { alertID($0) == "f1" }.count == 1)
    }

    @Test func httpAPI() throws {
        let dir = try TemporaryDirectory("vigil-alerts-cli"); defer { dir.remove() }
        let config = try setUp(dir)
        try produce(config, dir, Self.corpus)
        try index(config)
        let refused = try runCommand(vigil, ["alerts", "serve", "--config", config, "--listen", "0.0.0.0:0"])
        #expect(refused.status != 0 && refused.stderr.contains("without a token"), "\(refused.stderr)")
        let server = try ChildProcess(vigil, ["alerts", "serve", "--config", config, "--listen", "127.0.0.1:0", "--token", "s3cret"])
        defer { server.kill(SIGTERM); _ = server.wait() }
        #expect(server.waitForLine(timeout: 20) { $0.hasPrefix("listening on") })
        let line = server.output.first { $0.hasPrefix("listening on") } ?? ""
        let port = Int(line.split(separator: ":").last?.split(separator: " ").first ?? "") ?? 0
        #expect(port > 0, "\(line)")
        let (noToken, _) = try httpGet(port: port, path: "/api/alerts")
        #expect(noToken == 401)
        let (wrong, _) = try httpGet(port: port, path: "/api/alerts", token: "s3cre")
        #expect(wrong == 401)
        let (ok, body) = try httpGet(port: port, path: "/api/alerts?rule=ssh-brute&source=10.0.0.0%2F8&limit=10", token: "s3cret")
        #expect(ok == 200)
        let alerts = (json(body)?["alerts"] as? [[String: Any]])?.compactMap { (($0["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["id"] as? String }
        #expect(alerts == ["a2", "a1"])
        let (q, qBody) = try httpGet(port: port, path: "/api/alerts?q=carol&since=10000d", token: "s3cret")
        #expect(q == 200 && qBody.contains(#""count":1"#), "\(qBody)")
        let (one, oneBody) = try httpGet(port: port, path: "/api/alerts/a4", token: "s3cret")
        #expect(one == 200 && oneBody.contains(#""history":[]"#) && oneBody.contains("carol"))
        let (missing, _) = try httpGet(port: port, path: "/api/alerts/nope", token: "s3cret")
        #expect(missing == 404)
        let (stats, statsBody) = try httpGet(port: port, path: "/api/stats?min_severity=medium", token: "s3cret")
        #expect(stats == 200 && json(statsBody)?["total"] as? Int == 3, "\(statsBody)")
        let (bad, badBody) = try httpGet(port: port, path: "/api/alerts?source=300.1.1.1", token: "s3cret")
        #expect(bad == 400 && badBody.contains("source:"), "\(badBody)")
        let (badText, badTextBody) = try httpGet(port: port, path: "/api/alerts?q=%22open", token: "s3cret")
        #expect(badText == 400 && badTextBody.contains("q:"), "\(badTextBody)")
        let (post, _) = try httpGet(port: port, path: "/api/alerts", token: "s3cret", method: "POST")
        #expect(post == 405)
        let (none, _) = try httpGet(port: port, path: "/other", token: "s3cret")
        #expect(none == 404)
    }

    /// `index.http` in the configuration: the indexer serves the API while it indexes.
    @Test func indexerServesTheConfiguredAPI() throws {
        let dir = try TemporaryDirectory("vigil-alerts-cli"); defer { dir.remove() }
        let port = Int.random(in: 20_000...40_000)
        let config = try setUp(dir, extra: "")
        try (try String(contentsOfFile: config, encoding: .utf8)).replacingOccurrences(of: "  retention: null", with: """
              retention: null
              http: { listen: "127.0.0.1:\(port)", token: tok }
            """).write(toFile: config, atomically: true, encoding: .utf8)
        try produce(config, dir, Self.corpus)
        let indexer = try ChildProcess(vigil, ["index", "--config", config])
        defer { indexer.kill(SIGTERM); _ = indexer.wait() }
        var status = 0, body = ""
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let (s, b) = try? httpGet(port: port, path: "/api/alerts?limit=10", token: "tok"), s == 200, b.contains(#""count":5"#) {
                (status, body) = (s, b)
                break
            }
            usleep(50_000)
        }
        #expect(status == 200, "\(body)")
        let (unauthorized, _) = try httpGet(port: port, path: "/api/stats")
        #expect(unauthorized == 401)
    }

    @Test(arguments: ["blocks", "rows"]) func benchIndexPrintsTheKeysOnItsLastLine(layout: String) throws {
        let dir = try TemporaryDirectory("vigil-alerts-bench"); defer { dir.remove() }
        let r = try runCommand(vigil, ["bench", "index", "--alerts", "3000", "--runs", "10", "--peer-alerts", "2000", "--dir", dir.file("b"),
                                       "--layout", layout, "--days", layout == "blocks" ? "0.5" : "30", "--json"])
        #expect(r.status == 0, "\(r.stderr)")
        let last = json(r.lines.last ?? "") ?? [:]
        #expect(last["layout"] as? String == layout)
        for key in ["insert_alerts_per_s", "alerts", "query_p50_ms", "query_p99_ms", "cores", "last_hour_one_rule_p50_ms", "source_cidr_24_p50_ms",
                    "full_text_term_p50_ms", "stats_by_rule_p50_ms", "python_peer_rows_per_s", "writer_cpu_us_per_alert"] {
            #expect(last[key] != nil, "\(key) in \(r.lines.last ?? "")")
        }
        func number(_ key: String) -> Double? { (last[key] as? NSNumber)?.doubleValue }
        #expect(number("alerts") == 3000)
        #expect((number("insert_alerts_per_s") ?? 0) > 0)
        let p50s = ["last_hour_one_rule", "source_cidr_24", "full_text_term", "stats_by_rule"].compactMap { number("\($0)_p50_ms") }
        #expect(p50s.count == 4 && number("query_p50_ms") == p50s.max())
        #expect(!FileManager.default.fileExists(atPath: dir.file("b")), "the databases are removed")
        let bad = try runCommand(vigil, ["bench", "index", "--layout", "columns"])
        #expect(bad.status != 0 && bad.stderr.contains("--layout"), "\(bad.stderr)")
        let badDays = try runCommand(vigil, ["bench", "index", "--days", "0"])
        #expect(badDays.status != 0 && badDays.stderr.contains("--days"), "\(badDays.stderr)")
    }

    /// Many small block-layout transactions, alerts updated to higher counts as suppression
    /// merges do, and glibc filling freed memory (`MALLOC_PERTURB_`): every block written stays
    /// readable and a rule's alerts are all counted. The writer once bound a block's columns to
    /// its insert as SQLITE_STATIC outside the array's lifetime; optimized builds freed the array
    /// before the step and stored freed memory, and every later query of the index failed.
    @Test func blocksWrittenInSmallBatchesStayReadable() throws {
        let dir = try TemporaryDirectory("vigil-alerts-cli"); defer { dir.remove() }
        let config = try setUp(dir, partitions: 2, batch: 7)
        var lines: [String] = []
        for i in 0..<120 {
            let t = String(format: "2026-03-14T10:%02d:%02dZ", i / 60, i % 60)
            lines.append(alertLine(id: "bf\(i)", rule: "ssh-brute", time: t, severity: 3, source: "172.16.0.\(i)", user: "root"))
            if i % 4 == 3 {
                // A suppression merge: the alert of three lines back, counted again.
                lines.append(alertLine(id: "bf\(i - 3)", rule: "ssh-brute", time: t, severity: 3, count: 2, source: "172.16.0.\(i - 3)", user: "root"))
            }
            if i % 10 == 0 { lines.append(alertLine(id: "ps\(i)", rule: "port-scan", time: t, severity: 1, source: "10.9.0.\(i)", user: nil)) }
        }
        try produce(config, dir, lines)
        let perturb = ["MALLOC_PERTURB_": "165"]
        let idx = try runCommand(vigil, ["index", "--config", config, "--drain"], environment: perturb)
        #expect(idx.status == 0, "\(idx.stderr)")
        #expect(idx.stderr.contains("132 alerts indexed, 30 updated"), "\(idx.stderr)")
        let check = try runCommand(vigil, ["alerts", "check", "--config", config], environment: perturb)
        #expect(check.status == 0 && check.stdout.contains("132 alerts (blocks layout)") && check.stdout.contains("ok"), "\(check.stdout) \(check.stderr)")
        let brute = try runCommand(vigil, ["alerts", "--config", config, "--format", "json", "--limit", "1000", "--rule", "ssh-brute"],
                                   environment: perturb)
        #expect(brute.status == 0, "\(brute.stderr)")
        let ids = brute.lines.compactMap(alertID)
        #expect(Set(ids) == Set((0..<120).map { "bf\($0)" }), "\(ids.count) alerts of the rule: \(brute.stderr)")
    }

    /// `vigil run` with a rule: alerts from the stream stage land in the index, suppression
    /// merges update one row, and the API serves them when index.http is configured.
    @Test func runIndexesTheRulesAlerts() throws {
        let dir = try TemporaryDirectory("vigil-alerts-cli"); defer { dir.remove() }
        try FileManager.default.createDirectory(atPath: dir.file("rules"), withIntermediateDirectories: true)
        try """
        rules:
          - id: test.root_login
            title: Root login
            severity: high
            match: { user.name: root }
          - id: test.failures
            title: Repeated failures
            description: Three failures from one source within a minute.
            severity: medium
            match: { event.outcome: failure }
            threshold: { group_by: [source.ip], window: 1m, count: 3 }
            suppress: 1h
        """.write(toFile: dir.file("rules/test.yaml"), atomically: true, encoding: .utf8)
        var input = ""
        for i in 0..<40 {
            let user = i % 10 == 0 ? "root" : "u\(i)"
            let t = String(format: "2026-03-14T10:%02d:%02dZ", i * 5 / 60, i * 5 % 60)
            input += #"{"@timestamp":"\#(t)","source":{"ip":"10.1.1.\#(i % 2)"},"user":{"name":"\#(user)"},"event":{"outcome":"failure"}}"# + "\n"
        }
        try input.write(toFile: dir.file("input.jsonl"), atomically: true, encoding: .utf8)
        let config = dir.file("vigil.yaml")
        try """
        data_dir: data
        topics:
          events: { partitions: 2 }
        sensors:
          - { name: sample, type: jsonl, path: input.jsonl, key_field: source.ip }
        rules: { dir: rules }
        """.write(toFile: config, atomically: true, encoding: .utf8)
        let run = try runCommand(vigil, ["run", "--config", config, "--quiet"])
        #expect(run.status == 0, "\(run.stderr)")
        let all = try runCommand(vigil, ["alerts", "--config", config, "--format", "json", "--limit", "1000"])
        let objects = all.lines.compactMap(json)
        let rules = objects.compactMap { ($0["rule"] as? [String: Any])?["id"] as? String }
        #expect(rules.filter { $0 == "test.root_login" }.count == 4, "\(rules)")
        let failures = objects.filter { ($0["rule"] as? [String: Any])?["id"] as? String == "test.failures" }
        #expect(!failures.isEmpty)
        // One row per alert id, however often suppression merged into it.
        let failureIDs = failures.compactMap { (($0["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["id"] as? String }
        #expect(Set(failureIDs).count == failureIDs.count)
        let counts = failures.compactMap { (($0["vigil"] as? [String: Any])?["alert"] as? [String: Any])?["count"] as? Int }
        #expect(counts.contains { $0 > 1 }, "suppression merges raise the count: \(counts)")
        // Same as the topic: the latest count of each id.
        let tail = try runCommand(vigil, ["topics", "tail", "alerts", "--config", config])
        var latest: [String: Int] = [:]
        for line in tail.lines {
            guard let v = json(line)?["value"] as? [String: Any], let a = (v["vigil"] as? [String: Any])?["alert"] as? [String: Any],
                  let id = a["id"] as? String, let c = a["count"] as? Int else { continue }
            latest[id] = max(latest[id] ?? 0, c)
        }
        #expect(latest.count == objects.count)
        for o in failures {
            let a = (o["vigil"] as? [String: Any])?["alert"] as? [String: Any]
            #expect(latest[a?["id"] as? String ?? ""] == a?["count"] as? Int)
        }
        let show = try runCommand(vigil, ["alerts", "show", failureIDs[0], "--config", config])
        #expect(show.stdout.contains("Repeated failures") && show.stdout.contains("event.outcome"), "\(show.stdout)")
    }
}
