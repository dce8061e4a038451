/* src/sampler.c — not written yet */
typedef int plumb_placeholder_sampler;
