/*
 * quant_avx2.c — AVX2 (+FMA, F16C) kernels of the quant types: dot products
 * of weight rows with quantised activations, the activation quantisers and
 * dequantisation.  plumb_dsp_init_avx2() installs them, and the vector ops of
 * vec_avx2.c.
 *
 * What each kind of kernel promises against the C specification
 * (quant/quant_ref.c), as checkdsp checks:
 *  - from_float (Q8_0, Q8_1, Q8_K, F16, BF16): the same bytes;
 *  - to_float: the same bits (the same float operations in the same order,
 *    separate multiplies and adds, no FMA);
 *  - vec_dot: integer sums per block are exact; their scaling and the final
 *    sum are float in another order (FMA into eight lanes per block), so the
 *    result differs from C by a few float roundings of the sum of |w*a|.
 * Activations are in [-127, 127] (what the quantisers produce; see
 * x86_kernels.h for why -128 is excluded).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dsp.h"
#include "qtypes.h"
#include "x86_kernels.h"

/* ------------------------------------------------------------ helpers */

/* 16 int16 lanes: the two bytes of entry k of a 16-bit table broadcast
 * within each 128-bit lane (pshufb pattern). */
#define SEL16(k) _mm256_set1_epi16((int16_t)(((2 * (k) + 1) << 8) | (2 * (k))))

/* Scales per 16 elements for the 64 elements of bit pair p of a 128-element
 * half: bc holds the half's 8 scales (int16) in both 128-bit lanes; the
 * result has scale 2p in the low lane and 2p + 1 in the high lane (the
 * lanes of a maddubs result cover elements 0..15 and 16..31). */
static inline __m256i scale_pair(__m256i bc, int p)
{
    const char a = (char)(4 * p), b = (char)(4 * p + 2);
    return _mm256_shuffle_epi8(bc, _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a,
                                                    a + 1, a, a + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1, b,
                                                    b + 1, b, b + 1, b, b + 1, b, b + 1));
}

/* The two halves' scales of 16 int16 scales, each in both lanes. */
static inline void scale_halves(__m256i sc16, __m256i bc[2])
{
    bc[0] = _mm256_permute2x128_si256(sc16, sc16, 0x00);
    bc[1] = _mm256_permute2x128_si256(sc16, sc16, 0x11);
}

/* The int32 sums of the four bit pairs' maddubs results p0..p3, each
 * times its scales (scale_pair of bc): two chains of two multiply-adds. */
static inline __m256i scaled4(__m256i p0, __m256i p1, __m256i p2, __m256i p3, __m256i bc)
{
    const __m256i z = _mm256_setzero_si256();
    return _mm256_add_epi32(x86_dpwssd256(x86_dpwssd256(z, p0, scale_pair(bc, 0)), p1, scale_pair(bc, 1)),
                            x86_dpwssd256(x86_dpwssd256(z, p2, scale_pair(bc, 2)), p3, scale_pair(bc, 3)));
}

/* 32 signed bytes -> 32 floats at y, each (float)q * d. */
static inline void store_i8_mul(float *y, __m256i q, __m256 d)
{
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
    _mm256_storeu_ps(y + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
    _mm256_storeu_ps(y + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
}

/* 32 signed bytes -> 32 floats at y, each d * (float)q - m (multiply, then
 * subtract: the C order). */
static inline void store_i8_mul_sub(float *y, __m256i q, __m256 d, __m256 m)
{
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y + 0, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo))), m));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8)))), m));
    _mm256_storeu_ps(y + 16, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi))), m));
    _mm256_storeu_ps(y + 24, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8)))), m));
}

/* 32 signed bytes -> 32 floats, (float)q * d + m. */
static inline void store_i8_mul_add(float *y, __m256i q, __m256 d, __m256 m)
{
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y + 0, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d), m));
    _mm256_storeu_ps(y + 8, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d), m));
    _mm256_storeu_ps(y + 16, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d), m));
    _mm256_storeu_ps(y + 24, _mm256_add_ps(_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d), m));
}

/* 16 signed bytes -> 16 floats at y, (d * (float)q) per 16-element group
 * with d chosen by the caller. */
static inline void store_i8x16_mul(float *y, __m128i q, __m256 d)
{
    _mm256_storeu_ps(y + 0, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)))));
}

static inline void store_i8x16_mul_sub(float *y, __m128i q, __m256 d, __m256 m)
{
    _mm256_storeu_ps(y + 0, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))), m));
    _mm256_storeu_ps(y + 8, _mm256_sub_ps(_mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(q, 8)))), m));
}

static inline __m256i iq4_codebook(void)
{
    return _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)x86_iq4nl_values));
}

/* Q5 blocks: the 32 five-bit values, high bit from qh (bit j = element j). */
static inline __m256i q5_values(const uint8_t *qs, const uint8_t *qh)
{
    const __m256i hb = x86_bits_to_bytes32(x86_load_u32(qh));
    return _mm256_or_si256(x86_nibbles32(qs), _mm256_and_si256(hb, _mm256_set1_epi8(0x10)));
}

/* ------------------------------------------------------------ 32-element dots */

/*
 * The 4- and 5-bit 32-element formats go two blocks i and j per 256-bit
 * step, lanes by block: the low nibbles of both (their first 16 elements)
 * and the high nibbles (the last 16) meet the activations loaded half by
 * half, and one madd, convert and FMA serve the pair.  The weights are
 * taken unsigned (u = value + bias) and bias * sum(a) taken off:
 * sum((u - bias) * a) = sum(u * a) - sum(bias * a), all pairwise int16 sums
 * from maddubs; |sum| <= 2 * (31 + 16) * 127 * 2 < 32768, no overflow.
 */
