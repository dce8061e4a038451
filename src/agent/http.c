/* placeholder until this module is written */
#include "config.h"

#include "http.h"

int http_open(HttpClient **out, const HttpParams *p, PlumbError *err)
{ *out = NULL; (void)p; return plumb_err(err, PLUMB_EUNSUPPORTED, "http: not built yet"); }
void http_close(HttpClient *c) { (void)c; }
int http_get(HttpClient *c, const char *url, unsigned flags, HttpResponse *res, PlumbError *err)
{ (void)c; (void)flags; (void)res; return plumb_err(err, PLUMB_EUNSUPPORTED, "%s: http: not built yet", url); }
void http_response_free(HttpResponse *r) { (void)r; }
