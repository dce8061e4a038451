/*
 * arm_util.h — AArch64 helpers and the integer dot-product kernels shared by
 * the two ARM tiers.
 *
 * The quantised dot products are written once, here, as static inline
 * functions, and instantiated by two files compiled with different flags:
 * simd/arm/quant_neon.c (baseline AdvSIMD) and simd/arm/quant_dotprod.c
 * (-march=armv8.2-a+dotprod).  The only instruction that differs is
 * arm_dot_s8(): SDOT when the unit is compiled with the dot-product
 * extension (__ARM_FEATURE_DOTPROD), otherwise a widening multiply and a
 * pairwise widening add.  Both give, per call, exact 32-bit sums of 16
 * int8 x int8 products spread over four lanes; the kernels only ever
 * reduce whole vectors, so the lane layout does not matter.  The tiled
 * products of the row-interleaved types (gemm_r8_neon.c, compiled again as
 * gemm_r8_dotprod.c) rest likewise on arm_dot_lane_s8(), SDOT by lane or
 * its widening-multiply form.
 *
 * Arithmetic contract (see quant/quant_ref.c): every kernel sums exact
 * integer products per block or sub-block.  The 32-element formats, Q2_K
 * and IQ4_XS then scale and add in float exactly as the reference does, so
 * they give its bits.  Q3_K to Q6_K apply the integer sub-block scales in
 * 32-bit integers (no overflow for any input: the worst case, Q6_K, stays
 * below 2^28) and scale by the float super-block scales once; their float
 * summation order differs from the reference's eight lanes, so they agree
 * within the rounding bound checkdsp allows, not bit for bit.
 *
 * Everything is static inline: no ISA code leaks into the core library.
 */
#ifndef PLUMB_ARM_UTIL_H
#define PLUMB_ARM_UTIL_H

#include <arm_neon.h>
#include <stdint.h>
#include <string.h>

#include "qtypes.h"
#include "qbits.h"

/* The NEON tier's vector operations (vec_neon.c); plumb_dsp_init_neon()
 * in quant_neon.c calls it after filling the quant entries. */
struct PlumbDsp;
void plumb_dsp_init_neon_vec(struct PlumbDsp *dsp);
/* The fused attention of each ARM tier (attn_neon.c, attn_dotprod.c), called
 * by plumb_dsp_init_neon() and plumb_dsp_init_dotprod(). */
void plumb_dsp_init_neon_attn(struct PlumbDsp *dsp);
void plumb_dsp_init_dotprod_attn(struct PlumbDsp *dsp);
/* The tiled products of the row-interleaved types of each ARM tier
 * (gemm_r8_neon.c, gemm_r8_dotprod.c), called by plumb_dsp_init_neon() and
 * plumb_dsp_init_dotprod(). */
void plumb_dsp_init_neon_r8(struct PlumbDsp *dsp);
void plumb_dsp_init_dotprod_r8(struct PlumbDsp *dsp);

/* ------------------------------------------------------------ helpers */

/* Tokens one weight row is dotted with at once by the tiled products. */
#define ARM_TOKENS 4
/* The multi-token kernels are specialised for each token count. */
#define ARM_INLINE inline __attribute__((always_inline))

/* IEEE binary16 bits -> float (FCVT; exact, also for subnormals). */
static inline float arm_fp16(uint16_t h)
{
    __fp16 v;
    memcpy(&v, &h, sizeof v);
    return (float)v;
}

/* acc + the 16 products a[i]*b[i], exactly, in four int32 lanes. */
static inline int32x4_t arm_dot_s8(int32x4_t acc, int8x16_t a, int8x16_t b)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return vdotq_s32(acc, a, b);
#else
    const int16x8_t lo = vmull_s8(vget_low_s8(a), vget_low_s8(b));
    const int16x8_t hi = vmull_high_s8(a, b);
    return vpadalq_s16(vpadalq_s16(acc, lo), hi);
#endif
}

