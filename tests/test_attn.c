/*
 * test_attn.c — attention over the paged cache against a double-precision
 * evaluation on the same numbers.
 *
 * For every cache type pair, depths from 1 to 70,000 positions, dense and
 * windowed (pages dropped and recycled as the window slides), one token
 * (decode) and a batch of 13 (prefill): keys and values are stored through
 * plumb_kv_store, then plumb_attn_all runs on pools of 1, 2, 3 and 7
 * threads.  The reference takes the queries as the kernel sees them
 * (rotated, converted to the keys' activation type, widened back) and the
 * stored rows widened back, and computes the softmax-weighted sum in double
 * over exactly the positions the rules of attn.h name: the sinks with the
 * sink query, the window with the token's own.  Every thread count must
 * give the same bits, and so must plumb_attn_groups (the fused path).
 * PLUMB_GOLDEN_QUICK=1 (slow builds: sanitizers, emulators) keeps the
 * depths up to 3000 and 1 to 3 threads.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn.h"
#include "cpu.h"
#include "dsp.h"
#include "kvcache.h"
#include "qtypes.h"
#include "testlib.h"
#include "threadpool.h"

#define N_HEAD 8
#define N_KV 2
#define HD 128
#define WIDTH (N_KV * HD)
#define NQ (N_HEAD * HD)

static PlumbDsp dsp;
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static float frand(void) /* uniform in [-1, 1) */
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

typedef struct Case {
    uint32_t tk, tv;
    int rotate;
    int32_t depth;  /* positions held after the batch */
    int32_t window, keep;
} Case;

typedef struct Work {
    const PlumbAttnJob *job;
    PlumbThreadpool *tp;
    int fused;
} Work;

static void worker(void *arg, int ith, int nth)
{
    const Work *w = arg;
    if (w->fused) {
        const int32_t g0 = N_KV * ith / nth, g1 = N_KV * (ith + 1) / nth;
        plumb_attn_groups(w->job, g0, g1, ith);
    } else {
        plumb_attn_all(w->job, w->tp, ith, nth);
    }
}

/* The query head as the kernel sees it: rotated when the keys are,
 * converted to the keys' activation type and widened back. */
static void seen_query(const PlumbKVCache *kv, const float *q, double *out)
{
    const uint32_t act = (uint32_t)plumb_qtype_traits(kv->p.type_k)->act;
    float tmp[HD], back[HD];
    unsigned char buf[HD * 4];
    memcpy(tmp, q, sizeof tmp);
    if (kv->p.rotate)
        plumb_kv_hadamard(tmp, HD);
    dsp.from_float[act](tmp, buf, HD);
    dsp.to_float[act](buf, back, HD);
    for (int i = 0; i < HD; i++)
        out[i] = back[i];
}

static int visible(const PlumbKVCache *kv, int32_t m, int32_t j, int *sink)
{
    *sink = 0;
    if (j > m)
        return 0;
    if (plumb_attn_sink_pos(kv, m) == m)
        return 1;
    if (j < kv->p.keep) {
        *sink = 1;
        return 1;
    }
    return j >= m - kv->p.window + 1;
}

/* Largest |ours - reference| over the batch, relative to the largest
 * reference magnitude of the row.  Each stored row is widened once per
 * token and group. */
