/*
 * outfile.c — writing an output file without harming what is there (see
 * outfile.h).
 *
 * The temporary file and the rename both go through a descriptor of the
 * target's directory (openat, renameat, linkat, unlinkat), so what is
 * created, renamed and removed is always in the directory that was checked,
 * whatever happens to the path or the working directory meanwhile.  The
 * temporary name is created with O_EXCL|O_NOFOLLOW: a file or symbolic link
 * already there is never opened, only skipped for another name.
 *
 * The signal registry is a fixed array of (directory descriptor, name)
 * slots with an atomic state each: 0 free, 1 being filled, 2 armed.  A
 * handler only reads armed slots and calls unlinkat(), which POSIX lists as
 * async-signal-safe.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "err.h"
#include "outfile.h"

#define TEMP_TAG ".tmp-"     /* between the target's name and the random part */
#define TEMP_RANDOM 6        /* random characters of a temporary name */
#define TEMP_TRIES 100       /* names tried before giving up */
#define TEMP_BASE_MAX 200    /* bytes of the target's name kept in the temporary name */
#define SPACE_SLACK ((uint64_t)1 << 20) /* bytes asked for beyond expected_bytes + 1% */

_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the signal registry needs lock-free atomics");

/* ------------------------------------------------------------ registry */

static struct {
    int dirfd;                                      /* directory of the temporary file */
    char name[TEMP_BASE_MAX + sizeof TEMP_TAG + TEMP_RANDOM]; /* its name there */
} reg[PLUMB_OUTFILE_MAX_OPEN];
static atomic_int reg_state[PLUMB_OUTFILE_MAX_OPEN]; /* 0 free, 1 filling, 2 armed */

static int reg_add(int dirfd, const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof reg[0].name)
        return -1;
    for (int i = 0; i < PLUMB_OUTFILE_MAX_OPEN; i++) {
        int expect = 0;
        if (atomic_compare_exchange_strong(&reg_state[i], &expect, 1)) {
            reg[i].dirfd = dirfd;
            memcpy(reg[i].name, name, n + 1);
            atomic_store(&reg_state[i], 2);
            return i;
        }
    }
    return -1;
}

static void reg_drop(int slot)
{
    if (slot >= 0)
        atomic_store(&reg_state[slot], 0);
}

void plumb_outfile_remove_temps(void)
{
    for (int i = 0; i < PLUMB_OUTFILE_MAX_OPEN; i++)
        if (atomic_load(&reg_state[i]) == 2)
            unlinkat(reg[i].dirfd, reg[i].name, 0);
}

static void on_fatal_signal(int sig)
{
    const int saved = errno;
    plumb_outfile_remove_temps();
    errno = saved;
    /* SA_RESETHAND restored the default action; the signal is blocked
     * until this handler returns, then it ends the process as before. */
    raise(sig);
}

int plumb_outfile_cleanup_signals(PlumbError *err)
{
    static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old, sa;
        if (sigaction(sigs[i], NULL, &old) != 0)
            return plumb_err(err, PLUMB_EIO, "sigaction: %s", strerror(errno));
        if (!(old.sa_flags & SA_SIGINFO) && old.sa_handler != SIG_DFL)
            continue; /* ignored, or the program's own handler */
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_fatal_signal;
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], &sa, NULL) != 0)
            return plumb_err(err, PLUMB_EIO, "sigaction: %s", strerror(errno));
    }
    return PLUMB_OK;
}

/* ------------------------------------------------------------ helpers */

const char *plumb_file_type_name(mode_t mode)
{
    if (S_ISREG(mode))
        return "a regular file";
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISFIFO(mode))
        return "a FIFO";
    if (S_ISSOCK(mode))
        return "a socket";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISLNK(mode))
        return "a symbolic link";
    return "a special file";
}

static int same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* A name unlikely to exist: the random part only spreads names; O_EXCL is
 * what makes creating one safe. */
static void temp_name(char *out, const char *base, size_t base_len)
{
    static const char alphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    static atomic_uint_fast64_t counter;
    struct timespec ts;
    uint64_t x;
    clock_gettime(CLOCK_REALTIME, &ts);
    x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 42) ^
        (atomic_fetch_add(&counter, 1) * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)out;
    /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xBF58476D1CE4E5B9ull;
    x ^= x >> 27;
    x *= 0x94D049BB133111EBull;
    x ^= x >> 31;
    memcpy(out, base, base_len);
    memcpy(out + base_len, TEMP_TAG, sizeof TEMP_TAG - 1);
    out += base_len + sizeof TEMP_TAG - 1;
    for (int i = 0; i < TEMP_RANDOM; i++, x /= 62)
        out[i] = alphabet[x % 62];
    out[TEMP_RANDOM] = '\0';
}

