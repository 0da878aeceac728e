import Foundation
import GRDB
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// A block's text stored in parts (``BlockTextCodec``): compressed, each with a Bloom filter of
/// its tokens, read part by part by full-text queries; blobs written before parts stay readable.
@Suite struct BlockTextTests {
    /// 5,000 alerts (three blocks, parts of 256): a user per 400, a unicode text per 1,000.
    func events() -> [Event] {
        (0..<5000).map { i in
            let sample = i % 1000 == 7
                ? #"{"message":"Zugriff verweigert für Jürgen\#(i)","host":"web-\#(i % 9)"}"#
                : #"{"message":"Failed password for u\#(i % 400) from 10.0.\#(i % 250).1 port \#(40000 + i)","host":"web-\#(i % 9)"}"#
            return makeAlert(id: "t\(i)", rule: "r\(i % 5)", time: base + Int64(i) * 1_000_000_000, user: "u\(i % 400)", sample: sample)
        }
    }

    func query(_ index: AlertIndex, _ text: String) throws -> Set<String> {
        var f = AlertFilter()
        f.text = try FullTextQuery(text, filter: "--text")
        return try ids(index, f, limit: 10_000)
    }

    /// What the queries of these tests find.
    func answers(_ index: AlertIndex) throws -> [String: Set<String>] {
        var out: [String: Set<String>] = [:]
        for q in ["u123", "u12*", "jürgen2007", "port 40017", "u5 OR u6", "nosuchtoken", "failed NOT u1"] { out[q] = try query(index, q) }
        return out
    }

    func expected() -> [String: Set<String>] {
        func ids(_ keep: (Int) -> Bool) -> Set<String> { Set((0..<5000).filter(keep).map { "t\($0)" }) }
        let unicode: (Int) -> Bool = { $0 % 1000 == 7 }
        return [
            "u123": ids { $0 % 400 == 123 },
            "u12*": ids { String($0 % 400).hasPrefix("12") },
            "jürgen2007": ["t2007"],
            "port 40017": ["t17"],
            "u5 OR u6": ids { $0 % 400 == 5 || $0 % 400 == 6 },
            "nosuchtoken": [],
            "failed NOT u1": ids { !unicode($0) && $0 % 400 != 1 },
        ]
    }

