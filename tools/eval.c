/*
 * eval.c — `plumb eval`: run a prompt through the model, print its token ids,
 * optionally write its logits and decode greedily.  The reference-checking
 * tool: its output is compared with llama.cpp's.
 */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "outfile.h"
#include "plumb.h"

static const char usage_text[] =
    "usage: plumb eval -m MODEL (-p TEXT | -f FILE | --tokens ID,ID,...) [options]\n"
    "\n"
    "Evaluate a prompt; print its token ids on the first line of output.\n"
    "\n"
    "  -m, --model FILE      GGUF model to load\n"
    "  -p, --prompt TEXT     prompt text (special tokens such as <|im_start|> recognised)\n"
    "  -f, --file FILE       read the prompt text from FILE ('-' for standard input)\n"
    "      --tokens IDS      the prompt as comma-separated token ids\n"
    "      --logits OUT      write the last position's logits to OUT, '-' for\n"
    "                        standard output (little-endian float32, n_vocab\n"
    "                        values); the token ids then go to standard error\n"
    "      --all             with --logits, write every prompt position's logits\n"
    "                        ([n_prompt][n_vocab])\n"
    "      --follow-symlinks if OUT is a symbolic link, write the file it points to\n"
    "                        (refused otherwise)\n"
    "      --greedy N        then decode N tokens by argmax; print their ids on line 2\n"
    "      --cpu TIER        kernel tier: c, avx2, avx512, avx512vnni, neon, dotprod\n"
    "                        (default: $PLUMB_CPU, else the best)\n"
    "  -c, --ctx-size N      context length in tokens (default: what the run needs)\n"
    "      --kv-type TYPE    key/value cache type: f16 (default) or f32\n"
    "  -t, --threads N       worker threads (default: physical cores)\n"
    "  -h, --help            show this help\n";

static int usage_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("plumb: eval: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs("\n(see 'plumb eval --help')\n", stderr);
    return 2;
}

