import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// The on-disk batch format (little-endian), the unit of append, checksum and fsync:
///
/// ```
/// 0   u32  length        bytes after this field
/// 4   u32  crc32c        CRC32C of bytes [8, 4 + length)
/// 8   u8   magic         1
/// 9   u8   attributes    0 (reserved for compression)
/// 10  u16  reserved      0
/// 12  i64  base offset
/// 20  u32  record count  ≥ 1
/// 24  i64  first timestamp (ns since the epoch)
/// 32  i64  max timestamp
/// 40  records: zigzag-varint timestamp delta from the first timestamp,
///              varint key length + 1 (0 = no key), key, varint value length, value
/// ```
enum BatchFormat {
    static let headerSize = 40
    static let magic: UInt8 = 1
    /// Larger batches are rejected on append and treated as corruption on read.
    static let maxBatchBytes = 64 << 20
}

/// Accumulates records into one batch buffer without per-record allocation; reusable after `reset()`.
public struct BatchBuilder: Sendable {
    @usableFromInline var buffer: [UInt8]
    public private(set) var count: Int = 0
    @usableFromInline var firstTimestamp: Int64 = 0
    @usableFromInline var maxTimestamp: Int64 = .min

    public init(capacity: Int = 64 << 10) {
        buffer = []
        buffer.reserveCapacity(max(capacity, BatchFormat.headerSize))
        buffer.append(contentsOf: repeatElement(0, count: BatchFormat.headerSize))
    }

    public var isEmpty: Bool { count == 0 }
    /// Encoded size of the batch so far, header included.
    public var byteCount: Int { buffer.count }

    public mutating func reset() {
        buffer.removeSubrange(BatchFormat.headerSize...)
        count = 0
        maxTimestamp = .min
    }

    /// Adds one record; `key` nil means no key.
    public mutating func append(key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer, timestamp: Int64) {
        if count == 0 { firstTimestamp = timestamp }
        if timestamp > maxTimestamp { maxTimestamp = timestamp }
        let delta = timestamp &- firstTimestamp
        appendVarint(UInt64(bitPattern: (delta << 1) ^ (delta >> 63)))
        if let key {
            appendVarint(UInt64(key.count) + 1)
            buffer.append(contentsOf: key)
        } else {
            appendVarint(0)
        }
        appendVarint(UInt64(value.count))
        buffer.append(contentsOf: value)
        count += 1
    }

    /// Adds one record from byte arrays.
    public mutating func append(key: [UInt8]?, value: [UInt8], timestamp: Int64) {
        value.withUnsafeBytes { v in
            if let key {
                key.withUnsafeBytes { k in append(key: k, value: v, timestamp: timestamp) }
            } else {
                append(key: nil, value: v, timestamp: timestamp)
            }
        }
    }

    @inlinable mutating func appendVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            buffer.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        buffer.append(UInt8(v))
    }

    /// Fills in the header for `baseOffset` and returns the finished bytes' checksum-ready buffer.
    mutating func seal(baseOffset: Int64) {
        let length = UInt32(buffer.count - 4)
        let first = firstTimestamp, maxTs = maxTimestamp, n = UInt32(count)
        buffer.withUnsafeMutableBytes { b in
            b.storeBytes(of: length.littleEndian, toByteOffset: 0, as: UInt32.self)
            b[8] = BatchFormat.magic
            b[9] = 0
            b[10] = 0
            b[11] = 0
            b.storeBytes(of: baseOffset.littleEndian, toByteOffset: 12, as: Int64.self)
            b.storeBytes(of: n.littleEndian, toByteOffset: 20, as: UInt32.self)
            b.storeBytes(of: first.littleEndian, toByteOffset: 24, as: Int64.self)
            b.storeBytes(of: maxTs.littleEndian, toByteOffset: 32, as: Int64.self)
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: b[8...]))
            b.storeBytes(of: crc.littleEndian, toByteOffset: 4, as: UInt32.self)
        }
    }

}

/// The header of one batch read from disk.
struct BatchHeader {
    var totalSize: Int
    var baseOffset: Int64
    var count: Int
    var firstTimestamp: Int64
    var maxTimestamp: Int64
    var lastOffset: Int64 { baseOffset + Int64(count) - 1 }
}

