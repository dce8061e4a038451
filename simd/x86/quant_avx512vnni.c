/* simd/x86/quant_avx512vnni.c — not written yet */
typedef int plumb_placeholder_quant_avx512vnni;
