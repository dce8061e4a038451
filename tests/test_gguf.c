/*
 * test_gguf.c — the GGUF reader on the real test models and on hostile
 * files built here: truncations of a real model at many points, and small
 * synthetic files with one defect each (bad magic or version, absurd counts
 * and lengths, nested arrays, unknown types, bad shapes, offsets, alignment,
 * duplicate names).  Every hostile file must be refused with an error code
 * and a message naming the file; none may crash, hang or allocate much.
 */
#include "config.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gguf.h"
#include "qtypes.h"
#include "testlib.h"

static char tmpdir[256]; /* mkdtemp'd, removed at the end */

/* ------------------------------------------------------------------ a small GGUF writer */

typedef struct Buf {
    uint8_t *p; /* bytes written */
    size_t n;   /* length */
    size_t cap; /* allocated */
} Buf;

static void put(Buf *b, const void *s, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = (b->n + n) * 2 + 64;
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            fprintf(stderr, "test_gguf: out of memory\n");
            exit(99);
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, n);
    b->n += n;
}

static void put_le(Buf *b, uint64_t v, int n)
{
    uint8_t t[8];
    int i;
    for (i = 0; i < n; i++)
        t[i] = (uint8_t)(v >> (8 * i));
    put(b, t, (size_t)n);
}

static void put_u32(Buf *b, uint32_t v) { put_le(b, v, 4); }
static void put_u64(Buf *b, uint64_t v) { put_le(b, v, 8); }

static void put_str(Buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}

static void pad_to(Buf *b, size_t align)
{
    static const uint8_t zero[256];
    while (b->n % align)
        put(b, zero, align - b->n % align < sizeof zero ? align - b->n % align : sizeof zero);
}

/* Defects the builder can plant in its otherwise valid file. */
enum {
    M_NONE,
    M_MAGIC,      /* first bytes "GGUX" */
    M_VERSION,    /* version = val */
    M_NTENSORS,   /* declared tensor count = val */
    M_NKV,        /* declared key count = val */
    M_STRLEN,     /* length of general.architecture's value = val */
    M_KEYLEN,     /* length of the first key = val */
    M_ARRCOUNT,   /* count of the test.u32s array = val */
    M_STRARRCOUNT, /* count of the test.strs array = val */
    M_NESTED,     /* test.u32s is an array of arrays */
    M_ARRTYPE,    /* element type of test.u32s = val */
    M_VTYPE,      /* value type of general.architecture = val */
    M_BOOL,       /* test.flag byte = val */
    M_EMPTYKEY,   /* a key of length 0 */
    M_KEYNUL,     /* a key with a NUL byte inside */
    M_DUPKEY,     /* two keys general.architecture */
    M_ALIGN,      /* general.alignment = val */
    M_ALIGNTYPE,  /* general.alignment is a string */
    M_TTYPE,      /* type of tensor "b" = val */
    M_NDIMS,      /* n_dims of tensor "b" = val */
    M_BIGDIMS,    /* tensor "b" has ne = {val, val, val, val} */
    M_BLOCK,      /* tensor "b" is Q4_K with 32 columns */
    M_OFFSET,     /* offset of tensor "b" = val */
    M_DUPNAME,    /* tensor "b" is named "a" */
    M_SHORTDATA,  /* the data section is cut 1 byte short */
    M_ZERODIM,    /* tensor "b" has ne = {8, 0} (legal: no data) */
    M_V2,         /* version 2 (legal) */
};

/*
 * The file: v3, 6 keys (general.architecture = "test", general.alignment =
 * val or 32, test.u32s = [uint32 x 4] 1..4, test.strs = [string x 3] "x", "",
 * "zzz", test.flag = true, test.neg = int32 -5), tensors "a" F32 [8 x 2] at 0
 * and "b" F32 [8] at 64, data of 96 bytes.
 */
