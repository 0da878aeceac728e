/// Copies `count` bytes from `source` to `destination` (which must not overlap): inline loads and
/// stores for the short texts most fields hold, `memmove` for longer ones. A call to `memmove`
/// costs more than the copy itself for a few bytes.
@inlinable @inline(__always)
public func copyBytes(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
    // Nested tests rather than a switch of ranges: fewer comparisons and branches, so that the
    // copy stays small enough to be inlined into the setters that use it.
    if count <= 16 {
        if count >= 8 {
            let head = source.loadUnaligned(as: UInt64.self)
            let tail = source.loadUnaligned(fromByteOffset: count &- 8, as: UInt64.self)
            destination.storeBytes(of: head, as: UInt64.self)
            destination.storeBytes(of: tail, toByteOffset: count &- 8, as: UInt64.self)
        } else if count >= 4 {
            let head = source.loadUnaligned(as: UInt32.self)
            let tail = source.loadUnaligned(fromByteOffset: count &- 4, as: UInt32.self)
            destination.storeBytes(of: head, as: UInt32.self)
            destination.storeBytes(of: tail, toByteOffset: count &- 4, as: UInt32.self)
        } else if count > 0 {
            destination.storeBytes(of: source.load(as: UInt8.self), as: UInt8.self)
            destination.storeBytes(of: source.load(fromByteOffset: count >> 1, as: UInt8.self), toByteOffset: count >> 1, as: UInt8.self)
            destination.storeBytes(of: source.load(fromByteOffset: count &- 1, as: UInt8.self), toByteOffset: count &- 1, as: UInt8.self)
        }
    } else if count <= 32 {
        let a = source.loadUnaligned(as: (UInt64, UInt64).self)
        let b = source.loadUnaligned(fromByteOffset: count &- 16, as: (UInt64, UInt64).self)
        destination.storeBytes(of: a.0, as: UInt64.self)
        destination.storeBytes(of: a.1, toByteOffset: 8, as: UInt64.self)
        destination.storeBytes(of: b.0, toByteOffset: count &- 16, as: UInt64.self)
        destination.storeBytes(of: b.1, toByteOffset: count &- 8, as: UInt64.self)
    } else {
        destination.copyMemory(from: source, byteCount: count)
    }
}
