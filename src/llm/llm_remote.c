/*
 * llm_remote.c — the remote backend: an OpenAI-compatible server over
 * libcurl (llm.h; the contract is stated here, where it is implemented).
 *
 * Requests.  `completions` (the default) POSTs {base}/completions with the
 * conversation rendered by llm_render, so the server's model reads the same
 * bytes as the embedded one, with no server-side template or parser.
 * `chat` POSTs {base}/chat/completions with the messages (role and content
 * only, never tools); when the server splits the reasoning out
 * (`reasoning_content`, or `reasoning`), the reply is rebuilt as Qwen3's
 * template renders such a turn: "<think>\n" + reasoning (newlines trimmed)
 * + "\n</think>\n\n" + content (leading newlines trimmed).  Both stream
 * (SSE, sse.h) and ask for usage.  The model name is the caller's, else the
 * first id of GET {base}/models.
 *
 * Stop strings are sent and also enforced here: the text is cut before the
 * first stop string even when the server ignores `stop`, and the transfer
 * is dropped right there (the server sees the client go and stops).  The
 * text callback gets whole UTF-8 characters and never a byte that may turn
 * out to start a stop string; the pieces it gets are always a prefix of
 * the final text, and all of it when the call succeeds.
 *
 * Timeouts: first_byte_timeout_s until the first byte of the body (a long
 * prefill sends nothing), then idle_timeout_s without any byte (keep-alive
 * comments count); no cap on the total.  The abort flag is polled every
 * 25 ms, during transfers and during waits.
 *
 * Retries (max_retries; waits min(backoff_max_s, 2^k + jitter) seconds,
 * or the server's Retry-After, in seconds or as an HTTP date, up to 300 s)
 * on connect and transport errors, timeouts, 408, 429, 5xx, a stream that
 * ends before [DONE] without a finish reason, and an error event that is
 * not a client error.  A retry never shows the callback anything twice:
 *   - completions: the retry continues the reply.  Its prompt is the
 *     rendered conversation plus all the text received so far, so the text
 *     already streamed stays and the new text follows it (the continuation
 *     is what the model would have written after those bytes; only the
 *     presence penalty forgets the earlier part).  max_tokens is reduced by
 *     the chunks received (about one token each).
 *   - chat: a reply cannot be continued there.  A retry starts afresh when
 *     nothing has reached the callback yet; after text did, the call fails
 *     instead (the message says so).
 * Errors that are not retried: a bad URL, TLS verification, 4xx other than
 * 408/429 (the message has the server's text and the URL), bad JSON in the
 * stream.  The server's context-length error (HTTP 400 or an error event:
 * vLLM "maximum context length", llama.cpp "exceeds the available context
 * size", SGLang "longer than the model's context length", OpenAI
 * "context_length_exceeded") is PLUMB_ERANGE.  A stream that ends without
 * [DONE] after a finish reason is accepted (usage may then be missing).
 *
 * Counts: n_prompt, n_generated from the usage event, n_reused from
 * usage.prompt_tokens_details.cached_tokens; without usage, n_generated is
 * the number of text chunks.  After a continuation they are the last
 * attempt's, whose prompt includes the text carried over.  llm_count: with
 * a local tokenizer, exact; else POST /tokenize (vLLM and llama.cpp serve
 * it at the server's root; {base}/tokenize is tried next), exact up to the
 * server's special-token handling; else an estimate of one token per three
 * bytes (high for English, about right for CJK).  max_tokens is clipped to
 * the room left when the context size is known (the caller's n_ctx, else
 * vLLM's max_model_len in /models) and the count is exact.
 *
 * Only CURLOPT_* options are used (any libcurl TLS backend works);
 * certificate verification is always on; the URL comes from the user, so no
 * address guard applies.
 */
#include "config.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "llm_impl.h"

#ifndef PLUMB_HAVE_CURL

int llm_open_remote(PlumbLLM **out, const LlmRemoteParams *p, PlumbError *err)
{
    *out = NULL;
    return plumb_err(err, PLUMB_EUNSUPPORTED,
                     "%s: the remote backend needs libcurl: install libcurl4-openssl-dev and rebuild",
                     p && p->base_url ? p->base_url : "(no URL)");
}

#else

#include <curl/curl.h>
#include <jansson.h>

#include "sse.h"
#include "utf8.h"

#define MAX_REPLY ((size_t)32 << 20)      /* bytes of one reply */
#define MAX_BODY ((size_t)8 << 20)        /* bytes of a non-streamed body */
#define MAX_EVENT ((size_t)16 << 20)      /* bytes of one SSE event */
#define MAX_RETRY_AFTER 300.0             /* seconds */
#define POLL_MS 25

/* ---------------------------------------------------------------- strings */
typedef struct Str {
    char *p;      /* [alloc] bytes, NUL-terminated at len once non-empty */
    size_t len;   /* bytes held */
    size_t alloc; /* bytes allocated */
} Str;

static int str_add(Str *s, const void *d, size_t n, size_t cap)
{
    size_t need;
    if (__builtin_add_overflow(s->len, n, &need) || need > cap)
        return PLUMB_ENOMEM;
    if (need + 1 > s->alloc) {
        size_t a = s->alloc ? s->alloc : 256;
        char *np;
        while (a < need + 1)
            a *= 2;
        np = realloc(s->p, a);
        if (!np)
            return PLUMB_ENOMEM;
        s->p = np;
        s->alloc = a;
    }
    memcpy(s->p + s->len, d, n);
    s->len = need;
    s->p[s->len] = '\0';
    return PLUMB_OK;
}

static const char *str_c(const Str *s) { return s->p ? s->p : ""; }
static void str_free(Str *s) { free(s->p); memset(s, 0, sizeof *s); }

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- backend */
typedef struct Remote {
    PlumbLLM base;
    char *base_url;         /* without a trailing '/' */
    char *model;            /* the model name sent */
    char *api_key;          /* or NULL */
    char *ca_file;          /* or NULL */
    LlmApi api;
    double first_byte_s;    /* seconds to the first body byte */
    double idle_s;          /* seconds without a byte, after the first */
    double backoff_max_s;   /* cap of a computed wait between retries */
    int max_retries;        /* retries after the first attempt */
    size_t n_ctx;           /* tokens of context, 0 = unknown */
    PlumbModel *tokenizer;  /* borrowed, or NULL */
    int tokenize_url;       /* /tokenize: 0 not tried, 1 root, 2 base, -1 none */
    size_t last_len;        /* the last text counted exactly: its bytes, */
    uint64_t last_hash;     /* its FNV-1a hash */
    size_t last_count;      /* and its tokens */
    uint64_t rng;           /* jitter state */
    CURL *h;                /* reused: keeps the connection */
    CURLM *m;
} Remote;

