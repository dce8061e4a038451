/*
 * format.c — the reference agent's tool results and strings (format.h).
 *
 * Python semantics are reproduced where the reference relies on them:
 * repr() of a str (quote choice, escapes, which characters count as
 * printable), str.split() and str.strip() (Unicode whitespace), and str()
 * of the lists and dicts json.loads returns.
 */
#include "config.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "format.h"
#include "utf8.h"

#define TRY(x)                  \
    do {                        \
        int rc_ = (x);          \
        if (rc_ < 0)            \
            return rc_;         \
    } while (0)

/* ------------------------------------------------------------ code points */
/* Decode one code point at s[i..n); an invalid byte reads as U+FFFD, one byte. */
static uint32_t next_cp(const char *s, size_t n, size_t *i)
{
    uint32_t cp;
    size_t k = utf8_decode((const unsigned char *)s + *i, n - *i, &cp);
    *i += k ? k : 1;
    return k ? cp : UTF8_REPLACEMENT;
}

/* Python's str.isspace() for one code point. */
static int py_isspace(uint32_t cp)
{
    if ((cp >= 0x09 && cp <= 0x0D) || (cp >= 0x1C && cp <= 0x20) || cp == 0x85)
        return 1;
    if (cp < 0xA0)
        return 0;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_ZS:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
        return 1;
    default:
        /* bidirectional class WS/B/S without a Z category: none beyond the above */
        return 0;
    }
}

/* Python's str.isprintable() for one code point: not Cc, Cf, Cs, Co, Cn,
 * Zl, Zp, or Zs other than the space. */
static int py_isprintable(uint32_t cp)
{
    if (cp == ' ')
        return 1;
    if (cp < 0x20 || cp == 0x7F)
        return 0;
    if (cp < 0x7F)
        return 1;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CS:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CN:
    case UTF8PROC_CATEGORY_ZL:
    case UTF8PROC_CATEGORY_ZP:
    case UTF8PROC_CATEGORY_ZS:
        return 0;
    default:
        return 1;
    }
}

/* Number of whitespace-separated words, as len(s.split()). */
static size_t py_word_count(const char *s, size_t n)
{
    size_t i = 0, words = 0;
    int in_word = 0;
    while (i < n) {
        uint32_t cp = next_cp(s, n, &i);
        if (py_isspace(cp))
            in_word = 0;
        else if (!in_word) {
            in_word = 1;
            words++;
        }
    }
    return words;
}

/* ------------------------------------------------------------ repr, str */
int format_pyrepr(Buf *out, const char *s, size_t len)
{
    char quote = '\'';
    size_t i = 0;
    if (memchr(s, '\'', len) && !memchr(s, '"', len))
        quote = '"';
    TRY(buf_putc(out, quote));
    while (i < len) {
        size_t start = i;
        uint32_t cp = next_cp(s, len, &i);
        if (cp == '\\')
            TRY(buf_puts(out, "\\\\"));
        else if (cp == (uint32_t)quote) {
            TRY(buf_putc(out, '\\'));
            TRY(buf_putc(out, quote));
        } else if (cp == '\n')
            TRY(buf_puts(out, "\\n"));
        else if (cp == '\r')
            TRY(buf_puts(out, "\\r"));
        else if (cp == '\t')
            TRY(buf_puts(out, "\\t"));
        else if (py_isprintable(cp)) {
            if (cp == UTF8_REPLACEMENT && i - start == 1) {
                unsigned char enc[4];
                size_t k = utf8_encode(cp, enc);
                TRY(buf_append(out, enc, k));
            } else
                TRY(buf_append(out, s + start, i - start));
        } else if (cp < 0x100)
            TRY(buf_printf(out, "\\x%02x", (unsigned)cp));
        else if (cp < 0x10000)
            TRY(buf_printf(out, "\\u%04x", (unsigned)cp));
        else
            TRY(buf_printf(out, "\\U%08x", (unsigned)cp));
    }
    return buf_putc(out, quote);
}

/* repr(float): the shortest digits that read back to the same double, in
 * Python's layout (exponent form below 1e-4 and from 1e16 on). */
static int py_float_repr(Buf *out, double d)
{
    char digits[40], *e;
    int prec, exp10;
    if (isnan(d))
        return buf_puts(out, "nan");
    if (isinf(d))
        return buf_puts(out, d < 0 ? "-inf" : "inf");
    for (prec = 1; prec <= 17; prec++) {
        snprintf(digits, sizeof digits, "%.*e", prec - 1, d);
        if (strtod(digits, NULL) == d)
            break;
    }
    e = strchr(digits, 'e');
    exp10 = atoi(e + 1);
    *e = 0;
    if (exp10 < -4 || exp10 >= 16) {
        /* mantissa without a trailing ".0", exponent with sign and >= 2 digits */
        TRY(buf_puts(out, digits));
        return buf_printf(out, "e%c%02d", exp10 < 0 ? '-' : '+', abs(exp10));
    }
    {
        /* fixed notation with the same significant digits; ".0" when integral */
        char fixed[400];
        int decimals = prec - 1 - exp10;
        snprintf(fixed, sizeof fixed, "%.*f", decimals > 0 ? decimals : 0, d);
        TRY(buf_puts(out, fixed));
        if (decimals <= 0)
            TRY(buf_puts(out, ".0"));
    }
    return PLUMB_OK;
}

