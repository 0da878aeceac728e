#ifndef VIGIL_SYS_SHIMS_H
#define VIGIL_SYS_SHIMS_H
#include <stdint.h>

/// sync_file_range(fd, offset, length, SYNC_FILE_RANGE_WRITE): starts writeback without waiting.
/// Returns 0 or -1 with errno set; a no-op returning 0 where the call does not exist.
int vigil_start_writeback(int fd, int64_t offset, int64_t length);

#endif
