/*
 * test_visit.c — the visit tool against pages served on loopback
 * (fake_searxng.py --pages tests/data/agent/web) with an extractor written
 * here on the backend interface (llm_impl.h) that replays scripted replies
 * and records the prompts it gets.
 *
 * Checked: the exact block for a page and for a list with failures
 * (tests/data/agent/visit-*.txt, {BASE} standing for the server's URL);
 * the page text the extractor reads (visit-tidal-page.txt) and its
 * temperature; the sources recorded; a second visit served by the page and
 * extraction caches; a read-only replay with the server gone; re-asking
 * after replies without usable JSON (and giving up after three); <think>
 * and fences around the JSON; a context-length error answered with a
 * shorter text; a long page (English and Chinese) cut to the budget around
 * the goal's passage; the text given when there is no extractor; charset
 * conversion; argument errors; --offline; file:// URLs inside and outside
 * --files.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "format.h"
#include "hash.h"
#include "index.h"
#include "llm_impl.h"
#include "tools.h"
#include "../testlib.h"
#include "websrv.h"

#define GOAL "How much electricity did MeyGen produce in 2023?"

/* ------------------------------------------------------------ the extractor */
typedef struct Fake {
    PlumbLLM base;
    const char *replies[8]; /* "!ERANGE" and "!ERROR" fail the call */
    size_t n_replies, next;
    int calls;
    char *prompts[8];       /* what each call was given */
    float temperature;      /* of the last call */
} Fake;

static int fake_generate(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, const LlmParams *p,
                         LlmTextFn fn, void *user, LlmResult *res, PlumbError *err)
{
    Fake *f = (Fake *)l;
    const char *r;
    (void)fn;
    (void)user;
    if (f->calls < 8)
        f->prompts[f->calls] = strdup(n == 1 && !strcmp(msgs[0].role, "user") ? msgs[0].content : "(bad messages)");
    f->calls++;
    f->temperature = p->temperature;
    if (f->next >= f->n_replies)
        return plumb_err(err, PLUMB_EIO, "fake extractor: no reply left");
    r = f->replies[f->next++];
    if (!strcmp(r, "!ERANGE"))
        return plumb_err(err, PLUMB_ERANGE, "fake extractor: context full");
    if (!strcmp(r, "!ERROR"))
        return plumb_err(err, PLUMB_EIO, "fake extractor: server error");
    res->text = strdup(r);
    res->text_len = strlen(r);
    return PLUMB_OK;
}

static int fake_count(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, size_t *n_tokens, PlumbError *err)
{
    (void)l;
    (void)msgs;
    (void)n;
    (void)err;
    *n_tokens = 0;
    return PLUMB_OK;
}

static void fake_close(PlumbLLM *l)
{
    (void)l;
}

static const LlmOps fake_ops = { fake_generate, fake_count, NULL, fake_close };

static void fake_init(Fake *f, const char *const *replies, size_t n)
{
    memset(f, 0, sizeof *f);
    f->base.ops = &fake_ops;
    snprintf(f->base.describe, sizeof f->base.describe, "fake extractor");
    for (size_t i = 0; i < n && i < 8; i++)
        f->replies[i] = replies[i];
    f->n_replies = n;
}

static void fake_free(Fake *f)
{
    for (int i = 0; i < f->calls && i < 8; i++)
        free(f->prompts[i]);
}

/* ------------------------------------------------------------ helpers */
static WebSrv srv;
static char base[64], tmp[256], cache_path[512], files_dir[512];
static Buf warnings;
static char *reply_json;

static void on_warning(void *user, const char *line)
{
    (void)user;
    buf_puts(&warnings, line);
}

static const char *index_db; /* set for the index test */

static AgentTools *tools(CacheMode mode, Fake *ex, int32_t budget)
{
    AgentToolsParams p = { 0 };
    p.index_db = index_db;
    AgentTools *t = NULL;
    PlumbError err = { 0 };
    p.cache_db = mode == CACHE_OFF ? NULL : cache_path;
    p.cache_mode = mode;
    p.allow_private = 1;
    p.host_delay_s = -1;
    p.extractor = ex ? &ex->base : NULL;
    p.visit_budget = budget;
    p.files_dir = files_dir;
    p.on_warning = on_warning;
    CHECK(agent_tools_open(&t, &p, &err) == 0, "open: %s", err.msg);
    return t;
}

