/*
 * http.c — GET over libcurl's easy interface with the limits of http.h.
 *
 * Only CURLOPT_* options are used, never a TLS backend's own calls, so the
 * file works with any libcurl TLS flavour (OpenSSL on Debian, mbedTLS
 * elsewhere).  Each limit has one place:
 *   - schemes: checked here before curl sees the URL, and CURLOPT_PROTOCOLS
 *     and REDIR_PROTOCOLS limit curl to http and https on redirects too;
 *   - the address guard: the open-socket callback classifies the address
 *     about to be connected (netguard.h) and refuses with CURL_SOCKET_BAD;
 *   - size: the write callback stops past max_body decoded bytes (so a
 *     compression bomb stops after max_body of output), the header callback
 *     past HTTP_MAX_HEADER_BYTES;
 *   - time: connect, total and low-speed timeouts; the abort flag through
 *     the progress callback; the per-host delay before each request.
 * Extra CA certificates: CURLOPT_CAINFO replaces the built-in bundle, so
 * http_open loads the built-in bundle (CURLINFO_CAINFO, libcurl >= 7.84)
 * and the extra file into one PEM blob for CURLOPT_CAINFO_BLOB; the
 * built-in CA directory (CURLOPT_CAPATH, /etc/ssl/certs on Debian) is left
 * as it is.  With an older libcurl the file goes to CURLOPT_CAINFO and the
 * system's CAs still come from CAPATH where the build has one.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"

#ifndef PLUMB_HAVE_CURL

int http_open(HttpClient **out, const HttpParams *p, PlumbError *err)
{
    (void)p;
    if (out)
        *out = NULL;
    return plumb_err(err, PLUMB_EUNSUPPORTED,
                     "http: built without libcurl (install libcurl4-openssl-dev and configure again)");
}
void http_close(HttpClient *c) { (void)c; }
int http_get(HttpClient *c, const char *url, unsigned flags, HttpResponse *res, PlumbError *err)
{
    (void)c;
    (void)flags;
    if (res)
        memset(res, 0, sizeof *res);
    return plumb_err(err, PLUMB_EUNSUPPORTED,
                     "%s: built without libcurl (install libcurl4-openssl-dev and configure again)",
                     url ? url : "(null)");
}
void http_response_free(HttpResponse *r)
{
    if (r)
        memset(r, 0, sizeof *r);
}

#else

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "buf.h"
#include "netguard.h"
#include "robots.h"

#define HTTP_MAX_REDIRS 5
#define HTTP_MAX_HEADER_BYTES (64u * 1024u) /* all header lines of all hops */
#define HTTP_MAX_URL 16384                   /* bytes of a URL */
#define HTTP_MAX_CA_BYTES (8u * 1024u * 1024u)
#define HTTP_RETRY_MAX_S 60.0
#define HTTP_MAX_HOSTS 256   /* per-host times kept */
#define HTTP_MAX_ORIGINS 1024 /* robots.txt files kept */
#define ROBOTS_AGENT "plumb" /* our product token in robots.txt */

typedef struct HostTime {
    char *host;    /* lower-case host name or address */
    double last_s; /* monotonic time the last request to it ended */
} HostTime;

typedef struct RobotsEntry {
    char *origin; /* "https://host:port" */
    Robots *r;
    char *why;    /* why everything is disallowed (fetch failure), or NULL */
} RobotsEntry;

struct HttpClient {
    char *user_agent;         /* owned */
    char *proxy;              /* owned, or NULL */
    char *ca_file;            /* owned, or NULL */
    char *ca_pem;             /* [ca_len] built-in bundle + ca_file, or NULL */
    size_t ca_len;
    int allow_private;
    int no_robots;
    double host_delay_s;      /* resolved: < 0 none */
    long connect_ms, total_ms;
    long low_speed_time_s, low_speed_bps;
    size_t max_body;
    size_t *n_connections;
    const volatile int *abort_flag;
    CURL *easy[2];            /* [1] guarded requests, [0] the others: separate connection pools */
    HostTime *hosts;          /* [n_hosts] */
    size_t n_hosts;
    RobotsEntry *robots;      /* [n_robots] */
    size_t n_robots;
};

