import Foundation
import VigilBroker
#if canImport(Glibc)
import Glibc
#endif

/// Reads the state a pipeline leaves in its data directory, without writing anything: topics
/// and their sizes, a consumer group's lag, stream checkpoints and their ages, the alert index
/// file. Shared by the metrics collector and `vigil status`.
public struct DataDirectoryInspector: Sendable {
    public let dataDirectory: String

    public init(dataDirectory: String) { self.dataDirectory = dataDirectory }

    /// One topic: partitions, records held (end − start over its partitions) and bytes on disk.
    public struct TopicSummary: Sendable, Equatable {
        public var name: String
        public var partitions: Int
        public var records: Int64
        public var bytes: Int64
    }

    /// One stream checkpoint: `stream/<group>/<topic>.<partition>.state`.
    public struct Checkpoint: Sendable, Equatable {
        public var topic: String
        public var partition: Int
        /// Seconds since it was last written.
        public var ageSeconds: Double
        public var bytes: Int64
    }

    /// The topics of the embedded log; empty when the data directory holds no log.
    public func topics() throws -> [TopicSummary] {
        guard FileManager.default.fileExists(atPath: dataDirectory) else { return [] }
        let log = try EmbeddedLog(readingFrom: dataDirectory)
        defer { log.close() }
        var result: [TopicSummary] = []
        for topic in try log.topics() {
            var records: Int64 = 0, bytes: Int64 = 0
            for p in 0..<topic.partitions {
                let reader = try log.openReader(topic: topic.name, partition: p)
                records += try reader.endOffset() - reader.startOffset()
                bytes += Self.filesSize(log.partitionDirectory(topic: topic.name, partition: p))
            }
            result.append(TopicSummary(name: topic.name, partitions: topic.partitions, records: records, bytes: bytes))
        }
        return result
    }

    /// The lag of `group` on `topics` (every topic when empty).
    public func lag(group: String, topics: [String]) throws -> [PartitionLag] {
        let log = try EmbeddedLog(readingFrom: dataDirectory)
        defer { log.close() }
        return try log.lag(group: group, topics: topics)
    }

    /// The checkpoints of the stream group `group`, by topic and partition.
    public func checkpoints(group: String, now: Date = Date()) -> [Checkpoint] {
        let dir = "\(dataDirectory)/stream/\(group)"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var result: [Checkpoint] = []
        for name in names where name.hasSuffix(".state") {
            let base = name.dropLast(".state".count)
            guard let dot = base.lastIndex(of: "."), let partition = Int(base[base.index(after: dot)...]) else { continue }
            var st = stat()
            guard stat("\(dir)/\(name)", &st) == 0 else { continue }
            let mtime = Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9
            result.append(Checkpoint(topic: String(base[..<dot]), partition: partition,
                                     ageSeconds: max(0, now.timeIntervalSince1970 - mtime), bytes: Int64(st.st_size)))
        }
        return result.sorted { ($0.topic, $0.partition) < ($1.topic, $1.partition) }
    }

    /// Size and modification time of a file (the alert index), nil when it does not exist.
    public static func fileInfo(_ path: String) -> (bytes: Int64, modified: Date)? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        var bytes = Int64(st.st_size)
        // SQLite in WAL mode keeps recent pages in the -wal file.
        var wal = stat()
        if stat(path + "-wal", &wal) == 0 { bytes += Int64(wal.st_size) }
        let modified = max(Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9,
                           stat(path + "-wal", &wal) == 0 ? Double(wal.st_mtim.tv_sec) + Double(wal.st_mtim.tv_nsec) / 1e9 : 0)
        return (bytes, Date(timeIntervalSince1970: modified))
    }

    /// Bytes of a partition's segment and index files.
    static func filesSize(_ dir: String) -> Int64 {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
        var total: Int64 = 0
        for name in names where name.hasSuffix(".log") || name.hasSuffix("index") {
            var st = stat()
            if stat("\(dir)/\(name)", &st) == 0 { total += Int64(st.st_size) }
        }
        return total
    }

    /// The resident set size of this process, from `/proc/self/statm`.
    public static func residentMemoryBytes() -> Int64? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int64(fields[1]) else { return nil }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
