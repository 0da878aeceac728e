#if canImport(Glibc)
import Glibc
#endif
import CPcap

/// Receives the packets of a capture or a replay, one at a time, on the capture thread.
public protocol PacketConsumer {
    /// A source starts (a file, or the interface): its link type applies to the packets that follow.
    mutating func begin(source: String, linkType: Int32)
    /// One packet; `bytes` are valid only during the call.
    mutating func consume(_ info: PcapSource.PacketInfo, _ bytes: UnsafeRawBufferPointer) throws
    /// A live read found no packet for a while: `now` (wall clock, ns) lets flows time out.
    mutating func idle(now: Int64) throws
}

/// What a capture or a replay read.
public struct CaptureSummary: Sendable, Equatable {
    public var packets: Int64 = 0
    /// Captured bytes.
    public var bytes: Int64 = 0
    /// Timestamps of the first and last packets (ns); 0 when none.
    public var firstTimestamp: Int64 = 0
    public var lastTimestamp: Int64 = 0
    public var files = 0
    /// Packets cut short by the snaplen.
    public var truncated: Int64 = 0
    /// libpcap's counters of a live capture.
    public var statistics: PcapSource.Statistics?
}

/// Reads packets from pcap files or a live interface into a ``PacketConsumer``.
public enum CaptureRunner {
    /// Replays `files` in order. `progress` is called every 64 Ki packets with the bytes read
    /// so far and the total size of the files.
    public static func replay<C: PacketConsumer>(files: [String], into consumer: inout C,
                                                 progress: ((Int64, Int64) -> Void)? = nil) throws -> CaptureSummary {
        var summary = CaptureSummary()
        var total: Int64 = 0
        for f in files {
            var st = stat()
            if stat(f, &st) == 0 { total += Int64(st.st_size) }
        }
        var doneBefore: Int64 = 0
        for file in files {
            summary.files += 1
            let source = try CaptureFile(path: file)
            consumer.begin(source: file, linkType: source.linkType)
            while true {
                let result = try source.next { info, bytes in
                    summary.count(info)
                    try consumer.consume(info, bytes)
                }
                guard result == .packet else { break }
                if let progress, summary.packets & 0xFFFF == 0 { progress(doneBefore + source.offset, total) }
            }
            doneBefore += source.offset
            progress?(doneBefore, total)
        }
        return summary
    }

    /// Captures on `interface` until `shouldStop` returns true (checked after every read; reads
    /// return at least every `options.timeoutMilliseconds`), giving up privileges once the handle
    /// is open (see ``Privileges``). Timeouts of the read call `idle` with the wall clock.
    ///
    /// `progress` is called on the capture thread about once a second (the clock is read every
    /// 1024 packets and at every read timeout) with the summary so far, libpcap's counters included.
    public static func capture<C: PacketConsumer>(interface: String, options: PcapSource.LiveOptions, user: String?,
                                                  dropPrivileges: Bool = true, shouldStop: () -> Bool,
                                                  into consumer: inout C,
                                                  opened: (PcapSource) -> Void = { _ in },
                                                  progress: ((CaptureSummary) -> Void)? = nil) throws -> CaptureSummary {
        let source = try PcapSource.open(interface: interface, options: options)
        try source.setNonBlocking()
        if dropPrivileges { try Privileges.drop(toUser: user) }
        opened(source)
        consumer.begin(source: interface, linkType: source.linkType)
        var summary = CaptureSummary()
        var lastProgress = monotonicClock()
        reading: while !shouldStop() {
            let result = try source.next { info, bytes in
                summary.count(info)
                try consumer.consume(info, bytes)
            }
            if let progress, result != .packet || summary.packets & 1023 == 0 {
                let now = monotonicClock()
                if now - lastProgress >= 1_000_000_000 {
                    lastProgress = now
                    var current = summary
                    current.statistics = source.statistics()
                    progress(current)
                }
            }
            switch result {
            case .packet: continue
            case .timeout:
                // Nothing ready: wait up to the read timeout (a signal cuts the wait short), and
                // let flows time out when nothing came.
                if !source.waitForPackets(milliseconds: options.timeoutMilliseconds) { try consumer.idle(now: wallClock()) }
            case .end: break reading
            }
        }
        summary.statistics = source.statistics()
        return summary
    }

    /// Nanoseconds of the monotonic clock.
    public static func monotonicClock() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }

    static func wallClock() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}

extension CaptureSummary {
    @inline(__always)
    mutating func count(_ info: PcapSource.PacketInfo) {
        packets += 1
        bytes += Int64(info.capturedLength)
        if info.capturedLength < info.wireLength { truncated += 1 }
        if firstTimestamp == 0 { firstTimestamp = info.timestamp }
        lastTimestamp = info.timestamp
    }
}

extension PcapSource {
    /// How far into the file reading has got, in bytes (0 for live captures).
    public var fileOffset: Int64 {
        guard !isLive else { return 0 }
        return withHandle { h in
            guard let f = pcap_file(h) else { return 0 }
            return Int64(ftello(f))
        }
    }
}

/// A capture file to replay: classic pcap read from a memory mapping, any other format (pcapng,
/// …) through libpcap.
enum CaptureFile {
    case mapped(MappedPcapReader)
    case libpcap(PcapSource)

    init(path: String) throws {
        if let mapped = try MappedPcapReader(path: path) {
            self = .mapped(mapped)
        } else {
            self = .libpcap(try PcapSource.open(file: path))
        }
    }

    var linkType: Int32 {
        switch self {
        case .mapped(let m): m.linkType
        case .libpcap(let s): s.linkType
        }
    }

    /// Bytes of the file read so far.
    var offset: Int64 {
        switch self {
        case .mapped(let m): Int64(m.offset)
        case .libpcap(let s): s.fileOffset
        }
    }

    @inline(__always)
    func next(_ body: (PcapSource.PacketInfo, UnsafeRawBufferPointer) throws -> Void) throws -> PcapSource.ReadResult {
        switch self {
        case .mapped(let m): try m.next(body)
        case .libpcap(let s): try s.next(body)
        }
    }
}
