/*
 * text.c — bytes of a page or a file to the text the model reads (text.h).
 *
 * Charset: a byte order mark wins (as in browsers), then the Content-Type's
 * charset, then for HTML a <meta charset> / http-equiv in the first 4 KiB
 * (or an XML declaration), then UTF-8 when the bytes are valid UTF-8, else
 * windows-1252.  Labels go through a small alias table to the superset glibc
 * iconv knows (ISO-8859-1 and ASCII to windows-1252, GB2312/GBK to GB18030,
 * Shift_JIS to CP932, EUC-KR to CP949), as the WHATWG Encoding standard maps
 * them.  A declared single-byte Western charset over bytes that are valid,
 * non-ASCII UTF-8 is taken as UTF-8: that mislabelling is common and the
 * other way round is almost never valid UTF-8.  Bytes the charset cannot
 * decode become U+FFFD; NUL becomes U+FFFD too, so the output is a C string.
 *
 * HTML: libxml2's HTML parser (no network, errors silenced, recovering,
 * the document's own encoding hint ignored because the input is already
 * UTF-8), input capped at TEXT_MAX_HTML bytes.  The tree is walked once:
 * headings as "#", lists as "- " / "1. " indented two spaces per level,
 * links as [text](absolute URL) against <base href> or the page URL,
 * tables as pipe rows with a separator after the first, <pre> as a fenced
 * block, <code> in backticks, blockquotes prefixed "> ", <br> as a line
 * break, images as their alt text.  Dropped: head (the title is read),
 * script, style, noscript, template, nav, aside, form, iframe, svg, object,
 * embed, canvas, select, textarea, button, dialog, and anything with the
 * hidden attribute; header and footer are dropped unless inside <article>
 * or <main>, where they hold the article's own title and byline.
 * Whitespace runs collapse to one space; at most one blank line between
 * blocks.  The output is capped at TEXT_MAX_MARKDOWN bytes.
 */
#include "config.h"

#include <errno.h>
#include <iconv.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/HTMLparser.h>
#include <libxml/tree.h>
#include <libxml/uri.h>

#include "buf.h"
#include "text.h"
#include "utf8.h"

#define TEXT_MAX_HTML (8u << 20)      /* bytes of HTML given to the parser */
#define TEXT_MAX_MARKDOWN (16u << 20) /* bytes of text produced from one page */
#define TEXT_MAX_DEPTH 256            /* elements deeper than this are skipped */
#define META_SCAN 4096                /* bytes searched for <meta charset> */

/* ------------------------------------------------------------ UTF-8 */
/* Bytes of the maximal prefix of a valid sequence at s (at least 1): what
 * one U+FFFD replaces, as the WHATWG decoder does. */
static size_t bad_prefix(const unsigned char *s, size_t n)
{
    int len = utf8_lead_len(s[0]);
    size_t k = 1;
    if (len == 0)
        return 1;
    while ((int)k < len && k < n && utf8_next_ok(s, (int)k, s[k]))
        k++;
    return k;
}

static int valid_utf8(const unsigned char *s, size_t n, int *has_non_ascii)
{
    size_t i = 0;
    uint32_t cp;
    *has_non_ascii = 0;
    while (i < n) {
        size_t k;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        k = utf8_decode(s + i, n - i, &cp);
        if (!k)
            return 0;
        *has_non_ascii = 1;
        i += k;
    }
    return 1;
}

int text_utf8_repair_buf(Buf *b, const void *data, size_t n)
{
    const unsigned char *s = data;
    static const unsigned char fffd[3] = { 0xEF, 0xBF, 0xBD };
    size_t i = 0, run = 0;
    uint32_t cp;
    int rc;
    while (i < n) {
        size_t k = s[i] && s[i] < 0x80 ? 1 : s[i] ? utf8_decode(s + i, n - i, &cp) : 0;
        if (k) {
            i += k;
            run += k;
            continue;
        }
        if ((rc = buf_append(b, s + i - run, run)) < 0 || (rc = buf_append(b, fffd, 3)) < 0)
            return rc;
        run = 0;
        i += s[i] ? bad_prefix(s + i, n - i) : 1;
    }
    return buf_append(b, s + i - run, run);
}

int text_utf8_repair(const void *data, size_t len, char **out, size_t *out_len)
{
    Buf b = { 0 };
    int rc;
    *out = NULL;
    *out_len = 0;
    if ((rc = buf_reserve(&b, len)) < 0 || (rc = text_utf8_repair_buf(&b, data, len)) < 0) {
        buf_free(&b);
        return rc;
    }
    *out_len = b.len;
    *out = buf_steal(&b);
    return *out ? PLUMB_OK : PLUMB_ENOMEM;
}

/* ------------------------------------------------------------ sniffing */
static int ascii_ieq_prefix(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit);
    return n >= k && !strncasecmp(s, lit, k);
}

/* Case-insensitive search for lit in s[0..n). */
static const char *ascii_icase_find(const char *s, size_t n, const char *lit)
{
    size_t k = strlen(lit), i;
    if (k > n)
        return NULL;
    for (i = 0; i + k <= n; i++)
        if (!strncasecmp(s + i, lit, k))
            return s + i;
    return NULL;
}