static const char *base_of(const char *s)
{
    const char *slash = strrchr(s, '/');
    return slash ? slash + 1 : s;
}

static void reset(PlumbOutFile *f)
{
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->dirfd = -1;
    f->slot = -1;
}

/* Close and free whatever f holds; the temporary file is removed. */
static void release(PlumbOutFile *f)
{
    if (f->fd >= 0)
        close(f->fd);
    if (f->kind == PLUMB_OUT_TEMP && f->tmp && f->dirfd >= 0)
        unlinkat(f->dirfd, base_of(f->tmp), 0);
    reg_drop(f->slot);
    if (f->dirfd >= 0)
        close(f->dirfd);
    free(f->path);
    free(f->final);
    free(f->tmp);
    reset(f);
}

/* Refuse an output that is the input. */
static int check_not_input(const char *path, const struct stat *st, const char *input_path,
                           const struct stat *in_st, PlumbError *err)
{
    if (!input_path || !same_file(st, in_st))
        return PLUMB_OK;
    if (strcmp(path, input_path) == 0)
        return plumb_err(err, PLUMB_EINVAL, "%s: is the input file: write the output elsewhere",
                         path);
    return plumb_err(err, PLUMB_EINVAL,
                     "%s: is the input file %s under another name: write the output elsewhere",
                     path, input_path);
}

static int open_stdout(PlumbOutFile *f, const char *input_path, const struct stat *in_st,
                       PlumbError *err)
{
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) != 0)
        return plumb_err(err, PLUMB_EIO, "standard output: %s", strerror(errno));
    if (input_path && same_file(&st, in_st))
        return plumb_err(err, PLUMB_EINVAL, "standard output is the input file %s", input_path);
    if (!(f->path = strdup("standard output")))
        return plumb_err(err, PLUMB_ENOMEM, "standard output: out of memory");
    f->fd = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
    if (f->fd < 0) {
        int e = errno;
        release(f);
        return plumb_err(err, PLUMB_EIO, "standard output: %s", strerror(e));
    }
    f->kind = PLUMB_OUT_STDOUT;
    return PLUMB_OK;
}

/* A character device or FIFO at target (st): write into it. */
static int open_stream(PlumbOutFile *f, const char *path, const char *target,
                       const struct stat *st, PlumbError *err)
{
    struct stat now;
    const int nofollow = (f->flags & PLUMB_OUT_FOLLOW) ? 0 : O_NOFOLLOW;
    int fd = open(target, O_WRONLY | O_CLOEXEC | O_NOCTTY | nofollow);
    if (fd < 0)
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &now) != 0 || !same_file(&now, st) ||
        !(S_ISCHR(now.st_mode) || S_ISFIFO(now.st_mode))) {
        close(fd);
        return plumb_err(err, PLUMB_EIO, "%s: changed while being opened", path);
    }
    f->fd = fd;
    f->kind = PLUMB_OUT_STREAM;
    return PLUMB_OK;
}

/* Check the file system of dir can take expected bytes. */
static int check_space(const char *path, const char *dir, const struct statvfs *vfs,
                       uint64_t expected, PlumbError *err)
{
    const double gib = 1073741824.0;
    uint64_t need = expected + expected / 100 + SPACE_SLACK, avail;
    if (vfs->f_blocks == 0)
        return PLUMB_OK; /* no numbers to go by (ramfs); creating the file decided */
    avail = (uint64_t)vfs->f_bavail * (uint64_t)vfs->f_frsize;
    if (avail >= need)
        return PLUMB_OK;
    return plumb_err(err, PLUMB_EIO,
                     "%s: needs %.2f GiB (%llu bytes) but the file system of directory %s "
                     "has %.2f GiB (%llu bytes) free of %.2f GiB",
                     path, (double)need / gib, (unsigned long long)need, dir,
                     (double)avail / gib, (unsigned long long)avail,
                     (double)vfs->f_blocks * (double)vfs->f_frsize / gib);
}