/* The state of one transfer, seen by the callbacks. */
typedef struct Xfer {
    HttpClient *c;
    Buf body;              /* decoded body so far, capped at body.cap (max_body) */
    int truncated;         /* the body passed max_body */
    size_t header_bytes;   /* all header lines so far */
    int header_overflow;   /* they passed HTTP_MAX_HEADER_BYTES */
    int guard;             /* run the address guard on each socket */
    int refused;           /* the guard refused an address */
    NetguardVerdict why;   /* of the first refusal */
    char refused_addr[64]; /* that address as text */
    double retry_after_s;  /* of the last response, -1 when absent */
    int aborted;           /* the abort flag was seen */
} Xfer;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int aborted(const HttpClient *c)
{
    return c->abort_flag && *c->abort_flag;
}

/* Sleep s seconds in short steps; 1 when the abort flag cut it short. */
static int sleep_s(const HttpClient *c, double s)
{
    double end = now_s() + s;
    for (;;) {
        double left = end - now_s();
        struct timespec ts;
        if (aborted(c))
            return 1;
        if (left <= 0)
            return 0;
        if (left > 0.05)
            left = 0.05;
        ts.tv_sec = 0;
        ts.tv_nsec = (long)(left * 1e9);
        nanosleep(&ts, NULL);
    }
}

static pthread_once_t global_once = PTHREAD_ONCE_INIT;
static CURLcode global_rc = CURLE_OK;

static void global_init(void)
{
    global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* Read a whole file of at most cap bytes, appending to b. */
static int read_file(Buf *b, const char *path, size_t cap, PlumbError *err)
{
    FILE *f = fopen(path, "rb");
    char chunk[65536];
    size_t n, total = 0;
    if (!f)
        return plumb_err(err, PLUMB_EIO, "%s: cannot read CA certificates: %s", path, strerror(errno));
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        total += n;
        if (total > cap) {
            fclose(f);
            return plumb_err(err, PLUMB_ENOMEM, "%s: CA certificates larger than %zu bytes", path, cap);
        }
        if (buf_append(b, chunk, n)) {
            fclose(f);
            return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", path);
        }
    }
    if (ferror(f)) {
        fclose(f);
        return plumb_err(err, PLUMB_EIO, "%s: read error", path);
    }
    fclose(f);
    return PLUMB_OK;
}

/* The built-in bundle (if the build has one and it is readable) followed
 * by ca_file, as one PEM text. */
static int load_ca(HttpClient *c, PlumbError *err)
{
    Buf b = { 0 };
    int rc;
#if LIBCURL_VERSION_NUM >= 0x075400 /* 7.84.0: CURLINFO_CAINFO */
    char *builtin = NULL;
    if (curl_easy_getinfo(c->easy[0], CURLINFO_CAINFO, &builtin) == CURLE_OK && builtin && *builtin) {
        PlumbError ignore = { 0 };
        if (read_file(&b, builtin, HTTP_MAX_CA_BYTES, &ignore) != PLUMB_OK)
            buf_reset(&b); /* no built-in bundle here: CAPATH may still serve */
        else if (buf_putc(&b, '\n'))
            goto nomem;
    }
#endif
    rc = read_file(&b, c->ca_file, HTTP_MAX_CA_BYTES, err);
    if (rc) {
        buf_free(&b);
        return rc;
    }
    c->ca_len = b.len;
    c->ca_pem = buf_steal(&b);
    return c->ca_pem ? PLUMB_OK : plumb_err(err, PLUMB_ENOMEM, "http: out of memory");
#if LIBCURL_VERSION_NUM >= 0x075400
nomem:
    buf_free(&b);
    return plumb_err(err, PLUMB_ENOMEM, "http: out of memory");
#endif
}

/* Seconds (0 or less = the default) as whole milliseconds, at most a day. */
static long to_ms(double s, double def)
{
    if (!(s > 0))
        s = def;
    if (s > 86400.0)
        s = 86400.0;
    return (long)(s * 1000.0);
}

