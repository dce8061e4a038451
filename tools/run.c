/*
 * run.c — `plumb run`: generate text from a prompt.
 *
 * The prompt (special tokens recognised; with --chat wrapped as the user
 * message of a Qwen3 ChatML conversation) is evaluated in one call, then
 * tokens are sampled one at a time and their text is written to standard
 * output as soon as each is chosen.  Generation stops after -n tokens, at the
 * model's end-of-text or end-of-turn token (not printed unless
 * --show-special), when the context is full, or at the first SIGINT (exit
 * status 130).  A newline ends the output.
 */
#include "config.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "model.h"
#include "plumb.h"

#define DEFAULT_N_PREDICT 256

/* Set by the first SIGINT: generation stops before the next token.  The
 * handler is reset after it, so a second SIGINT ends the process. */
static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static double per_second(size_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0.0;
}

/* Write the text of token id; returns 0, or -1 on a write error. */
static int emit_token(const PlumbModel *model, PlumbDetok *dt, int32_t id, int show_special)
{
    char local[512], *buf = local;
    size_t len = 0, cap = sizeof local, n;
    int rc = 0;
    /* room for the token's bytes plus a pending sequence turned into U+FFFD */
    if (plumb_token_bytes(model, id, &len) && len + 16 > cap) {
        cap = len + 16;
        buf = malloc(cap);
        if (!buf)
            return -1;
    }
    n = plumb_detok_push(model, dt, id, show_special, buf, cap);
    if (n && fwrite(buf, 1, n, stdout) != n)
        rc = -1;
    if (cli_check_stdout("run"))
        rc = -1;
    if (buf != local)
        free(buf);
    return rc;
}

