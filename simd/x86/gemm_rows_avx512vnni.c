/*
 * gemm_rows_avx512vnni.c — the row-major tiled products of gemm_avx2.c
 * (Q4_0 x Q8_0, Q4_K and Q6_K x Q8_K: prefill of weights that were not
 * repacked) compiled with the AVX-512 VNNI flags, where x86_dpbusd256 /
 * x86_dpwssd256 (x86_kernels.h) are the EVEX 256-bit vpdpbusd / vpdpwssd.
 * gemm_avx512vnni.c has the interleaved types only; these take the place of
 * the AVX2 tier's row-major products, with the same integer sums and so the
 * same bits.  plumb_dsp_init_avx512vnni_rows() installs them.
 */
#if !defined(__AVX512VNNI__) || !defined(__AVX512VL__)
#error "gemm_rows_avx512vnni.c must be compiled with -mavx512vnni -mavx512vl"
#endif

#define plumb_dsp_init_avx2_gemm plumb_dsp_init_avx512vnni_gemm_all
#include "gemm_avx2.c"
#undef plumb_dsp_init_avx2_gemm

void plumb_dsp_init_avx512vnni_rows(PlumbDsp *dsp)
{
    install_row_gemms(dsp);
}
