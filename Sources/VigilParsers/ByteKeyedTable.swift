/// A read-only map from byte strings to values, looked up with bytes borrowed from a line, so no
/// `String` is built (or hashed with SipHash) just to find a dictionary entry: open addressing
/// with linear probing, keys stored back to back.
///
/// A final class so that a `static let` table is shared without copying (or retaining) its
/// arrays on every lookup.
final class ByteKeyedTable<Value: Sendable>: Sendable {
    /// By slot: the entry index + 1, or 0 when empty.
    private let slots: [Int32]
    private let keyBytes: [UInt8]
    /// Entry `k`'s key is `keyBytes[keyStarts[k]..<keyStarts[k + 1]]`.
    private let keyStarts: [Int]
    private let values: [Value]
    private let mask: Int

    /// A table of `entries` (keys are distinct, as in a `Dictionary`).
    init(_ entries: [String: Value]) {
        var size = 16
        while size < entries.count * 4 { size *= 2 }
        var slots = [Int32](repeating: 0, count: size)
        var keyBytes: [UInt8] = []
        var keyStarts: [Int] = [0]
        var values: [Value] = []
        for (key, value) in entries.sorted(by: { $0.key < $1.key }) {
            let bytes = Array(key.utf8)
            var slot = bytes.withUnsafeBytes { ByteKeyedTable.hash($0) } & (size - 1)
            while slots[slot] != 0 { slot = (slot + 1) & (size - 1) }
            slots[slot] = Int32(values.count + 1)
            keyBytes += bytes
            keyStarts.append(keyBytes.count)
            values.append(value)
        }
        self.slots = slots
        self.keyBytes = keyBytes
        self.keyStarts = keyStarts
        self.values = values
        self.mask = size - 1
    }

    /// FNV-1a over the bytes.
    @inline(__always)
    private static func hash(_ bytes: UnsafeRawBufferPointer) -> Int {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in bytes { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return Int(truncatingIfNeeded: h ^ (h >> 29))
    }

    /// The value whose key is exactly `key`, or nil.
    /// - Complexity: O(key length) expected.
    func value(for key: UnsafeRawBufferPointer) -> Value? {
        var slot = ByteKeyedTable.hash(key) & mask
        while true {
            let entry = Int(slots[slot])
            if entry == 0 { return nil }
            let start = keyStarts[entry - 1], end = keyStarts[entry]
            if end - start == key.count {
                var k = 0
                while k < key.count, keyBytes[start + k] == key[k] { k += 1 }
                if k == key.count { return values[entry - 1] }
            }
            slot = (slot + 1) & mask
        }
    }
}
