/*
 * x86_kernels.h — helpers shared by the x86 tier files (AVX2, AVX-VNNI,
 * AVX-512, AVX-512 VNNI).  Included only by files under simd/x86/, each
 * compiled with its own -m flags; everything is `static inline`, so each
 * tier gets its own copy and no instruction of a higher tier leaks into a
 * lower one.  The AVX2 helpers
 * need -mavx2 -mfma -mf16c, which every x86 tier has; the 512-bit helpers are
 * compiled only when the file has AVX-512 (F, BW, DQ, VL).
 *
 * Integer dot products.  The signed x signed products use the "sign trick"
 * (maddubs of |w| with a * sign(w)), exact when the activation byte is not
 * -128: the activation quantisers (Q8_0, Q8_1, Q8_K) produce values in
 * [-127, 127] only, and that is the domain of every vec_dot here.  Weight
 * bytes may take any value.
 */
#ifndef PLUMB_X86_KERNELS_H
#define PLUMB_X86_KERNELS_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

/* The kernels that promise C's bits (dequantisers, rope, axpy, scale) write
 * every multiply and add apart; none may be fused into an FMA behind their
 * back.  GCC does not contract in ISO C mode (-std=c11); clang does unless
 * told, for the rest of each file that includes this header. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

#include "dsp.h"
#include "qbits.h"

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

/*
 * 256-bit integer multiply-adds.  With AVX-VNNI (__AVXVNNI__, the VEX
 * encoding of Alder Lake and later) or AVX-512 VNNI with VL (the EVEX
 * encoding) they are one vpdpbusd / vpdpwssd each; otherwise the AVX2
 * sequence gives the same integers inside the domain stated per helper.
 * Each tier file compiles them with its own flags, so the AVX2 tier keeps
 * its instructions and the VNNI tiers get the fused ones from the same
 * kernel source.
 */
#if defined(__AVXVNNI__) || (defined(__AVX512VNNI__) && defined(__AVX512VL__))
#define X86_VNNI256 1
#else
#define X86_VNNI256 0
#endif

/* acc + four-way int32 sums of u * s (u unsigned bytes, s signed bytes).
 * vpdpbusd is exact for all inputs; the AVX2 sequence (maddubs, madd with
 * ones, add) saturates each pair u0*s0 + u1*s1 to int16, so it is exact
 * only where no pair passes 32767 in magnitude: u <= 128 and |s| <= 127
 * (the sign trick: |w| <= 128 against activations in [-127, 127]) keep
 * every pair within 2 * 128 * 127 = 32512. */
static inline __m256i x86_dpbusd256(__m256i acc, __m256i u, __m256i s)
{
#if defined(__AVXVNNI__)
    return _mm256_dpbusd_avx_epi32(acc, u, s);
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpbusd_epi32(acc, u, s);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1)));
#endif
}

/* acc + four-way sums of u0 * s0 plus those of u1 * s1.  The AVX2 sequence
 * adds the two maddubs results in int16 before widening (one madd for
 * both), so it is exact only where every pair-of-pairs sum fits int16: the
 * 32-element formats' nibbles and five-bit values (u <= 31) against
 * |s| <= 127 give at most 2 * 2 * 31 * 127 = 15748. */
static inline __m256i x86_dpbusd256x2(__m256i acc, __m256i u0, __m256i s0, __m256i u1, __m256i s1)
{
#if X86_VNNI256
    return x86_dpbusd256(x86_dpbusd256(acc, u0, s0), u1, s1);
#else
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(p, _mm256_set1_epi16(1)));
#endif
}

/* acc + four-way sums of (u0 - b) * s0 plus those of (u1 - b) * s1, for
 * unsigned weights u0, u1 stored with the bias b: the biased sums less
 * b * (s0 + s1).  The AVX2 sequence subtracts in int16 before its one madd,
 * exact within x86_dpbusd256x2's domain (u, b <= 31, |s| <= 127). */
static inline __m256i x86_dpbusd256x2_bias(__m256i acc, __m256i u0, __m256i s0, __m256i u1, __m256i s1,
                                           __m256i b)
{
#if X86_VNNI256
    const __m256i z = _mm256_setzero_si256();
    return _mm256_sub_epi32(x86_dpbusd256x2(acc, u0, s0, u1, s1), x86_dpbusd256x2(z, b, s0, b, s1));
#else
    const __m256i p = _mm256_add_epi16(_mm256_maddubs_epi16(u0, s0), _mm256_maddubs_epi16(u1, s1));
    const __m256i q = _mm256_add_epi16(_mm256_maddubs_epi16(b, s0), _mm256_maddubs_epi16(b, s1));
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_sub_epi16(p, q), _mm256_set1_epi16(1)));
#endif
}

