/*
 * gemm_avx2.c — AVX2 tiled products of weight rows with several activation
 * rows (dsp->gemm, see dsp.h): Q4_0 and Q8_0 x Q8_0, Q4_K, Q5_K and Q6_K x
 * Q8_K, F32 x F32.
 *
 * Every kernel works on tiles of 4 weight rows times a few tokens, so a
 * weight block is unpacked once for several tokens and an activation block
 * loaded once for four rows.  The quantised kernels multiply unsigned weight
 * bytes with signed activation bytes (maddubs, or vpdpbusd / vpdpwssd
 * through x86_kernels.h when compiled for a VNNI tier), keep the sums exact in
 * int32, and fold the 4 rows' sums by horizontal adds into one register
 * [row0..row3 | row0..row3] (the two halves hold different blocks, or two
 * halves of one super-block) before one float conversion and FMA per token.
 * Each kernel requests the row tile two tiles ahead (software prefetch).
 *
 * Same bits whatever the tiling: integer sums are exact, and row s of a tile
 * always accumulates in lanes s and s+4, in block order, with the same float
 * operations; the result is lane s + lane s+4.  A tile with fewer than 4
 * rows repeats its last row, and row tails go through the same code from
 * zero-padded copies, so every row of every call takes the same operations
 * (checkdsp checks this bit for bit).  Tokens never share accumulators.
 *
 * Against the C definition (one vec_dot per row and token): the integer
 * sums per block are the same, their scaling and summation are float in
 * another order, so results differ by a few roundings of the sum of |w*a|.
 */
#include "config.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dsp.h"
#include "qtypes.h"
#include "quant_ref.h"
#include "gemm_util.h"
#include "x86_kernels.h"

#define TILE_ROWS 4
#define TILE_TOKENS 4

#if defined(__GNUC__)
#define UNROLL _Pragma("GCC unroll 4")
#else
#define UNROLL
#endif

/* Two 16-byte halves into one register: lo in the low lane. */
static inline __m256i load_2x128(const void *lo, const void *hi)
{
    return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                   _mm_loadu_si128((const __m128i *)hi), 1);
}

/* [row0..row3 of block A | row0..row3 of block B] from the four rows'
 * int32 partial sums [A: 4 lanes | B: 4 lanes]. */
static inline __m256i fold_rows(__m256i i0, __m256i i1, __m256i i2, __m256i i3)
{
    return _mm256_hadd_epi32(_mm256_hadd_epi32(i0, i1), _mm256_hadd_epi32(i2, i3));
}

/* y[t][row[s]] = lane s + lane s+4 of acc[t], for the tile's real rows. */
static inline void store_tile(const __m256 *acc, int T, float *const *y, const int64_t *row,
                              int n_rows)
{
    for (int t = 0; t < T; t++) {
        float v[8];
        _mm256_storeu_ps(v, acc[t]);
        for (int s = 0; s < n_rows; s++)
            y[t][row[s]] = v[s] + v[s + 4];
    }
}

/* ------------------------------------------------------------ Q4_0 and Q8_0 x Q8_0 */

/*
 * Q4_0 weights are nibbles q in [0, 15] standing for q - 8; maddubs takes
 * them as they are and 8 * sum(a) per block comes off the folded int32 sums.
 * Q8_0 weights are signed bytes: on the VNNI tiers (vpdpbusd does not
 * saturate) they are taken as w + 128, unsigned, and 128 * sum(a) comes
 * off; AVX2's maddubs would saturate on those, so there the sign trick
 * (|w| against a with w's sign) gives the same exact sums with no
 * correction.  Per token and block pair the activation side is prepared
 * once per call (Q4Prep): that correction and the activation scales, laid
 * out as the folded sums are.  Blocks are taken four at a time (two pairs):
 * the first pair's scaled sums are added to the second's by one FMA and
 * the result to the accumulator, so the loop-carried chain is one add per
 * four blocks.  A row's last 1-3 blocks go through the same step from
 * zero-padded copies.  q8 (a constant once inlined) picks the weight type.
 */
typedef struct Q4Prep {
    __m256i corr;  /* [k*sum(a_A) x4 | k*sum(a_B) x4] int32, k the weights' offset */
    __m256 scale;  /* [d_A x4 | d_B x4] activation scales */
} Q4Prep;

#define PREP_BYTES 49152 /* stack for the prepared activations of a token chunk */
#define CHUNK_TOKENS 16  /* most tokens prepared at once */

/* What the weights' stored form adds per unit of sum(a): Q4_0's 8, Q8_0's
 * 128 with vpdpbusd, none with the sign trick. */
#define Q8_0_OFFSET (X86_VNNI256 ? 128 : 0)

static void q8_0_prep(const PlumbBlockQ8_0 *a, int64_t nb, int64_t n_pairs, int32_t offset, Q4Prep *p)
{
    for (int64_t k = 0; k < n_pairs; k++) {
        int32_t sum[2] = { 0, 0 };
        float d[2] = { 0.0f, 0.0f };
        for (int j = 0; j < 2; j++) {
            const int64_t b = 2 * k + j;
            if (b >= nb)
                continue;
            sum[j] = offset ? offset * x86_q8_0_sum(&a[b]) : 0;
            d[j] = x86_fp16(a[b].d);
        }
        p[k].corr = _mm256_setr_epi32(sum[0], sum[0], sum[0], sum[0], sum[1], sum[1], sum[1], sum[1]);
        p[k].scale = _mm256_setr_ps(d[0], d[0], d[0], d[0], d[1], d[1], d[1], d[1]);
    }
}

/* Bytes of a weight block, and where its quants start (d comes first). */
#define W_BLOCK(q8) ((q8) ? sizeof(PlumbBlockQ8_0) : sizeof(PlumbBlockQ4_0))
#define W_QS(q8) ((q8) ? offsetof(PlumbBlockQ8_0, qs) : offsetof(PlumbBlockQ4_0, qs))

/* Weight scales of blocks (b, b+1) of the four rows: [rows' d_b | rows' d_b+1].
 * Assembled in general-purpose registers (independent scalar loads, off the
 * vector ports), then moved over and converted at once. */
static inline __m256 w_scales(const uint8_t *const *x, int64_t b, size_t bs)
{
    const size_t o = (size_t)b * bs;
    const uint64_t lo = (uint64_t)x86_load_u16(x[0] + o) | (uint64_t)x86_load_u16(x[1] + o) << 16 |
                        (uint64_t)x86_load_u16(x[2] + o) << 32 | (uint64_t)x86_load_u16(x[3] + o) << 48;
    const uint64_t hi = (uint64_t)x86_load_u16(x[0] + o + bs) | (uint64_t)x86_load_u16(x[1] + o + bs) << 16 |
                        (uint64_t)x86_load_u16(x[2] + o + bs) << 32 | (uint64_t)x86_load_u16(x[3] + o + bs) << 48;
    return _mm256_cvtph_ps(_mm_set_epi64x((int64_t)hi, (int64_t)lo));
}

/* Folded exact sums of the pair (b, b+1) of the four rows with token a,
 * less the correction: [rows of b | rows of b+1].  lo, hi: columns 0-15
 * and 16-31 of both blocks as w_unpack leaves them. */
