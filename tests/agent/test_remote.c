/*
 * test_remote.c — the remote backend against tests/agent/fake_openai.py on
 * loopback: the same text for every split of the stream, the prompt sent
 * equal to llm_render's bytes, stop strings enforced when the server
 * ignores them, retries (429 with Retry-After in seconds and as a date,
 * 500, 503, a dropped or stalled stream continued, error events), the
 * first-byte and idle timeouts, context-length errors as PLUMB_ERANGE,
 * client errors, the chat API's reasoning rebuilt, the abort flag and the
 * callback's stop, connection refused, the API key, token counting and the
 * context size.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "llm.h"
#include "utf8.h"
#include "../testlib.h"

static char tmpdir[256];
static const char *fake_path;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---------------------------------------------------------------- the fake server */
/* One server for the whole test (python3 starts slowly); each case has its
 * own script, named by the first component of its URL's path. */
static struct {
    pid_t pid;
    int in_fd; /* its stdin: closing it stops the server */
    int port;
} server;

typedef struct Fake {
    char url[96];       /* http://127.0.0.1:PORT/caseN/v1 */
    char record[300];   /* what the server recorded of this case's requests */
} Fake;

static int server_start(void)
{
    int in[2], out[2];
    char buf[32] = "";
    size_t got = 0;
    if (pipe(in) || pipe(out))
        return -1;
    server.pid = fork();
    if (server.pid < 0)
        return -1;
    if (server.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("python3", "python3", fake_path, "--dir", tmpdir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    server.in_fd = in[1];
    /* the port, within 10 s */
    while (got < sizeof buf - 1 && !strchr(buf, '\n')) {
        struct pollfd pfd = { .fd = out[0], .events = POLLIN };
        ssize_t r;
        if (poll(&pfd, 1, 10000) <= 0)
            break;
        r = read(out[0], buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
        buf[got] = '\0';
    }
    close(out[0]);
    server.port = atoi(buf);
    return server.port > 0 ? 0 : -1;
}

static void server_stop(void)
{
    int status;
    if (server.pid <= 0)
        return;
    close(server.in_fd);
    for (int i = 0; i < 250; i++) {
        if (waitpid(server.pid, &status, WNOHANG) == server.pid) {
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the fake server's exit status %d", status);
            server.pid = 0;
            return;
        }
        usleep(20000);
    }
    CHECK(0, "the fake server did not exit on the end of its input");
    kill(server.pid, SIGKILL);
    waitpid(server.pid, &status, 0);
    server.pid = 0;
}

/* A new case: its script (JSON lines) and, if conf is set, its server's
 * options (a JSON object). */
static int fake_start(Fake *f, const char *script, const char *conf)
{
    static int n;
    char path[300];
    FILE *s;
    memset(f, 0, sizeof *f);
    if (server.port <= 0)
        return -1;
    n++;
    snprintf(path, sizeof path, "%s/case%d.jsonl", tmpdir, n);
    snprintf(f->record, sizeof f->record, "%s/case%d.record.jsonl", tmpdir, n);
    snprintf(f->url, sizeof f->url, "http://127.0.0.1:%d/case%d/v1", server.port, n);
    s = fopen(path, "w");
    if (!s)
        return -1;
    if (conf)
        fprintf(s, "{\"server\": %s}\n", conf);
    fputs(script, s);
    return fclose(s) ? -1 : 0;
}

static void fake_stop(Fake *f)
{
    (void)f; /* the record is written before each answer: nothing to wait for */
}

/* The recorded generation requests' bodies (an array; caller decrefs). */
static json_t *fake_requests(const Fake *f, const char *suffix)
{
    json_t *arr = json_array();
    char *text = test_read_file(f->record, NULL), *line, *save = NULL;
    if (!text)
        return arr;
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        json_t *j = json_loads(line, 0, NULL);
        const char *path = json_string_value(json_object_get(j, "path"));
        size_t pl = path ? strlen(path) : 0, sl = strlen(suffix);
        if (path && pl >= sl && !strcmp(path + pl - sl, suffix) &&
            (strcmp(suffix, "/completions") || !strstr(path, "/chat/")))
            json_array_append(arr, j);
        json_decref(j);
    }
    free(text);
    return arr;
}

/* ---------------------------------------------------------------- utilities */
typedef struct Pieces {
    char buf[65536];
    size_t len;
    int n, bad_utf8, stop_after; /* stop_after: return 1 after this many pieces */
} Pieces;

static int on_text(void *user, const char *s, size_t n)
{
    Pieces *p = user;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!k) {
            p->bad_utf8++;
            break;
        }
        i += k;
    }
    if (p->len + n < sizeof p->buf) {
        memcpy(p->buf + p->len, s, n);
        p->len += n;
    }
    p->n++;
    return p->stop_after && p->n >= p->stop_after;
}

