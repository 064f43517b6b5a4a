/*  Unit tests of the compose step (worker/pipeline/compose.c): subtitle
    cues from word timings (readable size and length, in order, never
    overlapping, never past the audio, breaking at sentence ends), the SRT
    and WebVTT texts parsed back, arbitrary input that must not break the
    rules, and the step itself — timeline, files, checkpoint, cancel —
    on hand-made timings and on real narration from espeak-ng. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pipeline/media.h"
#include "pipeline/subtitles.h"
#include "support.h"

/* ------------------------------------------------------------------ */
/*  Fixtures                                                           */

static char s_dir[64];

static void
s_make_dir (void)
{
    test_dir_make (s_dir, sizeof s_dir, "media-compose");
}

static void
s_remove_dir (void)
{
    test_dir_remove (s_dir);
}

static char *
s_read_file (const char *name)
{
    char path[512];
    ck_assert_int_eq (media_path (path, sizeof path, s_dir, name), 0);
    FILE *file = fopen (path, "rb");
    ck_assert_msg (file != NULL, "cannot open %s", path);
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = malloc ((size_t) size + 1);
    ck_assert_int_eq (fread (text, 1, (size_t) size, file), (size_t) size);
    text[size] = '\0';
    fclose (file);
    return text;
}

/*  Characters (code points) of a UTF-8 line. */
static int
s_chars (const char *text, size_t len)
{
    int chars = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char) text[i] & 0xC0) != 0x80)
            chars++;
    return chars;
}

static bool
s_valid_utf8 (const char *text)
{
    const unsigned char *p = (const unsigned char *) text;
    while (*p) {
        int len = *p < 0x80 ? 1 : (*p >= 0xC2 && *p <= 0xDF) ? 2
                  : (*p >= 0xE0 && *p <= 0xEF) ? 3 : (*p >= 0xF0 && *p <= 0xF4) ? 4 : 0;
        if (len == 0)
            return false;
        for (int i = 1; i < len; i++)
            if ((p[i] & 0xC0) != 0x80)
                return false;
        if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F)
            || (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
            return false; /* overlong, surrogate, past U+10FFFF */
        p += len;
    }
    return true;
}

/*  The rules every cue and track keep, whatever the input. */
static void
s_check_track (const subtitle_track_t *track)
{
    for (size_t i = 0; i < track->count; i++) {
        const subtitle_cue_t *cue = &track->cues[i];
        ck_assert_msg (cue->end_ms > cue->start_ms, "cue %zu lasts no time", i);
        ck_assert_msg (cue->end_ms - cue->start_ms <= SUBTITLE_MAX_CUE_MS,
                       "cue %zu lasts %lld ms", i,
                       (long long) (cue->end_ms - cue->start_ms));
        if (i > 0)
            ck_assert_msg (cue->start_ms >= track->cues[i - 1].end_ms,
                           "cue %zu starts before cue %zu ends", i, i - 1);
        ck_assert (cue->text[0]);
        ck_assert (s_valid_utf8 (cue->text));
        int lines = 0;
        const char *line = cue->text;
        while (line) {
            const char *end = strchr (line, '\n');
            size_t len = end ? (size_t) (end - line) : strlen (line);
            ck_assert_msg (len > 0, "cue %zu has an empty line", i);
            ck_assert_msg (s_chars (line, len) <= SUBTITLE_MAX_LINE_CHARS,
                           "cue %zu: line of %d characters: %.*s", i,
                           s_chars (line, len), (int) len, line);
            ck_assert (line[0] != ' ' && line[len - 1] != ' ');
            for (size_t c = 0; c < len; c++)
                ck_assert ((unsigned char) line[c] >= 0x20 && line[c] != 0x7F);
            lines++;
            line = end ? end + 1 : NULL;
        }
        ck_assert_msg (lines <= SUBTITLE_MAX_LINES, "cue %zu has %d lines", i, lines);
    }
}

/*  The cue texts joined by single spaces. */
static void
s_track_words (const subtitle_track_t *track, char *out, size_t size)
{
    size_t at = 0;
    for (size_t i = 0; i < track->count; i++) {
        if (i > 0 && at + 1 < size)
            out[at++] = ' ';
        for (const char *p = track->cues[i].text; *p && at + 1 < size; p++)
            out[at++] = *p == '\n' ? ' ' : *p;
    }
    out[at] = '\0';
}

