/* src/gguf_write.c — not written yet */
typedef int plumb_placeholder_gguf_write;
