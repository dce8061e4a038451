/*
 * vec_avx2.c — AVX2 (+FMA) vector operations of the forward pass: RMSNorm,
 * NeoX RoPE, softmax, SwiGLU, the float dot product, axpy, scale and the
 * router's top-k.  Installed by plumb_dsp_init_avx2() (quant_avx2.c).
 *
 * Against the C definitions in simd/dsp.c, as checkdsp checks:
 *  - rope_neox, axpy, scale: the same bits (same multiplies and adds);
 *  - topk: the same indices;
 *  - rmsnorm: the sum of squares is taken in double as in C, in another
 *    order, so the float mean is the same but for a rounding tie; the rest
 *    is the same float arithmetic;
 *  - softmax, swiglu: exp is SLEEF's (1.0 ULP) instead of libm's, so a few
 *    ULP apart; softmax's denominator is summed in double as in C;
 *  - dot_f32: FMA into float lanes instead of products summed in double; the
 *    difference is bounded by a few roundings of the sum of |a*b|.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include <sleef.h>

#include "dsp.h"
#include "x86_kernels.h"

/* Lanes 0..r-1 set, for masked loads / stores of a tail of r < 8 floats. */
static inline __m256i tail_mask(int64_t r)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static void rmsnorm(float *y, const float *x, const float *w, int64_t n, float eps)
{
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    __m256d s2 = _mm256_setzero_pd(), s3 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256 a = _mm256_loadu_ps(x + i), b = _mm256_loadu_ps(x + i + 8);
        const __m256 aa = _mm256_mul_ps(a, a), bb = _mm256_mul_ps(b, b);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(aa)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(aa, 1)));
        s2 = _mm256_add_pd(s2, _mm256_cvtps_pd(_mm256_castps256_ps128(bb)));
        s3 = _mm256_add_pd(s3, _mm256_cvtps_pd(_mm256_extractf128_ps(bb, 1)));
    }
    double sum = x86_hsum_pd256(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
    for (; i < n; i++)
        sum += (double)(x[i] * x[i]);
    const float mean = (float)(sum / (double)n);
    const float scale = 1.0f / _mm_cvtss_f32(_mm_sqrt_ss(_mm_set_ss(mean + eps)));
    const __m256 vs = _mm256_set1_ps(scale);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_mul_ps(_mm256_loadu_ps(x + i), vs), _mm256_loadu_ps(w + i)));
    for (; i < n; i++)
        y[i] = x[i] * scale * w[i];
}

static void rope_neox(float *x, const float *cos, const float *sin, int64_t n)
{
    const int64_t h = n / 2;
    int64_t i = 0;
    for (; i + 8 <= h; i += 8) {
        const __m256 x0 = _mm256_loadu_ps(x + i), x1 = _mm256_loadu_ps(x + i + h);
        const __m256 c = _mm256_loadu_ps(cos + i), s = _mm256_loadu_ps(sin + i);
        _mm256_storeu_ps(x + i, _mm256_sub_ps(_mm256_mul_ps(x0, c), _mm256_mul_ps(x1, s)));
        _mm256_storeu_ps(x + i + h, _mm256_add_ps(_mm256_mul_ps(x0, s), _mm256_mul_ps(x1, c)));
    }
    for (; i < h; i++) {
        const float x0 = x[i], x1 = x[i + h];
        x[i] = x0 * cos[i] - x1 * sin[i];
        x[i + h] = x0 * sin[i] + x1 * cos[i];
    }
}

static void softmax(float *x, int64_t n)
{
    __m256 vm = _mm256_set1_ps(-INFINITY);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        vm = _mm256_max_ps(vm, _mm256_loadu_ps(x + i));
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(vm), _mm256_extractf128_ps(vm, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    float max = _mm_cvtss_f32(r);
    for (; i < n; i++)
        max = x[i] > max ? x[i] : max;

    const __m256 m = _mm256_set1_ps(max);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (i = 0; i + 8 <= n; i += 8) {
        const __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(x + i), m));
        _mm256_storeu_ps(x + i, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    if (i < n) { /* the tail, padded with -inf: exp gives 0 there */
        const __m256i k = tail_mask(n - i);
        const __m256 v = _mm256_blendv_ps(_mm256_set1_ps(-INFINITY), _mm256_maskload_ps(x + i, k),
                                          _mm256_castsi256_ps(k));
        const __m256 e = _mm256_and_ps(Sleef_expf8_u10avx2(_mm256_sub_ps(v, m)), _mm256_castsi256_ps(k));
        _mm256_maskstore_ps(x + i, k, e);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    const double sum = x86_hsum_pd256(_mm256_add_pd(s0, s1));
    const float inv = (float)(1.0 / sum);
    const __m256 vi = _mm256_set1_ps(inv);
    for (i = 0; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, _mm256_mul_ps(_mm256_loadu_ps(x + i), vi));
    for (; i < n; i++)
        x[i] *= inv;
}

/* g / (1 + exp(-g)) * u, in the C order. */
static inline __m256 swiglu8(__m256 g, __m256 u)
{
    const __m256 e = Sleef_expf8_u10avx2(_mm256_xor_ps(g, _mm256_set1_ps(-0.0f)));
    return _mm256_mul_ps(_mm256_div_ps(g, _mm256_add_ps(_mm256_set1_ps(1.0f), e)), u);
}

static void swiglu(float *y, const float *g, const float *u, int64_t n)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, swiglu8(_mm256_loadu_ps(g + i), _mm256_loadu_ps(u + i)));
    if (i < n) {
        const __m256i k = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, k, swiglu8(_mm256_maskload_ps(g + i, k), _mm256_maskload_ps(u + i, k)));
    }
}

