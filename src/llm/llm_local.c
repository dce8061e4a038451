/*
 * llm_local.c — the embedded backend (llm.h): one PlumbSession on a model
 * opened by the caller.
 *
 * Each call renders the whole conversation with llm_render() (Qwen3
 * ChatML, every <think> kept, so a new message never changes the bytes
 * before it, the forced-answer message included) and hands its ids to
 * plumb_session_generate() with reuse_prefix: the session keeps the longest
 * common prefix of what it holds and evaluates only the rest.
 *
 * The ids are not those of tokenizing the rendering afresh: a reply's
 * tokens are whatever the model sampled, and tokenizing its text again
 * may split it otherwise (a random-weight model does so all the time, a
 * trained one now and then), which would end the common prefix inside the
 * reply and re-evaluate everything after it.  So the backend keeps the
 * text the session holds (the last rendering plus the reply's kept text)
 * with the ids that make it and the byte offset each id ends at.  The next
 * rendering keeps those ids up to the last token boundary inside the bytes
 * it shares with that text, and tokenizes only the rest.  Where tokenizing
 * changed the bytes (NFC normalisation), a stretch of ids has no inner
 * boundaries and is kept or re-tokenized whole.
 * The reply stops at <|im_end|>, <|endoftext|> or a stop string.  The
 * presence penalty sees only this call's generated tokens: the sampler's
 * history is cleared before each call, and prompt tokens never enter it.
 *
 * The model's identity for the record is a fingerprint, not a hash of the
 * whole file (a 17 GB file takes minutes to hash): SHA-256 over the file's
 * size (8 bytes, little-endian), its first 4 MiB (the GGUF header and the
 * start of the metadata) and its last 1 MiB (the end of the last tensor).
 * llm_describe() gives "model sha256:HEX (PATH)" with that HEX; it differs
 * from sha256sum's.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "buf.h"
#include "err.h"
#include "hash.h"
#include "llm_impl.h"

#define LOCAL_DEFAULT_CTX 32768
#define FP_HEAD (4u << 20) /* bytes of the file's start in the fingerprint */
#define FP_TAIL (1u << 20) /* bytes of its end */

#define NO_BOUNDARY ((size_t)-1) /* off[] of an id that ends inside a stretch */

typedef struct LocalLLM {
    PlumbLLM base;
    PlumbModel *m;    /* borrowed */
    PlumbSession *s;  /* owned */
    size_t n_ctx;     /* tokens the session holds */
    PlumbSessionParams sp; /* what the session was opened with */
    int keep_system;  /* a window whose sinks are the system message, not counted yet */
    /* what the session holds, as text and as the ids that make it */
    char *text;       /* [text_len] bytes, NUL-terminated; NULL before the first call */
    size_t text_len;
    int32_t *ids;     /* [n_ids] */
    size_t *off;      /* [n_ids] byte offset in text where id i ends, or NO_BOUNDARY */
    size_t n_ids;
} LocalLLM;

/* A sequence of ids with the byte offset each ends at (see the top). */
typedef struct Seq {
    int32_t *ids;
    size_t *off;
    size_t n, cap;
} Seq;

static void seq_free(Seq *q)
{
    free(q->ids);
    free(q->off);
    memset(q, 0, sizeof *q);
}

static int seq_push(Seq *q, int32_t id, size_t off)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? 2 * q->cap : 256;
        int32_t *ni = realloc(q->ids, cap * sizeof *ni);
        size_t *no;
        if (!ni)
            return PLUMB_ENOMEM;
        q->ids = ni;
        if (!(no = realloc(q->off, cap * sizeof *no)))
            return PLUMB_ENOMEM;
        q->off = no;
        q->cap = cap;
    }
    q->ids[q->n] = id;
    q->off[q->n] = off;
    q->n++;
    return PLUMB_OK;
}

/* Append the ids of text[from..len) to q, with offsets: each id's bytes
 * (plumb_token_bytes) must spell the text, else the whole stretch gets one
 * boundary, at its end. */
