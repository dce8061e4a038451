/*
 * gemm_r8_dotprod.c — the tiled products of the row-interleaved types of
 * gemm_r8_neon.c compiled with the dot-product extension
 * (-march=armv8.2-a+dotprod): there arm_dot_lane_s8() is one SDOT by lane,
 * four rows per instruction.  plumb_dsp_init_dotprod_r8(), called by
 * plumb_dsp_init_dotprod(), installs the Q4_0_R8, Q4_K_R8 and Q6_K_R8
 * kernels; they give the same bits as the NEON tier's and the C definitions.
 */
#if !defined(__ARM_FEATURE_DOTPROD)
#error "gemm_r8_dotprod.c must be compiled with the dot-product extension (-march=armv8.2-a+dotprod)"
#endif

#include "gemm_r8_neon.c"
