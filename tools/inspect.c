/*
 * inspect.c — `plumb inspect`: print a GGUF file's header, the architecture's
 * hyperparameters, a tokenizer summary, the other metadata and the tensor
 * table with totals.  Only what plumb_gguf_open() parses is read; tensor
 * data is never touched.  Long arrays and strings are summarised unless
 * --all-values is given.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gguf.h"
#include "qtypes.h"

#define SHOW_ELEMS 5    /* array elements shown without --all-values */
#define SHOW_STR 64     /* bytes of a string value shown without --all-values */
#define SHOW_ELEM_STR 32 /* bytes of a string array element shown */

/* ------------------------------------------------------------------ values */

/* Bytes of a fixed-size element type; 0 for string and array. */
static unsigned elem_size(uint32_t t)
{
    switch (t) {
    case PLUMB_GGUF_UINT8: case PLUMB_GGUF_INT8: case PLUMB_GGUF_BOOL: return 1;
    case PLUMB_GGUF_UINT16: case PLUMB_GGUF_INT16: return 2;
    case PLUMB_GGUF_UINT32: case PLUMB_GGUF_INT32: case PLUMB_GGUF_FLOAT32: return 4;
    case PLUMB_GGUF_UINT64: case PLUMB_GGUF_INT64: case PLUMB_GGUF_FLOAT64: return 8;
    default: return 0;
    }
}

static uint64_t le(const uint8_t *p, unsigned n)
{
    uint64_t v = 0;
    while (n--)
        v = (v << 8) | p[n];
    return v;
}

/* Shortest decimal that reads back as the same float (or double). */
static void print_float(double d, int is_f32)
{
    char buf[40];
    int prec;
    for (prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, d);
        if (is_f32 ? (float)strtod(buf, NULL) == (float)d : strtod(buf, NULL) == d)
            break;
    }
    fputs(buf, stdout);
}

/* A quoted string: control bytes, quotes and backslashes escaped; at most
 * max bytes (cut at a UTF-8 boundary) unless max is 0. */
static void print_str(const char *s, uint64_t len, uint64_t max)
{
    uint64_t n = len, i;
    if (max && len > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    putchar('"');
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\n': fputs("\\n", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '"': fputs("\\\"", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        default:
            if (c < 0x20 || c == 0x7f)
                printf("\\x%02x", c);
            else
                putchar(c);
        }
    }
    putchar('"');
    if (n < len)
        printf("... (%" PRIu64 " bytes)", len);
}

/* A name from the file, padded to width: control bytes become '?' so a
 * hostile file cannot send escape sequences to the terminal. */
static void print_name(const char *s, int width)
{
    int n = 0;
    for (; *s; s++, n++)
        putchar((unsigned char)*s < 0x20 || *s == 0x7f ? '?' : *s);
    for (; n < width; n++)
        putchar(' ');
}

/* Element i of a fixed-size array, printed. */
static void print_elem(uint32_t t, const uint8_t *p)
{
    uint64_t raw = le(p, elem_size(t));
    switch (t) {
    case PLUMB_GGUF_INT8: printf("%d", (int)(int8_t)raw); break;
    case PLUMB_GGUF_INT16: printf("%d", (int)(int16_t)raw); break;
    case PLUMB_GGUF_INT32: printf("%" PRId32, (int32_t)raw); break;
    case PLUMB_GGUF_INT64: printf("%" PRId64, (int64_t)raw); break;
    case PLUMB_GGUF_BOOL: fputs(raw ? "true" : "false", stdout); break;
    case PLUMB_GGUF_FLOAT32: {
        uint32_t u = (uint32_t)raw;
        float f;
        memcpy(&f, &u, sizeof f);
        print_float(f, 1);
        break;
    }
    case PLUMB_GGUF_FLOAT64: {
        double d;
        memcpy(&d, &raw, sizeof d);
        print_float(d, 0);
        break;
    }
    default: printf("%" PRIu64, raw); break;
    }
}

