/* A fast, non-cryptographic 64-bit digest of snapshot image files: it catches a truncated, partly copied or
 * edited image before CRIU reads it (CRIU's restorer spins forever on a short pages image). Tampering is kept out
 * by the snapshot's modes and ownership, not by this digest. Four independent lanes keep it memory-bound. */
#define _GNU_SOURCE
#include "sandbox_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const uint64_t P1 = 0x9E3779B185EBCA87ULL, P2 = 0xC2B2AE3D27D4EB4FULL, P3 = 0x165667B19E3779F9ULL;

static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t lane(uint64_t acc, uint64_t v) { return rotl(acc + v * P2, 31) * P1; }

static uint64_t finish(uint64_t h) {
    h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
    return h;
}

struct digest {
    uint64_t a, b, c, d, total;
    unsigned char tail[32];
    size_t tail_len;
};

static void digest_init(struct digest *s) {
    s->a = P1 + P2; s->b = P2; s->c = 0; s->d = (uint64_t)0 - P1; s->total = 0; s->tail_len = 0;
}

static void digest_update(struct digest *s, const unsigned char *buf, size_t n) {
    s->total += (uint64_t)n;
    size_t i = 0;
    /* complete a 32-byte block left over from the previous update */
    if (s->tail_len) {
        size_t take = 32 - s->tail_len < n ? 32 - s->tail_len : n;
        memcpy(s->tail + s->tail_len, buf, take);
        s->tail_len += take; i = take;
        if (s->tail_len < 32) return;
        uint64_t w[4]; memcpy(w, s->tail, 32);
        s->a = lane(s->a, w[0]); s->b = lane(s->b, w[1]); s->c = lane(s->c, w[2]); s->d = lane(s->d, w[3]);
        s->tail_len = 0;
    }
    for (; i + 32 <= n; i += 32) {
        uint64_t w[4]; memcpy(w, buf + i, 32);
        s->a = lane(s->a, w[0]); s->b = lane(s->b, w[1]); s->c = lane(s->c, w[2]); s->d = lane(s->d, w[3]);
    }
    memcpy(s->tail, buf + i, n - i);
    s->tail_len = n - i;
}

static uint64_t digest_final(const struct digest *s) {
    uint64_t h = rotl(s->a, 1) + rotl(s->b, 7) + rotl(s->c, 12) + rotl(s->d, 18) + s->total * P3;
    for (size_t i = 0; i < s->tail_len; i++) h = rotl(h ^ (s->tail[i] * P1), 11) * P2;
    return finish(h);
}

/* on the heap: a static __thread buffer would be part of every thread's static TLS (and its stack budget) */
enum { BUF = 1 << 20 };

int sh_digest_fd(int fd, unsigned long long *digest, unsigned long long *length) {
    unsigned char *buf = malloc(BUF);
    if (!buf) return -1;
    struct digest s;
    digest_init(&s);
    for (;;) {
        ssize_t n = read(fd, buf, BUF);
        if (n < 0) { if (errno == EINTR) continue; free(buf); return -1; }
        if (n == 0) break;
        digest_update(&s, buf, (size_t)n);
    }
    free(buf);
    *digest = digest_final(&s);
    *length = s.total;
    return 0;
}

/* Content-only: the file is read in 64 KiB blocks and a block of zeros counts for nothing, so holes are skipped
 * unread and a sparse image digests the same as a copy of it that wrote its holes out as zeros. */
int sh_digest_sparse_fd(int fd, unsigned long long *digest, unsigned long long *length) {
    enum { BLOCK = 1 << 16 };
    struct stat st;
    if (fstat(fd, &st) < 0) return -1;
    unsigned char *buf = malloc(BLOCK);
    if (!buf) return -1;
    struct digest s;
    digest_init(&s);
    uint64_t next = 0; /* first block not digested yet */
    off_t at = 0;
    while (at < st.st_size) {
        off_t data = lseek(fd, at, SEEK_DATA);
        if (data < 0) { if (errno == ENXIO) break; free(buf); return -1; }
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0) { free(buf); return -1; }
        uint64_t block = (uint64_t)data / BLOCK;
        if (block < next) block = next;
        for (; (off_t)(block * BLOCK) < hole; block++) {
            size_t got = 0;
            while (got < BLOCK) {
                ssize_t n = pread(fd, buf + got, BLOCK - got, (off_t)(block * BLOCK + got));
                if (n < 0) { if (errno == EINTR) continue; free(buf); return -1; }
                if (n == 0) break;
                got += (size_t)n;
            }
            int zero = 1;
            for (size_t i = 0; i < got && zero; i++) zero = buf[i] == 0;
            if (!zero) {
                digest_update(&s, (const unsigned char *)&block, sizeof block);
                digest_update(&s, buf, got);
            }
        }
        next = block;
        at = hole;
    }
    free(buf);
    *digest = digest_final(&s);
    *length = (unsigned long long)st.st_size;
    return 0;
}

/* libcriu's notify callback has no context argument: each thread keeps the slot its restore writes to. */
static __thread int *restore_slot;
void sh_set_thread_slot(int *slot) { restore_slot = slot; }
int *sh_thread_slot(void) { return restore_slot; }
void sh_atomic_store_int(int *p, int v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }
int sh_atomic_load_int(int *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