GEMM_INLINE __m256i w_fold(const __m256i *lo, const __m256i *hi, const PlumbBlockQ8_0 *a, int64_t b,
                           __m256i corr, int q8)
{
    const __m256i alo = load_2x128(a[b].qs, a[b + 1].qs);
    const __m256i ahi = load_2x128(a[b].qs + 16, a[b + 1].qs + 16);
    __m256i i32[TILE_ROWS];
    UNROLL
    for (int s = 0; s < TILE_ROWS; s++) {
        if (q8 && !X86_VNNI256)
            i32[s] = x86_dpbusd256(x86_dot_s8s8_i32(lo[s], alo), _mm256_sign_epi8(hi[s], hi[s]),
                                   _mm256_sign_epi8(ahi, hi[s]));
        else
            i32[s] = x86_dpbusd256x2(_mm256_setzero_si256(), lo[s], alo, hi[s], ahi);
    }
    return _mm256_sub_epi32(fold_rows(i32[0], i32[1], i32[2], i32[3]), corr);
}

/* Blocks (b, b+1) of the four rows: Q4_0's nibbles, Q8_0's bytes (as w +
 * 128 for vpdpbusd, signed for the sign trick). */
GEMM_INLINE void w_unpack(const uint8_t *const *x, int64_t b, __m256i *lo, __m256i *hi, int q8)
{
    const size_t bs = W_BLOCK(q8), o = (size_t)b * bs + W_QS(q8);
    const __m256i m4 = _mm256_set1_epi8(0x0f), bias = _mm256_set1_epi8((char)0x80);
    UNROLL
    for (int s = 0; s < TILE_ROWS; s++) {
        if (q8) {
            lo[s] = load_2x128(x[s] + o, x[s] + o + bs);
            hi[s] = load_2x128(x[s] + o + 16, x[s] + o + bs + 16);
            if (X86_VNNI256) {
                lo[s] = _mm256_xor_si256(lo[s], bias);
                hi[s] = _mm256_xor_si256(hi[s], bias);
            }
        } else {
            const __m256i v = load_2x128(x[s] + o, x[s] + o + bs);
            lo[s] = _mm256_and_si256(v, m4);
            hi[s] = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        }
    }
}

/* Blocks b..b+3 of the tile: acc[t] += (pair 0 scaled) + (pair 1 scaled). */
GEMM_INLINE void w_step(const uint8_t *const *x, int64_t b, const PlumbBlockQ8_0 *const *a, int64_t ab,
                        const Q4Prep *const *prep, int64_t k, __m256 *acc, int T, int q8)
{
    __m256i lo[TILE_ROWS], hi[TILE_ROWS];
    __m256 part[TILE_TOKENS];
    const __m256 sw0 = w_scales(x, b, W_BLOCK(q8)), sw1 = w_scales(x, b + 2, W_BLOCK(q8));
    w_unpack(x, b, lo, hi, q8);
    UNROLL
    for (int t = 0; t < T; t++)
        part[t] = _mm256_mul_ps(_mm256_cvtepi32_ps(w_fold(lo, hi, a[t], ab, prep[t][k].corr, q8)),
                                _mm256_mul_ps(sw0, prep[t][k].scale));
    w_unpack(x, b + 2, lo, hi, q8);
    UNROLL
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_add_ps(acc[t], _mm256_fmadd_ps(
            _mm256_cvtepi32_ps(w_fold(lo, hi, a[t], ab + 2, prep[t][k + 1].corr, q8)),
            _mm256_mul_ps(sw1, prep[t][k + 1].scale), part[t]));
}

GEMM_INLINE void w_tile(int64_t nb, const uint8_t *const *x, const PlumbBlockQ8_0 *const *a,
                        const Q4Prep *const *prep, __m256 *acc, Prefetch pf, int T, int q8)
{
    const int64_t main = nb & ~(int64_t)3;
    const size_t bs = W_BLOCK(q8);
    UNROLL
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < main; b += 4) {
        prefetch_step(&pf);
        w_step(x, b, a, b, prep, b / 2, acc, T, q8);
    }
    if (main < nb) {
        /* the last 1-3 blocks, zero-padded to four */
        uint8_t xw[TILE_ROWS][4 * sizeof(PlumbBlockQ8_0)];
        PlumbBlockQ8_0 aw[TILE_TOKENS][4];
        const uint8_t *xp[TILE_ROWS];
        const PlumbBlockQ8_0 *ap[TILE_TOKENS];
        memset(xw, 0, sizeof xw);
        memset(aw, 0, sizeof aw);
        for (int s = 0; s < TILE_ROWS; s++) {
            memcpy(xw[s], x[s] + (size_t)main * bs, (size_t)(nb - main) * bs);
            xp[s] = xw[s];
        }
        for (int t = 0; t < T; t++) {
            memcpy(aw[t], a[t] + main, (size_t)(nb - main) * sizeof aw[t][0]);
            ap[t] = aw[t];
        }
        w_step(xp, 0, ap, 0, prep, main / 2, acc, T, q8);
    }
}

GEMM_INLINE void gemm_w_q8_0(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                             const void *const *a, float *const *y, int64_t nt, int q8)
{
    Q4Prep buf[PREP_BYTES / sizeof(Q4Prep)];
    const int64_t nb = n / PLUMB_QK;
    const int64_t n_pairs = ((nb + 3) & ~(int64_t)3) / 2; /* padded to whole steps */
    int64_t chunk = (int64_t)(sizeof buf / sizeof buf[0]) / n_pairs;
    if (chunk < 1) {
        /* rows too long for the stack buffer: the C definition */
        for (int64_t r = r0; r < r1; r++)
            for (int64_t t = 0; t < nt; t++) {
                const void *row = (const char *)w + (uint64_t)r * w_stride;
                if (q8)
                    plumb_vec_dot_q8_0_q8_0_c(n, &y[t][r], row, a[t]);
                else
                    plumb_vec_dot_q4_0_q8_0_c(n, &y[t][r], row, a[t]);
            }
        return;
    }
    if (chunk > CHUNK_TOKENS)
        chunk = CHUNK_TOKENS;
    for (int64_t c0 = 0; c0 < nt; c0 += chunk) {
        const int64_t nc = nt - c0 < chunk ? nt - c0 : chunk;
        for (int64_t t = 0; t < nc; t++)
            q8_0_prep(a[c0 + t], nb, n_pairs, q8 ? Q8_0_OFFSET : 8, buf + t * n_pairs);
        for (int64_t r = r0; r < r1; r += TILE_ROWS) {
            const uint8_t *x[TILE_ROWS];
            int64_t row[TILE_ROWS];
            const int n_rows = r1 - r < TILE_ROWS ? (int)(r1 - r) : TILE_ROWS;
            for (int s = 0; s < TILE_ROWS; s++) {
                row[s] = r + (s < n_rows ? s : n_rows - 1);
                x[s] = (const uint8_t *)w + (uint64_t)row[s] * w_stride;
            }
            for (int64_t t0 = 0; t0 < nc; t0 += TILE_TOKENS) {
                const PlumbBlockQ8_0 *at[TILE_TOKENS];
                const Q4Prep *pt[TILE_TOKENS];
                __m256 acc[TILE_TOKENS];
                const int T = nc - t0 < TILE_TOKENS ? (int)(nc - t0) : TILE_TOKENS;
                Prefetch pf = prefetch_plan(x[0], TILE_ROWS * w_stride, nb / 4);
                if (t0 > 0)
                    pf.p = NULL; /* requested by the first token tile */
                for (int t = 0; t < T; t++) {
                    at[t] = a[c0 + t0 + t];
                    pt[t] = buf + (t0 + t) * n_pairs;
                }
                switch (T) {
                case 1: w_tile(nb, x, at, pt, acc, pf, 1, q8); break;
                case 2: w_tile(nb, x, at, pt, acc, pf, 2, q8); break;
                case 3: w_tile(nb, x, at, pt, acc, pf, 3, q8); break;
                default: w_tile(nb, x, at, pt, acc, pf, 4, q8); break;
                }
                store_tile(acc, T, y + c0 + t0, row, n_rows);
            }
        }
    }
}

