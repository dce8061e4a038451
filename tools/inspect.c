/* tools/inspect.c — not written yet */
#include "config.h"
#include "cli.h"
int cmd_inspect(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("inspect: not written yet");
    return 1;
}
