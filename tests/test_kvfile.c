/*
 * test_kvfile.c — saving and loading a session's key/value cache
 * (plumb_session_save / plumb_session_load, src/kvfile.c) on the small
 * two-layer MoE fixture:
 *  - SHA-256 against the FIPS 180-2 examples, in one piece and split;
 *  - after save and load, the logits of the next tokens (a batch, then one
 *    decoded token) are bit for bit those of the session that never saved,
 *    for f32, f16, q8_0 and q4_0 caches, a page-aligned length, an empty
 *    session, a session with a pending token, a larger context, and a
 *    window that has dropped pages (which stay absent from the file);
 *  - refused, with the message naming the file and the field, and the
 *    session left empty: files of other models (another fingerprint, another
 *    shape), another key or value type, rotation, window or sink count, a
 *    context too small, every truncation of a small file, every single byte
 *    flipped, bytes after the end, and files whose CRCs are right but whose
 *    content is not (RoPE base, token id, page index, order, missing page,
 *    compressed length, lengths that do not decompress to a page, trailer);
 *  - saving: a symbolic link or a directory at the path is refused and left
 *    as it was (the link's target untouched), nothing is left behind on
 *    error, an existing file is replaced, the mode is 0644 less the umask;
 *    loading through a symbolic link or from a directory is refused.
 * Prints the size of a saved 2048-token q8_0 cache against its rows.
 */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "kvfile.h"
#include "plumb.h"
#include "sha256.h"
#include "testlib.h"

#define N_TOK 2400
static int32_t toks[N_TOK];
static int32_t n_vocab;
static char dir[4096];

/* dir/name, in one of eight rotating buffers. */
static const char *tpath(const char *name)
{
    static char buf[8][4200];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, name);
    return buf[k];
}

