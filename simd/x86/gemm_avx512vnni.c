/*
 * gemm_avx512vnni.c — the AVX-512 VNNI tiled products of the interleaved
 * types (dsp->gemm for Q4_0_R8, Q4_K_R8, Q6_K_R8; see quant/qtypes.h).
 *
 * One 512-bit register holds the same four columns of two panels of eight
 * rows (the low half panel p, the high half panel p+1; lane r and r+8 for
 * row r of each), so a tile is 16 rows, and vpdpbusd multiplies the
 * unsigned weight bytes by the token's four signed activation bytes
 * (broadcast) and adds the four products into each row's int32 lane: eight
 * instructions per 32 columns, 16 rows and one token, where AVX2 needs
 * eight maddubs, seven adds and a madd for 8 rows.  The sub-block and
 * offset terms of the K types use vpmulld and vpdpwssd on int32 and int16
 * pairs.  Up to VT_TOKENS tokens share one unpacking of the weights.
 *
 * Same bits as the C definitions (plumb_gemm_*_r8_c): the integer sums per
 * block are exact whatever their order, and the float steps per block and
 * token are the C definition's, in its order.  A range with an odd number
 * of panels computes its last panel in both halves and stores the low one,
 * so every row takes the same operations whatever the split.
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dsp.h"
#include "gemm_util.h"
#include "qtypes.h"
#include "x86_kernels.h"

#define VT_TOKENS 8 /* tokens per tile: 8 accumulators of 16 rows */

/* The same 32 bytes of panels p (lo) and p+1 (hi). */
static inline __m512i pair256(const void *lo, const void *hi)
{
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)lo)),
                              _mm256_loadu_si256((const __m256i *)hi), 1);
}

/* The two panels' eight fp16 row scales as 16 floats. */
static inline __m512 scales16(const uint16_t *lo, const uint16_t *hi)
{
    const __m256i h = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i *)lo)),
                                              _mm_loadu_si128((const __m128i *)hi), 1);
    return _mm512_cvtph_ps(h);
}

/* The two panels' eight bytes as 16 int32 lanes: unsigned, signed. */
static inline __m512i bytes16_u(const void *lo, const void *hi)
{
    return _mm512_cvtepu8_epi32(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)lo),
                                                   _mm_loadl_epi64((const __m128i *)hi)));
}

static inline __m512i bytes16_s(const void *lo, const void *hi)
{
    return _mm512_cvtepi8_epi32(_mm_unpacklo_epi64(_mm_loadl_epi64((const __m128i *)lo),
                                                   _mm_loadl_epi64((const __m128i *)hi)));
}

/* [lo[r], hi[r]] as the int16 halves of lane r, for vpdpwssd. */
static inline __m512i pair16(__m512i lo, __m512i hi)
{
    return _mm512_or_si512(_mm512_and_si512(lo, _mm512_set1_epi32(0xffff)), _mm512_slli_epi32(hi, 16));
}

static inline void store16(float *y, __m512 v, int full)
{
    if (full)
        _mm512_storeu_ps(y, v);
    else
        _mm256_storeu_ps(y, _mm512_castps512_ps256(v));
}

/* Column groups 0..7 (4 columns each) of one 32-column block of two panels:
 * the 0..15 nibbles of 128 bytes laid out as in PlumbBlockQ4_0x8. */
typedef struct VW {
    __m512i g[8];
} VW;

GEMM_INLINE VW v_unpack4(const uint8_t *lo, const uint8_t *hi)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    VW w;
    _Pragma("GCC unroll 4")
    for (int i = 0; i < 4; i++) {
        const __m512i v = pair256(lo + 32 * i, hi + 32 * i);
        w.g[i] = _mm512_and_si512(v, m4);
        w.g[i + 4] = _mm512_and_si512(_mm512_srli_epi16(v, 4), m4);
    }
    return w;
}

/* The 6-bit quants of one sub-block of two Q6_K_R8 panels (0..63). */
GEMM_INLINE VW v_unpack6(const uint8_t *ql0, const uint8_t *qh0, const uint8_t *ql1, const uint8_t *qh1)
{
    const __m512i m3 = _mm512_set1_epi8(0x30);
    const __m512i h0 = pair256(qh0, qh1), h1 = pair256(qh0 + 32, qh1 + 32);
    VW w = v_unpack4(ql0, ql1);
    w.g[0] = _mm512_or_si512(w.g[0], _mm512_and_si512(_mm512_slli_epi16(h0, 4), m3));
    w.g[1] = _mm512_or_si512(w.g[1], _mm512_and_si512(_mm512_slli_epi16(h0, 2), m3));
    w.g[2] = _mm512_or_si512(w.g[2], _mm512_and_si512(h0, m3));
    w.g[3] = _mm512_or_si512(w.g[3], _mm512_and_si512(_mm512_srli_epi16(h0, 2), m3));
    w.g[4] = _mm512_or_si512(w.g[4], _mm512_and_si512(_mm512_slli_epi16(h1, 4), m3));
    w.g[5] = _mm512_or_si512(w.g[5], _mm512_and_si512(_mm512_slli_epi16(h1, 2), m3));
    w.g[6] = _mm512_or_si512(w.g[6], _mm512_and_si512(h1, m3));
    w.g[7] = _mm512_or_si512(w.g[7], _mm512_and_si512(_mm512_srli_epi16(h1, 2), m3));
    return w;
}