static const char *const tongyi_stop[] = { "\n<tool_response>", "<tool_response>" };

static PlumbChatMsg conv[] = {
    { .role = "system", .content = "You are a research assistant.\n\nCurrent date: 2025-01-01" },
    { .role = "user", .content = "Which city — 東京 or Zürich — is older? 😀" },
    { .role = "assistant", .content = "<think>\nLet me search.\n</think>\n\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": [\"東京\"]}}\n</tool_call>" },
    { .role = "user", .content = "<tool_response>\nA Google search for '東京' found 1 results:\n</tool_response>" },
};
#define NCONV (sizeof conv / sizeof conv[0])

static void base_params(LlmRemoteParams *rp, const Fake *f)
{
    memset(rp, 0, sizeof *rp);
    rp->base_url = f->url;
    rp->first_byte_timeout_s = 5;
    rp->idle_timeout_s = 5;
    rp->backoff_max_s = 0.05;
    rp->max_retries = 3;
}

static void gen_params(LlmParams *p)
{
    llm_params_default(p);
    p->stop = tongyi_stop;
    p->n_stop = 2;
    p->max_tokens = 500;
}

/* Open on f with rp (or defaults) and generate once. */
static int run(const Fake *f, const LlmRemoteParams *rp_in, const LlmParams *p_in, Pieces *pc,
               LlmResult *res, PlumbError *err)
{
    LlmRemoteParams rp;
    LlmParams p;
    PlumbLLM *l = NULL;
    int rc;
    if (rp_in)
        rp = *rp_in;
    else
        base_params(&rp, f);
    if (p_in)
        p = *p_in;
    else
        gen_params(&p);
    memset(res, 0, sizeof *res);
    rc = llm_open_remote(&l, &rp, err);
    if (rc)
        return rc;
    rc = llm_generate(l, conv, NCONV, &p, pc ? on_text : NULL, pc, res, err);
    llm_close(l);
    return rc;
}

static char *rendered(void)
{
    char *s = NULL;
    PlumbError err = { 0 };
    if (llm_render(conv, NCONV, &s, &err))
        return NULL;
    return s;
}

static const char *REPLY =
    "<think>\\nThe user asks about 東京 and Zürich — let me check. 😀🎉\\n</think>\\n\\n"
    "<tool_call>\\n{\\\"name\\\": \\\"search\\\", \\\"arguments\\\": {\\\"query\\\": [\\\"Zürich founded\\\"]}}\\n</tool_call>";
static const char *REPLY_C =
    "<think>\nThe user asks about 東京 and Zürich — let me check. 😀🎉\n</think>\n\n"
    "<tool_call>\n{\"name\": \"search\", \"arguments\": {\"query\": [\"Zürich founded\"]}}\n</tool_call>";

/* ---------------------------------------------------------------- cases */
static void test_splits(void)
{
    char script[16384] = "";
    size_t o = 0;
    Fake f;
    LlmRemoteParams rp;
    PlumbLLM *l = NULL;
    PlumbError err = { 0 };
    const int N = 12;
    char *want_prompt = rendered();
    for (int i = 0; i < N; i++)
        o += (size_t)snprintf(script + o, sizeof script - o,
                              "{\"reply\": \"%s\", \"split_seed\": %d, \"chunk_chars\": %d%s%s%s}\n", REPLY,
                              100 + i, 1 + i % 5, i % 3 == 0 ? ", \"keepalive\": true" : "",
                              i == 1 ? ", \"cached\": 7" : "", i == 2 ? ", \"no_done\": true" : "");
    if (fake_start(&f, script, NULL)) {
        CHECK(0, "the fake server did not start");
        free(want_prompt);
        return;
    }
    base_params(&rp, &f);
    CHECK(llm_open_remote(&l, &rp, &err) == 0, "open: %s", err.msg);
    if (l) {
        char want_desc[256];
        snprintf(want_desc, sizeof want_desc, "%s (model fake-model, api completions)", f.url);
        CHECK(!strcmp(llm_describe(l), want_desc), "describe: %s", llm_describe(l));
        for (int i = 0; i < N; i++) {
            LlmParams p;
            LlmResult res;
            Pieces pc = { 0 };
            gen_params(&p);
            if (i == 0) {
                p.has_seed = 1;
                p.seed = 42;
            }
            CHECK(llm_generate(l, conv, NCONV, &p, on_text, &pc, &res, &err) == 0, "split %d: %s", i, err.msg);
            CHECK(res.text && !strcmp(res.text, REPLY_C), "split %d: text '%s'", i, res.text ? res.text : "");
            CHECK(pc.len == res.text_len && !memcmp(pc.buf, res.text, pc.len), "split %d: pieces differ", i);
            CHECK(pc.bad_utf8 == 0, "split %d: a piece splits a UTF-8 character", i);
            CHECK(res.finish == LLM_FINISH_STOP, "split %d: finish %d", i, res.finish);
            CHECK(res.n_prompt > 0 && res.n_generated > 0, "split %d: usage %zu %zu", i, res.n_prompt,
                  res.n_generated);
            if (i == 1)
                CHECK(res.n_reused == 7 && res.n_evaluated == res.n_prompt - 7, "cached tokens: %zu",
                      res.n_reused);
            llm_result_free(&res);
        }
        llm_close(l);
    }
    fake_stop(&f);
    {
        json_t *reqs = fake_requests(&f, "/completions"), *b = json_object_get(json_array_get(reqs, 0), "body");
        const char *prompt = json_string_value(json_object_get(b, "prompt"));
        json_t *stop = json_object_get(b, "stop");
        CHECK(json_array_size(reqs) == (size_t)N, "requests: %zu", json_array_size(reqs));
        CHECK(prompt && want_prompt && !strcmp(prompt, want_prompt), "the prompt sent is not llm_render's");
        CHECK(!strcmp(json_string_value(json_object_get(b, "model")) ?: "", "fake-model"), "model");
        CHECK(json_integer_value(json_object_get(b, "max_tokens")) == 500, "max_tokens");
        CHECK(fabs(json_real_value(json_object_get(b, "temperature")) - 0.6) < 1e-9, "temperature");
        CHECK(fabs(json_real_value(json_object_get(b, "top_p")) - 0.95) < 1e-9, "top_p");
        CHECK(fabs(json_real_value(json_object_get(b, "presence_penalty")) - 1.1) < 1e-9, "presence_penalty");
        CHECK(json_is_true(json_object_get(b, "stream")), "stream");
        CHECK(json_is_true(json_object_get(json_object_get(b, "stream_options"), "include_usage")), "usage");
        CHECK(json_array_size(stop) == 2 && !strcmp(json_string_value(json_array_get(stop, 0)), "\n<tool_response>"),
              "stop");
        CHECK(json_integer_value(json_object_get(b, "seed")) == 42, "seed");
        CHECK(!json_object_get(json_object_get(json_array_get(reqs, 1), "body"), "seed"), "no seed unless set");
        CHECK(!json_object_get(b, "tools"), "never tools");
        json_decref(reqs);
    }
    free(want_prompt);
}

static void test_stop(void)
{
    Fake f;
    LlmResult res;
    Pieces pc = { 0 };
    PlumbError err = { 0 };
    const char *script =
        "{\"reply\": \"<think>\\nok\\n</think>\\n<tool_call>\\n{}\\n</tool_call>\\n<tool_response>\\nINVENTED\\n</tool_response>\\nmore\", \"ignore_stop\": true, \"chunk_chars\": 2}\n"
        "{\"reply\": \"<think>\\nok\\n</think>\\n<tool_call>\\n{}\\n</tool_call>\\n<tool_response>\\nINVENTED\"}\n"
        "{\"reply\": \"a<tool_res\\nponse> <tool_respons\", \"ignore_stop\": true, \"chunk_chars\": 1}\n";
    const char *want = "<think>\nok\n</think>\n<tool_call>\n{}\n</tool_call>";
    if (fake_start(&f, script, NULL)) {
        CHECK(0, "the fake server did not start");
        return;
    }
    for (int i = 0; i < 3; i++) {
        memset(&pc, 0, sizeof pc);
        CHECK(run(&f, NULL, NULL, &pc, &res, &err) == 0, "stop %d: %s", i, err.msg);
        if (i < 2) {
            CHECK(res.text && !strcmp(res.text, want), "stop %d: text '%s'", i, res.text ? res.text : "");
            CHECK(res.finish == LLM_FINISH_STRING, "stop %d: finish %d", i, res.finish);
        } else { /* near misses: held back, then given out */
            CHECK(res.text && !strcmp(res.text, "a<tool_res\nponse> <tool_respons"), "near miss: '%s'",
                  res.text ? res.text : "");
            CHECK(res.finish == LLM_FINISH_STOP, "near miss: finish %d", res.finish);
        }
        CHECK(pc.len == res.text_len && !memcmp(pc.buf, res.text, pc.len), "stop %d: pieces '%.*s'", i,
              (int)pc.len, pc.buf);
        llm_result_free(&res);
    }
    fake_stop(&f);
}

static void test_retries(void)
{
    Fake f;
    LlmResult res;
    PlumbError err = { 0 };
    double t;
    char script[1024], date[64];
    time_t later;
    struct tm g;

    /* 429 with Retry-After in seconds: the wait is at least that */
    if (fake_start(&f, "{\"status\": 429, \"retry_after\": \"1\", \"message\": \"slow down\"}\n{\"reply\": \"ok\"}\n",
                   NULL) == 0) {
        t = now_s();
        CHECK(run(&f, NULL, NULL, NULL, &res, &err) == 0, "429: %s", err.msg);
        t = now_s() - t;
        CHECK(t >= 1.0, "429: waited %.3f s, Retry-After said 1", t);
        CHECK(t < 4.0, "429: waited %.3f s", t);
        CHECK(res.text && !strcmp(res.text, "ok"), "429: text");
        llm_result_free(&res);
        fake_stop(&f);
    } else {
        CHECK(0, "fake");
    }
    /* Retry-After as an HTTP date */
    later = time(NULL) + 2;
    gmtime_r(&later, &g);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &g);
    snprintf(script, sizeof script, "{\"status\": 503, \"retry_after\": \"%s\"}\n{\"reply\": \"ok\"}\n", date);
    if (fake_start(&f, script, NULL) == 0) {
        t = now_s();
        CHECK(run(&f, NULL, NULL, NULL, &res, &err) == 0, "503 date: %s", err.msg);
        t = now_s() - t;
        CHECK(t >= 0.9 && t < 4.0, "503 with a date 2 s ahead: waited %.3f s", t);
        llm_result_free(&res);
        fake_stop(&f);
    }
    /* 500, 503, then a reply; backoff capped small */
    if (fake_start(&f, "{\"status\": 500}\n{\"status\": 503}\n{\"reply\": \"third\"}\n", NULL) == 0) {
        json_t *reqs;
        t = now_s();
        CHECK(run(&f, NULL, NULL, NULL, &res, &err) == 0, "500/503: %s", err.msg);
        CHECK(now_s() - t < 2.0, "500/503: backoff is capped at backoff_max_s");
        CHECK(res.text && !strcmp(res.text, "third"), "500/503: text");
        llm_result_free(&res);
        fake_stop(&f);
        reqs = fake_requests(&f, "/completions");
        CHECK(json_array_size(reqs) == 3, "500/503: %zu requests", json_array_size(reqs));
        json_decref(reqs);
    }
    /* too many failures: the error names the URL and the status */
    if (fake_start(&f, "{\"status\": 500, \"message\": \"boom\"}\n{\"status\": 500, \"message\": \"boom\"}\n", NULL) == 0) {
        LlmRemoteParams rp;
        base_params(&rp, &f);
        rp.max_retries = 1;
        CHECK(run(&f, &rp, NULL, NULL, &res, &err) == PLUMB_EIO, "gave up");
        CHECK(strstr(err.msg, f.url) && strstr(err.msg, "HTTP 500") && strstr(err.msg, "boom") &&
              strstr(err.msg, "2 attempts"), "gave up: %s", err.msg);
        fake_stop(&f);
    }
    /* an error event (a server error) is retried; a client error is not */
    if (fake_start(&f, "{\"reply\": \"x\", \"error_event\": {\"message\": \"engine died\", \"code\": 500}}\n"
                       "{\"reply\": \"after the error\"}\n"
                       "{\"reply\": \"x\", \"error_event\": {\"message\": \"bad sampling params\", \"code\": 400}}\n"
                       "{\"reply\": \"not reached\"}\n", NULL) == 0) {
        CHECK(run(&f, NULL, NULL, NULL, &res, &err) == 0, "error event: %s", err.msg);
        CHECK(res.text && !strcmp(res.text, "after the error"), "error event: text");
        llm_result_free(&res);
        CHECK(run(&f, NULL, NULL, NULL, &res, &err) == PLUMB_EIO && strstr(err.msg, "bad sampling params"),
              "client error event: %s", err.msg);
        fake_stop(&f);
    }
    /* no [DONE] and no finish: the stream broke, so it is continued */
    if (fake_start(&f, "{\"reply\": \"abc\", \"no_done\": true, \"no_finish\": true}\n{\"reply\": \"def\"}\n", NULL) == 0) {
        CHECK(run(&f, NULL, NULL, NULL, &res, &err) == 0, "no done: %s", err.msg);
        CHECK(res.text && !strcmp(res.text, "abcdef"), "no done: continued '%s'", res.text ? res.text : "");
        llm_result_free(&res);
        fake_stop(&f);
    }
}

