/*
 * fuzz_gguf.c — libFuzzer target for the GGUF loader.
 *
 * The input is written to a memory file and opened by path, as a model
 * file is: plumb_gguf_open(), then every metadata value is read back through
 * the typed getters and every tensor is looked up by name and its first and
 * last data bytes read; then the tokenizer and the whole model are opened
 * from the same bytes.  Rejecting the input is fine; crashing, reading out
 * of bounds, leaking, or contradicting the parser's own tables is not.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gguf.h"
#include "plumb.h"
#include "tokenizer.h"

#define FUZZ_CHECK(cond, what)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_gguf: %s\n", what);                                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static int memfile = -1;
static char memfile_path[64];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    memfile = memfd_create("fuzz_gguf", MFD_CLOEXEC);
    if (memfile < 0) {
        perror("fuzz_gguf: memfd_create");
        exit(1);
    }
    snprintf(memfile_path, sizeof memfile_path, "/proc/self/fd/%d", memfile);
    return 0;
}

static void walk_metadata(const PlumbGGUF *g)
{
    uint64_t i, j;
    for (i = 0; i < g->n_kv; i++) {
        const PlumbGGUFKV *kv = &g->kv[i];
        const PlumbGGUFValue *arr;
        const char *s;
        uint32_t u;
        float f;
        int b;

        FUZZ_CHECK(plumb_gguf_find(g, kv->key) == kv, "a key does not find its own entry");
        FUZZ_CHECK(kv->val.type < PLUMB_GGUF_NTYPES, "value type out of range");
        FUZZ_CHECK(plumb_gguf_type_name(kv->val.type) != NULL, "type without a name");
        /* The getters must refuse or convert, whatever the stored type. */
        (void)plumb_gguf_get_u32(g, kv->key, &u, NULL);
        (void)plumb_gguf_get_f32(g, kv->key, &f, NULL);
        (void)plumb_gguf_get_bool(g, kv->key, &b, NULL);
        if (plumb_gguf_get_str(g, kv->key, &s, NULL) == PLUMB_OK)
            FUZZ_CHECK(strlen(s) <= kv->val.v.str.len, "string longer than its length");
        if (kv->val.type != PLUMB_GGUF_ARRAY)
            continue;
        if (plumb_gguf_get_arr(g, kv->key, kv->val.v.arr.type, &arr, NULL) != PLUMB_OK)
            continue;
        if (arr->v.arr.type == PLUMB_GGUF_STRING) {
            for (j = 0; j < arr->v.arr.n; j++) {
                uint64_t len = 0;
                const char *p = plumb_gguf_arr_str(arr, j, &len);
                FUZZ_CHECK(p != NULL, "string array element without data");
                FUZZ_CHECK(p >= (const char *)g->map && len <= g->size &&
                               (uint64_t)(p - (const char *)g->map) <= g->size - len,
                           "string array element outside the file");
                if (len)
                    (void)*(volatile const char *)(p + len - 1);
            }
        } else if (arr->v.arr.n) {
            FUZZ_CHECK(arr->v.arr.data >= g->map && arr->v.arr.data < g->map + g->size,
                       "array data outside the file");
        }
    }
}

static void walk_tensors(const PlumbGGUF *g)
{
    uint64_t i;
    for (i = 0; i < g->n_tensors; i++) {
        const PlumbGGUFTensor *t = &g->tensors[i];
        const uint8_t *d = t->data;
        FUZZ_CHECK(plumb_gguf_tensor(g, t->name) == t, "a tensor does not find its own entry");
        FUZZ_CHECK(t->n_dims >= 1 && t->n_dims <= PLUMB_GGUF_MAX_DIMS, "tensor rank out of range");
        if (!t->nbytes)
            continue;
        FUZZ_CHECK(d >= g->map && t->nbytes <= g->size && (uint64_t)(d - g->map) <= g->size - t->nbytes,
                   "tensor data outside the file");
        (void)*(volatile const uint8_t *)d;
        (void)*(volatile const uint8_t *)(d + t->nbytes - 1);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PlumbGGUF *g = NULL;
    PlumbTokenizer *tok = NULL;
    PlumbModel *m = NULL;
    PlumbModelParams mp = { .cpu = "c", .n_threads = 1 };
    PlumbError err;
    size_t off = 0;

    if (ftruncate(memfile, 0) < 0 || lseek(memfile, 0, SEEK_SET) < 0)
        abort();
    while (off < size) {
        ssize_t w = write(memfile, data + off, size - off);
        if (w <= 0)
            abort();
        off += (size_t)w;
    }

    if (plumb_gguf_open(&g, memfile_path, &err) != PLUMB_OK) {
        FUZZ_CHECK(g == NULL && err.code < 0 && err.msg[0], "a refusal without a message");
        return 0;
    }
    FUZZ_CHECK(g->size == size, "mapped size differs from the file's");
    walk_metadata(g);
    walk_tensors(g);
    if (plumb_tok_open(&tok, g, &err) == PLUMB_OK) {
        static const char text[] = "Hello, world! <|im_start|>user\n\xc3\xa9t\xc3\xa9 123\n";
        int32_t *ids = NULL;
        size_t n = 0, i;
        if (plumb_tok_encode(tok, text, sizeof text - 1, PLUMB_TOK_SPECIAL, &ids, &n, &err) == PLUMB_OK)
            for (i = 0; i < n; i++)
                FUZZ_CHECK(ids[i] >= 0 && ids[i] < plumb_tok_n_vocab(tok), "id out of range");
        free(ids);
        plumb_tok_close(tok);
    }
    plumb_gguf_close(g);

    if (plumb_model_open(&m, memfile_path, &mp, &err) == PLUMB_OK) {
        const PlumbModelInfo *in = plumb_model_info(m);
        FUZZ_CHECK(in->n_vocab > 0 && in->n_layer > 0, "an opened model without vocab or layers");
        plumb_model_close(m);
    }
    return 0;
}
