#if canImport(Glibc)
import Glibc
#endif

/// Where a reader starts.
public enum StartPosition: Sendable, Equatable {
    case earliest
    case latest
    case offset(Int64)
    /// The first record whose timestamp (ns since the epoch) is at or after this one.
    case timestamp(Int64)
}

/// Reads one partition's records in order, from any process, while a writer appends.
///
/// Batches are checksummed as they are read. Records are lent to a callback as `RecordView`s that
/// point into the reader's buffer: no allocation per record.
///
/// Not thread-safe: one reader per thread.
public final class PartitionReader {
    public let topic: String
    public let partition: Int
    public let directory: String

    private var segment: FileDescriptor?
    private var segmentBase: Int64 = 0
    private var buffer: UnsafeMutableRawBufferPointer
    /// File position of `buffer[0]`.
    private var bufferStart: Int64 = 0
    private var bufferCount = 0
    /// Index in `buffer` of the next batch.
    private var cursor = 0
    /// Position in the current segment of a batch already checksummed (skip re-verifying).
    private var verifiedBatch: Int64 = -1
    /// First damaged position seen in the active segment and when, to tell a torn in-flight read
    /// from lasting damage.
    private var damageSeen: (position: Int64, since: Int64)?

    /// The offset of the next record `read` delivers.
    public private(set) var position: Int64 = 0

    /// When set, the segment bytes the reader has passed are dropped from the kernel's page
    /// cache (`POSIX_FADV_DONTNEED`) every ``dropStep`` bytes, and the rest of a segment when it
    /// moves to the next one: for a consumer that is the topic's only reader (the alert
    /// indexer), so that a backlog read once does not stay in memory, pushing out pages that are
    /// used again (the index's), and the memory is reused at once. Pages a writer has dirtied
    /// and not yet written back stay (the kernel only starts writing them); a record read again
    /// (after a seek, or by another reader) comes from the disk. Default false.
    public var dropsReadPages = false
    /// Position in the current segment up to which pages were dropped (or never read).
    private var dropped: Int64 = 0
    static let dropStep: Int64 = 8 << 20

    public init(topic: String, partition: Int, directory: String, bufferBytes: Int = 1 << 20) throws(BrokerError) {
        self.topic = topic
        self.partition = partition
        self.directory = directory
        guard FileSystem.isDirectory(directory) else {
            throw BrokerError(.notFound, "partition \(topic)/\(partition) does not exist at \(directory)")
        }
        buffer = .allocate(byteCount: max(bufferBytes, 4096), alignment: 16)
        try seek(.earliest)
    }

    deinit { buffer.deallocate() }

    /// The first offset on disk.
    public func startOffset() throws(BrokerError) -> Int64 {
        try SegmentFiles.bases(in: directory).first ?? 0
    }

    /// One past the last complete record on disk now (a scan of the last segment's headers).
    public func endOffset() throws(BrokerError) -> Int64 {
        let bases = try SegmentFiles.bases(in: directory)
        guard let base = bases.last else { return 0 }
        let file = try FileDescriptor(path: SegmentFiles.log(directory, base), flags: O_RDONLY)
        var scanner = SegmentScanner(file: file, verify: false)
        defer { scanner.deallocate() }
        var end = base
        _ = try scanner.scan(from: 0, expectedBase: nil) { header, _ in
            end = header.baseOffset + Int64(header.count)
            return true
        }
        return end
    }

    /// Positions the reader; an offset before the first segment or after the end is an
    /// `offsetOutOfRange` error, so consumers decide how to reset.
    public func seek(_ start: StartPosition) throws(BrokerError) {
        let bases = try SegmentFiles.bases(in: directory)
        guard let first = bases.first else {
            throw BrokerError(.notFound, "partition \(topic)/\(partition) has no segments in \(directory)")
        }
        switch start {
        case .earliest:
            try open(base: first, at: 0)
            position = first
        case .latest:
            let end = try endOffset()
            try seekOffset(end, bases: bases)
        case .offset(let target):
            let end = try endOffset()
            guard target >= first, target <= end else {
                throw BrokerError(.offsetOutOfRange, "offset \(target) is outside \(topic)/\(partition)'s range \(first)..<\(end)")
            }
            try seekOffset(target, bases: bases)
        case .timestamp(let t):
            try seekTimestamp(t, bases: bases)
        }
    }

