/*
 * quant_ref.c — the scalar specification of every tensor type plumb runs:
 * dequantisation, the activation quantisers and the dot products (see
 * quant_ref.h).  This is the C tier of the dispatch tables and what
 * checkdsp holds the SIMD kernels to.
 *
 * Compatibility: block layouts are the GGUF ones, and every function computes
 * the same arithmetic, in the same order, as the portable scalar code of
 * ggml (llama.cpp's tensor library), so a dequantised row, a quantised
 * activation row and a dot product are the same bits as there:
 *  - dequantisation multiplies in float exactly as ggml's to_float does;
 *  - Q8_0 / Q8_1 take d = amax/127, scale by 1/d and round half away from
 *    zero; Q8_K takes d = max/-127 with the sign of the largest-magnitude
 *    element and rounds half to even;
 *  - dot products sum integer products per block (or per 32 / 16-element
 *    sub-block), then scale in float; the K-quant dots keep eight float
 *    lane sums as ggml's portable code does; F32 / F16 / BF16 dots round
 *    each product to float and sum in double.
 * Every function takes n a multiple of the type's block size and never
 * reads or writes past n elements.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "qtypes.h"
#include "quant_ref.h"
#include "qbits.h"

#define FP16(h) qb_fp16_to_fp32(h)

/* ------------------------------------------------------------ dequantise */

void plumb_to_float_f32_c(const void *x, float *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void plumb_to_float_f16_c(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = FP16(h[i]);
}

void plumb_to_float_bf16_c(const void *x, float *y, int64_t n)
{
    const uint16_t *h = x;
    for (int64_t i = 0; i < n; i++)
        y[i] = plumb_bf16_to_fp32(h[i]);
}

/* 32-element formats: byte j of qs holds element j (low nibble) and
 * element j + 16 (high nibble). */
void plumb_to_float_q4_0_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ4_0 *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = FP16(b[i].d);
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            y[j] = (float)((b[i].qs[j] & 0xf) - 8) * d;
            y[j + PLUMB_QK / 2] = (float)((b[i].qs[j] >> 4) - 8) * d;
        }
    }
}

void plumb_to_float_q4_1_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ4_1 *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = FP16(b[i].d), m = FP16(b[i].m);
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            y[j] = (float)(b[i].qs[j] & 0xf) * d + m;
            y[j + PLUMB_QK / 2] = (float)(b[i].qs[j] >> 4) * d + m;
        }
    }
}

/* Q5: bit j of the little-endian 32-bit qh is the fifth bit of element j. */
static inline uint32_t load_qh(const uint8_t qh[4])
{
    return (uint32_t)qh[0] | (uint32_t)qh[1] << 8 | (uint32_t)qh[2] << 16 | (uint32_t)qh[3] << 24;
}

void plumb_to_float_q5_0_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ5_0 *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = FP16(b[i].d);
        const uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            int lo = (b[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)(lo - 16) * d;
            y[j + PLUMB_QK / 2] = (float)(hi - 16) * d;
        }
    }
}

void plumb_to_float_q5_1_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ5_1 *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = FP16(b[i].d), m = FP16(b[i].m);
        const uint32_t qh = load_qh(b[i].qh);
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            int lo = (b[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
            int hi = (b[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            y[j] = (float)lo * d + m;
            y[j + PLUMB_QK / 2] = (float)hi * d + m;
        }
    }
}

void plumb_to_float_q8_0_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ8_0 *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = FP16(b[i].d);
        for (int j = 0; j < PLUMB_QK; j++)
            y[j] = (float)b[i].qs[j] * d;
    }
}

void plumb_to_float_iq4_nl_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockIQ4_NL *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, y += PLUMB_QK) {
        const float d = FP16(b[i].d);
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            y[j] = d * (float)plumb_iq4nl_values[b[i].qs[j] & 0xf];
            y[j + PLUMB_QK / 2] = d * (float)plumb_iq4nl_values[b[i].qs[j] >> 4];
        }
    }
}

/*
 * K formats, 256 elements.  Q2_K / Q3_K / Q6_K have 16 sub-blocks of 16
 * (scale index e/16); Q4_K / Q5_K / IQ4_XS have 8 of 32 (index e/32).  The
 * 2-bit planes of Q2_K / Q3_K: element e = 128*h + 32*p + l (l < 32) is bit
 * pair p of qs[32*h + l]; Q3_K's high bit is bit 4*h + p of hmask[l].
 */
