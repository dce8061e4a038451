/*
 * repack.h — convert a GGUF model's Q4_0, Q4_K and Q6_K matrices to the
 * row-interleaved Q4_0_R8, Q4_K_R8 and Q6_K_R8 layouts (quant/qtypes.h)
 * and back, file to file.
 *
 * The numbers do not change: every block keeps its scale and quants, only
 * their place moves (Q4_K's packed 6-bit scales are spread to bytes and
 * packed again), so unpacking a repacked file gives back the original
 * tensor data byte for byte.  Metadata and all other tensors are copied.  A
 * tensor is repacked when it is Q4_0, Q4_K or Q6_K, has at least two dimensions, a row
 * count that is a multiple of 8, and is not token_embd.weight (whose rows
 * are read one at a time).
 *
 * The output goes through the streaming GGUF writer (a temporary file next
 * to out, renamed when complete, see outfile.h); an existing out is refused
 * unless PLUMB_GGUF_WRITE_FORCE, a symbolic link unless
 * PLUMB_GGUF_WRITE_FOLLOW, and out being the input file (through any name)
 * always.
 * Memory: one group of eight rows beside the writer's buffer.
 */
#ifndef PLUMB_REPACK_H
#define PLUMB_REPACK_H

#include <signal.h>
#include <stdint.h>

#include "plumb.h"

#define PLUMB_REPACK_UNPACK 0x100u /* flag: the interleaved types back to row-major */

typedef struct PlumbRepackStats {
    uint64_t n_tensors;  /* tensors in the file */
    uint64_t n_changed;  /* tensors converted */
    uint64_t bytes;      /* tensor data bytes */
} PlumbRepackStats;

/* Progress: called now and then with bytes of tensor data written so far. */
typedef void (*PlumbRepackProgress)(void *arg, uint64_t done, uint64_t total);

/* Convert in to out.  flags: PLUMB_GGUF_WRITE_FORCE, PLUMB_GGUF_WRITE_FOLLOW,
 * PLUMB_REPACK_UNPACK.
 * A file with nothing to convert is PLUMB_EINVAL (nothing written).  When
 * *stop becomes non-zero (a signal handler may set it) the conversion ends
 * with PLUMB_EIO and no output.  progress and stop may be NULL. */
int plumb_repack_file(const char *in, const char *out, unsigned flags,
                      PlumbRepackProgress progress, void *progress_arg,
                      const volatile sig_atomic_t *stop, PlumbRepackStats *stats,
                      PlumbError *err);

/* What a repacked copy of the open model would change on the CPU tier it
 * runs on: the matrices plumb_repack_file would convert whose interleaved
 * type has a vectorised tiled product on this tier (not the portable C
 * one), and their bytes.  0 when the model has none, is repacked already, or
 * the tier has no kernels for the interleaved types (a copy would be
 * slower there). */
uint64_t plumb_repack_gain(const PlumbModel *m, uint64_t *bytes);

#endif
