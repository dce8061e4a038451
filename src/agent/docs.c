/* placeholder until this module is written */
#include "config.h"

#include "docs.h"

int docs_file_to_text(const char *path, const DocsParams *p, char **title, char **text, PlumbError *err)
{ (void)p; if (title) *title = NULL; *text = NULL; return plumb_err(err, PLUMB_EUNSUPPORTED, "%s: docs: not built yet", path); }
int docs_pdf_to_text(const void *pdf, size_t len, const DocsParams *p, char **text, PlumbError *err)
{ (void)pdf; (void)len; (void)p; *text = NULL; return plumb_err(err, PLUMB_EUNSUPPORTED, "docs: not built yet"); }
