/*
 * index.c — the local document index (index.h) over SQLite FTS5.
 *
 * Tables:
 *   meta(key, value)          the schema version
 *   root(path, built)         the folders indexed (realpaths), when last built
 *   doc(id, path, url, mtime, size, sha256, title, text)
 *                             one row per document; mtime in nanoseconds since
 *                             the epoch, size in bytes, sha256 of the file's bytes
 *   fts(title, text)          FTS5 over doc (external content), tokenizer
 *                             porter unicode61 remove_diacritics 2
 *   fts_cjk(title, text)      FTS5 over doc, trigram tokenizer: Chinese and
 *                             Japanese have no spaces between words, so a
 *                             query with CJK characters is matched as
 *                             overlapping three-character pieces
 * Triggers keep both FTS tables in step with doc, so an update of mtime
 * alone leaves them untouched.
 *
 * Building is incremental: a file whose size and mtime are unchanged is not
 * read; when either changed, its bytes are hashed, and only a new hash makes
 * the file be converted to text again (a new mtime alone is recorded).  Files
 * under the folder that are gone, excluded now, or no longer readable as a
 * document are dropped.  The walk goes through directory descriptors
 * (openat with O_NOFOLLOW), so a symbolic link is never followed, whether it
 * names a file or a folder; names starting with '.' are skipped.
 *
 * Queries come from the model and are never FTS5 syntax: they are split into
 * words (letters, marks and digits by Unicode category; everything else
 * separates), each word quoted, and the words joined with OR, so quotes,
 * NEAR, '*', '-' and column filters are plain text.  Ranking is bm25 with
 * the title weighted 5 to 1.
 */
#include "config.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include <utf8proc.h>

#include "docs.h"
#include "format.h"
#include "hash.h"
#include "index.h"
#include "text.h"
#include "utf8.h"

#define INDEX_SCHEMA "1"
#define INDEX_BATCH 64              /* files per transaction while building */
#define INDEX_MAX_DEPTH 64          /* folder nesting followed */
#define INDEX_MAX_ENTRIES (1 << 20) /* names of one folder looked at */
#define INDEX_MAX_FILE (64u << 20)  /* bytes of one file hashed */
#define INDEX_MAX_QUERY (16u << 10) /* bytes of a query looked at */
#define INDEX_MAX_TERMS 64          /* words of a query used */
#define INDEX_MAX_TERM 128          /* bytes of one word used */
#define INDEX_MAX_K 50              /* hits of one search */
#define INDEX_DEFAULT_K 10

struct Index {
    sqlite3 *db;
    char *db_path;  /* as given, for messages */
    char **roots;   /* [n_roots] realpaths of the folders indexed */
    size_t n_roots;
};

