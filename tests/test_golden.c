/*
 * test_golden.c — plumb's logits against llama.cpp's, for every model and
 * prompt in tests/data/golden (see tests/data/README.md for how they were
 * made and the agreement expected).
 *
 * Per model and prompt:
 *   (a) tokenizing prompts/pN.txt gives the golden prompt ids;
 *   (b) teacher forcing: the prompt evaluated as one batched eval (every
 *       position compared where .logits_allpos.f32 exists, the last with
 *       .logits.f32), then the golden greedy tokens fed one at a time, each
 *       step compared with its row of .greedy_logits.f32;
 *   (c) for the float models on p1 and p2: free-running greedy decoding
 *       reproduces the 32 golden ids.
 * A table of cosine similarity and top-1 agreement goes to stderr.  The
 * kernel tier follows $PLUMB_CPU, passed in as the model's cpu parameter as
 * the plumb command does (tests/tiers.sh runs this for each tier).
 * PLUMB_GOLDEN_QUICK=1 (for slow runs: the C tier under sanitizers or an
 * emulator) keeps the ~430-token p3 for three models only, and the F16-cache
 * rows for two (mini-f32, small-Q4_K_M); PLUMB_GOLDEN_ONLY=
 * NAME runs one model.
 * A few checks of the session API's error paths and of the streaming
 * detokeniser come last.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>
#include <zlib.h>

#include "forward.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "repack.h"
#include "plumb.h"
#include "testlib.h"

/* Every model opened here: the kernel tier of $PLUMB_CPU (set in main). */
static PlumbModelParams tier_params;

#define N_GREEDY 32
#define GREEDY_TIE 1e-3f /* logits closer than this are a tie between implementations */

typedef struct {
    const char *name;
    int strict;      /* float-exact class: every position cosine >= 0.9999 */
    int free_run;    /* (c) applies on p1 and p2 */
    int long_in_quick; /* p3 still runs with PLUMB_GOLDEN_QUICK */
    const char *repack_of; /* non-NULL: this fixture repacked to Q4_0_R8 (`plumb repack`),
                            * checked against the fixture's golden files */
    PlumbKVType kv;  /* key/value cache: F32 as the golden files were made, or F16 */
    const char *bf16_of; /* non-NULL: made at test time from this F16 fixture (its F16 tensors
                          * to BF16), checked tensor by tensor against llama-quantize's */
} GoldenModel;

static const GoldenModel models[] = {
    /* name, strict, free_run, long_in_quick, repack_of, kv, bf16_of */
    { "mini-f32", 1, 1, 1, NULL, PLUMB_KV_F32, NULL },
    { "small-f16", 1, 1, 0, NULL, PLUMB_KV_F32, NULL },
    { "small-BF16", 1, 0, 0, NULL, PLUMB_KV_F32, "small-f16" },
    /* Q8_0 weights: the 8-bit rounding of every activation row turns float
     * reordering (the attention kernel's) into flips, so not float-exact */
    { "small-Q8_0", 0, 0, 0, NULL, PLUMB_KV_F32, NULL },
    { "small-Q6_K", 0, 0, 0, NULL, PLUMB_KV_F32, NULL },
    { "small-Q5_K_M", 0, 0, 0, NULL, PLUMB_KV_F32, NULL },
    { "small-Q4_K_M", 0, 0, 1, NULL, PLUMB_KV_F32, NULL },
    { "small-Q4_0", 0, 0, 0, NULL, PLUMB_KV_F32, NULL },
    { "small-IQ4_XS", 0, 0, 0, NULL, PLUMB_KV_F32, NULL },
    { "small-Q3_K_M", 0, 0, 0, NULL, PLUMB_KV_F32, NULL },
    { "small-Q2_K", 0, 0, 0, NULL, PLUMB_KV_F32, NULL },
    { "dense-f16", 1, 1, 0, NULL, PLUMB_KV_F32, NULL },
    { "dense-Q4_K_M", 0, 0, 1, NULL, PLUMB_KV_F32, NULL },
    { "qwen2-f16", 1, 1, 0, NULL, PLUMB_KV_F32, NULL },
    { "small-Q4_0-R8", 0, 0, 0, "small-Q4_0", PLUMB_KV_F32, NULL },
    { "small-Q4_K_M-R8", 0, 0, 0, "small-Q4_K_M", PLUMB_KV_F32, NULL },
    { "small-Q6_K-R8", 0, 0, 0, "small-Q6_K", PLUMB_KV_F32, NULL },
    /* the F16 cache (plumb's default) against the same F32-cache goldens: the
     * float models as strictly (llama.cpp against itself with an f16 cache:
     * every position >= 0.999996), quantised ones by the quantised bounds */
    { "mini-f32", 1, 1, 1, NULL, PLUMB_KV_F16, NULL },
    { "small-f16", 1, 1, 0, NULL, PLUMB_KV_F16, NULL },
    { "dense-f16", 1, 1, 0, NULL, PLUMB_KV_F16, NULL },
    { "qwen2-f16", 1, 1, 0, NULL, PLUMB_KV_F16, NULL },
    { "small-Q4_K_M", 0, 0, 1, NULL, PLUMB_KV_F16, NULL },
    { "small-Q4_0-R8", 0, 0, 0, "small-Q4_0", PLUMB_KV_F16, NULL },
    /* the Q8_0 cache, same goldens, by the quantised
     * bounds: its rounding moves logits as much as 8-bit weights do (the
     * cache types' own quality test is tests/test_kvquality) */
    { "small-f16", 0, 0, 0, NULL, PLUMB_KV_Q8_0, NULL },
    { "qwen2-f16", 0, 0, 0, NULL, PLUMB_KV_Q8_0, NULL },
};