static int write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(data, 1, n, f) == n;
    if (f && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

/* ------------------------------------------------------------ SHA-256 */

static void hex(const unsigned char *d, char *out)
{
    for (int i = 0; i < PLUMB_SHA256_BYTES; i++)
        sprintf(out + 2 * i, "%02x", d[i]);
}

static void sha256_vectors(void)
{
    static const struct { const char *msg; const char *digest; } v[] = {
        { "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" },
        { "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
          "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1" },
    };
    unsigned char d[PLUMB_SHA256_BYTES];
    char h[2 * PLUMB_SHA256_BYTES + 1];
    char *million;
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        plumb_sha256(v[i].msg, strlen(v[i].msg), d);
        hex(d, h);
        CHECK(strcmp(h, v[i].digest) == 0, "sha256('%s') = %s", v[i].msg, h);
    }
    million = malloc(1000000);
    if (!million)
        return;
    memset(million, 'a', 1000000);
    /* in pieces of every size from 1 to 130 bytes, then in one */
    for (size_t step = 1; step <= 130; step += 43) {
        PlumbSha256 c;
        plumb_sha256_init(&c);
        for (size_t off = 0; off < 1000000; off += step)
            plumb_sha256_update(&c, million + off, off + step <= 1000000 ? step : 1000000 - off);
        plumb_sha256_final(&c, d);
        hex(d, h);
        CHECK(strcmp(h, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0,
              "sha256 of a million 'a' in pieces of %zu = %s", step, h);
    }
    free(million);
}

/* ------------------------------------------------------------ sessions */

typedef struct Cfg {
    PlumbKVType tk, tv;  /* cache types */
    PlumbKVRotate rot;   /* key rotation */
    int32_t window, keep;
    int32_t n_ctx;
} Cfg;

static PlumbSession *open_sess(PlumbModel *m, const Cfg *c)
{
    PlumbSession *s = NULL;
    PlumbError err = { 0 };
    PlumbSessionParams sp = { c->n_ctx, c->tk, c->tv, c->rot, c->window, c->keep };
    if (plumb_session_open(&s, m, &sp, &err) != PLUMB_OK)
        CHECK(0, "session %s/%s window %d: %s", plumb_kv_type_name(c->tk),
              plumb_kv_type_name(c->tv), (int)c->window, err.msg);
    return s;
}

static int eval(PlumbSession *s, const int32_t *ids, size_t n, unsigned flags)
{
    PlumbError err = { 0 };
    if (plumb_session_eval(s, ids, n, flags, &err) != PLUMB_OK) {
        CHECK(0, "eval of %zu tokens: %s", n, err.msg);
        return -1;
    }
    return 0;
}

/* A session holding toks[0, n), evaluated in calls of `chunk` tokens (0:
 * one call), saved to path; returns it (caller closes). */
static PlumbSession *make_saved_in(PlumbModel *m, const Cfg *c, size_t n, size_t chunk,
                                   const char *path)
{
    PlumbError err = { 0 };
    PlumbSession *s = open_sess(m, c);
    if (!s)
        return NULL;
    for (size_t i = 0; i < n; i += chunk ? chunk : n)
        if (eval(s, toks + i, chunk && n - i > chunk ? chunk : n - i, 0) < 0) {
            plumb_session_close(s);
            return NULL;
        }
    if (plumb_session_save(s, path, &err) != PLUMB_OK) {
        CHECK(0, "save %s: %s", path, err.msg);
        plumb_session_close(s);
        return NULL;
    }
    return s;
}

static PlumbSession *make_saved(PlumbModel *m, const Cfg *c, size_t n, const char *path)
{
    return make_saved_in(m, c, n, 0, path);
}

static int is_empty(const PlumbSession *s)
{
    size_t n;
    plumb_session_tokens(s, &n);
    return plumb_session_n_past(s) == 0 && n == 0 && plumb_session_kv_bytes(s) == 0;
}

/* Save toks[0, n) with cfg a, load into a session with cfg b (other n_ctx
 * perhaps), then evaluate m more tokens as a batch and one decoded token in
 * both: every logit must have the same bits. */
static void roundtrip(PlumbModel *model, const char *label, const Cfg *a, int32_t ctx_b, size_t n,
                      size_t chunk, size_t m)
{
    const char *path = tpath("rt.kv");
    PlumbError err = { 0 };
    PlumbSession *A = make_saved_in(model, a, n, chunk, path), *B;
    struct stat st;
    Cfg cb = *a;
    const int32_t *ta, *tb;
    size_t na, nb;
    const size_t V = (size_t)n_vocab;
    if (!A)
        return;
    cb.n_ctx = ctx_b;
    B = open_sess(model, &cb);
    if (!B) {
        plumb_session_close(A);
        return;
    }
    eval(B, toks + 1000, 7, 0); /* something the load replaces */
    if (plumb_session_load(B, path, &err) != PLUMB_OK) {
        CHECK(0, "%s: load: %s", label, err.msg);
        goto done;
    }
    ta = plumb_session_tokens(A, &na);
    tb = plumb_session_tokens(B, &nb);
    CHECK(plumb_session_n_past(B) == n && nb == n && memcmp(ta, tb, n * sizeof *ta) == 0,
          "%s: the loaded session holds %zu positions, %zu tokens, want %zu", label,
          plumb_session_n_past(B), nb, n);
    (void)na;
    CHECK(plumb_session_kv_bytes(A) == plumb_session_kv_bytes(B),
          "%s: %llu bytes of cache after load, %llu saved", label,
          (unsigned long long)plumb_session_kv_bytes(B),
          (unsigned long long)plumb_session_kv_bytes(A));
    CHECK(plumb_session_logits(B, 0) == NULL, "%s: logits right after a load", label);
    if (a->tk == PLUMB_KV_Q8_0 && a->tv == 0 && n == 2048 && stat(path, &st) == 0) {
        const uint64_t raw = plumb_session_kv_bytes(A);
        CHECK(raw == 2048ull * 2 * 2 * 2 * 68, "2048 q8_0 positions hold %llu bytes",
              (unsigned long long)raw);
        fprintf(stderr,
                "test_kvfile: q8_0 cache of 2048 tokens: %llu bytes of rows, file %llu bytes "
                "(%.3f of the rows)\n",
                (unsigned long long)raw, (unsigned long long)st.st_size,
                (double)st.st_size / (double)raw);
    }
    if (eval(A, toks + n, m, PLUMB_EVAL_ALL_LOGITS) < 0 || eval(B, toks + n, m, PLUMB_EVAL_ALL_LOGITS) < 0)
        goto done;
    for (size_t i = 0; i < m; i++) {
        const float *la = plumb_session_logits(A, i), *lb = plumb_session_logits(B, i);
        if (!la || !lb || memcmp(la, lb, V * sizeof *la) != 0) {
            CHECK(0, "%s: logits of position %zu differ after save and load", label, n + i);
            goto done;
        }
    }
    if (eval(A, toks + n + m, 1, 0) == 0 && eval(B, toks + n + m, 1, 0) == 0)
        CHECK(memcmp(plumb_session_logits(A, 0), plumb_session_logits(B, 0), V * sizeof(float)) == 0,
              "%s: logits of the decoded token differ", label);
done:
    plumb_session_close(A);
    plumb_session_close(B);
}

static void roundtrips(PlumbModel *m)
{
    static const PlumbKVType types[] = { PLUMB_KV_F32, PLUMB_KV_F16, PLUMB_KV_Q4_0 };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        Cfg c = { types[i], 0, 0, 0, 0, 1024 };
        char label[64];
        snprintf(label, sizeof label, "%s, 300 tokens", plumb_kv_type_name(types[i]));
        roundtrip(m, label, &c, 1024, 300, 0, 16);
    }
    {
        /* q8_0: 2048 tokens, whose file size is reported */
        Cfg c = { PLUMB_KV_Q8_0, 0, 0, 0, 0, 2100 };
        roundtrip(m, "q8_0, 2048 tokens", &c, 2100, 2048, 0, 16);
    }
    {
        Cfg c = { PLUMB_KV_Q8_0, PLUMB_KV_F16, 0, 0, 0, 1024 };
        roundtrip(m, "q8_0 keys, f16 values, 256 tokens (a whole page)", &c, 1024, 256, 0, 20);
        roundtrip(m, "q8_0/f16 into a context of 4096", &c, 4096, 100, 0, 20);
        roundtrip(m, "an empty session", &c, 1024, 0, 0, 20);
    }
    {
        Cfg c = { PLUMB_KV_F16, 0, PLUMB_KV_ROTATE_HADAMARD, 0, 0, 1024 };
        roundtrip(m, "f16 rotated keys", &c, 1024, 100, 0, 20);
    }
    {
        /* window 100, 4 sinks: 650 tokens, then 50 more drop page 1 (the
         * token at 650 no longer reaches it); the 150 after the load drop
         * page 2 too */
        Cfg c = { PLUMB_KV_Q8_0, 0, 0, 100, 4, 2048 };
        PlumbSession *s = open_sess(m, &c);
        const uint64_t page = 2 * 2 * 256 * (68 + 68); /* q8_0 rows of 64 */
        if (s && eval(s, toks, 650, 0) == 0 && eval(s, toks + 650, 50, 0) == 0)
            CHECK(plumb_session_kv_bytes(s) == 2 * page,
                  "window: %llu bytes held, want 2 pages of %llu (page 1 dropped)",
                  (unsigned long long)plumb_session_kv_bytes(s), (unsigned long long)page);
        plumb_session_close(s);
        roundtrip(m, "q8_0, window 100, 700 tokens", &c, 2048, 700, 650, 150);
        /* sinks reaching into the second page; page 2 dropped before the save */
        c.tk = PLUMB_KV_Q4_0;
        c.window = 128;
        c.keep = 260;
        roundtrip(m, "q4_0, window 128, 260 sinks, 1000 tokens", &c, 2048, 1000, 900, 100);
    }
}

