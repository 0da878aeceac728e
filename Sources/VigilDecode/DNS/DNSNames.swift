/// Zeek's names for DNS codes (its `DNS::query_types`, `DNS::base_errors` and `DNS::opcodes`
/// tables), and NetBIOS name decoding, for building dns records that read like dns.log.
public enum DNSNames {
    /// Zeek's `qtype_name`: `A`, `NS`, `AAAA`, …, `*` for ANY, `query-N` for codes it does not name.
    public static func qtypeName(_ type: UInt16) -> String {
        if let name = knownQtypeName(type) { return name.description }
        return "query-\(type)"
    }

    private static func knownQtypeName(_ type: UInt16) -> StaticString? {
        switch type {
        case 1: "A"; case 2: "NS"; case 3: "MD"; case 4: "MF"; case 5: "CNAME"; case 6: "SOA"
        case 7: "MB"; case 8: "MG"; case 9: "MR"; case 10: "NULL"; case 11: "WKS"; case 12: "PTR"
        case 13: "HINFO"; case 14: "MINFO"; case 15: "MX"; case 16: "TXT"; case 17: "RP"
        case 18: "AFSDB"; case 19: "X25"; case 20: "ISDN"; case 21: "RT"; case 22: "NSAP"
        case 23: "NSAP-PTR"; case 24: "SIG"; case 25: "KEY"; case 26: "PX"; case 27: "GPOS"
        case 28: "AAAA"; case 29: "LOC"; case 30: "NXT"; case 31: "EID"; case 32: "NIMLOC"
        case 33: "SRV"; case 34: "ATMA"; case 35: "NAPTR"; case 36: "KX"; case 37: "CERT"
        case 38: "A6"; case 39: "DNAME"; case 40: "SINK"; case 41: "OPT"; case 42: "APL"
        case 43: "DS"; case 44: "SSHFP"; case 45: "IPSECKEY"; case 46: "RRSIG"; case 47: "NSEC"
        case 48: "DNSKEY"; case 49: "DHCID"; case 50: "NSEC3"; case 51: "NSEC3PARAM"
        case 52: "TLSA"; case 53: "SMIMEA"; case 55: "HIP"; case 56: "NINFO"; case 57: "RKEY"
        case 58: "TALINK"; case 59: "CDS"; case 60: "CDNSKEY"; case 61: "OPENPGPKEY"
        case 62: "CSYNC"; case 63: "ZONEMD"; case 64: "SVCB"; case 65: "HTTPS"
        case 99: "SPF"; case 100: "UINFO"; case 101: "UID"; case 102: "GID"; case 103: "UNSPEC"
        case 249: "TKEY"; case 250: "TSIG"; case 251: "IXFR"; case 252: "AXFR"
        case 253: "MAILB"; case 254: "MAILA"; case 255: "*"; case 256: "URI"; case 257: "CAA"
        case 32768: "TA"; case 32769: "DLV"
        default: nil
        }
    }

    /// Zeek's `rcode_name`: `NOERROR`, `NXDOMAIN`, …, `rcode-N` for codes it does not name.
    public static func rcodeName(_ rcode: UInt16) -> String {
        let name: StaticString
        switch rcode {
        case 0: name = "NOERROR"; case 1: name = "FORMERR"; case 2: name = "SERVFAIL"
        case 3: name = "NXDOMAIN"; case 4: name = "NOTIMP"; case 5: name = "REFUSED"
        case 6: name = "YXDOMAIN"; case 7: name = "YXRRSET"; case 8: name = "NXRRSet"
        case 9: name = "NOTAUTH"; case 10: name = "NOTZONE"; case 16: name = "BADVERS"
        case 17: name = "BADKEY"; case 18: name = "BADTIME"; case 19: name = "BADMODE"
        case 20: name = "BADNAME"; case 21: name = "BADALG"; case 22: name = "BADTRUNC"
        case 3842: name = "BADSIG"
        default: return "rcode-\(rcode)"
        }
        return name.description
    }

    /// Zeek's `opcode_name`: `query`, `iquery`, `status`, `notify`, `update`, and on NetBIOS name
    /// service (UDP port 137) its own names (`netbios-query`, `netbios-registration`, …).
    public static func opcodeName(_ opcode: UInt8, netbios: Bool = false) -> String {
        let name: StaticString
        if netbios {
            switch opcode {
            case 0: name = "netbios-query"; case 5: name = "netbios-registration"
            case 6: name = "netbios-release"; case 7: name = "netbios-WACK"
            case 8: name = "netbios-refresh"
            default: return "opcode-\(opcode)"
            }
        } else {
            switch opcode {
            case 0: name = "query"; case 1: name = "iquery"; case 2: name = "status"
            case 4: name = "notify"; case 5: name = "update"
            default: return "opcode-\(opcode)"
            }
        }
        return name.description
    }

    /// Zeek's `qclass_name`: `C_INTERNET`, `C_CSNET`, `C_CHAOS`, `C_HESOD`, `C_NONE`, `C_ANY`,
    /// `qclass-N` otherwise.
    public static func qclassName(_ qclass: UInt16) -> String {
        switch qclass {
        case 1: "C_INTERNET"; case 2: "C_CSNET"; case 3: "C_CHAOS"; case 4: "C_HESOD"
        case 254: "C_NONE"; case 255: "C_ANY"
        default: "qclass-\(qclass)"
        }
    }

    /// Decodes a NetBIOS first-level encoded name (RFC 1001 §14.1: 32 letters `A`–`P`, two per
    /// byte) the way Zeek's `decode_netbios_name` does: the 15-character name, without the 16th
    /// (suffix) byte and trailing spaces. Names that are not so encoded are returned unchanged.
    public static func decodeNetBIOSName(_ name: String) -> String {
        let encoded = name.utf8
        guard encoded.count >= 32,
              encoded.prefix(32).allSatisfy({ ($0 & 0xDF) >= 0x41 && ($0 & 0xDF) <= 0x50 }),
              encoded.count == 32 || encoded.dropFirst(32).first == UInt8(ascii: ".")
        else { return name }
        var utf8 = encoded.makeIterator()
        var decoded: (UInt64, UInt64) = (0, 0) // 15 bytes, packed
        var count = 0, lastNonSpace = 0
        for index in 0..<16 {
            guard let a = utf8.next(), let b = utf8.next() else { return name }
            let hi = a & 0xDF, lo = b & 0xDF // upper-case
            guard hi >= 0x41, hi <= 0x50, lo >= 0x41, lo <= 0x50 else { return name }
            let byte = (hi - 0x41) << 4 | (lo - 0x41)
            if index == 15 { break }
            guard byte >= 0x20, byte < 0x7F else { break }
            if index < 8 { decoded.0 |= UInt64(byte) << UInt64(8 * index) } else { decoded.1 |= UInt64(byte) << UInt64(8 * (index - 8)) }
            count = index + 1
            if byte != 0x20 { lastNonSpace = count }
        }
        _ = count
        return TextSink.makeString { s in
            for index in 0..<lastNonSpace {
                let word = index < 8 ? decoded.0 : decoded.1
                s.append(UInt8(truncatingIfNeeded: word >> UInt64(8 * (index & 7))))
            }
        }
    }
}
