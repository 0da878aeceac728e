import Foundation
import VigilBroker
#if canImport(Glibc)
import Glibc
#endif

/// `vigil status`: a health summary of a pipeline from its data directory and, when it runs, its
/// metrics endpoint.
///
/// Healthy means: a Vigil process holds a run-state file in the data directory (or the
/// configured endpoint answers); no stream checkpoint is older than the limit (the stream stage
/// is checkpointing); the stream group's lag is not above the limit and growing; and the kernel
/// dropped no packets between the two samples. Each failed check is a ``problems`` line.
public struct HealthReport: Sendable {
    public var dataDirectory: String
    public var group: String
    public var topics: [DataDirectoryInspector.TopicSummary] = []
    public var lag: [PartitionLag] = []
    public var checkpoints: [DataDirectoryInspector.Checkpoint] = []
    /// The alert index file: size (with its WAL) and last modification.
    public var alertIndex: (path: String, bytes: Int64, modified: Date)?
    public var processes: [RunStateFile.Contents] = []
    /// The endpoint scraped (from a run-state file or the configuration) and whether it answered.
    public var endpoint: (address: String, answered: Bool)?
    /// Values read from `/metrics` (the last scrape).
    public var metrics: [PrometheusTextSample] = []
    public var problems: [String] = []
    public var notes: [String] = []

    public var healthy: Bool { problems.isEmpty }
    public var running: Bool { !processes.isEmpty || endpoint?.answered == true }
}

/// Limits of the health checks.
public struct HealthLimits: Sendable {
    /// A checkpoint older than this (seconds) while the pipeline runs is stale.
    public var maxCheckpointAge: Double
    /// Lag (records) above which growth between the samples is a problem.
    public var maxLag: Int64 = 10_000
    /// Seconds between the two samples of lag and capture drops (0: one sample, no growth checks).
    public var sampleInterval: Double = 1

    public init(maxCheckpointAge: Double, maxLag: Int64 = 10_000, sampleInterval: Double = 1) {
        self.maxCheckpointAge = maxCheckpointAge
        self.maxLag = maxLag
        self.sampleInterval = sampleInterval
    }

    /// Three checkpoint intervals, at least 30 s.
    public static func defaults(for configuration: VigilConfiguration) -> HealthLimits {
        HealthLimits(maxCheckpointAge: max(30, 3 * Double(configuration.stream.checkpointInterval.nanosecondsClamped) / 1e9))
    }
}

extension HealthReport {
    /// `/metrics` at `address`, parsed; nil when it does not answer or is not the text format.
    static func scrape(_ address: String) -> [PrometheusTextSample]? {
        guard let text = try? MetricsClient.get(address: address, path: "/metrics", timeout: 2) else { return nil }
        return PrometheusTextSample.parse(text)
    }

    /// Inspects the pipeline `configuration` describes.
    public static func check(_ configuration: VigilConfiguration, limits: HealthLimits, now: () -> Date = Date.init) -> HealthReport {
        let dataDirectory = configuration.dataDirectory
        let group = configuration.stream.group
        var report = HealthReport(dataDirectory: dataDirectory, group: group)
        let inspector = DataDirectoryInspector(dataDirectory: dataDirectory)
        guard FileManager.default.fileExists(atPath: dataDirectory) else {
            report.problems.append("the data directory \(dataDirectory) does not exist: the pipeline never ran with this configuration")
            return report
        }
        do { report.topics = try inspector.topics() } catch {
            report.problems.append("cannot read the topics in \(dataDirectory): \(error)")
        }
        let input = "events"
        let hasInput = report.topics.contains { $0.name == input }
        let firstLag = hasInput ? (try? inspector.lag(group: group, topics: [input])) ?? [] : []
        report.processes = RunStateFile.running(dataDirectory: dataDirectory)
        let address = report.processes.compactMap(\.metrics).first ?? configuration.metrics.listen
        var firstScrape: [PrometheusTextSample]?
        if let address, !address.hasSuffix(":0") {
            firstScrape = scrape(address)
            report.endpoint = (address, firstScrape != nil)
        }
        if report.running && limits.sampleInterval > 0 {
            usleep(UInt32(limits.sampleInterval * 1e6))
        }
        report.lag = hasInput && report.running && limits.sampleInterval > 0 ? (try? inspector.lag(group: group, topics: [input])) ?? firstLag : firstLag
        if let address = report.endpoint?.address, firstScrape != nil {
            report.metrics = scrape(address) ?? firstScrape!
        }
        report.checkpoints = inspector.checkpoints(group: group, now: now())
        if let info = DataDirectoryInspector.fileInfo(configuration.index.path) {
            report.alertIndex = (configuration.index.path, info.bytes, info.modified)
        }

        // The checks.
        guard report.running else {
            report.problems.append("the pipeline is not running: no live process in \(dataDirectory)/run"
                + (report.endpoint.map { " and nothing answers at http://\($0.address)/metrics" } ?? ""))
            return report
        }
        if let endpoint = report.endpoint, !endpoint.answered {
            report.problems.append("the metrics endpoint http://\(endpoint.address)/metrics does not answer")
        }
        let started = report.processes.map(\.started).min().map { Date(timeIntervalSince1970: $0) } ?? now()
        let upFor = now().timeIntervalSince(started)
        let streamRuns = report.processes.isEmpty || report.processes.contains { $0.role == "run" || $0.role == "stream" }
        if streamRuns && upFor > limits.maxCheckpointAge {
            for c in report.checkpoints where c.topic == input && c.ageSeconds > limits.maxCheckpointAge {
                report.problems.append("checkpoint \(c.topic)/\(c.partition) is \(Int(c.ageSeconds)) s old (limit \(Int(limits.maxCheckpointAge)) s): the stream stage is stuck or not checkpointing")
            }
            let checkpointed = Set(report.checkpoints.filter { $0.topic == input }.map(\.partition))
            for l in report.lag where !checkpointed.contains(l.topicPartition.partition) {
                report.problems.append("no checkpoint of \(input)/\(l.topicPartition.partition) after \(Int(upFor)) s up (limit \(Int(limits.maxCheckpointAge)) s): the stream stage is stuck or not checkpointing")
            }
        }
        let before = firstLag.reduce(0) { $0 + $1.lag }, after = report.lag.reduce(0) { $0 + $1.lag }
        if limits.sampleInterval > 0 && after > limits.maxLag && after > before {
            report.problems.append("consumer group \(group) lag on \(input) grew from \(before) to \(after) records in \(limits.sampleInterval) s (limit \(limits.maxLag)): the stream stage falls behind")
        }
        if let first = firstScrape, limits.sampleInterval > 0 {
            let dropsBefore = PrometheusTextSample.sum(first, "vigil_capture_packets_dropped_total")
            let dropsAfter = PrometheusTextSample.sum(report.metrics, "vigil_capture_packets_dropped_total")
            if dropsAfter > dropsBefore {
                report.problems.append("capture dropped \(Int(dropsAfter - dropsBefore)) packets in \(limits.sampleInterval) s: raise buffer_size or narrow the filter")
            }
        }
        return report
    }
}

