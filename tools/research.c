/*
 * research.c — `plumb research`: answer questions as the Tongyi
 * DeepResearch agent does, and `plumb tool`: run one of its tools.
 *
 * Options become an LlmParams, an AgentToolsParams and an AgentParams; the
 * model is the embedded engine (-m), an OpenAI-compatible server
 * (--backend URL) or a script of replies (--backend script:FILE, for
 * tests).  One question: the answer on standard output, then the pages
 * fetched; a batch: one record per question appended and fsync'd to --out.
 * Progress goes to standard error, one line per model call.  The first
 * SIGINT stops the run at the next token or tool step (exit 130, no record
 * for the question cut short); a second one ends the process.
 *
 * Exit statuses: 0 an answer (forced or not), 3 no answer, 1 an error (the
 * model failed, a file could not be read or written), 2 a usage error.
 */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "agent.h"
#include "cli.h"
#include "llm.h"
#include "protocol.h"
#include "tools.h"
#include "trace.h"

#define EXIT_NO_ANSWER 3
#define MAX_FILES 64 /* names in --file */

static volatile int interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C ends the process */
}

/* Everything the options set. */
typedef struct Opts {
    /* model */
    const char *model, *backend, *api, *model_name, *api_key_file, *extractor, *cpu;
    int n_ctx, n_threads;
    const char *kv_both, *kv_k, *kv_v;
    int kv_window, kv_keep;
    PlumbSessionParams kv; /* from the four above */
    /* loop */
    int max_calls, ctx_limit;
    const char *time_limit, *date, *system_prompt;
    float temperature, top_p, presence_penalty;
    CliSeed seed;
    int seed_seen;
    /* tools */
    const char *searxng, *index, *cache, *cache_mode, *cacert, *files_dir, *file_names, *python,
        *tools;
    int offline, allow_private, no_robots, visit_budget;
    /* output */
    int verbose;
    const char *trace, *format, *batch, *out;
    int resume;
} Opts;

#define OPTS_MODEL(o)                                                                          \
    { .names = "-m, --model", .kind = CLI_STRING, .dest = &(o)->model, .metavar = "FILE",       \
      .help = "the embedded model: a GGUF file (with --backend URL, only its tokenizer is "     \
              "used)" },                                                                       \
    { .names = "--backend", .kind = CLI_STRING, .dest = &(o)->backend, .metavar = "URL",        \
      .help = "an OpenAI-compatible server's base URL (http://host:port/v1), or script:FILE "   \
              "to replay replies from a JSONL file" },                                         \
    { .names = "--api", .kind = CLI_CHOICE, .dest = &(o)->api, .choices = "completions|chat",   \
      .metavar = "API", .help = "the server endpoint: /completions with the prompt rendered "    \
                                "here, or /chat/completions" },                                \
    { .names = "--model-name", .kind = CLI_STRING, .dest = &(o)->model_name,                    \
      .metavar = "NAME", .def = "the server's first", .help = "the model to ask the server for" }, \
    { .names = "--api-key-file", .kind = CLI_STRING, .dest = &(o)->api_key_file,                \
      .metavar = "FILE", .def = "$PLUMB_API_KEY", .help = "read the server's API key from FILE" }, \
    { .names = "--extractor-backend", .kind = CLI_STRING, .dest = &(o)->extractor,              \
      .metavar = "URL", .help = "the model visit uses to extract from pages: a server's base "  \
                                "URL, or same for the research model (its own session when "   \
                                "embedded)" },                                                 \
    { .names = "-c, --ctx", .kind = CLI_INT, .dest = &(o)->n_ctx, .min = 0,                     \
      .max = PLUMB_MAX_CTX, .metavar = "N", .def = "32768 embedded",                          \
      .help = "context length in tokens" },                                                    \
    CLI_OPT_KV_TYPES(&(o)->kv_both, &(o)->kv_k, &(o)->kv_v),                                    \
    CLI_OPT_KV_WINDOW(&(o)->kv_window, &(o)->kv_keep, "the whole system prompt, at least 4"),   \
    CLI_OPT_CPU(&(o)->cpu), CLI_OPT_THREADS(&(o)->n_threads)

