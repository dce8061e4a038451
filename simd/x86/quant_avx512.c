/*
 * quant_avx512.c — AVX-512 (F, BW, DQ, VL) kernels of the quant types: the
 * 512-bit dot products (x86_kernels.h, shared with the VNNI tier), the
 * activation quantisers and dequantisation.  plumb_dsp_init_avx512()
 * installs them and the vector ops of vec_avx512.c (topk keeps the AVX2
 * kernel of the tier below).
 *
 * The promises are those of the AVX2 tier (quant_avx2.c): quantisers give
 * the C bytes, dequantisers the C bits, dot products the C value up to float
 * reordering.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dsp.h"
#include "qtypes.h"
#include "x86_kernels.h"

/* ------------------------------------------------------------ quantisers */

static inline uint16_t to_fp16(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* One Q8_0 / Q8_1 block, rounded half to even; returns sum(q). */
static inline int quantise_q8_32(const float *x, int8_t *qs, uint16_t *dh, float *dv)
{
    const __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
    const float amax = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_abs_ps(v0), _mm512_abs_ps(v1)));
    const float d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m512 vid = _mm512_set1_ps(id);
    const __m512i i0 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v0, vid),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    const __m512i i1 = _mm512_cvt_roundps_epi32(_mm512_mul_ps(v1, vid),
                                                _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    _mm_storeu_si128((__m128i *)qs, _mm512_cvtsepi32_epi8(i0));
    _mm_storeu_si128((__m128i *)(qs + 16), _mm512_cvtsepi32_epi8(i1));
    *dh = to_fp16(d);
    *dv = d;
    return _mm512_reduce_add_epi32(_mm512_add_epi32(i0, i1));
}

static void from_float_q8_0(const float *x, void *vy, int64_t n)
{
    PlumbBlockQ8_0 *y = vy;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        uint16_t dh;
        float d;
        quantise_q8_32(x, y[i].qs, &dh, &d);
        y[i].d = dh;
    }
}

static void from_float_q8_1(const float *x, void *vy, int64_t n)
{
    PlumbBlockQ8_1 *y = vy;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        uint16_t dh;
        float d;
        const int sum = quantise_q8_32(x, y[i].qs, &dh, &d);
        y[i].d = dh;
        y[i].s = to_fp16((float)sum * d);
    }
}

static void from_float_q8_K(const float *x, void *vy, int64_t n)
{
    PlumbBlockQ8_K *y = vy;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++, x += PLUMB_QK_K) {
        __m512 m = _mm512_setzero_ps();
        for (int j = 0; j < PLUMB_QK_K; j += 16)
            m = _mm512_max_ps(m, _mm512_abs_ps(_mm512_loadu_ps(x + j)));
        const float amax = _mm512_reduce_max_ps(m);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* the first element of largest magnitude gives the sign */
        const __m512 va = _mm512_set1_ps(amax);
        float max = amax;
        for (int j = 0; j < PLUMB_QK_K; j += 16) {
            const __mmask16 k = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_loadu_ps(x + j)), va, _CMP_EQ_OQ);
            if (k) {
                max = x[j + __builtin_ctz((unsigned)k)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m512 vs = _mm512_set1_ps(iscale);
        const __m512i lim = _mm512_set1_epi32(127);
        for (int g = 0; g < PLUMB_QK_K / 16; g++) { /* one bsums group per vector */
            const __m512i v = _mm512_min_epi32(_mm512_cvtps_epi32(_mm512_mul_ps(vs, _mm512_loadu_ps(x + 16 * g))), lim);
            _mm_storeu_si128((__m128i *)(y[i].qs + 16 * g), _mm512_cvtsepi32_epi8(v));
            y[i].bsums[g] = (int16_t)_mm512_reduce_add_epi32(v);
        }
        y[i].d = 1.0f / iscale;
    }
}

static void from_float_f16(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i),
                            _mm512_cvtps_ph(_mm512_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        y[i] = to_fp16(x[i]);
}

/* bf16: round to nearest even; a NaN keeps its top bits and is quieted. */
static void from_float_bf16(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 k = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(k, x + i);
        const __m512i u = _mm512_castps_si512(v);
        const __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), odd), 16);
        const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
        r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
        _mm256_mask_storeu_epi16(y + i, k, _mm512_cvtepi32_epi16(r));
    }
}

/* ------------------------------------------------------------ dequantisers */

/* 16 signed bytes -> 16 floats, (float)q * d. */
static inline void store16_mul(float *y, __m128i q, __m512 d)
{
    _mm512_storeu_ps(y, _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d));
}

/* 16 signed bytes -> 16 floats, d * (float)q - m. */
static inline void store16_mul_sub(float *y, __m128i q, __m512 d, __m512 m)
{
    _mm512_storeu_ps(y, _mm512_sub_ps(_mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q))), m));
}

static inline void store32_mul(float *y, __m256i q, __m512 d)
{
    store16_mul(y, _mm256_castsi256_si128(q), d);
    store16_mul(y + 16, _mm256_extracti128_si256(q, 1), d);
}

