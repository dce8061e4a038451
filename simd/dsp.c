/*
 * dsp.c — C reference kernels for the vector operations and the init ladder
 * that fills a PlumbDsp (see dsp.h).  Quant kernels' C references are in
 * quant/quant_ref.c.
 *
 * The references compute what llama.cpp's CPU backend computes for the same
 * operation in its portable code: sums of squares, dot products and softmax
 * denominators accumulate in double, everything else is float with libm's
 * expf / sqrtf.  The tiers may reorder sums (checkdsp bounds the difference)
 * but must keep these definitions.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "cpu_features.h"
#include "dsp.h"
#include "quant_ref.h"

/* y = x * (1/sqrt(mean(x^2) + eps)) * w; the sum of squares is taken in
 * double, the scale and the products in float. */
static void rmsnorm_c(float *y, const float *x, const float *w, int64_t n, float eps)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / sqrtf(mean + eps);
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] * scale * w[i];
}

static void rope_neox_c(float *x, const float *cos, const float *sin, int64_t n)
{
    const int64_t h = n / 2;
    for (int64_t i = 0; i < h; i++) {
        const float x0 = x[i], x1 = x[i + h];
        x[i] = x0 * cos[i] - x1 * sin[i];
        x[i + h] = x0 * sin[i] + x1 * cos[i];
    }
}

/* exp(x - max) in float, their sum in double, then one multiply by the
 * float reciprocal of the sum. */
static void softmax_c(float *x, int64_t n)
{
    float max = -INFINITY;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        max = x[i] > max ? x[i] : max;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - max);
        sum += (double)x[i];
    }
    const float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++)
        x[i] *= inv;
}

static void swiglu_c(float *y, const float *g, const float *u, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
}

/* Products rounded to float, summed in double. */
static float dot_f32_c(const float *a, const float *b, int64_t n)
{
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(a[i] * b[i]);
    return (float)sum;
}

static void axpy_c(float *y, float a, const float *x, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] += x[i] * a;
}

static void mix_f32_c(float *out, int64_t os, const float *p, int64_t ps, const void *v,
                      int64_t vs, int64_t m, int64_t n, int64_t k)
{
    for (int64_t i = 0; i < m; i++) {
        float *o = out + i * os;
        memset(o, 0, (size_t)n * sizeof *o);
        for (int64_t j = 0; j < k; j++)
            axpy_c(o, p[i * ps + j], (const float *)v + j * vs, n);
    }
}

static void mix_f16_c(float *out, int64_t os, const float *p, int64_t ps, const void *v,
                      int64_t vs, int64_t m, int64_t n, int64_t k)
{
    const uint16_t *vh = v;
    for (int64_t i = 0; i < m; i++) {
        float *o = out + i * os;
        memset(o, 0, (size_t)n * sizeof *o);
        for (int64_t j = 0; j < k; j++) {
            const float a = p[i * ps + j];
            for (int64_t d = 0; d < n; d++)
                o[d] += plumb_fp16_to_fp32(vh[j * vs + d]) * a;
        }
    }
}

static void scale_c(float *y, float a, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        y[i] *= a;
}

/* Order of topk: larger value first, lower index first on equal values; a
 * NaN ranks as -inf. */
static int topk_before(const float *x, int32_t i, int32_t j)
{
    const float a = isnan(x[i]) ? -INFINITY : x[i];
    const float b = isnan(x[j]) ? -INFINITY : x[j];
    return a > b || (a == b && i < j);
}

/* Restore the heap below slot p: h[0] is the entry every other one comes
 * before (the worst kept so far). */
static void topk_sift(const float *x, int32_t *h, int k, int p)
{
    for (;;) {
        int c = 2 * p + 1, w = p;
        if (c < k && topk_before(x, h[w], h[c]))
            w = c;
        if (c + 1 < k && topk_before(x, h[w], h[c + 1]))
            w = c + 1;
        if (w == p)
            return;
        int32_t t = h[p];
        h[p] = h[w];
        h[w] = t;
        p = w;
    }
}

