#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The known, ECS-aligned event fields: their flat dotted names, declared types and stable ids.
///
/// Each known field has a numeric id used as its tag by ``EventBinaryCodec``. Ids are
/// **append-only**: a field, once shipped, keeps its id forever, and a removed field's id is never
/// reused. Add new fields at the end of ``fields`` with the next free id.
///
/// Keys outside the table are *custom fields*: they are allowed anywhere and are typed by their
/// value. `labels.*` is such a free-form namespace (`labels.env`, `labels.team`, …).
/// The table is also documented in `docs/schema.md`; a test keeps the two in step.
public enum Schema {
    /// The declared type of a known field.
    public indirect enum FieldType: Sendable, Hashable, CustomStringConvertible {
        case string
        case int
        case float
        case bool
        case timestamp
        case ip
        /// An object; only meaningful as an array element (`array(.object)`).
        case object
        /// An array whose elements all have the element type.
        case array(FieldType)

        /// Whether `value` fits this type. `.null` fits every type, and so does a null element
        /// in an array. Object members are free-form and not checked.
        public func accepts(_ value: FieldValue) -> Bool {
            switch (self, value) {
            case (_, .null), (.string, .string), (.int, .int), (.float, .float), (.bool, .bool),
                 (.timestamp, .timestamp), (.ip, .ip), (.object, .object):
                return true
            case (.array(let element), .array(let values)):
                for v in values where !element.accepts(v) { return false }
                return true
            default:
                return false
            }
        }

        /// `string`, `int`, …, `array of ip`, `array of object`.
        public var description: String {
            switch self {
            case .string: "string"
            case .int: "int"
            case .float: "float"
            case .bool: "bool"
            case .timestamp: "timestamp"
            case .ip: "ip"
            case .object: "object"
            case .array(let element): "array of \(element)"
            }
        }
    }

    /// One known field.
    public struct Field: Sendable, Hashable {
        /// The stable tag used by the binary codec (never 0, never renumbered).
        public let id: UInt16
        /// The flat dotted ECS name, e.g. `source.ip`.
        public let name: String
        /// The declared value type.
        public let type: FieldType

        init(_ id: UInt16, _ name: String, _ type: FieldType) {
            self.id = id
            self.name = name
            self.type = type
        }
    }

    /// The known field with this flat dotted name, if any.
    /// - Complexity: O(key length), no allocation.
    public static func field(named name: String) -> Field? {
        field(id: id(named: name))
    }

    /// The known field with this id, if any.
    /// - Complexity: O(1)
    public static func field(id: UInt16) -> Field? {
        let table = byID
        let index = Int(id)
        return index < table.count ? table[index] : nil
    }

    /// Whether `value` fits the declared type of `key`. Always `true` for custom fields.
    public static func check(key: String, value: FieldValue) -> Bool {
        guard let field = field(named: key) else { return true }
        return field.type.accepts(value)
    }

    /// The id of the known field with this name, or 0 for a custom field.
    /// - Complexity: O(key length), no allocation.
    package static func id(named name: String) -> UInt16 {
        var name = name
        return name.withUTF8 { index.id(UnsafeRawBufferPointer($0)) }
    }

    /// The id of the known field whose name is these UTF-8 bytes, or 0 for a custom field.
    /// - Complexity: O(key length), no allocation.
    package static func id(utf8 name: UnsafeRawBufferPointer) -> UInt16 {
        index.id(name)
    }

    /// Names by id (empty for 0 and retired ids), for decoders.
    package static let namesByID: [String] = byID.map { $0?.name ?? "" }

    /// Declared types by id (`.string` for 0 and retired ids), for decoders.
    package static let typesByID: [FieldType] = byID.map { $0?.type ?? .string }

    /// Fields by id (index 0 and retired ids are `nil`).
    static let byID: [Field?] = {
        var table = [Field?](repeating: nil, count: Int(fields.map(\.id).max() ?? 0) + 1)
        for f in fields {
            precondition(f.id != 0 && table[Int(f.id)] == nil, "schema id \(f.id) is 0 or repeated")
            table[Int(f.id)] = f
        }
        return table
    }()

    /// The lookup tables of hot paths (``Event``, the codecs, schema normalization).
    package static let index = Index(fields: fields, byID: byID)