static char *visit(AgentTools *t, const char *args)
{
    json_error_t jerr;
    json_t *a = json_loads(args, JSON_DECODE_ANY, &jerr);
    char *out = NULL;
    PlumbError err = { 0 };
    int rc;
    CHECK(a != NULL, "bad test JSON %s: %s", args, jerr.text);
    buf_reset(&warnings);
    rc = agent_tools_call(t, "visit", a, NULL, &out, &err);
    CHECK(rc == 0, "visit %s: %s", args, err.msg);
    json_decref(a);
    return out ? out : strdup("");
}

/* A file of tests/data with {BASE} replaced by the server's URL. */
static char *expected(const char *file)
{
    char *raw = test_read_file(test_data(file), NULL), *p;
    Buf b = { 0 };
    if (!raw)
        return strdup("(missing expected file)");
    for (p = raw; *p;) {
        char *m = strstr(p, "{BASE}");
        if (!m) {
            buf_puts(&b, p);
            break;
        }
        buf_append(&b, p, (size_t)(m - p));
        buf_puts(&b, base);
        p = m + 6;
    }
    free(raw);
    return buf_steal(&b);
}

static void check_expected(const char *what, const char *got, const char *file)
{
    char *want = expected(file);
    CHECK(!strcmp(got, want), "%s:\n--- got\n%s\n--- want\n%s\n---", what, got, want);
    free(want);
}

static char *args_for(const char *page, const char *goal)
{
    static char buf[2048];
    snprintf(buf, sizeof buf, "{\"url\": \"%s/pages/%s\", \"goal\": \"%s\"}", base, page, goal);
    return buf;
}

static int page_hits(const char *page)
{
    char key[256];
    snprintf(key, sizeof key, "/pages/%s", page);
    return websrv_hits(&srv, key);
}

/* ------------------------------------------------------------ tests */
static void test_exact(void)
{
    const char *replies[] = { reply_json };
    Fake ex;
    AgentTools *t;
    char *out, *page, hex[65];
    size_t n;

    fake_init(&ex, replies, 1);
    t = tools(CACHE_RW, &ex, 0);
    out = visit(t, args_for("tidal.html", GOAL));
    check_expected("tidal block", out, "agent/visit-tidal.txt");
    free(out);
    CHECK(ex.calls == 1 && ex.temperature > 0.69f && ex.temperature < 0.71f, "calls %d, temperature %g", ex.calls,
          (double)ex.temperature);
    page = expected("agent/visit-tidal-page.txt");
    CHECK(ex.prompts[0] && strstr(ex.prompts[0], page), "the extractor's page text:\n%s\n--- want inside it\n%s",
          ex.prompts[0], page);
    CHECK(ex.prompts[0] && strstr(ex.prompts[0], GOAL) && strstr(ex.prompts[0], "\"rational\""), "the goal and fields");
    free(page);
    page = test_read_file(test_data("agent/web/tidal.html"), &n);
    sha256_hex(page, n, hex);
    free(page);
    CHECK(t->n_sources == 1 && !strcmp(t->sources[0].final_url, t->sources[0].url) &&
              strstr(t->sources[0].url, "/pages/tidal.html") && !strcmp(t->sources[0].sha256, hex) &&
              !t->sources[0].from_cache, "source recorded");

    /* again: the page and the extraction come from the cache */
    out = visit(t, args_for("tidal.html", GOAL));
    check_expected("tidal block from the cache", out, "agent/visit-tidal.txt");
    free(out);
    CHECK(ex.calls == 1, "extraction cached: %d calls", ex.calls);
    CHECK(page_hits("tidal.html") == 1, "page cached: %d requests", page_hits("tidal.html"));
    CHECK(t->n_sources == 2 && t->sources[1].from_cache && !strcmp(t->sources[1].sha256, hex), "cached source");

    /* a list with pages that cannot be had */
    {
        char args[2048];
        snprintf(args, sizeof args,
                 "{\"goal\": \"%s\", \"url\": [\"%s/pages/tidal.html\", \"%s/pages/short.html\","
                 " \"%s/pages/missing.html\", \"%s/pages/pixel.png\", \"gopher://example.com/\"]}",
                 GOAL, base, base, base, base);
        out = visit(t, args);
        check_expected("list block", out, "agent/visit-list.txt");
        free(out);
        CHECK(strstr(buf_str(&warnings), "HTTP 404") && strstr(buf_str(&warnings), "fewer than 200") &&
                  strstr(buf_str(&warnings), "not a text"), "warnings: %s", buf_str(&warnings));
    }
    agent_tools_close(t);
    fake_free(&ex);
}

