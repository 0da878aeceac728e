import Testing
@testable import VigilCore

/// Decoding line after line into one event (the json parser's path) gives the events a fresh
/// decode gives, and a failed line leaves the event empty.
@Suite struct JSONReuseDecodeTests {
    static let lines = [
        #"{"@timestamp":"2026-03-14T09:10:11.123Z","source":{"ip":"10.0.0.1","port":53},"dns":{"question":{"name":"a.example"}}}"#,
        #"{"a\u0062c":"x","esc\"key":"v\n\u00e9","nested":{"deep":{"k":"v"}},"labels_list":["a",{"b":1}]}"#,
        #"{"long":"abcdefghabcdefghabcdefghabcdefgh\\","short":"a","n":null,"t":true,"f":1.5}"#,
        #"{"x":1}"#,
    ]

    @Test func reusingTheEventGivesFreshDecodes() throws {
        var event = Event()
        for line in Self.lines + Self.lines.reversed() {
            let bytes = Array(line.utf8)
            try bytes.withUnsafeBytes { try EventJSON.decode($0, reusing: &event) }
            #expect(event == (try EventJSON.decode(bytes)), "\(line)")
        }
    }

    @Test(arguments: [#"{"a":1,"a":2}"#, #"{"a":{"b":1},"a.b":2}"#, #"{ "number" : 7"#, "[1]", "", #"{"s":"unterminated"#,
                      #"{"a":"x"} trailing"#])
    func aFailedLineLeavesTheEventEmpty(line: String) throws {
        var event = Event()
        let first = Array(Self.lines[0].utf8)
        try first.withUnsafeBytes { try EventJSON.decode($0, reusing: &event) }
        #expect(event.count == 4)
        let bytes = Array(line.utf8)
        #expect(throws: EventCodecError.self) { try bytes.withUnsafeBytes { try EventJSON.decode($0, reusing: &event) } }
        #expect(event.isEmpty)
        #expect(throws: EventCodecError.self) { try EventJSON.decode(bytes) }
    }

    @Test func stringScanningFindsQuotesAndEscapesAtEveryOffset() throws {
        // Strings of every length around the 8-byte words, with the special byte at each place.
        for length in 0..<20 {
            for special in ["", "\\\"", "\\\\", "é", "\\u0041"] {
                for at in 0...length {
                    var text = String(repeating: "x", count: length)
                    text.insert(contentsOf: special, at: text.index(text.startIndex, offsetBy: at))
                    let line = #"{"k":""# + text + #"","z":1}"#
                    let event = try EventJSON.decode(line)
                    let decodedSpecial = special == "\\\"" ? "\"" : special == "\\\\" ? "\\" : special == "\\u0041" ? "A" : special
                    var want = String(repeating: "x", count: length)
                    want.insert(contentsOf: decodedSpecial, at: want.index(want.startIndex, offsetBy: at))
                    #expect(event["k"] == .string(want), "\(line)")
                    #expect(event["z"] == .int(1))
                }
            }
        }
        // A control character is rejected wherever it sits.
        for at in 0..<12 {
            var bytes = Array(#"{"k":""#.utf8) + Array(repeating: UInt8(ascii: "x"), count: 12) + Array(#""}"#.utf8)
            bytes[6 + at] = 0x01
            #expect(throws: EventCodecError.self) { try EventJSON.decode(bytes) }
        }
    }
}
