/*
 * quant_neon.c — AArch64 AdvSIMD (NEON) quant kernels: dequantisation of
 * every weight type, the activation quantisers, and the dot products;
 * plumb_dsp_init_neon() also installs the tiled products of the
 * row-interleaved types (gemm_r8_neon.c).
 *
 * Invariants:
 *  - to_float and from_float are bit-exact with quant/quant_ref.c: the same
 *    float operations in the same order (separate multiply and add, never
 *    fused; the build's -std=c11 keeps the compiler from contracting them),
 *    Q8_0 / Q8_1 and Q8_K round half to even (FCVTNS, as lrintf in the
 *    default rounding mode);
 *  - the integer dot products are the shared kernels of arm_util.h with a
 *    widening-multiply dot; quant_dotprod.c instantiates the same kernels
 *    with SDOT;
 *  - every function takes n a multiple of the type's block size and touches
 *    nothing past n elements.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "arm_util.h"
#include "dsp.h"
#include "quant_ref.h"

/* ------------------------------------------------------------ dequantise */

/* y[0..16) = d * book[...] style stores: four float vectors of lanes of v. */
static inline void store_mul_s8(float *y, int8x16_t v, float d)
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(v)), hi = vmovl_high_s8(v);
    vst1q_f32(y, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(y + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
    vst1q_f32(y + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(y + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
}

/* y[j] = d * (float)v[j] - m, j < 16 (multiply, then subtract). */
static inline void store_mul_sub_u8(float *y, uint8x16_t v, float d, float m)
{
    const uint16x8_t lo = vmovl_u8(vget_low_u8(v)), hi = vmovl_high_u8(v);
    const float32x4_t mv = vdupq_n_f32(m);
    vst1q_f32(y, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), d), mv));
    vst1q_f32(y + 4, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(lo)), d), mv));
    vst1q_f32(y + 8, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), d), mv));
    vst1q_f32(y + 12, vsubq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(hi)), d), mv));
}

/* y[j] = (float)v[j] * d + m, j < 16 (multiply, then add). */
static inline void store_mul_add_u8(float *y, uint8x16_t v, float d, float m)
{
    const uint16x8_t lo = vmovl_u8(vget_low_u8(v)), hi = vmovl_high_u8(v);
    const float32x4_t mv = vdupq_n_f32(m);
    vst1q_f32(y, vaddq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(lo))), d), mv));
    vst1q_f32(y + 4, vaddq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(lo)), d), mv));
    vst1q_f32(y + 8, vaddq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_u16(vget_low_u16(hi))), d), mv));
    vst1q_f32(y + 12, vaddq_f32(vmulq_n_f32(vcvtq_f32_u32(vmovl_high_u16(hi)), d), mv));
}

void plumb_to_float_f16_neon(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h + i));
        vst1q_f32(y + i, vcvt_f32_f16(vget_low_f16(v)));
        vst1q_f32(y + i + 4, vcvt_high_f32_f16(v));
    }
    for (; i < n; i++)
        y[i] = arm_fp16(h[i]);
}

void plumb_to_float_bf16_neon(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const uint16x8_t v = vld1q_u16(h + i);
        vst1q_f32(y + i, vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16)));
        vst1q_f32(y + i + 4, vreinterpretq_f32_u32(vshll_high_n_u16(v, 16)));
    }
    for (; i < n; i++)
        y[i] = plumb_bf16_to_fp32(h[i]);
}

void plumb_to_float_q4_0_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ4_0 *b = x;
    const int8x16_t eight = vdupq_n_s8(8);
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = arm_fp16(b[i].d);
        const uint8x16_t q = vld1q_u8(b[i].qs);
        store_mul_s8(y, vsubq_s8(arm_lo4(q), eight), d);
        store_mul_s8(y + 16, vsubq_s8(arm_hi4(q), eight), d);
    }
}

void plumb_to_float_q4_1_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ4_1 *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = arm_fp16(b[i].d), m = arm_fp16(b[i].m);
        const uint8x16_t q = vld1q_u8(b[i].qs);
        store_mul_add_u8(y, vandq_u8(q, vdupq_n_u8(0x0f)), d, m);
        store_mul_add_u8(y + 16, vshrq_n_u8(q, 4), d, m);
    }
}

