/*
 * test_sampler.c — the sampler without a model: greedy choice and ties,
 * temperatures too small to divide by, reproducible seeded draws, draw
 * frequencies against the softmax they come from (chi-square at a fixed
 * seed, so deterministic), the exact sets top-k, top-p and min-p keep, the
 * three penalties and their window, history reset, and the full
 * 151,936-token vocabulary.
 */
#include "config.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sampler.h"
#include "testlib.h"

#define QWEN_VOCAB 151936

/* Parameters with every filter and penalty off, temperature 1. */
static PlumbSamplerParams plain(uint64_t seed)
{
    PlumbSamplerParams p;
    plumb_sampler_params_default(&p);
    p.temperature = 1.0f;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    p.presence_penalty = 0.0f;
    p.frequency_penalty = 0.0f;
    p.repeat_penalty = 1.0f;
    p.penalty_last_n = -1;
    p.seed = seed;
    return p;
}

static void open_sampler(PlumbSampler *s, int32_t n_vocab, const PlumbSamplerParams *p)
{
    PlumbError err = { 0 };
    int rc = plumb_sampler_init(s, n_vocab, p, &err);
    CHECK(rc == PLUMB_OK, "init(%d): %d %s", (int)n_vocab, rc, err.msg);
    if (rc != PLUMB_OK)
        exit(test_done("test_sampler"));
}

/* Deterministic test data: a small LCG, uniform in [0, 1). */
static uint64_t lcg_state = 12345;
static double lcg(void)
{
    lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
    return (double)(lcg_state >> 11) / 9007199254740992.0;
}

/* Draw n tokens; counts[] (n_vocab) gets the histogram. */
static void draw_many(PlumbSampler *s, const float *logits, int n, unsigned *counts)
{
    int i;
    memset(counts, 0, (size_t)s->n_vocab * sizeof *counts);
    for (i = 0; i < n; i++) {
        int32_t id = plumb_sampler_sample(s, logits);
        if (id >= 0 && id < s->n_vocab)
            counts[id]++;
    }
}

/* Pearson chi-square of counts against probabilities (zero-probability
 * tokens must not appear at all: they count as a huge deviation). */
static double chi_square(const unsigned *counts, const double *prob, int k, int n)
{
    double chi = 0.0;
    int i;
    for (i = 0; i < k; i++) {
        double e = prob[i] * n;
        if (e == 0.0)
            chi += counts[i] ? 1e9 : 0.0;
        else
            chi += (counts[i] - e) * (counts[i] - e) / e;
    }
    return chi;
}

static void test_defaults(void)
{
    PlumbSamplerParams p;
    PlumbSampler s;
    PlumbError err = { 0 };
    plumb_sampler_params_default(&p);
    CHECK(fabsf(p.temperature - 0.6f) < 1e-6f, "temperature %g", p.temperature);
    CHECK(fabsf(p.top_p - 0.95f) < 1e-6f, "top_p %g", p.top_p);
    CHECK(p.top_k == 0 && p.min_p == 0.0f, "top_k %d min_p %g", p.top_k, p.min_p);
    CHECK(p.presence_penalty == 0.0f && p.frequency_penalty == 0.0f &&
              p.repeat_penalty == 1.0f && p.penalty_last_n == -1,
          "penalties %g %g %g %d", p.presence_penalty, p.frequency_penalty,
          p.repeat_penalty, p.penalty_last_n);
    CHECK(p.seed == 0xC0FFEEu, "seed %llu", (unsigned long long)p.seed);

    CHECK(plumb_sampler_init(&s, 0, &p, &err) == PLUMB_EINVAL, "n_vocab 0 accepted");
    CHECK(strstr(err.msg, "n_vocab") != NULL, "message '%s'", err.msg);
    plumb_sampler_free(&s); /* safe after a failed init */
    CHECK(plumb_sampler_init(&s, 8, NULL, &err) == PLUMB_OK, "NULL params: %s", err.msg);
    CHECK(s.p.seed == 0xC0FFEEu && s.p.top_p == p.top_p, "NULL params are not the defaults");
    plumb_sampler_free(&s);
}

