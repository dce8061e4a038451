/*
 * test_sse.c — the Server-Sent Events parser: a generated stream with every
 * feature (CRLF, LF and CR line ends, comments, multi-line data, event
 * names, ignored fields, UTF-8, a BOM) gives the events it was generated
 * from, whether fed whole, split at every byte offset, byte by byte or in
 * random chunks; the callback's stop and errors; the size cap.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sse.h"
#include "../testlib.h"

typedef struct Events {
    char *buf;    /* each event as "name\x1Fdata\x1E" */
    size_t len, cap;
    int stop_at;  /* return 1 at this event (1-based), 0 = never */
    int fail_at;  /* return -4 at this event, 0 = never */
    int n;
} Events;

static void ev_add(Events *e, const char *s, size_t n)
{
    if (e->len + n + 1 > e->cap) {
        e->cap = (e->len + n + 1) * 2;
        e->buf = realloc(e->buf, e->cap);
        if (!e->buf)
            exit(99);
    }
    memcpy(e->buf + e->len, s, n);
    e->len += n;
    e->buf[e->len] = '\0';
}

static int on_ev(void *user, const char *name, const char *data, size_t len)
{
    Events *e = user;
    e->n++;
    ev_add(e, name, strlen(name));
    ev_add(e, "\x1F", 1);
    ev_add(e, data, len);
    ev_add(e, "\x1E", 1);
    if (data[len] != '\0')
        ev_add(e, "<not NUL-terminated>", 20);
    if (e->fail_at && e->n == e->fail_at)
        return -4;
    return e->stop_at && e->n == e->stop_at ? 1 : 0;
}

static uint64_t rng = 0x1234567887654321ull;
static uint32_t rnd(uint32_t n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint32_t)(rng % n);
}

/* Build a stream and the events it must give. */
static void build(Events *stream, Events *want, int n_events)
{
    static const char *const eol[] = { "\n", "\r\n", "\r" };
    static const char *const words[] = {
        "{\"choices\":[{\"text\":\"", "héllo", "世界", "<tool_call>", "\\n", "😀", " ", "data: x",
        ":colon", "[DONE]x", "</tool_call>", "é",
    };
    ev_add(stream, "\xEF\xBB\xBF", 3);
    ev_add(stream, ": keep-alive at the start", 25);
    ev_add(stream, "\n\n", 2);
    for (int i = 0; i < n_events; i++) {
        const char *e = eol[rnd(3)];
        int lines = 1 + (int)rnd(3);
        char name[32] = "";
        if (rnd(4) == 0) {
            snprintf(name, sizeof name, "ev%d", i);
            ev_add(stream, "event: ", 7);
            ev_add(stream, name, strlen(name));
            ev_add(stream, e, strlen(e));
        }
        ev_add(want, name, strlen(name));
        ev_add(want, "\x1F", 1);
        for (int l = 0; l < lines; l++) {
            int nw = (int)rnd(6);
            int space = rnd(3) != 0; /* "data: v" or "data:v" */
            if (rnd(5) == 0) {
                ev_add(stream, ": comment ", 10);
                ev_add(stream, e, strlen(e));
            }
            if (rnd(6) == 0) {
                ev_add(stream, "id: 7", 5);
                ev_add(stream, e, strlen(e));
            }
            if (l)
                ev_add(want, "\n", 1);
            for (int w = 0; w < nw; w++) {
                const char *s = words[rnd(sizeof words / sizeof words[0])];
                if (w == 0) /* "data: V" drops one space: " x" needs "data:  x" */
                    ev_add(stream, space || s[0] == ' ' ? "data: " : "data:", space || s[0] == ' ' ? 6 : 5);
                ev_add(stream, s, strlen(s));
                ev_add(want, s, strlen(s));
            }
            if (nw == 0)
                ev_add(stream, space ? "data: " : "data:", space ? 6 : 5);
            ev_add(stream, e, strlen(e));
        }
        ev_add(want, "\x1E", 1);
        ev_add(stream, e, strlen(e));
        if (rnd(5) == 0) { /* an event with no data: dropped */
            ev_add(stream, "event: nothing", 14);
            ev_add(stream, e, strlen(e));
            ev_add(stream, e, strlen(e));
        }
    }
    ev_add(stream, "data: [DONE]\n\n", 14);
    ev_add(want, "\x1F[DONE]\x1E", 8);
    ev_add(stream, "data: partial, never ended", 26);
}

/* Feed the stream in pieces starting at cuts[0..n_cuts) (sorted). */
static int feed_cuts(const Events *stream, const size_t *cuts, size_t n_cuts, Events *got)
{
    SseParser p;
    PlumbError err = { 0 };
    size_t at = 0;
    int rc = 0;
    sse_init(&p, 0);
    for (size_t i = 0; i <= n_cuts && rc == 0; i++) {
        size_t end = i < n_cuts ? cuts[i] : stream->len;
        rc = sse_feed(&p, stream->buf + at, end - at, on_ev, got, &err);
        at = end;
    }
    if (rc == 0)
        rc = sse_finish(&p) == 1 ? 0 : 5; /* the last partial event is dropped */
    sse_free(&p);
    return rc;
}