/*
 * Dot by lane, for the row-interleaved types: a vector w holds 4 columns of
 * 4 rows (row r in bytes 4r .. 4r+3), and arm_dot_lane_s8() adds to row r's
 * sum the dot of those 4 bytes with group g of a (bytes 4g .. 4g+3; g a
 * constant 0..3).  With the dot-product extension that is one SDOT by lane
 * into one vector of the 4 rows' sums.  Without it the group is broadcast
 * (DUP), multiplied by rows 0-1 and 2-3 in SMULL / SMULL2 and the int16
 * products added in pairs into int32 by SADALP, so each row keeps two
 * partial sums (columns 0-1 and 2-3 of the groups) until arm_lane_sum()
 * adds them (ADDP).  Both are exact for any int8 input, so the kernels built
 * on them give the same bits in the two tiers.
 */
#if defined(__ARM_FEATURE_DOTPROD)
typedef struct { int32x4_t r; } ArmLaneAcc;             /* rows 0..3 */
#else
typedef struct { int32x4_t r01, r23; } ArmLaneAcc;      /* rows 0, 0, 1, 1 and 2, 2, 3, 3 */
#endif

static inline ArmLaneAcc arm_lane_zero(void)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return (ArmLaneAcc){ vdupq_n_s32(0) };
#else
    return (ArmLaneAcc){ vdupq_n_s32(0), vdupq_n_s32(0) };
#endif
}

static ARM_INLINE ArmLaneAcc arm_dot_lane_s8(ArmLaneAcc acc, int8x16_t w, int8x16_t a, const int g)
{
#if defined(__ARM_FEATURE_DOTPROD)
    switch (g) { /* the lane must be an immediate: g folds away when inlined */
    case 0: acc.r = vdotq_laneq_s32(acc.r, w, a, 0); break;
    case 1: acc.r = vdotq_laneq_s32(acc.r, w, a, 1); break;
    case 2: acc.r = vdotq_laneq_s32(acc.r, w, a, 2); break;
    default: acc.r = vdotq_laneq_s32(acc.r, w, a, 3); break;
    }
#else
    const int32x4_t a32 = vreinterpretq_s32_s8(a);
    int8x16_t b;
    switch (g) {
    case 0: b = vreinterpretq_s8_s32(vdupq_laneq_s32(a32, 0)); break;
    case 1: b = vreinterpretq_s8_s32(vdupq_laneq_s32(a32, 1)); break;
    case 2: b = vreinterpretq_s8_s32(vdupq_laneq_s32(a32, 2)); break;
    default: b = vreinterpretq_s8_s32(vdupq_laneq_s32(a32, 3)); break;
    }
    acc.r01 = vpadalq_s16(acc.r01, vmull_s8(vget_low_s8(w), vget_low_s8(b)));
    acc.r23 = vpadalq_s16(acc.r23, vmull_high_s8(w, b));
#endif
    return acc;
}

/* The 4 rows' sums of acc. */
static inline int32x4_t arm_lane_sum(ArmLaneAcc acc)
{
#if defined(__ARM_FEATURE_DOTPROD)
    return acc.r;
#else
    return vpaddq_s32(acc.r01, acc.r23);
#endif
}

/* Dot of 32 int8 pairs (two vectors each). */
static inline int32x4_t arm_dot_s8x2(int32x4_t acc, int8x16_t a0, int8x16_t a1,
                                     int8x16_t b0, int8x16_t b1)
{
    return arm_dot_s8(arm_dot_s8(acc, a0, b0), a1, b1);
}

static inline int8x16_t arm_lo4(uint8x16_t q)
{
    return vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f)));
}

static inline int8x16_t arm_hi4(uint8x16_t q)
{
    return vreinterpretq_s8_u8(vshrq_n_u8(q, 4));
}

/* The 32 bits of a Q5_0 / Q5_1 qh as bytes: lane j of lo (j < 16) is 0x10
 * when bit j is set, else 0; hi holds bits 16..31. */
static inline void arm_q5_bits(const uint8_t qh[4], uint8x16_t *lo, uint8x16_t *hi)
{
    static const uint8_t bit[16] = { 1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128 };
    const uint8x16_t mask = vld1q_u8(bit), ten = vdupq_n_u8(0x10);
    const uint8x16_t b01 = vcombine_u8(vdup_n_u8(qh[0]), vdup_n_u8(qh[1]));
    const uint8x16_t b23 = vcombine_u8(vdup_n_u8(qh[2]), vdup_n_u8(qh[3]));
    *lo = vandq_u8(vtstq_u8(b01, mask), ten);
    *hi = vandq_u8(vtstq_u8(b23, mask), ten);
}

