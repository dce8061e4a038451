/*
 * test_protocol.c — the agent protocol's text: every model output of
 * tests/data/agent/toolcalls.jsonl gives its expected dispatch (tool name,
 * arguments as compact JSON, code) or its exact error string; the system
 * prompt's <tools> schemas, descriptions stripped, equal the reference's
 * (tests/data/agent/tools.reference.json); the frame, the date, the
 * uploaded-files prefix, the caps and the unverified-URL scan.
 */
#include "config.h"

#include <string.h>

#include <jansson.h>

#include "format.h"
#include "protocol.h"
#include "../testlib.h"
#include "tools.h"

static void strip_descriptions(json_t *v)
{
    const char *k;
    json_t *x;
    size_t i;
    void *tmp;
    if (json_is_object(v)) {
        json_object_del(v, "description");
        json_object_foreach_safe(v, tmp, k, x)
            strip_descriptions(x);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, x)
            strip_descriptions(x);
    }
}

/* One signature line of the <tools> block, its function's description cut
 * out by position (it may hold raw quotes and newlines), parsed. */
static json_t *parse_signature(const char *line, size_t len)
{
    Buf b = { 0 };
    const char *d, *e, *end = line + len;
    json_t *v;
    json_error_t je;
    buf_append(&b, line, len);
    d = strstr(buf_str(&b), "\"description\": \"");
    e = d ? strstr(d, "\", \"parameters\": ") : NULL;
    if (d && e && e < buf_str(&b) + b.len) {
        size_t off = (size_t)(d - b.p), cut = (size_t)(e + 3 - d);
        memmove(b.p + off, b.p + off + cut, b.len - off - cut + 1);
        b.len -= cut;
    }
    (void)end;
    v = json_loadb(b.p, b.len, 0, &je);
    if (!v)
        fprintf(stderr, "signature does not parse: %s: %.200s\n", je.text, b.p);
    buf_free(&b);
    strip_descriptions(v);
    return v;
}

/* The <tools> block of a prompt as an array of stripped schemas. */
static json_t *tools_of(const char *prompt)
{
    const char *s = strstr(prompt, "<tools>\n"), *e = strstr(prompt, "\n</tools>");
    json_t *arr = json_array();
    if (!s || !e)
        return arr;
    s += strlen("<tools>\n");
    while (s < e) {
        const char *next = strstr(s + 1, "\n{\"type\": \"function\"");
        if (!next || next > e)
            next = e;
        json_array_append_new(arr, parse_signature(s, (size_t)(next - s)));
        s = next + 1;
    }
    return arr;
}

static void test_system_prompt(void)
{
    Buf b = { 0 };
    json_error_t je;
    json_t *ref = json_load_file(test_data("agent/tools.reference.json"), 0, &je), *ours;
    AgentTools *t = NULL;
    AgentToolsParams tp = { 0 };
    PlumbError err = { 0 };
    const char *p;

    CHECK(ref != NULL, "tools.reference.json: %s", je.text);
    CHECK(protocol_system_prompt(NULL, "2025-01-01", &b) == PLUMB_OK, "prompt");
    p = buf_str(&b);
    CHECK(b.len > 26 && !strcmp(p + b.len - 26, "\n\nCurrent date: 2025-01-01"),
          "ends with the date: ...%s", p + (b.len > 40 ? b.len - 40 : 0));
    CHECK(strstr(p, "<answer></answer>") != NULL && strstr(p, "<answer></answer>") <
                                                        strstr(p, "\n\n# Tools\n\n"),
          "the role paragraph asks for <answer></answer>");
    CHECK(strstr(p, "\n\n# Tools\n\nYou may call one or more functions to assist with the user "
                    "query.\n\nYou are provided with function signatures within <tools></tools> "
                    "XML tags:\n<tools>\n{\"type\": \"function\", \"function\": {\"name\": "
                    "\"search\"") != NULL,
          "the Hermes frame before the tools");
    CHECK(strstr(p, "}}}\n</tools>\n\nFor each function call, return a json object with function "
                    "name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n"
                    "{\"name\": <function-name>, \"arguments\": <args-json-object>}\n</tool_call>"
                    "\n\nCurrent date: 2025-01-01") != NULL,
          "the Hermes frame after the tools");
    ours = tools_of(p);
    CHECK(json_array_size(ours) == 5, "5 signatures, got %zu", json_array_size(ours));
    CHECK(json_equal(ours, ref), "the schemas, descriptions stripped, equal the reference's");
    if (!json_equal(ours, ref)) {
        char *a = json_dumps(ours, JSON_COMPACT), *r = json_dumps(ref, JSON_COMPACT);
        fprintf(stderr, "ours: %s\nref:  %s\n", a, r);
        free(a);
        free(r);
    }
    json_decref(ours);

    /* a subset keeps the reference's order and drops the rest */
    tp.enabled = "visit,search";
    CHECK(agent_tools_open(&t, &tp, &err) == PLUMB_OK, "tools: %s", err.msg);
    buf_reset(&b);
    CHECK(protocol_system_prompt(t, "2024-02-29", &b) == PLUMB_OK, "prompt");
    ours = tools_of(buf_str(&b));
    CHECK(json_array_size(ours) == 2 && json_equal(json_array_get(ours, 0), json_array_get(ref, 0)) &&
              json_equal(json_array_get(ours, 1), json_array_get(ref, 1)),
          "search, visit only");
    CHECK(strstr(buf_str(&b), "PythonInterpreter") == NULL, "no PythonInterpreter");
    json_decref(ours);
    agent_tools_close(t);
    json_decref(ref);
    buf_free(&b);
}

