/*
 * utf8.h — UTF-8 encoding and decoding, the one statement of it in the tree.
 *
 * `static inline` and dependency-free, so the library, the tools and the
 * tests share it without linking anything.  Valid UTF-8 here is RFC 3629's:
 * no overlong forms, no surrogates (U+D800..U+DFFF), nothing past U+10FFFF.
 */
#ifndef PLUMB_UTF8_H
#define PLUMB_UTF8_H

#include <stddef.h>
#include <stdint.h>

#define UTF8_REPLACEMENT 0xFFFDu /* U+FFFD, written for broken sequences */

/* Write code point cp (<= U+10FFFF) to out[0..4); returns its byte count. */
static inline size_t utf8_encode(uint32_t cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Length of the sequence lead byte c starts (1..4); 0 for a byte that cannot
 * start one (continuation bytes, C0, C1, F5..FF). */
static inline int utf8_lead_len(unsigned char c)
{
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        return 2;
    if (c >= 0xE0 && c <= 0xEF)
        return 3;
    if (c >= 0xF0 && c <= 0xF4)
        return 4;
    return 0;
}

/* May c follow the n bytes seq[0..n) of a sequence?  The second byte's range
 * is what excludes overlong forms, surrogates and values past U+10FFFF. */
static inline int utf8_next_ok(const unsigned char *seq, int n, unsigned char c)
{
    if ((c & 0xC0) != 0x80)
        return 0;
    if (n == 1) {
        switch (seq[0]) {
        case 0xE0: return c >= 0xA0;
        case 0xED: return c <= 0x9F;
        case 0xF0: return c >= 0x90;
        case 0xF4: return c <= 0x8F;
        default: return 1;
        }
    }
    return 1;
}

/* Length of the valid sequence at s (n >= 1 bytes available) with its code
 * point in *cp, or 0 when s does not start one. */
static inline size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    int len = utf8_lead_len(s[0]);
    uint32_t v;
    if (len == 0 || (size_t)len > n)
        return 0;
    if (len == 1) {
        *cp = s[0];
        return 1;
    }
    v = s[0] & (0x7Fu >> len);
    for (int i = 1; i < len; i++) {
        if (!utf8_next_ok(s, i, s[i]))
            return 0;
        v = (v << 6) | (s[i] & 0x3Fu);
    }
    *cp = v;
    return (size_t)len;
}

#endif
