/*  Unit tests of the narration step (worker/pipeline/tts.c) with the real
    espeak-ng: audible PCM of a plausible length in a well-formed WAV, word
    timings in order, the fallback for an unknown voice, a prompt stop in
    the middle of a synthesis, the checkpoint, and two jobs at once. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/media.h"
#include "support.h"

/* ------------------------------------------------------------------ */
/*  Fixtures                                                           */

/*  A job directory of its own for each test, removed afterwards. */
static void
s_make_dir (char *dir, size_t size)
{
    test_dir_make (dir, size, "media-tts");
}

static void
s_remove_dir (const char *dir)
{
    test_dir_remove (dir);
}

/*  Writes plan.json for spec into dir; when narration is not NULL every
    scene says it. */
static void
s_write_plan (const char *dir, const char *spec, const char *narration)
{
    static media_plan_t plan;
    pipeline_error_t error;
    ck_assert_int_eq (media_plan_build (spec, strlen (spec), &plan, &error), 0);
    if (narration)
        for (int i = 0; i < plan.scene_count; i++)
            snprintf (plan.scenes[i].narration, sizeof plan.scenes[i].narration,
                      "%s", narration);
    char path[512];
    ck_assert_int_eq (media_path (path, sizeof path, dir, "plan.json"), 0);
    ck_assert_int_eq (media_plan_save (&plan, path), 0);
}

typedef struct {
    int reports;
    double fractions[32];
    int calls;
    int calls_after_stop;
    int64_t started_ms;
    int64_t last_call_ms;
    int64_t longest_gap_ms;
    int64_t stop_after_ms;         /* -1: never */
    int64_t stopped_at_ms;
    bool stopped;
    int warnings;
    char warning_code[PIPELINE_CODE_SIZE];
    char warning_message[PIPELINE_MESSAGE_SIZE];
} recorder_t;

static void
s_recorder_init (recorder_t *rec)
{
    memset (rec, 0, sizeof *rec);
    rec->stop_after_ms = -1;
    rec->started_ms = pipeline_clock_ms ();
    rec->last_call_ms = rec->started_ms;
}

static int
s_record (void *ctx, step_t step, double fraction, const char *message, int eta_s)
{
    recorder_t *rec = ctx;
    (void) eta_s;
    ck_assert_int_eq (step, STEP_TTS);
    int64_t now_ms = pipeline_clock_ms ();
    if (now_ms - rec->last_call_ms > rec->longest_gap_ms)
        rec->longest_gap_ms = now_ms - rec->last_call_ms;
    rec->last_call_ms = now_ms;
    rec->calls++;
    if (rec->stopped) {
        rec->calls_after_stop++;
        return -ECANCELED;
    }
    if (rec->stop_after_ms >= 0 && now_ms - rec->started_ms >= rec->stop_after_ms) {
        rec->stopped = true;
        rec->stopped_at_ms = now_ms;
        return -ECANCELED;
    }
    if (message && rec->reports < 32)
        rec->fractions[rec->reports++] = fraction;
    return 0;
}

static void
s_warn (void *ctx, const char *code, const char *message)
{
    recorder_t *rec = ctx;
    rec->warnings++;
    snprintf (rec->warning_code, sizeof rec->warning_code, "%s", code);
    snprintf (rec->warning_message, sizeof rec->warning_message, "%s", message);
}

static int
s_run_tts (const char *dir, recorder_t *rec, pipeline_output_t *output,
           pipeline_error_t *error)
{
    static const char spec[] = "{\"brief\":{\"topic\":\"unused\"}}";
    pipeline_options_t options;
    memset (&options, 0, sizeof options);
    pipeline_input_t input = {
        .job_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ",
        .attempt = 1,
        .spec = spec,
        .spec_len = sizeof spec - 1,
        .artifact_dir = dir,
        .options = &options,
        .warn = s_warn,
        .warn_ctx = rec,
    };
    memset (output, 0, sizeof *output);
    memset (error, 0, sizeof *error);
    return media_step_tts (&input, output, s_record, rec, error);
}

