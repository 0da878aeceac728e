// Appends `total` keyed records numbered 0..<total to a topic, acknowledging every `batch`:
// after each acknowledged flush it prints "ACK <n>" meaning records 0...n are durable.
// On start it resumes like an idempotent producer: each partition's last record tells which
// sequence numbers that partition already holds, so a restart neither loses nor repeats one.
//
// usage: VigilCrashWriter DATA_DIR TOPIC PARTITIONS TOTAL BATCH
import Foundation
import VigilBroker

/// Writes a line straight to fd 1, so it is out of the process before the next record.
func say(_ line: String) {
    let bytes = Array((line + "\n").utf8)
    _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
}
let args = CommandLine.arguments
guard args.count == 6, let partitions = Int(args[3]), let total = Int(args[4]), let batch = Int(args[5]) else {
    FileHandle.standardError.write(Data("usage: VigilCrashWriter DATA_DIR TOPIC PARTITIONS TOTAL BATCH\n".utf8))
    exit(2)
}

/// The key of record `i`; the same function is used by the test to check placement.
func key(_ i: Int) -> [UInt8] { Array("key-\(i % 1009)".utf8) }

do {
    var config = LogConfiguration()
    config.fsync = .interval(milliseconds: 5)
    config.segmentBytes = 4 << 20
    config.retentionAgeNanoseconds = nil
    let log = try EmbeddedLog(dataDirectory: args[1], configuration: config)
    try log.createTopic(args[2], partitions: partitions)
    let producer = try log.producer(topic: args[2])
    for r in producer.recoveries { FileHandle.standardError.write(Data("\(r.description)\n".utf8)) }
    var last = Array(repeating: -1, count: partitions)
    for p in 0..<partitions {
        let reader = try log.openReader(topic: args[2], partition: p)
        let end = try reader.endOffset()
        if end > 0 {
            try reader.seek(.offset(end - 1))
            try reader.read(maxRecords: 1) { r in last[p] = Int(r.value.loadUnaligned(as: UInt64.self)) }
        }
    }
    let start = (last.min() ?? -1) + 1
    say("READY \(start)")
    var value = [UInt8](repeating: 0x2E, count: 100)
    for i in start..<total {
        let k = key(i)
        let p = Partitioner.partition(for: k, count: partitions)
        if i > last[p] {
            value.withUnsafeMutableBytes { $0.storeBytes(of: UInt64(i), as: UInt64.self) }
            try producer.send(key: k, value: value, timestamp: Int64(i))
        }
        if (i + 1) % batch == 0 {
            try producer.flush()
            say("ACK \(i)")
        }
    }
    try producer.close()
    say("ACK \(total - 1)")
    say("DONE")
} catch {
    FileHandle.standardError.write(Data("VigilCrashWriter: \(error)\n".utf8))
    exit(1)
}
