/*
 * test_parsefile.c — the parse_file tool through agent_tools_call, its
 * results compared byte for byte with the files tests/data/agent/parse_file/NAME.expected
 * (see the README there): text, Markdown, HTML and PDF files; a missing
 * file, names leaving the folder through "..", a symbolic link or an
 * absolute path, a FIFO; arguments the reference could not use; the sources
 * recorded.  With PLUMB_TEST_WRITE=DIR the results are written to DIR
 * instead of compared.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "format.h"
#include "hash.h"
#include "tools.h"
#include "../testlib.h"

static char tmp[4096], files[4200];
static int have_pdftotext;
static int n_warnings;

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_parsefile: failed: %s\n", cmd);
        exit(1);
    }
}

static void put(const char *rel, const char *text)
{
    char p[8192];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", files, rel);
    f = fopen(p, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "test_parsefile: cannot write %s\n", p);
        exit(1);
    }
}

static void on_warning(void *user, const char *line)
{
    (void)user;
    (void)line;
    n_warnings++;
}

static char *call(AgentTools *t, const char *args_json)
{
    json_error_t jerr;
    json_t *args = json_loads(args_json, JSON_DECODE_ANY, &jerr);
    char *out = NULL;
    PlumbError err = { 0 };
    int rc;
    CHECK(args != NULL, "bad test JSON %s", args_json);
    rc = agent_tools_call(t, "parse_file", args, NULL, &out, &err);
    CHECK(rc == PLUMB_OK && out, "parse_file %s: %s", args_json, err.msg);
    json_decref(args);
    return out;
}

/* The result of args_json must be the file name.expected. */
static void golden(AgentTools *t, const char *name, const char *args_json)
{
    char *out = call(t, args_json), rel[256], *want;
    const char *dir = getenv("PLUMB_TEST_WRITE");
    size_t len = 0;
    if (!out)
        return;
    snprintf(rel, sizeof rel, "agent/parse_file/%s.expected", name);
    if (dir && *dir) {
        char p[8192];
        FILE *f;
        snprintf(p, sizeof p, "%s/%s.expected", dir, name);
        f = fopen(p, "wb");
        CHECK(f && fputs(out, f) >= 0 && fclose(f) == 0, "cannot write %s", p);
        free(out);
        return;
    }
    want = test_read_file(test_data(rel), &len);
    CHECK(want != NULL, "missing %s", rel);
    if (want)
        CHECK(strcmp(out, want) == 0, "%s: got\n%s\nexpected\n%s", name, out, want);
    free(want);
    free(out);
}

static void exact(AgentTools *t, const char *args_json, const char *want)
{
    char *out = call(t, args_json);
    if (out)
        CHECK(strcmp(out, want) == 0, "%s: got %s, expected %s", args_json, out, want);
    free(out);
}

static void test_sources(AgentTools *t)
{
    char *text, hex[SHA256_HEX_LEN + 1], p[8192], url[8300];
    size_t len, before = t->n_sources;
    free(call(t, "{\"files\": [\"quotes.txt\", \"missing.txt\", \"notes.md\"]}"));
    CHECK(t->n_sources == before + 2, "sources: %zu new", t->n_sources - before);
    if (t->n_sources < before + 2)
        return;
    snprintf(p, sizeof p, "%s/quotes.txt", files);
    text = test_read_file(p, &len);
    sha256_hex(text, len, hex);
    free(text);
    snprintf(url, sizeof url, "file://%s", p);
    CHECK(strcmp(t->sources[before].url, url) == 0, "source url %s", t->sources[before].url);
    CHECK(strcmp(t->sources[before].sha256, hex) == 0, "source sha256 %s",
          t->sources[before].sha256);
    CHECK(strstr(t->sources[before + 1].url, "/notes.md") != NULL, "second source %s",
          t->sources[before + 1].url);
}