#define OPTS_TOOLS(o)                                                                          \
    { .names = "--searxng", .kind = CLI_STRING, .dest = &(o)->searxng, .metavar = "URL",        \
      .help = "search through this SearXNG instance (its JSON format enabled)" },              \
    { .names = "--index", .kind = CLI_STRING, .dest = &(o)->index, .metavar = "DB",             \
      .help = "search this local index (plumb index build) first" },                           \
    { .names = "--cache", .kind = CLI_STRING, .dest = &(o)->cache, .metavar = "DB",             \
      .def = "$XDG_CACHE_HOME/plumb/web.sqlite", .help = "the page and search cache" },         \
    { .names = "--cache-mode", .kind = CLI_CHOICE, .dest = &(o)->cache_mode,                    \
      .choices = "rw|ro|off", .metavar = "MODE",                                               \
      .help = "use and fill the cache, replay it only (no network), or leave it" },            \
    { .names = "--offline", .kind = CLI_FLAG, .dest = &(o)->offline,                           \
      .help = "tools make no network requests (the local index, files and cache only)" },      \
    { .names = "--allow-private", .kind = CLI_FLAG, .dest = &(o)->allow_private,               \
      .help = "let tools fetch from loopback and private addresses" },                         \
    { .names = "--cacert", .kind = CLI_STRING, .dest = &(o)->cacert, .metavar = "FILE",         \
      .help = "also trust the CA certificates in FILE (PEM)" },                                \
    { .names = "--no-robots", .kind = CLI_FLAG, .dest = &(o)->no_robots,                       \
      .help = "do not honour robots.txt" },                                                    \
    { .names = "--files", .kind = CLI_STRING, .dest = &(o)->files_dir, .metavar = "DIR",        \
      .help = "the directory parse_file reads uploaded files from" },                          \
    { .names = "--file", .kind = CLI_STRING, .dest = &(o)->file_names, .metavar = "NAMES",      \
      .help = "comma-separated names of files in the --files directory the question comes "     \
              "with" },                                                                        \
    { .names = "--python", .kind = CLI_CHOICE, .dest = &(o)->python, .choices = "bwrap|off",    \
      .metavar = "MODE", .help = "run PythonInterpreter code under bubblewrap, or not at all" }, \
    { .names = "--tools", .kind = CLI_STRING, .dest = &(o)->tools, .metavar = "LIST",           \
      .def = "search,visit,PythonInterpreter,google_scholar,parse_file",                       \
      .help = "the tools the model may call, comma-separated" },                               \
    { .names = "--visit-budget", .kind = CLI_INT, .dest = &(o)->visit_budget, .min = 256,       \
      .max = 1 << 20, .metavar = "TOK",                                                        \
      .help = "tokens of a page's text given to the extractor" }

#define OPTS_LOOP(o)                                                                           \
    { .names = "--max-calls", .kind = CLI_INT, .dest = &(o)->max_calls, .min = 1,               \
      .max = 100000, .metavar = "N",                                                           \
      .help = "model calls before the answer is forced" },                                     \
    { .names = "--ctx-limit", .kind = CLI_INT, .dest = &(o)->ctx_limit, .min = 0,               \
      .max = PLUMB_MAX_CTX, .metavar = "N",                                                    \
      .def = "112640, or the context less 8192 when it is shorter than 131072",                \
      .help = "tokens of conversation before the answer is forced" },                          \
    { .names = "--time-limit", .kind = CLI_STRING, .dest = &(o)->time_limit,                    \
      .metavar = "DURATION", .help = "wall-clock time before the answer is forced: seconds, "   \
                                     "or with units h, m, s (1h30m)" },                        \
    { .names = "--temperature", .kind = CLI_FLOAT, .dest = &(o)->temperature, .min = 0,         \
      .max = 2, .metavar = "T", .help = "sampling temperature, 0 for greedy" },                \
    { .names = "--top-p", .kind = CLI_FLOAT, .dest = &(o)->top_p, .min = 0, .max = 1,           \
      .metavar = "P", .help = "nucleus sampling: the smallest set of tokens reaching P" },      \
    { .names = "--presence-penalty", .kind = CLI_FLOAT, .dest = &(o)->presence_penalty,         \
      .min = -2, .max = 2, .metavar = "X",                                                     \
      .help = "subtract X from tokens already generated in the same call" },                   \
    { .names = "--seed", .kind = CLI_SEED, .dest = &(o)->seed, .metavar = "S",                  \
      .seen = &(o)->seed_seen,                                                                 \
      .help = "random seed of the first call, one more for each next; -1 for a random one" },  \
    { .names = "--date", .kind = CLI_STRING, .dest = &(o)->date, .metavar = "YYYY-MM-DD",       \
      .def = "today", .help = "the date the system prompt gives" },                            \
    { .names = "--system-prompt", .kind = CLI_STRING, .dest = &(o)->system_prompt,              \
      .metavar = "FILE", .help = "use the text of FILE as the whole system prompt" }

