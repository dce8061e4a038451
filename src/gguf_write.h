/*
 * gguf_write.h — streaming GGUF v3 writer.
 *
 * Use in three phases, in this order:
 *   1. metadata: plumb_gguf_writer_kv_*() add key/value pairs of any type
 *      (arrays of strings included, or any value copied from a PlumbGGUF);
 *   2. tensor table: plumb_gguf_writer_add_tensor() declares each tensor's
 *      name, type and shape; its data offset is assigned later, aligned to
 *      general.alignment (32 unless that key was added as a uint32);
 *   3. data: plumb_gguf_writer_write() appends bytes and
 *      plumb_gguf_writer_fill() asks a callback for them, tensor after tensor
 *      in the order they were declared.  The first data call writes the
 *      header, metadata and tensor table; padding is inserted automatically.
 * plumb_gguf_writer_finish() checks every tensor got all its bytes, flushes,
 * fsyncs and moves the file into place.
 *
 * Memory: metadata and the tensor table are held in memory (a few MB for a
 * full tokenizer); tensor data passes through one fixed buffer
 * (PLUMB_GGUF_WRITE_BUFFER bytes), so a file of any size is written in
 * constant memory.
 *
 * Files: the output goes through outfile.h: a temporary file with a unique
 * name next to path (or a character device or FIFO written in place);
 * finish renames it to path, so an interrupted run never leaves a partial
 * file under the final name, and plumb_gguf_writer_close() before finish
 * removes the temporary file.  Without PLUMB_GGUF_WRITE_FORCE an existing
 * path is refused at open and never replaced at finish; a symbolic link at
 * path is refused unless PLUMB_GGUF_WRITE_FOLLOW.
 *
 * Errors are negative PLUMB_E* codes with a message naming the file and key
 * or tensor.  After an error in phase 3 the writer can only be closed.
 */
#ifndef PLUMB_GGUF_WRITE_H
#define PLUMB_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "gguf.h"
#include "outfile.h"
#include "plumb.h"

#define PLUMB_GGUF_WRITE_FORCE PLUMB_OUT_FORCE   /* replace an existing file */
#define PLUMB_GGUF_WRITE_FOLLOW PLUMB_OUT_FOLLOW /* write where a symbolic link points */
#define PLUMB_GGUF_WRITE_BUFFER ((size_t)8 << 20) /* bytes buffered before a write(2) */
#define PLUMB_GGUF_DEFAULT_ALIGNMENT 32           /* bytes, when general.alignment is absent */

typedef struct PlumbGGUFWriter PlumbGGUFWriter;

/* Open path for writing.  flags: PLUMB_GGUF_WRITE_*.  input_path (may be
 * NULL): a file the output must not be; expected_bytes (0: unknown): the
 * size to check the file system has room for (see outfile.h). */
int plumb_gguf_writer_open_file(PlumbGGUFWriter **out, const char *path, unsigned flags,
                                const char *input_path, uint64_t expected_bytes,
                                PlumbError *err);
/* The same without an input or a size. */
int plumb_gguf_writer_open(PlumbGGUFWriter **out, const char *path, unsigned flags,
                           PlumbError *err);
/* Free the writer; removes the temporary file unless finish succeeded.
 * NULL is fine. */
void plumb_gguf_writer_close(PlumbGGUFWriter *w);

/* ---- phase 1: metadata.  Keys must be unique and non-empty. */
int plumb_gguf_writer_kv_u32(PlumbGGUFWriter *w, const char *key, uint32_t v, PlumbError *err);
int plumb_gguf_writer_kv_i32(PlumbGGUFWriter *w, const char *key, int32_t v, PlumbError *err);
int plumb_gguf_writer_kv_f32(PlumbGGUFWriter *w, const char *key, float v, PlumbError *err);
int plumb_gguf_writer_kv_bool(PlumbGGUFWriter *w, const char *key, int v, PlumbError *err);
int plumb_gguf_writer_kv_str(PlumbGGUFWriter *w, const char *key, const char *s, PlumbError *err);
/* Array of n fixed-size elements of elem_type (PLUMB_GGUF_UINT8 ... FLOAT64,
 * not STRING or ARRAY); data holds them in host (little-endian) layout. */
int plumb_gguf_writer_kv_arr(PlumbGGUFWriter *w, const char *key, uint32_t elem_type,
                             const void *data, uint64_t n, PlumbError *err);
/* Array of n strings; lens[i] gives the bytes of s[i], or lens == NULL for
 * NUL-terminated strings. */
int plumb_gguf_writer_kv_arr_str(PlumbGGUFWriter *w, const char *key, const char *const *s,
                                 const uint64_t *lens, uint64_t n, PlumbError *err);
/* Any value in the reader's representation (see gguf.h): scalars of every
 * type, strings, and arrays whose data points into a PlumbGGUF mapping. */
int plumb_gguf_writer_kv_value(PlumbGGUFWriter *w, const char *key, const PlumbGGUFValue *v,
                               PlumbError *err);

/* ---- phase 2: tensor table.  ne[0] is innermost and must be a multiple of
 * the type's block size; type must be known to quant/qtypes.h. */
int plumb_gguf_writer_add_tensor(PlumbGGUFWriter *w, const char *name, uint32_t type,
                                 uint32_t n_dims, const uint64_t *ne, PlumbError *err);
/* Bytes of data of tensor i (in declaration order), 0 when out of range. */
uint64_t plumb_gguf_writer_tensor_bytes(const PlumbGGUFWriter *w, uint64_t i);

/* ---- phase 3: data. */
/* Append n bytes of the current tensor's data; may span tensors. */
int plumb_gguf_writer_write(PlumbGGUFWriter *w, const void *data, size_t n, PlumbError *err);

/* Fill the rest of the current tensor by calling fill() for consecutive
 * chunks: buf receives n bytes starting at byte offset `offset` of tensor
 * `tensor`.  Chunks are whole blocks of the tensor's type (when the tensor's
 * data so far was written in whole blocks) and at most
 * PLUMB_GGUF_WRITE_BUFFER bytes.  A non-zero return from fill stops the
 * writer and is returned. */
typedef int (*PlumbGGUFFillFn)(void *arg, uint64_t tensor, uint64_t offset, void *buf, size_t n,
                               PlumbError *err);
int plumb_gguf_writer_fill(PlumbGGUFWriter *w, PlumbGGUFFillFn fill, void *arg, PlumbError *err);

/* Index of the tensor the next data byte belongs to (== tensor count when
 * all data is written). */
uint64_t plumb_gguf_writer_current(const PlumbGGUFWriter *w);

/* Write whatever of the header is pending, check every tensor is complete,
 * flush, fsync and move the temporary file to path. */
int plumb_gguf_writer_finish(PlumbGGUFWriter *w, PlumbError *err);

#endif
