/*
 * main.c — the plumb command: dispatches to subcommands, prints --help and
 * --version (build, detected CPU features, chosen kernel tier).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cpu.h"
#include "err.h"
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
#ifdef PLUMB_HAVE_AGENT
    { "research", cmd_research, "answer a question as a research agent, with sources" },
    { "tool", cmd_tool, "run one of the agent's tools and print what the model sees" },
    { "index", cmd_index, "build and search a local index of documents" },
#endif
};

static void list_commands(FILE *f)
{
    size_t i;
    fprintf(f, "\ncommands:\n");
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
    if (plumb_cpu_choose(getenv("PLUMB_CPU"), &flags, &err) == PLUMB_OK)
        printf("kernel tier: %s\n", plumb_cpu_tier_name(flags));
    else {
        plumb_err_prefix(&err, "PLUMB_CPU");
        printf("kernel tier: %s\n", err.msg);
    }
    return 0;
}

int main(int argc, char **argv)
{
    int show_version = 0, n_args = 0, rc;
    const char *args[1];
    const CliOpt opts[] = {
        { .names = "-V, --version", .kind = CLI_FLAG, .dest = &show_version,
          .help = "print the version, the CPU's features and the kernel tier, then exit" },
        { .names = "-h, --help", .kind = CLI_HELP, .help = "print this help and exit" },
        { .kind = CLI_END },
    };
    const CliCmd top = {
        .name = "",
        .synopsis = "[--version] [--help] COMMAND [ARGS...]",
        .about = "A CPU inference engine for Qwen3 mixture-of-experts models in GGUF files.",
        .opts = opts,
        .operand_hint = "",
        .more_help = list_commands,
    };
    size_t i;
    PlumbError err = { 0 };
    /* a signal that ends a command removes the temporary files it was writing */
    if (plumb_outfile_cleanup_signals(&err) != PLUMB_OK)
        cli_error("%s", err.msg);
    if (argc < 2) {
        cli_help(&top, stderr);
        return CLI_USAGE;
    }
    if (strcmp(argv[1], "help") == 0) {
        cli_help(&top, stdout);
        return cli_finish(NULL, 0);
    }
    if (argv[1][0] == '-') {
        rc = cli_parse(&top, 2, argv, args, &n_args);
        if (rc > 0)
            return rc;
        return cli_finish(NULL, rc < 0 ? 0 : version());
    }
    for (i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return cli_finish(commands[i].name, commands[i].fn(argc - 1, argv + 1));
    cli_error("'%s' is not a command (see 'plumb --help')", argv[1]);
    return CLI_USAGE;
}