/* A pending token (left by generate) is not saved; the load continues from
 * the positions evaluated. */
static void pending_token(PlumbModel *m)
{
    const char *path = tpath("pending.kv");
    Cfg c = { PLUMB_KV_Q8_0, 0, 0, 0, 0, 512 };
    PlumbSession *A = open_sess(m, &c), *B = open_sess(m, &c);
    PlumbGenParams gp = { 0 };
    PlumbGenResult res;
    PlumbSamplerParams sp;
    PlumbError err = { 0 };
    const int32_t *held;
    size_t n_held, n_b;
    if (!A || !B)
        goto done;
    plumb_sampler_params_default(&sp);
    sp.temperature = 0;
    gp.ids = toks;
    gp.n_ids = 50;
    gp.n_predict = 5;
    gp.ignore_eog = 1;
    gp.sampler = &sp;
    if (plumb_session_generate(A, &gp, NULL, NULL, &res, &err) != PLUMB_OK) {
        CHECK(0, "generate: %s", err.msg);
        goto done;
    }
    held = plumb_session_tokens(A, &n_held);
    CHECK(n_held == plumb_session_n_past(A) + 1, "a token is pending (%zu held, %zu evaluated)",
          n_held, plumb_session_n_past(A));
    if (plumb_session_save(A, path, &err) != PLUMB_OK || plumb_session_load(B, path, &err) != PLUMB_OK) {
        CHECK(0, "pending: %s", err.msg);
        goto done;
    }
    plumb_session_tokens(B, &n_b);
    CHECK(n_b == plumb_session_n_past(A), "loaded %zu tokens, want the %zu evaluated", n_b,
          plumb_session_n_past(A));
    /* A runs its pending token and one more; B, which holds only the
     * evaluated ones, runs the same two: the same batch, the same bits */
    {
        const int32_t two[2] = { held[n_held - 1], toks[60] };
        if (eval(A, two + 1, 1, 0) == 0 && eval(B, two, 2, 0) == 0)
            CHECK(memcmp(plumb_session_logits(A, 0), plumb_session_logits(B, 1),
                         (size_t)n_vocab * sizeof(float)) == 0,
                  "logits after loading a session that had a pending token");
    }
done:
    plumb_session_close(A);
    plumb_session_close(B);
}

