/*
 * chat.c — Qwen3 ChatML rendering (see chat.h for the format).
 *
 * A growing string builder collects the output; the first failed
 * allocation sticks, so the rendering code appends without checking and the
 * end reports PLUMB_ENOMEM once.  Sizes are checked for overflow.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

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
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = '\0';
}

static void puts_(Buf *b, const char *s)
{
    put(b, s, strlen(s));
}

/* A span of a message's content. */
typedef struct Span {
    const char *s; /* start */
    size_t len;    /* bytes */
} Span;

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

/* Position of the first / last occurrence of pat in x, or NULL. */
static const char *find_first(Span x, const char *pat)
{
    size_t m = strlen(pat), i;
    for (i = 0; i + m <= x.len; i++)
        if (memcmp(x.s + i, pat, m) == 0)
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

static int starts_with(const char *s, const char *pre)
{
    return strncmp(s, pre, strlen(pre)) == 0;
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && memcmp(s + n - m, suf, m) == 0;
}

/* A user message that only carries tool output does not count as a query. */
static int is_query(const PlumbChatMsg *m)
{
    return strcmp(m->role, "user") == 0 &&
           !(starts_with(m->content, "<tool_response>") &&
             ends_with(m->content, "</tool_response>"));
}

static int is_tool(const PlumbChatMsg *m)
{
    return strcmp(m->role, "tool") == 0;
}

/* Split assistant content into the answer and the reasoning, the way the
 * template does: the answer follows the last </think> (leading newlines
 * dropped), the reasoning is what lies between the last <think> and the
 * first </think> (newlines trimmed on both sides).  Without </think> the
 * content is all answer. */
static void split_think(const char *content, Span *answer, Span *reason)
{
    Span all = { content, strlen(content) }, before;
    const char *first = find_first(all, "</think>"), *open;
    reason->s = content;
    reason->len = 0;
    *answer = all;
    if (!first)
        return;
    {
        const char *last = find_last(all, "</think>") + strlen("</think>");
        answer->s = last;
        answer->len = (size_t)(all.s + all.len - last);
        *answer = strip_nl_left(*answer);
    }
    before.s = content;
    before.len = (size_t)(first - content);
    before = strip_nl_right(before);
    open = find_last(before, "<think>");
    if (open) {
        const char *from = open + strlen("<think>");
        before.len -= (size_t)(from - before.s);
        before.s = from;
    }
    *reason = strip_nl_right(strip_nl_left(before));
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
    }
    return PLUMB_OK;
}

int plumb_chat_format(const PlumbChatMsg *msgs, size_t n, int add_assistant, int thinking,
                      char **out, PlumbError *err)
{
    Buf b = { NULL, 0, 0, 0 };
    size_t i, last_query;
    int rc = check(msgs, n, out, err);
    if (rc != PLUMB_OK)
        return rc;
    *out = NULL;

    /* index of the last real user query; the last message when there is none */
    last_query = n ? n - 1 : 0;
    for (i = n; i-- > 0;)
        if (is_query(&msgs[i])) {
            last_query = i;
            break;
        }

    put(&b, "", 0); /* an empty rendering is still a string */
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
            Span answer, reason;
            split_think(m->content, &answer, &reason);
            puts_(&b, "<|im_start|>assistant\n");
            if (i > last_query && (i + 1 == n || reason.len > 0)) {
                puts_(&b, "<think>\n");
                put(&b, reason.s, reason.len);
                puts_(&b, "\n</think>\n\n");
                answer = strip_nl_left(answer);
            }
            put(&b, answer.s, answer.len);
            puts_(&b, "<|im_end|>\n");
        } else { /* system, user */
            puts_(&b, "<|im_start|>");
            puts_(&b, m->role);
            puts_(&b, "\n");
            puts_(&b, m->content);
            puts_(&b, "<|im_end|>\n");
        }
    }
    if (add_assistant) {
        puts_(&b, "<|im_start|>assistant\n");
        if (!thinking)
            puts_(&b, "<think>\n\n</think>\n\n");
    }
    if (b.failed) {
        free(b.p);
        return plumb_err(err, PLUMB_ENOMEM, "chat: out of memory rendering %zu messages", n);
    }
    *out = b.p;
    return PLUMB_OK;
}