/* The row label: the name, and the cache type when it is not F32. */
static const char *label(const GoldenModel *gm)
{
    static char buf[64];
    snprintf(buf, sizeof buf, "%s%s%s", gm->name, gm->kv == PLUMB_KV_F32 ? "" : "+kv-",
             gm->kv == PLUMB_KV_F32 ? "" : plumb_kv_type_name(gm->kv));
    return buf;
}

/* The model whose golden files gm is checked against. */
static const char *gold_name(const GoldenModel *gm)
{
    return gm->repack_of ? gm->repack_of : gm->name;
}

/* ------------------------------------------------------------- helpers */

static char *golden_path(const char *model, int prompt, const char *suffix)
{
    static char name[256];
    snprintf(name, sizeof name, "golden/%s.p%d.%s", model, prompt, suffix);
    return (char *)test_data(name);
}

/* First line of a file as ids; malloc'd, NULL when missing. */
static int32_t *read_id_line(const char *path, size_t *n)
{
    char *text = test_read_file(path, NULL), *p, *end;
    int32_t *ids;
    size_t cap = 64;
    *n = 0;
    if (!text)
        return NULL;
    ids = malloc(cap * sizeof *ids);
    p = text;
    while (ids && *p && *p != '\n') {
        long v = strtol(p, &end, 10);
        if (end == p)
            break;
        if (*n == cap) {
            int32_t *ni = realloc(ids, 2 * cap * sizeof *ids);
            if (!ni) {
                free(ids);
                ids = NULL;
                break;
            }
            ids = ni;
            cap *= 2;
        }
        ids[(*n)++] = (int32_t)v;
        p = end;
        while (*p == ' ' || *p == '\t' || *p == '\r')
            p++;
    }
    free(text);
    return ids;
}

/* A float32 file of rows x n_vocab; NULL when missing or the wrong size. */
static float *read_rows(const char *path, size_t n_vocab, size_t *n_rows)
{
    size_t len = 0;
    char *buf = test_read_file(path, &len);
    float *rows;
    *n_rows = 0;
    if (!buf)
        return NULL;
    if (len == 0 || len % (n_vocab * sizeof(float))) {
        free(buf);
        return NULL;
    }
    rows = malloc(len);
    if (rows) {
        memcpy(rows, buf, len); /* little-endian hosts, like the files */
        *n_rows = len / (n_vocab * sizeof(float));
    }
    free(buf);
    return rows;
}

static double cosine(const float *a, const float *b, size_t n)
{
    double ab = 0, aa = 0, bb = 0;
    for (size_t i = 0; i < n; i++) {
        ab += (double)a[i] * b[i];
        aa += (double)a[i] * a[i];
        bb += (double)b[i] * b[i];
    }
    return aa > 0 && bb > 0 ? ab / sqrt(aa * bb) : (aa == bb ? 1.0 : 0.0);
}

static int32_t argmax(const float *x, size_t n)
{
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return (int32_t)best;
}

static int all_finite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return 0;
    return 1;
}

typedef struct {
    double *cos;   /* per compared position */
    size_t n, cap;
    size_t top1;   /* positions whose argmax agrees */
    size_t nonfinite;
} Stats;

static void stats_add(Stats *s, const float *ours, const float *ref, size_t n_vocab)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 128;
        double *nc = realloc(s->cos, cap * sizeof *nc);
        if (!nc)
            return;
        s->cos = nc;
        s->cap = cap;
    }
    if (!all_finite(ours, n_vocab))
        s->nonfinite++;
    s->cos[s->n++] = cosine(ours, ref, n_vocab);
    s->top1 += argmax(ours, n_vocab) == argmax(ref, n_vocab);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ------------------------------------------------------------- one case */

