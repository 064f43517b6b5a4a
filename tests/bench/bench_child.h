/*  bench_child — what a benchmark does in a child it has just forked,
    before it execs a server (an Aura program, nginx). */
#ifndef BENCH_CHILD_H
#define BENCH_CHILD_H

#include <sys/types.h>

/*  Puts the calling child in a process group of its own that dies with
    the benchmark (`parent`, the pid before the fork), with default signal
    handling, standard input and output on /dev/null and standard error
    appended to nothing but log_path (truncated). Returns when all of that
    worked; otherwise the child exits with status 127. */
void bench_child_prepare (pid_t parent, const char *log_path);

#endif
