/*
 * test_index.c — the local index (src/agent/index.h) on a copy of the test
 * corpus (tests/data/agent/corpus): the ten queries of index_queries.txt
 * each rank their document first; what is not a document (hidden folders,
 * other extensions, symbolic links, excluded names) stays out; hostile
 * queries give results or the no-results text, never an error; rebuilding
 * reads only what changed, records a new mtime of unchanged bytes, drops
 * what is gone; index_covers; bad databases give errors naming the file.
 */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "buf.h"
#include "index.h"
#include "utf8.h"
#include "../testlib.h"

static char tmp[4096], corpus[4200], db_path[4200];
static int have_pdftotext;

static void sh(const char *fmt, const char *a, const char *b)
{
    char cmd[8192];
    snprintf(cmd, sizeof cmd, fmt, a, b);
    if (system(cmd) != 0) {
        fprintf(stderr, "test_index: failed: %s\n", cmd);
        exit(1);
    }
}

static void write_file(const char *rel, const char *text)
{
    char p[8192];
    FILE *f;
    snprintf(p, sizeof p, "%s/%s", corpus, rel);
    f = fopen(p, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "test_index: cannot write %s\n", p);
        exit(1);
    }
}

static int valid_utf8(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = utf8_decode((const unsigned char *)s + i, n - i, &cp);
        if (!k)
            return 0;
        i += k;
    }
    return 1;
}

static const char *const readme_excluded[] = { "README.md" };

static int build(Index *ix, IndexStats *st, const char *const *ex, size_t n_ex)
{
    PlumbError err = { 0 };
    int rc = index_add(ix, corpus, ex, n_ex, 0, st, &err);
    CHECK(rc == PLUMB_OK, "index_add: %s", err.msg);
    return rc;
}

/* The first hit of q, as a path relative to the corpus, or "" */
static void top_hit(Index *ix, const char *q, char *out, size_t cap)
{
    IndexHit *hits = NULL;
    size_t n = 0, cl = strlen(corpus);
    PlumbError err = { 0 };
    int rc = index_search(ix, q, 10, &hits, &n, &err);
    CHECK(rc == PLUMB_OK, "search '%s': %s", q, err.msg);
    out[0] = '\0';
    if (rc == PLUMB_OK && n > 0 && strncmp(hits[0].path, corpus, cl) == 0 &&
        hits[0].path[cl] == '/')
        snprintf(out, cap, "%s", hits[0].path + cl + 1);
    index_hits_free(hits, n);
}

static void test_queries(Index *ix)
{
    char line[1024], got[4096];
    FILE *f = fopen(test_data("agent/index_queries.txt"), "r");
    int n = 0;
    CHECK(f != NULL, "cannot open index_queries.txt");
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        line[strcspn(line, "\n")] = '\0';
        if (line[0] == '#' || !tab)
            continue;
        *tab = '\0';
        n++;
        if (!have_pdftotext && strstr(line, ".pdf"))
            continue;
        top_hit(ix, tab + 1, got, sizeof got);
        CHECK(strcmp(got, line) == 0, "query '%s': first hit '%s', expected '%s'", tab + 1, got,
              line);
    }
    fclose(f);
    CHECK(n == 10, "%d queries in index_queries.txt, expected 10", n);
}

static void test_format(Index *ix)
{
    Buf out = { 0 };
    PlumbError err = { 0 };
    char url[8192];
    CHECK(index_format_search(ix, "Velmora glass", 2, &out, &err) == PLUMB_OK, "%s", err.msg);
    snprintf(url, sizeof url, "1. [Velmora Glass](file://%s/glassworks.txt)\n\nVelmora Glass Velmora",
             corpus);
    CHECK(strncmp(buf_str(&out), "A Google search for 'Velmora glass' found 1 results:\n\n"
                                 "## Web Results\n", 63) == 0,
          "head: %s", buf_str(&out));
    CHECK(strstr(buf_str(&out), url) != NULL, "first entry: %s", buf_str(&out));
    buf_free(&out);
    /* k caps the hits */
    CHECK(index_format_search(ix, "Kestrel Holm", 2, &out, &err) == PLUMB_OK, "%s", err.msg);
    CHECK(strncmp(buf_str(&out), "A Google search for 'Kestrel Holm' found 2 results:", 51) == 0 &&
              strstr(buf_str(&out), "\n2. [") && !strstr(buf_str(&out), "\n3. ["),
          "k = 2: %s", buf_str(&out));
    buf_free(&out);
    CHECK(index_format_search(ix, "zyzzyva", 10, &out, &err) == PLUMB_OK, "%s", err.msg);
    CHECK(strcmp(buf_str(&out),
                 "No results found for 'zyzzyva'. Try with a more general query.") == 0,
          "no results: %s", buf_str(&out));
    buf_free(&out);
}