static int py_repr_json(Buf *out, const json_t *v, int depth)
{
    size_t i;
    if (depth > 64)
        return buf_puts(out, "...");
    switch (json_typeof(v)) {
    case JSON_STRING:
        return format_pyrepr(out, json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
        return buf_printf(out, "%lld", (long long)json_integer_value(v));
    case JSON_REAL:
        return py_float_repr(out, json_real_value(v));
    case JSON_TRUE:
        return buf_puts(out, "True");
    case JSON_FALSE:
        return buf_puts(out, "False");
    case JSON_NULL:
        return buf_puts(out, "None");
    case JSON_ARRAY:
        TRY(buf_putc(out, '['));
        for (i = 0; i < json_array_size(v); i++) {
            if (i)
                TRY(buf_puts(out, ", "));
            TRY(py_repr_json(out, json_array_get(v, i), depth + 1));
        }
        return buf_putc(out, ']');
    case JSON_OBJECT: {
        const char *key;
        json_t *val;
        int first = 1;
        TRY(buf_putc(out, '{'));
        json_object_foreach((json_t *)v, key, val) {
            if (!first)
                TRY(buf_puts(out, ", "));
            first = 0;
            TRY(format_pyrepr(out, key, strlen(key)));
            TRY(buf_puts(out, ": "));
            TRY(py_repr_json(out, val, depth + 1));
        }
        return buf_putc(out, '}');
    }
    }
    return PLUMB_EINVAL;
}

int format_pystr_json(Buf *out, const json_t *v)
{
    if (json_is_string(v))
        return buf_append(out, json_string_value(v), json_string_length(v));
    return py_repr_json(out, v, 0);
}

void format_strip(Buf *b)
{
    size_t start = 0, end, i;
    if (!b->len)
        return;
    /* leading whitespace */
    i = 0;
    while (i < b->len) {
        size_t at = i;
        if (!py_isspace(next_cp(b->p, b->len, &i))) {
            start = at;
            break;
        }
        start = i;
    }
    /* trailing: scan forward, remembering the end of the last non-space */
    end = start;
    i = start;
    while (i < b->len) {
        if (!py_isspace(next_cp(b->p, b->len, &i)))
            end = i;
    }
    memmove(b->p, b->p + start, end - start);
    b->len = end - start;
    b->p[b->len] = 0;
}

/* ------------------------------------------------------------ tool results */
/* Append src with every "Your browser can't play this video." removed. */
static int put_without_video_note(Buf *out, const char *src, size_t n)
{
    static const char note[] = "Your browser can't play this video.";
    const size_t nl = sizeof note - 1;
    size_t i = 0;
    while (i < n) {
        const char *hit = n - i >= nl ? memmem(src + i, n - i, note, nl) : NULL;
        if (!hit)
            return buf_append(out, src + i, n - i);
        TRY(buf_append(out, src + i, (size_t)(hit - (src + i))));
        i = (size_t)(hit - src) + nl;
    }
    return PLUMB_OK;
}

int format_search(Buf *out, const char *query, const SearchHit *hits, size_t n)
{
    Buf entry = { 0 };
    size_t i;
    int rc = PLUMB_OK;
    if (!n)
        return buf_printf(out, "No results found for '%s'. Try with a more general query.", query);
    TRY(buf_printf(out, "A Google search for '%s' found %zu results:\n\n## Web Results\n", query, n));
    for (i = 0; i < n && rc >= 0; i++) {
        const SearchHit *h = &hits[i];
        buf_reset(&entry);
        rc = buf_printf(&entry, "%zu. [%s](%s)", i + 1, h->title ? h->title : "", h->url ? h->url : "");
        if (rc >= 0 && h->date)
            rc = buf_printf(&entry, "\nDate published: %s", h->date);
        if (rc >= 0 && h->source)
            rc = buf_printf(&entry, "\nSource: %s", h->source);
        if (rc >= 0)
            rc = buf_putc(&entry, '\n');
        if (rc >= 0 && h->snippet)
            rc = buf_printf(&entry, "\n%s", h->snippet);
        if (rc >= 0 && i)
            rc = buf_puts(out, "\n\n");
        if (rc >= 0)
            rc = put_without_video_note(out, entry.p, entry.len);
    }
    buf_free(&entry);
    return rc;
}

int format_scholar(Buf *out, const char *query, const ScholarHit *hits, size_t n)
{
    Buf entry = { 0 };
    size_t i;
    int rc = PLUMB_OK;
    if (!n)
        return buf_printf(out, "No results found for '%s'. Try with a more general query.", query);
    TRY(buf_printf(out, "A Google scholar for '%s' found %zu results:\n\n## Scholar Results\n", query, n));
    for (i = 0; i < n && rc >= 0; i++) {
        const ScholarHit *h = &hits[i];
        buf_reset(&entry);
        if (h->pdf_url)
            rc = buf_printf(&entry, "%zu. [%s](pdfUrl: %s)", i + 1, h->title ? h->title : "", h->pdf_url);
        else
            rc = buf_printf(&entry, "%zu. [%s](no available link)", i + 1, h->title ? h->title : "");
        if (rc >= 0 && h->publication_info)
            rc = buf_printf(&entry, "\npublicationInfo: %s", h->publication_info);
        if (rc >= 0 && h->year)
            rc = buf_printf(&entry, "\nDate published: %s", h->year);
        if (rc >= 0 && h->cited_by >= 0)
            rc = buf_printf(&entry, "\ncitedBy: %ld", h->cited_by);
        if (rc >= 0)
            rc = buf_putc(&entry, '\n');
        if (rc >= 0 && h->snippet)
            rc = buf_printf(&entry, "\n%s", h->snippet);
        if (rc >= 0 && i)
            rc = buf_puts(out, "\n\n");
        if (rc >= 0)
            rc = put_without_video_note(out, entry.p, entry.len);
    }
    buf_free(&entry);
    return rc;
}

int format_visit(Buf *out, const char *url, const char *goal, const char *evidence,
                 const char *summary)
{
    return buf_printf(out,
                      "The useful information in %s for user goal %s as follows: \n\n"
                      "Evidence in page: \n%s\n\n"
                      "Summary: \n%s\n\n",
                      url, goal, evidence, summary);
}

int format_visit_failed(Buf *out, const char *url, const char *goal)
{
    return format_visit(out, url, goal, FORMAT_VISIT_FAIL_EVIDENCE, FORMAT_VISIT_FAIL_SUMMARY);
}

int format_python(Buf *out, const char *out_text, const char *err_text, int timed_out)
{
    int any = 0;
    if (out_text && *out_text) {
        TRY(buf_printf(out, "stdout:\n%s", out_text));
        any = 1;
    }
    if (err_text && *err_text) {
        TRY(buf_printf(out, "%sstderr:\n%s", any ? "\n" : "", err_text));
        any = 1;
    }
    if (timed_out) {
        TRY(buf_printf(out, "%s%s", any ? "\n" : "", FORMAT_PY_TIMEOUT));
        any = 1;
    }
    return any ? PLUMB_OK : buf_puts(out, FORMAT_PY_DONE);
}

int format_parse_file(Buf *out, const char *const *names, const char *const *texts,
                      const char *const *errors, size_t n)
{
    Buf elems = { 0 }, head = { 0 };
    size_t *starts = NULL, i, words;
    int rc = PLUMB_OK;
    if (n && !(starts = calloc(n + 1, sizeof *starts)))
        return PLUMB_ENOMEM;
    /* the elements, one after the other, joined by ' ' as the reference
     * joins them to count words */
    for (i = 0; i < n && rc >= 0; i++) {
        if (i)
            rc = buf_putc(&elems, ' ');
        starts[i] = elems.len;
        if (rc >= 0 && errors && errors[i])
            rc = buf_printf(&elems, "# Error processing %s: %s", names[i], errors[i]);
        else if (rc >= 0)
            rc = buf_printf(&elems, "# File: %s\n%s", names[i], texts[i] ? texts[i] : "");
    }
    if (n)
        starts[n] = elems.len + 1;
    words = rc >= 0 ? py_word_count(buf_str(&elems), elems.len) : 0;
    if (rc >= 0)
        rc = buf_printf(&head, "File token number: %zu\nFile content:\n", words);
    if (rc >= 0)
        rc = buf_putc(out, '[');
    if (rc >= 0)
        rc = format_pyrepr(out, head.p, head.len);
    for (i = 0; i < n && rc >= 0; i++) {
        rc = buf_puts(out, ", ");
        if (rc >= 0)
            rc = format_pyrepr(out, elems.p + starts[i], starts[i + 1] - 1 - starts[i]);
    }
    if (rc >= 0)
        rc = buf_putc(out, ']');
    free(starts);
    buf_free(&elems);
    buf_free(&head);
    return rc;
}
