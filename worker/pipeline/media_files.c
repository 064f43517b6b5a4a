/*  media_files — the files the media steps hand to each other: plan.json,
    voice.json and timeline.json as JSON (jansson), paths in the job's
    directory, and the write-then-rename rule that makes every file that
    exists a whole one. */
#include "media.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*  Version of the three file formats; a loader rejects any other. */
#define MEDIA_FILE_VERSION 1
/*  Doubles are written with this many significant digits: enough for
    microseconds in a ten-minute video, without binary noise. */
#define MEDIA_REAL_DIGITS 10

int
media_path (char *out, size_t out_size, const char *dir, const char *name)
{
    int written;
    size_t dir_len = strlen (dir);
    if (dir_len == 0)
        written = snprintf (out, out_size, "%s", name);
    else if (dir[dir_len - 1] == '/')
        written = snprintf (out, out_size, "%s%s", dir, name);
    else
        written = snprintf (out, out_size, "%s/%s", dir, name);
    if (written < 0 || (size_t) written >= out_size)
        return -ENAMETOOLONG;
    return 0;
}

int
media_tmp_path (const char *path, char *tmp, size_t tmp_size)
{
    int written = snprintf (tmp, tmp_size, "%s.XXXXXX.tmp", path);
    if (written < 0 || (size_t) written >= tmp_size)
        return -ENAMETOOLONG;
    int fd = mkstemps (tmp, 4);
    if (fd < 0)
        return -errno;
    close (fd);
    return 0;
}

int
media_file_commit_from (const char *tmp, const char *path)
{
    return rename (tmp, path) == 0 ? 0 : -errno;
}

bool
media_file_exists (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0 && S_ISREG (st.st_mode);
}

/* ------------------------------------------------------------------ */
/*  Writing                                                            */

/*  Writes root as JSON to a temporary file and renames it to path.
    Returns 0 or -errno; on error no temporary file is left behind. */
static int
s_json_save (json_t *root, const char *path)
{
    if (!root)
        return -ENOMEM;
    char tmp[4096];
    int rc = media_tmp_path (path, tmp, sizeof tmp);
    if (rc < 0)
        return rc;
    char *text = json_dumps (root, JSON_INDENT (2) | JSON_PRESERVE_ORDER
                                       | JSON_REAL_PRECISION (MEDIA_REAL_DIGITS));
    if (!text) {
        remove (tmp);
        return -ENOMEM;
    }
    size_t len = strlen (text);
    FILE *file = fopen (tmp, "wb");
    if (!file) {
        rc = -errno;
        goto cleanup;
    }
    errno = 0;   /* a short write reports its reason here, if it has one */
    if (fwrite (text, 1, len, file) != len || fputc ('\n', file) == EOF) {
        rc = errno ? -errno : -EIO;
        fclose (file);
        goto cleanup;
    }
    if (fclose (file) != 0) {
        rc = errno ? -errno : -EIO;
        goto cleanup;
    }
    rc = media_file_commit_from (tmp, path);

cleanup:
    if (rc < 0)
        remove (tmp);
    free (text);
    return rc;
}

static const char *s_pacing_names[] = { "Chill", "Conversational", "Fast" };
static const char *s_density_names[] = { "Sparse", "Balanced", "Dense" };

/*  json_object_set_new that remembers a failure in *ok instead of making
    every call site check. */
static void
s_set (json_t *object, const char *key, json_t *value, bool *ok)
{
    if (!value || json_object_set_new (object, key, value) != 0)
        *ok = false;
}

