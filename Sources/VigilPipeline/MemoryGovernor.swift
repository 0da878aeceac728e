import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Enforces `limits.memory`: a thread samples the process's resident set size (`/proc/self/statm`)
/// every 50 ms; above the limit it closes the gate the readers check (file sensors stop reading,
/// syslog UDP datagrams are dropped and counted), and opens it again below 90 % of the limit.
///
/// Under overload nothing in the pipeline grows without bound by design (the syslog queue is
/// bounded, the broker keeps the backlog on disk, rule windows are swept); the governor is the
/// backstop that keeps a configured ceiling when something does (a burst of new rule keys, a
/// large enrichment reload).
public final class MemoryGovernor: Sendable {
    /// The limit, bytes.
    public let limit: Int64
    private let paused = Atomic<Bool>(false)
    private let pauses = Atomic<Int64>(0)
    private let stopFlag = Atomic<Bool>(false)
    private let finished = Mutex(false)

    /// Starts sampling.
    public init(limit: Int64, report: @escaping @Sendable (String) -> Void) {
        self.limit = limit
        let thread = Thread { [self] in
            let resume = limit / 10 * 9
            while !stopFlag.load(ordering: .relaxed) {
                let rss = Self.residentBytes()
                if !paused.load(ordering: .relaxed) && rss > limit {
                    paused.store(true, ordering: .relaxed)
                    pauses.wrappingAdd(1, ordering: .relaxed)
                    report("memory: resident \(rss >> 20) MiB is over limits.memory (\(limit >> 20) MiB): readers paused, UDP syslog datagrams dropped")
                } else if paused.load(ordering: .relaxed) && rss < resume {
                    paused.store(false, ordering: .relaxed)
                    report("memory: resident \(rss >> 20) MiB is under 90 % of limits.memory: readers resumed")
                }
                usleep(50_000)
            }
            finished.withLock { $0 = true }
        }
        thread.name = "vigil-memory-governor"
        thread.start()
    }

    /// Whether readers may read now.
    public var admits: Bool { !paused.load(ordering: .relaxed) }
    /// Times the readers were paused.
    public var pauseCount: Int64 { pauses.load(ordering: .relaxed) }

    /// Stops sampling and opens the gate.
    public func stop() {
        stopFlag.store(true, ordering: .relaxed)
        paused.store(false, ordering: .relaxed)
    }

    /// Resident set size of this process, bytes (0 when `/proc` cannot be read).
    public static func residentBytes() -> Int64 {
        let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard n > 0 else { return 0 }
        // "size resident shared …" in pages.
        let fields = buffer[0..<n].split(separator: 0x20)
        guard fields.count >= 2, let pages = Int64(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }
}
