/*  Unit tests of the broker's journal: what is committed survives a close
    and a reopen, what is not is gone, replays page through a job's events
    exactly as they were stored, retention prunes in bounded steps,
    idempotency keys are found, and a directory or file that cannot hold a
    journal is refused with a clear reason. Each test works in a fresh
    temporary directory. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "jobs.h"
#include "journal.h"
#include "proto.h"
#include "support.h"

static const char s_spec[] = "{\"brief\":{\"topic\":\"tides\"}}";

static char s_dir[256];

static void
s_setup (void)
{
    test_dir_make (s_dir, sizeof s_dir, "journal-test");
}

static void
s_teardown (void)
{
    test_dir_remove (s_dir);
}

/*  A path inside the test's directory. */
static const char *
s_path (char *out, size_t size, const char *name)
{
    ck_assert_int_lt (snprintf (out, size, "%s/%s", s_dir, name), (int) size);
    return out;
}

static journal_t *
s_open (const char *dir)
{
    char err[512] = "";
    journal_t *journal = journal_open (dir, err, sizeof err);
    ck_assert_msg (journal != NULL, "open failed: %s", err);
    return journal;
}

/*  Submits job n to the store and journals its record. */
static void
s_submit (jobs_t *jobs, journal_t *journal, int n, const char *idem,
          int64_t created_us, char id[JOB_ID_SIZE])
{
    char title[64];
    snprintf (title, sizeof title, "Topic %d", n);
    ck_assert_int_eq (job_id_generate_at (id, 1700000000000ULL + (uint64_t) n),
                      0);
    proto_msg_t status;
    ck_assert_int_eq (jobs_submit (jobs, id, "c-test", s_spec, strlen (s_spec),
                                   title, idem, created_us, &status),
                      0);
    proto_msg_reset (&status);
    job_record_t record;
    while (jobs_pop_changed (jobs, &record) == 0) {
        ck_assert_int_eq (journal_put_job (journal, &record), 0);
        proto_msg_reset (&record.snapshot);
    }
}

/*  Appends a step-progress event with the given seq; returns its body. */
static void
s_event (journal_t *journal, const char *id, uint64_t seq, char **body,
         size_t *len)
{
    proto_msg_t event;
    proto_msg_init (&event, PROTO_EVENT);
    event.kind = EVENT_STEP_PROGRESS;
    snprintf (event.job, sizeof event.job, "%s", id);
    event.attempt = 1;
    event.seq = seq;
    event.ts_us = 1000 + (int64_t) seq;
    event.step = STEP_TTS;
    snprintf (event.phase, sizeof event.phase, "tts");
    snprintf (event.message, sizeof event.message, "line %llu",
              (unsigned long long) seq);
    event.percent = 20;
    ck_assert_int_eq (proto_encode_buf (&event, body, len), 0);
    ck_assert_int_eq (journal_append_event (journal, id, seq, event.ts_us,
                                            *body, *len),
                      0);
}

static void
s_events (journal_t *journal, const char *id, uint64_t from, uint64_t to)
{
    for (uint64_t seq = from; seq <= to; seq++) {
        char *body;
        size_t len;
        s_event (journal, id, seq, &body, &len);
        free (body);
    }
}

/*  Collects what a load reads back. */
typedef struct {
    int count;
    job_record_t first;  /* copy of the first record's snapshot */
    char spec[256];
    char idem[160];
} loaded_t;

static int
s_collect (const job_record_t *record, void *arg)
{
    loaded_t *loaded = arg;
    if (loaded->count++ == 0) {
        loaded->first.snapshot = record->snapshot;  /* owns no spec */
        loaded->first.cancel_requested = record->cancel_requested;
        snprintf (loaded->spec, sizeof loaded->spec, "%.*s",
                  (int) record->spec_len, record->spec);
        snprintf (loaded->idem, sizeof loaded->idem, "%s", record->idem_key);
    }
    return 0;
}

/*  Collects replayed bodies' seqs. */
typedef struct {
    uint64_t seqs[64];
    int count;
} replayed_t;

