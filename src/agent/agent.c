/*
 * agent.c — the ReAct loop (see agent.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "format.h"
#include "protocol.h"

static const char *const stop_strings[] = { "\n<tool_response>", "<tool_response>" };

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t agent_ctx_limit(const AgentParams *p)
{
    size_t n_ctx = llm_context_size(p->llm);
    if (p->ctx_limit)
        return p->ctx_limit;
    if (n_ctx >= 128 * 1024 || !n_ctx)
        return AGENT_CTX_LIMIT_LONG;
    return n_ctx > AGENT_CTX_RESERVE ? n_ctx - AGENT_CTX_RESERVE : n_ctx / 2;
}

void agent_run_free(AgentRun *run)
{
    size_t i;
    if (!run)
        return;
    for (i = 0; i < run->n_messages; i++) {
        free(run->roles[i]);
        free(run->contents[i]);
    }
    free(run->roles);
    free(run->contents);
    free(run->prediction);
    free(run->error);
    free(run->turns);
    memset(run, 0, sizeof *run);
}

/* Append a message; content is taken over (freed on failure). */
static int push_msg(AgentRun *r, const char *role, char *content)
{
    char *rl;
    if (!content)
        return PLUMB_ENOMEM;
    if (r->n_messages == r->cap_messages) {
        size_t cap = r->cap_messages ? 2 * r->cap_messages : 16;
        char **nr = realloc(r->roles, cap * sizeof *nr), **nc;
        if (!nr) {
            free(content);
            return PLUMB_ENOMEM;
        }
        r->roles = nr;
        if (!(nc = realloc(r->contents, cap * sizeof *nc))) {
            free(content);
            return PLUMB_ENOMEM;
        }
        r->contents = nc;
        r->cap_messages = cap;
    }
    if (!(rl = strdup(role))) {
        free(content);
        return PLUMB_ENOMEM;
    }
    r->roles[r->n_messages] = rl;
    r->contents[r->n_messages++] = content;
    return PLUMB_OK;
}

static AgentTurn *new_turn(AgentRun *r)
{
    if (r->n_turns == r->cap_turns) {
        size_t cap = r->cap_turns ? 2 * r->cap_turns : 16;
        AgentTurn *nt = realloc(r->turns, cap * sizeof *nt);
        if (!nt)
            return NULL;
        r->turns = nt;
        r->cap_turns = cap;
    }
    memset(&r->turns[r->n_turns], 0, sizeof r->turns[0]);
    return &r->turns[r->n_turns++];
}

/* The conversation as the llm interface takes it (pointers into r). */
static PlumbChatMsg *chat_view(const AgentRun *r)
{
    PlumbChatMsg *m = calloc(r->n_messages, sizeof *m);
    size_t i;
    if (!m)
        return NULL;
    for (i = 0; i < r->n_messages; i++) {
        m[i].role = r->roles[i];
        m[i].content = r->contents[i];
    }
    return m;
}

typedef struct Stream {
    const AgentParams *p;
} Stream;

static int on_text(void *user, const char *piece, size_t len)
{
    const Stream *st = user;
    AgentEvent ev = { 0 };
    ev.kind = AGENT_EV_TEXT;
    ev.text = piece;
    ev.len = len;
    st->p->on_event(st->p->user, &ev);
    return st->p->abort_flag && *st->p->abort_flag;
}

static int aborted(const AgentParams *p)
{
    return p->abort_flag && *p->abort_flag;
}

/* Tokens of the conversation now (with the open assistant turn). */
static int count_tokens(const AgentParams *p, const AgentRun *r, size_t *n, PlumbError *err)
{
    PlumbChatMsg *m = chat_view(r);
    int rc;
    if (!m)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    rc = llm_count(p->llm, m, r->n_messages, n, err);
    free(m);
    return rc;
}

/* One model call: on success the cleaned reply is appended as the
 * assistant's message and the turn recorded. */