static void to_float_f16(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, x86_load_f16x16(x + i, 0xffff));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, k, x86_load_f16x16(x + i, k));
    }
}

static void to_float_bf16(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, x86_load_bf16x16(x + i, 0xffff));
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        _mm512_mask_storeu_ps(y + i, k, x86_load_bf16x16(x + i, k));
    }
}

static void to_float_q4_0(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ4_0 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store32_mul(y, _mm256_sub_epi8(x86_nibbles32(x[i].qs), _mm256_set1_epi8(8)), _mm512_set1_ps(x86_fp16(x[i].d)));
}

/* 16 signed bytes -> 16 floats, (float)q * d + m. */
static inline void store16_mul_add(float *y, __m128i q, __m512 d, __m512 m)
{
    _mm512_storeu_ps(y, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q)), d), m));
}

static inline void store32_mul_add(float *y, __m256i q, __m512 d, __m512 m)
{
    store16_mul_add(y, _mm256_castsi256_si128(q), d, m);
    store16_mul_add(y + 16, _mm256_extracti128_si256(q, 1), d, m);
}

/* Q5 blocks: the 32 five-bit values, high bit from qh (bit j = element j). */
static inline __m256i q5_values(const uint8_t *qs, const uint8_t *qh)
{
    return _mm256_mask_blend_epi8(x86_load_u32(qh), x86_nibbles32(qs),
                                  _mm256_or_si256(x86_nibbles32(qs), _mm256_set1_epi8(0x10)));
}

static void to_float_q4_1(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ4_1 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store32_mul_add(y, x86_nibbles32(x[i].qs), _mm512_set1_ps(x86_fp16(x[i].d)), _mm512_set1_ps(x86_fp16(x[i].m)));
}

static void to_float_q5_0(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ5_0 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store32_mul(y, _mm256_sub_epi8(q5_values(x[i].qs, x[i].qh), _mm256_set1_epi8(16)),
                    _mm512_set1_ps(x86_fp16(x[i].d)));
}

static void to_float_q5_1(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ5_1 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store32_mul_add(y, q5_values(x[i].qs, x[i].qh), _mm512_set1_ps(x86_fp16(x[i].d)),
                        _mm512_set1_ps(x86_fp16(x[i].m)));
}

static void to_float_q2_K(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ2_K *x = vx;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = x86_fp16(x[i].d), dmin = x86_fp16(x[i].dmin);
        for (int h = 0; h < 2; h++) {
            const __m256i bits = x86_load256(x[i].qs + 32 * h);
            for (int p = 0; p < 4; p++, y += 32) {
                const __m256i q = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * p), m3);
                const uint8_t s0 = x[i].scales[8 * h + 2 * p], s1 = x[i].scales[8 * h + 2 * p + 1];
                store16_mul_sub(y, _mm256_castsi256_si128(q), _mm512_set1_ps(d * (float)(s0 & 0xf)),
                                _mm512_set1_ps(dmin * (float)(s0 >> 4)));
                store16_mul_sub(y + 16, _mm256_extracti128_si256(q, 1), _mm512_set1_ps(d * (float)(s1 & 0xf)),
                                _mm512_set1_ps(dmin * (float)(s1 >> 4)));
            }
        }
    }
}

static void to_float_q3_K(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ3_K *x = vx;
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = x86_fp16(x[i].d);
        int8_t sc[16];
        _mm_storeu_si128((__m128i *)sc, x86_q3_K_scales(x[i].scales));
        const __m256i hm = x86_load256(x[i].hmask);
        for (int h = 0; h < 2; h++) {
            const __m256i bits = x86_load256(x[i].qs + 32 * h);
            for (int p = 0; p < 4; p++, y += 32) {
                const __m256i lo = _mm256_and_si256(_mm256_srli_epi16(bits, 2 * p), m3);
                /* minus 4 where the high bit is clear */
                const __mmask32 set = _mm256_test_epi8_mask(hm, _mm256_set1_epi8((char)(1 << (4 * h + p))));
                const __m256i q = _mm256_mask_sub_epi8(_mm256_sub_epi8(lo, m4), set, lo, _mm256_setzero_si256());
                store16_mul(y, _mm256_castsi256_si128(q), _mm512_set1_ps(d * (float)sc[8 * h + 2 * p]));
                store16_mul(y + 16, _mm256_extracti128_si256(q, 1), _mm512_set1_ps(d * (float)sc[8 * h + 2 * p + 1]));
            }
        }
    }
}

static void to_float_q8_0(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ8_0 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store32_mul(y, x86_load256(x[i].qs), _mm512_set1_ps(x86_fp16(x[i].d)));
}

static void to_float_iq4_nl(const void *vx, float *y, int64_t n)
{
    const PlumbBlockIQ4_NL *x = vx;
    const __m256i book = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x86_iq4nl_values));
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store32_mul(y, _mm256_shuffle_epi8(book, x86_nibbles32(x[i].qs)), _mm512_set1_ps(x86_fp16(x[i].d)));
}

