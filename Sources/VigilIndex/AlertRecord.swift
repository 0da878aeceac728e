import Foundation
import Synchronization
import VigilCore

/// Alert severities as the rule engine writes them: `event.severity` 0…4 and
/// `vigil.alert.severity` `informational`, `low`, `medium`, `high`, `critical`.
public enum AlertSeverity {
    /// Names by level, 0…4.
    public static let names = ["informational", "low", "medium", "high", "critical"]

    /// The level of a name (case-insensitive) or of a number 0…4; nil for anything else.
    public static func level(_ text: String) -> Int? {
        if let n = Int(text), names.indices.contains(n) { return n }
        return names.firstIndex(of: text.lowercased())
    }

    /// The name of a level; levels outside 0…4 are written as their number.
    public static func name(_ level: Int) -> String {
        names.indices.contains(level) ? names[level] : String(level)
    }
}

/// How IP addresses are stored so that CIDR filters are index range scans: a family byte (4 or
/// 6) followed by the address bytes in network order (5 or 17 bytes). Blobs compare bytewise, so
/// a network is the range from its first to its last address, and IPv4 and IPv6 never mix.
public enum IPKey {
    /// The key of `address`.
    public static func key(_ address: IPAddress) -> [UInt8] {
        var out: [UInt8] = [address.family.rawValue]
        if address.isV4 {
            let v = UInt32(truncatingIfNeeded: address.low)
            out += [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)]
        } else {
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(address.high >> UInt64(shift) & 0xFF)) }
            for shift in stride(from: 56, through: 0, by: -8) { out.append(UInt8(address.low >> UInt64(shift) & 0xFF)) }
        }
        return out
    }

    /// The address a key was made from; nil when the bytes are not a key.
    public static func address(_ key: [UInt8]) -> IPAddress? {
        guard let family = key.first else { return nil }
        switch (family, key.count) {
        case (4, 5), (6, 17): return IPAddress(bytes: key.dropFirst())
        default: return nil
        }
    }

    /// The first and last keys of a network (inclusive).
    public static func range(_ network: IPNetwork) -> (low: [UInt8], high: [UInt8]) {
        let a = network.address
        if a.isV4 {
            let bits = UInt32(truncatingIfNeeded: a.low)
            let hostMask: UInt32 = network.prefixLength == 0 ? .max : (network.prefixLength == 32 ? 0 : (UInt32.max >> UInt32(network.prefixLength)))
            return (key(IPAddress(v4: bits)), key(IPAddress(v4: bits | hostMask)))
        }
        let p = network.prefixLength
        let hiHost: UInt64 = p >= 64 ? 0 : (p == 0 ? .max : UInt64.max >> UInt64(p))
        let loHost: UInt64 = p >= 128 ? 0 : (p <= 64 ? .max : UInt64.max >> UInt64(p - 64))
        return (key(a), key(IPAddress(v6High: a.high | hiHost, low: a.low | loHost)))
    }
}

/// The bytes of a batch of rows read for the block layout: per row its encoding, its text item
/// and its tokens (8 bytes each, little-endian), one row after the other, so that a batch costs a
/// few allocations rather than several per row. Rows point into it with an ``ArenaSpan``.
public final class AlertRowArena: @unchecked Sendable {
    // @unchecked: filled by the reading thread, then read by the writer while the reader waits.
    // exclusivity(unchecked): one thread at a time appends to them (no overlapping accesses).
    @exclusivity(unchecked) var bytes: [UInt8] = []
    @exclusivity(unchecked) var tokens: [UInt64] = []
    /// The batch's run entries (id hashes, source and destination addresses) sorted by key,
    /// each with its row's index as `seq` (``presortRuns(_:)``): the reading thread sorts them
    /// while the writer works, and the writer puts in each written row's sequence number.
    @exclusivity(unchecked) var sortedRuns: RunEntries?
    public init() {}

    /// An arena whose bytes are allocated for `bytes` at once: an array that grows by doubling
    /// copies itself into new memory at each step, and each page of new memory is faulted in
    /// (zeroed by the kernel); reserved pages cost nothing until written.
    init(reserving bytes: Int) {
        self.bytes.reserveCapacity(bytes)
    }

    /// Empties it for the next batch, keeping its capacity.
    public func reset() {
        bytes.removeAll(keepingCapacity: true)
        sortedRuns = nil
    }