/* acc + pairwise int32 sums of a * b (int16 lanes): exact in both forms
 * (vpmaddwd saturates only for a pair of -32768 * -32768, which no kernel
 * here forms: its int16 operands are maddubs sums and small scales). */
static inline __m256i x86_dpwssd256(__m256i acc, __m256i a, __m256i b)
{
#if defined(__AVXVNNI__)
    return _mm256_dpwssd_avx_epi32(acc, a, b);
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
    return _mm256_dpwssd_epi32(acc, a, b);
#else
    return _mm256_add_epi32(acc, _mm256_madd_epi16(a, b));
#endif
}

/* The exact sum of a Q8_0 block's 32 bytes. */
static inline int32_t x86_q8_0_sum(const PlumbBlockQ8_0 *a)
{
    return x86_hsum_epi32_256(
        x86_dpbusd256(_mm256_setzero_si256(), _mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)a->qs)));
}

/* Four-way int32 sums of w * a for signed w and signed a (a != -128). */
static inline __m256i x86_dot_s8s8_i32(__m256i w, __m256i a)
{
    return x86_dpbusd256(_mm256_setzero_si256(), _mm256_sign_epi8(w, w), _mm256_sign_epi8(a, w));
}

/* Q4_K / Q5_K: the 8 scales (low 8 bytes) and 8 mins (high 8 bytes) of the
 * 12 packed scale bytes, as in qb_scale_min_k4.  Reads 16 bytes: in both
 * block layouts the scales are followed by more of the block. */
static inline __m128i x86_q4_K_scales_mins(const uint8_t *packed)
{
    const __m128i u = _mm_loadu_si128((const __m128i *)packed); /* u0 u1 u2 (u3 unused) */
    /* low bits: scales 0..3 = u0 & 0x3f, 4..7 = u2 & 0x0f; mins 0..3 = u1 & 0x3f, 4..7 = (u2 >> 4) & 0x0f */
    const __m128i a = _mm_shuffle_epi32(u, _MM_SHUFFLE(2, 1, 2, 0));
    const __m128i lo = _mm_and_si128(_mm_srlv_epi32(a, _mm_setr_epi32(0, 0, 0, 4)),
                                     _mm_setr_epi32(0x3f3f3f3f, 0x0f0f0f0f, 0x3f3f3f3f, 0x0f0f0f0f));
    /* top 2 bits of scales / mins 4..7: bits 6..7 of u0 / u1 */
    const __m128i b = _mm_shuffle_epi32(u, _MM_SHUFFLE(1, 1, 0, 0));
    const __m128i hi = _mm_and_si128(_mm_srli_epi32(b, 2), _mm_setr_epi32(0, 0x30303030, 0, 0x30303030));
    return _mm_or_si128(lo, hi);
}

/* Q3_K: the 16 signed scales (minus 32) of the 12 packed bytes, as in
 * qb_q3_K_scales. */
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
 * lane, as in qb_iq4_xs_scale. */
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

