/*
 * gguf.c — the GGUF reader (see gguf.h).
 *
 * Layout of a GGUF v2/v3 file (all little-endian):
 *   header   magic "GGUF", u32 version, u64 n_tensors, u64 n_kv
 *   metadata n_kv × { string key, u32 value type, value }
 *            string = u64 length + bytes; array = u32 element type, u64 count, elements
 *   tensors  n_tensors × { string name, u32 n_dims, u64 ne[n_dims], u32 type, u64 offset }
 *   padding  to general.alignment (default 32)
 *   data     tensor bytes; each tensor at data_offset + offset
 *
 * The parser walks the mapping with a cursor that checks every read against
 * the bytes left in the file, so nothing is ever read out of bounds.  Counts
 * are checked against the caps of gguf.h and against the smallest number of
 * bytes their elements could occupy before anything is allocated from them:
 * memory use is bounded by a small multiple of the metadata's size in the
 * file.  Only the header, metadata and tensor table are touched; tensor data
 * is never read, so opening a model of any size takes milliseconds.
 *
 * Ownership: the PlumbGGUF owns the mapping, the kv and tensor arrays and a
 * private block (arena of copied strings and string-array offsets, and two
 * open-addressing hash tables — keys and tensor names — holding index + 1).
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "gguf.h"
#include "outfile.h"
#include "qtypes.h"

#define ARENA_CHUNK ((size_t)1 << 16) /* bytes of an ordinary arena chunk */
#define MIN_KV_BYTES 13u     /* key length (8) + value type (4) + smallest value (1) */
#define MIN_TENSOR_BYTES 32u /* name length (8) + n_dims (4) + one dim (8) + type (4) + offset (8) */
#define HEADER_BYTES 24u     /* magic, version, n_tensors, n_kv */

/* ------------------------------------------------------------------ arena */

typedef struct Chunk {
    struct Chunk *next; /* older chunk */
    size_t cap;         /* bytes of mem */
    size_t used;        /* bytes handed out */
    uint64_t mem[];     /* 8-byte aligned storage */
} Chunk;

typedef struct Table {
    uint32_t *slot; /* [mask + 1] entry index + 1, 0 = empty */
    uint64_t mask;  /* slots - 1 (slots a power of two) */
} Table;

typedef struct Priv {
    Chunk *arena; /* newest chunk first */
    Table keys;   /* kv index by key */
    Table names;  /* tensor index by name */
} Priv;

static void *arena_alloc(Priv *pv, size_t n)
{
    Chunk *c = pv->arena;
    void *p;
    n = (n + 7) & ~(size_t)7;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > ARENA_CHUNK ? n : ARENA_CHUNK;
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = pv->arena;
        pv->arena = c;
    }
    p = (char *)c->mem + c->used;
    c->used += n;
    return p;
}

static char *arena_str(Priv *pv, const uint8_t *s, uint64_t len)
{
    char *p = arena_alloc(pv, (size_t)len + 1);
    if (p) {
        memcpy(p, s, (size_t)len);
        p[len] = '\0';
    }
    return p;
}

/* ------------------------------------------------------------------ hashing */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static int table_init(Table *t, uint64_t n)
{
    uint64_t slots = 16;
    while (slots < 2 * n)
        slots *= 2;
    t->slot = calloc((size_t)slots, sizeof *t->slot);
    t->mask = slots - 1;
    return t->slot ? 0 : -1;
}

/* The tables index arrays of structs whose first-level field at names
 * (stride bytes apart) is the entry's name. */
static const char *entry_name(const char *const *names, size_t stride, uint32_t i)
{
    return *(const char *const *)((const char *)names + (size_t)i * stride);
}

/* Index of the entry named s, or -1. */
static int64_t table_find(const Table *t, const char *s, const char *const *names, size_t stride)
{
    uint64_t h;
    if (!t->slot)
        return -1;
    for (h = hash_str(s) & t->mask; t->slot[h]; h = (h + 1) & t->mask)
        if (strcmp(entry_name(names, stride, t->slot[h] - 1), s) == 0)
            return t->slot[h] - 1;
    return -1;
}

/* Insert entry idx named s; returns the index of an existing entry of that
 * name (and inserts nothing), or -1.  The table has room: slots >= 2 n. */
static int64_t table_insert(Table *t, const char *s, uint32_t idx, const char *const *names,
                            size_t stride)
{
    uint64_t h;
    for (h = hash_str(s) & t->mask; t->slot[h]; h = (h + 1) & t->mask)
        if (strcmp(entry_name(names, stride, t->slot[h] - 1), s) == 0)
            return t->slot[h] - 1;
    t->slot[h] = idx + 1;
    return -1;
}

/* ------------------------------------------------------------------ the cursor */

enum { AT_HEADER, AT_KEY, AT_TENSOR };

