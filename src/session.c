/*
 * session.c — PlumbSession: one conversation's state (see plumb.h).
 *
 * A session owns its key/value cache, the forward pass's run state, the
 * sampler, the logits of the last eval and the token sequence it holds
 * (see session.h: the evaluated tokens plus at most one pending).
 * Evaluation checks every id and the free context before touching the
 * cache, so a failed eval leaves the session as it was.  Prompts are
 * processed in batches of up to SESSION_BATCH tokens.  The thread pool is
 * the model's: each forward pass holds the model's run_lock, so sessions on
 * other threads take turns batch by batch.
 */
#include "config.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "forward.h"
#include "kvcache.h"
#include "model.h"
#include "qtypes.h"
#include "sampler.h"
#include "session.h"

#define SESSION_BATCH 512      /* tokens per forward call during prefill */
#define SESSION_DEFAULT_CTX 4096

struct PlumbSession {
    PlumbModel *model;     /* not owned */
    PlumbKVCache kv;       /* keys and values of the history */
    PlumbFwd fwd;          /* forward-pass buffers */
    PlumbSampler sampler;  /* sampling state */
    float *logits;         /* [logits_cap][n_vocab] */
    size_t logits_cap;     /* rows allocated */
    size_t n_logits;       /* rows valid: positions of the last eval kept */
    size_t n_eval;         /* tokens of the last eval (as the caller counts them) */
    int32_t *tokens;       /* [n_ctx + 1] the sequence held: evaluated, then pending */
    size_t n_tokens;       /* kv.n_used, or kv.n_used + 1 with a pending token */
};

static uint32_t kv_qtype(PlumbKVType t)
{
    switch (t) {
    case PLUMB_KV_F32: return PLUMB_QTYPE_F32;
    case PLUMB_KV_Q8_0: return PLUMB_QTYPE_Q8_0;
    case PLUMB_KV_Q4_0: return PLUMB_QTYPE_Q4_0;
    default: return PLUMB_QTYPE_F16;
    }
}

/* The cache's parameters from the session's.  The default type is F16:
 * Q8_0 misses the bar of tests/test_kvquality (top-1 agreement 99 %). */
static int kv_params(PlumbKVParams *kp, const PlumbModel *m, const PlumbSessionParams *p,
                     int32_t n_ctx, PlumbError *err)
{
    const PlumbKVType tk = p ? p->kv_type : PLUMB_KV_DEFAULT;
    const PlumbKVType tv = p && p->kv_type_v ? p->kv_type_v : tk;
    memset(kp, 0, sizeof *kp);
    kp->n_layer = m->info.n_layer;
    kp->n_head_kv = m->info.n_head_kv;
    kp->head_dim = m->info.head_dim;
    kp->n_ctx = n_ctx;
    kp->type_k = kv_qtype(tk);
    kp->type_v = kv_qtype(tv);
    kp->rotate = p && p->kv_rotate == PLUMB_KV_ROTATE_HADAMARD ? 1
                 : p && p->kv_rotate == PLUMB_KV_ROTATE_NONE ? 0
                                                             : kp->type_k == PLUMB_QTYPE_Q4_0 || kp->type_k == PLUMB_QTYPE_Q8_0;
    if (kp->rotate && (m->info.head_dim & (m->info.head_dim - 1)) != 0) {
        if (p && p->kv_rotate == PLUMB_KV_ROTATE_HADAMARD)
            return plumb_err(err, PLUMB_EINVAL,
                             "keys cannot be rotated: head size %d is not a power of two",
                             (int)m->info.head_dim);
        kp->rotate = 0;
    }
    kp->window = p ? p->window : 0;
    kp->keep = kp->window ? (p->keep ? p->keep : 4) : 0;
    return PLUMB_OK;
}

