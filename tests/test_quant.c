/*
 * test_quant.c — the tensor types and the C tier of the kernel table.
 *
 *  1. traits: names, block sizes and bytes (the GGUF ones), activation types,
 *     row sizes, and that the C tier fills every entry it must;
 *  2. fp16 / bf16 conversions: every half and every bfloat16 round-trips,
 *     every rounding midpoint between adjacent halves goes the right way;
 *  3. dequantisation of the fixture models: each tensor of
 *     small-<TYPE>.gguf (made from small-f16.gguf by llama-quantize) is
 *     compared with the same tensor of small-f16.gguf; the relative RMS error
 *     must stay under a per-type bound (a wrong bit layout gives ~1.4, a
 *     decoy decode with a scrambled order is checked to fail the bound);
 *  4. every vec_dot against dequantise-then-dot in double on quantised
 *     activations, on fixture rows and on random blocks;
 *  5. activation quantisers: scales, sums, rounding conventions, error
 *     bounds, edge inputs (zeros, one huge value, tiny values, +-FLT_MAX);
 *  6. vector ops against straightforward double computations.
 */
#include "config.h"

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsp.h"
#include "gguf.h"
#include "qtypes.h"
#include "quant_ref.h"
#include "testlib.h"

static PlumbDsp dsp;

/* ------------------------------------------------------------ helpers */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_u64(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static double rng_unif(void) /* [0, 1) */
{
    return (double)(rng_u64() >> 11) * 0x1p-53;
}

static float rng_normal(void)
{
    double u = rng_unif(), v = rng_unif();
    return (float)(sqrt(-2.0 * log(1.0 - u)) * cos(6.283185307179586 * v));
}

static float f32_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "test_quant: out of memory\n");
        exit(99);
    }
    return p;
}

static const uint32_t weight_types[] = {
    PLUMB_QTYPE_F32, PLUMB_QTYPE_F16, PLUMB_QTYPE_BF16, PLUMB_QTYPE_Q4_0, PLUMB_QTYPE_Q4_1,
    PLUMB_QTYPE_Q5_0, PLUMB_QTYPE_Q5_1, PLUMB_QTYPE_Q8_0, PLUMB_QTYPE_Q2_K, PLUMB_QTYPE_Q3_K,
    PLUMB_QTYPE_Q4_K, PLUMB_QTYPE_Q5_K, PLUMB_QTYPE_Q6_K, PLUMB_QTYPE_IQ4_NL, PLUMB_QTYPE_IQ4_XS,
};
#define N_WEIGHT_TYPES (sizeof weight_types / sizeof weight_types[0])

/* Dequantise activations of an activation type (the vec_dot right operand). */
static void act_to_float(uint32_t act, const void *a, float *y, int64_t n)
{
    if (act == PLUMB_QTYPE_Q8_1) {
        const PlumbBlockQ8_1 *b = a;
        for (int64_t i = 0; i < n / PLUMB_QK; i++)
            for (int j = 0; j < PLUMB_QK; j++)
                y[i * PLUMB_QK + j] = (float)b[i].qs[j] * plumb_fp16_to_fp32(b[i].d);
    } else if (act == PLUMB_QTYPE_Q8_K) {
        const PlumbBlockQ8_K *b = a;
        for (int64_t i = 0; i < n / PLUMB_QK_K; i++)
            for (int j = 0; j < PLUMB_QK_K; j++)
                y[i * PLUMB_QK_K + j] = (float)b[i].qs[j] * b[i].d;
    } else {
        dsp.to_float[act](a, y, n);
    }
}

/* ------------------------------------------------------------ 1. traits */

