/*
 * fuzz_chat.c — libFuzzer target for the chat layer (src/chat.c).
 *
 * Input layout: byte 0 holds the flags (bit 0: open an assistant turn,
 * bit 1: thinking on, bit 2: the first chunk is the tools JSON, bit 3: keep
 * every turn's reasoning, bit 7: the input is model output for the parser,
 * see parse_output()); the rest is a list of chunks separated by NUL bytes,
 * each message one role byte (mod 6: system, user, assistant, tool, and two
 * roles that must be refused) followed by its content.  Checked:
 *   - a bad role is refused with PLUMB_EINVAL, never rendered;
 *   - tools that are not a JSON array of objects are refused with a message;
 *   - the rendering is one NUL-terminated string, starts with a turn, and
 *     holds every system, user and tool content verbatim;
 *   - it ends with the generation prompt that the flags ask for;
 *   - the reply parser never reads past its input, and what it returns is
 *     consistent (a call has a name and arguments, or an error, never both).
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

/* Model output (tool calls, think blocks): parse a copy of data[0..size)
 * that ends exactly at its last byte, so a read past it is caught by ASan. */
static void parse_output(const uint8_t *data, size_t size)
{
    PlumbChatParsed *parsed = NULL;
    PlumbError err = { 0 };
    char *text = malloc(size ? size : 1);
    size_t len, n, i;
    const char *s;

    FUZZ_CHECK(text != NULL, "out of memory");
    memcpy(text, data, size);
    FUZZ_CHECK(plumb_chat_parse(text, size, &parsed, &err) == PLUMB_OK && parsed != NULL,
               "the parser failed on model output");
    s = plumb_chat_parsed_reasoning(parsed, &len);
    FUZZ_CHECK(!s || len <= size, "reasoning longer than the input");
    FUZZ_CHECK(!plumb_chat_parsed_think_open(parsed) || s != NULL,
               "an open think block without reasoning");
    s = plumb_chat_parsed_content(parsed, &len);
    FUZZ_CHECK(s != NULL && len <= size, "content missing or longer than the input");
    n = plumb_chat_parsed_n_calls(parsed);
    for (i = 0; i < n; i++) {
        const PlumbChatToolCall *c = plumb_chat_parsed_call(parsed, i);
        FUZZ_CHECK(c != NULL && c->text != NULL && c->text_len <= size, "a call's text is wrong");
        if (c->error)
            FUZZ_CHECK(c->error[0] != '\0', "a call's error is empty");
        else
            FUZZ_CHECK(c->name != NULL && c->arguments != NULL && c->arguments[0] == '{',
                       "a usable call without a name or an arguments object");
    }
    FUZZ_CHECK(plumb_chat_parsed_call(parsed, n) == NULL, "a call past the last one");
    plumb_chat_parsed_free(parsed);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    PlumbChatMsg msgs[MAX_MSGS];
    char *copy, *p, *end, *out = NULL;
    size_t n = 0, len, i;
    int bad = 0, rc;
    PlumbChatParams cp = { 0 };
    PlumbError err = { 0 };

    if (size < 1 || size > 1 << 16)
        return 0;
    cp.add_assistant = data[0] & 1;
    cp.no_think = !((data[0] >> 1) & 1);
    cp.keep_reasoning = (data[0] >> 3) & 1;
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
    if (data[0] & 4) {
        cp.tools = p;
        p += strlen(p) + 1;
    }
    while (p < end && n < MAX_MSGS) {
        size_t l = strlen(p);
        memset(&msgs[n], 0, sizeof msgs[n]);
        msgs[n].role = roles[(unsigned char)p[0] % 6];
        msgs[n].content = p + 1;
        bad |= (unsigned char)p[0] % 6 >= 4;
        n++;
        p += l + 1;
    }

    rc = plumb_chat_format(msgs, n, &cp, &out, &err);
    if (bad) {
        FUZZ_CHECK(rc == PLUMB_EINVAL, "a bad role was not refused");
        free(copy);
        return 0;
    }
    if (cp.tools && rc == PLUMB_EINVAL) {
        /* tools that are not a JSON array of tool objects */
        FUZZ_CHECK(err.msg[0] != '\0', "bad tools refused without a message");
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
    if (cp.add_assistant)
        FUZZ_CHECK(ends_with(out, len, !cp.no_think ? "<|im_start|>assistant\n"
                                                : "<|im_start|>assistant\n<think>\n\n</think>\n\n"),
                   "no generation prompt at the end");
    else if (n > 0)
        FUZZ_CHECK(ends_with(out, len, "<|im_end|>\n"), "the last turn is not closed");
    free(out);
    free(copy);
    return 0;
}
