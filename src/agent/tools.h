/*
 * tools.h — the seam between the ReAct loop and the tools.
 *
 * An AgentTools holds the tools' configuration and the state they share (the
 * HTTP client, the page cache, the local index, the list of pages fetched in
 * this run).  Each piece of state is opened on first use by the module that
 * owns it and closed by agent_tools_close.
 *
 * agent_tools_call runs one tool by name and gives exactly the text the
 * model sees inside <tool_response>.  A tool that fails (a page that cannot
 * be fetched, a query with no results, bad arguments) returns the
 * reference's text for that failure as its result, with PLUMB_OK; a
 * diagnostic for the user (a 403 from SearXNG, a missing bwrap) goes through
 * agent_tools_warn.  A negative return is reserved for what ends the run:
 * out of memory, an abort, a broken cache database.
 *
 * The tools' texts (tools.c has the table): search, visit,
 * PythonInterpreter, google_scholar, parse_file.
 */
#ifndef PLUMB_AGENT_TOOLS_H
#define PLUMB_AGENT_TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "llm.h"

typedef struct HttpClient HttpClient;
typedef struct Cache Cache;
typedef struct Index Index;

typedef enum CacheMode { CACHE_RW = 0, CACHE_RO = 1, CACHE_OFF = 2 } CacheMode;
typedef enum PythonMode { PYTHON_BWRAP = 0, PYTHON_OFF = 1 } PythonMode;

/* All zero is a valid default (no search backend, default budgets). */
typedef struct AgentToolsParams {
    /* search */
    const char *searxng;        /* SearXNG base URL, or NULL */
    const char *index_db;       /* local index (plumb index build), or NULL; searched first */
    /* fetching */
    const char *cache_db;       /* page cache path; NULL = no cache */
    CacheMode cache_mode;       /* rw, ro (replay: no network for pages or searches), off */
    int offline;                /* no tool opens a network connection */
    int allow_private;          /* lift the address guard (tests, intranets) */
    int no_robots;              /* ignore robots.txt */
    const char *ca_file;        /* extra CA certificates (PEM) */
    const char *proxy;          /* proxy URL, or NULL */
    const char *user_agent;     /* NULL = "plumb/VERSION (+research agent)" */
    double host_delay_s;        /* between requests to one host; 0 = 1 s; < 0 = none */
    /* visit */
    PlumbLLM *extractor;        /* model for visit's extraction (borrowed), NULL = none */
    int32_t visit_budget;       /* tokens of page text given to the extractor; 0 = 6144 */
    /* files */
    const char *files_dir;      /* parse_file and file:// visits read under here */
    /* python */
    PythonMode python;
    const char *bwrap;          /* path of bwrap, NULL = from PATH */
    double python_timeout_s;    /* 0 = 50 */
    /* the tools the model may call, comma-separated; NULL = all five */
    const char *enabled;
    /* where warnings go (NULL = stderr); each line ends with '\n' */
    void (*on_warning)(void *user, const char *line);
    void *user;
    const volatile int *abort_flag;
} AgentToolsParams;

typedef struct AgentSource {
    char *url;            /* the URL the model asked for (after redirects: final_url) */
    char *final_url;
    char sha256[65];      /* of the bytes fetched (decoded body) */
    char fetched_at[32];  /* ISO 8601 UTC, "2026-12-04T14:30:22Z" */
    int from_cache;       /* served by the page cache */
} AgentSource;

typedef struct AgentTools {
    AgentToolsParams p;   /* strings borrowed: the caller keeps them alive */
    HttpClient *http;     /* http.c: opened by agent_tools_http() */
    Cache *cache;         /* cache.c: opened by agent_tools_cache() */
    Index *index;         /* index.c: opened by agent_tools_index() */
    AgentSource *sources; /* [n_sources] pages fetched or read this run, in order */
    size_t n_sources, cap_sources;
    size_t n_connections; /* network connections opened by tools (checked offline) */
} AgentTools;

int agent_tools_open(AgentTools **out, const AgentToolsParams *p, PlumbError *err);
void agent_tools_close(AgentTools *t);

/* Is the tool enabled and known? */
int agent_tools_has(const AgentTools *t, const char *name);
/* The <tools> lines of the system prompt for the enabled tools, in the
 * reference's order, one JSON signature per line. */
int agent_tools_signatures(const AgentTools *t, Buf *out);

/* Run a tool.  args: the parsed "arguments" object (may be any JSON value:
 * each tool checks it).  code: PythonInterpreter's <code> text or NULL.
 * *out gets the malloc'd result text. */
int agent_tools_call(AgentTools *t, const char *name, json_t *args, const char *code,
                     char **out, PlumbError *err);

/* Record a page fetched or read (visit, parse_file). */
int agent_tools_add_source(AgentTools *t, const char *url, const char *final_url,
                           const char *sha256, int from_cache);
void agent_tools_warn(AgentTools *t, const char *fmt, ...) PLUMB_PRINTF(2, 3);

/* Lazily opened shared state; NULL with *err set when it cannot be had
 * (offline for http, no path for cache/index). */
HttpClient *agent_tools_http(AgentTools *t, PlumbError *err);
Cache *agent_tools_cache(AgentTools *t, PlumbError *err);
Index *agent_tools_index(AgentTools *t, PlumbError *err);

/* ---------------------------------------------------------------- the tools
 * Each takes the arguments as the model gave them and appends the result
 * text to out.  Owned by: search.c (search, google_scholar), visit.c,
 * pyexec.c, parsefile.c. */
int tool_search(AgentTools *t, json_t *args, Buf *out, PlumbError *err);
int tool_scholar(AgentTools *t, json_t *args, Buf *out, PlumbError *err);
int tool_visit(AgentTools *t, json_t *args, Buf *out, PlumbError *err);
int tool_python(AgentTools *t, json_t *args, const char *code, Buf *out, PlumbError *err);
int tool_parse_file(AgentTools *t, json_t *args, Buf *out, PlumbError *err);

#endif
