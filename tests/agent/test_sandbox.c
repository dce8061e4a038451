/*
 * test_sandbox.c — sandbox_run: exit codes, output capture, stdin, the output
 * cap, the wall clock and the process group, the CPU limit, a missing
 * program or bwrap; under bwrap, the clean environment, read-only files and
 * a contained fork bomb, both as root and (when root) again as nobody.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox.h"
#include "../testlib.h"

static int have_bwrap;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Processes (not zombies) whose command line holds arg; -1 on error. */
static int count_alive_with_arg(const char *arg)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d))) {
        char path[300], buf[4096];
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t k = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (k <= 0)
            continue;
        int hit = 0;
        for (ssize_t i = 0; i < k; i += (ssize_t)strlen(buf + i) + 1) {
            buf[k] = 0;
            if (strcmp(buf + i, arg) == 0)
                hit = 1;
        }
        if (!hit)
            continue;
        snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
        FILE *f = fopen(path, "r");
        char state = 'Z';
        if (f) {
            if (fscanf(f, "%*d (%*[^)]) %c", &state) != 1)
                state = 'Z';
            fclose(f);
        }
        if (state != 'Z' && state != 'X')
            n++;
    }
    closedir(d);
    return n;
}

static int wait_none_alive(const char *arg)
{
    for (int i = 0; i < 40; i++) {
        int n = count_alive_with_arg(arg);
        if (n == 0)
            return 0;
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return count_alive_with_arg(arg);
}

static int sh(const char *script, SandboxParams *p, SandboxResult *r, PlumbError *e)
{
    const char *argv[] = {"sh", "-c", script, NULL};
    return sandbox_run(argv, p, r, e);
}

static void test_basic(int bw)
{
    SandboxParams p = {.use_bwrap = bw, .wall_s = 20};
    SandboxResult r;
    PlumbError e = {0};
    const char *mode = bw ? "bwrap" : "plain";

    int rc = sh("echo out; echo err >&2; exit 3", &p, &r, &e);
    CHECK(rc == PLUMB_OK, "%s: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(r.exit_code == 3 && r.signal == 0, "%s: exit %d signal %d", mode, r.exit_code, r.signal);
        CHECK(strcmp(r.out, "out\n") == 0 && r.out_len == 4, "%s: out '%s'", mode, r.out);
        CHECK(strcmp(r.err, "err\n") == 0 && r.err_len == 4, "%s: err '%s'", mode, r.err);
        CHECK(!r.timed_out && !r.out_truncated && !r.err_truncated, "%s: flags", mode);
        sandbox_result_free(&r);
    }

    /* stdin: 3 MiB through cat, far more than a pipe holds. */
    size_t n = 3u << 20;
    char *in = malloc(n);
    for (size_t i = 0; i < n; i++)
        in[i] = (char)('a' + i % 26);
    p.stdin_data = in;
    p.stdin_len = n;
    p.max_output = 4u << 20;
    const char *cat[] = {"cat", NULL};
    rc = sandbox_run(cat, &p, &r, &e);
    CHECK(rc == PLUMB_OK, "%s: cat: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(r.exit_code == 0, "%s: cat exit %d: %s", mode, r.exit_code, r.err);
        CHECK(r.out_len == n && memcmp(r.out, in, n) == 0, "%s: cat gave %zu of %zu bytes", mode,
              r.out_len, n);
        sandbox_result_free(&r);
    }
    /* A child that does not read its stdin must not hurt us (no SIGPIPE). */
    rc = sh("exec 0<&-; echo closed", &p, &r, &e);
    CHECK(rc == PLUMB_OK, "%s: unread stdin: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(strcmp(r.out, "closed\n") == 0, "%s: out '%s'", mode, r.out);
        sandbox_result_free(&r);
    }
    free(in);
    p.stdin_data = NULL;
    p.stdin_len = 0;

    /* Only 0, 1 and 2 are open in the program (3 is ls's own directory). */
    p.max_output = 0;
    rc = sh("exec ls /proc/self/fd", &p, &r, &e);
    CHECK(rc == PLUMB_OK, "%s: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(strcmp(r.out, "0\n1\n2\n3\n") == 0, "%s: open fds '%s'", mode, r.out);
        sandbox_result_free(&r);
    }

    /* The environment is the clean one. */
    const char *env[] = {"env", NULL};
    rc = sandbox_run(env, &p, &r, &e);
    CHECK(rc == PLUMB_OK, "%s: env: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        /* bwrap --chdir sets PWD */
        CHECK(strcmp(r.out, bw ? "PATH=/usr/bin:/bin\nLANG=C.UTF-8\nHOME=/tmp\nPWD=/tmp\n"
                                : "PATH=/usr/bin:/bin\nLANG=C.UTF-8\nHOME=/tmp\n") == 0,
              "%s: env '%s'", mode, r.out);
        sandbox_result_free(&r);
    }
}

static void test_cap(int bw)
{
    SandboxParams p = {.use_bwrap = bw, .wall_s = 20, .max_output = 10000};
    SandboxResult r;
    PlumbError e = {0};
    const char *mode = bw ? "bwrap" : "plain";
    struct rusage ru0, ru1;
    getrusage(RUSAGE_SELF, &ru0);
    double t0 = now_s();
    const char *yes[] = {"yes", "spam", NULL};
    int rc = sandbox_run(yes, &p, &r, &e);
    double dt = now_s() - t0;
    getrusage(RUSAGE_SELF, &ru1);
    CHECK(rc == PLUMB_OK, "%s: yes: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(r.out_len == 10000 && r.out_truncated, "%s: kept %zu, truncated %d", mode, r.out_len,
              r.out_truncated);
        CHECK(strncmp(r.out, "spam\nspam\n", 10) == 0, "%s: out starts '%.10s'", mode, r.out);
        CHECK(!r.timed_out && r.signal == SIGKILL, "%s: timed_out %d signal %d", mode, r.timed_out,
              r.signal);
        sandbox_result_free(&r);
    }
    CHECK(dt < 10, "%s: an endless writer took %.1f s to stop", mode, dt);
    CHECK(ru1.ru_maxrss - ru0.ru_maxrss < 16 * 1024, "%s: rss grew %ld KiB", mode,
          ru1.ru_maxrss - ru0.ru_maxrss);

    /* The same on stderr. */
    rc = sh("yes err >&2", &p, &r, &e);
    CHECK(rc == PLUMB_OK, "%s: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(r.err_len == 10000 && r.err_truncated && r.out_len == 0, "%s: err kept %zu", mode,
              r.err_len);
        sandbox_result_free(&r);
    }
}