static void build(Buf *b, int mut, uint64_t val)
{
    uint32_t align = mut == M_ALIGN ? (uint32_t)val : 32;
    uint32_t ndims;
    int i;
    b->n = 0;
    put(b, mut == M_MAGIC ? "GGUX" : "GGUF", 4);
    put_u32(b, mut == M_VERSION ? (uint32_t)val : mut == M_V2 ? 2 : 3);
    put_u64(b, mut == M_NTENSORS ? val : 2);
    put_u64(b, mut == M_NKV ? val : 6);

    if (mut == M_KEYLEN) {
        put_u64(b, val);
        put(b, "general.architecture", 20);
    } else if (mut == M_EMPTYKEY) {
        put_str(b, "");
    } else if (mut == M_KEYNUL) {
        put_u64(b, 9);
        put(b, "gen\0ral.a", 9);
    } else {
        put_str(b, "general.architecture");
    }
    put_u32(b, mut == M_VTYPE ? (uint32_t)val : PLUMB_GGUF_STRING);
    if (mut == M_STRLEN) {
        put_u64(b, val);
        put(b, "test", 4);
    } else {
        put_str(b, "test");
    }

    put_str(b, mut == M_DUPKEY ? "general.architecture" : "general.alignment");
    if (mut == M_ALIGNTYPE) {
        put_u32(b, PLUMB_GGUF_STRING);
        put_str(b, "32");
    } else {
        put_u32(b, PLUMB_GGUF_UINT32);
        put_u32(b, align);
    }

    put_str(b, "test.u32s");
    put_u32(b, PLUMB_GGUF_ARRAY);
    put_u32(b, mut == M_NESTED ? PLUMB_GGUF_ARRAY
               : mut == M_ARRTYPE ? (uint32_t)val : PLUMB_GGUF_UINT32);
    put_u64(b, mut == M_ARRCOUNT ? val : 4);
    for (i = 1; i <= 4; i++)
        put_u32(b, (uint32_t)i);

    put_str(b, "test.strs");
    put_u32(b, PLUMB_GGUF_ARRAY);
    put_u32(b, PLUMB_GGUF_STRING);
    put_u64(b, mut == M_STRARRCOUNT ? val : 3);
    put_str(b, "x");
    put_str(b, "");
    put_str(b, "zzz");

    put_str(b, "test.flag");
    put_u32(b, PLUMB_GGUF_BOOL);
    put_le(b, mut == M_BOOL ? val : 1, 1);

    put_str(b, "test.neg");
    put_u32(b, PLUMB_GGUF_INT32);
    put_u32(b, (uint32_t)-5);

    /* tensor a: F32 8 x 2 at 0 */
    put_str(b, "a");
    put_u32(b, 2);
    put_u64(b, 8);
    put_u64(b, 2);
    put_u32(b, PLUMB_QTYPE_F32);
    put_u64(b, 0);

    /* tensor b: F32 8 at align-rounded 64 */
    put_str(b, mut == M_DUPNAME ? "a" : "b");
    ndims = mut == M_NDIMS ? (uint32_t)val : mut == M_BIGDIMS ? 4 : mut == M_ZERODIM ? 2 : 1;
    put_u32(b, ndims);
    for (i = 0; i < (int)ndims && i < 8; i++)
        put_u64(b, mut == M_BIGDIMS ? val : mut == M_ZERODIM && i == 1 ? 0 : 8);
    put_u32(b, mut == M_TTYPE ? (uint32_t)val : mut == M_BLOCK ? PLUMB_QTYPE_Q4_K : PLUMB_QTYPE_F32);
    put_u64(b, mut == M_OFFSET ? val : align > 64 ? align : 64);

    if (mut == M_ALIGN && (align == 0 || (align & (align - 1))))
        align = 32; /* the file is refused anyway; keep the writer sane */
    pad_to(b, align);
    for (i = 0; i < 16; i++) {
        float f = (float)i;
        put(b, &f, 4);
    }
    pad_to(b, align);
    for (i = 0; i < 8; i++) {
        float f = 100.0f + (float)i;
        put(b, &f, 4);
    }
    if (mut == M_SHORTDATA)
        b->n--;
}

static const char *write_tmp(const char *label, const void *p, size_t n)
{
    static char path[512];
    int fd;
    snprintf(path, sizeof path, "%s/%s.gguf", tmpdir, label);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || (n && write(fd, p, n) != (ssize_t)n)) {
        fprintf(stderr, "test_gguf: cannot write %s\n", path);
        exit(99);
    }
    close(fd);
    return path;
}

/* Build the file with defect mut/val; it must be refused with code and a
 * message naming the file and containing want. */
static void expect_fail(const char *label, int mut, uint64_t val, int code, const char *want)
{
    Buf b = { 0 };
    PlumbGGUF *g = (PlumbGGUF *)&b; /* must be reset to NULL */
    PlumbError err = { 0 };
    const char *path;
    int rc;
    build(&b, mut, val);
    path = write_tmp(label, b.p, b.n);
    rc = plumb_gguf_open(&g, path, &err);
    CHECK(rc == code, "%s: rc %d (%s), want %d; msg: %s", label, rc, plumb_strerror(rc), code,
          err.msg);
    CHECK(g == NULL, "%s: *out not NULL on error", label);
    CHECK(err.code == rc, "%s: err.code %d, rc %d", label, err.code, rc);
    CHECK(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", label, err.msg);
    CHECK(strstr(err.msg, want) != NULL, "%s: message lacks '%s': %s", label, want, err.msg);
    if (rc == PLUMB_OK)
        plumb_gguf_close(g);
    unlink(path);
    free(b.p);
}

static PlumbGGUF *open_built(const char *label, int mut, uint64_t val)
{
    Buf b = { 0 };
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    const char *path;
    int rc;
    build(&b, mut, val);
    path = write_tmp(label, b.p, b.n);
    rc = plumb_gguf_open(&g, path, &err);
    CHECK(rc == PLUMB_OK && g, "%s: valid file refused: %s", label, err.msg);
    unlink(path); /* the mapping stays valid */
    free(b.p);
    return rc == PLUMB_OK ? g : NULL;
}

/* A file of 80 MiB (the synthetic file, its tail a hole of zeros) is
 * mapped at a 2 MiB boundary, whole: the tensors read as written and the
 * last byte as 0. */
static void test_large_mapping(void)
{
    Buf b = { 0 };
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    const char *path;
    const uint64_t size = (uint64_t)80 << 20;
    int fd;
    build(&b, M_NONE, 0);
    path = write_tmp("large", b.p, b.n);
    free(b.p);
    fd = open(path, O_WRONLY);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)size) == 0, "%s: extend to 80 MiB", path);
    if (fd >= 0)
        close(fd);
    CHECK(plumb_gguf_open(&g, path, &err) == PLUMB_OK && g, "80 MiB file: %s", err.msg);
    unlink(path);
    if (!g)
        return;
    CHECK(g->size == size, "size %" PRIu64, g->size);
    CHECK(((uintptr_t)g->map & (((uintptr_t)2 << 20) - 1)) == 0, "80 MiB file mapped at %p, not on 2 MiB",
          (const void *)g->map);
    {
        const PlumbGGUFTensor *t = plumb_gguf_tensor(g, "b");
        float f = -1.0f;
        if (t)
            memcpy(&f, t->data, sizeof f);
        CHECK(t && f == 100.0f, "tensor b of the 80 MiB file: %g", (double)f);
    }
    CHECK(((const unsigned char *)g->map)[size - 1] == 0, "the last byte of the 80 MiB file");
    plumb_gguf_close(g);
}

