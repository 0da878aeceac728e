import Testing
@testable import VigilCore
import VigilTestSupport

@Suite struct JSONCodecTests {
    static func decodeError(_ text: String) -> EventCodecError? {
        decodeError(Array(text.utf8))
    }

    static func decodeError(_ bytes: [UInt8]) -> EventCodecError? {
        do {
            _ = try EventJSON.decode(bytes)
            return nil
        } catch {
            return error
        }
    }

    // MARK: Output

    @Test func encodesNestedInKeyOrder() throws {
        var e = Event()
        e["vigil.score"] = 1.0
        e["tags"] = ["a"]
        e["source.port"] = 22
        e["source.ip"] = .ip(IPAddress("10.0.0.1")!)
        e["message"] = "hi"
        e["labels.env"] = "prod"
        e["dns.answers"] = [["name": "x", "ttl": 5]]
        e["@timestamp"] = .timestamp(Timestamp(rfc3339: "2024-05-01T12:00:00Z")!)
        let json = EventJSON.encodeString(e)
        #expect(json == #"{"@timestamp":"2024-05-01T12:00:00Z","dns":{"answers":[{"name":"x","ttl":5}]},"#
            + #""labels":{"env":"prod"},"message":"hi","source":{"ip":"10.0.0.1","port":22},"tags":["a"],"#
            + #""vigil":{"score":1.0}}"#)
        #expect(try EventJSON.decode(json) == e)
        #expect(e.description == json)
        #expect(EventJSON.encodeString(Event()) == "{}")
    }

    @Test func nestingClosesAndReopensCorrectly() throws {
        let e = Event(["a.b.c": 1, "a.b.d": 2, "a.e": 3, "a-f": 4, "g": 5, "": 6, "h..i": 7, "h.j.": 8])
        let json = EventJSON.encodeString(e)
        #expect(json == #"{"":6,"a":{"b":{"c":1,"d":2},"e":3},"a-f":4,"g":5,"h":{"":{"i":7},"j":{"":8}}}"#)
        #expect(try EventJSON.decode(json) == e)
    }