/* Create the temporary file next to target. */
static int open_temp(PlumbOutFile *f, const char *path, uint64_t expected, PlumbError *err)
{
    const char *slash = strrchr(f->final, '/');
    const char *base = slash ? slash + 1 : f->final;
    size_t dir_len = slash ? (size_t)(slash - f->final) : 0, base_len = strlen(base);
    char *dir = NULL, name[sizeof reg[0].name];
    struct statvfs vfs;
    int have_vfs, rc, e = 0;

    if (!*base)
        return plumb_err(err, PLUMB_EINVAL, "%s: names a directory, not a file", path);
    if (!(dir = slash ? strndup(f->final, dir_len ? dir_len : 1) : strdup(".")))
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
    f->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (f->dirfd < 0) {
        rc = plumb_err(err, PLUMB_EIO, "%s: directory %s: %s", path, dir, strerror(errno));
        goto fail;
    }
    have_vfs = fstatvfs(f->dirfd, &vfs) == 0;
    if (have_vfs && (vfs.f_flag & ST_RDONLY)) {
        rc = plumb_err(err, PLUMB_EIO, "%s: directory %s is on a read-only file system", path,
                       dir);
        goto fail;
    }
    if (expected && have_vfs && (rc = check_space(path, dir, &vfs, expected, err)))
        goto fail;

    if (base_len > TEMP_BASE_MAX)
        base_len = TEMP_BASE_MAX;
    for (int i = 0; i < TEMP_TRIES; i++) {
        temp_name(name, base, base_len);
        f->fd = openat(f->dirfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                       0666);
        if (f->fd >= 0 || (e = errno) != EEXIST)
            break;
    }
    if (f->fd < 0) {
        const int pseudo = have_vfs && vfs.f_blocks == 0;
        rc = plumb_err(err, PLUMB_EIO, "%s: cannot create a file in directory %s: %s%s", path,
                       dir, strerror(e),
                       pseudo ? " (a file system that stores no files, such as /proc or /sys)"
                              : "");
        goto fail;
    }
    f->kind = PLUMB_OUT_TEMP;
    if (slash) {
        size_t n = strlen(dir) + 1 + strlen(name) + 1;
        if ((f->tmp = malloc(n)))
            snprintf(f->tmp, n, "%s/%s", dir_len ? dir : "", name);
    } else {
        f->tmp = strdup(name);
    }
    if (!f->tmp) {
        unlinkat(f->dirfd, name, 0);
        rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    f->slot = reg_add(f->dirfd, name);
    free(dir);
    return PLUMB_OK;
fail:
    free(dir);
    return rc;
}

/* ------------------------------------------------------------ open */

int plumb_outfile_open(PlumbOutFile *f, const char *path, unsigned flags, const char *input_path,
                       uint64_t expected_bytes, PlumbError *err)
{
    struct stat st, in_st;
    int exists, rc;

    reset(f);
    f->flags = flags;
    if (!path || !*path)
        return plumb_err(err, PLUMB_EINVAL, "output file: empty name");
    if (input_path && stat(input_path, &in_st) != 0)
        return plumb_err(err, PLUMB_EIO, "%s: %s", input_path, strerror(errno));
    if (strcmp(path, "-") == 0) {
        if (!(flags & PLUMB_OUT_STDOUT_OK))
            return plumb_err(err, PLUMB_EINVAL,
                             "-: this output cannot go to standard output "
                             "(write ./- for a file named '-')");
        return open_stdout(f, input_path, &in_st, err);
    }

    if (lstat(path, &st) == 0) {
        exists = 1;
        if (S_ISLNK(st.st_mode)) {
            struct stat to;
            if (input_path && stat(path, &to) == 0 &&
                (rc = check_not_input(path, &to, input_path, &in_st, err)))
                return rc;
            if (!(flags & PLUMB_OUT_FOLLOW))
                return plumb_err(err, PLUMB_EINVAL,
                                 "%s: is a symbolic link (not written through unless asked "
                                 "to follow it)", path);
            if (stat(path, &st) != 0)
                return plumb_err(err, PLUMB_EIO, "%s: symbolic link to %s: %s", path,
                                 errno == ENOENT ? "a missing file" : "an unusable target",
                                 strerror(errno));
            if (!(f->final = realpath(path, NULL)))
                return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
        }
    } else if (errno == ENOENT) {
        exists = 0;
    } else {
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
    }
    if (!f->final && !(f->final = strdup(path)))
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
    if (!(f->path = strdup(path))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
        goto fail;
    }

    if (exists) {
        if ((rc = check_not_input(path, &st, input_path, &in_st, err)))
            goto fail;
        if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)) {
            if ((rc = open_stream(f, path, f->final, &st, err)))
                goto fail;
            return PLUMB_OK;
        }
        if (!S_ISREG(st.st_mode)) {
            rc = plumb_err(err, PLUMB_EINVAL, "%s: is %s (not writing over it)", path,
                           plumb_file_type_name(st.st_mode));
            goto fail;
        }
        if (!(flags & PLUMB_OUT_FORCE)) {
            rc = plumb_err(err, PLUMB_EINVAL, "%s: file exists (not replacing it)", path);
            goto fail;
        }
    }
    if ((rc = open_temp(f, path, expected_bytes, err)))
        goto fail;
    return PLUMB_OK;