/* The media type of a Content-Type, lower case, in out (empty when none). */
static void media_type(const char *ct, char *out, size_t cap)
{
    size_t i = 0;
    out[0] = 0;
    if (!ct)
        return;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    while (*ct && *ct != ';' && *ct != ' ' && *ct != '\t' && i + 1 < cap) {
        char c = *ct++;
        out[i++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    out[i] = 0;
}

/* The extension of the last path segment of a URL or path, lower case. */
static void name_ext(const char *name, char *out, size_t cap)
{
    const char *end, *seg, *dot;
    size_t i = 0;
    out[0] = 0;
    if (!name)
        return;
    end = name + strcspn(name, "?#");
    seg = name;
    for (const char *p = name; p < end; p++)
        if (*p == '/')
            seg = p + 1;
    dot = NULL;
    for (const char *p = seg; p < end; p++)
        if (*p == '.')
            dot = p + 1;
    if (!dot)
        return;
    while (dot < end && i + 1 < cap) {
        char c = *dot++;
        out[i++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
    }
    if (dot < end)
        i = 0; /* too long to be an extension */
    out[i] = 0;
}

static int in_set(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (!strcmp(s, *set))
            return 1;
    return 0;
}

/* Magic numbers of formats no model reads. */
static int binary_magic(const unsigned char *d, size_t n)
{
    static const struct { const char *m; size_t n; } magics[] = {
        { "\x89PNG", 4 }, { "\xFF\xD8\xFF", 3 }, { "GIF8", 4 }, { "PK\x03\x04", 4 },
        { "\x1F\x8B", 2 }, { "\x7F" "ELF", 4 }, { "BZh", 3 }, { "\xFD" "7zXZ", 5 },
        { "7z\xBC\xAF", 4 }, { "Rar!", 4 }, { "\x00\x00\x01\x00", 4 }, { "OggS", 4 },
        { "ID3", 3 }, { "fLaC", 4 }, { "\x1A\x45\xDF\xA3", 4 }, { "wOFF", 4 }, { "wOF2", 4 },
        { "\xD0\xCF\x11\xE0", 4 }, { "\x28\xB5\x2F\xFD", 4 }, { "MZ", 2 },
    };
    size_t i;
    for (i = 0; i < sizeof magics / sizeof magics[0]; i++)
        if (n >= magics[i].n && !memcmp(d, magics[i].m, magics[i].n))
            return 1;
    /* RIFF (WebP, WAV, AVI), ftyp (MP4, HEIC) */
    if (n >= 12 && (!memcmp(d, "RIFF", 4) || !memcmp(d + 4, "ftyp", 4)))
        return 1;
    return 0;
}

/* Do the first bytes look like something other than text?  NUL bytes (with
 * no UTF-16 BOM) or many C0 controls. */
static int looks_binary(const unsigned char *d, size_t n)
{
    size_t i, ctl = 0, lim = n < 8192 ? n : 8192;
    if (n >= 2 && ((d[0] == 0xFF && d[1] == 0xFE) || (d[0] == 0xFE && d[1] == 0xFF)))
        return 0;
    for (i = 0; i < lim; i++) {
        if (d[i] == 0)
            return 1;
        if (d[i] < 0x20 && d[i] != '\t' && d[i] != '\n' && d[i] != '\r' && d[i] != '\f' &&
            d[i] != 0x1B)
            ctl++;
    }
    return lim && ctl * 10 > lim; /* more than 10% control characters */
}

/* Does the start (after a BOM and blanks) read as HTML markup? */
static int looks_html(const char *s, size_t n)
{
    size_t lim = n < 1024 ? n : 1024;
    if (lim >= 3 && !memcmp(s, "\xEF\xBB\xBF", 3)) {
        s += 3;
        lim -= 3;
    }
    while (lim && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f')) {
        s++;
        lim--;
    }
    if (ascii_ieq_prefix(s, lim, "<!doctype html") || ascii_ieq_prefix(s, lim, "<html") ||
        ascii_ieq_prefix(s, lim, "<head") || ascii_ieq_prefix(s, lim, "<body"))
        return 1;
    return (lim && *s == '<') &&
           (ascii_icase_find(s, lim, "<html") || ascii_icase_find(s, lim, "<body") ||
            ascii_icase_find(s, lim, "<title"));
}

TextKind text_sniff(const char *content_type, const char *name, const void *data, size_t len)
{
    static const char *const html_types[] = { "text/html", "application/xhtml+xml", NULL };
    static const char *const html_ext[] = { "html", "htm", "xhtml", "shtml", NULL };
    static const char *const text_ext[] = {
        "txt", "md", "markdown", "csv", "tsv", "json", "jsonl", "xml", "rst", "tex", "log",
        "yaml", "yml", "toml", "ini", "c", "h", "py", "js", "ts", "sh", "org", "srt", NULL,
    };
    const unsigned char *d = data;
    char mt[128], ext[16];
    if (len >= 5 && !memcmp(d, "%PDF-", 5))
        return TEXT_PDF;
    if (binary_magic(d, len) || looks_binary(d, len))
        return TEXT_BINARY;
    media_type(content_type, mt, sizeof mt);
    name_ext(name, ext, sizeof ext);
    if (!strcmp(mt, "application/pdf"))
        return TEXT_BINARY; /* labelled PDF without the PDF magic: not readable */
    if (in_set(mt, html_types))
        return TEXT_HTML;
    if (!strncmp(mt, "text/", 5) || strstr(mt, "json") || strstr(mt, "xml") ||
        strstr(mt, "javascript"))
        return looks_html(data, len) ? TEXT_HTML : TEXT_PLAIN;
    if (!strncmp(mt, "image/", 6) || !strncmp(mt, "audio/", 6) || !strncmp(mt, "video/", 6) ||
        !strncmp(mt, "font/", 5))
        return TEXT_BINARY;
    if (in_set(ext, html_ext))
        return TEXT_HTML;
    if (!strcmp(ext, "pdf"))
        return TEXT_BINARY;
    if (looks_html(data, len))
        return TEXT_HTML;
    if (in_set(ext, text_ext) || !mt[0] || !strcmp(mt, "application/octet-stream"))
        return TEXT_PLAIN;
    return TEXT_PLAIN;
}

/* ------------------------------------------------------------ charset */
/* Copy a charset label (token characters only) lower-cased into out. */
static int copy_label(const char *s, size_t n, char *out, size_t cap)
{
    size_t i = 0;
    while (n && (*s == ' ' || *s == '\t' || *s == '"' || *s == '\'')) {
        s++;
        n--;
    }
    while (n && i + 1 < cap) {
        char c = *s;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            break;
        out[i++] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
        s++;
        n--;
    }
    out[i] = 0;
    return i > 0;
}

/* charset=... in a Content-Type or a meta content attribute. */
static int label_from_param(const char *s, size_t n, char *out, size_t cap)
{
    const char *p = ascii_icase_find(s, n, "charset");
    if (!p)
        return 0;
    n -= (size_t)(p - s) + 7;
    p += 7;
    while (n && (*p == ' ' || *p == '\t')) {
        p++;
        n--;
    }
    if (!n || *p != '=')
        return 0;
    return copy_label(p + 1, n - 1, out, cap);
}

/* A <meta charset> or http-equiv Content-Type, or an XML declaration's
 * encoding, in the first META_SCAN bytes. */
static int label_from_meta(const char *s, size_t n, char *out, size_t cap)
{
    size_t lim = n < META_SCAN ? n : META_SCAN;
    const char *p = s, *end = s + lim;
    if (ascii_ieq_prefix(s, lim, "<?xml")) {
        const char *q = memchr(s, '>', lim), *e;
        if (q && (e = ascii_icase_find(s, (size_t)(q - s), "encoding"))) {
            e += 8;
            while (e < q && (*e == ' ' || *e == '='))
                e++;
            if (copy_label(e, (size_t)(q - e), out, cap))
                return 1;
        }
    }
    while (p < end) {
        const char *m = ascii_icase_find(p, (size_t)(end - p), "<meta"), *gt;
        if (!m)
            break;
        gt = memchr(m, '>', (size_t)(end - m));
        if (!gt)
            gt = end;
        if (label_from_param(m + 5, (size_t)(gt - m - 5), out, cap))
            return 1;
        p = gt;
    }
    return 0;
}

/* Labels as the WHATWG Encoding standard reads them, to the glibc name. */
static const char *iconv_name(const char *label)
{
    static const struct { const char *label, *name; } alias[] = {
        { "utf-8", "UTF-8" }, { "utf8", "UTF-8" }, { "unicode-1-1-utf-8", "UTF-8" },
        { "us-ascii", "WINDOWS-1252" }, { "ascii", "WINDOWS-1252" },
        { "iso-8859-1", "WINDOWS-1252" }, { "iso8859-1", "WINDOWS-1252" },
        { "iso_8859-1", "WINDOWS-1252" }, { "latin1", "WINDOWS-1252" }, { "l1", "WINDOWS-1252" },
        { "cp1252", "WINDOWS-1252" }, { "windows-1252", "WINDOWS-1252" },
        { "x-cp1252", "WINDOWS-1252" }, { "cp819", "WINDOWS-1252" },
        { "gb2312", "GB18030" }, { "gbk", "GB18030" }, { "gb18030", "GB18030" },
        { "x-gbk", "GB18030" }, { "chinese", "GB18030" }, { "csgb2312", "GB18030" },
        { "shift_jis", "CP932" }, { "shift-jis", "CP932" }, { "sjis", "CP932" },
        { "x-sjis", "CP932" }, { "ms_kanji", "CP932" }, { "windows-31j", "CP932" },
        { "cp932", "CP932" }, { "csshiftjis", "CP932" },
        { "euc-kr", "CP949" }, { "ks_c_5601-1987", "CP949" }, { "windows-949", "CP949" },
        { "cp949", "CP949" }, { "ksc5601", "CP949" },
        { "big5", "BIG5-HKSCS" }, { "big5-hkscs", "BIG5-HKSCS" }, { "x-x-big5", "BIG5-HKSCS" },
        { "euc-jp", "EUC-JP" }, { "iso-2022-jp", "ISO-2022-JP" },
        { "tis-620", "WINDOWS-874" }, { "iso-8859-11", "WINDOWS-874" },
        { "windows-874", "WINDOWS-874" },
        { "utf-16", "UTF-16LE" }, { "utf-16le", "UTF-16LE" }, { "utf-16be", "UTF-16BE" },
        { "koi8-r", "KOI8-R" }, { "koi8-u", "KOI8-U" },
    };
    size_t i;
    for (i = 0; i < sizeof alias / sizeof alias[0]; i++)
        if (!strcmp(label, alias[i].label))
            return alias[i].name;
    return NULL;
}

static int is_utf16(const char *cs)
{
    return !strncmp(cs, "UTF-16", 6);
}

static int is_western_single_byte(const char *cs)
{
    return !strcmp(cs, "WINDOWS-1252");
}

/* Convert with iconv; undecodable bytes become U+FFFD and decoding goes on. */
static int convert(iconv_t cd, const unsigned char *in, size_t n, size_t unit, Buf *b)
{
    static const char fffd[3] = { '\xEF', '\xBF', '\xBD' };
    char chunk[16384];
    char *ip = (char *)in;
    size_t left = n;
    int rc;
    while (left) {
        char *op = chunk;
        size_t room = sizeof chunk;
        size_t r = iconv(cd, &ip, &left, &op, &room);
        int e = errno;
        if ((rc = buf_append(b, chunk, (size_t)(op - chunk))) < 0)
            return rc;
        if (r != (size_t)-1)
            break;
        if (e == E2BIG)
            continue;
        /* EILSEQ, or EINVAL (a sequence cut at the end) */
        if ((rc = buf_append(b, fffd, 3)) < 0)
            return rc;
        if (e == EINVAL)
            break;
        if (left < unit)
            break;
        ip += unit;
        left -= unit;
        iconv(cd, NULL, NULL, NULL, NULL); /* reset shift state */
    }
    {
        char *op = chunk;
        size_t room = sizeof chunk;
        iconv(cd, NULL, NULL, &op, &room);
        return buf_append(b, chunk, (size_t)(op - chunk));
    }
}

int text_to_utf8(const void *data, size_t len, const char *content_type, int is_html,
                 char **out, size_t *out_len, PlumbError *err)
{
    const unsigned char *d = data;
    const char *cs = NULL;
    char label[48];
    Buf conv = { 0 }, fixed = { 0 };
    size_t skip = 0;
    int non_ascii, rc;
    iconv_t cd;

    *out = NULL;
    *out_len = 0;
    if (len >= 3 && d[0] == 0xEF && d[1] == 0xBB && d[2] == 0xBF) {
        cs = "UTF-8";
        skip = 3;
    } else if (len >= 2 && d[0] == 0xFF && d[1] == 0xFE) {
        cs = "UTF-16LE";
        skip = 2;
    } else if (len >= 2 && d[0] == 0xFE && d[1] == 0xFF) {
        cs = "UTF-16BE";
        skip = 2;
    }
    if (!cs && content_type && label_from_param(content_type, strlen(content_type), label, sizeof label)) {
        cs = iconv_name(label);
        if (!cs) {
            /* not in the table: glibc may still know it */
            iconv_t probe = iconv_open("UTF-8", label);
            if (probe != (iconv_t)-1) {
                iconv_close(probe);
                cs = label;
            }
        }
    }
    if (!cs && is_html && label_from_meta(data, len, label, sizeof label)) {
        cs = iconv_name(label);
        if (cs && is_utf16(cs))
            cs = "UTF-8"; /* a UTF-16 label in ASCII-compatible bytes is wrong by construction */
        if (!cs) {
            iconv_t probe = iconv_open("UTF-8", label);
            if (probe != (iconv_t)-1) {
                iconv_close(probe);
                cs = label;
            }
        }
    }
    if (cs && is_western_single_byte(cs) && valid_utf8(d, len, &non_ascii) && non_ascii)
        cs = "UTF-8";
    if (!cs)
        cs = valid_utf8(d, len, &non_ascii) ? "UTF-8" : "WINDOWS-1252";

    if (!strcmp(cs, "UTF-8")) {
        rc = text_utf8_repair_buf(&fixed, d + skip, len - skip);
        if (rc < 0)
            goto fail;
    } else {
        cd = iconv_open("UTF-8", cs);
        if (cd == (iconv_t)-1) {
            rc = plumb_err(err, PLUMB_EUNSUPPORTED, "charset %s: not known to iconv", cs);
            goto fail;
        }
        rc = convert(cd, d + skip, len - skip, is_utf16(cs) ? 2 : 1, &conv);
        iconv_close(cd);
        if (rc < 0)
            goto fail;
        /* iconv's UTF-8 is valid; this turns NUL (and anything odd) into U+FFFD */
        if ((rc = text_utf8_repair_buf(&fixed, (const unsigned char *)buf_str(&conv), conv.len)) < 0)
            goto fail;
    }
    buf_free(&conv);
    *out_len = fixed.len;
    *out = buf_steal(&fixed);
    return *out ? PLUMB_OK : plumb_err(err, PLUMB_ENOMEM, "out of memory");
fail:
    buf_free(&conv);
    buf_free(&fixed);
    if (rc == PLUMB_ENOMEM)
        plumb_err(err, rc, "out of memory converting %zu bytes to UTF-8", len);
    return rc;
}

/* ------------------------------------------------------------ HTML */
typedef struct Md {
    Buf *out;          /* where text goes now (the page, or a link's or cell's text) */
    int inline_only;   /* inside a link or a table cell: blocks are spaces */
    int pending_space; /* a collapsed run of whitespace waits to be written */
    int pending_nl;    /* newlines wanted before the next text (0..2) */
    int list_depth;    /* nesting of ul/ol */
    int in_pre;        /* inside <pre>: text kept as is */
    int in_article;    /* inside <article> or <main> */
    int fresh_item;    /* a list marker was just written: no break before its text */
    int full;          /* the output cap was reached: stop */
    int rc;            /* first error (PLUMB_ENOMEM) */
    const char *base;  /* URL relative links resolve against, or NULL */
} Md;

static int name_is(const xmlNode *n, const char *name)
{
    return n->name && !strcasecmp((const char *)n->name, name);
}

static int name_in(const xmlNode *n, const char *const *names)
{
    for (; *names; names++)
        if (name_is(n, *names))
            return 1;
    return 0;
}

static void md_raw(Md *m, const char *s, size_t n)
{
    int rc;
    if (m->full || m->rc)
        return;
    if (m->out->len + n > TEXT_MAX_MARKDOWN) {
        m->full = 1;
        return;
    }
    if ((rc = buf_append(m->out, s, n)) < 0)
        m->rc = rc;
}

static void md_puts(Md *m, const char *s)
{
    md_raw(m, s, strlen(s));
}

static int at_line_start(const Md *m)
{
    return !m->out->len || m->out->p[m->out->len - 1] == '\n';
}

/* Ask for n newlines before the next text (blocks: 2, lines: 1). */
static void md_break(Md *m, int n)
{
    if (m->inline_only) {
        m->pending_space = 1;
        return;
    }
    if (n > m->pending_nl)
        m->pending_nl = n;
    m->pending_space = 0;
}

/* Write what is pending before the next visible text. */
static void md_flush(Md *m)
{
    if (m->fresh_item) {
        m->fresh_item = 0;
        m->pending_nl = m->pending_space = 0;
        return;
    }
    if (m->pending_nl && m->out->len) {
        size_t have = 0;
        while (have < m->out->len && have < 2 && m->out->p[m->out->len - 1 - have] == '\n')
            have++;
        for (; (int)have < m->pending_nl; have++)
            md_raw(m, "\n", 1);
    } else if (m->pending_space && m->out->len && !at_line_start(m) &&
               m->out->p[m->out->len - 1] != ' ')
        md_raw(m, " ", 1);
    m->pending_nl = 0;
    m->pending_space = 0;
}

/* Text with whitespace collapsed; U+00A0 counts as a space. */
static void md_text(Md *m, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    if (m->in_pre) {
        md_flush(m);
        md_puts(m, s);
        return;
    }
    while (*p && !m->full && !m->rc) {
        const unsigned char *start;
        if (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
            (p[0] == 0xC2 && p[1] == 0xA0)) {
            m->pending_space = 1;
            p += *p == 0xC2 ? 2 : 1;
            continue;
        }
        start = p;
        while (*p && !(*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r' || *p == '\f' ||
                       (p[0] == 0xC2 && p[1] == 0xA0)))
            p++;
        md_flush(m);
        md_raw(m, (const char *)start, (size_t)(p - start));
    }
}

static char *attr(const xmlNode *n, const char *name)
{
    return (char *)xmlGetProp((xmlNode *)n, (const xmlChar *)name);
}

static int has_attr(const xmlNode *n, const char *name)
{
    return xmlHasProp((xmlNode *)n, (const xmlChar *)name) != NULL;
}

/* Trim and collapse a rendered fragment (link text, cell) in place. */
static void squeeze(Buf *b)
{
    size_t i, j = 0;
    int sp = 0;
    for (i = 0; i < b->len; i++) {
        char c = b->p[i];
        if (c == ' ' || c == '\n' || c == '\t') {
            sp = j > 0;
            continue;
        }
        if (sp)
            b->p[j++] = ' ';
        sp = 0;
        b->p[j++] = c;
    }
    b->len = j;
    if (b->p)
        b->p[j] = 0;
}

static void walk(Md *m, const xmlNode *n, int depth);

static void walk_children(Md *m, const xmlNode *n, int depth)
{
    const xmlNode *c;
    for (c = n->children; c && !m->full && !m->rc; c = c->next)
        walk(m, c, depth + 1);
}

/* Render n's children into a fresh buffer, inline, squeezed. */
static void render_inline(Md *m, const xmlNode *n, int depth, Buf *into)
{
    Md sub = *m;
    sub.out = into;
    sub.inline_only = 1;
    sub.pending_space = sub.pending_nl = 0;
    sub.in_pre = 0;
    walk_children(&sub, n, depth);
    m->full |= sub.full;
    if (!m->rc)
        m->rc = sub.rc;
    squeeze(into);
}

/* href with what RFC 3986 does not allow in a URL (spaces, controls,
 * quotes, non-ASCII bytes) percent-encoded, ends trimmed; malloc'd. */
static char *escape_href(const char *href)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n, i, j = 0;
    char *r;
    while (*href == ' ' || *href == '\t' || *href == '\n' || *href == '\r' || *href == '\f')
        href++;
    n = strlen(href);
    while (n && (href[n - 1] == ' ' || href[n - 1] == '\t' || href[n - 1] == '\n' ||
                 href[n - 1] == '\r' || href[n - 1] == '\f'))
        n--;
    r = malloc(3 * n + 1); /* n <= 4096 (checked by the caller) */
    if (!r)
        return NULL;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)href[i];
        if (c == '\t' || c == '\n' || c == '\r')
            continue; /* the URL parser of browsers drops these */
        if (c <= 0x20 || c >= 0x7F || strchr("\"<>\\^`{|}", c)) {
            r[j++] = '%';
            r[j++] = hex[c >> 4];
            r[j++] = hex[c & 15];
        } else
            r[j++] = (char)c;
    }
    r[j] = 0;
    return r;
}

