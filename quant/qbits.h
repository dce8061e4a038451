/*
 * qbits.h — small helpers shared by the scalar reference (quant/quant_ref.c)
 * and the per-ISA kernel files: half-precision conversion and the unpacking of
 * the packed sub-block scales of the K formats and IQ4_XS.
 *
 * Everything here is `static inline` and plain C, so a tier file compiled with
 * its own -m flags gets its own copy and no ISA-specific code leaks into the
 * core library.  The unpacking helpers are the single statement of where each
 * scale lives; the kernels must agree with them bit for bit.
 */
#ifndef PLUMB_QBITS_H
#define PLUMB_QBITS_H

#include <stdint.h>
#include <string.h>

/* Bits of a float and back, without aliasing trouble. */
static inline uint32_t qb_f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static inline float qb_f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* IEEE binary16 -> binary32, exact for every input (NaN payloads kept). */
static inline float qb_fp16_to_fp32(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;   /* biased exponent, 5 bits */
    uint32_t man = h & 0x3ffu;          /* mantissa, 10 bits */

    if (exp == 0x1f) /* inf / NaN */
        return qb_f32_from_bits(sign | 0x7f800000u | (man << 13));
    if (exp == 0) {  /* zero / subnormal: man * 2^-24, exact in float */
        float v = (float)man * 0x1p-24f;
        return sign ? -v : v;
    }
    return qb_f32_from_bits(sign | ((exp + 112u) << 23) | (man << 13));
}

/* IEEE binary32 -> binary16, round to nearest even.  Overflow gives inf; a NaN
 * stays a NaN, quieted, with the top 10 payload bits kept (as F16C's
 * VCVTPS2PH and AArch64's FCVT do). */
static inline uint16_t qb_fp32_to_fp16(float f)
{
    uint32_t u = qb_f32_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000u);
    uint32_t a = u & 0x7fffffffu; /* magnitude bits */

    if (a > 0x7f800000u) /* NaN */
        return (uint16_t)(sign | 0x7e00u | ((a >> 13) & 0x3ffu));
    if (a >= 0x477ff000u) /* >= 65520: rounds to inf (and inf itself) */
        return (uint16_t)(sign | 0x7c00u);
    if (a >= 0x38800000u) { /* >= 2^-14: normal half */
        uint32_t h = ((((a >> 23) - 112u) << 10) | ((a >> 13) & 0x3ffu));
        uint32_t rem = a & 0x1fffu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u)))
            h++; /* a carry into the exponent is the right answer */
        return (uint16_t)(sign | h);
    }
    if (a < 0x33000000u) /* <= 2^-25 after rounding: zero (2^-25 ties to even 0) */
        return sign;
    {
        /* subnormal half: round(m * 2^(e-126)) units of 2^-24 */
        uint32_t e = a >> 23;                      /* 102..112 */
        uint32_t m = (a & 0x7fffffu) | 0x800000u;  /* 24-bit significand */
        uint32_t shift = 126u - e;                 /* 14..24 */
        uint32_t h = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rem > half || (rem == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
}

/* Q4_K / Q5_K: 6-bit scale and min of sub-block j (0..7) of the 12 packed
 * bytes q.  Sub-blocks 0..3 sit in the low 6 bits of bytes 0..3 (scale) and
 * 4..7 (min); 4..7 take their low 4 bits from the nibbles of bytes 8..11 and
 * their top 2 bits from the spare top bits of bytes 0..7. */
static inline void qb_scale_min_k4(int j, const uint8_t *q, uint8_t *sc, uint8_t *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (uint8_t)((q[j + 4] & 0xf) | ((q[j - 4] >> 6) << 4));
        *m = (uint8_t)((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

/* Q3_K: the 16 signed 6-bit sub-block scales (already minus 32) of the 12
 * packed bytes q.  Low 4 bits: nibbles of bytes 0..7 (low nibbles for
 * sub-blocks 0..7, high nibbles for 8..15); top 2 bits: byte 8 + j%4, bit
 * pair j/4. */
static inline void qb_q3_K_scales(const uint8_t *q, int8_t out[16])
{
    for (int j = 0; j < 16; j++) {
        int lo = j < 8 ? (q[j] & 0xf) : (q[j - 8] >> 4);
        int hi = (q[8 + (j & 3)] >> (2 * (j >> 2))) & 3;
        out[j] = (int8_t)((lo | (hi << 4)) - 32);
    }
}

/* IQ4_XS: the signed 6-bit scale (minus 32) of 32-element sub-block ib (0..7). */
static inline int qb_iq4_xs_scale(const uint8_t *scales_l, uint16_t scales_h, int ib)
{
    int lo = (scales_l[ib / 2] >> (4 * (ib % 2))) & 0xf;
    int hi = (scales_h >> (2 * ib)) & 3;
    return (lo | (hi << 4)) - 32;
}

#endif
