/*
 * sandbox.c — running a helper program as a limited child (see sandbox.h).
 *
 * The child is forked, not spawned, because it must do several things
 * between fork and exec: start a new session (so the whole process group can
 * be killed), set the rlimits, ask for SIGKILL when we die, drop root, move
 * its pipes to 0, 1, 2 and close every other descriptor.  Only
 * async-signal-safe calls are made there; everything it needs (argument and
 * environment vectors, paths) is built before the fork.
 *
 * The parent feeds stdin through a socket pair (send() with MSG_NOSIGNAL, so
 * a child that stops reading cannot raise SIGPIPE in our process) and reads
 * stdout and stderr with poll.  It keeps max_output bytes of each; when a
 * stream goes past that the child is killed at once: an endless print loop
 * ends at the cap, with bounded memory, instead of running to the wall
 * clock.  At wall_s the process group is SIGKILLed.  The child's exit is
 * seen through a pidfd when the kernel has them (5.3+), else by a 50 ms
 * waitpid tick; after it exits the group is killed too, so nothing it left
 * in the background survives, and the direct child is always reaped.
 *
 * Under bwrap (use_bwrap):
 *   bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr
 *         /bin /lib /lib64 /sbin ... as symlinks into /usr (or read-only
 *         binds on a system without merged /usr), /etc/ld.so.cache and
 *         /etc/alternatives read-only (numpy finds its BLAS through them),
 *         --proc /proc --dev /dev, a private 128 MiB /tmp, --clearenv with
 *         PATH, LANG and HOME set, --chdir /tmp,
 *         -- /usr/bin/prlimit --nproc=N:N -- PROGRAM ARGS
 *   --unshare-all includes the network namespace, where only a down
 *   loopback exists.  RLIMIT_NPROC is set inside, by prlimit (util-linux),
 *   after bwrap has made the user namespace: the kernel then counts only the
 *   processes of the sandbox against it, where a limit set before bwrap
 *   would count every process the user owns.  The kernel exempts uid 0 from
 *   RLIMIT_NPROC, and bwrap run by root maps the sandbox to uid 0, so when we
 *   are root the child first becomes nobody (65534:65534) and the ro_files
 *   are handed to bwrap as open descriptors (--ro-bind-data, a read-only
 *   copy) since nobody may not be able to read them; as any other user they
 *   are bind-mounted (--ro-bind).  A program killed by signal N shows as
 *   bwrap's exit status 128 + N, which is reported as signal N.
 *
 * When bwrap exists but fails before running the program (user namespaces
 * refused: kernel.unprivileged_userns_clone=0, or AppArmor's
 * kernel.apparmor_restrict_unprivileged_userns on Ubuntu 23.10+), the run
 * ends with status 1 and "bwrap: ..." on stderr.  A program could print the
 * same, so that case is confirmed by running `true` in the same sandbox; if
 * that fails too, the result is PLUMB_EUNSUPPORTED with bwrap's words.
 *
 * Without bwrap the program sees the host file system and runs as the
 * caller, with the rlimits and the process group only.  RLIMIT_NPROC then
 * counts all the caller's processes, and does not bind root; a process that
 * starts its own session leaves the group and outlives the kill.
 */
#include "config.h"

#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SB_NOBODY 65534u          /* uid and gid root drops to */
#define SB_MAX_RO_FILES 64        /* ro_files accepted */
#define SB_FIRST_RO_FD 4          /* ro_files descriptors in the child: 4, 5, ... */
#define SB_TMP_BYTES "134217728"  /* size of the private /tmp */
#define SB_NOFILE 256             /* RLIMIT_NOFILE */
#define SB_FSIZE (64ull << 20)    /* RLIMIT_FSIZE, bytes */
#define SB_DRAIN_MS 300           /* reading what is left after the child ended */

/* The whole environment of the child, as execve wants it and as bwrap's
 * --setenv pairs. */
