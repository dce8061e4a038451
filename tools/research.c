/* placeholder until this command is written */
#include "config.h"

#include "cli.h"

int cmd_research(int argc, char **argv)
{
    (void)argc; (void)argv;
    cli_error("research: not built yet");
    return 1;
}

int cmd_tool(int argc, char **argv)
{
    (void)argc; (void)argv;
    cli_error("tool: not built yet");
    return 1;
}
