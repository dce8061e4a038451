/*
 * test_kvcache.c — sessions over the paged key/value cache, through the
 * public API, on the small two-layer MoE fixture:
 *  - every cache type gives the same logits bits with 1, 2, 3 and 7 threads,
 *    prefill and decode;
 *  - a fork continues exactly as the original would, and a fork that goes
 *    its own way leaves the original's pages untouched (copy on write);
 *  - a window at least as long as the sequence gives the dense cache's
 *    bits; a shorter one forgets: a token beyond the reach of the window
 *    through every layer changes nothing in the last logits, a sink changes
 *    them; memory stays bounded; going back past dropped positions is
 *    refused and prefix reuse falls back to evaluating again;
 *  - bad parameters are refused with a message.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plumb.h"
#include "testlib.h"

#define N_TOK 600
#define N_W 1100 /* the forgetting window test: pages are dropped */

static int32_t toks[N_W + 64];
static int32_t n_vocab;

static PlumbModel *open_model(int threads)
{
    PlumbModel *m = NULL;
    PlumbError err = { 0 };
    PlumbModelParams mp = { getenv("PLUMB_CPU"), threads, 0 };
    if (plumb_model_open(&m, test_data("models/small-f16.gguf"), &mp, &err) != PLUMB_OK) {
        CHECK(0, "open small-f16 with %d threads: %s", threads, err.msg);
        return NULL;
    }
    return m;
}

static PlumbSession *open_session(PlumbModel *m, PlumbKVType t, int32_t window, int32_t keep)
{
    PlumbSession *s = NULL;
    PlumbError err = { 0 };
    PlumbSessionParams sp = { N_W + 64, t, 0, 0, window, keep };
    if (plumb_session_open(&s, m, &sp, &err) != PLUMB_OK)
        CHECK(0, "session %s window %d: %s", plumb_kv_type_name(t), (int)window, err.msg);
    return s;
}

/* Evaluate ids (n of them, in one batch or one at a time) and copy the last
 * position's logits to out. */
static int eval(PlumbSession *s, const int32_t *ids, size_t n, int one_by_one, float *out)
{
    PlumbError err = { 0 };
    for (size_t i = 0; i < n;) {
        const size_t k = one_by_one ? 1 : n - i;
        if (plumb_session_eval(s, ids + i, k, 0, &err) != PLUMB_OK) {
            CHECK(0, "eval: %s", err.msg);
            return -1;
        }
        i += k;
    }
    memcpy(out, plumb_session_logits(s, one_by_one ? 0 : n - 1), (size_t)n_vocab * sizeof *out);
    return 0;
}

static void threads_same_bits(void)
{
    /* more threads than cores is the hard case natively, and hopeless under
     * an emulator (each spinning thread is emulated): the short run (as
     * under qemu) stops at 3 */
    static const int threads[] = { 1, 2, 3, 7 };
    static const PlumbKVType types[] = { PLUMB_KV_F32, PLUMB_KV_F16, PLUMB_KV_Q8_0, PLUMB_KV_Q4_0 };
    const char *quick = getenv("PLUMB_GOLDEN_QUICK");
    const size_t n_threads = quick && *quick && *quick != '0' ? 3 : 4;
    float *ref = malloc((size_t)n_vocab * 6 * sizeof *ref), *got = malloc((size_t)n_vocab * 6 * sizeof *got);
    for (size_t ti = 0; ti < sizeof types / sizeof types[0]; ti++)
        for (size_t i = 0; i < n_threads; i++) {
            PlumbModel *m = open_model(threads[i]);
            PlumbSession *s = m ? open_session(m, types[ti], 0, 0) : NULL;
            float *dst = i ? got : ref;
            if (s && eval(s, toks, 400, 0, dst) == 0)
                for (int k = 0; k < 5; k++) /* decode */
                    eval(s, toks + 400 + k, 1, 1, dst + (size_t)(k + 1) * (size_t)n_vocab);
            if (i && s)
                CHECK(memcmp(ref, got, (size_t)n_vocab * 6 * sizeof *ref) == 0,
                      "%s cache: %d threads give other logits than 1", plumb_kv_type_name(types[ti]),
                      threads[i]);
            plumb_session_close(s);
            plumb_model_close(m);
        }
    free(ref);
    free(got);
}

