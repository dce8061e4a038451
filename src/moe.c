/* moe.c — the mixture-of-experts feed-forward block (see moe.h). */
#include "config.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sys/mman.h>
#include <unistd.h>

#include "err.h"
#include "moe.h"
#include "qtypes.h"

/* Smallest weight sum llama.cpp divides by (the smallest normal float16). */
#define MOE_MIN_WSUM 6.103515625e-5f

/* Largest activation row of the weights `field` over all layers. */
static uint64_t max_act_bytes(const PlumbModel *m, size_t field)
{
    uint64_t best = 0;
    for (int32_t l = 0; l < m->info.n_layer; l++) {
        const PlumbWeight *w = (const PlumbWeight *)((const char *)&m->layers[l] + field);
        uint64_t b = plumb_matmul_act_bytes(w);
        if (b > best)
            best = b;
    }
    return best;
}

int plumb_moe_init(PlumbMoE *s, const PlumbModel *m, int32_t n_batch, PlumbError *err)
{
    const size_t B = (size_t)n_batch, K = (size_t)m->info.n_expert_used;
    const size_t NE = (size_t)m->info.n_expert, FF = (size_t)m->info.n_ff_exp;
    const size_t E = (size_t)m->info.n_embd;
    memset(s, 0, sizeof *s);
    s->n_batch = n_batch;
    s->probs = malloc(B * NE * sizeof(float));
    s->sel = malloc(B * K * sizeof(int32_t));
    s->w = malloc(B * K * sizeof(float));
    s->count = malloc((NE + 1) * sizeof(int32_t));
    s->order = malloc(B * K * sizeof(int32_t));
    s->qgate = malloc(B * max_act_bytes(m, offsetof(PlumbLayer, gate_exps)));
    s->qup = malloc(B * max_act_bytes(m, offsetof(PlumbLayer, up_exps)));
    s->qdown = malloc(B * K * max_act_bytes(m, offsetof(PlumbLayer, down_exps)));
    s->gate = malloc(B * K * FF * sizeof(float));
    s->up = malloc(B * K * FF * sizeof(float));
    s->hid = malloc(B * K * FF * sizeof(float));
    s->down = malloc(B * K * E * sizeof(float));
    s->sel_scratch = malloc(NE * sizeof(int32_t));
    s->ain = malloc(B * K * sizeof(*s->ain));
    s->aup = malloc(B * K * sizeof(*s->aup));
    s->ahid = malloc(B * K * sizeof(*s->ahid));
    s->yg = malloc(B * K * sizeof(*s->yg));
    s->yu = malloc(B * K * sizeof(*s->yu));
    s->yd = malloc(B * K * sizeof(*s->yd));
    if (!s->probs || !s->sel || !s->w || !s->count || !s->order || !s->qgate || !s->qup ||
        !s->qdown || !s->gate || !s->up || !s->hid || !s->down || !s->ain || !s->aup ||
        !s->ahid || !s->yg || !s->yu || !s->yd || !s->sel_scratch) {
        plumb_moe_free(s);
        return plumb_err(err, PLUMB_ENOMEM, "out of memory for the expert buffers");
    }
    return PLUMB_OK;
}

void plumb_moe_free(PlumbMoE *s)
{
    if (!s)
        return;
    free(s->probs);
    free(s->sel);
    free(s->w);
    free(s->count);
    free(s->order);
    free(s->qgate);
    free(s->qup);
    free(s->qdown);
    free(s->gate);
    free(s->up);
    free(s->hid);
    free(s->down);
    free(s->sel_scratch);
    free(s->ain);
    free(s->aup);
    free(s->ahid);
    free(s->yg);
    free(s->yu);
    free(s->yd);
    memset(s, 0, sizeof *s);
}

/* One token's routing from its router logits p (softmax in place): the
 * chosen experts sel[K], best first, and their renormalised weights w[K]. */