static void test_greedy(void)
{
    PlumbSampler s;
    PlumbSamplerParams p = plain(1);
    float l[6] = { 0.1f, 3.0f, 2.0f, 3.0f, -INFINITY, 2.5f };
    float nan_first[3] = { NAN, -1.0f, 4.0f };
    float all_inf[3] = { -INFINITY, -INFINITY, -INFINITY };
    p.temperature = 0.0f;
    open_sampler(&s, 6, &p);
    CHECK(plumb_sampler_sample(&s, l) == 1, "greedy on a tie must pick the lowest id");
    p.temperature = -1.0f;
    plumb_sampler_set(&s, &p);
    CHECK(plumb_sampler_sample(&s, l) == 1, "negative temperature is greedy too");
    l[5] = 3.5f;
    CHECK(plumb_sampler_sample(&s, l) == 5, "greedy must pick the argmax");
    plumb_sampler_free(&s);

    p = plain(1);
    p.temperature = 0.0f;
    open_sampler(&s, 3, &p);
    CHECK(plumb_sampler_sample(&s, nan_first) == 2, "NaN logit must not win");
    CHECK(plumb_sampler_sample(&s, all_inf) == 0, "all -inf: lowest id");
    p.temperature = 1.0f;
    plumb_sampler_set(&s, &p);
    CHECK(plumb_sampler_sample(&s, nan_first) != 0, "NaN logit drawn");
    CHECK(plumb_sampler_sample(&s, all_inf) == 0, "all -inf: lowest id when sampling");
    plumb_sampler_free(&s);
}

/* Tiny temperatures are greedy: the most likely token, not the first one
 * whose logit divided by the temperature overflows to +inf (id 1 here, the
 * lowest id with a positive logit, is not the best). */
static void test_tiny_temperature(void)
{
    static const float temps[] = { 0.0f, 1e-45f, 1e-40f, 1e-38f, 1e-30f, 1e-6f, 9e-6f };
    const float l[6] = { -2.0f, 5.0f, 20.0f, 9.0f, 1.0f, -30.0f };
    for (size_t i = 0; i < sizeof temps / sizeof temps[0]; i++) {
        for (int variant = 0; variant < 3; variant++) {
            PlumbSamplerParams p = plain(7);
            PlumbSampler s;
            int32_t id;
            if (variant == 1) {
                plumb_sampler_params_default(&p); /* top-p 0.95 */
            } else if (variant == 2) {
                p.repeat_penalty = 1.1f; /* the penalised path; id 4 was seen */
                p.top_k = 3;
            }
            p.temperature = temps[i];
            open_sampler(&s, 6, &p);
            if (variant == 2)
                plumb_sampler_accept(&s, 4);
            id = plumb_sampler_sample(&s, l);
            CHECK(id == 2, "temperature %g, variant %d: token %d, not the most likely 2",
                  (double)temps[i], variant, (int)id);
            plumb_sampler_free(&s);
        }
    }
    /* a logit so large that dividing it by a valid temperature overflows:
     * still the best one */
    {
        const float big[4] = { 1.0f, 3e34f, 3.3e34f, 2e34f };
        PlumbSamplerParams p = plain(7);
        PlumbSampler s;
        p.temperature = 1e-5f;
        open_sampler(&s, 4, &p);
        CHECK(plumb_sampler_sample(&s, big) == 2, "overflowing logits: not the best");
        plumb_sampler_free(&s);
    }
}

static void test_top_k_one(void)
{
    enum { N = 1000 };
    static float l[N];
    PlumbSampler s;
    PlumbSamplerParams p = plain(7);
    int trial, i;
    p.top_k = 1;
    open_sampler(&s, N, &p);
    for (trial = 0; trial < 40; trial++) {
        int best = 0;
        for (i = 0; i < N; i++) {
            l[i] = (float)(lcg() * 8.0 - 4.0);
            if (l[i] > l[best])
                best = i;
        }
        if (trial % 4 == 0)
            l[N - 1] = l[best]; /* a tie the lower id must win */
        p.temperature = (float)(0.3 + trial * 0.25);
        plumb_sampler_set(&s, &p);
        CHECK(plumb_sampler_sample(&s, l) == best, "top-k 1 at temperature %g", p.temperature);
    }
    plumb_sampler_free(&s);
}

