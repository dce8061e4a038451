/*
 * kvcache.h — the key/value cache of one session.
 *
 * For every layer and every position of the context the cache holds the
 * roped key vector and the value vector of all key/value heads:
 * k[layer][pos][n_head_kv * head_dim], likewise v, as F32 or F16 (the
 * type is chosen at init; F16 halves the memory and the bytes attention
 * reads, and is what llama.cpp keeps by default).  Positions
 * [0, n_used) are valid; the forward pass appends at n_used and the session
 * advances n_used after a successful eval.  The cache owns its two arrays;
 * they are allocated zeroed once at init (pages are touched only as the
 * context fills) and never reallocated, so row pointers stay valid until
 * plumb_kv_free().
 */
#ifndef PLUMB_KVCACHE_H
#define PLUMB_KVCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "plumb.h"

typedef struct PlumbKVCache {
    int32_t n_layer; /* layers */
    int32_t n_ctx;   /* positions per layer (capacity) */
    int32_t width;   /* elements per position: n_head_kv * head_dim */
    int32_t n_used;  /* valid positions, 0 <= n_used <= n_ctx */
    uint32_t type;   /* PLUMB_QTYPE_F32 or PLUMB_QTYPE_F16 */
    size_t row_bytes; /* bytes per position: width elements of type */
    void *k;         /* [n_layer][n_ctx][width] of type */
    void *v;         /* [n_layer][n_ctx][width] of type */
} PlumbKVCache;

/* Allocate an empty cache of element type `type` (PLUMB_QTYPE_F32 or
 * PLUMB_QTYPE_F16; PLUMB_EINVAL otherwise).  PLUMB_ENOMEM (with the size)
 * when it cannot. */
int plumb_kv_init(PlumbKVCache *kv, int32_t n_layer, int32_t n_ctx, int32_t width, uint32_t type,
                  PlumbError *err);
void plumb_kv_free(PlumbKVCache *kv); /* zeroed or freed struct is fine */

/* Forget every position. */
void plumb_kv_clear(PlumbKVCache *kv);

/* Capacity in positions. */
static inline int32_t plumb_kv_n_ctx(const PlumbKVCache *kv)
{
    return kv->n_ctx;
}

/* PLUMB_OK when n more positions fit after the used ones, else PLUMB_ERANGE
 * "context full (N tokens)". */
int plumb_kv_reserve(const PlumbKVCache *kv, size_t n, PlumbError *err);

/* Row of layer l, position pos: width elements of kv->type. */
static inline void *plumb_kv_k(const PlumbKVCache *kv, int32_t l, int32_t pos)
{
    return (char *)kv->k + ((size_t)l * (size_t)kv->n_ctx + (size_t)pos) * kv->row_bytes;
}
static inline void *plumb_kv_v(const PlumbKVCache *kv, int32_t l, int32_t pos)
{
    return (char *)kv->v + ((size_t)l * (size_t)kv->n_ctx + (size_t)pos) * kv->row_bytes;
}

#endif
