import ArgumentParser
import Foundation
import VigilBroker
import VigilCore
import VigilPipeline
import VigilYAML

/// Where the data directory is: `--data`, else `data_dir` of `--config`, else `VIGIL_DATA_DIR`,
/// else `./vigil-data`.
struct DataOptions: ParsableArguments {
    @Option(name: .customLong("data"), help: ArgumentHelp("The data directory holding topics and groups.", valueName: "DIR"))
    var dataDirectory: String?

    @Option(name: .customLong("config"), help: ArgumentHelp("A vigil.yaml whose data_dir and broker settings to use.", valueName: "FILE"))
    var configPath: String?

    /// The configuration named by `--config`, if any.
    func configuration() throws -> VigilConfiguration? {
        guard let configPath else { return nil }
        return try VigilConfiguration.load(path: configPath)
    }

    var resolvedDataDirectory: String {
        if let dataDirectory { return dataDirectory }
        if let config = try? configuration() { return config.dataDirectory }
        return ProcessInfo.processInfo.environment["VIGIL_DATA_DIR"] ?? "./vigil-data"
    }

    func validate() throws {
        if dataDirectory == nil { _ = try configuration() }  // report config errors up front
    }

    /// Opens the log for reading and administration (creates nothing).
    func openExisting() throws -> EmbeddedLog {
        try EmbeddedLog(readingFrom: resolvedDataDirectory)
    }

    /// Opens the log for writing (creates the directory if missing), with the configuration's
    /// log settings when `--config` is given.
    func open() throws -> EmbeddedLog {
        let config = try configuration()
        let log = try EmbeddedLog(dataDirectory: resolvedDataDirectory, configuration: config?.broker.embedded ?? LogConfiguration())
        // The configured topics, with their partition counts, before anything creates them by default.
        if let config { try Pipeline.createTopics(of: config, in: log) }
        return log
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

func nowNanoseconds() -> Int64 { Timestamp.now().nanoseconds }

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
    Timestamp(rfc3339: text)?.nanoseconds
}

/// Writes to stderr.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
