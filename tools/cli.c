/* cli.c — shared helpers of the plumb subcommands: the option parser, the
 * --help text, messages, standard output checks (see cli.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>

#include "cli.h"
#include "err.h"
#include "outfile.h"
#include "repack.h"

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fputs("plumb: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

int cli_fail(const PlumbError *e)
{
    cli_error("%s", e->msg[0] ? e->msg : plumb_strerror(e->code));
    return 1;
}

int cli_usage_error(const CliCmd *cmd, const char *fmt, ...)
{
    va_list ap;
    const char *sp = cmd->name[0] ? " " : "";
    fprintf(stderr, "plumb: %s%s", cmd->name, cmd->name[0] ? ": " : "");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\nusage: plumb%s%s %s\n(see 'plumb%s%s --help')\n", sp, cmd->name,
            cmd->synopsis, sp, cmd->name);
    return CLI_USAGE;
}

/* ------------------------------------------------------------ option values */

/* Does the name list "-m, --model" hold the spelling a (n bytes)? */
static int has_name(const char *names, const char *a, size_t n)
{
    const char *p = names;
    while (p && *p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len == n && memcmp(p, a, n) == 0)
            return 1;
        p = comma ? comma + 1 : NULL;
        while (p && *p == ' ')
            p++;
    }
    return 0;
}

/* Is s one of the "|"-separated choices (any case)? */
static int is_choice(const char *choices, const char *s)
{
    const char *p = choices;
    size_t n = strlen(s);
    while (p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && n && strncasecmp(p, s, n) == 0)
            return 1;
        p = bar ? bar + 1 : NULL;
    }
    return 0;
}

/* "a, b or c" from "a|b|c" */
static void choices_text(const char *choices, char *buf, size_t cap)
{
    size_t n = 0;
    const char *p = choices;
    buf[0] = '\0';
    while (p && n < cap) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        const char *sep = p == choices ? "" : bar ? ", " : " or ";
        int k = snprintf(buf + n, cap - n, "%s%.*s", sep, (int)len, p);
        if (k < 0)
            break;
        n += (size_t)k;
        p = bar ? bar + 1 : NULL;
    }
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (!*s || errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!*s || *s == '-' || *s == '+' || *s == ' ')
        return -1;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end)
        return -1;
    *out = v;
    return 0;
}

/* A seed nobody chose: the kernel's entropy, else the clock and the pid. */
static uint64_t random_seed(void)
{
    uint64_t v = 0;
    FILE *f = fopen("/dev/urandom", "rb");
    if (f) {
        size_t got = fread(&v, sizeof v, 1, f);
        fclose(f);
        if (got == 1)
            return v;
    }
    {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        v = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^
            ((uint64_t)getpid() << 32);
    }
    return v;
}

/* Store the value v of option o (spelled a); prints the reason and returns
 * CLI_USAGE when v is not a value of o. */
static int set_value(const CliCmd *cmd, const CliOpt *o, const char *a, const char *v)
{
    long lv;
    char buf[256];
    switch (o->kind) {
    case CLI_INT:
        if (parse_long(v, (long)o->min, (long)o->max, &lv) < 0)
            return cli_usage_error(cmd, "%s: '%s' is not an integer from %ld to %ld", a, v,
                                   (long)o->min, (long)o->max);
        *(int *)o->dest = (int)lv;
        return 0;
    case CLI_FLOAT: {
        char *end;
        double d;
        errno = 0;
        d = strtod(v, &end);
        if (!*v || errno || *end || !(d >= o->min && d <= o->max))
            return cli_usage_error(cmd, "%s: '%s' is not a number from %g to %g", a, v, o->min,
                                   o->max);
        *(float *)o->dest = (float)d;
        return 0;
    }
    case CLI_U64:
        if (parse_u64(v, (uint64_t *)o->dest) < 0)
            return cli_usage_error(cmd, "%s: '%s' is not an integer from 0 to %llu", a, v,
                                   (unsigned long long)UINT64_MAX);
        return 0;
    case CLI_SEED: {
        CliSeed *seed = o->dest;
        if (strcmp(v, "-1") == 0) {
            seed->value = random_seed();
            seed->random = 1;
        } else if (parse_u64(v, &seed->value) < 0) {
            return cli_usage_error(cmd, "%s: '%s' is not -1 or an integer from 0 to %llu", a, v,
                                   (unsigned long long)UINT64_MAX);
        } else {
            seed->random = 0;
        }
        return 0;
    }
    case CLI_STRING:
        *(const char **)o->dest = v;
        return 0;
    case CLI_CHOICE:
        if (!is_choice(o->choices, v)) {
            choices_text(o->choices, buf, sizeof buf);
            return cli_usage_error(cmd, "%s: '%s' is not one of %s", a, v, buf);
        }
        *(const char **)o->dest = v;
        return 0;
    case CLI_LIST: {
        CliList *list = o->dest;
        const char *p = v;
        int n = 0;
        for (;;) {
            const char *comma = strchr(p, ',');
            size_t len = comma ? (size_t)(comma - p) : strlen(p);
            if (n == CLI_LIST_MAX)
                return cli_usage_error(cmd, "%s: more than %d values", a, CLI_LIST_MAX);
            if (len >= 32 || (memcpy(buf, p, len), buf[len] = '\0',
                              parse_long(buf, (long)o->min, (long)o->max, &lv) < 0))
                return cli_usage_error(cmd, "%s: '%.*s' is not an integer from %ld to %ld", a,
                                       (int)(len < 64 ? len : 64), p, (long)o->min,
                                       (long)o->max);
            list->v[n++] = (int)lv;
            if (!comma)
                break;
            p = comma + 1;
        }
        list->n = n;
        return 0;
    }
    default:
        return 0;
    }
}

