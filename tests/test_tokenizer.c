/*
 * test_tokenizer.c — the Qwen2 BPE tokenizer against the reference.
 *
 * - The full Qwen3 vocabulary (qwen3-vocab.gguf) must give exactly the
 *   reference ids for every line of tokenizer/corpus.jsonl and extra.jsonl.
 * - Round trip: the bytes of the ids are the NFC form of the input; invalid
 *   UTF-8 comes back byte for byte.
 * - Added tokens are recognised only with PLUMB_TOK_SPECIAL.
 * - The truncated vocabularies of the test models reproduce the prompt ids
 *   llama.cpp gave (golden/<model>.<prompt>.tokens.txt).
 * - Controlled merges on a tiny vocabulary written here, and GGUF files with
 *   broken tokenizer metadata, which must be refused with a message, never
 *   crash.
 */
#include "config.h"

#include <stdint.h>
#include <unistd.h>

#include <jansson.h>
#include <utf8proc.h>

#include "gguf.h"
#include "tokenizer.h"
#include "testlib.h"
#include "utf8.h"

static char tmpdir[256]; /* mkdtemp'd, removed at the end */

/* ------------------------------------------------------------------ helpers */

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test_tokenizer: out of memory\n");
        exit(99);
    }
    return p;
}

/* Decode the JSON string s[0..n) into out (n bytes suffice: no escape is
 * shorter than what it stands for); -1 if it is not one JSON string. */
static int decode_line(const char *s, size_t n, char *out, size_t *len)
{
    json_error_t jerr;
    json_t *v = json_loadb(s, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    int rc = -1;
    if (v && json_is_string(v) && json_string_length(v) <= n) {
        *len = json_string_length(v);
        memcpy(out, json_string_value(v), *len);
        rc = 0;
    }
    json_decref(v);
    return rc;
}

/* Parse "1 2 3" into ids (malloc'd). */
static int32_t *parse_ids(const char *s, size_t n, size_t *count)
{
    int32_t *ids = xmalloc((n / 2 + 1) * sizeof *ids);
    size_t k = 0, i = 0;
    while (i < n) {
        long v = 0;
        if (s[i] == ' ') {
            i++;
            continue;
        }
        while (i < n && s[i] >= '0' && s[i] <= '9')
            v = v * 10 + (s[i++] - '0');
        ids[k++] = (int32_t)v;
        if (i < n && s[i] != ' ')
            break;
    }
    *count = k;
    return ids;
}

static void print_ids(const char *label, const int32_t *ids, size_t n)
{
    size_t i;
    fprintf(stderr, "  %s (%zu):", label, n);
    for (i = 0; i < n && i < 64; i++)
        fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, "%s\n", n > 64 ? " ..." : "");
}

static int same_ids(const int32_t *a, size_t na, const int32_t *b, size_t nb)
{
    return na == nb && (na == 0 || memcmp(a, b, na * sizeof *a) == 0);
}

/* The concatenated bytes of ids (malloc'd). */
static char *detok(const PlumbTokenizer *t, const int32_t *ids, size_t n, size_t *len)
{
    size_t i, total = 0, o = 0;
    char *out;
    for (i = 0; i < n; i++) {
        size_t l = 0;
        if (!plumb_tok_bytes(t, ids[i], &l))
            return NULL;
        total += l;
    }
    out = xmalloc(total + 1);
    for (i = 0; i < n; i++) {
        size_t l;
        const char *p = plumb_tok_bytes(t, ids[i], &l);
        memcpy(out + o, p, l);
        o += l;
    }
    out[o] = '\0';
    *len = o;
    return out;
}

static int32_t *enc(const PlumbTokenizer *t, const char *s, size_t len, unsigned flags, size_t *n)
{
    int32_t *ids = NULL;
    PlumbError err = { 0 };
    int rc = plumb_tok_encode(t, s, len, flags, &ids, n, &err);
    CHECK(rc == PLUMB_OK, "encode failed: %s", err.msg);
    if (rc != PLUMB_OK) {
        *n = 0;
        return NULL;
    }
    return ids;
}