int
media_plan_save (const media_plan_t *plan, const char *path)
{
    bool ok = true;
    json_t *root = json_object ();
    json_t *brief = json_object ();
    json_t *plan_obj = json_object ();
    json_t *voice = json_object ();
    json_t *render = json_object ();
    json_t *scenes = json_array ();
    if (!root || !brief || !plan_obj || !voice || !render || !scenes) {
        json_decref (brief);
        json_decref (plan_obj);
        json_decref (voice);
        json_decref (render);
        json_decref (scenes);
        json_decref (root);
        return -ENOMEM;
    }
    s_set (root, "version", json_integer (MEDIA_FILE_VERSION), &ok);

    s_set (brief, "topic", json_string (plan->topic), &ok);
    s_set (brief, "audience", json_string (plan->audience), &ok);
    s_set (brief, "goal", json_string (plan->goal), &ok);
    s_set (brief, "tone", json_string (plan->tone), &ok);
    s_set (brief, "language", json_string (plan->language), &ok);
    s_set (root, "brief", brief, &ok);

    s_set (plan_obj, "targetDurationSeconds", json_real (plan->target_duration_s), &ok);
    s_set (plan_obj, "pacing", json_string (s_pacing_names[plan->pacing]), &ok);
    s_set (plan_obj, "density", json_string (s_density_names[plan->density]), &ok);
    s_set (plan_obj, "style", json_string (plan->style), &ok);
    s_set (plan_obj, "wordsPerMinute", json_integer (plan->words_per_minute), &ok);
    s_set (root, "plan", plan_obj, &ok);

    s_set (voice, "name", json_string (plan->voice_name), &ok);
    s_set (voice, "rate", json_real (plan->voice_rate), &ok);
    s_set (voice, "pitch", json_real (plan->voice_pitch), &ok);
    s_set (voice, "pauseSeconds", json_real (plan->voice_pause_s), &ok);
    s_set (root, "voice", voice, &ok);

    s_set (render, "width", json_integer (plan->width), &ok);
    s_set (render, "height", json_integer (plan->height), &ok);
    s_set (render, "fps", json_integer (plan->fps), &ok);
    s_set (render, "quality", json_integer (plan->quality), &ok);
    s_set (render, "videoBitrateK", json_integer (plan->video_bitrate_k), &ok);
    s_set (render, "audioBitrateK", json_integer (plan->audio_bitrate_k), &ok);
    s_set (root, "render", render, &ok);

    for (int i = 0; i < plan->scene_count && ok; i++) {
        const media_scene_t *scene = &plan->scenes[i];
        json_t *item = json_object ();
        json_t *bullets = json_array ();
        if (!item || !bullets) {
            json_decref (item);
            json_decref (bullets);
            ok = false;
            break;
        }
        for (int b = 0; b < scene->bullet_count; b++)
            if (json_array_append_new (bullets, json_string (scene->bullets[b])) != 0)
                ok = false;
        s_set (item, "heading", json_string (scene->heading), &ok);
        s_set (item, "bullets", bullets, &ok);
        s_set (item, "narration", json_string (scene->narration), &ok);
        s_set (item, "targetSeconds", json_real (scene->target_s), &ok);
        if (json_array_append_new (scenes, item) != 0)
            ok = false;
    }
    s_set (root, "scenes", scenes, &ok);

    int rc = ok ? s_json_save (root, path) : -ENOMEM;
    json_decref (root);
    return rc;
}

/*  Scene file names ("scene-01.wav"), recorded in voice.json and
    timeline.json so a reader needs no naming rule of its own. */
static json_t *
s_scene_file (int scene_index, const char *extension)
{
    char name[32];
    snprintf (name, sizeof name, "scene-%02d.%s", scene_index + 1, extension);
    return json_string (name);
}

