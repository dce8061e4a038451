/*
 * test_search.c — the search and google_scholar tools against a fake
 * SearXNG on loopback (fake_searxng.py with tests/data/agent/searxng.json):
 * exact result blocks (tests/data/agent/search-web.txt, search-scholar.txt,
 * made from the same answers with the reference's own formatting),
 * argument errors, 403 (the search.formats hint), 429 with Retry-After
 * (waited once, then no results), every engine down, a non-JSON answer,
 * the cache (a second run and a read-only replay make no request), and
 * --offline (no request, a warning).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "format.h"
#include "index.h"
#include "tools.h"
#include "../testlib.h"
#include "websrv.h"

static WebSrv srv;
static char base[64], tmp[256], cache_path[512];
static Buf warnings;

static void on_warning(void *user, const char *line)
{
    (void)user;
    buf_puts(&warnings, line);
}

static const char *index_db; /* set for the index tests */

static AgentTools *tools(CacheMode mode, int offline)
{
    AgentToolsParams p = { 0 };
    p.index_db = index_db;
    AgentTools *t = NULL;
    PlumbError err = { 0 };
    p.searxng = base;
    p.cache_db = mode == CACHE_OFF ? NULL : cache_path;
    p.cache_mode = mode;
    p.offline = offline;
    p.host_delay_s = -1;
    p.on_warning = on_warning;
    CHECK(agent_tools_open(&t, &p, &err) == 0, "open: %s", err.msg);
    return t;
}

/* Run tool on args (JSON text); the result, malloc'd. */
static char *run(AgentTools *t, const char *tool, const char *args)
{
    json_error_t jerr;
    json_t *a = json_loads(args, JSON_DECODE_ANY, &jerr);
    char *out = NULL;
    PlumbError err = { 0 };
    int rc;
    buf_reset(&warnings);
    rc = agent_tools_call(t, tool, a, NULL, &out, &err);
    CHECK(rc == 0, "%s %s: %s", tool, args, err.msg);
    json_decref(a);
    return out ? out : strdup("");
}

static void check_file(const char *what, const char *got, const char *file)
{
    size_t n;
    char *want = test_read_file(test_data(file), &n);
    CHECK(want && !strcmp(got, want), "%s:\n--- got\n%s\n--- want\n%s\n---", what, got, want ? want : "(no file)");
    free(want);
}

static int hits(const char *q, int science)
{
    char key[512];
    snprintf(key, sizeof key, "/search?q=%s&format=json%s", q, science ? "&categories=science" : "");
    return websrv_hits(&srv, key);
}

static void test_blocks(void)
{
    AgentTools *t = tools(CACHE_RW, 0);
    char *out;
    out = run(t, "search", "{\"query\": [\"tidal power\", \"nothing here\"]}");
    check_file("search block", out, "agent/search-web.txt");
    CHECK(hits("tidal%20power", 0) == 1, "one request");
    free(out);
    out = run(t, "google_scholar", "{\"query\": \"tidal power\"}");
    check_file("scholar block", out, "agent/search-scholar.txt");
    CHECK(hits("tidal%20power", 1) == 1, "one science request");
    free(out);
    /* the same queries again: from the cache */
    out = run(t, "search", "{\"query\": \"tidal power\"}");
    CHECK(!strncmp(out, "A Google search for 'tidal power' found 10 results:", 51), "cached: %.60s", out);
    CHECK(hits("tidal%20power", 0) == 1, "the cache answered");
    free(out);
    agent_tools_close(t);

    /* replay read-only: the cached answers, nothing for the rest, no request */
    t = tools(CACHE_RO, 0);
    out = run(t, "search", "{\"query\": [\"tidal power\", \"nothing here\"]}");
    check_file("replayed search block", out, "agent/search-web.txt");
    free(out);
    out = run(t, "google_scholar", "{\"query\": [\"tidal power\"]}");
    check_file("replayed scholar block", out, "agent/search-scholar.txt");
    free(out);
    out = run(t, "search", "{\"query\": \"busy once\"}");
    CHECK(!strcmp(out, "No results found for 'busy once'. Try with a more general query."), "ro miss: %s", out);
    CHECK(hits("busy%20once", 0) == 0 && hits("nothing%20here", 0) == 1, "ro made requests");
    free(out);
    agent_tools_close(t);
}