/* ------------------------------------------------------------ refusals */

/* Load path into s (holding something first); must fail with a message
 * naming path and containing want, and leave s empty. */
static void refused(PlumbSession *s, const char *path, const char *want, const char *label)
{
    PlumbError err = { 0 };
    int rc;
    if (plumb_session_n_past(s) == 0)
        plumb_session_fill(s, 3, 1, &err);
    rc = plumb_session_load(s, path, &err);
    CHECK(rc < 0, "%s: loaded", label);
    CHECK(rc >= 0 || strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", label,
          err.msg);
    CHECK(rc >= 0 || !want || strstr(err.msg, want) != NULL, "%s: message lacks '%s': %s", label,
          want, err.msg);
    CHECK(is_empty(s), "%s: the session is not empty after a refused load", label);
}

static void other_models(PlumbModel *small, PlumbModel *q8, PlumbModel *dense, PlumbModel *mini,
                         PlumbModel *qwen2)
{
    const char *path = tpath("model.kv");
    Cfg c = { PLUMB_KV_F16, 0, 0, 0, 0, 512 };
    PlumbSession *A = make_saved(small, &c, 100, path), *s;
    PlumbModel *ms[4];
    static const char *const want[] = {
        "made with another model (fingerprint differs", "made with another model (fingerprint differs",
        "made with another model: head size 64, this session's is 16",
        "RoPE original context 40960, this session's is 32768",
    };
    if (!A)
        return;
    plumb_session_close(A);
    ms[0] = q8, ms[1] = dense, ms[2] = mini, ms[3] = qwen2;
    for (size_t i = 0; i < sizeof ms / sizeof ms[0]; i++) {
        if (!ms[i])
            continue;
        if ((s = open_sess(ms[i], &c))) {
            refused(s, path, want[i], want[i]);
            plumb_session_close(s);
        }
    }
}

static void other_options(PlumbModel *m)
{
    const char *path = tpath("opts.kv");
    const Cfg base = { PLUMB_KV_Q8_0, 0, 0, 0, 0, 1024 };
    const Cfg win = { PLUMB_KV_Q8_0, 0, 0, 256, 4, 1024 };
    static const struct { Cfg c; const char *want; } cases[] = {
        { { PLUMB_KV_Q4_0, 0, 0, 0, 0, 1024 }, "key type q8_0, this session uses q4_0" },
        { { PLUMB_KV_F16, 0, 0, 0, 0, 1024 }, "key type q8_0, this session uses f16" },
        { { PLUMB_KV_Q8_0, PLUMB_KV_F32, 0, 0, 0, 1024 }, "value type q8_0, this session uses f32" },
        { { PLUMB_KV_Q8_0, 0, PLUMB_KV_ROTATE_NONE, 0, 0, 1024 },
          "key rotation hadamard, this session uses none" },
        { { PLUMB_KV_Q8_0, 0, 0, 256, 4, 1024 }, "window 0, this session's is 256" },
        { { PLUMB_KV_Q8_0, 0, 0, 0, 0, 512 }, "holds 600 positions, more than this session's context of 512" },
    };
    PlumbSession *A = make_saved(m, &base, 600, path), *s;
    if (!A)
        return;
    plumb_session_close(A);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if ((s = open_sess(m, &cases[i].c))) {
            refused(s, path, cases[i].want, cases[i].want);
            plumb_session_close(s);
        }
    if (!(A = make_saved(m, &win, 600, path)))
        return;
    plumb_session_close(A);
    {
        Cfg w2 = win, k2 = win;
        w2.window = 512;
        k2.keep = 8;
        if ((s = open_sess(m, &w2))) {
            refused(s, path, "window 256, this session's is 512", "another window");
            plumb_session_close(s);
        }
        if ((s = open_sess(m, &k2))) {
            refused(s, path, "sinks (keep) 4, this session's is 8", "another sink count");
            plumb_session_close(s);
        }
        if ((s = open_sess(m, &base))) {
            refused(s, path, "window 256, this session's is 0", "a window into a dense cache");
            plumb_session_close(s);
        }
    }
}

/* The small file the damage tests use: q4_0, 5 tokens. */
static const Cfg small_cfg = { PLUMB_KV_Q4_0, 0, 0, 0, 0, 64 };

