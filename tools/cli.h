/*
 * cli.h — what the plumb subcommands share: error printing in the
 * `plumb: <what>: <why>` form, the option tables and their one parser,
 * reading a prompt file, and checking standard output before exit.
 *
 * Each command describes its options in one CliOpt table: names, kind,
 * range or choices, metavariable, help text and where the value goes.  The
 * same table drives cli_parse() and the --help text, so the two cannot
 * disagree; tests/man.sh checks the man pages against that text.  The
 * default shown by --help is what the destination holds before parsing
 * (or the opt's `def` text when the default is not a plain value).
 *
 * Exit statuses: 0 success, 1 an error while running, 2 a usage error
 * (CLI_USAGE), 130 interrupted by SIGINT.
 */
#ifndef PLUMB_CLI_H
#define PLUMB_CLI_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "plumb.h"

#define CLI_USAGE 2        /* exit status of a usage error */
#define CLI_INTERRUPTED 130 /* exit status after SIGINT (128 + 2) */
#define CLI_LIST_MAX 16    /* values of one CLI_LIST option */
/* The tier names --cpu takes; whether this host has the tier is
 * plumb_cpu_select()'s question, answered when the model is opened. */
#define CLI_CPU_TIERS "c|avx2|avxvnni|avx512|avx512vnni|neon|dotprod"

/* Table entries the model commands share, so each option means the same in
 * every command: --cpu, -t, and the cache type (--kv-type for both halves,
 * -ctk/-ctv for one each; cli_kv_type() reconciles them). */
#define CLI_OPT_CPU(dst)                                                                  \
    { .names = "--cpu", .kind = CLI_CHOICE, .dest = (dst), .choices = CLI_CPU_TIERS,      \
      .metavar = "TIER", .def = "$PLUMB_CPU, else the best", .help = "kernel tier" }
#define CLI_OPT_THREADS(dst)                                                              \
    { .names = "-t, --threads", .kind = CLI_INT, .dest = (dst), .min = 0,                 \
      .max = PLUMB_MAX_THREADS, .metavar = "N",                                           \
      .help = "worker threads, 0 for one per physical core" }
#define CLI_OPT_FOLLOW_SYMLINKS(dst)                                                      \
    { .names = "--follow-symlinks", .kind = CLI_FLAG, .dest = (dst),                      \
      .help = "if the output path is a symbolic link, write the file it points to "       \
              "(refused otherwise)" }
#define CLI_KV_TYPES "f32|f16|q8_0|q4_0"
#define CLI_OPT_KV_TYPES(both, k, v)                                                      \
    { .names = "--kv-type", .kind = CLI_CHOICE, .dest = (both), .choices = CLI_KV_TYPES,  \
      .metavar = "TYPE", .def = "f16",                                                    \
      .help = "key/value cache type, keys and values both (q8_0 and q4_0 keys are "       \
              "rotated by a Hadamard transform)" },                                       \
    { .names = "-ctk, --cache-type-k", .kind = CLI_CHOICE, .dest = (k),                   \
      .choices = CLI_KV_TYPES, .metavar = "TYPE", .def = "--kv-type",                     \
      .help = "key cache type" },                                                         \
    { .names = "-ctv, --cache-type-v", .kind = CLI_CHOICE, .dest = (v),                   \
      .choices = CLI_KV_TYPES, .metavar = "TYPE", .def = "--kv-type",                     \
      .help = "value cache type" }
/* --window and --keep: the sliding window with attention sinks. */
#define CLI_OPT_KV_WINDOW(window, keep, keep_def)                                         \
    { .names = "--window", .kind = CLI_INT, .dest = (window), .min = 0,                   \
      .max = PLUMB_MAX_CTX, .metavar = "W", .def = "0, off",                              \
      .help = "attend only to the last W positions and the first --keep; older positions " \
              "are dropped from memory and never recalled (the model was not trained so)" }, \
    { .names = "--keep", .kind = CLI_INT, .dest = (keep), .min = 1, .max = PLUMB_MAX_CTX,  \
      .metavar = "N", .def = (keep_def),                                                  \
      .help = "with --window, the first N positions stay in view (attention sinks)" }

/* --kv-load and --kv-save: a session's key/value cache and tokens in a file
 * (cli_kv_load() does the loading); `when` says when the save happens. */
#define CLI_OPT_KV_FILES(load, save, when)                                                \
    { .names = "--kv-load", .kind = CLI_STRING, .dest = (load), .metavar = "FILE",        \
      .help = "first load the key/value cache and tokens saved in FILE (same model, cache " \
              "types and window); the prompt is then the whole sequence: the part of it "  \
              "that starts like the loaded tokens is kept, only the rest is evaluated" },  \
    { .names = "--kv-save", .kind = CLI_STRING, .dest = (save), .metavar = "FILE",        \
      .help = when ", save the key/value cache and the tokens to FILE (replaced "         \
              "atomically; a symbolic link or directory is refused)" }

typedef enum CliKind {
    CLI_END = 0, /* ends a table */
    CLI_HELP,    /* print the help text and stop */
    CLI_FLAG,    /* no value; int *dest = 1 */
    CLI_INT,     /* int *dest, in [min, max] */
    CLI_FLOAT,   /* float *dest, in [min, max] */
    CLI_U64,     /* uint64_t *dest */
    CLI_SEED,    /* CliSeed *dest: a uint64_t, or -1 for a random one */
    CLI_STRING,  /* const char **dest */
    CLI_CHOICE,  /* const char **dest, one of `choices` (any case) */
    CLI_LIST,    /* CliList *dest: comma-separated ints, each in [min, max] */
} CliKind;

