/* simd/arm/quant_neon.c — not written yet */
typedef int plumb_placeholder_quant_neon;
