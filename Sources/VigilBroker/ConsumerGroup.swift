import Foundation
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// A topic and partition.
public struct TopicPartition: Hashable, Sendable, Comparable, CustomStringConvertible {
    public var topic: String
    public var partition: Int
    public init(_ topic: String, _ partition: Int) { self.topic = topic; self.partition = partition }
    public static func < (a: Self, b: Self) -> Bool { (a.topic, a.partition) < (b.topic, b.partition) }
    public var description: String { "\(topic)/\(partition)" }
}

/// Durable committed offsets of a consumer group, one small checksummed file per partition,
/// replaced atomically (write, fsync, rename, directory fsync).
public struct GroupOffsets: Sendable {
    public let directory: String

    public init(dataDirectory: String, group: String) throws(BrokerError) {
        try EmbeddedLog.validateTopicName(group)
        directory = "\(dataDirectory)/groups/\(group)/offsets"
    }

    func path(_ tp: TopicPartition) -> String { "\(directory)/\(tp.topic).\(tp.partition)" }

    /// The committed offset (the next record to consume), nil when none was committed.
    public func committed(_ tp: TopicPartition) throws(BrokerError) -> Int64? {
        let p = path(tp)
        guard FileSystem.exists(p) else { return nil }
        let bytes = try FileSystem.readAll(p)
        guard bytes.count == 17, bytes[0..<4] == [0x56, 0x47, 0x4F, 0x46], bytes[4] == 1 else {
            throw BrokerError(.corrupt, "committed offset file \(p) is damaged (bad size or header)")
        }
        let (offset, crc) = bytes.withUnsafeBytes {
            (Int64(littleEndian: $0.loadUnaligned(fromByteOffset: 5, as: Int64.self)),
             UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: 13, as: UInt32.self)))
        }
        guard crc == bytes.withUnsafeBytes({ CRC32C.checksum(UnsafeRawBufferPointer(rebasing: $0[0..<13])) }) else {
            throw BrokerError(.corrupt, "committed offset file \(p) is damaged (checksum mismatch)")
        }
        return offset
    }

    public func commit(_ tp: TopicPartition, offset: Int64) throws(BrokerError) {
        try FileSystem.makeDirectories(directory)
        var bytes: [UInt8] = [0x56, 0x47, 0x4F, 0x46, 1]
        withUnsafeBytes(of: offset.littleEndian) { bytes.append(contentsOf: $0) }
        let crc = bytes.withUnsafeBytes { CRC32C.checksum($0) }
        withUnsafeBytes(of: crc.littleEndian) { bytes.append(contentsOf: $0) }
        try FileSystem.writeAtomically(bytes, to: path(tp))
    }
}


/// A member of a consumer group on one host: the group's members share the partitions of the
/// subscribed topics, each partition consumed by exactly one member at a time.
///
/// Membership is a file per member in `groups/<group>/members/`, held under `flock` for the
/// member's lifetime, so the kernel releases it when the process dies (even by SIGKILL). Every
/// `rebalanceInterval` a member lists the live members, computes the same deterministic
/// assignment as the others (round-robin over sorted members), gives up partitions no longer
/// its own (committing their offsets first) and takes new ones once their previous owner's
/// `owners/<topic>.<p>.lock` is free, resuming at the committed offset. Delivery is
/// at-least-once: records after the last commit of a killed member are delivered again.
///
/// Not thread-safe: use one consumer per thread.
public final class GroupConsumer {
    public let group: String
    public let memberID: String
    public let topics: [String]
    let log: EmbeddedLog
    let groupDirectory: String
    let offsets: GroupOffsets
    /// Where to start a partition that has no committed offset (`earliest` or `latest`).
    public var resetPosition: StartPosition
    /// How often membership is checked, in nanoseconds. Default 200 ms.
    public var rebalanceInterval: Int64 = 200_000_000

    private let memberFile: FileDescriptor
    private var owned: [TopicPartition: (reader: PartitionReader, lock: FileDescriptor, committed: Int64?)] = [:]
    private var order: [TopicPartition] = []
    private var nextIndex = 0
    private var lastRebalance: Int64 = 0
    private var closed = false
    /// Records skipped because retention deleted them before they were consumed.
    public private(set) var skippedByRetention: Int64 = 0
    /// Members seen at the last rebalance.
    public private(set) var members: [String] = []

    /// Where a partition this member takes starts: called once the partition is this member's;
    /// nil resumes at the group's committed offset. A stream stage returns the offset saved with
    /// its state, so state and position always match.
    public typealias AssignHandler = (TopicPartition) throws(BrokerError) -> StartPosition?
    /// Called before this member gives a partition up (to another member, or on close), with the
    /// next offset it would have delivered.
    public typealias RevokeHandler = (TopicPartition, Int64) throws(BrokerError) -> Void
    private let onAssign: AssignHandler?
    private let onRevoke: RevokeHandler?

