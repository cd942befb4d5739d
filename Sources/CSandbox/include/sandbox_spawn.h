#ifndef SNAPHARNESS_SANDBOX_SPAWN_H
#define SNAPHARNESS_SANDBOX_SPAWN_H

#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Namespaces the sandboxed process gets (bit set, mirrors the CLONE_NEW* flags we use). */
enum {
    SH_NS_PID = 1 << 0,   /* own pid namespace: the process is its pid 1 (needed for concurrent restores) */
    SH_NS_MOUNT = 1 << 1, /* own mount namespace rooted in `root`: nothing of the host's mount table */
    SH_NS_IPC = 1 << 2,
    SH_NS_UTS = 1 << 3,
};

/* Which step of the child's setup failed, reported with errno over a close-on-exec pipe. */
enum {
    SH_STAGE_NONE = 0,
    SH_STAGE_CLONE = 1,
    SH_STAGE_SETSID = 2,
    SH_STAGE_MOUNT_PRIVATE = 3,
    SH_STAGE_MOUNT_PROC = 4,
    SH_STAGE_MOUNT_TMP = 5,
    SH_STAGE_CHDIR = 7,
    SH_STAGE_FDS = 8,
    SH_STAGE_SETGROUPS = 9,
    SH_STAGE_SETGID = 10,
    SH_STAGE_SETUID = 11,
    SH_STAGE_EXEC = 12,
    SH_STAGE_PIPE = 13,
    SH_STAGE_ROOT = 14,
    SH_STAGE_LAYOUT = 15,
    SH_STAGE_RLIMIT = 16,
    SH_STAGE_CGROUP = 17,
    SH_STAGE_NETNS = 18,
    SH_STAGE_UTS = 19,
};

struct sh_spawn_config {
    const char *path;          /* absolute path of the program */
    char *const *argv;         /* NULL-terminated, copied by the caller before the call */
    char *const *envp;         /* NULL-terminated */
    const char *cwd;           /* NULL: keep */
    int stdin_fd, stdout_fd, stderr_fd; /* placed on 0, 1, 2 in the child */
    int namespaces;            /* SH_NS_* bits */
    unsigned long long tmp_bytes; /* size of the private /tmp tmpfs (with SH_NS_MOUNT, no tmp_mount_fd); 0 = 512 MiB */
    uid_t uid;                 /* (uid_t)-1: keep */
    gid_t gid;                 /* (gid_t)-1: keep */
    /* The environment's root (with SH_NS_MOUNT): a clone of the host folder `root` becomes "/" (read-only), each
     * bind_sources[i] (a host folder, cloned before anything moves) is bound read-only at bind_targets[i] inside
     * it, in order (a target must be a folder of the root or of an earlier bind), /tmp and /proc are the
     * environment's own; then the process pivots into it and the host's mount table is dropped. */
    const char *root;
    char *const *bind_sources;
    char *const *bind_targets;
    const char *hostname;      /* the UTS namespace's hostname; NULL: keep the host's */
    unsigned long long max_files;     /* RLIMIT_NOFILE, 0 = keep */
    unsigned long long max_processes; /* RLIMIT_NPROC, 0 = keep */
    int join_fds[3];           /* cgroup.procs files opened for writing (-1: none): the child writes "0" to each
                                  before anything else, so everything the function allocates is charged there */
    int netns_fd;              /* > 0: a network namespace (nsfs descriptor) the child joins; 0: the caller's */
    int tmp_mount_fd;          /* > 0: a detached mount (fsmount) moved to /tmp instead of a fresh tmpfs */
};

struct sh_spawn_result {
    pid_t pid;   /* > 0 on success */
    int stage;   /* SH_STAGE_* that failed, SH_STAGE_NONE on success */
    int error;   /* errno of the failed stage */
};

/* Starts cfg->path in a fresh sandbox. Everything between clone and exec is async-signal-safe: the caller may
 * have many threads. The child is its own session leader and, with SH_NS_PID, pid 1 of a new pid namespace. */
struct sh_spawn_result sh_spawn(const struct sh_spawn_config *cfg);

/* Human-readable name of a SH_STAGE_* value. */
const char *sh_stage_name(int stage);

/* pipe2(O_CLOEXEC) and pidfd_open, which Swift's Glibc module does not import. */
int sh_pipe_cloexec(int fds[2]);
int sh_pidfd_open(pid_t pid);

/* accept4(SOCK_CLOEXEC) and SO_PEERCRED, which need _GNU_SOURCE. sh_peer_pid returns -1 on error. */
int sh_accept_cloexec(int fd);
pid_t sh_peer_pid(int fd);

/* The calling thread's id (gettid, which Swift's Glibc module does not import). */
pid_t sh_gettid(void);

/* A 64-bit digest (not cryptographic) of everything readable from fd, and its length; 0 or -1 with errno. */
int sh_digest_fd(int fd, unsigned long long *digest, unsigned long long *length);

/* A per-thread slot for libcriu's notify callback (it has no context argument), and atomic access to it. */
void sh_set_thread_slot(int *slot);
int *sh_thread_slot(void);
void sh_atomic_store_int(int *p, int v);
int sh_atomic_load_int(int *p);

/* 169.254.100.1: every environment's own address, on its loopback (sandbox.localdomain resolves to it). */
#define SH_ENVIRONMENT_ADDRESS 0xa9fe6401u

/* A new network namespace with its loopback up (and SH_ENVIRONMENT_ADDRESS on it), created on a short-lived thread (unshare(CLONE_NEWNET) changes only
 * the calling thread), as a close-on-exec nsfs descriptor; -1 with errno. */
int sh_netns_create(void);

/* A listening Unix socket at the abstract address `name` of a network namespace (abstract addresses belong to the
 * namespace): the environment's processes reach it without any path of the host. Close-on-exec; -1 with errno. */
int sh_listen_abstract_in_netns(int netns_fd, const char *name);

/* posix_spawn_file_actions_addclosefrom_np (glibc >= 2.34), which needs _GNU_SOURCE. */
int sh_spawn_actions_closefrom(void *actions, int from);

/* Destroys (SOCK_DESTROY) every connected TCP socket of a network namespace whose other end is not a socket of the
 * same namespace: the connections a restored environment had to the outside. Returns how many, or -1 with errno. */
int sh_tcp_destroy_orphans(int netns_fd);

/* Attaches `image` to a free loop device (auto-cleared once nothing holds it, read-only if asked) and names it in
 * `dev`; returns the open device (close it once it is mounted) or -1 with errno. */
int sh_loop_attach(const char *image, int read_only, char *dev, unsigned long devlen);

/* Mounts the ext4 on `dev` nowhere yet (fsmount; nosuid, nodev): a close-on-exec mount descriptor or -1 with errno. */
int sh_mount_ext4_detached(const char *dev);

/* Copies a file's data extents (holes stay holes) and its size; 0 or -1 with errno. */
int sh_copy_sparse(int from, int to);

/* Opens a disabled dummy perf event on the calling thread (perf_sched_key.c says why): a close-on-exec descriptor
 * or -1 with errno. */
int sh_perf_task_event_open(void);

/* The digest of a sparse file's contents: blocks of zeros (its holes) count for nothing and are not read. */
int sh_digest_sparse_fd(int fd, unsigned long long *digest, unsigned long long *length);

/* Marks every descriptor from `first` on close-on-exec (close_range with CLOSE_RANGE_CLOEXEC); 0 or -1. */
int sh_cloexec_from(int first);

#ifdef __cplusplus
}
#endif
#endif