/*  Words of text with the given times: each `step_ms` after the last,
    lasting `length_ms`. Returns the count. */
static int
s_words_from (const char *text, int step_ms, int length_ms, media_word_t *words,
              int max)
{
    int count = 0;
    const char *p = text;
    while (*p && count < max) {
        while (*p == ' ')
            p++;
        if (!*p)
            break;
        size_t len = strcspn (p, " ");
        media_word_t *word = &words[count];
        memset (word, 0, sizeof *word);
        snprintf (word->text, sizeof word->text, "%.*s", (int) len, p);
        word->start_ms = count * step_ms;
        word->end_ms = word->start_ms + length_ms;
        count++;
        p += len;
    }
    return count;
}

/* ------------------------------------------------------------------ */
/*  A tiny SRT and WebVTT reader                                       */

typedef struct {
    int64_t start_ms, end_ms;
    char text[SUBTITLE_TEXT_SIZE * 2];
} parsed_cue_t;

/*  Parses "HH:MM:SS<sep>mmm" at *p, moving past it. */
static bool
s_parse_time (const char **p, char separator, int64_t *ms)
{
    int hours, minutes, seconds, millis, used = 0;
    char sep;
    if (sscanf (*p, "%d:%2d:%2d%c%3d%n", &hours, &minutes, &seconds, &sep, &millis,
                &used) != 5 || sep != separator || used < 12 || minutes > 59
        || seconds > 59)
        return false;
    *ms = ((int64_t) hours * 3600 + minutes * 60 + seconds) * 1000 + millis;
    *p += used;
    return true;
}

/*  Reads one line at *p into line (without its '\n'). False at the end. */
static bool
s_next_line (const char **p, char *line, size_t size)
{
    if (!**p)
        return false;
    size_t len = strcspn (*p, "\n");
    ck_assert_msg (len < size, "line too long");
    memcpy (line, *p, len);
    line[len] = '\0';
    *p += len;
    if (**p == '\n')
        (*p)++;
    return true;
}

/*  Parses the cues of an SRT (vtt false) or WebVTT (vtt true) text.
    Returns the count, or -1 at the first thing out of format. */
static int
s_parse (const char *text, bool vtt, parsed_cue_t *cues, int max)
{
    const char *p = text;
    char line[1024];
    if (vtt) {
        if (!s_next_line (&p, line, sizeof line) || strcmp (line, "WEBVTT") != 0)
            return -1;
        if (!s_next_line (&p, line, sizeof line) || line[0] != '\0')
            return -1;
    }
    int count = 0;
    while (*p) {
        if (!vtt) {
            if (!s_next_line (&p, line, sizeof line))
                return -1;
            char *end;
            long number = strtol (line, &end, 10);
            if (*end || number != count + 1)
                return -1;
        }
        if (!s_next_line (&p, line, sizeof line) || count >= max)
            return -1;
        parsed_cue_t *cue = &cues[count];
        const char *t = line;
        if (!s_parse_time (&t, vtt ? '.' : ',', &cue->start_ms)
            || strncmp (t, " --> ", 5) != 0)
            return -1;
        t += 5;
        if (!s_parse_time (&t, vtt ? '.' : ',', &cue->end_ms) || *t)
            return -1;
        cue->text[0] = '\0';
        int lines = 0;
        while (s_next_line (&p, line, sizeof line) && line[0]) {
            size_t at = strlen (cue->text);
            snprintf (cue->text + at, sizeof cue->text - at, "%s%s", lines ? "\n" : "", line);
            lines++;
        }
        if (lines == 0)
            return -1;
        count++;
    }
    return count;
}

/*  Replaces &amp; &lt; &gt; by their characters; false on any other '&'
    or on a raw '<' or '>'. */
static bool
s_unescape (char *text)
{
    char *out = text;
    for (char *p = text; *p;) {
        if (*p == '<' || *p == '>')
            return false;
        if (*p != '&') {
            *out++ = *p++;
            continue;
        }
        if (strncmp (p, "&amp;", 5) == 0) {
            *out++ = '&';
            p += 5;
        }
        else if (strncmp (p, "&lt;", 4) == 0) {
            *out++ = '<';
            p += 4;
        }
        else if (strncmp (p, "&gt;", 4) == 0) {
            *out++ = '>';
            p += 4;
        }
        else
            return false;
    }
    *out = '\0';
    return true;
}

