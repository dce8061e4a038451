/*
 * gemm_avx2.c — AVX2 tiled products of weight rows with several activation
 * rows (dsp->gemm, see dsp.h).
 */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include "dsp.h"
#include "qtypes.h"
#include "x86_util.h"

void plumb_dsp_init_avx2_gemm(PlumbDsp *dsp)
{
    (void)dsp;
}
