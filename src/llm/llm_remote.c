/* placeholder until this module is written */
#include "config.h"

#include "err.h"
#include "llm.h"

int llm_open_remote(PlumbLLM **out, const LlmRemoteParams *p, PlumbError *err)
{ *out = NULL; return plumb_err(err, PLUMB_EUNSUPPORTED, "%s: remote backend: not built yet", p->base_url); }