void plumb_to_float_q2_K_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ2_K *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = FP16(b[i].d), dmin = FP16(b[i].dmin);
        for (int e = 0; e < PLUMB_QK_K; e++) {
            const int h = e / 128, p = (e % 128) / 32, l = e % 32;
            const uint8_t sc = b[i].scales[e / 16];
            const float dl = d * (float)(sc & 0xf), ml = dmin * (float)(sc >> 4);
            const int q = (b[i].qs[32 * h + l] >> (2 * p)) & 3;
            *y++ = dl * (float)q - ml;
        }
    }
}

void plumb_to_float_q3_K_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ3_K *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = FP16(b[i].d);
        int8_t sc[16];
        qb_q3_K_scales(b[i].scales, sc);
        for (int e = 0; e < PLUMB_QK_K; e++) {
            const int h = e / 128, p = (e % 128) / 32, l = e % 32;
            const float dl = d * (float)sc[e / 16];
            int q = (b[i].qs[32 * h + l] >> (2 * p)) & 3;
            if (!(b[i].hmask[l] & (1u << (4 * h + p))))
                q -= 4;
            *y++ = dl * (float)q;
        }
    }
}

/* Q4_K / Q5_K: chunk c (64 elements) uses qs[32c .. 32c+32): low nibbles are
 * sub-block 2c, high nibbles sub-block 2c+1; Q5_K's fifth bit of element e is
 * bit e/32 of qh[e%32]. */
void plumb_to_float_q4_K_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ4_K *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = FP16(b[i].d), dmin = FP16(b[i].dmin);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            uint8_t sc, m;
            qb_scale_min_k4(2 * c, b[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            qb_scale_min_k4(2 * c + 1, b[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)(q[l] & 0xf) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)(q[l] >> 4) - m2;
        }
    }
}

void plumb_to_float_q5_K_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ5_K *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = FP16(b[i].d), dmin = FP16(b[i].dmin);
        for (int c = 0; c < 4; c++) {
            const uint8_t *q = b[i].qs + 32 * c;
            const uint8_t *qh = b[i].qh;
            uint8_t sc, m;
            qb_scale_min_k4(2 * c, b[i].scales, &sc, &m);
            const float d1 = d * (float)sc, m1 = dmin * (float)m;
            qb_scale_min_k4(2 * c + 1, b[i].scales, &sc, &m);
            const float d2 = d * (float)sc, m2 = dmin * (float)m;
            for (int l = 0; l < 32; l++)
                *y++ = d1 * (float)((q[l] & 0xf) + ((qh[l] >> (2 * c)) & 1) * 16) - m1;
            for (int l = 0; l < 32; l++)
                *y++ = d2 * (float)((q[l] >> 4) + ((qh[l] >> (2 * c + 1)) & 1) * 16) - m2;
        }
    }
}

/* Q6_K: 6-bit value of element e (h = e/128, p = (e%128)/32, l = e%32):
 * low 4 bits from ql[64h + l + 32(p&1)] (low nibble for p < 2, high nibble
 * otherwise), top 2 bits = bit pair p of qh[32h + l]; minus 32. */
static inline int q6_K_value(const PlumbBlockQ6_K *b, int e)
{
    const int h = e / 128, p = (e % 128) / 32, l = e % 32;
    const uint8_t lo = b->ql[64 * h + l + 32 * (p & 1)];
    const int low4 = p < 2 ? (lo & 0xf) : (lo >> 4);
    const int high2 = (b->qh[32 * h + l] >> (2 * p)) & 3;
    return (low4 | high2 << 4) - 32;
}

void plumb_to_float_q6_K_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockQ6_K *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = FP16(b[i].d);
        for (int e = 0; e < PLUMB_QK_K; e++)
            *y++ = d * (float)b[i].scales[e / 16] * (float)q6_K_value(&b[i], e);
    }
}

/* IQ4_XS: sub-block ib (32 elements) uses qs[16ib .. 16ib+16): low nibbles
 * are its first 16 elements, high nibbles the last 16. */
void plumb_to_float_iq4_xs_c(const void *x, float *y, int64_t n)
{
    const PlumbBlockIQ4_XS *b = x;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d = FP16(b[i].d);
        for (int ib = 0; ib < PLUMB_QK_K / 32; ib++) {
            const uint8_t *qs = b[i].qs + 16 * ib;
            const float dl = d * (float)qb_iq4_xs_scale(b[i].scales_l, b[i].scales_h, ib);
            for (int j = 0; j < 16; j++) {
                y[j] = dl * (float)plumb_iq4nl_values[qs[j] & 0xf];
                y[j + 16] = dl * (float)plumb_iq4nl_values[qs[j] >> 4];
            }
            y += 32;
        }
    }
}

/* ------------------------------------------------------------ quantise */

void plumb_from_float_f32_c(const float *x, void *y, int64_t n)
{
    memcpy(y, x, (size_t)n * sizeof(float));
}

