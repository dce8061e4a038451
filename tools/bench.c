/*
 * bench.c — `plumb bench`: prompt-processing and generation speed, measured
 * the way llama.cpp's llama-bench measures them so the two can be compared
 * on the same file.
 *
 * Tests (named as llama-bench names them):
 *   ppP[@dD]  evaluate P random tokens in one eval call, in a fresh context
 *             holding D tokens of random context first;
 *   tgN[@dD]  evaluate N single tokens one after the other, likewise.
 * For each depth D, the pp tests then the tg tests run, each with its own
 * session of P + N + D positions.  Before the timed repetitions one warm-up
 * run (the whole prompt for pp, one token for tg) pages the weights in.
 * The D context tokens are evaluated once, untimed; every repetition
 * truncates the session back to them (plumb_session_truncate) and times
 * the test; its speed is tokens / seconds, and the
 * table shows the mean and sample standard deviation of those speeds.
 * Token ids are uniform over the vocabulary from a fixed-seed generator
 * (BOS first when the model asks for it), so runs are repeatable.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "cpu.h"
#include "err.h"
#include "gguf.h"
#include "plumb.h"

#define MAX_LIST 16 /* values in one comma-separated option */

typedef struct Test {
    int n_prompt; /* tokens evaluated in one call, 0 for tg tests */
    int n_gen;    /* single-token evals, 0 for pp tests */
    int depth;    /* tokens of context before the test */
    PlumbKVType kv; /* key/value cache type */
} Test;

