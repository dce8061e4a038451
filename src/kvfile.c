/*
 * kvfile.c — saving and loading a session's key/value cache (see kvfile.h
 * for the format and its promises).
 *
 * Both directions stream: a writer and a reader with a 64 KiB buffer carry
 * the running CRC-32 of every byte that passes, and one page at a time is
 * (de)compressed, so memory stays at two pages' worth whatever the context.
 * Load empties the session first and fills the cache's pages straight from
 * the file; any error resets it again, so a half-read file never leaves a
 * half-loaded cache behind.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "err.h"
#include "gguf.h"
#include "kvcache.h"
#include "kvfile.h"
#include "model.h"
#include "outfile.h"
#include "qtypes.h"
#include "session.h"
#include "sha256.h"

#define IO_BUF 65536 /* bytes of the reader's and the writer's buffer */

/* ------------------------------------------------------------ encoding */

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    return (uint64_t)get_u32(p) | (uint64_t)get_u32(p + 4) << 32;
}

static uint32_t f32_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

static float bits_f32(uint32_t u)
{
    float f;
    memcpy(&f, &u, 4);
    return f;
}

static const char *kv_type_name(uint32_t t)
{
    switch (t) {
    case PLUMB_QTYPE_F32: return "f32";
    case PLUMB_QTYPE_F16: return "f16";
    case PLUMB_QTYPE_Q8_0: return "q8_0";
    case PLUMB_QTYPE_Q4_0: return "q4_0";
    default: return NULL;
    }
}

/* What the file records besides tokens and pages (the fixed header). */
typedef struct Header {
    unsigned char fingerprint[PLUMB_SHA256_BYTES]; /* SHA-256 of the model's metadata */
    PlumbKVParams p;   /* n_ctx unused */
    PlumbRope rope;    /* the fields kvfile.h lists; beta_*, theta_scale unused */
    uint32_t n_used;   /* positions held */
} Header;

static void header_of(PlumbSession *s, Header *h)
{
    const PlumbKVCache *kv = plumb_session_kv(s);
    memset(h, 0, sizeof *h);
    plumb_model_fingerprint(plumb_session_model(s), h->fingerprint);
    h->p = kv->p;
    h->rope = plumb_session_model(s)->rope;
    h->n_used = (uint32_t)kv->n_used;
}

static void encode_header(const Header *h, unsigned char b[PLUMB_KVFILE_FIXED])
{
    memcpy(b, PLUMB_KVFILE_MAGIC, 8); /* with its NUL */
    put_u32(b + 8, PLUMB_KVFILE_VERSION);
    put_u32(b + 12, PLUMB_KV_PAGE);
    memcpy(b + 16, h->fingerprint, PLUMB_SHA256_BYTES);
    put_u32(b + 48, (uint32_t)h->p.n_layer);
    put_u32(b + 52, (uint32_t)h->p.n_head_kv);
    put_u32(b + 56, (uint32_t)h->p.head_dim);
    put_u32(b + 60, h->p.type_k);
    put_u32(b + 64, h->p.type_v);
    put_u32(b + 68, h->p.rotate ? 1u : 0u);
    put_u32(b + 72, (uint32_t)h->p.window);
    put_u32(b + 76, (uint32_t)h->p.keep);
    put_u32(b + 80, (uint32_t)h->rope.n_dims);
    put_u32(b + 84, f32_bits(h->rope.freq_base));
    put_u32(b + 88, f32_bits(h->rope.freq_scale));
    put_u32(b + 92, f32_bits(h->rope.ext_factor));
    put_u32(b + 96, f32_bits(h->rope.attn_factor));
    put_u32(b + 100, (uint32_t)h->rope.n_ctx_orig);
    put_u32(b + 104, f32_bits(h->rope.corr_dims[0]));
    put_u32(b + 108, f32_bits(h->rope.corr_dims[1]));
    put_u32(b + 112, h->n_used);
}

