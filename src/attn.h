/*
 * attn.h — causal grouped-query attention over the key/value cache.
 *
 * For each new token t (position pos0 + t) and query head h, with key/value
 * head g = h / (n_head / n_head_kv):
 *   s[j] = (q_h . k_g[j]) / sqrt(head_dim)       for j <= pos0 + t
 *   p    = softmax(s)                             (max-subtracted, in float)
 *   o_h  = sum_j p[j] v_g[j]
 * as ggml's soft_max with the scale applied to the scores.  The cache must
 * already hold the keys and values of the new tokens.  Each call covers the
 * query heads [h0, h1) of every token, so threads split the heads: every
 * output element is written by one call, with the same operations whatever
 * the split.
 */
#ifndef PLUMB_ATTN_H
#define PLUMB_ATTN_H

#include <stdint.h>

#include "dsp.h"
#include "kvcache.h"

typedef struct PlumbAttnShape {
    int32_t n_head;    /* query heads */
    int32_t n_head_kv; /* key/value heads, divides n_head */
    int32_t head_dim;  /* floats per head */
} PlumbAttnShape;

/* q: [n][n_head*head_dim] roped queries; out: [n][n_head*head_dim], heads
 * [h0, h1) written; scores: scratch of (n_head / n_head_kv) * (pos0 + n)
 * floats. */
void plumb_attn(const PlumbDsp *dsp, const PlumbKVCache *kv, int32_t layer,
                const PlumbAttnShape *shape, const float *q, float *out, int64_t n,
                int32_t pos0, int32_t h0, int32_t h1, float *scores);

#endif
