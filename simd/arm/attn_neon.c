/*
 * attn_neon.c — the fused attention of dsp->attn (dsp.h) for AArch64
 * AdvSIMD: key types F32, F16, Q8_0 and Q4_0, value types the same four.
 * Installed by plumb_dsp_init_neon_attn(), which plumb_dsp_init_neon()
 * calls.  attn_dotprod.c compiles this file again with the dot-product
 * extension for plumb_dsp_init_dotprod_attn(): there the block keys take
 * SDOT by lane on a transposed tile (below); the float keys stay NEON's.
 *
 * The rows go in tiles of ATTN_TILE.  For each tile:
 *  1. the scores s = scale * q.k of every query head against every row.
 *     F32 keys meet F32 queries and F16 keys F16 queries, both widened to
 *     float, in FMA, four rows and two heads at a time, the lanes of each
 *     row summed by one pairwise-add tree for the four rows.  Q8_0 and Q4_0
 *     keys take exact integer dots per 32-element block against the Q8_0
 *     queries (Q4_0 unpacked once per tile to signed bytes, nibble - 8),
 *     scaled in float by the product of the two f16 block scales:
 *      - NEON: each row's block in four int32 lanes (SMULL + SADALP, as
 *        arm_dot_s8), the four rows' lanes summed by a pairwise-add tree;
 *      - dot product: the tile transposed once into 4-byte groups, vector
 *        (b, g, r) holding bytes 4g .. 4g+3 of block b of rows 4r .. 4r+3,
 *        so one SDOT by lane with the query's four bytes adds to four row
 *        sums and no lane sums are needed;
 *  2. the running maximum m of each head: when the tile raises it, l and
 *     acc are scaled by exp(old - new) (folded into the next step's loads);
 *     the weights p = exp(s - m) come from SLEEF's AdvSIMD expf, and l adds
 *     their sum;
 *  3. each value row is widened to float once (F16 by FCVTL, Q8_0 and Q4_0
 *     as q * d, as the C to_float does), then added with its weight into the
 *     accumulators of up to four heads at a time, sixteen columns in
 *     registers, every add an FMA in float, rows in ascending order.
 * Rows past nk in the last tile read the last row again; their scores are
 * -inf and their weights 0, and the value step stops at nk.  Heads of
 * F32 / F16 keys and values whose hd is not a multiple of 16 are
 * zero-padded to the next multiple in local buffers.
 *
 * Against the C reference (simd/dsp.c, attn_ref), as checkdsp checks: the
 * scores differ by float reordering (FMA, lane sums), exp by SLEEF's 1 ULP,
 * and the sums by the tile order; checkdsp bounds the result against a
 * double-precision evaluation.  Every operation and its order depend only on
 * hd, nq, nk and the types, never on addresses or on other calls: the same
 * call gives the same bits.
 */
#include "config.h"

#include <arm_neon.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sleef.h>

#include "arm_util.h"
#include "dsp.h"
#include "qtypes.h"

#if defined(__ARM_FEATURE_DOTPROD)
#define ATTN_INIT plumb_dsp_init_dotprod_attn
#else
#define ATTN_INIT plumb_dsp_init_neon_attn
#endif

#define ATTN_TILE 32                               /* key rows per tile */
#define ATTN_MAX_B (PLUMB_ATTN_MAX_HD / PLUMB_QK)  /* blocks per row, at most */
#define ATTN_GROUPS (PLUMB_QK / 4)                 /* 4-byte groups per block */
#define ATTN_INLINE static inline __attribute__((always_inline))

/* What one call needs of its queries, prepared once. */
typedef struct Ctx {
    const PlumbAttnArgs *a;
    int64_t hd;          /* elements per head */
    int64_t hdp;         /* hd rounded up to 16: the padded row length, elements */
    int64_t nb;          /* 32-element blocks per row (block keys or values) */
    int64_t nq;          /* query heads */
    float *qf;           /* F32 / F16 keys: [nq][hdp] queries as float, zero-padded */
    const PlumbBlockQ8_0 *qb[PLUMB_ATTN_MAX_Q]; /* Q8_0 / Q4_0 keys: each head's blocks */
    float dq[PLUMB_ATTN_MAX_Q][ATTN_MAX_B];     /* their scales */
} Ctx;