void plumb_to_float_q5_0_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ5_0 *b = x;
    const int8x16_t sixteen = vdupq_n_s8(16);
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = arm_fp16(b[i].d);
        uint8x16_t hl, hh;
        arm_q5_bits(b[i].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(b[i].qs);
        const uint8x16_t lo = vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), hl);
        const uint8x16_t hi = vorrq_u8(vshrq_n_u8(q, 4), hh);
        store_mul_s8(y, vsubq_s8(vreinterpretq_s8_u8(lo), sixteen), d);
        store_mul_s8(y + 16, vsubq_s8(vreinterpretq_s8_u8(hi), sixteen), d);
    }
}

void plumb_to_float_q5_1_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ5_1 *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = arm_fp16(b[i].d), m = arm_fp16(b[i].m);
        uint8x16_t hl, hh;
        arm_q5_bits(b[i].qh, &hl, &hh);
        const uint8x16_t q = vld1q_u8(b[i].qs);
        store_mul_add_u8(y, vorrq_u8(vandq_u8(q, vdupq_n_u8(0x0f)), hl), d, m);
        store_mul_add_u8(y + 16, vorrq_u8(vshrq_n_u8(q, 4), hh), d, m);
    }
}

void plumb_to_float_q8_0_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ8_0 *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = arm_fp16(b[i].d);
        store_mul_s8(y, vld1q_s8(b[i].qs), d);
        store_mul_s8(y + 16, vld1q_s8(b[i].qs + 16), d);
    }
}

void plumb_to_float_iq4_nl_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockIQ4_NL *b = x;
    const int8x16_t book = vld1q_s8(plumb_iq4nl_values);
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = arm_fp16(b[i].d);
        const uint8x16_t q = vld1q_u8(b[i].qs);
        store_mul_s8(y, vqtbl1q_s8(book, vandq_u8(q, vdupq_n_u8(0x0f))), d);
        store_mul_s8(y + 16, vqtbl1q_s8(book, vshrq_n_u8(q, 4)), d);
    }
}

/* Q2_K: element 128h + 32p + l is bit pair p of qs[32h + l]; scale of 16. */
void plumb_to_float_q2_K_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ2_K *b = x;
    const uint8x16_t three = vdupq_n_u8(3);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = arm_fp16(b[i].d), dmin = arm_fp16(b[i].dmin);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(b[i].qs + 32 * h), q1 = vld1q_u8(b[i].qs + 32 * h + 16);
            for (int p = 0; p < 4; p++, y += 32) {
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * p));
                const uint8_t s0 = b[i].scales[8 * h + 2 * p], s1 = b[i].scales[8 * h + 2 * p + 1];
                store_mul_sub_u8(y, vandq_u8(vshlq_u8(q0, sh), three),
                                 d * (float)(s0 & 0xf), dmin * (float)(s0 >> 4));
                store_mul_sub_u8(y + 16, vandq_u8(vshlq_u8(q1, sh), three),
                                 d * (float)(s1 & 0xf), dmin * (float)(s1 >> 4));
            }
        }
    }
}

void plumb_to_float_q3_K_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ3_K *b = x;
    const uint8x16_t three = vdupq_n_u8(3), four = vdupq_n_u8(4);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = arm_fp16(b[i].d);
        int8_t sc[16];
        qb_q3_K_scales(b[i].scales, sc);
        const uint8x16_t m0 = vld1q_u8(b[i].hmask), m1 = vld1q_u8(b[i].hmask + 16);
        for (int h = 0; h < 2; h++) {
            const uint8x16_t q0 = vld1q_u8(b[i].qs + 32 * h), q1 = vld1q_u8(b[i].qs + 32 * h + 16);
            for (int p = 0; p < 4; p++, y += 32) {
                const int g = 8 * h + 2 * p;
                const int8x16_t sh = vdupq_n_s8((int8_t)(-2 * p));
                const uint8x16_t bit = vdupq_n_u8((uint8_t)(1u << (4 * h + p)));
                const uint8x16_t v0 = vsubq_u8(vandq_u8(vshlq_u8(q0, sh), three), vbicq_u8(four, vtstq_u8(m0, bit)));
                const uint8x16_t v1 = vsubq_u8(vandq_u8(vshlq_u8(q1, sh), three), vbicq_u8(four, vtstq_u8(m1, bit)));
                store_mul_s8(y, vreinterpretq_s8_u8(v0), d * (float)sc[g]);
                store_mul_s8(y + 16, vreinterpretq_s8_u8(v1), d * (float)sc[g + 1]);
            }
        }
    }
}

