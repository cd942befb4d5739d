/* Spawning the function process into its sandbox.
 *
 * The supervisor is a multi-threaded Swift process, so the child may only make async-signal-safe calls between
 * clone and exec: no malloc, no stdio, no Swift. Everything here is raw syscalls on memory prepared beforehand.
 * We use the clone syscall directly (fork semantics, no new stack) so the namespaces are created with the child,
 * and report a failed setup step with its errno over a close-on-exec pipe, as posix_spawn does.
 */
#define _GNU_SOURCE
#include "sandbox_spawn.h"

#include <errno.h>
#include <spawn.h>
#include <net/if.h>
#include <pthread.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

const char *sh_stage_name(int stage) {
    switch (stage) {
    case SH_STAGE_NONE: return "none";
    case SH_STAGE_CLONE: return "clone (creating namespaces)";
    case SH_STAGE_SETSID: return "setsid";
    case SH_STAGE_MOUNT_PRIVATE: return "making mounts private";
    case SH_STAGE_MOUNT_PROC: return "mounting /proc";
    case SH_STAGE_MOUNT_TMP: return "mounting /tmp";
    case SH_STAGE_CHDIR: return "chdir";
    case SH_STAGE_FDS: return "placing stdio descriptors";
    case SH_STAGE_SETGROUPS: return "setgroups";
    case SH_STAGE_SETGID: return "setgid";
    case SH_STAGE_SETUID: return "setuid";
    case SH_STAGE_EXEC: return "exec";
    case SH_STAGE_PIPE: return "creating the status pipe";
    case SH_STAGE_EXPOSE: return "exposing a /tmp path in the private /tmp";
    case SH_STAGE_LAYOUT: return "laying out Lambda's filesystem (read-only binds)";
    case SH_STAGE_RLIMIT: return "setting Lambda's file and process limits";
    case SH_STAGE_CGROUP: return "joining the environment's cgroup";
    case SH_STAGE_NETNS: return "joining the environment's network namespace";
    default: return "unknown";
    }
}

struct report { int stage; int error; };

static void child_fail(int fd, int stage) {
    struct report r = { stage, errno };
    ssize_t ignored = write(fd, &r, sizeof r);
    (void)ignored;
    _exit(127);
}

/* Decodes the octal escapes (\040) mountinfo uses for spaces and friends, in place. */
static void unescape(char *s) {
    char *out = s;
    while (*s) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' && s[3] <= '7') {
            *out++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
            s += 4;
        } else {
            *out++ = *s++;
        }
    }
    *out = 0;
}

/* Child-only scratch space (each child writes its own copy-on-write copy). */
static char mountinfo[1 << 18];

/* Detaches what the function must not carry into its snapshot: the host's tmpfs mounts (CRIU archives every tmpfs
 * in the namespace, and /dev/shm may hold other users' files), the host's /proc and the host's mqueue, and mounts
 * CRIU cannot dump at all, which would fail every checkpoint on a machine that has one: namespace files
 * (`ip netns add` binds one at /run/netns/NAME, container engines under /run/docker/netns) and FUSE (a desktop's
 * /run/user/UID/gvfs and /run/user/UID/doc). Lambda has none of them. */
static void detach_inherited_mounts(int keep_tmp) {
    int fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return;
    size_t used = 0;
    for (;;) {
        ssize_t n = read(fd, mountinfo + used, sizeof mountinfo - 1 - used);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        used += (size_t)n;
        if (used >= sizeof mountinfo - 1) break;
    }
    close(fd);
    mountinfo[used] = 0;

    char *line = mountinfo;
    while (line && *line) {
        char *next = strchr(line, '\n');
        if (next) *next++ = 0;
        /* fields: id parent maj:min root mountpoint options [optional...] - fstype source superoptions */
        char *fields[5] = {0};
        char *p = line;
        for (int i = 0; i < 5 && p; i++) {
            fields[i] = p;
            p = strchr(p, ' ');
            if (p) *p++ = 0;
        }
        char *sep = p ? strstr(p, " - ") : NULL;
        if (fields[4] && sep) {
            char *fstype = sep + 3;
            char *end = strchr(fstype, ' ');
            if (end) *end = 0;
            char *target = fields[4];
            unescape(target);
            int unwanted = strcmp(fstype, "tmpfs") == 0 || strcmp(fstype, "proc") == 0 ||
                           strcmp(fstype, "mqueue") == 0 || strcmp(fstype, "nsfs") == 0 ||
                           strcmp(fstype, "fuse") == 0 || strncmp(fstype, "fuse.", 5) == 0 ||
                           strcmp(fstype, "fusectl") == 0;
            if (keep_tmp && strcmp(target, "/tmp") == 0) unwanted = 0; /* source of exposed paths */
            if (unwanted && strcmp(target, "/") != 0)
                umount2(target, MNT_DETACH); /* a child of an already detached mount fails: fine */
        }
        line = next;
    }
}

