/*
 * quant_ref.h — the scalar specification of every quant type: dequantise a
 * row to float, quantise activations to the vec_dot types, and the dot
 * product of a weight row with quantised activations.  These are the C tier
 * of the dispatch tables and the references checkdsp compares SIMD against.
 * n is always a multiple of the type's block size.
 */
#ifndef PLUMB_QUANT_REF_H
#define PLUMB_QUANT_REF_H

#include <stdint.h>

#include "qtypes.h"

#define PLUMB_REF_TYPES(X) \
    X(f32) X(f16) X(bf16) X(q4_0) X(q4_1) X(q5_0) X(q5_1) X(q8_0) \
    X(q2_K) X(q3_K) X(q4_K) X(q5_K) X(q6_K) X(iq4_nl) X(iq4_xs)

/* dequantise: y[0..n) = weights */
#define PLUMB_DECL_TOF(t) void plumb_to_float_##t##_c(const void *x, float *y, int64_t n);
PLUMB_REF_TYPES(PLUMB_DECL_TOF)
#undef PLUMB_DECL_TOF

/* activation quantisers (and weight quantisers for the simple types) */
void plumb_from_float_f32_c(const float *x, void *y, int64_t n);
void plumb_from_float_f16_c(const float *x, void *y, int64_t n);
void plumb_from_float_bf16_c(const float *x, void *y, int64_t n);
void plumb_from_float_q8_0_c(const float *x, void *y, int64_t n);
void plumb_from_float_q4_0_c(const float *x, void *y, int64_t n);
void plumb_from_float_q8_1_c(const float *x, void *y, int64_t n);
void plumb_from_float_q8_K_c(const float *x, void *y, int64_t n);
void plumb_from_float_q8_0x_c(const float *x, void *y, int64_t n);

/* *s = dot(weight row w of type t, activations a of the type's act type) */
void plumb_vec_dot_f32_f32_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_f16_f16_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_bf16_bf16_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q4_0_q8_0_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q4_1_q8_1_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q5_0_q8_0_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q5_1_q8_1_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q8_0_q8_0_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q2_K_q8_K_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q3_K_q8_K_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q4_K_q8_K_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q5_K_q8_K_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_q6_K_q8_K_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_iq4_nl_q8_0_c(int64_t n, float *s, const void *w, const void *a);
void plumb_vec_dot_iq4_xs_q8_K_c(int64_t n, float *s, const void *w, const void *a);

/*
 * The row-interleaved Q4_0_R8 (qtypes.h).  repack: the 8 Q4_0 rows of n
 * elements at src + r * src_stride (r < 8) into n / 32 PlumbBlockQ4_0x8 at
 * dst; unpack: the inverse, into 8 rows at dst + r * dst_stride.  Exact.
 */
void plumb_repack_q4_0_r8(const void *src, uint64_t src_stride, void *dst, int64_t n);
void plumb_unpack_q4_0_r8(const void *src, void *dst, uint64_t dst_stride, int64_t n);
void plumb_repack_q4_K_r8(const void *src, uint64_t src_stride, void *dst, int64_t n);
void plumb_unpack_q4_K_r8(const void *src, void *dst, uint64_t dst_stride, int64_t n);
void plumb_repack_q6_K_r8(const void *src, uint64_t src_stride, void *dst, int64_t n);
void plumb_unpack_q6_K_r8(const void *src, void *dst, uint64_t dst_stride, int64_t n);

/* The interleaved type made from a row-major one, and how. */
typedef struct PlumbRepackOps {
    uint32_t from, to; /* PLUMB_QTYPE_*: Q4_0 -> Q4_0_R8, Q4_K -> Q4_K_R8, Q6_K -> Q6_K_R8 */
    void (*repack)(const void *src, uint64_t src_stride, void *dst, int64_t n);
    void (*unpack)(const void *src, void *dst, uint64_t dst_stride, int64_t n);
} PlumbRepackOps;
/* The entry whose `from` or `to` is type, or NULL. */
const PlumbRepackOps *plumb_repack_ops(uint32_t type);

/*
 * The product of Q4_0_R8 rows r0 <= r < r1 (multiples of 8) with nt rows of
 * Q8_0X activations: for each row r and token t, over the blocks b in order,
 *   acc = fmaf((float)(sum_j q_r[j] * a_t[j] - a_t.s8), d_r * a_t.d, acc)
 * starting from 0, then y[t][r] = acc.  w_stride must be the row size, so
 * rows 8p..8p+7 are the n / 32 blocks at w + 8p * w_stride.  This is the
 * definition every tier's kernel computes bit for bit.
 */
void plumb_gemm_q4_0_r8_c(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                          const void *const *a, float *const *y, int64_t nt);

/*
 * The product of Q4_K_R8 rows with Q8_K activations, the same way: for each
 * row r, token t and super-block i in order, with exact integer sums
 *   is = sum_s sc[s][r] * sum_j q_r[s][j] * a_t[32s + j]
 *   im = sum_s m[s][r] * sum_j a_t[32s + j]
 *   acc = fmaf((float)is, d_r * a_t.d, acc); acc = fmaf(-(float)im, dmin_r * a_t.d, acc)
 * from 0, then y[t][r] = acc.  w_stride is the row size (148 bytes a
 * super-block).
 */
void plumb_gemm_q4_K_r8_c(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                          const void *const *a, float *const *y, int64_t nt);

/*
 * Q6_K_R8 with Q8_K: per row r, token t and super-block i in order,
 *   is = sum_k sc[k][r] * sum_{j < 16} q_r[16k + j] * a_t[16k + j]
 *   io = sum_k sc[k][r] * a_t.bsums[k]
 *   acc = fmaf((float)(is - 32 * io), d_r * a_t.d, acc)
 * with exact integer sums, from 0; y[t][r] = acc.
 */
void plumb_gemm_q6_K_r8_c(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                          const void *const *a, float *const *y, int64_t nt);

#endif
