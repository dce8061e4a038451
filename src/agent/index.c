/* placeholder until this module is written */
#include "config.h"

#include "index.h"

int index_open(Index **out, const char *db, int create, PlumbError *err)
{ *out = NULL; (void)create; return plumb_err(err, PLUMB_EUNSUPPORTED, "%s: index: not built yet", db); }
void index_close(Index *ix) { (void)ix; }
int index_search(Index *ix, const char *query, int32_t k, IndexHit **hits, size_t *n, PlumbError *err)
{ (void)ix; (void)query; (void)k; *hits = NULL; *n = 0; return plumb_err(err, PLUMB_EUNSUPPORTED, "index: not built yet"); }
void index_hits_free(IndexHit *hits, size_t n) { (void)hits; (void)n; }
int index_covers(Index *ix, const char *path) { (void)ix; (void)path; return 0; }
int index_format_search(Index *ix, const char *query, int32_t k, Buf *out, PlumbError *err)
{ (void)ix; (void)query; (void)k; (void)out; return plumb_err(err, PLUMB_EUNSUPPORTED, "index: not built yet"); }
