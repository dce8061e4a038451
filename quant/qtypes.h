/*
 * qtypes.h — GGUF tensor types: ids, block layouts, traits.
 *
 * Type ids are the ggml numbering stored in GGUF tensor tables.  Block
 * structs are bit-compatible with the GGUF on-disk formats (little-endian,
 * no padding; checked by _Static_assert in qtypes.c).  Half-precision fields
 * are raw IEEE binary16 bits (uint16_t).
 *
 * The traits table says, per type: name, elements per block, bytes per block,
 * and which activation type its dot product takes (the vec_dot type: Q8_0 for
 * the 32-element formats, Q8_1 for Q4_1/Q5_1, Q8_K for the K-quants and
 * IQ4_XS, F16 for F16, BF16 for BF16, F32 for F32 — as the GGUF ecosystem
 * does, so results match llama.cpp).  Kernels live in the dispatch tables
 * (simd/dsp.h); the scalar specification is quant/quant_ref.c.
 */
#ifndef PLUMB_QTYPES_H
#define PLUMB_QTYPES_H

#include <stddef.h>
#include <stdint.h>

enum {
    PLUMB_QTYPE_F32 = 0,
    PLUMB_QTYPE_F16 = 1,
    PLUMB_QTYPE_Q4_0 = 2,
    PLUMB_QTYPE_Q4_1 = 3,
    PLUMB_QTYPE_Q5_0 = 6,
    PLUMB_QTYPE_Q5_1 = 7,
    PLUMB_QTYPE_Q8_0 = 8,
    PLUMB_QTYPE_Q8_1 = 9,
    PLUMB_QTYPE_Q2_K = 10,
    PLUMB_QTYPE_Q3_K = 11,
    PLUMB_QTYPE_Q4_K = 12,
    PLUMB_QTYPE_Q5_K = 13,
    PLUMB_QTYPE_Q6_K = 14,
    PLUMB_QTYPE_Q8_K = 15,
    PLUMB_QTYPE_IQ4_NL = 20,
    PLUMB_QTYPE_IQ4_XS = 23,
    PLUMB_QTYPE_BF16 = 30,
    /* plumb's own types, above every ggml id (see "Row-interleaved types") */
    PLUMB_QTYPE_Q4_0_R8 = 40,
    PLUMB_QTYPE_Q8_0X = 41,
    PLUMB_QTYPE_Q4_K_R8 = 42,
    PLUMB_QTYPE_Q6_K_R8 = 43,
    PLUMB_QTYPE_COUNT = 44 /* table size; ids >= COUNT are unknown */
};

/*
 * Row-interleaved types.  Q4_0_R8 (and Q4_K_R8, Q6_K_R8 likewise) holds the numbers of Q4_0 with the rows of
 * a matrix taken eight at a time: the eight rows' blocks j sit together in
 * one PlumbBlockQ4_0x8, so a kernel reads one stream and gets the same 32
 * columns of eight rows in one 32-byte load.  A matrix of ne1 rows (ne1 a
 * multiple of 8) has the same size as in Q4_0, and rows 8p..8p+7 fill the
 * 8 * row_size bytes from 8p * row_size, so row ranges that start and end on
 * a multiple of 8 address the same bytes in both types.  The layout is
 * made by plumb_repack_q4_0_r8() (quant_ref.h), offline (`plumb repack`).
 *
 * In GGUF files these types are stored under ids of their own
 * (PLUMB_GGUF_TYPE_*), far from ggml's numbering, so no other reader takes
 * them for something else; plumb_qtype_from_gguf() / plumb_qtype_to_gguf()
 * translate.  Q8_0X is an activation type only and never stored.
 */
#define PLUMB_GGUF_TYPE_Q4_0_R8 0x706c0002u /* "pl" << 16 | Q4_0 */
#define PLUMB_GGUF_TYPE_Q4_K_R8 0x706c000cu /* "pl" << 16 | Q4_K */
#define PLUMB_GGUF_TYPE_Q6_K_R8 0x706c000eu /* "pl" << 16 | Q6_K */
#define PLUMB_R8 8                           /* rows interleaved */

