/*
 * session.h — what the generation loop (generate.c) needs of a session
 * beyond plumb.h.  Library-internal.
 *
 * A session holds a token sequence: tokens[0, n_past) have been evaluated
 * (their keys and values are in the cache) and at most one more, the
 * pending token, has been sampled but not evaluated yet.  Every evaluation
 * runs the pending token first, so "what the session holds" is always the
 * whole sequence and a prompt is simply appended to it.
 */
#ifndef PLUMB_SESSION_H
#define PLUMB_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "plumb.h"

/* Why plumb_session_feed() stopped early. */
enum { FEED_DONE = 0, FEED_ABORTED = 1, FEED_CALLBACK = 2 };

typedef struct PlumbFeed {
    const volatile int *abort_flag; /* checked before each batch; NULL = never */
    PlumbProgressFn on_progress;    /* after each batch; NULL = none */
    void *user;                     /* for on_progress */
    size_t n_batch;                 /* tokens per forward pass; 0 = the session's */
    unsigned flags;                 /* PLUMB_EVAL_ALL_LOGITS or 0 */
    size_t n_done;                  /* out: tokens evaluated, the pending one included */
    int stopped;                    /* out: FEED_* */
} PlumbFeed;

/* Append ids[0..n) to the sequence and evaluate it together with the
 * pending token, in batches.  Checks ids and room first (nothing changes on
 * error).  Stopped early, the tokens not evaluated are dropped and there are
 * no logits.  n may be 0 when a token is pending. */
int plumb_session_feed(PlumbSession *s, const int32_t *ids, size_t n, PlumbFeed *fd,
                       PlumbError *err);
/* Record id as the pending token (there must be none, and room for it). */
int plumb_session_push_pending(PlumbSession *s, int32_t id, PlumbError *err);
/* Non-zero when the logits of the last held position are current. */
int plumb_session_has_logits(const PlumbSession *s);
/* Non-zero when a pending token waits for evaluation. */
int plumb_session_has_pending(const PlumbSession *s);
const PlumbModel *plumb_session_model(const PlumbSession *s);

/* The session's key/value cache (kvfile.c saves and loads it). */
struct PlumbKVCache *plumb_session_kv(PlumbSession *s);
/* After the cache was refilled with n positions (kvfile.c): the session
 * holds ids[0..n), with no logits and no pending token.  n must equal the
 * cache's n_used and fit the context. */
void plumb_session_set_held(PlumbSession *s, const int32_t *ids, size_t n);

/* Smallest n_past > 0 plumb_session_truncate accepts (0 when any is):
 * a window may have dropped what the token at a smaller n_past attends to. */
size_t plumb_session_min_truncate(const PlumbSession *s);

#endif