int cli_parse(const CliCmd *cmd, int argc, char **argv, const char **args, int *n_args)
{
    int i, rc, options = 1;
    *n_args = 0;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i], *v = NULL, *eq;
        const CliOpt *o;
        size_t n;
        char name[64];
        if (!options || a[0] != '-' || a[1] == '\0') {
            if (*n_args == cmd->max_args)
                return cli_usage_error(cmd, "unexpected argument '%s' (%s)", a,
                                       cmd->operand_hint);
            args[(*n_args)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            options = 0;
            continue;
        }
        /* --name=value */
        eq = a[1] == '-' ? strchr(a, '=') : NULL;
        n = eq ? (size_t)(eq - a) : strlen(a);
        for (o = cmd->opts; o->kind != CLI_END; o++)
            if (has_name(o->names, a, n))
                break;
        snprintf(name, sizeof name, "%.*s", (int)(n < 60 ? n : 60), a);
        if (o->kind == CLI_END)
            return cli_usage_error(cmd, "%s: unknown option", name);
        if (o->seen)
            *o->seen = 1;
        if (o->kind == CLI_HELP) {
            cli_help(cmd, stdout);
            return -1;
        }
        if (o->kind == CLI_FLAG) {
            if (eq)
                return cli_usage_error(cmd, "%s: takes no value", name);
            *(int *)o->dest = 1;
            continue;
        }
        if (eq)
            v = eq + 1;
        else if (i + 1 < argc)
            v = argv[++i];
        else
            return cli_usage_error(cmd, "%s: missing value (%s)", name, o->metavar);
        if ((rc = set_value(cmd, o, name, v)))
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------ help */

#define HELP_WIDTH 79 /* columns of the help text */
#define HELP_COL 28   /* where option descriptions start */

/* Write text wrapped to HELP_WIDTH, continuation lines indented by indent,
 * the first line going on from column col (>= indent), then a newline. */
static void wrap(FILE *f, const char *text, int col, int indent)
{
    const char *p = text;
    while (*p) {
        const char *w = p;
        int len;
        while (*w == ' ')
            w++;
        if (!*w)
            break;
        len = (int)strcspn(w, " ");
        if (col > indent && col + 1 + len > HELP_WIDTH) {
            fprintf(f, "\n%*s", indent, "");
            col = indent;
        } else if (col > indent) {
            fputc(' ', f);
            col++;
        }
        fwrite(w, 1, (size_t)len, f);
        col += len;
        p = w + len;
    }
    fputc('\n', f);
}

/* The text of o's default, into buf ("" when there is none). */
static void default_text(const CliOpt *o, char *buf, size_t cap)
{
    buf[0] = '\0';
    if (o->def) {
        snprintf(buf, cap, "%s", o->def);
        return;
    }
    switch (o->kind) {
    case CLI_INT: snprintf(buf, cap, "%d", *(const int *)o->dest); break;
    case CLI_FLOAT: snprintf(buf, cap, "%g", (double)*(const float *)o->dest); break;
    case CLI_U64: snprintf(buf, cap, "%llu", (unsigned long long)*(const uint64_t *)o->dest); break;
    case CLI_SEED:
        snprintf(buf, cap, "%llu", (unsigned long long)((const CliSeed *)o->dest)->value);
        break;
    case CLI_STRING:
    case CLI_CHOICE:
        if (*(const char *const *)o->dest)
            snprintf(buf, cap, "%s", *(const char *const *)o->dest);
        break;
    case CLI_LIST: {
        const CliList *l = o->dest;
        size_t n = 0;
        for (int i = 0; i < l->n && n < cap; i++) {
            int k = snprintf(buf + n, cap - n, "%s%d", i ? "," : "", l->v[i]);
            if (k < 0)
                break;
            n += (size_t)k;
        }
        break;
    }
    default: break;
    }
}

void cli_help(const CliCmd *cmd, FILE *f)
{
    const CliOpt *o;
    int at = fprintf(f, "usage: plumb %s%s", cmd->name, cmd->name[0] ? " " : "");
    wrap(f, cmd->synopsis, at, at);
    fputc('\n', f);
    wrap(f, cmd->about, 0, 0);
    fputs("\noptions:\n", f);
    for (o = cmd->opts; o->kind != CLI_END; o++) {
        char head[128], text[1024], range[256], def[256];
        int col;
        col = snprintf(head, sizeof head, "%s%s%s%s", o->names[1] == '-' ? "      " : "  ",
                       o->names, o->metavar ? " " : "",
                       o->metavar ? o->metavar : "");
        range[0] = '\0';
        if (o->kind == CLI_INT || o->kind == CLI_LIST)
            snprintf(range, sizeof range, "%ld to %ld", (long)o->min, (long)o->max);
        else if (o->kind == CLI_FLOAT)
            snprintf(range, sizeof range, "%g to %g", o->min, o->max);
        else if (o->kind == CLI_CHOICE)
            choices_text(o->choices, range, sizeof range);
        default_text(o, def, sizeof def);
        snprintf(text, sizeof text, "%s%s%s%s%s%s%s", o->help, range[0] || def[0] ? " (" : "",
                 range, range[0] && def[0] ? "; " : "", def[0] ? "default " : "", def,
                 range[0] || def[0] ? ")" : "");
        fputs(head, f);
        if (col + 2 > HELP_COL) {
            fprintf(f, "\n%*s", HELP_COL, "");
        } else {
            fprintf(f, "%*s", HELP_COL - col, "");
        }
        /* wrap() puts a blank before every word but the first of a line */
        wrap(f, text, HELP_COL, HELP_COL);
    }
    if (cmd->more_help)
        cmd->more_help(f);
}

int cli_kv_params(const CliCmd *cmd, const char *both, const char *k, const char *v, int window,
                  int keep, PlumbSessionParams *sp)
{
    PlumbKVType tk = PLUMB_KV_DEFAULT, tv = PLUMB_KV_DEFAULT;
    PlumbError e = { 0 };
    const char *dk = plumb_kv_type_name(PLUMB_KV_DEFAULT);
    /* a half given alone leaves the other at the default type; with
     * neither, the library's default (which may fall back to f16) */
    if (!k)
        k = both ? both : v ? dk : NULL;
    if (!v)
        v = both ? both : k ? dk : NULL;
    /* the table limits the values to names the library parses */
    if ((k && plumb_kv_type_parse(k, &tk, &e) < 0) || (v && plumb_kv_type_parse(v, &tv, &e) < 0))
        return cli_usage_error(cmd, "%s", e.msg);
    if (keep && !window)
        return cli_usage_error(cmd, "--keep only makes sense with --window");
    sp->kv_type = tk;
    sp->kv_type_v = tv;
    sp->window = window;
    sp->keep = keep;
    return 0;
}

int cli_kv_load(PlumbSession *s, const PlumbModelInfo *in, const char *file, const int32_t *ids,
                size_t n, int add_bos, int32_t **seq, size_t *n_seq, size_t *n_loaded, size_t *n_kept, PlumbError *err)
{
    const int32_t *held;
    size_t n_held, keep = 0, bos;
    int32_t *out;
    int rc;
    *seq = NULL;
    *n_seq = *n_loaded = *n_kept = 0;
    if ((rc = plumb_session_load(s, file, err)) < 0)
        return rc;
    held = plumb_session_tokens(s, &n_held);
    bos = add_bos && in->add_bos && in->bos_id >= 0 && (n == 0 || ids[0] != in->bos_id);
    if (n == 0 && n_held > 0) { /* no prompt: go on from the loaded tokens */
        ids = held;
        n = n_held;
        bos = 0;
    }
    if (!(out = malloc((n + bos + 1) * sizeof *out)))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory for a prompt of %zu tokens", n);
    if (bos)
        out[0] = in->bos_id;
    if (n)
        memcpy(out + bos, ids, n * sizeof *out);
    n += bos;
    while (keep < n_held && keep + 1 < n && held[keep] == out[keep])
        keep++;
    if (plumb_session_truncate(s, keep, err) < 0) {
        plumb_session_reset(s); /* the window dropped what the token at keep needs */
        plumb_err_clear(err);
        keep = 0;
    }
    *seq = out;
    *n_seq = n;
    *n_loaded = n_held;
    *n_kept = keep;
    return PLUMB_OK;
}

size_t cli_unescape(char *s)
{
    char *o = s;
    const char *p = s;
    while (*p) {
        if (*p != '\\' || !p[1]) {
            *o++ = *p++;
            continue;
        }
        switch (p[1]) {
        case 'n': *o++ = '\n'; p += 2; break;
        case 't': *o++ = '\t'; p += 2; break;
        case 'r': *o++ = '\r'; p += 2; break;
        case 'a': *o++ = '\a'; p += 2; break;
        case 'b': *o++ = '\b'; p += 2; break;
        case 'f': *o++ = '\f'; p += 2; break;
        case 'v': *o++ = '\v'; p += 2; break;
        case '\\': *o++ = '\\'; p += 2; break;
        case '"': *o++ = '"'; p += 2; break;
        case '\'': *o++ = '\''; p += 2; break;
        case 'x':
            if (isxdigit((unsigned char)p[2]) && isxdigit((unsigned char)p[3])) {
                char hex[3] = { p[2], p[3], '\0' };
                *o++ = (char)strtol(hex, NULL, 16);
                p += 4;
            } else {
                *o++ = *p++; /* not an escape */
            }
            break;
        default:
            *o++ = *p++;
            break;
        }
    }
    *o = '\0';
    return (size_t)(o - s);
}

/* ------------------------------------------------------------ standard output */

static int stdout_failed; /* the message was printed */

int cli_check_stdout(const char *cmd)
{
    int e;
    if (stdout_failed)
        return 1;
    errno = 0;
    if (fflush(stdout) == 0 && !ferror(stdout))
        return 0;
    e = errno;
    stdout_failed = 1;
    cli_error("%s%sstandard output: %s", cmd ? cmd : "", cmd ? ": " : "",
              e ? strerror(e) : "write error");
    return 1;
}

int cli_finish(const char *cmd, int rc)
{
    int bad = cli_check_stdout(cmd);
    errno = 0;
    if (fclose(stdout) != 0 && !bad) {
        cli_error("%s%sstandard output: %s", cmd ? cmd : "", cmd ? ": " : "",
                  errno ? strerror(errno) : "write error");
        bad = 1;
    }
    return rc ? rc : bad;
}

char *cli_read_file(const char *path, size_t *len, PlumbError *err)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    char *buf = NULL, *nb;
    size_t cap = 0, n = 0, got;
    struct stat st;
    if (!f) {
        plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
        return NULL;
    }
    /* A FIFO or terminal is streaming input and fine; a directory opens but
     * cannot be read. */
    if (fstat(fileno(f), &st) == 0 && (S_ISDIR(st.st_mode) || S_ISSOCK(st.st_mode))) {
        plumb_err(err, PLUMB_EIO, "%s: is %s, not a text file", path,
                  plumb_file_type_name(st.st_mode));
        goto fail;
    }
    do {
        if (cap - n < 65536 + 1) {
            cap = cap ? cap * 2 : 131072;
            nb = realloc(buf, cap);
            if (!nb) {
                plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
                goto fail;
            }
            buf = nb;
        }
        got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
    } while (got > 0);
    if (ferror(f)) {
        plumb_err(err, PLUMB_EIO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (f != stdin)
        fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
fail:
    free(buf);
    if (f != stdin)
        fclose(f);
    return NULL;
}

void cli_repack_hint(const PlumbModel *m, const char *path)
{
    const char *env = getenv("PLUMB_HINTS"), *base;
    uint64_t bytes = 0, n;
    size_t len = strlen(path);
    if (env && strcmp(env, "0") == 0)
        return;
    if (!(n = plumb_repack_gain(m, &bytes)))
        return;
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (len >= 5 && strcmp(path + len - 5, ".gguf") == 0)
        len -= 5;
    const int gib = bytes >= ((uint64_t)1 << 30);
    fprintf(stderr,
            "plumb: hint: %s: %llu matrices (%.1f %s) have a faster layout for this CPU's %s kernels; "
            "make a copy once with: plumb repack %s %.*s-R8.gguf\n",
            base, (unsigned long long)n, (double)bytes / (gib ? 1073741824.0 : 1048576.0), gib ? "GiB" : "MiB",
            plumb_model_info(m)->cpu_tier, path, (int)len, path);
}

int cli_model_open(PlumbModel **out, const char *path, PlumbModelParams *mp, PlumbError *err)
{
    const char *env_cpu = NULL, *advice = getenv("PLUMB_EXPERT_ADVICE");
    int rc;
    if (!mp->cpu || !*mp->cpu) {
        env_cpu = getenv("PLUMB_CPU");
        if (env_cpu && *env_cpu)
            mp->cpu = env_cpu;
        else
            env_cpu = NULL;
    }
    if (mp->expert_advice == 0 && advice && (advice[0] == '0' || advice[0] == '1') &&
        advice[1] == '\0')
        mp->expert_advice = advice[0] == '1' ? 1 : -1;
    rc = plumb_model_open(out, path, mp, err);
    if (rc == PLUMB_EINVAL || rc == PLUMB_ECPU) {
        if (env_cpu)
            plumb_err_prefix(err, "PLUMB_CPU");
    }
    return rc;
}
