import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The input of `vigil bench e2e`: sshd lines in RFC 3164 syslog, a known set of attacker
/// addresses sending exactly ten failed passwords each (the shipped `vigil.ssh.brute_force` rule
/// raises one alert per attacker at the tenth), and benign lines that raise nothing: successful
/// logins, disconnects and PAM session lines from their own address pools, and failed passwords
/// from addresses that fail at most three times (below every SSH rule's threshold) for one user.
struct SSHLineGenerator {
    static let users = ["alice", "bob", "carol", "deploy", "git", "oracle", "postgres", "ubuntu", "www-data", "admin"]
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// Failed passwords of benign sources so far (each source fails three times).
    private var benignFailures = 0
    private var benign = 0

    /// The RFC 3164 prefix for `seconds` since the epoch (UTC), up to the message.
    static func prefix(epochSeconds: Int, host: Int, pid: Int) -> String {
        var t = time_t(epochSeconds)
        var parts = tm()
        gmtime_r(&t, &parts)
        func two(_ v: Int32) -> String { v < 10 ? "0\(v)" : "\(v)" }
        let day = parts.tm_mday < 10 ? " \(parts.tm_mday)" : "\(parts.tm_mday)"
        return "\(months[Int(parts.tm_mon)]) \(day) \(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)) bastion-\(host) sshd[\(pid)]: "
    }

    /// The address of attacker `n` (0-based): 172.16.0.0/12, away from the benign pools.
    static func attacker(_ n: Int, base: Int = 0) -> String {
        let v = base + n
        return "172.\(16 + (v >> 16) & 15).\((v >> 8) & 255).\(v & 255)"
    }

    static func attackLine(prefix: String, attacker: String, attempt: Int) -> String {
        prefix + "Failed password for root from \(attacker) port \(40_000 + attempt) ssh2"
    }

    /// The next benign line.
    mutating func benignLine(prefix: String) -> String {
        let b = benign
        benign += 1
        let user = Self.users[b % Self.users.count], port = 1024 + (b * 7) % 60_000
        func pool(_ second: Int, _ v: Int) -> String { "10.\(second).\((v >> 8) & 255).\(1 + v % 254)" }
        switch b % 10 {
        case 0, 1, 2:
            return prefix + "Accepted publickey for \(user) from \(pool(1, b / 10)) port \(port) ssh2: RSA SHA256:Xk2f9qvJ3yqP0cdd8eLm4uE1H0qQ7Hk5t0n4c1v2b3Y"
        case 3:
            return prefix + "Accepted password for \(user) from \(pool(2, b / 10)) port \(port) ssh2"
        case 4:
            // A source fails three times, for one user: 10.64.0.0/10, so 4 million sources.
            let source = benignFailures / 3
            benignFailures += 1
            let ip = "10.\(64 + (source >> 16) & 63).\((source >> 8) & 255).\(source & 255)"
            return prefix + "Failed password for \(Self.users[source % Self.users.count]) from \(ip) port \(port) ssh2"
        case 5:
            return prefix + "Connection closed by \(pool(3, b / 10)) port \(port) [preauth]"
        case 6:
            return prefix + "Disconnected from user \(user) \(pool(1, b / 10)) port \(port)"
        case 7:
            return prefix + "Received disconnect from \(pool(4, b / 10)) port \(port):11: disconnected by user"
        case 8:
            return prefix + "pam_unix(sshd:session): session opened for user \(user)(uid=1000) by (uid=0)"
        default:
            return prefix + "pam_unix(sshd:session): session closed for user \(user)"
        }
    }
}

/// A `vigil run` child process with its standard error in a file.
final class PipelineProcess {
    let process = Process()
    let stderrPath: String

