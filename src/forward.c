/* src/forward.c — not written yet */
typedef int plumb_placeholder_forward;
