/*
 * dsp.c — C reference kernels for the vector operations and the init ladder
 * that fills a PlumbDsp (see dsp.h).  Quant kernels' C references are in
 * quant/quant_ref.c.
 */
#include "config.h"

#include <math.h>
#include <string.h>

#include "cpu.h"
#include "dsp.h"
#include "quant_ref.h"

/* (C references of vector ops and plumb_dsp_init_c go here) */

void plumb_dsp_init(PlumbDsp *dsp, unsigned flags)
{
    plumb_dsp_init_c(dsp);
#if PLUMB_HAVE_AVX2
    if (flags & PLUMB_CPU_AVX2)
        plumb_dsp_init_avx2(dsp);
#endif
#if PLUMB_HAVE_AVX512
    if (flags & PLUMB_CPU_AVX512)
        plumb_dsp_init_avx512(dsp);
#endif
#if PLUMB_HAVE_AVX512VNNI
    if (flags & PLUMB_CPU_AVX512VNNI)
        plumb_dsp_init_avx512vnni(dsp);
#endif
#if PLUMB_HAVE_NEON
    if (flags & PLUMB_CPU_NEON)
        plumb_dsp_init_neon(dsp);
#endif
#if PLUMB_HAVE_DOTPROD
    if (flags & PLUMB_CPU_DOTPROD)
        plumb_dsp_init_dotprod(dsp);
#endif
    dsp->flags = flags;
}