static const char *const sb_env[] = {"PATH=/usr/bin:/bin", "LANG=C.UTF-8", "HOME=/tmp", NULL};
static const char *const sb_env_pairs[][2] = {
    {"PATH", "/usr/bin:/bin"}, {"LANG", "C.UTF-8"}, {"HOME", "/tmp"}, {NULL, NULL}};

/* ------------------------------------------------------------ small helpers */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Is path an executable regular file? */
static int is_exec(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* Find prog in the colon-separated dirs; malloc'd path or NULL. */
static char *search_path(const char *prog, const char *dirs)
{
    if (strchr(prog, '/'))
        return is_exec(prog) ? strdup(prog) : NULL;
    while (dirs && *dirs) {
        const char *end = strchr(dirs, ':');
        size_t dl = end ? (size_t)(end - dirs) : strlen(dirs);
        size_t n = dl + 1 + strlen(prog) + 1;
        char *cand = malloc(n);
        if (!cand)
            return NULL;
        snprintf(cand, n, "%.*s/%s", (int)dl, dl ? dirs : ".", prog);
        if (is_exec(cand))
            return cand;
        free(cand);
        dirs = end ? end + 1 : NULL;
    }
    return NULL;
}

/* A growable vector of argument strings; strings are borrowed, except those
 * added with vec_own (freed with the vector). */
typedef struct Vec {
    const char **v;   /* [n + 1], NULL-terminated */
    size_t n, cap;
    char **owned;     /* [n_owned] strings to free */
    size_t n_owned, cap_owned;
    int oom;          /* an append failed */
} Vec;

static void vec_add(Vec *a, const char *s)
{
    if (a->oom)
        return;
    if (a->n + 2 > a->cap) {
        size_t nc = a->cap ? a->cap * 2 : 64;
        const char **nv = realloc(a->v, nc * sizeof *nv);
        if (!nv) {
            a->oom = 1;
            return;
        }
        a->v = nv;
        a->cap = nc;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

/* Adds a copy of the formatted string. */
static void vec_own(Vec *a, const char *fmt, ...) PLUMB_PRINTF(2, 3);
static void vec_own(Vec *a, const char *fmt, ...)
{
    char tmp[PATH_MAX + 64], *s;
    va_list ap;
    if (a->oom)
        return;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof tmp) {
        a->oom = 1;
        return;
    }
    if (a->n_owned + 1 > a->cap_owned) {
        size_t nc = a->cap_owned ? a->cap_owned * 2 : 16;
        char **no = realloc(a->owned, nc * sizeof *no);
        if (!no) {
            a->oom = 1;
            return;
        }
        a->owned = no;
        a->cap_owned = nc;
    }
    if (!(s = strdup(tmp))) {
        a->oom = 1;
        return;
    }
    a->owned[a->n_owned++] = s;
    vec_add(a, s);
}

static void vec_free(Vec *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->v);
    memset(a, 0, sizeof *a);
}

/* The top-level directories of a Debian system that bwrap recreates: a
 * symlink on the host (merged /usr) becomes the same symlink, a directory a
 * read-only bind. */
static void add_root_dirs(Vec *a)
{
    static const char *const dirs[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        struct stat st;
        char target[PATH_MAX];
        if (lstat(dirs[i], &st) != 0)
            continue;
        if (S_ISLNK(st.st_mode)) {
            ssize_t k = readlink(dirs[i], target, sizeof target - 1);
            if (k <= 0)
                continue;
            target[k] = 0;
            vec_add(a, "--symlink");
            vec_own(a, "%s", target);
            vec_add(a, dirs[i]);
        } else if (S_ISDIR(st.st_mode)) {
            vec_add(a, "--ro-bind");
            vec_add(a, dirs[i]);
            vec_add(a, dirs[i]);
        }
    }
}

/* ------------------------------------------------------------ the child */

typedef struct ChildPlan {
    const char *path;           /* executed file */
    const char *const *argv;
    int in_fd, out_fd, err_fd;  /* become 0, 1, 2 */
    int report_fd;              /* CLOEXEC pipe: errno of a failed step */
    const int *keep_fds;        /* [n_keep] moved to SB_FIRST_RO_FD + i */
    size_t n_keep;
    int drop_root;
    pid_t parent;
    rlim_t cpu, as, nproc, fsize, nofile; /* nproc 0 = leave */
} ChildPlan;

static void child_fail(int fd, int step)
{
    int e[2] = {step, errno};
    ssize_t w = write(fd, e, sizeof e);
    (void)w;
    _exit(127);
}

static void close_from(int lo)
{
    if (syscall(SYS_close_range, (unsigned)lo, ~0u, 0u) == 0)
        return;
    long max = sysconf(_SC_OPEN_MAX);
    if (max < 0 || max > 65536)
        max = 65536;
    for (int fd = lo; fd < max; fd++)
        close(fd);
}

/* Moves fd to want, which must not be a descriptor still needed. */
static int move_fd(int fd, int want)
{
    if (fd == want)
        return fcntl(fd, F_SETFD, 0);
    return dup2(fd, want) < 0 ? -1 : 0;
}

static void setlim(int fd, int res, rlim_t soft, rlim_t hard, int step)
{
    struct rlimit r = {soft, hard};
    struct rlimit cur;
    if (getrlimit(res, &cur) == 0 && cur.rlim_max != RLIM_INFINITY) {
        if (r.rlim_max > cur.rlim_max)
            r.rlim_max = cur.rlim_max;
        if (r.rlim_cur > r.rlim_max)
            r.rlim_cur = r.rlim_max;
    }
    if (setrlimit(res, &r) != 0)
        child_fail(fd, step);
}

__attribute__((noreturn)) static void run_child(const ChildPlan *c)
{
    /* Every descriptor we need is first moved above the target range so the
     * dup2s below cannot overwrite one another. */
    int hi = SB_FIRST_RO_FD + (int)c->n_keep + 16;
    int rep = fcntl(c->report_fd, F_DUPFD_CLOEXEC, hi);
    if (rep < 0)
        _exit(127);
    int in = fcntl(c->in_fd, F_DUPFD, hi), out = fcntl(c->out_fd, F_DUPFD, hi),
        er = fcntl(c->err_fd, F_DUPFD, hi);
    if (in < 0 || out < 0 || er < 0)
        child_fail(rep, 1);
    int keep[SB_MAX_RO_FILES];
    for (size_t i = 0; i < c->n_keep; i++)
        if ((keep[i] = fcntl(c->keep_fds[i], F_DUPFD, hi)) < 0)
            child_fail(rep, 1);
    if (move_fd(in, 0) || move_fd(out, 1) || move_fd(er, 2))
        child_fail(rep, 1);
    if (move_fd(rep, 3) || fcntl(3, F_SETFD, FD_CLOEXEC))
        child_fail(rep, 1);
    rep = 3;
    for (size_t i = 0; i < c->n_keep; i++)
        if (move_fd(keep[i], SB_FIRST_RO_FD + (int)i))
            child_fail(rep, 1);
    close_from(SB_FIRST_RO_FD + (int)c->n_keep);

    if (setsid() < 0)
        child_fail(rep, 2);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int s = 1; s < 32; s++)
        if (s != SIGKILL && s != SIGSTOP)
            signal(s, SIG_DFL);

    setlim(rep, RLIMIT_CORE, 0, 0, 3);
    setlim(rep, RLIMIT_CPU, c->cpu, c->cpu + 1, 3);
    setlim(rep, RLIMIT_AS, c->as, c->as, 3);
    setlim(rep, RLIMIT_FSIZE, c->fsize, c->fsize, 3);
    setlim(rep, RLIMIT_NOFILE, c->nofile, c->nofile, 3);
    if (c->nproc)
        setlim(rep, RLIMIT_NPROC, c->nproc, c->nproc, 3);

    if (c->drop_root) {
        if (setgroups(0, NULL) != 0 || setresgid(SB_NOBODY, SB_NOBODY, SB_NOBODY) != 0 ||
            setresuid(SB_NOBODY, SB_NOBODY, SB_NOBODY) != 0)
            child_fail(rep, 4);
    }
    /* After the credentials change, which clears it. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
        child_fail(rep, 5);
    if (getppid() != c->parent)
        _exit(127);
    if (chdir("/") != 0)
        child_fail(rep, 6);
    execve(c->path, (char *const *)c->argv, (char *const *)sb_env);
    child_fail(rep, 7);
    _exit(127);
}

static const char *step_name(int step)
{
    switch (step) {
    case 1: return "moving descriptors";
    case 2: return "setsid";
    case 3: return "setrlimit";
    case 4: return "dropping root to nobody";
    case 5: return "prctl(PR_SET_PDEATHSIG)";
    case 6: return "chdir";
    case 7: return "execve";
    default: return "setting up the child";
    }
}

/* ------------------------------------------------------------ the parent */

typedef struct Stream {
    int fd;         /* -1 once closed */
    char *p;        /* [cap + 1] */
    size_t len, cap;
    int truncated;
} Stream;

/* Read what is there; returns 1 when the cap has been passed.  Past the cap
 * the bytes are read and dropped: closing the pipe instead would make the
 * writer fail with EPIPE and report that on stderr before it is killed. */
static int stream_read(Stream *s)
{
    char tmp[65536];
    for (;;) {
        ssize_t k = read(s->fd, tmp, sizeof tmp);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return s->truncated;
        if (k <= 0) {
            close(s->fd);
            s->fd = -1;
            return s->truncated;
        }
        size_t room = s->cap - s->len, take = (size_t)k < room ? (size_t)k : room;
        memcpy(s->p + s->len, tmp, take);
        s->len += take;
        if (take < (size_t)k)
            s->truncated = 1;
        if (s->truncated)
            return 1; /* back to the caller, which stops the writer */
    }
}

static int set_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
    long fd = syscall(SYS_pidfd_open, pid, 0);
    return fd < 0 ? -1 : (int)fd;
#else
    (void)pid;
    return -1;
#endif
}