/* Parse "1,2,3" into a malloc'd array.  Prints the error and returns -1. */
static int parse_ids(const char *s, int32_t **out, size_t *n_out)
{
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = s;
    if (!ids) {
        cli_error("--tokens: out of memory");
        return -1;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char buf[32], *stop;
        long v;
        if (len == 0 || len >= sizeof buf) {
            cli_error("--tokens: '%.*s' is not a token id", (int)(len < 64 ? len : 64), p);
            goto fail;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        errno = 0;
        v = strtol(buf, &stop, 10);
        if (errno || *stop || buf[0] == '+' || buf[0] == ' ' || v < 0 || v > INT32_MAX) {
            cli_error("--tokens: '%s' is not a token id", buf);
            goto fail;
        }
        if (n == cap) {
            int32_t *ni = realloc(ids, 2 * cap * sizeof *ids);
            if (!ni) {
                cli_error("--tokens: out of memory");
                goto fail;
            }
            ids = ni;
            cap *= 2;
        }
        ids[n++] = (int32_t)v;
        if (!end)
            break;
        p = end + 1;
    }
    *out = ids;
    *n_out = n;
    return 0;
fail:
    free(ids);
    return -1;
}

/* Write n_rows rows of n floats as little-endian float32. */
static int write_logits(PlumbOutFile *out, const float *const *rows, size_t n_rows, size_t n,
                        PlumbError *err)
{
    const union { uint32_t u; unsigned char c[4]; } probe = { 1 };
    unsigned char le[4096];
    int rc;
    for (size_t r = 0; r < n_rows; r++) {
        if (probe.c[0] == 1) {
            if ((rc = plumb_outfile_write(out, rows[r], n * sizeof(float), err)))
                return rc;
            continue;
        }
        for (size_t i = 0; i < n;) {
            size_t k = 0;
            for (; i < n && k < sizeof le; i++, k += 4) {
                unsigned char b[4];
                memcpy(b, &rows[r][i], 4);
                le[k] = b[3], le[k + 1] = b[2], le[k + 2] = b[1], le[k + 3] = b[0];
            }
            if ((rc = plumb_outfile_write(out, le, k, err)))
                return rc;
        }
    }
    return PLUMB_OK;
}

static int32_t argmax(const float *x, int32_t n)
{
    int32_t best = 0;
    for (int32_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

int cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *file = NULL, *tokens = NULL;
    const char *logits_out = NULL, *cpu = NULL;
    long greedy = 0, n_ctx = 0, n_threads = 0;
    int all = 0, follow_symlinks = 0, n_sources, rc = 1;
    PlumbError err = { 0 };
    PlumbModel *model = NULL;
    PlumbSession *sess = NULL;
    PlumbModelParams mp = { 0 };
    PlumbSessionParams sp = { 0 };
    const PlumbModelInfo *info;
    int32_t *ids = NULL;
    size_t n_ids = 0;
    char *text = NULL;
    const float **rows = NULL;
    PlumbOutFile lout = { 0 };
    FILE *txt = stdout; /* token ids: stderr when the logits take stdout */

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
#define TAKES_VALUE(opt)                                                  \
    do {                                                                  \
        if (!val)                                                         \
            return usage_error("%s needs a value", opt);                  \
        i++;                                                              \
    } while (0)
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            fputs(usage_text, stdout);
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            TAKES_VALUE(a);
            model_path = val;
        } else if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) {
            TAKES_VALUE(a);
            prompt = val;
        } else if (!strcmp(a, "-f") || !strcmp(a, "--file")) {
            TAKES_VALUE(a);
            file = val;
        } else if (!strcmp(a, "--tokens")) {
            TAKES_VALUE(a);
            tokens = val;
        } else if (!strcmp(a, "--logits")) {
            TAKES_VALUE(a);
            logits_out = val;
        } else if (!strcmp(a, "--all")) {
            all = 1;
        } else if (!strcmp(a, "--follow-symlinks")) {
            follow_symlinks = 1;
        } else if (!strcmp(a, "--greedy")) {
            TAKES_VALUE(a);
            if (cli_parse_int(a, val, 0, 1L << 24, &greedy) < 0)
                return 2;
        } else if (!strcmp(a, "--cpu")) {
            TAKES_VALUE(a);
            cpu = val;
        } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
            TAKES_VALUE(a);
            if (cli_parse_int(a, val, 1, PLUMB_MAX_THREADS, &n_threads) < 0)
                return 2;
        } else if (!strcmp(a, "--kv-type")) {
            TAKES_VALUE(a);
            if (cli_parse_kv_type(a, val, &sp.kv_type) < 0)
                return 2;
        } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
            TAKES_VALUE(a);
            if (cli_parse_int(a, val, 1, PLUMB_MAX_CTX, &n_ctx) < 0)
                return 2;
        } else {
            return usage_error("unknown option '%s'", a);
        }
