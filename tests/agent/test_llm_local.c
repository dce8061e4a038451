/*
 * test_llm_local.c — the embedded backend on the small random-weight test
 * model: over 12 turns of a growing conversation each call evaluates only
 * the new messages (at most 16 tokens more than they hold, beyond the
 * reply it generated), the forced-answer step (the last message replaced)
 * re-evaluates at most the replaced message + 16, a repeated call gives the
 * same reply (the presence penalty sees only the call's own tokens), the
 * context error is PLUMB_ERANGE, and llm_describe names the fingerprint.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../testlib.h"
#include "llm.h"
#include "protocol.h"

#define TURNS 12
#define SLACK 16

static size_t count(PlumbLLM *l, const PlumbChatMsg *m, size_t n)
{
    PlumbError err = { 0 };
    size_t c = 0;
    CHECK(llm_count(l, m, n, &c, &err) == PLUMB_OK, "count: %s", err.msg);
    return c;
}

int main(void)
{
    PlumbModel *model = NULL;
    PlumbModelParams mp = { 0 };
    PlumbLLM *l = NULL;
    LlmLocalParams lp = { 0 };
    LlmParams gp;
    PlumbError err = { 0 };
    PlumbChatMsg msgs[2 + 2 * TURNS + 2];
    char *owned[2 * TURNS + 2] = { 0 };
    size_t n = 0, n_owned = 0, prev_count = 0, prev_gen = 0, i;
    const char *path = test_data("models/small-Q4_K_M.gguf");
    static const char *const stop[] = { "\n<tool_response>", "<tool_response>" };

    mp.n_threads = 1;
    if (plumb_model_open(&model, path, &mp, &err) < 0) {
        fprintf(stderr, "%s: %s\n", path, err.msg);
        return 1;
    }
    lp.model_path = path;
    lp.n_ctx = 8192;
    CHECK(llm_open_local(&l, model, &lp, &err) == PLUMB_OK, "open: %s", err.msg);
    CHECK(!strncmp(llm_describe(l), "model sha256:", 13) && strlen(llm_describe(l)) > 13 + 64 &&
              strstr(llm_describe(l), "small-Q4_K_M.gguf"),
          "describe: %s", llm_describe(l));
    CHECK(llm_context_size(l) == 8192, "context %zu", llm_context_size(l));

    llm_params_default(&gp);
    gp.temperature = 0.6f;
    gp.max_tokens = 8;
    gp.stop = stop;
    gp.n_stop = 2;
    gp.has_seed = 1;
    memset(msgs, 0, sizeof msgs);
    msgs[n].role = "system";
    msgs[n++].content = "You are a careful assistant. Answer inside <answer></answer>.";
    msgs[n].role = "user";
    msgs[n++].content = "Which river flows through Paris?";

    for (i = 0; i < TURNS; i++) {
        LlmResult res;
        size_t c = count(l, msgs, n), new_tokens;
        Buf reply = { 0 }, obs = { 0 };
        gp.seed = i;
        CHECK(llm_generate(l, msgs, n, &gp, NULL, NULL, &res, &err) == PLUMB_OK, "turn %zu: %s",
              i, err.msg);
        CHECK(res.n_prompt == c, "turn %zu: n_prompt %zu, counted %zu", i, res.n_prompt, c);
        CHECK(res.n_generated <= 8, "turn %zu: %zu generated", i, res.n_generated);
        new_tokens = i ? c - prev_count - prev_gen : c;
        CHECK(res.n_evaluated <= new_tokens + SLACK,
              "turn %zu: evaluated %zu of %zu, new %zu", i, res.n_evaluated, res.n_prompt,
              new_tokens);
        CHECK(res.n_reused + res.n_evaluated == res.n_prompt, "turn %zu: reused %zu", i,
              res.n_reused);
        if (i)
            CHECK(res.n_reused + SLACK >= prev_count, "turn %zu: reused %zu of the %zu before",
                  i, res.n_reused, prev_count);
        prev_count = c;
        prev_gen = res.n_generated;
        protocol_clean_reply(res.text, res.text_len, &reply);
        llm_result_free(&res);
        buf_printf(&obs, "<tool_response>\nresult %zu: the Seine flows through Paris.\n"
                         "</tool_response>", i);
        owned[n_owned] = buf_steal(&reply);
        msgs[n].role = "assistant";
        msgs[n++].content = owned[n_owned++];
        owned[n_owned] = buf_steal(&obs);
        msgs[n].role = "user";
        msgs[n++].content = owned[n_owned++];
    }

    /* the forced answer as the loop makes it: the tool response appended
     * after the last call is replaced; the call evaluates what a regular
     * turn would (the last reply as rendered, then the message) */
    {
        LlmResult res;
        size_t c;
        msgs[n - 1].content = PROTOCOL_FORCED_ANSWER;
        c = count(l, msgs, n);
        CHECK(llm_generate(l, msgs, n, &gp, NULL, NULL, &res, &err) == PLUMB_OK, "forced: %s",
              err.msg);
        CHECK(res.n_evaluated <= c - prev_count - prev_gen + SLACK,
              "forced: evaluated %zu, new %zu", res.n_evaluated, c - prev_count - prev_gen);
        llm_result_free(&res);
    }
    /* replacing a message the session has evaluated costs that message
     * (+ the slack), never the conversation before it */
    {
        LlmResult res, again;
        size_t before, c;
        n -= 2; /* back to the last call's conversation, which ends with a tool response */
        before = count(l, msgs, n - 1);
        msgs[n - 1].content = PROTOCOL_FORCED_ANSWER;
        c = count(l, msgs, n);
        CHECK(llm_generate(l, msgs, n, &gp, NULL, NULL, &res, &err) == PLUMB_OK, "forced: %s",
              err.msg);
        CHECK(res.n_evaluated <= c - before + SLACK && res.n_reused + 2 * SLACK >= before,
              "replaced: evaluated %zu, message %zu, reused %zu of %zu", res.n_evaluated,
              c - before, res.n_reused, before);
        /* the same call again: the same reply, the penalty starting afresh */
        gp.presence_penalty = 2.0f;
        llm_result_free(&res);
        CHECK(llm_generate(l, msgs, n, &gp, NULL, NULL, &res, &err) == PLUMB_OK, "%s", err.msg);
        CHECK(llm_generate(l, msgs, n, &gp, NULL, NULL, &again, &err) == PLUMB_OK, "%s", err.msg);
        CHECK(res.n_generated == again.n_generated && !strcmp(res.text, again.text),
              "a repeated call differs: [%s] / [%s]", res.text, again.text);
        CHECK(again.n_evaluated <= SLACK, "repeat: evaluated %zu", again.n_evaluated);
        llm_result_free(&res);
        llm_result_free(&again);
    }

    /* a conversation longer than the context */
    {
        LlmResult res;
        char *big = malloc(200000);
        PlumbChatMsg m2[2] = { { "system", "s", NULL, NULL }, { "user", NULL, NULL, NULL } };
        memset(big, 'x', 199999);
        for (i = 0; i < 199999; i += 7)
            big[i] = ' ';
        big[199999] = 0;
        m2[1].content = big;
        CHECK(llm_generate(l, m2, 2, &gp, NULL, NULL, &res, &err) == PLUMB_ERANGE,
              "too long: %d %s", err.code, err.msg);
        free(big);
    }

    for (i = 0; i < n_owned; i++)
        free(owned[i]);
    llm_close(l);
    plumb_model_close(model);
    return test_done("test_llm_local");
}
