/*
 * gguf_write.c — streaming GGUF v3 writer (see gguf_write.h).
 *
 * Invariants: `meta` holds the serialised key/value pairs exactly as they go
 * into the file (a failed kv call leaves it as it was); every key and tensor
 * name is in its NameSet; tensor offsets are assigned when the header is
 * written and never change after.  Everything written to the file goes
 * through out(), which fills `buf` and flushes it with write(2) when full;
 * `pos` counts the bytes handed to out() (the file offset after a flush).
 * The writer owns the file descriptor, the temporary file until finish, and
 * every buffer here.  Limits match the reader's caps (gguf.h), so whatever
 * this writes the reader accepts.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "err.h"
#include "gguf_write.h"
#include "outfile.h"
#include "qtypes.h"

/* ------------------------------------------------------------ name sets */

/* Unique strings with O(1) lookup: names[] in insertion order plus an
 * open-addressing table of (index + 1), 0 meaning empty. */
typedef struct NameSet {
    char **names;     /* [n] malloc'd copies */
    uint64_t n, cap;  /* used / allocated entries of names */
    uint32_t *table;  /* [tcap] index + 1, 0 = empty */
    uint64_t tcap;    /* power of two, > 2 n */
} NameSet;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    while (*s)
        h = (h ^ (unsigned char)*s++) * 1099511628211ull;
    return h;
}

static int nameset_has(const NameSet *ns, const char *s)
{
    uint64_t i;
    if (!ns->tcap)
        return 0;
    for (i = hash_str(s) & (ns->tcap - 1); ns->table[i]; i = (i + 1) & (ns->tcap - 1))
        if (strcmp(ns->names[ns->table[i] - 1], s) == 0)
            return 1;
    return 0;
}

static int nameset_rehash(NameSet *ns, uint64_t tcap)
{
    uint32_t *t = calloc(tcap, sizeof *t);
    uint64_t k, i;
    if (!t)
        return -1;
    for (k = 0; k < ns->n; k++) {
        for (i = hash_str(ns->names[k]) & (tcap - 1); t[i]; i = (i + 1) & (tcap - 1))
            ;
        t[i] = (uint32_t)(k + 1);
    }
    free(ns->table);
    ns->table = t;
    ns->tcap = tcap;
    return 0;
}

/* Add a copy of s (caller checked it is absent).  Returns -1 on ENOMEM. */
static int nameset_add(NameSet *ns, const char *s)
{
    char *copy;
    uint64_t i;
    if (ns->n == ns->cap) {
        uint64_t cap = ns->cap ? ns->cap * 2 : 64;
        char **nn = realloc(ns->names, cap * sizeof *nn);
        if (!nn)
            return -1;
        ns->names = nn;
        ns->cap = cap;
    }
    if ((ns->n + 1) * 2 >= ns->tcap && nameset_rehash(ns, ns->tcap ? ns->tcap * 2 : 128))
        return -1;
    copy = strdup(s);
    if (!copy)
        return -1;
    ns->names[ns->n] = copy;
    for (i = hash_str(s) & (ns->tcap - 1); ns->table[i]; i = (i + 1) & (ns->tcap - 1))
        ;
    ns->table[i] = (uint32_t)(ns->n + 1);
    ns->n++;
    return 0;
}

static void nameset_free(NameSet *ns)
{
    uint64_t k;
    for (k = 0; k < ns->n; k++)
        free(ns->names[k]);
    free(ns->names);
    free(ns->table);
    memset(ns, 0, sizeof *ns);
}

/* ------------------------------------------------------------ the writer */

typedef struct WTensor {
    uint32_t type;                    /* PLUMB_QTYPE_* */
    uint32_t n_dims;                  /* 1..4 */
    uint64_t ne[PLUMB_GGUF_MAX_DIMS]; /* elements per dim, unused = 1 */
    uint64_t nbytes;                  /* bytes of data */
    uint64_t offset;                  /* from the data section start; set with the header */
} WTensor;

struct PlumbGGUFWriter {
    char *path;        /* final name */
    PlumbOutFile out;  /* where data goes until finish (outfile.h) */
    int header_done;   /* header, metadata and table written (phase 3 started) */
    int finished;      /* finish succeeded: the file is in place */
    int failed;        /* a phase-3 error happened: only close is allowed */

    uint8_t *meta;     /* serialised key/value pairs */
    size_t meta_len, meta_cap; /* bytes used / allocated */
    NameSet keys;      /* keys added, in order */
    uint64_t alignment; /* bytes, power of two */

