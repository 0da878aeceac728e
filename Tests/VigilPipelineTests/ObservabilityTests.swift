import Foundation
import Logging
import Testing
import VigilPipeline
import VigilTestSupport
import VigilYAML

private func parse(_ yaml: String) throws -> VigilConfiguration {
    try VigilConfiguration.parse(yaml: yaml, file: "/etc/vigil/vigil.yaml")
}

@Suite struct ObservabilityConfigurationTests {
    @Test func defaults() throws {
        let c = try parse("{}\n")
        #expect(c.metrics.listen == "127.0.0.1:9464")
        #expect(c.logLevel == .info)
        #expect(c.logFormat == .logfmt)
    }

    @Test func metricsListen() throws {
        #expect(try parse("metrics: { listen: 0.0.0.0:9100 }\n").metrics.listen == "0.0.0.0:9100")
        #expect(try parse("metrics: { listen: '[::1]:9100' }\n").metrics.listen == "[::1]:9100")
        #expect(try parse("metrics: { listen: 127.0.0.1:0 }\n").metrics.listen == "127.0.0.1:0")
        #expect(try parse("metrics: { listen: off }\n").metrics.listen == nil)
        #expect(try parse("metrics: { listen: null }\n").metrics.listen == nil)
        #expect(try parse("metrics:\n").metrics.listen == "127.0.0.1:9464")
        expectError("/etc/vigil/vigil.yaml:1:20: metrics.listen: invalid address 'localhost' (expected host:port, such as 127.0.0.1:9464, or off)") {
            try parse("metrics: { listen: localhost }\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:20: metrics.listen: expected a string, found integer 9464 (quote it if you mean the string \"9464\")") {
            try parse("metrics: { listen: 9464 }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:11: metrics.listen: invalid address 'localhost:99999' (expected host:port, such as 127.0.0.1:9464, or off)") {
            try parse("metrics:\n  listen: localhost:99999\n")
        }
        expectError("/etc/vigil/vigil.yaml:1:12: unknown key 'port' in metrics (expected one of: listen)") {
            try parse("metrics: { port: 9 }\n")
        }
    }

    @Test func logSection() throws {
        let c = try parse("log: { level: debug, format: json }\n")
        #expect(c.logLevel == .debug)
        #expect(c.logFormat == .json)
        #expect(try parse("log_level: error\n").logLevel == .error)
        expectError("/etc/vigil/vigil.yaml:1:30: log.format: invalid value 'text' (expected one of: logfmt, json)") {
            try parse("log: { level: debug, format: text }\n")
        }
        expectError("/etc/vigil/vigil.yaml:2:15: log.level: log_level (at 1:12) sets the level too; keep one of them") {
            try parse("log_level: info\nlog: { level: debug }\n")
        }
    }

    @Test(arguments: ["sensor.yaml", "stream.yaml", "indexer.yaml"])
    func multiHostExamplesLoad(file: String) throws {
        let c = try VigilConfiguration.load(path: repositoryRoot() + "/deploy/multi-host/" + file)
        #expect(c.broker.kind == .kafka)
        #expect(c.broker.kafka?.bootstrapServers.count == 3)
        #expect(c.metrics.listen == "0.0.0.0:9464")
        #expect(c.logFormat == .json)
        #expect(c.topic(named: "events")?.partitions == 12)
    }

    @Test func singleNodeExampleLoads() throws {
        let c = try VigilConfiguration.load(path: repositoryRoot() + "/deploy/single-node.yaml")
        #expect(c.dataDirectory == "/var/lib/vigil")
        #expect(c.metrics.listen == "127.0.0.1:9464")
        #expect(c.sensors.count == 2)
    }
}

@Suite struct LogFormatTests {
    let time = Date(timeIntervalSince1970: 1_764_064_800.123)  // 2025-11-25T10:00:00.123Z

    @Test func logfmtQuotesWhatNeedsIt() {
        let line = VigilLogHandler.format(.logfmt, time: time, level: .warning, label: "vigil.run",
                                          message: #"sensor a: rejected "x=1"\ok"#,
                                          metadata: ["sensor": "a", "path": "/var/log/a b.log", "n": "3", "empty": "", "bad key": "v\nw"])
        #expect(line == #"ts=2025-11-25T10:00:00.123Z level=warning logger=vigil.run msg="sensor a: rejected \"x=1\"\\ok" bad_key="v\nw" empty="" n=3 path="/var/log/a b.log" sensor=a"# + "\n")
    }

    @Test func jsonIsOneObjectPerLine() throws {
        let line = VigilLogHandler.format(.json, time: time, level: .error, label: "vigil.stream",
                                          message: "tab\there \"quoted\" \u{01}", metadata: ["sensor": "s", "msg": "ignored"])
        #expect(line.hasSuffix("}\n"))
        #expect(line.filter { $0 == "\n" }.count == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
        #expect(object == ["ts": "2025-11-25T10:00:00.123Z", "level": "error", "logger": "vigil.stream",
                           "msg": "tab\there \"quoted\" \u{01}", "sensor": "s"])
    }

