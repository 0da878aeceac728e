import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// A stage extension that keeps state per input partition, checkpointed with the partition (the
/// detection rules): it sees every enriched event and produces events to its own topic.
public protocol StreamPlugin: Sendable {
    /// Names the plugin's section in checkpoints.
    var name: String { get }
    /// Where its events go (created with the input's partition count; partition p's events go
    /// to partition p, written only by p's owner).
    var outputTopic: String { get }
    /// A fresh state for `partition`.
    func makeState(partition: Int) -> any PluginState
    /// The state ``PluginState/encode(into:)`` wrote. A plugin decides itself what of an old
    /// state it keeps (rules that changed start afresh), reporting through `report`.
    func restoreState(partition: Int, from reader: inout StateReader, report: (String) -> Void) throws(StreamError) -> any PluginState
    /// Housekeeping once a second on one worker (a rules plugin reloads changed rule files).
    func maintain(report: (String) -> Void)
}

extension StreamPlugin {
    public func maintain(report: (String) -> Void) {}
}

/// One partition's state of a ``StreamPlugin``. Events it emits carry an `event.id` that is the
/// same for the same output in every run over the same input (a restart's replay is recognized
/// by it) and the input offset they came from (`vigil.profile.input_offset`).
public protocol PluginState {
    mutating func process(_ event: Event, time: Int64, offset: Int64, emit: (Event) -> Void, late: (String) -> Void)
    mutating func tick(now: Int64, idleFor: Int64?, offset: Int64, emit: (Event) -> Void)
    mutating func closeAll(offset: Int64, emit: (Event) -> Void)
    func encode(into writer: inout StateWriter)
}

/// Everything the stream stage keeps for one input partition: the profiles' windows, the plugins'
/// states and the positions they correspond to. Checkpointed as one unit, so that after a
/// restart the state and the offset to resume from always match (exactly-once state).
public struct PartitionState {
    public let partition: Int
    public private(set) var profiles: [ProfileDefinition]
    var operators: [WindowOperator<ProfileValue>]
    var plugins: [any PluginState]
    let pluginNames: [String]
    /// The next input offset to process.
    public var offset: Int64 = 0
    /// The end of each output (0: the profiles topic, then one per plugin) at the last
    /// checkpoint: outputs after it may repeat after a restart and are recognized by their ids.
    public var outputOffsets: [Int64]
    /// Processing time of the last early firing, per profile.
    var lastEarly: [Int64]

    public init(partition: Int, profiles: [ProfileDefinition], plugins: [any StreamPlugin] = []) {
        self.partition = partition
        self.profiles = profiles
        operators = profiles.map { p in WindowOperator(options: p.window) { ProfileValue.empty(p.aggregate) } }
        self.plugins = plugins.map { $0.makeState(partition: partition) }
        pluginNames = plugins.map(\.name)
        outputOffsets = Array(repeating: 0, count: 1 + plugins.count)
        lastEarly = Array(repeating: 0, count: profiles.count)
    }

    /// Counters summed over the profiles.
    public var lateEvents: Int64 { operators.reduce(0) { $0 + $1.lateEvents } }
    public var lateUpdates: Int64 { operators.reduce(0) { $0 + $1.lateUpdates } }
    public var openWindows: Int { operators.reduce(0) { $0 + $1.openWindowCount } }
    /// The smallest watermark over the profiles (Int64.min before any event).
    public var watermark: Int64 { operators.map(\.watermark).min() ?? .min }
    public var maxEventTime: Int64 { operators.map(\.maxEventTime).max() ?? .min }

    /// One event at `time` (its `@timestamp`): added to every profile it matches, then given to
    /// every plugin. `emit` receives the output index (0: profiles) and the event. Late events
    /// that were rejected are reported through `late` with the reason. `offset` is the event's
    /// place in the input; outputs carry it (``ProfileFields/inputOffset``).
    public mutating func process(_ event: Event, time: Int64, offset: Int64, emit: (Int, Event) -> Void, late: (String) -> Void) {
        for i in operators.indices {
            guard let key = profiles[i].key(of: event), let input = profiles[i].input(of: event) else { continue }
            let profile = profiles[i]
            let p = partition
            let outcome = operators[i].add(key: key, time: time, input) { emit(0, profile.resultEvent($0, partition: p, inputOffset: offset)) }
            if case .rejectedLate(let reason) = outcome { late("profile \(profile.name): \(reason)") }
        }
        for i in plugins.indices {
            plugins[i].process(event, time: time, offset: offset, emit: { emit(i + 1, $0) }, late: late)
        }
    }

