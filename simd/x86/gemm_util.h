/*
 * gemm_util.h — what the x86 tiled products of several tiers share
 * (simd/x86/gemm_*.c): the software prefetch of weight tiles, and small
 * loads.  static inline only; each tier file compiles it with its own -m
 * flags.
 */
#ifndef PLUMB_GEMM_UTIL_H
#define PLUMB_GEMM_UTIL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__)
#define GEMM_INLINE static inline __attribute__((always_inline))
#else
#define GEMM_INLINE static inline
#endif

/*
 * Software prefetch.  The rows of a tile are contiguous (w_stride is the
 * row size, interleaved panels are whole), so a tile is one run of bytes.
 * While a tile
 * is computed, the tile PF_TILES ahead is requested a few lines per step:
 * the hardware prefetchers do not keep four interleaved row streams going
 * well enough when the weights come from DRAM (measured: 4 GB/s a core
 * without, against the 39 GB/s one core can read).
 */
#define PF_TILES 2

typedef struct Prefetch {
    const char *p;    /* next line to request; NULL: none */
    int64_t lines;    /* lines to request per step */
} Prefetch;

static inline Prefetch prefetch_plan(const void *tile, uint64_t tile_bytes, int64_t steps)
{
    Prefetch pf;
    pf.p = (const char *)tile + PF_TILES * tile_bytes;
    pf.lines = (int64_t)((tile_bytes + 63) / 64 + (uint64_t)steps - 1) / (steps > 0 ? steps : 1);
    return pf;
}

static inline void prefetch_step(Prefetch *pf)
{
    if (!pf->p)
        return;
    for (int64_t i = 0; i < pf->lines; i++)
        _mm_prefetch(pf->p + 64 * i, _MM_HINT_T0);
    pf->p += 64 * pf->lines;
}

static inline int32_t load_i32(const void *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The token's sub-block sums s and s+1 as int16 halves of one int32. */
static inline int32_t k8_bsum_pair(const int16_t *bsums, int s)
{
    const uint32_t lo = (uint16_t)(bsums[2 * s] + bsums[2 * s + 1]);
    const uint32_t hi = (uint16_t)(bsums[2 * s + 2] + bsums[2 * s + 3]);
    return (int32_t)(lo | hi << 16);
}

#endif /* PLUMB_GEMM_UTIL_H */