    @Test func queriesReadThePartsTheyNeed() throws {
        let dir = try TemporaryDirectory("vigil-text"); defer { dir.remove() }
        let index = try openIndex(dir); defer { index.close() }
        try index.write(rows(events()))
        // Every block's text is in parts, smaller than the plain text.
        let sizes = try index.pool.read { db in
            try Row.fetchAll(db, sql: "SELECT b.alerts, t.text FROM alert_blocks b JOIN alert_block_text t ON t.block = b.block").map { row -> (Int, Int) in
                let alerts: Int = row[0], blob: Data = row[1]
                #expect(blob.first == BlockTextCodec.marker)
                let plain = try blob.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws(AlertIndexError) in try BlockTextCodec.whole(p, alerts: alerts) }
                return (blob.count, plain.count)
            }
        }
        #expect(sizes.count == 3)
        #expect(sizes.allSatisfy { $0.0 * 2 < $0.1 }, "\(sizes)")
        #expect(try answers(index) == expected())
        #expect(try index.integrityProblems() == [])
    }

    @Test func bloomFiltersHoldTheirPartsTokens() {
        var b = AlertBlockBuilder(bodyPart: AlertBlockLayout.bodyPart)
        var texts: [[UInt8]] = []
        for i in 0..<600 {
            let item = Array("\u{0}k\(i)\u{1F}user\(i)\u{1F}failed password for user\(i) port \(40000 + i)".utf8)
            texts.append(item)
            let row = try! AlertRow(event: makeAlert(id: "b\(i)", time: base, user: "user\(i)"))
            item.withUnsafeBytes { it in
                "b\(i)".utf8.withContiguousStorageIfAvailable { id in
                    withUnsafePointer(to: row) { b.append($0, ruleNumber: 0, id: UnsafeRawBufferPointer(id), user: nil, key: nil,
                                                       body: UnsafeRawBufferPointer(start: nil, count: 0), item: it,
                                                       tokens: UnsafeRawBufferPointer(start: nil, count: 0), fingerprint: 0) }
                }
            }
        }
        var blob: [UInt8] = [], scratch: [UInt8] = []
        b.textBlob(into: &blob, scratch: &scratch)
        blob.withUnsafeBytes { p in
            let layout = try! BlockTextCodec.layout(p, alerts: 600, size: p.count)
            #expect(layout.parts.count == 3)
            // The plain text comes back whole.
            let whole = try! BlockTextCodec.whole(p, alerts: 600)
            whole.withUnsafeBytes { w in
                let framed = FramedBlob(w, count: 600)
                for i in 0..<600 { #expect(Array(framed.item(i)) == texts[i]) }
            }
            func bloom(_ part: Int) -> UnsafeRawBufferPointer {
                let at = layout.bloomsAt + 8 * layout.bloomWords * part
                return UnsafeRawBufferPointer(rebasing: p[at..<(at + 8 * layout.bloomWords)])
            }
            var falsePositives = 0
            for i in 0..<600 {
                let token = Array("user\(i)".utf8), part = i / BlockTextCodec.partSize
                #expect(BlockTextCodec.bloomMayContain(bloom(part), BlockTextCodec.tokenHash(token)))
                // Another part's user.
                if BlockTextCodec.bloomMayContain(bloom((part + 1) % 3), BlockTextCodec.tokenHash(token)) { falsePositives += 1 }
            }
            #expect(falsePositives < 30, "\(falsePositives) of 600")
        }
    }

    @Test func indexesWrittenBeforePartsStayReadable() throws {
        let dir = try TemporaryDirectory("vigil-text"); defer { dir.remove() }
        let index = try openIndex(dir); defer { index.close() }
        try index.write(rows(events()))
        // Each block's text as indexes wrote it before parts: the plain items, then their ends.
        try index.pool.write { db in
            for row in try Row.fetchAll(db, sql: "SELECT b.block, b.alerts, t.text FROM alert_blocks b JOIN alert_block_text t ON t.block = b.block") {
                let block: Int64 = row[0], alerts: Int = row[1], blob: Data = row[2]
                let plain = try blob.withUnsafeBytes { (p: UnsafeRawBufferPointer) throws(AlertIndexError) in try BlockTextCodec.whole(p, alerts: alerts) }
                #expect(plain.first != BlockTextCodec.marker)
                try db.execute(sql: "UPDATE alert_block_text SET text = ? WHERE block = ?", arguments: [Data(plain), block])
            }
        }
        #expect(try answers(index) == expected())
        #expect(try index.integrityProblems() == [])
        // Retention writes the first block again (in parts).
        #expect(try index.blockDeleteBefore(base + 1500 * 1_000_000_000) == 1500)
        #expect(try query(index, "u123") == Set((1500..<5000).filter { $0 % 400 == 123 }.map { "t\($0)" }))
        #expect(try index.integrityProblems() == [])
    }

    @Test(arguments: ["directory", "lz4", "ends"]) func aDamagedTextPartIsAnErrorNotACrash(damage: String) throws {
        let dir = try TemporaryDirectory("vigil-text"); defer { dir.remove() }
        let index = try openIndex(dir); defer { index.close() }
        try index.write(rows(events()))
        try index.pool.write { db in
            var blob = [UInt8](try Data.fetchOne(db, sql: "SELECT text FROM alert_block_text ORDER BY block LIMIT 1")!)
            let parts = Int(blob[4]) | Int(blob[5]) << 8
            let entry = BlockTextCodec.headerSize
            let storedStart = blob.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: entry, as: UInt32.self))) }
            let storedSize = blob.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: entry + 4, as: UInt32.self))) }
            #expect(parts == 8 && blob[entry + 12] & 2 != 0)
            switch damage {
            case "directory":
                // Part 0 claims more stored bytes than the blob holds.
                blob[entry + 7] = 0x7F
            case "lz4":
                for i in stride(from: storedStart + 8, to: storedStart + storedSize, by: 97) { blob[i] ^= 0x5A }
            default:
                // Part 0 stored plain at the blob's end, its last end past its items.
                let plainSize = blob.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(fromByteOffset: entry + 8, as: UInt32.self))) }
                var plain: [UInt8] = []
                let stored = Array(blob[storedStart..<(storedStart + storedSize)])
                _ = try stored.withUnsafeBytes { (s: UnsafeRawBufferPointer) throws(AlertIndexError) in
                    try BlockTextCodec.plain(s, part: .init(storedStart: 0, storedSize: storedSize, plainSize: plainSize, flags: 2), alerts: 256, into: &plain)
                }
                plain.removeSubrange(plainSize...)
                for i in 0..<4 { plain[plainSize - 4 + i] = 0xFF }
                let at = blob.count
                blob += plain
                blob.withUnsafeMutableBytes { o in
                    o.storeBytes(of: UInt32(at).littleEndian, toByteOffset: entry, as: UInt32.self)
                    o.storeBytes(of: UInt32(plainSize).littleEndian, toByteOffset: entry + 4, as: UInt32.self)
                }
                blob[entry + 12] &= ~2
            }
            try db.execute(sql: "UPDATE alert_block_text SET text = ? WHERE rowid = (SELECT min(block) FROM alert_block_text)", arguments: [Data(blob)])
        }
        do {
            let found = try query(index, "u123")
            // A damaged LZ4 block may still decode to well-formed items: never a crash.
            #expect(damage == "lz4" && found.count <= 13, "\(found.count)")
        } catch let e as AlertIndexError {
            #expect("\(e)".contains("block text") || "\(e)".contains("text of block"), "\(e)")
        }
    }
}
