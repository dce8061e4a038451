/*
 * arch.c — the architecture table (see arch.h).  The semantics of each
 * entry follow llama.cpp's loader and graph for the same name.
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

#include "arch.h"

static const char *const hparam_keys[PLUMB_HP_COUNT] = {
    [PLUMB_HP_BLOCK_COUNT] = "block_count",
    [PLUMB_HP_CONTEXT_LENGTH] = "context_length",
    [PLUMB_HP_EMBEDDING_LENGTH] = "embedding_length",
    [PLUMB_HP_FEED_FORWARD] = "feed_forward_length",
    [PLUMB_HP_HEAD_COUNT] = "attention.head_count",
    [PLUMB_HP_HEAD_COUNT_KV] = "attention.head_count_kv",
    [PLUMB_HP_KEY_LENGTH] = "attention.key_length",
    [PLUMB_HP_VALUE_LENGTH] = "attention.value_length",
    [PLUMB_HP_RMS_EPS] = "attention.layer_norm_rms_epsilon",
    [PLUMB_HP_ROPE_FREQ_BASE] = "rope.freq_base",
    [PLUMB_HP_EXPERT_COUNT] = "expert_count",
    [PLUMB_HP_EXPERT_USED_COUNT] = "expert_used_count",
    [PLUMB_HP_EXPERT_FEED_FORWARD] = "expert_feed_forward_length",
};

/* The names llama.cpp's converters write, shared by the Qwen family (and
 * most others).  An architecture that names its tensors differently points
 * at a table of its own. */
static const char *const gguf_tensors[PLUMB_T_COUNT] = {
    [PLUMB_T_TOKEN_EMBD] = "token_embd.weight",
    [PLUMB_T_OUTPUT_NORM] = "output_norm.weight",
    [PLUMB_T_OUTPUT] = "output.weight",
    [PLUMB_T_ATTN_NORM] = "attn_norm.weight",
    [PLUMB_T_ATTN_Q] = "attn_q.weight",
    [PLUMB_T_ATTN_K] = "attn_k.weight",
    [PLUMB_T_ATTN_V] = "attn_v.weight",
    [PLUMB_T_ATTN_OUT] = "attn_output.weight",
    [PLUMB_T_ATTN_Q_BIAS] = "attn_q.bias",
    [PLUMB_T_ATTN_K_BIAS] = "attn_k.bias",
    [PLUMB_T_ATTN_V_BIAS] = "attn_v.bias",
    [PLUMB_T_ATTN_Q_NORM] = "attn_q_norm.weight",
    [PLUMB_T_ATTN_K_NORM] = "attn_k_norm.weight",
    [PLUMB_T_FFN_NORM] = "ffn_norm.weight",
    [PLUMB_T_FFN_GATE] = "ffn_gate.weight",
    [PLUMB_T_FFN_UP] = "ffn_up.weight",
    [PLUMB_T_FFN_DOWN] = "ffn_down.weight",
    [PLUMB_T_FFN_GATE_INP] = "ffn_gate_inp.weight",
    [PLUMB_T_FFN_GATE_EXPS] = "ffn_gate_exps.weight",
    [PLUMB_T_FFN_UP_EXPS] = "ffn_up_exps.weight",
    [PLUMB_T_FFN_DOWN_EXPS] = "ffn_down_exps.weight",
};

#define REQ PLUMB_NEED_REQUIRED
#define OPT PLUMB_NEED_OPTIONAL

/* Keys every entry below reads the same way. */
#define COMMON_HPARAMS                                                                        \
    [PLUMB_HP_BLOCK_COUNT] = REQ, [PLUMB_HP_CONTEXT_LENGTH] = REQ,                            \
    [PLUMB_HP_EMBEDDING_LENGTH] = REQ, [PLUMB_HP_HEAD_COUNT] = REQ,                           \
    [PLUMB_HP_HEAD_COUNT_KV] = OPT, [PLUMB_HP_KEY_LENGTH] = OPT,                              \
    [PLUMB_HP_VALUE_LENGTH] = OPT, [PLUMB_HP_RMS_EPS] = REQ, [PLUMB_HP_ROPE_FREQ_BASE] = OPT

static const PlumbArch archs[] = {
    /* Qwen3-30B-A3B, Tongyi-DeepResearch-30B-A3B: every layer MoE */
    { "qwen3moe",
      { PLUMB_ATTN_QK_NORM, PLUMB_FFN_MOE },
      { COMMON_HPARAMS, [PLUMB_HP_FEED_FORWARD] = OPT, [PLUMB_HP_EXPERT_COUNT] = REQ,
        [PLUMB_HP_EXPERT_USED_COUNT] = REQ, [PLUMB_HP_EXPERT_FEED_FORWARD] = OPT },
      gguf_tensors },
    /* dense Qwen3 */
    { "qwen3",
      { PLUMB_ATTN_QK_NORM, PLUMB_FFN_DENSE },
      { COMMON_HPARAMS, [PLUMB_HP_FEED_FORWARD] = REQ },
      gguf_tensors },
    /* Qwen2, Qwen2.5: no QK norm, a bias after each of the Q, K, V products */
    { "qwen2",
      { PLUMB_ATTN_QKV_BIAS, PLUMB_FFN_DENSE },
      { COMMON_HPARAMS, [PLUMB_HP_FEED_FORWARD] = REQ },
      gguf_tensors },
};

#undef REQ
#undef OPT

const PlumbArch *plumb_arch_find(const char *name)
{
    for (size_t i = 0; name && i < sizeof archs / sizeof archs[0]; i++)
        if (strcmp(archs[i].name, name) == 0)
            return &archs[i];
    return NULL;
}

void plumb_arch_list(char *buf, size_t cap)
{
    size_t n = 0;
    if (!buf || !cap)
        return;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof archs / sizeof archs[0] && n < cap; i++) {
        int w = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", archs[i].name);
        if (w < 0)
            break;
        n += (size_t)w;
    }
}

const char *plumb_hparam_key(PlumbHParam hp)
{
    return hp >= 0 && hp < PLUMB_HP_COUNT ? hparam_keys[hp] : "?";
}

const char *plumb_arch_tensor(const PlumbArch *a, PlumbTensor t, int layer, char *buf,
                              size_t cap)
{
    const char *name = t >= 0 && t < PLUMB_T_COUNT ? a->tensors[t] : "?";
    if (t < PLUMB_T_ATTN_NORM)
        snprintf(buf, cap, "%s", name);
    else
        snprintf(buf, cap, "blk.%d.%s", layer, name);
    return buf;
}