/* Q4_K / Q5_K: the eight 6-bit scales and mins of the 12 packed bytes
 * (the same unpacking as qb_scale_min_k4, four bytes at a time). */
static inline void arm_k4_scales(const uint8_t q[12], uint8_t sc[8], uint8_t mn[8])
{
    uint32_t w[3], s[2], m[2];
    memcpy(w, q, sizeof w);
    s[0] = w[0] & 0x3f3f3f3fu;
    m[0] = w[1] & 0x3f3f3f3fu;
    s[1] = (w[2] & 0x0f0f0f0fu) | ((w[0] >> 6) & 0x03030303u) << 4;
    m[1] = ((w[2] >> 4) & 0x0f0f0f0fu) | ((w[1] >> 6) & 0x03030303u) << 4;
    memcpy(sc, s, 8);
    memcpy(mn, m, 8);
}

/* sum over the 8 sub-blocks of 32 of mins[j] * (bsums[2j] + bsums[2j+1]) */
static inline int32_t arm_k_mins(const int16_t bsums[16], const uint8_t mn[8])
{
    const int16x8_t b = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    const int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mn)));
    int32x4_t p = vmull_s16(vget_low_s16(b), vget_low_s16(m));
    p = vmlal_high_s16(p, b, m);
    return vaddvq_s32(p);
}

/* ------------------------------------------------------------ 32-element formats */

/*
 * Each block's integer sum is exact, and the float part is the reference's
 * expression for that type, in its order, one block after another: these
 * dot products give the same bits as quant/quant_ref.c.
 */

/* The exact sum of the 32 products of one block. */
static inline int32_t arm_block_sum(int8x16_t w0, int8x16_t w1, const int8_t *a)
{
    return vaddvq_s32(arm_dot_s8x2(vdupq_n_s32(0), w0, w1, vld1q_s8(a), vld1q_s8(a + 16)));
}

static ARM_INLINE void arm_rows_q4_0(int64_t n, const void *w, const void *const *a, float *s, int tn)
{
    const PlumbBlockQ4_0 *x = w;
    const int8x16_t eight = vdupq_n_s8(8);
    float sum[ARM_TOKENS] = { 0 };
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(arm_lo4(q), eight), hi = vsubq_s8(arm_hi4(q), eight);
        const float dx = arm_fp16(x[i].d);
        for (int j = 0; j < tn; j++) {
            const PlumbBlockQ8_0 *y = (const PlumbBlockQ8_0 *)a[j] + i;
            sum[j] += (float)arm_block_sum(lo, hi, y->qs) * dx * arm_fp16(y->d);
        }
    }
    for (int j = 0; j < tn; j++)
        s[j] = sum[j];
}

static inline float arm_dot_q4_1(int64_t n, const void *w, const void *a)
{
    const PlumbBlockQ4_1 *x = w;
    const PlumbBlockQ8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int32_t sumi = arm_block_sum(arm_lo4(q), arm_hi4(q), y[i].qs);
        sum += arm_fp16(x[i].d) * arm_fp16(y[i].d) * (float)sumi + arm_fp16(x[i].m) * arm_fp16(y[i].s);
    }
    return sum;
}

static inline float arm_dot_q5_0(int64_t n, const void *w, const void *a)
{
    const PlumbBlockQ5_0 *x = w;
    const PlumbBlockQ8_0 *y = a;
    const int8x16_t sixteen = vdupq_n_s8(16);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        uint8x16_t hl, hh;
        arm_q5_bits(x[i].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), hl)), sixteen);
        const int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh)), sixteen);
        const int32_t sumi = arm_block_sum(lo, hi, y[i].qs);
        sum += arm_fp16(x[i].d) * arm_fp16(y[i].d) * (float)sumi;
    }
    return sum;
}

static inline float arm_dot_q5_1(int64_t n, const void *w, const void *a)
{
    const PlumbBlockQ5_1 *x = w;
    const PlumbBlockQ8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        uint8x16_t hl, hh;
        arm_q5_bits(x[i].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), hl));
        const int8x16_t hi = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q, 4), hh));
        const int32_t sumi = arm_block_sum(lo, hi, y[i].qs);
        sum += arm_fp16(x[i].d) * arm_fp16(y[i].d) * (float)sumi + arm_fp16(x[i].m) * arm_fp16(y[i].s);
    }
    return sum;
}

