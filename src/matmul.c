/* matmul.c — batched matrix products through the dispatch table, split across
 * a thread pool (see matmul.h). */
#include "config.h"

#include "matmul.h"
#include "plumb.h"
#include "qtypes.h"

/* Rows of a thread's share are multiples of this (the kernels' row tile). */
#define MATMUL_ROW_ALIGN 8

uint64_t plumb_matmul_act_bytes(const PlumbWeight *w)
{
    return plumb_qtype_row_size(w->act, (uint64_t)w->ne0);
}

void plumb_matmul_split(int64_t n, int64_t align, int ith, int nth, int64_t *lo, int64_t *hi)
{
    const int64_t units = (n + align - 1) / align;
    int64_t a = units * ith / nth * align, b = units * (ith + 1) / nth * align;
    *lo = a < n ? a : n;
    *hi = b < n ? b : n;
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
    const char *base = (const char *)w->data + (uint64_t)mat * w->mat_bytes;
    PlumbGemmFn gemm = dsp->gemm[w->type];
    PlumbVecDotFn dot = dsp->vec_dot[w->type];
    if (r0 >= r1 || n <= 0)
        return;
    if (gemm && n >= dsp->gemm_min_tokens[w->type]) {
        gemm(w->ne0, base, w->row_bytes, r0, r1, a, y, n);
        return;
    }
    /* Rows outermost: a weight row is read once and stays in cache while
     * every token of the batch is dotted with it. */
    for (int64_t r = r0; r < r1; r++) {
        const void *row = base + (uint64_t)r * w->row_bytes;
        for (int64_t t = 0; t < n; t++)
            dot(w->ne0, &y[t][r], row, a[t]);
    }
}

void plumb_matmul_tasks_part(const PlumbDsp *dsp, const PlumbMatTask *tasks, int n_tasks, int ith,
                             int nth)
{
    for (int i = 0; i < n_tasks; i++) {
        const PlumbMatTask *k = &tasks[i];
        int64_t r0, r1;
        plumb_matmul_split(k->w->ne1, MATMUL_ROW_ALIGN, ith, nth, &r0, &r1);
        plumb_matmul_rows(dsp, k->w, k->mat, k->a, k->y, k->n, r0, r1);
    }
}

typedef struct TasksRun {
    const PlumbDsp *dsp;
    const PlumbMatTask *tasks;
    int n_tasks;
} TasksRun;

static void tasks_worker(void *arg, int ith, int nth)
{
    const TasksRun *r = arg;
    plumb_matmul_tasks_part(r->dsp, r->tasks, r->n_tasks, ith, nth);
}

void plumb_matmul_tasks(PlumbThreadpool *tp, const PlumbDsp *dsp, const PlumbMatTask *tasks,
                        int n_tasks)
{
    TasksRun r = { dsp, tasks, n_tasks };
    if (!tp || plumb_threadpool_n_threads(tp) == 1)
        tasks_worker(&r, 0, 1);
    else
        plumb_threadpool_run(tp, tasks_worker, &r);
}

int plumb_matmul_prepare(const PlumbDsp *dsp, const PlumbWeight *const *w, int n_w,
                         const float *x, int64_t x_stride, float *const *y,
                         const int64_t *y_stride, int64_t n, PlumbMatmulScratch *s,
                         PlumbMatTask *tasks)
{
    uint32_t act[2] = { 0, 0 };
    int n_act = 0;
    for (int i = 0; i < n_w; i++) {
        int slot = 0;
        while (slot < n_act && act[slot] != w[i]->act)
            slot++;
        if (slot == 2)
            return PLUMB_EINVAL;
        if (slot == n_act)
            act[n_act++] = w[i]->act;
    }
    for (int slot = 0; slot < n_act; slot++) {
        const PlumbWeight *wt = NULL;
        for (int i = 0; i < n_w && !wt; i++)
            if (w[i]->act == act[slot])
                wt = w[i];
        void *q = slot ? s->q2 : s->q;
        const void **a = slot ? s->a2 : s->a;
        const uint64_t qb = plumb_matmul_act_bytes(wt);
        plumb_matmul_quantize(dsp, wt, x, x_stride, n, q, qb);
        for (int64_t t = 0; t < n; t++)
            a[t] = (const char *)q + (uint64_t)t * qb;
    }
    for (int i = 0; i < n_w; i++) {
        float **yp = s->y + (int64_t)i * s->n_cap;
        for (int64_t t = 0; t < n; t++)
            yp[t] = y[i] + t * y_stride[i];
        tasks[i].w = w[i];
        tasks[i].mat = 0;
        tasks[i].a = w[i]->act == act[0] ? s->a : s->a2;
        tasks[i].y = yp;
        tasks[i].n = n;
    }
    return PLUMB_OK;
}

void plumb_matmul_multi(PlumbThreadpool *tp, const PlumbDsp *dsp, const PlumbWeight *const *w,
                        int n_w, const float *x, int64_t x_stride, float *const *y,
                        const int64_t *y_stride, int64_t n, PlumbMatmulScratch *s)
{
    PlumbMatTask tasks[PLUMB_MATMUL_MAX_TASKS];
    uint32_t act[2] = { 0, 0 }; /* activation type held by q (0) and q2 (1) */
    int n_act = 0, n_tasks = 0;

    for (int i = 0; i < n_w; i++) {
        float **yp = s->y + (int64_t)i * s->n_cap;
        int slot = 0;
        while (slot < n_act && act[slot] != w[i]->act)
            slot++;
        if (slot == 2) {
            /* a third activation type: run what is pending, then reuse q */
            plumb_matmul_tasks(tp, dsp, tasks, n_tasks);
            n_tasks = 0;
            n_act = 0;
            slot = 0;
        }
        if (slot == n_act) {
            void *q = slot ? s->q2 : s->q;
            const void **a = slot ? s->a2 : s->a;
            const uint64_t qb = plumb_matmul_act_bytes(w[i]);
            plumb_matmul_quantize(dsp, w[i], x, x_stride, n, q, qb);
            for (int64_t t = 0; t < n; t++)
                a[t] = (const char *)q + (uint64_t)t * qb;
            act[slot] = w[i]->act;
            n_act++;
        }
        for (int64_t t = 0; t < n; t++)
            yp[t] = y[i] + t * y_stride[i];
        tasks[n_tasks].w = w[i];
        tasks[n_tasks].mat = 0;
        tasks[n_tasks].a = slot ? s->a2 : s->a;
        tasks[n_tasks].y = yp;
        tasks[n_tasks].n = n;
        n_tasks++;
    }
    plumb_matmul_tasks(tp, dsp, tasks, n_tasks);
}

void plumb_matmul(PlumbThreadpool *tp, const PlumbDsp *dsp, const PlumbWeight *w, int64_t mat,
                  const float *x, int64_t x_stride, float *y, int64_t y_stride, int64_t n,
                  PlumbMatmulScratch *s)
{
    PlumbMatTask task;
    const uint64_t qb = plumb_matmul_act_bytes(w);
    plumb_matmul_quantize(dsp, w, x, x_stride, n, s->q, qb);
    for (int64_t t = 0; t < n; t++) {
        s->a[t] = (const char *)s->q + (uint64_t)t * qb;
        s->y[t] = y + t * y_stride;
    }
    task.w = w;
    task.mat = mat;
    task.a = s->a;
    task.y = s->y;
    task.n = n;
    plumb_matmul_tasks(tp, dsp, &task, 1);
}
