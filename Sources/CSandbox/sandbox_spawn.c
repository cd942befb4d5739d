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
#include <netinet/in.h>
#include <arpa/inet.h>
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
#include <sys/un.h>
#include <stddef.h>
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
    case SH_STAGE_ROOT: return "entering the environment's root (pivot_root)";
    case SH_STAGE_LAYOUT: return "laying out Lambda's filesystem (read-only binds)";
    case SH_STAGE_UTS: return "setting the environment's hostname";
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

enum { MAX_BINDS = 24 };

/* Makes the environment's mount namespace hold nothing but its own mounts: a clone of `root` (a host folder) as
 * "/", read-only, with each bind source cloned read-only onto its target inside it, a fresh /proc and the /tmp disk;
 * then pivots into it and drops the host's tree. What the host mounts or unmounts later never reaches this
 * namespace, so CRIU's record of it (and the snapshot) depends on nothing but these mounts.
 * Sources are cloned (open_tree) before anything moves, so a checkout under /tmp or /run still binds. */
static int enter_root(const struct sh_spawn_config *cfg, int status_fd) {
    int trees[MAX_BINDS];
    int binds = 0;
    for (; cfg->bind_sources && cfg->bind_sources[binds]; binds++) {
        if (binds == MAX_BINDS) { errno = E2BIG; child_fail(status_fd, SH_STAGE_LAYOUT); }
        trees[binds] = (int)syscall(SYS_open_tree, AT_FDCWD, cfg->bind_sources[binds], OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
        if (trees[binds] < 0) child_fail(status_fd, SH_STAGE_LAYOUT);
        /* Read-only, no set-uid, no devices: what the function gets from outside its root. */
        struct mount_attr attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV };
        if (syscall(SYS_mount_setattr, trees[binds], "", AT_EMPTY_PATH, &attr, sizeof attr) < 0)
            child_fail(status_fd, SH_STAGE_LAYOUT);
    }
    int root_tree = (int)syscall(SYS_open_tree, AT_FDCWD, cfg->root, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (root_tree < 0) child_fail(status_fd, SH_STAGE_ROOT);
    /* The root keeps its device nodes (/dev/null and friends live in it) even where the host mounts /run nodev. */
    struct mount_attr root_attr = { .attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID, .attr_clr = MOUNT_ATTR_NODEV };
    if (syscall(SYS_mount_setattr, root_tree, "", AT_EMPTY_PATH, &root_attr, sizeof root_attr) < 0)
        child_fail(status_fd, SH_STAGE_ROOT);
    if (syscall(SYS_move_mount, root_tree, "", AT_FDCWD, cfg->root, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        child_fail(status_fd, SH_STAGE_ROOT);
    close(root_tree);
    int root = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC); /* the clone, now mounted there */
    if (root < 0) child_fail(status_fd, SH_STAGE_ROOT);
    for (int i = 0; i < binds; i++) {
        const char *target = cfg->bind_targets[i];
        while (*target == '/') target++;
        if (syscall(SYS_move_mount, trees[i], "", root, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
            child_fail(status_fd, SH_STAGE_LAYOUT);
        close(trees[i]);
    }
    if (cfg->tmp_mount_fd > 0) { /* the environment's own disk (EphemeralStorage), mounted by the supervisor */
        if (syscall(SYS_move_mount, cfg->tmp_mount_fd, "", root, "tmp", MOVE_MOUNT_F_EMPTY_PATH) < 0)
            child_fail(status_fd, SH_STAGE_MOUNT_TMP);
    } else {
        /* mount data "mode=1777,size=<bytes>" without snprintf (not async-signal-safe) */
        char data[64] = "mode=1777,size=";
        unsigned long long bytes = cfg->tmp_bytes ? cfg->tmp_bytes : 512ULL << 20;
        char digits[24];
        int n = 0;
        do { digits[n++] = (char)('0' + bytes % 10); bytes /= 10; } while (bytes && n < 23);
        size_t at = strlen(data);
        while (n) data[at++] = digits[--n];
        data[at] = 0;
        if (fchdir(root) < 0 || mount("tmpfs", "tmp", "tmpfs", MS_NOSUID | MS_NODEV, data) < 0)
            child_fail(status_fd, SH_STAGE_MOUNT_TMP);
    }
    /* pivot_root(".", "."): the old root ends up stacked under the new one, and is detached at once. */
    if (fchdir(root) < 0) child_fail(status_fd, SH_STAGE_ROOT);
    if (syscall(SYS_pivot_root, ".", ".") < 0) child_fail(status_fd, SH_STAGE_ROOT);
    if (umount2(".", MNT_DETACH) < 0) child_fail(status_fd, SH_STAGE_ROOT);
    if (chdir("/") < 0) child_fail(status_fd, SH_STAGE_ROOT);
    close(root);
    /* /proc of the environment's own pid namespace. No /dev/shm: Lambda has none (and every tmpfs in the namespace
     * costs each restore a tar of its contents). */
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
        child_fail(status_fd, SH_STAGE_MOUNT_PROC);
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
    for (int i = 0; i < 3; i++)
        if (cfg->join_fds[i] >= 0 && write(cfg->join_fds[i], "0", 1) != 1) child_fail(status_fd, SH_STAGE_CGROUP);
    if (cfg->netns_fd > 0 && setns(cfg->netns_fd, CLONE_NEWNET) < 0) child_fail(status_fd, SH_STAGE_NETNS);

    if (cfg->hostname && sethostname(cfg->hostname, strlen(cfg->hostname)) < 0) child_fail(status_fd, SH_STAGE_UTS);
    if (cfg->namespaces & SH_NS_MOUNT) {
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) child_fail(status_fd, SH_STAGE_MOUNT_PRIVATE);
        enter_root(cfg, status_fd);
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

/* A descriptor made on a short-lived thread, so that a namespace the thread enters stays with that thread; each
 * job struct starts with this result. */
struct thread_result { int fd; int error; };

static int on_thread(void *(*body)(void *), struct thread_result *job) {
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, body, job);
    if (rc != 0) { errno = rc; return -1; }
    pthread_join(thread, NULL);
    if (job->fd < 0) errno = job->error;
    return job->fd;
}

struct netns_job { struct thread_result result; };

static void *netns_thread(void *arg) {
    struct netns_job *job = arg;
    job->result.fd = -1;
    if (unshare(CLONE_NEWNET) < 0) { job->result.error = errno; return NULL; }
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) { job->result.error = errno; return NULL; }
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo");
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) { job->result.error = errno; close(sock); return NULL; }
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) { job->result.error = errno; close(sock); return NULL; }
    /* The environment's own address (sandbox.localdomain in its /etc/hosts), the same in every environment. */
    memset(&ifr, 0, sizeof ifr);
    strcpy(ifr.ifr_name, "lo:1");
    struct sockaddr_in *in = (struct sockaddr_in *)&ifr.ifr_addr;
    in->sin_family = AF_INET;
    in->sin_addr.s_addr = htonl(SH_ENVIRONMENT_ADDRESS);
    if (ioctl(sock, SIOCSIFADDR, &ifr) < 0) { job->result.error = errno; close(sock); return NULL; }
    in->sin_addr.s_addr = htonl(0xffffffffu);
    if (ioctl(sock, SIOCSIFNETMASK, &ifr) < 0) { job->result.error = errno; close(sock); return NULL; }
    close(sock);
    job->result.fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (job->result.fd < 0) job->result.error = errno;
    return NULL;
}

int sh_netns_create(void) {
    struct netns_job job = { { -1, 0 } };
    return on_thread(netns_thread, &job.result);
}

int sh_spawn_actions_closefrom(void *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, from);
}

struct listen_job { struct thread_result result; int netns_fd; const char *name; };

static void *listen_thread(void *arg) {
    struct listen_job *job = arg;
    job->result.fd = -1;
    if (setns(job->netns_fd, CLONE_NEWNET) < 0) { job->result.error = errno; return NULL; }
    int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (sock < 0) { job->result.error = errno; return NULL; }
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    size_t len = strlen(job->name);
    if (len + 1 > sizeof addr.sun_path) { job->result.error = ENAMETOOLONG; close(sock); return NULL; }
    memcpy(addr.sun_path + 1, job->name, len); /* abstract: sun_path[0] == 0 */
    socklen_t size = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    if (bind(sock, (struct sockaddr *)&addr, size) < 0 || listen(sock, 4) < 0) {
        job->result.error = errno;
        close(sock);
        return NULL;
    }
    job->result.fd = sock;
    return NULL;
}

int sh_listen_abstract_in_netns(int netns_fd, const char *name) {
    struct listen_job job = { { -1, 0 }, netns_fd, name };
    return on_thread(listen_thread, &job.result);
}
