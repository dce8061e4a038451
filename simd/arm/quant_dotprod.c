/*
 * quant_dotprod.c — the AArch64 dot-product tier (ARMv8.2 SDOT): the
 * integer dot products of the quant types, and the tiled product of the
 * row-interleaved Q4_0_R8.
 *
 * The kernels are the shared ones of arm_util.h; compiled here with
 * -march=armv8.2-a+dotprod, their arm_dot_s8() is a single SDOT.  Only the
 * vec_dot entries change: dequantisation, quantisers and float dots stay
 * those of the NEON tier below.
 *
 * Q4_0_R8 (quant/qtypes.h): each 16-byte half of a 32-byte chunk holds 4
 * columns of 4 rows, so SDOT by lane (the activation's 4-byte group picked
 * from a register, no broadcast) adds a group's products into the 4 rows'
 * int32 lanes.  The offset 8 * sum(a), the conversion, the scale product
 * and one FMA per block and token follow plumb_gemm_q4_0_r8_c exactly: the
 * same bits as the C definition.
 */
#include "config.h"

#include <arm_neon.h>
#include <stdint.h>

#include "arm_util.h"
#include "dsp.h"
#include "qtypes.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "quant_dotprod.c must be compiled with the dot-product extension (-march=armv8.2-a+dotprod)"
#endif

ARM_DEFINE_INT_DOTS(dotprod)

/* One block of eight rows against one token: acc0 (rows 0-3), acc1 (4-7). */
static inline void r8_block_dot(const PlumbBlockQ4_0x8 *x, const PlumbBlockQ8_0X *a, float32x4_t *acc0,
                                float32x4_t *acc1)
{
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    const int8x16_t alo = vld1q_s8(a->qs), ahi = vld1q_s8(a->qs + 16);
    int32x4_t s0 = vdupq_n_s32(0), s1 = vdupq_n_s32(0);
#define R8_CHUNK(c)                                                                                  \
    do {                                                                                             \
        const uint8x16_t v0 = vld1q_u8(x->qs + 32 * (c)), v1 = vld1q_u8(x->qs + 32 * (c) + 16);     \
        s0 = vdotq_laneq_s32(s0, vreinterpretq_s8_u8(vandq_u8(v0, m4)), alo, c);                    \
        s1 = vdotq_laneq_s32(s1, vreinterpretq_s8_u8(vandq_u8(v1, m4)), alo, c);                    \
        s0 = vdotq_laneq_s32(s0, vreinterpretq_s8_u8(vshrq_n_u8(v0, 4)), ahi, c);                   \
        s1 = vdotq_laneq_s32(s1, vreinterpretq_s8_u8(vshrq_n_u8(v1, 4)), ahi, c);                   \
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
    *acc0 = vfmaq_f32(*acc0, vcvtq_f32_s32(vsubq_s32(s0, off)), vmulq_f32(d0, da));
    *acc1 = vfmaq_f32(*acc1, vcvtq_f32_s32(vsubq_s32(s1, off)), vmulq_f32(d1, da));
}

static void gemm_q4_0_r8_dotprod(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
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
                r8_block_dot(&x[b], &a0[b], &c00, &c01);
                if (a1)
                    r8_block_dot(&x[b], &a1[b], &c10, &c11);
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

void plumb_dsp_init_dotprod(PlumbDsp *dsp)
{
    ARM_SET_INT_DOTS(dsp, dotprod);
    dsp->gemm[PLUMB_QTYPE_Q4_0_R8] = gemm_q4_0_r8_dotprod;
}
