/* placeholder until this module is written */
#include "config.h"

#include "sandbox.h"

int sandbox_run(const char *const *argv, const SandboxParams *p, SandboxResult *res, PlumbError *err)
{ (void)argv; (void)p; (void)res; return plumb_err(err, PLUMB_EUNSUPPORTED, "sandbox: not built yet"); }
void sandbox_result_free(SandboxResult *r) { (void)r; }
