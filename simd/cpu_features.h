/*
 * cpu_features.h — the CPU feature bits that select kernels.
 *
 * plumb_dsp_init() (dsp.h) climbs its ladder on these bits; src/cpu.c
 * detects them and names the tiers built from them.  They live here, below
 * both, so that simd/ needs nothing from src/.
 */
#ifndef PLUMB_CPU_FEATURES_H
#define PLUMB_CPU_FEATURES_H

enum {
    PLUMB_CPU_AVX2 = 1u << 0,       /* AVX2 + FMA + F16C */
    PLUMB_CPU_AVX512 = 1u << 1,     /* AVX-512 F, BW, DQ, VL */
    PLUMB_CPU_AVX512VNNI = 1u << 2, /* AVX-512 VNNI */
    PLUMB_CPU_AVXVNNI = 1u << 3,    /* AVX-VNNI (VEX vpdpbusd / vpdpwssd, 256-bit) */
    PLUMB_CPU_NEON = 1u << 8,       /* AdvSIMD (always on aarch64) */
    PLUMB_CPU_DOTPROD = 1u << 9,    /* SDOT/UDOT */
    PLUMB_CPU_I8MM = 1u << 10,      /* SMMLA */
};

#endif
