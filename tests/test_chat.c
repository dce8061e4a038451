/*
 * test_chat.c — plumb_chat_format() against exact strings and the golden
 * renderings in tests/data/chat, and plumb_chat_parse() on well-formed,
 * malformed and truncated replies.
 *
 * Every expected string below (except the empty list, where the template
 * itself fails) is what the chat template stored in
 * tests/data/models/qwen3-vocab.gguf (tokenizer.chat_template) renders for
 * the same messages with Jinja2 3.1.6, messages as {role, content} dicts,
 * add_generation_prompt as add_assistant and enable_thinking=false passed
 * only when no_think is set.  The golden files were made the same way (see
 * tests/data/README.md).  The template test reads the template from the
 * GGUF file and checks it still contains the pieces these strings rely on.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "plumb.h"
#include "testlib.h"

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

static void expect(const char *name, const PlumbChatMsg *msgs, size_t n, int add_assistant,
                   int thinking, const char *want)
{
    PlumbError err = { 0 };
    PlumbChatParams p = { 0 };
    char *got = NULL;
    int rc;
    p.add_assistant = add_assistant;
    p.no_think = !thinking;
    rc = plumb_chat_format(msgs, n, &p, &got, &err);
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
        { "system", "You are a helpful assistant.", NULL, NULL },
        { "user", "Hello!", NULL, NULL },
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
        { "system", "Be brief.", NULL, NULL },
        { "user", "What is 2+2?", NULL, NULL },
        { "assistant", "<think>\nAdd them.\n</think>\n\n4", NULL, NULL },
        { "user", "And 3+3?", NULL, NULL },
    };
    const PlumbChatMsg last_think[] = {
        { "user", "Q", NULL, NULL },
        { "assistant", "<think>\nhmm\n</think>\n\nA", NULL, NULL },
    };
    const PlumbChatMsg last_plain[] = {
        { "user", "Hi", NULL, NULL },
        { "assistant", "Hello.", NULL, NULL },
    };
    const PlumbChatMsg odd[] = {
        { "user", "u", NULL, NULL },
        { "assistant", "\n<think>x</think>y<think>z</think>\n\n\nw\n", NULL, NULL },
        { "assistant", "mid", NULL, NULL },
        { "assistant", "\n\n<think>\n\n\n</think>tail", NULL, NULL },
    };
    const PlumbChatMsg sys_mid[] = {
        { "user", "a", NULL, NULL },
        { "system", "late system", NULL, NULL },
        { "assistant", "b", NULL, NULL },
        { "user", "c", NULL, NULL },
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
        { "user", "Find X", NULL, NULL },
        { "assistant", "<think>\nI should search.\n</think>\n\n<tool_call>\n"
                       "{\"name\": \"search\", \"arguments\": {\"q\": \"X\"}}\n</tool_call>", NULL, NULL },
        { "tool", "X is 42.", NULL, NULL },
    };
    const PlumbChatMsg consecutive[] = {
        { "system", "S", NULL, NULL },
        { "user", "Look up A and B", NULL, NULL },
        { "assistant", "<tool_call>\na\n</tool_call>\n<tool_call>\nb\n</tool_call>", NULL, NULL },
        { "tool", "A=1", NULL, NULL },
        { "tool", "B=2", NULL, NULL },
        { "assistant", "<think>\nboth found\n</think>\n\nA=1, B=2", NULL, NULL },
        { "user", "thanks", NULL, NULL },
        { "tool", "late", NULL, NULL },
    };
    const PlumbChatMsg wrapped[] = {
        { "user", "Q", NULL, NULL },
        { "assistant", "<think>\nr1\n</think>\n\ncall", NULL, NULL },
        { "user", "<tool_response>\nres\n</tool_response>", NULL, NULL },
        { "assistant", "no think here", NULL, NULL },
        { "user", "<tool_response>\nres2\n</tool_response>", NULL, NULL },
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
    const PlumbChatMsg bad_role[] = { { "user", "a", NULL, NULL }, { "robot", "b", NULL, NULL } };
    const PlumbChatMsg null_content[] = { { "user", "a", NULL, NULL }, { "assistant", NULL, NULL, NULL } };
    const PlumbChatMsg null_role[] = { { NULL, "a", NULL, NULL } };
    const PlumbChatMsg caps[] = { { "User", "a", NULL, NULL } };
    PlumbError err = { 0 };
    char *out = (char *)"untouched";
    int rc;

    rc = plumb_chat_format(bad_role, 2, NULL, &out, &err);
    CHECK(rc == PLUMB_EINVAL, "unknown role: rc %d", rc);
    CHECK(strstr(err.msg, "'robot'") && strstr(err.msg, "message 1"), "message '%s'",
          err.msg);
    rc = plumb_chat_format(caps, 1, NULL, &out, &err);
    CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "'User'"), "role 'User': rc %d '%s'", rc,
          err.msg);
    rc = plumb_chat_format(null_content, 2, NULL, &out, &err);
    CHECK(rc == PLUMB_EINVAL && strstr(err.msg, "NULL") && strstr(err.msg, "assistant"),
          "NULL content: rc %d '%s'", rc, err.msg);
    rc = plumb_chat_format(null_role, 1, NULL, &out, &err);
    CHECK(rc == PLUMB_EINVAL, "NULL role: rc %d", rc);
    rc = plumb_chat_format(NULL, 3, NULL, &out, &err);
    CHECK(rc == PLUMB_EINVAL, "NULL array: rc %d", rc);
    rc = plumb_chat_format(bad_role, 1, NULL, NULL, &err);
    CHECK(rc == PLUMB_EINVAL, "NULL out: rc %d", rc);
    rc = plumb_chat_format(bad_role, 2, NULL, &out, NULL); /* NULL error context is fine */
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
    PlumbChatParams p = { 0 };
    PlumbError err = { 0 };
    if (!big) {
        CHECK(0, "out of memory");
        return;
    }
    for (i = 0; i < n; i++)
        big[i] = (char)('a' + i % 26);
    big[n] = '\0';
    memset(m, 0, sizeof m);
    m[0].role = "user";
    m[0].content = big;
    m[1].role = "tool";
    m[1].content = big;
    p.add_assistant = 1;
    p.no_think = 1;
    CHECK(plumb_chat_format(m, 2, &p, &out, &err) == PLUMB_OK, "1 MiB content: %s", err.msg);
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
        "{{- tool | tojson }}",
        "{%- if tool_call.arguments is string %}",
        "{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}",
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