static void truncations_and_flips(PlumbModel *m)
{
    const char *good = tpath("small.kv"), *bad = tpath("bad.kv");
    PlumbSession *A = make_saved(m, &small_cfg, 5, good), *s = open_sess(m, &small_cfg);
    PlumbError err = { 0 };
    unsigned char *buf = NULL, *copy = NULL;
    size_t len = 0, n_trunc_bad = 0, n_flip_bad = 0, n_empty_bad = 0;
    const int saved = A != NULL;
    plumb_session_close(A);
    if (!saved || !s || !(buf = (unsigned char *)test_read_file(good, &len)) || !(copy = malloc(len + 16)))
        goto done;
    fprintf(stderr, "test_kvfile: the damaged file: %zu bytes, every truncation and byte flipped\n",
            len);
    CHECK(plumb_session_load(s, good, &err) == PLUMB_OK, "the small file loads: %s", err.msg);
    for (size_t n = 0; n < len; n++) {
        int rc;
        if (write_file(bad, buf, n) < 0)
            break;
        if (plumb_session_n_past(s) == 0)
            plumb_session_fill(s, 1, 1, &err);
        rc = plumb_session_load(s, bad, &err);
        if (rc >= 0 || !strstr(err.msg, bad) || !strstr(err.msg, "truncated")) {
            if (n_trunc_bad++ < 5)
                CHECK(0, "truncated to %zu bytes: rc %d: %s", n, rc, err.msg);
        }
        if (!is_empty(s) && n_empty_bad++ < 5)
            CHECK(0, "truncated to %zu bytes: the session is not empty", n);
    }
    for (size_t i = 0; i < len; i++) {
        int rc;
        memcpy(copy, buf, len);
        copy[i] ^= (unsigned char)(1u << (i % 8));
        if (write_file(bad, copy, len) < 0)
            break;
        if (plumb_session_n_past(s) == 0)
            plumb_session_fill(s, 1, 1, &err);
        rc = plumb_session_load(s, bad, &err);
        if ((rc >= 0 || !strstr(err.msg, bad)) && n_flip_bad++ < 5)
            CHECK(0, "byte %zu flipped: rc %d: %s", i, rc, err.msg);
        if (!is_empty(s) && n_empty_bad++ < 5)
            CHECK(0, "byte %zu flipped: the session is not empty", i);
    }
    CHECK(n_trunc_bad == 0, "%zu truncations not refused as such", n_trunc_bad);
    CHECK(n_flip_bad == 0, "%zu flipped bytes not refused", n_flip_bad);
    /* bytes appended */
    memcpy(copy, buf, len);
    memcpy(copy + len, "extra", 5);
    if (write_file(bad, copy, len + 5) == 0)
        refused(s, bad, "data after the end", "bytes after the trailer");
done:
    free(buf);
    free(copy);
    plumb_session_close(s);
}

/* ------------------------------------------------------------ crafted files */

/* A file taken apart: header (fixed part and tokens, without its CRC), pages. */
typedef struct Page {
    uint32_t idx;        /* page index */
    unsigned char *data; /* compressed rows (owned) */
    uint64_t clen;       /* bytes of data */
    uint32_t crc;        /* CRC-32 of the rows, as the file says */
} Page;

typedef struct Parsed {
    unsigned char *hdr; /* owned */
    size_t hdr_len;     /* PLUMB_KVFILE_FIXED + 4 * tokens */
    Page pg[16];        /* pages in file order */
    int n;              /* pages */
    int32_t count_adj;  /* added to the trailer's page count */
} Parsed;

static uint32_t g32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void p32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static int parse(const unsigned char *b, size_t len, Parsed *P)
{
    size_t off;
    memset(P, 0, sizeof *P);
    if (len < PLUMB_KVFILE_FIXED)
        return -1;
    P->hdr_len = PLUMB_KVFILE_FIXED + 4 * (size_t)g32(b + 112);
    if (!(P->hdr = malloc(P->hdr_len)))
        return -1;
    memcpy(P->hdr, b, P->hdr_len);
    off = P->hdr_len + 4;
    while (off + 4 <= len && g32(b + off) != PLUMB_KVFILE_END && P->n < 16) {
        Page *p = &P->pg[P->n++];
        p->idx = g32(b + off);
        p->clen = (uint64_t)g32(b + off + 4) | (uint64_t)g32(b + off + 8) << 32;
        p->data = malloc(p->clen);
        memcpy(p->data, b + off + 12, p->clen);
        p->crc = g32(b + off + 12 + p->clen);
        off += 16 + p->clen;
    }
    return 0;
}

static void parsed_free(Parsed *P)
{
    free(P->hdr);
    for (int i = 0; i < P->n; i++)
        free(P->pg[i].data);
    memset(P, 0, sizeof *P);
}

