import Foundation
import VigilBroker
import VigilCore
import VigilLogs
import VigilParsers
#if canImport(Glibc)
import Glibc
#endif

/// `vigil bench parse`: lines parsed, normalized and appended per second on one core for
/// sshd-in-syslog, JSON and CEF lines, next to `wc -l` over the same file in the same run.
public struct ParseBenchmark {
    public struct Options: Sendable {
        public var directory: String
        public var parsersDirectory: String
        public var lines = 2_000_000
        /// Only these cases (by name); all when empty.
        public var only: Set<String> = []
        /// Skip the parse + normalize + append measurement (for profiling the parsers alone).
        public var parseOnly = false
        public init(directory: String, parsersDirectory: String) {
            self.directory = directory
            self.parsersDirectory = parsersDirectory
        }
    }

    public struct Case: Sendable {
        public var name: String
        public var parser: String
        public var lines: Int
        public var bytes: Int
        /// Parse + normalize only.
        public var parseLinesPerSecond: Double
        /// Parse + normalize + encode + append to the embedded log (durable at the end, with
        /// appends overlapping the log's fsync).
        public var ingestLinesPerSecond: Double
        /// The share of the ingest time spent in `flush()`, mostly waiting for the log's
        /// interval fsync to acknowledge the batch (0–1).
        public var ingestFlushShare: Double
        public var wcLinesPerSecond: Double
        public var rejected: Int64
    }

    public struct Result: Sendable {
        public var cases: [Case]
        public var cores: Int
    }

    let options: Options
    let progress: (String) -> Void