#if defined(PLUMB_EMU512_H)
#define V_GROUP(acc, k) _mm512_dpbusd_epi32(acc, w->g[k], _mm512_set1_epi32(load_i32(q + 4 * (k))))
#else
typedef int32_t __attribute__((may_alias)) v_i32a;
static inline __m512i v_dpbusd_bcst(__m512i acc, __m512i w, const int8_t *p)
{
    __asm__("vpdpbusd %2%{1to16%}, %1, %0" : "+v"(acc) : "v"(w), "m"(*(const v_i32a *)p));
    return acc;
}
#define V_GROUP(acc, k) v_dpbusd_bcst(acc, w->g[k], q + 4 * (k))
#endif

/* Per row, the sum of weight * activation over column groups g0..g0+3. */
GEMM_INLINE __m512i v_dot16(const VW *w, const int8_t *q, int g0)
{
    const __m512i z = _mm512_setzero_si512();
    const __m512i s0 = V_GROUP(V_GROUP(z, g0), g0 + 2);
    const __m512i s1 = V_GROUP(V_GROUP(z, g0 + 1), g0 + 3);
    return _mm512_add_epi32(s0, s1);
}

/* Per row, the sum over all 32 columns. */
GEMM_INLINE __m512i v_dot32(const VW *w, const int8_t *q)
{
    const __m512i z = _mm512_setzero_si512();
    const __m512i s0 = V_GROUP(V_GROUP(V_GROUP(V_GROUP(z, 0), 2), 4), 6);
    const __m512i s1 = V_GROUP(V_GROUP(V_GROUP(V_GROUP(z, 1), 3), 5), 7);
    return _mm512_add_epi32(s0, s1);
}
#undef V_GROUP

/* ------------------------------------------------------------ Q4_0_R8 */

GEMM_INLINE void v_tile_q4_0(const PlumbBlockQ4_0x8 *x0, const PlumbBlockQ4_0x8 *x1, int64_t nb,
                             const PlumbBlockQ8_0X *const *a, float *const *y, int64_t row, Prefetch *pf,
                             int T, int full)
{
    __m512 acc[VT_TOKENS];
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        if (pf)
            prefetch_step(pf);
        const VW w = v_unpack4(x0[b].qs, x1[b].qs);
        const __m512 dw = scales16(x0[b].d, x1[b].d);
        _Pragma("GCC unroll 8")
        for (int t = 0; t < T; t++) {
            const PlumbBlockQ8_0X *ab = &a[t][b];
            const __m512i s = _mm512_sub_epi32(v_dot32(&w, ab->qs), _mm512_set1_epi32(ab->s8));
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(ab->d)), acc[t]);
        }
    }
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        store16(y[t] + row, acc[t], full);
}

/* ------------------------------------------------------------ Q4_K_R8, Q6_K_R8 */

/*
 * One tile skeleton for both K types; q6 (a constant once inlined) picks
 * the type's two steps.  Per super-block:
 * - Q4_K_R8: the sub-blocks' exact sums times their 6-bit scales, and the
 *   min term sum_s m[s] * (the token's sum over sub-block s), then
 *   d * sum - dmin * min as plumb_gemm_q4_K_r8_c;
 * - Q6_K_R8: each 16 columns' exact sum of the 0..63 quants times the
 *   activation, times its int8 scale; the -32 offset as
 *   32 * sum_k sc[k] * bsums[k]; then one conversion and FMA as
 *   plumb_gemm_q6_K_r8_c.
 */

/* is[t] += sub-block s of super-block b (of both panels) against token t. */
GEMM_INLINE void vk_sub(const void *x0, const void *x1, int64_t b, int s, const PlumbBlockQ8_K *const *a, int T,
                        int q6, __m512i *is)
{
    if (!q6) {
        const PlumbBlockQ4_Kx8 *b0 = (const PlumbBlockQ4_Kx8 *)x0 + b, *b1 = (const PlumbBlockQ4_Kx8 *)x1 + b;
        const VW w = v_unpack4(b0->qs[s], b1->qs[s]);
        const __m512i sc = bytes16_u(b0->sc[s], b1->sc[s]);
        _Pragma("GCC unroll 8")
        for (int t = 0; t < T; t++)
            is[t] = _mm512_add_epi32(is[t], _mm512_mullo_epi32(v_dot32(&w, a[t][b].qs + 32 * s), sc));
        return;
    }
    const PlumbBlockQ6_Kx8 *b0 = (const PlumbBlockQ6_Kx8 *)x0 + b, *b1 = (const PlumbBlockQ6_Kx8 *)x1 + b;
    const VW w = v_unpack6(b0->ql[s], b0->qh[s], b1->ql[s], b1->qh[s]);
    const __m512i sc0 = bytes16_s(b0->sc[2 * s], b1->sc[2 * s]);
    const __m512i sc1 = bytes16_s(b0->sc[2 * s + 1], b1->sc[2 * s + 1]);
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++) {
        const int8_t *q = a[t][b].qs + 32 * s;
        is[t] = _mm512_add_epi32(is[t], _mm512_add_epi32(_mm512_mullo_epi32(v_dot16(&w, q, 0), sc0),
                                                         _mm512_mullo_epi32(v_dot16(&w, q, 4), sc1)));
    }
}

