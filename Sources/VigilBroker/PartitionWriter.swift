import Foundation
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// What opening a partition for writing found and repaired.
public struct RecoveryReport: Sendable, Equatable {
    public var topic: String
    public var partition: Int
    /// Bytes cut from the end of the last segment (a torn or unchecksummed tail).
    public var truncatedBytes: Int64
    /// Why the tail was cut.
    public var reason: String
    /// The offset the next append gets.
    public var nextOffset: Int64

    public var description: String {
        "recovered \(topic)/\(partition): truncated \(truncatedBytes) bytes of a torn tail (\(reason)); next offset \(nextOffset)"
    }
}

/// Offsets given to one appended batch.
public struct AppendResult: Sendable, Equatable {
    public var partition: Int
    public var baseOffset: Int64
    public var lastOffset: Int64
}

/// The single writer of one partition: appends batches to the active segment, rolls segments by
/// size, keeps the sparse indexes, enforces retention and the fsync policy.
///
/// Exclusive across processes through `flock` on `writer.lock`; readers in any process read the
/// segment files concurrently without locks.
///
/// `@unchecked Sendable`: every mutable field is guarded by `lock`; the flusher thread and
/// appending threads meet only inside it.
public final class PartitionWriter: @unchecked Sendable {
    public let topic: String
    public let partition: Int
    public let directory: String
    let configuration: LogConfiguration

    private let lock = NSCondition()
    private let lockFile: FileDescriptor
    private var sealed: [(base: Int64, size: Int64, maxTimestamp: Int64)] = []
    private var activeBase: Int64
    private var active: FileDescriptor
    private var activeSize: Int64
    private var activeIndex: SegmentIndex
    private var activeMaxTimestamp: Int64
    private var bytesSinceIndexEntry = 0
    /// Start of the active segment's bytes whose writeback has not been started.
    private var writebackStart: Int64 = 0
    /// Writeback is started every this many bytes (the disk then streams rather than bursts).
    static let writebackChunk: Int64 = 8 << 20
    private var nextOffset: Int64
    /// One past the last offset known durable under the fsync policy.
    private var durableOffset: Int64
    private var closed = false
    private var failure: BrokerError?

    /// The repair done on open, if any.
    public let recovery: RecoveryReport?

    /// Opens (creating if needed) the partition in `directory`, taking the writer lock and
    /// recovering the last segment's tail.
    ///
    /// Damage followed by more valid data (not a torn tail) is not cut unless `repair` is set; the
    /// damaged segment is then first copied to `<name>.log.corrupt` so nothing is lost.
    public init(topic: String, partition: Int, directory: String, configuration: LogConfiguration,
                repair: Bool = false) throws(BrokerError) {
        self.topic = topic
        self.partition = partition
        self.directory = directory
        self.configuration = configuration
        try FileSystem.makeDirectories(directory)
        lockFile = try FileDescriptor(path: "\(directory)/writer.lock", flags: O_RDWR | O_CREAT)
        guard try lockFile.tryLock() else {
            let holder = (try? FileSystem.readAll("\(directory)/writer.lock")).map { String(decoding: $0, as: UTF8.self) } ?? "?"
            throw BrokerError(.locked, "partition \(topic)/\(partition) is being written by another process (pid \(holder.trimmingCharacters(in: .whitespacesAndNewlines))); one writer per partition")
        }
        let pid = Array("\(getpid())\n".utf8)
        try lockFile.truncate(to: 0)
        try lockFile.write(pid, at: 0)

        var bases = try SegmentFiles.bases(in: directory)
        if bases.isEmpty {
            bases = [0]
            _ = try FileDescriptor(path: SegmentFiles.log(directory, 0), flags: O_WRONLY | O_CREAT)
            try FileSystem.syncDirectory(directory)
        }
        // Sealed segments: trust their indexes; rebuild any that are missing or inconsistent.
        for base in bases.dropLast() {
            let logPath = SegmentFiles.log(directory, base)
            let size = FileSystem.fileSize(logPath) ?? 0
            if let index = SegmentIndex.load(offsetIndex: (try? FileSystem.readAll(SegmentFiles.index(directory, base))) ?? [],
                                             timeIndex: (try? FileSystem.readAll(SegmentFiles.timeIndex(directory, base))) ?? [],
                                             segmentSize: size) {
                sealed.append((base, size, index.maxTimestamp))
            } else {
                let file = try FileDescriptor(path: logPath, flags: O_RDONLY)
                var summary = try SegmentSummary.scan(file: file, base: base, interval: configuration.indexIntervalBytes)
                if summary.stop != .end {
                    throw BrokerError(.corrupt, "sealed segment \(logPath) is damaged at byte \(summary.size) (\(summary.stop)); records before offset \(base + Int64(summary.nextRelative)) are intact. Move the file aside or restore it from a copy")
                }
                summary.index.add(relative: summary.nextRelative, position: UInt32(summary.size), maxTimestampBefore: summary.maxTimestamp)
                try Self.writeIndexes(summary.index, directory: directory, base: base)
                sealed.append((base, summary.size, summary.maxTimestamp))
            }
        }
        // The active segment: scan it all, verifying, and cut a torn tail.
        let base = bases.last!
        let logPath = SegmentFiles.log(directory, base)
        active = try FileDescriptor(path: logPath, flags: O_RDWR | O_CREAT)
        let summary = try SegmentSummary.scan(file: active, base: base, interval: configuration.indexIntervalBytes)
        let fileSize = try active.size()
        var report: RecoveryReport? = nil
        if summary.size < fileSize {
            let reason: String
            switch summary.stop {
            case .incomplete: reason = "partial batch"
            case .corrupt(let why): reason = why
            default: reason = "unreadable bytes"
            }
            if case .corrupt = summary.stop, !repair,
               try Self.hasValidBatchAfterDamage(file: active, damageAt: summary.size, fileSize: fileSize) {
                throw BrokerError(.corrupt, "segment \(logPath) is damaged at byte \(summary.size) (\(reason)) with valid records after it; records before offset \(base + Int64(summary.nextRelative)) are intact. Run `vigil topics repair` to keep a copy of the segment and cut it at the damage")
            }
            if case .corrupt = summary.stop, repair {
                try FileSystem.writeAtomically(FileSystem.readAll(logPath), to: logPath + ".corrupt")
            }
            try active.truncate(to: summary.size)
            try active.sync()
            report = RecoveryReport(topic: topic, partition: partition, truncatedBytes: fileSize - summary.size,
                                    reason: reason, nextOffset: base + Int64(summary.nextRelative))
        }
        recovery = report
        activeBase = base
        activeSize = summary.size
        writebackStart = summary.size
        activeIndex = summary.index
        activeMaxTimestamp = summary.maxTimestamp
        nextOffset = base + Int64(summary.nextRelative)
        durableOffset = nextOffset
        // Files the previous writer left half-made.
        for name in try FileSystem.list(directory) where name.hasSuffix(".tmp") {
            try FileSystem.remove("\(directory)/\(name)")
        }
        try applyRetentionLocked(now: Self.nowNanoseconds())
    }

