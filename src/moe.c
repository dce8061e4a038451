/* src/moe.c — not written yet */
typedef int plumb_placeholder_moe;
