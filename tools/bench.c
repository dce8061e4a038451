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
 *
 * --roofline measures, before the tests, how fast the same number of
 * threads can read the model file's pages (a second read-only mapping of
 * the file: the same page cache pages the model's weights are read from):
 * 1 MiB chunks taken in a random order from one shared counter, every 64-bit
 * word summed so no load can be dropped, one untimed pass to bring the pages
 * in, then the best of ROOF_PASSES timed passes.  A decoded token reads
 * plumb_model_active_bytes() of weights plus the cache rows of the positions
 * it attends to; the bandwidth divided by that is the test's ceiling, and
 * each tg test is reported as a fraction of it.  The host's bandwidth can
 * move within a minute, so a tg test takes its own yardstick too: the best
 * of ROOF_TEST_PASSES passes before each repetition and after the last, the
 * mean of which is that test's bandwidth.  --roofline-anon measures
 * anonymous memory (huge pages advised) the same way, for comparison.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

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
    double *gbs;  /* [reps + 1] a tg test's bandwidth samples (before each repetition,
                     after the last), 1e9 bytes/s; n_gbs of them */
    int n_gbs;
} Result;

/* ------------------------------------------------------------- roofline */

#define ROOF_CHUNK (1u << 20)            /* bytes a thread reads at a time */
#define ROOF_PASSES 3                    /* timed passes; the fastest counts */
#define ROOF_TEST_PASSES 2               /* the same around each tg repetition */
#define ROOF_ANON_MAX (1ull << 30)       /* most anonymous memory --roofline-anon reads */
#define ROOF_HUGE (2ull << 20)           /* alignment for transparent huge pages */

typedef struct Roofline {
    double file_gbs;       /* best streaming read of the model file's pages, 1e9 bytes/s */
    const unsigned char *map; /* the file's second mapping, kept for the tg tests' samples */
    int n_threads;         /* threads reading */
    double anon_gbs;       /* the same over anonymous memory, 0 when not measured */
    uint64_t file_bytes;   /* size of the file read */
    uint64_t anon_bytes;   /* anonymous memory read: the file's size, at most ROOF_ANON_MAX */
    uint64_t weight_bytes; /* weights a decoded token reads (plumb_model_active_bytes) */
    uint64_t pos_bytes;    /* key/value cache bytes per position a token attends to */
} Roofline;

/* One region read by several threads, pass after pass; chunks are handed
 * out in the order of `order` through `next`, so threads that run faster
 * take more of them.  The threads wait for `ready` (under lock), then meet
 * at `barrier` before and after every pass, so a pass is timed without the
 * cost of starting threads. */
typedef struct Stream {
    const unsigned char *base; /* first byte, page-aligned */
    uint64_t size;             /* bytes */
    uint32_t *order;           /* [n_chunks] chunk indices, a random permutation */
    uint64_t n_chunks;         /* ceil(size / ROOF_CHUNK) */
    atomic_uint_fast64_t next; /* next entry of order to hand out */
    int n_threads;             /* threads reading, the caller included */
    int passes;                /* passes each thread takes part in */
    pthread_mutex_t lock;      /* guards ready and quit */
    pthread_cond_t cond;       /* signalled when ready is set */
    int ready;                 /* n_threads and barrier are final */
    int quit;                  /* with ready: leave without reading (a thread failed to start) */
    pthread_barrier_t barrier; /* n_threads parties, around each pass */
} Stream;

typedef struct StreamWorker {
    Stream *st;    /* shared region */
    uint64_t sum;  /* sum of the words this thread read */
    double t0, t1; /* when this thread started and stopped reading in the last pass, s */
    pthread_t thread;
} StreamWorker;

/* What the sums go to, so the compiler has to do every load. */
static volatile uint64_t stream_sink;

