/*
 * llm_script.c — the scripted backend (llm.h): replies read from a JSONL
 * file, one line per call, for tests of the loop and the command.
 *
 * A line is an object with one of
 *   "reply": "..."          the text the model "generates" (stop strings
 *                           apply: the text is cut before the first one)
 *   "error": "..."          the call fails with this message (PLUMB_EIO)
 *   "context_error": true   the call fails with PLUMB_ERANGE
 * and optionally
 *   "expect_last": "..."    a string the last message must contain, else the
 *                           call fails naming the line (tests check what the
 *                           loop sent)
 *   "delay_ms": N           wait N ms before answering (0..600000), watching
 *                           the abort flag, so tests can interrupt or kill a
 *                           run mid-call and exercise time limits.
 * Blank lines are skipped.  The whole file is read and checked when opened;
 * a malformed line is an error naming FILE:LINE.  Running out of lines is an
 * error of the call.
 *
 * Token counts are an estimate: one token per 4 bytes of the rendered
 * conversation (rounded up), the same rule for llm_count and n_prompt, so a
 * test can predict them.  The context size is unknown (0).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "err.h"
#include "llm_impl.h"

#define SCRIPT_MAX_BYTES (64u << 20) /* a script file larger than this is refused */

typedef struct ScriptLine {
    char *reply;       /* the reply, or NULL */
    char *error;       /* the failure message, or NULL */
    int context_error; /* 1: PLUMB_ERANGE */
    char *expect_last; /* substring of the last message, or NULL */
    long delay_ms;     /* wait before answering, ms */
    int lineno;        /* in the file, from 1 */
} ScriptLine;

typedef struct ScriptLLM {
    PlumbLLM base;
    char *path;         /* the file, for messages */
    ScriptLine *lines;  /* [n_lines] */
    size_t n_lines;
    size_t next;        /* the line the next call uses */
} ScriptLLM;

static size_t estimate_tokens(size_t bytes)
{
    return (bytes + 3) / 4;
}

static int script_count(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, size_t *n_tokens,
                        PlumbError *err)
{
    char *text = NULL;
    int rc;
    (void)l;
    if ((rc = llm_render(msgs, n, &text, err)) < 0)
        return rc;
    *n_tokens = estimate_tokens(strlen(text));
    free(text);
    return PLUMB_OK;
}

/* Sleep ms milliseconds in 10 ms steps; 1 when the abort flag rose. */
static int wait_ms(long ms, const volatile int *abort_flag)
{
    while (ms > 0) {
        long step = ms < 10 ? ms : 10;
        struct timespec ts = { 0, step * 1000000L };
        if (abort_flag && *abort_flag)
            return 1;
        nanosleep(&ts, NULL);
        ms -= step;
    }
    return abort_flag && *abort_flag;
}

static int script_generate(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, const LlmParams *p,
                           LlmTextFn fn, void *user, LlmResult *res, PlumbError *err)
{
    ScriptLLM *s = (ScriptLLM *)l;
    const ScriptLine *ln;
    size_t len, k, prompt_tokens;
    int rc;

    if (s->next >= s->n_lines)
        return plumb_err(err, PLUMB_EIO, "%s: no reply left for call %zu (the script has %zu)",
                         s->path, s->next + 1, s->n_lines);
    ln = &s->lines[s->next++];
    if ((rc = script_count(l, msgs, n, &prompt_tokens, err)) < 0)
        return rc;
    if (wait_ms(ln->delay_ms, p->abort_flag)) {
        res->finish = LLM_FINISH_ABORTED;
        res->text = strdup("");
        return res->text ? PLUMB_OK : plumb_err(err, PLUMB_ENOMEM, "out of memory");
    }
    if (ln->expect_last && !strstr(msgs[n - 1].content, ln->expect_last))
        return plumb_err(err, PLUMB_EINVAL,
                         "%s:%d: the last message does not contain \"%s\"; it is \"%.200s\"",
                         s->path, ln->lineno, ln->expect_last, msgs[n - 1].content);
    if (ln->context_error)
        return plumb_err(err, PLUMB_ERANGE, "%s:%d: the conversation does not fit the context",
                         s->path, ln->lineno);
    if (ln->error)
        return plumb_err(err, PLUMB_EIO, "%s:%d: %s", s->path, ln->lineno, ln->error);

    len = strlen(ln->reply);
    res->finish = LLM_FINISH_STOP;
    for (k = 0; k < p->n_stop; k++) {
        const char *hit = p->stop[k] && *p->stop[k] ? strstr(ln->reply, p->stop[k]) : NULL;
        if (hit && (size_t)(hit - ln->reply) < len) {
            len = (size_t)(hit - ln->reply);
            res->finish = LLM_FINISH_STRING;
        }
    }
    if (!(res->text = malloc(len + 1)))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    memcpy(res->text, ln->reply, len);
    res->text[len] = 0;
    res->text_len = len;
    res->n_prompt = prompt_tokens;
    res->n_evaluated = prompt_tokens;
    res->n_generated = estimate_tokens(len);
    if (fn && len && fn(user, res->text, len))
        res->finish = LLM_FINISH_ABORTED;
    return PLUMB_OK;
}

static size_t script_context_size(PlumbLLM *l)
{
    (void)l;
    return 0;
}

static void script_close(PlumbLLM *l)
{
    ScriptLLM *s = (ScriptLLM *)l;
    size_t i;
    for (i = 0; i < s->n_lines; i++) {
        free(s->lines[i].reply);
        free(s->lines[i].error);
        free(s->lines[i].expect_last);
    }
    free(s->lines);
    free(s->path);
    free(s);
}

