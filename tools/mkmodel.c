/*
 * mkmodel.c — `plumb mkmodel`: write a synthetic GGUF model with the exact
 * tensor layout, types and size of a real one, filled with random but valid
 * weights, so speed and memory can be measured (by plumb and by llama.cpp,
 * on the same file) without downloading the real weights.
 *
 * What is real: the architecture keys, every tensor's name, shape and type
 * (the per-tensor type mix follows the rules llama.cpp's llama-quantize
 * applies for each file type, including its fallbacks for rows that do not
 * fit a block size) and, with --vocab, the tokenizer.  What is random: the
 * blocks.  Quantised blocks are written directly (nothing is quantised):
 * random quants, fp16 scales chosen so every weight matrix has a standard
 * deviation near 0.02 and sub-block means near zero, norm weights near 1,
 * router weights scaled so routing logits have unit variance.  Activations
 * of such a model stay finite through any number of layers.
 *
 * With --peaked (float types only) the attention gets the traits of a
 * trained model's that decide how well a quantised key/value cache does,
 * and that random weights lack (their attention is nearly uniform, which
 * any cache type reproduces): peaked scores, a few key channels far larger
 * than the others, and an attention sink.  See `Peaked` below.  For float
 * types mkmodel then measures the attention of layer 0 (probe_attention).
 *
 * Every block is generated from a counter-based random stream keyed by
 * (seed, tensor, block), so the file is a function of the options alone —
 * not of the thread count — and blocks can be generated in any order by any
 * thread.  Data streams through the GGUF writer's buffer: memory use does
 * not grow with the model.
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "qtypes.h"
#include "threadpool.h"

/* ------------------------------------------------------------ presets */

typedef struct Preset {
    const char *name;   /* --preset value */
    const char *arch;   /* general.architecture: "qwen3moe" or "qwen3" */
    uint32_t n_layer;   /* transformer blocks */
    uint32_t n_embd;    /* model width */
    uint32_t n_head;    /* query heads */
    uint32_t n_head_kv; /* key/value heads */
    uint32_t head_dim;  /* per head */
    uint32_t n_ff;      /* dense FFN width (feed_forward_length) */
    uint32_t n_expert;  /* experts per layer, 0 for dense */
    uint32_t n_expert_used; /* experts per token */
    uint32_t n_ff_exp;  /* expert FFN width */
    uint32_t n_vocab;   /* tokens */
    uint32_t n_ctx;     /* context_length */
    float rope_base;    /* rope.freq_base */
    float rms_eps;      /* layer_norm_rms_epsilon */
    const char *what;   /* one line for --help */
} Preset;

static const Preset presets[] = {
    { "qwen3-30b-a3b", "qwen3moe", 48, 2048, 32, 4, 128, 6144, 128, 8, 768, 151936, 131072, 1e6f,
      1e-6f, "Qwen3-30B-A3B / Tongyi-DeepResearch-30B-A3B (30.5B parameters)" },
    { "qwen3-moe-small", "qwen3moe", 2, 256, 4, 2, 64, 512, 8, 2, 256, 2048, 40960, 1e6f, 1e-6f,
      "the layout of tests/data/models/small-*.gguf" },
    { "qwen3-moe-tiny", "qwen3moe", 2, 64, 4, 2, 16, 64, 4, 2, 32, 1024, 40960, 1e6f, 1e-6f,
      "the layout of tests/data/models/mini-f32.gguf" },
    { "qwen3-dense-small", "qwen3", 2, 256, 4, 2, 64, 512, 0, 0, 0, 2048, 40960, 1e6f, 1e-6f,
      "the layout of tests/data/models/dense-*.gguf (dense FFN)" },
    { "qwen3-moe-attn", "qwen3moe", 4, 512, 32, 4, 128, 512, 8, 2, 256, 2048, 40960, 1e6f, 1e-6f,
      "Qwen3-30B-A3B's attention (32 q / 4 kv heads of 128) in 4 small layers, for cache tests" },
};

/* ------------------------------------------------------------ file types */

/* llama.cpp's file type ids (general.file_type) and their base tensor type. */
typedef struct FType {
    const char *name; /* --type value */
    uint32_t id;      /* general.file_type */
    uint32_t base;    /* PLUMB_QTYPE_* of most weight matrices */
} FType;

enum {
    FT_F32 = 0, FT_F16 = 1, FT_Q4_0 = 2, FT_Q4_1 = 3, FT_Q8_0 = 7, FT_Q5_0 = 8, FT_Q5_1 = 9,
    FT_Q2_K = 10, FT_Q3_K_M = 12, FT_Q4_K_S = 14, FT_Q4_K_M = 15, FT_Q5_K_S = 16,
    FT_Q5_K_M = 17, FT_Q6_K = 18, FT_IQ4_NL = 25, FT_IQ4_XS = 30, FT_BF16 = 32,
};

static const FType ftypes[] = {
    { "F32", FT_F32, PLUMB_QTYPE_F32 },         { "F16", FT_F16, PLUMB_QTYPE_F16 },
    { "BF16", FT_BF16, PLUMB_QTYPE_BF16 },      { "Q8_0", FT_Q8_0, PLUMB_QTYPE_Q8_0 },
    { "Q6_K", FT_Q6_K, PLUMB_QTYPE_Q6_K },      { "Q5_K_M", FT_Q5_K_M, PLUMB_QTYPE_Q5_K },
    { "Q5_K_S", FT_Q5_K_S, PLUMB_QTYPE_Q5_K },  { "Q5_1", FT_Q5_1, PLUMB_QTYPE_Q5_1 },
    { "Q5_0", FT_Q5_0, PLUMB_QTYPE_Q5_0 },      { "Q4_K_M", FT_Q4_K_M, PLUMB_QTYPE_Q4_K },
    { "Q4_K_S", FT_Q4_K_S, PLUMB_QTYPE_Q4_K },  { "Q4_1", FT_Q4_1, PLUMB_QTYPE_Q4_1 },
    { "Q4_0", FT_Q4_0, PLUMB_QTYPE_Q4_0 },      { "IQ4_NL", FT_IQ4_NL, PLUMB_QTYPE_IQ4_NL },
    { "IQ4_XS", FT_IQ4_XS, PLUMB_QTYPE_IQ4_XS }, { "Q3_K_M", FT_Q3_K_M, PLUMB_QTYPE_Q3_K },
    { "Q2_K", FT_Q2_K, PLUMB_QTYPE_Q2_K },
};

/* What a tensor is, for the type rules and for the values it gets. */
typedef enum Cat {
    CAT_NORM,       /* RMSNorm weights: F32, values near 1 */
    CAT_Q_NORM,     /* attn_q_norm: as CAT_NORM */
    CAT_K_NORM,     /* attn_k_norm: as CAT_NORM */
    CAT_ROUTER,     /* ffn_gate_inp: F32 */
    CAT_TOKEN_EMBD,
    CAT_OUTPUT,
    CAT_ATTN_Q,
    CAT_ATTN_K,
    CAT_ATTN_V,
    CAT_ATTN_OUTPUT,
    CAT_FFN_GATE,
    CAT_FFN_UP,
    CAT_FFN_DOWN,
} Cat;

static int is_norm(Cat cat)
{
    return cat == CAT_NORM || cat == CAT_Q_NORM || cat == CAT_K_NORM;
}

/* Layers that get more bits in the _M mixes. */
static int use_more_bits(int i_layer, int n_layer)
{
    return i_layer < n_layer / 8 || i_layer >= 7 * n_layer / 8 || (i_layer - n_layer / 8) % 3 == 2;
}

static int is_quantised(uint32_t t)
{
    return t != PLUMB_QTYPE_F32 && t != PLUMB_QTYPE_F16 && t != PLUMB_QTYPE_BF16;
}

/* The type llama-quantize gives a tensor of category cat in layer `layer`
 * (attn_v tensors counted in file order by *i_attn_v), for file type ft, as
 * its rules read at llama.cpp 34af94cd (src/llama-quant.cpp), restricted to
 * the file types offered here and a source model in F32/F16/BF16 without an
 * importance matrix. */