typedef struct Rd {
    const uint8_t *map; /* the file */
    uint64_t size;      /* bytes in the file */
    uint64_t pos;       /* read position, <= size */
    const char *path;   /* for messages */
    PlumbError *err;    /* caller's */
    Priv *pv;           /* arena */
    /* Where the cursor is, for messages. */
    int at;             /* AT_* */
    uint64_t idx, count; /* entry idx of count */
    const char *name;   /* key / tensor name once read, else NULL */
    uint64_t elem, n_elem; /* array element, UINT64_MAX when not in an array */
} Rd;

/* Copy a name from the file into out for a message: printable ASCII kept,
 * everything else '?', long names cut. */
static void safe_name(const char *s, char *out, size_t cap)
{
    size_t i = 0;
    for (; *s && i + 4 < cap; s++)
        out[i++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s) {
        memcpy(out + i, "...", 3);
        i += 3;
    }
    out[i] = '\0';
}

/* Describe the cursor's position.  Long form names the entry by index and
 * name (for truncation); short form by name when known. */
static void where(const Rd *r, int long_form, char *buf, size_t cap)
{
    char nm[96];
    int n = 0;
    if (r->name)
        safe_name(r->name, nm, sizeof nm);
    switch (r->at) {
    case AT_HEADER:
        n = snprintf(buf, cap, "header");
        break;
    case AT_KEY:
        if (r->name && !long_form)
            n = snprintf(buf, cap, "key '%s'", nm);
        else if (r->name)
            n = snprintf(buf, cap, "key %" PRIu64 " of %" PRIu64 " ('%s')", r->idx, r->count, nm);
        else
            n = snprintf(buf, cap, "key %" PRIu64 " of %" PRIu64, r->idx, r->count);
        break;
    default:
        if (r->name && !long_form)
            n = snprintf(buf, cap, "tensor '%s'", nm);
        else if (r->name)
            n = snprintf(buf, cap, "tensor table entry %" PRIu64 " of %" PRIu64 " ('%s')", r->idx,
                         r->count, nm);
        else
            n = snprintf(buf, cap, "tensor table entry %" PRIu64 " of %" PRIu64, r->idx, r->count);
        break;
    }
    if (r->elem != UINT64_MAX && n >= 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n, ", element %" PRIu64 " of %" PRIu64, r->elem, r->n_elem);
}

/* Report a problem at the cursor: "FILE: <where>: <what>". */
static int fail(const Rd *r, int code, const char *fmt, ...) PLUMB_PRINTF(3, 4);
static int fail(const Rd *r, int code, const char *fmt, ...)
{
    char loc[256], what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    where(r, 0, loc, sizeof loc);
    return plumb_err(r->err, code, "%s: %s: %s", r->path, loc, what);
}