    /// Sorts the run entries of `rows`, the batch whose bytes this holds (``sortedRuns``).
    func presortRuns(_ rows: [AlertRow]) {
        var runs = RunEntries(capacity: rows.count)
        rows.withUnsafeBufferPointer { rows in
            for i in rows.indices { runs.add(rows.baseAddress! + i, seq: Int64(i)) }
        }
        runs.sort()
        sortedRuns = runs
    }
}

/// Where a row's bytes lie in its batch's ``AlertRowArena``.
struct ArenaSpan {
    var start: Int
    var encodedCount: Int32
    var itemCount: Int32
    var tokenCount: Int32
    /// The row's `vigil.alert.id`, `user.name` and `vigil.alert.key` as UTF-8 bytes: inside the
    /// encoding when they are strings there (a `user.name` that is another scalar is written as
    /// text after the tokens).
    var id: ArenaString
    var user: ArenaString
    var key: ArenaString
    /// The end of the row's bytes (after its tokens and any text written after them).
    var end: Int
    var itemStart: Int { start + Int(encodedCount) }
    var tokensStart: Int { itemStart + Int(itemCount) }
}

/// Bytes of an ``ArenaSpan``: `count` bytes at `offset` from the span's start; a count of -1
/// for a field the alert does not have.
struct ArenaString {
    var offset: Int32
    var count: Int32
    static let absent = ArenaString(offset: 0, count: -1)

    /// The bytes in `arena` of the row that starts at `start`; nil when absent.
    @inline(__always)
    func bytes(_ arena: UnsafeRawBufferPointer, start: Int) -> UnsafeRawBufferPointer? {
        count < 0 ? nil : UnsafeRawBufferPointer(start: arena.baseAddress! + start + Int(offset), count: Int(count))
    }
}

/// An alert's rule texts: `rule.id`, `rule.name`, `rule.description` and `tags`. The rows the
/// indexer reads share one per distinct set of them, so that a row retains one object for its
/// rule rather than each text.
public final class AlertRuleText: Sendable {
    public let id: String
    public let name: String
    public let description: String
    public let tags: [String]
    /// A number no other rule text object of the process has: rows carry it
    /// (``AlertRow/ruleSerial``), so that the block writer knows a rule it saw without touching
    /// the object, whose reference count the reading thread changes meanwhile.
    let serial: Int

    private static let serials = Atomic<Int>(0)

    public init(id: String, name: String, description: String, tags: [String]) {
        self.id = id
        self.name = name
        self.description = description
        self.tags = tags
        serial = Self.serials.add(1, ordering: .relaxed).newValue
    }
}

/// The parts of an ``AlertRow`` made from an event (see ``AlertRow/parts``).
final class AlertRowParts: Sendable {
    let json: [UInt8]
    let encoded: [UInt8]
    let textItem: [UInt8]
    let tokens: [UInt64]
    let sample: String?
    let searchText: String?

    init(json: [UInt8], encoded: [UInt8], textItem: [UInt8], tokens: [UInt64], sample: String?, searchText: String?) {
        self.json = json
        self.encoded = encoded
        self.textItem = textItem
        self.tokens = tokens
        self.sample = sample
        self.searchText = searchText
    }
}

