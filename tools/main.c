/*
 * main.c — the plumb command: dispatches to subcommands, prints --help and
 * --version (build, detected CPU features, chosen kernel tier).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "cpu.h"
#include "outfile.h"

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *what;
} commands[] = {
    { "run", cmd_run, "generate text from a prompt" },
    { "eval", cmd_eval, "evaluate tokens, print ids, write logits" },
    { "tokenize", cmd_tokenize, "print the token ids of text" },
    { "inspect", cmd_inspect, "print a GGUF file's metadata and tensor table" },
    { "mkmodel", cmd_mkmodel, "write a synthetic model of a real layout" },
    { "repack", cmd_repack, "interleave a model's Q4_0 matrices for faster products" },
    { "bench", cmd_bench, "measure prompt processing and generation speed" },
};

static void usage(FILE *f)
{
    size_t i;
    fprintf(f, "usage: plumb [--version] [--help] COMMAND [ARGS...]\n\ncommands:\n");
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].what);
    fprintf(f, "\n'plumb COMMAND --help' describes a command; 'man plumb-COMMAND' has the details.\n");
}

static int version(void)
{
    char det[256], built[256];
    unsigned flags = 0;
    PlumbError err = { 0 };
    plumb_cpu_describe(plumb_cpu_detect(), det, sizeof det);
    plumb_cpu_describe(plumb_cpu_built(), built, sizeof built);
    printf("plumb %s\n", PACKAGE_VERSION);
    printf("cpu features: %s\n", det[0] ? det : "(none beyond baseline)");
    printf("kernels built: c%s%s\n", built[0] ? " " : "", built);
    if (plumb_cpu_choose(NULL, &flags, &err) == PLUMB_OK)
        printf("kernel tier: %s\n", plumb_cpu_tier_name(flags));
    else
        printf("kernel tier: %s\n", err.msg);
    return 0;
}

int main(int argc, char **argv)
{
    size_t i;
    PlumbError err = { 0 };
    /* a signal that ends a command removes the temporary files it was writing */
    if (plumb_outfile_cleanup_signals(&err) != PLUMB_OK)
        cli_error("%s", err.msg);
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0)
        return version();
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return 0;
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].fn(argc - 1, argv + 1);
    cli_error("'%s' is not a command (see 'plumb --help')", argv[1]);
    return 2;
}
