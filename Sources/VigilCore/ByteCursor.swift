/// A bounds-checked reading position over borrowed bytes.
///
/// Valid only inside the `withUnsafe…` scope that produced the buffer. `read*` methods consume
/// and return `nil` (leaving the position unchanged) when the input is too short; `peek*`
/// methods do not consume. No method traps on any input.
public struct ByteCursor {
    /// The whole input.
    public let bytes: UnsafeRawBufferPointer
    /// The offset of the next unread byte (set only by the reading methods).
    @usableFromInline var offset: Int
    /// The offset of the next unread byte.
    @inlinable @inline(__always)
    public var position: Int { offset }

    @inlinable
    public init(_ bytes: UnsafeRawBufferPointer, position: Int = 0) {
        self.bytes = bytes
        self.offset = position
    }

    /// The number of unread bytes.
    @inlinable @inline(__always)
    public var remaining: Int { bytes.count - offset }

    /// Whether every byte has been read.
    @inlinable @inline(__always)
    public var isAtEnd: Bool { offset >= bytes.count }

    /// The next byte, without consuming it.
    @inlinable @inline(__always)
    public func peekByte() -> UInt8? {
        offset < bytes.count ? bytes[offset] : nil
    }

    /// Consumes one byte.
    @inlinable @inline(__always)
    public mutating func readByte() -> UInt8? {
        guard offset < bytes.count else { return nil }
        defer { offset += 1 }
        return bytes[offset]
    }

    /// Consumes `count` bytes and returns them as a slice of the input.
    @inlinable @inline(__always)
    public mutating func readBytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, count <= remaining else { return nil }
        defer { offset += count }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + count)])
    }

    /// Consumes a little-endian `UInt64`.
    @inlinable @inline(__always)
    public mutating func readUInt64LE() -> UInt64? {
        guard remaining >= 8 else { return nil }
        var v: UInt64 = 0
        for k in 0..<8 { v |= UInt64(bytes[offset + k]) << UInt64(8 * k) }
        offset += 8
        return v
    }

    /// Consumes a big-endian `UInt64`.
    @inlinable @inline(__always)
    public mutating func readUInt64BE() -> UInt64? {
        guard remaining >= 8 else { return nil }
        var v: UInt64 = 0
        for k in 0..<8 { v = v << 8 | UInt64(bytes[offset + k]) }
        offset += 8
        return v
    }

    /// Consumes a big-endian `UInt32`.
    @inlinable @inline(__always)
    public mutating func readUInt32BE() -> UInt32? {
        guard remaining >= 4 else { return nil }
        var v: UInt32 = 0
        for k in 0..<4 { v = v << 8 | UInt32(bytes[offset + k]) }
        offset += 4
        return v
    }

    /// The result of reading a varint.
    public enum VarintResult {
        case value(UInt64)
        case truncated
        /// More than 64 bits, or more than 10 bytes.
        case overflow
    }

    /// Consumes an unsigned LEB128 varint (at most 10 bytes, at most 64 bits).
    /// On failure the position is unchanged.
    @inlinable
    public mutating func readVarint() -> VarintResult {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        var i = offset
        while i < bytes.count {
            let byte = bytes[i]
            i += 1
            if shift == 63 && byte > 1 { return .overflow }
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 {
                offset = i
                return .value(result)
            }
            shift += 7
            if shift > 63 { return .overflow }
        }
        return .truncated
    }
}

/// Varint and zigzag writers for `[UInt8]` buffers.
public enum ByteWriter {
    /// Appends `value` as an unsigned LEB128 varint (1–10 bytes).
    @inlinable
    public static func appendVarint(_ value: UInt64, to buffer: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.append(UInt8(truncatingIfNeeded: v))
    }

    /// Zigzag encoding: 0, -1, 1, -2, … map to 0, 1, 2, 3, …
    @inlinable
    public static func zigzag(_ v: Int64) -> UInt64 {
        UInt64(bitPattern: (v << 1) ^ (v >> 63))
    }

    /// The inverse of ``zigzag(_:)``.
    @inlinable
    public static func unzigzag(_ v: UInt64) -> Int64 {
        Int64(bitPattern: (v >> 1) ^ (0 &- (v & 1)))
    }

    /// Appends `value` as 8 little-endian bytes.
    @inlinable
    public static func appendUInt64LE(_ value: UInt64, to buffer: inout [UInt8]) {
        for k in 0..<8 { buffer.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * k))) }
    }

    /// Appends `value` as 8 big-endian bytes.
    @inlinable
    public static func appendUInt64BE(_ value: UInt64, to buffer: inout [UInt8]) {
        for k in (0..<8).reversed() { buffer.append(UInt8(truncatingIfNeeded: value >> UInt64(8 * k))) }
    }

    /// Appends `value` as 4 big-endian bytes.
    @inlinable
    public static func appendUInt32BE(_ value: UInt32, to buffer: inout [UInt8]) {
        for k in (0..<4).reversed() { buffer.append(UInt8(truncatingIfNeeded: value >> UInt32(8 * k))) }
    }
}
