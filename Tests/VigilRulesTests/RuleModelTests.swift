import Testing
import VigilRules

@Suite struct RuleModelTests {
    @Test func severitiesAreOrderedAndNamed() {
        #expect(Severity.low < Severity.critical)
        #expect(Severity(name: "HIGH") == .high)
        #expect(Severity(name: "urgent") == nil)
        #expect(Severity.allCases.map(\.description) == ["informational", "low", "medium", "high", "critical"])
    }
}
