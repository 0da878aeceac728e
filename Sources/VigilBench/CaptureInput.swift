import Foundation
import VigilCapture

/// The input of `vigil bench capture`: a pcap of at least `packets` packets made from sample traces
/// (every Ethernet trace found under a directory, one after the other), repeated with timestamps
/// moved forward so that each copy starts ten minutes after the previous one ended: its
/// connections start after the previous copy's have timed out, so the flow table sees new flows,
/// like a sensor on a busy link, and every packet stays valid.
public enum CaptureInput {
    /// Writes the input to `path`; returns the packet count and the traces used.
    public static func build(path: String, tracesDirectory: String, packets target: Int) throws -> (packets: Int, traces: [String]) {
        let traces = findTraces(tracesDirectory)
        guard !traces.isEmpty else { throw PcapError("no Ethernet pcap traces under \(tracesDirectory)") }
        // Load every packet once (the traces are small), in time order per trace.
        // Traces follow each other one second apart, each in its own time order, so the file's
        // timestamps never go backwards.
        var loaded: [(timestamp: Int64, bytes: [UInt8], wire: Int)] = []
        var traceStart: Int64 = 0
        for trace in traces {
            let source = try PcapSource.open(file: trace)
            // Gaps over ten minutes (traces stitched from captures years apart) shrink to ten
            // minutes: every flow has timed out by then anyway.
            var previous: Int64?
            var offset: Int64 = 0
            while try source.next({ info, bytes in
                if let previous { offset += min(max(0, info.timestamp - previous), 600_000_000_000) }
                previous = info.timestamp
                loaded.append((traceStart + offset, Array(bytes), info.wireLength))
            }) == .packet {}
            traceStart += offset + 1_000_000_000
        }
        let writer = try PcapWriter(path: path, linkType: 1)
        let epoch: Int64 = 1_767_225_600_000_000_000  // 2026-01-01T00:00:00Z
        let spacing = traceStart + 600_000_000_000
        var copy: Int64 = 0
        while writer.packets < target {
            let copyStart = epoch + copy * spacing
            for p in loaded {
                try p.bytes.withUnsafeBytes { try writer.write(timestamp: copyStart + p.timestamp, bytes: $0, wireLength: p.wire) }
            }
            copy += 1
        }
        try writer.close()
        return (writer.packets, traces)
    }

    /// Classic pcap files with Ethernet framing under `directory` (pcapng and other link types are
    /// left out so that every peer tool reads the input).
    static func findTraces(_ directory: String) -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var out: [String] = []
        for case let relative as String in walker where relative.hasSuffix(".pcap") {
            let path = directory + "/" + relative
            guard let source = try? PcapSource.open(file: path), source.linkType == 1 else { continue }
            out.append(path)
        }
        return out.sorted()
    }
}
