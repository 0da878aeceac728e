import Yams

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension YAMLValue {
    /// Parses `yaml` as a single YAML document and returns its root.
    ///
    /// Syntax errors from libyaml (through Yams) become ``YAMLError``s with code `.syntax` at the
    /// position libyaml reports; a key that appears twice in one mapping is reported at its second
    /// occurrence; text with no document (empty, or only comments) is an `.empty` error at 1:1.
    /// - Parameter file: The name used in errors; it is not opened.
    public static func parse(yaml: String, file: String) throws(YAMLError) -> YAMLValue {
        let root: Node?
        do {
            root = try Yams.compose(yaml: yaml, resolver, .default, .utf8)
        } catch {
            throw SyntaxErrors.convert(error, yaml: yaml, file: file)
        }
        guard let root else {
            throw YAMLError(file: file, line: 1, column: 1,
                            message: "the file is empty (expected a YAML document)", code: .empty)
        }
        return YAMLValue(node: root, file: file)
    }

    /// Parses `yaml` as a stream of YAML documents separated by `---` (Sigma rule collections,
    /// correlation rules next to the rules they use) and returns their roots in order.
    ///
    /// Errors are those of ``parse(yaml:file:)``; a stream with no document returns `[]`.
    public static func parseAll(yaml: String, file: String) throws(YAMLError) -> [YAMLValue] {
        var roots: [YAMLValue] = []
        do {
            let parser = try Parser(yaml: yaml, resolver: resolver, constructor: .default, encoding: .utf8)
            while let root = try parser.nextRoot() { roots.append(YAMLValue(node: root, file: file)) }
        } catch {
            throw SyntaxErrors.convert(error, yaml: yaml, file: file)
        }
        return roots
    }

    /// Reads the UTF-8 file at `path` and parses every document in it with ``parseAll(yaml:file:)``.
    public static func loadAll(path: String) throws(YAMLError) -> [YAMLValue] {
        try parseAll(yaml: readFile(path), file: path)
    }

    /// Reads the UTF-8 file at `path` and parses it with ``parse(yaml:file:)``, using `path` as the
    /// file name in errors.
    ///
    /// A file that cannot be read throws `.unreadable` with line 0, described as
    /// `PATH: cannot read file: No such file or directory`.
    public static func load(path: String) throws(YAMLError) -> YAMLValue {
        try parse(yaml: readFile(path), file: path)
    }

    static func readFile(_ path: String) throws(YAMLError) -> String {
        func failure(_ code: Int32) -> YAMLError {
            YAMLError(file: path, line: 0, column: 0,
                      message: "cannot read file: \(String(cString: strerror(code)))", code: .unreadable)
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(errno) }
        defer { close(descriptor) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 {
                let code = errno
                if code == EINTR { continue }
                throw failure(code)
            }
            if count == 0 { break }
            bytes.append(contentsOf: chunk[..<count])
        }
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw YAMLError(file: path, line: 0, column: 0, message: "the file is not valid UTF-8", code: .unreadable)
        }
        return text
    }
}

/// Turns Yams' `YamlError` into a positioned ``YAMLError``.
enum SyntaxErrors {
    static func convert(_ error: any Error, yaml: String, file: String) -> YAMLError {
        func syntax(_ line: Int, _ column: Int, _ message: String) -> YAMLError {
            YAMLError(file: file, line: line, column: column, message: message, code: .syntax)
        }
        guard let error = error as? YamlError else {
            return syntax(0, 0, "cannot parse YAML: \(error)")
        }
        switch error {
        case .scanner(let context, let problem, let mark, _),
             .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            if context?.text == "expected a single document in the stream" {
                return syntax(mark.line, mark.column, "expected a single YAML document, found a second one")
            }
            var message = "YAML syntax error: \(problem)"
            if let context {
                message += " (\(context.text) at \(context.mark.line):\(context.mark.column))"
            }
            return syntax(mark.line, mark.column, message)
        case .reader(let problem, let offset, _, _):
            let (line, column) = offset.map { position(ofCharacterOffset: $0, in: yaml) } ?? (0, 0)
            return syntax(line, column, "invalid YAML input: \(problem)")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return duplicateKey(duplicates.first ?? "", firstAt: context.mark, yaml: yaml, file: file)
        default:
            return syntax(0, 0, "cannot parse YAML: \(error)")
        }
    }

    /// 1-based line and column (in Unicode scalars) of the character at `offset`.
    static func position(ofCharacterOffset offset: Int, in text: String) -> (line: Int, column: Int) {
        var line = 1, column = 1
        for character in text.prefix(offset) {
            if character.isNewline {
                line += 1
                column = 1
            } else {
                column += character.unicodeScalars.count
            }
        }
        return (line, column)
    }

    /// Yams reports a duplicated key at its *first* occurrence and without the mapping's path. To
    /// point at the second occurrence, where the mistake usually is, rename the first occurrence and
    /// parse again, then find the renamed key's mapping. If that fails (a third occurrence, another
    /// duplicate elsewhere, a key written as an alias), report the first occurrence.
    static func duplicateKey(_ key: String, firstAt first: Mark, yaml: String, file: String) -> YAMLError {
        let fallback = YAMLError(file: file, line: first.line, column: first.column,
                                 message: "duplicate key '\(key)' (this is its first occurrence)", code: .duplicateKey)
        let marker = "vigil-renamed-first-occurrence-"
        guard let renamed = insert(marker, into: yaml, at: first),
              let root = try? Yams.compose(yaml: renamed, YAMLValue.resolver, .default, .utf8),
              let found = find(key: key, renamedTo: marker + key, in: YAMLValue(node: root, file: file))
        else { return fallback }
        var column = found.second.column
        if found.second.line == first.line && column > first.column { column -= marker.unicodeScalars.count }
        return YAMLError(file: file, line: found.second.line, column: column,
                         message: "duplicate key '\(key)' \(found.mapping.location) (first defined at \(first))",
                         code: .duplicateKey)
    }

    /// Inserts `marker` at the start of the scalar at `mark` (after its opening quote, if quoted).
    private static func insert(_ marker: String, into text: String, at mark: Mark) -> String? {
        var scalars = Array(text.unicodeScalars)
        var line = 1, column = 1, index = 0
        while index < scalars.count, (line, column) != (mark.line, mark.column) {
            if scalars[index] == "\n" {
                line += 1
                column = 1
            } else {
                column += 1
            }
            index += 1
        }
        guard index < scalars.count else { return nil }
        if scalars[index] == "\"" || scalars[index] == "'" { index += 1 }
        scalars.insert(contentsOf: marker.unicodeScalars, at: index)
        var result = String.UnicodeScalarView()
        result.append(contentsOf: scalars)
        return String(result)
    }

    private static func find(key: String, renamedTo renamed: String, in value: YAMLValue)
        -> (mapping: YAMLValue, second: Mark)?
    {
        switch value.node {
        case .mapping(let mapping):
            if mapping.keys.contains(where: { $0.scalar?.string == renamed }),
               let second = mapping.keys.first(where: { $0.scalar?.string == key })?.mark {
                return (value, second)
            }
            for (keyNode, child) in mapping {
                if let found = find(key: key, renamedTo: renamed,
                                    in: value.child(key: keyNode.scalar?.string ?? "?", node: child)) {
                    return found
                }
            }
            return nil
        case .sequence(let sequence):
            for (index, child) in sequence.enumerated() {
                if let found = find(key: key, renamedTo: renamed, in: value.element(index, node: child)) {
                    return found
                }
            }
            return nil
        case .scalar, .alias:
            return nil
        }
    }
}