typedef struct Result {
    double *ts;   /* [reps] tokens per second of each repetition */
    double *ns;   /* [reps] nanoseconds of each repetition */
    int n;        /* repetitions done */
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

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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

/* Evaluate n random tokens in one call (BOS first if first and wanted). */
static int eval_prompt(PlumbSession *s, const PlumbModelInfo *mi, int32_t *buf, int n, int first,
                       PlumbError *err)
{
    int i;
    if (n <= 0)
        return PLUMB_OK;
    for (i = 0; i < n; i++)
        buf[i] = random_token(mi->n_vocab);
    if (first && mi->add_bos && mi->bos_id >= 0)
        buf[0] = mi->bos_id;
    return plumb_session_eval(s, buf, (size_t)n, 0, err);
}

/* n single-token evals. */
static int eval_gen(PlumbSession *s, const PlumbModelInfo *mi, int n, int first, PlumbError *err)
{
    int32_t tok = first && mi->add_bos && mi->bos_id >= 0 ? mi->bos_id : random_token(mi->n_vocab);
    int i, rc;
    for (i = 0; i < n; i++) {
        if ((rc = plumb_session_eval(s, &tok, 1, 0, err)))
            return rc;
        tok = random_token(mi->n_vocab);
    }
    return PLUMB_OK;
}

static int run_test(PlumbModel *m, const Test *t, int reps, int warmup, Result *res,
                    PlumbError *err)
{
    const PlumbModelInfo *mi = plumb_model_info(m);
    PlumbSession *s = NULL;
    PlumbSessionParams sp;
    int32_t *buf = NULL;
    int n_buf = t->n_prompt > t->depth ? t->n_prompt : t->depth, r, rc;
    memset(&sp, 0, sizeof sp);
    sp.n_ctx = t->n_prompt + t->n_gen + t->depth;
    sp.kv_type = t->kv;
    buf = malloc((size_t)(n_buf > 0 ? n_buf : 1) * sizeof *buf);
    if (!buf)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    if ((rc = plumb_session_open(&s, m, &sp, err)))
        goto done;
    if (warmup) {
        rc = t->n_prompt ? eval_prompt(s, mi, buf, t->n_prompt, 1, err) : eval_gen(s, mi, 1, 1, err);
        if (rc)
            goto done;
    }
    /* the context is filled once; each repetition goes back to it (as
     * llama-bench restores its saved state) */
    plumb_session_reset(s);
    if ((rc = eval_prompt(s, mi, buf, t->depth, 1, err)))
        goto done;
    for (r = 0; r < reps; r++) {
        uint64_t t0;
        if ((rc = plumb_session_truncate(s, (size_t)t->depth, err)))
            goto done;
        t0 = now_ns();
        if (t->n_prompt)
            rc = eval_prompt(s, mi, buf, t->n_prompt, t->depth == 0, err);
        else
            rc = eval_gen(s, mi, t->n_gen, t->depth == 0, err);
        if (rc)
            goto done;
        res->ns[r] = (double)(now_ns() - t0);
        res->ts[r] = (double)(t->n_prompt + t->n_gen) * 1e9 / (res->ns[r] > 0 ? res->ns[r] : 1);
        res->n = r + 1;
    }
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

/* Parse "a,b,c" into out (each in [min, max]); returns the count or -1. */
static int parse_list(const char *opt, const char *s, long min, long max, int *out)
{
    char item[32];
    int n = 0;
    while (s && *s) {
        const char *comma = strchr(s, ',');
        size_t len = comma ? (size_t)(comma - s) : strlen(s);
        long v;
        if (n == MAX_LIST || len >= sizeof item) {
            cli_error("bench: %s: too many or too long values", opt);
            return -1;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        if (cli_parse_int(opt, item, min, max, &v))
            return -1;
        out[n++] = (int)v;
        s = comma ? comma + 1 : NULL;
    }
    if (n == 0)
        cli_error("bench: %s: missing value", opt);
    return n ? n : -1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: plumb bench -m MODEL [-t N] [-p N,...] [-n N,...] [-d N,...] [-r N]\n"
            "                   [--kv-type TYPE] [--cpu TIER] [--no-warmup] [--json] [--help]\n"
            "\n"
            "Measure prompt processing (ppN) and generation (tgN) speed in tokens/s, as\n"
            "llama-bench does.\n"
            "\n"
            "  -m, --model FILE     GGUF model\n"
            "  -t, --threads N      worker threads (default: physical cores)\n"
            "  -p, --n-prompt N,..  prompt tokens per pp test, 0: none (default 512)\n"
            "  -n, --n-gen N,..     generated tokens per tg test, 0: none (default 128)\n"
            "  -d, --n-depth N,..   tokens of context before each test (default 0)\n"
            "  -r, --repetitions N  timed runs per test (default 5)\n"
            "      --kv-type TYPE   key/value cache type: f16 (default) or f32\n"
            "      --cpu TIER       kernel tier: c, avx2, avx512, ... (default: best)\n"
            "      --no-warmup      skip the untimed run before each test\n"
            "      --json           one JSON object per test per line instead of a table\n"
            "  -h, --help           this text\n");
}

int cmd_bench(int argc, char **argv)
{
    const char *model = NULL, *cpu = NULL, *base;
    int prompts[MAX_LIST] = { 512 }, gens[MAX_LIST] = { 128 }, depths[MAX_LIST] = { 0 };
    int n_prompts = 1, n_gens = 1, n_depths = 1, json = 0, warmup = 1, i, j, k, rc = 0;
    long threads = 0, reps = 5;
    PlumbKVType kv = PLUMB_KV_DEFAULT;
    PlumbModelParams mp;
    PlumbModel *m = NULL;
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    const PlumbModelInfo *mi;
    Result res = { NULL, NULL, 0 };
    uint64_t model_bytes = 0, q;
    uint32_t ftype = 9999;
    char ftype_buf[32];
    const char *type_name;

    for (i = 1; i < argc; i++) {
        const char *o = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = 1;
        if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(o, "--json") == 0) {
            json = 1, takes = 0;
        } else if (strcmp(o, "--no-warmup") == 0) {
            warmup = 0, takes = 0;
        } else if (strcmp(o, "-m") == 0 || strcmp(o, "--model") == 0) {
            model = v;
        } else if (strcmp(o, "--cpu") == 0) {
            cpu = v;
        } else if (strcmp(o, "--kv-type") == 0) {
            if (cli_parse_kv_type(o, v, &kv))
                return 2;
        } else if (strcmp(o, "-t") == 0 || strcmp(o, "--threads") == 0) {
            if (cli_parse_int(o, v, 1, PLUMB_MAX_THREADS, &threads))
                return 2;
        } else if (strcmp(o, "-r") == 0 || strcmp(o, "--repetitions") == 0) {
            if (cli_parse_int(o, v, 1, 1000, &reps))
                return 2;
        } else if (strcmp(o, "-p") == 0 || strcmp(o, "--n-prompt") == 0) {
            if ((n_prompts = parse_list(o, v, 0, 1 << 20, prompts)) < 0)
                return 2;
        } else if (strcmp(o, "-n") == 0 || strcmp(o, "--n-gen") == 0) {
            if ((n_gens = parse_list(o, v, 0, 1 << 20, gens)) < 0)
                return 2;
        } else if (strcmp(o, "-d") == 0 || strcmp(o, "--n-depth") == 0) {
            if ((n_depths = parse_list(o, v, 0, 1 << 20, depths)) < 0)
                return 2;
        } else {
            cli_error("bench: unknown option '%s' (see 'plumb bench --help')", o);
            return 2;
        }
        if (takes) {
            if (!v) {
                cli_error("bench: %s: missing value", o);
                return 2;
            }
            i++;
        }
    }
    if (!model) {
        cli_error("bench: no model given (-m MODEL; see 'plumb bench --help')");
        return 2;
    }

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
    if (plumb_model_open(&m, model, &mp, &err))
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
        fflush(stdout);
    }
    for (k = 0; k < n_depths; k++) {
        for (j = 0; j < n_prompts + n_gens; j++) {
            Test t;
            char name[64], size[32];
            double avg, sd, avg_ns, sd_ns;
            t.n_prompt = j < n_prompts ? prompts[j] : 0;
            t.n_gen = j < n_prompts ? 0 : gens[j - n_prompts];
            t.depth = depths[k];
            t.kv = kv;
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
                printf(", \"threads\": %ld, \"type_k\": \"%s\", \"type_v\": \"%s\", \"test\": \"%s\", "
                       "\"n_prompt\": %d, \"n_gen\": %d, "
                       "\"depth\": %d, \"reps\": %d, \"avg_ns\": %.0f, \"stddev_ns\": %.0f, "
                       "\"avg_ts\": %.6f, \"stddev_ts\": %.6f, \"samples_ts\": [",
                       threads, plumb_kv_type_name(kv), plumb_kv_type_name(kv), name, t.n_prompt, t.n_gen,
                       t.depth, res.n, avg_ns, sd_ns, avg, sd);
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
                printf("| %-28.28s | %10s | %-7s | %-6s | %7ld | %16s | %21s |\n", base, size,
                       type_name, mi->cpu_tier ? mi->cpu_tier : "?", threads, name, ts);
            }
            fflush(stdout);
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
