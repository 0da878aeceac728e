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