/* Write P to path with every CRC but the pages' recomputed. */
static int build(const Parsed *P, const char *path)
{
    size_t cap = P->hdr_len + 16, n = 0;
    unsigned char *b;
    uLong crc;
    int rc;
    for (int i = 0; i < P->n; i++)
        cap += 16 + (P->pg[i].clen < (1u << 30) ? P->pg[i].clen : 0);
    if (!(b = malloc(cap)))
        return -1;
    memcpy(b, P->hdr, P->hdr_len);
    n = P->hdr_len;
    p32(b + n, (uint32_t)crc32(0, b, (uInt)n));
    n += 4;
    for (int i = 0; i < P->n; i++) {
        p32(b + n, P->pg[i].idx);
        p32(b + n + 4, (uint32_t)P->pg[i].clen);
        p32(b + n + 8, (uint32_t)(P->pg[i].clen >> 32));
        if (P->pg[i].clen < (1u << 30)) {
            memcpy(b + n + 12, P->pg[i].data, P->pg[i].clen);
            n += 12 + P->pg[i].clen;
        } else {
            n += 12; /* a length no buffer holds: the file ends here */
            rc = write_file(path, b, n);
            free(b);
            return rc;
        }
        p32(b + n, P->pg[i].crc);
        n += 4;
    }
    p32(b + n, PLUMB_KVFILE_END);
    p32(b + n + 4, (uint32_t)(P->n + P->count_adj));
    n += 8;
    crc = crc32(0, b, (uInt)n);
    p32(b + n, (uint32_t)crc);
    n += 4;
    rc = write_file(path, b, n);
    free(b);
    return rc;
}

/* Replace page i's data by a zlib stream of n bytes of rows (the first
 * bytes of the page, zeros past it) and its CRC by theirs. */
static void recompress(Page *p, size_t n, size_t garbage)
{
    unsigned char *rows = calloc(n ? n : 1, 1), *out;
    uLongf clen = compressBound((uLong)n);
    uLong dlen = (uLong)n;
    /* the page's own rows first: decompress what is there */
    uncompress(rows, &dlen, p->data, (uLong)p->clen);
    out = malloc(clen + garbage);
    compress2(out, &clen, rows, (uLong)n, 1);
    memset(out + clen, 0x5a, garbage);
    free(p->data);
    p->data = out;
    p->clen = clen + garbage;
    p->crc = (uint32_t)crc32(0, rows, (uInt)n);
    free(rows);
}

