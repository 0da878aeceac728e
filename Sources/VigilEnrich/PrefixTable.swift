import VigilCore

/// Longest-prefix match of IP addresses against networks (IPv4 and IPv6), and exact lookups of
/// addresses (a host network per address).
///
/// One open-addressing hash table holds every (masked address, prefix length) pair; a lookup
/// probes the prefix lengths present in the table, longest first, and stops at the first hit. A
/// table of host addresses only (an asset inventory keyed by IP) thus costs one probe; a zone
/// table with /8, /16 and /24 networks at most three.
///
/// - Complexity: lookup O(*d*) expected probes for *d* distinct prefix lengths of the address's
///   family (at most 33 for IPv4, 129 for IPv6); building O(*n*).
struct PrefixTable: Sendable {
    private struct Slot {
        var high: UInt64
        var low: UInt64
        var value: Int32
        /// `prefix length` for IPv4, `64 + prefix length` for IPv6; `0xFF` when empty.
        var code: UInt8
    }

    private var slots: [Slot]
    private var mask: Int
    /// Prefix lengths present, longest first, per family.
    private(set) var v4Lengths: [UInt8] = []
    private(set) var v6Lengths: [UInt8] = []
    /// Number of networks held.
    private(set) var count = 0

    init(capacity: Int = 0) {
        var size = 16
        while size < capacity * 2 { size <<= 1 }
        slots = Array(repeating: Slot(high: 0, low: 0, value: 0, code: 0xFF), count: size)
        mask = size - 1
    }

    @inline(__always)
    private static func masked(_ ip: IPAddress, _ length: UInt8) -> (UInt64, UInt64, UInt8) {
        if ip.isV4 {
            let m: UInt64 = length == 0 ? 0 : (0xFFFF_FFFF << (32 - UInt64(length))) & 0xFFFF_FFFF
            return (0, ip.low & m, length)
        }
        if length <= 64 {
            let m: UInt64 = length == 0 ? 0 : ~0 << (64 - UInt64(length))
            return (ip.high & m, 0, 64 &+ length)
        }
        let m: UInt64 = ~0 << (128 - UInt64(length))
        return (ip.high, ip.low & m, 64 &+ length)
    }

    /// Adds `network` → `value`; the same network again replaces the value (the last one wins).
    /// Returns whether the network was new.
    @discardableResult
    mutating func insert(_ network: IPNetwork, value: Int32) -> Bool {
        if (count + 1) * 2 > slots.count { grow() }
        let length = UInt8(network.prefixLength)
        let (high, low, code) = Self.masked(network.address, length)
        var slot = Int(truncatingIfNeeded: KeyHash.address(high, low, code)) & mask
        while slots[slot].code != 0xFF {
            if slots[slot].code == code && slots[slot].high == high && slots[slot].low == low {
                slots[slot].value = value
                return false
            }
            slot = (slot + 1) & mask
        }
        slots[slot] = Slot(high: high, low: low, value: value, code: code)
        count += 1
        if network.address.isV4 {
            if !v4Lengths.contains(length) { v4Lengths.append(length); v4Lengths.sort(by: >) }
        } else if !v6Lengths.contains(length) {
            v6Lengths.append(length)
            v6Lengths.sort(by: >)
        }
        return true
    }

    /// Adds a host network for `address`.
    @discardableResult
    mutating func insert(address: IPAddress, value: Int32) -> Bool {
        // A host network always exists for a valid address.
        insert(IPNetwork(address: address, prefixLength: address.isV4 ? 32 : 128)!, value: value)
    }

    private mutating func grow() {
        let old = slots
        let size = old.count * 2
        slots = Array(repeating: Slot(high: 0, low: 0, value: 0, code: 0xFF), count: size)
        mask = size - 1
        for s in old where s.code != 0xFF {
            var slot = Int(truncatingIfNeeded: KeyHash.address(s.high, s.low, s.code)) & mask
            while slots[slot].code != 0xFF { slot = (slot + 1) & mask }
            slots[slot] = s
        }
    }

    /// The value of the longest network containing `ip`, or nil.
    @inline(__always)
    func longestMatch(_ ip: IPAddress) -> Int32? {
        return (ip.isV4 ? v4Lengths : v6Lengths).withUnsafeBufferPointer { lengths in
          slots.withUnsafeBufferPointer { slots in
            for length in lengths {
                let (high, low, code) = Self.masked(ip, length)
                var slot = Int(truncatingIfNeeded: KeyHash.address(high, low, code)) & mask
                while true {
                    let s = slots[slot]
                    if s.code == 0xFF { break }
                    if s.code == code && s.high == high && s.low == low { return s.value }
                    slot = (slot + 1) & mask
                }
            }
            return nil
          }
        }
    }

    /// The value of exactly `network`, or nil.
    func exact(_ network: IPNetwork) -> Int32? {
        let (high, low, code) = Self.masked(network.address, UInt8(network.prefixLength))
        var slot = Int(truncatingIfNeeded: KeyHash.address(high, low, code)) & mask
        while slots[slot].code != 0xFF {
            if slots[slot].code == code && slots[slot].high == high && slots[slot].low == low { return slots[slot].value }
            slot = (slot + 1) & mask
        }
        return nil
    }
}