/*  Both texts of track parse back to exactly its cues. */
static void
s_check_round_trip (const subtitle_track_t *track)
{
    static parsed_cue_t parsed[4096];
    for (int vtt = 0; vtt < 2; vtt++) {
        char *text = NULL;
        size_t len = 0;
        int rc = vtt ? subtitle_format_vtt (track, &text, &len)
                     : subtitle_format_srt (track, &text, &len);
        ck_assert_int_eq (rc, 0);
        ck_assert_int_eq (len, strlen (text));
        int count = s_parse (text, vtt, parsed, 4096);
        ck_assert_msg (count == (int) track->count, "%s: parsed %d of %zu cues",
                       vtt ? "VTT" : "SRT", count, track->count);
        for (int i = 0; i < count; i++) {
            ck_assert_int_eq (parsed[i].start_ms, track->cues[i].start_ms);
            ck_assert_int_eq (parsed[i].end_ms, track->cues[i].end_ms);
            if (vtt)
                ck_assert (s_unescape (parsed[i].text));
            ck_assert_str_eq (parsed[i].text, track->cues[i].text);
        }
        free (text);
    }
}

/* ------------------------------------------------------------------ */
/*  Cues                                                               */

START_TEST (test_cues_from_words)
{
    static const char text[] =
        "Hi there! Today we are exploring how solar panels turn sunlight into "
        "electricity, explained for curious beginners. There are only a handful "
        "of ideas to hold on to. We will keep it simple and take one idea at a "
        "time, and each part builds on the one before.";
    media_word_t words[128];
    int count = s_words_from (text, 350, 300, words, 128);
    subtitle_track_t track;
    subtitle_track_init (&track);
    int64_t offset_ms = 12345;
    int64_t audio_ms = words[count - 1].end_ms + 200;
    ck_assert_int_eq (subtitle_track_add_words (&track, words, count, offset_ms, audio_ms), 0);
    s_check_track (&track);
    ck_assert_int_ge (track.count, 4);
    ck_assert_int_eq (track.cues[0].start_ms, offset_ms);
    ck_assert (track.cues[track.count - 1].end_ms <= offset_ms + audio_ms);
    /* a cue ends at its last word's end */
    ck_assert_int_eq (track.cues[track.count - 1].end_ms,
                      offset_ms + words[count - 1].end_ms);
    /* nothing lost, nothing added */
    char joined[1024];
    s_track_words (&track, joined, sizeof joined);
    ck_assert_str_eq (joined, text);
    /* in this text every cue can end at a full stop or a comma, and does */
    for (size_t i = 0; i < track.count; i++) {
        size_t len = strlen (track.cues[i].text);
        ck_assert_msg (strchr (".!?,", track.cues[i].text[len - 1]),
                       "cue %zu ends mid-sentence: %s", i + 1, track.cues[i].text);
    }
    s_check_round_trip (&track);
    subtitle_track_free (&track);

    /* a line breaks after a sentence end rather than mid-sentence */
    count = s_words_from ("It works. Then the rest of this line follows on.", 300, 250,
                          words, 128);
    ck_assert_int_eq (subtitle_track_add_words (&track, words, count, 0, 10000), 0);
    ck_assert_int_eq (track.count, 1);
    ck_assert_str_eq (track.cues[0].text, "It works.\nThen the rest of this line follows on.");
    s_check_round_trip (&track);
    subtitle_track_free (&track);
}
END_TEST

START_TEST (test_cues_prefer_sentence_end)
{
    /* "First sentence here." fits with more, but the cue stops there */
    media_word_t words[32];
    int count = s_words_from ("This is the first sentence here. And then a second one "
                              "follows that runs on for quite a while longer than that.",
                              300, 250, words, 32);
    subtitle_track_t track;
    subtitle_track_init (&track);
    ck_assert_int_eq (subtitle_track_add_words (&track, words, count, 0, 100000), 0);
    s_check_track (&track);
    ck_assert_str_eq (track.cues[0].text, "This is the first sentence here.");
    subtitle_track_free (&track);
}
END_TEST

