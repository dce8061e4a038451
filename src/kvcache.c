/* src/kvcache.c — not written yet */
typedef int plumb_placeholder_kvcache;
