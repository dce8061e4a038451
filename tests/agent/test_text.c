/*
 * test_text.c — page bytes to text (text.h): the charset matrix (declared,
 * BOM, <meta>, undeclared, mislabelled, broken; the output is always valid
 * UTF-8 and equals the expected text where the input is decodable), UTF-8
 * repair, type sniffing, and HTML to Markdown against the goldens in
 * tests/data/agent/html (NN-name.html converted with the base URL
 * https://example.org/dir/page.html must give NN-name.md, which holds
 * "Title: {title}\n\n{markdown}\n").
 *
 * `test_text --print FILE.html` prints what a golden would hold.
 */
#include "config.h"

#include <dirent.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "utf8.h"
#include "../testlib.h"

#define BASE "https://example.org/dir/page.html"

static int is_valid_utf8(const char *s, size_t n)
{
    size_t i = 0;
    uint32_t cp;
    while (i < n) {
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!k || cp == 0)
            return 0;
        i += k;
    }
    return 1;
}

static void check_conv(const char *what, const char *in, size_t len, const char *ct, int html,
                       const char *want)
{
    char *out = NULL;
    size_t out_len = 0;
    PlumbError err = { 0 };
    int rc = text_to_utf8(in, len, ct, html, &out, &out_len, &err);
    CHECK(rc == 0, "%s: %s", what, err.msg);
    if (rc)
        return;
    CHECK(strlen(out) == out_len, "%s: NUL inside the output", what);
    CHECK(is_valid_utf8(out, out_len), "%s: output is not valid UTF-8", what);
    if (want)
        CHECK(!strcmp(out, want), "%s:\n got [%s]\nwant [%s]", what, out, want);
    free(out);
}