int http_open(HttpClient **out, const HttpParams *p, PlumbError *err)
{
    static const HttpParams defaults = { 0 };
    HttpClient *c = NULL;
    int fail = 0;

    if (!out)
        return plumb_err(err, PLUMB_EINVAL, "http_open: no output pointer");
    *out = NULL;
    if (!p)
        p = &defaults;
    pthread_once(&global_once, global_init);
    if (global_rc != CURLE_OK)
        return plumb_err(err, PLUMB_EIO, "http: libcurl failed to initialise: %s",
                         curl_easy_strerror(global_rc));
    c = calloc(1, sizeof *c);
    if (!c)
        return plumb_err(err, PLUMB_ENOMEM, "http: out of memory");
    c->user_agent = p->user_agent ? strdup(p->user_agent)
                                  : strdup("plumb/" PACKAGE_VERSION " (+research agent)");
    if (!c->user_agent)
        fail = 1;
    c->proxy = p->proxy && *p->proxy ? dup_or_null(p->proxy, &fail) : NULL;
    c->ca_file = p->ca_file && *p->ca_file ? dup_or_null(p->ca_file, &fail) : NULL;
    if (fail)
        goto nomem;
    c->allow_private = p->allow_private;
    c->no_robots = p->no_robots;
    c->host_delay_s = p->host_delay_s == 0 ? 1.0 : p->host_delay_s;
    c->connect_ms = to_ms(p->connect_timeout_s, 10.0);
    c->total_ms = to_ms(p->total_timeout_s, 30.0);
    c->low_speed_time_s = (to_ms(p->low_speed_time_s, 10.0) + 999) / 1000;
    c->low_speed_bps = p->low_speed_bps > 0 ? p->low_speed_bps : 256;
    c->max_body = p->max_body ? p->max_body : (size_t)8 << 20;
    c->n_connections = p->n_connections;
    c->abort_flag = p->abort_flag;
    c->easy[0] = curl_easy_init();
    c->easy[1] = curl_easy_init();
    if (!c->easy[0] || !c->easy[1])
        goto nomem;
    if (c->ca_file) {
        int rc = load_ca(c, err);
        if (rc) {
            http_close(c);
            return rc;
        }
    }
    *out = c;
    return PLUMB_OK;
nomem:
    http_close(c);
    return plumb_err(err, PLUMB_ENOMEM, "http: out of memory");
}

void http_close(HttpClient *c)
{
    if (!c)
        return;
    for (int i = 0; i < 2; i++)
        if (c->easy[i])
            curl_easy_cleanup(c->easy[i]);
    for (size_t i = 0; i < c->n_hosts; i++)
        free(c->hosts[i].host);
    free(c->hosts);
    for (size_t i = 0; i < c->n_robots; i++) {
        free(c->robots[i].origin);
        robots_free(c->robots[i].r);
        free(c->robots[i].why);
    }
    free(c->robots);
    free(c->user_agent);
    free(c->proxy);
    free(c->ca_file);
    free(c->ca_pem);
    free(c);
}

void http_response_free(HttpResponse *r)
{
    if (!r)
        return;
    free(r->body);
    free(r->content_type);
    free(r->final_url);
    memset(r, 0, sizeof *r);
    r->retry_after_s = -1;
}

/* ---------------------------------------------------------------- callbacks */

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    Xfer *x = user;
    size_t n = size * nmemb;
    int rc;
    if (x->truncated)
        return 0;
    rc = buf_append_trunc(&x->body, data, n);
    if (rc < 0)
        return 0; /* out of memory: CURLE_WRITE_ERROR, body not marked truncated */
    if (rc == 1) {
        x->truncated = 1;
        return 0; /* stops the transfer: nothing more is read or decoded */
    }
    return n;
}

static int header_is(const char *line, size_t n, const char *name, const char **value,
                     size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(line, name, k) != 0 || line[k] != ':')
        return 0;
    line += k + 1;
    n -= k + 1;
    while (n && (*line == ' ' || *line == '\t'))
        line++, n--;
    while (n && (line[n - 1] == '\r' || line[n - 1] == '\n' || line[n - 1] == ' ' ||
                 line[n - 1] == '\t'))
        n--;
    *value = line;
    *vlen = n;
    return 1;
}

/* Retry-After: delta-seconds or an HTTP date; -1 when unreadable. */
static double parse_retry_after(const char *v, size_t n)
{
    char tmp[128];
    size_t i;
    if (n == 0 || n >= sizeof tmp)
        return -1;
    memcpy(tmp, v, n);
    tmp[n] = 0;
    for (i = 0; i < n && tmp[i] >= '0' && tmp[i] <= '9'; i++)
        ;
    if (i == n) {
        double s = 0;
        for (i = 0; i < n && s < 1e9; i++)
            s = s * 10 + (tmp[i] - '0');
        return s;
    } else {
        time_t t = curl_getdate(tmp, NULL);
        time_t now = time(NULL);
        if (t == (time_t)-1)
            return -1;
        return t > now ? (double)(t - now) : 0.0;
    }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *user)
{
    Xfer *x = user;
    size_t n = size * nmemb;
    const char *v;
    size_t vlen;
    if (n > HTTP_MAX_HEADER_BYTES || x->header_bytes + n > HTTP_MAX_HEADER_BYTES) {
        x->header_overflow = 1;
        return 0;
    }
    x->header_bytes += n;
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0)
        x->retry_after_s = -1; /* a new response (a redirect hop, a 100) */
    else if (header_is(data, n, "retry-after", &v, &vlen))
        x->retry_after_s = parse_retry_after(v, vlen);
    return n;
}

