/*
 * visit.c — the visit tool (tools.h): read pages and give the model, per
 * URL, the evidence and summary the reference gives (format.h).
 *
 * Arguments: `url`, a string or a non-empty array of strings, and `goal`, a
 * string; anything else gives the reference's invalid-request text.  The
 * URLs are read in order; once 900 s have gone by since the first, the rest
 * get the failure block without being fetched.
 *
 * One URL:
 *   http(s)   the page cache first; a miss is fetched with the address guard
 *             and robots.txt (http.h) and a 2xx answer is stored.  With
 *             --cache-mode ro the cache is all there is; --offline fetches
 *             nothing.  A URL with no scheme ("example.com/a") is read as
 *             https.
 *   file://   only a regular file under --files or a document the local
 *             index covers; the path is resolved (realpath) before the
 *             check, so a symbolic link cannot lead out.  Read by docs.h.
 *   other     the failure block.
 * Every page or file read (a cache hit too) is recorded with
 * agent_tools_add_source: the URL, where it ended after redirects, the
 * SHA-256 of its bytes.  The bytes' type is sniffed (text.h): HTML becomes
 * Markdown against the final URL, text is converted to UTF-8, PDF goes
 * through docs_pdf_to_text; anything else, and fewer than 200 characters of
 * text, gives the failure block.  The text takes Jina Reader's shape, which
 * the reference's extractor was fed:
 *   "Title: {t}\n\nURL Source: {url}\n\nMarkdown Content:\n{markdown}".
 *
 * Budget: a page over --visit-budget tokens (default 6144) is cut into
 * passages of about 512 tokens at paragraph breaks, ranked by BM25 against
 * the goal (an in-memory SQLite FTS5 table: porter unicode61 for goals in
 * alphabetic scripts, trigram when the goal has CJK), and the best kept in
 * document order up to the budget; "[…]" marks what was left out.  Tokens
 * are estimated without a tokenizer as one per 4 ASCII bytes plus one per
 * non-ASCII character, which is close to Qwen's tokenizer for English and
 * errs high for accented Latin text and CJK (better too short than over).
 *
 * Extraction: one call to the extractor (--extractor-backend), temperature
 * 0.7, top_p 1, no presence penalty (the reference used the server's
 * defaults), at most 4096 new tokens: one user message in our own words with
 * the page text and the goal, asking for a JSON object with "rational",
 * "evidence" and "summary".  The reply is read leniently: a leading <think>
 * block is dropped, ```json fences removed, the text parsed as it is, else
 * from the first '{' to the last '}'.  A reply without evidence and summary
 * is asked again, at most twice; a reply too long for the extractor's
 * context is asked again with 70% of the text.  Evidence and summary reach
 * the model as Python's str() of the values, as in the reference.  A good
 * result is cached by (page SHA-256, goal, the extractor's description,
 * budget).  When every attempt fails: the failure block.
 *
 * Without an extractor: the evidence is the page text itself, cut to the
 * budget around the goal as above, and the summary says that it was not
 * summarised.  A model then still reads the relevant part of the page, at
 * the cost of more context, instead of learning nothing.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "cache.h"
#include "docs.h"
#include "format.h"
#include "hash.h"
#include "http.h"
#include "index.h"
#include "text.h"
#include "tools.h"
#include "utf8.h"

#define VISIT_LIST_SECONDS 900.0
#define VISIT_MIN_CHARS 200
#define VISIT_DEFAULT_BUDGET 6144
#define PASSAGE_TOKENS 512
#define EXTRACT_ATTEMPTS 3        /* one ask and at most two re-asks */
#define EXTRACT_MAX_TOKENS 4096
#define MAX_GOAL_TERMS 64

#define NO_EXTRACTOR_SUMMARY                                                                      \
    "No extraction model is configured, so this is not a summary: the evidence above is the "   \
    "page's own text, cut to the parts that best match the goal. Read it for the answer."

static const char extract_prompt_head[] =
    "Here is the text of a web page, followed by a goal. Find what in the page serves the goal.\n"
    "\n"
    "## Page\n";