/* ------------------------------------------------------------------ the synthetic file */

static void test_synthetic_ok(void)
{
    PlumbGGUF *g = open_built("good", M_NONE, 0);
    PlumbError err = { 0 };
    const PlumbGGUFValue *arr = NULL;
    const PlumbGGUFTensor *a, *t;
    const char *s = NULL;
    uint32_t u = 0;
    uint64_t len = 99;
    int flag = 0;
    float f = 0;
    if (!g)
        return;
    CHECK(g->version == 3, "version %u", g->version);
    CHECK(g->n_kv == 6 && g->n_tensors == 2, "n_kv %" PRIu64 " n_tensors %" PRIu64, g->n_kv,
          g->n_tensors);
    CHECK(g->alignment == 32, "alignment %" PRIu64, g->alignment);
    CHECK(g->data_offset % 32 == 0, "data offset %" PRIu64, g->data_offset);
    CHECK(g->size == g->data_offset + 96, "size %" PRIu64 " data %" PRIu64, g->size, g->data_offset);

    CHECK(plumb_gguf_get_str(g, "general.architecture", &s, &err) == 0 && strcmp(s, "test") == 0,
          "architecture: %s", err.msg);
    CHECK(plumb_gguf_get_bool(g, "test.flag", &flag, &err) == 0 && flag == 1, "flag: %s", err.msg);
    CHECK(plumb_gguf_get_arr(g, "test.u32s", PLUMB_GGUF_UINT32, &arr, &err) == 0 && arr &&
              arr->v.arr.n == 4 && arr->v.arr.data[0] == 1 && arr->v.arr.data[12] == 4,
          "test.u32s: %s", err.msg);
    CHECK(plumb_gguf_get_arr(g, "test.strs", PLUMB_GGUF_STRING, &arr, &err) == 0 && arr &&
              arr->v.arr.n == 3, "test.strs: %s", err.msg);
    if (arr && arr->v.arr.n == 3) {
        s = plumb_gguf_arr_str(arr, 0, &len);
        CHECK(s && len == 1 && memcmp(s, "x", 1) == 0, "strs[0]");
        s = plumb_gguf_arr_str(arr, 1, &len);
        CHECK(s && len == 0, "strs[1] len %" PRIu64, len);
        s = plumb_gguf_arr_str(arr, 2, &len);
        CHECK(s && len == 3 && memcmp(s, "zzz", 3) == 0, "strs[2]");
        CHECK(plumb_gguf_arr_str(arr, 3, &len) == NULL, "strs[3] out of range gives NULL");
    }
    /* int32 -5 does not fit uint32; as float it is -5 */
    CHECK(plumb_gguf_get_u32(g, "test.neg", &u, &err) == PLUMB_EFORMAT &&
              strstr(err.msg, "test.neg") && strstr(err.msg, "-5"),
          "negative to u32: %s", err.msg);
    CHECK(plumb_gguf_get_f32(g, "test.neg", &f, &err) == 0 && f == -5.0f, "neg as f32");
    CHECK(plumb_gguf_get_bool(g, "test.neg", &flag, &err) == PLUMB_EFORMAT &&
              strstr(err.msg, "int32"), "int32 as bool: %s", err.msg);
    CHECK(plumb_gguf_get_arr(g, "test.u32s", PLUMB_GGUF_INT32, &arr, &err) == PLUMB_EFORMAT,
          "u32 array as int32 array");

    a = plumb_gguf_tensor(g, "a");
    CHECK(a && a->n_dims == 2 && a->ne[0] == 8 && a->ne[1] == 2 && a->ne[2] == 1 &&
              a->ne[3] == 1 && a->nbytes == 64 && a->offset == 0,
          "tensor a");
    if (a) {
        float v;
        memcpy(&v, (const uint8_t *)a->data + 4 * 15, 4);
        CHECK((const uint8_t *)a->data == g->map + g->data_offset && v == 15.0f, "tensor a data");
    }
    t = plumb_gguf_tensor(g, "b");
    CHECK(t && t->n_dims == 1 && t->ne[0] == 8 && t->nbytes == 32 && t->offset == 64, "tensor b");
    if (t) {
        float v;
        memcpy(&v, t->data, 4);
        CHECK(v == 100.0f, "tensor b data %g", v);
    }
    CHECK(plumb_gguf_tensor(g, "c") == NULL, "no tensor c");
    plumb_gguf_close(g);

    g = open_built("v2", M_V2, 0);
    CHECK(g && g->version == 2, "version 2 accepted");
    plumb_gguf_close(g);

    g = open_built("align64", M_ALIGN, 64);
    if (g) {
        CHECK(g->alignment == 64 && g->data_offset % 64 == 0, "alignment 64: data at %" PRIu64,
              g->data_offset);
        t = plumb_gguf_tensor(g, "b");
        CHECK(t && t->offset == 64 && t->nbytes == 32, "alignment 64: tensor b");
        plumb_gguf_close(g);
    }

    /* A zero-sized dimension is legal, as in llama.cpp: the tensor has no data. */
    g = open_built("zerodim", M_ZERODIM, 0);
    if (g) {
        t = plumb_gguf_tensor(g, "b");
        CHECK(t && t->ne[1] == 0 && t->nbytes == 0, "zero-sized tensor");
        plumb_gguf_close(g);
    }
}

