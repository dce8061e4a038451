/*
 * chat.c — Qwen3 ChatML rendering and reply parsing (see chat.h).
 *
 * A growing string builder collects the output; the first failed
 * allocation sticks, so the rendering code appends without checking and the
 * end reports PLUMB_ENOMEM once.  Sizes are checked for overflow.  JSON is
 * read and written through jansson; the tools block needs Python's
 * json.dumps layout (what Jinja2's tojson calls), which jansson's encoder
 * cannot produce, so that serialiser walks jansson values here.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "chat.h"
#include "err.h"

typedef struct Buf {
    char *p;    /* NUL-terminated output, malloc'd */
    size_t n;   /* bytes used, excluding the NUL */
    size_t cap; /* bytes allocated */
    int failed; /* an allocation failed or a size overflowed */
} Buf;

static void put(Buf *b, const char *s, size_t len)
{
    uint64_t need;
    if (b->failed)
        return;
    if (plumb_add_overflow(b->n, (uint64_t)len + 1, &need) || need > SIZE_MAX) {
        b->failed = 1;
        return;
    }
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        char *np;
        while (cap < need)
            cap = cap > SIZE_MAX / 2 ? (size_t)need : cap * 2;
        np = realloc(b->p, cap);
        if (!np) {
            b->failed = 1;
            return;
        }
        b->p = np;
        b->cap = cap;
    }
    if (len)
        memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void puts_(Buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A span of text. */
typedef struct Span {
    const char *s; /* start */
    size_t len;    /* bytes */
} Span;

static Span span_of(const char *s)
{
    Span x = { s, strlen(s) };
    return x;
}

static Span strip_nl_left(Span x)
{
    while (x.len && x.s[0] == '\n')
        x.s++, x.len--;
    return x;
}

static Span strip_nl_right(Span x)
{
    while (x.len && x.s[x.len - 1] == '\n')
        x.len--;
    return x;
}

static int blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static Span strip_blank(Span x)
{
    while (x.len && blank(x.s[0]))
        x.s++, x.len--;
    while (x.len && blank(x.s[x.len - 1]))
        x.len--;
    return x;
}

/* Position of the first / last occurrence of pat in x, or NULL.  Never
 * reads outside x. */
static const char *find_first(Span x, const char *pat)
{
    size_t m = strlen(pat), i;
    for (i = 0; i + m <= x.len; i++)
        if (x.s[i] == pat[0] && memcmp(x.s + i, pat, m) == 0)
            return x.s + i;
    return NULL;
}

static const char *find_last(Span x, const char *pat)
{
    size_t m = strlen(pat), i;
    if (m > x.len)
        return NULL;
    for (i = x.len - m + 1; i-- > 0;)
        if (memcmp(x.s + i, pat, m) == 0)
            return x.s + i;
    return NULL;
}

static int starts_with(Span x, const char *pre)
{
    size_t m = strlen(pre);
    return x.len >= m && memcmp(x.s, pre, m) == 0;
}

static int ends_with(Span x, const char *suf)
{
    size_t m = strlen(suf);
    return x.len >= m && memcmp(x.s + x.len - m, suf, m) == 0;
}

/* Split text the way the template splits assistant content: the answer
 * follows the last </think> (leading newlines dropped), the reasoning is what
 * lies between the last <think> and the first </think> (leading newlines
 * dropped; the trailing ones too, before looking for <think>).  Returns 0
 * (all answer, reasoning empty) when there is no </think>. */
static int split_think(Span all, Span *answer, Span *reason)
{
    const char *first = find_first(all, "</think>"), *open;
    Span before;
    reason->s = all.s;
    reason->len = 0;
    *answer = all;
    if (!first)
        return 0;
    {
        const char *last = find_last(all, "</think>") + strlen("</think>");
        answer->s = last;
        answer->len = (size_t)(all.s + all.len - last);
        *answer = strip_nl_left(*answer);
    }
    before.s = all.s;
    before.len = (size_t)(first - all.s);
    before = strip_nl_right(before);
    open = find_last(before, "<think>");
    if (open) {
        const char *from = open + strlen("<think>");
        before.len -= (size_t)(from - before.s);
        before.s = from;
    }
    *reason = strip_nl_left(before);
    return 1;
}

/* ------------------------------------------------------------------ tojson */

static void put_u16(Buf *b, unsigned u)
{
    char e[16];
    snprintf(e, sizeof e, "\\u%04x", u & 0xFFFFu);
    put(b, e, 6);
}

/* A JSON string as Python's json.dumps writes it with ensure_ascii, then
 * with Jinja2's tojson replacements of < > & '.  s is valid UTF-8 (jansson
 * checked it). */
static void put_pystr(Buf *b, const char *s, size_t n)
{
    size_t i = 0;
    put(b, "\"", 1);
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        unsigned cp;
        size_t k;
        if (c < 0x80) {
            i++;
            switch (c) {
            case '"': puts_(b, "\\\""); break;
            case '\\': puts_(b, "\\\\"); break;
            case '\n': puts_(b, "\\n"); break;
            case '\r': puts_(b, "\\r"); break;
            case '\t': puts_(b, "\\t"); break;
            case '\b': puts_(b, "\\b"); break;
            case '\f': puts_(b, "\\f"); break;
            case '<': case '>': case '&': case '\'':
                put_u16(b, c);
                break;
            default:
                if (c < 0x20 || c == 0x7F)
                    put_u16(b, c);
                else
                    put(b, (const char *)&s[i - 1], 1);
            }
            continue;
        }
        k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        cp = c & (k == 4 ? 0x07u : k == 3 ? 0x0Fu : 0x1Fu);
        if (i + k > n) /* cannot happen with jansson's strings; stay in bounds */
            break;
        {
            size_t j;
            for (j = 1; j < k; j++)
                cp = (cp << 6) | ((unsigned char)s[i + j] & 0x3Fu);
        }
        i += k;
        if (cp >= 0x10000) {
            cp -= 0x10000;
            put_u16(b, 0xD800 + (cp >> 10));
            put_u16(b, 0xDC00 + (cp & 0x3FF));
        } else {
            put_u16(b, cp);
        }
    }
    put(b, "\"", 1);
}