typedef struct Spawn {
    const char *path;
    const char *const *argv;
    const int *keep_fds;
    size_t n_keep;
    int drop_root;
    rlim_t nproc;          /* 0: leave RLIMIT_NPROC as it is */
} Spawn;

static int run(const Spawn *sp, const SandboxParams *p, SandboxResult *res, PlumbError *err)
{
    double wall = p->wall_s > 0 ? p->wall_s : 50.0;
    double cpu = p->cpu_s > 0 ? p->cpu_s : wall + 1.0;
    size_t cap = p->max_output ? p->max_output : (size_t)1 << 20;
    int in_sv[2] = {-1, -1}, outp[2] = {-1, -1}, errp[2] = {-1, -1}, rep[2] = {-1, -1};
    int pidfd = -1, rc = PLUMB_OK, status = 0, reaped = 0;
    Stream so = {.fd = -1}, se = {.fd = -1};
    pid_t pid = -1;
    size_t in_off = 0;

    memset(res, 0, sizeof *res);
    if (cap > SIZE_MAX / 2)
        return plumb_err(err, PLUMB_EINVAL, "sandbox: max_output %zu is too large", cap);
    so.cap = se.cap = cap;
    so.p = malloc(cap + 1);
    se.p = malloc(cap + 1);
    if (!so.p || !se.p) {
        rc = plumb_err(err, PLUMB_ENOMEM, "sandbox: out of memory for %zu bytes of output", cap);
        goto fail;
    }
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, in_sv) != 0 ||
        pipe2(outp, O_CLOEXEC) != 0 || pipe2(errp, O_CLOEXEC) != 0 || pipe2(rep, O_CLOEXEC) != 0) {
        rc = plumb_err(err, PLUMB_EIO, "sandbox: pipe: %s", strerror(errno));
        goto fail;
    }

    ChildPlan plan = {
        .path = sp->path, .argv = sp->argv,
        .in_fd = in_sv[1], .out_fd = outp[1], .err_fd = errp[1], .report_fd = rep[1],
        .keep_fds = sp->keep_fds, .n_keep = sp->n_keep, .drop_root = sp->drop_root,
        .parent = getpid(),
        .cpu = (rlim_t)(cpu + 0.999), .as = p->mem_bytes ? (rlim_t)p->mem_bytes : (rlim_t)1 << 30,
        .nproc = sp->nproc, .fsize = SB_FSIZE, .nofile = SB_NOFILE,
    };
    double start = now_s();
    pid = fork();
    if (pid < 0) {
        rc = plumb_err(err, PLUMB_EIO, "sandbox: fork: %s", strerror(errno));
        goto fail;
    }
    if (pid == 0)
        run_child(&plan);

    close(in_sv[1]); in_sv[1] = -1;
    close(outp[1]); outp[1] = -1;
    close(errp[1]); errp[1] = -1;
    close(rep[1]); rep[1] = -1;

    /* Did the exec happen?  The report pipe closes on exec, or carries the
     * failed step and errno. */
    {
        int e[2];
        ssize_t k;
        do
            k = read(rep[0], e, sizeof e);
        while (k < 0 && errno == EINTR);
        if (k == (ssize_t)sizeof e) {
            waitpid(pid, NULL, 0);
            pid = -1;
            rc = plumb_err(err, e[0] == 7 && e[1] == ENOENT ? PLUMB_EUNSUPPORTED : PLUMB_EIO,
                           "sandbox: %s: %s: %s", sp->path, step_name(e[0]), strerror(e[1]));
            goto fail;
        }
    }

    so.fd = outp[0]; outp[0] = -1;
    se.fd = errp[0]; errp[0] = -1;
    if (set_nonblock(so.fd) || set_nonblock(se.fd) || set_nonblock(in_sv[0])) {
        rc = plumb_err(err, PLUMB_EIO, "sandbox: fcntl: %s", strerror(errno));
        goto fail;
    }
    if (!p->stdin_data || !p->stdin_len) {
        close(in_sv[0]);
        in_sv[0] = -1;
    }
    pidfd = open_pidfd(pid);

    int killed = 0;
    double deadline = start + wall, drain_until = 0;
    for (;;) {
        struct pollfd fds[4];
        int nf = 0, i_in = -1, i_out = -1, i_err = -1, i_pid = -1;
        if (in_sv[0] >= 0) {
            fds[nf] = (struct pollfd){.fd = in_sv[0], .events = POLLOUT};
            i_in = nf++;
        }
        if (so.fd >= 0) {
            fds[nf] = (struct pollfd){.fd = so.fd, .events = POLLIN};
            i_out = nf++;
        }
        if (se.fd >= 0) {
            fds[nf] = (struct pollfd){.fd = se.fd, .events = POLLIN};
            i_err = nf++;
        }
        if (!reaped && pidfd >= 0) {
            fds[nf] = (struct pollfd){.fd = pidfd, .events = POLLIN};
            i_pid = nf++;
        }
        if (reaped && so.fd < 0 && se.fd < 0)
            break;
        double t = now_s();
        if (!killed && t >= deadline) {
            kill(-pid, SIGKILL);
            killed = 1;
            res->timed_out = 1;
            drain_until = t + SB_DRAIN_MS / 1000.0;
        }
        if (drain_until > 0 && t >= drain_until)
            break; /* a writer outside the group still holds a pipe open */
        double until = drain_until > 0 ? drain_until : deadline;
        int ms = (int)((until - t) * 1000.0) + 1;
        if (ms < 0)
            ms = 0;
        if (!reaped && (pidfd < 0 || drain_until > 0) && ms > 50)
            ms = 50;
        int n = poll(fds, (nfds_t)nf, ms);
        if (n < 0 && errno != EINTR) {
            rc = plumb_err(err, PLUMB_EIO, "sandbox: poll: %s", strerror(errno));
            goto fail;
        }
        if (n > 0) {
            if (i_in >= 0 && fds[i_in].revents) {
                if (fds[i_in].revents & POLLOUT) {
                    ssize_t k = send(in_sv[0], (const char *)p->stdin_data + in_off,
                                     p->stdin_len - in_off, MSG_NOSIGNAL | MSG_DONTWAIT);
                    if (k > 0)
                        in_off += (size_t)k;
                    if ((k < 0 && errno != EAGAIN && errno != EINTR) || in_off == p->stdin_len) {
                        close(in_sv[0]);
                        in_sv[0] = -1;
                    }
                } else {
                    close(in_sv[0]);
                    in_sv[0] = -1;
                }
            }
            int over = 0;
            if (i_out >= 0 && fds[i_out].revents)
                over |= stream_read(&so);
            if (i_err >= 0 && fds[i_err].revents)
                over |= stream_read(&se);
            if (over && !killed) {
                /* Past the cap: nothing more is kept, so stop the writer. */
                kill(-pid, SIGKILL);
                killed = 1;
                drain_until = now_s() + SB_DRAIN_MS / 1000.0;
            }
        }
        if (!reaped && (i_pid < 0 || (n > 0 && fds[i_pid].revents))) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) {
                reaped = 1;
                /* Whatever it left running in its group goes with it. */
                kill(-pid, SIGKILL);
                if (drain_until == 0)
                    drain_until = now_s() + SB_DRAIN_MS / 1000.0;
            }
        }
    }
    if (!reaped) {
        kill(-pid, SIGKILL);
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    }
    pid = -1;
    if (WIFEXITED(status)) {
        res->exit_code = WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
        res->exit_code = -1;
        res->signal = WTERMSIG(status);
    }
    so.p[so.len] = 0;
    se.p[se.len] = 0;
    res->out = so.p;
    res->out_len = so.len;
    res->out_truncated = so.truncated;
    res->err = se.p;
    res->err_len = se.len;
    res->err_truncated = se.truncated;
    so.p = se.p = NULL;

