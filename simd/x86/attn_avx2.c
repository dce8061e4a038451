/*
 * attn_avx2.c — the fused attention of dsp->attn (dsp.h) for AVX2 + FMA +
 * F16C: key types F32, F16, Q8_0 and Q4_0, value types the same four.
 * Installed by plumb_dsp_init_avx2_attn().
 *
 * The rows go in tiles of ATTN_TILE.  For each tile:
 *  1. the scores of every query head against every row of the tile, eight
 *     rows at a time: one accumulator per row, summed across its lanes by
 *     one hadd tree for all eight.  Q8_0 and Q4_0 keys take integer dots per
 *     32-element block against the Q8_0 queries (maddubs with the sign
 *     trick for Q8_0 keys; for Q4_0 the unsigned nibbles times q, less
 *     8 * sum(q) of the block), scaled by the two f16 block scales; F16 keys
 *     meet F16 queries, both widened to float, and F32 keys F32 queries,
 *     in FMA;
 *  2. the running maximum m of each head: when the tile raises it, l and
 *     acc are scaled by exp(old - new) (folded into the next step's load);
 *     the weights p = exp(s - m) come from SLEEF's 8-lane exp;
 *  3. each value row is widened to float once, then added with its weight
 *     into the accumulators of up to four heads at a time, sixteen columns
 *     in registers, every add an FMA in float.
 * Rows past nk in the last tile read the last row again and get score -inf
 * (weight 0).  Heads of F32 / F16 keys and values whose hd is not a
 * multiple of 32 are zero-padded to the next multiple in local buffers.
 *
 * Against the C reference (simd/dsp.c, attn_ref), as checkdsp checks: the
 * scores differ by float reordering (FMA, lane sums), exp by SLEEF's 1 ULP,
 * and the sums by the tile order; checkdsp bounds the result against a
 * double-precision evaluation.  Every operation and its order depend only on
 * hd, nq, nk and the types, never on addresses or other calls: the same
 * call gives the same bits.
 */
#include "config.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sleef.h>

#include "dsp.h"
#include "qtypes.h"
#include "x86_kernels.h"

#define ATTN_TILE 32 /* key rows per tile */
#define ATTN_MAX_B (PLUMB_ATTN_MAX_HD / PLUMB_QK)
#define ATTN_INLINE static inline __attribute__((always_inline))

/* What one call needs of its queries, prepared once. */
typedef struct Ctx {
    const PlumbAttnArgs *a;
    int64_t hd;          /* elements per head */
    int64_t hdp;         /* hd rounded up to 32: the padded row length, elements */
    int64_t nb;          /* 32-element blocks per padded row */
    int64_t nq;          /* query heads */
    float *qf;           /* F32 / F16 keys: [nq][hdp] queries as float, zero-padded */
    const PlumbBlockQ8_0 *qb[PLUMB_ATTN_MAX_Q]; /* Q8_0 / Q4_0 keys: each head's blocks */
    float dq[PLUMB_ATTN_MAX_Q][ATTN_MAX_B];     /* their scales */
    int32_t sq8[PLUMB_ATTN_MAX_Q][ATTN_MAX_B];  /* 8 * sum of each block's quants */
} Ctx;

/* ------------------------------------------------------------ helpers */

/* Lane r of the result = sum of the lanes of x[r]. */
static inline __m256i hsum8_epi32(const __m256i x[8])
{
    const __m256i h01 = _mm256_hadd_epi32(x[0], x[1]), h23 = _mm256_hadd_epi32(x[2], x[3]);
    const __m256i h45 = _mm256_hadd_epi32(x[4], x[5]), h67 = _mm256_hadd_epi32(x[6], x[7]);
    const __m256i h03 = _mm256_hadd_epi32(h01, h23), h47 = _mm256_hadd_epi32(h45, h67);
    return _mm256_add_epi32(_mm256_permute2x128_si256(h03, h47, 0x20), _mm256_permute2x128_si256(h03, h47, 0x31));
}

