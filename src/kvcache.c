/* kvcache.c — the key/value cache of one sequence (see kvcache.h). */
#include "config.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "kvcache.h"
#include "model.h"
#include "qtypes.h"

struct PlumbKVPage {
    int refs;           /* caches holding the page (atomic) */
    PlumbKVPage *next;  /* free list link */
    _Alignas(64) unsigned char rows[]; /* page_bytes */
};

static int kv_type_ok(uint32_t t)
{
    return t == PLUMB_QTYPE_F32 || t == PLUMB_QTYPE_F16 || t == PLUMB_QTYPE_Q8_0 ||
           t == PLUMB_QTYPE_Q4_0;
}

static uint64_t row_bytes(uint32_t t, int32_t hd)
{
    const PlumbQTraits *tr = plumb_qtype_traits(t);
    return (uint64_t)hd / (uint64_t)tr->blck * tr->size;
}

int plumb_kv_init(PlumbKVCache *kv, const PlumbKVParams *p, PlumbError *err)
{
    uint64_t bytes;
    memset(kv, 0, sizeof *kv);
    if (p->n_layer <= 0 || p->n_head_kv <= 0 || p->head_dim <= 0 || p->n_ctx <= 0)
        return plumb_err(err, PLUMB_EINVAL, "kv cache: bad shape: %d layers, %d heads of %d, %d positions",
                         (int)p->n_layer, (int)p->n_head_kv, (int)p->head_dim, (int)p->n_ctx);
    if (!kv_type_ok(p->type_k) || !kv_type_ok(p->type_v))
        return plumb_err(err, PLUMB_EINVAL, "kv cache: type %s is not supported (f32, f16, q8_0 or q4_0)",
                         plumb_qtype_name(kv_type_ok(p->type_k) ? p->type_v : p->type_k));
    if (p->head_dim > PLUMB_ATTN_MAX_HD)
        return plumb_err(err, PLUMB_EINVAL, "kv cache: head size %d is over the limit of %d",
                         (int)p->head_dim, PLUMB_ATTN_MAX_HD);
    if ((plumb_qtype_traits(p->type_k)->blck > 1 || plumb_qtype_traits(p->type_v)->blck > 1) &&
        p->head_dim % PLUMB_QK != 0)
        return plumb_err(err, PLUMB_EINVAL,
                         "kv cache: head size %d is not a multiple of %d, which %s and %s need",
                         (int)p->head_dim, PLUMB_QK, "q8_0", "q4_0");
    if (p->rotate && (p->head_dim & (p->head_dim - 1)) != 0)
        return plumb_err(err, PLUMB_EINVAL,
                         "kv cache: head size %d is not a power of two: keys cannot be rotated",
                         (int)p->head_dim);
    if (p->window < 0 || (p->window > 0 && p->keep < 1) || p->keep < 0)
        return plumb_err(err, PLUMB_EINVAL, "kv cache: bad window %d with %d sinks", (int)p->window,
                         (int)p->keep);
    kv->p = *p;
    if (!p->window)
        kv->p.keep = 0;
    kv->k_row = row_bytes(p->type_k, p->head_dim);
    kv->v_row = row_bytes(p->type_v, p->head_dim);
    if (plumb_mul_overflow((uint64_t)p->n_layer * (uint64_t)p->n_head_kv * PLUMB_KV_PAGE,
                           kv->k_row + kv->v_row, &bytes) ||
        bytes > (uint64_t)SIZE_MAX / 4)
        return plumb_err(err, PLUMB_ENOMEM, "kv cache: a page of %d positions does not fit in memory",
                         PLUMB_KV_PAGE);
    kv->page_bytes = bytes;
    kv->n_pages = (int32_t)(((int64_t)p->n_ctx + PLUMB_KV_PAGE - 1) / PLUMB_KV_PAGE);
    kv->pages = calloc((size_t)kv->n_pages, sizeof *kv->pages);
    if (!kv->pages) {
        memset(kv, 0, sizeof *kv);
        return plumb_err(err, PLUMB_ENOMEM, "kv cache: out of memory for %d pages", (int)kv->n_pages);
    }
    return PLUMB_OK;
}

/* Give up this cache's hold on page i. */
static void page_release(PlumbKVCache *kv, int32_t i)
{
    PlumbKVPage *pg = kv->pages[i];
    if (!pg)
        return;
    kv->pages[i] = NULL;
    kv->n_live--;
    if (__atomic_sub_fetch(&pg->refs, 1, __ATOMIC_ACQ_REL) == 0) {
        pg->next = kv->free_list;
        kv->free_list = pg;
        kv->n_free++;
    }
}

static PlumbKVPage *page_new(PlumbKVCache *kv)
{
    PlumbKVPage *pg = kv->free_list;
    if (pg) {
        kv->free_list = pg->next;
        kv->n_free--;
    } else {
        const size_t sz = (offsetof(PlumbKVPage, rows) + kv->page_bytes + 63) / 64 * 64;
        pg = aligned_alloc(64, sz);
        if (!pg)
            return NULL;
    }
    pg->refs = 1;
    pg->next = NULL;
    return pg;
}

