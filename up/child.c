/*  child — fork, exec and the line-by-line forwarding of one program's
    output, for aura-up. */
#include "child.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

/*  A line longer than this is forwarded in pieces of this size. */
#define CHILD_LINE_BYTES 4096

struct _child_t {
    char *name;
    size_t name_width;
    char *path;
    char **argv; /* owned copies */
    char **env;  /* owned copies */
    bool forward;
    pid_t pid;     /* 0 when not running */
    int output_fd; /* read end of the pipe, -1 when closed */
    int64_t started_ms;
    int status; /* wait status of the last exit */
    char line[CHILD_LINE_BYTES];
    size_t line_len;
};

static void
s_strv_free (char ***strv_p)
{
    char **strv = *strv_p;
    if (!strv)
        return;
    for (char **s = strv; *s; s++)
        free (*s);
    free (strv);
    *strv_p = NULL;
}

/*  Returns a deep copy of a NULL-terminated string array, or NULL. */
static char **
s_strv_copy (char *const strv[])
{
    size_t n = 0;
    while (strv[n])
        n++;
    char **copy = calloc (n + 1, sizeof *copy);
    if (!copy)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        copy[i] = strdup (strv[i]);
        if (!copy[i]) {
            s_strv_free (&copy);
            return NULL;
        }
    }
    return copy;
}

child_t *
child_new (const char *name, size_t name_width, const char *path,
           char *const argv[], char *const env[], bool forward)
{
    assert (name && path && argv && argv[0] && env);
    child_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->output_fd = -1;
    self->name_width = name_width;
    self->forward = forward;
    self->name = strdup (name);
    self->path = strdup (path);
    self->argv = s_strv_copy (argv);
    self->env = s_strv_copy (env);
    if (!self->name || !self->path || !self->argv || !self->env)
        child_destroy (&self);
    return self;
}

void
child_destroy (child_t **self_p)
{
    assert (self_p);
    child_t *self = *self_p;
    if (!self)
        return;
    if (self->output_fd >= 0)
        close (self->output_fd);
    s_strv_free (&self->env);
    s_strv_free (&self->argv);
    free (self->path);
    free (self->name);
    free (self);
    *self_p = NULL;
}

/*  Writes all of buf to fd, retrying short writes. aura-up's stderr may be
    a pipe that a slow reader drains: then the supervisor waits, which is
    what a full terminal does to any program. */
static void
s_write_all (int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write (fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        buf += n;
        len -= (size_t) n;
    }
}

/*  Forwards one line (without newline) with the child's name. */
static void
s_forward (child_t *self, const char *line, size_t len)
{
    if (!self->forward)
        return;
    char out[CHILD_LINE_BYTES + 256];
    int head;
    size_t name_len = strlen (self->name);
    if (len > 1 && line[0] == '{' && line[1] != '}') {
        /* a JSON log line: the name becomes its first key */
        head = snprintf (out, sizeof out, "{\"source\":\"%s\",", self->name);
        line++;
        len--;
    }
    else {
        size_t pad =
            self->name_width > name_len ? self->name_width - name_len : 0;
        head =
            snprintf (out, sizeof out, "%s%*s | ", self->name, (int) pad, "");
    }
    if (head < 0 || (size_t) head >= sizeof out)
        return;
    if (len > sizeof out - (size_t) head - 1)
        len = sizeof out - (size_t) head - 1;
    memcpy (out + head, line, len);
    out[(size_t) head + len] = '\n';
    s_write_all (STDERR_FILENO, out, (size_t) head + len + 1);
}

static void
s_emit (child_t *self, child_line_fn *on_line, void *arg)
{
    /* forwarded first: what on_line logs comes after the line it saw */
    self->line[self->line_len] = '\0';
    s_forward (self, self->line, self->line_len);
    if (on_line)
        on_line (self, self->line, arg);
    self->line_len = 0;
}

/*  Splits buf into lines, keeping an unfinished one for the next call. */
static void
s_take (child_t *self, const char *buf, size_t len, child_line_fn *on_line,
        void *arg)
{
    for (size_t i = 0; i < len; i++) {
        if (buf[i] == '\n') {
            s_emit (self, on_line, arg);
            continue;
        }
        if (self->line_len == sizeof self->line - 1)
            s_emit (self, on_line, arg);
        self->line[self->line_len++] = buf[i];
    }
}