static void test_hostile(Index *ix)
{
    static char big[10240 + 1], words[10240 + 1];
    const char *queries[] = {
        "\" NEAR( * col:x", "title:glass", "text : glass", "glass*", "-glass", "NOT glass",
        "glass AND", "OR", "(((", "\"", "\"\"\"\"", "^glass", "NEAR(glass honey, 2)", "{title}",
        "", "   ", "\t\n", "bad\xff\xfe utf8 glass", "\xed\xa0\x80 surrogate", "\xc0\xaf",
        "東京", "タ", "glass\x01honey", big, words, "col:x OR \"", "a'b\"c",
    };
    size_t i;
    memset(big, 'a', sizeof big - 1);
    for (i = 0; i + 6 < sizeof words - 1; i += 6)
        memcpy(words + i, "glass ", 6);
    for (i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        Buf out = { 0 };
        PlumbError err = { 0 };
        int rc = index_format_search(ix, queries[i], 10, &out, &err);
        CHECK(rc == PLUMB_OK, "query %zu: %s", i, err.msg);
        CHECK(strncmp(buf_str(&out), "A Google search for '", 21) == 0 ||
                  strncmp(buf_str(&out), "No results found for '", 22) == 0,
              "query %zu: %.200s", i, buf_str(&out));
        CHECK(valid_utf8(out.p ? out.p : "", out.len), "query %zu: output not UTF-8", i);
        buf_free(&out);
    }
    /* what looked like syntax still finds the words */
    {
        char got[4096];
        top_hit(ix, "\"Velmora\" NEAR( glass* col:island", got, sizeof got);
        CHECK(strcmp(got, "glassworks.txt") == 0, "syntax as words: '%s'", got);
    }
}

static void test_coverage(Index *ix)
{
    char p[8192];
    snprintf(p, sizeof p, "%s/glassworks.txt", corpus);
    CHECK(index_covers(ix, p) == 1, "%s not covered", p);
    snprintf(p, sizeof p, "%s/notes/../glassworks.txt", corpus);
    CHECK(index_covers(ix, p) == 1, "%s not covered", p);
    snprintf(p, sizeof p, "%s/.drafts/secret.txt", corpus);
    CHECK(index_covers(ix, p) == 0, "hidden folder covered");
    snprintf(p, sizeof p, "%s/notes/readme.rtf", corpus);
    CHECK(index_covers(ix, p) == 0, "rtf covered");
    snprintf(p, sizeof p, "%s/README.md", corpus);
    CHECK(index_covers(ix, p) == 0, "excluded file covered");
    snprintf(p, sizeof p, "%s/outside.txt", tmp);
    CHECK(index_covers(ix, p) == 0, "a file outside covered");
    CHECK(index_covers(ix, "/etc/passwd") == 0, "/etc/passwd covered");
    CHECK(index_covers(ix, "") == 0, "empty path covered");
    {
        const char *const *roots;
        size_t n = index_roots(ix, &roots);
        CHECK(n == 1 && strcmp(roots[0], corpus) == 0, "roots: %zu", n);
    }
}

