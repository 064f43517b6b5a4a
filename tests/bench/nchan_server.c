/*  nchan_server — nginx + Nchan as a child process group for bench_sse: one
    configuration written to a directory of the caller's, a free loopback
    port, CPU and memory read from /proc for the worker processes. */
#define _XOPEN_SOURCE 700
#include "nchan_server.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_proc.h"

#define NCHAN_NGINX "/usr/sbin/nginx"
#define NCHAN_MODULE "/usr/lib/nginx/modules/ngx_nchan_module.so"
#define NCHAN_START_TIMEOUT_MS 10000
#define NCHAN_STOP_TIMEOUT_MS 5000
#define NCHAN_MAX_WORKERS 64

struct _nchan_server_t {
    char dir[256];
    pid_t master;
    pid_t workers[NCHAN_MAX_WORKERS];
    int worker_count;
    int port;
};

static int64_t
s_mono_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

static void
s_sleep_ms (long ms)
{
    struct timespec pause = { ms / 1000, (ms % 1000) * 1000000 };
    nanosleep (&pause, NULL);
}

int
nchan_server_probe (char *version, size_t version_size)
{
    if (access (NCHAN_NGINX, X_OK) != 0 || access (NCHAN_MODULE, R_OK) != 0) {
        snprintf (version, version_size,
                  "%s or %s is missing; "
                  "./deploy/install-deps.sh --bench installs them",
                  NCHAN_NGINX, NCHAN_MODULE);
        return -ENOENT;
    }
    snprintf (version, version_size, "nginx (version unknown)");
    FILE *p = popen (NCHAN_NGINX " -v 2>&1", "r");
    if (!p)
        return 0;
    char line[256];
    if (fgets (line, sizeof line, p)) {
        line[strcspn (line, "\n")] = '\0';
        const char *at = strstr (line, "nginx/");
        snprintf (version, version_size, "%s", at ? at : line);
    }
    pclose (p);
    /* the module has no version of its own to ask; its package has */
    p = popen ("dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null",
               "r");
    if (!p)
        return 0;
    char package[64] = "";
    if (fgets (package, sizeof package, p) && package[0]) {
        size_t used = strlen (version);
        snprintf (version + used, version_size - used,
                  " with Nchan (libnginx-mod-nchan %s)", package);
    }
    pclose (p);
    return 0;
}

/*  A loopback TCP port nothing listens on right now. Returns it, or -1. */
static int
s_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    socklen_t len = sizeof addr;
    int port = -1;
    if (bind (fd, (struct sockaddr *)&addr, sizeof addr) == 0
        && getsockname (fd, (struct sockaddr *)&addr, &len) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}

/*  Writes <dir>/nginx.conf. Returns 0 or -1. */
static int
s_write_config (const nchan_server_t *self, int workers, long connections)
{
    char path[320];
    snprintf (path, sizeof path, "%s/nginx.conf", self->dir);
    FILE *f = fopen (path, "w");
    if (!f)
        return -1;
    const char *d = self->dir;
    /* each connection is one descriptor, plus the worker's own files */
    long files = connections + 256;
    fprintf (f,
             "load_module %s;\n"
             "daemon off;\n"
             "master_process on;\n"
             "worker_processes %d;\n"
             "worker_rlimit_nofile %ld;\n"
             "pid %s/nginx.pid;\n"
             "error_log %s/nginx-error.log warn;\n"
             "events { worker_connections %ld; }\n"
             "http {\n"
             "  access_log off;\n"
             "  client_body_temp_path %s/body;\n"
             "  proxy_temp_path %s/proxy;\n"
             "  fastcgi_temp_path %s/fastcgi;\n"
             "  uwsgi_temp_path %s/uwsgi;\n"
             "  scgi_temp_path %s/scgi;\n"
             "  server {\n"
             "    listen 127.0.0.1:%d backlog=4096;\n"
             "    location = /pub {\n"
             "      nchan_publisher;\n"
             "      nchan_channel_id $arg_id;\n"
             "    }\n"
             "    location = /sub {\n"
             "      nchan_subscriber eventsource;\n"
             "      nchan_channel_id $arg_id;\n"
             "      nchan_eventsource_event step-progress;\n"
             "    }\n"
             "  }\n"
             "}\n",
             NCHAN_MODULE, workers, files, d, d, connections, d, d, d, d, d,
             self->port);
    return fclose (f) == 0 ? 0 : -1;
}