static const char extract_prompt_goal[] = "\n\n## Goal\n";
static const char extract_prompt_tail[] =
    "\n\n## What to do\n"
    "1. Rationale: point to the parts of the page that bear on the goal and say why they matter.\n"
    "2. Evidence: copy those parts word for word with their full context; several paragraphs are "
    "fine, and nothing important may be left out.\n"
    "3. Summary: one short paragraph on what the page contributes to the goal and how well it "
    "settles it.\n"
    "\n"
    "Reply with a JSON object only, with the string fields \"rational\", \"evidence\" and "
    "\"summary\".";

/* ------------------------------------------------------------ tokens */
static size_t est_tokens(const char *s, size_t n)
{
    size_t ascii = 0, other = 0, i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80)
            ascii++;
        else if ((c & 0xC0) != 0x80)
            other++;
    }
    return (ascii + 3) / 4 + other;
}

/* ------------------------------------------------------------ passages */
typedef struct Passage {
    size_t off, len; /* bytes of the markdown */
    size_t tokens;
    int keep;
} Passage;

typedef struct Passages {
    Passage *p;
    size_t n, cap;
} Passages;

static int add_passage(Passages *ps, const char *text, size_t off, size_t len)
{
    while (len && (text[off] == '\n' || text[off] == ' ')) {
        off++;
        len--;
    }
    while (len && (text[off + len - 1] == '\n' || text[off + len - 1] == ' '))
        len--;
    if (!len)
        return PLUMB_OK;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? 2 * ps->cap : 64;
        Passage *np = realloc(ps->p, cap * sizeof *np);
        if (!np)
            return PLUMB_ENOMEM;
        ps->p = np;
        ps->cap = cap;
    }
    ps->p[ps->n].off = off;
    ps->p[ps->n].len = len;
    ps->p[ps->n].tokens = est_tokens(text + off, len);
    ps->p[ps->n].keep = 0;
    ps->n++;
    return PLUMB_OK;
}

/* Where to cut s[0..n) so the first piece holds about `limit` tokens: after
 * the last newline or space before that point, else at a character boundary. */
static size_t cut_point(const char *s, size_t n, size_t limit)
{
    size_t i = 0, tok_ascii = 0, tok_other = 0, last_nl = 0, last_sp = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        size_t k = c < 0x80 ? 1 : (size_t)(utf8_lead_len(c) ? utf8_lead_len(c) : 1);
        if (c < 0x80)
            tok_ascii++;
        else
            tok_other++;
        if ((tok_ascii + 3) / 4 + tok_other > limit)
            break;
        if (c == '\n')
            last_nl = i + 1;
        else if (c == ' ')
            last_sp = i + 1;
        i += k;
        if (i > n)
            i = n;
    }
    if (i >= n)
        return n;
    if (last_nl > i / 2)
        return last_nl;
    if (last_sp > i / 2)
        return last_sp;
    return i ? i : 1;
}

/* Cut text into passages of about PASSAGE_TOKENS at paragraph breaks. */
static int split_passages(const char *text, size_t n, Passages *ps)
{
    size_t start = 0, pos = 0, cur_tokens = 0;
    int rc;
    while (pos < n) {
        const char *brk = strstr(text + pos, "\n\n");
        size_t end = brk ? (size_t)(brk - text) + 2 : n;
        size_t t = est_tokens(text + pos, end - pos);
        if (end > n)
            end = n;
        if (cur_tokens && cur_tokens + t > PASSAGE_TOKENS) {
            if ((rc = add_passage(ps, text, start, pos - start)) < 0)
                return rc;
            start = pos;
            cur_tokens = 0;
        }
        if (t > PASSAGE_TOKENS) { /* a paragraph too long for one passage */
            size_t p = pos;
            while (p < end) {
                size_t cut = cut_point(text + p, end - p, PASSAGE_TOKENS);
                if ((rc = add_passage(ps, text, p, cut)) < 0)
                    return rc;
                p += cut;
            }
            start = pos = end;
            cur_tokens = 0;
            continue;
        }
        cur_tokens += t;
        pos = end;
    }
    return add_passage(ps, text, start, n - start);
}

static int has_cjk(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    uint32_t cp;
    while (*p) {
        size_t k = utf8_decode(p, strlen((const char *)p), &cp);
        if (!k)
            k = 1;
        else if ((cp >= 0x3040 && cp <= 0x30FF) || (cp >= 0x3400 && cp <= 0x9FFF) ||
                 (cp >= 0xAC00 && cp <= 0xD7AF) || (cp >= 0xF900 && cp <= 0xFAFF) ||
                 (cp >= 0x20000 && cp <= 0x2FFFF))
            return 1;
        p += k;
    }
    return 0;
}

