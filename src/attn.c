/* src/attn.c — not written yet */
typedef int plumb_placeholder_attn;
