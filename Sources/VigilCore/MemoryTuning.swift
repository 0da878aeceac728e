import CVigilShims

/// Process-wide allocator settings for long-running, allocation-heavy commands.
public enum MemoryTuning {
    /// Keeps memory that Vigil frees for reuse instead of handing it back to the kernel at once.
    ///
    /// glibc serves large requests (128 KiB and up, raised dynamically) with fresh `mmap`s and
    /// returns freed heap tops to the kernel; each reuse then faults its pages in again, zeroed
    /// by the kernel. The indexer and the stream stage allocate and free buffers of a few
    /// megabytes per block and batch, so that zeroing showed up as several percent of the
    /// indexer's CPU. A fixed 32 MiB threshold (glibc's maximum) for `mmap` and a 512 MiB threshold for trimming
    /// keep those buffers in the process; memory above the threshold is still returned.
    public static func keepFreedMemory() {
        _ = vigil_set_malloc_thresholds(32 << 20, 512 << 20)
    }
}
