import Foundation
import Testing
import VigilTestSupport
import VigilYAML

/// Parses `yaml` as `t.yaml`.
private func document(_ yaml: String) throws(YAMLError) -> YAMLValue {
    try YAMLValue.parse(yaml: yaml, file: "t.yaml")
}

/// The value at top-level key `key` of `yaml`.
private func value(_ yaml: String, _ key: String = "a") throws(YAMLError) -> YAMLValue {
    try document(yaml).mapping().required(key)
}

@Suite struct YAMLDocumentTests {
    @Test func errorDescription() {
        let positioned = YAMLError(file: "f.yaml", line: 3, column: 7, message: "bad")
        #expect(positioned.description == "f.yaml:3:7: bad")
        let whole = YAMLError(file: "f.yaml", line: 0, column: 0, message: "cannot read file: x", code: .unreadable)
        #expect(whole.description == "f.yaml: cannot read file: x")
    }

    @Test(arguments: ["", "# only a comment\n", "\n\n"])
    func emptyDocument(_ yaml: String) {
        expectError("t.yaml:1:1: the file is empty (expected a YAML document)") { try document(yaml) }
    }

    @Test func syntaxErrors() {
        expectError("t.yaml:1:5: YAML syntax error: mapping values are not allowed in this context") {
            try document("a: b: c\n")
        }
        expectError("t.yaml:2:1: YAML syntax error: did not find expected ',' or ']' (while parsing a flow sequence at 1:4)") {
            try document("a: [1\n")
        }
        expectError("t.yaml:2:1: YAML syntax error: found unexpected end of stream (while scanning a quoted scalar at 1:4)") {
            try document("a: 'x\n")
        }
        expectError("t.yaml:1:4: YAML syntax error: found undefined alias") { try document("a: *nowhere\n") }
        expectError("t.yaml:2:1: expected a single YAML document, found a second one") { try document("a: 1\n---\nb: 2\n") }
    }

    @Test func syntaxErrorCode() throws {
        do {
            _ = try document("a: b: c\n")
        } catch {
            #expect(error.code == .syntax)
            #expect(error.line == 1 && error.column == 5)
        }
    }

    @Test func readerError() {
        expectError("t.yaml:2:4: invalid YAML input: control characters are not allowed") { try document("a: 1\nb: \u{1}\n") }
    }

    @Test func duplicateKeysAreReportedAtTheSecondOccurrence() {
        expectError("t.yaml:2:1: duplicate key 'a' at the top level (first defined at 1:1)") { try document("a: 1\na: 2\n") }
        expectError("t.yaml:4:3: duplicate key 'c' in b (first defined at 3:3)") { try document("a: 1\nb:\n  c: 2\n  c: 3\n") }
        expectError("t.yaml:1:11: duplicate key 'k' in x (first defined at 1:5)") { try document("x: {k: 1, k: 2}\n") }
        expectError("t.yaml:4:5: duplicate key 'name' in s[1] (first defined at 3:5)") {
            try document("s:\n  - name: a\n  - name: b\n    name: c\n")
        }
    }

    @Test func duplicateKeysThatYamsDoesNotSee() {
        // A quoted and a plain key with the same text are different nodes to Yams, the same key to us.
        expectError("t.yaml:2:1: duplicate key 'a' at the top level (first defined at 1:1)") {
            try document("\"a\": 1\na: 2\n").mapping()
        }
    }

    @Test func keyThreeTimesFallsBackToTheFirstOccurrence() {
        expectError("t.yaml:1:1: duplicate key 'a' (this is its first occurrence)") { try document("a: 1\na: 2\na: 3\n") }
    }

    @Test func load() throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("ok.yaml")
        try "a: 1\n".write(toFile: path, atomically: false, encoding: .utf8)
        #expect(try YAMLValue.load(path: path).mapping().required("a").int() == 1)

        expectError("\(directory.file("missing.yaml")): cannot read file: No such file or directory") {
            try YAMLValue.load(path: directory.file("missing.yaml"))
        }
        expectError("\(directory.path): cannot read file: Is a directory") { try YAMLValue.load(path: directory.path) }

        let binary = directory.file("binary.yaml")
        try Data([0x61, 0x3A, 0x20, 0xFF, 0xFE, 0x0A]).write(to: URL(fileURLWithPath: binary))
        expectError("\(binary): the file is not valid UTF-8") { try YAMLValue.load(path: binary) }

        let broken = directory.file("broken.yaml")
        try "a:\n  b: 1\n c: 2\n".write(toFile: broken, atomically: false, encoding: .utf8)
        expectError("\(broken):3:2: YAML syntax error: did not find expected key (while parsing a block mapping at 1:1)") {
            try YAMLValue.load(path: broken)
        }
    }
}

