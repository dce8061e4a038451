/* placeholder until this module is written */
#include "config.h"

#include "tools.h"

int tool_search(AgentTools *t, json_t *args, Buf *out, PlumbError *err)
{ (void)t; (void)args; (void)err; return buf_puts(out, "search: not built yet"); }
int tool_scholar(AgentTools *t, json_t *args, Buf *out, PlumbError *err)
{ (void)t; (void)args; (void)err; return buf_puts(out, "google_scholar: not built yet"); }