    NameSet tnames;    /* tensor names, in order */
    WTensor *tensors;  /* [tnames.n] */
    uint64_t tensors_cap; /* allocated entries */

    uint8_t *buf;      /* [PLUMB_GGUF_WRITE_BUFFER] output buffer */
    size_t buf_len;    /* bytes pending in buf */
    uint64_t pos;      /* bytes written so far (file offset incl. buf) */
    uint64_t data_start; /* file offset of the data section */
    uint64_t cur;      /* tensor receiving data */
    uint64_t cur_done; /* bytes of it written */
};

static const uint32_t elem_size[PLUMB_GGUF_NTYPES] = {
    [PLUMB_GGUF_UINT8] = 1,   [PLUMB_GGUF_INT8] = 1,    [PLUMB_GGUF_UINT16] = 2,
    [PLUMB_GGUF_INT16] = 2,   [PLUMB_GGUF_UINT32] = 4,  [PLUMB_GGUF_INT32] = 4,
    [PLUMB_GGUF_FLOAT32] = 4, [PLUMB_GGUF_BOOL] = 1,    [PLUMB_GGUF_UINT64] = 8,
    [PLUMB_GGUF_INT64] = 8,   [PLUMB_GGUF_FLOAT64] = 8,
};

int plumb_gguf_writer_open_file(PlumbGGUFWriter **out, const char *path, unsigned flags,
                                const char *input_path, uint64_t expected_bytes,
                                PlumbError *err)
{
    PlumbGGUFWriter *w = NULL;
    int rc;
    *out = NULL;
    if (!path || !*path)
        return plumb_err(err, PLUMB_EINVAL, "gguf writer: empty path");
    w = calloc(1, sizeof *w);
    if (!w)
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
    w->out.fd = -1;
    w->alignment = PLUMB_GGUF_DEFAULT_ALIGNMENT;
    w->path = strdup(path);
    w->buf = malloc(PLUMB_GGUF_WRITE_BUFFER);
    if (!w->path || !w->buf) {
        rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((rc = plumb_outfile_open(&w->out, path, flags & (PLUMB_OUT_FORCE | PLUMB_OUT_FOLLOW),
                                 input_path, expected_bytes, err)))
        goto fail;
    *out = w;
    return PLUMB_OK;
fail:
    plumb_gguf_writer_close(w);
    return rc;
}

int plumb_gguf_writer_open(PlumbGGUFWriter **out, const char *path, unsigned flags,
                           PlumbError *err)
{
    return plumb_gguf_writer_open_file(out, path, flags, NULL, 0, err);
}

void plumb_gguf_writer_close(PlumbGGUFWriter *w)
{
    if (!w)
        return;
    plumb_outfile_abort(&w->out); /* after finish: already closed, nothing removed */
    nameset_free(&w->keys);
    nameset_free(&w->tnames);
    free(w->meta);
    free(w->tensors);
    free(w->buf);
    free(w->path);
    free(w);
}

/* ------------------------------------------------------------ metadata */

static int meta_put(PlumbGGUFWriter *w, const void *p, size_t n)
{
    if (w->meta_cap - w->meta_len < n) {
        size_t cap = w->meta_cap ? w->meta_cap : 4096;
        uint8_t *nm;
        while (cap - w->meta_len < n) {
            if (cap > SIZE_MAX / 2)
                return -1;
            cap *= 2;
        }
        nm = realloc(w->meta, cap);
        if (!nm)
            return -1;
        w->meta = nm;
        w->meta_cap = cap;
    }
    memcpy(w->meta + w->meta_len, p, n);
    w->meta_len += n;
    return 0;
}

static void le_bytes(uint8_t *b, uint64_t v, int n)
{
    int i;
    for (i = 0; i < n; i++)
        b[i] = (uint8_t)(v >> (8 * i));
}

static int meta_uint(PlumbGGUFWriter *w, uint64_t v, int n)
{
    uint8_t b[8];
    le_bytes(b, v, n);
    return meta_put(w, b, (size_t)n);
}

static int meta_str(PlumbGGUFWriter *w, const char *s, uint64_t len)
{
    return meta_uint(w, len, 8) || meta_put(w, s, (size_t)len);
}

/* Check the writer is still in phases 1-2 and key is new; write the key and
 * the type.  On failure nothing is appended. */
static int kv_begin(PlumbGGUFWriter *w, const char *key, uint32_t type, PlumbError *err)
{
    size_t klen;
    if (w->header_done || w->failed)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s' added after tensor data started",
                         w->path, key ? key : "");
    if (!key || !*key)
        return plumb_err(err, PLUMB_EINVAL, "%s: empty metadata key", w->path);
    klen = strlen(key);
    if (klen > PLUMB_GGUF_MAX_STRING)
        return plumb_err(err, PLUMB_EINVAL, "%s: metadata key of %zu bytes is too long", w->path,
                         klen);
    if (w->keys.n >= PLUMB_GGUF_MAX_KV)
        return plumb_err(err, PLUMB_ENOMEM, "%s: more than %u metadata keys", w->path,
                         (unsigned)PLUMB_GGUF_MAX_KV);
    if (nameset_has(&w->keys, key))
        return plumb_err(err, PLUMB_EINVAL, "%s: duplicate metadata key '%s'", w->path, key);
    if (meta_str(w, key, klen) || meta_uint(w, type, 4))
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", w->path);
    return PLUMB_OK;
}