    deinit {
        lockFile.unlock()
    }

    /// Whether a checksummed batch begins right after a damaged one (so the damage is not a torn tail).
    private static func hasValidBatchAfterDamage(file: FileDescriptor, damageAt: Int64, fileSize: Int64) throws(BrokerError) -> Bool {
        var header = [UInt8](repeating: 0, count: 4)
        let n = try file.read(into: &header, at: damageAt)
        guard n == 4 else { return false }
        let length = Int64(header.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self)) })
        let next = damageAt + 4 + length
        guard length <= BatchFormat.maxBatchBytes, next < fileSize else { return false }
        var scanner = SegmentScanner(file: file, verify: true)
        defer { scanner.deallocate() }
        var found = false
        _ = try scanner.scan(from: next, expectedBase: nil) { _, _ in found = true; return false }
        return found
    }

    static func nowNanoseconds() -> Int64 { Timestamp.now().nanoseconds }

    /// The offset the next record gets.
    public var endOffset: Int64 { lock.withLock { nextOffset } }
    /// The first offset still on disk.
    public var startOffset: Int64 { lock.withLock { sealed.first?.base ?? activeBase } }
    /// One past the last durable offset.
    public var durableEndOffset: Int64 { lock.withLock { durableOffset } }

    /// Appends `batch` (which must not be empty) as one checksummed unit and resets the builder.
    ///
    /// Returns once the bytes are written; call `waitDurable(_:)` (or use `.everyBatch`) for
    /// durability. A failed write (disk full) leaves the log as it was before the call.
    @discardableResult
    public func append(_ batch: inout BatchBuilder) throws(BrokerError) -> AppendResult {
        precondition(!batch.isEmpty, "empty batch")
        lock.lock()
        defer { lock.unlock() }
        if closed { throw BrokerError(.closed, "partition \(topic)/\(partition) is closed") }
        if let failure { throw failure }
        if batch.byteCount > BatchFormat.maxBatchBytes {
            throw BrokerError(.invalidArgument, "a batch of \(batch.byteCount) bytes exceeds the \(BatchFormat.maxBatchBytes)-byte limit")
        }
        if activeSize > 0 && activeSize + Int64(batch.byteCount) > Int64(configuration.segmentBytes) {
            try rollLocked()
        }
        let base = nextOffset
        batch.seal(baseOffset: base)
        let position = activeSize
        do {
            try active.write(batch.buffer, at: position)
        } catch {
            // Cut whatever part of the batch reached the file; the log stays as before.
            try? active.truncate(to: position)
            throw error
        }
        if bytesSinceIndexEntry >= configuration.indexIntervalBytes {
            activeIndex.add(relative: UInt32(base - activeBase), position: UInt32(position), maxTimestampBefore: activeMaxTimestamp)
            bytesSinceIndexEntry = 0
        }
        bytesSinceIndexEntry += batch.byteCount
        activeSize += Int64(batch.byteCount)
        if configuration.fsync != .never && activeSize - writebackStart >= Self.writebackChunk {
            active.startWriteback(offset: writebackStart, length: activeSize - writebackStart)
            writebackStart = activeSize
        }
        activeMaxTimestamp = max(activeMaxTimestamp, batch.maxTimestamp)
        nextOffset = base + Int64(batch.count)
        let result = AppendResult(partition: partition, baseOffset: base, lastOffset: nextOffset - 1)
        batch.reset()
        switch configuration.fsync {
        case .everyBatch:
            try syncLocked()
        case .never:
            durableOffset = nextOffset
        case .interval:
            break
        }
        return result
    }

    /// Blocks until every offset below `end` is durable under the fsync policy.
    public func waitDurable(_ end: Int64) throws(BrokerError) {
        lock.lock()
        defer { lock.unlock() }
        while durableOffset < end {
            if let failure { throw failure }
            if closed { throw BrokerError(.closed, "partition \(topic)/\(partition) closed before the append was durable") }
            lock.wait()
        }
    }

    /// Forces written data to disk now (the flusher calls this every interval).
    public func sync() throws(BrokerError) {
        lock.lock()
        defer { lock.unlock() }
        if durableOffset == nextOffset || closed { return }
        do {
            try syncLocked()
        } catch {
            failure = error
            lock.broadcast()
            throw error
        }
    }

    private func syncLocked() throws(BrokerError) {
        try active.sync()
        durableOffset = nextOffset
        lock.broadcast()
    }

    /// Seals the active segment (fsync, indexes written) and starts a new one.
    private func rollLocked() throws(BrokerError) {
        try active.sync()
        var index = activeIndex
        index.add(relative: UInt32(nextOffset - activeBase), position: UInt32(activeSize), maxTimestampBefore: activeMaxTimestamp)
        try Self.writeIndexes(index, directory: directory, base: activeBase)
        sealed.append((activeBase, activeSize, activeMaxTimestamp))
        let file = try FileDescriptor(path: SegmentFiles.log(directory, nextOffset), flags: O_RDWR | O_CREAT)
        try FileSystem.syncDirectory(directory)
        durableOffset = nextOffset
        lock.broadcast()
        active = file
        activeBase = nextOffset
        activeSize = 0
        writebackStart = 0
        activeIndex = SegmentIndex()
        activeMaxTimestamp = .min
        bytesSinceIndexEntry = 0
        try applyRetentionLocked(now: Self.nowNanoseconds())
    }

    private static func writeIndexes(_ index: SegmentIndex, directory: String, base: Int64) throws(BrokerError) {
        try FileSystem.writeAtomically(index.offsetIndexBytes(), to: SegmentFiles.index(directory, base))
        try FileSystem.writeAtomically(index.timeIndexBytes(), to: SegmentFiles.timeIndex(directory, base))
    }

    /// Deletes sealed segments beyond the size limit or older than the age limit. The active
    /// segment is never deleted.
    public func applyRetention(now: Int64) throws(BrokerError) {
        lock.lock()
        defer { lock.unlock() }
        try applyRetentionLocked(now: now)
    }

    private func applyRetentionLocked(now: Int64) throws(BrokerError) {
        var total = sealed.reduce(activeSize) { $0 + $1.size }
        var deleted = false
        while let oldest = sealed.first {
            let tooBig = configuration.retentionBytes.map { total > $0 } ?? false
            let tooOld = configuration.retentionAgeNanoseconds.map { oldest.maxTimestamp < now - $0 } ?? false
            guard tooBig || tooOld else { break }
            try FileSystem.remove(SegmentFiles.index(directory, oldest.base))
            try FileSystem.remove(SegmentFiles.timeIndex(directory, oldest.base))
            try FileSystem.remove(SegmentFiles.log(directory, oldest.base))
            total -= oldest.size
            sealed.removeFirst()
            deleted = true
        }
        if deleted { try FileSystem.syncDirectory(directory) }
    }

    /// Number of segments (sealed and active) on disk.
    public var segmentCount: Int { lock.withLock { sealed.count + 1 } }
    /// Bytes of all segments.
    public var sizeBytes: Int64 { lock.withLock { sealed.reduce(activeSize) { $0 + $1.size } } }

    /// Flushes (under `.interval` and `.everyBatch`), releases the lock; later appends throw.
    public func close() throws(BrokerError) {
        lock.lock()
        defer { lock.unlock() }
        if closed { return }
        if configuration.fsync != .never && durableOffset < nextOffset { try syncLocked() }
        closed = true
        lock.broadcast()
        lockFile.unlock()
    }
}