/* Does s contain a code point utf8proc does not know?  (Those NFC forms are
 * the tokenizer's own top-up and are checked by hand below.) */
static int has_unknown_cp(const char *s, size_t n)
{
    utf8proc_ssize_t i = 0;
    while ((size_t)i < n) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t m = utf8proc_iterate((const utf8proc_uint8_t *)s + i, (utf8proc_ssize_t)n - i, &cp);
        if (m <= 0)
            return 1;
        if (utf8proc_category(cp) == UTF8PROC_CATEGORY_CN)
            return 1;
        i += m;
    }
    return 0;
}

/* ------------------------------------------------------------------ the reference sets */

static void check_set(const PlumbTokenizer *t, const char *jsonl, const char *idsfile)
{
    size_t jn = 0, in = 0, jp = 0, ip = 0, line = 0, agree = 0, round = 0;
    char *j = test_read_file(test_data(jsonl), &jn);
    char *ids_txt;
    int reported = 0;
    CHECK(j != NULL, "cannot read %s", jsonl);
    ids_txt = test_read_file(test_data(idsfile), &in);
    CHECK(ids_txt != NULL, "cannot read %s", idsfile);
    if (!j || !ids_txt) {
        free(j);
        free(ids_txt);
        return;
    }
    while (jp < jn) {
        const char *jl = j + jp, *il = ids_txt + ip, *e;
        size_t jlen, ilen, tlen = 0, n_want, n_got, blen;
        char *text, *back;
        int32_t *want, *got;
        e = memchr(jl, '\n', jn - jp);
        jlen = e ? (size_t)(e - jl) : jn - jp;
        e = ip < in ? memchr(il, '\n', in - ip) : NULL;
        ilen = ip < in ? (e ? (size_t)(e - il) : in - ip) : 0;
        jp += jlen + 1;
        ip += ilen + 1;
        line++;
        text = xmalloc(jlen + 1);
        if (decode_line(jl, jlen, text, &tlen)) {
            CHECK(0, "%s:%zu: not a JSON string", jsonl, line);
            free(text);
            continue;
        }
        text[tlen] = '\0';
        want = parse_ids(il, ilen, &n_want);
        got = enc(t, text, tlen, PLUMB_TOK_SPECIAL, &n_got);
        if (same_ids(got, n_got, want, n_want)) {
            agree++;
        } else if (!reported++) {
            fprintf(stderr, "%s:%zu: first line that differs from the reference: %.*s\n", jsonl,
                    line, (int)(jlen < 300 ? jlen : 300), jl);
            print_ids("plumb", got, n_got);
            print_ids("reference", want, n_want);
        }
        back = detok(t, got, n_got, &blen);
        CHECK(back != NULL, "%s:%zu: an id has no bytes", jsonl, line);
        /* round trip: the bytes of the ids are the NFC form of the text.
         * utf8proc's NFC is the yardstick, except where the text has code
         * points its tables do not know: there the reference's newer
         * Unicode rules apply, and the id check above already pins them. */
        if (back) {
            utf8proc_uint8_t *nfc = NULL;
            utf8proc_ssize_t nl = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)tlen,
                                               &nfc, UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (nl >= 0 && (size_t)nl == blen && memcmp(back, nfc, blen) == 0)
                round++;
            else
                CHECK(has_unknown_cp(text, tlen),
                      "%s:%zu: bytes of the ids are not the NFC form of the text", jsonl, line);
            free(nfc);
        }
        free(back);
        free(want);
        free(got);
        free(text);
    }
    CHECK(agree == line, "%s: %zu of %zu lines agree with the reference", jsonl, agree, line);
    CHECK(line >= 90, "%s: only %zu lines", jsonl, line);
    fprintf(stderr, "%s: %zu/%zu lines identical to the reference, %zu/%zu equal to utf8proc's NFC\n",
            jsonl, agree, line, round, line);
    free(j);
    free(ids_txt);
}

/* ------------------------------------------------------------------ full vocabulary */

