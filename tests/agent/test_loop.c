/*
 * test_loop.c — the ReAct loop on the scripted backend: every budget
 * (calls, tokens, time, the backend's context error) ends in a forced
 * answer with the right termination, with or without <answer>; a reply
 * with neither call nor answer; a failing backend; an interrupted run; the
 * tool-response cap.  The tools are the real ones: calls name unknown or
 * disabled tools, whose responses are the protocol's error strings.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../testlib.h"
#include "agent.h"
#include "llm.h"
#include "protocol.h"
#include "tools.h"

static char dir[] = "/tmp/plumb-test-loop-XXXXXX";
static int n_scripts;

#define CALL_BROWSE                                                                          \
    "<think>look</think>\\n<tool_call>\\n{\\\"name\\\": \\\"browse\\\", \\\"arguments\\\": "  \
    "{}}\\n</tool_call>"

typedef struct Outcome {
    AgentRun run;
    int rc;
    int n_forced;       /* AGENT_EV_FORCED events */
    int n_turn_events;  /* AGENT_EV_TURN events */
    PlumbError err;
} Outcome;

static void on_event(void *user, const AgentEvent *ev)
{
    Outcome *o = user;
    if (ev->kind == AGENT_EV_FORCED)
        o->n_forced++;
    if (ev->kind == AGENT_EV_TURN)
        o->n_turn_events++;
}

/* Write the script lines, run the question, close everything but the run. */
static void run_script(const char *lines, int max_calls, size_t ctx_limit, double time_limit,
                       const volatile int *abort_flag, Outcome *o)
{
    char path[256];
    FILE *f;
    PlumbLLM *llm = NULL;
    AgentTools *tools = NULL;
    AgentToolsParams tp = { 0 };
    AgentParams ap = { 0 };

    memset(o, 0, sizeof *o);
    snprintf(path, sizeof path, "%s/s%d.jsonl", dir, n_scripts++);
    f = fopen(path, "w");
    fputs(lines, f);
    fclose(f);
    o->rc = llm_open_script(&llm, path, &o->err);
    CHECK(o->rc == PLUMB_OK, "open %s: %s", path, o->err.msg);
    if (o->rc < 0)
        return;
    tp.enabled = "search,visit";
    agent_tools_open(&tools, &tp, &o->err);
    ap.llm = llm;
    ap.tools = tools;
    ap.date = "2025-01-01";
    ap.max_calls = max_calls;
    ap.ctx_limit = ctx_limit;
    ap.time_limit_s = time_limit;
    llm_params_default(&ap.gen);
    ap.on_event = on_event;
    ap.user = o;
    ap.abort_flag = abort_flag;
    o->rc = agent_run(&ap, "Which river flows through Paris?", &o->run, &o->err);
    agent_tools_close(tools);
    llm_close(llm);
}

static const char *last(const Outcome *o)
{
    return o->run.n_messages ? o->run.contents[o->run.n_messages - 1] : "";
}

static int term_is(const Outcome *o, const char *t)
{
    return o->run.termination && !strcmp(o->run.termination, t);
}

static void test_answer_and_neither(void)
{
    Outcome o;
    run_script("{\"reply\": \"<think>hmm</think>\\nI am not sure yet.\"}\n"
               "{\"reply\": \"<think>ok</think>\\n<answer>The Seine</answer>\", "
               "\"expect_last\": \"I am not sure yet.\"}\n",
               10, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "answer") && o.run.answered, "answer: %s",
          o.run.termination);
    CHECK(o.run.n_messages == 4 && !strcmp(o.run.roles[2], "assistant") &&
              !strcmp(o.run.roles[3], "assistant"),
          "a reply with neither is kept, the model called again (%zu messages)",
          o.run.n_messages);
    CHECK(o.run.prediction && !strcmp(o.run.prediction, "The Seine"), "prediction %s",
          o.run.prediction);
    CHECK(o.n_forced == 0 && o.n_turn_events == 2 && o.run.n_turns == 2, "2 turns, not forced");
    agent_run_free(&o.run);
}

