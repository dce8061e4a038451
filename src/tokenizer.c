/*
 * tokenizer.c — Qwen2/Qwen3 byte-level BPE (see tokenizer.h).
 *
 * The behaviour follows the model's own tokenizer (Hugging Face tokenizers
 * with its tokenizer.json: NFC normaliser, the Qwen2 split pattern, byte-level
 * pre-tokenizer, BPE with merges by rank) rather than llama.cpp, which skips
 * the NFC step.  Encoding, step by step:
 *
 *   1. With PLUMB_TOK_SPECIAL, added tokens (token_type control or
 *      user-defined: <|im_start|>, <think>, ...) are found in the raw bytes,
 *      leftmost first, longest first at one position.  Without the flag they
 *      are ordinary text.
 *   2. Each span between them is cut at bytes that are not valid UTF-8; such a
 *      byte becomes its own byte token (invalid input is never rejected).
 *   3. Each valid run is NFC-normalised (utf8proc) and split by the pattern
 *        (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}
 *        | ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 *      matched by hand in split_next().  Two details follow the reference
 *      implementation the test corpus was made with: the contraction group
 *      is ASCII-only ('S matches, the long s U+017F does not), and \s is the
 *      ECMAScript class (U+FEFF is a space, U+0085 is not).  Character
 *      properties and NFC come from utf8proc, topped up to Unicode 17.0,
 *      the version of the reference (see "newer Unicode" below).
 *   4. Each piece's UTF-8 bytes are the initial symbols (one byte-level token
 *      per byte) and adjacent pairs are merged lowest rank first, leftmost
 *      first on equal rank, with a binary heap over a linked list: O(n log n)
 *      per piece, so long runs of one character stay fast.
 *
 * Decoding is the streaming detokeniser of plumb.h (plumb_detok_push(),
 * plumb_detok_flush()): a token's raw bytes, with the bytes of a character
 * the token leaves unfinished held back in the caller's PlumbDetok.
 *
 * Invariants after plumb_tok_open(): every token text is NUL-terminated in
 * one arena, every token's raw bytes in another; the 256 byte-level symbols
 * are all in the vocabulary; every merge names two tokens of the vocabulary
 * and its concatenation is one too.  The tokenizer owns copies of everything
 * it needs: the PlumbGGUF may be closed afterwards.  It is never written
 * after open, so any number of threads may encode with it at once.
 */
#include "config.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <utf8proc.h>

#include "err.h"
#include "tokenizer.h"
#include "utf8.h"

/* llama.cpp's token types (tokenizer.ggml.token_type). */
enum {
    TT_UNDEFINED = 0,
    TT_NORMAL = 1,
    TT_UNKNOWN = 2,
    TT_CONTROL = 3,
    TT_USER_DEFINED = 4,
    TT_UNUSED = 5,
    TT_BYTE = 6,
};

typedef struct MergeSlot {
    uint64_t key; /* (left id << 32 | right id) + 1; 0 = empty slot */
    int32_t rank; /* index in tokenizer.ggml.merges */
    int32_t id;   /* token the pair merges into */
} MergeSlot;

struct PlumbTokenizer {
    int32_t n_vocab;         /* tokens */
    char *text;              /* token texts, each NUL-terminated */
    uint64_t *text_off;      /* [n_vocab + 1] byte offsets into text */
    char *bytes;             /* raw bytes of each token, concatenated */
    uint64_t *bytes_off;     /* [n_vocab + 1] byte offsets into bytes */
    uint8_t *type;           /* [n_vocab] TT_* */
    int32_t *tok_slots;      /* open addressing: text -> id, -1 = empty */
    uint64_t tok_mask;       /* slots - 1 (power of two) */
    MergeSlot *merge_slots;  /* open addressing: pair -> rank, result */
    uint64_t merge_mask;     /* slots - 1 (power of two) */
    uint64_t n_merges;       /* entries of tokenizer.ggml.merges */
    int32_t byte_id[256];    /* token of each byte's byte-level symbol */
    int32_t *special;        /* [n_special] added token ids by first byte, longest first */
    uint32_t n_special;      /* control + user-defined tokens with non-empty text */
    uint32_t special_at[257]; /* special[special_at[b] .. special_at[b+1]) start with byte b */
    int32_t bos, eos, eot, pad; /* ids, -1 when absent */
    int add_bos;             /* tokenizer.ggml.add_bos_token */
    char *model;             /* tokenizer.ggml.model */
    char *pre;               /* tokenizer.ggml.pre */
};

/* ------------------------------------------------------------------ byte-level symbols */

/* GPT-2's reversible byte <-> code point map: printable Latin-1 bytes stand
 * for themselves, the other 68 bytes for U+0100 upwards, in byte order. */
static int byte_is_printable(unsigned b)
{
    return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
}

/* sym[b] = the code point standing for byte b; byte[c] = the byte code
 * point c stands for, -1 when c (< 324) is not a byte-level symbol. */
static void byte_tables(uint32_t sym[256], int16_t byte[324])
{
    unsigned b, k = 0;
    for (b = 0; b < 324; b++)
        byte[b] = -1;
    for (b = 0; b < 256; b++) {
        sym[b] = byte_is_printable(b) ? b : 256 + k++;
        byte[sym[b]] = (int16_t)b;
    }
}

/* ------------------------------------------------------------------ character classes */

enum {
    C_L = 1,  /* \p{L} */
    C_N = 2,  /* \p{N} */
    C_S = 4,  /* \s (ECMAScript) */
    C_NL = 8, /* \r or \n (always with C_S) */
};

/* ------------------------------------------------------------------ newer Unicode
 *
 * The reference tokenizer's regex engine and normaliser follow Unicode 17.0;
 * utf8proc's tables may be older (2.7: 14.0, 2.8: 15.0).  The differences
 * that matter here are small and listed below, taken from UnicodeData.txt of
 * Unicode 17.0 for every code point that Unicode 14.0 left unassigned.  They
 * are consulted only for code points utf8proc calls unassigned, so a newer
 * utf8proc makes them redundant, never wrong. */