static float dot_f32(const float *a, const float *b, int64_t n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), acc0);
    if (i < n) {
        const __m256i k = tail_mask(n - i);
        acc1 = _mm256_fmadd_ps(_mm256_maskload_ps(a + i, k), _mm256_maskload_ps(b + i, k), acc1);
    }
    return x86_hsum_ps256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
}

static void axpy(float *y, float a, const float *x, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(_mm256_loadu_ps(x + i), va)));
        _mm256_storeu_ps(y + i + 8,
                         _mm256_add_ps(_mm256_loadu_ps(y + i + 8), _mm256_mul_ps(_mm256_loadu_ps(x + i + 8), va)));
    }
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i), _mm256_mul_ps(_mm256_loadu_ps(x + i), va)));
    for (; i < n; i++)
        y[i] += x[i] * a;
}

/*
 * mix_f32: tiles of 4 output rows x 16 columns held in 8 registers while
 * the rows of v stream past, MIX_BLOCK rows at a time (so a block of a
 * strided cache is read from memory once, not once per tile): per row of v two loads and four broadcasts feed
 * eight multiplies and adds, where axpy would load and store the output
 * every time.  Products are rounded before each add, in ascending j, as in
 * the C definition.  F16 value rows are widened by vcvtph2ps on the load
 * (exact), the rest is the same.
 */
#define MIX_STEP(acc, pj, vv) acc = _mm256_add_ps(acc, _mm256_mul_ps(pj, vv))

/* Tile of `rows` (1..4) outputs x 16 columns over k value rows; with
 * `cont` the sums continue from what out holds (the same bits as if they
 * had stayed in registers). */
/* 8 value elements from e on, of an F32 (f16 = 0) or F16 row. */
static inline __m256 mix_load8(const void *v, int64_t e, int f16)
{
    if (f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)v + e)));
    return _mm256_loadu_ps((const float *)v + e);
}

static inline __attribute__((always_inline)) void mix_tile16(float *out, int64_t os, const float *p, int64_t ps,
                                                             const void *v, int64_t vs, int rows, int64_t k,
                                                             int cont, int f16)
{
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
    __m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
    if (cont) {
        a00 = _mm256_loadu_ps(out);
        a01 = _mm256_loadu_ps(out + 8);
        if (rows > 1) {
            a10 = _mm256_loadu_ps(out + os);
            a11 = _mm256_loadu_ps(out + os + 8);
        }
        if (rows > 2) {
            a20 = _mm256_loadu_ps(out + 2 * os);
            a21 = _mm256_loadu_ps(out + 2 * os + 8);
        }
        if (rows > 3) {
            a30 = _mm256_loadu_ps(out + 3 * os);
            a31 = _mm256_loadu_ps(out + 3 * os + 8);
        }
    }
    const float *p0 = p, *p1 = p + (rows > 1 ? ps : 0);
    const float *p2 = p + (rows > 2 ? 2 * ps : 0), *p3 = p + (rows > 3 ? 3 * ps : 0);
    for (int64_t j = 0; j < k; j++) {
        const __m256 v0 = mix_load8(v, j * vs, f16), v1 = mix_load8(v, j * vs + 8, f16);
        __m256 b = _mm256_broadcast_ss(p0 + j);
        MIX_STEP(a00, b, v0);
        MIX_STEP(a01, b, v1);
        b = _mm256_broadcast_ss(p1 + j);
        MIX_STEP(a10, b, v0);
        MIX_STEP(a11, b, v1);
        b = _mm256_broadcast_ss(p2 + j);
        MIX_STEP(a20, b, v0);
        MIX_STEP(a21, b, v1);
        b = _mm256_broadcast_ss(p3 + j);
        MIX_STEP(a30, b, v0);
        MIX_STEP(a31, b, v1);
    }
    _mm256_storeu_ps(out, a00);
    _mm256_storeu_ps(out + 8, a01);
    if (rows > 1) {
        _mm256_storeu_ps(out + os, a10);
        _mm256_storeu_ps(out + os + 8, a11);
    }
    if (rows > 2) {
        _mm256_storeu_ps(out + 2 * os, a20);
        _mm256_storeu_ps(out + 2 * os + 8, a21);
    }
    if (rows > 3) {
        _mm256_storeu_ps(out + 3 * os, a30);
        _mm256_storeu_ps(out + 3 * os + 8, a31);
    }
}