    public init(log: EmbeddedLog, group: String, topics: [String], memberID: String? = nil,
                resetPosition: StartPosition = .earliest, onAssign: AssignHandler? = nil,
                onRevoke: RevokeHandler? = nil) throws(BrokerError) {
        self.log = log
        self.onAssign = onAssign
        self.onRevoke = onRevoke
        self.group = group
        self.topics = topics.sorted()
        self.resetPosition = resetPosition
        offsets = try GroupOffsets(dataDirectory: log.dataDirectory, group: group)
        groupDirectory = "\(log.dataDirectory)/groups/\(group)"
        var host = [UInt8](repeating: 0, count: 256)
        host.withUnsafeMutableBytes { _ = gethostname($0.baseAddress!.assumingMemoryBound(to: CChar.self), 255) }
        let hostname = String(decoding: host.prefix { $0 != 0 }, as: UTF8.self)
        let id = memberID ?? "\(hostname)-\(getpid())-\(String(UInt32.random(in: 0...UInt32.max), radix: 16))"
        self.memberID = id
        try FileSystem.makeDirectories("\(groupDirectory)/members")
        try FileSystem.makeDirectories("\(groupDirectory)/owners")
        // Join: lock a file under a temporary name, then rename it into place, so no other
        // member ever sees an unlocked member file.
        let joining = "\(groupDirectory)/members/\(id).joining"
        let file = try FileDescriptor(path: joining, flags: O_RDWR | O_CREAT)
        guard try file.tryLock() else { throw BrokerError(.locked, "member id \(id) is in use") }
        if rename(joining, "\(groupDirectory)/members/\(id)") != 0 {
            throw .posix("cannot join group at", path: "\(groupDirectory)/members/\(id)")
        }
        memberFile = file
        for t in topics { _ = try log.topic(t) }
        try rebalance()
    }

    deinit { try? close() }

    /// Partitions this member consumes now.
    public var assignment: [TopicPartition] { order }

    /// Whether its partitions' readers drop the pages they have read from the page cache
    /// (``PartitionReader/dropsReadPages``): for a group that is its topics' only reader.
    public var dropsReadPages = false {
        didSet { for entry in owned.values { entry.reader.dropsReadPages = dropsReadPages } }
    }

    /// The next offset this member will deliver for each owned partition.
    public var positions: [TopicPartition: Int64] { owned.mapValues { $0.reader.position } }

    /// Live members of the group, removing the files of dead ones.
    private func liveMembers() throws(BrokerError) -> [String] {
        let dir = "\(groupDirectory)/members"
        var live: [String] = []
        for name in try FileSystem.list(dir) {
            if name == memberID { live.append(name); continue }
            let path = "\(dir)/\(name)"
            if name.hasSuffix(".joining") {
                // A member between creating its file and locking it looks dead: leave joining
                // files alone unless one is a minute old (its joiner died mid-join).
                var st = stat()
                guard stat(path, &st) == 0, time(nil) - st.st_mtim.tv_sec > 60 else { continue }
            }
            guard let file = try? FileDescriptor(path: path, flags: O_RDONLY) else { continue }
            if try file.tryLock(exclusive: false) {
                // Nobody holds it: the member is gone.
                try FileSystem.remove(path)
                file.unlock()
            } else if !name.hasSuffix(".joining") {
                live.append(name)
            }
        }
        return live.sorted()
    }

    /// Recomputes the assignment and hands partitions over. Called by `poll` every
    /// `rebalanceInterval`.
    public func rebalance() throws(BrokerError) {
        lastRebalance = PartitionWriter.nowNanoseconds()
        members = try liveMembers()
        let me = members.firstIndex(of: memberID) ?? 0
        var all: [TopicPartition] = []
        for t in topics {
            let meta = try log.topic(t)
            for p in 0..<meta.partitions { all.append(TopicPartition(t, p)) }
        }
        var mine = Set<TopicPartition>()
        for (i, tp) in all.enumerated() where i % max(1, members.count) == me { mine.insert(tp) }
        // Revoke: commit, then release.
        for tp in owned.keys.sorted() where !mine.contains(tp) {
            try onRevoke?(tp, owned[tp]!.reader.position)
            try commit(tp)
            owned[tp]!.lock.unlock()
            owned[tp] = nil
        }
        // Assign what is free.
        for tp in mine.sorted() where owned[tp] == nil {
            let lock = try FileDescriptor(path: "\(groupDirectory)/owners/\(tp.topic).\(tp.partition).lock", flags: O_RDWR | O_CREAT)
            guard try lock.tryLock() else { continue }  // the previous owner is still handing it over
            let reader = try log.openReader(topic: tp.topic, partition: tp.partition)
            reader.dropsReadPages = dropsReadPages
            let committed = try offsets.committed(tp)
            if let start = try onAssign?(tp) {
                do {
                    try reader.seek(start)
                } catch where error.code == .offsetOutOfRange {
                    try reader.seek(.earliest)
                    if case .offset(let o) = start, reader.position > o { skippedByRetention += reader.position - o }
                }
            } else if let committed {
                do {
                    try reader.seek(.offset(committed))
                } catch where error.code == .offsetOutOfRange {
                    try reader.seek(.earliest)
                    if reader.position > committed { skippedByRetention += reader.position - committed }
                }
            } else {
                try reader.seek(resetPosition)
            }
            owned[tp] = (reader, lock, committed)
        }
        order = owned.keys.sorted()
    }

