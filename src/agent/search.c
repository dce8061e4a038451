/*
 * search.c — the search and google_scholar tools (tools.h), in the
 * reference's result shapes (format.h).
 *
 * `query` is a string or a non-empty array of strings; anything else gives
 * the reference's invalid-request text.  Each query, in order:
 *   1. the local index (--index), when there is one: its hits if it has any;
 *   2. else SearXNG (--searxng): GET {url}/search?q=...&format=json, with
 *      &categories=science for google_scholar.  The SearXNG URL comes from
 *      the user, so the address guard does not apply; the HTTP client waits
 *      out one Retry-After of up to 60 s on a 429 (http.h);
 *   3. else the no-results text.
 * --offline stops at 1.  The results of a query are the first 10 with
 * distinct URLs.  A SearXNG answer with results is kept in the page cache
 * under ("searxng" or "searxng-science", query) and replayed from there
 * (also under --cache-mode rw, so a rerun sees what the first run saw);
 * with --cache-mode ro the cache is the only source after the index.
 *
 * Mapping a SearXNG result (searx/result_types) to the reference's entry:
 * title → [title], url → (url), publishedDate → "Date published: Mar 5,
 * 2024" (Serper's style), content → the snippet; no "Source:".  For
 * google_scholar: the link is pdf_url when the engine gives one, else the
 * result's url (still after "pdfUrl: ", so the model has something to
 * visit, where the reference would print "no available link");
 * publicationInfo is "{first three authors[, …]} - {journal or publisher}";
 * the year comes from publishedDate; citedBy is absent (SearXNG has no such
 * field).  Index hits for google_scholar are entries with the file:// URL.
 *
 * What the user should hear about goes to agent_tools_warn: a 403 (json
 * missing from SearXNG's search.formats), a 429 that persisted, other HTTP
 * errors, an answer that is not JSON, and a 200 with no results where
 * engines are listed as unresponsive (SearXNG's way of saying they failed).
 * The model sees the no-results text in all those cases.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "format.h"
#include "http.h"
#include "index.h"
#include "tools.h"

#define SEARCH_TOP 10
#define SEARCH_MAX_QUERIES 32 /* per call: more are answered with no results */

typedef struct Hits {
    SearchHit web[SEARCH_TOP];
    ScholarHit scholar[SEARCH_TOP];
    const char *key[SEARCH_TOP]; /* each hit's result URL (borrowed from the JSON): no repeats */
    char *owned[SEARCH_TOP * 5]; /* strings made here (titles, dates, joins), freed with the hits */
    size_t n_owned;
    size_t n;
} Hits;

static void hits_free(Hits *h)
{
    size_t i;
    for (i = 0; i < h->n_owned; i++)
        free(h->owned[i]);
    memset(h, 0, sizeof *h);
}

/* Keep s to be freed with h; *ok cleared when s is NULL (out of memory). */
static char *own(Hits *h, char *s, int *ok)
{
    if (!s)
        *ok = 0;
    else
        h->owned[h->n_owned++] = s; /* at most 5 per hit, SEARCH_TOP hits */
    return s;
}

/* "2024-03-05..." → "Mar 5, 2024"; NULL when it does not start with a date. */
static char *serper_date(const char *iso)
{
    static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    int y, m, d, used = 0;
    char buf[32];
    if (!iso || sscanf(iso, "%4d-%2d-%2d%n", &y, &m, &d, &used) != 3 || used != 10 || y < 1000 ||
        m < 1 || m > 12 || d < 1 || d > 31)
        return NULL;
    snprintf(buf, sizeof buf, "%s %d, %d", months[m - 1], d, y);
    return strdup(buf);
}

/* The string with whitespace runs (newlines included) as one space, trimmed. */
static char *one_line(const char *s)
{
    size_t n = strlen(s), i, j = 0;
    char *r = malloc(n + 1);
    int sp = 0;
    if (!r)
        return NULL;
    for (i = 0; i < n; i++) {
        char c = s[i];
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
            sp = j > 0;
            continue;
        }
        if (sp)
            r[j++] = ' ';
        sp = 0;
        r[j++] = c;
    }
    r[j] = 0;
    return r;
}

static const char *jstr(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) && json_string_length(v) ? json_string_value(v) : NULL;
}

/* "A, B, C, …" from the authors array (strings), NULL when none. */
static char *authors_text(json_t *arr)
{
    Buf b = { 0 };
    size_t i, n = json_array_size(arr), shown = 0;
    for (i = 0; i < n && shown < 3; i++) {
        json_t *a = json_array_get(arr, i);
        if (!json_is_string(a) || !json_string_length(a))
            continue;
        if ((shown && buf_puts(&b, ", ") < 0) || buf_puts(&b, json_string_value(a)) < 0) {
            buf_free(&b);
            return NULL;
        }
        shown++;
    }
    if (shown && i < n && buf_puts(&b, ", \xe2\x80\xa6") < 0) {
        buf_free(&b);
        return NULL;
    }
    return shown ? buf_steal(&b) : NULL;
}

