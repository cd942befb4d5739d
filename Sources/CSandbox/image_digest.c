/* A fast, non-cryptographic 64-bit digest of snapshot image files: it catches a truncated, partly copied or
 * edited image before CRIU reads it (CRIU's restorer spins forever on a short pages image). Tampering is kept out
 * by the snapshot's modes and ownership, not by this digest. Four independent lanes keep it memory-bound. */
#include "sandbox_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const uint64_t P1 = 0x9E3779B185EBCA87ULL, P2 = 0xC2B2AE3D27D4EB4FULL, P3 = 0x165667B19E3779F9ULL;

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t lane(uint64_t acc, uint64_t v) { return rotl(acc + v * P2, 31) * P1; }

static uint64_t finish(uint64_t h) {
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
    return h;
}

int sh_digest_fd(int fd, unsigned long long *digest, unsigned long long *length) {
    /* on the heap: a static __thread buffer would be part of every thread's static TLS (and its stack budget) */
    enum { BUF = 1 << 20 };
    unsigned char *buf = malloc(BUF);
    if (!buf) return -1;
    uint64_t a = P1 + P2, b = P2, c = 0, d = (uint64_t)0 - P1, total = 0;
    unsigned char tail[32];
    size_t tail_len = 0;
    for (;;) {
        ssize_t n = read(fd, buf, BUF);
        if (n < 0) { if (errno == EINTR) continue; free(buf); return -1; }
        if (n == 0) break;
        total += (uint64_t)n;
        size_t i = 0;
        /* complete a 32-byte block left over from the previous read */
        if (tail_len) {
            size_t take = 32 - tail_len < (size_t)n ? 32 - tail_len : (size_t)n;
            memcpy(tail + tail_len, buf, take);
            tail_len += take; i = take;
            if (tail_len < 32) continue;
            uint64_t w[4]; memcpy(w, tail, 32);
            a = lane(a, w[0]); b = lane(b, w[1]); c = lane(c, w[2]); d = lane(d, w[3]);
            tail_len = 0;
        }
        for (; i + 32 <= (size_t)n; i += 32) {
            uint64_t w[4]; memcpy(w, buf + i, 32);
            a = lane(a, w[0]); b = lane(b, w[1]); c = lane(c, w[2]); d = lane(d, w[3]);
        }
        memcpy(tail, buf + i, (size_t)n - i);
        tail_len = (size_t)n - i;
    }
    free(buf);
    uint64_t h = rotl(a, 1) + rotl(b, 7) + rotl(c, 12) + rotl(d, 18) + total * P3;
    for (size_t i = 0; i < tail_len; i++) h = rotl(h ^ (tail[i] * P1), 11) * P2;
    *digest = finish(h);
    *length = total;
    return 0;
}

/* libcriu's notify callback has no context argument: each thread keeps the slot its restore writes to. */
static __thread int *restore_slot;
void sh_set_thread_slot(int *slot) { restore_slot = slot; }
int *sh_thread_slot(void) { return restore_slot; }
void sh_atomic_store_int(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
int sh_atomic_load_int(int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
