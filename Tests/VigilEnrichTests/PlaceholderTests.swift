import Testing
import VigilEnrich

@Suite struct EnrichModuleTests {
    @Test func moduleLinks() { _ = VigilEnrich.self }
}
