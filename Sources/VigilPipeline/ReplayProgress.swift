import Foundation
import VigilBroker
import VigilCore

/// How far a network sensor of `vigil run` got replaying its pcap files: the records it
/// produced that the broker acknowledged, stored in `DATA_DIR/sensors/NAME/replay.json` after
/// every acknowledgement, so that a restart neither loses nor repeats records.
///
/// Replaying the same files with the same settings gives the same records in the same order
/// (the analyzer runs on packet time only), so a record is identified by its ordinal in the
/// replay, which it carries as `vigil.replay.record`. After a crash the sensor replays from the
/// start and sends nothing below `acknowledged`; records past the stored broker marks that the
/// topic already holds (sent after the last acknowledgement, before the crash) are found by
/// reading the partitions from the marks, and are not sent again. A finished replay is not
/// repeated; when the files or settings change (`set` differs) the replay starts over.
struct ReplayProgress: Codable, Equatable {
    /// Fingerprint of the files (path, device, inode, size, modification time, first 4 KiB) and
    /// of the analyzer settings.
    var set: String
    /// Records `0..<acknowledged` are durable in the topic.
    var acknowledged: Int64
    /// Every record was produced and acknowledged.
    var complete: Bool
    /// The end offset of each partition of the topic at the last acknowledgement.
    var marks: [Int64]

    static func path(dataDirectory: String, sensor: String) -> String {
        "\(dataDirectory)/sensors/\(sensor)/replay.json"
    }

    static func load(_ path: String) throws -> ReplayProgress? {
        guard let bytes = try DurableFile.read(path) else { return nil }
        do {
            return try JSONDecoder().decode(ReplayProgress.self, from: Data(bytes))
        } catch {
            throw PipelineError("replay position \(path) is damaged (\(error)); delete it to replay the files from the start (records produced before may repeat)")
        }
    }

    func save(_ path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try DurableFile.write(Array(try encoder.encode(self)), to: path)
    }

    /// The fingerprint of a replay: its files, in order, and `settings`.
    static func fingerprint(files: [String], settings: String) throws -> String {
        var text = settings
        for file in files {
            var st = stat()
            guard stat(file, &st) == 0 else { throw PipelineError("cannot read \(file): \(String(cString: strerror(errno)))") }
            var head = [UInt8](repeating: 0, count: 4096)
            let fd = open(file, O_RDONLY | O_CLOEXEC)
            var n = 0
            if fd >= 0 {
                n = max(0, head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) })
                close(fd)
            }
            let crc = head.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
            text += "\n\(file)\t\(st.st_dev)\t\(st.st_ino)\t\(st.st_size)\t\(st.st_mtim.tv_sec).\(st.st_mtim.tv_nsec)\t\(crc)"
        }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in text.utf8 { hash = (hash ^ UInt64(b)) &* 0x0100_0000_01B3 }
        return String(hash, radix: 16)
    }

    /// The ordinals of the records of `sensor` that `topic` holds past `marks`.
    static func recover(sensor: String, topic: String, partitions: Int, marks: [Int64],
                        from broker: any PartitionRangeReading) throws -> Set<Int64> {
        var present = Set<Int64>()
        let name = FieldValue.string(sensor)
        for p in 0..<partitions {
            try broker.readRange(topic: topic, partition: p, from: p < marks.count ? marks[p] : 0) { record in
                guard let event = try? EventBinaryCodec.decode(record.value), event["vigil.sensor"] == name,
                      case .int(let k)? = event[NetworkEventSender.ordinalKey] else { return }
                present.insert(k)
            }
        }
        return present
    }
}
