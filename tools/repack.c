/*
 * repack.c — `plumb repack`: copy a GGUF model with its Q4_0, Q4_K and Q6_K
 * matrices in the row-interleaved layouts Q4_0_R8, Q4_K_R8 and Q6_K_R8, or
 * back (the conversion is src/repack.c).
 */
#include "config.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "gguf_write.h"
#include "plumb.h"
#include "repack.h"

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

typedef struct Progress {
    double t0, last;
} Progress;

static void show_progress(void *arg, uint64_t done, uint64_t total)
{
    Progress *p = arg;
    const double t = now_s();
    if (t - p->last < 0.5)
        return;
    p->last = t;
    fprintf(stderr, "\r%5.1f%%  %.0f s", total ? 100.0 * (double)done / (double)total : 100.0,
            t - p->t0);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: plumb repack IN.gguf OUT.gguf [--unpack] [--force] [--follow-symlinks]\n"
            "                    [--quiet] [--help]\n"
            "\n"
            "Copy a model with its Q4_0, Q4_K and Q6_K matrices interleaved eight rows at\n"
            "a time (types Q4_0_R8, Q4_K_R8, Q6_K_R8), the layout plumb's fastest kernels\n"
            "read.  The numbers are unchanged; only plumb reads the result.\n"
            "\n"
            "  --unpack   the reverse, back to the original bytes\n"
            "  --force    replace OUT.gguf if it exists\n"
            "  --follow-symlinks\n"
            "             if OUT.gguf is a symbolic link, write the file it points to\n"
            "             (refused otherwise)\n"
            "  --quiet    no progress on stderr\n"
            "  --help     this text\n");
}

int cmd_repack(int argc, char **argv)
{
    const char *in = NULL, *out = NULL;
    unsigned flags = 0;
    int quiet = 0, follow_symlinks = 0, rc;
    PlumbError err = { 0 };
    PlumbRepackStats st;
    Progress pr;
    struct sigaction sa, old_int, old_term;

    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(o, "--force") == 0) {
            flags |= PLUMB_GGUF_WRITE_FORCE;
        } else if (strcmp(o, "--follow-symlinks") == 0) {
            follow_symlinks = 1;
        } else if (strcmp(o, "--quiet") == 0) {
            quiet = 1;
        } else if (strcmp(o, "--unpack") == 0) {
            flags |= PLUMB_REPACK_UNPACK;
        } else if (o[0] == '-' && o[1]) {
            cli_error("repack: unknown option '%s' (see 'plumb repack --help')", o);
            return 2;
        } else if (!in) {
            in = o;
        } else if (!out) {
            out = o;
        } else {
            cli_error("repack: more than two files ('%s', '%s', '%s')", in, out, o);
            return 2;
        }
    }
    if (!in || !out) {
        cli_error("repack: %s (see 'plumb repack --help')",
                  !in ? "no input file given" : "no output file given");
        return 2;
    }

    if (follow_symlinks)
        flags |= PLUMB_GGUF_WRITE_FOLLOW;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    pr.t0 = pr.last = now_s();
    rc = plumb_repack_file(in, out, flags, !quiet && isatty(2) ? show_progress : NULL, &pr,
                           &interrupted, &st, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (!quiet && isatty(2))
        fputc('\n', stderr);
    if (rc) {
        cli_error("repack: %s", err.msg[0] ? err.msg : plumb_strerror(rc));
        return 1;
    }
    printf("%s: %" PRIu64 " of %" PRIu64 " tensors %s, %.2f GiB, %.1f s\n", out, st.n_changed,
           st.n_tensors, flags & PLUMB_REPACK_UNPACK ? "unpacked" : "repacked",
           (double)st.bytes / 1073741824.0, now_s() - pr.t0);
    return 0;
}
