/*
 * session.c — PlumbSession: one conversation's state (see plumb.h).
 *
 * A session owns its key/value cache, the forward pass's run state, the
 * sampler and the logits of the last eval.  Evaluation checks every id and
 * the free context before touching the cache, so a failed eval leaves the
 * session as it was.  Prompts are processed in batches of up to
 * SESSION_BATCH tokens.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "err.h"
#include "forward.h"
#include "kvcache.h"
#include "model.h"
#include "qtypes.h"
#include "sampler.h"

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
    size_t n_eval;         /* tokens of the last eval */
};

int plumb_session_open(PlumbSession **out, PlumbModel *m, const PlumbSessionParams *p,
                       PlumbError *err)
{
    PlumbSession *s = NULL;
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
    if (p && (p->kv_type < PLUMB_KV_DEFAULT || p->kv_type > PLUMB_KV_F32))
        return plumb_err(err, PLUMB_EINVAL, "unknown key/value cache type %d", (int)p->kv_type);
    if (n_ctx > PLUMB_MAX_CTX)
        return plumb_err(err, PLUMB_EINVAL, "context length %d is over the limit of %d",
                         (int)n_ctx, PLUMB_MAX_CTX);
    s = calloc(1, sizeof *s);
    if (!s)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    s->model = m;
    if ((rc = plumb_kv_init(&s->kv, m->info.n_layer, n_ctx,
                            m->info.n_head_kv * m->info.head_dim,
                            p && p->kv_type == PLUMB_KV_F32 ? PLUMB_QTYPE_F32 : PLUMB_QTYPE_F16, err)) < 0 ||
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
}

int plumb_session_truncate(PlumbSession *s, size_t n_past, PlumbError *err)
{
    if (!s)
        return plumb_err(err, PLUMB_EINVAL, "no session");
    if (n_past > (size_t)s->kv.n_used)
        return plumb_err(err, PLUMB_ERANGE, "cannot keep %zu positions: the session holds %d",
                         n_past, (int)s->kv.n_used);
    /* rows past n_used are never read (see plumb_kv_clear) */
    s->kv.n_used = (int32_t)n_past;
    s->n_logits = 0;
    s->n_eval = 0;
    return PLUMB_OK;
}

int plumb_session_eval(PlumbSession *s, const int32_t *ids, size_t n, unsigned flags,
                       PlumbError *err)
{
    const PlumbModel *m;
    const size_t V = s ? (size_t)s->model->info.n_vocab : 0;
    const int all = (flags & PLUMB_EVAL_ALL_LOGITS) != 0;
    size_t done = 0, rows;
    int rc;

    plumb_err_clear(err);
    if (!s || (!ids && n))
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_eval: NULL argument");
    if (flags & ~(unsigned)PLUMB_EVAL_ALL_LOGITS)
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_eval: unknown flags 0x%x", flags);
    m = s->model;
    if (n == 0)
        return plumb_err(err, PLUMB_EINVAL, "no tokens to evaluate");
    for (size_t i = 0; i < n; i++)
        if (ids[i] < 0 || ids[i] >= m->info.n_vocab)
            return plumb_err(err, PLUMB_ERANGE, "token id %ld is out of range [0, %d)",
                             (long)ids[i], (int)m->info.n_vocab);
    if ((rc = plumb_kv_reserve(&s->kv, n, err)) < 0)
        return rc;
    rows = all ? n : 1;
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

    while (done < n) {
        size_t nb = n - done, n_out;
        float *dst;
        if (nb > (size_t)s->fwd.n_batch)
            nb = (size_t)s->fwd.n_batch;
        if (all) {
            n_out = nb;
            dst = s->logits + done * V;
        } else {
            n_out = done + nb == n ? 1 : 0;
            dst = s->logits;
        }
        plumb_forward(m, &s->fwd, &s->kv, ids + done, (int64_t)nb, (int64_t)n_out, dst);
        done += nb;
    }
    s->n_eval = n;
    s->n_logits = rows;
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
    if (s && strcasecmp(s, "f16") == 0)
        *out = PLUMB_KV_F16;
    else if (s && strcasecmp(s, "f32") == 0)
        *out = PLUMB_KV_F32;
    else
        return plumb_err(err, PLUMB_EINVAL, "unknown key/value cache type '%s' (f16 or f32)", s ? s : "");
    return PLUMB_OK;
}

const char *plumb_kv_type_name(PlumbKVType t)
{
    return t == PLUMB_KV_F32 ? "f32" : "f16";
}