/* General category L* or N*. */
static const struct {
    uint32_t lo, hi; /* code points, inclusive */
    uint8_t cls;     /* C_L or C_N */
} late_ranges[] = {
    { 0x88F, 0x88F, C_L }, { 0xC5C, 0xC5C, C_L }, { 0xCDC, 0xCDC, C_L }, { 0x1C89, 0x1C8A, C_L },
    { 0xA7CB, 0xA7CF, C_L }, { 0xA7D2, 0xA7D2, C_L }, { 0xA7D4, 0xA7D4, C_L },
    { 0xA7DA, 0xA7DC, C_L }, { 0xA7F1, 0xA7F1, C_L }, { 0x105C0, 0x105F3, C_L },
    { 0x10940, 0x10959, C_L }, { 0x10D40, 0x10D49, C_N }, { 0x10D4A, 0x10D65, C_L },
    { 0x10D6F, 0x10D85, C_L }, { 0x10EC2, 0x10EC7, C_L }, { 0x1123F, 0x11240, C_L },
    { 0x11380, 0x11389, C_L }, { 0x1138B, 0x1138B, C_L }, { 0x1138E, 0x1138E, C_L },
    { 0x11390, 0x113B5, C_L }, { 0x113B7, 0x113B7, C_L }, { 0x113D1, 0x113D1, C_L },
    { 0x113D3, 0x113D3, C_L }, { 0x116D0, 0x116E3, C_N }, { 0x11BC0, 0x11BE0, C_L },
    { 0x11BF0, 0x11BF9, C_N }, { 0x11DB0, 0x11DDB, C_L }, { 0x11DE0, 0x11DE9, C_N },
    { 0x11F02, 0x11F02, C_L }, { 0x11F04, 0x11F10, C_L }, { 0x11F12, 0x11F33, C_L },
    { 0x11F50, 0x11F59, C_N }, { 0x1342F, 0x1342F, C_L }, { 0x13441, 0x13446, C_L },
    { 0x13460, 0x143FA, C_L }, { 0x16100, 0x1611D, C_L }, { 0x16130, 0x16139, C_N },
    { 0x16D40, 0x16D6C, C_L }, { 0x16D70, 0x16D79, C_N }, { 0x16EA0, 0x16EB8, C_L },
    { 0x16EBB, 0x16ED3, C_L }, { 0x16FF2, 0x16FF3, C_L }, { 0x16FF4, 0x16FF6, C_N },
    { 0x187F8, 0x187FF, C_L }, { 0x18CFF, 0x18CFF, C_L }, { 0x18D09, 0x18D1E, C_L },
    { 0x18D80, 0x18DF2, C_L }, { 0x1B132, 0x1B132, C_L }, { 0x1B155, 0x1B155, C_L },
    { 0x1CCF0, 0x1CCF9, C_N }, { 0x1D2C0, 0x1D2D3, C_N }, { 0x1DF25, 0x1DF2A, C_L },
    { 0x1E030, 0x1E06D, C_L }, { 0x1E4D0, 0x1E4EB, C_L }, { 0x1E4F0, 0x1E4F9, C_N },
    { 0x1E5D0, 0x1E5ED, C_L }, { 0x1E5F0, 0x1E5F0, C_L }, { 0x1E5F1, 0x1E5FA, C_N },
    { 0x1E6C0, 0x1E6DE, C_L }, { 0x1E6E0, 0x1E6E2, C_L }, { 0x1E6E4, 0x1E6E5, C_L },
    { 0x1E6E7, 0x1E6ED, C_L }, { 0x1E6F0, 0x1E6F4, C_L }, { 0x1E6FE, 0x1E6FF, C_L },
    { 0x2B739, 0x2B73F, C_L }, { 0x2CEA2, 0x2CEAD, C_L }, { 0x2EBF0, 0x2EE5D, C_L },
    { 0x31350, 0x33479, C_L },
};

/* Non-zero canonical combining classes. */
static const struct {
    uint32_t cp;  /* code point */
    uint8_t ccc;  /* canonical combining class */
} late_ccc[] = {
    { 0x897, 230 }, { 0x1ACF, 230 }, { 0x1AD0, 230 }, { 0x1AD1, 230 }, { 0x1AD2, 230 },
    { 0x1AD3, 230 }, { 0x1AD4, 230 }, { 0x1AD5, 230 }, { 0x1AD6, 230 }, { 0x1AD7, 230 },
    { 0x1AD8, 230 }, { 0x1AD9, 230 }, { 0x1ADA, 230 }, { 0x1ADB, 230 }, { 0x1ADC, 230 },
    { 0x1ADD, 220 }, { 0x1AE0, 230 }, { 0x1AE1, 230 }, { 0x1AE2, 230 }, { 0x1AE3, 230 },
    { 0x1AE4, 230 }, { 0x1AE5, 230 }, { 0x1AE6, 220 }, { 0x1AE7, 230 }, { 0x1AE8, 230 },
    { 0x1AE9, 230 }, { 0x1AEA, 230 }, { 0x1AEB, 234 }, { 0x10D69, 230 }, { 0x10D6A, 230 },
    { 0x10D6B, 230 }, { 0x10D6C, 230 }, { 0x10D6D, 230 }, { 0x10EFA, 220 }, { 0x10EFB, 220 },
    { 0x10EFD, 220 }, { 0x10EFE, 220 }, { 0x10EFF, 220 }, { 0x113CE, 9 }, { 0x113CF, 9 },
    { 0x113D0, 9 }, { 0x11F41, 9 }, { 0x11F42, 9 }, { 0x1612F, 9 }, { 0x1E08F, 230 },
    { 0x1E4EC, 232 }, { 0x1E4ED, 232 }, { 0x1E4EE, 220 }, { 0x1E4EF, 230 }, { 0x1E5EE, 230 },
    { 0x1E5EF, 220 }, { 0x1E6E3, 230 }, { 0x1E6E6, 230 }, { 0x1E6EE, 230 }, { 0x1E6EF, 230 },
    { 0x1E6F5, 230 },
};

/* Canonical decompositions (one level), all primary composites. */
static const struct {
    uint32_t first, second, composite; /* code points */
} late_pairs[] = {
    { 0x105D2, 0x307, 0x105C9 }, { 0x105DA, 0x307, 0x105E4 }, { 0x11382, 0x113C9, 0x11383 },
    { 0x11384, 0x113BB, 0x11385 }, { 0x1138B, 0x113C2, 0x1138E }, { 0x11390, 0x113C9, 0x11391 },
    { 0x113C2, 0x113B8, 0x113C7 }, { 0x113C2, 0x113C2, 0x113C5 }, { 0x113C2, 0x113C9, 0x113C8 },
    { 0x1611E, 0x1611E, 0x16121 }, { 0x1611E, 0x1611F, 0x16123 }, { 0x1611E, 0x16120, 0x16125 },
    { 0x1611E, 0x16129, 0x16122 }, { 0x16121, 0x1611F, 0x16126 }, { 0x16121, 0x16120, 0x16128 },
    { 0x16122, 0x1611F, 0x16127 }, { 0x16129, 0x1611F, 0x16124 }, { 0x16D63, 0x16D67, 0x16D69 },
    { 0x16D67, 0x16D67, 0x16D68 }, { 0x16D69, 0x16D67, 0x16D6A },
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static unsigned late_class(uint32_t cp)
{
    size_t lo = 0, hi = N_ELEMS(late_ranges);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < late_ranges[mid].lo)
            hi = mid;
        else if (cp > late_ranges[mid].hi)
            lo = mid + 1;
        else
            return late_ranges[mid].cls;
    }
    return 0;
}

