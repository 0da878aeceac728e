#if canImport(Glibc)
import Glibc
#endif
import CVigilShims

/// Reads a classic pcap file mapped into memory: packets are handed out straight from the
/// mapping, without the copy libpcap's buffered reads make. Files it does not recognize (pcapng,
/// Kuznetsov's modified format) are left to libpcap (``PcapSource``), which reads every format.
///
/// The file must not be truncated while it is read (it is mapped).
public final class MappedPcapReader {
    public let path: String
    /// The DLT_ link type from the file header.
    public let linkType: Int32
    private let base: UnsafeRawPointer
    private let size: Int
    private let swapped: Bool
    private let nanoseconds: Bool
    /// Where the next record header starts. Unchecked exclusivity: read and advanced on every
    /// packet by ``next(_:)`` alone, which never calls out while it holds the access.
    @exclusivity(unchecked) public private(set) var offset = 24

    /// Maps `path` when it is a classic pcap file (either byte order, micro- or nanosecond
    /// timestamps); nil for any other format, so the caller can fall back to libpcap.
    /// - Throws: ``PcapError`` when the file cannot be opened or mapped.
    public init?(path: String) throws(PcapError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PcapError("cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw PcapError("cannot stat \(path): \(String(cString: strerror(errno)))") }
        let size = Int(st.st_size)
        guard size >= 24 else { return nil }
        guard let mapped = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), mapped != MAP_FAILED else {
            throw PcapError("cannot map \(path): \(String(cString: strerror(errno)))")
        }
        let base = UnsafeRawPointer(mapped)
        let magic = base.loadUnaligned(as: UInt32.self)
        switch magic {
        case 0xA1B2_C3D4: (swapped, nanoseconds) = (false, false)
        case 0xA1B2_3C4D: (swapped, nanoseconds) = (false, true)
        case 0xD4C3_B2A1: (swapped, nanoseconds) = (true, false)
        case 0x4D3C_B2A1: (swapped, nanoseconds) = (true, true)
        default:
            munmap(mapped, size)
            return nil
        }
        _ = madvise(mapped, size, MADV_SEQUENTIAL)
        self.path = path
        self.base = base
        self.size = size
        let rawLinkType = base.loadUnaligned(fromByteOffset: 20, as: UInt32.self)
        // The upper bits may carry FCS information; the link type is the low 26 bits (as libpcap).
        linkType = Int32(bitPattern: (swapped ? rawLinkType.byteSwapped : rawLinkType) & 0x03FF_FFFF)
    }

    deinit { munmap(UnsafeMutableRawPointer(mutating: base), size) }

    @inline(__always)
    private func u32(_ at: Int) -> UInt32 {
        let v = base.loadUnaligned(fromByteOffset: at, as: UInt32.self)
        return swapped ? v.byteSwapped : v
    }

    /// Calls `body` with the next packet (bytes valid until the reader is released); `.end` at
    /// the end of the file.
    /// - Throws: ``PcapError`` for a record cut short by the end of the file, as libpcap does.
    @inline(__always)
    public func next(_ body: (PcapSource.PacketInfo, UnsafeRawBufferPointer) throws -> Void) throws -> PcapSource.ReadResult {
        guard offset + 16 <= size else {
            if offset < size { throw PcapError("\(path): truncated record header at byte \(offset)") }
            return .end
        }
        let seconds = Int64(u32(offset)), fraction = Int64(u32(offset + 4))
        let captured = Int(u32(offset + 8)), wire = Int(u32(offset + 12))
        guard captured <= size - offset - 16 else {
            throw PcapError("\(path): truncated dump file; a record of \(captured) bytes at byte \(offset) runs past the end")
        }
        let timestamp = seconds * 1_000_000_000 + (nanoseconds ? fraction : fraction * 1_000)
        let bytes = UnsafeRawBufferPointer(start: base + offset + 16, count: captured)
        offset += 16 + captured
        // The next record's header and first bytes load while this packet is analyzed (a miss per
        // page otherwise: the hardware prefetcher stops at page boundaries).
        if offset + 128 <= size {
            vigil_prefetch(base + offset)
            vigil_prefetch(base + offset + 64)
        }
        try body(PcapSource.PacketInfo(timestamp: timestamp, capturedLength: captured, wireLength: wire), bytes)
        return .packet
    }
}
