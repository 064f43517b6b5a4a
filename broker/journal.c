/*  journal — jobs and events in SQLite. The job snapshot and the event
    bodies are codec output stored as BLOBs, opaque to SQL: a new field in
    the protocol needs no schema change. Columns beside them (status,
    times, idempotency key, title, attempt, worker) exist for lookups,
    retention and operators with the sqlite3 shell. Every statement is
    prepared once and reused.

    Checkpoints (copying the WAL back into the database, the only step
    that syncs to disk) run on a thread of their own with its own
    connection, so the broker's loop never waits for an fsync. That thread
    touches nothing else of the journal but the stop flag. */
#include "journal.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <czmq.h>
#include <sqlite3.h>

#include "log.h"

/*  PRAGMA application_id of an Aura journal ("AURA"), and the schema
    version in PRAGMA user_version. */
#define JOURNAL_APPLICATION_ID 0x41555241
#define JOURNAL_SCHEMA_VERSION 1
/*  How long a statement waits for a lock another connection (an operator's
    sqlite3 shell, a backup) holds before it fails. */
#define JOURNAL_BUSY_TIMEOUT_MS 1000
/*  Most job ids one prune step looks at. */
#define JOURNAL_PRUNE_MAX_JOBS 256
/*  Events written by one multi-row INSERT: one statement run per this
    many events instead of one each. */
#define JOURNAL_EVENTS_PER_INSERT 64
/*  The checkpoint thread runs a passive checkpoint this often. */
#define JOURNAL_CHECKPOINT_PERIOD_MS 200
/*  The most the WAL may hold. A passive checkpoint never ends the WAL
    while the broker keeps writing (new frames always follow the ones it
    copied), so under steady writes the file grew without end (800 MiB
    in 16 s of 140,000 events/s). Past this size the writer restarts the
    WAL after its next commit, waiting while the rest is copied, and a
    file that grew past it is cut back to it. */
#define JOURNAL_WAL_LIMIT_BYTES (64 * 1024 * 1024)
/*  Restarts of the WAL are logged at most this often, with their count. */
#define JOURNAL_RESTART_LOG_US (60LL * 1000 * 1000)

static const char s_schema[] =
    "CREATE TABLE IF NOT EXISTS jobs ("
    "  id TEXT PRIMARY KEY NOT NULL,"       /* job id: sorts by creation */
    "  status TEXT NOT NULL,"               /* Queued … Canceled */
    "  created INTEGER NOT NULL,"           /* µs since the epoch */
    "  finished INTEGER NOT NULL DEFAULT 0," /* µs, 0 = not finished */
    "  idem_key TEXT,"                      /* NULL = none */
    "  title TEXT NOT NULL DEFAULT '',"
    "  attempt INTEGER NOT NULL,"
    "  worker TEXT NOT NULL DEFAULT '',"
    "  cancel_requested INTEGER NOT NULL DEFAULT 0,"
    "  snapshot BLOB NOT NULL,"             /* encoded PROTO_JOB */
    "  spec TEXT NOT NULL"                  /* the job request, last: large */
    ");"
    "CREATE INDEX IF NOT EXISTS jobs_idem ON jobs (idem_key)"
    "  WHERE idem_key IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS jobs_finished ON jobs (finished)"
    "  WHERE finished > 0;"
    "CREATE TABLE IF NOT EXISTS events ("
    "  job TEXT NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  ts INTEGER NOT NULL,"                /* µs, when the fact was made */
    "  body BLOB NOT NULL,"                 /* encoded event, as published */
    "  PRIMARY KEY (job, seq)"
    ") WITHOUT ROWID;";

/*  The statements, prepared once. */
typedef enum {
    SQL_BEGIN = 0,
    SQL_COMMIT,
    SQL_ROLLBACK,
    SQL_JOB_UPDATE,
    SQL_JOB_INSERT,
    SQL_EVENT_INSERT,
    SQL_REPLAY,
    SQL_IDEM,
    SQL_PRUNE_SELECT,
    SQL_PRUNE_MIN_SEQ,
    SQL_PRUNE_EVENTS,
    SQL_PRUNE_JOB,
    SQL_LOAD,
    SQL_EVENT_INSERT_MANY,
    SQL_COUNT
} sql_id_t;