static int is_unassigned(uint32_t cp)
{
    return utf8proc_category((utf8proc_int32_t)cp) == UTF8PROC_CATEGORY_CN;
}

static unsigned ccc17(uint32_t cp)
{
    size_t lo = 0, hi = N_ELEMS(late_ccc);
    if (!is_unassigned(cp))
        return utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < late_ccc[mid].cp)
            hi = mid;
        else if (cp > late_ccc[mid].cp)
            lo = mid + 1;
        else
            return late_ccc[mid].ccc;
    }
    return 0;
}

/* Does normalising with utf8proc alone possibly miss something for cp? */
static int late_nfc_char(uint32_t cp)
{
    size_t i;
    if (cp < 0x897 || !is_unassigned(cp))
        return 0;
    if (ccc17(cp))
        return 1;
    for (i = 0; i < N_ELEMS(late_pairs); i++)
        if (late_pairs[i].first == cp || late_pairs[i].composite == cp)
            return 1;
    return 0;
}

/* Primary composite of a + b, or -1. */
static int32_t compose17(int32_t a, int32_t b)
{
    utf8proc_int32_t buf[2];
    size_t i;
    for (i = 0; i < N_ELEMS(late_pairs); i++)
        if (late_pairs[i].first == (uint32_t)a && late_pairs[i].second == (uint32_t)b)
            return (int32_t)late_pairs[i].composite;
    if (is_unassigned((uint32_t)a) || is_unassigned((uint32_t)b))
        return -1;
    buf[0] = a;
    buf[1] = b;
    if (utf8proc_normalize_utf32(buf, 2, UTF8PROC_STABLE | UTF8PROC_COMPOSE) == 1)
        return buf[0];
    return -1;
}

/* Full canonical decomposition of cp into out (room for 8); returns count. */
static size_t decompose17(int32_t cp, int32_t *out)
{
    size_t i, n;
    for (i = 0; i < N_ELEMS(late_pairs); i++)
        if (late_pairs[i].composite == (uint32_t)cp) {
            n = decompose17((int32_t)late_pairs[i].first, out);
            out[n] = (int32_t)late_pairs[i].second;
            return n + 1;
        }
    if (!is_unassigned((uint32_t)cp)) {
        utf8proc_ssize_t r = utf8proc_decompose_char(cp, out, 8, UTF8PROC_DECOMPOSE, NULL);
        if (r > 0 && r <= 8)
            return (size_t)r;
    }
    out[0] = cp;
    return 1;
}

/* NFC of cps[0..n) (already NFC by utf8proc's tables) by Unicode 17.0:
 * decompose, order marks by combining class, recompose (UAX #15).  Only run
 * when late_nfc_char() finds a code point that needs it.  Writes the result
 * to out (room for 8 n) and returns its length. */
static size_t nfc17(const int32_t *cps, size_t n, int32_t *out)
{
    size_t i, m = 0, starter = 0, w;
    unsigned last;
    for (i = 0; i < n; i++)
        m += decompose17(cps[i], out + m);
    for (i = 1; i < m; i++) { /* stable insertion sort of each run of marks */
        size_t j = i;
        unsigned c = ccc17((uint32_t)out[i]);
        int32_t x = out[i];
        if (!c)
            continue;
        while (j > 0 && ccc17((uint32_t)out[j - 1]) > c) {
            out[j] = out[j - 1];
            j--;
        }
        out[j] = x;
    }
    if (m == 0)
        return 0;
    last = ccc17((uint32_t)out[0]) ? 256 : 0;
    for (i = 1, w = 1; i < m; i++) {
        int32_t ch = out[i], comp = -1;
        unsigned c = ccc17((uint32_t)ch);
        if (last < c || last == 0)
            comp = compose17(out[starter], ch);
        if (comp >= 0 && (last < c || last == 0)) {
            out[starter] = comp;
            continue;
        }
        if (c == 0)
            starter = w;
        last = c;
        out[w++] = ch;
    }
    return w;
}

static unsigned char_class(uint32_t cp)
{
    if (cp < 0x80) {
        if (cp == '\r' || cp == '\n')
            return C_S | C_NL;
        if (cp == ' ' || (cp >= 0x09 && cp <= 0x0D))
            return C_S;
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z')
            return C_L;
        if (cp >= '0' && cp <= '9')
            return C_N;
        return 0;
    }
    /* ECMAScript WhiteSpace and LineTerminator beyond ASCII: Zs, U+2028/9, U+FEFF */
    if (cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 ||
        cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000 || cp == 0xFEFF)
        return C_S;
    switch (utf8proc_category((utf8proc_int32_t)cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return C_L;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return C_N;
    case UTF8PROC_CATEGORY_CN:
        return late_class(cp);
    default:
        return 0;
    }
}

/* ------------------------------------------------------------------ hash tables */

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    size_t i;
    for (i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h ^ (h >> 29);
}

static uint64_t hash_pair(uint64_t key)
{
    key *= 0x9E3779B97F4A7C15ull;
    return key ^ (key >> 31);
}

static const char *tok_str(const PlumbTokenizer *t, int32_t id, size_t *len)
{
    *len = (size_t)(t->text_off[id + 1] - t->text_off[id] - 1);
    return t->text + t->text_off[id];
}

static int32_t find_token(const PlumbTokenizer *t, const char *s, size_t n)
{
    uint64_t i = hash_bytes(s, n) & t->tok_mask;
    for (;;) {
        int32_t id = t->tok_slots[i];
        size_t len;
        const char *x;
        if (id < 0)
            return -1;
        x = tok_str(t, id, &len);
        if (len == n && memcmp(x, s, n) == 0)
            return id;
        i = (i + 1) & t->tok_mask;
    }
}

/* Later duplicates of a text win, as in the reference's vocabulary map. */
static void insert_token(PlumbTokenizer *t, int32_t id)
{
    size_t n, len;
    const char *s = tok_str(t, id, &n);
    uint64_t i = hash_bytes(s, n) & t->tok_mask;
    for (;;) {
        int32_t other = t->tok_slots[i];
        if (other < 0) {
            t->tok_slots[i] = id;
            return;
        }
        const char *x = tok_str(t, other, &len);
        if (len == n && memcmp(x, s, n) == 0) {
            t->tok_slots[i] = id;
            return;
        }
        i = (i + 1) & t->tok_mask;
    }
}

static const MergeSlot *find_merge(const PlumbTokenizer *t, int32_t a, int32_t b)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint64_t i = hash_pair(key) & t->merge_mask;
    for (;;) {
        const MergeSlot *m = &t->merge_slots[i];
        if (m->key == key)
            return m;
        if (m->key == 0)
            return NULL;
        i = (i + 1) & t->merge_mask;
    }
}

