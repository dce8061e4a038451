/*
 * attn_avx512.c — the fused attention of dsp->attn (dsp.h) for AVX-512 (F,
 * BW, DQ, VL): key types F32, F16, Q8_0 and Q4_0, value types the same four.
 * Installed by plumb_dsp_init_avx512_attn().  attn_avx512vnni.c compiles
 * this file again with -mavx512vnni for plumb_dsp_init_avx512vnni_attn(),
 * where the integer dot products become vpdpbusd.
 *
 * The plan is that of attn_avx2.c (tiles of ATTN_TILE rows: scores, online
 * softmax, values widened once per row and added into up to four heads at a
 * time, 32 columns in registers), with one change for the block keys: each
 * 16-row half of a tile is transposed once into 4-byte groups, vector g
 * holding bytes 4g .. 4g+3 of one block of all sixteen rows, so that one
 * multiply-add of a vector with a query's four bytes broadcast adds to
 * sixteen row sums at once and the scores need no lane sums:
 *  - Q4_0 keys: the nibbles (unsigned) times q, less 8 * sum(q);
 *  - Q8_0 keys, VNNI: k + 128 (k xor 0x80, unsigned) times q in vpdpbusd,
 *    less 128 * sum(q);
 *  - Q8_0 keys, no VNNI: the sign trick (|k| times q with k's sign), as
 *    maddubs cannot take k + 128 without saturating.
 * Every integer sum is exact; the block scales are applied in float (FMA).
 *
 * Against the C reference and across calls the promises are those of
 * attn_avx2.c: checkdsp bounds the result against a double-precision
 * evaluation, and the same call gives the same bits.
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

#if defined(__AVX512VNNI__)
#define ATTN_INIT plumb_dsp_init_avx512vnni_attn
#else
#define ATTN_INIT plumb_dsp_init_avx512_attn
#endif

#define ATTN_TILE 32 /* key rows per tile: two halves of 16 */
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
    int32_t sq[PLUMB_ATTN_MAX_Q][ATTN_MAX_B];   /* sum of each block's quants */
} Ctx;

/* ------------------------------------------------------------ helpers */

static inline __m256 hsum8_ps(const __m256 x[8])
{
    const __m256 h01 = _mm256_hadd_ps(x[0], x[1]), h23 = _mm256_hadd_ps(x[2], x[3]);
    const __m256 h45 = _mm256_hadd_ps(x[4], x[5]), h67 = _mm256_hadd_ps(x[6], x[7]);
    const __m256 h03 = _mm256_hadd_ps(h01, h23), h47 = _mm256_hadd_ps(h45, h67);
    return _mm256_add_ps(_mm256_permute2f128_ps(h03, h47, 0x20), _mm256_permute2f128_ps(h03, h47, 0x31));
}

/* Lanes 0..7 plus lanes 8..15. */
static inline __m256 fold_ps512(__m512 v)
{
    return _mm256_add_ps(_mm512_castps512_ps256(v),
                         _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1)));
}

/* hd elements of an F32 (f16 = 0) or F16 row as float at dst, zeros up to hdp. */
static void widen_row(float *dst, const void *src, int f16, int64_t hd, int64_t hdp)
{
    int64_t d = 0;
    if (f16) {
        const uint16_t *h = src;
        for (; d + 16 <= hd; d += 16)
            _mm512_storeu_ps(dst + d, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(h + d))));
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
static inline void store_i8_mul(float *y, __m256i q, __m512 d)
{
    const __m512 lo = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_castsi256_si128(q)));
    const __m512 hi = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm256_extracti128_si256(q, 1)));
    _mm512_storeu_ps(y, _mm512_mul_ps(lo, d));
    _mm512_storeu_ps(y + 16, _mm512_mul_ps(hi, d));
}

static inline const uint8_t *key_row(const PlumbAttnArgs *a, int64_t j)
{
    return (const uint8_t *)a->k + (uint64_t)j * a->k_stride;
}

/* x[p] = 32 bytes of row p (low half) and of row p + 8 (high half), p < 8
 * -> y[g] = dword g of rows 0 .. 15, in row order, g < 8. */
