/// Probabilistic sketches for the stream stage: HyperLogLog++ distinct counts, Bloom filters,
/// Count-Min with top-k heavy hitters, Welford running moments and reservoir samples. Every sketch
/// is a value type that serializes to bytes and merges with another of the same shape.
public enum VigilSketch {}
