import VigilYAML

/// How Sigma's logsources and field names translate to Vigil's events: which events a logsource
/// means (a condition over Vigil fields, ANDed to every rule of that logsource), what each Sigma
/// field is called in Vigil's schema, and which fields a keyword search reads.
///
/// Loaded from `rules/sigma/mapping.yaml` (see docs/sigma.md):
/// ```yaml
/// keywords: [message]                  # default keyword-search fields
/// logsources:
///   - product: zeek                    # matches rules whose logsource has product zeek
///     fields: { id.orig_h: source.ip } # Sigma field → Vigil field (or a list: any of them)
///   - product: zeek
///     service: dns
///     condition: { event.dataset: [zeek.dns, network.dns] }   # Sigma selection syntax, Vigil fields
///     fields: { query: dns.question.name }
///     unmapped_prefix: zeek.dns.       # other fields become zeek.dns.<name>
///     keywords: [message]
/// ```
///
/// An entry applies to a rule when each of its `product`/`category`/`service` equals the rule's
/// (ignoring case). Every key the rule's logsource sets must be named by some applicable entry,
/// else the logsource is unsupported. The most specific applicable entry (most keys; the later one
/// on a tie) with a `condition` gives the condition; `fields` merge from the least to the most
/// specific entry; `unmapped_prefix` and `keywords` come from the most specific entry that sets them.
public struct SigmaFieldMapping: Sendable {
    /// One entry of `logsources`.
    public struct Logsource: Sendable {
        public var product: String?
        public var category: String?
        public var service: String?
        /// Which events the logsource means; nil: the entry only contributes fields.
        public var condition: Expression?
        /// Sigma field name → Vigil field names (several: the predicate holds on any of them).
        public var fields: [String: [String]]
        /// A field not in `fields` becomes `prefix + name`; nil: such a field is unsupported.
        public var unmappedPrefix: String?
        /// The fields a keyword search reads; nil: inherited.
        public var keywordFields: [String]?
        public var origin: Origin

        public init(product: String? = nil, category: String? = nil, service: String? = nil, condition: Expression? = nil,
                    fields: [String: [String]] = [:], unmappedPrefix: String? = nil, keywordFields: [String]? = nil,
                    origin: Origin = Origin(file: "", line: 0, column: 0)) {
            self.product = product
            self.category = category
            self.service = service
            self.condition = condition
            self.fields = fields
            self.unmappedPrefix = unmappedPrefix
            self.keywordFields = keywordFields
            self.origin = origin
        }

        var specificity: Int { [product, category, service].compactMap { $0 }.count }

        func applies(product p: String?, category c: String?, service s: String?) -> Bool {
            func same(_ mine: String?, _ theirs: String?) -> Bool {
                guard let mine else { return true }
                guard let theirs else { return false }
                return mine.lowercased() == theirs.lowercased()
            }
            return same(product, p) && same(category, c) && same(service, s)
        }
    }

    public var logsources: [Logsource]
    /// The keyword-search fields of logsources that do not set their own.
    public var keywordFields: [String]

    public init(logsources: [Logsource] = [], keywordFields: [String] = ["message"]) {
        self.logsources = logsources
        self.keywordFields = keywordFields
    }

    /// The repository's mapping file, relative to the repository root.
    public static let defaultPath = "rules/sigma/mapping.yaml"

    /// Reads a mapping file; every mistake is a ``SigmaError`` (code `invalidMapping`) at its place.
    public static func load(path: String) throws(SigmaError) -> SigmaFieldMapping {
        let root: YAMLValue
        do { root = try YAMLValue.load(path: path) } catch { throw SigmaError(error, code: .invalidMapping) }
        return try parse(root)
    }

    /// Parses mapping text (`file` is used in messages).
    public static func parse(yaml: String, file: String) throws(SigmaError) -> SigmaFieldMapping {
        let root: YAMLValue
        do { root = try YAMLValue.parse(yaml: yaml, file: file) } catch { throw SigmaError(error, code: .invalidMapping) }
        return try parse(root)
    }

    static func parse(_ root: YAMLValue) throws(SigmaError) -> SigmaFieldMapping {
        do {
            let top = try root.mapping(allowedKeys: ["keywords", "logsources"])
            var mapping = SigmaFieldMapping()
            if let keywords = top.optional("keywords") { mapping.keywordFields = try strings(keywords) }
            for entry in try top.optional("logsources")?.sequence() ?? [] {
                mapping.logsources.append(try logsource(entry))
            }
            return mapping
        } catch let error as YAMLError {
            throw SigmaError(error, code: .invalidMapping)
        } catch let error as SigmaError {
            throw error
        } catch {
            throw SigmaError(at: root, "\(error)", code: .invalidMapping)
        }
    }