/* ------------------------------------------------------------ helpers */

/* hd elements of an F32 (f16 = 0) or F16 row as float at dst, zeros up to
 * hdp. */
static inline void widen_row(float *dst, const void *src, int f16, int64_t hd, int64_t hdp)
{
    int64_t d = 0;
    if (f16) {
        const uint16_t *h = src;
        for (; d + 8 <= hd; d += 8) {
            const float16x8_t v = vreinterpretq_f16_u16(vld1q_u16(h + d));
            vst1q_f32(dst + d, vcvt_f32_f16(vget_low_f16(v)));
            vst1q_f32(dst + d + 4, vcvt_high_f32_f16(v));
        }
        for (; d < hd; d++)
            dst[d] = arm_fp16(h[d]);
    } else {
        memcpy(dst, src, (size_t)hd * sizeof *dst);
        d = hd;
    }
    for (; d < hdp; d++)
        dst[d] = 0.0f;
}

/* y[0..16) = (float)q[j] * d. */
static inline void store_i8_mul(float *y, int8x16_t q, float d)
{
    const int16x8_t lo = vmovl_s8(vget_low_s8(q)), hi = vmovl_high_s8(q);
    vst1q_f32(y, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(lo))), d));
    vst1q_f32(y + 4, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(lo)), d));
    vst1q_f32(y + 8, vmulq_n_f32(vcvtq_f32_s32(vmovl_s16(vget_low_s16(hi))), d));
    vst1q_f32(y + 12, vmulq_n_f32(vcvtq_f32_s32(vmovl_high_s16(hi)), d));
}

/* The 32 signed values (nibble - 8) of a Q4_0 block, elements 0..15 in lo. */
static inline void q4_0_unpack(const PlumbBlockQ4_0 *b, int8x16_t *lo, int8x16_t *hi)
{
    const uint8x16_t q = vld1q_u8(b->qs);
    const int8x16_t eight = vdupq_n_s8(8);
    *lo = vsubq_s8(arm_lo4(q), eight);
    *hi = vsubq_s8(arm_hi4(q), eight);
}

/* Lane r = the sum of the lanes of x[r]. */
static inline int32x4_t hsum4_s32(int32x4_t x0, int32x4_t x1, int32x4_t x2, int32x4_t x3)
{
    return vpaddq_s32(vpaddq_s32(x0, x1), vpaddq_s32(x2, x3));
}

static inline float32x4_t hsum4_f32(float32x4_t x0, float32x4_t x1, float32x4_t x2, float32x4_t x3)
{
    return vpaddq_f32(vpaddq_f32(x0, x1), vpaddq_f32(x2, x3));
}

static inline const uint8_t *key_row(const PlumbAttnArgs *a, int64_t j)
{
    return (const uint8_t *)a->k + (uint64_t)j * a->k_stride;
}

static inline int is_float_key(uint32_t kt)
{
    return kt == PLUMB_QTYPE_F32 || kt == PLUMB_QTYPE_F16;
}

/* ------------------------------------------------------------ queries */

static inline void prep_queries(Ctx *c, const PlumbAttnArgs *a, uint32_t kt, float *qf)
{
    c->a = a;
    c->hd = a->hd;
    c->hdp = (a->hd + 15) & ~(int64_t)15;
    c->nb = a->hd / PLUMB_QK;
    c->nq = a->nq;
    c->qf = qf;
    for (int64_t i = 0; i < c->nq; i++) {
        const uint8_t *q = (const uint8_t *)a->q + (uint64_t)i * a->q_stride;
        if (is_float_key(kt)) {
            widen_row(qf + i * c->hdp, q, kt == PLUMB_QTYPE_F16, c->hd, c->hdp);
            continue;
        }
        c->qb[i] = (const PlumbBlockQ8_0 *)q;
        for (int64_t b = 0; b < c->nb; b++)
            c->dq[i][b] = arm_fp16(c->qb[i][b].d);
    }
}

