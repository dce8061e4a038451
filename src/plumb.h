/*
 * plumb.h — the public API of the plumb runtime.
 *
 * Two objects:
 *   PlumbModel   — an opened GGUF model: weights memory-mapped read-only,
 *                  hyperparameters, tokenizer, kernel tables.  Immutable after
 *                  plumb_model_open(); may be shared by any number of sessions
 *                  (and threads, one session per thread).
 *   PlumbSession — one conversation state: token history, KV cache, sampler
 *                  state and the scratch buffers of the forward pass.  Owned by
 *                  one caller at a time.
 *
 * Errors: every fallible call returns PLUMB_OK (0) or a negative PLUMB_E*
 * code and fills a caller-owned PlumbError with a message naming the file,
 * field or value at fault.  The library never prints and never exits.
 */
#ifndef PLUMB_H
#define PLUMB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef PLUMB_API
#define PLUMB_API
#endif

/* ------------------------------------------------------------- limits */
/* The ranges the library accepts; programs check options against these. */
#define PLUMB_MAX_THREADS 1024  /* PlumbModelParams.n_threads, caller included */
#define PLUMB_MAX_LAYERS 1024   /* transformer blocks a model file may declare */
#define PLUMB_MAX_CTX (1 << 24) /* PlumbSessionParams.n_ctx, tokens */

/* ------------------------------------------------------------- errors */
enum {
    PLUMB_OK = 0,
    PLUMB_EIO = -1,          /* open/read/mmap failed */
    PLUMB_EFORMAT = -2,      /* malformed or hostile input file / data */
    PLUMB_ENOMEM = -3,       /* allocation failed or a size cap was hit */
    PLUMB_EINVAL = -4,       /* bad argument from the caller */
    PLUMB_EUNSUPPORTED = -5, /* valid but not supported (type, architecture) */
    PLUMB_ERANGE = -6,       /* value out of range (token id, context full) */
    PLUMB_ECPU = -7,         /* requested CPU tier not available */
};

typedef struct PlumbError {
    int code;       /* last PLUMB_E* code, PLUMB_OK when clear */
    char msg[1024]; /* NUL-terminated, human-readable detail */
} PlumbError;

/* Name of an error code ("format error", ...). Never NULL. */
const char *plumb_strerror(int code);

/* ------------------------------------------------------------- model */
typedef struct PlumbModel PlumbModel;
typedef struct PlumbSession PlumbSession;

typedef struct PlumbModelParams {
    const char *cpu; /* tier name ("c", "avx2", ...) or NULL: $PLUMB_CPU, else best */
    int n_threads;   /* worker threads, 0 = number of physical cores; at most PLUMB_MAX_THREADS */
} PlumbModelParams;

typedef struct PlumbModelInfo {
    const char *path;      /* file the model was opened from */
    const char *arch;      /* "qwen3moe" or "qwen3" */
    const char *name;      /* general.name or "" */
    int32_t n_vocab;       /* tokens */
    int32_t n_ctx_train;   /* tokens */
    int32_t n_embd;        /* model width */
    int32_t n_layer;       /* transformer blocks */
    int32_t n_head;        /* query heads */
    int32_t n_head_kv;     /* key/value heads */
    int32_t head_dim;      /* per head, for Q, K and V */
    int32_t n_ff;          /* dense FFN width (qwen3) */
    int32_t n_expert;      /* experts per MoE layer (qwen3moe), else 0 */
    int32_t n_expert_used; /* experts chosen per token */
    int32_t n_ff_exp;      /* expert FFN width */
    float rope_base;       /* RoPE frequency base */
    float rms_eps;         /* RMSNorm epsilon */
    int32_t bos_id;        /* -1 when none */
    int32_t eos_id;        /* -1 when none */
    int32_t eot_id;        /* <|im_end|>, -1 when none */
    int add_bos;           /* tokenizer.ggml.add_bos_token */
    const char *cpu_tier;  /* kernel tier in use: "c", "avx2", ... */
} PlumbModelInfo;

int plumb_model_open(PlumbModel **out, const char *path, const PlumbModelParams *params,
                     PlumbError *err);
void plumb_model_close(PlumbModel *m); /* NULL is fine */
const PlumbModelInfo *plumb_model_info(const PlumbModel *m);

/* ------------------------------------------------------------- tokens */
#define PLUMB_TOK_SPECIAL 1u /* recognise added/special tokens in the text */

/* Encode len bytes of UTF-8.  *ids is malloc'd (caller frees), *n_ids set.
 * Invalid UTF-8 is encoded byte-wise, never rejected. */
int plumb_tokenize(const PlumbModel *m, const char *text, size_t len, unsigned flags,
                   int32_t **ids, size_t *n_ids, PlumbError *err);

/* The raw bytes a token stands for (after byte-level decoding); NULL for an
 * id out of range.  Not NUL-terminated: *len is set. */
const char *plumb_token_bytes(const PlumbModel *m, int32_t id, size_t *len);
/* Non-zero for control/special tokens (<|im_end|>, <think>, ...). */
int plumb_token_is_special(const PlumbModel *m, int32_t id);
/* Id of the token whose text is exactly s, or -1. */
int32_t plumb_token_lookup(const PlumbModel *m, const char *s);

/* Streaming detokeniser: holds back bytes of a UTF-8 sequence that a token
 * ends in the middle of, so printed text never contains half characters. */