/// The indexed columns of one alert, taken from its event.
public struct AlertRow: Sendable {
    /// `vigil.alert.id`: one row per id; later versions (a higher `vigil.alert.count`) replace it.
    /// Empty in rows read into an ``AlertRowArena`` (and ``userName``, ``key`` nil): their
    /// ``span`` says where their bytes are (``withStrings(_:arena:_:)``, ``resolved(in:)``).
    public var id: String
    /// `@timestamp` in ns since the epoch.
    public var time: Int64
    /// `rule.id`, `rule.name` (the id when absent), `rule.description` and `tags`.
    public var rule: AlertRuleText
    /// ``AlertRuleText/serial`` of ``rule``.
    var ruleSerial: Int
    public var ruleID: String { rule.id }
    public var ruleName: String { rule.name }
    public var ruleDescription: String { rule.description }
    public var tags: [String] { rule.tags }
    /// `event.severity` (0…4 from the rule engine).
    public var severity: Int
    /// `event.risk_score`.
    public var risk: Double?
    /// `vigil.alert.count`: how many times the alert fired within its suppression window.
    public var count: Int64
    public var sourceIP: IPAddress?
    public var destinationIP: IPAddress?
    public var userName: String?
    /// `vigil.alert.key`: the group-by values.
    public var key: String?
    /// What a row made from an event has (nil in rows read into an ``AlertRowArena``, which
    /// hold their bytes there): one reference, so that copying an arena row retains one object
    /// (its rule) rather than six empty arrays and strings.
    var parts: AlertRowParts?
    /// The alert as JSON (with its sample); empty when the row was made for the block layout
    /// only (`json: false`), which stores ``encoded`` instead.
    public var json: [UInt8] {
        get { parts?.json ?? [] }
        set { parts = AlertRowParts(json: newValue, encoded: encoded, textItem: textItem, tokens: tokens, sample: sample, searchText: searchText) }
    }
    /// The alert in the broker's binary encoding (EventBinaryCodec): what the block layout stores.
    public var encoded: [UInt8] { parts?.encoded ?? [] }
    /// The searched text as the block layout stores it, and its distinct tokens (``textAndTokens(key:user:text:)``).
    var textItem: [UInt8] { parts?.textItem ?? [] }
    var tokens: [UInt64] { parts?.tokens ?? [] }
    /// Where ``encoded``, ``textItem``, ``tokens`` and the bytes of ``id``, ``userName`` and
    /// ``key`` are instead, for rows read into an ``AlertRowArena``.
    var span: ArenaSpan?
    /// ``StableHash/hash(_:)-(String)`` of ``id``, and ``StableHash/fingerprint(_:)-([UInt8])`` of ``encoded``
    /// (made by the reading thread, so that the writer does not).
    var idHash: UInt64
    var fingerprint: UInt64
    /// `vigil.alert.sample`: the triggering event as JSON text (nil in rows read for the block
    /// layout, which keeps only ``textItem``).
    public var sample: String? { parts?.sample }
    /// What the text index holds of the sample: its string values (not keys, numbers or times);
    /// nil in rows read for the block layout, as ``sample``.
    public var searchText: String? { parts?.searchText }

    /// The row for an alert event, or an error saying why it is not one.
    /// - Parameters:
    ///   - fallbackTime: the record's time, used when the alert has no `@timestamp`.
    ///   - encoded: the event's binary encoding when the caller has it (a broker record's value);
    ///     made from `event` otherwise.
    ///   - json: whether to make ``json`` (the row layout stores it; the block layout does not).
    public init(event: Event, fallbackTime: Int64 = 0, encoded: [UInt8]? = nil, json withJSON: Bool = true) throws(AlertIndexError) {
        let values = AlertRecordReader.wanted.enumerated().map { i, name in i == 0 ? event[.timestamp] : event[name] }
        try self.init(values: values, fallbackTime: fallbackTime, encoded: encoded ?? EventBinaryCodec.encode(event),
                      json: withJSON ? EventJSON.encode(event) : [])
    }

    /// The row for an alert in the broker's binary encoding, read without making the event
    /// (``AlertRecordReader``); no ``json``. Bytes that are not a valid event are decoded to
    /// report why.
    public init(encoded bytes: UnsafeRawBufferPointer, fallbackTime: Int64 = 0) throws(AlertIndexError) {
        guard let values = AlertRecordReader.read(bytes) else {
            let event: Event
            do { event = try EventBinaryCodec.decode(bytes) } catch {
                throw AlertIndexError(.notAnAlert, "not a valid event: \(error)")
            }
            try self.init(event: event, fallbackTime: fallbackTime, encoded: Array(bytes), json: false)
            return
        }
        try self.init(values: values, fallbackTime: fallbackTime, encoded: Array(bytes), json: [])
    }

    /// The row for the block layout of an alert in the broker's binary encoding, read with a
    /// reading thread's reused ``AlertRecordReader/Cache``, its bytes in `arena`: the encoding,
    /// the text item (made from the sample's bytes) and its tokens; the id, user name and key are
    /// bytes there too (``ArenaSpan``). No ``json``, ``sample`` or ``searchText``; ``encoded``,
    /// ``textItem`` and ``tokens`` are empty, ``id`` is empty and ``userName``, ``key`` nil
    /// (``resolved(in:)`` fills them in).
    init(encoded bytes: UnsafeRawBufferPointer, fallbackTime: Int64, cache: AlertRecordReader.Cache, arena: AlertRowArena) throws(AlertIndexError) {
        // Not a valid event, or no rule id, or an id that is not a non-empty string: the general
        // path says why.
        guard AlertRecordReader.read(bytes, into: cache), let rule = cache.rule(), let idBytes = cache.id, idBytes.count > 0 else {
            try self.init(encoded: bytes, fallbackTime: fallbackTime)
            return
        }
        self.init(read: bytes, fallbackTime: fallbackTime, cache: cache, arena: arena, rule: rule, idBytes: idBytes)
    }

