/*
 * test_pyexec.c — the PythonInterpreter tool through agent_tools_call, its
 * results compared byte for byte with tests/data/agent/python/NAME.expected
 * for the code in NAME.py: output on stdout, stderr, both, none, a timeout,
 * an endless writer, a fork bomb, network attempts (to the outside and to a
 * listener this test holds on loopback, which must see no connection), and
 * files outside the sandbox.  Also: no <code>, --python off, a missing
 * bwrap.  Skipped (77) without bwrap or python3.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "format.h"
#include "tools.h"
#include "../testlib.h"

static char warnings[4096];

static void on_warning(void *user, const char *line)
{
    (void)user;
    strncat(warnings, line, sizeof warnings - strlen(warnings) - 1);
}

/* Replace every @KEY@ in text; malloc'd. */
static char *subst(const char *text, const char *key, const char *value)
{
    size_t kl = strlen(key), vl = strlen(value), n = 0;
    for (const char *p = strstr(text, key); p; p = strstr(p + kl, key))
        n++;
    char *out = malloc(strlen(text) + n * vl + 1), *o = out;
    const char *p = text, *q;
    while ((q = strstr(p, key))) {
        memcpy(o, p, (size_t)(q - p));
        o += q - p;
        memcpy(o, value, vl);
        o += vl;
        p = q + kl;
    }
    strcpy(o, p);
    return out;
}

static char *run_code(AgentTools *t, const char *code)
{
    char *out = NULL;
    PlumbError e = {0};
    json_t *args = json_object();
    int rc = agent_tools_call(t, "PythonInterpreter", args, code, &out, &e);
    json_decref(args);
    CHECK(rc == PLUMB_OK, "agent_tools_call: %d %s", rc, e.msg);
    return out;
}

static void check_case(AgentTools *t, const char *name, const char *port, const char *home)
{
    char path[256];
    size_t n;
    snprintf(path, sizeof path, "agent/python/%s.py", name);
    char *code = test_read_file(test_data(path), &n);
    snprintf(path, sizeof path, "agent/python/%s.expected", name);
    char *want = test_read_file(test_data(path), &n);
    CHECK(code && want, "%s: cannot read the case files in %s", name, test_data(""));
    if (!code || !want) {
        free(code);
        free(want);
        return;
    }
    char *c1 = subst(code, "@PORT@", port), *c2 = subst(c1, "@HOME@", home);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char *got = run_code(t, c2);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double dt = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    CHECK(got && strcmp(got, want) == 0, "%s (%.2f s): got\n---\n%.2000s\n---\nwant\n---\n%.2000s\n---",
          name, dt, got ? got : "(null)", want);
    CHECK(dt < 15, "%s took %.1f s", name, dt);
    free(got);
    free(c1);
    free(c2);
    free(code);
    free(want);
}

int main(void)
{
    if (access("/usr/bin/python3", X_OK) != 0) {
        fprintf(stderr, "test_pyexec: no /usr/bin/python3 (Debian package python3): skipped\n");
        return 77;
    }
    if (access("/usr/bin/bwrap", X_OK) != 0) {
        fprintf(stderr, "test_pyexec: no bwrap (Debian package bubblewrap): skipped\n");
        return 77;
    }

    /* A listener on the host's loopback that nothing should reach. */
    int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t sl = sizeof sa;
    CHECK(ls >= 0 && bind(ls, (struct sockaddr *)&sa, sizeof sa) == 0 && listen(ls, 16) == 0 &&
              getsockname(ls, (struct sockaddr *)&sa, &sl) == 0,
          "listener: %s", strerror(errno));
    char port[16];
    snprintf(port, sizeof port, "%u", (unsigned)ntohs(sa.sin_port));
    const char *home = getenv("HOME") && *getenv("HOME") ? getenv("HOME") : "/root";

    AgentToolsParams p = {.python_timeout_s = 20, .on_warning = on_warning};
    AgentTools *t = NULL;
    PlumbError e = {0};
    CHECK(agent_tools_open(&t, &p, &e) == PLUMB_OK, "open: %s", e.msg);
    if (!t)
        return test_done("test_pyexec");

    static const char *const cases[] = {"hello", "exception", "both", "nothing", "flood",
                                        "forkbomb", "network", "files", "unicode"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_case(t, cases[i], port, home);
    /* A short clock for the timeout case. */
    t->p.python_timeout_s = 1.5;
    check_case(t, "timeout", port, home);
    t->p.python_timeout_s = 20;
    CHECK(warnings[0] == 0, "warnings: %s", warnings);

    /* Nobody knocked on the listener. */
    struct pollfd pf = {.fd = ls, .events = POLLIN};
    int knocks = poll(&pf, 1, 100);
    CHECK(knocks == 0, "the loopback listener saw %d connection(s)", knocks);
    close(ls);

    /* A real traceback, not exact: its layout depends on the version. */
    char *got = run_code(t, "  \n1 / 0\n  ");
    CHECK(got && strncmp(got, "stderr:\nTraceback (most recent call last):\n", 43) == 0 &&
              strstr(got, "ZeroDivisionError: division by zero\n"),
          "traceback: %s", got);
    free(got);

    /* No <code>: the reference's formatting error.  Empty code runs. */
    got = run_code(t, NULL);
    CHECK(got && strcmp(got, FORMAT_ERR_PYTHON) == 0, "no code: %s", got);
    free(got);
    got = run_code(t, " \n ");
    CHECK(got && strcmp(got, FORMAT_PY_DONE) == 0, "empty code: %s", got);
    free(got);

    /* bwrap missing: an error result and a warning naming the package. */
    t->p.bwrap = "/nonexistent/bwrap";
    got = run_code(t, "print(1)");
    CHECK(got && strcmp(got, "[Python Interpreter Error]: bwrap not found at '/nonexistent/bwrap' "
                             "(install the Debian package bubblewrap)") == 0,
          "no bwrap: %s", got);
    CHECK(strstr(warnings, "PythonInterpreter: ") && strstr(warnings, "bubblewrap"), "warning: '%s'",
          warnings);
    free(got);
    t->p.bwrap = NULL;

    /* --python off: the tool is not there. */
    t->p.python = PYTHON_OFF;
    got = run_code(t, "print(1)");
    CHECK(got && strcmp(got, "Error: Tool PythonInterpreter not found") == 0, "off: %s", got);
    free(got);

    agent_tools_close(t);
    return test_done("test_pyexec");
}