#define PLUMB_QK 32   /* elements per block, 32-element formats */
#define PLUMB_QK_K 256 /* elements per super-block, K formats */
#define PLUMB_K_SCALE_SIZE 12

typedef struct { uint16_t d; uint8_t qs[PLUMB_QK / 2]; } PlumbBlockQ4_0;
typedef struct { uint16_t d, m; uint8_t qs[PLUMB_QK / 2]; } PlumbBlockQ4_1;
typedef struct { uint16_t d; uint8_t qh[4]; uint8_t qs[PLUMB_QK / 2]; } PlumbBlockQ5_0;
typedef struct { uint16_t d, m; uint8_t qh[4]; uint8_t qs[PLUMB_QK / 2]; } PlumbBlockQ5_1;
typedef struct { uint16_t d; int8_t qs[PLUMB_QK]; } PlumbBlockQ8_0;
typedef struct { uint16_t d, s; int8_t qs[PLUMB_QK]; } PlumbBlockQ8_1; /* s = d * sum(qs) */
typedef struct {
    uint8_t scales[PLUMB_QK_K / 16]; /* 4-bit scale | 4-bit min << 4, per 16 */
    uint8_t qs[PLUMB_QK_K / 4];      /* 2-bit quants */
    uint16_t d, dmin;
} PlumbBlockQ2_K;
typedef struct {
    uint8_t hmask[PLUMB_QK_K / 8];   /* high bit */
    uint8_t qs[PLUMB_QK_K / 4];      /* low 2 bits */
    uint8_t scales[12];              /* 6-bit scales, packed */
    uint16_t d;
} PlumbBlockQ3_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[PLUMB_K_SCALE_SIZE]; /* 6-bit scales and mins, packed */
    uint8_t qs[PLUMB_QK_K / 2];
} PlumbBlockQ4_K;
typedef struct {
    uint16_t d, dmin;
    uint8_t scales[PLUMB_K_SCALE_SIZE];
    uint8_t qh[PLUMB_QK_K / 8];
    uint8_t qs[PLUMB_QK_K / 2];
} PlumbBlockQ5_K;
typedef struct {
    uint8_t ql[PLUMB_QK_K / 2];      /* low 4 bits */
    uint8_t qh[PLUMB_QK_K / 4];      /* high 2 bits */
    int8_t scales[PLUMB_QK_K / 16];  /* 8-bit scales */
    uint16_t d;
} PlumbBlockQ6_K;
typedef struct {
    float d;
    int8_t qs[PLUMB_QK_K];
    int16_t bsums[PLUMB_QK_K / 16];  /* sum of each 16 quants */
} PlumbBlockQ8_K;
typedef struct { uint16_t d; uint8_t qs[PLUMB_QK / 2]; } PlumbBlockIQ4_NL;
/* Eight Q4_0 blocks of eight consecutive rows r = 0..7.  q_r[j] (0..15, the
 * nibble of element j of row r, standing for q - 8) is kept in
 * qs[32 * c + 4 * r + i]: the low nibble holds q_r[4c + i] and the high
 * nibble q_r[16 + 4c + i], for c = 0..3, i = 0..3. */
typedef struct { uint16_t d[PLUMB_R8]; uint8_t qs[PLUMB_R8 * PLUMB_QK / 2]; } PlumbBlockQ4_0x8;
/* Activations for the interleaved 4-bit types: Q8_0's numbers (q = x / d
 * rounded half to even, d = amax / 127 rounded to fp16) with d widened to
 * float and the block's offset term 8 * sum(q) ready. */