static void test_seed(void)
{
    enum { V = 50, DRAWS = 1000 };
    float l[V];
    int32_t a[DRAWS], b[DRAWS];
    PlumbSampler s;
    PlumbSamplerParams p = plain(42);
    int i, same = 1, differ = 0;
    for (i = 0; i < V; i++)
        l[i] = (float)(lcg() * 3.0);
    open_sampler(&s, V, &p);
    for (i = 0; i < DRAWS; i++)
        a[i] = plumb_sampler_sample(&s, l);
    plumb_sampler_free(&s);

    open_sampler(&s, V, &p);
    for (i = 0; i < DRAWS; i++)
        same &= plumb_sampler_sample(&s, l) == a[i];
    CHECK(same, "same seed, different draws");
    /* set() reseeds */
    plumb_sampler_set(&s, &p);
    for (same = 1, i = 0; i < DRAWS; i++)
        same &= plumb_sampler_sample(&s, l) == a[i];
    CHECK(same, "plumb_sampler_set did not reseed");
    p.seed = 43;
    plumb_sampler_set(&s, &p);
    for (i = 0; i < DRAWS; i++) {
        b[i] = plumb_sampler_sample(&s, l);
        differ += b[i] != a[i];
    }
    /* 50 roughly equal tokens: two independent streams agree ~1/20 of the time */
    CHECK(differ > DRAWS / 2, "seeds 42 and 43 agree on %d of %d draws", DRAWS - differ, DRAWS);
    plumb_sampler_free(&s);
}

static void test_distribution(void)
{
    enum { V = 4, DRAWS = 20000 };
    const double prob[V] = { 0.1, 0.2, 0.3, 0.4 };
    double sq[V], z = 0, topk2[V] = { 0, 0, 3.0 / 7, 4.0 / 7 };
    float l[V];
    unsigned counts[V];
    PlumbSampler s;
    PlumbSamplerParams p = plain(2024);
    double chi;
    int i;
    for (i = 0; i < V; i++) {
        l[i] = (float)log(prob[i]) + 1.5f; /* shift: softmax ignores it */
        sq[i] = prob[i] * prob[i];
        z += sq[i];
    }
    for (i = 0; i < V; i++)
        sq[i] /= z;
    /* 3 degrees of freedom: P(chi2 > 16.27) = 0.001 */
    open_sampler(&s, V, &p);
    draw_many(&s, l, DRAWS, counts);
    chi = chi_square(counts, prob, V, DRAWS);
    CHECK(chi < 16.27, "T=1: chi-square %g (counts %u %u %u %u)", chi, counts[0], counts[1],
          counts[2], counts[3]);

    p.temperature = 0.5f; /* p^(1/T) = p^2 */
    plumb_sampler_set(&s, &p);
    draw_many(&s, l, DRAWS, counts);
    chi = chi_square(counts, sq, V, DRAWS);
    CHECK(chi < 16.27, "T=0.5: chi-square %g", chi);
    /* and the statistic can tell the two apart */
    chi = chi_square(counts, prob, V, DRAWS);
    CHECK(chi > 1000, "T=0.5 draws look like T=1 (chi-square %g)", chi);

    p.temperature = 1.0f;
    p.top_k = 2;
    plumb_sampler_set(&s, &p);
    draw_many(&s, l, DRAWS, counts);
    chi = chi_square(counts, topk2, V, DRAWS);
    CHECK(chi < 16.27, "top-k 2: chi-square %g (counts %u %u %u %u)", chi, counts[0],
          counts[1], counts[2], counts[3]);
    plumb_sampler_free(&s);
}

/* Draw DRAWS tokens and compare the set drawn with the mask of expected ids;
 * with expected probabilities (renormalised inside the set) also check the
 * frequencies. */
static void check_set(PlumbSampler *s, const float *l, const char *mask, const char *what)
{
    enum { DRAWS = 4000 };
    unsigned counts[8];
    int i, ok = 1;
    draw_many(s, l, DRAWS, counts);
    for (i = 0; i < s->n_vocab; i++)
        ok &= (counts[i] > 0) == (mask[i] == '1');
    CHECK(ok, "%s: want set %s, drawn %u %u %u %u", what, mask, counts[0], counts[1],
          counts[2], counts[3]);
}

