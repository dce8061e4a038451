/*
 * trace.c — the trajectory record and its JSONL file (see trace.h).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "protocol.h"
#include "text.h"
#include "trace.h"

#define TRACE_MAX_LINE (256u << 20) /* a line longer than this is not read back */

struct TraceFile {
    int fd;     /* O_APPEND */
    char *path; /* for messages */
};

/* Set key to v, which is taken over; 1 when v was NULL (out of memory). */
static int put(json_t *o, const char *key, json_t *v)
{
    return json_object_set_new(o, key, v) < 0;
}

/* A float as the user gave it (0.6, not 0.6000000238). */
static json_t *real6(double x)
{
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.6g", x);
    return json_real(strtod(tmp, NULL));
}

/* A JSON string of s; bytes that are not UTF-8 (which no message should
 * hold) become U+FFFD rather than losing the whole text. */
static json_t *text(const char *s)
{
    json_t *v = json_string(s);
    Buf b = { 0 };
    if (v)
        return v;
    if (text_utf8_repair_buf(&b, s, strlen(s)) == PLUMB_OK)
        v = json_stringn(buf_str(&b), b.len);
    buf_free(&b);
    return v;
}

static json_t *string_or_null(const char *s)
{
    return s ? text(s) : json_null();
}

static json_t *plumb_object(const AgentRun *run, const TraceInfo *in, const AgentTools *tools)
{
    json_t *o = json_object(), *s = json_object(), *l = json_object(), *turns = json_array(),
           *src = json_array(), *unv = json_array();
    size_t i;
    int bad = !o || !s || !l || !turns || !src || !unv;

    if (!bad && in->gen) {
        bad |= put(s, "temperature", real6(in->gen->temperature));
        bad |= put(s, "top_p", real6(in->gen->top_p));
        bad |= put(s, "presence_penalty", real6(in->gen->presence_penalty));
        bad |= put(s, "max_tokens", json_integer(in->gen->max_tokens));
        if (in->gen->has_seed)
            bad |= put(s, "seed", json_integer((json_int_t)in->gen->seed));
    }
    if (!bad) {
        bad |= put(l, "max_calls", json_integer(in->max_calls));
        bad |= put(l, "ctx_limit", json_integer((json_int_t)in->ctx_limit));
        bad |= put(l, "time_limit_s", real6(in->time_limit_s));
    }
    for (i = 0; !bad && i < run->n_turns; i++) {
        const AgentTurn *t = &run->turns[i];
        json_t *j = json_object();
        bad |= !j || json_array_append_new(turns, j) < 0;
        if (bad)
            break;
        bad |= put(j, "n_prompt", json_integer((json_int_t)t->n_prompt));
        bad |= put(j, "n_reused", json_integer((json_int_t)t->n_reused));
        bad |= put(j, "n_evaluated", json_integer((json_int_t)t->n_evaluated));
        bad |= put(j, "n_generated", json_integer((json_int_t)t->n_generated));
        bad |= put(j, "prompt_seconds", real6(t->prompt_seconds));
        bad |= put(j, "gen_seconds", real6(t->gen_seconds));
        if (t->tool[0]) {
            bad |= put(j, "tool", json_string(t->tool));
            bad |= put(j, "tool_seconds", real6(t->tool_seconds));
        }
        if (t->forced)
            bad |= put(j, "forced", json_true());
    }
    for (i = run->first_source; !bad && tools && i < tools->n_sources; i++) {
        const AgentSource *a = &tools->sources[i];
        json_t *j = json_object();
        bad |= !j || json_array_append_new(src, j) < 0;
        if (bad)
            break;
        bad |= put(j, "url", json_string(a->url));
        if (a->final_url && strcmp(a->final_url, a->url))
            bad |= put(j, "final_url", json_string(a->final_url));
        bad |= put(j, "sha256", json_string(a->sha256));
        bad |= put(j, "fetched_at", json_string(a->fetched_at));
        bad |= put(j, "from_cache", json_boolean(a->from_cache));
    }
    if (!bad && run->answered && run->prediction)
        bad |= protocol_unverified(run->prediction, tools, run->first_source, unv) < 0;
    if (!bad) {
        bad |= put(o, "version", json_string(plumb_version()));
        bad |= put(o, "backend", json_string(in->backend ? in->backend : ""));
        bad |= put(o, "sampler", json_incref(s));
        bad |= put(o, "date", json_string(in->date ? in->date : ""));
        bad |= put(o, "limits", json_incref(l));
        bad |= put(o, "calls", json_integer((json_int_t)run->n_turns));
        bad |= put(o, "seconds", real6(run->seconds));
        bad |= put(o, "turns", json_incref(turns));
        bad |= put(o, "sources", json_incref(src));
        bad |= put(o, "unverified", json_incref(unv));
    }
    json_decref(s);
    json_decref(l);
    json_decref(turns);
    json_decref(src);
    json_decref(unv);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *trace_record(const AgentRun *run, const TraceInfo *in, const AgentTools *tools)
{
    json_t *r = json_object(), *msgs = json_array();
    size_t i;
    int bad = !r || !msgs;

    for (i = 0; !bad && i < run->n_messages; i++) {
        json_t *m = json_object();
        bad |= !m || json_array_append_new(msgs, m) < 0;
        if (bad)
            break;
        bad |= put(m, "role", json_string(run->roles[i]));
        bad |= put(m, "content", text(run->contents[i]));
    }
    if (!bad) {
        bad |= put(r, "question", text(in->question));
        if (in->gold)
            bad |= put(r, "answer", json_incref(in->gold));
        bad |= put(r, "messages", json_incref(msgs));
        bad |= put(r, "prediction", string_or_null(run->prediction));
        bad |= put(r, "termination", string_or_null(run->termination));
        if (run->error)
            bad |= put(r, "error", json_string(run->error));
        bad |= put(r, "plumb", plumb_object(run, in, tools));
    }
    json_decref(msgs);
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

json_t *trace_error_record(const char *question, json_t *gold, const char *error)
{
    json_t *r = json_object();
    int bad = !r;
    if (!bad) {
        bad |= put(r, "question", json_string(question));
        bad |= put(r, "answer", gold ? json_incref(gold) : json_string(""));
        bad |= put(r, "rollout_idx", json_integer(1));
        bad |= put(r, "rollout_id", json_integer(1));
        bad |= put(r, "error", json_string(error));
        bad |= put(r, "messages", json_array());
        bad |= put(r, "prediction", json_string("[Failed]"));
    }
    if (bad) {
        json_decref(r);
        return NULL;
    }
    return r;
}

char *trace_dumps(const json_t *rec)
{
    return json_dumps(rec, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
}

/* Cut the file back to the end of its last complete line. */
static int cut_torn_line(int fd, const char *path, PlumbError *err)
{
    struct stat st;
    char buf[4096];
    off_t end;
    if (fstat(fd, &st) < 0)
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
    end = st.st_size;
    while (end > 0) {
        size_t n = end > (off_t)sizeof buf ? sizeof buf : (size_t)end;
        ssize_t got = pread(fd, buf, n, end - (off_t)n);
        size_t k;
        if (got != (ssize_t)n)
            return plumb_err(err, PLUMB_EIO, "%s: read error", path);
        if (end == st.st_size && buf[n - 1] == '\n')
            return PLUMB_OK; /* ends with a complete line */
        for (k = n; k > 0; k--)
            if (buf[k - 1] == '\n')
                break;
        if (k > 0) {
            end = end - (off_t)n + (off_t)k;
            break;
        }
        end -= (off_t)n;
    }
    if (end != st.st_size && ftruncate(fd, end) < 0)
        return plumb_err(err, PLUMB_EIO, "%s: cannot cut the torn last line: %s", path,
                         strerror(errno));
    return PLUMB_OK;
}

int trace_open(TraceFile **out, const char *path, PlumbError *err)
{
    TraceFile *f = calloc(1, sizeof *f);
    int rc;
    *out = NULL;
    if (!f || !(f->path = strdup(path))) {
        free(f);
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    }
    f->fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (f->fd < 0) {
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
        free(f->path);
        free(f);
        return rc;
    }
    if ((rc = cut_torn_line(f->fd, path, err)) < 0) {
        trace_close(f);
        return rc;
    }
    *out = f;
    return PLUMB_OK;
}

int trace_append(TraceFile *f, const json_t *rec, PlumbError *err)
{
    char *line = trace_dumps(rec);
    size_t len, off = 0;
    int rc = PLUMB_OK;
    if (!line)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory writing %s", f->path);
    len = strlen(line);
    line[len] = '\n'; /* json_dumps' NUL becomes the newline: one write */
    len++;
    while (off < len) {
        ssize_t w = write(f->fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            rc = plumb_err(err, PLUMB_EIO, "%s: %s", f->path, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (!rc && fsync(f->fd) < 0 && errno != EINVAL)
        rc = plumb_err(err, PLUMB_EIO, "%s: fsync: %s", f->path, strerror(errno));
    free(line);
    return rc;
}

void trace_close(TraceFile *f)
{
    if (!f)
        return;
    close(f->fd);
    free(f->path);
    free(f);
}

int trace_done_set(const char *path, json_t **done, PlumbError *err)
{
    FILE *fp;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = PLUMB_OK;

    if (!(*done = json_object()))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    if (!(fp = fopen(path, "r"))) {
        if (errno == ENOENT)
            return PLUMB_OK;
        json_decref(*done);
        *done = NULL;
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
    }
    while ((n = getline(&line, &cap, fp)) > 0) {
        json_t *v, *q;
        if ((size_t)n > TRACE_MAX_LINE)
            continue;
        v = json_loadb(line, (size_t)n, 0, NULL);
        q = json_object_get(v, "question");
        if (json_is_object(v) && json_is_string(q) && !json_object_get(v, "error") &&
            json_object_set_new(*done, json_string_value(q), json_true()) < 0)
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        json_decref(v);
        if (rc)
            break;
    }
    if (!rc && ferror(fp))
        rc = plumb_err(err, PLUMB_EIO, "%s: read error", path);
    free(line);
    fclose(fp);
    if (rc) {
        json_decref(*done);
        *done = NULL;
    }
    return rc;
}
