/* placeholder until this module is written */
#include "config.h"

#include "cache.h"

int cache_open(Cache **out, const char *path, CacheMode mode, PlumbError *err)
{ *out = NULL; (void)mode; return plumb_err(err, PLUMB_EUNSUPPORTED, "%s: cache: not built yet", path); }
void cache_close(Cache *c) { (void)c; }