int plumb_session_open(PlumbSession **out, PlumbModel *m, const PlumbSessionParams *p,
                       PlumbError *err)
{
    PlumbSession *s = NULL;
    PlumbKVParams kp;
    PlumbSamplerParams sp;
    int32_t n_ctx;
    int rc;

    plumb_err_clear(err);
    if (!out || !m)
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_open: NULL argument");
    *out = NULL;
    n_ctx = p && p->n_ctx > 0 ? p->n_ctx : 0;
    if (p && p->n_ctx < 0)
        return plumb_err(err, PLUMB_EINVAL, "context length %d is negative", (int)p->n_ctx);
    if (n_ctx == 0)
        n_ctx = m->info.n_ctx_train < SESSION_DEFAULT_CTX ? m->info.n_ctx_train
                                                          : SESSION_DEFAULT_CTX;
    if (p && (p->kv_type < PLUMB_KV_DEFAULT || p->kv_type > PLUMB_KV_Q4_0))
        return plumb_err(err, PLUMB_EINVAL, "unknown key/value cache type %d", (int)p->kv_type);
    if (p && (p->kv_type_v < PLUMB_KV_DEFAULT || p->kv_type_v > PLUMB_KV_Q4_0))
        return plumb_err(err, PLUMB_EINVAL, "unknown value cache type %d", (int)p->kv_type_v);
    if (p && (p->kv_rotate < PLUMB_KV_ROTATE_AUTO || p->kv_rotate > PLUMB_KV_ROTATE_HADAMARD))
        return plumb_err(err, PLUMB_EINVAL, "unknown key rotation %d", (int)p->kv_rotate);
    if (p && (p->window < 0 || p->keep < 0))
        return plumb_err(err, PLUMB_EINVAL, "window %d and keep %d must not be negative",
                         (int)p->window, (int)p->keep);
    if (n_ctx > PLUMB_MAX_CTX)
        return plumb_err(err, PLUMB_EINVAL, "context length %d is over the limit of %d",
                         (int)n_ctx, PLUMB_MAX_CTX);
    s = calloc(1, sizeof *s);
    if (!s)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    s->model = m;
    if ((rc = plumb_model_runtime(m, err)) < 0)
        goto fail;
    if (!(s->tokens = malloc(((size_t)n_ctx + 1) * sizeof *s->tokens))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory for %d tokens", (int)n_ctx);
        goto fail;
    }
    if ((rc = kv_params(&kp, m, p, n_ctx, err)) < 0 || (rc = plumb_kv_init(&s->kv, &kp, err)) < 0 ||
        (rc = plumb_fwd_init(&s->fwd, m, n_ctx < SESSION_BATCH ? n_ctx : SESSION_BATCH, n_ctx,
                             err)) < 0)
        goto fail;
    plumb_sampler_params_default(&sp);
    if ((rc = plumb_sampler_init(&s->sampler, m->info.n_vocab, &sp, err)) < 0)
        goto fail;
    s->logits_cap = 1;
    s->logits = malloc((size_t)m->info.n_vocab * sizeof(float));
    if (!s->logits) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory for the logits");
        goto fail;
    }
    *out = s;
    return PLUMB_OK;
fail:
    plumb_session_close(s);
    return rc;
}

void plumb_session_close(PlumbSession *s)
{
    if (!s)
        return;
    plumb_kv_free(&s->kv);
    plumb_fwd_free(&s->fwd);
    plumb_sampler_free(&s->sampler);
    free(s->logits);
    free(s->tokens);
    free(s);
}

void plumb_session_reset(PlumbSession *s)
{
    if (!s)
        return;
    plumb_kv_clear(&s->kv);
    plumb_sampler_reset(&s->sampler);
    s->n_logits = 0;
    s->n_eval = 0;
    s->n_tokens = 0;
}

