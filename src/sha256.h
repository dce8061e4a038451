/*
 * sha256.h — SHA-256 (FIPS 180-4) of a byte string, for the engine's own
 * fingerprints (the model a key/value cache file was made with).
 * Library-internal.
 *
 * The engine links no cryptographic library (mbedTLS is an optional
 * dependency of the agent only), so this small implementation lives here.
 * It is a fingerprint, not a defence: nothing relies on it resisting a
 * forger.  A PlumbSha256 is a value the caller owns; init, any number of
 * updates, then final, which leaves the context to be initialised again.
 */
#ifndef PLUMB_SHA256_H
#define PLUMB_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define PLUMB_SHA256_BYTES 32 /* digest size */

typedef struct PlumbSha256 {
    uint32_t h[8];           /* chaining state */
    uint64_t n_bytes;        /* bytes hashed so far */
    unsigned char block[64]; /* pending input, n_bytes % 64 bytes of it */
} PlumbSha256;

void plumb_sha256_init(PlumbSha256 *c);
void plumb_sha256_update(PlumbSha256 *c, const void *data, size_t len);
void plumb_sha256_final(PlumbSha256 *c, unsigned char out[PLUMB_SHA256_BYTES]);
/* The digest of data[0..len) in one call. */
void plumb_sha256(const void *data, size_t len, unsigned char out[PLUMB_SHA256_BYTES]);

#endif