static ARM_INLINE void arm_rows_q8_0(int64_t n, const void *w, const void *const *a, float *s, int tn)
{
    const PlumbBlockQ8_0 *x = w;
    float sum[ARM_TOKENS] = { 0 };
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        const int8x16_t x0 = vld1q_s8(x[i].qs), x1 = vld1q_s8(x[i].qs + 16);
        const float dx = arm_fp16(x[i].d);
        for (int j = 0; j < tn; j++) {
            const PlumbBlockQ8_0 *y = (const PlumbBlockQ8_0 *)a[j] + i;
            sum[j] += (float)arm_block_sum(x0, x1, y->qs) * (dx * arm_fp16(y->d));
        }
    }
    for (int j = 0; j < tn; j++)
        s[j] = sum[j];
}

static inline float arm_dot_iq4_nl(int64_t n, const void *w, const void *a)
{
    const PlumbBlockIQ4_NL *x = w;
    const PlumbBlockQ8_0 *y = a;
    const int8x16_t book = vld1q_s8(plumb_iq4nl_values);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        const uint8x16_t q = vld1q_u8(x[i].qs);
        const int8x16_t lo = vqtbl1q_s8(book, vandq_u8(q, vdupq_n_u8(0x0f)));
        const int8x16_t hi = vqtbl1q_s8(book, vshrq_n_u8(q, 4));
        const int32_t sumi = arm_block_sum(lo, hi, y[i].qs);
        sum += arm_fp16(y[i].d) * arm_fp16(x[i].d) * (float)sumi;
    }
    return sum;
}

/* ------------------------------------------------------------ K formats (256 elements) */

/* Q2_K: element e = 128h + 32p + l is bit pair p of qs[32h + l]; sub-block
 * of 16 g = e/16 has scale sc[g] & 15 and min sc[g] >> 4. */
static inline float arm_dot_q2_K(int64_t n, const void *w, const void *a)
{
    const PlumbBlockQ2_K *x = w;
    const PlumbBlockQ8_K *y = a;
    const uint8x16_t three = vdupq_n_u8(3);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const uint8x16_t sc = vld1q_u8(x[i].scales);
        const int16x8_t mins_lo = vreinterpretq_s16_u16(vmovl_u8(vshr_n_u8(vget_low_u8(sc), 4)));
        const int16x8_t mins_hi = vreinterpretq_s16_u16(vmovl_high_u8(vshrq_n_u8(sc, 4)));
        int32x4_t pm = vmull_s16(vget_low_s16(mins_lo), vld1_s16(y[i].bsums));
        pm = vmlal_high_s16(pm, mins_lo, vld1q_s16(y[i].bsums));
        pm = vmlal_s16(pm, vget_low_s16(mins_hi), vld1_s16(y[i].bsums + 8));
        pm = vmlal_high_s16(pm, mins_hi, vld1q_s16(y[i].bsums + 8));
        const int32_t summs = vaddvq_s32(pm);

        uint8_t s[16];
        vst1q_u8(s, vandq_u8(sc, vdupq_n_u8(0x0f)));
        const int8_t *q8 = y[i].qs;
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (int p = 0; p < 4; p++, q8 += 32) {
                const int g = 8 * h + 2 * p;
                const int8x16_t v0 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q0, vdupq_n_s8((int8_t)(-2 * p))), three));
                const int8x16_t v1 = vreinterpretq_s8_u8(vandq_u8(vshlq_u8(q1, vdupq_n_s8((int8_t)(-2 * p))), three));
                isum = vmlaq_n_s32(isum, arm_dot_s8(vdupq_n_s32(0), v0, vld1q_s8(q8)), s[g]);
                isum = vmlaq_n_s32(isum, arm_dot_s8(vdupq_n_s32(0), v1, vld1q_s8(q8 + 16)), s[g + 1]);
            }
        }
        const float dall = y[i].d * arm_fp16(x[i].d);
        const float dmin = y[i].d * arm_fp16(x[i].dmin);
        sum += dall * (float)vaddvq_s32(isum) - dmin * (float)summs;
    }
    return sum;
}

/* Q3_K: like Q2_K's planes, minus 4 where the hmask bit 4h + p of
 * hmask[l] is clear; signed 6-bit scales per 16. */