/* A pair listed twice keeps the later rank, as in the reference. */
static void insert_merge(PlumbTokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    uint64_t key = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    uint64_t i = hash_pair(key) & t->merge_mask;
    for (;;) {
        MergeSlot *m = &t->merge_slots[i];
        if (m->key == 0 || m->key == key) {
            m->key = key;
            m->rank = rank;
            m->id = id;
            return;
        }
        i = (i + 1) & t->merge_mask;
    }
}

static uint64_t table_size(uint64_t n)
{
    uint64_t s = 16;
    while (s < 2 * n)
        s *= 2;
    return s;
}

/* ------------------------------------------------------------------ open */

static char *dup_str(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* Printable form of a token text for messages (truncated, escapes bytes). */
static const char *show(const char *s, size_t n, char *buf, size_t cap)
{
    size_t i, o = 0;
    for (i = 0; i < n && o + 8 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F || c == '\'' || c == '\\')
            o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", c);
        else
            buf[o++] = (char)c;
    }
    if (i < n && o + 4 < cap) {
        memcpy(buf + o, "...", 3);
        o += 3;
    }
    buf[o] = '\0';
    return buf;
}

static int read_id(const PlumbGGUF *g, const char *key, int32_t n_vocab, int32_t *out,
                   PlumbError *err)
{
    uint32_t v;
    int rc;
    *out = -1;
    if (!plumb_gguf_find(g, key))
        return PLUMB_OK;
    if ((rc = plumb_gguf_get_u32(g, key, &v, err)))
        return rc;
    if (v >= (uint32_t)n_vocab)
        return plumb_err(err, PLUMB_EFORMAT,
                         "%s: key '%s': token id %u is out of range (vocabulary of %d tokens)",
                         g->path, key, v, n_vocab);
    *out = (int32_t)v;
    return PLUMB_OK;
}

static int load_tokens(PlumbTokenizer *t, const PlumbGGUF *g, PlumbError *err)
{
    const PlumbGGUFValue *arr;
    uint64_t n, i, total = 0, tb = 0, bb = 0;
    uint32_t sym_of[256];
    int16_t byte_of[324];
    int rc = plumb_gguf_get_arr(g, "tokenizer.ggml.tokens", PLUMB_GGUF_STRING, &arr, err);
    if (rc)
        return rc;
    n = arr->v.arr.n;
    if (n == 0)
        return plumb_err(err, PLUMB_EFORMAT, "%s: tokenizer.ggml.tokens is empty", g->path);
    if (n > (uint64_t)INT32_MAX / 4)
        return plumb_err(err, PLUMB_EFORMAT, "%s: tokenizer.ggml.tokens has %llu entries (too many)",
                         g->path, (unsigned long long)n);
    t->n_vocab = (int32_t)n;
    byte_tables(sym_of, byte_of);
    for (i = 0; i < n; i++) {
        uint64_t len;
        plumb_gguf_arr_str(arr, i, &len);
        if (plumb_add_overflow(total, len + 1, &total))
            return plumb_err(err, PLUMB_ENOMEM, "%s: tokenizer.ggml.tokens too large", g->path);
    }
    t->text_off = malloc((n + 1) * sizeof *t->text_off);
    t->bytes_off = malloc((n + 1) * sizeof *t->bytes_off);
    t->type = malloc(n);
    t->text = malloc(total);
    t->bytes = malloc(total);
    t->tok_mask = table_size(n) - 1;
    t->tok_slots = malloc((t->tok_mask + 1) * sizeof *t->tok_slots);
    if (!t->text_off || !t->bytes_off || !t->type || !t->text || !t->bytes || !t->tok_slots)
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory for the vocabulary", g->path);
    memset(t->tok_slots, 0xFF, (t->tok_mask + 1) * sizeof *t->tok_slots);
    memset(t->type, TT_NORMAL, n);
    for (i = 0; i < n; i++) {
        uint64_t len;
        const char *s = plumb_gguf_arr_str(arr, i, &len);
        t->text_off[i] = tb;
        memcpy(t->text + tb, s, len);
        t->text[tb + len] = '\0';
        tb += len + 1;
    }
    t->text_off[n] = tb;

    /* token types: optional (all normal when absent) */
    if (plumb_gguf_find(g, "tokenizer.ggml.token_type")) {
        rc = plumb_gguf_get_arr(g, "tokenizer.ggml.token_type", PLUMB_GGUF_INT32, &arr, err);
        if (rc)
            return rc;
        if (arr->v.arr.n != n)
            return plumb_err(err, PLUMB_EFORMAT,
                             "%s: tokenizer.ggml.token_type has %llu entries, tokenizer.ggml.tokens %llu",
                             g->path, (unsigned long long)arr->v.arr.n, (unsigned long long)n);
        for (i = 0; i < n; i++) {
            const uint8_t *p = arr->v.arr.data + 4 * i;
            int32_t v = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                                  (uint32_t)p[3] << 24);
            if (v < TT_UNDEFINED || v > TT_BYTE)
                return plumb_err(err, PLUMB_EFORMAT,
                                 "%s: tokenizer.ggml.token_type[%llu] = %d is not a token type",
                                 g->path, (unsigned long long)i, (int)v);
            t->type[i] = (uint8_t)v;
        }
    }

    /* raw bytes: byte-level symbols decoded; added tokens and any character
     * that is not a byte-level symbol stand for their own UTF-8 */
    for (i = 0; i < n; i++) {
        size_t len, k = 0;
        const unsigned char *s = (const unsigned char *)tok_str(t, (int32_t)i, &len);
        int literal = t->type[i] == TT_CONTROL || t->type[i] == TT_USER_DEFINED;
        t->bytes_off[i] = bb;
        while (k < len) {
            uint32_t cp;
            size_t m = literal ? 0 : utf8_decode(s + k, len - k, &cp);
            int b = m && cp < 324 ? byte_of[cp] : -1;
            if (b >= 0) {
                t->bytes[bb++] = (char)b;
                k += m;
            } else {
                if (!m)
                    m = 1;
                memcpy(t->bytes + bb, s + k, m);
                bb += m;
                k += m;
            }
        }
    }
    t->bytes_off[n] = bb;

    for (i = 0; i < n; i++)
        insert_token(t, (int32_t)i);
    for (i = 0; i < 256; i++) {
        unsigned char sym[4];
        size_t m = utf8_encode(sym_of[i], sym);
        t->byte_id[i] = find_token(t, (const char *)sym, m);
        if (t->byte_id[i] < 0) {
            char buf[16];
            return plumb_err(err, PLUMB_EFORMAT,
                             "%s: tokenizer.ggml.tokens: no token for byte 0x%02x (symbol '%s')",
                             g->path, (unsigned)i, show((const char *)sym, m, buf, sizeof buf));
        }
    }
    return PLUMB_OK;
}

