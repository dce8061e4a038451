/*
 * llm.c — the backend-independent part of the model interface (llm.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm_impl.h"

void llm_params_default(LlmParams *p)
{
    memset(p, 0, sizeof *p);
    p->temperature = 0.6f;
    p->top_p = 0.95f;
    p->presence_penalty = 1.1f;
    p->max_tokens = 10000;
}

void llm_result_free(LlmResult *r)
{
    if (!r)
        return;
    free(r->text);
    memset(r, 0, sizeof *r);
}

int llm_generate(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, const LlmParams *p,
                 LlmTextFn fn, void *user, LlmResult *res, PlumbError *err)
{
    if (!l || !msgs || !n || !p || !res)
        return plumb_err(err, PLUMB_EINVAL, "llm_generate: missing argument");
    memset(res, 0, sizeof *res);
    return l->ops->generate(l, msgs, n, p, fn, user, res, err);
}

int llm_count(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, size_t *n_tokens, PlumbError *err)
{
    if (!l || !msgs || !n_tokens)
        return plumb_err(err, PLUMB_EINVAL, "llm_count: missing argument");
    return l->ops->count(l, msgs, n, n_tokens, err);
}

size_t llm_context_size(PlumbLLM *l)
{
    return l && l->ops->context_size ? l->ops->context_size(l) : 0;
}

const char *llm_describe(PlumbLLM *l)
{
    return l ? l->describe : "";
}

void llm_close(PlumbLLM *l)
{
    if (l)
        l->ops->close(l);
}

int llm_render(const PlumbChatMsg *msgs, size_t n, char **out, PlumbError *err)
{
    PlumbChatParams cp = { 0 };
    cp.add_assistant = 1;
    cp.keep_reasoning = 1;
    return plumb_chat_format(msgs, n, &cp, out, err);
}