static uint32_t tensor_type(const Preset *p, const FType *ft, Cat cat, int layer, uint64_t ne0,
                            int *i_attn_v)
{
    uint32_t t = ft->base, id = ft->id;
    int n_layer = (int)p->n_layer, gqa = (int)(p->n_head / p->n_head_kv);
    int moe8 = p->n_expert == 8;
    const PlumbQTraits *tr;
    if (is_norm(cat) || cat == CAT_ROUTER)
        return PLUMB_QTYPE_F32; /* never quantised; converters write them as F32 */
    if (!is_quantised(t))
        return t;

    switch (cat) {
    case CAT_OUTPUT:
        if (ne0 % (uint64_t)plumb_qtype_traits(t)->blck)
            t = PLUMB_QTYPE_Q8_0;
        else if (t != PLUMB_QTYPE_Q8_0)
            t = PLUMB_QTYPE_Q6_K;
        break;
    case CAT_ATTN_V:
        if (id == FT_Q2_K)
            t = gqa >= 4 ? PLUMB_QTYPE_Q4_K : PLUMB_QTYPE_Q3_K;
        else if (id == FT_Q3_K_M)
            t = *i_attn_v < 2 ? PLUMB_QTYPE_Q5_K : PLUMB_QTYPE_Q4_K;
        else if ((id == FT_IQ4_NL || id == FT_IQ4_XS) && gqa >= 4)
            t = PLUMB_QTYPE_Q5_K;
        else if ((id == FT_Q4_K_M || id == FT_Q5_K_M) && use_more_bits(*i_attn_v, n_layer))
            t = PLUMB_QTYPE_Q6_K;
        else if (id == FT_Q4_K_S && *i_attn_v < 4)
            t = PLUMB_QTYPE_Q5_K;
        if (moe8)
            t = PLUMB_QTYPE_Q8_0;
        ++*i_attn_v;
        break;
    case CAT_ATTN_K:
        if (moe8)
            t = PLUMB_QTYPE_Q8_0;
        break;
    case CAT_FFN_DOWN:
        if (id == FT_Q2_K)
            t = PLUMB_QTYPE_Q3_K;
        else if (id == FT_Q3_K_M)
            t = layer < n_layer / 16 ? PLUMB_QTYPE_Q5_K : PLUMB_QTYPE_Q4_K;
        else if (id == FT_Q4_K_M) {
            if (use_more_bits(layer, n_layer))
                t = PLUMB_QTYPE_Q6_K;
        } else if (layer < n_layer / 8 && (id == FT_IQ4_NL || id == FT_IQ4_XS))
            t = PLUMB_QTYPE_Q5_K;
        else if (id == FT_Q5_K_M && use_more_bits(layer, n_layer))
            t = PLUMB_QTYPE_Q6_K;
        else if (id == FT_Q4_K_S && layer < n_layer / 8)
            t = PLUMB_QTYPE_Q5_K;
        break;
    case CAT_ATTN_OUTPUT:
        if (moe8) {
            if (id == FT_Q2_K || id == FT_Q3_K_M || id == FT_IQ4_NL || id == FT_Q4_K_S ||
                id == FT_Q4_K_M || id == FT_IQ4_XS)
                t = PLUMB_QTYPE_Q5_K;
        } else if (id == FT_Q2_K) {
            t = PLUMB_QTYPE_Q3_K;
        } else if (id == FT_Q3_K_M) {
            t = PLUMB_QTYPE_Q4_K;
        }
        break;
    default:
        break;
    }

    /* Rows that do not fill a block fall back to a type that fits. */
    tr = plumb_qtype_traits(t);
    if (ne0 % (uint64_t)tr->blck) {
        switch (t) {
        case PLUMB_QTYPE_IQ4_XS: t = PLUMB_QTYPE_IQ4_NL; break;
        case PLUMB_QTYPE_Q2_K:
        case PLUMB_QTYPE_Q3_K: t = PLUMB_QTYPE_Q4_0; break;
        case PLUMB_QTYPE_Q4_K: t = PLUMB_QTYPE_Q5_0; break;
        case PLUMB_QTYPE_Q5_K: t = PLUMB_QTYPE_Q5_1; break;
        case PLUMB_QTYPE_Q6_K: t = PLUMB_QTYPE_Q8_0; break;
        default: break;
        }
        if (ne0 % (uint64_t)plumb_qtype_traits(t)->blck)
            t = PLUMB_QTYPE_F16;
    }
    return t;
}

/* ------------------------------------------------------------ --peaked */

/*
 * Qwen3 normalises every query and key head (attn_q_norm, attn_k_norm)
 * before RoPE, so the size of the attention scores is set by those norm
 * weights, not by Wq and Wk: with roughly independent unit-RMS heads,
 * q.k / sqrt(head_dim) has a standard deviation near the product of the
 * two weights.  --peaked shapes a model so that:
 *
 *  - scores have a standard deviation near 4 (PK_QK squared): over a few
 *    thousand keys the softmax is dominated by a handful of them, as in
 *    trained models, so a small error in a score moves the output;
 *  - in every key head the channels of the PK_OUT_PAIRS slowest-turning
 *    RoPE pairs (the last of each half; RoPE barely moves them over any
 *    context) are PK_OUTLIER times the others, as Qwen3's keys have: they
 *    set the scale of the quantisation blocks they fall in.  The queries'
 *    weights on those channels are as much smaller, so the scores do not
 *    hinge on them;
 *  - token 0 is an attention sink: every query carries a fixed component
 *    on the outlier channels and token 0's key points along it with a
 *    large norm, so it draws weight from every later position.
 *
 * How: residual dimension 0 holds PK_BIAS for every token and dimension 1
 * PK_SINK for token 0 and 0 for the others (embedding columns 0 and 1);
 * attention and expert outputs never write them (rows 0 and 1 of
 * attn_output and ffn_down zero), so they reach every layer as they
 * started.  Wq reads dimension 0 only into the outlier channels
 * (PK_WQ_BIAS), Wk reads dimension 1 only into them (PK_WK_SINK); nothing
 * else reads either (their columns of Wq, Wk, Wv and the output matrix are
 * zero).  The embedding has unit deviation, like the test fixtures', so
 * each layer's attention moves the residual by about half of it.
 */
#define PK_QK 1.95f      /* attn_q_norm and attn_k_norm weights of the ordinary channels */
#define PK_OUTLIER 15.0f /* outlier key channels: weight times this; queries' divided */
#define PK_OUT_PAIRS 2u  /* RoPE pairs with outlier channels per head (2 channels each) */
#define PK_BIAS 4.0f     /* residual dimension 0, every token */
#define PK_SINK 16.0f    /* residual dimension 1, token 0 */
#define PK_WQ_BIAS 0.15f  /* Wq from dimension 0 into the outlier channels */
#define PK_WK_SINK 0.25f /* Wk from dimension 1 into the outlier channels */

typedef struct Peaked {
    int on;            /* --peaked given */
    uint32_t head_dim; /* elements per query/key head */
} Peaked;

/* Channel c (of a head) is an outlier key channel. */
static int pk_outlier(const Peaked *pk, uint64_t c)
{
    uint32_t half = pk->head_dim / 2;
    return c % half >= half - PK_OUT_PAIRS;
}

/* Element (row, col) of a tensor of category cat as --peaked makes it, from
 * the random value v it would have otherwise; row counts rows of all
 * experts, col the elements of a row (the position in a 1-D tensor). */
static float pk_shape(const Peaked *pk, Cat cat, uint64_t row, uint64_t col, uint64_t n_rows,
                      float v)
{
    uint64_t c = row % pk->head_dim;
    switch (cat) {
    case CAT_TOKEN_EMBD:
        return col == 0 ? PK_BIAS : col == 1 ? (row == 0 ? PK_SINK : 0.0f) : v;
    case CAT_OUTPUT:
    case CAT_ATTN_V:
        return col < 2 ? 0.0f : v;
    case CAT_ATTN_Q:
        return col == 0 ? (pk_outlier(pk, c) ? PK_WQ_BIAS : 0.0f) : col == 1 ? 0.0f : v;
    case CAT_ATTN_K:
        return col == 1 ? (pk_outlier(pk, c) ? PK_WK_SINK : 0.0f) : col == 0 ? 0.0f : v;
    case CAT_ATTN_OUTPUT:
    case CAT_FFN_DOWN:
        return row % n_rows < 2 ? 0.0f : v;
    case CAT_Q_NORM:
        return v * (pk_outlier(pk, col) ? PK_QK / PK_OUTLIER : PK_QK);
    case CAT_K_NORM:
        return v * (pk_outlier(pk, col) ? PK_QK * PK_OUTLIER : PK_QK);
    default:
        return v;
    }
}

