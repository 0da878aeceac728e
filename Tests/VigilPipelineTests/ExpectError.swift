import Testing
import VigilYAML

/// Runs `body` and expects it to throw a YAMLError described exactly as `expected`.
func expectError<T>(_ expected: String, sourceLocation: SourceLocation = #_sourceLocation,
                    _ body: () throws -> T) {
    do {
        let result = try body()
        Issue.record("expected \(expected), got \(result)", sourceLocation: sourceLocation)
    } catch let error as YAMLError {
        #expect(error.description == expected, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected a YAMLError, got \(error)", sourceLocation: sourceLocation)
    }
}

/// Runs `body` and expects it to throw a YAMLError whose description contains each of `parts`.
func expectErrorMentioning<T>(_ parts: [String], sourceLocation: SourceLocation = #_sourceLocation,
                              _ body: () throws -> T) {
    do {
        let result = try body()
        Issue.record("expected an error mentioning \(parts), got \(result)", sourceLocation: sourceLocation)
    } catch let error as YAMLError {
        for part in parts { #expect(error.description.contains(part), "\(error.description)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected a YAMLError, got \(error)", sourceLocation: sourceLocation)
    }
}