void plumb_from_float_f16_c(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = qb_fp32_to_fp16(x[i]);
}

void plumb_from_float_bf16_c(const float *x, void *y, int64_t n)
{
    uint16_t *h = y;
    for (int64_t i = 0; i < n; i++)
        h[i] = plumb_fp32_to_bf16(x[i]);
}

/* Largest |x[j]| of a block (0 for an all-zero block). */
static inline float block_amax(const float *x, int n)
{
    float amax = 0.0f;
    for (int j = 0; j < n; j++) {
        const float a = fabsf(x[j]);
        amax = amax > a ? amax : a;
    }
    return amax;
}

void plumb_from_float_q8_0_c(const float *x, void *y, int64_t n)
{
    PlumbBlockQ8_0 *b = y;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        const float amax = block_amax(x, PLUMB_QK), d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        b[i].d = qb_fp32_to_fp16(d);
        for (int j = 0; j < PLUMB_QK; j++)
            b[i].qs[j] = (int8_t)lrintf(x[j] * id);
    }
}

/* Q4_0 as llama.cpp's reference quantiser makes it: the value of largest
 * magnitude maps to -8, d = that value / -8, q = clamp(x / d + 8.5) in 0..15. */
void plumb_from_float_q4_0_c(const float *x, void *y, int64_t n)
{
    PlumbBlockQ4_0 *b = y;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        float amax = 0.0f, max = 0.0f;
        for (int j = 0; j < PLUMB_QK; j++)
            if (fabsf(x[j]) > amax) {
                amax = fabsf(x[j]);
                max = x[j];
            }
        const float d = max / -8.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        b[i].d = qb_fp32_to_fp16(d);
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            const int q0 = (int)(x[j] * id + 8.5f), q1 = (int)(x[j + PLUMB_QK / 2] * id + 8.5f);
            b[i].qs[j] = (uint8_t)((q0 > 15 ? 15 : q0) | (q1 > 15 ? 15 : q1) << 4);
        }
    }
}

void plumb_from_float_q8_1_c(const float *x, void *y, int64_t n)
{
    PlumbBlockQ8_1 *b = y;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        const float amax = block_amax(x, PLUMB_QK), d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int sum = 0;
        b[i].d = qb_fp32_to_fp16(d);
        for (int j = 0; j < PLUMB_QK; j++) {
            b[i].qs[j] = (int8_t)lrintf(x[j] * id);
            sum += b[i].qs[j];
        }
        b[i].s = qb_fp32_to_fp16((float)sum * d);
    }
}

void plumb_from_float_q8_K_c(const float *x, void *y, int64_t n)
{
    PlumbBlockQ8_K *b = y;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++, x += PLUMB_QK_K) {
        float amax = 0.0f, max = 0.0f; /* max: the first element of largest magnitude */
        for (int j = 0; j < PLUMB_QK_K; j++) {
            const float a = fabsf(x[j]);
            if (a > amax) {
                amax = a;
                max = x[j];
            }
        }
        if (amax == 0.0f) {
            memset(&b[i], 0, sizeof b[i]);
            continue;
        }
        const float iscale = -127.0f / max;
        for (int j = 0; j < PLUMB_QK_K; j++) {
            /* round half to even; |iscale*x| <= 127 up to one rounding */
            long v = lrintf(iscale * x[j]);
            b[i].qs[j] = (int8_t)(v < 127 ? v : 127);
        }
        for (int g = 0; g < PLUMB_QK_K / 16; g++) {
            int sum = 0;
            for (int l = 0; l < 16; l++)
                sum += b[i].qs[16 * g + l];
            b[i].bsums[g] = (int16_t)sum;
        }
        b[i].d = 1.0f / iscale;
    }
}

/* ------------------------------------------------------------ dot products */

void plumb_vec_dot_f32_f32_c(int64_t n, float *s, const void *w, const void *a)
{
    const float *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(x[i] * y[i]);
    *s = (float)sum;
}

void plumb_vec_dot_f16_f16_c(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(FP16(x[i]) * FP16(y[i]));
    *s = (float)sum;
}

void plumb_vec_dot_bf16_bf16_c(int64_t n, float *s, const void *w, const void *a)
{
    const uint16_t *x = w, *y = a;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++)
        sum += (double)(plumb_bf16_to_fp32(x[i]) * plumb_bf16_to_fp32(y[i]));
    *s = (float)sum;
}

void plumb_vec_dot_q4_0_q8_0_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ4_0 *x = w;
    const PlumbBlockQ8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            sumi += ((x[i].qs[j] & 0xf) - 8) * y[i].qs[j];
            sumi += ((x[i].qs[j] >> 4) - 8) * y[i].qs[j + PLUMB_QK / 2];
        }
        sum += (float)sumi * FP16(x[i].d) * FP16(y[i].d);
    }
    *s = sum;
}

