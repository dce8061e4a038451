/*
 * sse.h — a streaming parser of Server-Sent Events (the WHATWG "event
 * stream" format), as OpenAI-compatible servers stream completions.
 *
 * The stream is fed in byte chunks of any size and split anywhere (inside a
 * line ending, inside a UTF-8 sequence); the events that come out do not
 * depend on where the chunks were cut.  What is parsed:
 *   - lines end with CRLF, LF or CR (a CR at the end of one chunk and an LF
 *     at the start of the next are one line end);
 *   - a UTF-8 byte order mark at the very start is skipped;
 *   - `data: V` appends V to the event's data; several data lines are
 *     joined with "\n"; one space after the colon is dropped;
 *   - `event: NAME` sets the event's name; `id:`, `retry:` and unknown
 *     fields are ignored; a line starting with `:` is a comment (servers
 *     send them as keep-alives) and is ignored;
 *   - an empty line ends the event; an event with no data line is dropped;
 *     a partial event when the stream ends is dropped (sse_finish).
 * What an event means (`[DONE]`, an `{"error":…}` object) is the caller's:
 * the event callback returns 0 to go on, 1 to stop (sse_feed then returns 1
 * and ignores the rest of the chunk), or a negative PLUMB_E* code, which
 * sse_feed returns as it is.
 *
 * The data of one event (and one line) is capped at max_event bytes: a
 * longer event fails with PLUMB_ENOMEM.  The parser owns its buffers;
 * the data passed to the callback is valid during the call only and is
 * NUL-terminated at len (it may hold NUL bytes).
 */
#ifndef PLUMB_LLM_SSE_H
#define PLUMB_LLM_SSE_H

#include <stddef.h>

#include "err.h"

/* name: the event's `event:` field, "" when absent; data[0..len). */
typedef int (*SseEventFn)(void *user, const char *name, const char *data, size_t len);

typedef struct SseParser {
    char *line;        /* [line_cap] the line being read, not yet ended */
    size_t line_len;   /* bytes in line */
    size_t line_cap;   /* bytes allocated for line */
    char *data;        /* [data_cap] the event's data so far, each line + "\n" */
    size_t data_len;   /* bytes in data */
    size_t data_cap;   /* bytes allocated for data */
    char name[64];     /* the event's name, truncated to 63 bytes */
    int has_data;      /* a data line was seen for this event */
    int after_cr;      /* the last byte fed was a CR (an LF next is the same line end) */
    int bom_checked;   /* bytes at the start of the stream compared against the BOM (0..3) */
    size_t max_event;  /* cap of one event's data and of one line, bytes */
    size_t n_events;   /* events dispatched so far */
} SseParser;

/* max_event 0 = 16 MiB. */
void sse_init(SseParser *p, size_t max_event);
/* Feed buf[0..n).  Returns 0 after all of it, 1 when the callback asked to
 * stop, or a negative code (the callback's, or PLUMB_ENOMEM with err set). */
int sse_feed(SseParser *p, const char *buf, size_t n, SseEventFn fn, void *user, PlumbError *err);
/* The stream ended: drop any partial event.  Returns 1 when one was dropped
 * (a line or data not ended by an empty line), else 0. */
int sse_finish(SseParser *p);
/* Forget the stream (keep the buffers) to parse a new one. */
void sse_reset(SseParser *p);
void sse_free(SseParser *p);

#endif
