import Foundation
import VigilStream
import VigilYAML

/// What loading Sigma files produced.
public struct SigmaLoadResult: Sendable {
    /// Files read (each may hold several YAML documents).
    public var files = 0
    /// The rules Vigil runs: detection rules (with their filters applied) and correlation rules.
    public var rules: [Rule] = []
    /// Every construct that kept a rule, filter or correlation from loading, one entry per
    /// construct and place; a rule is either in ``rules`` or named here, never both.
    public var unsupported: [Unsupported] = []
    /// Files or documents that are not valid Sigma (positioned).
    public var errors: [SigmaError] = []
    /// Documents that are not Sigma rules at all and were passed over, with why (SigmaHQ's
    /// regression-test `info.yml` files, which describe a rule's test data: no title,
    /// logsource, detection, correlation or filter).
    public var skipped: [(origin: String, reason: String)] = []
    /// Rules that only feed correlations (`generate: false`, the default): they are in ``rules``
    /// because they must still be evaluated, but their own matches raise no alert.
    public var mutedRuleIDs: Set<String> = []

    public init() {}

    /// ``rules`` without the muted ones: the rules whose matches are alerts.
    public var alertingRules: [Rule] { rules.filter { !mutedRuleIDs.contains($0.id) } }

    /// The rules (and filters and correlations) reported unsupported, each once, in load order.
    public var unsupportedRuleIDs: [String] {
        var seen: Set<String> = []
        return unsupported.compactMap { seen.insert($0.rule).inserted ? $0.rule : nil }
    }

    /// For each construct, how many rules need it; most needed first.
    public func unsupportedRulesByConstruct() -> [(construct: String, rules: Int)] {
        var rulesByConstruct: [String: Set<String>] = [:]
        for entry in unsupported { rulesByConstruct[entry.construct, default: []].insert(entry.rule) }
        return rulesByConstruct.map { (construct: $0.key, rules: $0.value.count) }
            .sorted { ($0.rules, $1.construct) > ($1.rules, $0.construct) }
    }
}

/// Loads Sigma rules (SigmaHQ's format: detection rules, Sigma 2 correlation rules and meta
/// filters) and compiles them to Vigil ``Rule``s through a ``SigmaFieldMapping``.
///
/// ```swift
/// let mapping = try SigmaFieldMapping.load(path: "rules/sigma/mapping.yaml")
/// let result = SigmaLoader(mapping: mapping).load(directory: "rules/sigma")
/// for problem in result.unsupported { print(problem) }
/// ```
///
/// - A detection rule's `match` is its logsource's condition AND its detection condition.
/// - `severity` is `level` (default medium); `score` follows the level: informational 10, low 25,
///   medium 50, high 75, critical 90.
/// - A filter document (`filter:`) ANDs its condition (written `not selection` by convention) to
///   each rule it names.
/// - A correlation document (`correlation:`) becomes a rule with an ``Aggregation`` over the rules
///   it names; those rules are muted unless the correlation says `generate: true`.
/// Everything Vigil cannot run is reported per rule in ``SigmaLoadResult/unsupported``.
public struct SigmaLoader: Sendable {
    public var mapping: SigmaFieldMapping
    /// How many hops a correlation or aggregation window of size *t* advances by (*t* / hops): an
    /// event counts in that many overlapping windows, and a burst is seen whole when it lasts at
    /// most *t* · (1 − 1/hops).
    public var windowHops: Int64 = 5

    public init(mapping: SigmaFieldMapping) {
        self.mapping = mapping
    }

    /// Loads every `.yml` and `.yaml` file under `directory`, recursively, in path order.
    public func load(directory: String) -> SigmaLoadResult {
        var paths: [String] = []
        if let walker = FileManager.default.enumerator(atPath: directory) {
            while let relative = walker.nextObject() as? String {
                if relative.hasSuffix(".yml") || relative.hasSuffix(".yaml") {
                    paths.append(directory + "/" + relative)
                }
            }
        }
        return load(files: paths.sorted())
    }