static void test_traits(void)
{
    static const struct {
        uint32_t id;
        const char *name;
        int32_t blck;
        uint32_t size;
        int32_t act;
        int weight;
        int rows;
    } want[] = {
        { PLUMB_QTYPE_F32, "F32", 1, 4, PLUMB_QTYPE_F32, 1, 1 },
        { PLUMB_QTYPE_F16, "F16", 1, 2, PLUMB_QTYPE_F16, 1, 1 },
        { PLUMB_QTYPE_BF16, "BF16", 1, 2, PLUMB_QTYPE_BF16, 1, 1 },
        { PLUMB_QTYPE_Q4_0, "Q4_0", 32, 18, PLUMB_QTYPE_Q8_0, 1, 1 },
        { PLUMB_QTYPE_Q4_1, "Q4_1", 32, 20, PLUMB_QTYPE_Q8_1, 1, 1 },
        { PLUMB_QTYPE_Q5_0, "Q5_0", 32, 22, PLUMB_QTYPE_Q8_0, 1, 1 },
        { PLUMB_QTYPE_Q5_1, "Q5_1", 32, 24, PLUMB_QTYPE_Q8_1, 1, 1 },
        { PLUMB_QTYPE_Q8_0, "Q8_0", 32, 34, PLUMB_QTYPE_Q8_0, 1, 1 },
        { PLUMB_QTYPE_Q8_1, "Q8_1", 32, 36, -1, 0, 1 },
        { PLUMB_QTYPE_Q2_K, "Q2_K", 256, 84, PLUMB_QTYPE_Q8_K, 1, 1 },
        { PLUMB_QTYPE_Q3_K, "Q3_K", 256, 110, PLUMB_QTYPE_Q8_K, 1, 1 },
        { PLUMB_QTYPE_Q4_K, "Q4_K", 256, 144, PLUMB_QTYPE_Q8_K, 1, 1 },
        { PLUMB_QTYPE_Q5_K, "Q5_K", 256, 176, PLUMB_QTYPE_Q8_K, 1, 1 },
        { PLUMB_QTYPE_Q6_K, "Q6_K", 256, 210, PLUMB_QTYPE_Q8_K, 1, 1 },
        { PLUMB_QTYPE_Q8_K, "Q8_K", 256, 292, -1, 0, 1 },
        { PLUMB_QTYPE_IQ4_NL, "IQ4_NL", 32, 18, PLUMB_QTYPE_Q8_0, 1, 1 },
        { PLUMB_QTYPE_IQ4_XS, "IQ4_XS", 256, 136, PLUMB_QTYPE_Q8_K, 1, 1 },
        { PLUMB_QTYPE_Q4_0_R8, "Q4_0_R8", 32, 18, PLUMB_QTYPE_Q8_0X, 1, 8 },
        { PLUMB_QTYPE_Q8_0X, "Q8_0X", 32, 40, -1, 0, 1 },
        { PLUMB_QTYPE_Q4_K_R8, "Q4_K_R8", 256, 148, PLUMB_QTYPE_Q8_K, 1, 8 },
        { PLUMB_QTYPE_Q6_K_R8, "Q6_K_R8", 256, 210, PLUMB_QTYPE_Q8_K, 1, 8 },
    };
    const size_t n_want = sizeof want / sizeof want[0];
    int known = 0;

    for (size_t i = 0; i < n_want; i++) {
        const PlumbQTraits *t = plumb_qtype_traits(want[i].id);
        CHECK(t != NULL, "type %u has no traits", want[i].id);
        if (!t)
            continue;
        CHECK(strcmp(t->name, want[i].name) == 0, "type %u: name %s, want %s", want[i].id, t->name,
              want[i].name);
        CHECK(strcmp(plumb_qtype_name(want[i].id), want[i].name) == 0, "name of %u", want[i].id);
        CHECK(t->blck == want[i].blck, "%s: blck %d, want %d", want[i].name, t->blck, want[i].blck);
        CHECK(t->size == want[i].size, "%s: size %u, want %u", want[i].name, t->size, want[i].size);
        CHECK(t->act == want[i].act, "%s: act %d, want %d", want[i].name, t->act, want[i].act);
        CHECK(!t->weight == !want[i].weight, "%s: weight flag %d", want[i].name, t->weight);
        CHECK(t->rows == want[i].rows, "%s: rows %d, want %d", want[i].name, t->rows, want[i].rows);
        CHECK(plumb_qtype_row_size(want[i].id, (uint64_t)want[i].blck * 7) == 7ull * want[i].size,
              "%s: row size of 7 blocks", want[i].name);
        if (want[i].blck > 1)
            CHECK(plumb_qtype_row_size(want[i].id, (uint64_t)want[i].blck + 1) == 0,
                  "%s: row of blck+1 elements must have no size", want[i].name);
        /* the C tier covers the type */
        if (want[i].weight && want[i].rows > 1) {
            /* interleaved: only the tiled product */
            CHECK(dsp.gemm[want[i].id] != NULL, "%s: no gemm", want[i].name);
            CHECK(dsp.from_float[want[i].act] != NULL, "%s: no quantiser for its activations",
                  want[i].name);
        } else if (want[i].weight) {
            CHECK(dsp.to_float[want[i].id] != NULL, "%s: no to_float", want[i].name);
            CHECK(dsp.vec_dot[want[i].id] != NULL, "%s: no vec_dot", want[i].name);
            CHECK(dsp.from_float[want[i].act] != NULL, "%s: no quantiser for its activations",
                  want[i].name);
        }
    }
    for (uint32_t id = 0; id < PLUMB_QTYPE_COUNT + 5; id++)
        known += plumb_qtype_traits(id) != NULL;
    CHECK(known == (int)n_want, "%d known type ids, want %zu", known, n_want);
    CHECK(plumb_qtype_traits(4) == NULL && plumb_qtype_traits(PLUMB_QTYPE_COUNT) == NULL &&
              plumb_qtype_traits(UINT32_MAX) == NULL, "removed / out-of-range ids must be unknown");
    CHECK(strcmp(plumb_qtype_name(17), "unknown") == 0, "name of id 17: %s", plumb_qtype_name(17));
    /* GGUF ids: ggml's as they are, plumb's own far away, its slots not valid on disk */
    for (size_t i = 0; i < n_want; i++) {
        const uint32_t g = plumb_qtype_to_gguf(want[i].id);
        if (want[i].id == PLUMB_QTYPE_Q8_0X)
            continue;
        CHECK(plumb_qtype_from_gguf(g) == want[i].id, "%s: GGUF id %u does not map back",
              want[i].name, g);
        CHECK(want[i].id >= PLUMB_QTYPE_Q4_0_R8 ? g >= 0x10000u : g == want[i].id,
              "%s: GGUF id %u", want[i].name, g);
    }
    CHECK(plumb_qtype_from_gguf(PLUMB_QTYPE_Q4_0_R8) == UINT32_MAX &&
              plumb_qtype_from_gguf(PLUMB_QTYPE_Q8_0X) == UINT32_MAX &&
              plumb_qtype_from_gguf(PLUMB_QTYPE_Q4_K_R8) == UINT32_MAX &&
              plumb_qtype_from_gguf(PLUMB_GGUF_TYPE_Q4_0_R8 + 1) == UINT32_MAX &&
              plumb_qtype_from_gguf(39) == 39,
          "plumb's slots and unknown ids are not GGUF ids");
    CHECK(plumb_qtype_row_size(1000, 32) == 0, "row size of an unknown type");
    CHECK(plumb_qtype_row_size(PLUMB_QTYPE_Q8_0, UINT64_MAX / 32 * 32) == 0,
          "row size overflow must give 0");
    CHECK(plumb_qtype_row_size(PLUMB_QTYPE_Q8_0, 1ull << 62) == (1ull << 57) * 34, "row of 2^62");
    CHECK(plumb_qtype_row_size(PLUMB_QTYPE_Q4_K, 2048) == 8 * 144, "Q4_K row of 2048");

    CHECK(dsp.rmsnorm && dsp.rope_neox && dsp.softmax && dsp.swiglu && dsp.dot_f32 && dsp.axpy &&
              dsp.scale && dsp.topk, "C tier leaves a vector op empty");
    {
        PlumbDsp d0;
        plumb_dsp_init(&d0, 0);
        CHECK(d0.flags == 0 && d0.vec_dot[PLUMB_QTYPE_Q4_K] == plumb_vec_dot_q4_K_q8_K_c &&
                  d0.to_float[PLUMB_QTYPE_Q6_K] == plumb_to_float_q6_K_c &&
                  d0.softmax == dsp.softmax, "plumb_dsp_init without tiers must be the C tier");
    }
    CHECK(plumb_iq4nl_values[0] == -127 && plumb_iq4nl_values[7] == -10 &&
              plumb_iq4nl_values[8] == 1 && plumb_iq4nl_values[15] == 113, "IQ4_NL codebook");
    for (int i = 1; i < 16; i++)
        CHECK(plumb_iq4nl_values[i] > plumb_iq4nl_values[i - 1], "IQ4_NL codebook must increase");
}

/* ------------------------------------------------------------ 2. fp16 / bf16 */

/* Value of a half computed independently, in double. */
static double half_value(uint16_t h)
{
    int e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(1024 + m, e - 25);
    return (h & 0x8000) ? -v : v;
}