    /// Immutable tables over the known fields for hot loops: name → id (open addressing,
    /// linear probing), id → name bytes, id → rank in key order, id → declared type as kinds.
    ///
    /// The tables live in memory allocated once and never freed, so copying an `Index` or
    /// reading it involves no reference counting. `@unchecked Sendable`: the memory is written
    /// only during initialization, before the value is published, and read-only afterwards.
    package struct Index: @unchecked Sendable {
        /// By hash slot: the id of the name there, or 0 when empty.
        private let slots: UnsafeBufferPointer<UInt16>
        private let mask: Int
        /// Every known name's UTF-8 bytes, back to back.
        private let nameUTF8: UnsafeBufferPointer<UInt8>
        /// By id: where the name starts in `nameUTF8`; entry `id + 1` is where it ends.
        private let nameStarts: UnsafeBufferPointer<Int>
        /// By id: the rank of the name in key order (``Event/keyPrecedes(_:_:)``), 1-based.
        private let ranks: UnsafeBufferPointer<UInt16>
        /// By id: the declared type as kinds.
        package let checks: UnsafeBufferPointer<TypeCheck>
        /// By rank − 1: the id of the known name of that rank.
        private let idsByRank: UnsafeBufferPointer<UInt16>
        /// Whether no known name is a dotted prefix of another (`a` and `a.b`), so two known
        /// keys never conflict.
        package let prefixFree: Bool

        init(fields: [Field], byID: [Field?]) {
            var size = 16
            while size < fields.count * 4 { size *= 2 }
            var slots = [UInt16](repeating: 0, count: size)
            var nameUTF8: [UInt8] = []
            var nameStarts: [Int] = []
            for f in byID {
                nameStarts.append(nameUTF8.count)
                nameUTF8 += Array((f?.name ?? "").utf8)
            }
            nameStarts.append(nameUTF8.count)
            for f in fields {
                let name = Array(f.name.utf8)
                var slot = name.withUnsafeBytes { Index.hash($0) } & (size - 1)
                while slots[slot] != 0 {
                    precondition(byID[Int(slots[slot])]?.name != f.name, "duplicate schema name")
                    slot = (slot + 1) & (size - 1)
                }
                slots[slot] = f.id
            }
            var ranks = [UInt16](repeating: 0, count: byID.count)
            let sorted = fields.sorted { Event.keyPrecedes($0.name, $1.name) }
            for (rank, f) in sorted.enumerated() { ranks[Int(f.id)] = UInt16(rank + 1) }
            self.idsByRank = Index.immortal(sorted.map(\.id))
            // A dotted prefix sorts right before the first of its `prefix.*` names.
            var prefixFree = true
            for k in sorted.indices.dropFirst() where Event.isDottedPrefix(sorted[k - 1].name, of: sorted[k].name) {
                prefixFree = false
            }
            // `Event` relies on it: two known keys never conflict, so they compare by rank alone.
            precondition(prefixFree, "the schema must be prefix-free: no known field name may be a dotted prefix of another")
            self.slots = Index.immortal(slots)
            self.mask = size - 1
            self.nameUTF8 = Index.immortal(nameUTF8)
            self.nameStarts = Index.immortal(nameStarts)
            self.ranks = Index.immortal(ranks)
            self.checks = Index.immortal(byID.map { TypeCheck($0?.type ?? .string) })
            self.prefixFree = prefixFree
        }

        /// A copy of `array` in memory that is never freed.
        private static func immortal<T>(_ array: [T]) -> UnsafeBufferPointer<T> {
            let buffer = UnsafeMutableBufferPointer<T>.allocate(capacity: Swift.max(array.count, 1))
            _ = buffer.initialize(from: array)
            return UnsafeBufferPointer(rebasing: buffer[..<array.count])
        }

        /// A hash of the length and of three 8-byte words (first, middle, last) for names of 16
        /// bytes or more; of the first word and the remaining bytes otherwise: a handful of
        /// instructions for any length.
        ///
        /// Names under 16 bytes are read only by whole 8-byte words at offset 0 and by single
        /// bytes: a small string's bytes were just spilled to the stack as two words, and a load
        /// straddling both would miss store forwarding and stall.
        @inline(__always)
        static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
            let n = bytes.count
            var h = UInt64(truncatingIfNeeded: n) &* 0x9E37_79B9_7F4A_7C15
            var k = 0
            if n >= 8 {
                h ^= bytes.loadUnaligned(as: UInt64.self)
                h = (h ^ (h >> 31)) &* 0xBF58_476D_1CE4_E5B9
                k = 8
            }
            if n >= 16 {
                h ^= bytes.loadUnaligned(fromByteOffset: (n - 8) >> 1, as: UInt64.self)
                h = (h ^ (h >> 29)) &* 0x94D0_49BB_1331_11EB
                h ^= bytes.loadUnaligned(fromByteOffset: n - 8, as: UInt64.self)
            } else {
                var tail: UInt64 = 0
                while k < n { tail = (tail << 8) | UInt64(bytes[k]); k += 1 }
                h ^= tail
            }
            h = (h ^ (h >> 32)) &* 0xD6E8_FEB8_6659_FD93
            return Int(truncatingIfNeeded: h ^ (h >> 32))
        }