    /// Loads one file (all of its documents).
    public func load(file: String) -> SigmaLoadResult { load(files: [file]) }

    /// Loads files together, so that correlations and filters can refer to rules in other files.
    public func load(files: [String]) -> SigmaLoadResult {
        var documents: [YAMLValue] = []
        var result = SigmaLoadResult()
        for path in files {
            result.files += 1
            do { documents += try YAMLValue.loadAll(path: path) } catch { result.errors.append(SigmaError(error)) }
        }
        return load(documents: documents, into: result)
    }

    /// Loads Sigma text (`file` names it in messages), for tests and tools.
    public func load(yaml: String, file: String) -> SigmaLoadResult {
        var result = SigmaLoadResult()
        result.files = 1
        do {
            return load(documents: try YAMLValue.parseAll(yaml: yaml, file: file), into: result)
        } catch {
            result.errors.append(SigmaError(error))
            return result
        }
    }

    // MARK: - Documents

    /// A detection rule (or filter) after compilation.
    struct Compiled {
        var id: String
        var name: String?
        var rule: Rule?
        var resolution: SigmaLogsourceResolution?
        var unsupported: [Unsupported]
        var isCorrelation = false
    }

    private func load(documents: [YAMLValue], into initial: SigmaLoadResult) -> SigmaLoadResult {
        var result = initial
        var compiled: [Compiled] = []
        var filters: [YAMLValue] = []
        var correlations: [YAMLValue] = []
        for document in documents {
            guard let top = try? document.mapping() else {
                result.errors.append(SigmaError(at: document, "a Sigma document is a mapping"))
                continue
            }
            if top["action"] != nil {
                let rule = (try? top["id"]?.string()) ?? (try? top["title"]?.string()) ?? "\(document.file):\(document.line)"
                compiled.append(Compiled(id: rule, rule: nil, unsupported: [
                    Unsupported(rule: rule, origin: origin(document), construct: "multi-document collection",
                                detail: "rule collections with 'action' (global, reset, repeat) are not loaded; write each rule out"),
                ]))
                continue
            }
            if top["correlation"] != nil { correlations.append(document); continue }
            if top["filter"] != nil { filters.append(document); continue }
            if top["title"] == nil && top["logsource"] == nil && top["detection"] == nil {
                result.skipped.append(("\(document.file):\(document.line):\(document.column)",
                                       top["rule_metadata"] != nil ? "a regression-test description (rule_metadata), not a rule"
                                                                   : "not a Sigma rule (no title, logsource, detection, correlation or filter)"))
                continue
            }
            do {
                compiled.append(try compileRule(document, top))
            } catch {
                result.errors.append(error)
            }
        }
        var byReference: [String: Int] = [:]
        for (index, entry) in compiled.enumerated() {
            for key in Set([entry.id] + (entry.name.map { [$0] } ?? [])) {
                if let first = byReference[key] {
                    let origin = entry.rule?.origin ?? entry.unsupported.first?.origin ?? Origin(file: "", line: 0, column: 0)
                    let firstOrigin = compiled[first].rule?.origin ?? compiled[first].unsupported.first?.origin
                    result.errors.append(SigmaError(code: .duplicateRule, file: origin.file, line: origin.line, column: origin.column,
                                                    message: "rule '\(key)' is defined twice (first at \(firstOrigin.map(\.description) ?? "?"))"))
                    continue
                }
                byReference[key] = index
            }
        }
        for document in filters {
            do { try applyFilter(document, to: &compiled, byReference: byReference, result: &result) } catch { result.errors.append(error) }
        }
        for document in correlations {
            do {
                let (entry, muted) = try compileCorrelation(document, compiled: compiled, byReference: byReference)
                compiled.append(entry)
                if entry.rule != nil { result.mutedRuleIDs.formUnion(muted) }
                for key in [entry.id, entry.name].compactMap({ $0 }) where byReference[key] == nil {
                    byReference[key] = compiled.count - 1
                }
            } catch {
                result.errors.append(error)
            }
        }
        for entry in compiled {
            if entry.unsupported.isEmpty, let rule = entry.rule {
                result.rules.append(rule)
            } else {
                result.unsupported += entry.unsupported
            }
        }
        return result
    }