/* The fields after magic and version (checked by the caller). */
static void decode_header(const unsigned char b[PLUMB_KVFILE_FIXED], Header *h)
{
    memset(h, 0, sizeof *h);
    memcpy(h->fingerprint, b + 16, PLUMB_SHA256_BYTES);
    h->p.n_layer = (int32_t)get_u32(b + 48);
    h->p.n_head_kv = (int32_t)get_u32(b + 52);
    h->p.head_dim = (int32_t)get_u32(b + 56);
    h->p.type_k = get_u32(b + 60);
    h->p.type_v = get_u32(b + 64);
    h->p.rotate = (int)get_u32(b + 68);
    h->p.window = (int32_t)get_u32(b + 72);
    h->p.keep = (int32_t)get_u32(b + 76);
    h->rope.n_dims = (int32_t)get_u32(b + 80);
    h->rope.freq_base = bits_f32(get_u32(b + 84));
    h->rope.freq_scale = bits_f32(get_u32(b + 88));
    h->rope.ext_factor = bits_f32(get_u32(b + 92));
    h->rope.attn_factor = bits_f32(get_u32(b + 96));
    h->rope.n_ctx_orig = (int32_t)get_u32(b + 100);
    h->rope.corr_dims[0] = bits_f32(get_u32(b + 104));
    h->rope.corr_dims[1] = bits_f32(get_u32(b + 108));
    h->n_used = get_u32(b + 112);
}

/* Pages that hold positions [0, n). */
static int32_t pages_of(uint32_t n)
{
    return (int32_t)(((uint64_t)n + PLUMB_KV_PAGE - 1) / PLUMB_KV_PAGE);
}

/* ------------------------------------------------------------ save */

typedef struct Writer {
    PlumbOutFile out;          /* the temporary file */
    unsigned char buf[IO_BUF]; /* bytes not written yet */
    size_t n;                  /* of buf */
    uLong crc;                 /* CRC-32 of every byte put so far */
} Writer;

static int w_flush(Writer *w, PlumbError *err)
{
    int rc = w->n ? plumb_outfile_write(&w->out, w->buf, w->n, err) : PLUMB_OK;
    w->n = 0;
    return rc;
}

static int w_put(Writer *w, const void *data, size_t n, PlumbError *err)
{
    int rc;
    w->crc = crc32_z(w->crc, data, n);
    if (n <= IO_BUF - w->n) {
        memcpy(w->buf + w->n, data, n);
        w->n += n;
        return PLUMB_OK;
    }
    if ((rc = w_flush(w, err)) < 0)
        return rc;
    if (n <= IO_BUF) {
        memcpy(w->buf, data, n);
        w->n = n;
        return PLUMB_OK;
    }
    return plumb_outfile_write(&w->out, data, n, err);
}

static int w_u32(Writer *w, uint32_t v, PlumbError *err)
{
    unsigned char b[4];
    put_u32(b, v);
    return w_put(w, b, 4, err);
}

/* Zero the rows of positions [from, PLUMB_KV_PAGE) of every layer, K/V
 * and head stream of a page (the layout of kvcache.h). */
static void zero_tail(const PlumbKVCache *kv, unsigned char *rows, int32_t from)
{
    const uint64_t P = PLUMB_KV_PAGE, G = (uint64_t)kv->p.n_head_kv;
    const uint64_t layer_bytes = G * P * (kv->k_row + kv->v_row);
    for (int32_t l = 0; l < kv->p.n_layer; l++) {
        unsigned char *k = rows + (uint64_t)l * layer_bytes, *v = k + G * P * kv->k_row;
        for (uint64_t g = 0; g < G; g++) {
            memset(k + (g * P + (uint64_t)from) * kv->k_row, 0, (P - (uint64_t)from) * kv->k_row);
            memset(v + (g * P + (uint64_t)from) * kv->v_row, 0, (P - (uint64_t)from) * kv->v_row);
        }
    }
}

