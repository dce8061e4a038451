/*
 * test_chat.c — plumb_chat_format() against exact strings.
 *
 * Every expected string below (except the empty list, where the template
 * itself fails) is what the chat template stored in
 * tests/data/models/qwen3-vocab.gguf (tokenizer.chat_template) renders for
 * the same messages with Jinja2 3.1.6, messages as {role, content} dicts,
 * add_generation_prompt as the add_assistant argument and
 * enable_thinking=false passed only when thinking is 0.  The last test
 * reads the template from the GGUF file and checks it still contains the
 * pieces these strings rely on.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "plumb.h"
#include "testlib.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void expect(const char *name, const PlumbChatMsg *msgs, size_t n, int add_assistant,
                   int thinking, const char *want)
{
    PlumbError err = { 0 };
    char *got = NULL;
    int rc = plumb_chat_format(msgs, n, add_assistant, thinking, &got, &err);
    CHECK(rc == PLUMB_OK, "%s: rc %d: %s", name, rc, err.msg);
    if (rc != PLUMB_OK)
        return;
    CHECK(got && strcmp(got, want) == 0, "%s:\n--- got ---\n%s\n--- want ---\n%s", name,
          got ? got : "(null)", want);
    free(got);
}

static void test_system_user(void)
{
    const PlumbChatMsg m[] = {
        { "system", "You are a helpful assistant." },
        { "user", "Hello!" },
    };
    expect("system+user, thinking", m, 2, 1, 1,
           "<|im_start|>system\n"
           "You are a helpful assistant.<|im_end|>\n"
           "<|im_start|>user\n"
           "Hello!<|im_end|>\n"
           "<|im_start|>assistant\n");
    expect("system+user, no thinking", m, 2, 1, 0,
           "<|im_start|>system\n"
           "You are a helpful assistant.<|im_end|>\n"
           "<|im_start|>user\n"
           "Hello!<|im_end|>\n"
           "<|im_start|>assistant\n"
           "<think>\n"
           "\n"
           "</think>\n"
           "\n");
    expect("user only, no generation prompt", m + 1, 1, 0, 0,
           "<|im_start|>user\n"
           "Hello!<|im_end|>\n");
}

static void test_multi_turn(void)
{
    const PlumbChatMsg multi[] = {
        { "system", "Be brief." },
        { "user", "What is 2+2?" },
        { "assistant", "<think>\nAdd them.\n</think>\n\n4" },
        { "user", "And 3+3?" },
    };
    const PlumbChatMsg last_think[] = {
        { "user", "Q" },
        { "assistant", "<think>\nhmm\n</think>\n\nA" },
    };
    const PlumbChatMsg last_plain[] = {
        { "user", "Hi" },
        { "assistant", "Hello." },
    };
    const PlumbChatMsg odd[] = {
        { "user", "u" },
        { "assistant", "\n<think>x</think>y<think>z</think>\n\n\nw\n" },
        { "assistant", "mid" },
        { "assistant", "\n\n<think>\n\n\n</think>tail" },
    };
    const PlumbChatMsg sys_mid[] = {
        { "user", "a" },
        { "system", "late system" },
        { "assistant", "b" },
        { "user", "c" },
    };
    /* thinking of a turn before the last query is dropped */
    expect("multi-turn", multi, N_OF(multi), 1, 1,
           "<|im_start|>system\n"
           "Be brief.<|im_end|>\n"
           "<|im_start|>user\n"
           "What is 2+2?<|im_end|>\n"
           "<|im_start|>assistant\n"
           "4<|im_end|>\n"
           "<|im_start|>user\n"
           "And 3+3?<|im_end|>\n"
           "<|im_start|>assistant\n");
    /* after the last query it stays */
    expect("last assistant with thinking", last_think, 2, 0, 1,
           "<|im_start|>user\n"
           "Q<|im_end|>\n"
           "<|im_start|>assistant\n"
           "<think>\n"
           "hmm\n"
           "</think>\n"
           "\n"
           "A<|im_end|>\n");
    /* and the final assistant message always gets a (here empty) block */
    expect("last assistant without thinking", last_plain, 2, 0, 1,
           "<|im_start|>user\n"
           "Hi<|im_end|>\n"
           "<|im_start|>assistant\n"
           "<think>\n"
           "\n"
           "</think>\n"
           "\n"
           "Hello.<|im_end|>\n");
    /* answer after the last </think>, reasoning between the last <think>
     * and the first </think>; middle turns without reasoning stay plain */
    expect("odd think blocks", odd, N_OF(odd), 0, 1,
           "<|im_start|>user\n"
           "u<|im_end|>\n"
           "<|im_start|>assistant\n"
           "<think>\n"
           "x\n"
           "</think>\n"
           "\n"
           "w\n"
           "<|im_end|>\n"
           "<|im_start|>assistant\n"
           "mid<|im_end|>\n"
           "<|im_start|>assistant\n"
           "<think>\n"
           "\n"
           "</think>\n"
           "\n"
           "tail<|im_end|>\n");
    expect("system in the middle", sys_mid, N_OF(sys_mid), 1, 1,
           "<|im_start|>user\n"
           "a<|im_end|>\n"
           "<|im_start|>system\n"
           "late system<|im_end|>\n"
           "<|im_start|>assistant\n"
           "b<|im_end|>\n"
           "<|im_start|>user\n"
           "c<|im_end|>\n"
           "<|im_start|>assistant\n");
}