static void test_wall(int bw)
{
    SandboxParams p = {.use_bwrap = bw, .wall_s = 1};
    SandboxResult r;
    PlumbError e = {0};
    const char *mode = bw ? "bwrap" : "plain";
    const char *marker = bw ? "1000.25" : "1000.5";
    char script[256];
    /* A child in the background, one in a subshell, and a sleeping parent. */
    snprintf(script, sizeof script,
             "sleep %s & (sleep %s; :) & echo started; sleep %s; echo never", marker, marker,
             marker);
    double t0 = now_s();
    int rc = sh(script, &p, &r, &e);
    double dt = now_s() - t0;
    CHECK(rc == PLUMB_OK, "%s: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(r.timed_out, "%s: not timed out", mode);
        CHECK(strcmp(r.out, "started\n") == 0, "%s: out '%s'", mode, r.out);
        CHECK(r.signal == SIGKILL && r.exit_code == -1, "%s: exit %d signal %d", mode, r.exit_code,
              r.signal);
        sandbox_result_free(&r);
    }
    CHECK(dt >= 0.9 && dt < 5, "%s: took %.2f s for a 1 s limit", mode, dt);
    int alive = wait_none_alive(marker);
    CHECK(alive == 0, "%s: %d processes of the group survived", mode, alive);

    /* A program that exits while its background child still holds stdout:
     * the run ends with the program, and the child is killed. */
    const char *marker2 = bw ? "1001.25" : "1001.5";
    snprintf(script, sizeof script, "sleep %s & echo bye", marker2);
    p.wall_s = 20;
    t0 = now_s();
    rc = sh(script, &p, &r, &e);
    dt = now_s() - t0;
    CHECK(rc == PLUMB_OK, "%s: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(!r.timed_out && r.exit_code == 0 && strcmp(r.out, "bye\n") == 0,
              "%s: timed_out %d exit %d out '%s'", mode, r.timed_out, r.exit_code, r.out);
        sandbox_result_free(&r);
    }
    CHECK(dt < 5, "%s: waited %.2f s for a background child", mode, dt);
    alive = wait_none_alive(marker2);
    CHECK(alive == 0, "%s: %d background processes survived", mode, alive);
}