static void run_prompt(const GoldenModel *gm, PlumbModel *m, int prompt)
{
    const size_t V = (size_t)plumb_model_info(m)->n_vocab;
    size_t n_gold = 0, n_greedy = 0, n_allpos = 0, n_last = 0, n_grows = 0, n_tok = 0;
    int32_t *gold = read_id_line(golden_path(gold_name(gm), prompt, "tokens.txt"), &n_gold);
    int32_t *greedy = read_id_line(golden_path(gold_name(gm), prompt, "greedy.txt"), &n_greedy);
    float *allpos = read_rows(golden_path(gold_name(gm), prompt, "logits_allpos.f32"), V, &n_allpos);
    float *last = read_rows(golden_path(gold_name(gm), prompt, "logits.f32"), V, &n_last);
    float *grows = read_rows(golden_path(gold_name(gm), prompt, "greedy_logits.f32"), V, &n_grows);
    char pname[32], *text;
    size_t text_len = 0;
    int32_t *ids = NULL;
    PlumbSession *s = NULL;
    PlumbSessionParams sp = { 0 };
    PlumbError err = { 0 };
    Stats st = { 0 };
    const char *free_run = "-";
    char free_run_buf[32];
    size_t n_ge99 = 0;
    double median = 0, min = 1;

    CHECK(gold && n_gold > 0, "%s p%d: golden prompt ids missing", label(gm), prompt);
    CHECK(greedy && n_greedy == N_GREEDY, "%s p%d: golden greedy ids missing", label(gm), prompt);
    CHECK(last && n_last == 1, "%s p%d: golden last logits missing", label(gm), prompt);
    CHECK(grows && n_grows == N_GREEDY, "%s p%d: golden greedy logits missing", label(gm), prompt);
    if (!gold || !n_gold || !greedy || n_greedy != N_GREEDY || !last || !grows ||
        n_grows != N_GREEDY)
        goto done;
    CHECK(!allpos || n_allpos == n_gold, "%s p%d: %zu rows of all-position logits for %zu ids",
          label(gm), prompt, n_allpos, n_gold);
    if (allpos && n_allpos != n_gold)
        goto done;

    /* (a) tokenizer */
    snprintf(pname, sizeof pname, "prompts/p%d.txt", prompt);
    text = test_read_file(test_data(pname), &text_len);
    CHECK(text != NULL, "cannot read %s", pname);
    if (text) {
        int rc = plumb_tokenize(m, text, text_len, PLUMB_TOK_SPECIAL, &ids, &n_tok, &err);
        CHECK(rc == PLUMB_OK, "%s p%d: tokenize: %s", label(gm), prompt, err.msg);
        CHECK(rc == PLUMB_OK && n_tok == n_gold && !memcmp(ids, gold, n_gold * sizeof *ids),
              "%s p%d: prompt ids differ from llama.cpp's (%zu vs %zu ids)", label(gm), prompt,
              n_tok, n_gold);
        free(text);
    }

    /* (b) teacher forcing, from the golden ids */
    sp.n_ctx = (int32_t)(n_gold + N_GREEDY);
    sp.kv_type = gm->kv;
    if (plumb_session_open(&s, m, &sp, &err) < 0) {
        CHECK(0, "%s: session: %s", label(gm), err.msg);
        goto done;
    }
    if (plumb_session_eval(s, gold, n_gold, allpos ? PLUMB_EVAL_ALL_LOGITS : 0, &err) < 0) {
        CHECK(0, "%s p%d: eval: %s", label(gm), prompt, err.msg);
        goto done;
    }
    CHECK(plumb_session_n_past(s) == n_gold, "n_past %zu after %zu ids", plumb_session_n_past(s),
          n_gold);
    if (allpos)
        for (size_t i = 0; i + 1 < n_gold; i++)
            stats_add(&st, plumb_session_logits(s, i), allpos + i * V, V);
    /* the last position, against .logits.f32 and greedy row 0 alike */
    stats_add(&st, plumb_session_logits(s, n_gold - 1), last, V);
    CHECK(cosine(last, grows, V) > 0.999999, "%s p%d: golden files disagree", label(gm), prompt);
    for (int g = 0; g + 1 < N_GREEDY; g++) {
        if (plumb_session_eval(s, &greedy[g], 1, 0, &err) < 0) {
            CHECK(0, "%s p%d: eval of greedy token %d: %s", label(gm), prompt, g, err.msg);
            goto done;
        }
        stats_add(&st, plumb_session_logits(s, 0), grows + (size_t)(g + 1) * V, V);
    }

    /* (c) free-running greedy decoding.  Where llama.cpp's own choice was a
     * near-tie (its two candidates closer than GREEDY_TIE), either is
     * accepted and the golden token is fed so the rest is still compared:
     * two correct implementations differ by that much (float16 activation
     * rounding turns last-bit differences into ~1e-3 logit differences). */
    if (gm->free_run && prompt <= 2) {
        int ok = 1, at = -1, ties = 0;
        plumb_session_reset(s);
        CHECK(plumb_session_n_past(s) == 0, "reset leaves %zu positions", plumb_session_n_past(s));
        if (plumb_session_eval(s, gold, n_gold, 0, &err) < 0) {
            CHECK(0, "%s p%d: eval: %s", label(gm), prompt, err.msg);
            goto done;
        }
        for (int g = 0; g < N_GREEDY && ok; g++) {
            int32_t id = argmax(plumb_session_logits(s, g == 0 ? n_gold - 1 : 0), V);
            if (id != greedy[g]) {
                const float *ref = grows + (size_t)g * V;
                if (ref[greedy[g]] - ref[id] < GREEDY_TIE) {
                    ties++;
                    id = greedy[g];
                } else {
                    ok = 0;
                    at = g;
                    break;
                }
            }
            if (g + 1 < N_GREEDY && plumb_session_eval(s, &id, 1, 0, &err) < 0) {
                CHECK(0, "%s p%d: eval: %s", label(gm), prompt, err.msg);
                goto done;
            }
        }
        CHECK(ok, "%s p%d: greedy decoding differs from llama.cpp's at token %d", label(gm),
              prompt, at);
        snprintf(free_run_buf, sizeof free_run_buf, "%s%s", ok ? "same" : "DIFF",
                 ties ? " (near-tie taken)" : "");
        free_run = free_run_buf;
    }

    /* verdict */
    qsort(st.cos, st.n, sizeof *st.cos, cmp_double);
    if (st.n) {
        min = st.cos[0];
        median = st.n % 2 ? st.cos[st.n / 2] : 0.5 * (st.cos[st.n / 2 - 1] + st.cos[st.n / 2]);
    }
    for (size_t i = 0; i < st.n; i++)
        n_ge99 += st.cos[i] >= 0.99;
    CHECK(st.nonfinite == 0, "%s p%d: %zu positions with non-finite logits", label(gm), prompt,
          st.nonfinite);
    if (gm->strict) {
        CHECK(min >= 0.9999, "%s p%d: min cosine %.6f < 0.9999", label(gm), prompt, min);
    } else {
        CHECK(median >= 0.999, "%s p%d: median cosine %.6f < 0.999", label(gm), prompt, median);
        CHECK(n_ge99 * 100 >= st.n * 95, "%s p%d: only %zu of %zu positions have cosine >= 0.99",
              label(gm), prompt, n_ge99, st.n);
        CHECK(st.top1 * 100 >= st.n * 90, "%s p%d: top-1 agreement %zu of %zu < 90%%", label(gm),
              prompt, st.top1, st.n);
    }
    fprintf(stderr, "%-19s p%d %4zu %9.6f %9.6f %6.1f%% %6.1f%%  %s\n", label(gm), prompt, st.n,
            min, median, st.n ? 100.0 * (double)n_ge99 / (double)st.n : 0.0,
            st.n ? 100.0 * (double)st.top1 / (double)st.n : 0.0, free_run);
done:
    plumb_session_close(s);
    free(st.cos);
    free(ids);
    free(gold);
    free(greedy);
    free(allpos);
    free(last);
    free(grows);
}


