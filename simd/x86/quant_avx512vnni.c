/*
 * quant_avx512vnni.c — AVX-512 VNNI kernels (in progress).
 */
#include "config.h"

#include "dsp.h"
#include "x86_util.h"

void plumb_dsp_init_avx512vnni(PlumbDsp *dsp)
{
    (void)dsp;
}
