/*
 * bench.c — `plumb bench`: prompt-processing and generation speed, measured
 * the way llama.cpp's llama-bench measures them so the two can be compared
 * on the same file.
 *
 * Tests (named as llama-bench names them):
 *   ppP[@dD]  evaluate P random tokens in one eval call, in a fresh context
 *             holding D tokens of random context first;
 *   tgN[@dD]  generate N tokens one after the other (argmax, end tokens
 *             ignored), each evaluated alone, likewise.
 * Both go through plumb_session_generate(), whose timings are reported.
 * For each depth D, the pp tests then the tg tests run, each with its own
 * session of P + N + D positions.  Before the timed repetitions one warm-up
 * run (the whole prompt for pp, one token for tg) pages the weights in.
 * The D context tokens are evaluated once, untimed; every repetition
 * truncates the session back to them (plumb_session_truncate) and times
 * the test; its speed is tokens / seconds, and the
 * table shows the mean and sample standard deviation of those speeds.
 * Prompt ids are uniform over the vocabulary from a fixed-seed generator
 * (the library puts BOS first when the model asks for it), so runs are
 * repeatable.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cpu.h"
#include "err.h"
#include "gguf.h"
#include "plumb.h"


typedef struct Test {
    int n_prompt; /* tokens evaluated in one call, 0 for tg tests */
    int n_gen;    /* single-token evals, 0 for pp tests */
    int depth;    /* tokens of context before the test */
    PlumbSessionParams kv; /* cache types and window (n_ctx set per test) */
    int fill;     /* the depth holds random keys and values, not evaluated tokens */
} Test;

typedef struct Result {
    double *ts;   /* [reps] tokens per second of each repetition */
    double *ns;   /* [reps] nanoseconds of each repetition */
    int n;        /* repetitions done */
    uint64_t kv_bytes; /* key/value cache held at the end of the test */
} Result;

/* Names of llama.cpp's file types (general.file_type). */
static const char *ftype_name(uint32_t id)
{
    static const struct { uint32_t id; const char *name; } names[] = {
        { 0, "F32" },     { 1, "F16" },     { 2, "Q4_0" },    { 3, "Q4_1" },
        { 7, "Q8_0" },    { 8, "Q5_0" },    { 9, "Q5_1" },    { 10, "Q2_K" },
        { 11, "Q3_K_S" }, { 12, "Q3_K_M" }, { 13, "Q3_K_L" }, { 14, "Q4_K_S" },
        { 15, "Q4_K_M" }, { 16, "Q5_K_S" }, { 17, "Q5_K_M" }, { 18, "Q6_K" },
        { 21, "Q2_K_S" }, { 25, "IQ4_NL" }, { 30, "IQ4_XS" }, { 32, "BF16" },
    };
    size_t i;
    for (i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].id == id)
            return names[i].name;
    return "?";
}

/* xorshift64*: the token stream. */
static uint64_t rng_state = 1;

static int32_t random_token(int32_t n_vocab)
{
    uint64_t x = rng_state;
    x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
    rng_state = x;
    return (int32_t)((x * 0x2545f4914f6cdd1dull >> 33) % (uint64_t)n_vocab);
}

/* Evaluate n random tokens in one call, the model's BOS first if first.
 * *ns gets the time plumb_session_generate measured. */
static int eval_prompt(PlumbSession *s, const PlumbModelInfo *mi, int32_t *buf, int n, int first,
                       double *ns, PlumbError *err)
{
    PlumbGenParams gp = { 0 };
    PlumbGenResult res;
    int i, rc;
    if (n <= 0)
        return PLUMB_OK;
    for (i = 0; i < n; i++)
        buf[i] = random_token(mi->n_vocab);
    gp.ids = buf;
    gp.n_ids = (size_t)n;
    gp.add_bos = first;
    gp.n_predict = -1;
    rc = plumb_session_generate(s, &gp, NULL, NULL, &res, err);
    if (ns)
        *ns = res.prompt_seconds * 1e9;
    return rc;
}

/* n tokens one after the other: one random token (the model's BOS before
 * it if first), then n - 1 chosen by argmax, each evaluated alone. */