static int load_merges(PlumbTokenizer *t, const PlumbGGUF *g, PlumbError *err)
{
    const PlumbGGUFValue *arr;
    uint64_t n, i;
    char *buf = NULL;
    size_t cap = 0;
    int rc = plumb_gguf_get_arr(g, "tokenizer.ggml.merges", PLUMB_GGUF_STRING, &arr, err);
    if (rc)
        return rc;
    n = arr->v.arr.n;
    if (n > (uint64_t)INT32_MAX / 4)
        return plumb_err(err, PLUMB_EFORMAT, "%s: tokenizer.ggml.merges has %llu entries (too many)",
                         g->path, (unsigned long long)n);
    t->n_merges = n;
    t->merge_mask = table_size(n) - 1;
    t->merge_slots = calloc(t->merge_mask + 1, sizeof *t->merge_slots);
    if (!t->merge_slots)
        return plumb_err(err, PLUMB_ENOMEM, "%s: out of memory for the merges", g->path);
    for (i = 0; i < n; i++) {
        uint64_t len;
        const char *s = plumb_gguf_arr_str(arr, i, &len);
        const char *sp = len ? memchr(s, ' ', len) : NULL;
        size_t la, lb;
        int32_t a, b, ab;
        char show_buf[96];
        if (!sp || sp == s || sp == s + len - 1 || memchr(sp + 1, ' ', len - (size_t)(sp + 1 - s))) {
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "%s: tokenizer.ggml.merges[%llu] = '%s' is not two tokens separated by one space",
                           g->path, (unsigned long long)i, show(s, len, show_buf, sizeof show_buf));
            goto fail;
        }
        la = (size_t)(sp - s);
        lb = len - la - 1;
        a = find_token(t, s, la);
        b = find_token(t, sp + 1, lb);
        if (a < 0 || b < 0) {
            char tb[64];
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "%s: tokenizer.ggml.merges[%llu] = '%s': token '%s' is not in the vocabulary",
                           g->path, (unsigned long long)i, show(s, len, show_buf, sizeof show_buf),
                           a < 0 ? show(s, la, tb, sizeof tb) : show(sp + 1, lb, tb, sizeof tb));
            goto fail;
        }
        if (la + lb > cap) {
            char *nb = realloc(buf, la + lb);
            if (!nb) {
                rc = plumb_err(err, PLUMB_ENOMEM, "%s: out of memory for the merges", g->path);
                goto fail;
            }
            buf = nb;
            cap = la + lb;
        }
        memcpy(buf, s, la);
        memcpy(buf + la, sp + 1, lb);
        ab = find_token(t, buf, la + lb);
        if (ab < 0) {
            char tb[64];
            rc = plumb_err(err, PLUMB_EFORMAT,
                           "%s: tokenizer.ggml.merges[%llu] = '%s': the merged token '%s' is not in the vocabulary",
                           g->path, (unsigned long long)i, show(s, len, show_buf, sizeof show_buf),
                           show(buf, la + lb, tb, sizeof tb));
            goto fail;
        }
        insert_merge(t, a, b, (int32_t)i, ab);
    }
    free(buf);
    return PLUMB_OK;
fail:
    free(buf);
    return rc;
}

typedef struct SpecialKey {
    unsigned first; /* first byte of the text */
    size_t len;     /* bytes of the text */
    int32_t id;     /* token */
} SpecialKey;

/* First byte ascending, then longer first, then lower id. */
static int cmp_special(const void *pa, const void *pb)
{
    const SpecialKey *a = pa, *b = pb;
    if (a->first != b->first)
        return a->first < b->first ? -1 : 1;
    if (a->len != b->len)
        return a->len > b->len ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

static int load_specials(PlumbTokenizer *t, PlumbError *err)
{
    SpecialKey *keys;
    int32_t i;
    uint32_t n = 0, k, b;
    for (i = 0; i < t->n_vocab; i++)
        if (t->type[i] == TT_CONTROL || t->type[i] == TT_USER_DEFINED)
            n++;
    keys = malloc((n ? n : 1) * sizeof *keys);
    t->special = malloc((n ? n : 1) * sizeof *t->special);
    if (!keys || !t->special) {
        free(keys);
        return plumb_err(err, PLUMB_ENOMEM, "out of memory for the added tokens");
    }
    for (i = 0, n = 0; i < t->n_vocab; i++) {
        size_t len;
        const char *s = tok_str(t, i, &len);
        if ((t->type[i] == TT_CONTROL || t->type[i] == TT_USER_DEFINED) && len) {
            keys[n].first = (unsigned char)s[0];
            keys[n].len = len;
            keys[n].id = i;
            n++;
        }
    }
    qsort(keys, n, sizeof *keys, cmp_special);
    for (k = 0; k < n; k++)
        t->special[k] = keys[k].id;
    t->n_special = n;
    for (b = 0, k = 0; b < 256; b++) {
        t->special_at[b] = k;
        while (k < n && keys[k].first == b)
            k++;
    }
    t->special_at[256] = n;
    free(keys);
    return PLUMB_OK;
}

int plumb_tok_open(PlumbTokenizer **out, const PlumbGGUF *g, PlumbError *err)
{
    PlumbTokenizer *t = NULL;
    const char *model, *pre;
    int rc;
    if (!out || !g)
        return plumb_err(err, PLUMB_EINVAL, "plumb_tok_open: NULL argument");
    *out = NULL;
    rc = plumb_gguf_get_str(g, "tokenizer.ggml.model", &model, err);
    if (rc)
        return rc;
    if (strcmp(model, "gpt2") != 0)
        return plumb_err(err, PLUMB_EUNSUPPORTED,
                         "%s: tokenizer.ggml.model '%s' is not supported (only 'gpt2', byte-level BPE)",
                         g->path, model);
    rc = plumb_gguf_get_str(g, "tokenizer.ggml.pre", &pre, err);
    if (rc)
        return rc;
    if (strcmp(pre, "qwen2") != 0)
        return plumb_err(err, PLUMB_EUNSUPPORTED,
                         "%s: tokenizer.ggml.pre '%s' is not supported (only 'qwen2', the Qwen2/Qwen3 pre-tokenizer)",
                         g->path, pre);
    t = calloc(1, sizeof *t);
    if (!t)
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    t->model = dup_str(model);
    t->pre = dup_str(pre);
    if (!t->model || !t->pre) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto fail;
    }
    if ((rc = load_tokens(t, g, err)) || (rc = load_merges(t, g, err)) ||
        (rc = load_specials(t, err)))
        goto fail;
    if ((rc = read_id(g, "tokenizer.ggml.bos_token_id", t->n_vocab, &t->bos, err)) ||
        (rc = read_id(g, "tokenizer.ggml.eos_token_id", t->n_vocab, &t->eos, err)) ||
        (rc = read_id(g, "tokenizer.ggml.padding_token_id", t->n_vocab, &t->pad, err)))
        goto fail;
    t->add_bos = 0;
    if ((rc = plumb_gguf_get_bool_opt(g, "tokenizer.ggml.add_bos_token", &t->add_bos, err)))
        goto fail;
    t->eot = find_token(t, "<|im_end|>", 10);
    *out = t;
    return PLUMB_OK;
fail:
    plumb_tok_close(t);
    return rc;
}