int
child_start (child_t *self, int64_t now_ms)
{
    assert (self);
    assert (self->pid == 0);
    int fds[2] = { -1, -1 };
    if (self->forward) {
        /* close-on-exec, so no other child holds this pipe open (aura-up
           has one thread: nothing can fork in between) */
        if (pipe (fds) < 0)
            return -errno;
        fcntl (fds[0], F_SETFD, FD_CLOEXEC);
        fcntl (fds[1], F_SETFD, FD_CLOEXEC);
    }
    pid_t parent = getpid ();
    pid_t pid = fork ();
    if (pid < 0) {
        int rc = -errno;
        if (fds[0] >= 0) {
            close (fds[0]);
            close (fds[1]);
        }
        return rc;
    }
    if (pid == 0) {
        /* the new process: only async-signal-safe calls until exec */
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () != parent)
            _exit (1); /* aura-up died before prctl took effect */
        const int reset[] = { SIGINT, SIGTERM, SIGCHLD, SIGPIPE, SIGHUP };
        for (size_t i = 0; i < sizeof reset / sizeof reset[0]; i++)
            signal (reset[i], SIG_DFL);
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        int null_fd = open ("/dev/null", O_RDWR);
        int out_fd = self->forward ? fds[1] : null_fd;
        if (null_fd < 0 || out_fd < 0 || dup2 (null_fd, STDIN_FILENO) < 0
            || dup2 (out_fd, STDOUT_FILENO) < 0
            || dup2 (out_fd, STDERR_FILENO) < 0)
            _exit (127);
        execve (self->path, self->argv, self->env);
        const char *why = strerror (errno);
        s_write_all (STDERR_FILENO, "aura-up: cannot run ", 20);
        s_write_all (STDERR_FILENO, self->path, strlen (self->path));
        s_write_all (STDERR_FILENO, ": ", 2);
        s_write_all (STDERR_FILENO, why, strlen (why));
        s_write_all (STDERR_FILENO, "\n", 1);
        _exit (127);
    }
    /* the parent sets the group too, so a signal to it right after the
       fork cannot miss it */
    setpgid (pid, pid);
    if (self->forward) {
        close (fds[1]);
        fcntl (fds[0], F_SETFL, fcntl (fds[0], F_GETFL) | O_NONBLOCK);
        self->output_fd = fds[0];
    }
    self->pid = pid;
    self->started_ms = now_ms;
    self->line_len = 0;
    return 0;
}

int
child_read_output (child_t *self, child_line_fn *on_line, void *arg)
{
    assert (self);
    if (self->output_fd < 0)
        return -EPIPE;
    char buf[8192];
    /* a bounded number of reads: one chatty child must not starve the
       supervisor's other work */
    for (int round = 0; round < 16; round++) {
        ssize_t n = read (self->output_fd, buf, sizeof buf);
        if (n > 0) {
            s_take (self, buf, (size_t) n, on_line, arg);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return 0;
        /* end of file (or an error, which is the same to us) */
        if (self->line_len > 0)
            s_emit (self, on_line, arg);
        close (self->output_fd);
        self->output_fd = -1;
        return -EPIPE;
    }
    return 0;
}

void
child_reaped (child_t *self, int status, child_line_fn *on_line, void *arg)
{
    assert (self);
    self->pid = 0;
    self->status = status;
    /* every writer has exited, so the pipe ends after what it holds; the
       bound only guards against a grandchild that kept it open */
    for (int i = 0; i < 64 && self->output_fd >= 0; i++)
        if (child_read_output (self, on_line, arg) == -EPIPE)
            break;
    if (self->output_fd >= 0) {
        if (self->line_len > 0)
            s_emit (self, on_line, arg);
        close (self->output_fd);
        self->output_fd = -1;
    }
}

void
child_signal (const child_t *self, int sig)
{
    assert (self);
    if (self->pid > 0)
        kill (self->pid, sig);
}

const char *
child_name (const child_t *self)
{
    assert (self);
    return self->name;
}

pid_t
child_pid (const child_t *self)
{
    assert (self);
    return self->pid;
}

int
child_output_fd (const child_t *self)
{
    assert (self);
    return self->output_fd;
}

int64_t
child_uptime_ms (const child_t *self, int64_t now_ms)
{
    assert (self);
    return now_ms - self->started_ms;
}

int
child_status (const child_t *self)
{
    assert (self);
    return self->status;
}

void
child_describe_status (int status, char *out, size_t out_size)
{
    if (WIFEXITED (status))
        snprintf (out, out_size, "exited with status %d", WEXITSTATUS (status));
    else if (WIFSIGNALED (status))
        snprintf (out, out_size, "was killed by signal %d (%s)",
                  WTERMSIG (status), strsignal (WTERMSIG (status)));
    else
        snprintf (out, out_size, "ended with wait status %d", status);
}
