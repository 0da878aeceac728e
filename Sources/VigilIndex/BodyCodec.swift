import CLZ4
import CZstd
import Foundation

/// How the block layout stores a part of its alerts' bodies (docs/alerts.md): one LZ4 frame of
/// the part (its items, then their ends) when that is smaller, otherwise the part as it is.
/// Indexes written before LZ4 hold zstd frames, which stay readable. An uncompressed part starts
/// with an event's format version byte (1), never with either frame's magic number, so a reader
/// tells the three apart by their first four bytes, and indexes written before compression
/// stay readable.
enum BodyCodec {
    /// LZ4's frame magic number, little-endian (bytes 04 22 4D 18).
    static let lz4Magic: UInt32 = 0x184D_2204
    /// zstd's frame magic number, little-endian (bytes 28 B5 2F FD).
    static let zstdMagic: UInt32 = 0xFD2F_B528
    /// The largest part a frame may claim to hold (a part is 64 bodies).
    static let maximumPart = 256 << 20

    private static func magic(_ bytes: UnsafeRawBufferPointer) -> UInt32? {
        bytes.count >= 4 ? UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)) : nil
    }

    /// Whether `bytes` (a stored part, or its first four bytes) is a compressed frame.
    static func isCompressed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let m = magic(bytes)
        return m == lz4Magic || m == zstdMagic
    }

    /// The part a stored blob holds: decompressed when it is a frame, copied otherwise.
    static func plain(_ stored: UnsafeRawBufferPointer) throws(AlertIndexError) -> [UInt8] {
        var out: [UInt8] = []
        let n = try plain(stored, into: &out)
        out.removeSubrange(n...)
        return out
    }

    static func plain(_ stored: Data) throws(AlertIndexError) -> [UInt8] {
        let result: Result<[UInt8], AlertIndexError> = stored.withUnsafeBytes { p in
            do throws(AlertIndexError) { return .success(try plain(p)) } catch { return .failure(error) }
        }
        return try result.get()
    }

    /// Puts the part a stored blob holds at the start of `buffer`, which only grows (a reader
    /// decoding part after part reuses its memory: a fresh 200 KB array per part was new memory,
    /// faulted in page by page, and cost more than decompressing); returns the part's size.
    static func plain(_ stored: UnsafeRawBufferPointer, into buffer: inout [UInt8]) throws(AlertIndexError) -> Int {
        switch magic(stored) {
        case lz4Magic: return try lz4Plain(stored, into: &buffer)
        case zstdMagic: return try zstdPlain(stored, into: &buffer)
        default:
            reserve(&buffer, stored.count)
            buffer.withUnsafeMutableBytes { $0.copyMemory(from: stored) }
            return stored.count
        }
    }

    /// Makes `buffer` at least `size` bytes long.
    static func reserve(_ buffer: inout [UInt8], _ size: Int) {
        if buffer.count < size { buffer += repeatElement(0, count: size - buffer.count) }
    }

    private static func lz4Plain(_ stored: UnsafeRawBufferPointer, into out: inout [UInt8]) throws(AlertIndexError) -> Int {
        var dctx: OpaquePointer?
        guard LZ4F_isError(LZ4F_createDecompressionContext(&dctx, UInt32(LZ4F_VERSION))) == 0, let dctx else {
            throw AlertIndexError(.database, "cannot decompress bodies (no LZ4 context)")
        }
        defer { LZ4F_freeDecompressionContext(dctx) }
        var info = LZ4F_frameInfo_t()
        var consumed = stored.count
        let head = LZ4F_getFrameInfo(dctx, &info, stored.baseAddress, &consumed)
        guard LZ4F_isError(head) == 0, info.contentSize > 0, info.contentSize <= UInt64(maximumPart) else {
            throw AlertIndexError(.database, "unreadable compressed bodies (no valid size in the LZ4 frame)")
        }
        let size = Int(info.contentSize)
        reserve(&out, size)
        var produced = 0
        var at = consumed
        var finished = false
        var failure: Int?
        out.withUnsafeMutableBytes { o in
            while at < stored.count {
                var dst = size - produced
                var src = stored.count - at
                let hint = LZ4F_decompress(dctx, o.baseAddress! + produced, &dst, stored.baseAddress! + at, &src, nil)
                if LZ4F_isError(hint) != 0 { failure = hint; return }
                produced += dst
                at += src
                if hint == 0 { finished = true; return }
                if dst == 0 && src == 0 { return }
            }
        }
        if let failure {
            throw AlertIndexError(.database, "unreadable compressed bodies: \(String(cString: LZ4F_getErrorName(failure)))")
        }
        guard produced == size, finished || at == stored.count else {
            throw AlertIndexError(.database, "unreadable compressed bodies (an LZ4 frame of \(produced) of its \(size) bytes)")
        }
        return size
    }

    /// A zstd frame of `plain` (level 1): what indexes written before LZ4 hold, for tests of
    /// reading them.
    static func zstdFrame(_ plain: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: ZSTD_compressBound(plain.count))
        let n = plain.withUnsafeBytes { p in out.withUnsafeMutableBytes { o in ZSTD_compress(o.baseAddress, o.count, p.baseAddress, p.count, 1) } }
        return ZSTD_isError(n) == 0 ? Array(out[0..<n]) : plain
    }

    private static func zstdPlain(_ stored: UnsafeRawBufferPointer, into out: inout [UInt8]) throws(AlertIndexError) -> Int {
        let size = ZSTD_getFrameContentSize(stored.baseAddress, stored.count)
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(maximumPart) else {
            throw AlertIndexError(.database, "unreadable compressed bodies (no valid size in the frame)")
        }
        reserve(&out, Int(size))
        let n = out.withUnsafeMutableBytes { o in ZSTD_decompress(o.baseAddress, Int(size), stored.baseAddress, stored.count) }
        guard ZSTD_isError(n) == 0, n == Int(size) else {
            throw AlertIndexError(.database, "unreadable compressed bodies: \(String(cString: ZSTD_getErrorName(n)))")
        }
        return n
    }
}

/// Compresses parts of bodies into LZ4 frames: one thread at a time uses it (the writer's, or
/// the index's body queue), hence `@unchecked Sendable`.
final class BodyCompressor: @unchecked Sendable {
    private var output: [UInt8] = []
    private var preferences = LZ4F_preferences_t()

    init() {
        // Fast mode with acceleration 4 (level -3: parts 7 % larger than at the default level,
        // which still fill as many pages, for about 2 % less CPU per alert), independent blocks
        // of 256 KiB, the content size in the header (the reader sizes its buffer from it), no
        // checksums (SQLite's pages hold the bytes).
        preferences.frameInfo.blockSizeID = LZ4F_max256KB
        preferences.frameInfo.blockMode = LZ4F_blockIndependent
        preferences.frameInfo.contentChecksumFlag = LZ4F_noContentChecksum
        preferences.compressionLevel = -3
    }

    /// Runs `body` on what to store for `part`: its frame when smaller, else the part itself.
    func withStored<T>(_ part: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        guard part.count >= 64 else { return try body(part) }
        preferences.frameInfo.contentSize = UInt64(part.count)
        let bound = LZ4F_compressFrameBound(part.count, &preferences)
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        let n = output.withUnsafeMutableBytes { o in
            LZ4F_compressFrame(o.baseAddress, o.count, part.baseAddress, part.count, &preferences)
        }
        guard LZ4F_isError(n) == 0, n < part.count else { return try body(part) }
        return try output.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }
}
