import VigilCore

/// Entry points for the fuzzer (`VIGIL_FUZZ_TARGET=enrich-config`): every loader must throw on
/// bad bytes, never trap.
package enum EnrichmentFuzzing {
    /// The first byte picks the loader; the rest is its input.
    package static func run(_ data: UnsafeRawBufferPointer) {
        guard let first = data.first else { return }
        let bytes = UnsafeRawBufferPointer(rebasing: data[1...])
        let text = String(decoding: bytes, as: UTF8.self)
        let column = EnrichmentDefinition.Column(source: "b", output: "b", type: [.string, .int, .float, .bool, .ip][Int(first >> 4) % 5])
        func table(_ format: EnrichmentDefinition.TableSource.Format, _ keyType: EnrichmentDefinition.KeyType) -> EnrichmentDefinition.TableSource {
            EnrichmentDefinition.TableSource(path: "fuzz", format: format, delimiter: UInt8(ascii: ","), keyColumn: "a", keyType: keyType,
                                             caseInsensitive: first & 0x40 != 0, columns: first & 0x20 != 0 ? [column] : [])
        }
        switch first % 8 {
        case 0:
            _ = try? EnrichmentDefinition.parse(yaml: text, file: "/fuzz/e.yaml")
        case 1:
            if let t = try? ReferenceTable.parse(bytes, table(.csv, .string), networks: false) { _ = t.lookup("x") }
        case 2:
            if let t = try? ReferenceTable.parse(bytes, table(.csv, .ip), networks: true) { _ = t.lookup(IPAddress(v4: 0x0A00_0001)) }
        case 3:
            if let t = try? ReferenceTable.parse(bytes, table(.json, .string), networks: false) { _ = t.lookup("x") }
        case 4, 5:
            let feed = EnrichmentDefinition.Feed(path: "fuzz", format: first % 8 == 4 ? .lines : .csv, column: "a", delimiter: UInt8(ascii: ","),
                                                 type: [.ip, .cidr, .domain, .hash][Int(first >> 4) % 4], provider: nil, confidence: nil,
                                                 description: nil)
            let source = EnrichmentDefinition.ThreatIntelSource(feeds: [feed], stream: nil, falsePositiveRate: 0.01, provider: nil,
                                                                confidence: nil, description: nil, target: "threat.indicator")
            var entries: [(String, IndicatorMetadata)] = []
            _ = try? ThreatIntelSnapshot.parseFeed(bytes, feed, source, into: &entries)
        case 6:
            // Changelog records: key and value split at the first newline.
            var t = ChangelogTable(keyType: first & 0x10 != 0 ? .ip : .string)
            let split = bytes.firstIndex(of: 0x0A) ?? bytes.count
            try? t.apply(key: UnsafeRawBufferPointer(rebasing: bytes[..<split]),
                         value: split < bytes.count ? UnsafeRawBufferPointer(rebasing: bytes[(split + 1)...]) : nil)
            _ = t.snapshot()
        case 7 where first & 0x80 != 0:
            // The Public Suffix List: the input as a list, then as names split by it and by a fixed list.
            let fixed = try! PublicSuffixList(parsing: Array("com\nco.uk\n*.ck\n!www.ck\n公司.cn\n".utf8), file: "fixed")
            let list = (try? PublicSuffixList(parsing: Array(bytes), file: "fuzz")) ?? fixed
            for line in bytes.split(separator: 0x0A, omittingEmptySubsequences: false) {
                let name = UnsafeRawBufferPointer(rebasing: line)
                for l in [list, fixed] {
                    l.split(normalizing: name) { normalized, split in
                        if let split { _ = PublicSuffixList.parts(normalized, split) }
                    }
                }
            }
        default:
            let source = EnrichmentDefinition.ThreatIntelSource(feeds: [], stream: nil, falsePositiveRate: 0.01, provider: nil,
                                                                confidence: nil, description: nil, target: "threat.indicator")
            _ = EnrichmentRuntime.parseIndicator(key: nil, value: bytes, source: source)
        }
    }
}
