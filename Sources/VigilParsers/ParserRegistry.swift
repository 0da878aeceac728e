import Foundation
import VigilCore
import VigilYAML

/// What a parser type's builder gets: its `options:` mapping and ways to refer to other parsers
/// and to the grok pattern library.
public struct ParserBuildContext {
    /// The parser's name.
    public let name: String
    /// The `options:` node, or nil when absent.
    public let options: YAMLValue?
    /// The parser's whole definition node (for errors about the definition).
    public let definition: YAMLValue
    /// The directory holding the parser files (`parsers/`).
    public let directory: String
    let registry: ParserRegistry.Loader

    /// A reference to another parser by name, checked once all files are loaded; `node` is where
    /// the name was written, for the error when no such parser exists.
    public func reference(_ name: String, at node: YAMLValue) -> ParserReference {
        registry.reference(name, at: node, from: self.name)
    }

    /// The grok pattern library loaded from `parsers/patterns/` (loaded once, on first use).
    public func patterns() throws(YAMLError) -> GrokPatternLibrary {
        try registry.patterns()
    }

    /// The options mapping, validating its keys; an empty mapping when `options:` is absent.
    public func options(allowedKeys: [String]) throws(YAMLError) -> YAMLMapping? {
        guard let options else { return nil }
        return try options.mapping(allowedKeys: allowedKeys)
    }
}

/// Builds a `LineParser` of one type from its configuration.
public typealias ParserBuilder = @Sendable (ParserBuildContext) throws(YAMLError) -> any LineParser

/// Every parser defined in a `parsers/` directory, compiled once at load.
///
/// A parser file (`parsers/NAME.yaml`) holds one parser:
/// ```yaml
/// name: sshd                 # default: the file name without .yaml
/// type: sshd                 # a parser type (ParserTypes.builders)
/// description: OpenSSH server messages
/// options: { … }             # type-specific
/// on_failure: reject         # reject (default): the line goes to the errors topic; keep: keep it, note the error
/// post: [ … ]                # PostStep list
/// examples:                  # run by `vigil parsers test`
///   - line: "Accepted password for root from 10.0.0.1 port 22 ssh2"
///     fields: { user.name: root, source.ip: 10.0.0.1 }
///   - line: "garbage"
///     error: "no sshd message"
/// ```
public final class ParserRegistry: Sendable {
    public let parsers: [String: CompiledParser]
    public let directory: String

    init(parsers: [String: CompiledParser], directory: String) {
        self.parsers = parsers
        self.directory = directory
    }

    public var names: [String] { parsers.keys.sorted() }

    public func parser(named name: String) -> CompiledParser? { parsers[name] }

    /// A parser by name, or an error listing the known names (with a suggestion).
    public func require(_ name: String) throws(ParseFailure) -> CompiledParser {
        if let p = parsers[name] { return p }
        let hint = Suggestion.closest(to: name, in: names).map { " (did you mean '\($0)'?)" } ?? ""
        throw ParseFailure("no parser named '\(name)' in \(directory)\(hint); known: \(names.joined(separator: ", "))")
    }

    /// Loads every `*.yaml`/`*.yml` file directly in `directory` (not `patterns/`).
    public static func load(directory: String) throws(YAMLError) -> ParserRegistry {
        let files: [String]
        do {
            files = try FileManager.default.contentsOfDirectory(atPath: directory)
                .filter { $0.hasSuffix(".yaml") || $0.hasSuffix(".yml") }.sorted()
        } catch {
            throw YAMLError(file: directory, line: 0, column: 0, message: "cannot read the parsers directory", code: .unreadable)
        }
        let loader = Loader(directory: directory)
        for file in files { try loader.load(file: "\(directory)/\(file)") }
        return try loader.finish()
    }

    /// Loads parser definitions from YAML texts (tests, tools): `(file name, text)` pairs.
    public static func load(texts: [(String, String)], directory: String = "parsers") throws(YAMLError) -> ParserRegistry {
        let loader = Loader(directory: directory)
        for (file, text) in texts { try loader.load(text: text, file: file) }
        return try loader.finish()
    }

    /// Loading state: definitions read so far and references waiting for their targets.
    final class Loader {
        let directory: String
        var compiled: [String: CompiledParser] = [:]
        var origins: [String: String] = [:]
        var references: [(ParserReference, YAMLValue, String)] = []
        var library: GrokPatternLibrary?

