/*
 * test_outfile.c — src/outfile.c: a new file appears only at commit, with
 * the umask's mode; abort leaves the target as it was and no temporary file;
 * existing files need FORCE; symbolic links are refused or followed on
 * request; directories and sockets are refused; FIFOs and character
 * devices are written in place (a device made with mknod when root); "-"
 * is standard output only when allowed; the input is refused as output
 * through a hard link or a symbolic link; the free-space check names the
 * directory and the numbers; /proc gets a clear message; SIGINT, SIGTERM and
 * SIGHUP remove the temporary files and still end the process.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "outfile.h"
#include "testlib.h"

static char dir[256];

static const char *at(const char *name)
{
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static void put(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

/* The file's content ("" when missing or unreadable, static buffer). */
static const char *content(const char *path)
{
    static char buf[256];
    FILE *f = fopen(path, "rb");
    size_t n = 0;
    buf[0] = '\0';
    if (f) {
        n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
    }
    buf[n] = '\0';
    return buf;
}

/* Entries of dir whose name starts with prefix. */
static int count_prefix(const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    while (d && (e = readdir(d)))
        n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
    if (d)
        closedir(d);
    return n;
}

static int write_str(PlumbOutFile *f, const char *s, PlumbError *err)
{
    return plumb_outfile_write(f, s, strlen(s), err);
}

static void test_new_file(void)
{
    PlumbOutFile f = { 0 };
    PlumbError err = { 0 };
    struct stat st;
    mode_t old = umask(027);
    int rc = plumb_outfile_open(&f, at("new.bin"), 0, NULL, 0, &err);
    CHECK(rc == 0 && f.kind == PLUMB_OUT_TEMP, "open: %s", err.msg);
    CHECK(count_prefix("new.bin.tmp-") == 1, "no temporary file while writing");
    CHECK(access(at("new.bin"), F_OK) != 0, "the target appeared before the commit");
    rc = write_str(&f, "hello", &err);
    rc |= plumb_outfile_commit(&f, &err);
    CHECK(rc == 0, "write and commit: %s", err.msg);
    CHECK(strcmp(content(at("new.bin")), "hello") == 0, "content '%s'", content(at("new.bin")));
    CHECK(stat(at("new.bin"), &st) == 0 && (st.st_mode & 0777) == 0640, "mode %o, want 640",
          (unsigned)(st.st_mode & 0777));
    CHECK(count_prefix("new.bin.tmp-") == 0, "temporary file left after commit");
    CHECK(f.fd == -1 && f.kind == PLUMB_OUT_NONE, "not closed after commit");
    plumb_outfile_abort(&f); /* harmless after commit */
    CHECK(strcmp(content(at("new.bin")), "hello") == 0, "abort after commit changed the file");
    umask(old);

    /* abort: nothing left, nothing created */
    rc = plumb_outfile_open(&f, at("gone.bin"), 0, NULL, 0, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    write_str(&f, "partial", &err);
    plumb_outfile_abort(&f);
    CHECK(access(at("gone.bin"), F_OK) != 0 && count_prefix("gone.bin") == 0,
          "abort left files");
}

static void test_existing(void)
{
    PlumbOutFile f = { 0 };
    PlumbError err = { 0 };
    int rc;
    put(at("old.bin"), "old");
    /* an unrelated file at the old fixed temporary name is never touched */
    put(at("old.bin.tmp"), "bystander");
    rc = plumb_outfile_open(&f, at("old.bin"), 0, NULL, 0, &err);
    CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "exists"), "existing file without FORCE: %d %s",
          rc, err.msg);
    rc = plumb_outfile_open(&f, at("old.bin"), PLUMB_OUT_FORCE, NULL, 0, &err);
    CHECK(rc == 0, "FORCE: %s", err.msg);
    write_str(&f, "new", &err);
    CHECK(strcmp(content(at("old.bin")), "old") == 0, "target changed before commit");
    plumb_outfile_abort(&f);
    CHECK(strcmp(content(at("old.bin")), "old") == 0, "abort changed the target");
    rc = plumb_outfile_open(&f, at("old.bin"), PLUMB_OUT_FORCE, NULL, 0, &err);
    rc |= write_str(&f, "new", &err);
    rc |= plumb_outfile_commit(&f, &err);
    CHECK(rc == 0 && strcmp(content(at("old.bin")), "new") == 0, "replace: %s", err.msg);
    CHECK(strcmp(content(at("old.bin.tmp")), "bystander") == 0, "OUT.tmp was touched");

    /* without FORCE, a file that appears meanwhile is not replaced */
    rc = plumb_outfile_open(&f, at("race.bin"), 0, NULL, 0, &err);
    CHECK(rc == 0, "open: %s", err.msg);
    write_str(&f, "mine", &err);
    put(at("race.bin"), "theirs");
    rc = plumb_outfile_commit(&f, &err);
    CHECK(rc == PLUMB_EINVAL && strcmp(content(at("race.bin")), "theirs") == 0,
          "a file created meanwhile was replaced: %d %s", rc, err.msg);
    CHECK(count_prefix("race.bin.tmp-") == 0, "temporary file left after a failed commit");
}