/* The goal as an FTS5 query: its words (or, for trigram, every run of three
 * characters of them), each quoted, joined by OR.  Empty when none. */
static int goal_query(const char *goal, int trigram, Buf *q)
{
    const unsigned char *p = (const unsigned char *)goal;
    size_t n_terms = 0;
    int rc = PLUMB_OK;
    while (*p && n_terms < MAX_GOAL_TERMS && rc >= 0) {
        const unsigned char *w;
        size_t chars = 0;
        while (*p && *p < 0x80 && !((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                                     (*p >= 'A' && *p <= 'Z')))
            p++;
        w = p;
        while (*p && (*p >= 0x80 || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
                      (*p >= 'A' && *p <= 'Z'))) {
            if ((*p & 0xC0) != 0x80)
                chars++;
            p++;
        }
        if (p == w)
            continue;
        if (!trigram) {
            rc = buf_printf(q, "%s\"%.*s\"", n_terms ? " OR " : "", (int)(p - w), (const char *)w);
            n_terms++;
        } else if (chars >= 3) {
            /* every window of three characters */
            const unsigned char *a = w;
            while (a < p && n_terms < MAX_GOAL_TERMS && rc >= 0) {
                const unsigned char *e = a;
                int k;
                for (k = 0; k < 3 && e < p; k++) {
                    e++;
                    while (e < p && (*e & 0xC0) == 0x80)
                        e++;
                }
                if (k < 3)
                    break;
                rc = buf_printf(q, "%s\"%.*s\"", n_terms ? " OR " : "", (int)(e - a), (const char *)a);
                n_terms++;
                a++;
                while (a < p && (*a & 0xC0) == 0x80)
                    a++;
            }
        }
    }
    return rc;
}

/* Mark the passages to keep: best BM25 match to the goal first, until the
 * budget is spent; with no match, from the top of the page. */
static int rank_passages(const char *text, Passages *ps, const char *goal, size_t budget,
                         PlumbError *err)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    Buf q = { 0 };
    size_t used = 0, i;
    int trigram = has_cjk(goal), rc = PLUMB_OK;
    char *order = NULL; /* [n] 1 when already considered */

    if (!(order = calloc(ps->n ? ps->n : 1, 1)))
        return plumb_err(err, PLUMB_ENOMEM, "visit: out of memory");
    if ((rc = goal_query(goal, trigram, &q)) < 0)
        goto done;
    if (q.len) {
        if (sqlite3_open_v2(":memory:", &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_MEMORY, NULL) != SQLITE_OK ||
            sqlite3_exec(db,
                         trigram ? "CREATE VIRTUAL TABLE p USING fts5(body, tokenize = 'trigram')"
                                 : "CREATE VIRTUAL TABLE p USING fts5(body, tokenize = "
                                   "'porter unicode61 remove_diacritics 2')",
                         NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "INSERT INTO p(rowid, body) VALUES(?1, ?2)", -1, &st, NULL) != SQLITE_OK)
            goto sql_fail;
        for (i = 0; i < ps->n; i++) {
            sqlite3_bind_int64(st, 1, (sqlite3_int64)i);
            sqlite3_bind_text(st, 2, text + ps->p[i].off, (int)ps->p[i].len, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE)
                goto sql_fail;
            sqlite3_reset(st);
        }
        sqlite3_finalize(st);
        st = NULL;
        if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(db, "SELECT rowid FROM p WHERE p MATCH ?1 ORDER BY bm25(p), rowid", -1, &st,
                               NULL) != SQLITE_OK)
            goto sql_fail;
        sqlite3_bind_text(st, 1, buf_str(&q), -1, SQLITE_STATIC);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            sqlite3_int64 r = sqlite3_column_int64(st, 0);
            if (r < 0 || (size_t)r >= ps->n || order[r])
                continue;
            order[r] = 1;
            if (used + ps->p[r].tokens <= budget) {
                ps->p[r].keep = 1;
                used += ps->p[r].tokens;
            }
        }
        if (rc != SQLITE_DONE)
            goto sql_fail;
        rc = PLUMB_OK;
    }
    /* what is left of the budget goes to the top of the page */
    for (i = 0; i < ps->n; i++)
        if (!order[i] && used + ps->p[i].tokens <= budget) {
            ps->p[i].keep = 1;
            used += ps->p[i].tokens;
        }
    goto done;