typedef struct {
    __m256i lo, hi; /* unsigned weights: first / last 16 elements of i | of j */
} Pair;

static inline Pair pair_nibbles(const uint8_t *qi, const uint8_t *qj)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i bits = _mm256_loadu2_m128i((const __m128i *)qj, (const __m128i *)qi);
    const Pair p = { _mm256_and_si256(bits, m4), _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4) };
    return p;
}

/* Q5: add the fifth bits (bit e of qh = element e). */
static inline Pair pair_q5(const uint8_t *qi, const uint8_t *hi_i, const uint8_t *qj, const uint8_t *hi_j)
{
    const uint32_t hbi = x86_load_u32(hi_i), hbj = x86_load_u32(hi_j);
    const __m256i b4 = _mm256_set1_epi8(0x10);
    Pair p = pair_nibbles(qi, qj);
    p.lo = _mm256_or_si256(p.lo, _mm256_and_si256(x86_bits_to_bytes32((hbi & 0xffffu) | hbj << 16), b4));
    p.hi = _mm256_or_si256(p.hi, _mm256_and_si256(x86_bits_to_bytes32(hbi >> 16 | (hbj & 0xffff0000u)), b4));
    return p;
}

/* int32 lanes 0..3: partial sums of block i, 4..7: of block j. */
static inline __m256i pair_dot(Pair w, const int8_t *ai, const int8_t *aj, int bias)
{
    const __m256i a0 = _mm256_loadu2_m128i((const __m128i *)aj, (const __m128i *)ai);
    const __m256i a1 = _mm256_loadu2_m128i((const __m128i *)(aj + 16), (const __m128i *)(ai + 16));
    if (!bias)
        return x86_dpbusd256x2(_mm256_setzero_si256(), w.lo, a0, w.hi, a1);
    return x86_dpbusd256x2_bias(_mm256_setzero_si256(), w.lo, a0, w.hi, a1, _mm256_set1_epi8((char)bias));
}

/* d_i in float lanes 0..3, d_j in lanes 4..7. */
static inline __m256 scale2(float di, float dj)
{
    return _mm256_insertf128_ps(_mm256_castps128_ps256(_mm_set1_ps(di)), _mm_set1_ps(dj), 1);
}

/* One kernel per format: blocks in pairs, an odd last block paired with
 * itself and its copy scaled by 0; MIN_TERM(x, y) is what a block adds
 * besides its scaled integer sum (Q4_1 / Q5_1: m * s). */
#define PAIR_DOT(name, WT, AT, BIAS, WEIGHTS, MIN_TERM)                                             \
    static void name(int64_t n, float *s, const void *w, const void *a)                              \
    {                                                                                                \
        const WT *x = w;                                                                             \
        const AT *y = a;                                                                             \
        const int64_t nb = n / PLUMB_QK;                                                             \
        __m256 acc = _mm256_setzero_ps();                                                            \
        float summs = 0.0f;                                                                          \
        for (int64_t i = 0; i < nb; i += 2) {                                                        \
            const int64_t j = i + 1 < nb ? i + 1 : i;                                                \
            const __m256i p = pair_dot(WEIGHTS, y[i].qs, y[j].qs, BIAS);                             \
            const float di = x86_fp16(x[i].d) * x86_fp16(y[i].d);                                    \
            const float dj = j != i ? x86_fp16(x[j].d) * x86_fp16(y[j].d) : 0.0f;                    \
            acc = _mm256_fmadd_ps(scale2(di, dj), _mm256_cvtepi32_ps(p), acc);                       \
            summs += MIN_TERM(x[i], y[i]);                                                           \
            if (j != i)                                                                              \
                summs += MIN_TERM(x[j], y[j]);                                                       \
        }                                                                                            \
        *s = x86_hsum_ps256(acc) + summs;                                                            \
    }
#define NO_MIN(x, y) 0.0f
#define MIN_M_S(x, y) (x86_fp16((x).m) * x86_fp16((y).s))

PAIR_DOT(vec_dot_q4_0_q8_0, PlumbBlockQ4_0, PlumbBlockQ8_0, 8, pair_nibbles(x[i].qs, x[j].qs), NO_MIN)
PAIR_DOT(vec_dot_q5_0_q8_0, PlumbBlockQ5_0, PlumbBlockQ8_0, 16, pair_q5(x[i].qs, x[i].qh, x[j].qs, x[j].qh), NO_MIN)
PAIR_DOT(vec_dot_q4_1_q8_1, PlumbBlockQ4_1, PlumbBlockQ8_1, 0, pair_nibbles(x[i].qs, x[j].qs), MIN_M_S)
PAIR_DOT(vec_dot_q5_1_q8_1, PlumbBlockQ5_1, PlumbBlockQ8_1, 0, pair_q5(x[i].qs, x[i].qh, x[j].qs, x[j].qh), MIN_M_S)

#undef PAIR_DOT
#undef NO_MIN
#undef MIN_M_S

