import VigilCore
import VigilYAML

/// `type: asa`: Cisco ASA (and FTD/PIX/FWSM) syslog messages.
///
/// ```
/// [<PRI>][timestamp[:] ][host ]%ASA-6-302013: Built inbound TCP connection 7 for outside:10.0.0.1/5000 (10.0.0.1/5000) to inside:10.0.0.2/80 (10.0.0.2/80)
/// ```
/// - The optional syslog header gives `log.syslog.*` and `@timestamp` (`Mmm dd HH:mm:ss`, the
///   Cisco form with a year `Mmm dd yyyy HH:mm:ss:`, or RFC 3339; times without an offset are in
///   the `timezone` option, default UTC).
/// - The tag gives `observer.vendor` (Cisco), `observer.product` (ASA, FTD, …),
///   `observer.type` (firewall), `event.code` (the message id), `log.level` (Cisco's level name:
///   emergencies, alerts, critical, errors, warnings, notifications, informational, debugging)
///   and `message` (the text after the tag).
/// - The text is matched against the layouts for its id (`ASAParser+Messages.swift`), giving
///   `source.*`, `destination.*`, `network.transport`/`direction`/`iana_number`/`bytes`,
///   `event.action` (lowercase, as written: built, teardown, deny, denied, discarded…),
///   `user.name`, `rule.name`, `icmp.*`, `cisco.asa.*`. A text that matches no layout, or an id
///   without layouts, keeps only the fields above (the line is not rejected); a line without an
///   `%ASA-n-nnnnnn:` tag is.
///
/// Options: `timezone`.
public struct ASAParser: LineParser {
    public let zone: TimeZoneRule

    public init(zone: TimeZoneRule = .utc) { self.zone = zone }

    public static let build: ParserBuilder = { context throws(YAMLError) in
        let options = try context.options(allowedKeys: ["timezone"])
        return ASAParser(zone: try PostStep.zoneRule(options?.optional("timezone")))
    }

    static let levelNames = ["emergencies", "alerts", "critical", "errors", "warnings", "notifications", "informational", "debugging"]

    public func parse(_ line: UnsafeRawBufferPointer, into event: inout Event, context: ParseContext) throws(ParseFailure) {
        let b = line
        // The tag: %PRODUCT-L-NNNNNN:
        var search = 0
        var found: (start: Int, product: Range<Int>, level: Int, id: Range<Int>, textStart: Int)?
        while found == nil, let percent = (search < b.count ? (search..<b.count).first(where: { b[$0] == 0x25 }) : nil) {
            search = percent + 1
            var i = percent + 1
            let productStart = i
            while i < b.count, i - productStart < 8, FormatBytes.isLetter(b[i]) { i += 1 }
            guard i > productStart, i + 2 < b.count, b[i] == 0x2D, FormatBytes.isDigit(b[i + 1]), b[i + 2] == 0x2D else { continue }
            let product = productStart..<i
            let level = Int(b[i + 1] - 0x30)
            i += 3
            let idStart = i
            while i < b.count, i - idStart < 8, FormatBytes.isDigit(b[i]) { i += 1 }
            guard i > idStart, i < b.count, b[i] == FormatBytes.colon, level <= 7 else { continue }
            let id = idStart..<i
            i += 1
            while i < b.count, b[i] == FormatBytes.space { i += 1 }
            found = (percent, product, level, id, i)
        }
        guard let tag = found else { throw ParseFailure("no %ASA-n-nnnnnn: message tag") }
        let prefix = EmbeddedSyslogPrefix.parse(b, 0..<tag.start, zone: zone, reference: context.referenceTime)
        prefix.apply(to: &event, b)
        let code = FormatBytes.string(b, tag.id)
        event["observer.vendor"] = .string("Cisco")
        event["observer.product"] = .string(FormatBytes.string(b, tag.product))
        event["observer.type"] = .string("firewall")
        event["event.code"] = .string(code)
        event["log.level"] = .string(Self.levelNames[tag.level])
        var textEnd = b.count
        while textEnd > tag.textStart, b[textEnd - 1] == FormatBytes.space || b[textEnd - 1] == 0x0D { textEnd -= 1 }
        let text = tag.textStart..<textEnd
        event["message"] = .string(FormatBytes.string(b, text))

        let table = ASAMessages.compiled
        var layouts: [ASALayout] = table.layouts[code] ?? []
        if layouts.isEmpty, ASAMessages.ikePrefixes.contains(String(code.prefix(3))) { layouts = [table.ike] }
        guard !layouts.isEmpty else { return }
        withUnsafeTemporaryAllocation(of: ASALayout.Capture.self, capacity: 24) { captures in
            for layout in layouts {
                var count = 0
                guard layout.match(b, text, captures: captures, count: &count) else { continue }
                for k in 0..<count { Self.set(captures[k], b, table.fields, into: &event) }
                break
            }
        }
        if event["network.transport"] == nil, let iana = event["network.iana_number"]?.stringValue, let n = Int64(iana),
           let name = IANAProtocol.name(n) {
            event["network.transport"] = .string(name)
        }
    }

    private static func set(_ capture: ASALayout.Capture, _ b: UnsafeRawBufferPointer, _ fields: [String], into event: inout Event) {
        guard capture.field < fields.count else { return }
        let field = fields[capture.field]
        switch capture.kind {
        case .ip:
            if let ip = FormatBytes.ip(b, capture.range) { event[field] = .ip(ip) }
        case .int:
            if let n = FormatBytes.int(b, capture.range) { event[field] = .int(n) }
        case .word, .text, .rest:
            event[field] = .string(FormatBytes.string(b, capture.range))
        case .lowerWord, .lowerText:
            event[field] = .string(FormatBytes.string(b, capture.range).lowercased())
        }
    }
}