static inline void transpose16x8(const __m512i x[8], __m512i y[8])
{
    __m512i u[8], w[8];
    for (int p = 0; p < 8; p += 2) {
        u[p] = _mm512_unpacklo_epi32(x[p], x[p + 1]);
        u[p + 1] = _mm512_unpackhi_epi32(x[p], x[p + 1]);
    }
    /* w[g], w[g + 4] (g < 4): 128-bit lanes hold dword g, g + 4 of rows
     * 0..3 | 8..11 (w[g]) and 4..7 | 12..15 (w[g + 4]) */
    for (int h = 0; h < 8; h += 4) {
        w[h + 0] = _mm512_unpacklo_epi64(u[h + 0], u[h + 2]);
        w[h + 1] = _mm512_unpackhi_epi64(u[h + 0], u[h + 2]);
        w[h + 2] = _mm512_unpacklo_epi64(u[h + 1], u[h + 3]);
        w[h + 3] = _mm512_unpackhi_epi64(u[h + 1], u[h + 3]);
    }
    const __m512i lo = _mm512_setr_epi64(0, 1, 8, 9, 4, 5, 12, 13);
    const __m512i hi = _mm512_setr_epi64(2, 3, 10, 11, 6, 7, 14, 15);
    for (int g = 0; g < 4; g++) {
        y[g] = _mm512_permutex2var_epi64(w[g], lo, w[g + 4]);
        y[g + 4] = _mm512_permutex2var_epi64(w[g], hi, w[g + 4]);
    }
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
            c->sq[i][b] = x86_hsum_epi32_256(_mm256_madd_epi16(s16, _mm256_set1_epi16(1)));
        }
    }
}

/* ------------------------------------------------------------ scores */

/* The block keys of one half of a tile (rows j0 .. j0 + 15, the ones past
 * the end reading the last row) transposed into kt: for block b, vectors
 * kt[b * 8 + g]; their scales into dk[b * ATTN_TILE + t0 + r]. */
ATTN_INLINE void prep_keys16(const Ctx *c, int64_t j0, int t0, __m512i *kt, float *dk, const int q4)
{
    const PlumbAttnArgs *a = c->a;
    const int64_t last = a->nk - 1;
    const uint8_t *row[16];
    for (int r = 0; r < 16; r++) {
        const int64_t j = j0 + r <= last ? j0 + r : last;
        row[r] = key_row(a, j);
    }
    for (int64_t b = 0; b < c->nb; b++) {
        __m512i x[8];
        for (int p = 0; p < 8; p++) {
            if (q4) {
                const PlumbBlockQ4_0 *k0 = (const PlumbBlockQ4_0 *)row[p] + b;
                const PlumbBlockQ4_0 *k1 = (const PlumbBlockQ4_0 *)row[p + 8] + b;
                x[p] = x86_join256(x86_nibbles32(k0->qs), x86_nibbles32(k1->qs));
            } else {
                const PlumbBlockQ8_0 *k0 = (const PlumbBlockQ8_0 *)row[p] + b;
                const PlumbBlockQ8_0 *k1 = (const PlumbBlockQ8_0 *)row[p + 8] + b;
                x[p] = x86_join256(x86_load256(k0->qs), x86_load256(k1->qs));
#if defined(__AVX512VNNI__)
                x[p] = _mm512_xor_si512(x[p], _mm512_set1_epi8((char)0x80));
#endif
            }
        }
        transpose16x8(x, kt + b * 8);
        for (int r = 0; r < 16; r++) {
            const uint16_t d = q4 ? ((const PlumbBlockQ4_0 *)row[r])[b].d : ((const PlumbBlockQ8_0 *)row[r])[b].d;
            dk[b * ATTN_TILE + t0 + r] = x86_fp16(d);
        }
    }
}

/* Sixteen row sums of one block: kb the block's 8 transposed vectors, qs
 * the query's 32 bytes. */
