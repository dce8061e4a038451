/* err.c — error codes and messages (see err.h). */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

const char *plumb_strerror(int code)
{
    switch (code) {
    case PLUMB_OK: return "success";
    case PLUMB_EIO: return "input/output error";
    case PLUMB_EFORMAT: return "malformed input";
    case PLUMB_ENOMEM: return "out of memory or over a size limit";
    case PLUMB_EINVAL: return "invalid argument";
    case PLUMB_EUNSUPPORTED: return "not supported";
    case PLUMB_ERANGE: return "out of range";
    case PLUMB_ECPU: return "CPU feature not available";
    default: return "unknown error";
    }
}

int plumb_err(PlumbError *e, int code, const char *fmt, ...)
{
    if (e) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(e->msg, sizeof e->msg, fmt, ap);
        va_end(ap);
        e->code = code;
    }
    return code;
}

void plumb_err_clear(PlumbError *e)
{
    if (e) {
        e->code = PLUMB_OK;
        e->msg[0] = '\0';
    }
}

void plumb_err_prefix(PlumbError *e, const char *prefix)
{
    size_t cap = sizeof e->msg, np, nm;
    if (!e || !prefix)
        return;
    np = strlen(prefix);
    if (np + 2 >= cap)
        np = cap - 3;
    nm = strlen(e->msg);
    if (np + 2 + nm >= cap)
        nm = cap - np - 3; /* the tail of the message is dropped */
    memmove(e->msg + np + 2, e->msg, nm);
    memcpy(e->msg, prefix, np);
    e->msg[np] = ':';
    e->msg[np + 1] = ' ';
    e->msg[np + 2 + nm] = '\0';
}