    @Test func handlerWritesThroughItsSinkAboveItsLevel() {
        let lines = LinesBox()
        var logger = Logger(label: "t") { label in
            VigilLogHandler(label: label, format: .logfmt, level: .info, sink: LogSink { lines.append($0) })
        }
        logger[metadataKey: "role"] = "run"
        logger.debug("hidden")
        logger.info("shown", metadata: ["k": "v"])
        #expect(lines.all.count == 1)
        #expect(lines.all.first?.contains(#"level=info logger=t msg=shown k=v role=run"#) == true)
    }

    @Test(arguments: [
        ("sensor wire stopped: permission denied", Logger.Level.error),
        ("metrics endpoint failed: address in use; running without it", .error),
        ("sensor auth: rejected a line: syslog: no timestamp", .warning),
        ("events/2: recovered: cut 10 bytes of damage", .warning),
        ("sensor syslog: listening on udp://127.0.0.1:5514", .info),
    ])
    func reportLineLevels(line: String, level: Logger.Level) {
        #expect(VigilLogging.level(of: line) == level)
    }
}

/// `@unchecked Sendable`: `lock` guards `lines`.
final class LinesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var lines: [String] = []
    func append(_ line: String) { lock.withLock { lines.append(line) } }
    var all: [String] { lock.withLock { lines } }
}

@Suite struct PrometheusTextTests {
    @Test func exporterOutputParsesAndCountersStayMonotonic() throws {
        let exporter = MetricsExporter.shared
        let name = "vigil_test_exporter_\(UInt32.random(in: 0...UInt32.max))_total"
        let box = LinesBox()  // counts calls through its line count
        let first = exporter.add { s in
            box.append("x")
            s.counter(name, "A test counter", ["k": "a b\"c"], Int64(box.all.count) * 10)
        }
        let text1 = exporter.scrape()
        let samples1 = try #require(PrometheusTextSample.parse(text1))
        #expect(PrometheusTextSample.sum(samples1, name, where: ["k": "a b\"c"]) == 10)
        #expect(text1.contains("# TYPE \(name) counter"))
        #expect(text1.contains("# HELP \(name) A test counter"))
        // Removing the collector reads it once more and keeps that total.
        exporter.remove(first)
        let samples2 = try #require(PrometheusTextSample.parse(exporter.scrape()))
        #expect(PrometheusTextSample.sum(samples2, name) == 20)
        // A second source of the same series adds to it.
        let second = exporter.add { s in s.counter(name, "A test counter", ["k": "a b\"c"], 5) }
        defer { exporter.remove(second) }
        let samples3 = try #require(PrometheusTextSample.parse(exporter.scrape()))
        #expect(PrometheusTextSample.sum(samples3, name) == 25)
    }

    @Test func gaugesThatAreNoLongerReportedDisappear() throws {
        let exporter = MetricsExporter.shared
        let name = "vigil_test_gauge_\(UInt32.random(in: 0...UInt32.max))"
        let token = exporter.add { s in s.gauge(name, "A test gauge", ["partition": "3"], 1.5) }
        #expect(exporter.scrape().contains(#"\#(name){partition="3"} 1.5"#))
        exporter.remove(token)
        #expect(!exporter.scrape().contains(#"\#(name){"#))
    }

    @Test func parserRejectsMalformedLines() {
        #expect(PrometheusTextSample.parse("a_b{x=\"1\"} 2\n# c\nd 3.5 1700000000\n")?.count == 2)
        #expect(PrometheusTextSample.parse("a_b{x=\"1\" 2\n") == nil)
        #expect(PrometheusTextSample.parse("a_b{x=1} 2\n") == nil)
        #expect(PrometheusTextSample.parse("9ab 2\n") == nil)
        #expect(PrometheusTextSample.parse("ab two\n") == nil)
    }

    @Test func endpointServesMetricsAndRefusesOtherPaths() throws {
        let endpoint = try MetricsEndpoint(listen: "127.0.0.1:0")
        defer { endpoint.stop() }
        #expect(!endpoint.boundAddress.hasSuffix(":0"))
        let text = try MetricsClient.get(address: endpoint.boundAddress, path: "/metrics", timeout: 5)
        #expect(PrometheusTextSample.parse(text) != nil)
        #expect(try MetricsClient.get(address: endpoint.boundAddress, path: "/healthz", timeout: 5) == "ok\n")
        #expect(throws: (any Error).self) { try MetricsClient.get(address: endpoint.boundAddress, path: "/nope", timeout: 5) }
        // The same address twice: a clear error naming it.
        do {
            _ = try MetricsEndpoint(listen: endpoint.boundAddress)
            Issue.record("a second endpoint bound \(endpoint.boundAddress)")
        } catch {
            #expect("\(error)".contains("metrics.listen: cannot listen on \(endpoint.boundAddress)"))
        }
    }
}