/* A double as Python's repr() writes it: the shortest digits that read back
 * to the same value, positional for exponents -4..15, else d.ddde+XX. */
static void put_pyfloat(Buf *b, double v)
{
    char sci[40], digits[24], out[64];
    int prec, exp10 = 0, nd = 0, o = 0, i;
    const char *e;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(sci, sizeof sci, "%.*e", prec - 1, v);
        if (strtod(sci, NULL) == v)
            break;
    }
    /* sci is [-]d[.ddd]e±XX */
    for (i = 0; sci[i] && sci[i] != 'e'; i++)
        if (sci[i] >= '0' && sci[i] <= '9')
            digits[nd++] = sci[i];
    e = strchr(sci, 'e');
    exp10 = e ? atoi(e + 1) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    if (sci[0] == '-')
        out[o++] = '-';
    if (exp10 >= -4 && exp10 < 16) {
        if (exp10 < 0) {
            out[o++] = '0';
            out[o++] = '.';
            for (i = -1; i > exp10; i--)
                out[o++] = '0';
            for (i = 0; i < nd; i++)
                out[o++] = digits[i];
        } else {
            for (i = 0; i <= exp10; i++)
                out[o++] = i < nd ? digits[i] : '0';
            out[o++] = '.';
            if (nd > exp10 + 1)
                for (i = exp10 + 1; i < nd; i++)
                    out[o++] = digits[i];
            else
                out[o++] = '0';
        }
        out[o] = '\0';
    } else {
        out[o++] = digits[0];
        if (nd > 1) {
            out[o++] = '.';
            for (i = 1; i < nd; i++)
                out[o++] = digits[i];
        }
        snprintf(out + o, sizeof out - (size_t)o, "e%c%02d", exp10 < 0 ? '-' : '+',
                 exp10 < 0 ? -exp10 : exp10);
    }
    puts_(b, out);
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* v as Jinja2's tojson writes it: json.dumps(v, sort_keys=True), then the
 * HTML-safe escapes.  Nesting is bounded by jansson's parser depth. */