    private func seekOffset(_ target: Int64, bases: [Int64]) throws(BrokerError) {
        let base = bases.last(where: { $0 <= target }) ?? bases[0]
        var startPosition: Int64 = 0
        if let index = loadIndex(base: base) {
            startPosition = Int64(index.position(atOrBefore: UInt32(clamping: target - base)).position)
        }
        let file = try FileDescriptor(path: SegmentFiles.log(directory, base), flags: O_RDONLY)
        var scanner = SegmentScanner(file: file, verify: false)
        defer { scanner.deallocate() }
        var found: Int64?
        let (_, end) = try scanner.scan(from: startPosition, expectedBase: nil) { header, at in
            if header.baseOffset + Int64(header.count) > target { found = at; return false }
            return true
        }
        try open(base: base, at: found ?? end, file: file)
        position = target
    }

    private func seekTimestamp(_ t: Int64, bases: [Int64]) throws(BrokerError) {
        for (i, base) in bases.enumerated() {
            let index = loadIndex(base: base)
            if let index, index.maxTimestamp < t, i < bases.count - 1 { continue }
            let from = Int64(index?.position(olderThan: t).position ?? 0)
            let file = try FileDescriptor(path: SegmentFiles.log(directory, base), flags: O_RDONLY)
            var scanner = SegmentScanner(file: file, verify: false)
            defer { scanner.deallocate() }
            var found: (offset: Int64, at: Int64)?
            var next = base
            _ = try scanner.scan(from: from, expectedBase: nil) { header, at in
                next = header.baseOffset + Int64(header.count)
                if header.maxTimestamp >= t { found = (header.baseOffset, at); return false }
                return true
            }
            if let found {
                try open(base: base, at: found.at, file: file)
                position = found.offset
                // Skip the batch's records older than `t`.
                try skipOlder(than: t)
                return
            }
            if i == bases.count - 1 {
                try open(base: base, at: try file.size(), file: file)
                position = next
            }
        }
    }

    /// Advances `position` past leading records of the current batch older than `t`.
    private func skipOlder(than t: Int64) throws(BrokerError) {
        guard try fill(), case .batch(let header) = parseAtCursor() else { return }
        var it = RecordIterator(bytes: UnsafeRawBufferPointer(rebasing: buffer[cursor..<bufferCount]), header: header)
        while let r = try it.next(partition: partition), r.timestamp < t { position = r.offset + 1 }
    }

    private func loadIndex(base: Int64) -> SegmentIndex? {
        guard let size = FileSystem.fileSize(SegmentFiles.log(directory, base)) else { return nil }
        return SegmentIndex.load(offsetIndex: (try? FileSystem.readAll(SegmentFiles.index(directory, base))) ?? [],
                                 timeIndex: (try? FileSystem.readAll(SegmentFiles.timeIndex(directory, base))) ?? [],
                                 segmentSize: size)
    }

    private func open(base: Int64, at filePosition: Int64, file: FileDescriptor? = nil) throws(BrokerError) {
        if dropsReadPages, let previous = segment, base > segmentBase {
            // Moving on to a later segment: the rest of this one was read.
            previous.dropCachedPages(from: dropped)
        }
        dropped = filePosition
        if let file { segment = file } else {
            segment = try FileDescriptor(path: SegmentFiles.log(directory, base), flags: O_RDONLY)
        }
        segmentBase = base
        bufferStart = filePosition
        bufferCount = 0
        cursor = 0
        verifiedBatch = -1
        damageSeen = nil
    }