int plumb_session_truncate(PlumbSession *s, size_t n_past, PlumbError *err)
{
    if (!s)
        return plumb_err(err, PLUMB_EINVAL, "no session");
    if (n_past > (size_t)s->kv.n_used)
        return plumb_err(err, PLUMB_ERANGE, "cannot keep %zu positions: the session holds %d",
                         n_past, (int)s->kv.n_used);
    if (plumb_kv_truncate(&s->kv, (int32_t)n_past, err) < 0)
        return PLUMB_ERANGE;
    s->n_tokens = n_past; /* a pending token goes too */
    s->n_logits = 0;
    s->n_eval = 0;
    return PLUMB_OK;
}

/* One forward pass over n tokens of the sequence from position kv.n_used,
 * under the model's lock (the pool is shared by every session). */
static void forward_locked(PlumbSession *s, const int32_t *ids, size_t n, size_t n_out, float *dst)
{
    pthread_mutex_lock(&s->model->run_lock);
    plumb_forward(s->model, &s->fwd, &s->kv, ids, (int64_t)n, (int64_t)n_out, dst);
    pthread_mutex_unlock(&s->model->run_lock);
}

/* Evaluate the pending token, if any, then ids.  The logits kept are those
 * of the last position, or with PLUMB_EVAL_ALL_LOGITS of every position
 * from the first of ids (public eval: indices are the caller's) or, for
 * plumb_session_feed(), from the pending token. */
static int feed(PlumbSession *s, const int32_t *ids, size_t n, unsigned flags, PlumbFeed *fd,
                PlumbError *err)
{
    const PlumbModel *m;
    const size_t V = s ? (size_t)s->model->info.n_vocab : 0;
    size_t rows, total, lead, done = 0, n_batch;
    int all, rc;

    plumb_err_clear(err);
    if (!s || (!ids && n))
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_eval: NULL argument");
    if (flags & ~(unsigned)PLUMB_EVAL_ALL_LOGITS)
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_eval: unknown flags 0x%x", flags);
    m = s->model;
    if (n == 0 && !plumb_session_has_pending(s))
        return plumb_err(err, PLUMB_EINVAL, "no tokens to evaluate");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->info.n_vocab)
            return plumb_err(err, PLUMB_ERANGE, "token id %ld is out of range [0, %d)",
                             (long)ids[i], (int)m->info.n_vocab);
    total = s->n_tokens - (size_t)s->kv.n_used + n; /* the pending token first */
    lead = fd ? 0 : total - n; /* tokens before the first whose logits count */
    all = (flags & PLUMB_EVAL_ALL_LOGITS) != 0;
    if (total > (size_t)(plumb_kv_n_ctx(&s->kv) - s->kv.n_used))
        return plumb_err(err, PLUMB_ERANGE, "context full (%d tokens)", (int)plumb_kv_n_ctx(&s->kv));
    rows = all ? total - lead : 1;
    if (rows > s->logits_cap) {
        float *nl;
        if (rows > SIZE_MAX / sizeof(float) / V)
            return plumb_err(err, PLUMB_ENOMEM, "logits of %zu positions do not fit", rows);
        nl = realloc(s->logits, rows * V * sizeof(float));
        if (!nl)
            return plumb_err(err, PLUMB_ENOMEM, "out of memory for the logits of %zu positions",
                             rows);
        s->logits = nl;
        s->logits_cap = rows;
    }
    if (n)
        memcpy(s->tokens + s->n_tokens, ids, n * sizeof *ids);
    s->n_tokens += n;
    s->n_logits = 0;
    s->n_eval = 0;
    n_batch = fd && fd->n_batch ? fd->n_batch : (size_t)s->fwd.n_batch;
    if (n_batch > (size_t)s->fwd.n_batch)
        n_batch = (size_t)s->fwd.n_batch;

    /* tokens[kv.n_used ..] in batches; with every position's logits kept,
     * the lead runs alone first so that rows match the caller's ids */
    while (done < total) {
        const size_t pos = (size_t)s->kv.n_used;
        size_t nb = total - done, n_out;
        float *dst = s->logits;
        if (fd && fd->abort_flag && __atomic_load_n(fd->abort_flag, __ATOMIC_ACQUIRE)) {
            fd->stopped = FEED_ABORTED;
            break;
        }
        if (nb > n_batch)
            nb = n_batch;
        if (all && done < lead) {
            nb = lead - done;
            n_out = 0;
        } else if (all) {
            n_out = nb;
            dst = s->logits + (done - lead) * V;
        } else {
            n_out = done + nb == total ? 1 : 0;
        }
        if ((rc = plumb_kv_reserve(&s->kv, nb, err)) < 0) {
            s->n_tokens = (size_t)s->kv.n_used;
            return rc;
        }
        forward_locked(s, s->tokens + pos, nb, n_out, dst);
        done += nb;
        if (fd)
            fd->n_done = done;
        if (fd && fd->on_progress && done < total && fd->on_progress(fd->user, done, total)) {
            fd->stopped = FEED_CALLBACK;
            break;
        }
    }
    if (done < total) {
        s->n_tokens = (size_t)s->kv.n_used; /* what was not evaluated is not held */
        return PLUMB_OK;
    }
    s->n_eval = total - lead;
    s->n_logits = rows;
    return PLUMB_OK;
}