static int
s_replayed (const void *body, size_t len, void *arg)
{
    replayed_t *replayed = arg;
    proto_msg_t event;
    char err[128];
    ck_assert_int_eq (proto_decode (body, len, &event, err, sizeof err), 0);
    ck_assert_int_eq (event.type, PROTO_EVENT);
    ck_assert_int_lt (replayed->count, 64);
    replayed->seqs[replayed->count++] = event.seq;
    proto_msg_reset (&event);
    return 0;
}

/*  The bodies a replay must give back, byte for byte. */
typedef struct {
    int n;
    char *bodies[3];
    size_t lens[3];
} expected_t;

static int
s_same (const void *body, size_t len, void *arg)
{
    expected_t *e = arg;
    ck_assert_int_lt (e->n, 3);
    ck_assert_uint_eq (len, e->lens[e->n]);
    ck_assert_mem_eq (body, e->bodies[e->n], len);
    e->n++;
    return 0;
}

START_TEST (test_reopen_keeps_committed_jobs_and_events)
{
    char dir[512];
    /* a directory that does not exist yet, two levels deep */
    s_path (dir, sizeof dir, "var/data");
    journal_t *journal = s_open (dir);
    jobs_t *jobs = jobs_new ();
    char id[JOB_ID_SIZE];
    s_submit (jobs, journal, 1, "order-1", 5000, id);
    char *bodies[3];
    size_t lens[3];
    for (int i = 0; i < 3; i++)
        s_event (journal, id, (uint64_t) i + 1, &bodies[i], &lens[i]);
    ck_assert (journal_pending (journal));
    ck_assert_int_eq (journal_commit (journal), 0);
    ck_assert (!journal_pending (journal));
    journal_close (&journal);
    ck_assert_ptr_null (journal);
    jobs_destroy (&jobs);

    journal = s_open (dir);
    loaded_t loaded = { 0 };
    size_t skipped = 9;
    ck_assert_int_eq (journal_load_jobs (journal, s_collect, &loaded, &skipped),
                      1);
    ck_assert_uint_eq (skipped, 0);
    const proto_msg_t *snap = &loaded.first.snapshot;
    ck_assert_str_eq (snap->job, id);
    ck_assert_int_eq (snap->status, JOB_QUEUED);
    ck_assert_str_eq (snap->title, "Topic 1");
    ck_assert_str_eq (snap->cid, "c-test");
    ck_assert_int_eq (snap->created_us, 5000);
    /* the job's seq continues from its last journaled event */
    ck_assert_uint_eq (snap->seq, 3);
    ck_assert_str_eq (loaded.spec, s_spec);
    ck_assert_str_eq (loaded.idem, "order-1");

    /* replay gives back the very bytes that were stored */
    expected_t expect = { 0, { bodies[0], bodies[1], bodies[2] },
                          { lens[0], lens[1], lens[2] } };
    bool more = true;
    int count = journal_replay (journal, id, 0, 10, s_same, &expect, &more);
    ck_assert_int_eq (count, 3);
    ck_assert_int_eq (expect.n, 3);
    ck_assert (!more);
    for (int i = 0; i < 3; i++)
        free (bodies[i]);
    journal_close (&journal);
    journal_close (&journal);  /* NULL: nothing */
}
END_TEST