static void test_tools(void)
{
    const PlumbChatMsg single[] = {
        { "user", "Find X" },
        { "assistant", "<think>\nI should search.\n</think>\n\n<tool_call>\n"
                       "{\"name\": \"search\", \"arguments\": {\"q\": \"X\"}}\n</tool_call>" },
        { "tool", "X is 42." },
    };
    const PlumbChatMsg consecutive[] = {
        { "system", "S" },
        { "user", "Look up A and B" },
        { "assistant", "<tool_call>\na\n</tool_call>\n<tool_call>\nb\n</tool_call>" },
        { "tool", "A=1" },
        { "tool", "B=2" },
        { "assistant", "<think>\nboth found\n</think>\n\nA=1, B=2" },
        { "user", "thanks" },
        { "tool", "late" },
    };
    const PlumbChatMsg wrapped[] = {
        { "user", "Q" },
        { "assistant", "<think>\nr1\n</think>\n\ncall" },
        { "user", "<tool_response>\nres\n</tool_response>" },
        { "assistant", "no think here" },
        { "user", "<tool_response>\nres2\n</tool_response>" },
    };
    expect("one tool message", single, N_OF(single), 1, 1,
           "<|im_start|>user\n"
           "Find X<|im_end|>\n"
           "<|im_start|>assistant\n"
           "<think>\n"
           "I should search.\n"
           "</think>\n"
           "\n"
           "<tool_call>\n"
           "{\"name\": \"search\", \"arguments\": {\"q\": \"X\"}}\n"
           "</tool_call><|im_end|>\n"
           "<|im_start|>user\n"
           "<tool_response>\n"
           "X is 42.\n"
           "</tool_response><|im_end|>\n"
           "<|im_start|>assistant\n");
    expect("consecutive tool messages", consecutive, N_OF(consecutive), 1, 0,
           "<|im_start|>system\n"
           "S<|im_end|>\n"
           "<|im_start|>user\n"
           "Look up A and B<|im_end|>\n"
           "<|im_start|>assistant\n"
           "<tool_call>\n"
           "a\n"
           "</tool_call>\n"
           "<tool_call>\n"
           "b\n"
           "</tool_call><|im_end|>\n"
           "<|im_start|>user\n"
           "<tool_response>\n"
           "A=1\n"
           "</tool_response>\n"
           "<tool_response>\n"
           "B=2\n"
           "</tool_response><|im_end|>\n"
           "<|im_start|>assistant\n"
           "A=1, B=2<|im_end|>\n"
           "<|im_start|>user\n"
           "thanks<|im_end|>\n"
           "<|im_start|>user\n"
           "<tool_response>\n"
           "late\n"
           "</tool_response><|im_end|>\n"
           "<|im_start|>assistant\n"
           "<think>\n"
           "\n"
           "</think>\n"
           "\n");
    /* user messages that are only a tool response are not queries */
    expect("tool responses as user messages", wrapped, N_OF(wrapped), 1, 1,
           "<|im_start|>user\n"
           "Q<|im_end|>\n"
           "<|im_start|>assistant\n"
           "<think>\n"
           "r1\n"
           "</think>\n"
           "\n"
           "call<|im_end|>\n"
           "<|im_start|>user\n"
           "<tool_response>\n"
           "res\n"
           "</tool_response><|im_end|>\n"
           "<|im_start|>assistant\n"
           "no think here<|im_end|>\n"
           "<|im_start|>user\n"
           "<tool_response>\n"
           "res2\n"
           "</tool_response><|im_end|>\n"
           "<|im_start|>assistant\n");
}

