import CPcap
#if canImport(Glibc)
import Glibc
#endif
import VigilCore

/// A packet source through libpcap: a live interface or a pcap/pcapng file.
///
/// Packets are handed out without copying: the bytes passed to `next`'s body belong to libpcap and
/// are valid only during the call.
///
/// Not thread-safe: one source is read from one thread (``breakLoop()`` may be called from
/// another to stop a blocking read).
public final class PcapSource: @unchecked Sendable {
    /// Options of a live capture (see pcap(3PCAP)).
    public struct LiveOptions: Sendable, Equatable {
        /// Bytes kept of each packet.
        public var snaplen: Int32 = 65_535
        public var promiscuous = true
        /// Kernel buffer size in bytes; nil keeps libpcap's default.
        public var bufferSize: Int32? = 16 << 20
        /// Deliver packets as they arrive instead of in batches.
        public var immediate = false
        /// How long a read waits for more packets before returning what it has, in milliseconds.
        public var timeoutMilliseconds: Int32 = 100
        /// A BPF filter in tcpdump syntax; nil captures everything.
        public var filter: String?

        public init() {}

        public init(snaplen: Int32, promiscuous: Bool, bufferSize: Int32?, immediate: Bool, timeoutMilliseconds: Int32,
                    filter: String?) {
            self.snaplen = snaplen
            self.promiscuous = promiscuous
            self.bufferSize = bufferSize
            self.immediate = immediate
            self.timeoutMilliseconds = timeoutMilliseconds
            self.filter = filter
        }
    }

    /// One packet's metadata.
    public struct PacketInfo: Sendable {
        /// Capture time in nanoseconds since the Unix epoch.
        public var timestamp: Int64
        /// Bytes captured (may be less than `wireLength` when the snaplen cut the packet).
        public var capturedLength: Int
        /// Bytes on the wire.
        public var wireLength: Int
    }

    /// Capture statistics of a live source (pcap_stats).
    public struct Statistics: Sendable, Equatable {
        /// Packets received by the filter.
        public var received: UInt64
        /// Packets dropped because the kernel buffer was full.
        public var droppedByKernel: UInt64
        /// Packets dropped by the interface or its driver.
        public var droppedByInterface: UInt64
    }

    /// The outcome of one read.
    public enum ReadResult: Sendable, Equatable {
        case packet
        /// A live read timed out with no packet.
        case timeout
        /// The end of a file, or ``breakLoop()`` was called.
        case end
    }

    private let handle: OpaquePointer
    /// The DLT_ link type of the packets (1 Ethernet, 113 Linux SLL, …).
    public let linkType: Int32
    /// Where the packets come from (file path or interface name).
    public let name: String
    public let isLive: Bool

    private init(handle: OpaquePointer, name: String, isLive: Bool) {
        self.handle = handle
        self.name = name
        self.isLive = isLive
        self.linkType = pcap_datalink(handle)
    }

    deinit { pcap_close(handle) }

    /// Calls `body` with the libpcap handle (for this module's own extensions).
    func withHandle<R>(_ body: (OpaquePointer) -> R) -> R { body(handle) }

    /// Opens a pcap or pcapng file, with nanosecond timestamps.
    public static func open(file path: String) throws(PcapError) -> PcapSource {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let h = pcap_open_offline_with_tstamp_precision(path, UInt32(PCAP_TSTAMP_PRECISION_NANO), &errbuf) else {
            throw PcapError("cannot open \(path): \(String(cString: errbuf))")
        }
        let source = PcapSource(handle: h, name: path, isLive: false)
        return source
    }