/* Record key after its value was serialised; on failure roll meta back. */
static int kv_end(PlumbGGUFWriter *w, const char *key, size_t mark, int ok, PlumbError *err)
{
    if (ok && nameset_add(&w->keys, key) == 0)
        return PLUMB_OK;
    w->meta_len = mark;
    return plumb_err(err, PLUMB_ENOMEM, "%s: key '%s': out of memory", w->path, key);
}

static int kv_scalar(PlumbGGUFWriter *w, const char *key, uint32_t type, uint64_t bits,
                     PlumbError *err)
{
    size_t mark = w->meta_len;
    int rc = kv_begin(w, key, type, err);
    if (rc)
        return rc;
    if (strcmp(key, "general.alignment") == 0) {
        if (type != PLUMB_GGUF_UINT32 || bits == 0 || (bits & (bits - 1)) != 0) {
            w->meta_len = mark;
            return plumb_err(err, PLUMB_EINVAL,
                             "%s: general.alignment must be a uint32 power of two", w->path);
        }
    }
    rc = kv_end(w, key, mark, meta_uint(w, bits, (int)elem_size[type]) == 0, err);
    if (rc == PLUMB_OK && strcmp(key, "general.alignment") == 0)
        w->alignment = bits;
    return rc;
}

int plumb_gguf_writer_kv_u32(PlumbGGUFWriter *w, const char *key, uint32_t v, PlumbError *err)
{
    return kv_scalar(w, key, PLUMB_GGUF_UINT32, v, err);
}

int plumb_gguf_writer_kv_i32(PlumbGGUFWriter *w, const char *key, int32_t v, PlumbError *err)
{
    return kv_scalar(w, key, PLUMB_GGUF_INT32, (uint32_t)v, err);
}

int plumb_gguf_writer_kv_f32(PlumbGGUFWriter *w, const char *key, float v, PlumbError *err)
{
    uint32_t bits;
    memcpy(&bits, &v, 4);
    return kv_scalar(w, key, PLUMB_GGUF_FLOAT32, bits, err);
}

int plumb_gguf_writer_kv_bool(PlumbGGUFWriter *w, const char *key, int v, PlumbError *err)
{
    return kv_scalar(w, key, PLUMB_GGUF_BOOL, v ? 1 : 0, err);
}

static int kv_string(PlumbGGUFWriter *w, const char *key, const char *s, uint64_t len,
                     PlumbError *err)
{
    size_t mark = w->meta_len;
    int rc;
    if (len > PLUMB_GGUF_MAX_STRING)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': string of %llu bytes is too long",
                         w->path, key ? key : "", (unsigned long long)len);
    rc = kv_begin(w, key, PLUMB_GGUF_STRING, err);
    if (rc)
        return rc;
    return kv_end(w, key, mark, meta_str(w, s, len) == 0, err);
}

int plumb_gguf_writer_kv_str(PlumbGGUFWriter *w, const char *key, const char *s, PlumbError *err)
{
    if (!s)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': NULL string", w->path,
                         key ? key : "");
    return kv_string(w, key, s, strlen(s), err);
}