void plumb_kv_free(PlumbKVCache *kv)
{
    if (!kv)
        return;
    if (kv->pages)
        for (int32_t i = 0; i < kv->n_pages; i++)
            page_release(kv, i);
    while (kv->free_list) {
        PlumbKVPage *pg = kv->free_list;
        kv->free_list = pg->next;
        free(pg);
    }
    free(kv->pages);
    memset(kv, 0, sizeof *kv);
}

void plumb_kv_clear(PlumbKVCache *kv)
{
    for (int32_t i = 0; i < kv->n_pages; i++)
        page_release(kv, i);
    kv->n_used = 0;
}

/* With a window: can any token at position >= from attend to page i? */
static int page_needed(const PlumbKVCache *kv, int32_t i, int32_t from)
{
    const int64_t lo = (int64_t)i * PLUMB_KV_PAGE, hi = lo + PLUMB_KV_PAGE; /* [lo, hi) */
    if (!kv->p.window || lo < kv->p.keep)
        return 1;
    return hi - 1 >= (int64_t)from - kv->p.window + 1;
}

int plumb_kv_reserve(PlumbKVCache *kv, size_t n, PlumbError *err)
{
    int32_t first, last;
    if (n > (size_t)(kv->p.n_ctx - kv->n_used))
        return plumb_err(err, PLUMB_ERANGE, "context full (%d tokens)", (int)kv->p.n_ctx);
    if (n == 0)
        return PLUMB_OK;
    /* what the token at n_used - 1 attends to stays too, so the last
     * position can always be evaluated again */
    if (kv->p.window && kv->n_used > 0)
        for (int32_t i = 0; i < kv->n_pages && (int64_t)i * PLUMB_KV_PAGE < kv->n_used; i++)
            if (kv->pages[i] && !page_needed(kv, i, kv->n_used - 1))
                page_release(kv, i);
    first = kv->n_used / PLUMB_KV_PAGE;
    last = (int32_t)(((int64_t)kv->n_used + (int64_t)n - 1) / PLUMB_KV_PAGE);
    for (int32_t i = first; i <= last; i++) {
        PlumbKVPage *pg = kv->pages[i];
        if (pg && __atomic_load_n(&pg->refs, __ATOMIC_ACQUIRE) == 1)
            continue;
        {
            PlumbKVPage *fresh = page_new(kv);
            if (!fresh)
                return plumb_err(err, PLUMB_ENOMEM,
                                 "kv cache: out of memory for a page of %llu MiB (%d positions held)",
                                 (unsigned long long)(kv->page_bytes >> 20), (int)kv->n_used);
            if (pg) { /* shared with a fork: copy before writing */
                memcpy(fresh->rows, pg->rows, kv->page_bytes);
                page_release(kv, i);
            }
            kv->pages[i] = fresh;
            kv->n_live++;
        }
    }
    return PLUMB_OK;
}

static inline size_t k_off(const PlumbKVCache *kv, int32_t layer, int32_t g, int32_t r)
{
    const uint64_t layer_bytes = (uint64_t)kv->p.n_head_kv * PLUMB_KV_PAGE * (kv->k_row + kv->v_row);
    return (size_t)((uint64_t)layer * layer_bytes + ((uint64_t)g * PLUMB_KV_PAGE + (uint64_t)r) * kv->k_row);
}

static inline size_t v_off(const PlumbKVCache *kv, int32_t layer, int32_t g, int32_t r)
{
    const uint64_t layer_bytes = (uint64_t)kv->p.n_head_kv * PLUMB_KV_PAGE * (kv->k_row + kv->v_row);
    return (size_t)((uint64_t)layer * layer_bytes + (uint64_t)kv->p.n_head_kv * PLUMB_KV_PAGE * kv->k_row +
                    ((uint64_t)g * PLUMB_KV_PAGE + (uint64_t)r) * kv->v_row);
}

const void *plumb_kv_k(const PlumbKVCache *kv, int32_t layer, int32_t g, int32_t pos)
{
    return kv->pages[pos / PLUMB_KV_PAGE]->rows + k_off(kv, layer, g, pos % PLUMB_KV_PAGE);
}

const void *plumb_kv_v(const PlumbKVCache *kv, int32_t layer, int32_t g, int32_t pos)
{
    return kv->pages[pos / PLUMB_KV_PAGE]->rows + v_off(kv, layer, g, pos % PLUMB_KV_PAGE);
}

int plumb_kv_has(const PlumbKVCache *kv, int32_t pos)
{
    return pos >= 0 && pos < kv->p.n_ctx && kv->pages[pos / PLUMB_KV_PAGE] != NULL;
}