void plumb_vec_dot_q4_1_q8_1_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ4_1 *x = w;
    const PlumbBlockQ8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            sumi += (x[i].qs[j] & 0xf) * y[i].qs[j];
            sumi += (x[i].qs[j] >> 4) * y[i].qs[j + PLUMB_QK / 2];
        }
        sum += FP16(x[i].d) * FP16(y[i].d) * (float)sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    *s = sum;
}

void plumb_vec_dot_q5_0_q8_0_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ5_0 *x = w;
    const PlumbBlockQ8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            int lo = ((x[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4) - 16;
            int hi = ((x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4) - 16;
            sumi += lo * y[i].qs[j] + hi * y[i].qs[j + PLUMB_QK / 2];
        }
        sum += FP16(x[i].d) * FP16(y[i].d) * (float)sumi;
    }
    *s = sum;
}

void plumb_vec_dot_q5_1_q8_1_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ5_1 *x = w;
    const PlumbBlockQ8_1 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        const uint32_t qh = load_qh(x[i].qh);
        int sumi = 0;
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            int lo = (x[i].qs[j] & 0xf) | (int)((qh >> j) & 1) << 4;
            int hi = (x[i].qs[j] >> 4) | (int)((qh >> (j + 16)) & 1) << 4;
            sumi += lo * y[i].qs[j] + hi * y[i].qs[j + PLUMB_QK / 2];
        }
        sum += FP16(x[i].d) * FP16(y[i].d) * (float)sumi + FP16(x[i].m) * FP16(y[i].s);
    }
    *s = sum;
}

void plumb_vec_dot_q8_0_q8_0_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ8_0 *x = w;
    const PlumbBlockQ8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        int sumi = 0;
        for (int j = 0; j < PLUMB_QK; j++)
            sumi += x[i].qs[j] * y[i].qs[j];
        sum += (float)sumi * (FP16(x[i].d) * FP16(y[i].d));
    }
    *s = sum;
}

void plumb_vec_dot_iq4_nl_q8_0_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockIQ4_NL *x = w;
    const PlumbBlockQ8_0 *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        const float d = FP16(y[i].d) * FP16(x[i].d);
        int sumi = 0;
        for (int j = 0; j < PLUMB_QK / 2; j++) {
            sumi += y[i].qs[j] * plumb_iq4nl_values[x[i].qs[j] & 0xf];
            sumi += y[i].qs[j + PLUMB_QK / 2] * plumb_iq4nl_values[x[i].qs[j] >> 4];
        }
        sum += d * (float)sumi;
    }
    *s = sum;
}

void plumb_vec_dot_q2_K_q8_K_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ2_K *x = w;
    const PlumbBlockQ8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const uint8_t *sc = x[i].scales;
        int summs = 0, isum = 0;
        for (int g = 0; g < 16; g++)
            summs += y[i].bsums[g] * (sc[g] >> 4);
        for (int g = 0; g < 16; g++) { /* sub-block of 16: e = 16g + l */
            int isuml = 0;
            for (int l = 0; l < 16; l++) {
                const int e = 16 * g + l, h = e / 128, p = (e % 128) / 32;
                isuml += y[i].qs[e] * ((x[i].qs[32 * h + e % 32] >> (2 * p)) & 3);
            }
            isum += (sc[g] & 0xf) * isuml;
        }
        const float dall = y[i].d * FP16(x[i].d);
        const float dmin = y[i].d * FP16(x[i].dmin);
        sum += dall * (float)isum - dmin * (float)summs;
    }
    *s = sum;
}

/*
 * Q3_K..Q6_K: per super-block, eight integer lane sums (lane = element index
 * mod 8) of scale * q * a, each scaled by d_w * d_a and added into its own
 * float lane; the lanes are added in order at the end, after the mins
 * (Q4_K / Q5_K) went into the total.  This is the float order of ggml's
 * portable code.
 */
static float sum_lanes(const float lanes[8], float sum)
{
    for (int l = 0; l < 8; l++)
        sum += lanes[l];
    return sum;
}

void plumb_vec_dot_q3_K_q8_K_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ3_K *x = w;
    const PlumbBlockQ8_K *y = a;
    float lanes[8] = { 0 };
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        int32_t acc[8] = { 0 };
        int8_t sc[16];
        qb_q3_K_scales(x[i].scales, sc);
        for (int e = 0; e < PLUMB_QK_K; e++) {
            const int h = e / 128, p = (e % 128) / 32, l = e % 32;
            int q = (x[i].qs[32 * h + l] >> (2 * p)) & 3;
            if (!(x[i].hmask[l] & (1u << (4 * h + p))))
                q -= 4;
            acc[e % 8] += sc[e / 16] * (q * y[i].qs[e]);
        }
        const float d = FP16(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++)
            lanes[l] += d * (float)acc[l];
    }
    *s = sum_lanes(lanes, 0.0f);
}