static void vec_dot_q8_0_q8_0(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ8_0 *x = w;
    const PlumbBlockQ8_0 *y = a;
    const int64_t nb = n / PLUMB_QK;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m256i p0 = x86_dot_s8s8_i32(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                            _mm256_loadu_si256((const __m256i *)y[i].qs));
        const __m256i p1 = x86_dot_s8s8_i32(_mm256_loadu_si256((const __m256i *)x[i + 1].qs),
                                            _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        const float d0 = x86_fp16(x[i].d) * x86_fp16(y[i].d);
        const float d1 = x86_fp16(x[i + 1].d) * x86_fp16(y[i + 1].d);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(p1), acc1);
    }
    if (i < nb) {
        const __m256i p0 = x86_dot_s8s8_i32(_mm256_loadu_si256((const __m256i *)x[i].qs),
                                            _mm256_loadu_si256((const __m256i *)y[i].qs));
        const float d0 = x86_fp16(x[i].d) * x86_fp16(y[i].d);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0);
    }
    *s = x86_hsum_ps256(_mm256_add_ps(acc0, acc1));
}

static void vec_dot_iq4_nl_q8_0(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockIQ4_NL *x = w;
    const PlumbBlockQ8_0 *y = a;
    const int64_t nb = n / PLUMB_QK;
    const __m256i book = iq4_codebook();
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 1 < nb; i += 2) {
        const __m256i q0 = _mm256_shuffle_epi8(book, x86_nibbles32(x[i].qs));
        const __m256i q1 = _mm256_shuffle_epi8(book, x86_nibbles32(x[i + 1].qs));
        const __m256i p0 = x86_dot_s8s8_i32(q0, _mm256_loadu_si256((const __m256i *)y[i].qs));
        const __m256i p1 = x86_dot_s8s8_i32(q1, _mm256_loadu_si256((const __m256i *)y[i + 1].qs));
        const float d0 = x86_fp16(y[i].d) * x86_fp16(x[i].d);
        const float d1 = x86_fp16(y[i + 1].d) * x86_fp16(x[i + 1].d);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), _mm256_cvtepi32_ps(p1), acc1);
    }
    if (i < nb) {
        const __m256i q0 = _mm256_shuffle_epi8(book, x86_nibbles32(x[i].qs));
        const __m256i p0 = x86_dot_s8s8_i32(q0, _mm256_loadu_si256((const __m256i *)y[i].qs));
        const float d0 = x86_fp16(y[i].d) * x86_fp16(x[i].d);
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), _mm256_cvtepi32_ps(p0), acc0);
    }
    *s = x86_hsum_ps256(_mm256_add_ps(acc0, acc1));
}

/* ------------------------------------------------------------ K-quant dots */

/* Q2_K: value 2 bits, per 16 elements a 4-bit scale and a 4-bit min. */
static void vec_dot_q2_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ2_K *x = w;
    const PlumbBlockQ8_K *y = a;
    const int64_t nb = n / PLUMB_QK_K;
    const __m256i m3 = _mm256_set1_epi8(3);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i packed = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0f)));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0f)));
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const __m256i summs = _mm256_madd_epi16(bsums, mn16);
        __m256i bc[2];
        scale_halves(sc16, bc);
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            const __m256i q0 = _mm256_and_si256(bits, m3);
            const __m256i q1 = _mm256_and_si256(_mm256_srli_epi16(bits, 2), m3);
            const __m256i q2 = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m3);
            const __m256i q3 = _mm256_and_si256(_mm256_srli_epi16(bits, 6), m3);
            const __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)(q8 + 0)));
            const __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            const __m256i p2 = _mm256_maddubs_epi16(q2, _mm256_loadu_si256((const __m256i *)(q8 + 64)));
            const __m256i p3 = _mm256_maddubs_epi16(q3, _mm256_loadu_si256((const __m256i *)(q8 + 96)));
            q8 += 128;
            sumi = _mm256_add_epi32(sumi, scaled4(p0, p1, p2, p3, bc[h]));
        }
        const float dall = y[i].d * x86_fp16(x[i].d);
        const float dmin = y[i].d * x86_fp16(x[i].dmin);
        acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summs), accm);
    }
    *s = x86_hsum_ps256(_mm256_sub_ps(acc, accm));
}

/* Move bit b of every byte to bit t (bits of other bytes do not cross in). */
static inline __m256i bit_to(__m256i v, int b, int t)
{
    return b <= t ? _mm256_slli_epi16(v, t - b) : _mm256_srli_epi16(v, b - t);
}

/* Q3_K: value (2 low bits | high bit << 2) - 4, signed 6-bit scales per 16.
 * The sum is taken over the unsigned 3-bit value q + 4 (0..7), and the 4 *
 * scale * sum(a) it adds is taken off with the activation block sums.  The
 * two parts fall in different lanes, so the float rounding scales with the
 * offset's share as for a min term (checkdsp's bound counts it); taking
 * each super-block's integer total first would cost 15-20 %. */
static void vec_dot_q3_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ3_K *x = w;
    const PlumbBlockQ8_K *y = a;
    const int64_t nb = n / PLUMB_QK_K;
    const __m256i m3 = _mm256_set1_epi8(3), m4 = _mm256_set1_epi8(4);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(x86_q3_K_scales(x[i].scales));
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 2);
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
        __m256i bc[2];
        scale_halves(sc16, bc);
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(bits, m3),
                                               _mm256_and_si256(bit_to(hm, 4 * h + 0, 2), m4));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 2), m3),
                                               _mm256_and_si256(bit_to(hm, 4 * h + 1, 2), m4));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 4), m3),
                                               _mm256_and_si256(bit_to(hm, 4 * h + 2, 2), m4));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(bits, 6), m3),
                                               _mm256_and_si256(bit_to(hm, 4 * h + 3, 2), m4));
            const __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)(q8 + 0)));
            const __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            const __m256i p2 = _mm256_maddubs_epi16(q2, _mm256_loadu_si256((const __m256i *)(q8 + 64)));
            const __m256i p3 = _mm256_maddubs_epi16(q3, _mm256_loadu_si256((const __m256i *)(q8 + 96)));
            q8 += 128;
            sumi = _mm256_add_epi32(sumi, scaled4(p0, p1, p2, p3, bc[h]));
        }
        sumi = _mm256_sub_epi32(sumi, corr);
        const float d = x86_fp16(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = x86_hsum_ps256(acc);
}

