/* tools/tokenize.c — not written yet */
#include "config.h"
#include "cli.h"
int cmd_tokenize(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("tokenize: not written yet");
    return 1;
}