static void test_links(void)
{
    PlumbOutFile f = { 0 };
    PlumbError err = { 0 };
    struct stat st;
    int rc;
    put(at("victim"), "precious");
    if (symlink(at("victim"), at("link")) != 0) {
        CHECK(0, "symlink: %s", strerror(errno));
        return;
    }
    rc = plumb_outfile_open(&f, at("link"), PLUMB_OUT_FORCE, NULL, 0, &err);
    CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "symbolic link"), "link not refused: %s", err.msg);
    CHECK(strcmp(content(at("victim")), "precious") == 0, "the link's target changed");
    /* FOLLOW: the file it points to is replaced, the link stays */
    rc = plumb_outfile_open(&f, at("link"), PLUMB_OUT_FORCE | PLUMB_OUT_FOLLOW, NULL, 0, &err);
    rc |= write_str(&f, "updated", &err);
    rc |= plumb_outfile_commit(&f, &err);
    CHECK(rc == 0, "follow: %s", err.msg);
    CHECK(lstat(at("link"), &st) == 0 && S_ISLNK(st.st_mode), "the link was replaced");
    CHECK(strcmp(content(at("victim")), "updated") == 0, "target '%s'", content(at("victim")));
    /* a dangling link is refused even when following */
    if (symlink(at("nowhere"), at("dangling")) == 0) {
        rc = plumb_outfile_open(&f, at("dangling"), PLUMB_OUT_FOLLOW, NULL, 0, &err);
        CHECK(rc != 0 && access(at("nowhere"), F_OK) != 0, "dangling link: %s", err.msg);
    }
}

static void test_not_files(void)
{
    PlumbOutFile f = { 0 };
    PlumbError err = { 0 };
    struct sockaddr_un sa;
    int rc, s;
    mkdir(at("sub"), 0755);
    rc = plumb_outfile_open(&f, at("sub"), PLUMB_OUT_FORCE, NULL, 0, &err);
    CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "is a directory"), "directory: %s", err.msg);
    rc = plumb_outfile_open(&f, at("sub/"), PLUMB_OUT_FORCE, NULL, 0, &err);
    CHECK(rc != 0, "directory with a slash accepted");
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", at("sock"));
    if (s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof sa) == 0) {
        rc = plumb_outfile_open(&f, at("sock"), PLUMB_OUT_FORCE, NULL, 0, &err);
        CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "is a socket"), "socket: %s", err.msg);
    }
    if (s >= 0)
        close(s);
    /* "-" only where standard output is allowed */
    rc = plumb_outfile_open(&f, "-", PLUMB_OUT_FORCE, NULL, 0, &err);
    CHECK(rc == PLUMB_EINVAL && access("-", F_OK) != 0, "'-' without STDOUT_OK: %s", err.msg);
    rc = plumb_outfile_open(&f, "-", PLUMB_OUT_STDOUT_OK, NULL, 0, &err);
    CHECK(rc == 0 && f.kind == PLUMB_OUT_STDOUT, "'-': %s", err.msg);
    rc = plumb_outfile_commit(&f, &err);
    CHECK(rc == 0 && access("-", F_OK) != 0 && fcntl(1, F_GETFD) >= 0,
          "standard output: %s", err.msg);
}