static void print_value(const PlumbGGUFValue *v, int all)
{
    uint64_t i, n;
    switch (v->type) {
    case PLUMB_GGUF_INT8: case PLUMB_GGUF_INT16: case PLUMB_GGUF_INT32: case PLUMB_GGUF_INT64:
        printf("%" PRId64, v->v.i64);
        break;
    case PLUMB_GGUF_FLOAT32: print_float(v->v.f64, 1); break;
    case PLUMB_GGUF_FLOAT64: print_float(v->v.f64, 0); break;
    case PLUMB_GGUF_BOOL: fputs(v->v.u64 ? "true" : "false", stdout); break;
    case PLUMB_GGUF_STRING: print_str(v->v.str.s, v->v.str.len, all ? 0 : SHOW_STR); break;
    case PLUMB_GGUF_ARRAY:
        n = v->v.arr.n;
        printf("[%s x %" PRIu64 "]", plumb_gguf_type_name(v->v.arr.type), n);
        for (i = 0; i < n && (all || i < SHOW_ELEMS); i++) {
            fputs(i ? ", " : " ", stdout);
            if (v->v.arr.type == PLUMB_GGUF_STRING) {
                uint64_t len;
                const char *s = plumb_gguf_arr_str(v, i, &len);
                print_str(s, len, all ? 0 : SHOW_ELEM_STR);
            } else {
                print_elem(v->v.arr.type, v->v.arr.data + i * elem_size(v->v.arr.type));
            }
        }
        if (i < n)
            fputs(", ...", stdout);
        break;
    default: printf("%" PRIu64, v->v.u64); break;
    }
}

static void print_kv(const PlumbGGUFKV *kv, int width, int all)
{
    const char *t = kv->val.type == PLUMB_GGUF_ARRAY ? "" : plumb_gguf_type_name(kv->val.type);
    fputs("  ", stdout);
    print_name(kv->key, width);
    printf("  %-7s ", t);
    print_value(&kv->val, all);
    putchar('\n');
}

/* ------------------------------------------------------------------ sections */

static void human(uint64_t b, char *buf, size_t cap)
{
    static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB" };
    double v = (double)b;
    int u = -1;
    while (v >= 1024 && u < 3) {
        v /= 1024;
        u++;
    }
    if (u < 0)
        snprintf(buf, cap, "%" PRIu64 " B", b);
    else
        snprintf(buf, cap, "%.2f %s", v, unit[u]);
}

static int is_arch_key(const char *key, const char *arch, size_t alen)
{
    return arch && strncmp(key, arch, alen) == 0 && key[alen] == '.';
}

static void print_token(const PlumbGGUF *g, const PlumbGGUFValue *tokens, const char *label,
                        const char *key)
{
    const PlumbGGUFKV *kv = plumb_gguf_find(g, key);
    uint32_t id;
    PlumbError err = { 0 };
    printf("  %-14s ", label);
    if (!kv) {
        puts("none");
        return;
    }
    if (plumb_gguf_get_u32(g, key, &id, &err) != PLUMB_OK) {
        printf("(%s)\n", err.msg);
        return;
    }
    printf("%" PRIu32, id);
    if (tokens && id < tokens->v.arr.n) {
        uint64_t len;
        const char *s = plumb_gguf_arr_str(tokens, id, &len);
        putchar(' ');
        print_str(s, len, SHOW_STR);
    } else if (tokens) {
        fputs(" (not in the vocabulary)", stdout);
    }
    putchar('\n');
}