    private func origin(_ value: YAMLValue) -> Origin { Origin(file: value.file, line: value.line, column: value.column) }

    /// The rule key: `id`, else `name`, else `file:line`.
    private func identity(_ document: YAMLValue, _ top: YAMLMapping) throws(SigmaError) -> (id: String, name: String?) {
        do {
            let id = try top.optional("id")?.string()
            let name = try top.optional("name")?.string()
            return (id ?? name ?? "\(document.file):\(document.line)", name)
        } catch {
            throw SigmaError(error)
        }
    }

    /// Fills title, description, level, score and tags.
    private func metadata(_ top: YAMLMapping, id: String, match: Expression, origin: Origin) throws(SigmaError) -> Rule {
        do {
            let title = try top.required("title").string()
            var severity = Severity.medium
            if let level = top.optional("level") {
                guard let parsed = Severity(name: try level.string()) else {
                    throw SigmaError(at: level, "level is informational, low, medium, high or critical")
                }
                severity = parsed
            }
            var tags: [String] = []
            for tag in try top.optional("tags")?.sequence() ?? [] { tags.append(try tag.string()) }
            return Rule(id: id, title: title, description: try top.optional("description")?.string() ?? "",
                        severity: severity, score: Self.score(severity), tags: tags, match: match, origin: origin)
        } catch let error as SigmaError {
            throw error
        } catch let error as YAMLError {
            throw SigmaError(error)
        } catch {
            throw SigmaError(at: top.value, "\(error)")
        }
    }

    /// The score of a level: informational 10, low 25, medium 50, high 75, critical 90.
    public static func score(_ severity: Severity) -> Int {
        switch severity {
        case .informational: 10
        case .low: 25
        case .medium: 50
        case .high: 75
        case .critical: 90
        }
    }

    /// The logsource's resolution, or a stand-in that maps every field to itself (so that the
    /// rest of the rule is still checked) and the logsource's unsupported constructs.
    private func resolve(_ top: YAMLMapping, at document: YAMLValue, rule: String)
        throws(SigmaError) -> (SigmaLogsourceResolution, [Unsupported])
    {
        do {
            let node = try top.required("logsource")
            let logsource = try node.mapping()
            let product = try logsource.optional("product")?.string()
            let category = try logsource.optional("category")?.string()
            let service = try logsource.optional("service")?.string()
            switch mapping.resolve(product: product, category: category, service: service) {
            case .success(let resolution):
                return (resolution, [])
            case .failure(let list):
                return (SigmaLogsourceResolution.identity,
                        list.items.map { Unsupported(rule: rule, origin: origin(node), construct: $0.construct, detail: $0.detail) })
            }
        } catch {
            throw SigmaError(error)
        }
    }

    private func compileRule(_ document: YAMLValue, _ top: YAMLMapping) throws(SigmaError) -> Compiled {
        let (id, name) = try identity(document, top)
        guard let detectionNode = top["detection"] else {
            throw SigmaError(at: document, "a Sigma rule needs 'detection' (or 'correlation', or 'filter')")
        }
        let (resolution, logsourceProblems) = try resolve(top, at: document, rule: id)
        var compiler = SigmaDetectionCompiler(rule: id, resolution: resolution)
        compiler.unsupported = logsourceProblems
        let (expression, aggregation) = try detection(detectionNode, conditionKey: "condition", compiler: &compiler,
                                                     allowAggregation: true)
        let match = logsourceProblems.isEmpty ? Expression.allOf([resolution.condition, expression]) : expression
        var rule = try metadata(top, id: id, match: match, origin: origin(document))
        rule.aggregation = aggregation
        return Compiled(id: id, name: name, rule: rule, resolution: logsourceProblems.isEmpty ? resolution : nil,
                        unsupported: compiler.unsupported)
    }