typedef struct {
    int sample_rate;
    int16_t *samples;
    size_t count;
} wav_t;

static uint32_t
s_u32 (const unsigned char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16
           | (uint32_t) p[3] << 24;
}

static uint16_t
s_u16 (const unsigned char *p)
{
    return (uint16_t) (p[0] | p[1] << 8);
}

/*  Reads a 16-bit mono PCM WAV, checking every field of its header. */
static void
s_read_wav (const char *path, wav_t *wav)
{
    FILE *file = fopen (path, "rb");
    ck_assert_msg (file != NULL, "cannot open %s", path);
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    ck_assert_int_gt (size, 44);
    unsigned char *bytes = malloc ((size_t) size);
    ck_assert_int_eq (fread (bytes, 1, (size_t) size, file), (size_t) size);
    fclose (file);
    ck_assert (memcmp (bytes, "RIFF", 4) == 0);
    ck_assert_int_eq (s_u32 (bytes + 4), size - 8);
    ck_assert (memcmp (bytes + 8, "WAVEfmt ", 8) == 0);
    ck_assert_int_eq (s_u32 (bytes + 16), 16);
    ck_assert_int_eq (s_u16 (bytes + 20), 1);       /* PCM */
    ck_assert_int_eq (s_u16 (bytes + 22), 1);       /* mono */
    wav->sample_rate = (int) s_u32 (bytes + 24);
    ck_assert_int_eq (wav->sample_rate, 22050);
    ck_assert_int_eq (s_u32 (bytes + 28), 22050 * 2);
    ck_assert_int_eq (s_u16 (bytes + 32), 2);
    ck_assert_int_eq (s_u16 (bytes + 34), 16);
    ck_assert (memcmp (bytes + 36, "data", 4) == 0);
    ck_assert_int_eq (s_u32 (bytes + 40), size - 44);
    wav->count = (size_t) (size - 44) / 2;
    wav->samples = malloc (wav->count * sizeof *wav->samples);
    for (size_t i = 0; i < wav->count; i++)
        wav->samples[i] = (int16_t) s_u16 (bytes + 44 + 2 * i);
    free (bytes);
}

static double
s_rms (const wav_t *wav)
{
    double sum = 0;
    for (size_t i = 0; i < wav->count; i++)
        sum += (double) wav->samples[i] * wav->samples[i];
    return wav->count ? sqrt (sum / (double) wav->count) : 0;
}

/* ------------------------------------------------------------------ */
/*  Tests                                                              */

/*  Twelve words. */
#define KNOWN_SENTENCE "Solar panels turn sunlight into electricity that we can use every day."

