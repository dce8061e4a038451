/*
 * test_format.c — the reference agent's tool-result shapes (format.h):
 * exact strings for every formatter, and the Python semantics they rest on
 * (repr of str, str of json.loads values, split, strip), with expectations
 * printed by CPython 3.11.
 */
#include "config.h"

#include <string.h>

#include "format.h"
#include "../testlib.h"

static void check_str(const char *what, const Buf *b, const char *want)
{
    CHECK(b->len == strlen(want) && !memcmp(buf_str(b), want, b->len), "%s:\n got: [%s]\nwant: [%s]", what,
          buf_str(b), want);
}

static void test_repr(void)
{
    static const struct { const char *in; size_t len; const char *want; } cases[] = {
    { "hello", 5, "'hello'" },
    { "it's", 4, "\"it's\"" },
    { "say \"hi\"", 8, "'say \"hi\"'" },
    { "both ' and \"", 12, "'both \\' and \"'" },
    { "tab\011here\012nl\015cr", 14, "'tab\\there\\nnl\\rcr'" },
    { "back\\slash", 10, "'back\\\\slash'" },
    { "na\303\257ve \344\270\255\346\226\207 \346\227\245\346\234\254\350\252\236", 23, "'na\303\257ve \344\270\255\346\226\207 \346\227\245\346\234\254\350\252\236'" },
    { "\000\001\177", 3, "'\\x00\\x01\\x7f'" },
    { "\342\200\213 zero width", 14, "'\\u200b zero width'" },
    { "\302\240nbsp", 6, "'\\xa0nbsp'" },
    { "\342\200\250ls", 5, "'\\u2028ls'" },
    { "emoji \360\237\230\200", 10, "'emoji \360\237\230\200'" },
    { "\302\205next", 6, "'\\x85next'" },
    { "\355\237\277", 3, "'\\ud7ff'" },
    { "\363\240\200\201 tag", 8, "'\\U000e0001 tag'" },
        { "bad \xff byte", 10, "'bad \xef\xbf\xbd byte'" },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Buf b = { 0 };
        CHECK(format_pyrepr(&b, cases[i].in, cases[i].len) == 0, "repr %zu", i);
        check_str("repr", &b, cases[i].want);
        buf_free(&b);
    }
}

static void test_pystr(void)
{
    static const struct { const char *json; const char *want; } cases[] = {
        { "[\"a\", 1, 2.5, true, null, {\"k\": \"it's\"}]", "['a', 1, 2.5, True, None, {'k': \"it's\"}]" },
        { "\"plain text\"", "plain text" },
        { "[]", "[]" },
        { "[1.0]", "[1.0]" },
        { "[0.1]", "[0.1]" },
        { "[1e+16]", "[1e+16]" },
        { "[1e-05]", "[1e-05]" },
        { "[123.456]", "[123.456]" },
        { "[2.5e-07]", "[2.5e-07]" },
        { "[1e+22]", "[1e+22]" },
        { "[-0.0]", "[-0.0]" },
        { "[100.0]", "[100.0]" },
        { "[1234567890123456.0]", "[1234567890123456.0]" },
    };
    size_t i;
    for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Buf b = { 0 };
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        CHECK(v != NULL, "json %s", cases[i].json);
        if (!v)
            continue;
        CHECK(format_pystr_json(&b, v) == 0, "pystr %zu", i);
        check_str(cases[i].json, &b, cases[i].want);
        json_decref(v);
        buf_free(&b);
    }
}

static void test_strip(void)
{
    Buf b = { 0 };
    buf_puts(&b, " \n\t\xc2\xa0" "a b\n\n\xe2\x80\x83");
    format_strip(&b);
    check_str("strip", &b, "a b");
    buf_reset(&b);
    buf_puts(&b, " \n ");
    format_strip(&b);
    check_str("strip all", &b, "");
    buf_free(&b);
}

static void test_search(void)
{
    Buf b = { 0 };
    SearchHit hits[] = {
        { "Vienna", "https://en.wikipedia.org/wiki/Vienna", "Mar 5, 2024", NULL,
          "Vienna is the capital. Your browser can't play this video." },
        { "Danube", "https://example.org/danube", NULL, "Example", NULL },
    };
    format_search(&b, "river vienna", hits, 2);
    check_str("search", &b,
              "A Google search for 'river vienna' found 2 results:\n\n## Web Results\n"
              "1. [Vienna](https://en.wikipedia.org/wiki/Vienna)\nDate published: Mar 5, 2024\n\n"
              "Vienna is the capital. \n\n"
              "2. [Danube](https://example.org/danube)\nSource: Example\n");
    buf_reset(&b);
    format_search(&b, "nothing", NULL, 0);
    check_str("search none", &b, "No results found for 'nothing'. Try with a more general query.");
    buf_free(&b);
}

static void test_scholar(void)
{
    Buf b = { 0 };
    ScholarHit hits[] = {
        { "Attention", "https://arxiv.org/pdf/1706.03762", "A Vaswani - NeurIPS, 2017", "2017", 120000,
          "The dominant sequence transduction models" },
        { "No PDF", NULL, NULL, NULL, -1, NULL },
    };
    format_scholar(&b, "transformer", hits, 2);
    check_str("scholar", &b,
              "A Google scholar for 'transformer' found 2 results:\n\n## Scholar Results\n"
              "1. [Attention](pdfUrl: https://arxiv.org/pdf/1706.03762)\npublicationInfo: A Vaswani - NeurIPS, 2017\n"
              "Date published: 2017\ncitedBy: 120000\n\nThe dominant sequence transduction models\n\n"
              "2. [No PDF](no available link)\n");
    buf_free(&b);
}

static void test_visit_python_file(void)
{
    Buf b = { 0 };
    const char *names[] = { "a.txt", "b.pdf" }, *texts[] = { "hello world", NULL },
               *errors[] = { NULL, "boom" };
    format_visit(&b, "https://x.org", "find y", "ev", "sum");
    buf_puts(&b, FORMAT_SEP);
    format_visit_failed(&b, "https://z.org", "find y");
    format_strip(&b);
    check_str("visit", &b,
              "The useful information in https://x.org for user goal find y as follows: \n\n"
              "Evidence in page: \nev\n\nSummary: \nsum\n\n\n=======\n"
              "The useful information in https://z.org for user goal find y as follows: \n\n"
              "Evidence in page: \n" FORMAT_VISIT_FAIL_EVIDENCE "\n\nSummary: \n" FORMAT_VISIT_FAIL_SUMMARY);
    buf_reset(&b);
    format_python(&b, "4\n", "", 0);
    check_str("python out", &b, "stdout:\n4\n");
    buf_reset(&b);
    format_python(&b, "", "Traceback\n", 1);
    check_str("python err+timeout", &b, "stderr:\nTraceback\n\n" FORMAT_PY_TIMEOUT);
    buf_reset(&b);
    format_python(&b, NULL, "", 0);
    check_str("python none", &b, FORMAT_PY_DONE);
    buf_reset(&b);
    format_parse_file(&b, names, texts, errors, 2);
    check_str("parse_file", &b,
              "['File token number: 10\\nFile content:\\n', '# File: a.txt\\nhello world', "
              "'# Error processing b.pdf: boom']");
    buf_free(&b);
}

int main(void)
{
    test_repr();
    test_pystr();
    test_strip();
    test_search();
    test_scholar();
    test_visit_python_file();
    return test_done("test_format");
}