/* An absolute URL for href, or NULL when it is not worth a link. */
static char *link_target(const Md *m, const char *href)
{
    xmlChar *abs;
    char *esc, *r;
    while (*href == ' ' || *href == '\t' || *href == '\n' || *href == '\r')
        href++;
    if (!*href || *href == '#' || !strncasecmp(href, "javascript:", 11) ||
        !strncasecmp(href, "data:", 5) || !strncasecmp(href, "mailto:", 7) ||
        strlen(href) > 4096)
        return NULL;
    if (!(esc = escape_href(href)))
        return NULL;
    if (!m->base || !(abs = xmlBuildURI((const xmlChar *)esc, (const xmlChar *)m->base)))
        return esc;
    r = strdup((const char *)abs);
    xmlFree(abs);
    free(esc);
    return r;
}

static void render_link(Md *m, const xmlNode *n, int depth)
{
    char *href = attr(n, "href"), *url = href ? link_target(m, href) : NULL;
    Buf text = { 0 };
    render_inline(m, n, depth, &text);
    if (text.len) {
        md_flush(m);
        if (url) {
            md_puts(m, "[");
            md_raw(m, text.p, text.len);
            md_puts(m, "](");
            md_puts(m, url);
            md_puts(m, ")");
        } else
            md_raw(m, text.p, text.len);
    }
    buf_free(&text);
    free(url);
    xmlFree(href);
}