static void print_tokenizer(const PlumbGGUF *g)
{
    const PlumbGGUFKV *model = plumb_gguf_find(g, "tokenizer.ggml.model");
    const PlumbGGUFKV *pre = plumb_gguf_find(g, "tokenizer.ggml.pre");
    const PlumbGGUFKV *tok = plumb_gguf_find(g, "tokenizer.ggml.tokens");
    const PlumbGGUFKV *merges = plumb_gguf_find(g, "tokenizer.ggml.merges");
    const PlumbGGUFKV *tmpl = plumb_gguf_find(g, "tokenizer.chat_template");
    const PlumbGGUFValue *tokens = NULL;

    if (!model && !pre && !tok && !merges && !tmpl) {
        puts("tokenizer: none\n");
        return;
    }
    puts("tokenizer:");
    printf("  %-14s ", "model:");
    if (model && model->val.type == PLUMB_GGUF_STRING) {
        print_name(model->val.v.str.s, 0);
        putchar('\n');
    } else {
        puts(model ? "(not a string)" : "none");
    }
    printf("  %-14s ", "pre:");
    if (pre && pre->val.type == PLUMB_GGUF_STRING) {
        print_name(pre->val.v.str.s, 0);
        putchar('\n');
    } else {
        puts(pre ? "(not a string)" : "none");
    }
    printf("  %-14s ", "vocab size:");
    if (tok && tok->val.type == PLUMB_GGUF_ARRAY && tok->val.v.arr.type == PLUMB_GGUF_STRING) {
        tokens = &tok->val;
        printf("%" PRIu64 "\n", tokens->v.arr.n);
    } else {
        puts(tok ? "(not an array of strings)" : "none");
    }
    printf("  %-14s ", "merges:");
    if (merges && merges->val.type == PLUMB_GGUF_ARRAY)
        printf("%" PRIu64 "\n", merges->val.v.arr.n);
    else
        puts(merges ? "(not an array)" : "none");
    print_token(g, tokens, "bos:", "tokenizer.ggml.bos_token_id");
    print_token(g, tokens, "eos:", "tokenizer.ggml.eos_token_id");
    print_token(g, tokens, "pad:", "tokenizer.ggml.padding_token_id");
    printf("  %-14s ", "chat template:");
    if (tmpl && tmpl->val.type == PLUMB_GGUF_STRING)
        printf("yes (%" PRIu64 " bytes)\n", tmpl->val.v.str.len);
    else
        puts(tmpl ? "(not a string)" : "no");
    putchar('\n');
}

static void print_shape(const PlumbGGUFTensor *t, char *buf, size_t cap)
{
    uint32_t j;
    size_t n = 0;
    buf[0] = '\0';
    for (j = 0; j < t->n_dims && n < cap; j++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRIu64, j ? " x " : "", t->ne[j]);
}

static void print_tensors(const PlumbGGUF *g)
{
    uint64_t count[PLUMB_QTYPE_COUNT] = { 0 }, bytes[PLUMB_QTYPE_COUNT] = { 0 }, total = 0, i;
    int width = 4;
    char h[32];
    for (i = 0; i < g->n_tensors; i++) {
        int len = (int)strlen(g->tensors[i].name);
        if (len > width)
            width = len < 48 ? len : 48;
    }
    printf("tensors: %" PRIu64 "\n", g->n_tensors);
    if (!g->n_tensors) {
        putchar('\n');
        return;
    }
    printf("  %6s  %-*s  %-8s  %-22s  %12s\n", "#", width, "name", "type", "shape", "bytes");
    for (i = 0; i < g->n_tensors; i++) {
        const PlumbGGUFTensor *t = &g->tensors[i];
        char shape[96];
        print_shape(t, shape, sizeof shape);
        printf("  %6" PRIu64 "  ", i);
        print_name(t->name, width);
        printf("  %-8s  %-22s  %12" PRIu64 "\n", plumb_qtype_name(t->type), shape, t->nbytes);
        if (t->type < PLUMB_QTYPE_COUNT) {
            count[t->type]++;
            bytes[t->type] += t->nbytes;
        }
        total += t->nbytes;
    }
    human(total, h, sizeof h);
    printf("\ntotal: %" PRIu64 " tensors, %" PRIu64 " bytes (%s)\n", g->n_tensors, total, h);
    for (i = 0; i < PLUMB_QTYPE_COUNT; i++)
        if (count[i]) {
            human(bytes[i], h, sizeof h);
            printf("  %-8s %6" PRIu64 " tensors  %12" PRIu64 " bytes (%s)\n",
                   plumb_qtype_name((uint32_t)i), count[i], bytes[i], h);
        }
}

