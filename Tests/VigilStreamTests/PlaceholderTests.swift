import Testing
import VigilStream

@Suite struct StreamModuleTests {
    @Test func moduleLinks() { _ = VigilStream.self }
}
