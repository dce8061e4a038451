/*
 * plumb.h — the public API of the plumb runtime.
 *
 * Two objects:
 *   PlumbModel   — an opened GGUF model: weights memory-mapped read-only,
 *                  hyperparameters, tokenizer, kernel tables, and the runtime:
 *                  one pool of worker threads that every session on the model
 *                  borrows.  Immutable after plumb_model_open(); may be shared
 *                  by any number of sessions on any threads (one thread per
 *                  session at a time).  Sessions on different threads take
 *                  turns on the pool, one forward pass (a batch of up to 512
 *                  tokens) at a time; their results are the same as alone.
 *   PlumbSession — one conversation state: token history, KV cache, sampler
 *                  state and the scratch buffers of the forward pass.  Owned by
 *                  one caller at a time.
 *
 * Errors: every fallible call returns PLUMB_OK (0) or a negative PLUMB_E*
 * code and fills a caller-owned PlumbError with a message naming the file,
 * field or value at fault.  The library never prints and never exits.
 *
 * Every function is declared PLUMB_API: only these leave the shared library.
 * Compile with `pkg-config --cflags plumb`, link with `--libs` (add --static
 * for libplumb.a); see plumb(3).
 */
#ifndef PLUMB_H
#define PLUMB_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Exported from the library when it is built (PLUMB_BUILDING_LIBRARY, with
 * -fvisibility=hidden); a plain declaration for programs using it. */
#if defined(PLUMB_BUILDING_LIBRARY) && defined(__GNUC__)
#define PLUMB_API __attribute__((visibility("default")))
#elif !defined(PLUMB_API)
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
PLUMB_API const char *plumb_strerror(int code);

/* ------------------------------------------------------------- model */
typedef struct PlumbModel PlumbModel;
typedef struct PlumbSession PlumbSession;

/* The library reads no environment variables: programs map theirs to these
 * fields (the plumb command reads PLUMB_CPU into cpu and PLUMB_EXPERT_ADVICE
 * into expert_advice when no option says otherwise). */
typedef struct PlumbModelParams {
    const char *cpu;   /* kernel tier ("c", "avx2", ...); NULL or "" = the best this
                          CPU and build have */
    int n_threads;     /* threads of the model's pool, caller included; 0 = number
                          of physical cores; at most PLUMB_MAX_THREADS */
    int expert_advice; /* madvise(WILLNEED) the experts each token picks: 0 = only
                          when the file is larger than 90% of RAM, 1 = always,
                          -1 = never */
} PlumbModelParams;

