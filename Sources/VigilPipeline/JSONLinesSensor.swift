import Foundation
import VigilBroker
import VigilLogs
import VigilCore
import VigilParsers
#if canImport(Glibc)
import Glibc
#endif

/// The `jsonl` sensor: JSON objects, one per line, from a file or stdin, through the `json`
/// parser into the topic (see `LineIngestor`); a line that is not a valid event goes to the error
/// topic with the reason and the original bytes, and is counted.
public final class JSONLinesSensor {
    public let configuration: JSONLinesSensorConfiguration
    let ingestor: LineIngestor
    /// Acknowledge (flush) after this many lines.
    public var batchLines = 4096

    /// With a `probe`, lines and events are counted in the probe's counters (the caller adds
    /// them to `metrics` when the sensor ends), otherwise in `metrics` directly.
    public init(configuration: JSONLinesSensorConfiguration, producer: TopicProducer, errors: ErrorPublisher, metrics: PipelineMetrics,
                probe: SensorProbe? = nil) {
        self.configuration = configuration
        let parser = CompiledParser(name: "jsonl", type: "json", base: JSONParser())
        ingestor = LineIngestor(parser: parser, sensor: configuration.name, keyField: configuration.keyField,
                                producer: producer, errors: errors,
                                counters: IngestCounters(lines: probe?.input ?? metrics.linesRead, produced: probe?.produced ?? metrics.eventsProduced,
                                                         rejected: metrics.eventsRejected))
    }

    /// Reads until end of input (or, when following, until `shouldStop` returns true).
    public func run(shouldStop: () -> Bool) throws {
        let fd: Int32
        switch configuration.input {
        case .standardInput: fd = 0
        case .file(let path):
            fd = open(path, O_RDONLY | O_CLOEXEC)
            if fd < 0 { throw PipelineError("sensor \(configuration.name): cannot open \(path): \(String(cString: strerror(errno)))") }
        }
        defer { if fd != 0 { close(fd) } }
        var reader = LineReader(fd: fd)
        var pending = 0
        while !shouldStop() {
            let result = try reader.readLines(flushPartial: !configuration.follow) { line, truncated in
                if truncated {
                    try self.ingestor.errors.reject(original: line, sensor: configuration.name, parser: "jsonl",
                                                    reason: "line longer than \(line.count) bytes (truncated)")
                } else if !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) {
                    try self.ingestor.ingest(line)
                }
                pending += 1
            }
            if pending >= batchLines { try ingestor.flush(); pending = 0 }
            if case .endOfInput = result {
                try ingestor.flush(); pending = 0
                if !configuration.follow { break }
                usleep(200_000)
            }
        }
        try ingestor.flush()
    }
}

/// A pipeline failure a user can act on.
public struct PipelineError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
