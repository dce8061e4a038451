/* placeholder until this command is written */
#include "config.h"

#include "cli.h"

int cmd_index(int argc, char **argv)
{
    (void)argc; (void)argv;
    cli_error("index: not built yet");
    return 1;
}