static int seq_tokenize(const PlumbModel *m, Seq *q, const char *text, size_t from, size_t len,
                        PlumbError *err)
{
    int32_t *ids = NULL;
    size_t n = 0, i, at = from, first = q->n;
    int aligned = 1, rc;
    if (from == len)
        return PLUMB_OK;
    if ((rc = plumb_tokenize(m, text + from, len - from, PLUMB_TOK_SPECIAL, &ids, &n, err)) < 0)
        return rc;
    for (i = 0; i < n; i++) {
        size_t bl = 0;
        const char *b = plumb_token_bytes(m, ids[i], &bl);
        if (aligned && b && at + bl <= len && !memcmp(text + at, b, bl))
            at += bl;
        else
            aligned = 0;
        if ((rc = seq_push(q, ids[i], aligned ? at : NO_BOUNDARY)) < 0) {
            free(ids);
            return plumb_err(err, rc, "out of memory");
        }
    }
    free(ids);
    if (!aligned || at != len) {
        for (i = first; i < q->n; i++)
            q->off[i] = NO_BOUNDARY;
        if (q->n > first)
            q->off[q->n - 1] = len;
    }
    return PLUMB_OK;
}

/* The conversation's rendering (*text, malloc'd) and its ids (BOS first
 * when the model asks for one): the kept ids of what the session holds up
 * to the last boundary inside the shared bytes, then the rest tokenized. */
static int tokens_of(LocalLLM *l, const PlumbChatMsg *msgs, size_t n, Seq *q, char **text,
                     size_t *text_len, PlumbError *err)
{
    const PlumbModelInfo *in = plumb_model_info(l->m);
    size_t len, common = 0, keep = 0, from = 0;
    int rc = PLUMB_OK;
    memset(q, 0, sizeof *q);
    *text = NULL;
    if ((rc = llm_render(msgs, n, text, err)) < 0)
        return rc;
    len = strlen(*text);
    if (l->text) {
        size_t lim = len < l->text_len ? len : l->text_len;
        while (common < lim && (*text)[common] == l->text[common])
            common++;
        /* the last id that ends on a boundary within the shared bytes */
        for (keep = l->n_ids; keep > 0; keep--)
            if (l->off[keep - 1] != NO_BOUNDARY && l->off[keep - 1] <= common)
                break;
        from = keep ? l->off[keep - 1] : 0;
        while (q->n < keep && (rc = seq_push(q, l->ids[q->n], l->off[q->n])) == PLUMB_OK)
            ;
        if (rc < 0)
            goto fail;
    }
    if (!q->n && in->add_bos && in->bos_id >= 0 && (rc = seq_push(q, in->bos_id, 0)) < 0)
        goto fail;
    if ((rc = seq_tokenize(l->m, q, *text, from, len, err)) < 0)
        goto fail;
    *text_len = len;
    return PLUMB_OK;
fail:
    if (rc == PLUMB_ENOMEM && err && !err->msg[0])
        plumb_err(err, rc, "out of memory");
    seq_free(q);
    free(*text);
    *text = NULL;
    return rc;
}

static int local_count(PlumbLLM *base, const PlumbChatMsg *msgs, size_t n, size_t *n_tokens,
                       PlumbError *err)
{
    Seq q;
    char *text;
    size_t len;
    int rc = tokens_of((LocalLLM *)base, msgs, n, &q, &text, &len, err);
    if (rc == PLUMB_OK)
        *n_tokens = q.n;
    seq_free(&q);
    free(text);
    return rc;
}

typedef struct Collect {
    char *text;        /* [len] the reply so far, NUL-terminated; [cap] allocated */
    size_t len, cap;
    LlmTextFn fn;      /* the caller's stream, or NULL */
    void *user;
    int failed;        /* out of memory */
} Collect;

static int on_token(void *user, int32_t id, const char *piece, size_t len)
{
    Collect *c = user;
    (void)id;
    if (!len)
        return 0;
    if (c->len + len + 1 > c->cap) {
        size_t cap = 2 * (c->len + len + 1) + 256;
        char *nt = realloc(c->text, cap);
        if (!nt) {
            c->failed = 1;
            return 1;
        }
        c->text = nt;
        c->cap = cap;
    }
    memcpy(c->text + c->len, piece, len);
    c->len += len;
    c->text[c->len] = 0;
    return c->fn ? c->fn(c->user, piece, len) : 0;
}

/* After a call: the session holds the prompt's ids and the generated ones
 * (a pending last one too).  Keep, as the text the session holds, the
 * rendering plus the reply's text as the streaming detokenizer gave it for
 * the generated ids (U+FFFD for broken bytes, as the reply has them); an id
 * ends on a boundary when no byte of a character is left pending after it.
 * The end token and a stop string's ids are not part of the reply's text,
 * so they are left out (the next call replaces them).  On failure the
 * memory is just forgotten: the next call tokenizes everything, which is
 * only slower. */
