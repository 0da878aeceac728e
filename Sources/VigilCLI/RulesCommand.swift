import ArgumentParser
import Foundation
import VigilPipeline
import VigilRules

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Validate detection rules: Vigil rule files and Sigma rules.",
        subcommands: [Check.self])

    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Load and compile every rule; report errors at file:line:column and Sigma constructs Vigil cannot run.",
            discussion: """
                Vigil rule files are the *.yaml files of the rules directory (docs/rules.md). Sigma rules \
                (*.yml) are read from --sigma directories with the field mapping of --mapping \
                (docs/sigma.md). Exits 1 when a rule file has an error; Sigma rules that need an unsupported \
                construct are listed (with --verbose) and counted, not errors.
                """)
        @Option(help: ArgumentHelp("The configuration file (for rules.dir).", valueName: "FILE")) var config: String = "deploy/vigil.yaml"
        @Option(help: ArgumentHelp("The rules directory (instead of the configuration's rules.dir).", valueName: "DIR")) var rules: String?
        @Option(help: ArgumentHelp("A directory of Sigma rules (repeat for several).", valueName: "DIR")) var sigma: [String] = []
        @Option(help: ArgumentHelp("The Sigma field mapping.", valueName: "FILE")) var mapping: String?
        @Flag(help: "List every unsupported Sigma rule with its constructs.") var verbose = false

        func run() throws {
            let directory: String
            if let rules {
                directory = rules
            } else {
                directory = try VigilConfiguration.load(path: config).rules.directory
            }
            var failed = false
            do {
                let compiled = try RuleDirectory.load(directory)
                print("\(directory): \(compiled.count) Vigil rules compiled")
            } catch {
                printError("\(error)")
                failed = true
            }
            if !sigma.isEmpty {
                let mappingPath = mapping ?? (directory + "/sigma/mapping.yaml")
                let fieldMapping: SigmaFieldMapping
                do { fieldMapping = try SigmaFieldMapping.load(path: mappingPath) } catch {
                    printError("\(error)")
                    throw ExitCode(1)
                }
                let loader = SigmaLoader(mapping: fieldMapping)
                var total = SigmaLoadResult()
                for dir in sigma {
                    let r = loader.load(directory: dir)
                    total.files += r.files
                    total.rules += r.rules
                    total.unsupported += r.unsupported
                    total.errors += r.errors
                }
                var compiled = 0
                var compileErrors: [String] = []
                for rule in total.rules where !total.unsupportedRuleIDs.contains(rule.id) {
                    do {
                        _ = try CompiledRule(rule)
                        compiled += 1
                    } catch {
                        compileErrors.append("\(error)")
                    }
                }
                let unsupported = Set(total.unsupportedRuleIDs).count
                print("sigma: \(total.files) files, \(compiled) rules compiled, \(unsupported) need constructs Vigil cannot run, \(compileErrors.count) do not compile yet, \(total.errors.count) errors")
                for (construct, count) in total.unsupportedRulesByConstruct() { print("  \(count)\t\(construct)") }
                if verbose {
                    for u in total.unsupported { print("  \(u)") }
                    for e in compileErrors { print("  \(e)") }
                }
                for e in total.errors { printError("\(e)") }
                if !total.errors.isEmpty { failed = true }
            }
            if failed { throw ExitCode(1) }
        }
    }
}