static void check_full(const PlumbTokenizer *t)
{
    size_t n, l, n2;
    int32_t *ids, *ids2;
    const char *p;
    char *back;
    int32_t i;
    int specials = 0;

    CHECK(plumb_tok_n_vocab(t) == 151936, "n_vocab %d", plumb_tok_n_vocab(t));
    CHECK(plumb_tok_n_merges(t) == 151387, "n_merges %llu", (unsigned long long)plumb_tok_n_merges(t));
    CHECK(plumb_tok_bos(t) == 151643, "bos %d", plumb_tok_bos(t));
    CHECK(plumb_tok_eos(t) == 151645, "eos %d", plumb_tok_eos(t));
    CHECK(plumb_tok_eot(t) == 151645, "eot %d", plumb_tok_eot(t));
    CHECK(plumb_tok_add_bos(t) == 0, "add_bos %d", plumb_tok_add_bos(t));
    CHECK(strcmp(plumb_tok_model(t), "gpt2") == 0, "model %s", plumb_tok_model(t));
    CHECK(strcmp(plumb_tok_pre(t), "qwen2") == 0, "pre %s", plumb_tok_pre(t));
    CHECK(plumb_tok_lookup(t, "<|im_start|>") == 151644, "lookup <|im_start|>");
    CHECK(plumb_tok_lookup(t, "<think>") == 151667, "lookup <think>");
    CHECK(plumb_tok_lookup(t, "\xc4\xa0the") == 279, "lookup 'Gthe' %d", plumb_tok_lookup(t, "\xc4\xa0the"));
    CHECK(plumb_tok_lookup(t, "no such token at all") == -1, "lookup of a non-token");
    for (i = 0; i < plumb_tok_n_vocab(t); i++)
        specials += plumb_tok_is_special(t, i) != 0;
    CHECK(specials == 26, "%d added tokens, expected 26", specials);
    CHECK(plumb_tok_is_special(t, 151644) && plumb_tok_is_special(t, 151668), "added tokens");
    CHECK(!plumb_tok_is_special(t, 151669) && !plumb_tok_is_special(t, 0), "ordinary tokens");
    CHECK(!plumb_tok_is_special(t, -1) && !plumb_tok_is_special(t, 151936), "out of range");
    CHECK(plumb_tok_bytes(t, -1, &l) == NULL && plumb_tok_bytes(t, 151936, &l) == NULL &&
              plumb_tok_text(t, 151936) == NULL,
          "out-of-range ids give NULL");
    p = plumb_tok_bytes(t, 198, &l);
    CHECK(p && l == 1 && p[0] == '\n', "token 198 is a newline");
    p = plumb_tok_bytes(t, 279, &l);
    CHECK(p && l == 4 && memcmp(p, " the", 4) == 0, "token 279 is ' the'");
    CHECK(strcmp(plumb_tok_text(t, 279), "\xc4\xa0the") == 0, "text of 279");
    p = plumb_tok_bytes(t, 151644, &l);
    CHECK(p && l == 12 && memcmp(p, "<|im_start|>", 12) == 0, "bytes of an added token are its text");
    for (i = 0; i < 256; i++) { /* each byte alone round-trips */
        char c = (char)i;
        ids = enc(t, &c, 1, 0, &n);
        CHECK(n == 1, "byte 0x%02x: %zu ids", i, n);
        if (n == 1) {
            p = plumb_tok_bytes(t, ids[0], &l);
            CHECK(l == 1 && (unsigned char)p[0] == i, "byte 0x%02x decodes wrongly", i);
        }
        free(ids);
    }

    /* added tokens only with the flag */
    ids = enc(t, "<|im_start|>user", 16, PLUMB_TOK_SPECIAL, &n);
    CHECK(n == 2 && ids[0] == 151644 && ids[1] == 872, "<|im_start|>user with the flag: %zu ids", n);
    free(ids);
    ids = enc(t, "<|im_start|>user", 16, 0, &n);
    CHECK(n >= 4, "<|im_start|>user without the flag: %zu ids", n);
    for (l = 0; l < n; l++)
        CHECK(!plumb_tok_is_special(t, ids[l]), "no added token without the flag (id %d)", ids[l]);
    back = detok(t, ids, n, &l);
    CHECK(back && l == 16 && memcmp(back, "<|im_start|>user", 16) == 0, "plain-text round trip");
    free(back);
    free(ids);
    /* longest match: <tool_call> vs </tool_call>, and a cut-off token is text */
    ids = enc(t, "</tool_call><|im_sta", 20, PLUMB_TOK_SPECIAL, &n);
    CHECK(n >= 2 && ids[0] == 151658, "</tool_call> first");
    for (l = 1; l < n; l++)
        CHECK(!plumb_tok_is_special(t, ids[l]), "<|im_sta is not an added token");
    free(ids);

    /* invalid UTF-8: kept byte for byte */
    {
        static const char *bad[] = { "\xff", "a\xc3", "\xc3(", "\xe2\x82", "\xc0\xaf",
                                     "\xed\xa0\x80x", "\xf4\x90\x80\x80", "ok \xfe\xff tail",
                                     "\xe9t\xe9", "\x80\x80\x80" };
        size_t k;
        for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            size_t len = strlen(bad[k]);
            ids = enc(t, bad[k], len, PLUMB_TOK_SPECIAL, &n);
            back = detok(t, ids, n, &l);
            CHECK(back && l == len && memcmp(back, bad[k], len) == 0,
                  "invalid UTF-8 case %zu does not round-trip", k);
            free(back);
            free(ids);
        }
        /* an invalid byte is its own token */
        ids = enc(t, "\xff\xfe", 2, 0, &n);
        CHECK(n == 2, "two invalid bytes give %zu tokens", n);
        if (n == 2) {
            p = plumb_tok_bytes(t, ids[0], &l);
            CHECK(l == 1 && (unsigned char)p[0] == 0xff, "first invalid byte");
            p = plumb_tok_bytes(t, ids[1], &l);
            CHECK(l == 1 && (unsigned char)p[0] == 0xfe, "second invalid byte");
        }
        free(ids);
    }

    /* NFC, including the compositions newer than utf8proc's tables */
    {
        static const struct {
            const char *in, *out;
        } nfc[] = {
            { "e\xcc\x81", "\xc3\xa9" },                 /* e + acute -> é */
            { "\xe2\x84\xab", "\xc3\x85" },              /* Angstrom sign -> Å */
            { "\xef\xa4\x80", "\xe8\xb1\x88" },          /* U+F900 -> U+8C48 */
            { "\xe1\x84\x92\xe1\x85\xa1\xe1\x86\xab", "\xed\x95\x9c" }, /* jamo -> 한 */
            { "a\xe1\xab\x90\xcc\xa3", "\xe1\xba\xa1\xe1\xab\x90" }, /* a U+1AD0 U+0323 -> ạ U+1AD0 */
            { "\xf0\x90\x97\x92\xcc\x87", "\xf0\x90\x97\x89" }, /* U+105D2 U+0307 -> U+105C9 */
            { "\xf0\x96\x84\x9e\xf0\x96\x84\x9e\xf0\x96\x84\x9f", "\xf0\x96\x84\xa6" }, /* -> U+16126 */
        };
        size_t k;
        for (k = 0; k < sizeof nfc / sizeof nfc[0]; k++) {
            ids = enc(t, nfc[k].in, strlen(nfc[k].in), 0, &n);
            back = detok(t, ids, n, &l);
            CHECK(back && l == strlen(nfc[k].out) && memcmp(back, nfc[k].out, l) == 0,
                  "NFC case %zu", k);
            free(back);
            free(ids);
        }
    }

    /* empty input, NULL arguments */
    ids = enc(t, "", 0, PLUMB_TOK_SPECIAL, &n);
    CHECK(n == 0, "empty text gives %zu ids", n);
    free(ids);
    {
        PlumbError err = { 0 };
        CHECK(plumb_tok_encode(t, NULL, 3, 0, &ids, &n, &err) == PLUMB_EINVAL, "NULL text");
        CHECK(plumb_tok_encode(t, "x", 1, 0, NULL, &n, &err) == PLUMB_EINVAL, "NULL ids");
    }

    /* a long text: one run of 'a', and the corpus repeated */
    {
        size_t len = 200000;
        char *s = xmalloc(len);
        memset(s, 'a', len);
        ids = enc(t, s, len, 0, &n);
        back = detok(t, ids, n, &l);
        CHECK(back && l == len && memcmp(back, s, len) == 0 && n < len / 4,
              "long run: %zu ids", n);
        ids2 = enc(t, s, 1000, 0, &n2);
        CHECK(n2 > 0 && n2 < 1000 / 4, "1000 a: %zu ids", n2);
        free(ids2);
        free(back);
        free(ids);
        free(s);
    }
}

