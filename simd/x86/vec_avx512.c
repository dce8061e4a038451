/* simd/x86/vec_avx512.c — not written yet */
typedef int plumb_placeholder_vec_avx512;
