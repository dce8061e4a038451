/*
 * index.h — the local document index: SQLite FTS5 over a folder of the
 * user's documents (txt, md, html, csv, pdf).  A table of documents (path,
 * file:// URL, size, mtime, SHA-256, title, text), an FTS5 table with the
 * porter unicode61 remove_diacritics 2 tokenizer, and a trigram table used
 * when a query has CJK characters.  Queries are plain text, never FTS5
 * syntax.
 */
#ifndef PLUMB_AGENT_INDEX_H
#define PLUMB_AGENT_INDEX_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "tools.h"

typedef struct IndexHit {
    char *url;      /* file:///abs/path */
    char *path;     /* absolute path */
    char *title;
    char *snippet;  /* a passage around the match, UTF-8 */
    double score;   /* bm25: lower is better */
} IndexHit;

typedef struct IndexStats {
    size_t n_seen, n_read, n_unchanged, n_removed, n_failed; /* files */
    size_t n_docs;   /* documents in the index afterwards */
    uint64_t bytes;  /* of text indexed */
} IndexStats;

/* create: make the database if missing; else it must exist. */
int index_open(Index **out, const char *db, int create, PlumbError *err);
void index_close(Index *ix);
/* Walk dir (recursively, not following symlinks out of it), indexing new and
 * changed files and dropping files that are gone; excludes are glob patterns. */
int index_add(Index *ix, const char *dir, const char *const *exclude, size_t n_exclude,
              int progress, IndexStats *st, PlumbError *err);
int index_search(Index *ix, const char *query, int32_t k, IndexHit **hits, size_t *n,
                 PlumbError *err);
void index_hits_free(IndexHit *hits, size_t n);
/* The search tool's block for query (format_search: at most k hits, or the
 * no-results text), as `plumb index search` prints it and the model sees it. */
int index_format_search(Index *ix, const char *query, int32_t k, Buf *out, PlumbError *err);
/* Is path (absolute, resolved) a document under one of the indexed folders? */
int index_covers(Index *ix, const char *path);
int index_stats(Index *ix, IndexStats *st, PlumbError *err);
/* The folders indexed (realpaths, sorted); *roots stays valid until the
 * next index_add or index_close.  Returns their count. */
size_t index_roots(Index *ix, const char *const **roots);
/* The file:// URL of an absolute path, as the index stores it: bytes other
 * than letters, digits, '-', '.', '_', '~' and '/' percent-encoded (as
 * Python's pathlib gives it).  Appended to out. */
int index_file_url(const char *path, Buf *out);

#endif