/* ------------------------------------------------------------ the plan */

typedef struct TensorPlan {
    char name[64];   /* GGUF tensor name */
    Cat cat;         /* role */
    uint32_t type;   /* PLUMB_QTYPE_* */
    uint32_t n_dims; /* 1..3 */
    uint64_t ne[3];  /* elements per dim, innermost first */
    float sigma;     /* standard deviation of the weights (norms: of the offset from 1) */
} TensorPlan;

typedef struct Plan {
    TensorPlan *t;   /* [n] in file order */
    size_t n, cap;   /* used / allocated */
} Plan;

static int plan_add(Plan *pl, const char *name, Cat cat, uint32_t n_dims, uint64_t ne0,
                    uint64_t ne1, uint64_t ne2)
{
    TensorPlan *t;
    if (pl->n == pl->cap) {
        size_t cap = pl->cap ? pl->cap * 2 : 64;
        TensorPlan *nt = realloc(pl->t, cap * sizeof *nt);
        if (!nt)
            return -1;
        pl->t = nt;
        pl->cap = cap;
    }
    t = &pl->t[pl->n++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->cat = cat;
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = ne2;
    return 0;
}

/* All tensors of the model, in the order llama-quantize leaves them. */
static int make_plan(Plan *pl, const Preset *p, const FType *ft, const Peaked *pk)
{
    uint64_t E = p->n_embd, V = p->n_vocab, Q = (uint64_t)p->n_head * p->head_dim;
    uint64_t KV = (uint64_t)p->n_head_kv * p->head_dim, X = p->n_expert;
    uint32_t l;
    size_t i;
    int i_attn_v = 0;
    char nm[64];
#define ADD(name, cat, nd, a, b, c) \
    do { if (plan_add(pl, name, cat, nd, a, b, c)) return -1; } while (0)
#define BLK(suffix, cat, nd, a, b, c) \
    do { snprintf(nm, sizeof nm, "blk.%u.%s.weight", l, suffix); ADD(nm, cat, nd, a, b, c); } while (0)
    ADD("output.weight", CAT_OUTPUT, 2, E, V, 1);
    ADD("output_norm.weight", CAT_NORM, 1, E, 1, 1);
    ADD("token_embd.weight", CAT_TOKEN_EMBD, 2, E, V, 1);
    for (l = 0; l < p->n_layer; l++) {
        BLK("attn_k", CAT_ATTN_K, 2, E, KV, 1);
        BLK("attn_k_norm", CAT_K_NORM, 1, p->head_dim, 1, 1);
        BLK("attn_norm", CAT_NORM, 1, E, 1, 1);
        BLK("attn_output", CAT_ATTN_OUTPUT, 2, Q, E, 1);
        BLK("attn_q", CAT_ATTN_Q, 2, E, Q, 1);
        BLK("attn_q_norm", CAT_Q_NORM, 1, p->head_dim, 1, 1);
        BLK("attn_v", CAT_ATTN_V, 2, E, KV, 1);
        if (X) {
            BLK("ffn_down_exps", CAT_FFN_DOWN, 3, p->n_ff_exp, E, X);
            BLK("ffn_gate_exps", CAT_FFN_GATE, 3, E, p->n_ff_exp, X);
            BLK("ffn_gate_inp", CAT_ROUTER, 2, E, X, 1);
            BLK("ffn_norm", CAT_NORM, 1, E, 1, 1);
            BLK("ffn_up_exps", CAT_FFN_UP, 3, E, p->n_ff_exp, X);
        } else {
            BLK("ffn_down", CAT_FFN_DOWN, 2, p->n_ff, E, 1);
            BLK("ffn_gate", CAT_FFN_GATE, 2, E, p->n_ff, 1);
            BLK("ffn_norm", CAT_NORM, 1, E, 1, 1);
            BLK("ffn_up", CAT_FFN_UP, 2, E, p->n_ff, 1);
        }
    }
#undef BLK
#undef ADD
    for (i = 0; i < pl->n; i++) {
        TensorPlan *t = &pl->t[i];
        int layer = 0;
        if (sscanf(t->name, "blk.%d.", &layer) != 1)
            layer = 0;
        t->type = tensor_type(p, ft, t->cat, layer, t->ne[0], &i_attn_v);
        t->sigma = is_norm(t->cat) ? 0.1f
                 : t->cat == CAT_ROUTER ? 1.0f / sqrtf((float)p->n_embd)
                 : t->cat == CAT_TOKEN_EMBD && pk->on ? 1.0f
                                                      : 0.02f;
    }
    return 0;
}

/* ------------------------------------------------------------ random blocks */

/* Counter-based stream: splitmix64 steps from a state derived from
 * (key, index). */
static inline uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct Rng {
    uint64_t s; /* splitmix64 state */
} Rng;

static inline uint64_t rng_next(Rng *r)
{
    return mix64(r->s += 0x9e3779b97f4a7c15ull);
}

static inline Rng rng_at(uint64_t key, uint64_t index)
{
    Rng r = { mix64(key ^ mix64(index + 0x632be59bd9b4e019ull)) };
    return r;
}

/* Uniform in [0, 1) from the top 24 bits. */
static inline float unit(uint64_t bits)
{
    return (float)(bits >> 40) * (1.0f / 16777216.0f);
}

static void fill_bytes(Rng *r, uint8_t *p, size_t n)
{
    while (n >= 8) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, 8);
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t v = rng_next(r);
        memcpy(p, &v, n);
    }
}

static void put_half(uint8_t *p, float f)
{
    uint16_t h = plumb_fp32_to_fp16(f);
    memcpy(p, &h, 2);
}

/* Standard deviation of the value a random block represents per unit of d,
 * for the block layouts filled by make_block() (see there). */
static float block_spread(uint32_t type)
{
    switch (type) {
    case PLUMB_QTYPE_Q4_0: return 4.637f;  /* q - 8, q in 0..15 */
    case PLUMB_QTYPE_Q4_1: return 4.610f;  /* q - 7.5 */
    case PLUMB_QTYPE_Q5_0: return 9.260f;  /* q - 16, q in 0..31 */
    case PLUMB_QTYPE_Q5_1: return 9.233f;  /* q - 15.5 */
    case PLUMB_QTYPE_Q8_0: return 73.9f;   /* q in -128..127 */
    case PLUMB_QTYPE_IQ4_NL: return 67.4f; /* codebook values */
    case PLUMB_QTYPE_IQ4_XS: return 67.4f * 18.5f; /* codebook * (6-bit scale - 32) */
    case PLUMB_QTYPE_Q2_K: return 10.17f;  /* sc in 1..15, q - 1.5 */
    case PLUMB_QTYPE_Q3_K: return 43.4f;   /* (sc - 32) * (q - 4) */
    case PLUMB_QTYPE_Q4_K: return 169.7f;  /* sc in 1..63, q - 7.5 */
    case PLUMB_QTYPE_Q5_K: return 339.8f;  /* sc in 1..63, q - 15.5 */
    case PLUMB_QTYPE_Q6_K: return 1365.f;  /* int8 sc, q - 32 */
    default: return 1.0f;
    }
}

/* Pack eight 6-bit scales and mins the way Q4_K and Q5_K store them. */
static void pack_k4_scales(uint8_t *q, const uint8_t *sc, const uint8_t *mn)
{
    int j;
    for (j = 0; j < 4; j++) {
        q[j] = (uint8_t)((sc[j] & 63) | ((sc[j + 4] >> 4) << 6));
        q[j + 4] = (uint8_t)((mn[j] & 63) | ((mn[j + 4] >> 4) << 6));
        q[j + 8] = (uint8_t)((sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4));
    }
}

/* One random block of a quantised type at p.  Quants are random bytes; d is
 * d0 times a factor in [0.75, 1.25); formats with a min get min = mean so
 * each sub-block averages zero. */
