import Testing
@testable import VigilIndex

@Suite struct AlertIndexSchemaTests {
    @Test func schemaVersionIsPositive() { #expect(AlertIndexSchema.version >= 1) }
}