typedef struct { float d; int32_t s8; int8_t qs[PLUMB_QK]; } PlumbBlockQ8_0X;
/* Eight Q4_K super-blocks of eight consecutive rows r = 0..7, scales
 * unpacked to bytes: sc[s][r] and m[s][r] are the 6-bit scale and min of
 * sub-block s (32 elements) of row r; the nibble q_r[s][j] of element j of
 * sub-block s sits in qs[s][32 * c + 4 * r + i] as in PlumbBlockQ4_0x8 (low
 * nibble j = 4c + i, high nibble j = 16 + 4c + i).  1184 bytes, 148 a row:
 * the unpacked scales take 32 bytes more than Q4_K's 8 x 144. */
typedef struct {
    uint16_t d[PLUMB_R8], dmin[PLUMB_R8];
    uint8_t sc[PLUMB_QK_K / 32][PLUMB_R8];
    uint8_t m[PLUMB_QK_K / 32][PLUMB_R8];
    uint8_t qs[PLUMB_QK_K / 32][PLUMB_R8 * PLUMB_QK / 2];
} PlumbBlockQ4_Kx8;
/* Eight Q6_K super-blocks of eight consecutive rows: sc[k][r] the int8
 * scale of elements 16k..16k+15 of row r; per sub-block s of 32 elements
 * the low 4 bits of q_r[s][j] (0..63, standing for q - 32) in ql[s] laid
 * out as the nibbles of PlumbBlockQ4_0x8, and the high 2 bits in qh[s]:
 * bits 2m, 2m+1 of byte 32h + 4r + i hold those of element 4g + i of
 * column group g = 4h + m (groups of 4 columns as in ql).  1680 bytes, the
 * size of 8 Q6_K super-blocks. */
typedef struct {
    uint16_t d[PLUMB_R8];
    int8_t sc[PLUMB_QK_K / 16][PLUMB_R8];
    uint8_t ql[PLUMB_QK_K / 32][PLUMB_R8 * PLUMB_QK / 2];
    uint8_t qh[PLUMB_QK_K / 32][PLUMB_R8 * PLUMB_QK / 4];
} PlumbBlockQ6_Kx8;
typedef struct {
    uint16_t d;
    uint16_t scales_h;
    uint8_t scales_l[PLUMB_QK_K / 64];
    uint8_t qs[PLUMB_QK_K / 2];
} PlumbBlockIQ4_XS;

/* The non-linear 4-bit codebook of IQ4_NL and IQ4_XS. */
extern const int8_t plumb_iq4nl_values[16];

typedef struct PlumbQTraits {
    const char *name; /* "Q4_K" ... as gguf-dump prints it */
    int32_t blck;     /* elements per block */
    uint32_t size;    /* bytes per block */
    int32_t act;      /* PLUMB_QTYPE_* of the activations its vec_dot takes; -1: not a weight type */
    int weight;       /* non-zero: plumb runs weights of this type */
    int rows;         /* rows interleaved (PLUMB_R8), 1 for row-major types */
} PlumbQTraits;

/* Traits of a type id, or NULL for an id plumb does not know. */
const PlumbQTraits *plumb_qtype_traits(uint32_t type);
/* Name of any id, "type 17" style for unknown ones (static buffer per call site is not used:
 * unknown ids give "unknown"). */
const char *plumb_qtype_name(uint32_t type);
/* The type id of a GGUF tensor table entry, or UINT32_MAX for an id that
 * is neither ggml's nor plumb's (ids of plumb's own slots are not valid on
 * disk). */
uint32_t plumb_qtype_from_gguf(uint32_t gguf_type);
/* The id to store in a GGUF tensor table for a type. */
uint32_t plumb_qtype_to_gguf(uint32_t type);
/* Bytes of a row of n elements; 0 when n is not a multiple of the block size. */
uint64_t plumb_qtype_row_size(uint32_t type, uint64_t n);

/* IEEE half and bfloat16 conversions (exact, round-to-nearest-even). */
float plumb_fp16_to_fp32(uint16_t h);
uint16_t plumb_fp32_to_fp16(float f);
static inline float plumb_bf16_to_fp32(uint16_t h)
{
    union { uint32_t u; float f; } v = { (uint32_t)h << 16 };
    return v.f;
}
uint16_t plumb_fp32_to_bf16(float f);

#endif