void plumb_to_float_q4_K_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ4_K *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = arm_fp16(b[i].d), dmin = arm_fp16(b[i].dmin);
        uint8_t sc[8], mn[8];
        arm_k4_scales(b[i].scales, sc, mn);
        for (int c = 0; c < 4; c++, y += 64) {
            const uint8x16_t q0 = vld1q_u8(b[i].qs + 32 * c), q1 = vld1q_u8(b[i].qs + 32 * c + 16);
            const float d1 = d * (float)sc[2 * c], m1 = dmin * (float)mn[2 * c];
            const float d2 = d * (float)sc[2 * c + 1], m2 = dmin * (float)mn[2 * c + 1];
            store_mul_sub_u8(y, vandq_u8(q0, vdupq_n_u8(0x0f)), d1, m1);
            store_mul_sub_u8(y + 16, vandq_u8(q1, vdupq_n_u8(0x0f)), d1, m1);
            store_mul_sub_u8(y + 32, vshrq_n_u8(q0, 4), d2, m2);
            store_mul_sub_u8(y + 48, vshrq_n_u8(q1, 4), d2, m2);
        }
    }
}

void plumb_to_float_q5_K_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ5_K *b = x;
    const uint8x16_t ten = vdupq_n_u8(0x10), m4 = vdupq_n_u8(0x0f);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = arm_fp16(b[i].d), dmin = arm_fp16(b[i].dmin);
        uint8_t sc[8], mn[8];
        arm_k4_scales(b[i].scales, sc, mn);
        const uint8x16_t h0 = vld1q_u8(b[i].qh), h1 = vld1q_u8(b[i].qh + 16);
        for (int c = 0; c < 4; c++, y += 64) {
            const uint8x16_t q0 = vld1q_u8(b[i].qs + 32 * c), q1 = vld1q_u8(b[i].qs + 32 * c + 16);
            const uint8x16_t bl = vdupq_n_u8((uint8_t)(1u << (2 * c)));
            const uint8x16_t bh = vdupq_n_u8((uint8_t)(2u << (2 * c)));
            const float d1 = d * (float)sc[2 * c], m1 = dmin * (float)mn[2 * c];
            const float d2 = d * (float)sc[2 * c + 1], m2 = dmin * (float)mn[2 * c + 1];
            store_mul_sub_u8(y, vorrq_u8(vandq_u8(q0, m4), vandq_u8(vtstq_u8(h0, bl), ten)), d1, m1);
            store_mul_sub_u8(y + 16, vorrq_u8(vandq_u8(q1, m4), vandq_u8(vtstq_u8(h1, bl), ten)), d1, m1);
            store_mul_sub_u8(y + 32, vorrq_u8(vshrq_n_u8(q0, 4), vandq_u8(vtstq_u8(h0, bh), ten)), d2, m2);
            store_mul_sub_u8(y + 48, vorrq_u8(vshrq_n_u8(q1, 4), vandq_u8(vtstq_u8(h1, bh), ten)), d2, m2);
        }
    }
}

