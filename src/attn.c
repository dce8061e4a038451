/* attn.c — causal grouped-query attention over the key/value cache (see attn.h). */
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
    const float scale = 1.0f / sqrtf((float)hd);

    for (int64_t t = 0; t < n; t++) {
        const int32_t n_kv = pos0 + (int32_t)t + 1; /* causal: keys 0..pos */
        for (int32_t h = h0; h < h1; h++) {
            const int32_t g = h / group;
            const float *qh = q + t * width_q + (int64_t)h * hd;
            float *oh = out + t * width_q + (int64_t)h * hd;
            for (int32_t j = 0; j < n_kv; j++)
                scores[j] = dsp->dot_f32(qh, plumb_kv_k(kv, layer, j) + (int64_t)g * hd, hd) * scale;
            dsp->softmax(scores, n_kv);
            memset(oh, 0, (size_t)hd * sizeof *oh);
            for (int32_t j = 0; j < n_kv; j++)
                dsp->axpy(oh, scores[j], plumb_kv_v(kv, layer, j) + (int64_t)g * hd, hd);
        }
    }
}
