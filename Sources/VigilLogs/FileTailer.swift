import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Where the tailer may be stopped by a test to simulate a crash (kill -9) at that moment.
package enum FileTailFaultPoint: Sendable {
    /// After a line was handed to the processor.
    case lineProcessed
    /// After the processor acknowledged (the broker holds the batch), before the positions file.
    case afterFlush
    /// After the new positions file was written and synced, before it was renamed into place.
    case beforeRename
    /// After the positions file was replaced.
    case afterCheckpoint
}

/// Follows files matched by globs, like `tail -F` over many files, and hands their lines to a
/// processor, with read positions that survive restarts and crashes.
///
/// Files are identified by (device, inode), never by name. Each poll reads what was appended to
/// every open file; each scan expands the globs again: a new file is opened, a file no longer at
/// a matched path (renamed by rotation, or deleted) is read until it has been idle for
/// `rotateWait` (or, when deleted, to its end) and then closed — its final line is delivered
/// even without a newline. A file that became shorter than the read position was truncated
/// (`copytruncate`): it is read again from its start.
///
/// After every `batchLines` lines the processor hands the batch to the broker (`append`, without
/// waiting); after every 16 batches, and at the end of each poll that read anything, the tailer
/// acknowledges: the processor makes the lines durable, then the positions are written to
/// `<stateDirectory>/positions` atomically with the processor's marks. After a crash the
/// processor's `recover(after:)` reports which lines past those marks the broker already holds,
/// and those are skipped: no line is lost or repeated (see docs/sensors-file.md for the argument).
///
/// `@unchecked Sendable`: everything but `stopRequested`, `metrics` and `positions` (atomics and a
/// mutex) is used only by the one thread inside `run`; `stop()` may be called from any thread.
public final class FileTailer<Processor: FileTailProcessor>: @unchecked Sendable {
    public let configuration: FileTailerConfiguration
    public let stateDirectory: String
    public let metrics = FileTailMetrics()
    private var processor: Processor
    private let stopRequested = Atomic<Bool>(false)
    private let positions = Mutex<[FileTailPosition]>([])
    /// Called at each fault point; a test throws from it to stop the tailer as a crash would.
    package var faultInjection: ((FileTailFaultPoint) throws -> Void)?
    /// While this answers false the tailer reads nothing (the pipeline's memory limit): new lines
    /// wait in their files, delayed, not lost. Set before `run`.
    public var readGate: (@Sendable () -> Bool)?

    private final class TailedFile {
        let identity: FileIdentity
        let fd: Int32
        let path: String
        var location: String
        var offset: Int64
        var skippingLongLine: Bool
        var fingerprint: FileFingerprint
        var knownSize: Int64
        var lastGrowth: Int64
        var detachedSince: Int64?

        init(identity: FileIdentity, fd: Int32, path: String, location: String, offset: Int64, skipping: Bool,
             fingerprint: FileFingerprint, size: Int64, now: Int64) {
            self.identity = identity
            self.fd = fd
            self.path = path
            self.location = location
            self.offset = offset
            self.skippingLongLine = skipping
            self.fingerprint = fingerprint
            self.knownSize = size
            self.lastGrowth = now
        }
        deinit { close(fd) }
    }

    private var files: [FileIdentity: TailedFile] = [:]
    /// Entries of the stored positions not yet matched to a file (start-up only).
    private var stored: [FileIdentity: FileTailCheckpoint.Entry] = [:]
    /// Lines the broker already holds, by file: skipped when read again after a restart.
    private var replay: [FileIdentity: (last: Int64, offsets: Set<Int64>)] = [:]
    /// The marks of the positions found at start-up: stored again instead of new ones until the
    /// replay is done, so a second crash still finds the lines the first one left in the broker.
    private var recoveredMarks: [Int64] = []
    private var state: FileTailState?
    private var pendingLines = 0
    /// Of `pendingLines`, those handed to the broker with `processor.append()`.
    private var appendedLines = 0
    /// Batches of `batchLines` appended per acknowledgement.
    static var batchesPerAcknowledgement: Int { 16 }
    private var stateDirty = false
    private var lastScan: Int64 = .min
    private let buffer: UnsafeMutableRawBufferPointer