/* ------------------------------------------------------------------ hostile files */

static void limit_memory(void)
{
#if !defined(__SANITIZE_ADDRESS__)
    /* A loader that allocates from an unchecked count would ask for
     * gigabytes here; cap the address space at what we use now + 512 MiB. */
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long pages = 0;
    if (f && fscanf(f, "%lu", &pages) == 1) {
        struct rlimit rl;
        if (getrlimit(RLIMIT_AS, &rl) == 0) {
            rlim_t want = (rlim_t)pages * (rlim_t)sysconf(_SC_PAGESIZE) + ((rlim_t)512 << 20);
            if (rl.rlim_max == RLIM_INFINITY || want < rl.rlim_max) {
                rl.rlim_cur = want;
                setrlimit(RLIMIT_AS, &rl);
            }
        }
    }
    if (f)
        fclose(f);
#endif
}

static void test_hostile(void)
{
    const uint64_t huge = (uint64_t)1 << 63, big = (uint64_t)1 << 40;
    const int F = PLUMB_EFORMAT;

    expect_fail("magic", M_MAGIC, 0, F, "bad magic 'GGUX'");
    expect_fail("version0", M_VERSION, 0, F, "unsupported GGUF version 0");
    expect_fail("version1", M_VERSION, 1, F, "unsupported GGUF version 1");
    expect_fail("version4", M_VERSION, 4, F, "unsupported GGUF version 4 (2 and 3 are supported)");
    expect_fail("versionff", M_VERSION, 0xffffffffu, F, "unsupported GGUF version 4294967295");
    expect_fail("version-be", M_VERSION, 0x03000000u, F, "big-endian");

    expect_fail("ntensors63", M_NTENSORS, huge, F, "tensor count 9223372036854775808 exceeds");
    expect_fail("ntensors40", M_NTENSORS, big, F, "tensor count 1099511627776 exceeds");
    expect_fail("nkv63", M_NKV, huge, F, "key count 9223372036854775808 exceeds");
    expect_fail("nkv40", M_NKV, big, F, "key count 1099511627776 exceeds");
    /* within the caps but far more than the file could hold */
    expect_fail("nkvmax", M_NKV, PLUMB_GGUF_MAX_KV, F, "truncated: header declares 1048576 keys");
    expect_fail("ntmax", M_NTENSORS, PLUMB_GGUF_MAX_TENSORS, F, "1048576 tensors");
    /* more entries than written: the parser reads on into what follows */
    expect_fail("ntensors3", M_NTENSORS, 3, F, "tensor table entry 2 of 3: empty name");
    expect_fail("nkv7", M_NKV, 7, F, "tensor table entry 0 of 2: name length");

    expect_fail("strlen", M_STRLEN, UINT64_MAX, F,
                "key 'general.architecture': string length 18446744073709551615 exceeds the 16 MiB limit");
    expect_fail("strlen-file", M_STRLEN, 1000000, F, "truncated: key 0 of 6");
    expect_fail("keylen", M_KEYLEN, huge, F, "key 0 of 6: key length 9223372036854775808 exceeds");
    expect_fail("arrcount", M_ARRCOUNT, huge, F, "key 'test.u32s': array of 9223372036854775808 elements exceeds");
    expect_fail("arrcount-file", M_ARRCOUNT, (uint64_t)1 << 25, F, "truncated: key 2 of 6 ('test.u32s')");
    expect_fail("strarrcount", M_STRARRCOUNT, (uint64_t)1 << 26, F, "67108864 strings need at least");
    expect_fail("strarrcount63", M_STRARRCOUNT, huge, F, "exceeds the limit");
    expect_fail("nested", M_NESTED, 0, F, "key 'test.u32s': nested arrays are not supported");
    expect_fail("arrtype", M_ARRTYPE, 13, F, "array of unknown value type 13");
    expect_fail("vtype", M_VTYPE, 13, F, "key 'general.architecture': unknown value type 13");
    expect_fail("vtype-big", M_VTYPE, 0xffffffffu, F, "unknown value type 4294967295");
    expect_fail("bool", M_BOOL, 2, F, "key 'test.flag': bool value 2 is not 0 or 1");
    expect_fail("emptykey", M_EMPTYKEY, 0, F, "empty key");
    expect_fail("keynul", M_KEYNUL, 0, F, "NUL byte");
    expect_fail("dupkey", M_DUPKEY, 0, F, "key 'general.architecture': duplicate key");

    expect_fail("align0", M_ALIGN, 0, F, "general.alignment");
    expect_fail("align0b", M_ALIGN, 0, F, "0 is not a power of two");
    expect_fail("align3", M_ALIGN, 3, F, "3 is not a power of two");
    expect_fail("aligntype", M_ALIGNTYPE, 0, F, "key 'general.alignment' is string");

    expect_fail("ttype17", M_TTYPE, 17, PLUMB_EUNSUPPORTED, "tensor 'b': unsupported type 17 (IQ2_XS)");
    expect_fail("ttype99", M_TTYPE, 99, F, "tensor 'b': unknown type 99");
    expect_fail("ttypeff", M_TTYPE, 0xffffffffu, F, "unknown type 4294967295");
    /* plumb's own types: internal slots are not valid on disk; an interleaved
     * type needs whole groups of rows */
    expect_fail("ttype40", M_TTYPE, PLUMB_QTYPE_Q4_0_R8, F, "tensor 'b': unknown type 40");
    expect_fail("ttype41", M_TTYPE, PLUMB_QTYPE_Q8_0X, F, "tensor 'b': unknown type 41");
    expect_fail("ttype-r8", M_TTYPE, PLUMB_GGUF_TYPE_Q4_0_R8, F,
                "tensor 'b': 1 rows of type Q4_0_R8, not a multiple of 8");
    expect_fail("ndims0", M_NDIMS, 0, F, "tensor 'b': n_dims 0 is not in 1..4");
    expect_fail("ndims5", M_NDIMS, 5, F, "tensor 'b': n_dims 5 is not in 1..4");
    expect_fail("ndimsff", M_NDIMS, 0xffffffffu, F, "n_dims 4294967295");
    expect_fail("bigdims", M_BIGDIMS, big, F, "tensor 'b': shape 1099511627776 x 1099511627776");
    expect_fail("bigdims2", M_BIGDIMS, (uint64_t)1 << 16, F, "more than 2^63-1 elements");
    expect_fail("negdim", M_BIGDIMS, huge, F, "negative");
    expect_fail("block", M_BLOCK, 0, F, "row of 8 elements is not a multiple of the Q4_K block size 256");
    expect_fail("offset-range", M_OFFSET, big, F, "tensor 'b': data offset 1099511627776 is past the end");
    expect_fail("offset-end", M_OFFSET, 96, F, "tensor 'b': data (32 bytes at byte");
    expect_fail("offset-max", M_OFFSET, UINT64_MAX - 31, F, "tensor 'b'");
    expect_fail("misaligned", M_OFFSET, 33, F, "tensor 'b': data offset 33 is not a multiple of the alignment 32");
    expect_fail("dupname", M_DUPNAME, 0, F, "tensor 'a': duplicate tensor name");
    expect_fail("shortdata", M_SHORTDATA, 0, F, "truncated: tensor 'b'");
}

