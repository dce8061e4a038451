/* moe.c — the mixture-of-experts feed-forward block (see moe.h). */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "moe.h"

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
    s->a = malloc(B * K * sizeof(*s->a));
    s->y = malloc(B * K * sizeof(*s->y));
    if (!s->probs || !s->sel || !s->w || !s->count || !s->order || !s->qgate || !s->qup ||
        !s->qdown || !s->gate || !s->up || !s->hid || !s->down || !s->a || !s->y) {
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
    free(s->a);
    free(s->y);
    memset(s, 0, sizeof *s);
}

/* Router: probabilities, the chosen experts and their renormalised weights. */
static void route(const PlumbModel *m, const PlumbLayer *L, PlumbMoE *s,
                  PlumbMatmulScratch *ms, const float *x, int64_t n)
{
    const PlumbDsp *dsp = &m->dsp;
    const int32_t NE = m->info.n_expert, K = m->info.n_expert_used;
    plumb_matmul(dsp, &L->gate_inp, 0, x, m->info.n_embd, s->probs, NE, n, ms);
    for (int64_t t = 0; t < n; t++) {
        float *p = s->probs + t * NE;
        int32_t *sel = s->sel + t * K;
        float *w = s->w + t * K;
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

/* Apply matrix stack w (expert e) to the gathered pairs of e: the input of
 * pair p is row (by_token ? p / K : p) of q (stride qb), its output row p of
 * y (stride y_stride). */
static void expert_matmul(const PlumbDsp *dsp, const PlumbWeight *w, PlumbMoE *s, int32_t e,
                          int32_t K, const void *q, uint64_t qb, int by_token, float *y,
                          int64_t y_stride)
{
    const int32_t begin = s->count[e], end = s->count[e + 1];
    for (int32_t i = begin; i < end; i++) {
        const int32_t p = s->order[i];
        const int64_t src = by_token ? p / K : p;
        s->a[i - begin] = (const char *)q + (uint64_t)src * qb;
        s->y[i - begin] = y + (int64_t)p * y_stride;
    }
    plumb_matmul_rows(dsp, w, e, s->a, s->y, end - begin, 0, w->ne1);
}

void plumb_moe_forward(const PlumbModel *m, const PlumbLayer *L, PlumbMoE *s,
                       PlumbMatmulScratch *ms, const float *x, float *out, int64_t n)
{
    const PlumbDsp *dsp = &m->dsp;
    const int32_t NE = m->info.n_expert, K = m->info.n_expert_used;
    const int64_t E = m->info.n_embd, FF = m->info.n_ff_exp;
    const uint64_t qg = plumb_matmul_act_bytes(&L->gate_exps);
    const uint64_t qu = plumb_matmul_act_bytes(&L->up_exps);
    const uint64_t qd = plumb_matmul_act_bytes(&L->down_exps);
    const void *qup;

    route(m, L, s, ms, x, n);
    group_by_expert(s, NE, K, n);

    /* each token quantised once per activation type */
    plumb_matmul_quantize(dsp, &L->gate_exps, x, E, n, s->qgate, qg);
    qup = s->qgate;
    if (L->up_exps.act != L->gate_exps.act) {
        plumb_matmul_quantize(dsp, &L->up_exps, x, E, n, s->qup, qu);
        qup = s->qup;
    }
    for (int32_t e = 0; e < NE; e++) {
        if (s->count[e] == s->count[e + 1])
            continue;
        expert_matmul(dsp, &L->gate_exps, s, e, K, s->qgate, qg, 1, s->gate, FF);
        expert_matmul(dsp, &L->up_exps, s, e, K, qup, qu, 1, s->up, FF);
    }
    for (int64_t p = 0; p < n * K; p++)
        dsp->swiglu(s->hid + p * FF, s->gate + p * FF, s->up + p * FF, FF);
    plumb_matmul_quantize(dsp, &L->down_exps, s->hid, FF, n * K, s->qdown, qd);
    for (int32_t e = 0; e < NE; e++) {
        if (s->count[e] == s->count[e + 1])
            continue;
        expert_matmul(dsp, &L->down_exps, s, e, K, s->qdown, qd, 0, s->down, E);
    }

    /* weighted sum in rank order, as llama.cpp adds the expert outputs */
    for (int64_t t = 0; t < n; t++) {
        float *o = out + t * E;
        memset(o, 0, (size_t)E * sizeof *o);
        for (int32_t j = 0; j < K; j++)
            dsp->axpy(o, s->w[t * K + j], s->down + (t * K + j) * E, E);
    }
}
