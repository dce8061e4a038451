/*
 * forward.c — the forward pass of the Qwen family (see forward.h).
 *
 * Per token: embedding → for each layer: RMSNorm → Q, K, V (+ bias, with
 * PLUMB_ATTN_QKV_BIAS) → per-head RMSNorm of Q and K (PLUMB_ATTN_QK_NORM) →
 * NeoX RoPE → causal GQA attention → output projection → residual →
 * RMSNorm → MoE (PLUMB_FFN_MOE) or dense SwiGLU (PLUMB_FFN_DENSE) →
 * residual; then the final RMSNorm and the output projection.  What a
 * layer computes follows its block kind (arch.h), never the architecture's
 * name.  Every kernel comes from the model's dispatch table; this file
 * holds no type- or ISA-specific code.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include "attn.h"
#include "err.h"
#include "forward.h"

/* ------------------------------------------------------------- state */

/* Whether the MoE layer should madvise(WILLNEED) the experts it picked:
 * only when the file is larger than 90% of physical memory, where pages
 * are evicted between uses and reading ahead of the first touch pays.  In
 * memory the advice costs more than it gives (a page-cache walk per call,
 * tens to hundreds of microseconds, 24 calls a layer).  The model's
 * expert_advice parameter (1 on, -1 off) overrides the choice. */
static int want_expert_advice(const PlumbModel *m)
{
    long pages, psz;
    if (m->expert_advice)
        return m->expert_advice > 0;
    pages = sysconf(_SC_PHYS_PAGES);
    psz = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || psz <= 0)
        return 0;
    return (double)m->gguf->size > 0.9 * (double)pages * (double)psz;
}

int plumb_fwd_init(PlumbFwd *f, const PlumbModel *m, int32_t n_batch, int32_t n_ctx,
                   PlumbError *err)
{
    const PlumbModelInfo *in = &m->info;
    const size_t B = (size_t)n_batch, E = (size_t)in->n_embd;
    const size_t nq = (size_t)in->n_head * (size_t)in->head_dim;
    const size_t nkv = (size_t)in->n_head_kv * (size_t)in->head_dim;
    const size_t half = (size_t)in->head_dim / 2;
    size_t max_in = E > nq ? E : nq;
    int rc, any_moe = 0, any_dense = 0;

    memset(f, 0, sizeof *f);
    if (n_batch <= 0 || n_ctx <= 0)
        return plumb_err(err, PLUMB_EINVAL, "forward: bad batch %d or context %d", (int)n_batch,
                         (int)n_ctx);
    if ((size_t)in->n_ff > max_in)
        max_in = (size_t)in->n_ff;
    for (int32_t l = 0; l < in->n_layer; l++) {
        any_moe |= m->layers[l].kind.ffn == PLUMB_FFN_MOE;
        any_dense |= m->layers[l].kind.ffn == PLUMB_FFN_DENSE;
    }
    f->n_batch = n_batch;
    f->n_ctx = n_ctx;
    /* the model's pool (plumb_model_runtime), borrowed */
    f->tp = m->tp;
    f->n_threads = f->tp ? plumb_threadpool_n_threads(f->tp) : 1;
    f->x = malloc(B * E * sizeof(float));
    f->xb = malloc(B * E * sizeof(float));
    f->xb2 = malloc(B * E * sizeof(float));
    f->q = malloc(B * nq * sizeof(float));
    f->kb = malloc(B * nkv * sizeof(float));
    f->vb = malloc(B * nkv * sizeof(float));
    f->att = malloc(B * nq * sizeof(float));
    f->q_sink = malloc(B * nq * sizeof(float));
    f->rope_cos = malloc(B * half * sizeof(float));
    f->rope_sin = malloc(B * half * sizeof(float));
    f->sink_cos = malloc(B * half * sizeof(float));
    f->sink_sin = malloc(B * half * sizeof(float));
    /* activation rows are at most 4 bytes an element (float32) */
    f->mm.q_cap = (uint64_t)B * max_in * sizeof(float);
    f->mm.q = malloc(f->mm.q_cap);
    f->mm.q2 = malloc(f->mm.q_cap);
    f->mm.n_cap = n_batch;
    f->mm.a = malloc(B * sizeof *f->mm.a);
    f->mm.a2 = malloc(B * sizeof *f->mm.a2);
    f->mm.y = malloc(PLUMB_MATMUL_MAX_TASKS * B * sizeof *f->mm.y);
    if (!f->x || !f->xb || !f->xb2 || !f->q || !f->kb || !f->vb || !f->att || !f->q_sink || !f->rope_cos ||
        !f->rope_sin || !f->sink_cos || !f->sink_sin || !f->mm.q || !f->mm.q2 || !f->mm.a || !f->mm.a2 || !f->mm.y)
        goto nomem;
    {
        const PlumbAttnShape shape = { in->n_head, in->n_head_kv, in->head_dim };
        if ((rc = plumb_attn_scratch_init(&f->attn, &shape, n_batch, n_ctx, f->n_threads, err)) < 0) {
            plumb_fwd_free(f);
            return rc;
        }
    }
    if (any_moe) {
        if ((rc = plumb_moe_init(&f->moe, m, n_batch, err)) < 0) {
            plumb_fwd_free(f);
            return rc;
        }
        f->moe.advise = want_expert_advice(m);
    }
    if (any_dense) {
        const size_t FF = (size_t)in->n_ff;
        f->ff_gate = malloc(B * FF * sizeof(float));
        f->ff_up = malloc(B * FF * sizeof(float));
        f->ff_hid = malloc(B * FF * sizeof(float));
        if (!f->ff_gate || !f->ff_up || !f->ff_hid)
            goto nomem;
    }
    return PLUMB_OK;
nomem:
    plumb_fwd_free(f);
    return plumb_err(err, PLUMB_ENOMEM, "out of memory for the forward-pass buffers");
}

