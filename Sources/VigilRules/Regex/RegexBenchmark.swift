/// Match throughput of `LinearRegex` on log-like lines, with and without the prefilters.
public enum RegexBenchmark {
    public struct Result: Sendable, CustomStringConvertible {
        public var pattern: String
        /// Which prefilters apply (`literal "…"`, `first bytes N`, `anchored`).
        public var prefilter: String
        public var instructions: Int
        /// Lines matched (of `lines`).
        public var matched: Int
        public var lines: Int
        /// Input megabytes (10^6 bytes) per second with the prefilters, and with the NFA alone.
        public var megabytesPerSecond: Double
        public var nfaOnlyMegabytesPerSecond: Double

        public var description: String {
            func f(_ v: Double) -> String { String(Int(v.rounded())) }
            return "\(pattern)  [\(prefilter); \(instructions) instructions]  matched \(matched)/\(lines)  "
                + "\(f(megabytesPerSecond)) MB/s (NFA alone \(f(nfaOnlyMegabytesPerSecond)) MB/s)"
        }
    }

    /// The default patterns: Sigma-like rules over process command lines and auth logs.
    public static let defaultPatterns: [String] = [
        "cmd\\.exe",
        "(?i)powershell.*-enc(odedcommand)?\\s",
        "\\b(?:\\d{1,3}\\.){3}\\d{1,3}\\b",
        "Failed password for (invalid user )?\\w+ from",
        "^[A-Z][a-z]{2} [ 0-9]\\d ",
        "(?i)(mimikatz|sekurlsa|lsadump)",
        "[a-f0-9]{32}",
        "(x+x+)+y",
    ]

    /// Log-like lines (about 90 bytes each): sshd, a Windows process creation, web access.
    public static func sampleLines(count: Int) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        lines.reserveCapacity(count)
        var state: UInt64 = 0x1234_5678
        func next() -> Int {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int(truncatingIfNeeded: state >> 33)
        }
        for k in 0..<count {
            let ip = "10.\(next() % 256).\(next() % 256).\(next() % 256)"
            let line: String
            switch k % 4 {
            case 0: line = "Mar \(10 + next() % 18) 12:0\(next() % 10):1\(next() % 10) host sshd[\(next() % 90000)]: Failed password for root from \(ip) port \(next() % 65536) ssh2"
            case 1: line = "EventID=4688 NewProcessName=C:\\Windows\\System32\\svchost.exe CommandLine=\"svchost -k netsvcs -p\" User=SYSTEM"
            case 2: line = "\(ip) - - [10/Mar/2026:12:00:00 +0000] \"GET /index.html?id=\(next() % 1000) HTTP/1.1\" 200 \(next() % 5000) \"-\" \"Mozilla/5.0\""
            default: line = "EventID=4688 NewProcessName=C:\\Windows\\System32\\cmd.exe CommandLine=\"cmd /c whoami /all\" User=alice"
            }
            lines.append(Array(line.utf8))
        }
        return lines
    }

    /// Matches every pattern against `lineCount` sample lines, `rounds` times, and reports the
    /// throughput (wall clock). Patterns that do not compile are skipped.
    public static func run(patterns: [String] = defaultPatterns, lineCount: Int = 20_000, rounds: Int = 3) -> [Result] {
        let lines = sampleLines(count: lineCount)
        let bytes = lines.reduce(0) { $0 + $1.count } * rounds
        let clock = ContinuousClock()
        var results: [Result] = []
        for pattern in patterns {
            guard let re = try? LinearRegex(pattern) else { continue }
            var matched = 0
            let start = clock.now
            for _ in 0..<rounds {
                matched = 0
                for line in lines where line.withUnsafeBytes({ re.matches($0) }) { matched += 1 }
            }
            let prefiltered = clock.now - start
            let nfaStart = clock.now
            for _ in 0..<rounds {
                for line in lines { _ = line.withUnsafeBytes { re.matchCountingSteps($0, prefilter: false) } }
            }
            let nfaOnly = clock.now - nfaStart
            func rate(_ d: Duration) -> Double {
                let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
                return seconds > 0 ? Double(bytes) / 1e6 / seconds : 0
            }
            results.append(Result(pattern: pattern, prefilter: re.prefilterSummary, instructions: re.instructionCount,
                                  matched: matched, lines: lines.count, megabytesPerSecond: rate(prefiltered),
                                  nfaOnlyMegabytesPerSecond: rate(nfaOnly)))
        }
        return results
    }
}