static void make_block(uint32_t type, uint8_t *p, Rng *r, float d0)
{
    uint64_t u = rng_next(r);
    float d = d0 * (0.75f + 0.5f * unit(u));
    uint8_t sc[16], mn[8];
    int j;
    switch (type) {
    case PLUMB_QTYPE_Q4_0:
    case PLUMB_QTYPE_IQ4_NL:
        put_half(p, d);
        fill_bytes(r, p + 2, 16);
        break;
    case PLUMB_QTYPE_Q4_1:
        put_half(p, d);
        put_half(p + 2, -7.5f * d);
        fill_bytes(r, p + 4, 16);
        break;
    case PLUMB_QTYPE_Q5_0:
        put_half(p, d);
        fill_bytes(r, p + 2, 20);
        break;
    case PLUMB_QTYPE_Q5_1:
        put_half(p, d);
        put_half(p + 2, -15.5f * d);
        fill_bytes(r, p + 4, 20);
        break;
    case PLUMB_QTYPE_Q8_0:
        put_half(p, d);
        fill_bytes(r, p + 2, 32);
        break;
    case PLUMB_QTYPE_IQ4_XS: /* d, scales_h, scales_l[4], qs[128] */
        put_half(p, d);
        fill_bytes(r, p + 2, 134);
        break;
    case PLUMB_QTYPE_Q2_K: { /* scales[16], qs[64], d, dmin */
        fill_bytes(r, sc, 16);
        for (j = 0; j < 16; j++) {
            uint8_t s = (uint8_t)(1 + sc[j] % 15);
            p[j] = (uint8_t)(s | (s << 4));
        }
        fill_bytes(r, p + 16, 64);
        put_half(p + 80, d);
        put_half(p + 82, 1.5f * d);
        break;
    }
    case PLUMB_QTYPE_Q3_K: /* hmask[32], qs[64], scales[12], d */
        fill_bytes(r, p, 108);
        put_half(p + 108, d);
        break;
    case PLUMB_QTYPE_Q4_K:
    case PLUMB_QTYPE_Q5_K: { /* d, dmin, scales[12], (qh[32]), qs[128] */
        float mean = type == PLUMB_QTYPE_Q4_K ? 7.5f : 15.5f;
        fill_bytes(r, sc, 8);
        for (j = 0; j < 8; j++)
            sc[j] = mn[j] = (uint8_t)(1 + sc[j] % 63);
        put_half(p, d);
        put_half(p + 2, mean * d);
        pack_k4_scales(p + 4, sc, mn);
        fill_bytes(r, p + 16, type == PLUMB_QTYPE_Q4_K ? 128 : 160);
        break;
    }
    case PLUMB_QTYPE_Q6_K: /* ql[128], qh[64], scales[16], d */
        fill_bytes(r, p, 208);
        put_half(p + 208, d);
        break;
    default:
        break;
    }
}

/* Element i of a float tensor t (F32, F16, BF16) keyed by key, as stored
 * (rounded to the type) and read back. */
static float float_value(const TensorPlan *t, uint64_t key, uint64_t i, const Peaked *pk)
{
    float a = t->sigma * 1.7320508f; /* uniform in [-a, a) has deviation sigma */
    Rng r = rng_at(key, i);
    float v = (2.0f * unit(rng_next(&r)) - 1.0f) * a;
    if (is_norm(t->cat))
        v += 1.0f;
    if (pk->on)
        v = pk_shape(pk, t->cat, i / t->ne[0], i % t->ne[0], t->ne[1], v);
    if (t->type == PLUMB_QTYPE_F16)
        v = plumb_fp16_to_fp32(plumb_fp32_to_fp16(v));
    else if (t->type == PLUMB_QTYPE_BF16)
        v = plumb_bf16_to_fp32(plumb_fp32_to_bf16(v));
    return v;
}

/* Elements [first, first + n) of a float tensor (F32, F16, BF16). */
static void make_floats(const TensorPlan *t, uint8_t *dst, uint64_t first, uint64_t n,
                        uint64_t key, const Peaked *pk)
{
    uint64_t i;
    for (i = 0; i < n; i++) {
        float v = float_value(t, key, first + i, pk);
        if (t->type == PLUMB_QTYPE_F32) {
            memcpy(dst + 4 * i, &v, 4);
        } else {
            uint16_t h = t->type == PLUMB_QTYPE_F16 ? plumb_fp32_to_fp16(v)
                                                    : plumb_fp32_to_bf16(v);
            memcpy(dst + 2 * i, &h, 2);
        }
    }
}

/* ------------------------------------------------------------ generation */

typedef struct GenJob {
    const TensorPlan *t; /* tensor being written */
    const Peaked *pk;    /* --peaked shaping */
    uint64_t key;        /* stream key of the tensor */
    uint8_t *dst;        /* chunk start */
    uint64_t first;      /* first block (element, for float types) of the chunk */
    uint64_t n;          /* blocks in the chunk */
    uint32_t bsize;      /* bytes per block */
} GenJob;

static void gen_part(void *arg, int ith, int nth)
{
    const GenJob *g = arg;
    const TensorPlan *t = g->t;
    uint64_t lo = g->n * (uint64_t)ith / (uint64_t)nth, hi = g->n * (uint64_t)(ith + 1) / (uint64_t)nth;
    uint64_t b;
    if (!is_quantised(t->type)) {
        make_floats(t, g->dst + lo * g->bsize, g->first + lo, hi - lo, g->key, g->pk);
        return;
    }
    float d0 = t->sigma / block_spread(t->type);
    for (b = lo; b < hi; b++) {
        Rng r = rng_at(g->key, g->first + b);
        make_block(t->type, g->dst + b * g->bsize, &r, d0);
    }
}

/* Stream key of tensor i of the plan. */
static uint64_t tensor_key(uint64_t seed, uint64_t i)
{
    return mix64(seed ^ mix64(i + 1));
}

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    (void)sig;
    interrupted = 1;
}

typedef struct Writer {
    const Plan *plan;      /* tensors */
    const Peaked *pk;      /* --peaked shaping */
    PlumbThreadpool *pool; /* generation threads */
    uint64_t seed;         /* --seed */
    uint64_t done, total;  /* bytes generated / to generate */
    double t0, last;       /* start time, last progress print (s) */
    int progress;          /* print progress on stderr */
} Writer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int fill_chunk(void *arg, uint64_t tensor, uint64_t offset, void *buf, size_t n,
                      PlumbError *err)
{
    Writer *w = arg;
    const TensorPlan *t = &w->plan->t[tensor];
    GenJob g;
    if (interrupted)
        return plumb_err(err, PLUMB_EIO, "interrupted");
    g.t = t;
    g.pk = w->pk;
    g.key = tensor_key(w->seed, tensor);
    g.dst = buf;
    g.bsize = plumb_qtype_traits(t->type)->size;
    g.first = offset / g.bsize;
    g.n = n / g.bsize;
    plumb_threadpool_run(w->pool, gen_part, &g);
    w->done += n;
    if (w->progress) {
        double tn = now_s();
        if (tn - w->last >= 1.0 || w->done == w->total) {
            fprintf(stderr, "\rplumb: mkmodel: %3d%%  %.2f of %.2f GiB  %.0f MiB/s ",
                    (int)(100.0 * (double)w->done / (double)w->total),
                    (double)w->done / 1073741824.0, (double)w->total / 1073741824.0,
                    (double)w->done / 1048576.0 / (tn - w->t0 > 0 ? tn - w->t0 : 1));
            w->last = tn;
        }
    }
    return PLUMB_OK;
}

/* ------------------------------------------------------------ the probe */

/* What probe_attention measured. */
typedef struct Probe {
    int n_tok;          /* tokens of the probe sequence */
    double score_std;   /* RMS over heads and queries of the scores' standard deviation
                           across the keys a query sees (token 0 left out) */
    double top_weight;  /* mean over heads and queries of the largest softmax weight
                           on a token other than 0 */
    double sink_weight; /* mean softmax weight on token 0 */
    double outlier;     /* RMS of the outlier key channels over the others' (tokens 1..) */
} Probe;

static const TensorPlan *plan_find(const Plan *pl, const char *name, uint64_t *idx)
{
    size_t i;
    for (i = 0; i < pl->n; i++)
        if (strcmp(pl->t[i].name, name) == 0) {
            *idx = i;
            return &pl->t[i];
        }
    return NULL;
}