/* Fill h from a SearXNG JSON answer.  *engines_down gets the unresponsive
 * engines as "name (reason), ..." when there were no results (malloc'd). */
static int hits_from_searxng(json_t *root, int scholar, Hits *h, char **engines_down)
{
    json_t *results = json_object_get(root, "results"), *r;
    size_t i, k;
    int ok = 1;
    *engines_down = NULL;
    json_array_foreach(results, i, r) {
        const char *url = jstr(r, "url"), *title = jstr(r, "title"), *content = jstr(r, "content");
        const char *date = jstr(r, "publishedDate");
        int dup = 0;
        if (h->n == SEARCH_TOP || !ok)
            break;
        if (!json_is_object(r) || !url)
            continue;
        for (k = 0; k < h->n && !dup; k++)
            dup = !strcmp(h->key[k], url);
        if (dup)
            continue;
        h->key[h->n] = url;
        if (!scholar) {
            SearchHit *w = &h->web[h->n];
            char *d = serper_date(date);
            w->url = url;
            w->title = own(h, one_line(title ? title : url), &ok);
            w->date = d ? own(h, d, &ok) : NULL;
            w->snippet = content ? own(h, one_line(content), &ok) : NULL;
        } else {
            ScholarHit *s = &h->scholar[h->n];
            const char *pdf = jstr(r, "pdf_url"), *venue = jstr(r, "journal");
            char *authors = authors_text(json_object_get(r, "authors"));
            if (!venue)
                venue = jstr(r, "publisher");
            s->title = own(h, one_line(title ? title : url), &ok);
            s->pdf_url = pdf ? pdf : url;
            s->publication_info = NULL;
            if (authors || venue) {
                size_t n = (authors ? strlen(authors) : 0) + (venue ? strlen(venue) : 0) + 4;
                char *info = malloc(n);
                if (info)
                    snprintf(info, n, "%s%s%s", authors ? authors : "", authors && venue ? " - " : "",
                             venue ? venue : "");
                s->publication_info = own(h, info, &ok);
            }
            free(authors);
            s->year = NULL;
            if (date && strlen(date) >= 4 && date[0] >= '1' && date[0] <= '9' && date[1] >= '0' &&
                date[1] <= '9' && date[2] >= '0' && date[2] <= '9' && date[3] >= '0' && date[3] <= '9')
                s->year = own(h, strndup(date, 4), &ok);
            s->cited_by = -1;
            s->snippet = content ? own(h, one_line(content), &ok) : NULL;
        }
        h->n++;
    }
    if (!ok)
        return PLUMB_ENOMEM;
    if (!h->n) {
        json_t *down = json_object_get(root, "unresponsive_engines"), *e;
        Buf b = { 0 };
        json_array_foreach(down, i, e) {
            json_t *name = json_array_get(e, 0), *why = json_array_get(e, 1);
            if (!json_is_string(name))
                continue;
            if ((b.len && buf_puts(&b, ", ") < 0) || buf_puts(&b, json_string_value(name)) < 0 ||
                (json_is_string(why) && buf_printf(&b, " (%s)", json_string_value(why)) < 0)) {
                buf_free(&b);
                return PLUMB_ENOMEM;
            }
        }
        if (b.len)
            *engines_down = buf_steal(&b);
    }
    return PLUMB_OK;
}

static int format_hits(Buf *out, const char *q, int scholar, const Hits *h)
{
    return scholar ? format_scholar(out, q, h->scholar, h->n) : format_search(out, q, h->web, h->n);
}

/* The page cache when one is configured: *c NULL when none; < 0 when it is
 * configured and cannot be opened (that ends the run). */
static int search_cache(AgentTools *t, Cache **c, PlumbError *err)
{
    *c = NULL;
    if (!t->p.cache_db || t->p.cache_mode == CACHE_OFF)
        return PLUMB_OK;
    *c = agent_tools_cache(t, err);
    return *c ? PLUMB_OK : (err->code ? err->code : PLUMB_EIO);
}

