import Foundation
import Logging

/// A swift-log handler writing one line per record, in logfmt or JSON (key `log.format`,
/// `--log-format`): the time (RFC 3339, UTC, milliseconds), the level, the logger's label, the
/// message, then the metadata sorted by key.
///
/// ```
/// ts=2026-11-25T10:00:00.000Z level=info logger=vigil.run msg="sensor ssh: listening on udp://127.0.0.1:5514" sensor=ssh
/// {"ts":"2026-11-25T10:00:00.000Z","level":"info","logger":"vigil.run","msg":"…","sensor":"ssh"}
/// ```
public struct VigilLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public let label: String
    public let format: LogFormat
    let sink: LogSink

    /// A handler writing to `sink` (standard error unless given).
    public init(label: String, format: LogFormat, level: Logger.Level, sink: LogSink = .standardError) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var all = metadata
        if let provided = metadataProvider?.get() { all.merge(provided) { $1 } }
        if let extra = event.metadata { all.merge(extra) { $1 } }
        if let error = event.error { all["error"] = .string("\(error)") }
        sink.write(Self.format(format, time: Date(), level: event.level, label: label, message: event.message.description, metadata: all))
    }

    /// One record as a line (with its newline).
    public static func format(_ format: LogFormat, time: Date, level: Logger.Level, label: String, message: String,
                              metadata: Logger.Metadata) -> String {
        let ts = timestamp(time)
        let keys = metadata.keys.sorted()
        switch format {
        case .logfmt:
            var line = "ts=\(ts) level=\(level.rawValue) logger=\(logfmtValue(label)) msg=\(logfmtValue(message))"
            for key in keys { line += " \(logfmtKey(key))=\(logfmtValue(flatten(metadata[key]!)))" }
            return line + "\n"
        case .json:
            var line = #"{"ts":"\#(ts)","level":"\#(level.rawValue)","logger":\#(jsonString(label)),"msg":\#(jsonString(message))"#
            for key in keys where !["ts", "level", "logger", "msg"].contains(key) {
                line += ",\(jsonString(key)):\(jsonString(flatten(metadata[key]!)))"
            }
            return line + "}\n"
        }
    }

    static func flatten(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let s): s
        case .stringConvertible(let c): c.description
        case .array(let a): "[" + a.map(flatten).joined(separator: ",") + "]"
        case .dictionary(let d): "{" + d.keys.sorted().map { "\($0)=\(flatten(d[$0]!))" }.joined(separator: ",") + "}"
        }
    }

    /// A logfmt key: anything but `A-Z a-z 0-9 _ . -` becomes `_`.
    static func logfmtKey(_ key: String) -> String {
        let cleaned = String(key.unicodeScalars.map { c -> Character in
            switch c {
            case "a"..."z", "A"..."Z", "0"..."9", "_", ".", "-": Character(c)
            default: "_"
            }
        })
        return cleaned.isEmpty ? "_" : cleaned
    }

    /// A logfmt value: bare when it has no space, `=`, `"` or control character; otherwise quoted
    /// with `\"`, `\\`, `\n`, `\r`, `\t` and `\u{…}` escapes.
    static func logfmtValue(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.unicodeScalars.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" || $0.value < 0x20 || $0.value == 0x7F }
        guard needsQuotes else { return value }
        var out = "\""
        for c in value.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 || c.value == 0x7F { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    static func jsonString(_ value: String) -> String {
        var out = "\""
        for c in value.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if c.value < 0x20 { out += String(format: "\\u%04x", c.value) } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }

    static func timestamp(_ date: Date) -> String {
        let ms = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var t = time_t(ms / 1000)
        var tm = tm()
        gmtime_r(&t, &tm)
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", Int(tm.tm_year) + 1900, Int(tm.tm_mon) + 1, Int(tm.tm_mday),
                      Int(tm.tm_hour), Int(tm.tm_min), Int(tm.tm_sec), Int(ms % 1000))
    }
}

/// Where log lines go: whole lines, one writer at a time.
public final class LogSink: @unchecked Sendable {
    // Safe: `lock` serializes every write.
    private let lock = NSLock()
    private let writeLine: (String) -> Void

    public init(_ writeLine: @escaping (String) -> Void) { self.writeLine = writeLine }

    /// Standard error, unbuffered.
    public static let standardError = LogSink { line in
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = Foundation.write(2, buffer.baseAddress! + offset, buffer.count - offset)
                if n <= 0 { if n < 0 && errno == EINTR { continue } else { break } }
                offset += n
            }
        }
    }

    func write(_ line: String) { lock.withLock { writeLine(line) } }
}

/// The process's logging: swift-log bootstrapped once with ``VigilLogHandler``, and the bridge
/// from the pipeline's report lines to log records.
public enum VigilLogging {
    private static let state = LoggingState()

    /// Bootstraps swift-log (the first call wins; later calls only change nothing) and returns a
    /// logger labelled `label`.
    public static func bootstrap(format: LogFormat, level: LogLevel, label: String = "vigil") -> Logger {
        state.once {
            LoggingSystem.bootstrap { label in VigilLogHandler(label: label, format: format, level: Logger.Level(level)) }
        }
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(level)
        return logger
    }

    /// A `report` closure for ``Pipeline``: each line becomes a record whose level is read from
    /// what it says (a stage that stopped or failed: error; rejected input, recovered damage,
    /// late events: warning; the rest: info), with `sensor=NAME` for lines about a sensor.
    public static func reporter(_ logger: Logger) -> @Sendable (String) -> Void {
        { line in
            var metadata: Logger.Metadata = [:]
            if line.hasPrefix("sensor "), let end = line.dropFirst(7).firstIndex(where: { $0 == ":" || $0 == " " }) {
                metadata["sensor"] = .string(String(line[line.index(line.startIndex, offsetBy: 7)..<end]))
            }
            logger.log(level: level(of: line), "\(line)", metadata: metadata)
        }
    }

    /// The level of a report line.
    public static func level(of line: String) -> Logger.Level {
        let lower = line.lowercased()
        for word in [" stopped", "failed", "cannot ", " refused", "error:"] where lower.contains(word) { return .error }
        for word in ["rejected", "recovered", "repaired", "damage", "late event", "dropped", "was removed", "unsupported"] where lower.contains(word) {
            return .warning
        }
        return .info
    }
}

/// Runs a block once per process.
final class LoggingState: @unchecked Sendable {
    // Safe: `lock` guards `done`.
    private let lock = NSLock()
    private var done = false
    func once(_ body: () -> Void) {
        lock.withLock {
            guard !done else { return }
            done = true
            body()
        }
    }
}

extension Logger.Level {
    /// The swift-log level of a configured ``LogLevel``.
    public init(_ level: LogLevel) {
        self = Logger.Level(rawValue: level.rawValue) ?? .info
    }
}

/// A command's logger, for modules that do not import swift-log (the CLI).
public struct VigilLogger: Sendable {
    public let logger: Logger

    /// Bootstraps swift-log for this process (see ``VigilLogging/bootstrap(format:level:label:)``).
    public init(format: LogFormat, level: LogLevel, label: String) {
        logger = VigilLogging.bootstrap(format: format, level: level, label: label)
    }

    /// The pipeline's `report` closure (``VigilLogging/reporter(_:)``).
    public var reporter: @Sendable (String) -> Void { VigilLogging.reporter(logger) }

    public func log(_ level: LogLevel, _ message: String, _ metadata: [String: String] = [:]) {
        logger.log(level: Logger.Level(level), "\(message)", metadata: metadata.mapValues { .string($0) })
    }
}