@Suite struct YAMLMappingTests {
    @Test func allowedKeys() throws {
        let mapping = try document("b: 1\na: 2\n").mapping(allowedKeys: ["a", "b", "c"])
        #expect(mapping.keys == ["b", "a"])
        #expect(try mapping.required("a").int() == 2)
        #expect(mapping.optional("c") == nil)
        #expect(mapping["c"] == nil)
    }

    @Test func unknownKeyWithSuggestion() {
        let yaml = "broker:\n  embedded:\n    segmnet_bytes: 1\n"
        expectError("t.yaml:3:5: unknown key 'segmnet_bytes' in broker.embedded (did you mean 'segment_bytes'?)") {
            try document(yaml).mapping(allowedKeys: ["broker"]).required("broker")
                .mapping(allowedKeys: ["embedded"]).required("embedded")
                .mapping(allowedKeys: ["default_partitions", "segment_bytes", "index_interval_bytes"])
        }
    }

    @Test func unknownKeyCaseAndTransposition() {
        expectError("t.yaml:1:1: unknown key 'Data_Dir' at the top level (did you mean 'data_dir'?)") {
            try document("Data_Dir: x\n").mapping(allowedKeys: ["data_dir", "log_level"])
        }
        expectError("t.yaml:1:1: unknown key 'lgo_level' at the top level (did you mean 'log_level'?)") {
            try document("lgo_level: x\n").mapping(allowedKeys: ["data_dir", "log_level"])
        }
    }

    @Test func unknownKeyWithoutSuggestion() {
        expectError("t.yaml:2:1: unknown key 'zebra' at the top level (expected one of: a, b)") {
            try document("a: 1\nzebra: 2\n").mapping(allowedKeys: ["a", "b"])
        }
        expectError("t.yaml:1:5: unknown key 'x' in a (no keys are allowed here)") {
            try value("a: {x: 1}\n").mapping(allowedKeys: [])
        }
    }

    @Test func notAMapping() {
        expectError("t.yaml:1:1: expected a mapping, found a sequence") { try document("- 1\n").mapping() }
        expectError("t.yaml:1:4: a: expected a mapping, found string \"text\"") { try value("a: text\n").mapping() }
        expectError("t.yaml:1:3: a: expected a mapping, found null") { try value("a:\n").mapping(allowedKeys: ["x"]) }
    }

    @Test func requiredAndOptional() throws {
        let mapping = try value("a:\n  b: 1\n  n: null\n  e:\n").mapping()
        expectError("t.yaml:2:3: missing required key 'c' in a") { try mapping.required("c") }
        expectError("t.yaml:1:1: missing required key 'z' at the top level") { try document("a: 1\n").mapping().required("z") }
        #expect(mapping.optional("n") == nil)
        #expect(mapping.optional("e") == nil)
        #expect(mapping["n"]?.isNull == true)
        #expect(mapping["e"]?.isNull == true)
        #expect(try mapping.optional("b")?.int() == 1)
        expectError("t.yaml:3:6: a.n: expected an integer, found null") { try mapping.required("n").int() }
    }

    @Test func entriesCarryKeyPositionsAndPaths() throws {
        let mapping = try value("a:\n  x: 1\n  \"y.z\": 2\n").mapping()
        #expect(mapping.entries.map(\.key) == ["x", "y.z"])
        #expect(mapping.entries.map(\.value.path) == ["a.x", "a[\"y.z\"]"])
        let key = try #require(mapping.entries.last?.keyValue)
        #expect(key.line == 3 && key.column == 3)
        #expect(key.error("invalid name").description == "t.yaml:3:3: a[\"y.z\"]: invalid name")
    }

    @Test func mergeKeysAreRejected() {
        expectError("t.yaml:3:3: merge keys ('<<') are not supported in c; write the keys out") {
            try value("a: &base {b: 1}\nc:\n  <<: *base\n", "c").mapping()
        }
    }

    @Test func complexKeysAreRejected() {
        expectError("t.yaml:1:3: mapping keys at the top level must be scalars, found a sequence") {
            try document("? [a]\n: 1\n").mapping()
        }
    }

    @Test func aliasesResolveToTheAnchoredNode() throws {
        let mapping = try document("a: &n 5\nb: *n\n").mapping()
        #expect(try mapping.required("b").int() == 5)
        // Errors in aliased content point at the anchor.
        expectError("t.yaml:1:4: b: expected a string, found integer 5 (quote it if you mean the string \"5\")") {
            try mapping.required("b").string()
        }
    }
}