static void test_replay(void)
{
    Fake ex;
    AgentTools *t;
    char *out;
    fake_init(&ex, NULL, 0);
    t = tools(CACHE_RO, &ex, 0);
    out = visit(t, args_for("tidal.html", GOAL));
    check_expected("replayed block", out, "agent/visit-tidal.txt");
    free(out);
    CHECK(ex.calls == 0, "replay called the extractor");
    CHECK(t->n_sources == 1 && t->sources[0].from_cache, "replayed source");
    out = visit(t, args_for("notes.latin1.html", GOAL));
    CHECK(strstr(out, FORMAT_VISIT_FAIL_EVIDENCE) != NULL, "not cached: %s", out);
    CHECK(strstr(buf_str(&warnings), "not in the page cache"), "warning: %s", buf_str(&warnings));
    CHECK(t->n_connections == 0, "replay connected %zu times", t->n_connections);
    free(out);
    agent_tools_close(t);
    fake_free(&ex);
}

static void test_retries(void)
{
    static const char good_fenced[] = "```json\n{\"rational\": \"r\", \"evidence\": \"E1\", \"summary\": \"S1\"}\n```";
    static const char think[] =
        "<think>the JSON should be { like this</think>Here it is: {\"rational\": \"r\", \"evidence\": [\"a\", \"b's\"], "
        "\"summary\": {\"k\": 1}} Hope it helps.";
    AgentTools *t;
    Fake ex;
    char *out;
    {
        const char *r[] = { "I cannot produce JSON.", "{\"evidence\": \"only evidence\"}", good_fenced };
        fake_init(&ex, r, 3);
        t = tools(CACHE_OFF, &ex, 0);
        out = visit(t, args_for("tidal.html", GOAL));
        CHECK(ex.calls == 3, "re-asked: %d calls", ex.calls);
        CHECK(strstr(out, "Evidence in page: \nE1\n\nSummary: \nS1") && !strstr(out, "\n\n\n"), "third reply: %s", out);
        CHECK(ex.prompts[1] && ex.prompts[2] && !strcmp(ex.prompts[1], ex.prompts[2]), "the same question again");
        free(out);
        agent_tools_close(t);
        fake_free(&ex);
    }
    {
        const char *r[] = { "no", "still no", "{\"rational\": \"r\"}", good_fenced };
        fake_init(&ex, r, 4);
        t = tools(CACHE_OFF, &ex, 0);
        out = visit(t, args_for("tidal.html", GOAL));
        CHECK(ex.calls == 3, "gave up after %d calls", ex.calls);
        CHECK(strstr(out, FORMAT_VISIT_FAIL_EVIDENCE) != NULL, "failure block: %s", out);
        free(out);
        agent_tools_close(t);
        fake_free(&ex);
    }
    {
        const char *r[] = { think };
        fake_init(&ex, r, 1);
        t = tools(CACHE_OFF, &ex, 0);
        out = visit(t, args_for("tidal.html", GOAL));
        CHECK(strstr(out, "Evidence in page: \n['a', \"b's\"]\n\nSummary: \n{'k': 1}") != NULL, "think: %s", out);
        free(out);
        agent_tools_close(t);
        fake_free(&ex);
    }
    {
        const char *r[] = { "!ERANGE", "!ERROR", good_fenced };
        fake_init(&ex, r, 3);
        t = tools(CACHE_OFF, &ex, 0);
        out = visit(t, args_for("tidal.html", GOAL));
        CHECK(ex.calls == 3 && strstr(out, "E1"), "after ERANGE and an error: %d calls: %s", ex.calls, out);
        CHECK(ex.prompts[0] && ex.prompts[1] && strlen(ex.prompts[1]) < strlen(ex.prompts[0]),
              "shorter after ERANGE");
        CHECK(strstr(buf_str(&warnings), "server error"), "error warned: %s", buf_str(&warnings));
        free(out);
        agent_tools_close(t);
        fake_free(&ex);
    }
}

