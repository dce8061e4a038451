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
#include "outfile.h"
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

/* on_token of the greedy decoding: its ids, space-separated. */
typedef struct IdPrinter {
    FILE *f;  /* standard output, or standard error when the logits take it */
    size_t n; /* ids printed */
} IdPrinter;

static int print_id(void *user, int32_t id, const char *piece, size_t len)
{
    IdPrinter *p = user;
    (void)piece, (void)len;
    if (id >= 0)
        fprintf(p->f, "%s%ld", p->n++ ? " " : "", (long)id);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *file = NULL, *tokens = NULL;
    const char *logits_out = NULL, *cpu = NULL, *kv_both = NULL, *kv_k = NULL, *kv_v = NULL;
    const char *args[1];
    int greedy = 0, n_ctx = 0, n_threads = 0, n_args = 0, escape = 0, follow_symlinks = 0;
    int all = 0, n_sources, rc = 1, kv_window = 0, kv_keep = 0;
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
    size_t n_ids = 0, n_held = 0;
    PlumbOutFile lout = { 0 };
    FILE *txt = stdout; /* token ids: stderr when the logits take stdout */
    IdPrinter printer = { NULL, 0 };
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
          .help = "write the last position's logits to OUT, '-' for standard output "
                  "(little-endian float32, n_vocab values); the token ids then go to "
                  "standard error" },
        { .names = "--all", .kind = CLI_FLAG, .dest = &all,
          .help = "with --logits, write every prompt position's logits ([n_prompt][n_vocab])" },
        CLI_OPT_FOLLOW_SYMLINKS(&follow_symlinks),
        { .names = "--greedy", .kind = CLI_INT, .dest = &greedy, .min = 0, .max = PLUMB_MAX_CTX,
          .metavar = "N", .help = "then decode N tokens by argmax; print their ids on line 2" },
        CLI_OPT_CPU(&cpu),
        { .names = "-c, --ctx-size", .kind = CLI_INT, .dest = &n_ctx, .min = 0,
          .max = PLUMB_MAX_CTX, .metavar = "N",
          .help = "context length in tokens, 0 for what the run needs" },
        CLI_OPT_KV_TYPES(&kv_both, &kv_k, &kv_v),
        CLI_OPT_KV_WINDOW(&kv_window, &kv_keep, "4"),
        CLI_OPT_THREADS(&n_threads),
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
    if ((rc = cli_kv_params(&cmd, kv_both, kv_k, kv_v, kv_window, kv_keep, &sp)))
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
        fprintf(txt, "%s%ld", i ? " " : "", (long)held[i]);
    fputc('\n', txt);

    if (logits_out) {
        size_t n_rows = all ? n_held : 1;
        rows = malloc(n_rows * sizeof *rows);
        if (!rows) {
            cli_error("eval: out of memory");
            goto done;
        }
        for (size_t r = 0; r < n_rows; r++)
            rows[r] = plumb_session_logits(sess, all ? r : n_held - 1);
        if (write_logits(&lout, rows, n_rows, (size_t)info->n_vocab, &err) < 0 ||
            plumb_outfile_commit(&lout, &err) < 0) {
            rc = cli_fail(&err);
            goto done;
        }
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
        printer.f = txt;
        if (plumb_session_generate(sess, &dec, print_id, &printer, &res, &err) < 0) {
            fputc('\n', txt);
            rc = cli_fail(&err);
            goto done;
        }
    }
    if (greedy > 0)
        fputc('\n', txt);
    if (cli_check_stdout("eval"))
        goto done;
    rc = 0;
done:
    plumb_outfile_abort(&lout); /* after a commit: nothing to do */
    free(prompt_copy);
    free(rows);
    free(ids);
    free(text);
    plumb_session_close(sess);
    plumb_model_close(model);
    return rc;
}
