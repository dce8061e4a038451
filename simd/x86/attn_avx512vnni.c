/*
 * attn_avx512vnni.c — the fused attention of attn_avx512.c compiled with
 * -mavx512vnni: the block keys' integer dot products become vpdpbusd (Q8_0
 * keys as k + 128 against the signed query bytes, less 128 * sum(q)).
 * plumb_dsp_init_avx512vnni_attn() installs the Q8_0 and Q4_0 kernels; the
 * float keys keep the AVX-512 tier's.
 */
#include "attn_avx512.c"