/* Q4_K / Q5_K share everything but the fifth bit. */
static float dot_q45_K(int64_t n, const void *w, const PlumbBlockQ8_K *y, int five)
{
    float lanes[8] = { 0 };
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const uint16_t *dd;  /* d, dmin */
        const uint8_t *scales, *qs, *qh = NULL;
        if (five) {
            const PlumbBlockQ5_K *x = (const PlumbBlockQ5_K *)w + i;
            dd = &x->d;
            scales = x->scales;
            qs = x->qs;
            qh = x->qh;
        } else {
            const PlumbBlockQ4_K *x = (const PlumbBlockQ4_K *)w + i;
            dd = &x->d;
            scales = x->scales;
            qs = x->qs;
        }
        uint8_t sc[8], mn[8];
        for (int j = 0; j < 8; j++)
            qb_scale_min_k4(j, scales, &sc[j], &mn[j]);

        int32_t acc[8] = { 0 };
        for (int e = 0; e < PLUMB_QK_K; e++) {
            const int c = e / 64, l = e % 32;
            const uint8_t byte = qs[32 * c + l];
            int q = (e % 64) < 32 ? (byte & 0xf) : (byte >> 4);
            if (five)
                q += ((qh[l] >> (e / 32)) & 1) * 16;
            acc[e % 8] += sc[e / 32] * (q * y[i].qs[e]);
        }
        int summ = 0;
        for (int g = 0; g < 16; g++)
            summ += y[i].bsums[g] * mn[g / 2];

        const float d = FP16(dd[0]) * y[i].d;
        for (int l = 0; l < 8; l++)
            lanes[l] += d * (float)acc[l];
        const float dmin = FP16(dd[1]) * y[i].d;
        sum -= dmin * (float)summ;
    }
    return sum_lanes(lanes, sum);
}

void plumb_vec_dot_q4_K_q8_K_c(int64_t n, float *s, const void *w, const void *a)
{
    *s = dot_q45_K(n, w, a, 0);
}

void plumb_vec_dot_q5_K_q8_K_c(int64_t n, float *s, const void *w, const void *a)
{
    *s = dot_q45_K(n, w, a, 1);
}

void plumb_vec_dot_q6_K_q8_K_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockQ6_K *x = w;
    const PlumbBlockQ8_K *y = a;
    float lanes[8] = { 0 };
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        int32_t acc[8] = { 0 };
        for (int e = 0; e < PLUMB_QK_K; e++)
            acc[e % 8] += x[i].scales[e / 16] * (q6_K_value(&x[i], e) * y[i].qs[e]);
        const float d = FP16(x[i].d) * y[i].d;
        for (int l = 0; l < 8; l++)
            lanes[l] += d * (float)acc[l];
    }
    *s = sum_lanes(lanes, 0.0f);
}

void plumb_vec_dot_iq4_xs_q8_K_c(int64_t n, float *s, const void *w, const void *a)
{
    const PlumbBlockIQ4_XS *x = w;
    const PlumbBlockQ8_K *y = a;
    float sum = 0.0f;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        const float d4d8 = FP16(x[i].d) * y[i].d;
        for (int ib = 0; ib < PLUMB_QK_K / 32; ib++) {
            const uint8_t *qs = x[i].qs + 16 * ib;
            const int8_t *q8 = y[i].qs + 32 * ib;
            const float dl = d4d8 * (float)qb_iq4_xs_scale(x[i].scales_l, x[i].scales_h, ib);
            int sumi = 0;
            for (int j = 0; j < 16; j++) {
                sumi += q8[j] * plumb_iq4nl_values[qs[j] & 0xf];
                sumi += q8[j + 16] * plumb_iq4nl_values[qs[j] >> 4];
            }
            sum += dl * (float)sumi;
        }
    }
    *s = sum;
}

/* ------------------------------------------------------------ Q8_0X, Q4_0_R8 */

void plumb_from_float_q8_0x_c(const float *x, void *y, int64_t n)
{
    PlumbBlockQ8_0X *b = y;
    for (int64_t i = 0; i < n / PLUMB_QK; i++, x += PLUMB_QK) {
        const float amax = block_amax(x, PLUMB_QK), d = amax / 127.0f;
        const float id = amax != 0.0f ? 127.0f / amax : 0.0f;
        int32_t sum = 0;
        b[i].d = qb_fp16_to_fp32(qb_fp32_to_fp16(d));
        for (int j = 0; j < PLUMB_QK; j++) {
            b[i].qs[j] = (int8_t)lrintf(x[j] * id);
            sum += b[i].qs[j];
        }
        b[i].s8 = 8 * sum;
    }
}

