/*
 * threadpool.h — persistent worker threads for data-parallel work.
 *
 * A pool of n threads is the caller plus n-1 pthreads created once at
 * plumb_threadpool_open() and kept until plumb_threadpool_close().
 * plumb_threadpool_run(tp, fn, arg) calls fn(arg, ith, nth) once on each of
 * nth threads — the calling thread is ith 0, workers are 1..nth-1 — and
 * returns when every call has returned.  Work is split by the callee from
 * (ith, nth); the pool never splits anything itself.
 *
 * Waiting is cheap in both directions: a waiting thread spins briefly on an
 * atomic word and then sleeps in the kernel (futex on Linux, a condition
 * variable elsewhere), so back-to-back runs cost no system call while idle
 * workers use no CPU.  Inside fn, plumb_threadpool_barrier() synchronises
 * the nth threads of the current run (every one of them must call it the
 * same number of times).
 *
 * Ownership and threading: the pool is owned by its opener.  Only one thread
 * may call plumb_threadpool_run() at a time, and fn must not call run on the
 * same pool.  Memory written by any thread before run returns (or before a
 * barrier) is visible to every thread after it.
 */
#ifndef PLUMB_THREADPOOL_H
#define PLUMB_THREADPOOL_H

#include "plumb.h"

#define PLUMB_THREADPOOL_MAX PLUMB_MAX_THREADS /* threads in one pool, caller included */

typedef struct PlumbThreadpool PlumbThreadpool;

/* The work of one thread: arg as given to run, ith in [0, nth). */
typedef void (*PlumbThreadFn)(void *arg, int ith, int nth);

/* Start a pool of n_threads (caller included); n_threads <= 0 means the
 * number of physical cores.  More than PLUMB_THREADPOOL_MAX is PLUMB_EINVAL;
 * a failed pthread_create is PLUMB_ENOMEM.  On error *out is NULL. */
int plumb_threadpool_open(PlumbThreadpool **out, int n_threads, PlumbError *err);
/* Stop and join the workers.  NULL is fine.  Not during a run. */
void plumb_threadpool_close(PlumbThreadpool *tp);
/* Threads in the pool, caller included (>= 1). */
int plumb_threadpool_n_threads(const PlumbThreadpool *tp);

/* Run fn on every thread of the pool and wait for all of them. */
void plumb_threadpool_run(PlumbThreadpool *tp, PlumbThreadFn fn, void *arg);
/* Same on the first nth threads only (nth is clamped to [1, n_threads]);
 * the other workers do not call fn. */
void plumb_threadpool_run_n(PlumbThreadpool *tp, int nth, PlumbThreadFn fn, void *arg);

/* Wait until all nth threads of the current run have reached the barrier.
 * Call only from inside fn; a run with nth == 1 returns at once. */
void plumb_threadpool_barrier(PlumbThreadpool *tp);

#endif