    /// ``init(encoded:fallbackTime:cache:arena:)`` of a record read into `cache`, with its rule
    /// texts and id.
    private init(read bytes: UnsafeRawBufferPointer, fallbackTime: Int64, cache: AlertRecordReader.Cache, arena: AlertRowArena,
                 rule: AlertRuleText, idBytes: UnsafeRawBufferPointer) {
        // (The finished row is still copied once on its way out, as it was when made by
        // `init(values:)`: with one reference in it, that costs little.)
        let span = Self.appendToArena(bytes, cache: cache, arena: arena, idBytes: idBytes)
        let idHash = StableHash.hash(idBytes), fingerprint = StableHash.fingerprint(bytes)
        let v = cache.values
        id = ""
        self.rule = rule
        ruleSerial = rule.serial
        (time, risk, count, sourceIP, destinationIP) = Self.columns(v, fallbackTime: fallbackTime)
        severity = Self.severity(v[6], name: cache.sharedValue(7))
        userName = nil
        key = nil
        parts = nil
        self.idHash = idHash
        self.fingerprint = fingerprint
        self.span = span
    }

    /// Appends a record read into `cache` to `arena`: its encoding, its text item and tokens, and
    /// a user name that is not a string as its text; returns where they are.
    private static func appendToArena(_ bytes: UnsafeRawBufferPointer, cache: AlertRecordReader.Cache, arena: AlertRowArena,
                                      idBytes: UnsafeRawBufferPointer) -> ArenaSpan {
        let v = cache.values
        let start = arena.bytes.count
        arena.bytes.appendRaw(bytes)
        let base = bytes.baseAddress!
        @inline(__always) func inEncoding(_ b: UnsafeRawBufferPointer?) -> ArenaString {
            guard let b else { return .absent }
            return ArenaString(offset: Int32(truncatingIfNeeded: b.baseAddress! - base), count: Int32(truncatingIfNeeded: b.count))
        }
        // A user name that is another scalar than a string (a number, an address) is its text.
        var userText = cache.user == nil ? v[12]?.scalarText : nil
        let keyBytes = cache.key
        let itemStart = arena.bytes.count
        func appendItem(user: UnsafeRawBufferPointer?) {
            if let sampleBytes = cache.sample {
                appendTextAndTokens(key: keyBytes, user: user, sample: sampleBytes, into: &arena.bytes, tokens: &arena.tokens)
            } else {
                var text = v[14]?.stringValue.map(searchText)
                withOptionalUTF8(&text) { appendTextAndTokens(key: keyBytes, user: user, text: $0, into: &arena.bytes, tokens: &arena.tokens) }
            }
        }
        withOptionalUTF8(&userText) { appendItem(user: $0 ?? cache.user) }
        let tokensStart = arena.bytes.count
        for i in arena.tokens.indices { arena.tokens[i] = arena.tokens[i].littleEndian }
        arena.tokens.withUnsafeBytes { arena.bytes.appendRaw($0) }
        var user = inEncoding(cache.user)
        if userText != nil {
            user = ArenaString(offset: Int32(truncatingIfNeeded: arena.bytes.count - start), count: Int32(truncatingIfNeeded: userText!.utf8.count))
            userText!.withUTF8 { arena.bytes.append(contentsOf: $0) }
        }
        return ArenaSpan(start: start, encodedCount: Int32(bytes.count), itemCount: Int32(tokensStart - itemStart),
                         tokenCount: Int32(arena.tokens.count), id: inEncoding(idBytes), user: user, key: inEncoding(keyBytes),
                         end: arena.bytes.count)
    }

