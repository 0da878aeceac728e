import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// A file's identity: its device and inode, not its name (which rotation changes).
public struct FileIdentity: Hashable, Sendable, CustomStringConvertible {
    public var device: UInt64
    public var inode: UInt64
    public init(device: UInt64, inode: UInt64) { self.device = device; self.inode = inode }
    public var description: String { "\(device):\(inode)" }
}

/// CRC32C of a file's first `length` bytes (at most `FileFingerprint.maximumLength`), stored with
/// a position to tell a resumed file from a new file that reuses a deleted file's inode.
struct FileFingerprint: Equatable, Sendable {
    static let maximumLength = 256
    var length: Int
    var crc: UInt32

    static let empty = FileFingerprint(length: 0, crc: 0)

    /// The fingerprint of up to `maximumLength` bytes at the start of `fd` (nil when unreadable).
    static func compute(fd: Int32, upTo limit: Int = maximumLength) -> FileFingerprint? {
        var bytes = [UInt8](repeating: 0, count: min(limit, maximumLength))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + done, $0.count - done, off_t(done)) }
            if n < 0 { if errno == EINTR { continue }; return nil }
            if n == 0 { break }
            done += n
        }
        return FileFingerprint(length: done, crc: bytes.withUnsafeBytes { CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<done])) })
    }

    /// Whether the file's first `length` bytes still checksum to `crc`.
    func matches(fd: Int32) -> Bool {
        if length == 0 { return true }
        guard let now = Self.compute(fd: fd, upTo: length) else { return false }
        return now == self
    }
}

/// Where a tailed file is: the acknowledged read position, as stored in the positions file.
public struct FileTailPosition: Sendable, Equatable {
    public var identity: FileIdentity
    /// The path the file was opened under (what events carry in `log.file.path`).
    public var path: String
    /// Where the file was last seen (differs from `path` once it was renamed by rotation).
    public var location: String
    /// Byte offset of the first line not yet acknowledged.
    public var offset: Int64
}

/// The positions file of a sensor: the broker marks of the last acknowledgement and the read
/// position of every open file. Little-endian, checksummed, replaced atomically:
///
/// ```
/// "VGTP" u8 version=1
/// u32 mark count, i64 marks…                      opaque to the tailer (broker end offsets)
/// u32 entry count, entries:
///   u64 device, u64 inode, u16 fingerprint length, u32 fingerprint crc32c,
///   i64 offset, u8 flags (1 = inside an over-long line), u16 + bytes path, u16 + bytes location
/// u32 crc32c of everything before
/// ```
struct FileTailCheckpoint: Equatable, Sendable {
    struct Entry: Equatable, Sendable {
        var identity: FileIdentity
        var fingerprint: FileFingerprint
        var offset: Int64
        var skippingLongLine: Bool
        var path: String
        var location: String
    }

    var marks: [Int64] = []
    var entries: [Entry] = []

    static let magic: [UInt8] = [0x56, 0x47, 0x54, 0x50]