static int eval_gen(PlumbSession *s, const PlumbModelInfo *mi, int n, int first, double *ns,
                    PlumbError *err)
{
    PlumbGenParams gp = { 0 };
    PlumbSamplerParams argmax = { 0 };
    PlumbGenResult res;
    int32_t tok = random_token(mi->n_vocab);
    int rc;
    argmax.top_p = 1.0f;
    argmax.repeat_penalty = 1.0f;
    gp.ids = &tok;
    gp.n_ids = 1;
    gp.add_bos = first;
    gp.n_predict = n;      /* the n-th token sampled is left pending, not evaluated */
    gp.ignore_eog = 1;
    gp.sampler = &argmax;
    rc = plumb_session_generate(s, &gp, NULL, NULL, &res, err);
    if (ns)
        *ns = (res.prompt_seconds + res.gen_seconds) * 1e9;
    return rc;
}

static int run_test(PlumbModel *m, const Test *t, int reps, int warmup, Result *res,
                    PlumbError *err)
{
    const PlumbModelInfo *mi = plumb_model_info(m);
    PlumbSession *s = NULL;
    PlumbSessionParams sp;
    int32_t *buf = NULL;
    int n_buf = t->n_prompt > t->depth ? t->n_prompt : t->depth, r, rc;
    sp = t->kv;
    sp.n_ctx = t->n_prompt + t->n_gen + t->depth + 1; /* + 1: room for a BOS */
    buf = malloc((size_t)(n_buf > 0 ? n_buf : 1) * sizeof *buf);
    if (!buf)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    if ((rc = plumb_session_open(&s, m, &sp, err)))
        goto done;
    if (warmup) {
        rc = t->n_prompt ? eval_prompt(s, mi, buf, t->n_prompt, 1, NULL, err)
                         : eval_gen(s, mi, 1, 1, NULL, err);
        if (rc)
            goto done;
    }
    /* the context is filled once; each repetition goes back to it (as
     * llama-bench restores its saved state) */
    plumb_session_reset(s);
    if (t->fill)
        rc = plumb_session_fill(s, (size_t)t->depth, 1, err);
    else
        rc = eval_prompt(s, mi, buf, t->depth, 1, NULL, err);
    if (rc)
        goto done;
    for (r = 0; r < reps; r++) {
        double ns = 0;
        if ((rc = plumb_session_truncate(s, (size_t)t->depth, err)))
            goto done;
        if (t->n_prompt)
            rc = eval_prompt(s, mi, buf, t->n_prompt, t->depth == 0, &ns, err);
        else
            rc = eval_gen(s, mi, t->n_gen, t->depth == 0, &ns, err);
        if (rc)
            goto done;
        res->ns[r] = ns;
        res->ts[r] = (double)(t->n_prompt + t->n_gen) * 1e9 / (res->ns[r] > 0 ? res->ns[r] : 1);
        res->n = r + 1;
    }
    res->kv_bytes = plumb_session_kv_bytes(s);
done:
    plumb_session_close(s);
    free(buf);
    return rc;
}

static void mean_sd(const double *v, int n, double *mean, double *sd)
{
    double sum = 0, sq = 0;
    int i;
    for (i = 0; i < n; i++)
        sum += v[i], sq += v[i] * v[i];
    *mean = n ? sum / n : 0;
    /* Sample deviation, as llama-bench reports it. */
    *sd = n > 1 ? sqrt(fmax(0.0, (sq - sum * sum / n) / (n - 1))) : 0;
}