/* mtime (ns) of a document, straight from the database */
static long long db_mtime(const char *rel)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char p[8192];
    long long v = -1;
    snprintf(p, sizeof p, "%s/%s", corpus, rel);
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT mtime FROM doc WHERE path = ?1", -1, &st, NULL) ==
            SQLITE_OK) {
        sqlite3_bind_text(st, 1, p, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            v = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_incremental(Index *ix, size_t n_docs)
{
    IndexStats st;
    char p[8192];
    struct timespec ts[2];
    long long before;
    int i;

    /* nothing changed */
    build(ix, &st, readme_excluded, 1);
    CHECK(st.n_read == 0 && st.n_unchanged == n_docs && st.n_removed == 0,
          "unchanged rebuild: read %zu unchanged %zu removed %zu", st.n_read, st.n_unchanged,
          st.n_removed);
    /* new content: exactly that file is read again */
    write_file("glassworks.txt", "Velmora Glass\n\nThe furnace now burns peat from the moor.\n");
    build(ix, &st, readme_excluded, 1);
    CHECK(st.n_read == 1 && st.n_unchanged == n_docs - 1, "after an edit: read %zu unchanged %zu",
          st.n_read, st.n_unchanged);
    {
        char got[4096];
        top_hit(ix, "peat furnace", got, sizeof got);
        CHECK(strcmp(got, "glassworks.txt") == 0, "new text not found: '%s'", got);
        top_hit(ix, "Arnsted", got, sizeof got);
        CHECK(got[0] == '\0', "old text still found: '%s'", got);
    }
    /* a new mtime, the same bytes: hashed, not read; the new mtime kept */
    before = db_mtime("harbour.txt");
    snprintf(p, sizeof p, "%s/harbour.txt", corpus);
    ts[0].tv_sec = ts[1].tv_sec = 1700000000;
    ts[0].tv_nsec = ts[1].tv_nsec = 123456789;
    CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0, "utimensat");
    build(ix, &st, readme_excluded, 1);
    CHECK(st.n_read == 0 && st.n_unchanged == n_docs, "after touch: read %zu unchanged %zu",
          st.n_read, st.n_unchanged);
    CHECK(db_mtime("harbour.txt") == 1700000000123456789LL && before != db_mtime("harbour.txt"),
          "mtime after touch: %lld (before %lld)", db_mtime("harbour.txt"), before);
    /* gone: dropped */
    snprintf(p, sizeof p, "%s/tea_zh.txt", corpus);
    CHECK(unlink(p) == 0, "unlink");
    build(ix, &st, readme_excluded, 1);
    CHECK(st.n_removed == 1 && st.n_docs == n_docs - 1 && st.n_read == 0,
          "after delete: removed %zu docs %zu", st.n_removed, st.n_docs);
    {
        char got[4096];
        top_hit(ix, "白毫茶的采摘", got, sizeof got);
        CHECK(got[0] == '\0', "deleted file still found: '%s'", got);
    }
    /* excluded now: dropped too; a glob on the relative path */
    {
        const char *ex[] = { "README.md", "notes/*" };
        build(ix, &st, ex, 2);
        CHECK(st.n_removed == 1 && st.n_docs == n_docs - 2, "exclude notes/*: removed %zu",
              st.n_removed);
    }
    /* many files: several transactions */
    snprintf(p, sizeof p, "%s/many", corpus);
    CHECK(mkdir(p, 0755) == 0, "mkdir");
    for (i = 0; i < 150; i++) {
        char rel[64], text[128];
        snprintf(rel, sizeof rel, "many/f%03d.txt", i);
        snprintf(text, sizeof text, "File number %d\nword%03d appears here\n", i, i);
        write_file(rel, text);
    }
    build(ix, &st, readme_excluded, 1);
    CHECK(st.n_read == 151 && st.n_docs == n_docs - 1 + 150, "many: read %zu docs %zu", st.n_read,
          st.n_docs);
    {
        char got[4096];
        top_hit(ix, "word137", got, sizeof got);
        CHECK(strcmp(got, "many/f137.txt") == 0, "many: '%s'", got);
    }
}

static void test_bad_db(void)
{
    Index *ix = NULL;
    PlumbError err = { 0 };
    char p[8192];
    snprintf(p, sizeof p, "%s/none.db", tmp);
    CHECK(index_open(&ix, p, 0, &err) != PLUMB_OK && ix == NULL, "missing db opened");
    CHECK(strstr(err.msg, "none.db") != NULL, "message: %s", err.msg);
    snprintf(p, sizeof p, "%s/outside.txt", tmp);
    memset(&err, 0, sizeof err);
    CHECK(index_open(&ix, p, 0, &err) != PLUMB_OK && ix == NULL, "text file opened as index");
    CHECK(strstr(err.msg, "outside.txt") != NULL, "message: %s", err.msg);
    memset(&err, 0, sizeof err);
    CHECK(index_open(&ix, p, 1, &err) != PLUMB_OK && ix == NULL, "text file made an index");
    /* a folder that does not exist */
    snprintf(p, sizeof p, "%s/nowhere", tmp);
    index_close(ix);
    ix = NULL;
    memset(&err, 0, sizeof err);
    if (index_open(&ix, db_path, 0, &err) == PLUMB_OK) {
        IndexStats st;
        CHECK(index_add(ix, p, NULL, 0, 0, &st, &err) != PLUMB_OK, "missing folder indexed");
        CHECK(strstr(err.msg, "nowhere") != NULL, "message: %s", err.msg);
    }
    index_close(ix);
}

int main(void)
{
    const char *t = getenv("TMPDIR");
    Index *ix = NULL;
    PlumbError err = { 0 };
    IndexStats st;
    size_t n_docs;
    char p[8192];

    have_pdftotext = system("command -v pdftotext >/dev/null 2>&1") == 0;
    snprintf(tmp, sizeof tmp, "%s/plumb-test-index-XXXXXX", t && *t ? t : "/tmp");
    if (!mkdtemp(tmp)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(corpus, sizeof corpus, "%s/corpus", tmp);
    snprintf(db_path, sizeof db_path, "%s/index.db", tmp);
    sh("cp -R '%s' '%s/corpus'", test_data("agent/corpus"), tmp);
    /* symbolic links are never followed: to a file inside, to a folder and a
     * file outside */
    snprintf(p, sizeof p, "%s/outside.txt", tmp);
    {
        FILE *f = fopen(p, "w");
        CHECK(f && fputs("quixotry zanzibar outside\n", f) >= 0 && fclose(f) == 0, "outside");
    }
    sh("ln -s glassworks.txt '%s/link.txt' && ln -s ../outside.txt '%s/out.txt'", corpus, corpus);
    sh("mkdir '%s/outdir'%s", tmp, "");
    sh("cp '%s/outside.txt' '%s/outdir/inside.txt'", tmp, tmp);
    sh("ln -s ../outdir '%s/linkdir'", corpus, "");

    if (index_open(&ix, db_path, 1, &err) != PLUMB_OK) {
        CHECK(0, "index_open: %s", err.msg);
        return test_done("test_index");
    }
    if (build(ix, &st, readme_excluded, 1) == PLUMB_OK) {
        n_docs = have_pdftotext ? 9 : 8;
        CHECK(st.n_seen == 9 && st.n_read == n_docs && st.n_failed == 9 - n_docs &&
                  st.n_docs == n_docs,
              "first build: seen %zu read %zu failed %zu docs %zu", st.n_seen, st.n_read,
              st.n_failed, st.n_docs);
        test_queries(ix);
        test_format(ix);
        test_hostile(ix);
        test_coverage(ix);
        {
            char got[4096];
            top_hit(ix, "quixotry zanzibar", got, sizeof got);
            CHECK(got[0] == '\0', "a file behind a symbolic link was indexed: '%s'", got);
            top_hit(ix, "hidden folder never indexed", got, sizeof got);
            CHECK(strncmp(got, ".drafts", 7) != 0, "hidden folder indexed: '%s'", got);
        }
        test_incremental(ix, n_docs);
    }
    index_close(ix);
    /* reopened read-only: still searchable */
    if (index_open(&ix, db_path, 0, &err) == PLUMB_OK) {
        IndexStats s2;
        CHECK(index_stats(ix, &s2, &err) == PLUMB_OK && s2.n_docs > 100, "stats: %zu",
              s2.n_docs);
        index_close(ix);
    } else {
        CHECK(0, "reopen: %s", err.msg);
    }
    test_bad_db();
    sh("rm -rf '%s'%s", tmp, "");
    return test_done("test_index");
}
