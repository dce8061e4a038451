/*
 * threadpool.c — persistent workers, one job word, spin-then-sleep waits
 * (see threadpool.h).
 *
 * Protocol.  The caller publishes a job by writing (fn, arg, nth), setting
 * `pending` to nth - 1 and storing a new value in `job`: a generation
 * counter in the high bits and nth in the low JOB_NTH_BITS, one 32-bit word
 * so that a worker always reads a generation together with its own nth.
 * Each worker waits for `job` to differ from the last value it saw; if its
 * ith < nth it runs fn and decrements `pending`, and the worker that brings
 * it to zero bumps `done` so a sleeping caller wakes.  Workers outside nth
 * only note the new value: the caller never waits for them, and since fn
 * and arg are rewritten only after every participant is done, only
 * participants read them.  The barrier is a counter plus a phase word: the
 * last thread to arrive resets the counter and bumps the phase.
 *
 * Every wait is wait_change(word, seen): spin a bounded number of times
 * watching the word, then sleep until it differs from `seen`.  Wakers call
 * the kernel only when some thread announced (in `sleepers`) that it may be
 * asleep; the announcement and the publication are both sequentially
 * consistent, so either the waker sees the sleeper or the sleeper sees the
 * new value before it sleeps.
 */
#include "config.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "cpu.h"
#include "err.h"
#include "threadpool.h"

/* Busy-wait iterations before sleeping: ~10-50 microseconds of pause. */
#define SPIN_ITERS 1024
/* Low bits of the job word holding nth (PLUMB_THREADPOOL_MAX fits). */
#define JOB_NTH_BITS 11
#define JOB_NTH_MASK ((1u << JOB_NTH_BITS) - 1)
_Static_assert(PLUMB_THREADPOOL_MAX <= JOB_NTH_MASK, "nth must fit the job word");

typedef struct Worker {
    struct PlumbThreadpool *tp; /* owning pool */
    int ith;                    /* 1..n_threads-1 */
    pthread_t thread;           /* valid when started */
    int started;                /* pthread_create succeeded */
} Worker;

struct PlumbThreadpool {
    int n_threads;     /* threads, caller included */
    Worker *workers;   /* [n_threads - 1] */

    /* The current job, written by the caller before `job` changes. */
    PlumbThreadFn fn;  /* work function */
    void *arg;         /* its argument */
    int nth;           /* threads taking part, 1..n_threads (for the barrier) */

    _Atomic uint32_t job;      /* generation << JOB_NTH_BITS | nth (futex word) */
    _Atomic uint32_t done;     /* bumped when a job's workers are all done (futex word) */
    _Atomic int pending;       /* participating workers not yet finished */
    _Atomic int stop;          /* non-zero: workers exit at the next generation */
    _Atomic int sleepers;      /* threads that may be asleep in wait_change */

    _Atomic int bar_count;     /* threads arrived at the current barrier */
    _Atomic uint32_t bar_phase; /* barrier generation (futex word) */

#if !defined(__linux__)
    pthread_mutex_t mu; /* fallback sleeping: guards nothing but the cond wait */
    pthread_cond_t cv;  /* broadcast on every wake */
#endif
};

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield" ::: "memory");
#endif
}

#if defined(__linux__)
static void sleep_while(PlumbThreadpool *tp, _Atomic uint32_t *word, uint32_t seen)
{
    (void)tp;
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_PRIVATE, seen, NULL, NULL, 0);
}

static void wake_all(PlumbThreadpool *tp, _Atomic uint32_t *word)
{
    (void)tp;
    syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE_PRIVATE, INT_MAX, NULL, NULL, 0);
}
#else
static void sleep_while(PlumbThreadpool *tp, _Atomic uint32_t *word, uint32_t seen)
{
    pthread_mutex_lock(&tp->mu);
    while (atomic_load(word) == seen)
        pthread_cond_wait(&tp->cv, &tp->mu);
    pthread_mutex_unlock(&tp->mu);
}

static void wake_all(PlumbThreadpool *tp, _Atomic uint32_t *word)
{
    (void)word;
    pthread_mutex_lock(&tp->mu);
    pthread_cond_broadcast(&tp->cv);
    pthread_mutex_unlock(&tp->mu);
}
#endif

/* Return once *word != seen. */
static void wait_change(PlumbThreadpool *tp, _Atomic uint32_t *word, uint32_t seen)
{
    int i;
    for (i = 0; i < SPIN_ITERS; i++) {
        if (atomic_load_explicit(word, memory_order_acquire) != seen)
            return;
        cpu_relax();
    }
    while (atomic_load(word) == seen) {
        atomic_fetch_add(&tp->sleepers, 1);
        if (atomic_load(word) == seen)
            sleep_while(tp, word, seen);
        atomic_fetch_sub(&tp->sleepers, 1);
    }
}

/* Wake whoever may sleep on word (after it changed). */
static void wake_sleepers(PlumbThreadpool *tp, _Atomic uint32_t *word)
{
    if (atomic_load(&tp->sleepers) > 0)
        wake_all(tp, word);
}

/* Bump *word and wake whoever may sleep on it. */
static void publish(PlumbThreadpool *tp, _Atomic uint32_t *word)
{
    atomic_fetch_add(word, 1);
    wake_sleepers(tp, word);
}