START_TEST (test_known_sentence)
{
    char dir[64];
    s_make_dir (dir, sizeof dir);
    s_write_plan (dir, "{\"brief\":{\"topic\":\"Solar\"}}", KNOWN_SENTENCE);
    recorder_t rec;
    s_recorder_init (&rec);
    pipeline_output_t output;
    pipeline_error_t error;
    int rc = s_run_tts (dir, &rec, &output, &error);
    ck_assert_msg (rc == 0, "%d %s %s", rc, error.code, error.message);
    ck_assert_int_eq (rec.warnings, 0);
    ck_assert_msg (rec.longest_gap_ms <= 2 * PIPELINE_POLL_SLICE_MS,
                   "progress was not asked for %lld ms", (long long) rec.longest_gap_ms);

    /* progress: scenes done / scenes, ending at 1 */
    ck_assert_int_ge (rec.reports, 4);
    for (int i = 1; i < rec.reports; i++)
        ck_assert (rec.fractions[i] >= rec.fractions[i - 1]);
    ck_assert (fabs (rec.fractions[rec.reports - 1] - 1.0) < 1e-9);
    ck_assert (fabs (rec.fractions[1] - 1.0 / 3) < 1e-9);

    media_voice_t voice;
    char path[512];
    media_path (path, sizeof path, dir, "voice.json");
    ck_assert_int_eq (media_voice_load (path, &voice, &error), 0);
    ck_assert_int_eq (voice.sample_rate, 22050);
    ck_assert_int_eq (voice.scene_count, 3);

    media_path (path, sizeof path, dir, "scene-01.wav");
    wav_t wav;
    s_read_wav (path, &wav);
    double seconds = (double) wav.count / wav.sample_rate;
    ck_assert_msg (seconds >= 2.0 && seconds <= 8.0, "%.2f s for 12 words", seconds);
    ck_assert_msg (s_rms (&wav) > 500, "RMS %.0f: silent", s_rms (&wav));
    ck_assert (fabs (voice.scenes[0].duration_s - seconds) < 1e-6);
    /* trailing silence is trimmed: the last 100 ms are not all quiet */
    int loud = 0;
    for (size_t i = wav.count - (size_t) wav.sample_rate / 10; i < wav.count; i++)
        if (abs (wav.samples[i]) > 64)
            loud++;
    ck_assert_int_gt (loud, 0);
    free (wav.samples);

    /* word timings: the words of the sentence, in order, within the audio */
    const media_voice_scene_t *scene = &voice.scenes[0];
    static const char *expected[] = { "Solar", "panels", "turn", "sunlight", "into",
                                      "electricity", "that", "we", "can", "use",
                                      "every", "day." };
    ck_assert_int_eq (scene->word_count, 12);
    int duration_ms = (int) (scene->duration_s * 1000 + 0.5);
    for (int w = 0; w < scene->word_count; w++) {
        ck_assert_str_eq (scene->words[w].text, expected[w]);
        if (w > 0)
            ck_assert_int_gt (scene->words[w].start_ms, scene->words[w - 1].start_ms);
        ck_assert_int_gt (scene->words[w].end_ms, scene->words[w].start_ms);
        ck_assert_int_le (scene->words[w].end_ms, duration_ms);
        if (w + 1 < scene->word_count)
            ck_assert_int_le (scene->words[w].end_ms, scene->words[w + 1].start_ms);
    }
    ck_assert_int_lt (scene->words[0].start_ms, 500);
    ck_assert_int_gt (scene->words[11].start_ms, duration_ms / 2);
    media_voice_free (&voice);

    /* artifacts: every WAV, then voice.json, with their sizes */
    ck_assert_int_eq (output.artifact_count, 4);
    for (size_t i = 0; i < output.artifact_count; i++) {
        const pipeline_artifact_t *artifact = &output.artifacts[i];
        char expected_name[32];
        if (i < 3)
            snprintf (expected_name, sizeof expected_name, "scene-%02zu.wav", i + 1);
        else
            snprintf (expected_name, sizeof expected_name, "voice.json");
        ck_assert_str_eq (artifact->name, expected_name);
        ck_assert_str_eq (artifact->path, expected_name);
        ck_assert_str_eq (artifact->type, i < 3 ? "audio/wav" : "application/json");
        struct stat st;
        media_path (path, sizeof path, dir, expected_name);
        ck_assert_int_eq (stat (path, &st), 0);
        ck_assert_int_eq (artifact->size_bytes, st.st_size);
    }
    ck_assert_int_eq (test_dir_count (dir, ".tmp"), 0);
    s_remove_dir (dir);
}
END_TEST

