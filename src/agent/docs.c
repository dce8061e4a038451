/*
 * docs.c — a document to text (docs.h).
 *
 * The file is opened with O_NOFOLLOW (a symbolic link in the last place of
 * the path is refused) and O_NONBLOCK (a FIFO put in a document's place
 * cannot hang us), and must be a regular file of at most DOCS_MAX_FILE bytes.
 * The kind comes from the name's extension.  Text, Markdown and CSV go
 * through the charset detection of text.h; HTML also through its converter
 * to Markdown; PDF through pdftotext, a separate program (poppler-utils),
 * run in the sandbox (sandbox.h): under bwrap when it is installed and
 * works, always with a wall clock, rlimits and an output cap, so a hostile
 * PDF can at worst make pdftotext fail.  The PDF is handed to it as a copy
 * in a private temporary folder.
 *
 * Titles: HTML's <title>; else the first Markdown heading or the first
 * non-empty line; a CSV file is titled by its name.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "docs.h"
#include "index.h"
#include "sandbox.h"
#include "text.h"
#include "utf8.h"

#define DOCS_MAX_FILE (64u << 20)      /* bytes of one document read */
#define DOCS_DEFAULT_TEXT (8u << 20)   /* bytes of text kept */
#define DOCS_DEFAULT_TIMEOUT 30.0      /* seconds pdftotext may run */
#define DOCS_TITLE_MAX 200             /* bytes of a title */

typedef enum DocKind { DOC_PLAIN, DOC_MARKDOWN, DOC_CSV, DOC_HTML, DOC_PDF, DOC_OTHER } DocKind;

static DocKind kind_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    const char *dot = strrchr(name, '.');
    if (!dot || dot == name)
        return DOC_OTHER;
    dot++;
    if (!strcasecmp(dot, "txt"))
        return DOC_PLAIN;
    if (!strcasecmp(dot, "md") || !strcasecmp(dot, "markdown"))
        return DOC_MARKDOWN;
    if (!strcasecmp(dot, "csv"))
        return DOC_CSV;
    if (!strcasecmp(dot, "html") || !strcasecmp(dot, "htm"))
        return DOC_HTML;
    if (!strcasecmp(dot, "pdf"))
        return DOC_PDF;
    return DOC_OTHER;
}

/* Length of the longest prefix of s[0..len) of at most cap bytes that ends
 * on a character boundary (s is valid UTF-8). */
static size_t utf8_cut(const char *s, size_t len, size_t cap)
{
    if (len <= cap)
        return len;
    while (cap > 0 && ((unsigned char)s[cap] & 0xC0) == 0x80)
        cap--;
    return cap;
}

/* A title from line[0..len): white space squeezed, trimmed, capped. */
static char *make_title(const char *line, size_t len)
{
    Buf b = { 0 };
    size_t i;
    int space = 0;
    for (i = 0; i < len; i++) {
        char c = line[i];
        if (c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v') {
            space = 1;
            continue;
        }
        if (space && b.len && buf_putc(&b, ' ') < 0)
            goto nomem;
        space = 0;
        if (buf_putc(&b, c) < 0)
            goto nomem;
    }
    if (b.len) {
        b.len = utf8_cut(b.p, b.len, DOCS_TITLE_MAX);
        b.p[b.len] = '\0';
    }
    return buf_steal(&b);
nomem:
    buf_free(&b);
    return NULL;
}

/* The first ATX heading ("# Title") of text when headings is set, else (or
 * when there is none) its first non-empty line. */
static char *first_title(const char *text, int headings)
{
    const char *p = text, *first = NULL;
    size_t first_len = 0;
    while (*p) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        size_t i = 0, h = 0;
        while (i < len && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\f'))
            i++;
        if (i < len && !first) {
            first = p + i;
            first_len = len - i;
        }
        while (i + h < len && p[i + h] == '#')
            h++;
        if (headings && h >= 1 && h <= 6 && i + h < len && (p[i + h] == ' ' || p[i + h] == '\t')) {
            size_t s = i + h, end = len;
            while (end > s && (p[end - 1] == '#' || p[end - 1] == ' ' || p[end - 1] == '\r'))
                end--;
            if (end > s)
                return make_title(p + s, end - s);
        }
        if (!headings && first)
            break;
        if (!e)
            break;
        p = e + 1;
    }
    return make_title(first ? first : "", first ? first_len : 0);
}

/* Cut *text (malloc'd, valid UTF-8, *len bytes) to at most cap bytes. */
static void cap_text(char *text, size_t *len, size_t cap)
{
    if (*len > cap) {
        *len = utf8_cut(text, *len, cap);
        text[*len] = '\0';
    }
}

/* Is an executable prog on PATH (or at prog when it has a '/')?  The path
 * goes to out[0..cap). */