static void test_fp16(void)
{
    int bad_val = 0, bad_trip = 0, bad_nan = 0, bad_mid = 0;

    for (uint32_t h = 0; h < 65536; h++) {
        float f = plumb_fp16_to_fp32((uint16_t)h);
        double want = half_value((uint16_t)h);
        uint16_t back = plumb_fp32_to_fp16(f);
        if (isnan(want)) {
            /* stays a NaN, quieted, sign and payload kept */
            if (!isnan(f) || back != (h | 0x200))
                bad_nan++;
        } else {
            if ((double)f != want || !!signbit(f) != !!(h & 0x8000))
                bad_val++;
            if (back != h)
                bad_trip++;
        }
    }
    CHECK(bad_val == 0, "%d halves convert to the wrong float", bad_val);
    CHECK(bad_trip == 0, "%d halves do not round-trip", bad_trip);
    CHECK(bad_nan == 0, "%d NaN halves lose NaN-ness, sign or payload", bad_nan);

    /* Every midpoint between adjacent finite halves (exact in float): ties
     * go to the even half, one float ulp either side to the nearer half. */
    for (uint32_t a = 0; a < 0x7bff; a++) {
        for (int neg = 0; neg < 2; neg++) {
            uint16_t s = neg ? 0x8000 : 0;
            double mid = (half_value((uint16_t)a) + half_value((uint16_t)(a + 1))) / 2;
            float m = (float)(neg ? -mid : mid);
            float lo = nextafterf(m, 0.0f), hi = nextafterf(m, neg ? -INFINITY : INFINITY);
            uint16_t even = (uint16_t)(s | ((a & 1) ? a + 1 : a));
            if ((double)fabsf(m) != mid || plumb_fp32_to_fp16(m) != even ||
                plumb_fp32_to_fp16(lo) != (s | a) || plumb_fp32_to_fp16(hi) != (s | (a + 1))) {
                if (bad_mid++ < 5)
                    fprintf(stderr, "midpoint after half 0x%04x (%g) rounds wrong\n", s | a,
                            (double)m);
            }
        }
    }
    CHECK(bad_mid == 0, "%d rounding midpoints go the wrong way", bad_mid);

    /* The top of the range and beyond, and the bottom. */
    CHECK(plumb_fp32_to_fp16(65504.0f) == 0x7bff, "65504");
    CHECK(plumb_fp32_to_fp16(65519.996f) == 0x7bff, "just under 65520");
    CHECK(plumb_fp32_to_fp16(65520.0f) == 0x7c00, "65520 ties to even = inf");
    CHECK(plumb_fp32_to_fp16(-1e6f) == 0xfc00, "-1e6 -> -inf");
    CHECK(plumb_fp32_to_fp16(FLT_MAX) == 0x7c00, "FLT_MAX -> inf");
    CHECK(plumb_fp32_to_fp16(INFINITY) == 0x7c00 && plumb_fp32_to_fp16(-INFINITY) == 0xfc00, "inf");
    CHECK(plumb_fp32_to_fp16(0x1p-25f) == 0x0000, "2^-25 ties to zero");
    CHECK(plumb_fp32_to_fp16(nextafterf(0x1p-25f, 1.0f)) == 0x0001, "just over 2^-25");
    CHECK(plumb_fp32_to_fp16(3 * 0x1p-25f) == 0x0002, "1.5 subnormal units tie to 2");
    CHECK(plumb_fp32_to_fp16(-FLT_MIN) == 0x8000 && plumb_fp32_to_fp16(f32_from_bits(1)) == 0,
          "float subnormals and FLT_MIN underflow to signed zero");
    CHECK(plumb_fp32_to_fp16(-0.0f) == 0x8000, "-0");
    CHECK(plumb_fp32_to_fp16(0x1.ffcp-15f) == 0x0400, "rounds up from subnormal to the smallest normal");
    CHECK(plumb_fp32_to_fp16(f32_from_bits(0x7f800001u)) == 0x7e00, "signalling NaN is quieted");
    CHECK(plumb_fp32_to_fp16(f32_from_bits(0xffc12345u)) == (0xfe00 | (0x412345u >> 13)),
          "NaN keeps sign and top payload bits");

#ifdef __FLT16_MANT_DIG__
    {
        /* The compiler's own conversion on random bit patterns. */
        int bad = 0;
        for (int i = 0; i < 1 << 22; i++) {
            float f = f32_from_bits((uint32_t)rng_u64());
            _Float16 c = (_Float16)f;
            uint16_t hc;
            memcpy(&hc, &c, sizeof hc);
            if (!isnan(f) && plumb_fp32_to_fp16(f) != hc)
                bad++;
        }
        CHECK(bad == 0, "%d random floats convert differently from the compiler's _Float16", bad);
    }
#endif

    /* bf16 */
    {
        int bad = 0;
        for (uint32_t h = 0; h < 65536; h++) {
            float f = plumb_bf16_to_fp32((uint16_t)h);
            uint16_t back = plumb_fp32_to_bf16(f);
            if (f32_bits(f) != h << 16)
                bad++;
            else if (isnan(f) ? back != (h | 0x40) : back != h)
                bad++;
        }
        CHECK(bad == 0, "%d bfloat16 values fail to round-trip", bad);
    }
    CHECK(plumb_fp32_to_bf16(1.0f) == 0x3f80, "bf16 1.0");
    CHECK(plumb_fp32_to_bf16(f32_from_bits(0x3f808000u)) == 0x3f80, "bf16 tie to even (down)");
    CHECK(plumb_fp32_to_bf16(f32_from_bits(0x3f818000u)) == 0x3f82, "bf16 tie to even (up)");
    CHECK(plumb_fp32_to_bf16(f32_from_bits(0x3f808001u)) == 0x3f81, "bf16 above the tie");
    CHECK(plumb_fp32_to_bf16(f32_from_bits(0xbf807fffu)) == 0xbf80, "bf16 below the tie");
    CHECK(plumb_fp32_to_bf16(FLT_MAX) == 0x7f80, "bf16 FLT_MAX rounds to inf");
    CHECK(plumb_fp32_to_bf16(f32_from_bits(0x7f800001u)) == 0x7fc0, "bf16 sNaN quieted, not inf");
    CHECK(plumb_fp32_to_bf16(f32_from_bits(0xffffffffu)) == 0xffff, "bf16 NaN all ones");
}

/* ------------------------------------------------------------ 3. fixtures */

typedef struct {
    uint32_t type;
    double bound;    /* relative RMS error allowed, per tensor */
    double worst;    /* largest seen */
    double num, den; /* sums over all tensors of the type */
    int tensors;
} TypeStat;

/*
 * Bounds of the relative RMS error of one tensor against its F16 source.
 * For Gaussian weights a uniform quantiser's error is about step/sqrt(12)
 * of sigma, with step = block amax / 2^(b-1) for the symmetric formats and
 * range / (2^b - 1) for those with a min: ~0.005 for Q8_0, ~0.017 Q6_K,
 * ~0.038 Q5_K, ~0.08 Q4_0 / Q4_K, ~0.13 Q3_K, ~0.34 Q2_K (llama-quantize's
 * search for scales does a little better on the K formats).  Measured worst
 * tensor on these fixtures: BF16 0.0017, Q8_0 0.0054, Q6_K 0.0178, Q5_K
 * 0.0363, Q4_K 0.0714, IQ4_XS 0.0768, Q4_0 0.0861, Q3_K 0.1511, Q2_K 0.2968.
 * Each bound is ~1.4x that and well under the ~1.4 that a wrong bit order,
 * scale placement or sign gives (the decoy check below shows the bound
 * would catch it).  F32 tensors are byte copies; BF16 drops 3 mantissa bits
 * of each half.  Q4_1, Q5_0, Q5_1 and IQ4_NL have no fixture: their bounds
 * follow the same rule.
 */
