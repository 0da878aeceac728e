import Foundation
import Testing
import VigilCore
import VigilParsers
import VigilTestSupport

/// Vigil's parsers against Apache Metron's expected parser output, field by field, through the
/// explicit tables below (docs/metron-mapping.md explains every entry and every difference).
/// Sensors: asa, jsonMap, jsonMapQuery, jsonMapWrappedQuery, leef (integration sample data) and
/// the CEF samples (cyberark.json exactly; adallom, cyberark, palo and waf against their JSON
/// Schemas). syslog3164/syslog5424 are added by the syslog parser's tests in the same style.
@Suite struct MetronParityTests {
    static func registry() throws -> ParserRegistry {
        try ParserRegistry.load(directory: repositoryRoot() + "/parsers")
    }

    static func metron() -> String? {
        guard let shared = sharedDataDirectory() else { return nil }
        let dir = shared + "/metron"
        return FileManager.default.fileExists(atPath: dir + "/PROVENANCE.md") ? dir : nil
    }

    static func sample(_ sensor: String) throws -> (raw: [String], expected: [[String: Any]]) {
        let dir = try #require(metron()) + "/integration-sample-data/" + sensor
        let rawDir = dir + "/raw", parsedDir = dir + "/parsed"
        let rawFile = try #require(try FileManager.default.contentsOfDirectory(atPath: rawDir).sorted().first)
        let parsedFile = try #require(try FileManager.default.contentsOfDirectory(atPath: parsedDir).sorted().first)
        return (try MetronParity.lines(rawDir + "/" + rawFile), try MetronParity.messages(parsedDir + "/" + parsedFile))
    }

    static func check(_ c: MetronParityCase, expectedFailures: Int = 0) {
        let report = MetronParity.run(c)
        print(report)
        for m in report.explained { print("  \(m)") }
        for m in report.unexplained { print("  UNEXPLAINED \(m)") }
        for f in report.lineFailures { print("  FAILED \(f)") }
        #expect(report.lineFailures.count == expectedFailures, "\(report.lineFailures)")
        #expect(report.events == report.expectedMessages)
        #expect(report.unexplained.isEmpty, "\(report.unexplained.prefix(5))")
        #expect(report.explained.count == c.knownDifferences.count, "a known difference no longer occurs: update the table")
    }

    // MARK: asa

    static let asaLevels = ["emergencies", "alerts", "critical", "errors", "warnings", "notifications", "informational", "debugging"]

    /// Metron's BasicAsaParser fields.
    static let asaTable: [String: MetronValue] = [
        "ciscotag": .derived("observer.product, log.level, event.code") { e in
            guard let product = e["observer.product"]?.stringValue, let level = e["log.level"]?.stringValue,
                  let digit = asaLevels.firstIndex(of: level), let code = e["event.code"]?.stringValue else { return nil }
            return "\(product)-\(digit)-\(code)"
        },
        "syslog_host": .string("log.syslog.hostname"),
        "syslog_facility": .string("log.syslog.facility.name"),
        "syslog_severity": .converted("log.syslog.severity.code", MetronParity.severityCode),
        "ip_src_addr": .ip("source.ip"),
        "ip_src_port": .int("source.port"),
        "ip_dst_addr": .ip("destination.ip"),
        "ip_dst_port": .int("destination.port"),
        "protocol": .string("network.transport"),
        "action": .string("event.action"),
        "timestamp": .millis("@timestamp"),
    ]

    @Test func asa() throws {
        guard Self.metron() != nil else { print("skipped metron parity asa: no shared data"); return }
        let (raw, expected) = try Self.sample("asa")
        // The year-less lines are January 2016 lines (the expected timestamps): read them as in 2016.
        let reference = try #require(Timestamp(rfc3339: "2016-08-20T00:00:00Z"))
        Self.check(MetronParityCase(sensor: "asa", parser: try #require(try Self.registry().parser(named: "asa")), rawLines: raw,
                                    expected: expected, table: Self.asaTable, context: ParseContext(referenceTime: reference)))
    }