static void put_tojson(Buf *b, json_t *v)
{
    char num[32];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        const char **keys;
        const char *k;
        json_t *x;
        if (n == 0) {
            puts_(b, "{}");
            return;
        }
        keys = malloc(n * sizeof *keys);
        if (!keys) {
            b->failed = 1;
            return;
        }
        json_object_foreach(v, k, x)
            keys[i++] = k;
        qsort(keys, n, sizeof *keys, cmp_key);
        put(b, "{", 1);
        for (i = 0; i < n; i++) {
            if (i)
                puts_(b, ", ");
            put_pystr(b, keys[i], strlen(keys[i]));
            puts_(b, ": ");
            put_tojson(b, json_object_get(v, keys[i]));
        }
        put(b, "}", 1);
        free(keys);
        return;
    }
    case JSON_ARRAY: {
        size_t i;
        put(b, "[", 1);
        for (i = 0; i < json_array_size(v); i++) {
            if (i)
                puts_(b, ", ");
            put_tojson(b, json_array_get(v, i));
        }
        put(b, "]", 1);
        return;
    }
    case JSON_STRING:
        put_pystr(b, json_string_value(v), json_string_length(v));
        return;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        puts_(b, num);
        return;
    case JSON_REAL:
        put_pyfloat(b, json_real_value(v));
        return;
    case JSON_TRUE:
        puts_(b, "true");
        return;
    case JSON_FALSE:
        puts_(b, "false");
        return;
    case JSON_NULL:
        puts_(b, "null");
        return;
    }
}

/* ------------------------------------------------------------------ rendering */

static int is_tool(const PlumbChatMsg *m)
{
    return strcmp(m->role, "tool") == 0;
}

/* A user message that only carries tool output does not count as a query. */
static int is_query(const PlumbChatMsg *m)
{
    Span c = span_of(m->content);
    return strcmp(m->role, "user") == 0 &&
           !(starts_with(c, "<tool_response>") && ends_with(c, "</tool_response>"));
}

/* Parse the JSON array text; what names it in errors ("tools",
 * "message 3 tool_calls"). */
static json_t *load_array(const char *text, const char *what, PlumbError *err, int *rc)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    if (!v)
        *rc = plumb_err(err, PLUMB_EINVAL, "chat: %s: not valid JSON: line %d, column %d: %s",
                        what, jerr.line, jerr.column, jerr.text);
    else if (!json_is_array(v)) {
        *rc = plumb_err(err, PLUMB_EINVAL, "chat: %s: expected a JSON array", what);
        json_decref(v);
        v = NULL;
    }
    return v;
}

/* The tool calls of message i (a JSON array in calls) after its content;
 * content_nonempty is the template's test for the first separating \n. */
static int put_tool_calls(Buf *b, json_t *calls, size_t i, int content_nonempty, PlumbError *err)
{
    size_t k;
    for (k = 0; k < json_array_size(calls); k++) {
        json_t *c = json_array_get(calls, k), *fn, *name, *args;
        if (!json_is_object(c))
            return plumb_err(err, PLUMB_EINVAL, "chat: message %zu: tool call %zu is not an object",
                             i, k);
        fn = json_object_get(c, "function");
        if (json_is_object(fn) && json_object_size(fn))
            c = fn;
        name = json_object_get(c, "name");
        args = json_object_get(c, "arguments");
        if (!json_is_string(name))
            return plumb_err(err, PLUMB_EINVAL, "chat: message %zu: tool call %zu: %s", i, k,
                             name ? "\"name\" is not a string" : "no \"name\"");
        if (!args)
            return plumb_err(err, PLUMB_EINVAL, "chat: message %zu: tool call %zu: no \"arguments\"",
                             i, k);
        if (k > 0 || content_nonempty)
            put(b, "\n", 1);
        puts_(b, "<tool_call>\n{\"name\": \"");
        put(b, json_string_value(name), json_string_length(name));
        puts_(b, "\", \"arguments\": ");
        if (json_is_string(args))
            put(b, json_string_value(args), json_string_length(args));
        else
            put_tojson(b, args);
        puts_(b, "}\n</tool_call>");
    }
    return PLUMB_OK;
}