/* The reply being assembled, over all attempts of one call. */
typedef struct Reply {
    Str text;               /* the reply, cut before a stop string once found */
    size_t emitted;         /* bytes of text given to fn */
    int stopped;            /* a stop string was found */
    int cb_stop;            /* fn returned non-zero */
    int think;              /* chat: 0 no reasoning seen, 1 in reasoning, 2 content after it */
    size_t held_nl;         /* chat: reasoning newlines held back (trimmed at the end) */
    size_t n_reasoning;     /* chat: reasoning bytes added */
    size_t n_content;       /* chat: content bytes added after the reasoning */
    size_t n_chunks;        /* text chunks received, all attempts */
    const LlmParams *p;
    LlmTextFn fn;
    void *user;
} Reply;

/* Longest stop string, bytes. */
static size_t max_stop_len(const LlmParams *p)
{
    size_t m = 0;
    for (size_t i = 0; i < p->n_stop; i++)
        if (p->stop[i] && strlen(p->stop[i]) > m)
            m = strlen(p->stop[i]);
    return m;
}

/* Largest e <= n such that text[0..e) ends on a whole UTF-8 character. */
static size_t utf8_floor(const char *t, size_t n)
{
    size_t i = n, k = 0;
    while (i > 0 && k < 4 && ((unsigned char)t[i - 1] & 0xC0) == 0x80) {
        i--;
        k++;
    }
    if (i == 0)
        return n; /* only continuation bytes: not UTF-8, pass on as is */
    {
        int len = utf8_lead_len((unsigned char)t[i - 1]);
        if (len > 1 && (size_t)len > k + 1)
            return i - 1; /* the last character is not complete */
    }
    return n;
}

/* Give fn what is safe: all of it when final, else up to where a stop
 * string could start, on a character boundary. */
static void reply_emit(Reply *r, int final)
{
    size_t safe = r->text.len;
    if (!final && !r->stopped) {
        size_t held = 0;
        for (size_t i = 0; i < r->p->n_stop; i++) {
            const char *s = r->p->stop[i];
            size_t sl = s ? strlen(s) : 0;
            for (size_t k = sl ? sl - 1 : 0; k > held; k--)
                if (k <= r->text.len && !memcmp(r->text.p + r->text.len - k, s, k)) {
                    held = k;
                    break;
                }
        }
        safe -= held;
        safe = utf8_floor(r->text.p, safe);
    }
    if (safe > r->emitted && r->fn && !r->cb_stop) {
        if (r->fn(r->user, r->text.p + r->emitted, safe - r->emitted))
            r->cb_stop = 1;
    }
    if (safe > r->emitted)
        r->emitted = safe;
}

/* Append model text; find a stop string; stream what is safe. */
static int reply_add(Reply *r, const char *s, size_t n)
{
    size_t old = r->text.len, ms = max_stop_len(r->p), from, cut = (size_t)-1;
    if (!n)
        return PLUMB_OK;
    if (r->stopped)
        return PLUMB_OK;
    if (str_add(&r->text, s, n, MAX_REPLY))
        return PLUMB_ENOMEM;
    from = ms && old > ms - 1 ? old - (ms - 1) : 0;
    for (size_t i = 0; i < r->p->n_stop; i++) {
        const char *st = r->p->stop[i];
        size_t sl = st ? strlen(st) : 0;
        const char *hit;
        if (!sl || r->text.len - from < sl)
            continue;
        hit = memmem(r->text.p + from, r->text.len - from, st, sl);
        if (hit && (size_t)(hit - r->text.p) < cut)
            cut = (size_t)(hit - r->text.p);
    }
    if (cut != (size_t)-1) {
        r->text.len = cut;
        r->text.p[cut] = '\0';
        r->stopped = 1;
    }
    reply_emit(r, 0);
    return PLUMB_OK;
}

static int reply_add_s(Reply *r, const char *s) { return reply_add(r, s, strlen(s)); }

/* chat: a reasoning delta. */
static int reply_reasoning(Reply *r, const char *s, size_t n)
{
    int rc;
    size_t tail = 0;
    if (r->think == 0 && r->text.len == 0) {
        if ((rc = reply_add_s(r, "<think>\n")))
            return rc;
        r->think = 1;
    }
    if (r->think != 1) /* reasoning after the content: keep it as text */
        return reply_add(r, s, n);
    if (r->n_reasoning == 0)
        while (n && *s == '\n')
            s++, n--;
    while (tail < n && s[n - 1 - tail] == '\n')
        tail++;
    if (tail == n) {
        if (r->n_reasoning)
            r->held_nl += n;
        return PLUMB_OK;
    }
    for (; r->held_nl; r->held_nl--)
        if ((rc = reply_add(r, "\n", 1)))
            return rc;
    r->n_reasoning += n - tail;
    rc = reply_add(r, s, n - tail);
    r->held_nl = tail;
    return rc;
}

/* chat: a content delta (completions: all text). */
static int reply_content(Reply *r, const char *s, size_t n)
{
    int rc;
    if (r->think == 1) {
        if (n && r->n_content == 0)
            while (n && *s == '\n')
                s++, n--;
        if (!n)
            return PLUMB_OK;
        r->held_nl = 0;
        if ((rc = reply_add_s(r, "\n</think>\n\n")))
            return rc;
        r->think = 2;
    } else if (r->think == 2 && r->n_content == 0) {
        while (n && *s == '\n')
            s++, n--;
    }
    r->n_content += n;
    return reply_add(r, s, n);
}

