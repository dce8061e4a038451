/*
 * tokenizer.h — Qwen2/Qwen3 byte-level BPE from GGUF metadata.
 *
 * Built from tokenizer.ggml.tokens / merges / token_type (pre = "qwen2").
 * Encoding: added/special tokens matched first (when asked), then each
 * remaining span is NFC-normalised, split by the Qwen2 pre-tokenizer pattern,
 * mapped to GPT-2 byte-level symbols and merged by rank.  The tokenizer is
 * immutable after open and safe to share between threads.
 */
#ifndef PLUMB_TOKENIZER_H
#define PLUMB_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "plumb.h"

typedef struct PlumbTokenizer PlumbTokenizer;

int plumb_tok_open(PlumbTokenizer **out, const PlumbGGUF *g, PlumbError *err);
void plumb_tok_close(PlumbTokenizer *t); /* NULL is fine */

int32_t plumb_tok_n_vocab(const PlumbTokenizer *t);
/* Encode; *ids malloc'd, caller frees.  flags: PLUMB_TOK_SPECIAL. */
int plumb_tok_encode(const PlumbTokenizer *t, const char *text, size_t len, unsigned flags,
                     int32_t **ids, size_t *n_ids, PlumbError *err);
/* Raw bytes of a token (byte-level symbols decoded); NULL if id out of range. */
const char *plumb_tok_bytes(const PlumbTokenizer *t, int32_t id, size_t *len);
/* The token's text as stored in the vocabulary (byte-level symbols). */
const char *plumb_tok_text(const PlumbTokenizer *t, int32_t id);
int plumb_tok_is_special(const PlumbTokenizer *t, int32_t id); /* control or user-defined */
int plumb_tok_is_control(const PlumbTokenizer *t, int32_t id); /* control only (<|im_end|>, ...) */
int32_t plumb_tok_lookup(const PlumbTokenizer *t, const char *text); /* exact vocab text, -1 */

/* Special ids from metadata, -1 when absent. */
int32_t plumb_tok_bos(const PlumbTokenizer *t);
int32_t plumb_tok_eos(const PlumbTokenizer *t);
int32_t plumb_tok_eot(const PlumbTokenizer *t); /* <|im_end|> */
int plumb_tok_add_bos(const PlumbTokenizer *t);

/* plumb_detok_push() of plumb.h on the tokenizer itself (plumb_detok_flush()
 * needs no tokenizer and is defined in tokenizer.c as it is). */
size_t plumb_tok_detok_push(const PlumbTokenizer *t, PlumbDetok *d, int32_t id,
                            int show_special, char *out, size_t cap);
const char *plumb_tok_model(const PlumbTokenizer *t); /* tokenizer.ggml.model, e.g. "gpt2" */
const char *plumb_tok_pre(const PlumbTokenizer *t);   /* tokenizer.ggml.pre, e.g. "qwen2" */
uint64_t plumb_tok_n_merges(const PlumbTokenizer *t);

#endif
