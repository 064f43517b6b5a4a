/*  download — one GET per file, into NAME.part. The ETag of the answer is
    kept in the user.aura.etag attribute of NAME.part where the file
    system allows, so that a resume sends If-Range and a file that changed
    on the server in between is fetched whole instead of spliced. */
#include "download.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "command.h"
#include "display.h"

#define S_ETAG_XATTR "user.aura.etag"

/*  One file's transfer, shared with the body sink. */
typedef struct {
    const char *name;
    int fd;
    uint64_t offset;   /* where this transfer starts writing */
    uint64_t written;  /* bytes written by this transfer */
    uint64_t expected; /* the server's sizeBytes */
    bool started;      /* the first bytes have been placed */
    bool bad_range;    /* a 206 that does not start at offset */
    int write_error;   /* errno of a failed write */
    bool show_progress;
    double drawn_s;
} s_file_t;

static double
s_now_s (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*  Makes dir and its missing parents. Returns 0 or -errno. */
static int
s_make_dirs (const char *dir)
{
    char path[PATH_MAX];
    if ((size_t)snprintf (path, sizeof path, "%s", dir) >= sizeof path)
        return -ENAMETOOLONG;
    for (char *p = path + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir (path, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir (path, 0755) != 0 && errno != EEXIST)
        return -errno;
    struct stat st;
    if (stat (path, &st) != 0)
        return -errno;
    return S_ISDIR (st.st_mode) ? 0 : -ENOTDIR;
}

/*  A name from the server becomes a file name here only if it cannot
    leave the directory or hide in it. */
static bool
s_name_safe (const char *name)
{
    if (!name || !name[0] || name[0] == '.' || strlen (name) > 200)
        return false;
    for (const unsigned char *c = (const unsigned char *)name; *c; c++)
        if (*c == '/' || *c < 0x20 || *c == 0x7F)
            return false;
    return true;
}

/*  Parses the first byte of "bytes FIRST-LAST/SIZE". */
static bool
s_range_start (const char *content_range, uint64_t *first)
{
    if (strncmp (content_range, "bytes ", 6) != 0)
        return false;
    const char *digits = content_range + 6;
    if (*digits < '0' || *digits > '9')
        return false;
    char *end = NULL;
    errno = 0;
    unsigned long long value = strtoull (digits, &end, 10);
    if (errno != 0 || *end != '-')
        return false;
    *first = value;
    return true;
}

static int
s_write_all (int fd, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t n = write (fd, data, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

static void
s_draw_progress (s_file_t *file, bool force)
{
    if (!file->show_progress)
        return;
    double now = s_now_s ();
    if (!force && now - file->drawn_s < 0.1)
        return;
    file->drawn_s = now;
    char have[32], total[32], name[256];
    display_bytes ((long long)(file->offset + file->written), have,
                   sizeof have);
    display_bytes ((long long)file->expected, total, sizeof total);
    display_clean (file->name, name, sizeof name);
    double percent = file->expected
                         ? 100.0 * (double)(file->offset + file->written)
                               / (double)file->expected
                         : 100.0;
    fprintf (stdout, "\r%s  %3.0f%%  %s of %s\033[K", name, percent, have,
             total);
    fflush (stdout);
}

static int
s_sink (const char *data, size_t len, const http_response_t *response,
        void *arg)
{
    s_file_t *file = arg;
    if (!file->started) {
        file->started = true;
        if (response->status == 206) {
            uint64_t first;
            if (!s_range_start (response->content_range, &first)
                || first != file->offset) {
                file->bad_range = true;
                return 1;
            }
        }
        else {
            /* the whole file: what the .part held is replaced */
            file->offset = 0;
            if (ftruncate (file->fd, 0) != 0) {
                file->write_error = errno;
                return 1;
            }
        }
        if (response->etag[0])
            (void)fsetxattr (file->fd, S_ETAG_XATTR, response->etag,
                             strlen (response->etag), 0); /* best effort */
        if (lseek (file->fd, (off_t)file->offset, SEEK_SET) < 0) {
            file->write_error = errno;
            return 1;
        }
    }
    int rc = s_write_all (file->fd, data, len);
    if (rc < 0) {
        file->write_error = -rc;
        return 1;
    }
    file->written += len;
    s_draw_progress (file, false);
    return 0;
}

typedef enum { S_FETCHED, S_RESUMED, S_SKIPPED } s_result_t;

static void
s_print_result (const char *name, const char *final_path, uint64_t size,
                s_result_t result, uint64_t resumed_at, bool json)
{
    static const char *const words[] = { "downloaded", "resumed", "skipped" };
    if (json) {
        json_t *line =
            json_pack ("{s:s, s:s, s:I, s:s}", "name", name, "path", final_path,
                       "sizeBytes", (json_int_t)size, "result", words[result]);
        char *text = line ? json_dumps (line, JSON_COMPACT) : NULL;
        if (text)
            printf ("%s\n", text);
        free (text);
        json_decref (line);
        return;
    }
    char clean[256], size_text[32], resumed_text[32];
    display_clean (final_path, clean, sizeof clean);
    display_bytes ((long long)size, size_text, sizeof size_text);
    if (result == S_SKIPPED)
        printf ("%s  %s  already complete\n", clean, size_text);
    else if (result == S_RESUMED) {
        display_bytes ((long long)resumed_at, resumed_text,
                       sizeof resumed_text);
        printf ("%s  %s  resumed at %s\n", clean, size_text, resumed_text);
    }
    else
        printf ("%s  %s\n", clean, size_text);
    fflush (stdout);
}

/*  Fetches one file into final_path through part_path. Returns an exit
    status (the reason printed). */
static int
s_fetch (http_client_t *http, const char *name, const char *url,
         uint64_t expected, const char *final_path, const char *part_path,
         bool json)
{
    char shown[256]; /* name, as messages show it */
    display_clean (name, shown, sizeof shown);
    struct stat st;
    if (stat (final_path, &st) == 0 && S_ISREG (st.st_mode)
        && (uint64_t)st.st_size == expected) {
        s_print_result (name, final_path, expected, S_SKIPPED, 0, json);
        return AURA_EXIT_OK;
    }
    s_file_t file = { .name = name,
                      .expected = expected,
                      .show_progress = !json && isatty (STDOUT_FILENO) };
    file.fd = open (part_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (file.fd < 0) {
        fprintf (stderr, "aura: cannot write %s: %s\n", part_path,
                 strerror (errno));
        return AURA_EXIT_UNAVAILABLE;
    }
    http_response_t response = { .retry_after_s = -1 };
    uint64_t resumed_at = 0;
    int attempts = 0;
    int code = AURA_EXIT_UNAVAILABLE;

    for (;;) {
        if (fstat (file.fd, &st) != 0) {
            fprintf (stderr, "aura: cannot read %s: %s\n", part_path,
                     strerror (errno));
            goto cleanup;
        }
        uint64_t have = (uint64_t)st.st_size;
        if (have > expected) {
            /* longer than the file: not a prefix of it */
            if (ftruncate (file.fd, 0) != 0) {
                fprintf (stderr, "aura: cannot write %s: %s\n", part_path,
                         strerror (errno));
                goto cleanup;
            }
            have = 0;
        }
        if (have == expected)
            break; /* complete, only not renamed yet */

        char range[64], if_range[192], etag[128];
        const char *headers[3] = { NULL, NULL, NULL };
        if (have > 0) {
            snprintf (range, sizeof range, "Range: bytes=%" PRIu64 "-", have);
            headers[0] = range;
            ssize_t etag_len =
                fgetxattr (file.fd, S_ETAG_XATTR, etag, sizeof etag - 1);
            if (etag_len > 0) {
                etag[etag_len] = '\0';
                snprintf (if_range, sizeof if_range, "If-Range: %s", etag);
                headers[1] = if_range;
            }
        }
        file.offset = have;
        file.written = 0;
        file.started = false;
        file.bad_range = false;
        file.write_error = 0;
        int rc = http_client_stream (http, url, headers, DOWNLOAD_IDLE_S,
                                     s_sink, &file, &response);
        if (file.show_progress && file.started)
            fputs ("\r\033[K", stdout);
        if (rc == -EINTR) {
            fprintf (
                stderr,
                "aura: interrupted; run the same command again to resume\n");
            code = AURA_EXIT_INTERRUPTED;
            goto cleanup;
        }
        if (file.write_error) {
            fprintf (stderr, "aura: cannot write %s: %s\n", part_path,
                     strerror (file.write_error));
            goto cleanup;
        }
        if (file.bad_range || (rc == 0 && response.status == 416)) {
            /* the server does not see our prefix as one: start over */
            if (ftruncate (file.fd, 0) != 0
                || ++attempts > DOWNLOAD_MAX_ATTEMPTS) {
                fprintf (stderr, "aura: %s: the server would not resume it\n",
                         shown);
                goto cleanup;
            }
            continue;
        }
        if (rc == 0 && (response.status == 200 || response.status == 206)) {
            if (response.status == 206 && have > 0)
                resumed_at = have;
            if (file.offset + file.written != expected) {
                fprintf (stderr,
                         "aura: %s: received %" PRIu64
                         " bytes, the server said %" PRIu64 "\n",
                         shown, file.offset + file.written, expected);
                unlink (part_path); /* a fresh start next time */
                goto cleanup;
            }
            break;
        }
        if (rc == 0 || response.status >= 300) {
            code = api_report (http, rc, &response);
            goto cleanup;
        }
        /* the connection failed: go again from what arrived */
        if (file.written > 0)
            attempts = 0;
        if (++attempts > DOWNLOAD_MAX_ATTEMPTS) {
            fprintf (stderr,
                     "aura: %s: %s; run the same command again to resume\n",
                     shown, response.error);
            goto cleanup;
        }
        long wait_ms = 1000L << (attempts - 1);
        fprintf (stderr, "aura: %s: %s; retrying in %ld s\n", shown,
                 response.error, wait_ms / 1000);
        if (!http_client_wait (http, wait_ms)) {
            code = AURA_EXIT_INTERRUPTED;
            goto cleanup;
        }
    }

    (void)fremovexattr (file.fd, S_ETAG_XATTR);
    if (fsync (file.fd) != 0 || close (file.fd) != 0) {
        file.fd = -1;
        fprintf (stderr, "aura: cannot write %s: %s\n", part_path,
                 strerror (errno));
        goto cleanup;
    }
    file.fd = -1;
    if (rename (part_path, final_path) != 0) {
        fprintf (stderr, "aura: cannot rename %s to %s: %s\n", part_path,
                 final_path, strerror (errno));
        goto cleanup;
    }
    s_print_result (name, final_path, expected,
                    resumed_at ? S_RESUMED : S_FETCHED, resumed_at, json);
    code = AURA_EXIT_OK;

cleanup:
    if (file.fd >= 0)
        close (file.fd);
    http_response_reset (&response);
    return code;
}

int
download_job (http_client_t *http, const char *job, const char *dir, bool json)
{
    char path[96];
    snprintf (path, sizeof path, "/api/jobs/%s", job);
    http_response_t response = { .retry_after_s = -1 };
    json_t *doc = NULL;
    int code = api_call (http, "GET", path, NULL, 200, &doc, &response);
    http_response_reset (&response);
    if (code != AURA_EXIT_OK)
        return code;

    const json_t *artifacts = json_object_get (doc, "artifacts");
    const char *status = json_string_value (json_object_get (doc, "status"));
    char status_clean[32];
    display_clean (status ? status : "?", status_clean, sizeof status_clean);
    if (json_array_size (artifacts) == 0) {
        if (status && strcmp (status, "Done") == 0) {
            fprintf (stderr, "aura: job %s finished without files\n", job);
            code = AURA_EXIT_OK;
        }
        else {
            fprintf (stderr, "aura: job %s is %s: it has no files yet\n", job,
                     status_clean);
            code = AURA_EXIT_USAGE;
        }
        goto cleanup;
    }

    char default_dir[COMMAND_JOB_ID_LEN + 3];
    if (!dir) {
        snprintf (default_dir, sizeof default_dir, "./%s", job);
        dir = default_dir;
    }
    int rc = s_make_dirs (dir);
    if (rc < 0) {
        fprintf (stderr, "aura: cannot make the directory %s: %s\n", dir,
                 strerror (-rc));
        code = AURA_EXIT_UNAVAILABLE;
        goto cleanup;
    }

    size_t index;
    const json_t *artifact;
    json_array_foreach (artifacts, index, artifact)
    {
        const char *name =
            json_string_value (json_object_get (artifact, "name"));
        const char *url = json_string_value (json_object_get (artifact, "url"));
        const json_t *size = json_object_get (artifact, "sizeBytes");
        char clean[256];
        display_clean (name ? name : "", clean, sizeof clean);
        if (!s_name_safe (name) || !json_is_integer (size)
            || json_integer_value (size) < 0) {
            fprintf (stderr,
                     "aura: skipping the file '%s': its name or size is not "
                     "usable\n",
                     clean);
            code = AURA_EXIT_UNAVAILABLE;
            continue;
        }
        char url_path[1024];
        if (!url || strncmp (url, "/api/jobs/", 10) != 0) {
            /* names are at most 200 bytes (s_name_safe): this fits */
            char escaped[200 * 3 + 1];
            if (api_query_escape (name, escaped, sizeof escaped) < 0
                || (size_t)snprintf (url_path, sizeof url_path,
                                     "/api/jobs/%s/artifacts/%s", job, escaped)
                       >= sizeof url_path)
                continue;
            url = url_path;
        }
        char final_path[PATH_MAX], part_path[PATH_MAX];
        if ((size_t)snprintf (final_path, sizeof final_path, "%s/%s", dir, name)
                >= sizeof final_path
            || (size_t)snprintf (part_path, sizeof part_path, "%s/%s.part", dir,
                                 name)
                   >= sizeof part_path) {
            fprintf (stderr, "aura: the path of %s is too long\n", clean);
            code = AURA_EXIT_UNAVAILABLE;
            continue;
        }
        int file_code =
            s_fetch (http, name, url, (uint64_t)json_integer_value (size),
                     final_path, part_path, json);
        if (file_code == AURA_EXIT_INTERRUPTED) {
            code = file_code;
            break;
        }
        if (file_code != AURA_EXIT_OK)
            code = file_code;
    }

cleanup:
    json_decref (doc);
    return code;
}
