/*
 * x86_util.h — helpers shared by the x86 tier files (AVX2, AVX-512, AVX-512
 * VNNI).  Included only by files under simd/x86/, each compiled with its own
 * -m flags; everything is `static inline`, so each tier gets its own copy and
 * no instruction of a higher tier leaks into a lower one.  The AVX2 helpers
 * need -mavx2 -mfma -mf16c, which every x86 tier has; the 512-bit helpers are
 * compiled only when the file has AVX-512 (F, BW, DQ, VL).
 *
 * Integer dot products.  The signed x signed products use the "sign trick"
 * (maddubs of |w| with a * sign(w)), exact when the activation byte is not
 * -128: the activation quantisers (Q8_0, Q8_1, Q8_K) produce values in
 * [-127, 127] only, and that is the domain of every vec_dot here.  Weight
 * bytes may take any value.
 */
#ifndef PLUMB_X86_UTIL_H
#define PLUMB_X86_UTIL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#include "dsp.h"
#include "simd_util.h"

/* The vector-op halves of the tier initialisers (vec_<isa>.c); called by
 * plumb_dsp_init_<isa>() in quant_<isa>.c. */
void plumb_dsp_init_avx2_vec(PlumbDsp *dsp);
void plumb_dsp_init_avx512_vec(PlumbDsp *dsp);

/* The IQ4_NL / IQ4_XS codebook (the same sixteen values as
 * plumb_iq4nl_values; checkdsp holds the kernels to the reference). */
static const int8_t x86_iq4nl_values[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

/* binary16 bits -> float, one value (F16C). */
static inline float x86_fp16(uint16_t h)
{
    return _cvtsh_ss(h);
}

/* Unaligned little-endian loads. */
static inline uint32_t x86_load_u32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline uint16_t x86_load_u16(const void *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* ------------------------------------------------------------ 256-bit */

static inline float x86_hsum_ps256(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline int32_t x86_hsum_epi32_256(__m256i v)
{
    __m128i s = _mm_add_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    s = _mm_add_epi32(s, _mm_unpackhi_epi64(s, s));
    s = _mm_add_epi32(s, _mm_shuffle_epi32(s, _MM_SHUFFLE(2, 3, 0, 1)));
    return _mm_cvtsi128_si32(s);
}

static inline double x86_hsum_pd256(__m256d v)
{
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    s = _mm_add_sd(s, _mm_unpackhi_pd(s, s));
    return _mm_cvtsd_f64(s);
}

/* 16 bytes of nibbles -> 32 bytes: low nibbles in the low lane (elements
 * 0..15 of a 32-element block), high nibbles in the high lane. */
static inline __m256i x86_nibbles32(const uint8_t *q)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)q);
    const __m256i v = _mm256_inserti128_si256(_mm256_castsi128_si256(b), _mm_srli_epi16(b, 4), 1);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* 32 bits -> 32 bytes, 0xff where the bit is set (bit j -> byte j). */
static inline __m256i x86_bits_to_bytes32(uint32_t bits)
{
    const __m256i shuf = _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101,
                                            0x0202020202020202, 0x0303030303030303);
    const __m256i bit = _mm256_set1_epi64x((int64_t)0x8040201008040201ull);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int32_t)bits), shuf);
    return _mm256_cmpeq_epi8(_mm256_and_si256(v, bit), bit);
}

/* Pairwise int16 sums of w * a for unsigned w bytes and signed a bytes. */
static inline __m256i x86_dot_u8s8_i16(__m256i w, __m256i a)
{
    return _mm256_maddubs_epi16(w, a);
}