    /// - Parameters:
    ///   - stateDirectory: `<data_dir>/sensors/<name>` (see
    ///     `FileTailerConfiguration.stateDirectory`); created if missing.
    ///   - processor: turns lines into durable records.
    public init(configuration: FileTailerConfiguration, stateDirectory: String, processor: Processor) throws(FileTailError) {
        try configuration.validate()
        self.configuration = configuration
        self.stateDirectory = stateDirectory
        self.processor = processor
        buffer = .allocate(byteCount: max(configuration.maxLineBytes + 1, 256 << 10), alignment: 16)
    }

    deinit {
        files.removeAll()
        buffer.deallocate()
    }

    /// Asks `run` to return after its current step (acknowledging what it read). Any thread.
    public func stop() { stopRequested.store(true, ordering: .relaxed) }

    /// The positions stored by the last acknowledgement. Any thread.
    public var acknowledgedPositions: [FileTailPosition] { positions.withLock { $0 } }

    /// Access to the processor (for its counters) while `run` is not running.
    public func withProcessor<R>(_ body: (inout Processor) throws -> R) rethrows -> R { try body(&processor) }

    // MARK: Running

    /// Tails until `shouldStop` returns true or `stop()` is called, then acknowledges what was
    /// read and returns. Blocking: call it on a thread of its own. Errors (I/O, processor,
    /// positions file) stop it; it can be called again after fixing the cause.
    public func run(shouldStop: () -> Bool = { false }) throws {
        let state = try FileTailState(directory: stateDirectory)
        self.state = state
        defer { state.release(); self.state = nil }
        files.removeAll()
        replay.removeAll()
        stored.removeAll()
        pendingLines = 0
        recoveredMarks = []
        if let checkpoint = try state.load() {
            recoveredMarks = checkpoint.marks
            for entry in checkpoint.entries { stored[entry.identity] = entry }
            for id in try processor.recover(after: checkpoint.marks) {
                replay[id.identity, default: (id.offset, [])].offsets.insert(id.offset)
                replay[id.identity]!.last = max(replay[id.identity]!.last, id.offset)
            }
        }
        let now = Self.monotonicNanoseconds()
        try scan(now: now, initial: true)
        try resumeStoredFiles(now: now)
        // Held lines of files that are gone, or before where a file resumes, are never read again.
        for (identity, held) in replay where files[identity].map({ held.last < $0.offset }) ?? true {
            replay[identity] = nil
        }
        try acknowledge()  // positions (and marks) exist before the first line is sent

        let poll = Self.nanoseconds(configuration.pollInterval)
        let scanEvery = Self.nanoseconds(configuration.scanInterval)
        while !shouldStop() && !stopRequested.load(ordering: .relaxed) {
            let now = Self.monotonicNanoseconds()
            if now - lastScan >= scanEvery { try scan(now: now, initial: false) }
            if let readGate, !readGate() {
                if pendingLines > 0 || stateDirty { try acknowledge() }
                metrics._unreadBytes.store(files.values.reduce(0) { total, file in
                    var st = stat()
                    return total + (fstat(file.fd, &st) == 0 ? max(0, Int64(st.st_size) - file.offset) : 0)
                }, ordering: .relaxed)
                Self.sleep(nanoseconds: poll)
                continue
            }
            var progressed = false
            for file in files.values {
                if try readAvailable(file, now: now) { progressed = true }
            }
            try closeFinishedFiles(now: now)
            if pendingLines > 0 || stateDirty { try acknowledge() }
            metrics._unreadBytes.store(files.values.reduce(0) { $0 + max(0, $1.knownSize - $1.offset) }, ordering: .relaxed)
            if !progressed { Self.sleep(nanoseconds: poll) }
        }
        if pendingLines > 0 || stateDirty { try acknowledge() }
        files.removeAll()
    }

    // MARK: Discovering files