/* Bind-mounts each exposed path (under /tmp) from the host's /tmp, reached through old_tmp, to the same path in
 * the fresh private /tmp, creating the mount point's folders first. Buffers are on the stack: no malloc here. */
static int expose_paths(char *const *expose, int old_tmp) {
    for (; expose && *expose; expose++) {
        const char *path = *expose;
        if (strncmp(path, "/tmp/", 5) != 0) continue;
        char target[4096], source[4200];
        size_t len = strlen(path);
        if (len >= sizeof target) { errno = ENAMETOOLONG; return -1; }
        memcpy(target, path, len + 1);
        for (size_t i = 5; i <= len; i++) { /* mkdir -p, component by component */
            if (target[i] == '/' || target[i] == 0) {
                char saved = target[i];
                target[i] = 0;
                if (mkdir(target, 0755) < 0 && errno != EEXIST) return -1;
                target[i] = saved;
            }
        }
        /* source = /proc/self/fd/<old_tmp>/<rest of path> */
        const char *prefix = "/proc/self/fd/";
        size_t at = strlen(prefix);
        memcpy(source, prefix, at);
        char digits[12];
        int n = 0, fd = old_tmp;
        do { digits[n++] = (char)('0' + fd % 10); fd /= 10; } while (fd && n < 11);
        while (n) source[at++] = digits[--n];
        memcpy(source + at, path + 4, len - 4 + 1); /* keeps the "/" after /tmp */
        if (mount(source, path, NULL, MS_BIND | MS_REC, NULL) < 0) return -1;
    }
    return 0;
}

enum { MAX_BINDS = 16 };

/* "/proc/self/fd/<fd>" into buf, without snprintf. */
static void fd_path(char *buf, int fd) {
    const char *prefix = "/proc/self/fd/";
    size_t at = strlen(prefix);
    memcpy(buf, prefix, at);
    char digits[12];
    int n = 0;
    do { digits[n++] = (char)('0' + fd % 10); fd /= 10; } while (fd && n < 11);
    while (n) buf[at++] = digits[--n];
    buf[at] = 0;
}

/* Binds each opened source read-only at its target. Sources were opened (O_PATH) before /tmp or anything else was
 * mounted over them, so a checkout under /tmp or /var still binds. */
static int bind_layout(char *const *targets, const int *fds, int count) {
    for (int i = 0; i < count; i++) {
        char source[32];
        fd_path(source, fds[i]);
        if (mount(source, targets[i], NULL, MS_BIND, NULL) < 0) return -1;
        if (mount(NULL, targets[i], NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) < 0) return -1;
    }
    return 0;
}

static void place_fds(const struct sh_spawn_config *cfg, int status_fd) {
    /* Move the sources out of the 0..2 range first, so dup2 cannot clobber one with another. */
    int src[3] = { cfg->stdin_fd, cfg->stdout_fd, cfg->stderr_fd };
    for (int i = 0; i < 3; i++) {
        int moved = fcntl(src[i], F_DUPFD_CLOEXEC, 10);
        if (moved < 0) child_fail(status_fd, SH_STAGE_FDS);
        src[i] = moved;
    }
    for (int i = 0; i < 3; i++)
        if (dup2(src[i], i) < 0) child_fail(status_fd, SH_STAGE_FDS);
    /* Close everything else but the status pipe (close-on-exec, it reports exec failures). */
    if (status_fd > 3) syscall(SYS_close_range, 3, status_fd - 1, 0);
    syscall(SYS_close_range, status_fd + 1, ~0U, 0);
}

