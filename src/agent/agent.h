/*
 * agent.h — the ReAct loop of the Tongyi DeepResearch agent.
 *
 * One question at a time: messages start as [system, user question]; each
 * turn calls the model (llm.h), keeps its reply (cut at <tool_response>,
 * stripped) as an assistant message, runs the first tool call of the reply
 * (tools.h) and appends its result as a user message
 * "<tool_response>\n{result}\n</tool_response>", and stops at a reply with
 * <answer>...</answer> (when the reply also holds a call, the call runs
 * first, as in the reference).  A reply with neither is kept and the model
 * called again.
 *
 * Budgets, checked before every call: the context (the conversation's
 * tokens over ctx_limit, or the backend's PLUMB_ERANGE), the number of
 * calls, the wall clock.  Whichever runs out first, the answer is forced:
 * the last message, when it is a tool response, is replaced (otherwise a
 * message is appended) by PROTOCOL_FORCED_ANSWER as a user message, and one
 * more call is made.  So a question takes at most max_calls + 1 calls.
 *
 * Terminations (AgentRun.termination), as the reference names them plus
 * ours:
 *   "answer"                                         the model answered
 *   "generate an answer as token limit reached"      forced, and answered
 *   "format error: generate an answer as token limit reached"  forced, the
 *                                   reply had no <answer> (prediction: the reply)
 *   "generate an answer as call limit reached"       forced, and answered
 *   "exceed available llm calls"                     forced, no <answer>
 *   "generate an answer as time limit reached"       forced, and answered
 *   "No answer found after 2h30mins"                 forced, no <answer>
 *   "answer not found"                               even the forced call
 *                                   did not fit the context
 *   "llm error"                     the backend failed (AgentRun.error says why)
 *
 * Each tool response is capped at AGENT_MAX_TOOL_TOKENS tokens; max_tokens
 * of a call is min(params, room left in the context).  Sampling: the
 * params' sampler, the seed advanced by one per call (so a fixed seed gives
 * a reproducible run whose calls do not repeat each other's draws).
 *
 * Ownership: the AgentParams' llm and tools are borrowed; an AgentRun owns
 * all its strings.  One run at a time per AgentParams' llm.
 */
#ifndef PLUMB_AGENT_AGENT_H
#define PLUMB_AGENT_AGENT_H

#include <stddef.h>

#include "llm.h"
#include "tools.h"

#define AGENT_MAX_TOOL_TOKENS 8192  /* of one tool response */
#define AGENT_DEFAULT_CALLS 100
#define AGENT_DEFAULT_TIME_S 9000.0 /* 150 minutes */
#define AGENT_CTX_LIMIT_LONG (110 * 1024) /* tokens, when the context holds >= 128K */
#define AGENT_CTX_RESERVE 8192      /* else ctx_limit = n_ctx - this */

typedef enum AgentBudget {
    AGENT_BUDGET_NONE = 0,
    AGENT_BUDGET_TOKENS = 1,
    AGENT_BUDGET_CALLS = 2,
    AGENT_BUDGET_TIME = 3,
} AgentBudget;

typedef enum AgentEventKind {
    AGENT_EV_TEXT = 0,   /* a piece of the reply as it streams (text, len) */
    AGENT_EV_TURN = 1,   /* a model call ended: turn (its AgentTurn) */
    AGENT_EV_FORCED = 2, /* the answer is being forced: budget */
} AgentEventKind;

/* One model call and the tool call it made. */
typedef struct AgentTurn {
    size_t n_prompt;       /* tokens of the conversation sent */
    size_t n_reused;       /* of them, kept from the previous call */
    size_t n_evaluated;    /* of them, evaluated by this call */
    size_t n_generated;    /* tokens generated */
    double prompt_seconds; /* wall time of the prompt, s */
    double gen_seconds;    /* wall time of the generation, s */
    char tool[32];         /* the tool called ("" none; "error" for a call that
                              could not run) */
    double tool_seconds;   /* wall time of the tool, s */
    int forced;            /* 1: the forced-answer call */
    int answered;          /* 1: the reply held <answer> */
} AgentTurn;

typedef struct AgentEvent {
    AgentEventKind kind;
    const char *text;      /* AGENT_EV_TEXT: [len] bytes */
    size_t len;
    const AgentTurn *turn; /* AGENT_EV_TURN */
    size_t index;          /* AGENT_EV_TURN: 0-based number of the call */
    AgentBudget budget;    /* AGENT_EV_FORCED */
} AgentEvent;

typedef struct AgentParams {
    PlumbLLM *llm;              /* the model (borrowed) */
    AgentTools *tools;          /* the tools (borrowed); its enabled list
                                   decides the <tools> block */
    const char *date;           /* "YYYY-MM-DD", the prompt's date (required) */
    const char *system_prompt;  /* the whole system message instead of ours, or NULL */
    int max_calls;              /* model calls before the forced answer; 0 = 100 */
    size_t ctx_limit;           /* tokens; 0 = 110K when the context holds
                                   128K, else n_ctx - 8192, else 110K */
    double time_limit_s;        /* wall clock, s; 0 = 9000 */
    LlmParams gen;              /* sampler and max_tokens (stop strings are the
                                   protocol's, set here); from llm_params_default */
    const char *const *files;   /* [n_files] names of uploaded files, for the question */
    size_t n_files;
    void (*on_event)(void *user, const AgentEvent *ev); /* or NULL */
    void *user;
    const volatile int *abort_flag; /* non-zero ends the run (PLUMB_EINVAL, "interrupted") */
} AgentParams;

typedef struct AgentRun {
    char **roles;            /* [n_messages] "system", "user", "assistant" */
    char **contents;         /* [n_messages] */
    size_t n_messages, cap_messages;
    char *prediction;        /* the answer, or the reference's text for none */
    const char *termination; /* one of the strings above (static) */
    int answered;            /* 1: an <answer> was given (forced or not) */
    char *error;             /* "llm error": the backend's message, else NULL */
    AgentTurn *turns;        /* [n_turns] one per model call */
    size_t n_turns, cap_turns;
    size_t first_source;     /* the tools' sources from this index on are this run's */
    double seconds;          /* wall time of the run */
} AgentRun;

/* Answer one question.  PLUMB_OK with run->termination set, "llm error"
 * included; a negative code only for what ends the program: out of memory,
 * a tool's fatal error, an abort (PLUMB_EINVAL, "interrupted").  run is
 * filled either way and must be freed. */
int agent_run(const AgentParams *p, const char *question, AgentRun *run, PlumbError *err);
void agent_run_free(AgentRun *run);

/* The context limit agent_run uses with these params. */
size_t agent_ctx_limit(const AgentParams *p);

#endif