static const char *s_sql[SQL_COUNT] = {
    [SQL_BEGIN] = "BEGIN IMMEDIATE",
    [SQL_COMMIT] = "COMMIT",
    [SQL_ROLLBACK] = "ROLLBACK",
    [SQL_JOB_UPDATE] =
        "UPDATE jobs SET status = ?2, finished = ?3, title = ?4, attempt = ?5,"
        " worker = ?6, cancel_requested = ?7, snapshot = ?8 WHERE id = ?1",
    [SQL_JOB_INSERT] =
        "INSERT INTO jobs (id, status, created, finished, idem_key, title,"
        " attempt, worker, cancel_requested, snapshot, spec)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    [SQL_EVENT_INSERT] =
        "INSERT INTO events (job, seq, ts, body) VALUES (?1, ?2, ?3, ?4)",
    [SQL_REPLAY] = "SELECT body FROM events WHERE job = ?1 AND seq > ?2"
                   " ORDER BY seq LIMIT ?3",
    [SQL_IDEM] = "SELECT id FROM jobs WHERE idem_key = ?1 AND created >= ?2"
                 " ORDER BY id DESC LIMIT 1",
    [SQL_PRUNE_SELECT] = "SELECT id FROM jobs WHERE finished > 0"
                         " AND finished < ?1 ORDER BY finished LIMIT ?2",
    [SQL_PRUNE_MIN_SEQ] = "SELECT min(seq) FROM events WHERE job = ?1",
    [SQL_PRUNE_EVENTS] = "DELETE FROM events WHERE job = ?1 AND seq < ?2",
    [SQL_PRUNE_JOB] = "DELETE FROM jobs WHERE id = ?1",
    [SQL_LOAD] = "SELECT id, snapshot, spec, idem_key, cancel_requested,"
                 " (SELECT max(seq) FROM events WHERE events.job = jobs.id)"
                 " FROM jobs ORDER BY id",
    /* SQL_EVENT_INSERT_MANY: made at setup from JOURNAL_EVENTS_PER_INSERT */
};

/*  An event appended but not yet written: its body is at `offset` in
    the journal's arena. */
typedef struct {
    char job[JOB_ID_SIZE];
    uint64_t seq;
    int64_t ts_us;
    size_t offset;
    size_t len;
} pending_event_t;

struct _journal_t {
    char path[1024];
    sqlite3 *db;
    sqlite3_stmt *stmt[SQL_COUNT];
    int lock_fd;
    bool in_transaction;
    pending_event_t *pending;  /* appended events, written at the next flush */
    size_t pending_count;
    size_t pending_cap;
    char *arena;               /* their bodies, back to back */
    size_t arena_len;
    size_t arena_cap;
    int64_t last_error_log_mono_us;  /* errors are logged once a second */
    uint64_t errors_unlogged;

    /* the checkpoint thread */
    pthread_t checkpointer;
    bool checkpointer_started;
    pthread_mutex_t lock;   /* guards stop and wal_limit_bytes */
    pthread_cond_t wake;
    bool stop;
    size_t wal_limit_bytes;
    /* set by the checkpoint thread, taken by journal_commit */
    atomic_bool restart_wanted;
    _Atomic int64_t wal_bytes_seen;   /* the WAL's size when it was set */
    uint64_t restarts_unlogged;
    int64_t restart_log_mono_us;
};

/*  A negative errno for an SQLite result code. */
static int
s_errno (int rc)
{
    switch (rc & 0xff) {
    case SQLITE_FULL: return -ENOSPC;
    case SQLITE_BUSY:
    case SQLITE_LOCKED: return -EBUSY;
    case SQLITE_CONSTRAINT: return -EEXIST;
    case SQLITE_NOMEM: return -ENOMEM;
    case SQLITE_READONLY:
    case SQLITE_PERM: return -EROFS;
    default: return -EIO;
    }
}

/*  Logs a failed statement (at most once a second: a full disk fails
    every turn) and returns its negative errno. */
static int
s_fail (journal_t *self, int rc, const char *what)
{
    int64_t now = zclock_usecs ();
    if (self->last_error_log_mono_us != 0
        && now - self->last_error_log_mono_us < 1000000) {
        self->errors_unlogged++;
        return s_errno (rc);
    }
    log_error ("journal %s: %s: %s (%llu similar errors not logged)",
               self->path, what, sqlite3_errmsg (self->db),
               (unsigned long long) self->errors_unlogged);
    self->last_error_log_mono_us = now;
    self->errors_unlogged = 0;
    return s_errno (rc);
}

/*  Readies a reused statement for its next run. */
static sqlite3_stmt *
s_stmt (journal_t *self, sql_id_t id)
{
    sqlite3_stmt *stmt = self->stmt[id];
    sqlite3_reset (stmt);
    sqlite3_clear_bindings (stmt);
    return stmt;
}

/*  Runs a statement that returns no rows. Returns the SQLite result code
    (SQLITE_DONE on success) and leaves the statement reset. */
static int
s_run (sqlite3_stmt *stmt)
{
    int rc = sqlite3_step (stmt);
    sqlite3_reset (stmt);
    return rc;
}

/*  mkdir -p: makes dir and its missing parents. Returns 0 or -errno. */
static int
s_make_dirs (const char *dir)
{
    char path[1024];
    size_t len = strlen (dir);
    if (len == 0 || len >= sizeof path)
        return -ENAMETOOLONG;
    memcpy (path, dir, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char saved = path[i];
        path[i] = '\0';
        if (mkdir (path, 0755) != 0 && errno != EEXIST)
            return -errno;
        path[i] = saved;
    }
    struct stat st;
    if (stat (dir, &st) != 0)
        return -errno;
    return S_ISDIR (st.st_mode) ? 0 : -ENOTDIR;
}

