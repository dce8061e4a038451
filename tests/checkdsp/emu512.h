/*
 * emu512.h — lets the AVX-512 tier files (simd/x86/*_avx512*.c) and the
 * AVX-VNNI tier files (simd/x86/*_avxvnni.c) run on a CPU without AVX-512 or
 * AVX-VNNI, for checkdsp: the _mm512_* / masked intrinsics become SIMDe's
 * portable versions (Debian package libsimde-dev), compiled for AVX2, and
 * the 256-bit vpdpbusd / vpdpwssd (both encodings) are written out below.
 * Used only by tests/checkdsp/emu512.sh, included before a tier file; never
 * part of the library.  With EMU_AVXVNNI defined first it announces
 * __AVXVNNI__ and none of the AVX-512 features, as -mavxvnni does.
 *
 * SIMDe 0.7.4 lacks some intrinsics the tiers use and gets two wrong
 * (_mm512_madd_epi16's alias takes four arguments; _mm512_roundscale_ps
 * misreads imm 0x0b).  Those are written here, element by element, from
 * Intel's definitions: scalar code whose meaning is plain, so an emulated
 * kernel fails checkdsp only for its own mistakes.
 */
#ifndef PLUMB_EMU512_H
#define PLUMB_EMU512_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#define SIMDE_ENABLE_NATIVE_ALIASES
#include <simde/x86/avx512.h>

#include <sleef.h>

/* what the tier files test to enable their 512-bit or VNNI code */
#if defined(EMU_AVXVNNI)
#define __AVXVNNI__ 1
#else
#define __AVX512F__ 1
#define __AVX512BW__ 1
#define __AVX512DQ__ 1
#define __AVX512VL__ 1
#endif

#define EMU_LANES(T, n, v, a) \
    T a[n];                   \
    memcpy(a, &(v), sizeof a)