    /// Compiles the search identifiers of `node` and its condition.
    private func detection(_ node: YAMLValue, conditionKey: String, compiler: inout SigmaDetectionCompiler,
                           allowAggregation: Bool, skipping: Set<String> = []) throws(SigmaError)
        -> (Expression, Aggregation?)
    {
        let map: YAMLMapping
        do { map = try node.mapping() } catch { throw SigmaError(error) }
        var names: [String] = []
        var selections: [String: Expression] = [:]
        for entry in map.entries where entry.key != conditionKey && entry.key != "timeframe" && !skipping.contains(entry.key) {
            names.append(entry.key)
            selections[entry.key] = try compiler.selection(entry.value)
        }
        guard let conditionNode = map[conditionKey] else {
            throw SigmaError(at: node, "missing '\(conditionKey)'", code: .invalidCondition)
        }
        var conditions: [YAMLValue] = []
        if let list = try? conditionNode.sequence() { conditions = list } else { conditions = [conditionNode] }
        if conditions.isEmpty { throw SigmaError(at: conditionNode, "the condition is empty", code: .invalidCondition) }
        var expressions: [Expression] = []
        var aggregation: Aggregation? = nil
        for condition in conditions {
            let text: String
            do { text = try condition.string() } catch { throw SigmaError(error, code: .invalidCondition) }
            func positioned(_ offset: Int, _ message: String) -> SigmaError {
                SigmaError(code: .invalidCondition, file: condition.file, line: condition.line,
                           column: condition.column + offset, message: message)
            }
            let parsed: (SigmaCondition, SigmaConditionAggregation?)
            do { parsed = try SigmaConditionParser.parse(text) } catch { throw positioned(error.offset, error.message) }
            let expression = try compile(parsed.0, names: names, selections: selections, positioned: positioned)
            expressions.append(expression)
            if let old = parsed.1 {
                guard allowAggregation, conditions.count == 1 else {
                    compiler.report(condition, "condition aggregation", "an aggregation among several conditions")
                    continue
                }
                aggregation = oldAggregation(old, detection: map, condition: condition, compiler: &compiler)
            }
        }
        if aggregation == nil, let timeframe = map["timeframe"], allowAggregation {
            _ = timeframe  // a timeframe without an aggregation changes nothing
        }
        return (Expression.anyOf(expressions), aggregation)
    }

    private func compile(_ condition: SigmaCondition, names: [String], selections: [String: Expression],
                         positioned: (Int, String) -> SigmaError) throws(SigmaError) -> Expression {
        func group(_ pattern: String, _ offset: Int) throws(SigmaError) -> [Expression] {
            let matching = pattern == "them" ? names.filter { !$0.hasPrefix("_") } : names.filter { SigmaGlob.matches(pattern, $0) }
            if matching.isEmpty { throw positioned(offset, "no search identifier matches '\(pattern)'") }
            return matching.compactMap { selections[$0] }
        }
        switch condition {
        case .identifier(let name, let offset):
            guard let expression = selections[name] else {
                var message = "unknown search identifier '\(name)'"
                if let close = names.min(by: { Self.distance($0, name) < Self.distance($1, name) }),
                   Self.distance(close, name) <= max(2, name.count / 3) {
                    message += " (did you mean '\(close)'?)"
                }
                throw positioned(offset, message)
            }
            return expression
        case .oneOf(let pattern, let offset):
            return Expression.anyOf(try group(pattern, offset))
        case .allOf(let pattern, let offset):
            return Expression.allOf(try group(pattern, offset))
        case .and(let parts):
            var out: [Expression] = []
            for part in parts { out.append(try compile(part, names: names, selections: selections, positioned: positioned)) }
            return Expression.allOf(out)
        case .or(let parts):
            var out: [Expression] = []
            for part in parts { out.append(try compile(part, names: names, selections: selections, positioned: positioned)) }
            return Expression.anyOf(out)
        case .not(let inner):
            return .not(try compile(inner, names: names, selections: selections, positioned: positioned))
        }
    }