static int save_pages(Writer *w, const PlumbKVCache *kv, const char *path, uint32_t *n_written,
                      PlumbError *err)
{
    const int32_t n_held = pages_of((uint32_t)kv->n_used);
    const uLong bound = compressBound((uLong)kv->page_bytes);
    unsigned char *tail = NULL, *cbuf = NULL;
    int rc = PLUMB_OK;

    *n_written = 0;
    if (n_held == 0)
        return PLUMB_OK;
    if (!(cbuf = malloc(bound)) || !(tail = malloc((size_t)kv->page_bytes))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "kv-save: %s: out of memory for a page of %llu bytes",
                       path, (unsigned long long)kv->page_bytes);
        goto done;
    }
    for (int32_t i = 0; i < n_held; i++) {
        const unsigned char *rows = plumb_kv_page_rows(kv, i);
        unsigned char head[12];
        uLongf clen = bound;
        int zrc;
        if (!rows)
            continue; /* dropped by the window */
        if ((int64_t)(i + 1) * PLUMB_KV_PAGE > kv->n_used) {
            /* the last page: rows past n_used hold whatever was there before */
            memcpy(tail, rows, (size_t)kv->page_bytes);
            zero_tail(kv, tail, kv->n_used - i * PLUMB_KV_PAGE);
            rows = tail;
        }
        zrc = compress2(cbuf, &clen, rows, (uLong)kv->page_bytes, 1);
        if (zrc != Z_OK) {
            rc = plumb_err(err, zrc == Z_MEM_ERROR ? PLUMB_ENOMEM : PLUMB_EIO,
                           "kv-save: %s: page %d: zlib error %d", path, (int)i, zrc);
            goto done;
        }
        put_u32(head, (uint32_t)i);
        put_u64(head + 4, (uint64_t)clen);
        if ((rc = w_put(w, head, sizeof head, err)) < 0 || (rc = w_put(w, cbuf, clen, err)) < 0 ||
            (rc = w_u32(w, (uint32_t)crc32_z(0, rows, (size_t)kv->page_bytes), err)) < 0)
            goto done;
        ++*n_written;
    }
done:
    free(cbuf);
    free(tail);
    return rc;
}

/* What save refuses at once: a symbolic link, a directory, anything but a
 * regular file at path. */
static int check_target(const char *path, PlumbError *err)
{
    struct stat st;
    if (!path || !*path)
        return plumb_err(err, PLUMB_EINVAL, "kv-save: %s", path ? "empty path" : "NULL path");
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode))
            return plumb_err(err, PLUMB_EINVAL,
                             "kv-save: %s: is a symbolic link (not written through)", path);
        if (!S_ISREG(st.st_mode))
            return plumb_err(err, PLUMB_EINVAL, "kv-save: %s: is %s, not a file to replace", path,
                             plumb_file_type_name(st.st_mode));
    } else if (errno != ENOENT) {
        return plumb_err(err, PLUMB_EIO, "kv-save: %s: %s", path, strerror(errno));
    }
    return PLUMB_OK;
}

int plumb_kvfile_check_save(const char *path, PlumbError *err)
{
    PlumbOutFile f;
    int rc;
    plumb_err_clear(err);
    if ((rc = check_target(path, err)) < 0)
        return rc;
    if ((rc = plumb_outfile_open(&f, path, PLUMB_OUT_FORCE, NULL, 0, err)) < 0) {
        plumb_err_prefix(err, "kv-save");
        return rc;
    }
    plumb_outfile_abort(&f);
    return PLUMB_OK;
}