static inline __m256 hsum8_ps(const __m256 x[8])
{
    const __m256 h01 = _mm256_hadd_ps(x[0], x[1]), h23 = _mm256_hadd_ps(x[2], x[3]);
    const __m256 h45 = _mm256_hadd_ps(x[4], x[5]), h67 = _mm256_hadd_ps(x[6], x[7]);
    const __m256 h03 = _mm256_hadd_ps(h01, h23), h47 = _mm256_hadd_ps(h45, h67);
    return _mm256_add_ps(_mm256_permute2f128_ps(h03, h47, 0x20), _mm256_permute2f128_ps(h03, h47, 0x31));
}

static inline float hmax_ps256(__m256 v)
{
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* hd elements of an F32 (f16 = 0) or F16 row as float at dst, zeros up to hdp. */
static void widen_row(float *dst, const void *src, int f16, int64_t hd, int64_t hdp)
{
    int64_t d = 0;
    if (f16) {
        const uint16_t *h = src;
        for (; d + 8 <= hd; d += 8)
            _mm256_storeu_ps(dst + d, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(h + d))));
        for (; d < hd; d++)
            dst[d] = x86_fp16(h[d]);
    } else {
        memcpy(dst, src, (size_t)hd * sizeof *dst);
        d = hd;
    }
    for (; d < hdp; d++)
        dst[d] = 0.0f;
}

/* 32 signed bytes times d -> 32 floats at y. */
static inline void store_i8_mul(float *y, __m256i q, __m256 d)
{
    const __m128i lo = _mm256_castsi256_si128(q), hi = _mm256_extracti128_si256(q, 1);
    _mm256_storeu_ps(y + 0, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(lo)), d));
    _mm256_storeu_ps(y + 8, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(lo, 8))), d));
    _mm256_storeu_ps(y + 16, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(hi)), d));
    _mm256_storeu_ps(y + 24, _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(hi, 8))), d));
}

static inline const uint8_t *key_row(const PlumbAttnArgs *a, int64_t j)
{
    return (const uint8_t *)a->k + (uint64_t)j * a->k_stride;
}

/* ------------------------------------------------------------ queries */

static void prep_queries(Ctx *c, const PlumbAttnArgs *a, uint32_t kt, float *qf)
{
    c->a = a;
    c->hd = a->hd;
    c->hdp = (a->hd + 31) & ~(int64_t)31;
    c->nb = c->hdp / PLUMB_QK;
    c->nq = a->nq;
    c->qf = qf;
    for (int64_t i = 0; i < c->nq; i++) {
        const uint8_t *q = (const uint8_t *)a->q + (uint64_t)i * a->q_stride;
        if (kt == PLUMB_QTYPE_F32 || kt == PLUMB_QTYPE_F16) {
            widen_row(qf + i * c->hdp, q, kt == PLUMB_QTYPE_F16, c->hd, c->hdp);
            continue;
        }
        c->qb[i] = (const PlumbBlockQ8_0 *)q;
        for (int64_t b = 0; b < c->nb; b++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)c->qb[i][b].qs);
            const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), v);
            c->dq[i][b] = x86_fp16(c->qb[i][b].d);
            c->sq8[i][b] = 8 * x86_hsum_epi32_256(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
        }
    }
}

/* ------------------------------------------------------------ scores */

/* s[i * ATTN_TILE + t] for the rows kr[0 .. nt) (nt rounded up to 8; the
 * caller points the rows past the end at a real one). */
ATTN_INLINE void scores_q8(const Ctx *c, const uint8_t *const *kr, const float *dk, int nt, float *s, const int q4)
{
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256 scale = _mm256_set1_ps(c->a->scale);
    for (int64_t i = 0; i < c->nq; i++) {
        const PlumbBlockQ8_0 *q = c->qb[i];
        for (int g = 0; g < nt; g += 8) {
            __m256 sc = _mm256_setzero_ps();
            for (int64_t b = 0; b < c->nb; b++) {
                const __m256i qv = _mm256_loadu_si256((const __m256i *)q[b].qs);
                __m256i x[8], sum;
#pragma GCC unroll 8
                for (int r = 0; r < 8; r++) {
                    if (q4) { /* kr: the tile's nibbles, 32 bytes per block */
                        const __m256i kv = _mm256_loadu_si256((const __m256i *)(kr[g + r] + b * PLUMB_QK));
                        x[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(kv, qv), ones);
                    } else {
                        const __m256i kv = _mm256_loadu_si256(
                            (const __m256i *)(kr[g + r] + b * sizeof(PlumbBlockQ8_0) + offsetof(PlumbBlockQ8_0, qs)));
                        x[r] = x86_dot_s8s8_i32(kv, qv);
                    }
                }
                sum = hsum8_epi32(x);
                if (q4)
                    sum = _mm256_sub_epi32(sum, _mm256_set1_epi32(c->sq8[i][b]));
                const __m256 dkq = _mm256_mul_ps(_mm256_loadu_ps(dk + b * ATTN_TILE + g), _mm256_set1_ps(c->dq[i][b]));
                sc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sum), dkq, sc);
            }
            _mm256_storeu_ps(s + i * ATTN_TILE + g, _mm256_mul_ps(sc, scale));
        }
    }
}