static TypeStat type_stats[] = {
    { PLUMB_QTYPE_F32, 0.0, 0, 0, 0, 0 },
    { PLUMB_QTYPE_F16, 0.0, 0, 0, 0, 0 },
    { PLUMB_QTYPE_BF16, 0.0025, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q8_0, 0.0075, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q6_K, 0.025, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q5_0, 0.05, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q5_1, 0.05, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q5_K, 0.05, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q4_0, 0.12, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q4_1, 0.12, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q4_K, 0.1, 0, 0, 0, 0 },
    { PLUMB_QTYPE_IQ4_NL, 0.11, 0, 0, 0, 0 },
    { PLUMB_QTYPE_IQ4_XS, 0.11, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q3_K, 0.21, 0, 0, 0, 0 },
    { PLUMB_QTYPE_Q2_K, 0.42, 0, 0, 0, 0 },
};
#define N_TYPE_STATS (sizeof type_stats / sizeof type_stats[0])

static TypeStat *type_stat(uint32_t type)
{
    for (size_t i = 0; i < N_TYPE_STATS; i++)
        if (type_stats[i].type == type)
            return &type_stats[i];
    return NULL;
}

static uint64_t tensor_elems(const PlumbGGUFTensor *t)
{
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

/* sum (a-b)^2 and sum b^2 */
static void err_sums(const float *a, const float *b, uint64_t n, double *num, double *den)
{
    double s = 0, r = 0;
    for (uint64_t i = 0; i < n; i++) {
        double d = (double)a[i] - (double)b[i];
        s += d * d;
        r += (double)b[i] * b[i];
    }
    *num = s;
    *den = r;
}

/* vec_dot of a few rows of a real tensor against dequantise-then-dot. */
static void check_rows_dot(const char *file, const PlumbGGUFTensor *t, int rows);

static void test_fixture(const PlumbGGUF *ref, const char *file)
{
    PlumbGGUF *q = NULL;
    PlumbError err = { 0 };
    int rc = plumb_gguf_open(&q, test_data(file), &err);
    int checked = 0;

    CHECK(rc == 0, "%s: %s", file, err.msg);
    if (rc != 0)
        return;
    for (uint64_t i = 0; i < q->n_tensors; i++) {
        const PlumbGGUFTensor *tq = &q->tensors[i];
        const PlumbGGUFTensor *tr = plumb_gguf_tensor(ref, tq->name);
        const PlumbQTraits *tt = plumb_qtype_traits(tq->type);
        TypeStat *st = type_stat(tq->type);
        uint64_t n = tensor_elems(tq);
        double num, den, rel;

        CHECK(tt && tt->weight && st, "%s: tensor %s has type %u (%s) plumb does not run", file,
              tq->name, tq->type, plumb_qtype_name(tq->type));
        CHECK(tr != NULL, "%s: tensor %s not in small-f16.gguf", file, tq->name);
        if (!tt || !tt->weight || !st || !tr)
            continue;
        CHECK(tensor_elems(tr) == n && tr->ne[0] == tq->ne[0], "%s: %s: shape differs", file,
              tq->name);
        CHECK(tq->nbytes == plumb_qtype_row_size(tq->type, tq->ne[0]) * (n / tq->ne[0]),
              "%s: %s: %llu bytes for %llu elements of %s", file, tq->name,
              (unsigned long long)tq->nbytes, (unsigned long long)n, tt->name);
        if (tensor_elems(tr) != n || n % (uint64_t)tt->blck != 0)
            continue;

        float *yq = xmalloc(n * sizeof(float));
        float *yr = xmalloc(n * sizeof(float));
        dsp.to_float[tq->type](tq->data, yq, (int64_t)n);
        dsp.to_float[tr->type](tr->data, yr, (int64_t)n);
        err_sums(yq, yr, n, &num, &den);
        rel = den > 0 ? sqrt(num / den) : sqrt(num);
        CHECK(rel <= st->bound, "%s: %s (%s, %llu elements): relative RMS error %.5f > %.5f", file,
              tq->name, tt->name, (unsigned long long)n, rel, st->bound);
        st->worst = rel > st->worst ? rel : st->worst;
        st->num += num;
        st->den += den;
        st->tensors++;

        /* Decoy: the same values in a scrambled in-block order (each 16-element
         * half reversed, as a wrong nibble or plane order would produce) must
         * fail the bound, or the bound proves nothing about the layout. */
        if (tt->blck > 1) {
            for (uint64_t b = 0; b < n; b += 16)
                for (int l = 0; l < 8; l++) {
                    float tmp = yq[b + l];
                    yq[b + l] = yq[b + 15 - l];
                    yq[b + 15 - l] = tmp;
                }
            err_sums(yq, yr, n, &num, &den);
            CHECK(sqrt(num / den) > 2 * st->bound, "%s: %s: a scrambled decode passes (%.4f)", file,
                  tq->name, sqrt(num / den));
        }
        free(yq);
        free(yr);

        check_rows_dot(file, tq, 4);
        checked++;
    }
    CHECK(checked > 0, "%s: no tensors checked", file);
    plumb_gguf_close(q);
}

static void test_fixtures(void)
{
    static const char *files[] = {
        /* BF16: test_golden makes it from small-f16 and checks it against llama-quantize's */
        "models/small-Q8_0.gguf", "models/small-Q6_K.gguf",
        "models/small-Q5_K_M.gguf", "models/small-Q4_K_M.gguf", "models/small-Q4_0.gguf",
        "models/small-IQ4_XS.gguf", "models/small-Q3_K_M.gguf", "models/small-Q2_K.gguf",
    };
    PlumbGGUF *ref = NULL;
    PlumbError err = { 0 };
    int rc = plumb_gguf_open(&ref, test_data("models/small-f16.gguf"), &err);

    CHECK(rc == 0, "small-f16.gguf: %s", err.msg);
    if (rc != 0)
        return;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        test_fixture(ref, files[i]);
    plumb_gguf_close(ref);

    fprintf(stderr, "relative RMS error of dequantised fixture tensors vs small-f16.gguf:\n");
    for (size_t i = 0; i < N_TYPE_STATS; i++) {
        const TypeStat *st = &type_stats[i];
        if (!st->tensors)
            continue;
        fprintf(stderr, "  %-7s %3d tensors  overall %.5f  worst %.5f  bound %.5f\n",
                plumb_qtype_name(st->type), st->tensors, st->den > 0 ? sqrt(st->num / st->den) : 0,
                st->worst, st->bound);
    }
    /* the quantised types every fixture set must have exercised */
    static const uint32_t must[] = { PLUMB_QTYPE_Q8_0, PLUMB_QTYPE_Q6_K,
                                     PLUMB_QTYPE_Q5_K, PLUMB_QTYPE_Q4_K, PLUMB_QTYPE_Q4_0,
                                     PLUMB_QTYPE_IQ4_XS, PLUMB_QTYPE_Q3_K, PLUMB_QTYPE_Q2_K };
    for (size_t i = 0; i < sizeof must / sizeof must[0]; i++)
        CHECK(type_stat(must[i])->tensors > 0, "no %s tensor in the fixtures",
              plumb_qtype_name(must[i]));
}

/* ------------------------------------------------------------ 4. vec_dot */

/* Relative tolerance of a dot product against the double dequantised one,
 * times sum |w_i a_i|: the integer block sums are exact, what is left is
 * float rounding of the per-block scales and of the running sum. */
#define DOT_TOL 5e-7

/* Check vec_dot(w, quantise(x)) against sum dequant(w) * dequant(quantise(x)).
 * Returns the error relative to sum |w a|. */
static double dot_case(uint32_t type, const void *w, const float *x, int64_t n, const char *what)
{
    const PlumbQTraits *t = plumb_qtype_traits(type);
    const PlumbQTraits *ta = plumb_qtype_traits((uint32_t)t->act);
    size_t abytes = plumb_qtype_row_size((uint32_t)t->act, (uint64_t)n);
    void *a = xmalloc(abytes);
    float *wf = xmalloc((size_t)n * sizeof(float));
    float *af = xmalloc((size_t)n * sizeof(float));
    double ref = 0, mag = 0, extra = 0, rel;
    float got = NAN;

    dsp.from_float[t->act](x, a, n);
    dsp.to_float[type](w, wf, n);
    act_to_float((uint32_t)t->act, a, af, n);
    for (int64_t i = 0; i < n; i++) {
        ref += (double)wf[i] * (double)af[i];
        mag += fabs((double)wf[i] * (double)af[i]);
    }
    /* Q4_1 / Q5_1 take the min term from the activation's s = d * sum(q),
     * stored as a half: allow its rounding, |m * s| * 2^-11, per block. */
    if (t->act == PLUMB_QTYPE_Q8_1) {
        const PlumbBlockQ8_1 *ab = a;
        for (int64_t b = 0; b < n / PLUMB_QK; b++) {
            uint16_t mh = type == PLUMB_QTYPE_Q4_1 ? ((const PlumbBlockQ4_1 *)w)[b].m
                                                   : ((const PlumbBlockQ5_1 *)w)[b].m;
            extra += fabs(plumb_fp16_to_fp32(mh) * plumb_fp16_to_fp32(ab[b].s)) * 0x1p-11;
        }
    }
    dsp.vec_dot[type](n, &got, w, a);
    rel = fabs((double)got - ref) / (mag + extra + 1e-30);
    CHECK(fabs((double)got - ref) <= DOT_TOL * mag + extra + 1e-30,
          "vec_dot %s x %s (%s, n=%lld): %.9g, dequantised %.9g (|w.a| %.4g)", t->name, ta->name,
          what, (long long)n, (double)got, ref, mag);
    free(a);
    free(wf);
    free(af);
    return rel;
}

static void check_rows_dot(const char *file, const PlumbGGUFTensor *t, int rows)
{
    const int64_t n = (int64_t)t->ne[0];
    const uint64_t row_bytes = plumb_qtype_row_size(t->type, t->ne[0]);
    float *x = xmalloc((size_t)n * sizeof(float));
    uint64_t n_rows = tensor_elems(t) / t->ne[0];

    for (int r = 0; r < rows && (uint64_t)r < n_rows; r++) {
        uint64_t row = (uint64_t)r * (n_rows / (uint64_t)rows);
        for (int64_t i = 0; i < n; i++)
            x[i] = rng_normal();
        dot_case(t->type, (const uint8_t *)t->data + row * row_bytes, x, n, file);
    }
    free(x);
}

/* A random but well-formed row: random bytes, finite moderate half scales. */
static void random_row(uint32_t type, void *w, int64_t n)
{
    const PlumbQTraits *t = plumb_qtype_traits(type);
    size_t bytes = plumb_qtype_row_size(type, (uint64_t)n);
    uint8_t *p = w;
    int64_t nb = n / t->blck;

    for (size_t i = 0; i < bytes; i++)
        p[i] = (uint8_t)rng_u64();
    if (type == PLUMB_QTYPE_F32) {
        for (int64_t i = 0; i < n; i++)
            ((float *)w)[i] = rng_normal();
        return;
    }
    if (type == PLUMB_QTYPE_F16 || type == PLUMB_QTYPE_BF16) {
        for (int64_t i = 0; i < n; i++) {
            float v = rng_normal();
            ((uint16_t *)w)[i] = type == PLUMB_QTYPE_F16 ? plumb_fp32_to_fp16(v) : plumb_fp32_to_bf16(v);
        }
        return;
    }
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *blk = p + b * t->size;
        uint16_t d = plumb_fp32_to_fp16((float)(0.001 + 0.01 * rng_unif()));
        uint16_t m = plumb_fp32_to_fp16((float)(0.01 * rng_normal()));
        switch (type) {
        case PLUMB_QTYPE_Q4_1: ((PlumbBlockQ4_1 *)blk)->d = d; ((PlumbBlockQ4_1 *)blk)->m = m; break;
        case PLUMB_QTYPE_Q5_1: ((PlumbBlockQ5_1 *)blk)->d = d; ((PlumbBlockQ5_1 *)blk)->m = m; break;
        case PLUMB_QTYPE_Q2_K: ((PlumbBlockQ2_K *)blk)->d = d; ((PlumbBlockQ2_K *)blk)->dmin = m; break;
        case PLUMB_QTYPE_Q3_K: ((PlumbBlockQ3_K *)blk)->d = d; break;
        case PLUMB_QTYPE_Q4_K: ((PlumbBlockQ4_K *)blk)->d = d; ((PlumbBlockQ4_K *)blk)->dmin = m; break;
        case PLUMB_QTYPE_Q5_K: ((PlumbBlockQ5_K *)blk)->d = d; ((PlumbBlockQ5_K *)blk)->dmin = m; break;
        case PLUMB_QTYPE_Q6_K: ((PlumbBlockQ6_K *)blk)->d = d; break;
        case PLUMB_QTYPE_IQ4_XS: ((PlumbBlockIQ4_XS *)blk)->d = d; break;
        default: memcpy(blk, &d, 2); break; /* d first: Q4_0 Q5_0 Q8_0 IQ4_NL */
        }
    }
}

