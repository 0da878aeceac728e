import ArgumentParser

@main
struct Vigil: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vigil",
        abstract: "A security event pipeline: sensors, broker, stream stage, alerts.",
        version: "0.1.0")
}
