/*
 * http.h — fetching what the model asks for, over libcurl, safely.
 *
 * Every request the model causes goes through here: http and https only,
 * certificate verification always on (ca_file adds a CA), at most 5
 * redirects, connect/total/low-speed timeouts, a cap on the decoded body
 * (a compression bomb stops early), an honest User-Agent, one request per
 * host per host_delay_s, Retry-After honoured, robots.txt obeyed.  With
 * HTTP_GUARD every socket the request opens (redirects included) is checked
 * against the address guard (netguard.h) on the address actually connected.
 *
 * Built without libcurl, http_open fails with PLUMB_EUNSUPPORTED.
 * An HttpClient is used by one thread at a time.
 *
 * Guarded and unguarded requests use separate connection pools, so a
 * guarded request never reuses a connection that the guard did not check.
 * A body longer than max_body is returned cut (truncated = 1), not as an
 * error.  With a proxy the guard cannot see the addresses the proxy
 * connects to: it then checks only hosts written as IP addresses, and the
 * proxy's own policy decides the rest.  robots.txt is fetched through the
 * same client and kept per origin for the client's lifetime.
 */
#ifndef PLUMB_AGENT_HTTP_H
#define PLUMB_AGENT_HTTP_H

#include <stddef.h>

#include "err.h"

typedef struct HttpClient HttpClient;

/* All zero is a valid default. */
typedef struct HttpParams {
    const char *user_agent;   /* NULL = "plumb/VERSION (+research agent)" */
    const char *ca_file;      /* extra CA certificates (PEM), trusted besides the system's, or NULL */
    const char *proxy;        /* proxy URL, or NULL: direct (http_proxy and the like are not read) */
    int allow_private;        /* HTTP_GUARD checks nothing */
    int no_robots;            /* HTTP_ROBOTS checks nothing */
    double host_delay_s;      /* 0 = 1 s; < 0 = none */
    double connect_timeout_s; /* 0 = 10 */
    double total_timeout_s;   /* one http_get, its Retry-After wait included
                                 (robots.txt has its own); 0 = 30 */
    double low_speed_time_s;  /* abort below low_speed_bps for this long; 0 = 10 (whole seconds) */
    long low_speed_bps;       /* bytes per second; 0 = 256 */
    size_t max_body;          /* decoded bytes; 0 = 8 MiB */
    size_t *n_connections;    /* if set, incremented for every socket opened */
    const volatile int *abort_flag;
} HttpParams;

enum {
    HTTP_GUARD = 1u,  /* a model-chosen URL: refuse private and reserved addresses */
    HTTP_ROBOTS = 2u, /* check the site's robots.txt first */
};

typedef struct HttpResponse {
    long status;          /* HTTP status of the last response */
    char *body;           /* decoded body, NUL-terminated (may hold NUL bytes) */
    size_t len;
    int truncated;        /* the body passed max_body and was cut there */
    char *content_type;   /* the Content-Type header, or NULL */
    char *final_url;      /* after redirects */
    double retry_after_s; /* Retry-After of a 429/503, -1 when absent */
} HttpResponse;

int http_open(HttpClient **out, const HttpParams *p, PlumbError *err);
void http_close(HttpClient *c);

/* GET url.  PLUMB_OK for any HTTP status (the caller reads res->status),
 * and for a body cut at max_body (res->truncated);
 * an error for what stops the transfer: a bad or refused URL, the guard, robots.txt,
 * DNS, TLS (the message names the reason: expired, wrong host, unknown CA),
 * a timeout, too many redirects, headers past 64 KiB.  The message starts
 * with the URL.  A 429 or 503 with a Retry-After of at most 60 s (and
 * within the total timeout) is waited for and retried once.  On error res
 * holds nothing (it is always safe to http_response_free). */
int http_get(HttpClient *c, const char *url, unsigned flags, HttpResponse *res, PlumbError *err);
void http_response_free(HttpResponse *r);

#endif
