/*
 * gguf.h — read-only, memory-mapped GGUF (v2, v3, little-endian) parser.
 *
 * The file is treated as hostile: every count, length, dimension product and
 * offset is checked before use, strings and arrays have caps, names must be
 * unique, and every tensor's data must lie inside the file.  On success the
 * PlumbGGUF owns the mapping; tensor data pointers and array payloads are
 * views into it and live until plumb_gguf_close().
 *
 * Strings in a GGUF file are not NUL-terminated; the parser copies keys,
 * tensor names and string values into one arena so they can be used as C
 * strings.  String arrays (the 151,936 tokenizer tokens) are not copied: use
 * plumb_gguf_arr_str() which returns a pointer + length into the mapping.
 */
#ifndef PLUMB_GGUF_H
#define PLUMB_GGUF_H

#include <stddef.h>
#include <stdint.h>

#include "plumb.h"

/* GGUF metadata value types (gguf spec numbering). */
enum {
    PLUMB_GGUF_UINT8 = 0,
    PLUMB_GGUF_INT8 = 1,
    PLUMB_GGUF_UINT16 = 2,
    PLUMB_GGUF_INT16 = 3,
    PLUMB_GGUF_UINT32 = 4,
    PLUMB_GGUF_INT32 = 5,
    PLUMB_GGUF_FLOAT32 = 6,
    PLUMB_GGUF_BOOL = 7,
    PLUMB_GGUF_STRING = 8,
    PLUMB_GGUF_ARRAY = 9,
    PLUMB_GGUF_UINT64 = 10,
    PLUMB_GGUF_INT64 = 11,
    PLUMB_GGUF_FLOAT64 = 12,
    PLUMB_GGUF_NTYPES
};

#define PLUMB_GGUF_MAX_DIMS 4
#define PLUMB_GGUF_MAX_STRING (1u << 24)    /* 16 MiB: longest string accepted */
#define PLUMB_GGUF_MAX_ARRAY (1u << 26)     /* elements in one array */
#define PLUMB_GGUF_MAX_KV (1u << 20)        /* metadata entries */
#define PLUMB_GGUF_MAX_TENSORS (1u << 20)   /* tensor table entries */

typedef struct PlumbGGUFValue {
    uint32_t type; /* PLUMB_GGUF_* */
    union {
        uint64_t u64; /* any unsigned integer type, bool */
        int64_t i64;  /* any signed integer type */
        double f64;   /* FLOAT32 / FLOAT64 */
        struct {
            const char *s; /* NUL-terminated copy in the arena */
            uint64_t len;  /* bytes, without the NUL */
        } str;
        struct {
            uint32_t type;     /* element type (never ARRAY: nested arrays are refused) */
            uint64_t n;        /* elements */
            const uint8_t *data; /* first element, in the mapping */
            /* For STRING arrays: offsets[i] = byte offset of element i's
             * 8-byte length prefix from data; for fixed-size types NULL. */
            const uint64_t *offsets;
        } arr;
    } v;
} PlumbGGUFValue;

typedef struct PlumbGGUFKV {
    const char *key; /* NUL-terminated, in the arena */
    PlumbGGUFValue val;
} PlumbGGUFKV;

typedef struct PlumbGGUFTensor {
    const char *name;                 /* NUL-terminated, in the arena */
    uint32_t type;                    /* PLUMB_QTYPE_* (ggml type id) */
    uint32_t n_dims;                  /* 1..4 */
    uint64_t ne[PLUMB_GGUF_MAX_DIMS]; /* elements per dim, ne[0] innermost; unused dims = 1 */
    uint64_t offset;                  /* bytes from the start of the data section */
    uint64_t nbytes;                  /* bytes of data */
    const void *data;                 /* view into the mapping */
} PlumbGGUFTensor;

typedef struct PlumbGGUF {
    char *path;               /* copy of the path, for messages */
    const uint8_t *map;       /* the whole file, read-only */
    uint64_t size;            /* bytes */
    uint32_t version;         /* 2 or 3 */
    uint64_t n_kv;            /* metadata entries */
    PlumbGGUFKV *kv;          /* [n_kv] */
    uint64_t n_tensors;       /* tensor entries */
    PlumbGGUFTensor *tensors; /* [n_tensors] */
    uint64_t alignment;       /* general.alignment or 32 */
    uint64_t data_offset;     /* start of the tensor data section */
    void *priv;               /* arena, hash tables */
} PlumbGGUF;

/* Open and validate.  On error *out is NULL and err names the file and the
 * field at fault ("x.gguf: tensor 'blk.3.attn_q.weight': data ends past end of file"). */
int plumb_gguf_open(PlumbGGUF **out, const char *path, PlumbError *err);
void plumb_gguf_close(PlumbGGUF *g); /* NULL is fine */

const PlumbGGUFKV *plumb_gguf_find(const PlumbGGUF *g, const char *key);
const PlumbGGUFTensor *plumb_gguf_tensor(const PlumbGGUF *g, const char *name);

/* Typed getters.  Integers of any width and signedness convert when the value
 * fits; a missing key gives PLUMB_EFORMAT "missing key 'k'", a wrong type or
 * out-of-range value gives PLUMB_EFORMAT naming key and type.  The _opt
 * variants return 0 and leave *out untouched when the key is absent. */
int plumb_gguf_get_u32(const PlumbGGUF *g, const char *key, uint32_t *out, PlumbError *err);
int plumb_gguf_get_f32(const PlumbGGUF *g, const char *key, float *out, PlumbError *err);
int plumb_gguf_get_bool(const PlumbGGUF *g, const char *key, int *out, PlumbError *err);
int plumb_gguf_get_str(const PlumbGGUF *g, const char *key, const char **out, PlumbError *err);
int plumb_gguf_get_u32_opt(const PlumbGGUF *g, const char *key, uint32_t *out, PlumbError *err);
int plumb_gguf_get_f32_opt(const PlumbGGUF *g, const char *key, float *out, PlumbError *err);
int plumb_gguf_get_bool_opt(const PlumbGGUF *g, const char *key, int *out, PlumbError *err);
/* Array: element type must be elem_type (PLUMB_GGUF_*); returns the value. */
int plumb_gguf_get_arr(const PlumbGGUF *g, const char *key, uint32_t elem_type,
                       const PlumbGGUFValue **out, PlumbError *err);

/* Element i of a STRING array (bounds already validated at open). */
const char *plumb_gguf_arr_str(const PlumbGGUFValue *arr, uint64_t i, uint64_t *len);

const char *plumb_gguf_type_name(uint32_t type); /* "uint32", "string", ... */

#endif