int plumb_session_eval(PlumbSession *s, const int32_t *ids, size_t n, unsigned flags,
                       PlumbError *err)
{
    if (n == 0) {
        plumb_err_clear(err);
        return plumb_err(err, PLUMB_EINVAL, "no tokens to evaluate");
    }
    return feed(s, ids, n, flags, NULL, err);
}

int plumb_session_feed(PlumbSession *s, const int32_t *ids, size_t n, PlumbFeed *fd,
                       PlumbError *err)
{
    PlumbFeed local;
    if (!fd) {
        memset(&local, 0, sizeof local);
        fd = &local;
    }
    fd->n_done = 0;
    fd->stopped = FEED_DONE;
    return feed(s, ids, n, fd->flags, fd, err);
}

int plumb_session_push_pending(PlumbSession *s, int32_t id, PlumbError *err)
{
    if (!s || s->n_tokens != (size_t)s->kv.n_used)
        return plumb_err(err, PLUMB_EINVAL, "a token is pending already");
    if (id < 0 || id >= s->model->info.n_vocab)
        return plumb_err(err, PLUMB_ERANGE, "token id %ld is out of range [0, %d)", (long)id,
                         (int)s->model->info.n_vocab);
    s->tokens[s->n_tokens++] = id; /* tokens has n_ctx + 1 slots */
    return PLUMB_OK;
}

int plumb_session_has_logits(const PlumbSession *s)
{
    return s && s->n_logits > 0 && s->n_tokens == (size_t)s->kv.n_used;
}

int plumb_session_has_pending(const PlumbSession *s)
{
    return s && s->n_tokens > (size_t)s->kv.n_used;
}

const PlumbModel *plumb_session_model(const PlumbSession *s)
{
    return s ? s->model : NULL;
}

const int32_t *plumb_session_tokens(const PlumbSession *s, size_t *n_tokens)
{
    if (n_tokens)
        *n_tokens = s ? s->n_tokens : 0;
    return s ? s->tokens : NULL;
}

