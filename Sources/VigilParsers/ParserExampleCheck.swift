import VigilCore

/// Checks a parser's example: the expected fields (compared as text) or the expected failure.
public enum ParserExampleCheck {
    /// Problems found; empty when the example passes.
    public static func check(_ example: ParserExample, parser: CompiledParser, context: ParseContext) -> [String] {
        do {
            let event = try parser.parse(example.line, context: context)
            if let expected = example.error { return ["expected a failure containing '\(expected)', but the line parsed"] }
            var problems: [String] = []
            for (key, want) in example.fields {
                let got = event[key]?.plainText ?? "(missing)"
                if got != want { problems.append("\(key): expected \(want), got \(got)") }
            }
            return problems
        } catch {
            guard let expected = example.error else { return ["rejected: \(error.reason)"] }
            return error.reason.contains(expected) ? [] : ["failure '\(error.reason)' does not contain '\(expected)'"]
        }
    }
}