static void opts_default(Opts *o)
{
    memset(o, 0, sizeof *o);
    o->api = "completions";
    o->extractor = "same";
    o->cache_mode = "rw";
    o->python = "bwrap";
    o->visit_budget = 6144;
    o->max_calls = AGENT_DEFAULT_CALLS;
    o->time_limit = "150m";
    o->temperature = 0.6f;
    o->top_p = 0.95f;
    o->presence_penalty = 1.1f;
    o->format = "text";
}

/* ------------------------------------------------------------ checks */

/* "90", "45s", "90m", "2h", "1h30m", "0.5s" -> seconds; -1 when malformed. */
static double parse_duration(const char *s)
{
    double total = 0;
    int any = 0;
    while (*s) {
        char *end;
        double v;
        errno = 0;
        if (!isdigit((unsigned char)*s) && *s != '.')
            return -1;
        v = strtod(s, &end);
        if (end == s || errno || v < 0)
            return -1;
        s = end;
        switch (*s) {
        case 'h': v *= 3600; s++; break;
        case 'm': v *= 60; s++; break;
        case 's': s++; break;
        case '\0': break;
        default: return -1;
        }
        total += v;
        any = 1;
    }
    return any && total > 0 && total < 1e9 ? total : -1;
}

/* A real calendar date written YYYY-MM-DD. */
static int valid_date(const char *s)
{
    struct tm tm = { 0 };
    int y, m, d, i;
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return 0;
    for (i = 0; i < 10; i++)
        if (i != 4 && i != 7 && !isdigit((unsigned char)s[i]))
            return 0;
    if (sscanf(s, "%4d-%2d-%2d", &y, &m, &d) != 3 || m < 1 || m > 12 || d < 1 || d > 31)
        return 0;
    tm.tm_year = y - 1900;
    tm.tm_mon = m - 1;
    tm.tm_mday = d;
    tm.tm_hour = 12;
    tm.tm_isdst = -1;
    if (mktime(&tm) == (time_t)-1)
        return 0;
    return tm.tm_mday == d && tm.tm_mon == m - 1;
}

/* ------------------------------------------------------------ setup */

typedef struct Setup {
    PlumbModel *model;   /* -m */
    PlumbLLM *llm;       /* the research model */
    PlumbLLM *extractor; /* visit's model: llm itself, or its own */
    AgentTools *tools;
    char *api_key;
    char *system_text;   /* --system-prompt's text */
    char *file_list;     /* --file, split in place */
    const char *files[MAX_FILES];
    size_t n_files;
    char cache_path[4096];
    char date[16];
} Setup;

static void setup_free(Setup *s)
{
    agent_tools_close(s->tools);
    if (s->extractor != s->llm)
        llm_close(s->extractor);
    llm_close(s->llm);
    plumb_model_close(s->model);
    free(s->api_key);
    free(s->system_text);
    free(s->file_list);
}

static void on_warning(void *user, const char *line)
{
    (void)user;
    fprintf(stderr, "plumb: %s", line);
}

/* Open a remote backend with the options' API settings. */
static int open_remote(const Opts *o, Setup *s, const char *url, PlumbLLM **out, PlumbError *err)
{
    LlmRemoteParams rp = { 0 };
    rp.base_url = url;
    rp.api = !strcmp(o->api, "chat") ? LLM_API_CHAT : LLM_API_COMPLETIONS;
    rp.model_name = o->model_name;
    rp.api_key = s->api_key;
    rp.ca_file = o->cacert;
    rp.n_ctx = (size_t)o->n_ctx;
    rp.tokenizer = s->model;
    return llm_open_remote(out, &rp, err);
}