/* rows x ne0 floats of tensor `name` (rows from row0), as the file stores them. */
static float *probe_rows(const Plan *pl, const char *name, uint64_t seed, const Peaked *pk,
                         uint64_t row0, uint64_t rows)
{
    uint64_t idx, i, key;
    const TensorPlan *t = plan_find(pl, name, &idx);
    float *out;
    if (!t || !(out = malloc(rows * t->ne[0] * sizeof *out)))
        return NULL;
    key = tensor_key(seed, idx);
    for (i = 0; i < rows * t->ne[0]; i++)
        out[i] = float_value(t, key, row0 * t->ne[0] + i, pk);
    return out;
}

/* y = x / rms(x) * w over n elements, in double. */
static void probe_rmsnorm(double *y, const double *x, const float *w, uint64_t n, double eps)
{
    double ss = 0;
    uint64_t i;
    for (i = 0; i < n; i++)
        ss += x[i] * x[i];
    ss = 1.0 / sqrt(ss / (double)n + eps);
    for (i = 0; i < n; i++)
        y[i] = x[i] * ss * w[i];
}

/* Project the normalised inputs xn [T][E] through rows of W (heads of hd,
 * n_heads of them) into out [T][n_heads][hd], then norm each head with w and
 * rotate it by NeoX RoPE at its position. */
static void probe_heads(double *out, const double *xn, const float *W, const float *w, int T,
                        uint64_t E, uint64_t n_heads, uint64_t hd, const Preset *p)
{
    int t;
    uint64_t h, c, e;
    for (t = 0; t < T; t++)
        for (h = 0; h < n_heads; h++) {
            double *o = out + ((uint64_t)t * n_heads + h) * hd;
            for (c = 0; c < hd; c++) {
                const float *row = W + (h * hd + c) * E;
                double acc = 0;
                for (e = 0; e < E; e++)
                    acc += (double)row[e] * xn[(uint64_t)t * E + e];
                o[c] = acc;
            }
            probe_rmsnorm(o, o, w, hd, p->rms_eps);
            for (c = 0; c < hd / 2; c++) {
                double th = t * pow(p->rope_base, -2.0 * (double)c / (double)hd);
                double a = o[c], b = o[c + hd / 2];
                o[c] = a * cos(th) - b * sin(th);
                o[c + hd / 2] = a * sin(th) + b * cos(th);
            }
        }
}

/* The attention of layer 0 over n_tok tokens: token 0, then seeded random
 * ones, computed in double from the weights as written.  0, or -1 when out
 * of memory or the plan lacks a tensor. */
static int probe_attention(const Plan *pl, const Preset *p, uint64_t seed, const Peaked *pk,
                           Probe *pr)
{
    enum { T = 256, MIN_KEYS = 32 };
    uint64_t E = p->n_embd, hd = p->head_dim, nh = p->n_head, nkv = p->n_head_kv, i, c;
    float *Wq = probe_rows(pl, "blk.0.attn_q.weight", seed, pk, 0, nh * hd);
    float *Wk = probe_rows(pl, "blk.0.attn_k.weight", seed, pk, 0, nkv * hd);
    float *wn = probe_rows(pl, "blk.0.attn_norm.weight", seed, pk, 0, 1);
    float *wq = probe_rows(pl, "blk.0.attn_q_norm.weight", seed, pk, 0, 1);
    float *wk = probe_rows(pl, "blk.0.attn_k_norm.weight", seed, pk, 0, 1);
    double *xn = malloc(T * E * sizeof *xn), *q = malloc(T * nh * hd * sizeof *q);
    double *k = malloc(T * nkv * hd * sizeof *k), *s = malloc(T * sizeof *s);
    double var_sum = 0, top_sum = 0, sink_sum = 0, out_ss = 0, in_ss = 0;
    uint64_t n_var = 0, n_w = 0, n_out = 0, n_in = 0, h;
    int t, j, rc = -1;
    Rng r = rng_at(seed ^ 0x70726f6265ull, 0); /* "probe" */

    memset(pr, 0, sizeof *pr);
    if (!Wq || !Wk || !wn || !wq || !wk || !xn || !q || !k || !s)
        goto done;
    for (t = 0; t < T; t++) {
        uint64_t id = t == 0 ? 0 : 1 + rng_next(&r) % (p->n_vocab - 1);
        float *x = probe_rows(pl, "token_embd.weight", seed, pk, id, 1);
        if (!x)
            goto done;
        for (i = 0; i < E; i++)
            xn[(uint64_t)t * E + i] = x[i];
        free(x);
        probe_rmsnorm(xn + (uint64_t)t * E, xn + (uint64_t)t * E, wn, E, p->rms_eps);
    }
    probe_heads(q, xn, Wq, wq, T, E, nh, hd, p);
    probe_heads(k, xn, Wk, wk, T, E, nkv, hd, p);

    for (t = 1; t < T; t++)
        for (h = 0; h < nkv; h++)
            for (c = 0; c < hd; c++) {
                double v = k[((uint64_t)t * nkv + h) * hd + c];
                if (pk_outlier(pk, c))
                    out_ss += v * v, n_out++;
                else
                    in_ss += v * v, n_in++;
            }
    for (h = 0; h < nh; h++) {
        uint64_t g = h / (nh / nkv);
        for (t = 1; t < T; t++) {
            const double *qt = q + ((uint64_t)t * nh + h) * hd;
            double mx = -HUGE_VAL, mx1 = -HUGE_VAL, sum = 0, mean = 0, var = 0;
            for (j = 0; j <= t; j++) {
                const double *kj = k + ((uint64_t)j * nkv + g) * hd;
                double d = 0;
                for (c = 0; c < hd; c++)
                    d += qt[c] * kj[c];
                s[j] = d / sqrt((double)hd);
                mx = s[j] > mx ? s[j] : mx;
                mx1 = j > 0 && s[j] > mx1 ? s[j] : mx1;
            }
            for (j = 0; j <= t; j++)
                sum += exp(s[j] - mx);
            top_sum += exp(mx1 - mx) / sum;
            sink_sum += exp(s[0] - mx) / sum;
            n_w++;
            if (t < MIN_KEYS)
                continue;
            for (j = 1; j <= t; j++)
                mean += s[j];
            mean /= t;
            for (j = 1; j <= t; j++)
                var += (s[j] - mean) * (s[j] - mean);
            var_sum += var / (t - 1);
            n_var++;
        }
    }
    pr->n_tok = T;
    pr->score_std = sqrt(var_sum / (double)n_var);
    pr->top_weight = top_sum / (double)n_w;
    pr->sink_weight = sink_sum / (double)n_w;
    pr->outlier = n_out && n_in && in_ss > 0 ? sqrt(out_ss / (double)n_out / (in_ss / (double)n_in))
                                           : 0;
    rc = 0;
done:
    free(Wq);
    free(Wk);
    free(wn);
    free(wq);
    free(wk);
    free(xn);
    free(q);
    free(k);
    free(s);
    return rc;
}

/* ------------------------------------------------------------ vocabulary */

static const char *const added_tokens[] = {
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>",
    "<|box_start|>", "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>",
    "<|vision_end|>", "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>", "<tool_call>",
    "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>", "<think>", "</think>",
};
#define N_ADDED (sizeof added_tokens / sizeof added_tokens[0])
#define N_CONTROL 14 /* the first 14 added tokens are control tokens, the rest user-defined */

