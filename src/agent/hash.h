/*
 * hash.h — SHA-256 of a byte string as 64 lowercase hex digits (mbedTLS).
 * Used for the pages a run fetched, the cache's keys and the index's files.
 */
#ifndef PLUMB_AGENT_HASH_H
#define PLUMB_AGENT_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_HEX_LEN 64

/* hex gets 64 digits and a NUL. */
void sha256_hex(const void *data, size_t len, char hex[SHA256_HEX_LEN + 1]);

/* Incremental form, for files read in pieces. */
typedef struct Sha256 {
    _Alignas(16) unsigned char ctx[256]; /* mbedtls_sha256_context, kept opaque here */
} Sha256;
void sha256_begin(Sha256 *h);
void sha256_update(Sha256 *h, const void *data, size_t len);
void sha256_end_hex(Sha256 *h, char hex[SHA256_HEX_LEN + 1]);

/* Hash what is left to read of fd (retrying EINTR).  0 and hex set; -1 on a
 * read error (errno says which); 1 when more than max_bytes (0: no limit)
 * were there.  fd stays open. */
int sha256_fd_hex(int fd, uint64_t max_bytes, char hex[SHA256_HEX_LEN + 1]);

#endif