static void test_errors(void)
{
    const PlumbChatMsg bad_role[] = { { "user", "a" }, { "robot", "b" } };
    const PlumbChatMsg null_content[] = { { "user", "a" }, { "assistant", NULL } };
    const PlumbChatMsg null_role[] = { { NULL, "a" } };
    const PlumbChatMsg caps[] = { { "User", "a" } };
    PlumbError err = { 0 };
    char *out = (char *)"untouched";
    int rc;

    rc = plumb_chat_format(bad_role, 2, 1, 1, &out, &err);
    CHECK(rc == PLUMB_EINVAL, "unknown role: rc %d", rc);
    CHECK(strstr(err.msg, "'robot'") && strstr(err.msg, "message 1"), "message '%s'",
          err.msg);
    rc = plumb_chat_format(caps, 1, 1, 1, &out, &err);
    CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "'User'"), "role 'User': rc %d '%s'", rc,
          err.msg);
    rc = plumb_chat_format(null_content, 2, 1, 1, &out, &err);
    CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "NULL") && strstr(err.msg, "assistant"),
          "NULL content: rc %d '%s'", rc, err.msg);
    rc = plumb_chat_format(null_role, 1, 1, 1, &out, &err);
    CHECK(rc == PLUMB_EINVAL, "NULL role: rc %d", rc);
    rc = plumb_chat_format(NULL, 3, 1, 1, &out, &err);
    CHECK(rc == PLUMB_EINVAL, "NULL array: rc %d", rc);
    rc = plumb_chat_format(bad_role, 1, 1, 1, NULL, &err);
    CHECK(rc == PLUMB_EINVAL, "NULL out: rc %d", rc);
    rc = plumb_chat_format(bad_role, 2, 1, 1, &out, NULL); /* NULL error context is fine */
    CHECK(rc == PLUMB_EINVAL, "NULL err: rc %d", rc);

    /* no messages: the generation prompt alone, or nothing */
    expect("no messages", NULL, 0, 1, 1, "<|im_start|>assistant\n");
    expect("no messages, no prompt", NULL, 0, 0, 1, "");
}

static void test_long_content(void)
{
    size_t n = 1u << 20, i;
    char *big = malloc(n + 1), *out = NULL;
    PlumbChatMsg m[2];
    PlumbError err = { 0 };
    if (!big) {
        CHECK(0, "out of memory");
        return;
    }
    for (i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    m[0].role = "user";
    m[0].content = big;
    m[1].role = "tool";
    m[1].content = big;
    CHECK(plumb_chat_format(m, 2, 1, 0, &out, &err) == PLUMB_OK, "1 MiB content: %s", err.msg);
    CHECK(out && strlen(out) == 2 * n + strlen("<|im_start|>user\n<|im_end|>\n") +
                                    strlen("<|im_start|>user\n<tool_response>\n\n"
                                           "</tool_response><|im_end|>\n") +
                                    strlen("<|im_start|>assistant\n<think>\n\n</think>\n\n"),
          "1 MiB content: length %zu", out ? strlen(out) : 0);
    free(out);
    free(big);
}

/* The template in the vocabulary GGUF still has the shape the strings above
 * were rendered from (found as raw bytes: a GGUF string is stored as-is). */
static void test_template_in_gguf(void)
{
    size_t len;
    char *g = test_read_file(test_data("models/qwen3-vocab.gguf"), &len);
    static const char *const pieces[] = {
        "tokenizer.chat_template",
        "'<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n'",
        "'\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n'",
        "{{- '\\n<tool_response>\\n' }}",
        "message.content.startswith('<tool_response>')",
        "{{- '<think>\\n\\n</think>\\n\\n' }}",
    };
    size_t i, j, k;
    if (!g) {
        CHECK(0, "cannot read %s", test_data("models/qwen3-vocab.gguf"));
        return;
    }
    for (k = 0; k < N_OF(pieces); k++) {
        size_t m = strlen(pieces[k]);
        int found = 0;
        for (i = 0; !found && i + m <= len; i++) {
            for (j = 0; j < m && g[i + j] == pieces[k][j]; j++)
                ;
            found = j == m;
        }
        CHECK(found, "template piece not found: %s", pieces[k]);
    }
    free(g);
}

int main(void)
{
    test_system_user();
    test_multi_turn();
    test_tools();
    test_errors();
    test_long_content();
    test_template_in_gguf();
    return test_done("test_chat");
}
