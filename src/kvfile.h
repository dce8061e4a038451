/*
 * kvfile.h — a session's key/value cache and tokens in a file:
 * plumb_session_save() and plumb_session_load() of plumb.h.
 * Library-internal.
 *
 * A file holds what a session needs to go on exactly where the saving one
 * stood: the tokens it holds and the pages of its cache, byte for byte, so
 * the logits of whatever is evaluated after a load are bit for bit those the
 * saving session would have given.  It also records everything those bytes
 * depend on — the model, the cache's shape, types, key rotation and window,
 * and the RoPE settings the keys were rotated with — and a load refuses a
 * file that differs in any of them, naming the field and both values.
 *
 * Format, version 1.  Integers and floats are little-endian (floats as the
 * bits of an IEEE-754 binary32); offsets in bytes.
 *
 *   header
 *     0    8  magic "PLUMBKV\0"
 *     8    4  u32 format version (1)
 *     12   4  u32 positions per page (PLUMB_KV_PAGE, 256)
 *     16  32  model fingerprint: SHA-256 of the GGUF file's bytes from offset
 *             0 to the start of its tensor data (header, metadata and tensor
 *             table: the weights are not read)
 *     48   4  i32 layers                      the cache's parameters
 *     52   4  i32 key/value heads             (PlumbKVParams; n_ctx is not
 *     56   4  i32 head size                    recorded: a file loads into
 *     60   4  u32 key type                     any context it fits)
 *     64   4  u32 value type                  types as GGUF numbers them:
 *     68   4  u32 key rotation (0 none, 1      0 f32, 1 f16, 2 q4_0, 8 q8_0
 *             Walsh-Hadamard)
 *     72   4  i32 window (0: none)
 *     76   4  i32 sinks (keep; 0 without a window)
 *     80   4  i32 RoPE rotated dimensions     the model's PlumbRope
 *     84   4  f32 RoPE frequency base
 *     88   4  f32 RoPE frequency scale
 *     92   4  f32 YaRN extrapolation factor
 *     96   4  f32 YaRN attention factor
 *     100  4  i32 original training context (n_ctx_orig)
 *     104  8  f32 x 2 YaRN correction dimensions
 *     112  4  u32 positions held, n (= tokens)
 *     116 4n  i32 x n token ids
 *     +0   4  u32 CRC-32 of the header bytes before it
 *   then per page held, in increasing index order
 *          4  u32 page index i (positions [256 i, 256 (i+1)))
 *          8  u64 compressed length c
 *          c  zlib stream (level 1) of the page's rows: page_bytes bytes,
 *             laid out as in memory (kvcache.h); the rows of positions past
 *             n in the last page are written as zeros
 *          4  u32 CRC-32 of the page_bytes uncompressed bytes
 *   trailer
 *          4  u32 0xFFFFFFFF (no page has this index)
 *          4  u32 pages written
 *          4  u32 CRC-32 of every byte of the file before this field
 *
 * Pages a window had dropped are absent; the pages the token at n attends
 * to (the sinks and the window, every page of a dense cache) must be there.
 * The rows are the cache's bytes as the host holds them: little-endian
 * floats and block scales, as on every host plumb runs on.
 *
 * Save writes a temporary file beside path (O_EXCL, mode 0644 less the
 * umask; outfile.h), fsyncs it and renames it over path; a symbolic link,
 * directory or other non-regular file at path is refused, and on any error
 * nothing is left behind and path is untouched.
 *
 * Load opens path with O_NOFOLLOW and trusts nothing in it: every count and
 * length is checked against the session's own limits before anything is
 * allocated (positions against the context, page indices against the
 * positions, compressed lengths against zlib's bound for a page, the
 * uncompressed length must be the page's size exactly), each page's CRC and
 * the file's are verified, and bytes after the trailer are an error.  On any
 * error the session is left empty (reset), never half-loaded.  Messages
 * start "kv-load: FILE: " or "kv-save: FILE: ".
 */
#ifndef PLUMB_KVFILE_H
#define PLUMB_KVFILE_H

#include <stddef.h>
#include <stdint.h>

#include "plumb.h"

#define PLUMB_KVFILE_MAGIC "PLUMBKV" /* and its NUL: 8 bytes */
#define PLUMB_KVFILE_VERSION 1u
#define PLUMB_KVFILE_FIXED 116       /* header bytes before the token ids */
#define PLUMB_KVFILE_END 0xFFFFFFFFu /* page index field that starts the trailer */

/* The number of positions (tokens) a file says it holds, from its fixed
 * header alone (magic and version checked, nothing else): for a program
 * that sizes a session's context before loading.  plumb_session_load()
 * still checks the whole file. */
int plumb_kvfile_peek(const char *path, size_t *n_tokens, PlumbError *err);

/* Would plumb_session_save() be able to write path?  Refuses what it
 * refuses at once (a symbolic link, a directory or another non-regular file
 * at path) and a directory where no file can be made: a temporary file is
 * created beside path and removed.  For programs, before the work whose
 * result they will save. */
int plumb_kvfile_check_save(const char *path, PlumbError *err);

#endif