static int same(const Events *a, const Events *b)
{
    return a->len == b->len && !memcmp(a->buf, b->buf, a->len);
}

int main(void)
{
    Events stream = { 0 }, want = { 0 };
    int bad_split = 0, bad_random = 0;
    build(&stream, &want, 120);

    { /* whole */
        Events got = { 0 };
        CHECK(feed_cuts(&stream, NULL, 0, &got) == 0, "feed whole");
        CHECK(same(&got, &want), "whole stream: %zu bytes of events, want %zu", got.len, want.len);
        free(got.buf);
    }
    /* split in two at every offset */
    for (size_t cut = 0; cut <= stream.len; cut++) {
        Events got = { 0 };
        int rc = feed_cuts(&stream, &cut, 1, &got);
        if (rc || !same(&got, &want)) {
            if (bad_split++ < 3)
                CHECK(0, "split at %zu of %zu differs (rc %d)", cut, stream.len, rc);
        }
        free(got.buf);
    }
    CHECK(bad_split == 0, "%d splits differ", bad_split);
    { /* byte by byte */
        size_t *cuts = malloc(stream.len * sizeof *cuts);
        Events got = { 0 };
        for (size_t i = 0; i < stream.len; i++)
            cuts[i] = i;
        CHECK(feed_cuts(&stream, cuts, stream.len, &got) == 0 && same(&got, &want), "byte by byte");
        free(got.buf);
        /* random chunks */
        for (int t = 0; t < 300; t++) {
            size_t n = 0, at = 0;
            Events g2 = { 0 };
            while ((at += 1 + rnd(t % 2 ? 7 : 200)) < stream.len)
                cuts[n++] = at;
            if (feed_cuts(&stream, cuts, n, &g2) || !same(&g2, &want))
                bad_random++;
            free(g2.buf);
        }
        CHECK(bad_random == 0, "%d of 300 random chunkings differ", bad_random);
        free(cuts);
    }
    { /* the callback stops: nothing more is dispatched */
        SseParser p;
        Events got = { 0 };
        got.stop_at = 2;
        sse_init(&p, 0);
        CHECK(sse_feed(&p, "data: a\n\ndata: b\n\ndata: c\n\n", 27, on_ev, &got, NULL) == 1, "stop returns 1");
        CHECK(got.n == 2, "events after stop: %d", got.n);
        sse_free(&p);
        free(got.buf);
    }
    { /* the callback's error comes back as it is */
        SseParser p;
        Events got = { 0 };
        got.fail_at = 1;
        sse_init(&p, 0);
        CHECK(sse_feed(&p, "data: a\r\n\r\n", 11, on_ev, &got, NULL) == -4, "callback error");
        sse_free(&p);
        free(got.buf);
    }
    { /* exact shapes */
        SseParser p;
        Events got = { 0 };
        const char *s = "data\n\ndata:\ndata\n\n:only a comment\n\ndata:  two spaces\r\revent: e\rdata: x\r\r";
        const char w[] = "\x1F\x1E\x1F\n\x1E\x1F two spaces\x1E" "e\x1Fx\x1E";
        sse_init(&p, 0);
        CHECK(sse_feed(&p, s, strlen(s), on_ev, &got, NULL) == 0, "shapes");
        CHECK(got.len == sizeof w - 1 && !memcmp(got.buf, w, got.len), "shapes: got '%s'", got.buf);
        CHECK(sse_finish(&p) == 0, "nothing partial");
        sse_free(&p);
        free(got.buf);
    }
    { /* the cap */
        SseParser p;
        PlumbError err = { 0 };
        Events got = { 0 };
        char big[300];
        memset(big, 'x', sizeof big);
        sse_init(&p, 100);
        CHECK(sse_feed(&p, "data: ", 6, on_ev, &got, &err) == 0, "cap: start");
        CHECK(sse_feed(&p, big, sizeof big, on_ev, &got, &err) == PLUMB_ENOMEM, "cap: a long line fails");
        CHECK(strstr(err.msg, "longer than 100") != NULL, "cap message: %s", err.msg);
        sse_free(&p);
        sse_init(&p, 100);
        for (int i = 0; i < 2; i++)
            CHECK(sse_feed(&p, "data: 0123456789012345678901234567890123456789\n", 47, on_ev, &got, &err) == 0,
                  "cap: lines");
        CHECK(sse_feed(&p, "data: 0123456789012345678901234567890123456789\n", 47, on_ev, &got, &err) ==
                  PLUMB_ENOMEM, "cap: a long event fails");
        sse_free(&p);
        free(got.buf);
    }
    free(stream.buf);
    free(want.buf);
    return test_done("test_sse");
}
