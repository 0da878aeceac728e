import Foundation
import Testing
import VigilTestSupport

/// deploy/: the systemd units and install.sh.
@Suite struct DeployTests {
    let deploy = repositoryRoot() + "/deploy"
    let vigil = productsDirectory() + "/vigil"
    static let units = ["vigil.service", "vigil-sensor.service", "vigil-stream@.service", "vigil-indexer.service"]

    /// A unit file as section → key → values (keys may repeat).
    func parseUnit(_ path: String) throws -> [String: [String: [String]]] {
        var sections: [String: [String: [String]]] = [:]
        var current = ""
        for raw in try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                #expect(line.hasSuffix("]"), "\(path): \(line)")
                current = String(line.dropFirst().dropLast())
                continue
            }
            let parts = line.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
            #expect(parts.count == 2 && !current.isEmpty, "\(path): \(line)")
            if parts.count == 2 { sections[current, default: [:]][parts[0], default: []].append(parts[1]) }
        }
        return sections
    }

    @Test(arguments: units) func unitsHaveTheRequiredKeys(unit: String) throws {
        let u = try parseUnit("\(deploy)/systemd/\(unit)")
        let service = try #require(u["Service"])
        #expect(u["Unit"]?["Description"] != nil)
        #expect(u["Install"]?["WantedBy"] == ["multi-user.target"])
        #expect(service["User"] == ["vigil"] && service["Group"] == ["vigil"])
        let exec = try #require(service["ExecStart"]?.first)
        #expect(exec.hasPrefix("/usr/local/bin/vigil run "))
        #expect(exec.contains("--config "))
        switch unit {
        case "vigil.service": #expect(!exec.contains("--role"))
        case "vigil-sensor.service": #expect(exec.contains("--role sensor"))
        case "vigil-stream@.service": #expect(exec.contains("--role stream"))
        default: #expect(exec.contains("--role indexer"))
        }
        for (key, value) in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ReadWritePaths", "/var/lib/vigil"),
                             ("StateDirectoryMode", "0700"), ("PrivateTmp", "yes"), ("ProtectHome", "yes"), ("UMask", "0077")] {
            #expect(service[key] == [value], "\(unit): \(key)")
        }
        let capture = unit == "vigil.service" || unit == "vigil-sensor.service"
        #expect(service["AmbientCapabilities"] == [capture ? "CAP_NET_RAW CAP_NET_ADMIN" : ""], "\(unit)")
        #expect(service["CapabilityBoundingSet"] == [capture ? "CAP_NET_RAW CAP_NET_ADMIN" : ""], "\(unit)")
        #expect(service["RestrictAddressFamilies"]?.first?.contains("AF_PACKET") == capture)
    }

    @Test func installIntoAPrefixIsCompleteAndIdempotent() throws {
        let stage = try TemporaryDirectory(); defer { stage.remove() }
        let install = deploy + "/install.sh"
        // --dry-run changes nothing.
        let dry = try runCommand("/bin/sh", [install, "--prefix", stage.path, "--binary", vigil, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("would run: install -m 0755 \(vigil) \(stage.path)/usr/local/bin/vigil"))
        #expect((try FileManager.default.contentsOfDirectory(atPath: stage.path)).isEmpty)

        let first = try runCommand("/bin/sh", [install, "--prefix", stage.path, "--binary", vigil])
        #expect(first.status == 0, "\(first.stderr)")
        func mode(_ path: String) throws -> Int {
            (try FileManager.default.attributesOfItem(atPath: stage.path + path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
        }
        #expect(try mode("/var/lib/vigil") == 0o700)
        #expect(try mode("/etc/vigil") == 0o750)
        #expect(try mode("/etc/vigil/vigil.yaml") == 0o640)
        #expect(try mode("/usr/local/bin/vigil") == 0o755)
        for unit in Self.units {
            #expect(FileManager.default.contentsEqual(atPath: "\(stage.path)/etc/systemd/system/\(unit)", andPath: "\(deploy)/systemd/\(unit)"))
        }
        for dir in ["parsers", "rules", "enrichment"] {
            #expect(FileManager.default.fileExists(atPath: "\(stage.path)/etc/vigil/\(dir)"), "\(dir)")
        }
        let version = try runCommand(stage.path + "/usr/local/bin/vigil", ["--version"])
        #expect(version.status == 0)

        // Again: the edited configuration stays, the example goes next to it.
        try "data_dir: /var/lib/vigil\n# edited\n".write(toFile: stage.path + "/etc/vigil/vigil.yaml", atomically: true, encoding: .utf8)
        let second = try runCommand("/bin/sh", [install, "--prefix", stage.path, "--binary", vigil])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(try String(contentsOfFile: stage.path + "/etc/vigil/vigil.yaml", encoding: .utf8).contains("# edited"))
        #expect(FileManager.default.fileExists(atPath: stage.path + "/etc/vigil/vigil.yaml.example"))
        #expect(!FileManager.default.fileExists(atPath: stage.path + "/etc/vigil/rules.new"))

        // Bad options are refused with the reason.
        let bad = try runCommand("/bin/sh", [install, "--prefx", stage.path])
        #expect(bad.status == 2)
        #expect(bad.stderr.contains("unknown option '--prefx'"))
        let noBinary = try runCommand("/bin/sh", [install, "--prefix", stage.path, "--binary", stage.path + "/nope"])
        #expect(noBinary.status == 1)
        #expect(noBinary.stderr.contains("no vigil binary"))
    }

    /// `systemd-analyze verify` on the units, with ExecStart pointing at the built binary (the
    /// test skips itself where systemd-analyze is not installed).
    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")))
    func systemdAnalyzeVerifiesTheUnits() throws {
        let dir = try TemporaryDirectory(); defer { dir.remove() }
        var paths: [String] = []
        for unit in Self.units {
            let text = try String(contentsOfFile: "\(deploy)/systemd/\(unit)", encoding: .utf8)
                .replacingOccurrences(of: "/usr/local/bin/vigil", with: vigil)
            let name = unit == "vigil-stream@.service" ? "vigil-stream@1.service" : unit
            try text.write(toFile: dir.file(name), atomically: true, encoding: .utf8)
            paths.append(dir.file(name))
        }
        let result = try runCommand("/usr/bin/systemd-analyze", ["verify"] + paths)
        #expect(result.status == 0, "\(result.stderr)")
        // Only the environment of a container without systemd running may be mentioned.
        let complaints = result.stderr.split(separator: "\n").filter { !$0.contains("Failed to") && !$0.contains("System has not been booted") }
        #expect(complaints.isEmpty, "\(complaints)")
    }
}
