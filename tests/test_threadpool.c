/*
 * test_threadpool.c — the thread pool: every thread runs exactly once per
 * run with the right (ith, nth), partitioned sums come out exact over many
 * back-to-back runs, barriers order the phases of a run, a pool of one
 * thread works, and bad sizes are refused.
 */
#include "config.h"

#include <stdatomic.h>
#include <stdint.h>

#include "testlib.h"
#include "threadpool.h"

#define N_DATA 100003 /* prime: slices are uneven */
#define MAX_T 16

typedef struct Job {
    const uint32_t *data;              /* [N_DATA] */
    uint64_t partial[MAX_T];           /* one sum per thread */
    _Atomic int calls[MAX_T];          /* times each ith was called this run */
    _Atomic int bad_nth;               /* calls that saw an unexpected nth */
    int want_nth;                      /* nth every call should see */
} Job;

static void sum_slice(void *arg, int ith, int nth)
{
    Job *j = arg;
    uint64_t s = 0;
    size_t i, lo = (size_t)N_DATA * ith / nth, hi = (size_t)N_DATA * (ith + 1) / nth;
    if (nth != j->want_nth)
        atomic_fetch_add(&j->bad_nth, 1);
    if (ith < 0 || ith >= MAX_T)
        return;
    atomic_fetch_add(&j->calls[ith], 1);
    for (i = lo; i < hi; i++)
        s += j->data[i];
    j->partial[ith] = s;
}

/* Check one run_n of sum_slice on nth threads against the serial sum. */
static void check_sum_run(PlumbThreadpool *tp, Job *j, int nth, uint64_t want, int run)
{
    int t;
    uint64_t got = 0;
    int n_pool = plumb_threadpool_n_threads(tp);
    int eff = nth < 1 ? 1 : nth > n_pool ? n_pool : nth;
    for (t = 0; t < MAX_T; t++) {
        atomic_store(&j->calls[t], 0);
        j->partial[t] = 0;
    }
    atomic_store(&j->bad_nth, 0);
    j->want_nth = eff;
    plumb_threadpool_run_n(tp, nth, sum_slice, j);
    for (t = 0; t < MAX_T; t++) {
        int c = atomic_load(&j->calls[t]);
        CHECK(c == (t < eff ? 1 : 0), "pool %d, nth %d, run %d: ith %d called %d times", n_pool,
              nth, run, t, c);
        got += j->partial[t];
    }
    CHECK(atomic_load(&j->bad_nth) == 0, "pool %d, nth %d, run %d: wrong nth seen", n_pool, nth,
          run);
    CHECK(got == want, "pool %d, nth %d, run %d: sum %llu, want %llu", n_pool, nth, run,
          (unsigned long long)got, (unsigned long long)want);
}

/* Barrier job: ROUNDS phases; in phase r thread i writes its slot, then after
 * a barrier reads every slot and checks they all hold round r. */
#define ROUNDS 20
typedef struct BarJob {
    PlumbThreadpool *tp;
    _Atomic int slot[MAX_T];  /* last round each thread completed */
    _Atomic int errors;       /* mismatches seen after a barrier */
} BarJob;

static void barrier_rounds(void *arg, int ith, int nth)
{
    BarJob *b = arg;
    int r, t;
    for (r = 1; r <= ROUNDS; r++) {
        atomic_store_explicit(&b->slot[ith], r, memory_order_relaxed);
        plumb_threadpool_barrier(b->tp);
        for (t = 0; t < nth; t++)
            if (atomic_load_explicit(&b->slot[t], memory_order_relaxed) != r)
                atomic_fetch_add(&b->errors, 1);
        plumb_threadpool_barrier(b->tp);
    }
}

static void test_pool(int n_threads, uint32_t *data, uint64_t want)
{
    PlumbThreadpool *tp = NULL;
    PlumbError err = { 0 };
    Job *j = calloc(1, sizeof *j);
    BarJob *b = calloc(1, sizeof *b);
    int rc, run, nth, t;
    CHECK(j && b, "out of memory");
    if (!j || !b)
        goto done;
    j->data = data;
    rc = plumb_threadpool_open(&tp, n_threads, &err);
    CHECK(rc == PLUMB_OK && tp, "open(%d): %d %s", n_threads, rc, err.msg);
    if (!tp)
        goto done;
    CHECK(plumb_threadpool_n_threads(tp) == n_threads, "n_threads %d, want %d",
          plumb_threadpool_n_threads(tp), n_threads);

    /* Many back-to-back runs on the whole pool (kept moderate: the suite
     * also runs under emulation). */
    for (run = 0; run < 400; run++)
        check_sum_run(tp, j, n_threads, want, run);
    /* Subsets, including out-of-range requests that are clamped. */
    for (nth = 0; nth <= n_threads + 1; nth++)
        for (run = 0; run < 20; run++)
            check_sum_run(tp, j, nth, want, run);

    /* Barriers, on the whole pool and on subsets. */
    {
        int sizes[3] = { n_threads, (n_threads + 1) / 2, 1 }, k;
        for (k = 0; k < 3; k++) {
            if (k > 0 && sizes[k] == sizes[k - 1])
                continue;
            nth = sizes[k];
            for (t = 0; t < MAX_T; t++)
                atomic_store(&b->slot[t], 0);
            atomic_store(&b->errors, 0);
            b->tp = tp;
            plumb_threadpool_run_n(tp, nth, barrier_rounds, b);
            CHECK(atomic_load(&b->errors) == 0, "pool %d, nth %d: %d barrier mismatches",
                  n_threads, nth, atomic_load(&b->errors));
        }
    }
done:
    plumb_threadpool_close(tp);
    free(j);
    free(b);
}

int main(void)
{
    uint32_t *data = malloc(N_DATA * sizeof *data);
    uint64_t want = 0, x = 88172645463325252ull;
    PlumbThreadpool *tp = NULL;
    PlumbError err = { 0 };
    int i, rc, n;
    if (!data)
        return 99;
    for (i = 0; i < N_DATA; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        data[i] = (uint32_t)x;
        want += data[i];
    }

    test_pool(1, data, want);
    test_pool(2, data, want);
    test_pool(3, data, want);
    test_pool(5, data, want); /* likely more threads than cores */

    /* Default size: physical cores. */
    rc = plumb_threadpool_open(&tp, 0, &err);
    CHECK(rc == PLUMB_OK && tp, "open(0): %d %s", rc, err.msg);
    if (tp) {
        n = plumb_threadpool_n_threads(tp);
        CHECK(n >= 1 && n <= PLUMB_THREADPOOL_MAX, "default size %d", n);
        plumb_threadpool_close(tp);
        tp = NULL;
    }

    /* Too many threads is refused with a message, nothing is started. */
    tp = (PlumbThreadpool *)&err; /* must be reset to NULL */
    rc = plumb_threadpool_open(&tp, PLUMB_THREADPOOL_MAX + 1, &err);
    CHECK(rc == PLUMB_EINVAL, "open(MAX+1) gave %d", rc);
    CHECK(tp == NULL, "out not reset on error");
    CHECK(strstr(err.msg, "threads") != NULL, "message: '%s'", err.msg);

    plumb_threadpool_close(NULL);
    free(data);
    return test_done("test_threadpool");
}
