/* placeholder until this module is written */
#include "config.h"

#include "text.h"

TextKind text_sniff(const char *content_type, const char *name, const void *data, size_t len)
{ (void)content_type; (void)name; (void)data; (void)len; return TEXT_PLAIN; }
int text_to_utf8(const void *data, size_t len, const char *content_type, int is_html,
                 char **out, size_t *out_len, PlumbError *err)
{ (void)data; (void)len; (void)content_type; (void)is_html; *out = NULL; *out_len = 0; return plumb_err(err, PLUMB_EUNSUPPORTED, "text: not built yet"); }
int text_html_to_markdown(const char *html, size_t len, const char *base_url, char **title,
                          char **markdown, PlumbError *err)
{ (void)html; (void)len; (void)base_url; *title = *markdown = NULL; return plumb_err(err, PLUMB_EUNSUPPORTED, "text: not built yet"); }