/* ------------------------------------------------------------------ truncations of a real model */

static void test_truncation(const char *model)
{
    char src[4096];
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    uint64_t end = 0, size, k, i, step, dstep, data_offset;
    size_t len;
    char *buf;
    const char *path;
    int fd, rc, tried = 0, failed_ok = 0;

    snprintf(src, sizeof src, "%s", test_data(model));
    if (plumb_gguf_open(&g, src, &err) != PLUMB_OK) {
        CHECK(0, "%s: %s", src, err.msg);
        return;
    }
    size = g->size;
    for (i = 0; i < g->n_tensors; i++)
        if (g->data_offset + g->tensors[i].offset + g->tensors[i].nbytes > end)
            end = g->data_offset + g->tensors[i].offset + g->tensors[i].nbytes;
    CHECK(end > g->data_offset && end <= size, "last tensor ends at %" PRIu64, end);
    data_offset = g->data_offset;
    step = data_offset / 1500 + 1;
    dstep = (end - data_offset) / 300 + 1;
    plumb_gguf_close(g);

    buf = test_read_file(src, &len);
    CHECK(buf && len == size, "read %s", src);
    if (!buf || len != size)
        return;
    path = write_tmp("trunc", buf, len);
    fd = open(path, O_WRONLY);
    CHECK(fd >= 0, "open %s", path);

    /* The end of the last tensor: still a valid file. */
    CHECK(ftruncate(fd, (off_t)end) == 0, "ftruncate");
    rc = plumb_gguf_open(&g, path, &err);
    CHECK(rc == PLUMB_OK, "cut at the end of the last tensor: %s", err.msg);
    plumb_gguf_close(g);
    g = NULL;

    /* Shrinking sizes: every byte of the first 512, every step-th byte of
     * the metadata, a spread through the data and its last 64 bytes. */
    for (k = end; k-- > 0;) {
        int cut = k < 512 || k + 64 >= end ||
                  (k < data_offset ? k % step == 0 : (k - data_offset) % dstep == 0);
        if (!cut)
            continue;
        if (ftruncate(fd, (off_t)k) != 0) {
            CHECK(0, "ftruncate %" PRIu64, k);
            break;
        }
        rc = plumb_gguf_open(&g, path, &err);
        tried++;
        if ((rc == PLUMB_EFORMAT || rc == PLUMB_EIO) && g == NULL && strstr(err.msg, path))
            failed_ok++;
        else
            CHECK(0, "cut at %" PRIu64 " of %" PRIu64 ": rc %d, msg: %s", k, size, rc, err.msg);
        if (rc == PLUMB_OK)
            plumb_gguf_close(g);
        g = NULL;
    }
    CHECK(tried > 1000 && failed_ok == tried, "%s: %d truncations, %d refused properly", model,
          tried, failed_ok);
    close(fd);
    unlink(path);
    free(buf);
}

