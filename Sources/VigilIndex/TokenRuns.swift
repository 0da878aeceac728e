import Foundation
import GRDB
import GRDBSQLite
import VigilCore

/// Keys of the token runs (``RunKind/token``), the block text index of indexes that record
/// `block_text` = `runs` in `index_meta` (docs/alerts.md, "Block layout"): per block, one entry
/// per distinct token of its alerts' text, whose sequence number is the block's.
///
/// A key is 17 bytes, compared bytewise like the address keys: the token's first 12 bytes
/// (ASCII, lower-cased; zero-padded, and token bytes are never zero, so a token sorts before its
/// longer continuations), the FNV-1a hash of the whole token (``TokenSet``'s), and a zero byte.
/// A token is one key; a prefix is one range, from its bytes padded with zeros to its bytes
/// padded with 0xFF (longer than 12 bytes: its first 12, a superset). A token with bytes above
/// 0x7F is given to FTS5's own `unicode61` tokenizer (``FTS5Tokenizer``), which splits and folds
/// it as `alerts_fts` will (`café` → `cafe`), and each token it makes is a key. Should that
/// tokenizer be missing, the block gets the all-zero **marker** key instead, which makes it a
/// candidate for every term.
enum TokenKey {
    static let width = 12

    /// The entry of an ASCII token (lower-cased) of block `block`, `hash` its ``TokenSet`` hash.
    @inline(__always)
    static func entry(_ token: UnsafeRawBufferPointer, hash: UInt32, block: Int64) -> RunEntry {
        var k0: UInt64 = 0, k1: UInt64 = 0
        let n = min(token.count, width)
        for i in 0..<min(n, 8) { k0 |= UInt64(token[i]) << UInt64(56 - 8 * i) }
        if n > 8 { for i in 8..<n { k1 |= UInt64(token[i]) << UInt64(56 - 8 * (i - 8)) } }
        return RunEntry(k0: k0, k1: k1 | UInt64(hash), k2: 0, seq: block)
    }

    /// The entry saying that block `block` has tokens with bytes above 0x7F.
    static func marker(block: Int64) -> RunEntry { RunEntry(k0: 0, k1: 0, k2: 0, seq: block) }

    /// The FNV-1a hash ``TokenSet`` gives the lower-cased `token`.
    static func hash(_ token: UnsafeRawBufferPointer) -> UInt32 {
        var h: UInt32 = 2_166_136_261
        for c in token { h = (h ^ UInt32(TokenSet.table[Int(c)])) &* 16_777_619 }
        return h
    }

    static func hash(_ token: [UInt8]) -> UInt32 { token.withUnsafeBytes { hash($0) } }

    /// The inclusive key range of a query term (lower-cased ASCII): the token itself, or every
    /// token it starts (`prefix`).
    static func range(_ token: [UInt8], prefix: Bool) -> (low: RunEntry, high: RunEntry) {
        let exact = token.withUnsafeBytes { entry($0, hash: hash(token), block: 0) }
        guard prefix else { return (exact, exact) }
        var low = exact, high = exact
        let n = min(token.count, width)
        // Clear the hash, then fill the bytes after the prefix (and the hash) with 0xFF.
        low.k1 &= 0xFFFF_FFFF_0000_0000
        high.k1 |= 0xFFFF_FFFF
        for i in n..<width {
            if i < 8 { high.k0 |= 0xFF << UInt64(56 - 8 * i) } else { high.k1 |= 0xFF << UInt64(56 - 8 * (i - 8)) }
        }
        high.k2 = 0xFF
        return (low, high)
    }
}

/// FTS5's `unicode61` tokenizer (the one `alerts_fts` and `block_fts` use), called directly
/// through the `fts5_api` of a connection: the tokens FTS5 makes of a text. One thread at a time.
final class FTS5Tokenizer {
    private var module = fts5_tokenizer()
    private var tokenizer: OpaquePointer?
    /// The tokens of the last ``tokenize(_:)``, each followed by its length (UInt32, native).
    private var out: [UInt8] = []