static int check_arr(PlumbGGUFWriter *w, const char *key, uint32_t elem_type, uint64_t n,
                     PlumbError *err)
{
    if (elem_type >= PLUMB_GGUF_NTYPES || elem_type == PLUMB_GGUF_ARRAY)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': array element type %u is not allowed",
                         w->path, key ? key : "", elem_type);
    if (n > PLUMB_GGUF_MAX_ARRAY)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': array of %llu elements is too long",
                         w->path, key ? key : "", (unsigned long long)n);
    return PLUMB_OK;
}

int plumb_gguf_writer_kv_arr(PlumbGGUFWriter *w, const char *key, uint32_t elem_type,
                             const void *data, uint64_t n, PlumbError *err)
{
    size_t mark = w->meta_len;
    const uint8_t *p = data;
    uint64_t i;
    int rc = check_arr(w, key, elem_type, n, err), ok;
    if (rc)
        return rc;
    if (elem_type == PLUMB_GGUF_STRING)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': use kv_arr_str for strings", w->path,
                         key ? key : "");
    if (n && !data)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': NULL array data", w->path,
                         key ? key : "");
    rc = kv_begin(w, key, PLUMB_GGUF_ARRAY, err);
    if (rc)
        return rc;
    ok = meta_uint(w, elem_type, 4) == 0 && meta_uint(w, n, 8) == 0;
    /* Host layout is little-endian on every platform plumb builds for; bools
     * are normalised to 0/1. */
    if (ok && elem_type == PLUMB_GGUF_BOOL) {
        for (i = 0; ok && i < n; i++)
            ok = meta_uint(w, p[i] ? 1 : 0, 1) == 0;
    } else if (ok && n) {
        ok = meta_put(w, p, (size_t)(n * elem_size[elem_type])) == 0;
    }
    return kv_end(w, key, mark, ok, err);
}

int plumb_gguf_writer_kv_arr_str(PlumbGGUFWriter *w, const char *key, const char *const *s,
                                 const uint64_t *lens, uint64_t n, PlumbError *err)
{
    size_t mark = w->meta_len;
    uint64_t i;
    int rc = check_arr(w, key, PLUMB_GGUF_STRING, n, err), ok;
    if (rc)
        return rc;
    if (n && !s)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': NULL array data", w->path,
                         key ? key : "");
    for (i = 0; i < n; i++) {
        uint64_t len = s[i] ? (lens ? lens[i] : strlen(s[i])) : 0;
        if (!s[i] || len > PLUMB_GGUF_MAX_STRING)
            return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': element %llu is %s", w->path, key,
                             (unsigned long long)i, s[i] ? "too long" : "NULL");
    }
    rc = kv_begin(w, key, PLUMB_GGUF_ARRAY, err);
    if (rc)
        return rc;
    ok = meta_uint(w, PLUMB_GGUF_STRING, 4) == 0 && meta_uint(w, n, 8) == 0;
    for (i = 0; ok && i < n; i++)
        ok = meta_str(w, s[i], lens ? lens[i] : strlen(s[i])) == 0;
    return kv_end(w, key, mark, ok, err);
}

int plumb_gguf_writer_kv_value(PlumbGGUFWriter *w, const char *key, const PlumbGGUFValue *v,
                               PlumbError *err)
{
    size_t mark;
    uint64_t i;
    int rc, ok;
    if (!v)
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': NULL value", w->path, key ? key : "");
    switch (v->type) {
    case PLUMB_GGUF_UINT8: case PLUMB_GGUF_UINT16: case PLUMB_GGUF_UINT32:
    case PLUMB_GGUF_UINT64: case PLUMB_GGUF_BOOL:
        return kv_scalar(w, key, v->type, v->type == PLUMB_GGUF_BOOL ? v->v.u64 != 0 : v->v.u64,
                         err);
    case PLUMB_GGUF_INT8: case PLUMB_GGUF_INT16: case PLUMB_GGUF_INT32: case PLUMB_GGUF_INT64:
        return kv_scalar(w, key, v->type, (uint64_t)v->v.i64, err);
    case PLUMB_GGUF_FLOAT32: {
        float f = (float)v->v.f64;
        uint32_t bits;
        memcpy(&bits, &f, 4);
        return kv_scalar(w, key, v->type, bits, err);
    }
    case PLUMB_GGUF_FLOAT64: {
        uint64_t bits;
        memcpy(&bits, &v->v.f64, 8);
        return kv_scalar(w, key, v->type, bits, err);
    }
    case PLUMB_GGUF_STRING:
        if (!v->v.str.s)
            return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': NULL string", w->path,
                             key ? key : "");
        return kv_string(w, key, v->v.str.s, v->v.str.len, err);
    case PLUMB_GGUF_ARRAY:
        if (v->v.arr.type != PLUMB_GGUF_STRING)
            return plumb_gguf_writer_kv_arr(w, key, v->v.arr.type, v->v.arr.data, v->v.arr.n,
                                            err);
        rc = check_arr(w, key, PLUMB_GGUF_STRING, v->v.arr.n, err);
        if (rc)
            return rc;
        mark = w->meta_len;
        rc = kv_begin(w, key, PLUMB_GGUF_ARRAY, err);
        if (rc)
            return rc;
        ok = meta_uint(w, PLUMB_GGUF_STRING, 4) == 0 && meta_uint(w, v->v.arr.n, 8) == 0;
        for (i = 0; ok && i < v->v.arr.n; i++) {
            uint64_t len;
            const char *s = plumb_gguf_arr_str(v, i, &len);
            if (!s) {
                w->meta_len = mark;
                return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': string element %llu unreadable",
                                 w->path, key, (unsigned long long)i);
            }
            ok = meta_str(w, s, len) == 0;
        }
        return kv_end(w, key, mark, ok, err);
    default:
        return plumb_err(err, PLUMB_EINVAL, "%s: key '%s': value type %u is not a GGUF type",
                         w->path, key ? key : "", v->type);
    }
}

