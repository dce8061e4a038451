/*
 * robots.h — robots.txt (RFC 9309): parse a file, answer whether a path may
 * be fetched.
 *
 * Rules: groups start with one or more user-agent lines; the groups whose
 * user-agent matches our product token (case-insensitively, on the name up
 * to the first character outside [A-Za-z_-]) are combined, else the `*`
 * groups, else everything is allowed.  Among the matching allow/disallow
 * rules the longest pattern (in octets, after normalisation) wins, and allow
 * wins a tie; `*` matches any run of characters and a final `$` anchors the
 * end.  Patterns and paths are compared after percent-encoding
 * normalisation: octets >= 0x80 are %-encoded, %XX of an unreserved
 * character is decoded, hex digits are upper-cased.  An empty Disallow
 * means nothing; /robots.txt itself is always allowed.  Only the first
 * ROBOTS_MAX_BYTES are read (the RFC's minimum); a partial last line there
 * is dropped.
 *
 * By fetch outcome (robots_from_status): 2xx → the parsed file; 4xx other
 * than 429 → allow all; 429, 5xx and an unreachable server → disallow all.
 * A Robots is immutable after parsing and may be shared between threads.
 */
#ifndef PLUMB_AGENT_ROBOTS_H
#define PLUMB_AGENT_ROBOTS_H

#include <stddef.h>

#include "err.h"

#define ROBOTS_MAX_BYTES (500u * 1024u) /* bytes of a file that are read */

typedef struct Robots Robots;

/* Parse text[0..len) for the product token agent ("plumb").  Only fails
 * when out of memory (PLUMB_ENOMEM): any text is a valid robots.txt. */
int robots_parse(Robots **out, const char *text, size_t len, const char *agent, PlumbError *err);

/* A Robots for a fetch outcome: the status of the robots.txt response
 * (0 = unreachable).  For a 2xx, parses text like robots_parse. */
int robots_from_status(Robots **out, long status, const char *text, size_t len, const char *agent,
                       PlumbError *err);

/* 1 when path (the URL's path and query, "/a/b?q"; "" means "/") may be
 * fetched, 0 when not.  *rule, if rule is set, receives the deciding
 * pattern ("" when no rule decided) — valid while r lives. */
int robots_allowed(const Robots *r, const char *path, const char **rule);

/* Number of rules that apply to our agent; -1 for allow-all, -2 for
 * disallow-all made by robots_from_status. */
int robots_rule_count(const Robots *r);

void robots_free(Robots *r);

#endif
