/*
 * robots.c — robots.txt per RFC 9309 (see robots.h).
 *
 * Parsing keeps only the rules that apply to our agent, normalised and
 * sorted longest first (allow before disallow at equal length), so a query
 * is the first rule that matches.  Matching is a glob with `*` only,
 * anchored at the start; an unanchored pattern matches a prefix.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "robots.h"

enum { MODE_RULES, MODE_ALLOW_ALL, MODE_DISALLOW_ALL };

typedef struct Rule {
    char *pat;     /* normalised pattern, NUL-terminated, without a final '$' */
    size_t len;    /* octets of pat */
    size_t weight; /* octets of the pattern as written, '$' included: the specificity */
    int allow;     /* 1 allow, 0 disallow */
    int anchored;  /* the pattern ended in '$' */
    char *shown;   /* pat plus the '$' when anchored, for messages */
} Rule;

struct Robots {
    int mode;    /* MODE_* */
    Rule *rules; /* [n], longest first, allow first among equals */
    size_t n;
};

static int is_hex(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static int hex_val(int c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static int is_unreserved(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Percent-encoding normalisation (RFC 9309 2.2.2) of s[0..n) into b:
 * %XX of an unreserved character becomes the character, other %XX get
 * upper-case hex digits, octets outside printable ASCII are %-encoded. */
static int normalise(Buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if (c == '%' && i + 2 < n && is_hex(s[i + 1]) && is_hex(s[i + 2])) {
            int v = hex_val(s[i + 1]) * 16 + hex_val(s[i + 2]);
            if (is_unreserved(v)) {
                rc = buf_putc(b, v);
            } else {
                char e[3] = { '%', hex[v >> 4], hex[v & 15] };
                rc = buf_append(b, e, 3);
            }
            i += 2;
        } else if (c <= 0x20 || c >= 0x7f) {
            char e[3] = { '%', hex[c >> 4], hex[c & 15] };
            rc = buf_append(b, e, 3);
        } else {
            rc = buf_putc(b, c);
        }
        if (rc)
            return rc;
    }
    return buf_reserve(b, 0);
}

/* Does the glob p[0..pn) ('*' = any run) match s[0..sn): all of s when
 * anchored, else a prefix of s?  Greedy with backtracking to the last star:
 * O(pn * sn) at worst, never exponential. */
static int glob_match(const char *p, size_t pn, const char *s, size_t sn, int anchored)
{
    size_t i = 0, j = 0, star = SIZE_MAX, mark = 0;
    for (;;) {
        if (i < pn && p[i] == '*') {
            star = i++;
            mark = j;
            continue;
        }
        if (i == pn && (!anchored || j == sn))
            return 1;
        if (j < sn && i < pn && p[i] == s[j]) {
            i++;
            j++;
            continue;
        }
        if (star == SIZE_MAX || mark >= sn)
            return 0;
        i = star + 1;
        j = ++mark;
    }
}

/* Is the user-agent line value v[0..n) our product token?  The name is the
 * run of [A-Za-z_-] it starts with ("plumb/1.0" names plumb). */
static int ua_matches(const char *v, size_t n, const char *agent)
{
    size_t k = 0, alen = strlen(agent);
    while (k < n && ((v[k] >= 'a' && v[k] <= 'z') || (v[k] >= 'A' && v[k] <= 'Z') || v[k] == '_' ||
                     v[k] == '-'))
        k++;
    if (k == 0 || k != alen)
        return 0;
    for (size_t i = 0; i < k; i++) {
        int a = v[i], b = agent[i];
        if (a >= 'A' && a <= 'Z')
            a += 32;
        if (b >= 'A' && b <= 'Z')
            b += 32;
        if (a != b)
            return 0;
    }
    return 1;
}

static int key_is(const char *k, size_t n, const char *name)
{
    if (strlen(name) != n)
        return 0;
    for (size_t i = 0; i < n; i++) {
        int a = k[i];
        if (a >= 'A' && a <= 'Z')
            a += 32;
        if (a != name[i])
            return 0;
    }
    return 1;
}

static int cmp_rule(const void *pa, const void *pb)
{
    const Rule *a = pa, *b = pb;
    if (a->weight != b->weight)
        return a->weight > b->weight ? -1 : 1;
    if (a->allow != b->allow)
        return a->allow ? -1 : 1;
    return 0;
}

static void free_rules(Rule *r, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(r[i].pat);
        free(r[i].shown);
    }
    free(r);
}

typedef struct RuleList {
    Rule *v;      /* [n] of [cap] */
    size_t n, cap;
} RuleList;

static int add_rule(RuleList *l, int allow, const char *val, size_t n)
{
    Buf b = { 0 };
    Rule r = { 0 };
    int anchored = n > 0 && val[n - 1] == '$';
    if (normalise(&b, val, anchored ? n - 1 : n))
        goto fail;
    r.len = b.len;
    r.pat = buf_steal(&b);
    if (!r.pat)
        goto fail;
    r.shown = malloc(r.len + 2);
    if (!r.shown)
        goto fail;
    memcpy(r.shown, r.pat, r.len);
    r.shown[r.len] = anchored ? '$' : 0;
    r.shown[r.len + 1] = 0;
    r.weight = r.len + (size_t)anchored;
    r.allow = allow;
    r.anchored = anchored;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        Rule *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            goto fail;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = r;
    return PLUMB_OK;
fail:
    buf_free(&b);
    free(r.pat);
    free(r.shown);
    return PLUMB_ENOMEM;
}

int robots_parse(Robots **out, const char *text, size_t len, const char *agent, PlumbError *err)
{
    RuleList mine = { 0 }, star = { 0 };
    Robots *r = NULL;
    int in_ua_run = 0, group_started = 0, group_mine = 0, group_star = 0, have_mine = 0;
    size_t pos = 0;

    *out = NULL;
    if (!text)
        len = 0;
    if (len > ROBOTS_MAX_BYTES) {
        /* Past the cap the last line is partial: drop it. */
        len = ROBOTS_MAX_BYTES;
        while (len > 0 && text[len - 1] != '\n' && text[len - 1] != '\r')
            len--;
    }
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0)
        pos = 3;
    while (pos < len) {
        size_t a = pos, e, k, ke, v, ve;
        while (pos < len && text[pos] != '\n' && text[pos] != '\r')
            pos++;
        e = pos;
        if (pos < len && text[pos] == '\r' && pos + 1 < len && text[pos + 1] == '\n')
            pos++;
        pos++;
        for (k = a; k < e; k++) /* a comment runs to the end of the line */
            if (text[k] == '#') {
                e = k;
                break;
            }
        while (a < e && (text[a] == ' ' || text[a] == '\t'))
            a++;
        while (e > a && (text[e - 1] == ' ' || text[e - 1] == '\t'))
            e--;
        if (a == e)
            continue;
        k = a;
        while (k < e && text[k] != ':')
            k++;
        if (k == e)
            continue; /* not a key: value line */
        ke = k;
        while (ke > a && (text[ke - 1] == ' ' || text[ke - 1] == '\t'))
            ke--;
        v = k + 1;
        while (v < e && (text[v] == ' ' || text[v] == '\t'))
            v++;
        ve = e;
        if (key_is(text + a, ke - a, "user-agent")) {
            if (!in_ua_run) {
                group_started = 1;
                group_mine = group_star = 0;
            }
            in_ua_run = 1;
            if (ve - v == 1 && text[v] == '*') {
                group_star = 1;
            } else if (agent && ua_matches(text + v, ve - v, agent)) {
                group_mine = 1;
                have_mine = 1;
            }
        } else if (key_is(text + a, ke - a, "allow") || key_is(text + a, ke - a, "disallow")) {
            int allow = (ke - a) == 5;
            in_ua_run = 0;
            if (!group_started || ve == v)
                continue; /* a rule outside any group, or an empty one: no effect */
            if (group_mine && add_rule(&mine, allow, text + v, ve - v))
                goto nomem;
            if (group_star && add_rule(&star, allow, text + v, ve - v))
                goto nomem;
        }
        /* Other records (sitemap, crawl-delay, ...) neither end nor start a group. */
    }
    r = calloc(1, sizeof *r);
    if (!r)
        goto nomem;
    r->mode = MODE_RULES;
    if (have_mine) {
        r->rules = mine.v;
        r->n = mine.n;
        mine.v = NULL;
        mine.n = 0;
    } else {
        r->rules = star.v;
        r->n = star.n;
        star.v = NULL;
        star.n = 0;
    }
    if (r->n > 1)
        qsort(r->rules, r->n, sizeof *r->rules, cmp_rule);
    free_rules(mine.v, mine.n);
    free_rules(star.v, star.n);
    *out = r;
    return PLUMB_OK;
nomem:
    free_rules(mine.v, mine.n);
    free_rules(star.v, star.n);
    free(r);
    return plumb_err(err, PLUMB_ENOMEM, "robots.txt: out of memory");
}

