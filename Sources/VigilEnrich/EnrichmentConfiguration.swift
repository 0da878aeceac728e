import VigilCore
import VigilYAML

/// One enrichment, as written in one `enrichment/*.yaml` file. See docs/enrichment.md for the
/// format; every default is listed there and on the properties below.
public struct EnrichmentDefinition: Sendable {
    /// What the enrichment joins against.
    public enum Kind: String, Sendable, CaseIterable {
        case table, cidr, changelog, geoip
        case threatIntel = "threat_intel"
        case registeredDomain = "registered_domain"
    }

    /// The type of a key column.
    public enum KeyType: String, Sendable, CaseIterable {
        /// Text, compared byte for byte (or folded, see ``TableSource/caseInsensitive``).
        case string
        /// An IPv4 or IPv6 address; event fields holding an IP value or its text both match.
        case ip
    }

    /// The type a CSV column's text is converted to (JSON values keep their JSON type).
    public enum ColumnType: String, Sendable, CaseIterable {
        case string, int, float, bool, ip
    }

    /// One output column: the name in the data, the name under the lookup's target.
    public struct Column: Sendable, Equatable {
        public var source: String
        public var output: String
        public var type: ColumnType
    }

    /// A data file holding a table (CSV or JSON) and how to read it.
    public struct TableSource: Sendable {
        /// Absolute path (made absolute against the config file's directory).
        public var path: String
        /// `csv` or `json` (JSON lines or one array); default from the extension (`.json`,
        /// `.jsonl`, `.ndjson` → json, else csv).
        public var format: Format
        /// CSV delimiter (default `,`).
        public var delimiter: UInt8
        /// The column holding the key (for `cidr`, the network).
        public var keyColumn: String
        public var keyType: KeyType
        /// Fold ASCII case of string keys (default false).
        public var caseInsensitive: Bool
        /// The columns to copy; empty means every column but the key.
        public var columns: [Column]

        public enum Format: String, Sendable, CaseIterable { case csv, json }
    }

    /// A table fed by a changelog topic of the embedded broker.
    public struct ChangelogSource: Sendable {
        public var topic: String
        public var keyType: KeyType
        public var caseInsensitive: Bool
        /// The fields of the record values to copy; empty means all.
        public var columns: [Column]
    }

    /// MaxMind databases (at least one).
    public struct GeoIPSource: Sendable {
        /// A City or Country database: `geo.*` fields.
        public var cityDatabase: String?
        /// An ASN database: `as.*` fields.
        public var asnDatabase: String?
    }

    /// The kind of an indicator.
    public enum IndicatorType: String, Sendable, CaseIterable {
        case ip, cidr, domain, hash
    }

    /// A threat-intel feed file.
    public struct Feed: Sendable {
        public var path: String
        /// `lines` (one indicator per line, `#` comments) or `csv` (with a header; `column` names
        /// the indicator column).
        public var format: Format
        public var column: String?
        public var delimiter: UInt8
        /// The indicators' type; `ip` feeds accept CIDRs too (they go to the network set).
        public var type: IndicatorType
        public var provider: String?
        public var confidence: String?
        public var description: String?

        public enum Format: String, Sendable, CaseIterable { case lines, csv }
    }

    /// Indicators arriving on a topic and ageing out.
    public struct IndicatorStream: Sendable {
        public var topic: String
        /// How long an indicator stays (nanoseconds).
        public var lifetime: Int64
        /// Bloom generations the lifetime is split into (default 4).
        public var generations: Int
    }

    public struct ThreatIntelSource: Sendable {
        public var feeds: [Feed]
        public var stream: IndicatorStream?
        /// Target false-positive rate of each Bloom filter before exact confirmation (default 0.001).
        public var falsePositiveRate: Double
        /// Defaults for feeds without their own.
        public var provider: String?
        public var confidence: String?
        public var description: String?
        /// Where match fields go (default `threat.indicator`).
        public var target: String
    }

    /// The Public Suffix List a `registered_domain` enrichment splits names with.
    public struct PublicSuffixSource: Sendable {
        /// The list file (default ``PublicSuffixSource/defaultPath``, from Debian's `publicsuffix`
        /// package).
        public var path: String
        /// Keep the rules of the list's private section (`blogspot.com`, `github.io`); default true.
        public var privateDomains: Bool

        /// `/usr/share/publicsuffix/public_suffix_list.dat`.
        public static let defaultPath = "/usr/share/publicsuffix/public_suffix_list.dat"
    }