int plumb_session_set_tokens(PlumbSession *s, const int32_t *ids, size_t n, size_t *n_reused,
                             PlumbError *err)
{
    size_t keep = 0, n_used;
    int rc;
    plumb_err_clear(err);
    if (n_reused)
        *n_reused = 0;
    if (!s || (!ids && n))
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_set_tokens: NULL argument");
    if (n == 0)
        return plumb_err(err, PLUMB_EINVAL, "no tokens to evaluate");
    n_used = (size_t)s->kv.n_used;
    while (keep < n_used && keep < n && s->tokens[keep] == ids[keep])
        keep++;
    if (keep == n)
        keep--; /* evaluate the last token again: its logits are wanted */
    if (keep > 0 && keep < (size_t)plumb_kv_min_truncate(&s->kv))
        keep = 0; /* the window dropped what the token at keep would attend to */
    if (n - keep > (size_t)plumb_kv_n_ctx(&s->kv) - keep)
        return plumb_err(err, PLUMB_ERANGE, "%zu tokens do not fit in the context of %d", n,
                         (int)plumb_kv_n_ctx(&s->kv));
    for (size_t i = keep; i < n; i++)
        if (ids[i] < 0 || ids[i] >= s->model->info.n_vocab)
            return plumb_err(err, PLUMB_ERANGE, "token id %ld is out of range [0, %d)",
                             (long)ids[i], (int)s->model->info.n_vocab);
    if ((rc = plumb_session_truncate(s, keep, err)) < 0 ||
        (rc = feed(s, ids + keep, n - keep, 0, NULL, err)) < 0)
        return rc;
    if (n_reused)
        *n_reused = keep;
    return PLUMB_OK;
}

const float *plumb_session_logits(const PlumbSession *s, size_t i)
{
    if (!s || s->n_logits == 0 || i >= s->n_eval)
        return NULL;
    if (s->n_logits == s->n_eval)
        return s->logits + i * (size_t)s->model->info.n_vocab;
    return i == s->n_eval - 1 ? s->logits : NULL;
}

size_t plumb_session_n_past(const PlumbSession *s)
{
    return s ? (size_t)s->kv.n_used : 0;
}

int plumb_session_fill(PlumbSession *s, size_t n, uint64_t seed, PlumbError *err)
{
    const PlumbModelInfo *in;
    size_t width;
    float *k, *v;
    uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
    plumb_err_clear(err);
    if (!s)
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_fill: NULL argument");
    if (s->n_tokens != (size_t)s->kv.n_used)
        return plumb_err(err, PLUMB_EINVAL, "a token is pending");
    if (n > (size_t)(plumb_kv_n_ctx(&s->kv) - s->kv.n_used))
        return plumb_err(err, PLUMB_ERANGE, "%zu positions do not fit in the context of %d", n,
                         (int)plumb_kv_n_ctx(&s->kv));
    in = &s->model->info;
    width = (size_t)in->n_head_kv * (size_t)in->head_dim;
    k = malloc(PLUMB_KV_PAGE * width * sizeof *k);
    v = malloc(PLUMB_KV_PAGE * width * sizeof *v);
    if (!k || !v) {
        free(k);
        free(v);
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    }
    while (n > 0) {
        const int32_t step = n < PLUMB_KV_PAGE ? (int32_t)n : PLUMB_KV_PAGE;
        int rc;
        if ((rc = plumb_kv_reserve(&s->kv, (size_t)step, err)) < 0) {
            free(k);
            free(v);
            return rc;
        }
        for (int32_t l = 0; l < in->n_layer; l++) {
            for (size_t i = 0; i < (size_t)step * width; i++) {
                x ^= x << 13, x ^= x >> 7, x ^= x << 17;
                k[i] = (float)((int64_t)(x >> 40) - (1 << 23)) / (float)(1 << 23);
                v[i] = (float)((int64_t)(x & 0xffffff) - (1 << 23)) / (float)(1 << 23);
            }
            plumb_kv_store(&s->kv, &s->model->dsp, l, s->kv.n_used, step, k, v, (int64_t)width, 0,
                           in->n_head_kv);
        }
        for (int32_t i = 0; i < step; i++)
            s->tokens[s->kv.n_used + i] = 0;
        plumb_kv_commit(&s->kv, step);
        s->n_tokens += (size_t)step;
        n -= (size_t)step;
    }
    free(k);
    free(v);
    s->n_logits = 0;
    s->n_eval = 0;
    return PLUMB_OK;
}

uint64_t plumb_session_kv_bytes(const PlumbSession *s)
{
    return s ? plumb_kv_bytes(&s->kv) : 0;
}

size_t plumb_session_n_ctx(const PlumbSession *s)
{
    return s ? (size_t)plumb_kv_n_ctx(&s->kv) : 0;
}

