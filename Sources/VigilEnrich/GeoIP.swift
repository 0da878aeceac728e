import CMaxMindDB
import VigilCore
#if canImport(Glibc)
import Glibc
#endif

/// What a City or Country database says about an address (`geo.*` fields).
public struct GeoRecord: Sendable, Equatable {
    public var cityName: String?
    public var countryISOCode: String?
    public var countryName: String?
    public var latitude: Double?
    public var longitude: Double?

    public init(cityName: String? = nil, countryISOCode: String? = nil, countryName: String? = nil,
                latitude: Double? = nil, longitude: Double? = nil) {
        self.cityName = cityName
        self.countryISOCode = countryISOCode
        self.countryName = countryName
        self.latitude = latitude
        self.longitude = longitude
    }

    public var isEmpty: Bool { cityName == nil && countryISOCode == nil && countryName == nil && latitude == nil && longitude == nil }
}

/// What an ASN database says about an address (`as.*` fields).
public struct ASRecord: Sendable, Equatable {
    public var number: Int64?
    public var organization: String?

    public init(number: Int64? = nil, organization: String? = nil) {
        self.number = number
        self.organization = organization
    }
}

/// An opened MaxMind DB file (libmaxminddb, memory-mapped).
///
/// `@unchecked Sendable`: the `MMDB_s` is written once, by `MMDB_open` in `init`, and only read
/// afterwards; libmaxminddb documents lookups on an opened database as thread-safe. It is closed
/// in `deinit`, when the last snapshot holding it goes away (a reload swaps in a new database and
/// the old one closes once no worker uses it).
public final class GeoIPDatabase: @unchecked Sendable {
    public let path: String
    /// The database's type from its metadata (`GeoIP2-City`, `GeoLite2-ASN`, …).
    public let databaseType: String
    /// Whether the database holds IPv6 addresses (else IPv6 lookups miss).
    public let isIPv6: Bool
    private let handle: UnsafeMutablePointer<MMDB_s>

    /// Opens the database at `path`.
    /// - Throws: ``EnrichmentError`` `.unreadable` when the file is missing, `.geoip` with
    ///   libmaxminddb's reason when it is not a valid database.
    public init(path: String) throws(EnrichmentError) {
        if access(path, R_OK) != 0 {
            throw EnrichmentError(.unreadable, file: path, "cannot open GeoIP database: \(String(cString: strerror(errno)))")
        }
        handle = .allocate(capacity: 1)
        let status = MMDB_open(path, UInt32(MMDB_MODE_MMAP), handle)
        guard status == MMDB_SUCCESS else {
            handle.deallocate()
            throw EnrichmentError(.geoip, file: path, "not a MaxMind DB: \(String(cString: MMDB_strerror(status)))")
        }
        self.path = path
        databaseType = handle.pointee.metadata.database_type.map { String(cString: $0) } ?? ""
        isIPv6 = handle.pointee.metadata.ip_version == 6
    }

    deinit {
        MMDB_close(handle)
        handle.deallocate()
    }