typedef struct PlumbDetok {
    unsigned char pending[8]; /* bytes of an incomplete UTF-8 sequence */
    int n_pending;            /* count of pending bytes */
} PlumbDetok;
/* Append the text of token id to out (cap bytes); returns bytes written.
 * Control tokens (<|im_start|>, <|im_end|>, ...) are rendered as their text
 * when show_special is non-zero, else skipped; user-defined added tokens
 * (<think>, <tool_call>, ...) are always rendered. */
size_t plumb_detok_push(const PlumbModel *m, PlumbDetok *d, int32_t id, int show_special,
                        char *out, size_t cap);
/* Flush pending bytes (as U+FFFD for an incomplete sequence). */
size_t plumb_detok_flush(PlumbDetok *d, char *out, size_t cap);

/* ------------------------------------------------------------- sampling */
/* Temperatures below this (0, negative and NaN too) choose greedily: the
 * most likely token, the lowest id on ties, which is the limit of sampling
 * as the temperature goes to 0.  Below 1e-5 the tempered distribution is
 * decided by differences between logits smaller than their float32
 * resolution at typical magnitudes (2^-17 ~ 7.6e-6 for |logit| in [16, 32))
 * and than the rounding of the forward pass, not by the model; and 1/T no
 * longer overflows float for any finite logit below 3.4e33 in size. */
#define PLUMB_SAMPLER_TEMP_MIN 1e-5f

typedef struct PlumbSamplerParams {
    float temperature;       /* < PLUMB_SAMPLER_TEMP_MIN: greedy (argmax, lowest id on ties) */
    int32_t top_k;           /* 0: off */
    float top_p;             /* 1: off */
    float min_p;             /* 0: off */
    float presence_penalty;  /* 0: off; subtracted once per seen token */
    float frequency_penalty; /* 0: off; subtracted per occurrence */
    float repeat_penalty;    /* 1: off; llama.cpp-style divide/multiply */
    int32_t penalty_last_n;  /* window of generated tokens the penalties see; -1 = all */
    uint64_t seed;           /* RNG seed; same seed, same choices */
} PlumbSamplerParams;

void plumb_sampler_params_default(PlumbSamplerParams *p);

/* ------------------------------------------------------------- sessions */
/* Element type of the key/value cache. */
typedef enum PlumbKVType {
    PLUMB_KV_DEFAULT = 0, /* F16 */
    PLUMB_KV_F16 = 1,     /* half the memory of F32; what llama.cpp keeps by default */
    PLUMB_KV_F32 = 2      /* exact copies of the projections */
} PlumbKVType;

typedef struct PlumbSessionParams {
    int32_t n_ctx;       /* context length in tokens; 0 = min(model's, 4096) */
    PlumbKVType kv_type; /* key/value cache type; 0 = F16 */
} PlumbSessionParams;

/* PLUMB_KV_F16 / PLUMB_KV_F32 from "f16" / "f32" (case-insensitive);
 * PLUMB_EINVAL naming the value otherwise. */
int plumb_kv_type_parse(const char *s, PlumbKVType *out, PlumbError *err);
/* "f16" or "f32" (PLUMB_KV_DEFAULT: "f16"). */
const char *plumb_kv_type_name(PlumbKVType t);

#define PLUMB_EVAL_ALL_LOGITS 1u /* keep logits of every evaluated position */

int plumb_session_open(PlumbSession **out, PlumbModel *m, const PlumbSessionParams *p,
                       PlumbError *err);
void plumb_session_close(PlumbSession *s); /* NULL is fine */
/* Forget all tokens (KV cache emptied, sampler history cleared). */
void plumb_session_reset(PlumbSession *s);
/* Keep only the first n_past positions (n_past <= plumb_session_n_past):
 * the tokens after them are forgotten, as if never evaluated, and the next
 * eval continues from position n_past.  The logits of the last eval are
 * dropped.  PLUMB_ERANGE (nothing changed) when n_past is larger. */
int plumb_session_truncate(PlumbSession *s, size_t n_past, PlumbError *err);
/* Run the forward pass over n new tokens, continuing the history. */
int plumb_session_eval(PlumbSession *s, const int32_t *ids, size_t n, unsigned flags,
                       PlumbError *err);
/* Logits [n_vocab] of position i of the last eval (0 <= i < n).  Without
 * PLUMB_EVAL_ALL_LOGITS only the last position is kept; other i give NULL. */
const float *plumb_session_logits(const PlumbSession *s, size_t i);
size_t plumb_session_n_past(const PlumbSession *s);
size_t plumb_session_n_ctx(const PlumbSession *s);

void plumb_session_set_sampler(PlumbSession *s, const PlumbSamplerParams *p);
/* Clear the sampler's history of generated tokens (penalties start afresh). */
void plumb_session_sampler_reset(PlumbSession *s);
/* Choose the next token from the last position's logits and remember it for
 * the penalties.  Does not evaluate it. */
int32_t plumb_session_sample(PlumbSession *s);

/* ------------------------------------------------------------- chat */
typedef struct PlumbChatMsg {
    const char *role;    /* "system", "user", "assistant" or "tool" */
    const char *content; /* UTF-8 */
} PlumbChatMsg;

/* Render messages in Qwen3 ChatML.  With add_assistant, open an assistant
 * turn; with thinking == 0 that turn starts with an empty think block.
 * *out is malloc'd. */
int plumb_chat_format(const PlumbChatMsg *msgs, size_t n, int add_assistant, int thinking,
                      char **out, PlumbError *err);

/* ------------------------------------------------------------- build */
const char *plumb_version(void);

#ifdef __cplusplus
}
#endif
#endif