/* Q4_K / Q5_K: 8 sub-blocks of 32 with 6-bit scales and mins.  five != 0
 * adds Q5_K's fifth bit. */
static inline float dot_q45_K(int64_t nb, const uint8_t *base, size_t stride, size_t off_scales,
                              size_t off_qh, size_t off_qs, const PlumbBlockQ8_K *y, int five)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps(), accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, base += stride) {
        const uint16_t *dd = (const uint16_t *)base; /* d, dmin: first in both layouts */
        const uint8_t *qs = base + off_qs;
        const __m128i sm8 = x86_q4_K_scales_mins(base + off_scales);
        /* mins, each twice (one per 16-element activation sum) */
        const __m256i mn = _mm256_cvtepu8_epi16(_mm_shuffle_epi8(sm8, _mm_setr_epi8(8, 8, 9, 9, 10, 10, 11, 11, 12, 12,
                                                                                     13, 13, 14, 14, 15, 15)));
        const __m256i summ = _mm256_madd_epi16(mn, _mm256_loadu_si256((const __m256i *)y[i].bsums));
        const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm8));
        const int8_t *q8 = y[i].qs;
        __m256i hb = five ? _mm256_loadu_si256((const __m256i *)(base + off_qh)) : _mm256_setzero_si256();
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
            __m256i lo = _mm256_and_si256(bits, m4);
            __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
            if (five) {
                lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
                hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
                hb = _mm256_srli_epi16(hb, 2);
            }
            const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(q8 + 64 * c)));
            const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q8 + 64 * c + 32)));
            sumi = x86_dpwssd256(x86_dpwssd256(sumi, pl, _mm256_shuffle_epi8(sc, SEL16(2 * c))), ph,
                                 _mm256_shuffle_epi8(sc, SEL16(2 * c + 1)));
        }
        const float d = x86_fp16(x86_load_u16(dd)) * y[i].d;
        const float dmin = x86_fp16(x86_load_u16(dd + 1)) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summ), accm);
    }
    return x86_hsum_ps256(_mm256_sub_ps(acc, accm));
}

static void vec_dot_q4_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    *s = dot_q45_K(n / PLUMB_QK_K, w, sizeof(PlumbBlockQ4_K), offsetof(PlumbBlockQ4_K, scales), 0,
                   offsetof(PlumbBlockQ4_K, qs), a, 0);
}

static void vec_dot_q5_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    *s = dot_q45_K(n / PLUMB_QK_K, w, sizeof(PlumbBlockQ5_K), offsetof(PlumbBlockQ5_K, scales),
                   offsetof(PlumbBlockQ5_K, qh), offsetof(PlumbBlockQ5_K, qs), a, 1);
}

/* Q6_K: the sum is taken over the unsigned 6-bit value (0..63); the 32 *
 * scale * sum(a) this adds is taken off with the activation block sums (the
 * rounding as for Q3_K). */
static void vec_dot_q6_K_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ6_K *x = w;
    const PlumbBlockQ8_K *y = a;
    const int64_t nb = n / PLUMB_QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m256i bsums = _mm256_loadu_si256((const __m256i *)y[i].bsums);
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(bsums, sc16), 5);
        __m256i bc[2];
        scale_halves(sc16, bc);
        const int8_t *q8 = y[i].qs;
        __m256i sumi = _mm256_setzero_si256();
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i hh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 4), m30));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 2), m30));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hh, m30));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                               _mm256_and_si256(_mm256_srli_epi16(hh, 2), m30));
            const __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)(q8 + 0)));
            const __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(q8 + 32)));
            const __m256i p2 = _mm256_maddubs_epi16(q2, _mm256_loadu_si256((const __m256i *)(q8 + 64)));
            const __m256i p3 = _mm256_maddubs_epi16(q3, _mm256_loadu_si256((const __m256i *)(q8 + 96)));
            q8 += 128;
            sumi = _mm256_add_epi32(sumi, scaled4(p0, p1, p2, p3, bc[h]));
        }
        sumi = _mm256_sub_epi32(sumi, corr);
        const float d = x86_fp16(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    *s = x86_hsum_ps256(acc);
}