/* acc[t] += super-block b's scaled sums is[t] and its min / offset term. */
GEMM_INLINE void vk_end(const void *x0, const void *x1, int64_t b, const PlumbBlockQ8_K *const *a, int T, int q6,
                        const __m512i *is, __m512 *acc)
{
    if (!q6) {
        const PlumbBlockQ4_Kx8 *b0 = (const PlumbBlockQ4_Kx8 *)x0 + b, *b1 = (const PlumbBlockQ4_Kx8 *)x1 + b;
        __m512i mp[PLUMB_QK_K / 64];
        for (int k = 0; k < PLUMB_QK_K / 64; k++)
            mp[k] = pair16(bytes16_u(b0->m[2 * k], b1->m[2 * k]), bytes16_u(b0->m[2 * k + 1], b1->m[2 * k + 1]));
        const __m512 dw = scales16(b0->d, b1->d), dmw = scales16(b0->dmin, b1->dmin);
        _Pragma("GCC unroll 8")
        for (int t = 0; t < T; t++) {
            const int16_t *bs = a[t][b].bsums;
            __m512i im = _mm512_setzero_si512();
            for (int k = 0; k < PLUMB_QK_K / 64; k++)
                im = _mm512_dpwssd_epi32(im, mp[k], _mm512_set1_epi32(k8_bsum_pair(bs, 2 * k)));
            const __m512 da = _mm512_set1_ps(a[t][b].d);
            acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(is[t]), _mm512_mul_ps(dw, da), acc[t]);
            acc[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(im), _mm512_mul_ps(dmw, da), acc[t]);
        }
        return;
    }
    const PlumbBlockQ6_Kx8 *b0 = (const PlumbBlockQ6_Kx8 *)x0 + b, *b1 = (const PlumbBlockQ6_Kx8 *)x1 + b;
    __m512i scp[PLUMB_QK_K / 32];
    for (int k = 0; k < PLUMB_QK_K / 32; k++)
        scp[k] = pair16(bytes16_s(b0->sc[2 * k], b1->sc[2 * k]), bytes16_s(b0->sc[2 * k + 1], b1->sc[2 * k + 1]));
    const __m512 dw = scales16(b0->d, b1->d);
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++) {
        const int16_t *bs = a[t][b].bsums;
        __m512i io = _mm512_setzero_si512();
        for (int k = 0; k < PLUMB_QK_K / 32; k++)
            io = _mm512_dpwssd_epi32(io, scp[k], _mm512_set1_epi32(load_i32(bs + 2 * k)));
        const __m512i v = _mm512_sub_epi32(is[t], _mm512_slli_epi32(io, 5));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(v), _mm512_mul_ps(dw, _mm512_set1_ps(a[t][b].d)), acc[t]);
    }
}

GEMM_INLINE void v_tile_k(const void *x0, const void *x1, int64_t nb, const PlumbBlockQ8_K *const *a,
                          float *const *y, int64_t row, Prefetch *pf, int T, int full, int q6)
{
    __m512 acc[VT_TOKENS];
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        acc[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        __m512i is[VT_TOKENS];
        _Pragma("GCC unroll 8")
        for (int t = 0; t < T; t++)
            is[t] = _mm512_setzero_si512();
        for (int s = 0; s < PLUMB_QK_K / 32; s++) {
            if (pf)
                prefetch_step(pf);
            vk_sub(x0, x1, b, s, a, T, q6, is);
        }
        vk_end(x0, x1, b, a, T, q6, is, acc);
    }
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        store16(y[t] + row, acc[t], full);
}

GEMM_INLINE void v_tile_q4_K(const PlumbBlockQ4_Kx8 *x0, const PlumbBlockQ4_Kx8 *x1, int64_t nb,
                             const PlumbBlockQ8_K *const *a, float *const *y, int64_t row, Prefetch *pf,
                             int T, int full)
{
    v_tile_k(x0, x1, nb, a, y, row, pf, T, full, 0);
}

GEMM_INLINE void v_tile_q6_K(const PlumbBlockQ6_Kx8 *x0, const PlumbBlockQ6_Kx8 *x1, int64_t nb,
                             const PlumbBlockQ8_K *const *a, float *const *y, int64_t row, Prefetch *pf,
                             int T, int full)
{
    v_tile_k(x0, x1, nb, a, y, row, pf, T, full, 1);
}

/* ------------------------------------------------------------ driver */

/* Panels two at a time (the last one alone when their number is odd),
 * each pair's tile run for up to VT_TOKENS tokens at a time; the first
 * token tile of a pair requests the pair PF_TILES pairs ahead, `steps`
 * prefetch steps per block of `elems` columns. */