/* Models, tools and files from the options; the caller reports errors. */
static int setup_open(const char *cmd, const Opts *o, int need_model, Setup *s, PlumbError *err)
{
    AgentToolsParams tp = { 0 };
    int rc;

    memset(s, 0, sizeof *s);
    if (o->api_key_file) {
        size_t len;
        if (!(s->api_key = cli_read_file(o->api_key_file, &len, err)))
            return err->code ? err->code : PLUMB_EIO;
        while (len && isspace((unsigned char)s->api_key[len - 1]))
            s->api_key[--len] = 0;
    } else if (getenv("PLUMB_API_KEY") && *getenv("PLUMB_API_KEY")) {
        if (!(s->api_key = strdup(getenv("PLUMB_API_KEY"))))
            return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    }
    if (o->model) {
        PlumbModelParams mp = { 0 };
        mp.cpu = o->cpu;
        mp.n_threads = o->n_threads;
        if ((rc = cli_model_open(&s->model, o->model, &mp, err)) < 0)
            return rc;
    }
    if (o->backend && !strncmp(o->backend, "script:", 7)) {
        if ((rc = llm_open_script(&s->llm, o->backend + 7, err)) < 0)
            return rc;
    } else if (o->backend) {
        if ((rc = open_remote(o, s, o->backend, &s->llm, err)) < 0)
            return rc;
    } else if (s->model) {
        LlmLocalParams lp = { 0 };
        lp.model_path = o->model;
        lp.n_ctx = (uint32_t)o->n_ctx;
        lp.kv = o->kv;
        if ((rc = llm_open_local(&s->llm, s->model, &lp, err)) < 0)
            return rc;
    } else if (need_model) {
        return plumb_err(err, PLUMB_EINVAL, "%s: no model", cmd);
    }
    if (o->extractor && strcmp(o->extractor, "same")) {
        if ((rc = open_remote(o, s, o->extractor, &s->extractor, err)) < 0)
            return rc;
    } else if (s->llm && s->model && !o->backend) {
        /* its own session, so extraction leaves the research KV cache alone */
        LlmLocalParams lp = { 0 };
        lp.model_path = o->model;
        lp.n_ctx = (uint32_t)(o->visit_budget + 10240);
        lp.kv = o->kv;
        lp.kv.window = lp.kv.keep = 0; /* a page and the question: no window */
        if ((rc = llm_open_local(&s->extractor, s->model, &lp, err)) < 0)
            return rc;
    } else {
        s->extractor = s->llm;
    }
    if (o->cache) {
        snprintf(s->cache_path, sizeof s->cache_path, "%s", o->cache);
    } else if (strcmp(o->cache_mode, "off")) {
        const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
        if (xdg && *xdg)
            snprintf(s->cache_path, sizeof s->cache_path, "%s/plumb", xdg);
        else if (home && *home)
            snprintf(s->cache_path, sizeof s->cache_path, "%s/.cache/plumb", home);
        if (s->cache_path[0]) {
            char *slash = strrchr(s->cache_path, '/');
            *slash = 0;
            (void)mkdir(s->cache_path, 0755);
            *slash = '/';
            (void)mkdir(s->cache_path, 0700);
            strncat(s->cache_path, "/web.sqlite", sizeof s->cache_path - strlen(s->cache_path) - 1);
        }
    }
    tp.searxng = o->searxng;
    tp.index_db = o->index;
    tp.cache_db = s->cache_path[0] ? s->cache_path : NULL;
    tp.cache_mode = !strcmp(o->cache_mode, "ro") ? CACHE_RO
                    : !strcmp(o->cache_mode, "off") ? CACHE_OFF : CACHE_RW;
    tp.offline = o->offline;
    tp.allow_private = o->allow_private;
    tp.no_robots = o->no_robots;
    tp.ca_file = o->cacert;
    tp.extractor = s->extractor;
    tp.visit_budget = o->visit_budget;
    tp.files_dir = o->files_dir;
    tp.python = !strcmp(o->python, "off") ? PYTHON_OFF : PYTHON_BWRAP;
    tp.enabled = o->tools;
    tp.on_warning = on_warning;
    tp.abort_flag = &interrupted;
    if ((rc = agent_tools_open(&s->tools, &tp, err)) < 0)
        return rc;
    if (o->file_names) {
        char *p, *save = NULL;
        if (!(s->file_list = strdup(o->file_names)))
            return plumb_err(err, PLUMB_ENOMEM, "out of memory");
        for (p = strtok_r(s->file_list, ",", &save); p; p = strtok_r(NULL, ",", &save)) {
            if (s->n_files == MAX_FILES)
                return plumb_err(err, PLUMB_EINVAL, "--file: more than %d names", MAX_FILES);
            s->files[s->n_files++] = p;
        }
    }
    return PLUMB_OK;
}