static void render_heading(Md *m, const xmlNode *n, int depth, int level)
{
    Buf text = { 0 };
    render_inline(m, n, depth, &text);
    if (text.len) {
        if (m->inline_only) {
            m->pending_space = 1;
            md_flush(m);
            md_raw(m, text.p, text.len);
            m->pending_space = 1;
        } else {
            static const char hashes[] = "###### ";
            md_break(m, 2);
            md_flush(m);
            md_raw(m, hashes + 6 - level, (size_t)level + 1);
            md_raw(m, text.p, text.len);
            md_break(m, 2);
        }
    }
    buf_free(&text);
}

/* A table row: "| a | b |"; header: whether a separator row follows. */
static void render_row(Md *m, const xmlNode *tr, int depth, int *row_index)
{
    const xmlNode *c;
    Buf cell = { 0 };
    int cells = 0;
    Buf line = { 0 };
    for (c = tr->children; c && !m->full && !m->rc; c = c->next) {
        size_t i;
        if (c->type != XML_ELEMENT_NODE || !(name_is(c, "td") || name_is(c, "th")))
            continue;
        buf_reset(&cell);
        render_inline(m, c, depth + 1, &cell);
        if (buf_puts(&line, cells ? " " : "| ") < 0)
            m->rc = PLUMB_ENOMEM;
        for (i = 0; i < cell.len && !m->rc; i++)
            if ((cell.p[i] == '|' && buf_putc(&line, '\\') < 0) || buf_putc(&line, cell.p[i]) < 0)
                m->rc = PLUMB_ENOMEM;
        if (buf_puts(&line, " |") < 0)
            m->rc = PLUMB_ENOMEM;
        cells++;
    }
    if (cells && !m->rc) {
        if (m->inline_only) {
            m->pending_space = 1;
            md_flush(m);
            md_raw(m, line.p, line.len);
            m->pending_space = 1;
        } else {
            md_break(m, 1);
            md_flush(m);
            md_raw(m, line.p, line.len);
            if (*row_index == 0) { /* Markdown wants a separator under the first row */
                int k;
                md_puts(m, "\n|");
                for (k = 0; k < cells; k++)
                    md_puts(m, " --- |");
            }
            md_break(m, 1);
        }
        (*row_index)++;
    }
    buf_free(&cell);
    buf_free(&line);
}