static void gemm_q4_0_q8_0(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                           const void *const *a, float *const *y, int64_t nt)
{
    gemm_w_q8_0(n, w, w_stride, r0, r1, a, y, nt, 0);
}

static void gemm_q8_0_q8_0(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                           const void *const *a, float *const *y, int64_t nt)
{
    gemm_w_q8_0(n, w, w_stride, r0, r1, a, y, nt, 1);
}

/* ------------------------------------------------------------ Q4_0_R8 x Q8_0X */

/*
 * Eight interleaved rows (qtypes.h): one 32-byte load gives 4 consecutive
 * columns of all eight rows in each 32-bit lane, low nibbles for one group of
 * columns and high nibbles for another, so no horizontal sums are needed:
 * lane r is row r throughout.  Each 4-column group of the activation block is
 * broadcast to all lanes and multiplied by maddubs (unsigned nibble times
 * signed byte); the eight products of a block add up in int16 (at most
 * 8 * 2 * 15 * 127 = 30480 in magnitude), one madd widens them, the offset
 * term 8 * sum(a) comes off, and one FMA per block and token scales them by
 * d_row * d_token in the order the C definition (plumb_gemm_q4_0_r8_c) uses,
 * so results are the same bits as C's whatever the tiling.  A block of eight
 * rows is unpacked once for up to R8_TOKENS tokens.
 */
#define R8_TOKENS 4

/* The nibbles of one 32-column block of eight rows (128 bytes laid out as
 * in PlumbBlockQ4_0x8): w0..w7 hold column groups 0..7 (4 columns each,
 * lane r = row r). */
typedef struct R8W {
    __m256i w0, w1, w2, w3, w4, w5, w6, w7;
} R8W;

GEMM_INLINE R8W r8_unpack(const uint8_t *qs)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    const __m256i v0 = _mm256_loadu_si256((const __m256i *)qs);
    const __m256i v1 = _mm256_loadu_si256((const __m256i *)(qs + 32));
    const __m256i v2 = _mm256_loadu_si256((const __m256i *)(qs + 64));
    const __m256i v3 = _mm256_loadu_si256((const __m256i *)(qs + 96));
    R8W w;
    w.w0 = _mm256_and_si256(v0, m4);
    w.w1 = _mm256_and_si256(v1, m4);
    w.w2 = _mm256_and_si256(v2, m4);
    w.w3 = _mm256_and_si256(v3, m4);
    w.w4 = _mm256_and_si256(_mm256_srli_epi16(v0, 4), m4);
    w.w5 = _mm256_and_si256(_mm256_srli_epi16(v1, 4), m4);
    w.w6 = _mm256_and_si256(_mm256_srli_epi16(v2, 4), m4);
    w.w7 = _mm256_and_si256(_mm256_srli_epi16(v3, 4), m4);
    return w;
}

/* int16 sums of the eight rows' nibbles times the 32 activation bytes q:
 * in each 32-bit lane (row) two halves, each of 16 products (at most
 * 16 * 15 * 128 = 30720 in magnitude). */
#define R8_GROUP(wg, g) _mm256_maddubs_epi16(wg, _mm256_set1_epi32(load_i32(q + 4 * (g))))
GEMM_INLINE __m256i r8_sums16(const R8W *w, const int8_t *q)
{
    const __m256i s01 = _mm256_add_epi16(R8_GROUP(w->w0, 0), R8_GROUP(w->w1, 1));
    const __m256i s23 = _mm256_add_epi16(R8_GROUP(w->w2, 2), R8_GROUP(w->w3, 3));
    const __m256i s45 = _mm256_add_epi16(R8_GROUP(w->w4, 4), R8_GROUP(w->w5, 5));
    const __m256i s67 = _mm256_add_epi16(R8_GROUP(w->w6, 6), R8_GROUP(w->w7, 7));
    return _mm256_add_epi16(_mm256_add_epi16(s01, s23), _mm256_add_epi16(s45, s67));
}
#undef R8_GROUP

GEMM_INLINE __m256 r8_block(const R8W *w, __m256 dw, const PlumbBlockQ8_0X *a, __m256 acc)
{
#if X86_VNNI256
    /* the same exact int32 sums by vpdpbusd, two chains of four groups */
#define R8_DP(acc, wg, g) x86_dpbusd256(acc, wg, _mm256_set1_epi32(load_i32(a->qs + 4 * (g))))
    const __m256i z = _mm256_setzero_si256();
    const __m256i e = R8_DP(R8_DP(R8_DP(R8_DP(z, w->w0, 0), w->w2, 2), w->w4, 4), w->w6, 6);
    const __m256i o = R8_DP(R8_DP(R8_DP(R8_DP(z, w->w1, 1), w->w3, 3), w->w5, 5), w->w7, 7);
#undef R8_DP
    const __m256i s32 = _mm256_sub_epi32(_mm256_add_epi32(e, o), _mm256_set1_epi32(a->s8));
#else
    const __m256i ones = _mm256_set1_epi16(1);
    const __m256i s32 = _mm256_sub_epi32(_mm256_madd_epi16(r8_sums16(w, a->qs), ones), _mm256_set1_epi32(a->s8));
#endif
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(s32), _mm256_mul_ps(dw, _mm256_set1_ps(a->d)), acc);
}


GEMM_INLINE void r8_tile(const PlumbBlockQ4_0x8 *x, int64_t nb, const PlumbBlockQ8_0X *const *a,
                         float *const *y, int64_t row, Prefetch *pf, int T)
{
    __m256 acc[R8_TOKENS];
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if (pf)
            prefetch_step(pf);
        const R8W w = r8_unpack(x[b].qs);
        const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)x[b].d));
        _Pragma("GCC unroll 8")
        for (int t = 0; t < T; t++)
            acc[t] = r8_block(&w, dw, &a[t][b], acc[t]);
    }
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        _mm256_storeu_ps(y[t] + row, acc[t]);
}

