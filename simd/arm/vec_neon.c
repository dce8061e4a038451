/*
 * vec_neon.c — AArch64 AdvSIMD (NEON) vector operations of the forward
 * pass: rmsnorm, NeoX RoPE, softmax, SwiGLU, dot, axpy, scale, top-k.
 *
 * Invariants (see the C references in simd/dsp.c):
 *  - element-wise arithmetic is the reference's, operation for operation
 *    (separate multiplies and adds, never fused), so rope_neox, axpy and
 *    scale give the same bits, and rmsnorm too up to the order of its
 *    double-precision sum of squares;
 *  - exp is SLEEF's AdvSIMD expf (1.0 ULP), so softmax and swiglu are
 *    within a few ULP of the libm reference;
 *  - dot_f32 sums in float lanes (the reference sums in double);
 *  - topk selects exactly the reference's indices in the reference's order
 *    (larger first, lower index first on ties, NaN ranks as -inf).
 * Tails that are not a multiple of the vector width are handled in every
 * function; nothing is read or written past n elements.
 */
#include "config.h"

#include <math.h>
#include <sleef.h>
#include <string.h>

#include "arm_util.h"
#include "dsp.h"

/* Sum of squares (each square rounded to float) accumulated in double. */
static double sum_squares(const float *x, int64_t n)
{
    float64x2_t acc[4] = { vdupq_n_f64(0.0), vdupq_n_f64(0.0), vdupq_n_f64(0.0), vdupq_n_f64(0.0) };
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float32x4_t a = vld1q_f32(x + i), b = vld1q_f32(x + i + 4);
        const float32x4_t a2 = vmulq_f32(a, a), b2 = vmulq_f32(b, b);
        acc[0] = vaddq_f64(acc[0], vcvt_f64_f32(vget_low_f32(a2)));
        acc[1] = vaddq_f64(acc[1], vcvt_high_f64_f32(a2));
        acc[2] = vaddq_f64(acc[2], vcvt_f64_f32(vget_low_f32(b2)));
        acc[3] = vaddq_f64(acc[3], vcvt_high_f64_f32(b2));
    }
    double sum = vaddvq_f64(vaddq_f64(vaddq_f64(acc[0], acc[1]), vaddq_f64(acc[2], acc[3])));
    for (; i < n; i++)
        sum += (double)(x[i] * x[i]);
    return sum;
}

static void rmsnorm_neon(float *y, const float *x, const float *w, int64_t n, float eps)
{
    const float mean = (float)(sum_squares(x, n) / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, vmulq_f32(vmulq_n_f32(vld1q_f32(x + i), scale), vld1q_f32(w + i)));
    for (; i < n; i++)
        y[i] = x[i] * scale * w[i];
}

static void rope_neox_neon(float *x, const float *cos, const float *sin, int64_t n)
{
    const int64_t h = n / 2;
    int64_t i = 0;
    for (; i + 4 <= h; i += 4) {
        const float32x4_t x0 = vld1q_f32(x + i), x1 = vld1q_f32(x + i + h);
        const float32x4_t c = vld1q_f32(cos + i), s = vld1q_f32(sin + i);
        vst1q_f32(x + i, vsubq_f32(vmulq_f32(x0, c), vmulq_f32(x1, s)));
        vst1q_f32(x + i + h, vaddq_f32(vmulq_f32(x0, s), vmulq_f32(x1, c)));
    }
    for (; i < h; i++) {
        const float x0 = x[i], x1 = x[i + h];
        x[i] = x0 * cos[i] - x1 * sin[i];
        x[i + h] = x0 * sin[i] + x1 * cos[i];
    }
}

/* Up to 4 floats into a vector (the rest padded with pad), and back. */
static inline float32x4_t load_tail(const float *x, int64_t m, float pad)
{
    float t[4] = { pad, pad, pad, pad };
    memcpy(t, x, (size_t)m * sizeof(float));
    return vld1q_f32(t);
}

static inline void store_tail(float *y, float32x4_t v, int64_t m)
{
    float t[4];
    vst1q_f32(t, v);
    memcpy(y, t, (size_t)m * sizeof(float));
}

static void softmax_neon(float *x, int64_t n)
{
    float32x4_t mv = vdupq_n_f32(-INFINITY);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        mv = vmaxq_f32(mv, vld1q_f32(x + i));
    float max = vmaxvq_f32(mv);
    for (; i < n; i++)
        max = x[i] > max ? x[i] : max;

    const float32x4_t mx = vdupq_n_f32(max);
    float64x2_t s0 = vdupq_n_f64(0.0), s1 = vdupq_n_f64(0.0);
    for (i = 0; i + 4 <= n; i += 4) {
        const float32x4_t e = Sleef_expf4_u10advsimd(vsubq_f32(vld1q_f32(x + i), mx));
        vst1q_f32(x + i, e);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(e)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(e));
    }
    double sum = vaddvq_f64(vaddq_f64(s0, s1));
    if (i < n) {
        float t[4];
        vst1q_f32(t, Sleef_expf4_u10advsimd(vsubq_f32(load_tail(x + i, n - i, max), mx)));
        for (int64_t j = 0; i + j < n; j++) {
            x[i + j] = t[j];
            sum += (double)t[j];
        }
    }

    const float inv = (float)(1.0 / sum);
    for (i = 0; i + 4 <= n; i += 4)
        vst1q_f32(x + i, vmulq_n_f32(vld1q_f32(x + i), inv));
    for (; i < n; i++)
        x[i] *= inv;
}

