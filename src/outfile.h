/*
 * outfile.h — the one way plumb writes an output file.  Library-internal.
 *
 * plumb_outfile_open() decides, from what is at the target path now, how
 * the output reaches it:
 *   "-"                      standard output, when PLUMB_OUT_STDOUT_OK
 *                            (refused otherwise: write "./-" for a file
 *                            named "-");
 *   nothing                  a new file;
 *   a regular file           replaced, only with PLUMB_OUT_FORCE;
 *   a character device, FIFO written in place (opened O_WRONLY, never
 *                            replaced: /dev/null stays a device);
 *   a directory, socket,     refused, naming what it is;
 *   block device
 *   a symbolic link          refused, unless PLUMB_OUT_FOLLOW: then the rules
 *                            apply to what it points at.
 * A file is written to a temporary file next to the target with a unique
 * name ("<target>.tmp-XXXXXX", created O_CREAT|O_EXCL|O_NOFOLLOW, mode 0666
 * less the umask), then plumb_outfile_commit() fsyncs it, renames it over
 * the target and fsyncs the directory.  Until then the target is untouched;
 * plumb_outfile_abort() removes the temporary file.  Without
 * PLUMB_OUT_FORCE a file that appears at the target meanwhile is not
 * replaced either (the commit fails).
 *
 * When input_path is given, an output that is the same file as the input
 * (same device and inode, through any name, hard link or symbolic link) is
 * refused before anything is opened for writing.  When expected_bytes is
 * given, a file system without that much free space (plus 1% and 1 MiB) is
 * refused at open, with a message naming the directory and the numbers.
 *
 * Signals: temporary files still open are listed in a small registry that
 * plumb_outfile_remove_temps() empties; it is async-signal-safe, for a
 * program's own handlers.  plumb_outfile_cleanup_signals() installs
 * handlers for SIGINT, SIGTERM and SIGHUP (those not ignored) that remove
 * the temporary files and then die of the signal as before.  The library
 * never installs a handler by itself.  The registry holds
 * PLUMB_OUTFILE_MAX_OPEN files; one more is written the same way, only not
 * removed on a signal.
 *
 * Thread safety: one PlumbOutFile belongs to one thread; different threads
 * may open different files at once.
 */
#ifndef PLUMB_OUTFILE_H
#define PLUMB_OUTFILE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "plumb.h"

#define PLUMB_OUT_FORCE 1u     /* replace an existing regular file */
#define PLUMB_OUT_FOLLOW 2u    /* a symbolic link at the target: write where it points */
#define PLUMB_OUT_STDOUT_OK 4u /* "-" means standard output */

#define PLUMB_OUTFILE_MAX_OPEN 16 /* temporary files the signal registry tracks */

typedef enum PlumbOutKind {
    PLUMB_OUT_NONE = 0,   /* not open */
    PLUMB_OUT_TEMP,       /* temporary file renamed at commit */
    PLUMB_OUT_STREAM,     /* character device or FIFO written in place */
    PLUMB_OUT_STDOUT      /* standard output (a duplicate of fd 1) */
} PlumbOutKind;

typedef struct PlumbOutFile {
    int fd;              /* where the bytes go; -1 when not open */
    PlumbOutKind kind;   /* how they get to the target */
    unsigned flags;      /* PLUMB_OUT_* given to open */
    char *path;          /* the target as given (messages) */
    char *final;         /* where the temporary file is renamed to (symlink resolved) */
    char *tmp;           /* temporary file, NULL unless kind == PLUMB_OUT_TEMP */
    int dirfd;           /* the target's directory (kind PLUMB_OUT_TEMP), else -1 */
    int slot;            /* signal registry slot, -1 when none */
} PlumbOutFile;

/* Open path for writing (see above).  On error *f is left closed (abort
 * is a no-op on it) and nothing was created.  A PlumbOutFile set to
 * { 0 } is closed too. */
int plumb_outfile_open(PlumbOutFile *f, const char *path, unsigned flags, const char *input_path,
                       uint64_t expected_bytes, PlumbError *err);
/* Write all n bytes (retrying short writes and EINTR). */
int plumb_outfile_write(PlumbOutFile *f, const void *buf, size_t n, PlumbError *err);
/* Finish: fsync and rename a temporary file into place (fsyncing the
 * directory), or close a stream.  On error the temporary file is removed
 * and the target left as it was.  *f is closed either way. */
int plumb_outfile_commit(PlumbOutFile *f, PlumbError *err);
/* Give up: close, remove the temporary file, leave the target untouched.
 * Safe on a closed PlumbOutFile (after commit, a failed open, or { 0 }). */
void plumb_outfile_abort(PlumbOutFile *f);

/* Remove every registered temporary file.  Async-signal-safe. */
void plumb_outfile_remove_temps(void);
/* Install handlers for SIGINT, SIGTERM and SIGHUP (unless ignored) that call
 * plumb_outfile_remove_temps() and re-raise the signal with its default
 * action.  For programs; returns PLUMB_OK or PLUMB_EIO (sigaction failed). */
int plumb_outfile_cleanup_signals(PlumbError *err);

/* "a directory", "a FIFO", "a socket", "a character device",
 * "a block device", "a symbolic link", "a regular file" or "a special file"
 * for a st_mode. */
const char *plumb_file_type_name(mode_t mode);

#endif