/* ------------------------------------------------------------ scores: block keys */

/*
 * The tile's block keys, as bytes: kx holds them in the layout the score
 * kernel reads, dk[b * ATTN_TILE + t] the scale of block b of row t.  Rows
 * from nt up to the next multiple of four repeat the last row.
 */
#if defined(__ARM_FEATURE_DOTPROD)

/* kx: 16-byte vectors, vector (b * ATTN_GROUPS + g) * (ATTN_TILE / 4) + r
 * holding group g (bytes 4g .. 4g+3) of block b of rows 4r .. 4r+3. */
static inline void transpose4(int8_t *dst, int8x16_t r0, int8x16_t r1, int8x16_t r2, int8x16_t r3)
{
    const uint32x4_t t0 = vtrn1q_u32(vreinterpretq_u32_s8(r0), vreinterpretq_u32_s8(r1));
    const uint32x4_t t1 = vtrn2q_u32(vreinterpretq_u32_s8(r0), vreinterpretq_u32_s8(r1));
    const uint32x4_t t2 = vtrn1q_u32(vreinterpretq_u32_s8(r2), vreinterpretq_u32_s8(r3));
    const uint32x4_t t3 = vtrn2q_u32(vreinterpretq_u32_s8(r2), vreinterpretq_u32_s8(r3));
    const int64_t step = 16 * (ATTN_TILE / 4); /* bytes from group g to g + 1 */
    vst1q_u8((uint8_t *)dst, vreinterpretq_u8_u64(vtrn1q_u64(vreinterpretq_u64_u32(t0), vreinterpretq_u64_u32(t2))));
    vst1q_u8((uint8_t *)dst + step,
             vreinterpretq_u8_u64(vtrn1q_u64(vreinterpretq_u64_u32(t1), vreinterpretq_u64_u32(t3))));
    vst1q_u8((uint8_t *)dst + 2 * step,
             vreinterpretq_u8_u64(vtrn2q_u64(vreinterpretq_u64_u32(t0), vreinterpretq_u64_u32(t2))));
    vst1q_u8((uint8_t *)dst + 3 * step,
             vreinterpretq_u8_u64(vtrn2q_u64(vreinterpretq_u64_u32(t1), vreinterpretq_u64_u32(t3))));
}

ATTN_INLINE void tile_keys_blocks(const Ctx *c, const uint32_t kt, int64_t j0, int n4, int8_t *kx, float *dk)
{
    const PlumbAttnArgs *a = c->a;
    const int64_t last = a->nk - 1;
    for (int r = 0; r < n4; r++) {
        const uint8_t *row[4];
        for (int e = 0; e < 4; e++) {
            const int64_t j = j0 + 4 * r + e <= last ? j0 + 4 * r + e : last;
            row[e] = key_row(a, j);
        }
        for (int64_t b = 0; b < c->nb; b++) {
            int8x16_t lo[4], hi[4];
            for (int e = 0; e < 4; e++) {
                if (kt == PLUMB_QTYPE_Q4_0) {
                    const PlumbBlockQ4_0 *kb = (const PlumbBlockQ4_0 *)row[e] + b;
                    q4_0_unpack(kb, &lo[e], &hi[e]);
                    dk[b * ATTN_TILE + 4 * r + e] = arm_fp16(kb->d);
                } else {
                    const PlumbBlockQ8_0 *kb = (const PlumbBlockQ8_0 *)row[e] + b;
                    lo[e] = vld1q_s8(kb->qs);
                    hi[e] = vld1q_s8(kb->qs + 16);
                    dk[b * ATTN_TILE + 4 * r + e] = arm_fp16(kb->d);
                }
            }
            int8_t *dst = kx + ((b * ATTN_GROUPS) * (ATTN_TILE / 4) + r) * 16;
            transpose4(dst, lo[0], lo[1], lo[2], lo[3]);
            transpose4(dst + 4 * 16 * (ATTN_TILE / 4), hi[0], hi[1], hi[2], hi[3]);
        }
    }
}