int
media_voice_save (const media_voice_t *voice, const char *path)
{
    bool ok = true;
    json_t *root = json_object ();
    json_t *scenes = json_array ();
    if (!root || !scenes) {
        json_decref (root);
        json_decref (scenes);
        return -ENOMEM;
    }
    s_set (root, "version", json_integer (MEDIA_FILE_VERSION), &ok);
    s_set (root, "sampleRate", json_integer (voice->sample_rate), &ok);
    for (int i = 0; i < voice->scene_count && ok; i++) {
        const media_voice_scene_t *scene = &voice->scenes[i];
        json_t *item = json_object ();
        json_t *words = json_array ();
        if (!item || !words) {
            json_decref (item);
            json_decref (words);
            ok = false;
            break;
        }
        for (int w = 0; w < scene->word_count && ok; w++) {
            json_t *word = json_pack ("{s:s, s:i, s:i}", "text",
                                      scene->words[w].text, "startMs",
                                      scene->words[w].start_ms, "endMs",
                                      scene->words[w].end_ms);
            if (!word || json_array_append_new (words, word) != 0)
                ok = false;
        }
        s_set (item, "audio", s_scene_file (i, "wav"), &ok);
        s_set (item, "durationSeconds", json_real (scene->duration_s), &ok);
        s_set (item, "words", words, &ok);
        if (json_array_append_new (scenes, item) != 0)
            ok = false;
    }
    s_set (root, "scenes", scenes, &ok);

    int rc = ok ? s_json_save (root, path) : -ENOMEM;
    json_decref (root);
    return rc;
}

void
media_voice_free (media_voice_t *voice)
{
    if (!voice)
        return;
    for (int i = 0; i < MEDIA_MAX_SCENES; i++) {
        free (voice->scenes[i].words);
        voice->scenes[i].words = NULL;
        voice->scenes[i].word_count = 0;
    }
    voice->scene_count = 0;
}

int
media_timeline_save (const media_timeline_t *timeline, const char *path)
{
    bool ok = true;
    json_t *root = json_object ();
    json_t *clips = json_array ();
    if (!root || !clips) {
        json_decref (root);
        json_decref (clips);
        return -ENOMEM;
    }
    s_set (root, "version", json_integer (MEDIA_FILE_VERSION), &ok);
    s_set (root, "width", json_integer (timeline->width), &ok);
    s_set (root, "height", json_integer (timeline->height), &ok);
    s_set (root, "fps", json_integer (timeline->fps), &ok);
    s_set (root, "crossfadeSeconds", json_real (timeline->crossfade_s), &ok);
    s_set (root, "totalSeconds", json_real (timeline->total_s), &ok);
    for (int i = 0; i < timeline->clip_count && ok; i++) {
        const media_clip_t *clip = &timeline->clips[i];
        json_t *item = json_object ();
        if (!item) {
            ok = false;
            break;
        }
        s_set (item, "scene", json_integer (i + 1), &ok);
        s_set (item, "startSeconds", json_real (clip->start_s), &ok);
        s_set (item, "durationSeconds", json_real (clip->duration_s), &ok);
        s_set (item, "audioSeconds", json_real (clip->audio_s), &ok);
        s_set (item, "audio", s_scene_file (i, "wav"), &ok);
        s_set (item, "image", s_scene_file (i, "png"), &ok);
        if (json_array_append_new (clips, item) != 0)
            ok = false;
    }
    s_set (root, "clips", clips, &ok);

    int rc = ok ? s_json_save (root, path) : -ENOMEM;
    json_decref (root);
    return rc;
}

/* ------------------------------------------------------------------ */
/*  Reading                                                            */

/*  Reads path as a JSON object. Returns it (the caller owns it), or NULL
    with *rc and error filled: -errno when the file cannot be read, -EPROTO
    when it is not a JSON object. */