static double reference_error(const PlumbKVCache *kv, const float *q, const float *qs, const float *out,
                              int32_t n, int32_t pos0)
{
    enum { G = N_HEAD / N_KV };
    double worst = 0;
    double *s = malloc((size_t)G * (size_t)(pos0 + n) * sizeof *s);
    float row[HD];
    for (int32_t t = 0; t < n; t++) {
        const int32_t m = pos0 + t;
        for (int32_t g = 0; g < N_KV; g++) {
            double qd[G][HD], qsd[G][HD], o[G][HD], max[G], sum[G];
            for (int i = 0; i < G; i++) {
                seen_query(kv, q + (int64_t)t * NQ + (g * G + i) * HD, qd[i]);
                seen_query(kv, qs + (int64_t)t * NQ + (g * G + i) * HD, qsd[i]);
                max[i] = -INFINITY;
                sum[i] = 0;
                memset(o[i], 0, sizeof o[i]);
            }
            for (int32_t j = 0; j <= m; j++) {
                int sink;
                if (!visible(kv, m, j, &sink))
                    continue;
                dsp.to_float[kv->p.type_k](plumb_kv_k(kv, 0, g, j), row, HD);
                for (int i = 0; i < G; i++) {
                    double d = 0;
                    for (int e = 0; e < HD; e++)
                        d += (sink ? qsd[i][e] : qd[i][e]) * row[e];
                    s[(size_t)i * (size_t)(pos0 + n) + (size_t)j] = d / sqrt((double)HD);
                    max[i] = s[(size_t)i * (size_t)(pos0 + n) + (size_t)j] > max[i]
                                 ? s[(size_t)i * (size_t)(pos0 + n) + (size_t)j] : max[i];
                }
            }
            for (int32_t j = 0; j <= m; j++) {
                int sink;
                if (!visible(kv, m, j, &sink))
                    continue;
                dsp.to_float[kv->p.type_v](plumb_kv_v(kv, 0, g, j), row, HD);
                for (int i = 0; i < G; i++) {
                    const double p = exp(s[(size_t)i * (size_t)(pos0 + n) + (size_t)j] - max[i]);
                    sum[i] += p;
                    for (int e = 0; e < HD; e++)
                        o[i][e] += p * row[e];
                }
            }
            for (int i = 0; i < G; i++) {
                double big = 0, err = 0;
                const float *got = out + (int64_t)t * NQ + (g * G + i) * HD;
                for (int e = 0; e < HD; e++) {
                    o[i][e] /= sum[i];
                    big = fabs(o[i][e]) > big ? fabs(o[i][e]) : big;
                }
                for (int e = 0; e < HD; e++) {
                    const double d = fabs(got[e] - o[i][e]);
                    err = d > err ? d : err;
                }
                err /= big > 1e-30 ? big : 1e-30;
                worst = err > worst ? err : worst;
            }
        }
    }
    free(s);
    return worst;
}

static void run_case(const Case *c, PlumbThreadpool **pools, const int *threads, int n_pools)
{
    static const int32_t batches[] = { 1, 13 };
    PlumbKVParams p = { 1, N_KV, HD, c->depth, c->tk, c->tv, c->rotate, c->window, c->keep };
    PlumbKVCache kv;
    PlumbError err = { 0 };
    const PlumbAttnShape shape = { N_HEAD, N_KV, HD };
    float *k = malloc((size_t)PLUMB_KV_PAGE * WIDTH * sizeof *k), *v = malloc((size_t)PLUMB_KV_PAGE * WIDTH * sizeof *v);
    static float last_alone[NQ];
    char label[128];

    snprintf(label, sizeof label, "K %s V %s%s depth %d window %d keep %d", plumb_qtype_name(c->tk),
             plumb_qtype_name(c->tv), c->rotate ? " rotated" : "", (int)c->depth, (int)c->window, (int)c->keep);
    for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
        const int32_t n = batches[b] < c->depth ? batches[b] : c->depth, pos0 = c->depth - n;
        float *q = malloc((size_t)n * NQ * sizeof *q), *qs = malloc((size_t)n * NQ * sizeof *qs);
        float *out = malloc((size_t)n * NQ * sizeof *out), *first = malloc((size_t)n * NQ * sizeof *first);
        double e;
        int32_t done = 0;
        rng = 0x9e3779b97f4a7c15ull ^ (uint64_t)c->depth;
        CHECK(plumb_kv_init(&kv, &p, &err) == PLUMB_OK, "%s: init: %s", label, err.msg);
        /* the positions before the batch, then the batch, a page at a time */
        while (done < c->depth) {
            int32_t step = c->depth - done < PLUMB_KV_PAGE ? c->depth - done : PLUMB_KV_PAGE;
            if (done < pos0 && done + step > pos0)
                step = pos0 - done;
            for (int64_t i = 0; i < (int64_t)step * WIDTH; i++) {
                k[i] = frand();
                v[i] = frand();
            }
            if (done == 0) /* a sink with a large key */
                for (int i = 0; i < WIDTH; i++)
                    k[i] *= 4.0f;
            CHECK(plumb_kv_reserve(&kv, (size_t)step, &err) == PLUMB_OK, "%s: reserve: %s", label, err.msg);
            plumb_kv_store(&kv, &dsp, 0, done, step, k, v, WIDTH, 0, N_KV);
            plumb_kv_commit(&kv, step);
            done += step;
        }
        if (c->window) {
            const int64_t held = (int64_t)kv.n_live * PLUMB_KV_PAGE;
            const int64_t P = PLUMB_KV_PAGE;
            CHECK(held <= ((c->keep + P - 1) / P + (c->window + P - 1) / P + 2) * P,
                  "%s: %lld positions held in pages", label, (long long)held);
        }
        for (int32_t t = 0; t < n; t++) { /* by position: the same rows in either batch */
            rng = 0x2545f4914f6cdd1dull ^ (uint64_t)(pos0 + t) * 0x9e3779b97f4a7c15ull;
            for (int64_t i = 0; i < NQ; i++) {
                q[(int64_t)t * NQ + i] = 8.0f * frand(); /* scores with a deviation near 3 */
                qs[(int64_t)t * NQ + i] = 8.0f * frand();
            }
        }
        for (int ip = 0; ip < n_pools; ip++)
            for (int fused = 0; fused <= (N_KV % threads[ip] == 0); fused++) {
                PlumbAttnScratch s;
                PlumbAttnJob job = { &dsp, &kv, 0, shape, q, qs, out, n, pos0, &s };
                Work w = { &job, pools[ip], fused };
                if (plumb_attn_scratch_init(&s, &shape, 16, c->depth, threads[ip], &err) != PLUMB_OK) {
                    CHECK(0, "%s: scratch: %s", label, err.msg);
                    continue;
                }
                memset(out, 0xff, (size_t)n * NQ * sizeof *out);
                plumb_threadpool_run(pools[ip], worker, &w);
                if (ip == 0 && !fused) {
                    e = reference_error(&kv, q, qs, out, n, pos0);
                    if (getenv("ATTN_SHOW")) fprintf(stderr, "%s n=%d err %.3g\n", label, (int)n, e);
                    CHECK(e <= 2e-4, "%s, %d tokens: error %.3g of the largest output", label, (int)n, e);
                    memcpy(first, out, (size_t)n * NQ * sizeof *out);
                    if (b == 0)
                        memcpy(last_alone, out, NQ * sizeof *out);
                    else
                        CHECK(memcmp(last_alone, out + (int64_t)(n - 1) * NQ, NQ * sizeof *out) == 0,
                              "%s: the last token of a batch differs from the token alone", label);
                } else {
                    CHECK(memcmp(first, out, (size_t)n * NQ * sizeof *out) == 0,
                          "%s, %d tokens: %d threads%s differ from 1 thread", label, (int)n, threads[ip],
                          fused ? " (groups)" : "");
                }
                plumb_attn_scratch_free(&s);
            }
        plumb_kv_free(&kv);
        free(q);
        free(qs);
        free(out);
        free(first);
    }
    free(k);
    free(v);
}