void plumb_session_set_sampler(PlumbSession *s, const PlumbSamplerParams *p)
{
    if (s && p)
        plumb_sampler_set(&s->sampler, p);
}

void plumb_session_sampler_reset(PlumbSession *s)
{
    if (s)
        plumb_sampler_reset(&s->sampler);
}

int32_t plumb_session_sample(PlumbSession *s)
{
    const float *logits;
    int32_t id;
    if (!s || s->n_eval == 0)
        return -1;
    logits = plumb_session_logits(s, s->n_eval - 1);
    if (!logits)
        return -1;
    id = plumb_sampler_sample(&s->sampler, logits);
    if (id >= 0 && plumb_sampler_accept(&s->sampler, id) < 0)
        return -1;
    return id;
}

int plumb_kv_type_parse(const char *s, PlumbKVType *out, PlumbError *err)
{
    static const struct { const char *name; PlumbKVType t; } names[] = {
        { "f32", PLUMB_KV_F32 }, { "f16", PLUMB_KV_F16 }, { "q8_0", PLUMB_KV_Q8_0 }, { "q4_0", PLUMB_KV_Q4_0 }
    };
    for (size_t i = 0; s && i < sizeof names / sizeof names[0]; i++)
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].t;
            return PLUMB_OK;
        }
    return plumb_err(err, PLUMB_EINVAL, "unknown key/value cache type '%s' (f32, f16, q8_0 or q4_0)",
                     s ? s : "");
}

const char *plumb_kv_type_name(PlumbKVType t)
{
    switch (t) {
    case PLUMB_KV_F32: return "f32";
    case PLUMB_KV_Q8_0: return "q8_0";
    case PLUMB_KV_Q4_0: return "q4_0";
    default: return "f16";
    }
}

size_t plumb_session_min_truncate(const PlumbSession *s)
{
    return s ? (size_t)plumb_kv_min_truncate(&s->kv) : 0;
}

struct PlumbKVCache *plumb_session_kv(PlumbSession *s)
{
    return s ? &s->kv : NULL;
}

void plumb_session_set_held(PlumbSession *s, const int32_t *ids, size_t n)
{
    memcpy(s->tokens, ids, n * sizeof *ids);
    s->n_tokens = n;
    s->n_logits = 0;
    s->n_eval = 0;
}

int plumb_session_fork(PlumbSession *s, PlumbSession **out, PlumbError *err)
{
    PlumbSession *c = NULL;
    int rc;
    plumb_err_clear(err);
    if (!s || !out)
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_fork: NULL argument");
    *out = NULL;
    if (!(c = calloc(1, sizeof *c)))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    c->model = s->model;
    if (!(c->tokens = malloc(((size_t)plumb_kv_n_ctx(&s->kv) + 1) * sizeof *c->tokens)) ||
        !(c->logits = malloc(s->logits_cap * (size_t)s->model->info.n_vocab * sizeof(float)))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory for a fork of %zu tokens", s->n_tokens);
        goto fail;
    }
    if ((rc = plumb_kv_fork(&s->kv, &c->kv, err)) < 0 ||
        (rc = plumb_fwd_init(&c->fwd, s->model, s->fwd.n_batch, s->fwd.n_ctx, err)) < 0 ||
        (rc = plumb_sampler_copy(&c->sampler, &s->sampler, err)) < 0)
        goto fail;
    memcpy(c->tokens, s->tokens, s->n_tokens * sizeof *c->tokens);
    memcpy(c->logits, s->logits, s->n_logits * (size_t)s->model->info.n_vocab * sizeof(float));
    c->logits_cap = s->logits_cap;
    c->n_logits = s->n_logits;
    c->n_eval = s->n_eval;
    c->n_tokens = s->n_tokens;
    *out = c;
    return PLUMB_OK;
fail:
    plumb_session_close(c);
    return rc;
}