    /// Processing time: early results due at `now`, and the watermark of an idle partition
    /// (no input for `idleFor` ns of processing time) advanced by that much past its event time.
    public mutating func tick(now: Int64, idleFor: Int64?, emit: (Int, Event) -> Void) {
        let offset = self.offset
        for i in operators.indices {
            let profile = profiles[i]
            let p = partition
            if let idle = idleFor, operators[i].maxEventTime > Int64.min {
                let target = operators[i].maxEventTime &- profile.window.allowedLateness &+ idle
                operators[i].advanceWatermark(to: target) { emit(0, profile.resultEvent($0, partition: p, inputOffset: offset)) }
            }
            if let interval = profile.earlyInterval, now - lastEarly[i] >= interval {
                lastEarly[i] = now
                operators[i].fireEarly { emit(0, profile.resultEvent($0, partition: p, inputOffset: offset)) }
            }
        }
        for i in plugins.indices {
            plugins[i].tick(now: now, idleFor: idleFor, offset: offset, emit: { emit(i + 1, $0) })
        }
    }

    /// End of input: every window's final result (the watermark goes to the end of time).
    mutating func closeAll(emit: (Int, Event) -> Void) {
        let offset = self.offset
        for i in operators.indices {
            let profile = profiles[i]
            let p = partition
            operators[i].advanceWatermark(to: Int64.max) { emit(0, profile.resultEvent($0, partition: p, inputOffset: offset)) }
        }
        for i in plugins.indices {
            plugins[i].closeAll(offset: offset, emit: { emit(i + 1, $0) })
        }
    }

    // MARK: Checkpoints

    static let magic: [UInt8] = Array("VGLSTATE".utf8)

    /// The state as bytes: a header, the offsets, each profile's fingerprint and windows, then
    /// each plugin's name and state.
    public func encoded() -> [UInt8] {
        var w = StateWriter()
        w.varint(2)  // format version
        w.varint(UInt64(partition))
        w.int(offset)
        w.varint(UInt64(outputOffsets.count))
        for o in outputOffsets { w.int(o) }
        w.varint(UInt64(operators.count))
        for (profile, op) in zip(profiles, operators) {
            w.string(profile.fingerprint)
            var inner = StateWriter()
            op.encode(into: &inner)
            w.bytes(inner.bytes)
        }
        w.varint(UInt64(plugins.count))
        for (name, plugin) in zip(pluginNames, plugins) {
            w.string(name)
            var inner = StateWriter()
            plugin.encode(into: &inner)
            w.bytes(inner.bytes)
        }
        return Self.magic + w.bytes
    }

    /// Restores a state for the current `profiles` and `plugins`: a profile whose definition
    /// changed (or is new) starts empty, its old windows are dropped (`dropped` names them); the
    /// others resume. Each plugin restores its own section (or starts fresh without one).
    public static func decode(_ bytes: [UInt8], partition: Int, profiles: [ProfileDefinition], plugins: [any StreamPlugin] = [],
                              context: String, dropped: inout [String], report: (String) -> Void = { _ in }) throws(StreamError) -> PartitionState {
        var state = PartitionState(partition: partition, profiles: profiles, plugins: plugins)
        guard bytes.count >= magic.count, Array(bytes[0..<magic.count]) == magic else {
            throw StreamError(.corruptState, "\(context): not a Vigil stream checkpoint")
        }
        let result: Result<Void, StreamError> = bytes.withUnsafeBytes { raw in
            var r = StateReader(UnsafeRawBufferPointer(rebasing: raw[magic.count...]), context: context)
            do throws(StreamError) {
                let version = try r.varint()
                guard version == 1 || version == 2 else { throw r.corrupt("unknown format version") }
                guard try r.varint() == UInt64(partition) else { throw r.corrupt("checkpoint of another partition") }
                state.offset = try r.int()
                guard state.offset >= 0 else { throw r.corrupt("negative offset") }
                if version == 1 {
                    state.outputOffsets[0] = try r.int()
                } else {
                    let n = try r.count()
                    for k in 0..<n {
                        let o = try r.int()
                        // Outputs are profiles first, then plugins in order; unknown ones are ignored.
                        if k < state.outputOffsets.count { state.outputOffsets[k] = o }
                    }
                }
                guard state.outputOffsets.allSatisfy({ $0 >= 0 }) else { throw r.corrupt("negative offset") }
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
                if version == 2 {
                    let m = try r.count()
                    for _ in 0..<m {
                        let name = try r.string()
                        let blob = try r.bytes()
                        guard let i = plugins.firstIndex(where: { $0.name == name }) else { continue }
                        var inner = StateReader(blob, context: context)
                        state.plugins[i] = try plugins[i].restoreState(partition: partition, from: &inner, report: report)
                    }
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
