/*
 * test_robots.c — robots.txt (RFC 9309): the RFC's examples, edge cases of
 * parsing and matching, the fetch-outcome rules, the size cap, a
 * pathological pattern, and a differential check against python3-protego
 * (tests/agent/robots_diff.py) when it is installed.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../testlib.h"
#include "robots.h"

static Robots *parse_as(const char *text, const char *agent)
{
    Robots *r = NULL;
    PlumbError err = { 0 };
    int rc = robots_parse(&r, text, strlen(text), agent, &err);
    CHECK(rc == PLUMB_OK && r, "parse failed: %s", err.msg);
    return r;
}

/* Each path is prefixed with '+' (allowed) or '-' (disallowed). */
static void expect(const char *what, const char *text, const char *agent, const char *const *paths)
{
    Robots *r = parse_as(text, agent);
    for (; *paths; paths++) {
        const char *rule = NULL;
        int want = (*paths)[0] == '+';
        int got = robots_allowed(r, *paths + 1, &rule);
        CHECK(got == want, "%s, agent %s: %s should be %s (rule \"%s\")", what, agent, *paths + 1,
              want ? "allowed" : "disallowed", rule ? rule : "");
    }
    robots_free(r);
}

static const char rfc_5_1[] = "User-Agent: *\n"
                              "Disallow: *.gif$\n"
                              "Disallow: /example/\n"
                              "Allow: /publications/\n"
                              "\n"
                              "User-Agent: foobot\n"
                              "Disallow:/\n"
                              "Allow:/example/page.html\n"
                              "Allow:/example/allowed.gif\n"
                              "\n"
                              "User-Agent: barbot\n"
                              "User-Agent: bazbot\n"
                              "Disallow: /example/page.html\n"
                              "\n"
                              "User-Agent: quxbot\n";

static void test_rfc_examples(void)
{
    static const char *const foobot[] = { "+/example/page.html", "+/example/allowed.gif", "-/",
                                          "-/other", "-/example/other", NULL };
    static const char *const barbot[] = { "-/example/page.html", "+/example/other", "+/x.gif",
                                          "+/", NULL };
    static const char *const quxbot[] = { "+/", "+/example/page.html", "+/x.gif", NULL };
    static const char *const other[] = { "+/", "-/x.gif", "+/x.gif?y", "-/example/",
                                         "+/publications/", "-/example/a.gif", "+/example", NULL };
    static const char *const longest[] = { "+/example/page/", "-/example/page/disallowed.gif",
                                           "+/example/page/other", NULL };
    /* RFC 9309 2.2.2: the percent-encoding table */
    static const char *const pct[] = { "-/foo/bar?baz=quz", "-/foo/bar/%E3%83%84", "-/foo/bar/%e3%83%84",
                                       "-/foo/bar/baz", "-/foo/bar/%62%61%7a", "+/foo/bar/other",
                                       NULL };

    expect("RFC 5.1", rfc_5_1, "foobot", foobot);
    expect("RFC 5.1", rfc_5_1, "barbot", barbot);
    expect("RFC 5.1", rfc_5_1, "bazbot", barbot);
    expect("RFC 5.1", rfc_5_1, "quxbot", quxbot);
    expect("RFC 5.1", rfc_5_1, "plumb", other);
    expect("RFC 5.2", "User-Agent: foobot\nAllow: /example/page/\nDisallow: /example/page/disallowed.gif\n",
           "foobot", longest);
    expect("RFC 2.2.2",
           "User-agent: *\nDisallow: /foo/bar?baz=quz\nDisallow: /foo/bar/\xE3\x83\x84\n"
           "Disallow: /foo/bar/%E3%83%84\nDisallow: /foo/bar/%62%61%7A\n",
           "plumb", pct);
}

static void test_matching(void)
{
    static const char *const ties[] = { "+/folder", "+/folder/x", "+/other", NULL };
    static const char *const dollar[] = { "+/", "-/page.htm", "-/?q", NULL };
    static const char *const star_len[] = { "-/page.htm", "+/page", "+/pageX", NULL };
    static const char *const php[] = { "-/filename.php", "-/folder/filename.php",
                                       "+/filename.php?parameters", "+/filename.php/",
                                       "+/filename.php5", "+/windows.PHP", NULL };
    static const char *const multi[] = { "-/a/x/b/y/c", "-/a/b/c/d", "+/a/x/b/y", "-/a/x/y/b/z/c/d",
                                         "+/b/a/b/c", NULL };
    static const char *const literal_dollar[] = { "-/a$b", "-/a$bc", "+/ab", NULL };
    static const char *const reserved[] = { "-/a%2Fb", "-/a%2fb", "+/a/b", "-/x%3Fy", "+/x?y", NULL };
    static const char *const space[] = { "-/a%20b", "+/a", NULL };

    expect("tie", "User-agent: *\nAllow: /folder\nDisallow: /folder\n", "plumb", ties);
    expect("dollar", "User-agent: *\nAllow: /$\nDisallow: /\n", "plumb", dollar);
    expect("star length", "User-agent: *\nAllow: /page\nDisallow: /*.htm\n", "plumb", star_len);
    expect("php$", "User-agent: *\nDisallow: /*.php$\n", "plumb", php);
    expect("several stars", "User-agent: *\nDisallow: /a/*b*/c\nDisallow: /a/*/b/**/c\n", "plumb", multi);
    /* '$' before the end is a plain character */
    expect("inner $", "User-agent: *\nDisallow: /a$b\n", "plumb", literal_dollar);
    /* Reserved characters stay encoded: %2F is not '/' */
    expect("reserved", "User-agent: *\nDisallow: /a%2fb\nDisallow: /x%3Fy\n", "plumb", reserved);
    expect("space", "User-agent: *\nDisallow: /a b\n", "plumb", space);
}

