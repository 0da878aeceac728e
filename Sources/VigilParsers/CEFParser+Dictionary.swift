import VigilCore

/// The CEF extension dictionary: short key → full name, and the ECS field (with its type) a value
/// goes to. Keys absent here go to `cef.extensions.<key>` unchanged.
enum CEFDictionary {
    enum Kind: Sendable {
        case string, int, float, ip, port, mac, timestamp
        /// Lowercased text (`network.transport`).
        case lowercase
        /// CEF `deviceDirection`: 0 → inbound, 1 → outbound.
        case direction
    }

    struct Entry: Sendable {
        /// The CEF full name (`sourceAddress`), used under `cef.extensions.` when the value does not
        /// fit `field`'s type or when there is no ECS field.
        let fullName: String
        /// The ECS field, or nil.
        let field: Event.Key?
        let kind: Kind
    }

    /// Short and full names; both spellings map the same way.
    static let entries: [String: Entry] = {
        let table: [(String, String, String?, Kind)] = [
            ("act", "deviceAction", "event.action", .string),
            ("app", "applicationProtocol", "network.protocol", .lowercase),
            ("cat", "deviceEventCategory", nil, .string),
            ("cnt", "baseEventCount", nil, .int),
            ("dhost", "destinationHostName", "destination.domain", .string),
            ("dmac", "destinationMacAddress", "destination.mac", .mac),
            ("dntdom", "destinationNtDomain", "destination.user.domain", .string),
            ("dpid", "destinationProcessId", "destination.process.pid", .int),
            ("dpriv", "destinationUserPrivileges", nil, .string),
            ("dproc", "destinationProcessName", "destination.process.name", .string),
            ("dpt", "destinationPort", "destination.port", .port),
            ("dst", "destinationAddress", "destination.ip", .ip),
            ("duid", "destinationUserId", "destination.user.id", .string),
            ("duser", "destinationUserName", "destination.user.name", .string),
            ("dvc", "deviceAddress", "observer.ip", .ip),
            ("dvchost", "deviceHostName", "observer.hostname", .string),
            ("dvcmac", "deviceMacAddress", "observer.mac", .mac),
            ("dvcpid", "deviceProcessId", "process.pid", .int),
            ("end", "endTime", "event.end", .timestamp),
            ("fname", "fileName", "file.name", .string),
            ("fsize", "fileSize", "file.size", .int),
            ("in", "bytesIn", "source.bytes", .int),
            ("msg", "message", "message", .string),
            ("out", "bytesOut", "destination.bytes", .int),
            ("outcome", "eventOutcome", "event.outcome", .lowercase),
            ("proto", "transportProtocol", "network.transport", .lowercase),
            ("request", "requestUrl", "url.original", .string),
            ("requestMethod", "requestMethod", "http.request.method", .string),
            ("requestClientApplication", "requestClientApplication", "user_agent.original", .string),
            ("requestContext", "requestContext", "http.request.referrer", .string),
            ("rt", "deviceReceiptTime", "@timestamp", .timestamp),
            ("shost", "sourceHostName", "source.domain", .string),
            ("smac", "sourceMacAddress", "source.mac", .mac),
            ("sntdom", "sourceNtDomain", "user.domain", .string),
            ("spid", "sourceProcessId", "source.process.pid", .int),
            ("spriv", "sourceUserPrivileges", nil, .string),
            ("sproc", "sourceProcessName", "source.process.name", .string),
            ("spt", "sourcePort", "source.port", .port),
            ("src", "sourceAddress", "source.ip", .ip),
            ("start", "startTime", "event.start", .timestamp),
            ("suid", "sourceUserId", "user.id", .string),
            ("suser", "sourceUserName", "user.name", .string),
            ("deviceDirection", "deviceDirection", "network.direction", .direction),
            ("deviceExternalId", "deviceExternalId", "observer.serial_number", .string),
            ("deviceInboundInterface", "deviceInboundInterface", "observer.ingress.interface.name", .string),
            ("deviceOutboundInterface", "deviceOutboundInterface", "observer.egress.interface.name", .string),
            ("deviceProcessName", "deviceProcessName", "process.name", .string),
            ("sourceTranslatedAddress", "sourceTranslatedAddress", "source.nat.ip", .ip),
            ("sourceTranslatedPort", "sourceTranslatedPort", "source.nat.port", .port),
            ("destinationTranslatedAddress", "destinationTranslatedAddress", "destination.nat.ip", .ip),
            ("destinationTranslatedPort", "destinationTranslatedPort", "destination.nat.port", .port),
            ("filePath", "filePath", "file.path", .string),
            ("fileHash", "fileHash", "file.hash", .string),
            ("reason", "reason", "event.reason", .string),
            ("externalId", "externalId", "event.id", .string),
            ("slat", "sourceGeoLatitude", "source.geo.location.lat", .float),
            ("slong", "sourceGeoLongitude", "source.geo.location.lon", .float),
            ("dlat", "destinationGeoLatitude", "destination.geo.location.lat", .float),
            ("dlong", "destinationGeoLongitude", "destination.geo.location.lon", .float),
            ("agt", "agentAddress", "agent.ip", .ip),
            ("ahost", "agentHostName", "agent.name", .string),
        ]
        var out: [String: Entry] = [:]
        for (short, full, field, kind) in table {
            let entry = Entry(fullName: full, field: field.map(Event.Key.init), kind: kind)
            out[short] = entry
            if out[full] == nil { out[full] = entry }
        }
        // Custom fields, named by their labels when present.
        for n in 1...6 { out["cs\(n)"] = Entry(fullName: "deviceCustomString\(n)", field: nil, kind: .string) }
        for n in 1...3 { out["cn\(n)"] = Entry(fullName: "deviceCustomNumber\(n)", field: nil, kind: .int) }
        for n in 1...4 { out["cfp\(n)"] = Entry(fullName: "deviceCustomFloatingPoint\(n)", field: nil, kind: .float) }
        for n in 1...4 { out["c6a\(n)"] = Entry(fullName: "deviceCustomIPv6Address\(n)", field: nil, kind: .string) }
        return out
    }()