/* Value rows per pass: a block of them (each a slice of a strided cache
 * row) is read from memory once and then from L1 by every tile. */
#define MIX_BLOCK 64

static inline __attribute__((always_inline)) void mix_any(float *out, int64_t os, const float *p, int64_t ps,
                                                          const void *v, int64_t vs, int64_t m, int64_t n,
                                                          int64_t k, int f16)
{
    const int64_t n16 = n & ~(int64_t)15;
    if (k <= 0) {
        for (int64_t i = 0; i < m; i++)
            memset(out + i * os, 0, (size_t)n * sizeof *out);
        return;
    }
    for (int64_t j0 = 0; j0 < k; j0 += MIX_BLOCK) {
        const int64_t kb = k - j0 < MIX_BLOCK ? k - j0 : MIX_BLOCK;
        const int64_t vb = j0 * vs; /* first element of the block */
        for (int64_t i = 0; i < m; i += 4) {
            const int rows = m - i < 4 ? (int)(m - i) : 4;
            for (int64_t d = 0; d < n16; d += 16)
                mix_tile16(out + i * os + d, os, p + i * ps + j0, ps,
                           f16 ? (const void *)((const uint16_t *)v + vb + d) : (const void *)((const float *)v + vb + d),
                           vs, rows, kb, j0 > 0, f16);
            for (int r = 0; r < rows && n16 < n; r++) {
                /* the last n % 16 columns, one row at a time */
                float *o = out + (i + r) * os;
                const float *pr = p + (i + r) * ps + j0;
                if (j0 == 0)
                    memset(o + n16, 0, (size_t)(n - n16) * sizeof *o);
                for (int64_t j = 0; j < kb; j++) {
                    const int64_t e = vb + j * vs + n16;
                    if (!f16) {
                        axpy(o + n16, pr[j], (const float *)v + e, n - n16);
                        continue;
                    }
                    for (int64_t d = 0; d < n - n16; d++)
                        o[n16 + d] += _cvtsh_ss(((const uint16_t *)v)[e + d]) * pr[j];
                }
            }
        }
    }
}
#undef MIX_STEP

static void mix_f32(float *out, int64_t os, const float *p, int64_t ps, const void *v, int64_t vs, int64_t m,
                    int64_t n, int64_t k)
{
    mix_any(out, os, p, ps, v, vs, m, n, k, 0);
}

static void mix_f16(float *out, int64_t os, const float *p, int64_t ps, const void *v, int64_t vs, int64_t m,
                    int64_t n, int64_t k)
{
    mix_any(out, os, p, ps, v, vs, m, n, k, 1);
}

static void scale(float *y, float a, int64_t n)
{
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_mul_ps(_mm256_loadu_ps(y + i), va));
    for (; i < n; i++)
        y[i] *= a;
}

/*
 * topk.  Each float becomes an int32 key with the same order as the C
 * comparison (NaN ranks as -inf, -0 equals +0); the key of -inf is above
 * INT32_MIN, which marks "taken" or "padding".  Rows of up to TOPK_BUF
 * elements (the router's 128) keep their keys in a buffer and take the
 * maximum k times; longer rows are streamed once per pick, looking only at
 * elements ranked after the previous pick.
 */
#define TOPK_BUF 1024

