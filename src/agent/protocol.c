/*
 * protocol.c — the agent protocol as text (see protocol.h): the system
 * prompt, tool-call extraction, the lenient JSON reader, the answer.
 */
#include "config.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "format.h"
#include "protocol.h"

/* ------------------------------------------------------------ the prompt */

/* Our role paragraph.  It must make the model close with <answer>. */
static const char role_text[] =
    "You are a research assistant who answers questions by investigating them "
    "thoroughly. Whether a question is general or belongs to a specialised field, "
    "look for evidence in several reliable and independent sources, compare what "
    "they say, and reason step by step about what is established and what is not. "
    "When you have gathered enough to give a definitive response, write the complete "
    "final answer inside <answer></answer> tags.";

/* One signature per tool, in the reference's order.  Names, parameters,
 * types, minItems and required are the reference's; the descriptions are
 * ours.  The PythonInterpreter line, like the reference's, spans several
 * lines and shows the call inline, so it is not strict JSON. */
static const struct {
    const char *name;
    const char *line;
} signatures[] = {
    { "search",
      "{\"type\": \"function\", \"function\": {\"name\": \"search\", \"description\": "
      "\"Search the web and return the top results for each query. Several queries can "
      "be sent in one call.\", \"parameters\": {\"type\": \"object\", \"properties\": "
      "{\"query\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"description\": "
      "\"One search query.\"}, \"minItems\": 1, \"description\": \"The queries to search "
      "for.\"}}, \"required\": [\"query\"]}}}" },
    { "visit",
      "{\"type\": \"function\", \"function\": {\"name\": \"visit\", \"description\": "
      "\"Read one or more web pages and return what they say that bears on the goal.\", "
      "\"parameters\": {\"type\": \"object\", \"properties\": {\"url\": {\"type\": "
      "\"array\", \"items\": {\"type\": \"string\"}, \"description\": \"The address of the "
      "page to read, or a list of addresses.\"}, \"goal\": {\"type\": \"string\", "
      "\"description\": \"What you want to find out from the page or pages.\"}}, "
      "\"required\": [\"url\", \"goal\"]}}}" },
    { "PythonInterpreter",
      "{\"type\": \"function\", \"function\": {\"name\": \"PythonInterpreter\", "
      "\"description\": \"Runs Python code in an isolated sandbox. How to call it:\n"
      "1. The 'arguments' object is empty: {}.\n"
      "2. The code follows the JSON object, between <code> and </code> tags.\n"
      "\n"
      "Only what the code prints with print() comes back to you.\n"
      "\n"
      "For example:\n"
      "<tool_call>\n"
      "{\"name\": \"PythonInterpreter\", \"arguments\": {}}\n"
      "<code>\n"
      "values = [3, 5, 8]\n"
      "print(f\"The mean is {sum(values) / len(values)}\")\n"
      "</code>\n"
      "</tool_call>\", \"parameters\": {\"type\": \"object\", \"properties\": {}, "
      "\"required\": []}}}" },
    { "google_scholar",
      "{\"type\": \"function\", \"function\": {\"name\": \"google_scholar\", "
      "\"description\": \"Search scholarly publications and return the top results for "
      "each query; ordinary web results may come too. Several queries can be sent in one "
      "call.\", \"parameters\": {\"type\": \"object\", \"properties\": {\"query\": "
      "{\"type\": \"array\", \"items\": {\"type\": \"string\", \"description\": \"One search "
      "query.\"}, \"minItems\": 1, \"description\": \"The queries to search for in the "
      "scholarly literature.\"}}, \"required\": [\"query\"]}}}" },
    { "parse_file",
      "{\"type\": \"function\", \"function\": {\"name\": \"parse_file\", \"description\": "
      "\"Read files the user uploaded (PDF, DOCX, PPTX, TXT, CSV, XLSX, DOC, ZIP, MP4, MP3 "
      "and others) and return their text.\", \"parameters\": {\"type\": \"object\", "
      "\"properties\": {\"files\": {\"type\": \"array\", \"items\": {\"type\": \"string\"}, "
      "\"description\": \"The names of the uploaded files to read.\"}}, \"required\": "
      "[\"files\"]}}}" },
};
#define N_SIGNATURES (sizeof signatures / sizeof signatures[0])

static int tool_known(const AgentTools *t, const char *name)
{
    size_t i;
    if (t)
        return agent_tools_has(t, name);
    for (i = 0; i < N_SIGNATURES; i++)
        if (!strcmp(signatures[i].name, name))
            return 1;
    return 0;
}

