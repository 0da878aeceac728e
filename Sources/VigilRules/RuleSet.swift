import Foundation
import VigilYAML

/// The rules of a directory: every `*.yaml` file directly in it (Vigil rule files, docs/rules.md),
/// in name order. Sigma rules (`*.yml` under `sigma/`) are loaded by the Sigma loader.
public enum RuleDirectory {
    /// Loads and compiles every rule file; the first mistake is an error naming its
    /// file:line:column. Rule ids must be unique across files.
    public static func load(_ directory: String, lists: (any RuleLists)? = nil) throws -> [CompiledRule] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        var compiled: [CompiledRule] = []
        var where_: [String: Origin] = [:]
        for name in names.sorted() where name.hasSuffix(".yaml") && !name.hasPrefix(".") {
            let path = directory.hasSuffix("/") ? directory + name : directory + "/" + name
            for rule in try RuleFile.load(path: path) {
                if let other = where_[rule.id] {
                    throw RuleError("a second rule with id \(rule.id) (the first is at \(other))", at: rule.origin)
                }
                where_[rule.id] = rule.origin
                compiled.append(try CompiledRule(rule, lists: lists))
            }
        }
        return compiled
    }
}
