/*
 * gemm_rows_avx512vnni.c — the row-major tiled products of gemm_avx2.c
 * (Q4_0 x Q8_0, Q4_K and Q6_K x Q8_K: prefill of weights that were not
 * repacked) compiled with the AVX-512 VNNI flags, where x86_dpbusd256 /
 * x86_dpwssd256 (x86_kernels.h) are the EVEX 256-bit vpdpbusd / vpdpwssd.
 * gemm_avx512vnni.c has the interleaved types only; these take the place of
 * the AVX2 tier's row-major products, with the same integer sums and so the
 * same bits.  plumb_dsp_init_avx512vnni_rows() installs them.  Its
 * interleaved products (one panel of eight rows at a time) serve the
 * 512-bit tiles of gemm_avx512vnni.c for a single token.
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
 * 8 * sum(a_b).  Here a 512-bit register holds block j of four rows, a row
 * a 128-bit lane, so the token's 16 bytes are one broadcast and vpdpbusd
 * leaves four partial sums of (row, block j) in each lane; four blocks then
 * reduce within the lanes (unpack and add) to [i_b, i_b+1, i_b+2, i_b+3]
 * per row, and the float steps above run on those lanes: the tile's
 * operations in its order, so the same bits, without its horizontal adds
 * and with every instruction 512 bits wide.
 */
#define ONE_MAX_BLOCKS 1024 /* longest row prepared on the stack: n = 32768 */

typedef struct OnePrep {
    int32_t corr[ONE_MAX_BLOCKS + 4]; /* 8 * sum(a_b); zero past the row */
    float da[ONE_MAX_BLOCKS + 4];     /* the token's block scales; zero past */
} OnePrep;

static void one_prep(const PlumbBlockQ8_0 *a, int64_t nb, OnePrep *p)
{
    const __m256i one8 = _mm256_set1_epi8(1);
    for (int64_t b = 0; b < nb; b++) {
        p->corr[b] = 8 * x86_hsum_epi32_256(
            x86_dpbusd256(_mm256_setzero_si256(), one8, _mm256_loadu_si256((const __m256i *)a[b].qs)));
        p->da[b] = x86_fp16(a[b].d);
    }
    for (int64_t b = nb; b < ((nb + 3) & ~(int64_t)3); b++) {
        p->corr[b] = 0;
        p->da[b] = 0.0f;
    }
}

/* Per 128-bit lane r: four partial sums of row r's block b against a. */
static inline __m512i one_dot(const PlumbBlockQ4_0 *const *x, int64_t b, const PlumbBlockQ8_0 *a)
{
    const __m512i m4 = _mm512_set1_epi8(0x0f);
    __m512i v = _mm512_castsi128_si512(_mm_loadu_si128((const __m128i *)x[0][b].qs));
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)x[1][b].qs), 1);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)x[2][b].qs), 2);
    v = _mm512_inserti32x4(v, _mm_loadu_si128((const __m128i *)x[3][b].qs), 3);
    const __m512i alo = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)a->qs));
    const __m512i ahi = _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(a->qs + 16)));
    const __m512i s = _mm512_dpbusd_epi32(_mm512_setzero_si512(), _mm512_and_si512(v, m4), alo);
    return _mm512_dpbusd_epi32(s, _mm512_and_si512(_mm512_srli_epi16(v, 4), m4), ahi);
}

/* Per 128-bit lane r: [sum of s0's lane r, of s1's, of s2's, of s3's]. */
static inline __m512i one_reduce(__m512i s0, __m512i s1, __m512i s2, __m512i s3)
{
    const __m512i u01 = _mm512_add_epi32(_mm512_unpacklo_epi32(s0, s1), _mm512_unpackhi_epi32(s0, s1));
    const __m512i u23 = _mm512_add_epi32(_mm512_unpacklo_epi32(s2, s3), _mm512_unpackhi_epi32(s2, s3));
    return _mm512_add_epi32(_mm512_unpacklo_epi64(u01, u23), _mm512_unpackhi_epi64(u01, u23));
}

/* Blocks b..b+3 of four rows; a: the token's blocks from b, k: their
 * place in the prepared terms.  Lanes 2 and 3 of each row carry lo and
 * hi; lanes 0 and 1 hold the first halves of the pairs. */
static inline __m512 one_step(const PlumbBlockQ4_0 *const *x, int64_t b, const PlumbBlockQ8_0 *a,
                              const OnePrep *p, int64_t k, __m512 acc)
{
    /* the fp16 scales of the four blocks, 18 bytes apart: words 0, 9, 18, 27 */
    const __m512i idx = _mm512_set4_epi32(27 << 16 | 18, 9 << 16 | 0, 27 << 16 | 18, 9 << 16 | 0);
    __m512i d = _mm512_maskz_permutexvar_epi16(0x000f, idx, _mm512_loadu_si512(&x[0][b]));
    d = _mm512_mask_permutexvar_epi16(d, 0x00f0, idx, _mm512_loadu_si512(&x[1][b]));
    d = _mm512_mask_permutexvar_epi16(d, 0x0f00, idx, _mm512_loadu_si512(&x[2][b]));
    d = _mm512_mask_permutexvar_epi16(d, 0xf000, idx, _mm512_loadu_si512(&x[3][b]));
    const __m512i i = _mm512_sub_epi32(
        one_reduce(one_dot(x, b, a), one_dot(x, b + 1, a + 1), one_dot(x, b + 2, a + 2), one_dot(x, b + 3, a + 3)),
        _mm512_broadcast_i32x4(_mm_loadu_si128((const __m128i *)(p->corr + k))));
    const __m512 f = _mm512_cvtepi32_ps(i);
    const __m512 sc = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(d)),
                                    _mm512_broadcast_f32x4(_mm_loadu_ps(p->da + k)));
    const __m512 part = _mm512_mul_ps(f, sc);
    /* lane 2: fma(i_b+2, s_b+2, p_b); lane 3: fma(i_b+3, s_b+3, p_b+1) */
    const __m512 q = _mm512_fmadd_ps(f, sc, _mm512_shuffle_ps(part, part, 0x4e));
    return _mm512_mask_add_ps(acc, 0xcccc, acc, q);
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
            acc = one_step(x, b, a + b, &prep, b, acc);
        }
        if (main < nb) {
            /* the last 1-3 blocks, zero-padded to four as the tile does */
            PlumbBlockQ4_0 xw[4][4];
            PlumbBlockQ8_0 aw[4];
            const PlumbBlockQ4_0 *xp[4];
            memset(xw, 0, sizeof xw);
            memset(aw, 0, sizeof aw);
            for (int s = 0; s < 4; s++) {
                memcpy(xw[s], x[s] + main, (size_t)(nb - main) * sizeof xw[s][0]);
                xp[s] = xw[s];
            }
            memcpy(aw, a + main, (size_t)(nb - main) * sizeof aw[0]);
            acc = one_step(xp, 0, aw, &prep, main, acc);
        }
        float v[16];
        _mm512_storeu_ps(v, acc);
        for (int s = 0; s < n_rows; s++)
            y[row[s]] = v[4 * s + 2] + v[4 * s + 3];
    }
}

static void gemm_q4_0_q8_0_512(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                               const void *const *a, float *const *y, int64_t nt)
{
    if (nt == 1 && n / PLUMB_QK <= ONE_MAX_BLOCKS) {
        gemm_q4_0_one(n, w, w_stride, r0, r1, (const PlumbBlockQ8_0 *)a[0], y[0]);
        return;
    }
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