START_TEST (test_words_survive_odd_text)
{
    /* a number read as several words, a dash, non-ASCII, punctuation */
    char dir[64];
    s_make_dir (dir, sizeof dir);
    static const char text[] = "Caf\xC3\xA9 cr\xC3\xA8me: 1,500 people \xE2\x80\x94 "
                               "roughly \"half\" of them \xE2\x80\x94 said yes!";
    s_write_plan (dir, "{\"brief\":{\"topic\":\"x\"}}", text);
    recorder_t rec;
    s_recorder_init (&rec);
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
    media_voice_t voice;
    char path[512];
    media_path (path, sizeof path, dir, "voice.json");
    ck_assert_int_eq (media_voice_load (path, &voice, &error), 0);
    /* joined back, the words give the text: nothing lost, nothing added */
    char joined[512] = "";
    size_t at = 0;
    const media_voice_scene_t *scene = &voice.scenes[0];
    for (int w = 0; w < scene->word_count; w++) {
        at += (size_t) snprintf (joined + at, sizeof joined - at, "%s%s",
                                 w ? " " : "", scene->words[w].text);
        if (w > 0)
            ck_assert_int_gt (scene->words[w].start_ms, scene->words[w - 1].start_ms);
    }
    ck_assert_str_eq (joined, text);
    ck_assert_str_eq (scene->words[0].text, "Caf\xC3\xA9");
    media_voice_free (&voice);
    s_remove_dir (dir);
}
END_TEST

START_TEST (test_unknown_voice_falls_back)
{
    char dir[64];
    s_make_dir (dir, sizeof dir);
    s_write_plan (dir, "{\"brief\":{\"topic\":\"Solar\"},"
                       "\"voiceSpec\":{\"voiceName\":\"xx-klingon-nonexistent\"}}",
                  KNOWN_SENTENCE);
    recorder_t rec;
    s_recorder_init (&rec);
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
    ck_assert_int_eq (rec.warnings, 1);
    ck_assert_str_eq (rec.warning_code, "VoiceNotFound");
    ck_assert (strstr (rec.warning_message, "xx-klingon-nonexistent") != NULL);
    char path[512];
    media_path (path, sizeof path, dir, "scene-02.wav");
    wav_t wav;
    s_read_wav (path, &wav);
    ck_assert_int_gt (wav.count, (size_t) 22050);
    ck_assert (s_rms (&wav) > 500);
    free (wav.samples);
    s_remove_dir (dir);

    /* a language with a voice of its own needs no fallback */
    s_make_dir (dir, sizeof dir);
    s_write_plan (dir, "{\"brief\":{\"topic\":\"Soleil\",\"language\":\"fr-FR\"}}",
                  "Les panneaux solaires transforment la lumi\xC3\xA8re en \xC3\xA9lectricit\xC3\xA9.");
    s_recorder_init (&rec);
    ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
    ck_assert_int_eq (rec.warnings, 0);
    s_remove_dir (dir);
}
END_TEST

START_TEST (test_rate_changes_length)
{
    double seconds[2];
    static const char *specs[] = {
        "{\"brief\":{\"topic\":\"x\"},\"planSpec\":{\"pacing\":\"Chill\"}}",
        "{\"brief\":{\"topic\":\"x\"},\"planSpec\":{\"pacing\":\"Fast\"},"
        "\"voiceSpec\":{\"rate\":1.5,\"pitch\":1.6}}",
    };
    for (int i = 0; i < 2; i++) {
        char dir[64];
        s_make_dir (dir, sizeof dir);
        s_write_plan (dir, specs[i], KNOWN_SENTENCE " " KNOWN_SENTENCE);
        recorder_t rec;
        s_recorder_init (&rec);
        pipeline_output_t output;
        pipeline_error_t error;
        ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
        media_voice_t voice;
        char path[512];
        media_path (path, sizeof path, dir, "voice.json");
        ck_assert_int_eq (media_voice_load (path, &voice, &error), 0);
        seconds[i] = voice.scenes[0].duration_s;
        media_voice_free (&voice);
        s_remove_dir (dir);
    }
    /* 130 words a minute against 190 × 1.5 = 285 */
    ck_assert_msg (seconds[1] < seconds[0] * 0.7, "chill %.2f s, fast %.2f s",
                   seconds[0], seconds[1]);
}
END_TEST