int agent_tools_signatures(const AgentTools *t, Buf *out)
{
    size_t i;
    int first = 1, rc;
    for (i = 0; i < N_SIGNATURES; i++) {
        if (!tool_known(t, signatures[i].name))
            continue;
        if (!first && (rc = buf_putc(out, '\n')) < 0)
            return rc;
        if ((rc = buf_puts(out, signatures[i].line)) < 0)
            return rc;
        first = 0;
    }
    return PLUMB_OK;
}

int protocol_system_prompt(const AgentTools *t, const char *date, Buf *out)
{
    int rc;
    if ((rc = buf_puts(out, role_text)) < 0 ||
        (rc = buf_puts(out, "\n\n# Tools\n\nYou may call one or more functions to assist with "
                            "the user query.\n\nYou are provided with function signatures "
                            "within <tools></tools> XML tags:\n<tools>\n")) < 0 ||
        (rc = agent_tools_signatures(t, out)) < 0 ||
        (rc = buf_puts(out, "\n</tools>\n\nFor each function call, return a json object with "
                            "function name and arguments within <tool_call></tool_call> XML "
                            "tags:\n<tool_call>\n{\"name\": <function-name>, \"arguments\": "
                            "<args-json-object>}\n</tool_call>\n\nCurrent date: ")) < 0 ||
        (rc = buf_puts(out, date)) < 0)
        return rc;
    return PLUMB_OK;
}

int protocol_question(const char *question, const char *const *files, size_t n_files, Buf *out)
{
    size_t i;
    int rc;
    if (n_files) {
        if ((rc = buf_printf(out, "(Uploaded %zu file: [", n_files)) < 0)
            return rc;
        for (i = 0; i < n_files; i++)
            if ((i && (rc = buf_puts(out, ", ")) < 0) ||
                (rc = format_pyrepr(out, files[i], strlen(files[i]))) < 0)
                return rc;
        if ((rc = buf_puts(out, "])\n\n")) < 0)
            return rc;
    }
    return buf_puts(out, question);
}

/* ------------------------------------------------------------ replies */

/* Python's str.isspace() for the ASCII range, which is what strip() meets
 * in practice at the ends of a reply. */
static int py_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r') || (c >= 0x1c && c <= 0x1f);
}

/* The bytes of [s, s+n) with Python whitespace trimmed at both ends. */
static void strip_range(const char **s, size_t *n)
{
    while (*n && py_space((unsigned char)**s)) {
        (*s)++;
        (*n)--;
    }
    while (*n && py_space((unsigned char)(*s)[*n - 1]))
        (*n)--;
}

/* memmem, which C11 does not have. */
static const char *find(const char *s, size_t n, const char *needle)
{
    size_t k = strlen(needle), i;
    if (k > n)
        return NULL;
    for (i = 0; i + k <= n; i++)
        if (s[i] == needle[0] && !memcmp(s + i, needle, k))
            return s + i;
    return NULL;
}

int protocol_clean_reply(const char *text, size_t len, Buf *out)
{
    const char *cut = find(text, len, "<tool_response>");
    if (cut)
        len = (size_t)(cut - text);
    strip_range(&text, &len);
    if (buf_reserve(out, len) < 0)
        return PLUMB_ENOMEM;
    return buf_append(out, text, len);
}

int protocol_answer(const char *reply, char **answer)
{
    const char *a = strstr(reply, "<answer>"), *e;
    *answer = NULL;
    if (!a || !strstr(reply, "</answer>"))
        return 0;
    a += strlen("<answer>");
    e = strstr(a, "</answer>");
    if (!e)
        e = a + strlen(a);
    *answer = malloc((size_t)(e - a) + 1);
    if (!*answer)
        return PLUMB_ENOMEM;
    memcpy(*answer, a, (size_t)(e - a));
    (*answer)[e - a] = 0;
    return 1;
}

/* ------------------------------------------------------------ lenient JSON */

typedef struct J5 {
    const char *s; /* [n] the text */
    size_t n, i;   /* length, read position */
    Buf *out;      /* strict JSON written here */
    int rc;        /* first error of an append (PLUMB_ENOMEM), else 0 */
} J5;

static void emit(J5 *j, const char *s, size_t n)
{
    if (!j->rc && buf_append(j->out, s, n) < 0)
        j->rc = PLUMB_ENOMEM;
}
static void emitc(J5 *j, char c)
{
    emit(j, &c, 1);
}