/* The driver of an interleaved kernel: groups of eight rows, each group's
 * tile run for up to R8_TOKENS tokens at a time; the first token tile of a
 * group requests the group PF_TILES ahead, `steps` prefetch steps per
 * block of `elems` columns. */
#define R8_DRIVER(name, WBlock, ABlock, elems, steps, tile)                                        \
    static void name(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,          \
                     const void *const *a, float *const *y, int64_t nt)                            \
    {                                                                                              \
        const int64_t nb = n / (elems);                                                            \
        const uint64_t panel = PLUMB_R8 * w_stride;                                                \
        for (int64_t p = r0 / PLUMB_R8; p < r1 / PLUMB_R8; p++) {                                  \
            const WBlock *x = (const WBlock *)((const char *)w + (uint64_t)p * panel);             \
            Prefetch pf = prefetch_plan(x, panel, nb * (steps));                                   \
            if (p + PF_TILES >= r1 / PLUMB_R8)                                                     \
                pf.p = NULL;                                                                       \
            for (int64_t t0 = 0; t0 < nt; t0 += R8_TOKENS) {                                       \
                const ABlock *at[R8_TOKENS];                                                       \
                const int T = nt - t0 < R8_TOKENS ? (int)(nt - t0) : R8_TOKENS;                    \
                Prefetch *pp = t0 == 0 && pf.p ? &pf : NULL;                                       \
                for (int t = 0; t < T; t++)                                                        \
                    at[t] = a[t0 + t];                                                             \
                switch (T) {                                                                       \
                case 1: tile(x, nb, at, y + t0, p * PLUMB_R8, pp, 1); break;                       \
                case 2: tile(x, nb, at, y + t0, p * PLUMB_R8, pp, 2); break;                       \
                case 3: tile(x, nb, at, y + t0, p * PLUMB_R8, pp, 3); break;                       \
                default: tile(x, nb, at, y + t0, p * PLUMB_R8, pp, R8_TOKENS); break;              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
    }

R8_DRIVER(gemm_q4_0_r8, PlumbBlockQ4_0x8, PlumbBlockQ8_0X, PLUMB_QK, 1, r8_tile)

/* ------------------------------------------------------------ Q4_K_R8 x Q8_K */

/*
 * Q4_K_R8: per sub-block of 32 columns the eight rows' int16 sums as for
 * Q4_0_R8, multiplied by the rows' 6-bit scales and widened by one madd
 * (each lane's two int16 halves times [sc, sc]), then added in int32 over
 * the super-block; the min term sum_s m[s] * (sum of the token's 32 bytes)
 * comes from the activation's 16-element sums by four madds of [m[s],
 * m[s+1]] pairs.  Per super-block and token two conversions and two FMAs,
 * in the order of plumb_gemm_q4_K_r8_c: the same bits as C.
 */

/* [v[r], v[r]] as int16 halves of lane r, from 8 bytes. */
static inline __m256i k8_dup16(const uint8_t *v)
{
    const __m256i x = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)v));
    return _mm256_or_si256(x, _mm256_slli_epi32(x, 16));
}

/* [lo[r], hi[r]] as int16 halves of lane r. */
static inline __m256i k8_pair16(const uint8_t *lo, const uint8_t *hi)
{
    return _mm256_or_si256(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)lo)),
                           _mm256_slli_epi32(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)hi)), 16));
}

/* is[t] += sub-block s of super-block b against token t. */
GEMM_INLINE void k8_sub(const PlumbBlockQ4_Kx8 *xb, int64_t b, int s, const PlumbBlockQ8_K *const *a, int T,
                        __m256i *is)
{
    const R8W w = r8_unpack(xb->qs[s]);
    const __m256i sc = k8_dup16(xb->sc[s]);
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        is[t] = _mm256_add_epi32(is[t], _mm256_madd_epi16(r8_sums16(&w, a[t][b].qs + 32 * s), sc));
}

/* acc[t] += the super-block's scaled sums and min term. */
GEMM_INLINE void k8_end(const PlumbBlockQ4_Kx8 *xb, int64_t b, const PlumbBlockQ8_K *const *a, int T,
                        const __m256i *is, __m256 *acc)
{
    const __m256i m01 = k8_pair16(xb->m[0], xb->m[1]), m23 = k8_pair16(xb->m[2], xb->m[3]);
    const __m256i m45 = k8_pair16(xb->m[4], xb->m[5]), m67 = k8_pair16(xb->m[6], xb->m[7]);
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xb->d));
    const __m256 dmw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xb->dmin));
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++) {
        const int16_t *bs = a[t][b].bsums;
        const __m256i im = _mm256_add_epi32(
            _mm256_add_epi32(_mm256_madd_epi16(m01, _mm256_set1_epi32(k8_bsum_pair(bs, 0))),
                             _mm256_madd_epi16(m23, _mm256_set1_epi32(k8_bsum_pair(bs, 2)))),
            _mm256_add_epi32(_mm256_madd_epi16(m45, _mm256_set1_epi32(k8_bsum_pair(bs, 4))),
                             _mm256_madd_epi16(m67, _mm256_set1_epi32(k8_bsum_pair(bs, 6)))));
        const __m256 da = _mm256_set1_ps(a[t][b].d);
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[t]), _mm256_mul_ps(dw, da), acc[t]);
        acc[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(im), _mm256_mul_ps(dmw, da), acc[t]);
    }
}


/* ------------------------------------------------------------ Q6_K_R8 x Q8_K */

/*
 * Q6_K_R8: the 6-bit quants of a sub-block are its four low bits, unpacked
 * as Q4_0_R8's nibbles, or'ed with the two high bits shifted into bits 4-5
 * (0..63, unsigned, for maddubs).  Two maddubs (4 products of at most
 * 63 * 127) still fit an int16; each pair is multiplied by its 16 columns'
 * int8 scale by one madd ([sc, sc] halves) and added in int32 over the
 * super-block.  The -32 offset is 32 * sum_k sc[k] * bsums[k], eight madds
 * of scale pairs with the activation's bsum pairs per super-block and
 * token.  Then one conversion and one FMA per super-block and token, as
 * plumb_gemm_q6_K_r8_c does: the same bits.
 */

/* [v[r], v[r]] as int16 halves of lane r, from 8 signed bytes. */
static inline __m256i q6_dup16(const int8_t *v)
{
    const __m256i x = _mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)v));
    return _mm256_or_si256(_mm256_and_si256(x, _mm256_set1_epi32(0xffff)), _mm256_slli_epi32(x, 16));
}

/* [lo[r], hi[r]] as int16 halves of lane r, from signed bytes. */
static inline __m256i q6_pair16(const int8_t *lo, const int8_t *hi)
{
    return _mm256_or_si256(
        _mm256_and_si256(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)lo)), _mm256_set1_epi32(0xffff)),
        _mm256_slli_epi32(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)hi)), 16));
}

