/*
 * two_sessions.c — one model, two conversations.
 *
 * Opens a model once, starts two sessions on it and generates greedily in
 * both, a token of one then a token of the other, to show that sessions are
 * independent: each keeps its own tokens and cache, and interleaving them
 * changes nothing.  Each session's text is printed on its own, followed by a
 * newline, as `plumb run --temp 0` prints it.
 *
 * Uses only the installed library:
 *   cc two_sessions.c $(pkg-config --cflags --libs plumb) -o two_sessions
 *   ./two_sessions MODEL.gguf "first prompt" "second prompt" [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plumb.h>

/* One conversation: the session, the text generated so far and whether it
 * has ended (end-of-text token, or its context is full). */
typedef struct Conv {
    PlumbSession *sess;
    PlumbDetok detok; /* bytes of a character split across tokens */
    char *text;       /* generated text, malloc'd */
    size_t len;       /* bytes in text */
    size_t cap;       /* bytes allocated */
    int done;         /* no more tokens */
} Conv;

static int append(Conv *c, const char *s, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        size_t cap = (c->len + n + 1) * 2;
        char *t = realloc(c->text, cap);
        if (!t)
            return -1;
        c->text = t;
        c->cap = cap;
    }
    memcpy(c->text + c->len, s, n);
    c->len += n;
    c->text[c->len] = '\0';
    return 0;
}

/* Tokenise the prompt (with the model's BOS when it asks for one) and
 * evaluate it. */
static int start(Conv *c, PlumbModel *m, const char *prompt, PlumbError *err)
{
    const PlumbModelInfo *info = plumb_model_info(m);
    int32_t *ids = NULL;
    size_t n = 0;
    int rc;

    if ((rc = plumb_session_open(&c->sess, m, NULL, err)) < 0)
        return rc;
    rc = plumb_tokenize(m, prompt, strlen(prompt), PLUMB_TOK_SPECIAL, &ids, &n, err);
    if (rc < 0)
        return rc;
    if (info->add_bos && info->bos_id >= 0 && (n == 0 || ids[0] != info->bos_id)) {
        int32_t *t = realloc(ids, (n + 1) * sizeof *ids);
        if (!t) {
            free(ids);
            return PLUMB_ENOMEM;
        }
        ids = t;
        memmove(ids + 1, ids, n * sizeof *ids);
        ids[0] = info->bos_id;
        n++;
    }
    if (n == 0 || n > plumb_session_n_ctx(c->sess)) {
        free(ids);
        snprintf(err->msg, sizeof err->msg,
                 "prompt of %zu tokens: empty or longer than the context", n);
        return err->code = PLUMB_ERANGE;
    }
    PlumbSamplerParams sp;
    plumb_sampler_params_default(&sp);
    sp.temperature = 0; /* greedy */
    plumb_session_set_sampler(c->sess, &sp);
    rc = plumb_session_eval(c->sess, ids, n, 0, err);
    free(ids);
    return rc;
}

/* Choose the next token, keep its text, and evaluate it unless generation
 * ends here. */
static int step(Conv *c, const PlumbModel *m, int last, PlumbError *err)
{
    const PlumbModelInfo *info = plumb_model_info(m);
    char buf[256];
    size_t len = 0, n;
    int32_t id = plumb_session_sample(c->sess);

    if (id < 0) {
        snprintf(err->msg, sizeof err->msg, "sampling failed");
        return err->code = PLUMB_ENOMEM;
    }
    if (id == info->eos_id || id == info->eot_id) {
        c->done = 1;
        return PLUMB_OK;
    }
    if (plumb_token_bytes(m, id, &len) && len + 16 > sizeof buf) {
        snprintf(err->msg, sizeof err->msg, "token %d: %zu bytes, too long", (int)id, len);
        return err->code = PLUMB_ERANGE;
    }
    n = plumb_detok_push(m, &c->detok, id, 0, buf, sizeof buf);
    if (append(c, buf, n) < 0) {
        snprintf(err->msg, sizeof err->msg, "out of memory");
        return err->code = PLUMB_ENOMEM;
    }
    if (last || plumb_session_n_past(c->sess) >= plumb_session_n_ctx(c->sess)) {
        c->done = 1;
        return PLUMB_OK;
    }
    return plumb_session_eval(c->sess, &id, 1, 0, err);
}

int main(int argc, char **argv)
{
    PlumbError err = { 0 };
    PlumbModel *model = NULL;
    Conv conv[2] = { { 0 }, { 0 } };
    long n_predict = 16;
    int status = 1;

    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: two_sessions MODEL PROMPT1 PROMPT2 [N]\n");
        return 2;
    }
    if (argc == 5 && (n_predict = strtol(argv[4], NULL, 10)) <= 0) {
        fprintf(stderr, "two_sessions: N must be a positive number\n");
        return 2;
    }
    if (plumb_model_open(&model, argv[1], NULL, &err) < 0)
        goto fail;
    for (int i = 0; i < 2; i++)
        if (start(&conv[i], model, argv[2 + i], &err) < 0)
            goto fail;

    /* Alternate: one token of the first conversation, one of the second. */
    for (long t = 0; t < n_predict && !(conv[0].done && conv[1].done); t++)
        for (int i = 0; i < 2; i++)
            if (!conv[i].done && step(&conv[i], model, t + 1 == n_predict, &err) < 0)
                goto fail;

    for (int i = 0; i < 2; i++) {
        char tail[16];
        size_t n = plumb_detok_flush(&conv[i].detok, tail, sizeof tail);
        fwrite(conv[i].text ? conv[i].text : "", 1, conv[i].len, stdout);
        fwrite(tail, 1, n, stdout);
        putchar('\n');
    }
    status = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    goto done;
fail:
    fprintf(stderr, "two_sessions: %s: %s\n", plumb_strerror(err.code), err.msg);
done:
    for (int i = 0; i < 2; i++) {
        plumb_session_close(conv[i].sess);
        free(conv[i].text);
    }
    plumb_model_close(model);
    return status;
}