/* Round half to even (as lrintf in the default rounding mode). */
static inline __m256 x86_rint_ps256(__m256 v)
{
    return _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
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

/* ------------------------------------------------------------ 512-bit */

#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__AVX512VL__)
/*
 * The 512-bit dot products, shared by the AVX-512 tier (quant_avx512.c) and
 * the AVX-512 VNNI tier (quant_avx512vnni.c): each file compiles them with
 * its own flags.  They follow the AVX2 kernels of quant_avx2.c step for step,
 * two 256-bit halves at a time (two 32-element blocks, or two sub-blocks of a
 * K-quant super-block).  Under __AVX512VNNI__ the integer multiply-adds are
 * vpdpbusd (u8 x s8 four-way sums) and vpdpwssd (s16 x s16 pair sums added
 * to the accumulator); without it the same sums come from maddubs and madd,
 * which give the same integers because no pair sum of ours saturates int16
 * (unsigned weight <= 128, |activation| <= 127).
 */

/* lo in bits 0..255, hi in bits 256..511. */
static inline __m512i x86_join256(__m256i lo, __m256i hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* lo in float lanes 0..7, hi in lanes 8..15. */
static inline __m512 x86_join_ps(float lo, float hi)
{
    return _mm512_insertf32x8(_mm512_set1_ps(lo), _mm256_set1_ps(hi), 1);
}

/* acc + four-way int32 sums of u * s (u unsigned bytes, s signed). */
static inline __m512i x86_dpbusd512(__m512i acc, __m512i u, __m512i s)
{
#if defined(__AVX512VNNI__)
    return _mm512_dpbusd_epi32(acc, u, s);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(_mm512_maddubs_epi16(u, s), _mm512_set1_epi16(1)));
#endif
}

/* acc + pairwise int32 sums of a * b (int16 lanes). */
static inline __m512i x86_dpwssd512(__m512i acc, __m512i a, __m512i b)
{
#if defined(__AVX512VNNI__)
    return _mm512_dpwssd_epi32(acc, a, b);
#else
    return _mm512_add_epi32(acc, _mm512_madd_epi16(a, b));
#endif
}

/* a with the sign of w applied (negated where w < 0): with |w| the operands
 * of an unsigned x signed product equal to w * a (a != -128). */
static inline __m512i x86_signed_by512(__m512i a, __m512i w)
{
    return _mm512_mask_sub_epi8(a, _mm512_movepi8_mask(w), _mm512_setzero_si512(), a);
}

/* Four-way int32 sums of w * a, both signed (a != -128), added to acc. */
static inline __m512i x86_dot_s8s8_512(__m512i acc, __m512i w, __m512i a)
{
    return x86_dpbusd512(acc, _mm512_abs_epi8(w), x86_signed_by512(a, w));
}

/* int16 lane L of the result = lane base + L / 8 of a table (for scales
 * per 16 elements: lanes of a maddubs result cover 2 elements each). */
static inline __m512i x86_sel16_by8(int base)
{
    const __m512i step = x86_join256(_mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1),
                                     _mm256_setr_epi16(2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3));
    return _mm512_add_epi16(_mm512_set1_epi16((int16_t)base), step);
}

/* int16 lanes 0..15 = entry k, lanes 16..31 = entry k + 1 (per 32 elements). */
static inline __m512i x86_sel16_by16(int k)
{
    return x86_join256(_mm256_set1_epi16((int16_t)k), _mm256_set1_epi16((int16_t)(k + 1)));
}

static inline __m512i x86_load512(const void *p)
{
    return _mm512_loadu_si512(p);
}

static inline __m256i x86_load256(const void *p)
{
    return _mm256_loadu_si256((const __m256i *)p);
}

/* Two 32-element nibble blocks: block p in the low half, q in the high. */
static inline __m512i x86_nibbles32x2(const uint8_t *p, const uint8_t *q)
{
    return x86_join256(x86_nibbles32(p), x86_nibbles32(q));
}

static inline __m512i x86_iq4_codebook512(void)
{
    return _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)x86_iq4nl_values));
}

/* The 32-element formats go two blocks per step; an odd last block pairs
 * with itself and its copy is scaled by 0. */

static inline void x86_vec_dot_q4_0_q8_0_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ4_0 *x = w;
    const PlumbBlockQ8_0 *y = a;
    const int64_t nb = n / PLUMB_QK;
    const __m512i off = _mm512_set1_epi8(8);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const int64_t j = i + 1 < nb ? i + 1 : i;
        const __m512i q = _mm512_sub_epi8(x86_nibbles32x2(x[i].qs, x[j].qs), off);
        const __m512i v = x86_join256(x86_load256(y[i].qs), x86_load256(y[j].qs));
        const __m512i p = x86_dot_s8s8_512(_mm512_setzero_si512(), q, v);
        const float d0 = x86_fp16(x[i].d) * x86_fp16(y[i].d);
        const float d1 = j != i ? x86_fp16(x[j].d) * x86_fp16(y[j].d) : 0.0f;
        acc = _mm512_fmadd_ps(x86_join_ps(d0, d1), _mm512_cvtepi32_ps(p), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

static inline void x86_vec_dot_q4_1_q8_1_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ4_1 *x = w;
    const PlumbBlockQ8_1 *y = a;
    const int64_t nb = n / PLUMB_QK;
    __m512 acc = _mm512_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; i += 2) {
        const int64_t j = i + 1 < nb ? i + 1 : i;
        const __m512i q = x86_nibbles32x2(x[i].qs, x[j].qs);
        const __m512i v = x86_join256(x86_load256(y[i].qs), x86_load256(y[j].qs));
        const __m512i p = x86_dpbusd512(_mm512_setzero_si512(), q, v);
        const float d0 = x86_fp16(x[i].d) * x86_fp16(y[i].d);
        const float d1 = j != i ? x86_fp16(x[j].d) * x86_fp16(y[j].d) : 0.0f;
        acc = _mm512_fmadd_ps(x86_join_ps(d0, d1), _mm512_cvtepi32_ps(p), acc);
        summs += x86_fp16(x[i].m) * x86_fp16(y[i].s);
        if (j != i)
            summs += x86_fp16(x[j].m) * x86_fp16(y[j].s);
    }
    *s = _mm512_reduce_add_ps(acc) + summs;
}