static void render_table_rows(Md *m, const xmlNode *n, int depth, int *row_index)
{
    const xmlNode *c;
    for (c = n->children; c && !m->full && !m->rc; c = c->next) {
        if (c->type != XML_ELEMENT_NODE)
            continue;
        if (name_is(c, "tr"))
            render_row(m, c, depth + 1, row_index);
        else if (name_is(c, "thead") || name_is(c, "tbody") || name_is(c, "tfoot"))
            render_table_rows(m, c, depth + 1, row_index);
        else if (name_is(c, "caption")) {
            Buf cap = { 0 };
            render_inline(m, c, depth + 1, &cap);
            if (cap.len) {
                md_break(m, 2);
                md_flush(m);
                md_raw(m, cap.p, cap.len);
                md_break(m, 2);
            }
            buf_free(&cap);
        }
    }
}

/* Prefix every line of text with "> ". */
static void render_quote(Md *m, const xmlNode *n, int depth)
{
    Buf inner = { 0 };
    Md sub = *m;
    size_t i, start = 0;
    sub.out = &inner;
    sub.pending_space = sub.pending_nl = 0;
    walk_children(&sub, n, depth);
    m->full |= sub.full;
    if (!m->rc)
        m->rc = sub.rc;
    while (inner.len && (inner.p[inner.len - 1] == '\n' || inner.p[inner.len - 1] == ' '))
        inner.len--;
    while (start < inner.len && inner.p[start] == '\n')
        start++;
    if (start < inner.len) {
        md_break(m, 2);
        md_flush(m);
        for (i = start; i <= inner.len; i++) {
            if (i == inner.len || inner.p[i] == '\n') {
                md_puts(m, i > start ? "> " : ">");
                md_raw(m, inner.p + start, i - start);
                if (i < inner.len)
                    md_puts(m, "\n");
                start = i + 1;
            }
        }
        md_break(m, 2);
    }
    buf_free(&inner);
}