static void test_charsets(void)
{
    static const struct { const char *ct; const char *in; size_t len; const char *want; } declared[] = {
        { "text/html; charset=windows-1252", "caf\xe9 \x96 \x93na\xefve\x94 \x80" "5", 17, "caf\xc3\xa9 \xe2\x80\x93 \xe2\x80\x9cna\xc3\xafve\xe2\x80\x9d \xe2\x82\xac" "5" },
        { "text/plain; charset=GB2312", "\xb3\xb1\xcf\xab\xc4\xdc\xb7\xa2\xb5\xe7\xd5\xbe", 12, "\xe6\xbd\xae\xe6\xb1\x90\xe8\x83\xbd\xe5\x8f\x91\xe7\x94\xb5\xe7\xab\x99" },
        { "text/plain;charset=\"Shift_JIS\"", "\x93\xfa\x96{\x8c\xea\x82\xcc\x83" "e\x83L\x83X\x83g", 16, "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe3\x83\x86\xe3\x82\xad\xe3\x82\xb9\xe3\x83\x88" },
        { "text/plain; charset=euc-kr", "\xc7\xd1\xb1\xb9\xbe\xee \xc5\xd8\xbd\xba\xc6\xae", 13, "\xed\x95\x9c\xea\xb5\xad\xec\x96\xb4 \xed\x85\x8d\xec\x8a\xa4\xed\x8a\xb8" },
        { NULL, "\xff\xfeG\x00r\x00\xfc\x00\xdf\x00" "e\x00 \x00-N\x87" "e", 18, "Gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\xad\xe6\x96\x87" },
        { "text/plain; charset=iso-8859-1", "\xfe\xff\x00G\x00r\x00\xfc\x00\xdf\x00" "e\x00 N-e\x87", 18, "Gr\xc3\xbc\xc3\x9f" "e \xe4\xb8\xad\xe6\x96\x87" },
    };
    size_t i;
    char what[64];
    for (i = 0; i < sizeof declared / sizeof declared[0]; i++) {
        snprintf(what, sizeof what, "declared %zu", i);
        check_conv(what, declared[i].in, declared[i].len, declared[i].ct, 0, declared[i].want);
    }

    /* the <meta> of an HTML page, both forms, and an XML declaration */
    {
        const char a[] = "<html><head><meta charset=\"gbk\"><title>\xb3\xb1\xcf\xab</title>";
        const char b[] = "<html><head><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=Shift_JIS\">\x93\xfa\x96{";
        const char c[] = "<?xml version=\"1.0\" encoding=\"windows-1252\"?><p>caf\xe9</p>";
        check_conv("meta charset", a, sizeof a - 1, "text/html", 1,
                   "<html><head><meta charset=\"gbk\"><title>\xe6\xbd\xae\xe6\xb1\x90</title>");
        check_conv("meta http-equiv", b, sizeof b - 1, NULL, 1,
                   "<html><head><META HTTP-EQUIV=\"Content-Type\" CONTENT=\"text/html; charset=Shift_JIS\">\xe6\x97\xa5\xe6\x9c\xac");
        check_conv("xml declaration", c, sizeof c - 1, NULL, 1,
                   "<?xml version=\"1.0\" encoding=\"windows-1252\"?><p>caf\xc3\xa9</p>");
        /* the header wins over the meta */
        check_conv("header over meta", a, sizeof a - 1, "text/html; charset=utf-8", 1, NULL);
        /* a meta is not read for plain text */
        check_conv("meta ignored in text", "<meta charset=\"gbk\"> caf\xe9", 25, NULL, 0,
                   "<meta charset=\"gbk\"> caf\xc3\xa9");
    }

    /* undeclared: valid UTF-8 stays; anything else is windows-1252 */
    check_conv("undeclared utf-8", "na\xc3\xafve \xe4\xb8\xad", 10, NULL, 0, "na\xc3\xafve \xe4\xb8\xad");
    check_conv("undeclared 1252", "caf\xe9 \x93" "ok\x94", 9, "text/plain", 0,
               "caf\xc3\xa9 \xe2\x80\x9cok\xe2\x80\x9d");
    check_conv("utf-8 BOM", "\xef\xbb\xbfhi", 5, "text/plain; charset=windows-1252", 0, "hi");

    /* mislabelled */
    check_conv("latin-1 label on UTF-8", "Gr\xc3\xbc\xc3\x9f" "e", 7, "text/html; charset=ISO-8859-1", 1,
               "Gr\xc3\xbc\xc3\x9f" "e");
    check_conv("Shift_JIS label on GB18030", "\xb3\xb1\xcf\xab\xc4\xdc\xff\xff", 8,
               "text/plain; charset=shift_jis", 0, NULL);
    check_conv("EUC-KR label on 1252", "caf\xe9 \x80\x81\xff", 8, "text/plain; charset=euc-kr", 0, NULL);
    check_conv("unknown label", "plain ascii", 11, "text/plain; charset=x-no-such-charset", 0, "plain ascii");
    check_conv("utf-16 meta on ascii", "<meta charset=utf-16><p>x</p>", 29, NULL, 1,
               "<meta charset=utf-16><p>x</p>");
    check_conv("odd utf-16", "\xff\xfe" "a\x00\x00\xd8" "b", 7, NULL, 0, NULL);

    /* broken UTF-8 under a UTF-8 label: U+FFFD, one per maximal subpart */
    check_conv("invalid utf-8", "a\xc3\x28 b\xe2\x82 c\xf0\x9f\x98 d\xff\xc0\x80 e\xed\xa0\x80", 22,
               "text/plain; charset=utf-8", 0,
               "a\xef\xbf\xbd( b\xef\xbf\xbd c\xef\xbf\xbd d\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd e\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    check_conv("NUL", "a\0b", 3, "text/plain; charset=utf-8", 0, "a\xef\xbf\xbd" "b");
    check_conv("empty", "", 0, NULL, 1, "");

    /* every byte value, under every label: always valid UTF-8 */
    {
        static const char *const labels[] = {
            NULL, "text/html; charset=utf-8", "text/html; charset=windows-1252",
            "text/html; charset=gb18030", "text/html; charset=shift_jis", "text/html; charset=euc-kr",
            "text/html; charset=big5", "text/html; charset=utf-16", "text/html; charset=iso-2022-jp",
            "text/html; charset=koi8-r",
        };
        char all[512];
        size_t k;
        for (k = 0; k < sizeof all; k++)
            all[k] = (char)(k * 7 + (k >> 8));
        for (k = 0; k < sizeof labels / sizeof labels[0]; k++) {
            snprintf(what, sizeof what, "all bytes %s", labels[k] ? labels[k] : "(none)");
            check_conv(what, all, sizeof all, labels[k], 1, NULL);
        }
    }
}

static void test_repair(void)
{
    char *out;
    size_t n;
    CHECK(text_utf8_repair("ok \xe2\x82\xac \xe2\x82", 9, &out, &n) == 0, "repair");
    CHECK(n == 10 && !memcmp(out, "ok \xe2\x82\xac \xef\xbf\xbd", 10), "repair: [%s]", out);
    free(out);
}

static void test_sniff(void)
{
    static const struct { const char *ct, *name, *data; size_t len; TextKind want; } cases[] = {
        { "text/html; charset=utf-8", NULL, "<p>x</p>", 8, TEXT_HTML },
        { "application/xhtml+xml", NULL, "<html/>", 7, TEXT_HTML },
        { "text/plain", NULL, "just words", 10, TEXT_PLAIN },
        { "text/plain", NULL, "<!DOCTYPE html><html>", 21, TEXT_HTML },
        { NULL, "https://x.org/a/paper.pdf?dl=1", "%PDF-1.7\n", 9, TEXT_PDF },
        { "text/html", NULL, "%PDF-1.4\n", 9, TEXT_PDF },
        { "application/pdf", NULL, "<html>not a pdf", 15, TEXT_BINARY },
        { "text/html", NULL, "\x89PNG\r\n\x1a\n", 8, TEXT_BINARY },
        { "text/html", NULL, "ab\0cd\0ef", 8, TEXT_BINARY },
        { "image/jpeg", NULL, "plain?", 6, TEXT_BINARY },
        { NULL, "/docs/notes.md", "# Notes", 7, TEXT_PLAIN },
        { NULL, "/docs/page.htm", "hello", 5, TEXT_HTML },
        { NULL, NULL, "  <html><body>x", 15, TEXT_HTML },
        { "application/octet-stream", NULL, "\x01\x02\x03\x04\x05\x06\x07\x08\x0e\x0f", 10, TEXT_BINARY },
        { "text/plain", NULL, "\xff\xfe<\0h\0", 6, TEXT_PLAIN },
        { "application/json", NULL, "{\"a\": 1}", 8, TEXT_PLAIN },
        { NULL, NULL, "PK\x03\x04zip", 7, TEXT_BINARY },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        TextKind k = text_sniff(cases[i].ct, cases[i].name, cases[i].data, cases[i].len);
        CHECK(k == cases[i].want, "sniff %zu: got %d want %d", i, (int)k, (int)cases[i].want);
    }
}

static char *convert_page(const char *html, size_t len)
{
    char *title = NULL, *md = NULL, *res = NULL;
    PlumbError err = { 0 };
    int rc = text_html_to_markdown(html, len, BASE, &title, &md, &err);
    CHECK(rc == 0, "html: %s", err.msg);
    if (rc == 0) {
        size_t n = strlen(title) + strlen(md) + 16;
        res = malloc(n);
        snprintf(res, n, "Title: %s\n\n%s\n", title, md);
        CHECK(is_valid_utf8(res, strlen(res)), "html output is not valid UTF-8");
    }
    free(title);
    free(md);
    return res;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_goldens(void)
{
    char dir[4096], *names[64];
    size_t n = 0, i;
    DIR *d;
    struct dirent *e;
    snprintf(dir, sizeof dir, "%s", test_data("agent/html"));
    d = opendir(dir);
    CHECK(d != NULL, "cannot open %s", dir);
    if (!d)
        return;
    while ((e = readdir(d)) && n < 64) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".html"))
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof names[0], cmp_name);
    CHECK(n >= 10, "%zu HTML goldens in %s, want at least 10", n, dir);
    for (i = 0; i < n; i++) {
        char path[4200], *html, *want, *got;
        size_t hl = 0, wl = 0;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        html = test_read_file(path, &hl);
        strcpy(path + strlen(path) - 4, "md");
        want = test_read_file(path, &wl);
        CHECK(html && want, "%s: cannot read the pair", names[i]);
        if (html && want && (got = convert_page(html, hl))) {
            CHECK(!strcmp(got, want), "%s:\n--- got\n%s--- want\n%s---", names[i], got, want);
            free(got);
        }
        free(html);
        free(want);
        free(names[i]);
    }
}

