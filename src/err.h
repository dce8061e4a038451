/*
 * err.h — filling a PlumbError.  Library-internal.
 *
 * plumb_err() formats a message into the caller's PlumbError (which may be
 * NULL) and returns the code, so error paths read `return plumb_err(...)`.
 */
#ifndef PLUMB_ERR_H
#define PLUMB_ERR_H

#include "plumb.h"

#if defined(__GNUC__)
#define PLUMB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PLUMB_PRINTF(a, b)
#endif

int plumb_err(PlumbError *e, int code, const char *fmt, ...) PLUMB_PRINTF(3, 4);
void plumb_err_clear(PlumbError *e);
/* Prefix the existing message with "prefix: " (e.g. the file name). */
void plumb_err_prefix(PlumbError *e, const char *prefix);

/* Checked size arithmetic: return non-zero on overflow. */
static inline int plumb_mul_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_mul_overflow(a, b, r);
}
static inline int plumb_add_overflow(uint64_t a, uint64_t b, uint64_t *r)
{
    return __builtin_add_overflow(a, b, r);
}

#endif
