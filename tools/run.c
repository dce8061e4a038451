/* tools/run.c — not written yet */
#include "config.h"
#include "cli.h"
int cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("run: not written yet");
    return 1;
}