#undef TAKES_VALUE
    }
    if (!model_path)
        return usage_error("a model is required (-m FILE)");
    n_sources = (prompt != NULL) + (file != NULL) + (tokens != NULL);
    if (n_sources != 1)
        return usage_error("give exactly one of -p, -f and --tokens");
    if (all && !logits_out)
        return usage_error("--all needs --logits OUT");

    if (tokens && parse_ids(tokens, &ids, &n_ids) < 0)
        return 1;
    if (file) {
        size_t len;
        if (!(text = cli_read_file(file, &len, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
        if (strlen(text) != len) {
            cli_error("%s: contains a NUL byte", file);
            goto done;
        }
        prompt = text;
    }

    mp.cpu = cpu;
    mp.n_threads = (int)n_threads;
    if (plumb_model_open(&model, model_path, &mp, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    info = plumb_model_info(model);
    if (!tokens) {
        int32_t *tok = NULL;
        size_t n_tok = 0, extra;
        if (plumb_tokenize(model, prompt, strlen(prompt), PLUMB_TOK_SPECIAL, &tok, &n_tok, &err) < 0) {
            rc = cli_fail(&err);
            goto done;
        }
        extra = info->add_bos && info->bos_id >= 0;
        ids = malloc((n_tok + extra + 1) * sizeof *ids);
        if (!ids) {
            free(tok);
            cli_error("out of memory");
            goto done;
        }
        if (extra)
            ids[0] = info->bos_id;
        if (n_tok)
            memcpy(ids + extra, tok, n_tok * sizeof *ids);
        n_ids = n_tok + extra;
        free(tok);
    }
    if (n_ids == 0) {
        cli_error("the prompt is empty");
        goto done;
    }
    if (logits_out) {
        /* before the work: a target that cannot be written fails at once */
        const uint64_t bytes = (uint64_t)(all ? n_ids : 1) * (uint64_t)info->n_vocab * 4;
        if (plumb_outfile_open(&lout, logits_out,
                               PLUMB_OUT_FORCE | PLUMB_OUT_STDOUT_OK |
                                   (follow_symlinks ? PLUMB_OUT_FOLLOW : 0),
                               model_path, bytes, &err) < 0) {
            rc = cli_fail(&err);
            goto done;
        }
        if (lout.kind == PLUMB_OUT_STDOUT)
            txt = stderr;
    }

    /* the prompt plus greedy - 1 decoded tokens must fit */
    {
        size_t need = n_ids + (greedy > 1 ? (size_t)greedy - 1 : 0);
        if (n_ctx == 0)
            sp.n_ctx = (int32_t)(need < (1u << 24) ? need : (1u << 24));
        else if (need > (size_t)n_ctx) {
            cli_error("context full (%ld tokens): the prompt (%zu tokens) and --greedy %ld need %zu",
                      n_ctx, n_ids, greedy, need);
            goto done;
        } else
            sp.n_ctx = (int32_t)n_ctx;
    }
    if (plumb_session_open(&sess, model, &sp, &err) < 0 ||
        plumb_session_eval(sess, ids, n_ids, all ? PLUMB_EVAL_ALL_LOGITS : 0, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }

    for (size_t i = 0; i < n_ids; i++)
        fprintf(txt, "%s%ld", i ? " " : "", (long)ids[i]);
    fputc('\n', txt);

    if (logits_out) {
        size_t n_rows = all ? n_ids : 1;
        rows = malloc(n_rows * sizeof *rows);
        if (!rows) {
            cli_error("out of memory");
            goto done;
        }
        for (size_t r = 0; r < n_rows; r++)
            rows[r] = plumb_session_logits(sess, all ? r : n_ids - 1);
        if (write_logits(&lout, rows, n_rows, (size_t)info->n_vocab, &err) < 0 ||
            plumb_outfile_commit(&lout, &err) < 0) {
            rc = cli_fail(&err);
            goto done;
        }
    }

    {
        const float *last = plumb_session_logits(sess, n_ids - 1);
        for (long g = 0; g < greedy; g++) {
            int32_t id = argmax(last, info->n_vocab);
            fprintf(txt, "%s%ld", g ? " " : "", (long)id);
            if (g + 1 == greedy)
                break;
            if (plumb_session_eval(sess, &id, 1, 0, &err) < 0) {
                fputc('\n', txt);
                rc = cli_fail(&err);
                goto done;
            }
            last = plumb_session_logits(sess, 0);
        }
    }
    if (greedy > 0)
        fputc('\n', txt);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("standard output: %s", strerror(errno));
        goto done;
    }
    rc = 0;
done:
    plumb_outfile_abort(&lout); /* after a commit: nothing to do */
    free(rows);
    free(ids);
    free(text);
    plumb_session_close(sess);
    plumb_model_close(model);
    return rc;
}