START_TEST (test_uncommitted_writes_are_lost)
{
    journal_t *journal = s_open (s_dir);
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    s_submit (jobs, journal, 1, NULL, 1, a);
    s_events (journal, a, 1, 2);
    ck_assert_int_eq (journal_commit (journal), 0);
    s_submit (jobs, journal, 2, NULL, 2, b);
    s_events (journal, a, 3, 4);
    journal_close (&journal);  /* rolls back b and events 3..4 */

    journal = s_open (s_dir);
    loaded_t loaded = { 0 };
    ck_assert_int_eq (journal_load_jobs (journal, s_collect, &loaded, NULL), 1);
    ck_assert_str_eq (loaded.first.snapshot.job, a);
    ck_assert_uint_eq (loaded.first.snapshot.seq, 2);

    /* an explicit rollback drops the transaction and the appended events */
    s_events (journal, a, 3, 3);
    s_submit (jobs, journal, 3, NULL, 3, b);
    journal_rollback (journal);
    ck_assert (!journal_pending (journal));
    ck_assert_int_eq (journal_commit (journal), 0);
    loaded_t again = { 0 };
    ck_assert_int_eq (journal_load_jobs (journal, s_collect, &again, NULL), 1);
    ck_assert_uint_eq (again.first.snapshot.seq, 2);
    journal_close (&journal);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_job_record_is_replaced)
{
    journal_t *journal = s_open (s_dir);
    jobs_t *jobs = jobs_new ();
    char id[JOB_ID_SIZE];
    s_submit (jobs, journal, 1, NULL, 1, id);
    ck_assert_int_eq (journal_commit (journal), 0);

    /* the job runs, is asked to cancel: its record follows */
    proto_msg_t dispatch;
    ck_assert_int_eq (jobs_dispatch_next (jobs, 10, &dispatch), 0);
    proto_msg_reset (&dispatch);
    jobs_out_t out;
    ck_assert_int_eq (jobs_accept (jobs, id, 1, "w7", 20, &out), 0);
    jobs_out_reset (&out);
    ck_assert_int_eq (jobs_cancel (jobs, id, 30, &out), 0);
    jobs_out_reset (&out);
    job_record_t record;
    ck_assert_int_eq (jobs_pop_changed (jobs, &record), 0);
    ck_assert_int_eq (journal_put_job (journal, &record), 0);
    proto_msg_reset (&record.snapshot);
    ck_assert_int_eq (jobs_pop_changed (jobs, &record), -ENOENT);
    ck_assert_int_eq (journal_commit (journal), 0);

    loaded_t loaded = { 0 };
    ck_assert_int_eq (journal_load_jobs (journal, s_collect, &loaded, NULL), 1);
    ck_assert_int_eq (loaded.first.snapshot.status, JOB_RUNNING);
    ck_assert_str_eq (loaded.first.snapshot.worker, "w7");
    ck_assert_int_eq (loaded.first.snapshot.started_us, 20);
    ck_assert (loaded.first.cancel_requested);
    ck_assert_str_eq (loaded.spec, s_spec);
    journal_close (&journal);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_replay_pages)
{
    journal_t *journal = s_open (s_dir);
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE];
    s_submit (jobs, journal, 1, NULL, 1, a);
    s_submit (jobs, journal, 2, NULL, 2, b);
    s_events (journal, a, 1, 25);
    s_events (journal, b, 1, 3);
    ck_assert_int_eq (journal_commit (journal), 0);

    replayed_t page = { .count = 0 };
    bool more = false;
    ck_assert_int_eq (
        journal_replay (journal, a, 0, 10, s_replayed, &page, &more), 10);
    ck_assert (more);
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq (page.seqs[i], (uint64_t) i + 1);

    page.count = 0;
    ck_assert_int_eq (
        journal_replay (journal, a, 20, 10, s_replayed, &page, &more), 5);
    ck_assert (!more);
    ck_assert_uint_eq (page.seqs[0], 21);
    ck_assert_uint_eq (page.seqs[4], 25);

    /* exactly at the end: nothing, no more */
    page.count = 0;
    ck_assert_int_eq (
        journal_replay (journal, a, 25, 10, s_replayed, &page, &more), 0);
    ck_assert (!more);
    /* a page that ends on the last event says so */
    ck_assert_int_eq (
        journal_replay (journal, a, 15, 10, s_replayed, &page, &more), 10);
    ck_assert (!more);
    /* another job's events never mix in */
    page.count = 0;
    ck_assert_int_eq (
        journal_replay (journal, b, 0, 100, s_replayed, &page, &more), 3);
    /* an unknown job has none */
    char unknown[JOB_ID_SIZE];
    ck_assert_int_eq (job_id_generate_at (unknown, 1800000000000ULL), 0);
    ck_assert_int_eq (
        journal_replay (journal, unknown, 0, 10, s_replayed, &page, &more), 0);

    /* events appended in the open transaction are seen by a replay */
    s_events (journal, a, 26, 27);
    page.count = 0;
    ck_assert_int_eq (
        journal_replay (journal, a, 25, 10, s_replayed, &page, &more), 2);
    ck_assert_uint_eq (page.seqs[1], 27);
    ck_assert_int_eq (journal_commit (journal), 0);
    journal_close (&journal);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_duplicate_seq_fails_the_commit)
{
    journal_t *journal = s_open (s_dir);
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    s_submit (jobs, journal, 1, NULL, 1, a);
    s_events (journal, a, 1, 2);
    ck_assert_int_eq (journal_commit (journal), 0);
    s_events (journal, a, 2, 2);
    ck_assert_int_eq (journal_commit (journal), -EEXIST);
    ck_assert (!journal_pending (journal));
    /* the journal goes on working */
    s_events (journal, a, 3, 3);
    ck_assert_int_eq (journal_commit (journal), 0);
    replayed_t page = { .count = 0 };
    bool more;
    ck_assert_int_eq (
        journal_replay (journal, a, 0, 10, s_replayed, &page, &more), 3);
    ck_assert_int_eq (journal_append_event (journal, a, 0, 1, "x", 1), -EINVAL);
    ck_assert_int_eq (journal_append_event (journal, "nope", 9, 1, "x", 1),
                      -EINVAL);
    journal_close (&journal);
    jobs_destroy (&jobs);
}
END_TEST

