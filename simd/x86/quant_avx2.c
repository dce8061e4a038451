/* simd/x86/quant_avx2.c — not written yet */
typedef int plumb_placeholder_quant_avx2;