static void crafted(PlumbModel *m)
{
    const char *good = tpath("craft.kv"), *bad = tpath("crafted.kv");
    const Cfg dense = { PLUMB_KV_Q4_0, 0, 0, 0, 0, 1024 };
    PlumbSession *A = make_saved(m, &dense, 600, good), *s = open_sess(m, &dense);
    unsigned char *buf = NULL;
    size_t len = 0, page_bytes;
    Parsed P;
    const int saved = A != NULL;
    plumb_session_close(A);
    memset(&P, 0, sizeof P);
    if (!saved || !s || !(buf = (unsigned char *)test_read_file(good, &len)) || parse(buf, len, &P) < 0)
        goto done;
    CHECK(P.n == 3, "600 tokens: %d pages in the file", P.n);
    if (P.n != 3)
        goto done;
    page_bytes = 2 * 2 * 256 * (36 + 36); /* 2 layers, 2 heads, q4_0 rows of 64 */

    /* rebuilding as is loads (the test's reading of the format is right) */
    if (build(&P, bad) == 0) {
        PlumbError err = { 0 };
        CHECK(plumb_session_load(s, bad, &err) == PLUMB_OK, "rebuilt file: %s", err.msg);
    }
#define CASE(change, undo, want)                                                          \
    do {                                                                                  \
        change;                                                                           \
        if (build(&P, bad) == 0)                                                          \
            refused(s, bad, want, want);                                                  \
        undo;                                                                             \
    } while (0)
    {
        uint32_t v = g32(P.hdr + 84);
        float base = 10000.0f;
        uint32_t bits;
        memcpy(&bits, &base, 4);
        CASE(p32(P.hdr + 84, bits), p32(P.hdr + 84, v),
             "RoPE frequency base 10000 differs from this session's 1000000");
        CASE(p32(P.hdr + 60, 57), p32(P.hdr + 60, 2), "key type 57 is not a cache type");
        CASE(p32(P.hdr + 8, 2), p32(P.hdr + 8, 1), "format version 2, this build reads version 1");
        CASE(p32(P.hdr + 12, 128), p32(P.hdr + 12, 256), "pages of 128 positions");
        CASE(p32(P.hdr + 68, 7), p32(P.hdr + 68, 1), "key rotation unknown");
        v = g32(P.hdr + 116 + 4 * 3);
        CASE(p32(P.hdr + 116 + 4 * 3, (uint32_t)n_vocab), p32(P.hdr + 116 + 4 * 3, v),
             "token id 2048 at position 3 is out of range");
        CASE(p32(P.hdr + 116, 0xFFFFFFFFu), p32(P.hdr + 116, (uint32_t)toks[0]),
             "token id -1 at position 0 is out of range");
    }
    CASE(P.pg[2].idx = 3, P.pg[2].idx = 2, "page index 3, but 600 positions fill only 3 pages");
    CASE(P.pg[2].idx = 1, P.pg[2].idx = 2, "page 1 after page 1: out of order");
    CASE(P.pg[1].idx = 0, P.pg[1].idx = 1, "page 0 after page 0: out of order");
    {
        Page keep = P.pg[1];
        CASE((P.pg[1] = P.pg[2], P.n = 2), (P.pg[2] = P.pg[1], P.pg[1] = keep, P.n = 3),
             "page 1 (positions 256 to 511) is missing");
    }
    CASE(P.count_adj = 1, P.count_adj = 0, "the trailer counts 4 pages, the file holds 3");
    {
        uint64_t c = P.pg[0].clen;
        CASE(P.pg[0].clen = (uint64_t)1 << 40, P.pg[0].clen = c, "compressed length 1099511627776 is not in");
        CASE(P.pg[0].clen = 0, P.pg[0].clen = c, "compressed length 0 is not in");
    }
    {
        Page keep = P.pg[1];
        unsigned char *copy = malloc(keep.clen);
        memcpy(copy, keep.data, keep.clen);
        P.pg[1].data = copy;
        recompress(&P.pg[1], page_bytes / 2, 0);
        if (build(&P, bad) == 0)
            refused(s, bad, "data decompresses to 36864 bytes, a page holds 73728", "short page");
        recompress(&P.pg[1], page_bytes + 100, 0);
        if (build(&P, bad) == 0)
            refused(s, bad, "data decompresses to more than a page's 73728 bytes", "long page");
        recompress(&P.pg[1], page_bytes, 9);
        if (build(&P, bad) == 0)
            refused(s, bad, "9 bytes after the end of its zlib stream", "garbage after a stream");
        /* a wrong row CRC with everything else right */
        recompress(&P.pg[1], page_bytes, 0);
        P.pg[1].crc ^= 1;
        if (build(&P, bad) == 0)
            refused(s, bad, "bad CRC-32", "a page's CRC");
        free(P.pg[1].data);
        P.pg[1] = keep;
    }
    {
        /* one bit of the compressed rows, the page's CRC, the header's, the file's */
        static const struct { const char *what; const char *want; } w[] = {
            { "page data", "page 1: " }, { "page CRC", "page 1: bad CRC-32" },
            { "header byte (the value type)", "bad CRC-32" }, { "file CRC", "bad CRC-32" },
        };
        size_t off[4];
        off[0] = P.hdr_len + 4 + (16 + P.pg[0].clen) + 12 + P.pg[1].clen / 2;
        off[1] = P.hdr_len + 4 + (16 + P.pg[0].clen) + 12 + P.pg[1].clen;
        off[2] = 64;
        off[3] = len - 2;
        for (int i = 0; i < 4; i++) {
            unsigned char *copy = malloc(len);
            memcpy(copy, buf, len);
            copy[off[i]] ^= 0x10;
            if (write_file(bad, copy, len) == 0)
                refused(s, bad, w[i].want, w[i].what);
            free(copy);
        }
    }
#undef CASE
done:
    parsed_free(&P);
    free(buf);
    plumb_session_close(s);
}

/* ------------------------------------------------------------ files */

static int temps_left(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".tmp-") != NULL;
    closedir(d);
    return n;
}