static void render_pre(Md *m, const xmlNode *n, int depth)
{
    Buf inner = { 0 };
    Md sub = *m;
    sub.out = &inner;
    sub.in_pre = 1;
    sub.inline_only = 0;
    sub.pending_space = sub.pending_nl = 0;
    walk_children(&sub, n, depth);
    m->full |= sub.full;
    if (!m->rc)
        m->rc = sub.rc;
    while (inner.len && (inner.p[inner.len - 1] == '\n' || inner.p[inner.len - 1] == ' ' ||
                         inner.p[inner.len - 1] == '\r' || inner.p[inner.len - 1] == '\t'))
        inner.len--;
    if (inner.len) {
        size_t s = 0;
        while (s < inner.len && inner.p[s] == '\n')
            s++;
        if (m->inline_only) {
            Buf t = { 0 };
            if (buf_append(&t, inner.p + s, inner.len - s) < 0)
                m->rc = PLUMB_ENOMEM;
            squeeze(&t);
            m->pending_space = 1;
            md_flush(m);
            md_raw(m, t.p ? t.p : "", t.len);
            m->pending_space = 1;
            buf_free(&t);
        } else {
            md_break(m, 2);
            md_flush(m);
            md_puts(m, "```\n");
            md_raw(m, inner.p + s, inner.len - s);
            md_puts(m, "\n```");
            md_break(m, 2);
        }
    }
    buf_free(&inner);
}