    /// Expands the globs: opens new files, notices renamed and deleted ones.
    private func scan(now: Int64, initial: Bool) throws {
        lastScan = now
        var seen = Set<FileIdentity>()
        for pattern in configuration.paths {
            for path in Self.glob(pattern) where !isExcluded(path) {
                var st = stat()
                guard stat(path, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { continue }
                let identity = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
                guard seen.insert(identity).inserted else { continue }
                if let file = files[identity] {
                    if file.detachedSince != nil { file.detachedSince = nil }  // renamed to another matched path
                    if file.location != path { file.location = path; stateDirty = true }
                    if !file.fingerprint.matches(fd: file.fd) { try restartFromBeginning(file) }  // rewritten in place
                } else {
                    _ = try open(path: path, now: now, initial: initial, detached: false)
                }
            }
        }
        for file in files.values where file.detachedSince == nil && !seen.contains(file.identity) {
            // Renamed away (rotation) or deleted: keep reading it until it is done.
            file.detachedSince = now
            metrics._rotations.add(1, ordering: .relaxed)
            if let found = Self.find(file.identity, inDirectoryOf: file.location) { file.location = found }
            stateDirty = true
        }
    }

    private func isExcluded(_ path: String) -> Bool {
        guard !configuration.exclude.isEmpty else { return false }
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return configuration.exclude.contains { fnmatch($0, $0.contains("/") ? path : base, 0) == 0 }
    }

    /// Opens a file and decides where to start: its stored position, or `start_at` for files
    /// present at start-up, or its beginning.
    @discardableResult
    private func open(path: String, now: Int64, initial: Bool, detached: Bool) throws -> TailedFile? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }  // gone between the scan and the open
            throw FileTailError.posix("cannot open", path: path)
        }
        var st = stat()
        guard fstat(fd, &st) == 0 else { close(fd); throw FileTailError.posix("cannot stat", path: path) }
        let identity = FileIdentity(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
        if files[identity] != nil { close(fd); return nil }
        let size = Int64(st.st_size)
        var offset: Int64 = 0
        var skipping = false
        var reportedPath = path
        if let entry = stored.removeValue(forKey: identity) {
            if entry.fingerprint.matches(fd: fd) {
                reportedPath = entry.path
                if size < entry.offset {
                    metrics._truncations.add(1, ordering: .relaxed)  // truncated while we were down
                    replay[identity] = nil
                } else {
                    offset = entry.offset
                    skipping = entry.skippingLongLine
                }
            } else {
                // A new file that reuses a deleted file's inode: the old one's unread tail is lost.
                metrics._filesLost.add(1, ordering: .relaxed)
                replay[identity] = nil
            }
        } else if initial && configuration.startAt == .end {
            offset = size
            if size > 0 {
                var last: UInt8 = 0
                if pread(fd, &last, 1, off_t(size - 1)) == 1 && last != 0x0A { skipping = true }  // mid-line: skip to its end
            }
        }
        let file = TailedFile(identity: identity, fd: fd, path: reportedPath, location: path, offset: offset,
                              skipping: skipping, fingerprint: FileFingerprint.compute(fd: fd) ?? .empty, size: size, now: now)
        if detached { file.detachedSince = now }
        files[identity] = file
        metrics._filesOpened.add(1, ordering: .relaxed)
        stateDirty = true
        return file
    }

    /// Stored files no glob matched at start-up: renamed (rotated) while Vigil was down, or gone.
    private func resumeStoredFiles(now: Int64) throws {
        for entry in Array(stored.values) {
            var found: String?
            var st = stat()
            if stat(entry.location, &st) == 0, UInt64(st.st_dev) == entry.identity.device, UInt64(st.st_ino) == entry.identity.inode {
                found = entry.location
            } else {
                found = Self.find(entry.identity, inDirectoryOf: entry.location)
                    ?? Self.find(entry.identity, inDirectoryOf: entry.path)
            }
            if let found, try open(path: found, now: now, initial: false, detached: true) != nil { continue }
            if stored.removeValue(forKey: entry.identity) != nil {
                metrics._filesLost.add(1, ordering: .relaxed)
                replay[entry.identity] = nil
            }
        }
        stored.removeAll()
    }

    // MARK: Reading

    /// Reads the complete lines appended since the last call. Returns whether any byte was consumed.
    private func readAvailable(_ file: TailedFile, now: Int64) throws -> Bool {
        var st = stat()
        guard fstat(file.fd, &st) == 0 else { throw FileTailError.posix("cannot stat", path: file.location) }
        let size = Int64(st.st_size)
        if size < file.offset {
            try restartFromBeginning(file)
        } else if size != file.knownSize && !file.fingerprint.matches(fd: file.fd) {
            try restartFromBeginning(file)  // truncated and rewritten past our position: other first bytes
        }
        if size != file.knownSize {
            if size > file.knownSize { file.lastGrowth = now }
            file.knownSize = size
            if file.fingerprint.length < FileFingerprint.maximumLength && size > Int64(file.fingerprint.length) {
                file.fingerprint = FileFingerprint.compute(fd: file.fd) ?? file.fingerprint
            }
        }
        var progressed = false
        let base = buffer.baseAddress!
        let limit = configuration.maxLineBytes
        while file.offset < size {
            let want = Int(min(Int64(buffer.count), size - file.offset))
            var n: Int
            repeat { n = pread(file.fd, base, want, off_t(file.offset)) } while n < 0 && errno == EINTR
            if n < 0 { throw FileTailError.posix("cannot read", path: file.location) }
            if n == 0 { break }  // shrank meanwhile; the next poll sees the truncation
            var start = 0
            while start < n, let newline = memchr(base + start, 0x0A, n - start) {
                let end = base.distance(to: newline)
                let lineStart = file.offset
                if file.skippingLongLine {
                    file.skippingLongLine = false  // the end of an over-long line
                } else {
                    var length = end - start
                    var truncated = false
                    if length > limit {
                        length = limit
                        truncated = true
                        metrics._longLines.add(1, ordering: .relaxed)
                    } else if length > 0 && base.load(fromByteOffset: end - 1, as: UInt8.self) == 0x0D {
                        length -= 1  // CRLF
                    }
                    file.offset += Int64(end + 1 - start)
                    try deliver(file, UnsafeRawBufferPointer(start: base + start, count: length), at: lineStart, truncated: truncated)
                    metrics._bytesRead.add(Int64(end + 1 - start), ordering: .relaxed)
                    start = end + 1
                    progressed = true
                    if pendingLines - appendedLines >= configuration.batchLines {
                        // Every batch goes to the broker at once; every 16th is also waited for
                        // (acknowledged), so parsing overlaps the broker's group commit.
                        if pendingLines >= configuration.batchLines * Self.batchesPerAcknowledgement {
                            try acknowledge()
                        } else {
                            try processor.append()
                            appendedLines = pendingLines
                        }
                    }
                    continue
                }
                file.offset += Int64(end + 1 - start)
                metrics._bytesRead.add(Int64(end + 1 - start), ordering: .relaxed)
                start = end + 1
                progressed = true
            }
            let rest = n - start
            if rest == 0 { continue }
            if file.skippingLongLine {
                file.offset += Int64(rest)  // more of an over-long line
                metrics._bytesRead.add(Int64(rest), ordering: .relaxed)
                progressed = true
                continue
            }
            if rest > limit {
                // An over-long line still without its newline: deliver its head, skip the rest.
                let lineStart = file.offset
                file.offset += Int64(rest)
                file.skippingLongLine = true
                metrics._longLines.add(1, ordering: .relaxed)
                metrics._bytesRead.add(Int64(rest), ordering: .relaxed)
                try deliver(file, UnsafeRawBufferPointer(start: base + start, count: limit), at: lineStart, truncated: true)
                progressed = true
                continue
            }
            if start == 0 { break }  // a partial last line: wait for its newline
        }
        return progressed
    }

    private func deliver(_ file: TailedFile, _ bytes: UnsafeRawBufferPointer, at offset: Int64, truncated: Bool) throws {
        metrics._linesRead.add(1, ordering: .relaxed)
        if !replay.isEmpty, let held = replay[file.identity] {
            if offset >= held.last { replay[file.identity] = nil }
            if held.offsets.contains(offset) {
                metrics._duplicatesSkipped.add(1, ordering: .relaxed)
                return
            }
        }
        try processor.process(FileTailLine(bytes: bytes, path: file.path, identity: file.identity, offset: offset, truncated: truncated))
        pendingLines += 1
        try faultInjection?(.lineProcessed)
    }

    /// A file found shorter than the read position, or with other first bytes: truncated
    /// (copytruncate) or rewritten. Lines written after our last read and before the truncation
    /// are lost; that is inherent in copytruncate.
    private func restartFromBeginning(_ file: TailedFile) throws {
        metrics._truncations.add(1, ordering: .relaxed)
        file.offset = 0
        file.skippingLongLine = false
        file.knownSize = 0
        file.fingerprint = FileFingerprint.compute(fd: file.fd) ?? .empty
        replay[file.identity] = nil
        stateDirty = true
        // Acknowledge now: the lines read before the truncation and the restart at 0 are stored
        // together, so no unacknowledged window holds lines of both contents (a restart could
        // not tell them apart by offset).
        try acknowledge()
    }

    /// Closes files renamed away and idle for `rotateWait`, and deleted files read to their end;
    /// a final line without a newline is delivered first.
    private func closeFinishedFiles(now: Int64) throws {
        let wait = Self.nanoseconds(configuration.rotateWait)
        for file in Array(files.values) {
            guard file.detachedSince != nil else { continue }
            var st = stat()
            guard fstat(file.fd, &st) == 0 else { throw FileTailError.posix("cannot stat", path: file.location) }
            let deleted = st.st_nlink == 0
            guard deleted || now - file.lastGrowth >= wait else { continue }
            _ = try readAvailable(file, now: now)
            try flushPartialLine(file)
            files[file.identity] = nil
            replay[file.identity] = nil
            metrics._filesClosed.add(1, ordering: .relaxed)
            stateDirty = true
            // Acknowledge now: the file's last lines and its removal from the positions go
            // together, so a later file reusing the inode never shares a window with it.
            try acknowledge()
        }
    }

    private func flushPartialLine(_ file: TailedFile) throws {
        var st = stat()
        guard fstat(file.fd, &st) == 0 else { return }
        let size = Int64(st.st_size)
        guard size > file.offset else { return }
        if file.skippingLongLine { file.offset = size; return }
        let count = Int(min(size - file.offset, Int64(buffer.count)))
        let n = pread(file.fd, buffer.baseAddress!, count, off_t(file.offset))
        guard n > 0 else { return }
        let lineStart = file.offset
        let length = min(n, configuration.maxLineBytes)
        file.offset = size
        metrics._partialLinesFlushed.add(1, ordering: .relaxed)
        metrics._bytesRead.add(Int64(n), ordering: .relaxed)
        try deliver(file, UnsafeRawBufferPointer(start: buffer.baseAddress!, count: length), at: lineStart, truncated: n > length)
    }

    // MARK: Acknowledging

    /// The processor makes every processed line durable; then the positions are stored with its marks.
    private func acknowledge() throws {
        guard let state else { return }
        let marks = try processor.acknowledge()
        pendingLines = 0
        appendedLines = 0
        try faultInjection?(.afterFlush)
        // While re-read lines may still be held by the broker past the recovered marks, keep
        // those marks: the positions do not cover those lines yet.
        var checkpoint = FileTailCheckpoint(marks: replay.isEmpty ? marks : recoveredMarks)
        for file in files.values.sorted(by: { $0.location < $1.location }) {
            checkpoint.entries.append(.init(identity: file.identity, fingerprint: file.fingerprint, offset: file.offset,
                                            skippingLongLine: file.skippingLongLine, path: file.path, location: file.location))
        }
        try state.store(checkpoint) { try faultInjection?(.beforeRename) }
        stateDirty = false
        metrics._acknowledgements.add(1, ordering: .relaxed)
        let snapshot = checkpoint.entries.map {
            FileTailPosition(identity: $0.identity, path: $0.path, location: $0.location, offset: $0.offset)
        }
        positions.withLock { $0 = snapshot }
        try faultInjection?(.afterCheckpoint)
    }

    // MARK: Helpers

    static func glob(_ pattern: String) -> [String] {
        var g = glob_t()
        defer { globfree(&g) }
        guard Glibc.glob(pattern, 0, nil, &g) == 0 else { return [] }
        var result: [String] = []
        for i in 0..<Int(g.gl_pathc) {
            if let p = g.gl_pathv[i] { result.append(String(cString: p)) }
        }
        return result
    }

    /// The path of the file with `identity` in the directory of `path`, if any (a rotated file).
    static func find(_ identity: FileIdentity, inDirectoryOf path: String) -> String? {
        guard let slash = path.lastIndex(of: "/") else { return nil }
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        guard let dir = opendir(directory) else { return nil }
        defer { closedir(dir) }
        while let entry = readdir(dir) {
            guard UInt64(entry.pointee.d_ino) == identity.inode else { continue }
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            let candidate = directory == "/" ? "/\(name)" : "\(directory)/\(name)"
            var st = stat()
            if stat(candidate, &st) == 0, UInt64(st.st_dev) == identity.device, UInt64(st.st_ino) == identity.inode,
               (st.st_mode & S_IFMT) == S_IFREG {
                return candidate
            }
        }
        return nil
    }

    static func monotonicNanoseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func nanoseconds(_ d: Duration) -> Int64 {
        let c = d.components
        return c.seconds * 1_000_000_000 + c.attoseconds / 1_000_000_000
    }

    static func sleep(nanoseconds: Int64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
    }
}