static inline void to_float_q45_K(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh, float d, float dmin,
                                  float *y)
{
    uint8_t sm[16];
    _mm_storeu_si128((__m128i *)sm, x86_q4_K_scales_mins(scales));
    const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
    __m256i hb = qh ? x86_load256(qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++, y += 64) {
        const __m256i bits = x86_load256(qs + 32 * c);
        __m256i lo = _mm256_and_si256(bits, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
            hb = _mm256_srli_epi16(hb, 2);
        }
        const __m512 d1 = _mm512_set1_ps(d * (float)sm[2 * c]), m1 = _mm512_set1_ps(dmin * (float)sm[8 + 2 * c]);
        const __m512 d2 = _mm512_set1_ps(d * (float)sm[2 * c + 1]), m2 = _mm512_set1_ps(dmin * (float)sm[8 + 2 * c + 1]);
        store16_mul_sub(y, _mm256_castsi256_si128(lo), d1, m1);
        store16_mul_sub(y + 16, _mm256_extracti128_si256(lo, 1), d1, m1);
        store16_mul_sub(y + 32, _mm256_castsi256_si128(hi), d2, m2);
        store16_mul_sub(y + 48, _mm256_extracti128_si256(hi, 1), d2, m2);
    }
}

static void to_float_q4_K(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ4_K *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++, y += PLUMB_QK_K)
        to_float_q45_K(x[i].scales, x[i].qs, NULL, x86_fp16(x[i].d), x86_fp16(x[i].dmin), y);
}

static void to_float_q5_K(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ5_K *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++, y += PLUMB_QK_K)
        to_float_q45_K(x[i].scales, x[i].qs, x[i].qh, x86_fp16(x[i].d), x86_fp16(x[i].dmin), y);
}

static void to_float_q6_K(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ6_K *x = vx;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30), o32 = _mm256_set1_epi8(32);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = x86_fp16(x[i].d);
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = x86_load256(x[i].ql + 64 * h), l1 = x86_load256(x[i].ql + 64 * h + 32);
            const __m256i hh = x86_load256(x[i].qh + 32 * h);
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hh, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(hh, 2), m30));
            for (int p = 0; p < 4; p++, y += 32) {
                const __m256i v = _mm256_sub_epi8(q[p], o32);
                const int k = 8 * h + 2 * p;
                store16_mul(y, _mm256_castsi256_si128(v), _mm512_set1_ps(d * (float)x[i].scales[k]));
                store16_mul(y + 16, _mm256_extracti128_si256(v, 1), _mm512_set1_ps(d * (float)x[i].scales[k + 1]));
            }
        }
    }
}

static void to_float_iq4_xs(const void *vx, float *y, int64_t n)
{
    const PlumbBlockIQ4_XS *x = vx;
    const __m256i book = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x86_iq4nl_values));
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = x86_fp16(x[i].d);
        int16_t ls[8];
        _mm_storeu_si128((__m128i *)ls, x86_iq4_xs_scales(x[i].scales_l, x[i].scales_h));
        for (int ib = 0; ib < 8; ib++, y += 32)
            store32_mul(y, _mm256_shuffle_epi8(book, x86_nibbles32(x[i].qs + 16 * ib)), _mm512_set1_ps(d * (float)ls[ib]));
    }
}

/* ------------------------------------------------------------ table */

void plumb_dsp_init_avx512(PlumbDsp *dsp)
{
    x86_install_dots512(dsp);

    dsp->from_float[PLUMB_QTYPE_F16] = from_float_f16;
    dsp->from_float[PLUMB_QTYPE_BF16] = from_float_bf16;
    dsp->from_float[PLUMB_QTYPE_Q8_0] = from_float_q8_0;
    dsp->from_float[PLUMB_QTYPE_Q8_1] = from_float_q8_1;
    dsp->from_float[PLUMB_QTYPE_Q8_K] = from_float_q8_K;

    dsp->to_float[PLUMB_QTYPE_F16] = to_float_f16;
    dsp->to_float[PLUMB_QTYPE_BF16] = to_float_bf16;
    dsp->to_float[PLUMB_QTYPE_Q4_0] = to_float_q4_0;
    dsp->to_float[PLUMB_QTYPE_Q4_1] = to_float_q4_1;
    dsp->to_float[PLUMB_QTYPE_Q5_0] = to_float_q5_0;
    dsp->to_float[PLUMB_QTYPE_Q5_1] = to_float_q5_1;
    dsp->to_float[PLUMB_QTYPE_Q2_K] = to_float_q2_K;
    dsp->to_float[PLUMB_QTYPE_Q3_K] = to_float_q3_K;
    dsp->to_float[PLUMB_QTYPE_Q8_0] = to_float_q8_0;
    dsp->to_float[PLUMB_QTYPE_IQ4_NL] = to_float_iq4_nl;
    dsp->to_float[PLUMB_QTYPE_Q4_K] = to_float_q4_K;
    dsp->to_float[PLUMB_QTYPE_Q5_K] = to_float_q5_K;
    dsp->to_float[PLUMB_QTYPE_Q6_K] = to_float_q6_K;
    dsp->to_float[PLUMB_QTYPE_IQ4_XS] = to_float_iq4_xs;

    plumb_dsp_init_avx512_vec(dsp);
}
