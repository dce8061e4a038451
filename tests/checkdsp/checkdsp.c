/*
 * checkdsp — every kernel of the dispatch table (simd/dsp.h) against its C
 * reference, for each tier this CPU and build have, and a benchmark of them.
 *
 * For each tier (c, avx2, avxvnni, avx512, avx512vnni, neon, dotprod) the table is
 * filled with plumb_dsp_init(); every non-NULL entry that differs from the C
 * tier's is run on seeded random inputs and edge cases, with inputs and
 * outputs placed at several misalignments and outputs framed by canaries.
 * What a kernel must meet:
 *  - from_float: the same bytes as C;
 *  - to_float, rope_neox, axpy, scale, topk: the same bits / indices;
 *  - vec_dot, dot_f32: |got - C| <= DOT_EPS * S + DOT_ABS, where S is the
 *    sum of |w_i * a_i| over the dequantised operands, plus |offset_i * a_i|
 *    for the types whose dot may take a min or offset term apart (Q4_1,
 *    Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K; see quant_field);
 *  - gemm: each output within the vec_dot bound of C's dot product, the same
 *    bits whatever the tiling of rows and tokens, nothing written outside
 *    the rows asked for (a NULL gemm is allowed: the caller loops over
 *    vec_dot);
 *  - attn: acc / l and log(l) + m within ATTN_EPS of a double-precision
 *    evaluation on the same dequantised inputs, and the same bits with the
 *    buffers at other addresses (the C definition is held to this too);
 *  - rmsnorm, softmax, swiglu: within a few ULP (the *_ULPS constants),
 *    or within FLT_MIN for results in the subnormal range.
 * Quantised activations are produced by the C quantisers, so their values
 * lie in [-127, 127] as in the forward pass.  A kernel that crashes (SIGILL,
 * SIGSEGV, ...) is reported as failed and the run goes on.  Tiers the CPU or
 * the build lacks are reported as skipped.
 *
 * --bench times each kernel (ticks per call, the minimum over repeated
 * batches) at the model's sizes and prints the speed-up over C.
 *
 * On an x86 CPU without AVX-512 or AVX-VNNI, tests/checkdsp/emu512.sh builds
 * this program with those tiers' intrinsics emulated and runs them too.
 */
#include "config.h"

#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkdsp.h"
#include "cpu.h"
#include "dsp.h"
#include "qtypes.h"
#include "quant_ref.h"

#define DOT_EPS 1e-5      /* relative to the sum of |w*a| */
#define DOT_ABS 1e-37     /* absolute floor (subnormal-scale products) */
#define RMSNORM_ULPS 4
#define SOFTMAX_ULPS 8
#define SWIGLU_ULPS 8

/* ------------------------------------------------------------ state */


static PlumbDsp ref;            /* the C tier */
static const char *tier_name;   /* tier under test */
static uint64_t seed = 20240601;
static const char *kernel_filter;
static int failures, kernels_checked, cases_run;
static int kernel_failed;       /* failures printed for the current kernel */
static uint64_t case_no;        /* case number within the current kernel */
static uint64_t kernel_salt;    /* hash of the current kernel's name */

/* Report a failure of the current kernel (the first few per kernel). */
static void fail(const char *kernel, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *kernel, const char *fmt, ...)
{
    failures++;
    if (kernel_failed++ >= 5)
        return;
    va_list ap;
    printf("FAIL %s [%s] seed=%" PRIu64 ": ", kernel, tier_name, seed);
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
}

static int wanted(const char *kernel)
{
    return !kernel_filter || strstr(kernel, kernel_filter);
}

/* Start checking a kernel.  Its cases draw their inputs from the seed, the
 * kernel's name and the case's number within the kernel, so a failure
 * reproduces with --seed N --kernel NAME alone. */
static void begin_kernel(const char *kernel)
{
    kernels_checked++;
    kernel_failed = 0;
    case_no = 0;
    kernel_salt = 0xcbf29ce484222325ull; /* FNV-1a of the name */
    for (const char *c = kernel; *c; c++)
        kernel_salt = (kernel_salt ^ (uint8_t)*c) * 0x100000001b3ull;
}

static CdRng case_rng(void)
{
    CdRng r = { seed * 0x100000001b3ull + kernel_salt + ++case_no * 0x9e3779b97f4a7c15ull };
    return r;
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "checkdsp: out of memory\n");
        exit(1);
    }
    return p;
}

static void buf(CdBuf *b, size_t len, size_t off, int fill)
{
    if (cd_buf_init(b, len, off, fill) != 0) {
        fprintf(stderr, "checkdsp: out of memory\n");
        exit(1);
    }
}

static const char *signame(int sig)
{
    switch (sig) {
    case SIGILL: return "SIGILL";
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    default: return "signal";
    }
}

/* ------------------------------------------------------------ guarded calls */

typedef struct Call {
    int kind;
    union {
        PlumbToFloatFn tof;
        PlumbFromFloatFn fromf;
        PlumbVecDotFn dot;
        void (*rmsnorm)(float *, const float *, const float *, int64_t, float);
        void (*rope)(float *, const float *, const float *, int64_t);
        void (*softmax)(float *, int64_t);
        void (*swiglu)(float *, const float *, const float *, int64_t);
        float (*dotf)(const float *, const float *, int64_t);
        void (*axpy)(float *, float, const float *, int64_t);
        void (*scale)(float *, float, int64_t);
        void (*topk)(const float *, int64_t, int, int32_t *);
        PlumbGemmFn gemm;
        PlumbMixFn mix;
        PlumbAttnFn attn;
    } fn;
    const void *in0, *in1, *in2; /* inputs (attn: in0 is the PlumbAttnArgs) */
    void *out;                   /* output */
    int64_t n;
    float f;                     /* eps / a */
    int k;
    float result;                /* dot_f32 */
    uint64_t stride;             /* gemm: bytes between weight rows */
    int64_t r0, r1, nt;          /* gemm: rows and tokens; mix_f32: m = r1, k = nt */
    int64_t s0, s1, s2;          /* mix_f32: strides of out, p, v */
} Call;

enum { K_TOF, K_FROMF, K_DOT, K_RMS, K_ROPE, K_SOFTMAX, K_SWIGLU, K_DOTF, K_AXPY, K_SCALE, K_TOPK, K_GEMM, K_MIX,
       K_ATTN };

static void run_call(void *arg)
{
    Call *c = arg;
    switch (c->kind) {
    case K_TOF: c->fn.tof(c->in0, c->out, c->n); break;
    case K_FROMF: c->fn.fromf(c->in0, c->out, c->n); break;
    case K_DOT: c->fn.dot(c->n, c->out, c->in0, c->in1); break;
    case K_RMS: c->fn.rmsnorm(c->out, c->in0, c->in1, c->n, c->f); break;
    case K_ROPE: c->fn.rope(c->out, c->in0, c->in1, c->n); break;
    case K_SOFTMAX: c->fn.softmax(c->out, c->n); break;
    case K_SWIGLU: c->fn.swiglu(c->out, c->in0, c->in1, c->n); break;
    case K_DOTF: c->result = c->fn.dotf(c->in0, c->in1, c->n); break;
    case K_AXPY: c->fn.axpy(c->out, c->f, c->in0, c->n); break;
    case K_SCALE: c->fn.scale(c->out, c->f, c->n); break;
    case K_TOPK: c->fn.topk(c->in0, c->n, c->k, c->out); break;
    case K_GEMM: c->fn.gemm(c->n, c->in0, c->stride, c->r0, c->r1, c->in1, c->out, c->nt); break;
    case K_MIX: c->fn.mix(c->out, c->s0, c->in0, c->s1, c->in1, c->s2, c->r1, c->n, c->nt); break;
    case K_ATTN: c->fn.attn(c->in0); break;
    }
}

/* Run the kernel under the crash guard; 0 when it returned. */
static int guarded(const char *kernel, Call *c, const char *what)
{
    int sig = cd_guard(run_call, c);
    if (sig)
        fail(kernel, "%s: crashed with %s", what, signame(sig));
    return sig;
}

static int canaries_ok(const char *kernel, const CdBuf *b, const char *what)
{
    if (cd_buf_intact(b))
        return 1;
    fail(kernel, "%s: wrote outside its output (canary overwritten)", what);
    return 0;
}

/* ------------------------------------------------------------ quant inputs */

/* Offsets of the fp16 scale fields of a block, -1 terminated. */
static const int *fp16_fields(int t)
{
    static const int q4_0[] = { offsetof(PlumbBlockQ4_0, d), -1 };
    static const int q4_1[] = { offsetof(PlumbBlockQ4_1, d), offsetof(PlumbBlockQ4_1, m), -1 };
    static const int q5_0[] = { offsetof(PlumbBlockQ5_0, d), -1 };
    static const int q5_1[] = { offsetof(PlumbBlockQ5_1, d), offsetof(PlumbBlockQ5_1, m), -1 };
    static const int q8_0[] = { offsetof(PlumbBlockQ8_0, d), -1 };
    static const int q2_K[] = { offsetof(PlumbBlockQ2_K, d), offsetof(PlumbBlockQ2_K, dmin), -1 };
    static const int q3_K[] = { offsetof(PlumbBlockQ3_K, d), -1 };
    static const int q4_K[] = { offsetof(PlumbBlockQ4_K, d), offsetof(PlumbBlockQ4_K, dmin), -1 };
    static const int q5_K[] = { offsetof(PlumbBlockQ5_K, d), offsetof(PlumbBlockQ5_K, dmin), -1 };
    static const int q6_K[] = { offsetof(PlumbBlockQ6_K, d), -1 };
    static const int iq4_nl[] = { offsetof(PlumbBlockIQ4_NL, d), -1 };
    static const int iq4_xs[] = { offsetof(PlumbBlockIQ4_XS, d), -1 };
    static const int none[] = { -1 };
    switch (t) {
    case PLUMB_QTYPE_Q4_0: return q4_0;
    case PLUMB_QTYPE_Q4_1: return q4_1;
    case PLUMB_QTYPE_Q5_0: return q5_0;
    case PLUMB_QTYPE_Q5_1: return q5_1;
    case PLUMB_QTYPE_Q8_0: return q8_0;
    case PLUMB_QTYPE_Q2_K: return q2_K;
    case PLUMB_QTYPE_Q3_K: return q3_K;
    case PLUMB_QTYPE_Q4_K: return q4_K;
    case PLUMB_QTYPE_Q5_K: return q5_K;
    case PLUMB_QTYPE_Q6_K: return q6_K;
    case PLUMB_QTYPE_IQ4_NL: return iq4_nl;
    case PLUMB_QTYPE_IQ4_XS: return iq4_xs;
    default: return none;
    }
}

/* The quant bits of the types whose dot product may add a separate min or
 * offset term: [*from, *to) bytes of a block, 0 for the others.  With the
 * bits zeroed a block dequantises to that term: -min for Q4_1 / Q5_1 /
 * Q2_K / Q4_K / Q5_K, and for Q3_K / Q6_K the -4 / -32 of their signed
 * values, which SIMD kernels take apart (summing the unsigned value and
 * subtracting offset * sum(a)), so their rounding scales with it. */
static int quant_field(int t, size_t *from, size_t *to)
{
    switch (t) {
    case PLUMB_QTYPE_Q3_K: *from = offsetof(PlumbBlockQ3_K, hmask); *to = offsetof(PlumbBlockQ3_K, scales); return 1;
    case PLUMB_QTYPE_Q6_K: *from = offsetof(PlumbBlockQ6_K, ql); *to = offsetof(PlumbBlockQ6_K, scales); return 1;
    case PLUMB_QTYPE_Q4_1: *from = offsetof(PlumbBlockQ4_1, qs); *to = sizeof(PlumbBlockQ4_1); return 1;
    case PLUMB_QTYPE_Q5_1: *from = offsetof(PlumbBlockQ5_1, qh); *to = sizeof(PlumbBlockQ5_1); return 1;
    case PLUMB_QTYPE_Q2_K: *from = offsetof(PlumbBlockQ2_K, qs); *to = offsetof(PlumbBlockQ2_K, d); return 1;
    case PLUMB_QTYPE_Q4_K: *from = offsetof(PlumbBlockQ4_K, qs); *to = sizeof(PlumbBlockQ4_K); return 1;
    case PLUMB_QTYPE_Q5_K: *from = offsetof(PlumbBlockQ5_K, qh); *to = sizeof(PlumbBlockQ5_K); return 1;
    default: return 0;
    }
}