/* ---------------------------------------------------------- reductions */
static inline float emu_reduce_add_ps(simde__m512 v)
{
    EMU_LANES(float, 16, v, f);
    for (int w = 8; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            f[i] += f[i + w];
    return f[0];
}
static inline float emu_reduce_max_ps(simde__m512 v)
{
    EMU_LANES(float, 16, v, f);
    float r = f[0];
    for (int i = 1; i < 16; i++)
        r = f[i] > r ? f[i] : r;
    return r;
}
static inline double emu_reduce_add_pd(simde__m512d v)
{
    EMU_LANES(double, 8, v, f);
    for (int w = 4; w >= 1; w /= 2)
        for (int i = 0; i < w; i++)
            f[i] += f[i + w];
    return f[0];
}
static inline int emu_reduce_add_epi32(simde__m512i v)
{
    EMU_LANES(int32_t, 16, v, a);
    int r = 0;
    for (int i = 0; i < 16; i++)
        r += a[i];
    return r;
}
#define _mm512_reduce_add_ps emu_reduce_add_ps
#define _mm512_reduce_max_ps emu_reduce_max_ps
#define _mm512_reduce_add_pd emu_reduce_add_pd
#define _mm512_reduce_add_epi32 emu_reduce_add_epi32

/* ---------------------------------------------------------- conversions */
static inline simde__m512i emu_zextsi256_si512(__m256i a)
{
    return simde_mm512_inserti64x4(simde_mm512_setzero_si512(), a, 0);
}
static inline simde__m512 emu_cvtph_ps(__m256i h)
{
    float f[16];
    _mm256_storeu_ps(f, _mm256_cvtph_ps(_mm256_castsi256_si128(h)));
    _mm256_storeu_ps(f + 8, _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)));
    return simde_mm512_loadu_ps(f);
}
static inline __m256i emu_cvtps_ph(simde__m512 v)
{
    EMU_LANES(float, 16, v, f);
    const __m128i a = _mm256_cvtps_ph(_mm256_loadu_ps(f), _MM_FROUND_TO_NEAREST_INT);
    const __m128i b = _mm256_cvtps_ph(_mm256_loadu_ps(f + 8), _MM_FROUND_TO_NEAREST_INT);
    return _mm256_inserti128_si256(_mm256_castsi128_si256(a), b, 1);
}
static inline simde__m512 emu_cvtepi32_ps(simde__m512i v)
{
    EMU_LANES(int32_t, 16, v, a);
    float f[16];
    for (int i = 0; i < 16; i++)
        f[i] = (float)a[i];
    return simde_mm512_loadu_ps(f);
}
static inline simde__m512i emu_cvtps_epi32(simde__m512 v, int truncate)
{
    EMU_LANES(float, 16, v, f);
    int32_t r[16];
    for (int i = 0; i < 16; i++)
        r[i] = truncate ? (int32_t)f[i] : (int32_t)lrintf(f[i]);
    return simde_mm512_loadu_si512(r);
}
static inline simde__m512i emu_cvtepi8_epi32(__m128i v)
{
    int8_t a[16];
    int32_t r[16];
    _mm_storeu_si128((__m128i *)a, v);
    for (int i = 0; i < 16; i++)
        r[i] = a[i];
    return simde_mm512_loadu_si512(r);
}
static inline simde__m512i emu_cvtepu8_epi32(__m128i v)
{
    uint8_t a[16];
    int32_t r[16];
    _mm_storeu_si128((__m128i *)a, v);
    for (int i = 0; i < 16; i++)
        r[i] = a[i];
    return simde_mm512_loadu_si512(r);
}
static inline simde__m512i emu_cvtepu16_epi32(__m256i v)
{
    uint16_t a[16];
    int32_t r[16];
    _mm256_storeu_si256((__m256i *)a, v);
    for (int i = 0; i < 16; i++)
        r[i] = a[i];
    return simde_mm512_loadu_si512(r);
}
static inline __m256i emu_cvtepi32_epi16(simde__m512i v)
{
    EMU_LANES(int32_t, 16, v, a);
    int16_t r[16];
    for (int i = 0; i < 16; i++)
        r[i] = (int16_t)a[i];
    return _mm256_loadu_si256((const __m256i *)r);
}
static inline simde__m512d emu_cvtps_pd(__m256 v)
{
    float a[8];
    double r[8];
    _mm256_storeu_ps(a, v);
    for (int i = 0; i < 8; i++)
        r[i] = a[i];
    return simde_mm512_loadu_pd(r);
}
static inline simde__m512 emu_trunc_ps(simde__m512 v)
{
    EMU_LANES(float, 16, v, f);
    for (int i = 0; i < 16; i++)
        f[i] = truncf(f[i]);
    return simde_mm512_loadu_ps(f);
}
#define _mm512_zextsi256_si512 emu_zextsi256_si512
#define _mm512_cvtph_ps emu_cvtph_ps
#define _mm512_cvtps_ph(v, r) emu_cvtps_ph(v)
#define _mm512_cvtepi32_ps emu_cvtepi32_ps
#define _mm512_cvttps_epi32(v) emu_cvtps_epi32(v, 1)
#define _mm512_cvtps_epi32(v) emu_cvtps_epi32(v, 0)
#define _mm512_cvt_roundps_epi32(v, r) emu_cvtps_epi32(v, 0) /* the tiers round to nearest even */
#define _mm512_cvtepi8_epi32 emu_cvtepi8_epi32
#define _mm512_cvtepu8_epi32 emu_cvtepu8_epi32
#define _mm512_cvtepu16_epi32 emu_cvtepu16_epi32
#define _mm512_cvtepi32_epi16 emu_cvtepi32_epi16
#define _mm512_cvtps_pd emu_cvtps_pd
#undef _mm512_roundscale_ps
#define _mm512_roundscale_ps(v, imm) emu_trunc_ps(v) /* the tiers use imm 0x0b: truncate */
#undef _mm512_madd_epi16
#define _mm512_madd_epi16(a, b) simde_mm512_madd_epi16(a, b)

/* ---------------------------------------------------------- masked memory */
static inline simde__m512 emu_mask_loadu_ps(simde__m512 src, uint16_t k, const void *p)
{
    EMU_LANES(float, 16, src, f);
    const float *q = p;
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            f[i] = q[i];
    return simde_mm512_loadu_ps(f);
}
static inline void emu_mask_storeu_ps(void *p, uint16_t k, simde__m512 v)
{
    EMU_LANES(float, 16, v, f);
    float *q = p;
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            q[i] = f[i];
}
static inline __m256i emu_maskz_loadu_epi16(uint16_t k, const void *p)
{
    uint16_t o[16];
    const uint16_t *q = p;
    for (int i = 0; i < 16; i++)
        o[i] = (k >> i) & 1 ? q[i] : 0;
    return _mm256_loadu_si256((const __m256i *)o);
}
static inline void emu_mask_storeu_epi16(void *p, uint16_t k, __m256i v)
{
    uint16_t a[16];
    uint16_t *q = p;
    _mm256_storeu_si256((__m256i *)a, v);
    for (int i = 0; i < 16; i++)
        if ((k >> i) & 1)
            q[i] = a[i];
}
#define _mm512_mask_loadu_ps emu_mask_loadu_ps
#define _mm512_maskz_loadu_ps(k, p) emu_mask_loadu_ps(simde_mm512_setzero_ps(), k, p)
#define _mm512_mask_storeu_ps emu_mask_storeu_ps
#define _mm256_maskz_loadu_epi16 emu_maskz_loadu_epi16
#define _mm256_mask_storeu_epi16 emu_mask_storeu_epi16