sql_fail:
    rc = plumb_err(err, PLUMB_ENOMEM, "visit: ranking passages: %s", db ? sqlite3_errmsg(db) : "no memory");
done:
    sqlite3_finalize(st);
    sqlite3_close(db);
    buf_free(&q);
    free(order);
    return rc;
}

/* The page text for the extractor: Jina Reader's shape, the markdown cut to
 * the budget around the goal. */
static int page_text(const char *title, const char *url, const char *md, const char *goal,
                     size_t budget, Buf *out, PlumbError *err)
{
    Passages ps = { 0 };
    size_t head_tokens, i, md_len = strlen(md);
    int rc, gap = 0, any = 0;
    if ((rc = buf_printf(out, "Title: %s\n\nURL Source: %s\n\nMarkdown Content:\n", title, url)) < 0)
        return plumb_err(err, rc, "visit: out of memory");
    head_tokens = est_tokens(out->p, out->len);
    if (head_tokens + est_tokens(md, md_len) <= budget)
        return buf_append(out, md, md_len) < 0 ? plumb_err(err, PLUMB_ENOMEM, "visit: out of memory")
                                               : PLUMB_OK;
    budget = budget > head_tokens ? budget - head_tokens : 0;
    if ((rc = split_passages(md, md_len, &ps)) < 0 ||
        (rc = rank_passages(md, &ps, goal, budget, err)) < 0)
        goto done;
    for (i = 0; i < ps.n && rc >= 0; i++) {
        if (!ps.p[i].keep) {
            gap = 1;
            continue;
        }
        if (any)
            rc = buf_puts(out, gap ? "\n\n[\xe2\x80\xa6]\n\n" : "\n\n");
        else if (gap)
            rc = buf_puts(out, "[\xe2\x80\xa6]\n\n");
        if (rc >= 0)
            rc = buf_append(out, md + ps.p[i].off, ps.p[i].len);
        gap = 0;
        any = 1;
    }
    if (rc >= 0 && gap && any)
        rc = buf_puts(out, "\n\n[\xe2\x80\xa6]");
    if (rc < 0 && !err->msg[0])
        plumb_err(err, rc, "visit: out of memory");
done:
    free(ps.p);
    return rc;
}

/* ------------------------------------------------------------ extraction */
/* Parse an extractor reply: *obj gets an object with evidence and summary,
 * or stays NULL. */
static int parse_extraction(const char *reply, json_t **obj)
{
    Buf b = { 0 };
    const char *s = reply, *think = NULL, *p;
    json_t *j;
    *obj = NULL;
    for (p = strstr(reply, "</think>"); p; p = strstr(p + 8, "</think>"))
        think = p;
    if (think)
        s = think + 8;
    while (*s) { /* copy without ```json and ``` */
        if (!strncmp(s, "```json", 7))
            s += 7;
        else if (!strncmp(s, "```", 3))
            s += 3;
        else if (buf_putc(&b, *s++) < 0) {
            buf_free(&b);
            return PLUMB_ENOMEM;
        }
    }
    format_strip(&b);
    j = json_loadb(buf_str(&b), b.len, 0, NULL);
    if (!json_is_object(j)) {
        const char *l = strchr(buf_str(&b), '{'), *r = strrchr(buf_str(&b), '}');
        json_decref(j);
        j = l && r && l < r ? json_loadb(l, (size_t)(r - l) + 1, 0, NULL) : NULL;
    }
    buf_free(&b);
    if (json_is_object(j) && json_object_get(j, "evidence") && json_object_get(j, "summary"))
        *obj = j;
    else
        json_decref(j);
    return PLUMB_OK;
}