/* Whitespace (ASCII, NBSP, BOM, line and paragraph separators) and
 * comments. */
static void skip_blank(J5 *j)
{
    const unsigned char *s = (const unsigned char *)j->s;
    while (j->i < j->n) {
        size_t i = j->i, left = j->n - i;
        if (s[i] == ' ' || (s[i] >= '\t' && s[i] <= '\r')) {
            j->i++;
        } else if (left >= 2 && s[i] == 0xC2 && s[i + 1] == 0xA0) {
            j->i += 2;
        } else if (left >= 3 && ((s[i] == 0xEF && s[i + 1] == 0xBB && s[i + 2] == 0xBF) ||
                                 (s[i] == 0xE2 && s[i + 1] == 0x80 &&
                                  (s[i + 2] == 0xA8 || s[i + 2] == 0xA9)))) {
            j->i += 3;
        } else if (left >= 2 && s[i] == '/' && s[i + 1] == '/') {
            while (j->i < j->n && s[j->i] != '\n')
                j->i++;
        } else if (left >= 2 && s[i] == '/' && s[i + 1] == '*') {
            const char *e = find(j->s + i + 2, left - 2, "*/");
            j->i = e ? (size_t)(e - j->s) + 2 : j->n;
        } else {
            break;
        }
    }
}