int cmd_run(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *file = NULL, *system = NULL, *cpu = NULL;
    const char *kv_both = NULL, *kv_k = NULL, *kv_v = NULL, *args[1];
    int n_predict = DEFAULT_N_PREDICT, n_ctx = 0, n_threads = 0, n_args = 0;
    int chat = 0, no_think = 0, show_special = 0, verbose = 0, escape = 0, rc = 1;
    PlumbSamplerParams sp;
    CliSeed seed = { 0, 0 };
    PlumbModelParams mp = { 0 };
    PlumbSessionParams ssp = { 0 };
    PlumbError err = { 0 };
    PlumbModel *model = NULL;
    PlumbSession *sess = NULL;
    const PlumbModelInfo *info;
    PlumbDetok dt = { { 0 }, 0 };
    char *text = NULL, *formatted = NULL, *prompt_copy = NULL, *system_copy = NULL;
    int32_t *ids = NULL;
    size_t n_ids = 0, n_gen = 0;
    double t0, t1, t2;
    int stopped_full = 0, handler_set = 0;
    struct sigaction sa, old_int;

    plumb_sampler_params_default(&sp);
    seed.value = sp.seed;
    {
        const CliOpt opts[] = {
            { .names = "-m, --model", .kind = CLI_STRING, .dest = &model_path, .metavar = "FILE",
              .help = "GGUF model to load" },
            { .names = "-p, --prompt", .kind = CLI_STRING, .dest = &prompt, .metavar = "TEXT",
              .help = "prompt text (special tokens such as <|im_start|> recognised)" },
            { .names = "-f, --file", .kind = CLI_STRING, .dest = &file, .metavar = "FILE",
              .help = "read the prompt from FILE ('-' for standard input)" },
            { .names = "-e, --escape", .kind = CLI_FLAG, .dest = &escape,
              .help = "replace the escapes \\n \\t \\r \\\\ \\\" \\' \\xHH in the prompt "
                      "and the system message" },
            { .names = "-n, --n-predict", .kind = CLI_INT, .dest = &n_predict, .min = -1,
              .max = INT_MAX, .metavar = "N",
              .help = "tokens to generate, -1 until the context is full" },
            { .names = "--temp", .kind = CLI_FLOAT, .dest = &sp.temperature, .min = 0, .max = 100,
              .metavar = "T", .help = "temperature, 0 for greedy decoding" },
            { .names = "--top-k", .kind = CLI_INT, .dest = &sp.top_k, .min = 0, .max = INT32_MAX,
              .metavar = "K", .help = "keep the K most likely tokens, 0 for all" },
            { .names = "--top-p", .kind = CLI_FLOAT, .dest = &sp.top_p, .min = 0, .max = 1,
              .metavar = "P",
              .help = "keep the smallest set of tokens whose probability reaches P, 1 for all" },
            { .names = "--min-p", .kind = CLI_FLOAT, .dest = &sp.min_p, .min = 0, .max = 1,
              .metavar = "P",
              .help = "drop tokens less likely than P times the most likely one, 0 for none" },
            { .names = "--presence-penalty", .kind = CLI_FLOAT, .dest = &sp.presence_penalty,
              .min = -2, .max = 2, .metavar = "X",
              .help = "subtract X from the logit of every token already generated" },
            { .names = "--frequency-penalty", .kind = CLI_FLOAT, .dest = &sp.frequency_penalty,
              .min = -2, .max = 2, .metavar = "X",
              .help = "subtract X times its count from the logit of every token already "
                      "generated" },
            { .names = "--repeat-penalty", .kind = CLI_FLOAT, .dest = &sp.repeat_penalty,
              .min = 0.01, .max = 10, .metavar = "X",
              .help = "divide positive logits (multiply negative ones) of tokens already "
                      "generated by X, 1 for none" },
            { .names = "--repeat-last-n", .kind = CLI_INT, .dest = &sp.penalty_last_n, .min = -1,
              .max = INT32_MAX, .metavar = "N",
              .help = "the penalties look at the last N generated tokens, -1 for all, 0 for none" },
            { .names = "--seed", .kind = CLI_SEED, .dest = &seed, .metavar = "S",
              .help = "random seed, -1 for a random one (reported on standard error)" },
            { .names = "--chat", .kind = CLI_FLAG, .dest = &chat,
              .help = "format the prompt as a user message in the model's chat format and open "
                      "the assistant's turn" },
            { .names = "-sys, --system, --system-prompt", .kind = CLI_STRING, .dest = &system,
              .metavar = "TEXT", .help = "with --chat, a system message before the prompt" },
            { .names = "--no-think", .kind = CLI_FLAG, .dest = &no_think,
              .help = "with --chat, start the answer with an empty <think></think> block (no "
                      "reasoning)" },
            { .names = "-c, --ctx-size", .kind = CLI_INT, .dest = &n_ctx, .min = 0,
              .max = PLUMB_MAX_CTX, .metavar = "N",
              .help = "context length in tokens, 0 for the model's training context, at most "
                      "4096" },
            { .names = "--kv-type", .kind = CLI_CHOICE, .dest = &kv_both, .choices = "f16|f32",
              .metavar = "TYPE", .def = "f16", .help = "key/value cache type" },
            { .names = "-ctk, --cache-type-k", .kind = CLI_CHOICE, .dest = &kv_k,
              .choices = "f16|f32", .metavar = "TYPE",
              .help = "key cache type; the value cache must have the same" },
            { .names = "-ctv, --cache-type-v", .kind = CLI_CHOICE, .dest = &kv_v,
              .choices = "f16|f32", .metavar = "TYPE",
              .help = "value cache type; the key cache must have the same" },
            { .names = "--cpu", .kind = CLI_CHOICE, .dest = &cpu, .choices = CLI_CPU_TIERS,
              .metavar = "TIER", .def = "$PLUMB_CPU, else the best", .help = "kernel tier" },
            { .names = "-t, --threads", .kind = CLI_INT, .dest = &n_threads, .min = 0,
              .max = PLUMB_MAX_THREADS, .metavar = "N",
              .help = "worker threads, 0 for one per physical core" },
            { .names = "--show-special", .kind = CLI_FLAG, .dest = &show_special,
              .help = "print special tokens, the final one included" },
            { .names = "-v, --verbose", .kind = CLI_FLAG, .dest = &verbose,
              .help = "report token counts and speeds on standard error" },
            { .names = "-h, --help", .kind = CLI_HELP, .help = "show this help" },
            { .kind = CLI_END },
        };
        const CliCmd cmd = {
            .name = "run",
            .synopsis = "-m MODEL (-p TEXT | -f FILE) [options]",
            .about = "Generate text from a prompt and stream it to standard output.  Ctrl-C "
                     "stops the generation at the next token.",
            .opts = opts,
            .operand_hint = "the prompt goes after -p",
        };
        if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
            return rc < 0 ? 0 : rc;
        if (!model_path)
            return cli_usage_error(&cmd, "a model is required (-m FILE)");
        if ((prompt != NULL) + (file != NULL) != 1)
            return cli_usage_error(&cmd, "give exactly one of -p TEXT and -f FILE");
        if (!chat && (system || no_think))
            return cli_usage_error(&cmd, "%s only makes sense with --chat",
                                   system ? "--system" : "--no-think");
        if ((rc = cli_kv_type(&cmd, kv_both, kv_k, kv_v, &ssp.kv_type)))
            return rc;
        rc = 1;
    }
    sp.seed = seed.value;
    if (seed.random)
        cli_error("run: seed %llu", (unsigned long long)seed.value);

    if (file) {
        size_t len;
        if (!(text = cli_read_file(file, &len, &err))) {
            rc = cli_fail(&err);
            goto done;
        }
        if (strlen(text) != len) {
            cli_error("run: %s: contains a NUL byte", file);
            goto done;
        }
        prompt = text;
    }
    if (escape) {
        char *pt = text ? text : (prompt_copy = strdup(prompt));
        if (!pt || (system && !(system_copy = strdup(system)))) {
            cli_error("run: out of memory");
            goto done;
        }
        if (cli_unescape(pt) != strlen(pt)) {
            cli_error("run: --escape: the prompt contains \\x00");
            goto done;
        }
        if (system_copy && cli_unescape(system_copy) != strlen(system_copy)) {
            cli_error("run: --escape: the system message contains \\x00");
            goto done;
        }
        prompt = pt;
        if (system_copy)
            system = system_copy;
    }
    if (chat) {
        PlumbChatMsg msgs[2] = { { 0 } };
        PlumbChatParams cp = { 0 };
        size_t n_msgs = 0;
        if (system) {
            msgs[n_msgs].role = "system";
            msgs[n_msgs++].content = system;
        }
        msgs[n_msgs].role = "user";
        msgs[n_msgs++].content = prompt;
        cp.add_assistant = 1;
        cp.no_think = no_think;
        if (plumb_chat_format(msgs, n_msgs, &cp, &formatted, &err) < 0) {
            rc = cli_fail(&err);
            goto done;
        }
        prompt = formatted;
    }

    mp.cpu = cpu;
    mp.n_threads = (int)n_threads;
    if (plumb_model_open(&model, model_path, &mp, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    info = plumb_model_info(model);
    ssp.n_ctx = (int32_t)n_ctx;
    if (plumb_session_open(&sess, model, &ssp, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }

    if (plumb_tokenize(model, prompt, strlen(prompt), PLUMB_TOK_SPECIAL, &ids, &n_ids, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    if (info->add_bos && info->bos_id >= 0 && (n_ids == 0 || ids[0] != info->bos_id)) {
        int32_t *nb = realloc(ids, (n_ids + 1) * sizeof *ids);
        if (!nb) {
            cli_error("run: out of memory");
            goto done;
        }
        ids = nb;
        memmove(ids + 1, ids, n_ids * sizeof *ids);
        ids[0] = info->bos_id;
        n_ids++;
    }
    if (n_ids == 0) {
        cli_error("run: the prompt is empty");
        goto done;
    }
    if (n_ids > plumb_session_n_ctx(sess)) {
        cli_error("run: the prompt has %zu tokens, more than the context of %zu (see -c)",
                  n_ids, plumb_session_n_ctx(sess));
        goto done;
    }
    if (verbose)
        fprintf(stderr, "plumb: run: %s (%s, %d-token vocabulary, kernels %s), context %zu\n",
                info->path, info->arch, (int)info->n_vocab, info->cpu_tier,
                plumb_session_n_ctx(sess));

    plumb_session_set_sampler(sess, &sp);
    plumb_session_sampler_reset(sess);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    handler_set = 1;
    t0 = now_seconds();
    if (plumb_session_eval(sess, ids, n_ids, 0, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    t1 = now_seconds();

    while (!interrupted && (n_predict < 0 || n_gen < (size_t)n_predict)) {
        int32_t id = plumb_session_sample(sess);
        if (id < 0) {
            cli_error("run: sampling failed (out of memory)");
            goto done;
        }
        if (id == info->eos_id || id == info->eot_id) {
            if (show_special && emit_token(model, &dt, id, 1) < 0)
                goto write_error;
            break;
        }
        if (emit_token(model, &dt, id, show_special) < 0)
            goto write_error;
        n_gen++;
        if (n_predict >= 0 && n_gen == (size_t)n_predict)
            break;
        if (plumb_session_n_past(sess) >= plumb_session_n_ctx(sess)) {
            stopped_full = n_predict >= 0;
            break;
        }
        if (plumb_session_eval(sess, &id, 1, 0, &err) < 0) {
            fputc('\n', stdout);
            rc = cli_fail(&err);
            goto done;
        }
    }
    t2 = now_seconds();
    {
        char tail[16];
        size_t n = plumb_detok_flush(&dt, tail, sizeof tail);
        if ((n && fwrite(tail, 1, n, stdout) != n) || fputc('\n', stdout) == EOF ||
            cli_check_stdout("run"))
            goto write_error;
    }
    if (stopped_full)
        cli_error("run: stopped after %zu tokens: the context of %zu tokens is full", n_gen,
                  plumb_session_n_ctx(sess));
    if (verbose) {
        fprintf(stderr, "plumb: run: prompt: %zu tokens in %.3f s, %.2f tokens/s\n", n_ids,
                t1 - t0, per_second(n_ids, t1 - t0));
        fprintf(stderr, "plumb: run: generation: %zu tokens in %.3f s, %.2f tokens/s\n", n_gen,
                t2 - t1, per_second(n_gen, t2 - t1));
    }
    rc = interrupted ? CLI_INTERRUPTED : 0;
    goto done;
write_error:
    if (!cli_check_stdout("run"))
        cli_error("run: error writing the output");
    rc = 1;
done:
    if (handler_set)
        sigaction(SIGINT, &old_int, NULL);
    free(prompt_copy);
    free(system_copy);
    plumb_session_close(sess);
    plumb_model_close(model);
    free(ids);
    free(formatted);
    free(text);
    return rc;
}