static void test_top_p(void)
{
    /* probabilities 0.05 0.5 0.15 0.3: sorted ids 1, 3, 2, 0 */
    const double prob[4] = { 0.05, 0.5, 0.15, 0.3 };
    double want[4];
    float l[4];
    unsigned counts[4];
    PlumbSampler s;
    PlumbSamplerParams p = plain(99);
    int i;
    for (i = 0; i < 4; i++)
        l[i] = (float)log(prob[i]);
    open_sampler(&s, 4, &p);

    p.top_p = 0.0f; /* at least one token is kept */
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "0100", "top-p 0");
    p.top_p = 0.45f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "0100", "top-p 0.45");
    p.top_p = 0.75f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "0101", "top-p 0.75");
    p.top_p = 0.84f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "0111", "top-p 0.84");
    p.top_p = 0.99f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "1111", "top-p 0.99");

    /* inside the nucleus, probabilities renormalised: 0.5/0.8, 0.3/0.8 */
    p.top_p = 0.75f;
    plumb_sampler_set(&s, &p);
    draw_many(&s, l, 20000, counts);
    want[0] = 0, want[1] = 0.625, want[2] = 0, want[3] = 0.375;
    CHECK(chi_square(counts, want, 4, 20000) < 10.83, "top-p 0.75 frequencies %u %u",
          counts[1], counts[3]);

    /* after top-k 3 the probabilities are renormalised over ids 1, 3, 2
     * (0.526, 0.842 cumulative), so 0.84 now stops at two tokens */
    p.top_k = 3;
    p.top_p = 0.84f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "0101", "top-k 3 + top-p 0.84");
    p.top_p = 0.85f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "0111", "top-k 3 + top-p 0.85");
    plumb_sampler_free(&s);
}

/* 64 tokens, geometric probabilities in shuffled order: the nucleus is
 * found by partitioning (more than 16 candidates), and must be exact. */
static void test_top_p_medium(void)
{
    enum { V = 64, DRAWS = 20000 };
    float l[V];
    int rank_of[V], i, r, k, ok, trial;
    unsigned counts[V];
    PlumbSampler s;
    PlumbSamplerParams p = plain(77);
    static const float tops[4] = { 0.0f, 0.5f, 0.8f, 0.93f };
    for (i = 0; i < V; i++)
        rank_of[i] = i;
    for (i = V - 1; i > 0; i--) { /* shuffle */
        int j = (int)(lcg() * (i + 1)), t = rank_of[i];
        rank_of[i] = rank_of[j];
        rank_of[j] = t;
    }
    for (i = 0; i < V; i++)
        l[i] = -0.05f * (float)rank_of[i];
    open_sampler(&s, V, &p);
    for (trial = 0; trial < 8; trial++) {
        double z = 0, cum = 0;
        int n_keep = V;
        p.top_p = tops[trial % 4];
        p.top_k = trial < 4 ? 0 : 50; /* then renormalised over the best 50 */
        k = p.top_k ? p.top_k : V;
        for (r = 0; r < k; r++)
            z += exp(-0.05 * r);
        for (r = 0; r < k; r++) {
            cum += exp(-0.05 * r);
            if (cum >= p.top_p * z) {
                n_keep = r + 1;
                break;
            }
        }
        plumb_sampler_set(&s, &p);
        memset(counts, 0, sizeof counts);
        for (i = 0; i < DRAWS; i++) {
            int32_t id = plumb_sampler_sample(&s, l);
            if (id >= 0 && id < V)
                counts[id]++;
        }
        for (ok = 1, i = 0; i < V; i++)
            ok &= (counts[i] > 0) == (rank_of[i] < n_keep);
        CHECK(ok, "top-k %d top-p %g: drawn set is not the %d best", p.top_k, p.top_p,
              n_keep);
    }
    plumb_sampler_free(&s);
}

