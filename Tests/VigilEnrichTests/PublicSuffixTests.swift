import Foundation
import Testing
import VigilCore
@testable import VigilEnrich
import VigilTestSupport

/// The Public Suffix List algorithm on a small list of our own (every rule form), on Debian's
/// list, and as a `registered_domain` enrichment.
@Suite struct PublicSuffixTests {
    /// A list in the real file's format exercising each kind of rule.
    static let fixture = """
    // A test list in the format of public_suffix_list.dat.
    // ===BEGIN ICANN DOMAINS===
    com
    uk
    co.uk
      at   // leading spaces and a trailing comment
    co.at
    // *.ck: every label under ck is a suffix, except www.ck
    *.ck
    !www.ck
    jp
    *.kobe.jp
    !city.kobe.jp
    cn
    com.cn
    公司.cn
    中国
    // ===END ICANN DOMAINS===
    // ===BEGIN PRIVATE DOMAINS===
    blogspot.com
    blogspot.co.at
    github.io
    *.compute.example-cloud.com
    // ===END PRIVATE DOMAINS===

    """

    static func list(privateDomains: Bool = true) throws -> PublicSuffixList {
        try PublicSuffixList(parsing: Array(fixture.utf8), file: "fixture.dat", privateDomains: privateDomains)
    }

    /// name → (registered domain, subdomain, top-level domain), nil: no parts at all.
    static let vectors: [(String, (String?, String?, String)?)] = [
        // A listed TLD; subdomains of any depth.
        ("example.com", ("example.com", nil, "com")),
        ("www.example.com", ("example.com", "www", "com")),
        ("a.b.example.com", ("example.com", "a.b", "com")),
        // Two-level suffixes.
        ("example.co.uk", ("example.co.uk", nil, "co.uk")),
        ("www.eu.example.co.uk", ("example.co.uk", "www.eu", "co.uk")),
        ("co.uk", (nil, nil, "co.uk")),
        ("example.uk", ("example.uk", nil, "uk")),
        // Wildcards and exceptions.
        ("test.ck", (nil, nil, "test.ck")),
        ("b.test.ck", ("b.test.ck", nil, "test.ck")),
        ("a.b.test.ck", ("b.test.ck", "a", "test.ck")),
        ("www.ck", ("www.ck", nil, "ck")),
        ("www.www.ck", ("www.ck", "www", "ck")),
        ("kobe.jp", ("kobe.jp", nil, "jp")),
        ("c.kobe.jp", (nil, nil, "c.kobe.jp")),
        ("b.c.kobe.jp", ("b.c.kobe.jp", nil, "c.kobe.jp")),
        ("a.b.c.kobe.jp", ("b.c.kobe.jp", "a", "c.kobe.jp")),
        // The exception removes its leftmost label: the suffix is kobe.jp, though not listed itself.
        ("city.kobe.jp", ("city.kobe.jp", nil, "kobe.jp")),
        ("www.city.kobe.jp", ("city.kobe.jp", "www", "kobe.jp")),
        // Private suffixes, several levels deep, and a wildcard among them.
        ("blogspot.com", (nil, nil, "blogspot.com")),
        ("myblog.blogspot.com", ("myblog.blogspot.com", nil, "blogspot.com")),
        ("x.y.blogspot.co.at", ("y.blogspot.co.at", "x", "blogspot.co.at")),
        ("blogspot.co.at", (nil, nil, "blogspot.co.at")),
        ("shop.co.at", ("shop.co.at", nil, "co.at")),
        ("user.github.io", ("user.github.io", nil, "github.io")),
        ("h.eu-1.compute.example-cloud.com", ("h.eu-1.compute.example-cloud.com", nil, "eu-1.compute.example-cloud.com")),
        ("compute.example-cloud.com", ("example-cloud.com", "compute", "com")),
        // Unlisted TLDs: the implicit "*" rule.
        ("example.example", ("example.example", nil, "example")),
        ("b.example.example", ("example.example", "b", "example")),
        ("a.b.example.internal", ("example.internal", "a.b", "internal")),
        // Case and the root's trailing dot.
        ("WWW.Example.CO.UK.", ("example.co.uk", "www", "co.uk")),
        ("Example.COM", ("example.com", nil, "com")),
        ("EXAMPLE.unlisted.", ("example.unlisted", nil, "unlisted")),
        // Internationalized names: as UTF-8, and as Punycode (which DNS carries), matched as-is.
        ("食狮.com.cn", ("食狮.com.cn", nil, "com.cn")),
        ("食狮.公司.cn", ("食狮.公司.cn", nil, "公司.cn")),
        ("www.食狮.公司.cn", ("食狮.公司.cn", "www", "公司.cn")),
        ("xn--85x722f.xn--55qx5d.cn", ("xn--85x722f.xn--55qx5d.cn", nil, "xn--55qx5d.cn")),
        ("WWW.XN--85X722F.XN--55QX5D.CN", ("xn--85x722f.xn--55qx5d.cn", "www", "xn--55qx5d.cn")),
        ("shishi.中国", ("shishi.中国", nil, "中国")),
        ("shishi.xn--fiqs8s", ("shishi.xn--fiqs8s", nil, "xn--fiqs8s")),
        ("xn--fiqs8s", nil),
        // No parts: single labels, empty labels, addresses.
        ("com", nil),
        ("localhost", nil),
        ("localhost.", nil),
        ("", nil),
        (".", nil),
        (".com", nil),
        ("a..example.com", nil),
        ("example.com..", nil),
        ("192.168.1.1", nil),
        ("10.0.0.1.", nil),
        ("::1", nil),
        ("2001:db8::1", nil),
        ("[2001:db8::1]", nil),
    ]

