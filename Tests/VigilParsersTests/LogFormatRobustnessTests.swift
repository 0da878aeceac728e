import Testing
import VigilCore
import VigilParsers
import VigilTestSupport

/// Seeded mutations of valid lines never crash the grok, web access, Zeek or EVE parsers (they
/// either parse or throw `ParseFailure`), and whatever they emit passes schema normalization or
/// fails it cleanly.
@Suite struct LogFormatRobustnessTests {
    static let perType = 50_000

    static func run(_ name: String, _ parser: some LineParser, seeds: [String], seed: UInt64) {
        var g = SeededGenerator(seed: seed)
        let corpus = seeds.map { Array($0.utf8) }
        var parsed = 0
        for k in 0..<perType {
            var input = Mutator.mutate(corpus[k % corpus.count], &g)
            if LogFormatSupport.survives(parser, &input) { parsed += 1 }
        }
        // Both outcomes must occur: mutations that keep the line valid, and ones that break it.
        #expect(parsed > 0 && parsed < perType, "\(name): \(parsed) of \(perType) parsed")
        print("\(name): \(perType) mutated inputs, \(parsed) parsed, no crash")
    }

    @Test func webAccess() {
        Self.run("apache_access", WebAccessParser(dataset: "apache.access", extraFields: [.init(name: "t", type: .float), .init(name: "n", type: .int)]), seeds: [
            #"1.2.3.4 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)" 0.5 7"#,
            #"2001:db8::1 - "bob" [14/Mar/2026:09:12:07 +0200] "\x16\x03\x01" 400 - "-" "a \"b\"""#,
            #"h.example - - [14/Mar/2026:09:12:07 +0000] "GET / HTTP/1.1" 200 5"#,
        ], seed: 1)
    }

    @Test func zeek() {
        Self.run("zeek conn TSV", ZeekParser(log: "conn"), seeds: [
            "1773479527.123456\tCHhAvVGS1DHFjwGM9\t141.142.220.202\t5353\t224.0.0.251\t5353\tudp\tdns\t0.5\t10\t20\tS0\tF\tT\t0\tD\t1\t73\t0\t0\t-\t17",
            "XXXXXXXXXX.XXXXXX\tC\tfe80::1\t1\tff02::fb\t2\ttcp\t-\t-\t-\t-\tOTH\t-\t-\t0\t-\t0\t0\t0\t0\t(empty)\t6",
        ], seed: 2)
        Self.run("zeek dns TSV", ZeekParser(log: "dns"), seeds: [
            "1773479527.5\tC\t10.0.0.1\t53000\t10.0.0.53\t53\tudp\t4242\t0.01\texample.com\t1\tC_INTERNET\t1\tA\t0\tNOERROR\tF\tF\tT\tT\t0\t1.2.3.4,5.6.7.8\t60.0,61.0\tF",
        ], seed: 3)
        Self.run("zeek JSON", ZeekParser(), seeds: [
            #"{"ts":1773479527.1,"uid":"C1","id.orig_h":"10.0.0.1","id.orig_p":1,"id.resp_h":"10.0.0.2","id.resp_p":53,"proto":"udp","query":"a.example","answers":["1.2.3.4"],"TTLs":[5.0],"rcode_name":"NOERROR","AA":true}"#,
            #"{"_path":"ssl","ts":"2026-03-14T09:12:07Z","version":"TLSv13","established":true,"server_name":"x"}"#,
        ], seed: 4)
    }

    @Test func eve() {
        Self.run("eve", EVEParser(keepUnmapped: true), seeds: [
            #"{"timestamp":"2026-03-14T09:12:07.123456+0000","flow_id":1,"event_type":"alert","src_ip":"10.0.0.5","src_port":1,"dest_ip":"10.0.0.6","dest_port":80,"proto":"TCP","alert":{"signature_id":2,"signature":"x","severity":2},"http":{"url":"/a?b","status":200}}"#,
            #"{"event_type":"dns","dns":{"type":"answer","id":1,"rrname":"a","rrtype":"A","rcode":"NOERROR","answers":[{"rrname":"a","rrtype":"A","ttl":1,"rdata":"1.2.3.4"}],"grouped":{"A":["1.2.3.4"]}}}"#,
            #"{"event_type":"flow","flow":{"start":"2026-03-14T09:12:07+0000","end":"2026-03-14T09:12:08+0000","bytes_toserver":1}}"#,
        ], seed: 5)
    }

    @Test func grok() throws {
        let library = try GrokPatternLibrary.load(directory: repositoryRoot() + "/parsers/patterns")
        let parser = try GrokParser(patterns: [
            "%{IPORHOST:source.address} %{USER:ident} %{USER:user.name} \\[%{HTTPDATE:ts}\\] \"%{WORD:m} %{URIPATHPARAM:u} HTTP/%{NUMBER:v}\" %{INT:s:int} %{NUMBER:b:float}",
            "%{SYSLOGTIMESTAMP:ts} %{SYSLOGHOST:h} %{SYSLOGPROG}: %{GREEDYDATA:message}",
        ], library: library, anchor: .full, maxLineBytes: 512)
        Self.run("grok", parser, seeds: [
            #"10.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /a?b=1 HTTP/1.1" 200 2326"#,
            "Mar 14 09:12:07 host sshd[12]: Accepted password for root from 10.0.0.1 port 22 ssh2",
        ], seed: 6)
    }
}
