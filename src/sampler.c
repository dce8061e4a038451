/*
 * sampler.c — choosing the next token from logits (see sampler.h).
 *
 * One call of plumb_sampler_sample() works on a private copy of the logits
 * in s->work: NaN becomes -inf, the penalties are applied, and (when
 * sampling) the values are divided by the temperature.  From there on a
 * candidate is a token id in s->idx and its weight is exp(work[id] - max):
 * probabilities are never stored, only recomputed for the candidates that
 * need them.  Greedy without penalties reads the caller's logits directly.
 *
 * Candidates are ordered by value, highest first, and by id, lowest first,
 * on equal values: a strict total order, so every filter and every draw is
 * deterministic for given logits, parameters and seed.  Nothing sorts the
 * vocabulary:
 *
 *   top-k   quickselect of the k best (probabilities renormalised over them);
 *   top-p   the smallest prefix, in the order, whose probability reaches p,
 *           found by a quickselect on the mass (nucleus()).  Without top-k,
 *           the tokens above a probability floor of 1e-4 are gathered first;
 *           when they hold at least p the nucleus lies among them, otherwise
 *           all tokens are candidates;
 *   min-p   a cut in logit space, value >= max + ln(min_p).  It keeps a
 *           prefix too, so applied with top-p the result is the shorter of
 *           the two, whatever their order.
 *
 * Temperature comes before top-p and min-p (sampler.h): both see the
 * tempered distribution.  The draw walks the final candidates in whatever
 * order they were left, which is fixed by the inputs.
 *
 * Penalties see the tokens accepted since the last reset; count[] holds the
 * occurrences of each id inside the window of the last penalty_last_n of them
 * (all of them for -1, none for 0).  hist keeps every accepted token, so the
 * window can be changed by plumb_sampler_set().
 *
 * The RNG is xoshiro256** seeded through splitmix64 from p.seed; each
 * sampling (non-greedy) call uses exactly one 64-bit draw.
 */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "sampler.h"

void plumb_sampler_params_default(PlumbSamplerParams *p)
{
    /* The settings the Tongyi DeepResearch model card recommends; the seed is
     * fixed so that runs are reproducible unless the caller picks another. */
    p->temperature = 0.6f;
    p->top_k = 0;
    p->top_p = 0.95f;
    p->min_p = 0.0f;
    p->presence_penalty = 0.0f;
    p->frequency_penalty = 0.0f;
    p->repeat_penalty = 1.0f;
    p->penalty_last_n = -1;
    p->seed = 0xC0FFEEu;
}

/* ------------------------------------------------------------------ RNG */
static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t xoshiro_next(uint64_t s[4])
{
    uint64_t r = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return r;
}