static int is_float_type(int t)
{
    return t == PLUMB_QTYPE_F32 || t == PLUMB_QTYPE_F16 || t == PLUMB_QTYPE_BF16;
}

/* Input patterns of weight rows. */
enum { W_RANDOM, W_ZERO, W_ALLMAX, W_ALLMIN, W_BIGSCALE, W_TINYSCALE, W_NSHAPES };
static const char *const wshape_names[] = { "random", "zero", "all-max quants", "all-min quants",
                                            "scale 65504", "subnormal scale" };

static uint16_t rand_scale(CdRng *r)
{
    /* realistic magnitudes with either sign, now and then an extreme */
    const double u = cd_unif(r);
    float v;
    if (u < 0.05)
        return (uint16_t)(cd_rand(r) & 1 ? 0x7bff : 0xfbff); /* +-65504 */
    if (u < 0.10)
        return (uint16_t)(1 + cd_rand(r) % 0x3ff);            /* subnormal */
    v = (float)exp(cd_range(r, -9.0f, 1.0f));
    if (cd_rand(r) & 1)
        v = -v;
    return plumb_fp32_to_fp16(v);
}

/* n elements of type t in shape s at p (row_size bytes). */
static void make_weights(int t, void *p, int64_t n, int s, CdRng *r)
{
    const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
    const size_t bytes = plumb_qtype_row_size((uint32_t)t, (uint64_t)n);
    uint8_t *b = p;
    if (is_float_type(t)) {
        for (int64_t i = 0; i < n; i++) {
            float v = s == W_ZERO ? 0.0f : cd_normal(r);
            if (s == W_BIGSCALE)
                v *= t == PLUMB_QTYPE_F16 ? 20000.0f : 1e20f;
            if (s == W_TINYSCALE)
                v *= t == PLUMB_QTYPE_F16 ? 1e-6f : 1e-30f;
            if (s == W_ALLMAX)
                v = t == PLUMB_QTYPE_F16 ? 65504.0f : 1e30f;
            if (s == W_ALLMIN)
                v = t == PLUMB_QTYPE_F16 ? -65504.0f : -1e30f;
            if (t == PLUMB_QTYPE_F32)
                memcpy(b + 4 * i, &v, 4);
            else {
                uint16_t h = t == PLUMB_QTYPE_F16 ? plumb_fp32_to_fp16(v) : plumb_fp32_to_bf16(v);
                memcpy(b + 2 * i, &h, 2);
            }
        }
        return;
    }
    for (size_t i = 0; i < bytes; i++)
        b[i] = s == W_ZERO || s == W_ALLMIN ? 0 : s == W_ALLMAX ? 0xff : (uint8_t)cd_rand(r);
    if (s == W_ZERO)
        return;
    for (int64_t blk = 0; blk < n / tr->blck; blk++) {
        for (const int *f = fp16_fields(t); *f >= 0; f++) {
            uint16_t h;
            if (s == W_BIGSCALE)
                h = cd_rand(r) & 1 ? 0x7bff : 0xfbff;
            else if (s == W_TINYSCALE)
                h = (uint16_t)(cd_rand(r) & 1 ? 0x0001 : 0x83ff);
            else
                h = rand_scale(r);
            memcpy(b + (size_t)blk * tr->size + (size_t)*f, &h, 2);
        }
    }
}

/* Float patterns (activations, vector-op inputs). */
enum { A_NORMAL, A_SMALL, A_LARGE, A_ZERO, A_CONST, A_ALTERNATE, A_SPIKES, A_TIES, A_NSHAPES };
static const char *const ashape_names[] = { "normal", "small", "large", "zero", "constant",
                                            "alternating", "spikes", "rounding ties" };

static void make_floats(float *x, int64_t n, int s, CdRng *r)
{
    const float c = cd_range(r, 0.5f, 3.0f);
    for (int64_t i = 0; i < n; i++) {
        switch (s) {
        case A_NORMAL: x[i] = cd_normal(r); break;
        case A_SMALL: x[i] = cd_normal(r) * 1e-30f; break;
        case A_LARGE: x[i] = cd_normal(r) * 1e4f; break;
        case A_ZERO: x[i] = 0.0f; break;
        case A_CONST: x[i] = -c; break;
        case A_ALTERNATE: x[i] = i & 1 ? c : -c; break;
        case A_SPIKES: x[i] = cd_unif(r) < 0.03 ? cd_normal(r) * 1000.0f : cd_normal(r) * 0.01f; break;
        case A_TIES: /* 127 at the block start makes the scale 1: then k + 0.5 are ties */
            x[i] = (i % 32 == 0) ? -127.0f : (float)((int)(cd_rand(r) % 254) - 127) + 0.5f;
            if (i % 32 == 0 && i % 256 != 0)
                x[i] = 127.0f;
            break;
        }
    }
}

/* Dequantised activations of type t (n elements at p), into y (double). */
static void act_values(int t, const void *p, int64_t n, double *y)
{
    const uint8_t *b = p;
    float *tmp;
    switch (t) {
    case PLUMB_QTYPE_Q8_0:
        for (int64_t i = 0; i < n; i++) {
            const PlumbBlockQ8_0 *q = (const PlumbBlockQ8_0 *)(b + (size_t)(i / 32) * sizeof *q);
            y[i] = (double)plumb_fp16_to_fp32(q->d) * q->qs[i % 32];
        }
        return;
    case PLUMB_QTYPE_Q8_1:
        for (int64_t i = 0; i < n; i++) {
            const PlumbBlockQ8_1 *q = (const PlumbBlockQ8_1 *)(b + (size_t)(i / 32) * sizeof *q);
            y[i] = (double)plumb_fp16_to_fp32(q->d) * q->qs[i % 32];
        }
        return;
    case PLUMB_QTYPE_Q8_K:
        for (int64_t i = 0; i < n; i++) {
            const PlumbBlockQ8_K *q = (const PlumbBlockQ8_K *)(b + (size_t)(i / 256) * sizeof *q);
            y[i] = (double)q->d * q->qs[i % 256];
        }
        return;
    default:
        tmp = xmalloc((size_t)n * sizeof *tmp);
        ref.to_float[t](p, tmp, n);
        for (int64_t i = 0; i < n; i++)
            y[i] = tmp[i];
        free(tmp);
    }
}

/* ------------------------------------------------------------ quant kernels */

static const int64_t block_counts[] = { 1, 2, 3, 7, 16 };
static const int64_t float_lengths[] = { 1, 3, 7, 8, 15, 16, 17, 33, 100, 1000 };

/* Lengths to test for type t: block counts, or element counts for the float
 * types; returns how many were written to len. */
static int lengths_for(int t, int64_t *len)
{
    int k = 0;
    if (is_float_type(t) || t == PLUMB_QTYPE_COUNT) {
        for (size_t i = 0; i < sizeof float_lengths / sizeof float_lengths[0]; i++)
            len[k++] = float_lengths[i];
    } else {
        const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
        for (size_t i = 0; i < sizeof block_counts / sizeof block_counts[0]; i++)
            len[k++] = block_counts[i] * tr->blck;
    }
    return k;
}

/* Byte misalignments a row of type t can have (GGUF rows are aligned to the
 * block size's even byte count; our activation buffers to the block's C
 * alignment). */
static size_t align_of(int t)
{
    switch (t) {
    case PLUMB_QTYPE_F32: case PLUMB_QTYPE_Q8_K: case PLUMB_QTYPE_Q8_0X: return 4;
    default: return 2;
    }
}

static void check_to_float(int t, PlumbToFloatFn fn)
{
    char kernel[64], what[160];
    int64_t lens[16];
    const int nl = lengths_for(t, lens);
    snprintf(kernel, sizeof kernel, "to_float %s", plumb_qtype_name((uint32_t)t));
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (int li = 0; li < nl; li++) {
        for (int s = 0; s < W_NSHAPES; s++) {
            const int64_t n = lens[li];
            const size_t rs = plumb_qtype_row_size((uint32_t)t, (uint64_t)n);
            const size_t woff = align_of(t) * (size_t)(li % 4), yoff = 4 * (size_t)((li + s) % 4);
            CdRng r = case_rng();
            CdBuf w, ye, yg;
            buf(&w, rs, woff, 0);
            make_weights(t, w.p, n, s, &r);
            buf(&ye, (size_t)n * 4, yoff, CD_POISON);
            buf(&yg, (size_t)n * 4, yoff, CD_POISON);
            snprintf(what, sizeof what, "n=%" PRId64 " %s, row at +%zu, output at +%zu", n, wshape_names[s], woff,
                     yoff);
            ref.to_float[t](w.p, (float *)ye.p, n);
            Call c = { .kind = K_TOF, .fn.tof = fn, .in0 = w.p, .out = yg.p, .n = n };
            cases_run++;
            if (!guarded(kernel, &c, what) && canaries_ok(kernel, &yg, what)) {
                for (int64_t i = 0; i < n; i++) {
                    float e, g;
                    memcpy(&e, ye.p + 4 * i, 4);
                    memcpy(&g, yg.p + 4 * i, 4);
                    if (cd_bits(e) != cd_bits(g) && !(isnan(e) && isnan(g))) {
                        fail(kernel, "%s: element %" PRId64 ": expected %.9g (0x%08x), got %.9g (0x%08x)", what, i,
                             e, cd_bits(e), g, cd_bits(g));
                        break;
                    }
                }
            }
            cd_buf_free(&w);
            cd_buf_free(&ye);
            cd_buf_free(&yg);
        }
    }
}

static void check_from_float(int t, PlumbFromFloatFn fn)
{
    char kernel[64], what[160];
    int64_t lens[16];
    const int nl = lengths_for(t, lens);
    const int floaty = is_float_type(t);
    snprintf(kernel, sizeof kernel, "from_float %s", plumb_qtype_name((uint32_t)t));
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (int li = 0; li < nl; li++) {
        for (int s = 0; s < A_NSHAPES + (floaty ? 1 : 0); s++) {
            const int64_t n = lens[li];
            const size_t rs = plumb_qtype_row_size((uint32_t)t, (uint64_t)n);
            const size_t xoff = 4 * (size_t)((li + s) % 4), yoff = align_of(t) * (size_t)(li % 3);
            CdRng r = case_rng();
            CdBuf x, ye, yg;
            buf(&x, (size_t)n * 4, xoff, 0);
            if (s < A_NSHAPES) {
                make_floats((float *)x.p, n, s, &r);
            } else { /* float types: overflow, inf, NaN, subnormals, rounding edges */
                static const float special[] = { 65504.0f, 65520.0f, 65519.99f, 1e9f, INFINITY, -INFINITY, NAN,
                                                 -NAN, 6e-8f, 3e-8f, 2.98e-8f, 1e-45f, -0.0f, 1.00048828125f,
                                                 1.001953125f, 3.3895314e38f };
                for (int64_t i = 0; i < n; i++)
                    ((float *)x.p)[i] = special[cd_rand(&r) % (sizeof special / sizeof special[0])] *
                                        (cd_rand(&r) & 1 ? 1.0f : -1.0f);
            }
            buf(&ye, rs, yoff, CD_POISON);
            buf(&yg, rs, yoff, CD_POISON);
            snprintf(what, sizeof what, "n=%" PRId64 " %s input at +%zu, output at +%zu", n,
                     s < A_NSHAPES ? ashape_names[s] : "special values", xoff, yoff);
            ref.from_float[t]((const float *)x.p, ye.p, n);
            Call c = { .kind = K_FROMF, .fn.fromf = fn, .in0 = x.p, .out = yg.p, .n = n };
            cases_run++;
            if (!guarded(kernel, &c, what) && canaries_ok(kernel, &yg, what)) {
                for (size_t i = 0; i < rs; i++) {
                    if (ye.p[i] != yg.p[i]) {
                        fail(kernel, "%s: byte %zu (block %zu, byte %zu of it): expected 0x%02x, got 0x%02x", what, i,
                             i / plumb_qtype_traits((uint32_t)t)->size, i % plumb_qtype_traits((uint32_t)t)->size,
                             ye.p[i], yg.p[i]);
                        break;
                    }
                }
            }
            cd_buf_free(&x);
            cd_buf_free(&ye);
            cd_buf_free(&yg);
        }
    }
}

