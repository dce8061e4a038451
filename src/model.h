/*
 * model.h — an opened model: hyperparameters, weight views, tokenizer and
 * kernel table.  Library-internal; callers see the opaque PlumbModel of
 * plumb.h.
 *
 * Invariants after plumb_model_open():
 *   - every weight view has the shape the hyperparameters demand and a type
 *     the dispatch table can run (to_float, and for matrices vec_dot plus a
 *     quantiser for its activation type);
 *   - matrices are views into the read-only mapping owned by the PlumbGGUF:
 *     nothing is copied and nothing reads the whole file.  Only the small norm
 *     vectors are converted to float32 into one owned array (norm_buf);
 *   - the model is immutable and may be shared by sessions on many threads,
 *     except for its runtime: one thread pool, started by the first session
 *     that needs it, and the lock that lets one forward pass at a time use it
 *     (run_lock guards tp and every plumb_forward() call on it).
 *
 * The architecture (general.architecture) is looked up in the table of
 * arch.h, which gives each layer its block kind: `qwen3moe` (QK norm,
 * router + per-expert SwiGLU), dense `qwen3` (QK norm, SwiGLU) and `qwen2`
 * (Q/K/V bias, SwiGLU); all use NeoX RoPE.  Code past plumb_model_open()
 * reads the block kinds, never the architecture's name.
 */
#ifndef PLUMB_MODEL_H
#define PLUMB_MODEL_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "arch.h"
#include "dsp.h"
#include "gguf.h"
#include "plumb.h"
#include "threadpool.h"
#include "tokenizer.h"

/* Size caps on hyperparameters (far above any Qwen3 model); the layer and
 * context caps, PLUMB_MAX_LAYERS and PLUMB_MAX_CTX, are in plumb.h. */
#define PLUMB_MAX_EMBD 65536
#define PLUMB_MAX_HEADS 1024
#define PLUMB_MAX_HEAD_DIM 1024
#define PLUMB_MAX_FF (1 << 20)
#define PLUMB_MAX_EXPERTS 1024
#define PLUMB_MAX_EXPERTS_USED 64
#define PLUMB_MAX_VOCAB (1 << 22)

/* A weight matrix (or a stack of ne2 matrices, one per expert) in the
 * mapping.  Row r of matrix e starts at data + e*mat_bytes + r*row_bytes and
 * holds ne0 elements of `type`; y = W x maps ne0 inputs to ne1 outputs. */
typedef struct PlumbWeight {
    const char *name;   /* tensor name (in the GGUF arena) */
    const void *data;   /* first byte, in the mapping */
    uint32_t type;      /* PLUMB_QTYPE_* of the stored rows */
    uint32_t act;       /* PLUMB_QTYPE_* its vec_dot takes as activations */
    int64_t ne0;        /* elements per row (input width) */
    int64_t ne1;        /* rows per matrix (output width) */
    int64_t ne2;        /* matrices: experts for *_exps, else 1 */
    uint64_t row_bytes; /* bytes per row */
    uint64_t mat_bytes; /* bytes per matrix: ne1 * row_bytes */
} PlumbWeight;

/* One transformer block.  Norm and bias vectors point into the model's
 * norm_buf; the members a block kind does not use are NULL / zeroed. */
typedef struct PlumbLayer {
    PlumbBlockKind kind;    /* what this layer computes (arch.h) */
    const float *attn_norm; /* [n_embd] */
    const float *ffn_norm;  /* [n_embd] */
    PlumbWeight wq;         /* n_embd -> n_head * head_dim */
    PlumbWeight wk;         /* n_embd -> n_head_kv * head_dim */
    PlumbWeight wv;         /* n_embd -> n_head_kv * head_dim */
    PlumbWeight wo;         /* n_head * head_dim -> n_embd */
    /* PLUMB_ATTN_QK_NORM */
    const float *q_norm;    /* [head_dim], applied to each query head */
    const float *k_norm;    /* [head_dim], applied to each key head */
    /* PLUMB_ATTN_QKV_BIAS: added to the products, before RoPE */
    const float *bq;        /* [n_head * head_dim] */
    const float *bk;        /* [n_head_kv * head_dim] */
    const float *bv;        /* [n_head_kv * head_dim] */
    /* PLUMB_FFN_MOE */
    PlumbWeight gate_inp;   /* router: n_embd -> n_expert */
    PlumbWeight gate_exps;  /* n_expert x (n_embd -> n_ff_exp) */
    PlumbWeight up_exps;    /* n_expert x (n_embd -> n_ff_exp) */
    PlumbWeight down_exps;  /* n_expert x (n_ff_exp -> n_embd) */
    /* PLUMB_FFN_DENSE */
    PlumbWeight ffn_gate;   /* n_embd -> n_ff */
    PlumbWeight ffn_up;     /* n_embd -> n_ff */
    PlumbWeight ffn_down;   /* n_ff -> n_embd */
} PlumbLayer;

/* RoPE parameters, resolved from metadata the way llama.cpp resolves them. */
typedef struct PlumbRope {
    int32_t n_dims;       /* rotated dimensions per head (= head_dim) */
    float freq_base;      /* base of the frequencies */
    float freq_scale;     /* 1 / scaling factor (linear, YaRN); 1 without scaling */
    float ext_factor;     /* YaRN extrapolation mix: 1 with YaRN, else 0 */
    float attn_factor;    /* magnitude multiplier of cos/sin */
    float beta_fast;      /* YaRN correction range, rotations */
    float beta_slow;      /* YaRN correction range, rotations */
    int32_t n_ctx_orig;   /* context the model was trained with before scaling, tokens */
    float corr_dims[2];   /* YaRN ramp bounds, dimension pairs */
    float theta_scale;    /* freq_base^(-2/n_dims) */
} PlumbRope;

struct PlumbModel {
    PlumbModelInfo info;   /* public summary (strings point into gguf or path) */
    char *path;            /* owned copy of the path */
    PlumbGGUF *gguf;       /* owns the mapping every weight view points into */
    PlumbTokenizer *tok;   /* owned */
    PlumbDsp dsp;          /* kernel table of the chosen tier */
    const PlumbArch *arch; /* table entry of info.arch */
    int n_threads;         /* worker threads requested (>= 1) */
    int expert_advice;     /* PlumbModelParams.expert_advice: 0 auto, 1 on, -1 off */
    pthread_mutex_t run_lock; /* serialises forward passes on tp; guards tp's creation */
    PlumbThreadpool *tp;   /* owned; NULL until a session needs it, or with one thread */
    PlumbRope rope;        /* RoPE parameters */
    PlumbWeight tok_embd;  /* [n_vocab] rows of n_embd */
    PlumbWeight output;    /* n_embd -> n_vocab (token_embd when tied) */
    const float *output_norm; /* [n_embd] */
    PlumbLayer *layers;    /* [n_layer], owned */
    float *norm_buf;       /* all norm and bias vectors as float32, owned */
    pthread_mutex_t fp_lock; /* guards the two fields below */
    int fp_done;             /* fp holds the fingerprint */
    unsigned char fp[32];    /* SHA-256 of the GGUF bytes before the tensor data */
};

/* Start the model's thread pool if it has none yet (thread-safe; the first
 * session does it, so programs that only tokenise start no threads). */
int plumb_model_runtime(PlumbModel *m, PlumbError *err);

/* The model's fingerprint, SHA-256 of its file's bytes before the tensor
 * data (metadata and tensor table), computed once on first use; thread-safe. */
void plumb_model_fingerprint(const PlumbModel *m, unsigned char out[32]);

#endif