@Suite struct YAMLScalarTests {
    @Test(arguments: [("a: plain words\n", "plain words"), ("a: '12'\n", "12"), ("a: \"yes\"\n", "yes"),
                      ("a: yes\n", "yes"), ("a: no\n", "no"), ("a: !!str 12\n", "12"), ("a: |\n  two\n  lines\n", "two\nlines\n"),
                      ("a: 127.0.0.1:9092\n", "127.0.0.1:9092"), ("a: 10.0.0.1\n", "10.0.0.1"), ("a: 1_000\n", "1_000")])
    func string(_ yaml: String, _ expected: String) throws {
        #expect(try value(yaml).string() == expected)
    }

    @Test func stringErrors() {
        expectError("t.yaml:1:4: a: expected a string, found integer 123 (quote it if you mean the string \"123\")") {
            try value("a: 123\n").string()
        }
        expectError("t.yaml:1:4: a: expected a string, found number 1.5 (quote it if you mean the string \"1.5\")") {
            try value("a: 1.5\n").string()
        }
        expectError("t.yaml:1:4: a: expected a string, found boolean true (quote it if you mean the string \"true\")") {
            try value("a: true\n").string()
        }
        expectError("t.yaml:1:4: a: expected a string, found null") { try value("a: ~\n").string() }
        expectError("t.yaml:1:4: a: expected a string, found a sequence") { try value("a: [x]\n").string() }
        expectError("t.yaml:1:4: a: expected a string, found a scalar with unsupported tag '!custom'") {
            try value("a: !custom x\n").string()
        }
    }

    @Test func longStringsAreShortenedInErrors() {
        let long = String(repeating: "x", count: 100)
        let shown = "\"" + String(repeating: "x", count: 60) + "…\""
        expectError("t.yaml:1:4: a: expected an integer, found string \(shown)") { try value("a: \(long)\n").int() }
    }

    @Test(arguments: [("a: 42\n", 42), ("a: -3\n", -3), ("a: +7\n", 7), ("a: 0x1F\n", 31), ("a: 0o17\n", 15),
                      ("a: !!int '12'\n", 12), ("a: 9223372036854775807\n", Int.max)])
    func int(_ yaml: String, _ expected: Int) throws {
        #expect(try value(yaml).int() == expected)
    }

    @Test func intErrors() {
        expectError("t.yaml:1:4: a: expected an integer, found string \"four\"") { try value("a: four\n").int() }
        expectError("t.yaml:1:4: a: expected an integer, found string \"4\"") { try value("a: '4'\n").int() }
        expectError("t.yaml:1:4: a: expected an integer, found number 4.0") { try value("a: 4.0\n").int() }
        expectError("t.yaml:1:4: a: integer 99999999999999999999 is too large") { try value("a: 99999999999999999999\n").int() }
        expectError("t.yaml:1:4: a: 0 is out of range 1...1024") { try value("a: 0\n").int(range: 1...1024) }
        expectError("t.yaml:1:4: a: 0 is below the minimum of 1") { try value("a: 0\n").int(range: 1...Int.max) }
        expectError("t.yaml:1:4: a: 9 is above the maximum of 8") { try value("a: 9\n").int(range: Int.min...8) }
        expectError("t.yaml:1:4: a: expected an integer, found !!int \"x\", which is not a valid !!int") {
            try value("a: !!int x\n").int()
        }
    }

    @Test(arguments: [("a: true\n", true), ("a: false\n", false), ("a: True\n", true), ("a: FALSE\n", false),
                      ("a: !!bool true\n", true)])
    func bool(_ yaml: String, _ expected: Bool) throws {
        #expect(try value(yaml).bool() == expected)
    }

    @Test func boolErrors() {
        expectError("t.yaml:1:4: a: expected a boolean (true or false), found string \"yes\"") { try value("a: yes\n").bool() }
        expectError("t.yaml:1:4: a: expected a boolean (true or false), found string \"off\"") { try value("a: off\n").bool() }
        expectError("t.yaml:1:4: a: expected a boolean (true or false), found string \"true\"") { try value("a: 'true'\n").bool() }
        expectError("t.yaml:1:4: a: expected a boolean (true or false), found integer 1") { try value("a: 1\n").bool() }
    }

    @Test(arguments: [("a: 1.5\n", 1.5), ("a: 2\n", 2), ("a: -1e3\n", -1000), ("a: .5\n", 0.5), ("a: !!float 3\n", 3)])
    func double(_ yaml: String, _ expected: Double) throws {
        #expect(try value(yaml).double() == expected)
    }