static curl_socket_t on_open_socket(void *user, curlsocktype purpose, struct curl_sockaddr *a)
{
    Xfer *x = user;
    curl_socket_t s;
    (void)purpose;
    if (x->guard) {
        NetguardVerdict v = netguard_sockaddr(&a->addr, a->addrlen);
        if (v != NETGUARD_PUBLIC) {
            if (!x->refused) {
                x->refused = 1;
                x->why = v;
                netguard_format(&a->addr, a->addrlen, x->refused_addr, sizeof x->refused_addr);
            }
            return CURL_SOCKET_BAD;
        }
    }
    s = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (s != CURL_SOCKET_BAD && x->c->n_connections)
        (*x->c->n_connections)++;
    return s;
}

static int on_progress(void *user, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    Xfer *x = user;
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    if (aborted(x->c)) {
        x->aborted = 1;
        return 1;
    }
    return 0;
}

/* ---------------------------------------------------------------- errors */

static int contains(const char *s, const char *needle)
{
    size_t n = strlen(needle);
    for (; *s; s++)
        if (strncasecmp(s, needle, n) == 0)
            return 1;
    return 0;
}

/* Which certificate problem the TLS library reported, from its text
 * (OpenSSL, GnuTLS, mbedTLS and Schannel wordings). */
static const char *tls_reason(const char *eb)
{
    if (contains(eb, "expired") || contains(eb, "BADCERT_EXPIRED") || contains(eb, "not yet valid") ||
        contains(eb, "BADCERT_FUTURE"))
        return "the server's certificate has expired or is not yet valid";
    if (contains(eb, "subject name") || contains(eb, "does not match") ||
        contains(eb, "CN_MISMATCH") || contains(eb, "hostname mismatch") ||
        contains(eb, "not match target host"))
        return "the server's certificate is for another host name";
    if (contains(eb, "unable to get local issuer") || contains(eb, "self-signed") ||
        contains(eb, "self signed") || contains(eb, "NOT_TRUSTED") || contains(eb, "unknown ca") ||
        contains(eb, "issuer certificate") || contains(eb, "untrusted") ||
        contains(eb, "not trusted") || contains(eb, "unknown issuer"))
        return "the server's certificate is signed by an unknown authority";
    return "the server's certificate could not be verified";
}

/* The error for a failed transfer of url; rc is curl's code. */
static int xfer_error(const HttpClient *c, const Xfer *x, const char *url, CURLcode rc,
                      const char *eb, PlumbError *err)
{
    const char *detail = *eb ? eb : curl_easy_strerror(rc);
    if (x->refused)
        return plumb_err(err, PLUMB_EINVAL, "%s: %s is %s; --allow-private allows it", url,
                         x->refused_addr, netguard_reason(x->why));
    if (x->aborted || rc == CURLE_ABORTED_BY_CALLBACK)
        return plumb_err(err, PLUMB_EIO, "%s: interrupted", url);
    if (x->header_overflow)
        return plumb_err(err, PLUMB_EFORMAT, "%s: the response headers exceed %u KiB", url,
                         HTTP_MAX_HEADER_BYTES / 1024);
    switch (rc) {
    case CURLE_UNSUPPORTED_PROTOCOL:
        return plumb_err(err, PLUMB_EINVAL,
                         "%s: redirect refused: only http and https URLs are fetched (%s)", url, detail);
    case CURLE_URL_MALFORMAT:
        return plumb_err(err, PLUMB_EINVAL, "%s: not a valid URL (%s)", url, detail);
    case CURLE_COULDNT_RESOLVE_HOST:
        return plumb_err(err, PLUMB_EIO, "%s: cannot resolve the host name (%s)", url, detail);
    case CURLE_COULDNT_RESOLVE_PROXY:
        return plumb_err(err, PLUMB_EIO, "%s: cannot resolve the proxy %s (%s)", url,
                         c->proxy ? c->proxy : "", detail);
    case CURLE_COULDNT_CONNECT:
        return plumb_err(err, PLUMB_EIO, "%s: cannot connect (%s)", url, detail);
    case CURLE_OPERATION_TIMEDOUT:
        return plumb_err(err, PLUMB_EIO, "%s: timed out (%s)", url, detail);
    case CURLE_TOO_MANY_REDIRECTS:
        return plumb_err(err, PLUMB_EFORMAT, "%s: too many redirects (more than %d)", url,
                         HTTP_MAX_REDIRS);
    case CURLE_PEER_FAILED_VERIFICATION:
        return plumb_err(err, PLUMB_EIO, "%s: TLS: %s (%s)", url, tls_reason(detail), detail);
    case CURLE_SSL_CONNECT_ERROR:
        return plumb_err(err, PLUMB_EIO, "%s: TLS handshake failed (%s)", url, detail);
    case CURLE_SSL_CACERT_BADFILE:
        return plumb_err(err, PLUMB_EIO, "%s: TLS: cannot use the CA certificates %s (%s)", url,
                         c->ca_file ? c->ca_file : "(built-in)", detail);
    case CURLE_GOT_NOTHING:
        return plumb_err(err, PLUMB_EIO, "%s: the server closed the connection without a response",
                         url);
    case CURLE_BAD_CONTENT_ENCODING:
        return plumb_err(err, PLUMB_EFORMAT, "%s: the body cannot be decoded (%s)", url, detail);
    case CURLE_WRITE_ERROR:
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory for the body", url);
    default:
        return plumb_err(err, PLUMB_EIO, "%s: transfer failed: %s", url, detail);
    }
}