static void remember(LocalLLM *l, Seq *q, char *text, size_t text_len, const char *reply,
                     size_t reply_len)
{
    size_t n_all = 0, i, at = 0, base = q->n;
    const int32_t *all = plumb_session_tokens(l->s, &n_all);
    PlumbDetok d = { { 0 }, 0 };
    char piece[1024];
    Buf t = { 0 };
    free(l->text);
    free(l->ids);
    free(l->off);
    l->text = NULL;
    l->ids = NULL;
    l->off = NULL;
    l->n_ids = l->text_len = 0;
    if (buf_append(&t, text, text_len) < 0)
        goto forget;
    for (i = base; i < n_all; i++) {
        size_t k = plumb_detok_push(l->m, &d, all[i], 0, piece, sizeof piece);
        if (!k && !d.n_pending)
            break; /* a control token (the end, or markup a trained model does not
                      write inside a reply): the text no longer says what the
                      session holds */
        if (at + k > reply_len || memcmp(reply + at, piece, k))
            break;
        at += k;
        if (buf_append(&t, piece, k) < 0 ||
            seq_push(q, all[i], d.n_pending ? NO_BOUNDARY : text_len + at) < 0)
            goto forget;
    }
    while (q->n > base && q->off[q->n - 1] == NO_BOUNDARY)
        q->n--; /* bytes of a character still pending: not in the text */
    l->text_len = t.len;
    l->text = buf_steal(&t);
    l->ids = q->ids;
    l->off = q->off;
    l->n_ids = q->n;
    memset(q, 0, sizeof *q);
    return;
forget:
    buf_free(&t);
}

static int local_generate(PlumbLLM *base, const PlumbChatMsg *msgs, size_t n, const LlmParams *p,
                          LlmTextFn fn, void *user, LlmResult *res, PlumbError *err)
{
    LocalLLM *l = (LocalLLM *)base;
    PlumbSamplerParams sp;
    PlumbGenParams gp = { 0 };
    PlumbGenResult gr;
    Collect c = { NULL, 0, 0, fn, user, 0 };
    Seq q;
    char *text = NULL;
    size_t n_ids, room, text_len = 0;
    int rc;

    if (l->keep_system && n > 0 && !strcmp(msgs[0].role, "system") && !l->text) {
        /* the first call: the sinks become the system message's tokens, in
         * a session opened again (it holds nothing yet) */
        PlumbSession *s2 = NULL;
        if ((rc = tokens_of(l, msgs, 1, &q, &text, &text_len, err)) < 0)
            return rc;
        l->sp.keep = q.n > 4 ? (int32_t)(q.n < INT32_MAX ? q.n : INT32_MAX) : 4;
        seq_free(&q);
        free(text);
        text = NULL;
        if ((rc = plumb_session_open(&s2, l->m, &l->sp, err)) < 0)
            return rc;
        plumb_session_close(l->s);
        l->s = s2;
        l->keep_system = 0;
    }
    if ((rc = tokens_of(l, msgs, n, &q, &text, &text_len, err)) < 0)
        return rc;
    n_ids = q.n;
    if (n_ids >= l->n_ctx) {
        rc = plumb_err(err, PLUMB_ERANGE,
                       "the conversation is %zu tokens; the context holds %zu", n_ids, l->n_ctx);
        goto done;
    }
    room = l->n_ctx - n_ids;
    plumb_sampler_params_default(&sp);
    sp.temperature = p->temperature;
    sp.top_p = p->top_p;
    sp.presence_penalty = p->presence_penalty;
    sp.penalty_last_n = -1;
    sp.seed = p->seed;
    plumb_session_sampler_reset(l->s); /* penalties see this call's tokens only */

    gp.ids = q.ids;
    gp.n_ids = n_ids;
    gp.reuse_prefix = 1;
    gp.n_predict = p->max_tokens > 0 && (size_t)p->max_tokens < room ? p->max_tokens : (int32_t)room;
    gp.stop = p->stop;
    gp.n_stop = p->n_stop;
    gp.sampler = &sp;
    gp.abort_flag = p->abort_flag;
    rc = plumb_session_generate(l->s, &gp, on_token, &c, &gr, err);
    if (rc == PLUMB_OK && c.failed)
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory for the reply");
    if (rc < 0)
        goto done;
    switch (gr.finish) {
    case PLUMB_FINISH_STOP_STRING: res->finish = LLM_FINISH_STRING; break;
    case PLUMB_FINISH_LENGTH:
    case PLUMB_FINISH_CONTEXT_FULL: res->finish = LLM_FINISH_LENGTH; break;
    case PLUMB_FINISH_ABORTED:
    case PLUMB_FINISH_CALLBACK: res->finish = LLM_FINISH_ABORTED; break;
    default: res->finish = LLM_FINISH_STOP; break;
    }
    if (!c.text && !(c.text = calloc(1, 1))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto done;
    }
    remember(l, &q, text, text_len, c.text, c.len);
    res->text_len = c.len;
    res->text = c.text;
    c.text = NULL;
    res->n_prompt = gr.n_prompt;
    res->n_reused = gr.n_reused;
    res->n_evaluated = gr.n_evaluated;
    res->n_generated = gr.n_generated;
    res->prompt_seconds = gr.prompt_seconds;
    res->gen_seconds = gr.gen_seconds;
done:
    free(c.text);
    free(text);
    seq_free(&q);
    return rc;
}

