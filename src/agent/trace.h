/*
 * trace.h — the trajectory record: one JSONL line per question, as the
 * reference's run_multi_react.py writes it, plus our "plumb" object.
 *
 *   {"question", "answer" (the expected answer, when the batch gave one),
 *    "messages": [{"role", "content"}...], "prediction", "termination",
 *    "error" (only when the model failed: "llm error"),
 *    "plumb": {"version", "backend" (llm_describe: the model's hash and file,
 *              or the server's URL), "sampler", "date", "limits", "calls",
 *              "seconds", "turns": [per call: tokens and timings, the tool],
 *              "sources": [{"url", "final_url", "sha256", "fetched_at",
 *              "from_cache"}], "unverified": [URLs in the answer no tool fetched]}}
 * An error line, for a question that could not be run at all:
 *   {"question", "answer", "rollout_idx": 1, "rollout_id": 1, "error",
 *    "messages": [], "prediction": "[Failed]"}
 *
 * Lines are UTF-8 JSON without ASCII escaping, appended whole and fsync'd
 * one by one, so a run killed at any moment leaves complete lines plus at
 * most one torn last line, which trace_open cuts off before appending.  A
 * question counts as done (trace_done_set) when it has a line without
 * "error"; --resume skips those.
 */
#ifndef PLUMB_AGENT_TRACE_H
#define PLUMB_AGENT_TRACE_H

#include <jansson.h>

#include "agent.h"

typedef struct TraceInfo {
    const char *question;   /* as the user asked it (without the files prefix) */
    json_t *gold;           /* the expected answer (any JSON value), or NULL */
    const char *backend;    /* llm_describe() */
    const LlmParams *gen;   /* the sampler settings of the run */
    const char *date;       /* the prompt's date */
    int max_calls;          /* the budgets as used */
    size_t ctx_limit;       /* tokens */
    double time_limit_s;
} TraceInfo;

/* The record of a finished run; NULL when out of memory. */
json_t *trace_record(const AgentRun *run, const TraceInfo *info, const AgentTools *tools);
/* The error line of a question that failed before it had a run. */
json_t *trace_error_record(const char *question, json_t *gold, const char *error);
/* The record as one line of text (no newline), malloc'd; NULL when out of memory. */
char *trace_dumps(const json_t *rec);

typedef struct TraceFile TraceFile;
/* Open (create) path for appending; a torn last line is cut off. */
int trace_open(TraceFile **out, const char *path, PlumbError *err);
/* Append rec as one line and fsync. */
int trace_append(TraceFile *f, const json_t *rec, PlumbError *err);
void trace_close(TraceFile *f);

/* *done: a JSON object whose keys are the questions path already holds a
 * record without "error" for.  A missing file is an empty set; lines that
 * do not parse are skipped. */
int trace_done_set(const char *path, json_t **done, PlumbError *err);

#endif