/* ---------------------------------------------------------------- one request */
typedef struct Attempt {
    Remote *r;
    Reply *rep;             /* NULL for requests that are not generations */
    int stream;             /* an SSE generation */
    SseParser sse;
    long status;            /* HTTP status, 0 until known */
    int is_sse;             /* Content-Type: text/event-stream */
    Str body;               /* a body that is not the stream (errors, JSON) */
    double t_start, t_first, t_last; /* request start, first body byte, last byte */
    int got_body;
    int done;               /* [DONE] seen */
    int finished;           /* a finish reason seen */
    LlmFinish finish;
    int stop_now;           /* stop the transfer: a stop string, the callback, an error */
    int failed;             /* err holds why; fail_retry: worth another attempt */
    int fail_retry;
    int fail_code;
    double retry_after;     /* seconds, -1 when not given */
    int has_usage;
    size_t n_prompt, n_cached, n_completion;
    double t_first_text;    /* when the first text came, 0 before */
    PlumbError *err;
    const char *url;
} Attempt;

static int is_context_error(const char *msg)
{
    static const char *const pats[] = {
        "maximum context length", "context length exceeded", "context_length_exceeded",
        "exceeds the available context size", "exceed_context_size",
        "longer than the model's context length", "longer than the maximum context length",
        "exceeds the model's context length", "context_window_exceeded",
    };
    if (!msg)
        return 0;
    for (size_t i = 0; i < sizeof pats / sizeof pats[0]; i++)
        if (strcasestr(msg, pats[i]))
            return 1;
    return 0;
}

/* The message of an error body: {"error":{"message"}}, {"error":"…"},
 * {"message"}, {"detail"}; else the text itself, shortened.  malloc'd. */
static char *error_message(const char *body, size_t len, long *code)
{
    json_t *j = json_loadb(body, len, 0, NULL), *e, *m = NULL;
    char *out = NULL;
    if (j && json_is_object(j)) {
        e = json_object_get(j, "error");
        if (json_is_object(e)) {
            m = json_object_get(e, "message");
            if (code && json_is_integer(json_object_get(e, "code")))
                *code = (long)json_integer_value(json_object_get(e, "code"));
            if (!json_is_string(m))
                m = json_object_get(e, "type");
        } else if (json_is_string(e)) {
            m = e;
        }
        if (!json_is_string(m))
            m = json_object_get(j, "message");
        if (!json_is_string(m))
            m = json_object_get(j, "detail");
        if (code && !*code && json_is_integer(json_object_get(j, "code")))
            *code = (long)json_integer_value(json_object_get(j, "code"));
        if (json_is_string(m))
            out = strdup(json_string_value(m));
    }
    json_decref(j);
    if (!out) {
        size_t n = len > 300 ? 300 : len;
        n = utf8_floor(body, n);
        out = malloc(n + 4);
        if (out) {
            for (size_t i = 0; i < n; i++)
                out[i] = body[i] == '\n' || body[i] == '\r' ? ' ' : body[i];
            strcpy(out + n, len > n ? "..." : "");
        }
    }
    return out;
}

static void attempt_fail(Attempt *a, int code, int retry, const char *fmt, ...) PLUMB_PRINTF(4, 5);
static void attempt_fail(Attempt *a, int code, int retry, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (a->failed)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    a->failed = 1;
    a->fail_retry = retry;
    a->fail_code = code;
    a->stop_now = 1;
    plumb_err(a->err, code, "%s: %s", a->url, msg);
}

static void take_usage(Attempt *a, json_t *u)
{
    json_t *d;
    if (!json_is_object(u))
        return;
    a->has_usage = 1;
    if (json_is_integer(json_object_get(u, "prompt_tokens")))
        a->n_prompt = (size_t)json_integer_value(json_object_get(u, "prompt_tokens"));
    if (json_is_integer(json_object_get(u, "completion_tokens")))
        a->n_completion = (size_t)json_integer_value(json_object_get(u, "completion_tokens"));
    d = json_object_get(u, "prompt_tokens_details");
    if (json_is_object(d) && json_is_integer(json_object_get(d, "cached_tokens")))
        a->n_cached = (size_t)json_integer_value(json_object_get(d, "cached_tokens"));
}

static void take_finish(Attempt *a, json_t *choice)
{
    json_t *f = json_object_get(choice, "finish_reason");
    const char *fs;
    if (!json_is_string(f))
        return;
    fs = json_string_value(f);
    a->finished = 1;
    if (!strcmp(fs, "length"))
        a->finish = LLM_FINISH_LENGTH;
    else if (json_is_string(json_object_get(choice, "stop_reason")) ||
             json_is_string(json_object_get(choice, "matched_stop")))
        a->finish = LLM_FINISH_STRING;
    else
        a->finish = LLM_FINISH_STOP;
}

/* One choice object, streamed (delta) or whole (message). */
static int take_choice(Attempt *a, json_t *choice, int whole)
{
    Reply *rep = a->rep;
    int rc = 0;
    if (!json_is_object(choice))
        return 0;
    if (a->r->api == LLM_API_COMPLETIONS) {
        json_t *t = json_object_get(choice, "text");
        if (json_is_string(t) && json_string_length(t)) {
            rep->n_chunks++;
            rc = reply_content(rep, json_string_value(t), json_string_length(t));
        }
    } else {
        json_t *d = json_object_get(choice, whole ? "message" : "delta");
        json_t *rs = json_object_get(d, "reasoning_content"), *c = json_object_get(d, "content");
        if (!json_is_string(rs))
            rs = json_object_get(d, "reasoning");
        if (json_is_string(rs) && json_string_length(rs)) {
            rep->n_chunks++;
            rc = reply_reasoning(rep, json_string_value(rs), json_string_length(rs));
        }
        if (!rc && json_is_string(c) && json_string_length(c)) {
            rep->n_chunks++;
            rc = reply_content(rep, json_string_value(c), json_string_length(c));
        }
    }
    if (rc) {
        attempt_fail(a, PLUMB_ENOMEM, 0, "the reply is longer than %zu bytes", MAX_REPLY);
        return -1;
    }
    if (!a->t_first_text && rep->text.len)
        a->t_first_text = now_s();
    take_finish(a, choice);
    return 0;
}

/* An error object from the stream or a non-streamed body. */
static void take_error(Attempt *a, json_t *e, const char *raw, size_t raw_len)
{
    long code = 0;
    char *msg = error_message(raw, raw_len, &code);
    (void)e;
    if (is_context_error(msg))
        attempt_fail(a, PLUMB_ERANGE, 0, "the conversation does not fit the model's context: %s",
                     msg ? msg : "");
    else
        attempt_fail(a, PLUMB_EIO, code == 0 || code >= 500 || code == 429 || code == 408,
                     "error from the server%s: %s", a->t_first_text ? " mid-stream" : "",
                     msg ? msg : "(no message)");
    free(msg);
}

