/*
 * arch.h — the architectures plumb runs, as data.
 *
 * A GGUF file names its architecture in general.architecture, and every
 * hyperparameter key carries that name as a prefix ("qwen3.block_count").
 * An entry of the table says
 *   - which hyperparameters the architecture stores: required, optional
 *     (a default applies when absent) or not read at all;
 *   - the GGUF name of every tensor role (token_embd.weight,
 *     blk.N.attn_q.weight, ...);
 *   - the block kind of its layers: the attention variant (per-head RMSNorm
 *     of Q and K or not, bias vectors after the Q, K and V projections or
 *     not) and the feed-forward variant (dense SwiGLU, or a router over
 *     SwiGLU experts).
 * The block kind decides which tensors a layer must have (model.c) and
 * what the forward pass computes (forward.c); nothing outside this file
 * looks at an architecture's name.  An architecture made of known blocks
 * is one more table entry; one with a new kind of attention or
 * feed-forward adds that kind here (a flag or an enumerator), its tensors
 * to load_weights() and its arithmetic to forward.c.  What every entry
 * shares: NeoX RoPE (pairs i and i + head_dim/2), RMSNorm before each
 * sub-layer and before the output, and an optional output.weight (absent:
 * the output is tied to token_embd.weight).
 *
 * The table is constant; entries live for the whole program.
 */
#ifndef PLUMB_ARCH_H
#define PLUMB_ARCH_H

#include <stddef.h>

/* Hyperparameters, read from "<arch>.<key>". */
typedef enum PlumbHParam {
    PLUMB_HP_BLOCK_COUNT,       /* layers */
    PLUMB_HP_CONTEXT_LENGTH,    /* training context, tokens */
    PLUMB_HP_EMBEDDING_LENGTH,  /* model width */
    PLUMB_HP_FEED_FORWARD,      /* dense FFN width */
    PLUMB_HP_HEAD_COUNT,        /* query heads */
    PLUMB_HP_HEAD_COUNT_KV,     /* key/value heads (default: head_count) */
    PLUMB_HP_KEY_LENGTH,        /* floats per key head (default: width / heads) */
    PLUMB_HP_VALUE_LENGTH,      /* floats per value head (default: key_length) */
    PLUMB_HP_RMS_EPS,           /* RMSNorm epsilon (float) */
    PLUMB_HP_ROPE_FREQ_BASE,    /* RoPE base (float, default 10000) */
    PLUMB_HP_EXPERT_COUNT,      /* experts per MoE layer */
    PLUMB_HP_EXPERT_USED_COUNT, /* experts per token */
    PLUMB_HP_EXPERT_FEED_FORWARD, /* expert FFN width (default: feed_forward / used) */
    PLUMB_HP_COUNT
} PlumbHParam;

/* How an architecture stores a hyperparameter. */
typedef enum PlumbNeed {
    PLUMB_NEED_NONE = 0,   /* not read: the value stays 0 or its default */
    PLUMB_NEED_OPTIONAL,   /* read when present */
    PLUMB_NEED_REQUIRED    /* a file without it is refused */
} PlumbNeed;

/* Tensor roles.  The first three are global; the rest are per layer. */
typedef enum PlumbTensor {
    PLUMB_T_TOKEN_EMBD,
    PLUMB_T_OUTPUT_NORM,
    PLUMB_T_OUTPUT,
    PLUMB_T_ATTN_NORM,     /* first per-layer role */
    PLUMB_T_ATTN_Q,
    PLUMB_T_ATTN_K,
    PLUMB_T_ATTN_V,
    PLUMB_T_ATTN_OUT,
    PLUMB_T_ATTN_Q_BIAS,
    PLUMB_T_ATTN_K_BIAS,
    PLUMB_T_ATTN_V_BIAS,
    PLUMB_T_ATTN_Q_NORM,
    PLUMB_T_ATTN_K_NORM,
    PLUMB_T_FFN_NORM,
    PLUMB_T_FFN_GATE,
    PLUMB_T_FFN_UP,
    PLUMB_T_FFN_DOWN,
    PLUMB_T_FFN_GATE_INP,
    PLUMB_T_FFN_GATE_EXPS,
    PLUMB_T_FFN_UP_EXPS,
    PLUMB_T_FFN_DOWN_EXPS,
    PLUMB_T_COUNT
} PlumbTensor;

/* Attention variants, flags of PlumbBlockKind.attn. */
#define PLUMB_ATTN_QK_NORM  (1u << 0) /* RMSNorm of each Q and K head before RoPE */
#define PLUMB_ATTN_QKV_BIAS (1u << 1) /* bias vectors added after the Q, K, V products */

/* Feed-forward variants. */
typedef enum PlumbFfnKind {
    PLUMB_FFN_DENSE, /* down(silu(gate x) * up x) */
    PLUMB_FFN_MOE    /* softmax router, top-k SwiGLU experts (moe.h) */
} PlumbFfnKind;

/* What one layer is made of. */
typedef struct PlumbBlockKind {
    unsigned attn;    /* PLUMB_ATTN_* flags */
    PlumbFfnKind ffn; /* feed-forward variant */
} PlumbBlockKind;

typedef struct PlumbArch {
    const char *name;                     /* general.architecture */
    PlumbBlockKind block;                 /* every layer's kind */
    unsigned char hparams[PLUMB_HP_COUNT]; /* PlumbNeed of each hyperparameter */
    const char *const *tensors;           /* [PLUMB_T_COUNT] GGUF names; per-layer ones
                                           * without the "blk.N." prefix */
} PlumbArch;

/* The entry for general.architecture = name, or NULL. */
const PlumbArch *plumb_arch_find(const char *name);

/* The names of every entry, comma-separated ("qwen3moe, qwen3, qwen2"),
 * into buf (cap bytes, NUL-terminated, truncated if short). */
void plumb_arch_list(char *buf, size_t cap);

/* The key suffix of a hyperparameter ("block_count"). */
const char *plumb_hparam_key(PlumbHParam hp);

/* The GGUF name of tensor role t of layer `layer` (ignored for the global
 * roles) into buf; returns buf. */
const char *plumb_arch_tensor(const PlumbArch *a, PlumbTensor t, int layer, char *buf,
                              size_t cap);

#endif