static int call_model(const AgentParams *p, AgentRun *r, size_t n_calls, int32_t max_tokens,
                      int forced, PlumbError *err)
{
    LlmParams g = p->gen;
    LlmResult res = { 0 };
    Stream st = { p };
    PlumbChatMsg *m = chat_view(r);
    AgentTurn *t;
    Buf reply = { 0 };
    int rc;

    if (!m)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    g.stop = stop_strings;
    g.n_stop = sizeof stop_strings / sizeof stop_strings[0];
    g.max_tokens = max_tokens;
    g.seed = p->gen.seed + n_calls;
    g.abort_flag = p->abort_flag;
    rc = llm_generate(p->llm, m, r->n_messages, &g, p->on_event ? on_text : NULL, &st, &res, err);
    free(m);
    if (rc < 0)
        goto done;
    if (res.finish == LLM_FINISH_ABORTED && aborted(p)) {
        rc = plumb_err(err, PLUMB_EINVAL, "interrupted");
        goto done;
    }
    if (!(t = new_turn(r))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto done;
    }
    t->n_prompt = res.n_prompt;
    t->n_reused = res.n_reused;
    t->n_evaluated = res.n_evaluated;
    t->n_generated = res.n_generated;
    t->prompt_seconds = res.prompt_seconds;
    t->gen_seconds = res.gen_seconds;
    t->forced = forced;
    if ((rc = protocol_clean_reply(res.text ? res.text : "", res.text_len, &reply)) < 0 ||
        (rc = push_msg(r, "assistant", buf_steal(&reply))) < 0)
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
done:
    buf_free(&reply);
    llm_result_free(&res);
    return rc;
}

static void emit_turn(const AgentParams *p, const AgentRun *r)
{
    AgentEvent ev = { 0 };
    if (!p->on_event || !r->n_turns)
        return;
    ev.kind = AGENT_EV_TURN;
    ev.turn = &r->turns[r->n_turns - 1];
    ev.index = r->n_turns - 1;
    p->on_event(p->user, &ev);
}

/* Cut a tool's result to AGENT_MAX_TOOL_TOKENS tokens as the model counts
 * them, at a UTF-8 character boundary. */
static int cap_result(const AgentParams *p, Buf *b, PlumbError *err)
{
    int tries;
    for (tries = 0; tries < 6; tries++) {
        PlumbChatMsg m = { "user", buf_str(b), NULL, NULL };
        size_t n, keep;
        int rc;
        if ((rc = llm_count(p->llm, &m, 1, &n, err)) < 0)
            return rc;
        if (n <= AGENT_MAX_TOOL_TOKENS)
            return PLUMB_OK;
        keep = (size_t)((double)b->len * AGENT_MAX_TOOL_TOKENS / (double)n * 0.95);
        while (keep && ((unsigned char)b->p[keep] & 0xC0) == 0x80)
            keep--;
        b->len = keep;
        b->p[keep] = 0;
    }
    return PLUMB_OK;
}

/* Run the call the last reply holds, if any, and append its response. */
static int run_tool(const AgentParams *p, AgentRun *r, PlumbError *err)
{
    ToolCall call;
    AgentTurn *t = &r->turns[r->n_turns - 1];
    Buf resp = { 0 }, res = { 0 };
    char *out = NULL;
    double t0 = now_s();
    int rc;

    if ((rc = protocol_parse_call(r->contents[r->n_messages - 1], p->tools, &call, err)) < 0)
        return rc;
    if (call.kind == CALL_NONE)
        return PLUMB_OK;
    if (call.kind == CALL_ERROR) {
        snprintf(t->tool, sizeof t->tool, "error");
        rc = buf_puts(&res, call.error);
    } else {
        snprintf(t->tool, sizeof t->tool, "%s", call.name);
        if ((rc = agent_tools_call(p->tools, call.name, call.args, call.code, &out, err)) < 0)
            goto done;
        rc = buf_puts(&res, out);
    }
    if (rc < 0 || (rc = cap_result(p, &res, err)) < 0)
        goto done;
    t->tool_seconds = now_s() - t0;
    if ((rc = buf_puts(&resp, "<tool_response>\n")) < 0 ||
        (rc = buf_append(&resp, res.p ? res.p : "", res.len)) < 0 ||
        (rc = buf_puts(&resp, "\n</tool_response>")) < 0)
        goto done;
    rc = push_msg(r, "user", buf_steal(&resp));
done:
    if (rc == PLUMB_ENOMEM && !err->msg[0])
        plumb_err(err, rc, "out of memory");
    free(out);
    buf_free(&resp);
    buf_free(&res);
    protocol_call_free(&call);
    return rc;
}

