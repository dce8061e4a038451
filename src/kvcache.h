/*
 * kvcache.h — the key/value cache of one sequence: paged, typed, windowed.
 *
 * For every layer, key/value head and position the cache holds the key row
 * (after RoPE, and after the Walsh-Hadamard rotation when `rotate` is set)
 * and the value row, each head_dim elements of its type: F32, F16, Q8_0 or
 * Q4_0 (keys and values may differ).  Positions are absolute: the token at
 * position p is stored once, at p, and never moved or rotated again.
 *
 * Memory comes in pages of PLUMB_KV_PAGE positions.  A page holds every
 * layer, laid out [layer][K, V][kv head][PLUMB_KV_PAGE rows], so the rows
 * of one layer and head inside a page are one contiguous stream for the
 * attention kernel.  pages[i] holds positions [i*PLUMB_KV_PAGE,
 * (i+1)*PLUMB_KV_PAGE) or is NULL: not reached yet, or dropped by the
 * window.  Pages are allocated as the sequence grows (memory follows the
 * positions held, not n_ctx) and kept on a free list when released.
 *
 * Window (window > 0): the token at position m attends to the sinks,
 * positions [0, keep), and to positions [m - window + 1, m].  Pages that
 * hold neither a sink nor a position some later token can attend to are
 * dropped when the cache makes room for new positions.  A sink key is
 * attended with the query rotated to position min(m, keep + window - 1), so
 * its distance from the query stays what it was the last time the whole
 * sequence was in view (see attn.h).
 *
 * Sharing: pages carry a reference count.  plumb_kv_fork() gives a second
 * cache the same page table; a page shared with another cache is copied
 * before either writes into it (plumb_kv_reserve does it).  Reference counts
 * are atomic, so caches sharing pages may live on different threads; one
 * cache is used by one thread at a time.
 *
 * Nothing outside kvcache.c touches pages but through these functions.
 */
#ifndef PLUMB_KVCACHE_H
#define PLUMB_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "dsp.h"
#include "plumb.h"

#define PLUMB_KV_PAGE 256 /* positions per page */

typedef struct PlumbKVParams {
    int32_t n_layer;   /* layers */
    int32_t n_head_kv; /* key/value heads per layer */
    int32_t head_dim;  /* elements per head row: a multiple of 32 for Q8_0 and
                          Q4_0, a power of two for the rotation */
    int32_t n_ctx;     /* positions a sequence may reach, >= 1 */
    uint32_t type_k;   /* PLUMB_QTYPE_F32, F16, Q8_0 or Q4_0 */
    uint32_t type_v;   /* likewise */
    int rotate;        /* non-zero: keys rotated by the normalised Walsh-Hadamard
                          transform of each head before they are stored */
    int32_t window;    /* 0 = every position is attended; else positions attended
                          besides the sinks, >= 1 */
    int32_t keep;      /* sinks (window > 0): the first positions, >= 1 */
} PlumbKVParams;

typedef struct PlumbKVPage PlumbKVPage; /* opaque: a reference count and the rows */

typedef struct PlumbKVCache {
    PlumbKVParams p;      /* as given to plumb_kv_init */
    uint64_t k_row;       /* bytes of one head's key row */
    uint64_t v_row;       /* bytes of one head's value row */
    uint64_t page_bytes;  /* bytes of rows in one page (all layers) */
    int32_t n_used;       /* positions written: the next token goes to n_used */
    int32_t n_pages;      /* entries of pages: ceil(n_ctx / PLUMB_KV_PAGE) */
    PlumbKVPage **pages;  /* [n_pages] page of positions [i*PAGE, (i+1)*PAGE), or NULL */
    PlumbKVPage *free_list; /* pages released by this cache, for reuse */
    int32_t n_free;       /* pages on free_list */
    int32_t n_live;       /* pages referenced by pages[] */
} PlumbKVCache;