int main(void)
{
    const char *tdir = getenv("TMPDIR");
    AgentToolsParams tp = { 0 };
    AgentTools *t = NULL;
    PlumbError err = { 0 };
    char p[8192];

    have_pdftotext = system("command -v pdftotext >/dev/null 2>&1") == 0;
    snprintf(tmp, sizeof tmp, "%s/plumb-test-parsefile-XXXXXX", tdir && *tdir ? tdir : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(files, sizeof files, "%s/files", tmp);
    sh("mkdir -p '%s/sub'%s", files, "");
    put("quotes.txt", "It's a \"quoted\" line with a back\\slash.\n"
                      "\tTabbed line \xe2\x80\x94 caf\xc3\xa9, \xe6\x9d\xb1\xe4\xba\xac, "
                      "na\xc3\xafve.\r\nnon-breaking\xc2\xa0space and a bell\x07.\n");
    put("notes.md", "# Field notes\n\nThe *tide* was low at 06:10; it's 'early'.\n");
    put("page.html", "<html><head><title>Mill page</title></head><body><h1>The mill</h1>"
                     "<p>It grinds <b>wheat</b> at ebb tide.</p></body></html>\n");
    put("sub/deep.txt", "Deep file.\n");
    put("data.csv", "a,b\n1,2\n");
    snprintf(p, sizeof p, "%s/outside.txt", tmp);
    {
        FILE *f = fopen(p, "w");
        CHECK(f && fputs("secret outside the folder\n", f) >= 0 && fclose(f) == 0, "outside");
    }
    sh("ln -s ../outside.txt '%s/link.txt' && ln -s quotes.txt '%s/inner.txt'", files, files);
    sh("mkfifo '%s/pipe.txt'%s", files, "");
    sh("cp '%s' '%s/honey.pdf'", test_data("agent/corpus/beekeeping.pdf"), files);

    tp.files_dir = files;
    tp.on_warning = on_warning;
    if (agent_tools_open(&t, &tp, &err) != PLUMB_OK) {
        CHECK(0, "agent_tools_open: %s", err.msg);
        return test_done("test_parsefile");
    }
    golden(t, "txt", "{\"files\": [\"quotes.txt\"]}");
    golden(t, "md", "{\"files\": [\"notes.md\"]}");
    golden(t, "md", "{\"files\": \"notes.md\"}"); /* a string is a list of one */
    golden(t, "html", "{\"files\": [\"page.html\"]}");
    golden(t, "csv", "{\"files\": [\"data.csv\"]}");
    if (have_pdftotext)
        golden(t, "pdf", "{\"files\": [\"honey.pdf\"]}");
    golden(t, "several", "{\"files\": [\"sub/deep.txt\", \"missing.txt\", \"inner.txt\"]}");
    n_warnings = 0;
    golden(t, "missing", "{\"files\": [\"missing.txt\"]}");
    golden(t, "dotdot", "{\"files\": [\"../outside.txt\"]}");
    golden(t, "dotdot", "{\"files\": [\"sub/../../outside.txt\"]}");
    golden(t, "symlink", "{\"files\": [\"link.txt\"]}");
    golden(t, "absolute", "{\"files\": [\"/etc/passwd\"]}");
    golden(t, "fifo", "{\"files\": [\"pipe.txt\"]}");
    CHECK(n_warnings == 6, "%d warnings for 6 files refused", n_warnings);
    exact(t, "{\"files\": []}", "[]");
    exact(t, "{}", FORMAT_ERR_TOOLCALL);
    exact(t, "[\"quotes.txt\"]", FORMAT_ERR_TOOLCALL);
    exact(t, "{\"files\": [1]}", FORMAT_ERR_TOOLCALL);
    exact(t, "{\"files\": null}", FORMAT_ERR_TOOLCALL);
    exact(t, "{\"files\": [[\"quotes.txt\"]]}", FORMAT_ERR_TOOLCALL);
    test_sources(t);
    agent_tools_close(t);

    /* no files folder: every file fails */
    tp.files_dir = NULL;
    if (agent_tools_open(&t, &tp, &err) == PLUMB_OK) {
        exact(t, "{\"files\": [\"quotes.txt\"]}",
              "['File token number: 7\\nFile content:\\n', "
              "'# Error processing quotes.txt: Document parsing failed']");
        agent_tools_close(t);
    }
    sh("rm -rf '%s'%s", tmp, "");
    return test_done("test_parsefile");
}
