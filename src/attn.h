/*
 * attn.h — causal grouped-query attention over the paged key/value cache.
 *
 * For a new token at position m and query head h, with key/value head
 * g = h / (n_head / n_head_kv):
 *   s_j = (q_h . k_g[j]) / sqrt(head_dim)   for every position j it attends to
 *   o_h = sum_j softmax(s)_j v_g[j]
 * It attends to [0, m] in a dense cache.  With a window W and keep N sinks
 * it attends to [max(N, m - W + 1), m] with its query as roped at m, and to
 * the sinks [0, N) with its query roped at min(m, N + W - 1) (StreamingLLM's
 * positions: a sink's distance from the query stops growing once the
 * window slides); while m <= N + W - 1 the two queries are the same and
 * every position [0, m] is attended, as in a dense cache.
 *
 * The work is cut into runs: the positions one query attends to within
 * one page (PLUMB_KV_PAGE positions), split where the query changes (sinks
 * then window).  Each run gives a partial result (dsp->attn: maximum, sum of
 * weights, weighted sum of values) for all query heads of one key/value
 * head, so K and V are read once per group; the partials of a query are
 * merged in position order.  Run boundaries depend only on positions, and
 * the merge order is fixed, so the result is the same bits for any number
 * of threads and for a token evaluated alone or in a batch.
 *
 * A single token (decode) spreads runs of every page across threads and
 * merges after a barrier; a batch (prefill) gives each thread blocks of
 * tokens of one group, which walk the pages in order, so a page's rows are
 * read once per block of tokens; runs fully outside a token's view (causal
 * or window) are skipped.
 */
#ifndef PLUMB_ATTN_H
#define PLUMB_ATTN_H

#include <stdint.h>

#include "dsp.h"
#include "kvcache.h"
#include "threadpool.h"

typedef struct PlumbAttnShape {
    int32_t n_head;    /* query heads */
    int32_t n_head_kv; /* key/value heads, divides n_head; group = n_head / n_head_kv
                          <= PLUMB_ATTN_MAX_Q */
    int32_t head_dim;  /* floats per head */
} PlumbAttnShape;

/* Scratch of one forward pass's attention, sized for n_batch tokens, n_ctx
 * positions and n_threads threads. */
typedef struct PlumbAttnScratch {
    int32_t n_batch, n_ctx, n_threads; /* what it was sized for */
    void *qk;        /* [n_batch][n_head] queries in the keys' activation type */
    void *qk_sink;   /* [n_batch][n_head] the sink queries likewise */
    float *part;     /* decode partials: [n_head_kv][pages][group][head_dim + 2] */
    float *state;    /* prefill: per thread [block][group][head_dim + 2] */
    uint64_t q_row;  /* bytes of one converted query head */
} PlumbAttnScratch;

int plumb_attn_scratch_init(PlumbAttnScratch *s, const PlumbAttnShape *shape, int32_t n_batch,
                            int32_t n_ctx, int n_threads, PlumbError *err);
void plumb_attn_scratch_free(PlumbAttnScratch *s);

/* Attention of n tokens at positions pos0 .. pos0 + n - 1 of layer `layer`,
 * whose keys and values are in kv already.  q: [n][n_head * head_dim] roped
 * queries; q_sink: the same queries roped at the sink position (see above),
 * or NULL when no token of the batch needs it; out: [n][n_head * head_dim].
 * Runs on tp (NULL: this thread). */
void plumb_attn(const PlumbDsp *dsp, PlumbThreadpool *tp, const PlumbKVCache *kv, int32_t layer,
                const PlumbAttnShape *shape, const float *q, const float *q_sink, float *out,
                int32_t n, int32_t pos0, PlumbAttnScratch *s);

/* The position a sink is attended from by the token at m (see above). */
static inline int32_t plumb_attn_sink_pos(const PlumbKVCache *kv, int32_t m)
{
    const int64_t last = (int64_t)kv->p.keep + kv->p.window - 1;
    return kv->p.window && m > last ? (int32_t)last : m;
}

#endif
