/*
 * generate.c — plumb_session_generate(): the one generation loop (see
 * plumb.h), shared by every program that writes text with a model.
 *
 * Prompt: tokenised here (or given as ids), BOS decided here and nowhere
 * else, then appended to the session (or, with reuse_prefix, matched against
 * what it holds) and evaluated in batches with an abort check before each.
 *
 * Loop: sample, stop at an end-of-generation token, turn the token into
 * text with the streaming detokeniser (whole UTF-8 characters only), run the
 * text through the stop-string matcher, hand what it releases to on_token,
 * check the limits and the abort flag, evaluate the token, repeat.  The
 * last token sampled is left pending in the session (session.h): the next
 * call evaluates it, so a finished generation costs no forward pass whose
 * logits nobody reads.
 *
 * Stop strings are matched on the text, not on tokens, so a stop string may
 * span any number of tokens.  The matcher holds back the longest tail of the
 * text that is the start of some stop string; that text is released once
 * the following text rules the stop string out, and dropped with everything
 * after it when the stop string completes.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "err.h"
#include "session.h"

#define GEN_MAX_STOP_BYTES 4096 /* longest stop string accepted */

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------- text */

/* A growable byte buffer. */
typedef struct Buf {
    char *p;    /* [cap] bytes */
    size_t n;   /* bytes used */
    size_t cap; /* bytes allocated */
} Buf;

static int buf_reserve(Buf *b, size_t extra)
{
    size_t want;
    char *np;
    if (extra > SIZE_MAX / 2 - b->n)
        return -1;
    want = b->n + extra;
    if (want <= b->cap)
        return 0;
    if (want < 2 * b->cap)
        want = 2 * b->cap;
    if (want < 256)
        want = 256;
    if (!(np = realloc(b->p, want)))
        return -1;
    b->p = np;
    b->cap = want;
    return 0;
}

/* The stop strings and the text held back while it may start one. */
typedef struct StopMatch {
    const char *const *stop; /* [n_stop] */
    size_t *len;             /* [n_stop] lengths */
    size_t n_stop;           /* count */
    Buf held;                /* text not released yet */
} StopMatch;

/* Earliest occurrence of any stop string in h[0..n): position, or n when
 * none; *which gets its index (the first listed among those at the
 * position). */
static size_t find_stop(const StopMatch *sm, const char *h, size_t n, size_t *which)
{
    size_t best = n;
    for (size_t k = 0; k < sm->n_stop; k++) {
        const size_t L = sm->len[k];
        for (size_t i = 0; i + L <= n && i < best; i++)
            if (memcmp(h + i, sm->stop[k], L) == 0) {
                best = i;
                *which = k;
                break;
            }
    }
    return best;
}

/* Length of the longest tail of h[0..n) that is a proper prefix of a stop
 * string (and so may still grow into one). */
static size_t partial_tail(const StopMatch *sm, const char *h, size_t n)
{
    size_t best = 0;
    for (size_t k = 0; k < sm->n_stop; k++) {
        size_t L = sm->len[k] - 1; /* a full match was looked for first */
        if (L > n)
            L = n;
        for (; L > best; L--)
            if (memcmp(h + n - L, sm->stop[k], L) == 0) {
                best = L;
                break;
            }
    }
    return best;
}

/* Append text; set *release to the bytes at the front of sm->held that may
 * be passed on now, and *hit to the index of a completed stop string (its
 * text and what follows it are then never released) or -1. */
static int stop_push(StopMatch *sm, const char *text, size_t len, size_t *release, int32_t *hit)
{
    Buf *h = &sm->held;
    size_t which = 0, at, keep;
    *hit = -1;
    if (len) {
        if (buf_reserve(h, len) < 0)
            return -1;
        memcpy(h->p + h->n, text, len);
        h->n += len;
    }
    if (sm->n_stop == 0) {
        *release = h->n;
        return 0;
    }
    at = find_stop(sm, h->p, h->n, &which);
    if (at < h->n) {
        *release = at;
        *hit = (int32_t)which;
        return 0;
    }
    keep = partial_tail(sm, h->p, h->n);
    at = h->n - keep;
    /* never cut a character: held text is whole characters, and a stop
     * string that begins with a continuation byte must not split one */
    while (at > 0 && at < h->n && ((unsigned char)h->p[at] & 0xC0) == 0x80)
        at--;
    *release = at;
    return 0;
}

