import Foundation

/// The rows of a Zeek TSV log (`#fields` header, tab-separated values), each as column → value.
/// Header and comment lines are skipped; rows whose column count differs from the header are
/// left out. Tests compare the network sensor with Zeek's own logs through it.
public func readZeekLog(_ path: String) -> [[String: String]] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
    var fields: [String] = []
    var rows: [[String: String]] = []
    for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
        if line.hasPrefix("#fields") {
            fields = line.split(separator: "\t", omittingEmptySubsequences: false).dropFirst().map(String.init)
            continue
        }
        if line.hasPrefix("#") { continue }
        let values = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        guard values.count == fields.count else { continue }
        rows.append(Dictionary(uniqueKeysWithValues: zip(fields, values)))
    }
    return rows
}
