/*
 * quant_avx512vnni.c — the AVX-512 VNNI tier: the 512-bit dot products of
 * x86_kernels.h compiled with -mavx512vnni, where the integer multiply-adds
 * become vpdpbusd (the 32-element formats: one instruction per 64 products
 * instead of maddubs + madd + add) and vpdpwssd (the sub-block scales of the
 * K-quants and IQ4_XS: madd + add fused), the tiled products of the
 * interleaved types (gemm_avx512vnni.c) and the row-major ones of
 * gemm_avx2.c with the 256-bit EVEX vpdpbusd / vpdpwssd
 * (gemm_rows_avx512vnni.c).  Everything else comes from the
 * AVX-512 tier below it on the ladder.
 */
#include "config.h"

#include "dsp.h"
#include "x86_kernels.h"

void plumb_dsp_init_avx512vnni(PlumbDsp *dsp)
{
    x86_install_dots512(dsp);
    plumb_dsp_init_avx512vnni_rows(dsp);
    plumb_dsp_init_avx512vnni_gemm(dsp); /* after: its Q4_K takes the row tile's place */
}
