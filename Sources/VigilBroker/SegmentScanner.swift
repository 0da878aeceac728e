#if canImport(Glibc)
import Glibc
#endif

/// Walks the batches of one segment file from a position.
///
/// In `verify` mode every batch is read and checksummed (recovery, index rebuild); otherwise only
/// headers are read (seeking), one 40-byte `pread` per batch.
struct SegmentScanner {
    enum Stop: Equatable {
        /// Clean end of the data at `position`.
        case end
        /// A partial batch at `position`: bytes missing from a torn or in-flight write.
        case incomplete
        /// Damaged bytes at `position`.
        case corrupt(String)
        /// The visitor asked to stop.
        case stopped
    }

    let file: FileDescriptor
    let verify: Bool
    private var buffer: UnsafeMutableRawBufferPointer

    init(file: FileDescriptor, verify: Bool) {
        self.file = file
        self.verify = verify
        buffer = .allocate(byteCount: verify ? 1 << 20 : BatchFormat.headerSize, alignment: 16)
    }

    private var windowStart: Int64 = 0
    private var windowCount = 0

    func deallocate() { buffer.deallocate() }

    private func windowParse(position: Int64, end: Int64) -> BatchParse {
        let lo = position - windowStart
        guard lo >= 0, lo <= Int64(windowCount) else { return .incomplete(needed: BatchFormat.headerSize) }
        return BatchHeader.parse(UnsafeRawBufferPointer(rebasing: buffer[Int(lo)..<windowCount]), verify: true)
    }

    /// Visits batches starting at `position`; returns why it stopped and the position of the byte
    /// after the last good batch.
    mutating func scan(from start: Int64, expectedBase: Int64?, limit: Int64? = nil,
                       _ visit: (BatchHeader, Int64) -> Bool) throws(BrokerError) -> (Stop, Int64) {
        let size = try file.size()
        let end = min(size, limit ?? size)
        var position = start
        var expected = expectedBase
        while position < end {
            let parse: BatchParse
            if verify {
                // Serve from the window read last time when the whole batch is in it.
                var p = windowParse(position: position, end: end)
                // Read until the window holds the whole batch: the first read may show only its
                // header, saying that the batch is larger than the buffer (a batch over 1 MiB).
                while case .incomplete(let needed) = p, Int64(needed) <= end - position,
                      !(windowStart == position && windowCount >= needed) {
                    if needed > buffer.count {
                        buffer.deallocate()
                        buffer = .allocate(byteCount: needed, alignment: 16)
                    }
                    let want = Int(min(Int64(buffer.count), end - position))
                    windowCount = try file.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: position)
                    windowStart = position
                    p = windowParse(position: position, end: end)
                    if windowCount < min(needed, want) { break }  // a short read: the file shrank
                }
                parse = p
            } else {
                let n = try file.read(into: buffer, at: position)
                switch BatchHeader.parse(UnsafeRawBufferPointer(rebasing: buffer[0..<n]), verify: false) {
                case .incomplete(let needed) where needed > BatchFormat.headerSize:
                    // Header present; the body is accounted for by the file size.
                    let length = Int(UInt32(littleEndian: UnsafeRawBufferPointer(buffer).loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
                    parse = Int64(length + 4) <= end - position ? headerOnly(UnsafeRawBufferPointer(buffer)) : .incomplete(needed: needed)
                case let other: parse = other
                }
            }
            switch parse {
            case .incomplete: return (.incomplete, position)
            case .corrupt(let why): return (.corrupt(why), position)
            case .batch(let header):
                if let e = expected, header.baseOffset != e {
                    return (.corrupt("batch starts at offset \(header.baseOffset), expected \(e)"), position)
                }
                if !visit(header, position) { return (.stopped, position) }
                expected = header.baseOffset + Int64(header.count)
                position += Int64(header.totalSize)
            }
        }
        return (.end, position)
    }

    /// A header whose body was not read (header-only mode).
    private func headerOnly(_ b: UnsafeRawBufferPointer) -> BatchParse {
        let length = Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        let count = Int(UInt32(littleEndian: b.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
        if count < 1 { return .corrupt("batch holds no records") }
        return .batch(BatchHeader(
            totalSize: length + 4,
            baseOffset: Int64(littleEndian: b.loadUnaligned(fromByteOffset: 12, as: Int64.self)),
            count: count,
            firstTimestamp: Int64(littleEndian: b.loadUnaligned(fromByteOffset: 24, as: Int64.self)),
            maxTimestamp: Int64(littleEndian: b.loadUnaligned(fromByteOffset: 32, as: Int64.self))))
    }
}

/// What a full scan of a segment learned: its index, record count and largest timestamp.
struct SegmentSummary {
    var index = SegmentIndex()
    var nextRelative: UInt32 = 0
    var size: Int64 = 0
    var maxTimestamp: Int64 = .min
    var stop: SegmentScanner.Stop = .end

    /// Scans (verifying checksums) and builds the sparse index with `interval` bytes between entries.
    static func scan(file: FileDescriptor, base: Int64, interval: Int) throws(BrokerError) -> SegmentSummary {
        var summary = SegmentSummary()
        var scanner = SegmentScanner(file: file, verify: true)
        defer { scanner.deallocate() }
        var sinceEntry = 0
        let (stop, end) = try scanner.scan(from: 0, expectedBase: base) { header, position in
            let relative = UInt32(header.baseOffset - base)
            if sinceEntry >= interval {
                summary.index.add(relative: relative, position: UInt32(position), maxTimestampBefore: summary.maxTimestamp)
                sinceEntry = 0
            }
            sinceEntry += header.totalSize
            summary.maxTimestamp = max(summary.maxTimestamp, header.maxTimestamp)
            summary.nextRelative = relative + UInt32(header.count)
            return true
        }
        summary.size = end
        summary.stop = stop
        return summary
    }
}
