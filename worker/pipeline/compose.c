/*  compose — the video's timeline (each scene lasts its narration plus a
    pause) and its subtitles, cut from the narration's word timings into
    short readable cues and written as SubRip and WebVTT. The cue building
    and the two writers are pure functions (subtitles.h). */
#include "media.h"
#include "subtitles.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COMPOSE_CROSSFADE_S 0.5
/*  A cue ends early at a sentence end when it keeps at least this share
    (in fifths) of the text it could hold; at a comma, colon or semicolon
    when it keeps this much. */
#define COMPOSE_SENTENCE_SHARE 2
#define COMPOSE_CLAUSE_SHARE 3
/*  A line break after a sentence end (or a comma) is worth this many
    characters of imbalance between the two lines. */
#define COMPOSE_SENTENCE_BONUS 20
#define COMPOSE_CLAUSE_BONUS 8

/* ------------------------------------------------------------------ */
/*  Cues                                                               */

void
subtitle_track_init (subtitle_track_t *track)
{
    memset (track, 0, sizeof *track);
}

void
subtitle_track_free (subtitle_track_t *track)
{
    free (track->cues);
    subtitle_track_init (track);
}

/*  A word made safe to show: valid UTF-8, no control bytes, no runs of
    spaces, with its length in characters. */
typedef struct {
    int64_t start_ms;
    int64_t end_ms;
    char text[sizeof ((media_word_t *) 0)->text];
    int chars;
    bool sentence_end;
    bool clause_end;
} s_word_t;

/*  Length of the UTF-8 sequence at p (at most `left` bytes), or 0 when it
    is not a well-formed one. */
static int
s_utf8_sequence (const unsigned char *p, size_t left)
{
    int len;
    if (p[0] < 0x80)
        return 1;
    else if (p[0] >= 0xC2 && p[0] <= 0xDF)
        len = 2;
    else if (p[0] >= 0xE0 && p[0] <= 0xEF)
        len = 3;
    else if (p[0] >= 0xF0 && p[0] <= 0xF4)
        len = 4;
    else
        return 0;
    if ((size_t) len > left)
        return 0;
    for (int i = 1; i < len; i++)
        if ((p[i] & 0xC0) != 0x80)
            return 0;
    /* overlong forms, UTF-16 surrogates and code points past U+10FFFF */
    if ((p[0] == 0xE0 && p[1] < 0xA0) || (p[0] == 0xED && p[1] > 0x9F)
        || (p[0] == 0xF0 && p[1] < 0x90) || (p[0] == 0xF4 && p[1] > 0x8F))
        return 0;
    return len;
}

/*  Cleans the text of word into out; returns false when nothing is left. */
static bool
s_word_clean (const media_word_t *word, s_word_t *out)
{
    const unsigned char *src = (const unsigned char *) word->text;
    size_t src_len = strnlen (word->text, sizeof word->text);
    size_t len = 0;
    int chars = 0;
    bool space = false;
    for (size_t i = 0; i < src_len;) {
        int seq = s_utf8_sequence (src + i, src_len - i);
        if (seq == 1 && (src[i] <= 0x20 || src[i] == 0x7F)) {
            space = len > 0;
            i++;
            continue;
        }
        size_t need = (size_t) (seq ? seq : 1) + (space ? 1 : 0);
        if (len + need >= sizeof out->text)
            break;
        if (space) {
            out->text[len++] = ' ';
            chars++;
            space = false;
        }
        if (seq == 0) {
            out->text[len++] = '?';
            i++;
        }
        else {
            memcpy (out->text + len, src + i, (size_t) seq);
            len += (size_t) seq;
            i += (size_t) seq;
        }
        chars++;
    }
    out->text[len] = '\0';
    /* "-->" in a cue would read as a timing line in SRT: it becomes the
       arrow character, three bytes for three, one character for three */
    for (char *arrow = out->text; (arrow = strstr (arrow, "-->")); arrow += 3) {
        memcpy (arrow, "\xe2\x86\x92", 3);
        chars -= 2;
    }
    out->chars = chars;
    if (len == 0)
        return false;
    /* the last character before closing quotes and brackets */
    size_t last = len;
    while (last > 0 && strchr ("\"')]", out->text[last - 1]))
        last--;
    char mark = last > 0 ? out->text[last - 1] : '\0';
    out->sentence_end = mark == '.' || mark == '!' || mark == '?';
    out->clause_end = mark == ',' || mark == ';' || mark == ':';
    return true;
}