/* Float keys: four rows (kr, hdp floats each) against the heads two at a
 * time (an odd last head is paired with itself). */
static void scores_float4(const Ctx *c, const float *const *kr, int t0, float *s)
{
    const __m256 scale = _mm256_set1_ps(c->a->scale);
    const int64_t hdp = c->hdp;
    for (int64_t i = 0; i < c->nq; i += 2) {
        const int64_t i2 = i + 1 < c->nq ? i + 1 : i;
        const float *q0 = c->qf + i * hdp, *q1 = c->qf + i2 * hdp;
        __m256 x[8];
        for (int r = 0; r < 8; r++)
            x[r] = _mm256_setzero_ps();
        for (int64_t d = 0; d < hdp; d += 8) {
            const __m256 k0 = _mm256_loadu_ps(kr[0] + d), k1 = _mm256_loadu_ps(kr[1] + d);
            const __m256 k2 = _mm256_loadu_ps(kr[2] + d), k3 = _mm256_loadu_ps(kr[3] + d);
            const __m256 a0 = _mm256_loadu_ps(q0 + d), a1 = _mm256_loadu_ps(q1 + d);
            x[0] = _mm256_fmadd_ps(a0, k0, x[0]);
            x[1] = _mm256_fmadd_ps(a0, k1, x[1]);
            x[2] = _mm256_fmadd_ps(a0, k2, x[2]);
            x[3] = _mm256_fmadd_ps(a0, k3, x[3]);
            x[4] = _mm256_fmadd_ps(a1, k0, x[4]);
            x[5] = _mm256_fmadd_ps(a1, k1, x[5]);
            x[6] = _mm256_fmadd_ps(a1, k2, x[6]);
            x[7] = _mm256_fmadd_ps(a1, k3, x[7]);
        }
        const __m256 h = _mm256_mul_ps(hsum8_ps(x), scale);
        _mm_storeu_ps(s + i * ATTN_TILE + t0, _mm256_castps256_ps128(h));
        if (i2 != i)
            _mm_storeu_ps(s + i2 * ATTN_TILE + t0, _mm256_extractf128_ps(h, 1));
    }
}

/* Scores of the tile's rows [j0, j0 + nt) into s (-inf past nt).  kx and
 * kf are scratch: the tile's Q4_0 nibbles, four widened float rows. */
ATTN_INLINE void tile_scores(const Ctx *c, uint32_t kt, int64_t j0, int nt, float *s, uint8_t *kx, float *kf)
{
    const PlumbAttnArgs *a = c->a;
    const int64_t last = a->nk - 1;
    if (kt == PLUMB_QTYPE_F32 || kt == PLUMB_QTYPE_F16) {
        const int direct = kt == PLUMB_QTYPE_F32 && c->hd == c->hdp;
        for (int t = 0; t < nt; t += 4) {
            const float *kr[4];
            for (int r = 0; r < 4; r++) {
                const int64_t j = j0 + t + r <= last ? j0 + t + r : last;
                if (direct) {
                    kr[r] = (const float *)key_row(a, j);
                } else {
                    widen_row(kf + r * c->hdp, key_row(a, j), kt == PLUMB_QTYPE_F16, c->hd, c->hdp);
                    kr[r] = kf + r * c->hdp;
                }
            }
            scores_float4(c, kr, t, s);
        }
    } else {
        const uint8_t *kr[ATTN_TILE];
        float dk[ATTN_MAX_B * ATTN_TILE];
        const int n8 = (nt + 7) & ~7;
        for (int t = 0; t < n8; t++) {
            const int64_t j = j0 + t <= last ? j0 + t : last;
            const uint8_t *row = key_row(a, j);
            if (kt == PLUMB_QTYPE_Q4_0) {
                const PlumbBlockQ4_0 *kb = (const PlumbBlockQ4_0 *)row;
                for (int64_t b = 0; b < c->nb; b++) {
                    _mm256_storeu_si256((__m256i *)(kx + t * c->hdp + b * PLUMB_QK), x86_nibbles32(kb[b].qs));
                    dk[b * ATTN_TILE + t] = x86_fp16(kb[b].d);
                }
                kr[t] = kx + t * c->hdp;
            } else {
                const PlumbBlockQ8_0 *kb = (const PlumbBlockQ8_0 *)row;
                for (int64_t b = 0; b < c->nb; b++)
                    dk[b * ATTN_TILE + t] = x86_fp16(kb[b].d);
                kr[t] = row;
            }
        }
        if (kt == PLUMB_QTYPE_Q4_0)
            scores_q8(c, kr, dk, nt, s, 1);
        else
            scores_q8(c, kr, dk, nt, s, 0);
    }
    for (int64_t i = 0; i < c->nq; i++)
        for (int t = nt; t < ATTN_TILE; t++)
            s[i * ATTN_TILE + t] = -INFINITY;
}