/* ------------------------------------------------------------------ the real models */

static PlumbGGUF *open_model(const char *file)
{
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    int rc = plumb_gguf_open(&g, test_data(file), &err);
    CHECK(rc == PLUMB_OK && g, "%s: %s", file, err.msg);
    return g;
}

/* Facts every model file must satisfy: every key and tensor is found by
 * name, every tensor's size follows from its type and shape, and its data
 * lies inside the file at an aligned offset. */
static void check_consistent(const PlumbGGUF *g, const char *file)
{
    uint64_t i;
    for (i = 0; i < g->n_kv; i++)
        CHECK(plumb_gguf_find(g, g->kv[i].key) == &g->kv[i], "%s: key %s", file, g->kv[i].key);
    for (i = 0; i < g->n_tensors; i++) {
        const PlumbGGUFTensor *t = &g->tensors[i];
        uint64_t rows = t->ne[1] * t->ne[2] * t->ne[3];
        CHECK(plumb_gguf_tensor(g, t->name) == t, "%s: tensor %s", file, t->name);
        CHECK(t->nbytes == plumb_qtype_row_size(t->type, t->ne[0]) * rows,
              "%s: %s: %" PRIu64 " bytes", file, t->name, t->nbytes);
        CHECK(t->offset % g->alignment == 0, "%s: %s offset", file, t->name);
        CHECK((const uint8_t *)t->data == g->map + g->data_offset + t->offset &&
                  g->data_offset + t->offset + t->nbytes <= g->size,
              "%s: %s data", file, t->name);
    }
    CHECK(g->data_offset % g->alignment == 0 || g->n_tensors == 0, "%s: data offset", file);
}

static void check_u32(const PlumbGGUF *g, const char *key, uint32_t want)
{
    PlumbError err = { 0 };
    uint32_t v = 0;
    int rc = plumb_gguf_get_u32(g, key, &v, &err);
    CHECK(rc == PLUMB_OK && v == want, "%s: %s = %u, want %u (%s)", g->path, key, v, want, err.msg);
}

static void check_arch(const PlumbGGUF *g, const char *want)
{
    PlumbError err = { 0 };
    const char *s = NULL;
    int rc = plumb_gguf_get_str(g, "general.architecture", &s, &err);
    CHECK(rc == PLUMB_OK && s && strcmp(s, want) == 0, "%s: architecture %s, want %s (%s)",
          g->path, s ? s : "(none)", want, err.msg);
}

static void check_shape(const PlumbGGUF *g, const char *name, uint32_t type, uint32_t n_dims,
                        uint64_t ne0, uint64_t ne1, uint64_t ne2)
{
    const PlumbGGUFTensor *t = plumb_gguf_tensor(g, name);
    CHECK(t != NULL, "%s: no tensor %s", g->path, name);
    if (!t)
        return;
    CHECK(t->type == type && t->n_dims == n_dims && t->ne[0] == ne0 && t->ne[1] == ne1 &&
              t->ne[2] == ne2 && t->ne[3] == 1,
          "%s: %s: type %u dims %u ne %" PRIu64 " %" PRIu64 " %" PRIu64, g->path, name, t->type,
          t->n_dims, t->ne[0], t->ne[1], t->ne[2]);
}