/* ------------------------------------------------------------------ golden files */

/* Messages of a golden case, pointing into the jansson tree v (and into
 * *texts, JSON dumped here, freed by the caller). */
static PlumbChatMsg *case_messages(json_t *v, size_t *n, char ***texts)
{
    json_t *msgs = json_object_get(v, "messages");
    size_t i, k = json_array_size(msgs);
    PlumbChatMsg *m = calloc(k ? k : 1, sizeof *m);
    char **t = calloc(k ? k : 1, sizeof *t);
    if (!m || !t) {
        free(m);
        free(t);
        return NULL;
    }
    for (i = 0; i < k; i++) {
        json_t *x = json_array_get(msgs, i), *calls = json_object_get(x, "tool_calls");
        m[i].role = json_string_value(json_object_get(x, "role"));
        m[i].content = json_string_value(json_object_get(x, "content"));
        m[i].reasoning_content = json_string_value(json_object_get(x, "reasoning_content"));
        if (calls)
            m[i].tool_calls = t[i] = json_dumps(calls, 0);
    }
    *n = k;
    *texts = t;
    return m;
}

/* Render case name (tests/data/chat/NAME.json) and return the output
 * (malloc'd) or NULL; the expected bytes go to *want. */
static char *render_case(const char *name, char **want, size_t *want_len)
{
    char path[256], *in, *got = NULL, **texts = NULL, *tools = NULL;
    json_error_t jerr;
    json_t *v;
    PlumbChatMsg *m;
    PlumbChatParams p = { 0 };
    PlumbError err = { 0 };
    size_t n = 0, i;
    int rc;

    snprintf(path, sizeof path, "chat/%s.txt", name);
    *want = test_read_file(test_data(path), want_len);
    CHECK(*want != NULL, "cannot read %s", test_data(path));
    snprintf(path, sizeof path, "chat/%s.json", name);
    in = test_read_file(test_data(path), NULL);
    CHECK(in != NULL, "cannot read %s", test_data(path));
    v = in ? json_loads(in, 0, &jerr) : NULL;
    free(in);
    CHECK(v != NULL, "%s: %s", path, v ? "" : jerr.text);
    if (!v || !*want)
        return NULL;
    m = case_messages(v, &n, &texts);
    if (json_object_get(v, "tools"))
        tools = json_dumps(json_object_get(v, "tools"), JSON_ENSURE_ASCII);
    p.tools = tools;
    p.add_assistant = json_is_true(json_object_get(v, "add_generation_prompt"));
    p.no_think = json_is_false(json_object_get(v, "enable_thinking"));
    p.keep_reasoning = json_is_true(json_object_get(v, "keep_reasoning"));
    rc = plumb_chat_format(m, n, &p, &got, &err);
    CHECK(rc == PLUMB_OK, "%s: rc %d: %s", name, rc, err.msg);
    for (i = 0; i < n; i++)
        free(texts[i]);
    free(texts);
    free(m);
    free(tools);
    json_decref(v);
    return got;
}