void plumb_kv_hadamard(float *x, int32_t n)
{
    for (int32_t h = 1; h < n; h *= 2)
        for (int32_t i = 0; i < n; i += 2 * h)
            for (int32_t j = i; j < i + h; j++) {
                const float a = x[j], b = x[j + h];
                x[j] = a + b;
                x[j + h] = a - b;
            }
    {
        const float s = 1.0f / sqrtf((float)n);
        for (int32_t i = 0; i < n; i++)
            x[i] *= s;
    }
}

void plumb_kv_store(PlumbKVCache *kv, const PlumbDsp *dsp, int32_t layer, int32_t pos, int32_t n,
                    const float *k, const float *v, int64_t stride, int32_t g0, int32_t g1)
{
    const int32_t hd = kv->p.head_dim;
    const PlumbFromFloatFn kconv = dsp->from_float[kv->p.type_k], vconv = dsp->from_float[kv->p.type_v];
    float tmp[PLUMB_ATTN_MAX_HD];
    for (int32_t t = 0; t < n; t++) {
        const int32_t p = pos + t;
        unsigned char *rows = kv->pages[p / PLUMB_KV_PAGE]->rows;
        for (int32_t g = g0; g < g1; g++) {
            const float *kr = k + (int64_t)t * stride + (int64_t)g * hd;
            const float *vr = v + (int64_t)t * stride + (int64_t)g * hd;
            if (kv->p.rotate) {
                memcpy(tmp, kr, (size_t)hd * sizeof(float));
                plumb_kv_hadamard(tmp, hd);
                kr = tmp;
            }
            kconv(kr, rows + k_off(kv, layer, g, p % PLUMB_KV_PAGE), hd);
            vconv(vr, rows + v_off(kv, layer, g, p % PLUMB_KV_PAGE), hd);
        }
    }
}

void plumb_kv_commit(PlumbKVCache *kv, int32_t n)
{
    kv->n_used += n;
}

int32_t plumb_kv_min_truncate(const PlumbKVCache *kv)
{
    /* The token at n attends to the sinks and to [n - window + 1, n): the
     * dropped pages (never sinks) must all lie before n - window + 1. */
    int64_t end = 0, n;
    for (int32_t i = 0; (int64_t)i * PLUMB_KV_PAGE < kv->n_used; i++)
        if (!kv->pages[i])
            end = (int64_t)(i + 1) * PLUMB_KV_PAGE; /* past the last dropped position */
    if (end == 0)
        return 0;
    n = end + kv->p.window - 1;
    return n < kv->n_used ? (int32_t)n : kv->n_used;
}

int plumb_kv_truncate(PlumbKVCache *kv, int32_t n, PlumbError *err)
{
    if (n < 0 || n > kv->n_used)
        return plumb_err(err, PLUMB_ERANGE, "cannot keep %d positions: the cache holds %d", (int)n,
                         (int)kv->n_used);
    if (n > 0 && n < kv->n_used && kv->p.window && n < plumb_kv_min_truncate(kv))
        return plumb_err(err, PLUMB_ERANGE,
                         "cannot go back to position %d: the window has dropped what it would attend to",
                         (int)n);
    for (int32_t i = (int32_t)(((int64_t)n + PLUMB_KV_PAGE - 1) / PLUMB_KV_PAGE); i < kv->n_pages; i++)
        page_release(kv, i);
    kv->n_used = n;
    return PLUMB_OK;
}

int plumb_kv_fork(const PlumbKVCache *src, PlumbKVCache *dst, PlumbError *err)
{
    int rc = plumb_kv_init(dst, &src->p, err);
    if (rc < 0)
        return rc;
    for (int32_t i = 0; i < src->n_pages; i++)
        if (src->pages[i]) {
            __atomic_add_fetch(&src->pages[i]->refs, 1, __ATOMIC_ACQ_REL);
            dst->pages[i] = src->pages[i];
            dst->n_live++;
        }
    dst->n_used = src->n_used;
    return PLUMB_OK;
}

const void *plumb_kv_page_rows(const PlumbKVCache *kv, int32_t i)
{
    return i >= 0 && i < kv->n_pages && kv->pages[i] ? kv->pages[i]->rows : NULL;
}

void *plumb_kv_page_fill(PlumbKVCache *kv, int32_t i, PlumbError *err)
{
    PlumbKVPage *pg;
    if (i < 0 || i >= kv->n_pages) {
        plumb_err(err, PLUMB_ERANGE, "kv cache: page %d is out of range", (int)i);
        return NULL;
    }
    page_release(kv, i);
    if (!(pg = page_new(kv))) {
        plumb_err(err, PLUMB_ENOMEM, "kv cache: out of memory for a page of %llu MiB",
                  (unsigned long long)(kv->page_bytes >> 20));
        return NULL;
    }
    kv->pages[i] = pg;
    kv->n_live++;
    return pg->rows;
}

uint64_t plumb_kv_bytes(const PlumbKVCache *kv)
{
    return (uint64_t)kv->n_live * kv->page_bytes;
}
