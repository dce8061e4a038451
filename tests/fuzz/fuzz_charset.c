/*
 * fuzz_charset.c — libFuzzer target for charset detection, conversion and
 * type sniffing (src/agent/text.c).
 *
 * Input layout: byte 0 picks a Content-Type from a table (none, UTF-8,
 * legacy single- and multi-byte charsets, UTF-16, an unknown label, a
 * label with quotes); bit 7 says the bytes are HTML (so <meta> is read);
 * the rest are the bytes.  Checked:
 *   - conversion always succeeds (or runs out of memory) and gives valid
 *     UTF-8 with no NUL inside, of the length reported;
 *   - repair gives valid UTF-8, and leaves valid UTF-8 without NUL as it is;
 *   - sniffing answers one of the four kinds.
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
            fprintf(stderr, "fuzz_charset: %s\n", what);                                           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const types[16] = {
    NULL,
    "text/html",
    "text/html; charset=utf-8",
    "text/html; charset=windows-1252",
    "text/plain; charset=GB2312",
    "text/plain; charset=gb18030",
    "text/html;charset=\"Shift_JIS\"",
    "text/html; charset=euc-kr",
    "text/html; charset=big5",
    "text/plain; charset=utf-16",
    "text/plain; charset=UTF-16BE",
    "text/html; charset=iso-2022-jp",
    "text/html; charset=x-unknown-charset",
    "text/html; charset=koi8-r",
    "application/octet-stream",
    "text/html; charset=",
};

/* Valid UTF-8 of exactly n bytes with no NUL. */
static int valid(const char *s, size_t n)
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *ct;
    char *out = NULL;
    size_t len = 0;
    PlumbError err = { 0 };
    int rc, html;
    TextKind kind;
    if (size < 1)
        return 0;
    ct = types[data[0] & 15];
    html = data[0] >> 7;
    rc = text_to_utf8(data + 1, size - 1, ct, html, &out, &len, &err);
    FUZZ_CHECK(rc == PLUMB_OK || rc == PLUMB_ENOMEM, "conversion failed");
    if (rc == PLUMB_OK)
        FUZZ_CHECK(out && strlen(out) == len && valid(out, len), "conversion gave invalid UTF-8");
    free(out);

    if (text_utf8_repair(data + 1, size - 1, &out, &len) == PLUMB_OK) {
        size_t i;
        int nul = 0;
        for (i = 1; i < size; i++)
            nul |= data[i] == 0;
        FUZZ_CHECK(strlen(out) == len && valid(out, len), "repair gave invalid UTF-8");
        if (!nul && valid((const char *)data + 1, size - 1))
            FUZZ_CHECK(len == size - 1 && !memcmp(out, data + 1, len), "repair changed valid UTF-8");
        free(out);
    }

    kind = text_sniff(ct, (data[0] & 64) ? "https://example.org/a/b.pdf?x" : "/tmp/notes.md", data + 1, size - 1);
    FUZZ_CHECK(kind == TEXT_HTML || kind == TEXT_PLAIN || kind == TEXT_PDF || kind == TEXT_BINARY, "bad kind");
    return 0;
}
