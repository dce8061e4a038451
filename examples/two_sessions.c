/*
 * two_sessions.c — one model, two conversations, two threads.
 *
 * Opens a model once, starts two sessions on it and generates greedily in
 * both at the same time, one thread per session.  The sessions share the
 * model's weights and its thread pool; each keeps its own tokens and cache,
 * so each text is what that prompt gives alone.  Each session's text is
 * printed on its own line, in order, as `plumb run --temp 0` prints it.
 *
 * Uses only the installed library:
 *   cc -pthread two_sessions.c $(pkg-config --cflags --libs plumb) -o two_sessions
 *   ./two_sessions MODEL.gguf "first prompt" "second prompt" [N]
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <plumb.h>

/* One conversation: its prompt, its session and the text generated. */
typedef struct Conv {
    const char *prompt;   /* UTF-8, special tokens recognised */
    int32_t n_predict;    /* tokens to generate */
    PlumbSession *sess;   /* opened by main, used by one thread */
    char *text;           /* generated text, malloc'd, NUL-terminated */
    size_t len;           /* bytes in text */
    size_t cap;           /* bytes allocated */
    PlumbGenResult res;   /* counts and finish reason */
    PlumbError err;       /* the thread's error, if rc < 0 */
    int rc;               /* PLUMB_OK or a PLUMB_E* code */
} Conv;

/* on_token: keep each piece (whole UTF-8 characters); non-zero stops. */
static int keep_piece(void *user, int32_t id, const char *piece, size_t n)
{
    Conv *c = user;
    (void)id;
    if (c->len + n + 1 > c->cap) {
        size_t cap = (c->len + n + 1) * 2;
        char *t = realloc(c->text, cap);
        if (!t)
            return 1; /* stop: main reports the missing memory */
        c->text = t;
        c->cap = cap;
    }
    memcpy(c->text + c->len, piece, n);
    c->len += n;
    c->text[c->len] = '\0';
    return 0;
}

static void *generate(void *arg)
{
    Conv *c = arg;
    PlumbSamplerParams sp;
    PlumbGenParams gp = { 0 };

    plumb_sampler_params_default(&sp);
    sp.temperature = 0; /* greedy */
    gp.text = c->prompt;
    gp.parse_special = 1;
    gp.add_bos = 1; /* when the model's metadata asks for one */
    gp.n_predict = c->n_predict;
    gp.sampler = &sp;
    c->rc = plumb_session_generate(c->sess, &gp, keep_piece, c, &c->res, &c->err);
    if (c->rc == PLUMB_OK && c->res.finish == PLUMB_FINISH_CALLBACK) {
        snprintf(c->err.msg, sizeof c->err.msg, "out of memory");
        c->rc = c->err.code = PLUMB_ENOMEM;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    PlumbError err = { 0 };
    PlumbModel *model = NULL;
    Conv conv[2];
    pthread_t th[2];
    int started[2] = { 0, 0 }, status = 1;
    long n_predict = 16;

    memset(conv, 0, sizeof conv);
    if (argc < 4 || argc > 5) {
        fprintf(stderr, "usage: two_sessions MODEL PROMPT1 PROMPT2 [N]\n");
        return 2;
    }
    if (argc == 5 && ((n_predict = strtol(argv[4], NULL, 10)) <= 0 || n_predict > 1 << 20)) {
        fprintf(stderr, "two_sessions: N must be a number from 1 to %d\n", 1 << 20);
        return 2;
    }
    if (plumb_model_open(&model, argv[1], NULL, &err) < 0)
        goto fail;
    for (int i = 0; i < 2; i++) {
        conv[i].prompt = argv[2 + i];
        conv[i].n_predict = (int32_t)n_predict;
        if (plumb_session_open(&conv[i].sess, model, NULL, &err) < 0)
            goto fail;
    }
    /* Both sessions generate at once; the model serialises their forward
     * passes on its thread pool. */
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&th[i], NULL, generate, &conv[i]) != 0) {
            snprintf(err.msg, sizeof err.msg, "cannot start a thread");
            err.code = PLUMB_ENOMEM;
            goto fail;
        }
        started[i] = 1;
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        started[i] = 0;
    }
    for (int i = 0; i < 2; i++)
        if (conv[i].rc < 0) {
            err = conv[i].err;
            goto fail;
        }
    for (int i = 0; i < 2; i++) {
        fwrite(conv[i].text ? conv[i].text : "", 1, conv[i].len, stdout);
        putchar('\n');
    }
    status = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
    goto done;
fail:
    fprintf(stderr, "two_sessions: %s: %s\n", plumb_strerror(err.code), err.msg);
done:
    for (int i = 0; i < 2; i++) {
        if (started[i])
            pthread_join(th[i], NULL);
        plumb_session_close(conv[i].sess);
        free(conv[i].text);
    }
    plumb_model_close(model);
    return status;
}
