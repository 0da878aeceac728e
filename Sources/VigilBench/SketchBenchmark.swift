import Foundation
import VigilSketch

/// `vigil bench sketch`: HyperLogLog++ update cost and accuracy (100 seeds at 10^3…10^7 distinct
/// values), Bloom filter insert/lookup cost and measured false-positive rate, Count-Min update
/// cost; next to Apache DataSketches' HLL (Python bindings) on the same distinct counts, in the
/// same run.
public struct SketchBenchmark {
    public struct Options: Sendable {
        /// HLL precision p (DataSketches lgK is the same).
        public var precision = 14
        /// Seeds per distinct count for Vigil's accuracy sweep.
        public var seeds = 100
        /// Seeds per distinct count for DataSketches' (a Python loop: slow).
        public var peerSeeds = 10
        /// The sweep covers 10^3 … 10^maxExponent distinct values.
        public var maxExponent = 7
        /// Operations per timing run.
        public var operations = 4_000_000
        /// Each timing is the best of this many runs.
        public var repeats = 3
        /// The Bloom filter's design: n items at false-positive rate p.
        public var bloomItems = 1_000_000
        public var bloomFalsePositiveRate = 0.01
        public var skipPeer = false
        public var python = "python3"
        public init() {}
    }

    /// One distinct count's accuracy over the seeds.
    public struct Accuracy: Sendable {
        public var distinct: Int
        public var seeds: Int
        public var maxRelativeError: Double
        public var rmsRelativeError: Double
        /// Seeds whose error exceeded 3σ (σ = 1.04/√m).
        public var beyondThreeSigma: Int
    }

    /// What the DataSketches run measured, or why it did not run.
    public struct Peer: Sendable {
        public var updateNanoseconds: Double?
        /// The cost of the Python loop alone (a call of a trivial builtin per value), for context.
        public var loopNanoseconds: Double?
        public var accuracy: [Accuracy] = []
        public var method: String = ""
        public var note: String?
        public var maxRelativeError: Double? { accuracy.isEmpty ? nil : accuracy.map(\.maxRelativeError).max() }
    }

    public struct Result: Sendable {
        public var precision: Int
        public var hllInsertHashNanoseconds: Double
        /// Hash (12-byte values) + insert.
        public var hllHashInsertNanoseconds: Double
        /// Hash of a UInt64 + insert.
        public var hllIntegerInsertNanoseconds: Double
        public var hllAccuracy: [Accuracy]
        public var sigma: Double
        public var bloomInsertNanoseconds: Double
        /// Half present, half absent keys.
        public var bloomLookupNanoseconds: Double
        public var bloomLookupAbsentNanoseconds: Double
        public var bloomLookupPresentNanoseconds: Double
        public var bloomFalsePositiveRate: Double
        public var bloomTargetFalsePositiveRate: Double
        public var bloomBits: Int
        public var bloomHashes: Int
        public var countMinUpdateNanoseconds: Double
        public var countMinWidth: Int
        public var countMinDepth: Int
        public var heavyHittersUpdateNanoseconds: Double
        public var peer: Peer
        public var cores: Int

        public var hllMaxRelativeError: Double { hllAccuracy.map(\.maxRelativeError).max() ?? .nan }
        public var hllWithinThreeSigma: Bool { hllAccuracy.allSatisfy { $0.beyondThreeSigma == 0 } }
    }

    let options: Options
    let progress: (String) -> Void

    public init(options: Options, progress: @escaping (String) -> Void) {
        self.options = options
        self.progress = progress
    }

