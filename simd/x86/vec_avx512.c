/*
 * vec_avx512.c — AVX-512 vector operations: RMSNorm, NeoX RoPE, softmax,
 * SwiGLU (SLEEF's 16-lane exp), the float dot product, axpy and scale, with
 * masked tails.  Installed by plumb_dsp_init_avx512() (quant_avx512.c); topk
 * keeps the AVX2 kernel.  The promises against the C definitions are those
 * of vec_avx2.c.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>

#include <sleef.h>

#include "dsp.h"
#include "x86_kernels.h"

/* Lanes 0..r-1 of a 16-lane mask, r < 16. */
static inline __mmask16 tail16(int64_t r)
{
    return (__mmask16)((1u << r) - 1);
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 sq = _mm512_mul_ps(v, v);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(sq)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(sq), 1))));
    }
    double sum = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1));
    for (; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean + eps)));
    const __m512 vs = _mm512_set1_ps(scale);
    for (i = 0; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_mul_ps(_mm512_loadu_ps(x + i), vs), _mm512_loadu_ps(w + i)));
    if (i < n) {
        const __mmask16 k = tail16(n - i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vs),
                                                      _mm512_maskz_loadu_ps(k, w + i)));
    }
}

static void rope_neox(float *x, const float *cos, const float *sin, int64_t n)
{
    const int64_t h = n / 2;
    for (int64_t i = 0; i < h; i += 16) {
        const __mmask16 k = h - i >= 16 ? (__mmask16)0xffff : tail16(h - i);
        const __m512 x0 = _mm512_maskz_loadu_ps(k, x + i), x1 = _mm512_maskz_loadu_ps(k, x + i + h);
        const __m512 c = _mm512_maskz_loadu_ps(k, cos + i), s = _mm512_maskz_loadu_ps(k, sin + i);
        _mm512_mask_storeu_ps(x + i, k, _mm512_sub_ps(_mm512_mul_ps(x0, c), _mm512_mul_ps(x1, s)));
        _mm512_mask_storeu_ps(x + i + h, k, _mm512_add_ps(_mm512_mul_ps(x0, s), _mm512_mul_ps(x1, c)));
    }
}

static void softmax(float *x, int64_t n)
{
    __m512 vm = _mm512_set1_ps(-INFINITY);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail16(n - i);
        vm = _mm512_max_ps(vm, _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + i));
    }
    const __m512 m = _mm512_set1_ps(_mm512_reduce_max_ps(vm));
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        /* the tail is padded with -inf: exp gives 0 there */
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail16(n - i);
        const __m512 v = _mm512_mask_loadu_ps(_mm512_set1_ps(-INFINITY), k, x + i);
        const __m512 e = _mm512_maskz_mov_ps(k, Sleef_expf16_u10avx512f(_mm512_sub_ps(v, m)));
        _mm512_mask_storeu_ps(x + i, k, e);
        s0 = _mm512_add_pd(s0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
        s1 = _mm512_add_pd(s1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
    }
    const float inv = (float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)));
    const __m512 vi = _mm512_set1_ps(inv);
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : tail16(n - i);
        _mm512_mask_storeu_ps(x + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), vi));
    }
}

/* g / (1 + exp(-g)) * u, in the C order. */
static inline __m512 swiglu16(__m512 g, __m512 u)
{
    const __m512 e = Sleef_expf16_u10avx512f(_mm512_xor_ps(g, _mm512_set1_ps(-0.0f)));
    return _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(_mm512_set1_ps(1.0f), e)), u);
}

static void swiglu(float *y, const float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, swiglu16(_mm512_loadu_ps(g + i), _mm512_loadu_ps(u + i)));
    if (i < n) {
        const __mmask16 k = tail16(n - i);
        _mm512_mask_storeu_ps(y + i, k, swiglu16(_mm512_maskz_loadu_ps(k, g + i), _mm512_maskz_loadu_ps(k, u + i)));
    }
}

static float dot_f32(const float *a, const float *b, int64_t n)
{
    float s;
    x86_vec_dot_f32_f32_512(n, &s, a, b);
    return s;
}

static void axpy(float *y, float a, const float *x, int64_t n)
{
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i), _mm512_mul_ps(_mm512_loadu_ps(x + i), va)));
    if (i < n) {
        const __mmask16 k = tail16(n - i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_add_ps(_mm512_maskz_loadu_ps(k, y + i),
                                                      _mm512_mul_ps(_mm512_maskz_loadu_ps(k, x + i), va)));
    }
}

static void scale(float *y, float a, int64_t n)
{
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_mul_ps(_mm512_loadu_ps(y + i), va));
    if (i < n) {
        const __mmask16 k = tail16(n - i);
        _mm512_mask_storeu_ps(y + i, k, _mm512_mul_ps(_mm512_maskz_loadu_ps(k, y + i), va));
    }
}

void plumb_dsp_init_avx512_vec(PlumbDsp *dsp)
{
    dsp->rmsnorm = rmsnorm;
    dsp->rope_neox = rope_neox;
    dsp->softmax = softmax;
    dsp->swiglu = swiglu;
    dsp->dot_f32 = dot_f32;
    dsp->axpy = axpy;
    dsp->scale = scale;
}
