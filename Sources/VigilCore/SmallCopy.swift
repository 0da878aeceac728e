/// Copies `count` bytes from `source` to `destination` (which must not overlap): inline loads and
/// stores for the short texts most fields hold, `memmove` for longer ones. A call to `memmove`
/// costs more than the copy itself for a few bytes.
@inlinable @inline(__always)
package func copyBytes(_ destination: UnsafeMutableRawPointer, _ source: UnsafeRawPointer, _ count: Int) {
    switch count {
    case 8...16:
        let head = source.loadUnaligned(as: UInt64.self)
        let tail = source.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        destination.storeBytes(of: head, as: UInt64.self)
        destination.storeBytes(of: tail, toByteOffset: count - 8, as: UInt64.self)
    case 4...7:
        let head = source.loadUnaligned(as: UInt32.self)
        let tail = source.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        destination.storeBytes(of: head, as: UInt32.self)
        destination.storeBytes(of: tail, toByteOffset: count - 4, as: UInt32.self)
    case 17...32:
        let a = source.loadUnaligned(as: (UInt64, UInt64).self)
        let b = source.loadUnaligned(fromByteOffset: count - 16, as: (UInt64, UInt64).self)
        destination.storeBytes(of: a.0, as: UInt64.self)
        destination.storeBytes(of: a.1, toByteOffset: 8, as: UInt64.self)
        destination.storeBytes(of: b.0, toByteOffset: count - 16, as: UInt64.self)
        destination.storeBytes(of: b.1, toByteOffset: count - 8, as: UInt64.self)
    case 1...3:
        destination.storeBytes(of: source.load(as: UInt8.self), as: UInt8.self)
        destination.storeBytes(of: source.load(fromByteOffset: count >> 1, as: UInt8.self), toByteOffset: count >> 1, as: UInt8.self)
        destination.storeBytes(of: source.load(fromByteOffset: count - 1, as: UInt8.self), toByteOffset: count - 1, as: UInt8.self)
    case 0:
        break
    default:
        destination.copyMemory(from: source, byteCount: count)
    }
}