static void fork_cow(PlumbModel *m, int32_t window)
{
    PlumbSession *a = open_session(m, PLUMB_KV_Q8_0, window, 8), *b = NULL, *c = open_session(m, PLUMB_KV_Q8_0, window, 8);
    PlumbError err = { 0 };
    float *la = malloc((size_t)n_vocab * sizeof *la), *lb = malloc((size_t)n_vocab * sizeof *lb),
          *lc = malloc((size_t)n_vocab * sizeof *lc);
    int32_t other[40];
    if (!a || !c)
        goto done;
    /* 300 tokens (a page and a part), fork, then the same 40 more */
    eval(a, toks, 300, 0, la);
    eval(c, toks, 300, 0, lc);
    CHECK(plumb_session_fork(a, &b, &err) == PLUMB_OK, "fork: %s", err.msg);
    if (!b)
        goto done;
    CHECK(plumb_session_n_past(b) == 300 && plumb_session_logits(b, 299) &&
              memcmp(plumb_session_logits(b, 299), la, (size_t)n_vocab * sizeof *la) == 0,
          "the fork holds 300 positions and the same logits");
    eval(b, toks + 300, 40, 0, lb);
    eval(c, toks + 300, 40, 0, lc);
    CHECK(memcmp(lb, lc, (size_t)n_vocab * sizeof *lb) == 0, "window %d: the fork continues as a fresh session",
          (int)window);
    /* the fork goes elsewhere; the original then takes the same 40 */
    for (int i = 0; i < 40; i++)
        other[i] = (toks[300 + i] * 7 + 11) % n_vocab;
    eval(b, other, 40, 0, lb);
    eval(a, toks + 300, 40, 0, la);
    CHECK(memcmp(la, lc, (size_t)n_vocab * sizeof *la) == 0,
          "window %d: writes of the fork do not reach the original", (int)window);
    CHECK(memcmp(lb, lc, (size_t)n_vocab * sizeof *lb) != 0, "window %d: the fork's own tokens count",
          (int)window);
done:
    plumb_session_close(a);
    plumb_session_close(b);
    plumb_session_close(c);
    free(la);
    free(lb);
    free(lc);
}