/* Scores of G heads from i (G = 1 or 2) against the R groups of four rows
 * from r0 (R = 1 .. 4): for each block, eight SDOTs by lane per group and
 * head, then one FMA by the block scales. */
ATTN_INLINE void scores_blocks_part(const Ctx *c, const int8_t *kx, const float *dk, int64_t i, int r0, float *s,
                                    const int G, const int R)
{
    float32x4_t sc[2][4];
    for (int h = 0; h < G; h++)
        for (int r = 0; r < R; r++)
            sc[h][r] = vdupq_n_f32(0.0f);
    for (int64_t b = 0; b < c->nb; b++) {
        int32x4_t is[2][4];
        int8x16_t q[2][2];
        for (int h = 0; h < G; h++) {
            q[h][0] = vld1q_s8(c->qb[i + h][b].qs);
            q[h][1] = vld1q_s8(c->qb[i + h][b].qs + 16);
            for (int r = 0; r < R; r++)
                is[h][r] = vdupq_n_s32(0);
        }
        const int8_t *kb = kx + (b * ATTN_GROUPS * (ATTN_TILE / 4) + r0) * 16;
#define ATTN_GROUP(g, half, lane)                                                            \
        for (int r = 0; r < R; r++) {                                                        \
            const int8x16_t kv = vld1q_s8(kb + ((g) * (ATTN_TILE / 4) + r) * 16);            \
            for (int h = 0; h < G; h++)                                                      \
                is[h][r] = vdotq_laneq_s32(is[h][r], kv, q[h][half], lane);                  \
        }
        ATTN_GROUP(0, 0, 0)
        ATTN_GROUP(1, 0, 1)
        ATTN_GROUP(2, 0, 2)
        ATTN_GROUP(3, 0, 3)
        ATTN_GROUP(4, 1, 0)
        ATTN_GROUP(5, 1, 1)
        ATTN_GROUP(6, 1, 2)
        ATTN_GROUP(7, 1, 3)
#undef ATTN_GROUP
        for (int h = 0; h < G; h++)
            for (int r = 0; r < R; r++) {
                const float32x4_t d = vmulq_n_f32(vld1q_f32(dk + b * ATTN_TILE + 4 * (r0 + r)), c->dq[i + h][b]);
                sc[h][r] = vfmaq_f32(sc[h][r], vcvtq_f32_s32(is[h][r]), d);
            }
    }
    for (int h = 0; h < G; h++)
        for (int r = 0; r < R; r++)
            vst1q_f32(s + (i + h) * ATTN_TILE + 4 * (r0 + r), vmulq_n_f32(sc[h][r], c->a->scale));
}

ATTN_INLINE void scores_blocks_heads(const Ctx *c, const int8_t *kx, const float *dk, int64_t i, int n4, float *s,
                                     const int G)
{
    int r0 = 0;
    for (; r0 + 4 <= n4; r0 += 4)
        scores_blocks_part(c, kx, dk, i, r0, s, G, 4);
    switch (n4 - r0) {
    case 3: scores_blocks_part(c, kx, dk, i, r0, s, G, 3); break;
    case 2: scores_blocks_part(c, kx, dk, i, r0, s, G, 2); break;
    case 1: scores_blocks_part(c, kx, dk, i, r0, s, G, 1); break;
    default: break;
    }
}

static inline void scores_blocks(const Ctx *c, const int8_t *kx, const float *dk, int n4, float *s)
{
    int64_t i = 0;
    for (; i + 2 <= c->nq; i += 2)
        scores_blocks_heads(c, kx, dk, i, n4, s, 2);
    if (i < c->nq)
        scores_blocks_heads(c, kx, dk, i, n4, s, 1);
}