static void route_token(const PlumbDsp *dsp, float *p, int32_t NE, int32_t K, int32_t *sel,
                        float *w)
{
    double sum = 0.0;
    float fsum;
    dsp->softmax(p, NE);
    dsp->topk(p, NE, K, sel);
    for (int32_t j = 0; j < K; j++) {
        w[j] = p[sel[j]];
        sum += w[j];
    }
    fsum = (float)sum;
    if (fsum < MOE_MIN_WSUM)
        fsum = MOE_MIN_WSUM;
    for (int32_t j = 0; j < K; j++)
        w[j] = w[j] / fsum;
}

/* Router: probabilities, the chosen experts and their renormalised weights. */
static void route(const PlumbModel *m, const PlumbLayer *L, PlumbMoE *s,
                  PlumbMatmulScratch *ms, PlumbThreadpool *tp, const float *x, int64_t n)
{
    const PlumbDsp *dsp = &m->dsp;
    const int32_t NE = m->info.n_expert, K = m->info.n_expert_used;
    plumb_matmul(tp, dsp, &L->gate_inp, 0, x, m->info.n_embd, s->probs, NE, n, ms);
    for (int64_t t = 0; t < n; t++)
        route_token(dsp, s->probs + t * NE, NE, K, s->sel + t * K, s->w + t * K);
}

/* Counting sort of the (token, slot) pairs by expert: afterwards the pairs
 * of expert e are order[count[e] .. count[e+1]). */
static void group_by_expert(PlumbMoE *s, int32_t NE, int32_t K, int64_t n)
{
    const int64_t n_pairs = n * K;
    int32_t run = 0;
    memset(s->count, 0, (size_t)(NE + 1) * sizeof *s->count);
    for (int64_t p = 0; p < n_pairs; p++)
        s->count[s->sel[p] + 1]++;
    for (int32_t e = 0; e < NE; e++) {
        run += s->count[e + 1];
        s->count[e + 1] = run;
    }
    /* count[e] is now the start of e; advance a cursor per expert */
    for (int64_t p = 0; p < n_pairs; p++)
        s->order[s->count[s->sel[p]]++] = (int32_t)p;
    /* the cursors ended at the next expert's start: shift back */
    for (int32_t e = NE; e > 0; e--)
        s->count[e] = s->count[e - 1];
    s->count[0] = 0;
}

/* Tell the kernel which expert matrices the next phase reads, so a model
 * larger than memory pages them in ahead of the reads. */
static void advise_experts(const PlumbLayer *L, const int32_t *sel, int32_t n_sel)
{
#ifdef MADV_WILLNEED
    const PlumbWeight *ws[3] = { &L->gate_exps, &L->up_exps, &L->down_exps };
    const long psz = sysconf(_SC_PAGESIZE);
    const uintptr_t page = psz > 0 ? (uintptr_t)psz : 4096;
    for (int32_t j = 0; j < n_sel; j++) {
        const int32_t e = sel[j];
        for (int i = 0; i < 3; i++) {
            const uintptr_t b = (uintptr_t)ws[i]->data + (uintptr_t)e * ws[i]->mat_bytes;
            const uintptr_t lo = b & ~(page - 1), hi = b + ws[i]->mat_bytes;
            /* advice only: a failure changes nothing but speed */
            (void)madvise((void *)lo, (size_t)(hi - lo), MADV_WILLNEED);
        }
    }
#else
    (void)L, (void)sel, (void)n_sel;
#endif
}

typedef struct MoeRun {
    const PlumbModel *m;
    const PlumbLayer *L;
    PlumbMoE *s;
    PlumbThreadpool *tp;  /* NULL when run on the caller only */
    const float *x;       /* [n][n_embd] normed input */
    float *out;           /* [n][n_embd] */
    int64_t n;            /* tokens */
    int two_types;        /* gate and up take different activation types */
    const void *arouter;  /* decode: the token quantised for the router */
    const void *agate;    /* decode: the token quantised for gate_exps */
    const void *aup;      /* decode: the token quantised for up_exps */
    atomic_int next_hid;  /* decode: next (expert, chunk) of gate/up rows to take */
    atomic_int next_out;  /* decode: next chunk of output rows to take */
} MoeRun;

