import Foundation
import Testing
import VigilRules
import VigilTestSupport

/// Loads every SigmaHQ rule under ../shared/data/sigma with the repository's mapping.
@Suite struct SigmaCorpusTests {
    @Test func everySigmaHQRuleCompilesOrIsReportedWithANamedConstruct() throws {
        guard let data = sharedDataDirectory() else {
            print("skipped SigmaHQ corpus: ../shared/data is absent")
            return
        }
        let mapping = try SigmaFieldMapping.load(path: repositoryRoot() + "/" + SigmaFieldMapping.defaultPath)
        let loader = SigmaLoader(mapping: mapping)
        let directories = ["rules", "rules-emerging-threats", "rules-threat-hunting"].map { data + "/sigma/" + $0 }
            .filter { FileManager.default.fileExists(atPath: $0) }
        guard !directories.isEmpty else {
            print("skipped SigmaHQ corpus: no sigma/rules* directory in \(data)")
            return
        }
        var files: [String] = []
        for directory in directories {
            for case let relative as String in FileManager.default.enumerator(atPath: directory)?.allObjects ?? []
            where relative.hasSuffix(".yml") {
                files.append(directory + "/" + relative)
            }
        }
        let result = loader.load(files: files.sorted())
        #expect(result.files == files.count)
        #expect(result.errors.isEmpty, "\(result.errors.prefix(10).map(\.description).joined(separator: "\n"))")
        let compiledFiles = Set(result.rules.map(\.origin.file))
        let reportedFiles = Set(result.unsupported.map(\.origin.file))
        for file in files {
            #expect(compiledFiles.contains(file) != reportedFiles.contains(file), "\(file): compiled or reported, exactly one")
        }
        #expect(result.unsupported.allSatisfy { !$0.construct.isEmpty && !$0.detail.isEmpty })
        let unsupportedRules = result.unsupportedRuleIDs.count
        print("Sigma corpus: \(files.count) files, \(result.rules.count) rules supported, \(unsupportedRules) unsupported, \(result.errors.count) errors")
        for (construct, rules) in result.unsupportedRulesByConstruct() {
            print("  \(rules)\t\(construct)")
        }
        #expect(result.rules.count + unsupportedRules == files.count)
    }
}
