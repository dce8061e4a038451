/*
 * testlib.h — the in-tree test header.  CHECK records a failure with file,
 * line and a formatted message, and the test goes on; test_done() prints a
 * summary and returns the exit status automake expects (0 pass, 1 fail,
 * 77 skip).  Test data lives in $PLUMB_DATA (tests/data by default).
 */
#ifndef PLUMB_TESTLIB_H
#define PLUMB_TESTLIB_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tl_checks, tl_failures;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        tl_checks++;                                                            \
        if (!(cond)) {                                                          \
            tl_failures++;                                                      \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond); \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

static inline int test_done(const char *name)
{
    fprintf(stderr, "%s: %d checks, %d failed\n", name, tl_checks, tl_failures);
    return tl_failures ? 1 : 0;
}

/* Path of a file in the test data directory (static buffer, one at a time). */
static inline const char *test_data(const char *file)
{
    static char buf[4096];
    const char *dir = getenv("PLUMB_DATA");
    snprintf(buf, sizeof buf, "%s/%s", dir && *dir ? dir : "tests/data", file);
    return buf;
}

/* Read a whole file; returns malloc'd buffer (NUL-terminated) or NULL. */
static inline char *test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n = 0;
    if (!f)
        return NULL;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            char *nb;
            cap = (n + 65536 + 1) * 2;
            nb = realloc(buf, cap);
            if (!nb) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

#endif
