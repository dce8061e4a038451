/* cli.c — shared helpers of the plumb subcommands (see cli.h). */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "err.h"
#include "outfile.h"

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

int cli_parse_int(const char *opt, const char *s, long min, long max, long *out)
{
    char *end;
    long v;
    if (!s || !*s) {
        cli_error("%s: missing value", opt);
        return -1;
    }
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || v < min || v > max) {
        cli_error("%s: '%s' is not an integer in [%ld, %ld]", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_kv_type(const char *opt, const char *s, PlumbKVType *out)
{
    PlumbError e = { 0 };
    if (!s || !*s) {
        cli_error("%s: missing value", opt);
        return -1;
    }
    if (plumb_kv_type_parse(s, out, &e) < 0) {
        cli_error("%s: %s", opt, e.msg);
        return -1;
    }
    return 0;
}

int cli_parse_float(const char *opt, const char *s, double min, double max, double *out)
{
    char *end;
    double v;
    if (!s || !*s) {
        cli_error("%s: missing value", opt);
        return -1;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno || *end || !(v >= min && v <= max)) {
        cli_error("%s: '%s' is not a number in [%g, %g]", opt, s, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_u64(const char *opt, const char *s, uint64_t *out)
{
    char *end;
    unsigned long long v;
    if (!s || !*s || *s == '-') {
        cli_error("%s: '%s' is not a non-negative integer", opt, s ? s : "");
        return -1;
    }
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end) {
        cli_error("%s: '%s' is not a non-negative integer", opt, s);
        return -1;
    }
    *out = v;
    return 0;
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