static void test_parsing(void)
{
    static const char *const ours[] = { "-/private/x", "+/", "+/public/x", "-/secret", NULL };
    static const char *const star_only[] = { "-/x", "+/y", NULL };
    static const char *const none[] = { "+/", "+/anything", NULL };
    static const char *const all[] = { "-/", "-/x", "+/robots.txt", NULL };
    static const char *const crlf[] = { "-/a", "-/b", "+/c", NULL };

    /* Our groups are combined and the * group is then ignored. */
    expect("combined",
           "User-agent: *\nDisallow: /\n\nUser-agent: plumb\nDisallow: /private/\n\n"
           "User-agent: other\nDisallow: /public/\n\nUser-agent: Plumb/1.0\nDisallow: /secret\n",
           "plumb", ours);
    /* "plumbing" is not plumb; a product token stops at '/' or a space */
    expect("prefix name", "User-agent: plumbing\nDisallow: /y\n\nUser-agent: *\nDisallow: /x\n",
           "plumb", star_only);
    expect("rules before any group", "Disallow: /\nAllow: /x\n", "plumb", none);
    expect("empty disallow", "User-agent: *\nDisallow:\n", "plumb", none);
    expect("empty group", "User-agent: *\nDisallow: /\n\nUser-agent: plumb\n", "plumb", none);
    /* RFC 9309 2.2: blank lines do not end a run of user-agent lines */
    expect("blank line in a group start", "User-agent: plumb\n\nUser-agent: *\nDisallow: /\n", "plumb",
           all);
    expect("empty file", "", "plumb", none);
    expect("whole site", "User-agent: *\nDisallow: /\n", "plumb", all);
    /* a user-agent line after rules starts a new group */
    expect("new group", "User-agent: plumb\nDisallow: /x\nUser-agent: other\nDisallow: /y\n", "plumb",
           star_only);
    /* BOM, CR and CRLF line ends, comments, odd spacing, other records */
    expect("line ends",
           "\xEF\xBB\xBFUser-agent: *\rDisallow: /a # note\r\n"
           "Sitemap: https://x/s.xml\n  Crawl-delay: 5\n\t DISALLOW\t:\t/b\t\n# Disallow: /c\n",
           "plumb", crlf);
    /* sitemap/crawl-delay between user-agent lines keep the group open */
    expect("records in a group", "User-agent: other\nCrawl-delay: 1\nUser-agent: plumb\nDisallow: /x\n",
           "plumb", star_only);
    /* lines without a colon are ignored */
    expect("no colon", "User-agent: *\nDisallow /x\nfoo\nDisallow: /x\n", "plumb", star_only);
}

static void test_status(void)
{
    static const long allow_all[] = { 400, 401, 403, 404, 410, 451 };
    static const long disallow_all[] = { 0, 429, 500, 502, 503, 599, 302 };
    PlumbError err = { 0 };
    Robots *r;
    for (size_t i = 0; i < sizeof allow_all / sizeof *allow_all; i++) {
        CHECK(robots_from_status(&r, allow_all[i], "User-agent: *\nDisallow: /\n", 26, "plumb", &err) ==
                  PLUMB_OK, "status");
        CHECK(robots_allowed(r, "/x", NULL) == 1, "status %ld must allow all", allow_all[i]);
        CHECK(robots_rule_count(r) == -1, "allow-all count");
        robots_free(r);
    }
    for (size_t i = 0; i < sizeof disallow_all / sizeof *disallow_all; i++) {
        CHECK(robots_from_status(&r, disallow_all[i], "", 0, "plumb", &err) == PLUMB_OK, "status");
        CHECK(robots_allowed(r, "/x", NULL) == 0, "status %ld must disallow all", disallow_all[i]);
        CHECK(robots_allowed(r, "/robots.txt", NULL) == 1, "robots.txt itself is always allowed");
        CHECK(robots_rule_count(r) == -2, "disallow-all count");
        robots_free(r);
    }
    CHECK(robots_from_status(&r, 200, "User-agent: *\nDisallow: /p\n", 26, "plumb", &err) == PLUMB_OK,
          "200");
    CHECK(robots_allowed(r, "/p", NULL) == 0 && robots_allowed(r, "/q", NULL) == 1, "200 parses");
    CHECK(robots_allowed(r, "", NULL) == 1, "empty path is /");
    CHECK(robots_rule_count(r) == 1, "one rule");
    robots_free(r);
    CHECK(robots_allowed(NULL, "/x", NULL) == 1, "no robots allows");
    robots_free(NULL);
}

