/* kvcache.c — the key/value cache of one session (see kvcache.h). */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kvcache.h"
#include "qtypes.h"

int plumb_kv_init(PlumbKVCache *kv, int32_t n_layer, int32_t n_ctx, int32_t width, uint32_t type,
                  PlumbError *err)
{
    uint64_t n, bytes;
    size_t elem;
    memset(kv, 0, sizeof *kv);
    if (type != PLUMB_QTYPE_F32 && type != PLUMB_QTYPE_F16)
        return plumb_err(err, PLUMB_EINVAL, "kv cache: type %s is not supported (f32 or f16)",
                         plumb_qtype_name(type) ? plumb_qtype_name(type) : "unknown");
    elem = type == PLUMB_QTYPE_F16 ? sizeof(uint16_t) : sizeof(float);
    if (n_layer <= 0 || n_ctx <= 0 || width <= 0)
        return plumb_err(err, PLUMB_EINVAL, "kv cache: bad shape %d x %d x %d", (int)n_layer,
                         (int)n_ctx, (int)width);
    if (plumb_mul_overflow((uint64_t)n_layer, (uint64_t)n_ctx, &n) ||
        plumb_mul_overflow(n, (uint64_t)width, &n) ||
        plumb_mul_overflow(n, elem, &bytes) || bytes > (uint64_t)SIZE_MAX / 2)
        return plumb_err(err, PLUMB_ENOMEM, "kv cache: %d positions do not fit in memory",
                         (int)n_ctx);
    kv->k = calloc(n, elem);
    kv->v = calloc(n, elem);
    if (!kv->k || !kv->v) {
        plumb_kv_free(kv);
        return plumb_err(err, PLUMB_ENOMEM,
                         "kv cache: cannot allocate 2 x %llu MiB for %d positions",
                         (unsigned long long)(bytes >> 20), (int)n_ctx);
    }
    kv->n_layer = n_layer;
    kv->n_ctx = n_ctx;
    kv->width = width;
    kv->n_used = 0;
    kv->type = type;
    kv->row_bytes = (size_t)width * elem;
    return PLUMB_OK;
}

void plumb_kv_free(PlumbKVCache *kv)
{
    if (!kv)
        return;
    free(kv->k);
    free(kv->v);
    memset(kv, 0, sizeof *kv);
}

void plumb_kv_clear(PlumbKVCache *kv)
{
    /* Stale rows beyond n_used are never read: attention stops at the
     * current position, and new positions are written before use. */
    kv->n_used = 0;
}

int plumb_kv_reserve(const PlumbKVCache *kv, size_t n, PlumbError *err)
{
    if (n > (size_t)(kv->n_ctx - kv->n_used))
        return plumb_err(err, PLUMB_ERANGE, "context full (%d tokens)", (int)kv->n_ctx);
    return PLUMB_OK;
}
