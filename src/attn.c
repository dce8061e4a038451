/* attn.c — causal grouped-query attention over the key/value cache (see attn.h).
 *
 * The query heads sharing a key/value head are taken together, so the cache
 * is read once per group instead of once per query head.  The scores of a
 * group come from the tiled float product dsp->gemm[type] of the cache's
 * type (keys as weight rows, the group's query heads as activation rows,
 * converted to F16 first for an F16 cache, as ggml does) where the tier
 * has one, else from vec_dot per key; the outputs are the probabilities
 * times the value rows, dsp->mix[type] (register tiles of heads x columns
 * while the value rows stream past).  Every element is computed with the same
 * operations whatever the split of heads across threads. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "attn.h"
#include "model.h"

#define ATTN_CHUNK 16 /* query heads per tiled call */

void plumb_attn(const PlumbDsp *dsp, const PlumbKVCache *kv, int32_t layer,
                const PlumbAttnShape *shape, const float *q, float *out, int64_t n,
                int32_t pos0, int32_t h0, int32_t h1, float *scores)
{
    const int32_t hd = shape->head_dim;
    const int32_t group = shape->n_head / shape->n_head_kv;
    const int64_t width_q = (int64_t)shape->n_head * hd;
    const int64_t n_ctx = (int64_t)pos0 + n; /* stride of a head's scores */
    const float scale = 1.0f / sqrtf((float)hd);
    const uint32_t kt = kv->type;
    const size_t esize = kv->row_bytes / (size_t)kv->width; /* bytes per cached element */
    const PlumbGemmFn gemm = dsp->gemm[kt];
    const PlumbVecDotFn dot = dsp->vec_dot[kt];
    const int conv = kt != PLUMB_QTYPE_F32; /* queries to the cache's type first */
    /* the queries of up to ATTN_CHUNK heads in the cache's type */
    uint16_t qh[ATTN_CHUNK * PLUMB_MAX_HEAD_DIM];

    for (int64_t t = 0; t < n; t++) {
        const int32_t n_kv = pos0 + (int32_t)t + 1; /* causal: keys 0..pos */
        for (int32_t h = h0; h < h1;) {
            /* heads h .. he-1 share key/value head g */
            const int32_t g = h / group;
            const int32_t he = (g + 1) * group < h1 ? (g + 1) * group : h1;
            const float *qt = q + t * width_q;
            float *ot = out + t * width_q;
            const char *keys = (const char *)plumb_kv_k(kv, layer, 0) + (size_t)g * (size_t)hd * esize;
            for (int32_t c = h; c < he; c += ATTN_CHUNK) {
                /* at most ATTN_CHUNK heads at a time (arrays on the stack) */
                const void *qa[ATTN_CHUNK];
                float *sy[ATTN_CHUNK];
                const int32_t ce = c + ATTN_CHUNK < he ? c + ATTN_CHUNK : he;
                for (int32_t i = c; i < ce; i++) {
                    qa[i - c] = qt + (int64_t)i * hd;
                    if (conv) {
                        dsp->from_float[kt](qt + (int64_t)i * hd, qh + (int64_t)(i - c) * hd, hd);
                        qa[i - c] = qh + (int64_t)(i - c) * hd;
                    }
                    sy[i - c] = scores + (i - h) * n_ctx;
                }
                if (gemm)
                    gemm(hd, keys, kv->row_bytes, 0, n_kv, qa, sy, ce - c);
                else
                    for (int32_t j = 0; j < n_kv; j++)
                        for (int32_t i = c; i < ce; i++)
                            dot(hd, &sy[i - c][j], keys + (size_t)j * kv->row_bytes, qa[i - c]);
            }
            for (int32_t i = h; i < he; i++) {
                dsp->scale(scores + (i - h) * n_ctx, scale, n_kv);
                dsp->softmax(scores + (i - h) * n_ctx, n_kv);
            }
            dsp->mix[kt](ot + (int64_t)h * hd, hd, scores, n_ctx,
                         (const char *)plumb_kv_v(kv, layer, 0) + (size_t)g * (size_t)hd * esize, kv->width, he - h,
                         hd, n_kv);
            h = he;
        }
    }
}