/* Q5 high bits of blocks i and j as a byte mask (bit e = element e of the
 * pair). */
static inline __mmask64 x86_q5_mask(const uint8_t *qh_i, const uint8_t *qh_j)
{
    return (__mmask64)((uint64_t)x86_load_u32(qh_i) | (uint64_t)x86_load_u32(qh_j) << 32);
}

static inline void x86_vec_dot_q5_0_q8_0_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ5_0 *x = w;
    const PlumbBlockQ8_0 *y = a;
    const int64_t nb = n / PLUMB_QK;
    const __m512i f0 = _mm512_set1_epi8((char)0xf0);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const int64_t j = i + 1 < nb ? i + 1 : i;
        const __m512i nib = x86_nibbles32x2(x[i].qs, x[j].qs);
        /* (nibble | bit << 4) - 16: the nibble where the bit is set, nibble | 0xf0 where clear */
        const __m512i q = _mm512_mask_blend_epi8(x86_q5_mask(x[i].qh, x[j].qh), _mm512_or_si512(nib, f0), nib);
        const __m512i v = x86_join256(x86_load256(y[i].qs), x86_load256(y[j].qs));
        const __m512i p = x86_dot_s8s8_512(_mm512_setzero_si512(), q, v);
        const float d0 = x86_fp16(x[i].d) * x86_fp16(y[i].d);
        const float d1 = j != i ? x86_fp16(x[j].d) * x86_fp16(y[j].d) : 0.0f;
        acc = _mm512_fmadd_ps(x86_join_ps(d0, d1), _mm512_cvtepi32_ps(p), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

static inline void x86_vec_dot_q5_1_q8_1_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ5_1 *x = w;
    const PlumbBlockQ8_1 *y = a;
    const int64_t nb = n / PLUMB_QK;
    const __m512i b4 = _mm512_set1_epi8(0x10);
    __m512 acc = _mm512_setzero_ps();
    float summs = 0.0f;
    for (int64_t i = 0; i < nb; i += 2) {
        const int64_t j = i + 1 < nb ? i + 1 : i;
        const __m512i nib = x86_nibbles32x2(x[i].qs, x[j].qs);
        const __m512i q = _mm512_mask_blend_epi8(x86_q5_mask(x[i].qh, x[j].qh), nib, _mm512_or_si512(nib, b4));
        const __m512i v = x86_join256(x86_load256(y[i].qs), x86_load256(y[j].qs));
        const __m512i p = x86_dpbusd512(_mm512_setzero_si512(), q, v);
        const float d0 = x86_fp16(x[i].d) * x86_fp16(y[i].d);
        const float d1 = j != i ? x86_fp16(x[j].d) * x86_fp16(y[j].d) : 0.0f;
        acc = _mm512_fmadd_ps(x86_join_ps(d0, d1), _mm512_cvtepi32_ps(p), acc);
        summs += x86_fp16(x[i].m) * x86_fp16(y[i].s);
        if (j != i)
            summs += x86_fp16(x[j].m) * x86_fp16(y[j].s);
    }
    *s = _mm512_reduce_add_ps(acc) + summs;
}