void plumb_to_float_q6_K_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ6_K *b = x;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m2 = vdupq_n_u8(0x30);
    const int8x16_t k32 = vdupq_n_s8(32);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = arm_fp16(b[i].d);
        for (int h = 0; h < 2; h++) {
            const uint8_t *ql = b[i].ql + 64 * h, *qh = b[i].qh + 32 * h;
            const uint8x16_t a0 = vld1q_u8(ql), a1 = vld1q_u8(ql + 16);
            const uint8x16_t b0 = vld1q_u8(ql + 32), b1 = vld1q_u8(ql + 48);
            const uint8x16_t h0 = vld1q_u8(qh), h1 = vld1q_u8(qh + 16);
            uint8x16_t v[8];
            v[0] = vorrq_u8(vandq_u8(a0, m4), vandq_u8(vshlq_n_u8(h0, 4), m2));
            v[1] = vorrq_u8(vandq_u8(a1, m4), vandq_u8(vshlq_n_u8(h1, 4), m2));
            v[2] = vorrq_u8(vandq_u8(b0, m4), vandq_u8(vshlq_n_u8(h0, 2), m2));
            v[3] = vorrq_u8(vandq_u8(b1, m4), vandq_u8(vshlq_n_u8(h1, 2), m2));
            v[4] = vorrq_u8(vshrq_n_u8(a0, 4), vandq_u8(h0, m2));
            v[5] = vorrq_u8(vshrq_n_u8(a1, 4), vandq_u8(h1, m2));
            v[6] = vorrq_u8(vshrq_n_u8(b0, 4), vandq_u8(vshrq_n_u8(h0, 2), m2));
            v[7] = vorrq_u8(vshrq_n_u8(b1, 4), vandq_u8(vshrq_n_u8(h1, 2), m2));
            for (int j = 0; j < 8; j++, y += 16)
                /* (d * scale) * q, as the reference groups it */
                store_mul_s8(y, vsubq_s8(vreinterpretq_s8_u8(v[j]), k32), d * (float)b[i].scales[8 * h + j]);
        }
    }
}

void plumb_to_float_iq4_xs_neon(const void *x, float *y, int64_t n)
{
    const PlumbBlockIQ4_XS *b = x;
    const int8x16_t book = vld1q_s8(plumb_iq4nl_values);
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = arm_fp16(b[i].d);
        for (int ib = 0; ib < PLUMB_QK_K / 32; ib++, y += 32) {
            const float dl = d * (float)qb_iq4_xs_scale(b[i].scales_l, b[i].scales_h, ib);
            const uint8x16_t q = vld1q_u8(b[i].qs + 16 * ib);
            store_mul_s8(y, vqtbl1q_s8(book, vandq_u8(q, vdupq_n_u8(0x0f))), dl);
            store_mul_s8(y + 16, vqtbl1q_s8(book, vshrq_n_u8(q, 4)), dl);
        }
    }
}

/* ------------------------------------------------------------ quantise */

void plumb_from_float_f16_neon(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const float16x4_t lo = vcvt_f16_f32(vld1q_f32(x + i));
        const float16x8_t v = vcvt_high_f16_f32(lo, vld1q_f32(x + i + 4));
        vst1q_u16(h + i, vreinterpretq_u16_f16(v));
    }
    for (; i < n; i++)
        h[i] = qb_fp32_to_fp16(x[i]);
}

/* Round to nearest even on the top 16 bits; a NaN is kept and made quiet. */
void plumb_from_float_bf16_neon(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    const uint32x4_t bias = vdupq_n_u32(0x7fff), one = vdupq_n_u32(1);
    const uint32x4_t inf = vdupq_n_u32(0x7f800000u), quiet = vdupq_n_u32(0x00400000u);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint16x4_t out[2];
        for (int k = 0; k < 2; k++) {
            const uint32x4_t u = vreinterpretq_u32_f32(vld1q_f32(x + i + 4 * k));
            const uint32x4_t nan = vcgtq_u32(vandq_u32(u, vdupq_n_u32(0x7fffffffu)), inf);
            const uint32x4_t r = vaddq_u32(u, vaddq_u32(bias, vandq_u32(vshrq_n_u32(u, 16), one)));
            out[k] = vshrn_n_u32(vbslq_u32(nan, vorrq_u32(u, quiet), r), 16);
        }
        vst1q_u16(h + i, vcombine_u16(out[0], out[1]));
    }
    for (; i < n; i++)
        h[i] = plumb_fp32_to_bf16(x[i]);
}

/* The 32 floats of a block, and the largest |x| among them. */
static inline float load_block32(const float *x, float32x4_t v[8])
{
    for (int j = 0; j < 8; j++)
        v[j] = vld1q_f32(x + 4 * j);
    float32x4_t m0 = vmaxq_f32(vabsq_f32(v[0]), vabsq_f32(v[1]));
    float32x4_t m1 = vmaxq_f32(vabsq_f32(v[2]), vabsq_f32(v[3]));
    float32x4_t m2 = vmaxq_f32(vabsq_f32(v[4]), vabsq_f32(v[5]));
    float32x4_t m3 = vmaxq_f32(vabsq_f32(v[6]), vabsq_f32(v[7]));
    return vmaxvq_f32(vmaxq_f32(vmaxq_f32(m0, m1), vmaxq_f32(m2, m3)));
}