static void stop_consume(StopMatch *sm, size_t n)
{
    Buf *h = &sm->held;
    if (n == 0)
        return; /* h->p may still be NULL */
    memmove(h->p, h->p + n, h->n - n);
    h->n -= n;
}

/* ------------------------------------------------------------- prompt */

/* The prompt as ids, BOS decided: *seq malloc'd (one spare slot). */
static int prompt_ids(PlumbSession *s, const PlumbGenParams *p, int32_t **seq, size_t *n_seq,
                      PlumbError *err)
{
    const PlumbModel *m = plumb_session_model(s);
    const PlumbModelInfo *in = plumb_model_info(m);
    int32_t *ids = NULL, *out;
    size_t n = 0, n_held = 0;
    int bos, rc;

    if (p->text) {
        size_t len = p->text_len ? p->text_len : strlen(p->text);
        if ((rc = plumb_tokenize(m, p->text, len, p->parse_special ? PLUMB_TOK_SPECIAL : 0, &ids,
                                 &n, err)) < 0)
            return rc;
    } else if (p->n_ids && !p->ids) {
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_generate: %zu ids but no array",
                         p->n_ids);
    } else {
        n = p->n_ids;
    }
    plumb_session_tokens(s, &n_held);
    bos = p->add_bos && in->add_bos && in->bos_id >= 0 && (p->reuse_prefix || n_held == 0);
    if (bos && n > 0 && (p->text ? ids : p->ids)[0] == in->bos_id)
        bos = 0;
    out = malloc((n + 2) * sizeof *out);
    if (!out) {
        free(ids);
        return plumb_err(err, PLUMB_ENOMEM, "out of memory for a prompt of %zu tokens", n);
    }
    if (bos)
        out[0] = in->bos_id;
    if (n)
        memcpy(out + bos, p->text ? ids : p->ids, n * sizeof *out);
    free(ids);
    *seq = out;
    *n_seq = n + (size_t)bos;
    return PLUMB_OK;
}

/* Evaluate the prompt: append it, or (reuse_prefix) keep the common prefix
 * and evaluate the rest.  Makes sure the last position's logits exist. */
static int eval_prompt(PlumbSession *s, const PlumbGenParams *p, const int32_t *seq, size_t n,
                       void *user, PlumbGenResult *out, PlumbFeed *fd, PlumbError *err)
{
    size_t keep = 0;
    int rc;
    memset(fd, 0, sizeof *fd);
    fd->abort_flag = p->abort_flag;
    fd->on_progress = p->on_progress;
    fd->user = user;
    fd->n_batch = p->n_batch > 0 ? (size_t)p->n_batch : 0;
    fd->flags = p->all_logits ? PLUMB_EVAL_ALL_LOGITS : 0;
    if (p->reuse_prefix) {
        size_t n_held, n_past = plumb_session_n_past(s);
        const int32_t *held = plumb_session_tokens(s, &n_held);
        if (n == 0)
            return plumb_err(err, PLUMB_EINVAL, "reuse_prefix with an empty prompt");
        while (keep < n_past && keep < n && held[keep] == seq[keep])
            keep++;
        if (keep == n)
            keep--; /* run the last token again: its logits are wanted */
        if (keep > 0 && keep < plumb_session_min_truncate(s))
            keep = 0; /* a window dropped what the token at keep attends to */
        if (n - keep > plumb_session_n_ctx(s) - keep)
            return plumb_err(err, PLUMB_ERANGE,
                             "the prompt has %zu tokens, more than the context of %zu", n,
                             plumb_session_n_ctx(s));
        for (size_t i = keep; i < n; i++)
            if (seq[i] < 0 || seq[i] >= plumb_model_info(plumb_session_model(s))->n_vocab)
                return plumb_err(err, PLUMB_ERANGE, "token id %ld is out of range",
                                 (long)seq[i]);
        if ((rc = plumb_session_truncate(s, keep, err)) < 0)
            return rc;
        out->n_reused = keep;
        return plumb_session_feed(s, seq + keep, n - keep, fd, err);
    }
    if (n == 0 && !plumb_session_has_pending(s)) {
        size_t n_held;
        const int32_t *held = plumb_session_tokens(s, &n_held);
        int32_t last;
        if (plumb_session_has_logits(s))
            return PLUMB_OK;
        if (n_held == 0)
            return plumb_err(err, PLUMB_EINVAL, "nothing to generate from: no prompt and an empty session");
        /* logits were dropped (truncate): run the last token again */
        last = held[n_held - 1];
        if ((rc = plumb_session_truncate(s, n_held - 1, err)) < 0)
            return rc;
        return plumb_session_feed(s, &last, 1, fd, err);
    }
    {
        const size_t room = plumb_session_n_ctx(s) - plumb_session_n_past(s);
        const size_t pend = (size_t)plumb_session_has_pending(s);
        if (n > room || pend > room - n)
            return plumb_err(err, PLUMB_ERANGE,
                             "the prompt has %zu tokens, more than the %zu free of the context of %zu",
                             n, room > pend ? room - pend : 0, plumb_session_n_ctx(s));
    }
    return plumb_session_feed(s, seq, n, fd, err);
}