static int ident_start(unsigned char c)
{
    return isalpha(c) || c == '_' || c == '$' || c >= 0x80;
}
static int ident_char(unsigned char c)
{
    return ident_start(c) || isdigit(c);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int j5_value(J5 *j, int depth);

/* A string quoted with " or ', written with ". */
static int j5_string(J5 *j)
{
    char quote = j->s[j->i++];
    emitc(j, '"');
    while (j->i < j->n) {
        unsigned char c = (unsigned char)j->s[j->i++];
        char tmp[8];
        if (c == (unsigned char)quote) {
            emitc(j, '"');
            return PLUMB_OK;
        }
        if (c == '\\') {
            char e;
            if (j->i >= j->n)
                return PLUMB_EFORMAT;
            e = j->s[j->i++];
            switch (e) {
            case '"': emit(j, "\\\"", 2); break;
            case '\\': emit(j, "\\\\", 2); break;
            case 'b': case 'f': case 'n': case 'r': case 't':
                emitc(j, '\\');
                emitc(j, e);
                break;
            case 'v': emit(j, "\\u000b", 6); break;
            case '0': emit(j, "\\u0000", 6); break; /* refused by jansson: not a call */
            case 'x': {
                int h, l;
                if (j->i + 2 > j->n || (h = hexval(j->s[j->i])) < 0 ||
                    (l = hexval(j->s[j->i + 1])) < 0)
                    return PLUMB_EFORMAT;
                j->i += 2;
                snprintf(tmp, sizeof tmp, "\\u%04x", h * 16 + l);
                emit(j, tmp, 6);
                break;
            }
            case 'u': {
                size_t k;
                if (j->i + 4 > j->n)
                    return PLUMB_EFORMAT;
                for (k = 0; k < 4; k++)
                    if (hexval(j->s[j->i + k]) < 0)
                        return PLUMB_EFORMAT;
                emit(j, "\\u", 2);
                emit(j, j->s + j->i, 4);
                j->i += 4;
                break;
            }
            case '\r':
                if (j->i < j->n && j->s[j->i] == '\n')
                    j->i++;
                break; /* a line continuation */
            case '\n':
                break;
            default: /* \' \/ and any other: the character itself */
                j->i--;
                c = (unsigned char)j->s[j->i++];
                if (c < 0x20) {
                    snprintf(tmp, sizeof tmp, "\\u%04x", c);
                    emit(j, tmp, 6);
                } else {
                    emitc(j, (char)c);
                }
                break;
            }
        } else if (c == '"') {
            emit(j, "\\\"", 2);
        } else if (c < 0x20) {
            switch (c) {
            case '\n': emit(j, "\\n", 2); break;
            case '\t': emit(j, "\\t", 2); break;
            case '\r': emit(j, "\\r", 2); break;
            default:
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                emit(j, tmp, 6);
            }
        } else {
            emitc(j, (char)c);
        }
    }
    return PLUMB_EFORMAT; /* the string never ends */
}

static int j5_number(J5 *j)
{
    const char *s = j->s;
    size_t n = j->n, start;
    int neg = 0, int_digits = 0, frac_digits = 0;
    if (s[j->i] == '-' || s[j->i] == '+') {
        neg = s[j->i] == '-';
        j->i++;
    }
    if (j->i + 1 < n && s[j->i] == '0' && (s[j->i + 1] == 'x' || s[j->i + 1] == 'X')) {
        uint64_t v = 0;
        int d, k = 0;
        char tmp[32];
        j->i += 2;
        while (j->i < n && (d = hexval(s[j->i])) >= 0) {
            if (v > (UINT64_MAX >> 4) || k++ > 15)
                return PLUMB_EFORMAT;
            v = v * 16 + (uint64_t)d;
            j->i++;
        }
        if (!k || v > (uint64_t)INT64_MAX)
            return PLUMB_EFORMAT;
        snprintf(tmp, sizeof tmp, "%s%llu", neg ? "-" : "", (unsigned long long)v);
        emit(j, tmp, strlen(tmp));
        return PLUMB_OK;
    }
    if (neg)
        emitc(j, '-');
    /* leading zeros go: 007 is 7 */
    while (j->i + 1 < n && s[j->i] == '0' && isdigit((unsigned char)s[j->i + 1]))
        j->i++;
    start = j->i;
    while (j->i < n && isdigit((unsigned char)s[j->i]))
        j->i++;
    int_digits = (int)(j->i - start);
    if (int_digits)
        emit(j, s + start, j->i - start);
    else
        emitc(j, '0');
    if (j->i < n && s[j->i] == '.') {
        j->i++;
        start = j->i;
        while (j->i < n && isdigit((unsigned char)s[j->i]))
            j->i++;
        frac_digits = (int)(j->i - start);
        emitc(j, '.');
        if (frac_digits)
            emit(j, s + start, j->i - start);
        else
            emitc(j, '0');
    }
    if (!int_digits && !frac_digits)
        return PLUMB_EFORMAT;
    if (j->i < n && (s[j->i] == 'e' || s[j->i] == 'E')) {
        j->i++;
        emitc(j, 'e');
        if (j->i < n && (s[j->i] == '+' || s[j->i] == '-'))
            emitc(j, s[j->i++]);
        start = j->i;
        while (j->i < n && isdigit((unsigned char)s[j->i]))
            j->i++;
        if (j->i == start)
            return PLUMB_EFORMAT;
        emit(j, s + start, j->i - start);
    }
    return PLUMB_OK;
}

/* true false null and Python's True False None. */
static int j5_literal(J5 *j)
{
    static const struct {
        const char *in, *out;
    } lits[] = { { "true", "true" },   { "false", "false" }, { "null", "null" },
                 { "True", "true" },   { "False", "false" }, { "None", "null" } };
    size_t k, start = j->i;
    while (j->i < j->n && ident_char((unsigned char)j->s[j->i]))
        j->i++;
    for (k = 0; k < sizeof lits / sizeof lits[0]; k++)
        if (strlen(lits[k].in) == j->i - start && !memcmp(j->s + start, lits[k].in, j->i - start)) {
            emit(j, lits[k].out, strlen(lits[k].out));
            return PLUMB_OK;
        }
    return PLUMB_EFORMAT;
}

/* An object or array; brackets left open at the end of the text, or where
 * a tag begins ('<'), are closed. */
static int j5_container(J5 *j, int depth)
{
    int object = j->s[j->i] == '{', first = 1, rc;
    char close = object ? '}' : ']';
    if (depth >= PROTOCOL_MAX_DEPTH)
        return PLUMB_EFORMAT;
    emitc(j, j->s[j->i++]);
    for (;;) {
        skip_blank(j);
        if (j->i >= j->n || j->s[j->i] == '<') {
            emitc(j, close);
            return PLUMB_OK;
        }
        if (j->s[j->i] == close) {
            j->i++;
            emitc(j, close);
            return PLUMB_OK;
        }
        if (j->s[j->i] == ',') { /* a trailing or doubled comma */
            j->i++;
            continue;
        }
        if (!first)
            emitc(j, ',');
        first = 0;
        if (object) {
            char c = j->s[j->i];
            if (c == '"' || c == '\'') {
                if ((rc = j5_string(j)) < 0)
                    return rc;
            } else if (ident_start((unsigned char)c)) {
                size_t start = j->i;
                while (j->i < j->n && ident_char((unsigned char)j->s[j->i]))
                    j->i++;
                emitc(j, '"');
                emit(j, j->s + start, j->i - start);
                emitc(j, '"');
            } else {
                return PLUMB_EFORMAT;
            }
            skip_blank(j);
            if (j->i >= j->n || j->s[j->i] != ':')
                return PLUMB_EFORMAT;
            j->i++;
            emitc(j, ':');
        }
        if ((rc = j5_value(j, depth + 1)) < 0)
            return rc;
    }
}

static int j5_value(J5 *j, int depth)
{
    char c;
    skip_blank(j);
    if (j->i >= j->n)
        return PLUMB_EFORMAT;
    c = j->s[j->i];
    if (c == '{' || c == '[')
        return j5_container(j, depth);
    if (c == '"' || c == '\'')
        return j5_string(j);
    if (isdigit((unsigned char)c) || c == '-' || c == '+' || c == '.')
        return j5_number(j);
    if (isalpha((unsigned char)c))
        return j5_literal(j);
    return PLUMB_EFORMAT;
}

/* Does the text at j->i start a value (not just any word)? */
static int starts_value(const J5 *j)
{
    static const char *const lits[] = { "true", "false", "null", "True", "False", "None" };
    char c = j->s[j->i];
    size_t k, left = j->n - j->i;
    if (strchr("{[\"'-+.", c) || isdigit((unsigned char)c))
        return 1;
    for (k = 0; k < sizeof lits / sizeof lits[0]; k++) {
        size_t l = strlen(lits[k]);
        if (left >= l && !memcmp(j->s + j->i, lits[k], l) &&
            (left == l || !ident_char((unsigned char)j->s[j->i + l])))
            return 1;
    }
    return 0;
}

int protocol_json5(const char *text, size_t len, Buf *out, size_t *used)
{
    J5 j = { text, len, 0, out, 0 };
    size_t mark = out->len;
    int rc;
    skip_blank(&j);
    if (j.n - j.i >= 3 && !memcmp(j.s + j.i, "```", 3)) { /* ```json */
        while (j.i < j.n && j.s[j.i] != '\n')
            j.i++;
        skip_blank(&j);
    }
    if (j.i >= j.n)
        return PLUMB_EFORMAT;
    if (!starts_value(&j)) {
        const char *b = memchr(j.s + j.i, '{', j.n - j.i);
        if (!b)
            return PLUMB_EFORMAT;
        j.i = (size_t)(b - j.s);
    }
    rc = j5_value(&j, 0);
    if (!rc)
        rc = j.rc;
    if (rc < 0) {
        out->len = mark;
        if (out->p)
            out->p[mark] = 0;
        return rc;
    }
    if (used)
        *used = j.i;
    return PLUMB_OK;
}

json_t *protocol_json_loads(const char *text, size_t len)
{
    Buf b = { 0 };
    json_t *v = NULL;
    json_error_t je;
    if (protocol_json5(text, len, &b, NULL) == PLUMB_OK)
        v = json_loadb(b.p, b.len, 0, &je);
    buf_free(&b);
    return v;
}

/* ------------------------------------------------------------ tool calls */

void protocol_call_free(ToolCall *call)
{
    if (!call)
        return;
    free(call->name);
    json_decref(call->args);
    free(call->code);
    free(call->error);
    memset(call, 0, sizeof *call);
}

static char *dup_range(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = 0;
    }
    return p;
}

