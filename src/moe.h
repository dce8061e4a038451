/*
 * moe.h — the mixture-of-experts feed-forward block (PLUMB_FFN_MOE, the
 * layers of qwen3moe).
 *
 * For each token x (already RMS-normed):
 *   p      = softmax(router x)                    over all n_expert experts
 *   E      = the n_expert_used largest p (largest first, lower id on ties)
 *   w_e    = p_e / max(sum_{E} p, 2^-14)          weights renormalised over E
 *   out    = sum_{e in E, in that order} w_e * down_e(silu(gate_e x) * up_e x)
 * as llama.cpp's qwen3moe graph (softmax gating, norm_w, no weight scale).
 *
 * A batch is grouped by expert: the tokens routed to expert e are gathered
 * and e's three matrices are read once per batch, not once per token.
 * PlumbMoE is scratch owned by the forward state, sized for a batch of
 * n_batch tokens at init; nothing is allocated per call.
 *
 * Threads: for one token (decode) one pool run with two barriers, work
 * handed out by counter (see moe_decode_worker in moe.c).  For a batch, one pool run per layer in three
 * phases separated by barriers.
 * (1) every thread computes the same share of the gate and up rows of every
 * chosen expert (so a skewed routing still splits evenly); (2) SwiGLU and
 * the quantisation of the hidden rows, split by (token, expert) pair;
 * (3) every thread computes its share of the down rows of every chosen
 * expert and then, for those output elements only, the weighted sum in rank
 * order.  Each element is computed by one thread with the same operations
 * whatever the number of threads.
 */
#ifndef PLUMB_MOE_H
#define PLUMB_MOE_H

#include <stdint.h>

#include "matmul.h"
#include "model.h"
#include "threadpool.h"

typedef struct PlumbMoE {
    int32_t n_batch;   /* tokens the buffers hold */
    float *probs;      /* [n_batch][n_expert] router logits, then probabilities */
    int32_t *sel;      /* [n_batch][n_used] chosen experts, best first */
    float *w;          /* [n_batch][n_used] renormalised weights */
    int32_t *count;    /* [n_expert + 1] pairs per expert, then start offsets */
    int32_t *order;    /* [n_batch * n_used] pair ids (t * n_used + j) grouped by expert */
    void *qgate;       /* [n_batch] token rows quantised for gate_exps */
    void *qup;         /* [n_batch] token rows quantised for up_exps */
    void *qdown;       /* [n_batch * n_used] hidden rows quantised for down_exps */
    float *gate;       /* [n_batch * n_used][n_ff_exp] */
    float *up;         /* [n_batch * n_used][n_ff_exp] */
    float *hid;        /* [n_batch * n_used][n_ff_exp] silu(gate) * up */
    float *down;       /* [n_batch * n_used][n_embd] expert outputs */
    const void **ain;  /* [n_batch * n_used] gate input rows, in expert order */
    const void **aup;  /* [n_batch * n_used] up input rows, in expert order */
    const void **ahid; /* [n_batch * n_used] quantised hidden rows, in expert order */
    float **yg;        /* [n_batch * n_used] gate output rows, in expert order */
    float **yu;        /* [n_batch * n_used] up output rows, in expert order */
    float **yd;        /* [n_batch * n_used] down output rows, in expert order */
    int32_t *sel_scratch; /* [n_expert] experts chosen by a batch, for the advice */
    int advise;        /* non-zero: madvise(WILLNEED) the chosen experts' rows */
} PlumbMoE;

int plumb_moe_init(PlumbMoE *s, const PlumbModel *m, int32_t n_batch, PlumbError *err);
void plumb_moe_free(PlumbMoE *s);

/* out[t] = MoE(x[t]) for t < n (n <= n_batch); x, out: [n][n_embd].  tp
 * may be NULL (everything on the caller). */
void plumb_moe_forward(const PlumbModel *m, const PlumbLayer *L, PlumbMoE *s,
                       PlumbMatmulScratch *ms, PlumbThreadpool *tp, const float *x, float *out,
                       int64_t n);

#endif