static void test_timeouts(void)
{
    Fake f;
    LlmResult res;
    PlumbError err = { 0 };
    LlmRemoteParams rp;
    double t;
    char *want_prompt = rendered();

    if (fake_start(&f, "{\"reply\": \"late\", \"stall_first\": 30}\n", NULL) == 0) {
        base_params(&rp, &f);
        rp.first_byte_timeout_s = 1;
        rp.max_retries = -1;
        t = now_s();
        CHECK(run(&f, &rp, NULL, NULL, &res, &err) == PLUMB_EIO, "first byte: fails");
        t = now_s() - t;
        CHECK(t >= 0.9 && t < 3.0, "first-byte timeout after %.3f s", t);
        CHECK(strstr(err.msg, "first-byte timeout") && strstr(err.msg, f.url), "first byte: %s", err.msg);
        fake_stop(&f);
    }
    /* a stall mid-stream: the idle timeout, then the reply is continued */
    if (fake_start(&f, "{\"reply\": \"Hello wonderful world\", \"stall_after\": 5, \"chunk_chars\": 2}\n"
                       "{\"reply\": \" wonderful world\"}\n", NULL) == 0) {
        Pieces pc = { 0 };
        json_t *reqs;
        const char *p2;
        base_params(&rp, &f);
        rp.idle_timeout_s = 1;
        t = now_s();
        CHECK(run(&f, &rp, NULL, &pc, &res, &err) == 0, "idle: %s", err.msg);
        t = now_s() - t;
        CHECK(t >= 0.9 && t < 3.0, "idle timeout after %.3f s", t);
        CHECK(res.text && !strcmp(res.text, "Hello wonderful world"), "idle: text '%s'", res.text ? res.text : "");
        CHECK(pc.len == res.text_len && !memcmp(pc.buf, res.text, pc.len), "idle: nothing told twice");
        llm_result_free(&res);
        fake_stop(&f);
        reqs = fake_requests(&f, "/completions");
        p2 = json_string_value(json_object_get(json_object_get(json_array_get(reqs, 1), "body"), "prompt"));
        CHECK(json_array_size(reqs) == 2 && p2 && want_prompt && strlen(p2) == strlen(want_prompt) + 5 &&
                  !strncmp(p2, want_prompt, strlen(want_prompt)) && !strcmp(p2 + strlen(want_prompt), "Hello"),
              "the continuation's prompt is the prompt plus the text so far");
        json_decref(reqs);
    }
    /* chat: a drop before any text is retried afresh; after text, it fails */
    if (fake_start(&f, "{\"reply\": \"abc\", \"drop_after\": 0}\n{\"reply\": \"fresh\"}\n"
                       "{\"reply\": \"abcdef\", \"drop_after\": 3}\n", NULL) == 0) {
        Pieces pc = { 0 };
        base_params(&rp, &f);
        rp.api = LLM_API_CHAT;
        CHECK(run(&f, &rp, NULL, &pc, &res, &err) == 0, "chat drop: %s", err.msg);
        CHECK(res.text && !strcmp(res.text, "fresh"), "chat drop: '%s'", res.text ? res.text : "");
        llm_result_free(&res);
        memset(&pc, 0, sizeof pc);
        CHECK(run(&f, &rp, NULL, &pc, &res, &err) == PLUMB_EIO, "chat drop after text fails");
        CHECK(strstr(err.msg, "cannot continue") != NULL, "chat drop: %s", err.msg);
        fake_stop(&f);
    }
    free(want_prompt);
}