    /// Which event field to look up and where the results go.
    public struct Lookup: Sendable, Equatable {
        /// The event field holding the key (`source.ip`, `dns.question.name`).
        public var field: String
        /// The prefix of the fields written on a hit (`source.asset` → `source.asset.owner`).
        public var target: String
        /// For `threat_intel`: which indicator sets the field is checked against.
        public var indicatorType: IndicatorType?
    }

    public enum Source: Sendable {
        case table(TableSource)
        case cidr(TableSource)
        case changelog(ChangelogSource)
        case geoip(GeoIPSource)
        case threatIntel(ThreatIntelSource)
        case registeredDomain(PublicSuffixSource)
    }

    /// The enrichment's name (default: the file name without `.yaml`); metrics carry it.
    public var name: String
    /// The YAML file it came from.
    public var file: String
    public var description: String?
    public var kind: Kind
    /// When true, a missing data file or database disables this enrichment with a warning
    /// instead of failing the load (default false).
    public var optional: Bool
    /// How often, at most, data files are checked for changes (nanoseconds, default 1 s).
    public var reloadInterval: Int64
    public var source: Source
    public var lookups: [Lookup]
}

extension EnrichmentDefinition {
    static let commonKeys = ["name", "kind", "description", "optional", "reload_interval", "lookups"]

    /// Reads one enrichment file.
    /// - Throws: ``EnrichmentError`` with code `.configuration` at the offending key.
    public static func load(path: String) throws(EnrichmentError) -> EnrichmentDefinition {
        let root: YAMLValue
        do { root = try YAMLValue.load(path: path) } catch { throw EnrichmentError(error) }
        return try decode(root, file: path)
    }

    /// Reads an enrichment from YAML text; `file` names it in errors and relative paths are
    /// resolved against its directory.
    public static func parse(yaml: String, file: String) throws(EnrichmentError) -> EnrichmentDefinition {
        let root: YAMLValue
        do { root = try YAMLValue.parse(yaml: yaml, file: file) } catch { throw EnrichmentError(error) }
        return try decode(root, file: file)
    }

    static func decode(_ root: YAMLValue, file: String) throws(EnrichmentError) -> EnrichmentDefinition {
        do {
            return try decodeYAML(root, file: file)
        } catch {
            throw EnrichmentError(error)
        }
    }

