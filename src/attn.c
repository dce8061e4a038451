/* attn.c — causal grouped-query attention over the paged key/value cache
 * (see attn.h). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attn.h"
#include "err.h"
#include "qtypes.h"

#define ATTN_BLOCK 8 /* tokens of one group a prefill work item takes */

typedef struct Run {
    int32_t lo, hi; /* positions [lo, hi) of one page */
    int sink;       /* attended with the sink query */
} Run;

static int32_t group_of(const PlumbAttnShape *sh)
{
    return sh->n_head / sh->n_head_kv;
}

/* Floats of one run's partial, or one token's running result, for a group:
 * m[group], l[group], acc[group][head_dim]. */
static size_t part_floats(const PlumbAttnShape *sh)
{
    return (size_t)group_of(sh) * ((size_t)sh->head_dim + 2);
}

int plumb_attn_scratch_init(PlumbAttnScratch *s, const PlumbAttnShape *shape, int32_t n_batch,
                            int32_t n_ctx, int n_threads, PlumbError *err)
{
    const size_t pf = part_floats(shape);
    memset(s, 0, sizeof *s);
    if (group_of(shape) > PLUMB_ATTN_MAX_Q || shape->head_dim > PLUMB_ATTN_MAX_HD)
        return plumb_err(err, PLUMB_EINVAL,
                         "attention: %d query heads per key/value head of %d (limits %d and %d)",
                         (int)group_of(shape), (int)shape->head_dim, PLUMB_ATTN_MAX_Q, PLUMB_ATTN_MAX_HD);
    s->n_batch = n_batch;
    s->n_ctx = n_ctx;
    s->n_threads = n_threads;
    s->max_runs = (int32_t)(((int64_t)n_ctx + PLUMB_KV_PAGE - 1) / PLUMB_KV_PAGE) + 1;
    s->part = malloc((size_t)shape->n_head_kv * (size_t)s->max_runs * pf * sizeof(float));
    s->state = malloc((size_t)n_threads * ATTN_BLOCK * pf * sizeof(float));
    s->qbuf_bytes = (size_t)ATTN_BLOCK * 2 * (size_t)group_of(shape) * (size_t)shape->head_dim * sizeof(float);
    s->qbuf = malloc((size_t)n_threads * s->qbuf_bytes);
    if (!s->part || !s->state || !s->qbuf) {
        plumb_attn_scratch_free(s);
        return plumb_err(err, PLUMB_ENOMEM, "out of memory for the attention of %d positions",
                         (int)n_ctx);
    }
    return PLUMB_OK;
}

void plumb_attn_scratch_free(PlumbAttnScratch *s)
{
    if (!s)
        return;
    free(s->part);
    free(s->state);
    free(s->qbuf);
    memset(s, 0, sizeof *s);
}

/* The runs of the token at m inside page p, in position order (0 to 2). */
static int page_runs(const PlumbKVCache *kv, int32_t m, int32_t p, Run r[2])
{
    const int64_t plo = (int64_t)p * PLUMB_KV_PAGE, phi = plo + PLUMB_KV_PAGE;
    int64_t lo, hi;
    int k = 0;
    if (plumb_attn_sink_pos(kv, m) == m) { /* every position [0, m] */
        hi = (int64_t)m + 1 < phi ? (int64_t)m + 1 : phi;
        if (plo < hi)
            r[k++] = (Run){ (int32_t)plo, (int32_t)hi, 0 };
        return k;
    }
    hi = kv->p.keep < phi ? kv->p.keep : phi; /* sinks [0, keep) */
    if (plo < hi)
        r[k++] = (Run){ (int32_t)plo, (int32_t)hi, 1 };
    lo = (int64_t)m - kv->p.window + 1; /* window [m - W + 1, m] */
    lo = lo > plo ? lo : plo;
    hi = (int64_t)m + 1 < phi ? (int64_t)m + 1 : phi;
    if (lo < hi)
        r[k++] = (Run){ (int32_t)lo, (int32_t)hi, 0 };
    return k;
}

/* The group's query heads of token t (sink query or not) in the keys'
 * activation type, rotated first when the keys are: dst holds group rows of
 * q_row bytes. */