/* Byte and shift of q_r[j] in a PlumbBlockQ4_0x8 (see qtypes.h). */
static inline int r8_byte(int r, int j)
{
    return 32 * ((j % 16) / 4) + 4 * r + j % 4;
}

static inline int q4_0_nibble(const PlumbBlockQ4_0 *b, int j)
{
    return j < 16 ? b->qs[j] & 15 : b->qs[j - 16] >> 4;
}

void plumb_repack_q4_0_r8(const void *src, uint64_t src_stride, void *dst, int64_t n)
{
    PlumbBlockQ4_0x8 *out = dst;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        memset(&out[i], 0, sizeof out[i]);
        for (int r = 0; r < PLUMB_R8; r++) {
            const PlumbBlockQ4_0 *b =
                (const PlumbBlockQ4_0 *)((const char *)src + (uint64_t)r * src_stride) + i;
            out[i].d[r] = b->d;
            for (int j = 0; j < PLUMB_QK; j++)
                out[i].qs[r8_byte(r, j)] |= (uint8_t)(q4_0_nibble(b, j) << (j < 16 ? 0 : 4));
        }
    }
}

void plumb_unpack_q4_0_r8(const void *src, void *dst, uint64_t dst_stride, int64_t n)
{
    const PlumbBlockQ4_0x8 *in = src;
    for (int64_t i = 0; i < n / PLUMB_QK; i++) {
        for (int r = 0; r < PLUMB_R8; r++) {
            PlumbBlockQ4_0 *b = (PlumbBlockQ4_0 *)((char *)dst + (uint64_t)r * dst_stride) + i;
            b->d = in[i].d[r];
            for (int j = 0; j < 16; j++)
                b->qs[j] = (uint8_t)((in[i].qs[r8_byte(r, j)] & 15) |
                                     (in[i].qs[r8_byte(r, j + 16)] & 0xf0));
        }
    }
}

void plumb_gemm_q4_0_r8_c(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                          const void *const *a, float *const *y, int64_t nt)
{
    const int64_t nb = n / PLUMB_QK;
    for (int64_t p = r0 / PLUMB_R8; p < r1 / PLUMB_R8; p++) {
        const PlumbBlockQ4_0x8 *pw =
            (const PlumbBlockQ4_0x8 *)((const char *)w + (uint64_t)p * PLUMB_R8 * w_stride);
        for (int64_t t = 0; t < nt; t++) {
            const PlumbBlockQ8_0X *at = a[t];
            for (int r = 0; r < PLUMB_R8; r++) {
                float acc = 0.0f;
                for (int64_t i = 0; i < nb; i++) {
                    int32_t isum = 0;
                    for (int j = 0; j < PLUMB_QK; j++) {
                        const uint8_t byte = pw[i].qs[r8_byte(r, j)];
                        isum += (j < 16 ? byte & 15 : byte >> 4) * at[i].qs[j];
                    }
                    isum -= at[i].s8;
                    acc = fmaf((float)isum, qb_fp16_to_fp32(pw[i].d[r]) * at[i].d, acc);
                }
                y[t][p * PLUMB_R8 + r] = acc;
            }
        }
    }
}

/* ------------------------------------------------------------ Q4_K_R8 */

void plumb_repack_q4_K_r8(const void *src, uint64_t src_stride, void *dst, int64_t n)
{
    PlumbBlockQ4_Kx8 *out = dst;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        memset(&out[i], 0, sizeof out[i]);
        for (int r = 0; r < PLUMB_R8; r++) {
            const PlumbBlockQ4_K *b =
                (const PlumbBlockQ4_K *)((const char *)src + (uint64_t)r * src_stride) + i;
            out[i].d[r] = b->d;
            out[i].dmin[r] = b->dmin;
            for (int s = 0; s < PLUMB_QK_K / 32; s++) {
                qb_scale_min_k4(s, b->scales, &out[i].sc[s][r], &out[i].m[s][r]);
                for (int j = 0; j < PLUMB_QK; j++) {
                    /* element j of sub-block s: nibble of qs[32 * (s / 2) + j] */
                    const uint8_t byte = b->qs[32 * (s / 2) + j];
                    const int q = s % 2 ? byte >> 4 : byte & 15;
                    out[i].qs[s][r8_byte(r, j)] |= (uint8_t)(q << (j < 16 ? 0 : 4));
                }
            }
        }
    }
}