static void vec_dot_iq4_xs_q8_K(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockIQ4_XS *x = w;
    const PlumbBlockQ8_K *y = a;
    const int64_t nb = n / PLUMB_QK_K;
    const __m256i book = iq4_codebook(), m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sc = _mm256_broadcastsi128_si256(x86_iq4_xs_scales(x[i].scales_l, x[i].scales_h));
        const int8_t *q8 = y[i].qs;
        __m256i sum0 = _mm256_setzero_si256(), sum1 = _mm256_setzero_si256();
        /* Sub-blocks ib and ib + 1 at once, lanes by sub-block: the 32 bytes
         * of their nibbles give the first 16 elements of both (low nibbles)
         * and the last 16 of both (high nibbles), met by the activations
         * loaded half by half; one scale vector serves both. */
#pragma GCC unroll 4
        for (int ib = 0; ib < 8; ib += 2) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 16 * ib));
            const __m256i w0 = _mm256_shuffle_epi8(book, _mm256_and_si256(bits, m4));
            const __m256i w1 = _mm256_shuffle_epi8(book, _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4));
            const __m256i a0 = _mm256_loadu2_m128i((const __m128i *)(q8 + 32 * ib + 32), (const __m128i *)(q8 + 32 * ib));
            const __m256i a1 = _mm256_loadu2_m128i((const __m128i *)(q8 + 32 * ib + 48), (const __m128i *)(q8 + 32 * ib + 16));
            const __m256i p0 = _mm256_maddubs_epi16(_mm256_sign_epi8(w0, w0), _mm256_sign_epi8(a0, w0));
            const __m256i p1 = _mm256_maddubs_epi16(_mm256_sign_epi8(w1, w1), _mm256_sign_epi8(a1, w1));
            const __m256i scl = _mm256_shuffle_epi8(sc, _mm256_setr_epi8(
                (char)(2 * ib), (char)(2 * ib + 1), (char)(2 * ib), (char)(2 * ib + 1), (char)(2 * ib), (char)(2 * ib + 1),
                (char)(2 * ib), (char)(2 * ib + 1), (char)(2 * ib), (char)(2 * ib + 1), (char)(2 * ib), (char)(2 * ib + 1),
                (char)(2 * ib), (char)(2 * ib + 1), (char)(2 * ib), (char)(2 * ib + 1), (char)(2 * ib + 2), (char)(2 * ib + 3),
                (char)(2 * ib + 2), (char)(2 * ib + 3), (char)(2 * ib + 2), (char)(2 * ib + 3), (char)(2 * ib + 2),
                (char)(2 * ib + 3), (char)(2 * ib + 2), (char)(2 * ib + 3), (char)(2 * ib + 2), (char)(2 * ib + 3),
                (char)(2 * ib + 2), (char)(2 * ib + 3), (char)(2 * ib + 2), (char)(2 * ib + 3)));
            sum0 = x86_dpwssd256(sum0, p0, scl);
            sum1 = x86_dpwssd256(sum1, p1, scl);
        }
        const float d = x86_fp16(x[i].d) * y[i].d;
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(sum0, sum1)), acc);
    }
    *s = x86_hsum_ps256(acc);
}

/* ------------------------------------------------------------ float dots */

static void vec_dot_f32_f32(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), acc0);
    float sum = x86_hsum_ps256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

static inline __m256 load_f16x8(const uint16_t *p)
{
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p));
}

static inline __m256 load_bf16x8(const uint16_t *p)
{
    const __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static void vec_dot_f16_f16(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        acc0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), acc0);
        acc1 = _mm256_fmadd_ps(load_f16x8(x + i + 8), load_f16x8(y + i + 8), acc1);
        acc2 = _mm256_fmadd_ps(load_f16x8(x + i + 16), load_f16x8(y + i + 16), acc2);
        acc3 = _mm256_fmadd_ps(load_f16x8(x + i + 24), load_f16x8(y + i + 24), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_f16x8(x + i), load_f16x8(y + i), acc0);
    float sum = x86_hsum_ps256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += x86_fp16(x[i]) * x86_fp16(y[i]);
    *s = sum;
}

static void vec_dot_bf16_bf16(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    __m256 acc2 = _mm256_setzero_ps(), acc3 = _mm256_setzero_ps();
    int64_t i = 0;
    const __m256i zero = _mm256_setzero_si256();
    /* 16 elements per load; unpacking with zero below each bf16 gives its
     * float, in an order (0-3, 8-11 and 4-7, 12-15) that both operands
     * share, which is all a dot product needs */
    for (; i + 32 <= n; i += 32) {
        const __m256i x0 = _mm256_loadu_si256((const __m256i *)(x + i));
        const __m256i y0 = _mm256_loadu_si256((const __m256i *)(y + i));
        const __m256i x1 = _mm256_loadu_si256((const __m256i *)(x + i + 16));
        const __m256i y1 = _mm256_loadu_si256((const __m256i *)(y + i + 16));
        acc0 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, x0)),
                               _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, y0)), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, x0)),
                               _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, y0)), acc1);
        acc2 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, x1)),
                               _mm256_castsi256_ps(_mm256_unpacklo_epi16(zero, y1)), acc2);
        acc3 = _mm256_fmadd_ps(_mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, x1)),
                               _mm256_castsi256_ps(_mm256_unpackhi_epi16(zero, y1)), acc3);
    }
    for (; i + 8 <= n; i += 8)
        acc0 = _mm256_fmadd_ps(load_bf16x8(x + i), load_bf16x8(y + i), acc0);
    float sum = x86_hsum_ps256(_mm256_add_ps(_mm256_add_ps(acc0, acc1), _mm256_add_ps(acc2, acc3)));
    for (; i < n; i++)
        sum += plumb_bf16_to_fp32(x[i]) * plumb_bf16_to_fp32(y[i]);
    *s = sum;
}

/* ------------------------------------------------------------ quantisers */

/* max |x| over 32 floats, exact. */
static inline float amax32(__m256 v0, __m256 v1, __m256 v2, __m256 v3)
{
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_max_ps(_mm256_max_ps(_mm256_andnot_ps(sign, v0), _mm256_andnot_ps(sign, v1)),
                             _mm256_max_ps(_mm256_andnot_ps(sign, v2), _mm256_andnot_ps(sign, v3)));
    __m128 r = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    r = _mm_max_ps(r, _mm_movehl_ps(r, r));
    r = _mm_max_ss(r, _mm_movehdup_ps(r));
    return _mm_cvtss_f32(r);
}