static uint64_t sum_bytes(const unsigned char *p, uint64_t n)
{
    const uint64_t *w = (const uint64_t *)(const void *)p; /* p is 8-byte aligned */
    uint64_t a0 = 0, a1 = 0, a2 = 0, a3 = 0, i, nw = n / 8;
    /* four sums, so the additions do not wait on one another */
    for (i = 0; i + 4 <= nw; i += 4) {
        a0 += w[i];
        a1 += w[i + 1];
        a2 += w[i + 2];
        a3 += w[i + 3];
    }
    for (; i < nw; i++)
        a0 += w[i];
    for (i = nw * 8; i < n; i++)
        a1 += p[i];
    return a0 + a1 + a2 + a3;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Take chunks until none is left.  Each thread notes its own times: a
 * thread that is descheduled at the start of a pass does not shorten it. */
static void stream_read(Stream *st, StreamWorker *w)
{
    uint64_t i;
    w->t0 = now_seconds();
    while ((i = atomic_fetch_add_explicit(&st->next, 1, memory_order_relaxed)) < st->n_chunks) {
        uint64_t off = (uint64_t)st->order[i] * ROOF_CHUNK;
        uint64_t n = st->size - off < ROOF_CHUNK ? st->size - off : ROOF_CHUNK;
        w->sum += sum_bytes(st->base + off, n);
    }
    w->t1 = now_seconds();
}

static void *stream_main(void *arg)
{
    StreamWorker *w = arg;
    Stream *st = w->st;
    int pass, quit;
    pthread_mutex_lock(&st->lock);
    while (!st->ready)
        pthread_cond_wait(&st->cond, &st->lock);
    quit = st->quit;
    pthread_mutex_unlock(&st->lock);
    if (quit)
        return NULL;
    for (pass = 0; pass < st->passes; pass++) {
        pthread_barrier_wait(&st->barrier);
        stream_read(st, w);
        pthread_barrier_wait(&st->barrier);
    }
    return NULL;
}

/* Bytes per second of the best of `passes` timed passes over [base,
 * base + size) by n_threads threads, after one untimed pass if `untimed`;
 * 0 with a message on failure. */
static double stream_rate(const unsigned char *base, uint64_t size, int n_threads, const char *what,
                          int untimed, int passes)
{
    Stream st;
    StreamWorker *w = NULL;
    uint64_t i, x = 0x9e3779b97f4a7c15ull, sum = 0;
    double best = 0, t0, t1;
    int pass, e = 0, started = 1;
    memset(&st, 0, sizeof st);
    st.base = base;
    st.size = size;
    st.n_chunks = (size + ROOF_CHUNK - 1) / ROOF_CHUNK;
    st.n_threads = n_threads;
    st.passes = (untimed ? 1 : 0) + passes;
    if (st.n_chunks == 0 || st.n_chunks > UINT32_MAX) {
        cli_error("bench: roofline: %s: %llu bytes cannot be read in chunks", what,
                  (unsigned long long)size);
        return 0;
    }
    st.order = malloc((size_t)st.n_chunks * sizeof *st.order);
    w = calloc((size_t)n_threads, sizeof *w);
    if (!st.order || !w) {
        cli_error("bench: roofline: out of memory");
        free(st.order);
        free(w);
        return 0;
    }
    /* Fisher-Yates with a fixed-seed xorshift64*: the same order every run */
    for (i = 0; i < st.n_chunks; i++)
        st.order[i] = (uint32_t)i;
    for (i = st.n_chunks - 1; i > 0; i--) {
        uint64_t j, tmp;
        x ^= x >> 12, x ^= x << 25, x ^= x >> 27;
        j = (x * 0x2545f4914f6cdd1dull >> 11) % (i + 1);
        tmp = st.order[i], st.order[i] = st.order[j], st.order[j] = (uint32_t)tmp;
    }
    pthread_mutex_init(&st.lock, NULL);
    pthread_cond_init(&st.cond, NULL);
    for (; started < n_threads; started++) {
        w[started].st = &st;
        if ((e = pthread_create(&w[started].thread, NULL, stream_main, &w[started])))
            break;
    }
    if (!e)
        e = pthread_barrier_init(&st.barrier, NULL, (unsigned)n_threads);
    pthread_mutex_lock(&st.lock);
    st.ready = 1;
    st.quit = e != 0;
    pthread_cond_broadcast(&st.cond);
    pthread_mutex_unlock(&st.lock);
    if (!e) {
        w[0].st = &st;
        for (pass = 0; pass < st.passes; pass++) {
            atomic_store(&st.next, 0);
            pthread_barrier_wait(&st.barrier);
            stream_read(&st, &w[0]);
            pthread_barrier_wait(&st.barrier);
            /* from the first thread's start to the last one's end */
            t0 = w[0].t0, t1 = w[0].t1;
            for (i = 1; i < (uint64_t)n_threads; i++) {
                t0 = w[i].t0 < t0 ? w[i].t0 : t0;
                t1 = w[i].t1 > t1 ? w[i].t1 : t1;
            }
            if ((pass > 0 || !untimed) && t1 > t0 && (double)size / (t1 - t0) > best)
                best = (double)size / (t1 - t0);
        }
    }
    for (i = 1; i < (uint64_t)started; i++)
        pthread_join(w[i].thread, NULL);
    if (!e)
        pthread_barrier_destroy(&st.barrier);
    else
        cli_error("bench: roofline: %s: starting %d threads: %s", what, n_threads, strerror(e));
    pthread_cond_destroy(&st.cond);
    pthread_mutex_destroy(&st.lock);
    for (i = 0; i < (uint64_t)n_threads; i++)
        sum += w[i].sum;
    stream_sink += sum;
    free(st.order);
    free(w);
    return e ? 0 : best;
}

/* The best streaming read of the file's pages, in bytes per second; the
 * mapping is left in *map (to be unmapped by the caller) for later samples. */
static double file_rate(const char *path, int n_threads, uint64_t *bytes, const unsigned char **map_out)
{
    struct stat sb;
    void *map;
    double r;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *map_out = NULL;
    if (fd < 0 || fstat(fd, &sb) < 0) {
        cli_error("bench: roofline: %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return 0;
    }
    *bytes = (uint64_t)sb.st_size;
    if (sb.st_size <= 0) {
        cli_error("bench: roofline: %s: empty file", path);
        close(fd);
        return 0;
    }
    /* mapped as the model maps it: private, read-only */
    map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        cli_error("bench: roofline: %s: mmap: %s", path, strerror(errno));
        return 0;
    }
    r = stream_rate(map, (uint64_t)sb.st_size, n_threads, path, 1, ROOF_PASSES);
    if (r > 0)
        *map_out = map;
    else
        munmap(map, (size_t)sb.st_size);
    return r;
}

/* The same over `bytes` of anonymous memory, written first (pages never
 * written would all be the one zero page). */
static double anon_rate(uint64_t bytes, int n_threads)
{
    const size_t len = (size_t)(bytes + ROOF_HUGE);
    unsigned char *map, *base;
    double r;
    map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map == MAP_FAILED) {
        cli_error("bench: roofline: anonymous memory: mmap: %s", strerror(errno));
        return 0;
    }
    base = map + (ROOF_HUGE - (uintptr_t)map % ROOF_HUGE) % ROOF_HUGE;
#ifdef MADV_HUGEPAGE
    (void)madvise(base, (size_t)bytes, MADV_HUGEPAGE);
#endif
    memset(base, 0x5a, (size_t)bytes);
    r = stream_rate(base, bytes, n_threads, "anonymous memory", 1, ROOF_PASSES);
    munmap(map, len);
    return r;
}