static void test_name(const Test *t, char *buf, size_t cap, int spaced)
{
    int k = t->n_prompt ? snprintf(buf, cap, "pp%d", t->n_prompt) : snprintf(buf, cap, "tg%d", t->n_gen);
    if (t->depth && k > 0 && (size_t)k < cap)
        snprintf(buf + k, cap - (size_t)k, spaced ? " @ d%d" : "@d%d", t->depth);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *cpu = NULL, *base, *kv_both = NULL, *kv_k = NULL, *kv_v = NULL;
    const char *args[1];
    CliList prompts = { { 512 }, 1 }, gens = { { 128 }, 1 }, depths = { { 0 }, 1 };
    int json = 0, no_warmup = 0, fill = 0, warmup, i, j, k, rc = 0, threads = 0, reps = 5, n_args = 0;
    PlumbSessionParams kv = { 0 };
    int kv_window = 0, kv_keep = 0;
    PlumbModelParams mp;
    PlumbModel *m = NULL;
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    const PlumbModelInfo *mi;
    Result res = { NULL, NULL, 0, 0 };
    uint64_t model_bytes = 0, q;
    uint32_t ftype = 9999;
    char ftype_buf[32];
    const char *type_name;
    const CliOpt opts[] = {
        { .names = "-m, --model", .kind = CLI_STRING, .dest = &model, .metavar = "FILE",
          .help = "GGUF model" },
        CLI_OPT_THREADS(&threads),
        { .names = "-p, --n-prompt", .kind = CLI_LIST, .dest = &prompts, .min = 0, .max = 1 << 20,
          .metavar = "N,..", .help = "prompt tokens per pp test, 0: none" },
        { .names = "-n, --n-gen", .kind = CLI_LIST, .dest = &gens, .min = 0, .max = 1 << 20,
          .metavar = "N,..", .help = "generated tokens per tg test, 0: none" },
        { .names = "-d, --n-depth", .kind = CLI_LIST, .dest = &depths, .min = 0, .max = 1 << 20,
          .metavar = "N,..", .help = "tokens of context before each test" },
        { .names = "-r, --repetitions", .kind = CLI_INT, .dest = &reps, .min = 1, .max = 1000,
          .metavar = "N", .help = "timed runs per test" },
        CLI_OPT_KV_TYPES(&kv_both, &kv_k, &kv_v),
        CLI_OPT_KV_WINDOW(&kv_window, &kv_keep, "4"),
        CLI_OPT_CPU(&cpu),
        { .names = "--fill-random", .kind = CLI_FLAG, .dest = &fill,
          .help = "make the depth of random keys and values instead of evaluating tokens: "
                  "the same memory and bytes read per token, minutes instead of hours at "
                  "depths like 131072 (the logits mean nothing)" },
        { .names = "--no-warmup", .kind = CLI_FLAG, .dest = &no_warmup,
          .help = "skip the untimed run before each test" },
        { .names = "--json", .kind = CLI_FLAG, .dest = &json,
          .help = "one JSON object per test per line instead of a table" },
        { .names = "-h, --help", .kind = CLI_HELP, .help = "this text" },
        { .kind = CLI_END },
    };
    const CliCmd cmd = {
        .name = "bench",
        .synopsis = "-m MODEL [-t N] [-p N,...] [-n N,...] [-d N,...] [-r N] [--kv-type TYPE] "
                    "[--cpu TIER] [--no-warmup] [--json] [--help]",
        .about = "Measure prompt processing (ppN) and generation (tgN) speed in tokens/s, as "
                 "llama-bench does.",
        .opts = opts,
        .operand_hint = "options only",
    };

    if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
        return rc < 0 ? 0 : rc;
    if (!model)
        return cli_usage_error(&cmd, "a model is required (-m FILE)");
    if ((rc = cli_kv_params(&cmd, kv_both, kv_k, kv_v, kv_window, kv_keep, &kv)))
        return rc;
    warmup = !no_warmup;

    /* File facts for the table: tensor bytes (what llama-bench calls the
     * size) and the file type. */
    if (plumb_gguf_open(&g, model, &err))
        return cli_fail(&err);
    for (q = 0; q < g->n_tensors; q++)
        model_bytes += g->tensors[q].nbytes;
    if (plumb_gguf_get_u32_opt(g, "general.file_type", &ftype, &err))
        ftype = 9999;
    plumb_gguf_close(g);
    type_name = ftype_name(ftype);
    if (strcmp(type_name, "?") == 0) {
        snprintf(ftype_buf, sizeof ftype_buf, ftype == 9999 ? "-" : "type %u", ftype);
        type_name = ftype_buf;
    }

    memset(&mp, 0, sizeof mp);
    mp.cpu = cpu;
    mp.n_threads = (int)threads;
    if (cli_model_open(&m, model, &mp, &err))
        return cli_fail(&err);
    mi = plumb_model_info(m);
    if (!threads)
        threads = plumb_cpu_physical_cores();
    res.ts = calloc((size_t)reps, sizeof *res.ts);
    res.ns = calloc((size_t)reps, sizeof *res.ns);
    if (!res.ts || !res.ns) {
        cli_error("bench: out of memory");
        rc = 1;
        goto done;
    }
    base = strrchr(model, '/');
    base = base ? base + 1 : model;

    if (!json) {
        printf("| %-28s | %10s | %-7s | %-6s | %7s | %16s | %20s |\n", "model", "size", "type",
               "cpu", "threads", "test", "t/s");
        printf("| %.28s | %.9s: | %.7s | %.6s | %.6s: | %.15s: | %.19s: |\n",
               "------------------------------", "----------", "-------", "------", "-------",
               "----------------", "--------------------");
        if (cli_check_stdout("bench")) {
            rc = 1;
            goto done;
        }
    }
    for (k = 0; k < depths.n; k++) {
        for (j = 0; j < prompts.n + gens.n; j++) {
            Test t;
            char name[64], size[32];
            double avg, sd, avg_ns, sd_ns;
            t.n_prompt = j < prompts.n ? prompts.v[j] : 0;
            t.n_gen = j < prompts.n ? 0 : gens.v[j - prompts.n];
            t.depth = depths.v[k];
            t.kv = kv;
            t.fill = fill;
            if (t.n_prompt == 0 && t.n_gen == 0)
                continue;
            rng_state = 1; /* each test sees the same token stream */
            res.n = 0;
            if (run_test(m, &t, (int)reps, warmup, &res, &err)) {
                test_name(&t, name, sizeof name, 0);
                cli_error("bench: %s: %s", name, err.msg[0] ? err.msg : plumb_strerror(err.code));
                rc = 1;
                goto done;
            }
            mean_sd(res.ts, res.n, &avg, &sd);
            mean_sd(res.ns, res.n, &avg_ns, &sd_ns);
            if (json) {
                test_name(&t, name, sizeof name, 0);
                printf("{\"model\": ");
                json_str(stdout, model);
                printf(", \"arch\": ");
                json_str(stdout, mi->arch);
                printf(", \"type\": ");
                json_str(stdout, type_name);
                printf(", \"model_size\": %llu, \"cpu\": ", (unsigned long long)model_bytes);
                json_str(stdout, mi->cpu_tier ? mi->cpu_tier : "");
                printf(", \"threads\": %d, \"type_k\": \"%s\", \"type_v\": \"%s\", \"window\": %d, "
                       "\"keep\": %d, \"test\": \"%s\", \"n_prompt\": %d, \"n_gen\": %d, "
                       "\"n_depth\": %d, \"depth\": %d, \"depth_fill\": \"%s\", \"reps\": %d, \"avg_ns\": %.0f, \"stddev_ns\": %.0f, "
                       "\"kv_bytes\": %llu, \"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"samples_ts\": [",
                       threads, plumb_kv_type_name(kv.kv_type),
                       plumb_kv_type_name(kv.kv_type_v ? kv.kv_type_v : kv.kv_type), kv.window,
                       kv.window ? (kv.keep ? kv.keep : 4) : 0, name, t.n_prompt, t.n_gen, t.depth, t.depth,
                       fill ? "random" : "model", res.n, avg_ns, sd_ns, (unsigned long long)res.kv_bytes, avg, sd);
                for (i = 0; i < res.n; i++)
                    printf("%s%.6f", i ? ", " : "", res.ts[i]);
                printf("]}\n");
            } else {
                test_name(&t, name, sizeof name, 1);
                if (model_bytes < 1024ull * 1024 * 1024)
                    snprintf(size, sizeof size, "%.2f MiB", (double)model_bytes / 1048576.0);
                else
                    snprintf(size, sizeof size, "%.2f GiB", (double)model_bytes / 1073741824.0);
                char ts[64];
                /* "±" is two bytes and one column: pad one byte more. */
                snprintf(ts, sizeof ts, "%.2f ± %.2f", avg, sd);
                printf("| %-28.28s | %10s | %-7s | %-6s | %7d | %16s | %21s |\n", base, size,
                       type_name, mi->cpu_tier ? mi->cpu_tier : "?", threads, name, ts);
            }
            if (cli_check_stdout("bench")) {
                rc = 1;
                goto done;
            }
        }
    }
    if (!json)
        printf("\nplumb %s\n", plumb_version());
done:
    free(res.ts);
    free(res.ns);
    plumb_model_close(m);
    return rc;
}