/* Sum of |w_i a_i| (plus |offset_i a_i| for the types of quant_field). */
static double dot_magnitude(int t, int act, const void *w, const void *a, int64_t n)
{
    double *wv = xmalloc((size_t)n * sizeof *wv), *av = xmalloc((size_t)n * sizeof *av);
    float *tmp = xmalloc((size_t)n * sizeof *tmp);
    double s = 0.0;
    size_t from, to;
    ref.to_float[t](w, tmp, n);
    for (int64_t i = 0; i < n; i++)
        wv[i] = fabs((double)tmp[i]);
    if (quant_field(t, &from, &to)) {
        const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
        const size_t rs = plumb_qtype_row_size((uint32_t)t, (uint64_t)n);
        uint8_t *z = xmalloc(rs);
        memcpy(z, w, rs);
        for (int64_t b = 0; b < n / tr->blck; b++)
            memset(z + (size_t)b * tr->size + from, 0, to - from);
        ref.to_float[t](z, tmp, n);
        for (int64_t i = 0; i < n; i++)
            wv[i] += fabs((double)tmp[i]);
        free(z);
    }
    act_values(act, a, n, av);
    for (int64_t i = 0; i < n; i++)
        s += wv[i] * fabs(av[i]);
    free(wv);
    free(av);
    free(tmp);
    return s;
}

/* One vec_dot case: weights of shape ws against activations of shape as. */
static void vec_dot_case(const char *kernel, int t, int act, PlumbVecDotFn fn, int64_t n, int ws, int as,
                         size_t woff, size_t aoff)
{
    char what[200];
    const size_t wrs = plumb_qtype_row_size((uint32_t)t, (uint64_t)n);
    const size_t ars = plumb_qtype_row_size((uint32_t)act, (uint64_t)n);
    CdRng r = case_rng();
    CdBuf w, a, out;
    float *xf = xmalloc((size_t)n * sizeof *xf);
    float e = 0.0f, g;
    buf(&w, wrs, woff, 0);
    make_weights(t, w.p, n, ws, &r);
    make_floats(xf, n, as, &r);
    buf(&a, ars, aoff, 0);
    ref.from_float[act](xf, a.p, n);
    free(xf);
    buf(&out, sizeof(float), 0, CD_POISON);
    snprintf(what, sizeof what, "n=%" PRId64 " weights %s at +%zu, activations %s at +%zu", n, wshape_names[ws],
             woff, ashape_names[as], aoff);
    ref.vec_dot[t](n, &e, w.p, a.p);
    Call c = { .kind = K_DOT, .fn.dot = fn, .in0 = w.p, .in1 = a.p, .out = out.p, .n = n };
    cases_run++;
    if (!guarded(kernel, &c, what) && canaries_ok(kernel, &out, what)) {
        memcpy(&g, out.p, sizeof g);
        const double mag = dot_magnitude(t, act, w.p, a.p, n);
        const double tol = DOT_EPS * mag + DOT_ABS;
        const double err = fabs((double)g - (double)e);
        if (!(err <= tol) && !(isnan(e) && isnan(g)) && !(isinf(e) && e == g))
            fail(kernel, "%s: expected %.9g, got %.9g (|diff| %.3g > %.3g = %.0e * sum|w*a| %.6g)", what, e, g, err,
                 tol, DOT_EPS, mag);
    }
    cd_buf_free(&w);
    cd_buf_free(&a);
    cd_buf_free(&out);
}

static void check_vec_dot(int t, PlumbVecDotFn fn)
{
    char kernel[64];
    int64_t lens[16];
    const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
    const int act = tr->act;
    const int nl = lengths_for(t, lens);
    snprintf(kernel, sizeof kernel, "vec_dot %s", tr->name);
    if (!wanted(kernel))
        return;
    if (act < 0 || !ref.from_float[act]) {
        fail(kernel, "no C quantiser for its activation type %d", act);
        return;
    }
    begin_kernel(kernel);
    for (int li = 0; li < nl; li++) {
        for (int ws = 0; ws < W_NSHAPES; ws++) {
            for (int as = 0; as < A_NSHAPES; as++) {
                /* random weights meet every activation shape (several draws of
                 * the random ones); edge weights meet a few */
                const int reps = ws == W_RANDOM && (as == A_NORMAL || as == A_SPIKES) ? 4 : 1;
                if (as == A_TIES || (ws != W_RANDOM && as != A_NORMAL && as != A_SMALL && as != A_CONST && as != A_ALTERNATE))
                    continue;
                for (int rep = 0; rep < reps; rep++)
                    vec_dot_case(kernel, t, act, fn, lens[li], ws, as, align_of(t) * (size_t)((li + as + rep) % 4),
                                 align_of(act) * (size_t)((li + ws + rep) % 3));
            }
        }
    }
}

/* ------------------------------------------------------------ vector ops */

static const int64_t vec_lengths[] = { 1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 128, 1000, 2048 };
#define N_VEC_LENGTHS (sizeof vec_lengths / sizeof vec_lengths[0])

/* Compare n floats: exact when ulps == 0, else within ulps (or FLT_MIN). */
static int compare_floats(const char *kernel, const char *what, const float *e, const float *g, int64_t n,
                          uint64_t ulps)
{
    for (int64_t i = 0; i < n; i++) {
        const uint64_t d = cd_ulps(e[i], g[i]);
        if (ulps == 0 ? cd_bits(e[i]) == cd_bits(g[i]) || (isnan(e[i]) && isnan(g[i]))
                      : d <= ulps || fabsf(e[i] - g[i]) <= FLT_MIN)
            continue;
        fail(kernel, "%s: element %" PRId64 ": expected %.9g (0x%08x), got %.9g (0x%08x), %" PRIu64 " ULP apart (bound %" PRIu64 ")",
             what, i, e[i], cd_bits(e[i]), g[i], cd_bits(g[i]), d, ulps);
        return 0;
    }
    return 1;
}

/* A float buffer of n at a misalignment of off floats, filled with shape s. */
static float *fbuf(CdBuf *b, int64_t n, size_t off, int s, CdRng *r)
{
    buf(b, (size_t)n * 4, 4 * off, 0);
    make_floats((float *)b->p, n, s, r);
    return (float *)b->p;
}

/* The n floats of v as fp16 (clamped to the finite range), written over the
 * front of the same buffer; returns v. */
static const void *fp16_in_place(float *v, int64_t n)
{
    uint16_t *h = (uint16_t *)v;
    for (int64_t i = 0; i < n; i++) {
        const float x = v[i] > 65000.0f ? 65000.0f : v[i] < -65000.0f ? -65000.0f : v[i];
        h[i] = plumb_fp32_to_fp16(x);
    }
    return v;
}

static void check_rmsnorm(void (*fn)(float *, const float *, const float *, int64_t, float))
{
    const char *kernel = "rmsnorm";
    char what[128];
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t li = 0; li < N_VEC_LENGTHS; li++) {
        for (int s = 0; s < A_NSHAPES; s++) {
            const int64_t n = vec_lengths[li];
            const int inplace = (li + (size_t)s) % 3 == 0;
            CdRng r = case_rng();
            CdBuf x, w, ye, yg;
            float *xp = fbuf(&x, n, li % 4, s, &r), *wp = fbuf(&w, n, (li + 1) % 4, A_NORMAL, &r);
            const float eps = s == A_ZERO ? 1e-6f : 1e-5f;
            buf(&ye, (size_t)n * 4, 0, CD_POISON);
            buf(&yg, (size_t)n * 4, 4 * ((li + 2) % 4), CD_POISON);
            if (inplace)
                memcpy(yg.p, xp, (size_t)n * 4);
            snprintf(what, sizeof what, "n=%" PRId64 " %s%s", n, ashape_names[s], inplace ? " in place" : "");
            ref.rmsnorm((float *)ye.p, xp, wp, n, eps);
            Call c = { .kind = K_RMS, .fn.rmsnorm = fn, .in0 = inplace ? (const void *)yg.p : xp, .in1 = wp,
                       .out = yg.p, .n = n, .f = eps };
            cases_run++;
            if (!guarded(kernel, &c, what) && canaries_ok(kernel, &yg, what))
                compare_floats(kernel, what, (float *)ye.p, (float *)yg.p, n, RMSNORM_ULPS);
            cd_buf_free(&x);
            cd_buf_free(&w);
            cd_buf_free(&ye);
            cd_buf_free(&yg);
        }
    }
}

static void check_rope(void (*fn)(float *, const float *, const float *, int64_t))
{
    const char *kernel = "rope_neox";
    static const int64_t lens[] = { 2, 4, 6, 7, 14, 16, 18, 33, 34, 64, 66, 128, 256 };
    char what[128];
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (int s = 0; s < 3; s++) {
            const int64_t n = lens[li];
            CdRng r = case_rng();
            CdBuf x, cs, sn, ye;
            fbuf(&x, n, li % 4, s == 2 ? A_LARGE : A_NORMAL, &r);
            float *cp = fbuf(&cs, n / 2, (li + 1) % 4, A_ZERO, &r), *sp = fbuf(&sn, n / 2, (li + 3) % 4, A_ZERO, &r);
            for (int64_t i = 0; i < n / 2; i++) {
                const float th = cd_range(&r, -100.0f, 100.0f);
                cp[i] = cosf(th);
                sp[i] = s == 1 ? 0.0f : sinf(th);
            }
            buf(&ye, (size_t)n * 4, 0, 0);
            memcpy(ye.p, x.p, (size_t)n * 4);
            snprintf(what, sizeof what, "n=%" PRId64 " case %d", n, s);
            ref.rope_neox((float *)ye.p, cp, sp, n);
            Call c = { .kind = K_ROPE, .fn.rope = fn, .in0 = cp, .in1 = sp, .out = x.p, .n = n };
            cases_run++;
            if (!guarded(kernel, &c, what) && canaries_ok(kernel, &x, what))
                compare_floats(kernel, what, (float *)ye.p, (float *)x.p, n, 0);
            cd_buf_free(&x);
            cd_buf_free(&cs);
            cd_buf_free(&sn);
            cd_buf_free(&ye);
        }
    }
}

static void check_softmax(void (*fn)(float *, int64_t))
{
    const char *kernel = "softmax";
    char what[128];
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t li = 0; li < N_VEC_LENGTHS; li++) {
        for (int s = 0; s < 6; s++) {
            const int64_t n = vec_lengths[li];
            CdRng r = case_rng();
            CdBuf x, ye;
            float *xp = fbuf(&x, n, li % 4, A_NORMAL, &r);
            for (int64_t i = 0; i < n; i++) {
                if (s == 1)
                    xp[i] *= 30.0f; /* wide range: many results underflow */
                if (s == 2 && i % 3 == 1)
                    xp[i] = -INFINITY; /* masked positions */
                if (s == 3)
                    xp[i] = 7.0f; /* all equal */
                if (s == 4)
                    xp[i] = xp[i] * 0.1f + 80.0f; /* large values, max subtracted */
                if (s == 5)
                    xp[i] *= 1e-6f;
            }
            buf(&ye, (size_t)n * 4, 0, 0);
            memcpy(ye.p, xp, (size_t)n * 4);
            snprintf(what, sizeof what, "n=%" PRId64 " case %d", n, s);
            ref.softmax((float *)ye.p, n);
            Call c = { .kind = K_SOFTMAX, .fn.softmax = fn, .out = xp, .n = n };
            cases_run++;
            if (!guarded(kernel, &c, what) && canaries_ok(kernel, &x, what))
                compare_floats(kernel, what, (float *)ye.p, xp, n, SOFTMAX_ULPS);
            cd_buf_free(&x);
            cd_buf_free(&ye);
        }
    }
}