/* A heap of the k best seen so far, worst on top: O(n log k). */
static void topk_c(const float *x, int64_t n, int k, int32_t *idx)
{
    if (k <= 0 || n <= 0)
        return;
    if ((int64_t)k > n)
        k = (int)n;
    for (int i = 0; i < k; i++)
        idx[i] = i;
    for (int p = k / 2 - 1; p >= 0; p--)
        topk_sift(x, idx, k, p);
    for (int64_t i = k; i < n; i++) {
        if (topk_before(x, (int32_t)i, idx[0])) {
            idx[0] = (int32_t)i;
            topk_sift(x, idx, k, 0);
        }
    }
    /* pop the worst to the back until the heap is empty: best first */
    for (int m = k - 1; m > 0; m--) {
        int32_t t = idx[0];
        idx[0] = idx[m];
        idx[m] = t;
        topk_sift(x, idx, m, 0);
    }
}

/* The tiled products of the C tier: the definition of dsp->gemm, one
 * vec_dot per (row, token). */
#define GEMM_REF(name, dot)                                                                    \
    static void name(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,     \
                     const void *const *a, float *const *y, int64_t nt)                        \
    {                                                                                          \
        for (int64_t r = r0; r < r1; r++)                                                      \
            for (int64_t t = 0; t < nt; t++)                                                   \
                dot(n, &y[t][r], (const char *)w + (uint64_t)r * w_stride, a[t]);              \
    }
GEMM_REF(gemm_f32_c, plumb_vec_dot_f32_f32_c)
GEMM_REF(gemm_q4_0_c, plumb_vec_dot_q4_0_q8_0_c)
GEMM_REF(gemm_q8_0_c, plumb_vec_dot_q8_0_q8_0_c)
GEMM_REF(gemm_q4_K_c, plumb_vec_dot_q4_K_q8_K_c)
GEMM_REF(gemm_q5_K_c, plumb_vec_dot_q5_K_q8_K_c)
GEMM_REF(gemm_q6_K_c, plumb_vec_dot_q6_K_q8_K_c)
GEMM_REF(gemm_iq4_xs_c, plumb_vec_dot_iq4_xs_q8_K_c)
#undef GEMM_REF

/* Fused attention, the reference: one row at a time with a running maximum,
 * scores from the reference vec_dot, value rows widened by the reference
 * to_float, exp from libm.  When a score raises the maximum, what was summed
 * is scaled by exp(old - new) first. */
static void attn_ref(const PlumbAttnArgs *a, PlumbVecDotFn dot)
{
    PlumbToFloatFn vrow = NULL;
    float v[PLUMB_ATTN_MAX_HD];
    const int64_t hd = a->hd;
    switch (a->v_type) {
    case PLUMB_QTYPE_F32: vrow = plumb_to_float_f32_c; break;
    case PLUMB_QTYPE_F16: vrow = plumb_to_float_f16_c; break;
    case PLUMB_QTYPE_Q8_0: vrow = plumb_to_float_q8_0_c; break;
    case PLUMB_QTYPE_Q4_0: vrow = plumb_to_float_q4_0_c; break;
    default: return;
    }
    for (int64_t i = 0; i < a->nq; i++) {
        a->m[i] = -INFINITY;
        a->l[i] = 0.0f;
        memset(a->acc + i * hd, 0, (size_t)hd * sizeof(float));
    }
    for (int64_t j = 0; j < a->nk; j++) {
        vrow((const char *)a->v + (uint64_t)j * a->v_stride, v, hd);
        for (int64_t i = 0; i < a->nq; i++) {
            float s, p, *acc = a->acc + i * hd;
            dot(hd, &s, (const char *)a->k + (uint64_t)j * a->k_stride,
                (const char *)a->q + (uint64_t)i * a->q_stride);
            s *= a->scale;
            if (s > a->m[i]) {
                const float r = expf(a->m[i] - s); /* 0 for the first row */
                a->l[i] *= r;
                for (int64_t d = 0; d < hd; d++)
                    acc[d] *= r;
                a->m[i] = s;
            }
            p = expf(s - a->m[i]);
            a->l[i] += p;
            for (int64_t d = 0; d < hd; d++)
                acc[d] += p * v[d];
        }
    }
}

static void attn_f32_c(const PlumbAttnArgs *a) { attn_ref(a, plumb_vec_dot_f32_f32_c); }
static void attn_f16_c(const PlumbAttnArgs *a) { attn_ref(a, plumb_vec_dot_f16_f16_c); }
static void attn_q8_0_c(const PlumbAttnArgs *a) { attn_ref(a, plumb_vec_dot_q8_0_q8_0_c); }
static void attn_q4_0_c(const PlumbAttnArgs *a) { attn_ref(a, plumb_vec_dot_q4_0_q8_0_c); }

