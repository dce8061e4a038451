/* src/matmul.c — not written yet */
typedef int plumb_placeholder_matmul;
