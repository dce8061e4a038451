/*
 * netguard.h — the address guard: which socket addresses a model-chosen URL
 * may connect to.
 *
 * A pure classifier with no state and no I/O: it looks at the address that
 * is about to be connected (http.c calls it from libcurl's open-socket
 * callback, so redirects, DNS rebinding and numeric host tricks such as
 * http://2130706433/ all end up here as the real sockaddr) and says whether
 * it is public.  Refused: IPv4 0/8, 10/8, 100.64/10, 127/8, 169.254/16,
 * 172.16/12, 192.0.0/24, 192.0.2/24, 192.168/16, 198.18/15, 198.51.100/24,
 * 203.0.113/24, 224/4, 240/4 (255.255.255.255 included); IPv6 ::, ::1,
 * fe80::/10, fc00::/7, ff00::/8, 2001:db8::/32, 64:ff9b:1::/48 (local-use
 * NAT64), 2001::/32 (Teredo) and 100::/64 (discard).  IPv6 forms that carry
 * an IPv4 address — ::ffff:a.b.c.d (mapped), ::ffff:0:a.b.c.d (translated),
 * ::a.b.c.d (compatible), 64:ff9b::a.b.c.d (NAT64) and 2002:aabb:ccdd::/48
 * (6to4) — are judged by that IPv4 address.  Families other than AF_INET and
 * AF_INET6 are refused.
 */
#ifndef PLUMB_AGENT_NETGUARD_H
#define PLUMB_AGENT_NETGUARD_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

typedef enum NetguardVerdict {
    NETGUARD_PUBLIC = 0,    /* may be connected */
    NETGUARD_UNSPECIFIED,   /* 0/8, :: */
    NETGUARD_LOOPBACK,      /* 127/8, ::1 */
    NETGUARD_PRIVATE,       /* 10/8, 172.16/12, 192.168/16, fc00::/7 */
    NETGUARD_SHARED,        /* 100.64/10 (carrier-grade NAT) */
    NETGUARD_LINK_LOCAL,    /* 169.254/16, fe80::/10 */
    NETGUARD_SPECIAL,       /* 192.0.0/24, 100::/64, 2001::/32, 64:ff9b:1::/48 */
    NETGUARD_DOCUMENTATION, /* 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32 */
    NETGUARD_BENCHMARK,     /* 198.18/15 */
    NETGUARD_MULTICAST,     /* 224/4, ff00::/8 */
    NETGUARD_RESERVED,      /* 240/4, 255.255.255.255 */
    NETGUARD_FAMILY,        /* not an IPv4 or IPv6 address */
} NetguardVerdict;

/* Classify an IPv4 address given as 4 bytes in network order. */
NetguardVerdict netguard_ipv4(const uint8_t a[4]);
/* Classify an IPv6 address given as 16 bytes in network order. */
NetguardVerdict netguard_ipv6(const uint8_t a[16]);
/* Classify a socket address of len bytes (AF_INET or AF_INET6). */
NetguardVerdict netguard_sockaddr(const struct sockaddr *sa, size_t len);

/* What the verdict means, for messages: "a loopback address". */
const char *netguard_reason(NetguardVerdict v);

/* The address as text ("127.0.0.1", "::1") into out[n]; "?" when it cannot
 * be printed.  Returns out. */
char *netguard_format(const struct sockaddr *sa, size_t len, char *out, size_t n);

#endif