static const char *forced_termination(AgentBudget b, int answered)
{
    switch (b) {
    case AGENT_BUDGET_CALLS:
        return answered ? "generate an answer as call limit reached" : "exceed available llm calls";
    case AGENT_BUDGET_TIME:
        return answered ? "generate an answer as time limit reached"
                        : "No answer found after 2h30mins";
    default:
        return answered ? "generate an answer as token limit reached"
                        : "format error: generate an answer as token limit reached";
    }
}

static int set_prediction(AgentRun *r, const char *text)
{
    free(r->prediction);
    r->prediction = strdup(text);
    return r->prediction ? PLUMB_OK : PLUMB_ENOMEM;
}

static int llm_failed(AgentRun *r, PlumbError *err)
{
    r->termination = "llm error";
    if (!(r->error = strdup(err->msg[0] ? err->msg : plumb_strerror(err->code))) ||
        set_prediction(r, "[Failed]") < 0)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    memset(err, 0, sizeof *err);
    return PLUMB_OK;
}

/* The room for a reply after n tokens of conversation, capped by the
 * params' max_tokens; 0 when none is left. */
static int32_t room_for(const AgentParams *p, size_t n)
{
    size_t n_ctx = llm_context_size(p->llm);
    int32_t want = p->gen.max_tokens > 0 ? p->gen.max_tokens : 10000;
    if (!n_ctx)
        return want;
    if (n >= n_ctx)
        return 0;
    return n_ctx - n < (size_t)want ? (int32_t)(n_ctx - n) : want;
}

/* Replace the last message (a tool response) with the forced-answer
 * request, or append it, and make the last call. */
static int force_answer(const AgentParams *p, AgentRun *r, AgentBudget why, size_t n_calls,
                        PlumbError *err)
{
    AgentEvent ev = { 0 };
    size_t last = r->n_messages - 1, n;
    char *answer = NULL;
    int32_t room;
    int rc;

    if (p->on_event) {
        ev.kind = AGENT_EV_FORCED;
        ev.budget = why;
        p->on_event(p->user, &ev);
    }
    if (last >= 2 && !strcmp(r->roles[last], "user") &&
        !strncmp(r->contents[last], "<tool_response>", 15)) {
        char *s = strdup(PROTOCOL_FORCED_ANSWER);
        if (!s)
            return plumb_err(err, PLUMB_ENOMEM, "out of memory");
        free(r->contents[last]);
        r->contents[last] = s;
    } else if ((rc = push_msg(r, "user", strdup(PROTOCOL_FORCED_ANSWER))) < 0) {
        return plumb_err(err, rc, "out of memory");
    }
    if ((rc = count_tokens(p, r, &n, err)) < 0)
        return llm_failed(r, err);
    room = room_for(p, n);
    rc = room > 0 ? call_model(p, r, n_calls, room, 1, err)
                  : plumb_err(err, PLUMB_ERANGE, "no room left in the context");
    if (rc == PLUMB_ERANGE) {
        memset(err, 0, sizeof *err);
        r->termination = "answer not found";
        return set_prediction(r, "No answer found.") < 0
                   ? plumb_err(err, PLUMB_ENOMEM, "out of memory")
                   : PLUMB_OK;
    }
    if (rc < 0)
        return aborted(p) || rc == PLUMB_ENOMEM ? rc : llm_failed(r, err);
    if ((rc = protocol_answer(r->contents[r->n_messages - 1], &answer)) < 0)
        return plumb_err(err, rc, "out of memory");
    r->answered = rc;
    r->turns[r->n_turns - 1].answered = rc;
    r->termination = forced_termination(why, r->answered);
    if (r->answered) {
        free(r->prediction);
        r->prediction = answer;
    } else {
        rc = set_prediction(r, why == AGENT_BUDGET_TOKENS ? r->contents[r->n_messages - 1]
                               : why == AGENT_BUDGET_TIME ? "No answer found after 2h30mins"
                                                          : "No answer found.");
        if (rc < 0)
            return plumb_err(err, rc, "out of memory");
    }
    emit_turn(p, r);
    return PLUMB_OK;
}