/* The 6-bit quants of one sub-block of eight rows, column groups 0..7. */
GEMM_INLINE R8W q6_unpack(const uint8_t *ql, const uint8_t *qh)
{
    const __m256i m3 = _mm256_set1_epi8(0x30);
    const __m256i h0 = _mm256_loadu_si256((const __m256i *)qh);
    const __m256i h1 = _mm256_loadu_si256((const __m256i *)(qh + 32));
    R8W w = r8_unpack(ql);
    w.w0 = _mm256_or_si256(w.w0, _mm256_and_si256(_mm256_slli_epi16(h0, 4), m3));
    w.w1 = _mm256_or_si256(w.w1, _mm256_and_si256(_mm256_slli_epi16(h0, 2), m3));
    w.w2 = _mm256_or_si256(w.w2, _mm256_and_si256(h0, m3));
    w.w3 = _mm256_or_si256(w.w3, _mm256_and_si256(_mm256_srli_epi16(h0, 2), m3));
    w.w4 = _mm256_or_si256(w.w4, _mm256_and_si256(_mm256_slli_epi16(h1, 4), m3));
    w.w5 = _mm256_or_si256(w.w5, _mm256_and_si256(_mm256_slli_epi16(h1, 2), m3));
    w.w6 = _mm256_or_si256(w.w6, _mm256_and_si256(h1, m3));
    w.w7 = _mm256_or_si256(w.w7, _mm256_and_si256(_mm256_srli_epi16(h1, 2), m3));
    return w;
}

#define Q6_GROUP(wg, g) _mm256_maddubs_epi16(wg, _mm256_set1_epi32(load_i32(q + 4 * (g))))
/* sum over the sub-block of scale * (6-bit quant * activation), int32 per row */
GEMM_INLINE __m256i q6_sub(const R8W *w, const int8_t *q, __m256i sc0, __m256i sc1)
{
    const __m256i s01 = _mm256_add_epi16(Q6_GROUP(w->w0, 0), Q6_GROUP(w->w1, 1));
    const __m256i s23 = _mm256_add_epi16(Q6_GROUP(w->w2, 2), Q6_GROUP(w->w3, 3));
    const __m256i s45 = _mm256_add_epi16(Q6_GROUP(w->w4, 4), Q6_GROUP(w->w5, 5));
    const __m256i s67 = _mm256_add_epi16(Q6_GROUP(w->w6, 6), Q6_GROUP(w->w7, 7));
    return _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(s01, sc0), _mm256_madd_epi16(s23, sc0)),
                            _mm256_add_epi32(_mm256_madd_epi16(s45, sc1), _mm256_madd_epi16(s67, sc1)));
}
#undef Q6_GROUP

/* is[t] += sub-block s of super-block b against token t. */
GEMM_INLINE void q6_subs(const PlumbBlockQ6_Kx8 *xb, int64_t b, int s, const PlumbBlockQ8_K *const *a, int T,
                         __m256i *is)
{
    const R8W w = q6_unpack(xb->ql[s], xb->qh[s]);
    const __m256i sc0 = q6_dup16(xb->sc[2 * s]), sc1 = q6_dup16(xb->sc[2 * s + 1]);
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        is[t] = _mm256_add_epi32(is[t], q6_sub(&w, a[t][b].qs + 32 * s, sc0, sc1));
}

/* acc[t] += the super-block's sums less the -32 offset, scaled. */
GEMM_INLINE void q6_end(const PlumbBlockQ6_Kx8 *xb, int64_t b, const PlumbBlockQ8_K *const *a, int T,
                        const __m256i *is, __m256 *acc)
{
    const __m256 dw = _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)xb->d));
    __m256i scp[PLUMB_QK_K / 32];
    for (int k = 0; k < PLUMB_QK_K / 32; k++)
        scp[k] = q6_pair16(xb->sc[2 * k], xb->sc[2 * k + 1]);
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++) {
        const int16_t *bs = a[t][b].bsums;
        __m256i io = _mm256_madd_epi16(scp[0], _mm256_set1_epi32(load_i32(bs)));
        for (int k = 1; k < PLUMB_QK_K / 32; k++)
            io = _mm256_add_epi32(io, _mm256_madd_epi16(scp[k], _mm256_set1_epi32(load_i32(bs + 2 * k))));
        const __m256i v = _mm256_sub_epi32(is[t], _mm256_slli_epi32(io, 5));
        acc[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(v), _mm256_mul_ps(dw, _mm256_set1_ps(a[t][b].d)), acc[t]);
    }
}

/* The tile of both K types: per super-block the sub-block steps, then the
 * super-block step; q6 (a constant once inlined) picks the type's. */
GEMM_INLINE void k_tile(const void *x, int64_t nb, const PlumbBlockQ8_K *const *a, float *const *y, int64_t row,
                        Prefetch *pf, int T, int q6)
{
    __m256 acc[R8_TOKENS];
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m256i is[R8_TOKENS];
        _Pragma("GCC unroll 8")
        for (int t = 0; t < T; t++)
            is[t] = _mm256_setzero_si256();
        for (int s = 0; s < PLUMB_QK_K / 32; s++) {
            if (pf)
                prefetch_step(pf);
            if (q6)
                q6_subs((const PlumbBlockQ6_Kx8 *)x + b, b, s, a, T, is);
            else
                k8_sub((const PlumbBlockQ4_Kx8 *)x + b, b, s, a, T, is);
        }
        if (q6)
            q6_end((const PlumbBlockQ6_Kx8 *)x + b, b, a, T, is, acc);
        else
            k8_end((const PlumbBlockQ4_Kx8 *)x + b, b, a, T, is, acc);
    }
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        _mm256_storeu_ps(y[t] + row, acc[t]);
}

GEMM_INLINE void k8_tile(const PlumbBlockQ4_Kx8 *x, int64_t nb, const PlumbBlockQ8_K *const *a,
                         float *const *y, int64_t row, Prefetch *pf, int T)
{
    k_tile(x, nb, a, y, row, pf, T, 0);
}

GEMM_INLINE void q6_tile(const PlumbBlockQ6_Kx8 *x, int64_t nb, const PlumbBlockQ8_K *const *a,
                         float *const *y, int64_t row, Prefetch *pf, int T)
{
    k_tile(x, nb, a, y, row, pf, T, 1);
}

R8_DRIVER(gemm_q4_K_r8, PlumbBlockQ4_Kx8, PlumbBlockQ8_K, PLUMB_QK_K, PLUMB_QK_K / 32, k8_tile)
R8_DRIVER(gemm_q6_K_r8, PlumbBlockQ6_Kx8, PlumbBlockQ8_K, PLUMB_QK_K, PLUMB_QK_K / 32, q6_tile)

/* ------------------------------------------------------------ K-quants x Q8_K */

/*
 * Q4_K and Q6_K against Q8_K: per super-block of 256 and (row, token) the
 * integer sums of the sub-blocks, each multiplied by its integer scale by
 * madd, add up in one int32 register; the min (Q4_K) or offset (Q6_K) term
 * comes from the activation's 16-element sums (bsums).  The four rows'
 * registers are folded as for Q4_0 ([rows | rows], both halves of the same
 * super-block) and scaled in float once per super-block and token.  Tiles
 * are 4 rows x up to 2 tokens (the int32 sums of 8 (row, token) pairs stay
 * in registers across a super-block).
 */
