/*
 * forward.h — the forward pass: token ids in, logits out.
 *
 * PlumbFwd is the run state of one session: every activation buffer the
 * pass needs, sized once at init for a batch of up to n_batch tokens and a
 * context of n_ctx positions, so evaluating a token allocates nothing.  The
 * pass reads the model (immutable) and appends the new tokens' keys and
 * values to the session's cache.
 *
 * PlumbFwd borrows the model's thread pool (plumb_model_runtime); the
 * caller holds the model's run_lock around plumb_forward() so that sessions
 * on other threads take turns on it.  Every matrix
 * product splits its rows across the pool, attention splits the query
 * heads, and the MoE block runs as one pool run in phases (see moe.h).
 * Each output element is computed by exactly one thread with the same
 * operations whatever the number of threads, so the logits do not depend
 * on it.
 */
#ifndef PLUMB_FORWARD_H
#define PLUMB_FORWARD_H

#include <stdint.h>

#include "attn.h"
#include "kvcache.h"
#include "matmul.h"
#include "model.h"
#include "moe.h"
#include "threadpool.h"

typedef struct PlumbFwd {
    int32_t n_batch;  /* most tokens one plumb_forward() call takes */
    int32_t n_ctx;    /* positions the attention scratch covers */
    float *x;         /* [n_batch][n_embd] residual stream */
    float *xb;        /* [n_batch][n_embd] normed input of a sub-layer */
    float *xb2;       /* [n_batch][n_embd] output of a sub-layer */
    float *q;         /* [n_batch][n_head * head_dim] queries */
    float *kb;        /* [n_batch][n_head_kv * head_dim] new keys before the cache */
    float *vb;        /* [n_batch][n_head_kv * head_dim] new values likewise */
    float *q_sink;    /* [n_batch][n_head * head_dim] queries roped at the sink position */
    float *att;       /* [n_batch][n_head * head_dim] attention output */
    PlumbAttnScratch attn; /* attention partials and converted queries */
    float *rope_cos;  /* [n_batch][head_dim / 2] per position of the batch */
    float *rope_sin;  /* [n_batch][head_dim / 2] */
    float *sink_cos;  /* [n_batch][head_dim / 2] at each token's sink position */
    float *sink_sin;  /* [n_batch][head_dim / 2] */
    float *ff_gate;   /* [n_batch][n_ff] dense FFN blocks */
    float *ff_up;     /* [n_batch][n_ff] */
    float *ff_hid;    /* [n_batch][n_ff] */
    PlumbMatmulScratch mm; /* quantised activations of n_batch rows */
    PlumbMoE moe;     /* expert scratch (qwen3moe) */
    PlumbThreadpool *tp; /* the model's, borrowed; NULL with one thread */
    int n_threads;    /* threads of the pool, caller included (>= 1) */
} PlumbFwd;

int plumb_fwd_init(PlumbFwd *f, const PlumbModel *m, int32_t n_batch, int32_t n_ctx,
                   PlumbError *err);
void plumb_fwd_free(PlumbFwd *f);

/* Run n tokens (1 <= n <= n_batch) at positions kv->n_used .. +n; the cache
 * must have room (plumb_kv_reserve).  Writes the logits of the last n_out
 * tokens (0 <= n_out <= n) to logits[n_out][n_vocab] and advances
 * kv->n_used by n.  Token ids must be in range (the caller checks). */
void plumb_forward(const PlumbModel *m, PlumbFwd *f, PlumbKVCache *kv, const int32_t *ids,
                   int64_t n, int64_t n_out, float *logits);

/* cos[i], sin[i] for i < n_dims/2 at position pos: ggml's rope_yarn with the
 * frequencies built by repeated multiplication, as ggml builds them. */
void plumb_rope_cache(const PlumbRope *r, int32_t pos, float *cos_out, float *sin_out);

#endif