/* ------------------------------------------------------------- the loop */

const char *plumb_finish_name(PlumbFinish f)
{
    switch (f) {
    case PLUMB_FINISH_STOP_TOKEN: return "stop token";
    case PLUMB_FINISH_STOP_STRING: return "stop string";
    case PLUMB_FINISH_LENGTH: return "length";
    case PLUMB_FINISH_ABORTED: return "aborted";
    case PLUMB_FINISH_CALLBACK: return "callback";
    case PLUMB_FINISH_CONTEXT_FULL: return "context full";
    case PLUMB_FINISH_NONE: break;
    }
    return "none";
}

static int aborted(const PlumbGenParams *p)
{
    return p->abort_flag && __atomic_load_n(p->abort_flag, __ATOMIC_ACQUIRE);
}

int plumb_session_generate(PlumbSession *s, const PlumbGenParams *params, PlumbTokenFn on_token,
                           void *user, PlumbGenResult *out, PlumbError *err)
{
    static const PlumbGenParams defaults;
    const PlumbGenParams *p = params ? params : &defaults;
    const PlumbModel *m;
    const PlumbModelInfo *in;
    PlumbGenResult local;
    StopMatch sm = { NULL, NULL, 0, { NULL, 0, 0 } };
    PlumbDetok dt = { { 0 }, 0 };
    PlumbFeed fd;
    Buf piece = { NULL, 0, 0 };
    int32_t *seq = NULL;
    size_t n_seq = 0;
    double t0, t1;
    int rc;

    plumb_err_clear(err);
    if (!out)
        out = &local;
    memset(out, 0, sizeof *out);
    out->stop_index = -1;
    out->last_token = -1;
    if (!s)
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_generate: no session");
    if (p->n_stop && !p->stop)
        return plumb_err(err, PLUMB_EINVAL, "%zu stop strings but no array", p->n_stop);
    m = plumb_session_model(s);
    in = plumb_model_info(m);
    if (p->n_stop) {
        sm.len = malloc(p->n_stop * sizeof *sm.len);
        if (!sm.len)
            return plumb_err(err, PLUMB_ENOMEM, "out of memory for %zu stop strings", p->n_stop);
        for (size_t k = 0; k < p->n_stop; k++) {
            sm.len[k] = p->stop[k] ? strlen(p->stop[k]) : 0;
            if (sm.len[k] == 0 || sm.len[k] > GEN_MAX_STOP_BYTES) {
                rc = plumb_err(err, PLUMB_EINVAL, "stop string %zu is %s", k,
                               sm.len[k] ? "longer than 4096 bytes" : "empty");
                goto done;
            }
        }
        sm.stop = p->stop;
        sm.n_stop = p->n_stop;
    }
    if ((rc = prompt_ids(s, p, &seq, &n_seq, err)) < 0)
        goto done;
    out->n_prompt = n_seq;
    if (p->sampler)
        plumb_session_set_sampler(s, p->sampler);

    t0 = now_seconds();
    rc = eval_prompt(s, p, seq, n_seq, user, out, &fd, err);
    out->n_evaluated = fd.n_done;
    t1 = now_seconds();
    out->prompt_seconds = t1 - t0;
    if (rc < 0)
        goto done;
    if (fd.stopped != FEED_DONE) {
        out->finish = fd.stopped == FEED_ABORTED ? PLUMB_FINISH_ABORTED : PLUMB_FINISH_CALLBACK;
        goto done;
    }
    if (p->n_predict < 0) {
        out->finish = PLUMB_FINISH_LENGTH;
        goto done;
    }

    while (out->finish == PLUMB_FINISH_NONE) {
        const char *bytes;
        size_t len = 0, n_text, release;
        int32_t id, hit;
        int eog, stop_cb;

        if (aborted(p)) {
            out->finish = PLUMB_FINISH_ABORTED;
            break;
        }
        if ((id = plumb_session_sample(s)) < 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "sampling failed: out of memory");
            goto done;
        }
        out->last_token = id;
        eog = !p->ignore_eog && (id == in->eos_id || id == in->eot_id);
        /* room for the token's bytes, each possibly a U+FFFD, and a pending
         * sequence flushed as one */
        bytes = plumb_token_bytes(m, id, &len);
        piece.n = 0;
        if (buf_reserve(&piece, (bytes ? 3 * len : 0) + 16) < 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory for a token's text");
            goto done;
        }
        /* an end token's text goes out only with show_special */
        n_text = eog && !p->show_special
                     ? 0
                     : plumb_detok_push(m, &dt, id, p->show_special, piece.p, piece.cap);
        if (stop_push(&sm, piece.p, n_text, &release, &hit) < 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory for the held-back text");
            goto done;
        }
        stop_cb = on_token && on_token(user, id, release ? sm.held.p : "", release) != 0;
        stop_consume(&sm, release);
        if ((rc = plumb_session_push_pending(s, id, err)) < 0)
            goto done;
        if (eog) {
            out->finish = PLUMB_FINISH_STOP_TOKEN;
            break;
        }
        out->n_generated++;
        if (hit >= 0) {
            out->finish = PLUMB_FINISH_STOP_STRING;
            out->stop_index = hit;
        } else if (stop_cb) {
            out->finish = PLUMB_FINISH_CALLBACK;
        } else if (p->n_predict > 0 && out->n_generated >= (size_t)p->n_predict) {
            out->finish = PLUMB_FINISH_LENGTH;
        } else if (aborted(p)) {
            out->finish = PLUMB_FINISH_ABORTED;
        } else if (plumb_session_n_past(s) >= plumb_session_n_ctx(s)) {
            out->finish = PLUMB_FINISH_CONTEXT_FULL;
        } else if ((rc = plumb_session_feed(s, NULL, 0, NULL, err)) < 0) {
            goto done;
        }
    }
    /* text still held: a partial character, or the start of a stop string
     * that never completed */
    if (out->finish == PLUMB_FINISH_STOP_TOKEN || out->finish == PLUMB_FINISH_LENGTH ||
        out->finish == PLUMB_FINISH_CONTEXT_FULL) {
        char tail[16];
        size_t n = plumb_detok_flush(&dt, tail, sizeof tail), release;
        int32_t hit;
        if (stop_push(&sm, tail, n, &release, &hit) < 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory for the held-back text");
            goto done;
        }
        if (hit < 0)
            release = sm.held.n; /* no stop string can complete any more */
        if (release && on_token)
            (void)on_token(user, -1, sm.held.p, release);
    }
    out->gen_seconds = now_seconds() - t1;
    rc = PLUMB_OK;
done:
    free(seq);
    free(sm.len);
    free(sm.held.p);
    free(piece.p);
    return rc;
}
