/*
 * gemm_r8_neon.c — the tiled products (dsp->gemm) of the row-interleaved
 * Q4_0_R8, Q4_K_R8 and Q6_K_R8 (quant/qtypes.h) for AArch64.  Compiled
 * twice: here for the NEON tier (plumb_dsp_init_neon_r8(), called by
 * plumb_dsp_init_neon()), and by gemm_r8_dotprod.c with the dot-product
 * extension (plumb_dsp_init_dotprod_r8(), called by
 * plumb_dsp_init_dotprod()).  The one instruction that differs is the dot
 * by lane of arm_util.h, arm_dot_lane_s8(): SDOT by lane there, a broadcast
 * and widening multiplies (SMULL, SADALP) here.
 *
 * Q4_0_R8: each 16-byte half of a 32-byte chunk holds 4 columns of 4 rows,
 * so a dot by lane with the activation's 4-byte group adds that group's
 * products into the 4 rows' sums.  The offset 8 * sum(a), the conversion,
 * the scale product and one FMA per block and token follow
 * plumb_gemm_q4_0_r8_c (quant/quant_ref.c) exactly.
 *
 * Q4_K_R8 and Q6_K_R8 sum each sub-block the same way (Q6_K_R8 or'ing the
 * two high bits into the nibbles: 0..63 is still a signed byte), keeping
 * columns 0-15 and 16-31 apart where their scales differ, multiply by the
 * rows' integer scales in int32 and take the min or -32 offset terms from
 * the activation's 16-element sums, then scale in float once per
 * super-block and token as plumb_gemm_q4_K_r8_c / plumb_gemm_q6_K_r8_c do.
 *
 * The integer sums are exact in both tiers and the float steps are the C
 * definitions', so every y[t][r] has the C definition's bits, whatever the
 * row range and token count (checkdsp holds each tier to that).  Rows go by
 * panels of eight, two tokens at a time sharing each block's loads; only
 * rows r0..r1 (multiples of 8) are written.
 */
#include "config.h"

#include <arm_neon.h>
#include <stddef.h>
#include <stdint.h>

#include "arm_util.h"
#include "dsp.h"
#include "qtypes.h"

#if defined(__ARM_FEATURE_DOTPROD)
#define R8_INIT plumb_dsp_init_dotprod_r8
#else
#define R8_INIT plumb_dsp_init_neon_r8
#endif

/* One block of eight rows against one token: acc0 (rows 0-3), acc1 (4-7). */
static inline void q4_0_block(const PlumbBlockQ4_0x8 *x, const PlumbBlockQ8_0X *a, float32x4_t *acc0,
                              float32x4_t *acc1)
{
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t alo = vld1q_s8(a->qs), ahi = vld1q_s8(a->qs + 16);
    ArmLaneAcc s0 = arm_lane_zero(), s1 = arm_lane_zero();
#define R8_CHUNK(c)                                                                                  \
    do {                                                                                             \
        const uint8x16_t v0 = vld1q_u8(x->qs + 32 * (c)), v1 = vld1q_u8(x->qs + 32 * (c) + 16);     \
        s0 = arm_dot_lane_s8(s0, vreinterpretq_s8_u8(vandq_u8(v0, m4)), alo, c);                     \
        s1 = arm_dot_lane_s8(s1, vreinterpretq_s8_u8(vandq_u8(v1, m4)), alo, c);                     \
        s0 = arm_dot_lane_s8(s0, vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), ahi, c);                    \
        s1 = arm_dot_lane_s8(s1, vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)), ahi, c);                    \
    } while (0)
    R8_CHUNK(0);
    R8_CHUNK(1);
    R8_CHUNK(2);
    R8_CHUNK(3);
