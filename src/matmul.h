/*
 * matmul.h — the matrix layer of the forward pass: y = W x for a batch of
 * activation rows, through the dispatch table only, split across a thread
 * pool.
 *
 * Two steps, as ggml does them, so results match llama.cpp:
 *   1. quantise each activation row ONCE to the weight's activation type
 *      (traits->act: F16 for F16 weights, Q8_K for K-quants, Q8_0 for
 *      Q8_0/Q4_0, ...) with dsp->from_float;
 *   2. multiply the weight rows with every quantised activation row: the
 *      tiled kernel dsp->gemm[W->type] where the tier has one (and the batch
 *      has at least dsp->gemm_min_tokens[W->type] tokens), else one
 *      dsp->vec_dot[W->type] per (row, token).
 * Step 2 works on a row range [r0, r1) of the weight.  Threads split the
 * rows (plumb_matmul_split); each output element is computed by exactly one
 * thread, and the kernels compute every element with the same operations
 * whatever range or tile it falls in, so results do not depend on the
 * number of threads.  Activation and output rows are passed as pointer
 * arrays so the MoE layer can gather the tokens routed to one expert
 * without copying.
 *
 * Buffers belong to the caller (the session's scratch); nothing here
 * allocates.  The thread pool may be NULL (everything on the caller).
 */
#ifndef PLUMB_MATMUL_H
#define PLUMB_MATMUL_H

#include <stddef.h>
#include <stdint.h>

#include "dsp.h"
#include "model.h"
#include "threadpool.h"

#define PLUMB_MATMUL_MAX_TASKS 4 /* products sharing one input in plumb_matmul_multi() */

/* Scratch for plumb_matmul(): quantised rows and the pointer arrays. */
typedef struct PlumbMatmulScratch {
    void *q;          /* quantised activation rows, q_cap bytes */
    uint64_t q_cap;   /* bytes */
    void *q2;         /* second buffer for an input needed in two activation types, q_cap bytes */
    const void **a;   /* [n_cap] activation row pointers */
    const void **a2;  /* [n_cap] activation row pointers into q2 */
    float **y;        /* [PLUMB_MATMUL_MAX_TASKS][n_cap] output row pointers */
    int64_t n_cap;    /* rows the pointer arrays hold */
} PlumbMatmulScratch;

/* One product of a run: y[t][r] = (row r of matrix `mat` of w) . a[t], t < n. */
typedef struct PlumbMatTask {
    const PlumbWeight *w;  /* weight (stack) */
    int64_t mat;           /* matrix of the stack */
    const void *const *a;  /* [n] quantised activation rows of w->act */
    float *const *y;       /* [n] output rows, ne1 floats each */
    int64_t n;             /* tokens */
} PlumbMatTask;

/* Bytes of one activation row of w (ne0 elements of w->act). */
uint64_t plumb_matmul_act_bytes(const PlumbWeight *w);

/* [*lo, *hi): thread ith's share of n items, boundaries multiples of align
 * (except n itself); shares differ by at most align. */
void plumb_matmul_split(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi);

/* Quantise n rows x[t*x_stride .. +ne0) to w's activation type at
 * q + t*q_stride. */
void plumb_matmul_quantize(const PlumbDsp *dsp, const PlumbWeight *w, const float *x,
                           int64_t x_stride, int64_t n, void *q, uint64_t q_stride);

/* For t < n and r0 <= r < r1: y[t][r] = row r of matrix `mat` of w . a[t]. */
void plumb_matmul_rows(const PlumbDsp *dsp, const PlumbWeight *w, int64_t mat,
                       const void *const *a, float *const *y, int64_t n, int64_t r0, int64_t r1);

/* Thread ith's share of every task (the same fraction of each task's rows). */
void plumb_matmul_tasks_part(const PlumbDsp *dsp, const PlumbMatTask *tasks, int n_tasks, int ith,
                             int nth);

/* Run the tasks on the pool (NULL: on the caller). */
void plumb_matmul_tasks(PlumbThreadpool *tp, const PlumbDsp *dsp, const PlumbMatTask *tasks,
                        int n_tasks);

/* Quantise x once per activation type of the n_w weights into s (at most
 * two distinct types) and fill tasks[0..n_w) for y_i[t*y_stride_i + r] =
 * (W_i x_t)[r] without running them.  PLUMB_EINVAL (nothing done) when the
 * weights need more than two activation types. */
int plumb_matmul_prepare(const PlumbDsp *dsp, const PlumbWeight *const *w, int n_w,
                         const float *x, int64_t x_stride, float *const *y,
                         const int64_t *y_stride, int64_t n, PlumbMatmulScratch *s,
                         PlumbMatTask *tasks);

/* y_i[t*y_stride_i + r] = (W_i x_t)[r] for t < n, every row of each of the
 * n_w weights (matrix 0), all sharing the input x: x is quantised once per
 * activation type (at most two distinct types), then the rows are split
 * across the pool.  n <= s->n_cap, n * act_bytes <= s->q_cap,
 * n_w <= PLUMB_MATMUL_MAX_TASKS. */
void plumb_matmul_multi(PlumbThreadpool *tp, const PlumbDsp *dsp, const PlumbWeight *const *w,
                        int n_w, const float *x, int64_t x_stride, float *const *y,
                        const int64_t *y_stride, int64_t n, PlumbMatmulScratch *s);

/* One weight: y[t*y_stride + r] = (W_mat x_t)[r]. */
void plumb_matmul(PlumbThreadpool *tp, const PlumbDsp *dsp, const PlumbWeight *w, int64_t mat,
                  const float *x, int64_t x_stride, float *y, int64_t y_stride, int64_t n,
                  PlumbMatmulScratch *s);

#endif
