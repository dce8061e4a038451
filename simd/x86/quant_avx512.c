/*
 * quant_avx512.c — AVX-512 kernels of the quant types (in progress).
 */
#include "config.h"

#include "dsp.h"
#include "x86_util.h"

void plumb_dsp_init_avx512(PlumbDsp *dsp)
{
    plumb_dsp_init_avx512_vec(dsp);
}