static inline float arm_dot_q3_K(int64_t n, const void *w, const void *a)
{
    const PlumbBlockQ3_K *x = w;
    const PlumbBlockQ8_K *y = a;
    const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4);
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        int8_t sc[16];
        qb_q3_K_scales(x[i].scales, sc);
        const uint8x16_t m0 = vld1q_u8(x[i].hmask), m1 = vld1q_u8(x[i].hmask + 16);
        const int8_t *q8 = y[i].qs;
        int32x4_t isum = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * h), q1 = vld1q_u8(x[i].qs + 32 * h + 16);
            for (int p = 0; p < 4; p++, q8 += 32) {
                const int g = 8 * h + 2 * p;
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * p));
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + p)));
                const uint8x16_t v0 = vandq_u8(vshlq_u8(q0, sh), three);
                const uint8x16_t v1 = vandq_u8(vshlq_u8(q1, sh), three);
                const int8x16_t s0 = vreinterpretq_s8_u8(vsubq_u8(v0, vbicq_u8(four, vtstq_u8(m0, bit))));
                const int8x16_t s1 = vreinterpretq_s8_u8(vsubq_u8(v1, vbicq_u8(four, vtstq_u8(m1, bit))));
                isum = vmlaq_n_s32(isum, arm_dot_s8(vdupq_n_s32(0), s0, vld1q_s8(q8)), sc[g]);
                isum = vmlaq_n_s32(isum, arm_dot_s8(vdupq_n_s32(0), s1, vld1q_s8(q8 + 16)), sc[g + 1]);
            }
        }
        sum += arm_fp16(x[i].d) * y[i].d * (float)vaddvq_s32(isum);
    }
    return sum;
}

/* Q4_K / Q5_K: chunk c (64 elements) is qs[32c .. 32c+32), low nibbles
 * sub-block 2c, high nibbles 2c+1; Q5_K's fifth bit of element 64c + l
 * (+32) is bit 2c (2c+1) of qh[l]. */
static ARM_INLINE void arm_rows_q4_K(int64_t n, const void *w, const void *const *a, float *s, int tn)
{
    const PlumbBlockQ4_K *x = w;
    float sum[ARM_TOKENS] = { 0 };
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const PlumbBlockQ8_K *y[ARM_TOKENS];
        int32x4_t isum[ARM_TOKENS];
        int32_t summ[ARM_TOKENS];
        uint8_t sc[8], mn[8];
        arm_k4_scales(x[i].scales, sc, mn);
        for (int j = 0; j < tn; j++) {
            y[j] = (const PlumbBlockQ8_K *)a[j] + i;
            summ[j] = arm_k_mins(y[j]->bsums, mn);
            isum[j] = vdupq_n_s32(0);
        }
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * c), q1 = vld1q_u8(x[i].qs + 32 * c + 16);
            const int8x16_t l0 = arm_lo4(q0), l1 = arm_lo4(q1), h0 = arm_hi4(q0), h1 = arm_hi4(q1);
            for (int j = 0; j < tn; j++) {
                const int8_t *q8 = y[j]->qs + 64 * c;
                const int32x4_t lo = arm_dot_s8x2(vdupq_n_s32(0), l0, l1, vld1q_s8(q8), vld1q_s8(q8 + 16));
                const int32x4_t hi = arm_dot_s8x2(vdupq_n_s32(0), h0, h1, vld1q_s8(q8 + 32), vld1q_s8(q8 + 48));
                isum[j] = vmlaq_n_s32(vmlaq_n_s32(isum[j], lo, sc[2 * c]), hi, sc[2 * c + 1]);
            }
        }
        const float dx = arm_fp16(x[i].d), mx = arm_fp16(x[i].dmin);
        for (int j = 0; j < tn; j++) {
            const float d = dx * y[j]->d, dmin = mx * y[j]->d;
            sum[j] += d * (float)vaddvq_s32(isum[j]) - dmin * (float)summ[j];
        }
    }
    for (int j = 0; j < tn; j++)
        s[j] = sum[j];
}