static void check_swiglu(void (*fn)(float *, const float *, const float *, int64_t))
{
    const char *kernel = "swiglu";
    char what[128];
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t li = 0; li < N_VEC_LENGTHS; li++) {
        for (int s = 0; s < 4; s++) {
            const int64_t n = vec_lengths[li];
            CdRng r = case_rng();
            CdBuf g, u, ye, yg;
            float *gp = fbuf(&g, n, li % 4, A_NORMAL, &r), *up = fbuf(&u, n, (li + 1) % 4, A_NORMAL, &r);
            for (int64_t i = 0; i < n; i++) {
                if (s == 1)
                    gp[i] *= 8.0f;
                if (s == 2)
                    gp[i] = cd_range(&r, -120.0f, 120.0f); /* exp overflow / underflow */
                if (s == 3)
                    gp[i] = i % 2 ? 0.0f : -0.0f;
            }
            buf(&ye, (size_t)n * 4, 0, CD_POISON);
            buf(&yg, (size_t)n * 4, 4 * ((li + 2) % 4), CD_POISON);
            snprintf(what, sizeof what, "n=%" PRId64 " case %d", n, s);
            ref.swiglu((float *)ye.p, gp, up, n);
            Call c = { .kind = K_SWIGLU, .fn.swiglu = fn, .in0 = gp, .in1 = up, .out = yg.p, .n = n };
            cases_run++;
            if (!guarded(kernel, &c, what) && canaries_ok(kernel, &yg, what))
                compare_floats(kernel, what, (float *)ye.p, (float *)yg.p, n, SWIGLU_ULPS);
            cd_buf_free(&g);
            cd_buf_free(&u);
            cd_buf_free(&ye);
            cd_buf_free(&yg);
        }
    }
}

static void check_dot_f32(float (*fn)(const float *, const float *, int64_t))
{
    const char *kernel = "dot_f32";
    char what[128];
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t li = 0; li < N_VEC_LENGTHS; li++) {
        for (int s = 0; s < A_NSHAPES; s++) {
            const int64_t n = vec_lengths[li];
            CdRng r = case_rng();
            CdBuf a, b;
            float *ap = fbuf(&a, n, li % 4, s, &r), *bp = fbuf(&b, n, (li + (size_t)s) % 4, A_NORMAL, &r);
            double mag = 0.0;
            for (int64_t i = 0; i < n; i++)
                mag += fabs((double)ap[i] * bp[i]);
            snprintf(what, sizeof what, "n=%" PRId64 " %s", n, ashape_names[s]);
            const float e = ref.dot_f32(ap, bp, n);
            Call c = { .kind = K_DOTF, .fn.dotf = fn, .in0 = ap, .in1 = bp, .n = n };
            cases_run++;
            if (!guarded(kernel, &c, what)) {
                const double tol = DOT_EPS * mag + DOT_ABS, err = fabs((double)c.result - e);
                if (!(err <= tol))
                    fail(kernel, "%s: expected %.9g, got %.9g (|diff| %.3g > %.3g)", what, e, c.result, err, tol);
            }
            cd_buf_free(&a);
            cd_buf_free(&b);
        }
    }
}

static void check_axpy_scale(void (*axpy)(float *, float, const float *, int64_t),
                             void (*scale)(float *, float, int64_t))
{
    char what[128];
    for (int which = 0; which < 2; which++) {
        const char *kernel = which ? "scale" : "axpy";
        if ((which ? (void *)scale : (void *)axpy) == NULL || !wanted(kernel))
            continue;
        begin_kernel(kernel);
        for (size_t li = 0; li < N_VEC_LENGTHS; li++) {
            for (int s = 0; s < 4; s++) {
                const int64_t n = vec_lengths[li];
                CdRng r = case_rng();
                CdBuf x, y, ye;
                float *xp = fbuf(&x, n, li % 4, s == 3 ? A_LARGE : A_NORMAL, &r);
                float *yp = fbuf(&y, n, (li + 3) % 4, s == 2 ? A_SMALL : A_NORMAL, &r);
                const float a = s == 1 ? 0.0f : cd_normal(&r);
                buf(&ye, (size_t)n * 4, 0, 0);
                memcpy(ye.p, yp, (size_t)n * 4);
                snprintf(what, sizeof what, "n=%" PRId64 " a=%g case %d", n, a, s);
                Call c = { .n = n, .f = a, .out = yp, .in0 = xp };
                if (which) {
                    ref.scale((float *)ye.p, a, n);
                    c.kind = K_SCALE;
                    c.fn.scale = scale;
                } else {
                    ref.axpy((float *)ye.p, a, xp, n);
                    c.kind = K_AXPY;
                    c.fn.axpy = axpy;
                }
                cases_run++;
                if (!guarded(kernel, &c, what) && canaries_ok(kernel, &y, what))
                    compare_floats(kernel, what, (float *)ye.p, yp, n, 0);
                cd_buf_free(&x);
                cd_buf_free(&y);
                cd_buf_free(&ye);
            }
        }
    }
}

/* mix (F32 or F16 value rows): the same bits as C for every shape, with
 * strides wider than the rows; nothing written between output rows. */
static void check_mix(int t, PlumbMixFn fn)
{
    static const int64_t ms[] = { 1, 2, 3, 4, 5, 8, 9 };
    static const int64_t ns[] = { 1, 7, 8, 16, 17, 40, 64, 128 };
    static const int64_t ks[] = { 0, 1, 2, 7, 100 };
    const char *kernel = t == PLUMB_QTYPE_F16 ? "mix_f16" : "mix_f32";
    char what[128];
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t mi = 0; mi < sizeof ms / sizeof ms[0]; mi++)
        for (size_t ni = 0; ni < sizeof ns / sizeof ns[0]; ni++)
            for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
                const int64_t m = ms[mi], n = ns[ni], k = ks[ki];
                const int64_t os = n + (int64_t)(mi % 3), ps = k + (int64_t)(ni % 2) + 1, vs = n + (int64_t)(ki % 3) * 5;
                CdRng r = case_rng();
                CdBuf pb, vb, ob, eb;
                float *p = fbuf(&pb, m * ps, mi % 4, ki % 2 ? A_SPIKES : A_NORMAL, &r);
                float *v = fbuf(&vb, (k ? k : 1) * vs, ni % 4, ni % 3 == 1 ? A_LARGE : A_NORMAL, &r);
                const void *vt = v;
                if (t == PLUMB_QTYPE_F16) /* the same numbers as halves, in place, misaligned as v */
                    vt = fp16_in_place(v, (k ? k : 1) * vs);
                buf(&ob, (size_t)(m * os) * 4, (ki % 4) * 4, CD_POISON);
                buf(&eb, (size_t)(m * os) * 4, 0, CD_POISON);
                snprintf(what, sizeof what, "m=%" PRId64 " n=%" PRId64 " k=%" PRId64 " strides %" PRId64 "/%" PRId64
                         "/%" PRId64, m, n, k, os, ps, vs);
                ref.mix[t]((float *)eb.p, os, p, ps, vt, vs, m, n, k);
                Call c = { .kind = K_MIX, .fn.mix = fn, .out = ob.p, .in0 = p, .in1 = vt, .n = n, .r1 = m, .nt = k,
                           .s0 = os, .s1 = ps, .s2 = vs };
                cases_run++;
                if (!guarded(kernel, &c, what) && canaries_ok(kernel, &ob, what))
                    compare_floats(kernel, what, (float *)eb.p, (float *)ob.p, m * os, 0);
                cd_buf_free(&pb);
                cd_buf_free(&vb);
                cd_buf_free(&ob);
                cd_buf_free(&eb);
            }
}

static void check_topk(void (*fn)(const float *, int64_t, int, int32_t *))
{
    const char *kernel = "topk";
    static const int64_t lens[] = { 1, 3, 8, 9, 17, 64, 128, 129, 1000, 1024, 1025, 3000 };
    static const int ks[] = { 1, 2, 4, 8, 12 };
    char what[128];
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
        for (size_t ki = 0; ki < sizeof ks / sizeof ks[0]; ki++) {
            for (int s = 0; s < 4; s++) {
                const int64_t n = lens[li];
                const int k = ks[ki];
                const int kk = k < n ? k : (int)n;
                CdRng r = case_rng();
                CdBuf x, ie, ig;
                float *xp = fbuf(&x, n, li % 4, A_NORMAL, &r);
                for (int64_t i = 0; i < n; i++) {
                    if (s == 1) /* many ties */
                        xp[i] = (float)(cd_rand(&r) % 5);
                    if (s == 2) { /* specials */
                        static const float sp[] = { NAN, -NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1.0f, -1.0f };
                        xp[i] = cd_unif(&r) < 0.5 ? sp[cd_rand(&r) % 8] : cd_normal(&r);
                    }
                    if (s == 3) /* all -inf and NaN: order by index */
                        xp[i] = cd_rand(&r) & 1 ? -INFINITY : NAN;
                }
                buf(&ie, (size_t)k * 4, 0, CD_POISON);
                buf(&ig, (size_t)kk * 4, 0, CD_POISON);
                snprintf(what, sizeof what, "n=%" PRId64 " k=%d case %d", n, k, s);
                ref.topk(xp, n, k, (int32_t *)ie.p);
                Call c = { .kind = K_TOPK, .fn.topk = fn, .in0 = xp, .n = n, .k = k, .out = ig.p };
                cases_run++;
                if (!guarded(kernel, &c, what) && canaries_ok(kernel, &ig, what)) {
                    for (int i = 0; i < kk; i++) {
                        int32_t e, g;
                        memcpy(&e, ie.p + 4 * i, 4);
                        memcpy(&g, ig.p + 4 * i, 4);
                        if (e != g) {
                            fail(kernel, "%s: rank %d: expected index %d, got %d", what, i, e, g);
                            break;
                        }
                    }
                }
                cd_buf_free(&x);
                cd_buf_free(&ie);
                cd_buf_free(&ig);
            }
        }
    }
}

/* ------------------------------------------------------------ tiled products */

/*
 * gemm: y[t][r] for rows r0 <= r < r1 of a weight matrix (rows w_stride bytes
 * apart) and nt activation rows.  Each y[t][r] must be within the vec_dot
 * bound of the C dot product, entries outside [r0, r1) untouched, and the
 * value of every (r, t) the same bits whatever the tiling: the whole range
 * in one call, one row at a time, one token at a time.
 */
static void gemm_case(const char *kernel, int t, PlumbGemmFn fn, int64_t n, int64_t rows, int64_t nt, int ws,
                      size_t stride_pad, size_t woff)
{
    char what[200];
    const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
    const int act = tr->act;
    const size_t rs = plumb_qtype_row_size((uint32_t)t, (uint64_t)n);
    const size_t ars = plumb_qtype_row_size((uint32_t)act, (uint64_t)n);
    const uint64_t stride = rs + stride_pad;
    const int64_t r0 = rows > 2 ? 1 : 0, r1 = rows > 3 ? rows - 1 : rows;
    CdRng r = case_rng();
    CdBuf w, abuf, ybuf[3];
    const void **ap = xmalloc((size_t)nt * sizeof *ap);
    float **yp[3];
    float *xf = xmalloc((size_t)n * sizeof *xf);
    int ok = 1;

    buf(&w, stride * (size_t)rows, woff, 0);
    for (int64_t i = 0; i < rows; i++)
        make_weights(t, w.p + (size_t)i * stride, n, ws, &r);
    buf(&abuf, ars * (size_t)nt, 0, 0);
    for (int64_t k = 0; k < nt; k++) {
        make_floats(xf, n, (int)(k % 3 == 2 ? A_SPIKES : A_NORMAL), &r);
        ref.from_float[act](xf, abuf.p + (size_t)k * ars, n);
        ap[k] = abuf.p + (size_t)k * ars;
    }
    free(xf);
    /* three outputs: whole range, row by row, token by token */
    for (int v = 0; v < 3; v++) {
        buf(&ybuf[v], sizeof(float) * (size_t)(rows * nt), 0, CD_POISON);
        yp[v] = xmalloc((size_t)nt * sizeof *yp[v]);
        for (int64_t k = 0; k < nt; k++)
            yp[v][k] = (float *)ybuf[v].p + k * rows;
    }
    snprintf(what, sizeof what, "n=%" PRId64 " rows %" PRId64 "..%" PRId64 " of %" PRId64 ", %" PRId64
             " tokens, weights %s, stride %" PRIu64 " at +%zu", n, r0, r1, rows, nt, wshape_names[ws], stride, woff);
    cases_run++;

    Call c = { .kind = K_GEMM, .fn.gemm = fn, .in0 = w.p, .in1 = ap, .out = yp[0], .n = n, .stride = stride,
               .r0 = r0, .r1 = r1, .nt = nt };
    if (guarded(kernel, &c, what))
        ok = 0;
    for (int64_t i = r0; ok && i < r1; i++) {
        c.out = yp[1];
        c.r0 = i;
        c.r1 = i + 1;
        if (guarded(kernel, &c, what))
            ok = 0;
    }
    for (int64_t k = 0; ok && k < nt; k++) {
        c.in1 = ap + k;
        c.out = yp[2] + k;
        c.r0 = r0;
        c.r1 = r1;
        c.nt = 1;
        if (guarded(kernel, &c, what))
            ok = 0;
    }
    for (int v = 0; ok && v < 3; v++)
        ok = canaries_ok(kernel, &ybuf[v], what);
    for (int64_t k = 0; ok && k < nt; k++) {
        for (int64_t i = 0; ok && i < rows; i++) {
            const float g = yp[0][k][i];
            if (i < r0 || i >= r1) {
                const uint32_t poison = 0x01010101u * CD_POISON;
                if (cd_bits(g) != poison || cd_bits(yp[1][k][i]) != poison || cd_bits(yp[2][k][i]) != poison) {
                    fail(kernel, "%s: wrote y[%" PRId64 "][%" PRId64 "], outside rows %" PRId64 "..%" PRId64, what, k, i,
                         r0, r1);
                    ok = 0;
                }
                continue;
            }
            if (cd_bits(g) != cd_bits(yp[1][k][i]) || cd_bits(g) != cd_bits(yp[2][k][i])) {
                fail(kernel, "%s: y[%" PRId64 "][%" PRId64 "] depends on the tiling: %.9g in one call, %.9g row by row, "
                     "%.9g token by token", what, k, i, g, yp[1][k][i], yp[2][k][i]);
                ok = 0;
                break;
            }
            const void *row = w.p + (size_t)i * stride;
            float e = 0.0f;
            ref.vec_dot[t](n, &e, row, ap[k]);
            const double mag = dot_magnitude(t, act, row, ap[k], n);
            const double tol = DOT_EPS * mag + DOT_ABS, err = fabs((double)g - (double)e);
            if (!(err <= tol) && !(isnan(e) && isnan(g))) {
                fail(kernel, "%s: y[%" PRId64 "][%" PRId64 "]: expected %.9g, got %.9g (|diff| %.3g > %.3g)", what, k, i, e,
                     g, err, tol);
                ok = 0;
            }
        }
    }
    for (int v = 0; v < 3; v++) {
        cd_buf_free(&ybuf[v]);
        free(yp[v]);
    }
    cd_buf_free(&w);
    cd_buf_free(&abuf);
    free(ap);
}

