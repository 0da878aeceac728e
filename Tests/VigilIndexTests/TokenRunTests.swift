import Foundation
import GRDB
import Testing
import VigilCore
import VigilTestSupport
@testable import VigilIndex

/// The token runs: the block layout's text index since they replaced `block_fts` (docs/alerts.md).
@Suite struct TokenRunTests {
    func key(_ token: String) -> RunEntry {
        let bytes = Array(token.utf8)
        return bytes.withUnsafeBytes { TokenKey.entry($0, hash: TokenKey.hash(bytes), block: 7) }
    }

    func inRange(_ e: RunEntry, _ r: (low: RunEntry, high: RunEntry)) -> Bool {
        !AlertIndex.keyLess(e, r.low) && !AlertIndex.keyLess(r.high, e)
    }

    @Test func keysAndRanges() {
        // A token sorts before its continuations, and keys compare like the tokens' first 12 bytes.
        #expect(AlertIndex.keyLess(key("fail"), key("failed")))
        #expect(AlertIndex.keyLess(key("failed"), key("failure")))
        #expect(AlertIndex.keyLess(key("a"), key("b")))
        #expect(AlertIndex.keyLess(TokenKey.marker(block: 7), key("0")))
        // Exact terms: their own key only (long tokens differ by their hash).
        let exact = TokenKey.range(Array("failed".utf8), prefix: false)
        #expect(inRange(key("failed"), exact))
        #expect(!inRange(key("fail"), exact) && !inRange(key("failedx"), exact))
        let long = TokenKey.range(Array("averyveryverylongtoken".utf8), prefix: false)
        #expect(inRange(key("averyveryverylongtoken"), long))
        #expect(!inRange(key("averyveryverylongtokens"), long))
        // Prefixes: every continuation, nothing else.
        let fail = TokenKey.range(Array("fail".utf8), prefix: true)
        for t in ["fail", "failed", "failure", "failures_are_long_words", "failzzzzzzzzzzzzzzzz"] { #expect(inRange(key(t), fail), "\(t)") }
        for t in ["fai", "faim", "fajl", "f", "a", "zzz"] { #expect(!inRange(key(t), fail), "\(t)") }
        #expect(!inRange(TokenKey.marker(block: 7), fail))
        // A prefix longer than 12 bytes: a superset (its first 12 bytes).
        let longPrefix = TokenKey.range(Array("abcdefghijklmn".utf8), prefix: true)
        #expect(inRange(key("abcdefghijklmnop"), longPrefix) && inRange(key("abcdefghijklzz"), longPrefix))
        #expect(!inRange(key("abcdefghijkz"), longPrefix))
        // The hash of the query side equals the tokenizer's.
        var set = TokenSet()
        Array("Failed".utf8).withUnsafeBytes { set.add($0) }
        var entries: [RunEntry] = []
        set.appendEntries(block: 7, to: &entries)
        #expect(entries.count == 1 && !AlertIndex.keyLess(entries[0], key("failed")) && !AlertIndex.keyLess(key("failed"), entries[0]))
        // Tokens with bytes above 0x7F make one marker.
        set.removeAll()
        Array("café naïve ok".utf8).withUnsafeBytes { set.add($0) }
        entries = []
        set.appendEntries(block: 9, to: &entries)
        #expect(entries.count == 2)
        #expect(entries.contains { $0.k0 == 0 && $0.k1 == 0 && $0.seq == 9 })
    }

    @Test func unicodeTokensAreSplitAndFoldedByFTS5() throws {
        let db = try DatabaseQueue()
        let made: [String] = try db.inDatabase { db in
            let tokenizer = try #require(FTS5Tokenizer(db.sqliteConnection!))
            var out: [String] = []
            Array("Café naïve ÜBER foo\u{00A0}bar Straße".utf8).withUnsafeBytes { text in
                tokenizer.tokenize(text) { out.append(String(decoding: $0, as: UTF8.self)) }
            }
            return out
        }
        #expect(Set(made) == ["cafe", "naive", "uber", "foo", "bar", "straße"])
        // A token longer than 64 KiB comes through whole.
        let long = try db.inDatabase { db -> [Int] in
            let tokenizer = try #require(FTS5Tokenizer(db.sqliteConnection!))
            var lengths: [Int] = []
            Array(("é" + String(repeating: "a", count: 70_000) + " b").utf8).withUnsafeBytes { text in
                tokenizer.tokenize(text) { lengths.append($0.count) }
            }
            return lengths
        }
        #expect(long.sorted() == [1, 70_001])
        // In a block: the folded tokens are keys, and no marker.
        var set = TokenSet()
        Array("café\u{00A0}ok".lowercased().utf8).withUnsafeBytes { set.add($0) }
        var entries: [RunEntry] = []
        try db.inDatabase { db in set.appendEntries(block: 3, to: &entries, unicode: FTS5Tokenizer(db.sqliteConnection!)) }
        #expect(entries.count == 2)
        #expect(entries.contains { !AlertIndex.keyLess($0, key("cafe")) && !AlertIndex.keyLess(key("cafe"), $0) })
        #expect(!entries.contains { $0.k0 == 0 })
    }

    /// The same alerts in rows, in blocks with FTS5 documents, and in blocks with token runs:
    /// every text query finds the same alerts.
    @Test func everyTextIndexFindsTheSameAlerts() throws {
        let dir = try TemporaryDirectory("vigil-token-runs"); defer { dir.remove() }
        var indexes: [(String, AlertIndex)] = []
        for (name, layout, text) in [("rows", AlertIndexLayout.rows, BlockTextIndex.runs), ("fts5", .blocks, .fts5), ("runs", .blocks, .runs)] {
            var c = AlertIndexConfiguration(path: dir.file("\(name).db"))
            c.layout = layout
            c.blockText = text
            let index = try AlertIndex(configuration: c)
            #expect(index.textRuns == (layout == .blocks && text == .runs))
            indexes.append((name, index))
        }
        defer { for (_, i) in indexes { i.close() } }
        let words = ["alpha", "beta", "gamma", "delta", "failed", "failure", "fail", "café", "naïve", "Zürich", "ssh2", "port_scan"]
        var events: [Event] = []
        // 1,800 alerts in three writes: a block and a segment each; a few rare words.
        for i in 0..<1800 {
            var text = "\(words[i % words.count]) \(words[(i / 7) % words.count]) host\(i % 300)"
            if i == 1321 { text += " needle-in-haystack" }
            if i % 1000 == 17 { text += " Straße" }
            events.append(makeAlert(id: "t\(i)", rule: "r\(i % 4)", time: base + Int64(i) * 1_000_000_000, user: "u\(i % 50)",
                                    sample: #"{"message":"\#(text)","n":\#(i)}"#))
        }
        for (_, index) in indexes {
            for part in stride(from: 0, to: events.count, by: 600) { try index.write(rows(Array(events[part..<(part + 600)]))) }
            #expect(try index.integrityProblems() == [])
        }
        let queries = ["alpha", "ALPHA", "fail", "fail*", "fai*", "failed OR beta", "alpha NOT beta", "\"alpha beta\"", "cafe", "café", "naive",
                       "zurich", "strasse", "straße", "needle", "haystack", "needle-in-haystack", "host42", "host4*", "u7", "ssh2", "port",
                       "scan", "text:gamma", "user_name:u3", "10.0.0.1", "nothing_like_this", "r1", "delta gamma host299"]
        for text in queries {
            var q = AlertQuery()
            q.filter.text = try FullTextQuery(text, filter: "--text")
            q.limit = 10_000
            let found = try indexes.map { try Set($0.1.alerts(q).map(\.id)) }
            #expect(found[0] == found[1] && found[1] == found[2], "\(text): rows \(found[0].count), fts5 \(found[1].count), runs \(found[2].count)")
            q.limit = 20
            let pages = try indexes.map { try $0.1.alerts(q).map(\.id) }
            #expect(pages[0] == pages[1] && pages[1] == pages[2], "\(text), first page")
        }
        // A few sanity checks of the corpus itself.
        var q = AlertQuery()
        q.filter.text = try FullTextQuery("needle", filter: "--text")
        #expect(try indexes[2].1.alerts(q).map(\.id) == ["t1321"])
        // The runs rule blocks out: a rare word is in one block, a word of every alert in all three.
        let runs = indexes[2].1
        let blocks = try runs.read { db in
            try ["needle", "haystack", "alpha", "nothing_like_this", "cafe", "host1*"].map { try runs.tokenRunBlocks(db, BlockTextQuery($0))?.count ?? -1 }
        }
        #expect(blocks == [1, 1, 3, 0, 3, 3])
        // A term with more entries than four per block does not filter (here with no floor: 12).
        let capped = try runs.read { db in
            try ["alpha", "host1*", "needle host1*", "needle OR host1*", "host1* host2*"].map { try runs.tokenRunBlocks(db, BlockTextQuery($0), capFloor: 0)?.count ?? -1 }
        }
        #expect(capped == [3, -1, 1, -1, -1])
        q.filter.text = try FullTextQuery("cafe", filter: "--text")  // FTS5 folds "café"
        #expect(try indexes[2].1.count(q.filter) > 0)
    }

    @Test func anIndexKeepsItsBlockTextIndex() throws {
        let dir = try TemporaryDirectory("vigil-token-runs"); defer { dir.remove() }
        var c = AlertIndexConfiguration(path: dir.file("old.db"))
        c.blockText = .fts5
        var index = try AlertIndex(configuration: c)
        try index.write(rows(corpus()))
        index.close()
        // Reopened with the default: it keeps its FTS5 documents, and adds to them.
        index = try AlertIndex(configuration: AlertIndexConfiguration(path: dir.file("old.db")))
        #expect(!index.textRuns)
        try index.write(rows([makeAlert(id: "n1", time: base + 9 * hour, user: "dave")]))
        var f = AlertFilter()
        f.text = try FullTextQuery("dave OR bob", filter: "--text")
        #expect(try ids(index, f) == ["a2", "n1"])
        var counts = try index.read { db in
            (try Int.fetchAll(db, sql: "SELECT rowid FROM block_fts WHERE block_fts MATCH 'dave'").count,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM alert_runs WHERE kind = 3") ?? -1)
        }
        #expect(counts.0 == 1 && counts.1 == 0)
        #expect(try index.integrityProblems() == [])
        index.close()
        // A new index keeps token runs; its block_fts stays empty.
        index = try AlertIndex(configuration: AlertIndexConfiguration(path: dir.file("new.db")))
        defer { index.close() }
        #expect(index.textRuns)
        try index.write(rows(corpus()))
        f.text = try FullTextQuery("bob OR carol", filter: "--text")
        #expect(try ids(index, f) == ["a2", "a4"])
        counts = try index.read { db in
            (try Int.fetchAll(db, sql: "SELECT rowid FROM block_fts WHERE block_fts MATCH 'bob'").count,
             try Int.fetchOne(db, sql: "SELECT count(*) FROM alert_runs WHERE kind = 3") ?? -1)
        }
        #expect(counts.0 == 0 && counts.1 > 0)
        #expect(try index.integrityProblems() == [])
        // The check finds a block whose tokens are missing from the runs.
        try index.writeTransaction { db in try db.execute(sql: "DELETE FROM alert_runs WHERE kind = 3") }
        #expect(try index.integrityProblems().contains { $0.contains("no entry in the token runs") })
    }

    /// Retention deletes blocks and writes half-dead ones again; merges drop the token entries
    /// of deleted blocks; queries find exactly the live alerts.
    @Test func retentionAndMergesKeepTextQueriesExact() throws {
        let dir = try TemporaryDirectory("vigil-token-runs"); defer { dir.remove() }
        let index = try AlertIndex(configuration: AlertIndexConfiguration(path: dir.file("alerts.db")))
        defer { index.close() }
        var events: [Event] = []
        for i in 0..<3000 {
            events.append(makeAlert(id: "k\(i)", time: base + Int64(i) * 10_000_000_000, user: "user\(i % 40)",
                                    sample: #"{"message":"word\#(i % 97) common"}"#))
        }
        // Twelve small writes: the segments merge.
        for part in stride(from: 0, to: events.count, by: 250) { try index.write(rows(Array(events[part..<(part + 250)]))) }
        let cutoff = base + 1500 * 10_000_000_000
        _ = try index.blockDeleteBefore(cutoff)
        #expect(try index.integrityProblems() == [])
        // More writes after retention: merged segments drop entries of deleted blocks.
        var later: [Event] = []
        for i in 3000..<5000 {
            later.append(makeAlert(id: "k\(i)", time: base + Int64(i) * 10_000_000_000, user: "user\(i % 40)", sample: #"{"message":"word\#(i % 97) common"}"#))
        }
        for part in stride(from: 0, to: later.count, by: 250) { try index.write(rows(Array(later[part..<(part + 250)]))) }
        #expect(try index.integrityProblems() == [])
        let live = (events + later).filter { $0[.timestamp]!.timestampValue!.nanoseconds >= cutoff }
        for word in ["word5", "word96", "user7", "common", "word1*"] {
            var f = AlertFilter()
            f.text = try FullTextQuery(word, filter: "--text")
            let expected = Set(live.filter { e in
                let text = (e["vigil.alert.sample"]?.stringValue ?? "") + " " + (e["user.name"]?.stringValue ?? "")
                let tokens = text.split { !$0.isLetter && !$0.isNumber }.map(String.init)
                return word.hasSuffix("*") ? tokens.contains { $0.hasPrefix(word.dropLast()) } : tokens.contains(word)
            }.map { $0["vigil.alert.id"]!.stringValue! })
            #expect(try ids(index, f, limit: 10_000) == expected, "\(word)")
        }
    }
}

@Suite struct RetentionDropsRunsTests {
    /// Retention drops whole segments of runs once every block they point to is gone (large
    /// segments are never merged again, so merges alone never dropped them).
    @Test func segmentsBelowTheOldestBlockAreDropped() throws {
        let dir = try TemporaryDirectory("vigil-dead-segments"); defer { dir.remove() }
        let index = try AlertIndex(configuration: AlertIndexConfiguration(path: dir.file("alerts.db")))
        defer { index.close() }
        func alerts(_ range: Range<Int>) -> [Event] {
            range.map { i in makeAlert(id: "d\(i)", time: base + Int64(i) * 1_000_000_000, source: "10.1.\(i % 200).\(i % 7)", user: "user\(i % 30)",
                                       sample: #"{"message":"word\#(i % 11) everywhere"}"#) }
        }
        // Three transactions: three segments (fewer than eight small ones are not merged).
        for part in 0..<3 { try index.write(rows(alerts((part * 600)..<(part * 600 + 600)))) }
        func segments() throws -> [Int64] { try index.read { db in try Int64.fetchAll(db, sql: "SELECT segment FROM alert_segments ORDER BY segment") } }
        func runSegments() throws -> Set<Int64> { Set(try index.read { db in try Int64.fetchAll(db, sql: "SELECT DISTINCT segment FROM alert_runs") }) }
        let before = try segments()
        #expect(before.count == 3)
        // Retention takes the first transaction and part of the second.
        let deleted = try index.blockDeleteBefore(base + 900 * 1_000_000_000)
        #expect(deleted == 900)
        #expect(try segments() == Array(before.dropFirst()))
        #expect(try runSegments() == Set(before.dropFirst()))
        #expect(try index.integrityProblems() == [])
        // Lookups, updates and merges go on with the segments left.
        var f = AlertFilter()
        f.sources = [IPNetwork("10.1.0.0/16")!]
        #expect(try ids(index, f, limit: 10_000).count == 900)
        f = AlertFilter()
        f.text = try FullTextQuery("word3", filter: "--text")
        #expect(try ids(index, f, limit: 10_000) == Set((900..<1800).filter { $0 % 11 == 3 }.map { "d\($0)" }))
        let r = try index.write(rows([makeAlert(id: "d1000", time: base + 1000 * 1_000_000_000, count: 2)]))
        #expect(r.updated == 1 && r.inserted == 0)
        for part in 3..<12 { try index.write(rows(alerts((part * 100 + 1500)..<(part * 100 + 1600)))) }
        #expect(try index.integrityProblems() == [])
        // Everything deleted: no segment is left.
        _ = try index.blockDeleteBefore(Int64.max)
        #expect(try segments().isEmpty && runSegments().isEmpty)
        #expect(try index.integrityProblems() == [])
    }
}
