import ArgumentParser
import Foundation
import VigilPipeline

struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the pipeline named by a configuration file.",
        discussion: """
            Sensors produce into the broker (the embedded log, or Kafka with broker.type kafka); the stream \
            stage consumes the events topic as the configured consumer group and prints each event as a JSON \
            line; the indexer puts the rules' alerts into the alert index (`vigil alerts`; index.enabled). \
            --role runs one stage per process: sensor, stream (several stream processes share the work) or \
            indexer, on one host sharing data_dir or on several hosts through Kafka (docs/kafka.md). Without \
            following sensors the run ends when every input is consumed; otherwise (and always for the \
            stream and indexer roles) on SIGINT or SIGTERM. Progress, errors and a final summary are log \
            records on stderr (--log-format logfmt|json); /metrics is served at metrics.listen \
            (docs/observability.md).
            """)
    @Option(help: ArgumentHelp("The configuration file.", valueName: "FILE")) var config: String = "deploy/vigil.yaml"
    @Option(help: ArgumentHelp("The stages this process runs: all, sensor, stream or indexer.", valueName: "ROLE"))
    var role: PipelineRole = .all
    @Flag(help: "Do not print events (only the summary).") var quiet = false
    @OptionGroup var logging: LogOptions

    func run() throws {
        let configuration = try VigilConfiguration.load(path: config)
        let logger = logging.logger(configuration, label: "vigil.run")
        installStopHandlers()
        let pipeline = Pipeline(configuration: configuration)
        pipeline.printsEvents = !quiet
        let out = OutputBuffer()
        let summary = try pipeline.run(
            role: role,
            emit: { line in if !quiet { out.append(line) } },
            flush: { out.flush() },
            report: logger.reporter,
            shouldStop: { stopRequested() })
        out.flush()
        logger.log(.notice, """
            vigil run\(role == .all ? "" : " --role \(role.rawValue)"): \(summary.linesRead) lines read, \(summary.eventsProduced) events produced, \
            \(summary.eventsRejected) rejected to errors, \(summary.eventsConsumed) events consumed\
            \(summary.recordsUndecodable > 0 ? ", \(summary.recordsUndecodable) undecodable records" : "")\
            \(summary.index.map { ", \($0.inserted) alerts indexed (\($0.updated) updated)" } ?? "") \
            (data: \(configuration.dataDirectory))
            """, ["lines_read": "\(summary.linesRead)", "events_produced": "\(summary.eventsProduced)",
                          "events_rejected": "\(summary.eventsRejected)", "events_consumed": "\(summary.eventsConsumed)",
                          "records_undecodable": "\(summary.recordsUndecodable)"])
    }
}

extension PipelineRole: ExpressibleByArgument {}