#define V_DRIVER(name, WBlock, ABlock, elems, steps, tile, one)                                       \
    static void name(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,             \
                     const void *const *a, float *const *y, int64_t nt)                               \
    {                                                                                                 \
        if (nt == 1) {                                                                                \
            one(n, w, w_stride, r0, r1, a, y, nt);                                                    \
            return;                                                                                   \
        }                                                                                             \
        const int64_t nb = n / (elems), p1 = r1 / PLUMB_R8;                                           \
        const uint64_t panel = PLUMB_R8 * w_stride;                                                   \
        for (int64_t p = r0 / PLUMB_R8; p < p1; p += 2) {                                             \
            const int full = p + 1 < p1;                                                              \
            const WBlock *x0 = (const WBlock *)((const char *)w + (uint64_t)p * panel);               \
            const WBlock *x1 = full ? (const WBlock *)((const char *)x0 + panel) : x0;                \
            Prefetch pf = prefetch_plan(x0, 2 * panel, nb * (steps));                                 \
            if (p + 2 * PF_TILES + 1 >= p1)                                                           \
                pf.p = NULL;                                                                          \
            for (int64_t t0 = 0; t0 < nt; t0 += VT_TOKENS) {                                          \
                const ABlock *at[VT_TOKENS];                                                          \
                const int T = nt - t0 < VT_TOKENS ? (int)(nt - t0) : VT_TOKENS;                       \
                Prefetch *pp = t0 == 0 && pf.p ? &pf : NULL;                                          \
                float *const *yt = y + t0;                                                            \
                const int64_t row = p * PLUMB_R8;                                                     \
                for (int t = 0; t < T; t++)                                                           \
                    at[t] = a[t0 + t];                                                                \
                switch (T) {                                                                          \
                case 1: tile(x0, x1, nb, at, yt, row, pp, 1, full); break;                            \
                case 2: tile(x0, x1, nb, at, yt, row, pp, 2, full); break;                            \
                case 3: tile(x0, x1, nb, at, yt, row, pp, 3, full); break;                            \
                case 4: tile(x0, x1, nb, at, yt, row, pp, 4, full); break;                            \
                case 5: tile(x0, x1, nb, at, yt, row, pp, 5, full); break;                            \
                case 6: tile(x0, x1, nb, at, yt, row, pp, 6, full); break;                            \
                case 7: tile(x0, x1, nb, at, yt, row, pp, 7, full); break;                            \
                default: tile(x0, x1, nb, at, yt, row, pp, VT_TOKENS, full); break;                   \
                }                                                                                     \
            }                                                                                         \
        }                                                                                             \
    }

V_DRIVER(gemm_q4_0_r8, PlumbBlockQ4_0x8, PlumbBlockQ8_0X, PLUMB_QK, 1, v_tile_q4_0, plumb_avx512vnni_q4_0_r8_panel)
V_DRIVER(gemm_q4_K_r8, PlumbBlockQ4_Kx8, PlumbBlockQ8_K, PLUMB_QK_K, PLUMB_QK_K / 32, v_tile_q4_K, plumb_avx512vnni_q4_K_r8_panel)
V_DRIVER(gemm_q6_K_r8, PlumbBlockQ6_Kx8, PlumbBlockQ8_K, PLUMB_QK_K, PLUMB_QK_K / 32, v_tile_q6_K, plumb_avx512vnni_q6_K_r8_panel)

/* ------------------------------------------------------------ Q4_K, repacked on the fly */

/*
 * Row-major Q4_K (a file that was not repacked) against a batch of tokens:
 * 16 rows at a time are interleaved into two Q4_K_R8 panels on the stack,
 * as `plumb repack` would store them, and the 512-bit tile above runs over
 * every token of the batch.  Unpacking the rows costs about what a few
 * tokens of the tile do, and the row-major tile is three to four times
 * slower per row and token than the interleaved one.  Every row and token
 * takes the interleaved type's float steps (plumb_gemm_q4_K_r8_c's order),
 * whatever the batch or the rows asked for: a partial panel repeats its
 * last row and only the real rows are stored.  Rows longer than a panel
 * of RP_PANEL_BYTES holds go to the row-major tile (for every call with
 * that n, so the bits still depend on nothing else).
 */
#define RP_PANEL_BYTES 40320 /* a panel on the stack: 34 Q4_K or 24 Q6_K super-blocks (n <= 8704, 6144) */

/* Eight rows of 16 bytes v[r] to out_lo[k][r] (bytes 0-7) and out_hi[k][r]
 * (bytes 8-15), 64 bytes each. */
static inline void rp_transpose_8x16(const __m128i *v, uint8_t *out_lo, uint8_t *out_hi)
{
    __m128i p[4], q[4];
    for (int k = 0; k < 4; k++) {
        p[k] = _mm_unpacklo_epi8(v[2 * k], v[2 * k + 1]); /* k0: r r+1, k1: r r+1, ... */
        q[k] = _mm_unpackhi_epi8(v[2 * k], v[2 * k + 1]); /* k8 .. k15 likewise */
    }
    for (int h = 0; h < 2; h++) {
        const __m128i *x = h ? q : p;
        uint8_t *out = h ? out_hi : out_lo;
        const __m128i k03a = _mm_unpacklo_epi16(x[0], x[1]), k47a = _mm_unpackhi_epi16(x[0], x[1]);
        const __m128i k03b = _mm_unpacklo_epi16(x[2], x[3]), k47b = _mm_unpackhi_epi16(x[2], x[3]);
        _mm_storeu_si128((__m128i *)out, _mm_unpacklo_epi32(k03a, k03b));
        _mm_storeu_si128((__m128i *)(out + 16), _mm_unpackhi_epi32(k03a, k03b));
        _mm_storeu_si128((__m128i *)(out + 32), _mm_unpacklo_epi32(k47a, k47b));
        _mm_storeu_si128((__m128i *)(out + 48), _mm_unpackhi_epi32(k47a, k47b));
    }
}

