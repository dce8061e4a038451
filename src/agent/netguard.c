/*
 * netguard.c — the address guard (see netguard.h).
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "netguard.h"

/* Does the 32-bit address x lie in net/bits? */
static int in4(uint32_t x, uint32_t net, unsigned bits)
{
    uint32_t mask = bits ? 0xffffffffu << (32 - bits) : 0;
    return (x & mask) == (net & mask);
}

NetguardVerdict netguard_ipv4(const uint8_t a[4])
{
    uint32_t x = (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3];

    if (in4(x, 0x00000000u, 8))
        return NETGUARD_UNSPECIFIED;
    if (in4(x, 0x7f000000u, 8))
        return NETGUARD_LOOPBACK;
    if (in4(x, 0x0a000000u, 8) || in4(x, 0xac100000u, 12) || in4(x, 0xc0a80000u, 16))
        return NETGUARD_PRIVATE;
    if (in4(x, 0x64400000u, 10))
        return NETGUARD_SHARED;
    if (in4(x, 0xa9fe0000u, 16))
        return NETGUARD_LINK_LOCAL;
    if (in4(x, 0xc0000000u, 24))
        return NETGUARD_SPECIAL;
    if (in4(x, 0xc0000200u, 24) || in4(x, 0xc6336400u, 24) || in4(x, 0xcb007100u, 24))
        return NETGUARD_DOCUMENTATION;
    if (in4(x, 0xc6120000u, 15))
        return NETGUARD_BENCHMARK;
    if (in4(x, 0xe0000000u, 4))
        return NETGUARD_MULTICAST;
    if (in4(x, 0xf0000000u, 4)) /* 255.255.255.255 is inside 240/4 */
        return NETGUARD_RESERVED;
    return NETGUARD_PUBLIC;
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

NetguardVerdict netguard_ipv6(const uint8_t a[16])
{
    static const uint8_t nat64[12] = { 0x00, 0x64, 0xff, 0x9b };
    static const uint8_t nat64_local[6] = { 0x00, 0x64, 0xff, 0x9b, 0x00, 0x01 };
    static const uint8_t discard[8] = { 0x01, 0x00 };
    static const uint8_t teredo[4] = { 0x20, 0x01, 0x00, 0x00 };
    static const uint8_t doc[4] = { 0x20, 0x01, 0x0d, 0xb8 };

    if (all_zero(a, 15)) /* :: and ::1 before the IPv4-compatible form */
        return a[15] == 0 ? NETGUARD_UNSPECIFIED : a[15] == 1 ? NETGUARD_LOOPBACK
                                                              : netguard_ipv4(a + 12);
    /* IPv4 inside IPv6: ::a.b.c.d, ::ffff:a.b.c.d, ::ffff:0:a.b.c.d, 64:ff9b::a.b.c.d */
    if (all_zero(a, 12) || (all_zero(a, 10) && a[10] == 0xff && a[11] == 0xff) ||
        (all_zero(a, 8) && a[8] == 0xff && a[9] == 0xff && a[10] == 0 && a[11] == 0) ||
        memcmp(a, nat64, 12) == 0)
        return netguard_ipv4(a + 12);
    if (a[0] == 0x20 && a[1] == 0x02) /* 6to4: 2002:aabb:ccdd::/48 */
        return netguard_ipv4(a + 2);
    if (memcmp(a, nat64_local, 6) == 0 || memcmp(a, discard, 8) == 0 || memcmp(a, teredo, 4) == 0)
        return NETGUARD_SPECIAL;
    if (memcmp(a, doc, 4) == 0)
        return NETGUARD_DOCUMENTATION;
    if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
        return NETGUARD_LINK_LOCAL;
    if ((a[0] & 0xfe) == 0xfc)
        return NETGUARD_PRIVATE;
    if (a[0] == 0xff)
        return NETGUARD_MULTICAST;
    return NETGUARD_PUBLIC;
}

NetguardVerdict netguard_sockaddr(const struct sockaddr *sa, size_t len)
{
    if (!sa || len < sizeof sa->sa_family)
        return NETGUARD_FAMILY;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        return netguard_ipv4((const uint8_t *)&in.sin_addr);
    }
    if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        return netguard_ipv6(in6.sin6_addr.s6_addr);
    }
    return NETGUARD_FAMILY;
}

const char *netguard_reason(NetguardVerdict v)
{
    switch (v) {
    case NETGUARD_PUBLIC: return "a public address";
    case NETGUARD_UNSPECIFIED: return "an unspecified (\"this network\") address";
    case NETGUARD_LOOPBACK: return "a loopback address";
    case NETGUARD_PRIVATE: return "a private network address";
    case NETGUARD_SHARED: return "a carrier-grade NAT (shared) address";
    case NETGUARD_LINK_LOCAL: return "a link-local address";
    case NETGUARD_SPECIAL: return "a special-purpose address";
    case NETGUARD_DOCUMENTATION: return "a documentation address";
    case NETGUARD_BENCHMARK: return "a benchmarking address";
    case NETGUARD_MULTICAST: return "a multicast address";
    case NETGUARD_RESERVED: return "a reserved address";
    case NETGUARD_FAMILY: return "not an IPv4 or IPv6 address";
    }
    return "an unknown address";
}

char *netguard_format(const struct sockaddr *sa, size_t len, char *out, size_t n)
{
    if (!out || n == 0)
        return out;
    snprintf(out, n, "?");
    if (!sa || len < sizeof sa->sa_family)
        return out;
    if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        struct sockaddr_in in;
        memcpy(&in, sa, sizeof in);
        if (!inet_ntop(AF_INET, &in.sin_addr, out, (socklen_t)n))
            snprintf(out, n, "?");
    } else if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
        struct sockaddr_in6 in6;
        memcpy(&in6, sa, sizeof in6);
        if (!inet_ntop(AF_INET6, &in6.sin6_addr, out, (socklen_t)n))
            snprintf(out, n, "?");
    }
    return out;
}