    /// From the values of ``AlertRecordReader/wanted``, in that order.
    private init(values v: [FieldValue?], fallbackTime: Int64, encoded: [UInt8], json: [UInt8]) throws(AlertIndexError) {
        guard let id = v[1]?.stringValue, !id.isEmpty else {
            throw AlertIndexError(.notAnAlert, "the event has no vigil.alert.id")
        }
        guard let ruleID = v[2]?.stringValue, !ruleID.isEmpty else {
            throw AlertIndexError(.notAnAlert, "alert \(id) has no rule.id")
        }
        rule = AlertRuleText(id: ruleID, name: v[3]?.stringValue ?? ruleID, description: v[4]?.stringValue ?? "",
                             tags: v[5]?.arrayValue?.compactMap(\.stringValue) ?? [])
        ruleSerial = rule.serial
        self.id = id
        (time, risk, count, sourceIP, destinationIP) = Self.columns(v, fallbackTime: fallbackTime)
        severity = Self.severity(v[6], name: v[7])
        let userName = v[12]?.scalarText, key = v[13]?.stringValue
        self.userName = userName
        self.key = key
        idHash = StableHash.hash(id)
        fingerprint = StableHash.fingerprint(encoded)
        let sample = v[14]?.stringValue, searchText = sample.map(Self.searchText)
        let (textItem, tokens) = Self.textAndTokens(key: key, user: userName, text: searchText)
        parts = AlertRowParts(json: json, encoded: encoded, textItem: textItem, tokens: tokens, sample: sample, searchText: searchText)
        span = nil
    }

    /// The time, risk, count and addresses of the values of ``AlertRecordReader/wanted``.
    @inline(__always)
    static func columns(_ v: [FieldValue?], fallbackTime: Int64) -> (Int64, Double?, Int64, IPAddress?, IPAddress?) {
        (v[0]?.timestampValue?.nanoseconds ?? fallbackTime, v[8].flatMap { $0.floatValue ?? $0.intValue.map(Double.init) },
         v[9]?.intValue ?? 1, ip(v[10]), ip(v[11]))
    }

    /// The severity level of `event.severity` (a number), else of `vigil.alert.severity` (a name), else 0.
    @inline(__always)
    static func severity(_ level: FieldValue?, name: FieldValue?) -> Int {
        if let s = level, let n = s.intValue ?? s.floatValue.map({ Int64($0) }) { return Int(clamping: n) }
        if let name = name?.stringValue, let level = AlertSeverity.level(name) { return level }
        return 0
    }

    /// This row with ``id``, ``userName`` and ``key`` read from `arena` (the bytes of the
    /// batch it was read into), when it was read into one.
    func resolved(in arena: UnsafeRawBufferPointer) -> AlertRow {
        guard let span else { return self }
        var row = self
        row.id = String(decoding: span.id.bytes(arena, start: span.start)!, as: UTF8.self)
        row.userName = span.user.bytes(arena, start: span.start).map { String(decoding: $0, as: UTF8.self) }
        row.key = span.key.bytes(arena, start: span.start).map { String(decoding: $0, as: UTF8.self) }
        return row
    }