START_TEST (test_cancel_stops_synthesis)
{
    /* long scenes: each takes espeak-ng a good fraction of a second */
    char dir[64];
    s_make_dir (dir, sizeof dir);
    char narration[2000];
    size_t at = 0;
    while (at + sizeof KNOWN_SENTENCE + 1 < sizeof narration)
        at += (size_t) snprintf (narration + at, sizeof narration - at, "%s ",
                                 KNOWN_SENTENCE);
    s_write_plan (dir, "{\"brief\":{\"topic\":\"x\"},\"planSpec\":{\"targetDuration\":600}}",
                  narration);
    recorder_t rec;
    s_recorder_init (&rec);
    rec.stop_after_ms = 150;
    pipeline_output_t output;
    pipeline_error_t error;
    int rc = s_run_tts (dir, &rec, &output, &error);
    int64_t done_ms = pipeline_clock_ms ();
    ck_assert_int_eq (rc, -ECANCELED);
    ck_assert (rec.stopped);
    ck_assert_int_eq (rec.calls_after_stop, 0);
    ck_assert_msg (done_ms - rec.stopped_at_ms < 1000, "stopped %lld ms after the cancel",
                   (long long) (done_ms - rec.stopped_at_ms));
    /* nothing half done is left: no WAV, no voice.json, no temporary file */
    ck_assert_int_eq (test_dir_count (dir, ".wav"), 0);
    ck_assert_int_eq (test_dir_count (dir, ".tmp"), 0);
    ck_assert_int_eq (test_dir_count (dir, "voice.json"), 0);
    ck_assert_int_eq (output.artifact_count, 0);

    /* espeak-ng works again after an aborted synthesis */
    s_write_plan (dir, "{\"brief\":{\"topic\":\"x\"}}", KNOWN_SENTENCE);
    s_recorder_init (&rec);
    ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
    ck_assert_int_eq (test_dir_count (dir, ".wav"), 3);
    s_remove_dir (dir);
}
END_TEST

START_TEST (test_checkpoint_reused)
{
    char dir[64];
    s_make_dir (dir, sizeof dir);
    s_write_plan (dir, "{\"brief\":{\"topic\":\"x\"}}", KNOWN_SENTENCE);
    recorder_t rec;
    s_recorder_init (&rec);
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
    char path[512];
    media_path (path, sizeof path, dir, "scene-01.wav");
    struct stat before;
    ck_assert_int_eq (stat (path, &before), 0);

    s_recorder_init (&rec);
    ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
    struct stat after;
    ck_assert_int_eq (stat (path, &after), 0);
    ck_assert_int_eq (before.st_ino, after.st_ino);   /* not written again */
    ck_assert_int_eq (output.artifact_count, 4);
    ck_assert (fabs (rec.fractions[rec.reports - 1] - 1.0) < 1e-9);

    /* a WAV gone: everything is spoken again */
    unlink (path);
    s_recorder_init (&rec);
    ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
    ck_assert (media_file_exists (path));

    /* no plan: a clear failure */
    media_path (path, sizeof path, dir, "plan.json");
    unlink (path);
    s_recorder_init (&rec);
    ck_assert_int_lt (s_run_tts (dir, &rec, &output, &error), 0);
    ck_assert_str_eq (error.code, "TtsFailed");
    ck_assert (strstr (error.message, "plan") != NULL);
    s_remove_dir (dir);
}
END_TEST

