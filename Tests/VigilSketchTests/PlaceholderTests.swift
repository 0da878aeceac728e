import Testing
import VigilSketch

@Suite struct SketchModuleTests {
    @Test func moduleLinks() { _ = VigilSketch.self }
}
