/*
 * cpu.h — CPU feature detection and kernel tiers.
 *
 * Features are detected once (cpuid + XCR0 OS-support check on x86, HWCAP on
 * Linux/aarch64) and grouped into tiers.  A tier implies every tier below it
 * on the same architecture.  Forcing a tier the CPU lacks is an error
 * (PLUMB_ECPU), never a SIGILL later.
 */
#ifndef PLUMB_CPU_H
#define PLUMB_CPU_H

#include "plumb.h"

enum {
    PLUMB_CPU_AVX2 = 1u << 0,       /* AVX2 + FMA + F16C */
    PLUMB_CPU_AVX512 = 1u << 1,     /* AVX-512 F, BW, DQ, VL */
    PLUMB_CPU_AVX512VNNI = 1u << 2, /* AVX-512 VNNI */
    PLUMB_CPU_NEON = 1u << 8,       /* AdvSIMD (always on aarch64) */
    PLUMB_CPU_DOTPROD = 1u << 9,    /* SDOT/UDOT */
    PLUMB_CPU_I8MM = 1u << 10,      /* SMMLA */
};

/* Features of this CPU (detected once, whichever thread asks first). */
unsigned plumb_cpu_detect(void);
/* Features compiled into this build (tiers with kernels). */
unsigned plumb_cpu_built(void);
/* Tier flags for a name: "c", "avx2", "avx512", "avx512vnni", "neon", "dotprod".
 * Fails with PLUMB_EINVAL for an unknown name and PLUMB_ECPU when the CPU or
 * the build lacks it. */
int plumb_cpu_select(const char *name, unsigned *flags, PlumbError *err);
/* Resolve the tier to use: name if given (non-empty), else the best the CPU
 * and build support.  The library reads no environment: programs pass
 * $PLUMB_CPU in as the name. */
int plumb_cpu_choose(const char *name, unsigned *flags, PlumbError *err);
/* Name of the highest tier in flags ("c" when none). */
const char *plumb_cpu_tier_name(unsigned flags);
/* Space-separated feature names of flags, into buf. */
void plumb_cpu_describe(unsigned flags, char *buf, size_t cap);
/* Physical cores (best effort, >= 1). */
int plumb_cpu_physical_cores(void);

#endif