static void convert_q(const PlumbAttnJob *j, int32_t t, int32_t g, int sink, void *dst, uint64_t q_row)
{
    const int32_t hd = j->shape.head_dim, group = group_of(&j->shape);
    const PlumbFromFloatFn conv = j->dsp->from_float[plumb_qtype_traits(j->kv->p.type_k)->act];
    const float *src = (sink ? j->q_sink : j->q) + (int64_t)t * j->shape.n_head * hd +
                       (int64_t)g * group * hd;
    float tmp[PLUMB_ATTN_MAX_HD];
    for (int32_t i = 0; i < group; i++) {
        const float *row = src + (int64_t)i * hd;
        if (j->kv->p.rotate) {
            memcpy(tmp, row, (size_t)hd * sizeof(float));
            plumb_kv_hadamard(tmp, hd);
            row = tmp;
        }
        conv(row, (char *)dst + (uint64_t)i * q_row, hd);
    }
}

static uint64_t q_row_bytes(const PlumbAttnJob *j)
{
    const PlumbQTraits *tr = plumb_qtype_traits(plumb_qtype_traits(j->kv->p.type_k)->act);
    return (uint64_t)j->shape.head_dim / (uint64_t)tr->blck * tr->size;
}

/* The partial of one run for group g: part = m[group], l[group], acc[group][hd]. */
static void run_partial(const PlumbAttnJob *j, int32_t g, const Run *r, const void *q, uint64_t q_row,
                        float *part)
{
    const int32_t group = group_of(&j->shape), hd = j->shape.head_dim;
    PlumbAttnArgs a;
    a.hd = hd;
    a.nq = group;
    a.q = q;
    a.q_stride = q_row;
    a.k = plumb_kv_k(j->kv, j->layer, g, r->lo);
    a.k_stride = j->kv->k_row;
    a.v_type = j->kv->p.type_v;
    a.v = plumb_kv_v(j->kv, j->layer, g, r->lo);
    a.v_stride = j->kv->v_row;
    a.nk = r->hi - r->lo;
    a.scale = 1.0f / sqrtf((float)hd);
    a.m = part;
    a.l = part + group;
    a.acc = part + 2 * group;
    j->dsp->attn[j->kv->p.type_k](&a);
}

/* Fold a run's partial into a running result (first: the result is the
 * partial).  Both are relative to their own maxima; the merged one is
 * relative to the larger. */
static void merge(float *st, const float *part, int32_t group, int32_t hd, int first)
{
    if (first) {
        memcpy(st, part, (size_t)group * ((size_t)hd + 2) * sizeof(float));
        return;
    }
    for (int32_t i = 0; i < group; i++) {
        const float m1 = st[i], m2 = part[i], mx = m1 > m2 ? m1 : m2;
        const float a = expf(m1 - mx), b = expf(m2 - mx);
        float *acc = st + 2 * group + (int64_t)i * hd;
        const float *acc2 = part + 2 * group + (int64_t)i * hd;
        st[i] = mx;
        st[group + i] = st[group + i] * a + part[group + i] * b;
        for (int32_t d = 0; d < hd; d++)
            acc[d] = acc[d] * a + acc2[d] * b;
    }
}

/* out rows of token t, group g, from its running result. */
static void finish(const PlumbAttnJob *j, int32_t t, int32_t g, const float *st)
{
    const int32_t group = group_of(&j->shape), hd = j->shape.head_dim;
    float *out = j->out + (int64_t)t * j->shape.n_head * hd + (int64_t)g * group * hd;
    for (int32_t i = 0; i < group; i++) {
        const float inv = 1.0f / st[group + i];
        const float *acc = st + 2 * group + (int64_t)i * hd;
        for (int32_t d = 0; d < hd; d++)
            out[(int64_t)i * hd + d] = acc[d] * inv;
    }
}

/* Tokens [t0, t1) (at most ATTN_BLOCK) of group g, start to finish: the
 * pages in order, every run of every token of the block in each page. */