static json_t *
s_json_load (const char *path, int *rc, pipeline_error_t *error)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        *rc = -errno;
        pipeline_error_set (error, "FileUnreadable", true, "cannot open %s: %s",
                            path, strerror (errno));
        return NULL;
    }
    json_error_t json_error;
    json_t *root = json_loadf (file, JSON_REJECT_DUPLICATES, &json_error);
    fclose (file);
    if (!root) {
        *rc = -EPROTO;
        pipeline_error_set (error, "CorruptFile", false,
                            "%s is not valid JSON (line %d, column %d: %s)",
                            path, json_error.line, json_error.column,
                            json_error.text);
        return NULL;
    }
    if (!json_is_object (root)) {
        json_decref (root);
        *rc = -EPROTO;
        pipeline_error_set (error, "CorruptFile", false,
                            "%s does not hold a JSON object", path);
        return NULL;
    }
    json_t *version = json_object_get (root, "version");
    if (!json_is_integer (version)
        || json_integer_value (version) != MEDIA_FILE_VERSION) {
        json_decref (root);
        *rc = -EPROTO;
        pipeline_error_set (error, "CorruptFile", false,
                            "%s: missing or unknown \"version\"", path);
        return NULL;
    }
    return root;
}

/*  A reader of one file: the first problem found is kept, with the path
    and the field, and the rest of the reads become no-ops. */
typedef struct {
    const char *path;
    pipeline_error_t *error;
    bool failed;
} s_reader_t;

static void
s_reader_fail (s_reader_t *reader, const char *field, const char *problem)
{
    if (reader->failed)
        return;
    reader->failed = true;
    pipeline_error_set (reader->error, "CorruptFile", false, "%s: \"%s\" %s",
                        reader->path, field, problem);
}

static void
s_read_string (s_reader_t *reader, json_t *object, const char *key,
               char *dest, size_t size)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_string (value)) {
        s_reader_fail (reader, key, "is missing or not a string");
        return;
    }
    if (json_string_length (value) >= size
        || strlen (json_string_value (value)) != json_string_length (value)) {
        s_reader_fail (reader, key, "is too long or holds a NUL");
        return;
    }
    memcpy (dest, json_string_value (value), json_string_length (value) + 1);
}

static double
s_read_number (s_reader_t *reader, json_t *object, const char *key,
               double lo, double hi)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_number (value)) {
        s_reader_fail (reader, key, "is missing or not a number");
        return lo;
    }
    double number = json_number_value (value);
    if (!(number >= lo && number <= hi)) {
        s_reader_fail (reader, key, "is out of range");
        return lo;
    }
    return number;
}

static int
s_read_int (s_reader_t *reader, json_t *object, const char *key, int lo, int hi)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_integer (value)) {
        s_reader_fail (reader, key, "is missing or not an integer");
        return lo;
    }
    json_int_t number = json_integer_value (value);
    if (number < lo || number > hi) {
        s_reader_fail (reader, key, "is out of range");
        return lo;
    }
    return (int) number;
}

static json_t *
s_read_object (s_reader_t *reader, json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_object (value)) {
        s_reader_fail (reader, key, "is missing or not an object");
        return NULL;
    }
    return value;
}

static json_t *
s_read_array (s_reader_t *reader, json_t *object, const char *key,
              size_t min_size, size_t max_size)
{
    json_t *value = json_object_get (object, key);
    if (!json_is_array (value)) {
        s_reader_fail (reader, key, "is missing or not an array");
        return NULL;
    }
    if (json_array_size (value) < min_size || json_array_size (value) > max_size) {
        s_reader_fail (reader, key, "has the wrong number of items");
        return NULL;
    }
    return value;
}

static int
s_read_enum (s_reader_t *reader, json_t *object, const char *key,
             const char *const *names, int count)
{
    char name[32] = "";
    s_read_string (reader, object, key, name, sizeof name);
    for (int i = 0; i < count; i++)
        if (strcmp (name, names[i]) == 0)
            return i;
    s_reader_fail (reader, key, "is not a known value");
    return 0;
}

