/*
 * buf.c — the growable byte buffer (see buf.h).
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

int buf_reserve(Buf *b, size_t n)
{
    size_t need, a;
    char *p;
    if (__builtin_add_overflow(b->len, n, &need) || __builtin_add_overflow(need, 1, &need))
        return PLUMB_ENOMEM;
    if (b->cap && need - 1 > b->cap)
        return PLUMB_ENOMEM;
    if (need <= b->alloc)
        return PLUMB_OK;
    a = b->alloc ? b->alloc : 64;
    while (a < need) {
        if (a > ((size_t)-1) / 2) {
            a = need;
            break;
        }
        a *= 2;
    }
    p = realloc(b->p, a);
    if (!p)
        return PLUMB_ENOMEM;
    b->p = p;
    b->alloc = a;
    return PLUMB_OK;
}

int buf_append(Buf *b, const void *data, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->p + b->len, data, n);
    b->len += n;
    b->p[b->len] = 0;
    return PLUMB_OK;
}

int buf_append_trunc(Buf *b, const void *data, size_t n)
{
    size_t room;
    if (!b->cap || b->len + n <= b->cap)
        return buf_append(b, data, n) ? PLUMB_ENOMEM : 0;
    room = b->cap > b->len ? b->cap - b->len : 0;
    if (buf_append(b, data, room))
        return PLUMB_ENOMEM;
    return 1;
}

int buf_puts(Buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(Buf *b, int c)
{
    char ch = (char)c;
    return buf_append(b, &ch, 1);
}

int buf_vprintf(Buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n, rc;
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return PLUMB_EINVAL;
    rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return PLUMB_OK;
}

int buf_printf(Buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

const char *buf_str(const Buf *b)
{
    return b->p ? b->p : "";
}

char *buf_steal(Buf *b)
{
    char *p = b->p;
    if (!p)
        p = calloc(1, 1);
    b->p = NULL;
    b->len = b->alloc = 0;
    return p;
}

void buf_reset(Buf *b)
{
    b->len = 0;
    if (b->p)
        b->p[0] = 0;
}

void buf_free(Buf *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->alloc = 0;
}

char *dup_or_null(const char *s, int *fail)
{
    char *d;
    if (!s)
        return NULL;
    if (!(d = strdup(s)))
        *fail = 1;
    return d;
}
