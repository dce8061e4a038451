/*
 * index.c — `plumb index`: build, search and describe a local index of
 * documents (src/agent/index.h), the one `plumb research --index DB`
 * searches.
 *
 *   plumb index build DIR... --db DB [--exclude GLOB]...
 *   plumb index search --db DB [-k N] QUERY...
 *   plumb index stats --db DB
 *
 * search prints exactly the block the search tool gives the model.  One
 * option table serves the three actions; an option that an action does not
 * use is a usage error there.  --exclude may be given several times, which
 * the table parser does not do for strings, so its values are taken out of
 * argv first.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "index.h"

#define INDEX_MAX_EXCLUDE 64
#define INDEX_MAX_OPERANDS 256

static void more_help(FILE *f)
{
    fputs("\nactions:\n"
          "  build DIR...   index the documents (.txt .md .markdown .html .htm .csv .pdf)\n"
          "                 under each DIR; a rebuild reads only new and changed files\n"
          "  search QUERY   print the search tool's result for QUERY (words after the\n"
          "                 action are joined by spaces)\n"
          "  stats          print the number of documents, their text size and the\n"
          "                 folders indexed\n",
          f);
}

int cmd_index(int argc, char **argv)
{
    const char *db = NULL, *exclude_last = NULL, *args[INDEX_MAX_OPERANDS];
    const char *exclude[INDEX_MAX_EXCLUDE];
    char **av = NULL;
    int k = 10, quiet = 0, n_args = 0, ac = 0, i, rc = 1, k_seen = 0, ex_seen = 0;
    size_t n_exclude = 0;
    Index *ix = NULL;
    PlumbError err = { 0 };
    Buf out = { 0 };
    const CliOpt opts[] = {
        { .names = "--db", .kind = CLI_STRING, .dest = &db, .metavar = "FILE",
          .help = "the index database (build makes it when missing)" },
        { .names = "--exclude", .kind = CLI_STRING, .dest = &exclude_last, .metavar = "GLOB",
          .seen = &ex_seen,
          .help = "build: skip files and folders whose path under DIR or whose name matches "
                  "GLOB; may be given several times" },
        { .names = "-k", .kind = CLI_INT, .dest = &k, .min = 1, .max = 50, .metavar = "N",
          .seen = &k_seen, .help = "search: the most results to print" },
        { .names = "-q, --quiet", .kind = CLI_FLAG, .dest = &quiet,
          .help = "build: no progress line and no per-file warnings on standard error" },
        { .names = "-h, --help", .kind = CLI_HELP, .help = "print this help and exit" },
        { .kind = CLI_END },
    };
    const CliCmd cmd = {
        .name = "index",
        .synopsis = "build DIR... --db DB [--exclude GLOB]... [--quiet] | search --db DB [-k N] "
                    "QUERY... | stats --db DB",
        .about = "Build and search a full-text index of local documents for `plumb research "
                 "--index DB`.",
        .opts = opts,
        .max_args = INDEX_MAX_OPERANDS,
        .operand_hint = "too many operands",
        .more_help = more_help,
    };

    /* take the --exclude values out; the rest goes to the table parser */
    if (!(av = calloc((size_t)argc + 1, sizeof *av))) {
        cli_error("index: out of memory");
        return 1;
    }
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (i > 0 && strcmp(a, "--") == 0) {
            for (; i < argc; i++)
                av[ac++] = argv[i];
            break;
        }
        if (i > 0 && (strcmp(a, "--exclude") == 0 || strncmp(a, "--exclude=", 10) == 0)) {
            const char *v = a[9] == '=' ? a + 10 : (i + 1 < argc ? argv[++i] : NULL);
            if (!v) {
                rc = cli_usage_error(&cmd, "--exclude: missing value (GLOB)");
                goto out;
            }
            if (n_exclude == INDEX_MAX_EXCLUDE) {
                rc = cli_usage_error(&cmd, "--exclude: more than %d patterns",
                                     INDEX_MAX_EXCLUDE);
                goto out;
            }
            exclude[n_exclude++] = v;
            ex_seen = 1;
            continue;
        }
        av[ac++] = argv[i];
    }
    rc = cli_parse(&cmd, ac, av, args, &n_args);
    if (rc < 0) {
        rc = 0;
        goto out;
    }
    if (rc > 0)
        goto out;
    if (n_args == 0) {
        rc = cli_usage_error(&cmd, "no action (build, search or stats)");
        goto out;
    }
    if (!db) {
        rc = cli_usage_error(&cmd, "%s: --db is required", args[0]);
        goto out;
    }
    if (strcmp(args[0], "build") == 0) {
        IndexStats st = { 0 };
        if (n_args < 2) {
            rc = cli_usage_error(&cmd, "build: no folder to index");
            goto out;
        }
        if (k_seen) {
            rc = cli_usage_error(&cmd, "build: -k is an option of search");
            goto out;
        }
        if (index_open(&ix, db, 1, &err) != PLUMB_OK) {
            rc = cli_fail(&err);
            goto out;
        }
        for (i = 1; i < n_args; i++) {
            if (index_add(ix, args[i], exclude, n_exclude, !quiet, &st, &err) != PLUMB_OK) {
                rc = cli_fail(&err);
                goto out;
            }
            printf("%s: %zu files seen, %zu read, %zu unchanged, %zu removed, %zu failed\n",
                   args[i], st.n_seen, st.n_read, st.n_unchanged, st.n_removed, st.n_failed);
        }
        printf("%s: %zu documents, %llu bytes of text\n", db, st.n_docs,
               (unsigned long long)st.bytes);
        rc = 0;
    } else if (strcmp(args[0], "search") == 0) {
        Buf q = { 0 };
        if (ex_seen || quiet) {
            rc = cli_usage_error(&cmd, "search: %s is an option of build",
                                 ex_seen ? "--exclude" : "--quiet");
            goto out;
        }
        if (n_args < 2) {
            rc = cli_usage_error(&cmd, "search: no query");
            goto out;
        }
        for (i = 1; i < n_args; i++)
            if (buf_printf(&q, "%s%s", i > 1 ? " " : "", args[i]) < 0) {
                buf_free(&q);
                cli_error("index: out of memory");
                goto out;
            }
        if (index_open(&ix, db, 0, &err) != PLUMB_OK ||
            index_format_search(ix, q.p, k, &out, &err) != PLUMB_OK) {
            buf_free(&q);
            rc = cli_fail(&err);
            goto out;
        }
        buf_free(&q);
        fwrite(out.p, 1, out.len, stdout);
        putchar('\n');
        rc = 0;
    } else if (strcmp(args[0], "stats") == 0) {
        IndexStats st = { 0 };
        const char *const *roots;
        size_t n_roots, r;
        if (n_args > 1 || ex_seen || quiet || k_seen) {
            rc = cli_usage_error(&cmd, "stats takes only --db");
            goto out;
        }
        if (index_open(&ix, db, 0, &err) != PLUMB_OK || index_stats(ix, &st, &err) != PLUMB_OK) {
            rc = cli_fail(&err);
            goto out;
        }
        printf("documents: %zu\ntext bytes: %llu\n", st.n_docs, (unsigned long long)st.bytes);
        n_roots = index_roots(ix, &roots);
        for (r = 0; r < n_roots; r++)
            printf("folder: %s\n", roots[r]);
        rc = 0;
    } else {
        rc = cli_usage_error(&cmd, "'%s' is not an action (build, search or stats)", args[0]);
    }
out:
    index_close(ix);
    buf_free(&out);
    free(av);
    return rc;
}