static void test_golden_files(void)
{
    static const char *const cases[] = {
        "system_user", "system_user_nothink", "tools_system", "tools_no_system", "tools_tojson",
        "tool_calls", "tool_grouped", "reasoning_multi_turn", "react", "react_forced",
        "keep_react_forced", "keep_reasoning_multi_turn",
    };
    size_t k;
    for (k = 0; k < N_OF(cases); k++) {
        char *want = NULL, *got;
        size_t want_len = 0, i = 0;
        got = render_case(cases[k], &want, &want_len);
        if (got) {
            size_t got_len = strlen(got);
            while (i < got_len && i < want_len && got[i] == want[i])
                i++;
            CHECK(got_len == want_len && i == want_len,
                  "%s: differs from the template's rendering at byte %zu of %zu/%zu:\n"
                  "--- got ---\n%.200s\n--- want ---\n%.200s",
                  cases[k], i, got_len, want_len, got + i, want + (i < want_len ? i : want_len));
        }
        free(got);
        free(want);
    }
}

/* keep_reasoning: what was rendered before a new user message stays a
 * prefix after it.  The template drops the earlier <think> blocks instead
 * (the react / react_forced goldens). */
static void test_keep_reasoning_prefix(void)
{
    const PlumbChatMsg m[] = {
        { "system", "S", NULL, NULL },
        { "user", "Q", NULL, NULL },
        { "assistant", "<think>\nr1\n</think>\n\n<tool_call>\n{}\n</tool_call>", NULL, NULL },
        { "tool", "result", NULL, NULL },
        { "assistant", "answer", "r2", "[{\"name\": \"t\", \"arguments\": {}}]" },
        { "user", "Answer now.", NULL, NULL },
    };
    PlumbChatParams p = { 0 };
    PlumbError err = { 0 };
    char *before = NULL, *after = NULL;
    p.keep_reasoning = 1;
    CHECK(plumb_chat_format(m, 5, &p, &before, &err) == PLUMB_OK, "%s", err.msg);
    p.add_assistant = 1;
    CHECK(plumb_chat_format(m, 6, &p, &after, &err) == PLUMB_OK, "%s", err.msg);
    CHECK(before && after && strncmp(before, after, strlen(before)) == 0,
          "keep_reasoning: not a prefix:\n%s\n---\n%s", before ? before : "", after ? after : "");
    CHECK(after && strstr(after, "<think>\nr1\n</think>") && strstr(after, "<think>\nr2\n</think>"),
          "keep_reasoning dropped a think block:\n%s", after ? after : "");
    free(before);
    free(after);
    p.keep_reasoning = 0;
    CHECK(plumb_chat_format(m, 5, &p, &before, &err) == PLUMB_OK, "%s", err.msg);
    p.add_assistant = 1;
    CHECK(plumb_chat_format(m, 6, &p, &after, &err) == PLUMB_OK, "%s", err.msg);
    CHECK(before && after && strncmp(before, after, strlen(before)) != 0 && !strstr(after, "r1"),
          "the template's rule should drop r1 after a new query:\n%s", after ? after : "");
    free(before);
    free(after);
}