/*  True once something on the port answers an HTTP request. */
static bool
s_answers (int port)
{
    int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    struct timeval timeout = { 1, 0 };
    setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    struct sockaddr_in addr = { .sin_family = AF_INET,
                                .sin_port = htons ((uint16_t)port),
                                .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
    static const char request[] = "GET / HTTP/1.0\r\n\r\n";
    char reply[16] = "";
    bool ok = connect (fd, (struct sockaddr *)&addr, sizeof addr) == 0
              && send (fd, request, sizeof request - 1, MSG_NOSIGNAL)
                     == (ssize_t)(sizeof request - 1)
              && recv (fd, reply, sizeof reply - 1, 0) >= 5
              && strncmp (reply, "HTTP/", 5) == 0;
    close (fd);
    return ok;
}

/*  Finds the worker processes: the children of the master. Returns how
    many were found. */
static int
s_find_workers (nchan_server_t *self)
{
    self->worker_count = 0;
    DIR *proc = opendir ("/proc");
    if (!proc)
        return 0;
    struct dirent *entry;
    while ((entry = readdir (proc)) && self->worker_count < NCHAN_MAX_WORKERS) {
        if (entry->d_name[0] < '1' || entry->d_name[0] > '9')
            continue;
        char path[300], buf[512];
        snprintf (path, sizeof path, "/proc/%s/stat", entry->d_name);
        FILE *f = fopen (path, "r");
        if (!f)
            continue;
        size_t n = fread (buf, 1, sizeof buf - 1, f);
        fclose (f);
        buf[n] = '\0';
        const char *p = strrchr (buf, ')');
        int ppid = 0;
        char *end = NULL;
        long pid = strtol (entry->d_name, &end, 10);
        if (*end == '\0' && pid > 0 && p && sscanf (p + 2, "%*c %d", &ppid) == 1
            && ppid == self->master)
            self->workers[self->worker_count++] = (pid_t)pid;
    }
    closedir (proc);
    return self->worker_count;
}

static void
s_print_error_log (const nchan_server_t *self)
{
    const char *names[] = { "nginx-error.log", "nginx-stderr.log" };
    for (size_t i = 0; i < 2; i++) {
        char path[320], text[4096];
        snprintf (path, sizeof path, "%s/%s", self->dir, names[i]);
        FILE *f = fopen (path, "r");
        if (!f)
            continue;
        size_t n = fread (text, 1, sizeof text - 1, f);
        fclose (f);
        text[n] = '\0';
        if (n)
            fprintf (stderr, "--- %s ---\n%s", names[i], text);
    }
}

nchan_server_t *
nchan_server_new (const char *dir, int workers, long connections)
{
    nchan_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->dir, sizeof self->dir, "%s", dir);
    self->port = s_free_port ();
    if (self->port < 0 || s_write_config (self, workers, connections) < 0) {
        fprintf (stderr, "bench: cannot configure nginx in %s\n", dir);
        free (self);
        return NULL;
    }
    char conf[320], error_log[320], stderr_log[320];
    snprintf (conf, sizeof conf, "%s/nginx.conf", dir);
    snprintf (error_log, sizeof error_log, "%s/nginx-error.log", dir);
    snprintf (stderr_log, sizeof stderr_log, "%s/nginx-stderr.log", dir);
    pid_t parent = getpid ();
    self->master = fork ();
    if (self->master == 0) {
        bench_child_prepare (parent, stderr_log);
        char *argv[] = { "nginx", "-p", (char *)dir, "-c",
                         conf,    "-e", error_log,   NULL };
        execv (NCHAN_NGINX, argv);
        _exit (127);
    }
    if (self->master < 0) {
        fprintf (stderr, "bench: fork: %s\n", strerror (errno));
        free (self);
        return NULL;
    }
    /* the group exists before the first signal can be sent to it */
    setpgid (self->master, self->master);
    int64_t start = s_mono_ms ();
    while (s_mono_ms () - start < NCHAN_START_TIMEOUT_MS) {
        int status;
        if (waitpid (self->master, &status, WNOHANG) == self->master) {
            self->master = 0;
            break;
        }
        if (s_answers (self->port) && s_find_workers (self) >= workers)
            return self;
        s_sleep_ms (20);
    }
    fprintf (stderr, "bench: nginx did not start on 127.0.0.1:%d\n",
             self->port);
    s_print_error_log (self);
    nchan_server_destroy (&self);
    return NULL;
}

void
nchan_server_destroy (nchan_server_t **self_p)
{
    nchan_server_t *self = *self_p;
    if (!self)
        return;
    if (self->master > 0) {
        pid_t group = self->master;
        kill (self->master, SIGTERM); /* nginx's fast shutdown */
        int status;
        bool reaped = false;
        for (int64_t start = s_mono_ms ();
             s_mono_ms () - start < NCHAN_STOP_TIMEOUT_MS;) {
            if (waitpid (self->master, &status, WNOHANG) == self->master) {
                reaped = true;
                break;
            }
            s_sleep_ms (10);
        }
        /* workers that outlived the master, or a master that hung */
        kill (-group, SIGKILL);
        if (!reaped)
            waitpid (self->master, &status, 0);
    }
    free (self);
    *self_p = NULL;
}

int
nchan_server_port (const nchan_server_t *self)
{
    return self->port;
}

double
nchan_server_cpu_s (const nchan_server_t *self)
{
    double total = 0;
    for (int i = 0; i < self->worker_count; i++)
        total += bench_cpu_s (self->workers[i]);
    return total;
}

long
nchan_server_rss_kib (const nchan_server_t *self)
{
    long total = 0;
    for (int i = 0; i < self->worker_count; i++) {
        long value = bench_status_field (self->workers[i], "VmRSS:");
        if (value < 0)
            return -1;
        total += value;
    }
    return total;
}