static void test_min_p(void)
{
    const double prob[4] = { 0.5, 0.3, 0.15, 0.05 };
    float l[4];
    PlumbSampler s;
    PlumbSamplerParams p = plain(5);
    int i;
    for (i = 0; i < 4; i++)
        l[i] = (float)log(prob[i]);
    open_sampler(&s, 4, &p);
    p.min_p = 0.25f; /* keep p >= 0.125 */
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "1110", "min-p 0.25");
    p.min_p = 0.35f; /* keep p >= 0.175 */
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "1100", "min-p 0.35");
    p.min_p = 0.05f; /* 0.05 >= 0.025 */
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "1111", "min-p 0.05");
    /* temperature first: at T=0.5 the ratios square (0.36, 0.09, 0.01) */
    p.min_p = 0.25f;
    p.temperature = 0.5f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "1100", "min-p 0.25 at T=0.5");
    /* with top-p: the shorter of the two prefixes */
    p.temperature = 1.0f;
    p.min_p = 0.25f;
    p.top_p = 0.7f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "1100", "min-p 0.25 + top-p 0.7");
    p.top_k = 3;
    p.top_p = 0.99f;
    p.min_p = 0.35f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "1100", "min-p 0.35 + top-k 3 + top-p 0.99");
    p.min_p = 0.25f;
    plumb_sampler_set(&s, &p);
    check_set(&s, l, "1110", "min-p 0.25 + top-k 3 + top-p 0.99");
    plumb_sampler_free(&s);
}

/* Greedy pick after accepting the ids in hist[0..n). */
static int32_t greedy_after(const float *l, int v, PlumbSamplerParams p, const int32_t *hist,
                            int n)
{
    PlumbSampler s;
    int32_t id;
    int i;
    p.temperature = 0.0f;
    open_sampler(&s, v, &p);
    for (i = 0; i < n; i++)
        CHECK(plumb_sampler_accept(&s, hist[i]) == PLUMB_OK, "accept %d", (int)hist[i]);
    id = plumb_sampler_sample(&s, l);
    plumb_sampler_free(&s);
    return id;
}

