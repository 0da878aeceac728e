import ArgumentParser
import Foundation
import VigilBench

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark that builds its own input and runs its peer in the same run.",
        subcommands: [Broker.self])

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
}