void plumb_tok_close(PlumbTokenizer *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->text_off);
    free(t->bytes);
    free(t->bytes_off);
    free(t->type);
    free(t->tok_slots);
    free(t->merge_slots);
    free(t->special);
    free(t->model);
    free(t->pre);
    free(t);
}

/* ------------------------------------------------------------------ encoding */

typedef struct HeapItem {
    int32_t rank;  /* merge rank of the pair */
    int32_t left;  /* index of the left symbol (its first byte in the piece) */
    int32_t right; /* index of the right symbol when pushed */
    int32_t lid;   /* token of the left symbol when pushed */
    int32_t rid;   /* token of the right symbol when pushed */
} HeapItem;

/* Scratch of one plumb_tok_encode() call. */
typedef struct Enc {
    const PlumbTokenizer *t; /* the tokenizer, read only */
    int32_t *ids;            /* [cap_ids] output token ids */
    size_t n_ids, cap_ids;   /* ids written, allocated */
    int32_t *cps;            /* [cap_cps] NFC code points of the current run */
    size_t cap_cps;          /* code points allocated */
    uint8_t *cls;            /* [cap_cls] C_* class of each code point */
    size_t cap_cls;          /* classes allocated */
    unsigned char *word;     /* [cap_word] UTF-8 of the current piece */
    size_t cap_word;         /* bytes allocated */
    int32_t *sym;            /* [cap_sym] per byte of the piece: token, -1 once merged away */
    int32_t *next;           /* [cap_sym] index of the next live symbol, -1 at the end */
    int32_t *prev;           /* [cap_sym] index of the previous live symbol, -1 at the start */
    size_t cap_sym;          /* entries allocated in sym, next, prev */
    HeapItem *heap;          /* [cap_heap] candidate merges, min-heap on (rank, left) */
    size_t n_heap, cap_heap; /* entries in use, allocated */
} Enc;

static int grow(void **p, size_t *cap, size_t need, size_t elem)
{
    size_t c = *cap ? *cap : 64;
    void *np;
    if (need <= *cap)
        return 0;
    while (c < need) {
        if (c > SIZE_MAX / 2 / elem)
            return -1;
        c *= 2;
    }
    np = realloc(*p, c * elem);
    if (!np)
        return -1;
    *p = np;
    *cap = c;
    return 0;
}

static int emit(Enc *e, int32_t id)
{
    if (e->n_ids == e->cap_ids && grow((void **)&e->ids, &e->cap_ids, e->n_ids + 1, sizeof *e->ids))
        return -1;
    e->ids[e->n_ids++] = id;
    return 0;
}

static int heap_less(const HeapItem *a, const HeapItem *b)
{
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static void heap_push(Enc *e, HeapItem it)
{
    size_t i = e->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!heap_less(&it, &e->heap[p]))
            break;
        e->heap[i] = e->heap[p];
        i = p;
    }
    e->heap[i] = it;
}

static HeapItem heap_pop(Enc *e)
{
    HeapItem top = e->heap[0], last = e->heap[--e->n_heap];
    size_t i = 0, n = e->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && heap_less(&e->heap[c + 1], &e->heap[c]))
            c++;
        if (!heap_less(&e->heap[c], &last))
            break;
        e->heap[i] = e->heap[c];
        i = c;
    }
    if (n)
        e->heap[i] = last;
    return top;
}

static void push_pair(Enc *e, int32_t left)
{
    int32_t right;
    const MergeSlot *m;
    HeapItem it;
    if (left < 0 || (right = e->next[left]) < 0)
        return;
    m = find_merge(e->t, e->sym[left], e->sym[right]);
    if (!m)
        return;
    it.rank = m->rank;
    it.left = left;
    it.right = right;
    it.lid = e->sym[left];
    it.rid = e->sym[right];
    heap_push(e, it);
}