static void sync_threads(PlumbThreadpool *tp, int nth)
{
    if (tp && nth > 1)
        plumb_threadpool_barrier(tp);
}

static void moe_worker(void *arg, int ith, int nth)
{
    const MoeRun *r = arg;
    const PlumbModel *m = r->m;
    const PlumbLayer *L = r->L;
    PlumbMoE *s = r->s;
    const PlumbDsp *dsp = &m->dsp;
    const int32_t NE = m->info.n_expert, K = m->info.n_expert_used;
    const int64_t E = m->info.n_embd, FF = m->info.n_ff_exp, n = r->n;
    const uint64_t qg = plumb_matmul_act_bytes(&L->gate_exps);
    const uint64_t qu = plumb_matmul_act_bytes(&L->up_exps);
    const uint64_t qd = plumb_matmul_act_bytes(&L->down_exps);
    int64_t lo, hi;

    /* (0) each token quantised once per activation type */
    plumb_matmul_split(n, 1, ith, nth, &lo, &hi);
    plumb_matmul_quantize(dsp, &L->gate_exps, r->x + lo * E, E, hi - lo,
                          (char *)s->qgate + (uint64_t)lo * qg, qg);
    if (r->two_types)
        plumb_matmul_quantize(dsp, &L->up_exps, r->x + lo * E, E, hi - lo,
                              (char *)s->qup + (uint64_t)lo * qu, qu);
    sync_threads(r->tp, nth);

    /* (1) this thread's share of the gate and up rows of every chosen expert */
    plumb_matmul_split(FF, 8, ith, nth, &lo, &hi);
    for (int32_t e = 0; e < NE; e++) {
        const int32_t b = s->count[e], cnt = s->count[e + 1] - b;
        if (cnt == 0)
            continue;
        plumb_matmul_rows(dsp, &L->gate_exps, e, s->ain + b, s->yg + b, cnt, lo, hi);
        plumb_matmul_rows(dsp, &L->up_exps, e, s->aup + b, s->yu + b, cnt, lo, hi);
    }
    sync_threads(r->tp, nth);

    /* (2) SwiGLU and quantisation of this thread's (token, expert) pairs */
    plumb_matmul_split(n * K, 1, ith, nth, &lo, &hi);
    for (int64_t p = lo; p < hi; p++) {
        dsp->swiglu(s->hid + p * FF, s->gate + p * FF, s->up + p * FF, FF);
        plumb_matmul_quantize(dsp, &L->down_exps, s->hid + p * FF, FF, 1,
                              (char *)s->qdown + (uint64_t)p * qd, qd);
    }
    sync_threads(r->tp, nth);

    /* (3) this thread's share of the down rows, then of the weighted sum */
    plumb_matmul_split(E, 8, ith, nth, &lo, &hi);
    if (lo >= hi)
        return;
    for (int32_t e = 0; e < NE; e++) {
        const int32_t b = s->count[e], cnt = s->count[e + 1] - b;
        if (cnt == 0)
            continue;
        plumb_matmul_rows(dsp, &L->down_exps, e, s->ahid + b, s->yd + b, cnt, lo, hi);
    }
    /* in rank order, as llama.cpp adds the expert outputs */
    for (int64_t t = 0; t < n; t++) {
        float *o = r->out + t * E + lo;
        memset(o, 0, (size_t)(hi - lo) * sizeof *o);
        for (int32_t j = 0; j < K; j++)
            dsp->axpy(o, s->w[t * K + j], s->down + (t * K + j) * E + lo, hi - lo);
    }
}