static void render_list(Md *m, const xmlNode *n, int depth, int ordered)
{
    const xmlNode *c;
    long number = 1;
    if (ordered) {
        char *start = attr(n, "start");
        if (start) {
            char *end;
            long v = strtol(start, &end, 10);
            if (end != start && v > -1000000 && v < 1000000)
                number = v;
            xmlFree(start);
        }
    }
    if (m->inline_only) {
        walk_children(m, n, depth);
        return;
    }
    md_break(m, m->list_depth ? 1 : 2);
    m->list_depth++;
    for (c = n->children; c && !m->full && !m->rc; c = c->next) {
        if (c->type == XML_ELEMENT_NODE && name_is(c, "li")) {
            char mark[32];
            int k;
            md_break(m, 1);
            md_flush(m);
            for (k = 1; k < m->list_depth && k < 16; k++)
                md_puts(m, "  ");
            if (ordered)
                snprintf(mark, sizeof mark, "%ld. ", number++);
            else
                snprintf(mark, sizeof mark, "- ");
            md_puts(m, mark);
            m->fresh_item = 1;
            walk_children(m, c, depth + 1);
            m->fresh_item = 0;
        } else
            walk(m, c, depth + 1);
    }
    m->list_depth--;
    md_break(m, m->list_depth ? 1 : 2);
}

static const char *const dropped[] = {
    "head", "script", "style", "noscript", "template", "nav", "aside", "form", "iframe", "svg",
    "object", "embed", "canvas", "select", "textarea", "button", "dialog", "math", "frameset",
    "audio", "video", "map", "datalist", NULL,
};
static const char *const blocks2[] = {
    "p", "table", "figure", "hr", "address", "details", "fieldset", "dl", "center", NULL,
};
static const char *const blocks1[] = {
    "div", "section", "article", "main", "dt", "dd", "figcaption", "summary", "tr", "li",
    "body", "html", "legend", "caption", "hgroup", NULL,
};

static void walk(Md *m, const xmlNode *n, int depth)
{
    if (m->full || m->rc || depth > TEXT_MAX_DEPTH)
        return;
    if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
        if (n->content)
            md_text(m, (const char *)n->content);
        return;
    }
    if (n->type != XML_ELEMENT_NODE) {
        if (n->type == XML_DOCUMENT_NODE || n->type == XML_HTML_DOCUMENT_NODE)
            walk_children(m, n, depth);
        return;
    }
    if (name_in(n, dropped) || has_attr(n, "hidden"))
        return;
    if ((name_is(n, "header") || name_is(n, "footer")) && !m->in_article)
        return;
    if (n->name[0] && (n->name[0] == 'h' || n->name[0] == 'H') && n->name[1] >= '1' &&
        n->name[1] <= '6' && !n->name[2]) {
        render_heading(m, n, depth, n->name[1] - '0');
        return;
    }
    if (name_is(n, "a")) {
        render_link(m, n, depth);
        return;
    }
    if (name_is(n, "br")) {
        if (m->in_pre)
            md_raw(m, "\n", 1);
        else
            md_break(m, 1);
        return;
    }
    if (name_is(n, "img")) {
        char *alt = attr(n, "alt");
        if (alt) {
            md_text(m, alt);
            xmlFree(alt);
        }
        return;
    }
    if (name_is(n, "pre")) {
        render_pre(m, n, depth);
        return;
    }
    if (name_is(n, "code") || name_is(n, "kbd") || name_is(n, "samp")) {
        Buf t = { 0 };
        if (m->in_pre) {
            walk_children(m, n, depth);
            return;
        }
        render_inline(m, n, depth, &t);
        if (t.len) {
            md_flush(m);
            md_puts(m, memchr(t.p, '`', t.len) ? "`` " : "`");
            md_raw(m, t.p, t.len);
            md_puts(m, memchr(t.p, '`', t.len) ? " ``" : "`");
        }
        buf_free(&t);
        return;
    }
    if (name_is(n, "ul") || name_is(n, "ol") || name_is(n, "menu")) {
        render_list(m, n, depth, name_is(n, "ol"));
        return;
    }
    if (name_is(n, "table")) {
        int row = 0;
        if (m->inline_only) {
            render_table_rows(m, n, depth, &row);
            return;
        }
        md_break(m, 2);
        render_table_rows(m, n, depth, &row);
        md_break(m, 2);
        return;
    }
    if (name_is(n, "blockquote")) {
        if (m->inline_only)
            walk_children(m, n, depth);
        else
            render_quote(m, n, depth);
        return;
    }
    if (name_is(n, "td") || name_is(n, "th")) { /* a cell outside a row */
        m->pending_space = 1;
        walk_children(m, n, depth);
        m->pending_space = 1;
        return;
    }
    {
        int b = name_in(n, blocks2) ? 2 : name_in(n, blocks1) ? 1 : 0;
        int was_article = m->in_article;
        if (name_is(n, "article") || name_is(n, "main"))
            m->in_article = 1;
        if (b)
            md_break(m, b);
        walk_children(m, n, depth);
        if (b)
            md_break(m, b);
        m->in_article = was_article;
    }
}