int plumb_session_save(const PlumbSession *cs, const char *path, PlumbError *err)
{
    PlumbSession *s = (PlumbSession *)cs; /* only read: the accessors take no const */
    const PlumbKVCache *kv;
    const int32_t *tokens;
    Writer *w = NULL;
    Header h;
    unsigned char fixed[PLUMB_KVFILE_FIXED];
    struct stat st;
    uint32_t n_pages = 0;
    size_t n_tokens;
    int rc;

    plumb_err_clear(err);
    if (!s)
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_save: NULL session");
    if ((rc = check_target(path, err)) < 0)
        return rc;
    kv = plumb_session_kv(s);
    tokens = plumb_session_tokens(s, &n_tokens);
    if (n_tokens < (size_t)kv->n_used)
        return plumb_err(err, PLUMB_EINVAL, "kv-save: %s: the session holds %zu tokens for %d positions",
                         path, n_tokens, (int)kv->n_used);
    if (!(w = calloc(1, sizeof *w)))
        return plumb_err(err, PLUMB_ENOMEM, "kv-save: %s: out of memory", path);
    if ((rc = plumb_outfile_open(&w->out, path, PLUMB_OUT_FORCE, NULL, 0, err)) < 0) {
        plumb_err_prefix(err, "kv-save");
        free(w);
        return rc;
    }
    if (w->out.kind != PLUMB_OUT_TEMP) { /* something else appeared at path meanwhile */
        rc = plumb_err(err, PLUMB_EINVAL, "kv-save: %s: not a regular file", path);
        goto fail;
    }
    /* the temporary file was made 0666 less the umask; a cache file is 0644 less it */
    if (fstat(w->out.fd, &st) != 0 || fchmod(w->out.fd, st.st_mode & 0644) != 0) {
        rc = plumb_err(err, PLUMB_EIO, "kv-save: %s: %s", w->out.tmp, strerror(errno));
        goto fail;
    }

    header_of(s, &h);
    encode_header(&h, fixed);
    w->crc = crc32_z(0, Z_NULL, 0);
    if ((rc = w_put(w, fixed, sizeof fixed, err)) < 0)
        goto fail;
    for (uint32_t i = 0; i < h.n_used; i++)
        if ((rc = w_u32(w, (uint32_t)tokens[i], err)) < 0)
            goto fail;
    if ((rc = w_u32(w, (uint32_t)w->crc, err)) < 0 || /* the header's CRC */
        (rc = save_pages(w, kv, path, &n_pages, err)) < 0 ||
        (rc = w_u32(w, PLUMB_KVFILE_END, err)) < 0 || (rc = w_u32(w, n_pages, err)) < 0 ||
        (rc = w_u32(w, (uint32_t)w->crc, err)) < 0 || (rc = w_flush(w, err)) < 0)
        goto fail;
    rc = plumb_outfile_commit(&w->out, err);
    if (rc < 0)
        plumb_err_prefix(err, "kv-save");
    free(w);
    return rc;
fail:
    plumb_outfile_abort(&w->out);
    free(w);
    return rc;
}

/* ------------------------------------------------------------ load */

typedef struct Reader {
    int fd;                    /* the file, read sequentially */
    const char *path;          /* for messages */
    unsigned char buf[IO_BUF]; /* bytes read ahead */
    size_t pos, len;           /* buf[pos, len) not consumed yet */
    uint64_t off;              /* file offset of buf[pos] */
    uLong crc;                 /* CRC-32 of every byte consumed */
} Reader;

/* Fill the buffer; 0 at end of file. */
static int r_fill(Reader *r, PlumbError *err)
{
    ssize_t got;
    r->pos = r->len = 0;
    do
        got = read(r->fd, r->buf, IO_BUF);
    while (got < 0 && errno == EINTR);
    if (got < 0)
        return plumb_err(err, PLUMB_EIO, "kv-load: %s: read: %s", r->path, strerror(errno));
    r->len = (size_t)got;
    return (int)(got > 0);
}

/* Consume n bytes into dst (NULL: only through the CRC). */
static int r_get(Reader *r, void *dst, uint64_t n, const char *what, PlumbError *err)
{
    unsigned char *d = dst;
    while (n > 0) {
        size_t take;
        if (r->pos == r->len) {
            int rc = r_fill(r, err);
            if (rc < 0)
                return rc;
            if (rc == 0)
                return plumb_err(err, PLUMB_EFORMAT,
                                 "kv-load: %s: truncated: the file ends at byte %llu, in %s",
                                 r->path, (unsigned long long)r->off, what);
        }
        take = r->len - r->pos;
        if (take > n)
            take = (size_t)n;
        r->crc = crc32_z(r->crc, r->buf + r->pos, take);
        if (d) {
            memcpy(d, r->buf + r->pos, take);
            d += take;
        }
        r->pos += take;
        r->off += take;
        n -= take;
    }
    return PLUMB_OK;
}

static int r_u32(Reader *r, uint32_t *v, const char *what, PlumbError *err)
{
    unsigned char b[4];
    int rc = r_get(r, b, 4, what, err);
    *v = get_u32(b);
    return rc;
}

/* The file as a whole ended here: no byte may follow. */
static int r_at_end(Reader *r, PlumbError *err)
{
    int rc;
    if (r->pos < r->len || (rc = r_fill(r, err)) > 0)
        return plumb_err(err, PLUMB_EFORMAT, "kv-load: %s: data after the end of the cache, at byte %llu",
                         r->path, (unsigned long long)r->off);
    return rc;
}