static inline uint16_t to_fp16(float f)
{
    return (uint16_t)_cvtss_sh(f, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
}

/* One Q8_0 / Q8_1 block: d = amax/127, q = x * (127/amax) rounded half to
 * even; returns sum(q). */
static inline int quantise_q8_32(const float *x, int8_t *qs, uint16_t *dout, float *dval)
{
    const __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
    const __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
    const float amax = amax32(v0, v1, v2, v3), d = amax / 127.0f;
    const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
    const __m256 vid = _mm256_set1_ps(id);
    const __m256i i0 = _mm256_cvtps_epi32(x86_rint_ps256(_mm256_mul_ps(v0, vid)));
    const __m256i i1 = _mm256_cvtps_epi32(x86_rint_ps256(_mm256_mul_ps(v1, vid)));
    const __m256i i2 = _mm256_cvtps_epi32(x86_rint_ps256(_mm256_mul_ps(v2, vid)));
    const __m256i i3 = _mm256_cvtps_epi32(x86_rint_ps256(_mm256_mul_ps(v3, vid)));
    _mm256_storeu_si256((__m256i *)qs, x86_pack_i32_to_i8(i0, i1, i2, i3));
    *dout = to_fp16(d);
    *dval = d;
    return x86_hsum_epi32_256(_mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3)));
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

static void from_float_q8_0x(const float *x, void *vy, int64_t n)
{
    PlumbBlockQ8_0X *y = vy;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        uint16_t dh;
        float d;
        const int sum = quantise_q8_32(x, y[i].qs, &dh, &d);
        y[i].d = x86_fp16(dh);
        y[i].s8 = 8 * sum;
    }
}

/* Sums of 16 consecutive int32 from the pairs (t[2g], t[2g+1]) for g = 0..3:
 * t holds 8 vectors of 8 lanes; returns 4 sums as int32. */
static inline __m128i sums16_x4(const __m256i *t)
{
    const __m256i u0 = _mm256_hadd_epi32(_mm256_add_epi32(t[0], t[1]), _mm256_add_epi32(t[2], t[3]));
    const __m256i u1 = _mm256_hadd_epi32(_mm256_add_epi32(t[4], t[5]), _mm256_add_epi32(t[6], t[7]));
    const __m256i w = _mm256_hadd_epi32(u0, u1); /* g0 g1 g2 g3 (low halves) | (high halves) */
    return _mm_add_epi32(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1));
}

static void from_float_q8_K(const float *x, void *vy, int64_t n)
{
    PlumbBlockQ8_K *y = vy;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++, x += PLUMB_QK_K) {
        __m256 m = _mm256_setzero_ps();
        for (int j = 0; j < PLUMB_QK_K; j += 8)
            m = _mm256_max_ps(m, _mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)));
        __m128 r = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        r = _mm_max_ps(r, _mm_movehl_ps(r, r));
        r = _mm_max_ss(r, _mm_movehdup_ps(r));
        const float amax = _mm_cvtss_f32(r);
        if (amax == 0.0f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* the first element of largest magnitude gives the sign */
        const __m256 va = _mm256_set1_ps(amax);
        float max = amax;
        for (int j = 0; j < PLUMB_QK_K; j += 8) {
            const __m256 eq = _mm256_cmp_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + j)), va, _CMP_EQ_OQ);
            const int mask = _mm256_movemask_ps(eq);
            if (mask) {
                max = x[j + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.0f / max;
        const __m256 vs = _mm256_set1_ps(iscale);
        const __m256i lim = _mm256_set1_epi32(127);
        __m256i t[8];
        for (int j = 0; j < PLUMB_QK_K; j += 64) {
            for (int k = 0; k < 8; k++) /* round half to even: the MXCSR default, as lrintf */
                t[k] = _mm256_min_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(vs, _mm256_loadu_ps(x + j + 8 * k))), lim);
            _mm256_storeu_si256((__m256i *)(y[i].qs + j), x86_pack_i32_to_i8(t[0], t[1], t[2], t[3]));
            _mm256_storeu_si256((__m256i *)(y[i].qs + j + 32), x86_pack_i32_to_i8(t[4], t[5], t[6], t[7]));
            const __m128i g = sums16_x4(t);
            _mm_storel_epi64((__m128i *)(y[i].bsums + j / 16), _mm_packs_epi32(g, g));
        }
        y[i].d = 1.0f / iscale;
    }
}

static void from_float_f16(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
    for (; i < n; i++)
        y[i] = to_fp16(x[i]);
}

/* bf16: round to nearest even; a NaN keeps its top bits and is quieted. */
static inline __m256i bf16x8(__m256 v)
{
    const __m256i u = _mm256_castps_si256(v);
    const __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), odd), 16);
    const __m256i nanv = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
    const __m256 isnan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    return _mm256_blendv_epi8(r, nanv, _mm256_castps_si256(isnan));
}

static void from_float_bf16(const float *x, void *vy, int64_t n)
{
    uint16_t *y = vy;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i p = _mm256_packus_epi32(bf16x8(_mm256_loadu_ps(x + i)), bf16x8(_mm256_loadu_ps(x + i + 8)));
        _mm256_storeu_si256((__m256i *)(y + i), _mm256_permute4x64_epi64(p, _MM_SHUFFLE(3, 1, 2, 0)));
    }
    for (; i < n; i++) {
        const uint32_t u = qb_f32_bits(x[i]);
        y[i] = (u & 0x7fffffffu) > 0x7f800000u ? (uint16_t)((u >> 16) | 0x40u)
                                                : (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
    }
}

