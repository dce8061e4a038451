/*
 * fuzz_tokenizer.c — libFuzzer target for the byte-level BPE tokenizer.
 *
 * The real Qwen3 vocabulary (tests/data/models/qwen3-vocab.gguf, or the file
 * named by $PLUMB_FUZZ_VOCAB) is loaded once.  Each input is encoded with
 * and without PLUMB_TOK_SPECIAL and the ids are decoded back to bytes.  What
 * tokenizer.h promises, and what is checked:
 *   - encoding never fails on any bytes, and every id is in the vocabulary;
 *   - without the flag no id is an added (special) token;
 *   - the bytes of the ids are the input with each maximal run of valid
 *     UTF-8 NFC-normalised and every other byte kept as it is: for valid
 *     UTF-8 whose code points utf8proc knows, they equal utf8proc's NFC of
 *     the input (for code points it calls unassigned, the tokenizer's newer
 *     Unicode tables decide, so only the next property is checked);
 *   - encoding the decoded bytes again gives the same ids (NFC is
 *     idempotent and the split and merges are deterministic).
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "gguf.h"
#include "plumb.h"
#include "tokenizer.h"

#ifndef PLUMB_FUZZ_DATA
#define PLUMB_FUZZ_DATA "tests/data"
#endif

static PlumbTokenizer *tok;

#define FUZZ_CHECK(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_tokenizer: ");                                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    const char *path = getenv("PLUMB_FUZZ_VOCAB");
    PlumbGGUF *g = NULL;
    PlumbError err;
    (void)argc, (void)argv;
    if (!path || !*path)
        path = PLUMB_FUZZ_DATA "/models/qwen3-vocab.gguf";
    if (plumb_gguf_open(&g, path, &err) != PLUMB_OK || plumb_tok_open(&tok, g, &err) != PLUMB_OK) {
        fprintf(stderr, "fuzz_tokenizer: %s (set PLUMB_FUZZ_VOCAB to a GGUF with a Qwen3 vocabulary)\n",
                err.msg);
        exit(1);
    }
    plumb_gguf_close(g); /* the tokenizer keeps copies */
    return 0;
}

static int32_t *encode(const uint8_t *s, size_t n, unsigned flags, size_t *n_ids)
{
    PlumbError err;
    int32_t *ids = NULL;
    int rc = plumb_tok_encode(tok, (const char *)s, n, flags, &ids, n_ids, &err);
    size_t i;
    FUZZ_CHECK(rc == PLUMB_OK, "encoding %zu bytes failed: %s", n, err.msg);
    FUZZ_CHECK(*n_ids == 0 || ids != NULL, "ids missing");
    /* NFC can lengthen the text (U+0FB9 becomes two code points): ids are
     * bounded by its bytes, not the input's; decode() checks that. */
    for (i = 0; i < *n_ids; i++)
        FUZZ_CHECK(ids[i] >= 0 && ids[i] < plumb_tok_n_vocab(tok), "id %d out of range", ids[i]);
    return ids;
}

/* Concatenated bytes of ids; malloc'd. */
static uint8_t *decode(const int32_t *ids, size_t n, size_t *len)
{
    size_t cap = 0, i, l;
    uint8_t *out, *p;
    for (i = 0; i < n; i++) {
        FUZZ_CHECK(plumb_tok_bytes(tok, ids[i], &l) != NULL && l > 0, "id %d has no bytes", ids[i]);
        cap += l;
    }
    p = out = malloc(cap + 1);
    FUZZ_CHECK(out != NULL, "out of memory");
    for (i = 0; i < n; i++) {
        const char *b = plumb_tok_bytes(tok, ids[i], &l);
        memcpy(p, b, l);
        p += l;
    }
    *len = cap;
    return out;
}

/* Is s[0..n) valid UTF-8 with only code points utf8proc has assigned? */
static int known_utf8(const uint8_t *s, size_t n)
{
    while (n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t r = utf8proc_iterate(s, (utf8proc_ssize_t)n, &cp);
        if (r <= 0 || utf8proc_category(cp) == UTF8PROC_CATEGORY_CN)
            return 0;
        s += r;
        n -= (size_t)r;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t n, n2, blen, i;
    int32_t *ids, *ids2;
    uint8_t *back;

    if (size > 1 << 16) /* long inputs only slow the search down */
        return 0;
    /* With the added tokens recognised: any bytes, valid ids. */
    ids = encode(data, size, PLUMB_TOK_SPECIAL, &n);
    free(decode(ids, n, &blen));
    free(ids);

    /* As plain text. */
    ids = encode(data, size, 0, &n);
    for (i = 0; i < n; i++)
        FUZZ_CHECK(!plumb_tok_is_special(tok, ids[i]), "added token %d without the flag", ids[i]);
    back = decode(ids, n, &blen);
    if (known_utf8(data, size)) {
        utf8proc_uint8_t *nfc = NULL;
        utf8proc_ssize_t nl = size ? utf8proc_map(data, (utf8proc_ssize_t)size, &nfc,
                                                  UTF8PROC_STABLE | UTF8PROC_COMPOSE)
                                   : 0;
        FUZZ_CHECK(nl >= 0, "utf8proc refused valid UTF-8");
        FUZZ_CHECK((size_t)nl == blen && memcmp(back, size ? nfc : back, blen) == 0,
                   "the bytes of the ids (%zu) are not the NFC form of the text (%zd)", blen,
                   (ssize_t)nl);
        free(nfc);
    }
    ids2 = encode(back, blen, 0, &n2);
    FUZZ_CHECK(n2 == n && memcmp(ids, ids2, n * sizeof *ids) == 0,
               "encoding the decoded text gives other ids (%zu, then %zu)", n, n2);
    free(ids2);
    free(back);
    free(ids);
    return 0;
}
