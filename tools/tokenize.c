/*
 * tokenize.c — `plumb tokenize`: print the token ids of text read from
 * standard input.  Opens only the GGUF metadata and the tokenizer, never the
 * weights.  With --jsonl every input line is one JSON string and gives one
 * output line, which is how the tokenizer corpus is checked.
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "gguf.h"
#include "tokenizer.h"

/* ------------------------------------------------------------------ JSON strings */

static int hex4(const char *s, unsigned *v)
{
    unsigned i, r = 0;
    for (i = 0; i < 4; i++) {
        char c = s[i];
        r <<= 4;
        if (c >= '0' && c <= '9')
            r |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            r |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            r |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *v = r;
    return 0;
}

static size_t utf8_put(unsigned cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Decode the JSON string that is the whole of line[0..n) (blanks around it
 * allowed) into out (at least n bytes).  A lone surrogate escape becomes
 * U+FFFD, as a JavaScript string does when encoded.  Returns NULL or the
 * reason the line is not a JSON string. */
static const char *json_string(const char *line, size_t n, char *out, size_t *out_len)
{
    size_t i = 0, o = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i == n)
        return "empty line (expected a JSON string)";
    if (line[i] != '"')
        return "expected a JSON string (a line starting with '\"')";
    for (i++;;) {
        unsigned char c;
        if (i >= n)
            return "unterminated string";
        c = (unsigned char)line[i++];
        if (c == '"')
            break;
        if (c < 0x20)
            return "control character in a string (must be escaped)";
        if (c != '\\') {
            out[o++] = (char)c;
            continue;
        }
        if (i >= n)
            return "unterminated escape";
        c = (unsigned char)line[i++];
        switch (c) {
        case '"': out[o++] = '"'; break;
        case '\\': out[o++] = '\\'; break;
        case '/': out[o++] = '/'; break;
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (i + 4 > n || hex4(line + i, &cp))
                return "\\u must be followed by four hex digits";
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF && i + 6 <= n && line[i] == '\\' &&
                line[i + 1] == 'u' && hex4(line + i + 2, &lo) == 0 && lo >= 0xDC00 &&
                lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xD800 && cp <= 0xDFFF) {
                cp = 0xFFFD;
            }
            /* a \uXXXX escape (6 bytes) never needs more than 3 output
             * bytes, a pair (12) never more than 4 */
            o += utf8_put(cp, out + o);
            break;
        }
        default:
            return "invalid escape in a string";
        }
    }
    while (i < n && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r'))
        i++;
    if (i != n)
        return "text after the closing quote";
    *out_len = o;
    return NULL;
}

/* ------------------------------------------------------------------ output */

static void print_piece(const char *s, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        switch (c) {
        case '\n': fputs("\\n", stdout); break;
        case '\r': fputs("\\r", stdout); break;
        case '\t': fputs("\\t", stdout); break;
        case '\\': fputs("\\\\", stdout); break;
        default:
            if (c < 0x20 || c == 0x7F)
                printf("\\x%02x", c);
            else
                putchar(c);
        }
    }
}

/* pieces: 0 ids on one line, 1 one token a line, 2 the same and an empty line after */
static void print_ids(const PlumbTokenizer *tok, const int32_t *ids, size_t n, int pieces)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (pieces) {
            size_t len = 0;
            const char *p = plumb_tok_bytes(tok, ids[i], &len);
            printf("%" PRId32 "\t", ids[i]);
            print_piece(p, len);
            putchar('\n');
        } else {
            printf(i ? " %" PRId32 : "%" PRId32, ids[i]);
        }
    }
    if (pieces != 1)
        putchar('\n');
}

static int encode_print(const PlumbTokenizer *tok, const char *text, size_t len, unsigned flags,
                        int pieces)
{
    int32_t *ids = NULL;
    size_t n = 0;
    PlumbError err = { 0 };
    if (plumb_tok_encode(tok, text, len, flags, &ids, &n, &err) != PLUMB_OK)
        return cli_fail(&err);
    print_ids(tok, ids, n, pieces);
    free(ids);
    return 0;
}

int cmd_tokenize(int argc, char **argv)
{
    const char *model = NULL, *args[1];
    int jsonl = 0, pieces = 0, no_special = 0, n_args = 0, rc = 1;
    unsigned flags = PLUMB_TOK_SPECIAL;
    PlumbGGUF *g = NULL;
    PlumbTokenizer *tok = NULL;
    PlumbError err = { 0 };
    char *in = NULL, *buf = NULL;
    size_t len = 0;
    const CliOpt opts[] = {
        { .names = "-m, --model", .kind = CLI_STRING, .dest = &model, .metavar = "FILE",
          .help = "GGUF file with the tokenizer (only its metadata is read)" },
        { .names = "--no-special", .kind = CLI_FLAG, .dest = &no_special,
          .help = "treat added tokens such as <|im_start|> as plain text" },
        { .names = "--jsonl", .kind = CLI_FLAG, .dest = &jsonl,
          .help = "each input line is a JSON string; print one line of ids per input line" },
        { .names = "--pieces", .kind = CLI_FLAG, .dest = &pieces,
          .help = "print one token per line: id, a tab, the token's bytes with C escapes "
                  "(with --jsonl, an empty line ends each text)" },
        { .names = "-h, --help", .kind = CLI_HELP, .help = "print this help and exit" },
        { .kind = CLI_END },
    };
    const CliCmd cmd = {
        .name = "tokenize",
        .synopsis = "-m MODEL [--no-special] [--jsonl] [--pieces] [--help]",
        .about = "Read text from standard input and print its token ids, separated by spaces, "
                 "on one line.  The text is encoded as the model's tokenizer does it (NFC, the "
                 "Qwen2 pre-tokenizer, byte-level BPE); no BOS is added.",
        .opts = opts,
        .operand_hint = "the text is read from standard input",
    };

    if ((rc = cli_parse(&cmd, argc, argv, args, &n_args)))
        return rc < 0 ? 0 : rc;
    rc = 1;
    if (!model || !*model)
        return cli_usage_error(&cmd, "a model is required (-m FILE)");
    if (no_special)
        flags &= ~PLUMB_TOK_SPECIAL;

    if (plumb_gguf_open(&g, model, &err) != PLUMB_OK || plumb_tok_open(&tok, g, &err) != PLUMB_OK) {
        rc = cli_fail(&err);
        goto done;
    }
    in = cli_read_file("-", &len, &err);
    if (!in) {
        rc = cli_fail(&err);
        goto done;
    }
    if (!jsonl) {
        if ((rc = encode_print(tok, in, len, flags, pieces)))
            goto done;
    } else {
        size_t pos = 0, line_no = 0;
        buf = malloc(len + 1);
        if (!buf) {
            cli_error("tokenize: out of memory");
            goto done;
        }
        while (pos < len) {
            const char *nl = memchr(in + pos, '\n', len - pos);
            size_t n = nl ? (size_t)(nl - (in + pos)) : len - pos, out_len = 0;
            const char *why = json_string(in + pos, n, buf, &out_len);
            line_no++;
            if (why) {
                fflush(stdout);
                cli_error("<stdin>:%zu: %s", line_no, why);
                goto done;
            }
            if ((rc = encode_print(tok, buf, out_len, flags, pieces ? 2 : 0)))
                goto done;
            rc = 1;
            pos += n + 1;
        }
    }
    if (cli_check_stdout("tokenize"))
        goto done;
    rc = 0;
done:
    free(buf);
    free(in);
    plumb_tok_close(tok);
    plumb_gguf_close(g);
    return rc;
}