START_TEST (test_many_scenes_leave_room_in_artifacts)
{
    /* 20 WAVs cannot all be listed: later steps' outputs (subtitles, the
       video) must still find room */
    char dir[64];
    s_make_dir (dir, sizeof dir);
    s_write_plan (dir, "{\"brief\":{\"topic\":\"x\"},\"planSpec\":{\"targetDuration\":600}}",
                  "Short and sweet.");
    recorder_t rec;
    s_recorder_init (&rec);
    pipeline_output_t output;
    pipeline_error_t error;
    ck_assert_int_eq (s_run_tts (dir, &rec, &output, &error), 0);
    ck_assert_int_eq (test_dir_count (dir, ".wav"), 20);
    ck_assert_int_le (output.artifact_count, PIPELINE_MAX_ARTIFACTS - 5);
    ck_assert_str_eq (output.artifacts[output.artifact_count - 1].name, "voice.json");
    ck_assert_int_eq (rec.warnings, 0);
    s_remove_dir (dir);
}
END_TEST

typedef struct {
    char dir[64];
    int rc;
    double audio_s;
} job_t;

static void *
s_job (void *arg)
{
    job_t *job = arg;
    recorder_t rec;
    s_recorder_init (&rec);
    pipeline_output_t output;
    pipeline_error_t error;
    job->rc = s_run_tts (job->dir, &rec, &output, &error);
    media_voice_t voice;
    char path[512];
    media_path (path, sizeof path, job->dir, "voice.json");
    if (job->rc == 0 && media_voice_load (path, &voice, &error) == 0) {
        for (int i = 0; i < voice.scene_count; i++)
            job->audio_s += voice.scenes[i].duration_s;
        media_voice_free (&voice);
    }
    return NULL;
}

START_TEST (test_jobs_in_parallel)
{
    /* the worker runs jobs on threads: each gets its own, whole audio */
    enum { JOBS = 3 };
    job_t jobs[JOBS];
    pthread_t threads[JOBS];
    for (int j = 0; j < JOBS; j++) {
        memset (&jobs[j], 0, sizeof jobs[j]);
        s_make_dir (jobs[j].dir, sizeof jobs[j].dir);
        s_write_plan (jobs[j].dir, "{\"brief\":{\"topic\":\"Bees\"},\"planSpec\":"
                                   "{\"targetDuration\":90,\"density\":\"Dense\"}}",
                      NULL);
    }
    int64_t started_ms = pipeline_clock_ms ();
    for (int j = 0; j < JOBS; j++)
        ck_assert_int_eq (pthread_create (&threads[j], NULL, s_job, &jobs[j]), 0);
    for (int j = 0; j < JOBS; j++)
        pthread_join (threads[j], NULL);
    double wall_s = (double) (pipeline_clock_ms () - started_ms) / 1000.0;
    double audio_s = 0;
    for (int j = 0; j < JOBS; j++) {
        ck_assert_int_eq (jobs[j].rc, 0);
        ck_assert (jobs[j].audio_s > 30);
        /* same plan, same voice: the same audio, whatever ran alongside
           (espeak-ng varies a sample count by a fraction of a percent) */
        ck_assert_msg (fabs (jobs[j].audio_s - jobs[0].audio_s) < 0.02 * jobs[0].audio_s,
                       "%.3f s against %.3f s", jobs[j].audio_s, jobs[0].audio_s);
        audio_s += jobs[j].audio_s;
        s_remove_dir (jobs[j].dir);
    }
    fprintf (stderr, "tts: %.1f s of audio in %.2f s (%.0f x real time)\n", audio_s,
             wall_s, audio_s / wall_s);
    ck_assert (audio_s / wall_s > 5);
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("media_tts");
    TCase *tc = tcase_create ("tts");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_known_sentence);
    tcase_add_test (tc, test_words_survive_odd_text);
    tcase_add_test (tc, test_unknown_voice_falls_back);
    tcase_add_test (tc, test_rate_changes_length);
    tcase_add_test (tc, test_cancel_stops_synthesis);
    tcase_add_test (tc, test_checkpoint_reused);
    tcase_add_test (tc, test_many_scenes_leave_room_in_artifacts);
    tcase_add_test (tc, test_jobs_in_parallel);
    suite_add_tcase (s, tc);

    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