#undef R8_CHUNK
    const int32x4_t off = vdupq_n_s32(a->s8);
    const float32x4_t da = vdupq_n_f32(a->d);
    const float32x4_t d0 = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x->d)));
    const float32x4_t d1 = vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(x->d + 4)));
    *acc0 = vfmaq_f32(*acc0, vcvtq_f32_s32(vsubq_s32(arm_lane_sum(s0), off)), vmulq_f32(d0, da));
    *acc1 = vfmaq_f32(*acc1, vcvtq_f32_s32(vsubq_s32(arm_lane_sum(s1), off)), vmulq_f32(d1, da));
}

static void gemm_q4_0_r8(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                         const void *const *a, float *const *y, int64_t nt)
{
    const int64_t nb = n / PLUMB_QK;
    const uint64_t panel = PLUMB_R8 * w_stride;
    for (int64_t p = r0 / PLUMB_R8; p < r1 / PLUMB_R8; p++) {
        const PlumbBlockQ4_0x8 *x = (const PlumbBlockQ4_0x8 *)((const char *)w + (uint64_t)p * panel);
        for (int64_t t0 = 0; t0 < nt; t0 += 2) {
            /* two tokens share each block's loads */
            const PlumbBlockQ8_0X *a0 = a[t0], *a1 = t0 + 1 < nt ? a[t0 + 1] : NULL;
            float32x4_t c00 = vdupq_n_f32(0.0f), c01 = c00, c10 = c00, c11 = c00;
            for (int64_t b = 0; b < nb; b++) {
                q4_0_block(&x[b], &a0[b], &c00, &c01);
                if (a1)
                    q4_0_block(&x[b], &a1[b], &c10, &c11);
            }
            vst1q_f32(y[t0] + p * PLUMB_R8, c00);
            vst1q_f32(y[t0] + p * PLUMB_R8 + 4, c01);
            if (a1) {
                vst1q_f32(y[t0 + 1] + p * PLUMB_R8, c10);
                vst1q_f32(y[t0 + 1] + p * PLUMB_R8 + 4, c11);
            }
        }
    }
}

/* One sub-block of 32 columns of eight rows against the token's 32 bytes q:
 * per row, the sum over columns 0-15 (the low nibbles) in lo[0] (rows 0-3)
 * and lo[1] (rows 4-7), over columns 16-31 in hi[].  With qh (Q6_K_R8's
 * 64 high-bit bytes) the two high bits of each quant are or'ed in. */
static inline void r8_sub_dot(const uint8_t *qs, const uint8_t *qh, const int8_t *q, int32x4_t lo[2],
                              int32x4_t hi[2])
{
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m3 = vdupq_n_u8(0x03);
    const int8x16_t alo = vld1q_s8(q), ahi = vld1q_s8(q + 16);
    uint8x16_t h[4] = { vdupq_n_u8(0), vdupq_n_u8(0), vdupq_n_u8(0), vdupq_n_u8(0) };
    ArmLaneAcc l[2] = { arm_lane_zero(), arm_lane_zero() }, u[2] = { arm_lane_zero(), arm_lane_zero() };
    if (qh) {
        h[0] = vld1q_u8(qh);      /* columns 0-15, rows 0-3 */
        h[1] = vld1q_u8(qh + 16); /* columns 0-15, rows 4-7 */
        h[2] = vld1q_u8(qh + 32); /* columns 16-31, rows 0-3 */
        h[3] = vld1q_u8(qh + 48); /* columns 16-31, rows 4-7 */
    }
/* bits 2c, 2c+1 of each byte moved to bits 4, 5 (USHR takes shifts 1..8) */
#define HIGH2(v, c) vshlq_n_u8(vandq_u8((c) ? vshrq_n_u8(v, (c) ? 2 * (c) : 1) : (v), m3), 4)
#define SUB_CHUNK(c)                                                                                 \
    do {                                                                                             \
        const uint8x16_t v0 = vld1q_u8(qs + 32 * (c)), v1 = vld1q_u8(qs + 32 * (c) + 16);           \
        uint8x16_t l0 = vandq_u8(v0, m4), l1 = vandq_u8(v1, m4);                                     \
        uint8x16_t u0 = vshrq_n_u8(v0, 4), u1 = vshrq_n_u8(v1, 4);                                   \
        if (qh) {                                                                                    \
            l0 = vorrq_u8(l0, HIGH2(h[0], c));                                                       \
            l1 = vorrq_u8(l1, HIGH2(h[1], c));                                                       \
            u0 = vorrq_u8(u0, HIGH2(h[2], c));                                                       \
            u1 = vorrq_u8(u1, HIGH2(h[3], c));                                                       \
        }                                                                                            \
        l[0] = arm_dot_lane_s8(l[0], vreinterpretq_s8_u8(l0), alo, c);                               \
        l[1] = arm_dot_lane_s8(l[1], vreinterpretq_s8_u8(l1), alo, c);                               \
        u[0] = arm_dot_lane_s8(u[0], vreinterpretq_s8_u8(u0), ahi, c);                               \
        u[1] = arm_dot_lane_s8(u[1], vreinterpretq_s8_u8(u1), ahi, c);                               \
    } while (0)
    SUB_CHUNK(0);
    SUB_CHUNK(1);
    SUB_CHUNK(2);
    SUB_CHUNK(3);
#undef SUB_CHUNK
#undef HIGH2
    for (int k = 0; k < 2; k++) {
        lo[k] = arm_lane_sum(l[k]);
        hi[k] = arm_lane_sum(u[k]);
    }
}