/* An empty cache.  PLUMB_EINVAL naming the field for a bad shape, type or
 * window; PLUMB_ENOMEM when the page table does not fit.  No rows are
 * allocated yet. */
int plumb_kv_init(PlumbKVCache *kv, const PlumbKVParams *p, PlumbError *err);
void plumb_kv_free(PlumbKVCache *kv); /* zeroed or freed struct is fine */

/* Forget every position (pages go to the free list). */
void plumb_kv_clear(PlumbKVCache *kv);

/* Capacity in positions. */
static inline int32_t plumb_kv_n_ctx(const PlumbKVCache *kv)
{
    return kv->p.n_ctx;
}

/* Make positions [n_used, n_used + n) writable: PLUMB_ERANGE "context full
 * (N tokens)" when they pass n_ctx; with a window, first drop the pages no
 * token from n_used - 1 on can attend to (so the last position can be
 * evaluated again); allocate the missing pages and copy
 * the shared ones.  PLUMB_ENOMEM (nothing changed but dropped pages) when
 * memory runs out. */
int plumb_kv_reserve(PlumbKVCache *kv, size_t n, PlumbError *err);

/* Store the keys and values of positions [pos, pos + n) of layer `layer`,
 * heads [g0, g1): k and v point at position pos's row of all heads (floats,
 * n_head_kv * head_dim each, rows `stride` floats apart).  Keys are rotated
 * first when p.rotate is set.  The positions must have been reserved.
 * Different threads may store disjoint head ranges of the same positions. */
void plumb_kv_store(PlumbKVCache *kv, const PlumbDsp *dsp, int32_t layer, int32_t pos, int32_t n,
                    const float *k, const float *v, int64_t stride, int32_t g0, int32_t g1);

/* Advance n_used by n after the positions were stored. */
void plumb_kv_commit(PlumbKVCache *kv, int32_t n);

/* The key (value) row of layer `layer`, head g at position pos; the rows of
 * the following positions of the same page follow at k_row (v_row) bytes.
 * The page must be held (plumb_kv_has). */
const void *plumb_kv_k(const PlumbKVCache *kv, int32_t layer, int32_t g, int32_t pos);
const void *plumb_kv_v(const PlumbKVCache *kv, int32_t layer, int32_t g, int32_t pos);

/* Non-zero when position pos's page is held. */
int plumb_kv_has(const PlumbKVCache *kv, int32_t pos);

/* Keep positions [0, n): the pages past them are released.  PLUMB_ERANGE
 * when n > n_used, or when 0 < n and the window has dropped positions the
 * token at n would attend to (the sequence cannot continue from there). */
int plumb_kv_truncate(PlumbKVCache *kv, int32_t n, PlumbError *err);

/* Smallest n > 0 that plumb_kv_truncate accepts (0 for a dense cache or
 * when nothing was dropped). */
int32_t plumb_kv_min_truncate(const PlumbKVCache *kv);

/* dst becomes a cache with src's parameters and positions, sharing its pages
 * (dst must not be initialised; free it with plumb_kv_free). */
int plumb_kv_fork(const PlumbKVCache *src, PlumbKVCache *dst, PlumbError *err);

/* Rotate x (n floats, n a power of two) by the normalised Walsh-Hadamard
 * transform in place: an orthogonal map, so dot products are kept. */
void plumb_kv_hadamard(float *x, int32_t n);

/* For saving and loading (kvfile.c): the rows of page i (page_bytes bytes),
 * or NULL when the page is not held. */
const void *plumb_kv_page_rows(const PlumbKVCache *kv, int32_t i);
/* A fresh, unshared page at index i (released first if held) to fill;
 * NULL with PLUMB_ENOMEM set in err. */
void *plumb_kv_page_fill(PlumbKVCache *kv, int32_t i, PlumbError *err);

/* Bytes of rows held (pages referenced times page_bytes). */
uint64_t plumb_kv_bytes(const PlumbKVCache *kv);

#endif