    /// Calls `body` with the UTF-8 bytes of the row's id, user name and key: from `arena` (its
    /// batch's bytes) for a row read into one, from its strings otherwise.
    /// (Static, on the row in place: a method called on `rowAt.pointee` would copy the row.)
    @inline(__always)
    static func withStrings<R>(_ rowAt: UnsafePointer<AlertRow>, arena: UnsafeRawBufferPointer,
                               _ body: (_ id: UnsafeRawBufferPointer, _ user: UnsafeRawBufferPointer?, _ key: UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        if let span = rowAt.pointee.span {
            return try body(span.id.bytes(arena, start: span.start)!, span.user.bytes(arena, start: span.start),
                            span.key.bytes(arena, start: span.start))
        }
        var id = rowAt.pointee.id, user = rowAt.pointee.userName, key = rowAt.pointee.key
        return try id.withUTF8 { i in
            try Self.withOptionalUTF8(&user) { u in
                try Self.withOptionalUTF8(&key) { k in try body(UnsafeRawBufferPointer(i), u, k) }
            }
        }
    }

    static func withOptionalUTF8<R>(_ s: inout String?, _ body: (UnsafeRawBufferPointer?) throws -> R) rethrows -> R {
        guard s != nil else { return try body(nil) }
        return try s!.withUTF8 { try body(UnsafeRawBufferPointer($0)) }
    }

    /// What the block layout stores as the alert's searched text: a flag byte (1 when the text
    /// has bytes above 0x7F), then `key \u{1F} user \u{1F} searchText` with ASCII letters
    /// lower-cased; and its distinct tokens (``TokenSet``'s rules), each as
    /// hash (32 bits) << 32 | start (16 bits) << 16 | length (16 bits) — none when the text is
    /// longer than 65,535 bytes (the writer then splits it itself).
    static func textAndTokens(key: String?, user: String?, text: String?) -> ([UInt8], [UInt64]) {
        var item: [UInt8] = []
        item.reserveCapacity(1 + (key?.utf8.count ?? 0) + (user?.utf8.count ?? 0) + (text?.utf8.count ?? 0) + 2)
        var tokens: [UInt64] = []
        tokens.reserveCapacity(32)
        var key = key, user = user, text = text
        withOptionalUTF8(&key) { k in
            withOptionalUTF8(&user) { u in
                withOptionalUTF8(&text) { t in appendTextAndTokens(key: k, user: u, text: t, into: &item, tokens: &tokens) }
            }
        }
        return (item, tokens)
    }

    /// ``textAndTokens(key:user:text:)`` of UTF-8 bytes made at the end of `out` (from its
    /// count), with the text being ``searchText(_:)`` of the sample's UTF-8 bytes; the tokens go
    /// to `tokens` (offsets within the item).
    static func appendTextAndTokens(key: UnsafeRawBufferPointer?, user: UnsafeRawBufferPointer?, sample: UnsafeRawBufferPointer,
                                    into out: inout [UInt8], tokens: inout [UInt64]) {
        appendItem(key: key, user: user, into: &out, tokens: &tokens) { out in
            appendSearchText(sample.bindMemory(to: UInt8.self), into: &out)
        }
    }

    /// ``textAndTokens(key:user:text:)`` of UTF-8 bytes made at the end of `out`, as the variant with a sample.
    static func appendTextAndTokens(key: UnsafeRawBufferPointer?, user: UnsafeRawBufferPointer?, text: UnsafeRawBufferPointer?,
                                    into out: inout [UInt8], tokens: inout [UInt64]) {
        appendItem(key: key, user: user, into: &out, tokens: &tokens) { out in
            if let text { out.appendRaw(text) }
        }
    }

    /// An item at the end of `out`: the flag byte, `key`, 0x1F, `user`, 0x1F and what `text`
    /// appends, ASCII letters lower-cased; its tokens in `tokens`.
    @inline(__always)
    private static func appendItem(key: UnsafeRawBufferPointer?, user: UnsafeRawBufferPointer?, into out: inout [UInt8], tokens: inout [UInt64],
                                   text: (inout [UInt8]) -> Void) {
        let start = out.count
        out.append(0)
        var high: UInt8 = 0
        if let key { out.appendRaw(key) }
        out.append(0x1F)
        if let user { out.appendRaw(user) }
        out.append(0x1F)
        text(&out)
        AlertBlockBuilder.lowerTail(&out, from: start + 1, &high)
        finish(&out, from: start, high: high, tokens: &tokens)
    }

    /// Sets the flag byte of the item at `item[from...]` and puts its distinct tokens (offsets
    /// within the item) in `tokens`.
    private static func finish(_ item: inout [UInt8], from: Int, high: UInt8, tokens: inout [UInt64]) {
        tokens.removeAll(keepingCapacity: true)
        if high >= 0x80 { item[from] = 1 }
        let count = item.count - from
        guard count <= 0xFFFF else { return }
        // Distinct tokens through a small open-addressing table of token numbers + 1 (at most
        // one token per two bytes, so it is never more than half full); the tokens are collected
        // in a scratch buffer and appended at once (an append per token checked the array's
        // uniqueness and capacity each time).
        var size = 64
        while size < count { size <<= 1 }
        let mask = size - 1
        withUnsafeTemporaryAllocation(of: UInt16.self, capacity: size) { slots in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: count / 2 + 1) { found in
                slots.initialize(repeating: 0)
                var n = 0
                item.withUnsafeBytes { whole in
                    let b = UnsafeRawBufferPointer(rebasing: whole[from...])
                    let base = b.baseAddress!
                    TokenSet.forEachToken(b) { start, end, h in
                        let len = end - start
                        var s = Int(h) & mask
                        while slots[s] != 0 {
                            let t = found[Int(slots[s]) - 1]
                            if UInt32(truncatingIfNeeded: t >> 32) == h && Int(t & 0xFFFF) == len {
                                let other = Int(t >> 16 & 0xFFFF)
                                var same: Bool
                                if len <= 16 {
                                    same = true
                                    for k in 0..<len where base.load(fromByteOffset: other + k, as: UInt8.self) != base.load(fromByteOffset: start + k, as: UInt8.self) {
                                        same = false
                                        break
                                    }
                                } else {
                                    same = memcmp(base + other, base + start, len) == 0
                                }
                                if same { return }
                            }
                            s = (s + 1) & mask
                        }
                        found[n] = UInt64(h) << 32 | UInt64(start) << 16 | UInt64(len)
                        n += 1
                        slots[s] = UInt16(n)
                    }
                }
                tokens.append(contentsOf: UnsafeBufferPointer(start: found.baseAddress, count: n))
            }
        }
    }