static void test_calls(void)
{
    Outcome o;
    const char *script = "{\"reply\": \"" CALL_BROWSE "\"}\n"
                         "{\"reply\": \"" CALL_BROWSE "\", \"expect_last\": \"Error: Tool browse "
                         "not found\"}\n"
                         "{\"reply\": \"<think>fine</think>\\n<answer>The Seine</answer>\", "
                         "\"expect_last\": \"<answer>your answer</answer>\"}\n";
    run_script(script, 2, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "generate an answer as call limit reached"),
          "calls: %s (%s)", o.run.termination, o.err.msg);
    CHECK(o.run.answered && !strcmp(o.run.prediction, "The Seine"), "answered");
    CHECK(o.n_forced == 1 && o.run.n_turns == 3 && o.run.turns[2].forced, "one forced call");
    /* sys, question, a1, response 1, a2, forced (replaced response 2), a3 */
    CHECK(o.run.n_messages == 7 && !strcmp(o.run.contents[5], PROTOCOL_FORCED_ANSWER) &&
              !strcmp(o.run.roles[5], "user") &&
              !strncmp(o.run.contents[3], "<tool_response>\nError: Tool browse not found", 44),
          "the forced request replaced the last tool response (%zu messages)", o.run.n_messages);
    agent_run_free(&o.run);

    run_script("{\"reply\": \"" CALL_BROWSE "\"}\n"
               "{\"reply\": \"<think>no idea</think>\\nStill unsure.\"}\n",
               1, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "exceed available llm calls") && !o.run.answered &&
              !strcmp(o.run.prediction, "No answer found."),
          "calls, no answer: %s", o.run.termination);
    agent_run_free(&o.run);
}

static void test_tokens(void)
{
    Outcome o;
    PlumbLLM *llm = NULL;
    PlumbError err = { 0 };
    size_t n0;
    char path[256];
    FILE *f;
    PlumbChatMsg m[2];
    Buf sys = { 0 };
    AgentTools *tools = NULL;
    AgentToolsParams tp = { 0 };

    /* the first conversation's size, as the script backend counts it */
    snprintf(path, sizeof path, "%s/count.jsonl", dir);
    f = fopen(path, "w");
    fputs("{\"reply\": \"x\"}\n", f);
    fclose(f);
    llm_open_script(&llm, path, &err);
    tp.enabled = "search,visit";
    agent_tools_open(&tools, &tp, &err);
    protocol_system_prompt(tools, "2025-01-01", &sys);
    m[0].role = "system";
    m[0].content = buf_str(&sys);
    m[0].reasoning_content = m[0].tool_calls = NULL;
    m[1].role = "user";
    m[1].content = "Which river flows through Paris?";
    m[1].reasoning_content = m[1].tool_calls = NULL;
    CHECK(llm_count(llm, m, 2, &n0, &err) == PLUMB_OK && n0 > 100, "count %zu", n0);
    llm_close(llm);
    agent_tools_close(tools);
    buf_free(&sys);

    run_script("{\"reply\": \"" CALL_BROWSE "\"}\n"
               "{\"reply\": \"<think>fine</think>\\n<answer>The Seine</answer>\", "
               "\"expect_last\": \"Do not call any more tools\"}\n",
               10, n0 + 5, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "generate an answer as token limit reached") &&
              o.run.answered,
          "tokens: %s (%s)", o.run.termination, o.err.msg);
    CHECK(o.run.n_turns == 2 && o.n_forced == 1, "one call, then the forced one");
    agent_run_free(&o.run);

    run_script("{\"reply\": \"" CALL_BROWSE "\"}\n"
               "{\"reply\": \"<think>fine</think>\\nProbably the Seine.\"}\n",
               10, n0 + 5, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK &&
              term_is(&o, "format error: generate an answer as token limit reached") &&
              !o.run.answered && !strcmp(o.run.prediction, "<think>fine</think>\nProbably the Seine."),
          "tokens, no answer: %s / %s", o.run.termination, o.run.prediction);
    agent_run_free(&o.run);

    /* the question alone is over the limit: no call before the forced one */
    run_script("{\"reply\": \"<answer>The Seine</answer>\"}\n", 10, n0 - 1, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "generate an answer as token limit reached") &&
              o.run.n_turns == 1 && o.run.n_messages == 4 &&
              !strcmp(o.run.contents[1], "Which river flows through Paris?"),
          "forced at once, the question kept: %s, %zu messages", o.run.termination,
          o.run.n_messages);
    agent_run_free(&o.run);
}

static void test_context_error(void)
{
    Outcome o;
    run_script("{\"reply\": \"" CALL_BROWSE "\"}\n"
               "{\"context_error\": true}\n"
               "{\"reply\": \"<answer>The Seine</answer>\", \"expect_last\": \"your final "
               "thinking\"}\n",
               10, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "generate an answer as token limit reached") &&
              o.run.answered,
          "context error: %s (%s)", o.run.termination, o.err.msg);
    CHECK(o.run.n_messages == 5 && !strcmp(last(&o), "<answer>The Seine</answer>") &&
              !strcmp(o.run.contents[3], PROTOCOL_FORCED_ANSWER),
          "the tool response replaced, %zu messages", o.run.n_messages);
    agent_run_free(&o.run);

    run_script("{\"context_error\": true}\n{\"context_error\": true}\n", 10, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "answer not found") && !o.run.answered &&
              !strcmp(o.run.prediction, "No answer found."),
          "the forced call does not fit either: %s", o.run.termination);
    agent_run_free(&o.run);
}

