/*
 * sampler.h — choosing the next token from logits.
 *
 * Pipeline: penalties (repetition, presence, frequency —
 * over the tokens accepted since the last reset, i.e. generated in the
 * current call, within penalty_last_n) → if temperature is below
 * PLUMB_SAMPLER_TEMP_MIN (plumb.h), argmax (lowest id on ties) → top-k → softmax with temperature → top-p → min-p → draw with
 * the seeded RNG.  Same params and seed, same draws.  Temperature is applied
 * before top-p and min-p, so those see the distribution the draw is made
 * from.  The caller's logits are never modified; the sampler owns its scratch.
 */
#ifndef PLUMB_SAMPLER_H
#define PLUMB_SAMPLER_H

#include <stddef.h>
#include <stdint.h>

#include "plumb.h"

typedef struct PlumbSampler {
    PlumbSamplerParams p;  /* current parameters */
    int32_t n_vocab;       /* logits per call */
    uint64_t rng[4];       /* xoshiro256** state, from p.seed */
    int32_t *hist;         /* [cap_hist] accepted tokens since reset */
    size_t n_hist;         /* tokens in hist */
    size_t cap_hist;       /* capacity of hist */
    float *work;           /* [n_vocab] scratch logits / probabilities */
    int32_t *idx;          /* [n_vocab] scratch candidate ids */
    uint32_t *count;       /* [n_vocab] occurrences within the penalty window */
} PlumbSampler;

int plumb_sampler_init(PlumbSampler *s, int32_t n_vocab, const PlumbSamplerParams *p,
                       PlumbError *err);
void plumb_sampler_free(PlumbSampler *s);
/* dst (not initialised) becomes a copy of src: parameters, RNG state, history. */
int plumb_sampler_copy(PlumbSampler *dst, const PlumbSampler *src, PlumbError *err);
/* Replace parameters and reseed the RNG; history kept. */
void plumb_sampler_set(PlumbSampler *s, const PlumbSamplerParams *p);
/* Forget accepted tokens (penalties start afresh); RNG state kept. */
void plumb_sampler_reset(PlumbSampler *s);
/* Pick a token from logits[n_vocab]. */
int32_t plumb_sampler_sample(PlumbSampler *s, const float *logits);
/* Record a generated token for the penalties. Returns PLUMB_ENOMEM on failure. */
int plumb_sampler_accept(PlumbSampler *s, int32_t id);

#endif