static void test_penalties(void)
{
    const float pos[2] = { 2.0f, 1.9f }, neg[2] = { -1.0f, -1.05f };
    const float one[2] = { 1.0f, 0.5f }, mix[2] = { 2.0f, 0.7f };
    const float win[3] = { 1.0f, 0.5f, 0.0f };
    const int32_t h0[1] = { 0 }, h00[2] = { 0, 0 }, h22[2] = { 2, 2 };
    const int32_t h022[3] = { 0, 2, 2 };
    float copy[2];
    PlumbSamplerParams p = plain(1);
    PlumbSampler s;

    /* repetition: positive logits divided (2/1.1 = 1.82 < 1.9) ... */
    p.repeat_penalty = 1.1f;
    CHECK(greedy_after(pos, 2, p, h0, 1) == 1, "repeat 1.1 on a positive logit");
    p.repeat_penalty = 1.04f; /* 1.923 > 1.9 */
    CHECK(greedy_after(pos, 2, p, h0, 1) == 0, "repeat 1.04 on a positive logit");
    /* ... negative ones multiplied (-1.1 < -1.05; dividing would raise it) */
    p.repeat_penalty = 1.1f;
    CHECK(greedy_after(neg, 2, p, h0, 1) == 1, "repeat 1.1 on a negative logit");
    p.repeat_penalty = 1.04f; /* -1.04 > -1.05 */
    CHECK(greedy_after(neg, 2, p, h0, 1) == 0, "repeat 1.04 on a negative logit");
    CHECK(greedy_after(pos, 2, p, NULL, 0) == 0, "penalty without history");

    /* presence: once per seen token, however often */
    p = plain(1);
    p.presence_penalty = 0.6f; /* 0.4 < 0.5 */
    CHECK(greedy_after(one, 2, p, h00, 2) == 1, "presence 0.6");
    p.presence_penalty = 0.4f; /* 0.6 > 0.5, would be 0.2 if counted twice */
    CHECK(greedy_after(one, 2, p, h00, 2) == 0, "presence 0.4 counted more than once");
    p.presence_penalty = -1.5f; /* negative values encourage: 1.5 > 1 */
    CHECK(greedy_after(win, 3, p, h22, 2) == 2, "negative presence penalty");

    /* frequency: per occurrence */
    p = plain(1);
    p.frequency_penalty = 0.3f; /* 1 - 2*0.3 = 0.4 < 0.5 */
    CHECK(greedy_after(one, 2, p, h00, 2) == 1, "frequency 0.3, two occurrences");
    CHECK(greedy_after(one, 2, p, h0, 1) == 0, "frequency 0.3, one occurrence");
    p.frequency_penalty = 0.2f; /* 0.6 > 0.5 */
    CHECK(greedy_after(one, 2, p, h00, 2) == 0, "frequency 0.2, two occurrences");

    /* repetition before subtraction: 2/2 - 0.5 = 0.5 < 0.7 (the other order
     * would give (2 - 0.5)/2 = 0.75) */
    p = plain(1);
    p.repeat_penalty = 2.0f;
    p.presence_penalty = 0.5f;
    CHECK(greedy_after(mix, 2, p, h0, 1) == 1, "repeat penalty must come before presence");

    /* window: accepted 0, 2, 2 — with the last 2 only, token 0 is free */
    p = plain(1);
    p.presence_penalty = 0.6f;
    p.penalty_last_n = 2;
    CHECK(greedy_after(win, 3, p, h022, 3) == 0, "window 2 still penalises token 0");
    p.penalty_last_n = 3;
    CHECK(greedy_after(win, 3, p, h022, 3) == 1, "window 3 misses token 0");
    p.penalty_last_n = -1;
    CHECK(greedy_after(win, 3, p, h022, 3) == 1, "window -1 misses token 0");
    p.penalty_last_n = 0;
    CHECK(greedy_after(win, 3, p, h022, 3) == 0, "window 0 must turn the penalties off");

    /* set() with another window recounts the kept history; reset() clears */
    p.penalty_last_n = 3;
    p.temperature = 0.0f;
    open_sampler(&s, 3, &p);
    plumb_sampler_accept(&s, 0);
    plumb_sampler_accept(&s, 2);
    plumb_sampler_accept(&s, 2);
    CHECK(plumb_sampler_sample(&s, win) == 1, "before set");
    p.penalty_last_n = 2;
    plumb_sampler_set(&s, &p);
    CHECK(plumb_sampler_sample(&s, win) == 0, "window not recounted by set");
    p.penalty_last_n = -1;
    plumb_sampler_set(&s, &p);
    CHECK(plumb_sampler_sample(&s, win) == 1, "window -1 after set");
    plumb_sampler_reset(&s);
    CHECK(s.n_hist == 0, "reset kept %zu tokens", s.n_hist);
    CHECK(plumb_sampler_sample(&s, win) == 0, "reset did not clear the penalties");
    plumb_sampler_accept(&s, 0);
    CHECK(plumb_sampler_sample(&s, win) == 1, "penalties after reset");
    CHECK(plumb_sampler_accept(&s, 3) == PLUMB_ERANGE, "accepted id 3 of 3");
    CHECK(plumb_sampler_accept(&s, -1) == PLUMB_ERANGE, "accepted id -1");
    plumb_sampler_free(&s);

    /* the caller's logits are left alone */
    p = plain(1);
    p.repeat_penalty = 3.0f;
    p.presence_penalty = 1.0f;
    p.temperature = 0.7f;
    open_sampler(&s, 2, &p);
    plumb_sampler_accept(&s, 0);
    memcpy(copy, pos, sizeof copy);
    plumb_sampler_sample(&s, copy);
    CHECK(copy[0] == pos[0] && copy[1] == pos[1], "logits modified");
    plumb_sampler_free(&s);

    /* many accepted tokens (history grows) */
    p = plain(1);
    p.frequency_penalty = 0.001f;
    p.temperature = 0.0f;
    open_sampler(&s, 2, &p);
    {
        int i, ok = 1;
        for (i = 0; i < 1000; i++)
            ok &= plumb_sampler_accept(&s, 0) == PLUMB_OK;
        CHECK(ok && s.n_hist == 1000, "history of 1000: %zu", s.n_hist);
        CHECK(plumb_sampler_sample(&s, one) == 1, "1 - 1000*0.001 = 0 < 0.5");
    }
    plumb_sampler_free(&s);
}

