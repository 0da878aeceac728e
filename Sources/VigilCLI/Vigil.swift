import ArgumentParser
import VigilCore

@main
struct Vigil: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "A security event pipeline: sensors, a partitioned broker, a stream stage, alerts.",
        discussion: """
            Start with `vigil run --config deploy/vigil.yaml`. Every command takes --help.
            """,
        version: VigilVersion.string,
        subcommands: [RunCommand.self, IngestCommand.self, ParseCommand.self, ParsersCommand.self, ReplayCommand.self,
                      CaptureCommand.self, StreamCommand.self, StatusCommand.self, EnrichCommand.self, RulesCommand.self,
                      IndexCommand.self, AlertsCommand.self, TopicsCommand.self, BenchCommand.self])

    static func main() {
        MemoryTuning.keepFreedMemory()
        main(nil)
    }
}

enum VigilVersion {
    static let string = "0.1.0"
}