static void check_gemm(int t, PlumbGemmFn fn)
{
    char kernel[64];
    static const int64_t blocks[] = { 1, 3, 8 };
    static const int64_t rows[] = { 1, 3, 5, 8, 13, 37 }; /* 37: two whole groups of 16 and a part */
    static const int64_t tokens[] = { 1, 2, 3, 4, 5, 7, 9 };
    const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
    snprintf(kernel, sizeof kernel, "gemm %s", tr->name);
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t bi = 0; bi < sizeof blocks / sizeof blocks[0]; bi++)
        for (size_t ri = 0; ri < sizeof rows / sizeof rows[0]; ri++)
            for (size_t ti = 0; ti < sizeof tokens / sizeof tokens[0]; ti++) {
                const int ws = (bi + ri + ti) % 5 == 4 ? (int)((ri + ti) % W_NSHAPES) : W_RANDOM;
                gemm_case(kernel, t, fn, blocks[bi] * tr->blck, rows[ri], tokens[ti], ws,
                          align_of(t) * ((ri + ti) % 3), align_of(t) * ((bi + ti) % 4));
            }
}

/*
 * Row-interleaved types (Q4_0_R8, Q4_K_R8): rows are made in the row-major
 * type (Q4_0, Q4_K) and repacked.  The
 * repacking must be undone exactly by the unpacking, and every y[t][r] must
 * be the same bits as the C definition (plumb_gemm_q4_0_r8_c), within the
 * vec_dot bound of the row-major type's C dot product of the original row, the same bits
 * whatever the tiling (whole range, one group of 8 rows at a time, one token
 * at a time), with nothing written outside rows r0..r1.  The C definition
 * itself is held to the vec_dot bound too.
 */
static void gemm_r8_case(const char *kernel, int t, PlumbGemmFn fn, int64_t n, int64_t groups, int64_t nt, int ws)
{
    char what[200];
    const PlumbRepackOps *ops = plumb_repack_ops((uint32_t)t);
    const int base = (int)ops->from, act = plumb_qtype_traits((uint32_t)t)->act;
    const int bact = plumb_qtype_traits((uint32_t)base)->act;
    const int64_t rows = groups * PLUMB_R8;
    const int64_t r0 = groups > 2 ? PLUMB_R8 : 0, r1 = groups > 1 ? rows - (groups > 3 ? PLUMB_R8 : 0) : rows;
    const size_t rs = plumb_qtype_row_size((uint32_t)base, (uint64_t)n), prs = plumb_qtype_row_size((uint32_t)t, (uint64_t)n);
    const size_t ars = plumb_qtype_row_size((uint32_t)act, (uint64_t)n), brs = plumb_qtype_row_size((uint32_t)bact, (uint64_t)n);
    CdRng r = case_rng();
    uint8_t *rowsq = xmalloc(rs * (size_t)rows), *back = xmalloc(rs * (size_t)rows);
    uint8_t *a8 = xmalloc(brs * (size_t)nt);
    float *xf = xmalloc((size_t)n * sizeof *xf);
    const void **ap = xmalloc((size_t)nt * sizeof *ap);
    CdBuf w, abuf, ybuf[4];
    float **yp[4];
    int ok = 1;

    for (int64_t i = 0; i < rows; i++)
        make_weights(base, rowsq + (size_t)i * rs, n, ws, &r);
    buf(&w, prs * (size_t)rows, 0, 0);
    for (int64_t g = 0; g < groups; g++)
        ops->repack(rowsq + (size_t)g * PLUMB_R8 * rs, rs, w.p + (size_t)g * PLUMB_R8 * prs, n);
    for (int64_t g = 0; g < groups; g++)
        ops->unpack(w.p + (size_t)g * PLUMB_R8 * prs, back + (size_t)g * PLUMB_R8 * rs, rs, n);
    snprintf(what, sizeof what, "n=%" PRId64 " rows %" PRId64 "..%" PRId64 " of %" PRId64 ", %" PRId64 " tokens, weights %s",
             n, r0, r1, rows, nt, wshape_names[ws]);
    cases_run++;
    if (memcmp(rowsq, back, rs * (size_t)rows) != 0) {
        fail(kernel, "%s: unpacking does not give back the repacked rows", what);
        ok = 0;
    }
    buf(&abuf, ars * (size_t)nt, 0, 0);
    for (int64_t k = 0; k < nt; k++) {
        make_floats(xf, n, (int)(k % 3 == 2 ? A_SPIKES : A_NORMAL), &r);
        ref.from_float[act](xf, abuf.p + (size_t)k * ars, n);
        ref.from_float[bact](xf, a8 + (size_t)k * brs, n);
        ap[k] = abuf.p + (size_t)k * ars;
    }
    /* outputs: C definition, whole range, group by group, token by token */
    for (int v = 0; v < 4; v++) {
        buf(&ybuf[v], sizeof(float) * (size_t)(rows * nt), 0, CD_POISON);
        yp[v] = xmalloc((size_t)nt * sizeof *yp[v]);
        for (int64_t k = 0; k < nt; k++)
            yp[v][k] = (float *)ybuf[v].p + k * rows;
    }
    Call c = { .kind = K_GEMM, .fn.gemm = ref.gemm[t], .in0 = w.p, .in1 = ap, .out = yp[0], .n = n, .stride = prs,
               .r0 = r0, .r1 = r1, .nt = nt };
    if (ok && guarded(kernel, &c, what))
        ok = 0;
    c.fn.gemm = fn;
    c.out = yp[1];
    if (ok && guarded(kernel, &c, what))
        ok = 0;
    for (int64_t i = r0; ok && i < r1; i += PLUMB_R8) {
        c.out = yp[2];
        c.r0 = i;
        c.r1 = i + PLUMB_R8;
        if (guarded(kernel, &c, what))
            ok = 0;
    }
    for (int64_t k = 0; ok && k < nt; k++) {
        c.in1 = ap + k;
        c.out = yp[3] + k;
        c.r0 = r0;
        c.r1 = r1;
        c.nt = 1;
        if (guarded(kernel, &c, what))
            ok = 0;
    }
    for (int v = 0; ok && v < 4; v++)
        ok = canaries_ok(kernel, &ybuf[v], what);
    for (int64_t k = 0; ok && k < nt; k++) {
        for (int64_t i = 0; ok && i < rows; i++) {
            const float e = yp[0][k][i], g = yp[1][k][i];
            if (i < r0 || i >= r1) {
                const uint32_t poison = 0x01010101u * CD_POISON;
                for (int v = 0; v < 4; v++)
                    if (cd_bits(yp[v][k][i]) != poison) {
                        fail(kernel, "%s: wrote y[%" PRId64 "][%" PRId64 "], outside rows %" PRId64 "..%" PRId64, what,
                             k, i, r0, r1);
                        ok = 0;
                        break;
                    }
                continue;
            }
            if (cd_bits(g) != cd_bits(e) || cd_bits(g) != cd_bits(yp[2][k][i]) || cd_bits(g) != cd_bits(yp[3][k][i])) {
                fail(kernel, "%s: y[%" PRId64 "][%" PRId64 "]: C %.9g; whole range %.9g, by groups %.9g, by tokens %.9g",
                     what, k, i, e, g, yp[2][k][i], yp[3][k][i]);
                ok = 0;
                break;
            }
            const void *row = rowsq + (size_t)i * rs, *a = a8 + (size_t)k * brs;
            float d = 0.0f;
            ref.vec_dot[base](n, &d, row, a);
            const double tol = DOT_EPS * dot_magnitude(base, bact, row, a, n) + DOT_ABS;
            if (!(fabs((double)e - (double)d) <= tol) && !(isnan(e) && isnan(d))) {
                fail(kernel, "%s: y[%" PRId64 "][%" PRId64 "]: %s vec_dot gives %.9g, the definition %.9g", what, k,
                     i, plumb_qtype_name((uint32_t)base), d, e);
                ok = 0;
            }
        }
    }
    for (int v = 0; v < 4; v++) {
        cd_buf_free(&ybuf[v]);
        free(yp[v]);
    }
    cd_buf_free(&w);
    cd_buf_free(&abuf);
    free(rowsq);
    free(back);
    free(a8);
    free(xf);
    free(ap);
}

static void check_gemm_r8(int t, PlumbGemmFn fn)
{
    char kernel[64];
    static const int64_t blocks[] = { 1, 3, 8, 64 };
    static const int64_t groups[] = { 1, 2, 3, 5 };
    const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
    const size_t n_blocks = tr->blck > PLUMB_QK ? 3 : 4; /* K types: up to 8 super-blocks */
    static const int64_t tokens[] = { 1, 2, 3, 4, 5, 7, 9 };
    snprintf(kernel, sizeof kernel, "gemm %s", plumb_qtype_name((uint32_t)t));
    if (!wanted(kernel))
        return;
    begin_kernel(kernel);
    for (size_t bi = 0; bi < n_blocks; bi++)
        for (size_t gi = 0; gi < sizeof groups / sizeof groups[0]; gi++)
            for (size_t ti = 0; ti < sizeof tokens / sizeof tokens[0]; ti++) {
                const int ws = (bi + gi + ti) % 5 == 4 ? (int)((gi + ti) % W_NSHAPES) : W_RANDOM;
                gemm_r8_case(kernel, t, fn, blocks[bi] * tr->blck, groups[gi], tokens[ti], ws);
            }
}

/* ------------------------------------------------------------ attention */