void plumb_fwd_free(PlumbFwd *f)
{
    if (!f)
        return;
    free(f->x);
    free(f->xb);
    free(f->xb2);
    free(f->q);
    free(f->att);
    free(f->kb);
    free(f->vb);
    free(f->q_sink);
    free(f->rope_cos);
    free(f->rope_sin);
    free(f->sink_cos);
    free(f->sink_sin);
    plumb_attn_scratch_free(&f->attn);
    free(f->ff_gate);
    free(f->ff_up);
    free(f->ff_hid);
    free(f->mm.q);
    free(f->mm.q2);
    free(f->mm.a);
    free(f->mm.a2);
    free(f->mm.y);
    plumb_moe_free(&f->moe);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------- RoPE */

/* YaRN ramp: 1 below the correction range, 0 above, linear between. */
static float yarn_ramp(float low, float high, int32_t i)
{
    float span = high - low > 0.001f ? high - low : 0.001f;
    float y = ((float)i - low) / span;
    y = y < 0.0f ? 0.0f : y > 1.0f ? 1.0f : y;
    return 1.0f - y;
}

void plumb_rope_cache(const PlumbRope *r, int32_t pos, float *cos_out, float *sin_out)
{
    float theta_extrap = (float)pos; /* pos * base^(-2i/n_dims), built by products */
    for (int32_t i = 0; i < r->n_dims / 2; i++) {
        float theta = r->freq_scale * theta_extrap;
        float mscale = r->attn_factor;
        if (r->ext_factor != 0.0f) {
            float mix = yarn_ramp(r->corr_dims[0], r->corr_dims[1], i) * r->ext_factor;
            theta = theta * (1.0f - mix) + theta_extrap * mix;
            mscale *= 1.0f + 0.1f * logf(1.0f / r->freq_scale);
        }
        cos_out[i] = cosf(theta) * mscale;
        sin_out[i] = sinf(theta) * mscale;
        theta_extrap *= r->theta_scale;
    }
}

/* ------------------------------------------------------------- the pass */

/* In place, on heads [h0, h1) of the rows of tokens [t0, t1) (row stride
 * `stride` floats): add the bias (when not NULL; [n_heads * head_dim]),
 * RMSNorm each head with weight `norm` (when not NULL), then RoPE (when
 * `rope`: 1 at the token's position, 2 at its sink position). */
static void prep_heads(const PlumbModel *m, const PlumbFwd *f, float *rows, int64_t stride,
                       int64_t t0, int64_t t1, int32_t h0, int32_t h1, const float *bias,
                       const float *norm, int rope)
{
    const PlumbDsp *dsp = &m->dsp;
    const int32_t hd = m->info.head_dim;
    for (int64_t t = t0; t < t1; t++) {
        const float *c = (rope == 2 ? f->sink_cos : f->rope_cos) + t * (hd / 2);
        const float *s = (rope == 2 ? f->sink_sin : f->rope_sin) + t * (hd / 2);
        for (int32_t h = h0; h < h1; h++) {
            float *v = rows + t * stride + (int64_t)h * hd;
            if (bias)
                for (int32_t i = 0; i < hd; i++)
                    v[i] += bias[(int64_t)h * hd + i];
            if (norm)
                dsp->rmsnorm(v, v, norm, hd, m->info.rms_eps);
            if (rope)
                dsp->rope_neox(v, c, s, hd);
        }
    }
}

/* The attention of one layer.  Fused (the threads divide the key/value
 * heads evenly): each thread computes the Q, K and V rows of its key/value
 * heads, their norms and RoPE, stores its keys and values, and runs their
 * attention, with no barrier.  Otherwise the products ran before; norms,
 * RoPE and the stores split by token, then attention spreads over all
 * threads after a barrier. */
typedef struct AttnRun {
    const PlumbModel *m;
    const PlumbLayer *L;
    PlumbFwd *f;
    PlumbKVCache *kv;
    int32_t layer;       /* layer index */
    int32_t pos0;        /* position of the first new token */
    int64_t n;           /* new tokens */
    int sink;            /* some token needs its query roped at the sink position */
    const PlumbMatTask *qkv; /* [3] Q, K, V products when fused, else NULL */
} AttnRun;

/* What the layer's attention does to the fresh products of tokens [t0, t1),
 * key/value heads [g0, g1) and their query heads: bias (PLUMB_ATTN_QKV_BIAS,
 * values too), per-head norm of Q and K (PLUMB_ATTN_QK_NORM), RoPE of Q and K
 * (and the sink copy of Q); then the keys and values go to the cache. */
static void prep_qkv(const AttnRun *r, int64_t t0, int64_t t1, int32_t g0, int32_t g1)
{
    const PlumbLayer *L = r->L;
    const int32_t group = r->m->info.n_head / r->m->info.n_head_kv, hd = r->m->info.head_dim;
    const int64_t nq = (int64_t)r->m->info.n_head * hd, width = (int64_t)r->m->info.n_head_kv * hd;
    const int norm = (L->kind.attn & PLUMB_ATTN_QK_NORM) != 0;
    const int bias = (L->kind.attn & PLUMB_ATTN_QKV_BIAS) != 0;
    prep_heads(r->m, r->f, r->f->q, nq, t0, t1, g0 * group, g1 * group, bias ? L->bq : NULL,
               norm ? L->q_norm : NULL, 0);
    if (r->sink) {
        for (int64_t t = t0; t < t1; t++)
            memcpy(r->f->q_sink + t * nq + (int64_t)g0 * group * hd, r->f->q + t * nq + (int64_t)g0 * group * hd,
                   (size_t)(g1 - g0) * (size_t)group * (size_t)hd * sizeof(float));
        prep_heads(r->m, r->f, r->f->q_sink, nq, t0, t1, g0 * group, g1 * group, NULL, NULL, 2);
    }
    prep_heads(r->m, r->f, r->f->q, nq, t0, t1, g0 * group, g1 * group, NULL, NULL, 1);
    prep_heads(r->m, r->f, r->f->kb, width, t0, t1, g0, g1, bias ? L->bk : NULL,
               norm ? L->k_norm : NULL, 1);
    if (bias)
        prep_heads(r->m, r->f, r->f->vb, width, t0, t1, g0, g1, L->bv, NULL, 0);
    plumb_kv_store(r->kv, &r->m->dsp, r->layer, r->pos0 + (int32_t)t0, (int32_t)(t1 - t0),
                   r->f->kb + t0 * width, r->f->vb + t0 * width, width, g0, g1);
}

static void attn_worker(void *arg, int ith, int nth)
{
    const AttnRun *r = arg;
    const PlumbModelInfo *in = &r->m->info;
    const int64_t hd = in->head_dim;
    const int32_t group = in->n_head / in->n_head_kv;
    const PlumbAttnJob job = { &r->m->dsp, r->kv, r->layer, { in->n_head, in->n_head_kv, in->head_dim },
                               r->f->q, r->sink ? r->f->q_sink : NULL, r->f->att, (int32_t)r->n,
                               r->pos0, &r->f->attn };
    int64_t lo, hi;

    if (r->qkv) {
        const PlumbDsp *dsp = &r->m->dsp;
        int64_t g0, g1;
        plumb_matmul_split(in->n_head_kv, 1, ith, nth, &g0, &g1);
        if (g0 >= g1)
            return;
        plumb_matmul_rows(dsp, r->qkv[0].w, 0, r->qkv[0].a, r->qkv[0].y, r->n, g0 * group * hd,
                          g1 * group * hd);
        plumb_matmul_rows(dsp, r->qkv[1].w, 0, r->qkv[1].a, r->qkv[1].y, r->n, g0 * hd, g1 * hd);
        plumb_matmul_rows(dsp, r->qkv[2].w, 0, r->qkv[2].a, r->qkv[2].y, r->n, g0 * hd, g1 * hd);
        prep_qkv(r, 0, r->n, (int32_t)g0, (int32_t)g1);
        plumb_attn_groups(&job, (int32_t)g0, (int32_t)g1, ith);
        return;
    }
    plumb_matmul_split(r->n, 1, ith, nth, &lo, &hi);
    prep_qkv(r, lo, hi, 0, in->n_head_kv);
    if (r->f->tp && nth > 1)
        plumb_threadpool_barrier(r->f->tp);
    plumb_attn_all(&job, r->f->tp, ith, nth);
}

static void ffn_dense(const PlumbModel *m, const PlumbLayer *L, PlumbFwd *f, const float *x,
                      float *out, int64_t n)
{
    const PlumbDsp *dsp = &m->dsp;
    const int64_t E = m->info.n_embd, FF = m->info.n_ff;
    const PlumbWeight *gu[2] = { &L->ffn_gate, &L->ffn_up };
    float *const gu_out[2] = { f->ff_gate, f->ff_up };
    const int64_t gu_stride[2] = { FF, FF };
    plumb_matmul_multi(f->tp, dsp, gu, 2, x, E, gu_out, gu_stride, n, &f->mm);
    for (int64_t t = 0; t < n; t++)
        dsp->swiglu(f->ff_hid + t * FF, f->ff_gate + t * FF, f->ff_up + t * FF, FF);
    plumb_matmul(f->tp, dsp, &L->ffn_down, 0, f->ff_hid, FF, out, E, n, &f->mm);
}

void plumb_forward(const PlumbModel *m, PlumbFwd *f, PlumbKVCache *kv, const int32_t *ids,
                   int64_t n, int64_t n_out, float *logits)
{
    const PlumbDsp *dsp = &m->dsp;
    const PlumbModelInfo *in = &m->info;
    const int64_t E = in->n_embd, hd = in->head_dim;
    const int64_t nq = (int64_t)in->n_head * hd, width = (int64_t)in->n_head_kv * hd;
    const int32_t pos0 = kv->n_used;
    int sink = 0;
    const float eps = in->rms_eps;

    /* token embeddings */
    for (int64_t t = 0; t < n; t++) {
        const char *row = (const char *)m->tok_embd.data + (uint64_t)ids[t] * m->tok_embd.row_bytes;
        dsp->to_float[m->tok_embd.type](row, f->x + t * E, E);
    }
    /* rotation of every position of the batch, shared by all heads and layers */
    for (int64_t t = 0; t < n; t++) {
        const int32_t sp = plumb_attn_sink_pos(kv, pos0 + (int32_t)t);
        plumb_rope_cache(&m->rope, pos0 + (int32_t)t, f->rope_cos + t * (hd / 2),
                         f->rope_sin + t * (hd / 2));
        if (sp != pos0 + (int32_t)t) {
            plumb_rope_cache(&m->rope, sp, f->sink_cos + t * (hd / 2), f->sink_sin + t * (hd / 2));
            sink = 1;
        } else { /* unused, but defined */
            memcpy(f->sink_cos + t * (hd / 2), f->rope_cos + t * (hd / 2), (size_t)(hd / 2) * sizeof(float));
            memcpy(f->sink_sin + t * (hd / 2), f->rope_sin + t * (hd / 2), (size_t)(hd / 2) * sizeof(float));
        }
    }

    for (int32_t l = 0; l < in->n_layer; l++) {
        const PlumbLayer *L = &m->layers[l];
        const PlumbWeight *qkv[3] = { &L->wq, &L->wk, &L->wv };
        float *const qkv_out[3] = { f->q, f->kb, f->vb };
        const int64_t qkv_stride[3] = { nq, width, width };
        PlumbMatTask tasks[3];
        AttnRun ar = { m, L, f, kv, l, pos0, n, sink, NULL };

        /* attention: Q, K and V to the run state, K and V on into the cache */
        for (int64_t t = 0; t < n; t++)
            dsp->rmsnorm(f->xb + t * E, f->x + t * E, L->attn_norm, E, eps);
        if (in->n_head_kv % f->n_threads == 0 &&
            plumb_matmul_prepare(dsp, qkv, 3, f->xb, E, qkv_out, qkv_stride, n, &f->mm, tasks) ==
                PLUMB_OK)
            ar.qkv = tasks;
        else
            plumb_matmul_multi(f->tp, dsp, qkv, 3, f->xb, E, qkv_out, qkv_stride, n, &f->mm);
        if (f->tp)
            plumb_threadpool_run(f->tp, attn_worker, &ar);
        else
            attn_worker(&ar, 0, 1);
        plumb_matmul(f->tp, dsp, &L->wo, 0, f->att, nq, f->xb2, E, n, &f->mm);
        for (int64_t i = 0; i < n * E; i++)
            f->x[i] += f->xb2[i];

        /* feed-forward */
        for (int64_t t = 0; t < n; t++)
            dsp->rmsnorm(f->xb + t * E, f->x + t * E, L->ffn_norm, E, eps);
        switch (L->kind.ffn) {
        case PLUMB_FFN_MOE:
            plumb_moe_forward(m, L, &f->moe, &f->mm, f->tp, f->xb, f->xb2, n);
            break;
        case PLUMB_FFN_DENSE:
            ffn_dense(m, L, f, f->xb, f->xb2, n);
            break;
        }
        for (int64_t i = 0; i < n * E; i++)
            f->x[i] += f->xb2[i];
    }
    plumb_kv_commit(kv, (int32_t)n);

    /* logits of the last n_out tokens only */
    if (n_out > 0) {
        const int64_t first = n - n_out;
        for (int64_t t = first; t < n; t++)
            dsp->rmsnorm(f->xb + t * E, f->x + t * E, m->output_norm, E, eps);
        plumb_matmul(f->tp, dsp, &m->output, 0, f->xb + first * E, E, logits, in->n_vocab, n_out,
                     &f->mm);
    }
}