/* ------------------------------------------------------------ progress */

typedef struct Progress {
    int verbose;     /* stream the reply */
    int mid_line;    /* streamed text left the cursor mid-line */
    const char *tag; /* "research" or "research: question 3" */
} Progress;

static void on_event(void *user, const AgentEvent *ev)
{
    Progress *pg = user;
    switch (ev->kind) {
    case AGENT_EV_TEXT:
        if (pg->verbose && ev->len) {
            fwrite(ev->text, 1, ev->len, stderr);
            pg->mid_line = ev->text[ev->len - 1] != '\n';
        }
        break;
    case AGENT_EV_FORCED:
        if (pg->mid_line)
            fputc('\n', stderr);
        pg->mid_line = 0;
        fprintf(stderr, "plumb: %s: %s limit reached, asking for the answer\n", pg->tag,
                ev->budget == AGENT_BUDGET_TOKENS ? "token"
                : ev->budget == AGENT_BUDGET_CALLS ? "call" : "time");
        break;
    case AGENT_EV_TURN: {
        const AgentTurn *t = ev->turn;
        if (pg->mid_line)
            fputc('\n', stderr);
        pg->mid_line = 0;
        fprintf(stderr, "plumb: %s: call %zu: %zu prompt tokens (%zu evaluated), %zu generated, "
                        "%.1f s",
                pg->tag, ev->index + 1, t->n_prompt, t->n_evaluated, t->n_generated,
                t->prompt_seconds + t->gen_seconds);
        if (t->tool[0])
            fprintf(stderr, "; %s %.1f s", t->tool, t->tool_seconds);
        if (t->answered)
            fputs("; answer", stderr);
        fputc('\n', stderr);
        break;
    }
    }
}

/* ------------------------------------------------------------ research */

typedef struct Ctx {
    const Opts *o;
    Setup *s;
    AgentParams ap;
    TraceFile *trace; /* --trace, or NULL */
    TraceInfo info;
} Ctx;

/* Run one question; *rec gets its record (NULL when interrupted). */
static int run_one(Ctx *c, const char *question, json_t *gold, const char *tag, AgentRun *run,
                   json_t **rec, PlumbError *err)
{
    Progress pg = { c->o->verbose, 0, tag };
    int rc;
    *rec = NULL;
    c->ap.on_event = on_event;
    c->ap.user = &pg;
    rc = agent_run(&c->ap, question, run, err);
    if (pg.mid_line)
        fputc('\n', stderr);
    if (rc < 0)
        return rc;
    c->info.question = question;
    c->info.gold = gold;
    if (!(*rec = trace_record(run, &c->info, c->s->tools)))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    if (c->trace && (rc = trace_append(c->trace, *rec, err)) < 0)
        return rc;
    return PLUMB_OK;
}

static void print_unverified(const char *tag, const json_t *rec)
{
    json_t *u = json_object_get(json_object_get(rec, "plumb"), "unverified"), *v;
    size_t i;
    json_array_foreach(u, i, v)
        fprintf(stderr, "plumb: %s: unverified (no tool fetched it): %s\n", tag,
                json_string_value(v));
}

static int research_one(Ctx *c, const char *question)
{
    AgentRun run;
    json_t *rec = NULL;
    PlumbError err = { 0 };
    int rc = run_one(c, question, NULL, "research", &run, &rec, &err);

    if (rc < 0) {
        if (interrupted) {
            cli_error("research: interrupted");
            rc = CLI_INTERRUPTED;
        } else {
            cli_error("research: %s", err.msg);
            rc = 1;
        }
        goto done;
    }
    print_unverified("research", rec);
    if (!strcmp(c->o->format, "json")) {
        char *line = trace_dumps(rec);
        if (line) {
            puts(line);
            free(line);
        }
    } else if (run.answered) {
        const char *a = run.prediction;
        size_t n = strlen(a), i;
        while (n && isspace((unsigned char)a[n - 1]))
            n--;
        while (n && isspace((unsigned char)*a)) {
            a++;
            n--;
        }
        printf("%.*s\n", (int)n, a);
        if (run.first_source < c->s->tools->n_sources) {
            printf("\nSources:\n");
            for (i = run.first_source; i < c->s->tools->n_sources; i++)
                printf("  %s\n", c->s->tools->sources[i].url);
        }
    }
    if (run.error) {
        cli_error("research: the model failed: %s", run.error);
        rc = 1;
    } else if (!run.answered) {
        cli_error("research: no answer (%s)", run.termination);
        rc = EXIT_NO_ANSWER;
    } else {
        rc = 0;
    }
done:
    json_decref(rec);
    agent_run_free(&run);
    return rc;
}