fail:
    if (pid > 0) {
        kill(-pid, SIGKILL);
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    int fds_all[] = {in_sv[0], in_sv[1], outp[0], outp[1], errp[0], errp[1], rep[0], rep[1],
                     so.fd, se.fd, pidfd};
    for (size_t i = 0; i < sizeof fds_all / sizeof fds_all[0]; i++)
        if (fds_all[i] >= 0)
            close(fds_all[i]);
    free(so.p);
    free(se.p);
    return rc;
}

/* ------------------------------------------------------------ the API */

#define BWRAP_HINT                                                                          \
    "bwrap could not create its namespaces; unprivileged user namespaces are refused "     \
    "(see sysctl kernel.unprivileged_userns_clone, user.max_user_namespaces, or AppArmor's " \
    "kernel.apparmor_restrict_unprivileged_userns)"

/* The bwrap command line up to and including "--" and the prlimit wrapper;
 * the program's argv follows. */
static void bwrap_args(Vec *a, const char *bwrap, const SandboxParams *p, int by_fd,
                       int nproc)
{
    vec_add(a, bwrap);
    vec_add(a, "--unshare-all");
    vec_add(a, "--die-with-parent");
    vec_add(a, "--new-session");
    vec_add(a, "--ro-bind");
    vec_add(a, "/usr");
    vec_add(a, "/usr");
    add_root_dirs(a);
    vec_add(a, "--ro-bind-try");
    vec_add(a, "/etc/ld.so.cache");
    vec_add(a, "/etc/ld.so.cache");
    vec_add(a, "--ro-bind-try");
    vec_add(a, "/etc/alternatives");
    vec_add(a, "/etc/alternatives");
    vec_add(a, "--proc");
    vec_add(a, "/proc");
    vec_add(a, "--dev");
    vec_add(a, "/dev");
    vec_add(a, "--size");
    vec_add(a, SB_TMP_BYTES);
    vec_add(a, "--tmpfs");
    vec_add(a, "/tmp");
    for (size_t i = 0; i < p->n_ro_files; i++) {
        if (by_fd) {
            vec_add(a, "--ro-bind-data");
            vec_own(a, "%lld", SB_FIRST_RO_FD + (long long)i);
        } else {
            vec_add(a, "--ro-bind");
            vec_add(a, p->ro_files[i]);
        }
        vec_add(a, p->ro_files[i]);
    }
    vec_add(a, "--clearenv");
    for (size_t i = 0; sb_env_pairs[i][0]; i++) {
        vec_add(a, "--setenv");
        vec_add(a, sb_env_pairs[i][0]);
        vec_add(a, sb_env_pairs[i][1]);
    }
    vec_add(a, "--chdir");
    vec_add(a, "/tmp");
    vec_add(a, "--");
    vec_add(a, "/usr/bin/prlimit");
    vec_own(a, "--nproc=%d", nproc);
    vec_add(a, "--");
}