    // MARK: jsonMap family

    static let jsonMapTable: [String: MetronValue] = [
        "string": .value("string"),
        "number": .value("number"),
        "ignored": .value("ignored"),
        "timestamp": .skip("Metron's placeholder (1000000000000; the parser puts the current time): the records hold no time"),
    ]

    @Test(arguments: [("jsonMap", "json"), ("jsonMapQuery", "jsonMapQuery"), ("jsonMapWrappedQuery", "jsonMapWrappedQuery")])
    func jsonMap(sensor: String, parserName: String) throws {
        guard Self.metron() != nil else { print("skipped metron parity \(sensor): no shared data"); return }
        let (raw, expected) = try Self.sample(sensor)
        Self.check(MetronParityCase(sensor: sensor, parser: try #require(try Self.registry().parser(named: parserName)), rawLines: raw,
                                    expected: expected, table: Self.jsonMapTable, context: ParseContext()))
    }

    // MARK: leef

    static let leefTable: [String: MetronValue] = {
        var t: [String: MetronValue] = [
            "DeviceVendor": .string("leef.device.vendor"),
            "DeviceProduct": .string("leef.device.product"),
            "DeviceVersion": .string("leef.device.version"),
            "DeviceEvent": .string("leef.event_id"),
            "ip_src_addr": .ip("source.ip"),
            "ip_dst_addr": .ip("destination.ip"),
            "ip_src_port": .int("source.port"),
            "ip_dst_port": .int("destination.port"),
            "sev": .int("event.severity"),
            "usrName": .string("user.name"),
            "cat": .string("leef.category"),
            "timestamp": .skip("Metron used the current time: the records have no devTime and no syslog header"),
        ]
        for key in ["name", "desc", "msg", "act", "suser", "dvc", "dvchost", "filePath", "request", "TrendMicroDsTenant",
                    "TrendMicroDsTenantId", "TrendMicroDsTags", "TrendMicroDsMalwareTarget", "TrendMicroDsMalwareTargetType",
                    "TrendMicroDsDetectionConfidence", "TrendMicroDsRelevantDetectionNames"] {
            t[key] = .string("leef.attributes." + key)
        }
        return t
    }()

    static let spacedPairs = "the record separates 'sev=N cn1=… cn1Label=Host ID' with spaces inside one tab-delimited attribute; "
        + "Metron splits each attribute at '=' and keeps only the text up to the second '=', Vigil splits the spaced pairs (split_spaced_pairs) "
        + "and reads sev=N (cn1 and cn1Label become leef.attributes.*)"
    static let spacedPairs2 = "the attribute holds 'File System TrendMicroDsFileMD5=… TrendMicroDsFileSHA1=…' (spaces instead of tabs); "
        + "Metron keeps the text up to the second '=', Vigil splits the spaced pairs and reads 'File System'"

    @Test func leef() throws {
        guard Self.metron() != nil else { print("skipped metron parity leef: no shared data"); return }
        let (raw, expected) = try Self.sample("leef")
        let known = [
            MetronKnownDifference(message: 2, field: "sev", reason: Self.spacedPairs),
            MetronKnownDifference(message: 3, field: "sev", reason: Self.spacedPairs),
            MetronKnownDifference(message: 3, field: "TrendMicroDsMalwareTargetType", reason: Self.spacedPairs2),
            MetronKnownDifference(message: 4, field: "sev", reason: Self.spacedPairs),
        ]
        Self.check(MetronParityCase(sensor: "leef", parser: try #require(try Self.registry().parser(named: "leef")), rawLines: raw,
                                    expected: expected, table: Self.leefTable, context: ParseContext(), knownDifferences: known))
    }

    // MARK: cef