/* ---------------------------------------------------------- 256-bit masked bytes */
static inline __m256i emu_mask_sub_epi8(__m256i src, uint32_t k, __m256i a, __m256i b)
{
    int8_t s[32], x[32], y[32];
    _mm256_storeu_si256((__m256i *)s, src);
    _mm256_storeu_si256((__m256i *)x, a);
    _mm256_storeu_si256((__m256i *)y, b);
    for (int i = 0; i < 32; i++)
        if ((k >> i) & 1)
            s[i] = (int8_t)(x[i] - y[i]);
    return _mm256_loadu_si256((const __m256i *)s);
}
static inline uint32_t emu_test_epi8_mask(__m256i a, __m256i b)
{
    uint8_t x[32], y[32];
    uint32_t k = 0;
    _mm256_storeu_si256((__m256i *)x, a);
    _mm256_storeu_si256((__m256i *)y, b);
    for (int i = 0; i < 32; i++)
        if (x[i] & y[i])
            k |= 1u << i;
    return k;
}
static inline __m256i emu_mask_blend_epi8(uint32_t k, __m256i a, __m256i b)
{
    int8_t x[32], y[32];
    _mm256_storeu_si256((__m256i *)x, a);
    _mm256_storeu_si256((__m256i *)y, b);
    for (int i = 0; i < 32; i++)
        if ((k >> i) & 1)
            x[i] = y[i];
    return _mm256_loadu_si256((const __m256i *)x);
}
#undef _mm256_mask_sub_epi8
#define _mm256_mask_sub_epi8 emu_mask_sub_epi8
#undef _mm256_test_epi8_mask
#define _mm256_test_epi8_mask emu_test_epi8_mask
#undef _mm256_mask_blend_epi8
#define _mm256_mask_blend_epi8 emu_mask_blend_epi8

/* ---------------------------------------------------------- 256-bit VNNI */
/* vpdpbusd: each int32 lane of acc plus the four products of its unsigned
 * bytes of u with the signed bytes of s at the same places, wrapping, no
 * saturation (Intel's definition). */
static inline __m256i emu_dpbusd256(__m256i acc, __m256i u, __m256i s)
{
    int32_t d[8];
    uint8_t x[32];
    int8_t y[32];
    _mm256_storeu_si256((__m256i *)d, acc);
    _mm256_storeu_si256((__m256i *)x, u);
    _mm256_storeu_si256((__m256i *)y, s);
    for (int i = 0; i < 8; i++) {
        int32_t sum = 0;
        for (int j = 0; j < 4; j++)
            sum += (int32_t)x[4 * i + j] * (int32_t)y[4 * i + j];
        d[i] = (int32_t)((uint32_t)d[i] + (uint32_t)sum);
    }
    return _mm256_loadu_si256((const __m256i *)d);
}
/* vpdpwssd: each int32 lane of acc plus the two products of its int16
 * halves of a and b, wrapping. */
static inline __m256i emu_dpwssd256(__m256i acc, __m256i a, __m256i b)
{
    int32_t d[8];
    int16_t x[16], y[16];
    _mm256_storeu_si256((__m256i *)d, acc);
    _mm256_storeu_si256((__m256i *)x, a);
    _mm256_storeu_si256((__m256i *)y, b);
    for (int i = 0; i < 8; i++) {
        const uint32_t p = (uint32_t)((int32_t)x[2 * i] * y[2 * i]) + (uint32_t)((int32_t)x[2 * i + 1] * y[2 * i + 1]);
        d[i] = (int32_t)((uint32_t)d[i] + p);
    }
    return _mm256_loadu_si256((const __m256i *)d);
}
#undef _mm256_dpbusd_avx_epi32
#define _mm256_dpbusd_avx_epi32 emu_dpbusd256
#undef _mm256_dpwssd_avx_epi32
#define _mm256_dpwssd_avx_epi32 emu_dpwssd256
#undef _mm256_dpbusd_epi32
#define _mm256_dpbusd_epi32 emu_dpbusd256
#undef _mm256_dpwssd_epi32
#define _mm256_dpwssd_epi32 emu_dpwssd256

/* ---------------------------------------------------------- SLEEF */
static inline simde__m512 emu_expf16(simde__m512 v)
{
    EMU_LANES(float, 16, v, f);
    _mm256_storeu_ps(f, Sleef_expf8_u10avx2(_mm256_loadu_ps(f)));
    _mm256_storeu_ps(f + 8, Sleef_expf8_u10avx2(_mm256_loadu_ps(f + 8)));
    return simde_mm512_loadu_ps(f);
}
#define Sleef_expf16_u10avx512f emu_expf16

#endif
