#include "bench_child.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

void
bench_child_prepare (pid_t parent, const char *log_path)
{
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
