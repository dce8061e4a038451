/*
 * cpu.c — feature detection (cpuid + XCR0 on x86-64, HWCAP on aarch64
 * Linux) and tier selection (see cpu.h).
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"
#include "err.h"

#if defined(__x86_64__) || defined(_M_X64)
#include <cpuid.h>

static unsigned long long xgetbv0(void)
{
    unsigned eax, edx;
    __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, flags = 0;
    unsigned long long xcr0;
    int avx_os, avx512_os;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    int fma = (c >> 12) & 1, osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, f16c = (c >> 29) & 1;
    if (!osxsave || !avx)
        return 0;
    xcr0 = xgetbv0();
    avx_os = (xcr0 & 0x6) == 0x6;          /* XMM and YMM state */
    avx512_os = avx_os && (xcr0 & 0xe0) == 0xe0; /* opmask, ZMM_Hi256, Hi16_ZMM */
    if (__get_cpuid_max(0, NULL) < 7)
        return 0;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    int vnni = (c >> 11) & 1;
    if (avx_os && avx2 && fma && f16c)
        flags |= PLUMB_CPU_AVX2;
    if ((flags & PLUMB_CPU_AVX2) && a >= 1) { /* leaf 7 has subleaf 1 */
        unsigned a1, b1, c1, d1;
        __cpuid_count(7, 1, a1, b1, c1, d1);
        if ((a1 >> 4) & 1) /* AVX-VNNI: needs only the YMM state checked above */
            flags |= PLUMB_CPU_AVXVNNI;
    }
    if ((flags & PLUMB_CPU_AVX2) && avx512_os && f && dq && bw && vl)
        flags |= PLUMB_CPU_AVX512;
    if ((flags & PLUMB_CPU_AVX512) && vnni)
        flags |= PLUMB_CPU_AVX512VNNI;
    return flags;
}
#elif defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1 << 20)
#endif
#ifndef HWCAP2_I8MM
#define HWCAP2_I8MM (1 << 13)
#endif
static unsigned detect(void)
{
    unsigned long hw = getauxval(AT_HWCAP), hw2 = getauxval(AT_HWCAP2);
    unsigned flags = PLUMB_CPU_NEON;
    if (hw & HWCAP_ASIMDDP)
        flags |= PLUMB_CPU_DOTPROD;
    if ((flags & PLUMB_CPU_DOTPROD) && (hw2 & HWCAP2_I8MM))
        flags |= PLUMB_CPU_I8MM;
    return flags;
}
#else
static unsigned detect(void)
{
    return 0;
}
#endif

static pthread_once_t detect_once = PTHREAD_ONCE_INIT;
static unsigned detected; /* written once, under detect_once */

static void detect_init(void)
{
    detected = detect();
}

unsigned plumb_cpu_detect(void)
{
    pthread_once(&detect_once, detect_init);
    return detected;
}

unsigned plumb_cpu_built(void)
{
    unsigned f = 0;
#if PLUMB_HAVE_AVX2
    f |= PLUMB_CPU_AVX2;
#endif
#if PLUMB_HAVE_AVXVNNI
    f |= PLUMB_CPU_AVXVNNI;
#endif
#if PLUMB_HAVE_AVX512
    f |= PLUMB_CPU_AVX512;
#endif
#if PLUMB_HAVE_AVX512VNNI
    f |= PLUMB_CPU_AVX512VNNI;
#endif
#if PLUMB_HAVE_NEON
    f |= PLUMB_CPU_NEON;
#endif
#if PLUMB_HAVE_DOTPROD
    f |= PLUMB_CPU_DOTPROD;
#endif
    return f;
}

/* Tiers in ladder order; each implies the ones before it on its architecture,
 * except that avxvnni and avx512 are side by side above avx2 (a CPU may have
 * either): the AVX-512 tiers come later and win a tie (plumb_cpu_choose). */
const PlumbCpuTier plumb_cpu_tiers[] = {
    { "c", 0 },
    { "avx2", PLUMB_CPU_AVX2 },
    { "avxvnni", PLUMB_CPU_AVX2 | PLUMB_CPU_AVXVNNI },
    { "avx512", PLUMB_CPU_AVX2 | PLUMB_CPU_AVX512 },
    { "avx512vnni", PLUMB_CPU_AVX2 | PLUMB_CPU_AVX512 | PLUMB_CPU_AVX512VNNI },
    { "neon", PLUMB_CPU_NEON },
    { "dotprod", PLUMB_CPU_NEON | PLUMB_CPU_DOTPROD },
};
const size_t plumb_cpu_n_tiers = sizeof plumb_cpu_tiers / sizeof plumb_cpu_tiers[0];