void plumb_unpack_q4_K_r8(const void *src, void *dst, uint64_t dst_stride, int64_t n)
{
    const PlumbBlockQ4_Kx8 *in = src;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        for (int r = 0; r < PLUMB_R8; r++) {
            PlumbBlockQ4_K *b = (PlumbBlockQ4_K *)((char *)dst + (uint64_t)r * dst_stride) + i;
            memset(b, 0, sizeof *b);
            b->d = in[i].d[r];
            b->dmin = in[i].dmin[r];
            for (int s = 0; s < PLUMB_QK_K / 32; s++) {
                const uint8_t sc = in[i].sc[s][r], m = in[i].m[s][r];
                /* the inverse of qb_scale_min_k4 */
                if (s < 4) {
                    b->scales[s] |= sc & 63;
                    b->scales[s + 4] |= m & 63;
                } else {
                    b->scales[s + 4] = (uint8_t)((sc & 15) | (m & 15) << 4);
                    b->scales[s - 4] |= (uint8_t)((sc >> 4) << 6);
                    b->scales[s] |= (uint8_t)((m >> 4) << 6);
                }
                for (int j = 0; j < PLUMB_QK; j++) {
                    const uint8_t byte = in[i].qs[s][r8_byte(r, j)];
                    const int q = j < 16 ? byte & 15 : byte >> 4;
                    b->qs[32 * (s / 2) + j] |= (uint8_t)(q << (s % 2 ? 4 : 0));
                }
            }
        }
    }
}

void plumb_gemm_q4_K_r8_c(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                          const void *const *a, float *const *y, int64_t nt)
{
    const int64_t nb = n / PLUMB_QK_K;
    for (int64_t p = r0 / PLUMB_R8; p < r1 / PLUMB_R8; p++) {
        const PlumbBlockQ4_Kx8 *pw =
            (const PlumbBlockQ4_Kx8 *)((const char *)w + (uint64_t)p * PLUMB_R8 * w_stride);
        for (int64_t t = 0; t < nt; t++) {
            const PlumbBlockQ8_K *at = a[t];
            for (int r = 0; r < PLUMB_R8; r++) {
                float acc = 0.0f;
                for (int64_t i = 0; i < nb; i++) {
                    int32_t is = 0, im = 0;
                    for (int s = 0; s < PLUMB_QK_K / 32; s++) {
                        int32_t sum = 0;
                        for (int j = 0; j < PLUMB_QK; j++) {
                            const uint8_t byte = pw[i].qs[s][r8_byte(r, j)];
                            sum += (j < 16 ? byte & 15 : byte >> 4) * at[i].qs[32 * s + j];
                        }
                        is += pw[i].sc[s][r] * sum;
                        im += pw[i].m[s][r] * (at[i].bsums[2 * s] + at[i].bsums[2 * s + 1]);
                    }
                    acc = fmaf((float)is, qb_fp16_to_fp32(pw[i].d[r]) * at[i].d, acc);
                    acc = fmaf(-(float)im, qb_fp16_to_fp32(pw[i].dmin[r]) * at[i].d, acc);
                }
                y[t][p * PLUMB_R8 + r] = acc;
            }
        }
    }
}

/* ------------------------------------------------------------ Q6_K_R8 */

/* Element e (0..255) of a Q6_K block: where its 4 low and 2 high bits are. */
static inline void q6k_place(int e, int *ql_byte, int *ql_shift, int *qh_byte, int *qh_shift)
{
    const int h = e / 128, l = e % 128, g = l / 32, i = l % 32;
    *ql_byte = 64 * h + 32 * (g & 1) + i;
    *ql_shift = g < 2 ? 0 : 4;
    *qh_byte = 32 * h + i;
    *qh_shift = 2 * g;
}

/* Byte and shift of the high bits of element j (0..31) of a sub-block of
 * row r in a PlumbBlockQ6_Kx8's qh[s]. */
static inline void r8_high_place(int r, int j, int *byte, int *shift)
{
    const int g = j < 16 ? j / 4 : 4 + (j - 16) / 4; /* column group */
    *byte = 32 * (g / 4) + 4 * r + j % 4;
    *shift = 2 * (g % 4);
}