static int call_error(ToolCall *call, const char *text, PlumbError *err)
{
    json_decref(call->args);
    call->args = NULL;
    free(call->name);
    call->name = NULL;
    call->kind = CALL_ERROR;
    if (!(call->error = strdup(text)))
        return plumb_err(err, PLUMB_ENOMEM, "out of memory");
    return PLUMB_OK;
}

int protocol_parse_call(const char *reply, const AgentTools *t, ToolCall *call, PlumbError *err)
{
    const char *start = strstr(reply, "<tool_call>"), *end, *name, *code;
    size_t len;
    json_t *v = NULL, *jn, *ja;
    int rc = PLUMB_OK;

    memset(call, 0, sizeof *call);
    if (!start)
        return PLUMB_OK;
    start += strlen("<tool_call>");
    if (!(end = strstr(start, "</tool_call>")))
        return PLUMB_OK;
    len = (size_t)(end - start);
    if (len > PROTOCOL_MAX_CALL)
        return call_error(call, FORMAT_ERR_TOOLCALL, err);
    v = protocol_json_loads(start, len);
    if (!json_is_object(v)) {
        rc = call_error(call, FORMAT_ERR_TOOLCALL, err);
        goto done;
    }
    jn = json_object_get(v, "name");
    ja = json_object_get(v, "arguments");
    if (!jn && json_is_object(json_object_get(v, "function"))) { /* the OpenAI shape */
        jn = json_object_get(json_object_get(v, "function"), "name");
        ja = json_object_get(json_object_get(v, "function"), "arguments");
    }
    if (!json_is_string(jn)) {
        rc = call_error(call, FORMAT_ERR_TOOLCALL, err);
        goto done;
    }
    name = json_string_value(jn);
    if (!ja || json_is_null(ja)) {
        call->args = json_object();
    } else if (json_is_string(ja)) { /* arguments given as a string of JSON */
        call->args = protocol_json_loads(json_string_value(ja), json_string_length(ja));
    } else {
        call->args = json_incref(ja);
    }
    if (!json_is_object(call->args)) {
        rc = call_error(call, FORMAT_ERR_TOOLCALL, err);
        goto done;
    }
    if (strlen(name) != json_string_length(jn) || !tool_known(t, name)) {
        Buf b = { 0 };
        if (buf_printf(&b, FORMAT_ERR_NOTFOUND_FMT, name) < 0) {
            buf_free(&b);
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
            goto done;
        }
        rc = call_error(call, buf_str(&b), err);
        buf_free(&b);
        goto done;
    }
    if (!strcmp(name, "PythonInterpreter")) {
        const char *c = find(start, len, "<code>"), *ce;
        size_t n;
        if (c) {
            c += strlen("<code>");
            ce = find(c, (size_t)(end - c), "</code>");
            n = ce ? (size_t)(ce - c) : (size_t)(end - c);
        } else if (json_is_string(json_object_get(call->args, "code"))) {
            json_t *jc = json_object_get(call->args, "code");
            c = json_string_value(jc);
            n = json_string_length(jc);
        } else {
            rc = call_error(call, FORMAT_ERR_PYTHON, err);
            goto done;
        }
        code = c;
        strip_range(&code, &n);
        if (!(call->code = dup_range(code, n))) {
            rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
            goto done;
        }
    }
    if (!(call->name = strdup(name))) {
        rc = plumb_err(err, PLUMB_ENOMEM, "out of memory");
        goto done;
    }
    call->kind = CALL_TOOL;
done:
    json_decref(v);
    if (rc < 0)
        protocol_call_free(call);
    return rc;
}