static int cmp_desc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static void test_big_vocab(void)
{
    float *l = malloc(QWEN_VOCAB * sizeof *l), *sorted = malloc(QWEN_VOCAB * sizeof *l);
    PlumbSamplerParams p = plain(31337);
    PlumbSampler s;
    int i, best = 0, ok, n_nucleus;
    double z, cum;
    float m, k40, nucleus_last;
    unsigned max_id;
    if (!l || !sorted) {
        CHECK(0, "out of memory");
        return;
    }
    for (i = 0; i < QWEN_VOCAB; i++) {
        /* roughly normal logits, sd ~3 */
        l[i] = (float)((lcg() + lcg() + lcg() + lcg() - 2.0) * 5.0);
        if (l[i] > l[best])
            best = i;
    }
    memcpy(sorted, l, QWEN_VOCAB * sizeof *l);
    qsort(sorted, QWEN_VOCAB, sizeof *sorted, cmp_desc);
    k40 = sorted[39];

    p.temperature = 0.0f;
    open_sampler(&s, QWEN_VOCAB, &p);
    CHECK(plumb_sampler_sample(&s, l) == best, "greedy on the full vocabulary");

    p.temperature = 1.0f;
    p.top_k = 40;
    plumb_sampler_set(&s, &p);
    for (ok = 1, i = 0; i < 100; i++) {
        int32_t id = plumb_sampler_sample(&s, l);
        ok &= id >= 0 && id < QWEN_VOCAB && l[id] >= k40;
    }
    CHECK(ok, "top-k 40 drew outside the best 40");

    /* top-p alone: compute the nucleus here the way the definition says */
    p.top_k = 0;
    p.top_p = 0.9f;
    p.temperature = 0.8f;
    plumb_sampler_set(&s, &p);
    m = sorted[0] * (1.0f / p.temperature);
    for (z = 0, i = 0; i < QWEN_VOCAB; i++)
        z += exp((double)(l[i] * (1.0f / p.temperature) - m));
    for (cum = 0, i = 0; i < QWEN_VOCAB; i++) {
        cum += exp((double)(sorted[i] * (1.0f / p.temperature) - m));
        if (cum >= 0.9 * z)
            break;
    }
    n_nucleus = i + 1;
    nucleus_last = sorted[i];
    CHECK(n_nucleus > 50 && n_nucleus < QWEN_VOCAB / 2, "test data: nucleus of %d", n_nucleus);
    for (ok = 1, i = 0; i < 100; i++) {
        int32_t id = plumb_sampler_sample(&s, l);
        ok &= id >= 0 && id < QWEN_VOCAB && l[id] >= nucleus_last;
    }
    CHECK(ok, "top-p 0.9 drew outside the nucleus of %d", n_nucleus);

    /* everything together */
    p.top_k = 40;
    p.min_p = 0.05f;
    p.repeat_penalty = 1.3f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.1f;
    plumb_sampler_set(&s, &p);
    for (ok = 1, i = 0; i < 100; i++) {
        int32_t id = plumb_sampler_sample(&s, l);
        ok &= id >= 0 && id < QWEN_VOCAB && plumb_sampler_accept(&s, id) == PLUMB_OK;
    }
    CHECK(ok, "all filters: bad id or accept failure");

    /* uniform logits: ties are ordered by id, so the top-p 0.5 nucleus is
     * exactly ids [0, 75968) (and the probability floor must be lowered) */
    for (i = 0; i < QWEN_VOCAB; i++)
        l[i] = 0.25f;
    p = plain(8);
    p.top_p = 0.5f;
    plumb_sampler_set(&s, &p);
    plumb_sampler_reset(&s);
    for (max_id = 0, ok = 1, i = 0; i < 300; i++) {
        int32_t id = plumb_sampler_sample(&s, l);
        ok &= id >= 0 && id < QWEN_VOCAB / 2;
        if (id >= 0 && (unsigned)id > max_id)
            max_id = (unsigned)id;
    }
    CHECK(ok, "uniform top-p 0.5 drew an id >= %d", QWEN_VOCAB / 2);
    CHECK(max_id > 70000, "uniform top-p 0.5 never reached high ids (max %u)", max_id);
    plumb_sampler_free(&s);
    free(l);
    free(sorted);
}

int main(void)
{
    test_defaults();
    test_greedy();
    test_tiny_temperature();
    test_top_k_one();
    test_seed();
    test_distribution();
    test_top_p();
    test_top_p_medium();
    test_min_p();
    test_penalties();
    test_big_vocab();
    return test_done("test_sampler");
}