static size_t local_context_size(PlumbLLM *base)
{
    return ((LocalLLM *)base)->n_ctx;
}

static void local_close(PlumbLLM *base)
{
    LocalLLM *l = (LocalLLM *)base;
    plumb_session_close(l->s);
    free(l->text);
    free(l->ids);
    free(l->off);
    free(l);
}

static const LlmOps local_ops = {
    local_generate, local_count, local_context_size, local_close,
};

/* The fingerprint described at the top, as 64 hex digits. */
static int fingerprint(const char *path, char hex[65], PlumbError *err)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL, size_le[8];
    struct stat st;
    Sha256 h;
    size_t got;
    int i, rc = PLUMB_OK;

    if (!f)
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fileno(f), &st) < 0 || !(buf = malloc(FP_HEAD))) {
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
        goto done;
    }
    for (i = 0; i < 8; i++)
        size_le[i] = (unsigned char)((uint64_t)st.st_size >> (8 * i));
    sha256_begin(&h);
    sha256_update(&h, size_le, sizeof size_le);
    got = fread(buf, 1, FP_HEAD, f);
    sha256_update(&h, buf, got);
    if (st.st_size > (off_t)FP_TAIL && fseeko(f, st.st_size - (off_t)FP_TAIL, SEEK_SET) == 0) {
        got = fread(buf, 1, FP_TAIL, f);
        sha256_update(&h, buf, got);
    }
    sha256_end_hex(&h, hex);
    if (ferror(f)) {
        rc = plumb_err(err, PLUMB_EIO, "%s: read error", path);
        goto done;
    }
done:
    free(buf);
    fclose(f);
    return rc;
}

int llm_open_local(PlumbLLM **out, PlumbModel *m, const LlmLocalParams *p, PlumbError *err)
{
    LocalLLM *l;
    PlumbSessionParams sp = { 0 };
    const PlumbModelInfo *in;
    char hex[65];
    size_t n_ctx;
    int rc;

    *out = NULL;
    if (!m)
        return plumb_err(err, PLUMB_EINVAL, "llm_open_local: no model");
    in = plumb_model_info(m);
    n_ctx = p && p->n_ctx ? p->n_ctx : LOCAL_DEFAULT_CTX;
    if (in->n_ctx_train > 0 && n_ctx > (size_t)in->n_ctx_train)
        n_ctx = (size_t)in->n_ctx_train;
    if (!(l = calloc(1, sizeof *l)))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    l->base.ops = &local_ops;
    l->m = m;
    if (p)
        sp = p->kv;
    sp.n_ctx = (int32_t)n_ctx;
    l->sp = sp;
    l->keep_system = sp.window > 0 && sp.keep == 0;
    if ((rc = plumb_session_open(&l->s, m, &sp, err)) < 0) {
        free(l);
        return rc;
    }
    l->n_ctx = plumb_session_n_ctx(l->s);
    if (p && p->model_path) {
        if ((rc = fingerprint(p->model_path, hex, err)) < 0) {
            local_close(&l->base);
            return rc;
        }
        snprintf(l->base.describe, sizeof l->base.describe, "model sha256:%s (%s)", hex,
                 p->model_path);
    } else {
        snprintf(l->base.describe, sizeof l->base.describe, "model %s",
                 in->path ? in->path : "(unnamed)");
    }
    *out = &l->base;
    return PLUMB_OK;
}