/* Write a long page with one paragraph that answers the goal. */
static void write_long_page(const char *name, int cjk)
{
    char path[1024];
    FILE *f;
    int i;
    snprintf(path, sizeof path, "%s/pages/%s", tmp, name);
    f = fopen(path, "w");
    if (!f)
        return;
    fputs("<html><head><title>A long page</title></head><body>\n", f);
    for (i = 0; i < 300; i++) {
        if (i == 170)
            fputs(cjk ? "<p>奥克尼涡轮机在第一个冬天的容量系数达到了百分之四十一，超过了预期。</p>\n"
                      : "<p>The Orkney turbine reached a capacity factor of 41 percent during its first winter, "
                        "well above what the engineers expected.</p>\n",
                  f);
        else if (cjk)
            fprintf(f, "<p>第%d段讲的是港口的天气、渔船和清晨的鱼市，商贩们在码头上叫卖新鲜的海产。</p>\n", i);
        else
            fprintf(f, "<p>Paragraph %d is about the weather over the harbour, the fishing boats and the "
                       "early market where traders sell fresh fish on the quay.</p>\n", i);
    }
    fputs("</body></html>\n", f);
    fclose(f);
}

static void test_long_page(void)
{
    AgentTools *t = tools(CACHE_OFF, NULL, 1024);
    char *out, *ev;
    write_long_page("long.html", 0);
    write_long_page("long-zh.html", 1);
    out = visit(t, args_for("long.html", "What capacity factor did the Orkney turbine reach?"));
    ev = strstr(out, "Evidence in page: \n");
    CHECK(ev && strstr(ev, "capacity factor of 41 percent"), "the goal's passage is kept: %.300s", out);
    CHECK(strstr(out, "[\xe2\x80\xa6]") != NULL, "the cut is marked");
    CHECK(strlen(out) < 1024 * 4 + 1200, "cut to the budget: %zu bytes", strlen(out));
    CHECK(strstr(out, "Title: A long page\n\nURL Source: ") != NULL, "the header is kept");
    CHECK(strstr(out, "no extraction model") || strstr(out, "No extraction model"), "the note: %s",
          strstr(out, "Summary") ? strstr(out, "Summary") : out);
    /* kept passages stay in document order */
    {
        const char *a = strstr(out, "Paragraph 0 "), *b = strstr(out, "capacity factor");
        CHECK(!a || a < b, "document order");
    }
    free(out);
    out = visit(t, args_for("long-zh.html", "奥克尼涡轮机的容量系数是多少？"));
    CHECK(strstr(out, "容量系数达到了百分之四十一") != NULL, "the CJK goal's passage is kept");
    CHECK(strstr(out, "[\xe2\x80\xa6]") != NULL, "the CJK page is cut");
    free(out);
    /* a short page is given whole, and a Latin-1 page arrives as UTF-8 */
    out = visit(t, args_for("notes.latin1.html", "prices"));
    CHECK(strstr(out, "Title: Caf\xc3\xa9 notes") && strstr(out, "the \xc2\xa3 prices") &&
              !strstr(out, "[\xe2\x80\xa6]"), "latin-1: %s", out);
    free(out);
    agent_tools_close(t);
}

static void test_args(void)
{
    static const char *const bad[] = {
        "{\"url\": \"https://example.com/\"}", "{\"url\": [], \"goal\": \"g\"}", "{\"url\": [1], \"goal\": \"g\"}",
        "{\"goal\": \"g\"}", "{\"url\": \"https://example.com/\", \"goal\": 5}", "\"https://example.com/\"",
        "[\"https://example.com/\"]",
    };
    AgentTools *t = tools(CACHE_OFF, NULL, 0);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *out = visit(t, bad[i]);
        CHECK(!strcmp(out, FORMAT_ERR_VISIT_ARGS), "%s: %s", bad[i], out);
        free(out);
    }
    agent_tools_close(t);
}

static void test_offline(void)
{
    AgentToolsParams p = { 0 };
    AgentTools *t = NULL;
    PlumbError err = { 0 };
    char *out;
    p.offline = 1;
    p.allow_private = 1;
    p.on_warning = on_warning;
    agent_tools_open(&t, &p, &err);
    out = visit(t, args_for("tidal.html", GOAL));
    CHECK(strstr(out, FORMAT_VISIT_FAIL_EVIDENCE) && t->n_connections == 0, "offline: %s", out);
    CHECK(strstr(buf_str(&warnings), "--offline"), "offline warning: %s", buf_str(&warnings));
    free(out);
    agent_tools_close(t);
}