    public func run() throws -> Result {
        let p = options.precision, ops = options.operations
        progress("HyperLogLog p=\(p): insert(hash:) and hash+insert…")
        var random = SketchRandom(seed: 1)
        let hashes = (0..<ops).map { _ in random.next() }
        // Each figure is the best of `repeats` runs: the machine may be shared, and the best run is
        // the one least disturbed.
        let repeats = options.repeats
        let insertHash = Self.best(repeats) { Self.timeHLLInsert(precision: p, hashes: hashes) }
        // 12-byte values (say, an IPv4 address, a port and a counter) laid end to end.
        var values = [UInt8](repeating: 0, count: ops * 12)
        for i in 0..<ops {
            let v = UInt64(i) &* 0x9E37_79B9
            for b in 0..<8 { values[i * 12 + b] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(b))) }
            values[i * 12 + 8] = UInt8(truncatingIfNeeded: i >> 3)
            values[i * 12 + 11] = 0x2A
        }
        let hashInsert = Self.best(repeats) { Self.timeHLLHashInsert(precision: p, values: values, width: 12) }
        let integerInsert = Self.best(repeats) { Self.timeHLLIntegerInsert(precision: p, count: ops) }

        var accuracy: [Accuracy] = []
        let sigma = HyperLogLog.standardError(precision: p)
        for e in 3...max(3, options.maxExponent) {
            let n = Self.power10(e)
            progress("HyperLogLog accuracy: \(n) distinct × \(options.seeds) seeds…")
            var errors: [Double] = []
            for s in 0..<options.seeds {
                var hll = HyperLogLog(precision: p, seed: UInt64(s) &* 0x1_0000_0001 &+ 17)
                for i in 0..<UInt64(n) { hll.insert(i) }
                errors.append((hll.estimate() - Double(n)) / Double(n))
            }
            accuracy.append(Self.summarize(errors, distinct: n, sigma: sigma))
        }

        progress("Bloom filter n=\(options.bloomItems) p=\(options.bloomFalsePositiveRate)…")
        var bloom = Self.timeBloom(items: options.bloomItems, rate: options.bloomFalsePositiveRate)
        for _ in 1..<max(1, repeats) {
            let again = Self.timeBloom(items: options.bloomItems, rate: options.bloomFalsePositiveRate)
            bloom.insert = min(bloom.insert, again.insert)
            bloom.lookup = min(bloom.lookup, again.lookup)
            bloom.absent = min(bloom.absent, again.absent)
            bloom.present = min(bloom.present, again.present)
        }

        progress("Count-Min ε=0.001 δ=0.01 and top-100 heavy hitters…")
        var cms = CountMinSketch(epsilon: 0.001, delta: 0.01)
        let cmsSeconds = Self.best(repeats) { cms = CountMinSketch(epsilon: 0.001, delta: 0.01); return Self.timeCountMin(&cms, hashes: hashes) }
        let hhSeconds = Self.best(repeats) { Self.timeHeavyHitters(values: values, count: min(ops, 1_000_000)) }

        var peer = Peer()
        if options.skipPeer {
            peer.note = "skipped (--no-peer)"
        } else {
            progress("Apache DataSketches HLL (Python), lgK=\(p), \(options.peerSeeds) seeds…")
            peer = runPeer(sigma: sigma)
        }
        return Result(precision: p, hllInsertHashNanoseconds: insertHash * 1e9 / Double(ops),
                      hllHashInsertNanoseconds: hashInsert * 1e9 / Double(ops),
                      hllIntegerInsertNanoseconds: integerInsert * 1e9 / Double(ops),
                      hllAccuracy: accuracy, sigma: sigma,
                      bloomInsertNanoseconds: bloom.insert, bloomLookupNanoseconds: bloom.lookup,
                      bloomLookupAbsentNanoseconds: bloom.absent, bloomLookupPresentNanoseconds: bloom.present,
                      bloomFalsePositiveRate: bloom.fpr, bloomTargetFalsePositiveRate: options.bloomFalsePositiveRate,
                      bloomBits: bloom.bits, bloomHashes: bloom.k,
                      countMinUpdateNanoseconds: cmsSeconds * 1e9 / Double(ops), countMinWidth: cms.width, countMinDepth: cms.depth,
                      heavyHittersUpdateNanoseconds: hhSeconds * 1e9 / Double(min(ops, 1_000_000)),
                      peer: peer, cores: ProcessInfo.processInfo.activeProcessorCount)
    }

    static func best(_ repeats: Int, _ run: () -> Double) -> Double {
        (0..<max(1, repeats)).map { _ in run() }.min() ?? .nan
    }

    static func power10(_ e: Int) -> Int { (0..<e).reduce(1) { r, _ in r * 10 } }

    static func summarize(_ errors: [Double], distinct: Int, sigma: Double) -> Accuracy {
        Accuracy(distinct: distinct, seeds: errors.count, maxRelativeError: errors.map(abs).max() ?? .nan,
                 rmsRelativeError: (errors.map { $0 * $0 }.reduce(0, +) / Double(max(1, errors.count))).squareRoot(),
                 beyondThreeSigma: errors.filter { abs($0) > 3 * sigma }.count)
    }

    // Each timing is its own non-inlined function over a dense sketch, and its result is used
    // (printed to nowhere) so the work cannot be optimized away.

    @inline(never)
    static func timeHLLInsert(precision: Int, hashes: [UInt64]) -> Double {
        var hll = HyperLogLog(precision: precision, sparse: false)
        let t = BenchClock.now()
        for h in hashes { hll.insert(hash: h) }
        let s = BenchClock.now() - t
        blackHole(hll.estimate())
        return s
    }

    @inline(never)
    static func timeHLLHashInsert(precision: Int, values: [UInt8], width: Int) -> Double {
        var hll = HyperLogLog(precision: precision, sparse: false)
        let n = values.count / width
        let t = BenchClock.now()
        values.withUnsafeBytes { raw in
            for i in 0..<n { hll.insert(UnsafeRawBufferPointer(rebasing: raw[(i * width)..<(i * width + width)])) }
        }
        let s = BenchClock.now() - t
        blackHole(hll.estimate())
        return s
    }

    @inline(never)
    static func timeHLLIntegerInsert(precision: Int, count: Int) -> Double {
        var hll = HyperLogLog(precision: precision, sparse: false)
        let t = BenchClock.now()
        for i in 0..<UInt64(count) { hll.insert(i) }
        let s = BenchClock.now() - t
        blackHole(hll.estimate())
        return s
    }

    @inline(never)
    static func timeBloom(items: Int, rate: Double) -> (insert: Double, lookup: Double, absent: Double, present: Double, fpr: Double, bits: Int, k: Int) {
        var filter = BloomFilter(expectedItems: items, falsePositiveRate: rate)
        let hasher = filter.hasher
        let present = (0..<UInt64(items)).map { hasher.hash($0) }
        let absent = (0..<UInt64(items)).map { hasher.hash($0 | 1 << 40) }
        var mixed: [UInt64] = []
        mixed.reserveCapacity(items)
        var r = SketchRandom(seed: 3)
        for i in 0..<items { mixed.append(r.next(below: 2) == 0 ? present[i] : absent[i]) }
        let t = BenchClock.now()
        for h in present { filter.insert(hash: h) }
        let insert = BenchClock.now() - t
        func lookups(_ keys: [UInt64]) -> (Double, Int) {
            var hits = 0
            let t = BenchClock.now()
            for h in keys where filter.mayContain(hash: h) { hits += 1 }
            return (BenchClock.now() - t, hits)
        }
        _ = lookups(mixed) // warm
        // Half present, half absent in a random order (so the lookup's last branch is not predictable).
        let (mixedSeconds, _) = lookups(mixed)
        let (absentSeconds, falsePositives) = lookups(absent)
        let (presentSeconds, found) = lookups(present)
        precondition(found == items, "Bloom filter false negative")
        let n = Double(items)
        return (insert * 1e9 / n, mixedSeconds * 1e9 / n, absentSeconds * 1e9 / n, presentSeconds * 1e9 / n,
                Double(falsePositives) / n, filter.bitCount, filter.hashCount)
    }

    @inline(never)
    static func timeCountMin(_ cms: inout CountMinSketch, hashes: [UInt64]) -> Double {
        let t = BenchClock.now()
        for h in hashes { cms.add(hash: h) }
        let s = BenchClock.now() - t
        blackHole(Double(cms.estimate(hash: 1)))
        return s
    }

    @inline(never)
    static func timeHeavyHitters(values: [UInt8], count: Int) -> Double {
        var hh = HeavyHitters(capacity: 100, epsilon: 0.001, delta: 0.01)
        let t = BenchClock.now()
        values.withUnsafeBytes { raw in
            for i in 0..<count {
                // Zipf-ish: keys repeat with a skew (value i & (i >> 8 | 0xFF)).
                let j = i & (i >> 8 | 0xFF)
                hh.add(UnsafeRawBufferPointer(rebasing: raw[(j * 12)..<(j * 12 + 12)]))
            }
        }
        let s = BenchClock.now() - t
        blackHole(Double(hh.count))
        return s
    }

    // MARK: The peer

    /// Runs the DataSketches script; installs the package with pip once if it is missing.
    func runPeer(sigma: Double) -> Peer {
        var peer = Peer()
        var check = PeerProcess.python(options.python, ["-c", "import datasketches"])
        if check.status != 0 {
            progress("datasketches is missing: pip install datasketches…")
            _ = PeerProcess.python(options.python, ["-m", "pip", "install", "--quiet", "datasketches"])
            check = PeerProcess.python(options.python, ["-c", "import datasketches"])
            if check.status != 0 {
                peer.note = "Python datasketches is not importable (pip install datasketches failed): " + check.output.suffix(200)
                return peer
            }
        }
        let exponents = (3...max(3, options.maxExponent)).map(String.init).joined(separator: ",")
        let run = PeerProcess.python(options.python, ["-c", Self.peerScript, String(options.precision), exponents, String(options.peerSeeds),
                                               String(min(options.operations, 2_000_000))])
        guard run.status == 0, let line = run.output.split(separator: "\n").last,
              let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            peer.note = "the DataSketches script failed (status \(run.status)): " + run.output.suffix(300)
            return peer
        }
        peer.updateNanoseconds = object["update_ns"] as? Double
        peer.loopNanoseconds = object["loop_ns"] as? Double
        peer.method = object["method"] as? String ?? ""
        if let errors = object["errors"] as? [String: [Double]] {
            for (key, list) in errors.sorted(by: { Int($0.key) ?? 0 < Int($1.key) ?? 0 }) {
                peer.accuracy.append(Self.summarize(list, distinct: Int(key) ?? 0, sigma: sigma))
            }
        }
        return peer
    }

    /// argv: lgK, exponents (comma-separated), seeds, timing operations. Prints one JSON line.
    static let peerScript = #"""