/* The local index's block for q in out; 1 when it had hits, 0 when not. */
static int from_index(AgentTools *t, const char *q, int scholar, Buf *out, PlumbError *err)
{
    PlumbError ierr = { 0 };
    Index *ix = agent_tools_index(t, &ierr);
    int rc;
    if (!ix) {
        agent_tools_warn(t, "search: local index: %s", ierr.msg);
        return 0;
    }
    if (!scholar) {
        Buf none = { 0 }, got = { 0 };
        if ((rc = index_format_search(ix, q, SEARCH_TOP, &got, &ierr)) < 0) {
            buf_free(&got);
            if (rc == PLUMB_ENOMEM)
                return plumb_err(err, rc, "search: out of memory");
            agent_tools_warn(t, "search: local index: %s", ierr.msg);
            return 0;
        }
        if ((rc = format_search(&none, q, NULL, 0)) < 0) {
            buf_free(&got);
            return rc;
        }
        rc = strcmp(buf_str(&got), buf_str(&none)) != 0;
        if (rc && buf_append(out, got.p, got.len) < 0)
            rc = PLUMB_ENOMEM;
        buf_free(&got);
        buf_free(&none);
        return rc;
    } else {
        IndexHit *ih = NULL;
        size_t n = 0, i;
        ScholarHit sh[SEARCH_TOP];
        if ((rc = index_search(ix, q, SEARCH_TOP, &ih, &n, &ierr)) < 0) {
            if (rc == PLUMB_ENOMEM)
                return plumb_err(err, rc, "google_scholar: out of memory");
            agent_tools_warn(t, "google_scholar: local index: %s", ierr.msg);
            return 0;
        }
        if (n > SEARCH_TOP)
            n = SEARCH_TOP;
        for (i = 0; i < n; i++) {
            memset(&sh[i], 0, sizeof sh[i]);
            sh[i].title = ih[i].title && *ih[i].title ? ih[i].title : ih[i].path;
            sh[i].pdf_url = ih[i].url;
            sh[i].cited_by = -1;
            sh[i].snippet = ih[i].snippet;
        }
        rc = n ? format_scholar(out, q, sh, n) : 0;
        index_hits_free(ih, n);
        return rc < 0 ? rc : n > 0;
    }
}

/* Percent-encode q for a query string (RFC 3986 unreserved kept). */
static int put_encoded(Buf *b, const char *q)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = PLUMB_OK;
    for (; *q && rc >= 0; q++) {
        unsigned char c = (unsigned char)*q;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
            c == '.' || c == '_' || c == '~')
            rc = buf_putc(b, c);
        else
            rc = buf_printf(b, "%%%c%c", hex[c >> 4], hex[c & 15]);
    }
    return rc;
}

/* Ask SearXNG; *json gets the answer's text when it was a usable 200. */
static int ask_searxng(AgentTools *t, const char *q, int scholar, char **json, PlumbError *err)
{
    const char *tool = scholar ? "google_scholar" : "search";
    const char *base = t->p.searxng;
    size_t blen = strlen(base);
    HttpClient *http;
    HttpResponse res = { 0 };
    PlumbError herr = { 0 };
    Buf url = { 0 };
    int rc;
    *json = NULL;
    while (blen && base[blen - 1] == '/')
        blen--;
    if ((rc = buf_append(&url, base, blen)) < 0 || (rc = buf_puts(&url, "/search?q=")) < 0 ||
        (rc = put_encoded(&url, q)) < 0 || (rc = buf_puts(&url, "&format=json")) < 0 ||
        (scholar && (rc = buf_puts(&url, "&categories=science")) < 0)) {
        buf_free(&url);
        return plumb_err(err, rc, "%s: out of memory", tool);
    }
    if (!(http = agent_tools_http(t, &herr))) {
        agent_tools_warn(t, "%s: SearXNG: %s", tool, herr.msg);
        buf_free(&url);
        return PLUMB_OK;
    }
    rc = http_get(http, buf_str(&url), 0, &res, &herr);
    if (rc < 0) {
        if (rc == PLUMB_ENOMEM) {
            buf_free(&url);
            return plumb_err(err, rc, "%s: out of memory", tool);
        }
        agent_tools_warn(t, "%s: SearXNG: %s", tool, herr.msg);
        rc = PLUMB_OK;
    } else if (res.status == 403)
        agent_tools_warn(t,
                         "%s: SearXNG at %.*s refused the JSON API (403 Forbidden) for '%s': its settings.yml "
                         "must list json under search.formats (search: formats: [html, json])",
                         tool, (int)blen, base, q);
    else if (res.status == 429)
        agent_tools_warn(t,
                         "%s: SearXNG at %.*s is rate-limiting (429 Too Many Requests) for '%s'; on a private "
                         "instance set server.limiter: false",
                         tool, (int)blen, base, q);
    else if (res.status != 200)
        agent_tools_warn(t, "%s: SearXNG at %.*s answered HTTP %ld for '%s'", tool, (int)blen, base,
                         res.status, q);
    else {
        *json = res.body;
        res.body = NULL;
    }
    http_response_free(&res);
    buf_free(&url);
    return rc;
}

