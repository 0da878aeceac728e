import Foundation
import VigilBroker
import VigilCore
import VigilIndex
import VigilLogs

extension Pipeline {
    /// The alert index's settings from the configuration.
    public var alertIndexConfiguration: AlertIndexConfiguration {
        var c = AlertIndexConfiguration(path: configuration.index.path,
                                        retention: configuration.index.retention?.nanosecondsClamped,
                                        maxSize: configuration.index.maxSize)
        c.layout = AlertIndexLayout(rawValue: configuration.index.layout) ?? .rows
        return c
    }

    /// The HTTP API's settings from `index.http`, nil when `listen` is not set.
    public func alertAPIConfiguration() throws -> AlertAPIConfiguration? {
        guard let listen = configuration.index.httpListen else { return nil }
        let (host, port) = try AlertAPIConfiguration.parseListen(listen, filter: "index.http.listen")
        return AlertAPIConfiguration(host: host, port: port, token: configuration.index.httpToken)
    }

    /// The indexer's settings from the configuration.
    public var indexerConfiguration: IndexerConfiguration {
        var c = IndexerConfiguration()
        c.batchSize = configuration.index.batchSize
        c.dropsReadPages = configuration.index.dropReadPages
        return c
    }

    /// `vigil index`: the indexer alone, on the data directory's log or the Kafka cluster
    /// (another process runs the stream stage). With `drain`, it stops once the alerts topic is
    /// indexed to its end. Records that are not alerts go to the error topic.
    public func runIndexer(drain: Bool, report: @escaping @Sendable (String) -> Void,
                           shouldStop: @escaping @Sendable () -> Bool) throws -> Indexer.Counters {
        let broker = try openBroker()
        defer { broker.embeddedLog?.close() }
        // Its own error topic: the sensors of another process write `errors` (one writer per
        // partition), the stream stage `stream-errors`.
        _ = try broker.createTopic("index-errors", partitions: nil)
        let errorProducer = try broker.producer(topic: "index-errors")
        defer { try? errorProducer.close() }
        let errors = ErrorPublisher(producer: errorProducer, rejected: metrics.eventsRejected)
        let index = try AlertIndex(configuration: alertIndexConfiguration)
        defer { index.close() }
        let server = try startAPI(index: index, report: report)
        defer { server?.stop() }
        let counters = try runIndexer(broker: broker, index: index, errors: errors, stop: drain ? .drain : .whenAsked,
                                      report: report, inputFinished: { true }, shouldStop: shouldStop)
        try errors.flush()
        return counters
    }

    /// Serves the HTTP API when `index.http.listen` is set.
    func startAPI(index: AlertIndex, report: (String) -> Void) throws -> AlertAPIServer? {
        guard let api = try alertAPIConfiguration() else { return nil }
        let server = try AlertAPIServer(index: index, configuration: api)
        let port = try server.start()
        report("alert API: listening on http://\(api.host):\(port)/api/alerts\(api.token == nil ? "" : " (bearer token required)")")
        return server
    }

    func runIndexer(broker: any StageBroker, index: AlertIndex, errors: ErrorPublisher, stop: Indexer.Stop,
                    report: @escaping @Sendable (String) -> Void, inputFinished: () -> Bool,
                    shouldStop: () -> Bool) throws -> Indexer.Counters {
        let indexer = Indexer(
            broker: broker, index: index, configuration: indexerConfiguration,
            onReject: { reason, record in
                do {
                    try errors.reject(original: record.value, sensor: "index", parser: "index", reason: reason)
                } catch {
                    report("\(reason); the error topic refused it: \(error)")
                }
            },
            onReport: report)
        let stage = metrics.observables.stage("indexer")
        indexer.onCommit = { read, written in
            stage.input.add(read)
            stage.output.add(written)
        }
        return try indexer.run(stop: stop, inputFinished: inputFinished, shouldStop: shouldStop)
    }
}

/// The indexer of `vigil run`, on its own thread.
///
/// `@unchecked Sendable`: `result` and `finished` are guarded by `lock`; the indexer runs on its
/// thread alone.
final class IndexerThread: @unchecked Sendable {
    private let lock = NSCondition()
    private var result: Result<Indexer.Counters, Error>?
    private var inputDone = false

    init(pipeline: Pipeline, broker: any StageBroker, index: AlertIndex, errors: ErrorPublisher,
         report: @escaping @Sendable (String) -> Void, shouldStop: @escaping @Sendable () -> Bool) {
        let box = UncheckedBox((pipeline, broker, index, errors))
        let thread = Thread { [self] in
            nameCurrentThread("vigil-index")
            let (pipeline, broker, index, errors) = box.value
            let r = Result {
                try pipeline.runIndexer(broker: broker, index: index, errors: errors, stop: .drain, report: report,
                                        inputFinished: { self.lock.withLock { self.inputDone } }, shouldStop: shouldStop)
            }
            if case .failure(let error) = r { report("indexer stopped: \(error)") }
            lock.withLock {
                result = r
                lock.broadcast()
            }
        }
        thread.name = "vigil-index"
        thread.start()
    }

    /// Says that no more alerts will come (the stream stage ended): the indexer drains and stops.
    func inputFinished() { lock.withLock { inputDone = true } }

    /// Waits for the indexer to stop.
    func wait() throws -> Indexer.Counters {
        lock.lock()
        defer { lock.unlock() }
        while result == nil { lock.wait() }
        return try result!.get()
    }
}
