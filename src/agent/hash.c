/*
 * hash.c — SHA-256 through mbedTLS (2.x names with _ret, 3.x without).
 */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <mbedtls/sha256.h>
#include <mbedtls/version.h>

#include "hash.h"

_Static_assert(sizeof(mbedtls_sha256_context) <= sizeof(((Sha256 *)0)->ctx),
               "Sha256.ctx too small for mbedtls_sha256_context");

#if MBEDTLS_VERSION_MAJOR >= 3
#define SHA_START(c) mbedtls_sha256_starts((c), 0)
#define SHA_UPDATE(c, d, n) mbedtls_sha256_update((c), (d), (n))
#define SHA_FINISH(c, o) mbedtls_sha256_finish((c), (o))
#else
#define SHA_START(c) mbedtls_sha256_starts_ret((c), 0)
#define SHA_UPDATE(c, d, n) mbedtls_sha256_update_ret((c), (d), (n))
#define SHA_FINISH(c, o) mbedtls_sha256_finish_ret((c), (o))
#endif

static void to_hex(const unsigned char d[32], char hex[SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    int i;
    for (i = 0; i < 32; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[SHA256_HEX_LEN] = 0;
}

void sha256_begin(Sha256 *h)
{
    mbedtls_sha256_context *c = (mbedtls_sha256_context *)(void *)h->ctx;
    mbedtls_sha256_init(c);
    SHA_START(c);
}

void sha256_update(Sha256 *h, const void *data, size_t len)
{
    SHA_UPDATE((mbedtls_sha256_context *)(void *)h->ctx, data, len);
}

void sha256_end_hex(Sha256 *h, char hex[SHA256_HEX_LEN + 1])
{
    unsigned char d[32];
    mbedtls_sha256_context *c = (mbedtls_sha256_context *)(void *)h->ctx;
    SHA_FINISH(c, d);
    mbedtls_sha256_free(c);
    to_hex(d, hex);
}

void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1])
{
    Sha256 h;
    sha256_begin(&h);
    sha256_update(&h, data, len);
    sha256_end_hex(&h, hex);
}

int sha256_fd_hex(int fd, uint64_t max_bytes, char hex[SHA256_HEX_LEN + 1])
{
    Sha256 h;
    char buf[65536];
    uint64_t total = 0;
    sha256_begin(&h);
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (max_bytes && (total += (uint64_t)n) > max_bytes)) {
            int e = errno;
            sha256_end_hex(&h, hex);
            if (n == 0)
                return 0;
            errno = e;
            return n < 0 ? -1 : 1;
        }
        sha256_update(&h, buf, (size_t)n);
    }
}
