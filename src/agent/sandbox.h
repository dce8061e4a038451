/*
 * sandbox.h — running a helper program (python3, pdftotext) as a child
 * process that cannot harm us: under bubblewrap (no network, read-only
 * system, private /tmp, clean environment) when asked, with CPU, memory
 * and output limits and a wall-clock limit, killed with its whole process
 * group when the time is up.
 */
#ifndef PLUMB_AGENT_SANDBOX_H
#define PLUMB_AGENT_SANDBOX_H

#include <stddef.h>

#include "err.h"

/* All zero is a valid default (no bwrap, default limits). */
typedef struct SandboxParams {
    int use_bwrap;            /* run under bwrap */
    const char *bwrap;        /* path of bwrap, NULL = from PATH */
    const char *const *ro_files; /* [n_ro_files] host files made readable inside (same path) */
    size_t n_ro_files;
    double wall_s;            /* 0 = 50 */
    double cpu_s;             /* RLIMIT_CPU; 0 = wall_s + 1 */
    size_t mem_bytes;         /* RLIMIT_AS; 0 = 1 GiB */
    size_t max_output;        /* bytes kept of stdout and of stderr each; 0 = 1 MiB */
    int max_procs;            /* RLIMIT_NPROC inside; 0 = 64 */
    const void *stdin_data;   /* given on stdin, or NULL */
    size_t stdin_len;
} SandboxParams;

typedef struct SandboxResult {
    char *out, *err;          /* malloc'd, NUL-terminated */
    size_t out_len, err_len;
    int out_truncated, err_truncated;
    int exit_code;            /* -1 when killed by a signal */
    int signal;               /* the signal that ended it, 0 if none */
    int timed_out;            /* killed at wall_s */
} SandboxResult;

/* Run argv[0] (searched in PATH).  PLUMB_OK whatever the child did;
 * PLUMB_EUNSUPPORTED when bwrap is missing or cannot create its namespaces
 * (the message names the cause and the Debian package bubblewrap). */
int sandbox_run(const char *const *argv, const SandboxParams *p, SandboxResult *res,
                PlumbError *err);
void sandbox_result_free(SandboxResult *r);

#endif
