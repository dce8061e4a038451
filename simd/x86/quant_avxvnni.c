/*
 * quant_avxvnni.c — the AVX-VNNI tier (Alder Lake and later: VEX-encoded
 * vpdpbusd / vpdpwssd on 256-bit registers, no AVX-512): the kernels of
 * quant_avx2.c compiled again with -mavxvnni.  Their integer multiply-adds
 * go through x86_dpbusd256 / x86_dpwssd256 (x86_kernels.h), which become one
 * instruction each here instead of maddubs + madd + add; the sums are the
 * same integers, so the tier's results are the AVX2 tier's bits.  The
 * kernels without integer multiply-adds come along unchanged.
 * plumb_dsp_init_avxvnni() installs them and the row-major tiled products
 * of gemm_avxvnni.c; the AVX2 tier below it on the ladder has installed
 * everything else.
 */
#if !defined(__AVXVNNI__)
#error "quant_avxvnni.c must be compiled with -mavxvnni"
#endif

#define plumb_dsp_init_avx2 plumb_dsp_init_avxvnni_quant
#include "quant_avx2.c"
#undef plumb_dsp_init_avx2

void plumb_dsp_init_avxvnni(PlumbDsp *dsp)
{
    plumb_dsp_init_avxvnni_quant(dsp);
    plumb_dsp_init_avxvnni_gemm(dsp);
}