ATTN_INLINE __m512i dot16(const __m512i *kb, const int8_t *qs, const int q4)
{
    __m512i acc0 = _mm512_setzero_si512(), acc1 = _mm512_setzero_si512();
    for (int g = 0; g < 8; g += 2) {
        const __m512i q0 = _mm512_set1_epi32((int32_t)x86_load_u32(qs + 4 * g));
        const __m512i q1 = _mm512_set1_epi32((int32_t)x86_load_u32(qs + 4 * g + 4));
#if defined(__AVX512VNNI__)
        (void)q4;
        acc0 = _mm512_dpbusd_epi32(acc0, kb[g], q0);
        acc1 = _mm512_dpbusd_epi32(acc1, kb[g + 1], q1);
#else
        if (q4) {
            acc0 = x86_dpbusd512(acc0, kb[g], q0);
            acc1 = x86_dpbusd512(acc1, kb[g + 1], q1);
        } else {
            acc0 = x86_dot_s8s8_512(acc0, kb[g], q0);
            acc1 = x86_dot_s8s8_512(acc1, kb[g + 1], q1);
        }
#endif
    }
    return _mm512_add_epi32(acc0, acc1);
}

ATTN_INLINE void scores_q8(const Ctx *c, const __m512i *kt, const float *dk, int nh, float *s, const int q4)
{
    const __m512 scale = _mm512_set1_ps(c->a->scale);
#if defined(__AVX512VNNI__)
    const int32_t off = q4 ? 8 : 128; /* the unsigned bytes are k + off */
#else
    const int32_t off = q4 ? 8 : 0;
#endif
    for (int64_t i = 0; i < c->nq; i++) {
        const PlumbBlockQ8_0 *q = c->qb[i];
        for (int h = 0; h < nh; h++) {
            __m512 sc = _mm512_setzero_ps();
            for (int64_t b = 0; b < c->nb; b++) {
                __m512i sum = dot16(kt + (h * c->nb + b) * 8, q[b].qs, q4);
                if (off)
                    sum = _mm512_sub_epi32(sum, _mm512_set1_epi32(off * c->sq[i][b]));
                const __m512 dkq = _mm512_mul_ps(_mm512_loadu_ps(dk + b * ATTN_TILE + h * 16),
                                                 _mm512_set1_ps(c->dq[i][b]));
                sc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sum), dkq, sc);
            }
            _mm512_storeu_ps(s + i * ATTN_TILE + h * 16, _mm512_mul_ps(sc, scale));
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
        __m512 x[8];
        __m256 y[8];
        for (int r = 0; r < 8; r++)
            x[r] = _mm512_setzero_ps();
        for (int64_t d = 0; d < hdp; d += 16) {
            const __m512 k0 = _mm512_loadu_ps(kr[0] + d), k1 = _mm512_loadu_ps(kr[1] + d);
            const __m512 k2 = _mm512_loadu_ps(kr[2] + d), k3 = _mm512_loadu_ps(kr[3] + d);
            const __m512 a0 = _mm512_loadu_ps(q0 + d), a1 = _mm512_loadu_ps(q1 + d);
            x[0] = _mm512_fmadd_ps(a0, k0, x[0]);
            x[1] = _mm512_fmadd_ps(a0, k1, x[1]);
            x[2] = _mm512_fmadd_ps(a0, k2, x[2]);
            x[3] = _mm512_fmadd_ps(a0, k3, x[3]);
            x[4] = _mm512_fmadd_ps(a1, k0, x[4]);
            x[5] = _mm512_fmadd_ps(a1, k1, x[5]);
            x[6] = _mm512_fmadd_ps(a1, k2, x[6]);
            x[7] = _mm512_fmadd_ps(a1, k3, x[7]);
        }
        for (int r = 0; r < 8; r++)
            y[r] = fold_ps512(x[r]);
        const __m256 h = _mm256_mul_ps(hsum8_ps(y), scale);
        _mm_storeu_ps(s + i * ATTN_TILE + t0, _mm256_castps256_ps128(h));
        if (i2 != i)
            _mm_storeu_ps(s + i2 * ATTN_TILE + t0, _mm256_extractf128_ps(h, 1));
    }
}

/* Scores of the tile's rows [j0, j0 + nt) into s (-inf past nt).  kt and
 * kf are scratch: the tile's transposed block keys, four widened float
 * rows. */
