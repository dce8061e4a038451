/*
 * llm_impl.h — what a backend implements (backends only; the agent uses llm.h).
 * A backend's struct starts with a PlumbLLM whose ops point at its functions;
 * llm.c checks arguments and dispatches.
 */
#ifndef PLUMB_LLM_IMPL_H
#define PLUMB_LLM_IMPL_H

#include "llm.h"

typedef struct LlmOps {
    int (*generate)(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, const LlmParams *p,
                    LlmTextFn fn, void *user, LlmResult *res, PlumbError *err);
    int (*count)(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, size_t *n_tokens,
                 PlumbError *err);
    size_t (*context_size)(PlumbLLM *l);
    void (*close)(PlumbLLM *l);
} LlmOps;

struct PlumbLLM {
    const LlmOps *ops;
    char describe[1024]; /* llm_describe's text */
};

#endif
