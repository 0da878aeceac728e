import VigilCore

/// Gives known fields their schema types after parsing: text parsers produce strings and
/// numbers, the schema says `source.ip` is an IP and `source.port` an int. A value that cannot
/// take its field's type fails the line (it would otherwise poison every consumer).
public enum SchemaNormalizer {
    @inline(__always)
    public static func normalize(_ event: inout Event, context: ParseContext) throws(ParseFailure) {
        // Most events already fit, and the event knows it: nothing to look at (inlined: a load
        // and a test per parser and line).
        guard event.mayMismatchSchema else { return }
        try convertMismatches(&event, context: context)
    }

    @inline(never)
    private static func convertMismatches(_ event: inout Event, context: ParseContext) throws(ParseFailure) {
        var changes: [(String, FieldValue)] = []
        for field in event.fields {
            guard let known = Schema.field(id: field.schemaID), !known.type.accepts(field.value) else { continue }
            guard let converted = convert(field.value, to: known.type, context: context) else {
                throw ParseFailure("field \(field.key) expects \(known.type), got \(field.value.typeName) '\(field.value.plainText.prefix(64))'")
            }
            changes.append((field.key, converted))
        }
        for (key, value) in changes { event[key] = value }
    }

    static func convert(_ value: FieldValue, to type: Schema.FieldType, context: ParseContext) -> FieldValue? {
        switch type {
        case .string: return PostStep.convert(value, to: .string, reference: context.referenceTime)
        case .int: return PostStep.convert(value, to: .int, reference: context.referenceTime)
        case .float: return PostStep.convert(value, to: .float, reference: context.referenceTime)
        case .bool: return PostStep.convert(value, to: .bool, reference: context.referenceTime)
        case .ip: return PostStep.convert(value, to: .ip, reference: context.referenceTime)
        case .timestamp: return PostStep.convert(value, to: .timestamp, reference: context.referenceTime)
        case .array(let element):
            // A single value where a list is expected becomes a one-element list.
            let items = value.arrayValue ?? [value]
            var out: [FieldValue] = []
            for item in items {
                if element.accepts(item) { out.append(item); continue }
                guard let c = convert(item, to: element, context: context) else { return nil }
                out.append(c)
            }
            return .array(out)
        case .object: return nil
        }
    }
}