static void test_errors(void)
{
    Fake f;
    LlmResult res;
    PlumbError err = { 0 };
    LlmRemoteParams rp;
    PlumbLLM *l = NULL;
    int port;

    if (fake_start(&f, "{\"context_error\": \"vllm\"}\n{\"context_error\": \"llamacpp\"}\n"
                       "{\"context_error\": \"sglang\"}\n"
                       "{\"reply\": \"x\", \"error_event\": {\"message\": \"The input (9 tokens) is longer than the model's context length (4 tokens).\", \"code\": 400}}\n"
                       "{\"reply\": \"x\", \"error_after\": 1, \"error_object\": {\"object\": \"error\", \"message\": \"This model's maximum context length is 4 tokens.\", \"code\": 400}}\n"
                       "{\"error\": \"Invalid value for top_k\"}\n{\"status\": 404, \"message\": \"model not here\"}\n",
                   NULL) == 0) {
        for (int i = 0; i < 5; i++)
            CHECK(run(&f, NULL, NULL, NULL, &res, &err) == PLUMB_ERANGE, "context error %d: %s", i, err.msg);
        CHECK(run(&f, NULL, NULL, NULL, &res, &err) == PLUMB_EIO && strstr(err.msg, "Invalid value for top_k") &&
                  strstr(err.msg, "HTTP 400") && strstr(err.msg, f.url), "400: %s", err.msg);
        CHECK(run(&f, NULL, NULL, NULL, &res, &err) < 0 && strstr(err.msg, "model not here"), "404: %s", err.msg);
        fake_stop(&f);
        {
            json_t *reqs = fake_requests(&f, "/completions");
            CHECK(json_array_size(reqs) == 7, "client errors are not retried: %zu requests", json_array_size(reqs));
            json_decref(reqs);
        }
    }
    /* a bad URL */
    memset(&rp, 0, sizeof rp);
    rp.base_url = "htp://127.0.0.1/v1";
    CHECK(llm_open_remote(&l, &rp, &err) == PLUMB_EINVAL && strstr(err.msg, "htp://127.0.0.1/v1"),
          "bad URL: %s", err.msg);
    /* connection refused: retried, then an error naming the URL */
    {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t al = sizeof a;
        char url[64];
        double t;
        bind(s, (struct sockaddr *)&a, sizeof a);
        getsockname(s, (struct sockaddr *)&a, &al);
        port = ntohs(a.sin_port);
        close(s);
        snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
        memset(&rp, 0, sizeof rp);
        rp.base_url = url;
        rp.max_retries = 2;
        rp.backoff_max_s = 0.05;
        t = now_s();
        CHECK(llm_open_remote(&l, &rp, &err) == PLUMB_EIO, "refused: open without a model name fails");
        CHECK(strstr(err.msg, url) && strstr(err.msg, "3 attempts"), "refused: %s", err.msg);
        rp.model_name = "m";
        CHECK(llm_open_remote(&l, &rp, &err) == 0, "refused: open with a model name: %s", err.msg);
        if (l) {
            LlmParams p;
            gen_params(&p);
            CHECK(llm_generate(l, conv, NCONV, &p, NULL, NULL, &res, &err) == PLUMB_EIO, "refused: generate");
            CHECK(strstr(err.msg, url) && strstr(err.msg, "/completions") && strstr(err.msg, "3 attempts"),
                  "refused: %s", err.msg);
            llm_close(l);
            l = NULL;
        }
        CHECK(now_s() - t < 3.0, "refused: quick with small backoffs");
    }
    /* the API key */
    {
        if (fake_start(&f, "{\"reply\": \"with key\"}\n", "{\"api_key\": \"sekrit\"}") == 0) {
            json_t *reqs;
            base_params(&rp, &f);
            CHECK(run(&f, &rp, NULL, NULL, &res, &err) == PLUMB_EIO && strstr(err.msg, "HTTP 401"),
                  "no key: %s", err.msg);
            rp.api_key = "sekrit";
            CHECK(run(&f, &rp, NULL, NULL, &res, &err) == 0 && !strcmp(res.text, "with key"), "key: %s", err.msg);
            llm_result_free(&res);
            fake_stop(&f);
            reqs = fake_requests(&f, "/completions");
            CHECK(!strcmp(json_string_value(json_object_get(json_array_get(reqs, 0), "authorization")) ?: "",
                          "Bearer sekrit"), "the key is sent as a bearer token");
            json_decref(reqs);
        }
    }
}

