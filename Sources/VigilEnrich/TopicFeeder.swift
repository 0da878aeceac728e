import VigilBroker
import VigilCore

/// Feeds changelog tables and indicator streams from topics of the embedded log: every
/// partition is read from its earliest offset, then tailed. A restart re-reads the topics from
/// the start and so rebuilds the same tables (the last value per key wins).
///
/// Not thread-safe: call ``poll(maxRecords:now:)`` from one maintenance thread (with
/// ``EnrichmentSet/reloadIfChanged(now:)``); enrichers see applied records once published.
public final class TopicFeeder {
    public let set: EnrichmentSet
    public let log: EmbeddedLog
    private var readers: [String: [PartitionReader]] = [:]
    /// Records read from the topics so far.
    public private(set) var recordsRead = 0
    /// Records rejected so far, and the last reasons (at most 16), as `topic/partition@offset: reason`.
    public private(set) var recordsRejected = 0
    public private(set) var recentRejections: [String] = []

    public init(set: EnrichmentSet, log: EmbeddedLog) {
        self.set = set
        self.log = log
    }

    /// Opens readers for topics that exist now (a topic created later is picked up by a later poll).
    private func openReaders() throws(EnrichmentError) {
        for topic in set.topics where readers[topic] == nil {
            let meta: TopicMetadata
            do { meta = try log.topic(topic) } catch {
                if error.code == .notFound { continue }
                throw EnrichmentError(.broker, file: log.dataDirectory, "topic \(topic): \(error)")
            }
            var list: [PartitionReader] = []
            for p in 0..<meta.partitions {
                do { list.append(try log.openReader(topic: topic, partition: p)) } catch {
                    throw EnrichmentError(.broker, file: log.dataDirectory, "topic \(topic) partition \(p): \(error)")
                }
            }
            readers[topic] = list
        }
    }

    /// Applies up to `maxRecords` records per partition that are available now and publishes
    /// them. Returns how many records were read.
    @discardableResult
    public func poll(maxRecords: Int = 10_000, now: Int64 = Timestamp.now().nanoseconds) throws(EnrichmentError) -> Int {
        try openReaders()
        var total = 0
        for (topic, list) in readers {
            for reader in list {
                do {
                    total += try reader.read(maxRecords: maxRecords) { record in
                        let reasons = set.apply(topic: topic, key: record.key, value: record.value, timestamp: record.timestamp, now: now)
                        if !reasons.isEmpty {
                            recordsRejected += 1
                            if recentRejections.count >= 16 { recentRejections.removeFirst() }
                            recentRejections.append("\(topic)/\(record.partition)@\(record.offset): \(reasons.joined(separator: "; "))")
                        }
                    }
                } catch {
                    throw EnrichmentError(.broker, file: reader.directory, "reading \(topic)/\(reader.partition): \(error)")
                }
            }
        }
        recordsRead += total
        set.publish(now: now)
        return total
    }

    /// Polls until no partition has records left (catching up at start). Returns records read.
    @discardableResult
    public func catchUp(now: Int64 = Timestamp.now().nanoseconds) throws(EnrichmentError) -> Int {
        var total = 0
        while true {
            let n = try poll(maxRecords: 100_000, now: now)
            total += n
            if n == 0 { return total }
        }
    }
}
