/*
 * tools.c — the tool table, the shared state the tools open lazily, and the
 * list of pages a run fetched (see tools.h).
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cache.h"
#include "format.h"
#include "http.h"
#include "index.h"
#include "tools.h"

static const char *const tool_names[] = {
    "search", "visit", "PythonInterpreter", "google_scholar", "parse_file",
};

int agent_tools_open(AgentTools **out, const AgentToolsParams *p, PlumbError *err)
{
    AgentTools *t = calloc(1, sizeof *t);
    *out = NULL;
    if (!t)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    if (p)
        t->p = *p;
    *out = t;
    return PLUMB_OK;
}

void agent_tools_close(AgentTools *t)
{
    size_t i;
    if (!t)
        return;
    http_close(t->http);
    cache_close(t->cache);
    index_close(t->index);
    for (i = 0; i < t->n_sources; i++) {
        free(t->sources[i].url);
        free(t->sources[i].final_url);
    }
    free(t->sources);
    free(t);
}

/* Is name in the comma-separated list? */
static int in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *s = list;
    while (*s) {
        const char *e = strchr(s, ',');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && !memcmp(s, name, n))
            return 1;
        if (!e)
            break;
        s = e + 1;
    }
    return 0;
}

int agent_tools_has(const AgentTools *t, const char *name)
{
    size_t i;
    /* --python off takes the interpreter out of the prompt and the table */
    if (t->p.python == PYTHON_OFF && !strcmp(name, "PythonInterpreter"))
        return 0;
    for (i = 0; i < sizeof tool_names / sizeof tool_names[0]; i++)
        if (!strcmp(tool_names[i], name))
            return !t->p.enabled || in_list(t->p.enabled, name);
    return 0;
}

int agent_tools_call(AgentTools *t, const char *name, json_t *args, const char *code,
                     char **out, PlumbError *err)
{
    Buf b = { 0 };
    int rc;
    *out = NULL;
    if (!agent_tools_has(t, name))
        rc = buf_printf(&b, FORMAT_ERR_NOTFOUND_FMT, name);
    else if (!strcmp(name, "search"))
        rc = tool_search(t, args, &b, err);
    else if (!strcmp(name, "visit"))
        rc = tool_visit(t, args, &b, err);
    else if (!strcmp(name, "PythonInterpreter"))
        rc = tool_python(t, args, code, &b, err);
    else if (!strcmp(name, "google_scholar"))
        rc = tool_scholar(t, args, &b, err);
    else
        rc = tool_parse_file(t, args, &b, err);
    if (rc < 0) {
        buf_free(&b);
        if (rc == PLUMB_ENOMEM && !err->msg[0])
            plumb_err(err, rc, "%s: out of memory", name);
        return rc;
    }
    *out = buf_steal(&b);
    return *out ? PLUMB_OK : plumb_err(err, PLUMB_ENOMEM, "out of memory");
}

int agent_tools_add_source(AgentTools *t, const char *url, const char *final_url,
                           const char *sha256, int from_cache)
{
    AgentSource *s;
    time_t now = time(NULL);
    struct tm tm;
    if (t->n_sources == t->cap_sources) {
        size_t cap = t->cap_sources ? 2 * t->cap_sources : 8;
        AgentSource *ns = realloc(t->sources, cap * sizeof *ns);
        if (!ns)
            return PLUMB_ENOMEM;
        t->sources = ns;
        t->cap_sources = cap;
    }
    s = &t->sources[t->n_sources];
    memset(s, 0, sizeof *s);
    s->url = strdup(url);
    s->final_url = strdup(final_url ? final_url : url);
    if (!s->url || !s->final_url) {
        free(s->url);
        free(s->final_url);
        return PLUMB_ENOMEM;
    }
    snprintf(s->sha256, sizeof s->sha256, "%s", sha256 ? sha256 : "");
    gmtime_r(&now, &tm);
    strftime(s->fetched_at, sizeof s->fetched_at, "%Y-%m-%dT%H:%M:%SZ", &tm);
    s->from_cache = from_cache;
    t->n_sources++;
    return PLUMB_OK;
}

void agent_tools_warn(AgentTools *t, const char *fmt, ...)
{
    char line[2048];
    va_list ap;
    size_t n;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line - 1, fmt, ap);
    va_end(ap);
    n = strlen(line);
    if (!n || line[n - 1] != '\n') {
        line[n] = '\n';
        line[n + 1] = 0;
    }
    if (t->p.on_warning)
        t->p.on_warning(t->p.user, line);
    else
        fputs(line, stderr);
}

HttpClient *agent_tools_http(AgentTools *t, PlumbError *err)
{
    HttpParams hp = { 0 };
    if (t->http)
        return t->http;
    if (t->p.offline) {
        plumb_err(err, PLUMB_EUNSUPPORTED, "offline: no network requests");
        return NULL;
    }
    hp.user_agent = t->p.user_agent;
    hp.ca_file = t->p.ca_file;
    hp.proxy = t->p.proxy;
    hp.allow_private = t->p.allow_private;
    hp.no_robots = t->p.no_robots;
    hp.host_delay_s = t->p.host_delay_s;
    hp.n_connections = &t->n_connections;
    hp.abort_flag = t->p.abort_flag;
    if (http_open(&t->http, &hp, err) != PLUMB_OK)
        return NULL;
    return t->http;
}

Cache *agent_tools_cache(AgentTools *t, PlumbError *err)
{
    if (t->cache)
        return t->cache;
    if (!t->p.cache_db || t->p.cache_mode == CACHE_OFF) {
        plumb_err(err, PLUMB_EINVAL, "no page cache");
        return NULL;
    }
    if (cache_open(&t->cache, t->p.cache_db, t->p.cache_mode, err) != PLUMB_OK)
        return NULL;
    return t->cache;
}

Index *agent_tools_index(AgentTools *t, PlumbError *err)
{
    if (t->index)
        return t->index;
    if (!t->p.index_db) {
        plumb_err(err, PLUMB_EINVAL, "no local index (--index DB)");
        return NULL;
    }
    if (index_open(&t->index, t->p.index_db, 0, err) != PLUMB_OK)
        return NULL;
    return t->index;
}