/* The <title>'s text, collapsed; "" when none. */
static char *find_title(const xmlNode *n, int depth)
{
    for (; n && depth < 8; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (name_is(n, "title")) {
            xmlChar *t = xmlNodeGetContent((xmlNode *)n);
            Buf b = { 0 };
            char *r;
            if (t && buf_puts(&b, (const char *)t) < 0) {
                xmlFree(t);
                return NULL;
            }
            xmlFree(t);
            for (size_t i = 0; i < b.len; i++)
                if (b.p[i] == '\t' || b.p[i] == '\r' || b.p[i] == '\f')
                    b.p[i] = ' ';
            squeeze(&b);
            r = buf_steal(&b);
            return r;
        }
        if (name_is(n, "html") || name_is(n, "head")) {
            char *r = find_title(n->children, depth + 1);
            if (!r || *r)
                return r;
            free(r);
        }
    }
    return strdup("");
}

/* The document's <base href>, resolved against base_url (malloc'd) or NULL. */
static char *find_base(const xmlDoc *doc, const char *base_url)
{
    const xmlNode *root = xmlDocGetRootElement(doc), *n, *h;
    if (!root)
        return NULL;
    for (h = root->children; h; h = h->next) {
        if (h->type != XML_ELEMENT_NODE || !name_is(h, "head"))
            continue;
        for (n = h->children; n; n = n->next) {
            if (n->type == XML_ELEMENT_NODE && name_is(n, "base")) {
                char *href = attr(n, "href");
                char *r = NULL;
                if (href && *href) {
                    xmlChar *abs = xmlBuildURI((const xmlChar *)href, (const xmlChar *)base_url);
                    r = strdup(abs ? (const char *)abs : href);
                    xmlFree(abs);
                }
                xmlFree(href);
                if (r)
                    return r;
            }
        }
    }
    return NULL;
}

/* Final tidy: no trailing spaces on lines, no more than one blank line,
 * nothing blank at either end. */
static void tidy(Buf *b)
{
    size_t i, j = 0, nl = 0;
    for (i = 0; i < b->len; i++) {
        char c = b->p[i];
        if (c == '\n') {
            while (j && b->p[j - 1] == ' ')
                j--;
            if (j == 0 || nl >= 2)
                continue;
            nl++;
            b->p[j++] = c;
            continue;
        }
        nl = 0;
        b->p[j++] = c;
    }
    while (j && (b->p[j - 1] == '\n' || b->p[j - 1] == ' '))
        j--;
    b->len = j;
    if (b->p)
        b->p[j] = 0;
}

int text_html_to_markdown(const char *html, size_t len, const char *base_url, char **title,
                          char **markdown, PlumbError *err)
{
    htmlDocPtr doc = NULL;
    Buf out = { 0 };
    Md m;
    char *base = NULL;
    int rc = PLUMB_OK;

    *title = *markdown = NULL;
    if (len > TEXT_MAX_HTML) {
        len = TEXT_MAX_HTML;
        while (len && ((unsigned char)html[len] & 0xC0) == 0x80)
            len--; /* cut at a character boundary */
    }
    if (len > INT32_MAX) /* htmlReadMemory takes an int */
        return plumb_err(err, PLUMB_EINVAL, "HTML too large");
    doc = htmlReadMemory(len ? html : " ", len ? (int)len : 1, base_url, "UTF-8",
                         HTML_PARSE_NONET | HTML_PARSE_NOERROR | HTML_PARSE_NOWARNING |
                             HTML_PARSE_RECOVER | HTML_PARSE_IGNORE_ENC | HTML_PARSE_COMPACT);
    if (!doc) {
        /* nothing parseable (empty, or only a comment): no text */
        *title = strdup("");
        *markdown = strdup("");
        if (!*title || !*markdown)
            goto oom;
        return PLUMB_OK;
    }
    base = find_base(doc, base_url);
    memset(&m, 0, sizeof m);
    m.out = &out;
    m.base = base ? base : base_url;
    walk(&m, (const xmlNode *)doc, 0);
    if (m.rc) {
        rc = m.rc;
        goto fail;
    }
    tidy(&out);
    *title = find_title(xmlDocGetRootElement(doc), 0);
    if (!*title)
        goto oom;
    *markdown = buf_steal(&out);
    if (!*markdown)
        goto oom;
    free(base);
    xmlFreeDoc(doc);
    return PLUMB_OK;
oom:
    rc = PLUMB_ENOMEM;
fail:
    free(*title);
    free(*markdown);
    *title = *markdown = NULL;
    free(base);
    buf_free(&out);
    if (doc)
        xmlFreeDoc(doc);
    return plumb_err(err, rc, "HTML to text (%s): out of memory", base_url ? base_url : "page");
}