static void expect_format_error(const char *name, const PlumbChatMsg *m, size_t n,
                                const char *tools, const char *needle)
{
    PlumbChatParams p = { 0 };
    PlumbError err = { 0 };
    char *out = NULL;
    int rc;
    p.tools = tools;
    rc = plumb_chat_format(m, n, &p, &out, &err);
    CHECK(rc == PLUMB_EINVAL && out == NULL && strstr(err.msg, needle),
          "%s: rc %d, message '%s' (want '%s')", name, rc, err.msg, needle);
    free(out);
}

static void test_format_json_errors(void)
{
    const PlumbChatMsg user[] = { { "user", "u", NULL, NULL } };
    PlumbChatMsg a[] = { { "user", "u", NULL, NULL }, { "assistant", "", NULL, NULL } };
    expect_format_error("tools not JSON", user, 1, "[{\"a\": }]", "tools: not valid JSON: line 1");
    expect_format_error("tools not an array", user, 1, "{\"a\": 1}", "tools: expected a JSON array");
    a[1].tool_calls = "[{\"name\": \"x\"}";
    expect_format_error("tool_calls not JSON", a, 2, NULL, "message 1 tool_calls: not valid JSON");
    a[1].tool_calls = "[{\"arguments\": {}}]";
    expect_format_error("call without name", a, 2, NULL, "tool call 0: no \"name\"");
    a[1].tool_calls = "[{\"name\": 5, \"arguments\": {}}]";
    expect_format_error("name not a string", a, 2, NULL, "\"name\" is not a string");
    a[1].tool_calls = "[{\"name\": \"x\"}]";
    expect_format_error("call without arguments", a, 2, NULL, "no \"arguments\"");
    a[1].tool_calls = "[1]";
    expect_format_error("call not an object", a, 2, NULL, "tool call 0 is not an object");
    a[0].tool_calls = "[]";
    a[1].tool_calls = NULL;
    expect_format_error("tool_calls on a user message", a, 2, NULL, "for assistant messages");
    a[0].tool_calls = NULL;
    {
        /* an empty tools array is no tools block, as in the template */
        PlumbChatParams p = { 0 };
        PlumbError err = { 0 };
        char *out = NULL;
        p.tools = "[]";
        CHECK(plumb_chat_format(user, 1, &p, &out, &err) == PLUMB_OK && out &&
                  strcmp(out, "<|im_start|>user\nu<|im_end|>\n") == 0,
              "empty tools: '%s' %s", out ? out : "", err.msg);
        free(out);
    }
}

/* ------------------------------------------------------------------ parsing */

/* Parse a copy of text[0..len) in a buffer of exactly len bytes, so reading
 * past the end is caught by ASan. */
static PlumbChatParsed *parse_n(const char *text, size_t len)
{
    PlumbChatParsed *p = NULL;
    PlumbError err = { 0 };
    char *copy = malloc(len ? len : 1);
    int rc;
    if (!copy)
        return NULL;
    memcpy(copy, text, len);
    rc = plumb_chat_parse(copy, len, &p, &err);
    CHECK(rc == PLUMB_OK && p, "parse: rc %d: %s", rc, err.msg);
    free(copy);
    return p;
}

static PlumbChatParsed *parse(const char *text)
{
    return parse_n(text, strlen(text));
}

static int str_eq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

static void expect_call(const char *what, const PlumbChatParsed *p, size_t i, const char *name,
                        const char *args, int closed)
{
    const PlumbChatToolCall *c = plumb_chat_parsed_call(p, i);
    CHECK(c != NULL, "%s: no call %zu", what, i);
    if (!c)
        return;
    CHECK(c->error == NULL, "%s: call %zu: unexpected error '%s'", what, i, c->error);
    CHECK(str_eq(c->name, name), "%s: call %zu: name '%s', want '%s'", what, i,
          c->name ? c->name : "(null)", name);
    CHECK(str_eq(c->arguments, args), "%s: call %zu: arguments '%s', want '%s'", what, i,
          c->arguments ? c->arguments : "(null)", args);
    CHECK(c->closed == closed, "%s: call %zu: closed %d, want %d", what, i, c->closed, closed);
}

