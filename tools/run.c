/*
 * run.c — `plumb run`: generate text from a prompt.
 *
 * The prompt (special tokens recognised; with --chat wrapped as the user
 * message of a Qwen3 ChatML conversation) goes to plumb_session_generate(),
 * which evaluates it, samples tokens one at a time and hands their text to
 * write_piece() as soon as each is chosen.  Generation stops after -n tokens,
 * at the model's end-of-text or end-of-turn token (not printed unless
 * --show-special), when the context is full, or at the first SIGINT (exit
 * status 130), which the library sees through its abort flag.  A newline
 * ends the output.  --kv-load starts from a saved session: the prompt is the
 * whole sequence, and only the part that does not match the loaded tokens is
 * evaluated (cli_kv_load); --kv-save saves the session after generation.
 */
#include "config.h"

#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "kvfile.h"
#include "model.h"
#include "plumb.h"

#define DEFAULT_N_PREDICT 256

/* Set by the first SIGINT: generation stops before the next token.  The
 * handler is reset after it, so a second SIGINT ends the process. */
static volatile int interrupted;
/* An int, the library's abort flag type; a store to it is as safe in a
 * signal handler as one to sig_atomic_t, which is int on every target. */
_Static_assert(sizeof(int) == sizeof(sig_atomic_t), "sig_atomic_t is int");

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static double per_second(size_t n, double seconds)
{
    return seconds > 0 ? (double)n / seconds : 0.0;
}

/* Where the generated text goes: standard output, flushed per piece. */
typedef struct Writer {
    size_t n_written; /* bytes written */
    int failed;       /* a write failed: stop */
} Writer;

static int write_piece(void *user, int32_t id, const char *piece, size_t len)
{
    Writer *w = user;
    (void)id;
    if (len && fwrite(piece, 1, len, stdout) != len)
        w->failed = 1;
    if (len && cli_check_stdout("run"))
        w->failed = 1;
    w->n_written += len;
    return w->failed;
}