int main(void)
{
    static const int threads[] = { 1, 2, 3, 7 };
    const char *quick = getenv("PLUMB_GOLDEN_QUICK");
    const int full = !(quick && *quick && strcmp(quick, "0"));
    PlumbThreadpool *pools[4] = { NULL };
    PlumbError err = { 0 };
    unsigned flags = 0;
    const char *tier = getenv("PLUMB_CPU");
    const uint32_t F32 = PLUMB_QTYPE_F32, F16 = PLUMB_QTYPE_F16, Q8 = PLUMB_QTYPE_Q8_0, Q4 = PLUMB_QTYPE_Q4_0;
    const Case cases[] = {
        { F32, F32, 0, 1, 0, 0 },        { F16, F16, 0, 2, 0, 0 },      { Q8, Q8, 0, 255, 0, 0 },
        { Q8, Q8, 0, 256, 0, 0 },        { Q8, Q8, 0, 257, 0, 0 },      { Q4, Q4, 1, 1000, 0, 0 },
        { Q4, Q4, 0, 1000, 0, 0 },       { Q8, Q4, 0, 777, 0, 0 },      { F16, Q8, 0, 3000, 0, 0 },
        { F32, F16, 0, 600, 0, 0 },      { Q8, Q8, 0, 3000, 500, 4 },   { Q4, Q8, 1, 5000, 300, 300 },
        { F16, F16, 0, 2000, 2000, 4 },  { Q8, Q8, 0, 1100, 700, 260 }, { Q8, Q8, 0, 70000, 1000, 7 },
        { Q8, Q8, 0, 70000, 0, 0 },      { F16, F16, 0, 20000, 0, 0 },  { Q4, Q4, 1, 40000, 4096, 4 },
    };

    if (!tier || !*tier)
        flags = plumb_cpu_detect() & plumb_cpu_built();
    else if (plumb_cpu_select(tier, &flags, &err) < 0) {
        fprintf(stderr, "test_attn: %s\n", err.msg);
        return 1;
    }
    plumb_dsp_init(&dsp, flags);
    for (int i = 0; i < 4; i++)
        CHECK(plumb_threadpool_open(&pools[i], threads[i], &err) == PLUMB_OK, "pool of %d: %s", threads[i],
              err.msg);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (!full && cases[i].depth > 3000)
            continue;
        if (cases[i].depth > 5000 && !cases[i].window && cases[i].tk != Q8 && getenv("PLUMB_ATTN_SHORT"))
            continue;
        run_case(&cases[i], pools, threads, full ? 4 : 3);
    }
    for (int i = 0; i < 4; i++)
        plumb_threadpool_close(pools[i]);
    return test_done("test_attn");
}