/* Eight rows' 16 bytes v[r] (dwords c = 0..3) to 128 bytes where dword c of
 * row r is dword 8c + r: the nibble layout of the interleaved types. */
static inline void rp_interleave_8x16(const __m128i *v, uint8_t *dst)
{
    const __m512i idx0 = _mm512_setr_epi32(0, 4, 8, 12, 16, 20, 24, 28, 1, 5, 9, 13, 17, 21, 25, 29);
    const __m512i idx1 = _mm512_setr_epi32(2, 6, 10, 14, 18, 22, 26, 30, 3, 7, 11, 15, 19, 23, 27, 31);
    const __m512i a = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(
        _mm512_castsi128_si512(v[0]), v[1], 1), v[2], 2), v[3], 3);
    const __m512i b = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(
        _mm512_castsi128_si512(v[4]), v[5], 1), v[6], 2), v[7], 3);
    _mm512_storeu_si512((void *)dst, _mm512_permutex2var_epi32(a, idx0, b));
    _mm512_storeu_si512((void *)(dst + 64), _mm512_permutex2var_epi32(a, idx1, b));
}

/* A sub-block's 32 values q[j] (0..15) as a row's 16 bytes q[k] | q[16 + k] << 4. */
static inline __m128i rp_nibbles16(__m256i q)
{
    return _mm_or_si128(_mm256_castsi256_si128(q), _mm_slli_epi16(_mm256_extracti128_si256(q, 1), 4));
}

/* Super-block i of eight Q4_K rows (x[r]: row r's first block) as a Q4_Kx8. */
static void rp_q4_K_block(const void *const *x, int64_t i, PlumbBlockQ4_Kx8 *out)
{
    const PlumbBlockQ4_K *b[PLUMB_R8];
    for (int r = 0; r < PLUMB_R8; r++)
        b[r] = (const PlumbBlockQ4_K *)x[r] + i;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m128i sm[PLUMB_R8];
    for (int r = 0; r < PLUMB_R8; r++) {
        out->d[r] = b[r]->d;
        out->dmin[r] = b[r]->dmin;
        sm[r] = x86_q4_K_scales_mins(b[r]->scales);
    }
    rp_transpose_8x16(sm, &out->sc[0][0], &out->m[0][0]);
    /* 32 bytes of qs hold sub-blocks 2c (low nibbles) and 2c + 1 (high);
     * a sub-block's 32 values q[j] go to a row's 16 bytes q[k] | q[16 + k] << 4 */
    for (int c = 0; c < 4; c++) {
        __m128i lo[PLUMB_R8], hi[PLUMB_R8];
        for (int r = 0; r < PLUMB_R8; r++) {
            const __m256i v = _mm256_loadu_si256((const __m256i *)(b[r]->qs + 32 * c));
            lo[r] = rp_nibbles16(_mm256_and_si256(v, m4));
            hi[r] = rp_nibbles16(_mm256_and_si256(_mm256_srli_epi16(v, 4), m4));
        }
        rp_interleave_8x16(lo, out->qs[2 * c]);
        rp_interleave_8x16(hi, out->qs[2 * c + 1]);
    }
}

/* Super-block i of eight Q6_K rows as a Q6_Kx8.  Sub-block s = 4h + g of
 * a row: the low 4 bits from ql[64h + 32(g & 1) + j] (low nibble for g < 2,
 * high for g >= 2), the high 2 from bits 2g of qh[32h + j]. */
static void rp_q6_K_block(const void *const *x, int64_t i, PlumbBlockQ6_Kx8 *out)
{
    const PlumbBlockQ6_K *b[PLUMB_R8];
    for (int r = 0; r < PLUMB_R8; r++)
        b[r] = (const PlumbBlockQ6_K *)x[r] + i;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m2 = _mm256_set1_epi8(0x03);
    const __m256i shl = _mm256_setr_epi32(0, 2, 4, 6, 0, 2, 4, 6);
    /* [r0 h0, r0 h1, r1 h0, ...] to [r0 h0 .. r7 h0, r0 h1 .. r7 h1] */
    const __m512i hidx = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    __m128i sc[PLUMB_R8];
    for (int r = 0; r < PLUMB_R8; r++) {
        out->d[r] = b[r]->d;
        sc[r] = _mm_loadu_si128((const __m128i *)b[r]->scales);
    }
    rp_transpose_8x16(sc, (uint8_t *)&out->sc[0][0], (uint8_t *)&out->sc[8][0]);
    for (int h = 0; h < 2; h++) {
        __m128i lo[4][PLUMB_R8], hb[4][PLUMB_R8];
        for (int r = 0; r < PLUMB_R8; r++) {
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)(b[r]->ql + 64 * h));
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(b[r]->ql + 64 * h + 32));
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(b[r]->qh + 32 * h));
            for (int g = 0; g < 4; g++) {
                const __m256i l = g & 1 ? l1 : l0;
                const __m256i q = _mm256_and_si256(g < 2 ? l : _mm256_srli_epi16(l, 4), m4);
                /* the 2-bit values 0..3 of elements 4c + k, moved to bits 2c of
                 * dword c / 4 of each 16: dwords 0 and 4 of u after the ORs */
                __m256i u = _mm256_sllv_epi32(_mm256_and_si256(_mm256_srli_epi16(qh, 2 * g), m2), shl);
                u = _mm256_or_si256(u, _mm256_shuffle_epi32(u, _MM_SHUFFLE(2, 3, 0, 1)));
                u = _mm256_or_si256(u, _mm256_shuffle_epi32(u, _MM_SHUFFLE(1, 0, 3, 2)));
                lo[g][r] = rp_nibbles16(q);
                hb[g][r] = _mm_unpacklo_epi32(_mm256_castsi256_si128(u), _mm256_extracti128_si256(u, 1));
            }
        }
        for (int g = 0; g < 4; g++) {
            const int s = 4 * h + g;
            __m128i pr[4];
            rp_interleave_8x16(lo[g], out->ql[s]);
            for (int k = 0; k < 4; k++)
                pr[k] = _mm_unpacklo_epi64(hb[g][2 * k], hb[g][2 * k + 1]);
            const __m512i z = _mm512_inserti32x4(_mm512_inserti32x4(_mm512_inserti32x4(
                _mm512_castsi128_si512(pr[0]), pr[1], 1), pr[2], 2), pr[3], 3);
            _mm512_storeu_si512((void *)out->qh[s], _mm512_permutexvar_epi32(hidx, z));
        }
    }
}

