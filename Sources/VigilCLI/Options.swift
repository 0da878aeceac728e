import ArgumentParser
import Foundation
import VigilBroker

/// Where the data directory is: `--data`, else `VIGIL_DATA_DIR`, else `./vigil-data`.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: ArgumentHelp("The data directory holding topics and groups.", valueName: "DIR"))
    var dataDirectory: String?

    var resolvedDataDirectory: String {
        dataDirectory ?? ProcessInfo.processInfo.environment["VIGIL_DATA_DIR"] ?? "./vigil-data"
    }

    /// Opens the log for reading and administration (creates nothing).
    func openExisting() throws -> EmbeddedLog {
        try EmbeddedLog(readingFrom: resolvedDataDirectory)
    }

    /// Opens the log for writing (creates the directory if missing).
    func open(configuration: LogConfiguration = LogConfiguration()) throws -> EmbeddedLog {
        try EmbeddedLog(dataDirectory: resolvedDataDirectory, configuration: configuration)
    }
}

enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case text, json
}

/// Parses `earliest`, `latest`, an offset, an RFC 3339 time or a relative age like `15m`.
func parseStartPosition(_ text: String) throws -> StartPosition {
    switch text {
    case "earliest": return .earliest
    case "latest": return .latest
    default:
        if let offset = Int64(text), offset >= 0 { return .offset(offset) }
        if let age = parseAge(text) { return .timestamp(nowNanoseconds() - age) }
        if let t = parseRFC3339(text) { return .timestamp(t) }
        throw ValidationError("--from must be earliest, latest, an offset, a time (2026-11-25T10:00:00Z) or an age (15m, 2h, 1d); got '\(text)'")
    }
}

func nowNanoseconds() -> Int64 {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
}

/// `15s`, `10m`, `2h`, `1d` → nanoseconds.
func parseAge(_ text: String) -> Int64? {
    guard let unit = text.last, let n = Int64(text.dropLast()), n >= 0 else { return nil }
    switch unit {
    case "s": return n * 1_000_000_000
    case "m": return n * 60_000_000_000
    case "h": return n * 3_600_000_000_000
    case "d": return n * 86_400_000_000_000
    default: return nil
    }
}

func parseRFC3339(_ text: String) -> Int64? {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1e9) }
    f.formatOptions = [.withInternetDateTime]
    if let d = f.date(from: text) { return Int64(d.timeIntervalSince1970 * 1e9) }
    return nil
}

/// Writes to stderr.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
