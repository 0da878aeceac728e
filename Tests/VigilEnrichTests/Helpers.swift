import Foundation
import VigilCore
import VigilEnrich
import VigilTestSupport

/// Writes `files` (name → contents) into a fresh directory and loads the enrichment set there.
func loadSet(_ files: [String: String], in dir: TemporaryDirectory) throws -> EnrichmentSet {
    for (name, text) in files { try text.write(toFile: dir.file(name), atomically: false, encoding: .utf8) }
    return try EnrichmentSet.load(path: dir.path)
}

func event(_ json: String) throws -> Event { try EventJSON.decode(json) }

func enrich(_ set: EnrichmentSet, _ json: String) throws -> Event {
    var e = try event(json)
    var enricher = set.makeEnricher()
    enricher.enrich(&e)
    enricher.flushMetrics()
    return e
}

func write(_ text: String, to path: String) throws {
    try text.write(toFile: path, atomically: false, encoding: .utf8)
}
