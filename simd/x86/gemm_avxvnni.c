/*
 * gemm_avxvnni.c — the row-major tiled products of gemm_avx2.c (Q4_0 and
 * Q8_0 x Q8_0, Q4_K, Q5_K and Q6_K x Q8_K) compiled with -mavxvnni: their
 * multiply-adds become vpdpbusd / vpdpwssd (x86_kernels.h), the integer
 * sums and so the results stay the AVX2 tier's (Q8_0 is taken as w + 128
 * there, by the sign trick on AVX2: the same exact sums); the same for the interleaved products
 * (Q4_0_R8's block sums by vpdpbusd).  plumb_dsp_init_avxvnni_gemm(), called
 * by plumb_dsp_init_avxvnni(), installs those; the float products keep the
 * AVX2 tier's.
 */
#if !defined(__AVXVNNI__)
#error "gemm_avxvnni.c must be compiled with -mavxvnni"
#endif

#define plumb_dsp_init_avx2_gemm plumb_dsp_init_avxvnni_gemm_all
#include "gemm_avx2.c"
#undef plumb_dsp_init_avx2_gemm

void plumb_dsp_init_avxvnni_gemm(PlumbDsp *dsp)
{
    install_row_gemms(dsp);
    install_r8_gemms(dsp);
}