/*  Runs a one-row PRAGMA query and reads its integer. */
static int
s_pragma_int (journal_t *self, const char *sql, int64_t *value)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step (stmt);
        if (rc == SQLITE_ROW) {
            *value = sqlite3_column_int64 (stmt, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize (stmt);
    return rc;
}

/*  Sets the connection up and makes sure the file is an Aura journal,
    creating the schema in a new one. Returns 0, or -1 with err filled. */
static int
s_setup (journal_t *self, char *err, size_t err_size)
{
    int64_t application_id = 0, version = 0, objects = 0;
    /* The first read tells an SQLite file from anything else. */
    int rc = s_pragma_int (self, "PRAGMA application_id", &application_id);
    if (rc == SQLITE_OK)
        rc = s_pragma_int (self, "PRAGMA user_version", &version);
    if (rc == SQLITE_OK)
        rc = s_pragma_int (self, "SELECT count(*) FROM sqlite_schema",
                           &objects);
    if (rc != SQLITE_OK) {
        snprintf (err, err_size, "%s is not a usable SQLite database: %s",
                  self->path, sqlite3_errmsg (self->db));
        return -1;
    }
    bool fresh = application_id == 0 && objects == 0;
    if (!fresh && application_id != JOURNAL_APPLICATION_ID) {
        snprintf (err, err_size,
                  "%s is an SQLite database, but not an Aura journal",
                  self->path);
        return -1;
    }
    if (version > JOURNAL_SCHEMA_VERSION) {
        snprintf (err, err_size,
                  "%s has journal schema %lld, newer than this broker's %d",
                  self->path, (long long) version, JOURNAL_SCHEMA_VERSION);
        return -1;
    }

    /* synchronous=NORMAL in WAL mode: a commit is in the WAL file when
       COMMIT returns (a killed process loses nothing), but it is synced
       to the disk only at checkpoints, so a power cut or an OS crash can
       lose the last commits. FULL would sync every commit: one fsync per
       loop turn, far from the event rate the broker must sustain. */
    char *sql_err = NULL;
    char pragmas_run[256];
    snprintf (pragmas_run, sizeof pragmas_run,
              "PRAGMA synchronous=NORMAL;"
              "PRAGMA temp_store=MEMORY;"
              "PRAGMA foreign_keys=OFF;"
              /* the checkpoint thread does it, off the loop */
              "PRAGMA wal_autocheckpoint=0;"
              "PRAGMA journal_size_limit=%d;",
              JOURNAL_WAL_LIMIT_BYTES);
    rc = sqlite3_exec (self->db, pragmas_run, NULL, NULL, &sql_err);
    if (rc == SQLITE_OK && fresh) {
        char pragmas[128];
        snprintf (pragmas, sizeof pragmas,
                  "PRAGMA application_id=%d; PRAGMA user_version=%d;",
                  JOURNAL_APPLICATION_ID, JOURNAL_SCHEMA_VERSION);
        rc = sqlite3_exec (self->db, "BEGIN", NULL, NULL, &sql_err);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec (self->db, s_schema, NULL, NULL, &sql_err);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec (self->db, pragmas, NULL, NULL, &sql_err);
        if (rc == SQLITE_OK)
            rc = sqlite3_exec (self->db, "COMMIT", NULL, NULL, &sql_err);
        if (rc != SQLITE_OK && !sqlite3_get_autocommit (self->db))
            sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
    }
    if (rc != SQLITE_OK) {
        snprintf (err, err_size, "%s: cannot set the journal up: %s",
                  self->path, sql_err ? sql_err : sqlite3_errmsg (self->db));
        sqlite3_free (sql_err);
        return -1;
    }
    /* WAL lets commits append instead of rewriting pages, and lets an
       operator read the journal while the broker writes it. */
    sqlite3_stmt *stmt = NULL;
    rc = sqlite3_prepare_v2 (self->db, "PRAGMA journal_mode=WAL", -1, &stmt,
                             NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step (stmt);
    const char *mode = rc == SQLITE_ROW
                           ? (const char *) sqlite3_column_text (stmt, 0)
                           : NULL;
    bool wal = mode && strcmp (mode, "wal") == 0;
    sqlite3_finalize (stmt);
    if (!wal) {
        snprintf (err, err_size,
                  "%s: cannot switch the journal to WAL mode: %s", self->path,
                  sqlite3_errmsg (self->db));
        return -1;
    }
    /* "INSERT … VALUES (?,?,?,?),(?,?,?,?),…": a fixed text, so a size
       that does not fit is a programmer error, caught by the assert. */
    char insert_many[64 + JOURNAL_EVENTS_PER_INSERT * 16];
    const char *head = "INSERT INTO events (job, seq, ts, body) VALUES ";
    size_t used = strlen (head);
    assert (used < sizeof insert_many);
    memcpy (insert_many, head, used + 1);
    for (int i = 0; i < JOURNAL_EVENTS_PER_INSERT; i++) {
        const char *row = i ? ",(?,?,?,?)" : "(?,?,?,?)";
        size_t len = strlen (row);
        assert (used + len < sizeof insert_many);
        memcpy (insert_many + used, row, len + 1);
        used += len;
    }
    for (int i = 0; i < SQL_COUNT; i++) {
        const char *sql = i == SQL_EVENT_INSERT_MANY ? insert_many : s_sql[i];
        rc = sqlite3_prepare_v3 (self->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                 &self->stmt[i], NULL);
        if (rc != SQLITE_OK) {
            snprintf (err, err_size, "%s is not an Aura journal: %s",
                      self->path, sqlite3_errmsg (self->db));
            return -1;
        }
    }
    return 0;
}

/*  Copies what is left of the WAL to the database and starts the WAL
    again from its beginning, on the writer's connection, between two
    transactions: the checkpoint thread cannot, because the writer takes
    the write lock again as soon as it commits, and SQLite's busy wait
    gives the lock to whoever polls first. */
static void
s_restart_wal (journal_t *self)
{
    int64_t began_us = zclock_usecs ();
    int rc = sqlite3_wal_checkpoint_v2 (self->db, NULL,
                                        SQLITE_CHECKPOINT_RESTART, NULL, NULL);
    if (rc != SQLITE_OK) {
        /* busy past the timeout (a long replay?): the next period asks
           again */
        log_warn ("journal %s: cannot restart the WAL: %s", self->path,
                  sqlite3_errmsg (self->db));
        return;
    }
    self->restarts_unlogged++;
    int64_t now_us = zclock_usecs ();
    if (self->restart_log_mono_us != 0
        && now_us - self->restart_log_mono_us < JOURNAL_RESTART_LOG_US)
        return;
    pthread_mutex_lock (&self->lock);
    size_t limit = self->wal_limit_bytes;
    pthread_mutex_unlock (&self->lock);
    log_info ("journal %s: WAL restarted %llu time(s) since the last report: "
              "it passed %.1f MiB under steady writes (last: %.1f MiB, "
              "writes held %.1f ms)",
              self->path, (unsigned long long) self->restarts_unlogged,
              (double) limit / (1024 * 1024),
              (double) atomic_load (&self->wal_bytes_seen) / (1024 * 1024),
              (double) (now_us - began_us) / 1000);
    self->restarts_unlogged = 0;
    self->restart_log_mono_us = now_us;
}

/*  The checkpoint thread: a passive checkpoint (it never blocks the
    writer) every JOURNAL_CHECKPOINT_PERIOD_MS, and when that left the
    WAL larger than its limit, a request to the writer to restart it;
    until told to stop. */
static void *
s_checkpointer (void *arg)
{
    journal_t *self = arg;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (self->path, &db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL)
        != SQLITE_OK) {
        log_error ("journal %s: the checkpoint thread cannot open it: %s",
                   self->path, db ? sqlite3_errmsg (db) : "out of memory");
        sqlite3_close (db);
        return NULL;
    }
    sqlite3_busy_timeout (db, JOURNAL_BUSY_TIMEOUT_MS);
    /* A connection learns that the database is in WAL mode on its first
       read; until then a checkpoint on it does nothing and reports
       success (and -1 frames). This read is that first one, and gives
       the size of a WAL frame: a page and its 24-byte header. */
    int64_t frame_bytes = 0;
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, "PRAGMA page_size", -1, &stmt, NULL) == SQLITE_OK
        && sqlite3_step (stmt) == SQLITE_ROW)
        frame_bytes = sqlite3_column_int64 (stmt, 0) + 24;
    sqlite3_finalize (stmt);
    if (sqlite3_exec (db, "SELECT count(*) FROM sqlite_schema", NULL, NULL,
                      NULL)
            != SQLITE_OK
        || frame_bytes <= 24) {
        log_error ("journal %s: the checkpoint thread cannot read it: %s",
                   self->path, sqlite3_errmsg (db));
        sqlite3_close (db);
        return NULL;
    }
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_nsec += JOURNAL_CHECKPOINT_PERIOD_MS * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        pthread_cond_timedwait (&self->wake, &self->lock, &until);
        if (self->stop)
            break;
        int64_t limit = (int64_t) self->wal_limit_bytes;
        pthread_mutex_unlock (&self->lock);
        int wal_frames = 0, copied = 0;
        int rc = sqlite3_wal_checkpoint_v2 (db, NULL, SQLITE_CHECKPOINT_PASSIVE,
                                            &wal_frames, &copied);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            log_warn ("journal %s: checkpoint failed: %s", self->path,
                      sqlite3_errmsg (db));
        if (rc == SQLITE_OK && wal_frames * frame_bytes > limit) {
            atomic_store (&self->wal_bytes_seen, wal_frames * frame_bytes);
            atomic_store (&self->restart_wanted, true);
        }
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    sqlite3_close (db);
    return NULL;
}

