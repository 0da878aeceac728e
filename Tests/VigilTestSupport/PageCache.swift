import Foundation
import VigilBroker
#if canImport(Glibc)
import Glibc
#endif

/// The kernel's page cache as tests see it.
public enum PageCache {
    /// Forces the file's dirty pages to the disk, so that they may be dropped (the kernel keeps
    /// dirty pages until they are written).
    public static func writeBack(_ path: String) throws {
        try withDescriptor(path) { fd in
            guard fsync(fd) == 0 else { throw lastError() }
        }
    }

    /// The fraction of the file's pages in the page cache (`mincore` over a mapping of it); 0
    /// for an empty file.
    public static func residentFraction(_ path: String) throws -> Double {
        try withDescriptor(path) { fd in
            var st = stat()
            guard fstat(fd, &st) == 0 else { throw lastError() }
            let size = Int(st.st_size)
            guard size > 0 else { return 0 }
            guard let map = mmap(nil, size, PROT_READ, MAP_SHARED, fd, 0), map != MAP_FAILED else { throw lastError() }
            defer { munmap(map, size) }
            let page = Int(sysconf(Int32(_SC_PAGESIZE)))
            var vec = [UInt8](repeating: 0, count: (size + page - 1) / page)
            guard mincore(map, size, &vec) == 0 else { throw lastError() }
            return Double(vec.reduce(0) { $0 + Int($1 & 1) }) / Double(vec.count)
        }
    }

    /// Whether the file system under `directory` drops a written-back file's pages when asked
    /// (tmpfs, say, keeps them: they are the file).
    public static func canDrop(in directory: String) throws -> Bool {
        let probe = "\(directory)/page-cache-probe"
        try Data(repeating: 7, count: 1 << 20).write(to: URL(fileURLWithPath: probe))
        defer { unlink(probe) }
        try writeBack(probe)
        try withDescriptor(probe) { fd in _ = posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) }
        return try residentFraction(probe) < 0.5
    }

    /// A 1 MiB file in `directory`, written back and read through: its pages are cached and
    /// clean, like a segment a reader has just read. A test that expects pages to stay cached
    /// checks the control too (``keepsIdlePages(control:)``): a machine that pages out memory
    /// left idle for a while (this VM runs DAMON with such a scheme) evicts both.
    public static func control(in directory: String) throws -> String {
        let path = "\(directory)/page-cache-control"
        try Data(repeating: 5, count: 1 << 20).write(to: URL(fileURLWithPath: path))
        try writeBack(path)
        try readThrough(path)
        return path
    }

    /// Whether `control` (``control(in:)``) kept its pages; when not, prints that an expectation
    /// of cached pages is skipped, and why.
    public static func keepsIdlePages(control: String, test: String) throws -> Bool {
        let resident = try residentFraction(control)
        if resident > 0.9 { return true }
        print("\(test): the check that pages stay cached is skipped: the machine evicted an idle control file (\(resident) of it cached)")
        return false
    }

    /// Reads the whole file (through the page cache).
    public static func readThrough(_ path: String) throws {
        try withDescriptor(path) { fd in
            var buffer = [UInt8](repeating: 0, count: 1 << 20)
            while buffer.withUnsafeMutableBytes({ read(fd, $0.baseAddress, $0.count) }) > 0 {}
        }
    }

    /// Calls `body` with the file opened for reading, closing it after.
    private static func withDescriptor<T>(_ path: String, _ body: (Int32) throws -> T) throws -> T {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw lastError() }
        defer { close(fd) }
        return try body(fd)
    }

    /// The error `errno` names.
    private static func lastError() -> POSIXError { POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }

    /// A temporary directory for a page-cache test, or nil, after printing why the test is
    /// skipped, where its file system keeps written-back pages (``canDrop(in:)``).
    public static func testDirectory(_ label: String = "vigil-page-cache") throws -> TemporaryDirectory? {
        let dir = try TemporaryDirectory(label)
        guard try canDrop(in: dir.path) else {
            print("skipped: \(dir.path) keeps written-back pages in memory (tmpfs?); nothing to drop")
            dir.remove()
            return nil
        }
        return dir
    }

    /// The paths of the segment files of `topic`'s partitions `0..<partitions`, each partition's in
    /// offset order; without each partition's last (active) one when `closedOnly`.
    public static func segments(of log: EmbeddedLog, topic: String, partitions: Int, closedOnly: Bool) throws -> [String] {
        var segments: [String] = []
        for p in 0..<partitions {
            let directory = log.partitionDirectory(topic: topic, partition: p)
            let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".log") }.sorted()
            segments += files.dropLast(closedOnly ? 1 : 0).map { "\(directory)/\($0)" }
        }
        return segments
    }
}
