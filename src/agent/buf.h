/*
 * buf.h — a growable byte buffer with an optional cap, shared by the agent's
 * modules (prompts, tool results, HTTP bodies, converted pages).
 *
 * The bytes are always NUL-terminated (p[len] == 0) once anything was
 * appended, so a Buf holding text can be used as a C string; the bytes
 * themselves may contain NUL.  A Buf that is all zero is empty and valid.
 * cap == 0 means no cap; past the cap an append fails with PLUMB_ENOMEM and
 * leaves the buffer as it was (callers that want to truncate use
 * buf_append_trunc).  The buffer owns p; buf_steal hands it over.
 */
#ifndef PLUMB_AGENT_BUF_H
#define PLUMB_AGENT_BUF_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

typedef struct Buf {
    char *p;    /* [cap_alloc] bytes, NUL-terminated at len; NULL while empty */
    size_t len; /* bytes held, not counting the terminating NUL */
    size_t alloc; /* bytes allocated */
    size_t cap; /* most bytes it may hold; 0 = unlimited */
} Buf;

int buf_append(Buf *b, const void *data, size_t n);
int buf_puts(Buf *b, const char *s);
int buf_putc(Buf *b, int c);
int buf_printf(Buf *b, const char *fmt, ...) PLUMB_PRINTF(2, 3);
int buf_vprintf(Buf *b, const char *fmt, va_list ap);
/* Append as much of data as fits under the cap; returns 1 when some was cut. */
int buf_append_trunc(Buf *b, const void *data, size_t n);
/* Ensure room for n more bytes (and the NUL). */
int buf_reserve(Buf *b, size_t n);
/* The string, "" when empty (never NULL); valid until the next change. */
const char *buf_str(const Buf *b);
/* Hand the bytes over (malloc'd, NUL-terminated; "" when empty) and reset. */
char *buf_steal(Buf *b);
void buf_reset(Buf *b); /* keep the allocation, length 0 */
void buf_free(Buf *b);

/* strdup(s), NULL for a NULL s; a failed copy sets *fail to 1 (so several
 * optional strings can be copied and checked once). */
char *dup_or_null(const char *s, int *fail);

#endif
