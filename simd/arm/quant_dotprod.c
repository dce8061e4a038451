/*
 * quant_dotprod.c — the AArch64 dot-product tier (ARMv8.2 SDOT): the
 * integer dot products of the quant types.
 *
 * The kernels are the shared ones of arm_util.h; compiled here with
 * -march=armv8.2-a+dotprod, their arm_dot_s8() is a single SDOT.  Only the
 * vec_dot entries change: dequantisation, quantisers and float dots stay
 * those of the NEON tier below.
 */
#include "config.h"

#include "arm_util.h"
#include "dsp.h"

#if !defined(__ARM_FEATURE_DOTPROD)
#error "quant_dotprod.c must be compiled with the dot-product extension (-march=armv8.2-a+dotprod)"
#endif

ARM_DEFINE_INT_DOTS(dotprod)

void plumb_dsp_init_dotprod(PlumbDsp *dsp)
{
    ARM_SET_INT_DOTS(dsp, dotprod);
}