START_TEST (test_cue_limits)
{
    subtitle_track_t track;
    subtitle_track_init (&track);
    /* slow words: a cue may not last more than 7 s */
    media_word_t words[64];
    int count = s_words_from ("one two three four five six seven eight nine ten", 1500,
                              1400, words, 64);
    ck_assert_int_eq (subtitle_track_add_words (&track, words, count, 0, 20000), 0);
    s_check_track (&track);
    ck_assert_int_ge (track.count, 3);
    /* a word longer than a line fills a cue alone, broken inside */
    size_t first_count = track.count;
    count = s_words_from ("a Pneumonoultramicroscopicsilicovolcanoconiosis-and-more-words-here b",
                          400, 300, words, 64);
    ck_assert_int_eq (subtitle_track_add_words (&track, words, count, 30000, 5000), 0);
    s_check_track (&track);
    ck_assert_int_eq (track.count, first_count + 3);
    ck_assert (strchr (track.cues[first_count + 1].text, '\n') != NULL);
    /* no time left past the audio: the cues end with it */
    count = s_words_from ("late words near the very end of the audio", 500, 450, words, 64);
    ck_assert_int_eq (subtitle_track_add_words (&track, words, count, 40000, 2000), 0);
    s_check_track (&track);
    ck_assert (track.cues[track.count - 1].end_ms <= 42000);
    /* UTF-8: 42 characters, not bytes */
    size_t before = track.count;
    count = s_words_from ("\xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9 "
                          "\xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9 "
                          "\xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9 "
                          "\xC3\xA9t\xC3\xA9 \xC3\xA9t\xC3\xA9",
                          100, 90, words, 64);
    ck_assert_int_eq (subtitle_track_add_words (&track, words, count, 50000, 5000), 0);
    s_check_track (&track);
    ck_assert_int_eq (track.count, before + 1);   /* 43 characters: two lines */
    ck_assert (strchr (track.cues[before].text, '\n') != NULL);
    s_check_round_trip (&track);
    subtitle_track_free (&track);
}
END_TEST

START_TEST (test_vtt_escapes_and_srt_times)
{
    subtitle_track_t track;
    subtitle_track_init (&track);
    media_word_t words[8];
    int count = s_words_from ("Fish <b>&</b> chips --> yes", 300, 250, words, 8);
    ck_assert_int_eq (subtitle_track_add_words (&track, words, count, 3723004, 5000), 0);
    char *srt, *vtt;
    size_t srt_len, vtt_len;
    ck_assert_int_eq (subtitle_format_srt (&track, &srt, &srt_len), 0);
    ck_assert_int_eq (subtitle_format_vtt (&track, &vtt, &vtt_len), 0);
    ck_assert_str_eq (srt, "1\n01:02:03,004 --> 01:02:04,454\n"
                           "Fish <b>&</b> chips \xe2\x86\x92 yes\n\n");
    ck_assert_str_eq (vtt, "WEBVTT\n\n01:02:03.004 --> 01:02:04.454\n"
                           "Fish &lt;b&gt;&amp;&lt;/b&gt; chips \xe2\x86\x92 yes\n\n");
    free (srt);
    free (vtt);
    s_check_round_trip (&track);
    subtitle_track_free (&track);

    /* an empty track is still a valid file */
    ck_assert_int_eq (subtitle_format_vtt (&track, &vtt, &vtt_len), 0);
    ck_assert_str_eq (vtt, "WEBVTT\n\n");
    free (vtt);
    ck_assert_int_eq (subtitle_format_srt (&track, &srt, &srt_len), 0);
    ck_assert_str_eq (srt, "");
    free (srt);
}
END_TEST

/*  Deterministic pseudo-random numbers for the arbitrary-input test. */
static uint32_t
s_random (uint64_t *state)
{
    *state = *state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t) (*state >> 33);
}

