/*
 * cache.h — the page cache: one SQLite database holding fetched pages
 * (bodies zlib-compressed, with their SHA-256, fetch time and headers),
 * search results, extraction results (keyed by page hash, goal, model and
 * budget) and robots.txt files.  CACHE_RO never writes and, for the agent,
 * means a replay: what is not in the cache is not fetched.
 */
#ifndef PLUMB_AGENT_CACHE_H
#define PLUMB_AGENT_CACHE_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "tools.h"

typedef struct CachedPage {
    long status;
    char *body;           /* decoded bytes, NUL-terminated */
    size_t len;
    char *content_type;   /* or NULL */
    char *final_url;
    char sha256[65];
    char fetched_at[32];  /* ISO 8601 UTC */
} CachedPage;

/* The default database: $XDG_CACHE_HOME/plumb/web.sqlite, else
 * $HOME/.cache/plumb/web.sqlite (malloc'd in *out); an error when neither
 * variable is set.  Nothing is created here. */
int cache_default_path(char **out, PlumbError *err);

/* CACHE_RW creates the database (and missing parent directories, mode
 * 0700); CACHE_RO opens an existing one read-only.  A file that is not an
 * SQLite database, is corrupt, or holds another program's tables is an
 * error naming the path.  CACHE_OFF is not a mode to open (PLUMB_EINVAL). */
int cache_open(Cache **out, const char *path, CacheMode mode, PlumbError *err);
void cache_close(Cache *c);

/* 1 found, 0 not found, < 0 error. */
int cache_get_page(Cache *c, const char *url, CachedPage *out, PlumbError *err);
int cache_put_page(Cache *c, const char *url, const CachedPage *page, PlumbError *err);
void cache_page_free(CachedPage *p);

/* Search results by (backend, query): the raw JSON text the backend gave. */
int cache_get_search(Cache *c, const char *backend, const char *query, char **json, PlumbError *err);
int cache_put_search(Cache *c, const char *backend, const char *query, const char *json, PlumbError *err);

/* Extraction results by (page sha256, goal, model, budget). */
int cache_get_extract(Cache *c, const char *sha256, const char *goal, const char *model,
                      int32_t budget, char **json, PlumbError *err);
int cache_put_extract(Cache *c, const char *sha256, const char *goal, const char *model,
                      int32_t budget, const char *json, PlumbError *err);

/* robots.txt by origin ("https://host:port"); 24 h old entries count as absent. */
int cache_get_robots(Cache *c, const char *origin, long *status, char **body, PlumbError *err);
int cache_put_robots(Cache *c, const char *origin, long status, const char *body, PlumbError *err);

#endif