/* Uniform double in [0, 1). */
static double rng_uniform(uint64_t s[4])
{
    return (double)(xoshiro_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

/* ------------------------------------------------------------ lifecycle */
static int penalties_on(const PlumbSamplerParams *p)
{
    return p->penalty_last_n != 0 &&
           (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f ||
            p->frequency_penalty != 0.0f);
}

/* First index of hist inside the penalty window. */
static size_t window_start(const PlumbSampler *s)
{
    if (s->p.penalty_last_n < 0)
        return 0;
    if ((size_t)s->p.penalty_last_n >= s->n_hist)
        return 0;
    return s->n_hist - (size_t)s->p.penalty_last_n;
}

static void recount(PlumbSampler *s)
{
    size_t i;
    memset(s->count, 0, (size_t)s->n_vocab * sizeof *s->count);
    for (i = window_start(s); i < s->n_hist; i++)
        s->count[s->hist[i]]++;
}

int plumb_sampler_init(PlumbSampler *s, int32_t n_vocab, const PlumbSamplerParams *p,
                       PlumbError *err)
{
    PlumbSamplerParams def;
    memset(s, 0, sizeof *s);
    if (n_vocab <= 0)
        return plumb_err(err, PLUMB_EINVAL, "sampler: n_vocab %d is not positive",
                         (int)n_vocab);
    s->n_vocab = n_vocab;
    s->work = malloc((size_t)n_vocab * sizeof *s->work);
    s->idx = malloc((size_t)n_vocab * sizeof *s->idx);
    s->count = calloc((size_t)n_vocab, sizeof *s->count);
    s->cap_hist = 256;
    s->hist = malloc(s->cap_hist * sizeof *s->hist);
    if (!s->work || !s->idx || !s->count || !s->hist) {
        plumb_err(err, PLUMB_ENOMEM, "sampler: out of memory for %d-token vocabulary",
                  (int)n_vocab);
        goto fail;
    }
    if (!p) {
        plumb_sampler_params_default(&def);
        p = &def;
    }
    plumb_sampler_set(s, p);
    return PLUMB_OK;
fail:
    plumb_sampler_free(s);
    return PLUMB_ENOMEM;
}

int plumb_sampler_copy(PlumbSampler *dst, const PlumbSampler *src, PlumbError *err)
{
    int rc = plumb_sampler_init(dst, src->n_vocab, &src->p, err);
    if (rc < 0)
        return rc;
    if (src->n_hist > dst->cap_hist) {
        int32_t *h = realloc(dst->hist, src->n_hist * sizeof *h);
        if (!h) {
            plumb_sampler_free(dst);
            return plumb_err(err, PLUMB_ENOMEM, "sampler: out of memory for %zu tokens", src->n_hist);
        }
        dst->hist = h;
        dst->cap_hist = src->n_hist;
    }
    memcpy(dst->rng, src->rng, sizeof dst->rng);
    memcpy(dst->hist, src->hist, src->n_hist * sizeof *dst->hist);
    dst->n_hist = src->n_hist;
    memcpy(dst->count, src->count, (size_t)src->n_vocab * sizeof *dst->count);
    return PLUMB_OK;
}

void plumb_sampler_free(PlumbSampler *s)
{
    if (!s)
        return;
    free(s->work);
    free(s->idx);
    free(s->count);
    free(s->hist);
    memset(s, 0, sizeof *s);
}

void plumb_sampler_set(PlumbSampler *s, const PlumbSamplerParams *p)
{
    uint64_t x = p->seed;
    int i;
    s->p = *p;
    for (i = 0; i < 4; i++)
        s->rng[i] = splitmix64(&x);
    recount(s);
}

void plumb_sampler_reset(PlumbSampler *s)
{
    size_t i;
    for (i = window_start(s); i < s->n_hist; i++)
        s->count[s->hist[i]] = 0;
    s->n_hist = 0;
}

int plumb_sampler_accept(PlumbSampler *s, int32_t id)
{
    if (id < 0 || id >= s->n_vocab)
        return PLUMB_ERANGE;
    if (s->n_hist == s->cap_hist) {
        size_t cap = s->cap_hist * 2;
        int32_t *h = realloc(s->hist, cap * sizeof *h);
        if (!h)
            return PLUMB_ENOMEM;
        s->hist = h;
        s->cap_hist = cap;
    }
    s->hist[s->n_hist++] = id;
    if (s->p.penalty_last_n == 0)
        return PLUMB_OK;
    s->count[id]++;
    if (s->p.penalty_last_n > 0 && s->n_hist > (size_t)s->p.penalty_last_n)
        s->count[s->hist[s->n_hist - 1 - (size_t)s->p.penalty_last_n]]--;
    return PLUMB_OK;
}

/* ------------------------------------------------------------ ordering */
/* Strict total order: a comes before b. */
static inline int before(const float *v, int32_t a, int32_t b)
{
    return v[a] > v[b] || (v[a] == v[b] && a < b);
}

static inline void swap_id(int32_t *x, size_t i, size_t j)
{
    int32_t t = x[i];
    x[i] = x[j];
    x[j] = t;
}

static void insertion_sort(int32_t *x, size_t n, const float *v)
{
    size_t i, j;
    for (i = 1; i < n; i++) {
        int32_t t = x[i];
        for (j = i; j > 0 && before(v, t, x[j - 1]); j--)
            x[j] = x[j - 1];
        x[j] = t;
    }
}

/* Partition x[0..n) (n >= 3) around the median of first, middle and last;
 * returns the pivot's final position: x[<p] before it, x[>p] after it. */
static size_t partition(int32_t *x, size_t n, const float *v)
{
    size_t mid = n / 2, last = n - 1, i, store;
    int32_t pivot;
    if (before(v, x[mid], x[0]))
        swap_id(x, mid, 0);
    if (before(v, x[last], x[0]))
        swap_id(x, last, 0);
    if (before(v, x[last], x[mid]))
        swap_id(x, last, mid);
    /* x[mid] is the median; park it at the end */
    swap_id(x, mid, last);
    pivot = x[last];
    store = 0;
    for (i = 0; i < last; i++)
        if (before(v, x[i], pivot))
            swap_id(x, i, store++);
    swap_id(x, store, last);
    return store;
}

/* Rearrange so that x[0..k) are the k first ids in the order (unsorted). */
static void select_ids(int32_t *x, size_t n, size_t k, const float *v)
{
    while (n > 16) {
        size_t p = partition(x, n, v);
        if (p == k || p + 1 == k)
            return;
        if (p > k) {
            n = p;
        } else {
            x += p + 1;
            k -= p + 1;
            n -= p + 1;
        }
    }
    insertion_sort(x, n, v);
}

/* Weight (unnormalised probability) of value v when the max is m. */
static inline double weight(float v, float m)
{
    return expf(v - m);
}

static double mass(const int32_t *x, size_t n, const float *v, float m)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < n; i++)
        sum += weight(v[x[i]], m);
    return sum;
}

