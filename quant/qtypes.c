/*
 * qtypes.c — the traits table of the GGUF tensor types plumb knows, the
 * IQ4_NL codebook, row sizes and the fp16 / bf16 conversions (see qtypes.h).
 *
 * Invariants: every block struct has exactly its GGUF on-disk size (checked
 * below at compile time); a table entry with blck == 0 is a type plumb does
 * not know.  Nothing here allocates.
 */
#include "config.h"

#include <stddef.h>

#include "qtypes.h"
#include "qbits.h"

_Static_assert(sizeof(PlumbBlockQ4_0) == 2 + PLUMB_QK / 2, "Q4_0 block size");
_Static_assert(sizeof(PlumbBlockQ4_1) == 4 + PLUMB_QK / 2, "Q4_1 block size");
_Static_assert(sizeof(PlumbBlockQ5_0) == 2 + 4 + PLUMB_QK / 2, "Q5_0 block size");
_Static_assert(sizeof(PlumbBlockQ5_1) == 4 + 4 + PLUMB_QK / 2, "Q5_1 block size");
_Static_assert(sizeof(PlumbBlockQ8_0) == 2 + PLUMB_QK, "Q8_0 block size");
_Static_assert(sizeof(PlumbBlockQ8_1) == 4 + PLUMB_QK, "Q8_1 block size");
_Static_assert(sizeof(PlumbBlockQ2_K) == 4 + PLUMB_QK_K / 16 + PLUMB_QK_K / 4, "Q2_K block size");
_Static_assert(sizeof(PlumbBlockQ3_K) == 2 + PLUMB_QK_K / 4 + PLUMB_QK_K / 8 + 12, "Q3_K block size");
_Static_assert(sizeof(PlumbBlockQ4_K) == 4 + PLUMB_K_SCALE_SIZE + PLUMB_QK_K / 2, "Q4_K block size");
_Static_assert(sizeof(PlumbBlockQ5_K) == 4 + PLUMB_K_SCALE_SIZE + PLUMB_QK_K / 8 + PLUMB_QK_K / 2,
               "Q5_K block size");
_Static_assert(sizeof(PlumbBlockQ6_K) == 2 + PLUMB_QK_K / 16 + 3 * PLUMB_QK_K / 4, "Q6_K block size");
_Static_assert(sizeof(PlumbBlockQ8_K) == 4 + PLUMB_QK_K + 2 * PLUMB_QK_K / 16, "Q8_K block size");
_Static_assert(sizeof(PlumbBlockIQ4_NL) == 2 + PLUMB_QK / 2, "IQ4_NL block size");
_Static_assert(sizeof(PlumbBlockIQ4_XS) == 4 + PLUMB_QK_K / 64 + PLUMB_QK_K / 2, "IQ4_XS block size");
_Static_assert(sizeof(PlumbBlockQ4_0x8) == PLUMB_R8 * sizeof(PlumbBlockQ4_0), "Q4_0x8 block size");
_Static_assert(sizeof(PlumbBlockQ8_0X) == 8 + PLUMB_QK, "Q8_0X block size");
_Static_assert(sizeof(PlumbBlockQ4_Kx8) == 1184, "Q4_Kx8 block size");
_Static_assert(sizeof(PlumbBlockQ6_Kx8) == PLUMB_R8 * sizeof(PlumbBlockQ6_K), "Q6_Kx8 block size");
/* Spot checks of field offsets that a packing mistake would move. */
_Static_assert(offsetof(PlumbBlockQ2_K, d) == 80, "Q2_K d offset");
_Static_assert(offsetof(PlumbBlockQ3_K, d) == 108, "Q3_K d offset");
_Static_assert(offsetof(PlumbBlockQ4_K, qs) == 16, "Q4_K qs offset");
_Static_assert(offsetof(PlumbBlockQ5_K, qs) == 48, "Q5_K qs offset");
_Static_assert(offsetof(PlumbBlockQ6_K, d) == 208, "Q6_K d offset");
_Static_assert(offsetof(PlumbBlockQ8_K, bsums) == 260, "Q8_K bsums offset");
_Static_assert(offsetof(PlumbBlockIQ4_XS, qs) == 8, "IQ4_XS qs offset");

const int8_t plumb_iq4nl_values[16] = {
    -127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113,
};