/// What a scan found at a position.
enum BatchParse {
    /// A complete, checksummed batch.
    case batch(BatchHeader)
    /// Fewer bytes than the batch needs: the end of the data, or a tail being written.
    case incomplete(needed: Int)
    /// Damaged bytes: a bad length, magic or checksum.
    case corrupt(String)
}

extension BatchHeader {
    /// Parses and verifies the batch at the start of `bytes`.
    static func parse(_ bytes: UnsafeRawBufferPointer, verify: Bool = true) -> BatchParse {
        if bytes.count < BatchFormat.headerSize { return .incomplete(needed: BatchFormat.headerSize) }
        let length = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt32.self)))
        if length < BatchFormat.headerSize - 4 || length > BatchFormat.maxBatchBytes {
            return .corrupt("batch length \(length) is out of range")
        }
        if bytes[8] != BatchFormat.magic { return .corrupt("unknown batch magic \(bytes[8])") }
        let total = length + 4
        if bytes.count < total { return .incomplete(needed: total) }
        if verify {
            let stored = UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 4, as: UInt32.self))
            let actual = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[8..<total]))
            if stored != actual { return .corrupt("batch checksum mismatch") }
        }
        let count = Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: 20, as: UInt32.self)))
        if count < 1 { return .corrupt("batch holds no records") }
        return .batch(BatchHeader(
            totalSize: total,
            baseOffset: Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 12, as: Int64.self)),
            count: count,
            firstTimestamp: Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 24, as: Int64.self)),
            maxTimestamp: Int64(littleEndian: bytes.loadUnaligned(fromByteOffset: 32, as: Int64.self))))
    }
}

/// One record, borrowed from the reader's buffer: valid only inside the callback that receives it.
public struct RecordView {
    public let partition: Int
    public let offset: Int64
    /// Nanoseconds since the epoch.
    public let timestamp: Int64
    public let key: UnsafeRawBufferPointer?
    public let value: UnsafeRawBufferPointer

    /// A view of a record held elsewhere (a Kafka fetch buffer); the caller keeps the bytes
    /// alive while the view is used.
    @inlinable
    public init(partition: Int, offset: Int64, timestamp: Int64, key: UnsafeRawBufferPointer?, value: UnsafeRawBufferPointer) {
        self.partition = partition
        self.offset = offset
        self.timestamp = timestamp
        self.key = key
        self.value = value
    }
}

/// Walks the records of one verified batch.
struct RecordIterator {
    let bytes: UnsafeRawBufferPointer
    let header: BatchHeader
    var position = BatchFormat.headerSize
    var index = 0

    init(bytes: UnsafeRawBufferPointer, header: BatchHeader) {
        self.bytes = UnsafeRawBufferPointer(rebasing: bytes[0..<header.totalSize])
        self.header = header
    }

    /// The next record, nil at the end; throws when the checksummed bytes still do not decode
    /// (a writer bug or a collision), so a reader reports rather than misreads.
    mutating func next(partition: Int) throws(BrokerError) -> RecordView? {
        guard index < header.count else { return nil }
        let delta = try readVarint()
        let timestamp = header.firstTimestamp &+ Int64(bitPattern: (delta >> 1) ^ (0 &- (delta & 1)))
        let keyField = try readVarint()
        var key: UnsafeRawBufferPointer? = nil
        if keyField > 0 { key = try readBytes(Int(clamping: keyField - 1)) }
        let value = try readBytes(Int(clamping: try readVarint()))
        let offset = header.baseOffset + Int64(index)
        index += 1
        return RecordView(partition: partition, offset: offset, timestamp: timestamp, key: key, value: value)
    }

    @inline(__always) private mutating func readVarint() throws(BrokerError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while position < bytes.count {
            let byte = bytes[position]
            position += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
            if shift > 63 { break }
        }
        throw malformed()
    }

    @inline(__always) private mutating func readBytes(_ n: Int) throws(BrokerError) -> UnsafeRawBufferPointer {
        guard n >= 0, n <= bytes.count - position else { throw malformed() }
        let slice = UnsafeRawBufferPointer(rebasing: bytes[position..<position + n])
        position += n
        return slice
    }

    @inline(never) private func malformed() -> BrokerError {
        BrokerError(.corrupt, "batch at offset \(header.baseOffset) has a malformed record \(index)")
    }
}