static void expect_bad_call(const char *what, const PlumbChatParsed *p, size_t i,
                            const char *needle)
{
    const PlumbChatToolCall *c = plumb_chat_parsed_call(p, i);
    CHECK(c && c->error && strstr(c->error, needle) && !c->name && !c->arguments,
          "%s: call %zu: error '%s', want '%s'", what, i, c && c->error ? c->error : "(none)",
          needle);
}

static void expect_text(const char *what, const char *got, size_t got_len, const char *want)
{
    CHECK(want ? got && got_len == strlen(want) && memcmp(got, want, got_len) == 0 : got == NULL,
          "%s: got '%.*s', want '%s'", what, got ? (int)got_len : 6, got ? got : "(null)",
          want ? want : "(null)");
}

static void expect_parts(const char *what, const PlumbChatParsed *p, const char *reasoning,
                         const char *content, size_t n_calls)
{
    size_t len = 0;
    const char *r = plumb_chat_parsed_reasoning(p, &len);
    expect_text(what, r, len, reasoning);
    r = plumb_chat_parsed_content(p, &len);
    expect_text(what, r, len, content);
    CHECK(plumb_chat_parsed_n_calls(p) == n_calls, "%s: %zu calls, want %zu", what,
          plumb_chat_parsed_n_calls(p), n_calls);
}

static void test_parse_basic(void)
{
    PlumbChatParsed *p;

    p = parse("Just an answer.\n");
    expect_parts("plain", p, NULL, "Just an answer.", 0);
    CHECK(!plumb_chat_parsed_think_open(p), "plain: think open");
    CHECK(plumb_chat_parsed_call(p, 0) == NULL, "plain: call 0 exists");
    plumb_chat_parsed_free(p);

    p = parse("<think>\nLet me see.\nYes.\n</think>\n\n<answer>42</answer>");
    expect_parts("think + answer", p, "Let me see.\nYes.", "<answer>42</answer>", 0);
    plumb_chat_parsed_free(p);

    /* the prompt opened the think block: only </think> in the reply */
    p = parse("reasoning here\n</think>\n\nanswer");
    expect_parts("no <think>", p, "reasoning here", "answer", 0);
    plumb_chat_parsed_free(p);

    p = parse("<think>\n</think>\n\nanswer");
    expect_parts("empty think", p, "", "answer", 0);
    plumb_chat_parsed_free(p);

    /* cut inside the reasoning: all of it is reasoning, no calls */
    p = parse("\n<think>\nstill thinking <tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n");
    expect_parts("unterminated think", p,
                 "still thinking <tool_call>\n{\"name\": \"a\", \"arguments\": {}}", "", 0);
    CHECK(plumb_chat_parsed_think_open(p), "unterminated think: not flagged");
    plumb_chat_parsed_free(p);

    p = parse("");
    expect_parts("empty", p, NULL, "", 0);
    plumb_chat_parsed_free(p);
}

