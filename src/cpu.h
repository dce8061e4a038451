/*
 * cpu.h — CPU feature detection and kernel tiers.
 *
 * Features are detected once (cpuid + XCR0 OS-support check on x86, HWCAP on
 * Linux/aarch64) and grouped into tiers.  A tier implies every tier below it
 * on the same architecture, except avxvnni and avx512, which both build on
 * avx2 alone (Alder Lake has the first, Skylake-SP the second); where a CPU
 * has both, the AVX-512 tiers are chosen.  Forcing a tier the CPU lacks is
 * an error (PLUMB_ECPU), never a SIGILL later.
 */
#ifndef PLUMB_CPU_H
#define PLUMB_CPU_H

#include "cpu_features.h"
#include "plumb.h"

/* The tiers in ladder order, each with the features it needs (cumulative:
 * a tier's flags include those of the tiers below it on its architecture);
 * "c" first, with none.  The one list of tier names in the library. */
typedef struct PlumbCpuTier {
    const char *name; /* "c", "avx2", ... */
    unsigned flags;   /* PLUMB_CPU_* the tier needs */
} PlumbCpuTier;
extern const PlumbCpuTier plumb_cpu_tiers[];
extern const size_t plumb_cpu_n_tiers;

/* Features of this CPU (detected once, whichever thread asks first). */
unsigned plumb_cpu_detect(void);
/* Features compiled into this build (tiers with kernels). */
unsigned plumb_cpu_built(void);
/* Tier flags for a name: "c", "avx2", "avxvnni", "avx512", "avx512vnni", "neon",
 * "dotprod".
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