    func encode() -> [UInt8] {
        var out = Self.magic
        out.append(1)
        func u16(_ v: Int) { withUnsafeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian) { out.append(contentsOf: $0) } }
        func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        func text(_ s: String) {
            let bytes = Array(s.utf8.prefix(Int(UInt16.max)))
            u16(bytes.count)
            out.append(contentsOf: bytes)
        }
        u32(UInt32(marks.count))
        for m in marks { u64(UInt64(bitPattern: m)) }
        u32(UInt32(entries.count))
        for e in entries {
            u64(e.identity.device)
            u64(e.identity.inode)
            u16(e.fingerprint.length)
            u32(e.fingerprint.crc)
            u64(UInt64(bitPattern: e.offset))
            out.append(e.skippingLongLine ? 1 : 0)
            text(e.path)
            text(e.location)
        }
        u32(CRC32C.checksum(out))
        return out
    }

    static func decode(_ bytes: [UInt8], path: String) throws(FileTailError) -> FileTailCheckpoint {
        func damaged(_ why: String) -> FileTailError {
            FileTailError(.corruptState, "positions file \(path) is damaged (\(why)); move it aside to start over (files are then read per start_at, and lines since the last acknowledgement may repeat)")
        }
        guard bytes.count >= 13, Array(bytes[0..<4]) == magic else { throw damaged("bad header") }
        guard bytes[4] == 1 else { throw damaged("unknown version \(bytes[4])") }
        let stored = bytes.withUnsafeBytes { UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: bytes.count - 4, as: UInt32.self)) }
        guard stored == CRC32C.checksum(bytes[0..<(bytes.count - 4)]) else { throw damaged("checksum mismatch") }
        var at = 5
        let end = bytes.count - 4
        var result = FileTailCheckpoint()
        let decoded: Bool = bytes.withUnsafeBytes { raw in
            func take<T: FixedWidthInteger>(_: T.Type) -> T? {
                guard at + MemoryLayout<T>.size <= end else { return nil }
                defer { at += MemoryLayout<T>.size }
                return T(littleEndian: raw.loadUnaligned(fromByteOffset: at, as: T.self))
            }
            func text() -> String? {
                guard let n = take(UInt16.self), at + Int(n) <= end else { return nil }
                defer { at += Int(n) }
                return String(decoding: UnsafeRawBufferPointer(rebasing: raw[at..<(at + Int(n))]), as: UTF8.self)
            }
            guard let markCount = take(UInt32.self), Int(markCount) <= (end - at) / 8 else { return false }
            for _ in 0..<markCount {
                guard let m = take(UInt64.self) else { return false }
                result.marks.append(Int64(bitPattern: m))
            }
            guard let entryCount = take(UInt32.self), Int(entryCount) <= (end - at) / 35 else { return false }
            for _ in 0..<entryCount {
                guard let device = take(UInt64.self), let inode = take(UInt64.self),
                      let fpLength = take(UInt16.self), let fpCRC = take(UInt32.self),
                      let offset = take(UInt64.self), let flags = take(UInt8.self),
                      let path = text(), let location = text() else { return false }
                result.entries.append(Entry(identity: FileIdentity(device: device, inode: inode),
                                            fingerprint: FileFingerprint(length: Int(fpLength), crc: fpCRC),
                                            offset: Int64(bitPattern: offset), skippingLongLine: flags & 1 != 0,
                                            path: path, location: location))
            }
            return at == end
        }
        guard decoded else { throw damaged("truncated or malformed entries") }
        return result
    }
}

/// The state directory of one sensor: `lock` (flock held while a tailer runs) and `positions`.
struct FileTailState {
    let directory: String
    var positionsPath: String { "\(directory)/positions" }
    private let lockFD: Int32

    /// Creates the directory (mode 0700) and takes the lock; fails when another tailer holds it.
    init(directory: String) throws(FileTailError) {
        self.directory = directory
        try Self.makeDirectories(directory)
        let path = "\(directory)/lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        if fd < 0 { throw .posix("cannot open", path: path) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let e = errno
            close(fd)
            if e == EWOULDBLOCK {
                throw FileTailError(.locked, "sensor state \(directory) is in use by another tailer; one tailer per sensor name")
            }
            throw .posix("cannot lock", path: path, errno: e)
        }
        lockFD = fd
    }

    /// Releases the lock (also released by the kernel when the process dies).
    /// `LOCK_UN` first: a child forked by another thread may briefly hold a duplicate descriptor.
    func release() { flock(lockFD, LOCK_UN); close(lockFD) }

    func load() throws(FileTailError) -> FileTailCheckpoint? {
        let path = positionsPath
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw .posix("cannot open", path: path)
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; throw .posix("cannot read", path: path) }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return try FileTailCheckpoint.decode(bytes, path: path)
    }

    /// Replaces the positions file atomically: a temporary file, fsync, rename, directory fsync.
    /// `beforeRename` runs between the fsync and the rename (fault injection in tests).
    func store(_ checkpoint: FileTailCheckpoint, beforeRename: () throws -> Void = {}) throws {
        let path = positionsPath
        let tmp = path + ".tmp"
        let bytes = checkpoint.encode()
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        if fd < 0 { throw FileTailError.posix("cannot create", path: tmp) }
        defer { close(fd) }
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 { if errno == EINTR { continue }; throw FileTailError.posix("cannot write", path: tmp) }
            done += n
        }
        if fsync(fd) != 0 { throw FileTailError.posix("cannot fsync", path: tmp) }
        try beforeRename()
        if rename(tmp, path) != 0 { throw FileTailError.posix("cannot rename into", path: path) }
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir < 0 { throw FileTailError.posix("cannot open directory", path: directory) }
        defer { close(dir) }
        if fsync(dir) != 0 { throw FileTailError.posix("cannot fsync directory", path: directory) }
    }

    static func makeDirectories(_ path: String) throws(FileTailError) {
        var prefix = path.hasPrefix("/") ? "/" : ""
        for part in path.split(separator: "/") {
            prefix += part
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST { throw .posix("cannot create directory", path: prefix) }
            prefix += "/"
        }
    }
}