/* ------------------------------------------------------------- broken models */

/* One edit applied while copying a model. */
typedef struct {
    const char *drop;        /* tensor left out */
    const char *tensor;      /* tensor whose shape or type changes */
    uint64_t ne0, ne1;       /* its new shape (0: keep) */
    int type;                /* its new type (-1: keep) */
    const char *key;         /* metadata key replaced */
    const char *str;         /* ... by this string, or */
    uint32_t u32;            /* ... by this uint32 */
    const char *scaling;     /* add RoPE scaling of this type, factor 4, from 32768 */
    int bf16;                /* every F16 tensor becomes BF16 (exact widening, then round to
                              * nearest even, as llama-quantize does) */
} Edit;

/* Copy src to dst applying e; returns 0 on success. */
static int write_variant(const char *src, const char *dst, const Edit *e)
{
    PlumbGGUF *g = NULL;
    PlumbGGUFWriter *w = NULL;
    PlumbError err = { 0 };
    int rc = -1;
    uint64_t k = 0;
    if (plumb_gguf_open(&g, src, &err) < 0 ||
        plumb_gguf_writer_open(&w, dst, PLUMB_GGUF_WRITE_FORCE, &err) < 0)
        goto done;
    for (uint64_t i = 0; i < g->n_kv; i++) {
        const PlumbGGUFKV *kv = &g->kv[i];
        int r;
        if (e->key && !strcmp(kv->key, e->key))
            r = e->str ? plumb_gguf_writer_kv_str(w, kv->key, e->str, &err)
                       : plumb_gguf_writer_kv_u32(w, kv->key, e->u32, &err);
        else
            r = plumb_gguf_writer_kv_value(w, kv->key, &kv->val, &err);
        if (r < 0)
            goto done;
    }
    if (e->scaling &&
        (plumb_gguf_writer_kv_str(w, "qwen3moe.rope.scaling.type", e->scaling, &err) < 0 ||
         plumb_gguf_writer_kv_f32(w, "qwen3moe.rope.scaling.factor", 4.0f, &err) < 0 ||
         plumb_gguf_writer_kv_u32(w, "qwen3moe.rope.scaling.original_context_length", 32768,
                                  &err) < 0))
        goto done;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const PlumbGGUFTensor *t = &g->tensors[i];
        uint64_t ne[PLUMB_GGUF_MAX_DIMS];
        uint32_t type = t->type;
        if (e->drop && !strcmp(t->name, e->drop))
            continue;
        memcpy(ne, t->ne, sizeof ne);
        if (e->bf16 && type == PLUMB_QTYPE_F16)
            type = PLUMB_QTYPE_BF16;
        if (e->tensor && !strcmp(t->name, e->tensor)) {
            if (e->ne0)
                ne[0] = e->ne0, ne[1] = e->ne1;
            if (e->type >= 0)
                type = (uint32_t)e->type;
        }
        if (plumb_gguf_writer_add_tensor(w, t->name, type, t->n_dims, ne, &err) < 0)
            goto done;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const PlumbGGUFTensor *t = &g->tensors[i];
        uint64_t need;
        static const char zeros[4096];
        if (e->drop && !strcmp(t->name, e->drop))
            continue;
        need = plumb_gguf_writer_tensor_bytes(w, k++);
        if (e->bf16 && t->type == PLUMB_QTYPE_F16) {
            const uint16_t *h = t->data;
            for (uint64_t n = 0; n < t->nbytes / 2; n++) {
                const uint16_t b = plumb_fp32_to_bf16(plumb_fp16_to_fp32(h[n]));
                if (plumb_gguf_writer_write(w, &b, sizeof b, &err) < 0)
                    goto done;
            }
            continue;
        }
        if (plumb_gguf_writer_write(w, t->data, need < t->nbytes ? need : t->nbytes, &err) < 0)
            goto done;
        for (uint64_t n = t->nbytes; n < need; n += sizeof zeros)
            if (plumb_gguf_writer_write(w, zeros, need - n < sizeof zeros ? need - n : sizeof zeros,
                                        &err) < 0)
                goto done;
    }
    rc = plumb_gguf_writer_finish(w, &err) < 0 ? -1 : 0;
done:
    if (rc < 0)
        fprintf(stderr, "write_variant %s: %s\n", dst, err.msg);
    plumb_gguf_writer_close(w);
    plumb_gguf_close(g);
    return rc;
}

/* The BF16 model: src's F16 tensors to BF16 into dst, then every tensor's
 * CRC-32 against those of llama-quantize's output listed in crc_file
 * ("name crc" lines, '#' comments).  Returns 0 when all agree. */