static int printable_byte(int b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

/* The i-th byte of the byte-level BPE alphabet in GPT-2's order: the
 * printable Latin-1 bytes first, then the others. */
static int alphabet_byte(int i)
{
    int b, k = 0;
    for (b = 0; b < 256; b++)
        if (printable_byte(b) && k++ == i)
            return b;
    for (b = 0; b < 256; b++)
        if (!printable_byte(b) && k++ == i)
            return b;
    return 0;
}

/* Token text of byte b in the byte-level BPE alphabet (GPT-2's mapping:
 * printable Latin-1 bytes stand for themselves, the others for U+0100 on). */
static int byte_char(int b, char out[3])
{
    int cp, k, n = 0;
    if (printable_byte(b)) {
        cp = b;
    } else {
        for (k = 0; k < b; k++)
            n += !printable_byte(k);
        cp = 256 + n;
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    out[0] = (char)(0xc0 | (cp >> 6));
    out[1] = (char)(0x80 | (cp & 0x3f));
    return 2;
}

/* A byte-level BPE vocabulary of n tokens: the 256 byte tokens (in the
 * alphabet's order, as Qwen3's vocabulary starts), tokens made by merging
 * pairs (two bytes, then a pair and a byte), the 26 Qwen3 added tokens at
 * the end. */
static int write_synthetic_vocab(PlumbGGUFWriter *gw, uint32_t n, PlumbError *err)
{
    uint32_t n_plain = n - (uint32_t)N_ADDED, n_merge = n_plain - 256, i;
    char ch[256][3];
    int chl[256];
    char *text = NULL, *mtext = NULL;
    const char **tok = NULL, **mer = NULL;
    uint64_t *tlen = NULL, *mlen = NULL;
    int32_t *types = NULL;
    int rc;
    if (n < 256 + N_ADDED)
        return plumb_err(err, PLUMB_EINVAL, "a synthetic vocabulary needs at least %u tokens",
                         (unsigned)(256 + N_ADDED));
    for (i = 0; i < 256; i++)
        chl[i] = byte_char(alphabet_byte((int)i), ch[i]);
    text = malloc((size_t)n_plain * 8);
    mtext = malloc((size_t)n_merge * 9 + 1);
    tok = malloc((size_t)n * sizeof *tok);
    tlen = malloc((size_t)n * sizeof *tlen);
    mer = malloc(((size_t)n_merge + 1) * sizeof *mer);
    mlen = malloc(((size_t)n_merge + 1) * sizeof *mlen);
    types = malloc((size_t)n * sizeof *types);
    if (!text || !mtext || !tok || !tlen || !mer || !mlen || !types) {
        rc = plumb_err(err, PLUMB_ENOMEM, "vocabulary: out of memory");
        goto done;
    }
    for (i = 0; i < n_plain; i++) {
        char *s = text + (size_t)i * 8, *m = mtext + (size_t)(i >= 256 ? i - 256 : 0) * 9;
        int len = 0, ml = 0;
        if (i < 256) {
            memcpy(s, ch[i], (size_t)chl[i]);
            len = chl[i];
        } else {
            /* k-th merged token: a pair of bytes for k < 65536, else a pair
             * token followed by a byte. */
            uint32_t k = i - 256, a, b, c;
            if (k < 65536) {
                a = k % 256, b = (k / 256) % 256;
                memcpy(s, ch[a], (size_t)chl[a]), len = chl[a];
                memcpy(m, ch[a], (size_t)chl[a]), ml = chl[a];
                m[ml++] = ' ';
                memcpy(s + len, ch[b], (size_t)chl[b]), len += chl[b];
                memcpy(m + ml, ch[b], (size_t)chl[b]), ml += chl[b];
            } else {
                k -= 65536;
                a = k % 256, b = (k / 256) % 256, c = (k / 65536) % 256;
                memcpy(s, ch[a], (size_t)chl[a]), len = chl[a];
                memcpy(s + len, ch[b], (size_t)chl[b]), len += chl[b];
                memcpy(m, s, (size_t)len), ml = len;
                m[ml++] = ' ';
                memcpy(s + len, ch[c], (size_t)chl[c]), len += chl[c];
                memcpy(m + ml, ch[c], (size_t)chl[c]), ml += chl[c];
            }
            mer[i - 256] = m;
            mlen[i - 256] = (uint64_t)ml;
        }
        tok[i] = s;
        tlen[i] = (uint64_t)len;
        types[i] = 1; /* normal */
    }
    for (i = 0; i < N_ADDED; i++) {
        tok[n_plain + i] = added_tokens[i];
        tlen[n_plain + i] = strlen(added_tokens[i]);
        types[n_plain + i] = i < N_CONTROL ? 3 : 4;
    }
    if ((rc = plumb_gguf_writer_kv_str(gw, "tokenizer.ggml.model", "gpt2", err)) ||
        (rc = plumb_gguf_writer_kv_str(gw, "tokenizer.ggml.pre", "qwen2", err)) ||
        (rc = plumb_gguf_writer_kv_arr_str(gw, "tokenizer.ggml.tokens", tok, tlen, n, err)) ||
        (rc = plumb_gguf_writer_kv_arr(gw, "tokenizer.ggml.token_type", PLUMB_GGUF_INT32, types,
                                       n, err)) ||
        (rc = plumb_gguf_writer_kv_arr_str(gw, "tokenizer.ggml.merges", mer, mlen, n_merge,
                                           err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, "tokenizer.ggml.eos_token_id", n_plain + 2, err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, "tokenizer.ggml.bos_token_id", n_plain, err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, "tokenizer.ggml.padding_token_id", n_plain, err)) ||
        (rc = plumb_gguf_writer_kv_bool(gw, "tokenizer.ggml.add_bos_token", 0, err)))
        goto done;
done:
    free(text);
    free(mtext);
    free(tok);
    free(tlen);
    free(mer);
    free(mlen);
    free(types);
    return rc;
}

/* Set of strings given as (pointer, length), for the vocabulary cut. */
typedef struct StrSet {
    const char **s;  /* [cap] NULL = empty */
    uint64_t *len;   /* [cap] */
    uint64_t cap;    /* power of two */
} StrSet;

static uint64_t hash_bytes(const char *s, uint64_t n)
{
    uint64_t h = 1469598103934665603ull, i;
    for (i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static int strset_has(const StrSet *ss, const char *s, uint64_t n)
{
    uint64_t i;
    for (i = hash_bytes(s, n) & (ss->cap - 1); ss->s[i]; i = (i + 1) & (ss->cap - 1))
        if (ss->len[i] == n && memcmp(ss->s[i], s, (size_t)n) == 0)
            return 1;
    return 0;
}

static void strset_add(StrSet *ss, const char *s, uint64_t n)
{
    uint64_t i;
    for (i = hash_bytes(s, n) & (ss->cap - 1); ss->s[i]; i = (i + 1) & (ss->cap - 1))
        if (ss->len[i] == n && memcmp(ss->s[i], s, (size_t)n) == 0)
            return;
    ss->s[i] = s;
    ss->len[i] = n;
}

/* Copy the tokenizer of a vocabulary GGUF.  With as many tokens as the
 * preset, every tokenizer.* key is copied as is.  With more, the vocabulary
 * is cut to n tokens the way the test models were made: the first n - k
 * ordinary tokens, then the k control and user-defined (added) tokens;
 * merges are kept when both parts and their concatenation survive, and
 * special token ids are renumbered. */
static int write_vocab_from(PlumbGGUFWriter *gw, const PlumbGGUF *v, uint32_t n, PlumbError *err)
{
    const PlumbGGUFValue *tokens, *ttype, *merges = NULL;
    const int32_t *tt;
    uint64_t nv, i, n_added = 0, k, n_keep_plain, n_plain;
    int64_t *remap = NULL; /* old id -> new id, -1 dropped */
    const char **tok = NULL, **mer = NULL;
    uint64_t *tlen = NULL, *mlen = NULL, n_mer = 0;
    int32_t *types = NULL;
    StrSet ss = { NULL, NULL, 0 };
    int rc;

    if ((rc = plumb_gguf_get_arr(v, "tokenizer.ggml.tokens", PLUMB_GGUF_STRING, &tokens, err)) ||
        (rc = plumb_gguf_get_arr(v, "tokenizer.ggml.token_type", PLUMB_GGUF_INT32, &ttype, err)))
        return rc;
    nv = tokens->v.arr.n;
    if (ttype->v.arr.n != nv)
        return plumb_err(err, PLUMB_EFORMAT, "%s: %llu tokens but %llu token types", v->path,
                         (unsigned long long)nv, (unsigned long long)ttype->v.arr.n);
    if (nv < n)
        return plumb_err(err, PLUMB_EINVAL,
                         "%s: vocabulary has %llu tokens, the preset needs %u", v->path,
                         (unsigned long long)nv, n);
    if (nv == n) {
        for (i = 0; i < v->n_kv; i++)
            if (strncmp(v->kv[i].key, "tokenizer.", 10) == 0 &&
                (rc = plumb_gguf_writer_kv_value(gw, v->kv[i].key, &v->kv[i].val, err)))
                return rc;
        return PLUMB_OK;
    }

    tt = (const int32_t *)(const void *)ttype->v.arr.data;
    for (i = 0; i < nv; i++) {
        int32_t t;
        memcpy(&t, tt + i, 4);
        n_added += t == 3 || t == 4;
    }
    if (n_added >= n)
        return plumb_err(err, PLUMB_EINVAL, "%s: %llu added tokens do not fit in %u", v->path,
                         (unsigned long long)n_added, n);
    n_keep_plain = n - n_added;
    remap = malloc(nv * sizeof *remap);
    tok = malloc((size_t)n * sizeof *tok);
    tlen = malloc((size_t)n * sizeof *tlen);
    types = malloc((size_t)n * sizeof *types);
    for (ss.cap = 1; ss.cap < 2 * (uint64_t)n; ss.cap *= 2)
        ;
    ss.s = calloc(ss.cap, sizeof *ss.s);
    ss.len = calloc(ss.cap, sizeof *ss.len);
    if (!remap || !tok || !tlen || !types || !ss.s || !ss.len) {
        rc = plumb_err(err, PLUMB_ENOMEM, "vocabulary: out of memory");
        goto done;
    }
    for (i = 0, k = 0, n_plain = 0; i < nv; i++) {
        int32_t t;
        int added;
        memcpy(&t, tt + i, 4);
        remap[i] = -1;
        added = t == 3 || t == 4;
        if (!added && (t == 5 || n_plain == n_keep_plain))
            continue;
        n_plain += !added;
        {
            if (k == n)
                break;
            tok[k] = plumb_gguf_arr_str(tokens, i, &tlen[k]);
            types[k] = t;
            strset_add(&ss, tok[k], tlen[k]);
            remap[i] = (int64_t)k++;
        }
    }
    if (k != n) {
        rc = plumb_err(err, PLUMB_EFORMAT, "%s: cannot cut the vocabulary to %u tokens", v->path,
                       n);
        goto done;
    }
    {
        const PlumbGGUFKV *mk = plumb_gguf_find(v, "tokenizer.ggml.merges");
        if (mk && mk->val.type == PLUMB_GGUF_ARRAY && mk->val.v.arr.type == PLUMB_GGUF_STRING)
            merges = &mk->val;
    }
    if (merges) {
        mer = malloc((size_t)merges->v.arr.n * sizeof *mer + 1);
        mlen = malloc((size_t)merges->v.arr.n * sizeof *mlen + 1);
        if (!mer || !mlen) {
            rc = plumb_err(err, PLUMB_ENOMEM, "vocabulary: out of memory");
            goto done;
        }
        for (i = 0; i < merges->v.arr.n; i++) {
            uint64_t len, sp;
            const char *m = plumb_gguf_arr_str(merges, i, &len);
            char joined[512];
            for (sp = 0; m && sp < len && m[sp] != ' '; sp++)
                ;
            if (!m || sp == len || len - 1 > sizeof joined)
                continue;
            memcpy(joined, m, (size_t)sp);
            memcpy(joined + sp, m + sp + 1, (size_t)(len - sp - 1));
            if (strset_has(&ss, m, sp) && strset_has(&ss, m + sp + 1, len - sp - 1) &&
                strset_has(&ss, joined, len - 1)) {
                mer[n_mer] = m;
                mlen[n_mer++] = len;
            }
        }
    }
    for (i = 0; i < v->n_kv; i++) {
        const char *key = v->kv[i].key;
        const PlumbGGUFValue *val = &v->kv[i].val;
        size_t kl = strlen(key);
        if (strncmp(key, "tokenizer.", 10) != 0)
            continue;
        if (strcmp(key, "tokenizer.ggml.tokens") == 0)
            rc = plumb_gguf_writer_kv_arr_str(gw, key, tok, tlen, n, err);
        else if (strcmp(key, "tokenizer.ggml.token_type") == 0)
            rc = plumb_gguf_writer_kv_arr(gw, key, PLUMB_GGUF_INT32, types, n, err);
        else if (strcmp(key, "tokenizer.ggml.merges") == 0 && merges)
            rc = plumb_gguf_writer_kv_arr_str(gw, key, mer, mlen, n_mer, err);
        else if (strcmp(key, "tokenizer.ggml.scores") == 0)
            continue; /* BPE vocabularies carry none; a cut one would be stale */
        else if (kl > 9 && strcmp(key + kl - 9, "_token_id") == 0 &&
                 (val->type == PLUMB_GGUF_UINT32 || val->type == PLUMB_GGUF_INT32)) {
            int64_t id = val->type == PLUMB_GGUF_UINT32 ? (int64_t)val->v.u64 : val->v.i64;
            if (id < 0 || (uint64_t)id >= nv || remap[id] < 0)
                continue; /* the token is gone */
            rc = plumb_gguf_writer_kv_u32(gw, key, (uint32_t)remap[id], err);
        } else
            rc = plumb_gguf_writer_kv_value(gw, key, val, err);
        if (rc)
            goto done;
    }
    rc = PLUMB_OK;
done:
    free(remap);
    free(tok);
    free(tlen);
    free(types);
    free(mer);
    free(mlen);
    free(ss.s);
    free(ss.len);
    return rc;
}

/* ------------------------------------------------------------ the command */

/* The presets, one a line, after the options of --help. */
static void list_presets(FILE *f)
{
    size_t i;
    fprintf(f, "\npresets:\n");
    for (i = 0; i < sizeof presets / sizeof presets[0]; i++)
        fprintf(f, "  %-18s %s\n", presets[i].name, presets[i].what);
}

/* "a|b|c" of the names of n items of size bytes, the name a pointer at their start. */
static void names_of(const void *items, size_t n, size_t size, char *buf, size_t cap)
{
    size_t i, len = 0;
    buf[0] = '\0';
    for (i = 0; i < n; i++) {
        const char *name = *(const char *const *)((const char *)items + i * size);
        int k = snprintf(buf + len, cap - len, "%s%s", i ? "|" : "", name);
        if (k < 0 || (size_t)k >= cap - len)
            break;
        len += (size_t)k;
    }
}

static int write_model(const char *out, const Preset *p, const FType *ft, uint64_t seed,
                       const char *vocab_path, int n_threads, unsigned flags, int progress,
                       const Peaked *pk)
{
    PlumbError err = { 0 };
    PlumbGGUFWriter *gw = NULL;
    PlumbGGUF *vocab = NULL;
    PlumbThreadpool *pool = NULL;
    Plan plan = { NULL, 0, 0 };
    Writer wr;
    char key[128], name[160];
    const char *a = p->arch;
    uint64_t total = 0;
    size_t i;
    int rc;
    struct sigaction sa, old_int, old_term;

    memset(&wr, 0, sizeof wr);
    if (make_plan(&plan, p, ft, pk)) {
        rc = plumb_err(&err, PLUMB_ENOMEM, "out of memory");
        goto fail;
    }
    for (i = 0; i < plan.n; i++) {
        const TensorPlan *t = &plan.t[i];
        total += plumb_qtype_row_size(t->type, t->ne[0]) * t->ne[1] * t->ne[2];
    }
    /* Refuses early (no room, wrong target) rather than after writing most of the file. */
    if ((rc = plumb_gguf_writer_open_file(&gw, out, flags, vocab_path, total, &err)))
        goto fail;
    if (vocab_path && (rc = plumb_gguf_open(&vocab, vocab_path, &err)))
        goto fail;
    if ((rc = plumb_threadpool_open(&pool, n_threads, &err)))
        goto fail;

    snprintf(name, sizeof name, "%s %s synthetic (seed %llu)", p->name, ft->name,
             (unsigned long long)seed);
#define KEY(suffix) (snprintf(key, sizeof key, "%s.%s", a, suffix), key)
    if ((rc = plumb_gguf_writer_kv_str(gw, "general.architecture", a, &err)) ||
        (rc = plumb_gguf_writer_kv_str(gw, "general.type", "model", &err)) ||
        (rc = plumb_gguf_writer_kv_str(gw, "general.name", name, &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, KEY("block_count"), p->n_layer, &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, KEY("context_length"), p->n_ctx, &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, KEY("embedding_length"), p->n_embd, &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, KEY("feed_forward_length"), p->n_ff, &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, KEY("attention.head_count"), p->n_head, &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, KEY("attention.head_count_kv"), p->n_head_kv, &err)) ||
        (rc = plumb_gguf_writer_kv_f32(gw, KEY("rope.freq_base"), p->rope_base, &err)) ||
        (rc = plumb_gguf_writer_kv_f32(gw, KEY("attention.layer_norm_rms_epsilon"), p->rms_eps,
                                       &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, KEY("attention.key_length"), p->head_dim, &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, KEY("attention.value_length"), p->head_dim, &err)))
        goto fail;
    if (p->n_expert &&
        ((rc = plumb_gguf_writer_kv_u32(gw, KEY("expert_count"), p->n_expert, &err)) ||
         (rc = plumb_gguf_writer_kv_u32(gw, KEY("expert_used_count"), p->n_expert_used, &err)) ||
         (rc = plumb_gguf_writer_kv_u32(gw, KEY("expert_feed_forward_length"), p->n_ff_exp,
                                        &err))))
        goto fail;
#undef KEY
    rc = vocab ? write_vocab_from(gw, vocab, p->n_vocab, &err)
               : write_synthetic_vocab(gw, p->n_vocab, &err);
    if (rc ||
        (rc = plumb_gguf_writer_kv_u32(gw, "general.quantization_version", 2, &err)) ||
        (rc = plumb_gguf_writer_kv_u32(gw, "general.file_type", ft->id, &err)))
        goto fail;
    plumb_gguf_close(vocab);
    vocab = NULL;

    for (i = 0; i < plan.n; i++) {
        const TensorPlan *t = &plan.t[i];
        if ((rc = plumb_gguf_writer_add_tensor(gw, t->name, t->type, t->n_dims, t->ne, &err)))
            goto fail;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGTERM, &sa, &old_term);
    wr.plan = &plan;
    wr.pk = pk;
    wr.pool = pool;
    wr.seed = seed;
    wr.total = total;
    wr.progress = progress;
    wr.t0 = wr.last = now_s();
    for (i = 0; i < plan.n && rc == PLUMB_OK; i++)
        rc = plumb_gguf_writer_fill(gw, fill_chunk, &wr, &err);
    if (rc == PLUMB_OK)
        rc = plumb_gguf_writer_finish(gw, &err);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    if (progress)
        fputc('\n', stderr);
    if (rc)
        goto fail;
    printf("%s: %s %s%s, %u layers, %zu tensors, %.2f GiB, %.1f s\n", out, p->name, ft->name,
           pk->on ? " peaked" : "", p->n_layer, plan.n, (double)total / 1073741824.0,
           now_s() - wr.t0);
    /* Float weights are known exactly: measure what the attention looks like. */
    if (!is_quantised(ft->base)) {
        Probe pr;
        if (probe_attention(&plan, p, seed, pk, &pr)) {
            rc = plumb_err(&err, PLUMB_ENOMEM, "attention probe: out of memory");
            goto fail;
        }
        printf("%s: layer 0 attention over %d tokens: score std %.2f, top weight %.3f, "
               "sink weight %.3f, outlier key channels %.1fx\n",
               out, pr.n_tok, pr.score_std, pr.top_weight, pr.sink_weight, pr.outlier);
    }
    plumb_gguf_writer_close(gw);
    plumb_threadpool_close(pool);
    free(plan.t);
    return 0;
fail:
    plumb_gguf_writer_close(gw);
    plumb_gguf_close(vocab);
    plumb_threadpool_close(pool);
    free(plan.t);
    cli_error("mkmodel: %s", err.msg[0] ? err.msg : plumb_strerror(rc));
    return 1;
}

int cmd_mkmodel(int argc, char **argv)
{
    const char *out = NULL, *preset = NULL, *type = "Q4_K_M", *vocab = NULL, *args[1];
    const Preset *p = NULL;
    const FType *ft = NULL;
    Preset custom;
    CliSeed seed = { 1, 0 };
    int layers = 0, threads = 0, force = 0, quiet = 0, follow_symlinks = 0, n_args = 0, rc;
    int peaked = 0;
    Peaked pk;
    unsigned flags = 0;
    size_t k;
    char preset_names[512], type_names[512];
    const CliOpt opts[] = {
        { .names = "--preset", .kind = CLI_CHOICE, .dest = &preset, .choices = preset_names,
          .metavar = "NAME", .help = "model layout, described below" },
        { .names = "--type", .kind = CLI_CHOICE, .dest = &type, .choices = type_names,
          .metavar = "TYPE", .help = "file type as llama-quantize names it" },
        { .names = "--seed", .kind = CLI_SEED, .dest = &seed, .metavar = "S",
          .help = "seed of the random weights, -1 for a random one (reported on standard "
                  "error)" },
        { .names = "--vocab", .kind = CLI_STRING, .dest = &vocab, .metavar = "FILE",
          .help = "copy the tokenizer from this GGUF (cut to the preset's size if larger); "
                  "default: a synthetic byte-level vocabulary" },
        { .names = "--layers", .kind = CLI_INT, .dest = &layers, .min = 0,
          .max = PLUMB_MAX_LAYERS, .metavar = "N",
          .help = "override the preset's layer count, 0 for the preset's" },
        { .names = "--threads", .kind = CLI_INT, .dest = &threads, .min = 0,
          .max = PLUMB_MAX_THREADS, .metavar = "N",
          .help = "threads generating blocks, 0 for one per physical core" },
        { .names = "--peaked", .kind = CLI_FLAG, .dest = &peaked,
          .help = "attention like a trained model's: peaked scores, outlier key channels, "
                  "a sink at token 0 (F32, F16, BF16 only)" },
        { .names = "--force", .kind = CLI_FLAG, .dest = &force,
          .help = "replace OUT.gguf if it exists" },
        CLI_OPT_FOLLOW_SYMLINKS(&follow_symlinks),
        { .names = "--quiet", .kind = CLI_FLAG, .dest = &quiet, .help = "no progress on stderr" },
        { .names = "-h, --help", .kind = CLI_HELP, .help = "this text" },
        { .kind = CLI_END },
    };
    const CliCmd cmd = {
        .name = "mkmodel",
        .synopsis = "OUT.gguf --preset NAME [--type TYPE] [--seed S] [--vocab VOCAB.gguf] "
                    "[--layers N] [--threads N] [--peaked] [--force] [--follow-symlinks] [--quiet] "
                    "[--help]",
        .about = "Write a synthetic model with the tensor layout, types and size of a real one "
                 "and random weights.",
        .opts = opts,
        .max_args = 1,
        .operand_hint = "one output file only",
        .more_help = list_presets,
    };

    names_of(presets, sizeof presets / sizeof presets[0], sizeof presets[0], preset_names,
             sizeof preset_names);
    names_of(ftypes, sizeof ftypes / sizeof ftypes[0], sizeof ftypes[0], type_names,
             sizeof type_names);
    if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
        return rc < 0 ? 0 : rc;
    if (n_args == 0 || !preset)
        return cli_usage_error(&cmd, n_args == 0 ? "no output file given"
                                                 : "--preset is required");
    out = args[0];
    if (force)
        flags |= PLUMB_GGUF_WRITE_FORCE;
    if (follow_symlinks)
        flags |= PLUMB_GGUF_WRITE_FOLLOW;
    if (seed.random)
        cli_error("mkmodel: seed %llu", (unsigned long long)seed.value);
    for (k = 0; k < sizeof presets / sizeof presets[0]; k++)
        if (strcasecmp(presets[k].name, preset) == 0)
            p = &presets[k];
    for (k = 0; k < sizeof ftypes / sizeof ftypes[0]; k++)
        if (strcasecmp(ftypes[k].name, type) == 0)
            ft = &ftypes[k];
    if (!p) {
        cli_error("mkmodel: --preset: unknown preset '%s' (see 'plumb mkmodel --help')", preset);
        return 2;
    }
    if (!ft) {
        cli_error("mkmodel: --type: unknown or unsupported type '%s' (see 'plumb mkmodel --help')",
                  type);
        return 2;
    }
    if (peaked && is_quantised(ft->base)) {
        cli_error("mkmodel: --peaked: needs a float type (F32, F16 or BF16), not %s", ft->name);
        return 2;
    }
    if (layers) {
        custom = *p;
        custom.n_layer = (uint32_t)layers;
        p = &custom;
    }
    pk.on = peaked;
    pk.head_dim = p->head_dim;
    return write_model(out, p, ft, seed.value, vocab, threads, flags, !quiet && isatty(2), &pk);
}
