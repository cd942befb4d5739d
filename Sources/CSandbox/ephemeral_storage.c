/* Lambda's /tmp as a disk of its own: an ext4 image on a loop device, so a snapshot keeps it as plain blocks (inode
 * numbers included) instead of CRIU's tar of a tmpfs, and every restored copy sees it through a copy-on-write
 * overlay. These are the few calls Swift's Glibc module does not import (the new mount API, loop ioctls). */
#define _GNU_SOURCE
#include "sandbox_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int sh_loop_attach(const char *image, int read_only, char *dev, unsigned long devlen) {
    int mode = read_only ? O_RDONLY : O_RDWR;
    int file = open(image, mode | O_CLOEXEC);
    if (file < 0) return -1;
    int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
    if (ctl < 0) { int e = errno; close(file); errno = e; return -1; }
    int result = -1, err = EBUSY;
    /* Another process may take the free device between GET_FREE and CONFIGURE: ask again. */
    for (int attempt = 0; attempt < 100 && result < 0; attempt++) {
        int n = ioctl(ctl, LOOP_CTL_GET_FREE);
        if (n < 0) { err = errno; break; }
        snprintf(dev, devlen, "/dev/loop%d", n);
        int loop = open(dev, mode | O_CLOEXEC);
        if (loop < 0) { err = errno; if (err == ENOENT) continue; break; }
        struct loop_config config;
        memset(&config, 0, sizeof config);
        config.fd = (unsigned)file;
        config.info.lo_flags = LO_FLAGS_AUTOCLEAR | (read_only ? LO_FLAGS_READ_ONLY : 0);
        strncpy((char *)config.info.lo_file_name, image, LO_NAME_SIZE - 1);
        if (ioctl(loop, LOOP_CONFIGURE, &config) == 0) { result = loop; break; }
        err = errno;
        close(loop);
        if (err != EBUSY) break;
    }
    close(ctl);
    close(file); /* the loop device holds the file now */
    if (result < 0) errno = err;
    return result;
}

int sh_mount_ext4_detached(const char *dev) {
    int fs = (int)syscall(SYS_fsopen, "ext4", FSOPEN_CLOEXEC);
    if (fs < 0) return -1;
    int mnt = -1;
    if (syscall(SYS_fsconfig, fs, FSCONFIG_SET_STRING, "source", dev, 0) == 0 &&
        syscall(SYS_fsconfig, fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) == 0)
        mnt = (int)syscall(SYS_fsmount, fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    int e = errno;
    close(fs);
    errno = e;
    return mnt;
}

int sh_copy_sparse(int from, int to) {
    struct stat st;
    if (fstat(from, &st) < 0) return -1;
    off_t at = 0;
    for (;;) {
        off_t data = lseek(from, at, SEEK_DATA);
        if (data < 0) { if (errno == ENXIO) break; return -1; }
        off_t hole = lseek(from, data, SEEK_HOLE);
        if (hole < 0) return -1;
        loff_t in = data, out = data;
        while (in < hole) {
            ssize_t n = copy_file_range(from, &in, to, &out, (size_t)(hole - in), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EXDEV || errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS)) {
                /* another file system (copy_file_range stays within one): copy through a buffer */
                char buf[1 << 16];
                ssize_t got = pread(from, buf, sizeof buf < (size_t)(hole - in) ? sizeof buf : (size_t)(hole - in), in);
                if (got < 0) { if (errno == EINTR) continue; return -1; }
                if (got == 0) break;
                for (ssize_t done = 0; done < got;) {
                    ssize_t w = pwrite(to, buf + done, (size_t)(got - done), out + done);
                    if (w < 0) { if (errno == EINTR) continue; return -1; }
                    done += w;
                }
                in += got;
                out += got;
                continue;
            }
            if (n < 0) return -1;
            if (n == 0) break;
        }
        at = hole;
        if (at >= st.st_size) break;
    }
    return ftruncate(to, st.st_size);
}