/* Make sure n more bytes are in the file; field names what is being read. */
static int need(const Rd *r, uint64_t n, const char *field)
{
    char loc[256];
    uint64_t end;
    if (n <= r->size - r->pos)
        return 0;
    where(r, 1, loc, sizeof loc);
    if (plumb_add_overflow(r->pos, n, &end))
        return plumb_err(r->err, PLUMB_EFORMAT,
                         "%s: truncated: %s: %s needs %" PRIu64 " bytes from byte %" PRIu64
                         ", file has %" PRIu64 " bytes",
                         r->path, loc, field, n, r->pos, r->size);
    return plumb_err(r->err, PLUMB_EFORMAT,
                     "%s: truncated: %s: %s ends at byte %" PRIu64 ", file has %" PRIu64 " bytes",
                     r->path, loc, field, end, r->size);
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    int i;
    for (i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int rd_u32(Rd *r, uint32_t *v, const char *field)
{
    int rc = need(r, 4, field);
    if (rc)
        return rc;
    *v = (uint32_t)le(r->map + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int rd_u64(Rd *r, uint64_t *v, const char *field)
{
    int rc = need(r, 8, field);
    if (rc)
        return rc;
    *v = le(r->map + r->pos, 8);
    r->pos += 8;
    return 0;
}

/* A string in place: length checked against the cap and the file.  field is
 * "key", "name", "string". */
static int rd_str(Rd *r, const uint8_t **s, uint64_t *len, const char *field)
{
    int rc;
    if (r->size - r->pos < 8) { /* the length is cut: name it in the message */
        char lenfield[64];
        snprintf(lenfield, sizeof lenfield, "%s length", field);
        return rd_u64(r, len, lenfield);
    }
    if ((rc = rd_u64(r, len, field)))
        return rc;
    if (*len > PLUMB_GGUF_MAX_STRING)
        return fail(r, PLUMB_EFORMAT, "%s length %" PRIu64 " exceeds the %u MiB limit", field, *len,
                    PLUMB_GGUF_MAX_STRING >> 20);
    if ((rc = need(r, *len, field)))
        return rc;
    *s = r->map + r->pos;
    r->pos += *len;
    return 0;
}

/* A key or tensor name: non-empty, no NUL bytes, copied to the arena. */
static int rd_name(Rd *r, const char **out, const char *field)
{
    const uint8_t *s;
    uint64_t len;
    int rc = rd_str(r, &s, &len, field);
    if (rc)
        return rc;
    if (len == 0)
        return fail(r, PLUMB_EFORMAT, "empty %s", field);
    if (memchr(s, 0, (size_t)len))
        return fail(r, PLUMB_EFORMAT, "%s contains a NUL byte", field);
    if (!(*out = arena_str(r->pv, s, len)))
        return plumb_err(r->err, PLUMB_ENOMEM, "%s: out of memory", r->path);
    return 0;
}

/* ------------------------------------------------------------------ metadata values */

static const char *const type_names[PLUMB_GGUF_NTYPES] = {
    "uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
    "bool", "string", "array", "uint64", "int64", "float64",
};

/* Bytes of a fixed-size value; 0 for STRING and ARRAY. */
static const uint8_t type_size[PLUMB_GGUF_NTYPES] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };

const char *plumb_gguf_type_name(uint32_t type)
{
    return type < PLUMB_GGUF_NTYPES ? type_names[type] : "unknown";
}

static int is_signed(uint32_t t)
{
    return t == PLUMB_GGUF_INT8 || t == PLUMB_GGUF_INT16 || t == PLUMB_GGUF_INT32 ||
           t == PLUMB_GGUF_INT64;
}

/* Decode a fixed-size scalar at p. */
static void decode_scalar(uint32_t type, const uint8_t *p, PlumbGGUFValue *v)
{
    uint64_t raw = le(p, type_size[type]);
    v->type = type;
    switch (type) {
    case PLUMB_GGUF_INT8: v->v.i64 = (int8_t)raw; break;
    case PLUMB_GGUF_INT16: v->v.i64 = (int16_t)raw; break;
    case PLUMB_GGUF_INT32: v->v.i64 = (int32_t)raw; break;
    case PLUMB_GGUF_INT64: v->v.i64 = (int64_t)raw; break;
    case PLUMB_GGUF_FLOAT32: {
        uint32_t u = (uint32_t)raw;
        float f;
        memcpy(&f, &u, sizeof f);
        v->v.f64 = f;
        break;
    }
    case PLUMB_GGUF_FLOAT64: memcpy(&v->v.f64, &raw, sizeof v->v.f64); break;
    default: v->v.u64 = raw; break; /* unsigned, bool */
    }
}

static int rd_array(Rd *r, PlumbGGUFValue *v)
{
    uint32_t et;
    uint64_t n, bytes, i;
    int rc;
    if ((rc = rd_u32(r, &et, "array element type")))
        return rc;
    if (et == PLUMB_GGUF_ARRAY)
        return fail(r, PLUMB_EFORMAT, "nested arrays are not supported");
    if (et >= PLUMB_GGUF_NTYPES)
        return fail(r, PLUMB_EFORMAT, "array of unknown value type %" PRIu32, et);
    if ((rc = rd_u64(r, &n, "array count")))
        return rc;
    if (n > PLUMB_GGUF_MAX_ARRAY)
        return fail(r, PLUMB_EFORMAT, "array of %" PRIu64 " elements exceeds the limit of %u", n,
                    PLUMB_GGUF_MAX_ARRAY);
    v->type = PLUMB_GGUF_ARRAY;
    v->v.arr.type = et;
    v->v.arr.n = n;
    v->v.arr.data = r->map + r->pos;
    v->v.arr.offsets = NULL;
    if (et == PLUMB_GGUF_STRING) {
        /* Every element has an 8-byte length: check the count against the
         * file before allocating its offset table. */
        const uint8_t *base = r->map + r->pos;
        uint64_t *off = NULL;
        if (n * 8 > r->size - r->pos) {
            char loc[256];
            where(r, 1, loc, sizeof loc);
            return plumb_err(r->err, PLUMB_EFORMAT,
                             "%s: truncated: %s: %" PRIu64 " strings need at least %" PRIu64
                             " bytes from byte %" PRIu64 ", file has %" PRIu64 " bytes",
                             r->path, loc, n, n * 8, r->pos, r->size);
        }
        if (n && !(off = arena_alloc(r->pv, (size_t)n * sizeof *off)))
            return plumb_err(r->err, PLUMB_ENOMEM, "%s: out of memory", r->path);
        r->n_elem = n;
        for (i = 0; i < n; i++) {
            const uint8_t *s;
            uint64_t len;
            r->elem = i;
            off[i] = (uint64_t)(r->map + r->pos - base);
            if ((rc = rd_str(r, &s, &len, "string")))
                return rc;
        }
        r->elem = UINT64_MAX;
        v->v.arr.offsets = n ? off : NULL;
        return 0;
    }
    bytes = n * type_size[et]; /* n <= 2^26: no overflow */
    if ((rc = need(r, bytes, "array data")))
        return rc;
    if (et == PLUMB_GGUF_BOOL)
        for (i = 0; i < n; i++)
            if (r->map[r->pos + i] > 1) {
                r->elem = i;
                r->n_elem = n;
                return fail(r, PLUMB_EFORMAT, "bool value %u is not 0 or 1", r->map[r->pos + i]);
            }
    r->pos += bytes;
    return 0;
}

static int rd_value(Rd *r, uint32_t type, PlumbGGUFValue *v)
{
    int rc;
    if (type >= PLUMB_GGUF_NTYPES)
        return fail(r, PLUMB_EFORMAT, "unknown value type %" PRIu32, type);
    if (type == PLUMB_GGUF_ARRAY)
        return rd_array(r, v);
    if (type == PLUMB_GGUF_STRING) {
        const uint8_t *s;
        uint64_t len;
        if ((rc = rd_str(r, &s, &len, "string")))
            return rc;
        v->type = type;
        v->v.str.len = len;
        if (!(v->v.str.s = arena_str(r->pv, s, len)))
            return plumb_err(r->err, PLUMB_ENOMEM, "%s: out of memory", r->path);
        return 0;
    }
    if ((rc = need(r, type_size[type], type_names[type])))
        return rc;
    decode_scalar(type, r->map + r->pos, v);
    if (type == PLUMB_GGUF_BOOL && v->v.u64 > 1)
        return fail(r, PLUMB_EFORMAT, "bool value %" PRIu64 " is not 0 or 1", v->v.u64);
    r->pos += type_size[type];
    return 0;
}

/* ------------------------------------------------------------------ tensor types */

/* Names of the ggml type ids, for messages about types plumb cannot load. */
static const char *const ggml_names[] = {
    "F32", "F16", "Q4_0", "Q4_1", "Q4_2", "Q4_3", "Q5_0", "Q5_1", "Q8_0", "Q8_1",
    "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S",
    "IQ4_NL", "IQ3_S", "IQ2_S", "IQ4_XS", "I8", "I16", "I32", "I64", "F64", "IQ1_M",
    "BF16", "Q4_0_4_4", "Q4_0_4_8", "Q4_0_8_8", "TQ1_0", "TQ2_0", "IQ4_NL_4_4", "IQ4_NL_4_8",
    "IQ4_NL_8_8", "MXFP4",
};

static int rd_tensor(Rd *r, PlumbGGUFTensor *t, uint64_t alignment)
{
    const PlumbQTraits *tr;
    uint64_t nel = 1, rows, nbytes;
    uint32_t j, raw_type;
    int rc;
    for (j = 0; j < PLUMB_GGUF_MAX_DIMS; j++)
        t->ne[j] = 1;
    if ((rc = rd_u32(r, &t->n_dims, "n_dims")))
        return rc;
    if (t->n_dims < 1 || t->n_dims > PLUMB_GGUF_MAX_DIMS)
        return fail(r, PLUMB_EFORMAT, "n_dims %" PRIu32 " is not in 1..%d", t->n_dims,
                    PLUMB_GGUF_MAX_DIMS);
    for (j = 0; j < t->n_dims; j++) {
        char field[32];
        snprintf(field, sizeof field, "dimension %" PRIu32, j);
        if ((rc = rd_u64(r, &t->ne[j], field)))
            return rc;
        if (t->ne[j] > (uint64_t)INT64_MAX)
            return fail(r, PLUMB_EFORMAT, "dimension %" PRIu32 " is %" PRIu64 " (negative as int64)",
                        j, t->ne[j]);
    }
    if ((rc = rd_u32(r, &raw_type, "type")))
        return rc;
    t->type = plumb_qtype_from_gguf(raw_type);
    if ((rc = rd_u64(r, &t->offset, "offset")))
        return rc;

    /* Zero-sized dimensions are legal (as in llama.cpp): such a tensor has no data. */
    for (j = 0; j < PLUMB_GGUF_MAX_DIMS; j++)
        if (plumb_mul_overflow(nel, t->ne[j], &nel) || nel > (uint64_t)INT64_MAX)
            return fail(r, PLUMB_EFORMAT,
                        "shape %" PRIu64 " x %" PRIu64 " x %" PRIu64 " x %" PRIu64
                        " has more than 2^63-1 elements",
                        t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
    tr = plumb_qtype_traits(t->type);
    if (!tr || tr->blck <= 0 || tr->size == 0) {
        size_t nn = sizeof ggml_names / sizeof ggml_names[0];
        if (raw_type < nn && ggml_names[raw_type])
            return fail(r, PLUMB_EUNSUPPORTED, "unsupported type %" PRIu32 " (%s)", raw_type,
                        ggml_names[raw_type]);
        return fail(r, PLUMB_EFORMAT, "unknown type %" PRIu32, raw_type);
    }
    if (tr->rows > 1 && t->ne[1] % (uint64_t)tr->rows)
        return fail(r, PLUMB_EFORMAT, "%" PRIu64 " rows of type %s, not a multiple of %d",
                    t->ne[1], tr->name, tr->rows);
    if (t->ne[0] % (uint64_t)tr->blck)
        return fail(r, PLUMB_EFORMAT,
                    "row of %" PRIu64 " elements is not a multiple of the %s block size %" PRId32,
                    t->ne[0], tr->name, tr->blck);
    rows = nel ? nel / t->ne[0] : 0;
    if (plumb_mul_overflow(t->ne[0] / (uint64_t)tr->blck, tr->size, &nbytes) ||
        plumb_mul_overflow(nbytes, rows, &nbytes))
        return fail(r, PLUMB_EFORMAT, "size in bytes overflows 64 bits");
    t->nbytes = nbytes;
    if (t->offset % alignment)
        return fail(r, PLUMB_EFORMAT,
                    "data offset %" PRIu64 " is not a multiple of the alignment %" PRIu64,
                    t->offset, alignment);
    return 0;
}

/* ------------------------------------------------------------------ lookup */

const PlumbGGUFKV *plumb_gguf_find(const PlumbGGUF *g, const char *key)
{
    int64_t i;
    if (!g || !key || !g->n_kv)
        return NULL;
    i = table_find(&((const Priv *)g->priv)->keys, key, &g->kv[0].key, sizeof g->kv[0]);
    return i < 0 ? NULL : &g->kv[i];
}

const PlumbGGUFTensor *plumb_gguf_tensor(const PlumbGGUF *g, const char *name)
{
    int64_t i;
    if (!g || !name || !g->n_tensors)
        return NULL;
    i = table_find(&((const Priv *)g->priv)->names, name, &g->tensors[0].name,
                   sizeof g->tensors[0]);
    return i < 0 ? NULL : &g->tensors[i];
}

const char *plumb_gguf_arr_str(const PlumbGGUFValue *arr, uint64_t i, uint64_t *len)
{
    const uint8_t *p;
    if (!arr || arr->type != PLUMB_GGUF_ARRAY || arr->v.arr.type != PLUMB_GGUF_STRING ||
        i >= arr->v.arr.n || !arr->v.arr.offsets)
        return NULL;
    p = arr->v.arr.data + arr->v.arr.offsets[i];
    if (len)
        *len = le(p, 8);
    return (const char *)p + 8;
}

/* ------------------------------------------------------------------ open / close */

void plumb_gguf_close(PlumbGGUF *g)
{
    Priv *pv;
    if (!g)
        return;
    pv = g->priv;
    if (pv) {
        Chunk *c = pv->arena;
        while (c) {
            Chunk *next = c->next;
            free(c);
            c = next;
        }
        free(pv->keys.slot);
        free(pv->names.slot);
        free(pv);
    }
    if (g->map)
        munmap((void *)g->map, (size_t)g->size);
    free(g->kv);
    free(g->tensors);
    free(g->path);
    free(g);
}

/* Map size bytes of fd read-only.  A file of at least GGUF_HUGE_MIN bytes
 * is mapped at an address aligned to GGUF_HUGE (2 MiB, x86-64's and
 * arm64's PMD size with 4 KiB pages), file offset 0 on a boundary, and
 * advised MADV_HUGEPAGE: where the kernel maps page-cache folios of that
 * size with one page-table entry (Linux 6.x with transparent huge pages in
 * "madvise" or "always" mode), the weights are read through 2 MiB pages, a
 * TLB entry per 2 MiB instead of per 4 KiB, and readahead fills the page
 * cache in 2 MiB folios.  Elsewhere the advice is refused or ignored and
 * the mapping is as good as any. */
#define GGUF_HUGE ((size_t)2 << 20)
#define GGUF_HUGE_MIN ((size_t)64 << 20)
static void *map_file(int fd, size_t size)
{
    if (size >= GGUF_HUGE_MIN && size <= SIZE_MAX - 2 * GGUF_HUGE) {
        /* reserve size + 2 MiB, place the file on the first boundary in it
         * (MAP_FIXED replaces that part of the reservation), give back the
         * rest */
        const size_t page = (size_t)sysconf(_SC_PAGESIZE);
        const size_t span = (size + page - 1) / page * page;
        char *res = mmap(NULL, span + GGUF_HUGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                         -1, 0);
        if (res != MAP_FAILED) {
            char *at = (char *)(((uintptr_t)res + GGUF_HUGE - 1) & ~(uintptr_t)(GGUF_HUGE - 1));
            void *m = mmap(at, size, PROT_READ, MAP_PRIVATE | MAP_FIXED, fd, 0);
            if (m == MAP_FAILED) {
                munmap(res, span + GGUF_HUGE);
            } else {
                if (at > res)
                    munmap(res, (size_t)(at - res));
                if (res + span + GGUF_HUGE > at + span)
                    munmap(at + span, (size_t)(res + span + GGUF_HUGE - (at + span)));
#ifdef MADV_HUGEPAGE
                (void)madvise(m, size, MADV_HUGEPAGE);
#endif
                return m;
            }
        }
    }
    return mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
}

static int parse(PlumbGGUF *g, Rd *r)
{
    Priv *pv = g->priv;
    uint32_t magic_ver;
    uint64_t i, min_bytes, pad;
    int rc;

    /* Header. */
    if (r->size == 0)
        return plumb_err(r->err, PLUMB_EFORMAT, "%s: empty file (not a GGUF file)", r->path);
    if (r->size >= 4 && memcmp(r->map, "GGUF", 4) != 0) {
        char m[20];
        int k, n = 0;
        for (k = 0; k < 4; k++) {
            uint8_t c = r->map[k];
            n += snprintf(m + n, sizeof m - (size_t)n, (c >= 0x20 && c < 0x7f && c != '\\') ? "%c" : "\\x%02x", c);
        }
        return plumb_err(r->err, PLUMB_EFORMAT, "%s: bad magic '%s' (not a GGUF file)", r->path, m);
    }
    if ((rc = need(r, 4, "magic")))
        return rc;
    r->pos = 4;
    if ((rc = rd_u32(r, &magic_ver, "version")))
        return rc;
    if (magic_ver != 2 && magic_ver != 3) {
        if (magic_ver && (magic_ver & 0xffff) == 0)
            return plumb_err(r->err, PLUMB_EFORMAT,
                             "%s: unsupported GGUF version %" PRIu32
                             " (2 and 3 are supported; is it a big-endian file?)",
                             r->path, magic_ver);
        return plumb_err(r->err, PLUMB_EFORMAT,
                         "%s: unsupported GGUF version %" PRIu32 " (2 and 3 are supported)",
                         r->path, magic_ver);
    }
    g->version = magic_ver;
    if ((rc = rd_u64(r, &g->n_tensors, "tensor count")) || (rc = rd_u64(r, &g->n_kv, "key count")))
        return rc;
    if (g->n_tensors > PLUMB_GGUF_MAX_TENSORS)
        return fail(r, PLUMB_EFORMAT, "tensor count %" PRIu64 " exceeds the limit of %u",
                    g->n_tensors, PLUMB_GGUF_MAX_TENSORS);
    if (g->n_kv > PLUMB_GGUF_MAX_KV)
        return fail(r, PLUMB_EFORMAT, "key count %" PRIu64 " exceeds the limit of %u", g->n_kv,
                    PLUMB_GGUF_MAX_KV);
    min_bytes = g->n_kv * MIN_KV_BYTES + g->n_tensors * MIN_TENSOR_BYTES; /* both < 2^26 */
    if (min_bytes > r->size - r->pos)
        return plumb_err(r->err, PLUMB_EFORMAT,
                         "%s: truncated: header declares %" PRIu64 " keys and %" PRIu64
                         " tensors, which need at least %" PRIu64 " bytes, file has %" PRIu64
                         " bytes",
                         r->path, g->n_kv, g->n_tensors, r->pos + min_bytes, r->size);

    /* Metadata. */
    if ((g->n_kv && !(g->kv = calloc((size_t)g->n_kv, sizeof *g->kv))) ||
        table_init(&pv->keys, g->n_kv) ||
        (g->n_tensors && !(g->tensors = calloc((size_t)g->n_tensors, sizeof *g->tensors))) ||
        table_init(&pv->names, g->n_tensors))
        return plumb_err(r->err, PLUMB_ENOMEM, "%s: out of memory", r->path);
    r->at = AT_KEY;
    r->count = g->n_kv;
    for (i = 0; i < g->n_kv; i++) {
        PlumbGGUFKV *kv = &g->kv[i];
        uint32_t type;
        int64_t dup;
        r->idx = i;
        r->name = NULL;
        if ((rc = rd_name(r, &kv->key, "key")))
            return rc;
        r->name = kv->key;
        dup = table_insert(&pv->keys, kv->key, (uint32_t)i, &g->kv[0].key, sizeof *kv);
        if (dup >= 0)
            return fail(r, PLUMB_EFORMAT, "duplicate key (also key %" PRId64 ")", dup);
        if ((rc = rd_u32(r, &type, "value type")) || (rc = rd_value(r, type, &kv->val)))
            return rc;
    }

    /* Alignment. */
    r->at = AT_HEADER;
    g->alignment = 32;
    if (plumb_gguf_find(g, "general.alignment")) {
        uint32_t a;
        if ((rc = plumb_gguf_get_u32(g, "general.alignment", &a, r->err)))
            return rc;
        if (a == 0 || (a & (a - 1)))
            return plumb_err(r->err, PLUMB_EFORMAT,
                             "%s: key 'general.alignment': %" PRIu32 " is not a power of two",
                             r->path, a);
        g->alignment = a;
    }

    /* Tensor table. */
    r->at = AT_TENSOR;
    r->count = g->n_tensors;
    for (i = 0; i < g->n_tensors; i++) {
        PlumbGGUFTensor *t = &g->tensors[i];
        int64_t dup;
        r->idx = i;
        r->name = NULL;
        if ((rc = rd_name(r, &t->name, "name")))
            return rc;
        r->name = t->name;
        dup = table_insert(&pv->names, t->name, (uint32_t)i, &g->tensors[0].name, sizeof *t);
        if (dup >= 0)
            return fail(r, PLUMB_EFORMAT, "duplicate tensor name (also entry %" PRId64 ")", dup);
        if ((rc = rd_tensor(r, t, g->alignment)))
            return rc;
    }

    /* Data section: aligned start, every tensor inside the file. */
    r->at = AT_HEADER;
    g->data_offset = r->pos;
    if (g->n_tensors == 0)
        return 0;
    pad = (g->alignment - r->pos % g->alignment) % g->alignment;
    if (pad > r->size - r->pos)
        return plumb_err(r->err, PLUMB_EFORMAT,
                         "%s: truncated: data section starts at byte %" PRIu64
                         ", file has %" PRIu64 " bytes",
                         r->path, r->pos + pad, r->size);
    g->data_offset = r->pos + pad;
    for (i = 0; i < g->n_tensors; i++) {
        PlumbGGUFTensor *t = &g->tensors[i];
        uint64_t start, end;
        char nm[96];
        safe_name(t->name, nm, sizeof nm);
        if (t->offset > r->size - g->data_offset)
            return plumb_err(r->err, PLUMB_EFORMAT,
                             "%s: tensor '%s': data offset %" PRIu64
                             " is past the end of the file (data section starts at byte %" PRIu64
                             ", file has %" PRIu64 " bytes)",
                             r->path, nm, t->offset, g->data_offset, r->size);
        start = g->data_offset + t->offset;
        if (t->nbytes > r->size - start) {
            if (plumb_add_overflow(start, t->nbytes, &end))
                end = UINT64_MAX;
            return plumb_err(r->err, PLUMB_EFORMAT,
                             "%s: truncated: tensor '%s': data (%" PRIu64 " bytes at byte %" PRIu64
                             ") ends at byte %" PRIu64 ", file has %" PRIu64 " bytes",
                             r->path, nm, t->nbytes, start, end, r->size);
        }
        t->data = r->map + start;
    }
    return 0;
}

int plumb_gguf_open(PlumbGGUF **out, const char *path, PlumbError *err)
{
    PlumbGGUF *g = NULL;
    struct stat st;
    int fd = -1, rc;
    Rd r;

    if (!out || !path)
        return plumb_err(err, PLUMB_EINVAL, "plumb_gguf_open: NULL argument");
    *out = NULL;
    plumb_err_clear(err);
    if (!(g = calloc(1, sizeof *g)) || !(g->path = strdup(path)) ||
        !(g->priv = calloc(1, sizeof(Priv)))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    /* O_NONBLOCK: opening a FIFO (or some devices) would otherwise wait
     * for a writer before the check below could refuse it. */
    fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fd, &st) != 0) {
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
        goto fail;
    }
    if (!S_ISREG(st.st_mode)) {
        rc = plumb_err(err, PLUMB_EIO, "%s: is %s, not a model file", path,
                       plumb_file_type_name(st.st_mode));
        goto fail;
    }
    {
        const int fl = fcntl(fd, F_GETFL);
        if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) != 0) {
            rc = plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
            goto fail;
        }
    }
    if ((uint64_t)st.st_size > (uint64_t)SIZE_MAX) {
        rc = plumb_err(err, PLUMB_EIO, "%s: too large to map on this system", path);
        goto fail;
    }
    g->size = (uint64_t)st.st_size;
    if (g->size > 0) {
        void *m = map_file(fd, (size_t)g->size);
        if (m == MAP_FAILED) {
            rc = plumb_err(err, PLUMB_EIO, "%s: mmap: %s", path, strerror(errno));
            goto fail;
        }
        g->map = m;
        /* The metadata is read front to back once; the weights are the
         * caller's business afterwards. */
        madvise(m, (size_t)g->size, MADV_SEQUENTIAL);
    }
    close(fd);
    fd = -1;

    memset(&r, 0, sizeof r);
    r.map = g->map;
    r.size = g->size;
    r.path = path;
    r.err = err;
    r.pv = g->priv;
    r.at = AT_HEADER;
    r.elem = UINT64_MAX;
    if ((rc = parse(g, &r)))
        goto fail;
    if (g->map)
        madvise((void *)g->map, (size_t)g->size, MADV_NORMAL);
    *out = g;
    return PLUMB_OK;

fail:
    if (fd >= 0)
        close(fd);
    plumb_gguf_close(g);
    return rc;
}

/* ------------------------------------------------------------------ typed getters */

static int get(const PlumbGGUF *g, const char *key, const PlumbGGUFKV **kv, PlumbError *err)
{
    if (!g || !key)
        return plumb_err(err, PLUMB_EINVAL, "plumb_gguf_get: NULL argument");
    *kv = plumb_gguf_find(g, key);
    if (!*kv)
        return plumb_err(err, PLUMB_EFORMAT, "%s: missing key '%s'", g->path, key);
    return 0;
}

static int wrong_type(const PlumbGGUF *g, const PlumbGGUFKV *kv, const char *want, PlumbError *err)
{
    if (kv->val.type == PLUMB_GGUF_ARRAY)
        return plumb_err(err, PLUMB_EFORMAT, "%s: key '%s' is an array of %s, expected %s", g->path,
                         kv->key, plumb_gguf_type_name(kv->val.v.arr.type), want);
    return plumb_err(err, PLUMB_EFORMAT, "%s: key '%s' is %s, expected %s", g->path, kv->key,
                     plumb_gguf_type_name(kv->val.type), want);
}

static int is_int(uint32_t t)
{
    return t == PLUMB_GGUF_UINT8 || t == PLUMB_GGUF_INT8 || t == PLUMB_GGUF_UINT16 ||
           t == PLUMB_GGUF_INT16 || t == PLUMB_GGUF_UINT32 || t == PLUMB_GGUF_INT32 ||
           t == PLUMB_GGUF_UINT64 || t == PLUMB_GGUF_INT64;
}

static int conv_u32(const PlumbGGUF *g, const PlumbGGUFKV *kv, uint32_t *out, PlumbError *err)
{
    const PlumbGGUFValue *v = &kv->val;
    if (!is_int(v->type))
        return wrong_type(g, kv, "an unsigned 32-bit integer", err);
    if (is_signed(v->type)) {
        if (v->v.i64 < 0 || v->v.i64 > (int64_t)UINT32_MAX)
            return plumb_err(err, PLUMB_EFORMAT, "%s: key '%s': %s value %" PRId64
                             " does not fit in uint32", g->path, kv->key,
                             plumb_gguf_type_name(v->type), v->v.i64);
        *out = (uint32_t)v->v.i64;
    } else {
        if (v->v.u64 > UINT32_MAX)
            return plumb_err(err, PLUMB_EFORMAT, "%s: key '%s': %s value %" PRIu64
                             " does not fit in uint32", g->path, kv->key,
                             plumb_gguf_type_name(v->type), v->v.u64);
        *out = (uint32_t)v->v.u64;
    }
    return 0;
}

static int conv_f32(const PlumbGGUF *g, const PlumbGGUFKV *kv, float *out, PlumbError *err)
{
    const PlumbGGUFValue *v = &kv->val;
    if (v->type == PLUMB_GGUF_FLOAT32 || v->type == PLUMB_GGUF_FLOAT64) {
        double d = v->v.f64;
        if (d > 3.4028234663852886e38 || d < -3.4028234663852886e38)
            return plumb_err(err, PLUMB_EFORMAT, "%s: key '%s': %s value %g does not fit in float32",
                             g->path, kv->key, plumb_gguf_type_name(v->type), d);
        *out = (float)d;
    } else if (is_int(v->type)) {
        *out = is_signed(v->type) ? (float)v->v.i64 : (float)v->v.u64;
    } else {
        return wrong_type(g, kv, "a number", err);
    }
    return 0;
}

static int conv_bool(const PlumbGGUF *g, const PlumbGGUFKV *kv, int *out, PlumbError *err)
{
    if (kv->val.type != PLUMB_GGUF_BOOL)
        return wrong_type(g, kv, "bool", err);
    *out = kv->val.v.u64 != 0;
    return 0;
}

int plumb_gguf_get_u32(const PlumbGGUF *g, const char *key, uint32_t *out, PlumbError *err)
{
    const PlumbGGUFKV *kv;
    int rc = get(g, key, &kv, err);
    return rc ? rc : conv_u32(g, kv, out, err);
}

int plumb_gguf_get_f32(const PlumbGGUF *g, const char *key, float *out, PlumbError *err)
{
    const PlumbGGUFKV *kv;
    int rc = get(g, key, &kv, err);
    return rc ? rc : conv_f32(g, kv, out, err);
}

int plumb_gguf_get_bool(const PlumbGGUF *g, const char *key, int *out, PlumbError *err)
{
    const PlumbGGUFKV *kv;
    int rc = get(g, key, &kv, err);
    return rc ? rc : conv_bool(g, kv, out, err);
}

int plumb_gguf_get_str(const PlumbGGUF *g, const char *key, const char **out, PlumbError *err)
{
    const PlumbGGUFKV *kv;
    int rc = get(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->val.type != PLUMB_GGUF_STRING)
        return wrong_type(g, kv, "string", err);
    *out = kv->val.v.str.s;
    return 0;
}

int plumb_gguf_get_u32_opt(const PlumbGGUF *g, const char *key, uint32_t *out, PlumbError *err)
{
    const PlumbGGUFKV *kv = plumb_gguf_find(g, key);
    return kv ? conv_u32(g, kv, out, err) : 0;
}

int plumb_gguf_get_f32_opt(const PlumbGGUF *g, const char *key, float *out, PlumbError *err)
{
    const PlumbGGUFKV *kv = plumb_gguf_find(g, key);
    return kv ? conv_f32(g, kv, out, err) : 0;
}

int plumb_gguf_get_bool_opt(const PlumbGGUF *g, const char *key, int *out, PlumbError *err)
{
    const PlumbGGUFKV *kv = plumb_gguf_find(g, key);
    return kv ? conv_bool(g, kv, out, err) : 0;
}

int plumb_gguf_get_arr(const PlumbGGUF *g, const char *key, uint32_t elem_type,
                       const PlumbGGUFValue **out, PlumbError *err)
{
    const PlumbGGUFKV *kv;
    int rc = get(g, key, &kv, err);
    if (rc)
        return rc;
    if (kv->val.type != PLUMB_GGUF_ARRAY || kv->val.v.arr.type != elem_type) {
        char want[48];
        snprintf(want, sizeof want, "an array of %s", plumb_gguf_type_name(elem_type));
        return wrong_type(g, kv, want, err);
    }
    *out = &kv->val;
    return 0;
}
