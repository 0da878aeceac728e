import VigilCore

/// A ``KeyAlias`` compiled: which referenced rule an event belongs to, and its fields.
struct CompiledKeyAlias: Sendable {
    let match: CompiledExpression
    let groupBy: [String]
    let field: String?

    static func compile(_ aliases: [KeyAlias], lists: (any RuleLists)?, origin: Origin) throws(RuleError) -> [CompiledKeyAlias] {
        var out: [CompiledKeyAlias] = []
        for a in aliases {
            out.append(CompiledKeyAlias(match: try CompiledExpression(a.match, lists: lists, origin: origin), groupBy: a.groupBy, field: a.field))
        }
        return out
    }
}

extension CompiledRule {
    /// The group-by fields (and the counted field) for `event`: those of the first aliased
    /// referenced rule it matches, else the aggregation's own.
    func aliased(_ event: Event) -> (groupBy: [String], field: String?) {
        for a in aliases where a.match.matches(event) { return (a.groupBy, a.field) }
        var field: String?
        if case .distinct(let f, _, _, _)? = rule.aggregation { field = f }
        return (groupBy, field)
    }

    /// The group-by fields `event` is keyed by (the aggregation's, or an alias's).
    func groupFields(_ event: Event) -> [String] { aliases.isEmpty ? groupBy : aliased(event).groupBy }
}