int
media_plan_load (const char *path, media_plan_t *plan, pipeline_error_t *error)
{
    int rc = 0;
    json_t *root = s_json_load (path, &rc, error);
    if (!root)
        return rc;
    memset (plan, 0, sizeof *plan);
    s_reader_t reader = { .path = path, .error = error };

    json_t *brief = s_read_object (&reader, root, "brief");
    if (brief) {
        s_read_string (&reader, brief, "topic", plan->topic, sizeof plan->topic);
        s_read_string (&reader, brief, "audience", plan->audience, sizeof plan->audience);
        s_read_string (&reader, brief, "goal", plan->goal, sizeof plan->goal);
        s_read_string (&reader, brief, "tone", plan->tone, sizeof plan->tone);
        s_read_string (&reader, brief, "language", plan->language, sizeof plan->language);
    }
    json_t *plan_obj = s_read_object (&reader, root, "plan");
    if (plan_obj) {
        plan->target_duration_s = s_read_number (&reader, plan_obj,
                                                 "targetDurationSeconds", 1, 3600);
        plan->pacing = (media_pacing_t) s_read_enum (&reader, plan_obj, "pacing",
                                                     s_pacing_names, 3);
        plan->density = (media_density_t) s_read_enum (&reader, plan_obj, "density",
                                                       s_density_names, 3);
        s_read_string (&reader, plan_obj, "style", plan->style, sizeof plan->style);
        plan->words_per_minute = s_read_int (&reader, plan_obj, "wordsPerMinute",
                                             40, 600);
    }
    json_t *voice = s_read_object (&reader, root, "voice");
    if (voice) {
        s_read_string (&reader, voice, "name", plan->voice_name, sizeof plan->voice_name);
        plan->voice_rate = s_read_number (&reader, voice, "rate", 0.1, 10);
        plan->voice_pitch = s_read_number (&reader, voice, "pitch", -1, 1);
        plan->voice_pause_s = s_read_number (&reader, voice, "pauseSeconds", 0, 60);
    }
    json_t *render = s_read_object (&reader, root, "render");
    if (render) {
        plan->width = s_read_int (&reader, render, "width", 16, 4096);
        plan->height = s_read_int (&reader, render, "height", 16, 4096);
        plan->fps = s_read_int (&reader, render, "fps", 1, 240);
        plan->quality = s_read_int (&reader, render, "quality", 0, 100);
        plan->video_bitrate_k = s_read_int (&reader, render, "videoBitrateK", 0, 1000000);
        plan->audio_bitrate_k = s_read_int (&reader, render, "audioBitrateK", 0, 10000);
    }
    json_t *scenes = s_read_array (&reader, root, "scenes", 1, MEDIA_MAX_SCENES);
    for (size_t i = 0; scenes && i < json_array_size (scenes) && !reader.failed; i++) {
        json_t *item = json_array_get (scenes, i);
        media_scene_t *scene = &plan->scenes[i];
        if (!json_is_object (item)) {
            s_reader_fail (&reader, "scenes", "holds an item that is not an object");
            break;
        }
        s_read_string (&reader, item, "heading", scene->heading, sizeof scene->heading);
        s_read_string (&reader, item, "narration", scene->narration,
                       sizeof scene->narration);
        scene->target_s = s_read_number (&reader, item, "targetSeconds", 0, 3600);
        json_t *bullets = s_read_array (&reader, item, "bullets", 0, MEDIA_MAX_BULLETS);
        for (size_t b = 0; bullets && b < json_array_size (bullets); b++) {
            json_t *bullet = json_array_get (bullets, b);
            if (!json_is_string (bullet)
                || json_string_length (bullet) >= sizeof scene->bullets[b]) {
                s_reader_fail (&reader, "bullets", "holds a bad item");
                break;
            }
            memcpy (scene->bullets[b], json_string_value (bullet),
                    json_string_length (bullet) + 1);
            scene->bullet_count++;
        }
        plan->scene_count++;
    }
    json_decref (root);
    return reader.failed ? -EPROTO : 0;
}

