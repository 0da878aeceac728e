import ArgumentParser
import Foundation
import VigilPipeline

struct StreamCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stream",
        abstract: "Run the stream stage alone: consume the events topic, run the profiles' windows, produce their results.",
        discussion: """
            The stream role of `vigil run`: workers join the configured consumer group, restore each \
            partition's checkpoint (windows and offsets together) and resume; results go to the profiles \
            topic (`vigil topics tail profiles`). Runs until SIGINT or SIGTERM; with --drain it stops once \
            the events topic is consumed to its end, after closing every window (for bounded replays: \
            later events would all be late).
            """)
    @Option(help: ArgumentHelp("The configuration file.", valueName: "FILE")) var config: String = "deploy/vigil.yaml"
    @Flag(help: "Stop when the input is consumed, closing every window.") var drain = false
    @Flag(help: "Print each processed event as a JSON line.") var print = false
    @OptionGroup var logging: LogOptions

    func run() throws {
        let configuration = try VigilConfiguration.load(path: config)
        let logger = logging.logger(configuration, label: "vigil.stream")
        installStopHandlers()
        let pipeline = Pipeline(configuration: configuration)
        // Events are encoded for printing only with --print.
        pipeline.printsEvents = print
        let out = OutputBuffer()
        let c = try pipeline.runStream(
            drain: drain,
            emit: { line in if print { out.append(line) } },
            flush: { out.flush() },
            report: logger.reporter,
            shouldStop: { stopRequested() })
        out.flush()
        logger.log(.notice, """
            vigil stream: \(c.eventsProcessed) events processed, \(c.resultsProduced) profile results produced\
            \(c.resultsDeduplicated > 0 ? " (\(c.resultsDeduplicated) repeated after a restart not produced again)" : ""), \
            \(c.lateRejected) late events to errors, \(c.recordsUndecodable) undecodable, \(c.statesRestored) partition states restored
            """)
    }
}
