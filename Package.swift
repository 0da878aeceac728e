// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Vigil",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vigil", targets: ["VigilCLI"]),
        .library(name: "VigilCore", targets: ["VigilCore"]),
        .library(name: "VigilBroker", targets: ["VigilBroker"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.2.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        // Our own small C: hardware CRC32C (SSE4.2) with a portable fallback, and shims for
        // Linux calls Swift's Glibc module does not import (sync_file_range).
        .target(name: "CVigilShims", cSettings: [.unsafeFlags(["-O3"])]),
        // Event model, values, codecs, checksums. No I/O, no heavy dependencies.
        .target(name: "VigilCore", dependencies: ["CVigilShims"]),
        // The embedded partitioned, durable segment log and consumer groups.
        .target(name: "VigilBroker", dependencies: ["VigilCore", "CVigilShims"]),
        // Strict YAML reading with file:line:column errors, shared by every config and rule loader.
        .target(name: "VigilYAML", dependencies: [.product(name: "Yams", package: "Yams")]),
        // Parsers driven by parsers/*.yaml: raw lines → normalized events. Pure: no I/O but loading configs.
        .target(name: "VigilParsers", dependencies: ["VigilCore", "VigilYAML"]),
        // OpenSSL from Debian's libssl-dev (TLS syslog; MD5 for JA3 later). Imported only by its wrappers.
        .systemLibrary(name: "COpenSSL", pkgConfig: "openssl", providers: [.apt(["libssl-dev"])]),
        // libpcap from Debian's libpcap-dev (live capture, pcap/pcapng files). Imported only by VigilCapture.
        .systemLibrary(name: "CPcap", providers: [.apt(["libpcap-dev"])]),
        // Packet sources: the libpcap handle (live or file), the capture thread, privilege drop.
        .target(name: "VigilCapture", dependencies: ["VigilCore", "CPcap", "CVigilShims"]),
        // Packets → records over raw bytes, no I/O: L2–L4 decoding, fragments, flows, DNS/HTTP/TLS/SSH
        // metadata. COpenSSL only for MD5 (JA3/JA3S).
        .target(name: "VigilDecode", dependencies: ["VigilCore", "COpenSSL"]),
        // Log sensors: syslog listeners, file tailing, stdin; feeding parsers into the broker.
        .target(name: "VigilLogs", dependencies: [
            "VigilCore", "VigilParsers", "VigilBroker", "COpenSSL",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        // Probabilistic sketches (HyperLogLog++, Bloom, Count-Min with top-k, Welford, reservoir):
        // pure Swift value types, serializable and mergeable; no dependencies.
        .target(name: "VigilSketch"),
        // libmaxminddb from Debian's libmaxminddb-dev (GeoIP and ASN). Imported only by VigilEnrich.
        .systemLibrary(name: "CMaxMindDB", pkgConfig: "libmaxminddb", providers: [.apt(["libmaxminddb-dev"])]),
        // Enrichment: reference and changelog tables, network zones, GeoIP/ASN, threat-intel sets.
        .target(name: "VigilEnrich", dependencies: ["VigilCore", "VigilYAML", "VigilSketch", "VigilBroker", "CMaxMindDB"]),
        // The stream stage: workers per partition set, event-time windows, watermarks, keyed state,
        // checkpoints.
        .target(name: "VigilStream", dependencies: ["VigilCore", "VigilBroker", "VigilSketch", "VigilEnrich", "VigilYAML"]),
        // Detection rules: rule files and Sigma → compiled matchers and aggregations; suppression;
        // scoring; the linear-time regex engine.
        .target(name: "VigilRules", dependencies: ["VigilCore", "VigilYAML", "VigilSketch", "VigilStream"]),
        // The alert index: SQLite through GRDB (WAL, migrations, FTS5), the indexer that consumes the
        // alerts topic exactly once, alert queries, and the read-only HTTP API (NIOHTTP1).
        // zstd from Debian's libzstd-dev (the block layout's compressed bodies). Imported only by VigilIndex.
        .systemLibrary(name: "CZstd", pkgConfig: "libzstd", providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CLZ4", pkgConfig: "liblz4", providers: [.apt(["liblz4-dev"])]),
        .target(name: "VigilIndex", dependencies: [
            "VigilCore", "VigilBroker", "VigilYAML", "CZstd", "CLZ4", "CVigilShims",
            .product(name: "GRDB", package: "GRDB.swift"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ]),
        // librdkafka from Debian's librdkafka-dev (headers 2.0.2; any ABI-compatible newer library at run time).
        .systemLibrary(name: "CRdKafka", pkgConfig: "rdkafka", providers: [.apt(["librdkafka-dev"])]),
        // Kafka as the distributed broker: producers, consumer groups with rebalance hooks, admin.
        .target(name: "VigilKafka", dependencies: ["VigilCore", "VigilBroker", "CRdKafka"]),
        // Configuration, stage services and the `vigil run` pipeline.
        .target(name: "VigilPipeline", dependencies: ["VigilCore", "VigilBroker", "VigilYAML", "VigilParsers", "VigilLogs",
                                                    "VigilCapture", "VigilDecode", "VigilEnrich", "VigilStream", "VigilRules", "VigilIndex", "VigilKafka",
                                                    .product(name: "Logging", package: "swift-log"),
                                                    .product(name: "Metrics", package: "swift-metrics"),
                                                    .product(name: "Prometheus", package: "swift-prometheus"),
                                                    .product(name: "NIOCore", package: "swift-nio"),
                                                    .product(name: "NIOPosix", package: "swift-nio"),
                                                    .product(name: "NIOHTTP1", package: "swift-nio")]),
        // `vigil bench NAME`: each benchmark builds its input and runs its peer in the same run.
        .target(name: "VigilBench", dependencies: ["VigilCore", "VigilBroker", "VigilParsers", "VigilLogs", "VigilCapture", "VigilDecode",
                                                 "VigilSketch", "VigilEnrich", "VigilStream", "VigilRules", "VigilIndex", "VigilKafka"]),
        // The `vigil` executable: argument parsing and output only.
        .executableTarget(name: "VigilCLI", dependencies: [
            "VigilCore", "VigilBroker", "VigilPipeline", "VigilBench", "VigilParsers", "VigilLogs", "VigilCapture", "VigilDecode",
            "VigilEnrich", "VigilStream", "VigilRules", "VigilIndex", "VigilKafka",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .target(name: "VigilTestSupport", dependencies: ["VigilCore", "VigilBroker"], path: "Tests/VigilTestSupport"),
        .testTarget(name: "VigilCoreTests", dependencies: ["VigilCore", "VigilTestSupport"]),
        .testTarget(name: "VigilBrokerTests", dependencies: ["VigilBroker", "VigilTestSupport"]),
        .testTarget(name: "VigilParsersTests", dependencies: ["VigilParsers", "VigilTestSupport"]),
        .testTarget(name: "VigilCaptureTests", dependencies: ["VigilCapture", "VigilTestSupport"]),
        .testTarget(name: "VigilDecodeTests", dependencies: ["VigilDecode", "VigilTestSupport"]),
        .testTarget(name: "VigilSketchTests", dependencies: ["VigilSketch", "VigilTestSupport"]),
        .testTarget(name: "VigilEnrichTests", dependencies: ["VigilEnrich", "VigilBroker", "VigilTestSupport"]),
        .testTarget(name: "VigilRulesTests", dependencies: ["VigilRules", "VigilYAML", "VigilStream", "VigilBroker", "VigilCore", "VigilTestSupport"]),
        .testTarget(name: "VigilIndexTests", dependencies: ["VigilIndex", "VigilBroker", "VigilCore", "VigilTestSupport",
                                                      .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "VigilKafkaTests", dependencies: ["VigilKafka", "VigilBroker", "VigilCore", "VigilTestSupport"]),
        .testTarget(name: "VigilStreamTests", dependencies: ["VigilStream", "VigilBroker", "VigilYAML", "VigilTestSupport"]),
        .testTarget(name: "VigilLogsTests", dependencies: ["VigilLogs", "VigilParsers", "VigilBroker", "VigilTestSupport"]),
        .testTarget(name: "VigilPipelineTests", dependencies: ["VigilPipeline", "VigilYAML", "VigilStream", "VigilTestSupport"],
                    resources: [.copy("Fixtures")]),
        // A child process for the broker crash test: appends keyed records, acknowledging in batches.
        .executableTarget(name: "VigilCrashWriter", dependencies: ["VigilBroker"], path: "Tests/VigilCrashWriter"),
        // libFuzzer harness (scripts/fuzz.sh builds it with -sanitize=fuzzer,address).
        .executableTarget(name: "VigilFuzz", dependencies: ["VigilCore", "VigilParsers", "VigilDecode", "VigilSketch", "VigilEnrich", "VigilRules"], path: "Tests/VigilFuzz",
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])]),
        .testTarget(name: "VigilIntegrationTests", dependencies: ["VigilBroker", "VigilTestSupport", "VigilCLI", "VigilCrashWriter"]),
    ],
    swiftLanguageModes: [.v6]
)
