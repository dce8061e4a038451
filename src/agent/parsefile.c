/* placeholder until this module is written */
#include "config.h"

#include "tools.h"

int tool_parse_file(AgentTools *t, json_t *args, Buf *out, PlumbError *err)
{ (void)t; (void)args; (void)err; return buf_puts(out, "parse_file: not built yet"); }