/*  Starts the checkpoint thread. Returns 0 or -errno. */
static int
s_checkpointer_start (journal_t *self)
{
    pthread_condattr_t attr;
    if (pthread_condattr_init (&attr) != 0)
        return -ENOMEM;
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    int rc = pthread_cond_init (&self->wake, &attr);
    pthread_condattr_destroy (&attr);
    if (rc != 0)
        return -rc;
    rc = pthread_mutex_init (&self->lock, NULL);
    if (rc != 0) {
        pthread_cond_destroy (&self->wake);
        return -rc;
    }
    rc = pthread_create (&self->checkpointer, NULL, s_checkpointer, self);
    if (rc != 0) {
        pthread_mutex_destroy (&self->lock);
        pthread_cond_destroy (&self->wake);
        return -rc;
    }
    self->checkpointer_started = true;
    return 0;
}

static void
s_checkpointer_stop (journal_t *self)
{
    if (!self->checkpointer_started)
        return;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->checkpointer, NULL);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->wake);
    self->checkpointer_started = false;
}

journal_t *
journal_open (const char *data_dir, char *err, size_t err_size)
{
    assert (data_dir);
    assert (err);
    journal_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (err, err_size, "cannot allocate the journal");
        return NULL;
    }
    self->lock_fd = -1;
    int n = snprintf (self->path, sizeof self->path, "%s/aura.db", data_dir);
    char lock_path[sizeof self->path];
    int m = snprintf (lock_path, sizeof lock_path, "%s/aura.lock", data_dir);
    if (n < 0 || (size_t) n >= sizeof self->path || m < 0
        || (size_t) m >= sizeof lock_path) {
        snprintf (err, err_size, "data directory path too long: %s", data_dir);
        goto failed;
    }
    int rc = s_make_dirs (data_dir);
    if (rc != 0) {
        snprintf (err, err_size, "cannot create the data directory %s: %s",
                  data_dir, strerror (-rc));
        goto failed;
    }
    /* Two brokers on one journal would hand the same jobs out twice. */
    self->lock_fd = open (lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (self->lock_fd < 0) {
        snprintf (err, err_size, "cannot open %s: %s", lock_path,
                  strerror (errno));
        goto failed;
    }
    if (flock (self->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        snprintf (err, err_size,
                  errno == EWOULDBLOCK
                      ? "another process (a broker?) already uses the "
                        "journal in %s"
                      : "cannot lock the journal in %s",
                  data_dir);
        goto failed;
    }
    rc = sqlite3_open_v2 (self->path, &self->db,
                          SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                              | SQLITE_OPEN_NOMUTEX,
                          NULL);
    if (rc != SQLITE_OK) {
        snprintf (err, err_size, "cannot open %s: %s", self->path,
                  self->db ? sqlite3_errmsg (self->db) : sqlite3_errstr (rc));
        goto failed;
    }
    sqlite3_extended_result_codes (self->db, 1);
    sqlite3_busy_timeout (self->db, JOURNAL_BUSY_TIMEOUT_MS);
    if (s_setup (self, err, err_size) != 0)
        goto failed;
    self->wal_limit_bytes = JOURNAL_WAL_LIMIT_BYTES;
    rc = s_checkpointer_start (self);
    if (rc != 0) {
        snprintf (err, err_size, "cannot start the journal's checkpoint "
                                 "thread: %s",
                  strerror (-rc));
        goto failed;
    }
    return self;

failed:
    journal_close (&self);
    return NULL;
}

void
journal_close (journal_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    journal_t *self = *self_p;
    s_checkpointer_stop (self);
    if (self->in_transaction)
        journal_rollback (self);
    for (int i = 0; i < SQL_COUNT; i++)
        sqlite3_finalize (self->stmt[i]);
    if (self->db)
        sqlite3_close (self->db);
    if (self->lock_fd >= 0)
        close (self->lock_fd);  /* releases the lock */
    free (self->pending);
    free (self->arena);
    free (self);
    *self_p = NULL;
}

int
journal_set_wal_limit (journal_t *self, size_t bytes)
{
    assert (self);
    assert (bytes > 0);
    char sql[64];
    snprintf (sql, sizeof sql, "PRAGMA journal_size_limit=%zu", bytes);
    if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return -EIO;
    pthread_mutex_lock (&self->lock);
    self->wal_limit_bytes = bytes;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

const char *
journal_path (journal_t *self)
{
    assert (self);
    return self->path;
}

bool
journal_pending (journal_t *self)
{
    assert (self);
    return self->in_transaction || self->pending_count > 0;
}

/*  Opens the turn's transaction at its first write. */
static int
s_begin (journal_t *self)
{
    if (self->in_transaction)
        return 0;
    int rc = s_run (s_stmt (self, SQL_BEGIN));
    if (rc != SQLITE_DONE)
        return s_fail (self, rc, "cannot begin a transaction");
    self->in_transaction = true;
    return 0;
}

static int s_flush_events (journal_t *self);

int
journal_commit (journal_t *self)
{
    assert (self);
    int flushed = s_flush_events (self);
    if (flushed != 0) {
        journal_rollback (self);
        return flushed;
    }
    if (!self->in_transaction)
        return 0;
    int rc = s_run (s_stmt (self, SQL_COMMIT));
    if (rc != SQLITE_DONE) {
        int error = s_fail (self, rc, "cannot commit");
        journal_rollback (self);
        return error;
    }
    self->in_transaction = false;
    if (atomic_exchange (&self->restart_wanted, false))
        s_restart_wal (self);
    return 0;
}

void
journal_rollback (journal_t *self)
{
    assert (self);
    /* A failed COMMIT or a full disk may already have ended it. */
    if (!sqlite3_get_autocommit (self->db))
        s_run (s_stmt (self, SQL_ROLLBACK));
    self->in_transaction = false;
    self->pending_count = 0;
    self->arena_len = 0;
}

int
journal_put_job (journal_t *self, const job_record_t *record)
{
    assert (self);
    assert (record);
    const proto_msg_t *snap = &record->snapshot;
    char *blob = NULL;
    size_t blob_len = 0;
    int rc = proto_encode_buf (snap, &blob, &blob_len);
    if (rc != 0) {
        log_write (AURA_LOG_ERROR, snap->cid, snap->job,
                   "journal: cannot encode the job snapshot: %s",
                   strerror (-rc));
        return rc;
    }
    rc = s_begin (self);
    if (rc != 0)
        goto cleanup;

    const char *status = job_status_name (snap->status);
    sqlite3_stmt *stmt = s_stmt (self, SQL_JOB_UPDATE);
    sqlite3_bind_text (stmt, 1, snap->job, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 3, snap->finished_us);
    sqlite3_bind_text (stmt, 4, snap->title, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 5, snap->attempt);
    sqlite3_bind_text (stmt, 6, snap->worker, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 7, record->cancel_requested ? 1 : 0);
    sqlite3_bind_blob (stmt, 8, blob, (int) blob_len, SQLITE_STATIC);
    int sql_rc = s_run (stmt);
    if (sql_rc != SQLITE_DONE) {
        rc = s_fail (self, sql_rc, "cannot update a job");
        goto cleanup;
    }
    if (sqlite3_changes (self->db) > 0)
        goto cleanup;

    if (!record->spec || record->spec_len > PROTO_MAX_SPEC_BYTES) {
        rc = -EINVAL;
        goto cleanup;
    }
    stmt = s_stmt (self, SQL_JOB_INSERT);
    sqlite3_bind_text (stmt, 1, snap->job, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 2, status, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 3, snap->created_us);
    sqlite3_bind_int64 (stmt, 4, snap->finished_us);
    if (record->idem_key && *record->idem_key)
        sqlite3_bind_text (stmt, 5, record->idem_key, -1, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 6, snap->title, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 7, snap->attempt);
    sqlite3_bind_text (stmt, 8, snap->worker, -1, SQLITE_STATIC);
    sqlite3_bind_int (stmt, 9, record->cancel_requested ? 1 : 0);
    sqlite3_bind_blob (stmt, 10, blob, (int) blob_len, SQLITE_STATIC);
    sqlite3_bind_text (stmt, 11, record->spec, (int) record->spec_len,
                       SQLITE_STATIC);
    sql_rc = s_run (stmt);
    if (sql_rc != SQLITE_DONE)
        rc = s_fail (self, sql_rc, "cannot insert a job");

cleanup:
    free (blob);
    return rc;
}

/*  Grows a buffer to hold at least `need` items of `size` bytes. Returns
    0 or -ENOMEM (the buffer is then unchanged). */
static int
s_reserve (void **buf, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t cap_new = *cap ? *cap : 64;
    while (cap_new < need)
        cap_new *= 2;
    void *grown = realloc (*buf, cap_new * size);
    if (!grown)
        return -ENOMEM;
    *buf = grown;
    *cap = cap_new;
    return 0;
}

int
journal_append_event (journal_t *self, const char *job, uint64_t seq,
                      int64_t ts_us, const void *body, size_t len)
{
    assert (self);
    assert (job);
    assert (body);
    if (seq == 0 || seq > INT64_MAX || len > INT_MAX
        || strlen (job) != JOB_ID_LEN)
        return -EINVAL;
    /* Kept in memory until the next flush (a commit, or a read that must
       see it), then written many rows per statement. */
    if (s_reserve ((void **) &self->pending, &self->pending_cap,
                   self->pending_count + 1, sizeof *self->pending)
            != 0
        || s_reserve ((void **) &self->arena, &self->arena_cap,
                      self->arena_len + len, 1)
               != 0)
        return -ENOMEM;
    pending_event_t *event = &self->pending[self->pending_count++];
    memcpy (event->job, job, JOB_ID_SIZE);
    event->seq = seq;
    event->ts_us = ts_us;
    event->offset = self->arena_len;
    event->len = len;
    memcpy (self->arena + self->arena_len, body, len);
    self->arena_len += len;
    return 0;
}

/*  Binds event `e` to the four parameters from `first` on. */
static void
s_bind_event (journal_t *self, sqlite3_stmt *stmt, int first,
              const pending_event_t *e)
{
    sqlite3_bind_text (stmt, first, e->job, JOB_ID_LEN, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, first + 1, (sqlite3_int64) e->seq);
    sqlite3_bind_int64 (stmt, first + 2, e->ts_us);
    sqlite3_bind_blob (stmt, first + 3, self->arena + e->offset, (int) e->len,
                       SQLITE_STATIC);
}

/*  Writes the appended events in the current transaction (opening one).
    Returns 0, -EEXIST when a job already has one of their seqs, or
    another negative errno; the pending events are dropped either way. */
static int
s_flush_events (journal_t *self)
{
    if (self->pending_count == 0)
        return 0;
    int rc = s_begin (self);
    size_t i = 0;
    while (rc == 0 && i < self->pending_count) {
        size_t left = self->pending_count - i;
        bool many = left >= JOURNAL_EVENTS_PER_INSERT;
        size_t rows = many ? JOURNAL_EVENTS_PER_INSERT : 1;
        sqlite3_stmt *stmt = self->stmt[many ? SQL_EVENT_INSERT_MANY
                                             : SQL_EVENT_INSERT];
        for (size_t r = 0; r < rows; r++)
            s_bind_event (self, stmt, (int) (r * 4 + 1), &self->pending[i + r]);
        int sql_rc = s_run (stmt);
        if (sql_rc != SQLITE_DONE)
            rc = s_fail (self, sql_rc, "cannot append events");
        i += rows;
    }
    self->pending_count = 0;
    self->arena_len = 0;
    return rc;
}

int
journal_load_jobs (journal_t *self, journal_job_fn *fn, void *arg,
                   size_t *skipped)
{
    assert (self);
    assert (fn);
    if (skipped)
        *skipped = 0;
    sqlite3_stmt *stmt = s_stmt (self, SQL_LOAD);
    int loaded = 0;
    int rc;
    job_record_t record;
    char err[160];
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *id = (const char *) sqlite3_column_text (stmt, 0);
        const void *blob = sqlite3_column_blob (stmt, 1);
        size_t blob_len = (size_t) sqlite3_column_bytes (stmt, 1);
        int decoded = proto_decode (blob ? blob : "", blob ? blob_len : 0,
                                    &record.snapshot, err, sizeof err);
        if (decoded == 0 && (record.snapshot.type != PROTO_JOB || !id
                             || strcmp (id, record.snapshot.job) != 0)) {
            snprintf (err, sizeof err, "the snapshot is not this job's");
            proto_msg_reset (&record.snapshot);
            decoded = -EPROTO;
        }
        if (decoded != 0) {
            log_write (AURA_LOG_ERROR, NULL, id,
                       "journal %s: skipping a job whose snapshot does not "
                       "decode: %s",
                       self->path, err);
            if (skipped)
                (*skipped)++;
            continue;
        }
        record.spec = (const char *) sqlite3_column_text (stmt, 2);
        record.spec_len = (size_t) sqlite3_column_bytes (stmt, 2);
        const char *idem = (const char *) sqlite3_column_text (stmt, 3);
        record.idem_key = idem ? idem : "";
        record.cancel_requested = sqlite3_column_int (stmt, 4) != 0;
        int64_t max_seq = sqlite3_column_int64 (stmt, 5);
        if (max_seq > 0 && (uint64_t) max_seq > record.snapshot.seq)
            record.snapshot.seq = (uint64_t) max_seq;
        int fn_rc = fn (&record, arg);
        proto_msg_reset (&record.snapshot);
        if (fn_rc < 0) {
            sqlite3_reset (stmt);
            return fn_rc;
        }
        loaded++;
    }
    if (rc != SQLITE_DONE) {
        int error = s_fail (self, rc, "cannot read the jobs");
        sqlite3_reset (stmt);
        return error;
    }
    sqlite3_reset (stmt);
    return loaded;
}

int
journal_replay (journal_t *self, const char *job, uint64_t after_seq,
                size_t limit, journal_event_fn *fn, void *arg, bool *more)
{
    assert (self);
    assert (job);
    assert (fn);
    assert (more);
    *more = false;
    if (limit > INT_MAX - 1)
        limit = INT_MAX - 1;
    if (after_seq > INT64_MAX)
        return 0;
    /* the events appended in this transaction count too */
    int flushed = s_flush_events (self);
    if (flushed != 0)
        return flushed;
    sqlite3_stmt *stmt = s_stmt (self, SQL_REPLAY);
    sqlite3_bind_text (stmt, 1, job, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) after_seq);
    /* one row more than asked tells whether more exist */
    sqlite3_bind_int64 (stmt, 3, (sqlite3_int64) limit + 1);
    int count = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        if ((size_t) count == limit) {
            *more = true;
            break;
        }
        const void *body = sqlite3_column_blob (stmt, 0);
        size_t len = (size_t) sqlite3_column_bytes (stmt, 0);
        int fn_rc = fn (body ? body : "", body ? len : 0, arg);
        if (fn_rc < 0) {
            sqlite3_reset (stmt);
            return fn_rc;
        }
        count++;
    }
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
        int error = s_fail (self, rc, "cannot read events");
        sqlite3_reset (stmt);
        return error;
    }
    sqlite3_reset (stmt);
    return count;
}

