/*
 * format.h — the tool results and error strings exactly as the reference
 * agent (Alibaba-NLP/DeepResearch, inference/tool_*.py, react_agent.py)
 * gives them to the model, byte for byte.  The model was trained on these
 * shapes; nothing here is our own wording except where a comment says so.
 */
#ifndef PLUMB_AGENT_FORMAT_H
#define PLUMB_AGENT_FORMAT_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"

/* Several queries' or URLs' results are joined by this. */
#define FORMAT_SEP "\n=======\n"

#define FORMAT_ERR_TOOLCALL \
    "Error: Tool call is not a valid JSON. Tool call must contain a valid \"name\" and \"arguments\" field."
#define FORMAT_ERR_NOTFOUND_FMT "Error: Tool %s not found" /* printf: the name */
#define FORMAT_ERR_PYTHON "[Python Interpreter Error]: Formatting error."
#define FORMAT_ERR_SEARCH_ARGS \
    "[Search] Invalid request format: Input must be a JSON object containing 'query' field"
#define FORMAT_ERR_SCHOLAR_ARGS \
    "[google_scholar] Invalid request format: Input must be a JSON object containing 'query' field"
#define FORMAT_ERR_VISIT_ARGS \
    "[Visit] Invalid request format: Input must be a JSON object containing 'url' and 'goal' fields"
#define FORMAT_VISIT_FAIL_EVIDENCE \
    "The provided webpage content could not be accessed. Please check the URL or file format."
#define FORMAT_VISIT_FAIL_SUMMARY \
    "The webpage content could not be processed, and therefore, no information is available."
#define FORMAT_PY_TIMEOUT "[PythonInterpreter Error] TimeoutError: Execution timed out."
#define FORMAT_PY_DONE "Finished execution."

typedef struct SearchHit {
    const char *title;
    const char *url;
    const char *date;    /* "Mar 5, 2024", or NULL */
    const char *source;  /* or NULL */
    const char *snippet; /* or NULL / "" */
} SearchHit;

/* One query's block: "A Google search for '{q}' found {n} results:..." or,
 * for n == 0, the no-results text. */
int format_search(Buf *out, const char *query, const SearchHit *hits, size_t n);

typedef struct ScholarHit {
    const char *title;
    const char *pdf_url;          /* or NULL: "no available link" */
    const char *publication_info; /* or NULL */
    const char *year;             /* or NULL */
    long cited_by;                /* < 0: absent */
    const char *snippet;          /* or NULL */
} ScholarHit;

int format_scholar(Buf *out, const char *query, const ScholarHit *hits, size_t n);

/* One URL's block, with its trailing "\n\n"; the caller joins blocks with
 * FORMAT_SEP and strips the whole (format_strip). */
int format_visit(Buf *out, const char *url, const char *goal, const char *evidence,
                 const char *summary);
/* The block for a page that could not be had. */
int format_visit_failed(Buf *out, const char *url, const char *goal);

/* PythonInterpreter: "stdout:\n..." / "stderr:\n..." / the timeout text,
 * the non-empty ones joined by "\n"; all empty: "Finished execution.". */
int format_python(Buf *out, const char *out_text, const char *err_text, int timed_out);

/* parse_file: the Python str() of the list
 * ['File token number: {N}\nFile content:\n', '# File: {name}\n{text}', ...];
 * errors[i] non-NULL makes element i "# Error processing {name}: {error}". */
int format_parse_file(Buf *out, const char *const *names, const char *const *texts,
                      const char *const *errors, size_t n);

/* Python repr() of a str (UTF-8 in; the quotes and escapes repr uses). */
int format_pyrepr(Buf *out, const char *s, size_t len);

/* Python str() of a JSON value as json.loads gives it: a string as it is;
 * lists and objects as Python prints them (repr of their items, True,
 * False, None, floats as repr(float)).  visit uses it for the extractor's
 * evidence and summary, which the reference passes through str(). */
int format_pystr_json(Buf *out, const json_t *v);

/* Python str.strip(): trim whitespace at both ends of b, in place. */
void format_strip(Buf *b);

#endif