/*  Byte offset of the character number `chars` of text. */
static size_t
s_char_offset (const char *text, int chars)
{
    size_t offset = 0;
    while (chars > 0 && text[offset]) {
        offset++;
        while (((unsigned char) text[offset] & 0xC0) == 0x80)
            offset++;
        chars--;
    }
    return offset;
}

/*  Characters of words[first..last] joined by spaces. */
static int
s_span_chars (const s_word_t *words, int first, int last)
{
    int chars = 0;
    for (int i = first; i <= last; i++)
        chars += words[i].chars + (i > first ? 1 : 0);
    return chars;
}

/*  True when words[first..last] fit in the lines of a cue, broken only
    between words (a single word longer than a line may fill a cue alone,
    broken inside itself). */
static bool
s_span_fits (const s_word_t *words, int first, int last)
{
    if (first == last)
        return words[first].chars <= SUBTITLE_MAX_LINES * SUBTITLE_MAX_LINE_CHARS;
    int lines = 1;
    int line_chars = 0;
    for (int i = first; i <= last; i++) {
        if (words[i].chars > SUBTITLE_MAX_LINE_CHARS)
            return false;
        if (line_chars == 0)
            line_chars = words[i].chars;
        else if (line_chars + 1 + words[i].chars <= SUBTITLE_MAX_LINE_CHARS)
            line_chars += 1 + words[i].chars;
        else {
            lines++;
            line_chars = words[i].chars;
        }
    }
    return lines <= SUBTITLE_MAX_LINES;
}

/*  Appends len bytes to text[size] at *at, keeping room for the NUL. */
static void
s_put (char *text, size_t size, size_t *at, const char *bytes, size_t len)
{
    if (*at + len >= size)
        len = size - 1 - *at;
    memcpy (text + *at, bytes, len);
    *at += len;
    text[*at] = '\0';
}

/*  Writes the cue text of a single word longer than a line: broken at
    the last space that leaves both lines short enough, else after
    SUBTITLE_MAX_LINE_CHARS characters (then it has no space near there). */
static void
s_wrap_long_word (const s_word_t *word, char *text, size_t size)
{
    size_t at = 0;
    text[0] = '\0';
    int lowest = word->chars - SUBTITLE_MAX_LINE_CHARS - 1;
    if (lowest < 1)
        lowest = 1;
    int cut = SUBTITLE_MAX_LINE_CHARS;
    for (int k = SUBTITLE_MAX_LINE_CHARS; k >= lowest; k--) {
        if (word->text[s_char_offset (word->text, k)] == ' ') {
            cut = k;
            break;
        }
    }
    size_t cut_at = s_char_offset (word->text, cut);
    size_t rest_at = word->text[cut_at] == ' ' ? cut_at + 1 : cut_at;
    s_put (text, size, &at, word->text, cut_at);
    s_put (text, size, &at, "\n", 1);
    s_put (text, size, &at, word->text + rest_at, strlen (word->text + rest_at));
}

/*  Writes the cue text of words[first..last] (which s_span_fits): one
    line when it fits, else two lines broken where they are most even,
    favouring a break after a sentence end, then after a comma. */
static void
s_span_text (const s_word_t *words, int first, int last, char *text, size_t size)
{
    if (first == last && words[first].chars > SUBTITLE_MAX_LINE_CHARS) {
        s_wrap_long_word (&words[first], text, size);
        return;
    }
    size_t at = 0;
    text[0] = '\0';
    int total = s_span_chars (words, first, last);
    int break_before = last + 1;   /* no break */
    if (total > SUBTITLE_MAX_LINE_CHARS) {
        int best = 0;
        for (int k = first + 1; k <= last; k++) {
            int top = s_span_chars (words, first, k - 1);
            int bottom = s_span_chars (words, k, last);
            if (top > SUBTITLE_MAX_LINE_CHARS || bottom > SUBTITLE_MAX_LINE_CHARS)
                continue;
            int score = top > bottom ? top : bottom;
            if (words[k - 1].sentence_end)
                score -= COMPOSE_SENTENCE_BONUS;
            else if (words[k - 1].clause_end)
                score -= COMPOSE_CLAUSE_BONUS;
            if (break_before > last || score < best) {
                best = score;
                break_before = k;
            }
        }
    }
    for (int i = first; i <= last; i++) {
        if (i > first)
            s_put (text, size, &at, i == break_before ? "\n" : " ", 1);
        s_put (text, size, &at, words[i].text, strlen (words[i].text));
    }
}

