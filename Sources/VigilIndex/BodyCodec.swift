import CZstd
import Foundation

/// How the block layout stores a part of its alerts' bodies (docs/alerts.md): one zstd frame of
/// the part (its items, then their ends) when that is smaller, otherwise the part as it is. An
/// uncompressed part starts with an event's format version byte, never with zstd's magic
/// number, so a reader tells them apart by their first four bytes, and indexes written before
/// compression stay readable.
enum BodyCodec {
    /// zstd's frame magic number, little-endian.
    static let magic: UInt32 = 0xFD2F_B528
    /// The largest part a frame may claim to hold (a part is 64 bodies).
    static let maximumPart = 256 << 20

    /// Whether `bytes` (a stored part, or its first four bytes) is a zstd frame.
    static func isCompressed(_ bytes: UnsafeRawBufferPointer) -> Bool {
        bytes.count >= 4 && UInt32(littleEndian: bytes.loadUnaligned(as: UInt32.self)) == magic
    }

    /// The part a stored blob holds: decompressed when it is a frame, copied otherwise.
    static func plain(_ stored: UnsafeRawBufferPointer) throws(AlertIndexError) -> [UInt8] {
        guard isCompressed(stored) else { return Array(stored) }
        let size = ZSTD_getFrameContentSize(stored.baseAddress, stored.count)
        guard size != ZSTD_CONTENTSIZE_ERROR, size != ZSTD_CONTENTSIZE_UNKNOWN, size <= UInt64(maximumPart) else {
            throw AlertIndexError(.database, "unreadable compressed bodies (no valid size in the frame)")
        }
        var out = [UInt8](repeating: 0, count: Int(size))
        let n = out.withUnsafeMutableBytes { o in ZSTD_decompress(o.baseAddress, o.count, stored.baseAddress, stored.count) }
        guard ZSTD_isError(n) == 0, n == Int(size) else {
            throw AlertIndexError(.database, "unreadable compressed bodies: \(String(cString: ZSTD_getErrorName(n)))")
        }
        return out
    }

    static func plain(_ stored: Data) throws(AlertIndexError) -> [UInt8] {
        let result: Result<[UInt8], AlertIndexError> = stored.withUnsafeBytes { p in
            do throws(AlertIndexError) { return .success(try plain(p)) } catch { return .failure(error) }
        }
        return try result.get()
    }
}

/// Compresses parts of bodies (one context, reused): one thread at a time uses it (the writer's,
/// or the index's body queue), hence `@unchecked Sendable`.
final class BodyCompressor: @unchecked Sendable {
    private let context: OpaquePointer?
    private var output: [UInt8] = []
    /// zstd's level 1: its fastest regular level (about 5× on alert bodies).
    static let level: Int32 = 1

    init() { context = ZSTD_createCCtx() }
    deinit { ZSTD_freeCCtx(context) }

    /// Runs `body` on what to store for `part`: its frame when smaller, else the part itself.
    func withStored<T>(_ part: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) throws -> T) rethrows -> T {
        guard let context, part.count >= 64 else { return try body(part) }
        let bound = ZSTD_compressBound(part.count)
        if output.count < bound { output = [UInt8](repeating: 0, count: bound) }
        let n = output.withUnsafeMutableBytes { o in
            ZSTD_compressCCtx(context, o.baseAddress, o.count, part.baseAddress, part.count, Self.level)
        }
        guard ZSTD_isError(n) == 0, n < part.count else { return try body(part) }
        return try output.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
    }
}