static void test_parse_calls(void)
{
    PlumbChatParsed *p;
    const PlumbChatToolCall *c;

    p = parse("<think>\nsearch it\n</think>\n\n<tool_call>\n"
              "{\"name\": \"search\", \"arguments\": {\"query\": [\"a\", \"b\"], \"n\": 3}}\n"
              "</tool_call>");
    expect_parts("one call", p, "search it", "", 1);
    expect_call("one call", p, 0, "search", "{\"query\":[\"a\",\"b\"],\"n\":3}", 1);
    c = plumb_chat_parsed_call(p, 0);
    CHECK(c && c->text_len == strlen(c->text) &&
              str_eq(c->text, "\n{\"name\": \"search\", \"arguments\": {\"query\": [\"a\", "
                              "\"b\"], \"n\": 3}}\n") &&
              str_eq(c->extra, ""),
          "one call: text '%s' extra '%s'", c ? c->text : "", c ? c->extra : "");
    plumb_chat_parsed_free(p);

    p = parse("First.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n"
              "Between.\n<tool_call>{\"name\":\"b\",\"arguments\":{\"x\":{\"y\":[1,{\"z\":null}]}}}"
              "</tool_call>\nAfter.");
    expect_parts("two calls", p, NULL, "First.\n\nBetween.\n\nAfter.", 2);
    expect_call("two calls", p, 0, "a", "{}", 1);
    expect_call("two calls", p, 1, "b", "{\"x\":{\"y\":[1,{\"z\":null}]}}", 1);
    plumb_chat_parsed_free(p);

    /* braces and brackets inside strings do not count */
    p = parse("<tool_call>\n{\"name\": \"python\", \"arguments\": {\"code\": "
              "\"if (x) { y(); } }}]] \\\"{\\\" \\\\\"}}\n</tool_call>");
    expect_parts("braces in strings", p, NULL, "", 1);
    expect_call("braces in strings", p, 0, "python",
                "{\"code\":\"if (x) { y(); } }}]] \\\"{\\\" \\\\\"}", 1);
    plumb_chat_parsed_free(p);

    /* the close tag inside a JSON string does not end the call */
    p = parse("<tool_call>\n{\"name\": \"echo\", \"arguments\": {\"s\": \"a</tool_call>b\"}}\n"
              "</tool_call> done");
    expect_parts("close tag in a string", p, NULL, "done", 1);
    expect_call("close tag in a string", p, 0, "echo", "{\"s\":\"a</tool_call>b\"}", 1);
    plumb_chat_parsed_free(p);

    /* code after the JSON object, inside the block */
    p = parse("<tool_call>\n{\"name\": \"PythonInterpreter\", \"arguments\": {}}\n<code>\n"
              "print({1: 2})\n</code>\n</tool_call>");
    expect_call("code block", p, 0, "PythonInterpreter", "{}", 1);
    c = plumb_chat_parsed_call(p, 0);
    CHECK(c && str_eq(c->extra, "<code>\nprint({1: 2})\n</code>"), "code block: extra '%s'",
          c ? c->extra : "");
    plumb_chat_parsed_free(p);

    /* generation stopped at the stop string "</tool_call>" */
    p = parse("<tool_call>\n{\"name\": \"visit\", \"arguments\": {\"url\": \"u\"}}\n");
    expect_parts("stopped before the close tag", p, NULL, "", 1);
    expect_call("stopped before the close tag", p, 0, "visit", "{\"url\":\"u\"}", 0);
    plumb_chat_parsed_free(p);

    /* a call left open before the next one: both are read */
    p = parse("<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n"
              "<tool_call>\n{\"name\": \"b\", \"arguments\": {\"t\": \"<tool_call>\"}}\n</tool_call>");
    expect_parts("unclosed before the next", p, NULL, "", 2);
    expect_call("unclosed before the next", p, 0, "a", "{}", 0);
    expect_call("unclosed before the next", p, 1, "b", "{\"t\":\"<tool_call>\"}", 1);
    c = plumb_chat_parsed_call(p, 0);
    CHECK(c && str_eq(c->extra, ""), "unclosed before the next: extra '%s'", c ? c->extra : "");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\nsearch(\"x\")\n<tool_call>{\"name\": \"b\", \"arguments\": {}}</tool_call>");
    expect_parts("broken and unclosed before the next", p, NULL, "", 2);
    expect_bad_call("broken and unclosed before the next", p, 0, "not a JSON object");
    expect_call("broken and unclosed before the next", p, 1, "b", "{}", 1);
    plumb_chat_parsed_free(p);

    /* non-ASCII names and arguments come back as UTF-8 */
    p = parse("<tool_call>{\"name\": \"b\\u00fcsqueda\", \"arguments\": {\"q\": \"caf\xc3\xa9 \\ud83d\\ude00\"}}"
              "</tool_call>");
    expect_call("unicode", p, 0, "b\xc3\xbcsqueda", "{\"q\":\"caf\xc3\xa9 \xf0\x9f\x98\x80\"}", 1);
    plumb_chat_parsed_free(p);
}