    /// The field names of cyberark.json (Metron's CEF output with its longer field names).
    static let cyberarkTable: [String: MetronValue] = [
        "\"Other info\"": .string("cef.extensions.Other info"),
        "\"Safe Name\"": .string("cef.extensions.Safe Name"),
        "\"Ticket Id\"": .string("cef.extensions.Ticket Id"),
        "deviceAction": .string("event.action"),
        "deviceAddress": .ip("observer.ip"),
        "device_product": .string("cef.device.product"),
        "device_vendor": .string("cef.device.vendor"),
        "device_version": .string("cef.device.version"),
        "event_class_id": .string("cef.signature_id"),
        "event_name": .string("cef.name"),
        "fileName": .string("file.name"),
        "header": .skip("the text before the first '|' (syslog header and CEF:0); Vigil reads it into log.syslog.*, @timestamp and cef.version"),
        "message": .string("message"),
        "severity": .int("event.severity"),
        "src_hostname": .string("source.domain"),
        "src_username": .string("user.name"),
        "timestamp": .millis("@timestamp"),
    ]

    @Test func cefCyberArkExact() throws {
        guard let metron = Self.metron() else { print("skipped metron parity cef: no shared data"); return }
        let dir = metron + "/parser-test-resources/cef"
        let raw = try MetronParity.lines(dir + "/cyberark.cef")
        let data = try Data(contentsOf: URL(fileURLWithPath: dir + "/cyberark.json"))
        let expected = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let reference = try #require(Timestamp(rfc3339: "2016-04-01T00:00:00Z"))
        let known = [MetronKnownDifference(message: 1, field: "\"Ticket Id\"",
                                           reason: "cyberark.json keeps the space before the next key ('…pulled '); the CEF extension separator is not part of the value, and Metron's current CEFParser trims it too")]
        Self.check(MetronParityCase(sensor: "cef (cyberark.json)", parser: try #require(try Self.registry().parser(named: "cef")),
                                    rawLines: raw, expected: [expected], table: Self.cyberarkTable,
                                    context: ParseContext(referenceTime: reference), knownDifferences: known))
    }

    /// Metron's CEFParser field names used by the JSON Schemas.
    static let cefSchemaTable: [String: MetronValue] = [
        "timestamp": .millis("@timestamp"),
        "DeviceVendor": .string("cef.device.vendor"),
        "DeviceProduct": .string("cef.device.product"),
        "DeviceVersion": .string("cef.device.version"),
        "DeviceEvent": .string("cef.signature_id"),
        "Name": .string("cef.name"),
        "Severity": .int("event.severity"),
        "ip_src_addr": .ip("source.ip"),
        "ip_dst_addr": .ip("destination.ip"),
        "ip_src_port": .int("source.port"),
        "ip_dst_port": .int("destination.port"),
        "cat": .string("cef.extensions.deviceEventCategory"),
        "consoleUrl": .string("cef.extensions.consoleUrl"),
        "ServerGroup": .string("cef.extensions.ServerGroup"),
        "ServiceName": .string("cef.extensions.ServiceName"),
        "ApplicationName": .string("cef.extensions.ApplicationName"),
        "Description": .string("cef.extensions.Description"),
    ]

    @Test(arguments: ["adallom", "cyberark", "palo", "waf"])
    func cefSchemas(sample: String) throws {
        guard let metron = Self.metron() else { print("skipped metron parity cef: no shared data"); return }
        let dir = metron + "/parser-test-resources/cef"
        let parser = try #require(try Self.registry().parser(named: "cef"))
        var checked = 0
        var failures: [String] = []
        let lines = try MetronParity.lines(dir + "/\(sample).cef")
        for line in lines {
            let event = try parser.parse(line, context: ParseContext(referenceTime: Timestamp(rfc3339: "2017-06-01T00:00:00Z")!))
            let result = try MetronParity.schemaCheck(schemaPath: dir + "/\(sample).schema", event: event, table: Self.cefSchemaTable)
            checked += result.checked
            failures += result.failures
        }
        print("metron parity cef \(sample).schema: lines \(lines.count)/\(lines.count) parsed, required fields \(checked - failures.count)/\(checked) present with the schema's type")
        #expect(failures.isEmpty, "\(failures)")
    }
}
