/*
 * cli.h — helpers shared by the plumb subcommands: error printing in the
 * `plumb: <what>: <why>` form, numeric option parsing with range checks,
 * reading a prompt file, and the common model/threads/cpu options.
 */
#ifndef PLUMB_CLI_H
#define PLUMB_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "plumb.h"

/* Print "plumb: fmt..." to stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Print "plumb: <e->msg>" and return 1 (the exit status). */
int cli_fail(const PlumbError *e);

/* Parse with range checks; on failure print "plumb: OPT: ..." and return -1. */
int cli_parse_int(const char *opt, const char *s, long min, long max, long *out);
int cli_parse_float(const char *opt, const char *s, double min, double max, double *out);
int cli_parse_u64(const char *opt, const char *s, uint64_t *out);
/* --kv-type: "f16" or "f32". */
int cli_parse_kv_type(const char *opt, const char *s, PlumbKVType *out);

/* Read a whole file (or "-" for stdin) into a malloc'd NUL-terminated buffer. */
char *cli_read_file(const char *path, size_t *len, PlumbError *err);

/* plumb_model_open() with the environment applied: $PLUMB_CPU when mp->cpu
 * is unset, $PLUMB_EXPERT_ADVICE (0 or 1) when mp->expert_advice is 0.  An
 * error caused by $PLUMB_CPU says so. */
int cli_model_open(PlumbModel **out, const char *path, PlumbModelParams *mp, PlumbError *err);

/* Subcommands: argc/argv start at the subcommand name. */
int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_repack(int argc, char **argv);
int cmd_bench(int argc, char **argv);

#endif