static inline void x86_vec_dot_q8_0_q8_0_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ8_0 *x = w;
    const PlumbBlockQ8_0 *y = a;
    const int64_t nb = n / PLUMB_QK;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const int64_t j = i + 1 < nb ? i + 1 : i;
        const __m512i q = x86_join256(x86_load256(x[i].qs), x86_load256(x[j].qs));
        const __m512i v = x86_join256(x86_load256(y[i].qs), x86_load256(y[j].qs));
        const __m512i p = x86_dot_s8s8_512(_mm512_setzero_si512(), q, v);
        const float d0 = x86_fp16(x[i].d) * x86_fp16(y[i].d);
        const float d1 = j != i ? x86_fp16(x[j].d) * x86_fp16(y[j].d) : 0.0f;
        acc = _mm512_fmadd_ps(x86_join_ps(d0, d1), _mm512_cvtepi32_ps(p), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

static inline void x86_vec_dot_iq4_nl_q8_0_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockIQ4_NL *x = w;
    const PlumbBlockQ8_0 *y = a;
    const int64_t nb = n / PLUMB_QK;
    const __m512i book = x86_iq4_codebook512();
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i += 2) {
        const int64_t j = i + 1 < nb ? i + 1 : i;
        const __m512i q = _mm512_shuffle_epi8(book, x86_nibbles32x2(x[i].qs, x[j].qs));
        const __m512i v = x86_join256(x86_load256(y[i].qs), x86_load256(y[j].qs));
        const __m512i p = x86_dot_s8s8_512(_mm512_setzero_si512(), q, v);
        const float d0 = x86_fp16(y[i].d) * x86_fp16(x[i].d);
        const float d1 = j != i ? x86_fp16(y[j].d) * x86_fp16(x[j].d) : 0.0f;
        acc = _mm512_fmadd_ps(x86_join_ps(d0, d1), _mm512_cvtepi32_ps(p), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* K-quants: per super-block, each step covers 64 consecutive elements, so
 * the activations load straight from y->qs. */

static inline void x86_vec_dot_q2_K_q8_K_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ2_K *x = w;
    const PlumbBlockQ8_K *y = a;
    const int64_t nb = n / PLUMB_QK_K;
    const __m512i m3 = _mm512_set1_epi8(3);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m128i packed = _mm_loadu_si128((const __m128i *)x[i].scales);
        const __m256i sc16 = _mm256_cvtepu8_epi16(_mm_and_si128(packed, _mm_set1_epi8(0x0f)));
        const __m256i mn16 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(packed, 4), _mm_set1_epi8(0x0f)));
        const __m256i summs = _mm256_madd_epi16(x86_load256(y[i].bsums), mn16);
        const __m512i sc = _mm512_castsi256_si512(sc16);
        __m512i sumi = _mm512_setzero_si512();
        #pragma GCC unroll 4
        for (int h = 0; h < 2; h++) {
            const __m512i bits = _mm512_broadcast_i64x4(x86_load256(x[i].qs + 32 * h));
            #pragma GCC unroll 4
            for (int pp = 0; pp < 4; pp += 2) { /* bit pairs pp (low half) and pp + 1 (high half) */
                const __m512i sh = x86_join256(_mm256_set1_epi16((int16_t)(2 * pp)), _mm256_set1_epi16((int16_t)(2 * pp + 2)));
                const __m512i q = _mm512_and_si512(_mm512_srlv_epi16(bits, sh), m3);
                const __m512i p = _mm512_maddubs_epi16(q, x86_load512(y[i].qs + 128 * h + 32 * pp));
                sumi = x86_dpwssd512(sumi, p, _mm512_permutexvar_epi16(x86_sel16_by8(8 * h + 2 * pp), sc));
            }
        }
        const float dall = y[i].d * x86_fp16(x[i].d);
        const float dmin = y[i].d * x86_fp16(x[i].dmin);
        acc = _mm512_fmadd_ps(_mm512_set1_ps(dall), _mm512_cvtepi32_ps(sumi), acc);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(summs), accm);
    }
    *s = _mm512_reduce_add_ps(acc) - x86_hsum_ps256(accm);
}