void plumb_dsp_init_c(PlumbDsp *dsp)
{
    memset(dsp, 0, sizeof *dsp);

    dsp->to_float[PLUMB_QTYPE_F32] = plumb_to_float_f32_c;
    dsp->to_float[PLUMB_QTYPE_F16] = plumb_to_float_f16_c;
    dsp->to_float[PLUMB_QTYPE_BF16] = plumb_to_float_bf16_c;
    dsp->to_float[PLUMB_QTYPE_Q4_0] = plumb_to_float_q4_0_c;
    dsp->to_float[PLUMB_QTYPE_Q4_1] = plumb_to_float_q4_1_c;
    dsp->to_float[PLUMB_QTYPE_Q5_0] = plumb_to_float_q5_0_c;
    dsp->to_float[PLUMB_QTYPE_Q5_1] = plumb_to_float_q5_1_c;
    dsp->to_float[PLUMB_QTYPE_Q8_0] = plumb_to_float_q8_0_c;
    dsp->to_float[PLUMB_QTYPE_Q2_K] = plumb_to_float_q2_K_c;
    dsp->to_float[PLUMB_QTYPE_Q3_K] = plumb_to_float_q3_K_c;
    dsp->to_float[PLUMB_QTYPE_Q4_K] = plumb_to_float_q4_K_c;
    dsp->to_float[PLUMB_QTYPE_Q5_K] = plumb_to_float_q5_K_c;
    dsp->to_float[PLUMB_QTYPE_Q6_K] = plumb_to_float_q6_K_c;
    dsp->to_float[PLUMB_QTYPE_IQ4_NL] = plumb_to_float_iq4_nl_c;
    dsp->to_float[PLUMB_QTYPE_IQ4_XS] = plumb_to_float_iq4_xs_c;

    dsp->from_float[PLUMB_QTYPE_F32] = plumb_from_float_f32_c;
    dsp->from_float[PLUMB_QTYPE_F16] = plumb_from_float_f16_c;
    dsp->from_float[PLUMB_QTYPE_BF16] = plumb_from_float_bf16_c;
    dsp->from_float[PLUMB_QTYPE_Q8_0] = plumb_from_float_q8_0_c;
    dsp->from_float[PLUMB_QTYPE_Q4_0] = plumb_from_float_q4_0_c; /* the key/value cache */
    dsp->from_float[PLUMB_QTYPE_Q8_1] = plumb_from_float_q8_1_c;
    dsp->from_float[PLUMB_QTYPE_Q8_K] = plumb_from_float_q8_K_c;
    dsp->from_float[PLUMB_QTYPE_Q8_0X] = plumb_from_float_q8_0x_c;

    dsp->vec_dot[PLUMB_QTYPE_F32] = plumb_vec_dot_f32_f32_c;
    dsp->vec_dot[PLUMB_QTYPE_F16] = plumb_vec_dot_f16_f16_c;
    dsp->vec_dot[PLUMB_QTYPE_BF16] = plumb_vec_dot_bf16_bf16_c;
    dsp->vec_dot[PLUMB_QTYPE_Q4_0] = plumb_vec_dot_q4_0_q8_0_c;
    dsp->vec_dot[PLUMB_QTYPE_Q4_1] = plumb_vec_dot_q4_1_q8_1_c;
    dsp->vec_dot[PLUMB_QTYPE_Q5_0] = plumb_vec_dot_q5_0_q8_0_c;
    dsp->vec_dot[PLUMB_QTYPE_Q5_1] = plumb_vec_dot_q5_1_q8_1_c;
    dsp->vec_dot[PLUMB_QTYPE_Q8_0] = plumb_vec_dot_q8_0_q8_0_c;
    dsp->vec_dot[PLUMB_QTYPE_Q2_K] = plumb_vec_dot_q2_K_q8_K_c;
    dsp->vec_dot[PLUMB_QTYPE_Q3_K] = plumb_vec_dot_q3_K_q8_K_c;
    dsp->vec_dot[PLUMB_QTYPE_Q4_K] = plumb_vec_dot_q4_K_q8_K_c;
    dsp->vec_dot[PLUMB_QTYPE_Q5_K] = plumb_vec_dot_q5_K_q8_K_c;
    dsp->vec_dot[PLUMB_QTYPE_Q6_K] = plumb_vec_dot_q6_K_q8_K_c;
    dsp->vec_dot[PLUMB_QTYPE_IQ4_NL] = plumb_vec_dot_iq4_nl_q8_0_c;
    dsp->vec_dot[PLUMB_QTYPE_IQ4_XS] = plumb_vec_dot_iq4_xs_q8_K_c;

    dsp->rmsnorm = rmsnorm_c;
    dsp->rope_neox = rope_neox_c;
    dsp->softmax = softmax_c;
    dsp->swiglu = swiglu_c;
    dsp->dot_f32 = dot_f32_c;
    dsp->axpy = axpy_c;
    dsp->mix[PLUMB_QTYPE_F32] = mix_f32_c;
    dsp->mix[PLUMB_QTYPE_F16] = mix_f16_c;
    dsp->scale = scale_c;
    dsp->topk = topk_c;

    dsp->gemm[PLUMB_QTYPE_F32] = gemm_f32_c;
    dsp->gemm[PLUMB_QTYPE_Q4_0] = gemm_q4_0_c;
    dsp->gemm[PLUMB_QTYPE_Q8_0] = gemm_q8_0_c;
    dsp->gemm[PLUMB_QTYPE_Q4_K] = gemm_q4_K_c;
    dsp->gemm[PLUMB_QTYPE_Q5_K] = gemm_q5_K_c;
    dsp->gemm[PLUMB_QTYPE_Q6_K] = gemm_q6_K_c;
    dsp->gemm[PLUMB_QTYPE_IQ4_XS] = gemm_iq4_xs_c;
    dsp->gemm[PLUMB_QTYPE_Q4_0_R8] = plumb_gemm_q4_0_r8_c; /* interleaved: gemm only */
    dsp->gemm[PLUMB_QTYPE_Q4_K_R8] = plumb_gemm_q4_K_r8_c;
    dsp->gemm[PLUMB_QTYPE_Q6_K_R8] = plumb_gemm_q6_K_r8_c;

    dsp->attn[PLUMB_QTYPE_F32] = attn_f32_c;
    dsp->attn[PLUMB_QTYPE_F16] = attn_f16_c;
    dsp->attn[PLUMB_QTYPE_Q8_0] = attn_q8_0_c;
    dsp->attn[PLUMB_QTYPE_Q4_0] = attn_q4_0_c;
}

