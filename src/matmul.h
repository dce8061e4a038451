/*
 * matmul.h — the matrix layer of the forward pass: y = W x for a batch of
 * activation rows, through the dispatch table only.
 *
 * Two steps, as ggml does them, so results match llama.cpp:
 *   1. quantise each activation row ONCE to the weight's activation type
 *      (traits->act: F16 for F16 weights, Q8_K for K-quants, Q8_0 for
 *      Q8_0/Q4_0, ...) with dsp->from_float;
 *   2. dot every weight row with every quantised activation row
 *      (dsp->vec_dot[W->type]).
 * Step 2 is a function over a row range [r0, r1) of the weight, so a thread
 * pool can split the rows; each output element is written by exactly one
 * call.  Activation and output rows are passed as pointer arrays so the MoE
 * layer can gather the tokens routed to one expert without copying.
 *
 * Buffers belong to the caller (the session's scratch); nothing here
 * allocates.
 */
#ifndef PLUMB_MATMUL_H
#define PLUMB_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "dsp.h"
#include "model.h"

/* Scratch for plumb_matmul(): quantised rows and the two pointer arrays. */
typedef struct PlumbMatmulScratch {
    void *q;          /* quantised activation rows, q_cap bytes */
    uint64_t q_cap;   /* bytes */
    const void **a;   /* [n_cap] activation row pointers */
    float **y;        /* [n_cap] output row pointers */
    int64_t n_cap;    /* rows the pointer arrays hold */
} PlumbMatmulScratch;

/* Bytes of one activation row of w (ne0 elements of w->act). */
uint64_t plumb_matmul_act_bytes(const PlumbWeight *w);

/* Quantise n rows x[t*x_stride .. +ne0) to w's activation type at
 * q + t*q_stride. */
void plumb_matmul_quantize(const PlumbDsp *dsp, const PlumbWeight *w, const float *x,
                           int64_t x_stride, int64_t n, void *q, uint64_t q_stride);

/* For t < n and r0 <= r < r1: y[t][r] = row r of matrix `mat` of w . a[t]. */
void plumb_matmul_rows(const PlumbDsp *dsp, const PlumbWeight *w, int64_t mat,
                       const void *const *a, float *const *y, int64_t n, int64_t r0, int64_t r1);

/* y[t*y_stride + r] = (W_mat x_t)[r] for t < n, all rows: quantise then dot.
 * s must hold n rows (n <= s->n_cap, n * act_bytes <= s->q_cap). */
void plumb_matmul(const PlumbDsp *dsp, const PlumbWeight *w, int64_t mat, const float *x,
                  int64_t x_stride, float *y, int64_t y_stride, int64_t n,
                  PlumbMatmulScratch *s);

#endif
