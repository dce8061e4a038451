/*
 * checkdsp.h — the harness parts of checkdsp (tests/checkdsp/checkdsp.c):
 * a seeded random generator, a tick counter for --bench, canary-guarded
 * buffers, a guard that turns a crashing kernel call into a reported failure,
 * and float comparison in ULP.  Architecture-neutral: no intrinsics, no -m
 * flags; the tick counter is rdtsc on x86-64, cntvct on aarch64 and
 * CLOCK_MONOTONIC nanoseconds elsewhere.
 *
 * Ownership: a CdBuf owns its allocation (cd_buf_free); pointers into it are
 * valid until then.
 */
#ifndef PLUMB_CHECKDSP_H
#define PLUMB_CHECKDSP_H

#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#endif

/* ------------------------------------------------------------ random */

typedef struct CdRng {
    uint64_t s; /* splitmix64 state */
} CdRng;

static inline uint64_t cd_rand(CdRng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Uniform in [0, 1). */
static inline double cd_unif(CdRng *r)
{
    return (double)(cd_rand(r) >> 11) * 0x1p-53;
}

/* Uniform in [lo, hi). */
static inline float cd_range(CdRng *r, float lo, float hi)
{
    return lo + (hi - lo) * (float)cd_unif(r);
}

/* Standard normal (Box-Muller). */
static inline float cd_normal(CdRng *r)
{
    double u = cd_unif(r), v = cd_unif(r);
    if (u < 1e-300)
        u = 1e-300;
    return (float)(sqrt(-2.0 * log(u)) * cos(6.283185307179586 * v));
}

/* ------------------------------------------------------------ ticks */

/* Unit of cd_ticks(), for the --bench table header. */
#if defined(__x86_64__) || defined(__i386__)
#define CD_TICK_UNIT "cycles (rdtsc)"
static inline uint64_t cd_ticks(void)
{
    return __rdtsc();
}
#elif defined(__aarch64__)
#define CD_TICK_UNIT "ticks (cntvct)"
static inline uint64_t cd_ticks(void)
{
    uint64_t v;
    __asm__ volatile("isb; mrs %0, cntvct_el0" : "=r"(v));
    return v;
}
#else
#define CD_TICK_UNIT "ns"
static inline uint64_t cd_ticks(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
#endif

/* ------------------------------------------------------------ buffers */

#define CD_GUARD 64          /* canary bytes on each side */
#define CD_CANARY 0xa5       /* canary byte */
#define CD_POISON 0x7f       /* fill of an output before the kernel writes it */

typedef struct CdBuf {
    uint8_t *base; /* allocation: guard, offset, len bytes, guard */
    uint8_t *p;    /* the region handed to the kernel */
    size_t len;    /* bytes of the region */
    size_t off;    /* misalignment of p from a 64-byte boundary, bytes */
} CdBuf;

/* A region of len bytes at 64-byte boundary + off, canaries on both sides,
 * the region itself filled with fill.  Returns 0, or -1 when out of memory. */
static inline int cd_buf_init(CdBuf *b, size_t len, size_t off, int fill)
{
    size_t total = CD_GUARD + 64 + len + CD_GUARD;
    b->base = aligned_alloc(64, (total + 63) / 64 * 64);
    if (!b->base)
        return -1;
    memset(b->base, CD_CANARY, total);
    b->p = b->base + CD_GUARD + off;
    b->len = len;
    b->off = off;
    memset(b->p, fill, len);
    return 0;
}

/* 1 when every canary byte around the region is intact. */
static inline int cd_buf_intact(const CdBuf *b)
{
    const uint8_t *end = b->p + b->len;
    for (const uint8_t *q = b->base; q < b->p; q++)
        if (*q != CD_CANARY)
            return 0;
    for (size_t i = 0; i < CD_GUARD; i++)
        if (end[i] != CD_CANARY)
            return 0;
    return 1;
}

static inline void cd_buf_free(CdBuf *b)
{
    free(b->base);
    b->base = b->p = NULL;
}

/* ------------------------------------------------------------ crash guard */

/* cd_guard(fn, arg) runs fn(arg) and returns 0, or the number of the signal
 * (SIGILL, SIGSEGV, SIGBUS, SIGFPE) it raised; the process goes on. */
static sigjmp_buf cd_jmp;
static volatile sig_atomic_t cd_in_kernel;

static void cd_on_signal(int sig)
{
    if (cd_in_kernel) {
        cd_in_kernel = 0;
        siglongjmp(cd_jmp, sig);
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

static inline void cd_guard_install(void)
{
    static const int sigs[] = { SIGILL, SIGSEGV, SIGBUS, SIGFPE };
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cd_on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NODEFER;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
}

static inline int cd_guard(void (*fn)(void *), void *arg)
{
    int sig = sigsetjmp(cd_jmp, 1);
    if (sig)
        return sig;
    cd_in_kernel = 1;
    fn(arg);
    cd_in_kernel = 0;
    return 0;
}

/* ------------------------------------------------------------ floats */

static inline uint32_t cd_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

/* Distance in representable floats between a and b (0 for two NaNs,
 * UINT64_MAX when only one is NaN). */
static inline uint64_t cd_ulps(float a, float b)
{
    if (isnan(a) || isnan(b))
        return isnan(a) && isnan(b) ? 0 : UINT64_MAX;
    int64_t ia = (int32_t)cd_bits(a), ib = (int32_t)cd_bits(b);
    if (ia < 0)
        ia = (int64_t)INT32_MIN - ia; /* negative floats below the positives */
    if (ib < 0)
        ib = (int64_t)INT32_MIN - ib;
    return (uint64_t)(ia > ib ? ia - ib : ib - ia);
}

#endif