void plumb_repack_q6_K_r8(const void *src, uint64_t src_stride, void *dst, int64_t n)
{
    PlumbBlockQ6_Kx8 *out = dst;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        memset(&out[i], 0, sizeof out[i]);
        for (int r = 0; r < PLUMB_R8; r++) {
            const PlumbBlockQ6_K *b =
                (const PlumbBlockQ6_K *)((const char *)src + (uint64_t)r * src_stride) + i;
            out[i].d[r] = b->d;
            for (int k = 0; k < PLUMB_QK_K / 16; k++)
                out[i].sc[k][r] = b->scales[k];
            for (int e = 0; e < PLUMB_QK_K; e++) {
                int lb, ls, hb, hs, ob, os;
                q6k_place(e, &lb, &ls, &hb, &hs);
                const int lo = (b->ql[lb] >> ls) & 15, hi = (b->qh[hb] >> hs) & 3;
                const int s = e / 32, j = e % 32;
                out[i].ql[s][r8_byte(r, j)] |= (uint8_t)(lo << (j < 16 ? 0 : 4));
                r8_high_place(r, j, &ob, &os);
                out[i].qh[s][ob] |= (uint8_t)(hi << os);
            }
        }
    }
}

void plumb_unpack_q6_K_r8(const void *src, void *dst, uint64_t dst_stride, int64_t n)
{
    const PlumbBlockQ6_Kx8 *in = src;
    for (int64_t i = 0; i < n / PLUMB_QK_K; i++) {
        for (int r = 0; r < PLUMB_R8; r++) {
            PlumbBlockQ6_K *b = (PlumbBlockQ6_K *)((char *)dst + (uint64_t)r * dst_stride) + i;
            memset(b, 0, sizeof *b);
            b->d = in[i].d[r];
            for (int k = 0; k < PLUMB_QK_K / 16; k++)
                b->scales[k] = in[i].sc[k][r];
            for (int e = 0; e < PLUMB_QK_K; e++) {
                int lb, ls, hb, hs, ob, os;
                const int s = e / 32, j = e % 32;
                const uint8_t byte = in[i].ql[s][r8_byte(r, j)];
                const int lo = j < 16 ? byte & 15 : byte >> 4;
                r8_high_place(r, j, &ob, &os);
                const int hi = (in[i].qh[s][ob] >> os) & 3;
                q6k_place(e, &lb, &ls, &hb, &hs);
                b->ql[lb] |= (uint8_t)(lo << ls);
                b->qh[hb] |= (uint8_t)(hi << hs);
            }
        }
    }
}

void plumb_gemm_q6_K_r8_c(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                          const void *const *a, float *const *y, int64_t nt)
{
    const int64_t nb = n / PLUMB_QK_K;
    for (int64_t p = r0 / PLUMB_R8; p < r1 / PLUMB_R8; p++) {
        const PlumbBlockQ6_Kx8 *pw =
            (const PlumbBlockQ6_Kx8 *)((const char *)w + (uint64_t)p * PLUMB_R8 * w_stride);
        for (int64_t t = 0; t < nt; t++) {
            const PlumbBlockQ8_K *at = a[t];
            for (int r = 0; r < PLUMB_R8; r++) {
                float acc = 0.0f;
                for (int64_t i = 0; i < nb; i++) {
                    int32_t is = 0, io = 0;
                    for (int k = 0; k < PLUMB_QK_K / 16; k++) {
                        int32_t sum = 0;
                        for (int j = 16 * (k % 2); j < 16 * (k % 2) + 16; j++) {
                            int ob, os;
                            const uint8_t byte = pw[i].ql[k / 2][r8_byte(r, j)];
                            r8_high_place(r, j, &ob, &os);
                            const int q = (j < 16 ? byte & 15 : byte >> 4) |
                                          ((pw[i].qh[k / 2][ob] >> os) & 3) << 4;
                            sum += q * at[i].qs[32 * (k / 2) + j];
                        }
                        is += pw[i].sc[k][r] * sum;
                        io += pw[i].sc[k][r] * at[i].bsums[k];
                    }
                    acc = fmaf((float)(is - 32 * io), qb_fp16_to_fp32(pw[i].d[r]) * at[i].d, acc);
                }
                y[t][p * PLUMB_R8 + r] = acc;
            }
        }
    }
}

static const PlumbRepackOps repack_ops[] = {
    { PLUMB_QTYPE_Q4_0, PLUMB_QTYPE_Q4_0_R8, plumb_repack_q4_0_r8, plumb_unpack_q4_0_r8 },
    { PLUMB_QTYPE_Q4_K, PLUMB_QTYPE_Q4_K_R8, plumb_repack_q4_K_r8, plumb_unpack_q4_K_r8 },
    { PLUMB_QTYPE_Q6_K, PLUMB_QTYPE_Q6_K_R8, plumb_repack_q6_K_r8, plumb_unpack_q6_K_r8 },
};

const PlumbRepackOps *plumb_repack_ops(uint32_t type)
{
    for (size_t i = 0; i < sizeof repack_ops / sizeof repack_ops[0]; i++)
        if (repack_ops[i].from == type || repack_ops[i].to == type)
            return &repack_ops[i];
    return NULL;
}