#else /* !__ARM_FEATURE_DOTPROD */

/* kx: Q4_0 keys unpacked, hd bytes per row (Q8_0 keys are read in place);
 * kr[t] points at row t's first block's bytes, bs bytes from one block's to
 * the next. */
ATTN_INLINE void tile_keys_blocks(const Ctx *c, const uint32_t kt, int64_t j0, int n4, int8_t *kx, float *dk,
                                  const int8_t **kr)
{
    const PlumbAttnArgs *a = c->a;
    const int64_t last = a->nk - 1;
    for (int t = 0; t < 4 * n4; t++) {
        const int64_t j = j0 + t <= last ? j0 + t : last;
        const uint8_t *row = key_row(a, j);
        if (kt == PLUMB_QTYPE_Q4_0) {
            const PlumbBlockQ4_0 *kb = (const PlumbBlockQ4_0 *)row;
            for (int64_t b = 0; b < c->nb; b++) {
                int8x16_t lo, hi;
                q4_0_unpack(&kb[b], &lo, &hi);
                vst1q_s8(kx + t * c->hd + b * PLUMB_QK, lo);
                vst1q_s8(kx + t * c->hd + b * PLUMB_QK + 16, hi);
                dk[b * ATTN_TILE + t] = arm_fp16(kb[b].d);
            }
            kr[t] = kx + t * c->hd;
        } else {
            const PlumbBlockQ8_0 *kb = (const PlumbBlockQ8_0 *)row;
            for (int64_t b = 0; b < c->nb; b++)
                dk[b * ATTN_TILE + t] = arm_fp16(kb[b].d);
            kr[t] = kb[0].qs;
        }
    }
}

/* Scores of G heads from i (G = 1 or 2) against four rows from t: per
 * block, each row's 32 products in four int32 lanes, the rows' lanes summed
 * by one pairwise-add tree, one FMA by the block scales. */
ATTN_INLINE void scores_blocks4(const Ctx *c, const int8_t *const *kr, int64_t bs, const float *dk, int64_t i, int t,
                                float *s, const int G)
{
    float32x4_t sc[2] = { vdupq_n_f32(0.0f), vdupq_n_f32(0.0f) };
    for (int64_t b = 0; b < c->nb; b++) {
        int8x16_t k0[4], k1[4];
        for (int r = 0; r < 4; r++) {
            k0[r] = vld1q_s8(kr[t + r] + b * bs);
            k1[r] = vld1q_s8(kr[t + r] + b * bs + 16);
        }
        for (int h = 0; h < G; h++) {
            const int8x16_t q0 = vld1q_s8(c->qb[i + h][b].qs), q1 = vld1q_s8(c->qb[i + h][b].qs + 16);
            int32x4_t x[4];
            for (int r = 0; r < 4; r++)
                x[r] = arm_dot_s8x2(vdupq_n_s32(0), k0[r], k1[r], q0, q1);
            const float32x4_t d = vmulq_n_f32(vld1q_f32(dk + b * ATTN_TILE + t), c->dq[i + h][b]);
            sc[h] = vfmaq_f32(sc[h], vcvtq_f32_s32(hsum4_s32(x[0], x[1], x[2], x[3])), d);
        }
    }
    for (int h = 0; h < G; h++)
        vst1q_f32(s + (i + h) * ATTN_TILE + t, vmulq_n_f32(sc[h], c->a->scale));
}

static inline void scores_blocks(const Ctx *c, const int8_t *const *kr, int64_t bs, const float *dk, int n4, float *s)
{
    for (int t = 0; t < 4 * n4; t += 4) {
        int64_t i = 0;
        for (; i + 2 <= c->nq; i += 2)
            scores_blocks4(c, kr, bs, dk, i, t, s, 2);
        if (i < c->nq)
            scores_blocks4(c, kr, bs, dk, i, t, s, 1);
    }
}

