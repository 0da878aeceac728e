#if canImport(Glibc)
import Glibc
#endif
import CVigilShims

/// A thin owner of a POSIX file descriptor: every call is positioned (`pread`/`pwrite`), retried on
/// `EINTR`, and turned into a `BrokerError` naming the path. Closed in `deinit`.
///
/// `@unchecked Sendable`: the descriptor is immutable after init and positioned I/O carries no
/// shared file offset, so concurrent `read(at:)` calls from several threads are safe. The lock flag
/// is changed only by the single owner that locks and unlocks.
final class FileDescriptor: @unchecked Sendable {
    let fd: Int32
    let path: String

    init(path: String, flags: Int32, mode: mode_t = 0o644) throws(BrokerError) {
        var fd: Int32
        repeat { fd = open(path, flags | O_CLOEXEC, mode) } while fd < 0 && errno == EINTR
        if fd < 0 { throw .posix("cannot open", path: path) }
        self.fd = fd
        self.path = path
    }

    /// Whether this descriptor holds an `flock`. Released explicitly before `close`: a child
    /// forked by another thread between `fork` and `exec` holds a duplicate of the descriptor, and
    /// `close` alone would leave the lock held by that duplicate until the child execs.
    private var locked = false

    deinit {
        if locked { flock(fd, LOCK_UN) }
        close(fd)
    }

    func size() throws(BrokerError) -> Int64 {
        var st = stat()
        if fstat(fd, &st) != 0 { throw .posix("cannot stat", path: path) }
        return Int64(st.st_size)
    }

    /// Writes all of `bytes` at `offset`; a short write (disk full) throws and leaves a tail the
    /// caller truncates.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(BrokerError) {
        var done = 0
        while done < bytes.count {
            let n = pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .posix("cannot write", path: path)
            }
            if n == 0 { throw .posix("cannot write", path: path, errno: ENOSPC) }
            done += n
        }
    }

    /// Asks the kernel to drop the file's cached pages from `offset` (`count` bytes; 0: to the
    /// end): clean pages are freed, dirty ones are only scheduled for writing. A hint, so its
    /// failure is ignored.
    func dropCachedPages(from offset: Int64, count: Int64 = 0) {
        _ = posix_fadvise(fd, off_t(offset), off_t(count), POSIX_FADV_DONTNEED)
    }

    /// Reads up to `buffer.count` bytes at `offset`; returns the count (0 at end of file).
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(BrokerError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw .posix("cannot read", path: path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    func write(_ bytes: [UInt8], at offset: Int64) throws(BrokerError) {
        let result: Result<Void, BrokerError> = bytes.withUnsafeBytes { b in
            do throws(BrokerError) { try write(b, at: offset); return .success(()) } catch { return .failure(error) }
        }
        try result.get()
    }

    func read(into bytes: inout [UInt8], at offset: Int64) throws(BrokerError) -> Int {
        let result: Result<Int, BrokerError> = bytes.withUnsafeMutableBytes { b in
            do throws(BrokerError) { return .success(try read(into: b, at: offset)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Starts writeback of a range without waiting (Linux `sync_file_range`), so a later fsync has
    /// little left to do and the disk sees a steady stream instead of bursts. Best effort.
    func startWriteback(offset: Int64, length: Int64) {
        _ = vigil_start_writeback(fd, offset, length)
    }

    func sync() throws(BrokerError) {
        if fdatasync(fd) != 0 { throw .posix("cannot fsync", path: path) }
    }

    func truncate(to size: Int64) throws(BrokerError) {
        if ftruncate(fd, off_t(size)) != 0 { throw .posix("cannot truncate", path: path) }
    }

    /// Non-blocking exclusive (or shared) `flock`. Returns false when another holder has it.
    func tryLock(exclusive: Bool = true) throws(BrokerError) -> Bool {
        if flock(fd, (exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB) == 0 { locked = true; return true }
        if errno == EWOULDBLOCK { return false }
        throw .posix("cannot lock", path: path)
    }

    func unlock() { flock(fd, LOCK_UN); locked = false }
}

/// File-system helpers used by the log; each throws a `BrokerError` naming the path.
enum FileSystem {
    static func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Creates `path` and any missing parents with `mode`.
    static func makeDirectories(_ path: String, mode: mode_t = 0o700) throws(BrokerError) {
        if isDirectory(path) { return }
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if !isDirectory(prefix) {
                if mkdir(prefix, mode) != 0 && errno != EEXIST {
                    throw .posix("cannot create directory", path: prefix)
                }
            }
            prefix += "/"
        }
    }

    static func list(_ path: String) throws(BrokerError) -> [String] {
        guard let dir = opendir(path) else { throw .posix("cannot list directory", path: path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func remove(_ path: String) throws(BrokerError) {
        if unlink(path) != 0 && errno != ENOENT { throw .posix("cannot delete", path: path) }
    }

    /// fsync of a directory, so that created, renamed or deleted entries are durable.
    static func syncDirectory(_ path: String) throws(BrokerError) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd < 0 { throw .posix("cannot open directory", path: path) }
        defer { close(fd) }
        if fsync(fd) != 0 { throw .posix("cannot fsync directory", path: path) }
    }

    /// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, directory fsync.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws(BrokerError) {
        // A name of this process and call: processes sharing a data directory may replace the
        // same file at once (two creating one topic); each rename is atomic, the last one wins.
        let tmp = path + ".tmp.\(getpid()).\(UInt32.random(in: 0...UInt32.max))"
        let file = try FileDescriptor(path: tmp, flags: O_WRONLY | O_CREAT | O_TRUNC)
        try file.write(bytes, at: 0)
        try file.sync()
        if rename(tmp, path) != 0 { throw .posix("cannot rename into", path: path) }
        try syncDirectory(parent(of: path))
    }

    static func readAll(_ path: String) throws(BrokerError) -> [UInt8] {
        let file = try FileDescriptor(path: path, flags: O_RDONLY)
        let size = Int(try file.size())
        var bytes = [UInt8](repeating: 0, count: size)
        let n = try file.read(into: &bytes, at: 0)
        bytes.removeLast(size - n)
        return bytes
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    static func fileSize(_ path: String) -> Int64? {
        var st = stat()
        return stat(path, &st) == 0 ? Int64(st.st_size) : nil
    }
}

/// Small state files that must survive a crash whole (sensors' positions): replaced atomically.
public enum DurableFile {
    /// Writes `bytes` to `path` atomically: a temporary file, fsync, rename, directory fsync.
    public static func write(_ bytes: [UInt8], to path: String) throws(BrokerError) {
        try FileSystem.writeAtomically(bytes, to: path)
    }

    /// The file's bytes; nil when it does not exist.
    public static func read(_ path: String) throws(BrokerError) -> [UInt8]? {
        guard access(path, F_OK) == 0 else { return nil }
        return try FileSystem.readAll(path)
    }
}
