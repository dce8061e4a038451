/*
 * parsefile.c — the parse_file tool: the user's files, by name, as text.
 *
 * The model names files (a list of strings; one string is taken as a list of
 * one); each name is looked up under the files folder (--files) and nowhere
 * else: an absolute name, a name whose realpath leaves the folder (through
 * "..", or a symbolic link pointing out), a missing file or one that cannot
 * be read as a document gives that file's error element.  The result is the
 * reference's (format_parse_file): the Python str() of the list
 *   ['File token number: {N}\nFile content:\n', '# File: {name}\n{text}', ...]
 * where name is the last part of the path, as os.path.basename gives it, and
 * a failed file is '# Error processing {name}: Document parsing failed', the
 * reference parser's words for every failure (the reason goes to the user as
 * a warning, not to the model).  Arguments the reference could not use
 * (no "files", a name that is not a string) give its tool-call error.  Each
 * file read is recorded as a source of the run, with the SHA-256 of its bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "docs.h"
#include "format.h"
#include "hash.h"
#include "index.h"
#include "tools.h"

#define PARSE_MAX_FILES 32          /* names of one call looked at */
#define PARSE_MAX_TEXT (1u << 20)   /* bytes of text kept per file */
#define PARSE_FAILED "Document parsing failed"

/* SHA-256 of the file at path (not following a symbolic link). */
static int file_sha256(const char *path, char hex[SHA256_HEX_LEN + 1])
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), rc;
    if (fd < 0)
        return PLUMB_EIO;
    rc = sha256_fd_hex(fd, 0, hex);
    close(fd);
    return rc ? PLUMB_EIO : PLUMB_OK;
}

/* The realpath of name under root (a realpath), or NULL with the reason in
 * *why when name is not a file inside it. */
static char *resolve(const char *root, const char *name, const char **why)
{
    Buf joined = { 0 };
    char *real;
    size_t n = strlen(root);
    if (!*name) {
        *why = "an empty name";
        return NULL;
    }
    if (name[0] == '/') {
        *why = "an absolute path (names are relative to the files folder)";
        return NULL;
    }
    if (buf_printf(&joined, "%s/%s", root, name) < 0) {
        *why = "out of memory";
        return NULL;
    }
    real = realpath(joined.p, NULL);
    buf_free(&joined);
    if (!real) {
        *why = errno == ENOENT ? "no such file in the files folder" : strerror(errno);
        return NULL;
    }
    if (strncmp(real, root, n) != 0 || (n > 1 && real[n] != '/') || !real[n]) {
        free(real);
        *why = "outside the files folder";
        return NULL;
    }
    return real;
}

int tool_parse_file(AgentTools *t, json_t *args, Buf *out, PlumbError *err)
{
    json_t *files, *one = NULL;
    const char *names[PARSE_MAX_FILES], *texts[PARSE_MAX_FILES], *errors[PARSE_MAX_FILES];
    char *owned[PARSE_MAX_FILES];
    char *root = NULL;
    size_t n = 0, i;
    DocsParams dp = { 0 };
    int rc = PLUMB_OK;

    files = json_is_object(args) ? json_object_get(args, "files") : NULL;
    if (json_is_string(files)) {
        if (!(one = json_array()) || json_array_append(one, files) != 0) {
            json_decref(one);
            return plumb_err(err, PLUMB_ENOMEM, "parse_file: out of memory");
        }
        files = one;
    }
    if (!json_is_array(files))
        return buf_puts(out, FORMAT_ERR_TOOLCALL);
    for (i = 0; i < json_array_size(files); i++)
        if (!json_is_string(json_array_get(files, i))) {
            json_decref(one);
            return buf_puts(out, FORMAT_ERR_TOOLCALL);
        }
    if (json_array_size(files) == 0) {
        json_decref(one);
        return buf_puts(out, "[]"); /* str([]) */
    }
    if (t->p.files_dir && !(root = realpath(t->p.files_dir, NULL)))
        agent_tools_warn(t, "parse_file: %s: %s", t->p.files_dir, strerror(errno));

    dp.max_text = PARSE_MAX_TEXT;
    n = json_array_size(files);
    if (n > PARSE_MAX_FILES) {
        agent_tools_warn(t, "parse_file: %zu files asked for, the first %d read", n,
                         PARSE_MAX_FILES);
        n = PARSE_MAX_FILES;
    }
    memset(owned, 0, sizeof owned);
    for (i = 0; i < n; i++) {
        const char *name = json_string_value(json_array_get(files, i));
        const char *slash = strrchr(name, '/'), *why = NULL;
        char *real = NULL, *title = NULL, *text = NULL, hex[SHA256_HEX_LEN + 1];
        PlumbError ferr = { 0 };
        names[i] = slash ? slash + 1 : name;
        texts[i] = NULL;
        errors[i] = NULL;
        if (!root)
            why = "no files folder (--files DIR)";
        else
            real = resolve(root, name, &why);
        if (real && docs_file_to_text(real, &dp, &title, &text, &ferr) != PLUMB_OK) {
            if (ferr.code == PLUMB_ENOMEM && strstr(ferr.msg, "out of memory")) {
                rc = plumb_err(err, PLUMB_ENOMEM, "%s", ferr.msg);
                free(real);
                goto out;
            }
            agent_tools_warn(t, "parse_file: %s", ferr.msg);
        } else if (real) {
            Buf url = { 0 };
            free(title);
            owned[i] = text;
            texts[i] = text;
            if (file_sha256(real, hex) != PLUMB_OK)
                hex[0] = '\0';
            if (index_file_url(real, &url) < 0 ||
                agent_tools_add_source(t, url.p, NULL, hex, 0) != PLUMB_OK) {
                buf_free(&url);
                free(real);
                rc = plumb_err(err, PLUMB_ENOMEM, "parse_file: out of memory");
                goto out;
            }
            buf_free(&url);
        } else {
            agent_tools_warn(t, "parse_file: %s: %s", name, why);
        }
        if (!texts[i])
            errors[i] = PARSE_FAILED;
        free(real);
    }
    if ((rc = format_parse_file(out, names, texts, errors, n)) < 0)
        rc = plumb_err(err, rc, "parse_file: out of memory");
out:
    for (i = 0; i < n; i++)
        free(owned[i]);
    free(root);
    json_decref(one);
    return rc;
}