static int check(const PlumbChatMsg *msgs, size_t n, char **out, PlumbError *err)
{
    static const char *const roles[] = { "system", "user", "assistant", "tool" };
    size_t i, r;
    if (!out)
        return plumb_err(err, PLUMB_EINVAL, "chat: no output pointer");
    if (n && !msgs)
        return plumb_err(err, PLUMB_EINVAL, "chat: %zu messages but no array", n);
    for (i = 0; i < n; i++) {
        if (!msgs[i].role)
            return plumb_err(err, PLUMB_EINVAL, "chat: message %zu: no role", i);
        for (r = 0; r < sizeof roles / sizeof roles[0]; r++)
            if (strcmp(msgs[i].role, roles[r]) == 0)
                break;
        if (r == sizeof roles / sizeof roles[0])
            return plumb_err(err, PLUMB_EINVAL,
                             "chat: message %zu: unknown role '%.64s' (expected system, "
                             "user, assistant or tool)",
                             i, msgs[i].role);
        if (!msgs[i].content)
            return plumb_err(err, PLUMB_EINVAL, "chat: message %zu (%s): content is NULL", i,
                             msgs[i].role);
        if (r != 2 && (msgs[i].reasoning_content || msgs[i].tool_calls))
            return plumb_err(err, PLUMB_EINVAL,
                             "chat: message %zu (%s): reasoning_content and tool_calls are for "
                             "assistant messages",
                             i, msgs[i].role);
    }
    return PLUMB_OK;
}

static const char tools_head[] =
    "# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
    "You are provided with function signatures within <tools></tools> XML tags:\n<tools>";
static const char tools_tail[] =
    "\n</tools>\n\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call><|im_end|>\n";

static int put_assistant(Buf *b, const PlumbChatMsg *m, size_t i, int keep, int last,
                         PlumbError *err)
{
    Span content = span_of(m->content), reason = { "", 0 };
    int rc = PLUMB_OK;
    if (m->reasoning_content)
        reason = span_of(m->reasoning_content);
    else
        split_think(content, &content, &reason);
    puts_(b, "<|im_start|>assistant\n");
    if (keep && (last || reason.len > 0)) {
        Span answer = strip_nl_left(content);
        puts_(b, "<think>\n");
        reason = strip_nl_right(strip_nl_left(reason));
        put(b, reason.s, reason.len);
        puts_(b, "\n</think>\n\n");
        put(b, answer.s, answer.len);
    } else {
        put(b, content.s, content.len);
    }
    if (m->tool_calls) {
        char what[64];
        json_t *calls;
        snprintf(what, sizeof what, "message %zu tool_calls", i);
        calls = load_array(m->tool_calls, what, err, &rc);
        if (!calls)
            return rc;
        rc = put_tool_calls(b, calls, i, content.len > 0, err);
        json_decref(calls);
        if (rc != PLUMB_OK)
            return rc;
    }
    puts_(b, "<|im_end|>\n");
    return PLUMB_OK;
}

int plumb_chat_format(const PlumbChatMsg *msgs, size_t n, const PlumbChatParams *p,
                      char **out, PlumbError *err)
{
    static const PlumbChatParams defaults = { NULL, 0, 0, 0 };
    Buf b = { NULL, 0, 0, 0 };
    json_t *tools = NULL;
    size_t i, last_query;
    int rc = check(msgs, n, out, err);
    if (rc != PLUMB_OK)
        return rc;
    *out = NULL;
    if (!p)
        p = &defaults;
    if (p->tools && !(tools = load_array(p->tools, "tools", err, &rc)))
        return rc;

    /* index of the last real user query; the last message when there is none */
    last_query = n ? n - 1 : 0;
    for (i = n; i-- > 0;)
        if (is_query(&msgs[i])) {
            last_query = i;
            break;
        }

    put(&b, "", 0); /* an empty rendering is still a string */
    if (tools && json_array_size(tools) > 0) {
        puts_(&b, "<|im_start|>system\n");
        if (n && strcmp(msgs[0].role, "system") == 0) {
            puts_(&b, msgs[0].content);
            puts_(&b, "\n\n");
        }
        puts_(&b, tools_head);
        for (i = 0; i < json_array_size(tools); i++) {
            put(&b, "\n", 1);
            put_tojson(&b, json_array_get(tools, i));
        }
        puts_(&b, tools_tail);
    } else if (n && strcmp(msgs[0].role, "system") == 0) {
        puts_(&b, "<|im_start|>system\n");
        puts_(&b, msgs[0].content);
        puts_(&b, "<|im_end|>\n");
    }
    for (i = 0; i < n; i++) {
        const PlumbChatMsg *m = &msgs[i];
        if (is_tool(m)) {
            if (i == 0 || !is_tool(&msgs[i - 1]))
                puts_(&b, "<|im_start|>user");
            puts_(&b, "\n<tool_response>\n");
            puts_(&b, m->content);
            puts_(&b, "\n</tool_response>");
            if (i + 1 == n || !is_tool(&msgs[i + 1]))
                puts_(&b, "<|im_end|>\n");
        } else if (strcmp(m->role, "assistant") == 0) {
            int keep = p->keep_reasoning || i > last_query;
            if ((rc = put_assistant(&b, m, i, keep, i + 1 == n, err)) != PLUMB_OK)
                goto fail;
        } else if (i > 0 || strcmp(m->role, "system") != 0) { /* system, user */
            puts_(&b, "<|im_start|>");
            puts_(&b, m->role);
            puts_(&b, "\n");
            puts_(&b, m->content);
            puts_(&b, "<|im_end|>\n");
        }
    }
    if (p->add_assistant) {
        puts_(&b, "<|im_start|>assistant\n");
        if (p->no_think)
            puts_(&b, "<think>\n\n</think>\n\n");
    }
    if (b.failed) {
        rc = plumb_err(err, PLUMB_ENOMEM, "chat: out of memory rendering %zu messages", n);
        goto fail;
    }
    json_decref(tools);
    *out = b.p;
    return PLUMB_OK;
fail:
    json_decref(tools);
    free(b.p);
    return rc;
}