static const char *const index_schema_sql =
    "CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS root(path TEXT PRIMARY KEY, built INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS doc(id INTEGER PRIMARY KEY, path TEXT NOT NULL UNIQUE,"
    " url TEXT NOT NULL, mtime INTEGER NOT NULL, size INTEGER NOT NULL,"
    " sha256 TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL);"
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts USING fts5(title, text, content='doc',"
    " content_rowid='id', tokenize='porter unicode61 remove_diacritics 2');"
    "CREATE VIRTUAL TABLE IF NOT EXISTS fts_cjk USING fts5(title, text, content='doc',"
    " content_rowid='id', tokenize='trigram');"
    "CREATE TRIGGER IF NOT EXISTS doc_ai AFTER INSERT ON doc BEGIN"
    " INSERT INTO fts(rowid, title, text) VALUES (new.id, new.title, new.text);"
    " INSERT INTO fts_cjk(rowid, title, text) VALUES (new.id, new.title, new.text);"
    " END;"
    "CREATE TRIGGER IF NOT EXISTS doc_ad AFTER DELETE ON doc BEGIN"
    " INSERT INTO fts(fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);"
    " INSERT INTO fts_cjk(fts_cjk, rowid, title, text)"
    "  VALUES ('delete', old.id, old.title, old.text);"
    " END;"
    "CREATE TRIGGER IF NOT EXISTS doc_au AFTER UPDATE OF title, text ON doc BEGIN"
    " INSERT INTO fts(fts, rowid, title, text) VALUES ('delete', old.id, old.title, old.text);"
    " INSERT INTO fts_cjk(fts_cjk, rowid, title, text)"
    "  VALUES ('delete', old.id, old.title, old.text);"
    " INSERT INTO fts(rowid, title, text) VALUES (new.id, new.title, new.text);"
    " INSERT INTO fts_cjk(rowid, title, text) VALUES (new.id, new.title, new.text);"
    " END;"
    "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema', '" INDEX_SCHEMA "');";

/* ------------------------------------------------------------------ helpers */

static int db_fail(Index *ix, PlumbError *err, const char *what)
{
    return plumb_err(err, PLUMB_EIO, "%s: %s: %s", ix->db_path, what, sqlite3_errmsg(ix->db));
}

static int exec_sql(Index *ix, const char *sql, PlumbError *err)
{
    char *msg = NULL;
    if (sqlite3_exec(ix->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        plumb_err(err, PLUMB_EIO, "%s: %s", ix->db_path, msg ? msg : sqlite3_errmsg(ix->db));
        sqlite3_free(msg);
        return PLUMB_EIO;
    }
    return PLUMB_OK;
}

static int prepare(Index *ix, const char *sql, sqlite3_stmt **st, PlumbError *err)
{
    if (sqlite3_prepare_v2(ix->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return db_fail(ix, err, "preparing a statement");
    }
    return PLUMB_OK;
}

static void free_roots(Index *ix)
{
    size_t i;
    for (i = 0; i < ix->n_roots; i++)
        free(ix->roots[i]);
    free(ix->roots);
    ix->roots = NULL;
    ix->n_roots = 0;
}

static int load_roots(Index *ix, PlumbError *err)
{
    sqlite3_stmt *st = NULL;
    int rc;
    free_roots(ix);
    if ((rc = prepare(ix, "SELECT path FROM root ORDER BY path", &st, err)) < 0)
        return rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *p = (const char *)sqlite3_column_text(st, 0);
        char **nr = realloc(ix->roots, (ix->n_roots + 1) * sizeof *nr);
        if (!nr || !p || !(nr[ix->n_roots] = strdup(p))) {
            if (nr)
                ix->roots = nr;
            sqlite3_finalize(st);
            return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", ix->db_path);
        }
        ix->roots = nr;
        ix->n_roots++;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? PLUMB_OK : db_fail(ix, err, "reading the indexed folders");
}

int index_file_url(const char *path, Buf *out)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *s = (const unsigned char *)path;
    int rc = buf_puts(out, "file://");
    for (; rc >= 0 && *s; s++) {
        unsigned c = *s;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~' || c == '/')
            rc = buf_putc(out, (int)c);
        else
            rc = buf_printf(out, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
    return rc;
}

/* ------------------------------------------------------------------ open */

int index_open(Index **out, const char *db, int create, PlumbError *err)
{
    Index *ix;
    sqlite3_stmt *st = NULL;
    int rc, flags;
    *out = NULL;
    if (!db || !*db)
        return plumb_err(err, PLUMB_EINVAL, "index: no database path");
    if (!(ix = calloc(1, sizeof *ix)) || !(ix->db_path = strdup(db))) {
        free(ix);
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", db);
    }
    flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
    rc = sqlite3_open_v2(db, &ix->db, flags, NULL);
    if (rc != SQLITE_OK && !create) {
        /* a database the user may only read still serves searches */
        sqlite3_close(ix->db);
        ix->db = NULL;
        rc = sqlite3_open_v2(db, &ix->db, SQLITE_OPEN_READONLY, NULL);
    }
    if (rc != SQLITE_OK) {
        if (!create && access(db, F_OK) != 0)
            plumb_err(err, PLUMB_EIO, "%s: no such index (make it with 'plumb index build')", db);
        else
            plumb_err(err, PLUMB_EIO, "%s: %s", db,
                      ix->db ? sqlite3_errmsg(ix->db) : "cannot open the database");
        rc = PLUMB_EIO;
        goto fail;
    }
    sqlite3_busy_timeout(ix->db, 5000);
    sqlite3_extended_result_codes(ix->db, 0);
    if (create && (rc = exec_sql(ix, index_schema_sql, err)) < 0)
        goto fail;
    if (sqlite3_prepare_v2(ix->db, "SELECT value FROM meta WHERE key = 'schema'", -1, &st,
                           NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = plumb_err(err, PLUMB_EFORMAT, "%s: not an index made by 'plumb index build' (%s)",
                       db, sqlite3_errmsg(ix->db));
        goto fail;
    }
    if (strcmp((const char *)sqlite3_column_text(st, 0), INDEX_SCHEMA) != 0) {
        rc = plumb_err(err, PLUMB_EUNSUPPORTED,
                       "%s: index schema %s, this plumb reads schema " INDEX_SCHEMA
                       " (build the index again)",
                       db, (const char *)sqlite3_column_text(st, 0));
        goto fail;
    }
    sqlite3_finalize(st);
    st = NULL;
    if ((rc = load_roots(ix, err)) < 0)
        goto fail;
    *out = ix;
    return PLUMB_OK;
fail:
    sqlite3_finalize(st);
    index_close(ix);
    return rc;
}

void index_close(Index *ix)
{
    if (!ix)
        return;
    free_roots(ix);
    sqlite3_close(ix->db);
    free(ix->db_path);
    free(ix);
}

/* ------------------------------------------------------------------ building */

static const char *const doc_exts[] = { "txt", "md", "markdown", "html", "htm", "csv", "pdf" };

static int is_document(const char *name)
{
    const char *dot = strrchr(name, '.');
    size_t i;
    if (!dot || dot == name)
        return 0;
    for (i = 0; i < sizeof doc_exts / sizeof doc_exts[0]; i++)
        if (strcasecmp(dot + 1, doc_exts[i]) == 0)
            return 1;
    return 0;
}

typedef struct Walk {
    Index *ix;
    const char *root;         /* realpath of the folder */
    const char *const *exclude; /* [n_exclude] glob patterns */
    size_t n_exclude;
    int progress;             /* report on stderr */
    int tty;                  /* stderr is a terminal */
    int printed;              /* a progress line is on screen (tty) */
    double t_start, t_last;   /* seconds, monotonic */
    IndexStats *st;
    sqlite3_stmt *get, *touch, *ins, *upd, *seen;
    size_t in_batch;          /* files since the last commit */
    Buf path;                 /* absolute path of the entry being looked at */
} Walk;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* The progress line: redrawn in place at most ten times a second on a
 * terminal, else one line every five seconds; nothing for a build that
 * takes under a second. */
static void progress(Walk *w, int final)
{
    double t = now_s();
    if (!w->progress)
        return;
    if (final) {
        if (w->printed)
            fprintf(stderr, "\rindexing %s: %zu files, %zu read\n", w->root, w->st->n_seen,
                    w->st->n_read);
        w->printed = 0;
        return;
    }
    if (t - w->t_start < 1.0 || t - w->t_last < (w->tty ? 0.1 : 5.0))
        return;
    w->t_last = t;
    if (w->tty) {
        fprintf(stderr, "\rindexing %s: %zu files, %zu read", w->root, w->st->n_seen,
                w->st->n_read);
        w->printed = 1;
    } else {
        fprintf(stderr, "plumb: indexing %s: %zu files, %zu read\n", w->root, w->st->n_seen,
                w->st->n_read);
    }
    fflush(stderr);
}

static void warn_file(Walk *w, const char *msg)
{
    if (!w->progress)
        return;
    if (w->printed) {
        fputc('\n', stderr);
        w->printed = 0;
    }
    fprintf(stderr, "plumb: index: %s\n", msg);
}

static int excluded(const Walk *w, const char *rel, const char *name)
{
    size_t i;
    for (i = 0; i < w->n_exclude; i++)
        if (fnmatch(w->exclude[i], rel, 0) == 0 || fnmatch(w->exclude[i], name, 0) == 0)
            return 1;
    return 0;
}

/* Hash the file name in dfd.  PLUMB_OK, or an error naming path. */
static int hash_file(int dfd, const char *name, const char *path, char hex[SHA256_HEX_LEN + 1],
                     PlumbError *err)
{
    struct stat st;
    int rc, e;
    int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return plumb_err(err, PLUMB_EIO, "%s: not a regular file", path);
    }
    rc = sha256_fd_hex(fd, INDEX_MAX_FILE, hex);
    e = errno;
    close(fd);
    if (rc < 0)
        return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(e));
    if (rc > 0)
        return plumb_err(err, PLUMB_ENOMEM, "%s: more than %u MiB, not indexed", path,
                         INDEX_MAX_FILE >> 20);
    return PLUMB_OK;
}

static int step_done(Walk *w, sqlite3_stmt *st, PlumbError *err, const char *what)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return db_fail(w->ix, err, what);
    return PLUMB_OK;
}

static int mark_seen(Walk *w, sqlite3_int64 id, PlumbError *err)
{
    sqlite3_bind_int64(w->seen, 1, id);
    return step_done(w, w->seen, err, "recording a file");
}

static int batch_tick(Walk *w, PlumbError *err)
{
    int rc;
    if (++w->in_batch < INDEX_BATCH)
        return PLUMB_OK;
    w->in_batch = 0;
    if ((rc = exec_sql(w->ix, "COMMIT", err)) < 0)
        return rc;
    return exec_sql(w->ix, "BEGIN", err);
}

/* One regular file: name in dfd, w->path its absolute path. */
static int index_file(Walk *w, int dfd, const char *name, const struct stat *sb, PlumbError *err)
{
    const char *path = buf_str(&w->path);
    sqlite3_int64 id = 0, mtime = (sqlite3_int64)sb->st_mtim.tv_sec * 1000000000 +
                                  (sqlite3_int64)sb->st_mtim.tv_nsec;
    char hex[SHA256_HEX_LEN + 1], old_hex[SHA256_HEX_LEN + 1] = "";
    char *title = NULL, *text = NULL;
    Buf url = { 0 };
    PlumbError ferr = { 0 };
    int rc, found = 0;

    w->st->n_seen++;
    sqlite3_bind_text(w->get, 1, path, -1, SQLITE_TRANSIENT);
    rc = sqlite3_step(w->get);
    if (rc == SQLITE_ROW) {
        found = 1;
        id = sqlite3_column_int64(w->get, 0);
        snprintf(old_hex, sizeof old_hex, "%s", (const char *)sqlite3_column_text(w->get, 3));
        if (sqlite3_column_int64(w->get, 1) == (sqlite3_int64)sb->st_size &&
            sqlite3_column_int64(w->get, 2) == mtime) {
            sqlite3_reset(w->get);
            w->st->n_unchanged++;
            return mark_seen(w, id, err);
        }
    }
    sqlite3_reset(w->get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return db_fail(w->ix, err, "looking up a file");

    if (hash_file(dfd, name, path, hex, &ferr) != PLUMB_OK)
        goto failed;
    if (found && strcmp(hex, old_hex) == 0) {
        /* touched, same bytes: remember the new mtime only */
        sqlite3_bind_int64(w->touch, 1, mtime);
        sqlite3_bind_int64(w->touch, 2, (sqlite3_int64)sb->st_size);
        sqlite3_bind_int64(w->touch, 3, id);
        if ((rc = step_done(w, w->touch, err, "updating a file's time")) < 0)
            return rc;
        w->st->n_unchanged++;
        if ((rc = mark_seen(w, id, err)) < 0)
            return rc;
        return batch_tick(w, err);
    }
    if (docs_file_to_text(path, NULL, &title, &text, &ferr) != PLUMB_OK)
        goto failed;
    if ((rc = index_file_url(path, &url)) < 0) {
        rc = plumb_err(err, rc, "%s: out of memory", path);
        goto out;
    }
    {
        sqlite3_stmt *st = found ? w->upd : w->ins;
        sqlite3_bind_text(st, 1, path, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 2, buf_str(&url), -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(st, 3, mtime);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)sb->st_size);
        sqlite3_bind_text(st, 5, hex, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 6, title && *title ? title : name, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(st, 7, text, -1, SQLITE_TRANSIENT);
        if (found)
            sqlite3_bind_int64(st, 8, id);
        if ((rc = step_done(w, st, err, "storing a document")) < 0)
            goto out;
        if (!found)
            id = sqlite3_last_insert_rowid(w->ix->db);
    }
    w->st->n_read++;
    if ((rc = mark_seen(w, id, err)) < 0)
        goto out;
    rc = batch_tick(w, err);
    goto out;
failed:
    /* not marked as seen: an older version of it leaves the index */
    w->st->n_failed++;
    warn_file(w, ferr.msg);
    rc = PLUMB_OK;
out:
    free(title);
    free(text);
    buf_free(&url);
    return rc;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Walk the folder open at dfd (taken over and closed here); w->path holds
 * its absolute path, rel_off where the part relative to the root starts. */
static int walk_dir(Walk *w, int dfd, size_t rel_off, int depth, PlumbError *err)
{
    DIR *d = fdopendir(dfd);
    struct dirent *de;
    char **names = NULL;
    size_t n = 0, cap = 0, i, base = w->path.len;
    int rc = PLUMB_OK;
    if (!d) {
        close(dfd);
        return plumb_err(err, PLUMB_EIO, "%s: %s", buf_str(&w->path), strerror(errno));
    }
    /* sorted, so documents get their ids in the same order everywhere */
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.')
            continue;
        if (n == INDEX_MAX_ENTRIES) {
            Buf msg = { 0 };
            if (buf_printf(&msg, "%s: more than %d entries, the rest not indexed",
                           buf_str(&w->path), INDEX_MAX_ENTRIES) >= 0)
                warn_file(w, msg.p);
            buf_free(&msg);
            break;
        }
        if (n == cap) {
            size_t nc = cap ? 2 * cap : 64;
            char **nn = realloc(names, nc * sizeof *nn);
            if (!nn) {
                rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
                goto out;
            }
            names = nn;
            cap = nc;
        }
        if (!(names[n] = strdup(de->d_name))) {
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
            goto out;
        }
        n++;
    }
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    for (i = 0; i < n && rc >= 0; i++) {
        struct stat sb;
        const char *name = names[i];
        w->path.len = base;
        if ((rc = buf_printf(&w->path, "%s%s", base && w->path.p[base - 1] == '/' ? "" : "/",
                             name)) < 0) {
            rc = plumb_err(err, rc, "out of memory");
            break;
        }
        if (excluded(w, w->path.p + rel_off, name))
            continue;
        if (fstatat(dirfd(d), name, &sb, AT_SYMLINK_NOFOLLOW) != 0)
            continue;
        if (S_ISDIR(sb.st_mode)) {
            int sub;
            if (depth >= INDEX_MAX_DEPTH)
                continue;
            sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (sub < 0)
                continue;
            rc = walk_dir(w, sub, rel_off, depth + 1, err);
        } else if (S_ISREG(sb.st_mode) && is_document(name)) {
            rc = index_file(w, dirfd(d), name, &sb, err);
            progress(w, 0);
        }
    }
out:
    w->path.len = base;
    if (w->path.p)
        w->path.p[base] = '\0';
    for (i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

static int count_docs(Index *ix, IndexStats *st, PlumbError *err)
{
    sqlite3_stmt *q = NULL;
    int rc;
    if ((rc = prepare(ix, "SELECT count(*), coalesce(sum(length(CAST(text AS BLOB))), 0) FROM doc",
                      &q, err)) < 0)
        return rc;
    if (sqlite3_step(q) != SQLITE_ROW) {
        rc = db_fail(ix, err, "counting documents");
    } else {
        st->n_docs = (size_t)sqlite3_column_int64(q, 0);
        st->bytes = (uint64_t)sqlite3_column_int64(q, 1);
    }
    sqlite3_finalize(q);
    return rc;
}

int index_add(Index *ix, const char *dir, const char *const *exclude, size_t n_exclude,
              int progress_on, IndexStats *st, PlumbError *err)
{
    Walk w = { 0 };
    IndexStats local = { 0 };
    char *root = NULL;
    sqlite3_stmt *del = NULL, *addroot = NULL;
    struct stat sb;
    int rc, fd = -1, in_tx = 0;
    size_t root_len;

    if (!st)
        st = &local;
    memset(st, 0, sizeof *st);
    if (!(root = realpath(dir, NULL)))
        return plumb_err(err, PLUMB_EIO, "%s: %s", dir, strerror(errno));
    fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", dir, fd < 0 ? strerror(errno) : "not a folder");
        goto fail;
    }
    w.ix = ix;
    w.root = root;
    w.exclude = exclude;
    w.n_exclude = n_exclude;
    w.progress = progress_on;
    w.tty = isatty(2);
    w.st = st;
    w.t_start = w.t_last = now_s();
    if ((rc = exec_sql(ix, "CREATE TEMP TABLE IF NOT EXISTS seen(id INTEGER PRIMARY KEY);"
                           "DELETE FROM temp.seen;",
                       err)) < 0)
        goto fail;
    if ((rc = prepare(ix, "SELECT id, size, mtime, sha256 FROM doc WHERE path = ?1", &w.get,
                      err)) < 0 ||
        (rc = prepare(ix, "UPDATE doc SET mtime = ?1, size = ?2 WHERE id = ?3", &w.touch, err)) <
            0 ||
        (rc = prepare(ix,
                      "INSERT INTO doc(path, url, mtime, size, sha256, title, text)"
                      " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                      &w.ins, err)) < 0 ||
        (rc = prepare(ix,
                      "UPDATE doc SET path = ?1, url = ?2, mtime = ?3, size = ?4, sha256 = ?5,"
                      " title = ?6, text = ?7 WHERE id = ?8",
                      &w.upd, err)) < 0 ||
        (rc = prepare(ix, "INSERT OR IGNORE INTO temp.seen(id) VALUES (?1)", &w.seen, err)) < 0)
        goto fail;
    if ((rc = exec_sql(ix, "BEGIN", err)) < 0)
        goto fail;
    in_tx = 1;
    root_len = strlen(root);
    if ((rc = buf_puts(&w.path, root)) < 0) {
        rc = plumb_err(err, rc, "out of memory");
        goto fail;
    }
    rc = walk_dir(&w, fd, root_len == 1 ? 1 : root_len + 1, 0, err);
    fd = -1;
    progress(&w, 1);
    if (rc < 0)
        goto fail;
    /* what was under the folder and was not seen now is gone */
    if ((rc = prepare(ix,
                      "DELETE FROM doc WHERE substr(path, 1, length(?1)) = ?1"
                      " AND id NOT IN (SELECT id FROM temp.seen)",
                      &del, err)) < 0)
        goto fail;
    {
        Buf prefix = { 0 };
        if (buf_printf(&prefix, "%s%s", root, root_len == 1 ? "" : "/") < 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
            goto fail;
        }
        sqlite3_bind_text(del, 1, prefix.p, -1, SQLITE_TRANSIENT);
        buf_free(&prefix);
    }
    if (sqlite3_step(del) != SQLITE_DONE) {
        rc = db_fail(ix, err, "dropping files that are gone");
        goto fail;
    }
    st->n_removed = (size_t)sqlite3_changes(ix->db);
    if ((rc = prepare(ix, "INSERT OR REPLACE INTO root(path, built) VALUES (?1, ?2)", &addroot,
                      err)) < 0)
        goto fail;
    sqlite3_bind_text(addroot, 1, root, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(addroot, 2, (sqlite3_int64)time(NULL));
    if (sqlite3_step(addroot) != SQLITE_DONE) {
        rc = db_fail(ix, err, "recording the folder");
        goto fail;
    }
    if ((rc = exec_sql(ix, "COMMIT", err)) < 0)
        goto fail;
    in_tx = 0;
    if ((rc = count_docs(ix, st, err)) < 0 || (rc = load_roots(ix, err)) < 0)
        goto fail;
    rc = PLUMB_OK;
fail:
    if (in_tx)
        sqlite3_exec(ix->db, "ROLLBACK", NULL, NULL, NULL);
    if (fd >= 0)
        close(fd);
    sqlite3_finalize(w.get);
    sqlite3_finalize(w.touch);
    sqlite3_finalize(w.ins);
    sqlite3_finalize(w.upd);
    sqlite3_finalize(w.seen);
    sqlite3_finalize(del);
    sqlite3_finalize(addroot);
    buf_free(&w.path);
    free(root);
    return rc;
}

int index_stats(Index *ix, IndexStats *st, PlumbError *err)
{
    memset(st, 0, sizeof *st);
    return count_docs(ix, st, err);
}

/* ------------------------------------------------------------------ queries */

static int is_cjk(utf8proc_int32_t c)
{
    return (c >= 0x2E80 && c <= 0x2FDF) ||   /* radicals */
           (c >= 0x3040 && c <= 0x30FF) ||   /* hiragana, katakana */
           (c >= 0x3100 && c <= 0x31FF) ||   /* bopomofo, hangul jamo, kanbun */
           (c >= 0x3400 && c <= 0x4DBF) ||   /* extension A */
           (c >= 0x4E00 && c <= 0x9FFF) ||   /* unified ideographs */
           (c >= 0xAC00 && c <= 0xD7AF) ||   /* hangul syllables */
           (c >= 0xF900 && c <= 0xFAFF) ||   /* compatibility ideographs */
           (c >= 0xFF66 && c <= 0xFF9F) ||   /* half-width katakana */
           (c >= 0x20000 && c <= 0x3FFFF);   /* supplementary ideographs */
}

static int is_word_char(utf8proc_int32_t c)
{
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

typedef struct Terms {
    Buf expr;       /* the FTS5 expression: "a" OR "b" ... */
    size_t n;       /* terms in it */
    char *seen[INDEX_MAX_TERMS];
} Terms;

/* Add s[0..len) as a quoted term unless it is already there. */
static int add_term(Terms *t, const char *s, size_t len)
{
    size_t i;
    int rc = PLUMB_OK;
    if (t->n == INDEX_MAX_TERMS || !len)
        return PLUMB_OK;
    for (i = 0; i < t->n; i++)
        if (strlen(t->seen[i]) == len && !memcmp(t->seen[i], s, len))
            return PLUMB_OK;
    if (!(t->seen[t->n] = strndup(s, len)))
        return PLUMB_ENOMEM;
    if (t->n)
        rc = buf_puts(&t->expr, " OR ");
    if (rc >= 0)
        rc = buf_putc(&t->expr, '"');
    for (i = 0; i < len && rc >= 0; i++)
        rc = s[i] == '"' ? buf_puts(&t->expr, "\"\"") : buf_putc(&t->expr, s[i]);
    if (rc >= 0)
        rc = buf_putc(&t->expr, '"');
    t->n++;
    return rc;
}

/* One word w[0..len) of nchar characters.  For the trigram table a word is
 * matched as a substring, which takes at least three characters; a word with
 * CJK characters gives its overlapping three-character pieces. */
static int add_word(Terms *t, const char *w, size_t len, size_t nchar, int cjk_word, int trigram)
{
    size_t i;
    if (!trigram)
        return add_term(t, w, len);
    if (nchar < 3)
        return PLUMB_OK;
    if (!cjk_word)
        return add_term(t, w, len);
    for (i = 0; i + 3 <= nchar; i++) {
        /* bytes of characters i .. i+2 */
        size_t a = 0, k, b;
        int rc;
        for (k = 0; k < i; k++)
            a += (size_t)utf8_lead_len((unsigned char)w[a]);
        b = a;
        for (k = 0; k < 3; k++)
            b += (size_t)utf8_lead_len((unsigned char)w[b]);
        if ((rc = add_term(t, w + a, b - a)) < 0)
            return rc;
    }
    return PLUMB_OK;
}

/* Does q (valid UTF-8) have a CJK character? */
static int has_cjk(const char *q, size_t len)
{
    size_t i = 0;
    while (i < len) {
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate((const utf8proc_uint8_t *)q + i,
                                              (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0)
            return 0;
        if (is_cjk(c))
            return 1;
        i += (size_t)n;
    }
    return 0;
}

/* Build the FTS5 expression of q (valid UTF-8) for the porter table
 * (trigram 0) or the trigram one. */
static int build_terms(const char *q, size_t len, int trigram, Terms *t)
{
    size_t i = 0, start = 0, nchar = 0;
    int in_word = 0, cjk_word = 0, rc = PLUMB_OK;
    while (i <= len && rc >= 0) {
        utf8proc_int32_t c = 0;
        utf8proc_ssize_t n = 0;
        int word = 0;
        if (i < len) {
            n = utf8proc_iterate((const utf8proc_uint8_t *)q + i, (utf8proc_ssize_t)(len - i), &c);
            if (n <= 0) /* cannot happen on repaired text; end the word */
                n = 1, c = ' ';
            word = is_word_char(c);
        }
        if (word && in_word && (size_t)i + (size_t)n - start > INDEX_MAX_TERM)
            word = 0; /* cut a very long word; what follows starts another */
        if (word) {
            if (!in_word) {
                in_word = 1;
                start = i;
                nchar = 0;
                cjk_word = 0;
            }
            nchar++;
            cjk_word |= is_cjk(c);
        } else if (in_word) {
            rc = add_word(t, q + start, i - start, nchar, cjk_word, trigram);
            in_word = 0;
            if (i < len && is_word_char(c))
                continue; /* the cut character starts the next word */
        }
        if (i == len)
            break;
        i += (size_t)n;
    }
    return rc;
}

static void terms_free(Terms *t)
{
    size_t i;
    for (i = 0; i < t->n; i++)
        free(t->seen[i]);
    buf_free(&t->expr);
}

/* s with each run of white space made one space, and trimmed (in place). */
static void squeeze(char *s)
{
    char *o = s, *start = s;
    int space = 0;
    for (; *s; s++) {
        if (*s == ' ' || *s == '\n' || *s == '\r' || *s == '\t' || *s == '\f' || *s == '\v') {
            space = 1;
            continue;
        }
        if (space && o > start)
            *o++ = ' ';
        space = 0;
        *o++ = *s;
    }
    *o = '\0';
}

/* ASCII-case-insensitive search for needle in hay. */
static const char *find_ci(const char *hay, const char *needle)
{
    size_t n = strlen(needle);
    for (; *hay; hay++)
        if (strncasecmp(hay, needle, n) == 0)
            return hay;
    return NULL;
}

/* Step back or forward over whole characters of valid UTF-8. */
static const char *back_chars(const char *start, const char *p, int n)
{
    while (n-- > 0 && p > start) {
        p--;
        while (p > start && ((unsigned char)*p & 0xC0) == 0x80)
            p--;
    }
    return p;
}

static const char *fwd_chars(const char *p, int n)
{
    while (n-- > 0 && *p)
        p += utf8_lead_len((unsigned char)*p) ? utf8_lead_len((unsigned char)*p) : 1;
    return p;
}

#define SNIPPET_BEFORE 16 /* characters shown before the first match */
#define SNIPPET_CHARS 80  /* characters of a snippet */

/* The passage around the first match of a term in text, for the trigram
 * table: SQLite's snippet() repeats text when matches of two phrases
 * overlap (verified with 3.40), which overlapping trigram pieces always do. */
static char *cjk_snippet(const char *text, const Terms *t)
{
    const char *first = NULL, *a, *b;
    size_t i;
    Buf s = { 0 };
    for (i = 0; i < t->n; i++) {
        const char *m = find_ci(text, t->seen[i]);
        if (m && (!first || m < first))
            first = m;
    }
    if (!first)
        first = text;
    a = back_chars(text, first, SNIPPET_BEFORE);
    b = fwd_chars(a, SNIPPET_CHARS);
    /* whole words at the ends of Latin text */
    while (a > text && a < first && isalnum((unsigned char)a[-1]) && *a != ' ')
        a++;
    {
        const char *e = b;
        while (*e && e > first && isalnum((unsigned char)e[-1]) && isalnum((unsigned char)*e))
            e--;
        if (e > first)
            b = e;
    }
    while (a < first && isspace((unsigned char)*a))
        a++;
    while (b > first && isspace((unsigned char)b[-1]))
        b--;
    if (buf_puts(&s, a > text ? "\xE2\x80\xA6" : "") < 0 ||
        buf_append(&s, a, (size_t)(b - a)) < 0 || buf_puts(&s, *b ? "\xE2\x80\xA6" : "") < 0) {
        buf_free(&s);
        return NULL;
    }
    return buf_steal(&s);
}

int index_search(Index *ix, const char *query, int32_t k, IndexHit **hits, size_t *n,
                 PlumbError *err)
{
    char *q = NULL;
    size_t qlen = 0, cap = 0;
    Terms t = { 0 };
    sqlite3_stmt *st = NULL;
    IndexHit *h = NULL;
    int rc, trigram;
    *hits = NULL;
    *n = 0;
    if (k <= 0)
        k = INDEX_DEFAULT_K;
    if (k > INDEX_MAX_K)
        k = INDEX_MAX_K;
    qlen = query ? strlen(query) : 0;
    if (qlen > INDEX_MAX_QUERY)
        qlen = INDEX_MAX_QUERY;
    if (text_utf8_repair(query ? query : "", qlen, &q, &qlen) != PLUMB_OK)
        return plumb_err(err, PLUMB_ENOMEM, "index: out of memory");
    trigram = has_cjk(q, qlen);
    if ((rc = build_terms(q, qlen, trigram, &t)) < 0) {
        rc = plumb_err(err, rc, "index: out of memory");
        goto out;
    }
    if (!t.n)
        goto out; /* nothing searchable: no hits */
    rc = prepare(ix,
                 trigram
                     ? "SELECT d.path, d.url, d.title, d.text,"
                       " bm25(fts_cjk, 5.0, 1.0) AS score"
                       " FROM fts_cjk JOIN doc AS d ON d.id = fts_cjk.rowid"
                       " WHERE fts_cjk MATCH ?1 ORDER BY score, d.id LIMIT ?2"
                     : "SELECT d.path, d.url, d.title,"
                       " snippet(fts, 1, '', '', '\xE2\x80\xA6', 40),"
                       " bm25(fts, 5.0, 1.0) AS score"
                       " FROM fts JOIN doc AS d ON d.id = fts.rowid"
                       " WHERE fts MATCH ?1 ORDER BY score, d.id LIMIT ?2",
                 &st, err);
    if (rc < 0)
        goto out;
    sqlite3_bind_text(st, 1, t.expr.p, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, k);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        IndexHit *x;
        const char *cols[4];
        int i;
        if (*n == cap) {
            size_t nc = cap ? 2 * cap : 16;
            IndexHit *nh = realloc(h, nc * sizeof *nh);
            if (!nh)
                goto nomem;
            h = nh;
            cap = nc;
        }
        x = &h[*n];
        memset(x, 0, sizeof *x);
        (*n)++;
        for (i = 0; i < 4; i++) {
            const unsigned char *v = sqlite3_column_text(st, i);
            cols[i] = v ? (const char *)v : "";
        }
        if (!(x->path = strdup(cols[0])) || !(x->url = strdup(cols[1])) ||
            !(x->title = strdup(cols[2])) ||
            !(x->snippet = trigram ? cjk_snippet(cols[3], &t) : strdup(cols[3])))
            goto nomem;
        squeeze(x->title);
        squeeze(x->snippet);
        x->score = sqlite3_column_double(st, 4);
    }
    if (rc != SQLITE_DONE) {
        rc = plumb_err(err, PLUMB_EIO, "%s: searching: %s", ix->db_path, sqlite3_errmsg(ix->db));
        goto out;
    }
    rc = PLUMB_OK;
    *hits = h;
    h = NULL;
    goto out;
nomem:
    rc = plumb_err(err, PLUMB_ENOMEM, "index: out of memory");
out:
    if (h) {
        index_hits_free(h, *n);
        *n = 0;
    }
    sqlite3_finalize(st);
    terms_free(&t);
    free(q);
    return rc;
}

void index_hits_free(IndexHit *hits, size_t n)
{
    size_t i;
    if (!hits)
        return;
    for (i = 0; i < n; i++) {
        free(hits[i].url);
        free(hits[i].path);
        free(hits[i].title);
        free(hits[i].snippet);
    }
    free(hits);
}

int index_format_search(Index *ix, const char *query, int32_t k, Buf *out, PlumbError *err)
{
    IndexHit *hits = NULL;
    SearchHit *sh = NULL;
    size_t n = 0, i;
    char *q = NULL;
    size_t qlen;
    int rc;
    if ((rc = index_search(ix, query, k, &hits, &n, err)) < 0)
        return rc;
    /* the query as the model wrote it, made valid UTF-8 */
    if (text_utf8_repair(query ? query : "", query ? strlen(query) : 0, &q, &qlen) != PLUMB_OK ||
        (n && !(sh = calloc(n, sizeof *sh)))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "index: out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        sh[i].title = hits[i].title;
        sh[i].url = hits[i].url;
        sh[i].snippet = hits[i].snippet;
    }
    if ((rc = format_search(out, q, sh, n)) < 0)
        rc = plumb_err(err, rc, "index: out of memory");
out:
    free(sh);
    free(q);
    index_hits_free(hits, n);
    return rc;
}

int index_covers(Index *ix, const char *path)
{
    char *real;
    size_t i;
    int found = 0;
    sqlite3_stmt *st = NULL;
    if (!ix || !path || !(real = realpath(path, NULL)))
        return 0;
    for (i = 0; i < ix->n_roots && !found; i++) {
        size_t n = strlen(ix->roots[i]);
        if (strncmp(real, ix->roots[i], n) == 0 && (real[n] == '/' || (n == 1 && real[1])))
            found = 1;
    }
    if (found) {
        found = 0;
        if (sqlite3_prepare_v2(ix->db, "SELECT 1 FROM doc WHERE path = ?1", -1, &st, NULL) ==
            SQLITE_OK) {
            sqlite3_bind_text(st, 1, real, -1, SQLITE_STATIC);
            found = sqlite3_step(st) == SQLITE_ROW;
        }
        sqlite3_finalize(st);
    }
    free(real);
    return found;
}

size_t index_roots(Index *ix, const char *const **roots)
{
    *roots = (const char *const *)ix->roots;
    return ix->n_roots;
}