static int find_program(const char *prog, char *out, size_t cap)
{
    const char *path = getenv("PATH"), *p;
    if (strchr(prog, '/')) {
        snprintf(out, cap, "%s", prog);
        return access(prog, X_OK) == 0;
    }
    if (!path || !*path)
        path = "/usr/local/bin:/usr/bin:/bin";
    for (p = path;;) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        struct stat sb;
        if (n && (size_t)snprintf(out, cap, "%.*s/%s", (int)n, p, prog) < cap &&
            stat(out, &sb) == 0 && S_ISREG(sb.st_mode) && access(out, X_OK) == 0)
            return 1;
        if (!e)
            break;
        p = e + 1;
    }
    return 0;
}

int docs_pdf_to_text(const void *pdf, size_t len, const DocsParams *p, char **text,
                     PlumbError *err)
{
    static const DocsParams defaults = { 0 };
    char prog[4096], bwrap[4096], dir[4096], file[4200];
    const char *tmp = getenv("TMPDIR");
    const char *argv[] = { prog, "-enc", "UTF-8", "-eol", "unix", "-l", "300", file, "-", NULL };
    const char *ro[2];
    SandboxParams sp = { 0 };
    SandboxResult res = { 0 };
    size_t max_text, out_len = 0, i, done = 0;
    int rc, fd = -1, have_dir = 0, have_file = 0;
    char *out = NULL;

    *text = NULL;
    if (!p)
        p = &defaults;
    max_text = p->max_text ? p->max_text : DOCS_DEFAULT_TEXT;
    if (len < 5 || memcmp(pdf, "%PDF-", 5) != 0)
        return plumb_err(err, PLUMB_EFORMAT, "not a PDF file (no %%PDF- header)");
    if (!find_program(p->pdftotext ? p->pdftotext : "pdftotext", prog, sizeof prog))
        return plumb_err(err, PLUMB_EUNSUPPORTED,
                         "%s not found: reading PDF files needs pdftotext (Debian package "
                         "poppler-utils)",
                         p->pdftotext ? p->pdftotext : "pdftotext");

    /* a private copy: the child reads nothing of ours but this file */
    snprintf(dir, sizeof dir, "%s/plumb-pdf-XXXXXX", tmp && *tmp == '/' ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", dir, strerror(errno));
        goto out;
    }
    have_dir = 1;
    snprintf(file, sizeof file, "%s/document.pdf", dir);
    fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", file, strerror(errno));
        goto out;
    }
    have_file = 1;
    while (done < len) {
        ssize_t n = write(fd, (const char *)pdf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = plumb_err(err, PLUMB_EIO, "%s: %s", file, n < 0 ? strerror(errno) : "short write");
            goto out;
        }
        done += (size_t)n;
    }
    if (close(fd) != 0) {
        fd = -1;
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", file, strerror(errno));
        goto out;
    }
    fd = -1;

    ro[0] = file;
    sp.n_ro_files = 1;
    if (strncmp(prog, "/usr/", 5) != 0)
        ro[sp.n_ro_files++] = prog; /* bwrap shows only /usr of the system */
    sp.ro_files = ro;
    sp.use_bwrap = find_program("bwrap", bwrap, sizeof bwrap);
    sp.bwrap = sp.use_bwrap ? bwrap : NULL;
    sp.wall_s = p->timeout_s > 0 ? p->timeout_s : DOCS_DEFAULT_TIMEOUT;
    sp.max_output = max_text;
    rc = sandbox_run(argv, &sp, &res, err);
    if (rc == PLUMB_EUNSUPPORTED && sp.use_bwrap) {
        /* bwrap installed but refused its namespaces: limits only */
        plumb_err_clear(err);
        sandbox_result_free(&res);
        memset(&res, 0, sizeof res);
        sp.use_bwrap = 0;
        sp.bwrap = NULL;
        rc = sandbox_run(argv, &sp, &res, err);
    }
    if (rc < 0)
        goto out;
    if (res.timed_out) {
        rc = plumb_err(err, PLUMB_EIO, "pdftotext: stopped after %g s", sp.wall_s);
        goto out;
    }
    if (res.exit_code != 0 && !res.out_truncated) {
        size_t n = res.err ? strcspn(res.err, "\n") : 0;
        if (res.signal)
            rc = plumb_err(err, PLUMB_EFORMAT, "pdftotext: killed by signal %d", res.signal);
        else
            rc = plumb_err(err, PLUMB_EFORMAT, "pdftotext: exit status %d%s%.*s", res.exit_code,
                           n ? ": " : "", (int)(n > 300 ? 300 : n), n ? res.err : "");
        goto out;
    }
    if (text_utf8_repair(res.out ? res.out : "", res.out_len, &out, &out_len) != PLUMB_OK) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto out;
    }
    /* pages end with a form feed */
    for (i = 0; i < out_len; i++)
        if (out[i] == '\f')
            out[i] = '\n';
    cap_text(out, &out_len, max_text);
    *text = out;
    out = NULL;
    rc = PLUMB_OK;