/* Top-p without sorting: rearrange x[0..n) so that x[0..k) is the smallest
 * non-empty prefix, in the order, whose weight reaches target; returns k (n when the
 * whole set falls short) and its weight in *kept.  Quickselect on the mass:
 * each round partitions the undecided range and keeps the side that holds
 * the boundary, so the expected cost is a few passes over n. */
static size_t nucleus(int32_t *x, size_t n, const float *v, float m, double target,
                      double *kept)
{
    size_t lo = 0, hi = n, i;
    double acc = 0.0; /* weight of x[0..lo), all inside the nucleus */
    while (hi - lo > 16) {
        size_t p = partition(x + lo, hi - lo, v);
        double left = mass(x + lo, p, v, m);
        /* p > 0 always holds (a median of three has one element before
         * it); the test keeps a zero target from emptying the range */
        if (p > 0 && acc + left >= target) {
            hi = lo + p;
        } else {
            acc += left + weight(v[x[lo + p]], m);
            lo += p + 1;
            if (acc >= target) {
                *kept = acc;
                return lo;
            }
        }
    }
    insertion_sort(x + lo, hi - lo, v);
    for (i = lo; i < hi; i++) {
        acc += weight(v[x[i]], m);
        if (acc >= target) {
            *kept = acc;
            return i + 1;
        }
    }
    /* fell short (only when the caller cut the set or by rounding): all of
     * [0, n) — the undecided tail beyond hi follows the boundary */
    *kept = acc + mass(x + hi, n - hi, v, m);
    return n;
}

/* ------------------------------------------------------------ sampling */
static inline float penalize(const PlumbSamplerParams *p, float l, uint32_t c)
{
    if (p->repeat_penalty != 1.0f)
        l = l > 0.0f ? l / p->repeat_penalty : l * p->repeat_penalty;
    return l - p->presence_penalty - p->frequency_penalty * (float)c;
}

/* Fill s->work with the sanitised, penalised, temperature-scaled logits;
 * returns their max. */
static float prepare(PlumbSampler *s, const float *logits, float inv_t)
{
    const PlumbSamplerParams *p = &s->p;
    float *w = s->work, m = -INFINITY;
    size_t i, n = (size_t)s->n_vocab;
    for (i = 0; i < n; i++) {
        float l = logits[i];
        w[i] = isnan(l) ? -INFINITY : l * inv_t;
        m = w[i] > m ? w[i] : m;
    }
    if (penalties_on(p) && s->n_hist > window_start(s)) {
        for (i = window_start(s); i < s->n_hist; i++) {
            int32_t id = s->hist[i];
            float l = logits[id];
            /* computed from the caller's value: repeated ids give the same */
            if (!isnan(l))
                w[id] = penalize(p, l, s->count[id]) * inv_t;
        }
        for (m = -INFINITY, i = 0; i < n; i++)
            m = w[i] > m ? w[i] : m;
    }
    return m;
}

/* Lowest id of the highest value, NaN never chosen (0 if all are NaN). */
static int32_t argmax(const float *w, size_t n)
{
    size_t i, best = 0;
    while (best < n && isnan(w[best]))
        best++;
    if (best == n)
        return 0;
    for (i = best + 1; i < n; i++)
        if (w[i] > w[best])
            best = i;
    return (int32_t)best;
}

