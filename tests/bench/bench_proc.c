#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_setaffinity */
#endif
#include "bench_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

/*  The CPU children run on, or -1 for any. */
static int s_child_cpu = -1;

static int
s_pin (pid_t pid, int cpu)
{
    cpu_set_t set;
    CPU_ZERO (&set);
    CPU_SET (cpu, &set);
    return sched_setaffinity (pid, sizeof set, &set) == 0 ? 0 : -errno;
}

int
bench_pin (int cpu, int self_cpu)
{
    if (self_cpu >= 0) {
        int rc = s_pin (0, self_cpu);
        if (rc < 0)
            return rc;
    }
    s_child_cpu = cpu;
    return 0;
}

void
bench_child_prepare (pid_t parent, const char *log_path)
{
    if (s_child_cpu >= 0 && s_pin (0, s_child_cpu) < 0)
        _exit (127);
    setpgid (0, 0);
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    /* the benchmark died before the line above: nobody would kill us */
    if (getppid () != parent)
        _exit (127);
    signal (SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset (&none);
    sigprocmask (SIG_SETMASK, &none, NULL);
    int null_fd = open ("/dev/null", O_RDWR);
    int log_fd = open (log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (null_fd < 0 || log_fd < 0)
        _exit (127);
    dup2 (null_fd, 0);
    dup2 (null_fd, 1);
    dup2 (log_fd, 2);
}

double
bench_stat_cpu_s (const char *stat_path)
{
    FILE *f = fopen (stat_path, "r");
    if (!f)
        return 0;
    char buf[1024];
    size_t n = fread (buf, 1, sizeof buf - 1, f);
    fclose (f);
    buf[n] = '\0';
    char *p = strrchr (buf, ')');
    unsigned long utime = 0, stime = 0;
    /* fields after the command: state is 3, utime 14, stime 15 */
    if (!p
        || sscanf (p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                   &utime, &stime)
               != 2)
        return 0;
    return (double) (utime + stime) / (double) sysconf (_SC_CLK_TCK);
}

double
bench_cpu_s (pid_t pid)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/stat", (int) pid);
    return bench_stat_cpu_s (path);
}

long
bench_status_field (pid_t pid, const char *field)
{
    char path[64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *f = fopen (path, "r");
    if (!f)
        return -1;
    char line[256];
    long value = -1;
    size_t len = strlen (field);
    while (fgets (line, sizeof line, f))
        if (strncmp (line, field, len) == 0) {
            char *end = NULL;
            value = strtol (line + len, &end, 10);
            if (end == line + len)
                value = -1;
            break;
        }
    fclose (f);
    return value;
}

double
bench_load_average (void)
{
    double load = -1;
    FILE *f = fopen ("/proc/loadavg", "r");
    if (f) {
        if (fscanf (f, "%lf", &load) != 1)
            load = -1;
        fclose (f);
    }
    return load;
}
