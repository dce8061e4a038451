/*
 * text.h — bytes of a page or a file to the text the model reads.
 *
 * Everything that comes out is valid UTF-8 (broken sequences become U+FFFD):
 * libxml2 and the tokenizer never see invalid bytes.
 */
#ifndef PLUMB_AGENT_TEXT_H
#define PLUMB_AGENT_TEXT_H

#include <stddef.h>

#include "buf.h"
#include "err.h"

typedef enum TextKind {
    TEXT_HTML = 0,
    TEXT_PLAIN = 1,  /* text/plain, markdown, csv, json ... */
    TEXT_PDF = 2,
    TEXT_BINARY = 3, /* nothing a model can read */
} TextKind;

/* What the bytes are: from the Content-Type (may be NULL), the name's
 * extension (url or path, may be NULL) and the bytes themselves (magic
 * numbers, NUL bytes, markup). */
TextKind text_sniff(const char *content_type, const char *name, const void *data, size_t len);

/* Convert to UTF-8: the charset from the Content-Type, a BOM, an HTML
 * <meta>, else UTF-8 if valid, else windows-1252; then repair.
 * *out malloc'd, NUL-terminated. */
int text_to_utf8(const void *data, size_t len, const char *content_type, int is_html,
                 char **out, size_t *out_len, PlumbError *err);

/* data as valid UTF-8: each broken sequence (its maximal valid prefix, as
 * the WHATWG decoder counts) and each NUL becomes U+FFFD.  *out malloc'd. */
int text_utf8_repair(const void *data, size_t len, char **out, size_t *out_len);
/* The same, appended to b. */
int text_utf8_repair_buf(Buf *b, const void *data, size_t len);

/* HTML (UTF-8) to Markdown-like text: headings, lists, links as
 * [text](absolute-url) against base_url (or <base href>), tables; script,
 * style, nav, header, footer, forms and the like dropped.  *title gets the
 * <title> ("" when none).  Both malloc'd. */
int text_html_to_markdown(const char *html, size_t len, const char *base_url, char **title,
                          char **markdown, PlumbError *err);

#endif