/* The batch's questions: each line {"question": "...", "answer": ...}. */
static int read_batch(const char *path, json_t **out, PlumbError *err)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int lineno = 0, rc = PLUMB_OK;
    *out = json_array();
    if (!f) {
        json_decref(*out);
        *out = NULL;
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
    }
    while ((n = getline(&line, &cap, f)) > 0) {
        json_error_t je;
        json_t *v;
        size_t k;
        lineno++;
        for (k = 0; k < (size_t)n && isspace((unsigned char)line[k]); k++)
            ;
        if (k == (size_t)n)
            continue;
        if (!(v = json_loadb(line, (size_t)n, 0, &je))) {
            rc = plumb_err(err, PLUMB_EFORMAT, "%s:%d: not JSON: %s", path, lineno, je.text);
            break;
        }
        if (!json_is_string(json_object_get(v, "question"))) {
            json_decref(v);
            rc = plumb_err(err, PLUMB_EFORMAT, "%s:%d: no \"question\" string", path, lineno);
            break;
        }
        json_array_append_new(*out, v);
    }
    free(line);
    fclose(f);
    if (!rc && !json_array_size(*out))
        rc = plumb_err(err, PLUMB_EFORMAT, "%s: no questions", path);
    if (rc) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

static int research_batch(Ctx *c)
{
    json_t *qs = NULL, *done = NULL, *q;
    TraceFile *out = NULL;
    PlumbError err = { 0 };
    size_t i, n_done = 0;
    int rc = 0, any_unanswered = 0;

    if (read_batch(c->o->batch, &qs, &err) < 0 ||
        (c->o->resume && trace_done_set(c->o->out, &done, &err) < 0) ||
        trace_open(&out, c->o->out, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    json_array_foreach(qs, i, q) {
        const char *question = json_string_value(json_object_get(q, "question"));
        AgentRun run;
        json_t *rec = NULL;
        char tag[64];
        int r;
        if (done && json_object_get(done, question)) {
            n_done++;
            continue;
        }
        snprintf(tag, sizeof tag, "research: question %zu", i + 1);
        r = run_one(c, question, json_object_get(q, "answer"), tag, &run, &rec, &err);
        if (r < 0 && interrupted) {
            agent_run_free(&run);
            cli_error("research: interrupted");
            rc = CLI_INTERRUPTED;
            break;
        }
        if (r < 0) {
            json_t *er = trace_error_record(question, json_object_get(q, "answer"), err.msg);
            cli_error("%s: %s", tag, err.msg);
            if (er)
                trace_append(out, er, &err);
            json_decref(er);
            agent_run_free(&run);
            rc = 1;
            break;
        }
        if ((r = trace_append(out, rec, &err)) < 0) {
            json_decref(rec);
            agent_run_free(&run);
            rc = cli_fail(&err);
            break;
        }
        print_unverified(tag, rec);
        fprintf(stderr, "plumb: %s: %s\n", tag, run.termination);
        if (run.error)
            rc = 1;
        else if (!run.answered)
            any_unanswered = 1;
        json_decref(rec);
        agent_run_free(&run);
    }
    if (n_done)
        fprintf(stderr, "plumb: research: %zu questions already had a record\n", n_done);
    if (!rc && any_unanswered)
        rc = EXIT_NO_ANSWER;
done:
    trace_close(out);
    json_decref(qs);
    json_decref(done);
    return rc;
}

/* Checks both commands make of the model options; 0 or a usage status. */
static int check_model_opts(const CliCmd *cmd, Opts *o)
{
    int rc;
    if ((rc = cli_kv_params(cmd, o->kv_both, o->kv_k, o->kv_v, o->kv_window, o->kv_keep, &o->kv)))
        return rc;
    if (o->backend && !strncmp(o->backend, "script:", 7) && !o->backend[7])
        return cli_usage_error(cmd, "--backend script: needs a file name");
    if (o->backend && strncmp(o->backend, "script:", 7) && strncmp(o->backend, "http://", 7) &&
        strncmp(o->backend, "https://", 8))
        return cli_usage_error(cmd, "--backend: '%s' is neither an http(s) URL nor script:FILE",
                               o->backend);
    if (o->extractor && strcmp(o->extractor, "same") && strncmp(o->extractor, "http://", 7) &&
        strncmp(o->extractor, "https://", 8))
        return cli_usage_error(cmd, "--extractor-backend: '%s' is neither an http(s) URL nor "
                                    "same", o->extractor);
    return 0;
}

int cmd_research(int argc, char **argv)
{
    Opts o;
    Setup s;
    Ctx c;
    const char *args[1];
    int n_args = 0, rc;
    double time_limit;
    PlumbError err = { 0 };
    struct sigaction sa;

    opts_default(&o);
    {
        const CliOpt opts[] = {
            OPTS_MODEL(&o),
            OPTS_LOOP(&o),
            OPTS_TOOLS(&o),
            { .names = "--trace", .kind = CLI_STRING, .dest = &o.trace, .metavar = "FILE",
              .help = "append the record of each question to FILE (JSONL)" },
            { .names = "--format", .kind = CLI_CHOICE, .dest = &o.format, .choices = "text|json",
              .metavar = "FORMAT",
              .help = "print the answer and its sources, or the whole record" },
            { .names = "--batch", .kind = CLI_STRING, .dest = &o.batch, .metavar = "FILE",
              .help = "answer every question of FILE, one JSON object a line with "
                      "\"question\" (and \"answer\", kept in the record)" },
            { .names = "--out", .kind = CLI_STRING, .dest = &o.out, .metavar = "FILE",
              .help = "with --batch, append one record per question to FILE" },
            { .names = "--resume", .kind = CLI_FLAG, .dest = &o.resume,
              .help = "with --batch, skip questions --out has a record without an error for" },
            { .names = "-v, --verbose", .kind = CLI_FLAG, .dest = &o.verbose,
              .help = "stream the model's replies, thinking included, to standard error" },
            { .names = "-h, --help", .kind = CLI_HELP, .help = "show this help" },
            { .kind = CLI_END },
        };
        const CliCmd cmd = {
            .name = "research",
            .synopsis = "(-m MODEL | --backend URL) [options] QUESTION",
            .about = "Research a question with a search engine, web pages, local files and "
                     "Python, as the Tongyi DeepResearch agent does, and print the answer and "
                     "the pages it rests on.  Exit status 0 with an answer, 3 without one.",
            .opts = opts,
            .max_args = 1,
            .operand_hint = "give one question, quoted",
        };
        if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
            return rc < 0 ? 0 : rc;
        if (!o.model && !o.backend)
            return cli_usage_error(&cmd, "a model is required (-m FILE or --backend URL)");
        if ((rc = check_model_opts(&cmd, &o)))
            return rc;
        if (o.batch && n_args)
            return cli_usage_error(&cmd, "give a question or --batch, not both");
        if (!o.batch && !n_args)
            return cli_usage_error(&cmd, "a question is required");
        if (o.batch && !o.out)
            return cli_usage_error(&cmd, "--batch needs --out FILE for the records");
        if ((o.out || o.resume) && !o.batch)
            return cli_usage_error(&cmd, "%s only makes sense with --batch",
                                   o.out ? "--out" : "--resume");
        if (n_args && !*args[0])
            return cli_usage_error(&cmd, "the question is empty");
        if (o.date && !valid_date(o.date))
            return cli_usage_error(&cmd, "--date: '%s' is not a date written YYYY-MM-DD",
                                   o.date);
        if ((time_limit = parse_duration(o.time_limit)) < 0)
            return cli_usage_error(&cmd, "--time-limit: '%s' is not a duration (90, 45s, 90m, "
                                         "1h30m)", o.time_limit);
    }
    if (o.seed.random)
        cli_error("research: seed %llu", (unsigned long long)o.seed.value);

    if (setup_open("research", &o, 1, &s, &err) < 0) {
        rc = cli_fail(&err);
        setup_free(&s);
        return rc;
    }
    if (o.system_prompt) {
        size_t len;
        if (!(s.system_text = cli_read_file(o.system_prompt, &len, &err))) {
            rc = cli_fail(&err);
            setup_free(&s);
            return rc;
        }
    }
    if (o.date) {
        snprintf(s.date, sizeof s.date, "%s", o.date);
    } else {
        time_t now = time(NULL);
        struct tm tm;
        localtime_r(&now, &tm);
        strftime(s.date, sizeof s.date, "%Y-%m-%d", &tm);
    }

    memset(&c, 0, sizeof c);
    c.o = &o;
    c.s = &s;
    c.ap.llm = s.llm;
    c.ap.tools = s.tools;
    c.ap.date = s.date;
    c.ap.system_prompt = s.system_text;
    c.ap.max_calls = o.max_calls;
    c.ap.ctx_limit = (size_t)o.ctx_limit;
    c.ap.time_limit_s = time_limit;
    llm_params_default(&c.ap.gen);
    c.ap.gen.temperature = o.temperature;
    c.ap.gen.top_p = o.top_p;
    c.ap.gen.presence_penalty = o.presence_penalty;
    c.ap.gen.seed = o.seed.value;
    c.ap.gen.has_seed = o.seed_seen || !o.backend || !strncmp(o.backend, "script:", 7);
    c.ap.files = s.files;
    c.ap.n_files = s.n_files;
    c.ap.abort_flag = &interrupted;
    c.info.backend = llm_describe(s.llm);
    c.info.gen = &c.ap.gen;
    c.info.date = s.date;
    c.info.max_calls = o.max_calls;
    c.info.ctx_limit = agent_ctx_limit(&c.ap);
    c.info.time_limit_s = time_limit;
    if (o.trace && trace_open(&c.trace, o.trace, &err) < 0) {
        rc = cli_fail(&err);
        setup_free(&s);
        return rc;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    rc = o.batch ? research_batch(&c) : research_one(&c, args[0]);
    signal(SIGINT, SIG_DFL);
    trace_close(c.trace);
    setup_free(&s);
    return rc;
}

/* ------------------------------------------------------------ tool */

int cmd_tool(int argc, char **argv)
{
    Opts o;
    Setup s;
    const char *args[2];
    int n_args = 0, rc;
    PlumbError err = { 0 };
    ToolCall call;
    Buf text = { 0 };
    json_t *name = NULL;
    char *qname = NULL, *out = NULL;

    opts_default(&o);
    {
        const CliOpt opts[] = {
            OPTS_MODEL(&o),
            OPTS_TOOLS(&o),
            { .names = "-h, --help", .kind = CLI_HELP, .help = "show this help" },
            { .kind = CLI_END },
        };
        const CliCmd cmd = {
            .name = "tool",
            .synopsis = "NAME ARGS-JSON [options]",
            .about = "Run one of the research agent's tools (search, visit, PythonInterpreter, "
                     "google_scholar, parse_file) with the arguments the model would give, "
                     "and print exactly the text the model would see.  PythonInterpreter takes "
                     "its code as {\"code\": \"...\"}.",
            .opts = opts,
            .max_args = 2,
            .operand_hint = "give the tool's name and its arguments as one JSON object",
        };
        if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
            return rc < 0 ? 0 : rc;
        if (n_args != 2)
            return cli_usage_error(&cmd, "give the tool's name and its arguments (JSON)");
        if ((rc = check_model_opts(&cmd, &o)))
            return rc;
    }
    memset(&call, 0, sizeof call);
    if (setup_open("tool", &o, 0, &s, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    /* the call as the model would write it, through the same reader */
    name = json_string(args[0]);
    qname = name ? json_dumps(name, JSON_ENCODE_ANY) : NULL;
    if (!qname || buf_printf(&text, "<tool_call>\n{\"name\": %s, \"arguments\": %s}\n</tool_call>",
                             qname, args[1]) < 0) {
        cli_error("tool: out of memory");
        rc = 1;
        goto done;
    }
    signal(SIGINT, on_sigint);
    if ((rc = protocol_parse_call(buf_str(&text), s.tools, &call, &err)) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    if (call.kind == CALL_ERROR) {
        puts(call.error);
    } else if ((rc = agent_tools_call(s.tools, call.name, call.args, call.code, &out, &err)) < 0) {
        rc = interrupted ? CLI_INTERRUPTED : cli_fail(&err);
        goto done;
    } else {
        puts(out);
    }
    rc = 0;
done:
    signal(SIGINT, SIG_DFL);
    free(out);
    free(qname);
    json_decref(name);
    buf_free(&text);
    protocol_call_free(&call);
    setup_free(&s);
    return rc;
}