static void test_chat(void)
{
    Fake f;
    LlmResult res;
    PlumbError err = { 0 };
    LlmRemoteParams rp;
    if (fake_start(&f, "{\"reasoning\": \"\\nI should search.\\n\\n\", \"reply\": \"\\n\\n<tool_call>\\n{}\\n</tool_call>\", \"chunk_chars\": 1}\n"
                       "{\"reasoning\": \"Think 東京.\", \"reply\": \"Answer\", \"reasoning_field\": \"reasoning\"}\n"
                       "{\"reasoning\": \"Whole.\", \"reply\": \"Body\", \"json\": true}\n"
                       "{\"reply\": \"<think>\\ninline\\n</think>\\n\\nplain\"}\n", NULL) == 0) {
        static const char *const want[] = {
            "<think>\nI should search.\n</think>\n\n<tool_call>\n{}\n</tool_call>",
            "<think>\nThink 東京.\n</think>\n\nAnswer",
            "<think>\nWhole.\n</think>\n\nBody",
            "<think>\ninline\n</think>\n\nplain",
        };
        base_params(&rp, &f);
        rp.api = LLM_API_CHAT;
        for (int i = 0; i < 4; i++) {
            Pieces pc = { 0 };
            CHECK(run(&f, &rp, NULL, &pc, &res, &err) == 0, "chat %d: %s", i, err.msg);
            CHECK(res.text && !strcmp(res.text, want[i]), "chat %d: '%s'", i, res.text ? res.text : "");
            CHECK(pc.len == res.text_len && !memcmp(pc.buf, res.text, pc.len), "chat %d: pieces", i);
            llm_result_free(&res);
        }
        fake_stop(&f);
        {
            json_t *reqs = fake_requests(&f, "/chat/completions"), *b = json_object_get(json_array_get(reqs, 0), "body");
            json_t *m = json_object_get(b, "messages");
            CHECK(json_array_size(m) == NCONV, "chat: %zu messages", json_array_size(m));
            for (size_t i = 0; i < json_array_size(m) && i < NCONV; i++) {
                json_t *mi = json_array_get(m, i);
                CHECK(!strcmp(json_string_value(json_object_get(mi, "role")), conv[i].role) &&
                          !strcmp(json_string_value(json_object_get(mi, "content")), conv[i].content) &&
                          json_object_size(mi) == 2, "chat: message %zu", i);
            }
            CHECK(!json_object_get(b, "tools") && !json_object_get(b, "prompt"), "chat: no tools, no prompt");
            json_decref(reqs);
        }
    }
}