/* Rows of one decode work item: gate/up rows of one expert (rounded up to
 * whole blocks of the down projection's activation type, so a chunk of the
 * hidden row quantises to the bytes of the whole row), output rows of the
 * down projection.  Items are taken from a shared counter, so a thread
 * that the memory or the scheduler slowed down takes fewer; a row's
 * operations do not depend on who computes it. */
#define MOE_HID_CHUNK 256
#define MOE_OUT_CHUNK 128

/* One token (decode): the threads compute a share of the router's rows
 * each, then after a barrier every thread routes the token itself (the
 * same operations on the same data, so the same choice); the threads then
 * take (expert, row chunk) items of gate, up, SwiGLU and quantisation, and
 * after a second barrier chunks of output rows: the down rows of every
 * chosen expert and their weighted sum. */
static void moe_decode_worker(void *arg, int ith, int nth)
{
    MoeRun *r = arg;
    const PlumbModel *m = r->m;
    const PlumbLayer *L = r->L;
    PlumbMoE *s = r->s;
    const PlumbDsp *dsp = &m->dsp;
    const int32_t NE = m->info.n_expert, K = m->info.n_expert_used;
    const int64_t E = m->info.n_embd, FF = m->info.n_ff_exp;
    const uint64_t qd = plumb_matmul_act_bytes(&L->down_exps);
    const PlumbQTraits *qt = plumb_qtype_traits(L->down_exps.act);
    const int64_t blk = qt && qt->blck > 0 ? qt->blck : FF;
    const PlumbFromFloatFn quant = dsp->from_float[L->down_exps.act];
    float probs[PLUMB_MAX_EXPERTS], w[PLUMB_MAX_EXPERTS_USED];
    int32_t sel[PLUMB_MAX_EXPERTS_USED];
    float *py = s->probs;
    int64_t hc = (MOE_HID_CHUNK + blk - 1) / blk * blk, n_hc, n_oc, it, lo, hi;

    /* the router's rows split between the threads (eight at a time), then
     * every thread routes from the whole row */
    plumb_matmul_split(NE, 8, ith, nth, &lo, &hi);
    plumb_matmul_rows(dsp, &L->gate_inp, 0, &r->arouter, &py, 1, lo, hi);
    sync_threads(r->tp, nth);
    memcpy(probs, s->probs, (size_t)NE * sizeof *probs);
    route_token(dsp, probs, NE, K, sel, w);
    if (ith == 0 && s->advise)
        advise_experts(L, sel, K);

    /* a chunk must hold whole activation blocks; otherwise whole experts */
    if (hc % 8 != 0 || FF % blk != 0 || hc >= FF)
        hc = FF;
    n_hc = (FF + hc - 1) / hc;
    while ((it = atomic_fetch_add_explicit(&r->next_hid, 1, memory_order_relaxed)) < K * n_hc) {
        const int64_t j = it / n_hc, c0 = it % n_hc * hc, c1 = c0 + hc < FF ? c0 + hc : FF;
        float *g = s->gate + j * FF, *u = s->up + j * FF, *h = s->hid + j * FF;
        char *qh = (char *)s->qdown + (uint64_t)j * qd + plumb_qtype_row_size(L->down_exps.act, (uint64_t)c0);
        /* y holds row pointers: row c lands at g[c] */
        plumb_matmul_rows(dsp, &L->gate_exps, sel[j], &r->agate, &g, 1, c0, c1);
        plumb_matmul_rows(dsp, &L->up_exps, sel[j], &r->aup, &u, 1, c0, c1);
        dsp->swiglu(h + c0, g + c0, u + c0, c1 - c0);
        quant(h + c0, qh, c1 - c0);
    }
    sync_threads(r->tp, nth);

    n_oc = (E + MOE_OUT_CHUNK - 1) / MOE_OUT_CHUNK;
    while ((it = atomic_fetch_add_explicit(&r->next_out, 1, memory_order_relaxed)) < n_oc) {
        const int64_t o0 = it * MOE_OUT_CHUNK, o1 = o0 + MOE_OUT_CHUNK < E ? o0 + MOE_OUT_CHUNK : E;
        float *o = r->out + o0;
        for (int32_t j = 0; j < K; j++) {
            const void *qh = (const char *)s->qdown + (uint64_t)j * qd;
            float *d = s->down + (int64_t)j * E;
            plumb_matmul_rows(dsp, &L->down_exps, sel[j], &qh, &d, 1, o0, o1);
        }
        memset(o, 0, (size_t)(o1 - o0) * sizeof *o);
        for (int32_t j = 0; j < K; j++)
            dsp->axpy(o, w[j], s->down + (int64_t)j * E + o0, o1 - o0);
    }
}