typedef struct CliSeed {
    uint64_t value; /* the seed to use */
    int random;     /* 1 when -1 asked for a random one (value is then drawn) */
} CliSeed;

typedef struct CliList {
    int v[CLI_LIST_MAX]; /* values in the order given */
    int n;               /* count (the defaults until the option is given) */
} CliList;

typedef struct CliOpt {
    const char *names;   /* spellings, ", "-separated: "-m, --model" */
    CliKind kind;
    void *dest;          /* where the value goes (see CliKind) */
    double min, max;     /* range of CLI_INT, CLI_FLOAT, CLI_LIST */
    const char *choices; /* CLI_CHOICE: "f16|f32" */
    const char *metavar; /* "N", "FILE"; NULL for flags */
    const char *help;    /* one sentence, no trailing period */
    const char *def;     /* default as text; NULL: from *dest ("" for none) */
    int *seen;           /* if not NULL, set to 1 when the option is given */
} CliOpt;

typedef struct CliCmd {
    const char *name;     /* "run" */
    const char *synopsis; /* after "usage: plumb run " */
    const char *about;    /* the paragraph after the usage line */
    const CliOpt *opts;   /* ends with kind CLI_END */
    int max_args;         /* operands allowed (not options) */
    const char *operand_hint; /* why an operand is unexpected, e.g. "the prompt goes after -p" */
    void (*more_help)(FILE *f); /* extra text after the options, or NULL */
} CliCmd;

/* Print "plumb: fmt..." to stderr. */
void cli_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Print "plumb: <e->msg>" and return 1 (the exit status). */
int cli_fail(const PlumbError *e);
/* Print "plumb: CMD: fmt...", the usage line and the --help hint on stderr;
 * return CLI_USAGE. */
int cli_usage_error(const CliCmd *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Parse argv[1..argc) against cmd->opts; operands go to args[0..*n_args)
 * (args has room for cmd->max_args).  Returns 0 to go on, -1 when --help
 * was printed (exit 0), CLI_USAGE after printing a usage error. */
int cli_parse(const CliCmd *cmd, int argc, char **argv, const char **args, int *n_args);
/* The --help text of cmd, generated from its table. */
void cli_help(const CliCmd *cmd, FILE *f);

/* The key/value cache types from --kv-type (both), -ctk (keys) and -ctv
 * (values), each NULL when not given, into sp->kv_type and sp->kv_type_v;
 * and the window from --window / --keep (0 when not given: --keep alone is
 * a usage error, CLI_USAGE). */
int cli_kv_params(const CliCmd *cmd, const char *both, const char *k, const char *v, int window,
                  int keep, PlumbSessionParams *sp);

/* --kv-load FILE: load the session saved in FILE into s (on the model
 * described by in), then keep of it the longest prefix of the prompt the
 * evaluation can continue from, and forget the rest.  The prompt is
 * ids[0..n), with the model's BOS first when add_bos is set, the model asks
 * for one and ids do not start with it; an empty prompt means the loaded
 * tokens themselves.  At most all but the prompt's last token is kept (its
 * logits are needed), and nothing when a window has dropped what the next
 * token would attend to.  *seq (malloc'd) gets the prompt as the whole
 * sequence, to generate from with reuse_prefix; *n_loaded and *n_kept the
 * counts. */
int cli_kv_load(PlumbSession *s, const PlumbModelInfo *in, const char *file, const int32_t *ids,
                size_t n, int add_bos, int32_t **seq, size_t *n_seq, size_t *n_loaded,
                size_t *n_kept, PlumbError *err);

/* Replace the escapes \n \t \r \\ \" \' \a \b \f \v \xHH of s in place
 * (another backslash stays as it is).  Returns the new length. */
size_t cli_unescape(char *s);

/* Read a whole file (or "-" for stdin) into a malloc'd NUL-terminated buffer. */
char *cli_read_file(const char *path, size_t *len, PlumbError *err);

/* Flush standard output; on a write error print "plumb: CMD: standard
 * output: why" once (CMD NULL: no command) and return 1, else 0. */
int cli_check_stdout(const char *cmd);
/* The exit status of a command that returned rc: flushes and closes
 * standard output, turning a write error into a message and status 1. */
int cli_finish(const char *cmd, int rc);
/* plumb_model_open() with the environment applied: $PLUMB_CPU when mp->cpu
 * is unset, $PLUMB_EXPERT_ADVICE (0 or 1) when mp->expert_advice is 0.  An
 * error caused by $PLUMB_CPU says so. */
int cli_model_open(PlumbModel **out, const char *path, PlumbModelParams *mp, PlumbError *err);
/* One line on standard error when a copy made by `plumb repack` would run
 * faster on this CPU tier than the file at path (plumb_repack_gain), naming
 * the command; nothing when $PLUMB_HINTS is 0. */
void cli_repack_hint(const PlumbModel *m, const char *path);

/* Subcommands: argc/argv start at the subcommand name. */
int cmd_inspect(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_repack(int argc, char **argv);
int cmd_bench(int argc, char **argv);
#ifdef PLUMB_HAVE_AGENT
int cmd_research(int argc, char **argv);
int cmd_tool(int argc, char **argv);
int cmd_index(int argc, char **argv);
#endif

#endif