/// One line of the Prometheus text format: name, labels and value.
public struct PrometheusTextSample: Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    public var value: Double

    /// Parses the text exposition format; nil when a line is malformed.
    public static func parse(_ text: String) -> [PrometheusTextSample]? {
        var result: [PrometheusTextSample] = []
        for raw in text.split(separator: "\n", omittingEmptySubsequences: true) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let sample = parseLine(Substring(line)) else { return nil }
            result.append(sample)
        }
        return result
    }

    static func parseLine(_ line: Substring) -> PrometheusTextSample? {
        var rest = line
        let nameEnd = rest.firstIndex { $0 == "{" || $0 == " " } ?? rest.endIndex
        let name = String(rest[..<nameEnd])
        guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }), !(name.first!.isNumber) else { return nil }
        rest = rest[nameEnd...]
        var labels: [String: String] = [:]
        if rest.first == "{" {
            rest = rest.dropFirst()
            while rest.first != "}" {
                guard let eq = rest.firstIndex(of: "=") else { return nil }
                let key = String(rest[..<eq]).trimmingCharacters(in: .whitespaces)
                rest = rest[rest.index(after: eq)...]
                guard rest.first == "\"" else { return nil }
                rest = rest.dropFirst()
                var value = ""
                var escaped = false
                while let c = rest.first {
                    rest = rest.dropFirst()
                    if escaped {
                        value.append(c == "n" ? "\n" : c)
                        escaped = false
                    } else if c == "\\" {
                        escaped = true
                    } else if c == "\"" {
                        break
                    } else {
                        value.append(c)
                    }
                }
                labels[key] = value
                if rest.first == "," { rest = rest.dropFirst() }
                guard !rest.isEmpty else { return nil }
            }
            rest = rest.dropFirst()
        }
        let fields = rest.split(separator: " ")
        guard let first = fields.first, fields.count <= 2 else { return nil }
        let value: Double
        switch first {
        case "+Inf": value = .infinity
        case "-Inf": value = -.infinity
        case "NaN": value = .nan
        default:
            guard let v = Double(first) else { return nil }
            value = v
        }
        return PrometheusTextSample(name: name, labels: labels, value: value)
    }

    /// The sum of a metric over its label sets, optionally only those matching `where`.
    public static func sum(_ samples: [PrometheusTextSample], _ name: String, where match: [String: String] = [:]) -> Double {
        samples.filter { s in s.name == name && match.allSatisfy { s.labels[$0.key] == $0.value } }.reduce(0) { $0 + $1.value }
    }
}

/// A minimal blocking HTTP/1.1 GET over TCP, for `vigil status` reading `/metrics`.
public enum MetricsClient {
    /// The body of `GET path` at `address` (`host:port`); throws when it cannot connect, times out or gets a non-200.
    public static func get(address: String, path: String, timeout: Double) throws -> String {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw PipelineError("invalid address \(address)")
        }
        var host = String(address[..<colon])
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        if host == "0.0.0.0" { host = "127.0.0.1" } else if host == "::" { host = "::1" }
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var info: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &info) == 0, let first = info else {
            throw PipelineError("cannot resolve \(host)")
        }
        defer { freeaddrinfo(info) }
        let fd = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw PipelineError("socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        guard connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            throw PipelineError("cannot connect to \(address): \(String(cString: strerror(errno)))")
        }
        let request = Array("GET \(path) HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else {
            throw PipelineError("cannot send to \(address)")
        }
        var response: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw PipelineError("reading from \(address): \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            response += chunk[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let split = text.range(of: "\r\n\r\n") else { throw PipelineError("\(address) sent no HTTP response") }
        let status = text[..<split.lowerBound].split(separator: "\r\n").first ?? ""
        guard status.split(separator: " ").dropFirst().first == "200" else { throw PipelineError("\(address)\(path): \(status)") }
        return String(text[split.upperBound...])
    }
}