START_TEST (test_arbitrary_input_keeps_the_rules)
{
    uint64_t state = 42;
    media_word_t *words = malloc (400 * sizeof *words);
    /* every ck_assert costs Check a write to its log: 300 rounds keep the
       suite to a few seconds */
    for (int round = 0; round < 300; round++) {
        int count = (int) (s_random (&state) % 400);
        int64_t clock_ms = (int64_t) (s_random (&state) % 3000) - 1000;
        for (int w = 0; w < count; w++) {
            media_word_t *word = &words[w];
            int len = (int) (s_random (&state) % sizeof word->text);
            for (int c = 0; c < len; c++) {
                uint32_t r = s_random (&state) % 100;
                word->text[c] = r < 70 ? (char) ('a' + r % 26)
                                : r < 80 ? ' '
                                : r < 90 ? ".,!?<>&\n\t-"[r % 11]
                                         : (char) (s_random (&state) & 0xFF);
            }
            /* now and then the field is full and unterminated */
            if (len < (int) sizeof word->text)
                word->text[len] = '\0';
            clock_ms += (int64_t) (s_random (&state) % 900) - 150;
            word->start_ms = (int) clock_ms;
            word->end_ms = (int) (clock_ms + (int64_t) (s_random (&state) % 3000) - 500);
        }
        subtitle_track_t track;
        subtitle_track_init (&track);
        int64_t offset_ms = s_random (&state) % 100000;
        int64_t audio_ms = s_random (&state) % 200000;
        ck_assert_int_eq (subtitle_track_add_words (&track, words, count, offset_ms,
                                                    audio_ms), 0);
        /* and a second scene after it */
        ck_assert_int_eq (subtitle_track_add_words (&track, words, count / 2,
                                                    offset_ms + audio_ms / 2, audio_ms), 0);
        s_check_track (&track);
        for (size_t i = 0; i < track.count; i++)
            ck_assert (track.cues[i].start_ms >= offset_ms
                       && track.cues[i].end_ms <= offset_ms + audio_ms + audio_ms / 2);
        if (round % 10 == 0)
            s_check_round_trip (&track);
        subtitle_track_free (&track);
    }
    free (words);
    subtitle_track_t track;
    subtitle_track_init (&track);
    ck_assert_int_eq (subtitle_track_add_words (&track, NULL, 0, 0, 1000), 0);
    ck_assert_int_eq (subtitle_track_add_words (&track, NULL, 3, 0, 1000), -EINVAL);
    ck_assert_int_eq (subtitle_track_add_words (&track, NULL, -1, 0, 1000), -EINVAL);
    ck_assert_int_eq (track.count, 0);
}
END_TEST

/* ------------------------------------------------------------------ */
/*  The step                                                           */

typedef struct {
    int reports;
    double fractions[16];
    int calls;
    int stop_at_call;           /* 0: never */
} recorder_t;

static int
s_record (void *ctx, step_t step, double fraction, const char *message, int eta_s)
{
    recorder_t *rec = ctx;
    (void) eta_s;
    rec->calls++;
    if (rec->stop_at_call && rec->calls >= rec->stop_at_call)
        return -ECANCELED;
    if (message && step == STEP_COMPOSE && rec->reports < 16)
        rec->fractions[rec->reports++] = fraction;
    return 0;
}

static int
s_run_step (pipeline_step_fn step, recorder_t *rec, pipeline_output_t *output,
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
        .artifact_dir = s_dir,
        .options = &options,
    };
    memset (error, 0, sizeof *error);
    return step (&input, output, s_record, rec, error);
}

/*  plan.json from spec and voice.json with words at a steady pace, for
    each scene's narration. */
static void
s_write_inputs (const char *spec, media_plan_t *plan, media_voice_t *voice)
{
    pipeline_error_t error;
    ck_assert_int_eq (media_plan_build (spec, strlen (spec), plan, &error), 0);
    char path[512];
    media_path (path, sizeof path, s_dir, "plan.json");
    ck_assert_int_eq (media_plan_save (plan, path), 0);
    memset (voice, 0, sizeof *voice);
    voice->sample_rate = 22050;
    voice->scene_count = plan->scene_count;
    for (int i = 0; i < plan->scene_count; i++) {
        media_voice_scene_t *scene = &voice->scenes[i];
        scene->words = calloc (512, sizeof *scene->words);
        scene->word_count = s_words_from (plan->scenes[i].narration, 330 + 10 * i, 300,
                                          scene->words, 512);
        scene->duration_s = (scene->words[scene->word_count - 1].end_ms + 250) / 1000.0;
    }
    media_path (path, sizeof path, s_dir, "voice.json");
    ck_assert_int_eq (media_voice_save (voice, path), 0);
}