ATTN_INLINE void tile_scores(const Ctx *c, uint32_t kt, int64_t j0, int nt, float *s, __m512i *kx, float *kf)
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
        float dk[ATTN_MAX_B * ATTN_TILE];
        const int nh = (nt + 15) / 16, q4 = kt == PLUMB_QTYPE_Q4_0;
        for (int h = 0; h < nh; h++) {
            if (q4)
                prep_keys16(c, j0 + 16 * h, 16 * h, kx + h * c->nb * 8, dk, 1);
            else
                prep_keys16(c, j0 + 16 * h, 16 * h, kx + h * c->nb * 8, dk, 0);
        }
        if (q4)
            scores_q8(c, kx, dk, nh, s, 1);
        else
            scores_q8(c, kx, dk, nh, s, 0);
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
        const float mt = _mm512_reduce_max_ps(_mm512_max_ps(_mm512_loadu_ps(si), _mm512_loadu_ps(si + 16)));
        mn[i] = mt > m[i] ? mt : m[i];
    }
    for (int64_t i = c->nq; i < PLUMB_ATTN_MAX_Q; i++)
        mn[i] = m[i];
    {
        const __m512 mo = _mm512_loadu_ps(m), mv = _mm512_loadu_ps(mn);
        /* where the maximum stays, the factor is exactly 1 */
        const __m512 e = Sleef_expf16_u10avx512f(_mm512_sub_ps(mo, mv));
        _mm512_storeu_ps(r, _mm512_mask_blend_ps(_mm512_cmp_ps_mask(mv, mo, _CMP_GT_OQ), _mm512_set1_ps(1.0f), e));
    }
    for (int64_t i = 0; i < c->nq; i++) {
        float *si = s + i * ATTN_TILE;
        const __m512 mv = _mm512_set1_ps(mn[i]);
        const __m512 p0 = Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_loadu_ps(si), mv));
        const __m512 p1 = Sleef_expf16_u10avx512f(_mm512_sub_ps(_mm512_loadu_ps(si + 16), mv));
        _mm512_storeu_ps(si, p0);
        _mm512_storeu_ps(si + 16, p1);
        l[i] = l[i] * r[i] + _mm512_reduce_add_ps(_mm512_add_ps(p0, p1));
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
                store_i8_mul(dst + b * PLUMB_QK, x86_load256(vb[b].qs), _mm512_set1_ps(x86_fp16(vb[b].d)));
            break;
        }
        case PLUMB_QTYPE_Q4_0: {
            const PlumbBlockQ4_0 *vb = (const PlumbBlockQ4_0 *)row;
            for (int64_t b = 0; b < c->nb; b++)
                store_i8_mul(dst + b * PLUMB_QK, _mm256_sub_epi8(x86_nibbles32(vb[b].qs), _mm256_set1_epi8(8)),
                             _mm512_set1_ps(x86_fp16(vb[b].d)));
            break;
        }
        }
    }
}

/* acc rows of G heads (stride hdp) = acc * r + sum over t < nt of p[t] *
 * vr[t], 32 columns at a time; the first tile starts from 0.  p holds the
 * heads' weights ATTN_TILE apart. */