#define TILE_TOKENS_K 2

/* 16 int16 lanes: sc[k] in the low 128-bit lane, sc[k+1] in the high, from
 * 8 int16 scales held in both lanes of sc8x2 (k even). */
static inline __m256i scales_pair16(__m256i sc8x2, int k)
{
    const char a = (char)(2 * k), b = (char)(2 * k + 2);
    return _mm256_shuffle_epi8(sc8x2, _mm256_setr_epi8(a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1, a, a + 1,
                                                       a, a + 1, a, a + 1, b, b + 1, b, b + 1, b, b + 1, b, b + 1,
                                                       b, b + 1, b, b + 1, b, b + 1, b, b + 1));
}

/* All 16 int16 lanes = entry k of the 8 int16 scales held in both lanes. */
static inline __m256i scale_all16(__m256i sc8x2, int k)
{
    const __m256i sel = _mm256_set1_epi16((int16_t)(((2 * k + 1) << 8) | (2 * k)));
    return _mm256_shuffle_epi8(sc8x2, sel);
}

/* [f0 f1 f2 f3 | f0 f1 f2 f3] from four half-precision values, assembled in
 * a general-purpose register. */
static inline __m256 halves4(uint16_t h0, uint16_t h1, uint16_t h2, uint16_t h3)
{
    const uint64_t v = (uint64_t)h0 | (uint64_t)h1 << 16 | (uint64_t)h2 << 32 | (uint64_t)h3 << 48;
    return _mm256_cvtph_ps(_mm_set1_epi64x((int64_t)v));
}

/* Q4_K, Q5_K: d of the four rows' super-block i in both halves (*d) and
 * dmin likewise (*dmin); both layouts begin with d, dmin. */
static inline void q45_K_d_dmin(const uint8_t *const *x, int64_t i, size_t bs, __m256 *d, __m256 *dmin)
{
    const uint64_t lo = (uint64_t)x86_load_u32(x[0] + i * bs) | (uint64_t)x86_load_u32(x[1] + i * bs) << 32;
    const uint64_t hi = (uint64_t)x86_load_u32(x[2] + i * bs) | (uint64_t)x86_load_u32(x[3] + i * bs) << 32;
    /* [d0 m0 d1 m1 d2 m2 d3 m3] */
    const __m256 v = _mm256_cvtph_ps(_mm_set_epi64x((int64_t)hi, (int64_t)lo));
    *d = _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6));
    *dmin = _mm256_permutevar8x32_ps(v, _mm256_setr_epi32(1, 3, 5, 7, 1, 3, 5, 7));
}

/* Row tiles and token tiles of a K-quant call; `tile` fills acc[t]. */
#define K_GEMM_BODY(BlockT, tile)                                                                  \
    const int64_t nsb = n / PLUMB_QK_K;                                                           \
    for (int64_t r = r0; r < r1; r += TILE_ROWS) {                                               \
        const BlockT *x[TILE_ROWS];                                                               \
        int64_t row[TILE_ROWS];                                                                   \
        const int n_rows = r1 - r < TILE_ROWS ? (int)(r1 - r) : TILE_ROWS;                        \
        for (int s = 0; s < TILE_ROWS; s++) {                                                     \
            row[s] = r + (s < n_rows ? s : n_rows - 1);                                           \
            x[s] = (const BlockT *)((const char *)w + (uint64_t)row[s] * w_stride);               \
        }                                                                                         \
        for (int64_t t0 = 0; t0 < nt; t0 += TILE_TOKENS_K) {                                      \
            const PlumbBlockQ8_K *at[TILE_TOKENS_K];                                              \
            __m256 acc[TILE_TOKENS_K];                                                            \
            const int T = nt - t0 < TILE_TOKENS_K ? (int)(nt - t0) : TILE_TOKENS_K;               \
            Prefetch pf = prefetch_plan(x[0], TILE_ROWS * w_stride, nsb);                         \
            if (t0 > 0)                                                                           \
                pf.p = NULL;                                                                      \
            for (int t = 0; t < T; t++)                                                           \
                at[t] = a[t0 + t];                                                                \
            if (T == 1)                                                                           \
                tile(nsb, x, at, acc, pf, 1);                                                     \
            else                                                                                  \
                tile(nsb, x, at, acc, pf, 2);                                                     \
            store_tile(acc, T, y + t0, row, n_rows);                                              \
        }                                                                                         \
    }

/* Super-block b (its first byte) of one Q4_K or Q5_K row with T tokens:
 * the scaled sums and the mins term, int32 [8 lanes] each.  Q5_K (five)
 * adds the fifth bit from qh: bit 2c of qh[j] is element j of the low
 * nibbles of 64-column chunk c, bit 2c + 1 that of its high nibbles. */
GEMM_INLINE void q45_K_row(const uint8_t *b, const PlumbBlockQ8_K *const *a, int64_t i,
                           __m256i *isum, __m256i *imin, int T, int five)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), b4 = _mm256_set1_epi8(0x10);
    const size_t off_sc = five ? offsetof(PlumbBlockQ5_K, scales) : offsetof(PlumbBlockQ4_K, scales);
    const uint8_t *qs = b + (five ? offsetof(PlumbBlockQ5_K, qs) : offsetof(PlumbBlockQ4_K, qs));
    const __m128i sm = x86_q4_K_scales_mins(b + off_sc);
    const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(sm));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_unpackhi_epi8(sm, sm));
    __m256i hb = five ? _mm256_loadu_si256((const __m256i *)(b + offsetof(PlumbBlockQ5_K, qh)))
                      : _mm256_setzero_si256();
    UNROLL
    for (int t = 0; t < T; t++) {
        imin[t] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a[t][i].bsums), mins);
        isum[t] = _mm256_setzero_si256();
    }
    UNROLL
    for (int c = 0; c < 4; c++) {
        const __m256i v = _mm256_loadu_si256((const __m256i *)(qs + 32 * c));
        __m256i lo = _mm256_and_si256(v, m4);
        __m256i hi = _mm256_and_si256(_mm256_srli_epi16(v, 4), m4);
        const __m256i sl = scale_all16(sc, 2 * c), sh = scale_all16(sc, 2 * c + 1);
        if (five) {
            lo = _mm256_or_si256(lo, _mm256_and_si256(_mm256_slli_epi16(hb, 4), b4));
            hi = _mm256_or_si256(hi, _mm256_and_si256(_mm256_slli_epi16(hb, 3), b4));
            hb = _mm256_srli_epi16(hb, 2);
        }
        UNROLL
        for (int t = 0; t < T; t++) {
            const int8_t *q = a[t][i].qs + 64 * c;
            const __m256i pl = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)q));
            const __m256i ph = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(q + 32)));
            isum[t] = x86_dpwssd256(x86_dpwssd256(isum[t], pl, sl), ph, sh);
        }
    }
}

