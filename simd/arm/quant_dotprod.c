/*
 * quant_dotprod.c — the AArch64 dot-product tier (ARMv8.2 SDOT): the
 * integer dot products of the quant types, and plumb_dsp_init_dotprod(),
 * which also installs the tier's tiled products of the row-interleaved
 * Q4_0_R8, Q4_K_R8 and Q6_K_R8 (gemm_r8_dotprod.c) and its fused attention
 * (attn_dotprod.c).
 *
 * The kernels are the shared ones of arm_util.h; compiled here with
 * -march=armv8.2-a+dotprod, their arm_dot_s8() is a single SDOT.
 * Dequantisation, quantisers and float dots stay those of the NEON tier
 * below.
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

void plumb_dsp_init_dotprod(PlumbDsp *dsp)
{
    ARM_SET_INT_DOTS(dsp, dotprod);
    plumb_dsp_init_dotprod_r8(dsp);
    plumb_dsp_init_dotprod_attn(dsp);
}