fail:
    release(f);
    return rc;
}

/* ------------------------------------------------------------ writing */

int plumb_outfile_write(PlumbOutFile *f, const void *buf, size_t n, PlumbError *err)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(f->fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return plumb_err(err, PLUMB_EIO, "%s: write failed: %s",
                             f->kind == PLUMB_OUT_TEMP ? f->tmp : f->path,
                             w < 0 ? strerror(errno) : "no progress");
        p += w;
        n -= (size_t)w;
    }
    return PLUMB_OK;
}

/* Move the complete temporary file to the target. */
static int put_in_place(PlumbOutFile *f, PlumbError *err)
{
    const char *tmp = base_of(f->tmp), *dst = base_of(f->final);
    int e;
    if (f->flags & PLUMB_OUT_FORCE) {
        if (renameat(f->dirfd, tmp, f->dirfd, dst) != 0)
            return plumb_err(err, PLUMB_EIO, "%s: rename from %s: %s", f->path, f->tmp,
                             strerror(errno));
        return PLUMB_OK;
    }
    /* linkat() refuses to replace a file that appeared meanwhile, atomically. */
    e = linkat(f->dirfd, tmp, f->dirfd, dst, 0) == 0 ? 0 : errno;
    if (e == EPERM || e == ENOTSUP || e == ENOSYS) {
        /* no hard links on this file system: check, then rename (not atomic) */
        struct stat st;
        e = fstatat(f->dirfd, dst, &st, AT_SYMLINK_NOFOLLOW) == 0 ? EEXIST
            : renameat(f->dirfd, tmp, f->dirfd, dst) == 0          ? 0
                                                                   : errno;
    } else if (e == 0) {
        unlinkat(f->dirfd, tmp, 0);
    }
    if (e == EEXIST)
        return plumb_err(err, PLUMB_EINVAL, "%s: file exists (not replacing it)", f->path);
    if (e)
        return plumb_err(err, PLUMB_EIO, "%s: %s", f->path, strerror(e));
    return PLUMB_OK;
}

int plumb_outfile_commit(PlumbOutFile *f, PlumbError *err)
{
    int rc = PLUMB_OK, fd = f->fd;
    if (f->kind == PLUMB_OUT_NONE || fd < 0) {
        plumb_outfile_abort(f);
        return plumb_err(err, PLUMB_EINVAL, "output file: not open");
    }
    if (f->kind != PLUMB_OUT_TEMP) {
        /* devices and FIFOs: fsync means nothing to most of them */
        if (f->kind == PLUMB_OUT_STREAM && fsync(fd) != 0 && errno != EINVAL &&
            errno != EROFS && errno != ENOTSUP)
            rc = plumb_err(err, PLUMB_EIO, "%s: fsync: %s", f->path, strerror(errno));
        f->fd = -1;
        if (close(fd) != 0 && rc == PLUMB_OK)
            rc = plumb_err(err, PLUMB_EIO, "%s: close: %s", f->path, strerror(errno));
        plumb_outfile_abort(f);
        return rc;
    }
    if (fsync(fd) != 0) {
        rc = plumb_err(err, PLUMB_EIO, "%s: fsync: %s", f->tmp, strerror(errno));
        goto fail;
    }
    f->fd = -1;
    if (close(fd) != 0) {
        rc = plumb_err(err, PLUMB_EIO, "%s: close: %s", f->tmp, strerror(errno));
        goto fail;
    }
    if ((rc = put_in_place(f, err)))
        goto fail;
    /* the temporary name is gone: nothing left for a signal to remove */
    reg_drop(f->slot);
    f->slot = -1;
    if (fsync(f->dirfd) != 0 && errno != EINVAL && errno != EROFS)
        rc = plumb_err(err, PLUMB_EIO, "%s: fsync of its directory: %s", f->path,
                       strerror(errno));
    free(f->tmp);
    f->tmp = NULL;
    plumb_outfile_abort(f); /* closes the directory, frees the names */
    return rc;
fail:
    plumb_outfile_abort(f);
    return rc;
}

void plumb_outfile_abort(PlumbOutFile *f)
{
    if (f && f->kind != PLUMB_OUT_NONE)
        release(f);
}