#define T(id, nm, b, sz, a, w) [id] = { nm, b, (uint32_t)(sz), a, w, 1 }
static const PlumbQTraits traits[PLUMB_QTYPE_COUNT] = {
    T(PLUMB_QTYPE_F32, "F32", 1, sizeof(float), PLUMB_QTYPE_F32, 1),
    T(PLUMB_QTYPE_F16, "F16", 1, sizeof(uint16_t), PLUMB_QTYPE_F16, 1),
    T(PLUMB_QTYPE_BF16, "BF16", 1, sizeof(uint16_t), PLUMB_QTYPE_BF16, 1),
    T(PLUMB_QTYPE_Q4_0, "Q4_0", PLUMB_QK, sizeof(PlumbBlockQ4_0), PLUMB_QTYPE_Q8_0, 1),
    T(PLUMB_QTYPE_Q4_1, "Q4_1", PLUMB_QK, sizeof(PlumbBlockQ4_1), PLUMB_QTYPE_Q8_1, 1),
    T(PLUMB_QTYPE_Q5_0, "Q5_0", PLUMB_QK, sizeof(PlumbBlockQ5_0), PLUMB_QTYPE_Q8_0, 1),
    T(PLUMB_QTYPE_Q5_1, "Q5_1", PLUMB_QK, sizeof(PlumbBlockQ5_1), PLUMB_QTYPE_Q8_1, 1),
    T(PLUMB_QTYPE_Q8_0, "Q8_0", PLUMB_QK, sizeof(PlumbBlockQ8_0), PLUMB_QTYPE_Q8_0, 1),
    T(PLUMB_QTYPE_Q8_1, "Q8_1", PLUMB_QK, sizeof(PlumbBlockQ8_1), -1, 0),
    T(PLUMB_QTYPE_Q2_K, "Q2_K", PLUMB_QK_K, sizeof(PlumbBlockQ2_K), PLUMB_QTYPE_Q8_K, 1),
    T(PLUMB_QTYPE_Q3_K, "Q3_K", PLUMB_QK_K, sizeof(PlumbBlockQ3_K), PLUMB_QTYPE_Q8_K, 1),
    T(PLUMB_QTYPE_Q4_K, "Q4_K", PLUMB_QK_K, sizeof(PlumbBlockQ4_K), PLUMB_QTYPE_Q8_K, 1),
    T(PLUMB_QTYPE_Q5_K, "Q5_K", PLUMB_QK_K, sizeof(PlumbBlockQ5_K), PLUMB_QTYPE_Q8_K, 1),
    T(PLUMB_QTYPE_Q6_K, "Q6_K", PLUMB_QK_K, sizeof(PlumbBlockQ6_K), PLUMB_QTYPE_Q8_K, 1),
    T(PLUMB_QTYPE_Q8_K, "Q8_K", PLUMB_QK_K, sizeof(PlumbBlockQ8_K), -1, 0),
    T(PLUMB_QTYPE_IQ4_NL, "IQ4_NL", PLUMB_QK, sizeof(PlumbBlockIQ4_NL), PLUMB_QTYPE_Q8_0, 1),
    T(PLUMB_QTYPE_IQ4_XS, "IQ4_XS", PLUMB_QK_K, sizeof(PlumbBlockIQ4_XS), PLUMB_QTYPE_Q8_K, 1),
    /* the size of one row's share of a block of eight rows */
    [PLUMB_QTYPE_Q4_0_R8] = { "Q4_0_R8", PLUMB_QK, sizeof(PlumbBlockQ4_0), PLUMB_QTYPE_Q8_0X, 1,
                              PLUMB_R8 },
    T(PLUMB_QTYPE_Q8_0X, "Q8_0X", PLUMB_QK, sizeof(PlumbBlockQ8_0X), -1, 0),
    [PLUMB_QTYPE_Q4_K_R8] = { "Q4_K_R8", PLUMB_QK_K, sizeof(PlumbBlockQ4_Kx8) / PLUMB_R8,
                              PLUMB_QTYPE_Q8_K, 1, PLUMB_R8 },
    [PLUMB_QTYPE_Q6_K_R8] = { "Q6_K_R8", PLUMB_QK_K, sizeof(PlumbBlockQ6_K), PLUMB_QTYPE_Q8_K, 1,
                              PLUMB_R8 },
};
#undef T

const PlumbQTraits *plumb_qtype_traits(uint32_t type)
{
    if (type >= PLUMB_QTYPE_COUNT || traits[type].blck == 0)
        return NULL;
    return &traits[type];
}

const char *plumb_qtype_name(uint32_t type)
{
    const PlumbQTraits *t = plumb_qtype_traits(type);
    return t ? t->name : "unknown";
}

uint32_t plumb_qtype_from_gguf(uint32_t gguf_type)
{
    if (gguf_type == PLUMB_GGUF_TYPE_Q4_0_R8)
        return PLUMB_QTYPE_Q4_0_R8;
    if (gguf_type == PLUMB_GGUF_TYPE_Q4_K_R8)
        return PLUMB_QTYPE_Q4_K_R8;
    if (gguf_type == PLUMB_GGUF_TYPE_Q6_K_R8)
        return PLUMB_QTYPE_Q6_K_R8;
    if (gguf_type < PLUMB_QTYPE_Q4_0_R8)
        return gguf_type;
    return UINT32_MAX;
}

uint32_t plumb_qtype_to_gguf(uint32_t type)
{
    return type == PLUMB_QTYPE_Q4_0_R8   ? PLUMB_GGUF_TYPE_Q4_0_R8
           : type == PLUMB_QTYPE_Q4_K_R8 ? PLUMB_GGUF_TYPE_Q4_K_R8
           : type == PLUMB_QTYPE_Q6_K_R8 ? PLUMB_GGUF_TYPE_Q6_K_R8
                                         : type;
}

uint64_t plumb_qtype_row_size(uint32_t type, uint64_t n)
{
    const PlumbQTraits *t = plumb_qtype_traits(type);
    uint64_t blocks;

    if (!t || n % (uint64_t)t->blck != 0)
        return 0;
    blocks = n / (uint64_t)t->blck;
    if (blocks > UINT64_MAX / t->size) /* would overflow: no such row exists */
        return 0;
    return blocks * t->size;
}

float plumb_fp16_to_fp32(uint16_t h)
{
    return qb_fp16_to_fp32(h);
}

uint16_t plumb_fp32_to_fp16(float f)
{
    return qb_fp32_to_fp16(f);
}

/* Round to nearest even on the top 16 bits; a NaN keeps its top payload bits
 * and is forced quiet (so it cannot round into inf). */
uint16_t plumb_fp32_to_bf16(float f)
{
    uint32_t u = qb_f32_bits(f);

    if ((u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)((u >> 16) | 0x40u);
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