static ARM_INLINE void arm_rows_q5_K(int64_t n, const void *w, const void *const *a, float *s, int tn)
{
    const PlumbBlockQ5_K *x = w;
    const uint8x16_t ten = vdupq_n_u8(0x10), m4 = vdupq_n_u8(0x0f);
    float sum[ARM_TOKENS] = { 0 };
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const PlumbBlockQ8_K *y[ARM_TOKENS];
        int32x4_t isum[ARM_TOKENS];
        int32_t summ[ARM_TOKENS];
        uint8_t sc[8], mn[8];
        arm_k4_scales(x[i].scales, sc, mn);
        for (int j = 0; j < tn; j++) {
            y[j] = (const PlumbBlockQ8_K *)a[j] + i;
            summ[j] = arm_k_mins(y[j]->bsums, mn);
            isum[j] = vdupq_n_s32(0);
        }
        const uint8x16_t h0 = vld1q_u8(x[i].qh), h1 = vld1q_u8(x[i].qh + 16);
        for (int c = 0; c < 4; c++) {
            const uint8x16_t q0 = vld1q_u8(x[i].qs + 32 * c), q1 = vld1q_u8(x[i].qs + 32 * c + 16);
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * c)));
            const uint8x16_t bh = vdupq_n_u8((uint8_t)(2u << (2 * c)));
            const int8x16_t l0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), vandq_u8(vtstq_u8(h0, bl), ten)));
            const int8x16_t l1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), vandq_u8(vtstq_u8(h1, bl), ten)));
            const int8x16_t u0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(h0, bh), ten)));
            const int8x16_t u1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(h1, bh), ten)));
            for (int j = 0; j < tn; j++) {
                const int8_t *q8 = y[j]->qs + 64 * c;
                const int32x4_t lo = arm_dot_s8x2(vdupq_n_s32(0), l0, l1, vld1q_s8(q8), vld1q_s8(q8 + 16));
                const int32x4_t hi = arm_dot_s8x2(vdupq_n_s32(0), u0, u1, vld1q_s8(q8 + 32), vld1q_s8(q8 + 48));
                isum[j] = vmlaq_n_s32(vmlaq_n_s32(isum[j], lo, sc[2 * c]), hi, sc[2 * c + 1]);
            }
        }
        const float dx = arm_fp16(x[i].d), mx = arm_fp16(x[i].dmin);
        for (int j = 0; j < tn; j++) {
            const float d = dx * y[j]->d, dmin = mx * y[j]->d;
            sum[j] += d * (float)vaddvq_s32(isum[j]) - dmin * (float)summ[j];
        }
    }
    for (int j = 0; j < tn; j++)
        s[j] = sum[j];
}

/* Q6_K: for half h, ql[64h .. 64h+32) (A) and ql[64h+32 .. 64h+64) (B) give
 * the low nibbles of planes p = 0 (A low), 1 (B low), 2 (A high), 3 (B
 * high); bit pair p of qh[32h + l] the top two bits; minus 32. */
static ARM_INLINE void arm_rows_q6_K(int64_t n, const void *w, const void *const *a, float *s, int tn)
{
    const PlumbBlockQ6_K *x = w;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x30);
    const int8x16_t k32 = vdupq_n_s8(32);
    float sum[ARM_TOKENS] = { 0 };
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const PlumbBlockQ8_K *y[ARM_TOKENS];
        int32x4_t isum[ARM_TOKENS];
        for (int j = 0; j < tn; j++) {
            y[j] = (const PlumbBlockQ8_K *)a[j] + i;
            isum[j] = vdupq_n_s32(0);
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = x[i].ql + 64 * h, *qh = x[i].qh + 32 * h;
            const int8_t *sc = x[i].scales + 8 * h;
            const uint8x16_t a0 = vld1q_u8(ql), a1 = vld1q_u8(ql + 16);
            const uint8x16_t b0 = vld1q_u8(ql + 32), b1 = vld1q_u8(ql + 48);
            const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
            int8x16_t v[8];
            v[0] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(a0, m4), vandq_u8(vshlq_n_u8(h0, 4), m2)));
            v[1] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(a1, m4), vandq_u8(vshlq_n_u8(h1, 4), m2)));
            v[2] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b0, m4), vandq_u8(vshlq_n_u8(h0, 2), m2)));
            v[3] = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(b1, m4), vandq_u8(vshlq_n_u8(h1, 2), m2)));
            v[4] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(a0, 4), vandq_u8(h0, m2)));
            v[5] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(a1, 4), vandq_u8(h1, m2)));
            v[6] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b0, 4), vandq_u8(vshrq_n_u8(h0, 2), m2)));
            v[7] = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(b1, 4), vandq_u8(vshrq_n_u8(h1, 2), m2)));
            for (int k = 0; k < 8; k++)
                v[k] = vsubq_s8(v[k], k32);
            for (int j = 0; j < tn; j++) {
                const int8_t *q8 = y[j]->qs + 128 * h;
                for (int k = 0; k < 8; k++)
                    isum[j] = vmlaq_n_s32(isum[j], arm_dot_s8(vdupq_n_s32(0), v[k], vld1q_s8(q8 + 16 * k)), sc[k]);
            }
        }
        const float dx = arm_fp16(x[i].d);
        for (int j = 0; j < tn; j++)
            sum[j] += dx * y[j]->d * (float)vaddvq_s32(isum[j]);
    }
    for (int j = 0; j < tn; j++)
        s[j] = sum[j];
}

