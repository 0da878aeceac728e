import ArgumentParser
import Foundation
import VigilBench

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark that builds its own input and runs its peer in the same run.",
        subcommands: [Broker.self, Parse.self, Capture.self,
                      Enrich.self])

    struct Capture: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Network sensor: packets/s from a ≥1M-packet pcap to records, full and flows only, next to tcpdump, tshark and softflowd.")
        @Option(help: "Directory for the generated pcap (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-capture-\(getpid())"
        @Option(help: "Directory of sample traces to build the input from.") var traces: String = "../shared/data/pcap"
        @Option(help: "Packets in the generated pcap.") var packets: Int = 1_000_000
        @Option(help: "Measure this pcap instead of the generated mix.") var input: String?
        @Option(help: ArgumentHelp("Measure only full metadata (full) or only flows (flows).", visibility: .hidden)) var only: String?
        @Flag(help: "Measure Vigil only.") var noPeers = false
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func validate() throws {
            if let only, only != "full", only != "flows" { throw ValidationError("--only takes full or flows") }
        }

        func run() throws {
            var options = CaptureBenchmark.Options(directory: dir, tracesDirectory: traces)
            options.packets = packets
            options.skipPeers = noPeers
            options.input = input
            options.only = only
            let r = try CaptureBenchmark(options: options, progress: { printError($0) }).run()
            print(String(format: "input: %d packets, %.1f MB, from %d traces", r.packets, Double(r.bytes) / 1e6, r.traces))
            print(String(format: "vigil, full metadata: %.0f packets/s (%lld records)", r.packetsPerSecond, r.records))
            print(String(format: "vigil, flows only:    %.0f packets/s (%lld records)", r.flowsOnlyPacketsPerSecond, r.flowRecords))
            for p in r.peers {
                if let s = p.seconds {
                    print(String(format: "%@: %.0f packets/s (%@)", p.tool, Double(r.packets) / s, p.command))
                } else {
                    print("\(p.tool): not measured: \(p.note ?? "")")
                }
            }
            print("cores: \(r.cores) (vigil on one thread)")
            func number(_ v: Double?) -> String { v.map { $0.isFinite ? String(format: "%.0f", $0) : "null" } ?? "null" }
            func ratio(_ a: Double, _ b: Double?) -> String { b.map { String(format: "%.3f", a / $0) } ?? "null" }
            let tshark = r.peerRate("tshark"), tcpdump = r.peerRate("tcpdump"), softflowd = r.peerRate("softflowd")
            print(String(format: "ratios: %@× tshark, %@× tcpdump, flows only %@× softflowd",
                         ratio(r.packetsPerSecond, tshark), ratio(r.packetsPerSecond, tcpdump), ratio(r.flowsOnlyPacketsPerSecond, softflowd)))
            if json {
                print(#"{"bench":"capture","packets_per_s":\#(number(r.packetsPerSecond)),"flows_only_packets_per_s":\#(number(r.flowsOnlyPacketsPerSecond)),"tshark_packets_per_s":\#(number(tshark)),"tcpdump_packets_per_s":\#(number(tcpdump)),"softflowd_packets_per_s":\#(number(softflowd)),"ratio_vs_tshark":\#(ratio(r.packetsPerSecond, tshark)),"ratio_vs_tcpdump":\#(ratio(r.packetsPerSecond, tcpdump)),"ratio_flows_only_vs_softflowd":\#(ratio(r.flowsOnlyPacketsPerSecond, softflowd)),"packets":\#(r.packets),"records":\#(r.records),"cores":\#(r.cores)}"#)
            }
        }
    }

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
        @Option(help: "Run only this case (sshd-in-syslog, json, cef); repeat for several.") var only: [String] = []
        @Flag(help: "Measure parse + normalize only, without appending to the log.") var parseOnly = false
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func validate() throws {
            for name in only where !["sshd-in-syslog", "json", "cef"].contains(name) {
                throw ValidationError("--only: unknown case '\(name)' (sshd-in-syslog, json, cef)")
            }
        }

        func run() throws {
            var options = ParseBenchmark.Options(directory: dir, parsersDirectory: parsers)
            options.lines = lines
            options.only = Set(only)
            options.parseOnly = parseOnly
            let r = try ParseBenchmark(options: options, progress: { printError($0) }).run()
            for c in r.cases {
                print(String(format: "%@ (%@): parse+normalize %.0f lines/s, +append %.0f lines/s (%.0f%% in flush, waiting for fsync); wc -l %.0f lines/s (%d lines, %.1f MB)",
                             c.name, c.parser, c.parseLinesPerSecond, c.ingestLinesPerSecond, 100 * c.ingestFlushShare, c.wcLinesPerSecond, c.lines, Double(c.bytes) / 1e6))
            }
            print("cores: \(r.cores) (each figure is one thread)")
            if json {
                // A case that was not run, or not measured, is null rather than a made-up number.
                func number(_ v: Double?) -> String { v.map { $0.isFinite ? String(format: "%.0f", $0) : "null" } ?? "null" }
                func rate(_ name: String) -> String { number(r.cases.first { $0.name == name }?.parseLinesPerSecond) }
                func ingest(_ name: String) -> String { number(r.cases.first { $0.name == name }?.ingestLinesPerSecond) }
                let wc = r.cases.map(\.wcLinesPerSecond).reduce(0, +) / Double(max(1, r.cases.count))
                print(#"{"bench":"parse","syslog_lines_per_s":\#(rate("sshd-in-syslog")),"json_lines_per_s":\#(rate("json")),"cef_lines_per_s":\#(rate("cef")),"syslog_ingest_lines_per_s":\#(ingest("sshd-in-syslog")),"json_ingest_lines_per_s":\#(ingest("json")),"cef_ingest_lines_per_s":\#(ingest("cef")),"wc_lines_per_s":\#(number(wc)),"cores":\#(r.cores),"lines":\#(lines)}"#)
            }
        }
    }

    struct Enrich: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enrichment: events/s on one thread with three lookups each (100k-asset table, 10k CIDR zones, GeoIP city).")
        @Option(help: "Directory for the generated tables (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-enrich-\(getpid())"
        @Option(help: "Directory of MaxMind's test databases (threat intel is measured instead when absent).") var geoip: String = "../shared/data/geoip"
        @Option(help: "Events to enrich.") var events: Int = 5_000_000
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func run() throws {
            var options = EnrichBenchmark.Options(directory: dir, geoipDirectory: geoip)
            options.events = events
            let r = try EnrichBenchmark(options: options, progress: { printError($0) }).run()
            print(String(format: "enrich: %.0f events/s (%d events, %.2f s, %.2f lookups/event: %@; %.0f%% hits; tables loaded in %.2f s)",
                         r.eventsPerSecond, r.events, r.seconds, r.lookupsPerEvent, r.lookups.joined(separator: ", "), 100 * r.hitRate, r.loadSeconds))
            print("cores: \(r.cores) (one thread)")
            if json {
                let names = r.lookups.map { "\"\($0)\"" }.joined(separator: ",")
                print(String(format: #"{"bench":"enrich","events_per_s":%.0f,"lookups_per_event":%.2f,"cores":%d,"events":%d,"hit_rate":%.3f,"load_s":%.3f,"lookups":[%@]}"#,
                             r.eventsPerSecond, r.lookupsPerEvent, r.cores, r.events, r.hitRate, r.loadSeconds, names))
            }
        }
    }
}