/* ------------------------------------------------------------ softmax */

/* The tile's scores s -> weights exp(s - m) in place, with m, l and the
 * factor r that rescales what was summed before (0 for the first tile). */
static void tile_softmax(const Ctx *c, float *s, float *m, float *l, float *r)
{
    float mn[PLUMB_ATTN_MAX_Q];
    for (int64_t i = 0; i < c->nq; i++) {
        const float *si = s + i * ATTN_TILE;
        const __m256 x = _mm256_max_ps(_mm256_max_ps(_mm256_loadu_ps(si), _mm256_loadu_ps(si + 8)),
                                       _mm256_max_ps(_mm256_loadu_ps(si + 16), _mm256_loadu_ps(si + 24)));
        const float mt = hmax_ps256(x);
        mn[i] = mt > m[i] ? mt : m[i];
    }
    for (int64_t i = c->nq; i < PLUMB_ATTN_MAX_Q; i++)
        mn[i] = m[i];
    for (int i = 0; i < PLUMB_ATTN_MAX_Q; i += 8) {
        const __m256 mo = _mm256_loadu_ps(m + i), mv = _mm256_loadu_ps(mn + i);
        /* exp(0) is 1 in SLEEF too; the blend keeps that exact */
        const __m256 e = Sleef_expf8_u10avx2(_mm256_sub_ps(mo, mv));
        _mm256_storeu_ps(r + i, _mm256_blendv_ps(_mm256_set1_ps(1.0f), e, _mm256_cmp_ps(mv, mo, _CMP_GT_OQ)));
    }
    for (int64_t i = 0; i < c->nq; i++) {
        float *si = s + i * ATTN_TILE;
        const __m256 mv = _mm256_set1_ps(mn[i]);
        const __m256 p0 = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(si), mv));
        const __m256 p1 = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(si + 8), mv));
        const __m256 p2 = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(si + 16), mv));
        const __m256 p3 = Sleef_expf8_u10avx2(_mm256_sub_ps(_mm256_loadu_ps(si + 24), mv));
        _mm256_storeu_ps(si, p0);
        _mm256_storeu_ps(si + 8, p1);
        _mm256_storeu_ps(si + 16, p2);
        _mm256_storeu_ps(si + 24, p3);
        l[i] = l[i] * r[i] + x86_hsum_ps256(_mm256_add_ps(_mm256_add_ps(p0, p1), _mm256_add_ps(p2, p3)));
        m[i] = mn[i];
    }
}

/* ------------------------------------------------------------ values */

/* The tile's value rows as float (hdp each): vr[t] points into v (F32 rows
 * of a padded length) or into vbuf. */