/* A FIFO is written in place: a child reads what was written. */
static void test_fifo(void)
{
    PlumbOutFile f = { 0 };
    PlumbError err = { 0 };
    struct stat st;
    pid_t pid;
    int rc, ws;
    if (mkfifo(at("fifo"), 0600) != 0) {
        CHECK(0, "mkfifo: %s", strerror(errno));
        return;
    }
    pid = fork();
    if (pid == 0) {
        char buf[64] = { 0 };
        int fd = open(at("fifo"), O_RDONLY);
        ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
        _exit(n == 7 && memcmp(buf, "through", 7) == 0 ? 0 : 1);
    }
    rc = plumb_outfile_open(&f, at("fifo"), 0, NULL, 0, &err);
    CHECK(rc == 0 && f.kind == PLUMB_OUT_STREAM, "FIFO: %s", err.msg);
    rc = write_str(&f, "through", &err);
    rc |= plumb_outfile_commit(&f, &err);
    CHECK(rc == 0, "FIFO write: %s", err.msg);
    waitpid(pid, &ws, 0);
    CHECK(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the reader did not get the bytes");
    CHECK(lstat(at("fifo"), &st) == 0 && S_ISFIFO(st.st_mode), "the FIFO was replaced");
    CHECK(count_prefix("fifo.tmp") == 0, "temporary file for a FIFO");
}

/* A character device stays one (made with mknod: /dev/null's numbers). */
static void test_device(void)
{
    PlumbOutFile f = { 0 };
    PlumbError err = { 0 };
    struct stat st;
    int rc;
    if (mknod(at("null"), S_IFCHR | 0666, makedev(1, 3)) != 0) {
        fprintf(stderr, "test_outfile: mknod: %s: character device case skipped\n",
                strerror(errno));
        return;
    }
    rc = plumb_outfile_open(&f, at("null"), 0, NULL, 0, &err);
    CHECK(rc == 0 && f.kind == PLUMB_OUT_STREAM, "device: %s", err.msg);
    rc = write_str(&f, "gone", &err);
    rc |= plumb_outfile_commit(&f, &err);
    CHECK(rc == 0, "device write: %s", err.msg);
    CHECK(lstat(at("null"), &st) == 0 && S_ISCHR(st.st_mode) &&
              st.st_rdev == makedev(1, 3),
          "the device was replaced");
}

static void test_same_file(void)
{
    PlumbOutFile f = { 0 };
    PlumbError err = { 0 };
    int rc;
    put(at("in.gguf"), "input");
    rc = plumb_outfile_open(&f, at("in.gguf"), PLUMB_OUT_FORCE, at("in.gguf"), 0, &err);
    CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "input"), "same name: %s", err.msg);
    if (link(at("in.gguf"), at("hard.gguf")) == 0) {
        rc = plumb_outfile_open(&f, at("hard.gguf"), PLUMB_OUT_FORCE, at("in.gguf"), 0, &err);
        CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "input"), "hard link: %s", err.msg);
    }
    if (symlink("in.gguf", at("soft.gguf")) == 0) {
        rc = plumb_outfile_open(&f, at("soft.gguf"), PLUMB_OUT_FORCE | PLUMB_OUT_FOLLOW,
                                at("in.gguf"), 0, &err);
        CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "input"), "symbolic link: %s", err.msg);
        /* and the input named through the link */
        rc = plumb_outfile_open(&f, at("in.gguf"), PLUMB_OUT_FORCE, at("soft.gguf"), 0, &err);
        CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "input"), "input via a link: %s", err.msg);
    }
    CHECK(strcmp(content(at("in.gguf")), "input") == 0, "the input changed");
    CHECK(count_prefix("in.gguf.tmp") + count_prefix("hard.gguf.tmp") +
                  count_prefix("soft.gguf.tmp") == 0,
          "temporary files created");
}

static void test_space(void)
{
    PlumbOutFile f = { 0 };
    PlumbError err = { 0 };
    int rc = plumb_outfile_open(&f, at("huge.bin"), 0, NULL, (uint64_t)1 << 62, &err);
    CHECK(rc == PLUMB_EIO && strstr(err.msg, dir) && strstr(err.msg, "free") &&
              !strstr(err.msg, "needs 0.00"),
          "no room: %d %s", rc, err.msg);
    CHECK(count_prefix("huge.bin") == 0, "files left after the space check");
    rc = plumb_outfile_open(&f, "/proc/plumb-test-out", 0, NULL, 1000, &err);
    CHECK(rc != 0 && strstr(err.msg, "/proc") && !strstr(err.msg, "0.00 GiB"),
          "/proc: %d %s", rc, err.msg);
    rc = plumb_outfile_open(&f, at("no/such/dir/x"), 0, NULL, 0, &err);
    CHECK(rc == PLUMB_EIO && strstr(err.msg, "no/such/dir"), "missing directory: %s", err.msg);
}

/* A process killed by sig while writing leaves no temporary file. */
static void test_signal(int sig)
{
    char name[32];
    pid_t pid;
    int ws;
    snprintf(name, sizeof name, "sig%d.bin", sig);
    pid = fork();
    if (pid == 0) {
        PlumbOutFile f = { 0 };
        PlumbError err = { 0 };
        /* as in a program started in the foreground: a shell runs background
         * jobs with SIGINT and SIGQUIT ignored, and the cleanup leaves an
         * ignored signal ignored */
        signal(sig, SIG_DFL);
        if (plumb_outfile_cleanup_signals(&err) != 0 ||
            plumb_outfile_open(&f, at(name), 0, NULL, 0, &err) != 0 ||
            write_str(&f, "partial", &err) != 0)
            _exit(3);
        raise(sig);
        _exit(4); /* not reached */
    }
    waitpid(pid, &ws, 0);
    CHECK(WIFSIGNALED(ws) && WTERMSIG(ws) == sig, "signal %d: status %#x", sig, ws);
    snprintf(name, sizeof name, "sig%d.bin", sig);
    CHECK(count_prefix(name) == 0, "signal %d left a temporary file", sig);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    snprintf(dir, sizeof dir, "%s/test_outfile.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 99;
    }
    test_new_file();
    test_existing();
    test_links();
    test_not_files();
    test_fifo();
    test_device();
    test_same_file();
    test_space();
    test_signal(SIGINT);
    test_signal(SIGTERM);
    test_signal(SIGHUP);
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_outfile: could not remove %s\n", dir);
    }
    return test_done("test_outfile");
}