static int
s_track_push (subtitle_track_t *track, int64_t start_ms, int64_t end_ms,
              const char *text)
{
    if (track->count == track->capacity) {
        size_t capacity = track->capacity ? track->capacity * 2 : 32;
        subtitle_cue_t *cues = realloc (track->cues, capacity * sizeof *cues);
        if (!cues)
            return -ENOMEM;
        track->cues = cues;
        track->capacity = capacity;
    }
    subtitle_cue_t *cue = &track->cues[track->count++];
    cue->start_ms = start_ms;
    cue->end_ms = end_ms;
    snprintf (cue->text, sizeof cue->text, "%s", text);
    return 0;
}

static int64_t
s_clamp_ms (int64_t value, int64_t lo, int64_t hi)
{
    return value < lo ? lo : value > hi ? hi : value;
}

/*  Where the cue that starts at words[first] should end: as many words as
    fit and last at most the cue limit, then back to a sentence end (or a
    clause end) when one keeps enough of the text. */
static int
s_cue_last_word (const s_word_t *words, int count, int first)
{
    int last = first;
    while (last + 1 < count && s_span_fits (words, first, last + 1)
           && words[last + 1].end_ms - words[first].start_ms <= SUBTITLE_MAX_CUE_MS)
        last++;
    if (last + 1 == count || words[last].sentence_end)
        return last;
    int full = s_span_chars (words, first, last);
    for (int k = last - 1; k >= first; k--)
        if (words[k].sentence_end
            && s_span_chars (words, first, k) * 5 >= full * COMPOSE_SENTENCE_SHARE)
            return k;
    for (int k = last - 1; k >= first; k--)
        if (words[k].clause_end
            && s_span_chars (words, first, k) * 5 >= full * COMPOSE_CLAUSE_SHARE)
            return k;
    return last;
}

int
subtitle_track_add_words (subtitle_track_t *track, const media_word_t *words,
                          int word_count, int64_t offset_ms, int64_t audio_ms)
{
    if (word_count < 0 || (word_count > 0 && !words))
        return -EINVAL;
    if (word_count == 0)
        return 0;
    if (audio_ms < 0)
        audio_ms = 0;
    s_word_t *clean = malloc ((size_t) word_count * sizeof *clean);
    if (!clean)
        return -ENOMEM;

    /* times within the audio, starts never going back */
    int count = 0;
    int64_t previous_start_ms = 0;
    for (int i = 0; i < word_count; i++) {
        s_word_t *word = &clean[count];
        if (!s_word_clean (&words[i], word))
            continue;
        word->start_ms = s_clamp_ms (words[i].start_ms, previous_start_ms, audio_ms);
        word->end_ms = s_clamp_ms (words[i].end_ms, word->start_ms, audio_ms);
        previous_start_ms = word->start_ms;
        count++;
    }

    int rc = 0;
    int64_t audio_end_ms = offset_ms + audio_ms;
    for (int first = 0; first < count;) {
        int last = s_cue_last_word (clean, count, first);
        int64_t start_ms = offset_ms + clean[first].start_ms;
        int64_t end_ms = offset_ms + clean[last].end_ms;
        if (last + 1 < count && end_ms > offset_ms + clean[last + 1].start_ms)
            end_ms = offset_ms + clean[last + 1].start_ms;
        if (end_ms > audio_end_ms)
            end_ms = audio_end_ms;
        if (track->count > 0 && start_ms < track->cues[track->count - 1].end_ms)
            start_ms = track->cues[track->count - 1].end_ms;
        if (end_ms > start_ms + SUBTITLE_MAX_CUE_MS)
            end_ms = start_ms + SUBTITLE_MAX_CUE_MS;
        /* a cue with no time left to show in is dropped: only input with
           broken timings gets here */
        if (end_ms > start_ms) {
            char text[SUBTITLE_TEXT_SIZE];
            s_span_text (clean, first, last, text, sizeof text);
            if ((rc = s_track_push (track, start_ms, end_ms, text)) < 0)
                break;
        }
        first = last + 1;
    }
    free (clean);
    return rc;
}