static void test_cpu(int bw)
{
    SandboxParams p = {.use_bwrap = bw, .wall_s = 20, .cpu_s = 1};
    SandboxResult r;
    PlumbError e = {0};
    const char *mode = bw ? "bwrap" : "plain";
    double t0 = now_s();
    int rc = sh("while :; do :; done", &p, &r, &e);
    double dt = now_s() - t0;
    CHECK(rc == PLUMB_OK, "%s: %s", mode, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(!r.timed_out && (r.signal == SIGXCPU || r.signal == SIGKILL),
              "%s: timed_out %d exit %d signal %d", mode, r.timed_out, r.exit_code, r.signal);
        sandbox_result_free(&r);
    }
    CHECK(dt < 10, "%s: a 1 s CPU limit took %.1f s", mode, dt);
}

static void test_missing(void)
{
    SandboxParams p = {.wall_s = 5};
    SandboxResult r;
    PlumbError e = {0};
    const char *none[] = {"no-such-program-plumb", NULL};
    int rc = sandbox_run(none, &p, &r, &e);
    CHECK(rc == PLUMB_EUNSUPPORTED && strstr(e.msg, "no-such-program-plumb"), "missing: %d %s", rc,
          e.msg);

    p.use_bwrap = 1;
    p.bwrap = "/nonexistent/bwrap";
    const char *t[] = {"true", NULL};
    rc = sandbox_run(t, &p, &r, &e);
    CHECK(rc == PLUMB_EUNSUPPORTED && strstr(e.msg, "bubblewrap") &&
              strstr(e.msg, "/nonexistent/bwrap"),
          "no bwrap: %d %s", rc, e.msg);

    /* A "bwrap" that cannot make namespaces: exits 1 with bwrap's words. */
    char dir[] = "/tmp/test_sandbox.XXXXXX", fake[64];
    if (mkdtemp(dir)) {
        chmod(dir, 0755); /* root runs bwrap as nobody */
        snprintf(fake, sizeof fake, "%s/bwrap", dir);
        FILE *f = fopen(fake, "w");
        if (f) {
            fputs("#!/bin/sh\necho 'bwrap: setting up uid map: Permission denied' >&2\nexit 1\n", f);
            fclose(f);
            chmod(fake, 0755);
            p.bwrap = fake;
            rc = sandbox_run(t, &p, &r, &e);
            CHECK(rc == PLUMB_EUNSUPPORTED && strstr(e.msg, "uid map") &&
                      strstr(e.msg, "user namespaces") && strstr(e.msg, "bubblewrap"),
                  "refused namespaces: %d %s", rc, e.msg);
            if (rc == PLUMB_OK)
                sandbox_result_free(&r);
            unlink(fake);
        }
        rmdir(dir);
    }
    /* The program itself printing like bwrap is just its output. */
    if (have_bwrap) {
        p.bwrap = NULL;
        rc = sh("echo 'bwrap: fake' >&2; exit 1", &p, &r, &e);
        CHECK(rc == PLUMB_OK, "fake bwrap words: %d %s", rc, e.msg);
        if (rc == PLUMB_OK) {
            CHECK(r.exit_code == 1 && strcmp(r.err, "bwrap: fake\n") == 0, "exit %d err '%s'",
                  r.exit_code, r.err);
            sandbox_result_free(&r);
        }
    }
}