/* silu(g) * u = g / (1 + exp(-g)) * u, four lanes. */
static inline float32x4_t swiglu4(float32x4_t g, float32x4_t u)
{
    const float32x4_t e = Sleef_expf4_u10advsimd(vnegq_f32(g));
    return vmulq_f32(vdivq_f32(g, vaddq_f32(vdupq_n_f32(1.0f), e)), u);
}

static void swiglu_neon(float *y, const float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(y + i, swiglu4(vld1q_f32(g + i), vld1q_f32(u + i)));
    if (i < n)
        store_tail(y + i, swiglu4(load_tail(g + i, n - i, 0.0f), load_tail(u + i, n - i, 0.0f)), n - i);
}

static float dot_f32_neon(const float *a, const float *b, int64_t n)
{
    float32x4_t acc[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++)
            acc[k] = vfmaq_f32(acc[k], vld1q_f32(a + i + 4 * k), vld1q_f32(b + i + 4 * k));
    for (; i + 4 <= n; i += 4)
        acc[0] = vfmaq_f32(acc[0], vld1q_f32(a + i), vld1q_f32(b + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++)
        sum += a[i] * b[i];
    return sum;
}

static void axpy_neon(float *y, float a, const float *x, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, vaddq_f32(vld1q_f32(y + i), vmulq_n_f32(vld1q_f32(x + i), a)));
        vst1q_f32(y + i + 4, vaddq_f32(vld1q_f32(y + i + 4), vmulq_n_f32(vld1q_f32(x + i + 4), a)));
    }
    for (; i < n; i++)
        y[i] += x[i] * a;
}

static void scale_neon(float *y, float a, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(y + i, vmulq_n_f32(vld1q_f32(y + i), a));
        vst1q_f32(y + i + 4, vmulq_n_f32(vld1q_f32(y + i + 4), a));
    }
    for (; i < n; i++)
        y[i] *= a;
}

/*
 * topk: a heap of the k best so far with the worst on top, as the reference
 * keeps it.  Elements arrive in index order, so a newcomer enters only when
 * strictly greater than the top; four at a time are tested against it with
 * one compare, and only lanes that pass go through the heap.
 */
static inline float topk_key(float v)
{
    return isnan(v) ? -INFINITY : v;
}

static inline int topk_before(const float *x, int32_t i, int32_t j)
{
    const float a = topk_key(x[i]), b = topk_key(x[j]);
    return a > b || (a == b && i < j);
}

static void topk_sift(const float *x, int32_t *h, int k, int p)
{
    for (;;) {
        const int c = 2 * p + 1;
        int w = p;
        if (c < k && topk_before(x, h[w], h[c]))
            w = c;
        if (c + 1 < k && topk_before(x, h[w], h[c + 1]))
            w = c + 1;
        if (w == p)
            return;
        const int32_t t = h[p];
        h[p] = h[w];
        h[w] = t;
        p = w;
    }
}

static inline void topk_offer(const float *x, int32_t *h, int k, int64_t i)
{
    if (topk_before(x, (int32_t)i, h[0])) {
        h[0] = (int32_t)i;
        topk_sift(x, h, k, 0);
    }
}

static void topk_neon(const float *x, int64_t n, int k, int32_t *idx)
{
    if (k <= 0 || n <= 0)
        return;
    if ((int64_t)k > n)
        k = (int)n;
    for (int i = 0; i < k; i++)
        idx[i] = i;
    for (int p = k / 2 - 1; p >= 0; p--)
        topk_sift(x, idx, k, p);

    int64_t i = k;
    for (; i + 4 <= n; i += 4) {
        /* NaN lanes compare false, as a -inf newcomer never enters */
        const uint32x4_t gt = vcgtq_f32(vld1q_f32(x + i), vdupq_n_f32(topk_key(x[idx[0]])));
        if (vmaxvq_u32(gt) == 0)
            continue;
        for (int j = 0; j < 4; j++)
            topk_offer(x, idx, k, i + j);
    }
    for (; i < n; i++)
        topk_offer(x, idx, k, i);

    for (int m = k - 1; m > 0; m--) {
        const int32_t t = idx[0];
        idx[0] = idx[m];
        idx[m] = t;
        topk_sift(x, idx, m, 0);
    }
}

void plumb_dsp_init_neon_vec(PlumbDsp *dsp)
{
    dsp->rmsnorm = rmsnorm_neon;
    dsp->rope_neox = rope_neox_neon;
    dsp->softmax = softmax_neon;
    dsp->swiglu = swiglu_neon;
    dsp->dot_f32 = dot_f32_neon;
    dsp->axpy = axpy_neon;
    dsp->scale = scale_neon;
    dsp->topk = topk_neon;
}
