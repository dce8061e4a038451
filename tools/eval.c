/* tools/eval.c — not written yet */
#include "config.h"
#include "cli.h"
int cmd_eval(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("eval: not written yet");
    return 1;
}