/* Draw among x[0..n) with weights exp(w[id] - m) summing to total. */
static int32_t draw(PlumbSampler *s, const int32_t *x, size_t n, float m, double total)
{
    const float *w = s->work;
    double r = rng_uniform(s->rng) * total, cum = 0.0;
    int32_t last = x[0];
    size_t i;
    for (i = 0; i < n; i++) {
        double e = weight(w[x[i]], m);
        if (e > 0.0) {
            cum += e;
            last = x[i];
            if (cum > r)
                return x[i];
        }
    }
    return last; /* rounding: r landed at the very end */
}

/* Ids with value >= cut into s->idx; returns their count, *sum their weight. */
static size_t gather(PlumbSampler *s, float cut, float m, double *sum)
{
    const float *w = s->work;
    size_t i, n = 0, nv = (size_t)s->n_vocab;
    double acc = 0.0;
    for (i = 0; i < nv; i++)
        if (w[i] >= cut) {
            s->idx[n++] = (int32_t)i;
            acc += weight(w[i], m);
        }
    *sum = acc;
    return n;
}

int32_t plumb_sampler_sample(PlumbSampler *s, const float *logits)
{
    const PlumbSamplerParams *p = &s->p;
    const float *w = s->work;
    size_t nv = (size_t)s->n_vocab, n, i, j;
    float m, cut = -INFINITY;
    double z, kept;

    if (!(p->temperature >= PLUMB_SAMPLER_TEMP_MIN)) {
        if (!penalties_on(p))
            return argmax(logits, nv);
        prepare(s, logits, 1.0f);
        return argmax(w, nv);
    }
    m = prepare(s, logits, 1.0f / p->temperature);
    if (!isfinite(m)) {
        /* all -inf, or +inf present (an infinite logit, or one so large
         * that dividing by the temperature overflowed): the best of the
         * unscaled values, as the limit of a falling temperature would be */
        prepare(s, logits, 1.0f);
        return argmax(w, nv);
    }
    if (p->min_p > 0.0f)
        cut = m + logf(p->min_p); /* weight >= min_p * max weight */
    if (cut > m)
        cut = m; /* min_p > 1: keep the best rather than nothing */

    if (p->top_k > 0 && (size_t)p->top_k < nv) {
        /* the k best, probabilities renormalised over them */
        n = (size_t)p->top_k;
        for (i = 0; i < nv; i++)
            s->idx[i] = (int32_t)i;
        select_ids(s->idx, nv, n, w);
        z = mass(s->idx, n, w, m);
        for (kept = 0.0, i = j = 0; i < n; i++)
            if (w[s->idx[i]] >= cut) {
                kept += weight(w[s->idx[i]], m);
                s->idx[j++] = s->idx[i];
            }
        n = j;
    } else if (p->top_p < 1.0f) {
        /* the whole vocabulary: first the tokens above a probability floor
         * (1e-4, or the min-p cut when higher); if they hold less than top_p
         * of the mass the nucleus reaches below the floor: take all that
         * min-p keeps */
        float floor_cut;
        for (z = 0.0, i = 0; i < nv; i++)
            z += weight(w[i], m);
        floor_cut = m + (float)log(1e-4 * z);
        n = gather(s, floor_cut > cut ? floor_cut : cut, m, &kept);
        if (floor_cut > cut && kept < (double)p->top_p * z)
            n = gather(s, cut, m, &kept);
    } else if (p->min_p > 0.0f) {
        n = gather(s, cut, m, &kept);
        return draw(s, s->idx, n, m, kept);
    } else {
        /* plain softmax over the whole vocabulary, walked in id order */
        for (i = 0; i < nv; i++)
            s->idx[i] = (int32_t)i;
        for (z = 0.0, i = 0; i < nv; i++)
            z += weight(w[i], m);
        return draw(s, s->idx, nv, m, z);
    }
    /* idx[0..n): candidates after top-k and min-p (the best one always
     * among them), kept their weight, z the normaliser top-p refers to */
    if (p->top_p < 1.0f && kept > (double)p->top_p * z)
        n = nucleus(s->idx, n, w, m, (double)p->top_p * z, &kept);
    return draw(s, s->idx, n, m, kept);
}
