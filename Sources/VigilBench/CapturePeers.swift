import Foundation

/// The peers `vigil bench capture` runs on the same input in the same run: packets per second of
/// `tcpdump -r FILE -w /dev/null` (libpcap's raw read rate), of tshark printing the same fields
/// Vigil extracts, and of softflowd building flows (exporting NetFlow to 127.0.0.1 only).
public enum CapturePeers {
    /// One peer's measurement; nil rate when the tool is not installed (with the reason).
    public struct Measurement: Sendable {
        public var tool: String
        public var command: String
        public var seconds: Double?
        public var note: String?
    }

    /// The fields tshark prints: the same ones Vigil's records carry (5-tuple, DNS query, HTTP
    /// request line and host, TLS SNI).
    public static let tsharkFields = [
        "frame.time_epoch", "ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport",
        "dns.qry.name", "http.request.method", "http.host", "http.request.uri", "tls.handshake.extensions_server_name",
    ]

    public static func tcpdump(_ file: String) -> Measurement {
        run("tcpdump", ["/usr/bin/tcpdump", "/usr/sbin/tcpdump"], ["-r", file, "-w", "/dev/null"])
    }

    public static func tshark(_ file: String) -> Measurement {
        var arguments = ["-n", "-r", file, "-T", "fields"]
        for f in tsharkFields { arguments += ["-e", f] }
        return run("tshark", ["/usr/bin/tshark"], arguments)
    }

    /// softflowd reading the file and exporting NetFlow v9 to 127.0.0.1 (nothing else).
    public static func softflowd(_ file: String) -> Measurement {
        run("softflowd", ["/usr/sbin/softflowd", "/usr/bin/softflowd"], ["-d", "-r", file, "-n", "127.0.0.1:9995", "-v", "9"])
    }

    private static func run(_ tool: String, _ candidates: [String], _ arguments: [String]) -> Measurement {
        guard let path = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0) }) else {
            return Measurement(tool: tool, command: tool, seconds: nil, note: "\(tool) is not installed (scripts/install-deps.sh installs it)")
        }
        let command = ([path] + arguments).joined(separator: " ")
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        let t = BenchClock.now()
        do { try p.run() } catch {
            return Measurement(tool: tool, command: command, seconds: nil, note: "cannot run \(tool): \(error)")
        }
        p.waitUntilExit()
        let seconds = BenchClock.now() - t
        guard p.terminationStatus == 0 else {
            return Measurement(tool: tool, command: command, seconds: nil, note: "\(tool) exited with status \(p.terminationStatus)")
        }
        return Measurement(tool: tool, command: command, seconds: seconds, note: nil)
    }
}