    init?(_ conn: OpaquePointer) {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(conn, "SELECT fts5(?1)", -1, &stmt, nil) == SQLITE_OK else { return nil }
        defer { sqlite3_finalize(stmt) }
        var api: UnsafeMutablePointer<fts5_api>?
        let found: Bool = withUnsafeMutablePointer(to: &api) { p in
            sqlite3_bind_pointer(stmt, 1, p, "fts5_api_ptr", nil)
            return sqlite3_step(stmt) == SQLITE_ROW
        }
        guard found, let api, let find = api.pointee.xFindTokenizer else { return nil }
        var context: UnsafeMutableRawPointer?
        guard find(api, "unicode61", &context, &module) == SQLITE_OK, let create = module.xCreate else { return nil }
        var made: OpaquePointer?
        guard create(context, nil, 0, &made) == SQLITE_OK, made != nil else { return nil }
        tokenizer = made
    }

    deinit {
        if let tokenizer { module.xDelete?(tokenizer) }
    }

    /// Calls `body` with each token FTS5 makes of `text` (as it would of a document).
    func tokenize(_ text: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer) -> Void) {
        guard let tokenizer, let run = module.xTokenize, text.count > 0 else { return }
        out.removeAll(keepingCapacity: true)
        let sink = Unmanaged.passUnretained(self).toOpaque()
        _ = run(tokenizer, sink, FTS5_TOKENIZE_DOCUMENT, text.baseAddress!.assumingMemoryBound(to: CChar.self), Int32(text.count)) { ctx, _, token, n, _, _ in
            guard let ctx, let token, n > 0 else { return SQLITE_OK }
            let me = Unmanaged<FTS5Tokenizer>.fromOpaque(ctx).takeUnretainedValue()
            me.out.append(contentsOf: UnsafeRawBufferPointer(start: token, count: Int(n)))
            withUnsafeBytes(of: UInt32(n)) { me.out.append(contentsOf: $0) }
            return SQLITE_OK
        }
        // Tokens in order, each followed by its length: walk them from the end.
        out.withUnsafeBytes { p in
            var end = p.count
            while end >= 4 {
                let n = Int(p.loadUnaligned(fromByteOffset: end - 4, as: UInt32.self))
                let start = end - 4 - n
                guard start >= 0 else { break }
                body(UnsafeRawBufferPointer(rebasing: p[start..<(end - 4)]))
                end = start
            }
        }
    }
}

extension AlertIndex {
    /// The blocks that may match the text query `q` by the token runs; nil when no block can be
    /// ruled out (the same relaxation as ``BlockTextQuery/blockMatch``).
    func tokenRunBlocks(_ db: Database, _ q: BlockTextQuery, capFloor: Int = 10_000) throws -> Set<Int64>? {
        let usable = q.all ? q.tokens.filter(\.ascii) : q.tokens
        guard !usable.isEmpty, usable.allSatisfy(\.ascii) else { return nil }
        let segments = try Int64.fetchAll(db, sql: "SELECT segment FROM alert_segments ORDER BY segment DESC")
        let marker = TokenKey.marker(block: 0)
        let marked = Set(try runSeqs(db, kind: .token, low: marker, high: marker, segments: segments) ?? [])
        // A term whose entries outnumber the blocks several times over (a short prefix: `u*`
        // spans thousands of tokens) rules out few blocks, and reading its entries would cost
        // more than the blocks it spares: it does not filter.
        let cap = 4 * (try Int.fetchOne(db, sql: "SELECT count(*) FROM alert_blocks") ?? 0) + capFloor
        var result: Set<Int64>?
        for token in usable {
            let (low, high) = TokenKey.range(token.text, prefix: token.prefix)
            guard let found = try runSeqs(db, kind: .token, low: low, high: high, segments: segments, cap: cap) else {
                if q.all { continue } else { return nil }
            }
            var blocks = Set(found)
            blocks.formUnion(marked)
            if let r = result {
                result = q.all ? r.intersection(blocks) : r.union(blocks)
            } else {
                result = blocks
            }
            if q.all && result!.isEmpty { break }
        }
        return result
    }
}
