import ArgumentParser
import Foundation
import VigilBroker
import VigilCore
import VigilPipeline

extension TopicsCommand {
    struct Tail: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a topic's records as JSON lines, optionally following new ones or consuming as a group member.",
            discussion: """
                Each line: {"topic","partition","offset","timestamp","key","value"}; event values are \
                printed as their JSON object. With --group the command is a member of that consumer group: \
                members share the partitions and commit their offsets after printing each batch. With a \
                --config whose broker.type is kafka it reads the Kafka topic from --from (earliest or an \
                offset) to its current end, partition by partition.
                """)
        @OptionGroup var data: DataOptions
        @Argument(help: "The topic.") var topic: String
        @Option(help: "Only this partition.") var partition: Int?
        @Option(help: "Start: earliest, latest, an offset, a time (RFC 3339) or an age (15m).") var from: String = "earliest"
        @Option(name: [.short, .customLong("limit")], help: "Stop after this many records.") var limit: Int?
        @Flag(name: [.short, .long], help: "Keep waiting for new records.") var follow = false
        @Option(help: "Consume as a member of this consumer group (committing offsets).") var group: String?

        func validate() throws {
            if group != nil && partition != nil { throw ValidationError("--group and --partition exclude each other: a group assigns partitions") }
            if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
            _ = try parseStartPosition(from)
        }

        func run() throws {
            if let config = try data.configuration(), config.broker.kind == .kafka { return try runOnKafka(config) }
            let log = try data.openExisting()
            let meta = try log.topic(topic)
            let start = try parseStartPosition(from)
            var remaining = limit ?? .max
            let out = OutputBuffer()
            installStopHandlers()
            if let group {
                let consumer = try GroupConsumer(log: log, group: group, topics: [topic],
                                                 resetPosition: start == .latest ? .latest : .earliest)
                defer { try? consumer.close() }
                while remaining > 0 && !stopRequested() {
                    let n = try consumer.poll(maxRecords: min(remaining, 1000)) { t, r in out.append(renderRecord(topic: t, r)) }
                    out.flush()
                    try consumer.commit()
                    remaining -= n
                    if n == 0 {
                        if !follow { break }
                        usleep(20_000)
                    }
                }
                return
            }
            var readers: [PartitionReader] = []
            for p in partition.map({ [$0] }) ?? Array(0..<meta.partitions) {
                let reader = try log.openReader(topic: topic, partition: p)
                try reader.seek(start)
                readers.append(reader)
            }
            while remaining > 0 && !stopRequested() {
                var got = 0
                for reader in readers where remaining > 0 {
                    let n = try reader.read(maxRecords: min(remaining, 1000)) { r in out.append(renderRecord(topic: topic, r)) }
                    remaining -= n
                    got += n
                }
                out.flush()
                if got == 0 {
                    if !follow { break }
                    usleep(50_000)
                }
            }
        }

        /// Reads the Kafka topic of `config` from the start position to its end.
        func runOnKafka(_ config: VigilConfiguration) throws {
            guard group == nil, !follow else {
                throw ValidationError("on Kafka, topics tail reads a topic to its current end: --group and --follow need the embedded broker (use Kafka's consumer tools)")
            }
            let first: Int64
            switch try parseStartPosition(from) {
            case .earliest: first = 0
            case .offset(let o): first = o
            default: throw ValidationError("on Kafka, --from is earliest or an offset")
            }
            let broker = try Pipeline(configuration: config).openBroker(createTopics: false)
            guard let meta = try broker.describeTopic(topic) else { throw ValidationError("Kafka has no topic named \(topic)") }
            var remaining = limit ?? .max
            let out = OutputBuffer()
            for p in partition.map({ [$0] }) ?? Array(0..<meta.partitions) where remaining > 0 {
                try broker.readRange(topic: topic, partition: p, from: first) { r in
                    guard remaining > 0 else { return }
                    out.append(renderRecord(topic: topic, r))
                    remaining -= 1
                }
                out.flush()
            }
        }
    }
}

/// Lines collected and written to stdout in one call.
final class OutputBuffer {
    private var bytes: [UInt8] = []
    func append(_ line: String) {
        bytes.append(contentsOf: line.utf8)
        bytes.append(0x0A)
        if bytes.count > 1 << 16 { flush() }
    }
    func flush() {
        guard !bytes.isEmpty else { return }
        bytes.withUnsafeBytes { b in
            var done = 0
            while done < b.count {
                let n = write(1, b.baseAddress! + done, b.count - done)
                if n <= 0 { if errno == EINTR { continue }; exit(errno == EPIPE ? 0 : 1) }
                done += n
            }
        }
        bytes.removeAll(keepingCapacity: true)
    }
}

nonisolated(unsafe) private var stopFlag: sig_atomic_t = 0

/// SIGINT/SIGTERM set a flag that loops check, so they finish their batch and commit.
func installStopHandlers() {
    // A parent may have spawned us with these blocked (Foundation's Process inherits its thread's mask).
    var set = sigset_t()
    sigemptyset(&set)
    sigaddset(&set, SIGINT)
    sigaddset(&set, SIGTERM)
    sigprocmask(SIG_UNBLOCK, &set, nil)
    signal(SIGPIPE, SIG_IGN)
    signal(SIGINT) { _ in stopFlag = 1 }
    signal(SIGTERM) { _ in stopFlag = 1 }
}

func stopRequested() -> Bool { stopFlag != 0 }

/// A record as one JSON line.
func renderRecord(topic: String, _ r: RecordView) -> String {
    let key = r.key.map { jsonString(String(decoding: $0, as: UTF8.self)) } ?? "null"
    return #"{"topic":\#(jsonString(topic)),"partition":\#(r.partition),"offset":\#(r.offset),"timestamp":"\#(Timestamp(nanoseconds: r.timestamp).rfc3339)","key":\#(key),"value":\#(renderValue(r.value))}"#
}

/// An event value as its JSON object; anything else as a JSON string (lossy for non-UTF-8 bytes).
func renderValue(_ value: UnsafeRawBufferPointer) -> String {
    if value.first == EventBinaryCodec.formatVersion, let event = try? EventBinaryCodec.decode(value) {
        return EventJSON.encodeString(event)
    }
    return jsonString(String(decoding: value, as: UTF8.self))
}