static void test_args(void)
{
    static const char *const bad[] = {
        "{\"query\": 5}", "{\"query\": []}", "{\"query\": [\"ok\", 1]}", "[\"q\"]", "{\"q\": \"x\"}",
        "\"tidal power\"", "{\"query\": null}",
    };
    AgentTools *t = tools(CACHE_OFF, 0);
    size_t i;
    for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = run(t, "search", bad[i]);
        CHECK(!strcmp(out, FORMAT_ERR_SEARCH_ARGS), "search %s: %s", bad[i], out);
        free(out);
        out = run(t, "google_scholar", bad[i]);
        CHECK(!strcmp(out, FORMAT_ERR_SCHOLAR_ARGS), "scholar %s: %s", bad[i], out);
        free(out);
    }
    agent_tools_close(t);
}

static void test_failures(void)
{
    AgentTools *t = tools(CACHE_RW, 0);
    char *out;

    out = run(t, "search", "{\"query\": \"forbidden\"}");
    CHECK(!strcmp(out, "No results found for 'forbidden'. Try with a more general query."), "403: %s", out);
    CHECK(strstr(buf_str(&warnings), "search.formats") && strstr(buf_str(&warnings), "403") &&
              strstr(buf_str(&warnings), "http://127.0.0.1:") && !strstr(buf_str(&warnings), "/ refused"),
          "403 warning: %s", buf_str(&warnings));
    free(out);

    out = run(t, "search", "{\"query\": \"busy\"}");
    CHECK(!strcmp(out, "No results found for 'busy'. Try with a more general query."), "429: %s", out);
    CHECK(hits("busy", 0) == 2, "429 retried once: %d requests", hits("busy", 0));
    CHECK(strstr(buf_str(&warnings), "429"), "429 warning: %s", buf_str(&warnings));
    free(out);

    out = run(t, "search", "{\"query\": \"busy once\"}");
    CHECK(strstr(out, "1. [After the wait](https://example.com/after-wait)") != NULL, "429 then 200: %s", out);
    CHECK(hits("busy%20once", 0) == 2, "429 then 200: %d requests", hits("busy%20once", 0));
    CHECK(warnings.len == 0, "no warning: %s", buf_str(&warnings));
    free(out);

    out = run(t, "search", "{\"query\": [\"engines down\"]}");
    CHECK(!strcmp(out, "No results found for 'engines down'. Try with a more general query."), "down: %s", out);
    CHECK(strstr(buf_str(&warnings), "google (timeout), duckduckgo (CAPTCHA)"), "down warning: %s",
          buf_str(&warnings));
    free(out);
    /* an empty answer is not cached: asked again */
    free(run(t, "search", "{\"query\": [\"engines down\"]}"));
    CHECK(hits("engines%20down", 0) == 2, "failures are not cached");

    out = run(t, "search", "{\"query\": \"not json\"}");
    CHECK(!strcmp(out, "No results found for 'not json'. Try with a more general query."), "not json: %s", out);
    CHECK(strstr(buf_str(&warnings), "not a JSON object"), "not json warning: %s", buf_str(&warnings));
    free(out);

    out = run(t, "search", "{\"query\": \"server error\"}");
    CHECK(strstr(buf_str(&warnings), "HTTP 500"), "500 warning: %s", buf_str(&warnings));
    free(out);
    agent_tools_close(t);

    /* offline: no request, the no-results text, a warning */
    t = tools(CACHE_OFF, 1);
    out = run(t, "search", "{\"query\": \"offline query\"}");
    CHECK(!strcmp(out, "No results found for 'offline query'. Try with a more general query."), "offline: %s", out);
    CHECK(hits("offline%20query", 0) == 0, "offline made a request");
    CHECK(strstr(buf_str(&warnings), "--offline"), "offline warning: %s", buf_str(&warnings));
    CHECK(t->n_connections == 0, "offline connections: %zu", t->n_connections);
    free(out);
    agent_tools_close(t);
}

