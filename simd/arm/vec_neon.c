/* simd/arm/vec_neon.c — not written yet */
typedef int plumb_placeholder_vec_neon;
