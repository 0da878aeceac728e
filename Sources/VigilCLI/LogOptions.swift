import ArgumentParser
import VigilPipeline

extension LogFormat: ExpressibleByArgument {}
extension LogLevel: ExpressibleByArgument {}

/// `--log-format` and `--log-level` of the long-running commands (they override `log.format` and
/// `log.level` of the configuration).
struct LogOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Log record format: logfmt or json (default: log.format of the configuration).", valueName: "FORMAT"))
    var logFormat: LogFormat?

    @Option(help: ArgumentHelp("Minimum level logged: trace, debug, info, notice, warning, error, critical (default: log.level).", valueName: "LEVEL"))
    var logLevel: LogLevel?

    /// Bootstraps swift-log for this process and returns the command's logger.
    func logger(_ configuration: VigilConfiguration, label: String) -> VigilLogger {
        VigilLogger(format: logFormat ?? configuration.logFormat, level: logLevel ?? configuration.logLevel, label: label)
    }
}