    public init(options: Options, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    public func run() throws -> Result {
        let root = options.directory
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let registry = try ParserRegistry.load(directory: options.parsersDirectory)
        var cases: [Case] = []
        for (name, parser, generator) in [("sshd-in-syslog", "syslog", Self.sshdLine), ("json", "json", Self.jsonLine), ("cef", "cef", Self.cefLine)] as [(String, String, (Int) -> String)] {
            if !options.only.isEmpty && !options.only.contains(name) { continue }
            let compiled = try registry.require(parser)
            let path = "\(root)/\(name).log"
            progress("\(name): writing \(options.lines) lines…")
            let bytes = try writeInput(path: path, lines: options.lines, generator)
            let input = try Data(contentsOf: URL(fileURLWithPath: path))
            let wc = timeWC(path: path)
            progress("\(name): parse + normalize with '\(parser)'…")
            let parseSeconds = try timeParse(input, parser: compiled)
            if !options.parseOnly { progress("\(name): parse + normalize + append…") }
            let (ingestSeconds, flushSeconds, rejected) = options.parseOnly
                ? (Double.nan, 0, 0) : try timeIngest(input, parser: compiled, directory: "\(root)/log-\(name)")
            cases.append(Case(name: name, parser: parser, lines: options.lines, bytes: bytes,
                              parseLinesPerSecond: Double(options.lines) / parseSeconds,
                              ingestLinesPerSecond: Double(options.lines) / ingestSeconds,
                              ingestFlushShare: flushSeconds / ingestSeconds,
                              wcLinesPerSecond: Double(options.lines) / wc, rejected: rejected))
            try? FileManager.default.removeItem(atPath: path)
        }
        return Result(cases: cases, cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    private func writeInput(path: String, lines: Int, _ generator: (Int) -> String) throws -> Int {
        var out = [UInt8]()
        out.reserveCapacity(lines * 160)
        for i in 0..<lines {
            out.append(contentsOf: generator(i).utf8)
            out.append(0x0A)
        }
        try Data(out).write(to: URL(fileURLWithPath: path))
        return out.count
    }

    /// Times `wc -l FILE`; NaN (reported, not fatal) when `wc` cannot be started, e.g. under
    /// valgrind, whose reserved descriptors make process spawning fail.
    private func timeWC(path: String) -> Double {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/wc")
        p.arguments = ["-l", path]
        p.standardOutput = FileHandle.nullDevice
        let t = BenchClock.now()
        do {
            try p.run()
        } catch {
            progress("wc -l could not be started (\(error)); its figure is left out")
            return .nan
        }
        p.waitUntilExit()
        return BenchClock.now() - t
    }

    /// Splits `input` into lines, calling `body` with each.
    private func eachLine(_ input: Data, _ body: (UnsafeRawBufferPointer) throws -> Void) rethrows {
        try input.withUnsafeBytes { all in
            var start = 0
            let base = all.baseAddress!
            while start < all.count {
                guard let nl = memchr(base + start, 0x0A, all.count - start) else { break }
                let end = base.distance(to: UnsafeRawPointer(nl))
                try body(UnsafeRawBufferPointer(rebasing: all[start..<end]))
                start = end + 1
            }
        }
    }

    private func timeParse(_ input: Data, parser: CompiledParser) throws -> Double {
        let context = ParseContext()
        var failures = 0
        var fields = 0
        let t = BenchClock.now()
        let session = ParserSession(parser: parser)
        eachLine(input) { line in
            do {
                try session.parse(line, context: context) { event in fields &+= event.count }
            } catch {
                failures += 1
            }
        }
        let seconds = BenchClock.now() - t
        if failures > 0 { throw ParseFailure("\(failures) benchmark lines were rejected by \(parser.name)") }
        if fields == 0 { throw ParseFailure("no fields parsed") }
        return seconds
    }

    /// Seconds for the whole ingest, seconds of it spent in `flush()`, lines rejected.
    private func timeIngest(_ input: Data, parser: CompiledParser, directory: String) throws -> (Double, Double, Int64) {
        var config = LogConfiguration()
        config.fsync = .interval(milliseconds: 100)
        config.retentionAgeNanoseconds = nil
        let log = try EmbeddedLog(dataDirectory: directory, configuration: config)
        try log.createTopic("events", partitions: 4)
        try log.createTopic("errors", partitions: 1)
        let counters = IngestCounters()
        let errors = ErrorPublisher(producer: try log.producer(topic: "errors"), rejected: counters.rejected)
        let ingestor = LineIngestor(parser: parser, sensor: "bench", keyField: "source.ip",
                                    producer: try log.producer(topic: "events"), errors: errors, counters: counters)
        var pending = 0
        var flushSeconds = 0.0
        func flush() throws {
            let f = BenchClock.now()
            try ingestor.flush()
            flushSeconds += BenchClock.now() - f
        }
        let t = BenchClock.now()
        // Batches of 16,384 lines are appended as they fill, and parsing goes on while the log's
        // group commit syncs them; every 262,144 lines, and at the end, the ingest waits until
        // everything appended is durable (as a sensor does before it records its position).
        try eachLine(input) { line in
            try ingestor.ingest(line)
            pending += 1
            if pending % 16_384 == 0 { try ingestor.appendBuffered() }
            if pending == 262_144 { try flush(); pending = 0 }
        }
        try flush()
        let seconds = BenchClock.now() - t
        log.close()
        return (seconds, flushSeconds, counters.rejected.count)
    }

    // MARK: Inputs

    static let users = ["root", "admin", "alice", "bob", "oracle", "test", "ubuntu", "git", "postgres", "www-data"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func ip(_ i: Int) -> String { "\(10 + i % 3).\((i / 7) % 256).\((i / 13) % 256).\(1 + i % 254)" }

    static func syslogPrefix(_ i: Int) -> String {
        let day = 1 + i % 28, h = (i / 3600) % 24, m = (i / 60) % 60, s = i % 60
        return "\(months[i % 12]) \(day < 10 ? " " : "")\(day) \(h < 10 ? "0" : "")\(h):\(m < 10 ? "0" : "")\(m):\(s < 10 ? "0" : "")\(s) bastion-\(i % 5) sshd[\(1000 + i % 30_000)]: "
    }

    /// sshd messages in RFC 3164 syslog, in the mix a bastion host sees.
    static func sshdLine(_ i: Int) -> String {
        let user = users[i % users.count], port = 1024 + (i * 7) % 60_000
        switch i % 5 {
        case 0: return syslogPrefix(i) + "Accepted publickey for \(user) from \(ip(i)) port \(port) ssh2: RSA SHA256:Xk2f9qvJ3yqP0cdd8eLm4uE1H0qQ7Hk5t0n4c1v2b3Y"
        case 1: return syslogPrefix(i) + "Failed password for \(user) from \(ip(i)) port \(port) ssh2"
        case 2: return syslogPrefix(i) + "Failed password for invalid user \(user)\(i % 97) from \(ip(i)) port \(port) ssh2"
        case 3: return syslogPrefix(i) + "Invalid user \(user)\(i % 89) from \(ip(i)) port \(port)"
        default: return syslogPrefix(i) + "Connection closed by authenticating user \(user) \(ip(i)) port \(port) [preauth]"
        }
    }

    static func jsonLine(_ i: Int) -> String {
        #"{"@timestamp":"2026-03-14T09:\#(10 + i % 50):\#(10 + i % 49).\#(100 + i % 900)Z","event":{"kind":"event","category":["network"],"dataset":"zeek.dns"},"source":{"ip":"\#(ip(i))","port":\#(1024 + i % 60000)},"destination":{"ip":"10.0.0.53","port":53},"network":{"transport":"udp","protocol":"dns"},"dns":{"question":{"name":"host\#(i % 1000).example.com","type":"A"},"response_code":"NOERROR"}}"#
    }

    static func cefLine(_ i: Int) -> String {
        "CEF:0|Security|threatmanager|1.0|\(100 + i % 50)|worm successfully stopped|\(i % 11)|src=\(ip(i)) dst=10.0.0.\(1 + i % 250) spt=\(1024 + i % 60000) dpt=\(i % 2 == 0 ? 443 : 80) proto=TCP suser=\(users[i % users.count]) act=blocked msg=Detected a threat. No action needed rt=\(1_773_479_527_000 + Int64(i))"
    }
}