static inline __m256i topk_key8(__m256 v)
{
    v = _mm256_blendv_ps(v, _mm256_set1_ps(-INFINITY), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    v = _mm256_add_ps(v, _mm256_setzero_ps()); /* -0 -> +0 */
    const __m256i u = _mm256_castps_si256(v);
    return _mm256_xor_si256(u, _mm256_and_si256(_mm256_srai_epi32(u, 31), _mm256_set1_epi32(0x7fffffff)));
}

static inline int32_t topk_key1(float f)
{
    if (isnan(f))
        f = -INFINITY;
    f += 0.0f;
    const int32_t u = (int32_t)qb_f32_bits(f);
    return u < 0 ? u ^ 0x7fffffff : u;
}

static inline int32_t hmax_epi32(__m256i v)
{
    __m128i m = _mm_max_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm_max_epi32(m, _mm_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(m);
}

static void topk_buffered(const float *x, int64_t n, int k, int32_t *idx)
{
    _Alignas(32) int32_t keys[TOPK_BUF];
    const int64_t nv = (n + 7) / 8;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_store_si256((__m256i *)(keys + i), topk_key8(_mm256_loadu_ps(x + i)));
    for (; i < n; i++)
        keys[i] = topk_key1(x[i]);
    for (; i < 8 * nv; i++)
        keys[i] = INT32_MIN;
    for (int r = 0; r < k; r++) {
        __m256i m = _mm256_load_si256((const __m256i *)keys);
        for (int64_t v = 1; v < nv; v++)
            m = _mm256_max_epi32(m, _mm256_load_si256((const __m256i *)(keys + 8 * v)));
        const int32_t best = hmax_epi32(m);
        const __m256i vb = _mm256_set1_epi32(best);
        for (int64_t v = 0; v < nv; v++) {
            const __m256i eq = _mm256_cmpeq_epi32(_mm256_load_si256((const __m256i *)(keys + 8 * v)), vb);
            const int mask = _mm256_movemask_ps(_mm256_castsi256_ps(eq));
            if (mask) {
                const int64_t j = 8 * v + __builtin_ctz((unsigned)mask);
                idx[r] = (int32_t)j;
                keys[j] = INT32_MIN;
                break;
            }
        }
    }
}

static void topk_streamed(const float *x, int64_t n, int k, int32_t *idx)
{
    int32_t pk = INT32_MAX; /* key and index of the previous pick */
    int64_t pi = -1;
    for (int r = 0; r < k; r++) {
        const __m256i vpk = _mm256_set1_epi32(pk), vpi = _mm256_set1_epi32((int32_t)pi);
        __m256i bk = _mm256_set1_epi32(INT32_MIN), bi = _mm256_setzero_si256();
        __m256i vi = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        int64_t i = 0;
        for (; i + 8 <= n; i += 8, vi = _mm256_add_epi32(vi, _mm256_set1_epi32(8))) {
            const __m256i key = topk_key8(_mm256_loadu_ps(x + i));
            /* ranked after the previous pick: smaller key, or equal key and larger index */
            const __m256i after = _mm256_or_si256(_mm256_cmpgt_epi32(vpk, key),
                                                  _mm256_and_si256(_mm256_cmpeq_epi32(vpk, key),
                                                                   _mm256_cmpgt_epi32(vi, vpi)));
            const __m256i cand = _mm256_blendv_epi8(_mm256_set1_epi32(INT32_MIN), key, after);
            const __m256i gt = _mm256_cmpgt_epi32(cand, bk);
            bk = _mm256_blendv_epi8(bk, cand, gt);
            bi = _mm256_blendv_epi8(bi, vi, gt);
        }
        int32_t lk[8], li[8];
        _mm256_storeu_si256((__m256i *)lk, bk);
        _mm256_storeu_si256((__m256i *)li, bi);
        int32_t best = INT32_MIN;
        int64_t at = -1;
        for (int l = 0; l < 8; l++)
            if (lk[l] > best || (lk[l] == best && lk[l] != INT32_MIN && li[l] < at)) {
                best = lk[l];
                at = li[l];
            }
        for (; i < n; i++) {
            const int32_t key = topk_key1(x[i]);
            if ((key < pk || (key == pk && i > pi)) && key > best) {
                best = key;
                at = i;
            }
        }
        idx[r] = (int32_t)at;
        pk = best;
        pi = at;
    }
}

static void topk(const float *x, int64_t n, int k, int32_t *idx)
{
    if (k <= 0 || n <= 0)
        return;
    if ((int64_t)k > n)
        k = (int)n;
    if (n <= TOPK_BUF)
        topk_buffered(x, n, k, idx);
    else
        topk_streamed(x, n, k, idx);
}

void plumb_dsp_init_avx2_vec(PlumbDsp *dsp)
{
    dsp->rmsnorm = rmsnorm;
    dsp->rope_neox = rope_neox;
    dsp->softmax = softmax;
    dsp->swiglu = swiglu;
    dsp->dot_f32 = dot_f32;
    dsp->axpy = axpy;
    dsp->mix[PLUMB_QTYPE_F32] = mix_f32;
    dsp->mix[PLUMB_QTYPE_F16] = mix_f16;
    dsp->scale = scale;
    dsp->topk = topk;
}
