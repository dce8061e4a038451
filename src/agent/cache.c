/*
 * cache.c — the page cache (cache.h) in one SQLite database.
 *
 * Tables:
 *   plumb_cache(key, value)   'format' = 'plumb web cache', 'version' = '1':
 *                             how a database is recognised as ours
 *   pages(url, status, content_type, final_url, body, body_len, sha256,
 *         fetched_at, headers)  body zlib-compressed, body_len its size
 *                             decoded, sha256 of the decoded body, headers
 *                             the response headers when the fetcher kept
 *                             them (NULL otherwise)
 *   searches(backend, query, json, fetched_at)
 *   extractions(sha256, goal, model, budget, json, created_at)
 *   robots(origin, status, body, fetched_at)   fetched_at in Unix seconds
 *
 * Journal in WAL mode, so a reader (a replay) and a writer can share the
 * file; busy timeout 5 s.  Entries never expire except robots.txt (24 h):
 * a rerun of a question sees the pages the first run saw.  Every read of a
 * page checks the stored SHA-256 against the decoded body.
 */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <zlib.h>

#include "cache.h"
#include "hash.h"

#define CACHE_FORMAT "plumb web cache"
#define CACHE_VERSION "1"
#define CACHE_MAX_BODY (256u << 20) /* a stored body larger than this is corrupt */
#define ROBOTS_TTL_S (24 * 3600)

struct Cache {
    sqlite3 *db;
    CacheMode mode;
    char *path;   /* for messages */
};

static const char schema[] =
    "CREATE TABLE plumb_cache(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "INSERT INTO plumb_cache VALUES('format', '" CACHE_FORMAT "'), ('version', '" CACHE_VERSION "');"
    "CREATE TABLE pages(url TEXT PRIMARY KEY, status INTEGER NOT NULL, content_type TEXT,"
    " final_url TEXT NOT NULL, body BLOB NOT NULL, body_len INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL, fetched_at TEXT NOT NULL, headers TEXT);"
    "CREATE TABLE searches(backend TEXT NOT NULL, query TEXT NOT NULL, json TEXT NOT NULL,"
    " fetched_at TEXT NOT NULL, PRIMARY KEY(backend, query));"
    "CREATE TABLE extractions(sha256 TEXT NOT NULL, goal TEXT NOT NULL, model TEXT NOT NULL,"
    " budget INTEGER NOT NULL, json TEXT NOT NULL, created_at TEXT NOT NULL,"
    " PRIMARY KEY(sha256, goal, model, budget));"
    "CREATE TABLE robots(origin TEXT PRIMARY KEY, status INTEGER NOT NULL, body TEXT NOT NULL,"
    " fetched_at INTEGER NOT NULL);";

static int db_err(Cache *c, PlumbError *err, const char *what)
{
    int code = sqlite3_errcode(c->db);
    if (code == SQLITE_NOTADB || code == SQLITE_CORRUPT)
        return plumb_err(err, PLUMB_EFORMAT, "%s: page cache is corrupt or not an SQLite database (%s: %s)",
                         c->path, what, sqlite3_errmsg(c->db));
    if (code == SQLITE_NOMEM)
        return plumb_err(err, PLUMB_ENOMEM, "%s: page cache: out of memory (%s)", c->path, what);
    return plumb_err(err, PLUMB_EIO, "%s: page cache: %s: %s", c->path, what, sqlite3_errmsg(c->db));
}

static void now_iso(char out[32])
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

int cache_default_path(char **out, PlumbError *err)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    const char *base, *mid;
    size_t n;
    *out = NULL;
    if (xdg && *xdg == '/') { /* the XDG spec ignores relative values */
        base = xdg;
        mid = "";
    } else if (home && *home) {
        base = home;
        mid = "/.cache";
    } else
        return plumb_err(err, PLUMB_EINVAL, "page cache: neither XDG_CACHE_HOME nor HOME is set (give --cache DB)");
    n = strlen(base) + strlen(mid) + sizeof "/plumb/web.sqlite";
    if (!(*out = malloc(n)))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    snprintf(*out, n, "%s%s/plumb/web.sqlite", base, mid);
    return PLUMB_OK;
}

/* mkdir -p of path's directory, new directories mode 0700. */
static int make_parents(const char *path, PlumbError *err)
{
    char *dir = strdup(path), *p;
    int rc = PLUMB_OK;
    if (!dir)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    p = strrchr(dir, '/');
    if (!p || p == dir) {
        free(dir);
        return PLUMB_OK;
    }
    *p = 0;
    for (p = dir + 1; ; p++) {
        if (*p == '/' || !*p) {
            char c = *p;
            *p = 0;
            if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
                rc = plumb_err(err, PLUMB_EIO, "%s: cannot create the page cache's directory %s: %s",
                               path, dir, strerror(errno));
                break;
            }
            *p = c;
            if (!c)
                break;
        }
    }
    free(dir);
    return rc;
}