    private static func strings(_ value: YAMLValue) throws(YAMLError) -> [String] {
        if let list = try? value.sequence() { return try list.map { (v: YAMLValue) throws(YAMLError) in try v.string() } }
        return [try value.string()]
    }

    private static func logsource(_ value: YAMLValue) throws -> Logsource {
        let m = try value.mapping(allowedKeys: ["product", "category", "service", "condition", "fields",
                                                "unmapped_prefix", "keywords", "note"])
        var entry = Logsource(product: try m.optional("product")?.string(), category: try m.optional("category")?.string(),
                              service: try m.optional("service")?.string(),
                              unmappedPrefix: try m.optional("unmapped_prefix")?.string(),
                              keywordFields: try m.optional("keywords").map(strings),
                              origin: Origin(file: value.file, line: value.line, column: value.column))
        if entry.specificity == 0 { throw value.error("an entry needs at least one of product, category, service") }
        for field in try m.optional("fields")?.mapping().entries ?? [] {
            let targets = try strings(field.value)
            if targets.isEmpty { throw field.value.error("a field maps to at least one Vigil field") }
            entry.fields[field.key] = targets
        }
        if let condition = m.optional("condition") {
            var compiler = SigmaDetectionCompiler(rule: "mapping", resolution: .identity)
            let expression = try compiler.selection(condition)
            if let problem = compiler.unsupported.first {
                throw SigmaError(code: .invalidMapping, file: problem.origin.file, line: problem.origin.line,
                                 column: problem.origin.column, message: "\(problem.construct) is not supported: \(problem.detail)")
            }
            entry.condition = expression
        }
        return entry
    }

    /// The logsource of a rule, resolved, or the constructs that make it unsupported.
    func resolve(product: String?, category: String?, service: String?) -> Result<SigmaLogsourceResolution, SigmaUnsupportedList> {
        let described = [("product", product), ("category", category), ("service", service)]
            .compactMap { name, value in value.map { "\(name) \($0)" } }.joined(separator: ", ")
        if product == nil && category == nil && service == nil {
            return .failure(SigmaUnsupportedList([("logsource (empty)", "the rule names no product, category or service")]))
        }
        let applicable = logsources.enumerated()
            .filter { $0.element.applies(product: product, category: category, service: service) }
            .sorted { ($0.element.specificity, $0.offset) < ($1.element.specificity, $1.offset) }
            .map(\.element)
        var missing: [(String, String)] = []
        for (name, value, covered) in [("product", product, applicable.contains { $0.product != nil }),
                                       ("category", category, applicable.contains { $0.category != nil }),
                                       ("service", service, applicable.contains { $0.service != nil })] {
            if let value, !covered {
                missing.append(("logsource \(name) \(value)",
                                "no source of Vigil events is mapped to the logsource (\(described)) in the Sigma field mapping"))
            }
        }
        if !missing.isEmpty { return .failure(SigmaUnsupportedList(missing)) }
        guard let condition = applicable.last(where: { $0.condition != nil })?.condition else {
            return .failure(SigmaUnsupportedList([("logsource \(described)", "the mapping gives no event condition for it")]))
        }
        var resolution = SigmaLogsourceResolution(description: described, condition: condition,
                                                  fields: [:], unmappedPrefix: nil, keywordFields: keywordFields)
        for entry in applicable {
            resolution.fields.merge(entry.fields) { _, new in new }
            if let prefix = entry.unmappedPrefix { resolution.unmappedPrefix = prefix }
            if let keywords = entry.keywordFields { resolution.keywordFields = keywords }
        }
        return .success(resolution)
    }
}

/// Constructs (name, detail) that make something unsupported, as an error value.
struct SigmaUnsupportedList: Error {
    var items: [(construct: String, detail: String)]
    init(_ items: [(String, String)]) { self.items = items.map { (construct: $0.0, detail: $0.1) } }
}

/// What a rule's logsource resolved to.
struct SigmaLogsourceResolution {
    /// `product zeek, service dns`, for messages.
    var description: String
    var condition: Expression
    var fields: [String: [String]]
    var unmappedPrefix: String?
    var keywordFields: [String]

    /// Field names taken as they are (the mapping file's own conditions).
    static let identity = SigmaLogsourceResolution(description: "Vigil fields", condition: .constant(true), fields: [:],
                                                   unmappedPrefix: "", keywordFields: ["message"])

    /// The Vigil fields of a Sigma field, or nil when it is not mapped.
    func vigilFields(_ name: String) -> [String]? {
        if let mapped = fields[name] { return mapped }
        if let prefix = unmappedPrefix { return [prefix + name] }
        return nil
    }
}
