/*
 * pyexec.c — the PythonInterpreter tool: the model's <code> runs as
 * `python3 -I -u -` (the code on stdin) under bubblewrap (sandbox.h), with
 * no network, a read-only /usr, a private /tmp, the wall clock of
 * python_timeout_s (50 s), 1 GiB of address space and 64 processes.
 *
 * The result has the reference's shape (format_python): "stdout:\n{out}",
 * "stderr:\n{err}" and the timeout text, the non-empty ones joined by "\n",
 * or "Finished execution." when all are empty.  The streams are given as
 * they came, not stripped, as the reference's sandbox service returns them.
 * Where we differ:
 *   - each stream is kept up to PY_MAX_OUTPUT bytes; past that the program is
 *     stopped and the stream ends with a line of our own wording saying it
 *     was cut (the reference has no cap: an endless print would fill the
 *     model's context);
 *   - invalid UTF-8 and NUL bytes in the output become U+FFFD;
 *   - the timeout text appears when the wall clock killed the program (the
 *     reference decides by "execution time >= timeout - 1").
 * Failures the model can act on are results, not errors: no <code> gives
 * "[Python Interpreter Error]: Formatting error."; a sandbox that cannot
 * run (bwrap or python3 missing, user namespaces refused) gives
 * "[Python Interpreter Error]: {why}", the reference's shape for an
 * exception, and a warning naming the Debian package.  With --python off
 * (PYTHON_OFF) the tool does not exist: "Error: Tool PythonInterpreter not
 * found", the reference's text for an unknown tool.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "format.h"
#include "sandbox.h"
#include "text.h"
#include "tools.h"
#include "utf8.h"

#define PY_MAX_OUTPUT ((size_t)32 << 10) /* bytes kept of stdout and of stderr */
#define PY_MAX_CODE ((size_t)1 << 20)    /* bytes of code accepted */

/* Append the stream as valid UTF-8 (bad bytes and NUL become U+FFFD) and,
 * when it was cut, our note. */
static int put_stream(Buf *b, const char *s, size_t n, int truncated)
{
    int rc;
    if (truncated) {
        /* Do not end in the middle of a sequence. */
        size_t k = n, back = 0;
        while (k > 0 && back < 4 && ((unsigned char)s[k - 1] & 0xC0) == 0x80) {
            k--;
            back++;
        }
        if (k > 0 && (unsigned char)s[k - 1] >= 0xC0 &&
            (size_t)utf8_lead_len((unsigned char)s[k - 1]) > back + 1)
            n = k - 1;
    }
    if ((rc = text_utf8_repair_buf(b, s, n)) < 0)
        return rc;
    if (truncated)
        return buf_printf(b, "%s[output cut at %zu bytes]\n",
                          b->len && b->p[b->len - 1] != '\n' ? "\n" : "", PY_MAX_OUTPUT);
    return PLUMB_OK;
}

/* The result text for a sandbox that could not run the code. */
static int unavailable(AgentTools *t, Buf *out, const char *why, const char *package)
{
    agent_tools_warn(t, "PythonInterpreter: %s%s%s%s", why, package ? " (install the Debian package " : "",
                     package ? package : "", package ? ")" : "");
    return buf_printf(out, "[Python Interpreter Error]: %s", why);
}

int tool_python(AgentTools *t, json_t *args, const char *code, Buf *out, PlumbError *err)
{
    static const char *const argv[] = {"python3", "-I", "-u", "-", NULL};
    SandboxResult r = {0};
    PlumbError e = {0};
    Buf o = {0}, er = {0};
    int rc;
    (void)args; /* the code comes from <code>, as in the reference */

    if (t->p.python == PYTHON_OFF)
        return buf_printf(out, FORMAT_ERR_NOTFOUND_FMT, "PythonInterpreter");
    if (!code)
        return buf_puts(out, FORMAT_ERR_PYTHON);
    /* The reference strips the text between <code> and </code>. */
    size_t len = strlen(code);
    while (len && strchr(" \t\n\r\f\v", code[len - 1]))
        len--;
    while (len && strchr(" \t\n\r\f\v", *code)) {
        code++;
        len--;
    }
    if (len > PY_MAX_CODE)
        return buf_printf(out, "[Python Interpreter Error]: the code is %zu bytes, more than %zu",
                          len, PY_MAX_CODE);
    if (access("/usr/bin/python3", X_OK) != 0)
        return unavailable(t, out, "python3 is not installed", "python3");

    SandboxParams sp = {
        .use_bwrap = 1,
        .bwrap = t->p.bwrap,
        .wall_s = t->p.python_timeout_s > 0 ? t->p.python_timeout_s : 50,
        .max_output = PY_MAX_OUTPUT,
        .stdin_data = code,
        .stdin_len = len,
    };
    rc = sandbox_run(argv, &sp, &r, &e);
    if (rc == PLUMB_ENOMEM)
        return plumb_err(err, rc, "PythonInterpreter: %s", e.msg);
    if (rc < 0) {
        /* e.msg names bwrap's package when bwrap is the cause. */
        const char *why = strncmp(e.msg, "sandbox: ", 9) == 0 ? e.msg + 9 : e.msg;
        return unavailable(t, out, why, NULL);
    }
    rc = put_stream(&o, r.out, r.out_len, r.out_truncated);
    if (rc >= 0)
        rc = put_stream(&er, r.err, r.err_len, r.err_truncated);
    if (rc >= 0)
        rc = format_python(out, buf_str(&o), buf_str(&er), r.timed_out);
    if (rc < 0)
        rc = plumb_err(err, rc, "PythonInterpreter: out of memory");
    buf_free(&o);
    buf_free(&er);
    sandbox_result_free(&r);
    return rc;
}