void plumb_dsp_init(PlumbDsp *dsp, unsigned flags)
{
    plumb_dsp_init_c(dsp);
#if PLUMB_HAVE_AVX2
    if (flags & PLUMB_CPU_AVX2) {
        plumb_dsp_init_avx2(dsp);
        plumb_dsp_init_avx2_gemm(dsp);
        plumb_dsp_init_avx2_attn(dsp);
    }
#endif
#if PLUMB_HAVE_AVXVNNI
    if (flags & PLUMB_CPU_AVXVNNI)
        plumb_dsp_init_avxvnni(dsp);
#endif
#if PLUMB_HAVE_AVX512
    if (flags & PLUMB_CPU_AVX512) {
        plumb_dsp_init_avx512(dsp);
        plumb_dsp_init_avx512_attn(dsp);
    }
#endif
#if PLUMB_HAVE_AVX512VNNI
    if (flags & PLUMB_CPU_AVX512VNNI) {
        plumb_dsp_init_avx512vnni(dsp);
        plumb_dsp_init_avx512vnni_attn(dsp);
    }
#endif
#if PLUMB_HAVE_NEON
    if (flags & PLUMB_CPU_NEON)
        plumb_dsp_init_neon(dsp);
#endif
#if PLUMB_HAVE_DOTPROD
    if (flags & PLUMB_CPU_DOTPROD)
        plumb_dsp_init_dotprod(dsp);
#endif
    {
        /* A C tiled product left under a tier's faster vec_dot would be a
         * step down: drop it, so the caller loops over the tier's vec_dot. */
        PlumbDsp ref;
        plumb_dsp_init_c(&ref);
        for (int t = 0; t < PLUMB_QTYPE_COUNT; t++)
            if (dsp->gemm[t] && dsp->gemm[t] == ref.gemm[t] && dsp->vec_dot[t] != ref.vec_dot[t])
                dsp->gemm[t] = NULL;
    }
    dsp->flags = flags;
}