/* Eight unsigned or signed bytes as int32 lanes: rows 0-3 in v[0], 4-7 in v[1]. */
static inline void widen_u8(const uint8_t *b, int32x4_t v[2])
{
    const uint16x8_t w = vmovl_u8(vld1_u8(b));
    v[0] = vreinterpretq_s32_u32(vmovl_u16(vget_low_u16(w)));
    v[1] = vreinterpretq_s32_u32(vmovl_u16(vget_high_u16(w)));
}

static inline void widen_s8(const int8_t *b, int32x4_t v[2])
{
    const int16x8_t w = vmovl_s8(vld1_s8(b));
    v[0] = vmovl_s16(vget_low_s16(w));
    v[1] = vmovl_s16(vget_high_s16(w));
}

/* The eight rows' fp16 scales times the token's scale, as the C definition
 * forms them. */
static inline void row_scales(const uint16_t *d, float da, float32x4_t v[2])
{
    v[0] = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(d))), da);
    v[1] = vmulq_n_f32(vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(d + 4))), da);
}

/* One Q4_K_R8 super-block of eight rows against one token. */
static inline void q4_K_superblock(const PlumbBlockQ4_Kx8 *x, const PlumbBlockQ8_K *a, float32x4_t acc[2])
{
    int32x4_t is[2] = { vdupq_n_s32(0), vdupq_n_s32(0) }, im[2] = { vdupq_n_s32(0), vdupq_n_s32(0) };
    for (int s = 0; s < PLUMB_QK_K / 32; s++) {
        int32x4_t lo[2], hi[2], sc[2], mn[2];
        r8_sub_dot(x->qs[s], NULL, a->qs + 32 * s, lo, hi);
        widen_u8(x->sc[s], sc);
        widen_u8(x->m[s], mn);
        const int32_t bs = a->bsums[2 * s] + a->bsums[2 * s + 1];
        for (int h = 0; h < 2; h++) {
            is[h] = vmlaq_s32(is[h], vaddq_s32(lo[h], hi[h]), sc[h]);
            im[h] = vmlaq_n_s32(im[h], mn[h], bs);
        }
    }
    float32x4_t d[2], dm[2];
    row_scales(x->d, a->d, d);
    row_scales(x->dmin, a->d, dm);
    for (int h = 0; h < 2; h++) {
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(is[h]), d[h]);
        acc[h] = vfmsq_f32(acc[h], vcvtq_f32_s32(im[h]), dm[h]);
    }
}

