/// When appended data is forced to stable storage, and so what "acknowledged" means.
public enum FsyncPolicy: Sendable, Equatable {
    /// fsync before each append returns: acknowledged records survive power loss.
    case everyBatch
    /// A flusher fsyncs every `milliseconds`; an acknowledging append waits for the next flush
    /// (group commit), so acknowledged records survive power loss.
    case interval(milliseconds: Int)
    /// Never fsync (the OS writes back): acknowledged records survive a process crash, not power loss.
    case never
}

/// Settings of the embedded log. Every default is documented here and in docs/configuration.md.
public struct LogConfiguration: Sendable, Equatable {
    /// Partitions of a topic created without an explicit count. Default 4.
    public var defaultPartitions: Int = 4
    /// A segment is rolled when appending would make it larger than this. Default 256 MiB.
    public var segmentBytes: Int = 256 << 20
    /// Bytes between sparse offset/time index entries. Default 4 KiB.
    public var indexIntervalBytes: Int = 4096
    /// Per-partition size above which the oldest closed segments are deleted. Default: unlimited.
    public var retentionBytes: Int64? = nil
    /// Age (nanoseconds of record time) after which closed segments are deleted. Default 7 days.
    public var retentionAgeNanoseconds: Int64? = 7 * 86_400 * 1_000_000_000
    /// Default: fsync every 100 ms with group commit.
    public var fsync: FsyncPolicy = .interval(milliseconds: 100)

    public init() {}
}