        /// The id of the known field whose name is `name`, or 0.
        /// - Complexity: O(name length), no allocation.
        @inline(__always)
        package func id(_ name: UnsafeRawBufferPointer) -> UInt16 {
            var slot = Index.hash(name) & mask
            while true {
                let id = slots[slot]
                if id == 0 { return 0 }
                let start = nameStarts[Int(id)], end = nameStarts[Int(id) + 1]
                if end - start == name.count
                    && (name.count == 0 || Index.equal(nameUTF8.baseAddress! + start, name.baseAddress!, name.count)) {
                    return id
                }
                slot = (slot + 1) & mask
            }
        }

        /// Whether the `count` bytes at `a` and `b` are equal (names are short: a call to
        /// `memcmp` would cost more than the comparison).
        @inline(__always)
        private static func equal(_ a: UnsafeRawPointer, _ b: UnsafeRawPointer, _ count: Int) -> Bool {
            var k = 0
            while k + 8 <= count {
                if a.loadUnaligned(fromByteOffset: k, as: UInt64.self) != b.loadUnaligned(fromByteOffset: k, as: UInt64.self) { return false }
                k += 8
            }
            while k < count {
                if a.load(fromByteOffset: k, as: UInt8.self) != b.load(fromByteOffset: k, as: UInt8.self) { return false }
                k += 1
            }
            return true
        }

        /// The UTF-8 bytes of the name of known field `id`.
        @inline(__always)
        package func name(_ id: UInt16) -> UnsafeBufferPointer<UInt8> {
            UnsafeBufferPointer(rebasing: nameUTF8[nameStarts[Int(id)]..<nameStarts[Int(id) + 1]])
        }

        /// The rank of known field `id` in key order: two known keys compare as their ranks do.
        @inline(__always)
        package func rank(_ id: UInt16) -> UInt16 { ranks[Int(id)] }

        /// The number of known names (ranks run from 1 to this).
        @inline(__always)
        package var rankCount: Int { idsByRank.count }

        /// The id of the known name of `rank` (1…``rankCount``).
        @inline(__always)
        package func id(rank: Int) -> UInt16 { idsByRank[rank - 1] }

        /// How many known names sort before `key` in key order (a custom key's place among them).
        /// - Complexity: O(log n) name comparisons.
        package func knownNamesPreceding(_ key: UnsafeBufferPointer<UInt8>) -> Int {
            var lo = 0, hi = idsByRank.count
            while lo < hi {
                let mid = (lo + hi) >> 1
                if Event.compareKeys(name(idsByRank[mid]), key) < 0 { lo = mid + 1 } else { hi = mid }
            }
            return lo
        }

        /// Whether a stored value of kind `kind` fits the declared type of known field `id`;
        /// `array` gives the value when it is an array (element kinds are checked).
        @inline(__always)
        package func accepts(_ id: UInt16, kind: FieldValue.Kind, _ array: () -> FieldValue) -> Bool {
            let check = checks[Int(id)]
            if kind == .null { return true }
            guard kind == check.kind else { return false }
            guard kind == .array else { return true }
            return accepts(id, array())
        }

