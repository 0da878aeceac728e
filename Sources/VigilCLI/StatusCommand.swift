import ArgumentParser
import Foundation
import VigilPipeline

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Print a one-screen health summary of a pipeline; exit 1 when something is wrong.",
        discussion: """
            Reads the data directory (topics, the stream group's lag, checkpoint ages, the alert index) and, \
            when the pipeline runs, its /metrics endpoint (capture drops, parse errors, alerts). Unhealthy: \
            no running process, a checkpoint older than --max-checkpoint-age, lag above --max-lag and \
            growing between two samples --interval apart, or capture drops between the samples. The \
            reasons are printed last.
            """)
    @Option(help: ArgumentHelp("The configuration file.", valueName: "FILE")) var config: String = "deploy/vigil.yaml"
    @Option(help: "Output format.") var format: OutputFormat = .text
    @Option(help: ArgumentHelp("Seconds between the two samples of lag and drops (0: one sample).", valueName: "SECONDS"))
    var interval: Double = 1
    @Option(help: ArgumentHelp("Stale checkpoint limit in seconds (default: 3 × stream.checkpoint_interval, at least 30).", valueName: "SECONDS"))
    var maxCheckpointAge: Double?
    @Option(help: ArgumentHelp("Lag (records) above which growth is a problem.", valueName: "RECORDS")) var maxLag: Int64 = 10_000

    func validate() throws {
        if !(0...60).contains(interval) { throw ValidationError("--interval must be 0 to 60 seconds; got \(interval)") }
        if let maxCheckpointAge, maxCheckpointAge <= 0 { throw ValidationError("--max-checkpoint-age must be positive") }
        if maxLag < 0 { throw ValidationError("--max-lag must be at least 0") }
    }

    func run() throws {
        let configuration = try VigilConfiguration.load(path: config)
        var limits = HealthLimits.defaults(for: configuration)
        limits.sampleInterval = interval
        limits.maxLag = maxLag
        if let maxCheckpointAge { limits.maxCheckpointAge = maxCheckpointAge }
        let report = HealthReport.check(configuration, limits: limits)
        if format == .json { printJSON(report) } else { printText(report) }
        if !report.healthy { throw ExitCode(1) }
    }

    func printText(_ r: HealthReport) {
        print("vigil status: \(r.healthy ? "HEALTHY" : "UNHEALTHY") — data \(r.dataDirectory)")
        if r.processes.isEmpty {
            print("pipeline: " + (r.running ? "endpoint answering at \(r.endpoint!.address)" : "not running"))
        } else {
            for p in r.processes {
                let up = Int(Date().timeIntervalSince1970 - p.started)
                print("pipeline: \(p.role) pid \(p.pid), up \(formatSeconds(Double(up)))" + (p.metrics.map { ", metrics http://\($0)/metrics" } ?? ""))
            }
        }
        if !r.topics.isEmpty {
            print("")
            printTable(header: ["TOPIC", "PARTITIONS", "RECORDS", "SIZE"],
                       rows: r.topics.map { [$0.name, "\($0.partitions)", "\($0.records)", formatBytes($0.bytes)] })
        }
        if !r.lag.isEmpty {
            print("")
            let ages = Dictionary(r.checkpoints.map { ("\($0.topic)/\($0.partition)", $0.ageSeconds) }, uniquingKeysWith: { a, _ in a })
            printTable(header: ["GROUP \(r.group)", "PARTITION", "COMMITTED", "END", "LAG", "CHECKPOINT AGE"],
                       rows: r.lag.map { l in
                           [l.topicPartition.topic, "\(l.topicPartition.partition)", l.committed.map(String.init) ?? "-", "\(l.end)", "\(l.lag)",
                            ages["\(l.topicPartition.topic)/\(l.topicPartition.partition)"].map(formatSeconds) ?? "-"]
                       })
        }
        print("")
        if let a = r.alertIndex {
            print("alert index: \(formatBytes(a.bytes)), last written \(formatSeconds(Date().timeIntervalSince(a.modified))) ago (\(a.path))")
        } else {
            print("alert index: none yet")
        }
        if !r.metrics.isEmpty {
            let m = r.metrics
            let alerts = PrometheusTextSample.sum(m, "vigil_alerts_total")
            let kernel = PrometheusTextSample.sum(m, "vigil_capture_packets_dropped_total", where: ["by": "kernel"])
            let iface = PrometheusTextSample.sum(m, "vigil_capture_packets_dropped_total", where: ["by": "interface"])
            print("events: \(Int(PrometheusTextSample.sum(m, "vigil_stage_events_out_total", where: ["stage": "sensor"]))) produced by sensors, "
                + "\(Int(PrometheusTextSample.sum(m, "vigil_stage_events_in_total", where: ["stage": "stream"]))) read by the stream stage, "
                + "\(Int(alerts)) alerts, \(Int(PrometheusTextSample.sum(m, "vigil_stream_late_events_total"))) late events")
            print("capture drops: \(Int(kernel)) by the kernel, \(Int(iface)) by the interface")
            let errors = m.filter { $0.name == "vigil_parse_errors_total" && $0.value > 0 }
            print("parse errors: " + (errors.isEmpty ? "none" : errors.map { "\($0.labels["parser"] ?? "?") (\($0.labels["sensor"] ?? "?")) \(Int($0.value))" }.joined(separator: ", ")))
            if let rss = m.first(where: { $0.name == "vigil_process_resident_memory_bytes" }) {
                print("resident memory: \(formatBytes(Int64(rss.value)))")
            }
        } else if let errors = r.topics.first(where: { $0.name == "errors" }) {
            print("parse errors: \(errors.records) records in the errors topic (run `vigil topics tail errors`)")
        }
        for note in r.notes { print("note: \(note)") }
        if !r.problems.isEmpty {
            print("")
            for p in r.problems { print("problem: \(p)") }
        }
    }

    func printJSON(_ r: HealthReport) {
        var o: [String: Any] = [
            "healthy": r.healthy, "running": r.running, "data_dir": r.dataDirectory, "group": r.group, "problems": r.problems,
            "processes": r.processes.map { ["pid": $0.pid, "role": $0.role, "started": $0.started, "metrics": $0.metrics as Any] },
            "topics": r.topics.map { ["topic": $0.name, "partitions": $0.partitions, "records": $0.records, "bytes": $0.bytes] },
            "lag": r.lag.map { ["topic": $0.topicPartition.topic, "partition": $0.topicPartition.partition, "committed": $0.committed as Any,
                                "end_offset": $0.end, "lag": $0.lag] },
            "checkpoints": r.checkpoints.map { ["topic": $0.topic, "partition": $0.partition, "age_seconds": $0.ageSeconds] },
        ]
        if let a = r.alertIndex { o["alert_index"] = ["path": a.path, "bytes": a.bytes, "modified": a.modified.timeIntervalSince1970] }
        if let e = r.endpoint { o["endpoint"] = ["address": e.address, "answered": e.answered] }
        if !r.metrics.isEmpty {
            o["capture_dropped"] = PrometheusTextSample.sum(r.metrics, "vigil_capture_packets_dropped_total")
            o["alerts"] = PrometheusTextSample.sum(r.metrics, "vigil_alerts_total")
            var parseErrors: [String: Double] = [:]
            for s in r.metrics where s.name == "vigil_parse_errors_total" { parseErrors[s.labels["parser"] ?? "?", default: 0] += s.value }
            o["parse_errors"] = parseErrors
        }
        let data = (try? JSONSerialization.data(withJSONObject: o, options: [.sortedKeys])) ?? Data("{}".utf8)
        print(String(decoding: data, as: UTF8.self))
    }
}

func formatSeconds(_ s: Double) -> String {
    if s < 60 { return String(format: "%.0f s", s) }
    if s < 3600 { return String(format: "%.0f min", s / 60) }
    if s < 86_400 { return String(format: "%.1f h", s / 3600) }
    return String(format: "%.1f d", s / 86_400)
}