/* A parsed generation object: a stream chunk or a whole response. */
static int take_object(Attempt *a, const char *data, size_t len, int whole)
{
    json_error_t je;
    json_t *j = json_loadb(data, len, 0, &je), *ch;
    if (!j || !json_is_object(j)) {
        attempt_fail(a, PLUMB_EFORMAT, 0, "bad JSON from the server (line %d, column %d): %s",
                     j ? 1 : je.line, j ? 1 : je.column, j ? "not an object" : je.text);
        json_decref(j);
        return -1;
    }
    if ((json_object_get(j, "error") && !json_is_null(json_object_get(j, "error"))) ||
        (json_is_string(json_object_get(j, "object")) &&
         !strcmp(json_string_value(json_object_get(j, "object")), "error"))) { /* vLLM's older form */
        take_error(a, json_object_get(j, "error"), data, len);
        json_decref(j);
        return -1;
    }
    ch = json_object_get(j, "choices");
    if (json_is_array(ch) && json_array_size(ch) > 0 && take_choice(a, json_array_get(ch, 0), whole)) {
        json_decref(j);
        return -1;
    }
    take_usage(a, json_object_get(j, "usage"));
    json_decref(j);
    return 0;
}

static int on_event(void *user, const char *name, const char *data, size_t len)
{
    Attempt *a = user;
    (void)name;
    if (len == 6 && !memcmp(data, "[DONE]", 6)) {
        a->done = 1;
        return 1;
    }
    if (take_object(a, data, len, 0))
        return -1;
    if (a->rep->stopped) {
        a->finish = LLM_FINISH_STRING;
        a->finished = 1;
        a->stop_now = 1;
        return 1;
    }
    if (a->rep->cb_stop) {
        a->finish = LLM_FINISH_ABORTED;
        a->finished = 1;
        a->stop_now = 1;
        return 1;
    }
    return 0;
}

static size_t on_header(char *buf, size_t size, size_t n, void *user)
{
    Attempt *a = user;
    size_t len = size * n;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) { /* a new response (after a 100) */
        a->is_sse = 0;
        a->retry_after = -1;
    } else if (len > 13 && !strncasecmp(buf, "content-type:", 13)) {
        char v[128];
        size_t k = len - 13 < sizeof v - 1 ? len - 13 : sizeof v - 1;
        memcpy(v, buf + 13, k);
        v[k] = '\0';
        a->is_sse = strcasestr(v, "text/event-stream") != NULL;
    } else if (len > 12 && !strncasecmp(buf, "retry-after:", 12)) {
        char v[128], *e;
        size_t k = len - 12 < sizeof v - 1 ? len - 12 : sizeof v - 1;
        double s;
        memcpy(v, buf + 12, k);
        v[k] = '\0';
        while (k && (v[k - 1] == '\r' || v[k - 1] == '\n' || v[k - 1] == ' '))
            v[--k] = '\0';
        s = strtod(v, &e);
        if (e != v && *e == '\0' && s >= 0 && isfinite(s)) {
            a->retry_after = s;
        } else {
            time_t t = curl_getdate(v + strspn(v, " \t"), NULL);
            if (t != (time_t)-1) {
                double d = difftime(t, time(NULL));
                a->retry_after = d > 0 ? d : 0;
            }
        }
    }
    a->t_last = now_s();
    return len;
}

static size_t on_write(char *buf, size_t size, size_t n, void *user)
{
    Attempt *a = user;
    size_t len = size * n;
    int rc;
    a->t_last = now_s();
    if (!a->got_body) {
        a->got_body = 1;
        a->t_first = a->t_last;
    }
    if (!a->status)
        curl_easy_getinfo(a->r->h, CURLINFO_RESPONSE_CODE, &a->status);
    if (a->stop_now)
        return 0;
    if (a->done)
        return len; /* after [DONE]: let the response end so the connection is kept */
    if (!(a->stream && a->status == 200 && a->is_sse)) {
        if (str_add(&a->body, buf, len, MAX_BODY)) {
            if (a->status == 200) {
                attempt_fail(a, PLUMB_ENOMEM, 0, "the response is longer than %zu bytes", MAX_BODY);
                return 0;
            }
            return len; /* an error body: its start is enough */
        }
        return len;
    }
    rc = sse_feed(&a->sse, buf, len, on_event, a, a->err);
    if (rc < 0) {
        if (!a->failed) {
            plumb_err_prefix(a->err, a->url);
            a->failed = 1;
            a->fail_code = rc;
        }
        a->stop_now = 1;
        return 0;
    }
    return a->stop_now ? 0 : len;
}

/* Wait s seconds, or until the abort flag: returns 1 when aborted. */
static int wait_s(double s, const volatile int *abort_flag)
{
    double end = now_s() + s;
    for (;;) {
        double left = end - now_s();
        struct timespec ts;
        if (abort_flag && *abort_flag)
            return 1;
        if (left <= 0)
            return 0;
        if (left > POLL_MS * 1e-3)
            left = POLL_MS * 1e-3;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1e9);
        nanosleep(&ts, NULL);
    }
}

/* Run one request to its end, a timeout, the abort flag or our own stop.
 * Returns 1 when aborted, else 0 with the outcome in a (a->failed says). */
