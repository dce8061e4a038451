/*
 * fuzz_html.c — libFuzzer target for HTML to text (src/agent/text.c).
 *
 * Input layout: byte 0 picks the base URL (none, a page URL, a URL with an
 * odd scheme); the rest is the page, made valid UTF-8 first as the callers
 * do.  Checked:
 *   - the conversion succeeds (only running out of memory may fail it);
 *   - the title and the text are valid UTF-8 with no NUL inside, and the
 *     text is never larger than the cap;
 *   - converting the same bytes twice gives the same text.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text.h"
#include "utf8.h"

#define FUZZ_CHECK(cond, what)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_html: %s\n", what);                                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const bases[4] = {
    NULL, "https://example.org/dir/page.html?q=1#frag", "http://[::1]:8080/", "file:///tmp/x.html",
};

static int valid(const char *s)
{
    size_t n = strlen(s), i = 0;
    uint32_t cp;
    while (i < n) {
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *base;
    char *page = NULL, *title = NULL, *md = NULL, *title2 = NULL, *md2 = NULL;
    size_t len = 0;
    PlumbError err = { 0 };
    int rc;
    if (size < 1)
        return 0;
    base = bases[data[0] & 3];
    if (text_utf8_repair(data + 1, size - 1, &page, &len) != PLUMB_OK)
        return 0;
    FUZZ_CHECK(strlen(page) == len && valid(page), "repair gave invalid UTF-8 or a NUL");
    rc = text_html_to_markdown(page, len, base, &title, &md, &err);
    FUZZ_CHECK(rc == PLUMB_OK || rc == PLUMB_ENOMEM, "conversion failed on valid UTF-8");
    if (rc == PLUMB_OK) {
        FUZZ_CHECK(title && md, "no output");
        FUZZ_CHECK(valid(title) && valid(md), "output is not valid UTF-8");
        FUZZ_CHECK(strlen(md) <= (16u << 20), "output past the cap");
        rc = text_html_to_markdown(page, len, base, &title2, &md2, &err);
        FUZZ_CHECK(rc == PLUMB_OK && !strcmp(md, md2) && !strcmp(title, title2), "not deterministic");
    }
    free(title);
    free(md);
    free(title2);
    free(md2);
    free(page);
    return 0;
}