static void tile_values(const Ctx *c, int64_t j0, int nt, float *vbuf, const float **vr)
{
    const PlumbAttnArgs *a = c->a;
    for (int t = 0; t < nt; t++) {
        const uint8_t *row = (const uint8_t *)a->v + (uint64_t)(j0 + t) * a->v_stride;
        float *dst = vbuf + t * c->hdp;
        vr[t] = dst;
        switch (a->v_type) {
        case PLUMB_QTYPE_F32:
            if (c->hd == c->hdp)
                vr[t] = (const float *)row;
            else
                widen_row(dst, row, 0, c->hd, c->hdp);
            break;
        case PLUMB_QTYPE_F16:
            widen_row(dst, row, 1, c->hd, c->hdp);
            break;
        case PLUMB_QTYPE_Q8_0: {
            const PlumbBlockQ8_0 *vb = (const PlumbBlockQ8_0 *)row;
            for (int64_t b = 0; b < c->nb; b++)
                store_i8_mul(dst + b * PLUMB_QK, _mm256_loadu_si256((const __m256i *)vb[b].qs),
                             _mm256_set1_ps(x86_fp16(vb[b].d)));
            break;
        }
        case PLUMB_QTYPE_Q4_0: {
            const PlumbBlockQ4_0 *vb = (const PlumbBlockQ4_0 *)row;
            for (int64_t b = 0; b < c->nb; b++)
                store_i8_mul(dst + b * PLUMB_QK, _mm256_sub_epi8(x86_nibbles32(vb[b].qs), _mm256_set1_epi8(8)),
                             _mm256_set1_ps(x86_fp16(vb[b].d)));
            break;
        }
        }
    }
}

/* acc rows of G heads (stride hdp) = acc * r + sum over t < nt of p[t] *
 * vr[t], sixteen columns at a time; the first tile starts from 0.  p holds
 * the heads' weights ATTN_TILE apart. */
ATTN_INLINE void mix_group(float *acc, int64_t hdp, const float *p, const float *r, const float *const *vr, int nt,
                           int first, const int G)
{
    for (int64_t d = 0; d < hdp; d += 16) {
        __m256 a00 = _mm256_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
        __m256 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        float *o = acc + d;
        if (!first) {
            __m256 f = _mm256_set1_ps(r[0]);
            a00 = _mm256_mul_ps(_mm256_loadu_ps(o), f);
            a01 = _mm256_mul_ps(_mm256_loadu_ps(o + 8), f);
            if (G > 1) {
                f = _mm256_set1_ps(r[1]);
                a10 = _mm256_mul_ps(_mm256_loadu_ps(o + hdp), f);
                a11 = _mm256_mul_ps(_mm256_loadu_ps(o + hdp + 8), f);
            }
            if (G > 2) {
                f = _mm256_set1_ps(r[2]);
                a20 = _mm256_mul_ps(_mm256_loadu_ps(o + 2 * hdp), f);
                a21 = _mm256_mul_ps(_mm256_loadu_ps(o + 2 * hdp + 8), f);
            }
            if (G > 3) {
                f = _mm256_set1_ps(r[3]);
                a30 = _mm256_mul_ps(_mm256_loadu_ps(o + 3 * hdp), f);
                a31 = _mm256_mul_ps(_mm256_loadu_ps(o + 3 * hdp + 8), f);
            }
        }
        for (int t = 0; t < nt; t++) {
            const __m256 v0 = _mm256_loadu_ps(vr[t] + d), v1 = _mm256_loadu_ps(vr[t] + d + 8);
            __m256 w = _mm256_broadcast_ss(p + t);
            a00 = _mm256_fmadd_ps(w, v0, a00);
            a01 = _mm256_fmadd_ps(w, v1, a01);
            if (G > 1) {
                w = _mm256_broadcast_ss(p + ATTN_TILE + t);
                a10 = _mm256_fmadd_ps(w, v0, a10);
                a11 = _mm256_fmadd_ps(w, v1, a11);
            }
            if (G > 2) {
                w = _mm256_broadcast_ss(p + 2 * ATTN_TILE + t);
                a20 = _mm256_fmadd_ps(w, v0, a20);
                a21 = _mm256_fmadd_ps(w, v1, a21);
            }
            if (G > 3) {
                w = _mm256_broadcast_ss(p + 3 * ATTN_TILE + t);
                a30 = _mm256_fmadd_ps(w, v0, a30);
                a31 = _mm256_fmadd_ps(w, v1, a31);
            }
        }
        _mm256_storeu_ps(o, a00);
        _mm256_storeu_ps(o + 8, a01);
        if (G > 1) {
            _mm256_storeu_ps(o + hdp, a10);
            _mm256_storeu_ps(o + hdp + 8, a11);
        }
        if (G > 2) {
            _mm256_storeu_ps(o + 2 * hdp, a20);
            _mm256_storeu_ps(o + 2 * hdp + 8, a21);
        }
        if (G > 3) {
            _mm256_storeu_ps(o + 3 * hdp, a30);
            _mm256_storeu_ps(o + 3 * hdp + 8, a31);
        }
    }
}