int
media_voice_load (const char *path, media_voice_t *voice, pipeline_error_t *error)
{
    int rc = 0;
    json_t *root = s_json_load (path, &rc, error);
    if (!root)
        return rc;
    memset (voice, 0, sizeof *voice);
    s_reader_t reader = { .path = path, .error = error };

    voice->sample_rate = s_read_int (&reader, root, "sampleRate", 8000, 192000);
    json_t *scenes = s_read_array (&reader, root, "scenes", 1, MEDIA_MAX_SCENES);
    for (size_t i = 0; scenes && i < json_array_size (scenes) && !reader.failed; i++) {
        json_t *item = json_array_get (scenes, i);
        media_voice_scene_t *scene = &voice->scenes[i];
        if (!json_is_object (item)) {
            s_reader_fail (&reader, "scenes", "holds an item that is not an object");
            break;
        }
        voice->scene_count++;
        scene->duration_s = s_read_number (&reader, item, "durationSeconds", 0, 3600);
        json_t *words = s_read_array (&reader, item, "words", 0, 100000);
        if (!words)
            break;
        size_t count = json_array_size (words);
        if (count > 0) {
            scene->words = calloc (count, sizeof *scene->words);
            if (!scene->words) {
                pipeline_error_set (error, "OutOfMemory", true,
                                    "no memory for the words of %s", path);
                json_decref (root);
                media_voice_free (voice);
                return -ENOMEM;
            }
        }
        int previous_start_ms = -1;
        int duration_ms = (int) (scene->duration_s * 1000.0 + 0.5);
        for (size_t w = 0; w < count && !reader.failed; w++) {
            json_t *word = json_array_get (words, w);
            media_word_t *out = &scene->words[w];
            if (!json_is_object (word)) {
                s_reader_fail (&reader, "words", "holds an item that is not an object");
                break;
            }
            s_read_string (&reader, word, "text", out->text, sizeof out->text);
            out->start_ms = s_read_int (&reader, word, "startMs", 0, duration_ms);
            out->end_ms = s_read_int (&reader, word, "endMs", out->start_ms, duration_ms);
            if (!reader.failed && out->start_ms <= previous_start_ms)
                s_reader_fail (&reader, "startMs", "does not increase");
            previous_start_ms = out->start_ms;
            scene->word_count++;
        }
    }
    json_decref (root);
    if (reader.failed) {
        media_voice_free (voice);
        return -EPROTO;
    }
    return 0;
}

int
media_timeline_load (const char *path, media_timeline_t *timeline,
                     pipeline_error_t *error)
{
    int rc = 0;
    json_t *root = s_json_load (path, &rc, error);
    if (!root)
        return rc;
    memset (timeline, 0, sizeof *timeline);
    s_reader_t reader = { .path = path, .error = error };

    timeline->width = s_read_int (&reader, root, "width", 16, 4096);
    timeline->height = s_read_int (&reader, root, "height", 16, 4096);
    timeline->fps = s_read_int (&reader, root, "fps", 1, 240);
    timeline->crossfade_s = s_read_number (&reader, root, "crossfadeSeconds", 0, 60);
    timeline->total_s = s_read_number (&reader, root, "totalSeconds", 0, 36000);
    json_t *clips = s_read_array (&reader, root, "clips", 1, MEDIA_MAX_SCENES);
    for (size_t i = 0; clips && i < json_array_size (clips) && !reader.failed; i++) {
        json_t *item = json_array_get (clips, i);
        media_clip_t *clip = &timeline->clips[i];
        if (!json_is_object (item)) {
            s_reader_fail (&reader, "clips", "holds an item that is not an object");
            break;
        }
        clip->start_s = s_read_number (&reader, item, "startSeconds", 0, 36000);
        clip->duration_s = s_read_number (&reader, item, "durationSeconds", 0, 36000);
        clip->audio_s = s_read_number (&reader, item, "audioSeconds", 0,
                                       clip->duration_s);
        timeline->clip_count++;
    }
    json_decref (root);
    return reader.failed ? -EPROTO : 0;
}
