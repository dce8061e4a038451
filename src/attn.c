/* attn.c — causal grouped-query attention over the key/value cache (see attn.h).
 *
 * The query heads sharing a key/value head are taken together, so the cache
 * is read once per group instead of once per query head.  The scores of a
 * group come from the tiled float product dsp->gemm[F32] (keys as weight
 * rows, the group's query heads as activation rows) where the tier has one,
 * else from dot_f32 per key; the outputs are the probabilities times the
 * value rows, dsp->mix_f32 (register tiles of heads x columns while the
 * value rows stream past).  Every element is computed with the same
 * operations whatever the split of heads across threads. */
#include "config.h"

#include <math.h>
#include <string.h>

#include "attn.h"

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
    const PlumbGemmFn gemm = dsp->gemm[PLUMB_QTYPE_F32];
    const uint64_t kstride = (uint64_t)kv->width * sizeof(float); /* bytes between cached keys */

    for (int64_t t = 0; t < n; t++) {
        const int32_t n_kv = pos0 + (int32_t)t + 1; /* causal: keys 0..pos */
        for (int32_t h = h0; h < h1;) {
            /* heads h .. he-1 share key/value head g */
            const int32_t g = h / group;
            const int32_t he = (g + 1) * group < h1 ? (g + 1) * group : h1;
            const float *qt = q + t * width_q;
            float *ot = out + t * width_q;
            if (gemm) {
                /* at most ATTN_CHUNK heads per call (pointer arrays on the stack) */
                for (int32_t c = h; c < he; c += ATTN_CHUNK) {
                    const void *qa[ATTN_CHUNK];
                    float *sy[ATTN_CHUNK];
                    const int32_t ce = c + ATTN_CHUNK < he ? c + ATTN_CHUNK : he;
                    for (int32_t i = c; i < ce; i++) {
                        qa[i - c] = qt + (int64_t)i * hd;
                        sy[i - c] = scores + (i - h) * n_ctx;
                    }
                    gemm(hd, plumb_kv_k(kv, layer, 0) + (int64_t)g * hd, kstride, 0, n_kv, qa, sy,
                         ce - c);
                }
                for (int32_t i = h; i < he; i++)
                    dsp->scale(scores + (i - h) * n_ctx, scale, n_kv);
            } else {
                for (int32_t j = 0; j < n_kv; j++) {
                    const float *k = plumb_kv_k(kv, layer, j) + (int64_t)g * hd;
                    for (int32_t i = h; i < he; i++)
                        scores[(i - h) * n_ctx + j] =
                            dsp->dot_f32(qt + (int64_t)i * hd, k, hd) * scale;
                }
            }
            for (int32_t i = h; i < he; i++)
                dsp->softmax(scores + (i - h) * n_ctx, n_kv);
            dsp->mix_f32(ot + (int64_t)h * hd, hd, scores, n_ctx, plumb_kv_v(kv, layer, 0) + (int64_t)g * hd,
                         kv->width, he - h, hd, n_kv);
            h = he;
        }
    }
}
