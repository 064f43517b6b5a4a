/*  replay — a main() for the fuzz targets when they are built without
    libFuzzer: runs LLVMFuzzerTestOneInput once on every file named on the
    command line and on every file of the directories named there, in name
    order, so that the seed corpora are ordinary tests. Each input runs in
    its own process: one that breaks an invariant is named, and the rest
    still run. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fuzz.h"

/*  Reads the file at path into a malloc'd buffer of exactly its size (so
    that a read past the end is one a sanitizer sees). Returns 0 with *data
    (NULL for an empty file) and *size, or a negative errno. */
static int
s_read_file (const char *path, uint8_t **data, size_t *size)
{
    *data = NULL;
    *size = 0;
    FILE *file = fopen (path, "rb");
    if (!file)
        return -errno;
    int rc = 0;
    struct stat st;
    if (fstat (fileno (file), &st) != 0) {
        rc = -errno;
        goto cleanup;
    }
    /* an empty input still gets a valid pointer, as libFuzzer gives */
    *data = malloc (st.st_size > 0 ? (size_t)st.st_size : 1);
    if (!*data) {
        rc = -ENOMEM;
        goto cleanup;
    }
    if (st.st_size > 0) {
        *size = fread (*data, 1, (size_t)st.st_size, file);
        if (*size != (size_t)st.st_size) {
            free (*data);
            *data = NULL;
            *size = 0;
            rc = -EIO;
        }
    }
cleanup:
    fclose (file);
    return rc;
}

/*  Runs one file in a child process, so that an input that aborts is
    named and the others still run. Returns 0 when every invariant held,
    1 when the input broke one, or a negative errno when it could not be
    run. */
static int
s_run_file (const char *path)
{
    uint8_t *data;
    size_t size;
    int rc = s_read_file (path, &data, &size);
    if (rc < 0) {
        fprintf (stderr, "replay: cannot read %s: %s\n", path, strerror (-rc));
        return rc;
    }
    fflush (NULL);
    pid_t child = fork ();
    if (child == 0) {
        LLVMFuzzerTestOneInput (data, size);
        free (data);
        /* exit, not _exit: leak checkers and coverage run at exit */
        exit (0);
    }
    free (data);
    if (child < 0) {
        fprintf (stderr, "replay: cannot fork: %s\n", strerror (errno));
        return -errno;
    }
    int status;
    while (waitpid (child, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    if (WIFEXITED (status) && WEXITSTATUS (status) == 0)
        return 0;
    if (WIFSIGNALED (status))
        fprintf (stderr, "replay: %s broke it (signal %d)\n\n", path,
                 WTERMSIG (status));
    else
        fprintf (stderr, "replay: %s broke it (exit %d)\n\n", path,
                 WEXITSTATUS (status));
    return 1;
}

static int
s_skip_hidden (const struct dirent *entry)
{
    return entry->d_name[0] != '.';
}

/*  Runs every regular file of dir, in name order, counting them into
    *runs and those that broke an invariant into *failures. Returns 0 or a
    negative errno. */
static int
s_run_dir (const char *dir, size_t *runs, size_t *failures)
{
    struct dirent **entries;
    int count = scandir (dir, &entries, s_skip_hidden, alphasort);
    if (count < 0) {
        fprintf (stderr, "replay: cannot list %s: %s\n", dir, strerror (errno));
        return -errno;
    }
    int rc = 0;
    for (int i = 0; i < count; i++) {
        char path[4096];
        int n = snprintf (path, sizeof path, "%s/%s", dir, entries[i]->d_name);
        struct stat st;
        if (rc == 0 && (n < 0 || (size_t)n >= sizeof path)) {
            fprintf (stderr, "replay: path too long in %s\n", dir);
            rc = -ENAMETOOLONG;
        }
        else if (rc == 0 && stat (path, &st) == 0 && S_ISREG (st.st_mode)) {
            int result = s_run_file (path);
            if (result < 0)
                rc = result;
            else {
                (*runs)++;
                *failures += (size_t)result;
            }
        }
        free (entries[i]);
    }
    free (entries);
    return rc;
}

int
main (int argc, char **argv)
{
    if (argc < 2) {
        fprintf (stderr, "usage: %s DIR_OR_FILE...\n", argv[0]);
        return 2;
    }
    size_t runs = 0, failures = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        int rc;
        if (stat (argv[i], &st) != 0) {
            fprintf (stderr, "replay: %s: %s\n", argv[i], strerror (errno));
            return 1;
        }
        if (S_ISDIR (st.st_mode))
            rc = s_run_dir (argv[i], &runs, &failures);
        else if ((rc = s_run_file (argv[i])) >= 0) {
            runs++;
            failures += (size_t)rc;
        }
        if (rc < 0)
            return 1;
    }
    /* a corpus that went missing must not pass as a clean run */
    if (runs == 0) {
        fprintf (stderr, "replay: no input found\n");
        return 1;
    }
    if (failures > 0) {
        fprintf (stderr, "replay: %zu of %zu inputs broke an invariant\n",
                 failures, runs);
        return 1;
    }
    printf ("replay: %zu inputs, every invariant held\n", runs);
    return 0;
}