/* "12.34 MiB" or "12.34 GiB" */
static void size_text(char *buf, size_t cap, uint64_t bytes)
{
    if (bytes < 1024ull * 1024 * 1024)
        snprintf(buf, cap, "%.2f MiB", (double)bytes / 1048576.0);
    else
        snprintf(buf, cap, "%.2f GiB", (double)bytes / 1073741824.0);
}

/* Bytes of one head's cache row of type t (see PlumbKVType). */
static uint64_t kv_row_bytes(PlumbKVType t, int32_t head_dim)
{
    const uint64_t hd = (uint64_t)head_dim;
    if (t == PLUMB_KV_DEFAULT) /* q8_0 where the head size allows blocks */
        t = head_dim % 32 ? PLUMB_KV_F16 : PLUMB_KV_Q8_0;
    switch (t) {
    case PLUMB_KV_F32: return 4 * hd;
    case PLUMB_KV_F16: return 2 * hd;
    case PLUMB_KV_Q8_0: return hd / 32 * 34;
    case PLUMB_KV_Q4_0: return hd / 32 * 18;
    default: return 0;
    }
}

/* Mean positions a tg test's tokens attend to: the token at position p sees
 * p + 1 of them, or with a window the keep sinks and the last window. */
static double mean_attended(const Test *t)
{
    double sum = 0;
    int64_t p, cap = t->kv.window ? (int64_t)t->kv.window + (t->kv.keep ? t->kv.keep : 4) : 0;
    if (t->n_gen <= 0)
        return 0;
    for (p = t->depth; p < (int64_t)t->depth + t->n_gen; p++)
        sum += (double)(cap && p + 1 > cap ? cap : p + 1);
    return sum / t->n_gen;
}

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

