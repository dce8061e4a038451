/* simd/x86/vec_avx2.c — not written yet */
typedef int plumb_placeholder_vec_avx2;
