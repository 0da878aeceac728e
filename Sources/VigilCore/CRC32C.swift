import CVigilShims

/// CRC32C (Castagnoli), the checksum used by the broker's batches and checkpoint files.
///
/// Hardware-accelerated (SSE4.2) where available, slicing-by-8 otherwise.
/// `CRC32C.checksum("123456789")` is `0xE3069283`.
public enum CRC32C {
    /// The checksum of `bytes`, optionally continuing from a previous `crc`.
    /// - Complexity: O(n)
    @inlinable
    public static func checksum(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return crc }
        return vigil_crc32c_extend(crc, base, bytes.count)
    }

    /// The checksum of any contiguous byte collection.
    public static func checksum<Bytes: Sequence>(_ bytes: Bytes, continuing crc: UInt32 = 0) -> UInt32 where Bytes.Element == UInt8 {
        if let result = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0), continuing: crc) }) {
            return result
        }
        return Array(bytes).withUnsafeBytes { checksum($0, continuing: crc) }
    }

    /// Whether the SSE4.2 instruction path is in use.
    public static var isHardwareAccelerated: Bool { vigil_crc32c_hardware() != 0 }
}