    @Test(arguments: [
        ("plain", #""plain""#),
        ("a\"b\\c/d", #""a\"b\\c/d""#),
        ("\n\r\t\u{8}\u{c}", #""\n\r\t\b\f""#),
        ("\u{0}\u{1}\u{1f}\u{7f}", #""\u0000\u0001\u001f\#u{7f}""#),
        ("é日本😀\u{2028}", "\"é日本😀\u{2028}\""),
        ("", #""""#),
    ])
    func escapesStrings(value: String, json: String) throws {
        var out: [UInt8] = []
        EventJSON.encode(FieldValue.string(value), into: &out)
        #expect(String(decoding: out, as: UTF8.self) == json)
        let back = try out.withUnsafeBytes { try EventJSON.decodeValue($0) }
        #expect(back == .string(value))
    }

    @Test(arguments: [
        (1.0, "1.0"), (-0.0, "-0.0"), (0.1, "0.1"), (1e16, "1e+16"), (Double.leastNonzeroMagnitude, "5e-324"), (1.5e300, "1.5e+300"),
        (-2.5, "-2.5"), (123456789.125, "123456789.125"), (Double.nan, "null"), (Double.infinity, "null"),
        (-Double.infinity, "null"), (1e-7, "1e-07"),
    ])
    func writesFloats(value: Double, json: String) throws {
        var out: [UInt8] = []
        EventJSON.encode(FieldValue.float(value), into: &out)
        #expect(String(decoding: out, as: UTF8.self) == json)
        if value.isFinite {
            let back = try out.withUnsafeBytes { try EventJSON.decodeValue($0) }
            #expect(back.floatValue?.bitPattern == value.bitPattern)
        }
    }

    @Test func writesScalars() {
        func text(_ v: FieldValue) -> String { v.description }
        #expect(text(.int(.min)) == "-9223372036854775808")
        #expect(text(.int(.max)) == "9223372036854775807")
        #expect(text(.int(0)) == "0")
        #expect(text(.bool(true)) == "true")
        #expect(text(.null) == "null")
        #expect(text(.ip(IPAddress("2001:db8::1")!)) == #""2001:db8::1""#)
        #expect(text(.timestamp(Timestamp(nanoseconds: 1))) == #""1970-01-01T00:00:00.000000001Z""#)
        #expect(text([1, "a", [], ["k": []], FieldValue.object(FieldObject())]) == #"[1,"a",[],{"k":[]},{}]"#)
    }

    // MARK: Input

    @Test func nestedAndDottedInputsAreTheSameEvent() throws {
        let a = try EventJSON.decode(#"{"source":{"ip":"10.0.0.1","geo":{"city_name":"X"}}}"#)
        let b = try EventJSON.decode(#"{"source.ip":"10.0.0.1","source.geo.city_name":"X"}"#)
        let c = try EventJSON.decode(" {\n\t\"source\" : { \"geo.city_name\" : \"X\" } , \"source.ip\":\"10.0.0.1\" }\r\n")
        #expect(a == b && b == c)
        #expect(a.sourceIP == IPAddress("10.0.0.1"))
        #expect(a["source.geo.city_name"] == "X")
        #expect(try EventJSON.decode(#"{"a":{},"b":{"c":{}}}"#).isEmpty)
    }

    @Test func convertsKnownFieldsToDeclaredTypes() throws {
        let e = try EventJSON.decode(#"""
            {"@timestamp":"2024-05-01T14:00:00+02:00","source":{"ip":"::FFFF:1.2.3.4","port":22.0},
             "destination.port":1e2,"vigil.score":1,"source.geo.location.lat":-33,"dns.resolved_ip":["1.2.3.4","::1",null],
             "tls.established":true,"tags":[],"event.severity":null,"message":"m"}
            """#)
        #expect(e.timestamp == Timestamp(rfc3339: "2024-05-01T12:00:00Z"))
        #expect(e["source.ip"] == .ip(IPAddress("::ffff:1.2.3.4")!))
        #expect(e["source.port"] == .int(22))
        #expect(e["destination.port"] == .int(100))
        #expect(e["vigil.score"] == .float(1))
        #expect(e["source.geo.location.lat"] == .float(-33))
        #expect(e["dns.resolved_ip"] == .array([.ip(IPAddress("1.2.3.4")!), .ip(IPAddress("::1")!), .null]))
        #expect(e["tls.established"] == .bool(true))
        #expect(e["tags"] == .array([]))
        #expect(e["event.severity"] == .null)
        #expect(e.message == "m")
    }

    @Test(arguments: [
        (#"{"source":{"ip":"nope"}}"#, "source.ip", "ip"),
        (#"{"source.port":"22"}"#, "source.port", "int"),
        (#"{"source.port":22.5}"#, "source.port", "int"),
        (#"{"source.port":9223372036854775808}"#, "source.port", "int"),
        (#"{"@timestamp":1714564800}"#, "@timestamp", "timestamp"),
        (#"{"@timestamp":"2024-02-30T00:00:00Z"}"#, "@timestamp", "timestamp"),
        (#"{"tags":"one"}"#, "tags", "array of string"),
        (#"{"tags":[1]}"#, "tags", "array of string"),
        (#"{"dns.resolved_ip":["x"]}"#, "dns.resolved_ip", "array of ip"),
        (#"{"dns.answers":["x"]}"#, "dns.answers", "array of object"),
        (#"{"tls":{"established":"yes"}}"#, "tls.established", "bool"),
        (#"{"message":{"x":1},"vigil.score":"high"}"#, "vigil.score", "float"),
        (#"{"message":[]}"#, "message", "string"),
    ])
    func typeMismatchesNameTheField(json: String, field: String, type: String) {
        let error = Self.decodeError(json)
        #expect(error?.code == .typeMismatch)
        #expect(error?.message.contains("'\(field)' expects \(type);") == true, "\(String(describing: error))")
    }

    @Test func typesCustomFieldsFromJSON() throws {
        let e = try EventJSON.decode(#"""
            {"i":1,"f":1.0,"e":1e0,"z":-0,"nz":-0.0,"big":99999999999999999999,"min":-9223372036854775808,
             "below":-9223372036854775809,"s":"\u00e9\ud83d\ude00\n\/","t":true,"n":null,
             "arr":[1,{"a":{"b":[{}]},"a":2},[]],"ts":"2024-05-01T12:00:00Z"}
            """#)
        #expect(e["i"] == .int(1))
        #expect(e["f"] == .float(1))
        #expect(e["e"] == .float(1))
        #expect(e["z"] == .int(0))
        #expect(e["nz"]?.floatValue?.bitPattern == (-0.0).bitPattern)
        #expect(e["big"] == .float(1e20))
        #expect(e["min"] == .int(.min))
        #expect(e["below"] == .float(-9223372036854775809.0))
        #expect(e["s"] == .string("é😀\n/"))
        #expect(e["t"] == .bool(true))
        #expect(e["n"] == .null)
        #expect(e["arr"] == [1, .object(FieldObject([.init("a", ["b": [.object(FieldObject())]]), .init("a", 2)])), []])
        #expect(e["ts"] == .string("2024-05-01T12:00:00Z"))
    }

    @Test(arguments: [
        ("", EventCodecError.Code.truncated, 0),
        ("   ", .truncated, 3),
        ("[]", .notAnObject, 0),
        ("\u{FEFF}{}", .notAnObject, 0),
        ("1", .notAnObject, 0),
        (#"{"a":1} x"#, .trailingBytes, 8),
        (#"{"a":1}{}"#, .trailingBytes, 7),
        (#"{"a":1,}"#, .syntax, 7),
        (#"{"a" 1}"#, .syntax, 5),
        (#"{a:1}"#, .syntax, 1),
        (#"{"a":1"#, .truncated, 6),
        (#"{"a":"x"#, .truncated, 5),
        (#"{"a":[1,2}"#, .syntax, 9),
        (#"{"a":01}"#, .invalidNumber, 5),
        (#"{"a":-01}"#, .invalidNumber, 6),
        (#"{"a":1.}"#, .invalidNumber, 7),
        (#"{"a":1e}"#, .invalidNumber, 7),
        (#"{"a":-}"#, .invalidNumber, 6),
        (#"{"a":.5}"#, .syntax, 5),
        (#"{"a":+1}"#, .syntax, 5),
        (#"{"a":1e400}"#, .invalidNumber, 5),
        (#"{"a":NaN}"#, .syntax, 5),
        (#"{"a":tru}"#, .syntax, 5),
        (#"{"a":nul"#, .truncated, 5),
        (#"{"a":"\x"}"#, .invalidEscape, 6),
        (#"{"a":"\u12"}"#, .invalidEscape, 6),
        (#"{"a":"\ud800"}"#, .invalidUTF8, 6),
        (#"{"a":"\udc00"}"#, .invalidUTF8, 6),
        (#"{"a":"\ud800\u0041"}"#, .invalidUTF8, 6),
        ("{\"a\":\"x\ty\"}", .syntax, 7),
        (#"{"a":1,"a":2}"#, .conflictingFields, 7),
        (#"{"a":{"b":1},"a.b":2}"#, .conflictingFields, 13),
        (#"{"a":1,"a.b":2}"#, .conflictingFields, 7),
        (#"{"b.c":1,"a":2,"b":3}"#, .conflictingFields, 15),
        (#"{"a":{"b":1},"a":{"b":2}}"#, .conflictingFields, 18),
        (#"{"source.port":1,"message":"x","source.port":2}"#, .conflictingFields, 31),
        (#"{"a":1 /* c */}"#, .syntax, 7),
    ])
    func rejectsMalformedInput(json: String, code: EventCodecError.Code, offset: Int) {
        let error = Self.decodeError(json)
        #expect(error?.code == code, "\(json): \(String(describing: error))")
        #expect(error?.offset == offset, "\(json): \(String(describing: error))")
    }

    @Test func rejectsInvalidUTF8Anywhere() {
        let string: [UInt8] = Array(#"{"a":""#.utf8) + [0xFF] + Array(#""}"#.utf8)
        #expect(Self.decodeError(string)?.code == .invalidUTF8)
        #expect(Self.decodeError(string)?.offset == 6)
        let key: [UInt8] = [0x7B, 0x22, 0xC3, 0x22, 0x3A, 0x7B, 0x7D, 0x7D]    // {"\xC3":{}}
        #expect(Self.decodeError(key)?.code == .invalidUTF8)
        let overlong: [UInt8] = Array(#"{"a":""#.utf8) + [0xE0, 0x80, 0xAF] + Array(#""}"#.utf8)
        #expect(Self.decodeError(overlong)?.code == .invalidUTF8)
        let surrogate: [UInt8] = Array(#"{"a":""#.utf8) + [0xED, 0xA0, 0x80] + Array(#""}"#.utf8)
        #expect(Self.decodeError(surrogate)?.code == .invalidUTF8)
        let outside: [UInt8] = [0x7B, 0x22, 0x61, 0x22, 0x3A, 0xC3, 0xA9, 0x7D]  // {"a":é}
        #expect(Self.decodeError(outside)?.code == .syntax)
        let valid: [UInt8] = Array(#"{"a":""#.utf8) + [0xF4, 0x8F, 0xBF, 0xBF] + Array(#""}"#.utf8)
        #expect(Self.decodeError(valid) == nil)
    }

    @Test func depthLimits() throws {
        let depth = FieldValue.maximumNestingDepth
        let ok = "{\"a\":" + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
        #expect(Self.decodeError(ok) == nil)
        let deep = "{\"a\":" + String(repeating: "[", count: depth + 1) + String(repeating: "]", count: depth + 1) + "}"
        #expect(Self.decodeError(deep)?.code == .depthLimitExceeded)
        let objectsInArray = "{\"a\":[" + String(repeating: "{\"k\":", count: depth) + "1" + String(repeating: "}", count: depth) + "]}"
        #expect(Self.decodeError(objectsInArray)?.code == .depthLimitExceeded)

        let levels = EventJSON.maximumObjectDepth
        let keyOK = String(repeating: "{\"k\":", count: levels) + "1" + String(repeating: "}", count: levels)
        let event = try EventJSON.decode(keyOK)
        #expect(event.fields.first?.key == Array(repeating: "k", count: levels).joined(separator: "."))
        #expect(try EventJSON.decode(EventJSON.encode(event)) == event)
        let keyDeep = String(repeating: "{\"k\":", count: levels + 1) + "1" + String(repeating: "}", count: levels + 1)
        #expect(Self.decodeError(keyDeep)?.code == .depthLimitExceeded)
        let bomb = "{\"a\":" + String(repeating: "[", count: 200_000)
        #expect(Self.decodeError(bomb)?.code == .depthLimitExceeded)
    }

    @Test func errorMessagesCarryNoPayload() {
        let secret = "hunter2-secret-value"
        for json in [#"{"source.ip":"\#(secret)"}"#, #"{"a":"\#(secret)\u12"}"#, #"{"@timestamp":"\#(secret)"}"#,
                     "{\"a\":\"\(secret)\"} \(secret)"] {
            let error = Self.decodeError(json)
            #expect(error != nil)
            #expect(error?.description.contains(secret) == false)
        }
    }

    @Test func decodeValueReadsAnyValue() throws {
        let v = try Array(#" [1, -2.5, "x", {"a.b": [true, null]}] "#.utf8).withUnsafeBytes { try EventJSON.decodeValue($0) }
        #expect(v == [1, -2.5, "x", ["a.b": [true, .null]]])
        #expect(throws: EventCodecError.self) { try Array("1 2".utf8).withUnsafeBytes { try EventJSON.decodeValue($0) } }
    }
}
