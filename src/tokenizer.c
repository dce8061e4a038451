/* src/tokenizer.c — not written yet */
typedef int plumb_placeholder_tokenizer;