    @Test(arguments: vectors.indices)
    func splitsLikeThePublicSuffixAlgorithm(_ i: Int) throws {
        let (name, expected) = Self.vectors[i]
        let parts = try Self.list().parts(of: name)
        if let expected {
            #expect(parts == PublicSuffixList.Parts(registeredDomain: expected.0, subdomain: expected.1, topLevelDomain: expected.2),
                    "\(name)")
        } else {
            #expect(parts == nil, "\(name)")
        }
    }

    @Test func privateDomainsCanBeLeftOut() throws {
        let icann = try Self.list(privateDomains: false)
        #expect(icann.parts(of: "myblog.blogspot.com") == .init(registeredDomain: "blogspot.com", subdomain: "myblog", topLevelDomain: "com"))
        #expect(icann.parts(of: "x.y.blogspot.co.at")?.registeredDomain == "blogspot.co.at")
        #expect(icann.parts(of: "www.example.co.uk")?.registeredDomain == "example.co.uk")
        #expect(icann.ruleCount == 14)
        #expect(try Self.list().ruleCount == 18)
    }

    @Test func punycodeEncodesLabels() {
        #expect(Punycode.encode("bücher") == "bcher-kva")
        #expect(Punycode.encode("münchen") == "mnchen-3ya")
        #expect(Punycode.encode("公司") == "55qx5d")
        #expect(Punycode.encode("食狮") == "85x722f")
        #expect(Punycode.encode("中国") == "fiqs8s")
    }

    @Test func splitReturnsByteOffsets() throws {
        let list = try Self.list()
        var name = "www.eu.example.co.uk"
        let split = name.withUTF8 { list.split(UnsafeRawBufferPointer($0)) }
        #expect(split == PublicSuffixList.Split(suffixStart: 15, registeredStart: 7))
    }

    @Test func malformedListsAreDataErrorsWithTheLine() {
        func error(_ text: String) -> EnrichmentError? { error(Array(text.utf8)) }
        func error(_ bytes: [UInt8]) -> EnrichmentError? {
            do { _ = try PublicSuffixList(parsing: bytes, file: "bad.dat"); return nil } catch { return error }
        }
        #expect(error("com\nfoo.*.bar\n")?.description == "bad.dat:2: a wildcard is only supported as the rule's first label ('*.')")
        #expect(error("com\n\na..b\n")?.description == "bad.dat:3: the rule has an empty label")
        #expect(error("!com\n")?.description == "bad.dat:1: an exception rule needs at least two labels")
        #expect(error("// only comments\n\n")?.description.contains("no rules found") == true)
        #expect(error(Array("com\nfo".utf8) + [0xFF, 0x0A])?.description == "bad.dat:2: the rule is not valid UTF-8")
    }

    @Test func aMissingListNamesThePathAndThePackage() {
        #expect(throws: EnrichmentError.self) { try PublicSuffixList.load(path: "/nonexistent/psl.dat") }
        do { _ = try PublicSuffixList.load(path: "/nonexistent/psl.dat") } catch {
            #expect(error.code == .unreadable)
            #expect(error.description.hasPrefix("/nonexistent/psl.dat: cannot read file: No such file or directory"))
            #expect(error.description.contains("publicsuffix"))
        }
    }

    /// Debian's list (scripts/install-deps.sh installs the `publicsuffix` package).
    @Test func debiansListLoadsAndSplits() throws {
        let list = try PublicSuffixList.load(path: EnrichmentDefinition.PublicSuffixSource.defaultPath)
        #expect(list.ruleCount > 8000)
        #expect(list.parts(of: "www.bbc.co.uk") == .init(registeredDomain: "bbc.co.uk", subdomain: "www", topLevelDomain: "co.uk"))
        #expect(list.parts(of: "a.b.www.ck")?.registeredDomain == "www.ck")
        #expect(list.parts(of: "x.y.ck")?.topLevelDomain == "y.ck")
        #expect(list.parts(of: "foo.blogspot.com")?.registeredDomain == "foo.blogspot.com")
        #expect(list.parts(of: "x.city.kobe.jp")?.registeredDomain == "city.kobe.jp")
        #expect(list.parts(of: "xn--85x722f.xn--55qx5d.cn")?.topLevelDomain == "xn--55qx5d.cn")
        #expect(list.parts(of: "h.us-west-1.compute.amazonaws.com")?.topLevelDomain == "us-west-1.compute.amazonaws.com")
        #expect(list.parts(of: "tunnel.example.") == .init(registeredDomain: "tunnel.example", subdomain: nil, topLevelDomain: "example"))
        let icann = try PublicSuffixList.load(path: EnrichmentDefinition.PublicSuffixSource.defaultPath, privateDomains: false)
        #expect(icann.parts(of: "foo.blogspot.com")?.registeredDomain == "blogspot.com")
        #expect(icann.ruleCount < list.ruleCount)
    }

    // MARK: As an enrichment

    @Test func enrichesConfiguredFields() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try write(Self.fixture, to: dir.file("list.dat"))
        let set = try loadSet(["domains.yaml": """
            kind: registered_domain
            file: list.dat
            lookups:
              - dns.question.name
              - url.domain
              - { field: tls.client.server_name, target: tls.server_name_parts }
            """], in: dir)
        let d = try #require(set.definitions.first)
        #expect(d.kind == .registeredDomain)
        #expect(d.lookups.map(\.target) == ["dns.question", "url", "tls.server_name_parts"])
        let e = try enrich(set, #"""
            {"dns":{"question":{"name":"A.B.Example.co.uk."}},"url":{"domain":"shop.co.at"},
             "tls":{"client":{"server_name":"x.y.test.ck"}}}
            """#)
        #expect(e["dns.question.registered_domain"] == .string("example.co.uk"))
        #expect(e["dns.question.subdomain"] == .string("a.b"))
        #expect(e["dns.question.top_level_domain"] == .string("co.uk"))
        #expect(e["dns.question.name"] == .string("A.B.Example.co.uk."))
        #expect(e["url.registered_domain"] == .string("shop.co.at"))
        #expect(e["url.subdomain"] == nil)
        #expect(e["url.top_level_domain"] == .string("co.at"))
        #expect(e["tls.server_name_parts.registered_domain"] == .string("y.test.ck"))
        #expect(e["tls.server_name_parts.subdomain"] == .string("x"))

        // A public suffix gets only its suffix; addresses and single labels get nothing.
        let suffix = try enrich(set, #"{"dns":{"question":{"name":"co.uk"}}}"#)
        #expect(suffix["dns.question.top_level_domain"] == .string("co.uk"))
        #expect(suffix["dns.question.registered_domain"] == nil)
        for name in ["10.1.2.3", "wpad", "::1"] {
            let none = try enrich(set, #"{"dns":{"question":{"name":"\#(name)"}}}"#)
            #expect(none["dns.question.top_level_domain"] == nil && none["dns.question.registered_domain"] == nil, "\(name)")
        }
        let ip = try enrich(set, #"{"url":{"domain":"10.0.0.1"}}"#)
        #expect(ip["url.registered_domain"] == nil)

        let m = set.metrics[0]
        let (lookups, hits) = (m.lookups.count, m.hits.count)
        var enricher = set.makeEnricher()
        var a = try event(#"{"dns":{"question":{"name":"www.example.com"}}}"#)
        var b = try event(#"{"dns":{"question":{"name":"localhost"}}}"#)
        var c = try event(#"{"source":{"ip":"10.0.0.1"}}"#)
        enricher.enrich(&a)
        enricher.enrich(&b)
        enricher.enrich(&c)
        enricher.flushMetrics()
        // www.example.com: a hit; localhost: a lookup without a registered domain; no field: nothing.
        #expect(m.lookups.count - lookups == 2 && m.hits.count - hits == 1)
        #expect(a["dns.question.subdomain"] == .string("www"))
    }

    @Test func configurationDefaultsAndErrors() throws {
        let d = try EnrichmentDefinition.parse(yaml: "kind: registered_domain\n", file: "/etc/vigil/enrichment/rd.yaml")
        #expect(d.lookups == [.init(field: "dns.question.name", target: "dns.question")])
        guard case .registeredDomain(let s) = d.source else { Issue.record("source"); return }
        #expect(s.path == "/usr/share/publicsuffix/public_suffix_list.dat")
        #expect(s.privateDomains)
        let relative = try EnrichmentDefinition.parse(yaml: "kind: registered_domain\nfile: psl.dat\nprivate_domains: false\n",
                                                      file: "/etc/vigil/enrichment/rd.yaml")
        guard case .registeredDomain(let r) = relative.source else { Issue.record("source"); return }
        #expect(r.path == "/etc/vigil/enrichment/psl.dat")
        #expect(!r.privateDomains)
        #expect(throws: EnrichmentError.self) {
            try EnrichmentDefinition.parse(yaml: "kind: registered_domain\nkey: x\n", file: "rd.yaml")
        }
        do {
            _ = try EnrichmentDefinition.parse(yaml: "kind: registered_domain\nlookups: [{field: name}]\n", file: "rd.yaml")
            Issue.record("a field without a parent needs a target")
        } catch {
            #expect(error.description.contains("add 'target'"))
        }
        // A missing list fails the load with the path, unless the enrichment is optional.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        do {
            _ = try loadSet(["rd.yaml": "kind: registered_domain\nfile: missing.dat\n"], in: dir)
            Issue.record("a missing list must fail")
        } catch let error as EnrichmentError {
            #expect(error.description.hasPrefix("\(dir.path)/missing.dat: cannot read file"))
        }
        let optional = try loadSet(["rd.yaml": "kind: registered_domain\nfile: missing.dat\noptional: true\n"], in: dir)
        #expect(optional.definitions.isEmpty && optional.warnings.count == 1)
    }

    @Test func aChangedListIsReloaded() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try write("com\n", to: dir.file("list.dat"))
        let set = try loadSet(["rd.yaml": "kind: registered_domain\nfile: list.dat\nreload_interval: 0s\n"], in: dir)
        #expect(try enrich(set, #"{"dns":{"question":{"name":"a.b.example.com"}}}"#)["dns.question.registered_domain"] == .string("example.com"))
        try write("com\nexample.com\n// longer now\n", to: dir.file("list.dat"))
        #expect(set.reloadIfChanged().isEmpty)
        #expect(try enrich(set, #"{"dns":{"question":{"name":"a.b.example.com"}}}"#)["dns.question.registered_domain"] == .string("b.example.com"))
        // A broken list keeps the previous one.
        try write("com\n*.*.x\n", to: dir.file("list.dat"))
        #expect(set.reloadIfChanged().first?.description.hasPrefix("\(dir.path)/list.dat:2: ") == true)
        #expect(try enrich(set, #"{"dns":{"question":{"name":"a.b.example.com"}}}"#)["dns.question.registered_domain"] == .string("b.example.com"))
    }
}