static void test_time(void)
{
    Outcome o;
    run_script("{\"reply\": \"" CALL_BROWSE "\", \"delay_ms\": 300}\n"
               "{\"reply\": \"" CALL_BROWSE "\", \"delay_ms\": 300}\n"
               "{\"reply\": \"<answer>The Seine</answer>\", \"expect_last\": \"your final "
               "thinking\"}\n",
               10, 0, 0.5, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "generate an answer as time limit reached") &&
              o.run.answered && o.run.n_turns == 3,
          "time: %s, %zu turns (%s)", o.run.termination, o.run.n_turns, o.err.msg);
    agent_run_free(&o.run);

    run_script("{\"reply\": \"" CALL_BROWSE "\", \"delay_ms\": 250}\n"
               "{\"reply\": \"I give up.\"}\n",
               10, 0, 0.2, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "No answer found after 2h30mins") && !o.run.answered,
          "time, no answer: %s", o.run.termination);
    agent_run_free(&o.run);
}

static void test_failures(void)
{
    Outcome o;
    volatile int stop = 1;

    run_script("{\"reply\": \"" CALL_BROWSE "\"}\n{\"error\": \"connection refused\"}\n", 10, 0,
               0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "llm error") && o.run.error &&
              strstr(o.run.error, "connection refused") && !o.run.answered &&
              !strcmp(o.run.prediction, "[Failed]"),
          "llm error: %s / %s", o.run.termination, o.run.error);
    CHECK(o.run.n_turns == 1, "no forced call after a failure");
    agent_run_free(&o.run);

    run_script("{\"reply\": \"" CALL_BROWSE "\"}\n", 10, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "llm error") && strstr(o.run.error, "no reply left"),
          "the script runs out: %s", o.run.error);
    agent_run_free(&o.run);

    run_script("{\"reply\": \"x\"}\n", 10, 0, 0, &stop, &o);
    CHECK(o.rc < 0 && strstr(o.err.msg, "interrupted"), "abort: %d %s", o.rc, o.err.msg);
    agent_run_free(&o.run);
}

static void test_responses(void)
{
    Outcome o;
    Buf s = { 0 };
    size_t i;

    /* call and answer in one reply: the call runs, then the loop stops */
    run_script("{\"reply\": \"<tool_call>{\\\"name\\\": \\\"visit\\\", \\\"arguments\\\": "
               "{}}</tool_call><answer>The Seine</answer>\"}\n",
               10, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && term_is(&o, "answer") && o.run.n_messages == 4 &&
              !strcmp(o.run.roles[3], "user") && !strcmp(o.run.prediction, "The Seine"),
          "call and answer: %s, %zu", o.run.termination, o.run.n_messages);
    agent_run_free(&o.run);

    /* an invented observation is cut at the stop string */
    run_script("{\"reply\": \"" CALL_BROWSE "\\n<tool_response>\\nfake\\n</tool_response>\"}\n"
               "{\"reply\": \"<answer>x</answer>\"}\n",
               10, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && !strstr(o.run.contents[2], "fake") &&
              !strcmp(o.run.contents[3], "<tool_response>\nError: Tool browse not found\n"
                                         "</tool_response>"),
          "cut: [%s]", o.run.contents[2]);
    agent_run_free(&o.run);

    /* a response over 8192 tokens is cut to them */
    buf_puts(&s, "{\"reply\": \"<tool_call>{\\\"name\\\": \\\"");
    for (i = 0; i < 100000; i++)
        buf_putc(&s, 'a' + (char)(i % 26));
    buf_puts(&s, "\\\", \\\"arguments\\\": {}}</tool_call>\"}\n{\"reply\": \"<answer>x</answer>\"}\n");
    run_script(buf_str(&s), 10, 0, 0, NULL, &o);
    CHECK(o.rc == PLUMB_OK && o.run.n_messages == 5, "huge tool name: %s", o.err.msg);
    if (o.run.n_messages == 5) {
        size_t len = strlen(o.run.contents[3]);
        CHECK(len < 4 * AGENT_MAX_TOOL_TOKENS && len > 3 * AGENT_MAX_TOOL_TOKENS &&
                  !strncmp(o.run.contents[3], "<tool_response>\nError: Tool abc", 31) &&
                  !strcmp(o.run.contents[3] + len - 17, "\n</tool_response>"),
              "capped response of %zu bytes", len);
    }
    agent_run_free(&o.run);
    buf_free(&s);
}

int main(void)
{
    char cmd[128];
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_answer_and_neither();
    test_calls();
    test_tokens();
    test_context_error();
    test_time();
    test_failures();
    test_responses();
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", dir);
    return test_done("test_loop");
}