typedef struct Aborter {
    volatile int flag;
    double set_at;
} Aborter;

static void *abort_later(void *arg)
{
    Aborter *a = arg;
    usleep(300000);
    a->set_at = now_s();
    a->flag = 1;
    return NULL;
}

static void test_abort(void)
{
    Fake f;
    LlmResult res;
    PlumbError err = { 0 };
    if (fake_start(&f, "{\"reply\": \"never\", \"stall_first\": 30}\n"
                       "{\"status\": 429, \"retry_after\": \"30\"}\n"
                       "{\"reply\": \"one two three four five six\", \"chunk_chars\": 1}\n", NULL) == 0) {
        for (int i = 0; i < 2; i++) {
            Aborter ab = { 0 };
            pthread_t th;
            LlmParams p;
            int rc;
            gen_params(&p);
            p.abort_flag = &ab.flag;
            pthread_create(&th, NULL, abort_later, &ab);
            rc = run(&f, NULL, &p, NULL, &res, &err);
            CHECK(rc == 0 && res.finish == LLM_FINISH_ABORTED, "abort %d: rc %d finish %d %s", i, rc, res.finish,
                  err.msg);
            CHECK(now_s() - ab.set_at < 0.15, "abort %d: returned %.3f s after the flag", i, now_s() - ab.set_at);
            pthread_join(th, NULL);
            llm_result_free(&res);
        }
        { /* the callback stops the call */
            Pieces pc = { 0 };
            pc.stop_after = 3;
            CHECK(run(&f, NULL, NULL, &pc, &res, &err) == 0 && res.finish == LLM_FINISH_ABORTED,
                  "callback stop: finish %d", res.finish);
            CHECK(pc.n == 3, "callback stop: %d pieces", pc.n);
            llm_result_free(&res);
        }
        fake_stop(&f);
    }
}