    /// The string values of a JSON text, space-separated: member names, numbers, literals and
    /// RFC 3339 times are left out (they would only bloat the text index). Escapes stay as they
    /// are (the tokenizer splits on them). Text that is not JSON is returned whole.
    public static func searchText(_ json: String) -> String {
        var json = json
        return json.withUTF8 { b -> String in
            guard b.first == UInt8(ascii: "{") || b.first == UInt8(ascii: "[") else { return String(decoding: b, as: UTF8.self) }
            var out: [UInt8] = []
            out.reserveCapacity(b.count / 2)
            appendSearchText(b, into: &out)
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Appends ``searchText(_:)`` of the UTF-8 bytes `b` to `out`.
    static func appendSearchText(_ b: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        guard b.first == UInt8(ascii: "{") || b.first == UInt8(ascii: "[") else {
            out.append(contentsOf: b)
            return
        }
        let n = b.count
        let base = b.baseAddress!
        // The text is made in a scratch buffer and appended once: it is never longer than the
        // JSON (each string loses its two quotes, and gains at most one space), and appending
        // each string to the array cost ~100 instructions apiece.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n) { scratch in
            let buf = scratch.baseAddress!
            var w = 0
            // The next quote at or after `from`, or n: 8 bytes at a time (a quote is usually a few
            // bytes on, too near for a call to memchr to pay).
            @inline(__always) func quote(_ from: Int) -> Int {
                var i = from
                let raw = UnsafeRawPointer(base)
                while i + 8 <= n {
                    // The bytes of `x` that are zero are the quotes; the lowest flagged byte is the
                    // first of them (a flag above a zero byte may be false, below it never is).
                    let x = UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: UInt64.self)) ^ 0x2222_2222_2222_2222
                    let zero = (x &- 0x0101_0101_0101_0101) & ~x & 0x8080_8080_8080_8080
                    if zero != 0 { return i + zero.trailingZeroBitCount >> 3 }
                    i += 8
                }
                while i < n && base[i] != 0x22 { i += 1 }
                return i
            }
            do {
                var i = quote(0)
                while i < n {
                    let start = i + 1
                    // The closing quote: the first one after an even run of backslashes (a backslash
                    // escapes the byte after it).
                    var end = quote(start)
                    while end < n {
                        var k = end
                        while k > start && b[k - 1] == UInt8(ascii: "\\") { k -= 1 }
                        if (end - k) % 2 == 0 { break }
                        end = quote(end + 1)
                    }
                    var k = end + 1
                    while k < n && (b[k] == 0x20 || b[k] == 0x0A || b[k] == 0x0D || b[k] == 0x09) { k += 1 }
                    let isKey = k < n && b[k] == UInt8(ascii: ":")
                    let len = end - start
                    let isTime = len >= 20 && b[start + 4] == UInt8(ascii: "-") && b[start + 10] == UInt8(ascii: "T")
                    if !isKey && !isTime && len > 0 {
                        if w > 0 { buf[w] = 0x20; w += 1 }
                        (buf + w).update(from: base + start, count: len)
                        w += len
                    }
                    i = quote(end + 1)
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(start: buf, count: w))
        }
    }

    static func ip(_ value: FieldValue?) -> IPAddress? {
        switch value {
        case .ip(let a)?: return a
        case .string(let s)?: return IPAddress(s)
        default: return nil
        }
    }
}