int
journal_find_idem (journal_t *self, const char *key, int64_t since_us,
                   char id_out[JOB_ID_SIZE])
{
    assert (self);
    if (!key || !*key)
        return -ENOENT;
    sqlite3_stmt *stmt = s_stmt (self, SQL_IDEM);
    sqlite3_bind_text (stmt, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_int64 (stmt, 2, since_us);
    int rc = sqlite3_step (stmt);
    int result = -ENOENT;
    if (rc == SQLITE_ROW) {
        const char *id = (const char *) sqlite3_column_text (stmt, 0);
        if (id && strlen (id) == JOB_ID_LEN) {
            memcpy (id_out, id, JOB_ID_SIZE);
            result = 0;
        }
    }
    else if (rc != SQLITE_DONE)
        result = s_fail (self, rc, "cannot look an idempotency key up");
    sqlite3_reset (stmt);
    return result;
}

/*  Deletes at most *budget of the job's events, lowest seqs first, and
    the job's row once no event is left. Returns 1 when the row is gone,
    0 when events remain (the budget ran out), or a negative errno. */
static int
s_prune_job (journal_t *self, const char *id, size_t *budget)
{
    while (true) {
        sqlite3_stmt *stmt = s_stmt (self, SQL_PRUNE_MIN_SEQ);
        sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
        int rc = sqlite3_step (stmt);
        bool none =
            rc == SQLITE_ROW && sqlite3_column_type (stmt, 0) == SQLITE_NULL;
        int64_t min_seq = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
        sqlite3_reset (stmt);
        if (rc != SQLITE_ROW)
            return s_fail (self, rc, "cannot read a job's first event");
        if (none) {
            stmt = s_stmt (self, SQL_PRUNE_JOB);
            sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
            rc = s_run (stmt);
            return rc == SQLITE_DONE ? 1
                                     : s_fail (self, rc, "cannot delete a job");
        }
        if (*budget == 0)
            return 0;
        int64_t below = min_seq > INT64_MAX - (int64_t) *budget
                            ? INT64_MAX
                            : min_seq + (int64_t) *budget;
        stmt = s_stmt (self, SQL_PRUNE_EVENTS);
        sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
        sqlite3_bind_int64 (stmt, 2, below);
        rc = s_run (stmt);
        if (rc != SQLITE_DONE)
            return s_fail (self, rc, "cannot delete events");
        size_t deleted = (size_t) sqlite3_changes (self->db);
        *budget = deleted >= *budget ? 0 : *budget - deleted;
    }
}

int
journal_prune (journal_t *self, int64_t finished_before_us, size_t max_jobs,
               size_t max_events, journal_prune_fn *fn, void *arg,
               size_t *jobs_pruned)
{
    assert (self);
    assert (jobs_pruned);
    *jobs_pruned = 0;
    if (max_jobs == 0)
        return 1;
    if (max_jobs > JOURNAL_PRUNE_MAX_JOBS)
        max_jobs = JOURNAL_PRUNE_MAX_JOBS;

    /* Collect the candidates first: deleting under a running SELECT of
       the same table would be legal but hard to reason about. */
    char ids[JOURNAL_PRUNE_MAX_JOBS][JOB_ID_SIZE];
    size_t count = 0;
    sqlite3_stmt *stmt = s_stmt (self, SQL_PRUNE_SELECT);
    sqlite3_bind_int64 (stmt, 1, finished_before_us);
    sqlite3_bind_int64 (stmt, 2, (sqlite3_int64) max_jobs);
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW && count < max_jobs) {
        const char *id = (const char *) sqlite3_column_text (stmt, 0);
        if (id && strlen (id) == JOB_ID_LEN)
            memcpy (ids[count++], id, JOB_ID_SIZE);
    }
    sqlite3_reset (stmt);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return s_fail (self, rc, "cannot select jobs to prune");
    if (count == 0)
        return 0;

    rc = s_begin (self);
    if (rc != 0)
        return rc;
    size_t budget = max_events;
    for (size_t i = 0; i < count; i++) {
        if (fn && !fn (ids[i], arg))
            continue;
        rc = s_prune_job (self, ids[i], &budget);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return 1;  /* out of budget: this job's events continue next time */
        (*jobs_pruned)++;
    }
    return count == max_jobs ? 1 : 0;
}