/* Ask the extractor; *obj NULL when every attempt failed. */
static int extract(AgentTools *t, const char *url, const char *text, const char *goal, json_t **obj,
                   PlumbError *err)
{
    Buf prompt = { 0 };
    size_t text_len = strlen(text);
    int attempt, rc = PLUMB_OK;
    LlmParams lp;
    *obj = NULL;
    llm_params_default(&lp);
    lp.temperature = 0.7f;
    lp.top_p = 1.0f;
    lp.presence_penalty = 0.0f;
    lp.max_tokens = EXTRACT_MAX_TOKENS;
    lp.abort_flag = t->p.abort_flag;
    for (attempt = 0; attempt < EXTRACT_ATTEMPTS && !*obj; attempt++) {
        PlumbChatMsg msg = { "user", NULL, NULL, NULL };
        LlmResult res;
        PlumbError lerr = { 0 };
        buf_reset(&prompt);
        if (buf_puts(&prompt, extract_prompt_head) < 0 || buf_append(&prompt, text, text_len) < 0 ||
            buf_puts(&prompt, extract_prompt_goal) < 0 || buf_puts(&prompt, goal) < 0 ||
            buf_puts(&prompt, extract_prompt_tail) < 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "visit: out of memory");
            break;
        }
        msg.content = buf_str(&prompt);
        rc = llm_generate(t->p.extractor, &msg, 1, &lp, NULL, NULL, &res, &lerr);
        if (rc == PLUMB_ENOMEM) {
            *err = lerr;
            break;
        }
        if (t->p.abort_flag && *t->p.abort_flag) {
            llm_result_free(&res);
            rc = plumb_err(err, PLUMB_EIO, "visit: interrupted");
            break;
        }
        if (rc == PLUMB_ERANGE) {
            /* too long for the extractor: ask again with 70% of the text,
             * cut at a character boundary */
            size_t keep = text_len * 7 / 10;
            while (keep && ((unsigned char)text[keep] & 0xC0) == 0x80)
                keep--;
            agent_tools_warn(t, "visit: %s: the page does not fit the extractor's context; trying %zu of %zu bytes",
                             url, keep, text_len);
            text_len = keep;
            rc = PLUMB_OK;
            continue;
        }
        if (rc < 0) {
            agent_tools_warn(t, "visit: %s: extractor: %s", url, lerr.msg);
            rc = PLUMB_OK;
            continue;
        }
        rc = parse_extraction(res.text ? res.text : "", obj);
        llm_result_free(&res);
        if (rc < 0) {
            plumb_err(err, rc, "visit: out of memory");
            break;
        }
        if (!*obj && attempt + 1 < EXTRACT_ATTEMPTS)
            agent_tools_warn(t, "visit: %s: the extractor's reply has no JSON with evidence and summary; asking again",
                             url);
    }
    if (rc >= 0 && !*obj)
        agent_tools_warn(t, "visit: %s: no usable extraction after %d attempts", url, EXTRACT_ATTEMPTS);
    buf_free(&prompt);
    return rc;
}

/* ------------------------------------------------------------ reading */
typedef struct Page {
    char *title;      /* malloc'd */
    char *markdown;   /* malloc'd UTF-8 */
    char *final_url;  /* malloc'd */
    char sha256[65];  /* of the bytes read */
} Page;

static void page_free(Page *pg)
{
    free(pg->title);
    free(pg->markdown);
    free(pg->final_url);
    memset(pg, 0, sizeof *pg);
}

static int cache_of(AgentTools *t, Cache **c, PlumbError *err)
{
    *c = NULL;
    if (!t->p.cache_db || t->p.cache_mode == CACHE_OFF)
        return PLUMB_OK;
    *c = agent_tools_cache(t, err);
    return *c ? PLUMB_OK : (err->code ? err->code : PLUMB_EIO);
}