/* The tile of four Q4_K or Q5_K rows (x: their first bytes). */
GEMM_INLINE void q45_K_tile(int64_t nsb, const uint8_t *const *x, const PlumbBlockQ8_K *const *a,
                            __m256 *acc, Prefetch pf, int T, int five)
{
    const size_t bs = five ? sizeof(PlumbBlockQ5_K) : sizeof(PlumbBlockQ4_K);
    UNROLL
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        __m256i hs[2][TILE_TOKENS_K], hm[2][TILE_TOKENS_K];
        prefetch_step(&pf);
        UNROLL
        for (int pr = 0; pr < 2; pr++) {
            __m256i s0[TILE_TOKENS_K], m0[TILE_TOKENS_K], s1[TILE_TOKENS_K], m1[TILE_TOKENS_K];
            q45_K_row(x[2 * pr] + i * bs, a, i, s0, m0, T, five);
            q45_K_row(x[2 * pr + 1] + i * bs, a, i, s1, m1, T, five);
            UNROLL
            for (int t = 0; t < T; t++) {
                hs[pr][t] = _mm256_hadd_epi32(s0[t], s1[t]);
                hm[pr][t] = _mm256_hadd_epi32(m0[t], m1[t]);
            }
        }
        {
            __m256 d, dmin;
            q45_K_d_dmin(x, i, bs, &d, &dmin);
            UNROLL
            for (int t = 0; t < T; t++) {
                const __m256 da = _mm256_set1_ps(a[t][i].d);
                const __m256 fs = _mm256_cvtepi32_ps(_mm256_hadd_epi32(hs[0][t], hs[1][t]));
                const __m256 fm = _mm256_cvtepi32_ps(_mm256_hadd_epi32(hm[0][t], hm[1][t]));
                acc[t] = _mm256_fmadd_ps(fs, _mm256_mul_ps(d, da), acc[t]);
                acc[t] = _mm256_fnmadd_ps(fm, _mm256_mul_ps(dmin, da), acc[t]);
            }
        }
    }
}

GEMM_INLINE void q4_K_tile(int64_t nsb, const PlumbBlockQ4_K *const *x, const PlumbBlockQ8_K *const *a,
                           __m256 *acc, Prefetch pf, int T)
{
    const uint8_t *xb[TILE_ROWS] = { (const uint8_t *)x[0], (const uint8_t *)x[1], (const uint8_t *)x[2],
                                     (const uint8_t *)x[3] };
    q45_K_tile(nsb, xb, a, acc, pf, T, 0);
}

GEMM_INLINE void q5_K_tile(int64_t nsb, const PlumbBlockQ5_K *const *x, const PlumbBlockQ8_K *const *a,
                           __m256 *acc, Prefetch pf, int T)
{
    const uint8_t *xb[TILE_ROWS] = { (const uint8_t *)x[0], (const uint8_t *)x[1], (const uint8_t *)x[2],
                                     (const uint8_t *)x[3] };
    q45_K_tile(nsb, xb, a, acc, pf, T, 1);
}

static void gemm_q4_K_q8_K(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                           const void *const *a, float *const *y, int64_t nt)
{
    K_GEMM_BODY(PlumbBlockQ4_K, q4_K_tile)
}

static void gemm_q5_K_q8_K(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                           const void *const *a, float *const *y, int64_t nt)
{
    K_GEMM_BODY(PlumbBlockQ5_K, q5_K_tile)
}

/* Super-block i of one Q6_K row with T tokens: sum of scale * (q - 32) * a,
 * int32 [8 lanes]. */
GEMM_INLINE void q6_K_row(const PlumbBlockQ6_K *b, const PlumbBlockQ8_K *const *a, int64_t i,
                          __m256i *isum, int T)
{
    const __m256i m4 = _mm256_set1_epi8(0x0f), m30 = _mm256_set1_epi8(0x30);
    const __m256i sc = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)b->scales));
    const __m256i half[2] = { _mm256_permute2x128_si256(sc, sc, 0x00),
                              _mm256_permute2x128_si256(sc, sc, 0x11) };
    __m256i off[TILE_TOKENS_K];
    UNROLL
    for (int t = 0; t < T; t++) {
        /* sum over groups of scale * bsum: times 32, the offset of q - 32 */
        off[t] = _mm256_madd_epi16(_mm256_loadu_si256((const __m256i *)a[t][i].bsums), sc);
        isum[t] = _mm256_setzero_si256();
    }
    UNROLL
    for (int h = 0; h < 2; h++) {
        const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h));
        const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b->ql + 64 * h + 32));
        const __m256i qh = _mm256_loadu_si256((const __m256i *)(b->qh + 32 * h));
        __m256i q[4];
        q[0] = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 4), m30));
        q[1] = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(qh, 2), m30));
        q[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(qh, m30));
        q[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                               _mm256_and_si256(_mm256_srli_epi16(qh, 2), m30));
        UNROLL
        for (int j = 0; j < 4; j++) {
            const __m256i sp = scales_pair16(half[h], 2 * j);
            UNROLL
            for (int t = 0; t < T; t++)
                isum[t] = x86_dpwssd256(isum[t],
                    _mm256_maddubs_epi16(q[j], _mm256_loadu_si256((const __m256i *)(a[t][i].qs + 128 * h + 32 * j))),
                    sp);
        }
    }
    UNROLL
    for (int t = 0; t < T; t++)
        isum[t] = _mm256_sub_epi32(isum[t], _mm256_slli_epi32(off[t], 5));
}

GEMM_INLINE void q6_K_tile(int64_t nsb, const PlumbBlockQ6_K *const *x, const PlumbBlockQ8_K *const *a,
                           __m256 *acc, Prefetch pf, int T)
{
    UNROLL
    for (int t = 0; t < T; t++)
        acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nsb; i++) {
        __m256i hs[2][TILE_TOKENS_K];
        prefetch_step(&pf);
        UNROLL
        for (int pr = 0; pr < 2; pr++) {
            __m256i s0[TILE_TOKENS_K], s1[TILE_TOKENS_K];
            q6_K_row(&x[2 * pr][i], a, i, s0, T);
            q6_K_row(&x[2 * pr + 1][i], a, i, s1, T);
            UNROLL
            for (int t = 0; t < T; t++)
                hs[pr][t] = _mm256_hadd_epi32(s0[t], s1[t]);
        }
        {
            const __m256 d = halves4(x[0][i].d, x[1][i].d, x[2][i].d, x[3][i].d);
            UNROLL
            for (int t = 0; t < T; t++) {
                const __m256 fs = _mm256_cvtepi32_ps(_mm256_hadd_epi32(hs[0][t], hs[1][t]));
                acc[t] = _mm256_fmadd_ps(fs, _mm256_mul_ps(d, _mm256_set1_ps(a[t][i].d)), acc[t]);
            }
        }
    }
}

static void gemm_q6_K_q8_K(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                           const void *const *a, float *const *y, int64_t nt)
{
    K_GEMM_BODY(PlumbBlockQ6_K, q6_K_tile)
}

/* ------------------------------------------------------------ F32 x F32, F16 x F16 */

/*
 * Float rows (the router, and attention scores: cached keys against the
 * query heads of a group), F32 or F16 (widened exactly by vcvtph2ps).
 * Tiles of 4 rows x 2 tokens; each (row, token) has its own 8-lane FMA
 * accumulator over the row in order, a zero-padded tail for the last n % 8
 * elements, and one horizontal sum at the end.
 */
