/* attn.c — causal grouped-query attention over the key/value cache (see attn.h).
 *
 * The query heads sharing a key/value head are taken together: each key row
 * is dotted with all of them while it is in L1, and each value row is added
 * into all of their outputs, so the cache is read once per group instead of
 * once per query head.  Per head the operations are those of one head at a
 * time (the same dot, softmax and axpy calls in the same order). */
#include "config.h"

#include <math.h>
#include <string.h>

#include "attn.h"

void plumb_attn(const PlumbDsp *dsp, const PlumbKVCache *kv, int32_t layer,
                const PlumbAttnShape *shape, const float *q, float *out, int64_t n,
                int32_t pos0, int32_t h0, int32_t h1, float *scores)
{
    const int32_t hd = shape->head_dim;
    const int32_t group = shape->n_head / shape->n_head_kv;
    const int64_t width_q = (int64_t)shape->n_head * hd;
    const int64_t n_ctx = (int64_t)pos0 + n; /* stride of a head's scores */
    const float scale = 1.0f / sqrtf((float)hd);

    for (int64_t t = 0; t < n; t++) {
        const int32_t n_kv = pos0 + (int32_t)t + 1; /* causal: keys 0..pos */
        for (int32_t h = h0; h < h1;) {
            /* heads h .. he-1 share key/value head g */
            const int32_t g = h / group;
            const int32_t he = (g + 1) * group < h1 ? (g + 1) * group : h1;
            const float *qt = q + t * width_q;
            float *ot = out + t * width_q;
            for (int32_t j = 0; j < n_kv; j++) {
                const float *k = plumb_kv_k(kv, layer, j) + (int64_t)g * hd;
                for (int32_t i = h; i < he; i++)
                    scores[(i - h) * n_ctx + j] = dsp->dot_f32(qt + (int64_t)i * hd, k, hd) * scale;
            }
            for (int32_t i = h; i < he; i++) {
                dsp->softmax(scores + (i - h) * n_ctx, n_kv);
                memset(ot + (int64_t)i * hd, 0, (size_t)hd * sizeof(float));
            }
            for (int32_t j = 0; j < n_kv; j++) {
                const float *v = plumb_kv_v(kv, layer, j) + (int64_t)g * hd;
                for (int32_t i = h; i < he; i++)
                    dsp->axpy(ot + (int64_t)i * hd, scores[(i - h) * n_ctx + j], v, hd);
            }
            h = he;
        }
    }
}