/* Bytes to text by their type; 0 with pg->markdown NULL when unreadable. */
static int to_text(AgentTools *t, const char *url, const char *ctype, const char *body, size_t len,
                   Page *pg, PlumbError *err)
{
    PlumbError terr = { 0 };
    char *utf8 = NULL;
    size_t ulen = 0;
    int rc = PLUMB_OK;
    switch (text_sniff(ctype, pg->final_url, body, len)) {
    case TEXT_HTML:
        rc = text_to_utf8(body, len, ctype, 1, &utf8, &ulen, &terr);
        if (rc >= 0)
            rc = text_html_to_markdown(utf8, ulen, pg->final_url, &pg->title, &pg->markdown, &terr);
        break;
    case TEXT_PLAIN:
        rc = text_to_utf8(body, len, ctype, 0, &pg->markdown, &ulen, &terr);
        break;
    case TEXT_PDF: {
        DocsParams dp = { 0 };
        char *raw = NULL;
        rc = docs_pdf_to_text(body, len, &dp, &raw, &terr);
        if (rc >= 0) {
            rc = text_utf8_repair(raw, strlen(raw), &pg->markdown, &ulen);
            free(raw);
        }
        break;
    }
    default:
        agent_tools_warn(t, "visit: %s: not a text, HTML or PDF document (%s)", url, ctype ? ctype : "no type");
        break;
    }
    free(utf8);
    if (rc == PLUMB_ENOMEM)
        return plumb_err(err, rc, "visit: %s: out of memory", url);
    if (rc < 0) {
        agent_tools_warn(t, "visit: %s: %s", url, terr.msg);
        free(pg->markdown);
        pg->markdown = NULL;
        rc = PLUMB_OK;
    }
    if (pg->markdown && !pg->title && !(pg->title = strdup("")))
        return plumb_err(err, PLUMB_ENOMEM, "visit: out of memory");
    return rc;
}

