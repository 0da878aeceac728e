#ifndef VIGIL_SYS_SHIMS_H
#define VIGIL_SYS_SHIMS_H
#include <stdint.h>

/// sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE): starts writeback without waiting.
/// Returns 0 or -1 with errno set; a no-op returning 0 where the call does not exist.
int vigil_start_writeback(int fd, int64_t offset, int64_t length);

/// Clears every capability of the calling thread's process (effective, permitted, inheritable) with
/// capset(2); used once a capture handle is open. Returns 0 or -1 with errno set; a no-op returning
/// 0 where capabilities do not exist.
int vigil_drop_capabilities(void);

/// Sets PR_SET_NO_NEW_PRIVS so that nothing executed later can gain privileges. 0 or -1.
int vigil_no_new_privileges(void);

/// Names the calling thread (prctl PR_SET_NAME; the kernel keeps 15 bytes). 0 or -1; a no-op
/// returning 0 elsewhere.
int vigil_set_thread_name(const char *name);

/// Sets glibc's mmap and trim thresholds (mallopt M_MMAP_THRESHOLD, M_TRIM_THRESHOLD) in bytes.
/// 0 when both were set; -1 where one was refused or glibc's mallopt does not exist.
int vigil_set_malloc_thresholds(int64_t mmap_threshold, int64_t trim_threshold);

/// Hints the CPU to bring the cache line at `address` in for reading (no fault if unmapped).
static inline void vigil_prefetch(const void *address) { __builtin_prefetch(address, 0, 3); }

#endif