static void child(const struct sh_spawn_config *cfg, int status_fd) {
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP) sigaction(sig, &dfl, NULL);

    if (setsid() < 0) child_fail(status_fd, SH_STAGE_SETSID);
    for (int i = 0; i < 2; i++)
        if (cfg->join_fds[i] >= 0 && write(cfg->join_fds[i], "0", 1) != 1) child_fail(status_fd, SH_STAGE_CGROUP);
    if (cfg->netns_fd > 0 && setns(cfg->netns_fd, CLONE_NEWNET) < 0) child_fail(status_fd, SH_STAGE_NETNS);

    if (cfg->namespaces & SH_NS_MOUNT) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(status_fd, SH_STAGE_MOUNT_PRIVATE);
        /* Opened before any host mount (a /tmp holding the checkout) is detached or covered. */
        int layout_fds[MAX_BINDS];
        int binds = 0;
        for (; cfg->bind_sources && cfg->bind_sources[binds]; binds++) {
            if (binds == MAX_BINDS) { errno = E2BIG; child_fail(status_fd, SH_STAGE_LAYOUT); }
            layout_fds[binds] = open(cfg->bind_sources[binds], O_PATH | O_DIRECTORY | O_CLOEXEC);
            if (layout_fds[binds] < 0) child_fail(status_fd, SH_STAGE_LAYOUT);
        }
        int exposing = cfg->expose && cfg->expose[0];
        for (int i = 0; i < binds; i++) /* a source in the host's /tmp (a checkout there) keeps that mount alive */
            if (strncmp(cfg->bind_sources[i], "/tmp/", 5) == 0) exposing = 1;
        int old_tmp = cfg->expose && cfg->expose[0] ? open("/tmp", O_PATH | O_DIRECTORY | O_CLOEXEC) : -1;
        detach_inherited_mounts(exposing);
        if (binds) {
            /* Everything the function inherits is read-only (EROFS on write), as on Lambda; /proc and /tmp are
             * mounted fresh below, writable. */
            struct mount_attr ro = { .attr_set = MOUNT_ATTR_RDONLY };
            if (syscall(SYS_mount_setattr, AT_FDCWD, "/", AT_RECURSIVE, &ro, sizeof ro) < 0)
                child_fail(status_fd, SH_STAGE_LAYOUT);
        }
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            child_fail(status_fd, SH_STAGE_MOUNT_PROC);
        if (binds) { /* through /proc/self/fd: the fresh /proc */
            if (bind_layout(cfg->bind_targets, layout_fds, binds) < 0) child_fail(status_fd, SH_STAGE_LAYOUT);
            for (int i = 0; i < binds; i++) close(layout_fds[i]);
        }
        /* mount data "size=<bytes>,mode=1777" without snprintf (not async-signal-safe) */
        char data[64] = "mode=1777,size=";
        unsigned long long bytes = cfg->tmp_bytes ? cfg->tmp_bytes : 512ULL << 20;
        char digits[24];
        int n = 0;
        do { digits[n++] = (char)('0' + bytes % 10); bytes /= 10; } while (bytes && n < 23);
        size_t at = strlen(data);
        while (n) data[at++] = digits[--n];
        data[at] = 0;
        if (cfg->tmp_mount_fd > 0) { /* the environment's own disk (EphemeralStorage), mounted by the supervisor */
            if (syscall(SYS_move_mount, cfg->tmp_mount_fd, "", AT_FDCWD, "/tmp", MOVE_MOUNT_F_EMPTY_PATH) < 0)
                child_fail(status_fd, SH_STAGE_MOUNT_TMP);
        } else if (mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, data) < 0) {
            child_fail(status_fd, SH_STAGE_MOUNT_TMP);
        }
        if (old_tmp >= 0) {
            if (expose_paths(cfg->expose, old_tmp) < 0) child_fail(status_fd, SH_STAGE_EXPOSE);
            close(old_tmp);
        }
        /* No /dev/shm: Lambda has none either (multiprocessing's semaphores fail there too), and every tmpfs in the
         * namespace costs each restore a tar of its contents (~4 ms). The host's was detached above. */
    }
    if (cfg->cwd && chdir(cfg->cwd) < 0) child_fail(status_fd, SH_STAGE_CHDIR);
    /* Lambda's quotas: 1,024 descriptors and 1,024 processes/threads (raw syscall: async-signal-safe). */
    if (cfg->max_files) {
        struct rlimit lim = { cfg->max_files, cfg->max_files };
        if (syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &lim, NULL) < 0) child_fail(status_fd, SH_STAGE_RLIMIT);
    }
    if (cfg->max_processes) {
        struct rlimit lim = { cfg->max_processes, cfg->max_processes };
        if (syscall(SYS_prlimit64, 0, RLIMIT_NPROC, &lim, NULL) < 0) child_fail(status_fd, SH_STAGE_RLIMIT);
    }
    place_fds(cfg, status_fd);
    /* Raw syscalls: glibc's setuid/setgid/setgroups broadcast to every thread the parent had (SIGSETXID) and
     * would wait forever in this single-threaded copy of it. */
    if (cfg->gid != (gid_t)-1) {
        if (syscall(SYS_setgroups, 0, NULL) < 0) child_fail(status_fd, SH_STAGE_SETGROUPS);
        if (syscall(SYS_setresgid, cfg->gid, cfg->gid, cfg->gid) < 0) child_fail(status_fd, SH_STAGE_SETGID);
    }
    if (cfg->uid != (uid_t)-1 && syscall(SYS_setresuid, cfg->uid, cfg->uid, cfg->uid) < 0)
        child_fail(status_fd, SH_STAGE_SETUID);

    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execve(cfg->path, cfg->argv, cfg->envp);
    child_fail(status_fd, SH_STAGE_EXEC);
}