/* IQ4_XS: sub-block ib is qs[16ib .. 16ib+16), low nibbles its first 16
 * elements, high nibbles the last 16, through the IQ4_NL codebook.  The
 * float part is the reference's, per sub-block, so the bits are too. */
static ARM_INLINE void arm_rows_iq4_xs(int64_t n, const void *w, const void *const *a, float *s, int tn)
{
    const PlumbBlockIQ4_XS *x = w;
    const int8x16_t book = vld1q_s8(plumb_iq4nl_values);
    float sum[ARM_TOKENS] = { 0 };
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const PlumbBlockQ8_K *y[ARM_TOKENS];
        float d4d8[ARM_TOKENS];
        const float dx = arm_fp16(x[i].d);
        for (int j = 0; j < tn; j++) {
            y[j] = (const PlumbBlockQ8_K *)a[j] + i;
            d4d8[j] = dx * y[j]->d;
        }
        for (int ib = 0; ib < PLUMB_QK_K / 32; ib++) {
            const uint8x16_t q = vld1q_u8(x[i].qs + 16 * ib);
            const int8x16_t lo = vqtbl1q_s8(book, vandq_u8(q, vdupq_n_u8(0x0f)));
            const int8x16_t hi = vqtbl1q_s8(book, vshrq_n_u8(q, 4));
            const float ls = (float)qb_iq4_xs_scale(x[i].scales_l, x[i].scales_h, ib);
            for (int j = 0; j < tn; j++) {
                const int32_t sumi = arm_block_sum(lo, hi, y[j]->qs + 32 * ib);
                const float dl = d4d8[j] * ls;
                sum[j] += dl * (float)sumi;
            }
        }
    }
    for (int j = 0; j < tn; j++)
        s[j] = sum[j];
}

/*
 * Exported kernels of one tier: plumb_vec_dot_<w>_<a>_<isa>() and, for the
 * types with an arm_rows_<w>() kernel, plumb_gemm_<w>_<a>_<isa>().  The
 * rows kernels unpack each weight block once and dot it with up to
 * ARM_TOKENS activation rows; every token's float operations are those of
 * a single dot product, so vec_dot and gemm give the same bits whatever the
 * tiling.
 */
#define ARM_DEFINE_VEC_DOT(wt, at, isa)                                                      \
    void plumb_vec_dot_##wt##_##at##_##isa(int64_t n, float *s, const void *w, const void *a); \
    void plumb_vec_dot_##wt##_##at##_##isa(int64_t n, float *s, const void *w, const void *a)  \
    {                                                                                        \
        *s = arm_dot_##wt(n, w, a);                                                          \
    }