    /// Levenshtein distance, for suggestions.
    static func distance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + Array(repeating: 0, count: b.count)
            for j in stride(from: 1, through: b.count, by: 1) {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// A window of `size` ns hopping by size / ``windowHops``.
    func window(_ size: Int64) -> WindowKind {
        let advance = max(size / windowHops, 1)
        return advance >= size ? .tumbling(size: size) : .hopping(size: size, advance: advance)
    }

    private func oldAggregation(_ old: SigmaConditionAggregation, detection: YAMLMapping, condition: YAMLValue,
                                compiler: inout SigmaDetectionCompiler) -> Aggregation? {
        guard old.function == "count" else {
            compiler.report(condition, "condition aggregation \(old.function)", "Vigil runs count() aggregations only")
            return nil
        }
        let minimum: Int64
        switch old.comparison {
        case ">": minimum = old.value + 1
        case ">=": minimum = old.value
        default:
            compiler.report(condition, "condition aggregation \(old.comparison)",
                            "only '>' and '>=' thresholds run on a stream (an alert cannot wait for a count to stay low)")
            return nil
        }
        guard let timeframe = detection["timeframe"] else {
            compiler.report(condition, "condition aggregation without timeframe", "an unbounded count needs a window")
            return nil
        }
        let size: Int64
        do { size = try timeframe.duration(range: 1...Int64.max) } catch {
            compiler.report(timeframe, "timeframe \((try? timeframe.string()) ?? "")", error.message)
            return nil
        }
        var groupBy: [String] = []
        for name in old.groupBy {
            guard let fields = compiler.resolution.vigilFields(name), fields.count == 1 else {
                compiler.report(condition, "field \(name)", "the group-by field '\(name)' has no single Vigil field in the mapping for \(compiler.resolution.description)")
                return nil
            }
            groupBy.append(fields[0])
        }
        if let field = old.field {
            guard let fields = compiler.resolution.vigilFields(field), fields.count == 1 else {
                compiler.report(condition, "field \(field)", "the counted field '\(field)' has no single Vigil field in the mapping for \(compiler.resolution.description)")
                return nil
            }
            return .distinct(field: fields[0], groupBy: groupBy, window: window(size), minimum: minimum)
        }
        return .threshold(groupBy: groupBy, window: window(size), minimum: minimum)
    }

    // MARK: - Filters

    private func applyFilter(_ document: YAMLValue, to compiled: inout [Compiled], byReference: [String: Int],
                             result: inout SigmaLoadResult) throws(SigmaError) {
        let top: YAMLMapping
        do { top = try document.mapping() } catch { throw SigmaError(error) }
        let (id, _) = try identity(document, top)
        let filterNode = top["filter"]!
        let filter: YAMLMapping
        do { filter = try filterNode.mapping() } catch { throw SigmaError(error) }
        guard let rulesNode = filter["rules"] else { throw SigmaError(at: filterNode, "a filter needs 'rules'") }
        var targets: [(String, YAMLValue)] = []
        do {
            if let list = try? rulesNode.sequence() {
                for element in list { targets.append((try element.string(), element)) }
            } else {
                targets.append((try rulesNode.string(), rulesNode))
            }
        } catch { throw SigmaError(error) }
        let (resolution, logsourceProblems) = try resolve(top, at: document, rule: id)
        var compiler = SigmaDetectionCompiler(rule: id, resolution: resolution)
        compiler.unsupported = logsourceProblems
        let (expression, _) = try detection(filterNode, conditionKey: "condition", compiler: &compiler, allowAggregation: false,
                                            skipping: ["rules"])
        for (reference, node) in targets {
            guard let index = byReference[reference] else {
                throw SigmaError(at: node, "the filter names rule '\(reference)', which was not loaded", code: .unknownReference)
            }
            if compiler.unsupported.isEmpty, var rule = compiled[index].rule {
                rule.match = Expression.allOf([rule.match, expression])
                compiled[index].rule = rule
            }
        }
        // An unsupported filter leaves its rules unfiltered (more alerts, none missed) and is reported.
        result.unsupported += compiler.unsupported
    }

    // MARK: - Correlations

    private func compileCorrelation(_ document: YAMLValue, compiled: [Compiled], byReference: [String: Int])
        throws(SigmaError) -> (Compiled, Set<String>)
    {
        do {
            return try compileCorrelationThrowing(document, compiled: compiled, byReference: byReference)
        } catch let error as SigmaError {
            throw error
        } catch let error as YAMLError {
            throw SigmaError(error)
        } catch {
            throw SigmaError(at: document, "\(error)")
        }
    }

    private func compileCorrelationThrowing(_ document: YAMLValue, compiled: [Compiled], byReference: [String: Int])
        throws -> (Compiled, Set<String>)
    {
        let top = try document.mapping()
        let (id, name) = try identity(document, top)
        let node = top["correlation"]!
        let correlation = try node.mapping(allowedKeys: ["type", "rules", "group-by", "timespan", "timeframe", "condition",
                                                         "aliases", "generate"])
        var problems: [Unsupported] = []
        func report(_ at: YAMLValue, _ construct: String, _ detail: String) {
            problems.append(Unsupported(rule: id, origin: origin(at), construct: construct, detail: detail))
        }
        let typeNode = try correlation.required("type")
        let type = try typeNode.string()
        // Referenced rules.
        let rulesNode = try correlation.required("rules")
        var referenced: [(key: String, entry: Compiled, node: YAMLValue)] = []
        let ruleNodes = (try? rulesNode.sequence()) ?? [rulesNode]
        for element in ruleNodes {
            let key = try element.string()
            guard let index = byReference[key] else {
                throw SigmaError(at: element, "the correlation names rule '\(key)', which was not loaded", code: .unknownReference)
            }
            referenced.append((key, compiled[index], element))
        }
        for item in referenced {
            if item.entry.isCorrelation {
                report(item.node, "correlation of a correlation", "rule '\(item.key)' is itself a correlation")
            } else if !item.entry.unsupported.isEmpty || item.entry.rule == nil {
                report(item.node, "correlation of an unsupported rule",
                       "rule '\(item.key)' is unsupported: \(item.entry.unsupported.map(\.construct).joined(separator: ", "))")
            } else if item.entry.rule?.aggregation != nil {
                report(item.node, "correlation of an aggregating rule", "rule '\(item.key)' has its own aggregation")
            }
        }
        // Window.
        var size: Int64 = 0
        if let timespan = correlation.optional("timespan") ?? correlation.optional("timeframe") {
            size = try timespan.duration(range: 1...Int64.max)
        } else {
            report(node, "correlation without timespan", "a correlation needs a window")
        }
        // Group-by through aliases.
        var aliases: [String: [String: String]] = [:]
        for alias in try correlation.optional("aliases")?.mapping().entries ?? [] {
            aliases[alias.key] = try alias.value.stringMap()
        }
        /// The Vigil field of a correlation field name in each referenced rule (through its alias
        /// and its logsource's mapping), in the order of `referenced`.
        func vigilFields(_ sigmaName: String, at place: YAMLValue, role: String) -> [String]? {
            var out: [String] = []
            for item in referenced {
                guard let resolution = item.entry.resolution else { return nil }
                let perRule = aliases[sigmaName].flatMap { table in
                    [item.entry.name, item.entry.id, item.key].compactMap { $0 }.lazy.compactMap { table[$0] }.first
                } ?? sigmaName
                guard let fields = resolution.vigilFields(perRule), fields.count == 1 else {
                    report(place, "field \(perRule)",
                           "the \(role) field '\(perRule)' has no single Vigil field in the mapping for \(resolution.description)")
                    return nil
                }
                out.append(fields[0])
            }
            return out
        }
        // Per referenced rule: its group-by fields. When the rules disagree (aliases to different
        // fields), each event is keyed by the fields of the referenced rule it matches.
        var perRuleGroupBy: [[String]] = Array(repeating: [], count: referenced.count)
        if let groupNode = correlation.optional("group-by") {
            for element in (try? groupNode.sequence()) ?? [groupNode] {
                guard let fields = vigilFields(try element.string(), at: element, role: "group-by") else { continue }
                for k in fields.indices { perRuleGroupBy[k].append(fields[k]) }
            }
        }
        let groupBy = perRuleGroupBy.first ?? []
        var perRuleCounted: [String]? = nil
        // Condition.
        var minimum: Int64? = nil
        var countedField: String? = nil
        if let conditionNode = correlation.optional("condition") {
            let condition = try conditionNode.mapping()
            for entry in condition.entries {
                switch entry.key {
                case "gte": minimum = Int64(try entry.value.int(range: 0...Int.max))
                case "gt": minimum = Int64(try entry.value.int(range: 0...(Int.max - 1))) + 1
                case "field":
                    countedField = try entry.value.string()
                case "lt", "lte", "eq", "neq":
                    report(entry.keyValue, "correlation condition \(entry.key)",
                           "only 'gte' and 'gt' run on a stream (an alert cannot wait for a count to stay low)")
                default:
                    throw SigmaError(at: entry.keyValue, "unknown correlation condition '\(entry.key)'")
                }
            }
        }
        let matches = referenced.compactMap { $0.entry.rule?.match }
        let within = size
        var aggregation: Aggregation? = nil
        switch type {
        case "event_count":
            if minimum == nil && problems.isEmpty { report(node, "correlation without condition", "event_count needs gte or gt") }
            aggregation = .threshold(groupBy: groupBy, window: window(max(within, 1)), minimum: minimum ?? 1)
        case "value_count":
            var field: String? = nil
            if let countedField, let conditionNode = correlation["condition"] {
                perRuleCounted = vigilFields(countedField, at: conditionNode, role: "counted")
                field = perRuleCounted?.first
            } else {
                report(node, "value_count without field", "value_count needs condition.field")
            }
            if minimum == nil && problems.isEmpty { report(node, "correlation without condition", "value_count needs gte or gt") }
            aggregation = .distinct(field: field ?? "", groupBy: groupBy, window: window(max(within, 1)), minimum: minimum ?? 1)
        case "temporal", "temporal_ordered":
            if let minimum, minimum != Int64(referenced.count) {
                report(correlation["condition"] ?? node, "correlation condition on temporal",
                       "\(minimum) of \(referenced.count) rules; Vigil's sequences need every rule")
            }
            let steps = referenced.compactMap { item in
                item.entry.rule.map { SequenceStep(name: item.entry.name ?? item.entry.id, match: $0.match) }
            }
            aggregation = .sequence(steps: steps, groupBy: groupBy, within: within, ordered: type == "temporal_ordered")
        default:
            report(typeNode, "correlation type \(type)", "Vigil runs event_count, value_count, temporal and temporal_ordered")
        }
        var generate = false
        if let generateNode = correlation.optional("generate") ?? top.optional("generate") { generate = try generateNode.bool() }
        var rule = try metadata(top, id: id, match: Expression.anyOf(matches), origin: origin(document))
        rule.aggregation = aggregation
        if Set(perRuleGroupBy).count > 1 || Set(perRuleCounted ?? []).count > 1 {
            rule.keyAliases = referenced.indices.compactMap { k in
                referenced[k].entry.rule.map { KeyAlias(match: $0.match, groupBy: perRuleGroupBy[k], field: perRuleCounted?[k]) }
            }
        }
        let muted: Set<String> = generate ? [] : Set(referenced.compactMap { $0.entry.rule?.id })
        return (Compiled(id: id, name: name, rule: problems.isEmpty ? rule : nil, resolution: nil, unsupported: problems,
                         isCorrelation: true), muted)
    }
}
