/* repack.c — Q4_0 <-> Q4_0_R8 file conversion (see repack.h). */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dsp.h"
#include "err.h"
#include "gguf.h"
#include "gguf_write.h"
#include "model.h"
#include "qtypes.h"
#include "quant_ref.h"
#include "repack.h"

#define COPY_PIECE ((uint64_t)64 << 20) /* bytes of an unconverted tensor per write */

/* The type tensor t gets in the output. */
static uint32_t out_type(const PlumbGGUFTensor *t, int unpack)
{
    const PlumbRepackOps *ops = plumb_repack_ops(t->type);
    if (!ops)
        return t->type;
    if (unpack)
        return t->type == ops->to ? ops->from : t->type;
    if (t->type == ops->from && t->n_dims >= 2 && t->ne[1] % PLUMB_R8 == 0 &&
        strcmp(t->name, "token_embd.weight") != 0)
        return ops->to;
    return t->type;
}

uint64_t plumb_repack_gain(const PlumbModel *m, uint64_t *bytes)
{
    PlumbDsp ref;
    uint64_t n = 0, b = 0;
    plumb_dsp_init_c(&ref);
    for (uint64_t i = 0; i < m->gguf->n_tensors; i++) {
        const PlumbGGUFTensor *t = &m->gguf->tensors[i];
        const uint32_t to = out_type(t, 0);
        if (to == t->type || to >= PLUMB_QTYPE_COUNT || !m->dsp.gemm[to] || m->dsp.gemm[to] == ref.gemm[to])
            continue;
        n++;
        b += t->nbytes;
    }
    if (bytes)
        *bytes = b;
    return n;
}

typedef struct Job {
    PlumbGGUFWriter *gw;
    uint8_t *buf;                       /* one group of eight rows */
    uint64_t done, total;
    PlumbRepackProgress progress;
    void *progress_arg;
    const volatile sig_atomic_t *stop;
} Job;

static int stopped(const Job *j, PlumbError *err)
{
    if (j->stop && *j->stop)
        return plumb_err(err, PLUMB_EIO, "interrupted");
    if (j->progress)
        j->progress(j->progress_arg, j->done, j->total);
    return PLUMB_OK;
}

static int write_tensor(Job *j, const PlumbGGUFTensor *t, uint32_t to, PlumbError *err)
{
    const uint8_t *src = t->data;
    int rc;
    if (to == t->type) {
        for (uint64_t off = 0; off < t->nbytes; off += COPY_PIECE) {
            const uint64_t n = t->nbytes - off < COPY_PIECE ? t->nbytes - off : COPY_PIECE;
            if ((rc = stopped(j, err)) || (rc = plumb_gguf_writer_write(j->gw, src + off, (size_t)n, err)))
                return rc;
            j->done += n;
        }
        return PLUMB_OK;
    }
    const PlumbRepackOps *ops = plumb_repack_ops(t->type);
    const uint64_t rs_in = plumb_qtype_row_size(t->type, t->ne[0]);
    const uint64_t rs_out = plumb_qtype_row_size(to, t->ne[0]);
    const uint64_t groups = t->nbytes / (rs_in * PLUMB_R8);
    for (uint64_t g = 0; g < groups; g++) {
        const uint8_t *in = src + g * rs_in * PLUMB_R8;
        if ((g & 4095) == 0 && (rc = stopped(j, err)))
            return rc;
        if (to == ops->to)
            ops->repack(in, rs_in, j->buf, (int64_t)t->ne[0]);
        else
            ops->unpack(in, j->buf, rs_out, (int64_t)t->ne[0]);
        if ((rc = plumb_gguf_writer_write(j->gw, j->buf, (size_t)(rs_out * PLUMB_R8), err)))
            return rc;
        j->done += rs_in * PLUMB_R8;
    }
    return PLUMB_OK;
}

int plumb_repack_file(const char *in, const char *out, unsigned flags,
                      PlumbRepackProgress progress, void *progress_arg,
                      const volatile sig_atomic_t *stop, PlumbRepackStats *stats,
                      PlumbError *err)
{
    const int unpack = (flags & PLUMB_REPACK_UNPACK) != 0;
    PlumbGGUF *g = NULL;
    Job j;
    uint64_t max_group = 0, changed = 0;
    int rc;

    memset(&j, 0, sizeof j);
    j.progress = progress;
    j.progress_arg = progress_arg;
    j.stop = stop;
    if ((rc = plumb_gguf_open(&g, in, err)))
        return rc;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        const PlumbGGUFTensor *t = &g->tensors[i];
        j.total += t->nbytes;
        if (out_type(t, unpack) != t->type) {
            const uint64_t group = plumb_qtype_row_size(out_type(t, unpack), t->ne[0]) * PLUMB_R8;
            changed++;
            if (group > max_group)
                max_group = group;
        }
    }
    if (changed == 0) {
        rc = plumb_err(err, PLUMB_EINVAL, "%s: nothing to %s: no %s", in,
                       unpack ? "unpack" : "repack",
                       unpack ? "interleaved (_R8) tensor"
                              : "Q4_0, Q4_K or Q6_K matrix with rows in multiples of 8");
        goto done;
    }
    if (!(j.buf = malloc((size_t)max_group))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto done;
    }
    /* the output is about the input's size: refuse early rather than fail
     * after writing most of it */
    if ((rc = plumb_gguf_writer_open_file(&j.gw, out,
                                          flags & (PLUMB_GGUF_WRITE_FORCE | PLUMB_GGUF_WRITE_FOLLOW),
                                          in, g->size, err)))
        goto done;
    for (uint64_t i = 0; i < g->n_kv && rc == PLUMB_OK; i++)
        rc = plumb_gguf_writer_kv_value(j.gw, g->kv[i].key, &g->kv[i].val, err);
    for (uint64_t i = 0; i < g->n_tensors && rc == PLUMB_OK; i++) {
        const PlumbGGUFTensor *t = &g->tensors[i];
        rc = plumb_gguf_writer_add_tensor(j.gw, t->name, out_type(t, unpack), t->n_dims, t->ne,
                                          err);
    }
    for (uint64_t i = 0; i < g->n_tensors && rc == PLUMB_OK; i++)
        rc = write_tensor(&j, &g->tensors[i], out_type(&g->tensors[i], unpack), err);
    if (rc == PLUMB_OK)
        rc = plumb_gguf_writer_finish(j.gw, err);
    if (rc == PLUMB_OK && stats) {
        stats->n_tensors = g->n_tensors;
        stats->n_changed = changed;
        stats->bytes = j.total;
    }
done:
    plumb_gguf_writer_close(j.gw);
    plumb_gguf_close(g);
    free(j.buf);
    return rc;
}