#define ARM_DEFINE_ROWS(wt, at, isa)                                                         \
    void plumb_vec_dot_##wt##_##at##_##isa(int64_t n, float *s, const void *w, const void *a); \
    void plumb_vec_dot_##wt##_##at##_##isa(int64_t n, float *s, const void *w, const void *a)  \
    {                                                                                        \
        arm_rows_##wt(n, w, &a, s, 1);                                                       \
    }                                                                                        \
    void plumb_gemm_##wt##_##at##_##isa(int64_t n, const void *w, uint64_t w_stride,         \
                                        int64_t r0, int64_t r1, const void *const *a,        \
                                        float *const *y, int64_t nt);                        \
    void plumb_gemm_##wt##_##at##_##isa(int64_t n, const void *w, uint64_t w_stride,         \
                                        int64_t r0, int64_t r1, const void *const *a,        \
                                        float *const *y, int64_t nt)                         \
    {                                                                                        \
        for (int64_t r = r0; r < r1; r++) {                                                  \
            const void *row = (const char *)w + (uint64_t)r * w_stride;                      \
            float s[ARM_TOKENS];                                                             \
            for (int64_t t = 0; t < nt; t += ARM_TOKENS) {                                   \
                const int64_t m = nt - t < ARM_TOKENS ? nt - t : ARM_TOKENS;                 \
                switch (m) {                                                                 \
                case 4: arm_rows_##wt(n, row, a + t, s, 4); break;                           \
                case 3: arm_rows_##wt(n, row, a + t, s, 3); break;                           \
                case 2: arm_rows_##wt(n, row, a + t, s, 2); break;                           \
                default: arm_rows_##wt(n, row, a + t, s, 1); break;                          \
                }                                                                            \
                for (int64_t j = 0; j < m; j++)                                              \
                    y[t + j][r] = s[j];                                                      \
            }                                                                                \
        }                                                                                    \
    }

#define ARM_DEFINE_INT_DOTS(isa)            \
    ARM_DEFINE_ROWS(q4_0, q8_0, isa)        \
    ARM_DEFINE_VEC_DOT(q4_1, q8_1, isa)     \
    ARM_DEFINE_VEC_DOT(q5_0, q8_0, isa)     \
    ARM_DEFINE_VEC_DOT(q5_1, q8_1, isa)     \
    ARM_DEFINE_ROWS(q8_0, q8_0, isa)        \
    ARM_DEFINE_VEC_DOT(iq4_nl, q8_0, isa)   \
    ARM_DEFINE_VEC_DOT(q2_K, q8_K, isa)     \
    ARM_DEFINE_VEC_DOT(q3_K, q8_K, isa)     \
    ARM_DEFINE_ROWS(q4_K, q8_K, isa)        \
    ARM_DEFINE_ROWS(q5_K, q8_K, isa)        \
    ARM_DEFINE_ROWS(q6_K, q8_K, isa)        \
    ARM_DEFINE_ROWS(iq4_xs, q8_K, isa)

/* Point the integer dot products and tiled products of dsp at the kernels of
 * one tier. */
#define ARM_SET_INT_DOTS(dsp, isa)                                                  \
    do {                                                                            \
        (dsp)->vec_dot[PLUMB_QTYPE_Q4_0] = plumb_vec_dot_q4_0_q8_0_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_Q4_1] = plumb_vec_dot_q4_1_q8_1_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_Q5_0] = plumb_vec_dot_q5_0_q8_0_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_Q5_1] = plumb_vec_dot_q5_1_q8_1_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_Q8_0] = plumb_vec_dot_q8_0_q8_0_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_IQ4_NL] = plumb_vec_dot_iq4_nl_q8_0_##isa;       \
        (dsp)->vec_dot[PLUMB_QTYPE_Q2_K] = plumb_vec_dot_q2_K_q8_K_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_Q3_K] = plumb_vec_dot_q3_K_q8_K_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_Q4_K] = plumb_vec_dot_q4_K_q8_K_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_Q5_K] = plumb_vec_dot_q5_K_q8_K_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_Q6_K] = plumb_vec_dot_q6_K_q8_K_##isa;           \
        (dsp)->vec_dot[PLUMB_QTYPE_IQ4_XS] = plumb_vec_dot_iq4_xs_q8_K_##isa;       \
        (dsp)->gemm[PLUMB_QTYPE_Q4_0] = plumb_gemm_q4_0_q8_0_##isa;                 \
        (dsp)->gemm[PLUMB_QTYPE_Q8_0] = plumb_gemm_q8_0_q8_0_##isa;                 \
        (dsp)->gemm[PLUMB_QTYPE_Q4_K] = plumb_gemm_q4_K_q8_K_##isa;                 \
        (dsp)->gemm[PLUMB_QTYPE_Q5_K] = plumb_gemm_q5_K_q8_K_##isa;                 \
        (dsp)->gemm[PLUMB_QTYPE_Q6_K] = plumb_gemm_q6_K_q8_K_##isa;                 \
        (dsp)->gemm[PLUMB_QTYPE_IQ4_XS] = plumb_gemm_iq4_xs_q8_K_##isa;             \
    } while (0)

#endif