/*  What the step wrote agrees with the plan and the narration. */
static void
s_check_outputs (const media_plan_t *plan, const media_voice_t *voice,
                 const pipeline_output_t *output)
{
    media_timeline_t timeline;
    pipeline_error_t error;
    char path[512];
    media_path (path, sizeof path, s_dir, "timeline.json");
    ck_assert_int_eq (media_timeline_load (path, &timeline, &error), 0);
    ck_assert_int_eq (timeline.width, plan->width);
    ck_assert_int_eq (timeline.height, plan->height);
    ck_assert_int_eq (timeline.fps, plan->fps);
    ck_assert (fabs (timeline.crossfade_s - 0.5) < 1e-9);
    ck_assert_int_eq (timeline.clip_count, plan->scene_count);
    double start_s = 0;
    for (int i = 0; i < timeline.clip_count; i++) {
        const media_clip_t *clip = &timeline.clips[i];
        ck_assert (fabs (clip->start_s - start_s) < 1e-6);
        ck_assert (fabs (clip->audio_s - voice->scenes[i].duration_s) < 1e-6);
        ck_assert (fabs (clip->duration_s - clip->audio_s - plan->voice_pause_s) < 1e-6);
        start_s += clip->duration_s;
    }
    ck_assert (fabs (timeline.total_s - start_s) < 1e-6);
    ck_assert (fabs (output->duration_s - timeline.total_s) < 1e-6);
    ck_assert_str_eq (output->subtitle_path, "video.srt");

    /* the two files say the same, and every cue is within a scene's audio */
    static parsed_cue_t srt_cues[2048], vtt_cues[2048];
    char *srt = s_read_file ("video.srt");
    char *vtt = s_read_file ("video.vtt");
    int count = s_parse (srt, false, srt_cues, 2048);
    ck_assert_int_gt (count, 0);
    ck_assert_int_eq (s_parse (vtt, true, vtt_cues, 2048), count);
    /* every word of the narration shows, once */
    size_t words_total = 0, words_seen = 0;
    for (int i = 0; i < voice->scene_count; i++)
        for (int w = 0; w < voice->scenes[i].word_count; w++)
            for (const char *p = voice->scenes[i].words[w].text; *p; p++)
                if (*p != ' ' && (p == voice->scenes[i].words[w].text || p[-1] == ' '))
                    words_total++;
    for (int c = 0; c < count; c++) {
        ck_assert (s_unescape (vtt_cues[c].text));
        ck_assert_str_eq (vtt_cues[c].text, srt_cues[c].text);
        ck_assert_int_eq (vtt_cues[c].start_ms, srt_cues[c].start_ms);
        ck_assert_int_eq (vtt_cues[c].end_ms, srt_cues[c].end_ms);
        ck_assert (srt_cues[c].end_ms > srt_cues[c].start_ms);
        ck_assert (srt_cues[c].end_ms - srt_cues[c].start_ms <= 7000);
        if (c > 0)
            ck_assert (srt_cues[c].start_ms >= srt_cues[c - 1].end_ms);
        bool inside = false;
        for (int i = 0; i < timeline.clip_count && !inside; i++) {
            double lo = timeline.clips[i].start_s * 1000;
            double hi = lo + timeline.clips[i].audio_s * 1000;
            inside = srt_cues[c].start_ms >= lo - 1 && srt_cues[c].end_ms <= hi + 1;
        }
        ck_assert_msg (inside, "cue %d is not within a scene's narration", c + 1);
        int lines = 1;
        const char *line = srt_cues[c].text;
        for (const char *p = line;; p++) {
            if (*p == '\n' || !*p) {
                ck_assert (s_chars (line, (size_t) (p - line)) <= 42);
                if (!*p)
                    break;
                lines++;
                line = p + 1;
            }
            else if (*p == ' ' && (p == line || p[1] == '\n' || !p[1]))
                ck_abort_msg ("space at a line's edge");
        }
        ck_assert_int_le (lines, 2);
        for (const char *p = srt_cues[c].text; *p;) {
            while (*p == ' ' || *p == '\n')
                p++;
            if (*p)
                words_seen++;
            while (*p && *p != ' ' && *p != '\n')
                p++;
        }
    }
    ck_assert_int_eq (words_seen, words_total);
    free (srt);
    free (vtt);

    /* the artifacts */
    static const char *names[] = { "timeline.json", "video.srt", "video.vtt" };
    static const char *types[] = { "application/json", "application/x-subrip", "text/vtt" };
    ck_assert_int_eq (output->artifact_count, 3);
    for (int i = 0; i < 3; i++) {
        ck_assert_str_eq (output->artifacts[i].name, names[i]);
        ck_assert_str_eq (output->artifacts[i].path, names[i]);
        ck_assert_str_eq (output->artifacts[i].type, types[i]);
        struct stat st;
        media_path (path, sizeof path, s_dir, names[i]);
        ck_assert_int_eq (stat (path, &st), 0);
        ck_assert_int_eq (output->artifacts[i].size_bytes, st.st_size);
    }
}