static int perform(Attempt *a, const char *url, const char *body, const volatile int *abort_flag)
{
    Remote *r = a->r;
    struct curl_slist *hdr = NULL;
    char auth[1100], cerr[CURL_ERROR_SIZE] = "";
    CURLcode cc = CURLE_OK;
    int running = 1, aborted = 0, timed_out = 0, done = 0;
    double conn_s = r->first_byte_s < 30 ? r->first_byte_s : 30;

    a->url = url;
    a->retry_after = -1;
    a->t_start = a->t_last = now_s();
    curl_easy_reset(r->h);
    hdr = curl_slist_append(hdr, "Content-Type: application/json");
    hdr = curl_slist_append(hdr, a->stream ? "Accept: text/event-stream" : "Accept: application/json");
    hdr = curl_slist_append(hdr, "Expect:");
    if (r->api_key) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", r->api_key);
        hdr = curl_slist_append(hdr, auth);
    }
    if (!hdr) {
        attempt_fail(a, PLUMB_ENOMEM, 0, "out of memory");
        return 0;
    }
    curl_easy_setopt(r->h, CURLOPT_URL, url);
    curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, hdr);
    if (body) {
        curl_easy_setopt(r->h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(r->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    } else {
        curl_easy_setopt(r->h, CURLOPT_HTTPGET, 1L);
    }
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(r->h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(r->h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    curl_easy_setopt(r->h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(r->h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(r->h, CURLOPT_CONNECTTIMEOUT_MS, (long)(conn_s * 1000) + 1);
    curl_easy_setopt(r->h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(r->h, CURLOPT_SSL_VERIFYHOST, 2L);
    if (r->ca_file)
        curl_easy_setopt(r->h, CURLOPT_CAINFO, r->ca_file);
    curl_easy_setopt(r->h, CURLOPT_USERAGENT, "plumb/" PACKAGE_VERSION);
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(r->h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(r->h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(r->h, CURLOPT_HEADERDATA, a);
    if (curl_multi_add_handle(r->m, r->h) != CURLM_OK) {
        curl_slist_free_all(hdr);
        attempt_fail(a, PLUMB_EIO, 0, "libcurl could not start the request");
        return 0;
    }
    while (running) {
        CURLMsg *msg;
        int left;
        double t;
        if (curl_multi_perform(r->m, &running) != CURLM_OK)
            break;
        while ((msg = curl_multi_info_read(r->m, &left)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == r->h) {
                cc = msg->data.result;
                done = 1;
            }
        if (done || !running)
            break;
        if (abort_flag && *abort_flag) {
            aborted = 1;
            break;
        }
        t = now_s();
        if (!a->got_body ? t - a->t_start > r->first_byte_s : t - a->t_last > r->idle_s) {
            timed_out = 1;
            break;
        }
#if LIBCURL_VERSION_NUM >= 0x074200
        curl_multi_poll(r->m, NULL, 0, POLL_MS, NULL);
#else
        curl_multi_wait(r->m, NULL, 0, POLL_MS, NULL);
#endif
    }
    curl_multi_remove_handle(r->m, r->h);
    curl_easy_setopt(r->h, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(hdr);
    if (!a->status)
        curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &a->status);
    if (aborted)
        return 1;
    if (a->failed)
        return 0;
    if (timed_out) {
        if (!a->got_body)
            attempt_fail(a, PLUMB_EIO, 1, "no reply within %g s (first-byte timeout)", r->first_byte_s);
        else
            attempt_fail(a, PLUMB_EIO, 1, "no data for %g s (idle timeout)", r->idle_s);
        return 0;
    }
    if (cc != CURLE_OK && !(cc == CURLE_WRITE_ERROR && a->stop_now)) {
        int retry;
        switch (cc) {
        case CURLE_UNSUPPORTED_PROTOCOL: case CURLE_URL_MALFORMAT:
        case CURLE_PEER_FAILED_VERIFICATION: case CURLE_SSL_CACERT_BADFILE:
        case CURLE_SSL_CERTPROBLEM: case CURLE_OUT_OF_MEMORY: case CURLE_FILESIZE_EXCEEDED:
            retry = 0;
            break;
        default:
            retry = 1;
        }
        attempt_fail(a, PLUMB_EIO, retry, "%s", cerr[0] ? cerr : curl_easy_strerror(cc));
    }
    return 0;
}

/* After perform: judge the HTTP status and the body of a request that did
 * not fail in transport.  Generations also judge the stream's end. */
static void judge(Attempt *a)
{
    if (a->failed || a->stop_now)
        return;
    if (a->status != 200) {
        long code = 0;
        char *msg = error_message(str_c(&a->body), a->body.len, &code);
        int retry = a->status == 408 || a->status == 429 || a->status >= 500 || a->status == 0;
        if (a->status == 400 || a->status == 413 || a->status == 422 || a->status == 500) {
            if (is_context_error(msg)) {
                attempt_fail(a, PLUMB_ERANGE, 0, "the conversation does not fit the model's context: %s",
                             msg ? msg : "");
                free(msg);
                return;
            }
        }
        attempt_fail(a, a->status == 404 ? PLUMB_EUNSUPPORTED : PLUMB_EIO, retry, "HTTP %ld: %s",
                     a->status, msg && *msg ? msg : "(no message)");
        free(msg);
        return;
    }
    if (!a->rep)
        return;
    if (a->stream && a->is_sse) {
        if (sse_finish(&a->sse) && !a->done && !a->finished)
            attempt_fail(a, PLUMB_EIO, 1, "the stream broke off inside an event");
        else if (!a->done && !a->finished)
            attempt_fail(a, PLUMB_EIO, 1, "the stream ended before [DONE]");
        return;
    }
    /* the server answered with one JSON object instead of a stream */
    if (take_object(a, str_c(&a->body), a->body.len, 1))
        return;
    if (!a->finished) {
        a->finished = 1;
        a->finish = LLM_FINISH_STOP;
    }
    if (a->rep->stopped)
        a->finish = LLM_FINISH_STRING;
}

static void attempt_init(Attempt *a, Remote *r, Reply *rep, int stream, PlumbError *err)
{
    memset(a, 0, sizeof *a);
    a->r = r;
    a->rep = rep;
    a->stream = stream;
    a->err = err;
    a->retry_after = -1;
    sse_init(&a->sse, MAX_EVENT);
}

static void attempt_free(Attempt *a)
{
    sse_free(&a->sse);
    str_free(&a->body);
}

static double backoff(Remote *r, int k, double retry_after)
{
    double d, j;
    if (retry_after >= 0)
        return retry_after < MAX_RETRY_AFTER ? retry_after : MAX_RETRY_AFTER;
    r->rng ^= r->rng << 13;
    r->rng ^= r->rng >> 7;
    r->rng ^= r->rng << 17;
    j = (double)(r->rng >> 11) / 9007199254740992.0;
    d = ldexp(1.0, k < 30 ? k : 30) + j;
    return d < r->backoff_max_s ? d : r->backoff_max_s;
}

/* A simple request (GET when body is NULL) with retries; the body of a 200
 * in *out (malloc'd, NUL-terminated).  *status: the last HTTP status, 0
 * when none came. */
static int request_json(Remote *r, const char *url, const char *body, int retries, char **out,
                        size_t *out_len, long *status, PlumbError *err)
{
    for (int k = 0;; k++) {
        Attempt a;
        attempt_init(&a, r, NULL, 0, err);
        perform(&a, url, body, NULL);
        judge(&a);
        *status = a.status;
        if (!a.failed) {
            *out = a.body.p ? a.body.p : strdup("");
            *out_len = a.body.len;
            a.body.p = NULL;
            attempt_free(&a);
            return *out ? PLUMB_OK : plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", url);
        }
        if (!a.fail_retry || k >= retries) {
            int code = a.fail_code;
            if (a.fail_retry && k > 0) {
                char tail[64];
                snprintf(tail, sizeof tail, " (gave up after %d attempts)", k + 1);
                if (err && strlen(err->msg) + strlen(tail) < sizeof err->msg)
                    strcat(err->msg, tail);
            }
            attempt_free(&a);
            return code;
        }
        wait_s(backoff(r, k, a.retry_after), NULL);
        attempt_free(&a);
    }
}

static char *join_url(const char *base, const char *path)
{
    size_t n = strlen(base) + strlen(path) + 1;
    char *u = malloc(n);
    if (u)
        snprintf(u, n, "%s%s", base, path);
    return u;
}

/* GET /models: the model name when none was given, and max_model_len. */
static int ask_models(Remote *r, int need_name, PlumbError *err)
{
    char *url = join_url(r->base_url, "/models"), *body = NULL;
    size_t len = 0;
    json_t *j = NULL, *data, *pick = NULL;
    PlumbError tmp = { 0 };
    long status = 0;
    int rc;
    if (!url)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    rc = request_json(r, url, NULL, need_name ? r->max_retries : 0, &body, &len, &status,
                      need_name ? err : &tmp);
    if (rc) {
        free(url);
        return need_name ? rc : PLUMB_OK; /* a known name: the context size stays unknown */
    }
    j = json_loadb(body, len, 0, NULL);
    data = json_object_get(j, "data");
    for (size_t i = 0; json_is_array(data) && i < json_array_size(data); i++) {
        json_t *m = json_array_get(data, i);
        const char *id = json_string_value(json_object_get(m, "id"));
        if (!id)
            continue;
        if (need_name || !strcmp(id, r->model)) {
            pick = m;
            break;
        }
    }
    if (need_name) {
        if (!pick) {
            rc = plumb_err(err, PLUMB_EFORMAT, "%s: no model listed (give the model name)", url);
            goto done;
        }
        r->model = strdup(json_string_value(json_object_get(pick, "id")));
        if (!r->model) {
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (!r->n_ctx && pick && json_is_integer(json_object_get(pick, "max_model_len")) &&
        json_integer_value(json_object_get(pick, "max_model_len")) > 0)
        r->n_ctx = (size_t)json_integer_value(json_object_get(pick, "max_model_len"));
done:
    json_decref(j);
    free(body);
    free(url);
    return rc;
}

/* ---------------------------------------------------------------- counting */
/* Tokens of text: local tokenizer, else /tokenize, else *exact = 0 and an
 * estimate. */
static int count_text(Remote *r, const char *text, size_t len, size_t *n, int *exact, PlumbError *err)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 0x100000001b3ull;
    /* llm_count and then llm_generate on the same messages: one count */
    if (r->last_len == len && r->last_hash == h && len) {
        *n = r->last_count;
        *exact = 1;
        return PLUMB_OK;
    }
    if (r->tokenizer) {
        int32_t *ids = NULL;
        size_t k = 0;
        int rc = plumb_tokenize(r->tokenizer, text, len, PLUMB_TOK_SPECIAL, &ids, &k, err);
        free(ids);
        if (rc)
            return rc;
        *n = k;
        *exact = 1;
        r->last_len = len;
        r->last_hash = h;
        r->last_count = k;
        return PLUMB_OK;
    }
    while (r->tokenize_url >= 0 && r->tokenize_url < 3) {
        size_t bl = strlen(r->base_url), rl = bl;
        char *url, *body, *resp = NULL;
        size_t resp_len = 0;
        json_t *req, *j;
        PlumbError tmp = { 0 };
        long status = 0;
        int rc, which = r->tokenize_url ? r->tokenize_url : 1;
        if (which == 1) {
            if (bl >= 3 && !strcmp(r->base_url + bl - 3, "/v1"))
                rl = bl - 3;
            else
                which = 2;
        }
        url = malloc(bl + 16);
        if (!url)
            return plumb_err(err, PLUMB_ENOMEM, "out of memory");
        snprintf(url, bl + 16, "%.*s/tokenize", (int)(which == 1 ? rl : bl), r->base_url);
        req = json_pack("{s:s, s:s%, s:s%}", "model", r->model, "prompt", text, len, "content", text, len);
        body = req ? json_dumps(req, JSON_COMPACT) : NULL;
        json_decref(req);
        if (!body) {
            free(url);
            return plumb_err(err, PLUMB_EINVAL, "the prompt is not valid UTF-8");
        }
        rc = request_json(r, url, body, 0, &resp, &resp_len, &status, &tmp);
        free(body);
        free(url);
        if (rc && (status == 0 || status >= 500)) {
            break; /* the server is not reachable now: estimate this once */
        } else if (rc) {
            /* not served here: try the next place, or give up on it */
            r->tokenize_url = which == 1 ? 2 : -1;
            free(resp);
            continue;
        }
        j = json_loadb(resp, resp_len, 0, NULL);
        free(resp);
        if (json_is_integer(json_object_get(j, "count"))) {
            *n = (size_t)json_integer_value(json_object_get(j, "count"));
        } else if (json_is_array(json_object_get(j, "tokens"))) {
            *n = json_array_size(json_object_get(j, "tokens"));
        } else {
            json_decref(j);
            r->tokenize_url = which == 1 ? 2 : -1;
            continue;
        }
        json_decref(j);
        r->tokenize_url = which;
        *exact = 1;
        r->last_len = len;
        r->last_hash = h;
        r->last_count = *n;
        return PLUMB_OK;
    }
    *n = (len + 2) / 3;
    *exact = 0;
    return PLUMB_OK;
}

static int remote_count(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, size_t *n_tokens,
                        PlumbError *err)
{
    Remote *r = (Remote *)l;
    char *text = NULL;
    int exact, rc = llm_render(msgs, n, &text, err);
    if (rc)
        return rc;
    rc = count_text(r, text, strlen(text), n_tokens, &exact, err);
    free(text);
    return rc;
}

static size_t remote_context_size(PlumbLLM *l)
{
    return ((Remote *)l)->n_ctx;
}

/* ---------------------------------------------------------------- generation */
static json_t *json_num(double v)
{
    char b[32];
    snprintf(b, sizeof b, "%.6g", v); /* 0.6f is sent as 0.6, not 0.60000002 */
    return json_real(strtod(b, NULL));
}

/* The request body; prefix (completions: text carried over) follows the
 * rendered prompt. */
static char *build_body(Remote *r, const char *prompt, const Str *carry, const PlumbChatMsg *msgs,
                        size_t n, const LlmParams *p, int32_t max_tokens, PlumbError *err)
{
    json_t *o = json_object(), *stop = json_array(), *so = json_object();
    char *body = NULL;
    int bad = !o || !stop || !so;
    if (!bad && r->api == LLM_API_COMPLETIONS) {
        size_t pl = strlen(prompt), tot = pl + carry->len;
        char *full = malloc(tot + 1);
        json_t *s;
        if (!full) {
            bad = 1;
        } else {
            memcpy(full, prompt, pl);
            if (carry->len)
                memcpy(full + pl, carry->p, carry->len);
            full[tot] = '\0';
            s = json_stringn(full, tot);
            free(full);
            if (!s) {
                plumb_err(err, PLUMB_EINVAL, "%s: the prompt is not valid UTF-8", r->base_url);
                goto fail;
            }
            bad |= json_object_set_new(o, "prompt", s);
        }
    } else if (!bad) {
        json_t *arr = json_array();
        bad = !arr;
        for (size_t i = 0; !bad && i < n; i++) {
            json_t *m = json_pack("{s:s, s:s}", "role", msgs[i].role, "content", msgs[i].content);
            if (!m) {
                json_decref(arr);
                plumb_err(err, PLUMB_EINVAL, "%s: message %zu is not valid UTF-8", r->base_url, i);
                goto fail;
            }
            bad |= json_array_append_new(arr, m);
        }
        bad |= json_object_set_new(o, "messages", arr);
    }
    for (size_t i = 0; !bad && i < p->n_stop; i++) {
        json_t *s;
        if (!p->stop[i] || !p->stop[i][0])
            continue;
        if (!(s = json_string(p->stop[i]))) {
            plumb_err(err, PLUMB_EINVAL, "stop string %zu is not valid UTF-8", i);
            goto fail;
        }
        bad |= json_array_append_new(stop, s);
    }
    if (bad)
        goto oom;
    bad |= json_object_set_new(o, "model", json_string(r->model));
    bad |= json_object_set_new(o, "max_tokens", json_integer(max_tokens));
    bad |= json_object_set_new(o, "temperature", json_num(p->temperature));
    bad |= json_object_set_new(o, "top_p", json_num(p->top_p));
    bad |= json_object_set_new(o, "presence_penalty", json_num(p->presence_penalty));
    if (json_array_size(stop))
        bad |= json_object_set(o, "stop", stop);
    if (p->has_seed) /* servers take a signed 64-bit seed */
        bad |= json_object_set_new(o, "seed", json_integer((json_int_t)(p->seed & INT64_MAX)));
    bad |= json_object_set_new(o, "stream", json_true());
    bad |= json_object_set_new(so, "include_usage", json_true());
    bad |= json_object_set(o, "stream_options", so);
    if (bad)
        goto oom;
    body = json_dumps(o, JSON_COMPACT);
    if (!body)
        goto oom;
    json_decref(o);
    json_decref(stop);
    json_decref(so);
    return body;
oom:
    plumb_err(err, PLUMB_ENOMEM, "out of memory");
fail:
    json_decref(o);
    json_decref(stop);
    json_decref(so);
    return NULL;
}

static int remote_generate(PlumbLLM *l, const PlumbChatMsg *msgs, size_t n, const LlmParams *p,
                           LlmTextFn fn, void *user, LlmResult *res, PlumbError *err)
{
    Remote *r = (Remote *)l;
    Reply rep;
    char *prompt = NULL, *url = NULL, *body = NULL;
    int rc = PLUMB_OK, k;
    int32_t max_tokens = p->max_tokens > 0 ? p->max_tokens : 10000;
    double t0 = now_s(), t_first = 0;
    Attempt a;
    int have_a = 0;

    memset(&rep, 0, sizeof rep);
    rep.p = p;
    rep.fn = fn;
    rep.user = user;
    url = join_url(r->base_url, r->api == LLM_API_COMPLETIONS ? "/completions" : "/chat/completions");
    if (!url)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    if ((rc = llm_render(msgs, n, &prompt, err)))
        goto fail;
    if (r->n_ctx) { /* clip max_tokens to the room left, when the count is exact */
        size_t np = 0;
        int exact = 0;
        if ((rc = count_text(r, prompt, strlen(prompt), &np, &exact, err)))
            goto fail;
        if (exact && np >= r->n_ctx) {
            rc = plumb_err(err, PLUMB_ERANGE, "%s: the conversation (%zu tokens) does not fit the context (%zu)",
                           url, np, r->n_ctx);
            goto fail;
        }
        if (exact && (size_t)max_tokens > r->n_ctx - np)
            max_tokens = (int32_t)(r->n_ctx - np);
    }
    for (k = 0;; k++) {
        int32_t mt = max_tokens;
        if (r->api == LLM_API_COMPLETIONS && rep.n_chunks) {
            if (rep.n_chunks >= (size_t)max_tokens) { /* the budget was used up before the break */
                memset(&a, 0, sizeof a);
                a.finished = 1;
                a.finish = LLM_FINISH_LENGTH;
                have_a = 0;
                break;
            }
            mt = max_tokens - (int32_t)rep.n_chunks;
        }
        free(body);
        body = build_body(r, prompt, &rep.text, msgs, n, p, mt, err);
        if (!body) {
            rc = err && err->code ? err->code : PLUMB_ENOMEM;
            goto fail;
        }
        attempt_init(&a, r, &rep, 1, err);
        have_a = 1;
        if (perform(&a, url, body, p->abort_flag)) {
            a.finished = 1;
            a.finish = LLM_FINISH_ABORTED;
            break;
        }
        judge(&a);
        if (!a.failed)
            break;
        if (!a.fail_retry || k >= (r->max_retries > 0 ? r->max_retries : 0)) {
            rc = a.fail_code ? a.fail_code : PLUMB_EIO;
            if (a.fail_retry && k > 0) {
                char tail[64];
                snprintf(tail, sizeof tail, " (gave up after %d attempts)", k + 1);
                if (err && strlen(err->msg) + strlen(tail) < sizeof err->msg)
                    strcat(err->msg, tail);
            }
            goto fail;
        }
        if (r->api == LLM_API_CHAT) {
            if (rep.emitted) {
                plumb_err_prefix(err, "the chat API cannot continue a reply already streamed, so it was not retried");
                rc = a.fail_code ? a.fail_code : PLUMB_EIO;
                goto fail;
            }
            rep.text.len = 0;
            rep.think = 0;
            rep.held_nl = rep.n_reasoning = rep.n_content = 0;
            rep.stopped = 0;
            rep.n_chunks = 0;
        }
        if (wait_s(backoff(r, k, a.retry_after), p->abort_flag)) {
            attempt_free(&a);
            memset(&a, 0, sizeof a);
            have_a = 0;
            a.finished = 1;
            a.finish = LLM_FINISH_ABORTED;
            break;
        }
        attempt_free(&a);
        have_a = 0;
    }
    plumb_err_clear(err);
    /* chat: the reasoning with no content after it, on a normal end */
    if (r->api == LLM_API_CHAT && rep.think == 1 && a.finish == LLM_FINISH_STOP && !rep.stopped)
        reply_add_s(&rep, "\n</think>\n\n");
    if (rep.stopped)
        a.finish = LLM_FINISH_STRING;
    else if (rep.cb_stop)
        a.finish = LLM_FINISH_ABORTED;
    reply_emit(&rep, 1);
    t_first = a.t_first_text ? a.t_first_text : now_s();
    res->finish = a.finish;
    res->n_prompt = a.n_prompt;
    res->n_reused = a.n_cached;
    res->n_evaluated = a.n_prompt > a.n_cached ? a.n_prompt - a.n_cached : 0;
    res->n_generated = a.has_usage ? a.n_completion : rep.n_chunks;
    res->prompt_seconds = t_first - t0;
    res->gen_seconds = now_s() - t_first;
    res->text_len = rep.text.len;
    res->text = rep.text.p ? rep.text.p : strdup("");
    rep.text.p = NULL;
    if (!res->text) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto fail;
    }
    rc = PLUMB_OK;
fail:
    if (have_a)
        attempt_free(&a);
    str_free(&rep.text);
    free(prompt);
    free(url);
    free(body);
    return rc;
}

/* ---------------------------------------------------------------- open, close */
static void remote_close(PlumbLLM *l)
{
    Remote *r = (Remote *)l;
    if (!r)
        return;
    if (r->m)
        curl_multi_cleanup(r->m);
    if (r->h)
        curl_easy_cleanup(r->h);
    if (r->m || r->h)
        curl_global_cleanup();
    free(r->base_url);
    free(r->model);
    free(r->api_key);
    free(r->ca_file);
    free(r);
}

static const LlmOps remote_ops = {
    .generate = remote_generate,
    .count = remote_count,
    .context_size = remote_context_size,
    .close = remote_close,
};

int llm_open_remote(PlumbLLM **out, const LlmRemoteParams *p, PlumbError *err)
{
    Remote *r = NULL;
    size_t bl;
    int rc, bad = 0;

    *out = NULL;
    if (!p || !p->base_url || !p->base_url[0])
        return plumb_err(err, PLUMB_EINVAL, "remote backend: no URL");
    if (strncasecmp(p->base_url, "http://", 7) && strncasecmp(p->base_url, "https://", 8))
        return plumb_err(err, PLUMB_EINVAL, "%s: the backend URL must start with http:// or https://",
                         p->base_url);
    r = calloc(1, sizeof *r);
    if (!r)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    r->base.ops = &remote_ops;
    r->base_url = strdup(p->base_url);
    r->model = dup_or_null(p->model_name, &bad);
    r->api_key = dup_or_null(p->api_key, &bad);
    r->ca_file = dup_or_null(p->ca_file, &bad);
    if (!r->base_url || bad) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto fail;
    }
    bl = strlen(r->base_url);
    while (bl > 0 && r->base_url[bl - 1] == '/')
        r->base_url[--bl] = '\0';
    if (r->api_key && strpbrk(r->api_key, "\r\n")) {
        rc = plumb_err(err, PLUMB_EINVAL, "%s: the API key holds a line break", p->base_url);
        goto fail;
    }
    r->api = p->api;
    r->first_byte_s = p->first_byte_timeout_s > 0 ? p->first_byte_timeout_s : 600;
    r->idle_s = p->idle_timeout_s > 0 ? p->idle_timeout_s : 120;
    r->backoff_max_s = p->backoff_max_s > 0 ? p->backoff_max_s : 30;
    r->max_retries = p->max_retries == 0 ? 10 : p->max_retries < 0 ? 0 : p->max_retries;
    r->n_ctx = p->n_ctx;
    r->tokenizer = p->tokenizer;
    r->rng = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ull ^ (uint64_t)getpid() ^ (uintptr_t)r;
    if (!r->rng)
        r->rng = 1;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        rc = plumb_err(err, PLUMB_EIO, "%s: libcurl could not be initialised", p->base_url);
        goto fail;
    }
    r->h = curl_easy_init();
    r->m = curl_multi_init();
    if (!r->h || !r->m) {
        if (!r->h && !r->m)
            curl_global_cleanup();
        rc = plumb_err(err, PLUMB_ENOMEM, "%s: libcurl could not make a handle", p->base_url);
        goto fail;
    }
    if ((rc = ask_models(r, r->model == NULL, err)))
        goto fail;
    snprintf(r->base.describe, sizeof r->base.describe, "%s (model %s, api %s)", r->base_url, r->model,
             r->api == LLM_API_CHAT ? "chat" : "completions");
    *out = &r->base;
    return PLUMB_OK;
fail:
    remote_close(&r->base);
    return rc;
}

#endif
