/* placeholder until this module is written */
#include "config.h"

#include "tools.h"

int tool_python(AgentTools *t, json_t *args, const char *code, Buf *out, PlumbError *err)
{ (void)t; (void)args; (void)code; (void)err; return buf_puts(out, "PythonInterpreter: not built yet"); }