int
subtitle_track_from_voice (subtitle_track_t *track, const media_voice_t *voice,
                           const media_timeline_t *timeline)
{
    int scenes = voice->scene_count < timeline->clip_count ? voice->scene_count
                                                           : timeline->clip_count;
    for (int i = 0; i < scenes; i++) {
        const media_voice_scene_t *scene = &voice->scenes[i];
        const media_clip_t *clip = &timeline->clips[i];
        int rc = subtitle_track_add_words (track, scene->words, scene->word_count,
                                           llround (clip->start_s * 1000.0),
                                           llround (clip->audio_s * 1000.0));
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/*  SRT and WebVTT                                                     */

typedef struct {
    char *data;
    size_t len;
    size_t size;
    bool failed;
} s_buffer_t;

static void
s_buffer_add (s_buffer_t *buffer, const char *bytes, size_t len)
{
    if (buffer->failed)
        return;
    if (buffer->len + len + 1 > buffer->size) {
        size_t size = buffer->size ? buffer->size : 4096;
        while (buffer->len + len + 1 > size)
            size *= 2;
        char *data = realloc (buffer->data, size);
        if (!data) {
            buffer->failed = true;
            return;
        }
        buffer->data = data;
        buffer->size = size;
    }
    memcpy (buffer->data + buffer->len, bytes, len);
    buffer->len += len;
    buffer->data[buffer->len] = '\0';
}

static void
s_buffer_printf (s_buffer_t *buffer, const char *format, ...)
    __attribute__ ((format (printf, 2, 3)));

static void
s_buffer_printf (s_buffer_t *buffer, const char *format, ...)
{
    char line[128];
    va_list args;
    va_start (args, format);
    int len = vsnprintf (line, sizeof line, format, args);
    va_end (args);
    if (len < 0 || (size_t) len >= sizeof line)
        buffer->failed = true;
    else
        s_buffer_add (buffer, line, (size_t) len);
}

/*  "HH:MM:SS<separator>mmm"; hours grow past two digits if they must. */
static void
s_buffer_time (s_buffer_t *buffer, int64_t ms, char separator)
{
    if (ms < 0)
        ms = 0;
    s_buffer_printf (buffer, "%02lld:%02lld:%02lld%c%03lld",
                     (long long) (ms / 3600000), (long long) (ms / 60000 % 60),
                     (long long) (ms / 1000 % 60), separator,
                     (long long) (ms % 1000));
}

static int
s_buffer_finish (s_buffer_t *buffer, char **text, size_t *len)
{
    if (!buffer->data && !buffer->failed)
        s_buffer_add (buffer, "", 0);
    if (buffer->failed) {
        free (buffer->data);
        return -ENOMEM;
    }
    *text = buffer->data;
    *len = buffer->len;
    return 0;
}

int
subtitle_format_srt (const subtitle_track_t *track, char **text, size_t *len)
{
    s_buffer_t buffer = { 0 };
    for (size_t i = 0; i < track->count; i++) {
        const subtitle_cue_t *cue = &track->cues[i];
        s_buffer_printf (&buffer, "%zu\n", i + 1);
        s_buffer_time (&buffer, cue->start_ms, ',');
        s_buffer_add (&buffer, " --> ", 5);
        s_buffer_time (&buffer, cue->end_ms, ',');
        s_buffer_add (&buffer, "\n", 1);
        s_buffer_add (&buffer, cue->text, strnlen (cue->text, sizeof cue->text));
        s_buffer_add (&buffer, "\n\n", 2);
    }
    return s_buffer_finish (&buffer, text, len);
}

int
subtitle_format_vtt (const subtitle_track_t *track, char **text, size_t *len)
{
    s_buffer_t buffer = { 0 };
    s_buffer_add (&buffer, "WEBVTT\n\n", 8);
    for (size_t i = 0; i < track->count; i++) {
        const subtitle_cue_t *cue = &track->cues[i];
        s_buffer_time (&buffer, cue->start_ms, '.');
        s_buffer_add (&buffer, " --> ", 5);
        s_buffer_time (&buffer, cue->end_ms, '.');
        s_buffer_add (&buffer, "\n", 1);
        size_t cue_len = strnlen (cue->text, sizeof cue->text);
        for (size_t c = 0; c < cue_len; c++) {
            switch (cue->text[c]) {
            case '&': s_buffer_add (&buffer, "&amp;", 5); break;
            case '<': s_buffer_add (&buffer, "&lt;", 4); break;
            case '>': s_buffer_add (&buffer, "&gt;", 4); break;
            default: s_buffer_add (&buffer, cue->text + c, 1); break;
            }
        }
        s_buffer_add (&buffer, "\n\n", 2);
    }
    return s_buffer_finish (&buffer, text, len);
}

/* ------------------------------------------------------------------ */
/*  The step                                                           */

/*  Writes len bytes of text to a temporary file and renames it to path.
    Returns 0 or -errno; on error no temporary file is left. */
static int
s_write_atomic (const char *path, const char *text, size_t len)
{
    char tmp[4096];
    int rc = media_tmp_path (path, tmp, sizeof tmp);
    if (rc < 0)
        return rc;
    FILE *file = fopen (tmp, "wb");
    if (!file) {
        rc = -errno;
        remove (tmp);
        return rc;
    }
    errno = 0;   /* a short write reports its reason here, if it has one */
    if (fwrite (text, 1, len, file) != len)
        rc = errno ? -errno : -EIO;
    if (fclose (file) != 0 && rc == 0)
        rc = errno ? -errno : -EIO;
    if (rc == 0)
        rc = media_file_commit_from (tmp, path);
    if (rc < 0)
        remove (tmp);
    return rc;
}

/*  The outputs of this step, in the order they are written. */
enum { OUT_TIMELINE, OUT_SRT, OUT_VTT, OUT_COUNT };
static const char *s_out_names[OUT_COUNT] = { "timeline.json", "video.srt",
                                              "video.vtt" };
static const char *s_out_types[OUT_COUNT] = { "application/json",
                                              "application/x-subrip", "text/vtt" };

static void
s_fail_io (pipeline_error_t *error, int rc, const char *what)
{
    pipeline_error_set (error, rc == -ENOSPC || rc == -EDQUOT ? "DiskFull"
                                                              : "ComposeFailed",
                        true, "cannot write %s: %s", what, strerror (-rc));
}

/*  Lists the outputs as artifacts and fills the output's subtitle path
    and duration. */
static void
s_add_outputs (const pipeline_input_t *input, pipeline_output_t *output,
               char paths[OUT_COUNT][4096], double total_s)
{
    for (int i = 0; i < OUT_COUNT; i++) {
        struct stat st;
        int64_t size = stat (paths[i], &st) == 0 ? (int64_t) st.st_size : 0;
        if (pipeline_output_add_artifact (output, s_out_names[i], s_out_names[i],
                                          s_out_types[i], size) < 0)
            pipeline_warn (input, "ArtifactListFull",
                           "%s was not listed: the artifact list is full",
                           s_out_names[i]);
    }
    snprintf (output->subtitle_path, sizeof output->subtitle_path, "%s",
              s_out_names[OUT_SRT]);
    output->duration_s = total_s;
}

int
media_step_compose (const pipeline_input_t *input, pipeline_output_t *output,
                    pipeline_progress_fn progress, void *progress_ctx,
                    pipeline_error_t *error)
{
    int rc = 0;
    media_plan_t *plan = NULL;
    media_voice_t voice;
    memset (&voice, 0, sizeof voice);
    media_timeline_t timeline;
    subtitle_track_t track;
    subtitle_track_init (&track);
    char *srt = NULL, *vtt = NULL;
    size_t srt_len = 0, vtt_len = 0;
    char plan_path[4096], voice_path[4096], paths[OUT_COUNT][4096];
    bool committed[OUT_COUNT] = { false };

    const char *dir = input->artifact_dir ? input->artifact_dir : "";
    if (!dir[0]) {
        pipeline_error_set (error, "ComposeFailed", false,
                            "the job has no artifact directory");
        return -EINVAL;
    }
    if (media_path (plan_path, sizeof plan_path, dir, "plan.json") < 0
        || media_path (voice_path, sizeof voice_path, dir, "voice.json") < 0
        || media_path (paths[OUT_TIMELINE], sizeof paths[0], dir, s_out_names[OUT_TIMELINE]) < 0
        || media_path (paths[OUT_SRT], sizeof paths[0], dir, s_out_names[OUT_SRT]) < 0
        || media_path (paths[OUT_VTT], sizeof paths[0], dir, s_out_names[OUT_VTT]) < 0) {
        pipeline_error_set (error, "ComposeFailed", false,
                            "the artifact directory's path is too long");
        return -ENAMETOOLONG;
    }
    if (progress (progress_ctx, STEP_COMPOSE, 0.0,
                  "Building timeline and subtitles", -1) != 0)
        return -ECANCELED;

    /* outputs of an earlier attempt are whole: keep them */
    pipeline_error_t load_error;
    if (media_file_exists (paths[OUT_SRT]) && media_file_exists (paths[OUT_VTT])
        && media_file_exists (paths[OUT_TIMELINE])
        && media_timeline_load (paths[OUT_TIMELINE], &timeline, &load_error) == 0) {
        s_add_outputs (input, output, paths, timeline.total_s);
        if (progress (progress_ctx, STEP_COMPOSE, 1.0,
                      "Reusing the timeline and subtitles", 0) != 0)
            return -ECANCELED;
        return 0;
    }

    plan = malloc (sizeof *plan);
    if (!plan) {
        pipeline_error_set (error, "ComposeFailed", true, "out of memory");
        return -ENOMEM;
    }
    if ((rc = media_plan_load (plan_path, plan, &load_error)) < 0) {
        pipeline_error_set (error, "ComposeFailed", rc != -EPROTO,
                            "cannot read the plan: %s", load_error.message);
        goto cleanup;
    }
    if ((rc = media_voice_load (voice_path, &voice, &load_error)) < 0) {
        pipeline_error_set (error, "ComposeFailed", rc != -EPROTO,
                            "cannot read the narration timings: %s",
                            load_error.message);
        goto cleanup;
    }
    if (voice.scene_count != plan->scene_count) {
        rc = -EPROTO;
        pipeline_error_set (error, "ComposeFailed", false,
                            "voice.json has %d scenes but plan.json has %d",
                            voice.scene_count, plan->scene_count);
        goto cleanup;
    }

    /* the timeline: scenes back to back, each its narration plus the
       pause; the crossfade happens within the pause */
    memset (&timeline, 0, sizeof timeline);
    timeline.width = plan->width;
    timeline.height = plan->height;
    timeline.fps = plan->fps;
    timeline.crossfade_s = COMPOSE_CROSSFADE_S;
    double start_s = 0;
    for (int i = 0; i < plan->scene_count; i++) {
        media_clip_t *clip = &timeline.clips[i];
        clip->start_s = start_s;
        clip->audio_s = voice.scenes[i].duration_s;
        clip->duration_s = clip->audio_s + plan->voice_pause_s;
        start_s += clip->duration_s;
    }
    timeline.clip_count = plan->scene_count;
    timeline.total_s = start_s;
    if (progress (progress_ctx, STEP_COMPOSE, 0.3, "Cutting subtitle cues", 1) != 0) {
        rc = -ECANCELED;
        goto cleanup;
    }

    if ((rc = subtitle_track_from_voice (&track, &voice, &timeline)) < 0
        || (rc = subtitle_format_srt (&track, &srt, &srt_len)) < 0
        || (rc = subtitle_format_vtt (&track, &vtt, &vtt_len)) < 0) {
        pipeline_error_set (error, "ComposeFailed", true,
                            "out of memory while building subtitles");
        goto cleanup;
    }
    if (progress (progress_ctx, STEP_COMPOSE, 0.6, "Writing timeline and subtitles",
                  1) != 0) {
        rc = -ECANCELED;
        goto cleanup;
    }

    for (int i = 0; i < OUT_COUNT; i++) {
        if (progress (progress_ctx, STEP_COMPOSE, 0, NULL, -1) != 0) {
            rc = -ECANCELED;
            goto cleanup;
        }
        if (i == OUT_TIMELINE)
            rc = media_timeline_save (&timeline, paths[i]);
        else if (i == OUT_SRT)
            rc = s_write_atomic (paths[i], srt, srt_len);
        else
            rc = s_write_atomic (paths[i], vtt, vtt_len);
        if (rc < 0) {
            s_fail_io (error, rc, s_out_names[i]);
            goto cleanup;
        }
        committed[i] = true;
    }
    /* from here the outputs are whole and stay, even if the job stops:
       a later attempt reuses them */
    for (int i = 0; i < OUT_COUNT; i++)
        committed[i] = false;
    s_add_outputs (input, output, paths, timeline.total_s);

    char message[PIPELINE_MESSAGE_SIZE];
    snprintf (message, sizeof message,
              "Timeline of %d scenes, %.1f s; %zu subtitle cues",
              timeline.clip_count, timeline.total_s, track.count);
    if (progress (progress_ctx, STEP_COMPOSE, 1.0, message, 0) != 0)
        rc = -ECANCELED;

cleanup:
    /* a stopped or failed step leaves none of its outputs: the three
       belong together */
    if (rc < 0)
        for (int i = 0; i < OUT_COUNT; i++)
            if (committed[i])
                remove (paths[i]);
    free (srt);
    free (vtt);
    subtitle_track_free (&track);
    media_voice_free (&voice);
    free (plan);
    return rc;
}