/* ------------------------------------------------------------ tensor table */

int plumb_gguf_writer_add_tensor(PlumbGGUFWriter *w, const char *name, uint32_t type,
                                 uint32_t n_dims, const uint64_t *ne, PlumbError *err)
{
    const PlumbQTraits *tr = plumb_qtype_traits(type);
    WTensor *t;
    uint64_t nbytes, d;
    uint32_t k;
    if (w->header_done || w->failed)
        return plumb_err(err, PLUMB_EINVAL, "%s: tensor '%s' added after tensor data started",
                         w->path, name ? name : "");
    if (!name || !*name || strlen(name) > PLUMB_GGUF_MAX_STRING)
        return plumb_err(err, PLUMB_EINVAL, "%s: tensor name is empty or too long", w->path);
    if (!tr || type == PLUMB_QTYPE_Q8_0X)
        return plumb_err(err, PLUMB_EUNSUPPORTED, "%s: tensor '%s': unknown type %u", w->path,
                         name, type);
    if (n_dims < 1 || n_dims > PLUMB_GGUF_MAX_DIMS || !ne)
        return plumb_err(err, PLUMB_EINVAL, "%s: tensor '%s': %u dimensions (1..%d allowed)",
                         w->path, name, n_dims, PLUMB_GGUF_MAX_DIMS);
    for (k = 0; k < n_dims; k++)
        if (ne[k] == 0 || ne[k] > INT64_MAX)
            return plumb_err(err, PLUMB_EINVAL, "%s: tensor '%s': dimension %u is %llu", w->path,
                             name, k, (unsigned long long)ne[k]);
    if (ne[0] % (uint64_t)tr->blck)
        return plumb_err(err, PLUMB_EINVAL,
                         "%s: tensor '%s': row of %llu elements is not a multiple of the %s "
                         "block (%d)", w->path, name, (unsigned long long)ne[0], tr->name,
                         tr->blck);
    if (tr->rows > 1 && (n_dims < 2 || ne[1] % (uint64_t)tr->rows))
        return plumb_err(err, PLUMB_EINVAL, "%s: tensor '%s': %s needs rows in multiples of %d",
                         w->path, name, tr->name, tr->rows);
    nbytes = plumb_qtype_row_size(type, ne[0]);
    for (k = 1; k < n_dims; k++)
        if (plumb_mul_overflow(nbytes, ne[k], &nbytes))
            return plumb_err(err, PLUMB_EINVAL, "%s: tensor '%s': size overflows", w->path, name);
    /* The padded size must fit too. */
    if (plumb_add_overflow(nbytes, w->alignment, &d))
        return plumb_err(err, PLUMB_EINVAL, "%s: tensor '%s': size overflows", w->path, name);
    if (w->tnames.n >= PLUMB_GGUF_MAX_TENSORS)
        return plumb_err(err, PLUMB_ENOMEM, "%s: more than %u tensors", w->path,
                         (unsigned)PLUMB_GGUF_MAX_TENSORS);
    if (nameset_has(&w->tnames, name))
        return plumb_err(err, PLUMB_EINVAL, "%s: duplicate tensor '%s'", w->path, name);
    if (w->tnames.n == w->tensors_cap) {
        uint64_t cap = w->tensors_cap ? w->tensors_cap * 2 : 256;
        WTensor *nt = realloc(w->tensors, cap * sizeof *nt);
        if (!nt)
            return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", w->path);
        w->tensors = nt;
        w->tensors_cap = cap;
    }
    t = &w->tensors[w->tnames.n];
    t->type = type;
    t->n_dims = n_dims;
    for (k = 0; k < PLUMB_GGUF_MAX_DIMS; k++)
        t->ne[k] = k < n_dims ? ne[k] : 1;
    t->nbytes = nbytes;
    t->offset = 0;
    if (nameset_add(&w->tnames, name))
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", w->path);
    return PLUMB_OK;
}