int sandbox_run(const char *const *argv, const SandboxParams *p, SandboxResult *res,
                PlumbError *err)
{
    static const SandboxParams defaults;
    Vec a = {0};
    char *prog = NULL, *bwrap = NULL;
    int keep[SB_MAX_RO_FILES], n_keep = 0, rc;

    if (!res)
        return plumb_err(err, PLUMB_EINVAL, "sandbox: no result given");
    memset(res, 0, sizeof *res);
    if (!p)
        p = &defaults;
    if (!argv || !argv[0] || !*argv[0])
        return plumb_err(err, PLUMB_EINVAL, "sandbox: no program given");
    if (p->n_ro_files > SB_MAX_RO_FILES)
        return plumb_err(err, PLUMB_EINVAL, "sandbox: %zu ro_files (at most %d)", p->n_ro_files,
                         SB_MAX_RO_FILES);
    if (p->n_ro_files && !p->ro_files)
        return plumb_err(err, PLUMB_EINVAL, "sandbox: n_ro_files %zu without ro_files",
                         p->n_ro_files);
    int nproc = p->max_procs > 0 ? p->max_procs : 64;

    /* The program is looked up where the sandbox's PATH points. */
    prog = search_path(argv[0], "/usr/bin:/bin");
    if (!prog) {
        rc = plumb_err(err, PLUMB_EUNSUPPORTED, "sandbox: program '%s' not found in /usr/bin:/bin",
                       argv[0]);
        goto out;
    }

    if (!p->use_bwrap) {
        vec_add(&a, prog);
        for (size_t i = 1; argv[i]; i++)
            vec_add(&a, argv[i]);
        if (a.oom) {
            rc = plumb_err(err, PLUMB_ENOMEM, "sandbox: out of memory");
            goto out;
        }
        Spawn sp = {.path = prog, .argv = a.v, .nproc = (rlim_t)nproc};
        rc = run(&sp, p, res, err);
        goto out;
    }

    if (p->bwrap && *p->bwrap)
        bwrap = strchr(p->bwrap, '/') ? (is_exec(p->bwrap) ? strdup(p->bwrap) : NULL)
                                      : search_path(p->bwrap, getenv("PATH"));
    else
        bwrap = search_path("bwrap", getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    if (!bwrap) {
        rc = plumb_err(err, PLUMB_EUNSUPPORTED,
                       "sandbox: bwrap not found%s%s%s (install the Debian package bubblewrap)",
                       p->bwrap ? " at '" : " in PATH", p->bwrap ? p->bwrap : "",
                       p->bwrap ? "'" : "");
        goto out;
    }
    if (!is_exec("/usr/bin/prlimit")) {
        rc = plumb_err(err, PLUMB_EUNSUPPORTED,
                       "sandbox: /usr/bin/prlimit not found (install the Debian package util-linux)");
        goto out;
    }
    if (strncmp(prog, "/usr/", 5) != 0 && strncmp(prog, "/bin/", 5) != 0) {
        rc = plumb_err(err, PLUMB_EINVAL, "sandbox: %s is not under /usr, so not inside the sandbox",
                       prog);
        goto out;
    }

    int as_root = geteuid() == 0;
    for (size_t i = 0; i < p->n_ro_files; i++) {
        const char *f = p->ro_files[i];
        if (!f || f[0] != '/') {
            rc = plumb_err(err, PLUMB_EINVAL, "sandbox: ro_files[%zu] '%s' is not an absolute path",
                           i, f ? f : "(null)");
            goto out;
        }
        int fd = open(f, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            rc = plumb_err(err, PLUMB_EIO, "sandbox: %s: %s", f, strerror(errno));
            goto out;
        }
        if (as_root) {
            keep[n_keep++] = fd;
        } else {
            close(fd);
        }
    }

    bwrap_args(&a, bwrap, p, as_root, nproc);
    for (size_t i = 0; argv[i]; i++)
        vec_add(&a, i == 0 ? prog : argv[i]);
    if (a.oom) {
        rc = plumb_err(err, PLUMB_ENOMEM, "sandbox: out of memory");
        goto out;
    }
    Spawn sp = {.path = bwrap, .argv = a.v, .keep_fds = keep, .n_keep = (size_t)n_keep,
                .drop_root = as_root};
    rc = run(&sp, p, res, err);
    if (rc != PLUMB_OK)
        goto out;

    /* bwrap exits with 1 and says why when it cannot set the sandbox up. */
    if (res->exit_code == 1 && res->out_len == 0 && strncmp(res->err, "bwrap: ", 7) == 0) {
        Vec pa = {0};
        SandboxParams pp = {.use_bwrap = 1, .wall_s = 10, .max_output = 4096};
        SandboxResult pr;
        bwrap_args(&pa, bwrap, &pp, 0, nproc);
        vec_add(&pa, "/usr/bin/true");
        if (pa.oom) {
            vec_free(&pa);
            sandbox_result_free(res);
            rc = plumb_err(err, PLUMB_ENOMEM, "sandbox: out of memory");
            goto out;
        }
        Spawn ps = {.path = bwrap, .argv = pa.v, .drop_root = as_root};
        int prc = run(&ps, &pp, &pr, err);
        vec_free(&pa);
        if (prc != PLUMB_OK) {
            sandbox_result_free(res);
            rc = prc;
            goto out;
        }
        if (pr.exit_code != 0) {
            size_t l = strcspn(pr.err, "\n");
            rc = plumb_err(err, PLUMB_EUNSUPPORTED, "sandbox: %s said '%.*s': " BWRAP_HINT
                           " (bwrap is the Debian package bubblewrap)", bwrap, (int)l, pr.err);
            sandbox_result_free(&pr);
            sandbox_result_free(res);
            goto out;
        }
        sandbox_result_free(&pr);
    }
    /* bwrap reports a program killed by signal N as status 128 + N. */
    if (res->exit_code > 128 && res->exit_code < 128 + 65) {
        res->signal = res->exit_code - 128;
        res->exit_code = -1;
    }
out:
    for (int i = 0; i < n_keep; i++)
        close(keep[i]);
    vec_free(&a);
    free(prog);
    free(bwrap);
    return rc;
}

void sandbox_result_free(SandboxResult *r)
{
    if (!r)
        return;
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}