static int open_file(const char *path, PlumbError *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ELOOP)
            return plumb_err(err, PLUMB_EIO, "kv-load: %s: is a symbolic link (not followed)", path);
        return plumb_err(err, PLUMB_EIO, "kv-load: %s: %s", path, strerror(errno));
    }
    if (fstat(fd, &st) != 0) {
        const int e = errno;
        close(fd);
        return plumb_err(err, PLUMB_EIO, "kv-load: %s: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return plumb_err(err, PLUMB_EIO, "kv-load: %s: is %s, not a key/value cache file", path,
                         plumb_file_type_name(st.st_mode));
    }
    return fd;
}

/* Magic and version of the fixed header b. */
static int check_magic(const char *path, const unsigned char *b, PlumbError *err)
{
    uint32_t v;
    if (memcmp(b, PLUMB_KVFILE_MAGIC, 8) != 0)
        return plumb_err(err, PLUMB_EFORMAT,
                         "kv-load: %s: not a key/value cache file (no PLUMBKV magic)", path);
    if ((v = get_u32(b + 8)) != PLUMB_KVFILE_VERSION)
        return plumb_err(err, PLUMB_EUNSUPPORTED,
                         "kv-load: %s: format version %u, this build reads version %u", path,
                         (unsigned)v, PLUMB_KVFILE_VERSION);
    if ((v = get_u32(b + 12)) != PLUMB_KV_PAGE)
        return plumb_err(err, PLUMB_EUNSUPPORTED,
                         "kv-load: %s: pages of %u positions, this build uses %d", path,
                         (unsigned)v, PLUMB_KV_PAGE);
    return PLUMB_OK;
}

int plumb_kvfile_peek(const char *path, size_t *n_tokens, PlumbError *err)
{
    Reader *r;
    unsigned char b[PLUMB_KVFILE_FIXED];
    int fd, rc;
    plumb_err_clear(err);
    if (!path || !n_tokens)
        return plumb_err(err, PLUMB_EINVAL, "plumb_kvfile_peek: NULL argument");
    if ((fd = open_file(path, err)) < 0)
        return fd;
    if (!(r = calloc(1, sizeof *r))) {
        close(fd);
        return plumb_err(err, PLUMB_ENOMEM, "kv-load: %s: out of memory", path);
    }
    r->fd = fd;
    r->path = path;
    if ((rc = r_get(r, b, sizeof b, "the header", err)) == PLUMB_OK &&
        (rc = check_magic(path, b, err)) == PLUMB_OK)
        *n_tokens = get_u32(b + 112);
    close(fd);
    free(r);
    return rc;
}

/* A field of the file against the session's: the message names both. */
static int differ_i(const char *path, const char *field, int64_t file, int64_t ours,
                    PlumbError *err)
{
    return plumb_err(err, PLUMB_EINVAL, "kv-load: %s: %s %lld, this session's is %lld", path,
                     field, (long long)file, (long long)ours);
}

static int check_rope(const char *path, const PlumbRope *f, const PlumbRope *o, PlumbError *err)
{
    static const struct { const char *name; size_t off; } fl[] = {
        { "RoPE frequency base", offsetof(PlumbRope, freq_base) },
        { "RoPE frequency scale", offsetof(PlumbRope, freq_scale) },
        { "YaRN extrapolation factor", offsetof(PlumbRope, ext_factor) },
        { "YaRN attention factor", offsetof(PlumbRope, attn_factor) },
        { "YaRN correction dimension 0", offsetof(PlumbRope, corr_dims) },
        { "YaRN correction dimension 1", offsetof(PlumbRope, corr_dims) + sizeof(float) },
    };
    if (f->n_dims != o->n_dims)
        return differ_i(path, "RoPE dimensions", f->n_dims, o->n_dims, err);
    if (f->n_ctx_orig != o->n_ctx_orig)
        return differ_i(path, "RoPE original context", f->n_ctx_orig, o->n_ctx_orig, err);
    for (size_t i = 0; i < sizeof fl / sizeof fl[0]; i++) {
        float a, b;
        memcpy(&a, (const char *)f + fl[i].off, sizeof a);
        memcpy(&b, (const char *)o + fl[i].off, sizeof b);
        if (f32_bits(a) != f32_bits(b))
            return plumb_err(err, PLUMB_EINVAL, "kv-load: %s: %s %.9g differs from this session's %.9g",
                             path, fl[i].name, (double)a, (double)b);
    }
    return PLUMB_OK;
}