static void test_corpus(void)
{
    size_t len, n_cases = 0;
    char *data = test_read_file(test_data("agent/toolcalls.jsonl"), &len), *line, *save = NULL;
    CHECK(data != NULL, "read toolcalls.jsonl");
    if (!data)
        return;
    for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_error_t je;
        json_t *c = json_loads(line, 0, &je), *ex;
        const char *id, *tools;
        AgentTools *t = NULL;
        AgentToolsParams tp = { 0 };
        PlumbError err = { 0 };
        ToolCall call;
        Buf reply = { 0 };
        char *answer = NULL, *args = NULL;
        int ra;

        CHECK(c != NULL, "corpus line does not parse: %s", je.text);
        if (!c)
            continue;
        n_cases++;
        id = json_string_value(json_object_get(c, "id"));
        ex = json_object_get(c, "expect");
        tools = json_string_value(json_object_get(c, "tools"));
        tp.enabled = tools;
        agent_tools_open(&t, &tp, &err);
        {
            json_t *r = json_object_get(c, "reply");
            protocol_clean_reply(json_string_value(r), json_string_length(r), &reply);
        }
        CHECK(protocol_parse_call(buf_str(&reply), t, &call, &err) == PLUMB_OK, "%s: %s", id,
              err.msg);
        if (json_object_get(ex, "none")) {
            CHECK(call.kind == CALL_NONE, "%s: expected no call, got kind %d (%s)", id, call.kind,
                  call.error ? call.error : call.name ? call.name : "");
        } else if (json_object_get(ex, "error")) {
            const char *want = json_string_value(json_object_get(ex, "error"));
            CHECK(call.kind == CALL_ERROR && !strcmp(call.error, want),
                  "%s: expected error \"%s\", got kind %d \"%s\"", id, want, call.kind,
                  call.error ? call.error : call.name ? call.name : "");
        } else {
            const char *name = json_string_value(json_object_get(ex, "name"));
            const char *want_args = json_string_value(json_object_get(ex, "args"));
            const char *want_code = json_string_value(json_object_get(ex, "code"));
            if (call.kind == CALL_TOOL)
                args = json_dumps(call.args, JSON_COMPACT | JSON_PRESERVE_ORDER);
            CHECK(call.kind == CALL_TOOL && !strcmp(call.name, name), "%s: expected %s, got %d %s",
                  id, name, call.kind, call.error ? call.error : call.name ? call.name : "");
            CHECK(args && !strcmp(args, want_args), "%s: args %.300s, expected %.300s", id,
                  args ? args : "(none)", want_args);
            CHECK((want_code == NULL) == (call.code == NULL) &&
                      (!want_code || !strcmp(want_code, call.code)),
                  "%s: code \"%s\", expected \"%s\"", id, call.code ? call.code : "(none)",
                  want_code ? want_code : "(none)");
        }
        ra = protocol_answer(buf_str(&reply), &answer);
        if (json_object_get(c, "answer"))
            CHECK(ra == 1 && !strcmp(answer, json_string_value(json_object_get(c, "answer"))),
                  "%s: answer \"%s\"", id, answer ? answer : "(none)");
        else
            CHECK(ra == 0, "%s: unexpected answer \"%s\"", id, answer ? answer : "");
        free(answer);
        free(args);
        protocol_call_free(&call);
        buf_free(&reply);
        agent_tools_close(t);
        json_decref(c);
    }
    CHECK(n_cases >= 60, "only %zu cases", n_cases);
    free(data);
}

