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

void plumb_dsp_init_avx512vnni_gemm(PlumbDsp *dsp)
{
    dsp->gemm[PLUMB_QTYPE_Q4_0_R8] = gemm_q4_0_r8;
    dsp->gemm[PLUMB_QTYPE_Q4_K_R8] = gemm_q4_K_r8;
    dsp->gemm[PLUMB_QTYPE_Q6_K_R8] = gemm_q6_K_r8;
}