static void test_vec_dot(void)
{
    static const int64_t sizes[] = { 256, 512, 2048, 4096 };
    double worst[PLUMB_QTYPE_COUNT] = { 0 };

    for (size_t k = 0; k < N_WEIGHT_TYPES; k++) {
        uint32_t type = weight_types[k];
        for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
            int64_t n = sizes[s];
            void *w = xmalloc(plumb_qtype_row_size(type, (uint64_t)n));
            float *x = xmalloc((size_t)n * sizeof(float));
            for (int rep = 0; rep < 4; rep++) {
                random_row(type, w, n);
                for (int64_t i = 0; i < n; i++)
                    x[i] = rep == 3 ? (float)(100.0 * rng_normal()) : rng_normal();
                double r = dot_case(type, w, x, n, "random blocks");
                worst[type] = r > worst[type] ? r : worst[type];
            }
            /* zero activations give exactly zero */
            {
                size_t abytes = plumb_qtype_row_size((uint32_t)plumb_qtype_traits(type)->act,
                                                     (uint64_t)n);
                void *a = xmalloc(abytes);
                float got = 1.0f;
                memset(x, 0, (size_t)n * sizeof(float));
                dsp.from_float[plumb_qtype_traits(type)->act](x, a, n);
                dsp.vec_dot[type](n, &got, w, a);
                CHECK(got == 0.0f, "vec_dot %s with zero activations = %g", plumb_qtype_name(type),
                      (double)got);
                free(a);
            }
            free(w);
            free(x);
        }
    }
    fprintf(stderr, "vec_dot vs dequantise-then-dot, worst |err| / sum|w a| on random blocks:\n ");
    for (size_t k = 0; k < N_WEIGHT_TYPES; k++)
        fprintf(stderr, " %s %.1e", plumb_qtype_name(weight_types[k]), worst[weight_types[k]]);
    fputc('\n', stderr);

    /* Known answers: every weight and activation 1 (scales 1). */
    {
        PlumbBlockQ4_0 w4[2];
        PlumbBlockQ8_0 a8[2];
        float s = 0;
        for (int b = 0; b < 2; b++) {
            w4[b].d = plumb_fp32_to_fp16(1.0f);
            memset(w4[b].qs, 0x99, sizeof w4[b].qs); /* 9 - 8 = 1 in both nibbles */
            a8[b].d = plumb_fp32_to_fp16(0.5f);
            memset(a8[b].qs, 2, sizeof a8[b].qs);
        }
        dsp.vec_dot[PLUMB_QTYPE_Q4_0](64, &s, w4, a8);
        CHECK(s == 64.0f, "Q4_0 ones . ones = %g, want 64", (double)s);
    }
}