static void window_rules(PlumbModel *m)
{
    const size_t V = (size_t)n_vocab;
    float *dense = malloc(V * N_TOK * sizeof *dense), *wide = malloc(V * N_TOK * sizeof *wide);
    float *base = malloc(V * sizeof *base), *got = malloc(V * sizeof *got);
    PlumbSession *s;
    PlumbError err = { 0 };
    int32_t alt[N_W];

    /* W >= length: the dense cache's bits at every position */
    s = open_session(m, PLUMB_KV_Q8_0, 0, 0);
    if (s && plumb_session_eval(s, toks, N_TOK, PLUMB_EVAL_ALL_LOGITS, &err) == PLUMB_OK)
        for (size_t i = 0; i < N_TOK; i++)
            memcpy(dense + i * V, plumb_session_logits(s, i), V * sizeof *dense);
    plumb_session_close(s);
    s = open_session(m, PLUMB_KV_Q8_0, N_TOK, 4);
    if (s && plumb_session_eval(s, toks, N_TOK, PLUMB_EVAL_ALL_LOGITS, &err) == PLUMB_OK)
        for (size_t i = 0; i < N_TOK; i++)
            memcpy(wide + i * V, plumb_session_logits(s, i), V * sizeof *wide);
    plumb_session_close(s);
    CHECK(memcmp(dense, wide, V * N_TOK * sizeof *dense) == 0, "a window of the whole sequence is the dense cache");

    /* W = 64, 4 sinks, two layers, N_W tokens in steps of 128 (the cache
     * drops pages as it makes room): position 100 reaches at most 100 + 2 * 63
     * by the last layer; the last token must not see it */
    s = open_session(m, PLUMB_KV_Q8_0, 64, 4);
    if (s) {
        for (size_t i = 0; i < N_W; i += 128)
            eval(s, toks + i, N_W - i < 128 ? N_W - i : 128, 0, base);
        CHECK(plumb_session_kv_bytes(s) <= 6 * 256 * 2 * 2 * 64 / 32 * 34 * 2,
              "window 64: %llu bytes held", (unsigned long long)plumb_session_kv_bytes(s));
        /* going back to 600: the window dropped what it would attend to */
        CHECK(plumb_session_truncate(s, 600, &err) == PLUMB_ERANGE && strstr(err.msg, "window"),
              "truncate past dropped positions: '%s'", err.msg);
        /* prefix reuse over a changed early token falls back to a full evaluation */
        memcpy(alt, toks, sizeof alt);
        alt[100] = (alt[100] + 1) % n_vocab;
        {
            size_t reused = 99;
            CHECK(plumb_session_set_tokens(s, alt, N_W, &reused, &err) == PLUMB_OK && reused == 0,
                  "set_tokens after the window dropped the prefix: %zu reused, '%s'", reused, err.msg);
            memcpy(got, plumb_session_logits(s, N_W - 1), V * sizeof *got);
        }
        CHECK(memcmp(base, got, V * sizeof *got) == 0, "a token out of the window's reach changes nothing");
        /* generate's prefix reuse likewise falls back */
        {
            PlumbGenParams gp = { 0 };
            PlumbGenResult gr;
            alt[101] = (alt[101] + 1) % n_vocab;
            gp.ids = alt;
            gp.n_ids = N_W;
            gp.reuse_prefix = 1;
            gp.n_predict = -1;
            CHECK(plumb_session_generate(s, &gp, NULL, NULL, &gr, &err) == PLUMB_OK && gr.n_reused == 0 &&
                      gr.n_evaluated == N_W,
                  "generate's reuse over a dropped prefix: %zu reused, %zu evaluated, '%s'", gr.n_reused,
                  gr.n_evaluated, err.msg);
        }
    }
    plumb_session_close(s);
    s = open_session(m, PLUMB_KV_Q8_0, 0, 0);
    if (s) {
        eval(s, toks, N_W, 0, got);
        CHECK(memcmp(base, got, V * sizeof *got) != 0, "window 64 forgets something");
    }
    plumb_session_close(s);
    s = open_session(m, PLUMB_KV_Q8_0, 64, 4);
    if (s) {
        memcpy(alt, toks, sizeof alt);
        alt[2] = (alt[2] + 1) % n_vocab;
        eval(s, alt, N_W, 0, got);
        CHECK(memcmp(base, got, V * sizeof *got) != 0, "a sink token changes the last logits");
    }
    plumb_session_close(s);
    s = open_session(m, PLUMB_KV_Q8_0, 64, 4);
    if (s) {
        memcpy(alt, toks, sizeof alt);
        alt[N_W - 10] = (alt[N_W - 10] + 1) % n_vocab;
        eval(s, alt, N_W, 0, got);
        CHECK(memcmp(base, got, V * sizeof *got) != 0, "a token in the window changes the last logits");
    }
    plumb_session_close(s);
    free(dense);
    free(wide);
    free(base);
    free(got);
}

/* 131072 positions: memory follows the positions held, the last pages
 * work, and the cache's size is what its types say. */
