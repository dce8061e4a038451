/*
 * fuzz_chat.c — libFuzzer target for the chat layer (src/chat.c).
 *
 * Input layout: byte 0 holds the flags (bit 0: open an assistant turn,
 * bit 1: thinking on, bit 7: the input is model output for the parser, see
 * parse_output()); the rest is a list of messages separated by NUL bytes,
 * each one role byte (mod 6: system, user, assistant, tool, and two roles
 * that must be refused) followed by its content.  Checked:
 *   - a bad role is refused with PLUMB_EINVAL, never rendered;
 *   - the rendering is one NUL-terminated string, starts with a turn, and
 *     holds every system, user and tool content verbatim;
 *   - it ends with the generation prompt that the flags ask for.
 */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plumb.h"

#define FUZZ_CHECK(cond, what)                                                                      \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_chat: %s\n", what);                                              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_MSGS 64

static const char *const roles[6] = {"system", "user", "assistant", "tool", "bogus", ""};

static int ends_with(const char *s, size_t n, const char *tail)
{
    size_t t = strlen(tail);
    return n >= t && memcmp(s + n - t, tail, t) == 0;
}

/* Model output (tool calls, think blocks) goes to the output parser here,
 * once the library has one: parse data[0..size) and check that whatever it
 * extracts lies inside the input and that a failure carries a message. */
static void parse_output(const uint8_t *data, size_t size)
{
    (void)data, (void)size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PlumbChatMsg msgs[MAX_MSGS];
    char *copy, *p, *end, *out = NULL;
    size_t n = 0, len, i;
    int add_assistant, thinking, bad = 0, rc;
    PlumbError err;

    if (size < 1 || size > 1 << 16)
        return 0;
    add_assistant = data[0] & 1;
    thinking = (data[0] >> 1) & 1;
    if (data[0] & 0x80) {
        parse_output(data + 1, size - 1);
        return 0;
    }
    /* NUL-separated messages; the copy gets one more NUL to end the last. */
    copy = malloc(size);
    FUZZ_CHECK(copy != NULL, "out of memory");
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    p = copy;
    end = copy + size - 1;
    while (p < end && n < MAX_MSGS) {
        size_t l = strlen(p);
        msgs[n].role = roles[(unsigned char)p[0] % 6];
        msgs[n].content = p + 1;
        bad |= (unsigned char)p[0] % 6 >= 4;
        n++;
        p += l + 1;
    }

    rc = plumb_chat_format(msgs, n, add_assistant, thinking, &out, &err);
    if (bad) {
        FUZZ_CHECK(rc == PLUMB_EINVAL, "a bad role was not refused");
        free(copy);
        return 0;
    }
    FUZZ_CHECK(rc == PLUMB_OK && out != NULL, "valid messages were refused");
    len = strlen(out);
    if (n > 0)
        FUZZ_CHECK(strncmp(out, "<|im_start|>", 12) == 0, "the rendering does not start with a turn");
    for (i = 0; i < n; i++)
        if (strcmp(msgs[i].role, "assistant") != 0)
            FUZZ_CHECK(strstr(out, msgs[i].content) != NULL, "a message's content is missing");
    if (add_assistant)
        FUZZ_CHECK(ends_with(out, len, thinking ? "<|im_start|>assistant\n"
                                                : "<|im_start|>assistant\n<think>\n\n</think>\n\n"),
                   "no generation prompt at the end");
    else if (n > 0)
        FUZZ_CHECK(ends_with(out, len, "<|im_end|>\n"), "the last turn is not closed");
    free(out);
    free(copy);
    return 0;
}