/* ------------------------------------------------------------ 5. quantisers */

static void check_q8_0(const float *x, int64_t n, int q8_1, const char *what)
{
    size_t bsz = q8_1 ? sizeof(PlumbBlockQ8_1) : sizeof(PlumbBlockQ8_0);
    uint8_t *buf = xmalloc((size_t)(n / PLUMB_QK) * bsz);
    int bad = 0;

    (q8_1 ? plumb_from_float_q8_1_c : plumb_from_float_q8_0_c)(x, buf, n);
    for (int64_t b = 0; b < n / PLUMB_QK && bad < 3; b++) {
        const float *xb = x + b * PLUMB_QK;
        const uint8_t *blk = buf + (size_t)b * bsz;
        uint16_t dh;
        const int8_t *qs = (const int8_t *)(blk + (q8_1 ? 4 : 2));
        float amax = 0, d;
        int sum = 0, at_max = 0;

        memcpy(&dh, blk, 2);
        for (int j = 0; j < PLUMB_QK; j++)
            amax = fabsf(xb[j]) > amax ? fabsf(xb[j]) : amax;
        d = amax / 127.0f;
        if (dh != plumb_fp32_to_fp16(d)) {
            bad++;
            fprintf(stderr, "%s block %lld: d 0x%04x, want half of %g\n", what, (long long)b, dh,
                    (double)d);
        }
        for (int j = 0; j < PLUMB_QK; j++) {
            sum += qs[j];
            if (fabsf(xb[j]) == amax && amax > 0)
                at_max |= qs[j] == (xb[j] > 0 ? 127 : -127);
            /* |x - q d| <= d/2 (plus float slack); q from the unrounded d */
            if (qs[j] < -127 ||
                (isfinite(d) && fabs((double)xb[j] - (double)qs[j] * d) > 0.5001 * d + 1e-38)) {
                if (bad++ < 3)
                    fprintf(stderr, "%s block %lld [%d]: x %g q %d d %g\n", what, (long long)b, j,
                            (double)xb[j], qs[j], (double)d);
            }
        }
        if (amax > 0 && !at_max)
            bad++;
        if (q8_1) {
            uint16_t sh;
            memcpy(&sh, blk + 2, 2);
            if (sh != plumb_fp32_to_fp16((float)sum * d))
                bad++;
        }
    }
    CHECK(bad == 0, "%s: %s quantisation wrong", what, q8_1 ? "Q8_1" : "Q8_0");
    free(buf);
}

static void check_q8_K(const float *x, int64_t n, const char *what)
{
    PlumbBlockQ8_K *y = xmalloc((size_t)(n / PLUMB_QK_K) * sizeof *y);
    int bad = 0;

    plumb_from_float_q8_K_c(x, y, n);
    for (int64_t b = 0; b < n / PLUMB_QK_K; b++) {
        const float *xb = x + b * PLUMB_QK_K;
        float amax = 0;
        int imax = 0;
        for (int j = 0; j < PLUMB_QK_K; j++)
            if (fabsf(xb[j]) > amax) {
                amax = fabsf(xb[j]);
                imax = j;
            }
        for (int g = 0; g < PLUMB_QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++)
                s += y[b].qs[16 * g + l];
            bad += y[b].bsums[g] != s;
        }
        if (amax == 0) {
            bad += y[b].d != 0.0f;
            for (int j = 0; j < PLUMB_QK_K; j++)
                bad += y[b].qs[j] != 0;
            continue;
        }
        /* the largest-magnitude element maps to -127: d has the opposite sign */
        bad += y[b].qs[imax] != -127;
        bad += !(fabs((double)y[b].d * -127.0 - xb[imax]) <= 1e-6 * amax);
        for (int j = 0; j < PLUMB_QK_K; j++) {
            double e = fabs((double)xb[j] - (double)y[b].qs[j] * y[b].d);
            if (e > 0.5001 * fabs((double)y[b].d) || y[b].qs[j] < -127) {
                if (bad++ < 3)
                    fprintf(stderr, "%s block %lld [%d]: x %g q %d d %g\n", what, (long long)b, j,
                            (double)xb[j], y[b].qs[j], (double)y[b].d);
            }
        }
    }
    CHECK(bad == 0, "%s: Q8_K quantisation wrong (%d problems)", what, bad);
    free(y);
}