static void test_parse_malformed(void)
{
    PlumbChatParsed *p;
    const PlumbChatToolCall *c;

    /* a missing brace: the block ends at the close tag, the next call stands */
    p = parse("<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": 1}\n</tool_call>\n"
              "<tool_call>\n{\"name\": \"b\", \"arguments\": {}}\n</tool_call>");
    expect_parts("missing brace", p, NULL, "", 2);
    expect_bad_call("missing brace", p, 0, "not valid JSON: line 1, column 35: '}' expected");
    c = plumb_chat_parsed_call(p, 0);
    CHECK(c && c->closed && str_eq(c->text, "\n{\"name\": \"a\", \"arguments\": {\"q\": 1}\n"),
          "missing brace: text '%s'", c ? c->text : "");
    expect_call("missing brace", p, 1, "b", "{}", 1);
    plumb_chat_parsed_free(p);

    /* an unclosed quote swallows the rest when scanning: fall back to the
     * first close tag */
    p = parse("<tool_call>\n{\"name\": \"a, \"arguments\": {}}\n</tool_call>\ntext "
              "<tool_call>\n{\"name\": \"b\", \"arguments\": {\"k\": \"}\"}}\n</tool_call>");
    expect_parts("unclosed quote", p, NULL, "text", 2);
    expect_bad_call("unclosed quote", p, 0, "not valid JSON");
    expect_call("unclosed quote", p, 1, "b", "{\"k\":\"}\"}", 1);
    plumb_chat_parsed_free(p);

    p = parse("<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": [1, 2}}\n</tool_call>");
    expect_bad_call("mismatched brackets", p, 0, "not valid JSON");
    plumb_chat_parsed_free(p);

    p = parse("<tool_call>\n{\"arguments\": {}}\n</tool_call>");
    expect_bad_call("no name", p, 0, "no \"name\" field");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n{\"name\": [\"a\"], \"arguments\": {}}\n</tool_call>");
    expect_bad_call("name not a string", p, 0, "\"name\" is not a string");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n{\"name\": \"\", \"arguments\": {}}\n</tool_call>");
    expect_bad_call("empty name", p, 0, "\"name\" is empty");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n{\"name\": \"a\"}\n</tool_call>");
    expect_bad_call("no arguments", p, 0, "no \"arguments\" field");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n{\"name\": \"a\", \"arguments\": \"{\\\"q\\\": 1}\"}\n</tool_call>");
    expect_bad_call("arguments a string", p, 0, "\"arguments\" is a string");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n{\"name\": \"a\", \"arguments\": [1]}\n</tool_call>");
    expect_bad_call("arguments an array", p, 0, "\"arguments\" is not a JSON object");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n{\"name\": \"a\", \"name\": \"b\", \"arguments\": {}}\n</tool_call>");
    expect_bad_call("duplicate key", p, 0, "duplicate");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\nsearch(\"x\")\n</tool_call>");
    expect_bad_call("not JSON at all", p, 0, "not a JSON object");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n[\"search\", {}]\n</tool_call>");
    expect_bad_call("an array", p, 0, "not a JSON object");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n\n</tool_call>");
    expect_bad_call("empty", p, 0, "empty tool call");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": \"cut sho");
    expect_bad_call("cut inside the JSON", p, 0, "not valid JSON");
    c = plumb_chat_parsed_call(p, 0);
    CHECK(c && !c->closed, "cut inside the JSON: closed");
    plumb_chat_parsed_free(p);
    p = parse("<tool_call>{\"name\": \"a\", \"arguments\": {\"q\": \"\\u0000\"}}</tool_call>");
    expect_bad_call("NUL escape", p, 0, "not valid JSON");
    plumb_chat_parsed_free(p);
}

/* Every prefix of a reply parses without reading past its end (ASan), NUL
 * bytes included, and never finds more calls than the full reply. */
static void test_parse_bounds(void)
{
    static const char reply[] =
        "<think>\nplan {\"\n</think>\n\nok <tool_call>\n{\"name\": \"a\", \"arguments\": "
        "{\"s\": \"x</tool_call>\\\"{\"}}\n<code>\n}\n</code>\n</tool_call>\n\0nul"
        "<tool_call>{\"name\":\"b\",\"arguments\":{}}</tool_call><tool_call>{";
    size_t len = sizeof reply - 1, k;
    PlumbChatParsed *p = parse_n(reply, len);
    size_t clen = 0;
    const char *content = plumb_chat_parsed_content(p, &clen);
    CHECK(plumb_chat_parsed_n_calls(p) == 3, "full reply: %zu calls", plumb_chat_parsed_n_calls(p));
    expect_call("full reply", p, 0, "a", "{\"s\":\"x</tool_call>\\\"{\"}", 1);
    expect_call("full reply", p, 1, "b", "{}", 1);
    expect_bad_call("full reply", p, 2, "not valid JSON");
    CHECK(clen == 8 && memcmp(content, "ok \n\0nul", 8) == 0, "content with NUL: %zu bytes", clen);
    plumb_chat_parsed_free(p);
    for (k = 0; k <= len; k++) {
        p = parse_n(reply, k);
        CHECK(p && plumb_chat_parsed_n_calls(p) <= 3, "prefix %zu: %zu calls", k,
              plumb_chat_parsed_n_calls(p));
        plumb_chat_parsed_free(p);
    }
}