static inline void x86_vec_dot_q3_K_q8_K_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ3_K *x = w;
    const PlumbBlockQ8_K *y = a;
    const int64_t nb = n / PLUMB_QK_K;
    const __m512i m3 = _mm512_set1_epi8(3), four = _mm512_set1_epi8(4);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(x86_q3_K_scales(x[i].scales));
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(x86_load256(y[i].bsums), sc16), 2);
        const __m512i sc = _mm512_castsi256_si512(sc16);
        const __m512i hm = _mm512_broadcast_i64x4(x86_load256(x[i].hmask));
        __m512i sumi = _mm512_setzero_si512();
        #pragma GCC unroll 4
        for (int h = 0; h < 2; h++) {
            const __m512i bits = _mm512_broadcast_i64x4(x86_load256(x[i].qs + 32 * h));
            #pragma GCC unroll 4
            for (int pp = 0; pp < 4; pp += 2) {
                const __m512i sh = x86_join256(_mm256_set1_epi16((int16_t)(2 * pp)), _mm256_set1_epi16((int16_t)(2 * pp + 2)));
                const __m512i hbit = x86_join256(_mm256_set1_epi8((char)(1 << (4 * h + pp))),
                                                 _mm256_set1_epi8((char)(1 << (4 * h + pp + 1))));
                __m512i q = _mm512_and_si512(_mm512_srlv_epi16(bits, sh), m3);
                /* the unsigned value q + 4 (0..7): add 4 where the high bit is set */
                q = _mm512_mask_add_epi8(q, _mm512_test_epi8_mask(hm, hbit), q, four);
                const __m512i p = _mm512_maddubs_epi16(q, x86_load512(y[i].qs + 128 * h + 32 * pp));
                sumi = x86_dpwssd512(sumi, p, _mm512_permutexvar_epi16(x86_sel16_by8(8 * h + 2 * pp), sc));
            }
        }
        sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(corr));
        const float d = x86_fp16(x[i].d) * y[i].d;
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

static inline float x86_dot_q45_K_512(int64_t nb, const uint8_t *base, size_t stride, size_t off_scales,
                                      size_t off_qh, size_t off_qs, const PlumbBlockQ8_K *y, int five)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f), b4 = _mm512_set1_epi8(0x10);
    /* fifth bit: bit 0 of the shifted qh for the low nibbles, bit 1 for the high */
    const __m512i hshift = x86_join256(_mm256_set1_epi16(4), _mm256_set1_epi16(3));
    __m512 acc = _mm512_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++, base += stride) {
        const uint16_t *dd = (const uint16_t *)base;
        const uint8_t *qs = base + off_qs;
        const __m256i sm = _mm256_cvtepu8_epi16(x86_q4_K_scales_mins(base + off_scales));
        const __m256i bsums = x86_load256(y[i].bsums);
        const __m128i bs2 = _mm_hadd_epi16(_mm256_castsi256_si128(bsums), _mm256_extracti128_si256(bsums, 1));
        const __m128i summ = _mm_madd_epi16(_mm256_extracti128_si256(sm, 1), bs2);
        const __m512i sc = _mm512_castsi256_si512(sm);
        __m512i hb = five ? _mm512_broadcast_i64x4(x86_load256(base + off_qh)) : _mm512_setzero_si512();
        __m512i sumi = _mm512_setzero_si512();
        #pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            const __m256i bits = x86_load256(qs + 32 * c);
            __m512i q = _mm512_and_si512(x86_join256(bits, _mm256_srli_epi16(bits, 4)), m4);
            if (five) {
                q = _mm512_or_si512(q, _mm512_and_si512(_mm512_sllv_epi16(hb, hshift), b4));
                hb = _mm512_srli_epi16(hb, 2);
            }
            const __m512i p = _mm512_maddubs_epi16(q, x86_load512(y[i].qs + 64 * c));
            sumi = x86_dpwssd512(sumi, p, _mm512_permutexvar_epi16(x86_sel16_by16(2 * c), sc));
        }
        const float d = x86_fp16(x86_load_u16(dd)) * y[i].d;
        const float dmin = x86_fp16(x86_load_u16(dd + 1)) * y[i].d;
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(summ), accm);
    }
    accm = _mm_add_ps(accm, _mm_movehl_ps(accm, accm));
    accm = _mm_add_ss(accm, _mm_movehdup_ps(accm));
    return _mm512_reduce_add_ps(acc) - _mm_cvtss_f32(accm);
}

static inline void x86_vec_dot_q4_K_q8_K_512(int64_t n, float *s, const void *w, const void *a)
{
    *s = x86_dot_q45_K_512(n / PLUMB_QK_K, w, sizeof(PlumbBlockQ4_K), offsetof(PlumbBlockQ4_K, scales), 0,
                           offsetof(PlumbBlockQ4_K, qs), a, 0);
}

static inline void x86_vec_dot_q5_K_q8_K_512(int64_t n, float *s, const void *w, const void *a)
{
    *s = x86_dot_q45_K_512(n / PLUMB_QK_K, w, sizeof(PlumbBlockQ5_K), offsetof(PlumbBlockQ5_K, scales),
                           offsetof(PlumbBlockQ5_K, qh), offsetof(PlumbBlockQ5_K, qs), a, 1);
}