    /// `entries`, looked up with the key's bytes.
    static let table = ByteKeyedTable(entries)

    /// Sets the field for one pair (`valueRange` is trimmed but still escaped).
    static func set(key b: UnsafeRawBufferPointer, _ keyRange: Range<Int>, value valueRange: Range<Int>, into event: inout Event,
                    zone: TimeZoneRule, reference: Timestamp) {
        guard let entry = table.value(for: UnsafeRawBufferPointer(rebasing: b[keyRange])) else {
            let key = FormatBytes.string(b, keyRange)
            event["cef.extensions." + key] = .string(FormatBytes.unescaped(b, valueRange, simple: "=", controls: true))
            return
        }
        if let field = entry.field, !FormatBytes.contains(b, valueRange, FormatBytes.backslash) {
            // Without escapes the value is its bytes: the common kinds need no `String` (the
            // same values as `typed` gives for the text).
            let bytes = UnsafeRawBufferPointer(rebasing: b[valueRange])
            switch entry.kind {
            case .string, .mac:
                event.setString(field, utf8: bytes)
                return
            case .ip:
                if let ip = IPAddress(parsing: bytes) {
                    event.setIP(field, ip)
                    return
                }
            case .int:
                if let n = FormatBytes.int(b, valueRange) {
                    event.setInt(field, n)
                    return
                }
            case .port:
                if let n = FormatBytes.int(b, valueRange), n >= 0, n <= 65535 {
                    event.setInt(field, n)
                    return
                }
            case .lowercase:
                if setLowercasedASCII(field, bytes, into: &event) { return }
            case .timestamp:
                if let t = CEFTime.parse(bytes, zone: zone, reference: reference) {
                    event.setTimestamp(field, t)
                    return
                }
            case .float, .direction:
                break
            }
        }
        let text = FormatBytes.unescaped(b, valueRange, simple: "=", controls: true)
        if let field = entry.field, let value = typed(text, entry.kind, zone: zone, reference: reference) {
            event[field] = value
            return
        }
        if entry.field == nil, entry.kind != .string, let value = typed(text, entry.kind, zone: zone, reference: reference) {
            event["cef.extensions." + entry.fullName] = value
            return
        }
        event["cef.extensions." + entry.fullName] = .string(text)
    }