static const LlmOps script_ops = {
    script_generate, script_count, script_context_size, script_close,
};

/* Read one line's object into ln. */
static int parse_line(const char *path, int lineno, const char *text, size_t len, ScriptLine *ln,
                      PlumbError *err)
{
    json_error_t je;
    json_t *v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je), *x;
    const char *key;
    int kinds = 0, rc = PLUMB_OK;

    memset(ln, 0, sizeof *ln);
    ln->lineno = lineno;
    if (!v)
        return plumb_err(err, PLUMB_EFORMAT, "%s:%d: not JSON: %s (column %d)", path, lineno,
                         je.text, je.column);
    if (!json_is_object(v)) {
        rc = plumb_err(err, PLUMB_EFORMAT, "%s:%d: not a JSON object", path, lineno);
        goto done;
    }
    json_object_foreach(v, key, x) {
        if (!strcmp(key, "reply") || !strcmp(key, "error") || !strcmp(key, "expect_last")) {
            char **dst = key[0] == 'r' ? &ln->reply : key[0] == 'e' && key[1] == 'r' ? &ln->error
                                                                                    : &ln->expect_last;
            if (!json_is_string(x)) {
                rc = plumb_err(err, PLUMB_EFORMAT, "%s:%d: \"%s\" is not a string", path, lineno,
                               key);
                goto done;
            }
            if (!(*dst = strdup(json_string_value(x)))) {
                rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
                goto done;
            }
            kinds += dst != &ln->expect_last;
        } else if (!strcmp(key, "context_error")) {
            if (!json_is_true(x)) {
                rc = plumb_err(err, PLUMB_EFORMAT, "%s:%d: \"context_error\" must be true", path,
                               lineno);
                goto done;
            }
            ln->context_error = 1;
            kinds++;
        } else if (!strcmp(key, "delay_ms")) {
            if (!json_is_integer(x) || json_integer_value(x) < 0 ||
                json_integer_value(x) > 600000) {
                rc = plumb_err(err, PLUMB_EFORMAT,
                               "%s:%d: \"delay_ms\" must be an integer from 0 to 600000", path,
                               lineno);
                goto done;
            }
            ln->delay_ms = (long)json_integer_value(x);
        } else {
            rc = plumb_err(err, PLUMB_EFORMAT, "%s:%d: unknown key \"%s\"", path, lineno, key);
            goto done;
        }
    }
    if (kinds != 1)
        rc = plumb_err(err, PLUMB_EFORMAT,
                       "%s:%d: give exactly one of \"reply\", \"error\" and \"context_error\"",
                       path, lineno);
done:
    json_decref(v);
    return rc;
}

int llm_open_script(PlumbLLM **out, const char *path, PlumbError *err)
{
    ScriptLLM *s = NULL;
    FILE *f = NULL;
    char *data = NULL;
    size_t len = 0, cap = 0, pos, n_alloc = 0;
    int rc, lineno = 0;

    *out = NULL;
    if (!(f = fopen(path, "rb")))
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
    for (;;) {
        size_t got;
        if (cap - len < 65536) {
            char *nd;
            if (cap > SCRIPT_MAX_BYTES) {
                rc = plumb_err(err, PLUMB_ENOMEM, "%s: larger than %u MiB", path,
                               SCRIPT_MAX_BYTES >> 20);
                goto fail;
            }
            cap = cap ? 2 * cap : 65536;
            if (!(nd = realloc(data, cap + 1))) {
                rc = plumb_err(err, PLUMB_ENOMEM, "out of memory reading %s", path);
                goto fail;
            }
            data = nd;
        }
        got = fread(data + len, 1, cap - len, f);
        len += got;
        if (!got)
            break;
    }
    if (ferror(f)) {
        rc = plumb_err(err, PLUMB_EIO, "%s: read error", path);
        goto fail;
    }
    if (!(s = calloc(1, sizeof *s)) || !(s->path = strdup(path))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto fail;
    }
    s->base.ops = &script_ops;
    snprintf(s->base.describe, sizeof s->base.describe, "script %s", path);
    for (pos = 0; pos < len;) {
        const char *nl = memchr(data + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - data) : len, k;
        int blank = 1;
        lineno++;
        for (k = pos; k < end && blank; k++)
            blank = data[k] == ' ' || data[k] == '\t' || data[k] == '\r';
        if (!blank) {
            if (s->n_lines == n_alloc) {
                size_t na = n_alloc ? 2 * n_alloc : 16;
                ScriptLine *nl2 = realloc(s->lines, na * sizeof *nl2);
                if (!nl2) {
                    rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
                    goto fail;
                }
                s->lines = nl2;
                n_alloc = na;
            }
            if ((rc = parse_line(path, lineno, data + pos, end - pos, &s->lines[s->n_lines],
                                 err)) < 0) {
                ScriptLine *bad = &s->lines[s->n_lines];
                free(bad->reply);
                free(bad->error);
                free(bad->expect_last);
                goto fail;
            }
            s->n_lines++;
        }
        pos = end + 1;
    }
    if (!s->n_lines) {
        rc = plumb_err(err, PLUMB_EFORMAT, "%s: no replies in the script", path);
        goto fail;
    }
    fclose(f);
    free(data);
    *out = &s->base;
    return PLUMB_OK;
fail:
    if (f)
        fclose(f);
    free(data);
    if (s)
        script_close(&s->base);
    return rc;
}
