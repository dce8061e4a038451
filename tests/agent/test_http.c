/*
 * test_http.c — the HTTP layer against the hostile servers of hostile.py,
 * run by hostile.sh, which starts them and passes their ports:
 *   HOSTILE_HTTP, HOSTILE_GUARD, HOSTILE_HTTPS_GOOD, HOSTILE_HTTPS_WRONGHOST,
 *   HOSTILE_HTTPS_EXPIRED, HOSTILE_HTTPS_UNKNOWN  ports on 127.0.0.1
 *   HOSTILE_CA        the test CA (PEM)
 *   HOSTILE_BOMBS     the bomb encodings the server could make ("br gzip zstd")
 *   HOSTILE_PUBLIC    optional: an address of the http listener that the guard
 *                     counts as public (hostile.sh adds one in a network namespace)
 * usage: test_http [bombs|main]   (default: both; hostile.sh runs the bombs in a
 * process of their own so ru_maxrss measures only them)
 *
 * Outcomes, not speed: elapsed-time bounds are generous and only catch a
 * limit that did not fire.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../testlib.h"
#include "http.h"

#define MiB (1024u * 1024u)

static int port_http, port_guard, port_good, port_wronghost, port_expired, port_unknown;
static const char *ca_file, *bombs_made, *public_addr;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static long maxrss_kib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int env_port(const char *name)
{
    const char *v = getenv(name);
    return v ? atoi(v) : 0;
}

/* Seconds a request that should be quick may take before it counts as a
 * hang: generous, for a loaded 2-core machine (the TLS handshakes of a
 * python server there can take seconds). */
#define QUICK_S 20

/* Test parameters: short timeouts so that limits fire within seconds. */
static HttpParams fast_params(void)
{
    HttpParams p = { 0 };
    p.host_delay_s = -1;
    p.connect_timeout_s = 10;
    p.total_timeout_s = 10;
    p.low_speed_time_s = 2;
    p.allow_private = 1;
    return p;
}

static HttpClient *open_client(HttpParams *p)
{
    HttpClient *c = NULL;
    PlumbError err = { 0 };
    int rc = http_open(&c, p, &err);
    CHECK(rc == PLUMB_OK && c, "http_open: %s", err.msg);
    if (!c)
        exit(1);
    return c;
}

static char *url(int port, const char *path)
{
    static char buf[8][512];
    static int k;
    char *u = buf[k++ & 7];
    snprintf(u, sizeof buf[0], "http://127.0.0.1:%d%s", port, path);
    return u;
}

typedef struct Got {
    int rc;
    HttpResponse res;
    PlumbError err;
    double secs;
} Got;

static Got get(HttpClient *c, const char *u, unsigned flags)
{
    Got g;
    double t0 = now_s();
    memset(&g, 0, sizeof g);
    g.rc = http_get(c, u, flags, &g.res, &g.err);
    g.secs = now_s() - t0;
    if (getenv("TEST_HTTP_VERBOSE"))
        fprintf(stderr, "  %s -> rc %d status %ld len %zu trunc %d %.2f s: %s\n", u, g.rc, g.res.status,
                g.res.len, g.res.truncated, g.secs, g.rc ? g.err.msg : "");
    return g;
}

static void got_free(Got *g)
{
    http_response_free(&g->res);
}