uint64_t plumb_gguf_writer_tensor_bytes(const PlumbGGUFWriter *w, uint64_t i)
{
    return i < w->tnames.n ? w->tensors[i].nbytes : 0;
}

uint64_t plumb_gguf_writer_current(const PlumbGGUFWriter *w)
{
    return w->cur;
}

/* ------------------------------------------------------------ output */

static int flush_buf(PlumbGGUFWriter *w, PlumbError *err)
{
    int rc = plumb_outfile_write(&w->out, w->buf, w->buf_len, err);
    if (rc) {
        w->failed = 1;
        return rc;
    }
    w->buf_len = 0;
    return PLUMB_OK;
}

static int out(PlumbGGUFWriter *w, const void *p, size_t n, PlumbError *err)
{
    const uint8_t *s = p;
    while (n) {
        size_t take = PLUMB_GGUF_WRITE_BUFFER - w->buf_len;
        int rc;
        if (take > n)
            take = n;
        memcpy(w->buf + w->buf_len, s, take);
        w->buf_len += take;
        w->pos += take;
        s += take;
        n -= take;
        if (w->buf_len == PLUMB_GGUF_WRITE_BUFFER && (rc = flush_buf(w, err)))
            return rc;
    }
    return PLUMB_OK;
}

static int out_uint(PlumbGGUFWriter *w, uint64_t v, int n, PlumbError *err)
{
    uint8_t b[8];
    le_bytes(b, v, n);
    return out(w, b, (size_t)n, err);
}

static int out_pad(PlumbGGUFWriter *w, PlumbError *err)
{
    static const uint8_t zeros[64];
    uint64_t pad = (w->alignment - w->pos % w->alignment) % w->alignment;
    while (pad) {
        size_t k = pad > sizeof zeros ? sizeof zeros : (size_t)pad;
        int rc = out(w, zeros, k, err);
        if (rc)
            return rc;
        pad -= k;
    }
    return PLUMB_OK;
}

static int write_header(PlumbGGUFWriter *w, PlumbError *err)
{
    uint64_t i, off = 0;
    uint32_t k;
    int rc;
    /* Assign offsets (checked: sizes were checked with the padding). */
    for (i = 0; i < w->tnames.n; i++) {
        uint64_t end;
        w->tensors[i].offset = off;
        if (plumb_add_overflow(off, w->tensors[i].nbytes, &end) ||
            plumb_add_overflow(end, w->alignment - 1, &end)) {
            w->failed = 1;
            return plumb_err(err, PLUMB_EINVAL, "%s: tensor data size overflows", w->path);
        }
        off = end / w->alignment * w->alignment;
    }
    if ((rc = out(w, "GGUF", 4, err)) || (rc = out_uint(w, 3, 4, err)) ||
        (rc = out_uint(w, w->tnames.n, 8, err)) || (rc = out_uint(w, w->keys.n, 8, err)) ||
        (rc = out(w, w->meta, w->meta_len, err)))
        return rc;
    for (i = 0; i < w->tnames.n; i++) {
        const WTensor *t = &w->tensors[i];
        const char *name = w->tnames.names[i];
        uint64_t len = strlen(name);
        if ((rc = out_uint(w, len, 8, err)) || (rc = out(w, name, (size_t)len, err)) ||
            (rc = out_uint(w, t->n_dims, 4, err)))
            return rc;
        for (k = 0; k < t->n_dims; k++)
            if ((rc = out_uint(w, t->ne[k], 8, err)))
                return rc;
        if ((rc = out_uint(w, plumb_qtype_to_gguf(t->type), 4, err)) || (rc = out_uint(w, t->offset, 8, err)))
            return rc;
    }
    if ((rc = out_pad(w, err)))
        return rc;
    w->data_start = w->pos;
    w->header_done = 1;
    /* The metadata is in the buffer or the file now. */
    free(w->meta);
    w->meta = NULL;
    w->meta_len = w->meta_cap = 0;
    return PLUMB_OK;
}

