/*
 * vec_avx512.c — AVX-512 vector operations (in progress).
 */
#include "config.h"

#include "dsp.h"
#include "x86_util.h"

void plumb_dsp_init_avx512_vec(PlumbDsp *dsp)
{
    (void)dsp;
}
