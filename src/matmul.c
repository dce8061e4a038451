/* matmul.c — batched matrix-vector products through the dispatch table (see matmul.h). */
#include "config.h"

#include "matmul.h"
#include "qtypes.h"

uint64_t plumb_matmul_act_bytes(const PlumbWeight *w)
{
    return plumb_qtype_row_size(w->act, (uint64_t)w->ne0);
}

void plumb_matmul_quantize(const PlumbDsp *dsp, const PlumbWeight *w, const float *x,
                           int64_t x_stride, int64_t n, void *q, uint64_t q_stride)
{
    PlumbFromFloatFn quant = dsp->from_float[w->act];
    for (int64_t t = 0; t < n; t++)
        quant(x + t * x_stride, (char *)q + (uint64_t)t * q_stride, w->ne0);
}

void plumb_matmul_rows(const PlumbDsp *dsp, const PlumbWeight *w, int64_t mat,
                       const void *const *a, float *const *y, int64_t n, int64_t r0, int64_t r1)
{
    PlumbVecDotFn dot = dsp->vec_dot[w->type];
    const char *base = (const char *)w->data + (uint64_t)mat * w->mat_bytes;
    /* Rows outermost: a weight row is read once and stays in cache while
     * every token of the batch is dotted with it. */
    for (int64_t r = r0; r < r1; r++) {
        const void *row = base + (uint64_t)r * w->row_bytes;
        for (int64_t t = 0; t < n; t++)
            dot(w->ne0, &y[t][r], row, a[t]);
    }
}

void plumb_matmul(const PlumbDsp *dsp, const PlumbWeight *w, int64_t mat, const float *x,
                  int64_t x_stride, float *y, int64_t y_stride, int64_t n,
                  PlumbMatmulScratch *s)
{
    uint64_t qb = plumb_matmul_act_bytes(w);
    plumb_matmul_quantize(dsp, w, x, x_stride, n, s->q, qb);
    for (int64_t t = 0; t < n; t++) {
        s->a[t] = (const char *)s->q + (uint64_t)t * qb;
        s->y[t] = y + t * y_stride;
    }
    plumb_matmul_rows(dsp, w, mat, s->a, s->y, n, 0, w->ne1);
}
