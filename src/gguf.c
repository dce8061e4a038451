/* src/gguf.c — not written yet */
typedef int plumb_placeholder_gguf;