/* qs[0..32) = round-half-even(v * id); returns their sum. */
static inline int32_t quant_block32(const float32x4_t v[8], float id, int8_t *qs)
{
    int16x8_t h[4];
    for (int j = 0; j < 4; j++) {
        const int32x4_t a = vcvtnq_s32_f32(vmulq_n_f32(v[2 * j], id));
        const int32x4_t b = vcvtnq_s32_f32(vmulq_n_f32(v[2 * j + 1], id));
        h[j] = vcombine_s16(vmovn_s32(a), vmovn_s32(b));
    }
    const int8x16_t q0 = vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1]));
    const int8x16_t q1 = vcombine_s8(vmovn_s16(h[2]), vmovn_s16(h[3]));
    vst1q_s8(qs, q0);
    vst1q_s8(qs + 16, q1);
    return vaddlvq_s8(q0) + vaddlvq_s8(q1);
}

void plumb_from_float_q8_0_neon(const float *x, void *y, int64_t n)
{
    PlumbBlockQ8_0 *b = y;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        float32x4_t v[8];
        const float amax = load_block32(x, v), d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = qb_fp32_to_fp16(d);
        quant_block32(v, id, b[i].qs);
    }
}

void plumb_from_float_q8_1_neon(const float *x, void *y, int64_t n)
{
    PlumbBlockQ8_1 *b = y;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        float32x4_t v[8];
        const float amax = load_block32(x, v), d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = qb_fp32_to_fp16(d);
        const int32_t sum = quant_block32(v, id, b[i].qs);
        b[i].s = qb_fp32_to_fp16((float)sum * d);
    }
}

void plumb_from_float_q8_K_neon(const float *x, void *y, int64_t n)
{
    PlumbBlockQ8_K *b = y;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++, x += PLUMB_QK_K) {
        float32x4_t m = vabsq_f32(vld1q_f32(x));
        for (int j = 4; j < PLUMB_QK_K; j += 4)
            m = vmaxq_f32(m, vabsq_f32(vld1q_f32(x + j)));
        const float amax = vmaxvq_f32(m);
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        /* the first element of largest magnitude gives the sign */
        int j = 0;
        while (j < PLUMB_QK_K && fabsf(x[j]) != amax)
            j++;
        if (j == PLUMB_QK_K) { /* a NaN in the block: the reference decides */
            plumb_from_float_q8_K_c(x, &b[i], PLUMB_QK_K);
            continue;
        }
        const float iscale = -127.0f / x[j];
        const int32x4_t top = vdupq_n_s32(127);
        for (int g = 0; g < PLUMB_QK_K / 16; g++) {
            int16x8_t h[2];
            for (int k = 0; k < 2; k++) {
                const float *p = x + 16 * g + 8 * k;
                const int32x4_t a = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(p), iscale)), top);
                const int32x4_t c = vminq_s32(vcvtnq_s32_f32(vmulq_n_f32(vld1q_f32(p + 4), iscale)), top);
                h[k] = vcombine_s16(vmovn_s32(a), vmovn_s32(c));
            }
            const int8x16_t q = vcombine_s8(vmovn_s16(h[0]), vmovn_s16(h[1]));
            vst1q_s8(b[i].qs + 16 * g, q);
            b[i].bsums[g] = (int16_t)vaddlvq_s8(q);
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------------ float dots */

void plumb_vec_dot_f32_f32_neon(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    float32x4_t acc[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 4; k++)
            acc[k] = vfmaq_f32(acc[k], vld1q_f32(x + i + 4 * k), vld1q_f32(y + i + 4 * k));
    for (; i + 4 <= n; i += 4)
        acc[0] = vfmaq_f32(acc[0], vld1q_f32(x + i), vld1q_f32(y + i));
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++)
        sum += x[i] * y[i];
    *s = sum;
}

void plumb_vec_dot_f16_f16_neon(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    float32x4_t acc[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 2; k++) {
            const float16x8_t xv = vreinterpretq_f16_u16(vld1q_u16(x + i + 8 * k));
            const float16x8_t yv = vreinterpretq_f16_u16(vld1q_u16(y + i + 8 * k));
            acc[2 * k] = vfmaq_f32(acc[2 * k], vcvt_f32_f16(vget_low_f16(xv)), vcvt_f32_f16(vget_low_f16(yv)));
            acc[2 * k + 1] = vfmaq_f32(acc[2 * k + 1], vcvt_high_f32_f16(xv), vcvt_high_f32_f16(yv));
        }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++)
        sum += arm_fp16(x[i]) * arm_fp16(y[i]);
    *s = sum;
}