static void test_cap(void)
{
    /* A rule past 500 KiB is not read; neither is a line cut by the cap. */
    size_t pad = ROBOTS_MAX_BYTES - 40, n;
    char *text = malloc(ROBOTS_MAX_BYTES + 4096);
    Robots *r = NULL;
    PlumbError err = { 0 };
    memcpy(text, "User-agent: *\nDisallow: /early\n", 31);
    n = 31;
    memset(text + n, '#', pad - n);
    n = pad;
    text[n - 1] = '\n';
    n += (size_t)sprintf(text + n, "Disallow: /cut-by-the-cap-in-the-middle-of-this-line\n");
    n += (size_t)sprintf(text + n, "Disallow: /late\n");
    CHECK(robots_parse(&r, text, n, "plumb", &err) == PLUMB_OK, "parse big");
    CHECK(robots_allowed(r, "/early", NULL) == 0, "early rule read");
    CHECK(robots_allowed(r, "/late", NULL) == 1, "rule past the cap must be ignored");
    CHECK(robots_allowed(r, "/cut-by-the-cap", NULL) == 1, "a line cut by the cap must be ignored");
    robots_free(r);
    free(text);
}

static void test_pathological(void)
{
    /* Many stars against a long path that never matches: bounded work. */
    size_t np = 4000, ns = 16000;
    char *text = malloc(np * 2 + 64), *path = malloc(ns + 2);
    Robots *r = NULL;
    PlumbError err = { 0 };
    size_t n = (size_t)sprintf(text, "User-agent: *\nDisallow: /");
    clock_t t0;
    double secs;
    for (size_t i = 0; i < np / 2; i++) {
        text[n++] = '*';
        text[n++] = 'a';
    }
    text[n++] = 'b';
    text[n++] = '\n';
    path[0] = '/';
    memset(path + 1, 'a', ns);
    path[ns + 1] = 0;
    CHECK(robots_parse(&r, text, n, "plumb", &err) == PLUMB_OK, "parse stars");
    t0 = clock();
    CHECK(robots_allowed(r, path, NULL) == 1, "no b: allowed");
    secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
    CHECK(secs < 5.0, "a star pattern took %.1f s", secs);
    robots_free(r);
    free(text);
    free(path);
}

static int hexval(int c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

/* Compare with python3-protego on the corpus of robots_diff.py. */
static void test_protego(void)
{
    const char *src = getenv("top_srcdir");
    char cmd[4096], *line = NULL;
    size_t cap = 0, cases = 0;
    Robots *r = NULL;
    FILE *p;
    int status;
    if (!src || !*src)
        src = "..";
    snprintf(cmd, sizeof cmd,
             "for py in python3 /usr/bin/python3; do "
             "if $py -c 'import protego' 2>/dev/null; then exec $py '%s/tests/agent/robots_diff.py'; fi; "
             "done; exit 77",
             src);
    p = popen(cmd, "r");
    CHECK(p != NULL, "popen");
    if (!p)
        return;
    while (getline(&line, &cap, p) > 0) {
        size_t len = strcspn(line, "\n");
        line[len] = 0;
        if (line[0] == 'R' && line[1] == ' ') {
            size_t hl = (len - 2) / 2;
            char *text = malloc(hl + 1);
            PlumbError err = { 0 };
            for (size_t i = 0; i < hl; i++)
                text[i] = (char)(hexval(line[2 + 2 * i]) * 16 + hexval(line[3 + 2 * i]));
            text[hl] = 0;
            robots_free(r);
            r = NULL;
            CHECK(robots_parse(&r, text, hl, "plumb", &err) == PLUMB_OK, "parse corpus");
            free(text);
        } else if (line[0] == 'P' && r) {
            int want = line[2] == '1';
            const char *rule;
            int got = robots_allowed(r, line + 4, &rule);
            CHECK(got == want, "protego says %s is %s, we say %s (rule \"%s\")", line + 4,
                  want ? "allowed" : "disallowed", got ? "allowed" : "disallowed", rule);
            cases++;
        }
    }
    free(line);
    robots_free(r);
    status = pclose(p);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 77) {
        fprintf(stderr, "test_robots: python3-protego not installed: differential check skipped\n");
        return;
    }
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "robots_diff.py failed (status %d)", status);
    CHECK(cases >= 80, "only %zu differential cases", cases);
    fprintf(stderr, "test_robots: %zu paths agree with protego\n", cases);
}

int main(void)
{
    test_rfc_examples();
    test_matching();
    test_parsing();
    test_status();
    test_cap();
    test_pathological();
    test_protego();
    return test_done("test_robots");
}
