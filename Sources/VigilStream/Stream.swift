/// The stream stage: partition-parallel workers, event-time windows with watermarks, keyed state
/// and checkpoints.
public enum VigilStream {}