static int make_bf16(const char *src, const char *dst, const char *crc_file)
{
    const Edit e = { .type = -1, .key = "general.file_type", .u32 = 32, .bf16 = 1 };
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    size_t len = 0, n_listed = 0;
    char *list = test_read_file(crc_file, &len), *line, *save = NULL;
    int ok = 1;
    CHECK(list != NULL, "cannot read %s", crc_file);
    if (!list)
        return -1;
    if (write_variant(src, dst, &e) < 0 || plumb_gguf_open(&g, dst, &err) < 0) {
        CHECK(0, "%s from %s: %s", dst, src, err.msg);
        free(list);
        return -1;
    }
    for (line = strtok_r(list, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char name[128];
        unsigned long want;
        const PlumbGGUFTensor *t = NULL;
        if (line[0] == '#' || sscanf(line, "%127s %lx", name, &want) != 2)
            continue;
        n_listed++;
        for (uint64_t i = 0; i < g->n_tensors && !t; i++)
            if (!strcmp(g->tensors[i].name, name))
                t = &g->tensors[i];
        const int same = t && crc32(0L, t->data, (uInt)t->nbytes) == want;
        CHECK(same, "%s: tensor %s differs from llama-quantize's BF16 output", dst, name);
        ok = ok && same;
    }
    CHECK(n_listed == g->n_tensors, "%s: %zu tensors listed, %llu made", crc_file, n_listed,
          (unsigned long long)g->n_tensors);
    ok = ok && n_listed == g->n_tensors;
    plumb_gguf_close(g);
    free(list);
    return ok ? 0 : -1;
}

/* RoPE tables of a model against the formulas written out in double:
 * theta_i = pos * base^(-2i/d); with YaRN (factor f, original context n)
 * the interpolated theta/f and theta are mixed by a ramp over the pairs
 * between the correction dimensions, and the magnitude is 1 + 0.1 ln f. */
static void check_rope_of(const PlumbModel *m, const char *scaling)
{
    const PlumbRope *r = &m->rope;
    const int d = m->info.head_dim;
    const double base = m->info.rope_base, pi = 3.14159265358979323846;
    float c[PLUMB_MAX_HEAD_DIM / 2], sn[PLUMB_MAX_HEAD_DIM / 2];
    double lo = 0, hi = 0, f = 1, mag = 1;
    int yarn = scaling && !strcmp(scaling, "yarn");
    CHECK(r->n_dims == d, "RoPE over %d of %d dims", r->n_dims, d);
    if (scaling) {
        f = 4.0;
        lo = floor(d * log(32768 / (32 * 2 * pi)) / (2 * log(base)));
        hi = ceil(d * log(32768 / (1 * 2 * pi)) / (2 * log(base)));
        lo = lo < 0 ? 0 : lo;
        hi = hi > d - 1 ? d - 1 : hi;
        if (yarn)
            mag = 1 + 0.1 * log(f);
    }
    for (int pos = 0; pos <= 300; pos += 37) {
        double worst = 0;
        plumb_rope_cache(r, pos, c, sn);
        for (int i = 0; i < d / 2; i++) {
            double extrap = pos * pow(base, -2.0 * i / d), theta = extrap / f;
            if (yarn) {
                double y = (i - lo) / (hi - lo > 0.001 ? hi - lo : 0.001);
                double mix = 1 - (y < 0 ? 0 : y > 1 ? 1 : y);
                theta = theta * (1 - mix) + extrap * mix;
            }
            double ec = fabs(c[i] - mag * cos(theta)), es = fabs(sn[i] - mag * sin(theta));
            worst = ec > worst ? ec : worst;
            worst = es > worst ? es : worst;
        }
        CHECK(worst < 2e-4, "RoPE (%s) at position %d: off by %g", scaling ? scaling : "none",
              pos, worst);
    }
}

/* Opening a copy of models/<model>.gguf with edit e fails with code and a
 * message containing want (or succeeds when code is PLUMB_OK). */
static void check_variant_of(const char *dir, const char *model, const Edit *e, int code,
                             const char *want)
{
    char src[4096], dst[4200], rel[128];
    PlumbModel *m = NULL;
    PlumbError err = { 0 };
    int rc;
    snprintf(rel, sizeof rel, "models/%s.gguf", model);
    snprintf(src, sizeof src, "%s", test_data(rel));
    snprintf(dst, sizeof dst, "%s/variant.gguf", dir);
    if (write_variant(src, dst, e) < 0) {
        CHECK(0, "cannot write a variant of %s", src);
        return;
    }
    rc = plumb_model_open(&m, dst, &tier_params, &err);
    CHECK(rc == code && (code == PLUMB_OK || strstr(err.msg, want)),
          "variant (%s): rc %d '%s', want %d '%s'", want, rc, err.msg, code, want);
    CHECK((rc == PLUMB_OK) == (m != NULL), "model pointer on rc %d", rc);
    if (m && code == PLUMB_OK)
        check_rope_of(m, e->scaling);
    if (m && code == PLUMB_OK) {
        /* the tied output: token_embd.weight doubles as the output matrix */
        PlumbSession *s = NULL;
        int32_t ids[3] = { 10, 20, 30 };
        rc = plumb_session_open(&s, m, NULL, &err);
        CHECK(rc == PLUMB_OK, "session: %s", err.msg);
        if (rc == PLUMB_OK) {
            rc = plumb_session_eval(s, ids, 3, 0, &err);
            CHECK(rc == PLUMB_OK && all_finite(plumb_session_logits(s, 2), 1024), "eval: %s",
                  err.msg);
        }
        plumb_session_close(s);
    }
    plumb_model_close(m);
    remove(dst);
}

static void check_variant(const char *dir, const Edit *e, int code, const char *want)
{
    check_variant_of(dir, "mini-f32", e, code, want);
}

static void check_broken_models(void)
{
    char dir[] = "/tmp/test_golden.XXXXXX";
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    const Edit missing = { .drop = "blk.1.attn_k_norm.weight", .type = -1 };
    check_variant(dir, &missing, PLUMB_EFORMAT, "missing tensor 'blk.1.attn_k_norm.weight'");
    const Edit shape = { .tensor = "blk.0.attn_q.weight", .ne0 = 64, .ne1 = 48, .type = -1 };
    check_variant(dir, &shape, PLUMB_EFORMAT, "tensor 'blk.0.attn_q.weight' has shape [64, 48");
    const Edit experts = { .tensor = "blk.1.ffn_down_exps.weight", .ne0 = 64, .ne1 = 32,
                           .type = -1 };
    check_variant(dir, &experts, PLUMB_EFORMAT, "blk.1.ffn_down_exps.weight");
    const Edit type = { .tensor = "blk.0.attn_v.weight", .type = 9 /* Q8_1 */ };
    check_variant(dir, &type, PLUMB_EUNSUPPORTED, "tensor 'blk.0.attn_v.weight' has type Q8_1");
    const Edit arch = { .key = "general.architecture", .str = "llama", .type = -1 };
    check_variant(dir, &arch, PLUMB_EUNSUPPORTED, "architecture 'llama'");
    const Edit kv = { .key = "qwen3moe.attention.head_count_kv", .u32 = 3, .type = -1 };
    check_variant(dir, &kv, PLUMB_EFORMAT, "head_count_kv");
    const Edit used = { .key = "qwen3moe.expert_used_count", .u32 = 5, .type = -1 };
    check_variant(dir, &used, PLUMB_EFORMAT, "expert_used_count = 5");
    const Edit zero = { .key = "qwen3moe.block_count", .u32 = 0, .type = -1 };
    check_variant(dir, &zero, PLUMB_EFORMAT, "block_count = 0");
    const Edit longrope = { .scaling = "longrope", .type = -1 };
    check_variant(dir, &longrope, PLUMB_EUNSUPPORTED, "'longrope'");
    const Edit yarn = { .scaling = "yarn", .type = -1 };
    check_variant(dir, &yarn, PLUMB_OK, "");
    const Edit linear = { .scaling = "linear", .type = -1 };
    check_variant(dir, &linear, PLUMB_OK, "");
    const Edit tied = { .drop = "output.weight", .type = -1 };
    check_variant(dir, &tied, PLUMB_OK, "");
    /* the block kind decides the tensors: qwen2 needs its biases, and a
     * qwen2 file is not read with another architecture's keys */
    const Edit nobias = { .drop = "blk.1.attn_v.bias", .type = -1 };
    check_variant_of(dir, "qwen2-f16", &nobias, PLUMB_EFORMAT, "missing tensor 'blk.1.attn_v.bias'");
    const Edit relabel = { .key = "general.architecture", .str = "qwen3", .type = -1 };
    check_variant_of(dir, "qwen2-f16", &relabel, PLUMB_EFORMAT, "qwen3.block_count");
    rmdir(dir);
}

/* ------------------------------------------------------------- API checks */

static void check_session_api(void)
{
    char path[4096];
    PlumbModel *m = NULL;
    PlumbSession *s = NULL;
    PlumbSessionParams sp = { .n_ctx = 4, .kv_type = PLUMB_KV_DEFAULT };
    PlumbError err = { 0 };
    int32_t ids[5] = { 1, 2, 3, 4, 5 }, bad = 1024;
    int rc;

    snprintf(path, sizeof path, "%s", test_data("models/mini-f32.gguf"));
    rc = plumb_model_open(&m, path, &tier_params, &err);
    CHECK(rc == PLUMB_OK, "open %s: %s", path, err.msg);
    if (rc < 0)
        return;
    check_rope_of(m, NULL);
    rc = plumb_session_open(&s, m, &sp, &err);
    CHECK(rc == PLUMB_OK && plumb_session_n_ctx(s) == 4, "session of 4 positions: %s", err.msg);
    if (rc < 0)
        goto done;
    rc = plumb_session_eval(s, &bad, 1, 0, &err);
    CHECK(rc == PLUMB_ERANGE && strstr(err.msg, "1024"), "id 1024 of 1024: rc %d '%s'", rc,
          err.msg);
    rc = plumb_session_eval(s, ids, 5, 0, &err);
    CHECK(rc == PLUMB_ERANGE && strstr(err.msg, "context full (4 tokens)"),
          "5 tokens in 4: rc %d '%s'", rc, err.msg);
    CHECK(plumb_session_n_past(s) == 0, "failed evals left %zu positions", plumb_session_n_past(s));
    rc = plumb_session_eval(s, ids, 3, 0, &err);
    CHECK(rc == PLUMB_OK && plumb_session_n_past(s) == 3, "3 tokens: %s", err.msg);
    CHECK(plumb_session_logits(s, 2) != NULL && plumb_session_logits(s, 0) == NULL &&
              plumb_session_logits(s, 3) == NULL,
          "only the last position's logits are kept");
    rc = plumb_session_eval(s, ids, 2, 0, &err);
    CHECK(rc == PLUMB_ERANGE, "2 more tokens in 1 free position: rc %d", rc);
    rc = plumb_session_eval(s, ids, 1, PLUMB_EVAL_ALL_LOGITS, &err);
    CHECK(rc == PLUMB_OK && plumb_session_n_past(s) == 4, "the 4th token: %s", err.msg);
    {
        /* truncate: back to 2 positions, the 3rd token again gives the same logits */
        const size_t V = (size_t)plumb_model_info(m)->n_vocab;
        float *l3 = malloc(V * sizeof *l3);
        CHECK(l3 != NULL, "out of memory");
        if (l3) {
            plumb_session_reset(s);
            rc = plumb_session_eval(s, ids, 3, 0, &err);
            memcpy(l3, plumb_session_logits(s, 2), V * sizeof *l3);
            rc = plumb_session_truncate(s, 5, &err);
            CHECK(rc == PLUMB_ERANGE && plumb_session_n_past(s) == 3,
                  "truncate beyond the history: rc %d, %zu positions", rc, plumb_session_n_past(s));
            rc = plumb_session_eval(s, ids + 3, 1, 0, &err); /* a 4th token, to be forgotten */
            rc = plumb_session_truncate(s, 2, &err);
            CHECK(rc == PLUMB_OK && plumb_session_n_past(s) == 2 &&
                      plumb_session_logits(s, 0) == NULL,
                  "truncate to 2: rc %d, %zu positions", rc, plumb_session_n_past(s));
            rc = plumb_session_eval(s, ids + 2, 1, 0, &err);
            CHECK(rc == PLUMB_OK && plumb_session_n_past(s) == 3 &&
                      memcmp(plumb_session_logits(s, 0), l3, V * sizeof *l3) == 0,
                  "after truncation the 3rd token's logits differ");
            free(l3);
        }
    }
    plumb_session_reset(s);
    CHECK(plumb_session_n_past(s) == 0, "reset");
    {
        /* the cache types: F16 and F32 give close but not identical logits
         * (the F16 rows are really rounded), an unknown type is refused */
        const size_t V = (size_t)plumb_model_info(m)->n_vocab;
        PlumbSession *s2 = NULL;
        PlumbSessionParams p16 = { .n_ctx = 4, .kv_type = PLUMB_KV_F16 }, p32 = { .n_ctx = 4, .kv_type = PLUMB_KV_F32 },
                           pbad = { .n_ctx = 4, .kv_type = (PlumbKVType)7 };
        PlumbKVType kt = PLUMB_KV_DEFAULT;
        plumb_session_close(s);
        s = NULL;
        rc = plumb_session_open(&s, m, &p16, &err);
        CHECK(rc == PLUMB_OK, "session with an F16 cache: %s", err.msg);
        rc = plumb_session_open(&s2, m, &p32, &err);
        CHECK(rc == PLUMB_OK, "session with an F32 cache: %s", err.msg);
        if (s && s2 && plumb_session_eval(s, ids, 4, 0, &err) == PLUMB_OK &&
            plumb_session_eval(s2, ids, 4, 0, &err) == PLUMB_OK) {
            const float *a16 = plumb_session_logits(s, 3), *a32 = plumb_session_logits(s2, 3);
            CHECK(memcmp(a16, a32, V * sizeof *a16) != 0, "F16 and F32 caches gave the same bits");
            CHECK(cosine(a16, a32, V) > 0.99999, "F16 and F32 caches: cosine %.7f", cosine(a16, a32, V));
        } else
            CHECK(0, "evaluation with both cache types: %s", err.msg);
        plumb_session_close(s2);
        s2 = NULL;
        rc = plumb_session_open(&s2, m, &pbad, &err);
        CHECK(rc == PLUMB_EINVAL && s2 == NULL && strstr(err.msg, "cache type"), "cache type 7: rc %d '%s'",
              rc, err.msg);
        CHECK(plumb_kv_type_parse("F16", &kt, &err) == PLUMB_OK && kt == PLUMB_KV_F16, "parse F16");
        CHECK(plumb_kv_type_parse("f32", &kt, &err) == PLUMB_OK && kt == PLUMB_KV_F32, "parse f32");
        CHECK(plumb_kv_type_parse("Q8_0", &kt, &err) == PLUMB_OK && kt == PLUMB_KV_Q8_0, "parse Q8_0");
        CHECK(plumb_kv_type_parse("q4_0", &kt, &err) == PLUMB_OK && kt == PLUMB_KV_Q4_0, "parse q4_0");
        CHECK(plumb_kv_type_parse("q5_0", &kt, &err) == PLUMB_EINVAL && strstr(err.msg, "'q5_0'"),
              "parse q5_0: '%s'", err.msg);
        CHECK(!strcmp(plumb_kv_type_name(PLUMB_KV_DEFAULT), "f16") && !strcmp(plumb_kv_type_name(PLUMB_KV_F32), "f32") &&
                  !strcmp(plumb_kv_type_name(PLUMB_KV_Q4_0), "q4_0"),
              "cache type names");
    }
done:
    plumb_session_close(s);
    plumb_model_close(m);

    /* a file that is not a model of a supported architecture */
    snprintf(path, sizeof path, "%s", test_data("models/qwen3-vocab.gguf"));
    rc = plumb_model_open(&m, path, &tier_params, &err);
    CHECK(rc < 0 && m == NULL, "the vocabulary-only file opened as a model");
    m = NULL;
}

/* The streaming detokeniser on the byte tokens of a three-byte character. */
static void check_detok(void)
{
    PlumbModel *m = NULL;
    PlumbError err = { 0 };
    PlumbDetok d = { { 0 }, 0 };
    char out[64];
    size_t n;
    int32_t e4 = -1, bd = -1, a0 = -1;
    if (plumb_model_open(&m, test_data("models/small-f16.gguf"), &tier_params, &err) < 0) {
        CHECK(0, "open small-f16: %s", err.msg);
        return;
    }
    /* byte-level tokens of the three bytes of U+4F60: E4 BD A0 */
    for (int32_t id = 0; id < plumb_model_info(m)->n_vocab; id++) {
        size_t len;
        const char *b = plumb_token_bytes(m, id, &len);
        if (b && len == 1 && (unsigned char)b[0] == 0xE4)
            e4 = id;
        if (b && len == 1 && (unsigned char)b[0] == 0xBD)
            bd = id;
        if (b && len == 1 && (unsigned char)b[0] == 0xA0)
            a0 = id;
    }
    CHECK(e4 >= 0 && bd >= 0 && a0 >= 0, "single-byte tokens not found");
    if (e4 >= 0 && bd >= 0 && a0 >= 0) {
        n = plumb_detok_push(m, &d, e4, 0, out, sizeof out);
        CHECK(n == 0 && d.n_pending == 1, "first byte of 3 held back (%zu out)", n);
        n = plumb_detok_push(m, &d, bd, 0, out, sizeof out);
        CHECK(n == 0 && d.n_pending == 2, "second byte of 3 held back (%zu out)", n);
        n = plumb_detok_push(m, &d, a0, 0, out, sizeof out);
        CHECK(n == 3 && !memcmp(out, "\xE4\xBD\xA0", 3), "the character completes (%zu out)", n);
        /* a lone continuation byte is invalid: U+FFFD */
        n = plumb_detok_push(m, &d, a0, 0, out, sizeof out);
        CHECK(n == 3 && !memcmp(out, "\xEF\xBF\xBD", 3), "stray continuation byte (%zu out)", n);
        /* an unfinished sequence becomes U+FFFD on flush */
        n = plumb_detok_push(m, &d, e4, 0, out, sizeof out);
        CHECK(n == 0, "held back");
        n = plumb_detok_flush(&d, out, sizeof out);
        CHECK(n == 3 && !memcmp(out, "\xEF\xBF\xBD", 3) && d.n_pending == 0, "flush (%zu out)",
              n);
        /* a broken sequence: U+FFFD, then the ASCII byte that broke it */
        int32_t im_end = plumb_token_lookup(m, "<|im_end|>");
        CHECK(im_end >= 0 && plumb_token_is_special(m, im_end), "<|im_end|> is special");
        n = plumb_detok_push(m, &d, e4, 0, out, sizeof out);
        n = plumb_detok_push(m, &d, im_end, 0, out, sizeof out);
        CHECK(n == 0 && d.n_pending == 1, "hidden special token leaves pending bytes alone");
        n = plumb_detok_push(m, &d, im_end, 1, out, sizeof out);
        CHECK(n == 3 + 10 && !memcmp(out, "\xEF\xBF\xBD<|im_end|>", n),
              "shown special token after a broken sequence (%zu out)", n);
        /* user-defined added tokens are text the model writes: always shown */
        int32_t think = plumb_token_lookup(m, "<think>");
        CHECK(think >= 0 && plumb_token_is_special(m, think), "<think> is an added token");
        n = plumb_detok_push(m, &d, think, 0, out, sizeof out);
        CHECK(n == 7 && !memcmp(out, "<think>", 7), "<think> rendered without show_special (%zu)",
              n);
    }
    plumb_model_close(m);
}

int main(void)
{
    const char *only = getenv("PLUMB_GOLDEN_ONLY"); /* debugging: one model */
    const char *q = getenv("PLUMB_GOLDEN_QUICK");
    const int quick = q && *q && strcmp(q, "0");
    tier_params.cpu = getenv("PLUMB_CPU");
    fprintf(stderr, "%-19s %2s %4s %9s %9s %7s %7s  %s\n", "model", "p", "pos", "min cos",
            "median", ">=.99", "top-1", "greedy");
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        char rel[128], path[4096];
        PlumbModel *m = NULL;
        PlumbError err = { 0 };
        if (only && *only && strcmp(only, models[i].name))
            continue;
        /* quick: the F16 cache on the models that also keep p3 (one float,
         * one quantised); the others' F16 rows add little on a slow run */
        if (quick && models[i].kv == PLUMB_KV_F16 && !models[i].long_in_quick)
            continue;
        snprintf(rel, sizeof rel, "models/%s.gguf", gold_name(&models[i]));
        snprintf(path, sizeof path, "%s", test_data(rel));
        const int made = models[i].repack_of || models[i].bf16_of;
        if (made) {
            char out[4096];
            const char *tmp = getenv("TMPDIR");
            snprintf(out, sizeof out, "%s/plumb-golden-%ld-%s.gguf", tmp && *tmp ? tmp : "/tmp",
                     (long)getpid(), models[i].name);
            if (models[i].bf16_of) {
                snprintf(rel, sizeof rel, "models/%s.gguf", models[i].bf16_of);
                snprintf(path, sizeof path, "%s", test_data(rel));
                if (make_bf16(path, out, test_data("golden/small-BF16.tensors.crc32")) < 0) {
                    unlink(out);
                    continue;
                }
            } else if (plumb_repack_file(path, out, PLUMB_GGUF_WRITE_FORCE, NULL, NULL, NULL, NULL,
                                         &err) < 0) {
                CHECK(0, "repack %s: %s", path, err.msg);
                continue;
            }
            snprintf(path, sizeof path, "%s", out);
        }
        if (plumb_model_open(&m, path, &tier_params, &err) < 0) {
            CHECK(0, "open %s: %s", path, err.msg);
            if (made)
                unlink(path);
            continue;
        }
        if (made)
            unlink(path); /* the mapping stays valid */
        for (int p = 1; p <= 3; p++)
            if (p < 3 || !quick || models[i].long_in_quick)
                run_prompt(&models[i], m, p);
        plumb_model_close(m);
    }
    check_session_api();
    check_broken_models();
    check_detok();
    return test_done("test_golden");
}