    @Test func doubleErrors() {
        expectError("t.yaml:1:4: a: expected a number, found string \"abc\"") { try value("a: abc\n").double() }
        expectError("t.yaml:1:4: a: expected a finite number, found .inf") { try value("a: .inf\n").double() }
        expectError("t.yaml:1:4: a: expected a finite number, found .nan") { try value("a: .nan\n").double() }
        expectError("t.yaml:1:4: a: 1.5 is out of range 0.0...1.0") { try value("a: 1.5\n").double(range: 0...1) }
    }

    enum Color: String, CaseIterable { case red, green, blue }

    @Test func oneOf() throws {
        #expect(try value("a: kafka\n").oneOf(["embedded", "kafka"]) == "kafka")
        #expect(try value("a: green\n").oneOf(Color.self) == .green)
        expectError("t.yaml:1:4: a: invalid value 'kafak' (did you mean 'kafka'?)") {
            try value("a: kafak\n").oneOf(["embedded", "kafka"])
        }
        expectError("t.yaml:1:4: a: invalid value 'purple' (expected one of: red, green, blue)") {
            try value("a: purple\n").oneOf(Color.self)
        }
        expectError("t.yaml:1:4: a: expected one of red, green, blue, found integer 3") { try value("a: 3\n").oneOf(Color.self) }
        expectError("t.yaml:1:4: a: invalid value 'Red' (did you mean 'red'?)") { try value("a: Red\n").oneOf(Color.self) }
    }

    @Test func errorHelper() throws {
        let a = try value("a: 1\n")
        #expect(a.error("must be even").description == "t.yaml:1:4: a: must be even")
        #expect(a.positionedError("odd").description == "t.yaml:1:4: odd")
        #expect(a.error("x", code: .missingKey).code == .missingKey)
        #expect(try document("a: 1\n").error("top").description == "t.yaml:1:1: top")
    }
}

@Suite struct YAMLCollectionTests {
    @Test func sequence() throws {
        let items = try value("a:\n  - 1\n  - 2\n").sequence()
        #expect(try items.map { item throws(YAMLError) in try item.int() } == [1, 2])
        #expect(items.map(\.path) == ["a[0]", "a[1]"])
        #expect(try value("a: []\n").sequence().isEmpty)
        expectError("t.yaml:1:8: a[1]: expected an integer, found string \"x\"") {
            try value("a: [1, x]\n").sequence().map { item throws(YAMLError) in try item.int() }
        }
        expectError("t.yaml:1:4: a: expected a sequence, found a mapping") { try value("a: {b: 1}\n").sequence() }
    }

    @Test func nestedPaths() {
        expectError("t.yaml:4:14: s[1].opts.level: expected an integer, found string \"high\"") {
            try value("s:\n  - {}\n  - opts:\n      level: high\n", "s").sequence()[1]
                .mapping().required("opts").mapping().required("level").int()
        }
    }

    @Test func stringMap() throws {
        #expect(try value("a: { \"linger.ms\": \"5\", acks: all }\n").stringMap() == ["linger.ms": "5", "acks": "all"])
        #expect(try value("a: {}\n").stringMap().isEmpty)
        expectError("t.yaml:1:17: a[\"linger.ms\"]: expected a string, found integer 5 (quote it if you mean the string \"5\")") {
            try value("a: { linger.ms: 5 }\n").stringMap()
        }
        expectError("t.yaml:1:4: a: expected a mapping, found a sequence") { try value("a: [x]\n").stringMap() }
    }
}

@Suite struct YAMLUnitTests {
    @Test(arguments: [("4096", 4096), ("0", 0), ("512KB", 512_000), ("64MiB", 64 << 20), ("1GiB", 1 << 30),
                      ("1 GiB", 1 << 30), ("10GB", 10_000_000_000), ("3B", 3), ("2TiB", 2 << 40), ("1PB", 1_000_000_000_000_000),
                      ("'4096'", 4096)] as [(String, Int64)])
    func size(_ text: String, _ expected: Int64) throws {
        #expect(try value("a: \(text)\n").size() == expected)
    }