    init(executable: String, config: String, stderrPath: String, environment: [String: String]? = nil) throws {
        self.stderrPath = stderrPath
        FileManager.default.createFile(atPath: stderrPath, contents: nil)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = ["run", "--config", config, "--quiet"]
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle(forWritingAtPath: stderrPath)
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    /// The last `bytes` of its standard error (for error messages).
    func stderrTail(_ bytes: Int = 2000) -> String {
        let text = (try? String(contentsOfFile: stderrPath, encoding: .utf8)) ?? ""
        return String(text.suffix(bytes))
    }

    /// SIGTERM, then SIGKILL after `seconds`; the exit status (nil when it had to be killed).
    @discardableResult
    func stop(within seconds: Double = 60) -> Int32? {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        let deadline = BenchClock.now() + seconds
        while process.isRunning && BenchClock.now() < deadline { usleep(50_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return nil
        }
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// Resident set size now (`VmRSS`), bytes; nil once it exited.
    var residentBytes: Int64? { ProcessStats.residentBytes(pid: pid) }

    /// User + system CPU seconds so far.
    var cpuSeconds: Double? { ProcessStats.cpuSeconds(pid: pid) }
}

/// `/proc` readings of a process.
enum ProcessStats {
    static func residentBytes(pid: Int32) -> Int64? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if fields.count >= 2, let kib = Int64(fields[1]) { return kib * 1024 }
        }
        return nil
    }

    /// CPU seconds of each thread of `pid`, summed by thread name (`comm`, at most 15 bytes), so
    /// the stages' threads (`vigil-sensor-…`, `vigil-stream…`, `vigil-index`) show where the time goes.
    static func threadCPU(pid: Int32) -> [String: Double] {
        var result: [String: Double] = [:]
        for task in (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? [] {
            guard let tid = Int32(task), let seconds = cpuSeconds(pid: pid, task: tid),
                  let comm = try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/comm", encoding: .utf8) else { continue }
            // Numbered threads of one pool (NIO-ELT-0-#1, …) count together.
            let name = comm.trimmingCharacters(in: .whitespacesAndNewlines).replacingOccurrences(of: #"[-#]?[0-9]+$"#, with: "", options: .regularExpression)
            result[name, default: 0] += seconds
        }
        return result
    }

    static func cpuSeconds(pid: Int32, task: Int32) -> Double? {
        parseCPU(try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/stat", encoding: .utf8))
    }

    static func cpuSeconds(pid: Int32) -> Double? {
        parseCPU(try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8))
    }

    private static func parseCPU(_ stat: String?) -> Double? {
        guard let stat, let close = stat.lastIndex(of: ")") else { return nil }
        // After "pid (comm) ": state is field 3; utime and stime are fields 14 and 15.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }
}

/// A scrape of a Prometheus text exposition.
struct MetricsScrape {
    /// (name, labels text, value) of each sample.
    var samples: [(name: Substring, labels: Substring, value: Double)] = []

    init(_ text: String) {
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            if let brace = series.firstIndex(of: "{") {
                samples.append((series[..<brace], series[brace...], value))
            } else {
                samples.append((series, "", value))
            }
        }
    }

    /// The sum of `name`'s samples whose labels contain every one of `labels` (`key="value"`).
    func sum(_ name: String, _ labels: String...) -> Double {
        samples.reduce(0) { total, s in
            s.name == name && labels.allSatisfy({ s.labels.contains($0) }) ? total + s.value : total
        }
    }

    /// Whether the exposition has any sample of `name`.
    func has(_ name: String) -> Bool { samples.contains { $0.name == name } }

    /// `GET /metrics` from `address` (`host:port`); nil when it does not answer.
    static func fetch(_ address: String, timeout: Double = 5) -> MetricsScrape? {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else { return nil }
        let host = String(address[..<colon])
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = port.bigEndian
        guard inet_pton(AF_INET, host, &addr.sin_addr) == 1 else { return nil }
        let connected = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET /metrics HTTP/1.1\r\nHost: \(address)\r\nConnection: close\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
        var response = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response.append(contentsOf: buffer[0..<n])
        }
        let text = String(decoding: response, as: UTF8.self)
        guard text.hasPrefix("HTTP/1.1 200"), let body = text.range(of: "\r\n\r\n") else { return nil }
        return MetricsScrape(String(text[body.upperBound...]))
    }
}

/// Writes all of `bytes` to `fd`.
func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
    var done = 0
    while done < bytes.count {
        let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw EndToEndBenchmark.Failure("write failed: \(String(cString: strerror(errno)))")
        }
        done += n
    }
}

/// The wall clock, seconds since the epoch.
func wallSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