    private static func decodeYAML(_ root: YAMLValue, file: String) throws(YAMLError) -> EnrichmentDefinition {
        let top = try root.mapping()
        let kind = try top.required("kind").oneOf(Kind.self)
        let specific: [String]
        switch kind {
        case .table: specific = ["file", "format", "delimiter", "key", "key_type", "case_insensitive", "columns"]
        case .cidr: specific = ["file", "format", "delimiter", "key", "columns"]
        case .changelog: specific = ["topic", "key_type", "case_insensitive", "columns"]
        case .geoip: specific = ["city_database", "asn_database"]
        case .threatIntel: specific = ["feeds", "topic", "lifetime", "generations", "false_positive_rate", "provider",
                                       "confidence", "target"]
        case .registeredDomain: specific = ["file", "private_domains"]
        }
        // Re-read with the allowed keys, so unknown ones are errors with a suggestion.
        _ = try root.mapping(allowedKeys: commonKeys + specific)
        let directory = DataFiles.directory(of: file)
        var baseName = file.split(separator: "/").last.map(String.init) ?? file
        for suffix in [".yaml", ".yml"] where baseName.hasSuffix(suffix) { baseName.removeLast(suffix.count) }
        let name = try top.optional("name")?.string() ?? baseName
        guard !name.isEmpty else { throw try top.required("name").error("the name must not be empty") }
        let optional = try top.optional("optional")?.bool() ?? false
        let reloadInterval = try top.optional("reload_interval")?.duration(range: 0...86_400_000_000_000) ?? 1_000_000_000
        let description = try top.optional("description")?.string()

        func path(_ value: YAMLValue) throws(YAMLError) -> String {
            let text = try value.string()
            guard !text.isEmpty else { throw value.error("the path must not be empty") }
            if text.hasPrefix("~") { throw value.error("'~' is not expanded; write the path out") }
            return DataFiles.resolve(text, against: directory)
        }
        func delimiter(_ value: YAMLValue?) throws(YAMLError) -> UInt8 {
            guard let value else { return UInt8(ascii: ",") }
            let text = try value.string()
            if text == "\\t" || text == "\t" { return 0x09 }
            guard text.utf8.count == 1, let b = text.utf8.first, b != UInt8(ascii: "\""), b != 0x0A, b != 0x0D else {
                throw value.error("the delimiter must be one ASCII character other than a quote or newline (\"\\t\" for tab)")
            }
            return b
        }
        func columns(_ value: YAMLValue?) throws(YAMLError) -> [Column] {
            guard let value else { return [] }
            var out: [Column] = []
            if case .mapping = value.node {
                // column: output  or  column: { as: output, type: int }
                for entry in try value.mapping().entries {
                    if case .mapping = entry.value.node {
                        let m = try entry.value.mapping(allowedKeys: ["as", "type"])
                        out.append(Column(source: entry.key, output: try m.optional("as")?.string() ?? entry.key,
                                          type: try m.optional("type")?.oneOf(ColumnType.self) ?? .string))
                    } else {
                        out.append(Column(source: entry.key, output: try entry.value.string(), type: .string))
                    }
                }
            } else {
                for element in try value.sequence() {
                    let name = try element.string()
                    out.append(Column(source: name, output: name, type: .string))
                }
            }
            for c in out where c.source.isEmpty || c.output.isEmpty || c.output.hasPrefix(".") || c.output.hasSuffix(".") {
                throw value.error("column names must be non-empty and must not start or end with '.'")
            }
            return out
        }
        func table(defaultKey: String?) throws(YAMLError) -> TableSource {
            let fileValue = try top.required("file")
            let p = try path(fileValue)
            let lower = p.lowercased()
            let format = try top.optional("format")?.oneOf(TableSource.Format.self)
                ?? ([".json", ".jsonl", ".ndjson"].contains { lower.hasSuffix($0) } ? .json : .csv)
            let keyColumn: String
            if let k = top.optional("key") { keyColumn = try k.string() } else if let defaultKey { keyColumn = defaultKey } else {
                _ = try top.required("key")
                keyColumn = ""
            }
            return TableSource(path: p, format: format, delimiter: try delimiter(top.optional("delimiter")), keyColumn: keyColumn,
                               keyType: try top.optional("key_type")?.oneOf(KeyType.self) ?? .string,
                               caseInsensitive: try top.optional("case_insensitive")?.bool() ?? false,
                               columns: try columns(top.optional("columns")))
        }

        let source: Source
        switch kind {
        case .table:
            source = .table(try table(defaultKey: nil))
        case .cidr:
            var t = try table(defaultKey: "network")
            t.keyType = .ip
            source = .cidr(t)
        case .changelog:
            let topicValue = try top.required("topic")
            let topic = try topicValue.string()
            guard !topic.isEmpty else { throw topicValue.error("the topic must not be empty") }
            source = .changelog(ChangelogSource(topic: topic, keyType: try top.optional("key_type")?.oneOf(KeyType.self) ?? .string,
                                                caseInsensitive: try top.optional("case_insensitive")?.bool() ?? false,
                                                columns: try columns(top.optional("columns"))))
        case .geoip:
            let city = try top.optional("city_database").map { v throws(YAMLError) in try path(v) }
            let asn = try top.optional("asn_database").map { v throws(YAMLError) in try path(v) }
            if city == nil && asn == nil {
                throw top.value.error("a geoip enrichment needs city_database, asn_database or both", code: .missingKey)
            }
            source = .geoip(GeoIPSource(cityDatabase: city, asnDatabase: asn))
        case .threatIntel:
            var feeds: [Feed] = []
            if let list = top.optional("feeds") {
                for element in try list.sequence() {
                    let f = try element.mapping(allowedKeys: ["file", "format", "column", "delimiter", "type", "provider", "confidence",
                                                              "description"])
                    let format = try f.optional("format")?.oneOf(Feed.Format.self) ?? .lines
                    let column = try f.optional("column")?.string()
                    if format == .csv && column == nil {
                        throw element.error("a csv feed needs 'column' (the header of the indicator column)", code: .missingKey)
                    }
                    if format == .lines && column != nil {
                        throw try f.required("column").error("'column' applies to csv feeds only")
                    }
                    feeds.append(Feed(path: try path(f.required("file")), format: format, column: column,
                                      delimiter: try delimiter(f.optional("delimiter")),
                                      type: try f.required("type").oneOf(IndicatorType.self),
                                      provider: try f.optional("provider")?.string(), confidence: try f.optional("confidence")?.string(),
                                      description: try f.optional("description")?.string()))
                }
            }
            var stream: IndicatorStream?
            if let topicValue = top.optional("topic") {
                let topic = try topicValue.string()
                guard !topic.isEmpty else { throw topicValue.error("the topic must not be empty") }
                let lifetime = try top.required("lifetime").duration(range: 1_000_000_000...Int64.max / 4)
                let generations = try top.optional("generations")?.int(range: 1...64) ?? 4
                stream = IndicatorStream(topic: topic, lifetime: lifetime, generations: generations)
            } else {
                for key in ["lifetime", "generations"] where top[key] != nil {
                    throw try top.required(key).error("'\(key)' applies to indicators from a topic; add 'topic'")
                }
            }
            if feeds.isEmpty && stream == nil {
                throw top.value.error("a threat_intel enrichment needs 'feeds', a 'topic' or both", code: .missingKey)
            }
            let target = try top.optional("target")?.string() ?? "threat.indicator"
            source = .threatIntel(ThreatIntelSource(
                feeds: feeds, stream: stream,
                falsePositiveRate: try top.optional("false_positive_rate")?.double(range: 1e-9...0.5) ?? 0.001,
                provider: try top.optional("provider")?.string(), confidence: try top.optional("confidence")?.string(),
                description: nil, target: target))
        case .registeredDomain:
            let p = try top.optional("file").map { v throws(YAMLError) in try path(v) } ?? PublicSuffixSource.defaultPath
            source = .registeredDomain(PublicSuffixSource(path: p, privateDomains: try top.optional("private_domains")?.bool() ?? true))
        }

        // lookups: [ "source.ip" | { field, target, type } ]
        var lookups: [Lookup] = []
        if kind == .registeredDomain && top["lookups"] == nil {
            return EnrichmentDefinition(name: name, file: file, description: description, kind: kind, optional: optional,
                                        reloadInterval: reloadInterval, source: source,
                                        lookups: [Lookup(field: "dns.question.name", target: "dns.question")])
        }
        let lookupsValue = try top.required("lookups")
        for element in try lookupsValue.sequence() {
            var field: String
            var target: String?
            var type: IndicatorType?
            var fieldNode = element
            if case .mapping = element.node {
                let m = try element.mapping(allowedKeys: ["field", "target", "type"])
                fieldNode = try m.required("field")
                field = try fieldNode.string()
                target = try m.optional("target")?.string()
                if let t = m.optional("type") {
                    guard kind == .threatIntel else { throw t.error("'type' applies to threat_intel lookups only") }
                    type = try t.oneOf(IndicatorType.self)
                }
            } else {
                field = try element.string()
            }
            guard !field.isEmpty else { throw fieldNode.error("the field must not be empty") }
            switch kind {
            case .table, .cidr, .changelog:
                guard let target, !target.isEmpty else {
                    throw element.error("a \(kind.rawValue) lookup needs 'target' (the prefix of the fields it writes, such as source.asset)",
                                        code: .missingKey)
                }
                lookups.append(Lookup(field: field, target: target))
            case .geoip, .registeredDomain:
                // source.ip → source.geo.*, source.as.*; url.domain → url.registered_domain
                let parent = field.split(separator: ".").dropLast().joined(separator: ".")
                guard let t = target ?? (parent.isEmpty ? nil : parent), !t.isEmpty else {
                    throw element.error("cannot derive a target from '\(field)'; add 'target'", code: .missingKey)
                }
                lookups.append(Lookup(field: field, target: t))
            case .threatIntel:
                if target != nil { throw element.error("threat_intel lookups write to the enrichment's 'target'; remove 'target' here") }
                guard let t = type ?? inferIndicatorType(field) else {
                    throw element.error("cannot tell the indicator type of '\(field)'; add 'type' (ip, domain or hash)", code: .missingKey)
                }
                if t == .cidr { throw element.error("look up addresses with type 'ip' (it checks CIDR indicators too)") }
                if case .threatIntel(let ti) = source, !ti.target.isEmpty {
                    lookups.append(Lookup(field: field, target: ti.target, indicatorType: t))
                }
            }
        }
        if lookups.isEmpty { throw lookupsValue.error("at least one lookup is needed") }
        return EnrichmentDefinition(name: name, file: file, description: description, kind: kind, optional: optional,
                                    reloadInterval: reloadInterval, source: source, lookups: lookups)
    }

    /// `*.ip` → ip; `*.domain`, `*.question.name`, `*.hostname` → domain; `*hash*` → hash.
    static func inferIndicatorType(_ field: String) -> IndicatorType? {
        if field.hasSuffix(".ip") || field == "ip" { return .ip }
        if field.hasSuffix(".domain") || field.hasSuffix("question.name") || field.hasSuffix(".hostname")
            || field.hasSuffix(".server_name") { return .domain }
        if field.contains("hash") { return .hash }
        return nil
    }
}
