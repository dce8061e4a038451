/*
 * docs.h — a document to text: .txt, .md, .csv as they are (to UTF-8),
 * .html through text.h, .pdf through pdftotext run as a child process in
 * the sandbox (sandbox.h) with a time limit and an output cap.
 */
#ifndef PLUMB_AGENT_DOCS_H
#define PLUMB_AGENT_DOCS_H

#include <stddef.h>

#include "err.h"

/* All zero is a valid default. */
typedef struct DocsParams {
    const char *pdftotext;  /* path, NULL = from PATH */
    double timeout_s;       /* 0 = 30 */
    size_t max_text;        /* bytes of text kept; 0 = 8 MiB */
} DocsParams;

/* Read the file at path (opened with O_NOFOLLOW; a regular file only).
 * *title may be NULL; both malloc'd. */
int docs_file_to_text(const char *path, const DocsParams *p, char **title, char **text,
                      PlumbError *err);
/* PDF bytes (a fetched page) to text. */
int docs_pdf_to_text(const void *pdf, size_t len, const DocsParams *p, char **text,
                     PlumbError *err);

#endif