    /// Opens a live capture on `interface` and activates it.
    public static func open(interface: String, options: LiveOptions = LiveOptions()) throws(PcapError) -> PcapSource {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard let h = pcap_create(interface, &errbuf) else {
            throw PcapError("cannot open interface \(interface): \(String(cString: errbuf))")
        }
        func check(_ rc: Int32, _ what: String) throws(PcapError) {
            if rc != 0 {
                let message = String(cString: pcap_geterr(h))
                pcap_close(h)
                throw PcapError("\(interface): cannot set \(what): \(message.isEmpty ? "error \(rc)" : message)")
            }
        }
        try check(pcap_set_snaplen(h, options.snaplen), "snaplen \(options.snaplen)")
        try check(pcap_set_promisc(h, options.promiscuous ? 1 : 0), "promiscuous mode")
        try check(pcap_set_timeout(h, options.timeoutMilliseconds), "timeout")
        if let size = options.bufferSize { try check(pcap_set_buffer_size(h, size), "buffer size \(size)") }
        try check(pcap_set_immediate_mode(h, options.immediate ? 1 : 0), "immediate mode")
        _ = pcap_set_tstamp_precision(h, Int32(PCAP_TSTAMP_PRECISION_NANO))
        let rc = pcap_activate(h)
        if rc < 0 {
            let detail = String(cString: pcap_geterr(h))
            let reason: String
            switch rc {
            case PCAP_ERROR_PERM_DENIED:
                reason = "permission denied (run as root, or give the binary cap_net_raw,cap_net_admin+eip with setcap)"
            case PCAP_ERROR_NO_SUCH_DEVICE: reason = "no such interface"
            case PCAP_ERROR_IFACE_NOT_UP: reason = "the interface is down"
            default: reason = detail.isEmpty ? "error \(rc)" : detail
            }
            pcap_close(h)
            throw PcapError("cannot capture on \(interface): \(reason)")
        }
        let source = PcapSource(handle: h, name: interface, isLive: true)
        if let filter = options.filter { try source.setFilter(filter) }
        return source
    }

    /// Compiles and installs a BPF filter (tcpdump syntax).
    public func setFilter(_ expression: String) throws(PcapError) {
        var program = bpf_program()
        guard pcap_compile(handle, &program, expression, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw PcapError("bad capture filter '\(expression)': \(String(cString: pcap_geterr(handle)))")
        }
        defer { pcap_freecode(&program) }
        guard pcap_setfilter(handle, &program) == 0 else {
            throw PcapError("cannot install capture filter '\(expression)': \(String(cString: pcap_geterr(handle)))")
        }
    }

    /// Reads the next packet and calls `body` with its metadata and captured bytes (valid only
    /// during the call).
    @inline(__always)
    public func next(_ body: (PacketInfo, UnsafeRawBufferPointer) throws -> Void) throws -> ReadResult {
        var header: UnsafeMutablePointer<pcap_pkthdr>?
        var data: UnsafePointer<UInt8>?
        let rc = pcap_next_ex(handle, &header, &data)
        switch rc {
        case 1:
            guard let header, let data else { return .timeout }
            let h = header.pointee
            // Nanosecond precision was requested: tv_usec holds nanoseconds.
            let ts = Int64(h.ts.tv_sec) * 1_000_000_000 + Int64(h.ts.tv_usec)
            try body(PacketInfo(timestamp: ts, capturedLength: Int(h.caplen), wireLength: Int(h.len)),
                     UnsafeRawBufferPointer(start: data, count: Int(h.caplen)))
            return .packet
        case 0:
            return .timeout
        case PCAP_ERROR_BREAK:
            return .end
        case PCAP_ERROR:
            throw PcapError("\(name): read failed: \(String(cString: pcap_geterr(handle)))")
        default:
            return .end
        }
    }

    /// Puts a live handle in non-blocking mode: ``next(_:)`` then returns `.timeout` at once
    /// when no packet is ready, and ``waitForPackets(milliseconds:)`` does the waiting. (A
    /// blocking read on Linux may not return at its timeout when no packet arrives at all, so a
    /// capture could not notice that it should stop.)
    public func setNonBlocking() throws(PcapError) {
        var errbuf = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE) + 1)
        guard pcap_setnonblock(handle, 1, &errbuf) == 0 else {
            throw PcapError("\(name): cannot make the capture non-blocking: \(String(cString: errbuf))")
        }
    }

    /// Waits until packets are ready or `milliseconds` pass (or a signal arrives); true when
    /// packets are ready.
    public func waitForPackets(milliseconds: Int32) -> Bool {
        let fd = pcap_get_selectable_fd(handle)
        guard fd >= 0 else { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return poll(&p, 1, milliseconds) > 0
    }

    /// Statistics of a live capture; nil for files.
    public func statistics() -> Statistics? {
        guard isLive else { return nil }
        var s = pcap_stat()
        guard pcap_stats(handle, &s) == 0 else { return nil }
        return Statistics(received: UInt64(s.ps_recv), droppedByKernel: UInt64(s.ps_drop), droppedByInterface: UInt64(s.ps_ifdrop))
    }

    /// Makes a blocking ``next(_:)`` return `.end` (callable from another thread).
    public func breakLoop() { pcap_breakloop(handle) }

    /// The libpcap version string.
    public static var libraryVersion: String { String(cString: pcap_lib_version()) }
}

/// A libpcap failure, with libpcap's own message.
public struct PcapError: Error, Sendable, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
