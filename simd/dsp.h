/*
 * dsp.h — the kernel dispatch table.
 *
 * Every hot operation of the forward pass goes through a PlumbDsp filled once
 * by plumb_dsp_init(): first the C references (simd/dsp.c, quant/quant_ref.c),
 * then each tier the flags allow, climbing the ladder; the last assignment
 * wins.  Tier files (simd/x86/<module>_<isa>.c, simd/arm/...) export one
 * plumb_dsp_init_<isa>() each and are compiled with only their own -m flags.
 *
 * Conventions: n counts elements; quantised buffers are arrays of blocks;
 * pointers to float data need no particular alignment.
 */
#ifndef PLUMB_DSP_H
#define PLUMB_DSP_H

#include <stdint.h>

#include "qtypes.h"

typedef void (*PlumbToFloatFn)(const void *x, float *y, int64_t n);
typedef void (*PlumbFromFloatFn)(const float *x, void *y, int64_t n);
typedef void (*PlumbVecDotFn)(int64_t n, float *s, const void *w, const void *a);
/* Tiled matrix product: for r0 <= r < r1 and t < nt,
 *   y[t][r] = vec_dot(n, row r, a[t])
 * where row r (n elements of the weight type) starts at w + r * w_stride and
 * a[t] holds n elements of the activation type.  Each weight block is
 * unpacked once for several tokens.  Every y[t][r] is computed with the same
 * operations whatever r0, r1, nt and the position of r and t in their tiles,
 * so splitting rows or tokens differently gives the same bits. */
/* Attention's probabilities times values:
 *   out[i*os + d] = sum over j < k of p[i*ps + j] * v(j*vs + d)
 * for i < m, d < n, where v(e) is element e of the value rows (F32 or F16,
 * widened exactly to float).  Each sum starts at 0 and adds the products in
 * ascending j, each product rounded before the add, as repeated axpy calls
 * would: every tier gives the same bits. */
typedef void (*PlumbMixFn)(float *out, int64_t os, const float *p, int64_t ps, const void *v, int64_t vs,
                           int64_t m, int64_t n, int64_t k);
typedef void (*PlumbGemmFn)(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                            const void *const *a, float *const *y, int64_t nt);

/* Fused attention over one run of cached rows for the query heads sharing
 * a key/value head.  For i < nq and j < nk:
 *   s_ij   = scale * dot(q_i, k_j)       (as vec_dot[key type] computes it)
 *   m[i]   = max_j s_ij
 *   l[i]   = sum_j exp(s_ij - m[i])
 *   acc[i*hd + d] = sum_j exp(s_ij - m[i]) * v_j[d]
 * with v_j dequantised to float (to_float[v_type]).  A tier may take the
 * rows in tiles with a running maximum (rescaling what it has summed when
 * the maximum rises) and compute exp as exp2 of pre-scaled scores: checkdsp
 * bounds the difference from a double-precision evaluation on the same
 * numbers.  m, l and acc are outputs only (a fresh partial result); the
 * caller merges partials (src/attn.c).  The same call gives the same bits
 * whatever else runs. */
#define PLUMB_ATTN_MAX_Q 16 /* query heads per call */
typedef struct PlumbAttnArgs {
    int64_t hd;           /* elements per head, at most PLUMB_ATTN_MAX_HD; a multiple of
                             32 when the key or value type is a block type */
    int64_t nq;           /* query heads, 1 .. PLUMB_ATTN_MAX_Q */
    const void *q;        /* nq rows of hd elements of the keys' activation type
                             (qtypes traits->act: F32, F16 or Q8_0) */
    uint64_t q_stride;    /* bytes from one query row to the next */
    const void *k;        /* nk key rows of the key type */
    uint64_t k_stride;    /* bytes from one key row to the next */
    uint32_t v_type;      /* PLUMB_QTYPE_F32, F16, Q8_0 or Q4_0 */
    const void *v;        /* nk value rows of v_type */
    uint64_t v_stride;    /* bytes from one value row to the next */
    int64_t nk;           /* rows, >= 1 */
    float scale;          /* multiplies every dot product */
    float *m;             /* [nq] out: the largest score */
    float *l;             /* [nq] out: the sum of the weights */
    float *acc;           /* [nq][hd] out: the weighted sum of the value rows */
} PlumbAttnArgs;
#define PLUMB_ATTN_MAX_HD 256
typedef void (*PlumbAttnFn)(const PlumbAttnArgs *a);