void plumb_vec_dot_bf16_bf16_neon(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    float32x4_t acc[4] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 2; k++) {
            const uint16x8_t xv = vld1q_u16(x + i + 8 * k), yv = vld1q_u16(y + i + 8 * k);
            acc[2 * k] = vfmaq_f32(acc[2 * k], vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(xv), 16)),
                                   vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(yv), 16)));
            acc[2 * k + 1] = vfmaq_f32(acc[2 * k + 1], vreinterpretq_f32_u32(vshll_high_n_u16(xv, 16)),
                                       vreinterpretq_f32_u32(vshll_high_n_u16(yv, 16)));
        }
    float sum = vaddvq_f32(vaddq_f32(vaddq_f32(acc[0], acc[1]), vaddq_f32(acc[2], acc[3])));
    for (; i < n; i++)
        sum += plumb_bf16_to_fp32(x[i]) * plumb_bf16_to_fp32(y[i]);
    *s = sum;
}

/* ------------------------------------------------------------ integer dots */

ARM_DEFINE_INT_DOTS(neon)

/* ------------------------------------------------------------ table */

void plumb_dsp_init_neon(PlumbDsp *dsp)
{
    dsp->to_float[PLUMB_QTYPE_F16] = plumb_to_float_f16_neon;
    dsp->to_float[PLUMB_QTYPE_BF16] = plumb_to_float_bf16_neon;
    dsp->to_float[PLUMB_QTYPE_Q4_0] = plumb_to_float_q4_0_neon;
    dsp->to_float[PLUMB_QTYPE_Q4_1] = plumb_to_float_q4_1_neon;
    dsp->to_float[PLUMB_QTYPE_Q5_0] = plumb_to_float_q5_0_neon;
    dsp->to_float[PLUMB_QTYPE_Q5_1] = plumb_to_float_q5_1_neon;
    dsp->to_float[PLUMB_QTYPE_Q8_0] = plumb_to_float_q8_0_neon;
    dsp->to_float[PLUMB_QTYPE_IQ4_NL] = plumb_to_float_iq4_nl_neon;
    dsp->to_float[PLUMB_QTYPE_Q2_K] = plumb_to_float_q2_K_neon;
    dsp->to_float[PLUMB_QTYPE_Q3_K] = plumb_to_float_q3_K_neon;
    dsp->to_float[PLUMB_QTYPE_Q4_K] = plumb_to_float_q4_K_neon;
    dsp->to_float[PLUMB_QTYPE_Q5_K] = plumb_to_float_q5_K_neon;
    dsp->to_float[PLUMB_QTYPE_Q6_K] = plumb_to_float_q6_K_neon;
    dsp->to_float[PLUMB_QTYPE_IQ4_XS] = plumb_to_float_iq4_xs_neon;

    dsp->from_float[PLUMB_QTYPE_F16] = plumb_from_float_f16_neon;
    dsp->from_float[PLUMB_QTYPE_BF16] = plumb_from_float_bf16_neon;
    dsp->from_float[PLUMB_QTYPE_Q8_0] = plumb_from_float_q8_0_neon;
    dsp->from_float[PLUMB_QTYPE_Q8_1] = plumb_from_float_q8_1_neon;
    dsp->from_float[PLUMB_QTYPE_Q8_K] = plumb_from_float_q8_K_neon;

    dsp->vec_dot[PLUMB_QTYPE_F32] = plumb_vec_dot_f32_f32_neon;
    dsp->vec_dot[PLUMB_QTYPE_F16] = plumb_vec_dot_f16_f16_neon;
    dsp->vec_dot[PLUMB_QTYPE_BF16] = plumb_vec_dot_bf16_bf16_neon;
    ARM_SET_INT_DOTS(dsp, neon);
    plumb_dsp_init_neon_r8(dsp);

    plumb_dsp_init_neon_vec(dsp);
    plumb_dsp_init_neon_attn(dsp);
}
