/*
 * sse.c — the Server-Sent Events parser (see sse.h).
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "sse.h"

#define SSE_DEFAULT_MAX ((size_t)16 << 20)

static const unsigned char bom[3] = { 0xEF, 0xBB, 0xBF };

void sse_init(SseParser *p, size_t max_event)
{
    memset(p, 0, sizeof *p);
    p->max_event = max_event ? max_event : SSE_DEFAULT_MAX;
}

void sse_reset(SseParser *p)
{
    p->line_len = 0;
    p->data_len = 0;
    p->name[0] = '\0';
    p->has_data = 0;
    p->after_cr = 0;
    p->bom_checked = 0;
    p->n_events = 0;
}

void sse_free(SseParser *p)
{
    free(p->line);
    free(p->data);
    memset(p, 0, sizeof *p);
}

/* Make room for need bytes plus a NUL in *buf, within cap. */
static int grow(char **buf, size_t *alloc, size_t need, size_t cap, PlumbError *err)
{
    size_t a;
    char *nb;
    if (need > cap)
        return plumb_err(err, PLUMB_ENOMEM, "event stream: an event or line is longer than %zu bytes", cap);
    if (need + 1 <= *alloc)
        return PLUMB_OK;
    a = *alloc ? *alloc : 256;
    while (a < need + 1)
        a = a > cap ? cap + 1 : a * 2;
    nb = realloc(*buf, a);
    if (!nb)
        return plumb_err(err, PLUMB_ENOMEM, "event stream: out of memory");
    *buf = nb;
    *alloc = a;
    return PLUMB_OK;
}

static int append_line(SseParser *p, const char *s, size_t n, PlumbError *err)
{
    int rc = grow(&p->line, &p->line_cap, p->line_len + n, p->max_event, err);
    if (rc)
        return rc;
    memcpy(p->line + p->line_len, s, n);
    p->line_len += n;
    p->line[p->line_len] = '\0';
    return PLUMB_OK;
}

static int dispatch(SseParser *p, SseEventFn fn, void *user)
{
    int rc;
    size_t len;
    if (!p->has_data) {
        p->name[0] = '\0';
        return 0;
    }
    len = p->data_len ? p->data_len - 1 : 0; /* the last line's "\n" */
    p->data[len] = '\0';
    p->n_events++;
    rc = fn(user, p->name, p->data, len);
    p->data_len = 0;
    p->has_data = 0;
    p->name[0] = '\0';
    return rc;
}

/* One whole line (without its end) is in p->line. */
static int end_line(SseParser *p, SseEventFn fn, void *user, PlumbError *err)
{
    const char *l = p->line ? p->line : "";
    size_t n = p->line_len, flen, vlen;
    const char *colon, *v;
    int rc = 0;
    p->line_len = 0;
    if (n == 0)
        return dispatch(p, fn, user);
    if (l[0] == ':')
        return 0;
    colon = memchr(l, ':', n);
    flen = colon ? (size_t)(colon - l) : n;
    v = colon ? colon + 1 : l + n;
    vlen = (size_t)(l + n - v);
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 4 && !memcmp(l, "data", 4)) {
        rc = grow(&p->data, &p->data_cap, p->data_len + vlen + 1, p->max_event, err);
        if (rc)
            return rc;
        memcpy(p->data + p->data_len, v, vlen);
        p->data_len += vlen;
        p->data[p->data_len++] = '\n';
        p->has_data = 1;
    } else if (flen == 5 && !memcmp(l, "event", 5)) {
        size_t k = vlen < sizeof p->name - 1 ? vlen : sizeof p->name - 1;
        memcpy(p->name, v, k);
        p->name[k] = '\0';
    }
    return 0;
}

int sse_feed(SseParser *p, const char *buf, size_t n, SseEventFn fn, void *user, PlumbError *err)
{
    size_t i = 0;
    int rc;
    /* the byte order mark, possibly split over chunks */
    while (p->bom_checked < 3 && i < n) {
        if ((unsigned char)buf[i] == bom[p->bom_checked]) {
            p->bom_checked++;
            i++;
            continue;
        }
        /* not a BOM: the bytes taken so far are line text */
        rc = append_line(p, (const char *)bom, (size_t)p->bom_checked, err);
        p->bom_checked = 3;
        if (rc)
            return rc;
    }
    while (i < n) {
        size_t j = i;
        char c;
        if (p->after_cr && buf[i] == '\n') { /* the LF of a CRLF */
            p->after_cr = 0;
            i++;
            continue;
        }
        p->after_cr = 0;
        while (j < n && buf[j] != '\n' && buf[j] != '\r')
            j++;
        if (j > i && (rc = append_line(p, buf + i, j - i, err)))
            return rc;
        if (j == n)
            break;
        c = buf[j];
        i = j + 1;
        if (c == '\r')
            p->after_cr = 1;
        rc = end_line(p, fn, user, err);
        if (rc)
            return rc;
    }
    return 0;
}

int sse_finish(SseParser *p)
{
    int partial = p->line_len > 0 || p->has_data;
    p->line_len = 0;
    p->data_len = 0;
    p->has_data = 0;
    p->name[0] = '\0';
    return partial;
}