/* BPE over the bytes of one piece; appends the resulting ids. */
static int bpe_piece(Enc *e, const unsigned char *s, size_t n)
{
    const PlumbTokenizer *t = e->t;
    size_t i;
    int32_t k;
    if (n == 1)
        return emit(e, t->byte_id[s[0]]);
    if (n > INT32_MAX / 4)
        return -1;
    if (n > e->cap_sym) {
        size_t c = e->cap_sym;
        if (grow((void **)&e->sym, &c, n, sizeof *e->sym))
            return -1;
        c = e->cap_sym;
        if (grow((void **)&e->next, &c, n, sizeof *e->next))
            return -1;
        c = e->cap_sym;
        if (grow((void **)&e->prev, &c, n, sizeof *e->prev))
            return -1;
        e->cap_sym = c;
    }
    /* every merge pushes at most two pairs: n - 1 + 2 (n - 1) */
    if (grow((void **)&e->heap, &e->cap_heap, 3 * n, sizeof *e->heap))
        return -1;
    for (i = 0; i < n; i++) {
        e->sym[i] = t->byte_id[s[i]];
        e->next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
        e->prev[i] = (int32_t)i - 1;
    }
    e->n_heap = 0;
    for (i = 0; i + 1 < n; i++)
        push_pair(e, (int32_t)i);
    while (e->n_heap) {
        HeapItem it = heap_pop(e);
        const MergeSlot *m;
        int32_t r;
        if (e->sym[it.left] != it.lid || e->next[it.left] != it.right || e->sym[it.right] != it.rid)
            continue; /* stale: one side merged since */
        m = find_merge(t, it.lid, it.rid);
        r = e->next[it.right];
        e->sym[it.left] = m->id;
        e->sym[it.right] = -1;
        e->next[it.left] = r;
        if (r >= 0)
            e->prev[r] = it.left;
        push_pair(e, e->prev[it.left]);
        push_pair(e, it.left);
    }
    for (k = 0; k >= 0; k = e->next[k])
        if (emit(e, e->sym[k]))
            return -1;
    return 0;
}

static int lower_ascii(int32_t c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

#define OTHER(k) (!(cl[k] & (C_S | C_L | C_N)))

/* End of the pattern's match starting at i (the pattern matches every
 * non-empty suffix, so the result is always > i). */
static size_t split_next(const int32_t *cp, const uint8_t *cl, size_t i, size_t n)
{
    size_t j, e, last_nl;
    /* '(s|t|re|ve|m|ll|d), ASCII letters of either case */
    if (cp[i] == '\'' && i + 1 < n) {
        int a = lower_ascii(cp[i + 1]);
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return i + 2;
        if (i + 2 < n) {
            int b = lower_ascii(cp[i + 2]);
            if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
                return i + 3;
        }
    }
    /* [^\r\n\p{L}\p{N}]?\p{L}+ */
    j = i;
    if (!(cl[i] & (C_NL | C_L | C_N)) && i + 1 < n && (cl[i + 1] & C_L))
        j = i + 1;
    if (cl[j] & C_L) {
        while (j < n && (cl[j] & C_L))
            j++;
        return j;
    }
    /* \p{N} */
    if (cl[i] & C_N)
        return i + 1;
    /*  ?[^\s\p{L}\p{N}]+[\r\n]* */
    j = i;
    if (cp[i] == ' ' && i + 1 < n && OTHER(i + 1))
        j = i + 1;
    if (OTHER(j)) {
        while (j < n && OTHER(j))
            j++;
        while (j < n && (cl[j] & C_NL))
            j++;
        return j;
    }
    /* cp[i] is a space here.  \s*[\r\n]+ : up to the last line break of
     * the run of spaces */
    last_nl = n;
    for (e = i; e < n && (cl[e] & C_S); e++)
        if (cl[e] & C_NL)
            last_nl = e;
    if (last_nl < n)
        return last_nl + 1;
    /* \s+(?!\S) : the run, less its last space when a non-space follows */
    if (e == n || e - i >= 2)
        return e == n ? e : e - 1;
    /* \s+ */
    return e;
}

/* e->cps[0..*m) = the code points of s[0..n) (valid UTF-8) in NFC. */
static int nfc_run(Enc *e, const unsigned char *s, size_t n, size_t *out_m)
{
    const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_ssize_t r;
    size_t i, m;
    for (i = 0; i < n && s[i] < 0x80; i++)
        ;
    if (i == n) { /* ASCII is NFC */
        if (grow((void **)&e->cps, &e->cap_cps, n, sizeof *e->cps))
            return -1;
        for (i = 0; i < n; i++)
            e->cps[i] = s[i];
        *out_m = n;
        return 0;
    }
    if (n > (size_t)INT32_MAX / 8)
        return -1;
    if (grow((void **)&e->cps, &e->cap_cps, n + 16, sizeof *e->cps))
        return -1;
    for (;;) {
        r = utf8proc_decompose(s, (utf8proc_ssize_t)n, e->cps, (utf8proc_ssize_t)e->cap_cps, opt);
        if (r < 0)
            return -1; /* cannot happen: the run is valid UTF-8 */
        if ((size_t)r <= e->cap_cps)
            break;
        if (grow((void **)&e->cps, &e->cap_cps, (size_t)r, sizeof *e->cps))
            return -1;
    }
    r = utf8proc_normalize_utf32(e->cps, r, opt);
    if (r < 0)
        return -1;
    m = (size_t)r;
    for (i = 0; i < m && !late_nfc_char((uint32_t)e->cps[i]); i++)
        ;
    if (i < m) {
        int32_t *tmp = malloc((4 * m + 8) * sizeof *tmp);
        if (!tmp)
            return -1;
        m = nfc17(e->cps, m, tmp);
        if (grow((void **)&e->cps, &e->cap_cps, m, sizeof *e->cps)) {
            free(tmp);
            return -1;
        }
        memcpy(e->cps, tmp, m * sizeof *tmp);
        free(tmp);
    }
    *out_m = m;
    return 0;
}

/* One run of valid UTF-8 with no added token in it. */
static int encode_run(Enc *e, const unsigned char *s, size_t n)
{
    size_t i, m, k;
    if (nfc_run(e, s, n, &m))
        return -1;
    if (e->cap_cls < m && grow((void **)&e->cls, &e->cap_cls, m, 1))
        return -1;
    for (i = 0; i < m; i++)
        e->cls[i] = (uint8_t)char_class((uint32_t)e->cps[i]);
    for (i = 0; i < m; i = k) {
        size_t w = 0, j;
        k = split_next(e->cps, e->cls, i, m);
        if (grow((void **)&e->word, &e->cap_word, 4 * (k - i), 1))
            return -1;
        for (j = i; j < k; j++)
            w += utf8_encode((uint32_t)e->cps[j], e->word + w);
        if (bpe_piece(e, e->word, w))
            return -1;
    }
    return 0;
}

/* Text with no added token in it: valid runs, and invalid bytes one by one. */
static int encode_plain(Enc *e, const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t j = i, m;
        uint32_t cp;
        while (j < n && (m = utf8_decode(s + j, n - j, &cp)) > 0)
            j += m;
        if (j > i && encode_run(e, s + i, j - i))
            return -1;
        if (j < n && emit(e, e->t->byte_id[s[j]]))
            return -1;
        i = j + 1;
    }
    return 0;
}

