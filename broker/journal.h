/*  journal — the broker's durable memory: every job (its whole state as an
    encoded PROTO_JOB snapshot) and every event it published, exactly as
    published, in one SQLite database, <data dir>/aura.db.

    Writes are grouped: the first write opens a transaction and
    journal_commit() ends it, so a caller commits once per turn of its
    loop, not once per event. The database runs in WAL mode with
    synchronous=NORMAL: a commit survives the process being killed, but a
    power cut or an OS crash may lose the last commits before a WAL
    checkpoint reaches the disk. One process at a time may use a data
    directory (a lock file, aura.lock, next to the database). */
#ifndef AURA_BROKER_JOURNAL_H
#define AURA_BROKER_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "jobs.h"
#include "proto.h"

typedef struct _journal_t journal_t;

/*  Opens (creating it and its directory, mkdir -p style, when missing)
    the journal in data_dir. Returns the journal, or NULL with a one-line
    reason in err: the directory cannot be made, another process uses it,
    the file is not an SQLite database or not an Aura journal. */
journal_t *journal_open (const char *data_dir, char *err, size_t err_size);

/*  Rolls back an uncommitted transaction, closes the database and frees
    the journal; sets *self_p to NULL. Does nothing on NULL. */
void journal_close (journal_t **self_p);

/*  Sets the most the WAL may hold (64 MiB from journal_open): past it,
    the checkpoint thread restarts the WAL, the writer waiting meanwhile,
    and a WAL file larger than this is cut back to it. Returns 0, or -EIO
    when SQLite refused. */
int journal_set_wal_limit (journal_t *self, size_t bytes);

/*  The database file's path. */
const char *journal_path (journal_t *self);

/*  Stores a job's record (replacing the previous one of that id) in the
    current transaction, opening one when none is. The spec and the
    idempotency key are written when the job is first stored only.
    Returns 0, or a negative errno with an error logged (-EIO and the
    like); the transaction must then be rolled back. */
int journal_put_job (journal_t *self, const job_record_t *record);

/*  Appends event `seq` of job `job` — body[0..len) is its encoding, as
    published (copied). Appended events are written, many rows per
    statement, at the next journal_commit() or journal_replay(), in the
    current transaction; a failure there (-EEXIST when a job already has
    that seq) fails that call. Returns 0, -EINVAL (seq 0, not a job id) or
    -ENOMEM. */
int journal_append_event (journal_t *self, const char *job, uint64_t seq,
                          int64_t ts_us, const void *body, size_t len);

/*  True while a transaction is open or appended events wait. */
bool journal_pending (journal_t *self);

/*  Writes the appended events and commits the current transaction, if
    any. Returns 0, or a negative errno with an error logged; the
    transaction is then rolled back. */
int journal_commit (journal_t *self);

/*  Abandons the current transaction, if any, and the appended events. */
void journal_rollback (journal_t *self);

/*  Called for each job read back; record (and what it points to) lives
    until the call returns. A negative return stops the load. */
typedef int (journal_job_fn) (const job_record_t *record, void *arg);

/*  Reads every job in id (creation) order and calls fn with it. A job's
    snapshot seq is raised to its highest journaled event seq. A row that
    does not decode is logged and skipped, and counted in *skipped (when
    not NULL). Returns the number of jobs passed to fn, or a negative
    errno (fn's, or -EIO). */
int journal_load_jobs (journal_t *self, journal_job_fn *fn, void *arg,
                       size_t *skipped);

/*  Called for each event replayed: body[0..len) as it was journaled. */
typedef int (journal_event_fn) (const void *body, size_t len, void *arg);

/*  Calls fn with the events of `job` whose seq is above after_seq, in
    seq order, at most limit of them, and sets *more when further events
    exist; events appended in the current transaction are written first,
    so they are seen. Returns how many fn was called for, or a negative
    errno (then, if the appended events could not be written, the
    transaction must be rolled back). */
int journal_replay (journal_t *self, const char *job, uint64_t after_seq,
                    size_t limit, journal_event_fn *fn, void *arg,
                    bool *more);

/*  Finds the newest job whose idempotency key is `key` created at or after
    since_us; writes its id to id_out. Returns 0, -ENOENT, or a negative
    errno. */
int journal_find_idem (journal_t *self, const char *key, int64_t since_us,
                       char id_out[JOB_ID_SIZE]);

/*  Called with each job about to be pruned; returning false keeps it. */
typedef bool (journal_prune_fn) (const char *job, void *arg);

/*  One bounded step of retention: deletes, in the current transaction,
    the events and then the rows of jobs that finished before
    finished_before_us, oldest first, looking at most at max_jobs jobs and
    deleting at most max_events events. fn (when not NULL) may veto a job.
    Sets *jobs_pruned to the number of job rows deleted. Returns 1 when
    more may be left to prune, 0 when not, or a negative errno. */
int journal_prune (journal_t *self, int64_t finished_before_us,
                   size_t max_jobs, size_t max_events, journal_prune_fn *fn,
                   void *arg, size_t *jobs_pruned);

#endif
