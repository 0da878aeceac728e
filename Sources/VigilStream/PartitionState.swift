import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// Everything the stream stage keeps for one input partition: the profiles' windows and the
/// positions they correspond to. Checkpointed as one unit, so that after a restart the state and
/// the offset to resume from always match (exactly-once state).
public struct PartitionState {
    public let partition: Int
    public private(set) var profiles: [ProfileDefinition]
    var operators: [WindowOperator<ProfileValue>]
    /// The next input offset to process.
    public var offset: Int64 = 0
    /// The end of the partition's output at the last checkpoint: results after it may repeat
    /// after a restart and are recognized by their ids.
    public var outputOffset: Int64 = 0
    /// Processing time of the last early firing, per profile.
    var lastEarly: [Int64]

    public init(partition: Int, profiles: [ProfileDefinition]) {
        self.partition = partition
        self.profiles = profiles
        operators = profiles.map { p in WindowOperator(options: p.window) { ProfileValue.empty(p.aggregate) } }
        lastEarly = Array(repeating: 0, count: profiles.count)
    }

    /// Counters summed over the profiles.
    public var lateEvents: Int64 { operators.reduce(0) { $0 + $1.lateEvents } }
    public var lateUpdates: Int64 { operators.reduce(0) { $0 + $1.lateUpdates } }
    public var openWindows: Int { operators.reduce(0) { $0 + $1.openWindowCount } }
    /// The smallest watermark over the profiles (Int64.min before any event).
    public var watermark: Int64 { operators.map(\.watermark).min() ?? .min }
    public var maxEventTime: Int64 { operators.map(\.maxEventTime).max() ?? .min }

    /// One event at `time` (its `@timestamp`): added to every profile it matches. Late events
    /// that were rejected are reported through `late` with the reason.
    /// `offset` is the event's place in the input; results carry it (``ProfileFields/inputOffset``).
    public mutating func process(_ event: Event, time: Int64, offset: Int64, emit: (Event) -> Void, late: (String) -> Void) {
        for i in operators.indices {
            guard let key = profiles[i].key(of: event), let input = profiles[i].input(of: event) else { continue }
            let profile = profiles[i]
            let p = partition
            let outcome = operators[i].add(key: key, time: time, input) { emit(profile.resultEvent($0, partition: p, inputOffset: offset)) }
            if case .rejectedLate(let reason) = outcome { late("profile \(profile.name): \(reason)") }
        }
    }

    /// Processing time: early results due at `now`, and the watermark of an idle partition
    /// (no input for `idleFor` ns of processing time) advanced by that much past its event time.
    public mutating func tick(now: Int64, idleFor: Int64?, emit: (Event) -> Void) {
        let offset = self.offset
        for i in operators.indices {
            let profile = profiles[i]
            let p = partition
            if let idle = idleFor, operators[i].maxEventTime > Int64.min {
                let target = operators[i].maxEventTime &- profile.window.allowedLateness &+ idle
                operators[i].advanceWatermark(to: target) { emit(profile.resultEvent($0, partition: p, inputOffset: offset)) }
            }
            if let interval = profile.earlyInterval, now - lastEarly[i] >= interval {
                lastEarly[i] = now
                operators[i].fireEarly { emit(profile.resultEvent($0, partition: p, inputOffset: offset)) }
            }
        }
    }

    // MARK: Checkpoints

    static let magic: [UInt8] = Array("VGLSTATE".utf8)

    /// The state as bytes: a header, the offsets, then each profile's fingerprint and windows.
    public func encoded() -> [UInt8] {
        var w = StateWriter()
        w.varint(1)  // format version
        w.varint(UInt64(partition))
        w.int(offset)
        w.int(outputOffset)
        w.varint(UInt64(operators.count))
        for (profile, op) in zip(profiles, operators) {
            w.string(profile.fingerprint)
            var inner = StateWriter()
            op.encode(into: &inner)
            w.bytes(inner.bytes)
        }
        return Self.magic + w.bytes
    }

    /// Restores a state for the current `profiles`: a profile whose definition changed (or is
    /// new) starts empty, its old windows are dropped (`dropped` names them); the others resume.
    public static func decode(_ bytes: [UInt8], partition: Int, profiles: [ProfileDefinition], context: String,
                              dropped: inout [String]) throws(StreamError) -> PartitionState {
        var state = PartitionState(partition: partition, profiles: profiles)
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw StreamError(.corruptState, "\(context): not a Vigil stream checkpoint")
        }
        let result: Result<Void, StreamError> = bytes.withUnsafeBytes { raw in
            var r = StateReader(UnsafeRawBufferPointer(rebasing: raw[magic.count...]), context: context)
            do throws(StreamError) {
                guard try r.varint() == 1 else { throw r.corrupt("unknown format version") }
                guard try r.varint() == UInt64(partition) else { throw r.corrupt("checkpoint of another partition") }
                state.offset = try r.int()
                state.outputOffset = try r.int()
                guard state.offset >= 0, state.outputOffset >= 0 else { throw r.corrupt("negative offset") }
                let n = try r.count()
                for _ in 0..<n {
                    let fingerprint = try r.string()
                    let blob = try r.bytes()
                    guard let i = profiles.firstIndex(where: { $0.fingerprint == fingerprint }) else {
                        dropped.append(String(fingerprint.split(separator: "|").dropFirst().first ?? "?"))
                        continue
                    }
                    var inner = StateReader(blob, context: context)
                    let p = profiles[i]
                    state.operators[i] = try WindowOperator.restore(options: p.window, from: &inner) { ProfileValue.empty(p.aggregate) }
                    guard inner.isAtEnd else { throw inner.corrupt("trailing bytes") }
                }
                guard r.isAtEnd else { throw r.corrupt("trailing bytes") }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return state
    }
}

/// Checkpoint files of one consumer group: `<dir>/<topic>.<partition>.state`, each replaced
/// atomically (written to a temporary file, fsynced, renamed, directory fsynced), so a crash at
/// any moment leaves the previous or the new checkpoint, never a mix.
public struct CheckpointStore: Sendable {
    public let directory: String

    public init(directory: String) throws(StreamError) {
        self.directory = directory
        var path = directory.hasPrefix("/") ? "" : "."
        for part in directory.split(separator: "/") {
            path += "/" + part
            if mkdir(path, 0o700) != 0 && errno != EEXIST {
                throw StreamError(.io, "cannot create \(path): \(String(cString: strerror(errno)))")
            }
        }
    }

    public func path(topic: String, partition: Int) -> String { "\(directory)/\(topic).\(partition).state" }

    /// The checkpoint's bytes, nil when there is none.
    public func load(topic: String, partition: Int) throws(StreamError) -> [UInt8]? {
        let path = path(topic: topic, partition: partition)
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw StreamError(.io, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw StreamError(.io, "cannot read \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            bytes.append(contentsOf: chunk[0..<n])
        }
        return bytes
    }

    public func save(_ bytes: [UInt8], topic: String, partition: Int) throws(StreamError) {
        let path = path(topic: topic, partition: partition)
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StreamError(.io, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let reason = String(cString: strerror(errno))
                close(fd)
                throw StreamError(.io, "cannot write \(temporary): \(reason)")
            }
            written += n
        }
        if fsync(fd) != 0 {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw StreamError(.io, "cannot fsync \(temporary): \(reason)")
        }
        close(fd)
        if rename(temporary, path) != 0 { throw StreamError(.io, "cannot rename \(temporary): \(String(cString: strerror(errno)))") }
        let dir = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dir >= 0 {
            _ = fsync(dir)
            close(dir)
        }
    }
}