/* ------------------------------------------------------------ dequantisers */

static void to_float_f16(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, load_f16x8(x + i));
    for (; i < n; i++)
        y[i] = x86_fp16(x[i]);
}

static void to_float_bf16(const void *vx, float *y, int64_t n)
{
    const uint16_t *x = vx;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, load_bf16x8(x + i));
    for (; i < n; i++)
        y[i] = plumb_bf16_to_fp32(x[i]);
}

static void to_float_q4_0(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ4_0 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store_i8_mul(y, _mm256_sub_epi8(x86_nibbles32(x[i].qs), _mm256_set1_epi8(8)),
                     _mm256_set1_ps(x86_fp16(x[i].d)));
}

static void to_float_q4_1(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ4_1 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store_i8_mul_add(y, x86_nibbles32(x[i].qs), _mm256_set1_ps(x86_fp16(x[i].d)),
                         _mm256_set1_ps(x86_fp16(x[i].m)));
}

static void to_float_q5_0(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ5_0 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store_i8_mul(y, _mm256_sub_epi8(q5_values(x[i].qs, x[i].qh), _mm256_set1_epi8(16)),
                     _mm256_set1_ps(x86_fp16(x[i].d)));
}

static void to_float_q5_1(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ5_1 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store_i8_mul_add(y, q5_values(x[i].qs, x[i].qh), _mm256_set1_ps(x86_fp16(x[i].d)),
                         _mm256_set1_ps(x86_fp16(x[i].m)));
}

static void to_float_q8_0(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ8_0 *x = vx;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store_i8_mul(y, _mm256_loadu_si256((const __m256i *)x[i].qs), _mm256_set1_ps(x86_fp16(x[i].d)));
}

static void to_float_iq4_nl(const void *vx, float *y, int64_t n)
{
    const PlumbBlockIQ4_NL *x = vx;
    const __m256i book = iq4_codebook();
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK)
        store_i8_mul(y, _mm256_shuffle_epi8(book, x86_nibbles32(x[i].qs)), _mm256_set1_ps(x86_fp16(x[i].d)));
}

static void to_float_q2_K(const void *vx, float *y, int64_t n)
{
    const PlumbBlockQ2_K *x = vx;
    const __m256i m3 = _mm256_set1_epi8(3);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = x86_fp16(x[i].d), dmin = x86_fp16(x[i].dmin);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int p = 0; p < 4; p++, y += 32) {
                const __m256i q = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_set1_epi32(2 * p)), m3);
                const uint8_t s0 = x[i].scales[8 * h + 2 * p], s1 = x[i].scales[8 * h + 2 * p + 1];
                store_i8x16_mul_sub(y, _mm256_castsi256_si128(q), _mm256_set1_ps(d * (float)(s0 & 0xf)),
                                    _mm256_set1_ps(dmin * (float)(s0 >> 4)));
                store_i8x16_mul_sub(y + 16, _mm256_extracti128_si256(q, 1), _mm256_set1_ps(d * (float)(s1 & 0xf)),
                                    _mm256_set1_ps(dmin * (float)(s1 >> 4)));
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
        const __m256i hm = _mm256_loadu_si256((const __m256i *)x[i].hmask);
#pragma GCC unroll 2
        for (int h = 0; h < 2; h++) {
            const __m256i bits = _mm256_loadu_si256((const __m256i *)(x[i].qs + 32 * h));
            for (int p = 0; p < 4; p++, y += 32) {
                const __m256i lo = _mm256_and_si256(_mm256_srlv_epi32(bits, _mm256_set1_epi32(2 * p)), m3);
                /* minus 4 where the high bit is clear */
                const __m256i hb = _mm256_and_si256(_mm256_srlv_epi32(hm, _mm256_set1_epi32(4 * h + p)), _mm256_set1_epi8(1));
                const __m256i q = _mm256_sub_epi8(lo, _mm256_andnot_si256(_mm256_slli_epi16(hb, 2), m4));
                store_i8x16_mul(y, _mm256_castsi256_si128(q), _mm256_set1_ps(d * (float)sc[8 * h + 2 * p]));
                store_i8x16_mul(y + 16, _mm256_extracti128_si256(q, 1), _mm256_set1_ps(d * (float)sc[8 * h + 2 * p + 1]));
            }
        }
    }
}

