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
    float *part;     /* one token's partials: [n_head_kv][runs][group][head_dim + 2] */
    int32_t max_runs;/* runs one token can have: pages + 1 */
    float *state;    /* per thread: [block][group][head_dim + 2] running results */
    unsigned char *qbuf; /* per thread: a block's queries in the keys' activation type */
    size_t qbuf_bytes;   /* bytes of qbuf per thread */
} PlumbAttnScratch;

int plumb_attn_scratch_init(PlumbAttnScratch *s, const PlumbAttnShape *shape, int32_t n_batch,
                            int32_t n_ctx, int n_threads, PlumbError *err);
void plumb_attn_scratch_free(PlumbAttnScratch *s);

/* What plumb_attn_* read: the attention of n tokens at positions pos0 ..
 * pos0 + n - 1 of layer `layer`, whose keys and values are in kv already. */
typedef struct PlumbAttnJob {
    const PlumbDsp *dsp;
    const PlumbKVCache *kv;
    int32_t layer;
    PlumbAttnShape shape;
    const float *q;      /* [n][n_head * head_dim] queries roped at their positions */
    const float *q_sink; /* the same roped at plumb_attn_sink_pos(), or NULL when no
                            token of the batch needs it */
    float *out;          /* [n][n_head * head_dim] */
    int32_t n;           /* tokens */
    int32_t pos0;        /* position of the first */
    PlumbAttnScratch *s;
} PlumbAttnJob;

/* All the work of key/value heads [g0, g1) on the calling thread (thread
 * ith's scratch); no barrier. */
void plumb_attn_groups(const PlumbAttnJob *job, int32_t g0, int32_t g1, int ith);
/* The whole attention spread over the nth threads of tp running this call
 * together (each calls it with its ith; tp's barriers inside; tp may be NULL
 * when nth is 1). */
void plumb_attn_all(const PlumbAttnJob *job, PlumbThreadpool *tp, int ith, int nth);

/* The position a sink is attended from by the token at m (see above). */
static inline int32_t plumb_attn_sink_pos(const PlumbKVCache *kv, int32_t m)
{
    const int64_t last = (int64_t)kv->p.keep + kv->p.window - 1;
    return kv->p.window && m > last ? (int32_t)last : m;
}

#endif