static void test_files(void)
{
    AgentTools *t = tools(CACHE_OFF, NULL, 0);
    char path[1024], args[2048], *out, *src;
    size_t n;
    FILE *f;
    /* a text file under --files is read */
    src = test_read_file(test_data("agent/web/notes.txt"), &n);
    snprintf(path, sizeof path, "%s/notes.txt", files_dir);
    f = fopen(path, "w");
    if (f && src) {
        fwrite(src, 1, n, f);
        fclose(f);
    }
    free(src);
    snprintf(args, sizeof args, "{\"url\": \"file://%s\", \"goal\": \"tides\"}", path);
    out = visit(t, args);
    CHECK(strstr(out, "Spring tides happen near the new and full moon") != NULL, "file under --files: %s\n%s", out,
          buf_str(&warnings));
    CHECK(t->n_sources == 1 && !strncmp(t->sources[0].url, "file://", 7), "file source");
    free(out);
    /* a symbolic link out of --files, a file outside, a missing file */
    snprintf(path, sizeof path, "%s/escape.txt", files_dir);
    CHECK(symlink("/etc/passwd", path) == 0, "symlink");
    snprintf(args, sizeof args, "{\"url\": [\"file://%s\", \"file:///etc/passwd\", \"file://%s/none.txt\","
             " \"file://relative.txt\"], \"goal\": \"users\"}", path, files_dir);
    out = visit(t, args);
    CHECK(!strstr(out, "root:") && strstr(out, FORMAT_VISIT_FAIL_EVIDENCE), "refused: %s", out);
    {
        const char *p = out;
        int k = 0;
        while ((p = strstr(p, FORMAT_VISIT_FAIL_EVIDENCE))) {
            k++;
            p++;
        }
        CHECK(k == 4, "four failure blocks, got %d", k);
    }
    CHECK(strstr(buf_str(&warnings), "outside --files"), "warning: %s", buf_str(&warnings));
    free(out);
    agent_tools_close(t);

    /* a document the local index covers, outside --files */
    {
        char dir[600], db[600];
        Index *ix = NULL;
        IndexStats st;
        PlumbError err = { 0 };
        snprintf(dir, sizeof dir, "%s/indexed", tmp);
        snprintf(db, sizeof db, "%s/index.sqlite", tmp);
        mkdir(dir, 0700);
        snprintf(path, sizeof path, "%s/harbour.txt", dir);
        f = fopen(path, "w");
        if (f) {
            for (int i = 0; i < 5; i++)
                fputs("The harbour master keeps the tide tables and rings the bell at high water. ", f);
            fclose(f);
        }
        CHECK(index_open(&ix, db, 1, &err) == 0 && index_add(ix, dir, NULL, 0, 0, &st, &err) == 0, "index: %s",
              err.msg);
        index_close(ix);
        index_db = db;
        t = tools(CACHE_OFF, NULL, 0);
        snprintf(args, sizeof args, "{\"url\": \"file://%s\", \"goal\": \"bell\"}", path);
        out = visit(t, args);
        CHECK(strstr(out, "rings the bell at high water") != NULL, "file in the index: %s\n%s", out,
              buf_str(&warnings));
        free(out);
        agent_tools_close(t);
        index_db = NULL;
    }
}

int main(void)
{
    char pages[4096], mine[600];
    const char *opts[6];
    size_t n;
    snprintf(tmp, sizeof tmp, "%s/plumb-test-visit-XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(mine, sizeof mine, "%s/pages", tmp);
    mkdir(mine, 0700);
    snprintf(files_dir, sizeof files_dir, "%s/files", tmp);
    mkdir(files_dir, 0700);
    snprintf(cache_path, sizeof cache_path, "%s/web.sqlite", tmp);
    snprintf(pages, sizeof pages, "%s", test_data("agent/web"));
    opts[0] = "--pages";
    opts[1] = pages;
    opts[2] = "--pages";
    opts[3] = mine;
    opts[4] = NULL;
    reply_json = test_read_file(test_data("agent/visit-reply.json"), &n);
    if (!reply_json || websrv_start(&srv, opts) != 0) {
        fprintf(stderr, "test_visit: cannot start the page server or read visit-reply.json\n");
        return 1;
    }
    snprintf(base, sizeof base, "http://127.0.0.1:%d", srv.port);
    test_exact();
    test_retries();
    test_long_page();
    test_args();
    test_offline();
    test_files();
    websrv_stop(&srv);
    test_replay();
    buf_free(&warnings);
    free(reply_json);
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
        if (system(cmd) != 0)
            fprintf(stderr, "could not remove %s\n", tmp);
    }
    return test_done("test_visit");
}