static void test_count(void)
{
    Fake f;
    PlumbError err = { 0 };
    LlmRemoteParams rp;
    PlumbLLM *l = NULL;
    char *prompt = rendered();
    size_t chars = 0, n = 0;
    for (const char *s = prompt; s && *s; s++)
        chars += ((unsigned char)*s & 0xC0) != 0x80;
    {
        char conf[64];
        snprintf(conf, sizeof conf, "{\"max_model_len\": %zu}", chars + 50);
        if (fake_start(&f, "{\"reply\": \"x\"}\n", conf) == 0) {
            base_params(&rp, &f);
            CHECK(llm_open_remote(&l, &rp, &err) == 0, "count: open %s", err.msg);
            if (l) {
                LlmParams p;
                LlmResult res;
                CHECK(llm_context_size(l) == chars + 50, "context size %zu", llm_context_size(l));
                CHECK(llm_count(l, conv, NCONV, &n, &err) == 0 && n == chars, "count via /tokenize: %zu, want %zu",
                      n, chars);
                gen_params(&p);
                CHECK(llm_generate(l, conv, NCONV, &p, NULL, NULL, &res, &err) == 0, "clip: %s", err.msg);
                llm_result_free(&res);
                llm_close(l);
                l = NULL;
            }
            fake_stop(&f);
            {
                json_t *reqs = fake_requests(&f, "/completions");
                json_t *tk = fake_requests(&f, "/tokenize");
                CHECK(json_integer_value(json_object_get(json_object_get(json_array_get(reqs, 0), "body"),
                                                         "max_tokens")) == 50, "max_tokens clipped to the room left");
                const char *tp = json_string_value(json_object_get(json_array_get(tk, 0), "path"));
                CHECK(tp && !strstr(tp, "/v1/") && strstr(tp, "/tokenize"), "/tokenize at the server's root first");
                CHECK(json_array_size(tk) == 1, "counting, then generating on the same messages: %zu /tokenize",
                      json_array_size(tk));
                json_decref(reqs);
                json_decref(tk);
            }
        }
    }
    {
        if (fake_start(&f, "", "{\"no_tokenize\": true}") == 0) {
            base_params(&rp, &f);
            CHECK(llm_open_remote(&l, &rp, &err) == 0, "estimate: open %s", err.msg);
            if (l) {
                CHECK(llm_context_size(l) == 0, "no context size");
                CHECK(llm_count(l, conv, NCONV, &n, &err) == 0 && n == (strlen(prompt) + 2) / 3,
                      "estimate: %zu", n);
                llm_close(l);
            }
            fake_stop(&f);
        }
    }
    free(prompt);
}