/* ------------------------------------------------------------------ test models */

static void check_model(const char *model, const char *const *prompts, size_t np, int32_t n_vocab)
{
    char path[512];
    PlumbGGUF *g = NULL;
    PlumbTokenizer *t = NULL;
    PlumbError err = { 0 };
    size_t k;
    snprintf(path, sizeof path, "models/%s.gguf", model);
    if (plumb_gguf_open(&g, test_data(path), &err) || plumb_tok_open(&t, g, &err)) {
        CHECK(0, "%s: %s", model, err.msg);
        plumb_gguf_close(g);
        return;
    }
    CHECK(plumb_tok_n_vocab(t) == n_vocab, "%s: n_vocab %d", model, plumb_tok_n_vocab(t));
    CHECK(plumb_tok_eot(t) == n_vocab - 24, "%s: eot %d", model, plumb_tok_eot(t));
    CHECK(plumb_tok_bos(t) == n_vocab - 26, "%s: bos %d", model, plumb_tok_bos(t));
    for (k = 0; k < np; k++) {
        char file[512];
        char *prompt, *golden, *nl;
        size_t plen = 0, glen = 0, n_want, n_got;
        int32_t *want, *got;
        snprintf(file, sizeof file, "prompts/%s.txt", prompts[k]);
        prompt = test_read_file(test_data(file), &plen);
        snprintf(file, sizeof file, "golden/%s.%s.tokens.txt", model, prompts[k]);
        golden = test_read_file(test_data(file), &glen);
        CHECK(prompt && golden, "%s: cannot read %s", model, file);
        if (!prompt || !golden) {
            free(prompt);
            free(golden);
            continue;
        }
        nl = memchr(golden, '\n', glen);
        want = parse_ids(golden, nl ? (size_t)(nl - golden) : glen, &n_want);
        got = enc(t, prompt, plen, PLUMB_TOK_SPECIAL, &n_got);
        CHECK(same_ids(got, n_got, want, n_want), "%s %s: ids differ from llama.cpp", model, prompts[k]);
        if (!same_ids(got, n_got, want, n_want)) {
            print_ids("plumb", got, n_got);
            print_ids("llama.cpp", want, n_want);
        }
        free(want);
        free(got);
        free(prompt);
        free(golden);
    }
    plumb_tok_close(t);
    plumb_gguf_close(g);
}

