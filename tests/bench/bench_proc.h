/*  bench_proc — what the benchmarks share about processes: preparing a
    child they fork before it execs a server (an Aura program, nginx), and
    reading what /proc says of a process and of the machine. */
#ifndef BENCH_PROC_H
#define BENCH_PROC_H

#include <sys/types.h>

/*  Puts the calling child in a process group of its own that dies with
    the benchmark (`parent`, the pid before the fork), with default signal
    handling, standard input and output on /dev/null and standard error
    going to log_path (truncated). Returns when all of that worked;
    otherwise the child exits with status 127. */
void bench_child_prepare (pid_t parent, const char *log_path);

/*  Runs the children prepared from now on on CPU `cpu` only (-1: on any,
    the default), and the calling thread, and the threads it starts from
    now on, on CPU `self_cpu` (-1: unchanged). Returns 0, or -errno when
    the machine refused (a CPU it does not have). */
int bench_pin (int cpu, int self_cpu);

/*  CPU seconds (user + system) of the process or thread whose
    /proc/…/stat is at stat_path; 0 when it cannot be read. */
double bench_stat_cpu_s (const char *stat_path);

/*  CPU seconds a process (all its threads) has used so far; 0 when it
    cannot be read. */
double bench_cpu_s (pid_t pid);

/*  A number field ("VmRSS:", "Threads:") of /proc/<pid>/status; -1 when
    it cannot be read. */
long bench_status_field (pid_t pid, const char *field);

/*  The load average over the last minute, or -1. */
double bench_load_average (void);

#endif
