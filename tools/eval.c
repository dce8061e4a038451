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
#include "model.h"
#include "plumb.h"

/* Parse "1,2,3" into a malloc'd array.  Prints the error and returns 1 (out
 * of memory) or CLI_USAGE. */
static int parse_ids(const CliCmd *cmd, const char *s, int32_t **out, size_t *n_out)
{
    size_t cap = 16, n = 0;
    int32_t *ids = malloc(cap * sizeof *ids);
    const char *p = s;
    int rc = 1;
    if (!ids) {
        cli_error("eval: --tokens: out of memory");
        return 1;
    }
    for (;;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        char buf[32], *stop;
        long v;
        if (len == 0 || len >= sizeof buf) {
            rc = cli_usage_error(cmd, "--tokens: '%.*s' is not a token id",
                                 (int)(len < 64 ? len : 64), p);
            goto fail;
        }
        memcpy(buf, p, len);
        buf[len] = '\0';
        errno = 0;
        v = strtol(buf, &stop, 10);
        if (errno || *stop || buf[0] == '+' || buf[0] == ' ' || v < 0 || v > INT32_MAX) {
            rc = cli_usage_error(cmd, "--tokens: '%s' is not a token id", buf);
            goto fail;
        }
        if (n == cap) {
            int32_t *ni = realloc(ids, 2 * cap * sizeof *ids);
            if (!ni) {
                cli_error("eval: --tokens: out of memory");
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
    return rc;
}

/* Write n floats as little-endian float32 to path, atomically: a temporary
 * file in the same directory renamed over path once complete. */
static int write_logits(const char *path, const float *const *rows, size_t n_rows, size_t n)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    const union { uint32_t u; unsigned char c[4]; } probe = { 1 };
    FILE *f = NULL;
    int fd = -1;
    mode_t um;
    if (!tmp) {
        cli_error("%s: out of memory", path);
        return -1;
    }
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp.XXXXXX", 12);
    fd = mkstemp(tmp);
    if (fd < 0) {
        cli_error("%s: cannot create a temporary file: %s", path, strerror(errno));
        free(tmp);
        return -1;
    }
    um = umask(0);
    umask(um);
    if (fchmod(fd, 0666 & ~um) != 0 || !(f = fdopen(fd, "wb")))
        goto fail;
    fd = -1;
    errno = 0; /* a short write without errno reports "write error" */
    for (size_t r = 0; r < n_rows; r++) {
        if (probe.c[0] == 1) {
            if (fwrite(rows[r], sizeof(float), n, f) != n)
                goto fail;
        } else {
            for (size_t i = 0; i < n; i++) {
                unsigned char b[4], le[4];
                memcpy(b, &rows[r][i], 4);
                le[0] = b[3], le[1] = b[2], le[2] = b[1], le[3] = b[0];
                if (fwrite(le, 1, 4, f) != 4)
                    goto fail;
            }
        }
    }
    if (fflush(f) != 0 || ferror(f))
        goto fail;
    if (fclose(f) != 0) {
        f = NULL;
        goto fail;
    }
    f = NULL;
    if (rename(tmp, path) != 0)
        goto fail;
    free(tmp);
    return 0;
fail:
    cli_error("%s: %s", path, errno ? strerror(errno) : "write error");
    if (f)
        fclose(f);
    if (fd >= 0)
        close(fd);
    unlink(tmp);
    free(tmp);
    return -1;
}

/* on_token of the greedy decoding: its ids, space-separated. */
static int print_id(void *user, int32_t id, const char *piece, size_t len)
{
    size_t *n = user;
    (void)piece, (void)len;
    if (id >= 0)
        printf("%s%ld", (*n)++ ? " " : "", (long)id);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *file = NULL, *tokens = NULL;
    const char *logits_out = NULL, *cpu = NULL, *kv_both = NULL, *kv_k = NULL, *kv_v = NULL;
    const char *args[1];
    int greedy = 0, n_ctx = 0, n_threads = 0, n_args = 0, escape = 0, follow_symlinks = 0;
    int all = 0, n_sources, rc = 1;
    PlumbError err = { 0 };
    PlumbModel *model = NULL;
    PlumbSession *sess = NULL;
    PlumbModelParams mp = { 0 };
    PlumbSessionParams sp = { 0 };
    const PlumbModelInfo *info;
    PlumbGenParams gp = { 0 };
    PlumbGenResult res;
    int32_t *ids = NULL;
    const int32_t *held;
    size_t n_ids = 0, n_held = 0, n_printed;
    char *text = NULL, *prompt_copy = NULL;
    const float **rows = NULL;
    const CliOpt opts[] = {
        { .names = "-m, --model", .kind = CLI_STRING, .dest = &model_path, .metavar = "FILE",
          .help = "GGUF model to load" },
        { .names = "-p, --prompt", .kind = CLI_STRING, .dest = &prompt, .metavar = "TEXT",
          .help = "prompt text (special tokens such as <|im_start|> recognised)" },
        { .names = "-f, --file", .kind = CLI_STRING, .dest = &file, .metavar = "FILE",
          .help = "read the prompt text from FILE ('-' for standard input)" },
        { .names = "--tokens", .kind = CLI_STRING, .dest = &tokens, .metavar = "IDS",
          .help = "the prompt as comma-separated token ids" },
        { .names = "-e, --escape", .kind = CLI_FLAG, .dest = &escape,
          .help = "replace the escapes \\n \\t \\r \\\\ \\\" \\' \\xHH in the prompt text" },
        { .names = "--logits", .kind = CLI_STRING, .dest = &logits_out, .metavar = "OUT",
          .help = "write the last position's logits to OUT (little-endian float32, n_vocab "
                  "values)" },
        { .names = "--all", .kind = CLI_FLAG, .dest = &all,
          .help = "with --logits, write every prompt position's logits ([n_prompt][n_vocab])" },
        { .names = "--follow-symlinks", .kind = CLI_FLAG, .dest = &follow_symlinks,
          .help = "follow a symlink at the output path instead of refusing it" },
        { .names = "--greedy", .kind = CLI_INT, .dest = &greedy, .min = 0, .max = PLUMB_MAX_CTX,
          .metavar = "N", .help = "then decode N tokens by argmax; print their ids on line 2" },
        { .names = "--cpu", .kind = CLI_CHOICE, .dest = &cpu, .choices = CLI_CPU_TIERS,
          .metavar = "TIER", .def = "$PLUMB_CPU, else the best", .help = "kernel tier" },
        { .names = "-c, --ctx-size", .kind = CLI_INT, .dest = &n_ctx, .min = 0,
          .max = PLUMB_MAX_CTX, .metavar = "N",
          .help = "context length in tokens, 0 for what the run needs" },
        { .names = "--kv-type", .kind = CLI_CHOICE, .dest = &kv_both, .choices = "f16|f32",
          .metavar = "TYPE", .def = "f16", .help = "key/value cache type" },
        { .names = "-ctk, --cache-type-k", .kind = CLI_CHOICE, .dest = &kv_k,
          .choices = "f16|f32", .metavar = "TYPE",
          .help = "key cache type; the value cache must have the same" },
        { .names = "-ctv, --cache-type-v", .kind = CLI_CHOICE, .dest = &kv_v,
          .choices = "f16|f32", .metavar = "TYPE",
          .help = "value cache type; the key cache must have the same" },
        { .names = "-t, --threads", .kind = CLI_INT, .dest = &n_threads, .min = 0,
          .max = PLUMB_MAX_THREADS, .metavar = "N",
          .help = "worker threads, 0 for one per physical core" },
        { .names = "-h, --help", .kind = CLI_HELP, .help = "show this help" },
        { .kind = CLI_END },
    };
    const CliCmd cmd = {
        .name = "eval",
        .synopsis = "-m MODEL (-p TEXT | -f FILE | --tokens ID,ID,...) [options]",
        .about = "Evaluate a prompt; print its token ids on the first line of output.",
        .opts = opts,
        .operand_hint = "the prompt goes after -p",
    };

    if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
        return rc < 0 ? 0 : rc;
    (void)follow_symlinks;
    if (!model_path)
        return cli_usage_error(&cmd, "a model is required (-m FILE)");
    n_sources = (prompt != NULL) + (file != NULL) + (tokens != NULL);
    if (n_sources != 1)
        return cli_usage_error(&cmd, "give exactly one of -p, -f and --tokens");
    if (all && !logits_out)
        return cli_usage_error(&cmd, "--all needs --logits OUT");
    if (escape && tokens)
        return cli_usage_error(&cmd, "--escape applies to prompt text, not --tokens");
    if ((rc = cli_kv_type(&cmd, kv_both, kv_k, kv_v, &sp.kv_type)))
        return rc;
    rc = 1;

    if (tokens && (rc = parse_ids(&cmd, tokens, &ids, &n_ids)))
        return rc;
    if (file) {
        size_t len;
        if (!(text = cli_read_file(file, &len, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
        if (strlen(text) != len) {
            cli_error("eval: %s: contains a NUL byte", file);
            goto done;
        }
        prompt = text;
    }
    if (escape && prompt) {
        char *pt = text ? text : (prompt_copy = strdup(prompt));
        if (!pt) {
            cli_error("eval: out of memory");
            goto done;
        }
        if (cli_unescape(pt) != strlen(pt)) {
            cli_error("eval: --escape: the prompt contains \\x00");
            goto done;
        }
        prompt = pt;
    }

    mp.cpu = cpu;
    mp.n_threads = (int)n_threads;
    if (cli_model_open(&model, model_path, &mp, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    info = plumb_model_info(model);
    if (!tokens &&
        plumb_tokenize(model, prompt, strlen(prompt), PLUMB_TOK_SPECIAL, &ids, &n_ids, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    if (n_ids == 0 && !(info->add_bos && info->bos_id >= 0)) {
        cli_error("eval: the prompt is empty");
        goto done;
    }

    /* the prompt (a BOS perhaps added) plus greedy - 1 decoded tokens must fit */
    {
        size_t need = n_ids + (greedy > 1 ? (size_t)greedy - 1 : 0);
        if (n_ctx == 0) {
            need += !tokens; /* room for a BOS */
            sp.n_ctx = (int32_t)(need < (1u << 24) ? need : (1u << 24));
        } else if (need > (size_t)n_ctx) {
            cli_error("eval: context full (%d tokens): the prompt (%zu tokens) and --greedy %d "
                      "need %zu",
                      n_ctx, n_ids, greedy, need);
            goto done;
        } else
            sp.n_ctx = (int32_t)n_ctx;
    }
    /* the prompt: ids as given, text with the BOS the model asks for */
    gp.ids = ids;
    gp.n_ids = n_ids;
    gp.add_bos = !tokens;
    gp.n_predict = -1;
    gp.all_logits = all;
    if (plumb_session_open(&sess, model, &sp, &err) < 0 ||
        plumb_session_generate(sess, &gp, NULL, NULL, &res, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    held = plumb_session_tokens(sess, &n_held);
    for (size_t i = 0; i < n_held; i++)
        printf("%s%ld", i ? " " : "", (long)held[i]);
    putchar('\n');

    if (logits_out) {
        size_t n_rows = all ? n_held : 1;
        rows = malloc(n_rows * sizeof *rows);
        if (!rows) {
            cli_error("eval: out of memory");
            goto done;
        }
        for (size_t r = 0; r < n_rows; r++)
            rows[r] = plumb_session_logits(sess, all ? r : n_held - 1);
        if (write_logits(logits_out, rows, n_rows, (size_t)info->n_vocab) < 0)
            goto done;
    }

    if (greedy > 0) {
        PlumbGenParams dec = { 0 };
        PlumbSamplerParams argmax = { 0 };
        argmax.top_p = 1.0f;          /* off */
        argmax.repeat_penalty = 1.0f; /* off */
        argmax.penalty_last_n = 0;    /* temperature 0: argmax, lowest id on ties */
        dec.n_predict = (int32_t)greedy;
        dec.ignore_eog = 1;
        dec.sampler = &argmax;
        n_printed = 0;
        if (plumb_session_generate(sess, &dec, print_id, &n_printed, &res, &err) < 0) {
            putchar('\n');
            rc = cli_fail(&err);
            goto done;
        }
    }
    if (greedy > 0)
        putchar('\n');
    if (cli_check_stdout("eval"))
        goto done;
    rc = 0;
done:
    free(prompt_copy);
    free(rows);
    free(ids);
    free(text);
    plumb_session_close(sess);
    plumb_model_close(model);
    return rc;
}
