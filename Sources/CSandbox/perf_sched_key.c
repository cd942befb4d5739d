/* A per-task perf event that does nothing: while one exists, the kernel's perf scheduler hooks stay on.
 *
 * CRIU stops each restored task at the restorer's exit with a hardware breakpoint set over ptrace, which is a
 * per-task perf event. When the first such event of the machine appears, the kernel turns its perf scheduler hooks
 * on and waits for an RCU grace period (6-17 ms measured here) before going on; a second after the last one goes,
 * it turns them off. perf_event_open has no glibc wrapper, hence this shim. */
#define _GNU_SOURCE
#include "sandbox_spawn.h"
#include <linux/perf_event.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int sh_perf_task_event_open(void) {
    struct perf_event_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.type = PERF_TYPE_SOFTWARE;
    attr.size = sizeof attr;
    attr.config = PERF_COUNT_SW_DUMMY;
    attr.disabled = 1;
    attr.exclude_kernel = 1;
    attr.exclude_hv = 1;
    return (int)syscall(SYS_perf_event_open, &attr, 0, -1, -1, PERF_FLAG_FD_CLOEXEC);
}
