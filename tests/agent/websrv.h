/*
 * websrv.h — run tests/agent/fake_searxng.py for a test: start it with a
 * pipe on its stdin (closing the pipe stops it), read the port it prints,
 * ask it how often each path was requested, stop it.  Everything has a
 * time limit, so a broken server fails the test instead of hanging it.
 */
#ifndef PLUMB_TEST_WEBSRV_H
#define PLUMB_TEST_WEBSRV_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct WebSrv {
    pid_t pid;   /* the python process, 0 when not running */
    int in_fd;   /* its stdin */
    int port;    /* where it listens on 127.0.0.1 */
} WebSrv;

/* The script's path: $top_srcdir/tests/agent/fake_searxng.py. */
static inline const char *websrv_script(void)
{
    static char path[4096];
    const char *top = getenv("top_srcdir");
    snprintf(path, sizeof path, "%s/tests/agent/fake_searxng.py", top && *top ? top : "..");
    return path;
}

/* argv: options after the script (NULL-terminated).  0 when running. */
static inline int websrv_start(WebSrv *s, const char *const *opts)
{
    int in[2], out[2];
    const char *argv[32];
    size_t n = 0;
    char line[32];
    size_t got = 0;
    struct pollfd pfd;
    memset(s, 0, sizeof *s);
    if (pipe(in) || pipe(out))
        return -1;
    argv[n++] = "python3";
    argv[n++] = websrv_script();
    while (opts && *opts && n < 30)
        argv[n++] = *opts++;
    argv[n] = NULL;
    s->pid = fork();
    if (s->pid < 0)
        return -1;
    if (s->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execvp("python3", (char *const *)argv);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    s->in_fd = in[1];
    pfd.fd = out[0];
    pfd.events = POLLIN;
    while (got < sizeof line - 1) {
        ssize_t r;
        if (poll(&pfd, 1, 60000) <= 0)
            break;
        r = read(out[0], line + got, 1);
        if (r <= 0 || line[got] == '\n')
            break;
        got++;
    }
    line[got] = 0;
    close(out[0]);
    s->port = atoi(line);
    if (s->port <= 0) {
        fprintf(stderr, "websrv: %s did not print a port\n", websrv_script());
        return -1;
    }
    return 0;
}

static inline void websrv_stop(WebSrv *s)
{
    int status, i;
    if (!s->pid)
        return;
    close(s->in_fd);
    for (i = 0; i < 100; i++) { /* 10 s */
        if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
            s->pid = 0;
            return;
        }
        usleep(100000);
    }
    kill(s->pid, SIGKILL);
    waitpid(s->pid, &status, 0);
    s->pid = 0;
}

/* GET path from the server over a plain socket (not counted through the
 * code under test); the body, malloc'd, or NULL. */
static inline char *websrv_get(const WebSrv *s, const char *path)
{
    struct sockaddr_in a;
    char req[1024], *buf = NULL, *body;
    size_t len = 0, cap = 0;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct timeval tv = { 10, 0 };
    if (fd < 0)
        return NULL;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)s->port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return NULL;
    }
    snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n", path);
    if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
        close(fd);
        return NULL;
    }
    for (;;) {
        ssize_t r;
        if (len + 4097 > cap) {
            char *nb = realloc(buf, cap = (len + 4097) * 2);
            if (!nb)
                break;
            buf = nb;
        }
        r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return NULL;
    buf[len] = 0;
    body = strstr(buf, "\r\n\r\n");
    body = strdup(body ? body + 4 : "");
    free(buf);
    return body;
}

/* How often "path?query" was requested (0 when never). */
static inline int websrv_hits(const WebSrv *s, const char *key)
{
    char *hits = websrv_get(s, "/__hits"), pat[2048], *p;
    int n = 0;
    if (!hits)
        return -1;
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    if ((p = strstr(hits, pat)))
        n = atoi(p + strlen(pat));
    free(hits);
    return n;
}

#endif
