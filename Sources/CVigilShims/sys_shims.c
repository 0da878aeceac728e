#define _GNU_SOURCE
#include <fcntl.h>
#include "sys_shims.h"

int vigil_start_writeback(int fd, int64_t offset, int64_t length) {
#if defined(__linux__)
    return sync_file_range(fd, (off_t)offset, (off_t)length, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd; (void)offset; (void)length;
    return 0;
#endif
}

#if defined(__linux__)
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <string.h>
#include <unistd.h>

int vigil_drop_capabilities(void) {
    struct __user_cap_header_struct header;
    struct __user_cap_data_struct data[2];
    memset(&header, 0, sizeof header);
    memset(data, 0, sizeof data);
    header.version = _LINUX_CAPABILITY_VERSION_3;
    header.pid = 0;
    return (int)syscall(SYS_capset, &header, data);
}

int vigil_no_new_privileges(void) {
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

int vigil_set_thread_name(const char *name) {
    return prctl(PR_SET_NAME, name, 0, 0, 0);
}
#else
int vigil_drop_capabilities(void) { return 0; }
int vigil_no_new_privileges(void) { return 0; }
int vigil_set_thread_name(const char *name) { (void)name; return 0; }
#endif

#if defined(__GLIBC__)
#include <malloc.h>
int vigil_set_malloc_thresholds(int64_t mmap_threshold, int64_t trim_threshold) {
    int a = mallopt(M_MMAP_THRESHOLD, (int)mmap_threshold);
    int b = mallopt(M_TRIM_THRESHOLD, (int)trim_threshold);
    return (a == 1 && b == 1) ? 0 : -1;
}
#else
int vigil_set_malloc_thresholds(int64_t mmap_threshold, int64_t trim_threshold) {
    (void)mmap_threshold; (void)trim_threshold;
    return -1;
}
#endif
