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

#include <jansson.h>

#include "cli.h"
#include "gguf.h"
#include "tokenizer.h"

/* ------------------------------------------------------------------ JSON strings */

/* Decode the JSON string that is the whole of line[0..n) (blanks around it
 * allowed; \u0000 allowed, as the corpus has it).  Returns the string
 * (json_decref it) or NULL with the reason in why[0..cap). */
static json_t *json_line(const char *line, size_t n, char *why, size_t cap)
{
    json_error_t jerr;
    json_t *v = json_loadb(line, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
    if (!v) {
        snprintf(why, cap, "column %d: %s", jerr.column, jerr.text);
        return NULL;
    }
    if (!json_is_string(v)) {
        snprintf(why, cap, "expected a JSON string, not %s",
                 json_is_object(v) ? "an object" : json_is_array(v) ? "an array" : "a literal");
        json_decref(v);
        return NULL;
    }
    return v;
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
    char *in = NULL;
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
        while (pos < len) {
            const char *nl = memchr(in + pos, '\n', len - pos);
            size_t n = nl ? (size_t)(nl - (in + pos)) : len - pos;
            char why[JSON_ERROR_TEXT_LENGTH + 64];
            json_t *str = json_line(in + pos, n, why, sizeof why);
            line_no++;
            if (!str) {
                fflush(stdout);
                cli_error("<stdin>:%zu: %s", line_no, why);
                goto done;
            }
            rc = encode_print(tok, json_string_value(str), json_string_length(str), flags,
                              pieces ? 2 : 0);
            json_decref(str);
            if (rc)
                goto done;
            rc = 1;
            pos += n + 1;
        }
    }
    if (cli_check_stdout("tokenize"))
        goto done;
    rc = 0;
done:
    free(in);
    plumb_tok_close(tok);
    plumb_gguf_close(g);
    return rc;
}
