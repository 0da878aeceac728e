/// The one error type of VigilSketch: a decoding or merging failure, with a code a program can
/// switch on and a message for people (never the raw bytes).
public struct SketchError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What went wrong.
    public enum Code: String, Sendable, Equatable {
        /// The bytes end before the structure does.
        case truncated
        /// The bytes do not start with the sketch magic byte, or name another sketch type.
        case wrongType
        /// A format version this build does not read.
        case unsupportedVersion
        /// A parameter (precision, width, length, count…) is out of range or inconsistent.
        case invalidParameter
        /// Bytes are left over after the structure.
        case trailingBytes
        /// Two sketches of different shapes or parameters (or hash seeds) cannot be merged.
        case incompatible
        /// A count would overflow 64 bits.
        case overflow
    }

    public var code: Code
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { "\(code.rawValue): \(message)" }
}

/// The type byte after the magic byte in every serialized sketch.
enum SketchType: UInt8 {
    case hyperLogLog = 1
    case bloom = 2
    case countMin = 3
    case heavyHitters = 4
    case welford = 5
    case reservoir = 6

    var name: String {
        switch self {
        case .hyperLogLog: "HyperLogLog"
        case .bloom: "Bloom filter"
        case .countMin: "Count-Min sketch"
        case .heavyHitters: "heavy hitters"
        case .welford: "Welford moments"
        case .reservoir: "reservoir sample"
        }
    }
}

/// Little-endian writer for the serialized formats.
struct ByteWriter {
    var bytes: [UInt8] = []

    init(type: SketchType, version: UInt8 = 1, capacity: Int = 16) {
        bytes.reserveCapacity(capacity)
        bytes.append(sketchMagic)
        bytes.append(type.rawValue)
        bytes.append(version)
    }

    mutating func u8(_ v: UInt8) { bytes.append(v) }

    mutating func u32(_ v: UInt32) {
        for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt32(i)))) }
    }

    mutating func u64(_ v: UInt64) {
        for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(i)))) }
    }

    mutating func f64(_ v: Double) { u64(v.bitPattern) }

    /// LEB128 unsigned varint.
    mutating func varint(_ v: UInt64) {
        var v = v
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    mutating func append(_ raw: UnsafeRawBufferPointer) { bytes.append(contentsOf: raw) }
    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
}

/// The first byte of every serialized sketch ('V').
let sketchMagic: UInt8 = 0x56

/// Bounds-checked little-endian reader over borrowed bytes: every read throws `.truncated` rather
/// than trapping.
struct ByteReader {
    let bytes: UnsafeRawBufferPointer
    private(set) var offset = 0

    init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }

    var remaining: Int { bytes.count - offset }

    /// Reads and checks the magic, type and version bytes.
    mutating func header(_ type: SketchType, maxVersion: UInt8 = 1) throws(SketchError) -> UInt8 {
        let magic = try u8(), t = try u8(), version = try u8()
        guard magic == sketchMagic else { throw SketchError(.wrongType, "not a serialized sketch (bad magic byte)") }
        guard t == type.rawValue else {
            throw SketchError(.wrongType, "expected a serialized \(type.name), found type \(t)")
        }
        guard version >= 1 && version <= maxVersion else {
            throw SketchError(.unsupportedVersion, "\(type.name) format version \(version) is not supported (1…\(maxVersion))")
        }
        return version
    }

    mutating func u8() throws(SketchError) -> UInt8 {
        guard remaining >= 1 else { throw SketchError(.truncated, "the bytes end early") }
        defer { offset += 1 }
        return bytes[offset]
    }

    mutating func u32() throws(SketchError) -> UInt32 {
        guard remaining >= 4 else { throw SketchError(.truncated, "the bytes end early") }
        defer { offset += 4 }
        return UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
    }

    mutating func u64() throws(SketchError) -> UInt64 {
        guard remaining >= 8 else { throw SketchError(.truncated, "the bytes end early") }
        defer { offset += 8 }
        return UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self))
    }

    mutating func f64() throws(SketchError) -> Double { Double(bitPattern: try u64()) }

    /// LEB128 unsigned varint of at most 10 bytes that fits 64 bits.
    mutating func varint() throws(SketchError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let b = try u8()
            if shift == 63 && b > 1 { throw SketchError(.invalidParameter, "a varint overflows 64 bits") }
            result |= UInt64(b & 0x7F) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw SketchError(.invalidParameter, "a varint overflows 64 bits") }
        }
    }

    /// A varint that must be at most `limit` (so it can be used as a count or length).
    mutating func count(max limit: Int, _ what: String) throws(SketchError) -> Int {
        let v = try varint()
        guard v <= UInt64(limit) else { throw SketchError(.invalidParameter, "\(what) \(v) is out of range (at most \(limit))") }
        return Int(v)
    }

    /// The next `n` bytes (n ≥ 0 checked against what is left).
    mutating func take(_ n: Int) throws(SketchError) -> UnsafeRawBufferPointer {
        guard n >= 0 && n <= remaining else { throw SketchError(.truncated, "the bytes end early") }
        defer { offset += n }
        return UnsafeRawBufferPointer(rebasing: bytes[offset..<offset + n])
    }

    func end() throws(SketchError) {
        guard remaining == 0 else { throw SketchError(.trailingBytes, "\(remaining) bytes follow the sketch") }
    }
}

/// Runs `body` over contiguous bytes of `bytes` (copying only when the collection is not contiguous).
@inline(__always)
func withContiguousBytes<C: Collection<UInt8>, R>(_ bytes: C, _ body: (UnsafeRawBufferPointer) throws(SketchError) -> R) throws(SketchError) -> R {
    let result: Result<R, SketchError>? = bytes.withContiguousStorageIfAvailable { buffer in
        do throws(SketchError) { return .success(try body(UnsafeRawBufferPointer(buffer))) } catch { return .failure(error) }
    }
    if let result { return try result.get() }
    let copy = Array(bytes)
    let copied: Result<R, SketchError> = copy.withUnsafeBytes { raw in
        do throws(SketchError) { return .success(try body(raw)) } catch { return .failure(error) }
    }
    return try copied.get()
}