    /// Sets `field` to the ASCII text `bytes` in lower case (as `String.lowercased()` does for
    /// ASCII), copying it through a stack buffer; false (nothing set) when the text is not all
    /// ASCII or is long.
    static func setLowercasedASCII(_ field: Event.Key, _ bytes: UnsafeRawBufferPointer, into event: inout Event) -> Bool {
        let n = bytes.count
        guard n <= 64 else { return false }
        return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: max(n, 1)) { out in
            for k in 0..<n {
                let c = bytes[k]
                guard c < 0x80 else { return false }
                out[k] = c >= 0x41 && c <= 0x5A ? c | 0x20 : c
            }
            event.setString(field, utf8: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: out[0..<n])))
            return true
        }
    }

    /// A labelled custom field's value: numbers for `cn*`/`cfp*` when they parse, else text.
    static func customValue(forKey b: UnsafeRawBufferPointer, _ keyRange: Range<Int>, _ text: String) -> FieldValue {
        guard let entry = table.value(for: UnsafeRawBufferPointer(rebasing: b[keyRange])) else { return .string(text) }
        switch entry.kind {
        case .int, .float: return typed(text, entry.kind, zone: .utc, reference: Timestamp(nanoseconds: 0)) ?? .string(text)
        default: return .string(text)
        }
    }

    static func typed(_ text: String, _ kind: Kind, zone: TimeZoneRule, reference: Timestamp) -> FieldValue? {
        switch kind {
        case .string: return .string(text)
        case .lowercase: return .string(text.lowercased())
        case .int: return Int64(text).map(FieldValue.int)
        case .port:
            guard let p = Int64(text), (0...65535).contains(p) else { return nil }
            return .int(p)
        case .float:
            guard let d = Double(text), d.isFinite else { return nil }
            return .float(d)
        case .ip: return IPAddress(text).map(FieldValue.ip)
        case .mac: return .string(text)
        case .timestamp: return CEFTime.parse(text, zone: zone, reference: reference).map(FieldValue.timestamp)
        case .direction:
            switch text {
            case "0": return .string("inbound")
            case "1": return .string("outbound")
            default: return nil
            }
        }
    }
}

/// CEF time values: milliseconds since the epoch, `MMM dd yyyy HH:mm:ss[.SSS][ zone]`,
/// `MMM dd HH:mm:ss[.SSS][ zone]` (year from the reference time), `dd MMMM yyyy HH:mm:ss` and
/// RFC 3339. A zone is an offset (`-0400`) or a name (UTC/GMT; other names use the parser's zone).
enum CEFTime {
    static let formats: [TimestampFormat] = [
        "%b %d %Y %H:%M:%S", "%b %d %Y %H:%M:%S %z", "%b %d %Y %H:%M:%S %Z",
        "%b %d %H:%M:%S", "%b %d %H:%M:%S %z", "%b %d %H:%M:%S %Z",
        "%d %B %Y %H:%M:%S", "%d %b %Y %H:%M:%S", "rfc3339",
    ].compactMap { try? TimestampFormat($0) }
    static let milliseconds = try? TimestampFormat("unix_ms")

    static func parse(_ text: String, zone: TimeZoneRule, reference: Timestamp) -> Timestamp? {
        var bytes = Array(text.utf8)
        return bytes.withUnsafeMutableBytes { parse(UnsafeRawBufferPointer($0), zone: zone, reference: reference) }
    }

    static func parse(_ b: UnsafeRawBufferPointer, zone: TimeZoneRule, reference: Timestamp) -> Timestamp? {
        guard !b.isEmpty, b.count <= 64 else { return nil }
        if b.allSatisfy(FormatBytes.isDigit) { return milliseconds?.parse(b, zone: zone, reference: reference) }
        for f in formats { if let t = f.parse(b, zone: zone, reference: reference) { return t } }
        return nil
    }
}