int plumb_cpu_select(const char *name, unsigned *flags, PlumbError *err)
{
    size_t i;
    unsigned have = plumb_cpu_detect(), built = plumb_cpu_built();
    for (i = 0; i < plumb_cpu_n_tiers; i++) {
        if (strcmp(name, plumb_cpu_tiers[i].name) != 0)
            continue;
        if ((plumb_cpu_tiers[i].flags & have) != plumb_cpu_tiers[i].flags)
            return plumb_err(err, PLUMB_ECPU, "CPU tier '%s': this CPU lacks it", name);
        if ((plumb_cpu_tiers[i].flags & built) != plumb_cpu_tiers[i].flags)
            return plumb_err(err, PLUMB_ECPU,
                             "CPU tier '%s': this build has no kernels for it", name);
        *flags = plumb_cpu_tiers[i].flags;
        return PLUMB_OK;
    }
    {
        char names[128];
        size_t n = 0;
        for (i = 0; i < plumb_cpu_n_tiers && n < sizeof names; i++)
            n += (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "",
                                  plumb_cpu_tiers[i].name);
        return plumb_err(err, PLUMB_EINVAL, "unknown CPU tier '%s' (one of %s)", name, names);
    }
}

int plumb_cpu_choose(const char *name, unsigned *flags, PlumbError *err)
{
    size_t i;
    unsigned usable;
    if (name && *name)
        return plumb_cpu_select(name, flags, err);
    usable = plumb_cpu_detect() & plumb_cpu_built();
    *flags = 0;
    for (i = 0; i < plumb_cpu_n_tiers; i++)
        if ((plumb_cpu_tiers[i].flags & usable) == plumb_cpu_tiers[i].flags &&
            __builtin_popcount(plumb_cpu_tiers[i].flags) >= __builtin_popcount(*flags))
            *flags = plumb_cpu_tiers[i].flags;
    return PLUMB_OK;
}

const char *plumb_cpu_tier_name(unsigned flags)
{
    const char *best = "c";
    size_t i;
    for (i = 0; i < plumb_cpu_n_tiers; i++) {
        const unsigned need = plumb_cpu_tiers[i].flags;
        if (need && (need & flags) == need)
            best = plumb_cpu_tiers[i].name;
    }
    return best;
}

void plumb_cpu_describe(unsigned flags, char *buf, size_t cap)
{
    static const struct {
        unsigned bit;
        const char *name;
    } names[] = {
        { PLUMB_CPU_AVX2, "avx2" },       { PLUMB_CPU_AVXVNNI, "avxvnni" },
        { PLUMB_CPU_AVX512, "avx512" },
        { PLUMB_CPU_AVX512VNNI, "avx512vnni" }, { PLUMB_CPU_NEON, "neon" },
        { PLUMB_CPU_DOTPROD, "dotprod" }, { PLUMB_CPU_I8MM, "i8mm" },
    };
    size_t i, n = 0;
    if (cap == 0)
        return;
    buf[0] = '\0';
    for (i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (!(flags & names[i].bit))
            continue;
        int w = snprintf(buf + n, cap - n, "%s%s", n ? " " : "", names[i].name);
        if (w < 0 || (size_t)w >= cap - n)
            break;
        n += (size_t)w;
    }
}

int plumb_cpu_physical_cores(void)
{
    /* Count distinct (physical id, core id) pairs; fall back to online CPUs. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[256];
    int phys = -1, seen[1024][2], n = 0;
    if (f) {
        while (fgets(line, sizeof line, f)) {
            int v, i, dup = 0;
            if (sscanf(line, "physical id : %d", &v) == 1)
                phys = v;
            else if (sscanf(line, "core id : %d", &v) == 1 && n < 1024) {
                for (i = 0; i < n; i++)
                    if (seen[i][0] == phys && seen[i][1] == v)
                        dup = 1;
                if (!dup) {
                    seen[n][0] = phys;
                    seen[n][1] = v;
                    n++;
                }
            }
        }
        fclose(f);
    }
    if (n > 0)
        return n;
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}