/* The rows of a panel: row0 .. row0 + n_rows - 1 (n_rows 1..8), the last
 * one repeated. */
static inline void rp_rows(const void *w, uint64_t w_stride, int64_t row0, int n_rows, const void **x)
{
    for (int r = 0; r < PLUMB_R8; r++)
        x[r] = (const char *)w + (uint64_t)(row0 + (r < n_rows ? r : n_rows - 1)) * w_stride;
}

/* Those rows as one Q4_K_R8 or Q6_K_R8 panel. */
GEMM_INLINE void rp_panel(const void *w, uint64_t w_stride, int64_t row0, int n_rows, int64_t nb, void *out,
                          int q6)
{
    const void *x[PLUMB_R8];
    rp_rows(w, w_stride, row0, n_rows, x);
    for (int64_t i = 0; i < nb; i++) {
        if (q6)
            rp_q6_K_block(x, i, (PlumbBlockQ6_Kx8 *)out + i);
        else
            rp_q4_K_block(x, i, (PlumbBlockQ4_Kx8 *)out + i);
    }
}

GEMM_INLINE void gemm_k_rows(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                             const void *const *a, float *const *y, int64_t nt, int q6)
{
    _Alignas(64) unsigned char buf[2][RP_PANEL_BYTES];
    const int64_t nb = n / PLUMB_QK_K;
    for (int64_t r = r0; r < r1; r += 2 * PLUMB_R8) {
        const int rows = r1 - r < 2 * PLUMB_R8 ? (int)(r1 - r) : 2 * PLUMB_R8;
        const int full = rows > PLUMB_R8;
        rp_panel(w, w_stride, r, full ? PLUMB_R8 : rows, nb, buf[0], q6);
        if (full)
            rp_panel(w, w_stride, r + PLUMB_R8, rows - PLUMB_R8, nb, buf[1], q6);
        for (int64_t t0 = 0; t0 < nt; t0 += VT_TOKENS) {
            float out[VT_TOKENS][2 * PLUMB_R8];
            float *yo[VT_TOKENS];
            const PlumbBlockQ8_K *at[VT_TOKENS];
            const int T = nt - t0 < VT_TOKENS ? (int)(nt - t0) : VT_TOKENS;
            for (int t = 0; t < T; t++) {
                at[t] = a[t0 + t];
                yo[t] = out[t];
            }
            switch (T) {
            case 1: v_tile_k(buf[0], buf[full], nb, at, yo, 0, NULL, 1, full, q6); break;
            case 2: v_tile_k(buf[0], buf[full], nb, at, yo, 0, NULL, 2, full, q6); break;
            case 3: v_tile_k(buf[0], buf[full], nb, at, yo, 0, NULL, 3, full, q6); break;
            case 4: v_tile_k(buf[0], buf[full], nb, at, yo, 0, NULL, 4, full, q6); break;
            case 5: v_tile_k(buf[0], buf[full], nb, at, yo, 0, NULL, 5, full, q6); break;
            case 6: v_tile_k(buf[0], buf[full], nb, at, yo, 0, NULL, 6, full, q6); break;
            case 7: v_tile_k(buf[0], buf[full], nb, at, yo, 0, NULL, 7, full, q6); break;
            default: v_tile_k(buf[0], buf[full], nb, at, yo, 0, NULL, VT_TOKENS, full, q6); break;
            }
            for (int t = 0; t < T; t++)
                memcpy(y[t0 + t] + r, out[t], (size_t)rows * sizeof(float));
        }
    }
}

static void gemm_q4_K_rows(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                           const void *const *a, float *const *y, int64_t nt)
{
    if (n / PLUMB_QK_K > (int64_t)(RP_PANEL_BYTES / sizeof(PlumbBlockQ4_Kx8))) {
        plumb_avx512vnni_q4_K_rowtile(n, w, w_stride, r0, r1, a, y, nt);
        return;
    }
    gemm_k_rows(n, w, w_stride, r0, r1, a, y, nt, 0);
}

