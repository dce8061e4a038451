/*
 * llm.h — the agent's view of a model: one interface, three backends.
 *
 *   local   an embedded model: a PlumbSession on an opened PlumbModel.  Each
 *           call renders the messages (Qwen3 ChatML, reasoning kept), keeps
 *           the longest common token prefix the session holds and evaluates
 *           only the rest.
 *   remote  an OpenAI-compatible server (vLLM, SGLang, llama.cpp):
 *           /completions with the prompt rendered here (the default, so the
 *           model sees the same bytes as embedded) or /chat/completions;
 *           SSE streaming, stop strings also enforced here, first-byte and
 *           inactivity timeouts, retries with backoff.
 *   script  replies read from a JSONL file, one per call (tests).
 *
 * The messages are the whole conversation; the backend opens the assistant
 * turn itself.  The system message carries the tools (the agent renders the
 * <tools> block into it), so no backend passes tools to a template.
 *
 * Errors: PLUMB_ERANGE means the conversation does not fit the model's
 * context (local: no room left; remote: the server's context-length error);
 * the agent answers it with the forced answer.  Any other negative code is a
 * failure of the backend, with the detail in *err.
 *
 * A PlumbLLM is used by one thread at a time.
 */
#ifndef PLUMB_LLM_H
#define PLUMB_LLM_H

#include <stddef.h>
#include <stdint.h>

#include "plumb.h"

typedef struct PlumbLLM PlumbLLM;

typedef enum LlmFinish {
    LLM_FINISH_STOP = 0,    /* an end token, or the server's "stop" */
    LLM_FINISH_STRING = 1,  /* one of the stop strings (cut off the text) */
    LLM_FINISH_LENGTH = 2,  /* max_tokens generated */
    LLM_FINISH_ABORTED = 3, /* *abort_flag, or the text callback asked to stop */
} LlmFinish;

/* Zero is not a valid default for the sampler: use llm_params_default(). */
typedef struct LlmParams {
    float temperature;        /* 0.6 */
    float top_p;              /* 0.95 */
    float presence_penalty;   /* 1.1, applied to this call's generated tokens only */
    int32_t max_tokens;       /* 10000; the backend clips it to the room left */
    const char *const *stop;  /* [n_stop] stop strings; the text is cut before the first one */
    size_t n_stop;
    uint64_t seed;            /* used when has_seed */
    int has_seed;
    const volatile int *abort_flag; /* non-zero stops the call (LLM_FINISH_ABORTED) */
} LlmParams;

void llm_params_default(LlmParams *p);

typedef struct LlmResult {
    char *text;          /* malloc'd UTF-8 reply, cut before any stop string */
    size_t text_len;
    LlmFinish finish;
    size_t n_prompt;     /* prompt tokens (remote: as the server counted them, 0 if unknown) */
    size_t n_reused;     /* of them, kept from the previous call (local; remote: cached, if told) */
    size_t n_evaluated;  /* prompt tokens evaluated by this call */
    size_t n_generated;  /* tokens generated */
    double prompt_seconds, gen_seconds; /* wall time; remote: to the first token, then the rest */
} LlmResult;

void llm_result_free(LlmResult *r);

/* Streams the reply as it comes (whole UTF-8 characters).  Non-zero stops
 * the call (LLM_FINISH_ABORTED). */
typedef int (*LlmTextFn)(void *user, const char *piece, size_t len);

/* Generate the assistant's reply to msgs[0..n). */
int llm_generate(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, const LlmParams *p,
                 LlmTextFn fn, void *user, LlmResult *res, PlumbError *err);
/* Tokens the rendered conversation (with the open assistant turn) takes;
 * remote backends without a tokenizer estimate (see llm_remote). */
int llm_count(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, size_t *n_tokens, PlumbError *err);
/* Tokens of context the backend has, 0 when unknown. */
size_t llm_context_size(PlumbLLM *l);
/* "model sha256:HEX (FILE)", "URL (model NAME)" or "script FILE": for the record. */
const char *llm_describe(PlumbLLM *l);
void llm_close(PlumbLLM *l);

/* ---------------------------------------------------------------- backends */
typedef struct LlmLocalParams {
    const char *model_path; /* for llm_describe and the model hash; may be NULL */
    uint32_t n_ctx;         /* 0 = 32768, clipped to the model's */
    uint32_t n_threads;     /* 0 = the model's */
    PlumbSessionParams kv;  /* cache types, window and sinks (its n_ctx is not read);
                               a window with keep 0 keeps the whole system message, at
                               least 4 positions */
} LlmLocalParams;
/* m is borrowed and must outlive the backend. */
int llm_open_local(PlumbLLM **out, PlumbModel *m, const LlmLocalParams *p, PlumbError *err);

typedef enum LlmApi { LLM_API_COMPLETIONS = 0, LLM_API_CHAT = 1 } LlmApi;
typedef struct LlmRemoteParams {
    const char *base_url;   /* "http://127.0.0.1:8000/v1" */
    LlmApi api;
    const char *model_name; /* NULL: the first of GET /models */
    const char *api_key;    /* NULL: none */
    const char *ca_file;    /* extra CA certificates, or NULL */
    double first_byte_timeout_s;  /* 0 = 600 */
    double idle_timeout_s;        /* 0 = 120 */
    int max_retries;              /* 0 = 10; < 0 = none */
    double backoff_max_s;         /* 0 = 30: cap of the computed wait between retries */
    size_t n_ctx;                 /* 0 = unknown (asked of the server where it tells) */
    PlumbModel *tokenizer;        /* optional: count tokens with a local GGUF's vocabulary */
} LlmRemoteParams;
/* Opening asks GET /models for the model name (model_name NULL) and the
 * context size (vLLM's max_model_len); with a name given, a failure there
 * is not an error.  Retries never show the text callback anything twice:
 * over completions a retry continues the reply (its prompt is the rendered
 * conversation plus the text received so far); over chat it starts afresh
 * only if nothing was streamed yet, else the call fails.  The whole
 * contract: llm_remote.c.  Built without libcurl: PLUMB_EUNSUPPORTED. */
int llm_open_remote(PlumbLLM **out, const LlmRemoteParams *p, PlumbError *err);

/* Replies from a JSONL file: each line {"reply": "..."} or {"error": "..."}
 * (a failing call) or {"context_error": true} (PLUMB_ERANGE); optional
 * "expect_last": a string the last message must contain (checked, an error
 * otherwise).  Running out of lines is an error. */
int llm_open_script(PlumbLLM **out, const char *path, PlumbError *err);

/* ---------------------------------------------------------------- for backends */
/* Render the conversation as the model sees it, ending with an open
 * assistant turn: Qwen3 ChatML with every <think> kept (so a later message
 * never changes earlier bytes).  *out malloc'd. */
int llm_render(const PlumbChatMsg *msgs, size_t n, char **out, PlumbError *err);

#endif