    /// The data-section offset of the record for `ip`, or nil when the database has none. Equal
    /// offsets mean equal records, so callers cache decoded records by offset.
    @inline(__always)
    func recordOffset(_ ip: IPAddress) -> UInt32? {
        var error: Int32 = 0
        let result: MMDB_lookup_result_s
        if ip.isV4 {
            var sa = sockaddr_in()
            sa.sin_family = sa_family_t(AF_INET)
            sa.sin_addr.s_addr = UInt32(truncatingIfNeeded: ip.low).bigEndian
            result = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(handle, $0, &error) }
            }
        } else {
            if !isIPv6 { return nil }
            var sa = sockaddr_in6()
            sa.sin6_family = sa_family_t(AF_INET6)
            withUnsafeMutableBytes(of: &sa.sin6_addr) { dst in
                dst.storeBytes(of: ip.high.bigEndian, toByteOffset: 0, as: UInt64.self)
                dst.storeBytes(of: ip.low.bigEndian, toByteOffset: 8, as: UInt64.self)
            }
            result = withUnsafePointer(to: &sa) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { MMDB_lookup_sockaddr(handle, $0, &error) }
            }
        }
        guard error == MMDB_SUCCESS, result.found_entry else { return nil }
        return result.entry.offset
    }

    /// The `geo.*` record for `ip`, or nil.
    public func geo(_ ip: IPAddress) -> GeoRecord? {
        recordOffset(ip).map { geoRecord(offset: $0) }
    }

    /// The `as.*` record for `ip`, or nil.
    public func asn(_ ip: IPAddress) -> ASRecord? {
        recordOffset(ip).map { asRecord(offset: $0) }
    }

    /// Decodes the `geo.*` fields of the record at `offset`.
    @inline(never)
    func geoRecord(offset: UInt32) -> GeoRecord {
        var r = GeoRecord()
        r.cityName = string(offset, GeoPaths.shared.cityName)
        r.countryISOCode = string(offset, GeoPaths.shared.countryISOCode)
        r.countryName = string(offset, GeoPaths.shared.countryName)
        r.latitude = double(offset, GeoPaths.shared.latitude)
        r.longitude = double(offset, GeoPaths.shared.longitude)
        return r
    }

    /// Decodes the `as.*` fields of the record at `offset`.
    @inline(never)
    func asRecord(offset: UInt32) -> ASRecord {
        var r = ASRecord()
        if let data = value(offset, GeoPaths.shared.asNumber) {
            switch Int32(data.type) {
            case MMDB_DATA_TYPE_UINT32: r.number = Int64(data.uint32)
            case MMDB_DATA_TYPE_UINT16: r.number = Int64(data.uint16)
            case MMDB_DATA_TYPE_INT32: r.number = Int64(data.int32)
            case MMDB_DATA_TYPE_UINT64: r.number = Int64(exactly: data.uint64)
            default: break
            }
        }
        r.organization = string(offset, GeoPaths.shared.asOrganization)
        return r
    }

    private func value(_ offset: UInt32, _ path: UnsafePointer<UnsafePointer<CChar>?>) -> MMDB_entry_data_s? {
        var entry = MMDB_entry_s(mmdb: handle, offset: offset)
        var data = MMDB_entry_data_s()
        guard MMDB_aget_value(&entry, &data, path) == MMDB_SUCCESS, data.has_data else { return nil }
        return data
    }

    private func string(_ offset: UInt32, _ path: UnsafePointer<UnsafePointer<CChar>?>) -> String? {
        guard let data = value(offset, path), Int32(data.type) == MMDB_DATA_TYPE_UTF8_STRING, let p = data.utf8_string else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: Int(data.data_size)), as: UTF8.self)
    }

    private func double(_ offset: UInt32, _ path: UnsafePointer<UnsafePointer<CChar>?>) -> Double? {
        guard let data = value(offset, path) else { return nil }
        switch Int32(data.type) {
        case MMDB_DATA_TYPE_DOUBLE: return data.double_value
        case MMDB_DATA_TYPE_FLOAT: return Double(data.float_value)
        default: return nil
        }
    }
}

/// NULL-terminated arrays of C strings for `MMDB_aget_value`, built once and never freed.
///
/// `@unchecked Sendable`: the arrays are written once in `init` and only read afterwards.
final class GeoPaths: @unchecked Sendable {
    static let shared = GeoPaths()
    let cityName = GeoPaths.make(["city", "names", "en"])
    let countryISOCode = GeoPaths.make(["country", "iso_code"])
    let countryName = GeoPaths.make(["country", "names", "en"])
    let latitude = GeoPaths.make(["location", "latitude"])
    let longitude = GeoPaths.make(["location", "longitude"])
    let asNumber = GeoPaths.make(["autonomous_system_number"])
    let asOrganization = GeoPaths.make(["autonomous_system_organization"])

    private static func make(_ parts: [String]) -> UnsafePointer<UnsafePointer<CChar>?> {
        let array = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: parts.count + 1)
        for (i, part) in parts.enumerated() { array[i] = UnsafePointer(strdup(part)) }
        array[parts.count] = nil
        return UnsafePointer(array)
    }
}

/// A per-worker cache of decoded records by data offset: direct-mapped, so a lookup of an
/// address whose record was decoded before costs the tree walk and one slot comparison.
struct OffsetCache<Record> {
    private var offsets: [UInt32]
    private var records: [Record?]
    private let mask: Int

    init(slots: Int = 4096) {
        offsets = Array(repeating: UInt32.max, count: slots)
        records = Array(repeating: nil, count: slots)
        mask = slots - 1
    }

    @inline(__always)
    mutating func record(_ offset: UInt32, decode: (UInt32) -> Record) -> Record {
        let slot = Int(truncatingIfNeeded: (UInt64(offset) &* 0x9E37_79B9_7F4A_7C15) >> 40) & mask
        if offsets[slot] == offset, let r = records[slot] { return r }
        let r = decode(offset)
        offsets[slot] = offset
        records[slot] = r
        return r
    }

    mutating func removeAll() {
        for i in offsets.indices { offsets[i] = UInt32.max; records[i] = nil }
    }
}