static void test_caps(void)
{
    size_t n = PROTOCOL_MAX_CALL + 16, i;
    char *s = malloc(n + 64);
    ToolCall call;
    PlumbError err = { 0 };
    strcpy(s, "<tool_call>{\"name\": \"search\", \"arguments\": {\"query\": [\"");
    for (i = strlen(s); i < n; i++)
        s[i] = 'a';
    strcpy(s + n, "\"]}}</tool_call>");
    CHECK(protocol_parse_call(s, NULL, &call, &err) == PLUMB_OK && call.kind == CALL_ERROR &&
              !strcmp(call.error, FORMAT_ERR_TOOLCALL),
          "a call over %u bytes is the invalid-JSON error", PROTOCOL_MAX_CALL);
    protocol_call_free(&call);
    free(s);
}

static void test_text(void)
{
    Buf b = { 0 };
    const char *files[] = { "hello.txt", "it's \"x\".pdf" };
    AgentTools *t = NULL;
    PlumbError err = { 0 };
    json_t *u = json_array();

    protocol_question("Q?", files, 1, &b);
    CHECK(!strcmp(buf_str(&b), "(Uploaded 1 file: ['hello.txt'])\n\nQ?"), "%s", buf_str(&b));
    buf_reset(&b);
    protocol_question("Q?", files, 2, &b);
    CHECK(!strcmp(buf_str(&b), "(Uploaded 2 file: ['hello.txt', 'it\\'s \"x\".pdf'])\n\nQ?"),
          "%s", buf_str(&b));
    buf_reset(&b);
    protocol_question("Q?", NULL, 0, &b);
    CHECK(!strcmp(buf_str(&b), "Q?"), "%s", buf_str(&b));
    buf_reset(&b);
    protocol_clean_reply("\n  text <answer>a</answer>\n\n<tool_response>x", 44, &b);
    CHECK(!strcmp(buf_str(&b), "text <answer>a</answer>"), "clean: [%s]", buf_str(&b));
    CHECK(!strcmp(PROTOCOL_FORCED_ANSWER + strlen(PROTOCOL_FORCED_ANSWER) -
                      strlen("<think>your final thinking</think>\n<answer>your answer</answer>"),
                  "<think>your final thinking</think>\n<answer>your answer</answer>"),
          "the forced answer ends with the format");

    agent_tools_open(&t, NULL, &err);
    agent_tools_add_source(t, "https://a.example/page", "https://a.example/page/", "ab", 0);
    protocol_unverified("See https://a.example/page/, [b](https://b.example/x_(y)) and "
                        "https://b.example/x_(y). Also http://c.example/z.",
                        t, 0, u);
    CHECK(json_array_size(u) == 2 &&
              !strcmp(json_string_value(json_array_get(u, 0)), "https://b.example/x_(y)") &&
              !strcmp(json_string_value(json_array_get(u, 1)), "http://c.example/z"),
          "unverified: %zu", json_array_size(u));
    json_array_clear(u);
    protocol_unverified("https://a.example/page", t, 1, u);
    CHECK(json_array_size(u) == 1, "sources before `from` do not count");
    json_decref(u);
    agent_tools_close(t);
    buf_free(&b);
}

int main(void)
{
    test_system_prompt();
    test_corpus();
    test_caps();
    test_text();
    return test_done("test_protocol");
}