static void file_rules(PlumbModel *m)
{
    const char *target = tpath("target.txt"), *link = tpath("link.kv"), *adir = tpath("adir");
    const char *path = tpath("files.kv"), *nodir = tpath("nodir/x.kv");
    Cfg c = { PLUMB_KV_Q8_0, 0, 0, 0, 0, 512 };
    PlumbSession *A = open_sess(m, &c), *B = open_sess(m, &c);
    PlumbError err = { 0 };
    struct stat st, st2;
    char *txt;
    mode_t old;
    if (!A || !B || eval(A, toks, 100, 0) < 0)
        goto done;
    write_file(target, "keep me\n", 8);
    if (symlink("target.txt", link) != 0 || mkdir(adir, 0755) != 0) {
        CHECK(0, "symlink or mkdir: %s", strerror(errno));
        goto done;
    }
    CHECK(plumb_session_save(A, link, &err) < 0 && strstr(err.msg, link) &&
              strstr(err.msg, "symbolic link"),
          "save through a symbolic link: %s", err.msg);
    txt = test_read_file(target, NULL);
    CHECK(txt && strcmp(txt, "keep me\n") == 0, "the link's target was changed");
    free(txt);
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode), "the link is gone");
    CHECK(plumb_session_save(A, adir, &err) < 0 && strstr(err.msg, adir) &&
              strstr(err.msg, "directory"),
          "save over a directory: %s", err.msg);
    CHECK(stat(adir, &st) == 0 && S_ISDIR(st.st_mode), "the directory is gone");
    CHECK(plumb_session_save(A, nodir, &err) < 0 && strstr(err.msg, nodir),
          "save into a missing directory: %s", err.msg);
    CHECK(temps_left() == 0, "temporary files left behind");

    /* modes, and replacing */
    old = umask(022);
    CHECK(plumb_session_save(A, path, &err) == PLUMB_OK, "save: %s", err.msg);
    CHECK(stat(path, &st) == 0 && (st.st_mode & 07777) == 0644, "mode %o under umask 022",
          (unsigned)(st.st_mode & 07777));
    umask(077);
    CHECK(plumb_session_save(A, path, &err) == PLUMB_OK, "save again: %s", err.msg);
    CHECK(stat(path, &st2) == 0 && (st2.st_mode & 07777) == 0600, "mode %o under umask 077",
          (unsigned)(st2.st_mode & 07777));
    CHECK(st.st_ino != st2.st_ino, "the file was written in place, not replaced");
    umask(old);
    CHECK(plumb_session_load(B, path, &err) == PLUMB_OK && plumb_session_n_past(B) == 100,
          "load: %s", err.msg);

    /* loading through a link, from a directory, a missing file, a model */
    unlink(link);
    if (symlink("files.kv", link) == 0)
        refused(B, link, "symbolic link", "load through a symbolic link");
    refused(B, adir, "is a directory", "load a directory");
    refused(B, tpath("missing.kv"), "No such file", "load a missing file");
    {
        const char *model = test_data("models/mini-f32.gguf");
        char mp[4096];
        snprintf(mp, sizeof mp, "%s", model);
        refused(B, mp, "not a key/value cache file", "load a model file");
    }
    {
        size_t n = 0;
        CHECK(plumb_kvfile_peek(path, &n, &err) == PLUMB_OK && n == 100, "peek: %zu: %s", n,
              err.msg);
    }
    CHECK(temps_left() == 0, "temporary files left behind");
done:
    plumb_session_close(A);
    plumb_session_close(B);
}

static void rm_tree(const char *d)
{
    DIR *dd = opendir(d);
    struct dirent *e;
    char p[8400];
    if (!dd)
        return;
    while ((e = readdir(dd))) {
        struct stat st;
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(p, sizeof p, "%s/%s", d, e->d_name);
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            rm_tree(p);
        else
            unlink(p);
    }
    closedir(dd);
    rmdir(d);
}

static PlumbModel *open_model(const char *file)
{
    PlumbModel *m = NULL;
    PlumbError err = { 0 };
    PlumbModelParams mp = { getenv("PLUMB_CPU"), 2, 0 };
    if (plumb_model_open(&m, test_data(file), &mp, &err) != PLUMB_OK)
        CHECK(0, "open %s: %s", file, err.msg);
    return m;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    PlumbModel *small, *q8, *dense, *mini, *qwen2;
    uint64_t x = 20260601;
    sha256_vectors();
    snprintf(dir, sizeof dir, "%s/test_kvfile.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp %s: %s", dir, strerror(errno));
        return test_done("test_kvfile");
    }
    small = open_model("models/small-f16.gguf");
    q8 = open_model("models/small-Q8_0.gguf");
    dense = open_model("models/dense-f16.gguf");
    mini = open_model("models/mini-f32.gguf");
    qwen2 = open_model("models/qwen2-f16.gguf");
    if (small) {
        n_vocab = plumb_model_info(small)->n_vocab;
        for (size_t i = 0; i < N_TOK; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            toks[i] = (int32_t)((x >> 33) % (uint64_t)n_vocab);
        }
        roundtrips(small);
        pending_token(small);
        other_models(small, q8, dense, mini, qwen2);
        other_options(small);
        truncations_and_flips(small);
        crafted(small);
        file_rules(small);
    }
    plumb_model_close(small);
    plumb_model_close(q8);
    plumb_model_close(dense);
    plumb_model_close(mini);
    plumb_model_close(qwen2);
    rm_tree(dir);
    return test_done("test_kvfile");
}