#define TILE_TOKENS_F 2

static inline __m256i f32_tail_mask(int64_t r)
{
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int32_t)r), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* 8 elements from i on (F32 or F16), or the n - i < 8 left, zero-padded. */
GEMM_INLINE __m256 fl_load8(const void *p, int64_t i, int f16)
{
    if (f16)
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)p + i)));
    return _mm256_loadu_ps((const float *)p + i);
}

GEMM_INLINE __m256 fl_tail8(const void *p, int64_t i, int64_t n, int f16)
{
    if (f16) {
        uint16_t h[8] = { 0 };
        memcpy(h, (const uint16_t *)p + i, (size_t)(n - i) * sizeof *h);
        return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)h));
    }
    return _mm256_maskload_ps((const float *)p + i, f32_tail_mask(n - i));
}

GEMM_INLINE void fl_tile(int64_t n, const void *const *x, const void *const *a, float *out, int T, int f16)
{
    __m256 acc[TILE_ROWS][TILE_TOKENS_F];
    int64_t i = 0;
    UNROLL
    for (int s = 0; s < TILE_ROWS; s++)
        UNROLL
        for (int t = 0; t < T; t++)
            acc[s][t] = _mm256_setzero_ps();
    for (; i + 8 <= n; i += 8) {
        __m256 av[TILE_TOKENS_F];
        UNROLL
        for (int t = 0; t < T; t++)
            av[t] = fl_load8(a[t], i, f16);
        UNROLL
        for (int s = 0; s < TILE_ROWS; s++) {
            const __m256 w = fl_load8(x[s], i, f16);
            UNROLL
            for (int t = 0; t < T; t++)
                acc[s][t] = _mm256_fmadd_ps(w, av[t], acc[s][t]);
        }
    }
    if (i < n) {
        __m256 av[TILE_TOKENS_F];
        UNROLL
        for (int t = 0; t < T; t++)
            av[t] = fl_tail8(a[t], i, n, f16);
        UNROLL
        for (int s = 0; s < TILE_ROWS; s++) {
            const __m256 w = fl_tail8(x[s], i, n, f16);
            UNROLL
            for (int t = 0; t < T; t++)
                acc[s][t] = _mm256_fmadd_ps(w, av[t], acc[s][t]);
        }
    }
    UNROLL
    for (int s = 0; s < TILE_ROWS; s++)
        UNROLL
        for (int t = 0; t < T; t++)
            out[s * TILE_TOKENS_F + t] = x86_hsum_ps256(acc[s][t]);
}

GEMM_INLINE void gemm_fl(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                         const void *const *a, float *const *y, int64_t nt, int f16)
{
    const uint64_t row_bytes = (uint64_t)n * (f16 ? sizeof(uint16_t) : sizeof(float));
    for (int64_t r = r0; r < r1; r += TILE_ROWS) {
        const void *x[TILE_ROWS];
        int64_t row[TILE_ROWS];
        const int n_rows = r1 - r < TILE_ROWS ? (int)(r1 - r) : TILE_ROWS;
        /* rows may be strided (the key cache): ask for the tile PF_TILES ahead */
        if (r + (PF_TILES + 1) * TILE_ROWS <= r1)
            for (int s = 0; s < TILE_ROWS; s++) {
                const char *pr = (const char *)w + (uint64_t)(r + PF_TILES * TILE_ROWS + s) * w_stride;
                for (uint64_t o = 0; o < row_bytes; o += 64)
                    _mm_prefetch(pr + o, _MM_HINT_T0);
            }
        for (int s = 0; s < TILE_ROWS; s++) {
            row[s] = r + (s < n_rows ? s : n_rows - 1);
            x[s] = (const char *)w + (uint64_t)row[s] * w_stride;
        }
        for (int64_t t0 = 0; t0 < nt; t0 += TILE_TOKENS_F) {
            const void *at[TILE_TOKENS_F];
            float out[TILE_ROWS * TILE_TOKENS_F];
            const int T = nt - t0 < TILE_TOKENS_F ? (int)(nt - t0) : TILE_TOKENS_F;
            for (int t = 0; t < T; t++)
                at[t] = a[t0 + t];
            if (T == 1)
                fl_tile(n, x, at, out, 1, f16);
            else
                fl_tile(n, x, at, out, 2, f16);
            for (int t = 0; t < T; t++)
                for (int s = 0; s < n_rows; s++)
                    y[t0 + t][row[s]] = out[s * TILE_TOKENS_F + t];
        }
    }
}

static void gemm_f32_f32(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                         const void *const *a, float *const *y, int64_t nt)
{
    gemm_fl(n, w, w_stride, r0, r1, a, y, nt, 0);
}

static void gemm_f16_f16(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                         const void *const *a, float *const *y, int64_t nt)
{
    gemm_fl(n, w, w_stride, r0, r1, a, y, nt, 1);
}

/* The row-major quantised products: the ones whose integer multiply-adds
 * go through x86_dpbusd256 / x86_dpwssd256, installed alone by the VNNI
 * tiers that compile this file again (gemm_avxvnni.c,
 * gemm_rows_avx512vnni.c). */
static void install_row_gemms(PlumbDsp *dsp)
{
    dsp->gemm[PLUMB_QTYPE_Q4_0] = gemm_q4_0_q8_0;
    dsp->gemm[PLUMB_QTYPE_Q8_0] = gemm_q8_0_q8_0;
    dsp->gemm[PLUMB_QTYPE_Q4_K] = gemm_q4_K_q8_K;
    dsp->gemm[PLUMB_QTYPE_Q5_K] = gemm_q5_K_q8_K;
    dsp->gemm[PLUMB_QTYPE_Q6_K] = gemm_q6_K_q8_K;
    /* for a single token the Q4_K and Q5_K dots are as fast as the tile
     * (measured with the weights in DRAM); Q6_K's tile is faster there
     * thanks to the prefetch */
    dsp->gemm_min_tokens[PLUMB_QTYPE_Q4_K] = 2;
    dsp->gemm_min_tokens[PLUMB_QTYPE_Q5_K] = 2;
}

/* The interleaved products: one panel of eight rows at a time.  The VNNI
 * tiers that compile this file again install them too (Q4_0_R8's sums then
 * by vpdpbusd); the AVX-512 VNNI tier hands them its single tokens. */
static void install_r8_gemms(PlumbDsp *dsp)
{
    dsp->gemm[PLUMB_QTYPE_Q4_0_R8] = gemm_q4_0_r8;
    dsp->gemm[PLUMB_QTYPE_Q4_K_R8] = gemm_q4_K_r8;
    dsp->gemm[PLUMB_QTYPE_Q6_K_R8] = gemm_q6_K_r8;
}

void plumb_dsp_init_avx2_gemm(PlumbDsp *dsp)
{
    dsp->gemm[PLUMB_QTYPE_F32] = gemm_f32_f32;
    dsp->gemm[PLUMB_QTYPE_F16] = gemm_f16_f16;
    install_row_gemms(dsp);
    install_r8_gemms(dsp);
}