import sys, time, json
from datasketches import hll_sketch, tgt_hll_type
lg_k, exps, seeds, ops = int(sys.argv[1]), [int(e) for e in sys.argv[2].split(",")], int(sys.argv[3]), int(sys.argv[4])
# Speed: hll_sketch.update takes one value (no array overload in the Python bindings), so the
# fastest path is a tight loop over a range with the bound method; the loop's own cost is measured
# with a trivial builtin call for context.
sk = hll_sketch(lg_k, tgt_hll_type.HLL_8)
for i in range(200000): sk.update(i)
sk = hll_sketch(lg_k, tgt_hll_type.HLL_8)
u = sk.update
t = time.perf_counter()
for i in range(ops): u(i)
update_ns = (time.perf_counter() - t) * 1e9 / ops
f = abs
t = time.perf_counter()
for i in range(ops): f(i)
loop_ns = (time.perf_counter() - t) * 1e9 / ops
errors = {}
for e in exps:
    n = 10 ** e
    errs = []
    for s in range(seeds):
        sk = hll_sketch(lg_k, tgt_hll_type.HLL_8)
        u = sk.update
        base = (s + 1) << 40
        for i in range(base, base + n): u(i)
        errs.append((sk.get_estimate() - n) / n)
    errors[str(n)] = errs
print(json.dumps({"update_ns": update_ns, "loop_ns": loop_ns, "errors": errors,
                  "method": "HLL_8, lgK=%d, Python loop of sk.update(int) over a range (bound method); the Python bindings have no array update" % lg_k}))
"""#

}

/// Keeps a value alive so the optimizer cannot drop the work that produced it.
@inline(never)
func blackHole(_ x: Double) {
    if x.isNaN && x.sign == .minus && x.bitPattern == 1 { print(x) }
}