/*  Size of a file in the test's directory, 0 when there is none. */
static int64_t
s_file_size (const char *name)
{
    char path[512];
    struct stat st;
    return stat (s_path (path, sizeof path, name), &st) == 0
               ? (int64_t) st.st_size
               : 0;
}

static int64_t
s_mono_ms (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

START_TEST (test_checkpoints_copy_commits_into_the_database)
{
    /* The checkpoint thread's connection used to check the WAL before
       it had read anything, which SQLite answers with success and does
       nothing: committed events then stayed in the WAL, which grew for
       as long as the broker ran. */
    journal_t *journal = s_open (s_dir);
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    s_submit (jobs, journal, 1, NULL, 1, a);
    ck_assert_int_eq (journal_commit (journal), 0);
    int64_t before = s_file_size ("aura.db");
    s_events (journal, a, 1, 2000);
    ck_assert_int_eq (journal_commit (journal), 0);
    ck_assert_int_gt (s_file_size ("aura.db-wal"), 0);
    int64_t deadline = s_mono_ms () + 8000;
    while (s_file_size ("aura.db") <= before && s_mono_ms () < deadline)
        usleep (20 * 1000);
    ck_assert_msg (s_file_size ("aura.db") > before,
                   "no checkpoint within 8 s: the database file stayed at "
                   "%lld bytes",
                   (long long) before);
    journal_close (&journal);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_wal_stays_bounded_under_steady_writes)
{
    /* A passive checkpoint never ends a WAL whose writer keeps writing:
       past its limit the WAL must be restarted and the file cut back. */
    journal_t *journal = s_open (s_dir);
    const int64_t limit = 1024 * 1024;
    ck_assert_int_eq (journal_set_wal_limit (journal, (size_t) limit), 0);
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE];
    s_submit (jobs, journal, 1, NULL, 1, a);
    ck_assert_int_eq (journal_commit (journal), 0);
    int64_t largest = 0, written = 0;
    bool cut_back = false;
    uint64_t seq = 1;
    int64_t deadline = s_mono_ms () + 8000;
    while (!cut_back && largest < 64 * limit && s_mono_ms () < deadline) {
        s_events (journal, a, seq, seq + 9);
        seq += 10;
        ck_assert_int_eq (journal_commit (journal), 0);
        int64_t size = s_file_size ("aura.db-wal");
        if (size > largest)
            largest = size;
        else if (size < largest && largest > limit)
            cut_back = true;
        written++;
        usleep (100);
    }
    ck_assert_msg (cut_back,
                   "the WAL grew to %lld bytes over %lld commits and was "
                   "never cut back to its limit of %lld",
                   (long long) largest, (long long) written, (long long) limit);
    ck_assert_int_le (s_file_size ("aura.db-wal"), largest);
    journal_close (&journal);
    jobs_destroy (&jobs);
}
END_TEST