static int check_type(const char *path, const char *what, uint32_t file, uint32_t ours,
                      PlumbError *err)
{
    const char *fn = kv_type_name(file), *on = kv_type_name(ours);
    if (file == ours)
        return PLUMB_OK;
    if (!fn)
        return plumb_err(err, PLUMB_EFORMAT, "kv-load: %s: %s type %u is not a cache type", path,
                         what, (unsigned)file);
    return plumb_err(err, PLUMB_EINVAL, "kv-load: %s: %s type %s, this session uses %s", path, what,
                     fn, on ? on : "?");
}

/* Everything the rows depend on, in the order a user can act on it: the
 * model first, then the options of the session. */
static int check_header(PlumbSession *s, const char *path, const Header *f, PlumbError *err)
{
    const PlumbKVCache *kv = plumb_session_kv(s);
    const PlumbModel *m = plumb_session_model(s);
    unsigned char fp[PLUMB_SHA256_BYTES];
    int rc;

    if (f->p.n_layer != kv->p.n_layer)
        return differ_i(path, "made with another model: layers", f->p.n_layer, kv->p.n_layer, err);
    if (f->p.n_head_kv != kv->p.n_head_kv)
        return differ_i(path, "made with another model: key/value heads", f->p.n_head_kv,
                        kv->p.n_head_kv, err);
    if (f->p.head_dim != kv->p.head_dim)
        return differ_i(path, "made with another model: head size", f->p.head_dim,
                        kv->p.head_dim, err);
    if ((rc = check_rope(path, &f->rope, &m->rope, err)) < 0)
        return rc;
    plumb_model_fingerprint(m, fp);
    if (memcmp(fp, f->fingerprint, sizeof fp) != 0)
        return plumb_err(err, PLUMB_EINVAL,
                         "kv-load: %s: made with another model (fingerprint differs from %s's)",
                         path, m->info.path);
    if ((rc = check_type(path, "key", f->p.type_k, kv->p.type_k, err)) < 0 ||
        (rc = check_type(path, "value", f->p.type_v, kv->p.type_v, err)) < 0)
        return rc;
    if ((f->p.rotate != 0) != (kv->p.rotate != 0) || (unsigned)f->p.rotate > 1)
        return plumb_err(err, PLUMB_EINVAL,
                         "kv-load: %s: key rotation %s, this session uses %s", path,
                         f->p.rotate == 1 ? "hadamard" : f->p.rotate ? "unknown" : "none",
                         kv->p.rotate ? "hadamard" : "none");
    if (f->p.window != kv->p.window)
        return differ_i(path, "window", f->p.window, kv->p.window, err);
    if (f->p.keep != kv->p.keep)
        return differ_i(path, "sinks (keep)", f->p.keep, kv->p.keep, err);
    return PLUMB_OK;
}

/* Can the token at n attend to anything in page i (so it must be held)? */
static int page_required(const PlumbKVCache *kv, int32_t i, int64_t n)
{
    const int64_t lo = (int64_t)i * PLUMB_KV_PAGE, hi = lo + PLUMB_KV_PAGE;
    if (!kv->p.window)
        return 1;
    return lo < kv->p.keep || hi > n - kv->p.window + 1;
}