static void test_models(void)
{
    static const char *const small[] = {
        "small-f16.gguf", "small-Q8_0.gguf", "small-Q6_K.gguf",
        "small-Q5_K_M.gguf", "small-Q4_K_M.gguf", "small-Q4_0.gguf", "small-IQ4_XS.gguf",
        "small-Q3_K_M.gguf", "small-Q2_K.gguf",
    };
    PlumbGGUF *g;
    PlumbError err = { 0 };
    size_t i;

    if ((g = open_model("models/mini-f32.gguf"))) {
        check_consistent(g, "mini-f32");
        check_arch(g, "qwen3moe");
        check_u32(g, "qwen3moe.block_count", 2);
        check_u32(g, "qwen3moe.expert_count", 4);
        check_u32(g, "qwen3moe.embedding_length", 64);
        CHECK(g->n_tensors == 27 && g->version == 3, "mini-f32: %" PRIu64 " tensors", g->n_tensors);
        check_shape(g, "token_embd.weight", PLUMB_QTYPE_F32, 2, 64, 1024, 1);
        check_shape(g, "blk.1.ffn_down_exps.weight", PLUMB_QTYPE_F32, 3, 32, 64, 4);
        plumb_gguf_close(g);
    }

    for (i = 0; i < sizeof small / sizeof small[0]; i++) {
        char file[64];
        snprintf(file, sizeof file, "models/%s", small[i]);
        if (!(g = open_model(file)))
            continue;
        check_consistent(g, small[i]);
        check_arch(g, "qwen3moe");
        check_u32(g, "qwen3moe.block_count", 2);
        check_u32(g, "qwen3moe.expert_count", 8);
        check_u32(g, "qwen3moe.expert_used_count", 2);
        check_u32(g, "qwen3moe.expert_feed_forward_length", 256);
        check_u32(g, "tokenizer.ggml.eos_token_id", 2024);
        CHECK(g->n_tensors == 27, "%s: %" PRIu64 " tensors", small[i], g->n_tensors);
        check_shape(g, "blk.0.attn_norm.weight", PLUMB_QTYPE_F32, 1, 256, 1, 1);
        check_shape(g, "blk.0.ffn_gate_inp.weight", PLUMB_QTYPE_F32, 2, 256, 8, 1);
        if (i == 0) {
            check_shape(g, "blk.0.ffn_gate_exps.weight", PLUMB_QTYPE_F16, 3, 256, 256, 8);
            check_shape(g, "blk.1.attn_k.weight", PLUMB_QTYPE_F16, 2, 256, 128, 1);
            check_shape(g, "output.weight", PLUMB_QTYPE_F16, 2, 256, 2048, 1);
        } else {
            const PlumbGGUFTensor *t = plumb_gguf_tensor(g, "blk.0.ffn_gate_exps.weight");
            CHECK(t && t->n_dims == 3 && t->ne[0] == 256 && t->ne[1] == 256 && t->ne[2] == 8,
                  "%s: blk.0.ffn_gate_exps.weight shape", small[i]);
        }
        plumb_gguf_close(g);
    }
    if ((g = open_model("models/small-Q4_K_M.gguf"))) {
        const PlumbGGUFTensor *t = plumb_gguf_tensor(g, "blk.0.ffn_up_exps.weight");
        CHECK(t && t->type == PLUMB_QTYPE_Q4_K && t->nbytes == 8 * 256 * 144,
              "small-Q4_K_M: ffn_up_exps is Q4_K of %" PRIu64 " bytes", t ? t->nbytes : 0);
        plumb_gguf_close(g);
    }

    if ((g = open_model("models/dense-f16.gguf"))) {
        check_consistent(g, "dense-f16");
        check_arch(g, "qwen3");
        check_u32(g, "qwen3.block_count", 2);
        check_u32(g, "qwen3.feed_forward_length", 512);
        CHECK(g->n_tensors == 25, "dense-f16: %" PRIu64 " tensors", g->n_tensors);
        check_shape(g, "blk.0.ffn_up.weight", PLUMB_QTYPE_F16, 2, 256, 512, 1);
        check_shape(g, "blk.1.ffn_down.weight", PLUMB_QTYPE_F16, 2, 512, 256, 1);
        CHECK(plumb_gguf_tensor(g, "blk.0.ffn_gate_exps.weight") == NULL, "dense has no experts");
        plumb_gguf_close(g);
    }
    if ((g = open_model("models/dense-Q4_K_M.gguf"))) {
        check_consistent(g, "dense-Q4_K_M");
        check_arch(g, "qwen3");
        CHECK(g->n_tensors == 25, "dense-Q4_K_M: %" PRIu64 " tensors", g->n_tensors);
        plumb_gguf_close(g);
    }

    if ((g = open_model("models/qwen3-vocab.gguf"))) {
        const PlumbGGUFValue *tok = NULL, *merges = NULL;
        const char *s;
        uint64_t len = 0;
        uint32_t u = 7;
        float f = 3;
        int b = 5;
        check_consistent(g, "qwen3-vocab");
        CHECK(g->n_tensors == 0, "qwen3-vocab has no tensors");
        CHECK(plumb_gguf_get_arr(g, "tokenizer.ggml.tokens", PLUMB_GGUF_STRING, &tok, &err) == 0 &&
                  tok && tok->v.arr.n == 151936,
              "tokens: %s", err.msg);
        if (tok && tok->v.arr.n == 151936) {
            s = plumb_gguf_arr_str(tok, 0, &len);
            CHECK(s && len == 1 && s[0] == '!', "token 0");
            s = plumb_gguf_arr_str(tok, 151643, &len);
            CHECK(s && len == 13 && memcmp(s, "<|endoftext|>", 13) == 0, "token 151643");
            s = plumb_gguf_arr_str(tok, 151935, &len);
            CHECK(s && len == 11 && memcmp(s, "[PAD151935]", 11) == 0, "last token");
            CHECK(plumb_gguf_arr_str(tok, 151936, &len) == NULL, "token past the end");
        }
        CHECK(plumb_gguf_get_arr(g, "tokenizer.ggml.merges", PLUMB_GGUF_STRING, &merges, &err) == 0 &&
                  merges && merges->v.arr.n == 151387,
              "merges: %s", err.msg);
        check_u32(g, "tokenizer.ggml.bos_token_id", 151643);
        check_u32(g, "tokenizer.ggml.eos_token_id", 151645);

        /* Typed getter errors. */
        CHECK(plumb_gguf_get_u32(g, "no.such.key", &u, &err) == PLUMB_EFORMAT &&
                  strstr(err.msg, "missing key 'no.such.key'") && u == 7,
              "missing key: %s", err.msg);
        CHECK(plumb_gguf_get_str(g, "no.such.key", &s, &err) == PLUMB_EFORMAT, "missing str");
        CHECK(plumb_gguf_get_bool(g, "no.such.key", &b, &err) == PLUMB_EFORMAT, "missing bool");
        CHECK(plumb_gguf_get_f32(g, "no.such.key", &f, &err) == PLUMB_EFORMAT, "missing f32");
        CHECK(plumb_gguf_get_u32(g, "general.architecture", &u, &err) == PLUMB_EFORMAT &&
                  strstr(err.msg, "'general.architecture'") && strstr(err.msg, "string"),
              "string as u32: %s", err.msg);
        CHECK(plumb_gguf_get_f32(g, "tokenizer.ggml.pre", &f, &err) == PLUMB_EFORMAT, "string as f32");
        CHECK(plumb_gguf_get_str(g, "tokenizer.ggml.bos_token_id", &s, &err) == PLUMB_EFORMAT &&
                  strstr(err.msg, "uint32"), "u32 as string: %s", err.msg);
        CHECK(plumb_gguf_get_u32(g, "tokenizer.ggml.tokens", &u, &err) == PLUMB_EFORMAT &&
                  strstr(err.msg, "array"), "array as u32: %s", err.msg);
        CHECK(plumb_gguf_get_arr(g, "tokenizer.ggml.tokens", PLUMB_GGUF_INT32, &tok, &err) ==
                  PLUMB_EFORMAT, "string array as int32 array");
        CHECK(plumb_gguf_get_arr(g, "general.architecture", PLUMB_GGUF_STRING, &tok, &err) ==
                  PLUMB_EFORMAT, "string as array");
        CHECK(plumb_gguf_get_bool(g, "tokenizer.ggml.add_bos_token", &b, &err) == 0 && b == 0,
              "add_bos_token");
        CHECK(plumb_gguf_get_u32_opt(g, "no.such.key", &u, &err) == 0 && u == 7, "u32_opt absent");
        CHECK(plumb_gguf_get_f32_opt(g, "no.such.key", &f, &err) == 0 && f == 3, "f32_opt absent");
        CHECK(plumb_gguf_get_bool_opt(g, "no.such.key", &b, &err) == 0 && b == 0, "bool_opt absent");
        CHECK(plumb_gguf_get_u32_opt(g, "tokenizer.ggml.eos_token_id", &u, &err) == 0 && u == 151645,
              "u32_opt present");
        CHECK(plumb_gguf_get_u32_opt(g, "general.name", &u, &err) == PLUMB_EFORMAT,
              "u32_opt of a string");
        CHECK(plumb_gguf_find(g, "tokenizer.chat_template") != NULL, "chat template");
        CHECK(plumb_gguf_find(g, "tokenizer.chat_templat") == NULL, "prefix is not a key");
        plumb_gguf_close(g);
    }

    /* Files that are not there or not files. */
    g = (PlumbGGUF *)&err;
    CHECK(plumb_gguf_open(&g, test_data("models/no-such.gguf"), &err) == PLUMB_EIO && g == NULL &&
              strstr(err.msg, "no-such.gguf"), "missing file: %s", err.msg);
    CHECK(plumb_gguf_open(&g, test_data("models"), &err) == PLUMB_EIO &&
              strstr(err.msg, "is a directory"), "directory: %s", err.msg);
    CHECK(plumb_gguf_open(&g, write_tmp("empty", "", 0), &err) == PLUMB_EFORMAT &&
              strstr(err.msg, "empty.gguf: empty file"), "empty: %s", err.msg);
    plumb_gguf_close(NULL);

    CHECK(strcmp(plumb_gguf_type_name(PLUMB_GGUF_STRING), "string") == 0 &&
              strcmp(plumb_gguf_type_name(PLUMB_GGUF_FLOAT64), "float64") == 0 &&
              strcmp(plumb_gguf_type_name(99), "unknown") == 0,
          "type names");
}

int main(void)
{
    char path[512];
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/test_gguf.XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 99;
    }

    test_models();
    test_synthetic_ok();
    test_large_mapping();
    limit_memory();
    test_hostile();
    test_truncation("models/mini-f32.gguf");
    test_truncation("models/small-Q4_K_M.gguf");

    snprintf(path, sizeof path, "%s/empty.gguf", tmpdir);
    unlink(path);
    if (rmdir(tmpdir) != 0)
        CHECK(0, "temporary directory %s left non-empty", tmpdir);
    return test_done("test_gguf");
}