/* Store a new job word for nth threads: next generation, same word never
 * repeats for a thread that has seen the previous one. */
static void publish_job(PlumbThreadpool *tp, int nth)
{
    uint32_t old = atomic_load(&tp->job);
    uint32_t next = (((old >> JOB_NTH_BITS) + 1) << JOB_NTH_BITS) | (uint32_t)nth;
    atomic_store(&tp->job, next);
    wake_sleepers(tp, &tp->job);
}

static void *worker_main(void *p)
{
    Worker *w = p;
    PlumbThreadpool *tp = w->tp;
    uint32_t seen = 0; /* the job word before any job was published */
    for (;;) {
        wait_change(tp, &tp->job, seen);
        seen = atomic_load(&tp->job);
        if (atomic_load(&tp->stop))
            break;
        if ((uint32_t)w->ith >= (seen & JOB_NTH_MASK))
            continue; /* not taking part in this job */
        tp->fn(tp->arg, w->ith, (int)(seen & JOB_NTH_MASK));
        if (atomic_fetch_sub(&tp->pending, 1) == 1)
            publish(tp, &tp->done);
    }
    return NULL;
}

int plumb_threadpool_open(PlumbThreadpool **out, int n_threads, PlumbError *err)
{
    PlumbThreadpool *tp = NULL;
    int i, rc;
    *out = NULL;
    if (n_threads <= 0)
        n_threads = plumb_cpu_physical_cores();
    if (n_threads < 1)
        n_threads = 1;
    if (n_threads > PLUMB_THREADPOOL_MAX)
        return plumb_err(err, PLUMB_EINVAL, "thread pool: %d threads requested, at most %d",
                         n_threads, PLUMB_THREADPOOL_MAX);
    tp = calloc(1, sizeof *tp);
    if (!tp)
        return plumb_err(err, PLUMB_ENOMEM, "thread pool: out of memory");
    tp->n_threads = n_threads;
    tp->nth = 1;
    atomic_init(&tp->job, 0);
    atomic_init(&tp->done, 0);
    atomic_init(&tp->pending, 0);
    atomic_init(&tp->stop, 0);
    atomic_init(&tp->sleepers, 0);
    atomic_init(&tp->bar_count, 0);
    atomic_init(&tp->bar_phase, 0);
#if !defined(__linux__)
    pthread_mutex_init(&tp->mu, NULL);
    pthread_cond_init(&tp->cv, NULL);
#endif
    if (n_threads > 1) {
        tp->workers = calloc((size_t)n_threads - 1, sizeof *tp->workers);
        if (!tp->workers) {
            rc = plumb_err(err, PLUMB_ENOMEM, "thread pool: out of memory");
            goto fail;
        }
    }
    for (i = 0; i < n_threads - 1; i++) {
        Worker *w = &tp->workers[i];
        int e;
        w->tp = tp;
        w->ith = i + 1;
        e = pthread_create(&w->thread, NULL, worker_main, w);
        if (e != 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "thread pool: cannot start thread %d of %d: %s",
                           i + 1, n_threads, strerror(e));
            goto fail;
        }
        w->started = 1;
    }
    *out = tp;
    return PLUMB_OK;
fail:
    plumb_threadpool_close(tp);
    return rc;
}

void plumb_threadpool_close(PlumbThreadpool *tp)
{
    int i;
    if (!tp)
        return;
    atomic_store(&tp->stop, 1);
    publish_job(tp, tp->n_threads);
    for (i = 0; tp->workers && i < tp->n_threads - 1; i++)
        if (tp->workers[i].started)
            pthread_join(tp->workers[i].thread, NULL);
#if !defined(__linux__)
    pthread_cond_destroy(&tp->cv);
    pthread_mutex_destroy(&tp->mu);
#endif
    free(tp->workers);
    free(tp);
}

int plumb_threadpool_n_threads(const PlumbThreadpool *tp)
{
    return tp->n_threads;
}

void plumb_threadpool_run_n(PlumbThreadpool *tp, int nth, PlumbThreadFn fn, void *arg)
{
    uint32_t done;
    if (nth > tp->n_threads)
        nth = tp->n_threads;
    if (nth < 1)
        nth = 1;
    tp->nth = nth;
    if (nth == 1) {
        fn(arg, 0, 1);
        return;
    }
    tp->fn = fn;
    tp->arg = arg;
    atomic_store(&tp->bar_count, 0);
    atomic_store(&tp->pending, nth - 1);
    done = atomic_load(&tp->done);
    publish_job(tp, nth);
    fn(arg, 0, nth);
    while (atomic_load(&tp->pending) != 0)
        wait_change(tp, &tp->done, done);
}

void plumb_threadpool_run(PlumbThreadpool *tp, PlumbThreadFn fn, void *arg)
{
    plumb_threadpool_run_n(tp, tp->n_threads, fn, arg);
}

void plumb_threadpool_barrier(PlumbThreadpool *tp)
{
    uint32_t phase;
    int nth = tp->nth;
    if (nth <= 1)
        return;
    phase = atomic_load(&tp->bar_phase);
    if (atomic_fetch_add(&tp->bar_count, 1) == nth - 1) {
        atomic_store(&tp->bar_count, 0);
        publish(tp, &tp->bar_phase);
    } else {
        wait_change(tp, &tp->bar_phase, phase);
    }
}