/* One Q6_K_R8 super-block of eight rows against one token. */
static inline void q6_K_superblock(const PlumbBlockQ6_Kx8 *x, const PlumbBlockQ8_K *a, float32x4_t acc[2])
{
    int32x4_t is[2] = { vdupq_n_s32(0), vdupq_n_s32(0) }, io[2] = { vdupq_n_s32(0), vdupq_n_s32(0) };
    for (int s = 0; s < PLUMB_QK_K / 32; s++) {
        int32x4_t lo[2], hi[2], sc0[2], sc1[2];
        r8_sub_dot(x->ql[s], x->qh[s], a->qs + 32 * s, lo, hi);
        widen_s8(x->sc[2 * s], sc0);
        widen_s8(x->sc[2 * s + 1], sc1);
        for (int h = 0; h < 2; h++) {
            is[h] = vmlaq_s32(vmlaq_s32(is[h], lo[h], sc0[h]), hi[h], sc1[h]);
            io[h] = vmlaq_n_s32(vmlaq_n_s32(io[h], sc0[h], a->bsums[2 * s]), sc1[h], a->bsums[2 * s + 1]);
        }
    }
    float32x4_t d[2];
    row_scales(x->d, a->d, d);
    for (int h = 0; h < 2; h++)
        acc[h] = vfmaq_f32(acc[h], vcvtq_f32_s32(vsubq_s32(is[h], vshlq_n_s32(io[h], 5))), d[h]);
}

/* The tiled product of an interleaved K type: panels of eight rows, two
 * tokens at a time sharing each super-block's loads. */
#define K_R8_GEMM(name, WBlock, superblock)                                                          \
    static void name(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,            \
                     const void *const *a, float *const *y, int64_t nt)                              \
    {                                                                                                \
        const int64_t nb = n / PLUMB_QK_K;                                                           \
        const uint64_t panel = PLUMB_R8 * w_stride;                                                  \
        for (int64_t p = r0 / PLUMB_R8; p < r1 / PLUMB_R8; p++) {                                    \
            const WBlock *x = (const WBlock *)((const char *)w + (uint64_t)p * panel);               \
            for (int64_t t0 = 0; t0 < nt; t0 += 2) {                                                 \
                const PlumbBlockQ8_K *a0 = a[t0], *a1 = t0 + 1 < nt ? a[t0 + 1] : NULL;              \
                float32x4_t c0[2] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };                        \
                float32x4_t c1[2] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };                        \
                for (int64_t b = 0; b < nb; b++) {                                                   \
                    superblock(&x[b], &a0[b], c0);                                                   \
                    if (a1)                                                                          \
                        superblock(&x[b], &a1[b], c1);                                               \
                }                                                                                    \
                vst1q_f32(y[t0] + p * PLUMB_R8, c0[0]);                                              \
                vst1q_f32(y[t0] + p * PLUMB_R8 + 4, c0[1]);                                          \
                if (a1) {                                                                            \
                    vst1q_f32(y[t0 + 1] + p * PLUMB_R8, c1[0]);                                      \
                    vst1q_f32(y[t0 + 1] + p * PLUMB_R8 + 4, c1[1]);                                  \
                }                                                                                    \
            }                                                                                        \
        }                                                                                            \
    }

K_R8_GEMM(gemm_q4_K_r8, PlumbBlockQ4_Kx8, q4_K_superblock)
K_R8_GEMM(gemm_q6_K_r8, PlumbBlockQ6_Kx8, q6_K_superblock)

void R8_INIT(PlumbDsp *dsp)
{
    dsp->gemm[PLUMB_QTYPE_Q4_0_R8] = gemm_q4_0_r8;
    dsp->gemm[PLUMB_QTYPE_Q4_K_R8] = gemm_q4_K_r8;
    dsp->gemm[PLUMB_QTYPE_Q6_K_R8] = gemm_q6_K_r8;
}