static void print_file(const PlumbGGUF *g, int tensors, int all)
{
    const PlumbGGUFKV *a = plumb_gguf_find(g, "general.architecture");
    const char *arch = a && a->val.type == PLUMB_GGUF_STRING ? a->val.v.str.s : NULL;
    size_t alen = arch ? strlen(arch) : 0;
    uint64_t i, n_arch = 0, n_other = 0;
    int wa = 0, wo = 0;
    char h[32];

    for (i = 0; i < g->n_kv; i++) {
        int len = (int)strlen(g->kv[i].key);
        len = len < 48 ? len : 48;
        if (is_arch_key(g->kv[i].key, arch, alen)) {
            n_arch++;
            wa = len > wa ? len : wa;
        } else {
            n_other++;
            wo = len > wo ? len : wo;
        }
    }

    human(g->size, h, sizeof h);
    printf("file:         %s\n", g->path);
    printf("size:         %" PRIu64 " bytes (%s)\n", g->size, h);
    printf("version:      GGUF v%" PRIu32 "\n", g->version);
    printf("alignment:    %" PRIu64 "\n", g->alignment);
    printf("metadata:     %" PRIu64 " keys\n", g->n_kv);
    printf("tensors:      %" PRIu64 "\n", g->n_tensors);
    printf("data section: byte %" PRIu64 "\n\n", g->data_offset);

    if (arch) {
        fputs("architecture: ", stdout);
        print_name(arch, 0);
        printf(" (%" PRIu64 " keys)\n", n_arch);
        for (i = 0; i < g->n_kv; i++)
            if (is_arch_key(g->kv[i].key, arch, alen))
                print_kv(&g->kv[i], wa, all);
    } else {
        puts(a ? "architecture: (general.architecture is not a string)"
               : "architecture: none");
    }
    putchar('\n');

    print_tokenizer(g);

    printf("metadata: %" PRIu64 " keys\n", n_other);
    for (i = 0; i < g->n_kv; i++)
        if (!is_arch_key(g->kv[i].key, arch, alen))
            print_kv(&g->kv[i], wo, all);
    putchar('\n');

    if (tensors)
        print_tensors(g);
}

int cmd_inspect(int argc, char **argv)
{
    const char *args[1];
    int no_tensors = 0, all = 0, n_args = 0, rc;
    PlumbGGUF *g = NULL;
    PlumbError err = { 0 };
    const CliOpt opts[] = {
        { .names = "--no-tensors", .kind = CLI_FLAG, .dest = &no_tensors,
          .help = "do not print the tensor table and its totals" },
        { .names = "--all-values", .kind = CLI_FLAG, .dest = &all,
          .help = "print every element of arrays and strings in full" },
        { .names = "-h, --help", .kind = CLI_HELP, .help = "print this help and exit" },
        { .kind = CLI_END },
    };
    const CliCmd cmd = {
        .name = "inspect",
        .synopsis = "[--help] [--no-tensors] [--all-values] FILE",
        .about = "Print a GGUF file's header, the architecture and its hyperparameters, a "
                 "tokenizer summary, the other metadata and the tensor table with totals.  Only "
                 "the metadata is read; tensor data is never touched.",
        .opts = opts,
        .max_args = 1,
        .operand_hint = "one FILE only",
    };

    if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
        return rc < 0 ? 0 : rc;
    if (n_args == 0)
        return cli_usage_error(&cmd, "missing FILE");
    if (plumb_gguf_open(&g, args[0], &err) != PLUMB_OK)
        return cli_fail(&err);
    print_file(g, !no_tensors, all);
    plumb_gguf_close(g);
    return cli_check_stdout("inspect");
}
