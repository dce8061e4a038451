/*
 * llm_local.c — the embedded backend (llm.h): one PlumbSession on a model
 * opened by the caller.
 *
 * Each call renders the whole conversation with llm_render() (Qwen3
 * ChatML, every <think> kept, so a new message never changes the bytes
 * before it, the forced-answer message included), tokenizes it and hands
 * the ids to plumb_session_generate() with reuse_prefix: the session keeps
 * the longest common prefix of what it holds and evaluates only the rest.
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

typedef struct LocalLLM {
    PlumbLLM base;
    PlumbModel *m;    /* borrowed */
    PlumbSession *s;  /* owned */
    size_t n_ctx;     /* tokens the session holds */
} LocalLLM;

/* The conversation as ids (BOS first when the model asks for one). */
static int tokens_of(LocalLLM *l, const PlumbChatMsg *msgs, size_t n, int32_t **ids,
                     size_t *n_ids, PlumbError *err)
{
    const PlumbModelInfo *in = plumb_model_info(l->m);
    char *text = NULL;
    int rc;
    *ids = NULL;
    if ((rc = llm_render(msgs, n, &text, err)) < 0)
        return rc;
    rc = plumb_tokenize(l->m, text, strlen(text), PLUMB_TOK_SPECIAL, ids, n_ids, err);
    free(text);
    if (rc < 0)
        return rc;
    if (in->add_bos && in->bos_id >= 0 && (!*n_ids || (*ids)[0] != in->bos_id)) {
        int32_t *nb = realloc(*ids, (*n_ids + 1) * sizeof *nb);
        if (!nb) {
            free(*ids);
            *ids = NULL;
            return plumb_err(err, PLUMB_ENOMEM, "out of memory");
        }
        memmove(nb + 1, nb, *n_ids * sizeof *nb);
        nb[0] = in->bos_id;
        *ids = nb;
        (*n_ids)++;
    }
    return PLUMB_OK;
}

static int local_count(PlumbLLM *base, const PlumbChatMsg *msgs, size_t n, size_t *n_tokens,
                       PlumbError *err)
{
    int32_t *ids = NULL;
    int rc = tokens_of((LocalLLM *)base, msgs, n, &ids, n_tokens, err);
    free(ids);
    return rc;
}

typedef struct Collect {
    Buf text;          /* the reply so far */
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
    if (buf_append(&c->text, piece, len) < 0) {
        c->failed = 1;
        return 1;
    }
    return c->fn ? c->fn(c->user, piece, len) : 0;
}

static int local_generate(PlumbLLM *base, const PlumbChatMsg *msgs, size_t n, const LlmParams *p,
                          LlmTextFn fn, void *user, LlmResult *res, PlumbError *err)
{
    LocalLLM *l = (LocalLLM *)base;
    PlumbSamplerParams sp;
    PlumbGenParams gp = { 0 };
    PlumbGenResult gr;
    Collect c = { { 0 }, fn, user, 0 };
    int32_t *ids = NULL;
    size_t n_ids = 0, room;
    int rc;

    if ((rc = tokens_of(l, msgs, n, &ids, &n_ids, err)) < 0)
        return rc;
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

    gp.ids = ids;
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
    res->text_len = c.text.len;
    res->text = buf_steal(&c.text);
    if (!res->text) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto done;
    }
    res->n_prompt = gr.n_prompt;
    res->n_reused = gr.n_reused;
    res->n_evaluated = gr.n_evaluated;
    res->n_generated = gr.n_generated;
    res->prompt_seconds = gr.prompt_seconds;
    res->gen_seconds = gr.gen_seconds;
done:
    buf_free(&c.text);
    free(ids);
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
    free(l);
}

static const LlmOps local_ops = {
    local_generate, local_count, local_context_size, local_close,
};

/* The fingerprint described at the top, as 64 hex digits. */
static int fingerprint(const char *path, char hex[SHA256_HEX_LEN + 1], PlumbError *err)
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
    if (ferror(f)) {
        rc = plumb_err(err, PLUMB_EIO, "%s: read error", path);
        goto done;
    }
    sha256_end_hex(&h, hex);
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
    char hex[SHA256_HEX_LEN + 1];
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
    sp.n_ctx = (int32_t)n_ctx;
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