    /// Delivers up to `maxRecords` records from the owned partitions, round-robin. Returns 0 when
    /// all owned partitions are at their end.
    @discardableResult
    public func poll(maxRecords: Int, _ body: (String, RecordView) throws -> Void) throws -> Int {
        if closed { throw BrokerError(.closed, "consumer \(memberID) is closed") }
        if PartitionWriter.nowNanoseconds() - lastRebalance >= rebalanceInterval { try rebalance() }
        var delivered = 0
        var idle = 0
        while delivered < maxRecords && idle < order.count {
            let tp = order[nextIndex % order.count]
            nextIndex += 1
            let reader = owned[tp]!.reader
            let n: Int
            do {
                n = try reader.read(maxRecords: maxRecords - delivered) { try body(tp.topic, $0) }
            } catch let error as BrokerError where error.code == .offsetOutOfRange {
                let before = reader.position
                try reader.seek(.earliest)
                skippedByRetention += max(0, reader.position - before)
                continue
            }
            delivered += n
            idle = n == 0 ? idle + 1 : 0
        }
        return delivered
    }

    private func commit(_ tp: TopicPartition) throws(BrokerError) {
        guard let entry = owned[tp] else { return }
        let position = entry.reader.position
        if entry.committed != position {
            try offsets.commit(tp, offset: position)
            owned[tp]!.committed = position
        }
    }

    /// Durably records the position of every owned partition: after a crash the group resumes
    /// from here.
    public func commit() throws(BrokerError) {
        for tp in order { try commit(tp) }
    }

    /// The end offset of an owned partition (one past its last record), nil if not owned.
    public func endOffset(_ tp: TopicPartition) throws(BrokerError) -> Int64? {
        try owned[tp]?.reader.endOffset()
    }

    /// Commits, releases the partitions and leaves the group.
    public func close() throws(BrokerError) {
        if closed { return }
        closed = true
        for tp in order { try onRevoke?(tp, owned[tp]!.reader.position) }
        try commit()
        for (_, entry) in owned { entry.lock.unlock() }
        owned.removeAll()
        order.removeAll()
        try FileSystem.remove("\(groupDirectory)/members/\(memberID)")
        memberFile.unlock()
    }
}

/// Lag of a group on one partition.
public struct PartitionLag: Sendable {
    public var topicPartition: TopicPartition
    public var committed: Int64?
    public var start: Int64
    public var end: Int64
    public init(topicPartition: TopicPartition, committed: Int64?, start: Int64, end: Int64) {
        self.topicPartition = topicPartition
        self.committed = committed
        self.start = start
        self.end = end
    }
    /// Records not yet committed (from the earliest offset when nothing was committed).
    public var lag: Int64 { end - max(committed ?? start, start) }
}

extension EmbeddedLog {
    /// Committed offsets against end offsets for every partition of `topics` (all topics if empty).
    public func lag(group: String, topics names: [String] = []) throws(BrokerError) -> [PartitionLag] {
        let offsets = try GroupOffsets(dataDirectory: dataDirectory, group: group)
        var result: [PartitionLag] = []
        let selected = names.isEmpty ? try topics().map(\.name) : names
        for name in selected {
            let meta = try topic(name)
            for p in 0..<meta.partitions {
                let reader = try openReader(topic: name, partition: p)
                let tp = TopicPartition(name, p)
                result.append(PartitionLag(topicPartition: tp, committed: try offsets.committed(tp),
                                           start: try reader.startOffset(), end: try reader.endOffset()))
            }
        }
        return result
    }

    /// Consumer groups with state in this data directory.
    public func groups() throws(BrokerError) -> [String] {
        let dir = "\(dataDirectory)/groups"
        guard FileSystem.isDirectory(dir) else { return [] }
        return try FileSystem.list(dir).sorted()
    }
}