#endif /* __ARM_FEATURE_DOTPROD */

/* ------------------------------------------------------------ scores: float keys */

/* Four rows (kr, hdp floats each) against G heads from i (G = 1 or 2). */
ATTN_INLINE void scores_float4(const Ctx *c, const float *const *kr, int64_t i, int t, float *s, const int G)
{
    const int64_t hdp = c->hdp;
    float32x4_t x[2][4];
    for (int h = 0; h < G; h++)
        for (int r = 0; r < 4; r++)
            x[h][r] = vdupq_n_f32(0.0f);
    for (int64_t d = 0; d < hdp; d += 4) {
        float32x4_t k[4];
        for (int r = 0; r < 4; r++)
            k[r] = vld1q_f32(kr[r] + d);
        for (int h = 0; h < G; h++) {
            const float32x4_t q = vld1q_f32(c->qf + (i + h) * hdp + d);
            for (int r = 0; r < 4; r++)
                x[h][r] = vfmaq_f32(x[h][r], q, k[r]);
        }
    }
    for (int h = 0; h < G; h++)
        vst1q_f32(s + (i + h) * ATTN_TILE + t,
                  vmulq_n_f32(hsum4_f32(x[h][0], x[h][1], x[h][2], x[h][3]), c->a->scale));
}

/* Scores of the float keys of rows [j0, j0 + 4 * n4) (past nk: the last
 * row); kf is scratch for four widened rows. */
static inline void scores_float(const Ctx *c, uint32_t kt, int64_t j0, int n4, float *s, float *kf)
{
    const PlumbAttnArgs *a = c->a;
    const int64_t last = a->nk - 1;
    const int direct = kt == PLUMB_QTYPE_F32 && c->hd == c->hdp;
    for (int t = 0; t < 4 * n4; t += 4) {
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
        int64_t i = 0;
        for (; i + 2 <= c->nq; i += 2)
            scores_float4(c, kr, i, t, s, 2);
        if (i < c->nq)
            scores_float4(c, kr, i, t, s, 1);
    }
}

/* Scores of the tile's rows [j0, j0 + nt) into s (-inf past nt).  kx and
 * kf are scratch: the tile's key bytes, four widened float rows. */
ATTN_INLINE void tile_scores(const Ctx *c, const uint32_t kt, int64_t j0, int nt, float *s, int8_t *kx, float *kf)
{
    const int n4 = (nt + 3) / 4;
    if (is_float_key(kt)) {
        scores_float(c, kt, j0, n4, s, kf);
    } else {
        float dk[ATTN_MAX_B * ATTN_TILE];
#if defined(__ARM_FEATURE_DOTPROD)
        tile_keys_blocks(c, kt, j0, n4, kx, dk);
        scores_blocks(c, kx, dk, n4, s);
#else
        const int8_t *kr[ATTN_TILE];
        tile_keys_blocks(c, kt, j0, n4, kx, dk, kr);
        scores_blocks(c, kr, kt == PLUMB_QTYPE_Q4_0 ? PLUMB_QK : (int64_t)sizeof(PlumbBlockQ8_0), dk, n4, s);
#endif
    }
    for (int64_t i = 0; i < c->nq; i++)
        for (int t = nt; t < ATTN_TILE; t++)
            s[i * ATTN_TILE + t] = -INFINITY;
}

/* ------------------------------------------------------------ softmax */

/* The tile's scores s -> weights exp(s - m) in place (0 from nt on), with
 * m and l updated and r the factor that rescales what was summed before
 * (exactly 1 when the maximum stays, 0 for the first tile). */