/* ------------------------------------------------------------------ parsing */

struct PlumbChatParsed {
    char *reasoning;          /* NUL-terminated, NULL when there is no think block */
    size_t reasoning_len;     /* bytes */
    int think_open;           /* <think> without </think> */
    char *content;            /* NUL-terminated, never NULL */
    size_t content_len;       /* bytes */
    PlumbChatToolCall *calls; /* [n_calls]; strings owned here */
    size_t n_calls;
};

/* NUL-terminated copy of x, or NULL. */
static char *dup_span(Span x)
{
    char *s = malloc(x.len + 1);
    if (s) {
        if (x.len)
            memcpy(s, x.s, x.len);
        s[x.len] = '\0';
    }
    return s;
}

/* End of the JSON object or array starting at x.s[0] (one past its closing
 * bracket), matching brackets outside strings; NULL when x ends first or a
 * '<' shows outside a string (a tag, never JSON).  Only delimits: jansson
 * judges the text.  Scans at most *budget bytes and takes them off it. */
static const char *json_extent(Span x, size_t *budget)
{
    size_t i, depth = 0, n = x.len < *budget ? x.len : *budget;
    int in_str = 0;
    for (i = 0; i < n; i++) {
        char c = x.s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '<') {
            break;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0 || --depth == 0) {
                *budget -= i + 1;
                return x.s + i + 1;
            }
        }
    }
    *budget -= i < n ? i : n;
    return NULL;
}

static char *msg_dup(const char *fmt, const char *a, int line, int col)
{
    char tmp[JSON_ERROR_TEXT_LENGTH + 128];
    snprintf(tmp, sizeof tmp, fmt, line, col, a);
    return dup_span(span_of(tmp));
}

/* Fill call from the JSON text j; sets call->error (malloc'd) when the
 * call cannot be used.  Returns -1 only when out of memory. */
static int read_call(PlumbChatToolCall *call, Span j)
{
    json_error_t jerr;
    json_t *v, *name, *args;
    const char *why = NULL;
    char *e = NULL;
    j = strip_blank(j);
    if (j.len == 0) {
        why = "empty tool call (expected a JSON object with \"name\" and \"arguments\")";
    } else if (j.s[0] != '{') {
        why = "not a JSON object (expected {\"name\": ..., \"arguments\": {...}})";
    } else if (!(v = json_loadb(j.s, j.len, JSON_REJECT_DUPLICATES, &jerr))) {
        e = msg_dup("not valid JSON: line %d, column %d: %s", jerr.text, jerr.line, jerr.column);
        if (!e)
            return -1;
    } else {
        name = json_object_get(v, "name");
        args = json_object_get(v, "arguments");
        if (!name)
            why = "no \"name\" field";
        else if (!json_is_string(name))
            why = "\"name\" is not a string";
        else if (json_string_length(name) == 0)
            why = "\"name\" is empty";
        else if (strlen(json_string_value(name)) != json_string_length(name))
            why = "\"name\" contains a NUL character";
        else if (!args)
            why = "no \"arguments\" field";
        else if (json_is_string(args))
            why = "\"arguments\" is a string, not a JSON object";
        else if (!json_is_object(args))
            why = "\"arguments\" is not a JSON object";
        if (!why) {
            char *nm = dup_span(span_of(json_string_value(name)));
            char *ar = json_dumps(args, JSON_COMPACT);
            if (!nm || !ar) {
                free(nm);
                free(ar);
                json_decref(v);
                return -1;
            }
            call->name = nm;
            call->arguments = ar;
        }
        json_decref(v);
    }
    if (why && !(e = dup_span(span_of(why))))
        return -1;
    call->error = e;
    return 0;
}

