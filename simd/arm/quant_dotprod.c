/* simd/arm/quant_dotprod.c — not written yet */
typedef int plumb_placeholder_quant_dotprod;