static int data_begin(PlumbGGUFWriter *w, PlumbError *err)
{
    if (w->failed || w->finished)
        return plumb_err(err, PLUMB_EINVAL, "%s: writer already %s", w->path,
                         w->failed ? "failed" : "finished");
    return w->header_done ? PLUMB_OK : write_header(w, err);
}

/* Account n bytes of the current tensor; pad and move on at its end. */
static int advance(PlumbGGUFWriter *w, uint64_t n, PlumbError *err)
{
    w->cur_done += n;
    if (w->cur_done == w->tensors[w->cur].nbytes) {
        int rc = out_pad(w, err);
        if (rc)
            return rc;
        w->cur++;
        w->cur_done = 0;
    }
    return PLUMB_OK;
}

int plumb_gguf_writer_write(PlumbGGUFWriter *w, const void *data, size_t n, PlumbError *err)
{
    const uint8_t *p = data;
    int rc = data_begin(w, err);
    if (rc)
        return rc;
    while (n) {
        uint64_t left;
        size_t take;
        if (w->cur >= w->tnames.n) {
            w->failed = 1;
            return plumb_err(err, PLUMB_EINVAL, "%s: %zu bytes of data past the last tensor",
                             w->path, n);
        }
        left = w->tensors[w->cur].nbytes - w->cur_done;
        take = left < n ? (size_t)left : n;
        if ((rc = out(w, p, take, err)) || (rc = advance(w, take, err)))
            return rc;
        p += take;
        n -= take;
    }
    return PLUMB_OK;
}

int plumb_gguf_writer_fill(PlumbGGUFWriter *w, PlumbGGUFFillFn fill, void *arg, PlumbError *err)
{
    uint64_t idx;
    int rc = data_begin(w, err);
    if (rc)
        return rc;
    if (w->cur >= w->tnames.n) {
        w->failed = 1;
        return plumb_err(err, PLUMB_EINVAL, "%s: fill called after the last tensor", w->path);
    }
    idx = w->cur;
    while (w->cur == idx) {
        const WTensor *t = &w->tensors[idx];
        uint64_t left = t->nbytes - w->cur_done;
        size_t bsz = plumb_qtype_traits(t->type)->size, room, n;
        if (w->cur_done % bsz)
            bsz = 1; /* written in part blocks before: no alignment to keep */
        room = PLUMB_GGUF_WRITE_BUFFER - w->buf_len;
        if (room < bsz || (room < left && room < PLUMB_GGUF_WRITE_BUFFER / 4)) {
            /* Flush rather than hand out small chunks. */
            if ((rc = flush_buf(w, err)))
                return rc;
            room = PLUMB_GGUF_WRITE_BUFFER;
        }
        n = left < room ? (size_t)left : room / bsz * bsz;
        rc = fill(arg, idx, w->cur_done, w->buf + w->buf_len, n, err);
        if (rc) {
            w->failed = 1;
            return rc;
        }
        w->buf_len += n;
        w->pos += n;
        if (w->buf_len == PLUMB_GGUF_WRITE_BUFFER && (rc = flush_buf(w, err)))
            return rc;
        if ((rc = advance(w, n, err)))
            return rc;
    }
    return PLUMB_OK;
}

/* ------------------------------------------------------------ finish */

int plumb_gguf_writer_finish(PlumbGGUFWriter *w, PlumbError *err)
{
    int rc = data_begin(w, err);
    if (rc)
        return rc;
    if (w->cur < w->tnames.n) {
        w->failed = 1;
        return plumb_err(err, PLUMB_EINVAL, "%s: tensor '%s': %llu of %llu bytes written",
                         w->path, w->tnames.names[w->cur], (unsigned long long)w->cur_done,
                         (unsigned long long)w->tensors[w->cur].nbytes);
    }
    if ((rc = flush_buf(w, err)))
        return rc;
    if ((rc = plumb_outfile_commit(&w->out, err))) {
        w->failed = 1;
        return rc;
    }
    w->finished = 1;
    return PLUMB_OK;
}