/* Four-way int32 sums of w * a for signed w and signed a (a != -128). */
static inline __m256i x86_dot_s8s8_i32(__m256i w, __m256i a)
{
    const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* Four-way int32 sums of w * a for unsigned w and signed a. */
static inline __m256i x86_dot_u8s8_i32(__m256i w, __m256i a)
{
    return _mm256_madd_epi16(_mm256_maddubs_epi16(w, a), _mm256_set1_epi16(1));
}

/* Q4_K / Q5_K: the 8 scales (low 8 bytes) and 8 mins (high 8 bytes) of the
 * 12 packed scale bytes, as in simd_scale_min_k4. */
static inline __m128i x86_q4_K_scales_mins(const uint8_t *packed)
{
    uint32_t u[3], s[4];
    memcpy(u, packed, 12);
    s[0] = u[0] & 0x3f3f3f3fu;                                        /* scales 0..3 */
    s[1] = (u[2] & 0x0f0f0f0fu) | ((u[0] >> 2) & 0x30303030u);      /* scales 4..7 */
    s[2] = u[1] & 0x3f3f3f3fu;                                        /* mins 0..3 */
    s[3] = ((u[2] >> 4) & 0x0f0f0f0fu) | ((u[1] >> 2) & 0x30303030u); /* mins 4..7 */
    return _mm_setr_epi32((int32_t)s[0], (int32_t)s[1], (int32_t)s[2], (int32_t)s[3]);
}

/* Q3_K: the 16 signed scales (minus 32) of the 12 packed bytes, as in
 * simd_q3_K_scales. */
static inline __m128i x86_q3_K_scales(const uint8_t *packed)
{
    uint32_t u[3], s[4];
    memcpy(u, packed, 12);
    s[0] = (u[0] & 0x0f0f0f0fu) | ((u[2] << 4) & 0x30303030u);
    s[1] = (u[1] & 0x0f0f0f0fu) | ((u[2] << 2) & 0x30303030u);
    s[2] = ((u[0] >> 4) & 0x0f0f0f0fu) | (u[2] & 0x30303030u);
    s[3] = ((u[1] >> 4) & 0x0f0f0f0fu) | ((u[2] >> 2) & 0x30303030u);
    return _mm_sub_epi8(_mm_setr_epi32((int32_t)s[0], (int32_t)s[1], (int32_t)s[2], (int32_t)s[3]),
                        _mm_set1_epi8(32));
}

/* IQ4_XS: the 8 signed scales (minus 32) of a super-block, one per int16
 * lane, as in simd_iq4_xs_scale. */
static inline __m128i x86_iq4_xs_scales(const uint8_t *scales_l, uint16_t scales_h)
{
    /* low 4 bits: sub-block 2i is the low nibble of byte i, 2i+1 the high */
    const __m128i l = _mm_cvtsi32_si128((int32_t)x86_load_u32(scales_l));
    const __m128i lo = _mm_cvtepu8_epi16(
        _mm_and_si128(_mm_unpacklo_epi8(l, _mm_srli_epi16(l, 4)), _mm_set1_epi8(0x0f)));
    /* top 2 bits: bit pair i of scales_h; lanes 0..3 take its low byte,
     * 4..7 its high byte, mask their pair and move it to bits 4..5 */
    const __m128i hb = _mm_cvtepu8_epi16(_mm_shuffle_epi8(_mm_cvtsi32_si128(scales_h),
                                                          _mm_setr_epi8(0, 0, 0, 0, 1, 1, 1, 1, -1, -1, -1, -1, -1, -1, -1, -1)));
    const __m128i pair = _mm_and_si128(hb, _mm_setr_epi16(3, 12, 48, 192, 3, 12, 48, 192));
    const __m128i hi = _mm_srli_epi16(_mm_mullo_epi16(pair, _mm_setr_epi16(64, 16, 4, 1, 64, 16, 4, 1)), 2);
    return _mm_sub_epi16(_mm_or_si128(lo, hi), _mm_set1_epi16(32));
}

/* Round half away from zero, exactly as roundf, for |v| < 2^23. */
static inline __m256 x86_roundf_ps256(__m256 v)
{
    const __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 frac = _mm256_sub_ps(v, t); /* exact */
    const __m256 sign = _mm256_and_ps(v, _mm256_set1_ps(-0.0f));
    const __m256 absf = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), frac);
    const __m256 up = _mm256_cmp_ps(absf, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_set1_ps(1.0f), sign);
    return _mm256_add_ps(t, _mm256_and_ps(up, one));
}

/* 32 int32 (four vectors in element order) -> 32 int8 with saturation, in
 * element order. */
static inline __m256i x86_pack_i32_to_i8(__m256i a, __m256i b, __m256i c, __m256i d)
{
    const __m256i ab = _mm256_packs_epi32(a, b); /* 0-3 8-11 | 4-7 12-15 */
    const __m256i cd = _mm256_packs_epi32(c, d);
    const __m256i v = _mm256_packs_epi16(ab, cd); /* 0-3 8-11 16-19 24-27 | 4-7 ... */
    return _mm256_permutevar8x32_epi32(v, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

#endif
