/*
 * gemm_rows_avx512vnni.c — the row-major tiled products of gemm_avx2.c
 * (Q4_0 x Q8_0, Q4_K and Q6_K x Q8_K: prefill of weights that were not
 * repacked) compiled with the AVX-512 VNNI flags, where x86_dpbusd256 /
 * x86_dpwssd256 (x86_kernels.h) are the EVEX 256-bit vpdpbusd / vpdpwssd.
 * gemm_avx512vnni.c has the interleaved types only; these take the place of
 * the AVX2 tier's row-major products, with the same integer sums and so the
 * same bits.  plumb_dsp_init_avx512vnni_rows() installs them.  Its
 * interleaved products (one panel of eight rows at a time) serve the
 * 512-bit tiles of gemm_avx512vnni.c for a single token.
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

/* The interleaved products one panel of eight rows at a time (256-bit),
 * to which gemm_avx512vnni.c hands single tokens. */
void plumb_avx512vnni_q4_0_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt)
{
    gemm_q4_0_r8(n, w, w_stride, r0, r1, a, y, nt);
}

void plumb_avx512vnni_q4_K_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt)
{
    gemm_q4_K_r8(n, w, w_stride, r0, r1, a, y, nt);
}

void plumb_avx512vnni_q6_K_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt)
{
    gemm_q6_K_r8(n, w, w_stride, r0, r1, a, y, nt);
}