/* Is the database ours, empty, or something else? */
static int check_format(Cache *c, PlumbError *err)
{
    sqlite3_stmt *st = NULL;
    int n_tables = 0, ours = 0, rc;
    char other[128] = "";
    rc = sqlite3_prepare_v2(c->db, "SELECT name FROM sqlite_master WHERE type = 'table'", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_err(c, err, "reading the schema");
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        n_tables++;
        if (name && !strcmp(name, "plumb_cache"))
            ours = 1;
        else if (name && !other[0])
            snprintf(other, sizeof other, "%s", name);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_err(c, err, "reading the schema");
    if (!n_tables) {
        if (c->mode == CACHE_RO)
            return plumb_err(err, PLUMB_EINVAL, "%s: empty database, not a page cache to replay", c->path);
        if (sqlite3_exec(c->db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(c->db, schema, NULL, NULL, NULL) != SQLITE_OK) {
            rc = db_err(c, err, "creating the tables");
            sqlite3_exec(c->db, "ROLLBACK;", NULL, NULL, NULL);
            return rc;
        }
        if (sqlite3_exec(c->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK)
            return db_err(c, err, "creating the tables");
        return PLUMB_OK;
    }
    if (!ours)
        return plumb_err(err, PLUMB_EFORMAT,
                         "%s: not a plumb page cache (it holds another program's tables, such as '%s')",
                         c->path, other);
    rc = sqlite3_prepare_v2(c->db, "SELECT key, value FROM plumb_cache", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return db_err(c, err, "reading plumb_cache");
    {
        int fmt_ok = 0;
        char version[64] = "";
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *k = (const char *)sqlite3_column_text(st, 0);
            const char *v = (const char *)sqlite3_column_text(st, 1);
            if (k && v && !strcmp(k, "format") && !strcmp(v, CACHE_FORMAT))
                fmt_ok = 1;
            else if (k && v && !strcmp(k, "version"))
                snprintf(version, sizeof version, "%s", v);
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return db_err(c, err, "reading plumb_cache");
        if (!fmt_ok)
            return plumb_err(err, PLUMB_EFORMAT, "%s: not a plumb page cache (its plumb_cache table says otherwise)",
                             c->path);
        if (strcmp(version, CACHE_VERSION))
            return plumb_err(err, PLUMB_EFORMAT, "%s: page cache version '%s'; this plumb reads version %s",
                             c->path, version, CACHE_VERSION);
    }
    return PLUMB_OK;
}

int cache_open(Cache **out, const char *path, CacheMode mode, PlumbError *err)
{
    Cache *c = NULL;
    int rc, flags;
    *out = NULL;
    if (!path || !*path)
        return plumb_err(err, PLUMB_EINVAL, "page cache: no path");
    if (mode != CACHE_RW && mode != CACHE_RO)
        return plumb_err(err, PLUMB_EINVAL, "%s: page cache mode off is not opened", path);
    if (mode == CACHE_RO) {
        struct stat sb;
        if (stat(path, &sb) != 0)
            return plumb_err(err, PLUMB_EIO, "%s: no page cache to replay (cache mode ro): %s", path,
                             strerror(errno));
        if (!S_ISREG(sb.st_mode))
            return plumb_err(err, PLUMB_EINVAL, "%s: not a regular file", path);
        flags = SQLITE_OPEN_READONLY;
    } else {
        if ((rc = make_parents(path, err)) < 0)
            return rc;
        flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    }
    if (!(c = calloc(1, sizeof *c)) || !(c->path = strdup(path))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto fail;
    }
    c->mode = mode;
    if (sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        rc = c->db ? db_err(c, err, "opening") : plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 0);
    sqlite3_busy_timeout(c->db, 5000);
    if ((rc = check_format(c, err)) < 0)
        goto fail;
    if (mode == CACHE_RW &&
        (sqlite3_exec(c->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL, NULL) != SQLITE_OK)) {
        rc = db_err(c, err, "setting WAL mode");
        goto fail;
    }
    *out = c;
    return PLUMB_OK;
fail:
    cache_close(c);
    return rc;
}

void cache_close(Cache *c)
{
    if (!c)
        return;
    sqlite3_close(c->db);
    free(c->path);
    free(c);
}

static char *dup_col(sqlite3_stmt *st, int i)
{
    const unsigned char *s = sqlite3_column_text(st, i);
    return s ? strdup((const char *)s) : NULL;
}

void cache_page_free(CachedPage *p)
{
    if (!p)
        return;
    free(p->body);
    free(p->content_type);
    free(p->final_url);
    memset(p, 0, sizeof *p);
}

int cache_get_page(Cache *c, const char *url, CachedPage *out, PlumbError *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    if (sqlite3_prepare_v2(c->db,
                           "SELECT status, content_type, final_url, body, body_len, sha256, fetched_at"
                           " FROM pages WHERE url = ?1", -1, &st, NULL) != SQLITE_OK)
        return db_err(c, err, "reading a page");
    sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        sqlite3_finalize(st);
        return 0;
    }
    if (rc != SQLITE_ROW) {
        rc = db_err(c, err, "reading a page");
        sqlite3_finalize(st);
        return rc;
    }
    {
        const void *z = sqlite3_column_blob(st, 3);
        int zlen = sqlite3_column_bytes(st, 3);
        sqlite3_int64 blen = sqlite3_column_int64(st, 4);
        const char *sha = (const char *)sqlite3_column_text(st, 5);
        const char *at = (const char *)sqlite3_column_text(st, 6);
        uLongf dlen;
        char hex[SHA256_HEX_LEN + 1];
        if (blen < 0 || (uint64_t)blen > CACHE_MAX_BODY || zlen < 0 || !sha) {
            rc = plumb_err(err, PLUMB_EFORMAT, "%s: page cache entry for %s is corrupt (body size %lld)",
                           c->path, url, (long long)blen);
            goto fail;
        }
        out->status = sqlite3_column_int(st, 0);
        out->content_type = dup_col(st, 1);
        out->final_url = dup_col(st, 2);
        out->body = malloc((size_t)blen + 1);
        if (!out->body || !out->final_url) {
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
            goto fail;
        }
        dlen = (uLongf)blen;
        if (blen && (!z || uncompress((Bytef *)out->body, &dlen, z, (uLong)zlen) != Z_OK ||
                     dlen != (uLongf)blen)) {
            rc = plumb_err(err, PLUMB_EFORMAT, "%s: page cache entry for %s is corrupt (body does not inflate)",
                           c->path, url);
            goto fail;
        }
        out->body[blen] = 0;
        out->len = (size_t)blen;
        sha256_hex(out->body, out->len, hex);
        if (strcmp(hex, sha)) {
            rc = plumb_err(err, PLUMB_EFORMAT, "%s: page cache entry for %s is corrupt (SHA-256 differs)",
                           c->path, url);
            goto fail;
        }
        memcpy(out->sha256, hex, sizeof out->sha256);
        snprintf(out->fetched_at, sizeof out->fetched_at, "%s", at ? at : "");
    }
    sqlite3_finalize(st);
    return 1;
fail:
    sqlite3_finalize(st);
    cache_page_free(out);
    return rc;
}

int cache_put_page(Cache *c, const char *url, const CachedPage *page, PlumbError *err)
{
    sqlite3_stmt *st = NULL;
    Bytef *z = NULL;
    uLongf zlen;
    char hex[SHA256_HEX_LEN + 1], at[32];
    int rc;
    if (c->mode == CACHE_RO)
        return PLUMB_OK;
    if (page->len > CACHE_MAX_BODY)
        return plumb_err(err, PLUMB_EINVAL, "%s: page %s too large to cache (%zu bytes)", c->path, url,
                         page->len);
    zlen = compressBound((uLong)page->len);
    if (!(z = malloc(zlen ? zlen : 1)))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    if (compress2(z, &zlen, (const Bytef *)(page->body ? page->body : ""), (uLong)page->len, 6) != Z_OK) {
        free(z);
        return plumb_err(err, PLUMB_ENOMEM, "%s: compressing %s failed", c->path, url);
    }
    sha256_hex(page->body ? page->body : "", page->len, hex);
    if (page->fetched_at[0])
        snprintf(at, sizeof at, "%s", page->fetched_at);
    else
        now_iso(at);
    if (sqlite3_prepare_v2(c->db,
                           "INSERT OR REPLACE INTO pages(url, status, content_type, final_url, body,"
                           " body_len, sha256, fetched_at, headers) VALUES(?1,?2,?3,?4,?5,?6,?7,?8,NULL)",
                           -1, &st, NULL) != SQLITE_OK) {
        free(z);
        return db_err(c, err, "storing a page");
    }
    sqlite3_bind_text(st, 1, url, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, page->status);
    if (page->content_type)
        sqlite3_bind_text(st, 3, page->content_type, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, page->final_url ? page->final_url : url, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 5, z, (int)zlen, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, (sqlite3_int64)page->len);
    sqlite3_bind_text(st, 7, hex, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 8, at, -1, SQLITE_STATIC);
    rc = sqlite3_step(st) == SQLITE_DONE ? PLUMB_OK : db_err(c, err, "storing a page");
    sqlite3_finalize(st);
    free(z);
    return rc;
}

/* One text column from a one-row query with text parameters. */
static int get_text(Cache *c, const char *sql, const char *const *params, int n_params, int64_t num,
                    char **out, PlumbError *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc, i;
    *out = NULL;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(c, err, what);
    for (i = 0; i < n_params; i++)
        sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
    if (num >= 0)
        sqlite3_bind_int64(st, n_params + 1, num);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        *out = strdup(s ? s : "");
        rc = *out ? 1 : plumb_err(err, PLUMB_ENOMEM, "out of memory");
    } else
        rc = rc == SQLITE_DONE ? 0 : db_err(c, err, what);
    sqlite3_finalize(st);
    return rc;
}

static int put_row(Cache *c, const char *sql, const char *const *params, int n_params, int64_t num,
                   PlumbError *err, const char *what)
{
    sqlite3_stmt *st = NULL;
    int rc, i;
    if (c->mode == CACHE_RO)
        return PLUMB_OK;
    if (sqlite3_prepare_v2(c->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_err(c, err, what);
    for (i = 0; i < n_params; i++)
        sqlite3_bind_text(st, i + 1, params[i], -1, SQLITE_STATIC);
    if (num >= 0)
        sqlite3_bind_int64(st, n_params + 1, num);
    rc = sqlite3_step(st) == SQLITE_DONE ? PLUMB_OK : db_err(c, err, what);
    sqlite3_finalize(st);
    return rc;
}

int cache_get_search(Cache *c, const char *backend, const char *query, char **json, PlumbError *err)
{
    const char *p[2] = { backend, query };
    return get_text(c, "SELECT json FROM searches WHERE backend = ?1 AND query = ?2", p, 2, -1, json,
                    err, "reading a search");
}

int cache_put_search(Cache *c, const char *backend, const char *query, const char *json, PlumbError *err)
{
    char at[32];
    const char *p[4] = { backend, query, json, at };
    now_iso(at);
    return put_row(c, "INSERT OR REPLACE INTO searches(backend, query, json, fetched_at) VALUES(?1,?2,?3,?4)",
                   p, 4, -1, err, "storing a search");
}

int cache_get_extract(Cache *c, const char *sha256, const char *goal, const char *model,
                      int32_t budget, char **json, PlumbError *err)
{
    const char *p[3] = { sha256, goal, model };
    return get_text(c, "SELECT json FROM extractions WHERE sha256 = ?1 AND goal = ?2 AND model = ?3"
                       " AND budget = ?4", p, 3, budget, json, err, "reading an extraction");
}

int cache_put_extract(Cache *c, const char *sha256, const char *goal, const char *model,
                      int32_t budget, const char *json, PlumbError *err)
{
    char at[32];
    const char *p[5] = { sha256, goal, model, json, at };
    now_iso(at);
    return put_row(c, "INSERT OR REPLACE INTO extractions(sha256, goal, model, json, created_at, budget)"
                      " VALUES(?1,?2,?3,?4,?5,?6)", p, 5, budget, err, "storing an extraction");
}

int cache_get_robots(Cache *c, const char *origin, long *status, char **body, PlumbError *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    *body = NULL;
    *status = 0;
    if (sqlite3_prepare_v2(c->db, "SELECT status, body FROM robots WHERE origin = ?1 AND fetched_at >= ?2",
                           -1, &st, NULL) != SQLITE_OK)
        return db_err(c, err, "reading robots.txt");
    sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL) - ROBOTS_TTL_S);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        *status = sqlite3_column_int(st, 0);
        *body = dup_col(st, 1);
        if (!*body)
            *body = strdup("");
        rc = *body ? 1 : plumb_err(err, PLUMB_ENOMEM, "out of memory");
    } else
        rc = rc == SQLITE_DONE ? 0 : db_err(c, err, "reading robots.txt");
    sqlite3_finalize(st);
    return rc;
}

int cache_put_robots(Cache *c, const char *origin, long status, const char *body, PlumbError *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    if (c->mode == CACHE_RO)
        return PLUMB_OK;
    if (sqlite3_prepare_v2(c->db, "INSERT OR REPLACE INTO robots(origin, status, body, fetched_at)"
                                  " VALUES(?1,?2,?3,?4)", -1, &st, NULL) != SQLITE_OK)
        return db_err(c, err, "storing robots.txt");
    sqlite3_bind_text(st, 1, origin, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, status);
    sqlite3_bind_text(st, 3, body ? body : "", -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (sqlite3_int64)time(NULL));
    rc = sqlite3_step(st) == SQLITE_DONE ? PLUMB_OK : db_err(c, err, "storing robots.txt");
    sqlite3_finalize(st);
    return rc;
}