static void test_quantisers(void)
{
    enum { N = 4096 };
    float *x = xmalloc(N * sizeof(float));

    /* random normal, random wide dynamic range */
    for (int i = 0; i < N; i++)
        x[i] = rng_normal();
    check_q8_0(x, N, 0, "normal");
    check_q8_0(x, N, 1, "normal");
    check_q8_K(x, N, "normal");
    for (int i = 0; i < N; i++)
        x[i] = (float)(rng_normal() * exp(20.0 * (rng_unif() - 0.5)));
    check_q8_0(x, N, 0, "wide range");
    check_q8_0(x, N, 1, "wide range");
    check_q8_K(x, N, "wide range");

    /* edge blocks: zero, one huge value, tiny values, +-FLT_MAX, positive max */
    memset(x, 0, N * sizeof(float));
    x[256 + 5] = 1e30f;
    for (int i = 512; i < 768; i++)
        x[i] = 1e-30f * (float)(i % 7 - 3);
    for (int i = 768; i < 1024; i++)
        x[i] = (i & 1) ? FLT_MAX : -FLT_MAX;
    for (int i = 1024; i < 1280; i++)
        x[i] = (float)(i % 13) * 0.25f;
    for (int i = 1280; i < 1536; i++)
        x[i] = 1e-3f * rng_normal();
    x[1300] = -1000.0f;
    check_q8_K(x, 1536, "edge");
    {
        PlumbBlockQ8_0 q0[48];
        PlumbBlockQ8_1 q1[48];
        plumb_from_float_q8_0_c(x, q0, 1536);
        plumb_from_float_q8_1_c(x, q1, 1536);
        CHECK(q0[0].d == 0 && q1[0].d == 0 && q1[0].s == 0 && q0[0].qs[0] == 0 && q0[0].qs[31] == 0,
              "all-zero block");
        CHECK(q0[8].qs[5] == 127 && q0[8].qs[4] == 0 && q0[8].d == plumb_fp32_to_fp16(1e30f / 127),
              "one huge value: q %d, others %d, d 0x%04x", q0[8].qs[5], q0[8].qs[4], q0[8].d);
        CHECK(q0[8].d == 0x7c00, "a scale past the half range is inf (as in GGUF producers)");
        /* tiny values: the half scale underflows to 0, the quants still use
         * the float scale */
        CHECK(q0[16].d == 0, "tiny block: d 0x%04x", q0[16].d);
        int n127 = 0;
        for (int j = 0; j < PLUMB_QK; j++)
            n127 += abs(q0[16].qs[j]) == 127;
        CHECK(n127 > 0, "tiny block: the largest value must still map to +-127");
        CHECK(q0[24].qs[0] == -127 && q0[24].qs[1] == 127 && q0[24].d == 0x7c00, "+-FLT_MAX block");
    }
    check_q8_0(x, 1536, 0, "edge");
    check_q8_0(x, 1536, 1, "edge");

    /* Rounding conventions.  Q8_0/Q8_1: d = amax/127, x scaled by 127/amax,
     * halves round to even (as llama.cpp's x86 and ARM quantisers do); Q8_K:
     * the scale is max/-127 and halves round to even. */
    {
        float b[PLUMB_QK_K];
        PlumbBlockQ8_0 q0;
        PlumbBlockQ8_K qk;
        memset(b, 0, sizeof b);
        b[0] = 127.0f; /* d = 1 exactly */
        b[1] = 2.5f;
        b[2] = -2.5f;
        b[3] = 3.5f;
        b[4] = 0.5f;
        b[5] = -126.5f;
        plumb_from_float_q8_0_c(b, &q0, PLUMB_QK);
        CHECK(q0.d == 0x3c00 && q0.qs[0] == 127 && q0.qs[1] == 2 && q0.qs[2] == -2 &&
                  q0.qs[3] == 4 && q0.qs[4] == 0 && q0.qs[5] == -126,
              "Q8_0 ties: %d %d %d %d %d", q0.qs[1], q0.qs[2], q0.qs[3], q0.qs[4], q0.qs[5]);
        b[0] = -127.0f; /* iscale = 1 exactly, d = 1 */
        plumb_from_float_q8_K_c(b, &qk, PLUMB_QK_K);
        CHECK(qk.d == 1.0f && qk.qs[0] == -127 && qk.qs[1] == 2 && qk.qs[2] == -2 &&
                  qk.qs[3] == 4 && qk.qs[4] == 0 && qk.qs[5] == -126,
              "Q8_K ties: d %g, %d %d %d %d %d", (double)qk.d, qk.qs[1], qk.qs[2], qk.qs[3],
              qk.qs[4], qk.qs[5]);
        CHECK(qk.bsums[0] == -127 + 2 - 2 + 4 + 0 - 126 && qk.bsums[1] == 0, "Q8_K bsums %d %d",
              qk.bsums[0], qk.bsums[1]);
        b[0] = 127.0f; /* positive max: d = -1, signs flip */
        plumb_from_float_q8_K_c(b, &qk, PLUMB_QK_K);
        CHECK(qk.d == -1.0f && qk.qs[0] == -127 && qk.qs[1] == -2 && qk.qs[3] == -4,
              "Q8_K positive max: d %g q %d %d", (double)qk.d, qk.qs[0], qk.qs[1]);
    }

    /* F16 / BF16 / F32 activations are element-wise conversions */
    {
        uint16_t h[64];
        float back[64];
        for (int i = 0; i < 64; i++)
            x[i] = rng_normal() * 1000.0f;
        x[0] = 1e9f;
        x[1] = f32_from_bits(0x7fc00001u);
        plumb_from_float_f16_c(x, h, 64);
        int bad = 0;
        for (int i = 0; i < 64; i++)
            bad += h[i] != plumb_fp32_to_fp16(x[i]);
        plumb_from_float_bf16_c(x, h, 64);
        for (int i = 0; i < 64; i++)
            bad += h[i] != plumb_fp32_to_bf16(x[i]);
        plumb_from_float_f32_c(x, back, 64);
        bad += memcmp(back, x, sizeof back) != 0;
        CHECK(bad == 0, "F16/BF16/F32 activation conversion differs from the scalar conversion");
    }
    free(x);
}

/* ------------------------------------------------------------ 6. vector ops */