static inline void to_float_q45_K(const uint8_t *scales, const uint8_t *qs, const uint8_t *qh,
                                  float d, float dmin, float *y)
{
    uint8_t sm[16];
    _mm_storeu_si128((__m128i *)sm, x86_q4_K_scales_mins(scales));
    const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
    __m256i hb = qh ? _mm256_loadu_si256((const __m256i *)qh) : _mm256_setzero_si256();
    for (int c = 0; c < 4; c++, y += 64) {
        const __m256i bits = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(bits, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(bits, 4), m4);
        if (qh) {
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
            hb = _mm256_srli_epi16(hb, 2);
        }
        store_i8_mul_sub(y, lo, _mm256_set1_ps(d * (float)sm[2 * c]), _mm256_set1_ps(dmin * (float)sm[8 + 2 * c]));
        store_i8_mul_sub(y + 32, hi, _mm256_set1_ps(d * (float)sm[2 * c + 1]),
                         _mm256_set1_ps(dmin * (float)sm[8 + 2 * c + 1]));
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
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(x[i].ql + 64 * h + 32));
            const __m256i hh = _mm256_loadu_si256((const __m256i *)(x[i].qh + 32 * h));
            __m256i q[4];
            q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 4), m30));
            q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hh, 2), m30));
            q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hh, m30));
            q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                   _mm256_and_si256(_mm256_srli_epi16(hh, 2), m30));
            for (int p = 0; p < 4; p++, y += 32) {
                const __m256i v = _mm256_sub_epi8(q[p], o32);
                const int k = 8 * h + 2 * p;
                store_i8x16_mul(y, _mm256_castsi256_si128(v), _mm256_set1_ps(d * (float)x[i].scales[k]));
                store_i8x16_mul(y + 16, _mm256_extracti128_si256(v, 1), _mm256_set1_ps(d * (float)x[i].scales[k + 1]));
            }
        }
    }
}

static void to_float_iq4_xs(const void *vx, float *y, int64_t n)
{
    const PlumbBlockIQ4_XS *x = vx;
    const __m256i book = iq4_codebook();
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = x86_fp16(x[i].d);
        int16_t ls[8];
        _mm_storeu_si128((__m128i *)ls, x86_iq4_xs_scales(x[i].scales_l, x[i].scales_h));
        for (int ib = 0; ib < 8; ib++, y += 32)
            store_i8_mul(y, _mm256_shuffle_epi8(book, x86_nibbles32(x[i].qs + 16 * ib)),
                         _mm256_set1_ps(d * (float)ls[ib]));
    }
}

/* ------------------------------------------------------------ table */

void plumb_dsp_init_avx2(PlumbDsp *dsp)
{
    dsp->vec_dot[PLUMB_QTYPE_F32] = vec_dot_f32_f32;
    dsp->vec_dot[PLUMB_QTYPE_F16] = vec_dot_f16_f16;
    dsp->vec_dot[PLUMB_QTYPE_BF16] = vec_dot_bf16_bf16;
    dsp->vec_dot[PLUMB_QTYPE_Q4_0] = vec_dot_q4_0_q8_0;
    dsp->vec_dot[PLUMB_QTYPE_Q4_1] = vec_dot_q4_1_q8_1;
    dsp->vec_dot[PLUMB_QTYPE_Q5_0] = vec_dot_q5_0_q8_0;
    dsp->vec_dot[PLUMB_QTYPE_Q5_1] = vec_dot_q5_1_q8_1;
    dsp->vec_dot[PLUMB_QTYPE_Q8_0] = vec_dot_q8_0_q8_0;
    dsp->vec_dot[PLUMB_QTYPE_Q2_K] = vec_dot_q2_K_q8_K;
    dsp->vec_dot[PLUMB_QTYPE_Q3_K] = vec_dot_q3_K_q8_K;
    dsp->vec_dot[PLUMB_QTYPE_Q4_K] = vec_dot_q4_K_q8_K;
    dsp->vec_dot[PLUMB_QTYPE_Q5_K] = vec_dot_q5_K_q8_K;
    dsp->vec_dot[PLUMB_QTYPE_Q6_K] = vec_dot_q6_K_q8_K;
    dsp->vec_dot[PLUMB_QTYPE_IQ4_NL] = vec_dot_iq4_nl_q8_0;
    dsp->vec_dot[PLUMB_QTYPE_IQ4_XS] = vec_dot_iq4_xs_q8_K;

    dsp->from_float[PLUMB_QTYPE_F16] = from_float_f16;
    dsp->from_float[PLUMB_QTYPE_BF16] = from_float_bf16;
    dsp->from_float[PLUMB_QTYPE_Q8_0] = from_float_q8_0;
    dsp->from_float[PLUMB_QTYPE_Q8_0X] = from_float_q8_0x;
    dsp->from_float[PLUMB_QTYPE_Q8_1] = from_float_q8_1;
    dsp->from_float[PLUMB_QTYPE_Q8_K] = from_float_q8_K;

    dsp->to_float[PLUMB_QTYPE_F16] = to_float_f16;
    dsp->to_float[PLUMB_QTYPE_BF16] = to_float_bf16;
    dsp->to_float[PLUMB_QTYPE_Q4_0] = to_float_q4_0;
    dsp->to_float[PLUMB_QTYPE_Q4_1] = to_float_q4_1;
    dsp->to_float[PLUMB_QTYPE_Q5_0] = to_float_q5_0;
    dsp->to_float[PLUMB_QTYPE_Q5_1] = to_float_q5_1;
    dsp->to_float[PLUMB_QTYPE_Q8_0] = to_float_q8_0;
    dsp->to_float[PLUMB_QTYPE_Q2_K] = to_float_q2_K;
    dsp->to_float[PLUMB_QTYPE_Q3_K] = to_float_q3_K;
    dsp->to_float[PLUMB_QTYPE_Q4_K] = to_float_q4_K;
    dsp->to_float[PLUMB_QTYPE_Q5_K] = to_float_q5_K;
    dsp->to_float[PLUMB_QTYPE_Q6_K] = to_float_q6_K;
    dsp->to_float[PLUMB_QTYPE_IQ4_NL] = to_float_iq4_nl;
    dsp->to_float[PLUMB_QTYPE_IQ4_XS] = to_float_iq4_xs;

    plumb_dsp_init_avx2_vec(dsp);
}