static void gemm_q6_K_rows(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                           const void *const *a, float *const *y, int64_t nt)
{
    if (n / PLUMB_QK_K > (int64_t)(RP_PANEL_BYTES / sizeof(PlumbBlockQ6_Kx8))) {
        plumb_avx512vnni_q6_K_rowtile(n, w, w_stride, r0, r1, a, y, nt);
        return;
    }
    gemm_k_rows(n, w, w_stride, r0, r1, a, y, nt, 1);
}

/* ------------------------------------------------------------ Q4_0, repacked on the fly */

/*
 * Row-major Q4_0 against a batch: 16 rows at a time repacked into two
 * Q4_0_R8 panels on the stack (a block's 16 bytes of row r are its dword
 * c at dword 8c + r, nothing to unpack), the 512-bit products as in
 * v_tile_q4_0, against the Q8_0 activations of the row-major type.  The
 * float steps are not the interleaved type's but those of the row-major
 * tile (gemm_q4_0_q8_0 in gemm_avx2.c) and of the one-token kernel
 * (gemm_rows_avx512vnni.c), so a token gets the same bits alone or in any
 * batch: per four blocks b..b+3, two chains a row,
 *     lo += fma(f(b+2), dw_b+2 * da_b+2, f(b) * (dw_b * da_b)),
 *     hi += fma(f(b+3), dw_b+3 * da_b+3, f(b+1) * (dw_b+1 * da_b+1)),
 * with f the exact integer dot less 8 * sum(a) as float, zero-padded to
 * whole fours, and y = lo + hi.
 */
#define RM_TOKENS 6          /* tokens per tile: lo, hi and a product each */
#define RM_PREP_BLOCKS 4096  /* activation blocks prepared at once (32 KiB) */

typedef struct RmPrep {
    float d;    /* the block's scale, 0 past the row */
    int32_t s8; /* 8 * the sum of its bytes, 0 past the row */
} RmPrep;

/* acc[t] += the chain of weight blocks b + h and b + h + 2 (activation
 * blocks ab + h and ab + h + 2, their preparations b + h and b + h + 2). */
GEMM_INLINE void rm_pair(const PlumbBlockQ4_0x8 *x0, const PlumbBlockQ4_0x8 *x1, int64_t b, int h,
                         const PlumbBlockQ8_0 *const *a, int64_t ab, const RmPrep *const *pp, int T,
                         __m512 *acc)
{
    __m512 p[RM_TOKENS];
    {
        const VW w = v_unpack4(x0[b + h].qs, x1[b + h].qs);
        const __m512 dw = scales16(x0[b + h].d, x1[b + h].d);
        _Pragma("GCC unroll 8")
        for (int t = 0; t < T; t++) {
            const RmPrep *q = &pp[t][b + h];
            const __m512i s = _mm512_sub_epi32(v_dot32(&w, a[t][ab + h].qs), _mm512_set1_epi32(q->s8));
            p[t] = _mm512_mul_ps(_mm512_cvtepi32_ps(s), _mm512_mul_ps(dw, _mm512_set1_ps(q->d)));
        }
    }
    {
        const VW w = v_unpack4(x0[b + h + 2].qs, x1[b + h + 2].qs);
        const __m512 dw = scales16(x0[b + h + 2].d, x1[b + h + 2].d);
        _Pragma("GCC unroll 8")
        for (int t = 0; t < T; t++) {
            const RmPrep *q = &pp[t][b + h + 2];
            const __m512i s = _mm512_sub_epi32(v_dot32(&w, a[t][ab + h + 2].qs), _mm512_set1_epi32(q->s8));
            acc[t] = _mm512_add_ps(acc[t], _mm512_fmadd_ps(_mm512_cvtepi32_ps(s),
                                                           _mm512_mul_ps(dw, _mm512_set1_ps(q->d)), p[t]));
        }
    }
}

/* Panels x0, x1 padded with zero blocks to nb4 (a multiple of 4) against T
 * tokens whose rows have nb blocks. */
GEMM_INLINE void v_tile_q4_0_rm(const PlumbBlockQ4_0x8 *x0, const PlumbBlockQ4_0x8 *x1, int64_t nb,
                                int64_t nb4, const PlumbBlockQ8_0 *const *a, const RmPrep *const *pp,
                                float *const *y, int T, int full)
{
    const int64_t main = nb & ~(int64_t)3;
    __m512 lo[RM_TOKENS], hi[RM_TOKENS];
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        lo[t] = hi[t] = _mm512_setzero_ps();
    for (int64_t b = 0; b < main; b += 4) {
        rm_pair(x0, x1, b, 0, a, b, pp, T, lo);
        rm_pair(x0, x1, b, 1, a, b, pp, T, hi);
    }
    if (main < nb4) {
        /* the row's last 1-3 blocks, zero-padded to four */
        PlumbBlockQ8_0 aw[RM_TOKENS][4];
        const PlumbBlockQ8_0 *ap[RM_TOKENS];
        memset(aw, 0, sizeof aw);
        for (int t = 0; t < T; t++) {
            memcpy(aw[t], a[t] + main, (size_t)(nb - main) * sizeof aw[t][0]);
            ap[t] = aw[t];
        }
        rm_pair(x0, x1, main, 0, ap, 0, pp, T, lo);
        rm_pair(x0, x1, main, 1, ap, 0, pp, T, hi);
    }
    _Pragma("GCC unroll 8")
    for (int t = 0; t < T; t++)
        store16(y[t], _mm512_add_ps(lo[t], hi[t]), full);
}