    /// Reads more bytes after those buffered; false when nothing new arrived.
    private func fill(minimum: Int = BatchFormat.headerSize) throws(BrokerError) -> Bool {
        guard let segment else { return false }
        if cursor > 0 {
            let rest = bufferCount - cursor
            if rest > 0 { buffer.baseAddress!.copyMemory(from: buffer.baseAddress! + cursor, byteCount: rest) }
            bufferStart += Int64(cursor)
            bufferCount = rest
            cursor = 0
        }
        if minimum > buffer.count {
            let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: minimum, alignment: 16)
            bigger.baseAddress!.copyMemory(from: buffer.baseAddress!, byteCount: bufferCount)
            buffer.deallocate()
            buffer = bigger
        }
        let n = try segment.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[bufferCount...]),
                                 at: bufferStart + Int64(bufferCount))
        bufferCount += n
        if dropsReadPages, bufferStart - dropped >= Self.dropStep {
            // Everything before the buffer was delivered.
            segment.dropCachedPages(from: dropped, count: bufferStart - dropped)
            dropped = bufferStart
        }
        return n > 0
    }

    private func parseAtCursor() -> BatchParse {
        let at = bufferStart + Int64(cursor)
        return BatchHeader.parse(UnsafeRawBufferPointer(rebasing: buffer[cursor..<bufferCount]), verify: at != verifiedBatch)
    }

    /// Delivers up to `maxRecords` records in offset order to `body`; returns how many. Returns 0
    /// when the reader is at the end of the partition.
    @discardableResult
    public func read(maxRecords: Int, _ body: (RecordView) throws -> Void) throws -> Int {
        var delivered = 0
        while delivered < maxRecords {
            switch parseAtCursor() {
            case .batch(let header):
                verifiedBatch = bufferStart + Int64(cursor)
                damageSeen = nil
                if header.baseOffset + Int64(header.count) > position {
                    var it = RecordIterator(bytes: UnsafeRawBufferPointer(rebasing: buffer[cursor..<bufferCount]), header: header)
                    while delivered < maxRecords, let record = try it.next(partition: partition) {
                        if record.offset < position { continue }
                        try body(record)
                        position = record.offset + 1
                        delivered += 1
                    }
                    if position < header.baseOffset + Int64(header.count) { return delivered }
                }
                cursor += header.totalSize
            case .incomplete(let needed):
                if try fill(minimum: needed) { continue }
                // End of this segment's bytes: move on if a newer segment exists.
                guard try advanceSegment() else { return delivered }
            case .corrupt(let why):
                let at = bufferStart + Int64(cursor)
                if try isSealed() {
                    throw BrokerError(.corrupt, "\(topic)/\(partition): segment \(SegmentFiles.log(directory, segmentBase)) is damaged at byte \(at) (\(why)); records before offset \(position) were read intact")
                }
                // In the active segment this may be a write in flight; lasting damage is reported.
                let now = PartitionWriter.nowNanoseconds()
                if let seen = damageSeen, seen.position == at {
                    if now - seen.since > 2_000_000_000 {
                        throw BrokerError(.corrupt, "\(topic)/\(partition): segment \(SegmentFiles.log(directory, segmentBase)) is damaged at byte \(at) (\(why)); records before offset \(position) were read intact")
                    }
                } else {
                    damageSeen = (at, now)
                }
                bufferCount = cursor  // re-read these bytes next time
                return delivered
            }
        }
        return delivered
    }

    private func isSealed() throws(BrokerError) -> Bool {
        try SegmentFiles.bases(in: directory).contains { $0 > segmentBase }
    }

    /// At the end of the current segment: switches to the next one once the current one is
    /// sealed and fully read. Returns false when there is nothing further yet.
    private func advanceSegment() throws(BrokerError) -> Bool {
        let bases = try SegmentFiles.bases(in: directory)
        guard let next = bases.first(where: { $0 > segmentBase }) else {
            if let first = bases.first, first > position {
                throw BrokerError(.offsetOutOfRange, "offset \(position) of \(topic)/\(partition) was deleted by retention; the earliest is \(first)")
            }
            return false
        }
        // The writer finished this segment before creating the next: read what it added meanwhile.
        if try fill() { return true }
        if cursor < bufferCount {
            throw BrokerError(.corrupt, "\(topic)/\(partition): segment \(SegmentFiles.log(directory, segmentBase)) ends in a partial batch at byte \(bufferStart + Int64(cursor))")
        }
        do {
            try open(base: next, at: 0)
        } catch where error.code == .notFound {
            // Deleted by retention while we read: continue from what is left.
            return try advanceSegment()
        }
        if position < next { position = next }
        return true
    }
}