int agent_run(const AgentParams *p, const char *question, AgentRun *run, PlumbError *err)
{
    Buf b = { 0 };
    size_t n_calls = 0, max_calls, ctx_limit;
    double t0 = now_s(), time_limit;
    int rc;

    memset(run, 0, sizeof *run);
    if (!p->llm || !p->tools || !p->date || !question)
        return plumb_err(err, PLUMB_EINVAL, "agent_run: missing model, tools, date or question");
    max_calls = p->max_calls > 0 ? (size_t)p->max_calls : AGENT_DEFAULT_CALLS;
    time_limit = p->time_limit_s > 0 ? p->time_limit_s : AGENT_DEFAULT_TIME_S;
    ctx_limit = agent_ctx_limit(p);
    run->first_source = p->tools->n_sources;

    rc = p->system_prompt ? buf_puts(&b, p->system_prompt)
                          : protocol_system_prompt(p->tools, p->date, &b);
    if (rc < 0 || (rc = push_msg(run, "system", buf_steal(&b))) < 0 ||
        (rc = protocol_question(question, p->files, p->n_files, &b)) < 0 ||
        (rc = push_msg(run, "user", buf_steal(&b))) < 0) {
        buf_free(&b);
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    }

    for (;;) {
        AgentBudget why = AGENT_BUDGET_NONE;
        size_t n;
        int32_t room;
        char *answer = NULL;

        if (aborted(p)) {
            rc = plumb_err(err, PLUMB_EINVAL, "interrupted");
            break;
        }
        if ((rc = count_tokens(p, run, &n, err)) < 0) {
            rc = llm_failed(run, err);
            break;
        }
        room = room_for(p, n);
        if (n > ctx_limit || room <= 0)
            why = AGENT_BUDGET_TOKENS;
        else if (n_calls >= max_calls)
            why = AGENT_BUDGET_CALLS;
        else if (now_s() - t0 >= time_limit)
            why = AGENT_BUDGET_TIME;
        if (why == AGENT_BUDGET_NONE) {
            rc = call_model(p, run, n_calls, room, 0, err);
            n_calls++;
            if (rc == PLUMB_ERANGE) {
                memset(err, 0, sizeof *err);
                why = AGENT_BUDGET_TOKENS;
            } else if (rc < 0) {
                if (!aborted(p) && rc != PLUMB_ENOMEM)
                    rc = llm_failed(run, err);
                break;
            }
        }
        if (why != AGENT_BUDGET_NONE) {
            rc = force_answer(p, run, why, n_calls, err);
            break;
        }
        if ((rc = run_tool(p, run, err)) < 0)
            break;
        /* the reply is the last assistant message (a tool response may follow) */
        rc = protocol_answer(run->contents[run->n_messages - 1 -
                                           (strcmp(run->roles[run->n_messages - 1], "user") ? 0 : 1)],
                             &answer);
        if (rc < 0) {
            rc = plumb_err(err, rc, "out of memory");
            break;
        }
        run->turns[run->n_turns - 1].answered = rc;
        emit_turn(p, run);
        if (rc == 1) {
            free(run->prediction);
            run->prediction = answer;
            run->answered = 1;
            run->termination = "answer";
            rc = PLUMB_OK;
            break;
        }
    }
    run->seconds = now_s() - t0;
    if (rc < 0 && !err->msg[0])
        plumb_err(err, rc, "%s", rc == PLUMB_ENOMEM ? "out of memory" : plumb_strerror(rc));
    return rc < 0 ? rc : PLUMB_OK;
}