/* Many broken calls in a long reply: each is reported, none swallows the
 * next (and the scan stays linear, or this takes minutes). */
static void test_parse_many(void)
{
    static const char unit[] = "<tool_call>{\"a\": [</tool_call>";
    size_t n = 40000, u = sizeof unit - 1, i, bad = 0;
    char *text = malloc(n * u);
    PlumbChatParsed *p;
    if (!text) {
        CHECK(0, "out of memory");
        return;
    }
    for (i = 0; i < n; i++)
        memcpy(text + i * u, unit, u);
    p = parse_n(text, n * u);
    CHECK(plumb_chat_parsed_n_calls(p) == n, "%zu calls, want %zu", plumb_chat_parsed_n_calls(p), n);
    for (i = 0; i < plumb_chat_parsed_n_calls(p); i++)
        bad += plumb_chat_parsed_call(p, i)->error != NULL && plumb_chat_parsed_call(p, i)->closed;
    CHECK(bad == n, "%zu of %zu broken calls reported", bad, n);
    plumb_chat_parsed_free(p);
    free(text);
}

/* The same with calls that are never closed, and with one close at the end. */
static void test_parse_many_open(void)
{
    static const char unit[] = "<tool_call>{\"name\": \"a\", \"arguments\": {\"q\": [";
    size_t n = 40000, u = sizeof unit - 1, i, bad = 0, k;
    char *text = malloc(n * u + 12);
    PlumbChatParsed *p;
    if (!text) {
        CHECK(0, "out of memory");
        return;
    }
    for (i = 0; i < n; i++)
        memcpy(text + i * u, unit, u);
    memcpy(text + n * u, "</tool_call>", 12);
    for (k = 0; k < 2; k++) {
        p = parse_n(text, n * u + 12 * k);
        CHECK(plumb_chat_parsed_n_calls(p) == n, "%zu calls, want %zu",
              plumb_chat_parsed_n_calls(p), n);
        for (i = 0; i < plumb_chat_parsed_n_calls(p); i++)
            bad += plumb_chat_parsed_call(p, i)->error != NULL;
        CHECK(bad == n * (k + 1), "%zu broken calls reported", bad);
        CHECK(n == 0 || plumb_chat_parsed_call(p, n - 1)->closed == (int)k,
              "last call: closed %d", plumb_chat_parsed_call(p, n - 1)->closed);
        plumb_chat_parsed_free(p);
    }
    free(text);
}

static void test_parse_errors(void)
{
    PlumbChatParsed *p = (PlumbChatParsed *)&p;
    PlumbError err = { 0 };
    CHECK(plumb_chat_parse("x", 1, NULL, &err) == PLUMB_EINVAL, "NULL out accepted");
    CHECK(plumb_chat_parse(NULL, 3, &p, &err) == PLUMB_EINVAL && p == NULL &&
              strstr(err.msg, "3 bytes"),
          "NULL text: '%s'", err.msg);
    CHECK(plumb_chat_parse(NULL, 0, &p, &err) == PLUMB_OK && p, "NULL empty text: %s", err.msg);
    plumb_chat_parsed_free(p);
    plumb_chat_parsed_free(NULL);
    CHECK(plumb_chat_parsed_n_calls(NULL) == 0 && plumb_chat_parsed_call(NULL, 0) == NULL,
          "NULL parsed");
}

int main(void)
{
    test_system_user();
    test_multi_turn();
    test_tools();
    test_errors();
    test_long_content();
    test_template_in_gguf();
    test_golden_files();
    test_keep_reasoning_prefix();
    test_format_json_errors();
    test_parse_basic();
    test_parse_calls();
    test_parse_malformed();
    test_parse_bounds();
    test_parse_many();
    test_parse_many_open();
    test_parse_errors();
    return test_done("test_chat");
}