/* One sample of the file's bandwidth next to a tg repetition (1e9 bytes/s)
 * appended to res->gbs. */
static int roof_sample_into(const Roofline *roof, const char *path, Result *res, PlumbError *err)
{
    const double g = stream_rate(roof->map, roof->file_bytes, roof->n_threads, path, 0, ROOF_TEST_PASSES) / 1e9;
    if (g <= 0)
        return plumb_err(err, PLUMB_EIO, "roofline: the bandwidth sample failed");
    res->gbs[res->n_gbs++] = g;
    return PLUMB_OK;
}

/* The test's repetitions; with `roof` a tg test also samples the file's
 * bandwidth before each repetition and after the last. */
static int run_test(PlumbModel *m, const Test *t, int reps, int warmup, const Roofline *roof,
                    const char *path, Result *res, PlumbError *err)
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
        if (roof && !t->n_prompt && (rc = roof_sample_into(roof, path, res, err)))
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
    if (roof && !t->n_prompt && (rc = roof_sample_into(roof, path, res, err)))
        goto done;
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
    int roofline = 0, roofline_anon = 0;
    Roofline roof = { 0 };
    PlumbSessionParams kv = { 0 };
    int kv_window = 0, kv_keep = 0;
    PlumbModelParams mp;
    PlumbModel *m = NULL;
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    const PlumbModelInfo *mi;
    Result res = { NULL, NULL, 0, 0, NULL, 0 };
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
        { .names = "--roofline", .kind = CLI_FLAG, .dest = &roofline,
          .help = "measure, before the tests and around each tg test's repetitions, how fast the "
                  "threads read the model file's pages, and report each tg test as a share of "
                  "the speed that bandwidth allows" },
        { .names = "--roofline-anon", .kind = CLI_FLAG, .dest = &roofline_anon,
          .help = "with --roofline, also measure reading anonymous memory (as much as the "
                  "file, at most 1 GiB)" },
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
                    "[--cpu TIER] [--fill-random] [--roofline] [--roofline-anon] [--no-warmup] "
                    "[--json] [--help]",
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
    if (roofline_anon && !roofline)
        return cli_usage_error(&cmd, "--roofline-anon goes with --roofline");
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
    cli_repack_hint(m, model);
    mi = plumb_model_info(m);
    if (!threads)
        threads = plumb_cpu_physical_cores();
    res.ts = calloc((size_t)reps, sizeof *res.ts);
    res.ns = calloc((size_t)reps, sizeof *res.ns);
    res.gbs = calloc((size_t)reps + 1, sizeof *res.gbs);
    if (!res.ts || !res.ns || !res.gbs) {
        cli_error("bench: out of memory");
        rc = 1;
        goto done;
    }
    base = strrchr(model, '/');
    base = base ? base + 1 : model;

    if (roofline) {
        roof.n_threads = threads;
        roof.file_gbs = file_rate(model, threads, &roof.file_bytes, &roof.map) / 1e9;
        roof.anon_bytes = roof.file_bytes < ROOF_ANON_MAX ? roof.file_bytes : ROOF_ANON_MAX;
        if (roofline_anon && roof.file_gbs > 0)
            roof.anon_gbs = anon_rate(roof.anon_bytes, threads) / 1e9;
        if (roof.file_gbs <= 0 || (roofline_anon && roof.anon_gbs <= 0)) {
            rc = 1;
            goto done;
        }
        roof.weight_bytes = plumb_model_active_bytes(m);
        roof.pos_bytes = (uint64_t)mi->n_layer * (uint64_t)mi->n_head_kv *
                         (kv_row_bytes(kv.kv_type, mi->head_dim) +
                          kv_row_bytes(kv.kv_type_v ? kv.kv_type_v : kv.kv_type, mi->head_dim));
        if (!json) {
            char fsize[32], asize[32];
            size_text(fsize, sizeof fsize, roof.file_bytes);
            size_text(asize, sizeof asize, roof.anon_bytes);
            printf("roofline: %.2f GB/s reading the pages of %s (%s in 1 MiB chunks in a "
                   "random order, %d threads, best of %d passes)\n",
                   roof.file_gbs, base, fsize, threads, ROOF_PASSES);
            if (roofline_anon)
                printf("roofline: %.2f GB/s reading %s of anonymous memory (likewise)\n",
                       roof.anon_gbs, asize);
            printf("roofline: a decoded token reads %.4f GB of weights and %llu bytes of "
                   "key/value cache per position it attends to; a tg test's ceiling takes the "
                   "mean bandwidth of reads before each repetition and after the last (best of %d "
                   "passes each)\n\n",
                   (double)roof.weight_bytes / 1e9, (unsigned long long)roof.pos_bytes,
                   ROOF_TEST_PASSES);
        }
    }

    if (!json) {
        printf("| %-28s | %10s | %-7s | %-10s | %7s | %16s | %20s |", "model", "size", "type",
               "cpu", "threads", "test", "t/s");
        printf(roofline ? " %22s |\n" : "\n", "of roofline t/s");
        printf("| %.28s | %.9s: | %.7s | %.10s | %.6s: | %.15s: | %.19s: |",
               "------------------------------", "----------", "-------", "----------", "-------",
               "----------------", "--------------------");
        printf(roofline ? " %.21s: |\n" : "\n", "-----------------------");
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
            res.n_gbs = 0;
            if (run_test(m, &t, (int)reps, warmup, roofline ? &roof : NULL, model, &res, &err)) {
                test_name(&t, name, sizeof name, 0);
                cli_error("bench: %s: %s", name, err.msg[0] ? err.msg : plumb_strerror(err.code));
                rc = 1;
                goto done;
            }
            mean_sd(res.ts, res.n, &avg, &sd);
            mean_sd(res.ns, res.n, &avg_ns, &sd_ns);
            /* the ceiling of a decode test: bandwidth / bytes a token reads */
            /* ... with the bandwidth sampled around the test's repetitions */
            double tok_bytes = 0, ceil_ts = 0, test_gbs = roof.file_gbs, gbs_sd;
            if (roofline && t.n_gen) {
                mean_sd(res.gbs, res.n_gbs, &test_gbs, &gbs_sd);
                tok_bytes = (double)roof.weight_bytes + (double)roof.pos_bytes * mean_attended(&t);
                ceil_ts = test_gbs * 1e9 / tok_bytes;
            }
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
                printf("]");
                if (roofline) {
                    printf(", \"roofline_gbs\": %.3f, \"roofline_samples_gbs\": [", test_gbs);
                    for (i = 0; i < (t.n_gen ? res.n_gbs : 0); i++)
                        printf("%s%.3f", i ? ", " : "", res.gbs[i]);
                    printf("], \"roofline_anon_gbs\": ");
                    printf(roofline_anon ? "%.3f" : "null", roof.anon_gbs);
                    if (ceil_ts > 0)
                        printf(", \"bytes_per_token\": %.0f, \"roofline_ts\": %.6f, "
                               "\"roofline_frac\": %.6f", tok_bytes, ceil_ts, avg / ceil_ts);
                    else
                        printf(", \"bytes_per_token\": null, \"roofline_ts\": null, "
                               "\"roofline_frac\": null");
                }
                printf("}\n");
            } else {
                test_name(&t, name, sizeof name, 1);
                size_text(size, sizeof size, model_bytes);
                char ts[64];
                /* "±" is two bytes and one column: pad one byte more. */
                snprintf(ts, sizeof ts, "%.2f ± %.2f", avg, sd);
                printf("| %-28.28s | %10s | %-7s | %-10s | %7d | %16s | %21s |", base, size,
                       type_name, mi->cpu_tier ? mi->cpu_tier : "?", threads, name, ts);
                if (roofline && ceil_ts > 0) {
                    char share[64];
                    snprintf(share, sizeof share, "%.1f%% of %.2f", 100.0 * avg / ceil_ts, ceil_ts);
                    printf(" %22s |\n", share);
                } else {
                    printf(roofline ? " %22s |\n" : "\n", "-");
                }
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
    free(res.gbs);
    if (roof.map)
        munmap((void *)roof.map, (size_t)roof.file_bytes);
    plumb_model_close(m);
    return rc;
}