static void test_html_edges(void)
{
    char *t, *m;
    PlumbError err = { 0 };
    size_t big = 9u << 20, i;
    char *page;
    /* empty and comment-only input */
    CHECK(text_html_to_markdown("", 0, NULL, &t, &m, &err) == 0 && !*t && !*m, "empty page");
    free(t);
    free(m);
    CHECK(text_html_to_markdown("<!-- x -->", 10, NULL, &t, &m, &err) == 0 && !*m, "comment page");
    free(t);
    free(m);
    /* relative links with no base stay as they are */
    CHECK(text_html_to_markdown("<a href=\"a/b.html\">x</a>", 24, NULL, &t, &m, &err) == 0 &&
              !strcmp(m, "[x](a/b.html)"), "no base: [%s]", m);
    free(t);
    free(m);
    /* deep nesting does not overflow the stack */
    page = malloc(big + 1);
    for (i = 0; i + 5 <= 200000; i += 5)
        memcpy(page + i, "<div>", 5);
    memcpy(page + i, "deep", 4);
    CHECK(text_html_to_markdown(page, i + 4, NULL, &t, &m, &err) == 0, "deep: %s", err.msg);
    free(t);
    free(m);
    /* past 8 MiB the input is cut, the call still succeeds */
    for (i = 0; i < big; i++)
        page[i] = "word <b>bold</b> \n"[i % 18];
    CHECK(text_html_to_markdown(page, big, NULL, &t, &m, &err) == 0, "big: %s", err.msg);
    CHECK(m && strlen(m) < (8u << 20) && strlen(m) > (4u << 20), "big: %zu bytes", m ? strlen(m) : 0);
    free(t);
    free(m);
    free(page);
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "--print")) {
        size_t n;
        char *html = test_read_file(argv[2], &n), *out;
        if (!html || !(out = convert_page(html, n)))
            return 1;
        fputs(out, stdout);
        free(out);
        free(html);
        return 0;
    }
    test_charsets();
    test_repair();
    test_sniff();
    test_goldens();
    test_html_edges();
    return test_done("test_text");
}