/* ---------------------------------------------------------------- URLs */

/* The scheme of url, lower-cased into out; 0 when url has none. */
static int url_scheme(const char *url, char *out, size_t n)
{
    size_t i = 0;
    for (; url[i] && url[i] != ':' && url[i] != '/' && url[i] != '?' && url[i] != '#'; i++) {
        char ch = url[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
              (i > 0 && ((ch >= '0' && ch <= '9') || ch == '+' || ch == '-' || ch == '.'))))
            return 0;
        if (i + 1 >= n)
            return 0;
        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + 32 : ch);
    }
    if (i == 0 || url[i] != ':')
        return 0;
    out[i] = 0;
    return 1;
}

typedef struct UrlParts {
    char *scheme, *host, *port, *path, *query; /* curl_free()d; port and query may be NULL */
} UrlParts;

static void url_parts_free(UrlParts *u)
{
    curl_free(u->scheme);
    curl_free(u->host);
    curl_free(u->port);
    curl_free(u->path);
    curl_free(u->query);
    memset(u, 0, sizeof *u);
}

static int url_split(const char *url, UrlParts *u, PlumbError *err)
{
    CURLU *h = curl_url();
    CURLUcode uc;
    memset(u, 0, sizeof *u);
    if (!h)
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", url);
    uc = curl_url_set(h, CURLUPART_URL, url, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(h, CURLUPART_SCHEME, &u->scheme, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(h, CURLUPART_HOST, &u->host, 0);
    if (uc == CURLUE_OK)
        uc = curl_url_get(h, CURLUPART_PATH, &u->path, 0);
    if (uc == CURLUE_OK && curl_url_get(h, CURLUPART_PORT, &u->port, 0) != CURLUE_OK)
        u->port = NULL; /* none written: the scheme's default */
    if (uc == CURLUE_OK && curl_url_get(h, CURLUPART_QUERY, &u->query, 0) != CURLUE_OK)
        u->query = NULL;
    curl_url_cleanup(h);
    if (uc != CURLUE_OK) {
        url_parts_free(u);
#if LIBCURL_VERSION_NUM >= 0x075000 /* 7.80.0: curl_url_strerror */
        return plumb_err(err, PLUMB_EINVAL, "%s: not a valid URL (%s)", url, curl_url_strerror(uc));
#else
        return plumb_err(err, PLUMB_EINVAL, "%s: not a valid URL", url);
#endif
    }
    return PLUMB_OK;
}

/* ---------------------------------------------------------------- transfers */

/* Wait until host_delay_s has passed since the last request to host. */
static int pace(HttpClient *c, const char *host)
{
    double now = now_s();
    size_t i;
    if (c->host_delay_s <= 0)
        return 0;
    for (i = 0; i < c->n_hosts; i++)
        if (strcasecmp(c->hosts[i].host, host) == 0) {
            double wait = c->hosts[i].last_s + c->host_delay_s - now;
            if (wait > 0)
                return sleep_s(c, wait);
            return 0;
        }
    return 0;
}

static void paced(HttpClient *c, const char *host)
{
    size_t i, oldest = 0;
    char *h;
    if (c->host_delay_s <= 0)
        return;
    for (i = 0; i < c->n_hosts; i++) {
        if (strcasecmp(c->hosts[i].host, host) == 0) {
            c->hosts[i].last_s = now_s();
            return;
        }
        if (c->hosts[i].last_s < c->hosts[oldest].last_s)
            oldest = i;
    }
    h = strdup(host);
    if (!h)
        return; /* pacing is lost for this host, nothing else */
    if (c->n_hosts == HTTP_MAX_HOSTS) {
        free(c->hosts[oldest].host);
        c->hosts[oldest].host = h;
        c->hosts[oldest].last_s = now_s();
        return;
    }
    if (!c->hosts) {
        c->hosts = calloc(HTTP_MAX_HOSTS, sizeof *c->hosts);
        if (!c->hosts) {
            free(h);
            return;
        }
    }
    c->hosts[c->n_hosts].host = h;
    c->hosts[c->n_hosts].last_s = now_s();
    c->n_hosts++;
}

/* Is host an IP literal the guard refuses?  (Only used through a proxy.) */
static int literal_refused(const char *host, Xfer *x)
{
    unsigned char a[16];
    char tmp[64];
    size_t n = strlen(host);
    NetguardVerdict v;
    if (n >= 2 && host[0] == '[' && host[n - 1] == ']' && n - 2 < sizeof tmp) {
        memcpy(tmp, host + 1, n - 2);
        tmp[n - 2] = 0;
        if (inet_pton(AF_INET6, tmp, a) != 1)
            return 0;
        v = netguard_ipv6(a);
    } else if (inet_pton(AF_INET, host, a) == 1) {
        v = netguard_ipv4(a);
    } else {
        return 0;
    }
    if (v == NETGUARD_PUBLIC)
        return 0;
    x->refused = 1;
    x->why = v;
    snprintf(x->refused_addr, sizeof x->refused_addr, "%s", host);
    return 1;
}

/* One transfer of url (redirects followed) into x; timeout_ms is its total
 * time.  On a curl failure the error is set and *rc_out holds curl's code. */
static int perform(HttpClient *c, const char *url, int guard, long timeout_ms, Xfer *x,
                   long *status, CURLcode *rc_out, PlumbError *err)
{
    CURL *e = c->easy[guard ? 1 : 0];
    char eb[CURL_ERROR_SIZE];
    CURLcode rc;

    x->c = c;
    x->guard = guard && !c->proxy;
    x->retry_after_s = -1;
    eb[0] = 0;
    *status = 0;
    *rc_out = CURLE_OK;
    curl_easy_reset(e);
#define SET(opt, val)                                                                              \
    do {                                                                                           \
        rc = curl_easy_setopt(e, opt, val);                                                        \
        if (rc != CURLE_OK)                                                                        \
            goto setopt_failed;                                                                    \
    } while (0)
    SET(CURLOPT_ERRORBUFFER, eb);
    SET(CURLOPT_URL, url);
    SET(CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85.0: the _STR forms */
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    SET(CURLOPT_REDIR_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    SET(CURLOPT_FOLLOWLOCATION, 1L);
    SET(CURLOPT_MAXREDIRS, (long)HTTP_MAX_REDIRS);
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (c->ca_pem) {
#if LIBCURL_VERSION_NUM >= 0x074d00 /* 7.77.0: CURLOPT_CAINFO_BLOB */
        struct curl_blob blob = { c->ca_pem, c->ca_len, CURL_BLOB_NOCOPY };
        rc = curl_easy_setopt(e, CURLOPT_CAINFO_BLOB, &blob);
        if (rc == CURLE_NOT_BUILT_IN || rc == CURLE_UNKNOWN_OPTION)
            rc = curl_easy_setopt(e, CURLOPT_CAINFO, c->ca_file);
        if (rc != CURLE_OK)
            goto setopt_failed;
#else
        SET(CURLOPT_CAINFO, c->ca_file);
#endif
    }
    SET(CURLOPT_ACCEPT_ENCODING, "");
    SET(CURLOPT_USERAGENT, c->user_agent);
    SET(CURLOPT_PROXY, c->proxy ? c->proxy : "");
    SET(CURLOPT_CONNECTTIMEOUT_MS, c->connect_ms);
    SET(CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    SET(CURLOPT_LOW_SPEED_LIMIT, c->low_speed_bps);
    SET(CURLOPT_LOW_SPEED_TIME, c->low_speed_time_s);
    SET(CURLOPT_WRITEFUNCTION, on_body);
    SET(CURLOPT_WRITEDATA, x);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_HEADERDATA, x);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SET(CURLOPT_OPENSOCKETDATA, x);
    SET(CURLOPT_NOPROGRESS, 0L);
    SET(CURLOPT_XFERINFOFUNCTION, on_progress);
    SET(CURLOPT_XFERINFODATA, x);
#undef SET
    if (guard && c->proxy) {
        UrlParts u;
        int refused;
        if (url_split(url, &u, err))
            return err ? err->code : PLUMB_EINVAL;
        refused = literal_refused(u.host, x);
        url_parts_free(&u);
        if (refused)
            return xfer_error(c, x, url, CURLE_COULDNT_CONNECT, "", err);
    }
    rc = curl_easy_perform(e);
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, status);
    if (rc == CURLE_WRITE_ERROR && x->truncated)
        rc = CURLE_OK; /* cut at max_body: the page so far is the answer */
    *rc_out = rc;
    if (rc != CURLE_OK || x->refused)
        return xfer_error(c, x, url, rc, eb, err);
    return PLUMB_OK;
setopt_failed:
    return plumb_err(err, PLUMB_EUNSUPPORTED, "%s: this libcurl refuses an option (%s)", url,
                     curl_easy_strerror(rc));
}

/* robots.txt of origin, fetched once per client.  Returns the entry, or
 * NULL with err set when the fetch failed in a way that also stops the
 * page (the guard, DNS, connect, TLS): that error is then the page's. */
static const RobotsEntry *robots_for(HttpClient *c, const char *origin, const char *host,
                                     const char *page_url, int guard, PlumbError *err)
{
    RobotsEntry ent = { 0 };
    Xfer x = { 0 };
    PlumbError ferr = { 0 };
    char *url = NULL;
    long status = 0;
    CURLcode crc;
    int rc;

    for (size_t i = 0; i < c->n_robots; i++)
        if (strcmp(c->robots[i].origin, origin) == 0)
            return &c->robots[i];
    if (asprintf(&url, "%s/robots.txt", origin) < 0) {
        plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", page_url);
        return NULL;
    }
    x.body.cap = ROBOTS_MAX_BYTES;
    if (pace(c, host)) {
        free(url);
        plumb_err(err, PLUMB_EIO, "%s: interrupted", page_url);
        return NULL;
    }
    rc = perform(c, url, guard, c->total_ms, &x, &status, &crc, &ferr);
    free(url);
    if (rc != PLUMB_OK) {
        buf_free(&x.body);
        if (x.refused || x.aborted || crc == CURLE_COULDNT_RESOLVE_HOST ||
            crc == CURLE_COULDNT_CONNECT || crc == CURLE_PEER_FAILED_VERIFICATION ||
            crc == CURLE_SSL_CONNECT_ERROR || crc == CURLE_SSL_CACERT_BADFILE ||
            crc == CURLE_COULDNT_RESOLVE_PROXY ||
            rc == PLUMB_EUNSUPPORTED) {
            /* Report it for the page: ".../robots.txt: X" becomes "page: X". */
            const char *m = strstr(ferr.msg, "/robots.txt: ");
            plumb_err(err, ferr.code, "%s: %s", page_url, m ? m + 13 : ferr.msg);
            return NULL;
        }
        if (crc == CURLE_TOO_MANY_REDIRECTS)
            status = 404; /* RFC 9309 2.3.1.2: past 5 redirects, "unavailable" */
        else {
            status = 0;
            ent.why = strdup(ferr.msg);
        }
    }
    paced(c, host);
    if (robots_from_status(&ent.r, status, x.body.p, x.body.len, ROBOTS_AGENT, err) != PLUMB_OK)
        goto fail;
    buf_free(&x.body);
    ent.origin = strdup(origin);
    if (!ent.origin)
        goto nomem;
    if (c->n_robots == HTTP_MAX_ORIGINS) {
        /* Forget the oldest: it is fetched again if needed. */
        free(c->robots[0].origin);
        robots_free(c->robots[0].r);
        free(c->robots[0].why);
        memmove(c->robots, c->robots + 1, (c->n_robots - 1) * sizeof *c->robots);
        c->n_robots--;
    }
    if (!c->robots) {
        c->robots = calloc(HTTP_MAX_ORIGINS, sizeof *c->robots);
        if (!c->robots)
            goto nomem;
    }
    c->robots[c->n_robots] = ent;
    return &c->robots[c->n_robots++];
nomem:
    plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", page_url);
fail:
    buf_free(&x.body);
    free(ent.origin);
    robots_free(ent.r);
    free(ent.why);
    return NULL;
}

int http_get(HttpClient *c, const char *url, unsigned flags, HttpResponse *res, PlumbError *err)
{
    char scheme[16];
    UrlParts u = { 0 };
    Xfer x = { 0 };
    char *origin = NULL;
    int guard, rc;
    double deadline;

    if (res) {
        memset(res, 0, sizeof *res);
        res->retry_after_s = -1;
    }
    if (!c || !url || !res)
        return plumb_err(err, PLUMB_EINVAL, "http_get: no client, URL or response");
    if (strlen(url) > HTTP_MAX_URL)
        return plumb_err(err, PLUMB_EINVAL, "%.64s...: URL longer than %d bytes", url, HTTP_MAX_URL);
    if (!url_scheme(url, scheme, sizeof scheme))
        return plumb_err(err, PLUMB_EINVAL, "%s: not an absolute http or https URL", url);
    if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0)
        return plumb_err(err, PLUMB_EINVAL, "%s: only http and https URLs are fetched, not %s:", url,
                         scheme);
    rc = url_split(url, &u, err);
    if (rc)
        return rc;
    guard = (flags & HTTP_GUARD) && !c->allow_private;

    if ((flags & HTTP_ROBOTS) && !c->no_robots) {
        const RobotsEntry *re;
        const char *rule;
        Buf path = { 0 };
        int ok;
        if (asprintf(&origin, "%s://%s%s%s", u.scheme, u.host, u.port ? ":" : "",
                     u.port ? u.port : "") < 0) {
            rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", url);
            goto done;
        }
        re = robots_for(c, origin, u.host, url, guard, err);
        if (!re) {
            rc = err ? err->code : PLUMB_EIO;
            goto done;
        }
        if (buf_puts(&path, u.path ? u.path : "/") ||
            (u.query && (buf_putc(&path, '?') || buf_puts(&path, u.query)))) {
            buf_free(&path);
            rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", url);
            goto done;
        }
        ok = robots_allowed(re->r, buf_str(&path), &rule);
        buf_free(&path);
        if (!ok) {
            if (re->why)
                rc = plumb_err(err, PLUMB_EINVAL,
                               "%s: disallowed by robots.txt of %s (robots.txt unreachable: %s)", url,
                               origin, re->why);
            else
                rc = plumb_err(err, PLUMB_EINVAL, "%s: disallowed by robots.txt of %s", url, origin);
            goto done;
        }
    }

    deadline = now_s() + (double)c->total_ms / 1000.0; /* robots.txt had its own */
    for (int attempt = 0;; attempt++) {
        long status = 0;
        CURLcode crc;
        double left;
        memset(&x, 0, sizeof x);
        x.body.cap = c->max_body;
        if (pace(c, u.host)) {
            rc = plumb_err(err, PLUMB_EIO, "%s: interrupted", url);
            goto done;
        }
        left = deadline - now_s();
        if (left <= 0) {
            rc = plumb_err(err, PLUMB_EIO, "%s: timed out (no time left of %.0f s)", url,
                           (double)c->total_ms / 1000.0);
            goto done;
        }
        rc = perform(c, url, guard, (long)(left * 1000.0), &x, &status, &crc, err);
        paced(c, u.host);
        if (rc != PLUMB_OK)
            goto done;
        if (attempt == 0 && (status == 429 || status == 503) && x.retry_after_s >= 0 &&
            x.retry_after_s <= HTTP_RETRY_MAX_S && now_s() + x.retry_after_s < deadline) {
            buf_free(&x.body);
            if (sleep_s(c, x.retry_after_s)) {
                rc = plumb_err(err, PLUMB_EIO, "%s: interrupted", url);
                goto done;
            }
            continue;
        }
        {
            CURL *e = c->easy[guard ? 1 : 0];
            char *ct = NULL, *final = NULL;
            curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &ct);
            curl_easy_getinfo(e, CURLINFO_EFFECTIVE_URL, &final);
            res->status = status;
            res->truncated = x.truncated;
            res->retry_after_s = (status == 429 || status == 503) ? x.retry_after_s : -1;
            res->content_type = ct ? strdup(ct) : NULL;
            res->final_url = strdup(final ? final : url);
            res->len = x.body.len;
            res->body = buf_steal(&x.body);
            if (!res->body || !res->final_url || (ct && !res->content_type)) {
                http_response_free(res);
                rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory", url);
                goto done;
            }
        }
        break;
    }
done:
    buf_free(&x.body);
    url_parts_free(&u);
    free(origin);
    return rc;
}

#endif /* PLUMB_HAVE_CURL */
