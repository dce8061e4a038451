/*
 * gemm_rows_avx512vnni.c — the row-major tiled products of gemm_avx2.c
 * (Q4_0 and Q8_0 x Q8_0, Q4_K, Q5_K and Q6_K x Q8_K: prefill of weights
 * that were not repacked) compiled with the AVX-512 VNNI flags, where x86_dpbusd256 /
 * x86_dpwssd256 (x86_kernels.h) are the EVEX 256-bit vpdpbusd / vpdpwssd.
 * gemm_avx512vnni.c has the interleaved types only; these take the place of
 * the AVX2 tier's row-major products, with the same integer sums and so the
 * same bits.  plumb_dsp_init_avx512vnni_rows() installs them, with a
 * 512-bit kernel of its own for one token against Q4_0 (decode; the tile's
 * bits).  Its interleaved products (one panel of eight rows at a time)
 * serve the 512-bit tiles of gemm_avx512vnni.c for a single token.
 */
#if !defined(__AVX512VNNI__) || !defined(__AVX512VL__)
#error "gemm_rows_avx512vnni.c must be compiled with -mavx512vnni -mavx512vl"
#endif

#define plumb_dsp_init_avx2_gemm plumb_dsp_init_avx512vnni_gemm_all
#include "gemm_avx2.c"
#undef plumb_dsp_init_avx2_gemm

/* ------------------------------------------------------------ Q4_0, one token */

/*
 * One token against row-major Q4_0: decode of a file that was not
 * repacked.  gemm_q4_0_q8_0's tile keeps two float chains a row: "lo"
 * takes blocks b and b+2 of every four, "hi" blocks b+1 and b+3,
 *     p = float(i_b) * (dw_b * da_b),  lo += fma(float(i_b+2), dw_b+2 * da_b+2, p),
 * and y = lo + hi, where i_b is block b's exact integer dot less
 * 8 * sum(a_b).  Here four consecutive blocks of a row (72 bytes) are two
 * overlapping 64-byte loads, from which one vpermt2w gathers the 64 bytes
 * of nibbles (they start on even bytes) and one vpermw the four scales; the
 * token's bytes, laid out the same way once per call, go to vpdpbusd whole,
 * which leaves four partial sums of each block in its 128-bit lane.  Four
 * rows reduce within the lanes (unpack and add) to lane j = [i of block
 * b+j for rows 0..3], and the float steps above run on lanes 0-3: the
 * tile's operations in its order, so the same bits, every instruction 512
 * bits wide and no horizontal adds.
 */
#define ONE_MAX_BLOCKS 1024 /* longest row prepared on the stack: n = 32768 */

typedef struct OnePrep {
    int8_t q[ONE_MAX_BLOCKS + 4][2][16]; /* per four blocks: their low halves, then high halves */
    int32_t corr[ONE_MAX_BLOCKS + 4][4]; /* 8 * sum(a_b), four times; zero past the row */
    float da[ONE_MAX_BLOCKS + 4][4];     /* the token's block scale, four times; zero past */
} OnePrep;

static void one_prep(const PlumbBlockQ8_0 *a, int64_t nb, OnePrep *p)
{
    const int64_t padded = (nb + 3) & ~(int64_t)3;
    for (int64_t b = 0; b < padded; b++) {
        int8_t *lo = p->q[b & ~(int64_t)3][0] + 16 * (b & 3);
        int32_t c = 0;
        float d = 0.0f;
        if (b < nb) {
            c = 8 * x86_q8_0_sum(&a[b]);
            d = x86_fp16(a[b].d);
            memcpy(lo, a[b].qs, 16);
            memcpy(lo + 64, a[b].qs + 16, 16);
        } else {
            memset(lo, 0, 16);
            memset(lo + 64, 0, 16);
        }
        for (int r = 0; r < 4; r++) {
            p->corr[b][r] = c;
            p->da[b][r] = d;
        }
    }
}

/* Row x's blocks b..b+3: the partial sums against the prepared token (four
 * per block, block j in lane j); its four scales (fp16) to words r, r+4,
 * r+8, r+12 of *d. */
static inline __m512i one_row(const PlumbBlockQ4_0 *x, int64_t b, const __m512i alo, const __m512i ahi, int r,
                              __m512i *d)
{
    /* words 1-8, 10-17, 19-26 and 28-35 of the 72 bytes: A holds words 0-31,
     * B (8 bytes on) words 4-35 */
    const __m512i qidx = _mm512_set_epi16(63, 62, 61, 60, 31, 30, 29, 28, 26, 25, 24, 23, 22, 21, 20, 19, 17, 16, 15,
                                          14, 13, 12, 11, 10, 8, 7, 6, 5, 4, 3, 2, 1);
    const __m512i didx = _mm512_set_epi16(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 27, 27, 27, 27, 18, 18, 18,
                                          18, 9, 9, 9, 9, 0, 0, 0, 0);
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    const char *p = (const char *)(x + b);
    const __m512i A = _mm512_loadu_si512(p), B = _mm512_loadu_si512(p + 8);
    const __m512i v = _mm512_permutex2var_epi16(A, qidx, B);
    *d = _mm512_mask_permutexvar_epi16(*d, (__mmask32)0x1111u << r, didx, A);
    const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v, m4), alo);
    return _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4), ahi);
}