/*
 * attn[key type], with each value type: m, l and acc of nq query heads over
 * nk key/value rows, the inputs made by the C quantisers from random floats,
 * against a double-precision evaluation of the same dequantised numbers
 * (queries, keys and values through the C to_float; scores, exp, sums in
 * double).  With O = the exact softmax-weighted sum of the value rows and
 * LSE = log(sum of exp(score)) per head:
 *  - acc / l within ATTN_EPS * max|O| of O, element by element;
 *  - log(l) + m within ATTN_EPS * max(1, |LSE|) of LSE, and m within the
 *    same of the exact largest score (the scores are about 1 in size, so
 *    the floor of 1 keeps a tiny LSE from asking for more than the scores'
 *    own float rounding);
 *  - nothing written outside m, l, acc (which start as poison: they are
 *    outputs only);
 *  - the same bits again with every buffer at another address.
 * Score shapes: a standard deviation of about 1, of about 5 (peaked
 * weights), keys rising along the queries' common direction with the
 * largest score last (the maximum rises tile after tile: the rescaling
 * path), and all keys equal (equal scores: the mean of the values).
 */
#define ATTN_EPS 1e-4

enum { AT_STD1, AT_STD5, AT_RISING, AT_EQUAL, AT_NSHAPES };
static const char *const attn_shape_names[] = { "scores std 1", "scores std 5", "largest score last",
                                                "equal scores" };
static const uint32_t attn_types[] = { PLUMB_QTYPE_F32, PLUMB_QTYPE_F16, PLUMB_QTYPE_Q8_0, PLUMB_QTYPE_Q4_0 };
#define N_ATTN_TYPES (sizeof attn_types / sizeof attn_types[0])

/* n rows of type t at p (stride bytes apart), dequantised by C into y
 * ([n][hd] doubles). */
static void attn_rows_double(uint32_t t, const uint8_t *p, uint64_t stride, int64_t n, int64_t hd, double *y)
{
    float *tmp = xmalloc((size_t)hd * sizeof *tmp);
    for (int64_t j = 0; j < n; j++) {
        ref.to_float[t](p + (uint64_t)j * stride, tmp, hd);
        for (int64_t d = 0; d < hd; d++)
            y[j * hd + d] = tmp[d];
    }
    free(tmp);
}

/* A copy of b's region in a new buffer at misalignment off. */
static void attn_copy(CdBuf *dst, const CdBuf *src, size_t off)
{
    buf(dst, src->len, off, 0);
    memcpy(dst->p, src->p, src->len);
}

/* About standard normal, cheaply (the sum of four uniforms, scaled to
 * variance 1): the attention cases draw a few million. */
static float attn_normal(CdRng *r)
{
    const uint64_t u = cd_rand(r);
    const int32_t sum = (int32_t)(u & 0xffff) + (int32_t)((u >> 16) & 0xffff) + (int32_t)((u >> 32) & 0xffff) +
                        (int32_t)(u >> 48);
    return (float)((sum - 131070) * (1.7320508075688772 / 65536.0));
}

static void attn_case(const char *kernel, PlumbAttnFn fn, uint32_t kt, uint32_t vt, int64_t hd, int64_t nq,
                      int64_t nk, int shape, int ci)
{
    char what[200];
    const uint32_t at = (uint32_t)plumb_qtype_traits(kt)->act;
    const size_t qrs = plumb_qtype_row_size(at, (uint64_t)hd), krs = plumb_qtype_row_size(kt, (uint64_t)hd);
    const size_t vrs = plumb_qtype_row_size(vt, (uint64_t)hd);
    /* rows wider than their data now and then, as cache rows may be */
    const uint64_t qst = qrs + align_of((int)at) * (size_t)(ci % 3);
    const uint64_t kst = krs + align_of((int)kt) * (size_t)(ci % 2) * 3;
    const uint64_t vst = vrs + align_of((int)vt) * (size_t)((ci + 1) % 3);
    const float scale = (shape == AT_STD5 ? 5.0f : 1.0f) / sqrtf((float)hd);
    CdRng r = case_rng();
    float *x = xmalloc((size_t)hd * sizeof *x), *dir = xmalloc((size_t)hd * sizeof *dir);
    double *qd = xmalloc((size_t)(nq * hd) * sizeof *qd), *kd = xmalloc((size_t)(nk * hd) * sizeof *kd);
    double *vd = xmalloc((size_t)(nk * hd) * sizeof *vd), *sd = xmalloc((size_t)nk * sizeof *sd);
    double *od = xmalloc((size_t)(nq * hd) * sizeof *od), *lse = xmalloc((size_t)nq * sizeof *lse);
    double *mx = xmalloc((size_t)nq * sizeof *mx);
    CdBuf qb, kb, vb, mb, lb, ab;

    snprintf(what, sizeof what, "hd=%" PRId64 " nq=%" PRId64 " nk=%" PRId64 " v=%s, %s, strides %" PRIu64 "/%" PRIu64
             "/%" PRIu64, hd, nq, nk, plumb_qtype_name(vt), attn_shape_names[shape], qst, kst, vst);
    for (int64_t d = 0; d < hd; d++)
        dir[d] = attn_normal(&r);
    buf(&qb, qst * (size_t)nq, align_of((int)at) * (size_t)(ci % 4), 0);
    for (int64_t i = 0; i < nq; i++) {
        for (int64_t d = 0; d < hd; d++)
            x[d] = shape == AT_RISING ? dir[d] + 0.5f * attn_normal(&r) : attn_normal(&r);
        ref.from_float[at](x, qb.p + (size_t)i * qst, hd);
    }
    buf(&kb, kst * (size_t)nk, align_of((int)kt) * (size_t)((ci + 1) % 4), 0);
    for (int64_t j = 0; j < nk; j++) {
        uint8_t *row = kb.p + (size_t)j * kst;
        if (shape == AT_EQUAL && j > 0) {
            memcpy(row, kb.p, krs);
            continue;
        }
        const float w = j == nk - 1 ? 2.0f : 1.5f * (float)j / (float)nk; /* rising: the weight of dir */
        for (int64_t d = 0; d < hd; d++)
            x[d] = shape == AT_RISING ? w * dir[d] + 0.5f * attn_normal(&r) : attn_normal(&r);
        ref.from_float[kt](x, row, hd);
    }
    buf(&vb, vst * (size_t)nk, align_of((int)vt) * (size_t)((ci + 2) % 4), 0);
    for (int64_t j = 0; j < nk; j++) {
        for (int64_t d = 0; d < hd; d++)
            x[d] = attn_normal(&r);
        ref.from_float[vt](x, vb.p + (size_t)j * vst, hd);
    }

    /* the exact evaluation */
    attn_rows_double(at, qb.p, qst, nq, hd, qd);
    attn_rows_double(kt, kb.p, kst, nk, hd, kd);
    attn_rows_double(vt, vb.p, vst, nk, hd, vd);
    for (int64_t i = 0; i < nq; i++) {
        double m = -INFINITY, l = 0.0;
        for (int64_t j = 0; j < nk; j++) {
            double s[4] = { 0.0, 0.0, 0.0, 0.0 }; /* four chains: the dots are most of the time */
            int64_t d = 0;
            for (; d + 4 <= hd; d += 4)
                for (int e = 0; e < 4; e++)
                    s[e] += qd[i * hd + d + e] * kd[j * hd + d + e];
            for (; d < hd; d++)
                s[0] += qd[i * hd + d] * kd[j * hd + d];
            sd[j] = (s[0] + s[1] + s[2] + s[3]) * (double)scale;
            m = sd[j] > m ? sd[j] : m;
        }
        for (int64_t d = 0; d < hd; d++)
            od[i * hd + d] = 0.0;
        for (int64_t j = 0; j < nk; j++) {
            const double p = exp(sd[j] - m);
            double *restrict o = od + i * hd;
            const double *restrict vj = vd + j * hd;
            l += p;
            for (int64_t d = 0; d < hd; d++)
                o[d] += p * vj[d];
        }
        for (int64_t d = 0; d < hd; d++)
            od[i * hd + d] /= l;
        mx[i] = m;
        lse[i] = m + log(l);
    }

    buf(&mb, (size_t)nq * 4, 4 * (size_t)(ci % 3), CD_POISON);
    buf(&lb, (size_t)nq * 4, 4 * (size_t)((ci + 1) % 3), CD_POISON);
    buf(&ab, (size_t)(nq * hd) * 4, 4 * (size_t)((ci + 2) % 3), CD_POISON);
    PlumbAttnArgs a = { .hd = hd, .nq = nq, .q = qb.p, .q_stride = qst, .k = kb.p, .k_stride = kst, .v_type = vt,
                        .v = vb.p, .v_stride = vst, .nk = nk, .scale = scale, .m = (float *)mb.p,
                        .l = (float *)lb.p, .acc = (float *)ab.p };
    Call c = { .kind = K_ATTN, .fn.attn = fn, .in0 = &a };
    cases_run++;
    if (!guarded(kernel, &c, what) && canaries_ok(kernel, &mb, what) && canaries_ok(kernel, &lb, what) &&
        canaries_ok(kernel, &ab, what)) {
        int ok = 1;
        for (int64_t i = 0; i < nq && ok; i++) {
            float m, l;
            double omax = 0.0;
            memcpy(&m, mb.p + 4 * i, 4);
            memcpy(&l, lb.p + 4 * i, 4);
            const double tol = ATTN_EPS * (fabs(lse[i]) > 1.0 ? fabs(lse[i]) : 1.0);
            const double got = (double)m + log((double)l);
            if (!(fabs(got - lse[i]) <= tol) || !(fabs((double)m - mx[i]) <= tol)) {
                fail(kernel, "%s: head %" PRId64 ": m %.9g, log(l) + m %.9g; expected the largest score %.9g, "
                     "log-sum-exp %.9g (bound %.3g)", what, i, m, got, mx[i], lse[i], tol);
                ok = 0;
                break;
            }
            for (int64_t d = 0; d < hd; d++)
                omax = fabs(od[i * hd + d]) > omax ? fabs(od[i * hd + d]) : omax;
            for (int64_t d = 0; d < hd; d++) {
                float acc;
                memcpy(&acc, ab.p + 4 * (size_t)(i * hd + d), 4);
                const double o = (double)acc / (double)l, e = od[i * hd + d];
                if (!(fabs(o - e) <= ATTN_EPS * omax)) {
                    fail(kernel, "%s: head %" PRId64 " element %" PRId64 ": acc / l %.9g, expected %.9g "
                         "(bound %.3g)", what, i, d, o, e, ATTN_EPS * omax);
                    ok = 0;
                    break;
                }
            }
        }
        if (ok) {
            /* the same call with every buffer elsewhere: the same bits */
            CdBuf q2, k2, v2, m2, l2, a2;
            attn_copy(&q2, &qb, qb.off + align_of((int)at));
            attn_copy(&k2, &kb, (kb.off + 2 * align_of((int)kt)) % 64);
            attn_copy(&v2, &vb, (vb.off + 20) % 64);
            buf(&m2, mb.len, (mb.off + 4) % 64, CD_POISON);
            buf(&l2, lb.len, (lb.off + 8) % 64, CD_POISON);
            buf(&a2, ab.len, (ab.off + 28) % 64, CD_POISON);
            PlumbAttnArgs a2args = a;
            a2args.q = q2.p;
            a2args.k = k2.p;
            a2args.v = v2.p;
            a2args.m = (float *)m2.p;
            a2args.l = (float *)l2.p;
            a2args.acc = (float *)a2.p;
            c.in0 = &a2args;
            if (!guarded(kernel, &c, what) && canaries_ok(kernel, &m2, what) && canaries_ok(kernel, &l2, what) &&
                canaries_ok(kernel, &a2, what) &&
                (memcmp(m2.p, mb.p, mb.len) || memcmp(l2.p, lb.p, lb.len) || memcmp(a2.p, ab.p, ab.len)))
                fail(kernel, "%s: other addresses gave other bits", what);
            cd_buf_free(&q2);
            cd_buf_free(&k2);
            cd_buf_free(&v2);
            cd_buf_free(&m2);
            cd_buf_free(&l2);
            cd_buf_free(&a2);
        }
    }
    cd_buf_free(&qb);
    cd_buf_free(&kb);
    cd_buf_free(&vb);
    cd_buf_free(&mb);
    cd_buf_free(&lb);
    cd_buf_free(&ab);
    free(x);
    free(dir);
    free(qd);
    free(kd);
    free(vd);
    free(sd);
    free(od);
    free(lse);
    free(mx);
}

/* attn[kt] with every value type; one kernel name per pair
 * ("attn k=Q8_0 v=F16").  every > 1 runs only every every-th case of the
 * matrix (for the slow scalar C definition). */