/* ------------------------------------------------------------ citations */

static int url_end_char(unsigned char c)
{
    return c <= ' ' || c == 0x7f || strchr("<>\"'`]}|\\^", c) != NULL;
}

/* Compare two URLs, a trailing '/' on either ignored. */
static int same_url(const char *a, size_t na, const char *b)
{
    size_t nb = strlen(b);
    if (na && a[na - 1] == '/')
        na--;
    if (nb && b[nb - 1] == '/')
        nb--;
    return na == nb && !memcmp(a, b, na);
}

int protocol_unverified(const char *text, const AgentTools *t, size_t from, json_t *out)
{
    const char *p = text;
    while ((p = strstr(p, "http")) != NULL) {
        const char *s = p, *e;
        int depth = 0, seen = 0;
        size_t n, k;
        if (strncmp(p, "http://", 7) && strncmp(p, "https://", 8)) {
            p += 4;
            continue;
        }
        e = s;
        while (*e && !url_end_char((unsigned char)*e)) {
            if (*e == '(')
                depth++;
            else if (*e == ')' && --depth < 0)
                break; /* the ")" of a Markdown link or a parenthesis */
            e++;
        }
        p = e;
        n = (size_t)(e - s);
        while (n && strchr(".,;:!?*", s[n - 1]))
            n--;
        if (n <= 8)
            continue;
        for (k = from; t && k < t->n_sources && !seen; k++)
            seen = same_url(s, n, t->sources[k].url) || same_url(s, n, t->sources[k].final_url);
        for (k = 0; k < json_array_size(out) && !seen; k++)
            seen = same_url(s, n, json_string_value(json_array_get(out, k)));
        if (!seen) {
            json_t *u = json_stringn(s, n); /* NULL for bytes that are not UTF-8 */
            if (u && json_array_append_new(out, u) < 0)
                return PLUMB_ENOMEM;
        }
    }
    return PLUMB_OK;
}
