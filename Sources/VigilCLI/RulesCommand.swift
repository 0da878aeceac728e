import ArgumentParser
import Foundation
import VigilPipeline
import VigilRules

struct RulesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rules",
        abstract: "Validate detection rules: Vigil rule files and Sigma rules.",
        subcommands: [Check.self, Test.self, Explain.self])

    struct Test: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the examples kept in the rule files, or dry-run the rules over a capture or a log file.",
            discussion: """
                Without --pcap or --logs, each rule's `examples:` (docs/rules.md) runs through that rule alone; exits 1 \
                when an example fails. With --pcap FILE… (the network sensor, as `vigil replay`) or --logs FILE… --parser \
                NAME (as `vigil parse`), the events go through the enrichments of --config (if given) and every rule \
                in-process, without the broker, the index or the data directory: the alerts are printed as JSON lines \
                (or a table with --format table) and a summary goes to stderr. Exits 1 when an input file or the parser \
                cannot be used.
                """)
        @Option(help: ArgumentHelp("The configuration file (rules.dir; for dry runs also enrichment.dir, parsers.dir, rules.triage).",
                                   valueName: "FILE"))
        var config: String?
        @Option(help: ArgumentHelp("The rules directory (instead of the configuration's rules.dir).", valueName: "DIR")) var rules: String?
        @OptionGroup var dryRun: DryRunOptions

        func validate() throws { try dryRun.validate() }

        func run() throws {
            if dryRun.isDryRun {
                try dryRun.run(config: config, rules: rules)
                return
            }
            let directory = try rules ?? VigilConfiguration.load(path: config ?? "deploy/vigil.yaml").rules.directory
            let compiled = try RuleDirectory.load(directory)
            let byID = Dictionary(compiled.map { ($0.rule.id, $0) }, uniquingKeysWith: { a, _ in a })
            var passed = 0, failed = 0
            let files = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".yaml") }.sorted()
            for file in files {
                for example in try RuleExample.load(path: directory + "/" + file) {
                    guard let rule = byID[example.rule] else { continue }  // disabled
                    let raised = example.run(rule)
                    if raised == example.expectedAlerts {
                        passed += 1
                    } else {
                        failed += 1
                        print("\(example.origin): \(example.rule): FAILED: expected \(example.expectedAlerts) alerts, raised \(raised)")
                    }
                }
            }
            print("rule examples: \(passed) passed, \(failed) failed (\(compiled.count) rules in \(directory))")
            if failed > 0 { throw ExitCode(1) }
        }
    }

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
                    total.skipped += r.skipped
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
                print("sigma: \(total.files) files, \(compiled) rules compiled, \(unsupported) need constructs Vigil cannot run, \(compileErrors.count) do not compile yet, \(total.errors.count) errors, \(total.skipped.count) files passed over (not rules)")
                for (construct, count) in total.unsupportedRulesByConstruct() { print("  \(count)\t\(construct)") }
                if verbose {
                    for u in total.unsupported { print("  \(u)") }
                    for e in compileErrors { print("  \(e)") }
                    for (origin, reason) in total.skipped { print("  \(origin): passed over: \(reason)") }
                }
                for e in total.errors { printError("\(e)") }
                if !total.errors.isEmpty { failed = true }
            }
            if failed { throw ExitCode(1) }
        }
    }
}
