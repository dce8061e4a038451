/*
 * fuzz_robots.c — libFuzzer target for the robots.txt parser and matcher
 * (src/agent/robots.c).
 *
 * Input layout: the robots.txt text, then optionally a NUL byte and a list
 * of paths separated by newlines (at most 64 are tried); without a NUL a
 * fixed set of paths is tried.  Checked:
 *   - any text parses (only memory can fail);
 *   - /robots.txt is always allowed, and the answer for a path does not
 *     change when it is asked again;
 *   - a disallowed path names the non-empty rule that decided, and that
 *     rule's pattern is never longer than the input;
 *   - a copy of the text that ends exactly at its last byte is never read
 *     past (ASan), nor is a path;
 *   - the fetch-outcome forms (4xx allow all, 5xx disallow all) hold.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "robots.h"

#define FUZZ_CHECK(cond, what)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_robots: %s\n", what);                                            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_PATHS 64

static const char *const fixed_paths[] = { "/", "", "/a", "/private/x", "/x.gif", "/a/b?c=d",
                                           "/%7Euser/", "/caf%C3%A9", "/\xE3\x83\x84", "/*$%" };

static void check_path(const Robots *r, const char *path, size_t input_len)
{
    const char *rule = NULL, *rule2 = NULL;
    int a = robots_allowed(r, path, &rule);
    int b = robots_allowed(r, path, &rule2);
    FUZZ_CHECK(a == 0 || a == 1, "robots_allowed returned neither 0 nor 1");
    FUZZ_CHECK(a == b && rule && rule2 && strcmp(rule, rule2) == 0, "the answer changed when asked again");
    if (!a)
        FUZZ_CHECK(*rule != 0, "a disallowed path without a deciding rule");
    /* Normalisation at most triples a byte (%XX). */
    FUZZ_CHECK(strlen(rule) <= 3 * input_len + 1, "a rule longer than the input can make");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, 0, size);
    size_t tlen = nul ? (size_t)(nul - data) : size;
    char *text = malloc(tlen ? tlen : 1);
    Robots *r = NULL;
    PlumbError err = { 0 };

    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, tlen);
    FUZZ_CHECK(robots_parse(&r, text, tlen, "plumb", &err) == PLUMB_OK && r, "parse failed");
    FUZZ_CHECK(robots_allowed(r, "/robots.txt", NULL) == 1, "/robots.txt disallowed");
    FUZZ_CHECK(robots_rule_count(r) >= 0, "a parsed file with a negative rule count");
    if (nul) {
        const uint8_t *p = nul + 1, *end = data + size;
        for (int k = 0; k < MAX_PATHS && p <= end; k++) {
            const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
            size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
            char *path = malloc(n + 1);
            FUZZ_CHECK(path != NULL, "out of memory");
            memcpy(path, p, n);
            path[n] = 0; /* a path with a NUL inside is cut there, as a C string is */
            check_path(r, path, tlen);
            free(path);
            if (!nl)
                break;
            p = nl + 1;
        }
    } else {
        for (size_t k = 0; k < sizeof fixed_paths / sizeof *fixed_paths; k++)
            check_path(r, fixed_paths[k], tlen);
    }
    robots_free(r);

    /* The fetch outcomes ignore the text except for a 2xx. */
    FUZZ_CHECK(robots_from_status(&r, 404, text, tlen, "plumb", &err) == PLUMB_OK, "404 failed");
    FUZZ_CHECK(robots_allowed(r, "/x", NULL) == 1, "404 must allow all");
    robots_free(r);
    FUZZ_CHECK(robots_from_status(&r, 503, text, tlen, "plumb", &err) == PLUMB_OK, "503 failed");
    FUZZ_CHECK(robots_allowed(r, "/x", NULL) == 0, "503 must disallow all");
    robots_free(r);
    free(text);
    return 0;
}