/* The local index first, SearXNG when it has nothing; offline: the index only. */
static void test_index(void)
{
    char corpus[512], db[512], path[600];
    Index *ix = NULL;
    IndexStats st;
    PlumbError err = { 0 };
    AgentTools *t;
    FILE *f;
    char *out;
    Buf want = { 0 };
    snprintf(corpus, sizeof corpus, "%s/corpus", tmp);
    snprintf(db, sizeof db, "%s/index.sqlite", tmp);
    mkdir(corpus, 0700);
    snprintf(path, sizeof path, "%s/tides.txt", corpus);
    f = fopen(path, "w");
    if (f) {
        fputs("Lunar tides\n\nThe lunar tides raise the water in the harbour twice a day, and the tidal "
              "stream turbines of the firth turn with them.\n", f);
        fclose(f);
    }
    CHECK(index_open(&ix, db, 1, &err) == 0 && index_add(ix, corpus, NULL, 0, 0, &st, &err) == 0, "index: %s",
          err.msg);
    CHECK(index_format_search(ix, "lunar tides", 10, &want, &err) == 0 && strstr(buf_str(&want), "file://"),
          "index block: %s", buf_str(&want));
    index_close(ix);
    index_db = db;

    t = tools(CACHE_OFF, 0);
    out = run(t, "search", "{\"query\": [\"lunar tides\", \"quokka fallback\"]}");
    CHECK(!strncmp(out, buf_str(&want), want.len) && !strncmp(out + want.len, FORMAT_SEP, strlen(FORMAT_SEP)),
          "the index answers first: %s", out);
    CHECK(strstr(out, FORMAT_SEP "A Google search for 'quokka fallback' found 1 results:") != NULL,
          "SearXNG when the index has nothing: %s", out);
    CHECK(hits("lunar%20tides", 0) == 0 && hits("quokka%20fallback", 0) == 1, "requests");
    free(out);
    out = run(t, "google_scholar", "{\"query\": \"lunar tides\"}");
    CHECK(!strncmp(out, "A Google scholar for 'lunar tides' found 1 results:\n\n## Scholar Results\n1. [", 74) &&
              strstr(out, "](pdfUrl: file://"), "scholar from the index: %s", out);
    free(out);
    agent_tools_close(t);

    t = tools(CACHE_OFF, 1);
    out = run(t, "search", "{\"query\": [\"lunar tides\", \"quokka fallback\"]}");
    CHECK(!strncmp(out, buf_str(&want), want.len) &&
              strstr(out, FORMAT_SEP "No results found for 'quokka fallback'. Try with a more general query."),
          "offline: the index only: %s", out);
    CHECK(hits("quokka%20fallback", 0) == 1 && t->n_connections == 0, "offline made a request");
    free(out);
    agent_tools_close(t);
    index_db = NULL;
    buf_free(&want);
}

static void test_unreachable(void)
{
    AgentTools *t;
    char *out;
    snprintf(base, sizeof base, "http://127.0.0.1:1");
    t = tools(CACHE_OFF, 0);
    out = run(t, "search", "{\"query\": \"nobody listens\"}");
    CHECK(!strcmp(out, "No results found for 'nobody listens'. Try with a more general query."), "%s", out);
    CHECK(strstr(buf_str(&warnings), "127.0.0.1:1"), "unreachable warning: %s", buf_str(&warnings));
    free(out);
    agent_tools_close(t);
}

int main(void)
{
    char answers[4096];
    const char *opts[4];
    snprintf(answers, sizeof answers, "%s", test_data("agent/searxng.json"));
    opts[0] = "--answers";
    opts[1] = answers;
    opts[2] = NULL;
    snprintf(tmp, sizeof tmp, "%s/plumb-test-search-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp) || websrv_start(&srv, opts) != 0) {
        fprintf(stderr, "test_search: cannot start the fake SearXNG\n");
        return 1;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", srv.port);
    snprintf(cache_path, sizeof cache_path, "%s/web.sqlite", tmp);
    test_blocks();
    test_args();
    test_failures();
    test_index();
    websrv_stop(&srv);
    test_unreachable();
    buf_free(&warnings);
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
    }
    return test_done("test_search");
}