ATTN_INLINE void mix_group(float *acc, int64_t hdp, const float *p, const float *r, const float *const *vr, int nt,
                           int first, const int G)
{
    for (int64_t d = 0; d < hdp; d += 32) {
        __m512 a00 = _mm512_setzero_ps(), a01 = a00, a10 = a00, a11 = a00;
        __m512 a20 = a00, a21 = a00, a30 = a00, a31 = a00;
        float *o = acc + d;
        if (!first) {
            __m512 f = _mm512_set1_ps(r[0]);
            a00 = _mm512_mul_ps(_mm512_loadu_ps(o), f);
            a01 = _mm512_mul_ps(_mm512_loadu_ps(o + 16), f);
            if (G > 1) {
                f = _mm512_set1_ps(r[1]);
                a10 = _mm512_mul_ps(_mm512_loadu_ps(o + hdp), f);
                a11 = _mm512_mul_ps(_mm512_loadu_ps(o + hdp + 16), f);
            }
            if (G > 2) {
                f = _mm512_set1_ps(r[2]);
                a20 = _mm512_mul_ps(_mm512_loadu_ps(o + 2 * hdp), f);
                a21 = _mm512_mul_ps(_mm512_loadu_ps(o + 2 * hdp + 16), f);
            }
            if (G > 3) {
                f = _mm512_set1_ps(r[3]);
                a30 = _mm512_mul_ps(_mm512_loadu_ps(o + 3 * hdp), f);
                a31 = _mm512_mul_ps(_mm512_loadu_ps(o + 3 * hdp + 16), f);
            }
        }
        for (int t = 0; t < nt; t++) {
            const __m512 v0 = _mm512_loadu_ps(vr[t] + d), v1 = _mm512_loadu_ps(vr[t] + d + 16);
            __m512 w = _mm512_set1_ps(p[t]);
            a00 = _mm512_fmadd_ps(w, v0, a00);
            a01 = _mm512_fmadd_ps(w, v1, a01);
            if (G > 1) {
                w = _mm512_set1_ps(p[ATTN_TILE + t]);
                a10 = _mm512_fmadd_ps(w, v0, a10);
                a11 = _mm512_fmadd_ps(w, v1, a11);
            }
            if (G > 2) {
                w = _mm512_set1_ps(p[2 * ATTN_TILE + t]);
                a20 = _mm512_fmadd_ps(w, v0, a20);
                a21 = _mm512_fmadd_ps(w, v1, a21);
            }
            if (G > 3) {
                w = _mm512_set1_ps(p[3 * ATTN_TILE + t]);
                a30 = _mm512_fmadd_ps(w, v0, a30);
                a31 = _mm512_fmadd_ps(w, v1, a31);
            }
        }
        _mm512_storeu_ps(o, a00);
        _mm512_storeu_ps(o + 16, a01);
        if (G > 1) {
            _mm512_storeu_ps(o + hdp, a10);
            _mm512_storeu_ps(o + hdp + 16, a11);
        }
        if (G > 2) {
            _mm512_storeu_ps(o + 2 * hdp, a20);
            _mm512_storeu_ps(o + 2 * hdp + 16, a21);
        }
        if (G > 3) {
            _mm512_storeu_ps(o + 3 * hdp, a30);
            _mm512_storeu_ps(o + 3 * hdp + 16, a31);
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
    float qf[PLUMB_ATTN_MAX_Q * PLUMB_ATTN_MAX_HD];     /* float keys: the queries */
    __m512i kx[ATTN_TILE / 16 * ATTN_MAX_B * 8];        /* block keys: the tile, transposed */
    float accl[PLUMB_ATTN_MAX_Q * PLUMB_ATTN_MAX_HD];
    if (a->v_type != PLUMB_QTYPE_F32 && a->v_type != PLUMB_QTYPE_F16 && a->v_type != PLUMB_QTYPE_Q8_0 &&
        a->v_type != PLUMB_QTYPE_Q4_0)
        return;
    prep_queries(&c, a, kt, qf);
    /* rows of a padded head go to a local accumulator, copied out at the end */
    float *acc = c.hd == c.hdp ? a->acc : accl;
    for (int i = 0; i < PLUMB_ATTN_MAX_Q; i++) {
        m[i] = i < c.nq ? -INFINITY : 0.0f;
        l[i] = 0.0f;
    }
    for (int64_t j0 = 0; j0 < a->nk; j0 += ATTN_TILE) {
        const int nt = a->nk - j0 < ATTN_TILE ? (int)(a->nk - j0) : ATTN_TILE;
        tile_scores(&c, kt, j0, nt, s, kx, kf);
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

#if !defined(__AVX512VNNI__)
static void attn_f32(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_F32); }
static void attn_f16(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_F16); }
#endif
static void attn_q8_0(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_Q8_0); }
static void attn_q4_0(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_Q4_0); }

void ATTN_INIT(PlumbDsp *dsp)
{
#if !defined(__AVX512VNNI__) /* float keys gain nothing from VNNI: the AVX-512 tier's stay */
    dsp->attn[PLUMB_QTYPE_F32] = attn_f32;
    dsp->attn[PLUMB_QTYPE_F16] = attn_f16;
#endif
    dsp->attn[PLUMB_QTYPE_Q8_0] = attn_q8_0;
    dsp->attn[PLUMB_QTYPE_Q4_0] = attn_q4_0;
}
