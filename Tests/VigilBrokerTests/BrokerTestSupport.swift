import VigilBroker
import VigilTestSupport

/// Reads every record of a partition as (offset, timestamp, key, value).
func readAll(_ reader: PartitionReader, max: Int = .max) throws -> [(offset: Int64, timestamp: Int64, key: [UInt8]?, value: [UInt8])] {
    var out: [(Int64, Int64, [UInt8]?, [UInt8])] = []
    while out.count < max {
        let n = try reader.read(maxRecords: min(10_000, max - out.count)) { r in
            out.append((r.offset, r.timestamp, r.key.map { Array($0) }, Array(r.value)))
        }
        if n == 0 { break }
    }
    return out.map { (offset: $0.0, timestamp: $0.1, key: $0.2, value: $0.3) }
}

func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }

func config(_ body: (inout LogConfiguration) -> Void = { _ in }) -> LogConfiguration {
    var c = LogConfiguration()
    c.fsync = .never
    c.retentionAgeNanoseconds = nil
    body(&c)
    return c
}