static void tile_mix(const Ctx *c, float *acc, const float *p, const float *r, const float *const *vr, int nt,
                     int first)
{
    for (int64_t i = 0; i < c->nq; i += 4) {
        float *o = acc + i * c->hdp;
        const float *pi = p + i * ATTN_TILE;
        switch (c->nq - i < 4 ? c->nq - i : 4) {
        case 1: mix_group(o, c->hdp, pi, r + i, vr, nt, first, 1); break;
        case 2: mix_group(o, c->hdp, pi, r + i, vr, nt, first, 2); break;
        case 3: mix_group(o, c->hdp, pi, r + i, vr, nt, first, 3); break;
        default: mix_group(o, c->hdp, pi, r + i, vr, nt, first, 4); break;
        }
    }
}

/* ------------------------------------------------------------ driver */

ATTN_INLINE void attn_any(const PlumbAttnArgs *a, const uint32_t kt)
{
    Ctx c;
    float s[PLUMB_ATTN_MAX_Q * ATTN_TILE];
    float m[PLUMB_ATTN_MAX_Q], l[PLUMB_ATTN_MAX_Q], r[PLUMB_ATTN_MAX_Q];
    float vbuf[ATTN_TILE * PLUMB_ATTN_MAX_HD];
    float kf[4 * PLUMB_ATTN_MAX_HD];
    const float *vr[ATTN_TILE];
    union {
        float qf[PLUMB_ATTN_MAX_Q * PLUMB_ATTN_MAX_HD]; /* float keys: the queries */
        uint8_t kx[ATTN_TILE * PLUMB_ATTN_MAX_HD];      /* Q4_0 keys: the tile's nibbles */
    } u;
    float accl[PLUMB_ATTN_MAX_Q * PLUMB_ATTN_MAX_HD];
    if (a->v_type != PLUMB_QTYPE_F32 && a->v_type != PLUMB_QTYPE_F16 && a->v_type != PLUMB_QTYPE_Q8_0 &&
        a->v_type != PLUMB_QTYPE_Q4_0)
        return;
    prep_queries(&c, a, kt, u.qf);
    /* rows of a padded head go to a local accumulator, copied out at the end */
    float *acc = c.hd == c.hdp ? a->acc : accl;
    for (int i = 0; i < PLUMB_ATTN_MAX_Q; i++) {
        m[i] = i < c.nq ? -INFINITY : 0.0f;
        l[i] = 0.0f;
    }
    for (int64_t j0 = 0; j0 < a->nk; j0 += ATTN_TILE) {
        const int nt = a->nk - j0 < ATTN_TILE ? (int)(a->nk - j0) : ATTN_TILE;
        tile_scores(&c, kt, j0, nt, s, u.kx, kf);
        tile_softmax(&c, s, m, l, r);
        tile_values(&c, j0, nt, vbuf, vr);
        tile_mix(&c, acc, s, r, vr, nt, j0 == 0);
    }
    for (int64_t i = 0; i < c.nq; i++) {
        a->m[i] = m[i];
        a->l[i] = l[i];
        if (acc != a->acc)
            memcpy(a->acc + i * c.hd, acc + i * c.hdp, (size_t)c.hd * sizeof(float));
    }
}

static void attn_f32(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_F32); }
static void attn_f16(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_F16); }
static void attn_q8_0(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_Q8_0); }
static void attn_q4_0(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_Q4_0); }

void plumb_dsp_init_avx2_attn(PlumbDsp *dsp)
{
    dsp->attn[PLUMB_QTYPE_F32] = attn_f32;
    dsp->attn[PLUMB_QTYPE_F16] = attn_f16;
    dsp->attn[PLUMB_QTYPE_Q8_0] = attn_q8_0;
    dsp->attn[PLUMB_QTYPE_Q4_0] = attn_q4_0;
}
