/*
 * attn_dotprod.c — the fused attention of attn_neon.c compiled with the
 * dot-product extension (-march=armv8.2-a+dotprod): the block keys' tile is
 * transposed into 4-byte groups and their integer dot products become SDOT
 * by lane, four rows per instruction.  plumb_dsp_init_dotprod_attn(), called
 * by plumb_dsp_init_dotprod(), installs the Q8_0 and Q4_0 kernels; the float
 * keys keep the NEON tier's.
 */
#if !defined(__ARM_FEATURE_DOTPROD)
#error "attn_dotprod.c must be compiled with the dot-product extension (-march=armv8.2-a+dotprod)"
#endif

#include "attn_neon.c"