        init(directory: String) { self.directory = directory }

        func reference(_ name: String, at node: YAMLValue, from: String) -> ParserReference {
            let r = ParserReference(name: name)
            references.append((r, node, from))
            return r
        }

        func patterns() throws(YAMLError) -> GrokPatternLibrary {
            if let library { return library }
            let loaded = try GrokPatternLibrary.load(directory: "\(directory)/patterns")
            library = loaded
            return loaded
        }

        func load(file: String) throws(YAMLError) {
            try load(root: YAMLValue.load(path: file), file: file)
        }

        func load(text: String, file: String) throws(YAMLError) {
            try load(root: YAMLValue.parse(yaml: text, file: file), file: file)
        }

        private func load(root: YAMLValue, file: String) throws(YAMLError) {
            let m = try root.mapping(allowedKeys: ["name", "type", "description", "options", "on_failure", "post", "examples"])
            let defaultName = ((file as NSString).lastPathComponent as NSString).deletingPathExtension
            let name = try m.optional("name")?.string() ?? defaultName
            if let previous = origins[name] {
                throw (m["name"] ?? root).error("a parser named '\(name)' is already defined at \(previous)")
            }
            let typeNode = try m.required("type")
            let type = try typeNode.string()
            guard let builder = ParserTypes.builders[type] else {
                let known = ParserTypes.builders.keys.sorted()
                let hint = Suggestion.closest(to: type, in: known).map { " (did you mean '\($0)'?)" } ?? ""
                throw typeNode.error("unknown parser type '\(type)'\(hint); known: \(known.joined(separator: ", "))")
            }
            let context = ParserBuildContext(name: name, options: m.optional("options"), definition: root, directory: directory, registry: self)
            let base = try builder(context)
            var post: [PostStep] = []
            if let steps = m.optional("post") { for step in try steps.sequence() { post.append(try PostStep.load(step)) } }
            var examples: [ParserExample] = []
            if let list = m.optional("examples") {
                for item in try list.sequence() {
                    let e = try item.mapping(allowedKeys: ["line", "fields", "error"])
                    var fields: [(String, String)] = []
                    if let f = e.optional("fields") {
                        for entry in try f.mapping().entries {
                            fields.append((entry.key, entry.value.isNull ? "null" : try Self.text(entry.value)))
                        }
                    }
                    examples.append(ParserExample(line: try e.required("line").string(), fields: fields,
                                                  error: try e.optional("error")?.string(), origin: "\(file):\(item.line):\(item.column)"))
                }
            }
            let origin = "\(file):\(root.line):\(root.column)"
            compiled[name] = CompiledParser(name: name, type: type, description: try m.optional("description")?.string() ?? "",
                                            base: base, post: post,
                                            onFailure: try m.optional("on_failure")?.oneOf(FailurePolicy.self) ?? .reject,
                                            examples: examples, origin: origin)
            origins[name] = origin
        }

        /// Expected values are compared as text: numbers and booleans as written, a YAML list as
        /// its JSON form.
        static func text(_ node: YAMLValue) throws(YAMLError) -> String {
            try PostStep.scalarValue(node).plainText
        }

        func finish() throws(YAMLError) -> ParserRegistry {
            for (reference, node, from) in references {
                guard let target = compiled[reference.name] else {
                    let hint = Suggestion.closest(to: reference.name, in: Array(compiled.keys)).map { " (did you mean '\($0)'?)" } ?? ""
                    throw node.error("parser '\(from)' refers to '\(reference.name)', which is not defined\(hint)")
                }
                reference.target = target
            }
            // A parser must not reach itself through sub-parsers.
            var graph: [String: [String]] = [:]
            for (reference, _, from) in references { graph[from, default: []].append(reference.name) }
            for (reference, node, from) in references {
                var stack = [reference.name], seen = Set<String>()
                while let n = stack.popLast() {
                    if n == from { throw node.error("parser '\(from)' reaches itself through '\(reference.name)'") }
                    if seen.insert(n).inserted { stack += graph[n, default: []] }
                }
            }
            return ParserRegistry(parsers: compiled, directory: directory)
        }
    }
}