        /// Whether `value` fits the declared type of known field `id`, exactly as
        /// ``FieldType/accepts(_:)``.
        @inline(__always)
        package func accepts(_ id: UInt16, _ value: FieldValue) -> Bool {
            let check = checks[Int(id)]
            let k = value.kind
            if k == .null { return true }
            guard k == check.kind else { return false }
            guard check.kind == .array else { return true }
            guard let element = check.element else { return Schema.typesByID[Int(id)].accepts(value) }
            guard case .array(let elements) = value else { return true }
            for e in elements {
                let ek = e.kind
                if ek != element && ek != .null { return false }
            }
            return true
        }
    }

    /// A declared type as value kinds: a scalar kind, or an array with its element kind.
    @usableFromInline
    package struct TypeCheck {
        /// The ``FieldValue/kind`` a value must have (`.array` for arrays).
        @usableFromInline package let kind: FieldValue.Kind
        /// For arrays of a scalar or object type, the kind each element must have; nil for
        /// arrays of arrays (checked through ``FieldType/accepts(_:)``).
        @usableFromInline package let element: FieldValue.Kind?

        init(_ type: FieldType) {
            switch type {
            case .string: (kind, element) = (.string, nil)
            case .int: (kind, element) = (.int, nil)
            case .float: (kind, element) = (.float, nil)
            case .bool: (kind, element) = (.bool, nil)
            case .timestamp: (kind, element) = (.timestamp, nil)
            case .ip: (kind, element) = (.ip, nil)
            case .object: (kind, element) = (.object, nil)
            case .array(.array): (kind, element) = (.array, nil)
            case .array(let e): (kind, element) = (.array, TypeCheck(e).kind)
            }
        }
    }

    /// Every known field, in id order. Append only.
    public static let fields: [Field] = [
        // Base
        Field(1, "@timestamp", .timestamp),
        Field(2, "message", .string),
        Field(3, "tags", .array(.string)),
        // event.*
        Field(4, "event.kind", .string),
        Field(5, "event.category", .array(.string)),
        Field(6, "event.type", .array(.string)),
        Field(7, "event.outcome", .string),
        Field(8, "event.dataset", .string),
        Field(9, "event.severity", .int),
        Field(10, "event.action", .string),
        Field(11, "event.module", .string),
        Field(12, "event.provider", .string),
        Field(13, "event.duration", .int),
        Field(14, "event.start", .timestamp),
        Field(15, "event.end", .timestamp),
        Field(16, "event.created", .timestamp),
        Field(17, "event.ingested", .timestamp),
        Field(18, "event.id", .string),
        Field(19, "event.reason", .string),
        Field(20, "event.original", .string),
        // source.*
        Field(21, "source.ip", .ip),
        Field(22, "source.port", .int),
        Field(23, "source.bytes", .int),
        Field(24, "source.packets", .int),
        Field(25, "source.mac", .string),
        Field(26, "source.address", .string),
        Field(27, "source.domain", .string),
        Field(28, "source.geo.country_iso_code", .string),
        Field(29, "source.geo.country_name", .string),
        Field(30, "source.geo.city_name", .string),
        Field(31, "source.geo.location.lat", .float),
        Field(32, "source.geo.location.lon", .float),
        Field(33, "source.as.number", .int),
        Field(34, "source.as.organization.name", .string),
        // destination.*
        Field(35, "destination.ip", .ip),
        Field(36, "destination.port", .int),
        Field(37, "destination.bytes", .int),
        Field(38, "destination.packets", .int),
        Field(39, "destination.mac", .string),
        Field(40, "destination.address", .string),
        Field(41, "destination.domain", .string),
        Field(42, "destination.geo.country_iso_code", .string),
        Field(43, "destination.geo.country_name", .string),
        Field(44, "destination.geo.city_name", .string),
        Field(45, "destination.geo.location.lat", .float),
        Field(46, "destination.geo.location.lon", .float),
        Field(47, "destination.as.number", .int),
        Field(48, "destination.as.organization.name", .string),
        // client.* / server.*
        Field(49, "client.ip", .ip),
        Field(50, "client.port", .int),
        Field(51, "client.bytes", .int),
        Field(52, "client.packets", .int),
        Field(53, "client.address", .string),
        Field(54, "client.domain", .string),
        Field(55, "server.ip", .ip),
        Field(56, "server.port", .int),
        Field(57, "server.bytes", .int),
        Field(58, "server.packets", .int),
        Field(59, "server.address", .string),
        Field(60, "server.domain", .string),
        // network.*
        Field(61, "network.transport", .string),
        Field(62, "network.protocol", .string),
        Field(63, "network.community_id", .string),
        Field(64, "network.bytes", .int),
        Field(65, "network.packets", .int),
        Field(66, "network.direction", .string),
        Field(67, "network.type", .string),
        Field(68, "network.iana_number", .string),
        Field(69, "network.vlan.id", .string),
        // dns.*
        Field(70, "dns.id", .string),
        Field(71, "dns.op_code", .string),
        Field(72, "dns.header_flags", .array(.string)),
        Field(73, "dns.response_code", .string),
        Field(74, "dns.question.name", .string),
        Field(75, "dns.question.type", .string),
        Field(76, "dns.question.class", .string),
        Field(77, "dns.answers", .array(.object)),
        Field(78, "dns.resolved_ip", .array(.ip)),
        Field(79, "dns.type", .string),
        // url.*
        Field(80, "url.original", .string),
        Field(81, "url.full", .string),
        Field(82, "url.domain", .string),
        Field(83, "url.path", .string),
        Field(84, "url.query", .string),
        Field(85, "url.scheme", .string),
        Field(86, "url.port", .int),
        // http.*
        Field(87, "http.version", .string),
        Field(88, "http.request.method", .string),
        Field(89, "http.request.body.bytes", .int),
        Field(90, "http.request.referrer", .string),
        Field(91, "http.request.mime_type", .string),
        Field(92, "http.response.status_code", .int),
        Field(93, "http.response.body.bytes", .int),
        Field(94, "http.response.mime_type", .string),
        Field(95, "user_agent.original", .string),
        // tls.*
        Field(96, "tls.version", .string),
        Field(97, "tls.version_protocol", .string),
        Field(98, "tls.cipher", .string),
        Field(99, "tls.curve", .string),
        Field(100, "tls.established", .bool),
        Field(101, "tls.resumed", .bool),
        Field(102, "tls.next_protocol", .string),
        Field(103, "tls.client.server_name", .string),
        Field(104, "tls.client.ja3", .string),
        Field(105, "tls.client.ja4", .string),
        Field(106, "tls.client.supported_ciphers", .array(.string)),
        Field(107, "tls.server.ja3s", .string),
        Field(108, "tls.server.subject", .string),
        Field(109, "tls.server.issuer", .string),
        Field(110, "tls.server.not_before", .timestamp),
        Field(111, "tls.server.not_after", .timestamp),
        // ssh.* (custom, not in ECS): version banners
        Field(112, "ssh.client", .string),
        Field(113, "ssh.server", .string),
        // user.*, host.*, process.*
        Field(114, "user.name", .string),
        Field(115, "user.id", .string),
        Field(116, "user.domain", .string),
        Field(117, "host.name", .string),
        Field(118, "host.hostname", .string),
        Field(119, "host.ip", .array(.ip)),
        Field(120, "process.name", .string),
        Field(121, "process.pid", .int),
        // log.*
        Field(122, "log.level", .string),
        Field(123, "log.syslog.facility.code", .int),
        Field(124, "log.syslog.facility.name", .string),
        Field(125, "log.syslog.severity.code", .int),
        Field(126, "log.syslog.severity.name", .string),
        Field(127, "log.syslog.hostname", .string),
        Field(128, "log.syslog.appname", .string),
        Field(129, "log.syslog.procid", .string),
        Field(130, "log.syslog.msgid", .string),
        Field(131, "log.file.path", .string),
        // observer.*
        Field(132, "observer.name", .string),
        Field(133, "observer.hostname", .string),
        Field(134, "observer.type", .string),
        Field(135, "observer.vendor", .string),
        Field(136, "observer.product", .string),
        Field(137, "observer.ingress.interface.name", .string),
        // rule.*
        Field(138, "rule.id", .string),
        Field(139, "rule.name", .string),
        Field(140, "rule.category", .string),
        // threat.indicator.*
        Field(141, "threat.indicator.type", .string),
        Field(142, "threat.indicator.ip", .ip),
        Field(143, "threat.indicator.domain", .string),
        Field(144, "threat.indicator.url.full", .string),
        Field(145, "threat.indicator.provider", .string),
        Field(146, "threat.indicator.confidence", .string),
        Field(147, "threat.indicator.description", .string),
        Field(148, "threat.indicator.first_seen", .timestamp),
        Field(149, "threat.indicator.last_seen", .timestamp),
        // related.*, error.*
        Field(150, "related.ip", .array(.ip)),
        Field(151, "related.hosts", .array(.string)),
        Field(152, "related.user", .array(.string)),
        Field(153, "error.message", .string),
        // vigil.* (pipeline metadata)
        Field(154, "vigil.sensor", .string),
        Field(155, "vigil.topic", .string),
        Field(156, "vigil.partition", .int),
        Field(157, "vigil.offset", .int),
        Field(158, "vigil.errors", .array(.string)),
        Field(159, "vigil.key", .string),
        Field(160, "vigil.parser", .string),
        Field(161, "vigil.score", .float),
        // zeek.* extras
        Field(162, "zeek.session_id", .string),
        Field(163, "zeek.conn.state", .string),
        Field(164, "zeek.conn.history", .string),
        Field(165, "zeek.conn.missed_bytes", .int),
        Field(166, "zeek.conn.local_orig", .bool),
        Field(167, "zeek.conn.local_resp", .bool),
        // sshd.*: what the sshd parser reads beyond ECS (docs/parsers.md)
        Field(168, "sshd.auth_method", .string),
        Field(169, "sshd.protocol", .string),
        Field(170, "sshd.key_type", .string),
        Field(171, "sshd.key_fingerprint", .string),
        Field(172, "sshd.invalid_user", .bool),
        Field(173, "sshd.preauth", .bool),
        Field(174, "sshd.disconnect_code", .int),
        Field(175, "sshd.repeated", .int),
        Field(176, "sshd.signal", .int),
        Field(177, "sshd.possible_break_in", .bool),
    ]
}
