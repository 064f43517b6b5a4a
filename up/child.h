/*  child — one program that aura-up runs: started with fork and exec in a
    process group of its own (a Ctrl-C in the terminal reaches aura-up
    alone, which then stops the programs in order), its stdout and stderr
    read through one pipe and forwarded line by line to aura-up's stderr
    with the child's name in front. */
#ifndef AURA_UP_CHILD_H
#define AURA_UP_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct _child_t child_t;

/*  Called for every complete line the child writes, after it was
    forwarded; line has no newline. */
typedef void (child_line_fn) (child_t *child, const char *line, void *arg);

/*  Makes a child that runs `path` with the arguments argv (NULL-terminated,
    argv[0] included) and the environment env (NULL-terminated); both are
    copied. With `forward` its output goes to aura-up's stderr as
    "<name padded to name_width> | <line>" (a JSON log line gets a
    "source" key instead, so it stays JSON); without, to /dev/null.
    Returns NULL when out of memory. */
child_t *child_new (const char *name, size_t name_width, const char *path,
                    char *const argv[], char *const env[], bool forward);

/*  Destroys the child's memory and closes its pipe; does not signal or
    wait for the process. Sets *self_p to NULL. */
void child_destroy (child_t **self_p);

/*  Starts the program. In the new process the signal mask and the
    dispositions aura-up changed are reset, and SIGTERM is asked for when
    aura-up dies, so no program outlives its supervisor. A program that
    cannot be executed writes why and exits 127. Returns 0, or -errno when
    the pipe or the fork failed. */
int child_start (child_t *self, int64_t now_ms);

/*  Forwards the complete lines waiting in the pipe, then calls on_line
    (may be NULL) for each. Returns 0, or -EPIPE once the pipe reached its
    end (the pipe is then closed). */
int child_read_output (child_t *self, child_line_fn *on_line, void *arg);

/*  Records that the process ended with wait status `status` (from
    waitpid): forwards what is left in the pipe, including a last line
    without newline, and closes it. */
void child_reaped (child_t *self, int status, child_line_fn *on_line,
                   void *arg);

/*  Sends sig to the process, when it runs. */
void child_signal (const child_t *self, int sig);

const char *child_name (const child_t *self);
/*  The process id while it runs, 0 once reaped or before the start. */
pid_t child_pid (const child_t *self);
/*  The read end of the output pipe, or -1 when none is open. */
int child_output_fd (const child_t *self);
/*  Milliseconds from the last start to now_ms. */
int64_t child_uptime_ms (const child_t *self, int64_t now_ms);
/*  The wait status of the last exit. */
int child_status (const child_t *self);

/*  Describes a wait status in out: "exited with status 2", "was killed by
    signal 9 (Killed)". */
void child_describe_status (int status, char *out, size_t out_size);

#endif