/* First of the two tags in x, or NULL; a is looked for first, then b only
 * before it (give the nearer one as a). */
static const char *find_either(Span x, const char *a, const char *b)
{
    const char *p = find_first(x, a), *q;
    if (p)
        x.len = (size_t)(p - x.s);
    q = find_first(x, b);
    return q ? q : p;
}

/* The call block whose body starts at body (just after <tool_call>) within
 * rest; first_close is the first </tool_call> at or after body, or NULL.
 * Returns where scanning continues.  The block ends at </tool_call>, or
 * unclosed where the next <tool_call> opens or the text ends. */
static const char *scan_call(PlumbChatToolCall *call, Span rest, const char *body,
                             const char *first_close, size_t *budget, int *oom)
{
    static const char close_tag[] = "</tool_call>", open_tag[] = "<tool_call>";
    const char *end = rest.s + rest.len, *json_end = NULL, *stop;
    Span after = { body, (size_t)(end - body) }, j, text, extra = { "", 0 };
    Span lead = after;
    while (lead.len && blank(lead.s[0]))
        lead.s++, lead.len--;
    if (lead.len && (lead.s[0] == '{' || lead.s[0] == '[')) {
        /* Scanning far for objects that then fail is what could make the
         * parse quadratic; *budget bounds that work by the reply length.
         * Once it is spent, an object ends before the next tag. */
        Span lim = lead;
        if (*budget == 0) {
            const char *near = find_either(lead, open_tag, close_tag);
            lim.len = (size_t)((near ? near : end) - lead.s);
            *budget = lim.len;
            json_end = json_extent(lim, budget);
            *budget = 0;
        } else {
            json_end = json_extent(lim, budget);
        }
    }
    if (json_end && first_close && first_close < json_end) {
        /* A close tag inside the bracketed span only stands when the span
         * is valid JSON (the tag then sits in a string). */
        json_error_t jerr;
        json_t *v = json_loadb(lead.s, (size_t)(json_end - lead.s), 0, &jerr);
        if (!v)
            json_end = NULL;
        json_decref(v);
    }
    if (json_end) {
        Span tail = { json_end, (size_t)(end - json_end) };
        stop = find_either(tail, open_tag, close_tag);
        j.s = lead.s;
        j.len = (size_t)(json_end - lead.s);
        extra.s = json_end;
        extra.len = (size_t)((stop ? stop : end) - json_end);
        extra = strip_blank(extra);
    } else {
        stop = find_either(after, open_tag, close_tag);
        j.s = body;
        j.len = (size_t)((stop ? stop : end) - body);
    }
    if (!stop)
        stop = end;
    text.s = body;
    text.len = (size_t)(stop - body);
    call->closed = (size_t)(end - stop) >= strlen(close_tag) &&
                   memcmp(stop, close_tag, strlen(close_tag)) == 0;
    call->text = dup_span(text);
    call->text_len = text.len;
    call->extra = dup_span(extra);
    if (!call->text || !call->extra || read_call(call, j) < 0) {
        *oom = 1;
        return end;
    }
    return call->closed ? stop + strlen(close_tag) : stop;
}

static void free_calls(PlumbChatToolCall *calls, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        free((char *)calls[i].name);
        free((char *)calls[i].arguments);
        free((char *)calls[i].text);
        free((char *)calls[i].extra);
        free((char *)calls[i].error);
    }
    free(calls);
}