/* Under bwrap only: what the program can see and do. */
static void test_bwrap_inside(void)
{
    SandboxParams p = {.use_bwrap = 1, .wall_s = 20};
    SandboxResult r;
    PlumbError e = {0};
    const char *who = geteuid() == 0 ? "root" : "user";

    /* A private file (mode 0600 in a 0700 directory) given as ro_files. */
    char dir[] = "/tmp/test_sandbox.XXXXXX", file[64];
    if (mkdtemp(dir)) {
        snprintf(file, sizeof file, "%s/secret.txt", dir);
        FILE *f = fopen(file, "w");
        if (f) {
            fputs("private words\n", f);
            fclose(f);
            chmod(file, 0600);
            const char *files[] = {file};
            p.ro_files = files;
            p.n_ro_files = 1;
            char script[256];
            snprintf(script, sizeof script, "cat %s; echo x > %s || echo ro", file, file);
            int rc = sh(script, &p, &r, &e);
            CHECK(rc == PLUMB_OK, "%s: ro_files: %s", who, e.msg);
            if (rc == PLUMB_OK) {
                CHECK(strcmp(r.out, "private words\nro\n") == 0, "%s: ro_files out '%s' err '%s'",
                      who, r.out, r.err);
                sandbox_result_free(&r);
            }
            p.ro_files = NULL;
            p.n_ro_files = 0;
            unlink(file);
        }
        rmdir(dir);
    }

    /* The root holds /usr, the symlinks, /etc with two entries, /tmp. */
    int rc = sh("ls /etc | tr '\\n' ' '; test -e /work || test -e /root || echo hidden;"
                " cat /proc/net/dev | tail -n +3 | cut -d: -f1 | tr -d ' '",
                &p, &r, &e);
    CHECK(rc == PLUMB_OK, "%s: %s", who, e.msg);
    if (rc == PLUMB_OK) {
        CHECK(strcmp(r.out, "alternatives ld.so.cache hidden\nlo\n") == 0, "%s: inside '%s' '%s'",
              who, r.out, r.err);
        sandbox_result_free(&r);
    }

    /* A fork bomb stops at max_procs. */
    p.max_procs = 16;
    rc = sh("(n=0; while [ $n -lt 200 ]; do sleep 5 & n=$((n+1)); done) 2>/dev/null;"
            " set -- /proc/[0-9]*; echo $#",
            &p, &r, &e);
    CHECK(rc == PLUMB_OK, "%s: fork bomb: %s", who, e.msg);
    if (rc == PLUMB_OK) {
        int procs = atoi(r.out);
        CHECK(procs > 1 && procs <= 20, "%s: %d processes in the sandbox ('%s' '%.200s')", who,
              procs, r.out, r.err);
        sandbox_result_free(&r);
    }
}

int main(int argc, char **argv)
{
    have_bwrap = access("/usr/bin/bwrap", X_OK) == 0;

    if (argc > 1 && strcmp(argv[1], "--inside-only") == 0) {
        /* Run again as nobody by the root run below. */
        test_basic(1);
        test_bwrap_inside();
        return test_done("test_sandbox (as nobody)");
    }

    test_missing();
    test_basic(0);
    test_cap(0);
    test_wall(0);
    test_cpu(0);
    if (!have_bwrap) {
        fprintf(stderr, "test_sandbox: bwrap not installed (Debian package bubblewrap); "
                        "its tests are skipped\n");
        return test_done("test_sandbox");
    }
    test_basic(1);
    test_cap(1);
    test_wall(1);
    test_cpu(1);
    test_bwrap_inside();

    /* As root, the unprivileged path too: this program again as nobody. */
    char self[4096];
    ssize_t k = readlink("/proc/self/exe", self, sizeof self - 1);
    if (geteuid() == 0 && access("/usr/bin/setpriv", X_OK) == 0 && k > 0) {
        self[k] = 0;
        pid_t pid = fork();
        if (pid == 0) {
            execl("/usr/bin/setpriv", "setpriv", "--reuid=65534", "--regid=65534",
                  "--clear-groups", self, "--inside-only", (char *)NULL);
            _exit(126);
        }
        int st = 0;
        waitpid(pid, &st, 0);
        CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the run as nobody failed (status %d)", st);
    }
    return test_done("test_sandbox");
}