static void check_attn(uint32_t kt, PlumbAttnFn fn, int every)
{
    static const int64_t hds[] = { 32, 64, 128, 256 };
    static const int64_t hds_float[] = { 3, 8, 72 }; /* F32 / F16 keys and values only: no blocks */
    static const int64_t nqs[] = { 1, 3, 8, 16 };
    static const int64_t nks[] = { 1, 2, 31, 32, 33, 100, 256, 300 };
    char kernel[64];
    for (size_t vi = 0; vi < N_ATTN_TYPES; vi++) {
        const uint32_t vt = attn_types[vi];
        const int floats = is_float_type((int)kt) && is_float_type((int)vt);
        snprintf(kernel, sizeof kernel, "attn k=%s v=%s", plumb_qtype_name(kt), plumb_qtype_name(vt));
        if (!wanted(kernel))
            continue;
        begin_kernel(kernel);
        int ci = 0;
        const size_t nh = sizeof hds / sizeof hds[0], nhf = sizeof hds_float / sizeof hds_float[0];
        for (size_t hi = 0; hi < nh + (floats ? nhf : 0); hi++) {
            const int64_t hd = hi < nh ? hds[hi] : hds_float[hi - nh];
            for (size_t qi = 0; qi < sizeof nqs / sizeof nqs[0]; qi++)
                for (size_t ki = 0; ki < sizeof nks / sizeof nks[0]; ki++)
                    for (int s = 0; s < AT_NSHAPES; s++, ci++)
                        if (ci % every == 0)
                            attn_case(kernel, fn, kt, vt, hd, nqs[qi], nks[ki], s, ci);
        }
    }
}

/* ------------------------------------------------------------ one tier */

/* A kernel is checked when its entry differs from C's and from every tier
 * already checked (an inherited entry was checked with its own tier). */
#define MAX_SEEN 512
static const void *seen[MAX_SEEN];
static int n_seen;

static int fresh(const void *tier_fn, const void *c_fn, const char *slot)
{
    if (!tier_fn) {
        if (c_fn && strncmp(slot, "gemm", 4) != 0) /* a NULL gemm means: loop over vec_dot */
            fail(slot, "entry is NULL where the C tier has a kernel");
        return 0;
    }
    if (tier_fn == c_fn)
        return 0;
    for (int i = 0; i < n_seen; i++)
        if (seen[i] == tier_fn)
            return 0;
    if (n_seen < MAX_SEEN)
        seen[n_seen++] = tier_fn;
    return 1;
}

#define FRESH(field, slot) fresh((const void *)d.field, (const void *)ref.field, slot)

static void check_tier(unsigned flags)
{
    PlumbDsp d;
    char slot[64];
    plumb_dsp_init(&d, flags);
    for (int t = 0; t < PLUMB_QTYPE_COUNT; t++) {
        const char *tn = plumb_qtype_name((uint32_t)t);
        snprintf(slot, sizeof slot, "to_float %s", tn);
        if (FRESH(to_float[t], slot))
            check_to_float(t, d.to_float[t]);
        snprintf(slot, sizeof slot, "from_float %s", tn);
        if (FRESH(from_float[t], slot))
            check_from_float(t, d.from_float[t]);
        snprintf(slot, sizeof slot, "vec_dot %s", tn);
        if (FRESH(vec_dot[t], slot))
            check_vec_dot(t, d.vec_dot[t]);
        snprintf(slot, sizeof slot, "gemm %s", tn);
        if (plumb_qtype_traits((uint32_t)t) && plumb_qtype_traits((uint32_t)t)->rows > 1) {
            /* interleaved types: the C definition is checked on the C tier */
            if (flags == 0 || FRESH(gemm[t], slot))
                check_gemm_r8(t, d.gemm[t]);
        } else if (FRESH(gemm[t], slot))
            check_gemm(t, d.gemm[t]);
    }
    if (FRESH(rmsnorm, "rmsnorm"))
        check_rmsnorm(d.rmsnorm);
    if (FRESH(rope_neox, "rope_neox"))
        check_rope(d.rope_neox);
    if (FRESH(softmax, "softmax"))
        check_softmax(d.softmax);
    if (FRESH(swiglu, "swiglu"))
        check_swiglu(d.swiglu);
    if (FRESH(dot_f32, "dot_f32"))
        check_dot_f32(d.dot_f32);
    {
        const int fa = FRESH(axpy, "axpy"), fs = FRESH(scale, "scale");
        if (fa || fs)
            check_axpy_scale(fa ? d.axpy : NULL, fs ? d.scale : NULL);
    }
    if (FRESH(topk, "topk"))
        check_topk(d.topk);
    for (int t = 0; t < PLUMB_QTYPE_COUNT; t++) {
        snprintf(slot, sizeof slot, "mix %s", plumb_qtype_name((uint32_t)t));
        if (FRESH(mix[t], slot))
            check_mix(t, d.mix[t]);
    }
    for (size_t i = 0; i < N_ATTN_TYPES; i++) {
        /* the C definition is held to the exact evaluation too, on every
         * fifth case (the scalar kernel is slow) */
        const uint32_t t = attn_types[i];
        snprintf(slot, sizeof slot, "attn %s", plumb_qtype_name(t));
        if (flags == 0)
            check_attn(t, d.attn[t], 5);
        else if (FRESH(attn[t], slot))
            check_attn(t, d.attn[t], 1);
    }
}

/* ------------------------------------------------------------ bench */

#define MAX_BENCH_TIERS 8
#define MAX_ROWS 256

typedef struct BenchRow {
    char name[48];                    /* kernel and size */
    double ticks[MAX_BENCH_TIERS];    /* per call; 0: the tier has no kernel of its own */
} BenchRow;

static BenchRow rows[MAX_ROWS];
static int n_rows;
static int bench_col;                 /* column of the tier being timed */
static const char *bench_cols[MAX_BENCH_TIERS];
static int n_cols;

static BenchRow *bench_row(const char *name)
{
    for (int i = 0; i < n_rows; i++)
        if (strcmp(rows[i].name, name) == 0)
            return &rows[i];
    if (n_rows == MAX_ROWS)
        return NULL;
    snprintf(rows[n_rows].name, sizeof rows[n_rows].name, "%s", name);
    return &rows[n_rows++];
}

/* Minimum over batches of the ticks of one call. */
static double time_call(Call *c)
{
    double best = 1e300;
    int reps = 16;
    /* warm up and size the batch to roughly 20k ticks */
    for (int i = 0; i < 4; i++)
        run_call(c);
    for (;;) {
        uint64_t t0 = cd_ticks();
        for (int i = 0; i < reps; i++)
            run_call(c);
        uint64_t dt = cd_ticks() - t0;
        if (dt > 20000 || reps >= 1 << 16)
            break;
        reps *= 2;
    }
    for (int b = 0; b < 15; b++) {
        uint64_t t0 = cd_ticks();
        for (int i = 0; i < reps; i++)
            run_call(c);
        double per = (double)(cd_ticks() - t0) / reps;
        best = per < best ? per : best;
    }
    return best;
}

static void bench_one(const char *name, Call *c, int own)
{
    if (!wanted(name))
        return;
    BenchRow *row = bench_row(name);
    if (!row)
        return;
    if (!own) {
        row->ticks[bench_col] = 0.0;
        return;
    }
    if (cd_guard(run_call, c)) {
        row->ticks[bench_col] = -1.0;
        return;
    }
    row->ticks[bench_col] = time_call(c);
}

/* The product dsp->gemm computes, as a loop over a vec_dot (loop_dot). */
static PlumbVecDotFn loop_dot;

static void gemm_by_vec_dot(int64_t n, const void *w, uint64_t w_stride, int64_t r0, int64_t r1,
                            const void *const *a, float *const *y, int64_t nt)
{
    for (int64_t r = r0; r < r1; r++)
        for (int64_t t = 0; t < nt; t++)
            loop_dot(n, &y[t][r], (const uint8_t *)w + (uint64_t)r * w_stride, a[t]);
}

