/* src/threadpool.c — not written yet */
typedef int plumb_placeholder_threadpool;