int robots_from_status(Robots **out, long status, const char *text, size_t len, const char *agent,
                       PlumbError *err)
{
    Robots *r;
    *out = NULL;
    if (status >= 200 && status <= 299)
        return robots_parse(out, text, len, agent, err);
    r = calloc(1, sizeof *r);
    if (!r)
        return plumb_err(err, PLUMB_ENOMEM, "robots.txt: out of memory");
    /* RFC 9309 2.3.1.3-4: "unavailable" (4xx) allows all, "unreachable"
     * (5xx, no answer) disallows all; 429 means the server is overloaded. */
    r->mode = status >= 400 && status <= 499 && status != 429 ? MODE_ALLOW_ALL : MODE_DISALLOW_ALL;
    *out = r;
    return PLUMB_OK;
}

int robots_allowed(const Robots *r, const char *path, const char **rule)
{
    Buf b = { 0 };
    int allowed = 1;

    if (rule)
        *rule = "";
    if (!r)
        return 1;
    if (!path || !*path)
        path = "/";
    if (strcmp(path, "/robots.txt") == 0)
        return 1;
    if (r->mode != MODE_RULES) {
        if (rule && r->mode == MODE_DISALLOW_ALL)
            *rule = "/";
        return r->mode == MODE_ALLOW_ALL;
    }
    if (r->n == 0)
        return 1;
    if (normalise(&b, path, strlen(path))) {
        buf_free(&b);
        return 0; /* out of memory: the safe answer */
    }
    for (size_t i = 0; i < r->n; i++) {
        const Rule *x = &r->rules[i];
        if (glob_match(x->pat, x->len, buf_str(&b), b.len, x->anchored)) {
            allowed = x->allow;
            if (rule)
                *rule = x->shown;
            break;
        }
    }
    buf_free(&b);
    return allowed;
}

int robots_rule_count(const Robots *r)
{
    if (!r)
        return -1;
    if (r->mode == MODE_ALLOW_ALL)
        return -1;
    if (r->mode == MODE_DISALLOW_ALL)
        return -2;
    return (int)(r->n > (size_t)INT32_MAX ? INT32_MAX : r->n);
}

void robots_free(Robots *r)
{
    if (!r)
        return;
    free_rules(r->rules, r->n);
    free(r);
}
