/* Kills the TCP connections of a restored environment whose other end is not in it.
 *
 * Restored with tcp-established, every connection of the checkpointed tree comes back. Those between two sockets of
 * the tree (the runtime and its in-tree Runtime API server) are the environment's own and must live on; a connection
 * to anything outside (a database through pasta) has lost its peer, which is gone or never knew this copy. On Lambda
 * such a connection is dead after a restore, so each one is destroyed (SOCK_DESTROY over inet_diag) before the
 * function resumes: its next send fails at once with ECONNABORTED instead of whenever a reset comes back.
 *
 * Work happens on a short-lived thread that joins the namespace (setns changes only the calling thread). */
#define _GNU_SOURCE
#include "sandbox_spawn.h"
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SOCKETS 4096

struct orphan_job {
    int netns_fd;
    int destroyed;
    int error;
    int count;
    struct inet_diag_msg sockets[MAX_SOCKETS];
    unsigned char family[MAX_SOCKETS];
};

static int talk(int fd, struct nlmsghdr *request) {
    struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
    for (;;) {
        ssize_t n = sendto(fd, request, request->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel);
        if (n >= 0) return 0;
        if (errno != EINTR) return -1;
    }
}

/* Appends every TCP socket of one family to the job (all states; the filter happens later). */
static int list_sockets(int fd, struct orphan_job *job, int family) {
    struct { struct nlmsghdr h; struct inet_diag_req_v2 r; } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    req.r.sdiag_family = (unsigned char)family;
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = ~0U;
    if (talk(fd, &req.h) < 0) return -1;
    static __thread char buffer[65536];
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        for (struct nlmsghdr *h = (struct nlmsghdr *)buffer; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
            if (h->nlmsg_type == NLMSG_DONE) return 0;
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);
                errno = -e->error;
                return -1;
            }
            if (job->count < MAX_SOCKETS) {
                job->family[job->count] = (unsigned char)family;
                memcpy(&job->sockets[job->count++], NLMSG_DATA(h), sizeof(struct inet_diag_msg));
            }
        }
    }
}

static int connected(int state) {
    return state == TCP_ESTABLISHED || state == TCP_SYN_SENT || state == TCP_SYN_RECV || state == TCP_FIN_WAIT1 ||
           state == TCP_FIN_WAIT2 || state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING;
}

/* Is there a socket in the namespace at the other end of `s`? */
static int has_peer(const struct orphan_job *job, int i) {
    const struct inet_diag_sockid *a = &job->sockets[i].id;
    for (int j = 0; j < job->count; j++) {
        if (j == i || job->family[j] != job->family[i] || !connected(job->sockets[j].idiag_state)) continue;
        const struct inet_diag_sockid *b = &job->sockets[j].id;
        if (a->idiag_sport == b->idiag_dport && a->idiag_dport == b->idiag_sport &&
            memcmp(a->idiag_src, b->idiag_dst, sizeof a->idiag_src) == 0 &&
            memcmp(a->idiag_dst, b->idiag_src, sizeof a->idiag_dst) == 0)
            return 1;
    }
    return 0;
}

static int destroy(int fd, const struct orphan_job *job, int i) {
    struct { struct nlmsghdr h; struct inet_diag_req_v2 r; } req;
    memset(&req, 0, sizeof req);
    req.h.nlmsg_len = sizeof req;
    req.h.nlmsg_type = SOCK_DESTROY;
    req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
    req.r.sdiag_family = job->family[i];
    req.r.sdiag_protocol = IPPROTO_TCP;
    req.r.idiag_states = 1U << job->sockets[i].idiag_state;
    req.r.id = job->sockets[i].id;
    if (talk(fd, &req.h) < 0) return -1;
    char buffer[512];
    for (;;) {
        ssize_t n = recv(fd, buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return -1;
        struct nlmsghdr *h = (struct nlmsghdr *)buffer;
        if (NLMSG_OK(h, (size_t)n) && h->nlmsg_type == NLMSG_ERROR) {
            struct nlmsgerr *e = NLMSG_DATA(h);
            if (e->error == 0 || e->error == -ENOENT) return 0; /* gone already: as good */
            errno = -e->error;
            return -1;
        }
        return 0;
    }
}

static void *orphan_thread(void *arg) {
    struct orphan_job *job = arg;
    if (setns(job->netns_fd, CLONE_NEWNET) < 0) { job->error = errno; return NULL; }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0) { job->error = errno; return NULL; }
    if (list_sockets(fd, job, AF_INET) < 0 || list_sockets(fd, job, AF_INET6) < 0) {
        job->error = errno ? errno : EIO;
        close(fd);
        return NULL;
    }
    for (int i = 0; i < job->count; i++) {
        if (!connected(job->sockets[i].idiag_state) || has_peer(job, i)) continue;
        if (destroy(fd, job, i) < 0) { job->error = errno ? errno : EIO; break; }
        job->destroyed++;
    }
    close(fd);
    return NULL;
}

int sh_tcp_destroy_orphans(int netns_fd) {
    struct orphan_job *job = calloc(1, sizeof *job);
    if (!job) return -1;
    job->netns_fd = netns_fd;
    pthread_t thread;
    int rc = pthread_create(&thread, NULL, orphan_thread, job);
    if (rc != 0) { free(job); errno = rc; return -1; }
    pthread_join(thread, NULL);
    int result = job->error ? -1 : job->destroyed;
    if (job->error) errno = job->error;
    free(job);
    return result;
}