void plumb_moe_forward(const PlumbModel *m, const PlumbLayer *L, PlumbMoE *s,
                       PlumbMatmulScratch *ms, PlumbThreadpool *tp, const float *x, float *out,
                       int64_t n)
{
    const int32_t NE = m->info.n_expert, K = m->info.n_expert_used;
    const int64_t E = m->info.n_embd, FF = m->info.n_ff_exp;
    const uint64_t qg = plumb_matmul_act_bytes(&L->gate_exps);
    const uint64_t qu = plumb_matmul_act_bytes(&L->up_exps);
    const uint64_t qd = plumb_matmul_act_bytes(&L->down_exps);
    const int two = L->up_exps.act != L->gate_exps.act;
    const void *qup = two ? s->qup : s->qgate;
    const uint64_t qub = two ? qu : qg;
    MoeRun r;

    if (n == 1 && tp && plumb_threadpool_n_threads(tp) > 1) {
        plumb_matmul_quantize(&m->dsp, &L->gate_inp, x, E, 1, ms->q, 0);
        plumb_matmul_quantize(&m->dsp, &L->gate_exps, x, E, 1, s->qgate, 0);
        if (two)
            plumb_matmul_quantize(&m->dsp, &L->up_exps, x, E, 1, s->qup, 0);
        memset(&r, 0, sizeof r);
        r.m = m;
        r.L = L;
        r.s = s;
        r.tp = tp;
        r.out = out;
        r.n = 1;
        r.arouter = ms->q;
        r.agate = s->qgate;
        r.aup = qup;
        atomic_init(&r.next_hid, 0);
        atomic_init(&r.next_out, 0);
        plumb_threadpool_run(tp, moe_decode_worker, &r);
        return;
    }
    route(m, L, s, ms, tp, x, n);
    group_by_expert(s, NE, K, n);
    if (s->advise) {
        int32_t n_sel = 0;
        for (int32_t e = 0; e < NE; e++)
            if (s->count[e] != s->count[e + 1])
                s->sel_scratch[n_sel++] = e;
        advise_experts(L, s->sel_scratch, n_sel);
    }
    /* gathered pointers, in expert order: position i holds pair order[i] */
    for (int64_t i = 0; i < n * K; i++) {
        const int32_t p = s->order[i];
        const int64_t t = p / K;
        s->ain[i] = (const char *)s->qgate + (uint64_t)t * qg;
        s->aup[i] = (const char *)qup + (uint64_t)t * qub;
        s->ahid[i] = (const char *)s->qdown + (uint64_t)p * qd;
        s->yg[i] = s->gate + (int64_t)p * FF;
        s->yu[i] = s->up + (int64_t)p * FF;
        s->yd[i] = s->down + (int64_t)p * E;
    }
    memset(&r, 0, sizeof r);
    r.m = m;
    r.L = L;
    r.s = s;
    r.tp = tp && plumb_threadpool_n_threads(tp) > 1 ? tp : NULL;
    r.x = x;
    r.out = out;
    r.n = n;
    r.two_types = two;
    if (r.tp)
        plumb_threadpool_run(r.tp, moe_worker, &r);
    else
        moe_worker(&r, 0, 1);
}
