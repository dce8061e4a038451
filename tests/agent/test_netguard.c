/*
 * test_netguard.c — the address guard on a table of addresses: every range
 * netguard.h lists, at its first and last address and just outside, the
 * IPv6 forms that carry an IPv4 address, and sockaddr handling.
 */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "netguard.h"
#include "../testlib.h"

#define PUB NETGUARD_PUBLIC

static const struct {
    const char *addr;
    NetguardVerdict want;
} cases[] = {
    /* IPv4: each range at its edges, and the neighbours outside it */
    { "0.0.0.0", NETGUARD_UNSPECIFIED },
    { "0.255.255.255", NETGUARD_UNSPECIFIED },
    { "1.0.0.0", PUB },
    { "1.1.1.1", PUB },
    { "8.8.8.8", PUB },
    { "9.255.255.255", PUB },
    { "10.0.0.0", NETGUARD_PRIVATE },
    { "10.255.255.255", NETGUARD_PRIVATE },
    { "11.0.0.0", PUB },
    { "100.63.255.255", PUB },
    { "100.64.0.0", NETGUARD_SHARED },
    { "100.127.255.255", NETGUARD_SHARED },
    { "100.128.0.0", PUB },
    { "126.255.255.255", PUB },
    { "127.0.0.1", NETGUARD_LOOPBACK },
    { "127.255.255.254", NETGUARD_LOOPBACK },
    { "128.0.0.0", PUB },
    { "169.253.255.255", PUB },
    { "169.254.0.0", NETGUARD_LINK_LOCAL },
    { "169.254.169.254", NETGUARD_LINK_LOCAL }, /* cloud metadata */
    { "169.255.0.0", PUB },
    { "172.15.255.255", PUB },
    { "172.16.0.0", NETGUARD_PRIVATE },
    { "172.31.255.255", NETGUARD_PRIVATE },
    { "172.32.0.0", PUB },
    { "191.255.255.255", PUB },
    { "192.0.0.0", NETGUARD_SPECIAL },
    { "192.0.0.255", NETGUARD_SPECIAL },
    { "192.0.1.0", PUB },
    { "192.0.2.0", NETGUARD_DOCUMENTATION },
    { "192.0.2.255", NETGUARD_DOCUMENTATION },
    { "192.0.3.0", PUB },
    { "192.167.255.255", PUB },
    { "192.168.0.0", NETGUARD_PRIVATE },
    { "192.168.255.255", NETGUARD_PRIVATE },
    { "192.169.0.0", PUB },
    { "198.17.255.255", PUB },
    { "198.18.0.0", NETGUARD_BENCHMARK },
    { "198.19.255.255", NETGUARD_BENCHMARK },
    { "198.20.0.0", PUB },
    { "198.51.99.255", PUB },
    { "198.51.100.0", NETGUARD_DOCUMENTATION },
    { "198.51.100.255", NETGUARD_DOCUMENTATION },
    { "198.51.101.0", PUB },
    { "203.0.112.255", PUB },
    { "203.0.113.0", NETGUARD_DOCUMENTATION },
    { "203.0.113.255", NETGUARD_DOCUMENTATION },
    { "203.0.114.0", PUB },
    { "223.255.255.255", PUB },
    { "224.0.0.0", NETGUARD_MULTICAST },
    { "239.255.255.255", NETGUARD_MULTICAST },
    { "240.0.0.0", NETGUARD_RESERVED },
    { "255.255.255.254", NETGUARD_RESERVED },
    { "255.255.255.255", NETGUARD_RESERVED },
    /* IPv6 */
    { "::", NETGUARD_UNSPECIFIED },
    { "::1", NETGUARD_LOOPBACK },
    { "::2", NETGUARD_UNSPECIFIED }, /* IPv4-compatible 0.0.0.2 */
    { "2606:4700:4700::1111", PUB },
    { "2a00:1450:4001:80b::200e", PUB },
    { "fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PUB },
    { "fe80::", NETGUARD_LINK_LOCAL },
    { "fe80::1", NETGUARD_LINK_LOCAL },
    { "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_LINK_LOCAL },
    { "fec0::1", PUB }, /* deprecated site-local: not in the list */
    { "fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", PUB },
    { "fc00::", NETGUARD_PRIVATE },
    { "fd12:3456:789a::1", NETGUARD_PRIVATE },
    { "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_PRIVATE },
    { "ff00::", NETGUARD_MULTICAST },
    { "ff02::1", NETGUARD_MULTICAST },
    { "2001:db8::", NETGUARD_DOCUMENTATION },
    { "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", NETGUARD_DOCUMENTATION },
    { "2001:db9::1", PUB },
    { "2001::1", NETGUARD_SPECIAL },        /* Teredo */
    { "100::1", NETGUARD_SPECIAL },         /* discard */
    { "64:ff9b:1::1", NETGUARD_SPECIAL },   /* local-use NAT64 */
    /* IPv4 inside IPv6: judged by the IPv4 address */
    { "::ffff:127.0.0.1", NETGUARD_LOOPBACK },
    { "::ffff:7f00:1", NETGUARD_LOOPBACK },
    { "::ffff:10.1.2.3", NETGUARD_PRIVATE },
    { "::ffff:169.254.169.254", NETGUARD_LINK_LOCAL },
    { "::ffff:8.8.8.8", PUB },
    { "::ffff:0:127.0.0.1", NETGUARD_LOOPBACK }, /* IPv4-translated */
    { "::ffff:0:8.8.8.8", PUB },
    { "::127.0.0.1", NETGUARD_LOOPBACK },        /* IPv4-compatible */
    { "::192.168.1.1", NETGUARD_PRIVATE },
    { "::8.8.8.8", PUB },
    { "64:ff9b::127.0.0.1", NETGUARD_LOOPBACK }, /* NAT64 */
    { "64:ff9b::10.0.0.1", NETGUARD_PRIVATE },
    { "64:ff9b::8.8.8.8", PUB },
    { "64:ff9b::c000:201", NETGUARD_DOCUMENTATION },
    { "2002:7f00:1::", NETGUARD_LOOPBACK },      /* 6to4 of 127.0.0.1 */
    { "2002:c0a8:101::1", NETGUARD_PRIVATE },
    { "2002:808:808::1", PUB },
};

static void test_table(void)
{
    size_t n = sizeof cases / sizeof cases[0];
    CHECK(n >= 40, "only %zu cases", n);
    for (size_t i = 0; i < n; i++) {
        unsigned char a[16];
        NetguardVerdict got;
        if (strchr(cases[i].addr, ':')) {
            CHECK(inet_pton(AF_INET6, cases[i].addr, a) == 1, "bad test address %s", cases[i].addr);
            got = netguard_ipv6(a);
        } else {
            CHECK(inet_pton(AF_INET, cases[i].addr, a) == 1, "bad test address %s", cases[i].addr);
            got = netguard_ipv4(a);
        }
        CHECK(got == cases[i].want, "%s: got %s (%d), want %s (%d)", cases[i].addr,
              netguard_reason(got), (int)got, netguard_reason(cases[i].want), (int)cases[i].want);
    }
}

static void test_sockaddr(void)
{
    struct sockaddr_in in4 = { 0 };
    struct sockaddr_in6 in6 = { 0 };
    struct sockaddr_un_like {
        sa_family_t family;
        char path[32];
    } un = { AF_UNIX, "/tmp/x" };
    char text[64];

    in4.sin_family = AF_INET;
    in4.sin_port = htons(80);
    inet_pton(AF_INET, "127.0.0.1", &in4.sin_addr);
    CHECK(netguard_sockaddr((struct sockaddr *)&in4, sizeof in4) == NETGUARD_LOOPBACK, "v4 sockaddr");
    CHECK(strcmp(netguard_format((struct sockaddr *)&in4, sizeof in4, text, sizeof text),
                 "127.0.0.1") == 0, "format %s", text);
    /* A sockaddr shorter than its family needs is refused, not read past. */
    CHECK(netguard_sockaddr((struct sockaddr *)&in4, 4) == NETGUARD_FAMILY, "short v4 sockaddr");
    inet_pton(AF_INET, "93.184.216.34", &in4.sin_addr);
    CHECK(netguard_sockaddr((struct sockaddr *)&in4, sizeof in4) == NETGUARD_PUBLIC, "public v4");

    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:192.168.0.1", &in6.sin6_addr);
    CHECK(netguard_sockaddr((struct sockaddr *)&in6, sizeof in6) == NETGUARD_PRIVATE, "mapped v6");
    CHECK(strcmp(netguard_format((struct sockaddr *)&in6, sizeof in6, text, sizeof text),
                 "::ffff:192.168.0.1") == 0, "format %s", text);
    CHECK(netguard_sockaddr((struct sockaddr *)&in6, sizeof in6 - 1) == NETGUARD_FAMILY, "short v6");

    CHECK(netguard_sockaddr((struct sockaddr *)&un, sizeof un) == NETGUARD_FAMILY, "AF_UNIX");
    CHECK(netguard_sockaddr(NULL, 0) == NETGUARD_FAMILY, "NULL");
    CHECK(strcmp(netguard_format(NULL, 0, text, sizeof text), "?") == 0, "format NULL");
    CHECK(strcmp(netguard_reason(NETGUARD_LOOPBACK), "a loopback address") == 0, "reason");
}

int main(void)
{
    test_table();
    test_sockaddr();
    return test_done("test_netguard");
}