int cmd_run(int argc, char **argv)
{
    const char *model_path = NULL, *prompt = NULL, *file = NULL, *system = NULL, *cpu = NULL;
    const char *kv_both = NULL, *kv_k = NULL, *kv_v = NULL, *args[1];
    const char *kv_load = NULL, *kv_save = NULL;
    int32_t *seq = NULL;
    size_t n_seq = 0, n_loaded = 0, n_kept = 0;
    int n_predict = DEFAULT_N_PREDICT, n_ctx = 0, n_threads = 0, n_args = 0, kv_window = 0, kv_keep = 0;
    int chat = 0, no_think = 0, show_special = 0, verbose = 0, escape = 0, rc = 1;
    PlumbSamplerParams sp;
    CliSeed seed = { 0, 0 };
    PlumbModelParams mp = { 0 };
    PlumbSessionParams ssp = { 0 };
    PlumbError err = { 0 };
    PlumbModel *model = NULL;
    PlumbSession *sess = NULL;
    const PlumbModelInfo *info;
    PlumbGenParams gp = { 0 };
    PlumbGenResult res;
    Writer wr = { 0, 0 };
    char *text = NULL, *formatted = NULL, *prompt_copy = NULL, *system_copy = NULL;
    int handler_set = 0;
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
            CLI_OPT_KV_TYPES(&kv_both, &kv_k, &kv_v),
            CLI_OPT_KV_WINDOW(&kv_window, &kv_keep,
                              "4, or with --chat --system the whole system message"),
            CLI_OPT_KV_FILES(&kv_load, &kv_save, "after generating"),
            CLI_OPT_CPU(&cpu),
            CLI_OPT_THREADS(&n_threads),
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
        if ((rc = cli_kv_params(&cmd, kv_both, kv_k, kv_v, kv_window, kv_keep, &ssp)))
            return rc;
        rc = 1;
    }
    sp.seed = seed.value;
    if (kv_save && plumb_kvfile_check_save(kv_save, &err) < 0) { /* before the work */
        rc = cli_fail(&err);
        goto done;
    }
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
    if (cli_model_open(&model, model_path, &mp, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    cli_repack_hint(model, model_path);
    info = plumb_model_info(model);
    ssp.n_ctx = (int32_t)n_ctx;
    if (ssp.window && !kv_keep && chat && system) {
        /* the sinks: the whole system message (at least 4 positions) */
        PlumbChatMsg sys = { 0 };
        PlumbChatParams cp = { 0 };
        char *head = NULL;
        int32_t *ids = NULL;
        size_t n_ids = 0;
        sys.role = "system";
        sys.content = system;
        if (plumb_chat_format(&sys, 1, &cp, &head, &err) < 0 ||
            plumb_tokenize(model, head, strlen(head), PLUMB_TOK_SPECIAL, &ids, &n_ids, &err) < 0) {
            free(head);
            rc = cli_fail(&err);
            goto done;
        }
        n_ids += info->add_bos ? 1 : 0;
        ssp.keep = n_ids > 4 ? (int32_t)(n_ids < INT32_MAX ? n_ids : INT32_MAX) : 4;
        free(head);
        free(ids);
        if (verbose)
            fprintf(stderr, "plumb: run: the first %d positions (the system message) stay in view\n",
                    (int)ssp.keep);
    }
    if (plumb_session_open(&sess, model, &ssp, &err) < 0) {
        rc = cli_fail(&err);
        goto done;
    }
    if (verbose)
        fprintf(stderr, "plumb: run: %s (%s, %d-token vocabulary, kernels %s), context %zu\n",
                info->path, info->arch, (int)info->n_vocab, info->cpu_tier,
                plumb_session_n_ctx(sess));

    gp.text = prompt;
    gp.parse_special = 1;
    gp.add_bos = 1;
    if (kv_load) {
        /* the prompt is the whole sequence: what it shares with the loaded
         * tokens is kept, the rest evaluated */
        int32_t *ids = NULL;
        size_t n_ids = 0;
        if (plumb_tokenize(model, prompt, strlen(prompt), PLUMB_TOK_SPECIAL, &ids, &n_ids, &err) < 0 ||
            cli_kv_load(sess, info, kv_load, ids, n_ids, 1, &seq, &n_seq, &n_loaded, &n_kept, &err) < 0) {
            free(ids);
            rc = cli_fail(&err);
            goto done;
        }
        free(ids);
        gp.text = NULL;
        gp.ids = seq;
        gp.n_ids = n_seq;
        gp.add_bos = 0; /* seq has it */
        gp.reuse_prefix = 1;
        if (verbose)
            fprintf(stderr, "plumb: run: %s: %zu tokens loaded, %zu of them kept for the prompt's %zu\n",
                    kv_load, n_loaded, n_kept, n_seq);
    }
    /* -n: -1 until the context is full, 0 nothing */
    gp.n_predict = n_predict < 0 ? 0 : n_predict == 0 ? -1 : (int32_t)n_predict;
    gp.show_special = show_special;
    gp.sampler = &sp;
    plumb_session_sampler_reset(sess);
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESETHAND;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    handler_set = 1;
    gp.abort_flag = &interrupted;
    if (plumb_session_generate(sess, &gp, write_piece, &wr, &res, &err) < 0) {
        if (wr.n_written)
            fputc('\n', stdout);
        rc = cli_fail(&err);
        goto done;
    }
    if (wr.failed || fputc('\n', stdout) == EOF || cli_check_stdout("run"))
        goto write_error;
    if (kv_save) {
        /* Ctrl-C while saving: main's handler removes the temporary file */
        sigaction(SIGINT, &old_int, NULL);
        handler_set = 0;
        if (plumb_session_save(sess, kv_save, &err) < 0) {
            rc = cli_fail(&err);
            goto done;
        }
        if (verbose)
            fprintf(stderr, "plumb: run: %s: saved %zu tokens\n", kv_save,
                    plumb_session_n_past(sess));
    }
    if (res.finish == PLUMB_FINISH_CONTEXT_FULL && n_predict >= 0)
        cli_error("run: stopped after %zu tokens: the context of %zu tokens is full",
                  res.n_generated, plumb_session_n_ctx(sess));
    if (verbose) {
        fprintf(stderr, "plumb: run: prompt: %zu tokens in %.3f s, %.2f tokens/s\n",
                res.n_prompt, res.prompt_seconds, per_second(res.n_evaluated, res.prompt_seconds));
        fprintf(stderr, "plumb: run: generation: %zu tokens in %.3f s, %.2f tokens/s\n",
                res.n_generated, res.gen_seconds, per_second(res.n_generated, res.gen_seconds));
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
    free(seq);
    plumb_session_close(sess);
    plumb_model_close(model);
    free(formatted);
    free(text);
    return rc;
}