/*  Finishes a journaled job at finished_us (cancelled while queued). */
static void
s_finish (jobs_t *jobs, journal_t *journal, const char *id, int64_t finished_us)
{
    jobs_out_t out;
    ck_assert_int_eq (jobs_cancel (jobs, id, finished_us, &out), 0);
    jobs_out_reset (&out);
    job_record_t record;
    while (jobs_pop_changed (jobs, &record) == 0) {
        ck_assert_int_eq (journal_put_job (journal, &record), 0);
        proto_msg_reset (&record.snapshot);
    }
}

static bool
s_veto_second (const char *job, void *arg)
{
    return strcmp (job, (const char *) arg) != 0;
}

START_TEST (test_prune_in_bounded_steps)
{
    journal_t *journal = s_open (s_dir);
    jobs_t *jobs = jobs_new ();
    char ids[6][JOB_ID_SIZE];
    for (int i = 0; i < 6; i++) {
        s_submit (jobs, journal, i + 1, NULL, i + 1, ids[i]);
        s_events (journal, ids[i], 1, 10);
    }
    /* 0..3 finished long ago, 4 recently, 5 never */
    for (int i = 0; i < 4; i++)
        s_finish (jobs, journal, ids[i], 1000 + i);
    s_finish (jobs, journal, ids[4], 900000);
    ck_assert_int_eq (journal_commit (journal), 0);

    /* at most 2 jobs and 15 events per step */
    size_t pruned = 0, total = 0;
    int steps = 0, rc;
    do {
        rc = journal_prune (journal, 500000, 2, 15, NULL, NULL, &pruned);
        ck_assert_int_ge (rc, 0);
        ck_assert_uint_le (pruned, 2);
        total += pruned;
        ck_assert_int_eq (journal_commit (journal), 0);
        steps++;
    } while (rc == 1 && steps < 20);
    ck_assert_int_eq (rc, 0);
    ck_assert_uint_eq (total, 4);
    /* 40 events at 15 a step: at least three steps */
    ck_assert_int_ge (steps, 3);

    loaded_t loaded = { 0 };
    ck_assert_int_eq (journal_load_jobs (journal, s_collect, &loaded, NULL), 2);
    ck_assert_str_eq (loaded.first.snapshot.job, ids[4]);
    replayed_t page = { .count = 0 };
    bool more;
    ck_assert_int_eq (
        journal_replay (journal, ids[0], 0, 100, s_replayed, &page, &more), 0);
    ck_assert_int_eq (
        journal_replay (journal, ids[4], 0, 100, s_replayed, &page, &more), 10);

    /* a veto keeps a job; a later cutoff takes the rest */
    rc = journal_prune (journal, 1000000, 10, 1000, s_veto_second, ids[4],
                        &pruned);
    ck_assert_int_eq (rc, 0);
    ck_assert_uint_eq (pruned, 0);
    rc = journal_prune (journal, 1000000, 10, 1000, NULL, NULL, &pruned);
    ck_assert_uint_eq (pruned, 1);
    ck_assert_int_eq (journal_commit (journal), 0);
    loaded_t rest = { 0 };
    ck_assert_int_eq (journal_load_jobs (journal, s_collect, &rest, NULL), 1);
    ck_assert_str_eq (rest.first.snapshot.job, ids[5]);
    journal_close (&journal);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_idempotency_lookup)
{
    journal_t *journal = s_open (s_dir);
    jobs_t *jobs = jobs_new ();
    char a[JOB_ID_SIZE], b[JOB_ID_SIZE], c[JOB_ID_SIZE], found[JOB_ID_SIZE];
    s_submit (jobs, journal, 1, "key-1", 1000, a);
    s_submit (jobs, journal, 2, "key-1", 2000, b);
    s_submit (jobs, journal, 3, "key-2", 3000, c);
    ck_assert_int_eq (journal_commit (journal), 0);

    ck_assert_int_eq (journal_find_idem (journal, "key-1", 0, found), 0);
    ck_assert_str_eq (found, b);  /* the newest */
    ck_assert_int_eq (journal_find_idem (journal, "key-1", 1500, found), 0);
    ck_assert_str_eq (found, b);
    ck_assert_int_eq (journal_find_idem (journal, "key-1", 2001, found),
                      -ENOENT);
    ck_assert_int_eq (journal_find_idem (journal, "key-2", 0, found), 0);
    ck_assert_str_eq (found, c);
    ck_assert_int_eq (journal_find_idem (journal, "key-3", 0, found), -ENOENT);
    ck_assert_int_eq (journal_find_idem (journal, "", 0, found), -ENOENT);

    /* the store finds keys within its 24 h window */
    ck_assert_int_eq (jobs_find_idem (jobs, "key-1", 2000 + JOBS_IDEM_WINDOW_US,
                                      found),
                      0);
    ck_assert_str_eq (found, b);
    ck_assert_int_eq (jobs_find_idem (jobs, "key-1",
                                      2001 + JOBS_IDEM_WINDOW_US, found),
                      -ENOENT);
    journal_close (&journal);
    jobs_destroy (&jobs);
}
END_TEST