/* rp_rows' rows as one Q4_0_R8 panel of nb4 blocks, blocks from nb on zero. */
static void rp_q4_0_panel(const void *w, uint64_t w_stride, int64_t row0, int n_rows, int64_t nb, int64_t nb4,
                          PlumbBlockQ4_0x8 *out)
{
    const void *x[PLUMB_R8];
    rp_rows(w, w_stride, row0, n_rows, x);
    for (int64_t i = 0; i < nb; i++) {
        __m128i v[PLUMB_R8];
        for (int r = 0; r < PLUMB_R8; r++) {
            const PlumbBlockQ4_0 *b = (const PlumbBlockQ4_0 *)x[r] + i;
            out[i].d[r] = b->d;
            v[r] = _mm_loadu_si128((const __m128i *)b->qs);
        }
        rp_interleave_8x16(v, out[i].qs);
    }
    if (nb4 > nb)
        memset(&out[nb], 0, (size_t)(nb4 - nb) * sizeof out[0]);
}

int plumb_avx512vnni_q4_0_rows_batch(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                     const void *const *a, float *const *y, int64_t nt)
{
    _Alignas(64) PlumbBlockQ4_0x8 buf[2][RP_PANEL_BYTES / sizeof(PlumbBlockQ4_0x8)];
    RmPrep prep[RM_PREP_BLOCKS];
    const int64_t nb = n / PLUMB_QK, nb4 = (nb + 3) & ~(int64_t)3;
    if (nb4 > (int64_t)(sizeof buf[0] / sizeof buf[0][0]) || nb4 > RM_PREP_BLOCKS)
        return 0;
    const int64_t chunk = RM_PREP_BLOCKS / nb4;
    for (int64_t c0 = 0; c0 < nt; c0 += chunk) {
        const int64_t nc = nt - c0 < chunk ? nt - c0 : chunk;
        for (int64_t t = 0; t < nc; t++) {
            const PlumbBlockQ8_0 *at = a[c0 + t];
            RmPrep *pt = prep + t * nb4;
            for (int64_t b = 0; b < nb4; b++) {
                pt[b].d = b < nb ? x86_fp16(at[b].d) : 0.0f;
                pt[b].s8 = b < nb ? 8 * x86_q8_0_sum(&at[b]) : 0;
            }
        }
        for (int64_t r = r0; r < r1; r += 2 * PLUMB_R8) {
            const int rows = r1 - r < 2 * PLUMB_R8 ? (int)(r1 - r) : 2 * PLUMB_R8;
            const int full = rows > PLUMB_R8;
            rp_q4_0_panel(w, w_stride, r, full ? PLUMB_R8 : rows, nb, nb4, buf[0]);
            if (full)
                rp_q4_0_panel(w, w_stride, r + PLUMB_R8, rows - PLUMB_R8, nb, nb4, buf[1]);
            for (int64_t t0 = 0; t0 < nc; t0 += RM_TOKENS) {
                float out[RM_TOKENS][2 * PLUMB_R8];
                float *yo[RM_TOKENS];
                const PlumbBlockQ8_0 *at[RM_TOKENS];
                const RmPrep *pt[RM_TOKENS];
                const int T = nc - t0 < RM_TOKENS ? (int)(nc - t0) : RM_TOKENS;
                for (int t = 0; t < T; t++) {
                    at[t] = a[c0 + t0 + t];
                    pt[t] = prep + (t0 + t) * nb4;
                    yo[t] = out[t];
                }
                switch (T) {
                case 1: v_tile_q4_0_rm(buf[0], buf[full], nb, nb4, at, pt, yo, 1, full); break;
                case 2: v_tile_q4_0_rm(buf[0], buf[full], nb, nb4, at, pt, yo, 2, full); break;
                case 3: v_tile_q4_0_rm(buf[0], buf[full], nb, nb4, at, pt, yo, 3, full); break;
                case 4: v_tile_q4_0_rm(buf[0], buf[full], nb, nb4, at, pt, yo, 4, full); break;
                case 5: v_tile_q4_0_rm(buf[0], buf[full], nb, nb4, at, pt, yo, 5, full); break;
                default: v_tile_q4_0_rm(buf[0], buf[full], nb, nb4, at, pt, yo, RM_TOKENS, full); break;
                }
                for (int t = 0; t < T; t++)
                    memcpy(y[c0 + t0 + t] + r, out[t], (size_t)rows * sizeof(float));
            }
        }
    }
    return 1;
}

void plumb_dsp_init_avx512vnni_gemm(PlumbDsp *dsp)
{
    dsp->gemm[PLUMB_QTYPE_Q4_0_R8] = gemm_q4_0_r8;
    dsp->gemm[PLUMB_QTYPE_Q4_K_R8] = gemm_q4_K_r8;
    dsp->gemm[PLUMB_QTYPE_Q6_K_R8] = gemm_q6_K_r8;
    dsp->gemm[PLUMB_QTYPE_Q4_K] = gemm_q4_K_rows;
    dsp->gemm[PLUMB_QTYPE_Q6_K] = gemm_q6_K_rows;
    /* a single token would pay the repacking for one product: its vec_dot */
    dsp->gemm_min_tokens[PLUMB_QTYPE_Q6_K] = 2;
}
