import Testing
@testable import VigilKafka

@Suite struct KafkaLibraryTests {
    @Test func libraryLoads() { #expect(!Kafka.libraryVersion.isEmpty) }
}