static inline void tile_softmax(const Ctx *c, float *s, int nt, float *m, float *l, float *r)
{
    float mn[PLUMB_ATTN_MAX_Q];
    for (int64_t i = 0; i < c->nq; i++) {
        const float *si = s + i * ATTN_TILE;
        float32x4_t x = vld1q_f32(si);
        for (int t = 4; t < ATTN_TILE; t += 4)
            x = vmaxq_f32(x, vld1q_f32(si + t));
        const float mt = vmaxvq_f32(x);
        mn[i] = mt > m[i] ? mt : m[i];
    }
    for (int64_t i = c->nq; i < PLUMB_ATTN_MAX_Q; i++)
        mn[i] = m[i];
    for (int i = 0; i < PLUMB_ATTN_MAX_Q; i += 4) {
        const float32x4_t mo = vld1q_f32(m + i), mv = vld1q_f32(mn + i);
        const float32x4_t e = Sleef_expf4_u10advsimd(vsubq_f32(mo, mv));
        vst1q_f32(r + i, vbslq_f32(vcgtq_f32(mv, mo), e, vdupq_n_f32(1.0f)));
    }
    for (int64_t i = 0; i < c->nq; i++) {
        float *si = s + i * ATTN_TILE;
        const float32x4_t mv = vdupq_n_f32(mn[i]);
        float32x4_t sum = vdupq_n_f32(0.0f);
        for (int t = 0; t < ATTN_TILE; t += 4) {
            const float32x4_t p = Sleef_expf4_u10advsimd(vsubq_f32(vld1q_f32(si + t), mv));
            vst1q_f32(si + t, p);
        }
        for (int t = nt; t < ATTN_TILE; t++)
            si[t] = 0.0f;
        for (int t = 0; t < ATTN_TILE; t += 8)
            sum = vaddq_f32(sum, vaddq_f32(vld1q_f32(si + t), vld1q_f32(si + t + 4)));
        l[i] = l[i] * r[i] + vaddvq_f32(sum);
        m[i] = mn[i];
    }
}

/* ------------------------------------------------------------ values */

/* The tile's value rows as float (hdp each): vr[t] points into v (F32 rows
 * of a padded length) or into vbuf. */
static inline void tile_values(const Ctx *c, int64_t j0, int nt, float *vbuf, const float **vr)
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
            for (int64_t b = 0; b < c->nb; b++) {
                const float d = arm_fp16(vb[b].d);
                store_i8_mul(dst + b * PLUMB_QK, vld1q_s8(vb[b].qs), d);
                store_i8_mul(dst + b * PLUMB_QK + 16, vld1q_s8(vb[b].qs + 16), d);
            }
            break;
        }
        case PLUMB_QTYPE_Q4_0: {
            const PlumbBlockQ4_0 *vb = (const PlumbBlockQ4_0 *)row;
            for (int64_t b = 0; b < c->nb; b++) {
                const float d = arm_fp16(vb[b].d);
                int8x16_t lo, hi;
                q4_0_unpack(&vb[b], &lo, &hi);
                store_i8_mul(dst + b * PLUMB_QK, lo, d);
                store_i8_mul(dst + b * PLUMB_QK + 16, hi, d);
            }
            break;
        }
        default: break;
        }
    }
}

/* acc rows of G heads (stride hdp) = acc * r + sum over t < nt of p[t] *
 * vr[t], sixteen columns at a time, the rows in ascending order; the first
 * tile starts from 0.  p holds the heads' weights ATTN_TILE apart. */