static inline void x86_vec_dot_q6_K_q8_K_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ6_K *x = w;
    const PlumbBlockQ8_K *y = a;
    const int64_t nb = n / PLUMB_QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m30 = _mm512_set1_epi8(0x30);
    /* top bits to bits 4..5: pairs 0 / 1 for the first 64 elements, 2 / 3 for the next */
    const __m512i sh01 = x86_join256(_mm256_set1_epi16(4), _mm256_set1_epi16(2));
    const __m512i sh23 = x86_join256(_mm256_set1_epi16(0), _mm256_set1_epi16(2));
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)x[i].scales));
        const __m256i corr = _mm256_slli_epi32(_mm256_madd_epi16(x86_load256(y[i].bsums), sc16), 5);
        const __m512i sc = _mm512_castsi256_si512(sc16);
        __m512i sumi = _mm512_setzero_si512();
        #pragma GCC unroll 4
        for (int h = 0; h < 2; h++) {
            const __m512i l = x86_load512(x[i].ql + 64 * h);
            const __m512i hh = _mm512_broadcast_i64x4(x86_load256(x[i].qh + 32 * h));
            const __m512i q01 = _mm512_or_si512(_mm512_and_si512(l, m4), _mm512_and_si512(_mm512_sllv_epi16(hh, sh01), m30));
            const __m512i q23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(l, 4), m4),
                                                _mm512_and_si512(_mm512_srlv_epi16(hh, sh23), m30));
            const __m512i p01 = _mm512_maddubs_epi16(q01, x86_load512(y[i].qs + 128 * h));
            const __m512i p23 = _mm512_maddubs_epi16(q23, x86_load512(y[i].qs + 128 * h + 64));
            sumi = x86_dpwssd512(sumi, p01, _mm512_permutexvar_epi16(x86_sel16_by8(8 * h), sc));
            sumi = x86_dpwssd512(sumi, p23, _mm512_permutexvar_epi16(x86_sel16_by8(8 * h + 4), sc));
        }
        sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(corr));
        const float d = x86_fp16(x[i].d) * y[i].d;
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

static inline void x86_vec_dot_iq4_xs_q8_K_512(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockIQ4_XS *x = w;
    const PlumbBlockQ8_K *y = a;
    const int64_t nb = n / PLUMB_QK_K;
    const __m512i book = x86_iq4_codebook512();
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m512i sc = _mm512_castsi128_si512(x86_iq4_xs_scales(x[i].scales_l, x[i].scales_h));
        __m512i sumi = _mm512_setzero_si512();
        #pragma GCC unroll 4
        for (int ib = 0; ib < 8; ib += 2) {
            const __m512i q = _mm512_shuffle_epi8(book, x86_nibbles32x2(x[i].qs + 16 * ib, x[i].qs + 16 * ib + 16));
            const __m512i v = x86_load512(y[i].qs + 32 * ib);
            const __m512i p = _mm512_maddubs_epi16(_mm512_abs_epi8(q), x86_signed_by512(v, q));
            sumi = x86_dpwssd512(sumi, p, _mm512_permutexvar_epi16(x86_sel16_by16(ib), sc));
        }
        const float d = x86_fp16(x[i].d) * y[i].d;
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    *s = _mm512_reduce_add_ps(acc);
}

/* Float dots: four accumulators of 16 lanes, masked tail. */

static inline void x86_vec_dot_f32_f32_512(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), acc0);
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(k, x + i), _mm512_maskz_loadu_ps(k, y + i), acc1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static inline __m512 x86_load_f16x16(const uint16_t *p, __mmask16 k)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(k, p));
}

static inline __m512 x86_load_bf16x16(const uint16_t *p, __mmask16 k)
{
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(k, p)), 16));
}