typedef struct PlumbModelInfo {
    const char *path;      /* file the model was opened from */
    const char *arch;      /* general.architecture: "qwen3moe", "qwen3" or "qwen2" */
    const char *name;      /* general.name or "" */
    int32_t n_vocab;       /* tokens */
    int32_t n_ctx_train;   /* tokens */
    int32_t n_embd;        /* model width */
    int32_t n_layer;       /* transformer blocks */
    int32_t n_head;        /* query heads */
    int32_t n_head_kv;     /* key/value heads */
    int32_t head_dim;      /* per head, for Q, K and V */
    int32_t n_ff;          /* dense FFN width (qwen3, qwen2) */
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

PLUMB_API int plumb_model_open(PlumbModel **out, const char *path,
                               const PlumbModelParams *params, PlumbError *err);
PLUMB_API void plumb_model_close(PlumbModel *m); /* NULL is fine */
PLUMB_API const PlumbModelInfo *plumb_model_info(const PlumbModel *m);
/* Bytes of weights the forward pass of one decoded token (a batch of one)
 * reads: every matrix of every layer and the output projection whole, of
 * each MoE layer's expert matrices the n_expert_used experts it picks, one
 * row of the token embeddings (the whole table when the output shares it),
 * and the norm and bias vectors.  Memory bandwidth divided by this plus the
 * key/value rows a token attends to bounds decode speed.  0 for NULL. */
PLUMB_API uint64_t plumb_model_active_bytes(const PlumbModel *m);

/* ------------------------------------------------------------- tokens */
#define PLUMB_TOK_SPECIAL 1u /* recognise added/special tokens in the text */

/* Encode len bytes of UTF-8.  *ids is malloc'd (caller frees), *n_ids set.
 * Invalid UTF-8 is encoded byte-wise, never rejected. */
PLUMB_API int plumb_tokenize(const PlumbModel *m, const char *text, size_t len,
                             unsigned flags, int32_t **ids, size_t *n_ids, PlumbError *err);

/* The raw bytes a token stands for (after byte-level decoding); NULL for an
 * id out of range.  Not NUL-terminated: *len is set. */
PLUMB_API const char *plumb_token_bytes(const PlumbModel *m, int32_t id, size_t *len);
/* Non-zero for control/special tokens (<|im_end|>, <think>, ...). */
PLUMB_API int plumb_token_is_special(const PlumbModel *m, int32_t id);
/* Id of the token whose text is exactly s, or -1. */
PLUMB_API int32_t plumb_token_lookup(const PlumbModel *m, const char *s);

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
PLUMB_API size_t plumb_detok_push(const PlumbModel *m, PlumbDetok *d, int32_t id,
                                  int show_special, char *out, size_t cap);
/* Flush pending bytes (as U+FFFD for an incomplete sequence). */
PLUMB_API size_t plumb_detok_flush(PlumbDetok *d, char *out, size_t cap);

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

PLUMB_API void plumb_sampler_params_default(PlumbSamplerParams *p);

/* ------------------------------------------------------------- sessions */
/* Element type of the key/value cache (keys and values each). */
typedef enum PlumbKVType {
    PLUMB_KV_DEFAULT = 0, /* F16 */
    PLUMB_KV_F16 = 1,     /* 16-bit floats: what llama.cpp keeps by default */
    PLUMB_KV_F32 = 2,     /* exact copies of the projections (tests, references) */
    PLUMB_KV_Q8_0 = 3,    /* 8-bit blocks of 32 (34 bytes per 32 values) */
    PLUMB_KV_Q4_0 = 4     /* 4-bit blocks of 32 (18 bytes per 32 values) */
} PlumbKVType;

/* How keys are rotated before they are stored (queries likewise). */
typedef enum PlumbKVRotate {
    PLUMB_KV_ROTATE_AUTO = 0, /* Hadamard for Q8_0 and Q4_0 keys, none otherwise */
    PLUMB_KV_ROTATE_NONE = 1,
    PLUMB_KV_ROTATE_HADAMARD = 2
} PlumbKVRotate;

typedef struct PlumbSessionParams {
    int32_t n_ctx;         /* context length in tokens; 0 = min(model's, 4096) */
    PlumbKVType kv_type;   /* key cache type, and the value cache's when kv_type_v is 0;
                              0 = F16 */
    PlumbKVType kv_type_v; /* value cache type; 0 = as kv_type */
    PlumbKVRotate kv_rotate; /* key rotation; 0 = automatic */
    int32_t window;        /* 0: attend to every position; else each token attends to the
                              last `window` positions and the first `keep` (the sinks),
                              and older positions are dropped from memory */
    int32_t keep;          /* sinks with a window: 0 = 4; at least 1 */
} PlumbSessionParams;

/* A PlumbKVType from "f32", "f16", "q8_0" or "q4_0" (case-insensitive);
 * PLUMB_EINVAL naming the value otherwise. */
PLUMB_API int plumb_kv_type_parse(const char *s, PlumbKVType *out, PlumbError *err);
/* "f32", "f16", "q8_0" or "q4_0" (PLUMB_KV_DEFAULT: "f16"). */
PLUMB_API const char *plumb_kv_type_name(PlumbKVType t);

#define PLUMB_EVAL_ALL_LOGITS 1u /* keep logits of every evaluated position */

PLUMB_API int plumb_session_open(PlumbSession **out, PlumbModel *m,
                                 const PlumbSessionParams *p, PlumbError *err);
PLUMB_API void plumb_session_close(PlumbSession *s); /* NULL is fine */
/* Forget all tokens (KV cache emptied, sampler history cleared). */
PLUMB_API void plumb_session_reset(PlumbSession *s);
/* Keep only the first n_past positions (n_past <= plumb_session_n_past):
 * the tokens after them are forgotten, as if never evaluated, and the next
 * eval continues from position n_past.  The logits of the last eval are
 * dropped, and so is a pending token.  PLUMB_ERANGE (nothing changed) when
 * n_past is larger. */
PLUMB_API int plumb_session_truncate(PlumbSession *s, size_t n_past, PlumbError *err);
/* Run the forward pass over n new tokens, continuing the history (a token
 * left pending by plumb_session_generate() is evaluated first; logits
 * indices still count from ids[0]). */
PLUMB_API int plumb_session_eval(PlumbSession *s, const int32_t *ids, size_t n, unsigned flags,
                       PlumbError *err);
/* Logits [n_vocab] of position i of the last eval (0 <= i < n).  Without
 * PLUMB_EVAL_ALL_LOGITS only the last position is kept; other i give NULL. */
PLUMB_API const float *plumb_session_logits(const PlumbSession *s, size_t i);
/* Positions evaluated (a pending token is not counted). */
PLUMB_API size_t plumb_session_n_past(const PlumbSession *s);
PLUMB_API size_t plumb_session_n_ctx(const PlumbSession *s);
/* For benchmarks: append n positions whose keys and values are seeded
 * random numbers (of the size real ones have) instead of evaluating a
 * model, so that speed and memory can be measured at depths a prefill
 * would take hours to reach.  The sequence holds token 0 there; logits that
 * follow mean nothing.  PLUMB_ERANGE when n does not fit the context. */
PLUMB_API int plumb_session_fill(PlumbSession *s, size_t n, uint64_t seed, PlumbError *err);
/* Bytes of key/value cache the session holds now (pages shared with a fork
 * are counted by both). */
PLUMB_API uint64_t plumb_session_kv_bytes(const PlumbSession *s);

PLUMB_API void plumb_session_set_sampler(PlumbSession *s, const PlumbSamplerParams *p);
/* Clear the sampler's history of generated tokens (penalties start afresh). */
PLUMB_API void plumb_session_sampler_reset(PlumbSession *s);
/* Choose the next token from the last position's logits and remember it for
 * the penalties.  Does not evaluate it. */
PLUMB_API int32_t plumb_session_sample(PlumbSession *s);

/* A second session holding the same sequence: the cache's pages are shared
 * and copied only when one of the two writes into a shared page, so a fork
 * costs at most one page per session.  The fork has the same model, cache
 * settings, tokens (a pending token too), logits and sampler state; the two
 * then go their own ways.  Sessions sharing pages may run on different
 * threads. */
PLUMB_API int plumb_session_fork(PlumbSession *s, PlumbSession **out, PlumbError *err);
/* Write the session's cache and tokens to path (created or replaced
 * atomically: written beside it, then renamed; a symlink at path is refused).
 * A pending token is not saved. */
PLUMB_API int plumb_session_save(const PlumbSession *s, const char *path, PlumbError *err);
/* Replace the session's sequence by the one saved in path.  Refused, with a
 * message naming the field, when the file was made with another model,
 * cache type, key rotation, RoPE settings or window, or does not fit the
 * session's context; a truncated or corrupted file is an error and leaves the
 * session empty. */
PLUMB_API int plumb_session_load(PlumbSession *s, const char *path, PlumbError *err);

/* ------------------------------------------------------------- generation */
/* Why plumb_session_generate() returned. */
typedef enum PlumbFinish {
    PLUMB_FINISH_NONE = 0,         /* an error: nothing was generated */
    PLUMB_FINISH_STOP_TOKEN = 1,   /* an end-of-generation token (eos, eot) */
    PLUMB_FINISH_STOP_STRING = 2,  /* the text reached one of the stop strings */
    PLUMB_FINISH_LENGTH = 3,       /* n_predict tokens were generated */
    PLUMB_FINISH_ABORTED = 4,      /* *abort_flag was set */
    PLUMB_FINISH_CALLBACK = 5,     /* on_token or on_progress returned non-zero */
    PLUMB_FINISH_CONTEXT_FULL = 6  /* no position left in the context */
} PlumbFinish;

/* Called once per generated token with the text it releases: whole UTF-8
 * characters only, possibly none (len 0) while bytes of a character or a
 * possible stop string are held back; once more with id -1 if text is still
 * held at the end.  piece is not NUL-terminated and valid during the call.
 * Return 0 to go on, non-zero to stop (PLUMB_FINISH_CALLBACK). */
typedef int (*PlumbTokenFn)(void *user, int32_t id, const char *piece, size_t len);
/* Called after each batch of the prompt: done of total tokens evaluated.
 * Return non-zero to stop (PLUMB_FINISH_CALLBACK). */
typedef int (*PlumbProgressFn)(void *user, size_t done, size_t total);

/* All zero is a valid default: no prompt, generate until an end token or the
 * context is full, no BOS, the session's sampler. */
typedef struct PlumbGenParams {
    const char *text;          /* prompt as UTF-8, or NULL */
    size_t text_len;           /* bytes of text; 0 = strlen(text) */
    int parse_special;         /* recognise <|im_start|> and other added tokens in text */
    const int32_t *ids;        /* prompt as token ids (used when text is NULL) */
    size_t n_ids;              /* tokens in ids */
    int add_bos;               /* put the model's BOS first when its metadata asks for
                                  one (tokenizer.ggml.add_bos_token), the sequence
                                  starts empty and the prompt does not begin with it */
    int reuse_prefix;          /* the prompt is the whole sequence, not a tail: keep the
                                  longest common prefix the session holds, evaluate
                                  the rest (PlumbGenResult.n_reused) */
    int32_t n_predict;         /* tokens to generate; 0 = until a stop or the context is
                                  full; < 0 = none (evaluate the prompt only) */
    int ignore_eog;            /* do not stop at end-of-generation tokens */
    int show_special;          /* pass control tokens' text (<|im_end|>, ...) to on_token,
                                  the final end token included */
    const char *const *stop;   /* [n_stop] stop strings (UTF-8, non-empty) */
    size_t n_stop;             /* count of stop strings */
    const PlumbSamplerParams *sampler; /* NULL = the session's (plumb_session_set_sampler) */
    const volatile int *abort_flag;    /* non-zero (set with an atomic store from any
                                          thread) stops between batches and tokens */
    PlumbProgressFn on_progress;       /* NULL = none; gets the user pointer */
    int32_t n_batch;           /* prompt tokens per forward pass; 0 = 512 */
    int all_logits;            /* keep the logits of every position the prompt's
                                  evaluation runs (as PLUMB_EVAL_ALL_LOGITS) */
} PlumbGenParams;

/* With n_predict < 0, plumb_session_logits(s, i) afterwards holds the logits
 * of the i-th position evaluated (i < n_evaluated; only the last one without
 * all_logits), counting the pending token of an earlier call first. */
typedef struct PlumbGenResult {
    PlumbFinish finish;        /* why generation stopped */
    int32_t stop_index;        /* PLUMB_FINISH_STOP_STRING: index into stop, else -1 */
    int32_t last_token;        /* last token sampled (the stop token too), -1 if none */
    size_t n_prompt;           /* prompt tokens after tokenising and BOS */
    size_t n_reused;           /* of them, positions kept from the session (reuse_prefix) */
    size_t n_evaluated;        /* prompt tokens run through the model (aborted: so far) */
    size_t n_generated;        /* tokens sampled (an end token is not counted) */
    double prompt_seconds;     /* wall time of the prompt's evaluation */
    double gen_seconds;        /* wall time of sampling and evaluating the tokens */
} PlumbGenResult;

/* Append a prompt to the session, evaluate it, then sample and evaluate
 * tokens until a stop condition, streaming their text to on_token (may be
 * NULL).  The session keeps the prompt and every generated token; the last
 * token sampled is evaluated by the next generate or eval call (it needs no
 * forward pass unless generation continues).  A stop string's text (and
 * anything after it) is never passed to on_token; the tokens that formed it
 * stay in the session.  Stop conditions are outcomes, not errors: *out says
 * which one.  Errors (bad ids, a prompt longer than the free context, out of
 * memory) return a negative code; a prompt is checked before anything is
 * evaluated, so then the session is as it was. */
PLUMB_API int plumb_session_generate(PlumbSession *s, const PlumbGenParams *p, PlumbTokenFn on_token,
                                     void *user, PlumbGenResult *out, PlumbError *err);

/* Make the session hold exactly ids[0..n): keep the longest prefix it holds
 * already, forget the rest, and evaluate the new tail (at least the last
 * token, so its logits are current).  *n_reused (may be NULL) gets the kept
 * count. */
PLUMB_API int plumb_session_set_tokens(PlumbSession *s, const int32_t *ids, size_t n,
                                       size_t *n_reused, PlumbError *err);
/* The tokens the session holds, evaluated ones then the pending one, if
 * any (n_tokens of them); valid until the next call on the session. */
PLUMB_API const int32_t *plumb_session_tokens(const PlumbSession *s, size_t *n_tokens);

/* Name of a finish reason ("stop token", "length", ...). Never NULL. */
PLUMB_API const char *plumb_finish_name(PlumbFinish f);

/* ------------------------------------------------------------- chat */
/* JSON crosses this interface as UTF-8 text; the header names no JSON
 * library's types.  Fields that are NULL are absent. */
typedef struct PlumbChatMsg {
    const char *role;    /* "system", "user", "assistant" or "tool" */
    const char *content; /* UTF-8 */
    /* assistant only: the reasoning, used as is instead of a <think> block
     * split off the content (the template's reasoning_content) */
    const char *reasoning_content;
    /* assistant only: JSON array of calls, each {"name", "arguments"} or
     * {"function": {"name", "arguments"}}; arguments an object or a string
     * of JSON written as is */
    const char *tool_calls;
} PlumbChatMsg;

typedef struct PlumbChatParams {
    const char *tools;  /* JSON array of tool definitions, or NULL: none */
    int add_assistant;  /* 1: end with an open assistant turn */
    int no_think;       /* 1: that turn starts with an empty think block */
    int keep_reasoning; /* 1: keep the <think> of every assistant turn, not
                           only those after the last user query (this
                           deliberately differs from the template) */
} PlumbChatParams;

/* Render messages in Qwen3 ChatML byte for byte as the model's chat
 * template does (tools block, tool responses, think blocks; see
 * plumb_chat(3)).  p NULL means all zero.  *out is malloc'd.
 * PLUMB_EINVAL for a bad role, NULL content or bad JSON. */
PLUMB_API int plumb_chat_format(const PlumbChatMsg *msgs, size_t n, const PlumbChatParams *p,
                                char **out, PlumbError *err);

/* Reasoning, content and tool calls of one generated assistant reply. */
typedef struct PlumbChatParsed PlumbChatParsed;

typedef struct PlumbChatToolCall {
    const char *name;      /* NUL-terminated, NULL when error is set */
    const char *arguments; /* the arguments object as compact JSON, NULL when error is set */
    const char *text;      /* NUL-terminated copy of what lies between the tags */
    size_t text_len;       /* bytes of text (it may hold NUL bytes) */
    const char *extra;     /* text after the JSON object inside the block
                              (e.g. <code>...</code>), trimmed; "" if none */
    const char *error;     /* NULL, or why the call cannot be used */
    int closed;            /* 0: the text ended before </tool_call> */
} PlumbChatToolCall;

/* Parse text[0..len) (never read past len; NUL bytes are data).  A malformed
 * call from the model is not an error of this function: it shows as the
 * call's error string.  Errors: PLUMB_EINVAL (NULL arguments), PLUMB_ENOMEM. */
PLUMB_API int plumb_chat_parse(const char *text, size_t len, PlumbChatParsed **out,
                               PlumbError *err);
PLUMB_API void plumb_chat_parsed_free(PlumbChatParsed *p);
/* The reasoning (between <think> and </think>, newlines trimmed), or NULL
 * when the text has no think block; *len (if len) its bytes. */
PLUMB_API const char *plumb_chat_parsed_reasoning(const PlumbChatParsed *p, size_t *len);
/* 1 when a <think> block was opened and never closed (all is reasoning). */
PLUMB_API int plumb_chat_parsed_think_open(const PlumbChatParsed *p);
/* The reply without reasoning and tool-call blocks, blanks trimmed; never NULL. */
PLUMB_API const char *plumb_chat_parsed_content(const PlumbChatParsed *p, size_t *len);
PLUMB_API size_t plumb_chat_parsed_n_calls(const PlumbChatParsed *p);
/* Call i in order of appearance, or NULL when i is out of range. */
PLUMB_API const PlumbChatToolCall *plumb_chat_parsed_call(const PlumbChatParsed *p, size_t i);

/* ------------------------------------------------------------- build */
PLUMB_API const char *plumb_version(void);

#ifdef __cplusplus
}
#endif
#endif
