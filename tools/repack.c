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

int cmd_repack(int argc, char **argv)
{
    const char *in = NULL, *out = NULL, *args[2];
    unsigned flags = 0;
    int quiet = 0, unpack = 0, force = 0, follow_symlinks = 0, n_args = 0, rc;
    PlumbError err = { 0 };
    PlumbRepackStats st;
    Progress pr;
    struct sigaction sa, old_int, old_term;
    const CliOpt opts[] = {
        { .names = "--unpack", .kind = CLI_FLAG, .dest = &unpack,
          .help = "the reverse, back to the original bytes" },
        { .names = "--force", .kind = CLI_FLAG, .dest = &force,
          .help = "replace OUT.gguf if it exists" },
        CLI_OPT_FOLLOW_SYMLINKS(&follow_symlinks),
        { .names = "--quiet", .kind = CLI_FLAG, .dest = &quiet, .help = "no progress on stderr" },
        { .names = "-h, --help", .kind = CLI_HELP, .help = "this text" },
        { .kind = CLI_END },
    };
    const CliCmd cmd = {
        .name = "repack",
        .synopsis = "IN.gguf OUT.gguf [--unpack] [--force] [--follow-symlinks] [--quiet] [--help]",
        .about = "Copy a model with its Q4_0, Q4_K and Q6_K matrices interleaved eight rows at a "
                 "time (types Q4_0_R8, Q4_K_R8, Q6_K_R8), the layout plumb's fastest kernels "
                 "read.  The numbers are unchanged; only plumb reads the result.",
        .opts = opts,
        .max_args = 2,
        .operand_hint = "give two files, IN and OUT",
    };

    if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
        return rc < 0 ? 0 : rc;
    if (n_args < 2)
        return cli_usage_error(&cmd, n_args ? "no output file given" : "no input file given");
    in = args[0];
    out = args[1];
    if (unpack)
        flags |= PLUMB_REPACK_UNPACK;
    if (force)
        flags |= PLUMB_GGUF_WRITE_FORCE;
    if (follow_symlinks)
        flags |= PLUMB_GGUF_WRITE_FOLLOW;

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