static inline void x86_vec_dot_f16_f16_512(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    const __mmask16 all = 0xffff;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        acc0 = _mm512_fmadd_ps(x86_load_f16x16(x + i, all), x86_load_f16x16(y + i, all), acc0);
        acc1 = _mm512_fmadd_ps(x86_load_f16x16(x + i + 16, all), x86_load_f16x16(y + i + 16, all), acc1);
        acc2 = _mm512_fmadd_ps(x86_load_f16x16(x + i + 32, all), x86_load_f16x16(y + i + 32, all), acc2);
        acc3 = _mm512_fmadd_ps(x86_load_f16x16(x + i + 48, all), x86_load_f16x16(y + i + 48, all), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(x86_load_f16x16(x + i, all), x86_load_f16x16(y + i, all), acc0);
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(x86_load_f16x16(x + i, k), x86_load_f16x16(y + i, k), acc1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

static inline void x86_vec_dot_bf16_bf16_512(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    const __mmask16 all = 0xffff;
    __m512 acc0 = _mm512_setzero_ps(), acc1 = _mm512_setzero_ps();
    __m512 acc2 = _mm512_setzero_ps(), acc3 = _mm512_setzero_ps();
    int64_t i = 0;
    const __m512i zero = _mm512_setzero_si512();
    /* as in the AVX2 kernel: unpacking with zero, in an order both share */
    for (; i + 64 <= n; i += 64) {
        const __m512i x0 = x86_load512(x + i), y0 = x86_load512(y + i);
        const __m512i x1 = x86_load512(x + i + 32), y1 = x86_load512(y + i + 32);
        acc0 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi16(zero, x0)),
                               _mm512_castsi512_ps(_mm512_unpacklo_epi16(zero, y0)), acc0);
        acc1 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_unpackhi_epi16(zero, x0)),
                               _mm512_castsi512_ps(_mm512_unpackhi_epi16(zero, y0)), acc1);
        acc2 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_unpacklo_epi16(zero, x1)),
                               _mm512_castsi512_ps(_mm512_unpacklo_epi16(zero, y1)), acc2);
        acc3 = _mm512_fmadd_ps(_mm512_castsi512_ps(_mm512_unpackhi_epi16(zero, x1)),
                               _mm512_castsi512_ps(_mm512_unpackhi_epi16(zero, y1)), acc3);
    }
    for (; i + 16 <= n; i += 16)
        acc0 = _mm512_fmadd_ps(x86_load_bf16x16(x + i, all), x86_load_bf16x16(y + i, all), acc0);
    if (i < n) {
        const __mmask16 k = (__mmask16)((1u << (n - i)) - 1);
        acc1 = _mm512_fmadd_ps(x86_load_bf16x16(x + i, k), x86_load_bf16x16(y + i, k), acc1);
    }
    *s = _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(acc0, acc1), _mm512_add_ps(acc2, acc3)));
}

/* Install the 512-bit dot products (both AVX-512 tiers). */
static inline void x86_install_dots512(PlumbDsp *dsp)
{
    dsp->vec_dot[PLUMB_QTYPE_F32] = x86_vec_dot_f32_f32_512;
    dsp->vec_dot[PLUMB_QTYPE_F16] = x86_vec_dot_f16_f16_512;
    dsp->vec_dot[PLUMB_QTYPE_BF16] = x86_vec_dot_bf16_bf16_512;
    dsp->vec_dot[PLUMB_QTYPE_Q4_0] = x86_vec_dot_q4_0_q8_0_512;
    dsp->vec_dot[PLUMB_QTYPE_Q4_1] = x86_vec_dot_q4_1_q8_1_512;
    dsp->vec_dot[PLUMB_QTYPE_Q5_0] = x86_vec_dot_q5_0_q8_0_512;
    dsp->vec_dot[PLUMB_QTYPE_Q5_1] = x86_vec_dot_q5_1_q8_1_512;
    dsp->vec_dot[PLUMB_QTYPE_Q8_0] = x86_vec_dot_q8_0_q8_0_512;
    dsp->vec_dot[PLUMB_QTYPE_Q2_K] = x86_vec_dot_q2_K_q8_K_512;
    dsp->vec_dot[PLUMB_QTYPE_Q3_K] = x86_vec_dot_q3_K_q8_K_512;
    dsp->vec_dot[PLUMB_QTYPE_Q4_K] = x86_vec_dot_q4_K_q8_K_512;
    dsp->vec_dot[PLUMB_QTYPE_Q5_K] = x86_vec_dot_q5_K_q8_K_512;
    dsp->vec_dot[PLUMB_QTYPE_Q6_K] = x86_vec_dot_q6_K_q8_K_512;
    dsp->vec_dot[PLUMB_QTYPE_IQ4_NL] = x86_vec_dot_iq4_nl_q8_0_512;
    dsp->vec_dot[PLUMB_QTYPE_IQ4_XS] = x86_vec_dot_iq4_xs_q8_K_512;
}
#endif /* AVX-512 F, BW, DQ, VL */

#endif