/* Per 128-bit lane j: [sum of lane j of s0, of s1, of s2, of s3]. */
static inline __m512i one_reduce(__m512i s0, __m512i s1, __m512i s2, __m512i s3)
{
    const __m512i u01 = _mm512_add_epi32(_mm512_unpacklo_epi32(s0, s1), _mm512_unpackhi_epi32(s0, s1));
    const __m512i u23 = _mm512_add_epi32(_mm512_unpacklo_epi32(s2, s3), _mm512_unpackhi_epi32(s2, s3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(u01, u23), _mm512_unpackhi_epi64(u01, u23));
}

/* Blocks b..b+3 of four rows; k: their place in the prepared token.  Lanes
 * 2 and 3 carry lo and hi; lanes 0 and 1 the first terms of the pairs. */
static inline __m512 one_step(const PlumbBlockQ4_0 *const *x, int64_t b, const OnePrep *p, int64_t k, __m512 acc)
{
    const __m512i alo = _mm512_loadu_si512(p->q[k][0]), ahi = _mm512_loadu_si512(p->q[k][0] + 64);
    const __m512i pairs = _mm512_set_epi32(7, 6, 5, 4, 3, 2, 1, 0, 15, 14, 13, 12, 11, 10, 9, 8);
    __m512i d = _mm512_setzero_si512();
    const __m512i s0 = one_row(x[0], b, alo, ahi, 0, &d), s1 = one_row(x[1], b, alo, ahi, 1, &d);
    const __m512i s2 = one_row(x[2], b, alo, ahi, 2, &d), s3 = one_row(x[3], b, alo, ahi, 3, &d);
    const __m512i i = _mm512_sub_epi32(one_reduce(s0, s1, s2, s3), _mm512_loadu_si512(p->corr[k]));
    const __m512 f = _mm512_cvtepi32_ps(i);
    const __m512 sc = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(d)), _mm512_loadu_ps(p->da[k]));
    const __m512 part = _mm512_mul_ps(f, sc);
    /* lane 2: fma(i_b+2, s_b+2, p_b); lane 3: fma(i_b+3, s_b+3, p_b+1) */
    const __m512 q = _mm512_fmadd_ps(f, sc, _mm512_permutexvar_ps(pairs, part));
    return _mm512_mask_add_ps(acc, 0xff00, acc, q);
}

static void gemm_q4_0_one(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                          const PlumbBlockQ8_0 *a, float *y)
{
    OnePrep prep;
    const int64_t nb = n / PLUMB_QK, main = nb & ~(int64_t)3;
    one_prep(a, nb, &prep);
    for (int64_t r = r0; r < r1; r += 4) {
        const PlumbBlockQ4_0 *x[4];
        int64_t row[4];
        const int n_rows = r1 - r < 4 ? (int)(r1 - r) : 4;
        for (int s = 0; s < 4; s++) {
            row[s] = r + (s < n_rows ? s : n_rows - 1);
            x[s] = (const PlumbBlockQ4_0 *)((const char *)w + (uint64_t)row[s] * w_stride);
        }
        Prefetch pf = prefetch_plan(x[0], 4 * w_stride, nb / 4);
        __m512 acc = _mm512_setzero_ps();
        for (int64_t b = 0; b < main; b += 4) {
            prefetch_step(&pf);
            acc = one_step(x, b, &prep, b, acc);
        }
        if (main < nb) {
            /* the last 1-3 blocks, zero-padded to four as the tile does */
            PlumbBlockQ4_0 xw[4][4];
            const PlumbBlockQ4_0 *xp[4];
            memset(xw, 0, sizeof xw);
            for (int s = 0; s < 4; s++) {
                memcpy(xw[s], x[s] + main, (size_t)(nb - main) * sizeof xw[s][0]);
                xp[s] = xw[s];
            }
            acc = one_step(xp, 0, &prep, main, acc);
        }
        float v[16];
        _mm512_storeu_ps(v, acc);
        for (int s = 0; s < n_rows; s++)
            y[row[s]] = v[8 + s] + v[12 + s];
    }
}

static void gemm_q4_0_q8_0_512(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                               const void *const *a, float *const *y, int64_t nt)
{
    if (nt == 1 && n / PLUMB_QK <= ONE_MAX_BLOCKS) {
        gemm_q4_0_one(n, w, w_stride, r0, r1, (const PlumbBlockQ8_0 *)a[0], y[0]);
        return;
    }
    if (plumb_avx512vnni_q4_0_rows_batch(n, w, w_stride, r0, r1, a, y, nt))
        return;
    gemm_q4_0_q8_0(n, w, w_stride, r0, r1, a, y, nt);
}

void plumb_dsp_init_avx512vnni_rows(PlumbDsp *dsp)
{
    install_row_gemms(dsp);
    dsp->gemm[PLUMB_QTYPE_Q4_0] = gemm_q4_0_q8_0_512;
}

/* The interleaved products one panel of eight rows at a time (256-bit),
 * to which gemm_avx512vnni.c hands single tokens. */
void plumb_avx512vnni_q4_0_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt)
{
    gemm_q4_0_r8(n, w, w_stride, r0, r1, a, y, nt);
}

void plumb_avx512vnni_q4_K_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt)
{
    gemm_q4_K_r8(n, w, w_stride, r0, r1, a, y, nt);
}

void plumb_avx512vnni_q6_K_r8_panel(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                    const void *const *a, float *const *y, int64_t nt)
{
    gemm_q6_K_r8(n, w, w_stride, r0, r1, a, y, nt);
}

/* The row-major Q4_K and Q6_K tiles, for rows too long to repack on the
 * stack. */
void plumb_avx512vnni_q4_K_rowtile(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                   const void *const *a, float *const *y, int64_t nt)
{
    gemm_q4_K_q8_K(n, w, w_stride, r0, r1, a, y, nt);
}

void plumb_avx512vnni_q6_K_rowtile(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                                   const void *const *a, float *const *y, int64_t nt)
{
    gemm_q6_K_q8_K(n, w, w_stride, r0, r1, a, y, nt);
}