START_TEST (test_step_writes_timeline_and_subtitles)
{
    s_make_dir ();
    media_plan_t plan;
    media_voice_t voice;
    s_write_inputs ("{\"brief\":{\"topic\":\"Fish & chips <the history>\"},"
                    "\"planSpec\":{\"targetDuration\":90,\"density\":\"Dense\"},"
                    "\"voiceSpec\":{\"pause\":0.8},\"renderSpec\":{\"res\":\"1080p\"}}",
                    &plan, &voice);
    recorder_t rec = { 0 };
    pipeline_output_t output;
    memset (&output, 0, sizeof output);
    pipeline_error_t error;
    int rc = s_run_step (media_step_compose, &rec, &output, &error);
    ck_assert_msg (rc == 0, "%s %s", error.code, error.message);
    ck_assert (fabs (rec.fractions[rec.reports - 1] - 1.0) < 1e-9);
    for (int i = 1; i < rec.reports; i++)
        ck_assert (rec.fractions[i] >= rec.fractions[i - 1]);
    s_check_outputs (&plan, &voice, &output);
    ck_assert_int_eq (test_dir_count (s_dir, ".tmp"), 0);

    /* the topic's '&' and '<' are escaped in the VTT only */
    char *vtt = s_read_file ("video.vtt");
    ck_assert (strstr (vtt, "&amp;") != NULL && strstr (vtt, "&lt;the") != NULL);
    free (vtt);

    /* a second attempt keeps what it finds */
    char path[512];
    media_path (path, sizeof path, s_dir, "video.vtt");
    struct stat before, after;
    ck_assert_int_eq (stat (path, &before), 0);
    memset (&output, 0, sizeof output);
    memset (&rec, 0, sizeof rec);
    ck_assert_int_eq (s_run_step (media_step_compose, &rec, &output, &error), 0);
    ck_assert_int_eq (stat (path, &after), 0);
    ck_assert_int_eq (before.st_ino, after.st_ino);
    ck_assert_int_eq (output.artifact_count, 3);
    media_voice_free (&voice);
    s_remove_dir ();
}
END_TEST

START_TEST (test_step_cancel_and_failures)
{
    s_make_dir ();
    recorder_t rec = { 0 };
    pipeline_output_t output;
    memset (&output, 0, sizeof output);
    pipeline_error_t error;
    /* nothing to compose from */
    ck_assert_int_lt (s_run_step (media_step_compose, &rec, &output, &error), 0);
    ck_assert_str_eq (error.code, "ComposeFailed");

    media_plan_t plan;
    media_voice_t voice;
    s_write_inputs ("{\"brief\":{\"topic\":\"Tides\"}}", &plan, &voice);
    for (int stop_at = 1; stop_at <= 6; stop_at++) {
        memset (&rec, 0, sizeof rec);
        rec.stop_at_call = stop_at;
        memset (&output, 0, sizeof output);
        int rc = s_run_step (media_step_compose, &rec, &output, &error);
        if (rc == 0)
            break;   /* past the last question */
        ck_assert_int_eq (rc, -ECANCELED);
        ck_assert_int_eq (test_dir_count (s_dir, ".srt"), 0);
        ck_assert_int_eq (test_dir_count (s_dir, ".vtt"), 0);
        ck_assert_int_eq (test_dir_count (s_dir, "timeline.json"), 0);
        ck_assert_int_eq (test_dir_count (s_dir, ".tmp"), 0);
        ck_assert_int_eq (output.artifact_count, 0);
    }

    /* narration for fewer scenes than the plan has */
    voice.scene_count = 2;
    char path[512];
    media_path (path, sizeof path, s_dir, "voice.json");
    ck_assert_int_eq (media_voice_save (&voice, path), 0);
    voice.scene_count = plan.scene_count;
    media_voice_free (&voice);
    static const char *outputs[] = { "timeline.json", "video.srt", "video.vtt" };
    for (int i = 0; i < 3; i++) {
        media_path (path, sizeof path, s_dir, outputs[i]);
        unlink (path);
    }
    memset (&rec, 0, sizeof rec);
    ck_assert_int_lt (s_run_step (media_step_compose, &rec, &output, &error), 0);
    ck_assert_str_eq (error.code, "ComposeFailed");
    ck_assert (strstr (error.message, "scenes") != NULL);
    s_remove_dir ();
}
END_TEST

