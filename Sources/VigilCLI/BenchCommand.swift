import ArgumentParser
import Foundation
import VigilBench

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark that builds its own input and runs its peer in the same run.",
        subcommands: [Broker.self, Parse.self])

    struct Broker: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Embedded log: append and read 200-byte records with batched fsync; 64 KiB records against dd.")
        @Option(help: "Directory on the disk to measure (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-\(getpid())"
        @Option(help: "Number of 200-byte records.") var records: Int = 5_000_000
        @Option(help: "Records per fsynced batch.") var batch: Int = 1000
        @Option(help: "Bytes written in the 64 KiB-record and dd runs.") var largeBytes: Int = 2 << 30
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func run() throws {
            var options = BrokerBenchmark.Options(directory: dir)
            options.records = records
            options.recordsPerBatch = batch
            options.largeTotalBytes = largeBytes
            let r = try BrokerBenchmark(options: options, progress: { printError($0) }).run()
            print(String(format: "append: %.0f records/s (%d × %d B, fsync every %d records per partition, %d partitions and threads, %.2f s)",
                         r.appendRecordsPerSecond, r.records, r.recordBytes, r.recordsPerBatch, r.partitions, r.appendSeconds))
            print(String(format: "read:   %.0f records/s (%.2f s, checksums verified)", r.readRecordsPerSecond, r.readSeconds))
            print(String(format: "large:  %.1f MB/s for 64 KiB records; dd: %.1f MB/s; ratio %.2f", r.largeMBPerSecond, r.ddMBPerSecond, r.ddRatio))
            print("cores:  \(r.cores); CRC32C hardware: \(r.crcHardware)")
            if json {
                print(String(format: #"{"bench":"broker","append_records_per_s":%.0f,"read_records_per_s":%.0f,"large_mb_per_s":%.1f,"dd_mb_per_s":%.1f,"dd_ratio":%.3f,"cores":%d,"records":%d,"record_bytes":%d,"records_per_fsync":%d,"partitions":%d}"#,
                             r.appendRecordsPerSecond, r.readRecordsPerSecond, r.largeMBPerSecond, r.ddMBPerSecond, r.ddRatio, r.cores, r.records, r.recordBytes, r.recordsPerBatch, r.partitions))
            }
        }
    }

    struct Parse: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parsers: sshd-in-syslog, JSON and CEF lines parsed, normalized and appended per second on one core, next to wc -l.")
        @Option(help: "Directory for the generated inputs and the log (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-parse-\(getpid())"
        @Option(help: "The parser definitions to use.") var parsers: String = "parsers"
        @Option(help: "Lines per input.") var lines: Int = 2_000_000
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func run() throws {
            var options = ParseBenchmark.Options(directory: dir, parsersDirectory: parsers)
            options.lines = lines
            let r = try ParseBenchmark(options: options, progress: { printError($0) }).run()
            for c in r.cases {
                print(String(format: "%@ (%@): parse+normalize %.0f lines/s, +append %.0f lines/s (%.0f%% in flush, waiting for fsync); wc -l %.0f lines/s (%d lines, %.1f MB)",
                             c.name, c.parser, c.parseLinesPerSecond, c.ingestLinesPerSecond, 100 * c.ingestFlushShare, c.wcLinesPerSecond, c.lines, Double(c.bytes) / 1e6))
            }
            print("cores: \(r.cores) (each figure is one thread)")
            if json {
                func rate(_ name: String) -> Double { r.cases.first { $0.name == name }?.parseLinesPerSecond ?? 0 }
                func ingest(_ name: String) -> Double { r.cases.first { $0.name == name }?.ingestLinesPerSecond ?? 0 }
                let wc = r.cases.map(\.wcLinesPerSecond).reduce(0, +) / Double(max(1, r.cases.count))
                print(String(format: #"{"bench":"parse","syslog_lines_per_s":%.0f,"json_lines_per_s":%.0f,"cef_lines_per_s":%.0f,"syslog_ingest_lines_per_s":%.0f,"json_ingest_lines_per_s":%.0f,"cef_ingest_lines_per_s":%.0f,"wc_lines_per_s":%.0f,"cores":%d,"lines":%d}"#,
                             rate("sshd-in-syslog"), rate("json"), rate("cef"), ingest("sshd-in-syslog"), ingest("json"), ingest("cef"), wc, r.cores, lines))
            }
        }
    }
}
