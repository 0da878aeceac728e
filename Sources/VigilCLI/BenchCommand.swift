import ArgumentParser
import Foundation
import VigilBench
import VigilIndex

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Run a benchmark that builds its own input and runs its peer in the same run.",
        subcommands: [Broker.self, Parse.self, Capture.self, Sketch.self,
                      Enrich.self, Rules.self, Index.self, EndToEnd.self])

    struct EndToEnd: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "e2e",
            abstract: "The whole pipeline (vigil run: file sensor → broker → rules → alerts → index): events/s on the embedded broker and through Kafka, alert latency at a steady rate.")
        @Option(help: "Directory for inputs and data directories (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-e2e-\(getpid())"
        @Option(help: "Lines of the embedded-broker throughput run.") var events: Int = 2_000_000
        @Option(help: "Attackers in the throughput runs (one expected alert each).") var attackers: Int = 200
        @Option(help: "Lines of the Kafka throughput run.") var kafkaEvents: Int = 1_000_000
        @Option(help: ArgumentHelp("A Kafka broker to use instead of starting Tansu with scripts/kafka-test-env.sh.", valueName: "HOST:PORT")) var kafkaBootstrap: String?
        @Flag(help: "Skip the Kafka run.") var noKafka = false
        @Option(help: "Lines per second of the latency run.") var latencyRate: Int = 50_000
        @Option(help: "Seconds of the latency run.") var latencySeconds: Double = 20
        @Option(help: "Alerts spread over the latency run.") var latencyAlerts: Int = 100
        @Flag(help: "Skip the latency run.") var noLatency = false
        @Option(help: "Partitions of the topics.") var partitions: Int = 4
        @Option(help: "Stream workers.") var workers: Int = 2
        @Option(help: "The embedded log's fsync policy: every_batch, interval (100 ms) or never.") var fsync: String = "interval"
        @Option(help: "The rules directory.") var rules: String = "rules"
        @Option(help: "The parsers directory.") var parsers: String = "parsers"
        @Option(help: "The enrichment directory ('none': no enrichment).") var enrichment: String = "enrichment"
        @Option(help: "Give up on a run after this many seconds.") var timeout: Double = 900
        @Option(help: "Alert index layout of the runs: blocks (the default) or rows.") var layout: String = "blocks"
        @Flag(help: "Keep the directory.") var keep = false
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func validate() throws {
            guard AlertIndexLayout(rawValue: layout) != nil else { throw ValidationError("--layout must be blocks or rows, got '\(layout)'") }
            guard events >= 1000, kafkaEvents >= 1000 else { throw ValidationError("--events and --kafka-events must be at least 1000") }
            guard attackers >= 1, attackers * 10 <= min(events, kafkaEvents) else { throw ValidationError("--attackers must be at least 1 and at most a tenth of --events and --kafka-events") }
            guard latencyRate >= 100, latencySeconds >= 3, latencyAlerts >= 1 else { throw ValidationError("--latency-rate must be at least 100, --latency-seconds at least 3, --latency-alerts at least 1") }
            guard ["every_batch", "interval", "never"].contains(fsync) else { throw ValidationError("--fsync takes every_batch, interval or never") }
            guard (1...256).contains(partitions), (1...256).contains(workers) else { throw ValidationError("--partitions and --workers must be in 1...256") }
        }

        func run() throws {
            var options = EndToEndBenchmark.Options(executable: Self.executable(), directory: dir)
            options.events = events
            options.attackers = attackers
            options.kafkaEvents = kafkaEvents
            options.kafkaBootstrap = kafkaBootstrap
            options.skipKafka = noKafka
            options.latencyRate = latencyRate
            options.latencySeconds = latencySeconds
            options.latencyAlerts = latencyAlerts
            options.skipLatency = noLatency
            options.partitions = partitions
            options.workers = workers
            options.fsync = fsync == "interval" ? "{ policy: interval, interval: 100ms }" : "{ policy: \(fsync) }"
            options.rulesDirectory = rules
            options.parsersDirectory = parsers
            options.enrichmentDirectory = enrichment == "none" ? nil : enrichment
            options.timeout = timeout
            options.keep = keep
            options.layout = AlertIndexLayout(rawValue: layout) ?? .rows
            let r = try EndToEndBenchmark(options: options, progress: { printError($0) }).run()
            func describe(_ t: EndToEndBenchmark.Throughput, _ end: String) {
                print(String(format: "%@: %.0f events/s (%d events in %.2f s to the last expected alert %@; %d of %d alerts, %d unexpected; %.1f CPU s, %.0f events per CPU s; peak RSS %.0f MiB)",
                             t.broker, t.eventsPerSecond, t.events, t.seconds, end, t.alertsFound, t.alertsExpected, t.alertsUnexpected,
                             t.cpuSeconds, Double(t.events) / max(t.cpuSeconds, 1e-9), Double(t.peakResidentBytes) / 1_048_576))
                func at(_ v: Double?) -> String { v.map { String(format: "%.2f s", $0) } ?? "not reached" }
                print("  CPU by thread: " + t.threadCPU.prefix(8).map { String(format: "%@ %.2f s", $0.name, $0.seconds) }.joined(separator: ", "))
                print("  stages done: sensor \(at(t.stages.sensor)), stream \(at(t.stages.stream)), alerts \(at(t.stages.alerts)); bottleneck: \(t.stages.bottleneck) (\(t.stages.bottleneckReason))")
            }
            describe(r.embedded, "in the index")
            if let k = r.kafka { describe(k, "in the index (through Kafka)") } else { print("kafka: not measured: \(r.kafkaNote)") }
            if let l = r.latency {
                func ms(_ v: Double?) -> String { v.map { String(format: "%.0f ms", $0) } ?? "n/a" }
                print(String(format: "latency at %.0f events/s (target %d; %d events): p50 %@, p99 %@, max %@ (%d of %d alerts seen; peak RSS %.0f MiB)",
                             l.achievedRate, l.targetRate, l.events, ms(l.p50Milliseconds), ms(l.p99Milliseconds), ms(l.maxMilliseconds),
                             l.alertsSeen, l.alertsExpected, Double(l.peakResidentBytes) / 1_048_576))
            } else {
                print("latency: not measured (--no-latency)")
            }
            print("cores: \(r.cores) (vigil run and the bench's feeder and pollers share them)")
            if json {
                func num(_ v: Double?, _ f: String = "%.0f") -> String { v.map { $0.isFinite ? String(format: f, $0) : "null" } ?? "null" }
                func quoted(_ s: String) -> String {
                    "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
                }
                let e = r.embedded, k = r.kafka, l = r.latency
                var fields: [String] = [
                    #""bench":"e2e""#,
                    #""events_per_s":\#(num(e.eventsPerSecond))"#,
                    #""kafka_events_per_s":\#(num(k?.eventsPerSecond))"#,
                    #""latency_p50_ms":\#(num(l?.p50Milliseconds, "%.1f"))"#,
                    #""latency_p99_ms":\#(num(l?.p99Milliseconds, "%.1f"))"#,
                    #""latency_max_ms":\#(num(l?.maxMilliseconds, "%.1f"))"#,
                    #""cores":\#(r.cores)"#,
                    #""events":\#(e.events)"#,
                    #""alerts_expected":\#(e.alertsExpected)"#,
                    #""alerts_indexed":\#(e.alertsFound)"#,
                    #""alerts_unexpected":\#(e.alertsUnexpected)"#,
                    #""seconds":\#(num(e.seconds, "%.3f"))"#,
                    #""sensor_done_s":\#(num(e.stages.sensor, "%.3f"))"#,
                    #""stream_done_s":\#(num(e.stages.stream, "%.3f"))"#,
                    #""bottleneck":\#(quoted(e.stages.bottleneck))"#,
                    #""peak_lag":\#(e.peakLag)"#,
                    #""cpu_s":\#(num(e.cpuSeconds, "%.2f"))"#,
                    #""peak_rss_bytes":\#(e.peakResidentBytes)"#,
                    #""kafka_events":\#(k.map { String($0.events) } ?? "null")"#,
                    #""kafka_alerts_expected":\#(k.map { String($0.alertsExpected) } ?? "null")"#,
                    #""kafka_alerts_indexed":\#(k.map { String($0.alertsFound) } ?? "null")"#,
                    #""kafka_alerts_unexpected":\#(k.map { String($0.alertsUnexpected) } ?? "null")"#,
                    #""kafka_bottleneck":\#(k.map { quoted($0.stages.bottleneck) } ?? "null")"#,
                    #""kafka_note":\#(quoted(r.kafkaNote))"#,
                    #""latency_rate_target":\#(l.map { String($0.targetRate) } ?? "null")"#,
                    #""latency_rate_achieved":\#(num(l?.achievedRate))"#,
                    #""latency_alerts_expected":\#(l.map { String($0.alertsExpected) } ?? "null")"#,
                    #""latency_alerts_seen":\#(l.map { String($0.alertsSeen) } ?? "null")"#,
                ]
                fields.append(#""latency_peak_rss_bytes":\#(l.map { String($0.peakResidentBytes) } ?? "null")"#)
                fields.append(#""cpu_s_by_thread":{"# + e.threadCPU.map { quoted($0.name) + ":" + String(format: "%.2f", $0.seconds) }.joined(separator: ",") + "}")
                print("{" + fields.joined(separator: ",") + "}")
            }
        }

        /// This executable: the `vigil` the bench runs.
        static func executable() -> String {
            var buffer = [UInt8](repeating: 0, count: 4096)
            let n = buffer.withUnsafeMutableBytes { readlink("/proc/self/exe", $0.baseAddress!.assumingMemoryBound(to: CChar.self), 4095) }
            return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : CommandLine.arguments[0]
        }
    }

    struct Index: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Alert index: alerts/s indexed into SQLite, then p50/p99 of four queries, next to Python's sqlite3.")
        @Option(help: "Synthetic alerts to index.") var alerts: Int = 10_000_000
        @Option(help: "Directory for the databases (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-index-\(getpid())"
        @Option(help: "Runs of each query.") var runs: Int = 100
        @Option(help: "Alerts per indexer transaction (default: index.batch_size's default).") var batch: Int?
        @Option(help: "Index layout: blocks (the default) or rows.") var layout: String = "blocks"
        @Option(help: "Rows the Python peer inserts (default: min(alerts, 1,000,000)).") var peerAlerts: Int?
        @Option(help: ArgumentHelp("Days the alerts' times span, ending now.",
                                   discussion: "A smaller run at the density of the full one (alerts per hour, so per transaction) spans alerts / 10,000,000 × 30 days."))
        var days: Double = 30
        @Option(help: "The Python interpreter.") var python: String = "python3"
        @Flag(help: "Measure Vigil only.") var noPeer = false
        @Flag(help: "Keep the databases.") var keep = false
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func validate() throws {
            guard alerts >= 1000 else { throw ValidationError("--alerts must be at least 1000") }
            guard runs >= 10 else { throw ValidationError("--runs must be at least 10") }
            guard days > 0, days <= 36_500 else { throw ValidationError("--days must be above 0 and at most 36500, got \(days)") }
            guard AlertIndexLayout(rawValue: layout) != nil else { throw ValidationError("--layout must be blocks or rows, got '\(layout)'") }
        }

        func run() throws {
            var options = IndexBenchmark.Options(directory: dir)
            options.alerts = alerts
            options.queryRuns = runs
            if let batch { options.batch = batch }
            options.layout = AlertIndexLayout(rawValue: layout) ?? .rows
            options.peerAlerts = peerAlerts
            options.days = days
            options.python = python
            options.skipPeer = noPeer
            options.keep = keep
            let r = try IndexBenchmark(options: options, progress: { printError($0) }).run()
            print(String(format: "indexed %d alerts from the alerts topic (%@ layout): %.0f alerts/s (%.1f s; %.0f alerts per CPU second of the process; writer thread %.2f µs CPU per alert; %.2f GB on disk; ANALYZE %.1f s)",
                         r.alerts, layout, r.insertPerSecond, r.insertSeconds, r.insertPerCPUSecond, r.writerCPUMicrosecondsPerAlert, Double(r.bytes) / 1e9, r.analyzeSeconds))
            for q in r.queries {
                print(String(format: "  %-20@ p50 %7.2f ms  p99 %7.2f ms  (%.0f rows)", q.name, q.p50, q.p99, q.meanRows))
            }
            if let p = r.peerPerSecond {
                print(String(format: "python sqlite3 peer (%@, WAL, 3 indexes): %.0f rows/s over %d rows; GROUP BY rule %.1f ms", r.peerNote ?? "", p, r.peerRows,
                             r.peerGroupByMilliseconds ?? .nan))
            } else {
                print("python sqlite3 peer: not measured\(r.peerNote.map { ": \($0)" } ?? "")")
            }
            print("cores: \(r.cores) (indexer: a decoding thread, a writer thread, a checkpoint thread)")
            if json {
                func num(_ v: Double?, _ f: String = "%.3f") -> String { v.map { $0.isFinite ? String(format: f, $0) : "null" } ?? "null" }
                let worst50 = r.queries.map(\.p50).max(), worst99 = r.queries.map(\.p99).max()
                let per = r.queries.map { #""\#($0.name)_p50_ms":\#(num($0.p50)),"\#($0.name)_p99_ms":\#(num($0.p99))"# }.joined(separator: ",")
                print(#"{"bench":"index","alerts":\#(r.alerts),"insert_alerts_per_s":\#(num(r.insertPerSecond, "%.0f")),"insert_alerts_per_cpu_s":\#(num(r.insertPerCPUSecond, "%.0f")),"writer_cpu_us_per_alert":\#(num(r.writerCPUMicrosecondsPerAlert)),"layout":"\#(layout)","query_p50_ms":\#(num(worst50)),"query_p99_ms":\#(num(worst99)),\#(per),"db_bytes":\#(r.bytes),"python_peer_rows":\#(r.peerRows),"python_peer_rows_per_s":\#(num(r.peerPerSecond, "%.0f")),"python_peer_group_by_ms":\#(num(r.peerGroupByMilliseconds)),"cores":\#(r.cores)}"#)
            }
        }
    }

    struct Rules: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rule engine: events/s on one thread with 100 and with 1,000 rules of mixed kinds.")
        @Option(help: "Events through the 100 rules.") var events: Int = 1_000_000
        @Option(help: "Events through the 1,000 rules.") var eventsLarge: Int = 200_000
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func run() throws {
            let input = RulesBenchmark.events(max(events, eventsLarge))
            var results: [RulesBenchmark.Result] = []
            for (count, n) in [(100, events), (1000, eventsLarge)] {
                let rules = try RulesBenchmark.rules(count)
                // One warm-up pass over a slice, then the measured one.
                _ = RulesBenchmark.measure(rules: rules, events: Array(input.prefix(20_000)))
                let r = RulesBenchmark.measure(rules: rules, events: Array(input.prefix(n)))
                print(String(format: "%d rules: %.0f events/s (%d events, %.2f s, %d alerts)", count, r.eventsPerSecond, r.events, r.seconds, r.alerts))
                results.append(r)
            }
            let cores = ProcessInfo.processInfo.activeProcessorCount
            print("cores: \(cores) (one thread)")
            if json {
                print(#"{"bench":"rules","events_per_s_100_rules":\#(Int(results[0].eventsPerSecond)),"events_per_s_1000_rules":\#(Int(results[1].eventsPerSecond)),"alerts_100_rules":\#(results[0].alerts),"alerts_1000_rules":\#(results[1].alerts),"cores":\#(cores)}"#)
            }
        }
    }

    struct Sketch: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Sketches: HyperLogLog++ update cost and accuracy over 100 seeds, Bloom and Count-Min costs, next to Apache DataSketches' HLL.")
        @Option(help: "HyperLogLog precision p (DataSketches lgK), 4…18.") var precision: Int = 14
        @Option(help: "Seeds per distinct count in the HyperLogLog accuracy sweep.") var seeds: Int = 100
        @Option(help: "Seeds per distinct count for DataSketches (a Python loop: slow).") var peerSeeds: Int = 10
        @Option(help: "The accuracy sweep covers 10^3 … 10^N distinct values.") var maxExponent: Int = 7
        @Option(help: "Operations per timing run.") var operations: Int = 4_000_000
        @Option(help: "Each timing is the best of this many runs.") var repeats: Int = 3
        @Option(help: "Items the Bloom filter is sized for and filled with (p = 1 %).") var bloomItems: Int = 1_000_000
        @Option(help: "The Python interpreter that imports datasketches.") var python: String = "python3"
        @Flag(help: "A short run: 10 seeds (3 for DataSketches), up to 10^6 distinct values, 1,000,000 operations.") var quick = false
        @Flag(help: "Measure Vigil only.") var noPeer = false
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func validate() throws {
            guard (4...18).contains(precision) else { throw ValidationError("--precision must be in 4…18") }
            guard seeds >= 1, peerSeeds >= 1, operations >= 1000 else { throw ValidationError("--seeds, --peer-seeds must be ≥ 1 and --operations ≥ 1000") }
            guard (3...9).contains(maxExponent) else { throw ValidationError("--max-exponent must be in 3…9") }
            guard bloomItems >= 1000 else { throw ValidationError("--bloom-items must be at least 1000") }
        }

        func run() throws {
            var options = SketchBenchmark.Options()
            options.precision = precision
            options.seeds = quick ? min(seeds, 10) : seeds
            options.peerSeeds = quick ? min(peerSeeds, 3) : peerSeeds
            options.maxExponent = quick ? min(maxExponent, 6) : maxExponent
            options.operations = quick ? min(operations, 1_000_000) : operations
            options.repeats = max(1, repeats)
            options.bloomItems = bloomItems
            options.skipPeer = noPeer
            options.python = python
            let r = try SketchBenchmark(options: options, progress: { printError($0) }).run()
            print(String(format: "HyperLogLog p=%d (dense): insert(hash:) %.2f ns/op; hash+insert 12-byte value %.2f ns/op; hash+insert UInt64 %.2f ns/op",
                         r.precision, r.hllInsertHashNanoseconds, r.hllHashInsertNanoseconds, r.hllIntegerInsertNanoseconds))
            for a in r.hllAccuracy {
                print(String(format: "  %9d distinct × %d seeds: max |rel error| %.4f%%, rms %.4f%%, beyond 3σ (%.3f%%): %d",
                             a.distinct, a.seeds, 100 * a.maxRelativeError, 100 * a.rmsRelativeError, 300 * r.sigma, a.beyondThreeSigma))
            }
            print("  every case within 3σ: \(r.hllWithinThreeSigma)")
            print(String(format: "Bloom filter n=%d p=%g (%d bits, k=%d): insert %.2f ns/op; lookup %.2f ns/op (half absent; absent %.2f, present %.2f); measured FPR %.5f",
                         options.bloomItems, r.bloomTargetFalsePositiveRate, r.bloomBits, r.bloomHashes, r.bloomInsertNanoseconds,
                         r.bloomLookupNanoseconds, r.bloomLookupAbsentNanoseconds, r.bloomLookupPresentNanoseconds, r.bloomFalsePositiveRate))
            print(String(format: "Count-Min %d×%d: add(hash:) %.2f ns/op; top-100 heavy hitters add (12-byte keys, hash included) %.2f ns/op",
                         r.countMinWidth, r.countMinDepth, r.countMinUpdateNanoseconds, r.heavyHittersUpdateNanoseconds))
            if let ns = r.peer.updateNanoseconds {
                print(String(format: "DataSketches HLL: update %.2f ns/op (Python loop alone %.2f ns/op) — %@", ns, r.peer.loopNanoseconds ?? .nan, r.peer.method))
                for a in r.peer.accuracy {
                    print(String(format: "  %9d distinct × %d seeds: max |rel error| %.4f%%, rms %.4f%%, beyond 3σ: %d",
                                 a.distinct, a.seeds, 100 * a.maxRelativeError, 100 * a.rmsRelativeError, a.beyondThreeSigma))
                }
            } else {
                print("DataSketches HLL: not measured: \(r.peer.note ?? "")")
            }
            print("cores: \(r.cores) (every figure is one thread; Vigil's timings are the best of \(options.repeats) runs)")
            if json {
                func number(_ v: Double?, _ format: String = "%.3f") -> String { v.map { $0.isFinite ? String(format: format, $0) : "null" } ?? "null" }
                let accuracy = r.hllAccuracy.map { #"{"distinct":\#($0.distinct),"seeds":\#($0.seeds),"max_rel_error":\#(number($0.maxRelativeError, "%.6f")),"beyond_3sigma":\#($0.beyondThreeSigma)}"# }.joined(separator: ",")
                let peerAccuracy = r.peer.accuracy.map { #"{"distinct":\#($0.distinct),"seeds":\#($0.seeds),"max_rel_error":\#(number($0.maxRelativeError, "%.6f"))}"# }.joined(separator: ",")
                print(#"{"bench":"sketch","precision":\#(r.precision),"hll_update_ns":\#(number(r.hllInsertHashNanoseconds)),"hll_hash_update_ns":\#(number(r.hllHashInsertNanoseconds)),"hll_u64_update_ns":\#(number(r.hllIntegerInsertNanoseconds)),"hll_max_rel_error":\#(number(r.hllMaxRelativeError, "%.6f")),"hll_sigma":\#(number(r.sigma, "%.6f")),"hll_within_3sigma":\#(r.hllWithinThreeSigma),"hll_seeds":\#(options.seeds),"hll_accuracy":[\#(accuracy)],"bloom_insert_ns":\#(number(r.bloomInsertNanoseconds)),"bloom_lookup_ns":\#(number(r.bloomLookupNanoseconds)),"bloom_lookup_absent_ns":\#(number(r.bloomLookupAbsentNanoseconds)),"bloom_lookup_present_ns":\#(number(r.bloomLookupPresentNanoseconds)),"bloom_fpr":\#(number(r.bloomFalsePositiveRate, "%.6f")),"bloom_target_fpr":\#(number(r.bloomTargetFalsePositiveRate, "%.6f")),"countmin_update_ns":\#(number(r.countMinUpdateNanoseconds)),"heavy_hitters_update_ns":\#(number(r.heavyHittersUpdateNanoseconds)),"datasketches_hll_update_ns":\#(number(r.peer.updateNanoseconds)),"datasketches_python_loop_ns":\#(number(r.peer.loopNanoseconds)),"datasketches_hll_max_rel_error":\#(number(r.peer.maxRelativeError, "%.6f")),"datasketches_seeds":\#(r.peer.accuracy.first?.seeds ?? 0),"datasketches_accuracy":[\#(peerAccuracy)],"cores":\#(r.cores)}"#)
            }
        }
    }

    struct Capture: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Network sensor: packets/s from a ≥1M-packet pcap to records, full and flows only, next to tcpdump, tshark and softflowd.")
        @Option(help: "Directory for the generated pcap (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-capture-\(getpid())"
        @Option(help: "Directory of sample traces to build the input from.") var traces: String = "../shared/data/pcap"
        @Option(help: "Packets in the generated pcap.") var packets: Int = 1_000_000
        @Option(help: "Measure this pcap instead of the generated mix.") var input: String?
        @Option(help: ArgumentHelp("Measure only full metadata (full) or only flows (flows).", visibility: .hidden)) var only: String?
        @Flag(help: "Measure Vigil only.") var noPeers = false
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func validate() throws {
            if let only, only != "full", only != "flows" { throw ValidationError("--only takes full or flows") }
        }

        func run() throws {
            var options = CaptureBenchmark.Options(directory: dir, tracesDirectory: traces)
            options.packets = packets
            options.skipPeers = noPeers
            options.input = input
            options.only = only
            let r = try CaptureBenchmark(options: options, progress: { printError($0) }).run()
            print(String(format: "input: %d packets, %.1f MB, from %d traces", r.packets, Double(r.bytes) / 1e6, r.traces))
            print(String(format: "vigil, full metadata: %.0f packets/s (%lld records)", r.packetsPerSecond, r.records))
            print(String(format: "vigil, flows only:    %.0f packets/s (%lld records)", r.flowsOnlyPacketsPerSecond, r.flowRecords))
            for p in r.peers {
                if let s = p.seconds {
                    print(String(format: "%@: %.0f packets/s (%@)", p.tool, Double(r.packets) / s, p.command))
                } else {
                    print("\(p.tool): not measured: \(p.note ?? "")")
                }
            }
            print("cores: \(r.cores) (vigil on one thread)")
            func number(_ v: Double?) -> String { v.map { $0.isFinite ? String(format: "%.0f", $0) : "null" } ?? "null" }
            func ratio(_ a: Double, _ b: Double?) -> String { b.map { String(format: "%.3f", a / $0) } ?? "null" }
            let tshark = r.peerRate("tshark"), tcpdump = r.peerRate("tcpdump"), softflowd = r.peerRate("softflowd")
            print(String(format: "ratios: %@× tshark, %@× tcpdump, flows only %@× softflowd",
                         ratio(r.packetsPerSecond, tshark), ratio(r.packetsPerSecond, tcpdump), ratio(r.flowsOnlyPacketsPerSecond, softflowd)))
            if json {
                print(#"{"bench":"capture","packets_per_s":\#(number(r.packetsPerSecond)),"flows_only_packets_per_s":\#(number(r.flowsOnlyPacketsPerSecond)),"tshark_packets_per_s":\#(number(tshark)),"tcpdump_packets_per_s":\#(number(tcpdump)),"softflowd_packets_per_s":\#(number(softflowd)),"ratio_vs_tshark":\#(ratio(r.packetsPerSecond, tshark)),"ratio_vs_tcpdump":\#(ratio(r.packetsPerSecond, tcpdump)),"ratio_flows_only_vs_softflowd":\#(ratio(r.flowsOnlyPacketsPerSecond, softflowd)),"packets":\#(r.packets),"records":\#(r.records),"cores":\#(r.cores)}"#)
            }
        }
    }

    struct Broker: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Embedded log: append and read 200-byte records with batched fsync; 64 KiB records against dd.")
        @Option(help: "Directory on the disk to measure (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-\(getpid())"
        @Option(help: "Number of 200-byte records.") var records: Int = 5_000_000
        @Option(help: "Records per fsynced batch.") var batch: Int = 1000
        @Option(help: "Bytes written in the 64 KiB-record and dd runs.") var largeBytes: Int = 2 << 30
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func run() throws {
            var options = BrokerBenchmark.Options(directory: dir)
            options.records = records
            options.recordsPerBatch = batch
            options.largeTotalBytes = largeBytes
            let r = try BrokerBenchmark(options: options, progress: { printError($0) }).run()
            print(String(format: "append: %.0f records/s (%d × %d B, fsync every %d records per partition, %d partitions and threads, %.2f s)",
                         r.appendRecordsPerSecond, r.records, r.recordBytes, r.recordsPerBatch, r.partitions, r.appendSeconds))
            print(String(format: "read:   %.0f records/s (%.2f s, checksums verified)", r.readRecordsPerSecond, r.readSeconds))
            print(String(format: "large:  %.1f MB/s for 64 KiB records; dd: %.1f MB/s; ratio %.2f", r.largeMBPerSecond, r.ddMBPerSecond, r.ddRatio))
            print("cores:  \(r.cores); CRC32C hardware: \(r.crcHardware)")
            if json {
                print(String(format: #"{"bench":"broker","append_records_per_s":%.0f,"read_records_per_s":%.0f,"large_mb_per_s":%.1f,"dd_mb_per_s":%.1f,"dd_ratio":%.3f,"cores":%d,"records":%d,"record_bytes":%d,"records_per_fsync":%d,"partitions":%d}"#,
                             r.appendRecordsPerSecond, r.readRecordsPerSecond, r.largeMBPerSecond, r.ddMBPerSecond, r.ddRatio, r.cores, r.records, r.recordBytes, r.recordsPerBatch, r.partitions))
            }
        }
    }

    struct Parse: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Parsers: sshd-in-syslog, JSON and CEF lines parsed, normalized and appended per second on one core, next to wc -l.")
        @Option(help: "Directory for the generated inputs and the log (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-parse-\(getpid())"
        @Option(help: "The parser definitions to use.") var parsers: String = "parsers"
        @Option(help: "Lines per input.") var lines: Int = 2_000_000
        @Option(help: "Run only this case (sshd-in-syslog, json, cef); repeat for several.") var only: [String] = []
        @Flag(help: "Measure parse + normalize only, without appending to the log.") var parseOnly = false
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func validate() throws {
            for name in only where !["sshd-in-syslog", "json", "cef"].contains(name) {
                throw ValidationError("--only: unknown case '\(name)' (sshd-in-syslog, json, cef)")
            }
        }

        func run() throws {
            var options = ParseBenchmark.Options(directory: dir, parsersDirectory: parsers)
            options.lines = lines
            options.only = Set(only)
            options.parseOnly = parseOnly
            let r = try ParseBenchmark(options: options, progress: { printError($0) }).run()
            for c in r.cases {
                print(String(format: "%@ (%@): parse+normalize %.0f lines/s, +append %.0f lines/s (%.0f%% in flush, waiting for fsync); wc -l %.0f lines/s (%d lines, %.1f MB)",
                             c.name, c.parser, c.parseLinesPerSecond, c.ingestLinesPerSecond, 100 * c.ingestFlushShare, c.wcLinesPerSecond, c.lines, Double(c.bytes) / 1e6))
            }
            print("cores: \(r.cores) (each figure is one thread)")
            if json {
                // A case that was not run, or not measured, is null rather than a made-up number.
                func number(_ v: Double?) -> String { v.map { $0.isFinite ? String(format: "%.0f", $0) : "null" } ?? "null" }
                func rate(_ name: String) -> String { number(r.cases.first { $0.name == name }?.parseLinesPerSecond) }
                func ingest(_ name: String) -> String { number(r.cases.first { $0.name == name }?.ingestLinesPerSecond) }
                let wc = r.cases.map(\.wcLinesPerSecond).reduce(0, +) / Double(max(1, r.cases.count))
                print(#"{"bench":"parse","syslog_lines_per_s":\#(rate("sshd-in-syslog")),"json_lines_per_s":\#(rate("json")),"cef_lines_per_s":\#(rate("cef")),"syslog_ingest_lines_per_s":\#(ingest("sshd-in-syslog")),"json_ingest_lines_per_s":\#(ingest("json")),"cef_ingest_lines_per_s":\#(ingest("cef")),"wc_lines_per_s":\#(number(wc)),"cores":\#(r.cores),"lines":\#(lines)}"#)
            }
        }
    }

    struct Enrich: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Enrichment: events/s on one thread with three lookups each (100k-asset table, 10k CIDR zones, GeoIP city).")
        @Option(help: "Directory for the generated tables (removed afterwards).") var dir: String = "/var/tmp/vigil-bench-enrich-\(getpid())"
        @Option(help: "Directory of MaxMind's test databases (threat intel is measured instead when absent).") var geoip: String = "../shared/data/geoip"
        @Option(help: "Events to enrich.") var events: Int = 5_000_000
        @Flag(help: "Print one JSON object on the last line.") var json = false

        func run() throws {
            var options = EnrichBenchmark.Options(directory: dir, geoipDirectory: geoip)
            options.events = events
            let r = try EnrichBenchmark(options: options, progress: { printError($0) }).run()
            print(String(format: "enrich: %.0f events/s (%d events, %.2f s, %.2f lookups/event: %@; %.0f%% hits; tables loaded in %.2f s)",
                         r.eventsPerSecond, r.events, r.seconds, r.lookupsPerEvent, r.lookups.joined(separator: ", "), 100 * r.hitRate, r.loadSeconds))
            print("cores: \(r.cores) (one thread)")
            if json {
                let names = r.lookups.map { "\"\($0)\"" }.joined(separator: ",")
                print(String(format: #"{"bench":"enrich","events_per_s":%.0f,"lookups_per_event":%.2f,"cores":%d,"events":%d,"hit_rate":%.3f,"load_s":%.3f,"lookups":[%@]}"#,
                             r.eventsPerSecond, r.lookupsPerEvent, r.cores, r.events, r.hitRate, r.loadSeconds, names))
            }
        }
    }
}