static int load_pages(Reader *r, PlumbKVCache *kv, uint32_t n_used, PlumbError *err)
{
    const int32_t n_held = pages_of(n_used);
    const uLong bound = compressBound((uLong)kv->page_bytes);
    unsigned char *cbuf = NULL, *held = NULL;
    uint32_t count = 0, n_file, crc_file;
    int64_t prev = -1;
    uLong crc;
    int rc = PLUMB_OK;

    if (!(cbuf = malloc(bound)) || !(held = calloc((size_t)n_held + 1, 1))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "kv-load: %s: out of memory for a page of %llu bytes",
                       r->path, (unsigned long long)kv->page_bytes);
        goto done;
    }
    for (;;) {
        unsigned char b[8];
        uint32_t idx, crc_rows;
        uint64_t clen;
        uLongf dlen = (uLongf)kv->page_bytes;
        uLong slen;
        unsigned char *rows;
        int zrc;
        if ((rc = r_u32(r, &idx, "a page index", err)) < 0)
            goto done;
        if (idx == PLUMB_KVFILE_END)
            break;
        if ((int64_t)idx <= prev) {
            rc = plumb_err(err, PLUMB_EFORMAT, "kv-load: %s: page %u after page %lld: out of order",
                           r->path, (unsigned)idx, (long long)prev);
            goto done;
        }
        if ((int64_t)idx >= n_held) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "kv-load: %s: page index %u, but %u positions fill only %d pages",
                           r->path, (unsigned)idx, (unsigned)n_used, (int)n_held);
            goto done;
        }
        prev = idx;
        if ((rc = r_get(r, b, 8, "a page's compressed length", err)) < 0)
            goto done;
        clen = get_u64(b);
        if (clen == 0 || clen > bound) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "kv-load: %s: page %u: compressed length %llu is not in [1, %lu] "
                           "(a page holds %llu bytes)",
                           r->path, (unsigned)idx, (unsigned long long)clen, (unsigned long)bound,
                           (unsigned long long)kv->page_bytes);
            goto done;
        }
        if ((rc = r_get(r, cbuf, clen, "a page's data", err)) < 0)
            goto done;
        if (!(rows = plumb_kv_page_fill(kv, (int32_t)idx, err))) {
            rc = err ? err->code : PLUMB_ENOMEM;
            plumb_err_prefix(err, "kv-load");
            goto done;
        }
        slen = (uLong)clen;
        zrc = uncompress2(rows, &dlen, cbuf, &slen);
        if (zrc == Z_MEM_ERROR) {
            rc = plumb_err(err, PLUMB_ENOMEM, "kv-load: %s: page %u: out of memory in zlib",
                           r->path, (unsigned)idx);
            goto done;
        }
        if (zrc == Z_BUF_ERROR && dlen == (uLongf)kv->page_bytes) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "kv-load: %s: page %u: data decompresses to more than a page's %llu bytes",
                           r->path, (unsigned)idx, (unsigned long long)kv->page_bytes);
            goto done;
        }
        if (zrc != Z_OK) {
            rc = plumb_err(err, PLUMB_EFORMAT, "kv-load: %s: page %u: zlib: %s", r->path,
                           (unsigned)idx, zrc == Z_BUF_ERROR ? "the stream is cut short" : "corrupted data");
            goto done;
        }
        if (dlen != (uLongf)kv->page_bytes) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "kv-load: %s: page %u: data decompresses to %lu bytes, a page holds %llu",
                           r->path, (unsigned)idx, (unsigned long)dlen,
                           (unsigned long long)kv->page_bytes);
            goto done;
        }
        if (slen != (uLong)clen) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "kv-load: %s: page %u: %llu bytes after the end of its zlib stream",
                           r->path, (unsigned)idx, (unsigned long long)(clen - slen));
            goto done;
        }
        if ((rc = r_u32(r, &crc_rows, "a page's CRC-32", err)) < 0)
            goto done;
        if ((crc = crc32_z(0, rows, (size_t)kv->page_bytes)) != crc_rows) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "kv-load: %s: page %u: bad CRC-32 %08x of its rows, the file says %08x",
                           r->path, (unsigned)idx, (unsigned)crc, (unsigned)crc_rows);
            goto done;
        }
        held[idx] = 1;
        count++;
    }
    if ((rc = r_u32(r, &n_file, "the trailer's page count", err)) < 0)
        goto done;
    if (n_file != count) {
        rc = plumb_err(err, PLUMB_EFORMAT, "kv-load: %s: the trailer counts %u pages, the file holds %u",
                       r->path, (unsigned)n_file, (unsigned)count);
        goto done;
    }
    crc = r->crc;
    if ((rc = r_u32(r, &crc_file, "the trailer's CRC-32", err)) < 0)
        goto done;
    if (crc != crc_file) {
        rc = plumb_err(err, PLUMB_EFORMAT, "kv-load: %s: bad CRC-32 %08x of the file, the trailer says %08x",
                       r->path, (unsigned)crc, (unsigned)crc_file);
        goto done;
    }
    if ((rc = r_at_end(r, err)) < 0)
        goto done;
    for (int32_t i = 0; i < n_held; i++)
        if (!held[i] && page_required(kv, i, n_used)) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "kv-load: %s: page %d (positions %d to %d) is missing: the token at %u "
                           "attends to it",
                           r->path, (int)i, (int)i * PLUMB_KV_PAGE,
                           (int)i * PLUMB_KV_PAGE + PLUMB_KV_PAGE - 1, (unsigned)n_used);
            goto done;
        }
