/// The sparse indexes of one segment, kept in memory and written beside the segment when it is
/// sealed:
///
/// - `<base>.index`: entries `(u32 relative offset, u32 file position)` of batch starts;
/// - `<base>.timeindex`: entries `(i64 timestamp, u32 relative offset)`, where the timestamp is the
///   largest record timestamp *before* that offset.
///
/// An entry is added every `indexIntervalBytes`. A sealed segment's indexes end with an entry at the
/// segment's end (relative offset = record count), so its size, record count and largest timestamp
/// are known without a scan.
struct SegmentIndex: Equatable {
    var relativeOffsets: [UInt32] = [0]
    var positions: [UInt32] = [0]
    var maxTimestampsBefore: [Int64] = [.min]

    /// The entry at or before `offset` (relative): the position to start scanning for it.
    func position(atOrBefore relative: UInt32) -> (relative: UInt32, position: UInt32) {
        var lo = 0, hi = relativeOffsets.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if relativeOffsets[mid] <= relative { lo = mid } else { hi = mid - 1 }
        }
        return (relativeOffsets[lo], positions[lo])
    }

    /// The last entry before which every record is older than `timestamp`.
    func position(olderThan timestamp: Int64) -> (relative: UInt32, position: UInt32) {
        var lo = 0, hi = maxTimestampsBefore.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if maxTimestampsBefore[mid] < timestamp { lo = mid } else { hi = mid - 1 }
        }
        return (relativeOffsets[lo], positions[lo])
    }

    mutating func add(relative: UInt32, position: UInt32, maxTimestampBefore: Int64) {
        if let last = relativeOffsets.last, last == relative { return }
        relativeOffsets.append(relative)
        positions.append(position)
        maxTimestampsBefore.append(maxTimestampBefore)
    }

    func offsetIndexBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(relativeOffsets.count * 8)
        for i in relativeOffsets.indices {
            withUnsafeBytes(of: relativeOffsets[i].littleEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: positions[i].littleEndian) { out.append(contentsOf: $0) }
        }
        return out
    }

    func timeIndexBytes() -> [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(relativeOffsets.count * 12)
        for i in relativeOffsets.indices {
            withUnsafeBytes(of: maxTimestampsBefore[i].littleEndian) { out.append(contentsOf: $0) }
            withUnsafeBytes(of: relativeOffsets[i].littleEndian) { out.append(contentsOf: $0) }
        }
        return out
    }

    /// Rebuilds from the two files' bytes; nil when they disagree or are not monotonic, in which
    /// case the caller rescans the segment.
    static func load(offsetIndex: [UInt8], timeIndex: [UInt8], segmentSize: Int64) -> SegmentIndex? {
        guard offsetIndex.count % 8 == 0, timeIndex.count % 12 == 0,
              offsetIndex.count / 8 == timeIndex.count / 12, offsetIndex.count >= 16 else { return nil }
        var index = SegmentIndex(relativeOffsets: [], positions: [], maxTimestampsBefore: [])
        let n = offsetIndex.count / 8
        offsetIndex.withUnsafeBytes { o in
            timeIndex.withUnsafeBytes { t in
                for i in 0..<n {
                    index.relativeOffsets.append(UInt32(littleEndian: o.loadUnaligned(fromByteOffset: i * 8, as: UInt32.self)))
                    index.positions.append(UInt32(littleEndian: o.loadUnaligned(fromByteOffset: i * 8 + 4, as: UInt32.self)))
                    index.maxTimestampsBefore.append(Int64(littleEndian: t.loadUnaligned(fromByteOffset: i * 12, as: Int64.self)))
                    let rel = UInt32(littleEndian: t.loadUnaligned(fromByteOffset: i * 12 + 8, as: UInt32.self))
                    if rel != index.relativeOffsets[i] { index.relativeOffsets.removeAll() }
                }
            }
        }
        guard index.relativeOffsets.count == n, index.relativeOffsets[0] == 0, index.positions[0] == 0,
              Int64(index.positions[n - 1]) == segmentSize else { return nil }
        for i in 1..<n where index.relativeOffsets[i] <= index.relativeOffsets[i - 1]
            || index.positions[i] <= index.positions[i - 1] { return nil }
        return index
    }

    /// Record count of a sealed segment (its final entry).
    var endRelative: UInt32 { relativeOffsets.last! }
    /// Largest record timestamp of a sealed segment.
    var maxTimestamp: Int64 { maxTimestampsBefore.last! }
}

/// Names of the files of a segment whose first offset is `base`.
enum SegmentFiles {
    static func name(_ base: Int64) -> String {
        let digits = String(base)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }
    static func log(_ dir: String, _ base: Int64) -> String { "\(dir)/\(name(base)).log" }
    static func index(_ dir: String, _ base: Int64) -> String { "\(dir)/\(name(base)).index" }
    static func timeIndex(_ dir: String, _ base: Int64) -> String { "\(dir)/\(name(base)).timeindex" }

    /// Base offsets of the segments in `dir`, ascending.
    static func bases(in dir: String) throws(BrokerError) -> [Int64] {
        var bases: [Int64] = []
        for name in try FileSystem.list(dir) where name.hasSuffix(".log") {
            if let base = Int64(name.dropLast(4)), name.count == 24 { bases.append(base) }
        }
        return bases.sorted()
    }
}