/* An error whose message starts with u and contains want. */
static void expect_error(const Got *g, const char *u, const char *want, double max_s)
{
    CHECK(g->rc != PLUMB_OK, "%s: should fail with \"%s\", got status %ld", u, want, g->res.status);
    if (g->rc != PLUMB_OK) {
        CHECK(strncmp(g->err.msg, u, strlen(u)) == 0, "%s: message must start with the URL: %s", u,
              g->err.msg);
        CHECK(strstr(g->err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", u, g->err.msg, want);
    }
    CHECK(g->secs < max_s, "%s: took %.1f s (limit %.0f s)", u, g->secs, max_s);
}

static void expect_status(const Got *g, const char *u, long status, double max_s)
{
    CHECK(g->rc == PLUMB_OK, "%s: %s", u, g->err.msg);
    CHECK(g->res.status == status, "%s: status %ld, want %ld", u, g->res.status, status);
    CHECK(g->secs < max_s, "%s: took %.1f s (limit %.0f s)", u, g->secs, max_s);
}

/* Requests the server saw on a route, or connections on a listener. */
static long stat_of(const char *table, const char *key)
{
    HttpParams p = fast_params();
    HttpClient *c = open_client(&p);
    Got g = get(c, url(port_http, "/_stats"), 0);
    char needle[256];
    const char *t, *k;
    long n = 0;
    CHECK(g.rc == PLUMB_OK && g.res.status == 200, "/_stats: %s", g.err.msg);
    snprintf(needle, sizeof needle, "\"%s\": ", key);
    t = g.rc == PLUMB_OK ? strstr(g.res.body, table) : NULL;
    if (t && (k = strstr(t, needle)) != NULL)
        n = atol(k + strlen(needle));
    got_free(&g);
    http_close(c);
    return n;
}

static int all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* ---------------------------------------------------------------- cases */

static void test_bombs(void)
{
    static const char *const enc[] = { "gzip", "br", "zstd" };
    HttpParams p = fast_params();
    HttpClient *c = open_client(&p);
    long base = maxrss_kib();
    for (size_t i = 0; i < 3; i++) {
        char path[32];
        const char *u;
        Got g;
        if (!strstr(bombs_made ? bombs_made : "", enc[i])) {
            fprintf(stderr, "test_http: SKIP: the %s bomb (the server has no %s encoder)\n", enc[i],
                    enc[i]);
            continue;
        }
        snprintf(path, sizeof path, "/bomb-%s", enc[i]);
        u = url(port_http, path);
        g = get(c, u, 0);
        expect_status(&g, u, 200, 20);
        CHECK(g.res.truncated == 1, "%s: not marked truncated", u);
        CHECK(g.res.len == 8 * MiB, "%s: %zu bytes, want 8 MiB", u, g.res.len);
        CHECK(g.res.body && all_zero(g.res.body, g.res.len), "%s: not the decoded zeros", u);
        got_free(&g);
        /* under AddressSanitizer, freed memory sits in quarantine and ru_maxrss
         * measures the sanitizer as much as the program: the bound is for
         * ordinary builds */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
        CHECK(maxrss_kib() - base < 64 * 1024, "%s: ru_maxrss grew by %ld KiB", u, maxrss_kib() - base);
#endif
        fprintf(stderr, "test_http: %s bomb: 8 MiB kept, ru_maxrss +%ld KiB\n", enc[i],
                maxrss_kib() - base);
    }
    http_close(c);
}

static void test_sizes(HttpClient *c)
{
    const char *u;
    Got g;
    long base = maxrss_kib();

    u = url(port_http, "/big");
    g = get(c, u, 0);
    expect_status(&g, u, 200, 20);
    CHECK(g.res.truncated == 1 && g.res.len == 8 * MiB, "%s: len %zu truncated %d", u, g.res.len,
          g.res.truncated);
    CHECK(g.res.body && strncmp(g.res.body, "<p>all work", 11) == 0, "%s: body starts wrong", u);
    CHECK(g.res.body && g.res.body[g.res.len] == 0, "%s: body not NUL-terminated", u);
    got_free(&g);

    u = url(port_http, "/huge-length");
    g = get(c, u, 0);
    expect_status(&g, u, 200, 20);
    CHECK(g.res.truncated == 1 && g.res.len == 8 * MiB, "%s: len %zu truncated %d", u, g.res.len,
          g.res.truncated);
    got_free(&g);
    CHECK(maxrss_kib() - base < 64 * 1024, "big bodies: ru_maxrss grew by %ld KiB", maxrss_kib() - base);

    u = url(port_http, "/big-headers");
    g = get(c, u, 0);
    expect_error(&g, u, "response headers exceed 64 KiB", 10);
    got_free(&g);
}

static void test_slow(HttpClient *c)
{
    HttpParams p = fast_params();
    HttpClient *c2;
    volatile int stop = 1;
    const char *u;
    Got g;

    u = url(port_http, "/drip");
    g = get(c, u, 0);
    expect_error(&g, u, "timed out", 8);
    CHECK(strstr(g.err.msg, "too slow") || strstr(g.err.msg, "Operation"), "drip: %s", g.err.msg);
    got_free(&g);

    u = url(port_http, "/slow-headers");
    g = get(c, u, 0);
    expect_error(&g, u, "timed out", 8);
    got_free(&g);

    /* The total timeout on its own (low-speed limit set long). */
    p.total_timeout_s = 1.5;
    p.low_speed_time_s = 30;
    c2 = open_client(&p);
    u = url(port_http, "/drip");
    g = get(c2, u, 0);
    expect_error(&g, u, "timed out", 6);
    CHECK(g.secs > 1.0, "total timeout fired after %.2f s, before 1.5 s", g.secs);
    got_free(&g);
    http_close(c2);

    /* The abort flag stops a transfer. */
    p = fast_params();
    p.low_speed_time_s = 30;
    p.abort_flag = &stop;
    c2 = open_client(&p);
    g = get(c2, u, 0);
    expect_error(&g, u, "interrupted", 4);
    got_free(&g);
    http_close(c2);
}

static void test_content(HttpClient *c)
{
    static const struct {
        const char *path, *ctype, *bytes;
    } pages[] = {
        { "/invalid-utf8", "text/html; charset=utf-8", "bad \xc3\x28 bytes \xff\xfe" },
        { "/cp1252", "text/html; charset=windows-1252", "Caf\xe9 \x93quoted\x94" },
        { "/cp1252-as-utf8", "text/html; charset=utf-8", "Caf\xe9 \x93quoted\x94" },
        { "/cp1252-meta", "text/html", "<meta charset=\"windows-1252\">" },
        { "/gb18030", "text/html; charset=gb18030", "\xd6\xd0\xce\xc4" },
        { "/gb18030-meta", "text/html", "\xd6\xd0\xce\xc4" },
        { "/sjis", "text/html; charset=shift_jis", "\x93\xfa\x96\x7b" },
        { "/sjis-meta", "text/html", "\x93\xfa\x96\x7b" },
        { "/js-only", "text/html; charset=utf-8", "<script src=\"/app.js\"></script>" },
        { "/base-href", "text/html; charset=utf-8", "<base href=\"/docs/\">" },
    };
    const char *u;
    Got g;

    u = url(port_http, "/ok");
    g = get(c, u, 0);
    expect_status(&g, u, 200, QUICK_S);
    CHECK(g.res.body && strstr(g.res.body, "hello from the test server"), "/ok body");
    CHECK(g.res.content_type && strcmp(g.res.content_type, "text/html; charset=utf-8") == 0,
          "/ok content type %s", g.res.content_type ? g.res.content_type : "(none)");
    CHECK(g.res.final_url && strcmp(g.res.final_url, u) == 0, "/ok final url %s", g.res.final_url);
    CHECK(g.res.truncated == 0 && g.res.retry_after_s == -1, "/ok flags");
    got_free(&g);

    u = url(port_http, "/echo-ua");
    g = get(c, u, 0);
    expect_status(&g, u, 200, QUICK_S);
    CHECK(g.res.body && strncmp(g.res.body, "plumb/" PACKAGE_VERSION " (+research agent)\n",
                                strlen("plumb/" PACKAGE_VERSION " (+research agent)\n")) == 0,
          "User-Agent sent: %s", g.res.body);
    CHECK(g.res.body && strstr(g.res.body, "gzip"), "Accept-Encoding sent: %s", g.res.body);
    got_free(&g);

    u = url(port_http, "/binary");
    g = get(c, u, 0);
    expect_status(&g, u, 200, QUICK_S);
    CHECK(g.res.len == 4101 && memcmp(g.res.body, "\0\1\2PK", 5) == 0, "/binary: %zu bytes", g.res.len);
    CHECK(g.res.content_type && strcmp(g.res.content_type, "text/html") == 0, "/binary type");
    got_free(&g);

    /* The HTTP layer hands bytes over unchanged, with their label. */
    for (size_t i = 0; i < sizeof pages / sizeof *pages; i++) {
        u = url(port_http, pages[i].path);
        g = get(c, u, 0);
        expect_status(&g, u, 200, QUICK_S);
        CHECK(g.res.content_type && strcmp(g.res.content_type, pages[i].ctype) == 0, "%s: type %s", u,
              g.res.content_type ? g.res.content_type : "(none)");
        CHECK(g.res.body && memmem(g.res.body, g.res.len, pages[i].bytes, strlen(pages[i].bytes)),
              "%s: bytes changed", u);
        got_free(&g);
    }

    u = url(port_http, "/chunked-bad");
    g = get(c, u, 0);
    expect_error(&g, u, "transfer failed", QUICK_S);
    got_free(&g);

    u = url(port_http, "/empty-reply");
    g = get(c, u, 0);
    expect_error(&g, u, "without a response", QUICK_S);
    got_free(&g);
}

static void test_statuses(HttpClient *c)
{
    const char *u;
    Got g;
    long before;

    u = url(port_http, "/404");
    g = get(c, u, 0);
    expect_status(&g, u, 404, QUICK_S);
    got_free(&g);
    u = url(port_http, "/500");
    g = get(c, u, 0);
    expect_status(&g, u, 500, QUICK_S);
    got_free(&g);

    /* Retry-After 1: waited for, asked once more, then the 429 is returned. */
    before = stat_of("routes", "/429");
    u = url(port_http, "/429?after=1");
    g = get(c, u, 0);
    expect_status(&g, u, 429, 6);
    CHECK(g.secs >= 0.9, "%s: returned after %.2f s without waiting", u, g.secs);
    CHECK(g.res.retry_after_s == 1, "%s: retry_after_s %g", u, g.res.retry_after_s);
    got_free(&g);
    CHECK(stat_of("routes", "/429") - before == 2, "/429 asked %ld times, want 2",
          stat_of("routes", "/429") - before);

    /* Retry-After 120: too long, returned at once. */
    u = url(port_http, "/429?after=120");
    g = get(c, u, 0);
    expect_status(&g, u, 429, 3);
    CHECK(g.res.retry_after_s == 120, "%s: retry_after_s %g", u, g.res.retry_after_s);
    got_free(&g);
    u = url(port_http, "/503-long");
    g = get(c, u, 0);
    expect_status(&g, u, 503, 3);
    CHECK(g.res.retry_after_s == 120, "%s: retry_after_s %g", u, g.res.retry_after_s);
    got_free(&g);

    u = url(port_http, "/429-once?k=test_http");
    g = get(c, u, 0);
    expect_status(&g, u, 200, 6);
    CHECK(g.secs >= 0.9, "%s: the retry came after %.2f s", u, g.secs);
    got_free(&g);
}

static void test_redirects(HttpClient *c)
{
    static const char *const refused[] = { "file:///etc/passwd", "gopher://127.0.0.1:70/", "ftp://127.0.0.1/x",
                                           "FILE:///etc/passwd", "dict://127.0.0.1:2628/d:x" };
    const char *u;
    Got g;

    u = url(port_http, "/chain/10");
    g = get(c, u, 0);
    expect_error(&g, u, "too many redirects (more than 5)", QUICK_S);
    got_free(&g);
    CHECK(stat_of("routes", "/chain/5") == 1 && stat_of("routes", "/chain/4") == 0,
          "a 10-hop chain: /chain/5 asked %ld times, /chain/4 %ld (want 1, 0)", stat_of("routes", "/chain/5"),
          stat_of("routes", "/chain/4"));
    u = url(port_http, "/chain/5");
    g = get(c, u, 0);
    expect_status(&g, u, 200, QUICK_S);
    CHECK(g.res.final_url && strcmp(g.res.final_url, url(port_http, "/chain/0")) == 0, "final url %s",
          g.res.final_url);
    got_free(&g);
    u = url(port_http, "/chain/6");
    g = get(c, u, 0);
    expect_error(&g, u, "too many redirects", QUICK_S);
    got_free(&g);
    u = url(port_http, "/loop");
    g = get(c, u, 0);
    expect_error(&g, u, "too many redirects", QUICK_S);
    got_free(&g);

    u = url(port_http, "/to-file");
    g = get(c, u, 0);
    expect_error(&g, u, "only http and https", QUICK_S);
    got_free(&g);
    u = url(port_http, "/to-gopher");
    g = get(c, u, 0);
    expect_error(&g, u, "only http and https", QUICK_S);
    got_free(&g);

    /* Other schemes never reach curl: no connection is opened. */
    {
        size_t n = 0;
        HttpParams p = fast_params();
        HttpClient *c2;
        p.n_connections = &n;
        c2 = open_client(&p);
        for (size_t i = 0; i < sizeof refused / sizeof *refused; i++) {
            g = get(c2, refused[i], 0);
            expect_error(&g, refused[i], "only http and https URLs are fetched", 2);
            got_free(&g);
        }
        g = get(c2, "not a url", 0);
        expect_error(&g, "not a url", "not an absolute http or https URL", 2);
        got_free(&g);
        g = get(c2, "http://", 0);
        expect_error(&g, "http://", "not a valid URL", 2);
        got_free(&g);
        CHECK(n == 0, "refused schemes opened %zu connections", n);
        g = get(c2, url(port_http, "/ok"), 0);
        CHECK(g.rc == PLUMB_OK && n == 1, "one fetch, %zu connections counted", n);
        got_free(&g);
        http_close(c2);
    }

    u = "http://127.0.0.1:1/";
    g = get(c, u, 0);
    expect_error(&g, u, "cannot connect", QUICK_S);
    got_free(&g);
}

static void test_guard(void)
{
    char hosts[6][128];
    size_t n = 0;
    HttpParams p = fast_params();
    HttpClient *c;
    Got g;

    p.allow_private = 0;
    p.n_connections = &n;
    c = open_client(&p);
    snprintf(hosts[0], sizeof hosts[0], "http://127.0.0.1:%d/secret", port_guard);
    snprintf(hosts[1], sizeof hosts[1], "http://localhost:%d/secret", port_guard);
    snprintf(hosts[2], sizeof hosts[2], "http://2130706433:%d/secret", port_guard);
    snprintf(hosts[3], sizeof hosts[3], "http://0x7f.1:%d/secret", port_guard);
    snprintf(hosts[4], sizeof hosts[4], "http://[::ffff:127.0.0.1]:%d/secret", port_guard);
    snprintf(hosts[5], sizeof hosts[5], "http://[::1]:%d/secret", port_guard);
    for (int i = 0; i < 6; i++) {
        g = get(c, hosts[i], HTTP_GUARD);
        expect_error(&g, hosts[i], "is a loopback address; --allow-private allows it", QUICK_S);
        got_free(&g);
    }
    g = get(c, hosts[0], HTTP_GUARD);
    CHECK(g.rc != PLUMB_OK && strstr(g.err.msg, ": 127.0.0.1 is a loopback address"), "names the address: %s",
          g.err.msg);
    got_free(&g);
    /* The same client without the flag (a user-chosen URL) may connect... */
    g = get(c, url(port_http, "/ok"), 0);
    CHECK(g.rc == PLUMB_OK && g.res.status == 200, "unguarded fetch: %s", g.err.msg);
    got_free(&g);
    /* ...and a guarded request after it still does not reuse that connection. */
    g = get(c, url(port_http, "/ok"), HTTP_GUARD);
    expect_error(&g, url(port_http, "/ok"), "127.0.0.1 is a loopback address", QUICK_S);
    got_free(&g);

    if (public_addr && *public_addr) {
        char u[256];
        snprintf(u, sizeof u, "http://%s:%d/ok", public_addr, port_http);
        g = get(c, u, HTTP_GUARD);
        expect_status(&g, u, 200, QUICK_S);
        got_free(&g);
        snprintf(u, sizeof u, "http://%s:%d/to-guard", public_addr, port_http);
        g = get(c, u, HTTP_GUARD);
        expect_error(&g, u, "127.0.0.1 is a loopback address", QUICK_S);
        got_free(&g);
        snprintf(u, sizeof u, "http://%s:%d/to-guard-localhost", public_addr, port_http);
        g = get(c, u, HTTP_GUARD);
        expect_error(&g, u, "is a loopback address", QUICK_S);
        got_free(&g);
        CHECK(stat_of("routes", "/to-guard") == 1, "the redirecting page was fetched %ld times",
              stat_of("routes", "/to-guard"));
        /* robots.txt is fetched through the guard too */
        snprintf(u, sizeof u, "http://%s:%d/private/x", public_addr, port_http);
        g = get(c, u, HTTP_GUARD | HTTP_ROBOTS);
        expect_error(&g, u, "disallowed by robots.txt of http://", QUICK_S);
        got_free(&g);
    } else {
        fprintf(stderr, "test_http: SKIP: guard through a redirect (no public address: run as root "
                        "with unshare and ip to get one)\n");
    }
    http_close(c);
    CHECK(stat_of("listeners", "guard") == 0, "the guard listener accepted %ld connections",
          stat_of("listeners", "guard"));

    /* Through a proxy the guard sees only the proxy's address: it lets the
     * proxy (chosen by the user) be connected and refuses hosts written as
     * private addresses. */
    {
        char proxy[64], u[128];
        size_t before = n;
        p.proxy = proxy;
        snprintf(proxy, sizeof proxy, "http://127.0.0.1:%d", port_http);
        c = open_client(&p);
        snprintf(u, sizeof u, "http://www.example.invalid/ok");
        g = get(c, u, HTTP_GUARD);
        expect_status(&g, u, 200, QUICK_S);
        CHECK(g.res.body && strstr(g.res.body, "hello from the test server"), "proxied body");
        got_free(&g);
        g = get(c, hosts[0], HTTP_GUARD);
        expect_error(&g, hosts[0], "127.0.0.1 is a loopback address", QUICK_S);
        got_free(&g);
        CHECK(n == before + 1, "through the proxy: %zu connections, want 1", n - before);
        http_close(c);
        p.proxy = NULL;
    }

    /* The listener does count: with --allow-private the same URL connects. */
    p.allow_private = 1;
    c = open_client(&p);
    g = get(c, hosts[0], HTTP_GUARD);
    expect_status(&g, hosts[0], 200, QUICK_S);
    got_free(&g);
    http_close(c);
    CHECK(stat_of("listeners", "guard") == 1, "allowed fetch: guard listener count %ld",
          stat_of("listeners", "guard"));
}

static void test_robots(void)
{
    HttpParams p = fast_params();
    HttpClient *c = open_client(&p);
    char origin[64];
    const char *u;
    Got g;
    long robots_before = stat_of("routes", "/robots.txt");

    snprintf(origin, sizeof origin, "disallowed by robots.txt of http://127.0.0.1:%d", port_http);
    u = url(port_http, "/private/page");
    g = get(c, u, HTTP_ROBOTS);
    expect_error(&g, u, origin, QUICK_S);
    got_free(&g);
    u = url(port_http, "/private/other?x=1");
    g = get(c, u, HTTP_ROBOTS);
    expect_error(&g, u, origin, QUICK_S);
    got_free(&g);
    u = url(port_http, "/ok");
    g = get(c, u, HTTP_ROBOTS);
    expect_status(&g, u, 200, QUICK_S);
    got_free(&g);
    CHECK(stat_of("routes", "/private/page") == 0, "a disallowed page was fetched");
    CHECK(stat_of("routes", "/robots.txt") - robots_before == 1, "robots.txt fetched %ld times, want 1",
          stat_of("routes", "/robots.txt") - robots_before);
    /* Without the flag (or with no_robots) robots.txt is not consulted. */
    u = url(port_http, "/private/page");
    g = get(c, u, 0);
    expect_status(&g, u, 200, QUICK_S);
    got_free(&g);
    http_close(c);
    p.no_robots = 1;
    c = open_client(&p);
    g = get(c, u, HTTP_ROBOTS);
    expect_status(&g, u, 200, QUICK_S);
    got_free(&g);
    http_close(c);
    p.no_robots = 0;
    CHECK(stat_of("routes", "/robots.txt") - robots_before == 1, "no_robots fetched robots.txt");

    /* robots.txt answering 404 over TLS: everything allowed. */
    if (port_good && ca_file) {
        char tu[128];
        p.ca_file = ca_file;
        c = open_client(&p);
        snprintf(tu, sizeof tu, "https://localhost:%d/ok", port_good);
        g = get(c, tu, HTTP_ROBOTS);
        expect_status(&g, tu, 200, QUICK_S);
        got_free(&g);
        http_close(c);
    }
}

static void test_tls(void)
{
    HttpParams p = fast_params();
    HttpClient *c;
    char u[128];
    Got g;
    PlumbError err = { 0 };
    const char *msg_expired = NULL, *msg_host = NULL, *msg_ca = NULL;
    static char keep[3][1024];

    if (!port_good || !ca_file) {
        fprintf(stderr, "test_http: SKIP: TLS (no PKI)\n");
        return;
    }
    p.ca_file = ca_file;
    c = open_client(&p);
    snprintf(u, sizeof u, "https://localhost:%d/ok", port_good);
    g = get(c, u, 0);
    expect_status(&g, u, 200, QUICK_S);
    CHECK(g.res.body && strstr(g.res.body, "hello over TLS"), "TLS body");
    got_free(&g);
    snprintf(u, sizeof u, "https://127.0.0.1:%d/ok", port_good);
    g = get(c, u, 0);
    expect_status(&g, u, 200, QUICK_S);
    got_free(&g);

    snprintf(u, sizeof u, "https://localhost:%d/ok", port_wronghost);
    g = get(c, u, 0);
    expect_error(&g, u, "TLS: the server's certificate is for another host name", QUICK_S);
    snprintf(keep[0], sizeof keep[0], "%s", g.err.msg);
    msg_host = keep[0];
    got_free(&g);
    snprintf(u, sizeof u, "https://localhost:%d/ok", port_expired);
    g = get(c, u, 0);
    expect_error(&g, u, "TLS: the server's certificate has expired", QUICK_S);
    snprintf(keep[1], sizeof keep[1], "%s", g.err.msg);
    msg_expired = keep[1];
    got_free(&g);
    snprintf(u, sizeof u, "https://localhost:%d/ok", port_unknown);
    g = get(c, u, 0);
    expect_error(&g, u, "TLS: the server's certificate is signed by an unknown authority", QUICK_S);
    snprintf(keep[2], sizeof keep[2], "%s", g.err.msg);
    msg_ca = keep[2];
    got_free(&g);
    fprintf(stderr, "test_http: TLS messages:\n  %s\n  %s\n  %s\n", msg_host, msg_expired, msg_ca);
    http_close(c);

    /* Without the test CA the good server is unknown too: verification is always on. */
    p.ca_file = NULL;
    c = open_client(&p);
    snprintf(u, sizeof u, "https://localhost:%d/ok", port_good);
    g = get(c, u, 0);
    expect_error(&g, u, "unknown authority", QUICK_S);
    got_free(&g);
    http_close(c);

    /* A CA file that cannot be read fails at open, naming it. */
    p.ca_file = "/nonexistent/ca.pem";
    c = NULL;
    CHECK(http_open(&c, &p, &err) != PLUMB_OK && c == NULL && strstr(err.msg, "/nonexistent/ca.pem"),
          "bad CA file: %s", err.msg);
}

static void test_pacing(void)
{
    HttpParams p = fast_params();
    HttpClient *c;
    double t0;
    Got g;
    p.host_delay_s = 0.6;
    c = open_client(&p);
    t0 = now_s();
    g = get(c, url(port_http, "/ok"), 0);
    CHECK(g.rc == PLUMB_OK, "pacing 1: %s", g.err.msg);
    got_free(&g);
    g = get(c, url(port_http, "/404"), 0);
    CHECK(g.rc == PLUMB_OK, "pacing 2: %s", g.err.msg);
    got_free(&g);
    CHECK(now_s() - t0 >= 0.55, "two requests to one host took %.2f s, want >= 0.6", now_s() - t0);
    http_close(c);
}

int main(int argc, char **argv)
{
    const char *group = argc > 1 ? argv[1] : "all";
    port_http = env_port("HOSTILE_HTTP");
    port_guard = env_port("HOSTILE_GUARD");
    port_good = env_port("HOSTILE_HTTPS_GOOD");
    port_wronghost = env_port("HOSTILE_HTTPS_WRONGHOST");
    port_expired = env_port("HOSTILE_HTTPS_EXPIRED");
    port_unknown = env_port("HOSTILE_HTTPS_UNKNOWN");
    ca_file = getenv("HOSTILE_CA");
    bombs_made = getenv("HOSTILE_BOMBS");
    public_addr = getenv("HOSTILE_PUBLIC");
    if (!port_http || !port_guard) {
        fprintf(stderr, "test_http: run by tests/agent/hostile.sh (HOSTILE_HTTP and HOSTILE_GUARD unset)\n");
        return 77;
    }
    if (!strcmp(group, "bombs") || !strcmp(group, "all"))
        test_bombs();
    if (!strcmp(group, "main") || !strcmp(group, "all")) {
        HttpParams p = fast_params();
        HttpClient *c = open_client(&p);
        test_content(c);
        test_sizes(c);
        test_slow(c);
        test_statuses(c);
        test_redirects(c);
        http_close(c);
        test_guard();
        test_robots();
        test_tls();
        test_pacing();
    }
    return test_done("test_http");
}