static int read_web(AgentTools *t, const char *url, Page *pg, PlumbError *err)
{
    Cache *cache = NULL;
    CachedPage cp = { 0 };
    HttpResponse res = { 0 };
    PlumbError herr = { 0 };
    HttpClient *http;
    int rc, from_cache = 0;

    if ((rc = cache_of(t, &cache, err)) < 0)
        return rc;
    if (cache) {
        if ((rc = cache_get_page(cache, url, &cp, err)) < 0)
            return rc;
        from_cache = rc == 1;
    }
    if (!from_cache) {
        if (t->p.cache_mode == CACHE_RO && cache) {
            agent_tools_warn(t, "visit: %s: not in the page cache (replay)", url);
            return PLUMB_OK;
        }
        if (t->p.offline) {
            agent_tools_warn(t, "visit: %s: --offline: no web pages", url);
            return PLUMB_OK;
        }
        if (!(http = agent_tools_http(t, &herr))) {
            agent_tools_warn(t, "visit: %s: %s", url, herr.msg);
            return PLUMB_OK;
        }
        rc = http_get(http, url, HTTP_GUARD | HTTP_ROBOTS, &res, &herr);
        if (rc == PLUMB_ENOMEM)
            return plumb_err(err, rc, "visit: %s: out of memory", url);
        if (rc < 0) {
            agent_tools_warn(t, "visit: %s", herr.msg);
            return PLUMB_OK;
        }
        if (res.status < 200 || res.status > 299) {
            agent_tools_warn(t, "visit: %s: HTTP %ld", url, res.status);
            http_response_free(&res);
            return PLUMB_OK;
        }
        cp.status = res.status;
        cp.body = res.body;
        cp.len = res.len;
        cp.content_type = res.content_type;
        cp.final_url = res.final_url;
        res.body = res.content_type = res.final_url = NULL;
        sha256_hex(cp.body, cp.len, cp.sha256);
        if (cache && (rc = cache_put_page(cache, url, &cp, err)) < 0) {
            cache_page_free(&cp);
            return rc;
        }
    }
    memcpy(pg->sha256, cp.sha256, sizeof pg->sha256);
    rc = PLUMB_ENOMEM;
    if ((pg->final_url = strdup(cp.final_url ? cp.final_url : url)) &&
        agent_tools_add_source(t, url, pg->final_url, cp.sha256, from_cache) == PLUMB_OK)
        rc = to_text(t, url, cp.content_type, cp.body, cp.len, pg, err);
    else
        plumb_err(err, rc, "visit: out of memory");
    cache_page_free(&cp);
    return rc;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Is path (resolved) inside dir (resolved)? */
static int inside(const char *path, const char *dir)
{
    size_t n = strlen(dir);
    if (n == 1 && dir[0] == '/')
        return 1;
    return !strncmp(path, dir, n) && path[n] == '/';
}

static int read_file_url(AgentTools *t, const char *url, Page *pg, PlumbError *err)
{
    const char *p = url + 7;
    char path[PATH_MAX], real[PATH_MAX], dir[PATH_MAX];
    size_t n = 0;
    struct stat sb;
    int allowed = 0, fd, rc;
    Sha256 h;
    DocsParams dp = { 0 };
    PlumbError derr = { 0 };
    char *text = NULL;

    if (!strncasecmp(p, "localhost/", 10))
        p += 9;
    if (*p != '/') {
        agent_tools_warn(t, "visit: %s: a file URL needs an absolute path (file:///...)", url);
        return PLUMB_OK;
    }
    for (; *p && *p != '?' && *p != '#' && n + 1 < sizeof path; p++) {
        if (*p == '%' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            path[n++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 2;
        } else
            path[n++] = *p;
    }
    path[n] = 0;
    if (strlen(path) != n || !realpath(path, real) || stat(real, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        agent_tools_warn(t, "visit: %s: no such regular file", url);
        return PLUMB_OK;
    }
    if (t->p.files_dir && realpath(t->p.files_dir, dir) && inside(real, dir))
        allowed = 1;
    if (!allowed && t->p.index_db) {
        PlumbError ierr = { 0 };
        Index *ix = agent_tools_index(t, &ierr);
        allowed = ix && index_covers(ix, real);
    }
    if (!allowed) {
        agent_tools_warn(t, "visit: %s: outside --files and the local index", url);
        return PLUMB_OK;
    }
    /* the bytes' hash, for the sources and the extraction cache */
    if ((fd = open(real, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
        agent_tools_warn(t, "visit: %s: %s", url, strerror(errno));
        return PLUMB_OK;
    }
    sha256_begin(&h);
    for (;;) {
        char buf[65536];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        sha256_update(&h, buf, (size_t)r);
    }
    close(fd);
    sha256_end_hex(&h, pg->sha256);
    rc = docs_file_to_text(real, &dp, &pg->title, &text, &derr);
    if (rc == PLUMB_ENOMEM)
        return plumb_err(err, rc, "visit: %s: out of memory", url);
    if (rc < 0) {
        agent_tools_warn(t, "visit: %s: %s", url, derr.msg);
        return PLUMB_OK;
    }
    rc = text_utf8_repair(text, strlen(text), &pg->markdown, &n);
    free(text);
    if (rc < 0 || !(pg->final_url = strdup(url)) ||
        (!pg->title && !(pg->title = strdup(strrchr(real, '/') + 1))) ||
        agent_tools_add_source(t, url, url, pg->sha256, 0) < 0)
        return plumb_err(err, PLUMB_ENOMEM, "visit: out of memory");
    return PLUMB_OK;
}

/* Characters of s after trimming, up to `enough`. */
static size_t char_count(const char *s, size_t enough)
{
    size_t n = 0;
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    for (; *s && n < enough; s++)
        if (((unsigned char)*s & 0xC0) != 0x80 && *s != '\n' && *s != ' ')
            n++;
    return n;
}

/* ------------------------------------------------------------ one URL */
static int visit_one(AgentTools *t, const char *url_in, const char *goal, Buf *out, PlumbError *err)
{
    Page pg = { 0 };
    Buf url = { 0 }, text = { 0 };
    json_t *obj = NULL;
    char *cached = NULL;
    Cache *cache = NULL;
    Buf ev = { 0 }, sum = { 0 };
    size_t budget = t->p.visit_budget > 0 ? (size_t)t->p.visit_budget : VISIT_DEFAULT_BUDGET;
    const char *u = url_in;
    size_t n;
    int rc = PLUMB_OK;

    while (*u == ' ' || *u == '\t' || *u == '\n')
        u++;
    n = strlen(u);
    while (n && (u[n - 1] == ' ' || u[n - 1] == '\t' || u[n - 1] == '\n'))
        n--;
    if (!strstr(u, "://") && n && memchr(u, '.', n) && !memchr(u, ' ', n) && rc >= 0)
        rc = buf_puts(&url, "https://");
    if (rc < 0 || buf_append(&url, u, n) < 0) {
        rc = plumb_err(err, PLUMB_ENOMEM, "visit: out of memory");
        goto done;
    }
    if (!strncasecmp(buf_str(&url), "http://", 7) || !strncasecmp(buf_str(&url), "https://", 8))
        rc = read_web(t, buf_str(&url), &pg, err);
    else if (!strncasecmp(buf_str(&url), "file://", 7))
        rc = read_file_url(t, buf_str(&url), &pg, err);
    else
        agent_tools_warn(t, "visit: %s: only http, https and file URLs are read", url_in);
    if (rc < 0)
        goto done;
    if (!pg.markdown || char_count(pg.markdown, VISIT_MIN_CHARS) < VISIT_MIN_CHARS) {
        if (pg.markdown)
            agent_tools_warn(t, "visit: %s: fewer than %d characters of text", buf_str(&url), VISIT_MIN_CHARS);
        rc = format_visit_failed(out, url_in, goal);
        goto done;
    }
    if ((rc = page_text(pg.title, pg.final_url, pg.markdown, goal, budget, &text, err)) < 0)
        goto done;

    if (!t->p.extractor) {
        rc = format_visit(out, url_in, goal, buf_str(&text), NO_EXTRACTOR_SUMMARY);
        goto done;
    }
    if ((rc = cache_of(t, &cache, err)) < 0)
        goto done;
    if (cache) {
        rc = cache_get_extract(cache, pg.sha256, goal, llm_describe(t->p.extractor), (int32_t)budget, &cached, err);
        if (rc < 0)
            goto done;
        if (rc == 1 && parse_extraction(cached, &obj) < 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "visit: out of memory");
            goto done;
        }
    }
    if (!obj) {
        if ((rc = extract(t, buf_str(&url), buf_str(&text), goal, &obj, err)) < 0)
            goto done;
        if (obj && cache) {
            char *js = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
            rc = js ? cache_put_extract(cache, pg.sha256, goal, llm_describe(t->p.extractor), (int32_t)budget, js, err)
                    : plumb_err(err, PLUMB_ENOMEM, "visit: out of memory");
            free(js);
            if (rc < 0)
                goto done;
        }
    }
    if (!obj) {
        rc = format_visit_failed(out, url_in, goal);
        goto done;
    }
    if ((rc = format_pystr_json(&ev, json_object_get(obj, "evidence"))) < 0 ||
        (rc = format_pystr_json(&sum, json_object_get(obj, "summary"))) < 0) {
        plumb_err(err, rc, "visit: out of memory");
        goto done;
    }
    rc = format_visit(out, url_in, goal, buf_str(&ev), buf_str(&sum));
done:
    if (rc == PLUMB_ENOMEM && !err->msg[0])
        plumb_err(err, rc, "visit: out of memory");
    json_decref(obj);
    free(cached);
    buf_free(&ev);
    buf_free(&sum);
    buf_free(&url);
    buf_free(&text);
    page_free(&pg);
    return rc;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int tool_visit(AgentTools *t, json_t *args, Buf *out, PlumbError *err)
{
    json_t *url = json_is_object(args) ? json_object_get(args, "url") : NULL;
    json_t *goal = json_is_object(args) ? json_object_get(args, "goal") : NULL, *v;
    size_t n = 0, i, start = out->len;
    double t0 = now_s();
    int rc = PLUMB_OK;
    Buf all = { 0 };

    if (json_is_string(url))
        n = 1;
    else if (json_is_array(url) && json_array_size(url) > 0) {
        json_array_foreach(url, i, v) {
            if (!json_is_string(v))
                break;
        }
        if (i == json_array_size(url))
            n = json_array_size(url);
    }
    if (!n || !json_is_string(goal))
        return buf_puts(out, FORMAT_ERR_VISIT_ARGS);
    for (i = 0; i < n && rc >= 0; i++) {
        const char *u = json_is_string(url) ? json_string_value(url) : json_string_value(json_array_get(url, i));
        if (t->p.abort_flag && *t->p.abort_flag) {
            rc = plumb_err(err, PLUMB_EIO, "visit: interrupted");
            break;
        }
        if (i && (rc = buf_puts(&all, FORMAT_SEP)) < 0)
            break;
        if (now_s() - t0 > VISIT_LIST_SECONDS) {
            agent_tools_warn(t, "visit: %s: skipped, the list took over %.0f s", u, VISIT_LIST_SECONDS);
            rc = format_visit_failed(&all, u, json_string_value(goal));
        } else
            rc = visit_one(t, u, json_string_value(goal), &all, err);
    }
    if (rc >= 0) {
        format_strip(&all);
        rc = buf_append(out, all.p ? all.p : "", all.len);
    }
    if (rc < 0) {
        out->len = start;
        if (out->p)
            out->p[start] = 0;
        if (rc == PLUMB_ENOMEM && !err->msg[0])
            plumb_err(err, rc, "visit: out of memory");
    }
    buf_free(&all);
    return rc;
}