/* One query through SearXNG (or the cache's copy of its answer). */
static int from_searxng(AgentTools *t, Cache *cache, const char *q, int scholar, Buf *out,
                        PlumbError *err)
{
    const char *tool = scholar ? "google_scholar" : "search";
    const char *backend = scholar ? "searxng-science" : "searxng";
    char *json = NULL, *down = NULL;
    json_t *root = NULL;
    json_error_t jerr;
    Hits h;
    int rc, cached = 0;
    memset(&h, 0, sizeof h);
    if (cache) {
        rc = cache_get_search(cache, backend, q, &json, err);
        if (rc < 0)
            return rc;
        cached = rc == 1;
    }
    if (!cached && t->p.searxng && t->p.cache_mode != CACHE_RO && !t->p.offline) {
        if ((rc = ask_searxng(t, q, scholar, &json, err)) < 0)
            return rc;
    }
    if (json) {
        root = json_loads(json, 0, &jerr);
        if (!json_is_object(root))
            agent_tools_warn(t, "%s: %s answer for '%s' is not a JSON object (%s)", tool,
                             cached ? "the cached" : "SearXNG's", q, root ? "another JSON value" : jerr.text);
        else if ((rc = hits_from_searxng(root, scholar, &h, &down)) < 0) {
            rc = plumb_err(err, rc, "%s: out of memory", tool);
            goto done;
        }
    }
    if (!h.n && down)
        agent_tools_warn(t, "%s: no results for '%s': the engines SearXNG asked failed: %s", tool, q, down);
    if ((rc = format_hits(out, q, scholar, &h)) < 0) {
        plumb_err(err, rc, "%s: out of memory", tool);
        goto done;
    }
    if (h.n && !cached && cache && (rc = cache_put_search(cache, backend, q, json, err)) < 0)
        goto done;
    rc = PLUMB_OK;
done:
    hits_free(&h);
    json_decref(root);
    free(json);
    free(down);
    return rc;
}

static int run_search(AgentTools *t, json_t *args, int scholar, Buf *out, PlumbError *err)
{
    const char *tool = scholar ? "google_scholar" : "search";
    json_t *q = json_is_object(args) ? json_object_get(args, "query") : NULL, *v;
    const char **queries = NULL;
    size_t n = 0, i;
    Cache *cache = NULL;
    int rc = PLUMB_OK;

    if (json_is_string(q))
        n = 1;
    else if (json_is_array(q) && json_array_size(q) > 0) {
        json_array_foreach(q, i, v) {
            if (!json_is_string(v))
                break;
        }
        if (i == json_array_size(q))
            n = json_array_size(q);
    }
    if (!n)
        return buf_puts(out, scholar ? FORMAT_ERR_SCHOLAR_ARGS : FORMAT_ERR_SEARCH_ARGS);
    if (!(queries = calloc(n, sizeof *queries)))
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", tool);
    for (i = 0; i < n; i++)
        queries[i] = json_is_string(q) ? json_string_value(q) : json_string_value(json_array_get(q, i));
    if ((rc = search_cache(t, &cache, err)) < 0)
        goto done;
    if (!t->p.index_db && (t->p.offline || (!t->p.searxng && t->p.cache_mode != CACHE_RO)) ) {
        agent_tools_warn(t, "%s: no search backend: %s", tool,
                         t->p.offline ? "--offline searches only a local index (--index DB)"
                                      : "give --searxng URL or --index DB");
    }
    for (i = 0; i < n; i++) {
        size_t mark;
        if (t->p.abort_flag && *t->p.abort_flag) {
            rc = plumb_err(err, PLUMB_EIO, "%s: interrupted", tool);
            goto done;
        }
        if (i && (rc = buf_puts(out, FORMAT_SEP)) < 0)
            goto done;
        mark = out->len;
        if (i >= SEARCH_MAX_QUERIES) {
            rc = format_search(out, queries[i], NULL, 0) /* the no-results text */;
            if (rc < 0)
                goto done;
            continue;
        }
        rc = 0;
        if (t->p.index_db && (rc = from_index(t, queries[i], scholar, out, err)) < 0)
            goto done;
        if (rc == 1)
            continue;
        out->len = mark;
        if (out->p)
            out->p[mark] = 0;
        if (t->p.offline && t->p.index_db) {
            if ((rc = format_search(out, queries[i], NULL, 0) /* the no-results text */) < 0)
                goto done;
            continue;
        }
        if ((rc = from_searxng(t, cache, queries[i], scholar, out, err)) < 0)
            goto done;
    }
    rc = PLUMB_OK;
done:
    free(queries);
    if (rc == PLUMB_ENOMEM && !err->msg[0])
        plumb_err(err, rc, "%s: out of memory", tool);
    return rc;
}

int tool_search(AgentTools *t, json_t *args, Buf *out, PlumbError *err)
{
    return run_search(t, args, 0, out, err);
}

int tool_scholar(AgentTools *t, json_t *args, Buf *out, PlumbError *err)
{
    return run_search(t, args, 1, out, err);
}