int main(void)
{
    const char *src = getenv("top_srcdir");
    static char path[4096];
    const char *t = getenv("TMPDIR");
    if (system("command -v python3 >/dev/null 2>&1") != 0) {
        fprintf(stderr, "test_remote: python3 not found, skipped\n");
        return 77;
    }
    snprintf(path, sizeof path, "%s/tests/agent/fake_openai.py", src && *src ? src : ".");
    fake_path = path;
    if (access(fake_path, R_OK) != 0) {
        fprintf(stderr, "test_remote: %s: not found (set top_srcdir)\n", fake_path);
        return 99;
    }
    snprintf(tmpdir, sizeof tmpdir, "%s/test_remote.XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 99;
    }
    signal(SIGPIPE, SIG_IGN);
    if (server_start()) {
        fprintf(stderr, "test_remote: the fake server did not start\n");
        server_stop();
        return 99;
    }
    {
        static void (*const cases[])(void) = { test_splits, test_stop, test_retries, test_timeouts,
                                               test_errors, test_chat, test_abort, test_count };
        static const char *const names[] = { "splits", "stop", "retries", "timeouts",
                                             "errors", "chat", "abort", "count" };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            double t0 = now_s();
            cases[i]();
            fprintf(stderr, "test_remote: %s: %.2f s\n", names[i], now_s() - t0);
        }
    }
    server_stop();
    {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
        if (system(cmd) != 0)
            fprintf(stderr, "test_remote: could not remove %s\n", tmpdir);
    }
    return test_done("test_remote");
}
