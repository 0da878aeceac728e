#if canImport(Glibc)
import Glibc
#endif

/// Writes a classic pcap file (nanosecond timestamps, magic 0xa1b23c4d), buffered. Every reader
/// of pcap files (libpcap, tcpdump, tshark, Zeek, softflowd) reads it.
public final class PcapWriter {
    private let fd: Int32
    private var buffer: [UInt8] = []
    public let path: String
    /// Packets written.
    public private(set) var packets = 0

    /// Creates (or truncates) `path` and writes the file header.
    public init(path: String, linkType: Int32, snaplen: UInt32 = 262_144) throws(PcapError) {
        self.path = path
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw PcapError("cannot create \(path): \(String(cString: strerror(errno)))") }
        buffer.reserveCapacity(1 << 20)
        append32(0xA1B2_3C4D)  // nanosecond-resolution magic, in host (little-endian) order
        append16(2)
        append16(4)
        append32(0)  // thiszone
        append32(0)  // sigfigs
        append32(snaplen)
        append32(UInt32(bitPattern: linkType))
    }

    deinit { try? close() }

    /// Appends one packet with its capture time (ns since the epoch) and wire length.
    public func write(timestamp: Int64, bytes: UnsafeRawBufferPointer, wireLength: Int? = nil) throws(PcapError) {
        let seconds = timestamp / 1_000_000_000, nanos = timestamp % 1_000_000_000
        append32(UInt32(truncatingIfNeeded: seconds))
        append32(UInt32(truncatingIfNeeded: nanos))
        append32(UInt32(bytes.count))
        append32(UInt32(wireLength ?? bytes.count))
        buffer.append(contentsOf: bytes)
        packets += 1
        if buffer.count >= 1 << 20 { try flush() }
    }

    /// Writes what is buffered.
    public func flush() throws(PcapError) {
        var offset = 0
        while offset < buffer.count {
            let n = buffer.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 {
                if errno == EINTR { continue }
                throw PcapError("cannot write \(path): \(String(cString: strerror(errno)))")
            }
            offset += n
        }
        buffer.removeAll(keepingCapacity: true)
    }

    private var closed = false

    /// Flushes and closes the file.
    public func close() throws(PcapError) {
        guard !closed else { return }
        closed = true
        try flush()
        Glibc.close(fd)
    }

    private func append32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
    private func append16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { buffer.append(contentsOf: $0) } }
}