out:
    if (fd >= 0)
        close(fd);
    if (have_file)
        unlink(file);
    if (have_dir)
        rmdir(dir);
    sandbox_result_free(&res);
    free(out);
    return rc;
}

/* Read the whole of fd (a regular file of size bytes) into *data. */
static int read_all(int fd, const char *path, off_t size, char **data, size_t *len,
                    PlumbError *err)
{
    size_t cap = (size_t)size + 1, n = 0;
    char *b = malloc(cap + 1);
    if (!b)
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
    for (;;) {
        ssize_t r = read(fd, b + n, cap - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            free(b);
            return plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == cap) {
            /* it grew while we read: read no more than the cap */
            char *nb;
            if (cap > DOCS_MAX_FILE) {
                free(b);
                return plumb_err(err, PLUMB_ENOMEM, "%s: more than %u MiB", path,
                                 DOCS_MAX_FILE >> 20);
            }
            cap = cap * 2 > DOCS_MAX_FILE + 1 ? DOCS_MAX_FILE + 1 : cap * 2;
            if (!(nb = realloc(b, cap + 1))) {
                free(b);
                return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
            }
            b = nb;
        }
    }
    b[n] = '\0';
    *data = b;
    *len = n;
    return PLUMB_OK;
}

int docs_file_to_text(const char *path, const DocsParams *p, char **title, char **text,
                      PlumbError *err)
{
    static const DocsParams defaults = { 0 };
    DocKind kind = kind_of(path);
    struct stat sb;
    char *data = NULL, *utf = NULL, *md = NULL, *t = NULL, *tt = NULL;
    size_t len = 0, ulen = 0, max_text;
    int rc, fd = -1;

    if (title)
        *title = NULL;
    *text = NULL;
    if (!p)
        p = &defaults;
    max_text = p->max_text ? p->max_text : DOCS_DEFAULT_TEXT;
    if (kind == DOC_OTHER)
        return plumb_err(err, PLUMB_EUNSUPPORTED,
                         "%s: not a kind of document plumb reads (.txt .md .markdown .csv .html "
                         ".htm .pdf)",
                         path);
    fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return plumb_err(err, PLUMB_EIO, "%s: %s", path,
                         errno == ELOOP ? "a symbolic link (not followed)" : strerror(errno));
    if (fstat(fd, &sb) != 0) {
        rc = plumb_err(err, PLUMB_EIO, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (!S_ISREG(sb.st_mode)) {
        rc = plumb_err(err, PLUMB_EIO, "%s: not a regular file", path);
        goto out;
    }
    if (sb.st_size > (off_t)DOCS_MAX_FILE) {
        rc = plumb_err(err, PLUMB_ENOMEM, "%s: %lld bytes, more than the %u MiB a document may have",
                       path, (long long)sb.st_size, DOCS_MAX_FILE >> 20);
        goto out;
    }
    if ((rc = read_all(fd, path, sb.st_size, &data, &len, err)) < 0)
        goto out;

    switch (kind) {
    case DOC_PDF:
        if ((rc = docs_pdf_to_text(data, len, p, &t, err)) < 0) {
            plumb_err_prefix(err, path);
            goto out;
        }
        tt = first_title(t, 0);
        break;
    case DOC_HTML: {
        Buf url = { 0 };
        if ((rc = text_to_utf8(data, len, NULL, 1, &utf, &ulen, err)) < 0) {
            plumb_err_prefix(err, path);
            goto out;
        }
        if (index_file_url(path, &url) < 0) {
            buf_free(&url);
            rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
            goto out;
        }
        rc = text_html_to_markdown(utf, ulen, url.p, &tt, &md, err);
        buf_free(&url);
        if (rc < 0) {
            plumb_err_prefix(err, path);
            goto out;
        }
        t = md;
        md = NULL;
        if (!tt || !*tt) {
            free(tt);
            tt = first_title(t, 1);
        } else {
            char *clean = make_title(tt, strlen(tt));
            free(tt);
            tt = clean;
        }
        break;
    }
    default:
        if ((rc = text_to_utf8(data, len, NULL, 0, &t, &ulen, err)) < 0) {
            plumb_err_prefix(err, path);
            goto out;
        }
        if (kind == DOC_CSV) {
            const char *slash = strrchr(path, '/');
            tt = make_title(slash ? slash + 1 : path, strlen(slash ? slash + 1 : path));
        } else {
            tt = first_title(t, 1);
        }
        break;
    }
    if (!t || !tt) {
        rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
        goto out;
    }
    ulen = strlen(t);
    cap_text(t, &ulen, max_text);
    *text = t;
    t = NULL;
    if (title) {
        *title = tt;
        tt = NULL;
    }
    rc = PLUMB_OK;
out:
    if (fd >= 0)
        close(fd);
    free(data);
    free(utf);
    free(md);
    free(t);
    free(tt);
    return rc;
}
