import ArgumentParser
import Foundation
import VigilBroker
import VigilCore

struct TopicsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "topics",
        abstract: "Inspect and administer the embedded log's topics.",
        subcommands: [List.self, Describe.self, Create.self, Tail.self, Produce.self, Lag.self, Repair.self])

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List topics with their partition counts, records and sizes.")
        @OptionGroup var data: DataOptions
        @Option(help: "Output format.") var format: OutputFormat = .text

        func run() throws {
            let log = try data.openExisting()
            var rows: [[String]] = []
            for topic in try log.topics() {
                var records: Int64 = 0, bytes: Int64 = 0
                for p in 0..<topic.partitions {
                    let reader = try log.openReader(topic: topic.name, partition: p)
                    records += try reader.endOffset() - reader.startOffset()
                    bytes += directorySize(log.partitionDirectory(topic: topic.name, partition: p))
                }
                if format == .json {
                    print(#"{"topic":\#(jsonString(topic.name)),"partitions":\#(topic.partitions),"records":\#(records),"bytes":\#(bytes)}"#)
                } else {
                    rows.append([topic.name, "\(topic.partitions)", "\(records)", formatBytes(bytes)])
                }
            }
            if format == .text { printTable(header: ["TOPIC", "PARTITIONS", "RECORDS", "SIZE"], rows: rows) }
        }
    }

    struct Describe: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a topic's partitions: offsets, segments, size and writer.")
        @OptionGroup var data: DataOptions
        @Argument(help: "The topic.") var topic: String
        @Option(help: "Output format.") var format: OutputFormat = .text

        func run() throws {
            let log = try data.openExisting()
            let meta = try log.topic(topic)
            var rows: [[String]] = []
            for p in 0..<meta.partitions {
                let dir = log.partitionDirectory(topic: topic, partition: p)
                let reader = try log.openReader(topic: topic, partition: p)
                let start = try reader.startOffset(), end = try reader.endOffset()
                let segments = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".log") }.count
                let writer = writerPID(dir)
                if format == .json {
                    print(#"{"topic":\#(jsonString(topic)),"partition":\#(p),"start_offset":\#(start),"end_offset":\#(end),"segments":\#(segments),"bytes":\#(directorySize(dir)),"writer_pid":\#(writer.map(String.init) ?? "null")}"#)
                } else {
                    rows.append(["\(p)", "\(start)", "\(end)", "\(end - start)", "\(segments)", formatBytes(directorySize(dir)), writer.map { "pid \($0)" } ?? "-"])
                }
            }
            if format == .text {
                print("topic \(topic): \(meta.partitions) partitions in \(log.dataDirectory)")
                printTable(header: ["PARTITION", "START", "END", "RECORDS", "SEGMENTS", "SIZE", "WRITER"], rows: rows)
            }
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a topic with a number of partitions.")
        @OptionGroup var data: DataOptions
        @Argument(help: "The topic.") var topic: String
        @Option(help: "Number of partitions (1–4096).") var partitions: Int = 4

        func run() throws {
            let log = try data.open()
            let meta = try log.createTopic(topic, partitions: partitions)
            print("topic \(meta.name): \(meta.partitions) partitions")
        }
    }

    struct Lag: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show a consumer group's committed offsets and lag per partition.")
        @OptionGroup var data: DataOptions
        @Option(help: "The consumer group.") var group: String
        @Argument(help: "Topics (default: all).") var topics: [String] = []
        @Option(help: "Output format.") var format: OutputFormat = .text

        func run() throws {
            let log = try data.openExisting()
            let lags = try log.lag(group: group, topics: topics)
            if format == .json {
                for l in lags {
                    print(#"{"group":\#(jsonString(group)),"topic":\#(jsonString(l.topicPartition.topic)),"partition":\#(l.topicPartition.partition),"committed":\#(l.committed.map(String.init) ?? "null"),"start_offset":\#(l.start),"end_offset":\#(l.end),"lag":\#(l.lag)}"#)
                }
                return
            }
            printTable(header: ["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"],
                       rows: lags.map { [$0.topicPartition.topic, "\($0.topicPartition.partition)", $0.committed.map(String.init) ?? "-", "\($0.end)", "\($0.lag)"] })
            print("total lag: \(lags.reduce(0) { $0 + $1.lag })")
        }
    }

    struct Repair: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cut a damaged partition at its first bad batch, keeping a copy of the damaged segment.",
            discussion: "Run it when opening a partition reports damage followed by valid records. The damaged segment is copied to <segment>.log.corrupt first.")
        @OptionGroup var data: DataOptions
        @Argument(help: "The topic.") var topic: String
        @Option(help: "Only this partition (default: all).") var partition: Int?

        func run() throws {
            let log = try data.open()
            let meta = try log.topic(topic)
            for p in partition.map({ [$0] }) ?? Array(0..<meta.partitions) {
                let writer = try log.openWriter(topic: topic, partition: p, repair: true)
                if let r = writer.recovery { print(r.description) } else { print("\(topic)/\(p): no damage found; end offset \(writer.endOffset)") }
                try writer.close()
            }
        }
    }
}

func writerPID(_ dir: String) -> Int? {
    let path = "\(dir)/writer.lock"
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    if flock(fd, LOCK_SH | LOCK_NB) == 0 { flock(fd, LOCK_UN); return nil }  // nobody writes
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
    return Int(text.trimmingCharacters(in: .whitespacesAndNewlines))
}

func directorySize(_ dir: String) -> Int64 {
    let names = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).filter { $0.hasSuffix(".log") || $0.hasSuffix("index") }
    return names.reduce(0) { total, name in
        let size = (try? FileManager.default.attributesOfItem(atPath: "\(dir)/\(name)")[.size] as? NSNumber)?.int64Value ?? 0
        return total + size
    }
}

func formatBytes(_ n: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(n), unit = 0
    while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
    return unit == 0 ? "\(n) B" : String(format: "%.1f %@", value, units[unit])
}

/// An aligned table for people.
func printTable(header: [String], rows: [[String]]) {
    var widths = header.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    func line(_ cells: [String]) -> String {
        cells.enumerated().map { i, c in i == cells.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
            .joined(separator: "  ")
    }
    print(line(header))
    for row in rows { print(line(row)) }
}

/// A JSON string literal (the event codec's escaping).
func jsonString(_ s: String) -> String {
    var out: [UInt8] = []
    EventJSON.encode(.string(s), into: &out)
    return String(decoding: out, as: UTF8.self)
}