static void token_block(const PlumbAttnJob *j, int32_t g, int32_t t0, int32_t t1, float *state,
                        unsigned char *qspace)
{
    const int32_t group = group_of(&j->shape), hd = j->shape.head_dim;
    const size_t pf = part_floats(&j->shape);
    const uint64_t q_row = q_row_bytes(j);
    const int32_t last = (j->pos0 + t1 - 1) / PLUMB_KV_PAGE;
    /* the block's converted queries: [token][normal, sink][group rows] */
    unsigned char *qbuf = qspace;
    const size_t qsz = (size_t)group * (size_t)q_row;
    float part[PLUMB_ATTN_MAX_Q * (PLUMB_ATTN_MAX_HD + 2)];
    int started[ATTN_BLOCK] = { 0 };

    for (int32_t t = t0; t < t1; t++) {
        const int32_t m = j->pos0 + t;
        convert_q(j, t, g, 0, qbuf + (size_t)(t - t0) * 2 * qsz, q_row);
        if (plumb_attn_sink_pos(j->kv, m) != m)
            convert_q(j, t, g, 1, qbuf + ((size_t)(t - t0) * 2 + 1) * qsz, q_row);
    }
    for (int32_t p = 0; p <= last; p++)
        for (int32_t t = t0; t < t1; t++) {
            Run r[2];
            const int k = page_runs(j->kv, j->pos0 + t, p, r);
            for (int i = 0; i < k; i++) {
                run_partial(j, g, &r[i], qbuf + ((size_t)(t - t0) * 2 + (size_t)r[i].sink) * qsz, q_row,
                            part);
                merge(state + (size_t)(t - t0) * pf, part, group, hd, !started[t - t0]);
                started[t - t0] = 1;
            }
        }
    for (int32_t t = t0; t < t1; t++)
        finish(j, t, g, state + (size_t)(t - t0) * pf);
}

void plumb_attn_groups(const PlumbAttnJob *j, int32_t g0, int32_t g1, int ith)
{
    float *state = j->s->state + (size_t)ith * ATTN_BLOCK * part_floats(&j->shape);
    unsigned char *qspace = j->s->qbuf + (size_t)ith * j->s->qbuf_bytes;
    for (int32_t g = g0; g < g1; g++)
        for (int32_t t = 0; t < j->n; t += ATTN_BLOCK)
            token_block(j, g, t, t + ATTN_BLOCK < j->n ? t + ATTN_BLOCK : j->n, state, qspace);
}

/* One token: the runs of every group spread over the threads, then the merge. */
static void decode_all(const PlumbAttnJob *j, PlumbThreadpool *tp, int ith, int nth)
{
    const int32_t group = group_of(&j->shape), hd = j->shape.head_dim, m = j->pos0;
    const size_t pf = part_floats(&j->shape);
    const uint64_t q_row = q_row_bytes(j);
    unsigned char qb[PLUMB_ATTN_MAX_Q * PLUMB_ATTN_MAX_HD * 4];
    Run runs[2];
    int32_t n_runs = 0, item = 0;
    int have_q = -1; /* which query (group, sink) qb holds */

    for (int32_t p = 0; p <= m / PLUMB_KV_PAGE; p++) {
        const int k = page_runs(j->kv, m, p, runs);
        for (int i = 0; i < k; i++, n_runs++)
            for (int32_t g = 0; g < j->shape.n_head_kv; g++, item++) {
                const int want = g * 2 + runs[i].sink;
                if (item % nth != ith)
                    continue;
                if (have_q != want) {
                    convert_q(j, 0, g, runs[i].sink, qb, q_row);
                    have_q = want;
                }
                run_partial(j, g, &runs[i], qb, q_row,
                            j->s->part + ((size_t)g * (size_t)j->s->max_runs + (size_t)n_runs) * pf);
            }
    }
    if (tp && nth > 1)
        plumb_threadpool_barrier(tp);
    for (int32_t g = ith; g < j->shape.n_head_kv; g += nth) {
        float *base = j->s->part + (size_t)g * (size_t)j->s->max_runs * pf;
        for (int32_t r = 1; r < n_runs; r++)
            merge(base, base + (size_t)r * pf, group, hd, 0);
        finish(j, 0, g, base);
    }
}

void plumb_attn_all(const PlumbAttnJob *j, PlumbThreadpool *tp, int ith, int nth)
{
    if (j->n == 1) {
        decode_all(j, tp, ith, nth);
        return;
    }
    {
        const int32_t blocks = (j->n + ATTN_BLOCK - 1) / ATTN_BLOCK;
        float *state = j->s->state + (size_t)ith * ATTN_BLOCK * part_floats(&j->shape);
        unsigned char *qspace = j->s->qbuf + (size_t)ith * j->s->qbuf_bytes;
        for (int32_t item = ith; item < blocks * j->shape.n_head_kv; item += nth) {
            const int32_t g = item % j->shape.n_head_kv, t = item / j->shape.n_head_kv * ATTN_BLOCK;
            token_block(j, g, t, t + ATTN_BLOCK < j->n ? t + ATTN_BLOCK : j->n, state, qspace);
        }
    }
}