struct sh_spawn_result sh_spawn(const struct sh_spawn_config *cfg) {
    struct sh_spawn_result result = { 0, SH_STAGE_NONE, 0 };
    int status[2];
    if (pipe2(status, O_CLOEXEC) < 0) {
        result.stage = SH_STAGE_PIPE;
        result.error = errno;
        return result;
    }
    unsigned long flags = SIGCHLD;
    if (cfg->namespaces & SH_NS_PID) flags |= CLONE_NEWPID;
    if (cfg->namespaces & SH_NS_MOUNT) flags |= CLONE_NEWNS;
    if (cfg->namespaces & SH_NS_IPC) flags |= CLONE_NEWIPC;
    if (cfg->namespaces & SH_NS_UTS) flags |= CLONE_NEWUTS;

    /* Block every signal across clone so no handler of the parent runs in the child before it resets them. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    long pid = syscall(SYS_clone, flags, NULL, NULL, NULL, 0);
    if (pid == 0) {
        close(status[0]);
        child(cfg, status[1]);
    }
    int clone_errno = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    close(status[1]);
    if (pid < 0) {
        close(status[0]);
        result.stage = SH_STAGE_CLONE;
        result.error = clone_errno;
        return result;
    }

    struct report r;
    ssize_t n;
    do { n = read(status[0], &r, sizeof r); } while (n < 0 && errno == EINTR);
    close(status[0]);
    if (n == (ssize_t)sizeof r) {
        int st;
        while (waitpid((pid_t)pid, &st, 0) < 0 && errno == EINTR) {}
        result.stage = r.stage;
        result.error = r.error;
        return result;
    }
    result.pid = (pid_t)pid;
    return result;
}

pid_t sh_gettid(void) { return (pid_t)syscall(SYS_gettid); }

int sh_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

int sh_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int sh_accept_cloexec(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC); }

pid_t sh_peer_pid(int fd) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return -1;
    return cred.pid;
}

int sh_cloexec_from(int first) {
    return (int)syscall(SYS_close_range, (unsigned)first, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */);
}

struct netns_job { int fd; int error; };

static void *netns_thread(void *arg) {
    struct netns_job *job = arg;
    job->fd = -1;
    if (unshare(CLONE_NEWNET) < 0) { job->error = errno; return NULL; }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) { job->error = errno; return NULL; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) { job->error = errno; close(sock); return NULL; }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) { job->error = errno; close(sock); return NULL; }
    close(sock);
    job->fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (job->fd < 0) job->error = errno;
    return NULL;
}

int sh_netns_create(void) {
    struct netns_job job = { -1, 0 };
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, netns_thread, &job);
    if (rc != 0) { errno = rc; return -1; }
    pthread_join(thread, NULL);
    if (job.fd < 0) errno = job.error;
    return job.fd;
}

int sh_spawn_actions_closefrom(void *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, from);
}
