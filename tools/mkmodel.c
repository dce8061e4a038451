/* tools/mkmodel.c — not written yet */
#include "config.h"
#include "cli.h"
int cmd_mkmodel(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_error("mkmodel: not written yet");
    return 1;
}