START_TEST (test_a_file_that_is_not_sqlite_is_refused)
{
    char db[512];
    s_path (db, sizeof db, "aura.db");
    FILE *f = fopen (db, "w");
    ck_assert_ptr_nonnull (f);
    for (int i = 0; i < 200; i++)
        fputs ("this is not a database, just text. ", f);
    fclose (f);
    char err[512] = "";
    ck_assert_ptr_null (journal_open (s_dir, err, sizeof err));
    ck_assert_msg (strstr (err, "aura.db") && strstr (err, "not"),
                   "unclear error: %s", err);
    ck_assert_ptr_null (strchr (err, '\n'));
}
END_TEST

START_TEST (test_another_sqlite_database_is_refused)
{
    char db[512];
    s_path (db, sizeof db, "aura.db");
    sqlite3 *other = NULL;
    ck_assert_int_eq (sqlite3_open (db, &other), SQLITE_OK);
    ck_assert_int_eq (sqlite3_exec (other, "CREATE TABLE notes (x)", NULL, NULL,
                                    NULL),
                      SQLITE_OK);
    sqlite3_close (other);
    char err[512] = "";
    ck_assert_ptr_null (journal_open (s_dir, err, sizeof err));
    ck_assert_msg (strstr (err, "not an Aura journal"), "unclear error: %s",
                   err);
}
END_TEST

START_TEST (test_a_second_user_and_a_bad_directory_are_refused)
{
    journal_t *journal = s_open (s_dir);
    char err[512] = "";
    ck_assert_ptr_null (journal_open (s_dir, err, sizeof err));
    ck_assert_msg (strstr (err, "already uses"), "unclear error: %s", err);
    journal_close (&journal);
    /* free again once closed */
    journal = s_open (s_dir);
    journal_close (&journal);

    /* a directory below a regular file cannot exist */
    char file[512], below[600];
    s_path (file, sizeof file, "plain-file");
    FILE *f = fopen (file, "w");
    ck_assert_ptr_nonnull (f);
    fclose (f);
    snprintf (below, sizeof below, "%s/data", file);
    ck_assert_ptr_null (journal_open (below, err, sizeof err));
    ck_assert_msg (strstr (err, "cannot create the data directory"),
                   "unclear error: %s", err);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("broker_journal");
    TCase *tc = tcase_create ("journal");
    tcase_add_checked_fixture (tc, s_setup, s_teardown);
    tcase_add_test (tc, test_reopen_keeps_committed_jobs_and_events);
    tcase_add_test (tc, test_uncommitted_writes_are_lost);
    tcase_add_test (tc, test_job_record_is_replaced);
    tcase_add_test (tc, test_replay_pages);
    tcase_add_test (tc, test_duplicate_seq_fails_the_commit);
    /* the two checkpoint tests wait up to 8 s each when they fail,
       and run slower under valgrind */
    tcase_set_timeout (tc, 30);
    tcase_add_test (tc, test_checkpoints_copy_commits_into_the_database);
    tcase_add_test (tc, test_wal_stays_bounded_under_steady_writes);
    tcase_add_test (tc, test_prune_in_bounded_steps);
    tcase_add_test (tc, test_idempotency_lookup);
    tcase_add_test (tc, test_a_file_that_is_not_sqlite_is_refused);
    tcase_add_test (tc, test_another_sqlite_database_is_refused);
    tcase_add_test (tc, test_a_second_user_and_a_bad_directory_are_refused);
    suite_add_tcase (s, tc);
    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? 0 : 1;
}