/* ------------------------------------------------------------------ synthetic vocabularies */

typedef struct Buf {
    uint8_t *p; /* bytes written */
    size_t n;   /* length */
    size_t cap; /* allocated */
} Buf;

static void put(Buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 64;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "test_tokenizer: out of memory\n");
            exit(99);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_le(Buf *b, uint64_t v, int n)
{
    uint8_t x[8];
    int i;
    for (i = 0; i < n; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    put(b, x, (size_t)n);
}

static void put_str(Buf *b, const char *s)
{
    put_le(b, strlen(s), 8);
    put(b, s, strlen(s));
}

static void kv_str(Buf *b, const char *k, const char *v)
{
    put_str(b, k);
    put_le(b, 8, 4);
    put_str(b, v);
}

static void kv_u32(Buf *b, const char *k, uint32_t v)
{
    put_str(b, k);
    put_le(b, 4, 4);
    put_le(b, v, 4);
}

static void kv_strs(Buf *b, const char *k, const char *const *v, size_t n)
{
    size_t i;
    put_str(b, k);
    put_le(b, 9, 4);
    put_le(b, 8, 4);
    put_le(b, n, 8);
    for (i = 0; i < n; i++)
        put_str(b, v[i]);
}

static void kv_i32s(Buf *b, const char *k, const int32_t *v, size_t n)
{
    size_t i;
    put_str(b, k);
    put_le(b, 9, 4);
    put_le(b, 5, 4);
    put_le(b, n, 8);
    for (i = 0; i < n; i++)
        put_le(b, (uint32_t)v[i], 4);
}

/* Defects planted in the otherwise valid tiny tokenizer. */
enum {
    D_NONE,
    D_PRE,          /* tokenizer.ggml.pre = "llama-bpe" */
    D_MODEL,        /* tokenizer.ggml.model = "llama" */
    D_MERGE_TOKEN,  /* a merge names a token not in the vocabulary */
    D_MERGE_RESULT, /* a merge whose concatenation is not a token */
    D_MERGE_SPACE,  /* a merge without a space */
    D_TYPES_LEN,    /* token_type shorter than tokens */
    D_TYPES_KIND,   /* token_type is an array of strings */
    D_TYPE_VALUE,   /* token_type holds 99 */
    D_EOS_RANGE,    /* eos id past the vocabulary */
    D_NO_TOKENS,    /* tokenizer.ggml.tokens missing */
    D_NO_BYTE,      /* the symbol of byte 0x0a missing */
    D_NO_MERGES,    /* tokenizer.ggml.merges missing */
};

/* Vocabulary: the 256 byte-level symbols (ids 0..255), then "aa", "aaa",
 * "ab", "ba", "bab", "<|x|>" (control), "<|xy|>" (user-defined). */
static const char *write_tiny(int defect)
{
    static char path[512];
    const char *tokens[300], *merges[8];
    int32_t types[300];
    static char sym[256][4];
    size_t nt = 0, nm = 0, i;
    Buf b = { 0 };
    FILE *f;
    for (i = 0; i < 256; i++) {
        unsigned cp = 0, k = 0, j;
        if ((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255)) {
            cp = (unsigned)i;
        } else {
            for (j = 0; j < i; j++)
                k += !((j >= 33 && j <= 126) || (j >= 161 && j <= 172) || (j >= 174 && j <= 255));
            cp = 256 + k;
        }
        sym[i][utf8_encode(cp, (unsigned char *)sym[i])] = '\0';
        if (!(defect == D_NO_BYTE && i == 0x0a)) {
            types[nt] = 1;
            tokens[nt++] = sym[i];
        }
    }
    types[nt] = 1, tokens[nt++] = "aa";
    types[nt] = 1, tokens[nt++] = "aaa";
    types[nt] = 1, tokens[nt++] = "ab";
    types[nt] = 1, tokens[nt++] = "ba";
    types[nt] = 1, tokens[nt++] = "bab";
    types[nt] = 3, tokens[nt++] = "<|x|>";
    types[nt] = 4, tokens[nt++] = "<|xy|>";
    merges[nm++] = defect == D_MERGE_TOKEN ? "a zz" : defect == D_MERGE_SPACE ? "aa" : "a a";
    merges[nm++] = "b a";
    merges[nm++] = "aa a";
    merges[nm++] = "a b";
    merges[nm++] = defect == D_MERGE_RESULT ? "b b" : "b ab";
    if (defect == D_TYPE_VALUE)
        types[3] = 99;

    put(&b, "GGUF", 4);
    put_le(&b, 3, 4);
    put_le(&b, 0, 8);                                  /* tensors */
    put_le(&b, 7 - (defect == D_NO_TOKENS) - (defect == D_NO_MERGES), 8); /* keys */
    kv_str(&b, "tokenizer.ggml.model", defect == D_MODEL ? "llama" : "gpt2");
    kv_str(&b, "tokenizer.ggml.pre", defect == D_PRE ? "llama-bpe" : "qwen2");
    if (defect != D_NO_TOKENS)
        kv_strs(&b, "tokenizer.ggml.tokens", tokens, nt);
    if (defect == D_TYPES_KIND)
        kv_strs(&b, "tokenizer.ggml.token_type", tokens, nt);
    else
        kv_i32s(&b, "tokenizer.ggml.token_type", types, defect == D_TYPES_LEN ? nt - 1 : nt);
    if (defect != D_NO_MERGES)
        kv_strs(&b, "tokenizer.ggml.merges", merges, nm);
    kv_u32(&b, "tokenizer.ggml.eos_token_id", defect == D_EOS_RANGE ? 100000 : (uint32_t)nt - 2);
    kv_u32(&b, "tokenizer.ggml.bos_token_id", (uint32_t)nt - 2);

    snprintf(path, sizeof path, "%s/tiny%d.gguf", tmpdir, defect);
    f = fopen(path, "wb");
    CHECK(f && fwrite(b.p, 1, b.n, f) == b.n && fclose(f) == 0, "cannot write %s", path);
    free(b.p);
    return path;
}

static PlumbTokenizer *open_tiny(int defect, int *rc, PlumbError *err, PlumbGGUF **g)
{
    PlumbTokenizer *t = NULL;
    const char *path = write_tiny(defect);
    *rc = plumb_gguf_open(g, path, err);
    CHECK(*rc == PLUMB_OK, "tiny %d: the GGUF itself must be valid: %s", defect, err->msg);
    if (*rc)
        return NULL;
    *rc = plumb_tok_open(&t, *g, err);
    return t;
}

static void check_tiny(void)
{
    static const struct {
        int defect, code;
        const char *words; /* in the message */
    } bad[] = {
        { D_PRE, PLUMB_EUNSUPPORTED, "'llama-bpe'" },
        { D_MODEL, PLUMB_EUNSUPPORTED, "'llama'" },
        { D_MERGE_TOKEN, PLUMB_EFORMAT, "'zz' is not in the vocabulary" },
        { D_MERGE_RESULT, PLUMB_EFORMAT, "merged token 'bb'" },
        { D_MERGE_SPACE, PLUMB_EFORMAT, "tokenizer.ggml.merges[0]" },
        { D_TYPES_LEN, PLUMB_EFORMAT, "token_type has 262 entries" },
        { D_TYPES_KIND, PLUMB_EFORMAT, "tokenizer.ggml.token_type" },
        { D_TYPE_VALUE, PLUMB_EFORMAT, "token_type[3] = 99" },
        { D_EOS_RANGE, PLUMB_EFORMAT, "token id 100000 is out of range" },
        { D_NO_TOKENS, PLUMB_EFORMAT, "tokenizer.ggml.tokens" },
        { D_NO_BYTE, PLUMB_EFORMAT, "byte 0x0a" },
        { D_NO_MERGES, PLUMB_EFORMAT, "tokenizer.ggml.merges" },
    };
    PlumbError err = { 0 };
    PlumbGGUF *g = NULL;
    PlumbTokenizer *t;
    size_t k, n, l;
    int rc;
    int32_t *ids;
    char *back;

    t = open_tiny(D_NONE, &rc, &err, &g);
    CHECK(t && rc == PLUMB_OK, "tiny vocabulary: %s", err.msg);
    if (t) {
        int32_t aa = plumb_tok_lookup(t, "aa"), aaa = plumb_tok_lookup(t, "aaa"),
                ab = plumb_tok_lookup(t, "ab"), ba = plumb_tok_lookup(t, "ba"),
                a = plumb_tok_lookup(t, "a"),
                b = plumb_tok_lookup(t, "b"), x = plumb_tok_lookup(t, "<|x|>"),
                xy = plumb_tok_lookup(t, "<|xy|>");
        CHECK(plumb_tok_n_vocab(t) == 263 && plumb_tok_n_merges(t) == 5, "tiny sizes");
        CHECK(plumb_tok_eot(t) == -1, "no <|im_end|>: eot -1");
        CHECK(plumb_tok_eos(t) == 261 && plumb_tok_bos(t) == 261, "eos/bos");
        plumb_gguf_close(g); /* the tokenizer keeps its own copies */
        g = NULL;
        /* "aaaa": a a (rank 0) leftmost first -> aa aa; aa a would need aaa */
        ids = enc(t, "aaaa", 4, 0, &n);
        CHECK(n == 2 && ids[0] == aa && ids[1] == aa, "aaaa -> aa aa");
        free(ids);
        ids = enc(t, "aaa", 3, 0, &n);
        CHECK(n == 1 && ids[0] == aaa, "aaa -> aaa");
        free(ids);
        /* "aba": a b (rank 3) and b a (rank 1): b a first -> a ba */
        ids = enc(t, "aba", 3, 0, &n);
        CHECK(n == 2 && ids[0] == a && ids[1] == ba, "aba -> a ba");
        free(ids);
        /* "bab": b a (rank 1) first -> ba b, and "ba b" is no merge */
        ids = enc(t, "bab", 3, 0, &n);
        CHECK(n == 2 && ids[0] == ba && ids[1] == b, "bab -> ba b (got %zu)", n);
        free(ids);
        /* "abab": b a (1) at 1 first -> a ba b; nothing more */
        ids = enc(t, "abab", 4, 0, &n);
        CHECK(n == 3 && ids[0] == a && ids[1] == ba && ids[2] == b, "abab -> a ba b");
        free(ids);
        /* "ab ab": the split pattern cuts before the space */
        ids = enc(t, "ab ab", 5, 0, &n);
        CHECK(n == 3 && ids[0] == ab && ids[2] == ab, "ab ab -> ab, space, ab (got %zu)", n);
        free(ids);
        /* added tokens, longest first */
        ids = enc(t, "<|xy|><|x|>a", 12, PLUMB_TOK_SPECIAL, &n);
        CHECK(n == 3 && ids[0] == xy && ids[1] == x && ids[2] == a, "added tokens in text");
        free(ids);
        ids = enc(t, "<|xy|>", 6, 0, &n);
        CHECK(n == 6, "added token as text: %zu ids", n);
        back = detok(t, ids, n, &l);
        CHECK(back && l == 6 && memcmp(back, "<|xy|>", 6) == 0, "added token text round trip");
        free(back);
        free(ids);
        plumb_tok_close(t);
    }
    plumb_gguf_close(g);

    for (k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        g = NULL;
        memset(&err, 0, sizeof err);
        t = open_tiny(bad[k].defect, &rc, &err, &g);
        if (!g)
            continue;
        CHECK(t == NULL && rc == bad[k].code, "defect %d: rc %d, expected %d", bad[k].defect, rc,
              bad[k].code);
        CHECK(strstr(err.msg, bad[k].words) != NULL, "defect %d: message '%s' lacks '%s'",
              bad[k].defect, err.msg, bad[k].words);
        CHECK(strstr(err.msg, "tiny") != NULL, "defect %d: message '%s' names no file",
              bad[k].defect, err.msg);
        plumb_tok_close(t);
        plumb_gguf_close(g);
    }
    {
        PlumbTokenizer *none = (PlumbTokenizer *)1;
        CHECK(plumb_tok_open(&none, NULL, &err) == PLUMB_EINVAL, "NULL gguf");
        plumb_tok_close(NULL);
    }
}

int main(void)
{
    static const char *const prompts[] = { "p1", "p2", "p3" };
    PlumbGGUF *g = NULL;
    PlumbTokenizer *t = NULL;
    PlumbError err = { 0 };
    const char *base = getenv("TMPDIR");
    char cmd[600];

    snprintf(tmpdir, sizeof tmpdir, "%s/test_tokenizer.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 99;
    }

    if (plumb_gguf_open(&g, test_data("models/qwen3-vocab.gguf"), &err) ||
        plumb_tok_open(&t, g, &err)) {
        CHECK(0, "qwen3-vocab.gguf: %s", err.msg);
    } else {
        check_full(t);
        check_set(t, "tokenizer/corpus.jsonl", "tokenizer/corpus.ids");
        check_set(t, "tokenizer/extra.jsonl", "tokenizer/extra.ids");
    }
    plumb_tok_close(t);
    plumb_gguf_close(g);

    check_model("small-f16", prompts, 3, 2048);
    check_model("dense-f16", prompts, 3, 2048);
    check_model("mini-f32", prompts, 3, 1024);
    check_tiny();

    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "test_tokenizer: could not remove %s\n", tmpdir);
    return test_done("test_tokenizer");
}
