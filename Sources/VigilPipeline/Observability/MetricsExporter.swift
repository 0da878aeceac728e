import Metrics
import Foundation
import Prometheus
import Synchronization

/// The values one collector reports at a scrape: counters (cumulative totals the collector reads
/// from the component that counts) and gauges (current values), each a name with labels.
///
/// Names are `vigil_*`; a name has one help text and one type everywhere.
public struct MetricsSample: Sendable {
    struct Key: Hashable, Sendable {
        var name: String
        var labels: [String]  // name, value, name, value…
    }

    struct Value: Sendable {
        var help: String
        var value: Double
    }

    var counters: [Key: Value] = [:]
    var gauges: [Key: Value] = [:]

    public init() {}

    /// Reports the running total of a counter (never decreasing while its source lives).
    public mutating func counter(_ name: String, _ help: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Int64) {
        let key = Key(name: name, labels: labels.flatMap { [$0.key, $0.value] })
        counters[key, default: Value(help: help, value: 0)].value += Double(value)
    }

    /// Reports the current value of a gauge.
    public mutating func gauge(_ name: String, _ help: String, _ labels: KeyValuePairs<String, String> = [:], _ value: Double) {
        gauges[Key(name: name, labels: labels.flatMap { [$0.key, $0.value] })] = Value(help: help, value: value)
    }

    /// The value reported for a counter or gauge (tests, `vigil status`).
    public func value(_ name: String, _ labels: KeyValuePairs<String, String> = [:]) -> Double? {
        let key = Key(name: name, labels: labels.flatMap { [$0.key, $0.value] })
        return counters[key]?.value ?? gauges[key]?.value
    }
}

/// The process's metrics: a Prometheus registry that swift-metrics reports into (bootstrapped
/// once per process), plus collectors that read the pipeline's own counters at scrape time.
///
/// Components count where they already count (atomics, per-batch totals); a collector reads
/// those totals when `/metrics` is scraped and the exporter turns them into Prometheus counters
/// and gauges. A collector that is removed leaves its last totals in the counters, so a counter
/// never goes back when a stage stops.
public final class MetricsExporter: Sendable {
    /// The one exporter of the process. Touching it bootstraps swift-metrics with
    /// `PrometheusMetricsFactory` over ``registry``.
    public static let shared = MetricsExporter()

    /// The registry `/metrics` emits; swift-metrics `Counter`s and `Gauge`s land here too.
    public let registry: PrometheusCollectorRegistry

    /// A registered collector; pass it to ``remove(_:)``.
    public struct Token: Hashable, Sendable { let id: Int }

    private struct State {
        var nextID = 0
        var collectors: [Int: @Sendable (inout MetricsSample) -> Void] = [:]
        /// Totals of removed collectors, kept so counters stay monotonic.
        var retired = MetricsSample()
        var counters: [MetricsSample.Key: (Prometheus.Counter, Double)] = [:]
        var gauges: [MetricsSample.Key: Prometheus.Gauge] = [:]
    }

    private let state = Mutex(State())

    private init() {
        registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// Adds a collector, called on every scrape (from one thread at a time, off the event loops).
    public func add(_ collector: @escaping @Sendable (inout MetricsSample) -> Void) -> Token {
        state.withLock { s in
            s.nextID += 1
            s.collectors[s.nextID] = collector
            return Token(id: s.nextID)
        }
    }

    /// Removes a collector after reading it one last time.
    public func remove(_ token: Token) {
        state.withLock { s in
            guard let collector = s.collectors.removeValue(forKey: token.id) else { return }
            var last = MetricsSample()
            collector(&last)
            for (key, value) in last.counters { s.retired.counters[key, default: MetricsSample.Value(help: value.help, value: 0)].value += value.value }
        }
    }

    /// Runs every collector and returns their values (summed per counter series).
    public func collect() -> MetricsSample {
        state.withLock { s in collect(&s) }
    }

    private func collect(_ s: inout State) -> MetricsSample {
        var sample = s.retired
        for id in s.collectors.keys.sorted() { s.collectors[id]!(&sample) }
        return sample
    }

    /// Collects, updates the registry, and appends the Prometheus text exposition to `buffer`.
    public func scrape(into buffer: inout [UInt8]) {
        state.withLock { s in
            let sample = collect(&s)
            for (key, value) in sample.counters {
                if let (counter, last) = s.counters[key] {
                    if value.value >= last {
                        counter.increment(by: value.value - last)
                    } else {
                        // The source restarted from zero (a new pipeline in this process).
                        counter.reset()
                        counter.increment(by: value.value)
                    }
                    s.counters[key] = (counter, value.value)
                } else {
                    let counter = registry.makeCounter(descriptor: Self.descriptor(key.name, value.help), labels: Self.pairs(key.labels))
                    counter.increment(by: value.value)
                    s.counters[key] = (counter, value.value)
                }
            }
            for (key, value) in sample.gauges {
                let gauge = s.gauges[key] ?? registry.makeGauge(descriptor: Self.descriptor(key.name, value.help), labels: Self.pairs(key.labels))
                gauge.set(value.value)
                s.gauges[key] = gauge
            }
            // Gauges nobody reports any more (a revoked partition, a stopped sensor) disappear.
            for (key, gauge) in s.gauges where sample.gauges[key] == nil {
                registry.unregisterGauge(gauge)
                s.gauges[key] = nil
            }
        }
        registry.emit(into: &buffer)
    }

    /// The exposition as a string (tests).
    public func scrape() -> String {
        var buffer: [UInt8] = []
        scrape(into: &buffer)
        return String(decoding: buffer, as: UTF8.self)
    }

    static func descriptor(_ name: String, _ help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
    }

    static func pairs(_ flat: [String]) -> [(String, String)] {
        stride(from: 0, to: flat.count, by: 2).map { (flat[$0], flat[$0 + 1]) }
    }
}

/// Counters of events counted where they happen (alerts by rule, late events): swift-metrics
/// `Counter`s, created once per label set and cached. Low-rate paths only.
///
/// `@unchecked Sendable`: `lock` guards the cache; swift-metrics counters are thread-safe.
public final class LabeledCounters: @unchecked Sendable {
    private let lock = NSLock()
    private let label: String
    private let dimension: String
    private var counters: [String: CoreMetrics.Counter] = [:]
    private var totals: [String: Int64] = [:]

    /// `label` is the metric name; `dimension` the label the values go under.
    public init(label: String, dimension: String) {
        _ = MetricsExporter.shared  // swift-metrics is bootstrapped before the first counter
        self.label = label
        self.dimension = dimension
    }

    public func increment(_ value: String, by n: Int64 = 1) {
        lock.withLock {
            let counter: CoreMetrics.Counter
            if let c = counters[value] {
                counter = c
            } else {
                counter = CoreMetrics.Counter(label: label, dimensions: [(dimension, value)])
                counters[value] = counter
            }
            counter.increment(by: n)
            totals[value, default: 0] += n
        }
    }

    /// What was counted, per label value (this instance only).
    public var snapshot: [String: Int64] { lock.withLock { totals } }
}
