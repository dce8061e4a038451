/*
 * test_cache.c — the page cache (cache.h): the default path, directories
 * made 0700, round trips of pages (binary, large, replaced), searches,
 * extractions (keyed by budget too) and robots.txt (expired after 24 h),
 * WAL mode, read-only replay (no writes, a reader beside a writer), and the
 * errors for a missing, empty, corrupt or foreign database and for a
 * corrupt entry, each naming the path.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cache.h"
#include "hash.h"
#include "../testlib.h"

static char tmp[256];

static void test_default_path(void)
{
    char *p = NULL;
    PlumbError err = { 0 };
    const char *old_home = getenv("HOME");
    char *home = old_home ? strdup(old_home) : NULL;
    setenv("XDG_CACHE_HOME", "/xdg/cache", 1);
    CHECK(cache_default_path(&p, &err) == 0 && !strcmp(p, "/xdg/cache/plumb/web.sqlite"), "xdg: %s", p);
    free(p);
    setenv("XDG_CACHE_HOME", "relative/ignored", 1);
    setenv("HOME", "/home/u", 1);
    CHECK(cache_default_path(&p, &err) == 0 && !strcmp(p, "/home/u/.cache/plumb/web.sqlite"), "home: %s", p);
    free(p);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    CHECK(cache_default_path(&p, &err) < 0 && p == NULL && strstr(err.msg, "--cache"), "none: %s", err.msg);
    if (home) {
        setenv("HOME", home, 1);
        free(home);
    }
}

static void put_page(Cache *c, const char *url, const char *body, size_t len, const char *ct)
{
    CachedPage pg = { 0 };
    PlumbError err = { 0 };
    pg.status = 200;
    pg.body = (char *)body;
    pg.len = len;
    pg.content_type = (char *)ct;
    pg.final_url = (char *)url;
    CHECK(cache_put_page(c, url, &pg, &err) == 0, "put %s: %s", url, err.msg);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK, "open %s", path);
    CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    sqlite3_close(db);
}

static void test_roundtrip(void)
{
    char path[512], *big, *json;
    Cache *c = NULL, *ro = NULL;
    CachedPage pg;
    PlumbError err = { 0 };
    struct stat sb;
    size_t i, big_len = 3u << 20;
    long status;
    char hex[65];

    snprintf(path, sizeof path, "%s/a/b/web.sqlite", tmp);
    CHECK(cache_open(&c, path, CACHE_RW, &err) == 0, "open rw: %s", err.msg);
    if (!c)
        return;
    snprintf(path, sizeof path, "%s/a/b", tmp);
    CHECK(stat(path, &sb) == 0 && (sb.st_mode & 0777) == 0700, "directory mode %o", sb.st_mode & 0777);
    snprintf(path, sizeof path, "%s/a/b/web.sqlite", tmp);

    /* pages: binary with NULs, a large compressible one, a miss */
    put_page(c, "https://x.org/bin", "a\0b\0\xff", 5, "application/octet-stream");
    big = malloc(big_len);
    for (i = 0; i < big_len; i++)
        big[i] = "the quick brown fox "[i % 20];
    put_page(c, "https://x.org/big", big, big_len, NULL);
    CHECK(cache_get_page(c, "https://x.org/bin", &pg, &err) == 1, "get bin: %s", err.msg);
    CHECK(pg.len == 5 && !memcmp(pg.body, "a\0b\0\xff", 5) && pg.body[5] == 0 && pg.status == 200,
          "bin body");
    CHECK(pg.content_type && !strcmp(pg.content_type, "application/octet-stream"), "content type");
    sha256_hex("a\0b\0\xff", 5, hex);
    CHECK(!strcmp(pg.sha256, hex), "sha256 %s", pg.sha256);
    CHECK(strlen(pg.fetched_at) == 20 && pg.fetched_at[19] == 'Z', "fetched_at %s", pg.fetched_at);
    cache_page_free(&pg);
    CHECK(cache_get_page(c, "https://x.org/big", &pg, &err) == 1 && pg.len == big_len &&
              !memcmp(pg.body, big, big_len) && pg.content_type == NULL, "big body");
    cache_page_free(&pg);
    CHECK(cache_get_page(c, "https://x.org/none", &pg, &err) == 0, "miss");
    /* replace */
    put_page(c, "https://x.org/bin", "new", 3, "text/plain");
    CHECK(cache_get_page(c, "https://x.org/bin", &pg, &err) == 1 && pg.len == 3 && !strcmp(pg.body, "new"),
          "replaced");
    cache_page_free(&pg);

    /* searches, extractions, robots */
    CHECK(cache_put_search(c, "searxng", "tidal power", "{\"results\": []}", &err) == 0, "put search");
    CHECK(cache_get_search(c, "searxng", "tidal power", &json, &err) == 1 && !strcmp(json, "{\"results\": []}"),
          "get search");
    free(json);
    CHECK(cache_get_search(c, "searxng-science", "tidal power", &json, &err) == 0 && !json, "search miss");
    CHECK(cache_put_extract(c, hex, "goal", "model A", 6144, "{\"evidence\": \"e\"}", &err) == 0, "put extract");
    CHECK(cache_get_extract(c, hex, "goal", "model A", 6144, &json, &err) == 1 && strstr(json, "\"e\""),
          "get extract");
    free(json);
    CHECK(cache_get_extract(c, hex, "goal", "model A", 2048, &json, &err) == 0, "budget is in the key");
    CHECK(cache_get_extract(c, hex, "goal", "model B", 6144, &json, &err) == 0, "model is in the key");
    CHECK(cache_put_robots(c, "https://x.org", 200, "User-agent: *\nDisallow: /p/\n", &err) == 0, "put robots");
    CHECK(cache_get_robots(c, "https://x.org", &status, &json, &err) == 1 && status == 200 &&
              strstr(json, "Disallow"), "get robots");
    free(json);

    /* a reader beside the writer (WAL) sees what was written; its writes are no-ops */
    CHECK(cache_open(&ro, path, CACHE_RO, &err) == 0, "open ro: %s", err.msg);
    if (ro) {
        CHECK(cache_get_page(ro, "https://x.org/big", &pg, &err) == 1 && pg.len == big_len, "ro get");
        cache_page_free(&pg);
        put_page(ro, "https://x.org/ro-write", "x", 1, NULL);
        CHECK(cache_put_search(ro, "searxng", "q", "{}", &err) == 0, "ro put search is a no-op");
        CHECK(cache_get_page(c, "https://x.org/ro-write", &pg, &err) == 0, "ro wrote nothing");
        CHECK(cache_get_search(c, "searxng", "q", &json, &err) == 0, "ro wrote no search");
        cache_close(ro);
    }
    cache_close(c);
    free(big);

    /* WAL mode on the file */
    {
        sqlite3 *db;
        sqlite3_stmt *st;
        sqlite3_open(path, &db);
        sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL);
        CHECK(sqlite3_step(st) == SQLITE_ROW && !strcmp((const char *)sqlite3_column_text(st, 0), "wal"),
              "journal mode");
        sqlite3_finalize(st);
        sqlite3_close(db);
    }

    /* robots.txt older than 24 h counts as absent */
    exec_sql(path, "UPDATE robots SET fetched_at = fetched_at - 90000");
    CHECK(cache_open(&c, path, CACHE_RW, &err) == 0, "reopen: %s", err.msg);
    if (c) {
        CHECK(cache_get_robots(c, "https://x.org", &status, &json, &err) == 0, "robots expired");
        cache_close(c);
    }

    /* a corrupt entry: the SHA-256 no longer matches */
    exec_sql(path, "UPDATE pages SET sha256 = 'deadbeef' WHERE url = 'https://x.org/bin'");
    CHECK(cache_open(&c, path, CACHE_RO, &err) == 0, "reopen ro: %s", err.msg);
    if (c) {
        CHECK(cache_get_page(c, "https://x.org/bin", &pg, &err) == PLUMB_EFORMAT &&
                  strstr(err.msg, path) && strstr(err.msg, "https://x.org/bin"), "corrupt entry: %s", err.msg);
        cache_close(c);
    }
}