/* Longest added token starting at s (n bytes left), or -1. */
static int32_t match_special(const PlumbTokenizer *t, const unsigned char *s, size_t n, size_t *len)
{
    uint32_t k;
    for (k = t->special_at[s[0]]; k < t->special_at[s[0] + 1]; k++) {
        int32_t id = t->special[k];
        size_t l;
        const char *x = tok_str(t, id, &l);
        if (l <= n && memcmp(x, s, l) == 0) {
            *len = l;
            return id;
        }
    }
    return -1;
}

int plumb_tok_encode(const PlumbTokenizer *t, const char *text, size_t len, unsigned flags,
                     int32_t **ids, size_t *n_ids, PlumbError *err)
{
    Enc e;
    const unsigned char *s = (const unsigned char *)text;
    size_t start = 0, i;
    int rc = PLUMB_OK;
    if (!t || !ids || !n_ids || (!text && len))
        return plumb_err(err, PLUMB_EINVAL, "plumb_tok_encode: NULL argument");
    *ids = NULL;
    *n_ids = 0;
    memset(&e, 0, sizeof e);
    e.t = t;
    if (grow((void **)&e.ids, &e.cap_ids, len / 3 + 16, sizeof *e.ids))
        goto nomem;
    if ((flags & PLUMB_TOK_SPECIAL) && t->n_special) {
        for (i = 0; i < len; i++) {
            size_t l;
            int32_t id;
            if (t->special_at[s[i]] == t->special_at[s[i] + 1])
                continue;
            id = match_special(t, s + i, len - i, &l);
            if (id < 0)
                continue;
            if (encode_plain(&e, s + start, i - start) || emit(&e, id))
                goto nomem;
            i += l - 1;
            start = i + 1;
        }
    }
    if (encode_plain(&e, s + start, len - start))
        goto nomem;
    *ids = e.ids;
    *n_ids = e.n_ids;
    e.ids = NULL;
    goto done;
nomem:
    rc = plumb_err(err, PLUMB_ENOMEM, "tokenize: out of memory (%zu bytes of text)", len);
done:
    free(e.ids);
    free(e.cps);
    free(e.cls);
    free(e.word);
    free(e.sym);
    free(e.next);
    free(e.prev);
    free(e.heap);
    return rc;
}

/* ------------------------------------------------------------------ queries */

int32_t plumb_tok_n_vocab(const PlumbTokenizer *t)
{
    return t ? t->n_vocab : 0;
}

const char *plumb_tok_bytes(const PlumbTokenizer *t, int32_t id, size_t *len)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return NULL;
    if (len)
        *len = (size_t)(t->bytes_off[id + 1] - t->bytes_off[id]);
    return t->bytes + t->bytes_off[id];
}

const char *plumb_tok_text(const PlumbTokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return NULL;
    return t->text + t->text_off[id];
}

int plumb_tok_is_special(const PlumbTokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return 0;
    return t->type[id] == TT_CONTROL || t->type[id] == TT_USER_DEFINED;
}

int plumb_tok_is_control(const PlumbTokenizer *t, int32_t id)
{
    if (!t || id < 0 || id >= t->n_vocab)
        return 0;
    return t->type[id] == TT_CONTROL;
}

int32_t plumb_tok_lookup(const PlumbTokenizer *t, const char *text)
{
    if (!t || !text)
        return -1;
    return find_token(t, text, strlen(text));
}

int32_t plumb_tok_bos(const PlumbTokenizer *t)
{
    return t ? t->bos : -1;
}

int32_t plumb_tok_eos(const PlumbTokenizer *t)
{
    return t ? t->eos : -1;
}

int32_t plumb_tok_eot(const PlumbTokenizer *t)
{
    return t ? t->eot : -1;
}

int plumb_tok_add_bos(const PlumbTokenizer *t)
{
    return t ? t->add_bos : 0;
}

const char *plumb_tok_model(const PlumbTokenizer *t)
{
    return t ? t->model : NULL;
}

const char *plumb_tok_pre(const PlumbTokenizer *t)
{
    return t ? t->pre : NULL;
}

uint64_t plumb_tok_n_merges(const PlumbTokenizer *t)
{
    return t ? t->n_merges : 0;
}

/* ------------------------------------------------------------------ detokeniser */

typedef struct DetokOut {
    char *buf;  /* caller's buffer */
    size_t cap; /* bytes it holds */
    size_t n;   /* bytes written */
} DetokOut;

/* Whole characters only: a character that does not fit is dropped. */
static void detok_emit(DetokOut *o, const void *p, size_t n)
{
    if (o->n + n <= o->cap) {
        memcpy(o->buf + o->n, p, n);
        o->n += n;
    }
}

static void emit_replacement(DetokOut *o)
{
    unsigned char r[4];
    detok_emit(o, r, utf8_encode(UTF8_REPLACEMENT, r));
}

static void detok_byte(PlumbDetok *d, DetokOut *o, unsigned char c)
{
    int need;
    if (d->n_pending > 0) {
        need = utf8_lead_len(d->pending[0]);
        if (utf8_next_ok(d->pending, d->n_pending, c)) {
            d->pending[d->n_pending++] = c;
            if (d->n_pending == need) {
                detok_emit(o, d->pending, (size_t)need);
                d->n_pending = 0;
            }
            return;
        }
        /* the pending sequence is broken: one U+FFFD, then c afresh */
        emit_replacement(o);
        d->n_pending = 0;
    }
    need = utf8_lead_len(c);
    if (need == 1)
        detok_emit(o, &c, 1);
    else if (need == 0)
        emit_replacement(o);
    else
        d->pending[d->n_pending++] = c;
}

size_t plumb_tok_detok_push(const PlumbTokenizer *t, PlumbDetok *d, int32_t id,
                            int show_special, char *out, size_t cap)
{
    DetokOut o = { out, out ? cap : 0, 0 };
    const char *s;
    size_t len = 0;
    if (!t || !d)
        return 0;
    if (d->n_pending < 0 || d->n_pending >= 4)
        d->n_pending = 0;
    s = plumb_tok_bytes(t, id, &len);
    if (!s)
        return 0;
    /* control tokens (<|im_end|>, ...) are markup; user-defined ones such as
     * <think> and <tool_call> are text the model writes */
    if (!show_special && plumb_tok_is_control(t, id))
        return 0;
    for (size_t i = 0; i < len; i++)
        detok_byte(d, &o, (unsigned char)s[i]);
    return o.n;
}

size_t plumb_detok_flush(PlumbDetok *d, char *out, size_t cap)
{
    DetokOut o = { out, out ? cap : 0, 0 };
    if (!d)
        return 0;
    if (d->n_pending > 0)
        emit_replacement(&o);
    d->n_pending = 0;
    return o.n;
}