static void test_vector_ops(void)
{
    enum { N = 1000 };
    float *x = xmalloc(N * sizeof(float)), *y = xmalloc(N * sizeof(float));
    float *w = xmalloc(N * sizeof(float)), *c = xmalloc(N * sizeof(float));
    float *s = xmalloc(N * sizeof(float));
    int bad;

    for (int i = 0; i < N; i++) {
        x[i] = rng_normal() * 3.0f;
        w[i] = 1.0f + 0.1f * rng_normal();
    }

    /* rmsnorm, also in place */
    {
        double ss = 0;
        for (int i = 0; i < N; i++)
            ss += (double)x[i] * x[i];
        double sc = 1.0 / sqrt(ss / N + 1e-6);
        dsp.rmsnorm(y, x, w, N, 1e-6f);
        bad = 0;
        for (int i = 0; i < N; i++)
            bad += fabs(y[i] - x[i] * sc * w[i]) > 1e-6 * fabs(x[i] * sc * w[i]) + 1e-30;
        CHECK(bad == 0, "rmsnorm: %d elements off", bad);
        memcpy(c, x, N * sizeof(float));
        dsp.rmsnorm(c, c, w, N, 1e-6f);
        CHECK(memcmp(c, y, N * sizeof(float)) == 0, "rmsnorm in place differs");
        for (int i = 0; i < 64; i++)
            c[i] = 0;
        dsp.rmsnorm(c, c, w, 64, 1e-5f);
        CHECK(c[0] == 0 && c[63] == 0, "rmsnorm of zeros");
    }

    /* rope: matches the rotation formula and keeps each pair's norm */
    {
        const int hd = 128;
        for (int i = 0; i < hd / 2; i++) {
            double th = 17.0 * pow(1e6, -2.0 * i / hd);
            c[i] = (float)cos(th);
            s[i] = (float)sin(th);
        }
        memcpy(y, x, hd * sizeof(float));
        dsp.rope_neox(y, c, s, hd);
        bad = 0;
        for (int i = 0; i < hd / 2; i++) {
            double x0 = x[i], x1 = x[i + hd / 2];
            double r0 = x0 * c[i] - x1 * s[i], r1 = x0 * s[i] + x1 * c[i];
            double n0 = sqrt(x0 * x0 + x1 * x1), n1 = sqrt((double)y[i] * y[i] +
                                                           (double)y[i + hd / 2] * y[i + hd / 2]);
            bad += fabs(y[i] - r0) > 1e-6 * n0 || fabs(y[i + hd / 2] - r1) > 1e-6 * n0;
            bad += fabs(n1 - n0) > 1e-5 * n0;
        }
        CHECK(bad == 0, "rope_neox: %d pairs off", bad);
    }

    /* softmax */
    {
        double mx = -INFINITY, sum = 0, tot = 0;
        memcpy(y, x, N * sizeof(float));
        for (int i = 0; i < N; i++)
            mx = x[i] > mx ? x[i] : mx;
        for (int i = 0; i < N; i++)
            sum += exp((double)x[i] - mx);
        dsp.softmax(y, N);
        bad = 0;
        for (int i = 0; i < N; i++) {
            double p = exp((double)x[i] - mx) / sum;
            bad += fabs(y[i] - p) > 1e-6 * p + 1e-12;
            tot += y[i];
        }
        CHECK(bad == 0, "softmax: %d elements off", bad);
        CHECK(fabs(tot - 1.0) < 1e-5, "softmax sums to %.9f", tot);
        float big[4] = { 1000.0f, 1001.0f, -INFINITY, 1000.0f };
        dsp.softmax(big, 4);
        CHECK(big[2] == 0.0f && fabs(big[1] / big[0] - exp(1.0)) < 1e-5 &&
                  fabs((double)big[0] + big[1] + big[3] - 1.0) < 1e-6,
              "softmax of large values / -inf: %g %g %g %g", (double)big[0], (double)big[1],
              (double)big[2], (double)big[3]);
        float one[1] = { -5.0f };
        dsp.softmax(one, 1);
        CHECK(one[0] == 1.0f, "softmax of one element = %g", (double)one[0]);
    }

    /* swiglu */
    {
        for (int i = 0; i < N; i++)
            c[i] = rng_normal();
        x[0] = 100.0f;
        x[1] = -100.0f;
        x[2] = 0.0f;
        dsp.swiglu(y, x, c, N);
        bad = 0;
        for (int i = 0; i < N; i++) {
            double r = (double)x[i] / (1.0 + exp(-(double)x[i])) * c[i];
            bad += !(fabs(y[i] - r) <= 1e-6 * fabs(r) + 1e-30);
        }
        CHECK(bad == 0, "swiglu: %d elements off", bad);
        CHECK(y[2] == 0.0f && fabsf(y[1]) < 1e-30f && y[0] == 100.0f * c[0], "swiglu extremes");
    }

    /* dot, axpy, scale */
    {
        double r = 0, mag = 0;
        for (int i = 0; i < N; i++) {
            r += (double)x[i] * w[i];
            mag += fabs((double)x[i] * w[i]);
        }
        float d = dsp.dot_f32(x, w, N);
        CHECK(fabs(d - r) <= 1e-7 * mag, "dot_f32 %.9g vs %.9g", (double)d, r);
        CHECK(dsp.dot_f32(x, w, 0) == 0.0f, "empty dot");
        memcpy(y, w, N * sizeof(float));
        dsp.axpy(y, 0.75f, x, N);
        bad = 0;
        for (int i = 0; i < N; i++)
            bad += y[i] != w[i] + 0.75f * x[i];
        CHECK(bad == 0, "axpy: %d elements off", bad);
        memcpy(y, x, N * sizeof(float));
        dsp.scale(y, -0.125f, N - 1);
        bad = y[N - 1] != x[N - 1];
        for (int i = 0; i < N - 1; i++)
            bad += y[i] != x[i] * -0.125f;
        CHECK(bad == 0, "scale: %d elements off (or past n)", bad);
    }

    /* topk: order, ties to the lower index, k == n, k == 1 */
    {
        int32_t idx[16];
        const float v[10] = { 1, 5, 3, 5, -2, 7, 3, 5, 0, 7 };
        const int32_t want[10] = { 5, 9, 1, 3, 7, 2, 6, 0, 8, 4 };
        dsp.topk(v, 10, 10, idx);
        CHECK(memcmp(idx, want, sizeof want) == 0, "topk full order: %d %d %d %d %d %d %d %d %d %d",
              idx[0], idx[1], idx[2], idx[3], idx[4], idx[5], idx[6], idx[7], idx[8], idx[9]);
        dsp.topk(v, 10, 4, idx);
        CHECK(memcmp(idx, want, 4 * sizeof(int32_t)) == 0, "topk 4: %d %d %d %d", idx[0], idx[1],
              idx[2], idx[3]);
        dsp.topk(v, 10, 1, idx);
        CHECK(idx[0] == 5, "topk 1: %d", idx[0]);
        const float eq[5] = { 2, 2, 2, 2, 2 };
        dsp.topk(eq, 5, 3, idx);
        CHECK(idx[0] == 0 && idx[1] == 1 && idx[2] == 2, "topk all equal: %d %d %d", idx[0], idx[1],
              idx[2]);
        const float nn[4] = { NAN, -1, NAN, -INFINITY };
        dsp.topk(nn, 4, 4, idx);
        CHECK(idx[0] == 1 && idx[1] == 0 && idx[2] == 2 && idx[3] == 3, "topk NaN ranks as -inf");

        /* random against a full sort */
        bad = 0;
        for (int rep = 0; rep < 50; rep++) {
            int n = 1 + (int)(rng_u64() % 300), k = 1 + (int)(rng_u64() % 16);
            k = k > n ? n : k;
            for (int i = 0; i < n; i++)
                x[i] = (float)(rng_u64() % 20); /* many ties */
            dsp.topk(x, n, k, idx);
            for (int r = 0; r < k; r++) {
                /* idx[r] must be the r-th in (value desc, index asc) order */
                int better = 0;
                for (int i = 0; i < n; i++)
                    better += x[i] > x[idx[r]] || (x[i] == x[idx[r]] && i < idx[r]);
                bad += better != r;
            }
        }
        CHECK(bad == 0, "topk random: %d misplaced", bad);
    }
    free(x);
    free(y);
    free(w);
    free(c);
    free(s);
}

int main(void)
{
    plumb_dsp_init_c(&dsp);
    test_traits();
    test_fp16();
    test_quantisers();
    test_vector_ops();
    test_vec_dot();
    test_fixtures();
    return test_done("test_quant");
}