static void bench_tier(unsigned flags, int is_c)
{
    PlumbDsp d;
    static const int64_t dot_sizes[] = { 2048, 768 };
    static const int64_t vec_sizes[] = { 2048, 128 };
    char name[64];
    CdRng r = { seed };
    float *xf = xmalloc(2048 * 4), *yf = xmalloc(2048 * 4), *zf = xmalloc(2048 * 4), *of = xmalloc(2048 * 4);
    uint8_t *wq = xmalloc(2048 * 8), *aq = xmalloc(2048 * 8), *oq = xmalloc(2048 * 8);
    int32_t idx[8];
    float s;
    plumb_dsp_init(&d, flags);
    for (int i = 0; i < 2048; i++) {
        xf[i] = cd_normal(&r);
        yf[i] = cd_normal(&r);
        zf[i] = cd_normal(&r);
    }
    for (int t = 0; t < PLUMB_QTYPE_COUNT; t++) {
        const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
        if (!tr || !d.vec_dot[t] || tr->act < 0)
            continue;
        for (int si = 0; si < 2; si++) {
            const int64_t n = dot_sizes[si];
            make_weights(t, wq, n, W_RANDOM, &r);
            ref.from_float[tr->act](xf, aq, n);
            snprintf(name, sizeof name, "vec_dot %s %" PRId64, tr->name, n);
            Call c = { .kind = K_DOT, .fn.dot = d.vec_dot[t], .in0 = wq, .in1 = aq, .out = &s, .n = n };
            bench_one(name, &c, is_c || d.vec_dot[t] != ref.vec_dot[t]);
        }
    }
    /* tiled products: 16 rows of 2048 against 4 activation rows */
    for (int t = 0; t < PLUMB_QTYPE_COUNT; t++) {
        const PlumbQTraits *tr = plumb_qtype_traits((uint32_t)t);
        if (!tr || !ref.gemm[t] || tr->act < 0)
            continue;
        const size_t rs = plumb_qtype_row_size((uint32_t)t, 2048), ars = plumb_qtype_row_size((uint32_t)tr->act, 2048);
        uint8_t *gw = xmalloc(16 * rs), *ga = xmalloc(4 * ars);
        float *gy = xmalloc(4 * 16 * sizeof *gy), *gyp[4];
        const void *gap[4];
        if (tr->rows > 1) { /* row-major rows, repacked */
            const PlumbRepackOps *ops = plumb_repack_ops((uint32_t)t);
            const size_t brs = plumb_qtype_row_size(ops->from, 2048);
            uint8_t *tmp = xmalloc(16 * brs);
            for (int i = 0; i < 16; i++)
                make_weights((int)ops->from, tmp + (size_t)i * brs, 2048, W_RANDOM, &r);
            for (int g = 0; g < 16 / PLUMB_R8; g++)
                ops->repack(tmp + (size_t)g * PLUMB_R8 * brs, brs, gw + (size_t)g * PLUMB_R8 * rs, 2048);
            free(tmp);
        } else {
            for (int i = 0; i < 16; i++)
                make_weights(t, gw + (size_t)i * rs, 2048, W_RANDOM, &r);
        }
        for (int k = 0; k < 4; k++) {
            ref.from_float[tr->act](xf, ga + (size_t)k * ars, 2048);
            gap[k] = ga + (size_t)k * ars;
            gyp[k] = gy + 16 * k;
        }
        snprintf(name, sizeof name, "gemm %s 2048 16x4", tr->name);
        Call c = { .kind = K_GEMM, .fn.gemm = d.gemm[t], .in0 = gw, .in1 = gap, .out = gyp, .n = 2048,
                   .stride = rs, .r0 = 0, .r1 = 16, .nt = 4 };
        bench_one(name, &c, d.gemm[t] && (is_c || d.gemm[t] != ref.gemm[t]));
        /* one token, as in decoding */
        snprintf(name, sizeof name, "gemm %s 2048 16x1", tr->name);
        c.nt = 1;
        bench_one(name, &c, d.gemm[t] && (is_c || d.gemm[t] != ref.gemm[t]));
        c.nt = 4;
        {
            /* one token over 256 rows, the size of a decode work item */
            uint8_t *bw = xmalloc(256 * rs);
            float *by = xmalloc(256 * sizeof *by), *byp[1] = { by };
            for (int i = 0; i < 16; i++)
                memcpy(bw + (size_t)i * 16 * rs, gw, 16 * rs);
            Call b1 = c;
            b1.in0 = bw;
            b1.out = byp;
            b1.r1 = 256;
            b1.nt = 1;
            snprintf(name, sizeof name, "gemm %s 2048 256x1", tr->name);
            bench_one(name, &b1, d.gemm[t] && (is_c || d.gemm[t] != ref.gemm[t]));
            free(bw);
            free(by);
        }
        /* what a caller without the tier's gemm does: the tier's vec_dot per (row, token) */
        if (d.vec_dot[t]) {
            snprintf(name, sizeof name, "gemm %s as vec_dots", tr->name);
            loop_dot = d.vec_dot[t];
            c.fn.gemm = gemm_by_vec_dot;
            bench_one(name, &c, is_c || d.vec_dot[t] != ref.vec_dot[t]);
        }
        free(gw);
        free(ga);
        free(gy);
    }
    {
        /* attention's probabilities x values: 8 heads, 128 columns, 256 positions (strided as the cache) */
        float *mp = xmalloc(8 * 256 * sizeof *mp), *mv = xmalloc(256 * 512 * sizeof *mv), *mo = xmalloc(8 * 128 * sizeof *mo);
        for (int i = 0; i < 8 * 256; i++)
            mp[i] = cd_unif(&r);
        for (int i = 0; i < 256 * 512; i++)
            mv[i] = cd_normal(&r);
        Call c = { .kind = K_MIX, .fn.mix = d.mix[PLUMB_QTYPE_F32], .out = mo, .in0 = mp, .in1 = mv, .n = 128, .r1 = 8,
                   .nt = 256, .s0 = 128, .s1 = 256, .s2 = 512 };
        bench_one("mix_f32 8x128 of 256", &c, is_c || d.mix[PLUMB_QTYPE_F32] != ref.mix[PLUMB_QTYPE_F32]);
        c.fn.mix = d.mix[PLUMB_QTYPE_F16];
        c.in1 = fp16_in_place(mv, 256 * 512);
        bench_one("mix_f16 8x128 of 256", &c, is_c || d.mix[PLUMB_QTYPE_F16] != ref.mix[PLUMB_QTYPE_F16]);
        free(mp);
        free(mv);
        free(mo);
    }
    {
        /* fused attention: 8 query heads of 128 against one page of 256 rows, keys and values of one type */
        static const uint32_t bt[] = { PLUMB_QTYPE_Q8_0, PLUMB_QTYPE_F16, PLUMB_QTYPE_Q4_0, PLUMB_QTYPE_F32 };
        float *row = xmalloc(128 * sizeof *row), *am = xmalloc(8 * sizeof *am), *al = xmalloc(8 * sizeof *al);
        float *aacc = xmalloc(8 * 128 * sizeof *aacc);
        for (size_t bi = 0; bi < sizeof bt / sizeof bt[0]; bi++) {
            const uint32_t t = bt[bi], at = (uint32_t)plumb_qtype_traits(t)->act;
            const size_t rs = plumb_qtype_row_size(t, 128), ars = plumb_qtype_row_size(at, 128);
            uint8_t *qa = xmalloc(8 * ars), *ak = xmalloc(256 * rs), *av = xmalloc(256 * rs);
            for (int i = 0; i < 8; i++) {
                for (int e = 0; e < 128; e++)
                    row[e] = cd_normal(&r);
                ref.from_float[at](row, qa + (size_t)i * ars, 128);
            }
            for (int j = 0; j < 256; j++) {
                for (int e = 0; e < 128; e++)
                    row[e] = cd_normal(&r);
                ref.from_float[t](row, ak + (size_t)j * rs, 128);
                for (int e = 0; e < 128; e++)
                    row[e] = cd_normal(&r);
                ref.from_float[t](row, av + (size_t)j * rs, 128);
            }
            PlumbAttnArgs args = { .hd = 128, .nq = 8, .q = qa, .q_stride = ars, .k = ak, .k_stride = rs,
                                   .v_type = t, .v = av, .v_stride = rs, .nk = 256, .scale = 0.0883883f,
                                   .m = am, .l = al, .acc = aacc };
            Call c = { .kind = K_ATTN, .fn.attn = d.attn[t], .in0 = &args };
            snprintf(name, sizeof name, "attn %s 8x128 of 256", plumb_qtype_name(t));
            bench_one(name, &c, is_c || d.attn[t] != ref.attn[t]);
            free(qa);
            free(ak);
            free(av);
        }
        free(row);
        free(am);
        free(al);
        free(aacc);
    }
    for (int t = 0; t < PLUMB_QTYPE_COUNT; t++) {
        if (d.from_float[t]) {
            snprintf(name, sizeof name, "from_float %s 2048", plumb_qtype_name((uint32_t)t));
            Call c = { .kind = K_FROMF, .fn.fromf = d.from_float[t], .in0 = xf, .out = oq, .n = 2048 };
            bench_one(name, &c, is_c || d.from_float[t] != ref.from_float[t]);
        }
        if (d.to_float[t]) {
            make_weights(t, wq, 2048, W_RANDOM, &r);
            snprintf(name, sizeof name, "to_float %s 2048", plumb_qtype_name((uint32_t)t));
            Call c = { .kind = K_TOF, .fn.tof = d.to_float[t], .in0 = wq, .out = of, .n = 2048 };
            bench_one(name, &c, is_c || d.to_float[t] != ref.to_float[t]);
        }
    }
    for (int si = 0; si < 2; si++) {
        const int64_t n = vec_sizes[si];
        Call c;
        snprintf(name, sizeof name, "rmsnorm %" PRId64, n);
        c = (Call){ .kind = K_RMS, .fn.rmsnorm = d.rmsnorm, .in0 = xf, .in1 = yf, .out = of, .n = n, .f = 1e-6f };
        bench_one(name, &c, is_c || d.rmsnorm != ref.rmsnorm);
        snprintf(name, sizeof name, "rope_neox %" PRId64, n);
        memcpy(of, xf, (size_t)n * 4);
        c = (Call){ .kind = K_ROPE, .fn.rope = d.rope_neox, .in0 = yf, .in1 = zf, .out = of, .n = n };
        bench_one(name, &c, is_c || d.rope_neox != ref.rope_neox);
        /* softmax of its own output stays finite: a fixed point in [0, 1] */
        snprintf(name, sizeof name, "softmax %" PRId64, n);
        memcpy(of, xf, (size_t)n * 4);
        c = (Call){ .kind = K_SOFTMAX, .fn.softmax = d.softmax, .out = of, .n = n };
        bench_one(name, &c, is_c || d.softmax != ref.softmax);
        snprintf(name, sizeof name, "swiglu %" PRId64, n);
        c = (Call){ .kind = K_SWIGLU, .fn.swiglu = d.swiglu, .in0 = xf, .in1 = yf, .out = of, .n = n };
        bench_one(name, &c, is_c || d.swiglu != ref.swiglu);
        snprintf(name, sizeof name, "dot_f32 %" PRId64, n);
        c = (Call){ .kind = K_DOTF, .fn.dotf = d.dot_f32, .in0 = xf, .in1 = yf, .n = n };
        bench_one(name, &c, is_c || d.dot_f32 != ref.dot_f32);
        snprintf(name, sizeof name, "axpy %" PRId64, n);
        memset(of, 0, (size_t)n * 4);
        c = (Call){ .kind = K_AXPY, .fn.axpy = d.axpy, .in0 = xf, .out = of, .n = n, .f = 1e-3f };
        bench_one(name, &c, is_c || d.axpy != ref.axpy);
        snprintf(name, sizeof name, "scale %" PRId64, n);
        memcpy(of, xf, (size_t)n * 4);
        c = (Call){ .kind = K_SCALE, .fn.scale = d.scale, .out = of, .n = n, .f = 1.0f };
        bench_one(name, &c, is_c || d.scale != ref.scale);
    }
    {
        Call c = { .kind = K_TOPK, .fn.topk = d.topk, .in0 = xf, .n = 128, .k = 8, .out = idx };
        bench_one("topk 128 k=8", &c, is_c || d.topk != ref.topk);
    }
    free(xf);
    free(yf);
    free(zf);
    free(of);
    free(wq);
    free(aq);
    free(oq);
}

static void print_bench(void)
{
    printf("\n%-26s", "kernel, elements");
    for (int c = 0; c < n_cols; c++)
        printf(c ? " %10s %7s" : " %10s", bench_cols[c], "x c");
    printf("\n(%s per call, minimum of 15 batches; '-': no kernel of the tier's own: the C one,\n"
           " or for gemm none, the caller looping over vec_dot)\n", CD_TICK_UNIT);
    for (int i = 0; i < n_rows; i++) {
        printf("%-26s", rows[i].name);
        for (int c = 0; c < n_cols; c++) {
            const double t = rows[i].ticks[c];
            if (t < 0)
                printf(" %10s", "crashed");
            else if (t == 0)
                printf(" %10s", "-");
            else
                printf(" %10.0f", t);
            if (c) {
                if (t > 0 && rows[i].ticks[0] > 0)
                    printf(" %6.2fx", rows[i].ticks[0] / t);
                else
                    printf(" %7s", "");
            }
        }
        putchar('\n');
    }
}

/* ------------------------------------------------------------ main */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: checkdsp [--seed N] [--tier NAME] [--kernel SUBSTR] [--bench] [--help]\n"
            "Check every kernel of each CPU tier against the C references; exit 0 when all pass.\n"
            "  --seed N         seed of the random inputs (default %" PRIu64 ")\n"
            "  --tier NAME      only this tier: c, avx2, avxvnni, avx512, avx512vnni, neon, dotprod\n"
            "  --kernel SUBSTR  only kernels whose name contains SUBSTR (e.g. \"vec_dot Q4_K\")\n"
            "  --bench          also time each kernel and print the speed-up over C\n"
            "  --help           this text\n",
            seed);
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    int bench = 0;
    unsigned have, built;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            char *end;
            seed = strtoull(argv[++i], &end, 0);
            if (*end) {
                fprintf(stderr, "checkdsp: --seed: not a number: %s\n", argv[i]);
                return 2;
            }
        } else if (strcmp(argv[i], "--tier") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else if (strcmp(argv[i], "--kernel") == 0 && i + 1 < argc) {
            kernel_filter = argv[++i];
        } else if (strcmp(argv[i], "--bench") == 0) {
            bench = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "checkdsp: unknown option: %s\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (only) {
        size_t i;
        for (i = 0; i < plumb_cpu_n_tiers && strcmp(plumb_cpu_tiers[i].name, only) != 0; i++)
            ;
        if (i == plumb_cpu_n_tiers) {
            fprintf(stderr, "checkdsp: --tier: unknown tier '%s'\n", only);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    cd_guard_install();
    plumb_dsp_init_c(&ref);
    have = plumb_cpu_detect();
    built = plumb_cpu_built();
    printf("checkdsp: seed %" PRIu64 "\n", seed);

    for (size_t i = 0; i < plumb_cpu_n_tiers; i++) {
        const unsigned f = plumb_cpu_tiers[i].flags;
        char lack[128];
        if (only && strcmp(only, plumb_cpu_tiers[i].name) != 0 && !(bench && i == 0))
            continue;
        tier_name = plumb_cpu_tiers[i].name;
        if ((f & built) != f) {
            printf("%-11s skipped (not built)\n", tier_name);
            continue;
        }
        if ((f & have) != f) {
            plumb_cpu_describe(f & ~have, lack, sizeof lack);
            printf("%-11s skipped (CPU lacks %s)\n", tier_name, lack);
            continue;
        }
        const int f0 = failures, k0 = kernels_checked, c0 = cases_run;
        if (!only || strcmp(only, tier_name) == 0)
            check_tier(f); /* on the C tier: the definitions that are not a loop over vec_dot */
        printf("%-11s %s: %d kernels, %d cases%s\n", tier_name, failures == f0 ? "ok" : "FAILED",
               kernels_checked - k0, cases_run - c0, i == 0 ? " (the reference)" : "");
        if (bench && n_cols < MAX_BENCH_TIERS) {
            bench_cols[n_cols] = tier_name;
            bench_col = n_cols++;
            bench_tier(f, i == 0);
        }
    }
    if (bench)
        print_bench();
    printf("checkdsp: %d kernels checked, %d cases, %d failures\n", kernels_checked, cases_run, failures);
    return failures ? 1 : 0;
}