static void long_context(PlumbModel *m)
{
    PlumbSession *s = NULL;
    PlumbError err = { 0 };
    PlumbSessionParams sp = { 131072, PLUMB_KV_Q8_0, 0, 0, 0, 0 };
    const PlumbModelInfo *in = plumb_model_info(m);
    /* bytes of one position: layers x kv heads x (K + V rows of 34 bytes per 32) */
    const uint64_t per_pos = (uint64_t)in->n_layer * (uint64_t)in->n_head_kv * 2 * (uint64_t)in->head_dim / 32 * 34;
    int32_t tok = toks[0];
    if (plumb_session_open(&s, m, &sp, &err) != PLUMB_OK) {
        CHECK(0, "session of 131072: %s", err.msg);
        return;
    }
    CHECK(plumb_session_kv_bytes(s) == 0, "an empty session of 131072 holds %llu bytes",
          (unsigned long long)plumb_session_kv_bytes(s));
    CHECK(plumb_session_eval(s, &tok, 1, 0, &err) == PLUMB_OK, "eval: %s", err.msg);
    CHECK(plumb_session_kv_bytes(s) == 256 * per_pos, "one token holds one page: %llu bytes",
          (unsigned long long)plumb_session_kv_bytes(s));
    CHECK(plumb_session_fill(s, 131070, 7, &err) == PLUMB_OK, "fill: %s", err.msg);
    CHECK(plumb_session_eval(s, &tok, 1, 0, &err) == PLUMB_OK, "eval at 131071: %s", err.msg);
    if (plumb_session_logits(s, 0)) {
        const float *l = plumb_session_logits(s, 0);
        int finite = 1;
        for (int32_t i = 0; i < in->n_vocab; i++)
            finite &= l[i] == l[i] && l[i] > -1e30f && l[i] < 1e30f;
        CHECK(finite, "logits at position 131071 are finite");
    }
    CHECK(plumb_session_kv_bytes(s) == 131072 * per_pos, "131072 positions: %llu bytes, want %llu",
          (unsigned long long)plumb_session_kv_bytes(s), (unsigned long long)(131072 * per_pos));
    CHECK(plumb_session_eval(s, &tok, 1, 0, &err) == PLUMB_ERANGE && strstr(err.msg, "context full"),
          "past 131072: '%s'", err.msg);
    plumb_session_close(s);
}

static void bad_params(PlumbModel *m)
{
    PlumbSession *s = NULL;
    PlumbError err = { 0 };
    PlumbSessionParams sp = { 64, (PlumbKVType)9, 0, 0, 0, 0 };
    CHECK(plumb_session_open(&s, m, &sp, &err) == PLUMB_EINVAL && !s && strstr(err.msg, "cache type"),
          "type 9: '%s'", err.msg);
    sp.kv_type = PLUMB_KV_Q8_0;
    sp.kv_type_v = (PlumbKVType)-1;
    CHECK(plumb_session_open(&s, m, &sp, &err) == PLUMB_EINVAL && !s, "value type -1: '%s'", err.msg);
    sp.kv_type_v = 0;
    sp.window = -5;
    CHECK(plumb_session_open(&s, m, &sp, &err) == PLUMB_EINVAL && !s && strstr(err.msg, "window"),
          "window -5: '%s'", err.msg);
    sp.window = 16;
    sp.keep = 4;
    sp.kv_rotate = (PlumbKVRotate)5;
    CHECK(plumb_session_open(&s, m, &sp, &err) == PLUMB_EINVAL && !s && strstr(err.msg, "rotation"),
          "rotation 5: '%s'", err.msg);
}

int main(void)
{
    PlumbModel *m = open_model(2);
    uint64_t x = 12345;
    if (!m)
        return test_done("test_kvcache");
    n_vocab = plumb_model_info(m)->n_vocab;
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        toks[i] = (int32_t)((x >> 33) % (uint64_t)n_vocab);
    }
    threads_same_bits();
    fork_cow(m, 0);
    fork_cow(m, 128);
    window_rules(m);
    long_context(m);
    bad_params(m);
    plumb_model_close(m);
    return test_done("test_kvcache");
}