    @Test func sizeErrors() {
        expectError("t.yaml:1:4: a: invalid size \"64MeB\": unknown unit 'MeB' (did you mean 'MiB'?)") { try value("a: 64MeB\n").size() }
        expectError("t.yaml:1:4: a: invalid size \"64mib\": unknown unit 'mib' (did you mean 'MiB'?)") { try value("a: 64mib\n").size() }
        expectError("t.yaml:1:4: a: invalid size \"64 furlongs\": unknown unit 'furlongs' (use B, KB, MB, GB, TB, PB, KiB, MiB, GiB, TiB, PiB)") {
            try value("a: 64 furlongs\n").size()
        }
        expectError("t.yaml:1:4: a: invalid size \"-1KiB\": sizes cannot be negative") { try value("a: -1KiB\n").size() }
        expectError("t.yaml:1:4: a: invalid size \"-5\": sizes cannot be negative") { try value("a: -5\n").size() }
        expectError("t.yaml:1:4: a: invalid size \"1.5GiB\": use a whole number with a smaller unit, such as 1536MiB rather than 1.5GiB") {
            try value("a: 1.5GiB\n").size()
        }
        expectError("t.yaml:1:4: a: invalid size \"lots\" (expected a whole number of bytes with an optional unit, such as 4096 or 256MiB)") {
            try value("a: lots\n").size()
        }
        expectError("t.yaml:1:4: a: size \"9999PiB\" is too large") { try value("a: 9999PiB\n").size() }
        expectError("t.yaml:1:4: a: size \"99999999999999999999\" is too large") { try value("a: 99999999999999999999\n").size() }
        expectError("t.yaml:1:4: a: expected a size such as 256MiB, found boolean true") { try value("a: true\n").size() }
        expectError("t.yaml:1:4: a: 1KiB is below the minimum of 4KiB") { try value("a: 1KiB\n").size(range: 4096...Int64.max) }
        expectError("t.yaml:1:4: a: 2GB is out of range 1KB...1GiB") { try value("a: 2GB\n").size(range: 1000...(1 << 30)) }
    }

    @Test(arguments: [("0", 0), ("100ms", 100_000_000), ("10s", 10_000_000_000), ("5m", 300_000_000_000),
                      ("2h", 7_200_000_000_000), ("7d", 604_800_000_000_000), ("1h30m", 5_400_000_000_000),
                      ("250us", 250_000), ("250µs", 250_000), ("15ns", 15), ("1d2h3m4s5ms6us7ns", 93_784_005_006_007),
                      ("'30s'", 30_000_000_000)] as [(String, Int64)])
    func duration(_ text: String, _ expected: Int64) throws {
        #expect(try value("a: \(text)\n").duration() == expected)
    }

    @Test func durationErrors() {
        expectError("t.yaml:1:4: a: invalid duration \"10\": missing unit (use d, h, m, s, ms, us, ns, e.g. 10s)") {
            try value("a: 10\n").duration()
        }
        expectError("t.yaml:1:4: a: invalid duration \"1h30\": missing unit (use d, h, m, s, ms, us, ns, e.g. 10s)") {
            try value("a: 1h30\n").duration()
        }
        expectError("t.yaml:1:4: a: invalid duration \"10sec\": unknown unit 'sec' (use d, h, m, s, ms, us, ns)") {
            try value("a: 10sec\n").duration()
        }
        expectError("t.yaml:1:4: a: invalid duration \"2hr\": unknown unit 'hr' (did you mean 'h'?)") { try value("a: 2hr\n").duration() }
        expectError("t.yaml:1:4: a: invalid duration \"-5s\": durations cannot be negative") { try value("a: -5s\n").duration() }
        expectError("t.yaml:1:4: a: invalid duration \"1.5h\": use whole numbers with smaller units, such as 1h30m rather than 1.5h") {
            try value("a: 1.5h\n").duration()
        }
        expectError("t.yaml:1:4: a: invalid duration \"30m1h\": write units from largest to smallest, each once, such as 1h30m") {
            try value("a: 30m1h\n").duration()
        }
        expectError("t.yaml:1:4: a: invalid duration \"1h1h\": write units from largest to smallest, each once, such as 1h30m") {
            try value("a: 1h1h\n").duration()
        }
        expectError("t.yaml:1:4: a: invalid duration \"soon\" (expected a number and a unit, such as 100ms, 10s, 5m, 2h, 7d or 1h30m)") {
            try value("a: soon\n").duration()
        }
        expectError("t.yaml:1:4: a: duration \"1000000d\" is too large") { try value("a: 1000000d\n").duration() }
        expectError("t.yaml:1:4: a: expected a duration such as 10s, found null") { try value("a: null\n").duration() }
        expectError("t.yaml:1:4: a: 0 is below the minimum of 1ms") { try value("a: 0\n").duration(range: 1_000_000...Int64.max) }
        expectError("t.yaml:1:4: a: 2d is out of range 1s...1d1h30m") {
            try value("a: 2d\n").duration(range: 1_000_000_000...91_800_000_000_000)
        }
    }
}
