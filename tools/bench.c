/* tools/bench.c — not written yet */
#include "config.h"
#include "cli.h"
int cmd_bench(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("bench: not written yet");
    return 1;
}