typedef struct PlumbDsp {
    unsigned flags;                                /* PLUMB_CPU_* tiers in use */
    PlumbToFloatFn to_float[PLUMB_QTYPE_COUNT];    /* dequantise a row */
    PlumbFromFloatFn from_float[PLUMB_QTYPE_COUNT];/* quantise activations (act types) */
    PlumbVecDotFn vec_dot[PLUMB_QTYPE_COUNT];      /* weight row . activations of traits->act */

    /* y = x / rms(x) * w, n elements; y may alias x */
    void (*rmsnorm)(float *y, const float *x, const float *w, int64_t n, float eps);
    /* NeoX RoPE on one head: for i < n/2 rotate (x[i], x[i+n/2]) by (cos[i], sin[i]) */
    void (*rope_neox)(float *x, const float *cos, const float *sin, int64_t n);
    /* in-place softmax over n elements (max-subtracted) */
    void (*softmax)(float *x, int64_t n);
    /* y = silu(g) * u */
    void (*swiglu)(float *y, const float *g, const float *u, int64_t n);
    /* sum a[i]*b[i] */
    float (*dot_f32)(const float *a, const float *b, int64_t n);
    /* y += a * x */
    void (*axpy)(float *y, float a, const float *x, int64_t n);
    /* y *= a */
    void (*scale)(float *y, float a, int64_t n);
    /* probabilities x value rows of type F32 or F16 (NULL for other types) */
    PlumbMixFn mix[PLUMB_QTYPE_COUNT];
    /* indices of the k largest of x[0..n), largest first, lower index first on ties */
    void (*topk)(const float *x, int64_t n, int k, int32_t *idx);
    /* tiled weight x activations products (NULL: the caller loops over vec_dot) */
    PlumbGemmFn gemm[PLUMB_QTYPE_COUNT];
    /* fewest tokens for which gemm beats vec_dot (0 or 1: any number) */
    uint8_t gemm_min_tokens[PLUMB_QTYPE_COUNT];
    /* fused attention by key type (F32, F16, Q8_0, Q4_0; NULL for others) */
    PlumbAttnFn attn[PLUMB_QTYPE_COUNT];
} PlumbDsp;

/* Fill dsp for the given tier flags (a subset of plumb_cpu_detect()). */
void plumb_dsp_init(PlumbDsp *dsp, unsigned flags);

/* The C tier (also used by checkdsp as the reference). */
void plumb_dsp_init_c(PlumbDsp *dsp);
/* Tier initialisers: each overwrites the entries it implements. */
void plumb_dsp_init_avx2(PlumbDsp *dsp);
/* The AVX2 tiled products (simd/x86/gemm_avx2.c), installed after plumb_dsp_init_avx2(). */
void plumb_dsp_init_avx2_gemm(PlumbDsp *dsp);
/* The fused attention of each x86 tier (simd/x86/attn_avx2.c, attn_avx512.c,
 * attn_avx512vnni.c), installed after the tier's own initialiser. */
void plumb_dsp_init_avx2_attn(PlumbDsp *dsp);
void plumb_dsp_init_avx512_attn(PlumbDsp *dsp);
void plumb_dsp_init_avx512vnni_attn(PlumbDsp *dsp);
/* The AVX-VNNI tier (simd/x86/quant_avxvnni.c), installed after the AVX2
 * tier's initialisers; its row-major tiled products (gemm_avxvnni.c). */
void plumb_dsp_init_avxvnni(PlumbDsp *dsp);
void plumb_dsp_init_avxvnni_gemm(PlumbDsp *dsp);
void plumb_dsp_init_avx512(PlumbDsp *dsp);
void plumb_dsp_init_avx512vnni(PlumbDsp *dsp);
/* The AVX-512 VNNI tiled products of the interleaved types
 * (simd/x86/gemm_avx512vnni.c) and the row-major ones of gemm_avx2.c
 * compiled for the tier (gemm_rows_avx512vnni.c), installed by
 * plumb_dsp_init_avx512vnni(). */
void plumb_dsp_init_avx512vnni_gemm(PlumbDsp *dsp);
void plumb_dsp_init_avx512vnni_rows(PlumbDsp *dsp);
/* gemm_avx2.c's interleaved products compiled for AVX-512 VNNI (one panel of
 * eight rows at a time, 256-bit), which the tier's 512-bit tiles use for a
 * single token (gemm_rows_avx512vnni.c). */
void plumb_avx512vnni_q4_0_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt);
void plumb_avx512vnni_q4_K_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt);
void plumb_avx512vnni_q6_K_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt);
/* The row-major Q4_K and Q6_K tiles of gemm_avx2.c compiled for AVX-512
 * VNNI, where the tier's own products (row-major rows repacked on the fly)
 * cannot hold a row on their stack. */
void plumb_avx512vnni_q4_K_rowtile(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                   const void *const *a, float *const *y, int64_t nt);
/* Row-major Q4_0 against a batch on AVX-512 VNNI, repacked 16 rows at a
 * time (gemm_avx512vnni.c), with the row-major tile's bits; 0 when the rows
 * are too long for its stack, 1 when done. */
int plumb_avx512vnni_q4_0_rows_batch(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                     const void *const *a, float *const *y, int64_t nt);
void plumb_avx512vnni_q6_K_rowtile(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                   const void *const *a, float *const *y, int64_t nt);
void plumb_dsp_init_neon(PlumbDsp *dsp);
void plumb_dsp_init_dotprod(PlumbDsp *dsp);

#endif