void plumb_chat_parsed_free(PlumbChatParsed *p)
{
    if (!p)
        return;
    free(p->reasoning);
    free(p->content);
    free_calls(p->calls, p->n_calls);
    free(p);
}

int plumb_chat_parse(const char *text, size_t len, PlumbChatParsed **out, PlumbError *err)
{
    static const char open_tag[] = "<tool_call>";
    PlumbChatParsed *p;
    Span all = { text, len }, rest, reason;
    Buf content = { NULL, 0, 0, 0 };
    const char *next_close = NULL;
    size_t cap = 0, budget = len < SIZE_MAX / 2 - 65536 ? 2 * len + 65536 : SIZE_MAX;
    int oom = 0, close_known = 0;
    if (!out)
        return plumb_err(err, PLUMB_EINVAL, "chat: parse: no output pointer");
    *out = NULL;
    if (!text && len)
        return plumb_err(err, PLUMB_EINVAL, "chat: parse: %zu bytes but no text", len);
    if (!text)
        all.s = "";
    p = calloc(1, sizeof *p);
    if (!p)
        return plumb_err(err, PLUMB_ENOMEM, "chat: parse: out of memory");

    if (split_think(all, &rest, &reason)) {
        p->reasoning = dup_span(strip_nl_right(reason));
        p->reasoning_len = strip_nl_right(reason).len;
        oom |= !p->reasoning;
    } else {
        Span lead = all;
        while (lead.len && blank(lead.s[0]))
            lead.s++, lead.len--;
        if (starts_with(lead, "<think>")) {
            /* the reply was cut inside its reasoning */
            lead.s += strlen("<think>");
            lead.len -= strlen("<think>");
            reason = strip_nl_right(strip_nl_left(lead));
            p->reasoning = dup_span(reason);
            p->reasoning_len = reason.len;
            p->think_open = 1;
            oom |= !p->reasoning;
            rest.s = all.s + all.len;
            rest.len = 0;
        }
    }

    put(&content, "", 0);
    while (!oom && rest.len) {
        const char *open = find_first(rest, open_tag), *next, *body;
        if (!open) {
            put(&content, rest.s, rest.len);
            break;
        }
        put(&content, rest.s, (size_t)(open - rest.s));
        if (p->n_calls == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            PlumbChatToolCall *nc = realloc(p->calls, ncap * sizeof *nc);
            if (!nc) {
                oom = 1;
                break;
            }
            p->calls = nc;
            cap = ncap;
        }
        memset(&p->calls[p->n_calls], 0, sizeof p->calls[0]);
        body = open + strlen(open_tag);
        /* the next close tag, searched again only once passed */
        if (!close_known || (next_close && next_close < body)) {
            Span from = { body, (size_t)(rest.s + rest.len - body) };
            next_close = find_first(from, "</tool_call>");
            close_known = 1;
        }
        next = scan_call(&p->calls[p->n_calls++], rest, body, next_close, &budget, &oom);
        rest.len -= (size_t)(next - rest.s);
        rest.s = next;
    }
    if (!oom && !content.failed) {
        Span c = strip_blank((Span){ content.p, content.n });
        p->content = dup_span(c);
        p->content_len = c.len;
    }
    free(content.p);
    if (oom || !p->content) {
        plumb_chat_parsed_free(p);
        return plumb_err(err, PLUMB_ENOMEM, "chat: parse: out of memory for %zu bytes", len);
    }
    *out = p;
    return PLUMB_OK;
}

const char *plumb_chat_parsed_reasoning(const PlumbChatParsed *p, size_t *len)
{
    if (len)
        *len = p && p->reasoning ? p->reasoning_len : 0;
    return p ? p->reasoning : NULL;
}

int plumb_chat_parsed_think_open(const PlumbChatParsed *p)
{
    return p ? p->think_open : 0;
}

const char *plumb_chat_parsed_content(const PlumbChatParsed *p, size_t *len)
{
    if (len)
        *len = p ? p->content_len : 0;
    return p ? p->content : "";
}

size_t plumb_chat_parsed_n_calls(const PlumbChatParsed *p)
{
    return p ? p->n_calls : 0;
}

const PlumbChatToolCall *plumb_chat_parsed_call(const PlumbChatParsed *p, size_t i)
{
    return p && i < p->n_calls ? &p->calls[i] : NULL;
}