ATTN_INLINE void mix_group(float *acc, int64_t hdp, const float *p, const float *r, const float *const *vr, int nt,
                           int first, const int G)
{
    for (int64_t d = 0; d < hdp; d += 16) {
        float32x4_t o[4][4];
        for (int h = 0; h < G; h++)
            for (int e = 0; e < 4; e++)
                o[h][e] = first ? vdupq_n_f32(0.0f) : vmulq_n_f32(vld1q_f32(acc + h * hdp + d + 4 * e), r[h]);
        int t = 0;
        for (; t + 4 <= nt; t += 4) {
            float32x4_t w[4];
            for (int h = 0; h < G; h++)
                w[h] = vld1q_f32(p + h * ATTN_TILE + t);
#define ATTN_ROW(lane)                                                                  \
            {                                                                           \
                const float *v = vr[t + (lane)] + d;                                    \
                const float32x4_t v0 = vld1q_f32(v), v1 = vld1q_f32(v + 4);             \
                const float32x4_t v2 = vld1q_f32(v + 8), v3 = vld1q_f32(v + 12);        \
                for (int h = 0; h < G; h++) {                                           \
                    o[h][0] = vfmaq_laneq_f32(o[h][0], v0, w[h], lane);                 \
                    o[h][1] = vfmaq_laneq_f32(o[h][1], v1, w[h], lane);                 \
                    o[h][2] = vfmaq_laneq_f32(o[h][2], v2, w[h], lane);                 \
                    o[h][3] = vfmaq_laneq_f32(o[h][3], v3, w[h], lane);                 \
                }                                                                       \
            }
            ATTN_ROW(0)
            ATTN_ROW(1)
            ATTN_ROW(2)
            ATTN_ROW(3)
#undef ATTN_ROW
        }
        for (; t < nt; t++) {
            const float *v = vr[t] + d;
            const float32x4_t v0 = vld1q_f32(v), v1 = vld1q_f32(v + 4);
            const float32x4_t v2 = vld1q_f32(v + 8), v3 = vld1q_f32(v + 12);
            for (int h = 0; h < G; h++) {
                const float32x4_t w = vld1q_dup_f32(p + h * ATTN_TILE + t);
                o[h][0] = vfmaq_f32(o[h][0], v0, w);
                o[h][1] = vfmaq_f32(o[h][1], v1, w);
                o[h][2] = vfmaq_f32(o[h][2], v2, w);
                o[h][3] = vfmaq_f32(o[h][3], v3, w);
            }
        }
        for (int h = 0; h < G; h++)
            for (int e = 0; e < 4; e++)
                vst1q_f32(acc + h * hdp + d + 4 * e, o[h][e]);
    }
}

static inline void tile_mix(const Ctx *c, float *acc, const float *p, const float *r, const float *const *vr, int nt,
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
        int8_t kx[ATTN_TILE * PLUMB_ATTN_MAX_HD];       /* block keys: the tile's bytes */
    } u;
    float accl[PLUMB_ATTN_MAX_Q * PLUMB_ATTN_MAX_HD];
    if (a->v_type != PLUMB_QTYPE_F32 && a->v_type != PLUMB_QTYPE_F16 && a->v_type != PLUMB_QTYPE_Q8_0 &&
        a->v_type != PLUMB_QTYPE_Q4_0)
        return;
    if (a->nk < 1) { /* no rows: what the reference leaves */
        for (int64_t i = 0; i < a->nq; i++) {
            a->m[i] = -INFINITY;
            a->l[i] = 0.0f;
        }
        memset(a->acc, 0, (size_t)(a->nq * a->hd) * sizeof(float));
        return;
    }
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
        tile_softmax(&c, s, nt, m, l, r);
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

#if !defined(__ARM_FEATURE_DOTPROD) /* float keys gain nothing from SDOT: the NEON tier's stay */
static void attn_f32(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_F32); }
static void attn_f16(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_F16); }
#endif
static void attn_q8_0(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_Q8_0); }
static void attn_q4_0(const PlumbAttnArgs *a) { attn_any(a, PLUMB_QTYPE_Q4_0); }

void ATTN_INIT(PlumbDsp *dsp)
{
#if !defined(__ARM_FEATURE_DOTPROD)
    dsp->attn[PLUMB_QTYPE_F32] = attn_f32;
    dsp->attn[PLUMB_QTYPE_F16] = attn_f16;
#endif
    dsp->attn[PLUMB_QTYPE_Q8_0] = attn_q8_0;
    dsp->attn[PLUMB_QTYPE_Q4_0] = attn_q4_0;
}
