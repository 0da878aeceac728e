import Foundation
import VigilBroker
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// `vigil bench broker`: appends and reads 200-byte records with batched fsync, then writes
/// 64 KiB records and compares with `dd` writing the same amount to the same disk.
public struct BrokerBenchmark {
    public struct Options: Sendable {
        public var directory: String
        public var records = 5_000_000
        public var recordBytes = 200
        public var recordsPerBatch = 1000
        public var partitions = 4
        public var largeRecordBytes = 64 << 10
        public var largeTotalBytes = 2 << 30
        public var rounds = 5
        public init(directory: String) { self.directory = directory }
    }

    public struct Result: Sendable {
        public var appendRecordsPerSecond: Double
        public var appendSeconds: Double
        public var readRecordsPerSecond: Double
        public var readSeconds: Double
        public var largeMBPerSecond: Double
        public var ddMBPerSecond: Double
        public var cores: Int
        public var records: Int
        public var recordBytes: Int
        public var recordsPerBatch: Int
        public var partitions: Int
        public var largeTotalBytes: Int
        public var crcHardware: Bool
        public var ddRatio: Double { ddMBPerSecond > 0 ? largeMBPerSecond / ddMBPerSecond : 0 }
    }

    let options: Options
    let progress: (String) -> Void

    public init(options: Options, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    public func run() throws -> Result {
        let root = options.directory
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }

        // 1. Small records: fsync after every batch of `recordsPerBatch` records.
        var small = LogConfiguration()
        small.fsync = .everyBatch
        small.retentionAgeNanoseconds = nil
        small.segmentBytes = 512 << 20
        let log = try EmbeddedLog(dataDirectory: "\(root)/small", configuration: small)
        try log.createTopic("bench", partitions: options.partitions)
        var writers: [PartitionWriter] = []
        for p in 0..<options.partitions { writers.append(try log.openWriter(topic: "bench", partition: p)) }
        // One producer thread per partition, as sensors sharded by key would run: each hashes
        // its keys (murmur2), batches `recordsPerBatch` records and appends with an fsync per
        // batch; while one thread waits in fsync the others build.
        var keysByPartition = Array(repeating: [UInt64](), count: options.partitions)
        for k in 0..<UInt64(65_536) {
            let p = withUnsafeBytes(of: k.littleEndian) { Partitioner.partition(for: $0, count: options.partitions) }
            keysByPartition[p].append(k)
        }
        progress("appending \(options.records) records of \(options.recordBytes) bytes from \(options.partitions) threads, fsync every \(options.recordsPerBatch) records…")
        let timestamp = Timestamp.now().nanoseconds
        let perPartition = options.records / options.partitions
        let failures = FailureBox()
        let opts = self.options
        let writerList = writers
        let keyTable = keysByPartition
        let t0 = BenchClock.now()
        DispatchQueue.concurrentPerform(iterations: opts.partitions) { p in
            let writer = writerList[p]
            let keys = keyTable[p]
            var batch = BatchBuilder(capacity: opts.recordsPerBatch * (opts.recordBytes + 32))
            var value = [UInt8](repeating: 0x61, count: opts.recordBytes)
            let first = p * perPartition
            let count = p == opts.partitions - 1 ? opts.records - first : perPartition
            do {
                for j in 0..<count {
                    let i = first + j
                    var key = keys[j % keys.count].littleEndian
                    value.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(i).littleEndian, as: UInt64.self) }
                    try withUnsafeBytes(of: &key) { k in
                        guard Partitioner.partition(for: k, count: opts.partitions) == p else {
                            throw BrokerError(.invalidArgument, "key routed to the wrong partition")
                        }
                        value.withUnsafeBytes { v in batch.append(key: k, value: v, timestamp: timestamp) }
                    }
                    if batch.count == opts.recordsPerBatch { try writer.append(&batch) }
                }
                if !batch.isEmpty { try writer.append(&batch) }
            } catch {
                failures.set(error)
            }
        }
        let appendSeconds = BenchClock.now() - t0
        if let error = failures.error { throw error }
        for w in writers { try w.close() }

        progress("reading them back…")
        let t1 = BenchClock.now()
        var read = 0
        var checksum: UInt64 = 0
        for p in 0..<options.partitions {
            let reader = try log.openReader(topic: "bench", partition: p)
            while true {
                let n = try reader.read(maxRecords: 100_000) { r in
                    checksum &+= r.value.loadUnaligned(as: UInt64.self)
                }
                if n == 0 { break }
                read += n
            }
        }
        let readSeconds = BenchClock.now() - t1
        guard read == options.records else {
            throw BrokerError(.corrupt, "benchmark read \(read) records, wrote \(options.records)")
        }
        let expectedSum = UInt64(options.records) * UInt64(options.records - 1) / 2
        guard checksum == expectedSum else { throw BrokerError(.corrupt, "benchmark read back different values") }
        log.close()
        try? FileManager.default.removeItem(atPath: "\(root)/small")

        // 2. Large records against dd on the same disk: alternate dd and vigil `rounds` times and
        // compare medians, since a virtual disk's speed drifts from run to run.
        let count = options.largeTotalBytes / options.largeRecordBytes
        var ddTimes: [Double] = [], largeTimes: [Double] = []
        for round in 1...options.rounds {
            progress("round \(round)/\(options.rounds): dd, \(count) blocks of \(options.largeRecordBytes) bytes (conv=fdatasync), then vigil, \(count) records (1 MiB batches, 100 ms group commit, final fsync)…")
            // Start each timed write with no dirty pages left over from the previous one.
            sync()
            ddTimes.append(try runDD(path: "\(root)/dd.bin", blockBytes: options.largeRecordBytes, count: count))
            try? FileManager.default.removeItem(atPath: "\(root)/dd.bin")
            sync()
            largeTimes.append(try writeLarge(directory: "\(root)/large", count: count))
            try? FileManager.default.removeItem(atPath: "\(root)/large")
            let mb = Double(count * options.largeRecordBytes) / 1e6
            progress(String(format: "  dd %.0f MB/s, vigil %.0f MB/s", mb / ddTimes.last!, mb / largeTimes.last!))
        }
        let ddSeconds = ddTimes.sorted()[ddTimes.count / 2]
        let largeSeconds = largeTimes.sorted()[largeTimes.count / 2]

        let mb = Double(count * options.largeRecordBytes) / 1e6
        return Result(
            appendRecordsPerSecond: Double(options.records) / appendSeconds, appendSeconds: appendSeconds,
            readRecordsPerSecond: Double(read) / readSeconds, readSeconds: readSeconds,
            largeMBPerSecond: mb / largeSeconds, ddMBPerSecond: mb / ddSeconds,
            cores: ProcessInfo.processInfo.activeProcessorCount, records: options.records,
            recordBytes: options.recordBytes, recordsPerBatch: options.recordsPerBatch,
            partitions: options.partitions, largeTotalBytes: count * options.largeRecordBytes,
            crcHardware: CRC32C.isHardwareAccelerated)
    }

    /// Appends `count` large records in 1 MiB batches under the default fsync policy (group commit
    /// every 100 ms) and fsyncs at the end, as `dd conv=fdatasync` does; returns the seconds taken.
    private func writeLarge(directory: String, count: Int) throws -> Double {
        var large = LogConfiguration()
        large.fsync = .interval(milliseconds: 100)
        large.retentionAgeNanoseconds = nil
        large.segmentBytes = 1 << 30
        let log = try EmbeddedLog(dataDirectory: directory, configuration: large)
        try log.createTopic("large", partitions: 1)
        let writer = try log.openWriter(topic: "large", partition: 0)
        let payload = [UInt8](repeating: 0x5A, count: options.largeRecordBytes)
        var batch = BatchBuilder(capacity: 16 * (options.largeRecordBytes + 16))
        let timestamp = Timestamp.now().nanoseconds
        let t = BenchClock.now()
        for i in 0..<count {
            payload.withUnsafeBytes { batch.append(key: nil, value: $0, timestamp: timestamp) }
            if (i + 1) % 16 == 0 { try writer.append(&batch) }
        }
        if !batch.isEmpty { try writer.append(&batch) }
        try writer.close()
        let seconds = BenchClock.now() - t
        log.close()
        return seconds
    }

    /// Runs `dd if=/dev/zero of=PATH bs=B count=N conv=fdatasync` and times it.
    private func runDD(path: String, blockBytes: Int, count: Int) throws -> Double {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/dd")
        process.arguments = ["if=/dev/zero", "of=\(path)", "bs=\(blockBytes)", "count=\(count)", "conv=fdatasync"]
        process.standardError = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let t = BenchClock.now()
        try process.run()
        process.waitUntilExit()
        let seconds = BenchClock.now() - t
        guard process.terminationStatus == 0 else {
            throw BrokerError(.io, "dd exited with status \(process.terminationStatus)")
        }
        return seconds
    }
}

/// The first error of concurrent workers.
final class FailureBox: @unchecked Sendable {
    // Guarded by `lock`.
    private let lock = NSLock()
    private var first: Error?
    func set(_ e: Error) { lock.withLock { if first == nil { first = e } } }
    var error: Error? { lock.withLock { first } }
}

/// Seconds on the monotonic clock, for timing benchmark phases.
enum BenchClock {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}