START_TEST (test_plan_tts_compose)
{
    /* the three steps in a row, with real speech */
    s_make_dir ();
    static const char spec[] =
        "{\"brief\":{\"topic\":\"How solar panels turn sunlight into electricity\","
        "\"audience\":\"Curious beginners\",\"goal\":\"Explain the idea in plain words\"},"
        "\"planSpec\":{\"targetDuration\":60,\"pacing\":\"Fast\",\"density\":\"Dense\"}}";
    pipeline_options_t options;
    memset (&options, 0, sizeof options);
    pipeline_input_t input = { .job_id = "01HZZZZZZZZZZZZZZZZZZZZZZZ", .attempt = 1,
                               .spec = spec, .spec_len = sizeof spec - 1,
                               .artifact_dir = s_dir, .options = &options };
    pipeline_output_t output;
    memset (&output, 0, sizeof output);
    pipeline_error_t error;
    recorder_t rec = { 0 };
    ck_assert_int_eq (media_step_plan (&input, &output, s_record, &rec, &error), 0);
    ck_assert_int_eq (media_step_tts (&input, &output, s_record, &rec, &error), 0);
    size_t before = output.artifact_count;
    ck_assert_int_eq (before, 1 + 8 + 1);

    media_plan_t plan;
    media_voice_t voice;
    char path[512];
    media_path (path, sizeof path, s_dir, "plan.json");
    ck_assert_int_eq (media_plan_load (path, &plan, &error), 0);
    media_path (path, sizeof path, s_dir, "voice.json");
    ck_assert_int_eq (media_voice_load (path, &voice, &error), 0);

    pipeline_output_t compose_output;
    memset (&compose_output, 0, sizeof compose_output);
    memset (&rec, 0, sizeof rec);
    ck_assert_int_eq (s_run_step (media_step_compose, &rec, &compose_output, &error), 0);
    s_check_outputs (&plan, &voice, &compose_output);
    /* a 60 s brief gives a video of about that length */
    ck_assert_msg (compose_output.duration_s > 40 && compose_output.duration_s < 90,
                   "%.1f s", compose_output.duration_s);
    media_voice_free (&voice);
    s_remove_dir ();
}
END_TEST

int
main (void)
{
    Suite *s = suite_create ("media_compose");
    TCase *tc = tcase_create ("cues");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_cues_from_words);
    tcase_add_test (tc, test_cues_prefer_sentence_end);
    tcase_add_test (tc, test_cue_limits);
    tcase_add_test (tc, test_vtt_escapes_and_srt_times);
    tcase_add_test (tc, test_arbitrary_input_keeps_the_rules);
    suite_add_tcase (s, tc);

    tc = tcase_create ("step");
    tcase_set_timeout (tc, 60);
    tcase_add_test (tc, test_step_writes_timeline_and_subtitles);
    tcase_add_test (tc, test_step_cancel_and_failures);
    tcase_add_test (tc, test_plan_tts_compose);
    suite_add_tcase (s, tc);

    SRunner *sr = srunner_create (s);
    srunner_run_all (sr, CK_NORMAL);
    int failed = srunner_ntests_failed (sr);
    srunner_free (sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
