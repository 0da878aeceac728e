import VigilCore

/// Writes checkpointed state: varints, fixed-width integers and length-prefixed bytes.
public struct StateWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    public mutating func varint(_ v: UInt64) { ByteWriter.appendVarint(v, to: &bytes) }
    public mutating func int(_ v: Int64) { ByteWriter.appendVarint(ByteWriter.zigzag(v), to: &bytes) }
    public mutating func uint64(_ v: UInt64) { ByteWriter.appendUInt64LE(v, to: &bytes) }
    public mutating func bool(_ v: Bool) { bytes.append(v ? 1 : 0) }

    public mutating func bytes(_ b: some Collection<UInt8>) {
        varint(UInt64(b.count))
        bytes.append(contentsOf: b)
    }

    public mutating func string(_ s: String) { bytes(Array(s.utf8)) }
}

/// Reads what ``StateWriter`` wrote; every read is bounds-checked and throws ``StreamError`` with
/// code `.corruptState` on malformed input (a damaged checkpoint never traps).
public struct StateReader {
    private var cursor: ByteCursor
    /// What is being read, for error messages (a file path).
    public let context: String

    public init(_ bytes: UnsafeRawBufferPointer, context: String) {
        cursor = ByteCursor(bytes)
        self.context = context
    }

    public var isAtEnd: Bool { cursor.remaining == 0 }

    public func corrupt(_ what: String) -> StreamError {
        StreamError(.corruptState, "\(context): damaged state (\(what) at byte \(cursor.position))")
    }

    public mutating func varint() throws(StreamError) -> UInt64 {
        guard case .value(let v) = cursor.readVarint() else { throw corrupt("bad varint") }
        return v
    }

    public mutating func int() throws(StreamError) -> Int64 { ByteWriter.unzigzag(try varint()) }

    public mutating func count(limit: Int = 1 << 30) throws(StreamError) -> Int {
        let v = try varint()
        // Every counted item takes at least one byte, so a count beyond the rest is damage.
        guard v <= UInt64(min(limit, cursor.remaining)) else { throw corrupt("count \(v) beyond the data") }
        return Int(v)
    }

    public mutating func uint64() throws(StreamError) -> UInt64 {
        guard let v = cursor.readUInt64LE() else { throw corrupt("truncated") }
        return v
    }

    public mutating func bool() throws(StreamError) -> Bool {
        guard let b = cursor.readByte(), b <= 1 else { throw corrupt("bad flag") }
        return b == 1
    }

    public mutating func bytes() throws(StreamError) -> UnsafeRawBufferPointer {
        let n = try count()
        guard let b = cursor.readBytes(n) else { throw corrupt("truncated") }
        return b
    }

    public mutating func string() throws(StreamError) -> String {
        let b = try bytes()
        guard let s = String(validating: b, as: UTF8.self) else { throw corrupt("text is not UTF-8") }
        return s
    }
}

/// The errors of the stream stage.
public struct StreamError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// A checkpoint or state that does not decode.
        case corruptState
        /// A configuration mistake (profiles, windows).
        case configuration
        /// Reading or writing checkpoints failed.
        case io
        /// The broker failed.
        case broker
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