done:
    free(cbuf);
    free(held);
    return rc;
}

static int load(PlumbSession *s, const char *path, PlumbError *err)
{
    PlumbKVCache *kv = plumb_session_kv(s);
    const PlumbModel *m = plumb_session_model(s);
    Reader *r = NULL;
    Header h;
    unsigned char fixed[PLUMB_KVFILE_FIXED];
    int32_t *tokens = NULL;
    uint32_t crc_hdr;
    uLong crc;
    int fd, rc, fits;

    if ((fd = open_file(path, err)) < 0)
        return fd;
    if (!(r = calloc(1, sizeof *r))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "kv-load: %s: out of memory", path);
        goto done;
    }
    r->fd = fd;
    r->path = path;
    r->crc = crc32_z(0, Z_NULL, 0);
    if ((rc = r_get(r, fixed, sizeof fixed, "the header", err)) < 0 ||
        (rc = check_magic(path, fixed, err)) < 0)
        goto done;
    decode_header(fixed, &h);
    /* The tokens are read through the CRC even when they do not fit, so that
     * a damaged count is told apart from a file made for a longer context. */
    fits = h.n_used <= (uint32_t)plumb_kv_n_ctx(kv);
    if (fits && h.n_used && !(tokens = malloc((size_t)h.n_used * sizeof *tokens))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "kv-load: %s: out of memory for %u tokens", path,
                       (unsigned)h.n_used);
        goto done;
    }
    for (uint32_t i = 0; i < h.n_used; i++) {
        uint32_t id;
        if ((rc = r_u32(r, &id, "the token ids", err)) < 0)
            goto done;
        if (tokens)
            tokens[i] = (int32_t)id;
    }
    crc = r->crc;
    if ((rc = r_u32(r, &crc_hdr, "the header's CRC-32", err)) < 0)
        goto done;
    if (crc != crc_hdr) {
        rc = plumb_err(err, PLUMB_EFORMAT,
                       "kv-load: %s: bad CRC-32 %08x of the header, the file says %08x", path,
                       (unsigned)crc, (unsigned)crc_hdr);
        goto done;
    }
    if ((rc = check_header(s, path, &h, err)) < 0)
        goto done;
    if (!fits) {
        rc = plumb_err(err, PLUMB_ERANGE,
                       "kv-load: %s: holds %u positions, more than this session's context of %d",
                       path, (unsigned)h.n_used, (int)plumb_kv_n_ctx(kv));
        goto done;
    }
    for (uint32_t i = 0; i < h.n_used; i++)
        if (tokens[i] < 0 || tokens[i] >= m->info.n_vocab) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "kv-load: %s: token id %ld at position %u is out of range [0, %d)", path,
                           (long)tokens[i], (unsigned)i, (int)m->info.n_vocab);
            goto done;
        }
    if ((rc = load_pages(r, kv, h.n_used, err)) < 0)
        goto done;
    kv->n_used = (int32_t)h.n_used;
    {
        static const int32_t none[1] = { 0 }; /* never a NULL source for memcpy */
        plumb_session_set_held(s, tokens ? tokens : none, h.n_used);
    }
done:
    close(fd);
    free(r);
    free(tokens);
    return rc;
}

int plumb_session_load(PlumbSession *s, const char *path, PlumbError *err)
{
    int rc;
    plumb_err_clear(err);
    if (!s || !path)
        return plumb_err(err, PLUMB_EINVAL, "plumb_session_load: NULL argument");
    plumb_session_reset(s);
    rc = load(s, path, err);
    if (rc < 0)
        plumb_session_reset(s);
    return rc;
}