static void test_bad_files(void)
{
    char path[512];
    Cache *c = NULL;
    PlumbError err = { 0 };
    FILE *f;

    snprintf(path, sizeof path, "%s/missing.sqlite", tmp);
    CHECK(cache_open(&c, path, CACHE_RO, &err) < 0 && !c && strstr(err.msg, path), "missing ro: %s", err.msg);
    CHECK(access(path, F_OK) != 0, "ro created a file");

    snprintf(path, sizeof path, "%s/garbage.sqlite", tmp);
    f = fopen(path, "wb");
    for (int i = 0; i < 200; i++)
        fputs("this is not a database at all. ", f);
    fclose(f);
    err.msg[0] = 0;
    CHECK(cache_open(&c, path, CACHE_RW, &err) == PLUMB_EFORMAT && strstr(err.msg, path) &&
              strstr(err.msg, "corrupt"), "garbage rw: %s", err.msg);
    err.msg[0] = 0;
    CHECK(cache_open(&c, path, CACHE_RO, &err) == PLUMB_EFORMAT && strstr(err.msg, path), "garbage ro: %s",
          err.msg);

    snprintf(path, sizeof path, "%s/foreign.sqlite", tmp);
    exec_sql(path, "CREATE TABLE doc(id INTEGER PRIMARY KEY, path TEXT)");
    err.msg[0] = 0;
    CHECK(cache_open(&c, path, CACHE_RW, &err) == PLUMB_EFORMAT && strstr(err.msg, path) &&
              strstr(err.msg, "not a plumb page cache") && strstr(err.msg, "'doc'"), "foreign: %s", err.msg);

    snprintf(path, sizeof path, "%s/empty.sqlite", tmp);
    f = fopen(path, "wb");
    fclose(f);
    err.msg[0] = 0;
    CHECK(cache_open(&c, path, CACHE_RO, &err) < 0 && strstr(err.msg, path), "empty ro: %s", err.msg);
    CHECK(cache_open(&c, path, CACHE_RW, &err) == 0, "empty rw becomes a cache: %s", err.msg);
    cache_close(c);
    c = NULL;

    snprintf(path, sizeof path, "%s/version.sqlite", tmp);
    CHECK(cache_open(&c, path, CACHE_RW, &err) == 0, "new: %s", err.msg);
    cache_close(c);
    c = NULL;
    exec_sql(path, "UPDATE plumb_cache SET value = '99' WHERE key = 'version'");
    CHECK(cache_open(&c, path, CACHE_RW, &err) == PLUMB_EFORMAT && strstr(err.msg, "'99'"), "version: %s",
          err.msg);
    CHECK(cache_open(&c, path, CACHE_OFF, &err) == PLUMB_EINVAL, "mode off");
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "%s/plumb-test-cache-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    test_default_path();
    test_roundtrip();
    test_bad_files();
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
    }
    return test_done("test_cache");
}
